//! The docker CLI: found once, run as a child process with an argument list (no shell),
//! the container name always after `--`, and every call bounded by a timeout.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};

use super::api::engine::{ApiEngine, LOG_SCAN_LIMIT, LOG_SCAN_TIMEOUT};
use super::{ContainerInfo, ContainerState, Containers, INSPECT_LIMIT, Order, QUICK_TIMEOUT, Sieve, Summaries};
use crate::model::{ContainerRef, DockerHealth, Endpoint};
use crate::process::{CommandOutcome, run_bounded, run_limited, scan_lines};

/// Where the docker CLI is looked for when no `--docker` is given: cron's PATH is often
/// only /usr/bin:/bin, so the usual install places are tried after PATH.
pub(super) const FALLBACK_PATHS: &[&str] = &["/usr/bin/docker", "/usr/local/bin/docker"];

#[derive(Debug, Clone)]
pub(crate) struct DockerCli {
    /// The CLI; `None` where there is none but the default engine is a socket on this
    /// host, which healwatch then asks for everything itself (see `locate`).
    path: Option<PathBuf>,
    /// PATH for commands to engines that may be reached over ssh: the connection-reuse
    /// wrapper first (see `reuse_ssh`).
    pub(super) ssh_path: Option<std::ffi::OsString>,
    /// The connection-reuse wrapper itself, for healwatch's own ssh (see `api`).
    pub(super) ssh_wrapper: Option<PathBuf>,
    /// The default engine's API, when healwatch may ask it itself (see
    /// `default_engine`): never when the CLI was named (`--docker`), whose own idea of
    /// the default engine is then trusted.
    pub(super) default_api: Option<super::api::Address>,
}

impl DockerCli {
    /// Finds the CLI: `explicit` (a path, or a name looked up on PATH), else `docker` on
    /// PATH, else the fallback paths. The error names every place tried.
    pub(crate) fn locate(explicit: Option<&Path>) -> Result<Self> {
        if let Some(given) = explicit {
            let found = if given.components().count() > 1 {
                given.is_file().then(|| given.to_path_buf())
            } else {
                which::which(given).ok()
            };
            return match found {
                Some(path) => Self::runnable(path),
                None => bail!(
                    "docker CLI '{}' (from --docker or HEALWATCH_DOCKER) not found: give the path of an executable",
                    given.display()
                ),
            };
        }
        let found = which::which("docker")
            .ok()
            .or_else(|| FALLBACK_PATHS.iter().map(Path::new).find(|p| p.is_file()).map(Path::to_path_buf));
        let default_api = super::default_engine::from_environment();
        if let Some(path) = found {
            return Ok(Self { default_api, ..Self::runnable(path)? });
        }
        // No CLI (healwatch's own image has none): the default engine's API is enough
        // when it is there (a socket here, or a socket proxy's `tcp://`), since every
        // call to it goes through the Engine API.
        let usable = |a: &super::api::Address| a.socket().is_none_or(is_socket);
        match default_api {
            Some(api) if usable(&api) => {
                Ok(Self { path: None, ssh_path: None, ssh_wrapper: None, default_api: Some(api) })
            }
            api => bail!(
                "docker CLI not found: tried `docker` on PATH ({}), {}, and no Docker socket is at {}; install the CLI, \
                 pass --docker PATH, or set DOCKER_HOST=unix:///PATH/TO/docker.sock (or tcp://HOST:PORT of a socket proxy)",
                std::env::var("PATH").unwrap_or_default(),
                FALLBACK_PATHS.join(", "),
                api.map_or_else(|| "the default place".into(), |a| a.show())
            ),
        }
    }

    /// Whether `endpoint` can only be reached through the CLI and there is none: a
    /// context, an ssh or `tcp://` engine, when healwatch found only a socket.
    pub(crate) fn lacks_cli_for(&self, endpoint: &Endpoint) -> bool {
        self.path.is_none() && self.api_address(endpoint).is_none()
    }

    /// The CLI at `path`, if it can run: an executable regular file that is a program
    /// (ELF) or a script (`#!`). Checked once, so a pass never finds out at its first
    /// restart that it could not have healed anything.
    fn runnable(path: PathBuf) -> Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(&path).with_context(|| format!("docker CLI {}", path.display()))?;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            bail!(
                "docker CLI {} is not executable (mode {:o}): chmod +x it, or pass --docker PATH",
                path.display(),
                meta.permissions().mode() & 0o7777
            );
        }
        let head =
            crate::files::read_head(&path, 4).with_context(|| format!("reading docker CLI {}", path.display()))?;
        if !(head.starts_with(b"\x7fELF") || head.starts_with(b"#!")) {
            bail!(
                "docker CLI {} is not a program (neither an ELF binary nor a #! script): pass --docker PATH",
                path.display()
            );
        }
        Ok(Self { path: Some(path), ssh_path: None, ssh_wrapper: None, default_api: None })
    }

    /// be reached over ssh.
    pub(crate) fn command(&self, endpoint: &Endpoint) -> Command {
        // Without a CLI, `Setup` refuses every engine that needs one (`lacks_cli_for`), so
        // this name is never run; were it run, it fails to start, naming `docker`.
        let mut command = Command::new(self.path.as_deref().unwrap_or(Path::new("docker")));
        command.args(endpoint.args());
        if let (Some(path), true) = (&self.ssh_path, endpoint.may_use_ssh()) {
            command.env("PATH", path);
        }
        command
    }

    /// What reaches the default engine, as `healwatch version` says it.
    pub(crate) fn describe(&self) -> String {
        match (&self.path, &self.default_api) {
            (Some(path), _) => path.display().to_string(),
            (None, Some(api)) => format!("none: the Engine API at {}", api.show()),
            (None, None) => "none".to_string(),
        }
    }

    /// Runs `docker ARGS...` and waits at most `timeout`.
    pub(crate) fn run(&self, args: &[&str], timeout: Duration) -> CommandOutcome {
        self.run_on(&Endpoint::Default, args, timeout)
    }

    /// Runs `docker [-H HOST | --context NAME] ARGS...` and waits at most `timeout`.
    pub(crate) fn run_on(&self, endpoint: &Endpoint, args: &[&str], timeout: Duration) -> CommandOutcome {
        let mut out = run_bounded(self.command(endpoint).args(args), timeout);
        out.engine_down = !out.success() && engine_unreachable(&out.stderr);
        out
    }

    /// As `run_on`, for a listing whose whole output is needed: more than `INSPECT_LIMIT`
    /// of it is an error, never a silently partial list.
    pub(super) fn list_on(&self, endpoint: &Endpoint, args: &[&str]) -> Result<CommandOutcome> {
        let out = run_limited(self.command(endpoint).args(args), QUICK_TIMEOUT, INSPECT_LIMIT);
        if out.stdout_cut {
            bail!("docker {} on {endpoint} printed more than {} MiB: not read", args[0], INSPECT_LIMIT >> 20);
        }
        Ok(out)
    }
}

/// The docker CLI's route to an engine: a child process for each call, bounded in time.
/// The `Containers` seam's other route is the Engine API's (`api::engine`).
#[derive(Clone, Copy)]
pub(crate) struct CliEngine<'a>(pub &'a DockerCli);

impl DockerCli {
    /// How healwatch reaches `endpoint`: through its API where it is a socket on this host
    /// (a `unix://` engine, or the default engine where it is a socket), else through the
    /// CLI. The one place that chooses; nothing else asks which route an engine is on.
    pub(crate) fn engine<'a>(&'a self, endpoint: &'a Endpoint) -> Box<dyn Containers + 'a> {
        match self.api_address(endpoint) {
            Some(at) => Box::new(ApiEngine { at }),
            None => Box::new(CliEngine(self)),
        }
    }
}

/// Every call goes to the route its engine is reached by (`DockerCli::engine`).
impl Containers for DockerCli {
    fn summaries(&self, endpoint: &Endpoint, sieve: &Sieve) -> Result<Summaries> {
        self.engine(endpoint).summaries(endpoint, sieve)
    }
    fn inventory(&self, endpoint: &Endpoint) -> Result<Vec<ContainerInfo>> {
        self.engine(endpoint).inventory(endpoint)
    }
    fn inspect(&self, c: &ContainerRef) -> Result<ContainerInfo> {
        self.engine(&c.endpoint).inspect(c)
    }
    fn state(&self, c: &ContainerRef) -> Result<ContainerState, CommandOutcome> {
        self.engine(&c.endpoint).state(c)
    }
    fn health(&self, c: &ContainerRef) -> Result<Option<DockerHealth>, CommandOutcome> {
        self.engine(&c.endpoint).health(c)
    }
    fn order(&self, c: &ContainerRef, order: &Order) -> CommandOutcome {
        self.engine(&c.endpoint).order(c, order)
    }
    fn inspect_json(&self, c: &ContainerRef) -> Result<serde_json::Value, CommandOutcome> {
        self.engine(&c.endpoint).inspect_json(c)
    }
    fn create(&self, c: &ContainerRef, body: &serde_json::Value) -> Result<String, CommandOutcome> {
        self.engine(&c.endpoint).create(c, body)
    }
    fn exec(&self, c: &ContainerRef, argv: &[String], timeout: Duration) -> CommandOutcome {
        self.engine(&c.endpoint).exec(c, argv, timeout)
    }
    fn log_match(
        &self,
        c: &ContainerRef,
        since: SystemTime,
        until: SystemTime,
        pattern: &regex::Regex,
    ) -> Result<Option<String>, String> {
        self.engine(&c.endpoint).log_match(c, since, until, pattern)
    }
    fn log_tail(&self, c: &ContainerRef, lines: usize) -> Result<Vec<String>, String> {
        self.engine(&c.endpoint).log_tail(c, lines)
    }
}

impl Containers for CliEngine<'_> {
    fn summaries(&self, endpoint: &Endpoint, sieve: &Sieve) -> Result<Summaries> {
        self.0.list_summaries(endpoint, sieve)
    }

    fn inventory(&self, endpoint: &Endpoint) -> Result<Vec<ContainerInfo>> {
        self.0.list_inventory(endpoint)
    }

    fn inspect(&self, c: &ContainerRef) -> Result<ContainerInfo> {
        self.0
            .inspect_on(&c.endpoint, &[&c.name])?
            .into_iter()
            .next()
            .with_context(|| format!("docker inspect returned nothing for '{}'", c.name))
    }

    fn state(&self, c: &ContainerRef) -> Result<ContainerState, CommandOutcome> {
        let args = ["inspect", "--type", "container", "--format", ContainerState::FORMAT, "--", &c.name];
        let out = self.0.run_on(&c.endpoint, &args, QUICK_TIMEOUT);
        if out.success() { Ok(ContainerState::parse(&out.stdout)) } else { Err(out) }
    }

    fn health(&self, c: &ContainerRef) -> Result<Option<DockerHealth>, CommandOutcome> {
        let format = "{{if .State.Health}}{{.State.Health.Status}}{{end}}";
        let args = ["inspect", "--type", "container", "--format", format, "--", &c.name];
        let out = self.0.run_on(&c.endpoint, &args, QUICK_TIMEOUT);
        if out.success() {
            Ok(Some(out.stdout).filter(|s| !s.is_empty()).map(|s| DockerHealth::parse(&s)))
        } else {
            Err(out)
        }
    }

    fn order(&self, c: &ContainerRef, order: &Order) -> CommandOutcome {
        let args: Vec<&str> = order.cli.iter().map(String::as_str).collect();
        self.0.run_on(&c.endpoint, &args, order.bound)
    }

    fn inspect_json(&self, c: &ContainerRef) -> Result<serde_json::Value, CommandOutcome> {
        let out = self.0.run_on(&c.endpoint, &["inspect", "--type", "container", "--", &c.name], QUICK_TIMEOUT);
        if !out.success() {
            return Err(out);
        }
        match serde_json::from_str::<serde_json::Value>(&out.stdout) {
            Ok(serde_json::Value::Array(mut all)) if !all.is_empty() => Ok(all.swap_remove(0)),
            _ => Err(CommandOutcome {
                exit_code: Some(1),
                stderr: format!("docker inspect of {} printed no container's JSON", c.name),
                ..out
            }),
        }
    }

    fn exec(&self, c: &ContainerRef, argv: &[String], timeout: Duration) -> CommandOutcome {
        let mut args: Vec<&str> = vec!["exec", "--", &c.name];
        args.extend(argv.iter().map(String::as_str));
        self.0.run_on(&c.endpoint, &args, timeout)
    }

    fn log_match(
        &self,
        c: &ContainerRef,
        since: SystemTime,
        until: SystemTime,
        pattern: &regex::Regex,
    ) -> Result<Option<String>, String> {
        let since = crate::model::rfc3339::timestamp_nanos(since);
        let until = crate::model::rfc3339::timestamp_nanos(until);
        let mut command = self.0.command(&c.endpoint);
        command.args(["logs", "--since", &since, "--until", &until, "--", &c.name]);
        scan_lines(&mut command, pattern, LOG_SCAN_TIMEOUT, LOG_SCAN_LIMIT)
    }

    fn log_tail(&self, c: &ContainerRef, lines: usize) -> Result<Vec<String>, String> {
        let count = lines.to_string();
        let out = self.0.run_on(&c.endpoint, &["logs", "--tail", &count, "--", &c.name], QUICK_TIMEOUT);
        if !out.success() {
            return Err(format!("docker logs failed: {}", super::stderr_line(&out.stderr)));
        }
        // The CLI splits the streams: the last lines of each, error output last.
        let mut all: Vec<String> = out.stdout.lines().chain(out.stderr.lines()).map(str::to_string).collect();
        Ok(all.split_off(all.len().saturating_sub(lines)))
    }
}

/// Whether the CLI's error output says the engine could not be reached at all (the
/// daemon is down, its socket is gone, ssh failed), not something about the container:
/// the CLI says it only in words, so its route reads them once, here, into the typed
/// `CommandOutcome::engine_down`.
fn engine_unreachable(stderr: &str) -> bool {
    let text = stderr.to_ascii_lowercase();
    [
        "cannot connect to the docker daemon",
        "is the docker daemon running",
        "error during connect",
        "connection refused",
        "connection timed out",
        "no route to host",
        "host is unreachable",
        "could not resolve hostname",
        "no such host",
        "ssh: ",
    ]
    .iter()
    .any(|sign| text.contains(sign))
}

/// Whether `path` is a socket (following links, as connecting does).
fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

#[cfg(test)]
impl DockerCli {
    /// A CLI at `path`, for tests that never run it.
    pub(crate) fn at(path: &str) -> Self {
        Self { path: Some(PathBuf::from(path)), ssh_path: None, ssh_wrapper: None, default_api: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_engines_are_told_from_container_errors() {
        for down in [
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
            "error during connect: Get \"http://%2Fvar%2Frun%2Fdocker.sock/v1.47/containers/json\": dial unix /x: connect: no such file or directory",
            "error during connect: ssh: connect to host web-2 port 22: Connection refused",
        ] {
            assert!(engine_unreachable(down), "{down}");
        }
        for container in ["Error response from daemon: No such container: app", "Error: container app is not running"] {
            assert!(!engine_unreachable(container), "{container}");
        }
    }

    #[test]
    fn explicit_docker_path_must_exist() {
        let err = DockerCli::locate(Some(Path::new("/nonexistent/docker"))).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/docker") && err.contains("--docker"), "{err}");
    }
}
