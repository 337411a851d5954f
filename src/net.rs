//! HTTP plumbing shared by the health checks and the Engine API listing: trusted
//! certificates from PEM files, and a resolver that never looks up an IP literal.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// The CAs HTTPS health checks trust when `ca_file` is set (an internal CA), instead of
/// the public web roots built in.
#[derive(Debug, Clone)]
pub(crate) struct TrustRoots {
    /// The certificates, read once.
    pub certs: Vec<ureq::tls::Certificate<'static>>,
}

impl TrustRoots {
    /// Reads every certificate in a PEM file; a file without one is an error.
    pub(crate) fn load(path: &Path) -> Result<Self> {
        Ok(Self { certs: pem_certificates(path, "ca_file")? })
    }
}

/// Every certificate in the PEM file at `path` (the operator's: a link is followed),
/// which errors call `what`; a file without one is an error.
pub(crate) fn pem_certificates(path: &Path, what: &str) -> Result<Vec<ureq::tls::Certificate<'static>>> {
    let pem = crate::files::read_bounded(path, 1 << 20, crate::files::Link::Follow)
        .with_context(|| format!("reading {what} {}", path.display()))?;
    let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => Some(cert),
            _ => None,
        })
        .collect();
    anyhow::ensure!(!certs.is_empty(), "{what} {}: no PEM certificates in it", path.display());
    Ok(certs)
}

/// ureq's resolver spawns a thread per lookup to bound it by the timeout, and panics
/// when no thread can be had (a process limit: systemd's TasksMax, a container's
/// `pids_limit`). This one never panics: an IP address needs no lookup and is used as
/// is, with no thread and no DNS; a name is looked up by `lookup_within`.
#[derive(Debug, Default)]
pub(crate) struct LiteralFirst;

impl Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let port = uri.port_u16().or_else(|| match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        let (Some(host), Some(port)) = (uri.host(), port) else {
            return Err(ureq::Error::HostNotFound);
        };
        let mut addrs = self.empty();
        let found =
            lookup_within(host.trim_start_matches('[').trim_end_matches(']'), port, *timeout.after).map_err(|e| {
                if e.kind() == ErrorKind::TimedOut { ureq::Error::Timeout(timeout.reason) } else { e.into() }
            })?;
        for addr in found.into_iter().take(16) {
            addrs.push(addr); // ureq holds 16 at most
        }
        if addrs.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(addrs)
    }
}

/// The addresses of `host`: an IP address as is (no lookup, no thread); a name looked up
/// within `timeout` on a thread of its own when the OS gives one, else on this one (then
/// bounded by the system resolver's own timeouts). A lookup still running at the
/// timeout is left to end on its own; the caller goes on.
pub(crate) fn lookup_within(host: &str, port: u16, timeout: Duration) -> std::io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let lookup = move |host: String| -> std::io::Result<Vec<SocketAddr>> {
        Ok((host.as_str(), port).to_socket_addrs()?.collect())
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let owned = host.to_string();
    match std::thread::Builder::new().name("lookup".into()).spawn(move || tx.send(lookup(owned))) {
        Ok(_) => rx.recv_timeout(timeout).unwrap_or_else(|_| {
            Err(std::io::Error::new(ErrorKind::TimedOut, format!("looking up {host} took over {timeout:?}")))
        }),
        Err(_) => lookup(host.to_string()),
    }
}
