//! The command line: clap structs only. Values are parsed here (durations by clap's
//! value parsers); `config` merges them with the file into a validated `Config`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::settings::{ANY, HOUR, SettingFlags, WATCH, WATCH_EVERY, YEAR, flag_parser};

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

/// `healwatch check --help`'s closing words.
const CHECK_EXAMPLES: &str = "Examples:
  healwatch check --wait 60s -t web=http://127.0.0.1:8080/health
      wait up to a minute for one service to answer healthy
  healwatch check --unhealthy all --stable 3 --junit report.xml
      every container with a HEALTHCHECK healthy three times in a row, as JUnit XML

check restarts nothing and writes no state: exit 0 when every target became healthy \
within --wait, 1 otherwise, 2 on a usage or config error.";

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

/// `check` waits for HEALTHCHECKs; it heals nothing.
const CHECK_UNHEALTHY_HELP: &str = "Also wait for containers with a Docker HEALTHCHECK: `label` (those \
labelled healwatch.enable=true), `all`, or `off` [default: off]";

/// `check` reads no config file unless one is named.
const CHECK_CONFIG_HELP: &str = "TOML config file with [defaults] and [[target]] tables; check reads \
none unless named here (never the host's /etc/healwatch/healwatch.toml)";

/// Options of `healwatch check`. It shares a pass's targets and check options; the run
/// options it has no use for (it restarts nothing, remembers nothing and prints JSON)
/// are hidden from its help, and a warning in its report when given.
#[derive(Debug, Clone, Args)]
#[command(mut_arg("dry_run", |a| a.hide(true)))]
#[command(mut_arg("watch", |a| a.hide(true)), mut_arg("watch_every", |a| a.hide(true)))]
#[command(mut_arg("retries", |a| a.hide(true)), mut_arg("retry_delay", |a| a.hide(true)))]
#[command(mut_arg("decide_within", |a| a.hide(true)), mut_arg("restart_timeout", |a| a.hide(true)))]
#[command(mut_arg("recovery_timeout", |a| a.hide(true)), mut_arg("failure_threshold", |a| a.hide(true)))]
#[command(mut_arg("max_restarts", |a| a.hide(true)), mut_arg("restart_window", |a| a.hide(true)))]
#[command(mut_arg("start_period", |a| a.hide(true)), mut_arg("log", |a| a.hide(true)))]
#[command(mut_arg("metrics", |a| a.hide(true)), mut_arg("notify_url", |a| a.hide(true)))]
#[command(mut_arg("ping_url", |a| a.hide(true)), mut_arg("quiet", |a| a.hide(true)))]
#[command(mut_arg("format", |a| a.hide(true)), mut_arg("forget_after", |a| a.hide(true)))]
#[command(mut_arg("state", |a| a.hide(true)), mut_arg("lock", |a| a.hide(true)))]
#[command(mut_arg("config", |a| a.help(CHECK_CONFIG_HELP)))]
#[command(mut_arg("unhealthy", |a| a.help(CHECK_UNHEALTHY_HELP)))]
#[command(mut_arg("concurrency", |a| a.help("Check at most N targets at once [default: 32]")))]
#[command(mut_arg("stable_after", |a| a.hide(true)))]
#[command(mut_arg("targets", |a| a.help("A target as NAME=URL: NAME is its container, URL its health endpoint. \
Repeatable; combined with the config file's targets")))]
#[command(after_help = CHECK_EXAMPLES)]
pub struct CheckArgs {
    /// How long to wait for every target to become healthy (at most 1h).
    #[arg(long, value_name = "DUR", default_value = "60s", value_parser = flag_parser::<Duration>(ANY, HOUR, ""))]
    pub wait: Duration,

    /// Consecutive healthy checks that make a target healthy (1-100).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub stable: u32,

    /// Also write the result as JUnit XML (one testcase per target), which GitLab,
    /// Jenkins and most CI systems show natively.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Targets and check options, as for a pass (--timeout, --discover, --unhealthy...).
    #[command(flatten)]
    pub run: RunArgs,
}

impl CheckArgs {
    /// The run options given on the command line that `check` has no use for. `--state`
    /// and `--lock` are not among them: their environment twins are often set for every
    /// healwatch command on a host, and check touches neither file.
    pub fn ignored(&self) -> Vec<&'static str> {
        let r = &self.run;
        let s = &r.settings;
        [
            ("--retries", s.retries.is_some()),
            ("--retry-delay", s.retry_delay.is_some()),
            ("--decide-within", s.decide_within.is_some()),
            ("--restart-timeout", s.restart_timeout.is_some()),
            ("--recovery-timeout", s.recovery_timeout.is_some()),
            ("--failure-threshold", s.failure_threshold.is_some()),
            ("--max-restarts", s.max_restarts.is_some()),
            ("--restart-window", s.restart_window.is_some()),
            ("--stable-after", s.stable_after.is_some()),
            ("--start-period", s.start_period.is_some()),
            ("--dry-run", r.dry_run),
            ("--log", r.log.is_some()),
            ("--metrics", r.metrics.is_some()),
            ("--notify-url", !r.notify_url.is_empty()),
            ("--ping-url", r.ping_url.is_some()),
            ("--quiet", r.quiet),
            ("--format", r.format.is_some()),
            ("--forget-after", r.forget_after.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
    }
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

/// Options of `healwatch drill`. A drill kills for real, so --dry-run is not one of them;
/// it is one deliberate act on one configured target, so the memory, the crash-loop
/// guard, discovery and the pass's outputs are not either (hidden from its help).
#[derive(Debug, Clone, Args)]
#[command(mut_arg("dry_run", |a| a.hide(true)))]
#[command(mut_arg("watch", |a| a.hide(true)), mut_arg("watch_every", |a| a.hide(true)))]
#[command(mut_arg("retries", |a| a.hide(true)), mut_arg("retry_delay", |a| a.hide(true)))]
#[command(mut_arg("failure_threshold", |a| a.hide(true)), mut_arg("max_restarts", |a| a.hide(true)))]
#[command(mut_arg("restart_window", |a| a.hide(true)), mut_arg("start_period", |a| a.hide(true)))]
#[command(mut_arg("log", |a| a.hide(true)), mut_arg("metrics", |a| a.hide(true)))]
#[command(mut_arg("notify_url", |a| a.hide(true)), mut_arg("ping_url", |a| a.hide(true)))]
#[command(mut_arg("quiet", |a| a.hide(true)), mut_arg("format", |a| a.hide(true)))]
#[command(mut_arg("forget_after", |a| a.hide(true)), mut_arg("state", |a| a.hide(true)))]
#[command(mut_arg("concurrency", |a| a.hide(true)), mut_arg("discover", |a| a.hide(true)))]
#[command(mut_arg("unhealthy", |a| a.hide(true)))]
pub struct DrillArgs {
    /// The target whose container is crashed.
    #[arg(value_name = "TARGET")]
    pub target: String,

    /// How long to wait for the container to run and answer healthy again (at most 1h).
    #[arg(long, value_name = "DUR", default_value = "60s", value_parser = flag_parser::<Duration>(ANY, HOUR, ""))]
    pub wait: Duration,

    /// If the restart policy has not brought it back (at once when the policy is `no`,
    /// else after 5s), heal it as a pass would.
    #[arg(long)]
    pub heal: bool,

    /// Targets and run options, as for a pass (used by --heal).
    #[command(flatten)]
    pub run: RunArgs,
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

/// Where the targets come from: the config file and `-t` flags, combined.
#[derive(Debug, Clone, Default, Args)]
pub struct TargetArgs {
    /// TOML config file with [defaults] and [[target]] tables [default:
    /// /etc/healwatch/healwatch.toml, when it exists and no -t is given].
    #[arg(short, long, env = "HEALWATCH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// A target as NAME=URL: NAME is the container to restart, URL its health endpoint.
    /// Repeatable; combined with the config file's targets.
    #[arg(short, long = "target", value_name = "NAME=URL")]
    pub targets: Vec<String>,
}

/// Generates `RunArgs`: the fields `$extra` gives, then one per run option.
macro_rules! define_run_args {
    ({ $($extra:tt)* }
     $( $(#[doc = $doc:literal])* #[arg($($arg:tt)*)] $name:ident : $flag:ty => $key:ty; )*
    ) => {
        /// Options of one pass. Each run option (see `options.rs`) has a `[defaults]` twin;
        /// a flag wins over the file.
        #[derive(Debug, Clone, Default, Args)]
        pub struct RunArgs {
            $($extra)*
            $( $(#[doc = $doc])* #[arg($($arg)*)] pub $name: $flag, )*
        }
    };
}

crate::options::run_options_table!(define_run_args {
    /// The targets.
    #[command(flatten)]
    pub targets: TargetArgs,

    /// The per-target settings (each also a config key and a label).
    #[command(flatten)]
    pub settings: SettingFlags,

    /// Stay up for DUR from the start and watch between passes: every --watch-every, one
    /// attempt at each HTTP and TCP target the last pass saw healthy, and Docker's events
    /// (die, oom, pause, unhealthy) for their containers. Anything amiss starts a pass at
    /// once, which writes its own status line. For healing within seconds from a timer
    /// (the shipped one runs --watch 14s every 15 s) or cron (--watch 55s every minute)
    /// [default: one pass, then exit].
    #[arg(long, value_name = "DUR", value_parser = flag_parser::<Duration>(WATCH.0, WATCH.1, ""))]
    pub watch: Option<Duration>,

    /// With --watch: how often the healthy targets are looked at [default: 1s].
    #[arg(long, value_name = "DUR", requires = "watch",
          value_parser = flag_parser::<Duration>(WATCH_EVERY.0, WATCH_EVERY.1, ""))]
    pub watch_every: Option<Duration>,
});

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
        assert!(matches!(cli.command, Some(Command::Run(ref r)) if r.dry_run));
    }
}
