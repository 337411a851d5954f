//! The status line: plain serializable values, written as exactly one JSON line.
//! The same `Report` feeds stdout, `--log` and (later) metrics and notifications.

use std::io::Write;
use std::time::SystemTime;

use serde::Serialize;

/// What a pass did to one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The check passed.
    Healthy,
    /// The check failed and `docker restart` ran and exited 0 (see `recovered`).
    Restarted,
    /// The check failed and the docker command failed, timed out or could not run.
    RestartFailed,
    /// The check failed in a dry run: nothing was done.
    Unhealthy,
    /// The check failed, but fewer passes in a row than `failure_threshold`.
    Failing,
    /// The crash-loop guard: `max_restarts` reached within `restart_window`; no restart.
    GaveUp,
    /// The check failed, but the container is younger than `start_period`; no restart.
    Starting,
    /// In a maintenance pause (`healwatch pause`): checked and reported, never restarted.
    Paused,
    /// The check failed and the target's `action` (stop or kill) ran.
    Acted,
    /// The container is exited or created and `ignore_stopped` is set: left alone.
    Stopped,
    /// A discovered target whose labels are wrong: nothing checked (see `error`).
    Invalid,
}

impl Outcome {
    /// Every outcome, in the order they are documented.
    pub const ALL: [Outcome; 11] = [
        Self::Healthy,
        Self::Restarted,
        Self::RestartFailed,
        Self::Unhealthy,
        Self::Failing,
        Self::GaveUp,
        Self::Starting,
        Self::Paused,
        Self::Acted,
        Self::Stopped,
        Self::Invalid,
    ];

    /// The outcome named `name` (as in the status line).
    pub fn parse(name: &str) -> anyhow::Result<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == name).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|o| o.as_str()).collect();
            anyhow::anyhow!("'{name}' is not an outcome (one of: {})", names.join(", "))
        })
    }

    /// The name used in the status line and the state file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Restarted => "restarted",
            Self::RestartFailed => "restart_failed",
            Self::Unhealthy => "unhealthy",
            Self::Failing => "failing",
            Self::GaveUp => "gave_up",
            Self::Starting => "starting",
            Self::Paused => "paused",
            Self::Acted => "acted",
            Self::Stopped => "stopped",
            Self::Invalid => "invalid",
        }
    }
}

/// The docker command's result, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestartReport {
    /// Exit code; null when it could not run or was killed.
    pub exit_code: Option<i32>,
    /// Wall time, including an unpause first when the container was paused.
    pub duration_ms: u64,
    /// Docker's standard error (why it failed).
    pub stderr: String,
}

/// One target's entry in the status line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetReport {
    /// Target name.
    pub name: String,
    /// Container behind it.
    pub container: String,
    /// Health URL, secrets masked.
    pub url: String,
    /// What happened.
    pub outcome: Outcome,
    /// Status of the last attempt of the first check, null when nothing answered.
    pub http_status: Option<u16>,
    /// Latency of that attempt.
    pub latency_ms: u64,
    /// HTTP attempts made before the verdict (1 + retries used).
    pub attempts: u32,
    /// Why the check failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The action, when it was not a restart (`stop`, `kill`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
    /// The docker command(s) the action ran, when any ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartReport>,
    /// After a restart: healthy again (true), not within recovery-timeout (false), not waited for (null).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered: Option<Option<bool>>,
    /// From the end of the restart to the first healthy check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_ms: Option<u64>,
    /// Why the target did not recover: the last check's reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_error: Option<String>,
    /// Failed passes in a row, this one included (0 when healthy or recovered).
    pub consecutive_failures: u32,
    /// Restart attempts within the restart window, this pass's included.
    pub restarts_in_window: usize,
    /// Successful restarts, ever (from the state file).
    pub restarts_total: u64,
    /// With `gave_up`: when the window allows the next restart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_restart_at: Option<String>,
    /// With `paused`: when the pause ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_until: Option<String>,
}

impl TargetReport {
    /// A healthy entry with nothing done yet, to be filled in.
    pub fn new(name: &str, container: &str, url: String) -> Self {
        Self {
            name: name.to_string(),
            container: container.to_string(),
            url,
            outcome: Outcome::Healthy,
            http_status: None,
            latency_ms: 0,
            attempts: 0,
            error: None,
            action: None,
            restart: None,
            recovered: None,
            recovery_ms: None,
            recovery_error: None,
            consecutive_failures: 0,
            restarts_in_window: 0,
            restarts_total: 0,
            next_restart_at: None,
            paused_until: None,
        }
    }

    /// Whether this target counts as healthy at the end of the pass (for the exit status):
    /// a restart success counts when recovery was not waited for; a paused target and one
    /// an operator stopped (`ignore_stopped`) never fail a pass: neither is an incident.
    pub fn healthy_now(&self) -> bool {
        match self.outcome {
            Outcome::Healthy | Outcome::Paused | Outcome::Stopped => true,
            Outcome::Restarted => self.recovered != Some(Some(false)),
            Outcome::RestartFailed
            | Outcome::Unhealthy
            | Outcome::Failing
            | Outcome::GaveUp
            | Outcome::Starting
            | Outcome::Acted
            | Outcome::Invalid => false,
        }
    }
}

/// Counts over the targets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Targets checked.
    pub targets: usize,
    /// Healthy at the first check.
    pub healthy: usize,
    /// Restarted by this pass.
    pub restarted: usize,
    /// Restarted and healthy again.
    pub recovered: usize,
    /// Still unhealthy at the end of the pass.
    pub failed: usize,
}

impl Summary {
    /// Counts `targets`.
    pub fn of(targets: &[TargetReport]) -> Self {
        Self {
            targets: targets.len(),
            healthy: targets.iter().filter(|t| t.outcome == Outcome::Healthy).count(),
            restarted: targets.iter().filter(|t| t.outcome == Outcome::Restarted).count(),
            recovered: targets.iter().filter(|t| t.recovered == Some(Some(true))).count(),
            failed: targets.iter().filter(|t| !t.healthy_now()).count(),
        }
    }
}

/// One pass, as printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// When the pass started (RFC 3339, UTC, milliseconds).
    pub time: String,
    /// healwatch's version.
    pub version: &'static str,
    /// Wall time of the pass.
    pub duration_ms: u64,
    /// Whether docker commands were skipped.
    pub dry_run: bool,
    /// Why the pass could not run at all (bad config, lock held...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Things that went wrong beside the targets (e.g. the log file could not be written).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Counts.
    pub summary: Summary,
    /// One entry per target, in config order.
    pub targets: Vec<TargetReport>,
}

impl Report {
    /// A report of targets, with the summary computed from them.
    pub fn new(started: SystemTime, duration_ms: u64, dry_run: bool, targets: Vec<TargetReport>) -> Self {
        Self {
            time: timestamp(started),
            version: env!("CARGO_PKG_VERSION"),
            duration_ms,
            dry_run,
            error: None,
            warnings: Vec::new(),
            summary: Summary::of(&targets),
            targets,
        }
    }

    /// A report of a pass that could not run.
    pub fn failed(started: SystemTime, dry_run: bool, error: String) -> Self {
        let duration_ms = started.elapsed().map_or(0, |d| d.as_millis() as u64);
        Self { error: Some(error), ..Self::new(started, duration_ms, dry_run, Vec::new()) }
    }

    /// Writes the report as one JSON line.
    pub fn write_line(&self, out: &mut impl Write) -> std::io::Result<()> {
        write_json_line(self, out)
    }
}

/// Writes any value as one JSON line in a single write (the status line, drill, audit, status).
pub fn write_json_line(value: &impl Serialize, out: &mut impl Write) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(value)?;
    line.push(b'\n');
    out.write_all(&line)
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-11-27T20:00:00.123Z`.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn target(outcome: Outcome, recovered: Option<Option<bool>>) -> TargetReport {
        TargetReport {
            outcome,
            http_status: Some(503),
            latency_ms: 3,
            attempts: 3,
            error: Some("status 503 not in 200-399".into()),
            restart: (outcome != Outcome::Unhealthy).then(|| RestartReport {
                exit_code: Some(0),
                duration_ms: 812,
                stderr: String::new(),
            }),
            recovered,
            ..TargetReport::new("app", "app", "http://127.0.0.1:5000/health".into())
        }
    }

    #[test]
    fn status_line_shape() {
        let t0 = UNIX_EPOCH + Duration::from_millis(1_795_896_000_123);
        let report = Report::new(t0, 412, false, vec![target(Outcome::Restarted, Some(None))]);
        let mut out = Vec::new();
        report.write_line(&mut out).unwrap();
        let line = String::from_utf8(out).unwrap();
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["time"], "2026-11-28T20:00:00.123Z");
        assert_eq!(v["summary"]["restarted"], 1);
        assert_eq!(v["summary"]["failed"], 0);
        assert!(v["targets"][0]["recovered"].is_null() && v["targets"][0].get("recovered").is_some());
        assert_eq!(v["targets"][0]["restart"]["duration_ms"], 812);
        assert!(v.get("error").is_none() && v.get("warnings").is_none());
    }

    #[test]
    fn outcome_names_match_serde() {
        for o in [
            Outcome::Healthy,
            Outcome::Restarted,
            Outcome::RestartFailed,
            Outcome::Unhealthy,
            Outcome::Failing,
            Outcome::GaveUp,
            Outcome::Starting,
            Outcome::Paused,
        ] {
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
    }

    #[test]
    fn healthy_now_per_outcome() {
        let cases = [
            (Outcome::Healthy, None, true),
            (Outcome::Restarted, Some(Some(true)), true),
            (Outcome::Restarted, Some(None), true),
            (Outcome::Restarted, Some(Some(false)), false),
            (Outcome::RestartFailed, None, false),
            (Outcome::Unhealthy, None, false),
            (Outcome::Failing, None, false),
            (Outcome::GaveUp, None, false),
            (Outcome::Starting, None, false),
            (Outcome::Paused, None, true),
        ];
        for (outcome, recovered, want) in cases {
            assert_eq!(target(outcome, recovered).healthy_now(), want, "{outcome:?} {recovered:?}");
        }
    }
}
