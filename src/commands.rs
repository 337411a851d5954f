//! The edges of each subcommand: the clock, files, the lock and stdout, around the pure
//! core. Each function returns the exit status; `Err` means nothing could be attempted.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};

use crate::cli::{AuditArgs, DrillArgs, PauseArgs, ResumeArgs, RunArgs, StateArgs, StatusArgs, TargetArgs};
use crate::config::{self, Config, Unhealthy};
use crate::docker::{ContainerInfo, Containers, DockerCli, Endpoint};
use crate::exit::Exit;
use crate::heal::{self, Pass};
use crate::probe::HttpProbe;
use crate::redact::HealthUrl;
use crate::report::{Outcome, Report, timestamp, write_json_line};
use crate::state::{self, State};
use crate::{audit as audit_core, discover, drill as drill_core, lock, metrics, notify, policy, redact};

/// Test hook: an RFC 3339 time that replaces the clock, so tests can walk a target
/// through hours of passes. Only this function reads it.
const TEST_CLOCK_VAR: &str = "HEALWATCH_TEST_NOW";

/// The time a pass judges by: the clock, unless the test hook sets it.
fn now() -> Result<SystemTime> {
    match std::env::var(TEST_CLOCK_VAR) {
        Ok(text) => {
            humantime::parse_rfc3339(&text).with_context(|| format!("{TEST_CLOCK_VAR}='{text}' is not RFC 3339"))
        }
        Err(_) => Ok(SystemTime::now()),
    }
}

/// Where the state lives: `--state`, HEALWATCH_STATE or `[defaults] state`, else
/// state.json in the state directory.
fn state_path(config: &Config) -> Result<PathBuf> {
    match &config.state {
        Some(path) => Ok(path.clone()),
        None => Ok(lock::default_state_dir()?.join(state::STATE_FILE)),
    }
}

/// Pause and resume wait this long for a running pass to finish.
const LOCK_WAIT: Duration = Duration::from_secs(120);

/// One pass: load config, lock, check and heal, print and log the status line.
pub fn pass(args: &RunArgs) -> Result<Exit> {
    let clock = Instant::now();
    let started = now()?;
    // A pass that cannot run still tells monitoring so, through whatever outputs it knows.
    let fail = |error: anyhow::Error, outputs: &Outputs| {
        let mut report = Report::failed(started, args.dry_run, format!("{error:#}"));
        publish(&mut report, outputs, started, Exit::Usage, None);
        emit(&report, outputs.log.as_deref(), false);
        error
    };
    let mut config = config::load(args).map_err(|e| fail(e, &Outputs::from_flags(args)))?;
    let outputs = Outputs::from_config(&config);
    let needs_listing =
        config.discover || config.unhealthy != Unhealthy::Off || config.targets.iter().any(|t| t.compose.is_some());
    // Real passes must be able to heal, so a missing CLI is reported even when every
    // target happens to be healthy; a dry run needs it only to list containers.
    let docker = if config.dry_run && !needs_listing {
        None
    } else {
        Some(DockerCli::locate(config.docker.as_deref()).map_err(|e| fail(e, &outputs))?)
    };
    let probe = HttpProbe::new(config.proxy.as_deref(), config.ca_file.as_ref()).map_err(|e| fail(e, &outputs))?;
    let _lock = match lock::acquire(config.lock.as_deref()).map_err(|e| fail(e, &outputs))? {
        Ok(lock) => lock,
        Err(held) => {
            eprintln!("healwatch: {held}; this pass does nothing");
            let mut report = Report::failed(started, config.dry_run, held);
            // The running pass owns the metrics file; only the ping says this one failed.
            publish(
                &mut report,
                &Outputs { metrics: None, notify_url: None, ..outputs.clone() },
                started,
                Exit::Locked,
                None,
            );
            emit(&report, outputs.log.as_deref(), false);
            return Ok(Exit::Locked);
        }
    };

    let mut warnings = Vec::new();
    let mut invalid = Vec::new();
    if let (Some(cli), true) = (&docker, needs_listing) {
        invalid = add_docker_targets(&mut config, cli, &mut warnings);
    }
    let (memory, state_warnings, state_file) = match state_path(&config) {
        Ok(path) => {
            let loaded = state::load(&path, started);
            (loaded.state, loaded.warnings, loaded.writable.then_some(path))
        }
        Err(e) => (State::default(), vec![format!("{e:#}; going on without memory")], None),
    };
    warnings.extend(state_warnings);
    let docker = docker.filter(|_| !config.dry_run);
    let pass =
        Pass { probe: &probe, docker: docker.as_ref().map(|d| d as &dyn Containers), memory: &memory, now: started };
    let mut targets = heal::run_pass(&config, &pass);
    let remembered = policy::remember(&memory, &config.targets, &targets, started);
    for report in &mut targets {
        if let Some(m) = remembered.targets.get(&report.name) {
            report.consecutive_failures = m.consecutive_failures;
            report.restarts_in_window = m.recent_restarts.len();
            report.restarts_total = m.restarts_total;
        }
    }
    // A dry run is a look, not a pass: it leaves the memory as it found it.
    if let (Some(path), false) = (state_file, config.dry_run)
        && let Err(e) = state::save(&path, &remembered)
    {
        warnings.push(format!("{e:#}; this pass is not remembered"));
    }
    targets.extend(invalid);
    let mut report = Report::new(started, clock.elapsed().as_millis() as u64, config.dry_run, targets);
    report.warnings = warnings;
    let exit = Exit::for_report(&report);
    publish(&mut report, &outputs, started, exit, Some(&remembered));
    let all_healthy = report.warnings.is_empty() && report.targets.iter().all(|t| t.outcome == Outcome::Healthy);
    emit(&report, outputs.log.as_deref(), config.quiet && all_healthy);
    Ok(exit)
}

/// Adds what Docker itself says to the targets: labelled and unhealthy containers on the
/// default engine, and the replicas of compose services. One `docker ps` and one
/// `docker inspect` per engine; an engine that cannot be listed is a warning, and its
/// compose targets fail alone. Returns the entries for containers with bad labels.
fn add_docker_targets(
    config: &mut Config,
    docker: &DockerCli,
    warnings: &mut Vec<String>,
) -> Vec<crate::report::TargetReport> {
    let mut endpoints: BTreeSet<Endpoint> =
        config.targets.iter().filter(|t| t.compose.is_some()).map(|t| t.endpoint.clone()).collect();
    let discovering = config.discover || config.unhealthy != Unhealthy::Off;
    if discovering {
        endpoints.insert(Endpoint::Default);
    }
    let listings: BTreeMap<Endpoint, Result<Vec<ContainerInfo>>> = endpoints
        .into_iter()
        .map(|e| {
            let listing = docker.inventory(&e);
            (e, listing)
        })
        .collect();
    for (endpoint, listing) in &listings {
        if let Err(e) = listing {
            warnings.push(format!("listing containers on {endpoint}: {e:#}"));
        }
    }
    for target in &mut config.targets {
        if let (Some((project, service)), Some(Ok(listing))) = (&target.compose, listings.get(&target.endpoint)) {
            target.replicas = discover::compose_replicas(project, service, listing);
        }
    }
    match listings.get(&Endpoint::Default) {
        Some(Ok(listing)) if discovering => {
            let found = discover::discover(config, listing);
            config.targets.extend(found.targets);
            found.invalid
        }
        _ => Vec::new(),
    }
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
        let url = |raw: &Option<String>| raw.as_deref().and_then(|u| HealthUrl::parse(u).ok());
        Self {
            log: args.log.clone(),
            metrics: args.metrics.clone(),
            notify_url: None,
            notify_on: Vec::new(),
            ping_url: url(&args.ping_url),
        }
    }
}

/// Metrics file, notification and ping, in that order of need; each failure becomes a
/// warning on the report. The notification and the ping run side by side, so a dead
/// receiver costs one bounded wait, not two.
fn publish(report: &mut Report, outputs: &Outputs, started: SystemTime, exit: Exit, memory: Option<&State>) {
    if let Some(path) = &outputs.metrics {
        let text = match memory {
            Some(memory) => metrics::render(report, memory, started, exit),
            None => metrics::render_run(started, report.duration_ms, exit),
        };
        if let Err(e) = crate::atomic::write(path, text.as_bytes()) {
            report.warnings.push(format!("metrics: {e:#}"));
        }
    }
    let notify_url = outputs.notify_url.as_ref().filter(|_| notify::should_notify(report, &outputs.notify_on));
    if notify_url.is_none() && outputs.ping_url.is_none() {
        return;
    }
    let mut body = Vec::new();
    let _ = report.write_line(&mut body);
    let sender = notify::Sender::default();
    let (notified, pinged) = std::thread::scope(|scope| {
        let notified = notify_url.map(|url| scope.spawn(|| sender.notify(url, &body)));
        let pinged = outputs.ping_url.as_ref().map(|url| sender.ping(url, exit == Exit::Healthy));
        (notified.map(|h| h.join().unwrap_or_else(|_| Err("notifier panicked".to_string()))), pinged)
    });
    report.warnings.extend(notified.and_then(Result::err));
    report.warnings.extend(pinged.and_then(Result::err));
}

/// Appends the status line to the log (if any) and prints it (unless `quiet`). A log
/// that cannot be written becomes a warning on the printed line and on stderr.
fn emit(report: &Report, log: Option<&Path>, quiet: bool) {
    let mut report = report.clone();
    if let Some(path) = log
        && let Err(e) = append_line(&report, path)
    {
        let warning = format!("{e:#}");
        eprintln!("healwatch: warning: {warning}");
        report.warnings.push(warning);
    }
    if quiet && report.warnings.is_empty() {
        return;
    }
    let stdout = std::io::stdout();
    if let Err(e) = report.write_line(&mut stdout.lock()) {
        eprintln!("healwatch: writing the status line to stdout: {e}");
    }
}

fn append_line(report: &Report, path: &Path) -> Result<()> {
    let mut line = Vec::new();
    report.write_line(&mut line)?;
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening log {}", path.display()))?;
    // One write of the whole line: O_APPEND keeps concurrent writers' lines whole.
    file.write_all(&line).with_context(|| format!("appending to log {}", path.display()))
}

/// `healwatch validate`: print the resolved targets.
pub fn validate(args: &TargetArgs) -> Result<Exit> {
    let config = config::load_targets(args)?;
    let mut out = std::io::stdout().lock();
    for t in &config.targets {
        writeln!(out, "{}", describe(t))?;
    }
    writeln!(out, "{} target(s) valid", config.targets.len())?;
    Ok(Exit::Healthy)
}

/// One resolved target as `validate` prints it: every setting, secrets masked.
fn describe(t: &config::Target) -> String {
    let mut line = format!("{}\tcontainer={} url={}", t.name, t.container, t.url_display());
    if let config::HealthCheck::Http(h) = &t.health {
        line += &format!(" expect_status={}", h.expect_status);
        if let Some(body) = &h.expect_body {
            line += &format!(" expect_body={body:?}");
        }
        if !h.headers.is_empty() {
            let masked: Vec<String> = h.headers.iter().map(|(k, _)| format!("{k}: {}", redact::MASK)).collect();
            line += &format!(" headers={masked:?}");
        }
    }
    let s = &t.settings;
    let d = humantime::format_duration;
    line += &format!(
        " timeout={} retries={} retry_delay={} restart_timeout={} recovery_timeout={} failure_threshold={} max_restarts={} restart_window={} start_period={}",
        d(s.timeout),
        s.retries,
        d(s.retry_delay),
        d(s.restart_timeout),
        d(s.recovery_timeout),
        s.failure_threshold,
        s.max_restarts,
        d(s.restart_window),
        d(s.start_period)
    );
    if t.action != crate::docker::Action::Restart {
        line += &format!(" action={}", t.action.as_str());
    }
    if t.ignore_stopped {
        line += " ignore_stopped=true";
    }
    if !t.restart_with.is_empty() {
        line += &format!(" restart_with={}", t.restart_with.join(","));
    }
    if t.endpoint != crate::docker::Endpoint::Default {
        line += &format!(" engine={}", t.endpoint);
    }
    line
}

/// `healwatch drill TARGET`: crash the container for real and time its return.
pub fn drill(args: &DrillArgs) -> Result<Exit> {
    let config = config::load(&args.run)?;
    anyhow::ensure!(!config.dry_run, "drill kills a process for real; --dry-run does not apply to it");
    let wait = config::parse_duration(&args.wait).context("--wait")?;
    let docker = DockerCli::locate(config.docker.as_deref())?;
    let probe = HttpProbe::new(config.proxy.as_deref(), config.ca_file.as_ref())?;
    // Hold the pass lock so a cron pass neither races the heal nor muddles the timing.
    let _lock = lock::acquire(config.lock.as_deref())?.map_err(anyhow::Error::msg)?;
    let report = drill_core::drill(&config, &args.target, wait, args.heal, &docker, &probe)?;
    write_json_line(&report, &mut std::io::stdout().lock())?;
    Ok(if report.time_to_healthy_ms.is_some() { Exit::Healthy } else { Exit::Unhealthy })
}

/// `healwatch audit`: restart policies and HEALTHCHECKs of every container, in one inspect.
pub fn audit(args: &AuditArgs) -> Result<Exit> {
    let config = config::load_allowing_none(&RunArgs { targets: args.targets.clone(), ..RunArgs::default() })?;
    let docker = DockerCli::locate(args.docker.as_deref().or(config.docker.as_deref()))?;
    let containers = docker.inventory(&Endpoint::Default)?;
    let report = audit_core::audit(&containers, &config.targets, args.targets_only);
    let mut out = std::io::stdout().lock();
    if args.json {
        write_json_line(&report, &mut out)?;
    } else {
        audit_core::write_table(&report, &mut out)?;
    }
    Ok(if report.unprotected { Exit::Unhealthy } else { Exit::Healthy })
}

/// One row of `healwatch status`.
#[derive(Debug, serde::Serialize)]
struct StatusRow {
    target: String,
    last_outcome: Option<String>,
    last_time: Option<String>,
    consecutive_failures: u32,
    restarts_in_window: usize,
    restarts_total: u64,
    restart_failures_total: u64,
    paused_until: Option<String>,
    gave_up: bool,
}

/// `healwatch status`: what the state file remembers, per target. It reads without the
/// lock: the file is only ever replaced whole (rename), so a reader never sees half of it,
/// and a user who may read the state but not write the lock can still look.
pub fn status(args: &StatusArgs) -> Result<Exit> {
    let config = config::load_allowing_none(&RunArgs {
        targets: args.targets.clone(),
        state: args.files.state.clone(),
        ..RunArgs::default()
    })?;
    let now = now()?;
    let path = state_path(&config)?;
    let state = read_state_for_command(&path)?;
    let settings_of =
        |name: &str| config.targets.iter().find(|t| t.name == name).map_or(config::BUILTIN, |t| t.settings);
    let mut names: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).collect();
    if names.is_empty() {
        names = state.targets.keys().map(String::as_str).collect();
    }
    let rows: Vec<StatusRow> = names
        .into_iter()
        .map(|name| {
            let memory = state.targets.get(name).cloned().unwrap_or_default();
            let settings = settings_of(name);
            let in_window = memory.restarts_in_window(now, settings.restart_window).len();
            StatusRow {
                target: name.to_string(),
                last_outcome: memory.last_outcome.clone(),
                last_time: memory.last_time.clone(),
                consecutive_failures: memory.consecutive_failures,
                restarts_in_window: in_window,
                restarts_total: memory.restarts_total,
                restart_failures_total: memory.restart_failures_total,
                paused_until: memory.paused_until(now).map(timestamp),
                gave_up: settings.max_restarts > 0 && in_window >= settings.max_restarts as usize,
            }
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        write_json_line(&serde_json::json!({ "state": path, "targets": rows }), &mut out)?;
        return Ok(Exit::Healthy);
    }
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_string());
    let width = rows.iter().map(|r| r.target.len()).max().unwrap_or(0).max(6);
    writeln!(
        out,
        "{:width$}  {:14}  {:24}  {:8}  {:18}  PAUSED UNTIL",
        "TARGET", "LAST OUTCOME", "WHEN", "FAILURES", "RESTARTS WIN/TOTAL"
    )?;
    for r in &rows {
        let outcome = if r.gave_up { "gave_up".to_string() } else { dash(&r.last_outcome) };
        writeln!(
            out,
            "{:width$}  {:14}  {:24}  {:<8}  {:18}  {}",
            r.target,
            outcome,
            dash(&r.last_time),
            r.consecutive_failures,
            format!("{}/{}", r.restarts_in_window, r.restarts_total),
            dash(&r.paused_until)
        )?;
    }
    Ok(Exit::Healthy)
}

/// Reads the state for status/pause/resume. Unlike a pass, these stop on a bad file:
/// they exist to show or change it, and must not move it aside behind a person's back.
fn read_state_for_command(path: &Path) -> Result<State> {
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        bail!("state file {} is not a regular file: give --state a file path", path.display());
    }
    match std::fs::read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State { version: state::VERSION, ..State::default() }),
        Err(e) => Err(e).with_context(|| format!("reading state file {}", path.display())),
        Ok(bytes) => {
            let state: State = serde_json::from_slice(&bytes).with_context(|| {
                format!("state file {} is corrupt; the next pass moves it aside and starts afresh", path.display())
            })?;
            if state.version != state::VERSION {
                bail!(
                    "state file {} has version {}, this healwatch reads {}",
                    path.display(),
                    state.version,
                    state::VERSION
                );
            }
            Ok(state)
        }
    }
}

/// `healwatch pause TARGET [--for DUR]`: a maintenance window. TARGET is a configured
/// target, or a discovered one that a pass has remembered.
pub fn pause(args: &PauseArgs) -> Result<Exit> {
    let duration = config::parse_duration(&args.duration).context("--for")?;
    change_state(&args.target, &args.targets, &args.files, |memory, now| {
        memory.paused_until = Some(timestamp(now + duration));
        format!("paused {} until {}: checked and reported, never restarted", args.target, timestamp(now + duration))
    })
}

/// `healwatch resume TARGET`: end a pause and reset the crash-loop guard.
pub fn resume(args: &ResumeArgs) -> Result<Exit> {
    change_state(&args.target, &args.targets, &args.files, |memory, _| {
        memory.paused_until = None;
        memory.recent_restarts.clear();
        memory.consecutive_failures = 0;
        format!("resumed {}: restarts allowed again, crash-loop guard reset", args.target)
    })
}

/// Changes one target's memory under the pass lock, and says what it did on stdout.
fn change_state(
    target: &str,
    targets: &TargetArgs,
    files: &StateArgs,
    change: impl FnOnce(&mut state::TargetState, SystemTime) -> String,
) -> Result<Exit> {
    let config = config::load_allowing_none(&RunArgs {
        targets: targets.clone(),
        state: files.state.clone(),
        lock: files.lock.clone(),
        ..RunArgs::default()
    })?;
    let _lock = match lock::acquire_within(config.lock.as_deref(), LOCK_WAIT)? {
        Ok(lock) => lock,
        Err(held) => {
            eprintln!("healwatch: {held}; gave up after {}", humantime::format_duration(LOCK_WAIT));
            return Ok(Exit::Locked);
        }
    };
    let now = now()?;
    let path = state_path(&config)?;
    let mut state = read_state_for_command(&path)?;
    // Configured targets, and discovered ones (labels, HEALTHCHECKs) that a pass remembered.
    if !config.targets.iter().any(|t| t.name == target) && !state.targets.contains_key(target) {
        let mut known: Vec<&str> =
            config.targets.iter().map(|t| t.name.as_str()).chain(state.targets.keys().map(String::as_str)).collect();
        known.sort_unstable();
        known.dedup();
        bail!(
            "unknown target '{target}' (known: {}); give the same -c/-t as the passes",
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        );
    }
    let said = change(state.targets.entry(target.to_string()).or_default(), now);
    state::save(&path, &state)?;
    println!("{said}");
    Ok(Exit::Healthy)
}
