//! The Engine API's wire, shared by every call healwatch makes on it: the one request
//! builder (HTTP/1.0, so the daemon answers unchunked and closes when done), a name or a
//! query value percent-encoded, the one parser of an answer's head (httparse), and the
//! daemon's message.

use std::time::SystemTime;

use anyhow::{Result, bail};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::model::{one_line, redact_text};

/// Bound on an answer's head (status line and headers).
pub(crate) const HEAD_LIMIT: usize = 64 * 1024;

/// What stays as it is in a path segment or a query value: RFC 3986's unreserved
/// characters. Everything else is percent-encoded, so no input reaches another endpoint.
const KEPT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A name, an id or a query value as one percent-encoded path segment.
pub(crate) fn segment(name: &str) -> String {
    utf8_percent_encode(name, KEPT).to_string()
}

/// A time as the API takes `since` and `until`: seconds since the epoch, with nanoseconds.
pub(crate) fn unix_time(t: SystemTime) -> String {
    let t = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
}

/// One request to the engine: `method`, the path under the API's root (its query
/// included, already encoded), and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub method: &'static str,
    pub path: String,
    pub body: Option<String>,
}

impl Request {
    pub(crate) fn get(path: impl Into<String>) -> Self {
        Self { method: "GET", path: path.into(), body: None }
    }

    pub(crate) fn post(path: impl Into<String>, body: Option<String>) -> Self {
        Self { method: "POST", path: path.into(), body }
    }

    pub(crate) fn delete(path: impl Into<String>) -> Self {
        Self { method: "DELETE", path: path.into(), body: None }
    }

    /// The request as it goes on the wire.
    pub(crate) fn text(&self) -> String {
        let mut out = format!("{} {} HTTP/1.0\r\nHost: docker\r\nUser-Agent: healwatch\r\n", self.method, self.path);
        match &self.body {
            Some(body) => {
                out.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len()));
                out.push_str(body);
            }
            None if self.method == "POST" => out.push_str("Content-Length: 0\r\n\r\n"),
            None => out.push_str("\r\n"),
        }
        out
    }

    pub(crate) fn bytes(&self) -> Vec<u8> {
        self.text().into_bytes()
    }
}

/// An answer's head, once it is whole: its status code and where its body starts.
/// `Ok(None)` while more is to come; an error for what is not HTTP/1.x.
pub(crate) fn parse_head(answer: &[u8]) -> Result<Option<(u16, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(answer) {
        Ok(httparse::Status::Complete(end)) => match response.code {
            Some(code) => Ok(Some((code, end))),
            None => bail!("the engine's answer has no status"),
        },
        Ok(httparse::Status::Partial) if answer.len() > HEAD_LIMIT => {
            bail!("the engine's answer has no end to its head")
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => {
            let first = String::from_utf8_lossy(answer.split(|b| *b == b'\n').next().unwrap_or_default()).into_owned();
            bail!("the engine's answer is not HTTP ({e}): '{}'", one_line(first.trim_end(), 80))
        }
    }
}

/// The body of a `200 OK` answer; any other answer is an error with the daemon's
/// message (one line, cut).
pub(crate) fn response_body(answer: &[u8]) -> Result<&[u8]> {
    match status_and_body(answer)? {
        (200, body) => Ok(body),
        (code, body) => Err(refusal(code, body)),
    }
}

/// A whole HTTP/1.x answer's status code and body.
pub(crate) fn status_and_body(answer: &[u8]) -> Result<(u16, &[u8])> {
    match parse_head(answer)? {
        Some((code, end)) => Ok((code, &answer[end..])),
        None if answer.is_empty() => bail!("{CLOSED}"),
        None => bail!("the engine's answer is not HTTP ({} bytes without a header end)", answer.len()),
    }
}

/// A connection closed before any answer: what a socket proxy that refuses by closing
/// does, or an engine going away mid-call.
pub(crate) const CLOSED: &str =
    "the connection was closed without an answer (a socket proxy that refuses by closing it, or the engine going away)";

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
