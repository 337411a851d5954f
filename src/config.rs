//! Turns the raw CLI flags and the TOML file into a validated `Config`: domain types
//! (`Duration`, `HealthUrl`, `StatusSet`), defaults applied, every bad value rejected with
//! the flag or the file and key named. Nothing here touches the network or docker.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;

use crate::cli::{RunArgs, TargetArgs};
use crate::docker::{Action, ContainerRef, Endpoint};
use crate::probe::TrustRoots;
use crate::redact::{HealthUrl, validate_container_name};
use crate::report::Outcome;

/// Built-in defaults, shown in `--help` and the README.
pub mod defaults {
    use std::time::Duration;
    /// One HTTP attempt.
    pub const TIMEOUT: Duration = Duration::from_secs(5);
    /// Extra attempts before a target counts as failed.
    pub const RETRIES: u32 = 2;
    /// Pause between attempts.
    pub const RETRY_DELAY: Duration = Duration::from_secs(1);
    /// `docker restart -t`.
    pub const RESTART_TIMEOUT: Duration = Duration::from_secs(10);
    /// How long to poll for recovery after a restart.
    pub const RECOVERY_TIMEOUT: Duration = Duration::from_secs(60);
    /// Targets checked and healed at once.
    pub const CONCURRENCY: usize = 32;
    /// Failed passes in a row before a restart.
    pub const FAILURE_THRESHOLD: u32 = 1;
    /// Restarts within the window before healwatch gives up.
    pub const MAX_RESTARTS: u32 = 3;
    /// The crash-loop guard's window.
    pub const RESTART_WINDOW: Duration = Duration::from_secs(30 * 60);
    /// No restart of a container younger than this.
    pub const START_PERIOD: Duration = Duration::ZERO;
    /// Outcomes that trigger a notification: something was done, or is wrong and was not fixed.
    pub const NOTIFY_ON: &[crate::report::Outcome] = &[
        crate::report::Outcome::Restarted,
        crate::report::Outcome::RestartFailed,
        crate::report::Outcome::GaveUp,
        crate::report::Outcome::Unhealthy,
        crate::report::Outcome::Acted,
        crate::report::Outcome::Invalid,
    ];
    /// Healthy status codes, as Kubernetes HTTP probes: 200 <= code < 400.
    pub const EXPECT_STATUS: &str = "200-399";
}

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
    pub proxy: Option<String>,
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
    /// Also watch containers that declare themselves with `healwatch.*` labels.
    pub discover: bool,
    /// Also heal containers whose Docker HEALTHCHECK says unhealthy.
    pub unhealthy: Unhealthy,
    /// `[defaults]` over the built-in settings: the base for discovered targets.
    pub base: Settings,
    /// Per-target settings given by flags, which win over labels too.
    pub(crate) flags: RawSettings,
    /// `[defaults] action`.
    pub default_action: Action,
    /// `[defaults] ignore_stopped`.
    pub default_ignore_stopped: bool,
}

impl Config {
    /// A config of just these targets, everything else at its default.
    pub fn new(targets: Vec<Target>) -> Self {
        Self {
            targets,
            dry_run: false,
            concurrency: defaults::CONCURRENCY,
            proxy: None,
            ca_file: None,
            log: None,
            quiet: false,
            docker: None,
            lock: None,
            state: None,
            metrics: None,
            notify_url: None,
            notify_on: defaults::NOTIFY_ON.to_vec(),
            ping_url: None,
            discover: false,
            unhealthy: Unhealthy::Off,
            base: BUILTIN,
            flags: RawSettings::default(),
            default_action: Action::Restart,
            default_ignore_stopped: false,
        }
    }
}

/// Which containers with an unhealthy Docker HEALTHCHECK a pass heals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Unhealthy {
    /// None (only URL targets).
    #[default]
    Off,
    /// Those labelled `healwatch.enable=true`.
    Label,
    /// Every one not labelled `healwatch.enable=false`.
    All,
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
}

/// How a target's health is checked.
#[derive(Debug, Clone, PartialEq)]
pub enum HealthCheck {
    /// GET a URL.
    Http(HttpCheck),
    /// Docker's own HEALTHCHECK status, as observed when the pass listed containers.
    Docker {
        /// `State.Health.Status` at the start of the pass.
        observed: Option<String>,
        /// The last probe's output, for the report.
        output: Option<String>,
    },
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
        Self {
            name: name.to_string(),
            container: container.to_string(),
            health: HealthCheck::Http(HttpCheck {
                url,
                expect_status: StatusSet::parse(defaults::EXPECT_STATUS).expect("the default status set parses"),
                expect_body: None,
                headers: Vec::new(),
            }),
            settings: BUILTIN,
            action: Action::Restart,
            ignore_stopped: false,
            restart_with: Vec::new(),
            endpoint: Endpoint::Default,
            compose: None,
            replicas: vec![container.to_string()],
        }
    }

    /// The URL as printed (secrets masked), or `docker:healthcheck`.
    pub fn url_display(&self) -> String {
        match &self.health {
            HealthCheck::Http(h) => h.url.display.clone(),
            HealthCheck::Docker { .. } => "docker:healthcheck".to_string(),
        }
    }

    /// The containers an action applies to.
    pub fn container_refs(&self) -> Vec<ContainerRef> {
        self.replicas.iter().map(|name| ContainerRef { endpoint: self.endpoint.clone(), name: name.clone() }).collect()
    }
}

/// A set of HTTP status codes written like `200-399` or `200,204,300-302`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    ranges: Vec<(u16, u16)>,
}

impl StatusSet {
    /// Parses `200-399`, `200`, or a comma-separated list of both.
    pub fn parse(text: &str) -> Result<Self> {
        let hint = "write e.g. \"200-399\" or \"200,204\"";
        let mut ranges = Vec::new();
        for part in text.split(',').map(str::trim) {
            let (lo, hi) = part.split_once('-').unwrap_or((part, part));
            let code = |s: &str| -> Result<u16> {
                let n: u16 = s.trim().parse().map_err(|_| anyhow!("'{text}' is not a status set ({hint})"))?;
                if !(100..=599).contains(&n) {
                    bail!("status {n} in '{text}' is outside 100-599");
                }
                Ok(n)
            };
            let (lo, hi) = (code(lo)?, code(hi)?);
            if lo > hi {
                bail!("range '{part}' in '{text}' runs backwards");
            }
            ranges.push((lo, hi));
        }
        Ok(Self { ranges })
    }

    /// Whether `code` is in the set.
    pub fn contains(&self, code: u16) -> bool {
        self.ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&code))
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(lo, hi)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi { write!(f, "{lo}")? } else { write!(f, "{lo}-{hi}")? }
        }
        Ok(())
    }
}

/// Parses a duration written like `500ms`, `5s`, `2m` or `1h 30m`; a bare `0` is zero.
pub fn parse_duration(text: &str) -> Result<Duration> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text.trim())
        .map_err(|e| anyhow!("'{text}' is not a duration ({e}; write e.g. 500ms, 5s, 2m)"))
}

/// Per-target settings as one layer gives them (flags, `[defaults]`, a `[[target]]` or
/// labels), still raw: durations unparsed, anything unset `None`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RawSettings {
    pub(crate) timeout: Option<String>,
    pub(crate) retries: Option<u32>,
    pub(crate) retry_delay: Option<String>,
    pub(crate) restart_timeout: Option<String>,
    pub(crate) recovery_timeout: Option<String>,
    pub(crate) failure_threshold: Option<u32>,
    pub(crate) max_restarts: Option<u32>,
    pub(crate) restart_window: Option<String>,
    pub(crate) start_period: Option<String>,
}

/// The `[defaults]` table; every key is also a run flag.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDefaults {
    timeout: Option<String>,
    retries: Option<u32>,
    retry_delay: Option<String>,
    restart_timeout: Option<String>,
    recovery_timeout: Option<String>,
    failure_threshold: Option<u32>,
    max_restarts: Option<u32>,
    restart_window: Option<String>,
    start_period: Option<String>,
    concurrency: Option<usize>,
    proxy: Option<String>,
    log: Option<PathBuf>,
    quiet: Option<bool>,
    docker: Option<PathBuf>,
    lock: Option<PathBuf>,
    state: Option<PathBuf>,
    dry_run: Option<bool>,
    metrics: Option<PathBuf>,
    notify_url: Option<String>,
    notify_on: Option<Vec<String>>,
    ping_url: Option<String>,
    action: Option<String>,
    ignore_stopped: Option<bool>,
    discover: Option<bool>,
    unhealthy: Option<String>,
    ca_file: Option<PathBuf>,
}

/// One `[[target]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTarget {
    name: String,
    url: String,
    container: Option<String>,
    expect_status: Option<String>,
    expect_body: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    timeout: Option<String>,
    retries: Option<u32>,
    retry_delay: Option<String>,
    restart_timeout: Option<String>,
    recovery_timeout: Option<String>,
    failure_threshold: Option<u32>,
    max_restarts: Option<u32>,
    restart_window: Option<String>,
    start_period: Option<String>,
    action: Option<String>,
    ignore_stopped: Option<bool>,
    #[serde(default)]
    restart_with: Vec<String>,
    docker_host: Option<String>,
    docker_context: Option<String>,
    compose_project: Option<String>,
    compose_service: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    defaults: FileDefaults,
    #[serde(default, rename = "target")]
    targets: Vec<FileTarget>,
}

/// Per-target settings, resolved: what a pass needs to check, heal and judge one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Bound on one HTTP attempt.
    pub timeout: Duration,
    /// Extra attempts before the target counts as failed.
    pub retries: u32,
    /// Pause between attempts.
    pub retry_delay: Duration,
    /// Stop timeout for `docker restart -t`.
    pub restart_timeout: Duration,
    /// How long to poll for recovery after a restart (zero: do not wait).
    pub recovery_timeout: Duration,
    /// Restart only after this many failed passes in a row (>= 1).
    pub failure_threshold: u32,
    /// Give up after this many restarts within `restart_window` (0: never give up).
    pub max_restarts: u32,
    /// The crash-loop guard's window.
    pub restart_window: Duration,
    /// A container started less than this long ago is not restarted.
    pub start_period: Duration,
}

/// Built-in defaults, as `Settings`.
pub const BUILTIN: Settings = Settings {
    timeout: defaults::TIMEOUT,
    retries: defaults::RETRIES,
    retry_delay: defaults::RETRY_DELAY,
    restart_timeout: defaults::RESTART_TIMEOUT,
    recovery_timeout: defaults::RECOVERY_TIMEOUT,
    failure_threshold: defaults::FAILURE_THRESHOLD,
    max_restarts: defaults::MAX_RESTARTS,
    restart_window: defaults::RESTART_WINDOW,
    start_period: defaults::START_PERIOD,
};

impl RawSettings {
    /// Lays this layer over `base`; `place` names the layer's key in errors.
    pub(crate) fn apply(&self, base: Settings, place: &dyn Fn(&str) -> String) -> Result<Settings> {
        let dur = |key: &str, raw: &Option<String>, fallback: Duration| -> Result<Duration> {
            raw.as_deref().map_or(Ok(fallback), |s| parse_duration(s).with_context(|| place(key)))
        };
        let settings = Settings {
            timeout: dur("timeout", &self.timeout, base.timeout)?,
            retries: self.retries.unwrap_or(base.retries),
            retry_delay: dur("retry_delay", &self.retry_delay, base.retry_delay)?,
            restart_timeout: dur("restart_timeout", &self.restart_timeout, base.restart_timeout)?,
            recovery_timeout: dur("recovery_timeout", &self.recovery_timeout, base.recovery_timeout)?,
            failure_threshold: self.failure_threshold.unwrap_or(base.failure_threshold),
            max_restarts: self.max_restarts.unwrap_or(base.max_restarts),
            restart_window: dur("restart_window", &self.restart_window, base.restart_window)?,
            start_period: dur("start_period", &self.start_period, base.start_period)?,
        };
        if self.timeout.is_some() && settings.timeout.is_zero() {
            bail!("{}: must be more than 0", place("timeout"));
        }
        if self.failure_threshold == Some(0) {
            bail!("{}: must be at least 1 (1 restarts at the first failed pass)", place("failure_threshold"));
        }
        if self.restart_window.is_some() && settings.restart_window.is_zero() {
            bail!("{}: must be more than 0 (to never give up, set max_restarts = 0)", place("restart_window"));
        }
        Ok(settings)
    }
}

/// The per-target settings layer of a struct that has the nine fields by the same names
/// (`[defaults]`, `[[target]]` and the run flags), as `RawSettings`.
macro_rules! raw_settings {
    ($from:expr) => {
        RawSettings {
            timeout: $from.timeout.clone(),
            retries: $from.retries,
            retry_delay: $from.retry_delay.clone(),
            restart_timeout: $from.restart_timeout.clone(),
            recovery_timeout: $from.recovery_timeout.clone(),
            failure_threshold: $from.failure_threshold,
            max_restarts: $from.max_restarts,
            restart_window: $from.restart_window.clone(),
            start_period: $from.start_period.clone(),
        }
    };
}

/// Reads the config file (if any) and merges it with the run flags.
/// Precedence for each setting: flag, then the target's own key, then `[defaults]`, then built-in.
/// No targets at all is an error: a pass with nothing to watch is a mistake.
pub fn load(args: &RunArgs) -> Result<Config> {
    let config = load_allowing_none(args)?;
    if config.targets.is_empty() && !config.discover && config.unhealthy == Unhealthy::Off {
        bail!(
            "no targets: give -t NAME=URL, a config file (-c FILE) with [[target]] tables, --discover or --unhealthy"
        );
    }
    Ok(config)
}

/// As `load`, but an empty target list is fine (for `audit`).
pub fn load_allowing_none(args: &RunArgs) -> Result<Config> {
    let file = read_file(args.targets.config.as_deref())?;
    build(args, file, args.targets.config.as_deref())
}

/// Reads only the targets (for commands that take `-c` and `-t` but no run flags).
pub fn load_targets(args: &TargetArgs) -> Result<Config> {
    load(&RunArgs { targets: args.clone(), ..RunArgs::default() })
}

fn read_file(path: Option<&Path>) -> Result<FileConfig> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
        let message = e.message().replace('\n', " ");
        match line {
            Some(n) => anyhow!("config {} line {n}: {message}", path.display()),
            None => anyhow!("config {}: {message}", path.display()),
        }
    })
}

fn build(args: &RunArgs, file: FileConfig, path: Option<&Path>) -> Result<Config> {
    let file_name = path.map_or_else(|| "config".to_string(), |p| format!("config {}", p.display()));
    let d = &file.defaults;
    let flag_place = |key: &str| format!("--{}", key.replace('_', "-"));
    let flags = raw_settings!(args);
    // Flags are checked on their own first, so a bad flag is named as a flag.
    flags.apply(BUILTIN, &flag_place)?;
    let base = raw_settings!(d).apply(BUILTIN, &|key| format!("{file_name}: [defaults] {key}"))?;

    let mut targets = Vec::new();
    let default_action = d
        .action
        .as_deref()
        .map(Action::parse)
        .transpose()
        .with_context(|| format!("{file_name}: [defaults] action"))?;
    let default_ignore_stopped = d.ignore_stopped.unwrap_or(false);
    for (i, t) in file.targets.iter().enumerate() {
        let place = |key: &str| format!("{file_name}: target '{}' (#{}) {key}", t.name, i + 1);
        let settings = flags.apply(raw_settings!(t).apply(base, &place)?, &flag_place)?;
        validate_name(&t.name).with_context(|| place("name"))?;
        let url = HealthUrl::parse(&t.url).with_context(|| place("url"))?;
        let mut target = Target::http(&t.name, t.container.as_deref().unwrap_or(&t.name), url);
        if let HealthCheck::Http(check) = &mut target.health {
            check.expect_status = StatusSet::parse(t.expect_status.as_deref().unwrap_or(defaults::EXPECT_STATUS))
                .with_context(|| place("expect_status"))?;
            check.expect_body = t.expect_body.clone().filter(|b| !b.is_empty());
            for (key, value) in &t.headers {
                validate_header(key, value).with_context(|| place("headers"))?;
            }
            check.headers = t.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        }
        target.settings = settings;
        target.action = t
            .action
            .as_deref()
            .map(Action::parse)
            .transpose()
            .with_context(|| place("action"))?
            .or(default_action)
            .unwrap_or_default();
        target.ignore_stopped = t.ignore_stopped.unwrap_or(default_ignore_stopped);
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
        targets.push(target);
    }
    for raw in &args.targets.targets {
        let place = || format!("--target '{}'", crate::redact::redact_text(raw));
        let (name, url) = raw
            .split_once('=')
            .ok_or_else(|| anyhow!("{}: write NAME=URL, e.g. app=http://127.0.0.1:5000/health", place()))?;
        validate_name(name).with_context(place)?;
        validate_container_name(name).with_context(place)?;
        let url = HealthUrl::parse(url).with_context(place)?;
        let mut target = Target::http(name, name, url);
        target.settings = flags.apply(base, &flag_place)?;
        target.action = default_action.unwrap_or_default();
        target.ignore_stopped = default_ignore_stopped;
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
    let concurrency = args.concurrency.or(d.concurrency).unwrap_or(defaults::CONCURRENCY);
    if concurrency == 0 {
        bail!("concurrency must be at least 1 (--concurrency or [defaults] concurrency)");
    }
    let proxy = args.proxy.clone().or_else(|| d.proxy.clone()).filter(|p| !p.is_empty());
    if let Some(p) = &proxy {
        ureq::Proxy::new(p).map_err(|e| anyhow!("proxy '{}': {e}", crate::redact::redact_text(p)))?;
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
            None => defaults::NOTIFY_ON.to_vec(),
            Some(names) => names
                .iter()
                .map(|n| Outcome::parse(n))
                .collect::<Result<_>>()
                .with_context(|| format!("{file_name}: [defaults] notify_on"))?,
        },
        ping_url: optional_url(args.ping_url.as_deref(), d.ping_url.as_deref(), "--ping-url", &file_name, "ping_url")?,
        discover: args.discover || d.discover.unwrap_or(false),
        unhealthy: match args.unhealthy.as_deref().or(d.unhealthy.as_deref()) {
            None | Some("off") => Unhealthy::Off,
            Some("label") => Unhealthy::Label,
            Some("all") => Unhealthy::All,
            Some(other) => {
                bail!("unhealthy '{other}' (--unhealthy or [defaults] unhealthy): write \"label\" or \"all\"")
            }
        },
        base,
        flags,
        default_action: default_action.unwrap_or_default(),
        default_ignore_stopped,
    })
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

/// A URL given by flag (which wins) or `[defaults]` key, parsed; the error names which.
fn optional_url(
    flag: Option<&str>,
    file: Option<&str>,
    flag_name: &str,
    file_name: &str,
    key: &str,
) -> Result<Option<HealthUrl>> {
    match (flag.filter(|s| !s.is_empty()), file.filter(|s| !s.is_empty())) {
        (Some(url), _) => HealthUrl::parse(url).map(Some).with_context(|| flag_name.to_string()),
        (None, Some(url)) => HealthUrl::parse(url).map(Some).with_context(|| format!("{file_name}: [defaults] {key}")),
        (None, None) => Ok(None),
    }
}

/// Target names appear in output, file names and commands: keep them plain.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let ok =
        !name.is_empty() && name.len() <= 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-:".contains(c));
    if !ok {
        bail!("name '{name}' must be 1-128 letters, digits or _.-:");
    }
    Ok(())
}

pub(crate) fn validate_header(key: &str, value: &str) -> Result<()> {
    let key_ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_graphic() && !b":()<>@,;\\\"/[]?={}".contains(&b));
    if !key_ok {
        bail!("header name '{key}' is not a valid HTTP header name");
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        bail!("header '{key}' has a line break or NUL in its value");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(targets: &[&str]) -> RunArgs {
        RunArgs {
            targets: TargetArgs { config: None, targets: targets.iter().map(|s| s.to_string()).collect() },
            ..RunArgs::default()
        }
    }

    fn from_toml(text: &str, run: RunArgs) -> Result<Config> {
        let file: FileConfig = toml::from_str(text).map_err(|e| anyhow!("{}", e.message()))?;
        let config = build(&run, file, Some(Path::new("t.toml")))?;
        anyhow::ensure!(!config.targets.is_empty(), "no targets");
        Ok(config)
    }

    #[test]
    fn durations() {
        let cases = [
            ("500ms", Some(500)),
            ("5s", Some(5000)),
            ("2m", Some(120_000)),
            ("1h 30m", Some(5_400_000)),
            ("0", Some(0)),
            ("0s", Some(0)),
            ("5", None),
            ("five", None),
            ("", None),
            ("-1s", None),
        ];
        for (text, want) in cases {
            let got = parse_duration(text).ok().map(|d| d.as_millis() as u64);
            assert_eq!(got, want, "parse_duration({text:?})");
        }
    }

    #[test]
    fn status_sets() {
        let set = StatusSet::parse("200-399").unwrap();
        assert!(set.contains(200) && set.contains(399) && !set.contains(400) && !set.contains(199));
        let set = StatusSet::parse("200, 204,300-302").unwrap();
        assert!(set.contains(204) && set.contains(301) && !set.contains(201));
        assert_eq!(set.to_string(), "200,204,300-302");
        for bad in ["", "abc", "399-200", "200-", "99", "600", "200-700"] {
            assert!(StatusSet::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn flag_targets_get_builtin_defaults() {
        let c = build(&args(&["app=http://127.0.0.1:5000/health"]), FileConfig::default(), None).unwrap();
        let t = &c.targets[0];
        assert_eq!((t.name.as_str(), t.container.as_str()), ("app", "app"));
        assert_eq!(t.settings.timeout, defaults::TIMEOUT);
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
        let mut run = args(&[]);
        run.timeout = Some("1s".into());
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
    fn bad_flag_targets() {
        for (flag, want) in [("app", "NAME=URL"), ("-x=http://h/", "name"), ("app=localhost:5000", "not a URL")] {
            let err = format!("{:#}", build(&args(&[flag]), FileConfig::default(), None).unwrap_err());
            assert!(err.contains("--target") && err.contains(want), "{flag}: {err}");
        }
        let mut run = args(&["a=http://h/"]);
        run.retry_delay = Some("later".into());
        let err = format!("{:#}", build(&run, FileConfig::default(), None).unwrap_err());
        assert!(err.contains("--retry-delay"), "{err}");
    }
}
