//! One pass over the targets: check (with retries), judge, act (restart by default),
//! verify recovery. Each target yields one `TargetResult`. Targets run in parallel on at
//! most `concurrency` threads; a container shared by several targets is acted on once
//! per pass, never twice at once. A pass someone started early takes what they saw as
//! evidence (`Hint`), a deadline, and an `Onlooker` that may look on at the targets
//! found healthy while others are healed, and takes over slow recoveries (a watch's
//! `Vigil` is one).

mod act;
mod crash;
mod heal;
mod lean;
mod look;
mod parallel;
pub(crate) mod policy;
mod recreate;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::check::{Check, Probe, attempt};
use crate::clock::Clock;
use crate::config::{Config, Target};
use crate::docker::Containers;
use crate::memory::state::State;
use crate::model::{Outcome, TargetResult, WatchPace};
use act::RestartOnce;
use look::look;
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
    /// The pace of the watch that runs the pass, for its status line.
    pub pace: Option<WatchPace>,
}

impl Early<'_> {
    /// A pass run on its own: no evidence, no deadline, nobody looking on.
    pub(crate) fn none() -> Early<'static> {
        Early { hints: &NO_HINTS, deadline: None, onlooker: None, pace: None }
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
    /// Its provider restarted under it (the pass found so just before its look, see
    /// `lean`): its check fails with these words, at once.
    Stale(String),
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
    let mut results: Vec<Option<TargetResult>> = vec![None; roster.len()];
    let mut warnings = Vec::new();
    // A target that leans on another is healed after it (`graph::levels`): one level
    // for a roster without dependents, as before.
    for level in crate::graph::levels(roster) {
        let earlier: Vec<(&Target, &TargetResult)> =
            roster.iter().zip(&results).filter_map(|(t, r)| r.as_ref().map(|r| (t, r))).collect();
        let (found, warning) = run_level(config, (roster, &level), pass, &restarts, &earlier);
        warnings.extend(warning);
        for (i, result) in level.into_iter().zip(found) {
            results[i] = Some(result);
        }
    }
    let results = results.into_iter().zip(roster).map(|(r, t)| r.unwrap_or_else(|| unreached(t))).collect();
    (results, warnings)
}

/// The targets `level` of `roster` side by side, with what the pass found of the
/// levels before (`earlier`); any warning about the threads.
fn run_level(
    config: &Config,
    (roster, level): (&[Target], &[usize]),
    pass: &Pass,
    restarts: &RestartOnce,
    earlier: &[(&Target, &TargetResult)],
) -> (Vec<TargetResult>, Option<String>) {
    let workers = config.concurrency.min(level.len()).max(1);
    if let Some(onlooker) = pass.early.onlooker {
        onlooker.begin(level.len(), workers);
    }
    // Fewer threads than targets (a process limit): no thread may wait on another.
    let (results, not_started) = parallel_map_or(
        level,
        workers,
        || pass.early.onlooker.iter().for_each(|o| o.disarm()),
        |&i| {
            let target = &roster[i];
            let heal = |hint: Option<&Hint>, judged: &dyn Fn(bool)| {
                heal_target(target, hint, judged, (config.dry_run, earlier), pass, restarts)
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
    let warning = (not_started > 0).then(|| {
        format!(
            "could not start {not_started} of {workers} worker threads (a process limit?): \
             checked with {} at once",
            workers - not_started
        )
    });
    (results, warning)
}

/// A target no level reached (none is left out; this only keeps the order whole).
fn unreached(target: &Target) -> TargetResult {
    TargetResult {
        outcome: Outcome::Interrupted,
        error: Some("the pass did not reach this target".to_string()),
        ..TargetResult::new(&target.name, &target.container, target.url_display())
    }
}

/// Looks at `target` (`hint` is what was seen of it before the pass), judges it (and
/// calls `judged` with whether it is to be acted on) and heals it: look, what settles it
/// before a verdict, the verdict, the action, the recovery; each stage a value, and the
/// result the look's, ended by the last stage reached.
fn heal_target(
    target: &Target,
    hint: Option<&Hint>,
    judged: &dyn Fn(bool),
    (dry_run, earlier): (bool, &[(&Target, &TargetResult)]),
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
    // A dependent's providers first: one that restarted under it makes its look fail.
    let (stale, cause);
    let hint = match lean::before_look(pass, target, earlier) {
        Some(lean::Lean::Stale { cause: why_now, why }) => {
            (stale, cause) = (Hint::Stale(why), Some(why_now));
            Some(&stale)
        }
        Some(lean::Lean::Stranded { why, provider: Some(provider) }) if target.settings.recreate_dependents => {
            let seen =
                lean::Lean::Stranded { why, provider: None }.settled(target).unwrap_or_else(|| unreached(target));
            return recreate::heal_stranded(pass, target, &memory, &provider, seen);
        }
        Some(other) => return other.settled(target).unwrap_or_else(|| unreached(target)),
        None => {
            cause = None;
            hint
        }
    };
    let mut seen = look(pass, target, hint, &memory);
    seen.result.cause = cause;
    seen.result.provider = lean::provider(target);
    if let Some(early) = heal::before_judging(pass, target, hint, &seen.check, &memory) {
        return early.onto(seen.result);
    }
    let verdict = policy::judge(seen.check.healthy(), &target.settings, &memory, now, dry_run);
    judged(verdict == Verdict::Restart);
    let docker = match heal::act_on(verdict, pass.docker, target) {
        Ok(docker) => docker,
        Err(None) => return seen.result,
        Err(Some(by_verdict)) => return by_verdict.onto(seen.result),
    };
    match heal::acted(pass, docker, target, &seen.check, restarts) {
        Ok(run) => heal::record_action(pass, docker, target, run).onto(seen.result),
        Err(not_run) => not_run.onto(seen.result),
    }
}
