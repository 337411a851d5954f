//! Turns the command line and the TOML file into a validated `Config`: domain types
//! (`Duration`, `HealthUrl`, `StatusSet`), settings layered flag > target > labels >
//! `[defaults]` > built-in, every bad value rejected with the flag or the file and key
//! named. Nothing here touches the network or docker. `file` is the file's schema.

mod file;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use crate::cli::RunArgs;
use crate::model::{
    Action, ContainerRef, DockerHealth, Endpoint, Format, HealthUrl, Outcome, StatusSet, TcpAddr, Unhealthy, one_line,
    redact_text, validate_container_name, validate_header, validate_name,
};
use crate::net::TrustRoots;
use crate::settings::{Layer, Settings};

pub use crate::settings::BUILTIN;

/// Memory of a target no pass has checked for this long is dropped, by default.
pub const DEFAULT_FORGET_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// Targets checked and healed at once, by default.
pub const DEFAULT_CONCURRENCY: usize = 32;

/// Outcomes that trigger a notification by default: something was done, or is wrong
/// and was not fixed.
pub const DEFAULT_NOTIFY_ON: &[Outcome] = &[
    Outcome::Restarted,
    Outcome::RestartFailed,
    Outcome::GaveUp,
    Outcome::Unhealthy,
    Outcome::Acted,
    Outcome::Invalid,
];

/// Everything one pass needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The targets, in config-file order, then `-t` order.
    pub targets: Vec<Target>,
    /// Check and decide, run no docker command.
    pub dry_run: bool,
    /// Targets checked and healed at once (>= 1).
    pub concurrency: usize,
    /// Proxy for health checks; `None` ignores proxy environment variables.
    pub proxy: Option<ureq::Proxy>,
    /// CAs trusted by HTTPS checks instead of the public roots.
    pub ca_file: Option<TrustRoots>,
    /// File the status line is appended to.
    pub log: Option<PathBuf>,
    /// Print nothing when every target is healthy.
    pub quiet: bool,
    /// Explicit docker CLI path (flag, env or file).
    pub docker: Option<PathBuf>,
    /// Explicit lock file path.
    pub lock: Option<PathBuf>,
    /// Explicit state file path.
    pub state: Option<PathBuf>,
    /// node_exporter textfile written after every pass.
    pub metrics: Option<PathBuf>,
    /// Where the status line is POSTed when a pass did or found something worth telling.
    pub notify_url: Option<HealthUrl>,
    /// The outcomes that trigger a notification.
    pub notify_on: Vec<Outcome>,
    /// Dead man's switch: GET after every pass (URL/fail when the exit status is not 0).
    pub ping_url: Option<HealthUrl>,
    /// Whether docker commands to ssh engines share one connection per engine (the
    /// default); `false` leaves ssh to its own config (`[defaults] ssh_reuse`).
    pub ssh_reuse: bool,
    /// The engines: `local` first, then the `[[engine]]` tables, each with its discovery
    /// (`--discover` and `--unhealthy` are what an engine that does not say gets).
    pub engines: Vec<Engine>,
    /// How stdout shows the report.
    pub format: Format,
    /// Memory of a target no pass has checked for this long is dropped.
    pub forget_after: Duration,
    /// Let labels name any container in `restart_with` and set `max_restarts = 0`
    /// (`[defaults] trust_labels`); otherwise labels can only tighten.
    pub trust_labels: bool,
    /// The settings the flags give: they win over labels too.
    pub flags: Layer,
    /// The settings `[defaults]` gives: labels win over them.
    pub defaults: Layer,
    /// `[defaults] action`.
    pub default_action: Action,
    /// `[defaults] ignore_stopped`.
    pub default_ignore_stopped: bool,
    /// `[defaults] on_restart`, for discovered targets too.
    pub default_on_restart: Vec<String>,
}

impl Config {
    /// A config of just these targets, everything else at its default.
    #[cfg(test)]
    pub(crate) fn new(targets: Vec<Target>) -> Self {
        Self {
            targets,
            dry_run: false,
            concurrency: DEFAULT_CONCURRENCY,
            proxy: None,
            ca_file: None,
            log: None,
            quiet: false,
            docker: None,
            lock: None,
            state: None,
            metrics: None,
            notify_url: None,
            notify_on: DEFAULT_NOTIFY_ON.to_vec(),
            ping_url: None,
            ssh_reuse: true,
            engines: vec![Engine {
                name: Engine::LOCAL.to_string(),
                endpoint: Endpoint::Default,
                discover: false,
                unhealthy: Unhealthy::Off,
            }],
            trust_labels: false,
            format: Format::Json,
            forget_after: DEFAULT_FORGET_AFTER,
            flags: Layer::default(),
            defaults: Layer::default(),
            default_action: Action::Restart,
            default_ignore_stopped: false,
            default_on_restart: Vec::new(),
        }
    }

    /// Whether some check runs docker even in a dry run: exec, logs.
    pub fn needs_inspector(&self) -> bool {
        self.targets.iter().any(|t| matches!(t.health, HealthCheck::Exec(_)) || t.log_pattern.is_some())
    }

    /// Whether a pass must list containers: discovery, or compose services to resolve.
    pub fn needs_listing(&self) -> bool {
        self.engines.iter().any(Engine::discovers) || self.targets.iter().any(|t| t.compose.is_some())
    }
}

/// A Docker engine: the implicit `local` one (the docker CLI's default: DOCKER_HOST,
/// DOCKER_CONTEXT or its config) or an `[[engine]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
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
    pub const LOCAL: &'static str = "local";

    /// Whether a pass lists it to find targets.
    pub fn discovers(&self) -> bool {
        self.discover || self.unhealthy != Unhealthy::Off
    }
}

/// One service to watch: how its health is checked and the container(s) behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
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
}

/// How a target's health is checked.
#[derive(Debug, Clone, PartialEq)]
pub enum HealthCheck {
    /// GET a URL.
    Http(HttpCheck),
    /// Connect to a TCP port (and optionally send a line and expect an answer).
    Tcp(TcpCheck),
    /// Run a command in the container (`docker exec`, no shell): healthy on exit 0.
    Exec(Vec<String>),
    /// Docker's own HEALTHCHECK status, as observed when the pass listed containers.
    Docker {
        /// `State.Health.Status` at the start of the pass.
        observed: Option<DockerHealth>,
        /// The last probe's output, for the report.
        output: Option<String>,
        /// Whether the container was paused: frozen, it runs no probe and answers nothing.
        paused: bool,
    },
    /// No check of its own: only `log_pattern` (a worker with no port).
    Logs,
}

impl HealthCheck {
    /// The kind, as in the status line's `check` and the metrics' `check` label.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Http(_) => "http",
            Self::Tcp(_) => "tcp",
            Self::Exec(_) => "exec",
            Self::Docker { .. } => "docker",
            Self::Logs => "log",
        }
    }
}

/// A TCP check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpCheck {
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
    pub fn parse(url: &str, send: Option<&str>, expect: Option<&str>, place: &dyn Fn(&str) -> String) -> Result<Self> {
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
pub const TCP_READ_LIMIT: usize = 4 * 1024;

/// `log_pattern`: a regular expression (linear time, size-bounded) whose match in the
/// container's new log lines fails the check.
#[derive(Debug, Clone)]
pub struct LogPattern(pub regex::Regex);

impl LogPattern {
    /// Compiles `text`; a pattern that would need more than 1 MiB is refused.
    pub fn parse(text: &str) -> Result<Self> {
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
pub struct HttpCheck {
    /// The health endpoint; secrets kept apart from its printable form.
    pub url: HealthUrl,
    /// Status codes that count as healthy.
    pub expect_status: StatusSet,
    /// Text the body must contain, if any.
    pub expect_body: Option<String>,
    /// Extra request headers; values are never printed.
    pub headers: Vec<(String, String)>,
}

impl Target {
    /// A target checked by GET `url` (200-399 healthy), with built-in settings, restarting `container`.
    pub fn http(name: &str, container: &str, url: HealthUrl) -> Self {
        let check = HttpCheck { url, expect_status: StatusSet::default_set(), expect_body: None, headers: Vec::new() };
        Self::new(name, container, HealthCheck::Http(check))
    }

    /// A target checked by `health`, with built-in settings, restarting `container`.
    pub fn new(name: &str, container: &str, health: HealthCheck) -> Self {
        Self {
            name: name.to_string(),
            container: container.to_string(),
            health,
            settings: BUILTIN,
            action: Action::Restart,
            ignore_stopped: false,
            restart_with: Vec::new(),
            endpoint: Endpoint::Default,
            compose: None,
            replicas: vec![container.to_string()],
            on_restart: Vec::new(),
            log_pattern: None,
        }
    }

    /// The URL as printed (secrets masked), or `docker:healthcheck`.
    pub fn url_display(&self) -> String {
        match &self.health {
            HealthCheck::Http(h) => h.url.display.clone(),
            HealthCheck::Tcp(t) => t.addr.to_string(),
            HealthCheck::Exec(argv) => format!("exec:{}", one_line(&argv.join(" "), 200)),
            HealthCheck::Docker { .. } => "docker:healthcheck".to_string(),
            HealthCheck::Logs => "docker:logs".to_string(),
        }
    }

    /// The containers an action applies to.
    pub fn container_refs(&self) -> Vec<ContainerRef> {
        self.replicas.iter().map(|name| ContainerRef { endpoint: self.endpoint.clone(), name: name.clone() }).collect()
    }
}

/// Reads the config file (if any) and merges it with the run flags.
/// No targets at all is an error: a pass with nothing to watch is a mistake.
pub fn load(args: &RunArgs) -> Result<Config> {
    let config = load_allowing_none(args)?;
    ensure_targets(&config)?;
    Ok(config)
}

/// A pass needs something to watch: targets, or discovery.
fn ensure_targets(config: &Config) -> Result<()> {
    if config.targets.is_empty() && !config.engines.iter().any(Engine::discovers) {
        bail!(
            "no targets: give -t NAME=URL, a config file (-c FILE) with [[target]] tables, --discover or --unhealthy"
        );
    }
    Ok(())
}

/// As `load`, but an empty target list is fine (for `audit`, `status`, `pause`).
/// With neither `-c` nor `-t`, /etc/healwatch/healwatch.toml is read when it exists.
pub fn load_allowing_none(args: &RunArgs) -> Result<Config> {
    let path = match &args.targets.config {
        Some(path) => Some(path.clone()),
        None if args.targets.targets.is_empty() => Some(default_config_path()).filter(|p| p.exists()),
        None => None,
    };
    let file = file::read(path.as_deref())?;
    build(args, file, path.as_deref())
}

/// /etc/healwatch/healwatch.toml; debug builds (the tests) may point it elsewhere with
/// HEALWATCH_DEFAULT_CONFIG.
fn default_config_path() -> PathBuf {
    #[cfg(debug_assertions)]
    if let Some(path) = std::env::var_os("HEALWATCH_DEFAULT_CONFIG") {
        return PathBuf::from(path);
    }
    PathBuf::from(file::DEFAULT_PATH)
}

fn build(args: &RunArgs, file: file::FileConfig, path: Option<&Path>) -> Result<Config> {
    let file_name = path.map_or_else(|| "config".to_string(), |p| format!("config {}", p.display()));
    let d = &file.defaults;
    let flags = args.settings.layer();
    let defaults = d.settings_layer(&|key| format!("{file_name}: [defaults] {key}"))?;
    let default_action = d
        .action
        .as_deref()
        .map(Action::parse)
        .transpose()
        .with_context(|| format!("{file_name}: [defaults] action"))?
        .unwrap_or_default();
    let default_ignore_stopped = d.ignore_stopped.unwrap_or(false);
    let unhealthy = match (args.unhealthy, d.unhealthy.as_deref()) {
        (Some(mode), _) => mode,
        (None, Some(text)) => Unhealthy::parse(text).with_context(|| format!("{file_name}: [defaults] unhealthy"))?,
        (None, None) => Unhealthy::Off,
    };
    let discover = args.discover || d.discover.unwrap_or(false);
    let engines = engines(&file.engines, discover, unhealthy, &file_name)?;
    let local = engines[0].endpoint.clone();

    let mut targets = Vec::new();
    for (i, t) in file.targets.iter().enumerate() {
        let place = |key: &str| format!("{file_name}: target '{}' (#{}) {key}", t.name, i + 1);
        let mut target = file_target(t, &place, &[&flags, &t.settings_layer(&place)?, &defaults])?;
        match (&t.engine, target.endpoint == Endpoint::Default) {
            (None, true) => target.endpoint = local.clone(),
            (None, false) => {}
            (Some(name), true) => {
                let Some(engine) = engines.iter().find(|e| &e.name == name) else {
                    let known: Vec<&str> = engines.iter().map(|e| e.name.as_str()).collect();
                    bail!("{}: no [[engine]] is named '{name}' (known: {})", place("engine"), known.join(", "));
                };
                target.endpoint = engine.endpoint.clone();
            }
            (Some(_), false) => bail!("{}: give engine, or docker_host/docker_context, not both", place("engine")),
        }
        target.action = t
            .action
            .as_deref()
            .map(Action::parse)
            .transpose()
            .with_context(|| place("action"))?
            .unwrap_or(default_action);
        target.ignore_stopped = t.ignore_stopped.unwrap_or(default_ignore_stopped);
        target.on_restart =
            on_restart(t.on_restart.as_ref().or(d.on_restart.as_ref())).with_context(|| place("on_restart"))?;
        targets.push(target);
    }
    for raw in &args.targets.targets {
        let mut target = flag_target(raw)?;
        target.endpoint = local.clone();
        target.settings = Layer::resolve(&[&flags, &defaults]);
        target.action = default_action;
        target.ignore_stopped = default_ignore_stopped;
        target.on_restart =
            on_restart(d.on_restart.as_ref()).with_context(|| format!("{file_name}: [defaults] on_restart"))?;
        targets.push(target);
    }
    let mut seen = HashSet::new();
    for t in &targets {
        if !seen.insert(t.name.as_str()) {
            bail!(
                "{file_name}: target name '{}' is used twice (file or --target): names must be unique; \
                 two checks of one container need two names and the same `container`",
                t.name
            );
        }
    }
    let concurrency = args.concurrency.or(d.concurrency).unwrap_or(DEFAULT_CONCURRENCY);
    if concurrency == 0 {
        bail!("concurrency must be at least 1 (--concurrency or [defaults] concurrency)");
    }
    let proxy = match args.proxy.as_deref().or(d.proxy.as_deref()).filter(|p| !p.is_empty()) {
        Some(p) => Some(ureq::Proxy::new(p).map_err(|e| anyhow!("proxy '{}': {e}", redact_text(p)))?),
        None => None,
    };
    let files = [
        ("--state / state", args.state.as_ref().or(d.state.as_ref())),
        ("--metrics / metrics", args.metrics.as_ref().or(d.metrics.as_ref())),
        ("--lock / lock", args.lock.as_ref().or(d.lock.as_ref())),
        ("--log / log", args.log.as_ref().or(d.log.as_ref())),
    ];
    for (i, (a, pa)) in files.iter().enumerate() {
        for (b, pb) in &files[i + 1..] {
            if let (Some(pa), Some(pb)) = (pa, pb)
                && same_file(pa, pb)
            {
                bail!("{a} and {b} name the same file {}: give each its own file", pa.display());
            }
        }
    }
    Ok(Config {
        targets,
        ca_file: match (&args.ca_file, &d.ca_file) {
            (Some(path), _) => Some(TrustRoots::load(path).context("--ca-file")?),
            (None, Some(path)) => {
                Some(TrustRoots::load(path).with_context(|| format!("{file_name}: [defaults] ca_file"))?)
            }
            (None, None) => None,
        },
        dry_run: args.dry_run || d.dry_run.unwrap_or(false),
        concurrency,
        proxy,
        log: args.log.clone().or_else(|| d.log.clone()),
        quiet: args.quiet || d.quiet.unwrap_or(false),
        docker: args.docker.clone().or_else(|| d.docker.clone()),
        lock: args.lock.clone().or_else(|| d.lock.clone()),
        state: args.state.clone().or_else(|| d.state.clone()),
        metrics: args.metrics.clone().or_else(|| d.metrics.clone()),
        notify_url: optional_url(
            args.notify_url.as_deref(),
            d.notify_url.as_deref(),
            "--notify-url",
            &file_name,
            "notify_url",
        )?,
        notify_on: match &d.notify_on {
            None => DEFAULT_NOTIFY_ON.to_vec(),
            Some(names) => names
                .iter()
                .map(|n| Outcome::parse(n))
                .collect::<Result<_>>()
                .with_context(|| format!("{file_name}: [defaults] notify_on"))?,
        },
        ping_url: optional_url(args.ping_url.as_deref(), d.ping_url.as_deref(), "--ping-url", &file_name, "ping_url")?,
        engines,
        ssh_reuse: d.ssh_reuse.unwrap_or(true),
        trust_labels: d.trust_labels.unwrap_or(false),
        format: match (args.format, d.format.as_deref()) {
            (Some(f), _) => f,
            (None, Some(text)) => Format::parse(text).with_context(|| format!("{file_name}: [defaults] format"))?,
            (None, None) => Format::Json,
        },
        forget_after: match (args.forget_after, d.forget_after.as_deref()) {
            (Some(d), _) => d,
            (None, Some(text)) => crate::model::parse_duration(text)
                .and_then(|d| {
                    let (min, max) = crate::settings::FORGET_AFTER;
                    crate::settings::in_range(d, min, max, "")
                })
                .with_context(|| format!("{file_name}: [defaults] forget_after"))?,
            (None, None) => DEFAULT_FORGET_AFTER,
        },
        flags,
        defaults,
        default_action,
        default_ignore_stopped,
        default_on_restart: on_restart(d.on_restart.as_ref())
            .with_context(|| format!("{file_name}: [defaults] on_restart"))?,
    })
}

/// A `[[target]]` table as a target; `layers` are its settings' sources, highest first.
fn file_target(t: &file::FileTarget, place: &dyn Fn(&str) -> String, layers: &[&Layer]) -> Result<Target> {
    validate_name(&t.name).with_context(|| place("name"))?;
    let http_only = [
        ("expect_status", t.expect_status.is_some()),
        ("expect_body", t.expect_body.is_some()),
        ("headers", !t.headers.is_empty()),
    ];
    let tcp_only = [("send", t.send.is_some()), ("expect", t.expect.is_some())];
    let refuse = |keys: &[(&str, bool)], kind: &str| -> Result<()> {
        match keys.iter().find(|(_, given)| *given) {
            Some((key, _)) => bail!("{}: only {kind} targets take it", place(key)),
            None => Ok(()),
        }
    };
    let health = match (&t.url, &t.exec) {
        (Some(url), None) if url.starts_with("tcp://") => {
            refuse(&http_only, "http(s)")?;
            HealthCheck::Tcp(TcpCheck::parse(url, t.send.as_deref(), t.expect.as_deref(), place)?)
        }
        (Some(url), None) => {
            refuse(&tcp_only, "tcp://")?;
            HealthCheck::Http(http_check(url, t, place)?)
        }
        (None, Some(argv)) => {
            refuse(&http_only, "http(s)")?;
            refuse(&tcp_only, "tcp://")?;
            HealthCheck::Exec(exec_argv(argv).with_context(|| place("exec"))?)
        }
        (None, None) if t.log_pattern.is_some() => {
            refuse(&http_only, "http(s)")?;
            refuse(&tcp_only, "tcp://")?;
            HealthCheck::Logs
        }
        (None, None) => bail!("{}: give url (http://, https:// or tcp://), exec, or log_pattern", place("url")),
        (Some(_), Some(_)) => bail!("{}: give url or exec, not both", place("exec")),
    };
    let mut target = Target::new(&t.name, t.container.as_deref().unwrap_or(&t.name), health);
    target.log_pattern =
        t.log_pattern.as_deref().map(LogPattern::parse).transpose().with_context(|| place("log_pattern"))?;
    target.settings = Layer::resolve(layers);
    for dependent in &t.restart_with {
        validate_container_name(dependent).with_context(|| place("restart_with"))?;
    }
    target.restart_with = t.restart_with.clone();
    target.endpoint = endpoint(t.docker_host.as_deref(), t.docker_context.as_deref())
        .with_context(|| place("docker_host/docker_context"))?;
    match (&t.compose_project, &t.compose_service, &t.container) {
        (Some(project), Some(service), None) => {
            target.container = format!("{project}/{service}");
            target.compose = Some((project.clone(), service.clone()));
            target.replicas = Vec::new();
        }
        (None, None, _) => validate_container_name(&target.container).with_context(|| place("container"))?,
        (Some(_), Some(_), Some(_)) => {
            bail!("{}: give either `container` or `compose_project` + `compose_service`", place("container"))
        }
        _ => bail!("{}: give both compose_project and compose_service", place("compose_project")),
    }
    Ok(target)
}

/// The HTTP check of a `[[target]]`.
fn http_check(raw: &str, t: &file::FileTarget, place: &dyn Fn(&str) -> String) -> Result<HttpCheck> {
    let url = HealthUrl::parse(raw).with_context(|| place("url"))?;
    for (key, value) in &t.headers {
        validate_header(key, value).with_context(|| place("headers"))?;
    }
    if url.authorization.is_some() && t.headers.keys().any(|k| k.eq_ignore_ascii_case("authorization")) {
        bail!(
            "{}: the URL has a user:password and headers has an Authorization: give one \
             (the URL's password is sent as Basic auth)",
            place("headers")
        );
    }
    Ok(HttpCheck {
        url,
        expect_status: t
            .expect_status
            .as_deref()
            .map(StatusSet::parse)
            .transpose()
            .with_context(|| place("expect_status"))?
            .unwrap_or_else(StatusSet::default_set),
        expect_body: t.expect_body.clone().filter(|b| !b.is_empty()),
        headers: t.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    })
}

/// `exec`: a command and its arguments, run by `docker exec` without a shell.
pub fn exec_argv(argv: &[String]) -> Result<Vec<String>> {
    if argv.is_empty() || argv[0].is_empty() {
        bail!("give the command and its arguments, e.g. exec = [\"pg_isready\", \"-U\", \"postgres\"]");
    }
    if argv.len() > 64 || argv.iter().any(|a| a.contains('\0') || a.len() > 4096) {
        bail!("at most 64 arguments of at most 4096 bytes, without NUL");
    }
    Ok(argv.to_vec())
}

/// A `-t NAME=URL` flag as a target (settings are laid on by the caller).
fn flag_target(raw: &str) -> Result<Target> {
    // Only the name: the URL's own error shows it, masked, and a malformed URL may hide
    // a password where no redaction could find it.
    let name_part = raw.split_once('=').map_or(raw, |(name, _)| name);
    let place = || format!("--target '{}=...'", one_line(name_part, 64));
    let (name, url) = raw
        .split_once('=')
        .ok_or_else(|| anyhow!("{}: write NAME=URL, e.g. app=http://127.0.0.1:5000/health", place()))?;
    validate_name(name).with_context(place)?;
    validate_container_name(name).with_context(place)?;
    if url.starts_with("tcp://") {
        let addr = TcpAddr::parse(url).with_context(place)?;
        return Ok(Target::new(name, name, HealthCheck::Tcp(TcpCheck { addr, send: None, expect: None })));
    }
    let url = HealthUrl::parse(url).with_context(place)?;
    Ok(Target::http(name, name, url))
}

/// `on_restart`: a program and its arguments, run without a shell. The program must be
/// an absolute path: cron's PATH is not the operator's.
fn on_restart(argv: Option<&Vec<String>>) -> Result<Vec<String>> {
    let Some(argv) = argv.filter(|a| !a.is_empty()) else { return Ok(Vec::new()) };
    if !argv[0].starts_with('/') {
        bail!("'{}' must be an absolute path, e.g. [\"/usr/local/bin/notify-team\", \"--flag\"]", argv[0]);
    }
    if argv.iter().any(|a| a.contains('\0')) {
        bail!("an argument has a NUL byte");
    }
    Ok(argv.clone())
}

/// The engines: `local` first (implicit, or a table of that name), then the other tables
/// in order. `discover` and `unhealthy` are what each engine that does not say gets.
fn engines(tables: &[file::FileEngine], discover: bool, unhealthy: Unhealthy, file_name: &str) -> Result<Vec<Engine>> {
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
pub fn endpoint(host: Option<&str>, context: Option<&str>) -> Result<Endpoint> {
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

/// Whether two paths name one file: the same text once made absolute, or the same
/// inode when both exist (links are not followed: healwatch never writes through one).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    if absolute(a) == absolute(b) {
        return true;
    }
    match (std::fs::symlink_metadata(a), std::fs::symlink_metadata(b)) {
        (Ok(ma), Ok(mb)) => ma.dev() == mb.dev() && ma.ino() == mb.ino(),
        _ => false,
    }
}

/// A URL given by flag (which wins) or `[defaults]` key, parsed; the error names which.
fn optional_url(
    flag: Option<&str>,
    file: Option<&str>,
    flag_name: &str,
    file_name: &str,
    key: &str,
) -> Result<Option<HealthUrl>> {
    // Their paths are secrets (a ping UUID, a webhook token): printed as host/***.
    match (flag.filter(|s| !s.is_empty()), file.filter(|s| !s.is_empty())) {
        (Some(url), _) => HealthUrl::parse_secret_path(url).map(Some).with_context(|| flag_name.to_string()),
        (None, Some(url)) => {
            HealthUrl::parse_secret_path(url).map(Some).with_context(|| format!("{file_name}: [defaults] {key}"))
        }
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::cli::TargetArgs;
    use crate::settings::SettingFlags;

    fn args(targets: &[&str]) -> RunArgs {
        RunArgs {
            targets: TargetArgs { config: None, targets: targets.iter().map(|s| s.to_string()).collect() },
            ..RunArgs::default()
        }
    }

    /// The production path from text to `Config`, the "no targets" check included.
    fn from_toml(text: &str, run: RunArgs) -> Result<Config> {
        let file = file::parse(text).map_err(|(_, message)| anyhow!("{message}"))?;
        let config = build(&run, file, Some(Path::new("t.toml")))?;
        ensure_targets(&config)?;
        Ok(config)
    }

    #[test]
    fn flag_targets_get_builtin_defaults() {
        let c = build(&args(&["app=http://127.0.0.1:5000/health"]), file::FileConfig::default(), None).unwrap();
        let t = &c.targets[0];
        assert_eq!((t.name.as_str(), t.container.as_str()), ("app", "app"));
        assert_eq!(t.settings, BUILTIN);
        assert_eq!(t.settings.timeout, Duration::from_secs(2));
        assert_eq!(t.settings.retries, 2);
        assert_eq!(t.settings.recovery_timeout, Duration::from_secs(60));
        assert_eq!((t.settings.failure_threshold, t.settings.max_restarts), (1, 3));
        assert_eq!(t.settings.restart_window, Duration::from_secs(1800));
        assert_eq!(c.concurrency, 32);
        assert!(!c.dry_run);
    }

    #[test]
    fn precedence_is_flag_then_target_then_defaults() {
        let toml = r#"
            [defaults]
            timeout = "3s"
            retries = 5
            [[target]]
            name = "a"
            url = "http://127.0.0.1:1/"
            timeout = "2s"
            [[target]]
            name = "b"
            url = "http://127.0.0.1:2/"
            container = "b-container"
        "#;
        let c = from_toml(toml, args(&[])).unwrap();
        assert_eq!(c.targets[0].settings.timeout, Duration::from_secs(2));
        assert_eq!(c.targets[1].settings.timeout, Duration::from_secs(3));
        assert_eq!(c.targets[1].settings.retries, 5);
        assert_eq!(c.targets[1].container, "b-container");
        let run = RunArgs {
            settings: SettingFlags { timeout: Some(Duration::from_secs(1)), ..SettingFlags::default() },
            ..args(&[])
        };
        let c = from_toml(toml, run).unwrap();
        assert!(c.targets.iter().all(|t| t.settings.timeout == Duration::from_secs(1)));
    }

    #[test]
    fn bad_input_names_the_key() {
        let cases = [
            ("[[target]]\nname='a'\nurl='http://x/'\ntimout='1s'", "unknown field"),
            ("[[target]]\nname='a'\nurl='ftp://x/'", "url"),
            ("[[target]]\nname='a'\nurl='http://x/'\ntimeout='soon'", "timeout"),
            ("[[target]]\nname='a'\nurl='http://x/'\ntimeout='0s'", "more than 0"),
            ("[[target]]\nname='a'\nurl='http://x/'\ncontainer='-rm'", "container"),
            ("[[target]]\nname='a'\nurl='http://x/'\nexpect_status='ok'", "expect_status"),
            ("[[target]]\nname='a'\nurl='http://x/'\n[[target]]\nname='a'\nurl='http://y/'", "twice"),
            ("[defaults]\nconcurrency=0\n[[target]]\nname='a'\nurl='http://x/'", "concurrency"),
            ("[defaults]\nretry_delay='x'\n[[target]]\nname='a'\nurl='http://x/'", "[defaults] retry_delay"),
            ("[defaults]\nunhealthy='some'\n[[target]]\nname='a'\nurl='http://x/'", "[defaults] unhealthy"),
            ("[[target]]\nname='a b'\nurl='http://x/'", "name"),
            ("[[target]]\nname='a'\nurl='http://x/'\nheaders={'X-A'=\"v\\r\\nEvil: 1\"}", "headers"),
            ("", "no targets"),
        ];
        for (toml, want) in cases {
            let err = format!("{:#}", from_toml(toml, args(&[])).unwrap_err());
            assert!(err.contains(want), "config {toml:?}: error {err:?} lacks {want:?}");
        }
    }

    #[test]
    fn engines_by_name() {
        let text = r#"
[defaults]
discover = true
[[engine]]
name = "web-2"
host = "ssh://ops@web-2"
unhealthy = "all"
[[engine]]
name = "db"
host = "tcp://10.0.0.5:2376"
tls_ca = "/etc/hw/ca.pem"
tls_cert = "/etc/hw/cert.pem"
tls_key = "/etc/hw/key.pem"
discover = false
[[target]]
name = "api"
url = "http://10.0.0.4/health"
engine = "web-2"
[[target]]
name = "here"
url = "http://127.0.0.1/health"
"#;
        let c = from_toml(text, args(&[])).unwrap();
        let names: Vec<(&str, bool, Unhealthy)> =
            c.engines.iter().map(|e| (e.name.as_str(), e.discover, e.unhealthy)).collect();
        assert_eq!(
            names,
            [("local", true, Unhealthy::Off), ("web-2", true, Unhealthy::All), ("db", false, Unhealthy::Off)]
        );
        assert_eq!(c.targets[0].endpoint, c.engines[1].endpoint);
        assert_eq!(c.targets[0].endpoint.name(), "web-2");
        assert_eq!(c.targets[0].endpoint.args(), ["-H", "ssh://ops@web-2"]);
        assert_eq!(c.targets[1].endpoint, Endpoint::Default);
        assert_eq!(
            c.engines[2].endpoint.args(),
            [
                "--tlsverify",
                "--tlscacert",
                "/etc/hw/ca.pem",
                "--tlscert",
                "/etc/hw/cert.pem",
                "--tlskey",
                "/etc/hw/key.pem",
                "-H",
                "tcp://10.0.0.5:2376"
            ]
        );
        // A table named local redefines the default engine, and targets go there.
        let c = from_toml(
            "[[engine]]\nname='local'\nhost='unix:///run/other.sock'\ndiscover=true\n",
            args(&["a=http://127.0.0.1:1/"]),
        )
        .unwrap();
        assert_eq!(c.engines.len(), 1);
        assert_eq!(c.targets[0].endpoint.args(), ["-H", "unix:///run/other.sock"]);
        assert_eq!(c.targets[0].endpoint.name(), "local");
    }

    #[test]
    fn engine_mistakes_are_named() {
        let target = "[[target]]\nname='a'\nurl='http://127.0.0.1:1/'\n";
        for (text, says) in [
            (format!("{target}engine='nope'\n"), "no [[engine]] is named 'nope' (known: local)"),
            (
                format!("[[engine]]\nname='w'\nhost='ssh://w'\n{target}engine='w'\ndocker_host='ssh://x'\n"),
                "give engine, or docker_host/docker_context, not both",
            ),
            (
                "[[engine]]\nname='w'\nhost='ssh://w'\n[[engine]]\nname='w'\ncontext='w'\n".to_string(),
                "two engines are named 'w'",
            ),
            (
                "[[engine]]\nname='w'\nhost='tcp://w:2376'\ntls_ca='/ca'\n".to_string(),
                "give all three of tls_ca, tls_cert and tls_key",
            ),
            (
                "[[engine]]\nname='w'\nhost='ssh://w'\ntls_ca='/a'\ntls_cert='/b'\ntls_key='/c'\n".to_string(),
                "TLS files go with a tcp:// host",
            ),
            (
                "[[engine]]\nname='w'\nhost='tcp://w:2376'\ntls_ca='a'\ntls_cert='/b'\ntls_key='/c'\n".to_string(),
                "must be an absolute path",
            ),
            ("[[engine]]\nname='a/b'\nhost='ssh://w'\n".to_string(), "name"),
            ("[[engine]]\nname='w'\nhost='http://w'\n".to_string(), "must start with unix://, tcp://, ssh://"),
            ("[[engine]]\nname='w'\nhost='ssh://w'\nunhealthy='most'\n".to_string(), "unhealthy"),
            ("[[engine]]\nname='w'\nhots='ssh://w'\n".to_string(), "hots"),
        ] {
            let text = if text.contains("[[target]]") { text } else { format!("{text}{target}") };
            let e = format!("{:#}", from_toml(&text, args(&[])).unwrap_err());
            assert!(e.contains(says), "{text}\n=> {e}");
        }
    }

    #[test]
    fn unhealthy_off_in_the_file() {
        let c = from_toml("[defaults]\nunhealthy='off'\n[[target]]\nname='a'\nurl='http://x/'", args(&[])).unwrap();
        assert_eq!(c.engines[0].unhealthy, Unhealthy::Off);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 1000, failure_persistence: None, ..Default::default()
        })]

        /// Any config text, and configs made of real keys with odd values: no panic;
        /// an accepted target's settings are in range.
        #[test]
        fn any_config_is_loaded_or_refused(
            text in "\\PC{0,80}",
            key in proptest::sample::select(&["timeout", "retries", "restart_window", "max_restarts", "url",
                "expect_status", "headers", "action", "container", "start_period"][..]),
            value in "\"[^\"\\\\]{0,12}\"|-?[0-9]{1,22}|\\{ \"[A-Za-z-]{1,8}\" = \"[^\"\\\\]{0,6}\" \\}|true",
        ) {
            let _ = file::parse(&text).map(|f| build(&args(&[]), f, None));
            let toml = format!("[[target]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/\"\n{key} = {value}\n");
            let toml = toml.replacen("url = \"http://127.0.0.1:1/\"\nurl", "url", 1);
            if let Ok(c) = from_toml(&toml, args(&[])) {
                let s = c.targets[0].settings;
                proptest::prop_assert!(s.timeout <= Duration::from_secs(3600) && s.retries <= 100);
            }
        }
    }

    #[test]
    fn bad_flag_targets() {
        for (flag, want) in [("app", "NAME=URL"), ("-x=http://h/", "name"), ("app=localhost:5000", "not a URL")] {
            let err = format!("{:#}", build(&args(&[flag]), file::FileConfig::default(), None).unwrap_err());
            assert!(err.contains("--target") && err.contains(want), "{flag}: {err}");
        }
    }
}
