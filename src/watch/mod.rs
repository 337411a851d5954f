//! `healwatch run --watch DUR`: a pass, then until DUR has passed since the start, a
//! look every `--watch-every` at the targets that pass saw healthy (one attempt each)
//! and at Docker's events for their containers; whatever looks wrong starts a pass at
//! once, with what was seen as evidence (`pass::Hint`). Each pass is a whole pass: it
//! takes the pass lock, lists, checks every target, remembers, and writes its status
//! line. Between passes the watch holds only its own lock, so `pause` and passes run by
//! hand are not kept waiting. The exit status is the last pass's.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime};

mod events;
mod plan;

use crate::check::attempt;
use crate::config::Target;
use crate::exit::{Exit, LockKind, Stop};
use crate::interrupt;
use crate::memory::lock;
use crate::model::{Endpoint, Unhealthy};
use crate::pass::{NO_HINTS, parallel_map};
use crate::run::Setup;
use crate::settings::DEFAULT_WATCH_EVERY;
use events::EventStream;
use plan::{Event, Round};

/// A pass the watch starts waits at most this long for one run by hand to finish.
const LOCK_WAIT: Duration = Duration::from_secs(30);
/// `docker events` runs this much past the end of the watch (a pass may still be going),
/// and then ends by itself.
const EVENTS_SLACK: Duration = Duration::from_secs(120);
/// An event stream that ended (its engine went away) is started again at most this often.
const RESTREAM_EVERY: Duration = Duration::from_secs(10);

pub(crate) fn run(setup: &Setup, started: SystemTime, length: Duration, every: Option<Duration>) -> Result<Exit, Stop> {
    let every = every.unwrap_or(DEFAULT_WATCH_EVERY);
    let deadline = Instant::now() + length;
    let watch_lock = lock::watch_lock_path(setup.config.lock.as_deref()).map_err(Stop::Usage)?;
    let _watching = setup.lock_at(Some(&watch_lock), LockKind::Watch, started, None)?;
    let unhealthy_on: BTreeSet<Endpoint> =
        setup.config.engines.iter().filter(|e| e.unhealthy != Unhealthy::Off).map(|e| e.endpoint.clone()).collect();
    // Events from the start on: none between the first pass and the first look is lost.
    let mut streams = Streams::start(setup, started, started + length + EVENTS_SLACK);
    let mut done = {
        let _lock = match setup.lock(started, Some(LOCK_WAIT.min(length))) {
            // Still held: one more try, which reports it as a pass does (a line, exit 3).
            Err(Stop::Locked(_)) => setup.lock(started, None)?,
            taken => taken?,
        };
        setup.pass(started, &NO_HINTS)?
    };
    let mut exit = done.exit;
    let mut pending = plan::without_own(streams.events(), &done.acted);
    let mut next = Instant::now() + every;
    while interrupt::requested().is_none() && next < deadline {
        sleep_until(next);
        if interrupt::requested().is_some() {
            break;
        }
        next = (next + every).max(Instant::now() + every / 2);
        let round = look(setup, &done.healthy, std::mem::take(&mut pending), &mut streams, &unhealthy_on);
        let Some(hints) = plan::plan(round, &done.healthy, &unhealthy_on) else { continue };
        let now = crate::clock::now().map_err(Stop::Usage)?;
        let _lock = match setup.lock(now, Some(LOCK_WAIT.min(deadline.saturating_duration_since(Instant::now())))) {
            Ok(lock) => lock,
            // Someone else's pass ran meanwhile; the next look sees what it left.
            Err(Stop::Locked(_)) => continue,
            Err(stop) => return Err(stop),
        };
        done = setup.pass(now, &hints)?;
        exit = done.exit;
        pending = plan::without_own(streams.events(), &done.acted);
        next = next.max(Instant::now() + every / 2);
    }
    Ok(exit)
}

/// One look: the events so far and, unless they already call for a pass, an attempt at
/// each healthy HTTP or TCP target, side by side (a paused container's attempt could
/// only time out).
fn look(
    setup: &Setup,
    healthy: &[Target],
    pending: Vec<Event>,
    streams: &mut Streams,
    unhealthy_on: &BTreeSet<Endpoint>,
) -> Round {
    let mut events = pending;
    events.extend(streams.events());
    let round = Round { failed: Vec::new(), events };
    if plan::plan(round.clone(), healthy, unhealthy_on).is_some() {
        return round;
    }
    let checked: Vec<&Target> = healthy.iter().filter(|t| plan::round_checks(t)).collect();
    let began = Instant::now();
    let (checks, _) = parallel_map(&checked, setup.config.concurrency, |target| {
        attempt(&setup.probe, None, target, target.settings.timeout)
    });
    let failed = checked
        .iter()
        .zip(checks)
        .filter(|(_, check)| !check.healthy())
        .map(|(target, check)| (target.name.clone(), check, began.elapsed()))
        .collect();
    Round { failed, ..round }
}

/// Sleeps until `when`, in slices, so a signal ends the watch within 50 ms.
fn sleep_until(when: Instant) {
    while interrupt::requested().is_none() {
        let left = when.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// One `docker events` per engine the watch cares about.
struct Streams<'a> {
    setup: &'a Setup<'a>,
    until: SystemTime,
    streams: Vec<(Endpoint, Option<EventStream>, Instant)>,
}

impl<'a> Streams<'a> {
    /// Follows the engines of the targets with containers, and those that discover. Without the docker CLI, none.
    fn start(setup: &'a Setup<'a>, since: SystemTime, until: SystemTime) -> Self {
        let mut endpoints: BTreeSet<Endpoint> = setup
            .config
            .targets
            .iter()
            .filter(|t| !t.replicas.is_empty() || t.compose.is_some())
            .map(|t| t.endpoint.clone())
            .collect();
        endpoints.extend(setup.config.engines.iter().filter(|e| e.discovers()).map(|e| e.endpoint.clone()));
        let streams = match &setup.docker {
            Some(docker) => endpoints
                .into_iter()
                .map(|e| {
                    let stream = events::follow(docker, &e, since, until).ok();
                    (e, stream, Instant::now())
                })
                .collect(),
            None => Vec::new(),
        };
        Self { setup, until, streams }
    }

    /// The events read since the last call, from every engine. A stream that ended is
    /// started again (from when it ended), at most every `RESTREAM_EVERY`.
    fn events(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        for (endpoint, stream, since) in &mut self.streams {
            if let Some(s) = stream.as_mut() {
                events.extend(s.lines().iter().filter_map(|line| plan::parse_event(endpoint, line)));
                if s.ended() {
                    *stream = None;
                    *since = Instant::now();
                }
            } else if since.elapsed() >= RESTREAM_EVERY
                && let Some(docker) = &self.setup.docker
            {
                let from = SystemTime::now() - since.elapsed();
                *stream = events::follow(docker, endpoint, from, self.until).ok();
                *since = Instant::now();
            }
        }
        events
    }
}
