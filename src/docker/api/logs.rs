//! `docker logs --since --until` through the Engine API, for an engine that is a socket
//! here: the first line in a time span that matches a pattern, read as it streams, with
//! no more than one line of it held and the whole read bounded in time and bytes, as the
//! CLI's run is (`process::scan_lines`).

use std::time::{Duration, Instant, SystemTime};

use super::body::Body;
use super::calls::inspect;
use super::conn::{Address, connect};
use super::frames::Frames;
use super::wire::{Request, segment, unix_time};
use crate::process::{LINE_LIMIT, LineReader};

/// A log's lines as they arrive: one reader per stream, so a line split across frames
/// of one stream is whole, and a line of the other stream never splits it. With a TTY
/// there are no frames: one raw stream.
struct LogLines {
    frames: Option<Frames>,
    lines: [LineReader; 2],
}

impl LogLines {
    fn new(tty: bool) -> Self {
        Self { frames: (!tty).then(Frames::default), lines: [LineReader::new(LINE_LIMIT), LineReader::new(LINE_LIMIT)] }
    }

    /// Feeds `bytes`; `line` gets each whole line until it returns true, which is returned.
    fn feed(&mut self, bytes: &[u8], line: &mut impl FnMut(&[u8], bool) -> bool) -> bool {
        let Some(frames) = &mut self.frames else {
            return self.lines[0].feed(bytes, line);
        };
        let lines = &mut self.lines;
        frames.feed(bytes, &mut |stream, part, _| lines[stream].feed(part, &mut *line))
    }

    /// The end of the log: each stream's last line, if it did not end in a newline.
    fn flush(&mut self, line: &mut impl FnMut(&[u8], bool) -> bool) -> bool {
        self.lines.iter_mut().any(|reader| reader.flush(&mut *line))
    }
}

/// The first line `container` logged (either stream) in `[since, until)` that matches
/// `pattern`, asked of the engine at `socket`, within `timeout` and `byte_limit` bytes of
/// log (past it: no match). `Err` says why the logs could not be read.
pub(crate) fn log_match(
    at: &Address,
    container: &str,
    span: (SystemTime, SystemTime),
    pattern: &regex::Regex,
    bounds: (Duration, u64),
) -> Result<Option<String>, String> {
    let mut found = None;
    let query = format!("since={}&until={}", unix_time(span.0), unix_time(span.1));
    read_log(at, container, &query, bounds, &mut |line: &[u8], _cut: bool| {
        let text = String::from_utf8_lossy(line);
        found = pattern.is_match(&text).then(|| text.trim().to_string());
        found.is_some()
    })?;
    Ok(found)
}

/// The last `lines` lines `container` logged (both streams, in the order they were
/// written), asked of the engine at `socket` within `bounds` (time, bytes of log).
pub(crate) fn log_tail(
    at: &Address,
    container: &str,
    lines: usize,
    bounds: (Duration, u64),
) -> Result<Vec<String>, String> {
    let mut last = std::collections::VecDeque::with_capacity(lines + 1);
    read_log(at, container, &format!("tail={lines}"), bounds, &mut |line: &[u8], _cut: bool| {
        last.push_back(String::from_utf8_lossy(line).trim_end().to_string());
        if last.len() > lines {
            last.pop_front();
        }
        false
    })?;
    Ok(last.into())
}

/// `GET /containers/NAME/logs` of both streams, with `query`.
pub(crate) fn request(container: &str, query: &str) -> Request {
    Request::get(format!("/containers/{}/logs?stdout=1&stderr=1&{query}", segment(container)))
}

/// Streams `container`'s log (`GET /containers/{}/logs?stdout=1&stderr=1&QUERY`) into
/// `line`, one whole line at a time, until `line` returns true, the log ends or
/// `byte_limit` bytes have come, all within `timeout`.
fn read_log(
    at: &Address,
    container: &str,
    query: &str,
    (timeout, byte_limit): (Duration, u64),
    line: &mut impl FnMut(&[u8], bool) -> bool,
) -> Result<(), String> {
    use std::io::Read;
    let deadline = Instant::now() + timeout;
    let failed = |e: &dyn std::fmt::Display| format!("docker logs failed: {e}");
    let info = inspect(at, container, timeout).map_err(|out| failed(&out.stderr))?;
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let request = request(container, query);
    let stream = connect(at, deadline).map_err(|e| failed(&format!("{e:#}")))?;
    // Past `byte_limit` the read stops here, as if the log ended; the body's own bound
    // is only a backstop.
    let mut body =
        Body::open(stream, &request.bytes(), deadline, timeout, usize::MAX).map_err(|e| failed(&format!("{e:#}")))?;
    let mut log = LogLines::new(tty);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match body.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Err(format!("reading the logs took longer than {}", crate::model::show_ms(timeout)));
            }
            Err(e) if crate::interrupt::requested().is_some() => {
                return Err(format!("reading the logs was interrupted ({e})"));
            }
            Err(e) => return Err(failed(&e)),
        };
        if n == 0 {
            log.flush(line);
            return Ok(());
        }
        total += n as u64;
        if log.feed(&chunk[..n], line) || total > byte_limit {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixListener;

    fn frame(stream: u8, text: &[u8]) -> Vec<u8> {
        let mut f = vec![stream, 0, 0, 0];
        f.extend_from_slice(&(text.len() as u32).to_be_bytes());
        f.extend_from_slice(text);
        f
    }

    fn all_lines(tty: bool, pieces: &[&[u8]]) -> Vec<String> {
        let mut seen = Vec::new();
        let mut keep = |l: &[u8], _: bool| {
            seen.push(String::from_utf8_lossy(l).into_owned());
            false
        };
        let mut log = LogLines::new(tty);
        for piece in pieces {
            log.feed(piece, &mut keep);
        }
        log.flush(&mut keep);
        seen
    }

    #[test]
    fn frames_are_split_into_whole_lines_per_stream_however_they_arrive() {
        let raw = [frame(1, b"starting\nrea"), frame(2, b"warn: slow\n"), frame(1, b"dy\nlast")].concat();
        let want = ["starting", "warn: slow", "ready", "last"];
        assert_eq!(all_lines(false, &[&raw]), want);
        // Byte by byte: headers and bodies split anywhere.
        let bytes: Vec<&[u8]> = raw.chunks(1).collect();
        assert_eq!(all_lines(false, &bytes), want);
        // With a TTY the stream is the text itself.
        assert_eq!(all_lines(true, &[b"a\nb", b"c\n"]), ["a", "bc"]);
    }

    /// An engine at `path` that answers the inspect with `tty`, then the logs with `log`,
    /// and returns the logs request it got.
    fn engine(path: &std::path::Path, tty: bool, log: Vec<u8>) -> std::thread::JoinHandle<String> {
        let listener = UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            let mut got = String::new();
            for answer in [format!(r#"{{"Config":{{"Tty":{tty}}}}}"#).into_bytes(), log] {
                let (mut conn, _) = listener.accept().unwrap();
                let mut request = [0u8; 2048];
                let n = conn.read(&mut request).unwrap();
                got = String::from_utf8_lossy(&request[..n]).into_owned();
                conn.write_all(b"HTTP/1.0 200 OK\r\n\r\n").unwrap();
                let _ = conn.write_all(&answer);
            }
            got
        })
    }

    #[test]
    fn the_first_matching_line_of_either_stream_is_found_over_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let log = [frame(1, b"ok\n"), frame(2, b"FATAL: out of memory\n"), frame(1, b"FATAL again\n")].concat();
        let server = engine(&path, false, log);
        let span =
            (SystemTime::UNIX_EPOCH + Duration::from_secs(100), SystemTime::UNIX_EPOCH + Duration::from_secs(160));
        let pattern = regex::Regex::new("FATAL").unwrap();
        let bounds = (Duration::from_secs(5), 1 << 20);
        let found = log_match(&Address::Unix(path.clone()), "web/../x", span, &pattern, bounds).unwrap();
        assert_eq!(found.as_deref(), Some("FATAL: out of memory"));
        let request = server.join().unwrap();
        let want = "GET /containers/web%2F..%2Fx/logs?stdout=1&stderr=1&since=100.000000000&until=160.000000000 ";
        assert!(request.starts_with(want), "{request}");
    }

    #[test]
    fn the_last_lines_of_both_streams_come_in_the_order_they_were_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let log = [frame(1, b"one\ntwo\n"), frame(2, b"three: out of memory\n"), frame(1, b"four")].concat();
        let server = engine(&path, false, log);
        let last = log_tail(&Address::Unix(path.clone()), "web", 3, (Duration::from_secs(5), 1 << 20)).unwrap();
        assert_eq!(last, ["two", "three: out of memory", "four"]);
        assert!(server.join().unwrap().starts_with("GET /containers/web/logs?stdout=1&stderr=1&tail=3 "));
    }

    #[test]
    fn no_match_a_log_past_the_limit_one_that_never_ends_and_no_engine() {
        let dir = tempfile::tempdir().unwrap();
        let pattern = regex::Regex::new("FATAL").unwrap();
        let span = (SystemTime::UNIX_EPOCH, SystemTime::UNIX_EPOCH + Duration::from_secs(1));
        let path = dir.path().join("a.sock");
        let server = engine(&path, true, b"all fine\nstill fine".to_vec());
        assert_eq!(
            log_match(&Address::Unix(path.clone()), "web", span, &pattern, (Duration::from_secs(5), 1 << 20)),
            Ok(None)
        );
        server.join().unwrap();
        // Past the byte limit the read stops, as if nothing matched.
        let path = dir.path().join("b.sock");
        let mut log = vec![b'x'; 200_000];
        log.extend_from_slice(b"\nFATAL late\n");
        let server = engine(&path, true, log);
        assert_eq!(
            log_match(&Address::Unix(path.clone()), "web", span, &pattern, (Duration::from_secs(5), 1000)),
            Ok(None)
        );
        server.join().unwrap();
        // An engine that starts the answer and never ends it: bounded by the timeout.
        let path = dir.path().join("c.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let _ = conn.read(&mut [0u8; 2048]);
            conn.write_all(b"HTTP/1.0 200 OK\r\n\r\n{\"Config\":{\"Tty\":true}}").unwrap();
            drop(conn);
            let (mut held, _) = listener.accept().unwrap();
            let _ = held.read(&mut [0u8; 2048]);
            held.write_all(b"HTTP/1.0 200 OK\r\n\r\nstill going").unwrap();
            std::thread::sleep(Duration::from_millis(1200));
        });
        let hung =
            log_match(&Address::Unix(path.clone()), "web", span, &pattern, (Duration::from_millis(400), 1 << 20));
        assert_eq!(hung, Err("reading the logs took longer than 400ms".to_string()));
        server.join().unwrap();
        // No engine: an error that says so.
        let e = log_match(
            &Address::Unix(dir.path().join("none.sock")),
            "web",
            span,
            &pattern,
            (Duration::from_secs(1), 1000),
        );
        assert!(e.unwrap_err().starts_with("docker logs failed"));
    }
}
