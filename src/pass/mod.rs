//! One pass over the targets: check (with retries), judge, act (restart by default),
//! verify recovery. Each target yields one `TargetResult`. Targets run in parallel on at
//! most `concurrency` threads; a container shared by several targets is acted on once
//! per pass, never twice at once. In a watch's pass, targets found healthy are looked at
//! again while others are healed (`vigil`).

mod act;
mod parallel;
pub(crate) mod policy;
#[cfg(test)]
mod tests;
mod vigil;

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
use crate::model::{Action, ActionRun, ContainerRef, ContainerStatus, Outcome, Recovery, TargetResult};
use act::{Acted, RestartOnce, Seen, act, await_recovery};
pub(crate) use parallel::parallel_map;
use parallel::parallel_map_or;
use policy::Verdict;
use vigil::Vigil;

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
    /// What a watch saw just before it started this pass, by target name.
    pub hints: &'a Hints,
    /// Set in a watch's pass: when it must be done, and how often the watch looks.
    pub watch: Option<InWatch>,
}

/// What a pass that a watch runs keeps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InWatch {
    /// When (on the pass's clock) the watch ends: a recovery wait is cut to it.
    pub ends: Duration,
    /// How often the watch looks at its healthy targets: while the pass heals some, it
    /// looks at the others this often (see `vigil`).
    pub every: Duration,
}

/// What a watch (`run --watch`) saw of a target between passes, which the pass that it
/// started early takes as evidence instead of finding it out again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hint {
    /// A watch round's attempt failed, `spent` before this pass began: it is the first
    /// attempt of this pass's check, so the blip rule's clock started with it.
    Failed { check: Check, spent: Duration },
    /// Docker's events said a container of the target was paused: if it still is, the
    /// target is decided at once (a frozen process answers nothing, however long one waits).
    Paused,
    /// An earlier pass of the watch restarted it and handed its recovery to the watch,
    /// whose recovery_timeout has not run out: still failing, it is left to start
    /// (`starting`), not restarted again.
    Recovering,
}

/// How many passes in a row Docker's `unhealthy` must go unconfirmed (healwatch's run of
/// its check did not start) before healwatch restarts on Docker's word alone.
const UNCONFIRMED_PASSES: u32 = 3;

/// Hints by target name.
pub(crate) type Hints = BTreeMap<String, Hint>;

/// No hints: a pass that was not started early by a watch.
pub(crate) static NO_HINTS: Hints = BTreeMap::new();

/// Checks, judges and heals every target; results come back in config order, with any
/// warning about the pass itself (fewer worker threads than asked for).
pub(crate) fn run_pass(config: &Config, pass: &Pass) -> (Vec<TargetResult>, Vec<String>) {
    let restarts = RestartOnce::default();
    let workers = config.concurrency.min(config.targets.len()).max(1);
    let vigil = Vigil::new(pass.watch, config.targets.len(), workers);
    // Fewer threads than targets (a process limit): no thread may wait on another.
    let (results, not_started) = parallel_map_or(
        &config.targets,
        workers,
        || vigil.disarm(),
        |target| {
            let heal = |hint: Option<&Hint>, judged: &dyn Fn(bool)| {
                heal_target(target, hint, judged, config.dry_run, pass, &restarts)
            };
            let look = |timeout| attempt(pass.probe, pass.inspector, target, timeout);
            vigil.keep(target, pass.hints.get(&target.name), pass.clock, heal, look)
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
    let recovering = hint == Some(&Hint::Recovering) && target.listed_down.is_none();
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
        && target.listed_restarting
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
    // A watch looks at HTTP and TCP targets between passes: it takes a slow recovery
    // over. It hears Docker's HEALTHCHECK turn healthy, which takes a probe interval at
    // least: that wait is the watch's at once, after one look at the container.
    let hand_back = match target.health {
        _ if pass.watch.is_none() => None,
        HealthCheck::Http(_) | HealthCheck::Tcp(_) => Some(act::HAND_BACK),
        HealthCheck::Docker { .. } => Some(Duration::ZERO),
        _ => None,
    };
    let (recovery, elapsed, error) =
        await_recovery(pass.probe, docker, pass.clock, target, pass.watch.map(|w| w.ends), hand_back);
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
    if let (HealthCheck::Docker { .. }, true, Some(inspector)) =
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
    if let Some(down) = &target.listed_down {
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
        HealthCheck::Docker { paused: true, .. } => {
            let error = "the container is paused: frozen, it runs no HEALTHCHECK and answers nothing";
            (Check::failed(Failure::Container, error, Duration::ZERO), 0)
        }
        HealthCheck::Docker { observed, output, .. } => (docker_health_check(observed.as_ref(), output.as_deref()), 0),
        HealthCheck::Logs => (Check::passed(None, Duration::ZERO), 0),
    }
}

/// Whether Docker's restart policy is restarting one of the target's containers (a crash
/// loop): said with its cause, the last exit and whether memory ended it, so one
/// notification carries it (it stays `unhealthy` while it loops: no news until it changes).
fn crash_loop(docker: Option<&dyn Containers>, target: &Target) -> Option<String> {
    let docker = docker?;
    target.container_refs().into_iter().find_map(|c| {
        // One inspect says all of it: still restarting, and why.
        let info = docker.inspect(&c).ok().filter(|i| i.status == ContainerStatus::Restarting)?;
        Some(crash_report(docker, &c, info.exit_code, info.oom_killed, info.restart_count))
    })
}

/// A crash loop said with its cause: the last exit (`exit_code`, 0 while running says
/// nothing), whether memory ended it, how often Docker restarted it, and its last log lines.
fn crash_report(
    docker: &dyn Containers,
    c: &ContainerRef,
    exit_code: Option<i64>,
    oom_killed: bool,
    restarts: u64,
) -> String {
    let code = exit_code.filter(|code| *code != 0);
    let mut cause = code.map(|code| format!("it exited {code}")).unwrap_or_else(|| "it keeps exiting".to_string());
    if oom_killed {
        cause.push_str(", killed for memory (OOMKilled)");
    }
    match restarts {
        0 => {}
        1 => cause.push_str(", restarted once by Docker"),
        n => cause.push_str(&format!(", restarted {n} times by Docker")),
    }
    cause.push_str(&last_words(docker, c));
    format!(
        "container {} is in a crash loop: {cause}; Docker's restart policy is restarting it, and healwatch leaves it \
         to Docker (a restart would reset Docker's back-off): see `docker logs {}`",
        c.name, c.name
    )
}

/// How many of a crash-looping container's last log lines its report carries.
const LAST_WORDS: usize = 3;

/// `; its last log lines: "…" | "…"`: what the container said before it died, each line
/// from outside so made one short printable line with secrets masked; nothing when its
/// log is empty or unreadable (the report stands without it).
fn last_words(docker: &dyn Containers, c: &crate::model::ContainerRef) -> String {
    let lines = docker.log_tail(c, LAST_WORDS).unwrap_or_default();
    let shown: Vec<String> = lines
        .iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| format!("\"{}\"", crate::model::one_line(&crate::model::redact_text(line.trim()), 160)))
        .collect();
    if shown.is_empty() { String::new() } else { format!("; its last log lines: {}", shown.join(" | ")) }
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
