//! The one clock seam: the wall time a pass judges by, a monotonic stopwatch and sleep.
//! The pass takes a `&dyn Clock`, so its unit tests run on `FakeClock` and never wait.

#[cfg(test)]
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// Time as a pass sees it.
pub trait Clock: Sync {
    /// The wall time the pass judges and stamps by (fixed for a pass).
    fn now(&self) -> SystemTime;
    /// Monotonic time since the clock was made: for measuring, never for judging.
    fn elapsed(&self) -> Duration;
    /// Waits `d`.
    fn sleep(&self, d: Duration);
}

/// The real clock; `now` is the pass's start (or what the test hook set).
#[derive(Debug, Clone, Copy)]
pub struct RealClock {
    now: SystemTime,
    start: Instant,
}

impl RealClock {
    /// A clock whose pass time is `now`.
    pub fn starting_at(now: SystemTime) -> Self {
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
        std::thread::sleep(d);
    }
}

/// A clock for tests: `sleep` only moves it forward.
#[cfg(test)]
#[derive(Debug)]
pub struct FakeClock {
    now: SystemTime,
    elapsed: Mutex<Duration>,
}

#[cfg(test)]
impl FakeClock {
    /// A clock at `now`, with nothing elapsed.
    pub fn at(now: SystemTime) -> Self {
        Self { now, elapsed: Mutex::new(Duration::ZERO) }
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
}
