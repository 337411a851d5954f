//! The one clock seam: the wall time a pass judges by, a monotonic stopwatch, sleep, and
//! whether a signal asked the pass to stop. The pass takes a `&dyn Clock`, so its unit
//! tests run on `FakeClock` and never wait.

#[cfg(test)]
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// Time as a pass sees it.
pub(crate) trait Clock: Sync {
    /// The wall time the pass judges and stamps by (fixed for a pass).
    fn now(&self) -> SystemTime;
    /// Monotonic time since the clock was made: for measuring, never for judging.
    fn elapsed(&self) -> Duration;
    /// Waits `d`, or less when a signal asks the pass to stop.
    fn sleep(&self, d: Duration);
    /// Whether a signal asked the pass to stop starting new work.
    fn interrupted(&self) -> bool;
}

/// The real clock; `now` is the pass's start (or what the test hook set).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RealClock {
    now: SystemTime,
    start: Instant,
}

impl RealClock {
    /// A clock whose pass time is `now`.
    pub(crate) fn starting_at(now: SystemTime) -> Self {
        Self { now, start: Instant::now() }
    }
}

impl Clock for RealClock {
    fn now(&self) -> SystemTime {
        self.now
    }
    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
    fn sleep(&self, d: Duration) {
        // Ends at once when a signal comes: it cuts a long retry delay short.
        crate::interrupt::sleep(d);
    }
    fn interrupted(&self) -> bool {
        crate::interrupt::requested().is_some()
    }
}

/// A clock for tests: `sleep` only moves it forward.
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct FakeClock {
    now: SystemTime,
    elapsed: Mutex<Duration>,
    /// Set by a test to act as a signal.
    pub interrupted: std::sync::atomic::AtomicBool,
}

#[cfg(test)]
impl FakeClock {
    /// A clock at `now`, with nothing elapsed.
    pub(crate) fn at(now: SystemTime) -> Self {
        Self { now, elapsed: Mutex::new(Duration::ZERO), interrupted: Default::default() }
    }
}

#[cfg(test)]
impl Clock for FakeClock {
    fn now(&self) -> SystemTime {
        self.now
    }
    fn elapsed(&self) -> Duration {
        *self.elapsed.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn sleep(&self, d: Duration) {
        let mut elapsed = self.elapsed.lock().unwrap_or_else(|e| e.into_inner());
        *elapsed = elapsed.saturating_add(d);
    }
    fn interrupted(&self) -> bool {
        self.interrupted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Test hook: an RFC 3339 time that replaces the clock, so tests can walk a target
/// through hours of passes. Only `now` reads it, and only in debug builds (the ones
/// the tests run): a release build always uses the clock.
#[cfg(debug_assertions)]
const TEST_CLOCK_VAR: &str = "HEALWATCH_TEST_NOW";

/// The time a command judges by: the clock, unless the test hook sets it.
pub(crate) fn now() -> anyhow::Result<SystemTime> {
    #[cfg(debug_assertions)]
    if let Ok(text) = std::env::var(TEST_CLOCK_VAR) {
        let at = crate::model::rfc3339::parse(&text);
        return at.ok_or_else(|| anyhow::anyhow!("{TEST_CLOCK_VAR}='{text}' is not RFC 3339"));
    }
    Ok(SystemTime::now())
}
