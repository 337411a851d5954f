//! One pass over the targets: check (with retries), decide, restart, wait for recovery.
//! Targets run in parallel on at most `concurrency` threads; a container shared by
//! several targets is restarted once per pass, never twice at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use crate::config::{Config, Settings, Target};
use crate::docker::{CommandOutcome, Containers};
use crate::policy::{self, Verdict};
use crate::probe::{Check, Probe};
use crate::report::{Outcome, RestartReport, TargetReport, timestamp};
use crate::state::State;

/// First pause between recovery polls; it doubles up to `MAX_POLL_INTERVAL`.
const FIRST_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Longest pause between recovery polls.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// What a pass works with besides the targets: the two I/O seams, memory and the time.
pub struct Pass<'a> {
    /// The HTTP checker.
    pub probe: &'a dyn Probe,
    /// The docker CLI; `None` only for a dry run.
    pub docker: Option<&'a dyn Containers>,
    /// What earlier passes left.
    pub memory: &'a State,
    /// The pass's start, for every judgement and timestamp.
    pub now: SystemTime,
}

/// Checks, judges and heals every target; reports come back in config order.
pub fn run_pass(config: &Config, pass: &Pass) -> Vec<TargetReport> {
    let restarts = RestartOnce::default();
    parallel_map(&config.targets, config.concurrency, |target| heal_target(target, config.dry_run, pass, &restarts))
}

fn heal_target(target: &Target, dry_run: bool, pass: &Pass, restarts: &RestartOnce) -> TargetReport {
    let (check, attempts) = check_with_retries(pass.probe, target);
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
        consecutive_failures: 0,
        restarts_in_window: 0,
        restarts_total: 0,
        next_restart_at: None,
        paused_until: None,
    };
    let memory = pass.memory.targets.get(&target.name).cloned().unwrap_or_default();
    let docker = match (policy::judge(check.healthy(), &target.settings, &memory, pass.now, dry_run), pass.docker) {
        (Verdict::Leave, _) => return report,
        (Verdict::Paused { until }, _) => {
            report.outcome = Outcome::Paused;
            report.paused_until = Some(timestamp(until));
            return report;
        }
        (Verdict::Failing { .. }, _) => {
            report.outcome = Outcome::Failing;
            return report;
        }
        (Verdict::GaveUp { next_restart_at }, _) => {
            report.outcome = Outcome::GaveUp;
            report.next_restart_at = next_restart_at.map(timestamp);
            return report;
        }
        (Verdict::Report, _) | (Verdict::Restart, None) => {
            report.outcome = Outcome::Unhealthy;
            return report;
        }
        (Verdict::Restart, Some(docker)) => docker,
    };
    let settings = &target.settings;
    let restart = restarts.run(&target.container, || restart_container(docker, &target.container, settings, pass.now));
    let restart = match restart {
        Restart::Skipped => {
            report.outcome = Outcome::Starting;
            return report;
        }
        Restart::Ran(outcome) => outcome,
    };
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
    if !settings.recovery_timeout.is_zero() {
        let recovery = await_recovery(pass.probe, target);
        report.recovered = Some(Some(recovery.error.is_none()));
        report.recovery_ms = recovery.error.is_none().then_some(recovery.elapsed.as_millis() as u64);
        report.recovery_error = recovery.error;
    }
    report
}

/// One attempt plus up to `retries` more, `retry_delay` apart, stopping at the first healthy one.
pub fn check_with_retries(probe: &dyn Probe, target: &Target) -> (Check, u32) {
    let mut attempts = 1;
    let settings = &target.settings;
    let mut check = probe.check(target, settings.timeout);
    while !check.healthy() && attempts <= settings.retries {
        std::thread::sleep(settings.retry_delay);
        attempts += 1;
        check = probe.check(target, settings.timeout);
    }
    (check, attempts)
}

/// A restart, or why none ran.
#[derive(Debug, Clone)]
enum Restart {
    /// The container is younger than its start period: left alone.
    Skipped,
    /// The docker commands ran (unpause first when paused, then restart).
    Ran(CommandOutcome),
}

/// `docker restart`, after `docker unpause` when the container is paused: a paused process
/// cannot receive SIGTERM, so a restart would wait out the whole stop timeout. A container
/// still in its start period is not restarted. An inspect that fails does not stop the
/// restart: docker's own error from `restart` is the clearest report.
fn restart_container(docker: &dyn Containers, container: &str, settings: &Settings, now: SystemTime) -> Restart {
    let started = Instant::now();
    if let Ok(state) = docker.state(container) {
        if policy::in_start_period(state.started_at, now, settings.start_period) {
            return Restart::Skipped;
        }
        if state.status == "paused" {
            let unpause = docker.unpause(container);
            if !unpause.success() {
                return Restart::Ran(CommandOutcome { duration: started.elapsed(), ..unpause });
            }
        }
    }
    let restart = docker.restart(container, settings.restart_timeout);
    Restart::Ran(CommandOutcome { duration: started.elapsed(), ..restart })
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
        let left = target.settings.recovery_timeout.saturating_sub(start.elapsed());
        let check = probe.check(target, target.settings.timeout.min(left).max(Duration::from_millis(1)));
        if check.healthy() {
            return Recovery { elapsed: start.elapsed(), error: None };
        }
        let left = target.settings.recovery_timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Recovery { elapsed: start.elapsed(), error: check.error };
        }
        std::thread::sleep(interval.min(left));
        interval = (interval * 2).min(MAX_POLL_INTERVAL);
        // No attempt squeezed into the last instant: it would only say "timeout after 1ms".
        if target.settings.recovery_timeout <= start.elapsed() {
            return Recovery { elapsed: start.elapsed(), error: check.error };
        }
    }
}

/// Runs each container's restart at most once per pass; later callers for the same
/// container wait for and share the first one's result.
#[derive(Default)]
struct RestartOnce {
    by_container: Mutex<HashMap<String, Arc<OnceLock<Restart>>>>,
}

impl RestartOnce {
    fn run(&self, container: &str, restart: impl FnOnce() -> Restart) -> Restart {
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
    use crate::docker::ContainerState;
    use crate::redact::HealthUrl;
    use crate::state::TargetState;
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
        fn state(&self, c: &str) -> Result<ContainerState, CommandOutcome> {
            self.calls.lock().unwrap().push(format!("inspect {c}"));
            Ok(ContainerState { status: self.status.to_string(), started_at: Some(now() - Duration::from_secs(30)) })
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
            settings: Settings {
                timeout: Duration::from_millis(50),
                retries: 2,
                retry_delay: Duration::ZERO,
                restart_timeout: Duration::from_secs(7),
                recovery_timeout: Duration::from_secs(5),
                ..crate::config::BUILTIN
            },
        }
    }

    fn config(targets: Vec<Target>, dry_run: bool) -> Config {
        Config {
            targets,
            dry_run,
            concurrency: 4,
            proxy: None,
            log: None,
            quiet: false,
            docker: None,
            lock: None,
            state: None,
            metrics: None,
            notify_url: None,
            notify_on: Vec::new(),
            ping_url: None,
        }
    }

    /// A fixed "now" for the judgements.
    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000)
    }

    fn pass_with(config: &Config, probe: &dyn Probe, docker: &FakeDocker, memory: &State) -> Vec<TargetReport> {
        run_pass(config, &Pass { probe, docker: Some(docker), memory, now: now() })
    }

    fn pass(config: &Config, probe: &dyn Probe, docker: &FakeDocker) -> Vec<TargetReport> {
        pass_with(config, probe, docker, &State::default())
    }

    #[test]
    fn a_blip_within_the_retries_is_healthy() {
        let probe = FlakyProbe { failures: 2, calls: AtomicU32::new(0) };
        let docker = FakeDocker::new("running", 0);
        let reports = pass(&config(vec![target("app", "app")], false), &probe, &docker);
        assert_eq!((reports[0].outcome, reports[0].attempts), (Outcome::Healthy, 3));
        assert!(docker.calls().is_empty());
    }

    #[test]
    fn failing_target_is_restarted_and_recovers() {
        let probe = FlakyProbe { failures: 3, calls: AtomicU32::new(0) };
        let docker = FakeDocker::new("running", 0);
        let r = &pass(&config(vec![target("app", "app")], false), &probe, &docker)[0];
        assert_eq!((r.outcome, r.recovered, r.http_status), (Outcome::Restarted, Some(Some(true)), Some(503)));
        assert_eq!(docker.calls(), ["inspect app", "restart app 7"]);
    }

    #[test]
    fn paused_container_is_unpaused_first() {
        let probe = FlakyProbe { failures: 3, calls: AtomicU32::new(0) };
        let docker = FakeDocker::new("paused", 0);
        pass(&config(vec![target("app", "app")], false), &probe, &docker);
        assert_eq!(docker.calls(), ["inspect app", "unpause app", "restart app 7"]);
    }

    #[test]
    fn dry_run_touches_nothing() {
        let probe = FlakyProbe { failures: 99, calls: AtomicU32::new(0) };
        let docker = FakeDocker::new("running", 0);
        let r = &pass(&config(vec![target("app", "app")], true), &probe, &docker)[0];
        assert_eq!(r.outcome, Outcome::Unhealthy);
        assert!(docker.calls().is_empty());
    }

    #[test]
    fn failed_restart_is_reported_with_stderr() {
        let probe = FlakyProbe { failures: 99, calls: AtomicU32::new(0) };
        let docker = FakeDocker::new("running", 1);
        let r = &pass(&config(vec![target("app", "app")], false), &probe, &docker)[0];
        assert_eq!(r.outcome, Outcome::RestartFailed);
        assert_eq!(r.restart.as_ref().unwrap().stderr, "Error: No such container");
        assert_eq!(r.recovered, None);
    }

    #[test]
    fn never_recovering_target_waits_its_recovery_timeout() {
        let probe = FlakyProbe { failures: u32::MAX, calls: AtomicU32::new(0) };
        let docker = FakeDocker::new("running", 0);
        let mut t = target("app", "app");
        t.settings.recovery_timeout = Duration::from_millis(300);
        let r = &pass(&config(vec![t], false), &probe, &docker)[0];
        assert_eq!(r.recovered, Some(Some(false)));
        assert_eq!(r.recovery_error.as_deref(), Some("status 503 not in 200-399"));
    }

    #[test]
    fn zero_recovery_timeout_does_not_wait() {
        let probe = FlakyProbe { failures: 3, calls: AtomicU32::new(0) };
        let docker = FakeDocker::new("running", 0);
        let mut t = target("app", "app");
        t.settings.recovery_timeout = Duration::ZERO;
        let r = &pass(&config(vec![t], false), &probe, &docker)[0];
        assert_eq!(r.recovered, Some(None));
        assert_eq!(probe.calls.load(Ordering::SeqCst), 3, "no recovery poll");
    }

    #[test]
    fn shared_container_is_restarted_once() {
        let probe = FlakyProbe { failures: u32::MAX, calls: AtomicU32::new(0) };
        let docker = FakeDocker::new("running", 0);
        let mut targets = vec![target("api", "app"), target("admin", "app")];
        for t in &mut targets {
            t.settings.recovery_timeout = Duration::ZERO;
        }
        let reports = pass(&config(targets, false), &probe, &docker);
        assert!(reports.iter().all(|r| r.outcome == Outcome::Restarted));
        assert_eq!(docker.calls().iter().filter(|c| c.starts_with("restart")).count(), 1);
    }

    #[test]
    fn start_period_spares_a_young_container() {
        let probe = FlakyProbe { failures: u32::MAX, calls: AtomicU32::new(0) };
        let docker = FakeDocker::new("running", 0);
        let mut t = target("app", "app");
        t.settings.start_period = Duration::from_secs(60);
        t.settings.recovery_timeout = Duration::ZERO;
        let r = &pass(&config(vec![t.clone()], false), &probe, &docker)[0];
        assert_eq!(r.outcome, Outcome::Starting);
        assert_eq!(docker.calls(), ["inspect app"], "no restart inside the start period");
        t.settings.start_period = Duration::from_secs(20);
        assert_eq!(pass(&config(vec![t], false), &probe, &docker)[0].outcome, Outcome::Restarted);
    }

    #[test]
    fn memory_drives_threshold_guard_and_pause() {
        let probe = FlakyProbe { failures: u32::MAX, calls: AtomicU32::new(0) };
        let docker = FakeDocker::new("running", 0);
        let mut t = target("app", "app");
        t.settings.retries = 0;
        t.settings.failure_threshold = 2;
        let remembered = |m: TargetState| State { version: 1, targets: [("app".to_string(), m)].into() };
        let cfg = config(vec![t], false);
        let first = pass_with(&cfg, &probe, &docker, &remembered(TargetState::default()));
        assert_eq!(first[0].outcome, Outcome::Failing);
        let stamp = |secs: u64| timestamp(now() - Duration::from_secs(secs));
        let crash_loop = TargetState {
            consecutive_failures: 9,
            recent_restarts: vec![stamp(300), stamp(200), stamp(100)],
            ..TargetState::default()
        };
        let gave_up = pass_with(&cfg, &probe, &docker, &remembered(crash_loop));
        assert_eq!(gave_up[0].outcome, Outcome::GaveUp);
        assert_eq!(
            gave_up[0].next_restart_at,
            Some(timestamp(now() - Duration::from_secs(300) + Duration::from_secs(1800)))
        );
        let paused = TargetState {
            consecutive_failures: 9,
            paused_until: Some(timestamp(now() + Duration::from_secs(60))),
            ..TargetState::default()
        };
        assert_eq!(pass_with(&cfg, &probe, &docker, &remembered(paused))[0].outcome, Outcome::Paused);
        assert!(docker.calls().is_empty(), "{:?}", docker.calls());
    }

    #[test]
    fn parallel_map_keeps_order() {
        let items: Vec<u32> = (0..100).collect();
        assert_eq!(parallel_map(&items, 7, |i| i * 2), items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert!(parallel_map(&Vec::<u32>::new(), 3, |i| *i).is_empty());
    }
}
