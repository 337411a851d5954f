//! Docker's words: engines, container references, status, health, restart policy.

use std::fmt;

use serde::Serialize;

use super::redact_text;

/// Which Docker engine a command goes to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Endpoint {
    /// Whatever DOCKER_HOST / DOCKER_CONTEXT (or the CLI's config) say.
    #[default]
    Default,
    /// `docker -H HOST` (`ssh://user@host`, `tcp://...`, `unix://...`).
    Host(String),
    /// `docker --context NAME`.
    Context(String),
    /// An `[[engine]]` of the config, by its name: reached `via` the default engine, a
    /// host or a context, with `tls` (CA, certificate, key) for a `tcp://` host.
    Engine { name: String, via: Box<Endpoint>, tls: Option<Box<[String; 3]>> },
}

impl Endpoint {
    /// The engine's name in the status line and metrics: `local`, the `[[engine]]`'s
    /// name, the host (redacted) or the context's name.
    pub(crate) fn name(&self) -> String {
        match self {
            Self::Default => "local".to_string(),
            Self::Host(host) => redact_text(host),
            Self::Context(name) | Self::Engine { name, .. } => name.clone(),
        }
    }

    /// The CLI arguments that select this engine.
    pub(crate) fn args(&self) -> Vec<&str> {
        match self {
            Self::Default => Vec::new(),
            Self::Host(host) => vec!["-H", host],
            Self::Context(name) => vec!["--context", name],
            Self::Engine { via, tls, .. } => {
                let mut args = Vec::new();
                if let Some(tls) = tls {
                    let [ca, cert, key] = &**tls;
                    args.extend(["--tlsverify", "--tlscacert", ca, "--tlscert", cert, "--tlskey", key]);
                }
                args.extend(via.args());
                args
            }
        }
    }

    /// Whether commands to this engine may go over ssh (an `ssh://` host, or a context,
    /// which may name one).
    pub(crate) fn may_use_ssh(&self) -> bool {
        match self {
            Self::Default => false,
            Self::Host(host) => host.starts_with("ssh://"),
            Self::Context(_) => true,
            Self::Engine { via, .. } => via.may_use_ssh(),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("the default engine"),
            Self::Host(host) => write!(f, "{}", redact_text(host)),
            Self::Context(name) => write!(f, "context {name}"),
            Self::Engine { name, .. } => write!(f, "engine {name}"),
        }
    }
}

/// A container on an engine.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ContainerRef {
    /// The engine.
    pub endpoint: Endpoint,
    /// Its name or id (validated: never an option).
    pub name: String,
}

/// A container's `State.Status`, as Docker names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ContainerStatus {
    /// Created, never started.
    Created,
    /// Running.
    Running,
    /// Frozen by `docker pause`.
    Paused,
    /// Being restarted by its restart policy.
    Restarting,
    /// Being removed.
    Removing,
    /// Exited (or stopped by an operator).
    Exited,
    /// Dead: removal failed half-way.
    Dead,
    /// A status this healwatch does not know.
    Other(String),
}

impl Serialize for ContainerStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl ContainerStatus {
    /// Reads Docker's name; anything unknown is kept as `Other`.
    pub(crate) fn parse(text: &str) -> Self {
        match text {
            "created" => Self::Created,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "restarting" => Self::Restarting,
            "removing" => Self::Removing,
            "exited" => Self::Exited,
            "dead" => Self::Dead,
            other => Self::Other(other.to_string()),
        }
    }

    /// Docker's name.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Removing => "removing",
            Self::Exited => "exited",
            Self::Dead => "dead",
            Self::Other(s) => s,
        }
    }

    /// Running, paused or restarting: a live container that can declare targets.
    pub(crate) fn is_live(&self) -> bool {
        matches!(self, Self::Running | Self::Paused | Self::Restarting)
    }

    /// Why a container in this status serves nothing, whatever a check of it finds (the
    /// kernel still completes a TCP handshake for a paused process): "is paused",
    /// "exited (1)", as compose words it. `None` while it runs or is being removed.
    pub(crate) fn not_serving(&self, exit_code: Option<i64>) -> Option<String> {
        let code = exit_code.map(|c| format!(" ({c})")).unwrap_or_default();
        match self {
            Self::Paused => Some("is paused and answers nothing".to_string()),
            Self::Created => Some("was created and never started".to_string()),
            Self::Exited | Self::Dead => Some(format!("{}{code}", self.as_str())),
            Self::Restarting => Some(format!("is restarting after exiting{code}")),
            _ => None,
        }
    }

    /// Exited or created: left down (by an operator, or never started).
    pub(crate) fn is_down(&self) -> bool {
        matches!(self, Self::Exited | Self::Created)
    }
}

impl fmt::Display for ContainerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Docker HEALTHCHECK's `State.Health.Status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DockerHealth {
    /// Before the first probe (after a start).
    Starting,
    /// The last probes passed.
    Healthy,
    /// `retries` probes in a row failed.
    Unhealthy,
    /// A status this healwatch does not know.
    Other(String),
}

impl DockerHealth {
    /// Reads Docker's name.
    pub(crate) fn parse(text: &str) -> Self {
        match text {
            "starting" => Self::Starting,
            "healthy" => Self::Healthy,
            "unhealthy" => Self::Unhealthy,
            other => Self::Other(other.to_string()),
        }
    }

    /// Docker's name.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Self::Starting => "starting",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
            Self::Other(s) => s,
        }
    }
}

/// A container's `HostConfig.RestartPolicy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RestartPolicy {
    /// `no` (or unset): Docker never restarts it.
    No,
    /// `always`.
    Always,
    /// `unless-stopped`.
    UnlessStopped,
    /// `on-failure`, with its retry limit (0: none).
    OnFailure(u64),
    /// A policy this healwatch does not know.
    Other(String),
}

impl RestartPolicy {
    /// From the policy's `Name` and `MaximumRetryCount`.
    pub(crate) fn from_docker(name: &str, max_retries: u64) -> Self {
        match name {
            "" | "no" => Self::No,
            "always" => Self::Always,
            "unless-stopped" => Self::UnlessStopped,
            "on-failure" => Self::OnFailure(max_retries),
            other => Self::Other(other.to_string()),
        }
    }
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::No => f.write_str("no"),
            Self::Always => f.write_str("always"),
            Self::UnlessStopped => f.write_str("unless-stopped"),
            Self::OnFailure(0) => f.write_str("on-failure"),
            Self::OnFailure(n) => write!(f, "on-failure:{n}"),
            Self::Other(s) => f.write_str(s),
        }
    }
}

impl Serialize for RestartPolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
