//! Secrets never reach output: URL passwords (`user:pass@`), secret-looking query
//! parameters (`?token=...`) and header values; and the health URL, parsed once with its
//! secrets kept apart from its printable form.

use anyhow::{Result, bail};

/// What replaces a secret in output.
pub const MASK: &str = "***";

/// Query parameter names whose values are treated as secrets.
const SECRET_PARAMS: &[&str] =
    &["token", "key", "secret", "password", "passwd", "pass", "auth", "sig", "signature", "credential"];

/// A health URL, parsed once: the URL to request (without userinfo), the printable
/// form (secrets masked) and the Basic credentials taken out of `user:pass@`.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthUrl {
    /// The URL sent to the server, userinfo removed.
    pub request: String,
    /// The URL as printed: password and secret query values masked.
    pub display: String,
    /// `Basic ...` header value built from the URL's userinfo.
    pub authorization: Option<String>,
}

impl HealthUrl {
    /// Parses and checks an http(s) URL with a host.
    pub fn parse(raw: &str) -> Result<Self> {
        let shown = redact_text(raw);
        let Some((scheme, rest)) = raw.split_once("://") else {
            bail!("'{shown}' is not a URL: write it as http://HOST:PORT/PATH");
        };
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            bail!("'{shown}' has scheme '{scheme}': only http and https are checked");
        }
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if host.is_empty() {
            bail!("'{shown}' has no host");
        }
        let request = format!("{scheme}://{host}{path}");
        let uri: ureq::http::Uri = request.parse().map_err(|e| anyhow::anyhow!("'{shown}' is not a valid URL: {e}"))?;
        if uri.host().is_none_or(str::is_empty) {
            bail!("'{shown}' has no host");
        }
        let authorization = userinfo.map(|u| {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            let creds = format!("{}:{}", percent_decode(user), percent_decode(pass));
            format!("Basic {}", base64(creds.as_bytes()))
        });
        Ok(Self { request, display: shown, authorization })
    }
}

/// Masks URL passwords and secret query values anywhere in `text`.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // Userinfo passwords: `scheme://user:pass@host` -> `scheme://user:***@host`.
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail.find(|c: char| "/?# \t\n'\"".contains(c)).unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                out.push_str(user);
                out.push(':');
                out.push_str(MASK);
                out.push('@');
                out.push_str(host);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    redact_query(&out)
}

/// Masks the values of secret-looking query parameters (`?token=...&api_key=...`).
fn redact_query(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    let mut last = 0;
    while let Some((i, c)) = chars.next() {
        if c != '?' && c != '&' {
            continue;
        }
        let name_start = i + 1;
        let Some(eq) = text[name_start..].find('=') else {
            break;
        };
        let name = &text[name_start..name_start + eq];
        if name.is_empty() || name.contains(|c: char| "&?# \t\n'\"/".contains(c)) {
            continue;
        }
        let lower = name.to_ascii_lowercase();
        if SECRET_PARAMS.iter().any(|s| lower.contains(s)) {
            let value_start = name_start + eq + 1;
            let value_end =
                text[value_start..].find(|c: char| "&# \t\n'\"".contains(c)).map_or(text.len(), |j| value_start + j);
            out.push_str(&text[last..value_start]);
            out.push_str(MASK);
            last = value_end;
            while chars.peek().is_some_and(|&(j, _)| j < value_end) {
                chars.next();
            }
        }
    }
    out.push_str(&text[last..]);
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (bytes.get(i + 1).and_then(|&b| hex(b)), bytes.get(i + 2).and_then(|&b| hex(b)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_urls_and_queries() {
        let cases = [
            ("http://127.0.0.1:5000/health", "http://127.0.0.1:5000/health"),
            ("http://admin:hunter2@h:1/x", "http://admin:***@h:1/x"),
            ("http://admin@h/x", "http://admin:***@h/x"),
            ("http://h/x?token=abc&v=1", "http://h/x?token=***&v=1"),
            ("http://h/x?v=1&API_KEY=abc#f", "http://h/x?v=1&API_KEY=***#f"),
            ("--target 'a=https://u:p@h/?secret=s'", "--target 'a=https://u:***@h/?secret=***'"),
            ("no url here", "no url here"),
        ];
        for (raw, want) in cases {
            assert_eq!(redact_text(raw), want, "redact_text({raw:?})");
        }
    }

    #[test]
    fn health_url_moves_credentials_to_a_header() {
        let u = HealthUrl::parse("http://ad%40min:pa:ss@127.0.0.1:8080/h?x=1").unwrap();
        assert_eq!(u.request, "http://127.0.0.1:8080/h?x=1");
        assert_eq!(u.display, "http://ad%40min:***@127.0.0.1:8080/h?x=1");
        assert_eq!(u.authorization.as_deref(), Some(format!("Basic {}", base64(b"ad@min:pa:ss")).as_str()));
        assert!(HealthUrl::parse("https://example.test").unwrap().authorization.is_none());
        for bad in ["localhost:5000", "ftp://h/", "http:///x", "http://", "http://h h/"] {
            assert!(HealthUrl::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn base64_matches_rfc4648() {
        let cases: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
        ];
        for (raw, want) in cases {
            assert_eq!(base64(raw), want);
        }
    }
}
