//! Parsers for the plain values healwatch accepts: durations, HTTP status sets, target
//! and container names, header names and values. Each accepts exactly what it documents.

use std::fmt;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};

/// Parses a duration written like `500ms`, `5s`, `2m` or `1h 30m`; a bare `0` is zero.
pub(crate) fn parse_duration(text: &str) -> Result<Duration> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text.trim())
        .map_err(|e| anyhow!("'{text}' is not a duration ({e}; write e.g. 500ms, 5s, 2m)"))
}

/// A set of HTTP status codes written like `200-399` or `200,204,300-302`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatusSet {
    ranges: Vec<(u16, u16)>,
}

impl StatusSet {
    /// Healthy status codes by default, as Kubernetes HTTP probes: 200 <= code < 400.
    pub(crate) fn default_set() -> Self {
        Self { ranges: vec![(200, 399)] }
    }

    /// Parses `200-399`, `200`, or a comma-separated list of both.
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let hint = "write e.g. \"200-399\" or \"200,204\"";
        let mut ranges = Vec::new();
        for part in text.split(',').map(str::trim) {
            let (lo, hi) = part.split_once('-').unwrap_or((part, part));
            let code = |s: &str| -> Result<u16> {
                let n: u16 = s.trim().parse().map_err(|_| anyhow!("'{text}' is not a status set ({hint})"))?;
                if !(100..=599).contains(&n) {
                    bail!("status {n} in '{text}' is outside 100-599");
                }
                Ok(n)
            };
            let (lo, hi) = (code(lo)?, code(hi)?);
            if lo > hi {
                bail!("range '{part}' in '{text}' runs backwards");
            }
            ranges.push((lo, hi));
        }
        Ok(Self { ranges })
    }

    /// Whether `code` is in the set.
    pub(crate) fn contains(&self, code: u16) -> bool {
        self.ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&code))
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(lo, hi)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi { write!(f, "{lo}")? } else { write!(f, "{lo}-{hi}")? }
        }
        Ok(())
    }
}

/// Target names appear in output, file names and commands: keep them plain.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let ok =
        !name.is_empty() && name.len() <= 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-:".contains(c));
    if !ok {
        bail!("name '{name}' must be 1-128 letters, digits or _.-:");
    }
    Ok(())
}

/// Docker's container name rule (letters, digits, `_.-`, first character alphanumeric),
/// which also admits hex ids. A name that passes can never be read as an option.
pub(crate) fn validate_container_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !first_ok || !rest_ok || name.len() > 255 {
        bail!(
            "container name '{name}' is not a Docker name: use letters, digits and _.- \
             starting with a letter or digit (or a container id)"
        );
    }
    Ok(())
}

/// Headers a health check may not set: they frame the request or the connection, or
/// name the host, which the URL already does. Sending them would not mean what it says.
const FORBIDDEN_HEADERS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "expect",
    "host",
];

/// An HTTP header name (a token, not one of `FORBIDDEN_HEADERS`) and a value of visible
/// ASCII, spaces and tabs.
pub(crate) fn validate_header(key: &str, value: &str) -> Result<()> {
    let key_ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_graphic() && !b":()<>@,;\\\"/[]?={}".contains(&b));
    if !key_ok {
        bail!("header name '{}' is not a valid HTTP header name (letters, digits and -)", super::one_line(key, 64));
    }
    if FORBIDDEN_HEADERS.contains(&key.to_ascii_lowercase().as_str()) {
        bail!("header '{key}' is set by healwatch itself (the URL gives the host): remove it");
    }
    if let Some(b) = value.bytes().find(|&b| !(b.is_ascii_graphic() || b == b' ' || b == b'\t')) {
        bail!(
            "header '{key}' has the byte 0x{b:02x} in its value: only visible ASCII, spaces and tabs can be sent \
             (percent- or base64-encode anything else)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            ("500ms", Some(500)),
            ("5s", Some(5000)),
            ("2m", Some(120_000)),
            ("1h 30m", Some(5_400_000)),
            ("0", Some(0)),
            ("0s", Some(0)),
            ("5", None),
            ("five", None),
            ("", None),
            ("-1s", None),
        ];
        for (text, want) in cases {
            let got = parse_duration(text).ok().map(|d| d.as_millis() as u64);
            assert_eq!(got, want, "parse_duration({text:?})");
        }
    }

    #[test]
    fn status_sets() {
        let set = StatusSet::parse("200-399").unwrap();
        assert!(set.contains(200) && set.contains(399) && !set.contains(400) && !set.contains(199));
        assert_eq!(set, StatusSet::default_set());
        let set = StatusSet::parse("200, 204,300-302").unwrap();
        assert!(set.contains(204) && set.contains(301) && !set.contains(201));
        assert_eq!(set.to_string(), "200,204,300-302");
        for bad in ["", "abc", "399-200", "200-", "99", "600", "200-700"] {
            assert!(StatusSet::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn headers() {
        assert!(validate_header("X-Api-Key", "abc def\t1").is_ok());
        for (key, value, want) in [
            ("X-A", "v\r\nEvil: 1", "0x0d"),
            ("X-A", "caf\u{e9}", "0xc3"),
            ("X-A", "a\u{0}b", "0x00"),
            ("Content-Length", "5", "set by healwatch"),
            ("host", "other", "set by healwatch"),
            ("Bad Name", "v", "not a valid HTTP header name"),
        ] {
            let err = validate_header(key, value).unwrap_err().to_string();
            assert!(err.contains(want), "{key}: {value:?}: {err}");
        }
    }

    #[test]
    fn container_names() {
        for good in ["app", "a", "web_1", "my.app-2", "0f3c9a1b2c3d"] {
            assert!(validate_container_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-rm", "--help", "_x", ".x", "a b", "a/b", "a;b", "ä"] {
            assert!(validate_container_name(bad).is_err(), "{bad:?}");
        }
    }
}
