//! One container as `docker inspect` and the Engine API's listing describe it.

use std::collections::BTreeMap;
use std::time::SystemTime;

use anyhow::Result;

use crate::model::{ContainerStatus, DockerHealth, RestartPolicy};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContainerInfo {
    /// Full id.
    pub id: String,
    /// Name without Docker's leading `/`.
    pub name: String,
    /// `State.Status`.
    pub status: ContainerStatus,
    /// `State.Running` (true while paused or restarting too).
    pub running: bool,
    /// `State.Pid` on the engine's host; 0 when not running.
    pub pid: u32,
    /// `State.StartedAt`; `None` when never started or unreadable.
    pub started_at: Option<SystemTime>,
    /// `State.ExitCode`: the last exit's status.
    pub exit_code: Option<i64>,
    /// `State.OOMKilled`: its last exit was the kernel's, for memory.
    pub oom_killed: bool,
    /// `HostConfig.RestartPolicy`.
    pub restart_policy: RestartPolicy,
    /// `RestartCount`: restarts by the policy since the last manual start.
    pub restart_count: u64,
    /// Whether the container has a Docker HEALTHCHECK (not disabled with NONE).
    pub healthcheck: bool,
    /// `Config.Healthcheck.Test`: `["CMD", argv...]` or `["CMD-SHELL", command]`.
    pub health_test: Vec<String>,
    /// `State.Health.Status` when it has a HEALTHCHECK.
    pub health: Option<DockerHealth>,
    /// The last HEALTHCHECK probe's output, trimmed, when there is one.
    pub health_output: Option<String>,
    /// `Config.Labels`.
    pub labels: BTreeMap<String, String>,
    /// `HostConfig.NetworkMode`: `container:<id>` for one in another's network namespace.
    pub network_mode: Option<String>,
    /// `State.Error`: why the engine could not start it last ("cannot join network of a
    /// non running container: …"), on one line; `None` when empty.
    pub error: Option<String>,
}

impl ContainerInfo {
    /// Reads one element of `docker inspect`'s JSON array.
    pub(crate) fn from_inspect(value: &serde_json::Value) -> Result<Self> {
        let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
        let id = text(&value["Id"]).ok_or_else(|| anyhow::anyhow!("docker inspect output has no Id"))?;
        let state = &value["State"];
        let status = state["Status"]
            .as_str()
            .map(ContainerStatus::parse)
            .ok_or_else(|| anyhow::anyhow!("docker inspect output for {id} has no State.Status"))?;
        let policy = &value["HostConfig"]["RestartPolicy"];
        let restart_policy = RestartPolicy::from_docker(
            policy["Name"].as_str().unwrap_or(""),
            policy["MaximumRetryCount"].as_u64().unwrap_or(0),
        );
        let test = &value["Config"]["Healthcheck"]["Test"];
        let healthcheck = test.as_array().is_some_and(|t| !t.is_empty() && t[0].as_str() != Some("NONE"));
        let health_test: Vec<String> = test
            .as_array()
            .map(|t| t.iter().filter_map(|w| w.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let health = &state["Health"];
        let labels = value["Config"]["Labels"]
            .as_object()
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
            .unwrap_or_default();
        Ok(Self {
            health: health["Status"].as_str().filter(|s| !s.is_empty()).map(DockerHealth::parse),
            health_output: health["Log"]
                .as_array()
                .and_then(|log| log.last())
                .and_then(|entry| entry["Output"].as_str())
                .map(|o| o.trim().chars().take(200).collect::<String>())
                .filter(|o| !o.is_empty()),
            labels,
            network_mode: text(&value["HostConfig"]["NetworkMode"]).filter(|m| !m.is_empty()),
            error: text(&state["Error"]).filter(|e| !e.is_empty()).map(|e| crate::model::one_line(&e, 300)),
            name: text(&value["Name"]).unwrap_or_default().trim_start_matches('/').to_string(),
            running: state["Running"].as_bool().unwrap_or(false),
            pid: state["Pid"].as_u64().unwrap_or(0) as u32,
            // Docker writes 0001-01-01T00:00:00Z for "never": that does not parse, and means None.
            started_at: state["StartedAt"].as_str().and_then(crate::model::rfc3339::parse),
            restart_count: value["RestartCount"].as_u64().unwrap_or(0),
            exit_code: state["ExitCode"].as_i64(),
            oom_killed: state["OOMKilled"].as_bool().unwrap_or(false),
            id,
            status,
            restart_policy,
            healthcheck,
            health_test,
        })
    }

    /// Whether `reference` (a name or an id prefix of 12+ characters) means this container.
    pub(crate) fn is(&self, reference: &str) -> bool {
        refers_to(&self.name, &self.id, reference)
    }
}

/// One container as a pass's listing sees it: enough to discover targets and to find
/// compose replicas. Its HEALTHCHECK is read only where discovery needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContainerSummary {
    /// Full id.
    pub id: String,
    /// Name without Docker's leading `/`.
    pub name: String,
    /// `State.Status`.
    pub status: ContainerStatus,
    /// The last exit's status, where the listing says (`None` from the API's listing of
    /// a container that never exited).
    pub exit_code: Option<i64>,
    /// `Config.Labels`.
    pub labels: BTreeMap<String, String>,
    /// Its Docker HEALTHCHECK, as `docker inspect` tells it.
    pub health: HealthInfo,
    /// `HostConfig.NetworkMode`, when it is another container's (`container:<id>`).
    pub network_mode: Option<String>,
}

/// A container's Docker HEALTHCHECK, or that the listing did not read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HealthInfo {
    /// Listed without `docker inspect` (see `discover::needs_health`).
    NotRead,
    /// No HEALTHCHECK, or one disabled with NONE.
    NoCheck,
    /// It has one.
    Check {
        /// `State.Health.Status` (none before the first probe).
        status: Option<DockerHealth>,
        /// The last probe's output, trimmed, when there is one.
        output: Option<String>,
    },
}

impl From<ContainerInfo> for ContainerSummary {
    fn from(c: ContainerInfo) -> Self {
        let health = match c.healthcheck {
            true => HealthInfo::Check { status: c.health, output: c.health_output },
            false => HealthInfo::NoCheck,
        };
        let network_mode = c.network_mode.filter(|m| m.starts_with("container:"));
        Self {
            id: c.id,
            name: c.name,
            status: c.status,
            exit_code: c.exit_code,
            labels: c.labels,
            health,
            network_mode,
        }
    }
}

impl ContainerSummary {
    /// Whether `reference` (a name or an id prefix of 12+ characters) means this container.
    pub(crate) fn is(&self, reference: &str) -> bool {
        refers_to(&self.name, &self.id, reference)
    }
}

/// Whether `reference` means the container named `name` with id `id`: its name, or an
/// id prefix of 12+ characters (as `docker ps` shows ids).
fn refers_to(name: &str, id: &str, reference: &str) -> bool {
    name == reference || (reference.len() >= 12 && id.starts_with(reference))
}

/// Parses `docker inspect`'s JSON array.
pub(super) fn parse_inspect(stdout: &str) -> Result<Vec<ContainerInfo>> {
    let values: Vec<serde_json::Value> = serde_json::from_str(stdout)
        .map_err(|e| anyhow::anyhow!("docker inspect printed something that is not its JSON array ({e})"))?;
    values.iter().map(ContainerInfo::from_inspect).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_inspect() {
        let json = r#"[{"Id":"0123456789abcdef0123","Name":"/app","RestartCount":2,
            "State":{"Status":"running","Running":true,"Pid":4242,"StartedAt":"2026-11-27T20:00:00.1Z"},
            "HostConfig":{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":5}},
            "Config":{"Healthcheck":{"Test":["CMD","true"]}}},
            {"Id":"fedcba9876543210fedc","Name":"/db","State":{"Status":"exited","Running":false,"Pid":0},
            "HostConfig":{"RestartPolicy":{"Name":"","MaximumRetryCount":0}},
            "Config":{"Healthcheck":{"Test":["NONE"]}}}]"#;
        let infos = parse_inspect(json).unwrap();
        let app = &infos[0];
        assert_eq!((app.name.as_str(), app.pid, app.restart_count), ("app", 4242, 2));
        assert_eq!(app.restart_policy.to_string(), "on-failure:5");
        assert!(app.healthcheck && app.running);
        assert!(app.is("app") && app.is("0123456789ab") && !app.is("0123"));
        let db = &infos[1];
        assert_eq!(
            (db.restart_policy.clone(), db.healthcheck, db.status.clone()),
            (RestartPolicy::No, false, ContainerStatus::Exited)
        );
    }

    #[test]
    fn garbage_from_docker_is_a_clear_error() {
        for bad in ["", "not json", "[{}]", "{}"] {
            let err = parse_inspect(bad).unwrap_err().to_string();
            assert!(err.contains("docker inspect"), "{bad:?}: {err}");
        }
    }
}
