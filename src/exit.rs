//! Exit statuses, the contract scripts and cron monitors rely on: one `Exit` per way a
//! command can end, and `Stop`, the typed error of each way it can stop early, mapped to
//! its status in one place.

use std::process::ExitCode;

/// How a healwatch invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: every target is healthy now.
    Healthy,
    /// 1: some target is still unhealthy (restart failed, not recovered, or a dry run found it failing).
    Unhealthy,
    /// 2: usage or config error; nothing checked, nothing restarted.
    Usage,
    /// 3: another pass holds the lock.
    Locked,
    /// 4: an I/O or system error stopped the command (a file it must write, stdout).
    Failure,
    /// 128 + N: signal N (SIGTERM, SIGINT, SIGHUP) interrupted the pass, which still
    /// reported what it had done.
    Interrupted(i32),
}

impl Exit {
    /// The process exit status.
    pub fn code(self) -> u8 {
        match self {
            Self::Healthy => 0,
            Self::Unhealthy => 1,
            Self::Usage => 2,
            Self::Locked => 3,
            Self::Failure => 4,
            Self::Interrupted(signal) => u8::try_from(128 + signal.clamp(1, 127)).unwrap_or(u8::MAX),
        }
    }

    /// 0 when every target is healthy now, else 1.
    pub fn for_health(all_healthy_now: bool) -> Self {
        if all_healthy_now { Self::Healthy } else { Self::Unhealthy }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
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

    /// What the binary prints on stderr: the message on one line, whatever input it holds.
    pub fn line(&self) -> String {
        crate::model::one_line(&self.to_string(), 2000)
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
            assert_eq!(exit.code(), code);
        }
        assert_eq!(Exit::for_health(true).code(), 0);
        assert_eq!(Exit::for_health(false).code(), 1);
        assert_eq!(Exit::Interrupted(15).code(), 143);
        assert_eq!(Exit::Interrupted(2).code(), 130);
    }
}
