//! What a pass tells: the status line and its text form (`report`), the metrics file,
//! notifications, and where each goes (`publish`). `check`'s CI formats live here too.

pub(crate) mod check_report;
pub(crate) mod github;
pub(crate) mod junit;
pub(crate) mod metrics;
pub(crate) mod notify;
pub(crate) mod report;

use std::io::{ErrorKind, Write};

use anyhow::anyhow;

use crate::exit::Stop;

/// Writes `bytes` to stdout in one write. A reader that went away (`| head`) is not an
/// error: the command ends quietly with its own status, as other CLI tools do.
pub(crate) fn print(bytes: &[u8]) -> Result<(), Stop> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Stop::Io(anyhow!(e).context("writing to stdout"))),
        Ok(()) => Ok(()),
    }
}
