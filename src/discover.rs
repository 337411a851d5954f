//! Targets from Docker itself: containers that declare themselves with `healwatch.*`
//! labels (`--discover`), containers whose own HEALTHCHECK is unhealthy (`--unhealthy`),
//! and the replicas of compose services. Pure: it works on one engine's listing.

use std::collections::{BTreeMap, HashSet};

use anyhow::{Context, Result, anyhow, bail};

use crate::config::{Config, Engine, Facts, HealthCheck, HttpCheck, LogPattern, Target, TcpCheck};
use crate::docker::{ContainerSummary, HealthInfo};
use crate::model::{
    Action, ContainerStatus, Named, Outcome, TargetResult, Unhealthy, one_line, redact_text, validate_container_name,
    validate_name,
};
use crate::settings::{self, Layer};

/// Label prefix.
pub(crate) const PREFIX: &str = "healwatch.";
/// Compose's labels for a container's project and service.
pub(crate) const COMPOSE_PROJECT: &str = "com.docker.compose.project";
/// See `COMPOSE_PROJECT`.
pub(crate) const COMPOSE_SERVICE: &str = "com.docker.compose.service";

/// The label keys (after `healwatch.`) a container may set besides the settings.
pub(crate) const OTHER_KEYS: &[&str] = &[
    "url",
    "exec",
    "log_pattern",
    "send",
    "expect",
    "enable",
    "name",
    "expect_status",
    "expect_body",
    "action",
    "ignore_stopped",
    "restart_with",
];

/// What discovery found: targets to watch, and labelled containers it could not use.
#[derive(Debug, Default)]
pub(crate) struct Discovered {
    /// New targets, by container name.
    pub targets: Vec<Target>,
    /// One `invalid` entry per container with bad labels.
    pub invalid: Vec<TargetResult>,
}

/// Where discovery looks: one engine, as it asks (`discover`, `unhealthy`), and whether
/// the names it finds are qualified with the engine's (`ENGINE/NAME`, when the config has
/// more than one engine, so that names never collide).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub engine: &'a Engine,
    pub qualified: bool,
}

impl Scope<'_> {
    /// A target name as found on this engine.
    fn name(&self, name: &str) -> String {
        if self.qualified { format!("{}/{name}", self.engine.name) } else { name.to_string() }
    }
}

/// Finds targets among `containers` (one engine's), as `scope` asks. A container that a
/// configured target already watches is left to the config, which wins.
pub(crate) fn discover(config: &Config, scope: Scope, containers: &[ContainerSummary]) -> Discovered {
    let configured: HashSet<&str> = config
        .targets
        .iter()
        .filter(|t| t.endpoint == scope.engine.endpoint)
        .flat_map(|t| t.replicas.iter().map(String::as_str))
        .collect();
    let mut names: HashSet<String> = config.targets.iter().map(|t| t.name.clone()).collect();
    let mut found = Discovered::default();
    let mut sorted: Vec<&ContainerSummary> = containers.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for c in sorted {
        // A labelled container that exited is a target that is down, not one that vanished
        // (after a daemon restart, a crash with restart policy `no`): `wanted` keeps it.
        if c.status == ContainerStatus::Removing || configured.contains(c.name.as_str()) {
            continue;
        }
        let labels: BTreeMap<&str, &str> =
            c.labels.iter().filter_map(|(k, v)| Some((k.strip_prefix(PREFIX)?, v.as_str()))).collect();
        let result = match wanted(scope.engine, c, &labels) {
            Ok(None) => continue,
            Ok(Some(health)) => from_labels(config, scope, c, &labels, health, containers),
            Err(e) => Err(e),
        };
        match result.and_then(|t| {
            if names.insert(t.name.clone()) { Ok(t) } else { Err(anyhow!("target name '{}' is already used", t.name)) }
        }) {
            Ok(target) => found.targets.push(target),
            Err(e) => {
                // Labels are anyone's text: shown redacted, on one line, cut.
                let url = labels.get("url").map(|u| one_line(&redact_text(u), 200)).unwrap_or_default();
                // Named by the container, never by its label: a label must not put an
                // entry under a name that is another's.
                found.invalid.push(TargetResult {
                    outcome: Outcome::Invalid,
                    error: Some(format!("container '{}': {e:#}", c.name)),
                    ..TargetResult::new(&scope.name(&c.name), &c.name, url)
                });
            }
        }
    }
    found
}

/// Whether (and how) a container is watched: by its URL label, by Docker's health, or not.
fn wanted(engine: &Engine, c: &ContainerSummary, labels: &BTreeMap<&str, &str>) -> Result<Option<HealthCheck>> {
    let enable = match labels.get("enable") {
        None => None,
        Some(v) => Some(parse_bool(v).context("label healwatch.enable")?),
    };
    if enable == Some(false) {
        return Ok(None);
    }
    if engine.discover && ["url", "exec", "log_pattern"].iter().any(|k| labels.contains_key(k)) {
        return Ok(Some(check_from_labels(labels)?));
    }
    let by_health = match engine.unhealthy {
        Unhealthy::Off => false,
        Unhealthy::Label => enable == Some(true),
        Unhealthy::All => true,
    };
    if by_health && enable == Some(true) && !c.status.is_live() {
        // Labelled to be healed by its HEALTHCHECK, and not running: down, and started.
        // An unlabelled one that exited is a leftover, never an opt-in.
        return Ok(Some(HealthCheck::Docker));
    }
    if let (true, true, HealthInfo::Check { .. }) = (by_health, c.status.is_live(), &c.health) {
        return Ok(Some(HealthCheck::Docker));
    }
    Ok(None)
}

/// What the listing says of a container watched by its HEALTHCHECK: Docker's status and
/// last output while it runs, and whether it is paused.
fn docker_said(c: &ContainerSummary) -> Facts {
    match (&c.health, c.status.is_live()) {
        (HealthInfo::Check { status, output }, true) => Facts {
            docker_health: status.clone(),
            docker_output: output.clone(),
            paused: c.status == ContainerStatus::Paused,
            ..Facts::default()
        },
        _ => Facts::default(),
    }
}

/// Whether a label can matter to a pass: healwatch's own, and compose's project and
/// service (replicas, `restart_with`). A listing drops the others as it reads them.
pub(crate) fn label_matters(key: &str) -> bool {
    key.starts_with(PREFIX) || key == COMPOSE_PROJECT || key == COMPOSE_SERVICE
}

/// Whether discovery on `engine` (`None`: the engine does not discover) could make a
/// target of `c`: a container that declares itself, or a live one where every
/// HEALTHCHECK counts (`--unhealthy all`). A superset of what `discover` takes.
pub(crate) fn may_matter(engine: Option<&Engine>, c: &ContainerSummary) -> bool {
    engine.is_some_and(|e| {
        c.labels.keys().any(|k| k.starts_with(PREFIX)) || (e.unhealthy == Unhealthy::All && c.status.is_live())
    })
}

/// The compose projects of `containers` whose other containers a label's `restart_with`
/// may name (see `restart_with`): a listing must hold all of those projects' containers.
pub(crate) fn restart_with_projects(containers: &[ContainerSummary]) -> Vec<String> {
    let mut projects: Vec<String> = containers
        .iter()
        .filter(|c| c.labels.contains_key(&format!("{PREFIX}restart_with")))
        .filter_map(|c| c.labels.get(COMPOSE_PROJECT).filter(|p| compose_named(&c.name, p)).cloned())
        .collect();
    projects.sort();
    projects.dedup();
    projects
}

/// Whether discovery on `engine` may watch `c` by its Docker HEALTHCHECK, so a listing
/// must read it (`docker inspect`): never when the engine does not heal by health or
/// the container is not live, and only containers labelled `healwatch.enable` when it
/// heals by health on that label. A superset of what `discover` takes, never less.
pub(crate) fn needs_health(engine: &Engine, c: &ContainerSummary) -> bool {
    c.status.is_live()
        && match engine.unhealthy {
            Unhealthy::Off => false,
            Unhealthy::Label => c.labels.contains_key(&format!("{PREFIX}enable")),
            Unhealthy::All => true,
        }
}

/// The check a container's labels ask for: `url` (http, https or tcp), `exec` (a JSON
/// array), or only `log_pattern`.
fn check_from_labels(labels: &BTreeMap<&str, &str>) -> Result<HealthCheck> {
    match (labels.get("url"), labels.get("exec")) {
        (Some(_), Some(_)) => bail!("give healwatch.url or healwatch.exec, not both"),
        (Some(url), None) if url.starts_with("tcp://") => Ok(HealthCheck::Tcp(TcpCheck::parse(
            url,
            labels.get("send").copied(),
            labels.get("expect").copied(),
            &|key| format!("label healwatch.{key}"),
        )?)),
        (Some(url), None) => {
            let place = |key: &str| format!("label {PREFIX}{key}");
            let check = HttpCheck::parse(
                url,
                labels.get("expect_status").copied(),
                labels.get("expect_body").copied(),
                &[],
                &place,
            )?;
            Ok(HealthCheck::Http(check))
        }
        (None, Some(argv)) => {
            let argv: Vec<String> = serde_json::from_str(argv)
                .context("label healwatch.exec: write a JSON array, e.g. [\"pg_isready\", \"-U\", \"postgres\"]")?;
            Ok(HealthCheck::Exec(crate::config::exec_argv(&argv).context("label healwatch.exec")?))
        }
        (None, None) => Ok(HealthCheck::Logs),
    }
}

/// A target from a container's labels: flags win over labels, labels over `[defaults]`.
/// Labels are set by whoever built the image, so unless `[defaults] trust_labels` they
/// may only tighten what the operator allows (`only_tightens`).
fn from_labels(
    config: &Config,
    scope: Scope,
    c: &ContainerSummary,
    labels: &BTreeMap<&str, &str>,
    health: HealthCheck,
    containers: &[ContainerSummary],
) -> Result<Target> {
    let known = |k: &&str| OTHER_KEYS.contains(k) || settings::KEYS.contains(k);
    if let Some(unknown) = labels.keys().find(|k| !known(k)) {
        let keys: Vec<&str> = OTHER_KEYS.iter().chain(settings::KEYS).copied().collect();
        bail!("unknown label healwatch.{unknown} (known: {})", keys.join(", "));
    }
    let own = Layer::from_text(|key| labels.get(key).copied(), |key| format!("label healwatch.{key}"))?;
    let action = labels.get("action").map(|a| Action::parse(a)).transpose().context("label healwatch.action")?;
    let ignore_stopped =
        labels.get("ignore_stopped").map(|v| parse_bool(v)).transpose().context("label healwatch.ignore_stopped")?;
    if !config.trust_labels {
        only_tightens(config, &own, action, ignore_stopped)?;
    }
    let settings = Layer::resolve(&[&config.flags, &own, &config.defaults]);
    let name = labels.get("name").copied().unwrap_or(&c.name);
    validate_name(name).context("label healwatch.name (or the container name)")?;
    if name != c.name && containers.iter().any(|o| o.name == name) {
        bail!("label healwatch.name: '{name}' is another container's name, and a label never takes it from it");
    }
    validate_container_name(&c.name)?;
    let restart_with = restart_with(config, c, labels, containers)?;
    let facts = if health == HealthCheck::Docker { docker_said(c) } else { Facts::default() };
    Ok(Target {
        name: scope.name(name),
        container: c.name.clone(),
        health,
        settings,
        action: action.unwrap_or(config.default_action),
        ignore_stopped: ignore_stopped.unwrap_or(config.default_ignore_stopped),
        restart_with,
        endpoint: scope.engine.endpoint.clone(),
        compose: None,
        replicas: vec![c.name.clone()],
        // Never from a label: that would let an image run a program as root here.
        on_restart: config.default_on_restart.clone(),
        log_pattern: labels
            .get("log_pattern")
            .map(|p| LogPattern::parse(p))
            .transpose()
            .context("label healwatch.log_pattern")?,
        facts,
    })
}

/// The one rule for what a label may say, every key in one place: a setting only within
/// its `LabelRule` of what the operator's flags and `[defaults]` make it; an action only
/// the operator's or `notify`; `ignore_stopped = false` only where the operator's is
/// `false` too.
fn only_tightens(config: &Config, own: &Layer, action: Option<Action>, ignore_stopped: Option<bool>) -> Result<()> {
    let operator = Layer::resolve(&[&config.flags, &config.defaults]);
    own.under(&config.flags).only_tightens(&operator)?;
    let loosen = |key: &str, value: &str, theirs: &str| {
        anyhow!(
            "label healwatch.{key}: '{value}' would loosen the operator's {theirs}; a label may only tighten what \
             the operator allows: change it in the config, or set [defaults] trust_labels = true"
        )
    };
    if let Some(a) = action.filter(|a| *a != config.default_action && *a != Action::Notify) {
        return Err(loosen("action", a.as_str(), config.default_action.as_str()));
    }
    if ignore_stopped == Some(false) && config.default_ignore_stopped {
        return Err(loosen("ignore_stopped", "false", "ignore_stopped = true"));
    }
    Ok(())
}

/// The containers a label's `restart_with` names, restarted after this one. Only the
/// running containers of this container's own compose project, and only when that
/// project is its own: compose names a container `PROJECT-SERVICE-N` and the operator
/// names it, while any image can carry a `com.docker.compose.project` label. A container
/// stopped by its operator is never started by another container's label.
fn restart_with(
    config: &Config,
    c: &ContainerSummary,
    labels: &BTreeMap<&str, &str>,
    containers: &[ContainerSummary],
) -> Result<Vec<String>> {
    let named: Vec<String> = labels
        .get("restart_with")
        .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
        .unwrap_or_default();
    for dependent in &named {
        validate_container_name(dependent).context("label healwatch.restart_with")?;
    }
    if config.trust_labels {
        return Ok(named);
    }
    let project = c.labels.get(COMPOSE_PROJECT).filter(|p| compose_named(&c.name, p));
    let mut running = Vec::new();
    for dependent in named {
        let other = containers.iter().find(|o| o.is(&dependent));
        let same = other.is_some_and(|o| {
            project.is_some_and(|p| o.labels.get(COMPOSE_PROJECT) == Some(p) && compose_named(&o.name, p))
        });
        if !same {
            bail!(
                "label healwatch.restart_with: '{dependent}' is not a container of this container's compose project; \
                 labels may only restart their own project's containers (or set [defaults] trust_labels = true)"
            );
        }
        if other.is_some_and(|o| o.status.is_live()) {
            running.push(dependent);
        }
    }
    Ok(running)
}

/// Whether `name` is one compose gave a container of `project` (`PROJECT-…`, or
/// `PROJECT_…` before Compose v2).
fn compose_named(name: &str, project: &str) -> bool {
    name.strip_prefix(project).is_some_and(|rest| rest.starts_with(['-', '_']))
}

fn parse_bool(value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        other => bail!("'{other}' is not true or false"),
    }
}

/// The replicas of a compose service: every container (any state) with its project and
/// service labels, by name.
pub(crate) fn compose_replicas(project: &str, service: &str, containers: &[ContainerSummary]) -> Vec<String> {
    let mut names: Vec<String> = containers
        .iter()
        .filter(|c| c.labels.get(COMPOSE_PROJECT).is_some_and(|p| p == project))
        .filter(|c| c.labels.get(COMPOSE_SERVICE).is_some_and(|s| s == service))
        .map(|c| c.name.clone())
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Endpoint;
    use crate::model::{DockerHealth, HealthUrl};
    use std::time::Duration;

    fn container(name: &str, status: &str, labels: &[(&str, &str)], health: Option<&str>) -> ContainerSummary {
        ContainerSummary {
            exit_code: None,
            id: format!("{name}-0123456789abcdef"),
            name: name.into(),
            status: ContainerStatus::parse(status),
            health: match health {
                Some(h) => HealthInfo::Check { status: Some(DockerHealth::parse(h)), output: None },
                None => HealthInfo::NoCheck,
            },
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            network_mode: None,
        }
    }

    fn config(discover: bool, unhealthy: Unhealthy) -> Config {
        let configured = Target::http("app", "app", HealthUrl::parse("http://127.0.0.1:1/").unwrap());
        let mut config = Config::new(vec![configured]);
        config.engines[0].discover = discover;
        config.engines[0].unhealthy = unhealthy;
        config
    }

    /// Discovery on the only engine, `local`.
    fn discover(config: &Config, containers: &[ContainerSummary]) -> Discovered {
        super::discover(config, Scope { engine: &config.engines[0], qualified: false }, containers)
    }

    #[test]
    fn on_one_engine_of_several_names_are_qualified_and_the_engine_is_the_targets() {
        let mut config = config(true, Unhealthy::Off);
        let web2 = Engine {
            name: "web-2".into(),
            endpoint: Endpoint::Engine {
                name: "web-2".into(),
                via: Box::new(Endpoint::Host("ssh://ops@web-2".into())),
                tls: None,
            },
            discover: true,
            unhealthy: Unhealthy::All,
        };
        config.engines.push(web2.clone());
        // "app" is configured on local, not on web-2: there it is discovered.
        let containers = [
            container("app", "running", &[("healwatch.url", "http://127.0.0.1:9/h")], None),
            container("bad", "running", &[("healwatch.url", "ftp://x")], None),
        ];
        let found = super::discover(&config, Scope { engine: &web2, qualified: true }, &containers);
        let names: Vec<&str> = found.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["web-2/app"]);
        assert_eq!(found.targets[0].endpoint, web2.endpoint);
        assert_eq!(found.targets[0].container, "app");
        assert_eq!(found.invalid.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["web-2/bad"]);
    }

    #[test]
    fn labels_declare_targets_and_config_wins() {
        let containers = [
            container(
                "web",
                "running",
                &[
                    ("healwatch.url", "http://127.0.0.1:8080/h"),
                    ("healwatch.retries", "0"),
                    ("healwatch.expect_body", "ok"),
                ],
                None,
            ),
            container("app", "running", &[("healwatch.url", "http://127.0.0.1:9/other")], None),
            container(
                "optout",
                "running",
                &[("healwatch.url", "http://127.0.0.1:7/"), ("healwatch.enable", "false")],
                None,
            ),
            container("down", "exited", &[("healwatch.url", "http://127.0.0.1:6/")], None),
            container("going", "removing", &[("healwatch.url", "http://127.0.0.1:5/")], None),
            container("plain", "running", &[], None),
        ];
        let found = discover(&config(true, Unhealthy::Off), &containers);
        assert!(found.invalid.is_empty(), "{:?}", found.invalid);
        let names: Vec<&str> = found.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["down", "web"], "a labelled container that exited is a target that is down");
        let web = &found.targets[1];
        assert_eq!(web.settings.retries, 0);
        let HealthCheck::Http(h) = &web.health else { panic!("an HTTP target") };
        assert_eq!((h.url.display.as_str(), h.expect_body.as_deref()), ("http://127.0.0.1:8080/h", Some("ok")));
        assert!(
            discover(&config(false, Unhealthy::Off), &containers).targets.is_empty(),
            "no --discover, no label targets"
        );
    }

    #[test]
    fn bad_labels_make_one_invalid_target() {
        let containers = [
            container("a", "running", &[("healwatch.url", "localhost:5000")], None),
            container("b", "running", &[("healwatch.url", "http://127.0.0.1:1/"), ("healwatch.timeout", "soon")], None),
            container("c", "running", &[("healwatch.url", "http://127.0.0.1:1/"), ("healwatch.colour", "red")], None),
            container("d", "running", &[("healwatch.url", "http://127.0.0.1:1/"), ("healwatch.enable", "maybe")], None),
            container("e", "running", &[("healwatch.url", "http://127.0.0.1:1/"), ("healwatch.name", "app")], None),
            container("f", "running", &[("healwatch.url", "http://127.0.0.1:1/")], None),
        ];
        let found = discover(&config(true, Unhealthy::Off), &containers);
        assert_eq!(found.targets.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["f"]);
        let errors: Vec<String> = found.invalid.iter().map(|r| r.error.clone().unwrap()).collect();
        for (i, want) in ["healwatch.url", "healwatch.timeout", "healwatch.colour", "healwatch.enable", "already used"]
            .iter()
            .enumerate()
        {
            assert!(errors[i].contains(want), "{}: {}", i, errors[i]);
            assert_eq!(found.invalid[i].outcome, Outcome::Invalid);
        }
    }

    /// Every label key against the one rule: what tightens is taken, what loosens is
    /// refused (naming the key), and `trust_labels` takes both.
    #[test]
    fn labels_may_only_tighten_what_the_operator_allows() {
        let cases: &[(&str, &str, &str)] = &[
            // key, a tighter (or neutral) value, a looser one ("" where none exists)
            ("timeout", "1s", "3s"),
            ("decide_within", "2s", "10s"),
            ("restart_timeout", "5s", "11s"),
            ("recovery_timeout", "30s", "61s"),
            ("max_restarts", "2", "4"),
            ("restart_window", "1h", "29m"),
            ("stable_after", "1m", "0s"),
            ("retries", "5", ""),
            ("retry_delay", "1s", ""),
            ("failure_threshold", "2", ""),
            ("start_period", "1m", ""),
            ("recreate_dependents", "false", "true"),
            ("ignore_stopped", "true", ""),
            ("action", "notify", "kill"),
        ];
        for key in settings::KEYS {
            assert!(cases.iter().any(|(k, ..)| k == key), "{key} has a case here");
        }
        let url = ("healwatch.url", "http://127.0.0.1:1/");
        for (key, tight, loose) in cases {
            let label = format!("healwatch.{key}");
            let taken =
                discover(&config(true, Unhealthy::Off), &[container("c", "running", &[url, (&label, tight)], None)]);
            assert_eq!(taken.targets.len(), 1, "{key}={tight}: {:?}", taken.invalid);
            if loose.is_empty() {
                continue;
            }
            let refused =
                discover(&config(true, Unhealthy::Off), &[container("c", "running", &[url, (&label, loose)], None)]);
            let error = refused.invalid.first().and_then(|r| r.error.clone()).unwrap_or_default();
            assert!(error.contains(&label) && error.contains("only tighten"), "{key}={loose}: {error}");
            let mut trusting = config(true, Unhealthy::Off);
            trusting.trust_labels = true;
            let trusted = discover(&trusting, &[container("c", "running", &[url, (&label, loose)], None)]);
            assert_eq!(trusted.targets.len(), 1, "{key}={loose} with trust_labels: {:?}", trusted.invalid);
        }
        // Against the operator's own values, not the built-in ones; 0 is "never give up".
        let mut strict = config(true, Unhealthy::Off);
        strict.defaults.max_restarts = Some(1);
        strict.default_ignore_stopped = true;
        for (key, value) in [("max_restarts", "2"), ("max_restarts", "0"), ("ignore_stopped", "false")] {
            let label = format!("healwatch.{key}");
            let found = discover(&strict, &[container("c", "running", &[url, (&label, value)], None)]);
            assert_eq!(found.invalid.len(), 1, "{key}={value}");
        }
        strict.defaults.max_restarts = Some(0);
        let found = discover(&strict, &[container("c", "running", &[url, ("healwatch.max_restarts", "0")], None)]);
        assert_eq!(found.targets.len(), 1, "the operator's own 0 may be repeated");
        // A flag wins over a label, so a label under it is not judged.
        let mut flagged = config(true, Unhealthy::Off);
        flagged.flags.timeout = Some(Duration::from_secs(1));
        let found = discover(&flagged, &[container("c", "running", &[url, ("healwatch.timeout", "9s")], None)]);
        assert_eq!(found.targets[0].settings.timeout, Duration::from_secs(1));
    }

    #[test]
    fn a_label_never_takes_another_containers_name_or_restarts_another_project() {
        let url = ("healwatch.url", "http://127.0.0.1:1/");
        let project = (COMPOSE_PROJECT, "shop");
        let containers = [
            // Claims the project by label, but compose did not name it: not of the project.
            container("evil", "running", &[url, project, ("healwatch.restart_with", "shop-db-1")], None),
            container("aaa", "running", &[url, ("healwatch.name", "web")], None),
            container("web", "running", &[url], None),
            container("shop-db-1", "exited", &[project], None),
            container("shop-cache-1", "running", &[project], None),
            container(
                "shop-api-1",
                "running",
                &[url, project, ("healwatch.restart_with", "shop-db-1,shop-cache-1")],
                None,
            ),
        ];
        let found = discover(&config(true, Unhealthy::Off), &containers);
        let names: Vec<&str> = found.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["shop-api-1", "web"], "{:?}", found.invalid);
        let invalid: Vec<(&str, String)> =
            found.invalid.iter().map(|r| (r.name.as_str(), r.error.clone().unwrap_or_default())).collect();
        assert!(invalid[0].0 == "aaa" && invalid[0].1.contains("another container's name"), "{invalid:?}");
        assert!(invalid[1].0 == "evil" && invalid[1].1.contains("compose project"), "{invalid:?}");
        // The project's own label reaches its running containers only: the database its
        // operator stopped stays stopped.
        assert_eq!(found.targets[0].restart_with, ["shop-cache-1"]);
    }

    #[test]
    fn unhealthy_modes() {
        let containers = [
            container("sick", "running", &[], Some("unhealthy")),
            container("opted-in", "running", &[("healwatch.enable", "true")], Some("unhealthy")),
            container("opted-out", "running", &[("healwatch.enable", "false")], Some("unhealthy")),
            container("no-check", "running", &[("healwatch.enable", "true")], None),
            container("exited-in", "exited", &[("healwatch.enable", "true")], Some("unhealthy")),
            container("leftover", "exited", &[], Some("unhealthy")),
        ];
        let label = discover(&config(false, Unhealthy::Label), &containers);
        assert_eq!(label.targets.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["exited-in", "opted-in"]);
        let all = discover(&config(false, Unhealthy::All), &containers);
        assert_eq!(
            all.targets.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["exited-in", "opted-in", "sick"],
            "an exited container is started only when labelled: a leftover is no opt-in"
        );
        assert_eq!(all.targets[2].health, HealthCheck::Docker);
        assert_eq!(all.targets[2].facts.docker_health, Some(DockerHealth::Unhealthy));
    }

    #[test]
    fn compose_replicas_by_label() {
        let web = |n: &str, project: &str| {
            container(n, "running", &[(COMPOSE_PROJECT, project), (COMPOSE_SERVICE, "web")], None)
        };
        let containers = [web("shop-web-2", "shop"), web("shop-web-1", "shop"), web("blog-web-1", "blog")];
        assert_eq!(compose_replicas("shop", "web", &containers), ["shop-web-1", "shop-web-2"]);
        assert!(compose_replicas("shop", "db", &containers).is_empty());
    }

    #[test]
    fn the_healthcheck_is_read_for_every_container_discovery_may_heal_by_it() {
        let cases = [
            ("plain", "running", vec![]),
            ("enabled", "running", vec![("healwatch.enable", "true")]),
            ("disabled", "running", vec![("healwatch.enable", "false")]),
            ("labelled", "running", vec![("healwatch.url", "http://127.0.0.1:1/")]),
            ("paused", "paused", vec![("healwatch.enable", "yes")]),
            ("exited", "exited", vec![("healwatch.enable", "true")]),
        ];
        for mode in [Unhealthy::Off, Unhealthy::Label, Unhealthy::All] {
            let config = config(true, mode);
            let with_check: Vec<ContainerSummary> =
                cases.iter().map(|(name, status, labels)| container(name, status, labels, Some("unhealthy"))).collect();
            let picked: Vec<&str> =
                with_check.iter().filter(|c| needs_health(&config.engines[0], c)).map(|c| c.name.as_str()).collect();
            let by_health: Vec<String> = discover(&config, &with_check)
                .targets
                .into_iter()
                // Judged by the status read (an exited one is down whatever it says).
                .filter(|t| t.health == HealthCheck::Docker && t.facts.docker_health.is_some())
                .map(|t| t.container)
                .collect();
            for name in &by_health {
                assert!(picked.contains(&name.as_str()), "{mode:?}: {name} is healed by health but was not read");
            }
            let want: &[&str] = match mode {
                Unhealthy::Off => &[],
                Unhealthy::Label => &["enabled", "disabled", "paused"],
                Unhealthy::All => &["plain", "enabled", "disabled", "labelled", "paused"],
            };
            assert_eq!(picked, want, "{mode:?}");
        }
    }
}
