//! Who leans on whom on one engine, found from the engine alone: a container that shares
//! another's network namespace (`--network container:X`; compose's `network_mode:
//! service:X` is stored so too), one whose compose `depends_on` says `restart: true`, and
//! the operator's `restart_with`; and the order in which to heal them. Pure: it works
//! on one engine's containers and the targets on it.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{HealthCheck, Target};
use crate::discover::{COMPOSE_PROJECT, COMPOSE_SERVICE};
use crate::docker::ContainerSummary;
use crate::model::{Action, Endpoint};
pub(crate) use crate::model::{Leaning, Via};

/// The label compose writes a service's `depends_on` into: `db:service_started:true,…`
/// (service, condition, whether a restart of the service restarts this one).
pub(crate) const COMPOSE_DEPENDS_ON: &str = "com.docker.compose.depends_on";

/// Every lean among `containers` (one engine's inventory) and from `targets` on it,
/// sorted by provider, then dependent.
pub(crate) fn leanings(containers: &[ContainerSummary], targets: &[&Target]) -> Vec<Leaning> {
    let mut found = Vec::new();
    for c in containers {
        if let Some(reference) = network_provider(c) {
            let provider = containers.iter().find(|p| p.id == reference || p.is(reference));
            found.push(Leaning {
                provider: provider.map_or_else(|| short(reference), |p| p.name.clone()),
                dependent: c.name.clone(),
                reference: provider.map_or(reference, |p| p.id.as_str()).to_string(),
                via: Via::Network,
                exists: provider.is_some(),
            });
        }
        for service in restarted_with(c) {
            let project = c.labels.get(COMPOSE_PROJECT);
            let providers = containers.iter().filter(|p| {
                p.labels.get(COMPOSE_PROJECT) == project
                    && p.labels.get(COMPOSE_SERVICE).map(String::as_str) == Some(service)
            });
            for p in providers.filter(|p| p.name != c.name) {
                found.push(Leaning {
                    provider: p.name.clone(),
                    dependent: c.name.clone(),
                    reference: p.id.clone(),
                    via: Via::Compose,
                    exists: true,
                });
            }
        }
    }
    for t in targets {
        let provider = containers.iter().find(|c| c.is(&t.container));
        for dependent in &t.restart_with {
            found.push(Leaning {
                provider: provider.map_or_else(|| t.container.clone(), |p| p.name.clone()),
                dependent: dependent.clone(),
                reference: provider.map_or_else(|| t.container.clone(), |p| p.id.clone()),
                via: Via::RestartWith,
                exists: provider.is_some(),
            });
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Weaves the leans among one engine's listed containers (`kept`) into a pass's
/// `roster`: each target whose container leans on a watched one, or is leaned on by a
/// watched one, carries the lean (`Facts::leans`); a container that leans on a watched
/// target and is no target itself joins the roster as one (checked by `Provider`, named
/// as discovery names, `prefix` before its name on an engine of several), with its
/// provider's settings. Leans neither end of which is watched are left alone; those on
/// a cycle are said (returned) and not followed. A container whose network namespace's
/// container is gone stays on the roster while `remembered` knows its provider's name
/// by its own (an earlier pass had it as a dependent): it is reported, with how to
/// recreate it, and the lean names that provider.
pub(crate) fn weave(
    roster: &mut Vec<Target>,
    (endpoint, kept): (&Endpoint, &[ContainerSummary]),
    prefix: &str,
    remembered: &dyn Fn(&str) -> Option<String>,
) -> Vec<String> {
    let here = |t: &&Target| t.endpoint == *endpoint;
    let watched: BTreeSet<String> = roster.iter().filter(here).flat_map(|t| t.replicas.iter().cloned()).collect();
    let targets: Vec<&Target> = roster.iter().filter(here).collect();
    let mut leans = leanings(kept, &targets);
    for l in leans.iter_mut().filter(|l| !l.exists && l.via == Via::Network) {
        if let Some(name) = remembered(&format!("{prefix}{}", l.dependent)) {
            l.provider = name;
        }
    }
    in_scope(&mut leans, watched);
    let (levels, cycles) = order(&leans);
    // Providers first, so a dependent down a chain finds its provider on the roster.
    for dependent in levels.iter().flatten() {
        let mine: Vec<Leaning> = leans.iter().filter(|l| &l.dependent == dependent).cloned().collect();
        let holds = |t: &Target| t.endpoint == *endpoint && t.replicas.contains(dependent);
        if roster.iter().any(holds) {
            roster.iter_mut().filter(|t| holds(t)).for_each(|t| t.facts.leans.extend(mine.iter().cloned()));
            continue;
        }
        // Its provider lends its settings (a replaced one's successor, under the name
        // remembered, too).
        let provider =
            roster.iter().find(|t| t.endpoint == *endpoint && mine.iter().any(|l| t.replicas.contains(&l.provider)));
        let name = format!("{prefix}{dependent}");
        if (provider.is_none() && mine.iter().all(|l| l.exists)) || roster.iter().any(|t| t.name == name) {
            continue;
        }
        let mut target = Target::new(&name, dependent, HealthCheck::Provider);
        target.endpoint = endpoint.clone();
        if let Some(provider) = provider {
            target.settings = provider.settings;
            target.ignore_stopped = provider.ignore_stopped;
            // A provider that is only to be reported on has its dependents only reported too.
            target.action = if provider.action == Action::Notify { Action::Notify } else { Action::Restart };
        }
        target.facts.leans = mine;
        roster.push(target);
    }
    cycles
}

/// Keeps the leans in scope: those with a watched end (`watched`: the containers the
/// roster's targets hold), a stranded one an earlier pass had (its provider's name
/// remembered), and, down a chain, those whose provider is a dependent in scope (it
/// joins the roster); bounded by the number of leans. `restart_with` is the operator's
/// own list: shown, never woven.
fn in_scope(leans: &mut Vec<Leaning>, mut watched: BTreeSet<String>) {
    let stranded = |l: &Leaning| !l.exists && l.via == Via::Network && l.provider != short(&l.reference);
    leans.retain(|l| l.provider != l.dependent && l.via != Via::RestartWith);
    for _ in 0..=leans.len() {
        let more: Vec<String> = leans
            .iter()
            .filter(|l| watched.contains(&l.provider) || stranded(l))
            .map(|l| l.dependent.clone())
            .filter(|d| !watched.contains(d))
            .collect();
        if more.is_empty() {
            break;
        }
        watched.extend(more);
    }
    leans.retain(|l| watched.contains(&l.provider) || watched.contains(&l.dependent) || stranded(l));
}

/// The roster's targets by the order in which a pass heals them (indices into
/// `roster`): first those that lean on no other target, then each target after every
/// target holding a container it leans on. Bounded by the roster's length: what a
/// cycle would leave comes last.
pub(crate) fn levels(roster: &[Target]) -> Vec<Vec<usize>> {
    let providers: Vec<Vec<usize>> = roster
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let holds = |p: &Target, l: &Leaning| p.endpoint == t.endpoint && p.replicas.contains(&l.provider);
            (0..roster.len()).filter(|&p| p != i && t.facts.leans.iter().any(|l| holds(&roster[p], l))).collect()
        })
        .collect();
    let mut level: Vec<Option<usize>> = vec![None; roster.len()];
    for _ in 0..roster.len() {
        for i in 0..roster.len() {
            if level[i].is_none() && providers[i].iter().all(|&p| level[p].is_some()) {
                level[i] = Some(providers[i].iter().filter_map(|&p| level[p]).max().map_or(0, |l| l + 1));
            }
        }
    }
    let deepest = level.iter().flatten().max().map_or(0, |l| l + 1);
    let mut levels: Vec<Vec<usize>> = vec![Vec::new(); deepest + 1];
    for (i, l) in level.iter().enumerate() {
        levels[l.unwrap_or(deepest)].push(i);
    }
    levels.retain(|l| !l.is_empty());
    levels
}

/// The container whose network namespace `c` runs in, as its network mode names it.
fn network_provider(c: &ContainerSummary) -> Option<&str> {
    c.network_mode.as_deref().and_then(|m| m.strip_prefix("container:")).filter(|r| !r.is_empty())
}

/// Whether `c` leans on another container by what the engine says of it (its network
/// mode, its compose `depends_on`): a listing keeps it, however it is watched.
pub(crate) fn leans(c: &ContainerSummary) -> bool {
    network_provider(c).is_some() || restarted_with(c).next().is_some()
}

/// The compose projects of `containers` whose services restart with another of theirs:
/// a listing needs the whole project to find the provider.
pub(crate) fn leaning_projects(containers: &[ContainerSummary]) -> Vec<String> {
    let mut projects: Vec<String> = containers
        .iter()
        .filter(|c| restarted_with(c).next().is_some())
        .filter_map(|c| c.labels.get(COMPOSE_PROJECT).cloned())
        .collect();
    projects.sort();
    projects.dedup();
    projects
}

/// The dependents of `leanings` in the order to heal them: a dependent comes after every
/// provider of its that is a dependent too (A <- B <- C: B, then C), by level. The
/// dependents on a cycle are left out, and each cycle is said once (`a <- b <- a`): a
/// cycle has no first to heal, so it is not followed.
pub(crate) fn order(leanings: &[Leaning]) -> (Vec<Vec<String>>, Vec<String>) {
    let mut providers: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for l in leanings.iter().filter(|l| l.provider != l.dependent) {
        providers.entry(&l.dependent).or_default().insert(&l.provider);
    }
    let mut levels: Vec<Vec<String>> = Vec::new();
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    loop {
        let ready: Vec<&str> = providers
            .iter()
            .filter(|(d, ps)| {
                !placed.contains(*d) && ps.iter().all(|p| placed.contains(p) || !providers.contains_key(p))
            })
            .map(|(d, _)| *d)
            .collect();
        if ready.is_empty() {
            break;
        }
        placed.extend(ready.iter().copied());
        levels.push(ready.into_iter().map(str::to_string).collect());
    }
    let stuck: BTreeSet<&str> = providers.keys().copied().filter(|d| !placed.contains(d)).collect();
    (levels, cycles(&providers, &stuck))
}

/// Each cycle among `stuck` (dependents no order reaches), said once from its least name.
fn cycles(providers: &BTreeMap<&str, BTreeSet<&str>>, stuck: &BTreeSet<&str>) -> Vec<String> {
    let mut said = Vec::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for &start in stuck {
        // Walk to a provider on the cycle; the walk is bounded by the number stuck.
        let mut path = vec![start];
        while path.len() <= stuck.len() {
            let last = path[path.len() - 1];
            let Some(&next) = providers.get(last).and_then(|ps| ps.iter().find(|p| stuck.contains(*p))) else {
                break;
            };
            if let Some(at) = path.iter().position(|n| *n == next) {
                let mut ring: Vec<&str> = path[at..].to_vec();
                if ring.iter().any(|n| seen.contains(n)) {
                    break;
                }
                seen.extend(ring.iter().copied());
                let least = ring.iter().enumerate().min_by_key(|(_, n)| **n).map_or(0, |(i, _)| i);
                ring.rotate_left(least);
                ring.push(ring[0]);
                said.push(format!(
                    "containers lean on each other in a cycle ({}): healwatch heals none of them as a dependent; \
                     break the cycle (network_mode, depends_on or restart_with)",
                    ring.join(" <- ")
                ));
                break;
            }
            path.push(next);
        }
    }
    said
}

/// The services a container's compose `depends_on` label says restart it with them
/// (`service:condition:true`); anything else in the label is ignored (it is the image
/// author's, or compose's, never a command to healwatch).
fn restarted_with(c: &ContainerSummary) -> impl Iterator<Item = &str> {
    let label = c.labels.get(COMPOSE_DEPENDS_ON).map(String::as_str).unwrap_or("");
    label.split(',').filter_map(|entry| {
        let mut parts = entry.trim().split(':');
        let (service, _condition, restart) = (parts.next()?, parts.next()?, parts.next()?);
        (parts.next().is_none() && restart == "true" && !service.is_empty()).then_some(service)
    })
}

/// An id as Docker shows it (12 characters); anything else as it is, cut to 64.
fn short(reference: &str) -> String {
    match reference.get(..12) {
        Some(id) if reference.len() == 64 && reference.bytes().all(|b| b.is_ascii_hexdigit()) => id.to_string(),
        _ => crate::model::one_line(reference, 64),
    }
}

/// The leans as lines (`vpn <- app (network), web (compose)`), one per provider, then
/// one sentence for each dependent whose provider is gone.
pub(crate) fn describe(leanings: &[Leaning]) -> (Vec<String>, Vec<String>) {
    let mut lines: Vec<String> = Vec::new();
    let mut last: Option<&str> = None;
    for l in leanings {
        let item = format!("{} ({})", l.dependent, l.via.as_str());
        match (last == Some(l.provider.as_str()), lines.last_mut()) {
            (true, Some(line)) => {
                line.push_str(", ");
                line.push_str(&item);
            }
            _ => lines.push(format!("{} <- {item}", l.provider)),
        }
        last = Some(&l.provider);
    }
    let gone = leanings
        .iter()
        .filter(|l| !l.exists && l.via == Via::Network)
        .map(|l| {
            format!(
                "container '{}' runs in the network namespace of container {}, which no longer exists: it has no \
                 network, and docker start refuses it; recreate it (`docker compose up -d` for a compose service, \
                 else remove it and run it again with --network container:NAME)",
                l.dependent, l.provider
            )
        })
        .collect();
    (lines, gone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::ContainerInfo;
    use crate::model::HealthUrl;

    fn container(name: &str, policy: &str, labels: &[(&str, &str)]) -> ContainerSummary {
        ContainerSummary::from(crate::docker::fake::container(name, policy, labels))
    }

    fn joined(name: &str, mode: &str) -> ContainerSummary {
        let info = crate::docker::fake::container(name, "always", &[]);
        ContainerSummary::from(ContainerInfo { network_mode: Some(mode.to_string()), ..info })
    }

    fn lean(provider: &str, dependent: &str) -> Leaning {
        Leaning {
            provider: provider.into(),
            dependent: dependent.into(),
            reference: provider.into(),
            via: Via::Network,
            exists: true,
        }
    }

    #[test]
    fn a_chain_down_from_a_watched_provider_is_woven_whole_and_in_order() {
        let vpn = container("vpn", "always", &[]);
        let mode = format!("container:{}", vpn.id);
        let with = |name: &str, service: &str, depends: &str| {
            let mut c = joined(name, &mode);
            c.labels.insert(COMPOSE_PROJECT.into(), "media".into());
            c.labels.insert(COMPOSE_SERVICE.into(), service.into());
            if !depends.is_empty() {
                c.labels.insert(COMPOSE_DEPENDS_ON.into(), depends.into());
            }
            c
        };
        let kept = [vpn, with("media-app-1", "app", ""), with("media-worker-1", "worker", "app:service_started:true")];
        let url = HealthUrl::parse("http://127.0.0.1:1/").unwrap();
        let mut roster = vec![Target::http("vpn", "vpn", url)];
        assert!(weave(&mut roster, (&Endpoint::Default, &kept), "", &|_| None).is_empty());
        let names: Vec<&str> = roster.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["vpn", "media-app-1", "media-worker-1"]);
        let worker: Vec<(&str, Via)> = roster[2].facts.leans.iter().map(|l| (l.provider.as_str(), l.via)).collect();
        assert_eq!(worker, [("media-app-1", Via::Compose), ("vpn", Via::Network)], "both leans, the compose one too");
        assert_eq!(levels(&roster), [vec![0], vec![1], vec![2]], "vpn, then the app, then the worker");
    }

    #[test]
    fn a_roster_is_healed_providers_first_down_a_chain() {
        let url = || HealthUrl::parse("http://127.0.0.1:1/").unwrap();
        let mut roster: Vec<Target> = ["c", "b", "a", "x"].iter().map(|n| Target::http(n, n, url())).collect();
        roster[0].facts.leans.push(lean("b", "c"));
        roster[1].facts.leans.push(lean("a", "b"));
        assert_eq!(levels(&roster), [vec![2, 3], vec![1], vec![0]], "a and x, then b, then c");
        roster[2].facts.leans.push(lean("c", "a"));
        let all: Vec<usize> = levels(&roster).concat();
        assert_eq!(all.len(), 4, "a cycle still ends with every target placed: {all:?}");
    }

    #[test]
    fn a_chain_is_healed_in_order_and_a_cycle_is_said_and_left() {
        let leans = [lean("vpn", "b"), lean("b", "c"), lean("vpn", "d"), lean("x", "y"), lean("y", "x")];
        let (levels, cycles) = order(&leans);
        assert_eq!(levels, [vec!["b", "d"], vec!["c"]]);
        assert_eq!(cycles.len(), 1, "{cycles:?}");
        assert!(cycles[0].contains("(x <- y <- x)"), "{cycles:?}");
        let (levels, cycles) = order(&[lean("a", "a")]);
        assert!(levels.is_empty() && cycles.is_empty(), "a container cannot lean on itself");
        let ring = [lean("p", "q"), lean("q", "r"), lean("r", "p"), lean("r", "s")];
        let (levels, cycles) = order(&ring);
        assert!(levels.is_empty(), "s leans on a cycle's member: it waits with it: {levels:?}");
        assert_eq!(cycles.len(), 1, "one cycle, said once: {cycles:?}");
    }

    #[test]
    fn a_shared_namespace_is_found_by_id_or_name_and_a_gone_provider_said() {
        let vpn = container("vpn", "always", &[]);
        let vpn_id = vpn.id.clone();
        let by_id = joined("qbit", &format!("container:{}", vpn.id));
        let by_name = joined("arr", "container:vpn");
        let gone_id = "3f2a9c1b2d4e".repeat(5) + "abcd";
        let orphan = joined("old", &format!("container:{gone_id}"));
        let bridge = joined("web", "bridge");
        let found = leanings(&[vpn, by_id, by_name, orphan, bridge], &[]);
        let seen: Vec<(&str, &str, bool)> =
            found.iter().map(|l| (l.provider.as_str(), l.dependent.as_str(), l.exists)).collect();
        assert_eq!(seen, [("3f2a9c1b2d4e", "old", false), ("vpn", "arr", true), ("vpn", "qbit", true)]);
        assert!(found.iter().all(|l| l.reference.len() == 64 || l.reference == vpn_id), "{found:?}");
        let (lines, gone) = describe(&found);
        assert_eq!(lines, ["3f2a9c1b2d4e <- old (network)", "vpn <- arr (network), qbit (network)"]);
        assert_eq!(gone.len(), 1);
        assert!(gone[0].starts_with("container 'old' runs in the network namespace of container 3f2a9c1b2d4e"));
    }

    #[test]
    fn compose_depends_on_counts_only_with_restart_true_and_in_its_own_project() {
        let labels = |project: &str, service: &str| {
            vec![(COMPOSE_PROJECT.to_string(), project.to_string()), (COMPOSE_SERVICE.to_string(), service.to_string())]
        };
        let with = |name: &str, project: &str, service: &str, depends: &str| {
            let mut c = container(name, "always", &[]);
            c.labels.extend(labels(project, service));
            if !depends.is_empty() {
                c.labels.insert(COMPOSE_DEPENDS_ON.to_string(), depends.to_string());
            }
            c
        };
        let containers = [
            with("shop-db-1", "shop", "db", ""),
            with("shop-web-1", "shop", "web", "db:service_healthy:true,cache:service_started:false"),
            with("shop-cache-1", "shop", "cache", ""),
            with("blog-db-1", "blog", "db", ""),
            with("shop-job-1", "shop", "job", "db:service_started"),
        ];
        let found = leanings(&containers, &[]);
        let seen: Vec<(&str, &str, Via)> =
            found.iter().map(|l| (l.provider.as_str(), l.dependent.as_str(), l.via)).collect();
        assert_eq!(seen, [("shop-db-1", "shop-web-1", Via::Compose)]);
    }

    #[test]
    fn restart_with_joins_the_same_graph() {
        let mut t = Target::http("vpn", "vpn", HealthUrl::parse("http://127.0.0.1:1/").unwrap());
        t.restart_with = vec!["qbit".to_string()];
        let vpn = container("vpn", "always", &[]);
        let qbit = joined("qbit", "container:vpn");
        let found = leanings(&[vpn, qbit], &[&t]);
        let vias: Vec<Via> = found.iter().map(|l| l.via).collect();
        assert_eq!(vias, [Via::Network, Via::RestartWith]);
        assert_eq!(describe(&found).0, ["vpn <- qbit (network), qbit (restart_with)"]);
    }
}
