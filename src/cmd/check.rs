//! `healwatch check`: the CI smoke check. After `docker compose up -d`, wait until every
//! target (URL or Docker HEALTHCHECK; configured, `-t` or discovered) is healthy or the
//! deadline passes. It restarts nothing, writes no state and takes no lock; it reports
//! one JSON line, and optionally JUnit XML, GitHub annotations and a step summary.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use serde::Serialize;

use crate::check::{Check, HttpProbe, Probe};
use crate::cli::CheckArgs;
use crate::config::{self, Config, HealthCheck, Target};
use crate::docker::{Containers, DockerCli};
use crate::exit::{Exit, Stop};
use crate::model::{DockerHealth, millis, one_line, rfc3339};
use crate::output::report::json_line;
use crate::pass::parallel_map;

/// Pause between rounds of checks: `time_to_healthy_ms` is right to about this.
const ROUND: Duration = Duration::from_millis(250);

/// One target's line in the check's report.
#[derive(Debug, Clone, Serialize)]
struct CheckTarget {
    name: String,
    container: String,
    url: String,
    /// `healthy` or `unhealthy`.
    outcome: &'static str,
    /// From the start of the check to the first check of the healthy streak that made
    /// it count; null when it never became healthy.
    time_to_healthy_ms: Option<u64>,
    http_status: Option<u16>,
    /// Checks made.
    checks: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Slowest {
    name: String,
    time_to_healthy_ms: Option<u64>,
}

/// The check's one JSON line.
#[derive(Debug, Serialize)]
struct CheckReport {
    #[serde(with = "rfc3339")]
    time: SystemTime,
    version: &'static str,
    duration_ms: u64,
    wait_ms: u64,
    stable: u32,
    summary: CheckSummary,
    /// The target that took longest (or never came up).
    #[serde(skip_serializing_if = "Option::is_none")]
    slowest: Option<Slowest>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    targets: Vec<CheckTarget>,
}

#[derive(Debug, Serialize)]
struct CheckSummary {
    targets: usize,
    healthy: usize,
    failed: usize,
}

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
        out.extend(github_annotations(&report).into_bytes());
        if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
            append(Path::new(&path), github_summary(&report).as_bytes())
                .with_context(|| "appending to $GITHUB_STEP_SUMMARY")
                .map_err(Stop::Io)?;
        }
    }
    if let Some(path) = &args.junit {
        crate::files::atomic::write(path, junit(&report).as_bytes()).context("--junit").map_err(Stop::Io)?;
    }
    crate::output::print(&out)?;
    Ok(Exit::for_health(report.summary.failed == 0))
}

/// One look at a target: what a pass's attempt is (HTTP, TCP, exec), a running
/// container for a log-only target, or Docker's HEALTHCHECK status now.
fn check_once(probe: &dyn Probe, docker: Option<&dyn Containers>, target: &Target, left: Duration) -> Check {
    let none = |error: &str| Check { http_status: None, latency: Duration::ZERO, error: Some(error.to_string()) };
    let timeout = target.settings.timeout.min(left).max(Duration::from_millis(50));
    match (&target.health, docker) {
        (HealthCheck::Logs, Some(docker)) => crate::check::running_check(docker, target),
        (HealthCheck::Logs | HealthCheck::Docker { .. }, None) => none("this check needs the docker CLI"),
        (HealthCheck::Docker { .. }, Some(docker)) => {
            let Some(container) = target.container_refs().into_iter().next() else { return none("no container") };
            match docker.health(&container) {
                Ok(Some(DockerHealth::Healthy)) => Check { http_status: None, latency: Duration::ZERO, error: None },
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
                (Some(check), false) => check.error.clone().map(|e| one_line(&e, 1000)),
                (None, false) => Some("never checked: --wait passed first".to_string()),
            };
            CheckTarget {
                name: t.name.clone(),
                container: t.container.clone(),
                url: t.url_display(),
                outcome: if healthy { "healthy" } else { "unhealthy" },
                time_to_healthy_ms: p.healthy_at.map(millis),
                http_status: p.last.as_ref().and_then(|c| c.http_status),
                checks: p.checks,
                error: error.or_else(|| (!healthy).then(|| "not stable: healthy checks came and went".to_string())),
            }
        })
        .collect();
    let failed = targets.iter().filter(|t| t.outcome != "healthy").count();
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

/// JUnit XML: one testsuite, one testcase per target, a failure per unhealthy one.
fn junit(report: &CheckReport) -> String {
    let secs = |ms: u64| format!("{:.3}", ms as f64 / 1000.0);
    let stamp = humantime::format_rfc3339_seconds(report.time).to_string().trim_end_matches('Z').to_string();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let (n, failed, total) = (report.summary.targets, report.summary.failed, secs(report.duration_ms));
    let _ = writeln!(
        xml,
        "<testsuites name=\"healwatch check\" tests=\"{n}\" failures=\"{failed}\" errors=\"0\" time=\"{total}\">"
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"healwatch check\" tests=\"{n}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\" time=\"{total}\" timestamp=\"{stamp}\">"
    );
    for t in &report.targets {
        let time = secs(t.time_to_healthy_ms.unwrap_or(report.duration_ms));
        let name = escape(&t.name);
        match &t.error {
            None => {
                let _ = writeln!(xml, "    <testcase name=\"{name}\" classname=\"healwatch.check\" time=\"{time}\"/>");
            }
            Some(error) => {
                let _ = writeln!(xml, "    <testcase name=\"{name}\" classname=\"healwatch.check\" time=\"{time}\">");
                let _ = writeln!(
                    xml,
                    "      <failure type=\"unhealthy\" message=\"{}\">{} ({}) was not healthy within {} ms after {} checks: {}</failure>",
                    escape(error),
                    name,
                    escape(&t.url),
                    report.wait_ms,
                    t.checks,
                    escape(error)
                );
                let _ = writeln!(xml, "    </testcase>");
            }
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// Text for XML content and attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 has no place for other control characters.
            c if c.is_control() && !matches!(c, '\n' | '\t') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// One `::error` workflow command per target that did not become healthy.
fn github_annotations(report: &CheckReport) -> String {
    let data = |s: &str| s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
    let property = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
    let mut out = String::new();
    for t in report.targets.iter().filter(|t| t.outcome != "healthy") {
        let _ = writeln!(
            out,
            "::error title={}::{}",
            property(&format!("healwatch: {} not healthy", t.name)),
            data(&format!("{} ({}): {}", t.name, t.url, t.error.as_deref().unwrap_or("unhealthy")))
        );
    }
    out
}

/// A Markdown summary for the job's page.
fn github_summary(report: &CheckReport) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut md = format!(
        "### healwatch check: {} of {} healthy\n\n| target | outcome | time to healthy | error |\n| --- | --- | --- | --- |\n",
        report.summary.healthy, report.summary.targets
    );
    for t in &report.targets {
        let icon = if t.outcome == "healthy" { "✅" } else { "❌" };
        let time = t.time_to_healthy_ms.map_or_else(|| "never".to_string(), |ms| format!("{ms} ms"));
        let _ = writeln!(
            md,
            "| {} | {icon} {} | {time} | {} |",
            cell(&t.name),
            t.outcome,
            cell(t.error.as_deref().unwrap_or(""))
        );
    }
    md.push('\n');
    md
}

fn append(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = crate::files::open_append(path)?;
    file.write_all(bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> CheckReport {
        let target = |name: &str, ms: Option<u64>, error: Option<&str>| CheckTarget {
            name: name.to_string(),
            container: name.to_string(),
            url: "http://127.0.0.1:1/health".to_string(),
            outcome: if error.is_none() { "healthy" } else { "unhealthy" },
            time_to_healthy_ms: ms,
            http_status: None,
            checks: 3,
            error: error.map(String::from),
        };
        CheckReport {
            time: std::time::UNIX_EPOCH + Duration::from_secs(1_795_000_000),
            version: "0",
            duration_ms: 10_000,
            wait_ms: 10_000,
            stable: 1,
            summary: CheckSummary { targets: 2, healthy: 1, failed: 1 },
            slowest: None,
            warnings: Vec::new(),
            targets: vec![target("web", Some(1200), None), target("db<1>", None, Some("connection refused: a, b\nc"))],
        }
    }

    #[test]
    fn junit_names_every_target_and_escapes() {
        let xml = junit(&report());
        assert!(xml.contains("<testcase name=\"web\" classname=\"healwatch.check\" time=\"1.200\"/>"), "{xml}");
        assert!(xml.contains("name=\"db&lt;1&gt;\"") && xml.contains("<failure type=\"unhealthy\""), "{xml}");
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
    }

    #[test]
    fn github_commands_are_escaped() {
        let text = github_annotations(&report());
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.starts_with("::error title=healwatch%3A db<1> not healthy::"), "{text}");
        assert!(text.contains("a, b%0Ac"), "{text}");
        let md = github_summary(&report());
        assert!(md.contains("| web | ✅ healthy | 1200 ms |") && md.contains("❌ unhealthy | never |"), "{md}");
    }
}
