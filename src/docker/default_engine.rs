//! Where the docker CLI sends the default engine, when that is an API healwatch can ask
//! itself (a socket, or plain `tcp://` as a socket proxy serves it): so a pass lists the
//! default engine with one Engine API request instead of starting `docker ps` and
//! `docker inspect` (two Go programs) every time, and needs no CLI at all.

use std::path::{Path, PathBuf};

use super::api::Address;

use crate::files::{Link, read_bounded};

/// The CLI's default when nothing else is said.
const DOCKER_SOCK: &str = "/var/run/docker.sock";
/// Bound on the CLI's config file: it holds contexts and credentials helpers, not data.
const CONFIG_LIMIT: u64 = 1 << 20;

/// What the docker CLI reads to pick the default engine.
#[derive(Debug, Default)]
pub(crate) struct CliEnv<'a> {
    /// `DOCKER_HOST`.
    pub docker_host: Option<&'a str>,
    /// `DOCKER_CONTEXT`.
    pub docker_context: Option<&'a str>,
    /// Whether `DOCKER_TLS_VERIFY` or `DOCKER_TLS` asks for TLS.
    pub tls: bool,
    /// The CLI's `config.json`, when there is one.
    pub config: Option<&'a [u8]>,
}

/// The API the CLI would use for the default engine, or `None` when the CLI must
/// resolve it itself (another kind of host, TLS from the environment, a context, a config
/// it cannot be sure of). As the CLI: an empty variable is unset, `DOCKER_HOST` wins over
/// contexts, and the context `default` is the plain socket.
pub(crate) fn default_api(env: &CliEnv) -> Option<Address> {
    fn set(v: Option<&str>) -> Option<&str> {
        v.filter(|v| !v.is_empty())
    }
    if let Some(host) = set(env.docker_host) {
        if host.starts_with("tcp://") && !env.tls {
            let endpoint = crate::model::Endpoint::Host(host.to_string());
            return match super::api::route(&endpoint)? {
                super::api::Route::Direct(address) => Some(address),
                _ => None,
            };
        }
        let path = Path::new(host.strip_prefix("unix://")?);
        return path.is_absolute().then(|| Address::Unix(path.to_path_buf()));
    }
    if set(env.docker_context).is_some_and(|c| c != "default") {
        return None;
    }
    if let Some(config) = env.config {
        let config: serde_json::Value = serde_json::from_slice(config).ok()?;
        match config.get("currentContext") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(c)) if c.is_empty() || c == "default" => {}
            Some(_) => return None,
        }
    }
    Some(Address::Unix(PathBuf::from(DOCKER_SOCK)))
}

/// Whether this process's environment asks the CLI for TLS (`DOCKER_TLS_VERIFY`,
/// `DOCKER_TLS`): a `tcp://` engine is then the CLI's, never plain HTTP.
pub(crate) fn tls_from_environment() -> bool {
    ["DOCKER_TLS_VERIFY", "DOCKER_TLS"].iter().any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()))
}

/// `default_api` for this process's environment and the CLI's config file
/// (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`). A config that cannot be
/// read leaves the choice to the CLI.
pub(crate) fn from_environment() -> Option<Address> {
    let var = |k: &str| std::env::var(k).ok();
    let (host, context) = (var("DOCKER_HOST"), var("DOCKER_CONTEXT"));
    if host.as_deref().is_some_and(|h| !h.is_empty()) {
        // DOCKER_HOST wins over every context: the config file is not read (it may not
        // even be readable, as root's is not to a user a process limit runs as).
        let tls = tls_from_environment();
        return default_api(&CliEnv { docker_host: host.as_deref(), tls, ..CliEnv::default() });
    }
    let dir = var("DOCKER_CONFIG")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| Path::new(&h).join(".docker")));
    let config = match dir.map(|d| read_bounded(&d.join("config.json"), CONFIG_LIMIT, Link::Follow)) {
        None => None,
        Some(Ok(bytes)) => Some(bytes),
        Some(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => None,
        Some(Err(_)) => return None,
    };
    default_api(&CliEnv {
        docker_host: host.as_deref(),
        docker_context: context.as_deref(),
        config: config.as_deref(),
        tls: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_is_the_clis_only_where_it_is_sure() {
        let env = |host, context, config: Option<&'static str>| CliEnv {
            docker_host: host,
            docker_context: context,
            config: config.map(str::as_bytes),
            tls: false,
        };
        let sock = Some(Address::Unix(PathBuf::from(DOCKER_SOCK)));
        let cases: &[(CliEnv, Option<Address>)] = &[
            (env(None, None, None), sock.clone()),
            (env(Some(""), Some(""), None), sock.clone()),
            (
                env(Some("unix:///run/user/1000/docker.sock"), Some("prod"), None),
                Some(Address::Unix("/run/user/1000/docker.sock".into())),
            ),
            (env(Some("unix://relative.sock"), None, None), None),
            (env(Some("tcp://127.0.0.1:2375"), None, None), Some(Address::Tcp("127.0.0.1:2375".into()))),
            (CliEnv { tls: true, ..env(Some("tcp://127.0.0.1:2376"), None, None) }, None),
            (env(Some("tcp://proxy/x"), None, None), None),
            (env(Some("ssh://ops@far"), None, None), None),
            (env(None, Some("default"), None), sock.clone()),
            (env(None, Some("prod"), None), None),
            (env(None, None, Some(r#"{"auths":{}}"#)), sock.clone()),
            (env(None, None, Some(r#"{"currentContext":"default"}"#)), sock.clone()),
            (env(None, None, Some(r#"{"currentContext":"rootless"}"#)), None),
            (env(None, None, Some(r#"{"currentContext":7}"#)), None),
            (env(None, None, Some("not json")), None),
        ];
        for (env, want) in cases {
            assert_eq!(&default_api(env), want, "{env:?}");
        }
    }
}
