//! Exit statuses, the contract scripts and cron monitors rely on: one `Exit` per way a
//! command can end, and `Stop`, the typed error of each way it can stop early, mapped to
//! its status in one place.

use std::process::ExitCode;

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
    /// 4: an I/O or system error stopped the command (a file it must write, stdout).
    Failure = 4,
}

impl Exit {
    /// 0 when every target is healthy now, else 1.
    pub fn for_health(all_healthy_now: bool) -> Self {
        if all_healthy_now { Self::Healthy } else { Self::Unhealthy }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// Why a command stopped before it could do its job.
#[derive(Debug)]
pub enum Stop {
    /// Bad flags or config, an unknown target, no docker CLI: exit 2.
    Usage(anyhow::Error),
    /// Another pass holds the lock (the message says whose): exit 3.
    Locked(String),
    /// An I/O or system error: exit 4.
    Io(anyhow::Error),
}

impl Stop {
    /// The exit status for this stop.
    pub fn exit(&self) -> Exit {
        match self {
            Self::Usage(_) => Exit::Usage,
            Self::Locked(_) => Exit::Locked,
            Self::Io(_) => Exit::Failure,
        }
    }
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Usage(e) | Self::Io(e) => write!(f, "{e:#}"),
            Self::Locked(held) => f.write_str(held),
        }
    }
}

/// `?` on an `anyhow` error in a command is a usage or config error unless said otherwise.
impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Self {
        Self::Usage(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stop_has_its_status() {
        let cases = [
            (Stop::Usage(anyhow::anyhow!("bad")), Exit::Usage, 2),
            (Stop::Locked("held".into()), Exit::Locked, 3),
            (Stop::Io(anyhow::anyhow!("disk")), Exit::Failure, 4),
        ];
        for (stop, exit, code) in cases {
            assert_eq!(stop.exit(), exit);
            assert_eq!(exit as u8, code);
        }
        assert_eq!(Exit::for_health(true) as u8, 0);
        assert_eq!(Exit::for_health(false) as u8, 1);
    }
}
