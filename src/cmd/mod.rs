//! The edges of each subcommand, one file each: the clock, files, the lock and stdout,
//! around the pure core. Each returns the exit status, or the `Stop` that ended it early.

pub mod audit;
pub mod check;
pub mod docs;
pub mod drill;
pub mod pass;
pub mod pause;
pub mod status;
pub mod validate;
mod watch;

use std::io::{ErrorKind, Write};
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::{Result, anyhow};

use crate::config::Config;
use crate::exit::Stop;
use crate::lock;
use crate::state;

/// Test hook: an RFC 3339 time that replaces the clock, so tests can walk a target
/// through hours of passes. Only `now` reads it, and only in debug builds (the ones
/// the tests run): a release build always uses the clock.
#[cfg(debug_assertions)]
const TEST_CLOCK_VAR: &str = "HEALWATCH_TEST_NOW";

/// The time a command judges by: the clock, unless the test hook sets it.
fn now() -> Result<SystemTime> {
    #[cfg(debug_assertions)]
    if let Ok(text) = std::env::var(TEST_CLOCK_VAR) {
        use anyhow::Context as _;
        return humantime::parse_rfc3339(&text).with_context(|| format!("{TEST_CLOCK_VAR}='{text}' is not RFC 3339"));
    }
    Ok(SystemTime::now())
}

/// Where the state lives: `--state`, HEALWATCH_STATE or `[defaults] state`, else
/// state.json in the state directory.
fn state_path(config: &Config) -> Result<PathBuf> {
    match &config.state {
        Some(path) => Ok(path.clone()),
        None => Ok(lock::default_state_dir()?.join(state::STATE_FILE)),
    }
}

/// Writes `bytes` to stdout in one write. A reader that went away (`| head`) is not an
/// error: the command ends quietly with its own status, as other CLI tools do.
fn print(bytes: &[u8]) -> Result<(), Stop> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Stop::Io(anyhow!(e).context("writing to stdout"))),
        Ok(()) => Ok(()),
    }
}
