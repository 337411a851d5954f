//! One HTTP health check. `Probe` is the seam the pass uses, so the core runs in unit
//! tests with a fake; `HttpProbe` is the real one, built on a single shared ureq agent.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::config::{HealthCheck, TCP_READ_LIMIT, Target, TcpCheck, TrustRoots};
use crate::model::{redact_text, show_ms};

/// At most this much of a body is read and searched for `expect_body`.
pub const BODY_LIMIT: u64 = 64 * 1024;
/// Bound on a response's headers (and the read buffer, which must hold them).
const HEADER_LIMIT: usize = 16 * 1024;

/// The result of one HTTP attempt. A failing check is data, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Status code, when the server answered at all.
    pub http_status: Option<u16>,
    /// From the start of the request to the last byte read (or the failure).
    pub latency: Duration,
    /// Why the check failed; `None` means healthy.
    pub error: Option<String>,
}

impl Check {
    /// Whether the target answered as expected.
    pub fn healthy(&self) -> bool {
        self.error.is_none()
    }

    /// Whether the attempt got no answer in time: a hung service, not a refused or a
    /// wrong answer.
    pub fn timed_out(&self) -> bool {
        self.error.as_deref().is_some_and(|e| e.starts_with(NO_ANSWER))
    }
}

/// How every "no answer in time" error begins (see `Check::timed_out`).
const NO_ANSWER: &str = "timeout after ";

/// The error of an attempt that got no answer within `timeout`.
pub fn no_answer(timeout: Duration) -> String {
    format!("{NO_ANSWER}{}", show_ms(timeout))
}

/// Something that can check a target once, within `timeout`.
pub trait Probe: Sync {
    /// Makes one attempt; never takes (much) longer than `timeout`.
    fn check(&self, target: &Target, timeout: Duration) -> Check;
}

/// The real prober: GET with ureq, no redirects, 4xx/5xx as responses, proxies only when asked.
pub struct HttpProbe {
    agent: ureq::Agent,
}

impl HttpProbe {
    /// Builds the shared agent. `proxy` of `None` ignores HTTP_PROXY/ALL_PROXY on purpose:
    /// a check of a local service must not wander through a proxy cron happens to set.
    pub fn new(proxy: Option<&ureq::Proxy>, trust: Option<&TrustRoots>) -> Self {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(trust) = trust {
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&trust.certs));
        }
        let config = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(proxy.cloned())
            .user_agent(concat!("healwatch/", env!("CARGO_PKG_VERSION")))
            // ureq's 128 KiB buffers each way, per connection, are sized for bulk
            // transfers; a GET and a health page need a fraction. With 32 checks in flight
            // the defaults alone would cost 8 MiB.
            .input_buffer_size(HEADER_LIMIT)
            .output_buffer_size(4 * 1024)
            .max_response_header_size(HEADER_LIMIT)
            .build();
        let agent = ureq::Agent::with_parts(config, DefaultConnector::default(), LiteralFirst::default());
        Self { agent }
    }
}

/// ureq's resolver spawns a thread per lookup to bound it by the timeout (and panics
/// when no thread can be had). An IP address needs no lookup: it is used as is, with no
/// thread and no DNS. Names go to ureq's resolver.
#[derive(Debug, Default)]
pub(crate) struct LiteralFirst(DefaultResolver);

impl Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let port = uri.port_u16().or_else(|| match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        let ip = uri.host().and_then(|h| h.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok());
        if let (Some(ip), Some(port)) = (ip, port) {
            let mut addrs = self.empty();
            addrs.push(SocketAddr::new(ip, port));
            return Ok(addrs);
        }
        self.0.resolve(uri, config, timeout)
    }
}

impl Probe for HttpProbe {
    fn check(&self, target: &Target, timeout: Duration) -> Check {
        let start = Instant::now();
        let http = match &target.health {
            HealthCheck::Http(http) => http,
            HealthCheck::Tcp(tcp) => return tcp_check(tcp, timeout),
            _ => {
                let error = Some(format!("not a network check: {}", target.health.kind()));
                return Check { http_status: None, latency: Duration::ZERO, error };
            }
        };
        let mut request = self.agent.get(&http.url.request).config().timeout_global(Some(timeout)).build();
        for (name, value) in &http.headers {
            request = request.header(name, value);
        }
        if let Some(auth) = &http.url.authorization {
            request = request.header("Authorization", auth);
        }
        let (http_status, error) = match request.call() {
            Err(e) => (None, Some(describe_error(&e, timeout))),
            Ok(mut response) => {
                let status = response.status().as_u16();
                // Read the body even when only the status matters: a server that sends
                // headers and then hangs is not healthy.
                let mut body = Vec::new();
                let read = response.body_mut().as_reader().take(BODY_LIMIT).read_to_end(&mut body);
                let error = if let Err(e) = read {
                    Some(describe_io(&e, timeout, "reading body"))
                } else if !http.expect_status.contains(status) {
                    Some(format!("status {status} not in {}", http.expect_status))
                } else {
                    http.expect_body
                        .as_ref()
                        .filter(|needle| !contains(&body, needle.as_bytes()))
                        .map(|needle| format!("body lacks {needle:?}"))
                };
                (Some(status), error)
            }
        };
        Check { http_status, latency: start.elapsed(), error }
    }
}

/// One TCP check: connect within `timeout`; then, if asked, send a line and read (at
/// most 4 KiB) until the answer holds `expect`. The whole check is bounded by `timeout`.
fn tcp_check(check: &TcpCheck, timeout: Duration) -> Check {
    use std::io::Write;
    let start = Instant::now();
    let deadline = start + timeout;
    let left = || deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
    let fail = |error: String| Check { http_status: None, latency: start.elapsed(), error: Some(error) };
    let addr = match resolve(check.addr.bare_host(), check.addr.port, timeout) {
        Ok(addr) => addr,
        Err(e) => return fail(e),
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
        return Check { http_status: None, latency: start.elapsed(), error: None };
    };
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        if contains(&answer, expect.as_bytes()) {
            return Check { http_status: None, latency: start.elapsed(), error: None };
        }
        if answer.len() >= TCP_READ_LIMIT || Instant::now() >= deadline {
            return fail(format!("answer lacks {expect:?}"));
        }
        let read = stream.set_read_timeout(Some(left())).and_then(|()| stream.read(&mut buf));
        match read {
            Ok(0) if answer.is_empty() => return fail(format!("connection closed before {expect:?}")),
            Ok(0) => {
                let got = crate::model::one_line(&redact_text(String::from_utf8_lossy(&answer).trim()), 100);
                return fail(format!("answer lacks {expect:?}: {got}"));
            }
            Ok(n) => answer.extend_from_slice(&buf[..n.min(TCP_READ_LIMIT - answer.len())]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return fail(format!("answer lacks {expect:?} (timeout after {})", show_ms(timeout)));
            }
            Err(e) => return fail(describe_io(&e, timeout, "reading")),
        }
    }
}

/// An address for `host`: an IP address as is (no lookup), a name looked up within
/// `timeout` (on a thread, when one can be had).
fn resolve(host: &str, port: u16, timeout: Duration) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let lookup = move |host: String| -> Result<SocketAddr, String> {
        (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| format!("DNS failure: {e}"))?
            .next()
            .ok_or_else(|| "DNS failure: no address".to_string())
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let owned = host.to_string();
    match std::thread::Builder::new().spawn(move || tx.send(lookup(owned))) {
        Ok(_) => rx.recv_timeout(timeout).unwrap_or_else(|_| Err(format!("DNS timeout after {}", show_ms(timeout)))),
        Err(_) => lookup(host.to_string()),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// A short reason a person reads in the status line.
fn describe_error(error: &ureq::Error, timeout: Duration) -> String {
    use ureq::Error as E;
    match error {
        E::Timeout(_) => no_answer(timeout),
        E::HostNotFound => "DNS failure: host not found".to_string(),
        E::Io(e) => describe_io(e, timeout, "connecting"),
        E::ConnectionFailed => "connection failed".to_string(),
        E::Tls(e) => format!("TLS error: {e}"),
        E::Rustls(e) => format!("TLS error: {e}"),
        other => redact_text(&other.to_string()),
    }
}

fn describe_io(error: &std::io::Error, timeout: Duration, doing: &str) -> String {
    use std::io::ErrorKind as K;
    if let Some(inner) = error.get_ref().and_then(|e| e.downcast_ref::<ureq::Error>()) {
        return describe_error(inner, timeout);
    }
    let message = error.to_string();
    if message.contains("lookup address") || message.contains("Name or service not known") {
        return format!("DNS failure: {message}");
    }
    match error.kind() {
        K::ConnectionRefused => "connection refused".to_string(),
        K::TimedOut | K::WouldBlock => no_answer(timeout),
        K::ConnectionReset => "connection reset by the server".to_string(),
        K::UnexpectedEof => "connection closed by the server before a whole response".to_string(),
        // rustls reports handshake and certificate failures as InvalidData.
        K::InvalidData => format!("TLS error: {}", redact_text(&message)),
        _ => format!("{doing}: {}", redact_text(&message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_read_well() {
        use std::io::{Error, ErrorKind};
        let t = Duration::from_secs(2);
        let cases = [
            (Error::from(ErrorKind::ConnectionRefused), "connection refused"),
            (Error::from(ErrorKind::TimedOut), "timeout after 2s"),
            (
                Error::other("failed to lookup address information: Name or service not known"),
                "DNS failure: failed to lookup",
            ),
            (Error::from(ErrorKind::ConnectionReset), "connection reset by the server"),
            (Error::from(ErrorKind::UnexpectedEof), "connection closed by the server"),
            (Error::new(ErrorKind::InvalidData, "invalid peer certificate: UnknownIssuer"), "TLS error: invalid peer"),
        ];
        for (error, want) in cases {
            let got = describe_io(&error, t, "connecting");
            assert!(got.starts_with(want), "{error:?}: {got}");
        }
        let odd = Duration::from_nanos(695_238_534);
        assert_eq!(describe_io(&Error::from(ErrorKind::TimedOut), odd, "connecting"), "timeout after 695ms");
    }

    #[test]
    fn body_search() {
        assert!(contains(b"status: ok", b"ok"));
        assert!(!contains(b"status: o", b"ok"));
        assert!(contains(b"", b""));
    }
}
