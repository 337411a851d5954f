//! The Engine API's wire, shared by every call healwatch makes on it: a name as one path
//! segment, an answer's status and the daemon's message, and an answer's body read as
//! it comes, bounded in time and size.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::model::{one_line, redact_text};

/// A name or id as one path segment: the characters Docker allows in names are kept,
/// anything else is percent-encoded, so no input can reach another endpoint.
pub(crate) fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The body of a `200 OK` answer; any other answer is an error with the daemon's
/// message (one line, cut).
pub(crate) fn response_body(answer: &[u8]) -> Result<&[u8]> {
    match status_and_body(answer)? {
        (200, body) => Ok(body),
        (code, body) => Err(refusal(code, body)),
    }
}

/// An HTTP/1.x answer's status code and body.
pub(crate) fn status_and_body(answer: &[u8]) -> Result<(u16, &[u8])> {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        bail!("the engine's answer is not HTTP ({} bytes without a header end)", answer.len());
    };
    let head = String::from_utf8_lossy(&answer[..end]);
    let status_line = head.lines().next().unwrap_or_default();
    let code = match status_line.split(' ').collect::<Vec<_>>()[..] {
        [version, code, ..] if version.starts_with("HTTP/1.") => code.parse::<u16>().ok(),
        _ => None,
    };
    match code {
        Some(code) => Ok((code, &answer[end + 4..])),
        None => bail!("the engine's answer is not HTTP: '{}'", one_line(status_line, 80)),
    }
}

/// The daemon's message in an error answer's body (`{"message": …}`), redacted, on
/// one line, cut.
pub(crate) fn daemon_message(body: &[u8]) -> String {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    one_line(&redact_text(&message), 200)
}

/// An answer other than 200, with the daemon's message (redacted, on one line, cut).
pub(crate) fn refusal(code: u16, body: &[u8]) -> anyhow::Error {
    anyhow::anyhow!("the engine answered {code}: {}", daemon_message(body))
}

/// The body of the answer to a request on a socket, read as it comes: by `deadline` (the
/// end of the call's `timeout`), within `limit` bytes in all, a signal ending it within
/// 200 ms. The head has been read (a 200) before the first byte of it is handed out.
pub(crate) struct Body {
    stream: UnixStream,
    deadline: Instant,
    timeout: Duration,
    left: usize,
    /// The start of the body, read with the head.
    early: Vec<u8>,
}

impl Body {
    /// Sends `request` on `stream` and reads the answer's head: the body to come for a
    /// 200, the engine's message as the error otherwise.
    pub(crate) fn open(
        mut stream: UnixStream,
        request: &[u8],
        deadline: Instant,
        timeout: Duration,
        limit: usize,
    ) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let left = deadline.saturating_duration_since(Instant::now());
        stream.set_write_timeout(Some(left.max(Duration::from_millis(1))))?;
        stream.write_all(request).context("sending the request")?;
        let mut body = Self { stream, deadline, timeout, left: limit, early: Vec::new() };
        let mut head = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        let end = loop {
            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            if head.len() > 64 * 1024 {
                anyhow::bail!("the engine's answer has no end to its head");
            }
            match body.read(&mut chunk)? {
                0 => break head.len(),
                n => head.extend_from_slice(&chunk[..n]),
            }
        };
        match status_and_body(&head)? {
            (200, _) => {
                body.early = head.split_off(end + 4);
                Ok(body)
            }
            (code, _) => {
                // The message follows: read it (bounded), then say it.
                let mut rest = head.split_off(end + 4);
                let _ = (&mut body).take(64 * 1024).read_to_end(&mut rest);
                Err(refusal(code, &rest))
            }
        }
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.early.is_empty() {
            let n = buf.len().min(self.early.len());
            buf[..n].copy_from_slice(&self.early[..n]);
            self.early.drain(..n);
            return Ok(n);
        }
        loop {
            if let Some(signal) = crate::interrupt::requested() {
                return Err(std::io::Error::other(format!("interrupted by {}", crate::interrupt::name(signal))));
            }
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let within = crate::model::show_ms(self.timeout);
                return Err(std::io::Error::new(ErrorKind::TimedOut, format!("no whole answer within {within}")));
            }
            // Short reads, so an interrupt is seen soon.
            self.stream.set_read_timeout(Some(left.min(Duration::from_millis(200))))?;
            match self.stream.read(buf) {
                Ok(n) if n > self.left => {
                    return Err(std::io::Error::other("the answer is longer than the limit: not read"));
                }
                Ok(n) => {
                    self.left -= n;
                    return Ok(n);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                Err(e) => return Err(e),
            }
        }
    }
}
