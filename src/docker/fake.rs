//! A recording docker for unit tests: what every container's state is, what restarts
//! exit with, what each engine lists; every call is recorded as `verb container ...`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use super::{CommandOutcome, ContainerInfo, ContainerState, ContainerSummary, Containers, Order};
use crate::model::{ContainerRef, ContainerStatus, DockerHealth, Endpoint, RestartPolicy};

/// Records docker calls; `status` is what inspect says, `restart_code` what restart exits with.
/// When every fake container started: 30 s before the unit tests' pass time
/// (`UNIX_EPOCH` + 1,795,000,000 s).
fn started_at() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000 - 30)
}

pub(crate) struct FakeDocker {
    status: &'static str,
    restart_code: i32,
    calls: Mutex<Vec<String>>,
    /// What successive inspects say, when scripted (the last one repeats).
    states: Mutex<std::collections::VecDeque<ContainerState>>,
    /// What successive full inspects say, when scripted (the last one repeats).
    infos: Mutex<std::collections::VecDeque<ContainerInfo>>,
    /// What each engine's listing gives: its containers, or why it cannot be listed.
    /// An engine not in the map cannot be reached.
    engines: BTreeMap<Endpoint, Result<Vec<ContainerInfo>, String>>,
    /// What every `docker exec` exits with.
    exec_code: i32,
    /// Whether the engine starts the execs (`false`: each runs out of time unstarted).
    exec_ran: bool,
    /// Why logs cannot be read, when they cannot (a logging driver that keeps none).
    logs_refused: Option<&'static str>,
    /// How often Docker's policy has restarted each container (its `RestartCount`).
    restart_count: u64,
    /// Whether nothing answers at the engine's address (every inspect says so, typed).
    engine_down: bool,
    /// What every create exits with (0: it makes the container).
    create_code: i32,
    /// Whether a socket proxy refuses every call that changes a container (GET only).
    orders_refused: bool,
    /// Whether it refuses execs alone (`EXEC=0`, the rest allowed).
    execs_refused: bool,
}

impl FakeDocker {
    /// A docker whose containers are all `status`, whose restarts exit `restart_code`.
    pub(crate) fn new(status: &'static str, restart_code: i32) -> Self {
        Self {
            status,
            restart_code,
            calls: Mutex::new(Vec::new()),
            states: Mutex::default(),
            infos: Mutex::default(),
            engines: BTreeMap::new(),
            exec_code: 0,
            exec_ran: true,
            logs_refused: None,
            restart_count: 0,
            engine_down: false,
            create_code: 0,
            orders_refused: false,
            execs_refused: false,
        }
    }

    /// The same behind a proxy that allows reads only: every order and exec is refused.
    pub(crate) fn with_orders_refused(mut self) -> Self {
        self.orders_refused = true;
        self
    }

    /// The same behind a proxy that allows orders but no exec (`EXEC=0`).
    pub(crate) fn with_execs_refused(mut self) -> Self {
        self.execs_refused = true;
        self
    }

    /// A refusal of `what`, as the API route reports a proxy's 403.
    fn refusal(what: &str) -> CommandOutcome {
        let stderr =
            format!("the engine's API, or a socket proxy before it, refused {what} (403): allow it with POST=1");
        CommandOutcome { stderr, refused: true, ..Self::outcome(1) }
    }

    /// The same, with every create refused (exit `code`).
    pub(crate) fn with_create_refused(mut self, code: i32) -> Self {
        self.create_code = code;
        self
    }

    /// The same, with an engine that does not answer: every inspect fails as the routes
    /// report that, `engine_down` set (whatever its words).
    pub(crate) fn with_engine_down(mut self) -> Self {
        self.engine_down = true;
        self
    }

    /// The same, with every container restarted `count` times by Docker's policy, last
    /// 30 s before the tests' now.
    pub(crate) fn with_restart_count(mut self, count: u64) -> Self {
        self.restart_count = count;
        self
    }

    /// The same, with every log read refused with `why`.
    pub(crate) fn with_logs_refused(mut self, why: &'static str) -> Self {
        self.logs_refused = Some(why);
        self
    }

    /// The same, with every `docker exec` exiting `code`.
    pub(crate) fn with_exec_code(mut self, code: i32) -> Self {
        self.exec_code = code;
        self
    }

    /// The same, with an engine too busy to start any exec in time.
    pub(crate) fn with_execs_unstarted(mut self) -> Self {
        self.exec_ran = false;
        self
    }

    /// The same, with successive full inspects giving `infos` in turn (the last repeats).
    pub(crate) fn with_infos(self, infos: Vec<ContainerInfo>) -> Self {
        *self.infos.lock().unwrap() = infos.into();
        self
    }

    /// The same, with successive inspects saying `status` and a start this many
    /// seconds after the usual one, in turn (the last repeats).
    pub(crate) fn with_states(self, states: &[(&str, u64)]) -> Self {
        *self.states.lock().unwrap() = states
            .iter()
            .map(|(status, later)| ContainerState {
                status: ContainerStatus::parse(status),
                started_at: Some(started_at() + Duration::from_secs(*later)),
                exit_code: Some(if *status == "running" { 0 } else { 1 }),
                restart_count: 0,
                created_at: Some(started_at()),
            })
            .collect();
        self
    }

    /// The same, with `endpoint` listing `containers` (or failing with that error).
    pub(crate) fn with_engine(mut self, endpoint: Endpoint, containers: Result<Vec<ContainerInfo>, &str>) -> Self {
        self.engines.insert(endpoint, containers.map_err(str::to_string));
        self
    }
    pub(crate) fn outcome(code: i32) -> CommandOutcome {
        CommandOutcome {
            exit_code: Some(code),
            duration: Duration::ZERO,
            stdout: String::new(),
            stdout_cut: false,
            stderr: if code == 0 { String::new() } else { "Error: No such container".into() },
            ran: true,
            engine_down: false,
            refused: false,
        }
    }
    /// Every call so far, as `verb container ...`.
    pub(crate) fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl Containers for FakeDocker {
    fn summaries(&self, endpoint: &Endpoint, sieve: &super::Sieve) -> anyhow::Result<super::Summaries> {
        let all = self.inventory(endpoint)?.into_iter().map(ContainerSummary::from).collect();
        Ok(super::Summaries::sift(all, sieve))
    }
    fn inventory(&self, endpoint: &Endpoint) -> anyhow::Result<Vec<ContainerInfo>> {
        self.calls.lock().unwrap().push(format!("list {}", endpoint.name()));
        match self.engines.get(endpoint) {
            Some(Ok(containers)) => Ok(containers.clone()),
            // A socket proxy's refusal, as the API client gives it (`table::refused`'s words).
            Some(Err(e)) if e.contains(" refused GET ") => Err(super::api::table::Refusal(e.clone()).into()),
            Some(Err(e)) => Err(anyhow::anyhow!("{e}")),
            None => Err(anyhow::anyhow!("Cannot connect to the Docker daemon at {endpoint}")),
        }
    }
    fn inspect(&self, c: &ContainerRef) -> anyhow::Result<ContainerInfo> {
        self.calls.lock().unwrap().push(format!("inspect-all {}", c.name));
        let mut script = self.infos.lock().unwrap();
        match script.len() {
            0 => self
                .inventory(&c.endpoint)?
                .into_iter()
                .find(|i| i.is(&c.name))
                .ok_or_else(|| anyhow::anyhow!("Error response from daemon: No such container: {}", c.name)),
            1 => Ok(script[0].clone()),
            _ => Ok(script.pop_front().expect("more than one")),
        }
    }
    fn state(&self, c: &ContainerRef) -> Result<ContainerState, CommandOutcome> {
        let c = &c.name;
        self.calls.lock().unwrap().push(format!("inspect {c}"));
        if self.engine_down {
            let stderr = "the engine's socket: connection refused".to_string();
            return Err(CommandOutcome { exit_code: None, stderr, ran: false, engine_down: true, ..Self::outcome(0) });
        }
        let mut script = self.states.lock().unwrap();
        if script.len() > 1 {
            return Ok(script.pop_front().expect("more than one"));
        }
        if let Some(last) = script.front() {
            return Ok(last.clone());
        }
        let status = ContainerStatus::parse(self.status);
        Ok(ContainerState {
            status,
            started_at: Some(started_at()),
            exit_code: Some(0),
            restart_count: self.restart_count,
            created_at: Some(started_at()),
        })
    }
    fn health(&self, c: &ContainerRef) -> Result<Option<DockerHealth>, CommandOutcome> {
        self.calls.lock().unwrap().push(format!("health {}", c.name));
        Ok(Some(DockerHealth::Healthy))
    }
    /// Notes the order; a restart, stop or kill ends with the scripted restart code,
    /// any other with success.
    fn order(&self, _: &ContainerRef, order: &Order) -> CommandOutcome {
        self.calls.lock().unwrap().push(order.name.clone());
        if self.orders_refused {
            return Self::refusal(&order.api.path);
        }
        let acts = ["restart ", "stop ", "kill "].iter().any(|a| order.name.starts_with(a));
        Self::outcome(if acts { self.restart_code } else { 0 })
    }
    fn inspect_json(&self, c: &ContainerRef) -> Result<serde_json::Value, CommandOutcome> {
        self.calls.lock().unwrap().push(format!("inspect-json {}", c.name));
        let info = self.inspect(c).map_err(|e| CommandOutcome { stderr: e.to_string(), ..Self::outcome(1) })?;
        let mode = info.network_mode.unwrap_or_default();
        Ok(serde_json::json!({"Id": info.id, "Name": format!("/{}", info.name), "Image": "sha256:fake",
            "Config": {"Cmd": ["serve"], "Labels": info.labels}, "HostConfig": {"NetworkMode": mode}, "Mounts": []}))
    }
    fn create(&self, c: &ContainerRef, body: &serde_json::Value) -> Result<String, CommandOutcome> {
        let mode = body["HostConfig"]["NetworkMode"].as_str().unwrap_or_default();
        self.calls.lock().unwrap().push(format!("create {} {mode}", c.name));
        match self.create_code {
            0 => Ok(format!("{}-new", c.name)),
            code => Err(Self::outcome(code)),
        }
    }
    fn exec(&self, c: &ContainerRef, argv: &[String], _: Duration) -> CommandOutcome {
        self.calls.lock().unwrap().push(format!("exec {} {}", c.name, argv.join(" ")));
        if self.orders_refused || self.execs_refused {
            return Self::refusal("POST /containers/NAME/exec");
        }
        if !self.exec_ran {
            let stderr = "the engine did not start it within 2s".to_string();
            return CommandOutcome { exit_code: None, stderr, ran: false, ..Self::outcome(0) };
        }
        Self::outcome(self.exec_code)
    }
    fn log_match(
        &self,
        c: &ContainerRef,
        _: SystemTime,
        _: SystemTime,
        pattern: &regex::Regex,
    ) -> Result<Option<String>, String> {
        self.calls.lock().unwrap().push(format!("logs {}", c.name));
        if let Some(why) = self.logs_refused {
            return Err(why.to_string());
        }
        Ok(pattern.is_match("FATAL out of memory").then(|| "FATAL out of memory".to_string()))
    }
    fn log_tail(&self, c: &ContainerRef, lines: usize) -> Result<Vec<String>, String> {
        self.calls.lock().unwrap().push(format!("tail {} {lines}", c.name));
        if let Some(why) = self.logs_refused {
            return Err(why.to_string());
        }
        Ok(vec!["starting".to_string(), "FATAL out of memory".to_string()])
    }
}

/// A running container named `name` with restart policy `policy` (Docker's words),
/// labelled `labels`.
pub(crate) fn container(name: &str, policy: &str, labels: &[(&str, &str)]) -> ContainerInfo {
    ContainerInfo {
        id: format!("{name}0123456789abcdef"),
        name: name.into(),
        status: ContainerStatus::Running,
        running: true,
        pid: 1,
        started_at: None,
        exit_code: Some(0),
        oom_killed: false,
        restart_policy: RestartPolicy::from_docker(policy, 0),
        restart_count: 0,
        healthcheck: false,
        health_test: Vec::new(),
        health: None,
        health_output: None,
        labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        network_mode: None,
        error: None,
    }
}

/// An engine named `name` reached at `host`.
pub(crate) fn engine(name: &str, host: &str) -> Endpoint {
    Endpoint::Engine { name: name.into(), via: Box::new(Endpoint::Host(host.into())), tls: None }
}
