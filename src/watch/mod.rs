//! `healwatch run --watch DUR`: a pass, then until DUR has passed since the start, a
//! look every `--watch-every` at the targets that pass saw healthy (one attempt each)
//! and at Docker's events for their containers; whatever looks wrong starts a pass at
//! once, with what was seen as evidence (`pass::Hint`), looking on beside it (`vigil`). Each pass is a whole pass: it
//! takes the pass lock, lists, checks every target, remembers, and writes its status
//! line. Between passes the watch holds only its own lock, so `pause` and passes run by
//! hand are not kept waiting. The exit status is the last pass's.
//!
//! The loop (`watch`) runs on the `Clock` seam and drives a `Watched`: `live.rs` is the
//! real one, and the unit tests below drive it with a fake and the fake clock.

mod live;
mod looks;
mod pace;
mod plan;
mod vigil;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use crate::check::Check;
use crate::clock::{Clock, RealClock};
use crate::config::Target;
use crate::exit::{Exit, LockKind, Stop};
use crate::memory::lock::{LOCK_FILE, default_state_dir};
use crate::model::{Endpoint, Outcome, Recovery, Unhealthy, WatchPace};
use crate::pass::{Hint, Hints};
use crate::run::{Done, Setup};
use crate::settings::{DEFAULT_WATCH_CPU, DEFAULT_WATCH_EVERY};
use pace::Pace;
use plan::{Event, Round};

/// A pass the watch starts waits at most this long for one run by hand to finish.
const LOCK_WAIT: Duration = Duration::from_secs(30);
/// `docker events` runs this much past the end of the watch (a pass may still be going),
/// and then ends by itself.
const EVENTS_SLACK: Duration = Duration::from_secs(120);

/// How a pass the watch starts takes the pass lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LockWait {
    /// Waits at most this long; still held, the pass is skipped (`Ok(None)`).
    Within(Duration),
    /// Does not wait: a held lock is reported as a pass reports it (a line, exit 3).
    Report,
}

/// What a pass left for the watch: its exit status, the targets it found healthy (the
/// ones the watch keeps an eye on), the containers it acted on (whose own events are
/// not news), when the maintenance pauses it honoured end (the watch starts a pass
/// then), the targets whose recovery it handed to the watch, and those failing short of
/// their `failure_threshold` (the watch looks on, so the threshold is met in the watch).
struct Passed {
    exit: Exit,
    healthy: Vec<Target>,
    failing: Vec<Target>,
    acted: BTreeSet<(Endpoint, String)>,
    pause_ends: Vec<SystemTime>,
    recovering: Vec<Target>,
    /// The targets that lean on another (`Facts::leans`), healthy or not.
    leaning: Vec<Target>,
}

impl Passed {
    /// What the watch takes from a pass.
    fn of(done: Done) -> Self {
        let mut passed = Passed {
            exit: done.exit,
            healthy: Vec::new(),
            failing: Vec::new(),
            acted: BTreeSet::new(),
            pause_ends: Vec::new(),
            recovering: Vec::new(),
            leaning: Vec::new(),
        };
        for (target, result) in done.checked {
            passed.pause_ends.extend(result.paused_until);
            if !target.facts.leans.is_empty() {
                passed.leaning.push(target.clone());
            }
            if result.action.is_some() {
                passed.acted.extend(target.container_refs().into_iter().map(|c| (c.endpoint, c.name)));
            }
            if result.recovery == Recovery::Pending {
                passed.recovering.push(target.clone());
            }
            // Seen answering in this pass: not paused, stopped or restarted unseen.
            if result.outcome == Outcome::Healthy || result.recovery == Recovery::Recovered {
                passed.healthy.push(target.clone());
            }
            if result.outcome == Outcome::Failing {
                passed.failing.push(target);
            }
        }
        passed
    }
}

/// The lock that keeps two watches apart: beside the pass lock, named after it. A
/// watch holds it throughout, and the pass lock only while a pass runs, so `pause` or a
/// pass run by hand gets in between its passes.
fn lock_path(pass_lock: Option<&std::path::Path>) -> anyhow::Result<std::path::PathBuf> {
    let pass_lock = match pass_lock {
        Some(p) => p.to_path_buf(),
        None => default_state_dir()?.join(LOCK_FILE),
    };
    let mut name = pass_lock.file_name().unwrap_or_default().to_os_string();
    name.push(".watch");
    Ok(pass_lock.with_file_name(name))
}

/// What the watch loop drives.
trait Watched {
    /// Takes the pass lock as `wait` says and runs one whole pass with `hints`, its
    /// status line saying the watch's `pace`; `Ok(None)` when the lock stayed held.
    fn pass(&mut self, hints: &Hints, wait: LockWait, pace: WatchPace) -> Result<Option<Passed>, Stop>;
    /// Docker's events read since the last call.
    fn events(&mut self) -> Vec<Event>;
    /// One attempt at each of `targets`, side by side, in their order.
    fn attempts(&self, targets: &[&Target]) -> Vec<Check>;
    /// The CPU the watch has spent so far (what its looks cost is measured by it).
    fn cpu(&self) -> Duration;
}

/// `run --watch`: takes the watch's own lock, then watches for `length` from `started`.
pub(crate) fn run(
    setup: &Setup,
    started: SystemTime,
    length: Duration,
    every: Option<Duration>,
    cpu_percent: Option<u32>,
) -> Result<Exit, Stop> {
    let watch_lock = lock_path(setup.config.lock.as_deref()).map_err(Stop::Usage)?;
    let _watching = setup.lock_at(Some(&watch_lock), (LockKind::Watch, crate::settings::WATCH.1), started, None)?;
    let unhealthy_on: BTreeSet<Endpoint> =
        setup.config.engines.iter().filter(|e| e.unhealthy != Unhealthy::Off).map(|e| e.endpoint.clone()).collect();
    // Events from the start on: none between the first pass and the first look is lost.
    let clock = RealClock::starting_at(started);
    let ends = std::time::Instant::now() + length;
    let every = every.unwrap_or(DEFAULT_WATCH_EVERY);
    let mut live = live::Live::new(setup, started, started + length + EVENTS_SLACK, ends, every);
    let pace = Pace::new(every, cpu_percent.unwrap_or(DEFAULT_WATCH_CPU));
    let exit = watch(&mut live, &clock, length, pace, &unhealthy_on);
    // The last pass's notifications, still under way: each ends by its own deadline.
    for warning in setup.courier.drain() {
        eprintln!("healwatch: warning: {}", crate::model::one_line(&warning, 2000));
    }
    exit
}

/// The loop: a first pass, then a look at each healthy target every `--watch-every`
/// (dealt into ticks, and slower when the CPU budget says so: `pace`) until `length` has
/// passed on `clock`, and a pass whenever a look calls for one or the pace turns slowed
/// or back. Ends early on a signal (the clock says so); the exit status is the last pass's.
fn watch(
    watched: &mut dyn Watched,
    clock: &dyn Clock,
    length: Duration,
    mut pace: Pace,
    unhealthy_on: &BTreeSet<Endpoint>,
) -> Result<Exit, Stop> {
    let deadline = clock.elapsed() + length;
    let mut done = first_pass(watched, length, said(&pace, None))?;
    let mut exit = done.exit;
    let mut pending = plan::without_own(watched.events(), &done.acted);
    let mut recovering = took_over(&done, clock, &[]);
    let mut rounds = Rounds::default();
    let mut next = clock.elapsed() + pace.ticks(round_size(&done)).1;
    while !clock.interrupted() && next < deadline {
        let pause_ends = first_pause_end(&done, clock);
        clock.sleep(pause_ends.map_or(next, |end| end.min(next)).saturating_sub(clock.elapsed()));
        if clock.interrupted() {
            break;
        }
        let size = round_size(&done);
        let mut hints = if pause_ends.is_some_and(|end| end <= clock.elapsed()) {
            // A maintenance pause just ended: a pass judges its target now, not at the
            // next scheduled run.
            done.pause_ends.clear();
            Hints::new()
        } else {
            let (slices, tick) = pace.ticks(size);
            next = (next + tick).max(clock.elapsed() + tick / 2);
            let watched_now = Watching::of(&done, &recovering);
            let slice = rounds.slice(slices);
            let round = look(watched, clock, watched_now, std::mem::take(&mut pending), unhealthy_on, slice);
            if clock.interrupted() {
                // A signal during the look: the watch ends here, no pass starts.
                break;
            }
            let turned = rounds.measured(&mut pace, watched.cpu(), round.looked, size);
            let about = about(&done, &recovering, &round.events);
            match plan::plan_with(round, (&about, &done.leaning), unhealthy_on) {
                Some(hints) => hints,
                // The pace turned slowed, or back: a pass says so in its status line.
                None if turned => Hints::new(),
                None => continue,
            }
        };
        // A recovery the watch still owns is not the pass's to restart again.
        owned(&recovering, clock).for_each(|name| _ = hints.entry(name).or_insert(Hint::Recovering));
        let wait = LOCK_WAIT.min(deadline.saturating_sub(clock.elapsed()));
        // Someone else's pass may hold the lock; the next look sees what it left.
        let Some(passed) = watched.pass(&hints, LockWait::Within(wait), said(&pace, Some(size)))? else { continue };
        done = passed;
        exit = done.exit;
        pending = plan::without_own(watched.events(), &done.acted);
        recovering = took_over(&done, clock, &recovering);
        // A pass's CPU is not the looks'.
        rounds.cpu_then = None;
        next = next.max(clock.elapsed() + pace.ticks(round_size(&done)).1 / 2);
    }
    Ok(exit)
}

/// The watch's first pass, saying `pace`: it waits for the lock as long as a pass may;
/// still held, one more try reports it as a pass does (a line, exit 3).
fn first_pass(watched: &mut dyn Watched, length: Duration, pace: WatchPace) -> Result<Passed, Stop> {
    match watched.pass(&Hints::new(), LockWait::Within(LOCK_WAIT.min(length)), pace)? {
        Some(done) => Ok(done),
        None => watched
            .pass(&Hints::new(), LockWait::Report, pace)?
            .ok_or_else(|| Stop::Io(anyhow::anyhow!("the pass lock was reported held without an error"))),
    }
}

/// What the watch keeps from one round of looks to the next.
#[derive(Default)]
struct Rounds {
    /// Ticks made so far.
    tick: usize,
    /// The watch's CPU at the end of the last round (none after a pass).
    cpu_then: Option<Duration>,
}

impl Rounds {
    /// The next tick's slice of a round dealt into `slices`: (index, of how many).
    fn slice(&mut self, slices: usize) -> (usize, usize) {
        self.tick += 1;
        ((self.tick - 1) % slices.max(1), slices)
    }

    /// After a round of `looked` attempts, with the watch's `cpu` now: what they cost
    /// (the CPU since the round before, over them) taken into `pace`; whether the pace
    /// of `size` healthy targets turned slowed, or back.
    fn measured(&mut self, pace: &mut Pace, cpu: Duration, looked: usize, size: usize) -> bool {
        if let Some(then) = self.cpu_then {
            pace.record(looked, cpu.saturating_sub(then));
        }
        self.cpu_then = Some(cpu);
        pace.settle(size)
    }
}

/// The targets whose containers' events are news: the healthy ones, and those being
/// recovered; none without `events` (no copy of every target each tick).
fn about(done: &Passed, recovering: &[(Target, Duration)], events: &[Event]) -> Vec<Target> {
    if events.is_empty() {
        return Vec::new();
    }
    let mut about: Vec<Target> = done.healthy.clone();
    about.extend(recovering.iter().map(|(t, _)| t.clone()));
    about
}

/// The names of the recoveries the watch still owns (their time not yet up).
fn owned<'a>(recovering: &'a [(Target, Duration)], clock: &'a dyn Clock) -> impl Iterator<Item = String> + 'a {
    recovering.iter().filter(|(_, by)| *by > clock.elapsed()).map(|(t, _)| t.name.clone())
}

/// The healthy targets a round of looks goes round.
fn round_size(done: &Passed) -> usize {
    done.healthy.iter().filter(|t| plan::round_checks(t)).count()
}

/// The pace as a pass's status line says it, with `targets` healthy targets looked at
/// (none before the first round).
fn said(pace: &Pace, targets: Option<usize>) -> WatchPace {
    let stand = pace.stand(targets.unwrap_or(0));
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    WatchPace {
        every_ms: ms(pace.every()),
        cadence_ms: ms(stand.cadence),
        cpu_percent: pace.percent(),
        budget_looks_per_s: stand.budget,
        look_cpu_us: stand.look_cpu.map(|c| u64::try_from(c.as_micros()).unwrap_or(u64::MAX)),
        targets,
        slowed: stand.slowed,
    }
}

/// When (on `clock`) the first maintenance pause the last pass honoured ends, a moment
/// after its end so the pass that follows finds it over.
fn first_pause_end(done: &Passed, clock: &dyn Clock) -> Option<Duration> {
    let end = done.pause_ends.iter().min()?;
    Some(end.duration_since(clock.now()).unwrap_or(Duration::ZERO) + Duration::from_millis(10))
}

/// The recoveries the watch owns after a pass, each with when (on `clock`) its
/// recovery_timeout runs out: those the pass handed over, and those it owned `before`
/// that are still pending (the pass left them `starting`: not healthy, not acted on).
fn took_over(done: &Passed, clock: &dyn Clock, before: &[(Target, Duration)]) -> Vec<(Target, Duration)> {
    let now = clock.elapsed();
    let handed = done.recovering.iter().map(|t| (t.clone(), now + t.settings.recovery_timeout));
    let pending = before.iter().filter(|(t, by)| {
        let acted = t.container_refs().into_iter().any(|c| done.acted.contains(&(c.endpoint, c.name)));
        *by > now && !acted && !done.healthy.iter().any(|h| h.name == t.name)
    });
    let mut owned: Vec<(Target, Duration)> = handed.collect();
    owned.extend(pending.filter(|(t, _)| !done.recovering.iter().any(|r| r.name == t.name)).cloned());
    owned
}

/// What a look attempts: the targets the last pass saw healthy, those failing short of
/// their `failure_threshold`, and those whose recovery it handed over (with when their
/// recovery_timeout runs out).
#[derive(Clone, Copy)]
struct Watching<'a> {
    healthy: &'a [Target],
    failing: &'a [Target],
    recovering: &'a [(Target, Duration)],
    leaning: &'a [Target],
}

impl<'a> Watching<'a> {
    /// What the last pass left for the looks, with the recoveries the watch owns.
    fn of(done: &'a Passed, recovering: &'a [(Target, Duration)]) -> Self {
        Self { healthy: &done.healthy, failing: &done.failing, recovering, leaning: &done.leaning }
    }
}

/// One look: the events so far and, unless they already call for a pass, an attempt at
/// each healthy HTTP or TCP target of this tick's `slice` (index, of how many) and, on
/// a round's first tick, at each one failing short of its threshold or being recovered,
/// side by side (a paused container's attempt could only time out). A target failing
/// short of its threshold is looked at as often as a healthy one: each failed look starts
/// a pass that counts one more failure in a row, so the threshold is met within the watch
/// (seconds), not at the next scheduled run (minutes); one that answers again starts a
/// pass that ends its run of failures.
fn look(
    watched: &mut dyn Watched,
    clock: &dyn Clock,
    targets: Watching,
    pending: Vec<Event>,
    unhealthy_on: &BTreeSet<Endpoint>,
    (slice, slices): (usize, usize),
) -> Round {
    let mut events = pending;
    events.extend(watched.events());
    let round = Round { events, ..Round::default() };
    if plan::plan_with(round.clone(), (targets.healthy, targets.leaning), unhealthy_on).is_some() {
        return round;
    }
    let healthy = in_slice(targets.healthy, (slice, slices));
    let first_tick = slice == 0;
    // A recovering HEALTHCHECK target is not looked at: Docker's turn to healthy says it
    // came; one that never comes drops out at its recovery_timeout, and Docker's next
    // `unhealthy` starts a pass as for any other.
    let (mut looked_at, by_docker): (Vec<_>, Vec<_>) =
        targets.recovering.iter().partition(|(t, _)| plan::round_checks(t));
    looked_at.retain(|_| first_tick);
    let mut round = round;
    let events = &round.events;
    let came: Vec<String> =
        by_docker.iter().filter(|(t, _)| turned_healthy(events, t)).map(|(t, _)| t.name.clone()).collect();
    round.recovered.extend(came);
    // Failing short of its threshold: looked at once a round, as a healthy one (below).
    let failing: Vec<&Target> = targets.failing.iter().filter(|t| first_tick && plan::round_checks(t)).collect();
    let checked: Vec<&Target> =
        healthy.iter().copied().chain(failing.iter().copied()).chain(looked_at.iter().map(|(t, _)| t)).collect();
    let began = clock.elapsed();
    let checks = watched.attempts(&checked);
    round.looked = checked.len();
    let spent = clock.elapsed().saturating_sub(began);
    let mut checks = checks.into_iter();
    for (target, check) in healthy.iter().zip(checks.by_ref()) {
        if !check.healthy() {
            round.failed.push((target.name.clone(), check, spent));
        }
    }
    for (target, check) in failing.iter().zip(checks.by_ref()) {
        if check.healthy() {
            round.recovered.push(target.name.clone());
        } else {
            round.failed.push((target.name.clone(), check, spent));
        }
    }
    // A recovery that came is news; one that has not, only once its time is up.
    for ((target, by), check) in looked_at.into_iter().zip(checks) {
        if check.healthy() {
            round.recovered.push(target.name.clone());
        } else if *by <= clock.elapsed() {
            round.failed.push((target.name.clone(), check, spent));
        }
    }
    round
}

/// The healthy targets a tick looks at: every `slices`th of those a look can check, from
/// the `slice`th on.
fn in_slice(healthy: &[Target], (slice, slices): (usize, usize)) -> Vec<&Target> {
    let checked = healthy.iter().filter(|t| plan::round_checks(t));
    checked.enumerate().filter(|(i, _)| i % slices.max(1) == slice).map(|(_, t)| t).collect()
}

/// Whether Docker said, among `events`, that one of `target`'s containers turned healthy.
fn turned_healthy(events: &[Event], target: &Target) -> bool {
    events.iter().any(|e| {
        e.kind == plan::EventKind::Healthy
            && target.container_refs().iter().any(|c| c.endpoint == e.endpoint && c.name == e.container)
    })
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::atomic::Ordering;
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::check::Failure;
    use crate::clock::FakeClock;
    use crate::model::HealthUrl;
    use crate::pass::Hint;
    use plan::EventKind;

    /// A scripted watch: what each look's attempts say, which events come when, whether
    /// the lock is held; it records every pass and how it took the lock.
    struct Script<'c> {
        clock: &'c FakeClock,
        /// Attempts of the looks, in order; a look past the end finds everything healthy.
        looks: VecDeque<Vec<Check>>,
        /// Events handed out at the Nth call of `events`.
        events: Vec<(usize, Event)>,
        event_calls: usize,
        /// Passes that find the lock held, in order.
        held: VecDeque<bool>,
        /// Each pass: its hints, how it took the lock, when it ran.
        passes: Vec<(Hints, LockWait, Duration)>,
        /// How long each look's attempts take.
        attempt_time: Duration,
        /// Set the clock's signal after this many looks.
        signal_after: Option<usize>,
        looks_made: usize,
        /// Maintenance pause ends the next pass reports.
        pause_ends: Vec<SystemTime>,
        /// Targets whose recovery the next pass hands over.
        recovering: Vec<Target>,
        /// The names of the targets each look attempted.
        attempted: Vec<Vec<String>>,
        /// More healthy targets each pass finds (`web-0`...), beside `app`.
        more_healthy: usize,
        /// The CPU each attempt costs, and all spent so far.
        attempt_cpu: Duration,
        cpu: std::cell::Cell<Duration>,
        /// The pace each pass was given.
        paces: Vec<WatchPace>,
    }

    impl<'c> Script<'c> {
        fn new(clock: &'c FakeClock) -> Self {
            Self {
                clock,
                looks: VecDeque::new(),
                events: Vec::new(),
                event_calls: 0,
                held: VecDeque::new(),
                passes: Vec::new(),
                attempt_time: Duration::from_millis(3),
                signal_after: None,
                looks_made: 0,
                pause_ends: Vec::new(),
                recovering: Vec::new(),
                attempted: Vec::new(),
                more_healthy: 0,
                attempt_cpu: Duration::ZERO,
                cpu: std::cell::Cell::new(Duration::ZERO),
                paces: Vec::new(),
            }
        }
    }

    fn app() -> Target {
        Target::http("app", "app", HealthUrl::parse("http://127.0.0.1:9/health").unwrap())
    }

    impl Script<'_> {
        fn pass(&mut self, hints: &Hints, wait: LockWait, pace: WatchPace) -> Result<Option<Passed>, Stop> {
            self.passes.push((hints.clone(), wait, self.clock.elapsed()));
            self.paces.push(pace);
            if self.held.pop_front().unwrap_or(false) {
                return match wait {
                    LockWait::Within(d) => {
                        self.clock.sleep(d);
                        Ok(None)
                    }
                    LockWait::Report => Err(Stop::Locked(crate::exit::Held {
                        kind: LockKind::Pass,
                        path: "l".into(),
                        pid: None,
                        then: Some("this pass does nothing".into()),
                        age: None,
                        quiet: false,
                    })),
                };
            }
            self.clock.sleep(Duration::from_millis(20));
            let pause_ends = std::mem::take(&mut self.pause_ends);
            let recovering = std::mem::take(&mut self.recovering);
            // A recovery the watch owned is found healthy by the pass (the look said so).
            let mut healthy = vec![app()];
            let url = HealthUrl::parse("http://127.0.0.1:7/health").unwrap();
            healthy.extend((0..self.more_healthy).map(|i| Target::http(&format!("web-{i}"), "web", url.clone())));
            healthy.extend(
                hints
                    .iter()
                    .filter(|(_, h)| **h == Hint::Recovering)
                    .map(|(n, _)| Target::http(n, n, HealthUrl::parse("http://127.0.0.1:8/health").unwrap())),
            );
            let failing = Vec::new();
            let acted = BTreeSet::new();
            let done =
                Passed { exit: Exit::Healthy, healthy, failing, acted, pause_ends, recovering, leaning: Vec::new() };
            Ok(Some(done))
        }

        fn events(&mut self) -> Vec<Event> {
            self.event_calls += 1;
            let calls = self.event_calls;
            self.events.iter().filter(|(at, _)| *at == calls).map(|(_, e)| e.clone()).collect()
        }

        fn attempts(&self, targets: &[&Target]) -> Vec<Check> {
            self.clock.sleep(self.attempt_time);
            self.cpu.set(self.cpu.get() + self.attempt_cpu * targets.len() as u32);
            targets.iter().map(|_| Check::passed(Some(200), self.attempt_time)).collect()
        }
    }

    /// The `Watched` a test drives: `attempts` takes `&self`, so the script sits in a
    /// cell to pop its looks.
    struct Scripted<'c>(std::cell::RefCell<Script<'c>>);

    impl Watched for Scripted<'_> {
        fn pass(&mut self, hints: &Hints, wait: LockWait, pace: WatchPace) -> Result<Option<Passed>, Stop> {
            self.0.get_mut().pass(hints, wait, pace)
        }
        fn cpu(&self) -> Duration {
            self.0.borrow().cpu.get()
        }
        fn events(&mut self) -> Vec<Event> {
            self.0.get_mut().events()
        }
        fn attempts(&self, targets: &[&Target]) -> Vec<Check> {
            let mut script = self.0.borrow_mut();
            script.looks_made += 1;
            script.attempted.push(targets.iter().map(|t| t.name.clone()).collect());
            if script.signal_after == Some(script.looks_made) {
                script.clock.interrupted.store(true, Ordering::SeqCst);
            }
            let checks = Script::attempts(&script, targets);
            script.looks.pop_front().unwrap_or(checks)
        }
    }

    fn run(script: Script, length: Duration, every: Duration) -> (Result<Exit, Stop>, Script) {
        let clock = script.clock;
        let mut scripted = Scripted(std::cell::RefCell::new(script));
        let exit = watch(&mut scripted, clock, length, Pace::new(every, 10), &BTreeSet::new());
        (exit, scripted.0.into_inner())
    }

    fn clock() -> FakeClock {
        FakeClock::at(UNIX_EPOCH + Duration::from_secs(1_795_000_000))
    }

    #[test]
    fn a_quiet_watch_makes_one_pass_and_ends_by_its_deadline() {
        let clock = clock();
        let (exit, script) = run(Script::new(&clock), Duration::from_secs(14), Duration::from_secs(1));
        assert_eq!(exit.unwrap(), Exit::Healthy);
        assert_eq!(script.passes.len(), 1, "only the first pass");
        assert_eq!(script.passes[0].1, LockWait::Within(LOCK_WAIT.min(Duration::from_secs(14))));
        assert!((12..=13).contains(&script.looks_made), "a look a second: {}", script.looks_made);
        assert!(clock.elapsed() <= Duration::from_secs(14), "ended by its deadline: {:?}", clock.elapsed());
    }

    #[test]
    fn a_failed_attempt_starts_a_pass_that_counts_it() {
        let clock = clock();
        let mut script = Script::new(&clock);
        script.attempt_time = Duration::from_millis(40);
        let refused = Check::failed(Failure::Connection, "connection refused", Duration::from_millis(1));
        script.looks = VecDeque::from([vec![Check::passed(Some(200), Duration::ZERO)], vec![refused.clone()]]);
        let (_, script) = run(script, Duration::from_secs(5), Duration::from_secs(1));
        assert_eq!(script.passes.len(), 2, "{:?}", script.passes);
        let (hints, wait, at) = &script.passes[1];
        assert_eq!(hints.get("app"), Some(&Hint::Failed { check: refused, spent: Duration::from_millis(40) }));
        assert!(matches!(wait, LockWait::Within(_)));
        // Started right after the second look (two looks a second apart, after the first pass).
        assert!(*at >= Duration::from_secs(2) && *at < Duration::from_millis(2200), "{at:?}");
    }

    #[test]
    fn an_event_about_a_healthy_container_starts_a_pass_without_an_attempt() {
        let clock = clock();
        let mut script = Script::new(&clock);
        let paused = Event { endpoint: Endpoint::Default, container: "app".into(), kind: EventKind::Paused };
        // Call 1 follows the first pass; call 2 is the first look's.
        script.events = vec![(2, paused)];
        let (_, script) = run(script, Duration::from_millis(1500), Duration::from_secs(1));
        assert_eq!(script.passes.len(), 2);
        assert_eq!(script.passes[1].0.get("app"), Some(&Hint::Paused));
        assert_eq!(script.looks_made, 0, "the event was enough: no attempt was made");
    }

    #[test]
    fn a_held_lock_skips_the_pass_and_the_watch_goes_on() {
        let clock = clock();
        let mut script = Script::new(&clock);
        let refused = Check::failed(Failure::Connection, "connection refused", Duration::ZERO);
        script.looks = VecDeque::from([vec![refused.clone()], vec![refused]]);
        // The first pass gets the lock, the next finds it held, the one after gets it.
        script.held = VecDeque::from([false, true, false]);
        let (exit, script) = run(script, Duration::from_secs(40), Duration::from_secs(1));
        assert_eq!(exit.unwrap(), Exit::Healthy);
        assert_eq!(script.passes.len(), 3, "{:?}", script.passes);
        // The skipped pass waited at most what was left of the watch.
        let LockWait::Within(waited) = script.passes[1].1 else { panic!("waits") };
        assert!(waited <= Duration::from_secs(39), "{waited:?}");
        assert!(clock.elapsed() <= Duration::from_secs(40) + Duration::from_millis(100), "{:?}", clock.elapsed());
    }

    #[test]
    fn a_first_pass_that_cannot_get_the_lock_is_reported_as_a_pass_would() {
        let clock = clock();
        let mut script = Script::new(&clock);
        script.held = VecDeque::from([true, true]);
        let (exit, script) = run(script, Duration::from_secs(10), Duration::from_secs(1));
        let Err(Stop::Locked(held)) = exit else { panic!("exit 3") };
        assert_eq!(held.then.as_deref(), Some("this pass does nothing"));
        let waits: Vec<LockWait> = script.passes.iter().map(|p| p.1).collect();
        assert_eq!(waits, [LockWait::Within(Duration::from_secs(10)), LockWait::Report]);
    }

    #[test]
    fn a_signal_ends_the_watch_before_its_next_look() {
        let clock = clock();
        let mut script = Script::new(&clock);
        script.signal_after = Some(2);
        let (exit, script) = run(script, Duration::from_secs(60), Duration::from_secs(1));
        assert_eq!(exit.unwrap(), Exit::Healthy);
        assert_eq!(script.looks_made, 2);
        assert!(clock.elapsed() < Duration::from_secs(3), "{:?}", clock.elapsed());
    }

    #[test]
    fn a_pass_starts_the_moment_a_maintenance_pause_ends() {
        let clock = clock();
        let mut script = Script::new(&clock);
        // The first pass honours a pause that ends 4.5 s into the watch, and one that
        // ends after it.
        let start = clock.now();
        script.pause_ends = vec![start + Duration::from_secs(60), start + Duration::from_millis(4500)];
        let (_, script) = run(script, Duration::from_secs(14), Duration::from_secs(1));
        assert_eq!(script.passes.len(), 2, "{:?}", script.passes);
        let (hints, _, at) = &script.passes[1];
        assert!(hints.is_empty());
        assert!(*at >= Duration::from_millis(4500) && *at < Duration::from_millis(4600), "{at:?}");
        assert!(clock.elapsed() <= Duration::from_secs(14), "{:?}", clock.elapsed());
    }

    fn slow(recovery_timeout: Duration) -> Target {
        let mut t = Target::http("slow", "slow", HealthUrl::parse("http://127.0.0.1:8/health").unwrap());
        t.settings.recovery_timeout = recovery_timeout;
        t
    }

    #[test]
    fn a_recovery_handed_over_is_looked_at_and_its_answer_starts_a_pass() {
        let clock = clock();
        let mut script = Script::new(&clock);
        script.recovering = vec![slow(Duration::from_secs(60))];
        let ok = Check::passed(Some(200), Duration::ZERO);
        let refused = Check::failed(Failure::Connection, "connection refused", Duration::ZERO);
        // app, then slow: slow answers at the third look.
        script.looks = VecDeque::from([vec![ok.clone(), refused.clone()], vec![ok, refused]]);
        let (_, script) = run(script, Duration::from_secs(10), Duration::from_secs(1));
        assert_eq!(script.passes.len(), 2, "{:?}", script.passes);
        let (hints, _, at) = &script.passes[1];
        // The pass sees it healthy; had it failed again, the hint keeps it from a second
        // restart while the watch still owns its recovery.
        assert_eq!(hints, &Hints::from([("slow".to_string(), Hint::Recovering)]));
        assert!(*at >= Duration::from_secs(3) && *at < Duration::from_millis(3200), "{at:?}");
    }

    #[test]
    fn a_healthcheck_recovery_handed_over_is_not_looked_at_and_dockers_turn_to_healthy_starts_a_pass() {
        let clock = clock();
        let mut script = Script::new(&clock);
        let mut db = Target::http("db", "db", HealthUrl::parse("http://127.0.0.1:8/health").unwrap());
        db.settings.recovery_timeout = Duration::from_secs(60);
        db.health = crate::config::HealthCheck::Docker;
        script.recovering = vec![db];
        // The first call of `events` follows the first pass; the third is the second look's.
        let turned = Event { endpoint: Endpoint::Default, container: "db".into(), kind: EventKind::Healthy };
        script.events = vec![(3, turned)];
        let (_, script) = run(script, Duration::from_secs(10), Duration::from_secs(1));
        // Until that pass (the script's passes then find db healthy, as an HTTP target).
        assert_eq!(script.attempted[..2], [vec!["app".to_string()], vec!["app".to_string()]]);
        assert_eq!(script.passes.len(), 2, "{:?}", script.passes);
        let (hints, _, at) = &script.passes[1];
        assert_eq!(hints, &Hints::from([("db".to_string(), Hint::Recovering)]));
        assert!(*at >= Duration::from_secs(2) && *at < Duration::from_millis(2200), "{at:?}");
    }

    #[test]
    fn a_recovery_handed_over_that_never_comes_starts_a_pass_at_its_recovery_timeout() {
        let clock = clock();
        let mut script = Script::new(&clock);
        script.recovering = vec![slow(Duration::from_millis(2500))];
        let ok = Check::passed(Some(200), Duration::ZERO);
        let refused = Check::failed(Failure::Connection, "connection refused", Duration::ZERO);
        script.looks = (0..20).map(|_| vec![ok.clone(), refused.clone()]).collect();
        let (_, script) = run(script, Duration::from_secs(10), Duration::from_secs(1));
        let (hints, _, at) = &script.passes[1];
        assert!(matches!(hints.get("slow"), Some(Hint::Failed { .. })), "{hints:?}");
        // Looks at 1 s and 2 s are inside the 2.5 s; the one at 3 s is past it.
        assert!(*at >= Duration::from_secs(3) && *at < Duration::from_millis(3200), "{at:?}");
    }

    #[test]
    fn the_watch_keeps_a_recovery_it_owns_until_it_answers_is_restarted_or_runs_out() {
        let clock = clock();
        let slow = slow(Duration::from_secs(60));
        let done = |healthy: Vec<Target>, acted: &[&str], recovering: Vec<Target>| Passed {
            exit: Exit::Healthy,
            healthy,
            failing: Vec::new(),
            acted: acted.iter().map(|c| (Endpoint::Default, c.to_string())).collect(),
            pause_ends: Vec::new(),
            recovering,
            leaning: Vec::new(),
        };
        let owned = took_over(&done(vec![], &[], vec![slow.clone()]), &clock, &[]);
        assert_eq!(owned.len(), 1);
        let by = owned[0].1;
        assert_eq!(by, Duration::from_secs(60), "recovery_timeout from now");
        clock.sleep(Duration::from_secs(5));
        // A pass that left it starting: kept, with its deadline.
        let kept = took_over(&done(vec![app()], &["app"], vec![]), &clock, &owned);
        assert_eq!(kept.iter().map(|(t, by)| (t.name.as_str(), *by)).collect::<Vec<_>>(), [("slow", by)]);
        // Healthy, or restarted again (and not handed over): no longer the watch's.
        assert!(took_over(&done(vec![slow.clone()], &[], vec![]), &clock, &owned).is_empty());
        assert!(took_over(&done(vec![], &["slow"], vec![]), &clock, &owned).is_empty());
        // Past its deadline: dropped.
        clock.sleep(Duration::from_secs(60));
        assert!(took_over(&done(vec![], &[], vec![]), &clock, &owned).is_empty());
    }

    #[test]
    fn a_signal_during_a_look_that_failed_starts_no_pass() {
        let clock = clock();
        let mut script = Script::new(&clock);
        let refused = Check::failed(Failure::Connection, "connection refused", Duration::ZERO);
        script.looks = VecDeque::from([vec![refused]]);
        script.signal_after = Some(1);
        let (exit, script) = run(script, Duration::from_secs(60), Duration::from_secs(1));
        assert_eq!(exit.unwrap(), Exit::Healthy);
        assert_eq!(script.passes.len(), 1, "only the first pass: {:?}", script.passes);
    }

    /// 120 healthy targets at 1 s: three ticks of 40, a third of a second apart, each
    /// target looked at once a second.
    #[test]
    fn many_targets_are_looked_at_in_slices_spread_over_the_interval() {
        let clock = clock();
        let mut script = Script::new(&clock);
        script.more_healthy = 119;
        let (exit, script) = run(script, Duration::from_millis(3500), Duration::from_secs(1));
        assert_eq!(exit.unwrap(), Exit::Healthy);
        assert_eq!(script.passes.len(), 1);
        assert!(script.attempted.len() >= 9, "{}", script.attempted.len());
        assert!(script.attempted.iter().all(|names| names.len() == 40), "{:?}", script.attempted);
        // Each round of three ticks goes round every target once.
        let mut first: Vec<&String> = script.attempted[..3].iter().flatten().collect();
        first.sort();
        first.dedup();
        assert_eq!(first.len(), 120);
        assert_eq!(script.paces[0].targets, None, "the first pass comes before any round");
    }

    /// Looks that cost 400 µs each: 100 targets a second is 4 % of a core, within 10 %;
    /// at 2 %, the cadence stretches to 2 s, a pass starts to say so, and the looks go on
    /// at that pace.
    #[test]
    fn beyond_its_cpu_budget_a_watch_looks_less_often_and_says_so() {
        // The passes' paces, and how many attempts the looks made.
        let within = |percent| {
            let clock = clock();
            let mut script = Script::new(&clock);
            script.more_healthy = 99;
            script.attempt_cpu = Duration::from_micros(400);
            let mut scripted = Scripted(std::cell::RefCell::new(script));
            let pace = Pace::new(Duration::from_secs(1), percent);
            let exit = watch(&mut scripted, &clock, Duration::from_secs(20), pace, &BTreeSet::new());
            assert_eq!(exit.unwrap(), Exit::Healthy);
            let script = scripted.0.into_inner();
            (script.paces, script.attempted.iter().map(Vec::len).sum::<usize>())
        };
        let (roomy, roomy_looks) = within(10);
        assert_eq!(roomy.len(), 1, "nothing to say: {roomy:?}");
        let (tight, tight_looks) = within(2);
        assert_eq!(tight.len(), 2, "{tight:?}");
        let said = tight[1];
        assert_eq!((said.cadence_ms, said.slowed, said.targets), (2000, 100, Some(100)));
        assert_eq!((said.budget_looks_per_s, said.look_cpu_us, said.cpu_percent), (Some(50), Some(400), 2));
        // 100 targets every 2 s in two slices of 50: about half the looks of the roomy watch.
        assert!(tight_looks * 10 < roomy_looks * 6, "{tight_looks} against {roomy_looks}");
    }
}
