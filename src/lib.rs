//! healwatch: a one-shot watchdog. One pass checks every target's HTTP health URL,
//! restarts the container behind each failing one, confirms it recovered, and prints
//! one JSON status line.
//!
//! The pipeline: `cli` -> `config` -> `heal` (`probe`, `policy`, `docker`) -> `report`
//! -> `exit`. `run` is the thin layer that wires the real edges to it.

pub mod audit;
pub mod cli;
pub mod config;
pub mod docker;
pub mod drill;
pub mod exit;
pub mod heal;
pub mod lock;
pub mod policy;
pub mod probe;
pub mod redact;
pub mod report;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result};

use crate::cli::{AuditArgs, Cli, Command, DrillArgs, RunArgs, TargetArgs};
use crate::docker::{Containers, DockerCli};
use crate::exit::Exit;
use crate::probe::HttpProbe;
use crate::report::{Outcome, Report};

/// Runs the command `cli` asks for. `Err` means nothing could be attempted (exit 2).
pub fn run(cli: Cli) -> Result<Exit> {
    match cli.command.unwrap_or(Command::Run(cli.run)) {
        Command::Run(args) => pass(&args),
        Command::Validate(args) => validate(&args),
        Command::Drill(args) => drill(&args),
        Command::Audit(args) => audit(&args),
    }
}

/// One pass: load config, lock, check and heal, print and log the status line.
fn pass(args: &RunArgs) -> Result<Exit> {
    let started = SystemTime::now();
    let clock = Instant::now();
    let fail = |error: anyhow::Error, log: Option<&Path>| {
        let report = Report::failed(started, args.dry_run, format!("{error:#}"));
        emit(&report, log, false);
        error
    };
    let config = config::load(args).map_err(|e| fail(e, args.log.as_deref()))?;
    let log = config.log.as_deref();
    // Dry runs need no docker; real ones must be able to heal, so a missing CLI is
    // reported even when every target happens to be healthy.
    let docker = if config.dry_run {
        None
    } else {
        Some(DockerCli::locate(config.docker.as_deref()).map_err(|e| fail(e, log))?)
    };
    let probe = HttpProbe::new(config.proxy.as_deref()).map_err(|e| fail(e, log))?;
    let _lock = match lock::acquire(config.lock.as_deref()).map_err(|e| fail(e, log))? {
        Ok(lock) => lock,
        Err(held) => {
            eprintln!("healwatch: {held}; this pass does nothing");
            emit(&Report::failed(started, config.dry_run, held), log, false);
            return Ok(Exit::Locked);
        }
    };

    let targets = heal::run_pass(&config, &probe, docker.as_ref().map(|d| d as &dyn Containers));
    let report = Report::new(started, clock.elapsed().as_millis() as u64, config.dry_run, targets);
    let all_healthy = report.targets.iter().all(|t| t.outcome == Outcome::Healthy);
    emit(&report, log, config.quiet && all_healthy);
    Ok(Exit::for_report(&report))
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
fn validate(args: &TargetArgs) -> Result<Exit> {
    let config = config::load_targets(args)?;
    let mut out = std::io::stdout().lock();
    for t in &config.targets {
        let headers: Vec<String> = t.headers.iter().map(|(k, _)| format!("{k}: {}", redact::MASK)).collect();
        writeln!(
            out,
            "{}\tcontainer={} url={} expect_status={}{}{} timeout={} retries={} retry_delay={} restart_timeout={} recovery_timeout={}",
            t.name,
            t.container,
            t.url.display,
            t.expect_status,
            t.expect_body.as_ref().map(|b| format!(" expect_body={b:?}")).unwrap_or_default(),
            if headers.is_empty() { String::new() } else { format!(" headers={headers:?}") },
            humantime::format_duration(t.timeout),
            t.retries,
            humantime::format_duration(t.retry_delay),
            humantime::format_duration(t.restart_timeout),
            humantime::format_duration(t.recovery_timeout),
        )?;
    }
    writeln!(out, "{} target(s) valid", config.targets.len())?;
    Ok(Exit::Healthy)
}

/// `healwatch drill TARGET`: crash the container for real and time its return.
fn drill(args: &DrillArgs) -> Result<Exit> {
    let config = config::load(&args.run)?;
    anyhow::ensure!(!config.dry_run, "drill kills a process for real; --dry-run does not apply to it");
    let wait = config::parse_duration(&args.wait).context("--wait")?;
    let docker = DockerCli::locate(config.docker.as_deref())?;
    let probe = HttpProbe::new(config.proxy.as_deref())?;
    // Hold the pass lock so a cron pass neither races the heal nor muddles the timing.
    let _lock = lock::acquire(config.lock.as_deref())?.map_err(anyhow::Error::msg)?;
    let report = drill::drill(&config, &args.target, wait, args.heal, &docker, &probe)?;
    let mut line = serde_json::to_vec(&report)?;
    line.push(b'\n');
    std::io::stdout().lock().write_all(&line)?;
    Ok(if report.time_to_healthy_ms.is_some() { Exit::Healthy } else { Exit::Unhealthy })
}

/// `healwatch audit`: restart policies and HEALTHCHECKs of every container, in one inspect.
fn audit(args: &AuditArgs) -> Result<Exit> {
    let config = config::load_allowing_none(&RunArgs { targets: args.targets.clone(), ..RunArgs::default() })?;
    let docker = DockerCli::locate(args.docker.as_deref().or(config.docker.as_deref()))?;
    let ids = docker.list_all()?;
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let containers = docker.inspect(&ids)?;
    let report = audit::audit(&containers, &config.targets, args.targets_only);
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut line = serde_json::to_vec(&report)?;
        line.push(b'\n');
        out.write_all(&line)?;
    } else {
        audit::write_table(&report, &mut out)?;
    }
    Ok(if report.unprotected { Exit::Unhealthy } else { Exit::Healthy })
}
