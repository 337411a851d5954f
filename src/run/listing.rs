//! Each pass's view of its engines: one listing per engine, all at once, from which the
//! pass's roster is made (the config's targets with what the listing says of them, and
//! the discovered ones), and the engines' status for the report.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::config::{Config, Target};
use crate::docker::{ContainerSummary, Containers, Sieve, Summaries};
use crate::memory::state::State;
use crate::model::{Endpoint, Outcome, TargetResult, millis};
use crate::output::report::EngineStatus;
use crate::pass::parallel_map;
use crate::{discover, graph};

/// The targets an earlier pass found on an engine that could not be listed now: known
/// from memory by their `ENGINE/` names, reported `engine_down` and left unchecked (and
/// their memory untouched).
pub(super) fn unlisted_targets(
    config: &Config,
    roster: &[Target],
    listed: &Listed,
    memory: &State,
) -> Vec<TargetResult> {
    let mut found = Vec::new();
    if config.engines.len() < 2 {
        return found;
    }
    for engine in config.engines.iter().filter(|e| e.discovers()) {
        let Some(Listing { error: Some(error), .. }) = listed.engines.get(&engine.endpoint) else { continue };
        let prefix = format!("{}/", engine.name);
        for name in memory.targets.keys().filter(|n| n.starts_with(&prefix)) {
            if roster.iter().any(|t| &t.name == name) {
                continue;
            }
            found.push(TargetResult {
                outcome: Outcome::EngineDown,
                error: Some(format!("docker engine {} is unreachable: {error}", engine.name)),
                ..TargetResult::new(name, &name[prefix.len()..], String::new())
            });
        }
    }
    found
}

/// What listing the engines found: the entries for containers with bad labels, and how
/// each listed engine's listing went.
#[derive(Debug, Default)]
pub(crate) struct Listed {
    pub(crate) invalid: Vec<TargetResult>,
    pub(crate) engines: BTreeMap<Endpoint, Listing>,
    /// Mistakes the listing shows, each with its fix: a target whose container does not
    /// exist, an engine that cannot be reached while every target is healthy, discovery
    /// that found nothing to watch. Said in the status line's `warnings` (and so once
    /// under `--quiet`, and again when they change).
    pub(crate) mistakes: Vec<String>,
}

/// One engine's listing.
#[derive(Debug, Clone, Default)]
pub(crate) struct Listing {
    /// Why it could not be listed.
    pub(crate) error: Option<String>,
    /// The listing was refused (by a socket proxy): said with the switch that allows it.
    pub(crate) refused: Option<String>,
    /// How many containers it has (when listed).
    pub(crate) containers: Option<usize>,
    /// How long `docker ps` and `docker inspect` took.
    pub(crate) took: Duration,
}

/// The engines this pass reached or tried to: listed ones, and those of targets it ran
/// docker commands for. An engine is down when it could not be listed or a target on
/// it found it unreachable.
pub(super) fn engines(roster: &[Target], results: &[TargetResult], listed: &Listed) -> Vec<EngineStatus> {
    let mut seen: BTreeMap<Endpoint, Listing> = listed.engines.clone();
    for (target, result) in roster.iter().zip(results) {
        let error = match result.outcome {
            Outcome::EngineDown => result.error.clone(),
            _ if result.action.is_some() => None,
            _ => continue,
        };
        let entry = seen.entry(target.endpoint.clone()).or_default();
        if entry.error.is_none() {
            entry.error = error;
        }
    }
    seen.into_iter()
        .map(|(endpoint, listing)| EngineStatus {
            name: endpoint.name(),
            up: listing.error.is_none(),
            error: listing.error,
            refused: listing.refused,
            containers: listing.containers,
            list_ms: listing.containers.map(|_| millis(listing.took)),
        })
        .collect()
}

/// The pass's roster: the config's targets with what Docker itself says of them (the
/// replicas of compose services, containers down or restarting, whom they lean on),
/// then the labelled and unhealthy containers of every engine that asks for discovery,
/// and the containers that lean on a watched one (or did, by what is `remembered` of
/// them, by target name). The config is left as
/// the operator wrote it. One
/// listing per engine (see `DockerCli::summaries`), all engines at once, so a slow or
/// unreachable one costs its own timeout and not the others'. An engine that cannot be
/// listed is reported in `engines`, and its compose targets fail alone. The engines of
/// the other targets are listed too, for their containers' state (see `listed_down`);
/// when such a listing fails, the targets' checks decide as if it had not been made,
/// and an action that finds the engine down reports it.
pub(crate) fn roster(
    config: &Config,
    docker: &dyn Containers,
    remembered: &dyn Fn(&str) -> Option<String>,
) -> (Vec<Target>, Listed) {
    let mut needed: BTreeSet<Endpoint> =
        config.targets.iter().filter(|t| t.compose.is_some()).map(|t| t.endpoint.clone()).collect();
    needed.extend(config.engines.iter().filter(|e| e.discovers()).map(|e| e.endpoint.clone()));
    let mut endpoints = needed.clone();
    endpoints.extend(config.targets.iter().filter(|t| t.watches_containers()).map(|t| t.endpoint.clone()));
    let endpoints: Vec<Endpoint> = endpoints.into_iter().collect();
    let (listings, _) = parallel_map(&endpoints, endpoints.len(), |endpoint| list_engine(config, docker, endpoint));
    let listings: BTreeMap<Endpoint, (Result<Summaries>, Duration)> = endpoints.into_iter().zip(listings).collect();
    let engines = reported(&listings, &needed);
    let mut roster = config.targets.clone();
    for target in &mut roster {
        if let (Some((project, service)), Some((Ok(listing), _))) = (&target.compose, listings.get(&target.endpoint)) {
            target.replicas = discover::compose_replicas(project, service, &listing.kept);
        }
    }
    let qualified = config.engines.len() > 1;
    let mut invalid = Vec::new();
    for engine in config.engines.iter().filter(|e| e.discovers()) {
        if let Some((Ok(listing), _)) = listings.get(&engine.endpoint) {
            let found = discover::discover(config, discover::Scope { engine, qualified }, &listing.kept);
            roster.extend(found.targets);
            invalid.extend(found.invalid);
        }
    }
    for target in &mut roster {
        if let Some((Ok(listing), _)) = listings.get(&target.endpoint) {
            target.facts.down = listed_down(target, &listing.kept);
            target.facts.restarting = target.replicas.iter().any(|name| {
                listing.kept.iter().any(|c| c.is(name) && c.status == crate::model::ContainerStatus::Restarting)
            });
        }
    }
    let mut cycles = Vec::new();
    for (endpoint, (listing, _)) in &listings {
        if let Ok(listing) = listing {
            let prefix = match config.engines.iter().find(|e| e.endpoint == *endpoint) {
                Some(engine) if qualified => format!("{}/", engine.name),
                _ => String::new(),
            };
            cycles.extend(graph::weave(&mut roster, (endpoint, &listing.kept), &prefix, remembered));
        }
    }
    let mut mistakes = mistakes(config, &roster, &listings, &engines, &invalid);
    mistakes.extend(cycles);
    (roster, Listed { invalid, engines, mistakes })
}

/// The engines the report shows: each listed one, and each needed one (for discovery or
/// compose) that could not be, down or refused.
fn reported(
    listings: &BTreeMap<Endpoint, (Result<Summaries>, Duration)>,
    needed: &BTreeSet<Endpoint>,
) -> BTreeMap<Endpoint, Listing> {
    listings
        .iter()
        .filter(|(endpoint, (listing, _))| listing.is_ok() || needed.contains(*endpoint))
        .map(|(endpoint, (listing, took))| {
            let (error, refused) = match listing {
                Err(e) if crate::docker::is_refused(e) => {
                    (None, Some(format!("listing containers on {endpoint}: {e:#}")))
                }
                Err(e) => (Some(unreachable_with_fix(endpoint, e)), None),
                Ok(_) => (None, None),
            };
            let containers = listing.as_ref().ok().map(|l| l.total);
            (endpoint.clone(), Listing { error, refused, containers, took: *took })
        })
        .collect()
}

/// One engine's listing for a pass, and how long it took: only what can be a target, or
/// is needed to judge one, is kept, so memory stays flat with the number of containers
/// on a node.
fn list_engine(config: &Config, docker: &dyn Containers, endpoint: &Endpoint) -> (Result<Summaries>, Duration) {
    let start = Instant::now();
    let discovering = config.engines.iter().find(|e| e.discovers() && e.endpoint == *endpoint);
    let here: Vec<&Target> = config.targets.iter().filter(|t| t.endpoint == *endpoint).collect();
    let named: Vec<&str> =
        here.iter().flat_map(|t| t.replicas.iter().map(String::as_str).chain([t.container.as_str()])).collect();
    let projects: Vec<&str> = here.iter().filter_map(|t| t.compose.as_ref().map(|(p, _)| p.as_str())).collect();
    let of_project =
        |c: &ContainerSummary| c.labels.get(discover::COMPOSE_PROJECT).is_some_and(|p| projects.contains(&p.as_str()));
    let sieve = Sieve {
        keep: &|c| {
            discover::may_matter(discovering, c) || of_project(c) || named.iter().any(|n| c.is(n)) || graph::leans(c)
        },
        label: label_matters,
        needs_health: &|c| discovering.is_some_and(|engine| discover::needs_health(engine, c)),
        projects: &|kept| {
            // A watched container's provider by compose may be no target: its project is listed.
            let watched = kept.iter().filter(|c| discover::may_matter(discovering, c) || named.iter().any(|n| c.is(n)));
            let mut projects = graph::leaning_projects(&watched.cloned().collect::<Vec<_>>());
            if discovering.is_some() {
                projects.extend(discover::restart_with_projects(kept));
            }
            projects.sort();
            projects.dedup();
            projects
        },
    };
    (docker.summaries(endpoint, &sieve), start.elapsed())
}

/// The labels a pass's listing keeps: discovery's, and compose's `depends_on` (who
/// restarts with whom).
fn label_matters(key: &str) -> bool {
    discover::label_matters(key) || key == graph::COMPOSE_DEPENDS_ON
}

/// A listing's failure, said with its fix when nothing answered at the engine's address
/// (a wrong socket path, a socket not started: a rootless Podman's service, say).
fn unreachable_with_fix(endpoint: &Endpoint, e: &anyhow::Error) -> String {
    let said = format!("listing containers on {endpoint}: {e:#}");
    let nothing_there = ["connecting", "No such file", "Connection refused", "Cannot connect"];
    if nothing_there.iter().any(|sign| said.contains(sign)) {
        format!(
            "{said}: is the engine running, and is this its socket? fix DOCKER_HOST or the engine's `host` \
             (`healwatch version` shows where it looks)"
        )
    } else {
        said
    }
}

/// An engine listed only for its named targets' state that could not be: refused, or
/// not reached.
fn unlisted(endpoint: &Endpoint, e: &anyhow::Error) -> String {
    if crate::docker::is_refused(e) {
        format!(
            "listing containers on {endpoint}: {e:#}; its targets are still checked, but whether their containers \
             are down or restarting is not known"
        )
    } else {
        format!(
            "{endpoint} cannot be reached ({e:#}): its targets are checked, but none could be restarted; fix \
             DOCKER_HOST or the engine's host (`healwatch version` shows where it looks)"
        )
    }
}

/// What the listings show the operator got wrong, each said with its fix.
fn mistakes(
    config: &Config,
    roster: &[Target],
    listings: &BTreeMap<Endpoint, (Result<Summaries>, Duration)>,
    reported: &BTreeMap<Endpoint, Listing>,
    invalid: &[TargetResult],
) -> Vec<String> {
    let mut said = Vec::new();
    for (endpoint, (listing, _)) in listings {
        let listing = match listing {
            // An engine the report already shows down says so there.
            Err(_) if reported.contains_key(endpoint) => continue,
            Err(e) => {
                said.push(unlisted(endpoint, e));
                continue;
            }
            Ok(listing) => listing,
        };
        // A target that only notifies never acts on its container: its absence is no mistake.
        let acts = |t: &&Target| t.action != crate::model::Action::Notify;
        for target in roster.iter().filter(|t| &t.endpoint == endpoint && t.watches_containers()).filter(acts) {
            if let Some((project, service)) = &target.compose {
                if target.replicas.is_empty() {
                    said.push(format!(
                        "target '{}': compose service '{service}' of project '{project}' has no container on {endpoint}: \
                         check the names (`healwatch validate`), or start it",
                        target.name
                    ));
                }
            } else if let Some(name) = target.replicas.iter().find(|n| !listing.kept.iter().any(|c| c.is(n))) {
                said.push(format!(
                    "target '{}' watches container '{name}', which does not exist on {endpoint}: it can never be \
                     restarted; fix `container` (or the name in -t NAME=URL), see `healwatch audit`",
                    target.name
                ));
            }
        }
    }
    // A pass that watches nothing at all: discovery found no container to take.
    let searched: Vec<&Summaries> = config
        .engines
        .iter()
        .filter(|e| e.discovers())
        .filter_map(|e| listings.get(&e.endpoint).and_then(|(l, _)| l.as_ref().ok()))
        .collect();
    if roster.is_empty() && invalid.is_empty() && !searched.is_empty() {
        let total: usize = searched.iter().map(|l| l.total).sum();
        said.push(format!(
            "discovery found nothing to watch among {total} containers: label one (healwatch.url=http://…, or \
             healwatch.enable=true with a HEALTHCHECK and --unhealthy label), see docs/discovery.md"
        ));
    }
    said
}

/// The first of the target's containers that the listing shows not serving (paused,
/// exited, dead, restarting, never started), said as its check's failure will say it. A
/// container the listing does not show is left to the check and the action to find.
fn listed_down(target: &Target, listing: &[ContainerSummary]) -> Option<String> {
    target.replicas.iter().find_map(|name| {
        let c = listing.iter().find(|c| c.is(name))?;
        Some(format!("container {name} {}", c.status.not_serving(c.exit_code)?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Engine;
    use crate::discover::{COMPOSE_PROJECT, COMPOSE_SERVICE};
    use crate::docker::ContainerInfo;
    use crate::docker::fake::{FakeDocker, container, engine};
    use crate::model::{ContainerStatus, HealthUrl};

    #[test]
    fn engines_are_listed_once_each_and_one_down_leaves_the_others() {
        let far = engine("far", "ssh://ops@far");
        let url = HealthUrl::parse("http://127.0.0.1:1/").unwrap();
        let mut shop = Target::http("shop/web", "shop/web", url);
        shop.compose = Some(("shop".into(), "web".into()));
        let mut config = Config::new(vec![shop]);
        config.engines[0].discover = true;
        config.engines.push(Engine { name: "far".into(), endpoint: far.clone(), ..config.engines[0].clone() });
        let compose = [(COMPOSE_PROJECT, "shop"), (COMPOSE_SERVICE, "web")];
        let docker = FakeDocker::new("running", 0).with_engine(
            Endpoint::Default,
            Ok(vec![
                container("shop-web-1", "always", &compose),
                container("shop-web-2", "always", &compose),
                container("api", "always", &[("healwatch.url", "http://127.0.0.1:2/health")]),
                container("bad", "always", &[("healwatch.url", "ftp://nope")]),
            ]),
        );
        let configured = config.targets.clone();
        let (roster, listed) = roster(&config, &docker, &|_| None);
        assert_eq!(config.targets, configured, "the config is left as the operator wrote it");
        let mut calls = docker.calls();
        calls.sort();
        assert_eq!(calls, ["list far", "list local"], "every engine listed once, the compose one included");
        assert_eq!(roster[0].replicas, ["shop-web-1", "shop-web-2"]);
        let names: Vec<&str> = roster.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["shop/web", "local/api"], "discovered on local, named by engine");
        assert_eq!(listed.invalid.len(), 1, "the bad label is an invalid entry: {:?}", listed.invalid);
        let local = &listed.engines[&Endpoint::Default];
        assert_eq!((local.error.as_deref(), local.containers), (None, Some(4)));
        let down = &listed.engines[&far];
        assert!(down.error.as_deref().is_some_and(|e| e.contains("Cannot connect")) && down.containers.is_none());
    }

    #[test]
    fn a_listing_a_proxy_refuses_is_said_as_refused_not_as_the_engine_down() {
        let refused = crate::docker::api::table::refused("GET", "/v1.43/containers/json?all=1", 403);
        let url = HealthUrl::parse("http://127.0.0.1:1/").unwrap();
        let docker = FakeDocker::new("running", 0).with_engine(Endpoint::Default, Err(&refused));
        // Discovering there: the engine's entry says the refusal and the switch, and it is up.
        let mut config = Config::new(vec![Target::http("web", "web", url.clone())]);
        config.engines[0].discover = true;
        let (found, listed) = roster(&config, &docker, &|_| None);
        assert_eq!(found.len(), 1, "the named target is still checked");
        let local = &listed.engines[&Endpoint::Default];
        assert_eq!(local.error, None, "not an engine down");
        assert!(local.refused.as_deref().is_some_and(|r| r.contains("allow it with CONTAINERS=1")), "{local:?}");
        let status = engines(&found, &[], &listed);
        assert!(status[0].up && status[0].refused.is_some(), "{status:?}");
        // Only named targets there: a warning that says the refusal, not "cannot be reached".
        let config = Config::new(vec![Target::http("web", "web", url)]);
        let (_, listed) = roster(&config, &docker, &|_| None);
        assert!(listed.engines.is_empty(), "{:?}", listed.engines);
        let [said] = &listed.mistakes[..] else { panic!("{:?}", listed.mistakes) };
        assert!(said.contains("CONTAINERS=1") && said.contains("still checked") && !said.contains("reached"), "{said}");
    }

    #[test]
    fn a_plain_targets_engine_is_listed_and_a_container_down_there_is_marked() {
        let url = HealthUrl::parse("http://127.0.0.1:1/").unwrap();
        let config = Config::new(vec![Target::http("web", "web", url.clone()), Target::http("db", "db", url)]);
        assert!(config.lists() && !config.needs_listing(), "its state is read before its check, if it can be");
        let paused = ContainerInfo { status: ContainerStatus::Paused, ..container("web", "always", &[]) };
        let docker =
            FakeDocker::new("running", 0).with_engine(Endpoint::Default, Ok(vec![paused, container("db", "no", &[])]));
        let (roster, _) = roster(&config, &docker, &|_| None);
        assert_eq!(docker.calls(), ["list local"]);
        assert_eq!(roster[0].facts.down.as_deref(), Some("container web is paused and answers nothing"));
        assert_eq!(roster[1].facts.down, None, "running: its check decides");
        assert_eq!(config.targets[0].facts, crate::config::Facts::default(), "the config's target is untouched");
    }
}
