//! Acting on a failing target's containers (unpause, wake, restart, stop or kill), once
//! per container per pass, then waiting for the target to recover.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use super::policy;
use crate::check::{Check, Failure, Probe, attempt, docker_recovery_check};
use crate::clock::Clock;
use crate::config::{HealthCheck, Target};
use crate::docker::{CommandOutcome, ContainerState, Containers};
use crate::model::{Action, ActionRun, ContainerRef, ContainerStatus, Endpoint, Outcome, Recovery};

/// Pause between recovery polls: a recovered service is noticed within this (plus one
/// attempt's latency), and the count of polls is bounded by recovery_timeout / this.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// After a restart, how often a failing poll also asks Docker whether the container
/// still runs (a crash loop is decided at once instead of waiting the whole timeout).
const STATE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// What the look that failed saw of the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Seen {
    /// An answer that was wrong.
    Failing,
    /// No answer at all: the process may be stopped (SIGSTOP), and is woken first.
    Hung,
    /// Docker said its container was not running (exited, created, paused).
    Down,
}

impl Seen {
    /// What `check`, the failed look at `target`, saw. A failed HEALTHCHECK may have timed
    /// out on a stopped process as well.
    pub(super) fn of(check: &crate::check::Check, target: &Target) -> Self {
        if check.failed_with(Failure::Container) {
            Self::Down
        } else if check.timed_out() || matches!(target.health, HealthCheck::Docker) {
            Self::Hung
        } else {
            Self::Failing
        }
    }
}

/// What the action did, or why it did not run.
#[derive(Debug, Clone)]
pub(super) enum Acted {
    /// Not acted on: `Starting` (inside the start period) or `Stopped` (ignore_stopped).
    Skipped(Outcome),
    /// The engine could not be reached (docker's message): no attempt was made.
    EngineDown(String),
    /// The engine's API, or a socket proxy before it, refused a call (which, and the
    /// switch that allows it): nothing was done, and nothing counts toward the guard.
    Refused(String),
    /// Docker's restart policy is bringing this container back (it is restarting, or the
    /// policy started it moments ago): a restart would only reset Docker's back-off.
    LeftToDocker(ContainerRef, ContainerState),
    /// The docker commands ran.
    Ran(ActionRun),
}

/// The target's action on each of its containers, then `restart_with` in order.
/// A paused container is unpaused first: a paused process cannot receive SIGTERM, so a
/// restart would wait out the whole stop timeout. A container in its start period, or
/// stopped when `ignore_stopped` is set, is left alone. An inspect that fails does not stop
/// the action: docker's own error from it is the clearest report. When the check got no
/// answer at all (`Seen::Hung`), a running container is sent SIGCONT first: a stopped
/// (SIGSTOPped) process cannot act on SIGTERM either, and would cost the whole stop
/// timeout. The signal reaches PID 1, and the init of `--init` passes it on to its child.
pub(super) fn act(docker: &dyn Containers, target: &Target, clock: &dyn Clock, seen: Seen) -> Acted {
    let started = clock.elapsed();
    let settings = &target.settings;
    let containers = target.container_refs();
    let mut runs = Commands::default();
    if containers.is_empty() {
        runs.failed(&target.container, None, format!("no containers found for {}", target.container));
        return Acted::Ran(runs.into_run(target.action, clock.elapsed().saturating_sub(started)));
    }
    let mut skipped = None;
    let mut left_to_docker = None;
    for container in &containers {
        let state = docker.state(container);
        if let Err(out) = &state
            && out.engine_down
        {
            return Acted::EngineDown(out.stderr.clone());
        }
        if let Ok(state) = state {
            match left_alone(&state, target, clock.now(), seen) {
                Some(Leave::Skip(outcome)) => {
                    skipped = Some(outcome);
                    continue;
                }
                Some(Leave::ToDocker) => {
                    left_to_docker = Some((container.clone(), state));
                    continue;
                }
                None => {}
            }
            match unpaused(docker, container, &state, &mut runs) {
                Err(refused) => return Acted::Refused(refused),
                Ok(false) => continue,
                Ok(true) => {}
            }
            if seen == Seen::Hung && state.status == ContainerStatus::Running && target.action == Action::Restart {
                // Best effort: the restart that follows is what is reported.
                let _ = docker.wake(container);
            }
        }
        let outcome = docker.act(container, target.action, settings.restart_timeout);
        if !outcome.success() && outcome.engine_down && runs.ran == 0 {
            return Acted::EngineDown(outcome.stderr);
        }
        if outcome.refused {
            return Acted::Refused(outcome.stderr);
        }
        runs.record(&container.name, outcome);
    }
    if runs.ran == 0 {
        return match left_to_docker {
            Some((container, state)) => Acted::LeftToDocker(container, state),
            None => Acted::Skipped(skipped.unwrap_or(Outcome::Starting)),
        };
    }
    if target.action == Action::Restart && runs.failures.is_empty() && !clock.interrupted() {
        restart_with(docker, target, &mut runs);
    }
    Acted::Ran(runs.into_run(target.action, clock.elapsed().saturating_sub(started)))
}

/// The target's `restart_with`, in order, each noted in `runs`.
fn restart_with(docker: &dyn Containers, target: &Target, runs: &mut Commands) {
    for dependent in &target.restart_with {
        let dependent = ContainerRef { endpoint: target.endpoint.clone(), name: dependent.clone() };
        runs.record(&dependent.name, docker.act(&dependent, Action::Restart, target.settings.restart_timeout));
    }
}

/// A paused container unpaused first: `Ok(false)` when that failed (noted in `runs`),
/// `Err` (what was refused) when the engine refused it.
fn unpaused(
    docker: &dyn Containers,
    container: &ContainerRef,
    state: &ContainerState,
    runs: &mut Commands,
) -> Result<bool, String> {
    if state.status != ContainerStatus::Paused {
        return Ok(true);
    }
    let out = docker.unpause(container);
    if out.refused {
        return Err(out.stderr);
    }
    Ok(runs.record(&container.name, out))
}

/// Why a container is left alone by the action.
enum Leave {
    /// Not acted on, with this outcome: `Stopped` (ignore_stopped) or `Starting`.
    Skip(Outcome),
    /// Docker's restart policy is bringing it back (see `revived_by_docker`).
    ToDocker,
}

/// Whether the action leaves a container in `state` alone, and why: stopped when the
/// target ignores that, inside its start period, being started by whoever made it,
/// started since the look found it down, or Docker's policy bringing it back.
fn left_alone(state: &ContainerState, target: &Target, now: SystemTime, seen: Seen) -> Option<Leave> {
    let settings = &target.settings;
    if target.ignore_stopped && state.status.is_down() {
        return Some(Leave::Skip(Outcome::Stopped));
    }
    if policy::in_start_period(state.started_at, now, settings.start_period)
        || being_started(state, now, settings.start_period)
    {
        return Some(Leave::Skip(Outcome::Starting));
    }
    if revived_by_docker(state, now, settings.recovery_timeout) {
        return Some(Leave::ToDocker);
    }
    // Started since the look found it down (compose bringing a stack up, an operator):
    // the look's verdict is about a container that is gone.
    (seen == Seen::Down && state.status == ContainerStatus::Running).then_some(Leave::Skip(Outcome::Starting))
}

/// Whether the container was created moments ago (within `start_period`, or 30 s) and
/// not started yet: whoever made it (compose bringing a stack up, say) is starting it,
/// and a start from here would race theirs.
fn being_started(state: &ContainerState, now: SystemTime, start_period: Duration) -> bool {
    let window = start_period.max(Duration::from_secs(30));
    state.status == ContainerStatus::Created
        && state.started_at.is_none()
        && state.created_at.is_some_and(|t| now.duration_since(t).map_or(true, |age| age < window))
}

/// Whether Docker's restart policy is bringing the container back: it is restarting, or
/// the policy started it (`RestartCount` counts only its starts, and a start by hand
/// resets it) within `recovery_timeout`, or within 10 s, the run after which Docker
/// resets its back-off. A restart now would reset that back-off, turning a crash loop
/// that slows down into one that restarts ten times a minute.
fn revived_by_docker(state: &ContainerState, now: SystemTime, recovery_timeout: Duration) -> bool {
    if state.status == ContainerStatus::Restarting {
        return true;
    }
    let window = recovery_timeout.max(Duration::from_secs(10));
    let recent = state.started_at.is_some_and(|t| now.duration_since(t).map_or(true, |age| age < window));
    state.status == ContainerStatus::Running && state.restart_count > 0 && recent
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

/// Polls until the target is healthy or its recovery timeout has passed (or `ends`,
/// the time on `clock` by which the pass must be done, comes first): the recovery, the
/// time it took, and the last reason when it did not come. Each HTTP attempt's timeout
/// is cut to what is left, so the wait never overruns. A Docker-health target recovers
/// when Docker's status turns `healthy`. The wait stops early when the answer is already
/// known: a container is no longer running (it exited again), Docker restarted it again
/// (a crash loop, whatever its restart policy), or Docker's first probe after the
/// restart says unhealthy.
/// With `hand_back`, a recovery still pending after that long is `Pending` (the wait
/// is the onlooker's from then on).
pub(super) fn await_recovery(
    probe: &dyn Probe,
    docker: &dyn Containers,
    clock: &dyn Clock,
    target: &Target,
    ends: Option<Duration>,
    hand_back: Option<Duration>,
) -> (Recovery, Duration, Option<String>) {
    let start = clock.elapsed();
    let waited = || clock.elapsed().saturating_sub(start);
    let by_end = ends.map(|end| end.saturating_sub(start));
    let timeout = target.settings.recovery_timeout;
    let within = by_end.map_or(timeout, |left| left.min(timeout));
    let cut = within < timeout;
    let handed = hand_back.filter(|h| *h < within);
    let within = handed.unwrap_or(within);
    let stop_waiting = |error: Option<String>| match handed {
        Some(h) => (
            Recovery::Pending,
            waited(),
            Some(format!(
                "{}still recovering after {}: the watch looks on until recovery_timeout",
                error.map(|e| format!("{e}; ")).unwrap_or_default(),
                humantime::format_duration(h)
            )),
        ),
        None => (Recovery::NotRecovered, waited(), ended(error, cut)),
    };
    let mut last_state_check = Duration::ZERO;
    let mut runs = Runs::default();
    loop {
        let check = recovery_look(probe, docker, target, within.saturating_sub(waited()));
        if check.healthy() {
            return (Recovery::Recovered, waited(), None);
        }
        if clock.interrupted() {
            return (Recovery::NotRecovered, waited(), Some("the pass was interrupted while waiting".to_string()));
        }
        if check.failed_with(Failure::UnhealthyAfterRestart) {
            return (Recovery::NotRecovered, waited(), check.error_text());
        }
        if waited().saturating_sub(last_state_check) >= STATE_CHECK_INTERVAL || last_state_check.is_zero() {
            last_state_check = waited().max(Duration::from_nanos(1));
            if let Some(why) = runs.broken(docker, target) {
                return (Recovery::NotRecovered, waited(), Some(why));
            }
        }
        let left = within.saturating_sub(waited());
        if left.is_zero() {
            return stop_waiting(check.error_text());
        }
        clock.sleep(POLL_INTERVAL.min(left));
        // No attempt squeezed into the last instant: it would only say "timeout after 1ms".
        if within <= waited() {
            return stop_waiting(check.error_text());
        }
    }
}

/// One look at a restarted target, with `left` of the wait: Docker's HEALTHCHECK for
/// one judged by it, whether it runs for a log check, else one attempt of its own check.
fn recovery_look(probe: &dyn Probe, docker: &dyn Containers, target: &Target, left: Duration) -> Check {
    match &target.health {
        HealthCheck::Docker => docker_recovery_check(docker, target),
        _ => attempt(probe, Some(docker), target, target.settings.timeout.min(left).max(Duration::from_millis(1))),
    }
}

/// The last reason a recovery did not come, saying when the wait was cut short.
fn ended(error: Option<String>, cut: bool) -> Option<String> {
    match cut {
        true => Some(format!(
            "{}the watch ended before recovery_timeout did",
            error.map(|e| format!("{e}; ")).unwrap_or_default()
        )),
        false => error,
    }
}

/// When each of the target's containers started, as first seen after the restart: a
/// later start means Docker brought it back again, so it is crash-looping.
#[derive(Debug, Default)]
struct Runs {
    started: HashMap<String, Option<std::time::SystemTime>>,
}

impl Runs {
    /// Why waiting is pointless: a container is no longer running (exited, dead), is
    /// being restarted by Docker, or was started again since the restart (it died and its
    /// restart policy brought it back: a crash loop).
    fn broken(&mut self, docker: &dyn Containers, target: &Target) -> Option<String> {
        target.container_refs().iter().find_map(|c| {
            let state = docker.state(c).ok()?;
            let first = *self.started.entry(c.name.clone()).or_insert(state.started_at);
            match state.status {
                ContainerStatus::Exited | ContainerStatus::Dead | ContainerStatus::Created => {
                    Some(format!("container {} is {} again after the restart", c.name, state.status))
                }
                ContainerStatus::Restarting => Some(format!(
                    "container {} is restarting: it exited again after the restart and Docker is bringing it back \
                     (a crash loop)",
                    c.name
                )),
                _ if state.started_at.is_some() && first.is_some() && state.started_at != first => Some(format!(
                    "container {} was started again by Docker after the restart: it keeps exiting (a crash loop)",
                    c.name
                )),
                _ => None,
            }
        })
    }
}

/// The containers one action applies to: the engine and the names, joined.
pub(super) type ContainerKey = (Endpoint, String);

/// Runs each container's action at most once per pass; later callers for the same
/// container wait for and share the first one's result.
#[derive(Default)]
pub(super) struct RestartOnce {
    by_container: Mutex<HashMap<ContainerKey, Arc<OnceLock<Acted>>>>,
}

impl RestartOnce {
    pub(super) fn run(&self, key: ContainerKey, act: impl FnOnce() -> Acted) -> Acted {
        let cell = {
            let mut map = self.by_container.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(map.entry(key).or_default())
        };
        cell.get_or_init(act).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(status: &str, started: Option<u64>, created: u64, restarts: u64) -> ContainerState {
        let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        ContainerState {
            status: ContainerStatus::parse(status),
            started_at: started.map(at),
            exit_code: Some(0),
            restart_count: restarts,
            created_at: Some(at(created)),
        }
    }

    #[test]
    fn a_container_made_moments_ago_is_being_started_by_its_maker() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let none = Duration::ZERO;
        assert!(being_started(&state("created", None, 995, 0), now, none));
        // Created long ago and never started: down, healwatch starts it.
        assert!(!being_started(&state("created", None, 900, 0), now, none));
        // A longer start period widens the window.
        assert!(being_started(&state("created", None, 900, 0), now, Duration::from_secs(120)));
        assert!(!being_started(&state("running", Some(999), 995, 0), now, none));
    }

    #[test]
    fn a_container_the_policy_started_moments_ago_is_docker_s_to_bring_back() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let recovery = Duration::from_secs(5);
        assert!(revived_by_docker(&state("restarting", None, 0, 3), now, recovery));
        // Within Docker's own 10 s even when recovery_timeout is shorter.
        assert!(revived_by_docker(&state("running", Some(993), 0, 3), now, recovery));
        assert!(!revived_by_docker(&state("running", Some(980), 0, 3), now, recovery));
        assert!(revived_by_docker(&state("running", Some(980), 0, 3), now, Duration::from_secs(60)));
        // Started by hand (or by healwatch): the count is 0, and a hang is healed.
        assert!(!revived_by_docker(&state("running", Some(999), 0, 0), now, recovery));
    }
}
