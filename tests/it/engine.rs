//! A handle on the private Docker engine that scripts/test.sh starts, and test
//! containers made from its busybox image. Each container is named after its test,
//! listens on its own 127.0.0.1 port with --network host, and is removed on drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::util::{Healwatch, eventually, free_port};

/// What a docker command did (its output trimmed).
#[derive(Debug)]
pub(crate) struct CommandOutcome {
    /// Exit code; `None` when it could not run or was killed.
    pub exit_code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CommandOutcome {
    /// Whether it exited 0.
    pub(crate) fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// Runs `argv` (which bounds itself, e.g. under `timeout`) with no stdin, its output trimmed.
pub(crate) fn run_bounded(argv: &[&str]) -> CommandOutcome {
    run_bounded_with(argv, &[])
}

pub(crate) fn run_bounded_with(argv: &[&str], env: &[(&str, &str)]) -> CommandOutcome {
    let out =
        Command::new(argv[0]).args(&argv[1..]).envs(env.iter().copied()).stdin(std::process::Stdio::null()).output();
    match out {
        Ok(out) => CommandOutcome {
            exit_code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).trim().to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        },
        Err(e) => {
            CommandOutcome { exit_code: None, stdout: String::new(), stderr: format!("could not run {}: {e}", argv[0]) }
        }
    }
}

/// Waits until `app` was started again after `before` (its `State.StartedAt`).
#[track_caller]
pub(crate) fn restarted(app: &Container, before: std::time::SystemTime, within: Duration) {
    eventually(within, &format!("{} started again", app.name), || {
        let now = app.started_at();
        if now != before { Ok(()) } else { Err(format!("StartedAt still {now:?}")) }
    });
}

/// The engine the tests talk to (DOCKER_HOST from scripts/test.sh).
pub(crate) struct Engine {
    pub docker: PathBuf,
    pub host: String,
    pub image: String,
}

impl Engine {
    /// The engine. The end-to-end tests are `#[ignore]`d, so they run only when asked
    /// for (scripts/test.sh runs them with `--include-ignored`): then a missing engine
    /// fails them, it never passes them silently.
    pub(crate) fn get() -> &'static Engine {
        static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
        match ENGINE.get_or_init(Engine::connect) {
            Ok(engine) => engine,
            Err(why) => panic!("the Docker engine is unusable ({why}): run scripts/test.sh, which starts one"),
        }
    }

    fn connect() -> Result<Engine, String> {
        let host = std::env::var("DOCKER_HOST").map_err(|_| "DOCKER_HOST is not set".to_string())?;
        let docker = which::which("docker").map_err(|e| format!("no docker CLI: {e}"))?;
        let image = std::env::var("HEALWATCH_TEST_IMAGE").unwrap_or_else(|_| "healwatch-test:latest".into());
        let engine = Engine { docker, host, image };
        let info = engine.docker(&["image", "inspect", "--format", "{{.Id}}", &engine.image]);
        if !info.success() {
            return Err(format!("image {} not found on {}: {}", engine.image, engine.host, info.stderr));
        }
        Ok(engine)
    }

    /// Runs the docker CLI against the engine, bounded to 60 s.
    pub(crate) fn docker(&self, args: &[&str]) -> CommandOutcome {
        self.docker_on(&self.host, args)
    }

    /// Runs the docker CLI against the engine at `host`, bounded to 60 s.
    pub(crate) fn docker_on(&self, host: &str, args: &[&str]) -> CommandOutcome {
        // coreutils' timeout bounds the CLI (and kills it past the bound).
        let docker = self.docker.to_string_lossy();
        let full: Vec<&str> =
            ["timeout", "--kill-after=5", "60", &docker].into_iter().chain(args.iter().copied()).collect();
        run_bounded_with(&full, &[("DOCKER_HOST", host)])
    }

    /// The second private engine (scripts/test.sh starts it).
    pub(crate) fn second_host(&self) -> String {
        std::env::var("HEALWATCH_SECOND_DOCKER_HOST")
            .expect("HEALWATCH_SECOND_DOCKER_HOST is not set: run scripts/test.sh, which starts a second engine")
    }

    /// A healwatch command wired to this engine, finding the docker CLI as shipped (on
    /// PATH, so the default engine's socket is asked through its API for listings and
    /// events), or told where it is when it is elsewhere.
    pub(crate) fn healwatch(&self) -> Healwatch {
        let healwatch = Healwatch::new().env("DOCKER_HOST", &self.host);
        let found = ["/usr/bin/docker", "/bin/docker", "/usr/local/bin/docker"];
        match found.iter().any(|p| std::path::Path::new(p).is_file()) {
            true => healwatch,
            false => healwatch.env("HEALWATCH_DOCKER", &self.docker),
        }
    }
}

/// Discovery (`--discover`, `--unhealthy`) sees every container on an engine, so a test
/// whose containers it could act on (`healwatch.` labels, or a HEALTHCHECK) and a test
/// that runs it take turns. `Container::start` refuses such a container to a test that has
/// not taken its turn, so none can forget.
pub(crate) struct Turn {
    _serial: std::sync::MutexGuard<'static, ()>,
}

static TURNS: std::sync::Mutex<()> = std::sync::Mutex::new(());

thread_local! {
    /// Whether this test (its thread) holds the turn.
    static HOLDS_TURN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Turn {
    /// Waits for the turn; it ends when the `Turn` is dropped (after the test's
    /// containers, which it must be taken before).
    pub(crate) fn take() -> Self {
        let serial = TURNS.lock().unwrap_or_else(|e| e.into_inner());
        HOLDS_TURN.set(true);
        Self { _serial: serial }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        HOLDS_TURN.set(false);
    }
}

/// A container whose process exits with status 3 a second after every start, with a
/// restart policy (`unless-stopped`: Docker keeps bringing it back; `no`: it stays
/// exited). Removed when dropped.
pub(crate) struct CrashLoop {
    engine: &'static Engine,
    pub name: String,
}

impl CrashLoop {
    pub(crate) fn start(engine: &'static Engine, test: &str, restart: &str) -> Self {
        let name = format!("hw-{test}-{}", std::process::id());
        let _ = engine.docker(&["rm", "-f", &name]);
        let args = ["run", "-d", "--pull", "never", "--name", &name, "--network", "host", "--restart", restart];
        let out = engine.docker(
            &[
                &args[..],
                &[
                    &engine.image,
                    "/bin/sh",
                    "-c",
                    "echo starting; echo config missing: DATABASE_URL >&2; sleep 1; exit 3",
                ],
            ]
            .concat(),
        );
        assert!(out.success(), "{out:?}");
        Self { engine, name }
    }
}

impl Drop for CrashLoop {
    fn drop(&mut self) {
        let _ = self.engine.docker(&["rm", "-f", &self.name]);
    }
}

/// Options for a test container.
#[derive(Default, Clone)]
pub(crate) struct Spec {
    /// Labels; `{port}` in a value becomes the container's port.
    pub labels: Vec<(String, String)>,
    /// The engine, when not the default one.
    pub host: Option<String>,
    /// Run tini as PID 1 so the service gets SIGTERM (otherwise httpd as PID 1 ignores it).
    pub init: bool,
    /// Start without writing the health file: /health answers 404 after every start.
    pub never_healthy: bool,
    /// `--restart` policy.
    pub restart: Option<&'static str>,
    /// A Docker HEALTHCHECK (`--health-cmd`).
    pub healthcheck: bool,
    /// `--log-driver`, when not the engine's default.
    pub log_driver: Option<&'static str>,
}

/// A running test container serving /health on its own 127.0.0.1 port.
pub(crate) struct Container {
    pub name: String,
    pub port: u16,
    host: String,
    engine: &'static Engine,
}

impl Container {
    #[track_caller]
    pub(crate) fn start(engine: &'static Engine, test: &str, spec: Spec) -> Self {
        // What discovery acts on: `healwatch.` labels, or a HEALTHCHECK (`--unhealthy all`).
        let visible = spec.labels.iter().any(|(k, _)| k.starts_with("healwatch.")) || spec.healthcheck;
        assert!(!visible || HOLDS_TURN.get(), "{test}: discovery could act on this container: take Turn::take() first");
        let name = format!("hw-{test}-{}", std::process::id());
        let port = free_port();
        let host = spec.host.clone().unwrap_or_else(|| engine.host.clone());
        let _ = engine.docker_on(&host, &["rm", "-f", &name]);
        let labels: Vec<String> =
            spec.labels.iter().map(|(k, v)| format!("{k}={}", v.replace("{port}", &port.to_string()))).collect();
        let port_arg = port.to_string();
        let mut args = vec!["run", "-d", "--pull", "never", "--name", &name, "--network", "host"];
        if spec.init {
            args.push("--init");
        }
        if let Some(policy) = spec.restart {
            args.extend(["--restart", policy]);
        }
        if spec.healthcheck {
            args.extend(["--health-cmd", "test -f /www/health", "--health-interval", "1s", "--health-retries", "1"]);
        }
        for label in &labels {
            args.extend(["--label", label.as_str()]);
        }
        if let Some(driver) = spec.log_driver {
            args.extend(["--log-driver", driver]);
        }
        args.extend([engine.image.as_str(), "/bin/serve", &port_arg]);
        if spec.never_healthy {
            args.push("nohealth");
        }
        let out = engine.docker_on(&host, &args);
        assert!(out.success(), "docker {args:?} failed: {out:?}");
        let container = Self { name, port, host, engine };
        let want = if spec.never_healthy { 404 } else { 200 };
        container.wait_for_status(want, Duration::from_secs(20));
        container
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/health", self.port)
    }

    pub(crate) fn target(&self) -> String {
        format!("{}={}", self.name, self.url())
    }

    /// `docker inspect --format TEMPLATE`.
    #[track_caller]
    pub(crate) fn inspect(&self, template: &str) -> String {
        let out = self.engine.docker_on(&self.host, &["inspect", "--format", template, &self.name]);
        assert!(out.success(), "inspect {}: {out:?}", self.name);
        out.stdout
    }

    /// `State.StartedAt`, parsed: compared as a time, never as text (Docker trims
    /// trailing zeros of the nanoseconds, so the text does not sort).
    #[track_caller]
    pub(crate) fn started_at(&self) -> std::time::SystemTime {
        let text = self.inspect("{{.State.StartedAt}}");
        humantime::parse_rfc3339(&text).unwrap_or_else(|e| panic!("StartedAt {text:?} of {}: {e}", self.name))
    }

    /// Waits (bounded) until `docker inspect --format FORMAT` prints `want`.
    #[track_caller]
    pub(crate) fn wait_for_inspect(&self, format: &str, want: &str, within: Duration) {
        eventually(within, &format!("{}: {format} printing {want:?}", self.name), || {
            let last = self.inspect(format);
            if last == want { Ok(()) } else { Err(format!("{last:?}")) }
        });
    }

    #[track_caller]
    pub(crate) fn docker(&self, args: &[&str]) -> CommandOutcome {
        let mut full: Vec<&str> = args.to_vec();
        full.push(&self.name);
        let out = self.engine.docker_on(&self.host, &full);
        assert!(out.success(), "docker {full:?}: {out:?}");
        out
    }

    /// Waits (bounded) until /health answers `status`.
    #[track_caller]
    pub(crate) fn wait_for_status(&self, status: u16, within: Duration) {
        eventually(within, &format!("{} answering {status}", self.name), || {
            let last = http_status(self.port, "/health");
            if last == Some(status) { Ok(()) } else { Err(format!("{last:?}")) }
        });
    }
}

impl Container {
    /// Makes /health answer 404 while the process keeps running.
    #[track_caller]
    pub(crate) fn break_health(&self) {
        let out = self.engine.docker_on(&self.host, &["exec", &self.name, "rm", "/www/health"]);
        assert!(out.success(), "breaking {}: {out:?}", self.name);
        self.wait_for_status(404, Duration::from_secs(5));
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.engine.docker_on(&self.host, &["rm", "-f", &self.name]);
    }
}

/// The status of `GET path` on 127.0.0.1:port, or `None` (refused, timeout, garbage).
pub(crate) fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}
