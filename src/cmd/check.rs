//! `healwatch check`: the CI smoke check. After `docker compose up -d`, wait until every
//! target (URL or Docker HEALTHCHECK; configured, `-t` or discovered) is healthy or the
//! deadline passes. It restarts nothing, writes no state and takes no lock; it reports
//! one JSON line, and optionally JUnit XML, GitHub annotations and a step summary.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;

use crate::check::{Check, Failure, HttpProbe, Probe};
use crate::cli::CheckArgs;
use crate::config::{self, Config, HealthCheck, Target};
use crate::docker::{Containers, DockerCli};
use crate::exit::{Exit, Stop};
use crate::model::{DockerHealth, millis, one_line};
use crate::output::check_report::{CheckOutcome, CheckReport, CheckSummary, CheckTarget, Slowest};
use crate::output::report::json_line;
use crate::output::{github, junit};
use crate::pass::parallel_map;

/// Pause between rounds of checks: `time_to_healthy_ms` is right to about this.
const ROUND: Duration = Duration::from_millis(250);

/// What is known of one target so far.
#[derive(Debug, Clone, Default)]
struct Progress {
    streak: u32,
    streak_started: Option<Duration>,
    healthy_at: Option<Duration>,
    checks: u32,
    last: Option<Check>,
}

/// Waits for every target to become healthy, or `--wait` to pass.
pub(crate) fn run(args: &CheckArgs) -> Result<Exit, Stop> {
    let started_at = crate::clock::now().map_err(Stop::Usage)?;
    let start = Instant::now();
    if args.run.watch.is_some() {
        return Err(Stop::Usage(anyhow::anyhow!("check waits with --wait; --watch is for run")));
    }
    let mut config = config::load(&args.run).map_err(Stop::Usage)?;
    let needs_docker = config.needs_listing()
        || config.targets.iter().any(|t| matches!(t.health, HealthCheck::Exec(_) | HealthCheck::Logs));
    let docker =
        if needs_docker { Some(DockerCli::locate(config.docker.as_deref()).map_err(Stop::Usage)?) } else { None };
    let mut warnings = Vec::new();
    if let (Some(cli), true) = (&docker, config.needs_listing()) {
        // The same read-only listing a pass makes (ps and inspect per engine).
        let listed = crate::run::add_docker_targets(&mut config, cli);
        warnings.extend(listed.engines.into_values().filter_map(|l| l.error));
        warnings.extend(listed.invalid.into_iter().filter_map(|r| r.error));
    }
    let probe = HttpProbe::new(config.proxy.as_ref(), config.ca_file.as_ref());
    let docker_ref = docker.as_ref().map(|d| d as &dyn Containers);
    let deadline = start + args.wait;
    let mut progress = vec![Progress::default(); config.targets.len()];
    let progress_line = std::io::stderr().is_terminal();
    loop {
        let round_start = start.elapsed();
        let pending: Vec<usize> = (0..config.targets.len()).filter(|&i| progress[i].healthy_at.is_none()).collect();
        if pending.is_empty() || Instant::now() >= deadline {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let checks =
            parallel_map(&pending, config.concurrency, |&i| check_once(&probe, docker_ref, &config.targets[i], left)).0;
        for (&i, check) in pending.iter().zip(checks) {
            let p = &mut progress[i];
            p.checks += 1;
            if check.healthy() {
                p.streak += 1;
                p.streak_started.get_or_insert(round_start);
                if p.streak >= args.stable {
                    p.healthy_at = p.streak_started;
                }
            } else {
                p.streak = 0;
                p.streak_started = None;
            }
            p.last = Some(check);
        }
        if progress_line {
            show_progress(&config, &progress, start.elapsed());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        std::thread::sleep(ROUND.min(left));
    }
    if progress_line {
        // The live line disappears: what stays is the report.
        let _ = write!(std::io::stderr(), "\r\x1b[K");
    }
    let report = build(&config, &progress, started_at, start.elapsed(), args, warnings);
    let mut out = json_line(&report);
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        out.extend(github::annotations(&report).into_bytes());
        if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
            append(Path::new(&path), github::summary(&report).as_bytes())
                .with_context(|| "appending to $GITHUB_STEP_SUMMARY")
                .map_err(Stop::Io)?;
        }
    }
    if let Some(path) = &args.junit {
        crate::files::atomic::write(path, junit::junit(&report).as_bytes()).context("--junit").map_err(Stop::Io)?;
    }
    crate::output::print(&out)?;
    Ok(Exit::for_health(report.summary.failed == 0))
}

/// One look at a target: what a pass's attempt is (HTTP, TCP, exec), a running
/// container for a log-only target, or Docker's HEALTHCHECK status now.
fn check_once(probe: &dyn Probe, docker: Option<&dyn Containers>, target: &Target, left: Duration) -> Check {
    let none = |error: &str| Check::failed(Failure::Other, error, Duration::ZERO);
    let timeout = target.settings.timeout.min(left).max(Duration::from_millis(50));
    match (&target.health, docker) {
        (HealthCheck::Logs, Some(docker)) => crate::check::running_check(docker, target),
        (HealthCheck::Logs | HealthCheck::Docker { .. }, None) => none("this check needs the docker CLI"),
        (HealthCheck::Docker { .. }, Some(docker)) => {
            let Some(container) = target.container_refs().into_iter().next() else { return none("no container") };
            match docker.health(&container) {
                Ok(Some(DockerHealth::Healthy)) => Check::passed(None, Duration::ZERO),
                Ok(Some(status)) => none(&format!("docker health {}", status.as_str())),
                Ok(None) => none("no HEALTHCHECK"),
                Err(out) => none(&format!("docker inspect: {}", out.stderr)),
            }
        }
        _ => crate::check::attempt(probe, docker, target, timeout),
    }
}

fn build(
    config: &Config,
    progress: &[Progress],
    time: SystemTime,
    duration: Duration,
    args: &CheckArgs,
    warnings: Vec<String>,
) -> CheckReport {
    let targets: Vec<CheckTarget> = config
        .targets
        .iter()
        .zip(progress)
        .map(|(t, p)| {
            let healthy = p.healthy_at.is_some();
            let error = match (&p.last, healthy) {
                (_, true) => None,
                (Some(check), false) => check.error_text().map(|e| one_line(&e, 1000)),
                (None, false) => Some("never checked: --wait passed first".to_string()),
            };
            CheckTarget {
                name: t.name.clone(),
                container: t.container.clone(),
                url: t.url_display(),
                outcome: if healthy { CheckOutcome::Healthy } else { CheckOutcome::Unhealthy },
                time_to_healthy_ms: p.healthy_at.map(millis),
                http_status: p.last.as_ref().and_then(|c| c.http_status),
                checks: p.checks,
                error: error.or_else(|| (!healthy).then(|| "not stable: healthy checks came and went".to_string())),
            }
        })
        .collect();
    let failed = targets.iter().filter(|t| t.outcome != CheckOutcome::Healthy).count();
    let slowest = targets
        .iter()
        .max_by_key(|t| t.time_to_healthy_ms.unwrap_or(u64::MAX))
        .map(|t| Slowest { name: t.name.clone(), time_to_healthy_ms: t.time_to_healthy_ms });
    CheckReport {
        time,
        version: env!("CARGO_PKG_VERSION"),
        duration_ms: millis(duration),
        wait_ms: millis(args.wait),
        stable: args.stable,
        summary: CheckSummary { targets: targets.len(), healthy: targets.len() - failed, failed },
        slowest,
        warnings,
        targets,
    }
}

/// "4/6 healthy, waiting for db, web: 12 s", over itself on a terminal.
fn show_progress(config: &Config, progress: &[Progress], elapsed: Duration) {
    let healthy = progress.iter().filter(|p| p.healthy_at.is_some()).count();
    let waiting: Vec<&str> = config
        .targets
        .iter()
        .zip(progress)
        .filter(|(_, p)| p.healthy_at.is_none())
        .map(|(t, _)| t.name.as_str())
        .collect();
    let mut line = format!("{healthy}/{} healthy", progress.len());
    if !waiting.is_empty() {
        let _ = write!(line, ", waiting for {}", one_line(&waiting.join(", "), 60));
    }
    let _ = write!(line, ": {} s", elapsed.as_secs());
    let _ = write!(std::io::stderr(), "\r\x1b[K{line}");
}

fn append(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = crate::files::open_append(path)?;
    file.write_all(bytes)?;
    Ok(())
}
