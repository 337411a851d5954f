//! Log checks: the container's new log lines matched against a pattern.

use std::time::{Duration, SystemTime};

use super::{Check, Failure};
use crate::config::{LogPattern, Target};
use crate::docker::Containers;
use crate::model::{one_line, redact_text};

/// What Docker (through its API and its CLI alike) says of logs a driver cannot read back.
const REFUSED: &str = "does not support reading";

/// Without a last scan, how far back the first log scan of a target reads.
pub(crate) const FIRST_LOG_WINDOW: Duration = Duration::from_secs(60);

/// The container's new log lines against `pattern`: a match fails the check with the
/// line (redacted, one line, cut).
pub(crate) fn log_check(
    docker: &dyn Containers,
    target: &Target,
    pattern: &LogPattern,
    since: SystemTime,
    until: SystemTime,
) -> Check {
    let found = target
        .container_refs()
        .iter()
        .map(|c| docker.log_match(c, since, until, &pattern.0))
        .find(|r| !matches!(r, Ok(None)));
    match found {
        Some(Ok(Some(line))) => {
            Check::failed(Failure::Log, format!("log: {}", one_line(&redact_text(&line), 500)), Duration::ZERO)
        }
        // A logging driver that keeps nothing to read back (none, syslog, gelf, fluentd…):
        // every scan would read nothing, so the target could never fail. Said, not healed.
        Some(Err(e)) if e.contains(REFUSED) => Check::failed(
            Failure::Uncheckable,
            format!(
                "its logs cannot be read ({}): the container's logging driver keeps none to read back; \
                 use json-file, local or journald, or drop log_pattern",
                one_line(&redact_text(&e), 200)
            ),
            Duration::ZERO,
        ),
        // Logs that cannot be read now say nothing about health; the scan is retried next pass.
        Some(Err(_)) | Some(Ok(None)) | None => Check::passed(None, Duration::ZERO),
    }
}
