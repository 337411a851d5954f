//! The edges of each subcommand, one file each: the clock, files, the lock and stdout,
//! around the pure core. Each returns the exit status, or the `Stop` that ended it early.

pub mod audit;
pub mod check;
pub mod docs;
pub mod drill;
pub mod pause;
pub mod run;
pub mod status;
pub mod validate;
