//! `check` and `drill`: the subcommands that take part of a pass's options. Each
//! flattens the groups it reads and accepts the others hidden (`*Ignored`), as a pass
//! takes them, so a command line written for `run` still parses.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::run::{
    LockArgs, LockIgnored, MemoryIgnored, PassIgnored, ReachArgs, ReportIgnored, RunArgs, ScopeArgs, ScopeIgnored,
    TargetArgs,
};
use crate::settings::{ANY, HOUR, SettingFlags, WATCH, WATCH_CPU, WATCH_EVERY, flag_parser};

/// `healwatch check --help`'s closing words.
const CHECK_EXAMPLES: &str = "Examples:
  healwatch check --wait 60s -t web=http://127.0.0.1:8080/health
      wait up to a minute for one service to answer healthy
  healwatch check --unhealthy all --stable 3 --junit report.xml
      every container with a HEALTHCHECK healthy three times in a row, as JUnit XML

check restarts nothing and writes no state: exit 0 when every target became healthy \
within --wait, 1 otherwise, 2 on a usage or config error.";

/// `check` waits for HEALTHCHECKs; it heals nothing.
const CHECK_UNHEALTHY_HELP: &str = "Also wait for containers with a Docker HEALTHCHECK: `label` (those \
labelled healwatch.enable=true), `all`, or `off` [default: off]";

/// `check` reads no config file unless one is named.
const CHECK_CONFIG_HELP: &str = "TOML config file with [defaults] and [[target]] tables; check reads \
none unless named here (never the host's /etc/healwatch/healwatch.toml)";

/// Options of `healwatch check`: a pass's targets, its check settings, which targets and
/// how they are reached. The run options it has no use for (it restarts nothing,
/// remembers nothing and prints JSON) are accepted, hidden from its help, and a warning
/// in its report when given.
#[derive(Debug, Clone, Args)]
#[command(mut_arg("retries", |a| a.hide(true)), mut_arg("retry_delay", |a| a.hide(true)))]
#[command(mut_arg("decide_within", |a| a.hide(true)), mut_arg("restart_timeout", |a| a.hide(true)))]
#[command(mut_arg("recovery_timeout", |a| a.hide(true)), mut_arg("failure_threshold", |a| a.hide(true)))]
#[command(mut_arg("max_restarts", |a| a.hide(true)), mut_arg("restart_window", |a| a.hide(true)))]
#[command(mut_arg("start_period", |a| a.hide(true)), mut_arg("stable_after", |a| a.hide(true)))]
#[command(mut_arg("config", |a| a.help(CHECK_CONFIG_HELP)))]
#[command(mut_arg("unhealthy", |a| a.help(CHECK_UNHEALTHY_HELP)))]
#[command(mut_arg("concurrency", |a| a.help("Check at most N targets at once [default: 32]")))]
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

    /// The targets.
    #[command(flatten)]
    pub targets: TargetArgs,

    /// The per-target settings (those of a check; the healing ones are accepted, hidden).
    #[command(flatten)]
    pub settings: SettingFlags,

    /// Which targets, and how many at once.
    #[command(flatten)]
    pub scope: ScopeArgs,

    /// How checks reach their targets.
    #[command(flatten)]
    pub reach: ReachArgs,

    /// What a pass reads and check does not.
    #[command(flatten)]
    pub unused: Unused,
}

/// The run options a subcommand accepts as a pass takes them, without reading them:
/// hidden from its help (`--state` and `--lock` among them, whose environment twins are
/// often set for every healwatch command on a host).
#[derive(Debug, Clone, Default, Args)]
pub struct Unused {
    /// `--dry-run`.
    #[command(flatten)]
    pub pass: PassIgnored,
    /// Where a pass's report goes.
    #[command(flatten)]
    pub report: ReportIgnored,
    /// What passes remember.
    #[command(flatten)]
    pub memory: MemoryIgnored,
    /// `--lock`.
    #[command(flatten)]
    pub lock: LockIgnored,
    /// `--watch` (only `run` watches).
    #[arg(long, value_name = "DUR", hide = true, value_parser = flag_parser::<Duration>(WATCH.0, WATCH.1, ""))]
    pub watch: Option<Duration>,
    /// `--watch-every`.
    #[arg(long, value_name = "DUR", hide = true, requires = "watch",
          value_parser = flag_parser::<Duration>(WATCH_EVERY.0, WATCH_EVERY.1, ""))]
    pub watch_every: Option<Duration>,
    /// `--watch-cpu`.
    #[arg(long, value_name = "PERCENT", hide = true, requires = "watch",
          value_parser = flag_parser::<u32>(WATCH_CPU.0, WATCH_CPU.1, ""))]
    pub watch_cpu: Option<u32>,
}

impl CheckArgs {
    /// What `check` reads, as the run options of a pass (the config is loaded from them).
    pub fn run_args(&self) -> RunArgs {
        RunArgs {
            targets: self.targets.clone(),
            settings: self.settings.clone(),
            scope: self.scope.clone(),
            reach: self.reach.clone(),
            ..RunArgs::default()
        }
    }

    /// The run options given on the command line that `check` has no use for. `--state`
    /// and `--lock` are not among them: their environment twins are often set for every
    /// healwatch command on a host, and check touches neither file.
    pub fn ignored(&self) -> Vec<&'static str> {
        let (u, s) = (&self.unused, &self.settings);
        let r = &u.report;
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
            ("--dry-run", u.pass.dry_run),
            ("--log", r.log.is_some()),
            ("--metrics", r.metrics.is_some()),
            ("--notify-url", !r.notify_url.is_empty()),
            ("--ping-url", r.ping_url.is_some()),
            ("--quiet", r.quiet),
            ("--format", r.format.is_some()),
            ("--forget-after", u.memory.forget_after.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
    }
}

/// Options of `healwatch drill`. A drill kills for real, so --dry-run is not one of them;
/// it is one deliberate act on one configured target, so the memory, the crash-loop
/// guard, discovery and the pass's outputs are not either (accepted, hidden from its help).
#[derive(Debug, Clone, Args)]
#[command(mut_arg("retries", |a| a.hide(true)), mut_arg("retry_delay", |a| a.hide(true)))]
#[command(mut_arg("failure_threshold", |a| a.hide(true)), mut_arg("max_restarts", |a| a.hide(true)))]
#[command(mut_arg("restart_window", |a| a.hide(true)), mut_arg("start_period", |a| a.hide(true)))]
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

    /// The targets: TARGET must be one of them.
    #[command(flatten)]
    pub targets: TargetArgs,

    /// The per-target settings (used by --heal).
    #[command(flatten)]
    pub settings: SettingFlags,

    /// How checks and docker commands reach the target.
    #[command(flatten)]
    pub reach: ReachArgs,

    /// The pass lock, which a drill holds.
    #[command(flatten)]
    pub lock: LockArgs,

    /// Which targets and how many at once: a drill has one (accepted, hidden).
    #[command(flatten)]
    pub scope: ScopeIgnored,

    /// What a pass reads and a drill does not.
    #[command(flatten)]
    pub unused: DrillUnused,
}

/// The run options a drill accepts without reading them (hidden from its help).
#[derive(Debug, Clone, Default, Args)]
pub struct DrillUnused {
    /// `--dry-run`: refused, a drill kills for real.
    #[command(flatten)]
    pub pass: PassIgnored,
    /// Where a pass's report goes.
    #[command(flatten)]
    pub report: ReportIgnored,
    /// What passes remember.
    #[command(flatten)]
    pub memory: MemoryIgnored,
    /// `--watch` (only `run` watches).
    #[arg(long, value_name = "DUR", hide = true, value_parser = flag_parser::<Duration>(WATCH.0, WATCH.1, ""))]
    pub watch: Option<Duration>,
    /// `--watch-every`.
    #[arg(long, value_name = "DUR", hide = true, requires = "watch",
          value_parser = flag_parser::<Duration>(WATCH_EVERY.0, WATCH_EVERY.1, ""))]
    pub watch_every: Option<Duration>,
    /// `--watch-cpu`.
    #[arg(long, value_name = "PERCENT", hide = true, requires = "watch",
          value_parser = flag_parser::<u32>(WATCH_CPU.0, WATCH_CPU.1, ""))]
    pub watch_cpu: Option<u32>,
}

impl DrillArgs {
    /// The drill's options as the run options of a pass (the config, and `--heal`'s pass,
    /// are made from them; what it does not read is passed on as given, so `--dry-run` is
    /// refused as before).
    pub fn run_args(&self) -> RunArgs {
        let unused = self.unused.clone();
        RunArgs {
            targets: self.targets.clone(),
            settings: self.settings.clone(),
            reach: self.reach.clone(),
            lock: self.lock.clone(),
            scope: self.scope.clone().into(),
            pass: unused.pass.into(),
            report: unused.report.into(),
            memory: unused.memory.into(),
            watch: unused.watch,
            watch_every: unused.watch_every,
            watch_cpu: unused.watch_cpu,
        }
    }
}
