//! healwatch: a one-shot watchdog. One pass checks every target's HTTP health URL,
//! restarts the container behind each failing one, confirms it recovered, and prints
//! one JSON status line.
//!
//! The pipeline: `cli` -> `config` -> `heal` (`probe`, `policy`, `docker`) -> `report`
//! -> `exit`, with `state` as memory between passes. `commands` wires the real edges
//! (clock, files, stdout, the lock) to it, one function per subcommand.

pub mod atomic;
pub mod audit;
pub mod cli;
mod commands;
pub mod config;
pub mod discover;
pub mod docker;
pub mod drill;
pub mod exit;
pub mod heal;
pub mod lock;
pub mod metrics;
pub mod notify;
pub mod policy;
pub mod probe;
pub mod redact;
pub mod report;
pub mod state;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::exit::Exit;

/// Runs the command `cli` asks for. `Err` means nothing could be attempted (exit 2).
pub fn run(cli: Cli) -> Result<Exit> {
    match cli.command.unwrap_or(Command::Run(cli.run)) {
        Command::Run(args) => commands::pass(&args),
        Command::Validate(args) => commands::validate(&args),
        Command::Drill(args) => commands::drill(&args),
        Command::Audit(args) => commands::audit(&args),
        Command::Status(args) => commands::status(&args),
        Command::Pause(args) => commands::pause(&args),
        Command::Resume(args) => commands::resume(&args),
    }
}
