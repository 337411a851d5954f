//! Container listings straight from the Docker Engine API, for engines given by a
//! `unix://` or `ssh://` host, or a `tcp://` one with TLS files: one HTTP request (`GET
//! /containers/json?all=1`) where the CLI takes a `docker ps` and a `docker inspect`,
//! that is two Go programs to start here and one API call per container. Over ssh it
//! goes the way the docker CLI itself goes, `ssh HOST docker system dial-stdio`, through
//! the same reused connection, so nothing of healwatch's runs on the remote host. Over
//! TLS it verifies the engine against `tls_ca` and shows `tls_cert`, as `docker
//! --tlsverify` does.
//!
//! Over a socket or ssh the request is HTTP/1.0, so the daemon answers without chunking
//! and closes when done. The answer is bounded in size and time like every docker
//! command, and is anyone's text: what does not parse is a one-line error for the whole
//! engine. Everything else (the default engine, contexts, `tcp://` hosts without TLS
//! files, whose TLS the CLI takes from its environment) is listed with the CLI.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::body::Body;
use super::conn::{Address, connect};
use super::wire::{Request, refusal, response_body, segment};
use crate::docker::INSPECT_LIMIT;
use crate::docker::sieve::{Sieve, Summaries, parse_list};
use crate::model::Endpoint;
use crate::process::exit_text;

/// Bound on a container list's answer: read as it comes, never held (about 1.5 kB a
/// container: 100,000 containers are some 150 MB).
const LIST_LIMIT: usize = 1 << 30;
/// The one request: every container, running or not.
const LIST: &str = "/containers/json?all=1";

/// How an engine's API is reached without the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    /// A socket on this host, or plain HTTP to `tcp://HOST:PORT` (a socket proxy).
    Direct(Address),
    /// `docker system dial-stdio` over ssh, as the CLI does for `ssh://` hosts.
    Ssh(SshHost<'a>),
    /// HTTPS to `HOST:PORT` with the engine's CA, certificate and key files.
    Tls { authority: String, files: &'a [String; 3] },
}

/// The parts of `ssh://[USER@]HOST[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SshHost<'a> {
    pub user: Option<&'a str>,
    pub host: &'a str,
    pub port: Option<u16>,
}

/// The route to `endpoint`'s API, when it is a `unix://` socket (an absolute path), a
/// plain `ssh://[USER@]HOST[:PORT]`, a `tcp://HOST[:PORT]` engine with its TLS files, or
/// one without (plain HTTP, as a socket proxy serves it; port 2375 when none is given).
/// `None` for everything the CLI resolves itself (the default engine, contexts) and for
/// any host this parser does not take exactly: those are reached with the CLI, which
/// has its own rules and errors.
pub(crate) fn route(endpoint: &Endpoint) -> Option<Route<'_>> {
    let (host, tls) = match endpoint {
        Endpoint::Host(host) => (host, None),
        Endpoint::Engine { via, tls, .. } => match &**via {
            Endpoint::Host(host) => (host, tls.as_deref()),
            _ => return None,
        },
        _ => return None,
    };
    if let Some(files) = tls {
        // Docker's port for TLS when none is given.
        let (host, port) = host_port(host.strip_prefix("tcp://")?)?;
        return Some(Route::Tls { authority: format!("{host}:{}", port.unwrap_or(2376)), files });
    }
    if let Some(path) = host.strip_prefix("unix://") {
        let path = Path::new(path);
        return path.is_absolute().then(|| Route::Direct(Address::Unix(path.to_path_buf())));
    }
    if let Some(rest) = host.strip_prefix("tcp://") {
        let (host, port) = host_port(rest)?;
        return Some(Route::Direct(Address::Tcp(format!("{host}:{}", port.unwrap_or(2375)))));
    }
    ssh_host(host.strip_prefix("ssh://")?).map(Route::Ssh)
}

/// A user or host name: letters, digits, `.`, `_` and `-`, not first.
fn plain(s: &str) -> bool {
    !s.is_empty() && !s.starts_with('-') && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// `HOST[:PORT]`, with a plain host and a port from 1, and nothing else.
fn host_port(text: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (host, Some(port.parse::<u16>().ok().filter(|p| *p > 0)?)),
        None => (text, None),
    };
    plain(host).then_some((host, port))
}

/// `[USER@]HOST[:PORT]`, without a path, a query, a password or anything ssh could read
/// as an option.
fn ssh_host(rest: &str) -> Option<SshHost<'_>> {
    let (user, rest) = match rest.split_once('@') {
        Some((user, rest)) if plain(user) => (Some(user), rest),
        Some(_) => return None,
        None => (None, rest),
    };
    let (host, port) = host_port(rest)?;
    Some(SshHost { user, host, port })
}

/// The containers on the engine at `route` that `sieve` keeps, as the API lists them
/// (no HEALTHCHECK detail), and how many it has in all. `ssh` is the ssh program
/// (healwatch's reuse wrapper, or ssh on PATH). Over a socket or TLS the answer is read
/// as it comes, never held whole (see `sieve`).
pub(crate) fn list(route: &Route, ssh: &Path, timeout: Duration, sieve: &Sieve) -> Result<Summaries> {
    let mut listed = list_one(route, ssh, timeout, LIST, sieve)?;
    // Projects whose every container is needed: only those, by the API's label filter.
    for project in (sieve.projects)(&listed.kept) {
        let filter = format!(r#"{{"label":["com.docker.compose.project={project}"]}}"#);
        let path = format!("{LIST}&filters={}", segment(&filter));
        let whole = Sieve { keep: &|_| true, projects: &|_| Vec::new(), ..*sieve };
        listed.add(list_one(route, ssh, timeout, &path, &whole)?.kept);
    }
    Ok(listed)
}

/// One `GET` of the list at `path`, through `sieve`.
fn list_one(route: &Route, ssh: &Path, timeout: Duration, path: &str, sieve: &Sieve) -> Result<Summaries> {
    let request = Request::get(path).text();
    match route {
        Route::Direct(address) => {
            let deadline = Instant::now() + timeout;
            let at = || format!("Docker API at {}", address.show());
            let stream = connect(address, deadline).with_context(at)?;
            let body = Body::open(stream, request.as_bytes(), deadline, timeout, LIST_LIMIT).with_context(at)?;
            parse_list(body, sieve).with_context(at)
        }
        Route::Ssh(host) => {
            let answer = over_ssh(ssh, host, request.as_bytes(), timeout).context("Docker API over ssh")?;
            parse_list(response_body(&answer)?, sieve)
        }
        Route::Tls { authority, files } => {
            over_tls(authority, files, timeout, path, sieve).with_context(|| format!("Docker API at {authority}"))
        }
    }
}

/// `GET` of the list over HTTPS, verifying the engine with the CA file and showing the
/// certificate, as `docker --tlsverify --tlscacert --tlscert --tlskey` does. No proxy,
/// no redirect; the body is bounded by `LIST_LIMIT`, the whole exchange by `timeout`.
fn over_tls(authority: &str, files: &[String; 3], timeout: Duration, path: &str, sieve: &Sieve) -> Result<Summaries> {
    use crate::net::pem_certificates;
    use ureq::tls::{ClientCert, PemItem, RootCerts, TlsConfig, parse_pem};
    let [ca, cert, key] = files;
    let roots = pem_certificates(Path::new(ca), "tls_ca")?;
    let chain = pem_certificates(Path::new(cert), "tls_cert")?;
    let key_pem = crate::files::read_bounded(Path::new(key), 1 << 20, crate::files::Link::Follow)
        .with_context(|| format!("reading tls_key {key}"))?;
    let key = parse_pem(&key_pem)
        .find_map(|item| match item {
            Ok(PemItem::PrivateKey(k)) => Some(k),
            _ => None,
        })
        .with_context(|| format!("tls_key {key}: no PEM private key in it"))?;
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&roots))
        .client_cert(Some(ClientCert::new_with_certs(&chain, key)))
        .build();
    let config = ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .timeout_global(Some(timeout))
        .user_agent("healwatch")
        .build();
    let agent = ureq::Agent::with_parts(
        config,
        ureq::unversioned::transport::DefaultConnector::default(),
        crate::net::LiteralFirst,
    );
    let mut response = agent.get(&format!("https://{authority}{path}")).call().map_err(|e| anyhow::anyhow!("{e}"))?;
    let code = response.status().as_u16();
    if code != 200 {
        let body = response.body_mut().with_config().limit(64 * 1024).read_to_vec().unwrap_or_default();
        return Err(refusal(code, &body));
    }
    parse_list(response.body_mut().with_config().limit(LIST_LIMIT as u64).reader(), sieve)
}

/// Sends `request` through `ssh HOST docker system dial-stdio` and reads the answer.
fn over_ssh(ssh: &Path, host: &SshHost, request: &[u8], timeout: Duration) -> Result<Vec<u8>> {
    let mut command = Command::new(ssh);
    command.args(["-o", "ConnectTimeout=30", "-o", "BatchMode=yes", "-T"]);
    if let Some(user) = host.user {
        command.args(["-l", user]);
    }
    let port = host.port.map(|p| p.to_string());
    if let Some(port) = &port {
        command.args(["-p", port]);
    }
    command.args(["--", host.host, "docker", "system", "dial-stdio"]);
    let out = crate::process::run_with_input(&mut command, request, timeout, INSPECT_LIMIT);
    if out.stdout_cut {
        bail!("the answer over ssh is longer than {} MiB: not read", INSPECT_LIMIT >> 20);
    }
    if out.stdout.is_empty() {
        let why = crate::docker::stderr_line(&out.stderr);
        bail!("ssh {} docker system dial-stdio failed ({}): {why}", host.host, exit_text(out.exit_code));
    }
    Ok(out.stdout.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::api::body::over_unix;
    use crate::model::ContainerStatus;
    use std::io::Write;

    fn engine(host: &str) -> Endpoint {
        Endpoint::Engine { name: "e".into(), via: Box::new(Endpoint::Host(host.into())), tls: None }
    }

    #[test]
    fn routes_only_hosts_it_reads_exactly() {
        let socket = engine("unix:///run/e.sock");
        assert_eq!(route(&socket), Some(Route::Direct(Address::Unix("/run/e.sock".into()))));
        let proxy = engine("tcp://socket-proxy:2375");
        assert_eq!(route(&proxy), Some(Route::Direct(Address::Tcp("socket-proxy:2375".into()))));
        let bare = Endpoint::Host("tcp://10.0.0.7".into());
        assert_eq!(route(&bare), Some(Route::Direct(Address::Tcp("10.0.0.7:2375".into()))), "Docker's plain port");
        let ssh = engine("ssh://ops@web-2.example:2222");
        let want = SshHost { user: Some("ops"), host: "web-2.example", port: Some(2222) };
        assert_eq!(route(&ssh), Some(Route::Ssh(want)));
        let plain = Endpoint::Host("ssh://10.0.0.7".into());
        assert_eq!(route(&plain), Some(Route::Ssh(SshHost { user: None, host: "10.0.0.7", port: None })));
        // Everything else goes to the CLI.
        for host in [
            "unix://relative.sock",
            "tcp://10.0.0.7:2376/path",
            "tcp://u@db:2375",
            "tcp://db:0",
            "ssh://-oProxyCommand=x",
            "ssh://ops@-x",
            "ssh://ops:secret@web",
            "ssh://web/path",
            "ssh://web:0",
            "ssh://web:99999",
            "ssh://",
            "ssh://[::1]:22",
            "ssh://we b",
        ] {
            assert_eq!(route(&engine(host)), None, "{host}");
        }
        let files = ["/a".to_string(), "/b".into(), "/c".into()];
        let tls = |host: &str| Endpoint::Engine {
            name: "e".into(),
            via: Box::new(Endpoint::Host(host.into())),
            tls: Some(Box::new(files.clone())),
        };
        let with_port = tls("tcp://10.0.0.7:3376");
        assert_eq!(route(&with_port), Some(Route::Tls { authority: "10.0.0.7:3376".into(), files: &files }));
        let default_port = tls("tcp://db-1.example");
        assert_eq!(route(&default_port), Some(Route::Tls { authority: "db-1.example:2376".into(), files: &files }));
        for host in ["unix:///run/e.sock", "tcp://db/x", "tcp://[::1]:2376", "tcp://u@db:2376", "tcp://db:0"] {
            assert_eq!(route(&tls(host)), None, "{host}");
        }
        assert_eq!(route(&Endpoint::Default), None);
        assert_eq!(route(&Endpoint::Context("x".into())), None);
    }

    #[test]
    fn answers_other_than_200_are_errors_with_the_message() {
        let ok = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n[]";
        assert_eq!(response_body(ok).unwrap(), b"[]");
        let denied = b"HTTP/1.0 403 Forbidden\r\n\r\n{\"message\":\"authorization denied\\nby plugin\"}";
        let e = response_body(denied).unwrap_err().to_string();
        assert!(e.contains("403") && e.contains("authorization denied") && !e.contains('\n'), "{e}");
        for junk in [&b""[..], b"SSH-2.0-OpenSSH\r\n", b"garbage\r\n\r\n[]", b"HTTP/1.0 abc\r\n\r\n"] {
            assert!(response_body(junk).is_err());
        }
    }

    #[test]
    fn list_reads_names_state_and_labels() {
        let body = br#"[
            {"Id":"aaa","Names":["/web/db","/db"],"State":"running","Labels":{"healwatch.url":"http://127.0.0.1:1/"}},
            {"Id":"bbb","Names":null,"State":"exited","Status":"Exited (137) 2 minutes ago","Labels":null},
            {"Id":"ccc","Names":["/x"],"State":"weird","Status":"Exited (nine) ago","Labels":{}}
        ]"#;
        let list = parse_list(&body[..], &Sieve::ALL).unwrap().kept;
        assert_eq!(list[0].name, "db");
        assert_eq!(list[0].status, ContainerStatus::Running);
        assert_eq!(list[0].labels["healwatch.url"], "http://127.0.0.1:1/");
        assert_eq!(list[1].name, "");
        assert!(list[1].labels.is_empty());
        assert_eq!(list.iter().map(|c| c.exit_code).collect::<Vec<_>>(), [None, Some(137), None]);
        assert_eq!(list[2].status, ContainerStatus::parse("weird"));
        for junk in [
            &br#"{"Id":"a"}"#[..],
            br#"[{"Id":1,"State":"running"}]"#,
            br#"[{"Id":"a","State":"running","Labels":{"k":1}}]"#,
        ] {
            assert!(parse_list(junk, &Sieve::ALL).is_err(), "{}", String::from_utf8_lossy(junk));
        }
    }

    #[test]
    fn a_socket_that_never_answers_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let start = Instant::now();
        let e = over_unix(&path, b"GET / HTTP/1.0\r\n\r\n", Duration::from_millis(300)).unwrap_err();
        assert!(e.to_string().contains("no whole answer within"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(3));
        let e = over_unix(&dir.path().join("none.sock"), b"", Duration::from_millis(300)).unwrap_err();
        assert!(format!("{e:#}").contains("connecting"), "{e:#}");
    }

    #[test]
    fn tls_files_that_cannot_serve_are_named_before_any_connection() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let empty = write("empty.pem", "not a certificate\n");
        let missing = dir.path().join("missing.pem").display().to_string();
        // 127.0.0.1:1 would refuse: each case must fail on its file first.
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let cert = write("cert.pem", &made.cert.pem());
        let cases = [
            ([missing.clone(), empty.clone(), empty.clone()], "tls_ca"),
            ([empty.clone(), empty.clone(), empty.clone()], "tls_ca"),
            ([cert.clone(), missing.clone(), empty.clone()], "missing.pem"),
            ([cert.clone(), empty.clone(), empty.clone()], "tls_cert"),
            ([cert.clone(), cert.clone(), empty.clone()], "tls_key"),
        ];
        for (files, want) in cases {
            let e = format!(
                "{:#}",
                over_tls("127.0.0.1:1", &files, Duration::from_secs(1), LIST, &Sieve::ALL).unwrap_err()
            );
            assert!(e.contains(want) && !e.contains("refused"), "{e}");
        }
    }

    #[test]
    fn an_answer_past_the_limit_is_refused_not_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let chunk = vec![b'x'; 1 << 20];
            for _ in 0..=(INSPECT_LIMIT >> 20) {
                if stream.write_all(&chunk).is_err() {
                    break;
                }
            }
        });
        let e = over_unix(&path, b"GET / HTTP/1.0\r\n\r\n", Duration::from_secs(20)).unwrap_err();
        assert!(e.to_string().contains("longer than 64 MiB"), "{e}");
        server.join().unwrap();
    }
}
