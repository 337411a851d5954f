//! SIGTERM, SIGINT and SIGHUP during a pass: noted, not fatal. The pass stops starting
//! new work, docker children are killed with their process groups, and the pass still
//! writes its state, metrics and status line before it exits with 128 + the signal.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

fn flag() -> &'static Arc<AtomicUsize> {
    static FLAG: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicUsize::new(0)))
}

/// Catches the three signals from now on (for a pass; other commands keep the default).
pub(crate) fn install() -> std::io::Result<()> {
    for signal in [SIGTERM, SIGINT, SIGHUP] {
        signal_hook::flag::register_usize(signal, Arc::clone(flag()), signal as usize)?;
    }
    Ok(())
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
