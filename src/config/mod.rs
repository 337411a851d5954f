//! Turns the command line and the TOML file into a validated `Config`: domain types
//! (`Duration`, `HealthUrl`, `StatusSet`), settings layered flag > target > labels >
//! `[defaults]` > built-in, every bad value rejected with the flag or the file and key
//! named. Nothing here touches the network or docker. `file` is the file's schema.

mod build;
mod engines;
pub(crate) mod file;
mod layered;
mod target;
mod targets;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::cli::{LockArgs, MemoryArgs, RunArgs, TargetArgs};
use crate::model::{Action, Format, HealthUrl, Outcome};
use crate::net::TrustRoots;
use crate::output::notify::Service;
use crate::settings::Layer;
use build::build;

pub(crate) use engines::Engine;
pub(crate) use layered::{KEYS as RUN_OPTION_KEYS, RunOptions};
pub(crate) use target::{Facts, HealthCheck, HttpCheck, LogPattern, TCP_READ_LIMIT, Target, TcpCheck};
pub(crate) use targets::exec_argv;

pub(crate) use crate::settings::BUILTIN;

/// Memory of a target no pass has checked for this long is dropped, by default.
pub(crate) const DEFAULT_FORGET_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// Targets checked and healed at once, by default.
pub(crate) const DEFAULT_CONCURRENCY: usize = 32;

/// Outcomes that trigger a notification by default: something was done, or is wrong
/// and was not fixed.
pub(crate) const DEFAULT_NOTIFY_ON: &[Outcome] = &[
    Outcome::Restarted,
    Outcome::RestartFailed,
    Outcome::GaveUp,
    Outcome::Unhealthy,
    Outcome::Acted,
    Outcome::Invalid,
];

/// Everything one pass needs, validated.
#[derive(Debug, Clone)]
pub(crate) struct Config {
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
    pub notify: Vec<Service>,
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
            notify: Vec::new(),
            notify_on: DEFAULT_NOTIFY_ON.to_vec(),
            ping_url: None,
            ssh_reuse: true,
            engines: vec![Engine {
                name: Engine::LOCAL.to_string(),
                endpoint: crate::model::Endpoint::Default,
                discover: false,
                unhealthy: crate::model::Unhealthy::Off,
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
    pub(crate) fn needs_inspector(&self) -> bool {
        self.targets.iter().any(|t| matches!(t.health, HealthCheck::Exec(_)) || t.log_pattern.is_some())
    }

    /// Whether a pass cannot do without a listing: discovery, or compose services to resolve.
    pub(crate) fn needs_listing(&self) -> bool {
        self.engines.iter().any(Engine::discovers) || self.targets.iter().any(|t| t.compose.is_some())
    }

    /// Whether a pass lists containers: when it must, and to read the state of its
    /// targets' containers before their checks (which can do without it).
    pub(crate) fn lists(&self) -> bool {
        self.needs_listing() || self.targets.iter().any(Target::watches_containers)
    }
}

/// Reads the config file (if any) and merges it with the run flags.
/// No targets at all is an error: a pass with nothing to watch is a mistake.
pub(crate) fn load(args: &RunArgs) -> Result<Config> {
    let config = load_allowing_none(args)?;
    ensure_targets(&config)?;
    Ok(config)
}

/// A pass needs something to watch: targets, or discovery.
pub(crate) fn ensure_targets(config: &Config) -> Result<()> {
    if config.targets.is_empty() && !config.engines.iter().any(Engine::discovers) {
        bail!(
            "no targets: give -t NAME=URL, a config file (-c FILE) with [[target]] tables, --discover or --unhealthy"
        );
    }
    Ok(())
}

/// As `load`, but reading only the config file `-c` (or HEALWATCH_CONFIG) names, never
/// the host's: what `check` in CI uses, so an unrelated target of the operator's cannot
/// fail a stack's smoke check.
pub(crate) fn load_named(args: &RunArgs) -> Result<Config> {
    let path = args.targets.config.as_deref();
    let config = build(args, file::read(path)?, path)?;
    ensure_targets(&config).map_err(|e| {
        let host = default_config_path();
        if path.is_none() && host.exists() {
            anyhow::anyhow!("{e}; check reads {} only when -c names it", host.display())
        } else {
            e
        }
    })?;
    Ok(config)
}

/// What a command that runs no pass (`validate`, `audit`, `status`, `pause`) gives of
/// the config: where its targets are (`-c`, `-t`), and the state and lock files it reads
/// or writes; everything else is as the config file says.
pub(crate) struct Sources<'a> {
    /// `-c` and `-t`.
    pub targets: &'a TargetArgs,
    /// `--state`, where the command has it.
    pub state: Option<&'a PathBuf>,
    /// `--lock`, where the command has it.
    pub lock: Option<&'a PathBuf>,
}

/// The config as `validate`, `audit`, `status` and `pause` see it (an empty target list
/// is fine): no run option but the files they name overrides the config file.
pub(crate) fn load_sources(sources: Sources) -> Result<Config> {
    let no_flags = RunArgs {
        targets: sources.targets.clone(),
        memory: MemoryArgs { state: sources.state.cloned(), ..MemoryArgs::default() },
        lock: LockArgs { lock: sources.lock.cloned() },
        ..RunArgs::default()
    };
    load_allowing_none(&no_flags)
}

/// As `load`, but an empty target list is fine.
/// With neither `-c` nor `-t`, /etc/healwatch/healwatch.toml is read when it exists.
fn load_allowing_none(args: &RunArgs) -> Result<Config> {
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use anyhow::anyhow;

    use super::*;
    use crate::cli::TargetArgs;
    use crate::model::{Endpoint, Unhealthy};

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
            ("[[target]]\nname='a'\nurl='http://x/'\ntimout='1s'", "unknown key `timout`: did you mean `timeout`?"),
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
