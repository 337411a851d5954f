//! The watch's real edges: passes under the pass lock through a `Setup`, one `docker
//! events` per engine, and attempts through the prober.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::looks;
use super::plan::{self, Event};
use super::vigil::Vigil;
use super::{LockWait, Passed, Watched};
use crate::check::Check;
use crate::config::Target;
use crate::docker::events::{self, EventStream};
use crate::exit::Stop;
use crate::model::{Endpoint, WatchPace};
use crate::pass::{Early, Hints};
use crate::run::Setup;

/// An event stream that ended (its engine went away) is started again at most this often.
const RESTREAM_EVERY: Duration = Duration::from_secs(10);
/// The shortest look worth making, even at the very end of a watch.
const MIN_LOOK: Duration = Duration::from_millis(50);

/// A watch over a real `Setup`.
pub(super) struct Live<'a> {
    setup: &'a Setup<'a>,
    streams: Streams<'a>,
    /// The invocation's start: the first pass is stamped with it.
    started: Option<SystemTime>,
    /// When the watch ends: every pass is done by then.
    ends: Instant,
    /// How often the watch looks.
    every: Duration,
    /// The thread kept for looks.
    crew: RefCell<looks::Crew>,
    /// Each target looked at since the last pass, as the look threads share it: a copy
    /// per target per pass, not per look.
    shared: RefCell<HashMap<String, Arc<Target>>>,
}

impl<'a> Live<'a> {
    /// Follows Docker's events from `since` (the watch's start) until `until`; every
    /// pass is done by `ends`, and looks every `every`.
    pub(super) fn new(
        setup: &'a Setup<'a>,
        since: SystemTime,
        until: SystemTime,
        ends: Instant,
        every: Duration,
    ) -> Self {
        let (crew, shared) = (RefCell::default(), RefCell::default());
        Self { setup, streams: Streams::start(setup, since, until), started: Some(since), ends, every, crew, shared }
    }

    /// `target` as the look threads share it: the copy made since the last pass while it
    /// is the same, else a new one.
    fn shared(&self, target: &Target) -> Arc<Target> {
        let mut shared = self.shared.borrow_mut();
        match shared.get(&target.name) {
            Some(kept) if **kept == *target => Arc::clone(kept),
            _ => {
                let copy = Arc::new(target.clone());
                shared.insert(target.name.clone(), Arc::clone(&copy));
                copy
            }
        }
    }
}

impl Watched for Live<'_> {
    fn pass(&mut self, hints: &Hints, wait: LockWait, pace: WatchPace) -> Result<Option<Passed>, Stop> {
        // The first pass is the invocation's own, stamped with its start.
        let now = match self.started.take() {
            Some(started) => started,
            None => crate::clock::now().map_err(Stop::Usage)?,
        };
        let _lock = match wait {
            LockWait::Within(wait) => match self.setup.lock(now, Some(wait)) {
                Ok(lock) => lock,
                Err(Stop::Locked(_)) => {
                    self.started.get_or_insert(now);
                    return Ok(None);
                }
                Err(stop) => return Err(stop),
            },
            LockWait::Report => self.setup.lock(now, None)?,
        };
        // The targets may change with the pass (labels, config): shared afresh after it.
        self.shared.get_mut().clear();
        let ends = self.ends.saturating_duration_since(Instant::now());
        let vigil = Vigil::new(ends, self.every);
        let early = Early { hints, deadline: Some(ends), onlooker: Some(&vigil), pace: Some(pace) };
        self.setup.pass(now, early).map(|done| Some(Passed::of(done)))
    }

    fn events(&mut self) -> Vec<Event> {
        self.streams.events()
    }

    fn cpu(&self) -> Duration {
        super::pace::process_cpu()
    }

    /// Each attempt is bounded by the target's timeout, its decide_within and the end of
    /// the watch. They run on threads of their own (see `looks`): a signal ends the wait
    /// for them within `looks::PATIENCE` (they are abandoned, each still bounded), and
    /// what comes back then says healthy, so no pass starts.
    fn attempts(&self, targets: &[&Target]) -> Vec<Check> {
        let left = self.ends.saturating_duration_since(Instant::now());
        let owned: Vec<(Arc<Target>, Duration)> = targets
            .iter()
            .map(|t| {
                let bound = t.settings.timeout.min(t.settings.decide_within).min(left).max(MIN_LOOK);
                (self.shared(t), bound)
            })
            .collect();
        let stop = || crate::interrupt::requested().is_some();
        let mut crew = self.crew.borrow_mut();
        match looks::look(&mut crew, self.setup.probe.clone(), owned, self.setup.config.concurrency, &stop) {
            looks::Looked::Done(checks) => checks,
            looks::Looked::Abandoned => targets.iter().map(|_| Check::passed(None, Duration::ZERO)).collect(),
        }
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
        let mut endpoints: BTreeSet<Endpoint> =
            setup.config.targets.iter().filter(|t| t.watches_containers()).map(|t| t.endpoint.clone()).collect();
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
