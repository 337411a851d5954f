//! The command line: clap structs only (run.rs: a pass's options, in groups;
//! partial.rs: `check` and `drill`, which take some of them). Values are parsed here (durations by clap's
//! value parsers); `config` merges them with the file into a validated `Config`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

mod partial;
mod run;

pub use partial::{CheckArgs, DrillArgs, DrillUnused, Unused};
pub use run::{
    LockArgs, LockIgnored, MemoryArgs, MemoryIgnored, PassArgs, PassIgnored, ReachArgs, ReachIgnored, ReportArgs,
    ReportIgnored, RunArgs, ScopeArgs, ScopeIgnored, TargetArgs,
};

use crate::settings::{ANY, YEAR, flag_parser};

/// `--version`: the version, the commit and date it was built from, and the target.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("HEALWATCH_GIT_COMMIT"),
    "\nbuilt: ",
    env!("HEALWATCH_BUILD_DATE"),
    "\ntarget: ",
    env!("HEALWATCH_TARGET"),
);

/// `healwatch --help`'s closing words: what people run, then the exit statuses.
const EXAMPLES: &str = "Examples:
  healwatch -t app=http://127.0.0.1:5000/health
      one pass: check the container app's health URL, restart it if it fails
  healwatch --discover --quiet --format text
      what cron runs: every container labelled healwatch.url=…, a mail only on news
  healwatch run --watch 5m --discover
      heal within seconds for five minutes (the sidecar image runs this)
  healwatch check --wait 60s -t web=http://127.0.0.1:8080/health
      a CI smoke check: wait until healthy, restart nothing
  healwatch validate -c /etc/healwatch/healwatch.toml
      what a config resolves to, and whether its containers exist

Exit status: 0 every target healthy now, 1 some target still unhealthy, 2 usage or config error, \
3 another pass holds the lock, 4 an I/O error, 128+N signal N stopped the pass. \
The config file: man 5 healwatch.toml.";

/// Keeps containerised services alive: one pass checks every target's HTTP health URL,
/// restarts the container behind each failing one, confirms it recovered and prints one
/// JSON status line.
#[derive(Debug, Parser)]
#[command(name = "healwatch", version, long_version = LONG_VERSION, args_conflicts_with_subcommands = true)]
#[command(after_help = EXAMPLES)]
pub struct Cli {
    /// What to do; without a subcommand, healwatch makes one pass (`run`).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Options of the default `run` subcommand.
    #[command(flatten)]
    pub run: RunArgs,
}

/// The subcommands. Parsed once per process, so their size does not matter.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Make one pass: check every target, heal the failing ones, print one status line (default).
    Run(RunArgs),
    /// Parse the config and targets, print the resolved targets, and check that each
    /// target's container exists; exit 0, 1 when one is missing or an engine cannot be
    /// asked (unless --offline), 2 on a config error (no targets included, as for a pass).
    Validate(ValidateArgs),
    /// Crash a target's container for real (kill its main process from the host) and measure
    /// how long until it runs and answers healthy again. Exit 0 when healthy within --wait.
    Drill(DrillArgs),
    /// List containers with their restart policy, HEALTHCHECK and whether a target watches
    /// them. Exit 1 when a watched container's restart policy is `no`.
    Audit(AuditArgs),
    /// Show what healwatch remembers per target: last outcome, failures, restarts, pauses.
    Status(StatusArgs),
    /// Maintenance: keep checking and reporting TARGET, but never restart it, for a while.
    Pause(PauseArgs),
    /// End a pause and reset the crash-loop guard of TARGET.
    Resume(ResumeArgs),
    /// CI smoke check: wait until every target is healthy (or --wait passes), restart
    /// nothing, write no state; exit 0 when all became healthy in time, 1 otherwise.
    Check(CheckArgs),
    /// Print the shell completion script for SHELL (bash, zsh, fish), e.g.
    /// `healwatch completions bash > /etc/bash_completion.d/healwatch`.
    Completions(CompletionsArgs),
    /// Print the version, the commit and date it was built from, its target, and the
    /// docker CLI a pass would use.
    Version(VersionArgs),
}

/// Options of `healwatch completions`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `--docker` for the commands that ask the engines without making a pass (`version`,
/// `validate`, `audit`); a pass's is the run option of the same name, with its
/// `[defaults] docker` twin.
#[derive(Debug, Clone, Default, Args)]
pub struct DockerArg {
    /// The docker CLI [default: `docker` on PATH, then /usr/bin/docker, /usr/local/bin/docker].
    #[arg(long = "docker", env = "HEALWATCH_DOCKER", value_name = "PATH")]
    pub path: Option<PathBuf>,
}

/// Options of `healwatch version`.
#[derive(Debug, Clone, Args)]
pub struct VersionArgs {
    /// The docker CLI.
    #[command(flatten)]
    pub docker: DockerArg,
}

/// Options of `healwatch validate`.
#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    /// The targets.
    #[command(flatten)]
    pub targets: TargetArgs,

    /// Do not ask the engines whether the containers exist.
    #[arg(long)]
    pub offline: bool,

    /// The docker CLI.
    #[command(flatten)]
    pub docker: DockerArg,
}

/// Where the memory and the lock live, for the commands that read or change the memory.
#[derive(Debug, Clone, Args)]
pub struct StateArgs {
    /// State file [default: state.json in the state directory].
    #[arg(long, env = "HEALWATCH_STATE", value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// Lock file shared with passes (status reads without taking it) [default: as for a pass].
    #[arg(long, env = "HEALWATCH_LOCK", value_name = "FILE")]
    pub lock: Option<PathBuf>,
}

/// Options of `healwatch status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Targets, to show each configured one (without: every target in the state file).
    #[command(flatten)]
    pub targets: TargetArgs,

    /// One JSON line instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Exit 1 (and say why on stderr) unless a pass was remembered less than DUR ago:
    /// healwatch's own liveness, e.g. its image's HEALTHCHECK (`status --max-age 5m`)
    #[arg(long, value_name = "DUR", value_parser = flag_parser::<Duration>(ANY, YEAR, ""))]
    pub max_age: Option<Duration>,

    /// The state and lock files.
    #[command(flatten)]
    pub files: StateArgs,
}

/// Options of `healwatch pause`.
#[derive(Debug, Clone, Args)]
pub struct PauseArgs {
    /// The target to pause.
    #[arg(value_name = "TARGET")]
    pub target: String,

    /// How long the pause lasts (at most a year).
    #[arg(long = "for", value_name = "DUR", default_value = "1h", value_parser = flag_parser::<Duration>(ANY, YEAR, ""))]
    pub duration: Duration,

    /// Targets, as for a pass: TARGET must be one of them.
    #[command(flatten)]
    pub targets: TargetArgs,

    /// The state and lock files.
    #[command(flatten)]
    pub files: StateArgs,
}

/// Options of `healwatch resume`.
#[derive(Debug, Clone, Args)]
pub struct ResumeArgs {
    /// The target to resume.
    #[arg(value_name = "TARGET")]
    pub target: String,

    /// Targets, as for a pass: TARGET must be one of them.
    #[command(flatten)]
    pub targets: TargetArgs,

    /// The state and lock files.
    #[command(flatten)]
    pub files: StateArgs,
}

/// Options of `healwatch audit`.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// Targets, to mark which containers are watched (none is fine).
    #[command(flatten)]
    pub targets: TargetArgs,

    /// Only the containers that targets watch.
    #[arg(long)]
    pub targets_only: bool,

    /// One JSON line instead of a table.
    #[arg(long)]
    pub json: bool,

    /// The docker CLI.
    #[command(flatten)]
    pub docker: DockerArg,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_is_the_default_subcommand() {
        let cli = Cli::try_parse_from(["healwatch", "-t", "app=http://127.0.0.1:1/"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.run.targets.targets, ["app=http://127.0.0.1:1/"]);
        let cli = Cli::try_parse_from(["healwatch", "run", "-n"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Run(ref r)) if r.pass.dry_run));
    }
}
