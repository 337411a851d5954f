//! The pass on fakes: a recording docker, scripted probes and the fake clock.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::SystemTime;

use super::*;
use crate::check::{Failure, no_answer};
use crate::clock::FakeClock;
use crate::config::{HealthCheck, HttpCheck};
use crate::docker::fake::FakeDocker;
use crate::memory::state::TargetState;
use crate::model::HealthUrl;
use crate::model::Recovery;
use crate::settings::Settings;

/// A probe that fails its first `failures` checks, then passes.
struct FlakyProbe {
    failures: u32,
    calls: AtomicU32,
}

impl Probe for FlakyProbe {
    fn check(&self, _: &Target, _: &HttpCheck, _: Duration) -> Check {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n < self.failures {
            let failed = Check::failed(Failure::Status, "status 503 not in 200-399", Duration::from_millis(1));
            return Check { http_status: Some(503), ..failed };
        }
        Check::passed(Some(200), Duration::from_millis(1))
    }
}

fn target(name: &str, container: &str) -> Target {
    let mut t = Target::http(name, container, HealthUrl::parse("http://127.0.0.1:9/health").unwrap());
    t.settings = Settings {
        timeout: Duration::from_millis(50),
        retries: 2,
        retry_delay: Duration::ZERO,
        restart_timeout: Duration::from_secs(7),
        recovery_timeout: Duration::from_secs(5),
        ..crate::settings::BUILTIN
    };
    t
}

fn config(targets: Vec<Target>, dry_run: bool) -> Config {
    Config { dry_run, concurrency: 4, ..Config::new(targets) }
}

/// A fixed "now" for the judgements.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000)
}

/// A pass with the fake docker for both actions and looks.
fn pass_full(
    config: &Config,
    probe: &dyn Probe,
    docker: &FakeDocker,
    memory: &State,
    clock: &FakeClock,
    hints: &Hints,
) -> Vec<TargetResult> {
    let early = Early { hints, ..Early::none() };
    run_pass(
        config,
        &config.targets,
        &Pass { probe, docker: Some(docker), inspector: Some(docker), memory, clock, early },
    )
    .0
}

/// An onlooker that takes HTTP and TCP recoveries over after `HANDS_BACK_AFTER` and
/// never looks on itself (as a watch with fewer threads than targets).
struct HandsBack;

/// When `HandsBack` takes a recovery over.
const HANDS_BACK_AFTER: Duration = Duration::from_secs(3);

impl Onlooker for HandsBack {
    fn begin(&self, _: usize, _: usize) {}
    fn keep(
        &self,
        _: &Target,
        first: Option<&Hint>,
        _: &dyn Clock,
        heal: &Heal,
        _: &dyn Fn(Duration) -> Check,
    ) -> TargetResult {
        heal(first, &|_| ())
    }
    fn disarm(&self) {}
    fn hand_back(&self, target: &Target) -> Option<Duration> {
        matches!(target.health, HealthCheck::Http(_) | HealthCheck::Tcp(_)).then_some(HANDS_BACK_AFTER)
    }
}

/// A pass that must be done `ends` from now on `clock`, on a fresh memory, `HandsBack`
/// looking on.
fn early_pass<'a>(probe: &'a dyn Probe, docker: &'a FakeDocker, clock: &'a FakeClock, ends: Duration) -> Pass<'a> {
    static FRESH: std::sync::LazyLock<State> = std::sync::LazyLock::new(State::default);
    Pass {
        probe,
        docker: Some(docker),
        inspector: Some(docker),
        memory: &FRESH,
        clock,
        early: Early { deadline: Some(ends), onlooker: Some(&HandsBack), ..Early::none() },
    }
}

fn pass_with(config: &Config, probe: &dyn Probe, docker: &FakeDocker, memory: &State) -> Vec<TargetResult> {
    pass_full(config, probe, docker, memory, &FakeClock::at(now()), &NO_HINTS)
}

/// One pass on a fresh memory with `clock`.
fn pass_on(config: &Config, probe: &dyn Probe, docker: &FakeDocker, clock: &FakeClock) -> Vec<TargetResult> {
    pass_full(config, probe, docker, &State::default(), clock, &NO_HINTS)
}

fn pass(config: &Config, probe: &dyn Probe, docker: &FakeDocker) -> Vec<TargetResult> {
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
    assert_eq!((r.outcome, r.recovery, r.http_status), (Outcome::Restarted, Recovery::Recovered, Some(503)));
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
fn a_call_a_proxy_refuses_is_reported_and_never_counts_as_a_restart() {
    let probe = FlakyProbe { failures: 99, calls: AtomicU32::new(0) };
    let mut exec = target("db", "db");
    exec.health = HealthCheck::Exec(vec!["pg_isready".to_string()]);
    let config = config(vec![target("app", "app"), exec], false);
    for status in ["running", "paused"] {
        let docker = FakeDocker::new(status, 0).with_orders_refused();
        let results = pass(&config, &probe, &docker);
        let app = &results[0];
        assert_eq!((app.outcome, app.action.is_none()), (Outcome::Unhealthy, true), "{status}: {app:?}");
        assert!(app.error.as_deref().is_some_and(|e| e.contains("refused") && e.contains("POST=1")), "{app:?}");
        let remembered =
            policy::remember(&State::default(), &config.targets, &results, now(), Duration::from_secs(3600));
        assert!(remembered.targets["app"].recent_restarts.is_empty(), "the guard counts nothing");
        let db = &results[1];
        assert_eq!(db.outcome, Outcome::Unhealthy, "{db:?}");
        assert!(db.error.as_deref().is_some_and(|e| e.starts_with("exec: ") && e.contains("refused")), "{db:?}");
        assert!(!docker.calls().iter().any(|c| c.starts_with("restart db")), "{:?}", docker.calls());
    }
}

#[test]
fn failed_restart_is_reported_with_stderr() {
    let probe = FlakyProbe { failures: 99, calls: AtomicU32::new(0) };
    let docker = FakeDocker::new("running", 1);
    let r = &pass(&config(vec![target("app", "app")], false), &probe, &docker)[0];
    assert_eq!(r.outcome, Outcome::RestartFailed);
    assert_eq!(r.action.as_ref().unwrap().stderr, "Error: No such container");
    assert_eq!(r.recovery, Recovery::NotRestarted);
}

#[test]
fn never_recovering_target_waits_its_recovery_timeout() {
    let probe = FlakyProbe { failures: u32::MAX, calls: AtomicU32::new(0) };
    let docker = FakeDocker::new("running", 0);
    let mut t = target("app", "app");
    t.settings.recovery_timeout = Duration::from_secs(30);
    let calls_before_recovery = 3;
    let r = &pass(&config(vec![t], false), &probe, &docker)[0];
    assert_eq!(r.recovery, Recovery::NotRecovered);
    assert_eq!(r.recovery_error.as_deref(), Some("status 503 not in 200-399"));
    // One poll every 200 ms: a recovery is noticed within 250 ms, and the polls are bounded.
    let polls = probe.calls.load(Ordering::SeqCst) - calls_before_recovery;
    assert!((149..=151).contains(&polls), "{polls} polls in a 30 s recovery wait");
}

/// A probe that hangs: each attempt takes its whole timeout (on the fake clock).
struct HangProbe<'a> {
    clock: &'a FakeClock,
    attempts: AtomicU32,
}

impl Probe for HangProbe<'_> {
    fn check(&self, _: &Target, _: &HttpCheck, timeout: Duration) -> Check {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        self.clock.sleep(timeout);
        Check::failed(Failure::Hung, no_answer(timeout), timeout)
    }
}

/// A target with the built-in settings, restarted without waiting for recovery.
fn builtin_target(name: &str) -> Target {
    let mut t = target(name, name);
    t.settings = crate::settings::BUILTIN;
    t.settings.recovery_timeout = Duration::ZERO;
    t
}

/// A target judged by Docker's HEALTHCHECK, which says unhealthy, and its container's
/// inspect with that HEALTHCHECK's `test` (`CMD`... or `CMD-SHELL`...).
fn docker_says_unhealthy(test: &[&str]) -> (Target, crate::docker::ContainerInfo) {
    let mut t = builtin_target("app");
    t.health = HealthCheck::Docker;
    t.facts.docker_health = Some(crate::model::DockerHealth::Unhealthy);
    let mut info = crate::docker::fake::container("app", "no", &[]);
    info.healthcheck = true;
    info.health_test = test.iter().map(|s| s.to_string()).collect();
    (t, info)
}

#[test]
fn a_hang_is_decided_within_decide_within() {
    let clock = FakeClock::at(now());
    let probe = HangProbe { clock: &clock, attempts: AtomicU32::new(0) };
    let docker = FakeDocker::new("running", 0);
    let cfg = config(vec![builtin_target("app")], false);
    let r = &pass_on(&cfg, &probe, &docker, &clock)[0];
    assert_eq!(r.outcome, Outcome::Restarted);
    // 2 s, 100 ms, 2 s, 100 ms, then what is left of 5 s.
    assert_eq!((r.attempts, clock.elapsed()), (3, Duration::from_secs(5)));
    // No answer at all: Docker is asked once whether waiting can help (it runs: it can);
    // a stopped process is woken, so SIGTERM can reach it.
    assert_eq!(docker.calls(), ["inspect app", "inspect app", "wake app", "restart app 10"]);
}

#[test]
fn a_container_docker_reports_paused_or_exited_is_decided_at_the_first_failed_attempt() {
    for (status, error) in [
        ("paused", "container app is paused and answers nothing"),
        ("exited", "container app exited (1)"),
        ("dead", "container app dead (1)"),
    ] {
        let clock = FakeClock::at(now());
        let probe = HangProbe { clock: &clock, attempts: AtomicU32::new(0) };
        let docker = FakeDocker::new(status, 0).with_states(&[(status, 0)]);
        let r = &pass_on(&config(vec![builtin_target("app")], false), &probe, &docker, &clock)[0];
        assert_eq!(r.outcome, Outcome::Restarted, "{status}");
        // One 2 s attempt, not the 5 s decide window.
        assert_eq!((r.attempts, clock.elapsed()), (1, Duration::from_secs(2)), "{status}");
        assert_eq!(r.error.as_deref(), Some(error));
    }
    // A wrong answer came from a running process: Docker is not asked, the retries run.
    let probe = FlakyProbe { failures: 99, calls: AtomicU32::new(0) };
    let docker = FakeDocker::new("exited", 0);
    let r = &pass(&config(vec![target("app", "app")], true), &probe, &docker)[0];
    assert_eq!((r.attempts, docker.calls().len()), (3, 0));
}

fn pass_hinted(
    config: &Config,
    probe: &dyn Probe,
    docker: &FakeDocker,
    clock: &FakeClock,
    hints: &Hints,
) -> TargetResult {
    pass_full(config, probe, docker, &State::default(), clock, hints).remove(0)
}

#[test]
fn a_watchs_failed_attempt_is_the_first_and_its_time_counts() {
    let clock = FakeClock::at(now());
    let probe = HangProbe { clock: &clock, attempts: AtomicU32::new(0) };
    let docker = FakeDocker::new("running", 0);
    let t = builtin_target("app");
    let two = Duration::from_secs(2);
    let seen = Check::failed(Failure::Hung, no_answer(two), two);
    let hints = Hints::from([("app".to_string(), Hint::Failed { check: seen, spent: two })]);
    let r = pass_hinted(&config(vec![t], false), &probe, &docker, &clock, &hints);
    assert_eq!(r.outcome, Outcome::Restarted);
    // The watch's 2 s, then 100 ms, 2 s, 100 ms and what is left of 5 s: 3 s in this pass.
    assert_eq!((r.attempts, probe.attempts.load(Ordering::SeqCst)), (3, 2));
    assert_eq!(clock.elapsed(), Duration::from_secs(3));
}

#[test]
fn a_failed_attempt_then_a_good_one_is_still_a_blip() {
    let clock = FakeClock::at(now());
    let probe = FlakyProbe { failures: 0, calls: AtomicU32::new(0) };
    let docker = FakeDocker::new("running", 0);
    let seen = Check { http_status: Some(503), ..Check::failed(Failure::Status, "status 503", Duration::ZERO) };
    let hints = Hints::from([("app".to_string(), Hint::Failed { check: seen, spent: Duration::ZERO })]);
    let r = pass_hinted(&config(vec![target("app", "app")], false), &probe, &docker, &clock, &hints);
    assert_eq!((r.outcome, r.attempts), (Outcome::Healthy, 2));
    assert!(docker.calls().is_empty());
}

#[test]
fn a_paused_hint_decides_at_once_when_docker_agrees() {
    let hints = Hints::from([("app".to_string(), Hint::Paused)]);
    let clock = FakeClock::at(now());
    let probe = FlakyProbe { failures: 0, calls: AtomicU32::new(0) };
    let docker = FakeDocker::new("paused", 0);
    let r = pass_hinted(&config(vec![target("app", "app")], false), &probe, &docker, &clock, &hints);
    assert_eq!((r.outcome, r.attempts), (Outcome::Restarted, 0));
    assert_eq!(r.error.as_deref(), Some("container app is paused and answers nothing"));
    assert_eq!(docker.calls()[..4], ["inspect app", "inspect app", "unpause app", "restart app 7"]);
    assert_eq!(clock.elapsed(), Duration::ZERO, "no attempt was waited for");
    // Unpaused meanwhile: the target is checked as usual.
    let docker = FakeDocker::new("running", 0);
    let r = pass_hinted(&config(vec![target("app", "app")], false), &probe, &docker, &clock, &hints);
    assert_eq!((r.outcome, r.attempts), (Outcome::Healthy, 1));
}

/// Healthy once the fake clock has passed `at`.
struct HealthyAfter<'a> {
    clock: &'a FakeClock,
    at: Duration,
}

impl Probe for HealthyAfter<'_> {
    fn check(&self, _: &Target, _: &HttpCheck, _: Duration) -> Check {
        let up = self.clock.elapsed() >= self.at;
        if up {
            return Check::passed(Some(200), Duration::ZERO);
        }
        Check::failed(Failure::Connection, "connection refused", Duration::ZERO)
    }
}

#[test]
fn a_recovery_is_noticed_within_250_ms() {
    for at_ms in [1, 333, 1_000, 7_777] {
        let clock = FakeClock::at(now());
        let probe = HealthyAfter { clock: &clock, at: Duration::from_millis(at_ms) };
        let docker = FakeDocker::new("running", 0);
        let mut t = target("app", "app");
        t.settings.retries = 0;
        t.settings.recovery_timeout = Duration::from_secs(30);
        let cfg = config(vec![t], false);
        let r = &pass_on(&cfg, &probe, &docker, &clock)[0];
        assert_eq!(r.recovery, Recovery::Recovered, "{at_ms}");
        let late = r.recovery_time.unwrap().saturating_sub(Duration::from_millis(at_ms));
        assert!(late < Duration::from_millis(250), "noticed {late:?} late");
    }
}

#[test]
fn a_container_that_exits_again_ends_the_wait_at_once() {
    let clock = FakeClock::at(now());
    let probe = FlakyProbe { failures: u32::MAX, calls: AtomicU32::new(0) };
    let docker = FakeDocker::new("exited", 0);
    let mut t = target("app", "app");
    t.settings.recovery_timeout = Duration::from_secs(60);
    let cfg = config(vec![t], false);
    let r = &pass_on(&cfg, &probe, &docker, &clock)[0];
    assert_eq!(r.recovery, Recovery::NotRecovered);
    assert!(r.recovery_error.as_deref().unwrap().contains("exited again"), "{:?}", r.recovery_error);
    assert!(clock.elapsed() < Duration::from_secs(1), "waited {:?}", clock.elapsed());
}

#[test]
fn a_container_docker_keeps_reviving_is_a_crash_loop_at_once() {
    let probe = FlakyProbe { failures: u32::MAX, calls: AtomicU32::new(0) };
    let mut t = target("app", "app");
    t.settings.recovery_timeout = Duration::from_secs(60);
    let cfg = config(vec![t], false);
    // Restarting, or started again since the restart: either way Docker brought it back.
    for states in [&[("running", 0), ("restarting", 0)][..], &[("running", 0), ("running", 0), ("running", 3)][..]] {
        let clock = FakeClock::at(now());
        // The first inspect is the action's own look before the restart.
        let mut script = vec![("running", 0)];
        script.extend_from_slice(states);
        let docker = FakeDocker::new("running", 0).with_states(&script);
        let r = &pass_on(&cfg, &probe, &docker, &clock)[0];
        assert_eq!(r.recovery, Recovery::NotRecovered);
        assert!(r.recovery_error.as_deref().unwrap().contains("crash loop"), "{:?}", r.recovery_error);
        assert!(clock.elapsed() < Duration::from_secs(4), "waited {:?} of 60 s", clock.elapsed());
    }
}

#[test]
fn a_recovery_wait_ends_when_the_pass_must() {
    let clock = FakeClock::at(now());
    let probe = FlakyProbe { failures: u32::MAX, calls: AtomicU32::new(0) };
    let docker = FakeDocker::new("running", 0);
    let mut t = target("app", "app");
    t.settings.recovery_timeout = Duration::from_secs(60);
    let cfg = config(vec![t], false);
    // Sooner than the hand-back: the end of the watch cuts the wait.
    let pass = early_pass(&probe, &docker, &clock, Duration::from_secs(2));
    let r = &run_pass(&cfg, &cfg.targets, &pass).0[0];
    assert_eq!(r.recovery, Recovery::NotRecovered);
    assert!(r.recovery_error.as_deref().unwrap().ends_with("the watch ended before recovery_timeout did"));
    assert!(clock.elapsed() <= Duration::from_secs(2) + Duration::from_millis(100), "{:?}", clock.elapsed());
}

#[test]
fn zero_recovery_timeout_does_not_wait() {
    let probe = FlakyProbe { failures: 3, calls: AtomicU32::new(0) };
    let docker = FakeDocker::new("running", 0);
    let mut t = target("app", "app");
    t.settings.recovery_timeout = Duration::ZERO;
    let r = &pass(&config(vec![t], false), &probe, &docker)[0];
    assert_eq!(r.recovery, Recovery::NotWaited);
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
    let remembered =
        |m: TargetState| State { version: 2, targets: [("app".to_string(), m)].into(), ..State::default() };
    let cfg = config(vec![t], false);
    let first = pass_with(&cfg, &probe, &docker, &remembered(TargetState::default()));
    assert_eq!(first[0].outcome, Outcome::Failing);
    let stamp = |secs: u64| now() - Duration::from_secs(secs);
    let crash_loop = TargetState {
        consecutive_failures: 9,
        recent_restarts: vec![stamp(300), stamp(200), stamp(100)],
        ..TargetState::default()
    };
    let gave_up = pass_with(&cfg, &probe, &docker, &remembered(crash_loop));
    assert_eq!(gave_up[0].outcome, Outcome::GaveUp);
    assert_eq!(gave_up[0].next_restart_at, Some(now() - Duration::from_secs(300) + Duration::from_secs(1800)));
    let paused = TargetState {
        consecutive_failures: 9,
        paused_until: Some(now() + Duration::from_secs(60)),
        ..TargetState::default()
    };
    assert_eq!(pass_with(&cfg, &probe, &docker, &remembered(paused))[0].outcome, Outcome::Paused);
    assert!(docker.calls().is_empty(), "{:?}", docker.calls());
}

#[test]
fn a_signal_stops_new_work() {
    let probe = FlakyProbe { failures: u32::MAX, calls: AtomicU32::new(0) };
    let docker = FakeDocker::new("running", 0);
    let clock = FakeClock::at(now());
    clock.interrupted.store(true, Ordering::SeqCst);
    let cfg = config(vec![target("app", "app")], false);
    let results = pass_on(&cfg, &probe, &docker, &clock);
    assert_eq!(results[0].outcome, Outcome::Interrupted);
    assert_eq!(probe.calls.load(Ordering::SeqCst), 0, "nothing checked");
    assert!(docker.calls().is_empty(), "nothing restarted");
}

#[test]
fn parallel_map_keeps_order() {
    let items: Vec<u32> = (0..100).collect();
    assert_eq!(parallel_map(&items, 7, |i| i * 2), (items.iter().map(|i| i * 2).collect::<Vec<_>>(), 0));
    assert!(parallel_map(&Vec::<u32>::new(), 3, |i| *i).0.is_empty());
}

#[test]
fn a_watchs_pass_hands_a_slow_recovery_to_the_watch() {
    let clock = FakeClock::at(now());
    // Fails the pass's one attempt, and then every recovery poll: a slow start.
    let probe = FlakyProbe { failures: 1000, calls: AtomicU32::new(0) };
    let docker = FakeDocker::new("running", 0);
    let mut t = target("app", "app");
    t.settings.retries = 0;
    t.settings.recovery_timeout = Duration::from_secs(30);
    let cfg = config(vec![t], false);
    let pass = early_pass(&probe, &docker, &clock, Duration::from_secs(55));
    let r = run_pass(&cfg, &cfg.targets, &pass).0.remove(0);
    assert_eq!((r.outcome, r.recovery), (Outcome::Restarted, Recovery::Pending));
    assert!(r.recovery_error.as_deref().is_some_and(|e| e.ends_with("the watch looks on until recovery_timeout")));
    assert!(clock.elapsed() <= HANDS_BACK_AFTER + Duration::from_millis(500), "{:?}", clock.elapsed());
    // Outside a watch the same pass waits the whole recovery_timeout.
    let clock = FakeClock::at(now());
    let r = run_pass(&cfg, &cfg.targets, &Pass { clock: &clock, early: Early::none(), ..pass }).0.remove(0);
    assert_eq!(r.recovery, Recovery::NotRecovered);
    assert!(clock.elapsed() >= Duration::from_secs(30), "{:?}", clock.elapsed());
}

#[test]
fn a_recovery_the_watch_owns_is_not_restarted_again() {
    let probe = FlakyProbe { failures: 1000, calls: AtomicU32::new(0) };
    let docker = FakeDocker::new("running", 0);
    let hints = Hints::from([("app".to_string(), Hint::Recovering)]);
    let r = pass_hinted(&config(vec![target("app", "app")], false), &probe, &docker, &FakeClock::at(now()), &hints);
    assert_eq!(r.outcome, Outcome::Starting);
    assert!(r.error.as_deref().is_some_and(|e| e.ends_with("the watch looks on until recovery_timeout")), "{r:?}");
    assert!(docker.calls().iter().all(|c| !c.starts_with("restart")), "{:?}", docker.calls());
}

#[test]
fn dockers_unhealthy_is_confirmed_by_running_its_check_before_a_restart() {
    let (t, info) = docker_says_unhealthy(&["CMD-SHELL", "wget -q -O- http://127.0.0.1/health"]);
    let probe = FlakyProbe { failures: 0, calls: AtomicU32::new(0) };
    // Its check passes here: a probe that timed out on a busy host restarts nothing.
    let docker = FakeDocker::new("running", 0).with_infos(vec![info.clone()]);
    let r = &pass(&config(vec![t.clone()], false), &probe, &docker)[0];
    assert_eq!((r.outcome, r.docker_said), (Outcome::Healthy, Some("unhealthy")));
    assert_eq!(docker.calls(), ["inspect-all app", "exec app /bin/sh -c wget -q -O- http://127.0.0.1/health"]);
    // It fails here too: restarted, as before.
    let docker = FakeDocker::new("running", 0).with_infos(vec![info]).with_exec_code(1);
    let r = &pass(&config(vec![t], false), &probe, &docker)[0];
    assert_eq!((r.outcome, r.docker_said), (Outcome::Restarted, None));
    assert!(
        r.error
            .as_deref()
            .is_some_and(|e| e.starts_with("docker health unhealthy; its check, run by healwatch, failed too")),
        "{r:?}"
    );
    // Woken before the restart: a SIGSTOPped process would wait out the stop timeout.
    let calls = docker.calls();
    let wake = calls.iter().position(|c| c == "wake app");
    let restart = calls.iter().position(|c| c.starts_with("restart app"));
    assert!(wake.is_some() && wake < restart, "{calls:?}");
}

#[test]
fn dockers_unhealthy_on_an_engine_too_busy_to_run_the_check_waits_three_passes() {
    let (t, info) = docker_says_unhealthy(&["CMD", "pg_isready"]);
    let probe = FlakyProbe { failures: 0, calls: AtomicU32::new(0) };
    let cfg = config(vec![t], false);
    for (failures, outcome) in [(0, Outcome::Failing), (1, Outcome::Failing), (2, Outcome::Restarted)] {
        let docker = FakeDocker::new("running", 0).with_infos(vec![info.clone()]).with_execs_unstarted();
        let mut memory = State::default();
        memory.targets.insert("app".into(), TargetState { consecutive_failures: failures, ..TargetState::default() });
        let r = &pass_with(&cfg, &probe, &docker, &memory)[0];
        assert_eq!(r.outcome, outcome, "after {failures} passes: {r:?}");
        let error = r.error.as_deref().unwrap_or_default();
        assert!(error.contains("its check, run by healwatch, did not run: the engine did not start it"), "{error}");
        let restarted = docker.calls().iter().any(|c| c.starts_with("restart"));
        assert_eq!(restarted, outcome == Outcome::Restarted, "{:?}", docker.calls());
    }
}

#[test]
fn dockers_unhealthy_stands_when_a_proxy_refuses_the_exec_that_would_confirm_it() {
    let (t, info) = docker_says_unhealthy(&["CMD", "pg_isready"]);
    let probe = FlakyProbe { failures: 0, calls: AtomicU32::new(0) };
    let docker = FakeDocker::new("running", 0).with_infos(vec![info]).with_execs_refused();
    let r = &pass(&config(vec![t], false), &probe, &docker)[0];
    assert_eq!(r.outcome, Outcome::Restarted, "{r:?}");
    let error = r.error.as_deref().unwrap_or_default();
    assert!(error.contains("refused") && error.contains("Docker's word stands"), "{error}");
}

#[test]
fn a_container_the_listing_shows_down_is_never_checked_and_is_healed_at_once() {
    // A paused container still completes a TCP handshake, so a check could pass: the
    // listing's word wins, and no check runs.
    for down in ["container app is paused and answers nothing", "container app exited (137)"] {
        let clock = FakeClock::at(now());
        let probe = FlakyProbe { failures: 0, calls: AtomicU32::new(0) };
        let docker = FakeDocker::new("paused", 0);
        let mut app = target("app", "app");
        app.facts.down = Some(down.to_string());
        let r = &pass_on(&config(vec![app], false), &probe, &docker, &clock)[0];
        assert_eq!((r.outcome, r.attempts, r.error.as_deref()), (Outcome::Restarted, 0, Some(down)));
        assert!(docker.calls().iter().any(|c| c.starts_with("restart app")), "{:?}", docker.calls());
        // The only probe was the recovery's (the fake probe passes).
        assert_eq!(probe.calls.load(Ordering::SeqCst), 1, "{down}");
    }
}

#[test]
fn an_engine_the_route_says_is_down_is_engine_down_whatever_its_words() {
    let probe = FlakyProbe { failures: u32::MAX, calls: AtomicU32::new(0) };
    let docker = FakeDocker::new("running", 0).with_engine_down();
    let r = &pass(&config(vec![target("app", "app")], false), &probe, &docker)[0];
    assert_eq!(r.outcome, Outcome::EngineDown, "{r:?}");
    assert!(!docker.calls().iter().any(|c| c.starts_with("restart")), "{:?}", docker.calls());
}

#[test]
fn a_container_started_since_the_listing_showed_it_down_is_not_restarted() {
    // The listing said created (compose making the stack); by the action's own look,
    // compose has started it: starting, not restarted under compose's feet.
    let probe = FlakyProbe { failures: 0, calls: AtomicU32::new(0) };
    let docker = FakeDocker::new("running", 0);
    let mut app = target("app", "app");
    app.facts.down = Some("container app was created and never started".to_string());
    let r = &pass(&config(vec![app], false), &probe, &docker)[0];
    assert_eq!(r.outcome, Outcome::Starting, "{r:?}");
    assert!(!docker.calls().iter().any(|c| c.starts_with("restart")), "{:?}", docker.calls());
}

#[test]
fn an_exec_the_engine_never_started_is_no_evidence_as_for_a_healthcheck() {
    let mut t = builtin_target("app");
    t.health = HealthCheck::Exec(vec!["pg_isready".into()]);
    let probe = FlakyProbe { failures: 0, calls: AtomicU32::new(0) };
    let cfg = config(vec![t], false);
    for (failures, outcome) in [(0, Outcome::Failing), (1, Outcome::Failing), (2, Outcome::Restarted)] {
        let docker = FakeDocker::new("running", 0).with_execs_unstarted();
        let mut memory = State::default();
        memory.targets.insert("app".into(), TargetState { consecutive_failures: failures, ..TargetState::default() });
        let r = &pass_with(&cfg, &probe, &docker, &memory)[0];
        assert_eq!(r.outcome, outcome, "after {failures} passes: {r:?}");
        assert!(r.error.as_deref().unwrap_or_default().contains("did not start the command"), "{r:?}");
    }
}

#[test]
fn logs_a_driver_cannot_read_back_make_the_target_invalid_not_healthy() {
    let mut t = target("app", "app");
    t.log_pattern = Some(crate::config::LogPattern::parse("FATAL").unwrap());
    let probe = FlakyProbe { failures: 0, calls: AtomicU32::new(0) };
    let refused = "docker logs failed: configured logging driver does not support reading";
    let docker = FakeDocker::new("running", 0).with_logs_refused(refused);
    let r = &pass(&config(vec![t.clone()], false), &probe, &docker)[0];
    assert_eq!(r.outcome, Outcome::Invalid, "{r:?}");
    assert!(r.error.as_deref().unwrap_or_default().contains("use json-file, local or journald"), "{r:?}");
    assert!(!docker.calls().iter().any(|c| c.starts_with("restart")), "{:?}", docker.calls());
    // Any other failure to read says nothing about health: healthy, retried next pass.
    let docker = FakeDocker::new("running", 0).with_logs_refused("docker logs failed: connection reset");
    assert_eq!(pass(&config(vec![t], false), &probe, &docker)[0].outcome, Outcome::Healthy);
}

#[test]
fn a_container_dockers_policy_revived_moments_ago_is_not_restarted_again() {
    let probe = FlakyProbe { failures: u32::MAX, calls: AtomicU32::new(0) };
    // Running, but started by Docker's policy 30 s ago (after its 4th exit), within the
    // 60 s a start gets to answer: restarting it would reset Docker's back-off.
    let mut t = target("app", "app");
    t.settings.recovery_timeout = Duration::from_secs(60);
    let docker = FakeDocker::new("running", 0).with_restart_count(4);
    let r = &pass(&config(vec![t.clone()], false), &probe, &docker)[0];
    assert_eq!(r.outcome, Outcome::Unhealthy, "{r:?}");
    let error = r.error.as_deref().unwrap_or_default();
    assert!(error.contains("crash loop") && error.contains("leaves it to Docker"), "{error}");
    assert!(!docker.calls().iter().any(|c| c.starts_with("restart")), "{:?}", docker.calls());
    // Started by the policy long enough ago (past recovery_timeout and Docker's own 10 s),
    // it hangs on its own: restarted. So is one Docker never restarted.
    t.settings.recovery_timeout = Duration::from_secs(5);
    for docker in [FakeDocker::new("running", 0).with_restart_count(4), FakeDocker::new("running", 0)] {
        let r = &pass(&config(vec![t.clone()], false), &probe, &docker)[0];
        assert_eq!(r.outcome, Outcome::Restarted, "{r:?}");
    }
}

#[test]
fn a_container_dockers_policy_is_restarting_is_left_to_docker_and_its_cause_said() {
    let mut t = target("app", "app");
    t.facts.down = Some("container app is restarting after exiting (137)".into());
    t.facts.restarting = true;
    let mut info = crate::docker::fake::container("app", "always", &[]);
    info.status = crate::model::ContainerStatus::Restarting;
    info.oom_killed = true;
    info.restart_count = 9;
    let docker = FakeDocker::new("restarting", 0).with_infos(vec![info]);
    let probe = FlakyProbe { failures: 0, calls: AtomicU32::new(0) };
    let r = &pass(&config(vec![t], false), &probe, &docker)[0];
    assert_eq!(r.outcome, Outcome::Unhealthy, "{r:?}");
    let error = r.error.as_deref().unwrap_or_default();
    assert!(error.contains("crash loop") && error.contains("OOMKilled") && error.contains("9 times"), "{error}");
    assert!(error.contains("its last log lines: \"starting\" | \"FATAL out of memory\""), "{error}");
    assert!(
        !docker.calls().iter().any(|c| c.starts_with("restart")),
        "a restart resets Docker's back-off: {:?}",
        docker.calls()
    );
}
