//! An engine on a socket here (or behind a socket proxy on `tcp://`), asked through its
//! API for everything: the `Containers`
//! seam's Engine API route (the docker CLI's is `docker::cli`). `DockerCli::engine`
//! picks one of the two for each engine, in one place.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Result, bail};

use super::calls::{self, Call, call};
use super::conn::Address;
use super::list::{Route, list};
use super::wire::{Request, segment};
use crate::docker::{ContainerInfo, ContainerState, Containers, Order, QUICK_TIMEOUT, Sieve, Summaries, stderr_line};
use crate::model::{ContainerRef, DockerHealth, Endpoint};
use crate::process::CommandOutcome;

/// Bound on one log scan, in time, as the CLI route's.
pub(crate) const LOG_SCAN_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on one log scan, in bytes: past it the scan stops (no match found).
pub(crate) const LOG_SCAN_LIMIT: u64 = 1 << 30;
/// Bound on a log's last lines, in bytes (each line is cut at `LINE_LIMIT` too).
pub(crate) const TAIL_LIMIT: u64 = 256 * 1024;

/// The engine whose API is at `at`.
#[derive(Debug, Clone)]
pub(crate) struct ApiEngine {
    pub at: Address,
}

impl ApiEngine {
    /// Each of `ids` inspected, one request each (on a socket a request costs the engine
    /// less than a docker CLI costs this host). One that is gone meanwhile is left out,
    /// as the CLI's `docker inspect` of several leaves it.
    pub(crate) fn inspect_each(&self, ids: &[&str]) -> Result<Vec<ContainerInfo>> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            let value = match calls::inspect(&self.at, id, QUICK_TIMEOUT) {
                Ok(value) => value,
                Err(out) if out.exit_code == Some(1) && out.stderr.contains("No such container") => continue,
                Err(out) => bail!("inspecting {id} through the Docker API: {}", stderr_line(&out.stderr)),
            };
            found.push(ContainerInfo::from_inspect(&value)?);
        }
        Ok(found)
    }
}

impl Containers for ApiEngine {
    fn summaries(&self, _: &Endpoint, sieve: &Sieve) -> Result<Summaries> {
        let listed = list(&Route::Direct(self.at.clone()), Path::new("ssh"), QUICK_TIMEOUT, sieve)?;
        listed.with_health(sieve, |ids| self.inspect_each(ids))
    }

    fn inventory(&self, endpoint: &Endpoint) -> Result<Vec<ContainerInfo>> {
        use anyhow::Context as _;
        let listed = list(&Route::Direct(self.at.clone()), Path::new("ssh"), QUICK_TIMEOUT, &Sieve::ALL)?;
        let ids: Vec<&str> = listed.kept.iter().map(|c| c.id.as_str()).collect();
        self.inspect_each(&ids).with_context(|| format!("on {endpoint}"))
    }

    fn inspect(&self, c: &ContainerRef) -> Result<ContainerInfo> {
        let value = calls::inspect(&self.at, &c.name, QUICK_TIMEOUT).map_err(|out| {
            anyhow::anyhow!("inspecting {} through the Docker API: {}", c.name, stderr_line(&out.stderr))
        })?;
        ContainerInfo::from_inspect(&value)
    }

    fn state(&self, c: &ContainerRef) -> Result<ContainerState, CommandOutcome> {
        Ok(ContainerState::from_inspect(&calls::inspect(&self.at, &c.name, QUICK_TIMEOUT)?))
    }

    fn health(&self, c: &ContainerRef) -> Result<Option<DockerHealth>, CommandOutcome> {
        let value = calls::inspect(&self.at, &c.name, QUICK_TIMEOUT)?;
        let status = value["State"]["Health"]["Status"].as_str().filter(|s| !s.is_empty());
        Ok(status.map(DockerHealth::parse))
    }

    fn order(&self, _: &ContainerRef, order: &Order) -> CommandOutcome {
        call(&self.at, &Call::of(order.api.clone()), order.bound)
    }

    fn inspect_json(&self, c: &ContainerRef) -> Result<serde_json::Value, CommandOutcome> {
        calls::inspect(&self.at, &c.name, QUICK_TIMEOUT)
    }

    fn create(&self, c: &ContainerRef, body: &serde_json::Value) -> Result<String, CommandOutcome> {
        let path = format!("/containers/create?name={}", segment(&c.name));
        let out = call(&self.at, &Call::of(Request::post(path, Some(body.to_string()))), QUICK_TIMEOUT);
        if !out.success() {
            return Err(out);
        }
        let made: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
        match made["Id"].as_str() {
            Some(id) => Ok(id.to_string()),
            None => Err(CommandOutcome { exit_code: Some(1), stderr: "the engine's create named no id".into(), ..out }),
        }
    }

    fn exec(&self, c: &ContainerRef, argv: &[String], timeout: Duration) -> CommandOutcome {
        calls::exec(&self.at, &c.name, argv, timeout)
    }

    fn log_match(
        &self,
        c: &ContainerRef,
        since: SystemTime,
        until: SystemTime,
        pattern: &regex::Regex,
    ) -> Result<Option<String>, String> {
        super::logs::log_match(&self.at, &c.name, (since, until), pattern, (LOG_SCAN_TIMEOUT, LOG_SCAN_LIMIT))
    }

    fn log_tail(&self, c: &ContainerRef, lines: usize) -> Result<Vec<String>, String> {
        super::logs::log_tail(&self.at, &c.name, lines, (QUICK_TIMEOUT, TAIL_LIMIT))
    }
}
