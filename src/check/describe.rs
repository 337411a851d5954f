//! How a failed exchange reads in the status line: an I/O or HTTP client error as the
//! failure it is (no answer, refused, reset, TLS), for the HTTP and TCP checks alike.

use std::time::Duration;

use super::{Failed, Failure, no_answer};
use crate::model::redact_text;

pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Why a request failed, as a person reads it in the status line.
pub(super) fn describe_error(error: &ureq::Error, timeout: Duration) -> Failed {
    use ureq::Error as E;
    let connection = |text: String| Failed { why: Failure::Connection, text };
    match error {
        E::Timeout(_) => Failed { why: Failure::Hung, text: no_answer(timeout) },
        E::HostNotFound => connection("DNS failure: host not found".to_string()),
        E::Io(e) => describe_io(e, timeout, "connecting"),
        E::ConnectionFailed => connection("connection failed".to_string()),
        E::Tls(e) => connection(format!("TLS error: {e}")),
        E::Rustls(e) => connection(format!("TLS error: {e}")),
        other => Failed { why: Failure::Other, text: redact_text(&other.to_string()) },
    }
}

/// As `describe_error`, for an I/O error while `doing` something.
pub(super) fn describe_io(error: &std::io::Error, timeout: Duration, doing: &str) -> Failed {
    use std::io::ErrorKind as K;
    if let Some(inner) = error.get_ref().and_then(|e| e.downcast_ref::<ureq::Error>()) {
        return describe_error(inner, timeout);
    }
    let message = error.to_string();
    let connection = |text: String| Failed { why: Failure::Connection, text };
    if message.contains("lookup address") || message.contains("Name or service not known") {
        return connection(format!("DNS failure: {message}"));
    }
    match error.kind() {
        K::ConnectionRefused => connection("connection refused".to_string()),
        K::TimedOut | K::WouldBlock => Failed { why: Failure::Hung, text: no_answer(timeout) },
        K::ConnectionReset => connection("connection reset by the server".to_string()),
        K::UnexpectedEof => connection("connection closed by the server before a whole response".to_string()),
        // rustls reports handshake and certificate failures as InvalidData.
        K::InvalidData => connection(format!("TLS error: {}", redact_text(&message))),
        _ => Failed { why: Failure::Other, text: format!("{doing}: {}", redact_text(&message)) },
    }
}
