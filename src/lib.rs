//! healwatch: a one-shot watchdog. One pass checks every target's HTTP health URL,
//! restarts the container behind each failing one, confirms it recovered, and prints
//! one JSON status line.
//!
//! The modules, from the bottom up (DEVELOPERS.md draws the graph; `scripts/layout.py`
//! checks it is a DAG): `model` (the vocabulary), `clock`, `exit`, `interrupt`, `files`,
//! `net`; `settings`, `cli`, `config`; `process`, `docker`, `check`; `discover`,
//! `memory`, `pass` (check -> judge -> act -> verify); `output`; `run` (one invocation's
//! passes), `watch`; `cmd` (one edge per subcommand).

mod check;
pub mod cli;
mod clock;
mod cmd;
mod config;
mod discover;
mod docker;
pub mod docs;
pub mod exit;
mod files;
mod graph;
mod hooks;
mod interrupt;
mod memory;
mod model;
mod net;
mod options;
mod output;
mod pass;
mod process;
mod run;
mod settings;
mod watch;

use crate::cli::{Cli, Command};
use crate::exit::{Exit, Stop};

/// A command line clap rejected: help and version printed as asked, an error also
/// reported as a pass that could not run (see `cmd::rejected`). Returns the exit status.
pub fn reject(error: clap::Error) -> std::process::ExitCode {
    cmd::rejected::reject(error)
}

/// Runs the command `cli` asks for; `Err` says why it stopped early, and its exit status.
pub fn run(cli: Cli) -> Result<Exit, Stop> {
    match cli.command.unwrap_or(Command::Run(cli.run)) {
        Command::Run(args) => cmd::run::run(&args),
        Command::Validate(args) => cmd::validate::run(&args),
        Command::Drill(args) => cmd::drill::run(&args),
        Command::Audit(args) => cmd::audit::run(&args),
        Command::Status(args) => cmd::status::run(&args),
        Command::Pause(args) => cmd::pause::pause(&args),
        Command::Resume(args) => cmd::pause::resume(&args),
        Command::Check(args) => cmd::check::run(&args),
        Command::Completions(args) => cmd::docs::completions(&args),
        Command::Version(args) => cmd::docs::version(&args),
    }
}
