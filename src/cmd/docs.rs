//! `healwatch completions SHELL` and `healwatch version`.

use crate::cli::{CompletionsArgs, LONG_VERSION, VersionArgs};
use crate::docker::DockerCli;
use crate::exit::{Exit, Stop};

/// Prints the completion script.
pub(crate) fn completions(args: &CompletionsArgs) -> Result<Exit, Stop> {
    crate::output::print(&crate::docs::completion(args.shell))?;
    Ok(Exit::Healthy)
}

/// Prints what was built, from what, for where, and the docker CLI a pass would use.
pub(crate) fn version(args: &VersionArgs) -> Result<Exit, Stop> {
    let docker = match DockerCli::locate(args.docker.path.as_deref()) {
        Ok(cli) => cli.describe(),
        Err(e) => format!("none ({e:#})"),
    };
    crate::output::print(format!("healwatch {LONG_VERSION}\ndocker: {docker}\n").as_bytes())?;
    Ok(Exit::Healthy)
}
