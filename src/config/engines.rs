//! Docker engines: the implicit `local` one and `[[engine]]` tables.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};

use super::file;
use crate::model::{Endpoint, Named, Unhealthy, validate_container_name, validate_name};

/// A Docker engine: the implicit `local` one (the docker CLI's default: DOCKER_HOST,
/// DOCKER_CONTEXT or its config) or an `[[engine]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Engine {
    /// `local`, or the table's name.
    pub name: String,
    /// How docker commands reach it.
    pub endpoint: Endpoint,
    /// Whether containers there declare targets with labels (`discover`).
    pub discover: bool,
    /// Which of its containers are healed by their Docker HEALTHCHECK (`unhealthy`).
    pub unhealthy: Unhealthy,
}

impl Engine {
    /// The name of the engine docker reaches by default.
    pub(crate) const LOCAL: &'static str = "local";

    /// Whether a pass lists it to find targets.
    pub(crate) fn discovers(&self) -> bool {
        self.discover || self.unhealthy != Unhealthy::Off
    }
}

/// The engines: `local` first (implicit, or a table of that name), then the other tables
/// in order. `discover` and `unhealthy` are what each engine that does not say gets.
pub(super) fn engines(
    tables: &[file::FileEngine],
    discover: bool,
    unhealthy: Unhealthy,
    file_name: &str,
) -> Result<Vec<Engine>> {
    let mut engines =
        vec![Engine { name: Engine::LOCAL.to_string(), endpoint: Endpoint::Default, discover, unhealthy }];
    for (i, t) in tables.iter().enumerate() {
        let place = |key: &str| format!("{file_name}: engine '{}' (#{}) {key}", t.name, i + 1);
        validate_name(&t.name).with_context(|| place("name"))?;
        if t.name.contains(':') {
            bail!("{}: an engine name may not hold ':'", place("name"));
        }
        let via = endpoint(t.host.as_deref(), t.context.as_deref()).with_context(|| place("host/context"))?;
        let tls = match (&t.tls_ca, &t.tls_cert, &t.tls_key) {
            (None, None, None) => None,
            (Some(ca), Some(cert), Some(key)) => {
                if !t.host.as_deref().is_some_and(|h| h.starts_with("tcp://")) {
                    bail!("{}: TLS files go with a tcp:// host", place("tls_ca"));
                }
                for (key_name, path) in [("tls_ca", ca), ("tls_cert", cert), ("tls_key", key)] {
                    if !Path::new(path).is_absolute() || path.contains(['\n', '\r', '\0']) {
                        bail!("{}: '{path}' must be an absolute path", place(key_name));
                    }
                }
                Some(Box::new([ca.clone(), cert.clone(), key.clone()]))
            }
            _ => bail!("{}: give all three of tls_ca, tls_cert and tls_key, or none", place("tls_ca")),
        };
        let discover = t.discover.unwrap_or(discover);
        let unhealthy = match &t.unhealthy {
            Some(text) => Unhealthy::parse(text).with_context(|| place("unhealthy"))?,
            None => unhealthy,
        };
        let plain = t.name == Engine::LOCAL && via == Endpoint::Default && tls.is_none();
        let endpoint =
            if plain { Endpoint::Default } else { Endpoint::Engine { name: t.name.clone(), via: Box::new(via), tls } };
        let engine = Engine { name: t.name.clone(), endpoint, discover, unhealthy };
        if tables[..i].iter().any(|e| e.name == t.name) {
            bail!("{}: two engines are named '{}'", place("name"), t.name);
        }
        if t.name == Engine::LOCAL {
            engines[0] = engine;
        } else {
            engines.push(engine);
        }
    }
    Ok(engines)
}

/// The engine named by `docker_host` or `docker_context` (not both).
pub(super) fn endpoint(host: Option<&str>, context: Option<&str>) -> Result<Endpoint> {
    match (host.filter(|h| !h.is_empty()), context.filter(|c| !c.is_empty())) {
        (None, None) => Ok(Endpoint::Default),
        (Some(host), None) => {
            let known = ["unix://", "tcp://", "ssh://", "npipe://", "fd://"];
            if !known.iter().any(|scheme| host.starts_with(scheme)) {
                bail!("docker_host '{host}' must start with unix://, tcp://, ssh:// (as `docker -H`)");
            }
            Ok(Endpoint::Host(host.to_string()))
        }
        (None, Some(context)) => {
            validate_container_name(context)
                .map_err(|_| anyhow!("docker_context '{context}' is not a context name"))?;
            Ok(Endpoint::Context(context.to_string()))
        }
        (Some(_), Some(_)) => bail!("give docker_host or docker_context, not both"),
    }
}
