//! Docker's container events for a watch: one stream per engine, read without blocking,
//! by the engine's route: where healwatch reaches the engine's API itself (a socket on
//! this host, or a socket proxy's `tcp://`), it asks it (`GET /events`: a quiet watch
//! then starts no process at all); elsewhere
//! `docker events` runs in its own process group, killed when the stream is dropped.

use std::io::{Read, Write};
use std::process::{Child, ChildStdout, Stdio};
use std::time::{Duration, Instant, SystemTime};

use super::api::wire::{Request, parse_head, segment, unix_time};
use super::{DockerCli, api};
use crate::model::Endpoint;
use crate::process::{LineReader, kill_group, nonblocking, spawn_in_group};

/// The docker events a watch asks for (`--filter event=...`); anything else is noise (a
/// HEALTHCHECK alone makes three exec events a second).
const EVENT_FILTERS: [&str; 6] = ["die", "oom", "pause", "start", "health_status: unhealthy", "health_status: healthy"];

/// `docker events --format`: the container's name, a tab, the action. Names cannot
/// hold a tab, and the actions asked for are fixed words.
pub(crate) const EVENT_FORMAT: &str = "{{.Actor.Attributes.name}}\t{{.Action}}";

/// A longer event line is not Docker's: it is skipped.
const EVENT_LINE_LIMIT: usize = 4096;
/// At most this much is read per look at the events; the rest waits for the next.
const EVENT_READ_LIMIT: usize = 256 * 1024;
/// Bound on connecting to the socket and sending the request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Starts `docker events` for the container events a watch cares about, from `since`
/// until `until` (when the CLI ends by itself, even if healwatch was killed), on
/// `endpoint`. The child runs in its own process group until the stream is dropped;
/// it has no stdin and its stderr is discarded (an engine that cannot be reached ends
/// the stream, and the watch's passes report the engine).
pub(crate) fn follow(
    docker: &DockerCli,
    endpoint: &Endpoint,
    since: SystemTime,
    until: SystemTime,
) -> std::io::Result<EventStream> {
    if let Some(at) = docker.api_address(endpoint) {
        return from_api(&at, since, until);
    }
    let mut command = docker.command(endpoint);
    command.args(["events", "--format", EVENT_FORMAT, "--filter", "type=container"]);
    command.arg("--since").arg(unix_time(since)).arg("--until").arg(unix_time(until));
    for event in EVENT_FILTERS {
        command.arg("--filter").arg(format!("event={event}"));
    }
    let mut child = spawn_in_group(command.stdin(Stdio::null()).stderr(Stdio::null()))?;
    let stdout = child.stdout.take().filter(nonblocking);
    Ok(EventStream { source: Source::Cli { child, stdout }, lines: LineReader::new(EVENT_LINE_LIMIT) })
}

/// `GET /events` on the engine's API, as HTTP/1.0: the daemon streams one JSON object
/// per line, unchunked, and closes at `until`.
fn from_api(at: &api::Address, since: SystemTime, until: SystemTime) -> std::io::Result<EventStream> {
    let mut stream = api::connect(at, Instant::now() + CONNECT_TIMEOUT).map_err(std::io::Error::other)?;
    stream.set_write_timeout(Some(CONNECT_TIMEOUT))?;
    stream.write_all(&events_request(since, until).bytes())?;
    stream.set_nonblocking(true)?;
    let source = Source::Api { socket: Some(stream), head: Some(Vec::new()) };
    Ok(EventStream { source, lines: LineReader::new(EVENT_LINE_LIMIT) })
}

/// The request for the events a watch wants, between `since` and `until`.
pub(crate) fn events_request(since: SystemTime, until: SystemTime) -> Request {
    let filters = serde_json::json!({"type": ["container"], "event": EVENT_FILTERS}).to_string();
    let (since, until, filters) = (unix_time(since), unix_time(until), segment(&filters));
    Request::get(format!("/events?since={since}&until={until}&filters={filters}"))
}

/// One event of the API's stream as `EVENT_FORMAT` would print it; `None` for anything
/// that is not a container event with a name and an action.
fn api_event_line(json: &[u8]) -> Option<String> {
    let event: serde_json::Value = serde_json::from_slice(json).ok()?;
    let action = event.get("Action")?.as_str()?;
    let name = event.get("Actor")?.get("Attributes")?.get("name")?.as_str()?;
    (!name.contains(['\t', '\n']) && !action.contains(['\t', '\n'])).then(|| format!("{name}\t{action}"))
}

/// A stream of events, read without blocking; a `docker events` child is killed with
/// its group when dropped.
#[derive(Debug)]
pub(crate) struct EventStream {
    source: Source,
    lines: LineReader,
}

#[derive(Debug)]
enum Source {
    /// `docker events`, printing `EVENT_FORMAT` lines.
    Cli { child: Child, stdout: Option<ChildStdout> },
    /// The API's answer: its head while `head` is `Some`, then JSON lines.
    Api { socket: Option<api::Conn>, head: Option<Vec<u8>> },
}

impl EventStream {
    /// The whole lines written since the last call, as `EVENT_FORMAT` prints them (at
    /// most `EVENT_READ_LIMIT` of output is read per call); a line longer than
    /// `EVENT_LINE_LIMIT` is not Docker's and is skipped.
    pub(crate) fn lines(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        let mut read = 0;
        while read < EVENT_READ_LIMIT {
            let got = match &mut self.source {
                Source::Cli { stdout, .. } => read_some(stdout, &mut buf),
                Source::Api { socket, .. } => read_some(socket, &mut buf),
            };
            let Some(n) = got else { break };
            read += n;
            let data = &buf[..n];
            if let Source::Api { socket, head: head @ Some(_) } = &mut self.source {
                let so_far = head.as_mut().expect("matched Some");
                so_far.extend_from_slice(data);
                // The head, once whole: a 200 streams the events; anything else (or what
                // is not HTTP) ends the stream, and the watch's passes report the engine.
                let (ok, end) = match parse_head(so_far) {
                    Ok(Some((code, end))) => (code == 200, end),
                    Ok(None) => continue,
                    Err(_) => (false, 0),
                };
                let rest = so_far[end..].to_vec();
                *head = None;
                if !ok {
                    *socket = None;
                    break;
                }
                self.lines.feed(&rest, |line, cut| {
                    if !cut {
                        lines.extend(api_event_line(line));
                    }
                    false
                });
                continue;
            }
            let api = matches!(self.source, Source::Api { .. });
            self.lines.feed(data, |line, cut| {
                match (cut, api) {
                    (true, _) => {}
                    (false, true) => lines.extend(api_event_line(line)),
                    (false, false) => lines.push(String::from_utf8_lossy(line).into_owned()),
                }
                false
            });
        }
        lines
    }

    /// Whether the stream has ended (the child exited, or its output or the socket closed).
    pub(crate) fn ended(&mut self) -> bool {
        match &mut self.source {
            Source::Cli { child, stdout } => stdout.is_none() || !matches!(child.try_wait(), Ok(None)),
            Source::Api { socket, .. } => socket.is_none(),
        }
    }
}

/// Reads what is there without blocking: `None` when nothing is, and at the end (when
/// the reader is dropped, so the stream reads as ended).
fn read_some<R: Read>(reader: &mut Option<R>, buf: &mut [u8]) -> Option<usize> {
    loop {
        match reader.as_mut()?.read(buf) {
            Ok(0) => {
                *reader = None;
                return None;
            }
            Ok(n) => return Some(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return None,
            Err(_) => {
                *reader = None;
                return None;
            }
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        if let Source::Cli { child, .. } = &mut self.source {
            kill_group(child);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_asks_for_the_watchs_events_only() {
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let request = events_request(at(100), at(114)).text();
        assert!(request.starts_with("GET /events?since=100.000000000&until=114.000000000&filters=%7B%22"), "{request}");
        assert!(request.contains("health_status%3A%20unhealthy") && request.ends_with("\r\n\r\n"), "{request}");
        let first = request.lines().next().unwrap();
        assert_eq!(first.split(' ').count(), 3, "the filters are encoded whole: {first}");
    }

    #[test]
    fn api_events_read_as_the_cli_prints_them() {
        let die =
            br#"{"Type":"container","Action":"die","Actor":{"ID":"abc","Attributes":{"name":"web","exitCode":"1"}}}"#;
        assert_eq!(api_event_line(die).as_deref(), Some("web\tdie"));
        for junk in [&b"{}"[..], b"not json", br#"{"Action":"die","Actor":{"Attributes":{"name":"a\tb"}}}"#] {
            assert_eq!(api_event_line(junk), None, "{}", String::from_utf8_lossy(junk));
        }
    }

    #[test]
    fn a_stream_from_a_socket_reads_lines_after_the_head_and_ends_when_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = conn.read(&mut request).unwrap();
            let event = |name: &str| format!(r#"{{"Action":"pause","Actor":{{"Attributes":{{"name":"{name}"}}}}}}"#);
            let body =
                format!("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{}\n{}\n", event("a"), event("b"));
            conn.write_all(body.as_bytes()).unwrap();
        });
        let mut stream = from_api(&api::Address::Unix(path), SystemTime::now(), SystemTime::now()).unwrap();
        server.join().unwrap();
        let mut lines = Vec::new();
        for _ in 0..200 {
            lines.extend(stream.lines());
            if stream.ended() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(lines, ["a\tpause", "b\tpause"]);
        assert!(stream.ended());
    }
}
