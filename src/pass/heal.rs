//! After the look, each stage of a target's heal as a value: what settles it before any
//! verdict, what the verdict settles, whether the action ran, and what the action and
//! the wait for recovery did. `heal_target` (mod.rs) chains them.

use std::time::SystemTime;

use super::act::{Acted, RestartOnce, Seen, act, await_recovery};
use super::crash::{crash_loop, crash_report};
use super::policy::Verdict;
use super::{Hint, Pass, UNCONFIRMED_PASSES};
use crate::check::{Check, Failure};
use crate::config::Target;
use crate::docker::Containers;
use crate::memory::state::TargetState;
use crate::model::{Action, ActionRun, Outcome, Recovery, TargetResult};

/// A target's pass that ended without an action to wait on: its outcome, and what the
/// result says besides its check's words.
#[derive(Debug)]
pub(super) struct Settled {
    outcome: Outcome,
    said: Said,
    paused_until: Option<SystemTime>,
    next_restart_at: Option<SystemTime>,
}

/// How a settled target's error reads, from its check's words (`e`).
#[derive(Debug)]
enum Said {
    /// `e`, as it was.
    Check,
    /// `why; the check: e`: the cause first, the check after.
    Cause(String),
    /// `e; more`: the check, then what came of it.
    Then(String),
}

impl Settled {
    fn as_is(outcome: Outcome) -> Self {
        Self { outcome, said: Said::Check, paused_until: None, next_restart_at: None }
    }

    fn saying(outcome: Outcome, said: Said) -> Self {
        Self { said, ..Self::as_is(outcome) }
    }

    /// The result `seen` by the look, ended so.
    pub(super) fn onto(self, seen: TargetResult) -> TargetResult {
        let check = seen.error.clone();
        let error = match self.said {
            Said::Check => check,
            Said::Cause(why) => {
                Some(format!("{why}{}", check.map(|e| format!("; the check: {e}")).unwrap_or_default()))
            }
            Said::Then(more) => Some(format!("{}{more}", check.map(|e| format!("{e}; ")).unwrap_or_default())),
        };
        TargetResult {
            outcome: self.outcome,
            error,
            paused_until: self.paused_until.or(seen.paused_until),
            next_restart_at: self.next_restart_at.or(seen.next_restart_at),
            ..seen
        }
    }
}

/// What an action that ran did, and the wait for the target to recover after it.
#[derive(Debug)]
pub(super) struct Healed {
    outcome: Outcome,
    action: ActionRun,
    /// Log lines up to here were the old process's (a log-watching target).
    logs_until: Option<SystemTime>,
    recovery: Recovery,
    recovery_time: Option<std::time::Duration>,
    recovery_error: Option<String>,
}

impl Healed {
    /// The result `seen` by the look, ended so.
    pub(super) fn onto(self, seen: TargetResult) -> TargetResult {
        TargetResult {
            outcome: self.outcome,
            action: Some(self.action),
            logs_until: self.logs_until.or(seen.logs_until),
            recovery: self.recovery,
            recovery_time: self.recovery_time,
            recovery_error: self.recovery_error,
            ..seen
        }
    }
}

/// The outcomes settled before any verdict, none of which acts: a recovery handed over
/// and still running (`starting`), a target that cannot be checked (`invalid`), a crash
/// loop Docker's policy is restarting (left to it), Docker's word unconfirmed (`failing`).
pub(super) fn before_judging(
    pass: &Pass,
    target: &Target,
    hint: Option<&Hint>,
    check: &Check,
    memory: &TargetState,
) -> Option<Settled> {
    let recovering = hint == Some(&Hint::Recovering) && target.facts.down.is_none();
    if !check.healthy() && recovering {
        let more = "still recovering from its restart: the watch looks on until recovery_timeout";
        return Some(Settled::saying(Outcome::Starting, Said::Then(more.to_string())));
    }
    if check.failed_with(Failure::Uncheckable) {
        return Some(Settled::as_is(Outcome::Invalid));
    }
    if check.failed_with(Failure::Refused) {
        // What healwatch may not do is no failure of the target's, and no restart helps.
        return Some(Settled::as_is(Outcome::Unhealthy));
    }
    if !check.healthy() && target.facts.restarting {
        // Docker's restart policy is bringing it back: a restart would only reset its
        // back-off (about ten starts a minute instead of one every 13 s, and slowing).
        if let Some(why) = crash_loop(pass.inspector, target) {
            return Some(Settled::saying(Outcome::Unhealthy, Said::Cause(why)));
        }
    }
    held_back(check, memory)
}

/// Docker's `unhealthy` that healwatch's run of the check could not confirm (the engine
/// did not start it in time) is held back, as `failing`, until it has been so for
/// `UNCONFIRMED_PASSES` passes in a row: on a busy engine Docker's own probe may have timed
/// out for the same reason.
fn held_back(check: &Check, memory: &TargetState) -> Option<Settled> {
    if !check.failed_with(Failure::Unconfirmed) || memory.consecutive_failures + 1 >= UNCONFIRMED_PASSES {
        return None;
    }
    let more = format!("not restarted on Docker's word alone before {UNCONFIRMED_PASSES} passes in a row");
    Some(Settled::saying(Outcome::Failing, Said::Then(more)))
}

/// The docker CLI to act with when the verdict is to restart and there is one to act
/// with; otherwise what the verdict settles (`None`: nothing, the look stands).
pub(super) fn act_on<'a>(
    verdict: Verdict,
    docker: Option<&'a dyn Containers>,
    target: &Target,
) -> Result<&'a dyn Containers, Option<Settled>> {
    let outcome = match (verdict, docker) {
        (Verdict::Leave, _) => return Err(None),
        (Verdict::Paused { until }, _) => {
            return Err(Some(Settled { paused_until: Some(until), ..Settled::as_is(Outcome::Paused) }));
        }
        (Verdict::Failing { .. }, _) => Outcome::Failing,
        (Verdict::GaveUp { next_restart_at }, _) => {
            return Err(Some(Settled { next_restart_at, ..Settled::as_is(Outcome::GaveUp) }));
        }
        (Verdict::Report, _) | (Verdict::Restart, None) => Outcome::Unhealthy,
        (Verdict::Restart, Some(_)) if target.action == Action::Notify => Outcome::Unhealthy,
        (Verdict::Restart, Some(docker)) => return Ok(docker),
    };
    Err(Some(Settled::as_is(outcome)))
}

/// The action on `target`'s containers (once per container per pass), or, when it did
/// not run, why.
pub(super) fn acted(
    pass: &Pass,
    docker: &dyn Containers,
    target: &Target,
    check: &Check,
    restarts: &RestartOnce,
) -> Result<ActionRun, Settled> {
    let key = (target.endpoint.clone(), target.replicas.join(","));
    let seen = Seen::of(check, target);
    match restarts.run(key, || act(docker, target, pass.clock, seen)) {
        Acted::Ran(run) => Ok(run),
        Acted::Skipped(outcome) => Err(Settled::as_is(outcome)),
        Acted::LeftToDocker(container, state) => {
            // The full inspect adds whether memory ended it.
            let (code, oom, restarts) = match docker.inspect(&container) {
                Ok(info) => (info.exit_code, info.oom_killed, info.restart_count),
                Err(_) => (state.exit_code, false, state.restart_count),
            };
            let why = crash_report(docker, &container, code, oom, restarts);
            Err(Settled::saying(Outcome::Unhealthy, Said::Cause(why)))
        }
        Acted::Refused(why) => Err(Settled::saying(Outcome::Unhealthy, Said::Cause(why))),
        Acted::EngineDown(why) => {
            let why = format!("docker engine {} is unreachable: {why}", target.endpoint.name());
            Err(Settled::saying(Outcome::EngineDown, Said::Cause(why)))
        }
    }
}

/// What the action that ran did: its outcome, and the wait for a restarted target to
/// recover.
pub(super) fn record_action(pass: &Pass, docker: &dyn Containers, target: &Target, run: ActionRun) -> Healed {
    // Lines the old process wrote never count again.
    let logs_until = || target.log_pattern.as_ref().map(|_| pass.clock.now() + pass.clock.elapsed());
    let outcome = match (run.success(), target.action) {
        // Cut short by a signal (the docker CLI killed with the pass): not a failure of
        // the restart, and not one the crash-loop guard counts.
        (false, _) if pass.clock.interrupted() => Outcome::Interrupted,
        (false, _) => Outcome::RestartFailed,
        (true, Action::Restart) => Outcome::Restarted,
        (true, _) => Outcome::Acted,
    };
    let mut healed = Healed {
        outcome,
        action: run,
        logs_until: logs_until(),
        recovery: Recovery::NotRestarted,
        recovery_time: None,
        recovery_error: None,
    };
    if outcome != Outcome::Restarted {
        return healed;
    }
    healed.recovery = Recovery::NotWaited;
    if !target.settings.recovery_timeout.is_zero() {
        let hand_back = pass.early.onlooker.and_then(|o| o.hand_back(target));
        let (recovery, elapsed, error) =
            await_recovery(pass.probe, docker, pass.clock, target, pass.early.deadline, hand_back);
        healed.logs_until = logs_until().or(healed.logs_until);
        healed.recovery = recovery;
        healed.recovery_time = (recovery == Recovery::Recovered).then_some(elapsed);
        healed.recovery_error = error;
    }
    healed
}
