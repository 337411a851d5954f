//! What one pass found and did for one target: check, judgement, action and recovery as
//! one typed value. The pass produces it; memory and the status line are built from it.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::ser::SerializeMap;

use super::{Action, CheckKind, Outcome, Recovery};

/// One target's pass: check -> judge -> act -> verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TargetResult {
    /// Target name.
    pub name: String,
    /// Container behind it.
    pub container: String,
    /// Health URL, secrets masked (or `docker:healthcheck`).
    pub url: String,
    /// How it is checked: `http`, `tcp`, `exec`, `docker` or `log`.
    pub check: CheckKind,
    /// What happened.
    pub outcome: Outcome,
    /// Status of the last attempt of the first check, null when nothing answered.
    pub http_status: Option<u16>,
    /// Latency of that attempt.
    #[serde(rename = "latency_ms", serialize_with = "ms")]
    pub latency: Duration,
    /// Attempts made before the verdict (1 + retries used; 0 for Docker's own health).
    pub attempts: u32,
    /// Why the check failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For a container that leans on another (its network namespace, compose's
    /// `depends_on`): that one's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Why it was acted on when its own check is not why: `provider vpn restarted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// `unhealthy` when Docker's HEALTHCHECK said so but its command, run by healwatch,
    /// passed: nothing was restarted on Docker's word alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_said: Option<&'static str>,
    /// The docker command(s) the action ran, when any ran.
    #[serde(flatten)]
    pub action: Option<ActionRun>,
    /// After a restart: healthy again, not within recovery-timeout, or not waited for.
    #[serde(rename = "recovered", skip_serializing_if = "Recovery::is_not_restarted")]
    pub recovery: Recovery,
    /// From the end of the restart to the first healthy check.
    #[serde(rename = "recovery_ms", serialize_with = "opt_ms", skip_serializing_if = "Option::is_none")]
    pub recovery_time: Option<Duration>,
    /// Why the target did not recover: the last check's reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_error: Option<String>,
    /// With `gave_up`: when the window allows the next restart.
    #[serde(with = "super::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub next_restart_at: Option<SystemTime>,
    /// With `paused`: when the pause ends.
    #[serde(with = "super::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub paused_until: Option<SystemTime>,
    /// The container's logs have been read up to here (or it restarted then): the next
    /// scan starts here. Kept in memory, not printed.
    #[serde(skip)]
    pub logs_until: Option<SystemTime>,
}

impl TargetResult {
    /// A healthy entry with nothing checked or done yet, to be filled in.
    pub(crate) fn new(name: &str, container: &str, url: String) -> Self {
        Self {
            name: name.to_string(),
            container: container.to_string(),
            url,
            check: CheckKind::Http,
            outcome: Outcome::Healthy,
            http_status: None,
            latency: Duration::ZERO,
            attempts: 0,
            error: None,
            provider: None,
            cause: None,
            docker_said: None,
            action: None,
            recovery: Recovery::NotRestarted,
            recovery_time: None,
            recovery_error: None,
            next_restart_at: None,
            paused_until: None,
            logs_until: None,
        }
    }

    /// Whether this target counts as healthy at the end of the pass (the exit status).
    pub(crate) fn healthy_now(&self) -> bool {
        self.outcome.healthy_now(self.recovery)
    }
}

/// The docker commands a target's action ran (unpause, the action, `restart_with`), as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ActionRun {
    /// The action.
    pub action: Action,
    /// The first failure's exit code, 0 when all succeeded; `None` when one could not run
    /// or was killed.
    pub exit_code: Option<i32>,
    /// Wall time of them all.
    pub duration: Duration,
    /// Docker's standard error of each failure (named by container when there were several).
    pub stderr: String,
}

impl ActionRun {
    /// Whether every command ran and exited 0.
    pub(crate) fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// In the status line: `action` (when not a restart) and the `restart` object.
impl Serialize for ActionRun {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Restart<'a> {
            exit_code: Option<i32>,
            duration_ms: u64,
            stderr: &'a str,
        }
        let mut map = s.serialize_map(None)?;
        if self.action != Action::Restart {
            map.serialize_entry("action", self.action.as_str())?;
        }
        let restart = Restart { exit_code: self.exit_code, duration_ms: millis(self.duration), stderr: &self.stderr };
        map.serialize_entry("restart", &restart)?;
        map.end()
    }
}

/// A duration as a person reads it, to the millisecond: a cut timeout is not
/// "695ms 238us 534ns".
pub(crate) fn show_ms(d: Duration) -> String {
    humantime::format_duration(Duration::from_millis(millis(d))).to_string()
}

/// Whole milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(millis(*d))
}

fn opt_ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_u64(millis(*d)),
        None => s.serialize_none(),
    }
}

/// How a watch paces its looks at the healthy targets: the cadence asked for, the one it
/// keeps within its CPU budget, and how many targets that slows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct WatchPace {
    /// `--watch-every`.
    pub every_ms: u64,
    /// How often each healthy target is looked at now.
    pub cadence_ms: u64,
    /// `--watch-cpu`: the share of one core its looks may take, in percent.
    pub cpu_percent: u32,
    /// Looks a second that share allows at the cost measured (absent until measured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_looks_per_s: Option<u64>,
    /// CPU per look, measured, in microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub look_cpu_us: Option<u64>,
    /// Healthy targets the looks go round (absent in a watch's first pass, before any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<usize>,
    /// Of those, how many are looked at less often than `every_ms` (the budget).
    pub slowed: usize,
}
