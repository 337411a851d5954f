//! One invocation of `healwatch [run]`: what its passes share (the config as loaded,
//! the docker CLI, the prober, where reports go), the pass lock, and one whole pass:
//! list, check, heal, remember, report.

mod listing;
mod publish;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};

use crate::check::HttpProbe;
use crate::cli::RunArgs;
use crate::clock::{Clock, RealClock};
use crate::config::{self, Config, Target};
use crate::docker::{Containers, DockerCli};
use crate::exit::{Exit, Held, LockKind, Stop};
use crate::memory::state::{self, State};
use crate::memory::{lock, state_path};
use crate::model::TargetResult;
use crate::output::report::{Report, TargetReport};
use crate::pass::{self, Early, Pass, policy};
use crate::{files::atomic, hooks, interrupt};
pub(crate) use listing::roster;
use listing::{Listed, engines, unlisted_targets};
use publish::{Courier, Outputs, Parcel, emit, open_log_for, publish, warn, write_metrics};

/// What every pass of one invocation shares: the config as loaded (before discovery),
/// where reports go, the docker CLI and the HTTP prober.
pub(crate) struct Setup<'a> {
    args: &'a RunArgs,
    pub(crate) config: Config,
    outputs: Outputs,
    pub(crate) docker: Option<DockerCli>,
    pub(crate) probe: HttpProbe,
    /// Why ssh connections are not reused, said by every pass.
    ssh_warning: Option<String>,
    /// The clock of the invocation's start, for a run that cannot even start its pass.
    clock: RealClock,
    /// A watch's notifications, sent off the pass's thread.
    pub(crate) courier: Courier,
}

/// What a pass left: its exit status, and each target it checked (discovered ones
/// included) with its result, in order.
pub(crate) struct Done {
    pub(crate) exit: Exit,
    pub(crate) checked: Vec<(Target, TargetResult)>,
}

/// A command line clap rejected, for a pass: reported as a pass that could not run
/// reports it (status line, `--log`, `--metrics`, `--ping-url`, as far as the flags that
/// did parse say), as a bad `-t` is.
pub(crate) fn reject(args: &RunArgs, message: String) {
    let started = crate::clock::now().unwrap_or_else(|_| SystemTime::now());
    let clock = RealClock::starting_at(started);
    let _ = fail(args, started, &clock, Stop::Usage(anyhow::anyhow!(message)), &Outputs::from_flags(args));
}

/// A pass that cannot run still tells monitoring so, through whatever outputs it knows
/// (and stdout, unless the stop is a silent one).
fn fail(args: &RunArgs, started: SystemTime, clock: &RealClock, stop: Stop, outputs: &Outputs) -> Stop {
    let mut report = Report::failed(started, clock.elapsed(), args.pass.dry_run, stop.to_string());
    publish(&mut report, outputs, stop.exit(), None);
    // The stop itself is what the command reports; a stdout error here adds nothing.
    let log = open_log_for(&mut report, outputs.log.as_deref());
    let _ = emit(&mut report, log, !stop.silent(), args.report.format.unwrap_or_default(), false);
    stop
}

impl<'a> Setup<'a> {
    /// Loads the config and finds the docker CLI.
    pub(crate) fn load(args: &'a RunArgs, started: SystemTime) -> Result<Self, Stop> {
        let clock = RealClock::starting_at(started);
        let config =
            config::load(args).map_err(|e| fail(args, started, &clock, Stop::Usage(e), &Outputs::from_flags(args)))?;
        let outputs = Outputs::from_config(&config);
        // Real passes must be able to heal, so a missing CLI is reported even when every
        // target happens to be healthy; a dry run needs it only to discover, resolve
        // compose services or look inside containers, and without one reads no state.
        let cli = DockerCli::locate(config.docker.as_deref());
        let mut docker = match cli {
            Err(_) if config.dry_run && !config.needs_listing() && !config.needs_inspector() => None,
            cli => Some(cli.map_err(|e| fail(args, started, &clock, Stop::Usage(e), &outputs))?),
        };
        if let Some(e) = docker.as_ref().and_then(|cli| without_cli(&config, cli)) {
            return Err(fail(args, started, &clock, Stop::Usage(e), &outputs));
        }
        let probe = HttpProbe::new(config.proxy.as_ref(), config.ca_file.as_ref());
        let ssh_warning = match &mut docker {
            Some(cli) if config.ssh_reuse && ssh_engines(&config) => reuse_ssh(cli, &config)
                .err()
                .map(|e| format!("{e:#}; each docker command to an ssh engine opens its own connection")),
            _ => None,
        };
        Ok(Self { args, config, outputs, docker, probe, ssh_warning, clock, courier: Courier::default() })
    }

    /// Takes the pass lock: at once (`wait` of `None`), or within `wait`, as a watch does
    /// so that a pass someone runs by hand can finish first.
    pub(crate) fn lock(&self, started: SystemTime, wait: Option<Duration>) -> Result<lock::PassLock, Stop> {
        self.lock_at(self.config.lock.as_deref(), (LockKind::Pass, Duration::ZERO), started, wait)
    }

    /// As `lock`, for the lock file at `path` (`None`: the default one), of `kind`, which
    /// a healthy healwatch holds at most `beyond` longer than its longest pass.
    pub(crate) fn lock_at(
        &self,
        path: Option<&Path>,
        (kind, beyond): (LockKind, Duration),
        started: SystemTime,
        wait: Option<Duration>,
    ) -> Result<lock::PassLock, Stop> {
        let taken = match wait {
            None => lock::acquire(path, kind),
            Some(wait) => lock::acquire_within(path, kind, wait),
        };
        match taken {
            Ok(lock) => Ok(lock),
            Err(Stop::Locked(held)) if wait.is_some() => Err(Stop::Locked(held)),
            Err(Stop::Locked(held)) => {
                let then = format!("this {} does nothing", kind.name());
                let routine =
                    self.config.quiet && held.age.is_some_and(|age| age < longest_pass(&self.config) + beyond);
                if routine {
                    // A pass or watch of the same schedule is still at work: under --quiet
                    // that is no news (cron mails output), and the holder pings and writes
                    // the metrics. The log keeps the line.
                    let stop = Stop::Locked(Held { quiet: true, ..held.then(then) });
                    let log_only = Outputs { log: self.outputs.log.clone(), ..Outputs::default() };
                    return Err(fail(self.args, started, &self.clock, stop, &log_only));
                }
                // The running pass owns the metrics file and the notifications; only the
                // ping says this one did nothing.
                let quiet = Outputs { metrics: None, notify: Vec::new(), ..self.outputs.clone() };
                Err(fail(self.args, started, &self.clock, Stop::Locked(held.then(then)), &quiet))
            }
            Err(stop) => Err(fail(self.args, started, &self.clock, stop, &self.outputs)),
        }
    }

    /// This pass's roster (see `listing::roster`), and what its listing said, told in
    /// `warnings`: the config's targets as they are when nothing is listed.
    fn roster(&self, memory: &State, warnings: &mut Vec<String>) -> (Vec<Target>, Listed) {
        let config = &self.config;
        let Some(cli) = self.docker.as_ref().filter(|_| config.lists()) else {
            return (config.targets.clone(), Listed::default());
        };
        let (roster, listed) =
            listing::roster(config, cli, &|name| memory.targets.get(name).and_then(|m| m.provider.clone()));
        // Said once per engine, however many of its targets went unchecked.
        warnings.extend(listed.engines.values().filter_map(|l| l.error.clone().or_else(|| l.refused.clone())));
        warnings.extend(listed.mistakes.iter().cloned());
        (roster, listed)
    }

    /// One pass, under the lock the caller holds: list, check, heal, remember, report;
    /// `early` is what whoever started it early brings (a watch): with a deadline, the
    /// pass is done by then (a recovery wait is cut to it, and its news is sent off its
    /// thread, by then too).
    pub(crate) fn pass(&self, started: SystemTime, early: Early) -> Result<Done, Stop> {
        let clock = RealClock::starting_at(started);
        let config = &self.config;
        let outputs = &self.outputs;
        let mut warnings: Vec<String> = self.ssh_warning.iter().cloned().collect();
        // What the last pass's notifications met, now that they are done.
        warnings.extend(self.courier.finished());
        let mut memory_warnings = Vec::new();
        let (memory, state_file) = load_memory(config, started, &mut memory_warnings);
        let (roster, listed) = self.roster(&memory, &mut warnings);
        warnings.extend(memory_warnings);
        let unreachable = unlisted_targets(config, &roster, &listed, &memory);
        let inspector = self.docker.as_ref().map(|d| d as &dyn Containers);
        let pace = early.pace;
        let pass = Pass {
            probe: &self.probe,
            docker: inspector.filter(|_| !config.dry_run),
            inspector,
            memory: &memory,
            clock: &clock,
            early,
        };
        let (results, pass_warnings) = pass::run_pass(config, &roster, &pass);
        warnings.extend(pass_warnings);
        warnings.extend(hooks::run_after_restarts(&roster, &results, config.concurrency));
        let interrupted = interrupt::requested();
        let (mut report, mut remembered, mut done) =
            conclude(config, (roster, results), unreachable, listed, &memory, started, clock.elapsed());
        report.warnings = warnings;
        report.watch = pace;
        let engines_well = report.engines.iter().all(|e| e.up && e.refused.is_none());
        let mut exit = Exit::for_health(report.all_healthy_now() && engines_well);
        if let Some(signal) = interrupted {
            report.interrupted = Some(interrupt::name(signal));
            exit = Exit::Interrupted(signal);
        }
        // What the pass did is saved before anything is sent: a receiver that hangs, or a
        // process limit that stops a notifier, can never lose a restart from the guard's
        // count or the metrics.
        write_metrics(&mut report, outputs, exit, Some(&remembered));
        let log = open_log_for(&mut report, outputs.log.as_deref());
        // A dry run is a look, not a pass: it leaves the memory as it found it.
        let state_file = state_file.filter(|_| !config.dry_run);
        if let Some(path) = &state_file {
            // Under the lock, no other writer runs: any temp file is a killed pass's.
            atomic::sweep(path);
            remember(&mut report, path, &mut remembered);
        }
        let deadline = early.deadline.map(|end| Instant::now() + end.saturating_sub(clock.elapsed()));
        self.send_and_remember(&mut report, &mut exit, deadline, (state_file.as_deref(), &mut remembered));
        let tell = !config.quiet
            || report.error.is_some()
            || report.interrupted.is_some()
            || policy::worth_telling(&report.changed(), &report.warnings, &memory);
        emit(&mut report, log, tell, config.format, config.quiet)?;
        done.exit = exit;
        Ok(done)
    }
}

/// The pass's memory from the state file, and where it is saved (`None`: nowhere, the
/// file is not writable or has no path); each trouble with it a warning.
fn load_memory(config: &Config, started: SystemTime, warnings: &mut Vec<String>) -> (State, Option<PathBuf>) {
    match state_path(config.state.as_ref()) {
        Ok(path) => {
            let loaded = state::load(&path, started);
            warnings.extend(loaded.warnings);
            (loaded.state, loaded.writable.then_some(path))
        }
        Err(e) => {
            warnings.push(format!("{e:#}; going on without memory"));
            (State::default(), None)
        }
    }
}

impl Setup<'_> {
    /// Sends the pass's news (by `deadline`, if it has one) and remembers what sending met:
    /// a signal while sending makes the exit `interrupted`, and the notifications'
    /// failures are saved too, so `--quiet` says them once.
    fn send_and_remember(
        &self,
        report: &mut Report,
        exit: &mut Exit,
        deadline: Option<Instant>,
        (state_file, remembered): (Option<&Path>, &mut State),
    ) {
        let interrupted = report.interrupted.is_some();
        let before = report.warnings.len();
        self.send(report, *exit, deadline);
        if let (false, Some(signal)) = (interrupted, interrupt::requested()) {
            // Cut short while notifying: the pass was done, its news was not all sent.
            report.interrupted = Some(interrupt::name(signal));
            *exit = Exit::Interrupted(signal);
        }
        if let (Some(path), true) = (state_file, report.warnings.len() > before) {
            remember(report, path, remembered);
        }
    }

    /// The notifications and the ping for `report`, now; for a pass with a `deadline` (a
    /// watch's, which ends then), off the pass's thread, so the next look never waits for
    /// a receiver (their failures are said by the next pass), and done by the deadline.
    fn send(&self, report: &mut Report, exit: Exit, deadline: Option<Instant>) {
        let by = publish::deadline(deadline);
        match (deadline, Parcel::from_report(report, &self.outputs, exit)) {
            (Some(_), Some(parcel)) => report.warnings.extend(self.courier.dispatch(parcel, by)),
            (None, Some(parcel)) => report.warnings.extend(parcel.deliver(by)),
            (_, None) => {}
        }
    }
}

/// Saves the memory a pass leaves, with the report's warnings as they stand; a failure
/// to save is one more warning.
fn remember(report: &mut Report, path: &Path, remembered: &mut State) {
    remembered.last_warnings = report.warnings.clone();
    match state::save(path, remembered) {
        Ok(None) => {}
        Ok(Some(cut)) => warn(report, cut),
        Err(e) => warn(report, format!("{e:#}; this pass is not remembered")),
    }
}

/// The error for a config that names an engine only the docker CLI reaches (a context,
/// an ssh or `tcp://` host) where there is no CLI, only the default engine's socket.
fn without_cli(config: &Config, cli: &DockerCli) -> Option<anyhow::Error> {
    let engines = config.engines.iter().map(|e| &e.endpoint);
    let endpoint = engines.chain(config.targets.iter().map(|t| &t.endpoint)).find(|e| cli.lacks_cli_for(e))?;
    Some(anyhow::anyhow!(
        "engine {endpoint} is reached through the docker CLI, and there is none here: install it, or pass --docker PATH"
    ))
}

/// What a pass found and did, before anything is written: the report (its warnings
/// still to come), the memory to save, and what it leaves (`Done`'s exit is set by the
/// caller). Pure: results, listing and memory in, values out.
fn conclude(
    config: &Config,
    (roster, results): (Vec<Target>, Vec<TargetResult>),
    unreachable: Vec<TargetResult>,
    listed: Listed,
    memory: &State,
    started: SystemTime,
    took: Duration,
) -> (Report, State, Done) {
    let mut remembered = policy::remember(memory, &roster, &results, started, config.forget_after);
    policy::remember_invalid(&mut remembered, &listed.invalid, started);
    let changes =
        policy::changes(&results.iter().chain(&unreachable).chain(&listed.invalid).collect::<Vec<_>>(), memory);
    let engines = engines(&roster, &results, &listed);
    let checked: Vec<(Target, TargetResult)> = roster.into_iter().zip(results.iter().cloned()).collect();
    let done = Done { exit: Exit::Healthy, checked };
    let targets = results
        .into_iter()
        .chain(unreachable)
        .map(|r| TargetReport::new(r, &remembered))
        .chain(listed.invalid.into_iter().map(TargetReport::bare))
        .collect();
    let mut report = Report::new(started, took, config.dry_run, targets);
    remembered.reached_no_engine = !engines.is_empty() && engines.iter().all(|e| !e.up);
    report.engines = engines;
    report.changes = changes;
    (report, remembered, done)
}

/// How long a healthy healwatch with this config holds the pass lock at most: the
/// longest pass its targets allow (deciding, a restart and its margin, the recovery wait)
/// and a minute for listing and hooks. A lock held longer than that (and what its kind
/// adds) is reported even under `--quiet`.
fn longest_pass(config: &Config) -> Duration {
    config
        .targets
        .iter()
        .map(|t| {
            let s = &t.settings;
            s.decide_within + s.restart_timeout + crate::docker::RESTART_MARGIN + s.recovery_timeout
        })
        .max()
        .unwrap_or(Duration::ZERO)
        + Duration::from_secs(60)
}

/// Whether docker commands may go over ssh: an engine or target with an ssh:// host or
/// a context (which may name one).
fn ssh_engines(config: &Config) -> bool {
    config
        .engines
        .iter()
        .map(|e| &e.endpoint)
        .chain(config.targets.iter().map(|t| &t.endpoint))
        .any(|e| e.may_use_ssh())
}

/// Reuses ssh connections through a wrapper in `ssh/` beside the state file.
fn reuse_ssh(docker: &mut DockerCli, config: &Config) -> Result<()> {
    let state = state_path(config.state.as_ref())?;
    let dir = state.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    docker.reuse_ssh(&dir.join("ssh")).context("reusing ssh connections")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, ActionRun, HealthUrl, Outcome, Recovery};
    use crate::output::report::EngineStatus;

    fn target(name: &str) -> Target {
        Target::http(name, name, HealthUrl::parse("http://127.0.0.1:1/").unwrap())
    }

    #[test]
    fn a_pass_concludes_what_it_checked_and_the_report_and_memory() {
        let config = Config::new(vec![target("app"), target("db"), target("idle")]);
        let restarted = TargetResult {
            outcome: Outcome::Restarted,
            recovery: Recovery::Recovered,
            action: Some(ActionRun {
                action: Action::Restart,
                exit_code: Some(0),
                duration: Duration::from_millis(800),
                stderr: String::new(),
            }),
            ..TargetResult::new("app", "app", String::new())
        };
        let down = TargetResult {
            outcome: Outcome::EngineDown,
            error: Some("docker engine local is unreachable: Cannot connect".into()),
            ..TargetResult::new("db", "db", String::new())
        };
        let healthy = TargetResult::new("idle", "idle", String::new());
        let invalid =
            TargetResult { outcome: Outcome::Invalid, ..TargetResult::new("local/bad", "bad", String::new()) };
        let listed = Listed { invalid: vec![invalid], ..Listed::default() };
        let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let (report, remembered, done) = conclude(
            &config,
            (config.targets.clone(), vec![restarted, down, healthy]),
            Vec::new(),
            listed,
            &State::default(),
            started,
            Duration::from_millis(900),
        );
        // Each target with its result, in order, for whoever started the pass.
        let checked: Vec<(&str, Outcome)> = done.checked.iter().map(|(t, r)| (t.name.as_str(), r.outcome)).collect();
        assert_eq!(checked, [("app", Outcome::Restarted), ("db", Outcome::EngineDown), ("idle", Outcome::Healthy)]);
        // The engine a target found down is down in the report.
        let engines: Vec<&EngineStatus> = report.engines.iter().collect();
        assert!(engines.len() == 1 && !engines[0].up, "{engines:?}");
        assert_eq!(report.targets.len(), 4, "three targets and the invalid entry");
        assert!(!report.all_healthy_now());
        // The restart is remembered; the engine down never counts as one.
        assert_eq!(remembered.targets["app"].restarts_total, 1);
        assert!(remembered.targets["db"].recent_restarts.is_empty());
    }
}
