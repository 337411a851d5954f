//! `healwatch validate`: parse the config and targets, print the resolved targets, and
//! (unless `--offline`) ask each engine whether the targets' containers exist.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::cli::ValidateArgs;
use crate::config::{self, HealthCheck, Target};
use crate::discover::{COMPOSE_PROJECT, COMPOSE_SERVICE};
use crate::docker::{ContainerSummary, Containers, DockerCli};
use crate::exit::{Exit, Stop};
use crate::graph;
use crate::model::{Action, Endpoint, MASK};

/// Prints one line per resolved target, then a count, then what is missing.
pub(crate) fn run(args: &ValidateArgs) -> Result<Exit, Stop> {
    let sources = config::Sources { targets: &args.targets, state: None, lock: None };
    let config = config::load_sources(sources).map_err(Stop::Usage)?;
    let mut out = String::new();
    if config.engines.len() > 1 || config.engines[0].endpoint != Endpoint::Default {
        for e in &config.engines {
            let via = if e.endpoint == Endpoint::Default { String::new() } else { format!(" {}", via(&e.endpoint)) };
            let _ = writeln!(out, "engine {}{via} discover={} unhealthy={}", e.name, e.discover, e.unhealthy.as_str());
        }
    }
    for t in &config.targets {
        out += &describe(t);
        out.push('\n');
    }
    let _ = writeln!(out, "{} target(s) valid", config.targets.len());
    api_needs(&config, &mut out);
    let mut exit = Exit::Healthy;
    let docker = match args.offline {
        true => None,
        false => match DockerCli::locate(args.docker.path.as_deref().or(config.docker.as_deref())) {
            Ok(docker) => Some(docker),
            Err(e) => {
                // What a pass could not do either: a problem, unless asked not to look.
                let _ = writeln!(out, "containers not checked: {e:#} (or pass --offline)");
                exit = Exit::Unhealthy;
                None
            }
        },
    };
    if let Some(docker) = &docker {
        let discovering: Vec<&Endpoint> =
            config.engines.iter().filter(|e| e.discovers()).map(|e| &e.endpoint).collect();
        let (missing, unasked) = missing_containers(&config.targets, &discovering, docker, &mut out);
        if unasked {
            exit = Exit::Unhealthy;
        }
        if !missing.is_empty() {
            let _ = writeln!(out, "missing:");
            for m in &missing {
                let _ = writeln!(out, "  - {m}");
            }
            exit = Exit::Unhealthy;
        }
    }
    crate::output::print(crate::model::printable(&out).as_bytes())?;
    // Nothing to watch is what a pass would refuse (exit 2), so validate refuses it too.
    config::ensure_targets(&config).map_err(Stop::Usage)?;
    Ok(exit)
}

/// What of the Engine API this config calls (docs/engine-api.md), and the socket-proxy
/// switches that allow exactly that: a config that only looks and notifies needs reads
/// only.
fn api_needs(config: &config::Config, out: &mut String) {
    use crate::docker::api::table::{Feature, switches};
    let discovers = config.engines.iter().any(|e| e.discovers());
    let discovered = |t: &dyn Fn(Action) -> bool| discovers && t(config.default_action);
    let heals = |a: Action| a != Action::Notify;
    let mut features = vec![Feature::Look];
    if config.targets.iter().any(|t| heals(t.action)) || discovered(&heals) {
        features.extend([Feature::Heal, Feature::Logs]);
    }
    let execs = |t: &Target| matches!(t.health, HealthCheck::Exec(_) | HealthCheck::Docker);
    if config.targets.iter().any(execs) || discovers {
        features.push(Feature::Exec);
    }
    if config.targets.iter().any(|t| t.log_pattern.is_some()) || discovers {
        features.push(Feature::Logs);
    }
    if config.targets.iter().any(|t| t.settings.recreate_dependents) {
        features.push(Feature::Recreate);
    }
    features.sort();
    features.dedup();
    let names: Vec<&str> = features.iter().map(|f| f.as_str()).collect();
    let _ = writeln!(out, "engine API (docs/engine-api.md): {}; a --watch adds events", names.join("; "));
    let allowed = switches(&features).iter().map(|s| format!("{s}=1")).collect::<Vec<_>>().join(" ");
    let reads = if switches(&features).contains(&"POST") { "" } else { ", reads only (POST=0)" };
    let _ = writeln!(out, "socket-proxy switches: {allowed}{reads}; a --watch adds EVENTS=1");
}

/// How an engine is reached, as the config says it (hosts redacted).
fn via(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Default => "default".to_string(),
        Endpoint::Host(host) => format!("host={}", crate::model::redact_text(host)),
        Endpoint::Context(name) => format!("context={name}"),
        Endpoint::Engine { via: inner, tls, .. } => {
            format!("{}{}", via(inner), if tls.is_some() { " tls" } else { "" })
        }
    }
}

/// The targets whose container (or compose service) does not exist on their engine, one
/// sentence each, and whether an engine (of a target, or one that discovers) could not be
/// asked (noted in `out`).
fn missing_containers(
    targets: &[Target],
    discovering: &[&Endpoint],
    docker: &dyn Containers,
    out: &mut String,
) -> (Vec<String>, bool) {
    let mut by_engine: BTreeMap<&Endpoint, Vec<&Target>> = discovering.iter().map(|&e| (e, Vec::new())).collect();
    for t in targets {
        by_engine.entry(&t.endpoint).or_default().push(t);
    }
    let mut missing = Vec::new();
    let mut unasked = false;
    for (endpoint, targets) in by_engine {
        let listing = match docker.inventory(endpoint) {
            Ok(listing) => listing,
            Err(e) => {
                let _ = writeln!(out, "containers on {} not checked: {e:#}", endpoint.name());
                unasked = true;
                continue;
            }
        };
        let summaries: Vec<ContainerSummary> = listing.iter().cloned().map(ContainerSummary::from).collect();
        let leanings = graph::leanings(&summaries, &targets);
        let (lines, gone) = graph::describe(&leanings);
        if !lines.is_empty() {
            let _ = writeln!(out, "dependents on {} (provider <- dependent (how)):", endpoint.name());
            for line in lines {
                let _ = writeln!(out, "  {line}");
            }
        }
        for g in gone {
            let _ = writeln!(out, "stranded: {g}");
        }
        for cycle in graph::order(&leanings).1 {
            let _ = writeln!(out, "cycle: {cycle}");
        }
        for t in targets {
            let found = match &t.compose {
                Some((project, service)) => listing.iter().any(|c| {
                    c.labels.get(COMPOSE_PROJECT) == Some(project) && c.labels.get(COMPOSE_SERVICE) == Some(service)
                }),
                None => listing.iter().any(|c| c.is(&t.container)),
            };
            if !found {
                missing.push(format!(
                    "target '{}': container '{}' does not exist on {}",
                    t.name,
                    t.container,
                    endpoint.name()
                ));
            }
        }
    }
    (missing, unasked)
}

/// One resolved target as `validate` prints it: every setting, secrets masked.
fn describe(t: &Target) -> String {
    let mut line = format!("{}\tcheck={} container={} url={}", t.name, t.health.kind(), t.container, t.url_display());
    if let crate::config::HealthCheck::Tcp(tcp) = &t.health {
        if let Some(send) = &tcp.send {
            let _ = write!(line, " send={send:?}");
        }
        if let Some(expect) = &tcp.expect {
            let _ = write!(line, " expect={expect:?}");
        }
    }
    if let Some(pattern) = &t.log_pattern {
        let _ = write!(line, " log_pattern={:?}", pattern.0.as_str());
    }
    if let HealthCheck::Http(h) = &t.health {
        let _ = write!(line, " expect_status={}", h.expect_status);
        if let Some(body) = &h.expect_body {
            let _ = write!(line, " expect_body={body:?}");
        }
        if !h.headers.is_empty() {
            let masked: Vec<String> = h.headers.iter().map(|(k, _)| format!("{k}: {MASK}")).collect();
            let _ = write!(line, " headers={masked:?}");
        }
    }
    let _ = write!(line, " {}", t.settings.describe());
    if t.action != Action::Restart {
        let _ = write!(line, " action={}", t.action.as_str());
    }
    if t.ignore_stopped {
        line += " ignore_stopped=true";
    }
    if !t.restart_with.is_empty() {
        let _ = write!(line, " restart_with={}", t.restart_with.join(","));
    }
    if t.endpoint != Endpoint::Default {
        let _ = write!(line, " engine={}", t.endpoint.name());
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::fake::{FakeDocker, container};
    use crate::model::HealthUrl;

    #[test]
    fn targets_whose_container_is_not_on_their_engine_are_missing() {
        let url = HealthUrl::parse("http://127.0.0.1:1/").unwrap();
        let mut shop = Target::http("shop/web", "shop/web", url.clone());
        shop.compose = Some(("shop".into(), "web".into()));
        let targets = [Target::http("app", "app", url.clone()), Target::http("ghost", "ghost", url), shop];
        let compose = [(COMPOSE_PROJECT, "shop"), (COMPOSE_SERVICE, "web")];
        let docker = FakeDocker::new("running", 0).with_engine(
            Endpoint::Default,
            Ok(vec![container("app", "no", &[]), container("shop-web-1", "no", &compose)]),
        );
        let mut out = String::new();
        let (missing, unasked) = missing_containers(&targets, &[&Endpoint::Default], &docker, &mut out);
        assert_eq!(missing, ["target 'ghost': container 'ghost' does not exist on local"]);
        assert!(!unasked);
        assert_eq!(docker.calls(), ["list local"], "one listing for the engine");
        // An engine that cannot be asked is said, and is a problem, but judges nothing.
        let mut out = String::new();
        let (missing, unasked) = missing_containers(&targets, &[], &FakeDocker::new("running", 0), &mut out);
        assert!(missing.is_empty() && unasked);
        assert!(out.starts_with("containers on local not checked: Cannot connect"), "{out}");
        // An engine that only discovers is asked too.
        let mut out = String::new();
        let (_, unasked) = missing_containers(&[], &[&Endpoint::Default], &FakeDocker::new("running", 0), &mut out);
        assert!(unasked, "{out}");
    }
}
