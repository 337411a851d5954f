//! Exit statuses, the contract scripts and cron monitors rely on, and the one mapping
//! from a report to a status.

use std::process::ExitCode;

use crate::report::Report;

/// How a healwatch invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: every target is healthy now.
    Healthy = 0,
    /// 1: some target is still unhealthy (restart failed, not recovered, or a dry run found it failing).
    Unhealthy = 1,
    /// 2: usage or config error; nothing checked, nothing restarted.
    Usage = 2,
    /// 3: another pass holds the lock.
    Locked = 3,
}

impl Exit {
    /// The status for a finished pass.
    pub fn for_report(report: &Report) -> Self {
        if report.targets.iter().all(|t| t.healthy_now()) { Self::Healthy } else { Self::Unhealthy }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}
