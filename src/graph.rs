//! Who leans on whom on one engine, found from the engine alone: a container that shares
//! another's network namespace (`--network container:X`; compose's `network_mode:
//! service:X` is stored so too), one whose compose `depends_on` says `restart: true`, and
//! the operator's `restart_with`. Pure: it works on one engine's inventory and the
//! targets on it.

use serde::Serialize;

use crate::config::Target;
use crate::discover::{COMPOSE_PROJECT, COMPOSE_SERVICE};
use crate::docker::ContainerInfo;

/// The label compose writes a service's `depends_on` into: `db:service_started:true,…`
/// (service, condition, whether a restart of the service restarts this one).
pub(crate) const COMPOSE_DEPENDS_ON: &str = "com.docker.compose.depends_on";

/// How a dependent leans on its provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Via {
    /// It runs in the provider's network namespace: when the provider's process
    /// restarts, the dependent keeps running without a network.
    Network,
    /// Compose's `depends_on` with `restart: true`.
    Compose,
    /// A target's `restart_with`.
    RestartWith,
}

impl Via {
    /// As `validate` and `audit` say it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::Compose => "compose",
            Self::RestartWith => "restart_with",
        }
    }
}

/// One dependent's lean on one provider.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub(crate) struct Leaning {
    /// The provider: its name, or, when no container on the engine is it, what the
    /// dependent names (an id, cut to 12 characters as Docker shows ids).
    pub provider: String,
    /// The dependent's name.
    pub dependent: String,
    /// How it leans on it.
    pub via: Via,
    /// Whether the provider exists on the engine. A dependent in the namespace of a
    /// container that is gone (replaced under the same name, or removed) has no network,
    /// and `docker start` refuses it: only recreating it helps.
    pub exists: bool,
}

/// Every lean among `containers` (one engine's inventory) and from `targets` on it,
/// sorted by provider, then dependent.
pub(crate) fn leanings(containers: &[ContainerInfo], targets: &[&Target]) -> Vec<Leaning> {
    let mut found = Vec::new();
    for c in containers {
        if let Some(reference) = c.network_mode.as_deref().and_then(|m| m.strip_prefix("container:")) {
            let provider = containers.iter().find(|p| p.id == reference || p.is(reference));
            found.push(Leaning {
                provider: provider.map_or_else(|| short(reference), |p| p.name.clone()),
                dependent: c.name.clone(),
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
                via: Via::RestartWith,
                exists: provider.is_some(),
            });
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The services a container's compose `depends_on` label says restart it with them
/// (`service:condition:true`); anything else in the label is ignored (it is the image
/// author's, or compose's, never a command to healwatch).
fn restarted_with(c: &ContainerInfo) -> impl Iterator<Item = &str> {
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

/// `describe` of the leans among `containers` and from `targets`.
pub(crate) fn leanings_said(containers: &[ContainerInfo], targets: &[&Target]) -> (Vec<String>, Vec<String>) {
    describe(&leanings(containers, targets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::fake::container;
    use crate::model::HealthUrl;

    fn joined(name: &str, mode: &str) -> ContainerInfo {
        ContainerInfo { network_mode: Some(mode.to_string()), ..container(name, "always", &[]) }
    }

    #[test]
    fn a_shared_namespace_is_found_by_id_or_name_and_a_gone_provider_said() {
        let vpn = container("vpn", "always", &[]);
        let by_id = joined("qbit", &format!("container:{}", vpn.id));
        let by_name = joined("arr", "container:vpn");
        let gone_id = "3f2a9c1b2d4e".repeat(5) + "abcd";
        let orphan = joined("old", &format!("container:{gone_id}"));
        let bridge = joined("web", "bridge");
        let found = leanings(&[vpn, by_id, by_name, orphan, bridge], &[]);
        let seen: Vec<(&str, &str, bool)> =
            found.iter().map(|l| (l.provider.as_str(), l.dependent.as_str(), l.exists)).collect();
        assert_eq!(seen, [("3f2a9c1b2d4e", "old", false), ("vpn", "arr", true), ("vpn", "qbit", true)]);
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
