//! Secrets never reach output: URL passwords (`user:pass@`), secret-looking query
//! parameters (`?token=...`) and header values; and the health URL, parsed once with its
//! secrets kept apart from its printable form.

use anyhow::Result;

/// What replaces a secret in output.
pub(crate) const MASK: &str = "***";

/// Query parameter names whose values are treated as secrets (matched anywhere in the
/// name, case-insensitively: `api_key`, `X-Token`...).
const SECRET_PARAMS: &[&str] = &[
    "token",
    "key",
    "secret",
    "password",
    "passwd",
    "pass",
    "auth",
    "sig",
    "signature",
    "credential",
    "jwt",
    "session",
    "code",
];

/// A health URL, parsed once: the URL to request (without userinfo), the printable
/// form (secrets masked) and the Basic credentials taken out of `user:pass@`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HealthUrl {
    /// The URL sent to the server, userinfo removed.
    pub request: String,
    /// The URL as printed: password and secret query values masked.
    pub display: String,
    /// `Basic ...` header value built from the URL's userinfo.
    pub authorization: Option<String>,
}

impl HealthUrl {
    /// Parses an `http://` or `https://` URL strictly: a host that is a name, an IPv4
    /// address or a bracketed IPv6 address; a port of 1-65535; userinfo, path and query
    /// in URL syntax (anything else percent-encoded). Whatever it accepts is requested
    /// exactly as written; anything else is an error saying what to write.
    pub(crate) fn parse(raw: &str) -> Result<Self> {
        Self::parse_shown(raw, safe_for_error)
    }

    /// As `parse`; an error shows the URL as `shown` prints it.
    fn parse_shown(raw: &str, shown: fn(&str) -> String) -> Result<Self> {
        let parts = split_url(raw).map_err(|why| anyhow::anyhow!("'{}' {why}", shown(raw)))?;
        let authorization = parts.userinfo.map(|u| {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            let creds = format!("{}:{}", percent_decode(user), percent_decode(pass));
            format!("Basic {}", base64(creds.as_bytes()))
        });
        let port = parts.port.map(|p| format!(":{p}")).unwrap_or_default();
        let request = format!("{}://{}{port}{}", parts.scheme, parts.host, parts.rest);
        let user = parts.userinfo.map(|u| format!("{}:{MASK}@", u.split_once(':').map_or(u, |(user, _)| user)));
        let display =
            format!("{}://{}{}{port}{}", parts.scheme, user.unwrap_or_default(), parts.host, redact_query(parts.rest));
        Ok(Self { request, display, authorization })
    }

    /// As `parse`, for a URL whose path is itself a secret (a dead man's switch such as
    /// healthchecks.io's `/<uuid>`, a webhook's `/services/T0/B0/XXXX`): printed as
    /// `scheme://host:port/***`.
    pub(crate) fn parse_secret_path(raw: &str) -> Result<Self> {
        // An error shows no more of the path than the printable form does.
        let mut url = Self::parse_shown(raw, |raw| safe_for_error(&mask_path(raw)))?;
        let after_scheme = url.display.find("://").map_or(0, |i| i + 3);
        let path_start = url.display[after_scheme..].find('/').map(|i| after_scheme + i);
        if let Some(i) = path_start {
            url.display.truncate(i);
            url.display.push('/');
            url.display.push_str(MASK);
        }
        Ok(url)
    }
}

/// A `tcp://HOST:PORT` address, parsed as strictly as a health URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TcpAddr {
    /// The host as written: a name, an IPv4 address or a bracketed IPv6 address.
    pub host: String,
    /// The port (required).
    pub port: u16,
}

impl TcpAddr {
    /// Parses `tcp://HOST:PORT`: nothing before the host, nothing after the port.
    pub(crate) fn parse(raw: &str) -> Result<Self> {
        let fail = |why: String| anyhow::anyhow!("'{}' {why}", safe_for_error(raw));
        let rest = raw
            .strip_prefix("tcp://")
            .ok_or_else(|| fail("is not a TCP address: write it as tcp://HOST:PORT".to_string()))?;
        if let Some(b) = rest.bytes().find(|b| !b.is_ascii_graphic()) {
            return Err(fail(format!("has the byte 0x{b:02x}: write tcp://HOST:PORT")));
        }
        if rest.contains(['/', '?', '#', '@']) {
            return Err(fail("has a path, query or user: a TCP address is only tcp://HOST:PORT".to_string()));
        }
        let (host, port) = split_host_port(rest).map_err(fail)?;
        let port = port.ok_or_else(|| fail("has no port: write tcp://HOST:PORT".to_string()))?;
        Ok(Self { host: host.to_string(), port })
    }

    /// The host without IPv6 brackets, for connecting.
    pub(crate) fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }
}

impl std::fmt::Display for TcpAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tcp://{}:{}", self.host, self.port)
    }
}

/// A URL split into its checked parts.
struct UrlParts<'a> {
    scheme: &'static str,
    userinfo: Option<&'a str>,
    /// The host as requested (IPv6 with its brackets), lower-cased names unchanged.
    host: &'a str,
    port: Option<u16>,
    /// Path and query (empty, or starting with `/` or `?`).
    rest: &'a str,
}

/// Why `raw` is not a URL healwatch checks, as the rest of a sentence.
fn split_url(raw: &str) -> std::result::Result<UrlParts<'_>, String> {
    if let Some(b) = raw.bytes().find(|b| !b.is_ascii_graphic()) {
        return Err(match b {
            b' ' => "has a space: percent-encode it as %20".to_string(),
            b if b.is_ascii_control() => format!("has the control character 0x{b:02x}: remove it"),
            _ => "has a non-ASCII character: percent-encode it (or use the punycode host name)".to_string(),
        });
    }
    let hint = "write it as http://HOST:PORT/PATH";
    let Some((scheme, rest)) = raw.split_once("://") else {
        return Err(format!("is not a URL: {hint}"));
    };
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => "http",
        "https" => "https",
        _ if scheme.contains(['/', '?', '#', '@']) => return Err(format!("is not a URL: {hint}")),
        _ => return Err(format!("has scheme '{scheme}': only http and https are checked")),
    };
    if rest.contains('#') {
        return Err("has a #fragment, which is never sent to the server: remove it".to_string());
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    if path.contains('@') || authority.matches('@').count() > 1 {
        return Err("has an '@' outside the user:password@ part: percent-encode '/', '?', '#', '@' and spaces \
                    in a password (e.g. %2F), or '@' in the path as %40"
            .to_string());
    }
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if let Some(u) = userinfo {
        check_chars(u, ":", "user:password")?;
    }
    let (host, port) = split_host_port(host_port)?;
    check_chars(path, "/?:@", "path and query")?;
    Ok(UrlParts { scheme, userinfo, host, port, rest: path })
}

fn split_host_port(text: &str) -> std::result::Result<(&str, Option<u16>), String> {
    let (host, port) = if let Some(after) = text.strip_prefix('[') {
        let end = after.find(']').ok_or("has an IPv6 host without its closing ']'")?;
        let v6 = &after[..end];
        v6.parse::<std::net::Ipv6Addr>().map_err(|_| format!("has '[{v6}]', which is not an IPv6 address"))?;
        let host = &text[..end + 2];
        match &after[end + 1..] {
            "" => (host, None),
            more => (host, Some(more.strip_prefix(':').ok_or("has something after the IPv6 host that is not :PORT")?)),
        }
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return Err("has no host: write it as http://HOST:PORT/PATH".to_string());
    }
    if !host.starts_with('[') {
        let name_ok = host.len() <= 253
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
            && host.split('.').all(|label| !label.is_empty() && label.len() <= 63);
        if !name_ok {
            return Err(format!("has host '{host}', which is not a host name or an IP address"));
        }
        // All digits and dots: it must be a whole dotted IPv4 address, not `127.1`.
        if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') && host.parse::<std::net::Ipv4Addr>().is_err() {
            return Err(format!("has host '{host}', which is not an IPv4 address (write all four parts)"));
        }
    }
    let port = match port {
        None => None,
        Some(p) => {
            let n = (!p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse::<u32>().ok())
                .flatten()
                .filter(|n| (1..=65535).contains(n));
            Some(n.ok_or_else(|| format!("has port '{p}': a port is a number from 1 to 65535"))? as u16)
        }
    };
    Ok((host, port))
}

/// URL syntax for userinfo, path and query: unreserved, sub-delims, `extra`, and
/// percent-encodings that are whole.
fn check_chars(text: &str, extra: &str, what: &str) -> std::result::Result<(), String> {
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let ok = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b) || extra.as_bytes().contains(&b);
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return Err(format!("has a '%' in its {what} that is not a %XX escape: write '%' as %25"));
            }
        } else if !ok {
            return Err(format!("has '{}' in its {what}: percent-encode it", b as char));
        }
    }
    Ok(())
}

/// A URL for an error message: everything between `://` and the last `@` masked, since
/// a malformed URL may hold a password where the parser could not find it; control
/// characters escaped and long input cut.
/// `raw` with everything from the path on masked: `scheme://host:port/***`.
fn mask_path(raw: &str) -> String {
    let after_scheme = raw.find("://").map_or(0, |i| i + 3);
    match raw[after_scheme..].find(['/', '?', '#']) {
        Some(i) => format!("{}/{MASK}", &raw[..after_scheme + i]),
        None => raw.to_string(),
    }
}

fn safe_for_error(raw: &str) -> String {
    let masked = match (raw.find("://"), raw.rfind('@')) {
        (Some(i), Some(at)) if at > i + 3 => format!("{}{MASK}{}", &raw[..i + 3], &raw[at..]),
        (None, Some(at)) => format!("{MASK}{}", &raw[at..]),
        _ => raw.to_string(),
    };
    one_line(&redact_query(&masked), 200)
}

/// Whether `c` must not reach a terminal, a mail or a CI log as it is: C0 and C1 controls
/// and DEL (escape sequences, `\r`), and the invisible format characters that reorder or
/// hide text (bidi overrides and isolates, zero-width marks, the BOM).
pub(crate) fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}')
        || matches!(c, '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// `text` as one printable line: every `unprintable` character escaped (`\n`, `\u{1b}`),
/// anything past `max` characters cut with an ellipsis. What every human-facing output
/// (the text report, audit, validate, status, hooks' environment, the step summary) shows
/// of a value from outside.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 8);
    for (n, c) in text.chars().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        push_printable(&mut out, c);
    }
    out
}

/// Output for people, several lines of it: `unprintable` characters escaped as in
/// `one_line`, except the newlines and tabs that lay it out; and no line a CI runner
/// would take for a command (`defuse`), wherever a name from an engine lands.
pub(crate) fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        for c in defuse(line).chars() {
            match c {
                '\n' | '\t' => out.push(c),
                c => push_printable(&mut out, c),
            }
        }
    }
    out
}

/// `line` as no CI runner reads it as a command: GitHub's runner takes a line that
/// starts with `::` (after blanks) as a workflow command, and `##[` anywhere as an old
/// one. Their first character is escaped with a backslash.
fn defuse(line: &str) -> std::borrow::Cow<'_, str> {
    let blanks = line.len() - line.trim_start().len();
    let command = line[blanks..].starts_with("::");
    if !command && !line.contains("##[") {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = line.replace("##[", "\\##[");
    if command {
        out.insert(blanks, '\\');
    }
    std::borrow::Cow::Owned(out)
}

fn push_printable(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if unprintable(c) => out.push_str(&c.escape_unicode().to_string()),
        c => out.push(c),
    }
}

/// Masks URL passwords and secret query values anywhere in `text`.
pub(crate) fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // Userinfo passwords: `scheme://user:pass@host` -> `scheme://user:***@host`.
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let mut end = tail.find(|c: char| "/?# \t\n'\"".contains(c)).unwrap_or(tail.len());
        // A password with an unencoded '/', '?' or '#' ends the authority early: when an
        // '@' follows in the same word, everything up to it is userinfo.
        let word = tail.find(|c: char| " \t\n'\"".contains(c)).unwrap_or(tail.len());
        if let Some(at) = tail[..word].rfind('@')
            && at >= end
        {
            end = tail[at..].find(|c: char| "/?# \t\n'\"".contains(c)).map_or(word, |j| at + j);
        }
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

/// `text` with its `%XX` escapes decoded (invalid UTF-8 replaced).
pub(crate) fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

fn base64(input: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(input)
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
            ("x 'http://admin:se/cret@h/p' y", "x 'http://admin:***@h/p' y"),
            ("http://admin:se?cret@h", "http://admin:***@h"),
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
        for bad in ["localhost:5000", "ftp://h/", "http:///x", "http://", "http://h h/", "http://u:p@h@i/"] {
            assert!(HealthUrl::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn urls_mean_exactly_what_they_say() {
        let good = [
            ("http://127.0.0.1:5000/health", "http://127.0.0.1:5000/health"),
            ("HTTP://Host.example:80", "http://Host.example:80"),
            ("https://[::1]:8443/h?x=1&y=%20", "https://[::1]:8443/h?x=1&y=%20"),
            ("http://web_1.internal/", "http://web_1.internal/"),
            ("http://h:65535", "http://h:65535"),
        ];
        for (raw, request) in good {
            let url = HealthUrl::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e:#}"));
            assert_eq!(url.request, request);
            let uri: ureq::http::Uri = url.request.parse().unwrap();
            assert!(uri.host().is_some(), "{raw}");
        }
        let bad = [
            ("http://127.0.0.1:80800/", "port '80800'"),
            ("http://127.0.0.1:65536/", "port '65536'"),
            ("http://127.0.0.1:99999/", "port"),
            ("http://127.0.0.1:-1/", "port '-1'"),
            ("http://127.0.0.1:0/", "port '0'"),
            ("http://127.0.0.1:/", "port ''"),
            ("127.0.0.1:5000/health", "not a URL"),
            ("http:/127.0.0.1/", "not a URL"),
            ("http//127.0.0.1/", "not a URL"),
            ("http://admin:se/cret@127.0.0.1/", "'@' outside"),
            ("http://admin:se#cret@127.0.0.1/", "fragment"),
            ("http://admin:se?cret@127.0.0.1/", "'@' outside"),
            ("http://admin:se cret@127.0.0.1/", "space"),
            ("http://h/x y", "space"),
            ("http://h/\u{1b}[31m", "control character 0x1b"),
            ("http://hé/", "non-ASCII"),
            ("http://127.1/", "IPv4"),
            ("http://999.0.0.1/", "IPv4"),
            ("http://[::g]/", "IPv6"),
            ("http://h/%zz", "%XX"),
            ("http://h/a#b", "fragment"),
            ("http://a..b/", "host name"),
        ];
        for (raw, want) in bad {
            let err = format!("{:#}", HealthUrl::parse(raw).map(|u| u.request).unwrap_err());
            assert!(err.contains(want), "{raw:?}: {err}");
            for secret in ["se/cret", "secret", "se cret", "se#cret", "se?cret"] {
                assert!(!err.contains(secret), "{raw:?} leaks its password: {err}");
            }
        }
    }

    #[test]
    fn tcp_addresses() {
        let a = TcpAddr::parse("tcp://127.0.0.1:6379").unwrap();
        assert_eq!((a.host.as_str(), a.port, a.to_string().as_str()), ("127.0.0.1", 6379, "tcp://127.0.0.1:6379"));
        assert_eq!(TcpAddr::parse("tcp://[::1]:5432").unwrap().bare_host(), "::1");
        for bad in ["tcp://h", "tcp://h:0", "tcp://h:70000", "tcp://u@h:1", "tcp://h:1/x", "udp://h:1", "tcp://127.1:5"]
        {
            assert!(TcpAddr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secret_paths_and_parameters() {
        let ping = HealthUrl::parse_secret_path("https://hc-ping.com/5b2f0e4c-uuid?rid=1").unwrap();
        assert_eq!(ping.display, "https://hc-ping.com/***");
        assert_eq!(ping.request, "https://hc-ping.com/5b2f0e4c-uuid?rid=1");
        for param in ["jwt", "session", "code", "api_key"] {
            let url = HealthUrl::parse(&format!("http://h/x?{param}=s3cr3t")).unwrap();
            assert!(!url.display.contains("s3cr3t"), "{}", url.display);
        }
    }

    #[test]
    fn no_line_reads_as_a_ci_command() {
        let text = "NAME  STATE\n::error::owned  running\n  ::set-env name=X::1\nweb ##[error]x\nok :: fine\n";
        assert_eq!(
            printable(text),
            "NAME  STATE\n\\::error::owned  running\n  \\::set-env name=X::1\nweb \\##[error]x\nok :: fine\n"
        );
    }

    #[test]
    fn one_line_escapes_and_cuts() {
        assert_eq!(one_line("a\nb\x1b[0m", 100), "a\\nb\\u{1b}[0m");
        assert_eq!(one_line(&"x".repeat(10), 4), "xxxx…");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 2000, failure_persistence: None, ..Default::default()
        })]

        /// Any text: no panic; whatever is accepted is a URL ureq reads with the same
        /// host, and its printed form never holds the password.
        #[test]
        fn any_text_is_parsed_or_refused(raw in "\\PC{0,40}|(https?|ftp)://([a-z]{1,4}(:[a-z/?#@ %]{1,6})?@)?(127\\.0\\.0\\.1|\\[::1\\]|[a-z.]{0,6}|[0-9.]{1,9})(:-?[0-9]{0,6})?[/?#@% a-z0-9=&]{0,12}") {
            if let Ok(url) = HealthUrl::parse(&raw) {
                let uri: ureq::http::Uri = url.request.parse().expect("ureq reads what healwatch accepts");
                proptest::prop_assert!(uri.host().is_some_and(|h| !h.is_empty()));
                if let Some((_, after)) = raw.split_once("://")
                    && let Some((userinfo, _)) = after.rsplit_once('@')
                    && let Some((_, password)) = userinfo.split_once(':')
                    && password.len() >= 3
                {
                    proptest::prop_assert!(!url.display.contains(password), "{} shows {}", url.display, password);
                }
            }
            let _ = redact_text(&raw);
            let _ = one_line(&raw, 10);
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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 2000, failure_persistence: None, ..Default::default()
        })]
        /// No C0, C1, DEL, bidi or zero-width character survives the escaping, whatever
        /// comes in; printable keeps only the newlines and tabs of its layout.
        #[test]
        fn no_control_survives_the_escaping(text in "(\\PC|\\p{Cc}|\\p{Cf}|[\u{202a}-\u{202e}\u{2066}-\u{2069}])*") {
            let line = one_line(&text, usize::MAX);
            proptest::prop_assert!(!line.chars().any(unprintable), "{line:?}");
            let shown = printable(&text);
            proptest::prop_assert!(!shown.chars().any(|c| unprintable(c) && c != '\n' && c != '\t'), "{shown:?}");
        }
    }
}
