//! SIGTERM, SIGINT and SIGHUP during a pass: noted, not fatal. The pass stops starting
//! new work, docker children are killed with their process groups, and the pass still
//! writes its state, metrics and status line before it exits with 128 + the signal.

use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

fn flag() -> &'static Arc<AtomicUsize> {
    static FLAG: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicUsize::new(0)))
}

/// The read end of a socket pair a caught signal writes to: a sleep waits on it, so it
/// ends the moment a signal comes instead of waking every few milliseconds to look.
/// Never read: once a signal came, every later sleep ends at once.
fn wake() -> &'static OnceLock<UnixStream> {
    static WAKE: OnceLock<UnixStream> = OnceLock::new();
    &WAKE
}

/// Catches the three signals from now on (for a pass; other commands keep the default).
pub(crate) fn install() -> std::io::Result<()> {
    let (read, write) = UnixStream::pair()?;
    for signal in [SIGTERM, SIGINT, SIGHUP] {
        // The flag first: a sleeper woken by the write finds it set.
        signal_hook::flag::register_usize(signal, Arc::clone(flag()), signal as usize)?;
        signal_hook::low_level::pipe::register(signal, write.try_clone()?)?;
    }
    let _ = wake().set(read);
    Ok(())
}

/// Waits `d`, or until one of the signals comes (at once when one already came).
pub(crate) fn sleep(d: Duration) {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let until = Instant::now() + d;
    let Some(read) = wake().get() else {
        // Not caught: no signal can cut the wait short.
        std::thread::sleep(d);
        return;
    };
    while requested().is_none() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        let timeout = Timespec { tv_sec: left.as_secs() as i64, tv_nsec: i64::from(left.subsec_nanos()) };
        let mut fds = [PollFd::new(read, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            // Readable: a signal came; its flag is set by now (registered first).
            Ok(n) if n > 0 => return,
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            // Cannot wait on it: sleep in slices, as without it.
            Err(_) => std::thread::sleep(left.min(Duration::from_millis(50))),
        }
    }
}

/// The signal that asked the pass to stop, if one did.
pub(crate) fn requested() -> Option<i32> {
    match flag().load(Ordering::SeqCst) {
        0 => None,
        n => i32::try_from(n).ok(),
    }
}

/// A signal's name, for the status line.
pub(crate) fn name(signal: i32) -> String {
    match signal {
        SIGTERM => "SIGTERM".to_string(),
        SIGINT => "SIGINT".to_string(),
        SIGHUP => "SIGHUP".to_string(),
        n => format!("signal {n}"),
    }
}
