//! An engine's container list read as it arrives, keeping only what a pass can use.
//! A node may run 100,000 containers: the API's answer is then over 100 MB of JSON, and
//! every label of every container held at once took 153 MiB. Here the answer is never
//! held whole: each container is parsed on its own, counted, and kept only when the
//! pass's `Sieve` says it can matter, with only the labels that can matter.

use std::collections::BTreeMap;
use std::io::Read;

use serde::de::{SeqAccess, Visitor};

use super::{ContainerInfo, ContainerSummary, HealthInfo};
use crate::model::ContainerStatus;

/// What a pass keeps of an engine's listing.
pub(crate) struct Sieve<'a> {
    /// Whether a container (its labels already trimmed by `label`) can matter.
    pub keep: &'a dyn Fn(&ContainerSummary) -> bool,
    /// Whether a label key can matter; the others are dropped as they are read.
    pub label: fn(&str) -> bool,
    /// Whether a kept container's HEALTHCHECK must be read (`docker inspect`).
    pub needs_health: &'a dyn Fn(&ContainerSummary) -> bool,
    /// The compose projects, found among the kept containers, every container of which is
    /// needed too (`restart_with`): listed again with the API's label filter, one request
    /// each, so nobody's projects are held for a project that names none.
    pub projects: &'a dyn Fn(&[ContainerSummary]) -> Vec<String>,
}

impl Sieve<'_> {
    /// Keeps everything, every label (tests, and callers that need the whole list).
    pub(crate) const ALL: Sieve<'static> =
        Sieve { keep: &|_| true, label: |_| true, needs_health: &|_| false, projects: &|_| Vec::new() };
}

/// Compose's label for a container's project.
const PROJECT: &str = "com.docker.compose.project";

/// One engine's listing for a pass: the containers kept, and how many it has in all.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Summaries {
    pub kept: Vec<ContainerSummary>,
    pub total: usize,
}

impl Summaries {
    /// `containers` (a whole listing, already in memory) through `sieve`.
    pub(crate) fn sift(containers: Vec<ContainerSummary>, sieve: &Sieve) -> Self {
        let total = containers.len();
        let trimmed: Vec<ContainerSummary> = containers
            .into_iter()
            .map(|mut c| {
                c.labels.retain(|k, _| (sieve.label)(k));
                c
            })
            .collect();
        let (mut kept, rest): (Vec<_>, Vec<_>) = trimmed.into_iter().partition(|c| (sieve.keep)(c));
        let projects = (sieve.projects)(&kept);
        kept.extend(rest.into_iter().filter(|c| c.labels.get(PROJECT).is_some_and(|p| projects.contains(p))));
        Self { kept, total }
    }

    /// Adds `more` (a filtered listing) to the kept containers, each once.
    pub(crate) fn add(&mut self, more: Vec<ContainerSummary>) {
        for c in more {
            if !self.kept.iter().any(|k| k.id == c.id) {
                self.kept.push(c);
            }
        }
    }
}

/// `GET /containers/json`'s array read from `reader` one container at a time.
pub(crate) fn parse_list(reader: impl Read, sieve: &Sieve) -> anyhow::Result<Summaries> {
    use serde::Deserializer as _;
    let mut json = serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(64 * 1024, reader));
    let listed = json
        .deserialize_seq(ListVisitor { sieve })
        .map_err(|e| anyhow::anyhow!("the engine's container list is not the API's JSON array ({e})"))?;
    json.end().map_err(|e| anyhow::anyhow!("the engine's container list has more after its array ({e})"))?;
    Ok(listed)
}

/// One container of the list, as the API writes it.
#[derive(serde::Deserialize)]
struct Raw {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Names", default)]
    names: Option<Vec<String>>,
    #[serde(rename = "State")]
    state: String,
    #[serde(rename = "Status", default)]
    status: Option<String>,
    #[serde(rename = "Labels", default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "HostConfig", default)]
    host_config: Option<RawHostConfig>,
}

/// The little of `HostConfig` the list gives: whose network namespace it runs in.
#[derive(serde::Deserialize)]
struct RawHostConfig {
    #[serde(rename = "NetworkMode", default)]
    network_mode: Option<String>,
}

struct ListVisitor<'s, 'a> {
    sieve: &'s Sieve<'a>,
}

impl<'de> Visitor<'de> for ListVisitor<'_, '_> {
    type Value = Summaries;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of containers")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Summaries, A::Error> {
        let mut listed = Summaries::default();
        while let Some(raw) = seq.next_element::<Raw>()? {
            listed.total += 1;
            let mut labels = raw.labels.unwrap_or_default();
            labels.retain(|k, _| (self.sieve.label)(k));
            // A container's own name is "/name"; links add "/other/alias".
            let names = raw.names.unwrap_or_default();
            let own = names.iter().map(|n| n.strip_prefix('/').unwrap_or(n)).find(|n| !n.contains('/'));
            let summary = ContainerSummary {
                name: own.unwrap_or_default().to_string(),
                id: raw.id,
                status: ContainerStatus::parse(&raw.state),
                exit_code: raw.status.as_deref().and_then(exit_code_in),
                labels,
                health: HealthInfo::NotRead,
                network_mode: raw.host_config.and_then(|h| h.network_mode).filter(|m| m.starts_with("container:")),
            };
            if (self.sieve.keep)(&summary) {
                listed.kept.push(summary);
            }
        }
        Ok(listed)
    }
}

/// The exit status in the listing's human `Status`, "Exited (137) 2 minutes ago".
fn exit_code_in(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    rest[..rest.find(')')?].parse().ok()
}

/// A listing's picked containers (those `sieve` says need their HEALTHCHECK) replaced by
/// their whole inspect, however the engine is inspected.
impl Summaries {
    pub(crate) fn with_health(
        mut self,
        sieve: &Sieve,
        inspect: impl FnOnce(&[&str]) -> anyhow::Result<Vec<ContainerInfo>>,
    ) -> anyhow::Result<Self> {
        let needs_health = sieve.needs_health;
        let picked: Vec<&str> = self.kept.iter().filter(|c| needs_health(c)).map(|c| c.id.as_str()).collect();
        if picked.is_empty() {
            return Ok(self);
        }
        let inspected = inspect(&picked)?;
        let mut inspected: std::collections::HashMap<String, ContainerInfo> =
            inspected.into_iter().map(|c| (c.id.clone(), c)).collect();
        // A picked container that inspect no longer finds was removed meanwhile: gone.
        self.kept.retain_mut(|c| {
            if !needs_health(c) {
                return true;
            }
            match inspected.remove(&c.id) {
                Some(info) => {
                    let mut info = ContainerSummary::from(info);
                    info.labels.retain(|k, _| (sieve.label)(k));
                    *c = info;
                    true
                }
                None => false,
            }
        });
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(n: usize) -> String {
        let items: Vec<String> = (0..n)
            .map(|i| {
                let labelled = if i % 1000 == 0 { r#","healwatch.url":"http://127.0.0.1:1/""# } else { "" };
                format!(
                    r#"{{"Id":"{i:064}","Names":["/c{i}"],"State":"running","Status":"Up 1 hour",
                    "Labels":{{"com.docker.compose.project":"p","com.docker.compose.config-hash":"{}"{labelled}}}}}"#,
                    "f".repeat(64)
                )
            })
            .collect();
        format!("[{}]", items.join(","))
    }

    #[test]
    fn every_container_is_counted_and_only_what_can_matter_is_kept() {
        let body = listing(5_000);
        let sieve = Sieve {
            keep: &|c: &ContainerSummary| c.labels.keys().any(|k| k.starts_with("healwatch.")),
            label: |k| k.starts_with("healwatch.") || k == "com.docker.compose.project",
            needs_health: &|_| false,
            projects: &|_| Vec::new(),
        };
        let listed = parse_list(body.as_bytes(), &sieve).unwrap();
        assert_eq!(listed.total, 5_000);
        let names: Vec<&str> = listed.kept.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["c0", "c1000", "c2000", "c3000", "c4000"]);
        assert_eq!(listed.kept[0].labels.len(), 2, "the config hash is dropped: {:?}", listed.kept[0].labels);
        let all = parse_list(body.as_bytes(), &Sieve::ALL).unwrap();
        assert_eq!((all.total, all.kept.len()), (5_000, 5_000));
    }

    #[test]
    fn what_is_not_the_apis_array_is_one_error() {
        for bad in ["{}", "[{\"Id\":1}]", "[] []", "[", ""] {
            let err = parse_list(bad.as_bytes(), &Sieve::ALL).unwrap_err().to_string();
            assert!(err.contains("container list"), "{bad}: {err}");
        }
    }
}
