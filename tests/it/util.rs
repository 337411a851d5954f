//! Test helpers: local HTTP servers on 127.0.0.1, a recording `docker` stand-in, and a
//! runner that shows the command and its output whenever an assertion fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How a test server answers.
#[derive(Clone)]
pub(crate) enum Behaviour {
    /// Always this status and body.
    Fixed(u16, &'static str),
    /// Accept, read the request, never answer (until the server is dropped or 30 s pass).
    Hang,
    /// 200 "ok" for the first `n` requests, then as `Hang`.
    HangAfter(usize),
    /// 503 for the first `n` requests, then 200 "ok".
    FailFirst(usize),
    /// 200 "ok" while `path` exists, else 503: the docker stand-in creates it on restart.
    WhileFileExists(PathBuf),
    /// A redirect to `/elsewhere`.
    Redirect,
    /// These statuses for the first requests, one each, then 200 "ok".
    Sequence(Vec<u16>),
    /// Whatever this says of the request's head and body: a stand-in for a service that
    /// checks what it is sent (the status, and the body to answer).
    Judge(fn(&str, &str) -> (u16, &'static str)),
}

/// A tiny HTTP/1.1 server on 127.0.0.1 that records every request head.
pub(crate) struct Server {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    pub(crate) fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let (reqs, stopping) = (Arc::clone(&requests), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (b, r, s, n) = (behaviour.clone(), Arc::clone(&reqs), Arc::clone(&stopping), Arc::clone(&served));
                std::thread::spawn(move || serve(stream, &b, &r, &s, &n));
            }
        });
        Self { port, requests, stop }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// Each request's (request line, head, body).
    pub(crate) fn received(&self) -> Vec<(String, String, String)> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| {
                let (head, body) = r.split_once("\r\n\r\n").unwrap_or((r, ""));
                (head.lines().next().unwrap_or("").to_string(), head.to_string(), body.to_string())
            })
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(
    stream: TcpStream,
    behaviour: &Behaviour,
    requests: &Mutex<Vec<String>>,
    stop: &AtomicBool,
    served: &AtomicUsize,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => head.push_str(&line),
        }
    }
    // Keep the body too (notifications are POSTs): "head\r\nbody".
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length.min(1 << 20)];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body = String::from_utf8_lossy(&body).into_owned();
    requests.lock().unwrap().push(format!("{head}\r\n{body}"));
    let n = served.fetch_add(1, Ordering::SeqCst);
    let (status, body, extra) = match behaviour {
        Behaviour::Fixed(status, body) => (*status, *body, ""),
        Behaviour::HangAfter(k) if n < *k => (200, "ok", ""),
        Behaviour::Hang | Behaviour::HangAfter(_) => {
            let until = Instant::now() + Duration::from_secs(30);
            while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(50));
            }
            return;
        }
        Behaviour::FailFirst(k) if n < *k => (503, "starting", ""),
        Behaviour::FailFirst(_) => (200, "ok", ""),
        Behaviour::WhileFileExists(path) if path.exists() => (200, "ok", ""),
        Behaviour::WhileFileExists(_) => (503, "down", ""),
        Behaviour::Redirect => (302, "", "Location: /elsewhere\r\n"),
        Behaviour::Sequence(statuses) => (statuses.get(n).copied().unwrap_or(200), "seq", ""),
        Behaviour::Judge(judge) => {
            let (status, answer) = judge(&head, &body);
            (status, answer, "")
        }
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
    let _ = reader.read(&mut [0; 1]);
}

/// A recording `docker` stand-in: appends its arguments to `calls`, says `running` to
/// inspect, and on restart exits with the code in `restart-exit` (default 0), printing
/// `restart-stderr` to stderr, and creates `healthy` so a `WhileFileExists` server recovers.
/// The listing a pass makes through the CLI before its checks, for its containers' state
/// (the stand-in lists no containers).
pub(crate) const LISTING: &str = "ps --all --quiet --no-trunc";

pub(crate) struct FakeDocker {
    pub dir: tempfile::TempDir,
}

impl FakeDocker {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = format!(
            r#"#!/bin/sh
d='{dir}'
echo "$*" >> "$d/calls"
if [ -f "$d/out-$1" ]; then cat "$d/out-$1"; exit 0; fi
case "$1" in
  ps) [ -f "$d/containers" ] && cat "$d/containers"; exit 0 ;;
  inspect)
    if [ "$2" = --type ] && [ -f "$d/containers" ]; then
      shift 4
      printf '['; sep=''
      for n in "$@"; do
        printf '%s{{"Id":"%s","Name":"/%s","State":{{"Status":"running","Running":true,"Pid":1}},"HostConfig":{{"RestartPolicy":{{"Name":"no"}}}},"Config":{{"Labels":{{}}}}}}' "$sep" "$n" "$n"
        sep=','
      done
      printf ']\n'; exit 0
    fi
    echo "${{FAKE_STATUS:-running}}"; exit 0 ;;
  exec) exit "$(cat "$d/exec-exit" 2>/dev/null || echo 0)" ;;
  restart)
    if [ -f "$d/restart-stderr" ]; then cat "$d/restart-stderr" >&2; fi
    code=$(cat "$d/restart-exit" 2>/dev/null || echo 0)
    [ "$code" = 0 ] && touch "$d/healthy"
    exit "$code" ;;
esac
exit 0
"#,
            dir = dir.path().display()
        );
        let path = dir.path().join("docker");
        std::fs::write(&path, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self { dir }
    }

    pub(crate) fn path(&self) -> PathBuf {
        self.dir.path().join("docker")
    }

    /// Makes the engine list these running containers (by default it lists none).
    pub(crate) fn with_containers(self, names: &[&str]) -> Self {
        std::fs::write(self.dir.path().join("containers"), names.join("\n") + "\n").unwrap();
        self
    }

    pub(crate) fn healthy_flag(&self) -> PathBuf {
        self.dir.path().join("healthy")
    }

    pub(crate) fn fail_restarts(&self, code: i32, stderr: &str) {
        std::fs::write(self.dir.path().join("restart-exit"), code.to_string()).unwrap();
        std::fs::write(self.dir.path().join("restart-stderr"), stderr).unwrap();
    }

    /// Makes `docker exec` exit with `code`.
    pub(crate) fn exec_exits(&self, code: i32) {
        std::fs::write(self.dir.path().join("exec-exit"), code.to_string()).unwrap();
    }

    /// Makes `docker SUBCOMMAND ...` print `text` and exit 0.
    pub(crate) fn set_output(&self, subcommand: &str, text: &str) {
        std::fs::write(self.dir.path().join(format!("out-{subcommand}")), text).unwrap();
    }

    pub(crate) fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls")).unwrap_or_default().lines().map(String::from).collect()
    }
}

/// The result of one healwatch run, with everything needed to explain a failure.
pub(crate) struct Run {
    pub command: String,
    pub output: Output,
    pub elapsed: Duration,
}

impl Run {
    pub(crate) fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }
    pub(crate) fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    /// The single status line, parsed.
    #[track_caller]
    pub(crate) fn status_line(&self) -> Value {
        let out = self.stdout();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1, "expected exactly one status line\n{self}");
        serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("status line is not JSON ({e})\n{self}"))
    }
    /// The entry for target `name`.
    #[track_caller]
    pub(crate) fn target(&self, name: &str) -> Value {
        let line = self.status_line();
        let found = line["targets"].as_array().and_then(|ts| ts.iter().find(|t| t["name"] == name).cloned());
        found.unwrap_or_else(|| panic!("no target {name:?} in the status line\n{self}"))
    }
    #[track_caller]
    pub(crate) fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code(), code, "unexpected exit status\n{self}");
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "command: {}\nexit: {:?} after {:?}\n--- stdout\n{}--- stderr\n{}---",
            self.command,
            self.output.status.code(),
            self.elapsed,
            self.stdout(),
            self.stderr()
        )
    }
}

/// A hermetic healwatch command: its own lock, HOME and state dir; no proxy, docker or
/// config variables from the caller's environment; DOCKER_HOST points nowhere unless the
/// test names an engine.
pub(crate) struct Healwatch {
    cmd: std::process::Command,
    _home: tempfile::TempDir,
}

impl Healwatch {
    pub(crate) fn new() -> Self {
        Self::hermetic(
            std::process::Command::new(assert_cmd::cargo::cargo_bin!("healwatch")),
            tempfile::tempdir().unwrap(),
        )
    }

    /// `cmd` (which runs healwatch) with nothing of the caller's environment, `home` its
    /// home and the place of its lock and state.
    fn hermetic(mut cmd: std::process::Command, home: tempfile::TempDir) -> Self {
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", home.path())
            .env("HEALWATCH_LOCK", home.path().join("healwatch.lock"))
            .env("HEALWATCH_STATE", home.path().join("state.json"))
            // Never the system daemon, nor the machine's own config: a test names its engine.
            .env("DOCKER_HOST", "unix:///nonexistent/healwatch-test-no-engine.sock")
            .env("HEALWATCH_DEFAULT_CONFIG", home.path().join("no-default-config.toml"));
        Self { cmd, _home: home }
    }

    /// Another build of healwatch (`binary`, another architecture's), run by `runner`
    /// (qemu-user), with the same hermetic environment.
    pub(crate) fn built_for(runner: &std::path::Path, binary: &std::path::Path) -> Self {
        let mut cmd = std::process::Command::new(runner);
        cmd.arg(binary);
        Self::hermetic(cmd, tempfile::tempdir().unwrap())
    }

    /// The same, run as `user` (with runuser, keeping this environment), its home, lock
    /// and state in a folder of that user's.
    pub(crate) fn as_user(user: &str) -> Self {
        let home = tempfile::tempdir().unwrap();
        let id = |flag: &str| {
            let out = std::process::Command::new("id").args([flag, user]).output().expect("running id");
            String::from_utf8_lossy(&out.stdout).trim().parse::<u32>().unwrap_or_else(|_| panic!("no user {user}"))
        };
        std::os::unix::fs::chown(home.path(), Some(id("-u")), Some(id("-g"))).expect("giving the home to the user");
        let runuser = which::which("runuser").expect("runuser (util-linux)");
        let mut cmd = std::process::Command::new(runuser);
        cmd.args(["-u", user, "-m", "--"]).arg(assert_cmd::cargo::cargo_bin!("healwatch"));
        Self::hermetic(cmd, home)
    }

    pub(crate) fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(mut self, args: I) -> Self {
        self.cmd.args(args);
        self
    }

    pub(crate) fn arg(self, arg: impl AsRef<std::ffi::OsStr>) -> Self {
        self.args([arg])
    }

    pub(crate) fn current_dir(mut self, dir: &std::path::Path) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    pub(crate) fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    pub(crate) fn docker(self, fake: &FakeDocker) -> Self {
        self.arg("--docker").arg(fake.path())
    }

    pub(crate) fn run(mut self) -> Run {
        let command = format!(
            "{} {}",
            self.cmd.get_program().to_string_lossy(),
            self.cmd.get_args().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
        );
        let start = Instant::now();
        let output = self.cmd.output().expect("running healwatch");
        Run { command, output, elapsed: start.elapsed() }
    }
}

/// A healwatch started in the background; `wait` collects it as a `Run`.
pub(crate) struct Running {
    command: String,
    child: std::process::Child,
    start: Instant,
    _home: tempfile::TempDir,
}

impl Running {
    /// The processes it has started and not yet reaped (its threads' children).
    pub(crate) fn children(&self) -> Vec<String> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id())).into_iter().flatten().flatten();
        tasks
            .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
            .flat_map(|c| c.split_whitespace().map(String::from).collect::<Vec<_>>())
            .collect()
    }

    /// Sends `signal` (a name such as `TERM`) to it.
    pub(crate) fn signal(&self, signal: &str) {
        let sent =
            std::process::Command::new("kill").args([&format!("-{signal}"), &self.child.id().to_string()]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -{signal} failed");
    }

    /// Waits for it, at most `bound` (then kills it, and the test fails on its output).
    pub(crate) fn wait(mut self, bound: Duration) -> Run {
        let deadline = Instant::now() + bound;
        while self.child.try_wait().expect("polling healwatch").is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let output = self.child.wait_with_output().expect("collecting healwatch");
        Run { command: self.command, output, elapsed: self.start.elapsed() }
    }
}

impl Healwatch {
    /// Starts it without waiting, its output collected by `Running::wait`.
    pub(crate) fn spawn(mut self) -> Running {
        let command = format!(
            "{} {}",
            self.cmd.get_program().to_string_lossy(),
            self.cmd.get_args().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
        );
        use std::process::Stdio;
        let child = self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("starting healwatch");
        Running { command, child, start: Instant::now(), _home: self._home }
    }
}

/// Writes `text` to a file in `dir` and returns its path.
pub(crate) fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A port on 127.0.0.1 that was free a moment ago (bound, then released): nothing
/// listens there, so a connection is refused, and a test container may take it.
///
/// No two calls in this process get the same port (tests run side by side), and the
/// ports lie below the kernel's ephemeral range, so no client's source port lands on
/// one while its container restarts. Binding port 0 gives neither promise.
pub(crate) fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Where this process starts in the span, so two test binaries seldom meet.
    let _ = NEXT.compare_exchange(0, 1 + std::process::id() * 97 % SPAN, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..SPAN {
        let port = LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN;
        if TcpListener::bind(("127.0.0.1", port as u16)).is_ok() {
            return port as u16;
        }
    }
    panic!("no free port in {LOW}..{}", LOW + SPAN)
}

/// `Ok` when `condition` holds: for `eventually` on a plain condition.
pub(crate) fn ready(condition: bool) -> Result<(), String> {
    if condition { Ok(()) } else { Err("not yet".to_string()) }
}

/// Polls `probe` every 20 ms until it gives `Ok`, for at most `within`; past that the
/// test fails, saying `what` was awaited and what the last look saw.
#[track_caller]
pub(crate) fn eventually<T>(within: Duration, what: &str, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + within;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => panic!("{what}: not within {within:?} (last: {last})"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// A Docker Engine API stand-in on a unix socket: answers every request with the raw
/// HTTP `answer` and records each request line. Served until dropped (at most 60 s).
pub(crate) struct FakeApi {
    dir: tempfile::TempDir,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl FakeApi {
    /// Answers every request with `answer`.
    pub(crate) fn start(answer: Vec<u8>) -> Self {
        Self::routed(Vec::new(), answer)
    }

    /// Answers a request whose line ("GET /containers/web/json HTTP/1.0") starts with a
    /// route's prefix with that route's answer, any other with `otherwise`.
    pub(crate) fn routed(routes: Vec<(String, Vec<u8>)>, otherwise: Vec<u8>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listener = std::os::unix::net::UnixListener::bind(dir.path().join("docker.sock")).unwrap();
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopped) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(60);
            while !stopped.load(Ordering::Relaxed) && Instant::now() < until {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 && stream.read(&mut byte).is_ok_and(|n| n == 1)
                {
                    head.push(byte[0]);
                }
                let line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().to_string();
                let answer = routes.iter().find(|(prefix, _)| line.starts_with(prefix.as_str())).map(|(_, a)| a);
                let _ = stream.write_all(answer.unwrap_or(&otherwise));
                seen.lock().unwrap().push(line);
            }
        });
        Self { dir, requests, stop }
    }

    /// `unix://` and the socket's path.
    pub(crate) fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }

    pub(crate) fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// An HTTP/1.0 answer with `status` and `body`, as the daemon gives.
pub(crate) fn api_answer(status: u16, body: &str) -> Vec<u8> {
    format!("HTTP/1.0 {status} X\r\nContent-Type: application/json\r\n\r\n{body}").into_bytes()
}
