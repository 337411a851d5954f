//! Pure decisions: from what a check found, what healwatch remembers and the time, to what
//! the pass should do; and from what the pass did, to what it remembers next. No I/O, no
//! clock, no environment: `now` is a parameter.

use std::time::{Duration, SystemTime};

use crate::config::Target;
use crate::memory::state::{State, TargetState, VERSION};
use crate::model::{Outcome, Recovery, TargetResult};
use crate::settings::Settings;

/// What to do about one target after its check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Healthy: nothing to do.
    Leave,
    /// In a maintenance pause: report, never restart.
    Paused {
        /// When the pause ends.
        until: SystemTime,
    },
    /// Failing, but fewer passes in a row than `failure_threshold`.
    Failing {
        /// Failed passes in a row, this one included.
        failures: u32,
    },
    /// The crash-loop guard: `max_restarts` reached within the window.
    GaveUp {
        /// When the oldest restart leaves the window.
        next_restart_at: Option<SystemTime>,
    },
    /// Would restart, but this is a dry run.
    Report,
    /// Restart its container (unless it is still in its start period).
    Restart,
}

/// Judges one target. `memory` is what the last passes left; the failure being judged
/// is not in it yet.
pub(crate) fn judge(
    healthy: bool,
    settings: &Settings,
    memory: &TargetState,
    now: SystemTime,
    dry_run: bool,
) -> Verdict {
    if let Some(until) = memory.paused_until(now) {
        return Verdict::Paused { until };
    }
    if healthy {
        return Verdict::Leave;
    }
    let failures = memory.consecutive_failures.saturating_add(1);
    if failures < settings.failure_threshold {
        return Verdict::Failing { failures };
    }
    let recent = memory.restarts_in_window(now, settings.restart_window);
    if guard_tripped(recent.len(), settings) {
        let next_restart_at = recent.iter().min().and_then(|&oldest| oldest.checked_add(settings.restart_window));
        return Verdict::GaveUp { next_restart_at };
    }
    if dry_run { Verdict::Report } else { Verdict::Restart }
}

/// The crash-loop guard: `max_restarts` (when not 0) restarts within the window.
pub(crate) fn guard_tripped(restarts_in_window: usize, settings: &Settings) -> bool {
    settings.max_restarts > 0 && restarts_in_window >= settings.max_restarts as usize
}

/// Whether a container that started at `started_at` is still in its start period.
pub(crate) fn in_start_period(started_at: Option<SystemTime>, now: SystemTime, start_period: Duration) -> bool {
    match started_at {
        Some(started) if !start_period.is_zero() => now.duration_since(started).map_or(true, |age| age < start_period),
        _ => false,
    }
}

/// What healwatch remembers after a pass: the entries of the targets it checked,
/// updated from their results; every other entry as it was (a cron config's memory,
/// pauses included, survives an ad-hoc `-t` pass), unless nobody has checked it for
/// `forget_after` and it is not paused.
pub(crate) fn remember(
    previous: &State,
    targets: &[Target],
    results: &[TargetResult],
    now: SystemTime,
    forget_after: Duration,
) -> State {
    let mut next = State { version: VERSION, ..previous.clone() };
    for (target, result) in targets.iter().zip(results) {
        let before = next.targets.remove(&target.name).unwrap_or_default();
        next.targets.insert(target.name.clone(), remember_one(before, &target.settings, result, now));
    }
    next.targets.retain(|_, m| {
        let recent = m.last_time.is_some_and(|t| now.duration_since(t).map_or(true, |age| age < forget_after));
        recent || m.paused_until(now).is_some()
    });
    next
}

/// Remembers the containers discovery could not make targets of (`invalid`), so that
/// `changes` tells of one once, when it turns invalid, and again when it is a target
/// once more.
pub(crate) fn remember_invalid(next: &mut State, invalid: &[TargetResult], now: SystemTime) {
    for result in invalid {
        let memory = next.targets.entry(result.name.clone()).or_default();
        memory.last_outcome = Some(Outcome::Invalid);
        memory.last_time = Some(now);
    }
}

/// The targets whose story moved in this pass, each with the outcome it had before: a
/// docker command ran for it, or its outcome differs from the one remembered (a new target
/// counts as healthy before). A restart the last pass saw recover (no failure counted
/// since) ended its story there: healthy now is no news.
pub(crate) fn changes(results: &[&TargetResult], previous: &State) -> Vec<(String, Outcome)> {
    results
        .iter()
        .filter_map(|r| {
            let memory = previous.targets.get(&r.name);
            let before = match memory.and_then(|m| m.last_outcome).unwrap_or(Outcome::Healthy) {
                Outcome::Restarted if memory.is_some_and(|m| m.consecutive_failures == 0) => Outcome::Healthy,
                before => before,
            };
            (r.action.is_some() || r.outcome != before).then(|| (r.name.clone(), before))
        })
        .collect()
}

/// The `--quiet` rule: a pass is worth printing when a target changed (`changes`) or its
/// warnings differ from the last pass's. A known, unchanged problem stays silent:
/// metrics, alerts and the first notification carry it.
pub(crate) fn worth_telling(changed: &[String], warnings: &[String], previous: &State) -> bool {
    !changed.is_empty() || warnings != previous.last_warnings.as_slice()
}

fn remember_one(mut memory: TargetState, settings: &Settings, result: &TargetResult, now: SystemTime) -> TargetState {
    if result.outcome == Outcome::Interrupted {
        // Not checked: nothing learned.
        return memory;
    }
    let check_failed = result.error.is_some();
    let recovered = result.recovery == Recovery::Recovered;
    let healthy = !check_failed || recovered;
    memory.consecutive_failures = if healthy { 0 } else { memory.consecutive_failures.saturating_add(1) };

    let mut recent: Vec<SystemTime> = memory.restarts_in_window(now, settings.restart_window);
    memory.healthy_since = match (result.action.is_some(), healthy) {
        // A restart that has not failed yet: held if no pass finds it failing within
        // stable_after and a later one finds it healthy.
        (true, _) => {
            matches!(result.recovery, Recovery::Recovered | Recovery::NotWaited | Recovery::Pending).then_some(now)
        }
        (false, true) => memory.healthy_since.or(Some(now)),
        (false, false) => None,
    };
    if result.action.is_some() {
        recent.push(now);
    }
    let held =
        memory.healthy_since.is_some_and(|since| now.duration_since(since).is_ok_and(|d| d >= settings.stable_after));
    let gave_up = memory.last_outcome == Some(Outcome::GaveUp);
    if (!check_failed && gave_up) || (held && result.action.is_none()) {
        // Healthy again after the guard stopped restarting, or healthy for stable_after
        // since the last restart (every restart so far held): a fresh start.
        recent.clear();
    }
    if recent.is_empty() {
        memory.healthy_since = None;
    }
    memory.recent_restarts = recent;
    match result.outcome {
        Outcome::Restarted | Outcome::Recreated => memory.restarts_total = memory.restarts_total.saturating_add(1),
        Outcome::RestartFailed => memory.restart_failures_total = memory.restart_failures_total.saturating_add(1),
        _ => {}
    }
    memory.last_outcome = Some(result.outcome);
    memory.last_time = Some(now);
    if let Some(until) = result.logs_until {
        memory.logs_read_until = Some(until);
    }
    if let Some(provider) = &result.provider {
        memory.provider = Some(provider.clone());
    }
    if memory.paused_until(now).is_none() {
        memory.paused_until = None;
    }
    memory
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, ActionRun};
    use crate::settings::BUILTIN;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_000_000 + secs)
    }

    fn memory(failures: u32, restarts: &[u64], paused_until: Option<u64>) -> TargetState {
        TargetState {
            consecutive_failures: failures,
            recent_restarts: restarts.iter().map(|&s| at(s)).collect(),
            paused_until: paused_until.map(at),
            ..TargetState::default()
        }
    }

    #[test]
    fn verdicts() {
        let threshold3 = Settings { failure_threshold: 3, ..BUILTIN };
        let never_give_up = Settings { max_restarts: 0, ..BUILTIN };
        let w = BUILTIN.restart_window.as_secs();
        // (what, healthy, settings, memory, now, dry_run, verdict)
        let cases = [
            ("healthy", true, BUILTIN, memory(0, &[], None), 0, false, Verdict::Leave),
            ("first failure restarts", false, BUILTIN, memory(0, &[], None), 0, false, Verdict::Restart),
            ("dry run", false, BUILTIN, memory(0, &[], None), 0, true, Verdict::Report),
            ("below threshold", false, threshold3, memory(1, &[], None), 0, false, Verdict::Failing { failures: 2 }),
            ("reaches threshold", false, threshold3, memory(2, &[], None), 0, false, Verdict::Restart),
            ("two restarts in window", false, BUILTIN, memory(5, &[100, 200], None), 300, false, Verdict::Restart),
            (
                "third restart in window gives up",
                false,
                BUILTIN,
                memory(5, &[100, 200, 300], None),
                100 + w - 1,
                false,
                Verdict::GaveUp { next_restart_at: Some(at(100 + w)) },
            ),
            (
                "oldest falls out of the window",
                false,
                BUILTIN,
                memory(5, &[100, 200, 300], None),
                100 + w,
                false,
                Verdict::Restart,
            ),
            ("never give up", false, never_give_up, memory(5, &[1, 2, 3, 4], None), 5, false, Verdict::Restart),
            ("paused", false, BUILTIN, memory(0, &[], Some(2000)), 1000, false, Verdict::Paused { until: at(2000) }),
            (
                "paused and healthy",
                true,
                BUILTIN,
                memory(0, &[], Some(2000)),
                1000,
                false,
                Verdict::Paused { until: at(2000) },
            ),
            ("pause over", false, BUILTIN, memory(0, &[], Some(1000)), 1000, false, Verdict::Restart),
        ];
        for (what, healthy, settings, mem, now, dry_run, want) in cases {
            assert_eq!(judge(healthy, &settings, &mem, at(now), dry_run), want, "{what}");
        }
    }

    fn report(outcome: Outcome, error: Option<&str>, restarted: bool, recovery: Recovery) -> TargetResult {
        TargetResult {
            outcome,
            attempts: 1,
            error: error.map(String::from),
            action: restarted.then(|| ActionRun {
                action: Action::Restart,
                exit_code: Some(0),
                duration: Duration::ZERO,
                stderr: String::new(),
            }),
            recovery,
            ..TargetResult::new("app", "app", String::new())
        }
    }

    #[test]
    fn what_a_pass_leaves_behind() {
        let s = BUILTIN;
        let now = at(1000);
        let failing = report(Outcome::Failing, Some("503"), false, Recovery::NotRestarted);
        let m = remember_one(memory(1, &[], None), &s, &failing, now);
        assert_eq!((m.consecutive_failures, m.recent_restarts.len()), (2, 0));
        assert_eq!(m.last_outcome, Some(Outcome::Failing));
        assert_eq!(m.last_time, Some(now));

        let recovered = report(Outcome::Restarted, Some("503"), true, Recovery::Recovered);
        let m = remember_one(memory(2, &[900], None), &s, &recovered, now);
        assert_eq!((m.consecutive_failures, m.restarts_total), (0, 1));
        assert_eq!(m.recent_restarts, [at(900), now]);

        let not_recovered = report(Outcome::Restarted, Some("503"), true, Recovery::NotRecovered);
        assert_eq!(remember_one(memory(2, &[], None), &s, &not_recovered, now).consecutive_failures, 3);

        let failed = report(Outcome::RestartFailed, Some("503"), true, Recovery::NotRestarted);
        let m = remember_one(memory(0, &[], None), &s, &failed, now);
        assert_eq!(
            (m.restart_failures_total, m.restarts_total, m.recent_restarts.len()),
            (1, 0, 1),
            "a failed attempt counts toward the guard"
        );

        let healthy = report(Outcome::Healthy, None, false, Recovery::NotRestarted);
        let gave_up = TargetState { last_outcome: Some(Outcome::GaveUp), ..memory(4, &[990, 995, 999], None) };
        let m = remember_one(gave_up, &s, &healthy, now);
        assert!(
            m.recent_restarts.is_empty() && m.consecutive_failures == 0,
            "healthy after giving up resets the guard"
        );
        let m = remember_one(memory(4, &[990], Some(500)), &s, &healthy, now);
        assert_eq!(
            (m.recent_restarts.len(), m.paused_until),
            (1, None),
            "below the limit restarts stay; an old pause is dropped"
        );
    }

    /// Passes every 15 s for `secs` seconds; the target breaks at each of `breaks` and a
    /// restart `holds` (recovers) or not. The verdicts each failed pass got.
    fn story(settings: Settings, secs: u64, breaks: &[u64], holds: bool) -> Vec<Verdict> {
        let mut m = TargetState::default();
        let mut verdicts = Vec::new();
        let mut broken = false;
        for t in (0..secs).step_by(15) {
            broken |= breaks.contains(&t);
            let result = match (broken, judge(!broken, &settings, &m, at(t), false)) {
                (false, _) => report(Outcome::Healthy, None, false, Recovery::NotRestarted),
                (true, v @ Verdict::Restart) => {
                    verdicts.push(v);
                    broken = !holds;
                    let recovery = if holds { Recovery::Recovered } else { Recovery::NotRecovered };
                    report(Outcome::Restarted, Some("503"), true, recovery)
                }
                (true, v) => {
                    verdicts.push(v);
                    report(Outcome::GaveUp, Some("503"), false, Recovery::NotRestarted)
                }
            };
            m = remember_one(m, &settings, &result, at(t));
        }
        verdicts
    }

    #[test]
    fn the_guard_counts_restarts_that_did_not_hold() {
        // Broken five times in four minutes, healthy after each restart: healed all five
        // times (it gave up at the fourth when every restart counted).
        let breaks = [0, 45, 105, 150, 210];
        assert_eq!(story(BUILTIN, 240, &breaks, true), [Verdict::Restart; 5]);
        let every_restart_counts = Settings { stable_after: Duration::from_secs(3600), ..BUILTIN };
        let verdicts = story(every_restart_counts, 240, &breaks, true);
        assert!(matches!(
            verdicts[..],
            [Verdict::Restart, Verdict::Restart, Verdict::Restart, Verdict::GaveUp { .. }, ..]
        ));
        // Restarts that never hold: three, then the guard.
        let verdicts = story(BUILTIN, 120, &[0], false);
        assert!(matches!(
            verdicts[..],
            [Verdict::Restart, Verdict::Restart, Verdict::Restart, Verdict::GaveUp { .. }, ..]
        ));
    }

    #[test]
    fn unchecked_entries_are_kept_until_forgotten() {
        let week = Duration::from_secs(7 * 24 * 3600);
        let checked_at = |s: u64| TargetState { last_time: Some(at(s)), ..memory(1, &[], None) };
        let mut previous = State { version: VERSION, ..State::default() };
        previous.targets.insert("cron".into(), checked_at(0));
        previous.targets.insert("old".into(), checked_at(0));
        previous.targets.insert(
            "paused".into(),
            TargetState { last_time: Some(at(0)), ..memory(0, &[], Some(2 * week.as_secs())) },
        );
        let target =
            crate::config::Target::http("app", "app", crate::model::HealthUrl::parse("http://127.0.0.1:1/").unwrap());
        let ok = report(Outcome::Healthy, None, false, Recovery::NotRestarted);
        let next = remember(&previous, std::slice::from_ref(&target), std::slice::from_ref(&ok), at(60), week);
        let names: Vec<&String> = next.targets.keys().collect();
        assert_eq!(names, ["app", "cron", "old", "paused"], "a -t pass forgets nothing");
        assert_eq!(next.targets["cron"], previous.targets["cron"], "kept as it was");
        let next = remember(&previous, &[target], &[ok], at(week.as_secs()), week);
        let names: Vec<&String> = next.targets.keys().collect();
        assert_eq!(names, ["app", "paused"], "a week unchecked: forgotten, unless paused");
    }

    #[test]
    fn quiet_tells_only_what_changed() {
        let mut previous = State { version: VERSION, ..State::default() };
        let gave_up_before = TargetState { last_outcome: Some(Outcome::GaveUp), ..TargetState::default() };
        previous.targets.insert("app".into(), gave_up_before);
        let gave_up = report(Outcome::GaveUp, Some("503"), false, Recovery::NotRestarted);
        let restarted = report(Outcome::Restarted, Some("503"), true, Recovery::Recovered);
        let healthy = report(Outcome::Healthy, None, false, Recovery::NotRestarted);
        let warning = vec!["metrics: no dir".to_string()];
        let worth_telling = |results: &[&TargetResult], warnings: &[String], previous: &State| {
            let changed: Vec<String> = changes(results, previous).into_iter().map(|(name, _)| name).collect();
            worth_telling(&changed, warnings, previous)
        };
        assert!(!worth_telling(&[&gave_up], &[], &previous), "known and unchanged");
        assert!(worth_telling(&[&restarted], &[], &previous), "a docker command ran");
        assert!(worth_telling(&[&healthy], &[], &previous), "recovered: changed");
        assert!(worth_telling(&[&gave_up], &warning, &previous), "a new warning");
        previous.last_warnings = warning.clone();
        assert!(!worth_telling(&[&gave_up], &warning, &previous), "the same warning");
        let new_healthy = TargetResult { name: "new".into(), ..healthy.clone() };
        assert!(!worth_telling(&[&new_healthy], &warning, &previous), "a new healthy target");
        // After a restart: a confirmed recovery was the news; healthy next is not. An
        // unconfirmed one (a failure counted) makes healthy next the news.
        let healed = TargetState { last_outcome: Some(Outcome::Restarted), ..TargetState::default() };
        previous.targets.insert("app".into(), healed.clone());
        assert!(!worth_telling(&[&healthy], &warning, &previous), "the recovery was already told");
        let unconfirmed = TargetState { consecutive_failures: 1, ..healed };
        previous.targets.insert("app".into(), unconfirmed);
        assert!(worth_telling(&[&healthy], &warning, &previous), "back after a recovery not seen");
        // Each change names its target and what it was before.
        previous
            .targets
            .insert("app".into(), TargetState { last_outcome: Some(Outcome::GaveUp), ..TargetState::default() });
        let other = TargetResult { name: "db".into(), ..restarted.clone() };
        assert_eq!(
            changes(&[&healthy, &other, &new_healthy], &previous),
            [("app".to_string(), Outcome::GaveUp), ("db".to_string(), Outcome::Healthy)]
        );
        assert_eq!(changes(&[&gave_up], &previous), [], "the give-up is old news");
    }

    #[test]
    fn start_period() {
        let p = Duration::from_secs(60);
        assert!(in_start_period(Some(at(0)), at(59), p));
        assert!(!in_start_period(Some(at(0)), at(60), p));
        assert!(!in_start_period(Some(at(0)), at(1), Duration::ZERO));
        assert!(!in_start_period(None, at(1), p), "never started: no start period");
        assert!(in_start_period(Some(at(100)), at(1), p), "clock skew counts as just started");
    }
}
