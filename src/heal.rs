//! One pass over the targets: check (with retries), judge, act (restart by default),
//! verify recovery. Each target yields one `TargetResult`. Targets run in parallel on at
//! most `concurrency` threads; a container shared by several targets is acted on once
//! per pass, never twice at once.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use crate::clock::Clock;
use crate::config::{Config, HealthCheck, LogPattern, Target};
use crate::docker::{CommandOutcome, Containers, engine_unreachable};
use crate::model::{
    Action, ActionRun, ContainerRef, ContainerStatus, DockerHealth, Endpoint, Outcome, Recovery, TargetResult,
    one_line, redact_text,
};
use crate::policy::{self, Verdict};
use crate::probe::{Check, Probe};
use crate::state::State;

/// Pause between recovery polls: a recovered service is noticed within this (plus one
/// attempt's latency), and the count of polls is bounded by recovery_timeout / this.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// After a restart, how often a failing poll also asks Docker whether the container
/// still runs (a crash loop is decided at once instead of waiting the whole timeout).
const STATE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// What a pass works with besides the targets: the two I/O seams, memory and the clock.
pub struct Pass<'a> {
    /// The HTTP checker.
    pub probe: &'a dyn Probe,
    /// The docker CLI for actions; `None` for a dry run.
    pub docker: Option<&'a dyn Containers>,
    /// The docker CLI for checks that only look (exec, logs), also in a dry run; `None`
    /// when there is none.
    pub inspector: Option<&'a dyn Containers>,
    /// What earlier passes left.
    pub memory: &'a State,
    /// The pass's time (`now`, for every judgement and timestamp) and its sleeps.
    pub clock: &'a dyn Clock,
    /// What a watch saw just before it started this pass, by target name.
    pub hints: &'a Hints,
}

/// What a watch (`run --watch`) saw of a target between passes, which the pass that it
/// started early takes as evidence instead of finding it out again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// A watch round's attempt failed, `spent` before this pass began: it is the first
    /// attempt of this pass's check, so the blip rule's clock started with it.
    Failed { check: Check, spent: Duration },
    /// Docker's events said a container of the target was paused: if it still is, the
    /// target is decided at once (a frozen process answers nothing, however long one waits).
    Paused,
}

/// Hints by target name.
pub type Hints = BTreeMap<String, Hint>;

/// No hints: a pass that was not started early by a watch.
pub static NO_HINTS: Hints = BTreeMap::new();

/// Checks, judges and heals every target; results come back in config order, with any
/// warning about the pass itself (fewer worker threads than asked for).
pub fn run_pass(config: &Config, pass: &Pass) -> (Vec<TargetResult>, Vec<String>) {
    let restarts = RestartOnce::default();
    let workers = config.concurrency.min(config.targets.len()).max(1);
    let (results, not_started) =
        parallel_map(&config.targets, workers, |target| heal_target(target, config.dry_run, pass, &restarts));
    let warnings = (not_started > 0)
        .then(|| {
            format!(
                "could not start {not_started} of {workers} worker threads (a process limit?): \
                 checked with {} at once",
                workers - not_started
            )
        })
        .into_iter()
        .collect();
    (results, warnings)
}

fn heal_target(target: &Target, dry_run: bool, pass: &Pass, restarts: &RestartOnce) -> TargetResult {
    if pass.clock.interrupted() {
        return TargetResult {
            outcome: Outcome::Interrupted,
            error: Some("the pass was interrupted before this target was checked".to_string()),
            ..TargetResult::new(&target.name, &target.container, target.url_display())
        };
    }
    let memory = pass.memory.targets.get(&target.name).cloned().unwrap_or_default();
    let now = pass.clock.now();
    let (mut check, attempts) = first_check(pass, target);
    let mut logs_until = None;
    if let (true, Some(pattern), Some(inspector)) = (check.healthy(), &target.log_pattern, pass.inspector) {
        // Only lines logged since the last scan (or the last restart) count.
        let since = memory.logs_read_until.or(memory.last_time).unwrap_or(now - FIRST_LOG_WINDOW).min(now);
        check = log_check(inspector, target, pattern, since, now);
        logs_until = Some(now);
    }
    let mut result = TargetResult {
        check: target.health.kind(),
        http_status: check.http_status,
        latency: check.latency,
        attempts,
        error: check.error.clone(),
        logs_until,
        ..TargetResult::new(&target.name, &target.container, target.url_display())
    };
    let docker = match (policy::judge(check.healthy(), &target.settings, &memory, now, dry_run), pass.docker) {
        (Verdict::Leave, _) => return result,
        (Verdict::Paused { until }, _) => {
            result.outcome = Outcome::Paused;
            result.paused_until = Some(until);
            return result;
        }
        (Verdict::Failing { .. }, _) => {
            result.outcome = Outcome::Failing;
            return result;
        }
        (Verdict::GaveUp { next_restart_at }, _) => {
            result.outcome = Outcome::GaveUp;
            result.next_restart_at = next_restart_at;
            return result;
        }
        (Verdict::Report, _) | (Verdict::Restart, None) => {
            result.outcome = Outcome::Unhealthy;
            return result;
        }
        (Verdict::Restart, Some(_)) if target.action == Action::Notify => {
            result.outcome = Outcome::Unhealthy;
            return result;
        }
        (Verdict::Restart, Some(docker)) => docker,
    };
    let key = (target.endpoint.clone(), target.replicas.join(","));
    let hung = check.timed_out();
    let run = match restarts.run(key, || act(docker, target, pass.clock, hung)) {
        Acted::Skipped(outcome) => {
            result.outcome = outcome;
            return result;
        }
        Acted::EngineDown(why) => {
            result.outcome = Outcome::EngineDown;
            let check = result.error.take().map(|e| format!("; the check: {e}")).unwrap_or_default();
            result.error = Some(format!("docker engine {} is unreachable: {why}{check}", target.endpoint.name()));
            return result;
        }
        Acted::Ran(run) => run,
    };
    let success = run.success();
    result.action = Some(run);
    if target.log_pattern.is_some() {
        // Lines the old process wrote never count again.
        result.logs_until = Some(pass.clock.now() + pass.clock.elapsed());
    }
    result.outcome = match (success, target.action) {
        (false, _) => Outcome::RestartFailed,
        (true, Action::Restart) => Outcome::Restarted,
        (true, _) => Outcome::Acted,
    };
    if result.outcome != Outcome::Restarted {
        return result;
    }
    result.recovery = Recovery::NotWaited;
    if !target.settings.recovery_timeout.is_zero() {
        let (recovery, elapsed, error) = await_recovery(pass.probe, docker, pass.clock, target);
        if target.log_pattern.is_some() {
            result.logs_until = Some(pass.clock.now() + pass.clock.elapsed());
        }
        result.recovery = recovery;
        result.recovery_time = (recovery == Recovery::Recovered).then_some(elapsed);
        result.recovery_error = error;
    }
    result
}

/// Without a last scan, how far back the first log scan of a target reads.
const FIRST_LOG_WINDOW: Duration = Duration::from_secs(60);

/// The pass's first look at a target: HTTP, TCP or a command in the container, with
/// retries; or Docker's HEALTHCHECK status as the pass's container listing saw it (Docker
/// already retries its own probes); or nothing, for a target that only watches its logs.
fn first_check(pass: &Pass, target: &Target) -> (Check, u32) {
    let one = |timeout: Duration| attempt(pass.probe, pass.inspector, target, timeout);
    match &target.health {
        HealthCheck::Http(_) | HealthCheck::Tcp(_) | HealthCheck::Exec(_) => match pass.hints.get(&target.name) {
            Some(Hint::Paused) if let Some(paused) = paused_container(pass.inspector, target) => {
                let error = format!("paused: container {paused} is paused and answers nothing");
                (Check { http_status: None, latency: Duration::ZERO, error: Some(error) }, 0)
            }
            Some(Hint::Failed { check, spent }) => check_with_retries(&one, pass.clock, target, Some((check, *spent))),
            _ => check_with_retries(&one, pass.clock, target, None),
        },
        HealthCheck::Docker { paused: true, .. } => {
            let error = "paused: a frozen container runs no HEALTHCHECK and answers nothing".to_string();
            (Check { http_status: None, latency: Duration::ZERO, error: Some(error) }, 0)
        }
        HealthCheck::Docker { observed, output, .. } => (docker_health_check(observed.as_ref(), output.as_deref()), 0),
        HealthCheck::Logs => (Check { http_status: None, latency: Duration::ZERO, error: None }, 0),
    }
}

/// The first of the target's containers that Docker says is paused.
fn paused_container(docker: Option<&dyn Containers>, target: &Target) -> Option<String> {
    let docker = docker?;
    target
        .container_refs()
        .into_iter()
        .find(|c| docker.state(c).is_ok_and(|s| s.status == ContainerStatus::Paused))
        .map(|c| c.name)
}

/// One attempt of a check that can be retried: HTTP or TCP through the probe, a command
/// through `docker exec`.
pub(crate) fn attempt(probe: &dyn Probe, docker: Option<&dyn Containers>, target: &Target, timeout: Duration) -> Check {
    match (&target.health, docker) {
        (HealthCheck::Exec(argv), Some(docker)) => exec_check(docker, target, argv, timeout),
        (HealthCheck::Exec(_), None) => Check {
            http_status: None,
            latency: Duration::ZERO,
            error: Some("an exec check needs the docker CLI".to_string()),
        },
        _ => probe.check(target, timeout),
    }
}

/// `docker exec` of the target's command: healthy on exit 0. Past `timeout` the docker
/// client and its process group are killed; the command inside the container may run on
/// until it ends by itself (docker has no way to stop an exec), so give it its own
/// bound where the image has one, e.g. exec = ["timeout", "2", "pg_isready"].
fn exec_check(docker: &dyn Containers, target: &Target, argv: &[String], timeout: Duration) -> Check {
    let Some(container) = target.container_refs().into_iter().next() else {
        return Check { http_status: None, latency: Duration::ZERO, error: Some("no container".to_string()) };
    };
    let out = docker.exec(&container, argv, timeout);
    let error = (!out.success()).then(|| {
        let said = if out.stderr.is_empty() { out.stdout.clone() } else { out.stderr.clone() };
        match out.exit_code {
            Some(code) => format!("exec exited {code}: {}", one_line(said.trim(), 300)),
            None => format!("exec: {}", one_line(said.trim(), 300)),
        }
    });
    Check { http_status: None, latency: out.duration, error }
}

/// The container's new log lines against `pattern`: a match fails the check with the
/// line (redacted, one line, cut).
fn log_check(
    docker: &dyn Containers,
    target: &Target,
    pattern: &LogPattern,
    since: SystemTime,
    until: SystemTime,
) -> Check {
    let found = target
        .container_refs()
        .iter()
        .map(|c| docker.log_match(c, since, until, &pattern.0))
        .find(|r| !matches!(r, Ok(None)));
    let error = match found {
        Some(Ok(Some(line))) => Some(format!("log: {}", one_line(&redact_text(&line), 500))),
        // Logs that cannot be read say nothing about health; the scan is retried next pass.
        Some(Err(_)) | Some(Ok(None)) | None => None,
    };
    Check { http_status: None, latency: Duration::ZERO, error }
}

/// A Docker HEALTHCHECK status as a check: only `unhealthy` fails (`starting` is not yet a verdict).
fn docker_health_check(status: Option<&DockerHealth>, output: Option<&str>) -> Check {
    let error = match status {
        Some(DockerHealth::Unhealthy) => Some(match output {
            Some(out) => format!("docker health unhealthy: {out}"),
            None => "docker health unhealthy".to_string(),
        }),
        _ => None,
    };
    Check { http_status: None, latency: Duration::ZERO, error }
}

/// The blip rule: one attempt plus up to `retries` more, `retry_delay` apart, stopping at
/// the first healthy one, all within `decide_within` (each attempt's timeout is cut to
/// what is left). A target fails only when every attempt made failed, so one slow or
/// failed answer followed by a good one is healthy; with the defaults a 503 is decided
/// in about 0.5 s (three attempts) and a hung endpoint in 5 s. `first` is an attempt a
/// watch already made, and how long ago it started: it counts as the first attempt.
pub fn check_with_retries(
    attempt: &dyn Fn(Duration) -> Check,
    clock: &dyn Clock,
    target: &Target,
    first: Option<(&Check, Duration)>,
) -> (Check, u32) {
    let settings = &target.settings;
    let spent = first.map_or(Duration::ZERO, |(_, spent)| spent);
    let start = clock.elapsed();
    let left = || settings.decide_within.saturating_sub(clock.elapsed().saturating_sub(start) + spent);
    let mut attempts = 1;
    let mut check = match first {
        Some((check, _)) => check.clone(),
        None => attempt(settings.timeout.min(left()).max(MIN_ATTEMPT)),
    };
    while !check.healthy() && attempts <= settings.retries && !clock.interrupted() {
        // No attempt squeezed into the deadline's last instant: it could only time out.
        if left() < settings.retry_delay + MIN_ATTEMPT {
            break;
        }
        clock.sleep(settings.retry_delay);
        attempts += 1;
        check = attempt(settings.timeout.min(left()).max(MIN_ATTEMPT));
    }
    (check, attempts)
}

/// The shortest attempt worth making.
const MIN_ATTEMPT: Duration = Duration::from_millis(50);

/// What the action did, or why it did not run.
#[derive(Debug, Clone)]
enum Acted {
    /// Not acted on: `Starting` (inside the start period) or `Stopped` (ignore_stopped).
    Skipped(Outcome),
    /// The engine could not be reached (docker's message): no attempt was made.
    EngineDown(String),
    /// The docker commands ran.
    Ran(ActionRun),
}

/// The target's action on each of its containers, then `restart_with` in order.
/// A paused container is unpaused first: a paused process cannot receive SIGTERM, so a
/// restart would wait out the whole stop timeout. A container in its start period, or
/// stopped when `ignore_stopped` is set, is left alone. An inspect that fails does not stop
/// the action: docker's own error from it is the clearest report. When the check got no
/// answer at all (`hung`), a running container is sent SIGCONT first: a stopped
/// (SIGSTOPped) process cannot act on SIGTERM either, and would cost the whole stop
/// timeout. The signal reaches PID 1, and the init of `--init` passes it on to its child.
fn act(docker: &dyn Containers, target: &Target, clock: &dyn Clock, hung: bool) -> Acted {
    let started = clock.elapsed();
    let settings = &target.settings;
    let containers = target.container_refs();
    let mut runs = Commands::default();
    if containers.is_empty() {
        runs.failed(&target.container, None, format!("no containers found for {}", target.container));
        return Acted::Ran(runs.into_run(target.action, clock.elapsed().saturating_sub(started)));
    }
    let mut skipped = None;
    for container in &containers {
        let state = docker.state(container);
        if let Err(out) = &state
            && engine_unreachable(&out.stderr)
        {
            return Acted::EngineDown(out.stderr.clone());
        }
        if let Ok(state) = state {
            if target.ignore_stopped && state.status.is_down() {
                skipped = Some(Outcome::Stopped);
                continue;
            }
            if policy::in_start_period(state.started_at, clock.now(), settings.start_period) {
                skipped = Some(Outcome::Starting);
                continue;
            }
            if state.status == ContainerStatus::Paused && !runs.record(&container.name, docker.unpause(container)) {
                continue;
            }
            if hung && state.status == ContainerStatus::Running && target.action == Action::Restart {
                // Best effort: the restart that follows is what is reported.
                let _ = docker.wake(container);
            }
        }
        let outcome = docker.act(container, target.action, settings.restart_timeout);
        if !outcome.success() && engine_unreachable(&outcome.stderr) && runs.ran == 0 {
            return Acted::EngineDown(outcome.stderr);
        }
        runs.record(&container.name, outcome);
    }
    if runs.ran == 0 {
        return Acted::Skipped(skipped.unwrap_or(Outcome::Starting));
    }
    if target.action == Action::Restart && runs.failures.is_empty() && !clock.interrupted() {
        for dependent in &target.restart_with {
            let dependent = ContainerRef { endpoint: target.endpoint.clone(), name: dependent.clone() };
            runs.record(&dependent.name, docker.act(&dependent, Action::Restart, settings.restart_timeout));
        }
    }
    Acted::Ran(runs.into_run(target.action, clock.elapsed().saturating_sub(started)))
}

/// The docker commands of one action, gathered into one `ActionRun`.
#[derive(Debug, Default)]
struct Commands {
    ran: usize,
    /// Each failure: container, exit code, stderr.
    failures: Vec<(String, Option<i32>, String)>,
}

impl Commands {
    /// Notes a command's outcome; true when it succeeded.
    fn record(&mut self, container: &str, outcome: CommandOutcome) -> bool {
        self.ran += 1;
        let ok = outcome.success();
        if !ok {
            self.failed(container, outcome.exit_code, outcome.stderr);
        }
        ok
    }

    fn failed(&mut self, container: &str, exit_code: Option<i32>, stderr: String) {
        self.failures.push((container.to_string(), exit_code, stderr));
    }

    /// The first failure's exit code, every failure's stderr (named by container when
    /// several commands ran), the total time.
    fn into_run(self, action: Action, duration: Duration) -> ActionRun {
        let several = self.ran > 1;
        let stderr: Vec<String> = self
            .failures
            .iter()
            .map(|(name, _, err)| if several { format!("{name}: {err}") } else { err.clone() })
            .collect();
        ActionRun {
            action,
            exit_code: self.failures.first().map_or(Some(0), |(_, code, _)| *code),
            duration,
            stderr: stderr.join("; "),
        }
    }
}

/// Polls until the target is healthy or its recovery timeout has passed: the recovery,
/// the time it took, and the last reason when it did not come. Each HTTP attempt's
/// timeout is cut to what is left, so the wait never overruns. A Docker-health target
/// recovers when Docker's status turns `healthy`. The wait stops early when the answer
/// is already known: the container is no longer running (it exited again), or Docker's
/// first probe after the restart says unhealthy.
fn await_recovery(
    probe: &dyn Probe,
    docker: &dyn Containers,
    clock: &dyn Clock,
    target: &Target,
) -> (Recovery, Duration, Option<String>) {
    let start = clock.elapsed();
    let waited = || clock.elapsed().saturating_sub(start);
    let within = target.settings.recovery_timeout;
    let mut last_state_check = Duration::ZERO;
    loop {
        let left = within.saturating_sub(waited());
        let check = match &target.health {
            HealthCheck::Docker { .. } => docker_recovery_check(docker, target),
            HealthCheck::Logs => running_check(docker, target),
            _ => attempt(probe, Some(docker), target, target.settings.timeout.min(left).max(Duration::from_millis(1))),
        };
        if check.healthy() {
            return (Recovery::Recovered, waited(), None);
        }
        if clock.interrupted() {
            return (Recovery::NotRecovered, waited(), Some("the pass was interrupted while waiting".to_string()));
        }
        if matches!(target.health, HealthCheck::Docker { .. })
            && check.error.as_deref() == Some(UNHEALTHY_AFTER_RESTART)
        {
            return (Recovery::NotRecovered, waited(), check.error);
        }
        if waited().saturating_sub(last_state_check) >= STATE_CHECK_INTERVAL || last_state_check.is_zero() {
            last_state_check = waited().max(Duration::from_nanos(1));
            if let Some(why) = stopped_running(docker, target) {
                return (Recovery::NotRecovered, waited(), Some(why));
            }
        }
        let left = within.saturating_sub(waited());
        if left.is_zero() {
            return (Recovery::NotRecovered, waited(), check.error);
        }
        clock.sleep(POLL_INTERVAL.min(left));
        // No attempt squeezed into the last instant: it would only say "timeout after 1ms".
        if within <= waited() {
            return (Recovery::NotRecovered, waited(), check.error);
        }
    }
}

/// Why waiting is pointless, when a container of the target is no longer running.
fn stopped_running(docker: &dyn Containers, target: &Target) -> Option<String> {
    target.container_refs().iter().find_map(|c| match docker.state(c) {
        Ok(state)
            if matches!(state.status, ContainerStatus::Exited | ContainerStatus::Dead | ContainerStatus::Created) =>
        {
            Some(format!("container {} is {} again after the restart", c.name, state.status))
        }
        _ => None,
    })
}

/// A target that only watches its logs has recovered once its container runs again.
pub(crate) fn running_check(docker: &dyn Containers, target: &Target) -> Check {
    let error = target.container_refs().iter().find_map(|c| match docker.state(c) {
        Ok(state) if state.status == ContainerStatus::Running => None,
        Ok(state) => Some(format!("container {} is {}", c.name, state.status)),
        Err(out) => Some(format!("docker inspect: {}", out.stderr)),
    });
    Check { http_status: None, latency: Duration::ZERO, error }
}

/// Docker's first probe after a restart failed: the restart did not help.
const UNHEALTHY_AFTER_RESTART: &str = "docker health unhealthy after the restart";

/// After a restart Docker says `starting` until its first probe: only `healthy` is recovered.
fn docker_recovery_check(docker: &dyn Containers, target: &Target) -> Check {
    let error = match target.container_refs().first().map(|c| docker.health(c)) {
        Some(Ok(Some(DockerHealth::Healthy))) => None,
        Some(Ok(Some(DockerHealth::Unhealthy))) => Some(UNHEALTHY_AFTER_RESTART.to_string()),
        Some(Ok(status)) => Some(format!("docker health {}", status.as_ref().map_or("none", DockerHealth::as_str))),
        Some(Err(out)) => Some(format!("docker inspect: {}", out.stderr)),
        None => Some("no container".to_string()),
    };
    Check { http_status: None, latency: Duration::ZERO, error }
}

/// The containers one action applies to: the engine and the names, joined.
type ContainerKey = (Endpoint, String);

/// Runs each container's action at most once per pass; later callers for the same
/// container wait for and share the first one's result.
#[derive(Default)]
struct RestartOnce {
    by_container: Mutex<HashMap<ContainerKey, Arc<OnceLock<Acted>>>>,
}

impl RestartOnce {
    fn run(&self, key: ContainerKey, act: impl FnOnce() -> Acted) -> Acted {
        let cell = {
            let mut map = self.by_container.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(map.entry(key).or_default())
        };
        cell.get_or_init(act).clone()
    }
}

/// Maps `f` over `items` on at most `workers` threads, the caller's included, keeping
/// the input order. A thread that cannot be started (a process limit) leaves its share
/// to the others: returns the results and how many threads did not start.
pub fn parallel_map<T: Sync, R: Send>(items: &[T], workers: usize, f: impl Fn(&T) -> R + Sync) -> (Vec<R>, usize) {
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let workers = workers.clamp(1, items.len().max(1));
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            let value = f(item);
            *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
        }
    };
    let mut started = 1;
    std::thread::scope(|scope| {
        for _ in 1..workers {
            if std::thread::Builder::new().spawn_scoped(scope, work).is_err() {
                break;
            }
            started += 1;
        }
        work();
    });
    let results = results
        .into_iter()
        .map(|cell| cell.into_inner().unwrap_or_else(|e| e.into_inner()).expect("every index is filled by a worker"))
        .collect();
    (results, workers - started)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use crate::docker::ContainerState;
    use crate::model::HealthUrl;
    use crate::settings::Settings;
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
                stdout_cut: false,
                stderr: if code == 0 { String::new() } else { "Error: No such container".into() },
            }
        }
        fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl Containers for FakeDocker {
        fn state(&self, c: &ContainerRef) -> Result<ContainerState, CommandOutcome> {
            let c = &c.name;
            self.calls.lock().unwrap().push(format!("inspect {c}"));
            let status = ContainerStatus::parse(self.status);
            Ok(ContainerState { status, started_at: Some(now() - Duration::from_secs(30)) })
        }
        fn health(&self, c: &ContainerRef) -> Result<Option<DockerHealth>, CommandOutcome> {
            self.calls.lock().unwrap().push(format!("health {}", c.name));
            Ok(Some(DockerHealth::Healthy))
        }
        fn unpause(&self, c: &ContainerRef) -> CommandOutcome {
            let c = &c.name;
            self.calls.lock().unwrap().push(format!("unpause {c}"));
            Self::outcome(0)
        }
        fn wake(&self, c: &ContainerRef) -> CommandOutcome {
            let c = &c.name;
            self.calls.lock().unwrap().push(format!("wake {c}"));
            Self::outcome(0)
        }
        fn act(&self, c: &ContainerRef, action: Action, t: Duration) -> CommandOutcome {
            self.calls.lock().unwrap().push(format!("{} {} {}", action.as_str(), c.name, t.as_secs()));
            Self::outcome(self.restart_code)
        }
        fn exec(&self, c: &ContainerRef, argv: &[String], _: Duration) -> CommandOutcome {
            self.calls.lock().unwrap().push(format!("exec {} {}", c.name, argv.join(" ")));
            Self::outcome(0)
        }
        fn log_match(
            &self,
            c: &ContainerRef,
            _: SystemTime,
            _: SystemTime,
            pattern: &regex::Regex,
        ) -> Result<Option<String>, String> {
            self.calls.lock().unwrap().push(format!("logs {}", c.name));
            Ok(pattern.is_match("FATAL out of memory").then(|| "FATAL out of memory".to_string()))
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
        run_pass(config, &Pass { probe, docker: Some(docker), inspector: Some(docker), memory, clock, hints }).0
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
        fn check(&self, _: &Target, timeout: Duration) -> Check {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            self.clock.sleep(timeout);
            Check { http_status: None, latency: timeout, error: Some(crate::probe::no_answer(timeout)) }
        }
    }

    /// A target with the built-in settings, restarted without waiting for recovery.
    fn builtin_target(name: &str) -> Target {
        let mut t = target(name, name);
        t.settings = crate::settings::BUILTIN;
        t.settings.recovery_timeout = Duration::ZERO;
        t
    }

    #[test]
    fn a_hang_is_decided_within_decide_within() {
        let clock = FakeClock::at(now());
        let probe = HangProbe { clock: &clock, attempts: AtomicU32::new(0) };
        let docker = FakeDocker::new("running", 0);
        let cfg = config(vec![builtin_target("app")], false);
        let r = &pass_on(&cfg, &probe, &docker, &clock)[0];
        assert_eq!(r.outcome, Outcome::Restarted);
        // 2 s, 250 ms, 2 s, 250 ms, then what is left of 5 s.
        assert_eq!((r.attempts, clock.elapsed()), (3, Duration::from_secs(5)));
        // No answer at all: a stopped process is woken, so SIGTERM can reach it.
        assert_eq!(docker.calls(), ["inspect app", "wake app", "restart app 10"]);
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
        let seen = Check { http_status: None, latency: two, error: Some(crate::probe::no_answer(two)) };
        let hints = Hints::from([("app".to_string(), Hint::Failed { check: seen, spent: two })]);
        let r = pass_hinted(&config(vec![t], false), &probe, &docker, &clock, &hints);
        assert_eq!(r.outcome, Outcome::Restarted);
        // The watch's 2 s, then 250 ms, 2 s, 250 ms and what is left of 5 s: 3 s in this pass.
        assert_eq!((r.attempts, probe.attempts.load(Ordering::SeqCst)), (3, 2));
        assert_eq!(clock.elapsed(), Duration::from_secs(3));
    }

    #[test]
    fn a_failed_attempt_then_a_good_one_is_still_a_blip() {
        let clock = FakeClock::at(now());
        let probe = FlakyProbe { failures: 0, calls: AtomicU32::new(0) };
        let docker = FakeDocker::new("running", 0);
        let seen = Check { http_status: Some(503), latency: Duration::ZERO, error: Some("status 503".into()) };
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
        assert_eq!(r.error.as_deref(), Some("paused: container app is paused and answers nothing"));
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
        fn check(&self, _: &Target, _: Duration) -> Check {
            let up = self.clock.elapsed() >= self.at;
            let error = (!up).then(|| "connection refused".to_string());
            Check { http_status: up.then_some(200), latency: Duration::ZERO, error }
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
}
