//! `healwatch check`: the CI smoke check. After `docker compose up -d`, wait until every
//! target (URL or Docker HEALTHCHECK; configured, `-t` or discovered) is healthy or the
//! deadline passes. It restarts nothing, writes no state and takes no lock; it reports
//! one JSON line, and optionally JUnit XML, GitHub annotations and a step summary.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Context;

use crate::check::{Check, Failure, HttpProbe, Probe};
use crate::cli::CheckArgs;
use crate::clock::{Clock, RealClock};
use crate::config::{self, HealthCheck, Target};
use crate::docker::{Containers, DockerCli};
use crate::exit::{Exit, Stop};
use crate::model::{millis, one_line};
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
    /// Its container exited, died or is being restarted after an exit: waiting longer
    /// cannot make it healthy, so it is not looked at again.
    down: bool,
}

/// Waits for every target to become healthy, or `--wait` to pass.
pub(crate) fn run(args: &CheckArgs) -> Result<Exit, Stop> {
    let started_at = crate::clock::now().map_err(Stop::Usage)?;
    // Times are from here, the start of the check, listing included.
    let clock = RealClock::starting_at(started_at);
    if args.unused.watch.is_some() {
        return Err(Stop::Usage(anyhow::anyhow!("check waits with --wait; --watch is for run")));
    }
    let config = config::load_named(&args.run_args()).map_err(Stop::Usage)?;
    let needs_docker = config.needs_listing()
        || config.targets.iter().any(|t| matches!(t.health, HealthCheck::Exec(_) | HealthCheck::Logs));
    // Without a docker CLI, URL targets are still checked; with one, a failing target's
    // container is asked whether it exited.
    let docker = match DockerCli::locate(config.docker.as_deref()) {
        Ok(cli) => Some(cli),
        Err(e) if needs_docker => return Err(Stop::Usage(e)),
        Err(_) => None,
    };
    let mut warnings = Vec::new();
    let ignored = args.ignored();
    if !ignored.is_empty() {
        warnings.push(format!(
            "check ignores {}: it restarts nothing, remembers nothing, and prints one JSON line (those are for run)",
            ignored.join(", ")
        ));
    }
    let mut roster = config.targets.clone();
    if let (Some(cli), true) = (&docker, config.needs_listing()) {
        // The same read-only listing a pass makes (ps and inspect per engine).
        let listed;
        (roster, listed) = crate::run::roster(&config, cli, &|_| None);
        warnings.extend(listed.engines.into_values().filter_map(|l| l.error));
        warnings.extend(listed.invalid.into_iter().filter_map(|r| r.error));
    }
    let probe = HttpProbe::new(config.proxy.as_ref(), config.ca_file.as_ref());
    let docker_ref = docker.as_ref().map(|d| d as &dyn Containers);
    let progress_line = std::io::stderr().is_terminal();
    let look = |target: &Target, left: Duration| check_once(&probe, docker_ref, target, left);
    let progress = wait_until_healthy(&roster, &clock, args.wait, args.stable, config.concurrency, &look, |p| {
        if progress_line {
            show_progress(&roster, p, clock.elapsed());
        }
    });
    if progress_line {
        // The live line disappears: what stays is the report.
        let _ = write!(std::io::stderr(), "\r\x1b[K");
    }
    let report = build(&roster, &progress, started_at, clock.elapsed(), args, warnings);
    let out = write_reports(&report, args)?;
    crate::output::print(&out)?;
    Ok(Exit::for_health(report.summary.failed == 0))
}

/// The check's report as its line on stdout (with GitHub's annotations in a workflow),
/// and its other forms: the job's step summary, the JUnit file.
fn write_reports(report: &CheckReport, args: &CheckArgs) -> Result<Vec<u8>, Stop> {
    let mut out = json_line(report);
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        out.extend(github::annotations(report).into_bytes());
        if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
            append(Path::new(&path), github::summary(report).as_bytes())
                .with_context(|| "appending to $GITHUB_STEP_SUMMARY")
                .map_err(Stop::Io)?;
        }
    }
    if let Some(path) = &args.junit {
        crate::files::atomic::write(path, junit::junit(report).as_bytes()).context("--junit").map_err(Stop::Io)?;
    }
    Ok(out)
}

/// Looks at every target not yet healthy, a round every `ROUND`, until each has been
/// healthy `stable` times in a row, or is down for good (the look's `true`), or `wait`
/// has passed since `clock` started (times are from its start); each look's timeout is
/// cut to what is left. `after_round` sees the progress after each round.
fn wait_until_healthy(
    targets: &[Target],
    clock: &dyn Clock,
    wait: Duration,
    stable: u32,
    concurrency: usize,
    look: &(dyn Fn(&Target, Duration) -> (Check, bool) + Sync),
    mut after_round: impl FnMut(&[Progress]),
) -> Vec<Progress> {
    let waited = || clock.elapsed();
    let mut progress = vec![Progress::default(); targets.len()];
    loop {
        let round_start = waited();
        let pending: Vec<usize> =
            (0..targets.len()).filter(|&i| progress[i].healthy_at.is_none() && !progress[i].down).collect();
        if pending.is_empty() || round_start >= wait || clock.interrupted() {
            break;
        }
        let left = wait.saturating_sub(round_start);
        let checks = parallel_map(&pending, concurrency, |&i| look(&targets[i], left)).0;
        for (&i, (check, down)) in pending.iter().zip(checks) {
            let p = &mut progress[i];
            p.checks += 1;
            p.down = down;
            if check.healthy() {
                p.streak += 1;
                p.streak_started.get_or_insert(round_start);
                if p.streak >= stable {
                    p.healthy_at = p.streak_started;
                }
            } else {
                p.streak = 0;
                p.streak_started = None;
            }
            p.last = Some(check);
        }
        after_round(&progress);
        clock.sleep(ROUND.min(wait.saturating_sub(waited())));
    }
    progress
}

/// One look at a target, and whether it is down for good: a failed look asks Docker
/// whether the container exited, died or is restarting after an exit, and says so as
/// compose does ("container web exited (1)") instead of waiting out `--wait`.
fn check_once(probe: &dyn Probe, docker: Option<&dyn Containers>, target: &Target, left: Duration) -> (Check, bool) {
    let timeout = target.settings.timeout.min(left).max(Duration::from_millis(50));
    let check = crate::check::attempt(probe, docker, target, timeout);
    if check.healthy() {
        return (check, false);
    }
    let down = docker.and_then(|docker| {
        target.container_refs().into_iter().find_map(|c| {
            let how = docker.state(&c).ok()?.down()?;
            Some(format!("container {} {how}", c.name))
        })
    });
    match down {
        Some(why) => (Check::failed(Failure::Container, &why, check.latency), true),
        None => (check, false),
    }
}

fn build(
    roster: &[Target],
    progress: &[Progress],
    time: SystemTime,
    duration: Duration,
    args: &CheckArgs,
    warnings: Vec<String>,
) -> CheckReport {
    let targets: Vec<CheckTarget> = roster
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
        config: args.targets.config.as_ref().map(|p| p.display().to_string()),
        summary: CheckSummary { targets: targets.len(), healthy: targets.len() - failed, failed },
        slowest,
        warnings,
        targets,
    }
}

/// "4/6 healthy, waiting for db, web: 12 s", over itself on a terminal.
fn show_progress(roster: &[Target], progress: &[Progress], elapsed: Duration) {
    let healthy = progress.iter().filter(|p| p.healthy_at.is_some()).count();
    let waiting: Vec<&str> =
        roster.iter().zip(progress).filter(|(_, p)| p.healthy_at.is_none()).map(|(t, _)| t.name.as_str()).collect();
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::clock::FakeClock;
    use crate::model::HealthUrl;

    fn targets(names: &[&str]) -> Vec<Target> {
        let url = HealthUrl::parse("http://127.0.0.1:9/health").unwrap();
        names.iter().map(|n| Target::http(n, n, url.clone())).collect()
    }

    /// Looks whose answer is scripted per target by the clock: healthy from `up_at`
    /// (never for `None`). Each records the timeout it was given.
    struct Script<'c> {
        clock: &'c FakeClock,
        up_at: Vec<(&'static str, Option<Duration>)>,
        timeouts: Mutex<Vec<Duration>>,
    }

    impl Script<'_> {
        fn look(&self, target: &Target, left: Duration) -> (Check, bool) {
            self.timeouts.lock().unwrap().push(left);
            let now = self.clock.elapsed();
            let up = self.up_at.iter().find(|(n, _)| *n == target.name).and_then(|(_, at)| *at);
            if up.is_some_and(|at| now >= at) {
                (Check::passed(Some(200), Duration::ZERO), false)
            } else {
                (Check::failed(Failure::Status, "status 503 not in 200-399", Duration::ZERO), false)
            }
        }
    }

    fn clock() -> FakeClock {
        FakeClock::at(UNIX_EPOCH + Duration::from_secs(1_795_000_000))
    }

    #[test]
    fn each_target_counts_from_the_round_it_first_answered() {
        let clock = clock();
        let script = Script {
            clock: &clock,
            up_at: vec![("up", Some(Duration::ZERO)), ("late", Some(Duration::from_millis(1500))), ("never", None)],
            timeouts: Mutex::new(Vec::new()),
        };
        let look = |t: &Target, left: Duration| script.look(t, left);
        let wait = Duration::from_secs(4);
        let progress = wait_until_healthy(&targets(&["up", "late", "never"]), &clock, wait, 1, 4, &look, |_| {});
        assert_eq!(progress[0].healthy_at, Some(Duration::ZERO));
        assert_eq!(progress[0].checks, 1, "a healthy target is not looked at again");
        // Rounds every 250 ms: the first at or after 1.5 s.
        assert_eq!(progress[1].healthy_at, Some(Duration::from_millis(1500)));
        assert_eq!(progress[2].healthy_at, None);
        assert_eq!(progress[2].checks, 16, "a round every 250 ms for 4 s");
        assert!(clock.elapsed() <= wait, "ended by --wait: {:?}", clock.elapsed());
        // Every look's timeout was cut to what was left of the wait.
        let timeouts = script.timeouts.lock().unwrap();
        assert!(timeouts.iter().all(|t| *t <= wait) && timeouts.last() <= Some(&Duration::from_millis(250)));
    }

    #[test]
    fn stable_counts_from_the_first_of_the_healthy_streak() {
        let clock = clock();
        let script = Script {
            clock: &clock,
            up_at: vec![("web", Some(Duration::from_millis(500)))],
            timeouts: Mutex::new(Vec::new()),
        };
        let look = |t: &Target, left: Duration| script.look(t, left);
        let mut rounds = 0;
        let progress =
            wait_until_healthy(&targets(&["web"]), &clock, Duration::from_secs(10), 3, 1, &look, |_| rounds += 1);
        // Healthy at 500, 750 and 1000 ms: counted from 500 ms, decided in the third round.
        assert_eq!(progress[0].healthy_at, Some(Duration::from_millis(500)));
        assert_eq!((progress[0].checks, rounds), (5, 5));
    }

    #[test]
    fn a_target_down_for_good_ends_its_wait_at_once() {
        let clock = clock();
        let late = Script {
            clock: &clock,
            up_at: vec![("late", Some(Duration::from_secs(2)))],
            timeouts: Mutex::new(Vec::new()),
        };
        let look = |t: &Target, left: Duration| {
            if t.name == "crashed" {
                (Check::failed(Failure::Container, "container crashed exited (1)", Duration::ZERO), true)
            } else {
                late.look(t, left)
            }
        };
        let progress =
            wait_until_healthy(&targets(&["crashed", "late"]), &clock, Duration::from_secs(60), 1, 4, &look, |_| {});
        assert!(progress[0].down && progress[0].healthy_at.is_none());
        assert_eq!(progress[0].checks, 1, "not looked at again once down");
        // The others are still waited for, and the wait ends when they are decided.
        assert_eq!(progress[1].healthy_at, Some(Duration::from_secs(2)));
        assert!(clock.elapsed() < Duration::from_secs(3), "{:?}", clock.elapsed());
    }
}
