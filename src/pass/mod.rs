//! One pass over the targets: check (with retries), judge, act (restart by default),
//! verify recovery. Each target yields one `TargetResult`. Targets run in parallel on at
//! most `concurrency` threads; a container shared by several targets is acted on once
//! per pass, never twice at once. A pass someone started early takes what they saw as
//! evidence (`Hint`), a deadline, and an `Onlooker` that may look on at the targets
//! found healthy while others are healed, and takes over slow recoveries (a watch's
//! `Vigil` is one).

mod act;
mod crash;
mod parallel;
pub(crate) mod policy;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::check::{
    Check, FIRST_LOG_WINDOW, Failure, Probe, attempt, check_with_retries, confirm_unhealthy, docker_health_check,
    log_check,
};
use crate::clock::Clock;
use crate::config::{Config, HealthCheck, Target};
use crate::docker::Containers;
use crate::memory::state::{State, TargetState};
use crate::model::{Action, ActionRun, ContainerStatus, Outcome, Recovery, TargetResult};
use act::{Acted, RestartOnce, Seen, act, await_recovery};
use crash::{crash_loop, crash_report};
pub(crate) use parallel::parallel_map;
use parallel::parallel_map_or;
use policy::Verdict;

/// What a pass works with besides the targets: the two I/O seams, memory and the clock.
pub(crate) struct Pass<'a> {
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
    /// What whoever started the pass early brings to it.
    pub early: Early<'a>,
}

/// What whoever starts a pass early (a watch) brings to it; `Early::none()` for a pass
/// run on its own (cron, a person, `drill`).
#[derive(Clone, Copy)]
pub(crate) struct Early<'a> {
    /// What was seen of the targets just before this pass began, by target name.
    pub hints: &'a Hints,
    /// When (on the pass's clock) the pass must be done: a recovery wait is cut to it.
    pub deadline: Option<Duration>,
    /// Who looks on beside the pass, if anyone.
    pub onlooker: Option<&'a dyn Onlooker>,
}

impl Early<'_> {
    /// A pass run on its own: no evidence, no deadline, nobody looking on.
    pub(crate) fn none() -> Early<'static> {
        Early { hints: &NO_HINTS, deadline: None, onlooker: None }
    }
}

/// How a target is healed: with what was seen of it first, calling its second argument
/// once the target is judged, with whether it is to be acted on.
pub(crate) type Heal<'a> = dyn Fn(Option<&Hint>, &dyn Fn(bool)) -> TargetResult + 'a;

/// Whoever started a pass and looks on beside it (a watch): it may keep looking at the
/// targets found healthy while others are healed, and it takes over the recoveries that
/// outlast what it lets the pass wait.
pub(crate) trait Onlooker: Sync {
    /// Readies for a pass over `targets` targets on `workers` threads.
    fn begin(&self, targets: usize, workers: usize);
    /// Heals `target` through `heal` (first with `first`) and, while the pass goes on,
    /// heals it again whenever `look` (one attempt, within its bound) finds it failing:
    /// the last heal's result.
    fn keep(
        &self,
        target: &Target,
        first: Option<&Hint>,
        clock: &dyn Clock,
        heal: &Heal,
        look: &dyn Fn(Duration) -> Check,
    ) -> TargetResult;
    /// A worker thread could not be started: no target may wait on another.
    fn disarm(&self);
    /// How long the pass waits for `target` to recover before it hands the wait over
    /// (`Recovery::Pending`); `None`: the whole recovery_timeout.
    fn hand_back(&self, target: &Target) -> Option<Duration>;
}

/// What whoever started a pass early (a watch) saw of a target just before, which the
/// pass takes as evidence instead of finding it out again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hint {
    /// A watch round's attempt failed, `spent` before this pass began: it is the first
    /// attempt of this pass's check, so the blip rule's clock started with it.
    Failed { check: Check, spent: Duration },
    /// Docker's events said a container of the target was paused: if it still is, the
    /// target is decided at once (a frozen process answers nothing, however long one waits).
    Paused,
    /// An earlier pass restarted it and handed its recovery over (`Recovery::Pending`),
    /// and its recovery_timeout has not run out: still failing, it is left to start
    /// (`starting`), not restarted again.
    Recovering,
}

/// How many passes in a row Docker's `unhealthy` must go unconfirmed (healwatch's run of
/// its check did not start) before healwatch restarts on Docker's word alone.
const UNCONFIRMED_PASSES: u32 = 3;

/// Hints by target name.
pub(crate) type Hints = BTreeMap<String, Hint>;

/// No hints: a pass that was not started early.
static NO_HINTS: Hints = BTreeMap::new();

/// Checks, judges and heals every target of the pass's `roster`, as `config` says (how
/// many at once, whether to act); results come back in the roster's order, with any
/// warning about the pass itself (fewer worker threads than asked for).
pub(crate) fn run_pass(config: &Config, roster: &[Target], pass: &Pass) -> (Vec<TargetResult>, Vec<String>) {
    let restarts = RestartOnce::default();
    let workers = config.concurrency.min(roster.len()).max(1);
    if let Some(onlooker) = pass.early.onlooker {
        onlooker.begin(roster.len(), workers);
    }
    // Fewer threads than targets (a process limit): no thread may wait on another.
    let (results, not_started) = parallel_map_or(
        roster,
        workers,
        || pass.early.onlooker.iter().for_each(|o| o.disarm()),
        |target| {
            let heal = |hint: Option<&Hint>, judged: &dyn Fn(bool)| {
                heal_target(target, hint, judged, config.dry_run, pass, &restarts)
            };
            let hint = pass.early.hints.get(&target.name);
            match pass.early.onlooker {
                None => heal(hint, &|_| ()),
                Some(onlooker) => {
                    let look = |timeout| attempt(pass.probe, pass.inspector, target, timeout);
                    onlooker.keep(target, hint, pass.clock, &heal, &look)
                }
            }
        },
    );
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

/// Looks at `target` (`hint` is what the watch saw), judges it (and calls `judged` with
/// whether it is to be acted on) and heals it.
fn heal_target(
    target: &Target,
    hint: Option<&Hint>,
    judged: &dyn Fn(bool),
    dry_run: bool,
    pass: &Pass,
    restarts: &RestartOnce,
) -> TargetResult {
    if pass.clock.interrupted() {
        return TargetResult {
            outcome: Outcome::Interrupted,
            error: Some("the pass was interrupted before this target was checked".to_string()),
            ..TargetResult::new(&target.name, &target.container, target.url_display())
        };
    }
    let memory = pass.memory.targets.get(&target.name).cloned().unwrap_or_default();
    let now = pass.clock.now();
    let (check, mut result) = look(pass, target, hint, &memory);
    if decided_before_judging(pass, target, hint, &check, &memory, &mut result) {
        return result;
    }
    let verdict = policy::judge(check.healthy(), &target.settings, &memory, now, dry_run);
    judged(verdict == Verdict::Restart);
    let Some(docker) = act_on(verdict, pass.docker, target, &mut result) else { return result };
    let Some(run) = acted(pass, docker, target, &check, restarts, &mut result) else { return result };
    record_action(pass, docker, target, run, &mut result);
    result
}

/// The action on `target`'s containers (once per container per pass), or, when it did
/// not run, why, written to `result` as its outcome.
fn acted(
    pass: &Pass,
    docker: &dyn Containers,
    target: &Target,
    check: &Check,
    restarts: &RestartOnce,
    result: &mut TargetResult,
) -> Option<ActionRun> {
    let key = (target.endpoint.clone(), target.replicas.join(","));
    let seen = Seen::of(check, target);
    let check =
        |result: &mut TargetResult| result.error.take().map(|e| format!("; the check: {e}")).unwrap_or_default();
    match restarts.run(key, || act(docker, target, pass.clock, seen)) {
        Acted::Ran(run) => return Some(run),
        Acted::Skipped(outcome) => result.outcome = outcome,
        Acted::LeftToDocker(container, state) => {
            result.outcome = Outcome::Unhealthy;
            // The full inspect adds whether memory ended it.
            let (code, oom, restarts) = match docker.inspect(&container) {
                Ok(info) => (info.exit_code, info.oom_killed, info.restart_count),
                Err(_) => (state.exit_code, false, state.restart_count),
            };
            let why = crash_report(docker, &container, code, oom, restarts);
            result.error = Some(format!("{why}{}", check(result)));
        }
        Acted::EngineDown(why) => {
            result.outcome = Outcome::EngineDown;
            let name = target.endpoint.name();
            result.error = Some(format!("docker engine {name} is unreachable: {why}{}", check(result)));
        }
    }
    None
}

/// What the action that ran did: its outcome, and the wait for a restarted target to
/// recover.
fn record_action(pass: &Pass, docker: &dyn Containers, target: &Target, run: ActionRun, result: &mut TargetResult) {
    let success = run.success();
    result.action = Some(run);
    if target.log_pattern.is_some() {
        // Lines the old process wrote never count again.
        result.logs_until = Some(pass.clock.now() + pass.clock.elapsed());
    }
    result.outcome = match (success, target.action) {
        // Cut short by a signal (the docker CLI killed with the pass): not a failure of
        // the restart, and not one the crash-loop guard counts.
        (false, _) if pass.clock.interrupted() => Outcome::Interrupted,
        (false, _) => Outcome::RestartFailed,
        (true, Action::Restart) => Outcome::Restarted,
        (true, _) => Outcome::Acted,
    };
    if result.outcome != Outcome::Restarted {
        return;
    }
    result.recovery = Recovery::NotWaited;
    if !target.settings.recovery_timeout.is_zero() {
        recover(pass, docker, target, result);
    }
}

/// The outcomes settled before any verdict, none of which acts: a recovery the watch still
/// owns (`starting`), a target that cannot be checked (`invalid`), a crash loop Docker's
/// policy is restarting (left to it), Docker's word unconfirmed (`failing`). Whether
/// `result` is final.
fn decided_before_judging(
    pass: &Pass,
    target: &Target,
    hint: Option<&Hint>,
    check: &Check,
    memory: &TargetState,
    result: &mut TargetResult,
) -> bool {
    let recovering = hint == Some(&Hint::Recovering) && target.facts.down.is_none();
    if !check.healthy() && recovering {
        result.outcome = Outcome::Starting;
        let why = result.error.take().map(|e| format!("{e}; ")).unwrap_or_default();
        result.error =
            Some(format!("{why}still recovering from its restart: the watch looks on until recovery_timeout"));
        return true;
    }
    if check.failed_with(Failure::Uncheckable) {
        result.outcome = Outcome::Invalid;
        return true;
    }
    if !check.healthy()
        && target.facts.restarting
        && let Some(why) = crash_loop(pass.inspector, target)
    {
        // Docker's restart policy is bringing it back: a restart would only reset its
        // back-off (about ten starts a minute instead of one every 13 s, and slowing).
        result.outcome = Outcome::Unhealthy;
        let check = result.error.take().map(|e| format!("; the check: {e}")).unwrap_or_default();
        result.error = Some(format!("{why}{check}"));
        return true;
    }
    held_back(check, memory, result)
}

/// Docker's `unhealthy` that healwatch's run of the check could not confirm (the engine
/// did not start it in time) is held back, as `failing`, until it has been so for
/// `UNCONFIRMED_PASSES` passes in a row: on a busy engine Docker's own probe may have timed
/// out for the same reason. Whether `result` was held back.
fn held_back(check: &Check, memory: &TargetState, result: &mut TargetResult) -> bool {
    if !check.failed_with(Failure::Unconfirmed) || memory.consecutive_failures + 1 >= UNCONFIRMED_PASSES {
        return false;
    }
    result.outcome = Outcome::Failing;
    let why = result.error.take().unwrap_or_default();
    result.error =
        Some(format!("{why}; not restarted on Docker's word alone before {UNCONFIRMED_PASSES} passes in a row"));
    true
}

/// Waits for a restarted target to recover, as long as the pass should, and records it.
fn recover(pass: &Pass, docker: &dyn Containers, target: &Target, result: &mut TargetResult) {
    let hand_back = pass.early.onlooker.and_then(|o| o.hand_back(target));
    let (recovery, elapsed, error) =
        await_recovery(pass.probe, docker, pass.clock, target, pass.early.deadline, hand_back);
    if target.log_pattern.is_some() {
        result.logs_until = Some(pass.clock.now() + pass.clock.elapsed());
    }
    result.recovery = recovery;
    result.recovery_time = (recovery == Recovery::Recovered).then_some(elapsed);
    result.recovery_error = error;
}

/// The pass's look at a target: its first check (with retries), Docker's `unhealthy`
/// confirmed by running the HEALTHCHECK's command, and its new log lines; the check, and
/// the result with what was seen.
fn look(pass: &Pass, target: &Target, hint: Option<&Hint>, memory: &TargetState) -> (Check, TargetResult) {
    let now = pass.clock.now();
    let (mut check, attempts) = first_check(pass, target, hint);
    let mut docker_said = None;
    if let (HealthCheck::Docker, true, Some(inspector)) =
        (&target.health, check.failed_with(Failure::DockerUnhealthy), pass.inspector)
        && let Some(own) = confirm_unhealthy(inspector, target)
    {
        // Docker's word is confirmed before anything is restarted on it.
        if own.healthy() {
            docker_said = Some("unhealthy");
        }
        check = own;
    }
    let mut logs_until = None;
    if let (true, Some(pattern), Some(inspector)) = (check.healthy(), &target.log_pattern, pass.inspector) {
        // Only lines logged since the last scan (or the last restart) count.
        let since = memory.logs_read_until.or(memory.last_time).unwrap_or(now - FIRST_LOG_WINDOW).min(now);
        check = log_check(inspector, target, pattern, since, now);
        logs_until = Some(now);
    }
    let result = TargetResult {
        check: target.health.kind(),
        http_status: check.http_status,
        latency: check.latency,
        attempts,
        error: check.error_text(),
        docker_said,
        logs_until,
        ..TargetResult::new(&target.name, &target.container, target.url_display())
    };
    (check, result)
}

/// The docker CLI to act with when the verdict is to restart and there is one to act
/// with; otherwise `None`, with the outcome the verdict means set on `result`.
fn act_on<'a>(
    verdict: Verdict,
    docker: Option<&'a dyn Containers>,
    target: &Target,
    result: &mut TargetResult,
) -> Option<&'a dyn Containers> {
    result.outcome = match (verdict, docker) {
        (Verdict::Leave, _) => return None,
        (Verdict::Paused { until }, _) => {
            result.paused_until = Some(until);
            Outcome::Paused
        }
        (Verdict::Failing { .. }, _) => Outcome::Failing,
        (Verdict::GaveUp { next_restart_at }, _) => {
            result.next_restart_at = next_restart_at;
            Outcome::GaveUp
        }
        (Verdict::Report, _) | (Verdict::Restart, None) => Outcome::Unhealthy,
        (Verdict::Restart, Some(_)) if target.action == Action::Notify => Outcome::Unhealthy,
        (Verdict::Restart, Some(docker)) => return Some(docker),
    };
    None
}

/// The pass's first look at a target: HTTP, TCP or a command in the container, with
/// retries; or Docker's HEALTHCHECK status as the pass's container listing saw it (Docker
/// already retries its own probes); or nothing, for a target that only watches its logs.
fn first_check(pass: &Pass, target: &Target, hint: Option<&Hint>) -> (Check, u32) {
    if let Some(down) = &target.facts.down {
        // Nothing a check finds can make it healthy (a paused process still completes a
        // TCP handshake), and no wait helps: decided at once.
        return (Check::failed(Failure::Container, down, Duration::ZERO), 0);
    }
    let one = |timeout: Duration| attempt(pass.probe, pass.inspector, target, timeout);
    let decided = || container_down(pass.inspector, target);
    match &target.health {
        HealthCheck::Http(_) | HealthCheck::Tcp(_) | HealthCheck::Exec(_) => match hint {
            Some(Hint::Paused) if let Some(paused) = container_down(pass.inspector, target) => (paused, 0),
            Some(Hint::Failed { check, spent }) => {
                check_with_retries(&one, &decided, pass.clock, target, Some((check, *spent)))
            }
            _ => check_with_retries(&one, &decided, pass.clock, target, None),
        },
        HealthCheck::Docker if target.facts.paused => {
            let error = "the container is paused: frozen, it runs no HEALTHCHECK and answers nothing";
            (Check::failed(Failure::Container, error, Duration::ZERO), 0)
        }
        HealthCheck::Docker => {
            let facts = &target.facts;
            (docker_health_check(facts.docker_health.as_ref(), facts.docker_output.as_deref()), 0)
        }
        HealthCheck::Logs => (Check::passed(None, Duration::ZERO), 0),
    }
}

/// Docker's word that waiting cannot help: the first of the target's containers that is
/// paused (a frozen process answers nothing, however long one waits), exited, dead or
/// created and never started, as a failed check saying so.
fn container_down(docker: Option<&dyn Containers>, target: &Target) -> Option<Check> {
    let docker = docker?;
    target.container_refs().into_iter().find_map(|c| {
        let state = docker.state(&c).ok()?;
        if state.status == ContainerStatus::Restarting {
            // Docker is bringing it back: the retries see whether it comes.
            return None;
        }
        let why = state.status.not_serving(state.exit_code)?;
        Some(Check::failed(Failure::Container, format!("container {} {why}", c.name), Duration::ZERO))
    })
}
