//! HTTP checks: a GET with ureq through one shared agent, no redirects, 4xx/5xx read
//! as answers, proxies only when asked, the body bounded.

use std::io::Read;
use std::time::{Duration, Instant};

use ureq::http::HeaderValue;
use ureq::http::header::CONNECTION;

use super::exchange::LookConnector;

use super::describe::{contains, describe_error, describe_io};
use super::{Check, Failed, Failure, Probe};
use crate::config::{HttpCheck, Target};
use crate::net::{LiteralFirst, TrustRoots};

/// At most this much of a body is read and searched for `expect_body`.
pub(super) const BODY_LIMIT: u64 = 64 * 1024;
/// Bound on a response's headers (and the read buffer, which must hold them).
const HEADER_LIMIT: usize = 16 * 1024;

/// The real prober: GET with ureq, no redirects, 4xx/5xx as responses, proxies only when
/// asked. A clone shares the agent.
#[derive(Clone)]
pub(crate) struct HttpProbe {
    agent: ureq::Agent,
}

impl HttpProbe {
    /// Builds the shared agent. `proxy` of `None` ignores HTTP_PROXY/ALL_PROXY on purpose:
    /// a check of a local service must not wander through a proxy cron happens to set.
    pub(crate) fn new(proxy: Option<&ureq::Proxy>, trust: Option<&TrustRoots>) -> Self {
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
            // Every look on a fresh connection, as Kubernetes' prober and the classic
            // script's curl make theirs: a kept-alive connection reads a service healthy
            // that takes no new client (out of file descriptors, a stuck accept loop),
            // and one the server closes just as it is reused fails a healthy service.
            // ureq kept 10 (3 per host), so fleets of up to 10 targets were judged so.
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .build();
        let agent = ureq::Agent::with_parts(config, LookConnector::default(), LiteralFirst);
        Self { agent }
    }
}

impl Probe for HttpProbe {
    fn check(&self, _: &Target, http: &HttpCheck, timeout: Duration) -> Check {
        let start = Instant::now();
        // The server closes its end as it answers (in its own time, not woken again by
        // ours): every look is one exchange.
        let mut request = self
            .agent
            .get(&http.url.request)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header(CONNECTION, HeaderValue::from_static("close"));
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
                    Some(Failed {
                        why: Failure::Status,
                        text: format!("status {status} not in {}", http.expect_status),
                    })
                } else {
                    http.expect_body
                        .as_ref()
                        .filter(|needle| !contains(&body, needle.as_bytes()))
                        .map(|needle| Failed { why: Failure::Body, text: format!("body lacks {needle:?}") })
                };
                (Some(status), error)
            }
        };
        Check { http_status, latency: start.elapsed(), error }
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
            let got = describe_io(&error, t, "connecting").text;
            assert!(got.starts_with(want), "{error:?}: {got}");
        }
        let odd = Duration::from_nanos(695_238_534);
        let hung = describe_io(&Error::from(ErrorKind::TimedOut), odd, "connecting");
        assert_eq!((hung.why, hung.text.as_str()), (Failure::Hung, "timeout after 695ms"));
    }

    /// A service that takes no new connection but still answers on one it kept alive
    /// (out of file descriptors) is not healthy: every look connects afresh.
    #[test]
    fn every_look_is_a_new_connection() {
        use std::io::Write;
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            // No new client from here on; the first one is answered for as long as it asks.
            drop(listener);
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let (mut answered, mut request) = (0, Vec::new());
            let mut buffer = [0u8; 1024];
            while let Ok(n @ 1..) = conn.read(&mut buffer) {
                request.extend_from_slice(&buffer[..n]);
                while let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                    request.drain(..end + 4);
                    conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").unwrap();
                    answered += 1;
                }
            }
            answered
        });
        let url = crate::model::HealthUrl::parse(&format!("http://127.0.0.1:{port}/health")).unwrap();
        let target = Target::http("web", "web", url);
        let probe = HttpProbe::new(None, None);
        assert!(probe.check(&target, http(&target), Duration::from_secs(2)).healthy());
        let second = probe.check(&target, http(&target), Duration::from_secs(2));
        assert!(!second.healthy(), "the kept-alive connection was reused: {second:?}");
        assert_eq!(second.error.map(|e| e.why), Some(Failure::Connection));
        assert_eq!(server.join().unwrap(), 1);
    }

    /// The target's HTTP check (a test's target is one).
    fn http(target: &Target) -> &HttpCheck {
        use crate::config::HealthCheck;
        match &target.health {
            HealthCheck::Http(http) => http,
            other => panic!("not an HTTP target: {other:?}"),
        }
    }

    #[test]
    fn body_search() {
        assert!(contains(b"status: ok", b"ok"));
        assert!(!contains(b"status: o", b"ok"));
        assert!(contains(b"", b""));
    }
}
