//! One target as a pass sees it: its check, its container(s), its settings.

use anyhow::{Context, Result, anyhow, bail};

use crate::model::{
    Action, CheckKind, ContainerRef, DockerHealth, Endpoint, HealthUrl, Leaning, StatusSet, TcpAddr, one_line,
    validate_header,
};
use crate::settings::{BUILTIN, Settings};

/// One service to watch: how its health is checked and the container(s) behind it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Target {
    /// Unique name used in output.
    pub name: String,
    /// Container acted on when the check fails (validated against Docker's name rules);
    /// for a compose service, `project/service`.
    pub container: String,
    /// How health is checked.
    pub health: HealthCheck,
    /// Timeouts, retries and the judgement rules.
    pub settings: Settings,
    /// What to do when it fails.
    pub action: Action,
    /// Leave an exited or created container alone (outcome `stopped`).
    pub ignore_stopped: bool,
    /// Containers restarted after this one (e.g. sharing its network namespace), in order.
    pub restart_with: Vec<String>,
    /// The engine its containers run on.
    pub endpoint: Endpoint,
    /// A compose service (project, service) instead of one container.
    pub compose: Option<(String, String)>,
    /// The containers acted on: `[container]`, or a compose service's replicas once resolved.
    pub replicas: Vec<String>,
    /// A program (argv, no shell) run after each restart of this target.
    pub on_restart: Vec<String>,
    /// New log lines matching this fail the check.
    pub log_pattern: Option<LogPattern>,
    /// What this pass's listing said of its containers: set on a pass's roster only; a
    /// config's targets are as the operator wrote them (`Facts::default()`).
    pub facts: Facts,
}

/// What one pass's listing said of a target's containers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    /// What is wrong with one of its containers, whatever its check would say: "container
    /// web exited (1)" (see `ContainerStatus::not_serving`).
    pub down: Option<String>,
    /// One of its containers is `restarting`: Docker's restart policy is bringing it
    /// back, and healwatch leaves it to Docker (a crash loop).
    pub restarting: bool,
    /// Docker's HEALTHCHECK status (`State.Health.Status`), for a target judged by it.
    pub docker_health: Option<DockerHealth>,
    /// Its last probe's output, for the report.
    pub docker_output: Option<String>,
    /// The container is paused: frozen, it runs no probe and answers nothing.
    pub paused: bool,
    /// The watched containers it leans on (`graph`), read again before its look: a pass
    /// heals it after them, and restarts it when they restarted under it.
    pub leans: Vec<Leaning>,
}

/// How a target's health is checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum HealthCheck {
    /// GET a URL.
    Http(HttpCheck),
    /// Connect to a TCP port (and optionally send a line and expect an answer).
    Tcp(TcpCheck),
    /// Run a command in the container (`docker exec`, no shell): healthy on exit 0.
    Exec(Vec<String>),
    /// Docker's own HEALTHCHECK status, as the pass's listing saw it (`Facts`).
    Docker,
    /// No check of its own: only `log_pattern` (a worker with no port).
    Logs,
    /// No check of its own: a container that leans on a watched one, healthy while it
    /// runs in its provider's current namespace (see `Facts::leans`).
    Provider,
}

impl HealthCheck {
    /// The kind, as in the status line's `check` and the metrics' `check` label.
    pub(crate) fn kind(&self) -> CheckKind {
        match self {
            Self::Http(_) => CheckKind::Http,
            Self::Tcp(_) => CheckKind::Tcp,
            Self::Exec(_) => CheckKind::Exec,
            Self::Docker => CheckKind::Docker,
            Self::Logs => CheckKind::Log,
            Self::Provider => CheckKind::Provider,
        }
    }
}

/// A TCP check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TcpCheck {
    /// Where to connect.
    pub addr: TcpAddr,
    /// Sent once connected (e.g. `PING\r\n`).
    pub send: Option<String>,
    /// The answer (its first 4 KiB) must contain this (e.g. `+PONG`).
    pub expect: Option<String>,
}

impl TcpCheck {
    /// A `tcp://` URL with its optional `send` and `expect`; `place` names a key in errors.
    /// `expect` longer than what is read of the answer could never match, so it is refused.
    pub(crate) fn parse(
        url: &str,
        send: Option<&str>,
        expect: Option<&str>,
        place: &dyn Fn(&str) -> String,
    ) -> Result<Self> {
        let addr = TcpAddr::parse(url).with_context(|| place("url"))?;
        if send.is_some_and(|s| s.len() > 64 * 1024) {
            bail!("{}: at most 64 KiB", place("send"));
        }
        if expect.is_some_and(|e| e.len() > TCP_READ_LIMIT) {
            bail!("{}: at most {} bytes (healwatch reads that much of the answer)", place("expect"), TCP_READ_LIMIT);
        }
        let text = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(String::from);
        Ok(Self { addr, send: text(send), expect: text(expect) })
    }
}

/// At most this much of a TCP answer is read and searched for `expect`.
pub(crate) const TCP_READ_LIMIT: usize = 4 * 1024;

/// `log_pattern`: a regular expression (linear time, size-bounded) whose match in the
/// container's new log lines fails the check.
#[derive(Debug, Clone)]
pub(crate) struct LogPattern(pub regex::Regex);

impl LogPattern {
    /// Compiles `text`; a pattern that would need more than 1 MiB is refused.
    pub(crate) fn parse(text: &str) -> Result<Self> {
        regex::RegexBuilder::new(text).size_limit(1 << 20).build().map(Self).map_err(|e| {
            anyhow!("'{}' is not a usable regular expression: {}", one_line(text, 100), one_line(&e.to_string(), 300))
        })
    }
}

impl PartialEq for LogPattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// An HTTP health check.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HttpCheck {
    /// The health endpoint; secrets kept apart from its printable form.
    pub url: HealthUrl,
    /// Status codes that count as healthy.
    pub expect_status: StatusSet,
    /// Text the body must contain, if any.
    pub expect_body: Option<String>,
    /// Extra request headers; values are never printed.
    pub headers: Vec<(String, String)>,
}

impl HttpCheck {
    /// An HTTP check from its parts as the config file or labels write them; `place`
    /// names a key in errors. The one reading of an HTTP check, for both.
    pub(crate) fn parse(
        url: &str,
        expect_status: Option<&str>,
        expect_body: Option<&str>,
        headers: &[(String, String)],
        place: &dyn Fn(&str) -> String,
    ) -> Result<Self> {
        let url = HealthUrl::parse(url).with_context(|| place("url"))?;
        for (key, value) in headers {
            validate_header(key, value).with_context(|| place("headers"))?;
        }
        if url.authorization.is_some() && headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")) {
            bail!(
                "{}: the URL has a user:password and headers has an Authorization: give one \
                 (the URL's password is sent as Basic auth)",
                place("headers")
            );
        }
        Ok(Self {
            url,
            expect_status: expect_status
                .map(StatusSet::parse)
                .transpose()
                .with_context(|| place("expect_status"))?
                .unwrap_or_else(StatusSet::default_set),
            expect_body: expect_body.filter(|b| !b.is_empty()).map(str::to_string),
            headers: headers.to_vec(),
        })
    }
}

impl Target {
    /// A target checked by GET `url` (200-399 healthy), with built-in settings, restarting `container`.
    pub(crate) fn http(name: &str, container: &str, url: HealthUrl) -> Self {
        let check = HttpCheck { url, expect_status: StatusSet::default_set(), expect_body: None, headers: Vec::new() };
        Self::new(name, container, HealthCheck::Http(check))
    }

    /// A target checked by `health`, with built-in settings, restarting `container`.
    pub(crate) fn new(name: &str, container: &str, health: HealthCheck) -> Self {
        Self {
            name: name.to_string(),
            container: container.to_string(),
            health,
            settings: BUILTIN,
            action: Action::Restart,
            ignore_stopped: false,
            facts: Facts::default(),
            restart_with: Vec::new(),
            endpoint: Endpoint::Default,
            compose: None,
            replicas: vec![container.to_string()],
            on_restart: Vec::new(),
            log_pattern: None,
        }
    }

    /// The URL as printed (secrets masked), or `docker:healthcheck`.
    pub(crate) fn url_display(&self) -> String {
        match &self.health {
            HealthCheck::Http(h) => h.url.display.clone(),
            HealthCheck::Tcp(t) => t.addr.to_string(),
            HealthCheck::Exec(argv) => format!("exec:{}", one_line(&argv.join(" "), 200)),
            HealthCheck::Docker => "docker:healthcheck".to_string(),
            HealthCheck::Logs => "docker:logs".to_string(),
            HealthCheck::Provider => "docker:provider".to_string(),
        }
    }

    /// Whether it has containers a listing can show: a compose service, or a container.
    pub(crate) fn watches_containers(&self) -> bool {
        self.compose.is_some() || !self.replicas.is_empty()
    }

    /// The containers an action applies to.
    pub(crate) fn container_refs(&self) -> Vec<ContainerRef> {
        self.replicas.iter().map(|name| ContainerRef { endpoint: self.endpoint.clone(), name: name.clone() }).collect()
    }
}
