//! The pass lock: cron starts a pass every interval even when the last one still runs,
//! so each pass takes an exclusive lock without waiting, and a second one exits 3.

use std::fs::{File, TryLockError};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::exit::{Held, LockKind, Stop};

/// The lock file's name inside the state directory.
pub(crate) const LOCK_FILE: &str = "healwatch.lock";

/// Where healwatch keeps its lock (and state): /var/lib/healwatch when writable, else
/// $XDG_STATE_HOME/healwatch, else ~/.local/state/healwatch.
pub(crate) fn state_dir_candidates() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/var/lib/healwatch")];
    if let Some(xdg) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        dirs.push(PathBuf::from(xdg).join("healwatch"));
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        dirs.push(PathBuf::from(home).join(".local/state/healwatch"));
    }
    dirs
}

/// The first state directory that exists (or can be made) and is writable; else the
/// first that exists.
pub(crate) fn default_state_dir() -> Result<PathBuf> {
    let candidates = state_dir_candidates();
    for dir in &candidates {
        let writable = std::fs::create_dir_all(dir).is_ok() && crate::files::open_rw(&dir.join(LOCK_FILE)).is_ok();
        if writable {
            return Ok(dir.clone());
        }
    }
    // A state directory that exists but cannot be written (a read-only volume): passes
    // still heal, locked there, and say that their memory is off.
    if let Some(dir) = candidates.iter().find(|d| d.is_dir()) {
        return Ok(dir.clone());
    }
    let tried: Vec<String> = candidates.iter().map(|d| d.display().to_string()).collect();
    bail!("no writable state directory (tried {}): pass --lock FILE", tried.join(", "))
}

/// A held pass lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub(crate) struct PassLock {
    _file: File,
}

/// Takes the lock at `path` (default: in the state directory) without waiting.
/// `Stop::Locked` means another pass holds it; a lock that cannot be opened is `Stop::Usage`.
pub(crate) fn acquire(path: Option<&Path>, kind: LockKind) -> Result<PassLock, Stop> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => default_state_dir().map_err(Stop::Usage)?.join(LOCK_FILE),
    };
    let opened = crate::files::open_rw(&path).or_else(|e| match e.kind() {
        // A read-only state volume: healing never depends on memory being writable, so
        // the lock is held on what can be opened there (the pass then says its memory
        // is off, and `status --max-age` turns unhealthy).
        ErrorKind::ReadOnlyFilesystem | ErrorKind::PermissionDenied => {
            crate::files::open_for_lock_read_only(&path).map_err(|_| e)
        }
        _ => Err(e),
    });
    let mut file = opened
        .with_context(|| format!("opening lock file {} (pass --lock FILE to put it elsewhere)", path.display()))
        .map_err(Stop::Usage)?;
    match file.try_lock() {
        Ok(()) => {
            // Who holds it, for the next pass's message; the lock itself is the flock.
            let _ = file.set_len(0).and_then(|()| writeln!(file, "{}", std::process::id()));
            Ok(PassLock { _file: file })
        }
        Err(TryLockError::WouldBlock) => {
            let holder = crate::files::read_bounded(&path, 64, crate::files::Link::Refuse).unwrap_or_default();
            let pid = String::from_utf8_lossy(&holder).trim().parse().ok();
            // The holder wrote the file when it took the lock: its age is the hold's.
            let age = file.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
            Err(Stop::Locked(Held { kind, path, pid, then: None, age, quiet: false }))
        }
        Err(TryLockError::Error(e)) => {
            Err(Stop::Usage(anyhow::Error::new(e).context(format!("locking {}", path.display()))))
        }
    }
}

/// As `acquire`, but waits (polling, at most `wait`) for a running pass to finish.
/// For commands a person runs by hand, where exit 3 would only be a nuisance.
pub(crate) fn acquire_within(path: Option<&Path>, kind: LockKind, wait: Duration) -> Result<PassLock, Stop> {
    let deadline = Instant::now() + wait;
    let mut said = false;
    loop {
        match acquire(path, kind) {
            Err(Stop::Locked(held)) if Instant::now() < deadline => {
                if !said {
                    eprintln!("healwatch: {held}; waiting for it to finish");
                    said = true;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(Stop::Locked(held)) => {
                return Err(Stop::Locked(held.then(format!("gave up after {}", humantime::format_duration(wait)))));
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let first = acquire(Some(&path), LockKind::Watch).unwrap();
        let Err(Stop::Locked(refused)) = acquire(Some(&path), LockKind::Watch) else {
            panic!("the second lock is refused")
        };
        assert_eq!((refused.kind, refused.pid), (LockKind::Watch, Some(std::process::id())));
        let said = refused.then("this watch does nothing").to_string();
        assert!(
            said.starts_with("another healwatch watch holds the lock") && said.ends_with("; this watch does nothing")
        );
        drop(first);
        assert!(acquire(Some(&path), LockKind::Pass).is_ok());
    }
}
