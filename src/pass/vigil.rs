//! While a watch's pass heals some of its targets, it keeps looking at the others it
//! found healthy, as often as the watch looks between passes. A service that breaks
//! while others restart and recover is healed in this pass, at once, instead of after
//! the pass (which waits up to `act::HAND_BACK` for its recoveries) and the next look.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use super::{Hint, InWatch};
use crate::check::Check;
use crate::clock::Clock;
use crate::config::{HealthCheck, Target};
use crate::model::{Outcome, TargetResult};

/// How often a thread that keeps looking sees whether the heals it waits on are done:
/// the pass ends at most this long after its last heal.
const SLICE: Duration = Duration::from_millis(50);

/// The shortest look worth making (as the watch's own looks).
const MIN_LOOK: Duration = Duration::from_millis(50);

/// How long one wait for the pass's other targets to be judged lasts before it looks
/// at the clock (a signal, the watch's end) again.
const JUDGED_WAIT: Duration = Duration::from_secs(1);

/// The watch to keep to, and how far the pass's targets are.
pub(super) struct Vigil {
    /// The watch, when every target has a thread of its own: a thread that keeps looking
    /// must never keep another target from its first look.
    watch: Option<InWatch>,
    /// Set when a target's thread could not be started after all (a process limit):
    /// the looks stop, and nobody waits for targets no thread will take up.
    disarmed: AtomicBool,
    progress: Mutex<Progress>,
    judged: Condvar,
}

/// Counted under one lock, so no thread sees a target judged but not yet done with.
#[derive(Debug)]
struct Progress {
    /// Targets not judged yet (looked at, a verdict reached): the looks begin when every
    /// one is, so none is looked at twice before all were looked at once.
    unjudged: usize,
    /// Targets whose first heal has not ended, and heals the looks started.
    busy: usize,
}

impl Vigil {
    /// For a pass over `targets` targets on `workers` threads.
    pub(super) fn new(watch: Option<InWatch>, targets: usize, workers: usize) -> Self {
        Self {
            watch: watch.filter(|_| workers >= targets),
            disarmed: AtomicBool::new(false),
            progress: Mutex::new(Progress { unjudged: targets, busy: targets }),
            judged: Condvar::new(),
        }
    }

    /// Heals `target` with the watch's hint (`first`); `heal` calls its second argument
    /// once the target is judged, with whether it is to be acted on. Then, if it was found
    /// healthy, it looks (`look`) every `every` for as long as other targets are being
    /// judged or healed; a look that fails is the first attempt of a heal, at once. The
    /// last heal's result. Only HTTP and TCP targets are looked at so (as the watch looks).
    pub(super) fn keep(
        &self,
        target: &Target,
        first: Option<&Hint>,
        clock: &dyn Clock,
        heal: impl Fn(Option<&Hint>, &dyn Fn(bool)) -> TargetResult,
        look: impl Fn(Duration) -> Check,
    ) -> TargetResult {
        let done = Cell::new(false);
        let judged = Cell::new(false);
        let mark = |acting: bool| {
            let mut progress = self.lock();
            if !judged.replace(true) {
                progress.unjudged = progress.unjudged.saturating_sub(1);
                // Only the last verdict wakes the waiters: a wake-up per verdict woke every
                // healthy target's thread once per target (20 targets: 400 wake-ups a pass).
                if progress.unjudged == 0 {
                    self.judged.notify_all();
                }
            }
            if !acting && !done.replace(true) {
                progress.busy = progress.busy.saturating_sub(1);
            }
        };
        let mut result = heal(first, &mark);
        mark(false);
        let Some(watch) = self.watch.filter(|_| !self.is_disarmed()) else { return result };
        if !matches!(target.health, HealthCheck::Http(_) | HealthCheck::Tcp(_)) || target.listed_down.is_some() {
            return result;
        }
        let bound = target.settings.timeout.min(target.settings.decide_within);
        self.await_judged(clock, watch.ends);
        let mut next = clock.elapsed() + watch.every;
        while result.outcome == Outcome::Healthy {
            while self.busy() && clock.elapsed() < next && !clock.interrupted() {
                clock.sleep(SLICE.min(next.saturating_sub(clock.elapsed())));
            }
            // Near the watch's end a look is cut to what is left, as the watch's own are.
            let left = watch.ends.saturating_sub(clock.elapsed());
            if !self.busy() || clock.interrupted() || left < MIN_LOOK || self.is_disarmed() {
                break;
            }
            next = clock.elapsed() + watch.every;
            let began = clock.elapsed();
            let check = look(bound.min(left));
            if check.healthy() {
                continue;
            }
            self.lock().busy += 1;
            let hint = Hint::Failed { check, spent: clock.elapsed().saturating_sub(began) };
            result = heal(Some(&hint), &|_| ());
            self.lock().busy -= 1;
        }
        result
    }

    /// Waits until every target of the pass is judged, a signal comes or the watch ends.
    fn await_judged(&self, clock: &dyn Clock, ends: Duration) {
        let mut progress = self.lock();
        while progress.unjudged > 0 && !clock.interrupted() && clock.elapsed() < ends && !self.is_disarmed() {
            progress = match self.judged.wait_timeout(progress, JUDGED_WAIT) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Not every target has a thread after all: stops the looks and the waits.
    pub(super) fn disarm(&self) {
        self.disarmed.store(true, Ordering::SeqCst);
        let _progress = self.lock();
        self.judged.notify_all();
    }

    fn is_disarmed(&self) -> bool {
        self.disarmed.load(Ordering::SeqCst)
    }

    fn busy(&self) -> bool {
        self.lock().busy > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::SystemTime;

    use super::*;
    use crate::check::Failure;
    use crate::clock::FakeClock;
    use crate::model::HealthUrl;

    fn target(name: &str) -> Target {
        let mut t = Target::http(name, name, HealthUrl::parse("http://127.0.0.1:9/health").unwrap());
        t.settings.timeout = Duration::from_millis(50);
        t
    }

    fn result(name: &str, outcome: Outcome) -> TargetResult {
        TargetResult { outcome, ..TargetResult::new(name, name, String::new()) }
    }

    fn watch() -> Option<InWatch> {
        Some(InWatch { ends: Duration::from_secs(55), every: Duration::from_secs(1) })
    }

    /// Runs "slow"'s first heal on a thread of its own: judged to be restarted, it heals
    /// until the test sends on the channel.
    fn slow<'s>(scope: &'s std::thread::Scope<'s, '_>, vigil: &'s Vigil, clock: &'s FakeClock) -> mpsc::Sender<()> {
        let (release, released) = mpsc::channel::<()>();
        scope.spawn(move || {
            let heal = |_: Option<&Hint>, judged: &dyn Fn(bool)| {
                judged(true);
                let _ = released.recv_timeout(Duration::from_secs(10));
                result("slow", Outcome::Restarted)
            };
            vigil.keep(&target("slow"), None, clock, heal, |_| Check::passed(Some(200), Duration::ZERO))
        });
        release
    }

    #[test]
    fn a_look_that_fails_while_another_heals_starts_a_heal_with_it_as_the_first_attempt() {
        let vigil = Vigil::new(watch(), 2, 2);
        let clock = FakeClock::at(SystemTime::UNIX_EPOCH);
        let (looks, heals) = (Cell::new(Vec::new()), Cell::new(Vec::new()));
        let late = std::thread::scope(|scope| {
            let release = slow(scope, &vigil, &clock);
            let heal = |hint: Option<&Hint>, _: &dyn Fn(bool)| {
                let mut seen = heals.take();
                seen.push(hint.cloned());
                heals.set(seen);
                match hint {
                    None => result("late", Outcome::Healthy),
                    Some(_) => result("late", Outcome::Restarted),
                }
            };
            // Healthy at the first look (1 s), refused at the second (2 s).
            let look = |_| {
                let mut at = looks.take();
                at.push(clock.elapsed());
                let healthy = at.len() < 2;
                looks.set(at);
                if healthy {
                    Check::passed(Some(200), Duration::ZERO)
                } else {
                    Check::failed(Failure::Connection, "connection refused", Duration::ZERO)
                }
            };
            let late = vigil.keep(&target("late"), None, &clock, heal, look);
            release.send(()).unwrap();
            late
        });
        assert_eq!(late.outcome, Outcome::Restarted);
        assert_eq!(looks.take(), [Duration::from_secs(1), Duration::from_secs(2)]);
        let heals = heals.take();
        assert_eq!(heals.len(), 2);
        assert!(matches!(&heals[1], Some(Hint::Failed { check, .. }) if !check.healthy()), "{heals:?}");
    }

    #[test]
    fn the_looks_end_when_the_others_are_healed_or_the_watch_ends() {
        // "slow" is released at the first look: no second look follows.
        let vigil = Vigil::new(watch(), 2, 2);
        let clock = FakeClock::at(SystemTime::UNIX_EPOCH);
        let looks = Cell::new(0);
        let late = std::thread::scope(|scope| {
            let release = slow(scope, &vigil, &clock);
            let look = |_| {
                looks.set(looks.get() + 1);
                let _ = release.send(());
                // Wait for "slow" to be done, as a real look takes a while.
                for _ in 0..1000 {
                    if !vigil.busy() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Check::passed(Some(200), Duration::ZERO)
            };
            vigil.keep(&target("late"), None, &clock, |_, _| result("late", Outcome::Healthy), look)
        });
        assert_eq!((late.outcome, looks.get()), (Outcome::Healthy, 1));
        // A watch that ends too soon after the next look is due: none.
        let short = Some(InWatch { ends: Duration::from_millis(1_030), every: Duration::from_secs(1) });
        let vigil = Vigil::new(short, 2, 2);
        let clock = FakeClock::at(SystemTime::UNIX_EPOCH);
        std::thread::scope(|scope| {
            let release = slow(scope, &vigil, &clock);
            let looked = Cell::new(false);
            let r = vigil.keep(
                &target("late"),
                None,
                &clock,
                |_, _| result("late", Outcome::Healthy),
                |_| {
                    looked.set(true);
                    Check::passed(Some(200), Duration::ZERO)
                },
            );
            release.send(()).unwrap();
            assert_eq!((r.outcome, looked.get()), (Outcome::Healthy, false));
        });
    }

    #[test]
    fn a_look_near_the_watchs_end_is_cut_to_what_is_left() {
        let ends = Some(InWatch { ends: Duration::from_millis(1_500), every: Duration::from_secs(1) });
        let vigil = Vigil::new(ends, 2, 2);
        let clock = FakeClock::at(SystemTime::UNIX_EPOCH);
        let bounds = Cell::new(Vec::new());
        std::thread::scope(|scope| {
            let release = slow(scope, &vigil, &clock);
            let look = |bound| {
                let mut seen = bounds.take();
                seen.push(bound);
                bounds.set(seen);
                Check::passed(Some(200), Duration::ZERO)
            };
            let mut late = target("late");
            late.settings.timeout = Duration::from_secs(2);
            vigil.keep(&late, None, &clock, |_, _| result("late", Outcome::Healthy), look);
            release.send(()).unwrap();
        });
        // At 1 s, 0.5 s before the end, a look of 0.5 s (not the 2 s timeout); none at 2 s.
        assert_eq!(bounds.take(), [Duration::from_millis(500)]);
    }

    #[test]
    fn a_pass_run_by_cron_or_with_fewer_threads_than_targets_looks_once() {
        for vigil in [Vigil::new(None, 2, 2), Vigil::new(watch(), 2, 1)] {
            let clock = FakeClock::at(SystemTime::UNIX_EPOCH);
            let looked = Cell::new(false);
            let r = vigil.keep(
                &target("a"),
                None,
                &clock,
                |_, _| result("a", Outcome::Healthy),
                |_| {
                    looked.set(true);
                    Check::passed(Some(200), Duration::ZERO)
                },
            );
            assert_eq!((r.outcome, looked.get(), clock.elapsed()), (Outcome::Healthy, false, Duration::ZERO));
        }
    }
}
