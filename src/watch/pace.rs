//! A watch's pace (pure): how its looks are spread over `--watch-every`, and how fast it
//! may look within its CPU budget (`--watch-cpu`, a share of one core).
//!
//! The looks at the healthy targets are dealt into slices of at most `SLICE` targets,
//! one slice a tick, so a thousand targets are looked at as twenty small rounds across
//! the interval rather than a thousand connections at once. What a look costs is
//! measured as the watch goes (the process's CPU between rounds, over the looks made):
//! the budget is the looks a second that cost fits in the share. A watch that would look
//! faster than that stretches its cadence for every healthy target alike (each still
//! has its turn, in order), says so in the status line of its passes (`watch`) and in
//! metrics, and starts a pass to say it when that begins or ends. It begins when the
//! looks would take more than the budget, and ends only when they would take at most
//! `HEADROOM` of it: a demand that sits at the budget, its measured cost a little above
//! and a little below by turns, must not turn the pace every round, each turn a pass
//! that looks at every target (a thousand targets: five passes a second, a quarter of a
//! core, on a machine where the looks alone fitted the tenth).

use std::time::Duration;

/// At most this many healthy targets are looked at in one tick.
pub(super) const SLICE: usize = 50;
/// Ticks are never closer than this.
const MIN_TICK: Duration = Duration::from_millis(20);
/// How much a new measurement moves the cost per look (an exponential average).
const WEIGHT: f64 = 0.3;
/// A round with fewer looks than this does not measure their cost (too few to tell it
/// from the watch's own overhead).
const MEASURE_AT_LEAST: usize = 10;
/// A slowed pace ends once looking every `every` would take at most this share of the
/// budget, and while it lasts the cadence is at least `every` over it.
const HEADROOM: f64 = 0.9;

/// The pace of one watch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pace {
    /// The cadence the operator asked for (`--watch-every`).
    every: Duration,
    /// The share of one core the looks may take (0.1: a tenth).
    share: f64,
    /// CPU per look, measured (none yet: no limit but `every`).
    cost: Option<f64>,
    /// Whether every target is looked at less often than `every` (see `settle`).
    slowed: bool,
}

/// Where a watch's pace stands, for the status line and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stand {
    /// The targets looked at each round.
    pub targets: usize,
    /// How often each is looked at.
    pub cadence: Duration,
    /// Looks a second within the budget (none until measured).
    pub budget: Option<u64>,
    /// CPU per look, measured.
    pub look_cpu: Option<Duration>,
    /// Targets looked at less often than `every` (all of them, or none).
    pub slowed: usize,
}

impl Pace {
    /// A pace of `every` within `percent` of one core.
    pub(crate) fn new(every: Duration, percent: u32) -> Self {
        Self { every, share: f64::from(percent.max(1)) / 100.0, cost: None, slowed: false }
    }

    /// Takes in `cpu` spent over `looks` looks (a round and the quiet after it).
    pub(crate) fn record(&mut self, looks: usize, cpu: Duration) {
        if looks < MEASURE_AT_LEAST {
            return;
        }
        let sample = cpu.as_secs_f64() / looks as f64;
        self.cost = Some(self.cost.map_or(sample, |c| c + WEIGHT * (sample - c)));
    }

    /// Looks a second the budget allows (none until a cost was measured).
    fn budget(&self) -> Option<f64> {
        self.cost.filter(|c| *c > 0.0).map(|c| self.share / c)
    }

    /// The share of the budget that looking at `targets` every `every` would take (none
    /// until a cost was measured).
    fn demand(&self, targets: usize) -> Option<f64> {
        self.budget().map(|budget| targets as f64 / (budget * self.every.as_secs_f64().max(1e-3)))
    }

    /// Takes in `targets`, the healthy targets a round now goes round: the pace turns
    /// slowed when looking at them every `every` would exceed the budget, and back when it
    /// would take at most `HEADROOM` of it. Whether it turned.
    pub(crate) fn settle(&mut self, targets: usize) -> bool {
        let demand = self.demand(targets).unwrap_or(0.0);
        let slowed = if self.slowed { demand > HEADROOM } else { demand > 1.0 };
        std::mem::replace(&mut self.slowed, slowed) != slowed
    }

    /// How often each of `targets` healthy targets is looked at: `every`, or slowed (see
    /// `settle`) what the budget allows and never less than `every` over `HEADROOM`.
    pub(crate) fn cadence(&self, targets: usize) -> Duration {
        let Some(budget) = self.budget().filter(|_| self.slowed) else { return self.every };
        let needed = Duration::from_secs_f64((targets as f64 / budget).min(3600.0));
        needed.max(self.every.div_f64(HEADROOM))
    }

    /// Into how many ticks a round of `targets` is dealt, and the time between them.
    pub(crate) fn ticks(&self, targets: usize) -> (usize, Duration) {
        let cadence = self.cadence(targets);
        let by_size = targets.div_ceil(SLICE).max(1);
        let by_time = (cadence.as_millis() / MIN_TICK.as_millis()).max(1) as usize;
        let slices = by_size.min(by_time);
        (slices, cadence / slices as u32)
    }

    /// Where the pace stands with `targets` healthy targets.
    pub(crate) fn stand(&self, targets: usize) -> Stand {
        let cadence = self.cadence(targets);
        Stand {
            targets,
            cadence,
            budget: self.budget().map(|b| b.min(1e9) as u64),
            look_cpu: self.cost.map(Duration::from_secs_f64),
            slowed: if self.slowed { targets } else { 0 },
        }
    }

    /// The operator's cadence.
    pub(crate) fn every(&self) -> Duration {
        self.every
    }

    /// The share of one core, in percent.
    pub(crate) fn percent(&self) -> u32 {
        (self.share * 100.0).round() as u32
    }
}

/// The process's CPU so far (every thread, user and system).
pub(crate) fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec.max(0) as u64, t.tv_nsec.clamp(0, 999_999_999) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const US: Duration = Duration::from_micros(1);

    #[test]
    fn until_measured_the_cadence_is_the_operators() {
        let pace = Pace::new(500 * MS, 10);
        assert_eq!(pace.cadence(10_000), 500 * MS);
        assert_eq!(pace.stand(10_000).budget, None);
        assert_eq!(pace.stand(10_000).slowed, 0);
    }

    #[test]
    fn within_the_budget_nothing_is_slowed_and_looks_are_spread() {
        let mut pace = Pace::new(1000 * MS, 10);
        // 80 µs a look: a tenth of a core is 1,250 looks a second.
        pace.record(1000, 80_000 * US);
        let stand = pace.stand(1000);
        assert_eq!((stand.cadence, stand.budget, stand.slowed), (1000 * MS, Some(1250), 0));
        // A thousand targets in twenty ticks of fifty, 50 ms apart.
        assert_eq!(pace.ticks(1000), (20, 50 * MS));
        // Twenty targets: one tick a round, as before.
        assert_eq!(pace.ticks(20), (1, 1000 * MS));
    }

    #[test]
    fn beyond_the_budget_every_target_is_looked_at_less_often_and_said() {
        let mut pace = Pace::new(1000 * MS, 10);
        pace.record(1000, 200_000 * US); // 200 µs a look: 500 looks a second
        assert!(pace.settle(1000), "turned slowed");
        let stand = pace.stand(1000);
        assert_eq!((stand.cadence, stand.budget, stand.slowed), (2000 * MS, Some(500), 1000));
        assert_eq!(stand.look_cpu, Some(200 * US));
        // A bigger share, and it fits again.
        let mut wider = Pace::new(1000 * MS, 25);
        wider.record(1000, 200_000 * US);
        assert!(!wider.settle(1000));
        assert_eq!(wider.stand(1000).slowed, 0);
    }

    /// A demand at the budget, its measured cost now a little above it, now a little
    /// below: the pace turns once, and back only with a tenth of the budget to spare.
    #[test]
    fn a_demand_at_the_budget_does_not_turn_the_pace_every_round() {
        let mut pace = Pace::new(500 * MS, 10);
        // 1,000 targets every 500 ms: 2,000 looks a second, the budget at 50 µs a look.
        let mut turns = 0;
        for round in 0..40 {
            let cost = if round % 2 == 0 { 52 } else { 47 };
            pace.record(1000, 1000 * cost * US);
            turns += usize::from(pace.settle(1000));
        }
        assert_eq!(turns, 1, "slowed once, and held");
        let stand = pace.stand(1000);
        assert_eq!(stand.slowed, 1000);
        // Slowed, it looks at least a tenth less often than asked.
        assert!(stand.cadence >= 555 * MS, "{:?}", stand.cadence);
        // Cheaper looks: with a tenth of the budget to spare it turns back, once.
        for _ in 0..20 {
            pace.record(1000, 40_000 * US);
            turns += usize::from(pace.settle(1000));
        }
        assert_eq!((turns, pace.stand(1000).slowed, pace.cadence(1000)), (2, 0, 500 * MS));
    }

    #[test]
    fn the_cost_moves_gently_and_small_rounds_do_not_measure() {
        let mut pace = Pace::new(1000 * MS, 10);
        pace.record(5, Duration::from_secs(1));
        assert_eq!(pace.stand(5).look_cpu, None);
        pace.record(100, 10_000 * US); // 100 µs
        pace.record(100, 20_000 * US); // 200 µs: the average moves 30 % of the way
        let cost = pace.stand(100).look_cpu.unwrap();
        assert!((129 * US..=131 * US).contains(&cost), "{cost:?}");
    }

    #[test]
    fn ticks_are_never_closer_than_the_floor() {
        let pace = Pace::new(100 * MS, 10);
        // 10,000 targets would be 200 slices; 100 ms holds five ticks of 20 ms.
        assert_eq!(pace.ticks(10_000), (5, 20 * MS));
    }

    #[test]
    fn the_process_cpu_grows() {
        let before = process_cpu();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        assert!(process_cpu() > before);
    }
}
