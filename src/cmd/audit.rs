//! `healwatch audit`: the playbook's first step (every critical service has a restart
//! policy) as a check. The judgement is a pure function of `docker inspect` and the
//! targets; `run` is its edge (one listing, stdout).

use std::fmt::Write as _;

use serde::Serialize;

use crate::cli::AuditArgs;
use crate::config::{self, Config, Target};
use crate::discover::{COMPOSE_PROJECT, COMPOSE_SERVICE};
use crate::docker::{ContainerInfo, ContainerSummary, Containers, DockerCli};
use crate::exit::{Exit, Stop};
use crate::graph::{self, Leaning, Via};
use crate::model::{CheckKind, ContainerStatus, Endpoint, RestartPolicy};
use crate::output::report::json_line;

/// Lists every container of every engine (one `docker ps`, one `docker inspect` each,
/// all engines at once): the config's engines and those its targets name. An engine that
/// cannot be listed is a problem (exit 1) when others could be; when none could, it is
/// an error (exit 2), as it always was with one engine.
pub(crate) fn run(args: &AuditArgs) -> Result<Exit, Stop> {
    let sources = config::Sources { targets: &args.targets, state: None, lock: None };
    let config = config::load_sources(sources).map_err(Stop::Usage)?;
    let docker = DockerCli::locate(args.docker.path.as_deref().or(config.docker.as_deref())).map_err(Stop::Usage)?;
    let report = audit_engines(&config, &docker, args.targets_only)?;
    let text = if args.json { json_line(&report) } else { crate::model::printable(&table(&report)).into_bytes() };
    crate::output::print(&text)?;
    let bad = report.unprotected || report.missing || report.stranded;
    Ok(if bad { Exit::Unhealthy } else { Exit::Healthy })
}

/// The audit of every engine (listed at once): the config's and those its targets name.
fn audit_engines(config: &Config, docker: &dyn Containers, targets_only: bool) -> Result<AuditReport, Stop> {
    let mut endpoints: Vec<Endpoint> = config.engines.iter().map(|e| e.endpoint.clone()).collect();
    for t in &config.targets {
        if !endpoints.contains(&t.endpoint) {
            endpoints.push(t.endpoint.clone());
        }
    }
    let (listings, _) = crate::pass::parallel_map(&endpoints, endpoints.len(), |e| docker.inventory(e));
    // No engine could be listed: nothing was audited, an error as with one engine (exit 2).
    if listings.iter().all(Result::is_err) {
        let first = listings.into_iter().find_map(Result::err);
        return Err(Stop::Usage(first.unwrap_or_else(|| anyhow::anyhow!("no engine to audit"))));
    }
    let mut report = AuditReport::default();
    for (endpoint, listing) in endpoints.iter().zip(listings) {
        match listing {
            Ok(containers) => report.add(audit(endpoint, &containers, &config.targets, targets_only)),
            Err(e) => {
                report.missing = true;
                report.problems.push(format!("engine {} could not be listed: {e:#}", endpoint.name()));
            }
        }
    }
    Ok(report)
}

/// One container's line in the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct AuditEntry {
    /// The engine it runs on (`local`, or the engine's name).
    pub engine: String,
    /// Container name.
    pub name: String,
    /// `State.Status`.
    pub state: ContainerStatus,
    /// `no`, `always`, `unless-stopped`, `on-failure` or `on-failure:N`.
    pub restart_policy: RestartPolicy,
    /// Whether it has a Docker HEALTHCHECK.
    pub healthcheck: bool,
    /// Whether a healwatch target restarts it.
    pub watched: bool,
    /// How the targets watching it check it (`http`, `tcp`, `exec`, `docker`, `log`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckKind>,
    /// The containers it leans on (`graph::Leaning`: its network namespace's, compose's
    /// `depends_on … restart: true`, a target's `restart_with`), and whether each exists.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Provider>,
}

/// One container another leans on, as the audit says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Provider {
    /// Its name, or the id the dependent names when it is gone.
    pub name: String,
    /// How the dependent leans on it.
    pub via: Via,
    /// Whether it exists on the engine.
    pub exists: bool,
}

/// The whole audit, as printed with `--json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct AuditReport {
    /// Containers, by name.
    pub containers: Vec<AuditEntry>,
    /// What an operator should fix, one sentence each.
    pub problems: Vec<String>,
    /// Whether a watched container has no restart policy (an exit-1 condition).
    #[serde(skip)]
    pub unprotected: bool,
    /// Whether a target's container does not exist (an exit-1 condition).
    #[serde(skip)]
    pub missing: bool,
    /// Each engine's providers and their dependents, one line per provider
    /// (`vpn <- app (network)`), for the table.
    #[serde(skip)]
    pub graph: Vec<String>,
    /// Whether a container runs in the network namespace of one that is gone (an
    /// exit-1 condition: it has no network).
    #[serde(skip)]
    pub stranded: bool,
}

impl AuditReport {
    /// Adds another engine's audit.
    fn add(&mut self, other: AuditReport) {
        self.containers.extend(other.containers);
        self.problems.extend(other.problems);
        self.unprotected |= other.unprotected;
        self.missing |= other.missing;
        self.graph.extend(other.graph);
        self.stranded |= other.stranded;
    }
}

/// Judges `containers`, the listing of the engine at `endpoint`, against the targets on it.
pub(crate) fn audit(
    endpoint: &Endpoint,
    containers: &[ContainerInfo],
    targets: &[Target],
    targets_only: bool,
) -> AuditReport {
    let targets: Vec<&Target> = targets.iter().filter(|t| &t.endpoint == endpoint).collect();
    let engine = endpoint.name();
    let leanings = leanings(containers, &targets, targets_only);
    let (lines, gone) = graph::describe(&leanings);
    let on = |line: String| if engine == "local" { line } else { format!("{engine}: {line}") };
    let mut report = AuditReport {
        graph: lines.into_iter().map(on).collect(),
        stranded: !gone.is_empty(),
        problems: gone,
        ..AuditReport::default()
    };
    report.problems.extend(graph::order(&leanings).1);
    for c in containers {
        let watched = targets.iter().any(|t| watches(t, c));
        let mut checks: Vec<CheckKind> = targets.iter().filter(|t| watches(t, c)).map(|t| t.health.kind()).collect();
        checks.dedup();
        if targets_only && !watched {
            continue;
        }
        if watched && c.restart_policy == RestartPolicy::No {
            report.unprotected = true;
            report.problems.push(format!(
                "container '{}' is watched but has restart policy 'no': Docker will not restart it when it exits; \
                 fix with `docker update --restart unless-stopped {}` (or `restart: unless-stopped` in compose)",
                c.name, c.name
            ));
        }
        report.containers.push(AuditEntry {
            engine: engine.clone(),
            name: c.name.clone(),
            state: c.status.clone(),
            restart_policy: c.restart_policy.clone(),
            healthcheck: c.healthcheck,
            watched,
            checks,
            depends_on: leanings
                .iter()
                .filter(|l| l.dependent == c.name)
                .map(|l| Provider { name: l.provider.clone(), via: l.via, exists: l.exists })
                .collect(),
        });
    }
    for t in targets {
        if !containers.iter().any(|c| watches(t, c)) {
            report.missing = true;
            report
                .problems
                .push(format!("target '{}' watches container '{}', which does not exist", t.name, t.container));
        }
    }
    report.containers.sort_by(|a, b| a.name.cmp(&b.name));
    report
}

/// Who leans on whom among `containers` and from `targets`; with `targets_only`, only
/// the leans of the containers shown (the watched ones).
fn leanings(containers: &[ContainerInfo], targets: &[&Target], targets_only: bool) -> Vec<Leaning> {
    let shown = |name: &str| {
        !targets_only || containers.iter().any(|c| c.name == name && targets.iter().any(|t| watches(t, c)))
    };
    let summaries: Vec<ContainerSummary> = containers.iter().cloned().map(ContainerSummary::from).collect();
    let mut leanings = graph::leanings(&summaries, targets);
    leanings.retain(|l| shown(&l.dependent));
    leanings
}

/// Whether target `t` acts on container `c`: by name or id, or as a replica of its compose service.
fn watches(t: &Target, c: &ContainerInfo) -> bool {
    match &t.compose {
        Some((project, service)) => {
            c.labels.get(COMPOSE_PROJECT) == Some(project) && c.labels.get(COMPOSE_SERVICE) == Some(service)
        }
        None => c.is(&t.container),
    }
}

/// The audit as an aligned table followed by the problems.
fn table(report: &AuditReport) -> String {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let name_width = report.containers.iter().map(|c| c.name.len()).max().unwrap_or(0).max(4);
    // The engine column, once there is more than one engine to tell apart.
    let several = report.containers.iter().any(|c| c.engine != report.containers[0].engine);
    let engine_width = report.containers.iter().map(|c| c.engine.len()).max().unwrap_or(0).max(6);
    let engine = |name: &str| if several { format!("{name:engine_width$}  ") } else { String::new() };
    let policies: Vec<String> = report.containers.iter().map(|c| c.restart_policy.to_string()).collect();
    let policy_width = policies.iter().map(String::len).max().unwrap_or(0).max(14);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}{:name_width$}  {:10}  {:policy_width$}  {:11}  WATCHED",
        engine("ENGINE"),
        "NAME",
        "STATE",
        "RESTART POLICY",
        "HEALTHCHECK"
    );
    let watched = |c: &AuditEntry| match (c.watched, c.checks.is_empty()) {
        (true, false) => format!("yes ({})", c.checks.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")),
        (true, true) => "yes".to_string(),
        (false, _) => "no".to_string(),
    };
    for (c, policy) in report.containers.iter().zip(&policies) {
        let _ = writeln!(
            out,
            "{}{:name_width$}  {:10}  {:policy_width$}  {:11}  {}",
            engine(&c.engine),
            c.name,
            c.state.as_str(),
            policy,
            yes_no(c.healthcheck),
            watched(c)
        );
    }
    if !report.graph.is_empty() {
        out.push_str("\ndependents (provider <- dependent (how)):\n");
        for line in &report.graph {
            let _ = writeln!(out, "  {line}");
        }
    }
    if !report.problems.is_empty() {
        out.push_str("\nproblems:\n");
        for p in &report.problems {
            let _ = writeln!(out, "  - {p}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HealthUrl;

    fn container(name: &str, policy: &str) -> ContainerInfo {
        crate::docker::fake::container(name, policy, &[])
    }

    fn target(container: &str) -> Target {
        Target::http(&format!("t-{container}"), container, HealthUrl::parse("http://127.0.0.1:1/").unwrap())
    }

    #[test]
    fn watched_container_without_policy_is_the_problem() {
        let containers = [container("app", "no"), container("db", "always"), container("scratch", "no")];
        let report = audit(&Endpoint::Default, &containers, &[target("app"), target("db"), target("ghost")], false);
        assert!(report.unprotected);
        assert_eq!(report.containers.len(), 3);
        assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
        assert!(report.problems[0].contains("'app'") && report.problems[0].contains("docker update --restart"));
        assert!(report.problems[1].contains("'ghost'"));
        let mut compose = target("shop/web");
        compose.compose = Some(("shop".into(), "web".into()));
        let mut replica = container("shop-web-1", "always");
        replica.labels = [("com.docker.compose.project", "shop"), ("com.docker.compose.service", "web")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let with_compose = audit(&Endpoint::Default, &[replica], &[compose], true);
        assert!(with_compose.containers[0].watched && with_compose.problems.is_empty(), "{with_compose:?}");
        let only = audit(&Endpoint::Default, &containers, &[target("db")], true);
        assert_eq!(only.containers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["db"]);
        assert!(!only.unprotected && only.problems.is_empty());
    }

    #[test]
    fn every_engine_is_listed_and_one_that_cannot_be_is_a_problem() {
        use crate::config::Engine;
        use crate::docker::fake::{FakeDocker, engine};
        let web2 = engine("web-2", "ssh://ops@web-2");
        let mut config = Config::new(vec![target("app")]);
        config.engines.push(Engine { name: "web-2".into(), endpoint: web2.clone(), ..config.engines[0].clone() });
        let docker = FakeDocker::new("running", 0)
            .with_engine(Endpoint::Default, Ok(vec![container("app", "always")]))
            .with_engine(web2.clone(), Err("ssh: connect to host web-2 port 22: Connection refused"));
        let report = audit_engines(&config, &docker, false).unwrap();
        assert!(report.missing && !report.unprotected, "{report:?}");
        assert_eq!(report.containers.len(), 1);
        assert!(report.problems[0].starts_with("engine web-2 could not be listed: ssh:"), "{:?}", report.problems);
        let mut calls = docker.calls();
        calls.sort();
        assert_eq!(calls, ["list local", "list web-2"], "each engine listed once");
        // No engine at all: nothing was audited, an error (exit 2).
        let nowhere = FakeDocker::new("running", 0);
        assert!(matches!(audit_engines(&config, &nowhere, false), Err(Stop::Usage(_))));
    }

    #[test]
    fn table_lists_every_container() {
        let report = audit(&Endpoint::Default, &[container("app", "unless-stopped")], &[target("app")], false);
        let text = table(&report);
        assert!(text.starts_with("NAME  STATE       RESTART POLICY  HEALTHCHECK  WATCHED\n"), "{text}");
        assert!(text.contains("app   running     unless-stopped  no           yes (http)"), "{text}");
    }

    #[test]
    fn several_engines_get_an_engine_column() {
        let web2 =
            Endpoint::Engine { name: "web-2".into(), via: Box::new(Endpoint::Host("ssh://w".into())), tls: None };
        let mut report = audit(&Endpoint::Default, &[container("app", "always")], &[], false);
        let mut there = target("app");
        there.endpoint = web2.clone();
        report.add(audit(&web2, &[container("app", "no")], &[there], false));
        assert!(report.unprotected && report.problems.len() == 1, "only web-2's app is watched: {report:?}");
        let text = table(&report);
        assert!(text.starts_with("ENGINE  NAME  STATE"), "{text}");
        assert!(text.contains("local   app   running     always"), "{text}");
        assert!(text.contains("web-2   app   running     no"), "{text}");
    }

    #[test]
    fn a_container_stranded_in_a_gone_providers_namespace_is_a_problem() {
        let vpn = container("vpn", "always");
        let mut app = container("app", "always");
        app.network_mode = Some(format!("container:{}", vpn.id));
        let mut stranded = container("old", "always");
        stranded.network_mode = Some(format!("container:{}", "ab".repeat(32)));
        let containers = [vpn, app, stranded];
        let report = audit(&Endpoint::Default, &containers, &[], false);
        assert!(report.stranded, "{report:?}");
        let app = report.containers.iter().find(|c| c.name == "app").unwrap();
        assert_eq!(app.depends_on, [Provider { name: "vpn".into(), via: Via::Network, exists: true }]);
        assert_eq!(report.graph, ["abababababab <- old (network)", "vpn <- app (network)"]);
        assert!(report.problems.iter().any(|p| p.starts_with("container 'old' runs in the network namespace")));
        // Only the watched containers' leans with --targets-only.
        let report = audit(&Endpoint::Default, &containers, &[target("app")], true);
        assert!(!report.stranded && report.graph == ["vpn <- app (network)"], "{report:?}");
    }
}
