//! Each engine's containers for a pass: through the Engine API where the engine is a
//! socket, an ssh host or a TLS `tcp://` one, through `docker ps` + `docker inspect`
//! where the CLI must resolve the engine itself (the default engine, contexts).

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::inspect::parse_inspect;
use super::{ContainerInfo, ContainerSummary, DockerCli, QUICK_TIMEOUT, Sieve, Summaries, api, stderr_line};
use crate::model::Endpoint;
use crate::process::exit_text;

impl DockerCli {
    /// The containers on `endpoint` that `sieve` keeps for a pass, with the HEALTHCHECK
    /// of those it says need it, and how many there are. An engine given by a `unix://`
    /// or `ssh://` host is asked through its API (one request, read as it comes, see
    /// `api`), and only the picked containers go to `docker inspect`; any other engine
    /// gets one `docker ps` and one `docker inspect` of everything, as `inventory`.
    pub(super) fn list_summaries(&self, endpoint: &Endpoint, sieve: &Sieve) -> Result<Summaries> {
        let Some(route) = self.api_route(endpoint) else {
            let all = self.list_inventory(endpoint)?.into_iter().map(ContainerSummary::from).collect();
            return Ok(Summaries::sift(all, sieve));
        };
        let ssh = self.ssh_wrapper.as_deref().unwrap_or(Path::new("ssh"));
        api::list(&route, ssh, QUICK_TIMEOUT, sieve)?.with_health(sieve, |ids| self.inspect_on(endpoint, ids))
    }

    /// Where healwatch asks `endpoint`'s API itself, for every call: a socket on this
    /// host (a `unix://` engine, or the default engine where it is a socket), or plain
    /// HTTP to a `tcp://` engine without TLS files (a socket proxy).
    pub(crate) fn api_address(&self, endpoint: &Endpoint) -> Option<api::Address> {
        match self.api_route(endpoint)? {
            api::Route::Direct(address) => Some(address),
            _ => None,
        }
    }

    /// Whether `endpoint` is an engine whose socket is on this host.
    pub(crate) fn socket_here(&self, endpoint: &Endpoint) -> bool {
        self.api_address(endpoint).is_some_and(|a| a.socket().is_some())
    }

    /// The route to `endpoint`'s API (see `api::route`), the default engine's included
    /// where healwatch may use it (see `default_api`). A plain `tcp://` engine goes to the
    /// CLI while the environment asks the CLI for TLS (`DOCKER_TLS_VERIFY`, `DOCKER_TLS`).
    fn api_route<'a>(&'a self, endpoint: &'a Endpoint) -> Option<api::Route<'a>> {
        let default = self.default_api.clone().filter(|_| *endpoint == Endpoint::Default);
        match api::route(endpoint).or(default.map(api::Route::Direct)) {
            Some(api::Route::Direct(api::Address::Tcp(_))) if super::default_engine::tls_from_environment() => None,
            route => route,
        }
    }

    /// Every container on `endpoint`, running or not: one `docker ps` and one `docker
    /// inspect`.
    pub(super) fn list_inventory(&self, endpoint: &Endpoint) -> Result<Vec<ContainerInfo>> {
        let ids = self.list_all_on(endpoint)?;
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        self.inspect_on(endpoint, &ids).with_context(|| format!("on {endpoint}"))
    }

    /// `docker inspect` of the given containers on `endpoint`, in one call.
    pub(crate) fn inspect_on(&self, endpoint: &Endpoint, containers: &[&str]) -> Result<Vec<ContainerInfo>> {
        if containers.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec!["inspect", "--type", "container", "--"];
        args.extend_from_slice(containers);
        let out = self.list_on(endpoint, &args)?;
        // A container removed between listing and inspecting makes inspect exit 1 while it
        // still prints the others: that race is not an error, anything else is.
        let only_missing = !out.stderr.is_empty() && out.stderr.lines().all(|l| l.contains("No such container"));
        let tolerable = out.success() || (out.exit_code == Some(1) && only_missing);
        if !tolerable {
            bail!("docker inspect failed ({}): {}", exit_text(out.exit_code), stderr_line(&out.stderr));
        }
        parse_inspect(&out.stdout)
    }

    /// Ids of every container on `endpoint`, running or not.
    pub(crate) fn list_all_on(&self, endpoint: &Endpoint) -> Result<Vec<String>> {
        let out = self.list_on(endpoint, &["ps", "--all", "--quiet", "--no-trunc"])?;
        if !out.success() {
            bail!("docker ps on {endpoint} failed ({}): {}", exit_text(out.exit_code), stderr_line(&out.stderr));
        }
        Ok(out.stdout.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
    }
}
