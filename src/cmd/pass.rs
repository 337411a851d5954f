//! `healwatch [run]`: one pass. Loads the config, takes the lock, lists containers when
//! discovery asks for it, runs the pass, remembers it, and reports it: metrics,
//! notification and ping, the log and stdout, the status line serialized once.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

use crate::cli::RunArgs;
use crate::clock::{Clock, RealClock};
use crate::config::{self, Config, Target};
use crate::docker::{ContainerSummary, Containers, DockerCli};
use crate::exit::{Exit, Stop};
use crate::heal::{self, Pass};
use crate::model::{Endpoint, Format, HealthUrl, Outcome, Recovery, TargetResult, one_line};
use crate::probe::HttpProbe;
use crate::report::{self, EngineStatus, Report, TargetReport};
use crate::state::{self, State};
use crate::{atomic, discover, hooks, interrupt, lock, metrics, notify, policy};

/// `healwatch [run]`: one pass, or with `--watch` a watch of several.
pub fn run(args: &RunArgs) -> Result<Exit, Stop> {
    let started = super::now()?;
    // From here a signal ends the pass in order: see interrupt.rs.
    interrupt::install().context("installing signal handlers")?;
    let setup = Setup::load(args, started)?;
    match args.watch {
        None => {
            let _lock = setup.lock(started, None)?;
            Ok(setup.pass(started, &heal::NO_HINTS)?.exit)
        }
        Some(length) => super::watch::run(&setup, started, length, args.watch_every),
    }
}

/// What every pass of one invocation shares: the config as loaded (before discovery),
/// where reports go, the docker CLI and the HTTP prober.
pub(super) struct Setup<'a> {
    args: &'a RunArgs,
    pub(super) config: Config,
    outputs: Outputs,
    pub(super) docker: Option<DockerCli>,
    pub(super) probe: HttpProbe,
    /// Why ssh connections are not reused, said by every pass.
    ssh_warning: Option<String>,
    /// The clock of the invocation's start, for a run that cannot even start its pass.
    clock: RealClock,
}

/// What a pass left for a watch: its exit status, the targets it found healthy (the
/// ones a watch keeps an eye on), and the containers it acted on (whose own events are
/// not news).
pub(super) struct Done {
    pub(super) exit: Exit,
    pub(super) healthy: Vec<Target>,
    pub(super) acted: BTreeSet<(Endpoint, String)>,
}

/// A pass that cannot run still tells monitoring so, through whatever outputs it knows.
fn fail(args: &RunArgs, started: SystemTime, clock: &RealClock, stop: Stop, outputs: &Outputs) -> Stop {
    let mut report = Report::failed(started, clock.elapsed(), args.dry_run, stop.to_string());
    publish(&mut report, outputs, stop.exit(), None);
    // The stop itself is what the command reports; a stdout error here adds nothing.
    let log = open_log_for(&mut report, outputs.log.as_deref());
    let _ = emit(&mut report, log, true, args.format.unwrap_or_default());
    stop
}

impl<'a> Setup<'a> {
    /// Loads the config and finds the docker CLI.
    fn load(args: &'a RunArgs, started: SystemTime) -> Result<Self, Stop> {
        let clock = RealClock::starting_at(started);
        let config =
            config::load(args).map_err(|e| fail(args, started, &clock, Stop::Usage(e), &Outputs::from_flags(args)))?;
        let outputs = Outputs::from_config(&config);
        // Real passes must be able to heal, so a missing CLI is reported even when every
        // target happens to be healthy; a dry run needs it only to list containers.
        let mut docker = if config.dry_run && !config.needs_listing() && !config.needs_inspector() {
            None
        } else {
            let cli = DockerCli::locate(config.docker.as_deref());
            Some(cli.map_err(|e| fail(args, started, &clock, Stop::Usage(e), &outputs))?)
        };
        let probe = HttpProbe::new(config.proxy.as_ref(), config.ca_file.as_ref());
        let ssh_warning = match &mut docker {
            Some(cli) if config.ssh_reuse && ssh_engines(&config) => reuse_ssh(cli, &config)
                .err()
                .map(|e| format!("{e:#}; each docker command to an ssh engine opens its own connection")),
            _ => None,
        };
        Ok(Self { args, config, outputs, docker, probe, ssh_warning, clock })
    }

    /// Takes the pass lock: at once (`wait` of `None`), or within `wait`, as a watch does
    /// so that a pass someone runs by hand can finish first.
    pub(super) fn lock(&self, started: SystemTime, wait: Option<Duration>) -> Result<lock::PassLock, Stop> {
        self.lock_at(self.config.lock.as_deref(), started, wait)
    }

    /// As `lock`, for the lock file at `path` (`None`: the default one).
    pub(super) fn lock_at(
        &self,
        path: Option<&Path>,
        started: SystemTime,
        wait: Option<Duration>,
    ) -> Result<lock::PassLock, Stop> {
        let taken = match wait {
            None => lock::acquire(path),
            Some(wait) => lock::acquire_within(path, wait),
        };
        match taken {
            Ok(lock) => Ok(lock),
            Err(Stop::Locked(held)) if wait.is_some() => Err(Stop::Locked(held)),
            Err(Stop::Locked(held)) => {
                // The running pass owns the metrics file and the notifications; only the
                // ping says this one did nothing.
                let quiet = Outputs { metrics: None, notify_url: None, ..self.outputs.clone() };
                let stop = Stop::Locked(format!("{held}; this pass does nothing"));
                Err(fail(self.args, started, &self.clock, stop, &quiet))
            }
            Err(stop) => Err(fail(self.args, started, &self.clock, stop, &self.outputs)),
        }
    }

    /// One pass, under the lock the caller holds: list, check, heal, remember, report.
    pub(super) fn pass(&self, started: SystemTime, hints: &heal::Hints) -> Result<Done, Stop> {
        let clock = RealClock::starting_at(started);
        let mut config = self.config.clone();
        let outputs = &self.outputs;
        let mut warnings: Vec<String> = self.ssh_warning.iter().cloned().collect();
        let mut listed = Listed::default();
        if let (Some(cli), true) = (&self.docker, config.needs_listing()) {
            listed = add_docker_targets(&mut config, cli);
            // Said once per engine, however many of its targets went unchecked.
            warnings.extend(listed.engines.values().filter_map(|l| l.error.clone()));
        }
        let (memory, state_file) = match super::state_path(&config) {
            Ok(path) => {
                let loaded = state::load(&path, started);
                warnings.extend(loaded.warnings);
                (loaded.state, loaded.writable.then_some(path))
            }
            Err(e) => {
                warnings.push(format!("{e:#}; going on without memory"));
                (State::default(), None)
            }
        };
        let unreachable = unlisted_targets(&config, &listed, &memory);
        let inspector = self.docker.as_ref().map(|d| d as &dyn Containers);
        let pass = Pass {
            probe: &self.probe,
            docker: inspector.filter(|_| !config.dry_run),
            inspector,
            memory: &memory,
            clock: &clock,
            hints,
        };
        let (results, pass_warnings) = heal::run_pass(&config, &pass);
        warnings.extend(pass_warnings);
        warnings.extend(hooks::run_after_restarts(&config, &results));
        let mut remembered = policy::remember(&memory, &config.targets, &results, started, config.forget_after);
        let engines = engines(&config, &results, &listed);
        let mut done = Done { exit: Exit::Healthy, healthy: Vec::new(), acted: BTreeSet::new() };
        for (target, result) in config.targets.iter().zip(&results) {
            if result.action.is_some() {
                done.acted.extend(target.container_refs().into_iter().map(|c| (c.endpoint, c.name)));
            }
            // Seen answering in this pass: not paused, stopped or restarted unseen.
            if result.outcome == Outcome::Healthy || result.recovery == Recovery::Recovered {
                done.healthy.push(target.clone());
            }
        }
        let targets = results
            .into_iter()
            .chain(unreachable)
            .map(|r| TargetReport::new(r, &remembered))
            .chain(listed.invalid.into_iter().map(TargetReport::bare))
            .collect();
        let mut report = Report::new(started, clock.elapsed(), config.dry_run, targets);
        report.warnings = warnings;
        report.engines = engines;
        let mut exit = Exit::for_health(report.all_healthy_now() && report.engines.iter().all(|e| e.up));
        if let Some(signal) = interrupt::requested() {
            report.interrupted = Some(interrupt::name(signal));
            exit = Exit::Interrupted(signal);
        }
        publish(&mut report, outputs, exit, Some(&remembered));
        let log = open_log_for(&mut report, outputs.log.as_deref());
        // A dry run is a look, not a pass: it leaves the memory as it found it.
        if let (Some(path), false) = (state_file, config.dry_run) {
            remembered.last_warnings = report.warnings.clone();
            // Under the lock, no other writer runs: any temp file is a killed pass's.
            atomic::sweep(&path);
            if let Err(e) = state::save(&path, &remembered) {
                warn(&mut report, format!("{e:#}; this pass is not remembered"));
            }
        }
        let tell = !config.quiet || report.error.is_some() || report.interrupted.is_some() || {
            let results: Vec<&TargetResult> = report.targets.iter().map(|t| &t.result).collect();
            policy::worth_telling(&results, &report.warnings, &memory)
        };
        emit(&mut report, log, tell, config.format)?;
        done.exit = exit;
        Ok(done)
    }
}

/// The targets an earlier pass found on an engine that could not be listed now: known
/// from memory by their `ENGINE/` names, reported `engine_down` and left unchecked (and
/// their memory untouched).
fn unlisted_targets(config: &Config, listed: &Listed, memory: &State) -> Vec<TargetResult> {
    let mut found = Vec::new();
    if config.engines.len() < 2 {
        return found;
    }
    for engine in config.engines.iter().filter(|e| e.discovers()) {
        let Some(Listing { error: Some(error), .. }) = listed.engines.get(&engine.endpoint) else { continue };
        let prefix = format!("{}/", engine.name);
        for name in memory.targets.keys().filter(|n| n.starts_with(&prefix)) {
            if config.targets.iter().any(|t| &t.name == name) {
                continue;
            }
            found.push(TargetResult {
                outcome: Outcome::EngineDown,
                error: Some(format!("docker engine {} is unreachable: {error}", engine.name)),
                ..TargetResult::new(name, &name[prefix.len()..], String::new())
            });
        }
    }
    found
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
    let state = super::state_path(config)?;
    let dir = state.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    docker.reuse_ssh(&dir.join("ssh")).context("reusing ssh connections")
}

/// What listing the engines found: the entries for containers with bad labels, and how
/// each listed engine's listing went.
#[derive(Debug, Default)]
pub(super) struct Listed {
    pub(super) invalid: Vec<TargetResult>,
    pub(super) engines: BTreeMap<Endpoint, Listing>,
}

/// One engine's listing.
#[derive(Debug, Clone, Default)]
pub(super) struct Listing {
    /// Why it could not be listed.
    pub(super) error: Option<String>,
    /// How many containers it has (when listed).
    pub(super) containers: Option<usize>,
    /// How long `docker ps` and `docker inspect` took.
    pub(super) took: Duration,
}

/// The engines this pass reached or tried to: listed ones, and those of targets it ran
/// docker commands for. An engine is down when it could not be listed or a target on
/// it found it unreachable.
fn engines(config: &Config, results: &[TargetResult], listed: &Listed) -> Vec<EngineStatus> {
    let mut seen: BTreeMap<Endpoint, Listing> = listed.engines.clone();
    for (target, result) in config.targets.iter().zip(results) {
        let error = match result.outcome {
            Outcome::EngineDown => result.error.clone(),
            _ if result.action.is_some() => None,
            _ => continue,
        };
        let entry = seen.entry(target.endpoint.clone()).or_default();
        if entry.error.is_none() {
            entry.error = error;
        }
    }
    seen.into_iter()
        .map(|(endpoint, listing)| EngineStatus {
            name: endpoint.name(),
            up: listing.error.is_none(),
            error: listing.error,
            containers: listing.containers,
            list_ms: listing.containers.map(|_| crate::model::millis(listing.took)),
        })
        .collect()
}

/// Adds what Docker itself says to the targets: labelled and unhealthy containers on
/// every engine that asks for discovery, and the replicas of compose services. One
/// listing per engine (see `DockerCli::summaries`), all engines at once, so a slow or
/// unreachable one costs its own timeout and not the others'. An engine that cannot be
/// listed is reported in `engines`, and its compose targets fail alone.
pub(super) fn add_docker_targets(config: &mut Config, docker: &DockerCli) -> Listed {
    let mut endpoints: BTreeSet<Endpoint> =
        config.targets.iter().filter(|t| t.compose.is_some()).map(|t| t.endpoint.clone()).collect();
    endpoints.extend(config.engines.iter().filter(|e| e.discovers()).map(|e| e.endpoint.clone()));
    let endpoints: Vec<Endpoint> = endpoints.into_iter().collect();
    let (listings, _) = heal::parallel_map(&endpoints, endpoints.len(), |endpoint| {
        let start = std::time::Instant::now();
        let discovering = config.engines.iter().find(|e| e.discovers() && e.endpoint == *endpoint);
        let listing =
            docker.summaries(endpoint, |c| discovering.is_some_and(|engine| discover::needs_health(engine, c)));
        (listing, start.elapsed())
    });
    let listings: BTreeMap<Endpoint, (Result<Vec<ContainerSummary>>, Duration)> =
        endpoints.into_iter().zip(listings).collect();
    let engines = listings
        .iter()
        .map(|(endpoint, (listing, took))| {
            let error = listing.as_ref().err().map(|e| format!("listing containers on {endpoint}: {e:#}"));
            let containers = listing.as_ref().ok().map(Vec::len);
            (endpoint.clone(), Listing { error, containers, took: *took })
        })
        .collect();
    for target in &mut config.targets {
        if let (Some((project, service)), Some((Ok(listing), _))) = (&target.compose, listings.get(&target.endpoint)) {
            target.replicas = discover::compose_replicas(project, service, listing);
        }
    }
    let qualified = config.engines.len() > 1;
    let mut invalid = Vec::new();
    for engine in config.engines.clone().iter().filter(|e| e.discovers()) {
        if let Some((Ok(listing), _)) = listings.get(&engine.endpoint) {
            let found = discover::discover(config, discover::Scope { engine, qualified }, listing);
            config.targets.extend(found.targets);
            invalid.extend(found.invalid);
        }
    }
    Listed { invalid, engines }
}

/// Where a pass reports besides stdout.
#[derive(Debug, Clone, Default)]
struct Outputs {
    log: Option<PathBuf>,
    metrics: Option<PathBuf>,
    notify_url: Option<HealthUrl>,
    notify_on: Vec<Outcome>,
    ping_url: Option<HealthUrl>,
}

impl Outputs {
    fn from_config(config: &Config) -> Self {
        Self {
            log: config.log.clone(),
            metrics: config.metrics.clone(),
            notify_url: config.notify_url.clone(),
            notify_on: config.notify_on.clone(),
            ping_url: config.ping_url.clone(),
        }
    }

    /// What the flags alone say, for a config that did not load.
    fn from_flags(args: &RunArgs) -> Self {
        Self {
            log: args.log.clone(),
            metrics: args.metrics.clone(),
            notify_url: None,
            notify_on: Vec::new(),
            ping_url: args.ping_url.as_deref().and_then(|u| HealthUrl::parse_secret_path(u).ok()),
        }
    }
}

/// Metrics file, notification and ping, in that order of need; each failure becomes a
/// warning on the report. The notification and the ping run side by side, so a dead
/// receiver costs one bounded wait, not two.
fn publish(report: &mut Report, outputs: &Outputs, exit: Exit, memory: Option<&State>) {
    if let Some(path) = &outputs.metrics {
        if memory.is_some() {
            // Only a pass that holds the lock writes metrics, so leftovers are a killed pass's.
            atomic::sweep(path);
        }
        let text = match memory {
            Some(memory) => metrics::render(report, memory, report.time, exit),
            None => metrics::render_run(report.time, report.duration, exit),
        };
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !dir.is_dir() {
            report.warnings.push(format!(
                "metrics: directory {} does not exist: create it (node_exporter's --collector.textfile.directory), \
                 or drop --metrics",
                dir.display()
            ));
        } else if let Err(e) = atomic::write(path, text.as_bytes()) {
            report.warnings.push(format!("metrics: {e:#}"));
        }
    }
    let notify_url = outputs.notify_url.as_ref().filter(|_| notify::should_notify(report, &outputs.notify_on));
    if notify_url.is_none() && outputs.ping_url.is_none() {
        return;
    }
    // The notification carries the line as it stands; its own fate is added after.
    let body = notify_url.map(|_| report.line()).unwrap_or_default();
    let sender = notify::Sender::default();
    let (notified, pinged) = std::thread::scope(|scope| {
        let notified = notify_url.map(|url| scope.spawn(|| sender.notify(url, &body)));
        let pinged = outputs.ping_url.as_ref().map(|url| sender.ping(url, exit == Exit::Healthy));
        (notified.map(|h| h.join().unwrap_or_else(|_| Err("notifier panicked".to_string()))), pinged)
    });
    report.warnings.extend(notified.and_then(Result::err));
    report.warnings.extend(pinged.and_then(Result::err));
}

/// Opens the log (if any) before the report is final, so a log that cannot be opened
/// is a warning in the line itself.
fn open_log_for<'a>(report: &mut Report, log: Option<&'a Path>) -> Option<(&'a Path, File)> {
    let path = log?;
    match open_log(path) {
        Ok(file) => Some((path, file)),
        Err(e) => {
            warn(report, format!("{e:#}"));
            None
        }
    }
}

/// Appends the status line to the log and prints the report (when `tell`), as JSON or
/// as text. The line is serialized once, unless the log write itself fails.
fn emit(report: &mut Report, log: Option<(&Path, File)>, tell: bool, format: Format) -> Result<(), Stop> {
    report.tidy_warnings();
    let mut line = report.line();
    if let Some((path, mut file)) = log
        && let Err(e) = file.write_all(&line)
    {
        warn(report, format!("appending to log {}: {e}", path.display()));
        line = report.line();
    }
    if !tell {
        return Ok(());
    }
    match format {
        Format::Json => super::print(&line),
        Format::Text => {
            use std::io::IsTerminal;
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            super::print(report::text(report, color).as_bytes())
        }
    }
}

fn warn(report: &mut Report, warning: String) {
    eprintln!("healwatch: warning: {}", one_line(&warning, 2000));
    report.warnings.push(warning);
}

/// Opens the log for appending: one write per line, so O_APPEND keeps concurrent
/// writers' lines whole.
fn open_log(path: &Path) -> Result<File> {
    crate::files::open_append(path).with_context(|| format!("opening log {}", path.display()))
}
