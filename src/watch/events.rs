//! `docker events` for a watch: one stream per engine, read without blocking, killed
//! with its process group when dropped.

use std::io::Read;
use std::process::{Child, ChildStdout, Stdio};
use std::time::SystemTime;

use crate::docker::DockerCli;
use crate::model::Endpoint;
use crate::process::{LineReader, kill_group, nonblocking, spawn_in_group};

/// The docker events a watch asks for (`--filter event=...`); anything else is noise (a
/// HEALTHCHECK alone makes three exec events a second).
const EVENT_FILTERS: [&str; 4] = ["die", "oom", "pause", "health_status: unhealthy"];

/// `docker events --format`: the container's name, a tab, the action. Names cannot
/// hold a tab, and the actions asked for are fixed words.
pub(super) const EVENT_FORMAT: &str = "{{.Actor.Attributes.name}}\t{{.Action}}";

/// A longer event line is not Docker's: it is skipped.
const EVENT_LINE_LIMIT: usize = 1024;
/// At most this much is read per look at the events; the rest waits for the next.
const EVENT_READ_LIMIT: usize = 256 * 1024;

/// Starts `docker events` for the container events a watch cares about, from `since`
/// until `until` (when the CLI ends by itself, even if healwatch was killed), on
/// `endpoint`. The child runs in its own process group until the stream is dropped;
/// it has no stdin and its stderr is discarded (an engine that cannot be reached ends
/// the stream, and the watch's passes report the engine).
pub(super) fn follow(
    docker: &DockerCli,
    endpoint: &Endpoint,
    since: SystemTime,
    until: SystemTime,
) -> std::io::Result<EventStream> {
    let unix = |t: SystemTime| {
        let t = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
    };
    let mut command = docker.command(endpoint);
    command.args(["events", "--format", EVENT_FORMAT, "--filter", "type=container"]);
    command.arg("--since").arg(unix(since)).arg("--until").arg(unix(until));
    for event in EVENT_FILTERS {
        command.arg("--filter").arg(format!("event={event}"));
    }
    let mut child = spawn_in_group(command.stdin(Stdio::null()).stderr(Stdio::null()))?;
    let stdout = child.stdout.take().filter(nonblocking);
    Ok(EventStream { child, stdout, lines: LineReader::new(EVENT_LINE_LIMIT) })
}

/// A running `docker events`, read without blocking; killed with its group when dropped.
#[derive(Debug)]
pub(super) struct EventStream {
    child: Child,
    stdout: Option<ChildStdout>,
    lines: LineReader,
}

impl EventStream {
    /// The whole lines written since the last call (at most `EVENT_READ_LIMIT` of
    /// output is read per call); a line longer than `EVENT_LINE_LIMIT` is not Docker's
    /// and is skipped.
    pub(super) fn lines(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        let Some(pipe) = self.stdout.as_mut() else { return lines };
        let mut buf = [0u8; 16 * 1024];
        let mut read = 0;
        while read < EVENT_READ_LIMIT {
            let n = match pipe.read(&mut buf) {
                Ok(0) => {
                    self.stdout = None;
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.stdout = None;
                    break;
                }
            };
            read += n;
            self.lines.feed(&buf[..n], |line, cut| {
                if !cut {
                    lines.push(String::from_utf8_lossy(line).into_owned());
                }
                false
            });
        }
        lines
    }

    /// Whether the stream has ended (the child exited or its output closed).
    pub(super) fn ended(&mut self) -> bool {
        self.stdout.is_none() || !matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}
