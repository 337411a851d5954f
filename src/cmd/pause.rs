//! `healwatch pause TARGET [--for DUR]` and `healwatch resume TARGET`: maintenance
//! windows and the crash-loop guard's reset, changed under the pass lock.

use std::time::{Duration, SystemTime};

use anyhow::{Context, anyhow};

use crate::cli::{PauseArgs, ResumeArgs, StateArgs, TargetArgs};
use crate::config;
use crate::exit::{Exit, LockKind, Stop};
use crate::memory::lock;
use crate::memory::state::{self, TargetState};
use crate::model::timestamp;

/// Pause and resume wait this long for a running pass to finish.
const LOCK_WAIT: Duration = Duration::from_secs(120);

/// A maintenance window: TARGET is a configured target, or a discovered one that a pass
/// has remembered.
pub(crate) fn pause(args: &PauseArgs) -> Result<Exit, Stop> {
    let duration = args.duration;
    change_state(&args.target, &args.targets, &args.files, |memory, now| {
        let until = now.checked_add(duration).context("--for: that pause ends past the end of time")?;
        memory.paused_until = Some(until);
        Ok(format!("paused {} until {}: checked and reported, never restarted", args.target, timestamp(until)))
    })
}

/// End a pause and reset the crash-loop guard.
pub(crate) fn resume(args: &ResumeArgs) -> Result<Exit, Stop> {
    change_state(&args.target, &args.targets, &args.files, |memory, _| {
        memory.paused_until = None;
        memory.recent_restarts.clear();
        memory.consecutive_failures = 0;
        Ok(format!("resumed {}: restarts allowed again, crash-loop guard reset", args.target))
    })
}

/// Changes one target's memory under the pass lock, and says what it did on stdout.
fn change_state(
    target: &str,
    targets: &TargetArgs,
    files: &StateArgs,
    change: impl FnOnce(&mut TargetState, SystemTime) -> anyhow::Result<String>,
) -> Result<Exit, Stop> {
    let sources = config::Sources { targets, state: files.state.as_ref(), lock: files.lock.as_ref() };
    let config = config::load_sources(sources).map_err(Stop::Usage)?;
    let _lock = lock::acquire_within(config.lock.as_deref(), LockKind::Pass, LOCK_WAIT)?;
    let now = crate::clock::now().map_err(Stop::Usage)?;
    let path = crate::memory::state_path(config.state.as_ref()).map_err(Stop::Usage)?;
    let mut state = state::read_for_command(&path).map_err(Stop::Usage)?;
    // Configured targets, and discovered ones (labels, HEALTHCHECKs) that a pass remembered.
    if !config.targets.iter().any(|t| t.name == target) && !state.targets.contains_key(target) {
        let mut known: Vec<&str> =
            config.targets.iter().map(|t| t.name.as_str()).chain(state.targets.keys().map(String::as_str)).collect();
        known.sort_unstable();
        known.dedup();
        return Err(Stop::Usage(anyhow!(
            "unknown target '{target}' (known: {}); give the same -c/-t as the passes",
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        )));
    }
    let said = change(state.targets.entry(target.to_string()).or_default(), now).map_err(Stop::Usage)?;
    if let Some(cut) = state::save(&path, &state).map_err(Stop::Io)? {
        eprintln!("healwatch: warning: {}", crate::model::one_line(&cut, 2000));
    }
    crate::output::print(format!("{said}\n").as_bytes())?;
    Ok(Exit::Healthy)
}
