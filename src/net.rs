//! HTTP plumbing shared by the health checks and the Engine API listing: trusted
//! certificates from PEM files, and a resolver that never looks up an IP literal.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use anyhow::{Context, Result};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
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
