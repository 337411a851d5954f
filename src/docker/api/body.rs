//! One exchange with an engine on a socket: connecting by a deadline, sending the
//! request, and reading the answer as it comes (`Body`) or whole (`exchange`), bounded in
//! time and size, a signal ending any wait within 200 ms.

use std::io::{ErrorKind, Read, Write};
#[cfg(test)]
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::conn::Conn;
use super::wire::{parse_head, refusal};

/// Sends `request` on a fresh connection to the socket at `path` and reads the whole
/// answer, within `timeout` and `INSPECT_LIMIT`.
#[cfg(test)]
pub(super) fn over_unix(path: &Path, request: &[u8], timeout: Duration) -> Result<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let stream = super::conn::connect(&super::conn::Address::Unix(path.to_path_buf()), deadline)?;
    exchange(stream, request, deadline, timeout, crate::docker::INSPECT_LIMIT)
}

/// Sends `request` on `stream` and reads until the engine closes it, by `deadline` (the
/// end of the call's `timeout`) and within `limit` bytes; a signal ends the wait within
/// 200 ms.
pub(crate) fn exchange(
    mut stream: Conn,
    request: &[u8],
    deadline: Instant,
    timeout: Duration,
    limit: usize,
) -> Result<Vec<u8>> {
    let left = deadline.saturating_duration_since(Instant::now());
    stream.set_write_timeout(Some(left.max(Duration::from_millis(1))))?;
    stream.write_all(request).context("sending the request")?;
    let mut answer = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if let Some(signal) = crate::interrupt::requested() {
            bail!("interrupted by {}", crate::interrupt::name(signal));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("no whole answer within {}", crate::model::show_ms(timeout));
        }
        // Short reads, so an interrupt is seen soon.
        stream.set_read_timeout(Some(left.min(Duration::from_millis(200))))?;
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(answer),
            Ok(n) if answer.len() + n > limit => {
                bail!("the answer is longer than {}: not read", show_size(limit))
            }
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading the answer"),
        }
    }
}

/// `limit` bytes as a person reads them: whole MiB, else KiB.
fn show_size(limit: usize) -> String {
    if limit >= 1 << 20 { format!("{} MiB", limit >> 20) } else { format!("{} KiB", limit >> 10) }
}

/// The body of the answer to a request on a socket, read as it comes: by `deadline` (the
/// end of the call's `timeout`), within `limit` bytes in all, a signal ending it within
/// 200 ms. The head has been read (a 200) before the first byte of it is handed out.
pub(crate) struct Body {
    stream: Conn,
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
        mut stream: Conn,
        request: &[u8],
        deadline: Instant,
        timeout: Duration,
        limit: usize,
    ) -> Result<Self> {
        let left = deadline.saturating_duration_since(Instant::now());
        stream.set_write_timeout(Some(left.max(Duration::from_millis(1))))?;
        stream.write_all(request).context("sending the request")?;
        let mut body = Self { stream, deadline, timeout, left: limit, early: Vec::new() };
        let mut head = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        let (code, end) = loop {
            if let Some(parsed) = parse_head(&head)? {
                break parsed;
            }
            match body.read(&mut chunk)? {
                0 if head.is_empty() => bail!("{}", super::wire::CLOSED),
                0 => bail!("the engine's answer is not HTTP ({} bytes without a header end)", head.len()),
                n => head.extend_from_slice(&chunk[..n]),
            }
        };
        let rest = head.split_off(end);
        if code == 200 {
            body.early = rest;
            return Ok(body);
        }
        // The message follows: read it (bounded), then say it.
        let mut message = rest;
        let _ = (&mut body).take(64 * 1024).read_to_end(&mut message);
        if super::table::is_refusal(code, &message) {
            // A proxy's refusal names the call and the switch that allows it.
            let line = String::from_utf8_lossy(request.split(|b| *b == b'\r').next().unwrap_or_default()).into_owned();
            let mut words = line.split(' ');
            let (method, path) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
            return Err(super::table::Refusal(super::table::refused(method, path, code)).into());
        }
        Err(refusal(code, &message))
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
