//! `healwatch check`'s report: one JSON line, and the same as JUnit XML and GitHub
//! workflow commands (each format in its own file).

use std::time::SystemTime;

use serde::Serialize;

use crate::model::rfc3339;

/// How a target of `check` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CheckOutcome {
    /// It became healthy within `--wait`.
    Healthy,
    /// It did not.
    Unhealthy,
}

impl CheckOutcome {
    /// The name, as the JSON line writes it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        }
    }
}

/// One target's line in the check's report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CheckTarget {
    pub(crate) name: String,
    pub(crate) container: String,
    pub(crate) url: String,
    /// Whether it came up in time.
    pub(crate) outcome: CheckOutcome,
    /// From the start of the check to the first check of the healthy streak that made
    /// it count; null when it never became healthy.
    pub(crate) time_to_healthy_ms: Option<u64>,
    pub(crate) http_status: Option<u16>,
    /// Checks made.
    pub(crate) checks: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Slowest {
    pub(crate) name: String,
    pub(crate) time_to_healthy_ms: Option<u64>,
}

/// The check's one JSON line.
#[derive(Debug, Serialize)]
pub(crate) struct CheckReport {
    #[serde(with = "rfc3339")]
    pub(crate) time: SystemTime,
    pub(crate) version: &'static str,
    pub(crate) duration_ms: u64,
    pub(crate) wait_ms: u64,
    pub(crate) stable: u32,
    /// The config file read (only the one `-c` names), or `None`.
    pub(crate) config: Option<String>,
    pub(crate) summary: CheckSummary,
    /// The target that took longest (or never came up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) slowest: Option<Slowest>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) warnings: Vec<String>,
    pub(crate) targets: Vec<CheckTarget>,
}

#[derive(Debug, Serialize)]
pub(crate) struct CheckSummary {
    pub(crate) targets: usize,
    pub(crate) healthy: usize,
    pub(crate) failed: usize,
}

#[cfg(test)]
pub(crate) mod fixture {
    use std::time::Duration;

    use super::*;

    /// Two targets: `web` healthy after 1.2 s, `db<1>` never, with a hostile error.
    pub(crate) fn report() -> CheckReport {
        let target = |name: &str, ms: Option<u64>, error: Option<&str>| CheckTarget {
            name: name.to_string(),
            container: name.to_string(),
            url: "http://127.0.0.1:1/health".to_string(),
            outcome: if error.is_none() { CheckOutcome::Healthy } else { CheckOutcome::Unhealthy },
            time_to_healthy_ms: ms,
            http_status: None,
            checks: 3,
            error: error.map(String::from),
        };
        CheckReport {
            time: std::time::UNIX_EPOCH + Duration::from_secs(1_795_000_000),
            version: "0",
            duration_ms: 10_000,
            wait_ms: 10_000,
            stable: 1,
            config: None,
            summary: CheckSummary { targets: 2, healthy: 1, failed: 1 },
            slowest: None,
            warnings: Vec::new(),
            targets: vec![target("web", Some(1200), None), target("db<1>", None, Some("connection refused: a, b\nc"))],
        }
    }
}
