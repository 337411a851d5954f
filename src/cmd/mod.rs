//! The edges of each subcommand, one file each: the clock, files, the lock and stdout,
//! around the pure core. Each returns the exit status, or the `Stop` that ended it early.

pub mod audit;
pub mod drill;
pub mod pass;
pub mod pause;
pub mod status;
pub mod validate;

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, anyhow, bail};

use crate::config::Config;
use crate::exit::Stop;
use crate::lock;
use crate::state::{self, State};

/// Test hook: an RFC 3339 time that replaces the clock, so tests can walk a target
/// through hours of passes. Only this function reads it.
const TEST_CLOCK_VAR: &str = "HEALWATCH_TEST_NOW";

/// The time a command judges by: the clock, unless the test hook sets it.
fn now() -> Result<SystemTime> {
    match std::env::var(TEST_CLOCK_VAR) {
        Ok(text) => {
            humantime::parse_rfc3339(&text).with_context(|| format!("{TEST_CLOCK_VAR}='{text}' is not RFC 3339"))
        }
        Err(_) => Ok(SystemTime::now()),
    }
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

/// Reads the state for status/pause/resume. Unlike a pass, these stop on a bad file:
/// they exist to show or change it, and must not move it aside behind a person's back.
fn read_state_for_command(path: &Path) -> Result<State> {
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        bail!("state file {} is not a regular file: give --state a file path", path.display());
    }
    match std::fs::read(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(State { version: state::VERSION, ..State::default() }),
        Err(e) => Err(e).with_context(|| format!("reading state file {}", path.display())),
        Ok(bytes) => {
            let state: State = serde_json::from_slice(&bytes).with_context(|| {
                format!("state file {} is corrupt; the next pass moves it aside and starts afresh", path.display())
            })?;
            if state.version != state::VERSION {
                bail!(
                    "state file {} has version {}, this healwatch reads {}",
                    path.display(),
                    state.version,
                    state::VERSION
                );
            }
            Ok(state)
        }
    }
}
