//! `healwatch [run]`: one pass, or with `--watch` a watch of several.

use anyhow::Context;

use crate::cli::RunArgs;
use crate::exit::{Exit, Stop};
use crate::pass::Early;
use crate::run::Setup;
use crate::{clock, interrupt, watch};

/// `healwatch [run]`: one pass, or with `--watch` a watch of several.
pub(crate) fn run(args: &RunArgs) -> Result<Exit, Stop> {
    let started = clock::now().map_err(Stop::Usage)?;
    // From here a signal ends the pass in order: see interrupt.rs.
    interrupt::install().context("installing signal handlers").map_err(Stop::Io)?;
    let setup = Setup::load(args, started)?;
    match args.watch {
        None => {
            let _lock = setup.lock(started, None)?;
            Ok(setup.pass(started, Early::none())?.exit)
        }
        Some(length) => watch::run(&setup, started, length, args.watch_every, args.watch_cpu),
    }
}
