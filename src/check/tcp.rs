//! TCP checks: connect, optionally send a line and wait for an expected answer, all
//! within the target's timeout.

use std::io::Read;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::describe::{contains, describe_io};
use super::{Check, Failed, Failure};
use crate::config::{TCP_READ_LIMIT, TcpCheck};
use crate::model::{redact_text, show_ms};

/// One TCP check: connect within `timeout`; then, if asked, send a line and read (at
/// most 4 KiB) until the answer holds `expect`. The whole check is bounded by `timeout`.
pub(super) fn tcp_check(check: &TcpCheck, timeout: Duration) -> Check {
    use std::io::Write;
    let start = Instant::now();
    let deadline = start + timeout;
    let left = || deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
    let fail = |error: Failed| Check { http_status: None, latency: start.elapsed(), error: Some(error) };
    let lacks = |text: String| fail(Failed { why: Failure::Body, text });
    let addr = match resolve(check.addr.bare_host(), check.addr.port, timeout) {
        Ok(addr) => addr,
        Err(text) => return fail(Failed { why: Failure::Connection, text }),
    };
    let mut stream = match std::net::TcpStream::connect_timeout(&addr, left()) {
        Ok(stream) => stream,
        Err(e) => return fail(describe_io(&e, timeout, "connecting")),
    };
    if let Some(send) = &check.send {
        let sent = stream.set_write_timeout(Some(left())).and_then(|()| stream.write_all(send.as_bytes()));
        if let Err(e) = sent {
            return fail(describe_io(&e, timeout, "sending"));
        }
    }
    let Some(expect) = &check.expect else {
        return Check::passed(None, start.elapsed());
    };
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        if contains(&answer, expect.as_bytes()) {
            return Check::passed(None, start.elapsed());
        }
        if answer.len() >= TCP_READ_LIMIT || Instant::now() >= deadline {
            return lacks(format!("answer lacks {expect:?}"));
        }
        let read = stream.set_read_timeout(Some(left())).and_then(|()| stream.read(&mut buf));
        match read {
            Ok(0) if answer.is_empty() => return lacks(format!("connection closed before {expect:?}")),
            Ok(0) => {
                let got = crate::model::one_line(&redact_text(String::from_utf8_lossy(&answer).trim()), 100);
                return lacks(format!("answer lacks {expect:?}: {got}"));
            }
            Ok(n) => answer.extend_from_slice(&buf[..n.min(TCP_READ_LIMIT - answer.len())]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return lacks(format!("answer lacks {expect:?} (timeout after {})", show_ms(timeout)));
            }
            Err(e) => return fail(describe_io(&e, timeout, "reading")),
        }
    }
}

/// An address for `host`: an IP address as is (no lookup), a name looked up within
/// `timeout`.
fn resolve(host: &str, port: u16, timeout: Duration) -> Result<SocketAddr, String> {
    let found = crate::net::lookup_within(host, port, timeout).map_err(|e| match e.kind() {
        std::io::ErrorKind::TimedOut => format!("DNS timeout after {}", show_ms(timeout)),
        _ => format!("DNS failure: {e}"),
    })?;
    found.into_iter().next().ok_or_else(|| "DNS failure: no address".to_string())
}
