//! Exit statuses, the contract scripts and cron monitors rely on: one `Exit` per way a
//! command can end, and `Stop`, the typed error of each way it can stop early, mapped to
//! its status in one place.

use std::fmt;
use std::path::PathBuf;
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
    /// Another healwatch holds the lock: exit 3.
    Locked(Held),
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

    /// Whether the binary prints nothing for it (see `Held::quiet`).
    pub fn silent(&self) -> bool {
        matches!(self, Self::Locked(held) if held.quiet)
    }

    /// What the binary prints on stderr: the message on one line, whatever input it holds.
    pub fn line(&self) -> String {
        crate::model::one_line(&self.to_string(), 2000)
    }
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(e) | Self::Io(e) => write!(f, "{e:#}"),
            Self::Locked(held) => held.fmt(f),
        }
    }
}

/// Whose lock it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// The pass lock: one pass (or `pause`, `drill`) at a time.
    Pass,
    /// A watch's own lock: one `run --watch` at a time.
    Watch,
}

impl LockKind {
    /// What holds it: `pass` or `watch`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Watch => "watch",
        }
    }
}

/// A lock another healwatch holds, and what this command did about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Whose lock.
    pub kind: LockKind,
    /// The lock file.
    pub path: PathBuf,
    /// The holder's process id, as it wrote it in the file.
    pub pid: Option<u32>,
    /// What this command did about it: waited, gave up, did nothing.
    pub then: Option<String>,
    /// How long the holder has held it (since it wrote the lock file), when known.
    pub age: Option<std::time::Duration>,
    /// Whether this run said nothing of it on stdout or stderr: under `--quiet`, a pass or
    /// watch still running from the same schedule is routine, and cron mails output.
    pub quiet: bool,
}

impl Held {
    /// The same, saying what this command did about it.
    pub fn then(self, what: impl Into<String>) -> Self {
        Self { then: Some(what.into()), ..self }
    }
}

impl fmt::Display for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whose = self.kind.name();
        write!(f, "another healwatch {whose} holds the lock {}", self.path.display())?;
        if let Some(pid) = self.pid {
            write!(f, " (pid {pid})")?;
        }
        match &self.then {
            Some(then) => write!(f, "; {then}"),
            None => Ok(()),
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
            (
                Stop::Locked(Held {
                    kind: LockKind::Pass,
                    path: "l".into(),
                    pid: None,
                    then: None,
                    age: None,
                    quiet: false,
                }),
                Exit::Locked,
                3,
            ),
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
