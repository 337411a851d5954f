//! The watch beside each of its passes (`pass::Onlooker`): while a pass heals some of
//! the targets, it keeps looking at the others it found healthy, as often as the watch
//! looks between passes. A service that breaks while others restart and recover is
//! healed in this pass, at once, instead of after the pass (which waits up to
//! `HAND_BACK` for its recoveries) and the next look.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::check::Check;
use crate::clock::Clock;
use crate::config::{HealthCheck, Target};
use crate::model::{Outcome, TargetResult};
use crate::pass::{Heal, Hint, Onlooker};

/// How long a watch's pass waits for an HTTP or TCP target to recover before it hands
/// the wait to the watch, which looks on every `--watch-every`: a slow start must not blind the
/// watch to every other target.
pub(super) const HAND_BACK: Duration = Duration::from_secs(3);

/// How often a thread that keeps looking sees whether the heals it waits on are done:
/// the pass ends at most this long after its last heal.
const SLICE: Duration = Duration::from_millis(50);

/// The shortest look worth making (as the watch's own looks).
const MIN_LOOK: Duration = Duration::from_millis(50);

/// How long one wait for the pass's other targets to be judged lasts before it looks
/// at the clock (a signal, the watch's end) again.
const JUDGED_WAIT: Duration = Duration::from_secs(1);

/// The watch's end and pace, and how far the pass's targets are.
pub(super) struct Vigil {
    /// When (on the pass's clock) the watch ends.
    ends: Duration,
    /// How often the watch looks at its healthy targets.
    every: Duration,
    /// Set when not every target has a thread of its own (a thread that keeps looking
    /// must never keep another target from its first look), or when a target's thread
    /// could not be started after all (a process limit): the looks stop, and nobody
    /// waits for targets no thread will take up.
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
    /// For a pass that must be done by `ends` (on its clock), in a watch that looks
    /// every `every`.
    pub(super) fn new(ends: Duration, every: Duration) -> Self {
        Self {
            ends,
            every,
            disarmed: AtomicBool::new(false),
            progress: Mutex::new(Progress { unjudged: 0, busy: 0 }),
            judged: Condvar::new(),
        }
    }
}

impl Onlooker for Vigil {
    fn begin(&self, targets: usize, workers: usize) {
        *self.lock() = Progress { unjudged: targets, busy: targets };
        self.disarmed.store(workers < targets, Ordering::SeqCst);
    }

    /// Heals `target` with the watch's hint (`first`); `heal` calls its second argument
    /// once the target is judged, with whether it is to be acted on. Then, if it was found
    /// healthy, it looks (`look`) every `every` for as long as other targets are being
    /// judged or healed; a look that fails is the first attempt of a heal, at once. The
    /// last heal's result. Only HTTP and TCP targets are looked at so (as the watch looks).
    fn keep(
        &self,
        target: &Target,
        first: Option<&Hint>,
        clock: &dyn Clock,
        heal: &Heal,
        look: &dyn Fn(Duration) -> Check,
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
        if self.is_disarmed()
            || !matches!(target.health, HealthCheck::Http(_) | HealthCheck::Tcp(_))
            || target.facts.down.is_some()
        {
            return result;
        }
        let bound = target.settings.timeout.min(target.settings.decide_within);
        self.await_judged(clock, self.ends);
        let mut next = clock.elapsed() + self.every;
        while result.outcome == Outcome::Healthy {
            while self.busy() && clock.elapsed() < next && !clock.interrupted() {
                clock.sleep(SLICE.min(next.saturating_sub(clock.elapsed())));
            }
            // Near the watch's end a look is cut to what is left, as the watch's own are.
            let left = self.ends.saturating_sub(clock.elapsed());
            if !self.busy() || clock.interrupted() || left < MIN_LOOK || self.is_disarmed() {
                break;
            }
            next = clock.elapsed() + self.every;
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

    /// Not every target has a thread after all: stops the looks and the waits.
    fn disarm(&self) {
        self.disarmed.store(true, Ordering::SeqCst);
        let _progress = self.lock();
        self.judged.notify_all();
    }

    /// The watch looks at HTTP and TCP targets between passes: it takes a slow recovery
    /// over. It hears Docker's HEALTHCHECK turn healthy, which takes a probe interval at
    /// least: that wait is the watch's at once, after one look at the container.
    fn hand_back(&self, target: &Target) -> Option<Duration> {
        match target.health {
            HealthCheck::Http(_) | HealthCheck::Tcp(_) => Some(HAND_BACK),
            HealthCheck::Docker => Some(Duration::ZERO),
            _ => None,
        }
    }
}

impl Vigil {
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
    use crate::check::{Failure, Probe};
    use crate::clock::FakeClock;
    use crate::config::Config;
    use crate::docker::fake::FakeDocker;
    use crate::memory::state::State;
    use crate::model::HealthUrl;
    use crate::pass::{Early, Pass, run_pass};

    fn target(name: &str) -> Target {
        let mut t = Target::http(name, name, HealthUrl::parse("http://127.0.0.1:9/health").unwrap());
        t.settings.timeout = Duration::from_millis(50);
        t
    }

    fn result(name: &str, outcome: Outcome) -> TargetResult {
        TargetResult { outcome, ..TargetResult::new(name, name, String::new()) }
    }

    /// A vigil over a pass of `targets` on `workers` threads, in a watch that ends `ends`
    /// from its start and looks every second.
    fn vigil_for(ends: Duration, targets: usize, workers: usize) -> Vigil {
        let vigil = Vigil::new(ends, Duration::from_secs(1));
        vigil.begin(targets, workers);
        vigil
    }

    fn watch() -> Duration {
        Duration::from_secs(55)
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
            vigil.keep(&target("slow"), None, clock, &heal, &|_| Check::passed(Some(200), Duration::ZERO))
        });
        release
    }

    #[test]
    fn a_look_that_fails_while_another_heals_starts_a_heal_with_it_as_the_first_attempt() {
        let vigil = vigil_for(watch(), 2, 2);
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
            let late = vigil.keep(&target("late"), None, &clock, &heal, &look);
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
        let vigil = vigil_for(watch(), 2, 2);
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
            vigil.keep(&target("late"), None, &clock, &|_, _| result("late", Outcome::Healthy), &look)
        });
        assert_eq!((late.outcome, looks.get()), (Outcome::Healthy, 1));
        // A watch that ends too soon after the next look is due: none.
        let vigil = vigil_for(Duration::from_millis(1_030), 2, 2);
        let clock = FakeClock::at(SystemTime::UNIX_EPOCH);
        std::thread::scope(|scope| {
            let release = slow(scope, &vigil, &clock);
            let looked = Cell::new(false);
            let r = vigil.keep(&target("late"), None, &clock, &|_, _| result("late", Outcome::Healthy), &|_| {
                looked.set(true);
                Check::passed(Some(200), Duration::ZERO)
            });
            release.send(()).unwrap();
            assert_eq!((r.outcome, looked.get()), (Outcome::Healthy, false));
        });
    }

    #[test]
    fn a_look_near_the_watchs_end_is_cut_to_what_is_left() {
        let vigil = vigil_for(Duration::from_millis(1_500), 2, 2);
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
            vigil.keep(&late, None, &clock, &|_, _| result("late", Outcome::Healthy), &look);
            release.send(()).unwrap();
        });
        // At 1 s, 0.5 s before the end, a look of 0.5 s (not the 2 s timeout); none at 2 s.
        assert_eq!(bounds.take(), [Duration::from_millis(500)]);
    }

    #[test]
    fn a_pass_with_fewer_threads_than_targets_looks_once() {
        {
            let vigil = vigil_for(watch(), 2, 1);
            let clock = FakeClock::at(SystemTime::UNIX_EPOCH);
            let looked = Cell::new(false);
            let r = vigil.keep(&target("a"), None, &clock, &|_, _| result("a", Outcome::Healthy), &|_| {
                looked.set(true);
                Check::passed(Some(200), Duration::ZERO)
            });
            assert_eq!((r.outcome, looked.get(), clock.elapsed()), (Outcome::Healthy, false, Duration::ZERO));
        }
    }

    /// A target as a pass sees it: refused once a look fails, healed by a restart.
    fn pass_target(name: &str) -> Target {
        let mut t = target(name);
        t.settings.retries = 2;
        t.settings.retry_delay = Duration::ZERO;
        t.settings.recovery_timeout = Duration::from_secs(5);
        t
    }

    fn config(targets: Vec<Target>) -> Config {
        Config { concurrency: 4, ..Config::new(targets) }
    }

    /// A whole pass of `config` in a watch that ends in 55 s, its vigil looking on.
    fn in_watch(config: &Config, probe: &dyn Probe, docker: &FakeDocker, clock: &FakeClock) -> Vec<TargetResult> {
        let vigil = Vigil::new(Duration::from_secs(55), Duration::from_secs(1));
        let memory = State::default();
        let early = Early { deadline: Some(Duration::from_secs(55)), onlooker: Some(&vigil), ..Early::none() };
        let pass = Pass { probe, docker: Some(docker), inspector: Some(docker), memory: &memory, clock, early };
        run_pass(config, &config.targets, &pass).0
    }

    /// A probe that asks `healthy` about each target's name and the fake clock's time.
    struct ByTime<'a> {
        clock: &'a FakeClock,
        healthy: fn(&str, Duration) -> bool,
    }

    impl Probe for ByTime<'_> {
        fn check(&self, target: &Target, _: &crate::config::HttpCheck, _: Duration) -> Check {
            if (self.healthy)(&target.name, self.clock.elapsed()) {
                return Check::passed(Some(200), Duration::ZERO);
            }
            Check::failed(Failure::Connection, "connection refused", Duration::ZERO)
        }
    }

    #[test]
    fn a_watchs_pass_with_nothing_to_heal_does_not_linger() {
        let cfg = config(vec![pass_target("a"), pass_target("b")]);
        let docker = FakeDocker::new("running", 0);
        let clock = FakeClock::at(SystemTime::UNIX_EPOCH);
        let probe = ByTime { clock: &clock, healthy: |_, _| true };
        let r = in_watch(&cfg, &probe, &docker, &clock);
        assert!(r.iter().all(|r| r.outcome == Outcome::Healthy));
        assert_eq!(clock.elapsed(), Duration::ZERO);
    }

    #[test]
    fn a_target_is_never_kept_from_its_first_look_by_looks_at_another() {
        // More targets than threads: no thread keeps looking at "a", so "slow" is not kept
        // waiting for one.
        let healthy = |name: &str, t: Duration| name != "slow" && t < Duration::from_secs(1);
        let mut cfg = config(vec![pass_target("a"), pass_target("slow")]);
        cfg.concurrency = 1;
        let docker = FakeDocker::new("running", 0);
        let clock = FakeClock::at(SystemTime::UNIX_EPOCH);
        let probe = ByTime { clock: &clock, healthy };
        let r = in_watch(&cfg, &probe, &docker, &clock);
        assert_eq!((r[0].outcome, r[1].outcome), (Outcome::Healthy, Outcome::Restarted));
        assert!(clock.elapsed() < Duration::from_secs(5), "{:?}", clock.elapsed());
    }
}
