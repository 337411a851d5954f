//! The edges of each subcommand, one file each: the clock, files, the lock and stdout,
//! around the pure core. Each returns the exit status, or the `Stop` that ended it early.

pub(crate) mod audit;
pub(crate) mod check;
pub(crate) mod docs;
pub(crate) mod drill;
pub(crate) mod pause;
pub(crate) mod rejected;
pub(crate) mod run;
pub(crate) mod status;
pub(crate) mod validate;
