//! Docker engines: the `Containers` seam a pass acts through (so the core runs in tests
//! with a fake), the docker CLI behind it, and each engine's container listing.

pub(crate) mod api;
mod cli;
mod default_engine;
pub(crate) mod events;
#[cfg(test)]
pub(crate) mod fake;
mod inspect;
mod listing;
mod orders;
mod recreate;
mod sieve;
mod ssh;

use std::time::{Duration, SystemTime};

use crate::model::{Action, ContainerRef, ContainerStatus, DockerHealth, Endpoint};
pub(crate) use crate::process::CommandOutcome;

pub(crate) use api::table::is_refused;
pub(crate) use cli::DockerCli;
pub(crate) use inspect::{ContainerInfo, ContainerSummary, HealthInfo};
pub(crate) use orders::Order;
pub(crate) use recreate::create_body;
pub(crate) use sieve::{Sieve, Summaries};

/// Extra time a `docker restart` gets beyond its stop timeout (for the start) before it is killed.
pub(crate) const RESTART_MARGIN: Duration = Duration::from_secs(15);

/// Bound on quick docker calls (inspect, unpause).
pub(crate) const QUICK_TIMEOUT: Duration = Duration::from_secs(10);

/// What healwatch asks of Docker: every command and every subcommand goes through this
/// seam, so each runs in unit tests with a recording fake.
pub(crate) trait Containers: Sync {
    /// The containers on `endpoint` that `sieve` keeps for a pass's listing, with the
    /// HEALTHCHECK of those it says need it, and how many there are in all (see
    /// `DockerCli::summaries`).
    fn summaries(&self, endpoint: &Endpoint, sieve: &Sieve) -> anyhow::Result<Summaries>;
    /// Every container on `endpoint`, running or not, as `docker inspect` tells it
    /// (restart policies, PIDs, restart counts: what audit, validate and drill need).
    fn inventory(&self, endpoint: &Endpoint) -> anyhow::Result<Vec<ContainerInfo>>;
    /// One container as `docker inspect` tells it.
    fn inspect(&self, container: &ContainerRef) -> anyhow::Result<ContainerInfo>;
    /// `State.Status` and `State.StartedAt`, or the failed inspect.
    fn state(&self, container: &ContainerRef) -> Result<ContainerState, CommandOutcome>;
    /// `State.Health.Status` (`None` without a HEALTHCHECK), or the failed inspect.
    fn health(&self, container: &ContainerRef) -> Result<Option<DockerHealth>, CommandOutcome>;
    /// Runs `order` (a call that changes the container, see `Order`) on its engine, by
    /// that engine's route, within the order's bound.
    fn order(&self, container: &ContainerRef, order: &Order) -> CommandOutcome;
    /// `docker unpause`.
    fn unpause(&self, container: &ContainerRef) -> CommandOutcome {
        self.order(container, &Order::unpause(&container.name))
    }
    /// `docker kill --signal CONT`: wakes a stopped PID 1 (and, through an init, its child).
    fn wake(&self, container: &ContainerRef) -> CommandOutcome {
        self.order(container, &Order::wake(&container.name))
    }
    /// `docker restart -t <secs>` (a stopped container is started), `docker stop -t <secs>`
    /// or `docker kill`. `Action::Notify` runs nothing.
    fn act(&self, container: &ContainerRef, action: Action, stop_timeout: Duration) -> CommandOutcome {
        match Order::action(&container.name, action, stop_timeout) {
            Some(order) => self.order(container, &order),
            None => CommandOutcome::nothing_run(),
        }
    }
    /// The container's whole inspect, as the engine gives it (what a recreate copies).
    fn inspect_json(&self, container: &ContainerRef) -> Result<serde_json::Value, CommandOutcome>;
    /// `POST /containers/create?name=NAME` with `body` (see `create_body`): the new
    /// container's id. Only through the Engine API: the docker CLI has no way to make a
    /// container from an inspect, so that route refuses, saying so.
    fn create(&self, container: &ContainerRef, body: &serde_json::Value) -> Result<String, CommandOutcome> {
        let _ = body;
        Err(CommandOutcome {
            stderr: format!(
                "healwatch reaches engine {} through the docker CLI, which cannot make a container from an \
                 inspect: recreate {} by hand",
                container.endpoint.name(),
                container.name
            ),
            exit_code: None,
            ran: false,
            ..CommandOutcome::nothing_run()
        })
    }
    /// `docker exec -- CONTAINER ARGV...` (no shell), killed with its process group on this
    /// host past `timeout`.
    fn exec(&self, container: &ContainerRef, argv: &[String], timeout: Duration) -> CommandOutcome;
    /// The first line the container logged (either stream) in `[since, until)` that
    /// matches `pattern`, read line by line without holding more than one line; `Err`
    /// says why the logs could not be read.
    fn log_match(
        &self,
        container: &ContainerRef,
        since: SystemTime,
        until: SystemTime,
        pattern: &regex::Regex,
    ) -> Result<Option<String>, String>;
    /// The last `lines` lines the container logged (its last words, for a crash loop's
    /// report), within `QUICK_TIMEOUT`; `Err` says why they could not be read.
    fn log_tail(&self, container: &ContainerRef, lines: usize) -> Result<Vec<String>, String>;
}

/// The little a pass needs to know about a container before restarting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContainerState {
    /// `State.Status`.
    pub status: ContainerStatus,
    /// `State.StartedAt`; `None` when never started or unreadable.
    pub started_at: Option<SystemTime>,
    /// `State.ExitCode`: the last exit's status (0 while running and never exited).
    pub exit_code: Option<i64>,
    /// `RestartCount`: how often Docker's restart policy has started it since it was last
    /// started by hand (`docker start`/`restart`, healwatch's own restarts, reset it).
    pub restart_count: u64,
    /// `Created`: when the container was made (a container created moments ago and not
    /// started yet is being started by whoever made it: compose, say).
    pub created_at: Option<SystemTime>,
}

impl ContainerState {
    /// The `docker inspect --format` that `parse` reads.
    pub(crate) const FORMAT: &'static str =
        "{{.State.Status}} {{.State.StartedAt}} {{.State.ExitCode}} {{.RestartCount}} {{.Created}}";

    /// Reads `FORMAT`'s output.
    pub(crate) fn parse(text: &str) -> Self {
        let mut words = text.split_whitespace();
        let status = ContainerStatus::parse(words.next().unwrap_or_default());
        // Docker writes 0001-01-01T00:00:00Z for "never": that does not parse, and means None.
        let started_at = words.next().and_then(crate::model::rfc3339::parse);
        let exit_code = words.next().and_then(|c| c.parse().ok());
        let restart_count = words.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        let created_at = words.next().and_then(crate::model::rfc3339::parse);
        Self { status, started_at, exit_code, restart_count, created_at }
    }

    /// The same from an inspect's JSON (the Engine API's `GET /containers/NAME/json`).
    pub(crate) fn from_inspect(value: &serde_json::Value) -> Self {
        let state = &value["State"];
        Self {
            status: ContainerStatus::parse(state["Status"].as_str().unwrap_or_default()),
            started_at: state["StartedAt"].as_str().and_then(crate::model::rfc3339::parse),
            exit_code: state["ExitCode"].as_i64(),
            restart_count: value["RestartCount"].as_u64().unwrap_or(0),
            created_at: value["Created"].as_str().and_then(crate::model::rfc3339::parse),
        }
    }

    /// Down for good as far as a wait is concerned: exited, dead, or being restarted by
    /// its policy after an exit. Says how, as compose does: "exited (1)".
    pub(crate) fn down(&self) -> Option<String> {
        match self.status {
            ContainerStatus::Exited | ContainerStatus::Dead => self.status.not_serving(self.exit_code),
            ContainerStatus::Restarting => Some(format!(
                "restarting after exiting{}",
                self.exit_code.map(|c| format!(" ({c})")).unwrap_or_default()
            )),
            _ => None,
        }
    }
}

/// Docker takes whole seconds; round up so a 500ms stop timeout does not become a kill.
pub(crate) fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The bound on `docker inspect`'s JSON for a whole engine (about 10,000 containers).
pub(crate) const INSPECT_LIMIT: usize = 64 << 20;

/// A docker command's stderr for an error message: redacted, on one line, cut.
pub(crate) fn stderr_line(stderr: &str) -> String {
    crate::model::one_line(&crate::model::redact_text(stderr), 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_state_from_inspect() {
        let s = ContainerState::parse("running 2026-11-27T20:44:00.062083904Z 0\n");
        assert_eq!((&s.status, s.exit_code, s.down()), (&ContainerStatus::Running, Some(0), None));
        assert_eq!(s.started_at.map(crate::model::timestamp).as_deref(), Some("2026-11-27T20:44:00.062Z"));
        assert_eq!(
            ContainerState::parse("created 0001-01-01T00:00:00Z"),
            ContainerState {
                status: ContainerStatus::Created,
                started_at: None,
                exit_code: None,
                restart_count: 0,
                created_at: None
            }
        );
        assert_eq!(ContainerState::parse("paused").started_at, None);
        let exited = ContainerState::parse("exited 2026-11-27T20:44:00Z 137");
        assert_eq!(exited.down().as_deref(), Some("exited (137)"));
        let revived = ContainerState::parse("running 2026-11-27T20:44:00Z 0 4 2026-11-27T20:40:00.5Z");
        assert_eq!(revived.restart_count, 4);
        assert_eq!(revived.created_at, crate::model::rfc3339::parse("2026-11-27T20:40:00.5Z"));
        let looping = ContainerState::parse("restarting 2026-11-27T20:44:00Z 1");
        assert_eq!(looping.down().as_deref(), Some("restarting after exiting (1)"));
        assert_eq!(ContainerState::parse("dead x y").down().as_deref(), Some("dead"));
    }

    #[test]
    fn rounds_stop_timeout_up() {
        assert_eq!(whole_seconds(Duration::ZERO), 0);
        assert_eq!(whole_seconds(Duration::from_millis(500)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(10)), 10);
        assert_eq!(whole_seconds(Duration::from_millis(10_001)), 11);
    }
}
