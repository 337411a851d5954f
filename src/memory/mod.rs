//! What outlives a pass: the state file (thresholds, the crash-loop guard, pauses) and
//! the locks that keep two passes from acting at once.

pub(crate) mod lock;
pub(crate) mod state;

use std::path::PathBuf;

use anyhow::Result;

/// Where the state lives: `given` (`--state`, HEALWATCH_STATE or `[defaults] state`),
/// else state.json in the state directory.
pub(crate) fn state_path(given: Option<&PathBuf>) -> Result<PathBuf> {
    match given {
        Some(path) => Ok(path.clone()),
        None => Ok(lock::default_state_dir()?.join(state::STATE_FILE)),
    }
}
