//! One pass over the targets: check (with retries), decide, restart, wait for recovery.
//! Targets run in parallel on at most `concurrency` threads; a container shared by
//! several targets is restarted once per pass, never twice at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::config::{Config, Target};
use crate::docker::{CommandOutcome, Containers};
use crate::policy::{self, Decision};
use crate::probe::{Check, Probe};
use crate::report::{Outcome, RestartReport, TargetReport};

/// First pause between recovery polls; it doubles up to `MAX_POLL_INTERVAL`.
const FIRST_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Longest pause between recovery polls.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Checks and heals every target; reports come back in config order.
/// `docker` may be `None` only for a dry run.
pub fn run_pass(config: &Config, probe: &dyn Probe, docker: Option<&dyn Containers>) -> Vec<TargetReport> {
    let restarts = RestartOnce::default();
    parallel_map(&config.targets, config.concurrency, |target| {
        heal_target(target, config.dry_run, probe, docker, &restarts)
    })
}

fn heal_target(
    target: &Target,
    dry_run: bool,
    probe: &dyn Probe,
    docker: Option<&dyn Containers>,
    restarts: &RestartOnce,
) -> TargetReport {
    let (check, attempts) = check_with_retries(probe, target);
    let mut report = TargetReport {
        name: target.name.clone(),
        container: target.container.clone(),
        url: target.url.display.clone(),
        outcome: Outcome::Healthy,
        http_status: check.http_status,
        latency_ms: check.latency.as_millis() as u64,
        attempts,
        error: check.error.clone(),
        restart: None,
        recovered: None,
        recovery_ms: None,
        recovery_error: None,
    };
    let docker = match (policy::decide(&check, dry_run), docker) {
        (Decision::Leave, _) => return report,
        (Decision::Report, _) | (Decision::Restart, None) => {
            report.outcome = Outcome::Unhealthy;
            return report;
        }
        (Decision::Restart, Some(docker)) => docker,
    };
    let restart =
        restarts.run(&target.container, || restart_container(docker, &target.container, target.restart_timeout));
    report.restart = Some(RestartReport {
        exit_code: restart.exit_code,
        duration_ms: restart.duration.as_millis() as u64,
        stderr: restart.stderr.clone(),
    });
    if !restart.success() {
        report.outcome = Outcome::RestartFailed;
        return report;
    }
    report.outcome = Outcome::Restarted;
    report.recovered = Some(None);
    if !target.recovery_timeout.is_zero() {
        let recovery = await_recovery(probe, target);
        report.recovered = Some(Some(recovery.error.is_none()));
        report.recovery_ms = recovery.error.is_none().then_some(recovery.elapsed.as_millis() as u64);
        report.recovery_error = recovery.error;
    }
    report
}

/// One attempt plus up to `retries` more, `retry_delay` apart, stopping at the first healthy one.
pub fn check_with_retries(probe: &dyn Probe, target: &Target) -> (Check, u32) {
    let mut attempts = 1;
    let mut check = probe.check(target, target.timeout);
    while !check.healthy() && attempts <= target.retries {
        std::thread::sleep(target.retry_delay);
        attempts += 1;
        check = probe.check(target, target.timeout);
    }
    (check, attempts)
}

/// `docker restart`, after `docker unpause` when the container is paused: a paused process
/// cannot receive SIGTERM, so a restart would wait out the whole stop timeout.
fn restart_container(docker: &dyn Containers, container: &str, stop_timeout: Duration) -> CommandOutcome {
    let started = Instant::now();
    if docker.status(container).is_ok_and(|s| s == "paused") {
        let unpause = docker.unpause(container);
        if !unpause.success() {
            return CommandOutcome { duration: started.elapsed(), ..unpause };
        }
    }
    let restart = docker.restart(container, stop_timeout);
    CommandOutcome { duration: started.elapsed(), ..restart }
}

struct Recovery {
    elapsed: Duration,
    /// `None` once healthy; else the last check's reason.
    error: Option<String>,
}

/// Polls until the target is healthy or its recovery timeout has passed. Each attempt's
/// HTTP timeout is cut to what is left, so the wait never overruns.
fn await_recovery(probe: &dyn Probe, target: &Target) -> Recovery {
    let start = Instant::now();
    let mut interval = FIRST_POLL_INTERVAL;
    loop {
        let left = target.recovery_timeout.saturating_sub(start.elapsed());
        let check = probe.check(target, target.timeout.min(left).max(Duration::from_millis(1)));
        if check.healthy() {
            return Recovery { elapsed: start.elapsed(), error: None };
        }
        let left = target.recovery_timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Recovery { elapsed: start.elapsed(), error: check.error };
        }
        std::thread::sleep(interval.min(left));
        interval = (interval * 2).min(MAX_POLL_INTERVAL);
        // No attempt squeezed into the last instant: it would only say "timeout after 1ms".
        if target.recovery_timeout <= start.elapsed() {
            return Recovery { elapsed: start.elapsed(), error: check.error };
        }
    }
}

/// Runs each container's restart at most once per pass; later callers for the same
/// container wait for and share the first one's result.
#[derive(Default)]
struct RestartOnce {
    by_container: Mutex<HashMap<String, Arc<OnceLock<CommandOutcome>>>>,
}

impl RestartOnce {
    fn run(&self, container: &str, restart: impl FnOnce() -> CommandOutcome) -> CommandOutcome {
        let cell = {
            let mut map = self.by_container.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(map.entry(container.to_string()).or_default())
        };
        cell.get_or_init(restart).clone()
    }
}

/// Maps `f` over `items` on at most `workers` threads, keeping the input order.
pub fn parallel_map<T: Sync, R: Send>(items: &[T], workers: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let workers = workers.clamp(1, items.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let value = f(item);
                    *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|cell| cell.into_inner().unwrap_or_else(|e| e.into_inner()).expect("every index is filled by a worker"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StatusSet;
    use crate::redact::HealthUrl;
    use std::sync::atomic::AtomicU32;

    /// A probe that fails its first `failures` checks, then passes.
    struct FlakyProbe {
        failures: u32,
        calls: AtomicU32,
    }

    impl Probe for FlakyProbe {
        fn check(&self, _: &Target, _: Duration) -> Check {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            let error = (n < self.failures).then(|| "status 503 not in 200-399".to_string());
            Check {
                http_status: Some(if error.is_some() { 503 } else { 200 }),
                latency: Duration::from_millis(1),
                error,
            }
        }
    }

    /// Records docker calls; `status` is what inspect says, `restart_code` what restart exits with.
    struct FakeDocker {
        status: &'static str,
        restart_code: i32,
        calls: Mutex<Vec<String>>,
    }

    impl FakeDocker {
        fn new(status: &'static str, restart_code: i32) -> Self {
            Self { status, restart_code, calls: Mutex::new(Vec::new()) }
        }
        fn outcome(code: i32) -> CommandOutcome {
            CommandOutcome {
                exit_code: Some(code),
                duration: Duration::ZERO,
                stdout: String::new(),
                stderr: if code == 0 { String::new() } else { "Error: No such container".into() },
            }
        }
        fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl Containers for FakeDocker {
        fn status(&self, c: &str) -> Result<String, CommandOutcome> {
            self.calls.lock().unwrap().push(format!("inspect {c}"));
            Ok(self.status.to_string())
        }
        fn unpause(&self, c: &str) -> CommandOutcome {
            self.calls.lock().unwrap().push(format!("unpause {c}"));
            Self::outcome(0)
        }
        fn restart(&self, c: &str, t: Duration) -> CommandOutcome {
            self.calls.lock().unwrap().push(format!("restart {c} {}", t.as_secs()));
            Self::outcome(self.restart_code)
        }
    }

    fn target(name: &str, container: &str) -> Target {
        Target {
            name: name.into(),
            container: container.into(),
            url: HealthUrl::parse("http://127.0.0.1:9/health").unwrap(),
            expect_status: StatusSet::parse("200-399").unwrap(),
            expect_body: None,
            headers: Vec::new(),
            timeout: Duration::from_millis(50),
            retries: 2,
            retry_delay: Duration::ZERO,
            restart_timeout: Duration::from_secs(7),
            recovery_timeout: Duration::from_secs(5),
        }
    }

    fn config(targets: Vec<Target>, dry_run: bool) -> Config {
        Config { targets, dry_run, concurrency: 4, proxy: None, log: None, quiet: false, docker: None, lock: None }
    }

    #[test]
    fn a_blip_within_the_retries_is_healthy() {
        let probe = FlakyProbe { failures: 2, calls: AtomicU32::new(0) };
        let docker = FakeDocker::new("running", 0);
        let reports = run_pass(&config(vec![target("app", "app")], false), &probe, Some(&docker));
        assert_eq!((reports[0].outcome, reports[0].attempts), (Outcome::Healthy, 3));
        assert!(docker.calls().is_empty());
    }

    #[test]
    fn failing_target_is_restarted_and_recovers() {
        let probe = FlakyProbe { failures: 3, calls: AtomicU32::new(0) };
        let docker = FakeDocker::new("running", 0);
        let r = &run_pass(&config(vec![target("app", "app")], false), &probe, Some(&docker))[0];
        assert_eq!((r.outcome, r.recovered, r.http_status), (Outcome::Restarted, Some(Some(true)), Some(503)));
        assert_eq!(docker.calls(), ["inspect app", "restart app 7"]);
    }

    #[test]
    fn paused_container_is_unpaused_first() {
        let probe = FlakyProbe { failures: 3, calls: AtomicU32::new(0) };
        let docker = FakeDocker::new("paused", 0);
        run_pass(&config(vec![target("app", "app")], false), &probe, Some(&docker));
        assert_eq!(docker.calls(), ["inspect app", "unpause app", "restart app 7"]);
    }

    #[test]
    fn dry_run_touches_nothing() {
        let probe = FlakyProbe { failures: 99, calls: AtomicU32::new(0) };
        let docker = FakeDocker::new("running", 0);
        let r = &run_pass(&config(vec![target("app", "app")], true), &probe, Some(&docker))[0];
        assert_eq!(r.outcome, Outcome::Unhealthy);
        assert!(docker.calls().is_empty());
    }

    #[test]
    fn failed_restart_is_reported_with_stderr() {
        let probe = FlakyProbe { failures: 99, calls: AtomicU32::new(0) };
        let docker = FakeDocker::new("running", 1);
        let r = &run_pass(&config(vec![target("app", "app")], false), &probe, Some(&docker))[0];
        assert_eq!(r.outcome, Outcome::RestartFailed);
        assert_eq!(r.restart.as_ref().unwrap().stderr, "Error: No such container");
        assert_eq!(r.recovered, None);
    }

    #[test]
    fn never_recovering_target_waits_its_recovery_timeout() {
        let probe = FlakyProbe { failures: u32::MAX, calls: AtomicU32::new(0) };
        let docker = FakeDocker::new("running", 0);
        let mut t = target("app", "app");
        t.recovery_timeout = Duration::from_millis(300);
        let r = &run_pass(&config(vec![t], false), &probe, Some(&docker))[0];
        assert_eq!(r.recovered, Some(Some(false)));
        assert_eq!(r.recovery_error.as_deref(), Some("status 503 not in 200-399"));
    }

    #[test]
    fn zero_recovery_timeout_does_not_wait() {
        let probe = FlakyProbe { failures: 3, calls: AtomicU32::new(0) };
        let docker = FakeDocker::new("running", 0);
        let mut t = target("app", "app");
        t.recovery_timeout = Duration::ZERO;
        let r = &run_pass(&config(vec![t], false), &probe, Some(&docker))[0];
        assert_eq!(r.recovered, Some(None));
        assert_eq!(probe.calls.load(Ordering::SeqCst), 3, "no recovery poll");
    }

    #[test]
    fn shared_container_is_restarted_once() {
        let probe = FlakyProbe { failures: u32::MAX, calls: AtomicU32::new(0) };
        let docker = FakeDocker::new("running", 0);
        let mut targets = vec![target("api", "app"), target("admin", "app")];
        for t in &mut targets {
            t.recovery_timeout = Duration::ZERO;
        }
        let reports = run_pass(&config(targets, false), &probe, Some(&docker));
        assert!(reports.iter().all(|r| r.outcome == Outcome::Restarted));
        assert_eq!(docker.calls().iter().filter(|c| c.starts_with("restart")).count(), 1);
    }

    #[test]
    fn parallel_map_keeps_order() {
        let items: Vec<u32> = (0..100).collect();
        assert_eq!(parallel_map(&items, 7, |i| i * 2), items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert!(parallel_map(&Vec::<u32>::new(), 3, |i| *i).is_empty());
    }
}
