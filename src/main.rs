//! The healwatch binary: parse the command line, run, report why it stopped, exit.

use std::process::ExitCode;

use clap::Parser;
use healwatch::cli::Cli;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return healwatch::reject(error),
    };
    match healwatch::run(cli) {
        Ok(exit) => exit.into(),
        Err(stop) => {
            // One line, whatever the input that caused it held; nothing for a routine overlap.
            if !stop.silent() {
                eprintln!("healwatch: {}", stop.line());
            }
            stop.exit().into()
        }
    }
}
