//! The healwatch binary: parse the command line, run, report errors, exit.

use std::process::ExitCode;

use clap::Parser;
use healwatch::cli::Cli;
use healwatch::exit::Exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match healwatch::run(cli) {
        Ok(exit) => exit.into(),
        Err(err) => {
            eprintln!("healwatch: {err:#}");
            Exit::Usage.into()
        }
    }
}
