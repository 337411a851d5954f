//! The docker CLI: found once, run as a child process with an argument list (no shell),
//! the container name always after `--`, and every call bounded by a timeout.
//! `Containers` is the seam the pass uses, so the core runs in tests with a fake.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};

use crate::model::{Action, ContainerRef, ContainerStatus, DockerHealth, Endpoint, RestartPolicy, show_ms};

/// Where the docker CLI is looked for when no `--docker` is given: cron's PATH is often
/// only /usr/bin:/bin, so the usual install places are tried after PATH.
pub const FALLBACK_PATHS: &[&str] = &["/usr/bin/docker", "/usr/local/bin/docker"];

/// Extra time a `docker restart` gets beyond its stop timeout (for the start) before it is killed.
pub const RESTART_MARGIN: Duration = Duration::from_secs(15);

/// Bound on quick docker calls (inspect, unpause).
pub const QUICK_TIMEOUT: Duration = Duration::from_secs(10);

/// What a docker command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutcome {
    /// Exit code; `None` when it could not be started, was killed or died by a signal.
    pub exit_code: Option<i32>,
    /// Wall time of the child.
    pub duration: Duration,
    /// Its standard output, trimmed (its tail, when longer than the limit).
    pub stdout: String,
    /// Whether standard output was longer than the limit, so `stdout` is only its tail.
    pub stdout_cut: bool,
    /// Its standard error, trimmed; or why it could not run or was killed.
    pub stderr: String,
}

impl CommandOutcome {
    /// Whether the command ran and exited 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// Container actions a pass needs.
pub trait Containers: Sync {
    /// `State.Status` and `State.StartedAt`, or the failed inspect.
    fn state(&self, container: &ContainerRef) -> Result<ContainerState, CommandOutcome>;
    /// `State.Health.Status` (`None` without a HEALTHCHECK), or the failed inspect.
    fn health(&self, container: &ContainerRef) -> Result<Option<DockerHealth>, CommandOutcome>;
    /// `docker unpause`.
    fn unpause(&self, container: &ContainerRef) -> CommandOutcome;
    /// `docker kill --signal CONT`: wakes a stopped PID 1 (and, through an init, its child).
    fn wake(&self, container: &ContainerRef) -> CommandOutcome;
    /// `docker restart -t <secs>` (a stopped container is started), `docker stop -t <secs>`
    /// or `docker kill`. `Action::Notify` runs nothing.
    fn act(&self, container: &ContainerRef, action: Action, stop_timeout: Duration) -> CommandOutcome;
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
}

/// Bound on one log scan, in time.
pub const LOG_SCAN_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on one log scan, in bytes: past it the scan stops (no match found).
pub const LOG_SCAN_LIMIT: u64 = 1 << 30;
/// A longer log line is matched on its first this many bytes.
pub const LOG_LINE_LIMIT: usize = 64 * 1024;

/// The little a pass needs to know about a container before restarting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    /// `State.Status`.
    pub status: ContainerStatus,
    /// `State.StartedAt`; `None` when never started or unreadable.
    pub started_at: Option<SystemTime>,
}

impl ContainerState {
    /// Reads `{{.State.Status}} {{.State.StartedAt}}`.
    pub fn parse(text: &str) -> Self {
        let mut words = text.split_whitespace();
        let status = ContainerStatus::parse(words.next().unwrap_or_default());
        // Docker writes 0001-01-01T00:00:00Z for "never": that does not parse, and means None.
        let started_at = words.next().and_then(|t| humantime::parse_rfc3339(t).ok());
        Self { status, started_at }
    }
}

/// The real docker CLI. DOCKER_HOST and DOCKER_CONTEXT pass through the environment.
#[derive(Debug, Clone)]
pub struct DockerCli {
    path: PathBuf,
    /// PATH for commands to engines that may be reached over ssh: the connection-reuse
    /// wrapper first (see `reuse_ssh`).
    ssh_path: Option<std::ffi::OsString>,
    /// The connection-reuse wrapper itself, for healwatch's own ssh (see `engine_api`).
    ssh_wrapper: Option<PathBuf>,
}

/// How long an ssh connection to an engine stays open after its last use: longer than
/// the shipped timer's 15 s, so one connection serves run after run.
pub const SSH_PERSIST: &str = "60s";

impl DockerCli {
    /// Finds the CLI: `explicit` (a path, or a name looked up on PATH), else `docker` on
    /// PATH, else the fallback paths. The error names every place tried.
    pub fn locate(explicit: Option<&Path>) -> Result<Self> {
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
        if let Ok(path) = which::which("docker") {
            return Self::runnable(path);
        }
        if let Some(path) = FALLBACK_PATHS.iter().map(Path::new).find(|p| p.is_file()) {
            return Self::runnable(path.to_path_buf());
        }
        bail!(
            "docker CLI not found: tried `docker` on PATH ({}), {}; install it or pass --docker PATH",
            std::env::var("PATH").unwrap_or_default(),
            FALLBACK_PATHS.join(", ")
        )
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
        Ok(Self { path, ssh_path: None, ssh_wrapper: None })
    }

    /// Makes commands to engines reached over ssh share one connection per engine, as
    /// ssh's ControlMaster does: writes `dir/ssh`, a wrapper that runs the ssh on PATH
    /// with `ControlMaster=auto`, `ControlPath=dir/%C` and `ControlPersist`, and puts
    /// `dir` first on those commands' PATH (the docker CLI runs `ssh` from PATH). `dir`
    /// is made private (0700); an existing one must be a directory of this user that
    /// no one else may write, never a link. The connection outlives the pass by
    /// `SSH_PERSIST`, so the next pass pays no handshake.
    pub fn reuse_ssh(&mut self, dir: &Path) -> Result<()> {
        let ssh = which::which("ssh").context("ssh is not on PATH")?;
        self.reuse_ssh_with(&ssh, dir)
    }

    /// As `reuse_ssh`, with the ssh program at `ssh`.
    fn reuse_ssh_with(&mut self, ssh: &Path, dir: &Path) -> Result<()> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        fn quotable(p: &Path) -> Option<&str> {
            p.to_str().filter(|t| !t.contains(['\'', '\n', '\r', '\0']))
        }
        let (Some(ssh_text), Some(dir_text)) = (quotable(ssh), quotable(dir)) else {
            bail!("{} or {} holds a quote or a line break", ssh.display(), dir.display());
        };
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
        let meta = std::fs::symlink_metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
        let euid = rustix::process::geteuid().as_raw();
        if !meta.is_dir() || meta.uid() != euid || meta.mode() & 0o022 != 0 {
            bail!("{} must be a directory of this user that others cannot write (and not a link)", dir.display());
        }
        let script = format!(
            "#!/bin/sh\n# Written by healwatch: one ssh connection per Docker engine, kept {SSH_PERSIST} after its last use.\n\
             exec '{ssh_text}' -o ControlMaster=auto -o 'ControlPath={dir_text}/%C' -o ControlPersist={SSH_PERSIST} \"$@\"\n"
        );
        let wrapper = dir.join("ssh");
        let current = crate::files::read_bounded(&wrapper, 4096, crate::files::Link::Refuse).unwrap_or_default();
        if current != script.as_bytes() {
            crate::atomic::write_with_mode(&wrapper, script.as_bytes(), 0o700)?;
        }
        let mut path = dir.as_os_str().to_os_string();
        if let Some(rest) = std::env::var_os("PATH").filter(|p| !p.is_empty()) {
            path.push(":");
            path.push(rest);
        }
        self.ssh_path = Some(path);
        self.ssh_wrapper = Some(wrapper);
        Ok(())
    }

    /// `docker [engine args]`, with the ssh wrapper first on PATH for engines that may
    /// be reached over ssh.
    fn command(&self, endpoint: &Endpoint) -> Command {
        let mut command = Command::new(&self.path);
        command.args(endpoint.args());
        if let (Some(path), true) = (&self.ssh_path, endpoint.may_use_ssh()) {
            command.env("PATH", path);
        }
        command
    }

    /// The CLI's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `docker ARGS...` and waits at most `timeout`.
    pub fn run(&self, args: &[&str], timeout: Duration) -> CommandOutcome {
        self.run_on(&Endpoint::Default, args, timeout)
    }

    /// Runs `docker [-H HOST | --context NAME] ARGS...` and waits at most `timeout`.
    pub fn run_on(&self, endpoint: &Endpoint, args: &[&str], timeout: Duration) -> CommandOutcome {
        run_bounded(self.command(endpoint).args(args), timeout)
    }

    /// As `run_on`, for a listing whose whole output is needed: more than `INSPECT_LIMIT`
    /// of it is an error, never a silently partial list.
    fn list_on(&self, endpoint: &Endpoint, args: &[&str]) -> Result<CommandOutcome> {
        let out = run_limited(self.command(endpoint).args(args), QUICK_TIMEOUT, INSPECT_LIMIT);
        if out.stdout_cut {
            bail!("docker {} on {endpoint} printed more than {} MiB: not read", args[0], INSPECT_LIMIT >> 20);
        }
        Ok(out)
    }
}

impl Containers for DockerCli {
    fn state(&self, c: &ContainerRef) -> Result<ContainerState, CommandOutcome> {
        let format = "{{.State.Status}} {{.State.StartedAt}}";
        let out = self.run_on(
            &c.endpoint,
            &["inspect", "--type", "container", "--format", format, "--", &c.name],
            QUICK_TIMEOUT,
        );
        if out.success() { Ok(ContainerState::parse(&out.stdout)) } else { Err(out) }
    }

    fn health(&self, c: &ContainerRef) -> Result<Option<DockerHealth>, CommandOutcome> {
        let format = "{{if .State.Health}}{{.State.Health.Status}}{{end}}";
        let out = self.run_on(
            &c.endpoint,
            &["inspect", "--type", "container", "--format", format, "--", &c.name],
            QUICK_TIMEOUT,
        );
        if out.success() {
            Ok(Some(out.stdout).filter(|s| !s.is_empty()).map(|s| DockerHealth::parse(&s)))
        } else {
            Err(out)
        }
    }

    fn unpause(&self, c: &ContainerRef) -> CommandOutcome {
        self.run_on(&c.endpoint, &["unpause", "--", &c.name], QUICK_TIMEOUT)
    }

    fn wake(&self, c: &ContainerRef) -> CommandOutcome {
        self.run_on(&c.endpoint, &["kill", "--signal", "CONT", "--", &c.name], QUICK_TIMEOUT)
    }

    fn exec(&self, c: &ContainerRef, argv: &[String], timeout: Duration) -> CommandOutcome {
        let mut args: Vec<&str> = vec!["exec", "--", &c.name];
        args.extend(argv.iter().map(String::as_str));
        self.run_on(&c.endpoint, &args, timeout)
    }

    fn log_match(
        &self,
        c: &ContainerRef,
        since: SystemTime,
        until: SystemTime,
        pattern: &regex::Regex,
    ) -> Result<Option<String>, String> {
        let since = humantime::format_rfc3339_nanos(since).to_string();
        let until = humantime::format_rfc3339_nanos(until).to_string();
        let mut command = self.command(&c.endpoint);
        command.args(["logs", "--since", &since, "--until", &until, "--", &c.name]);
        scan_lines(&mut command, pattern, LOG_SCAN_TIMEOUT, LOG_SCAN_LIMIT)
    }

    fn act(&self, c: &ContainerRef, action: Action, stop_timeout: Duration) -> CommandOutcome {
        let secs = whole_seconds(stop_timeout).to_string();
        let bound = stop_timeout + RESTART_MARGIN;
        match action {
            Action::Restart => self.run_on(&c.endpoint, &["restart", "-t", &secs, "--", &c.name], bound),
            Action::Stop => self.run_on(&c.endpoint, &["stop", "-t", &secs, "--", &c.name], bound),
            Action::Kill => self.run_on(&c.endpoint, &["kill", "--", &c.name], QUICK_TIMEOUT),
            Action::Notify => CommandOutcome {
                exit_code: Some(0),
                duration: Duration::ZERO,
                stdout: String::new(),
                stdout_cut: false,
                stderr: String::new(),
            },
        }
    }
}

/// Whether a docker command failed because the engine could not be reached (the
/// daemon is down, its socket is gone, ssh failed), not because of the container.
pub fn engine_unreachable(stderr: &str) -> bool {
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

/// Docker takes whole seconds; round up so a 500ms stop timeout does not become a kill.
pub fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// At most this much of each stream of a docker command is kept (its tail): enough
/// for any error message, and a bound on what a misbehaving CLI can make healwatch hold.
pub const OUTPUT_LIMIT: usize = 4 * 1024;
/// The bound on `docker inspect`'s JSON for a whole engine (about 10,000 containers).
pub const INSPECT_LIMIT: usize = 64 << 20;

/// Runs a child with no stdin, keeps the tail of its output (`OUTPUT_LIMIT` of each
/// stream), and kills it after `timeout`.
pub fn run_bounded(command: &mut Command, timeout: Duration) -> CommandOutcome {
    run_limited(command, timeout, OUTPUT_LIMIT)
}

/// As `run_bounded`, keeping up to `stdout_limit` of standard output. The child runs in
/// its own process group: a timeout or a signal to healwatch kills the whole group, so
/// a wrapper script's grandchildren die with it. Its pipes are read in the same loop
/// that waits for it, so no thread is needed.
pub fn run_limited(command: &mut Command, timeout: Duration, stdout_limit: usize) -> CommandOutcome {
    run_child(command.stdin(Stdio::null()), None, timeout, stdout_limit)
}

/// As `run_limited`, with `input` (at most a pipe's buffer, so writing never blocks) on
/// its standard input, which stays open until the child exits: a `docker system
/// dial-stdio` would otherwise pass the end of input on to the daemon mid-request.
pub fn run_with_input(command: &mut Command, input: &[u8], timeout: Duration, stdout_limit: usize) -> CommandOutcome {
    run_child(command.stdin(Stdio::piped()), Some(input), timeout, stdout_limit)
}

fn run_child(command: &mut Command, input: Option<&[u8]>, timeout: Duration, stdout_limit: usize) -> CommandOutcome {
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    let start = Instant::now();
    let program = command.get_program().to_string_lossy().into_owned();
    let spawned = command.stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0).spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            return CommandOutcome {
                exit_code: None,
                duration: start.elapsed(),
                stdout: String::new(),
                stdout_cut: false,
                stderr: format!("could not run {program}: {e}"),
            };
        }
    };
    let mut stdin = child.stdin.take();
    if let (Some(pipe), Some(input)) = (&mut stdin, input) {
        debug_assert!(input.len() <= 4096, "more input than a pipe surely holds");
        // A child that exits at once closes the pipe: that shows in its outcome.
        let _ = pipe.write_all(input);
    }
    let mut stdout = Stream::new(child.stdout.take(), stdout_limit);
    let mut stderr = Stream::new(child.stderr.take(), OUTPUT_LIMIT);
    let group = i32::try_from(child.id()).ok().and_then(rustix::process::Pid::from_raw);
    let kill_group = || {
        if let Some(group) = group {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    };

    let deadline = start + timeout;
    let mut nap = Duration::from_millis(1);
    let (status, killed) = loop {
        stdout.read_available();
        stderr.read_available();
        match child.try_wait() {
            Ok(Some(status)) => break (Some(status), None),
            Ok(None) if Instant::now() >= deadline => {
                kill_group();
                let _ = child.kill();
                break (child.wait().ok(), Some(format!("killed after {} (timeout)", show_ms(timeout))));
            }
            Ok(None) if let Some(signal) = crate::interrupt::requested() => {
                kill_group();
                let _ = child.kill();
                let why = format!("killed: healwatch was interrupted by {}", crate::interrupt::name(signal));
                break (child.wait().ok(), Some(why));
            }
            Ok(None) => {
                let open = !(stdout.done && stderr.done);
                wait_for_output(&stdout, &stderr, nap.min(deadline.saturating_duration_since(Instant::now())));
                // Output that ends means the child is about to exit: look again soon.
                nap = if open && stdout.done && stderr.done { Duration::from_millis(1) } else { nap * 2 };
                nap = nap.min(Duration::from_millis(20));
            }
            Err(_) => break (None, None),
        }
    };
    drop(stdin);
    // A grandchild could hold the pipes open; never wait on them for long.
    let drain_until = Instant::now() + Duration::from_secs(1);
    while !(stdout.done && stderr.done) && Instant::now() < drain_until {
        stdout.read_available();
        stderr.read_available();
        std::thread::sleep(Duration::from_millis(5));
    }
    let stdout_text = stdout.text();
    let stdout_cut = stdout.cut > 0;
    let mut stderr_text = stderr.text();
    if let Some(why) = &killed {
        if !stderr_text.is_empty() {
            stderr_text.push_str("; ");
        }
        stderr_text.push_str(why);
    }
    CommandOutcome {
        exit_code: if killed.is_some() { None } else { status.and_then(|s| s.code()) },
        duration: start.elapsed(),
        stdout: stdout_text,
        stdout_cut,
        stderr: stderr_text,
    }
}

/// Runs `command` and matches each line of its output (both streams) against `pattern`,
/// holding at most one line (cut at `LOG_LINE_LIMIT`) per stream. Stops at the first
/// match (killing the child's process group), at EOF, after `byte_limit` bytes, or at
/// `timeout`, which is an error.
pub fn scan_lines(
    command: &mut Command,
    pattern: &regex::Regex,
    timeout: Duration,
    byte_limit: u64,
) -> Result<Option<String>, String> {
    use std::os::unix::process::CommandExt;
    let start = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("could not run {}: {e}", command.get_program().to_string_lossy()))?;
    let group = i32::try_from(child.id()).ok().and_then(rustix::process::Pid::from_raw);
    let kill = |child: &mut std::process::Child| {
        if let Some(group) = group {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        let _ = child.kill();
        let _ = child.wait();
    };
    let mut out = LineStream::new(child.stdout.take());
    let mut err = LineStream::new(child.stderr.take());
    let mut total = 0u64;
    let mut nap = Duration::from_millis(1);
    loop {
        let mut read_any = false;
        for read in [out.next_lines(pattern, &mut total), err.next_lines(pattern, &mut total)] {
            match read {
                LineRead::Match(line) => {
                    kill(&mut child);
                    return Ok(Some(line));
                }
                LineRead::Data => read_any = true,
                LineRead::Nothing => {}
            }
        }
        if total > byte_limit {
            kill(&mut child);
            return Ok(None);
        }
        let done = out.done && err.done;
        if done {
            let status = child.wait().map_err(|e| e.to_string())?;
            if !status.success() {
                return Err(format!("docker logs failed ({})", exit_text(status.code())));
            }
            return Ok(None);
        }
        if start.elapsed() >= timeout || crate::interrupt::requested().is_some() {
            kill(&mut child);
            return Err(format!("reading the logs took longer than {}", show_ms(timeout)));
        }
        if read_any {
            nap = Duration::from_millis(1);
        } else {
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(20));
        }
    }
}

/// The docker events a watch asks for (`--filter event=...`); anything else is noise (a
/// HEALTHCHECK alone makes three exec events a second).
pub const EVENT_FILTERS: [&str; 4] = ["die", "oom", "pause", "health_status: unhealthy"];

/// `docker events --format`: the container's name, a tab, the action. Names cannot
/// hold a tab, and the actions asked for are fixed words.
pub const EVENT_FORMAT: &str = "{{.Actor.Attributes.name}}\t{{.Action}}";

/// A longer event line is not Docker's: it is skipped.
const EVENT_LINE_LIMIT: usize = 1024;
/// At most this much is read per look at the events; the rest waits for the next.
const EVENT_READ_LIMIT: usize = 256 * 1024;

impl DockerCli {
    /// Starts `docker events` for the container events a watch cares about, from `since`
    /// until `until` (when the CLI ends by itself, even if healwatch was killed), on
    /// `endpoint`. The child runs in its own process group until the stream is dropped;
    /// it has no stdin and its stderr is discarded (an engine that cannot be reached ends
    /// the stream, and the watch's passes report the engine).
    pub fn follow_events(
        &self,
        endpoint: &Endpoint,
        since: SystemTime,
        until: SystemTime,
    ) -> std::io::Result<EventStream> {
        use std::os::unix::process::CommandExt;
        let unix = |t: SystemTime| {
            let t = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
            format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
        };
        let mut command = self.command(endpoint);
        command.args(["events", "--format", EVENT_FORMAT, "--filter", "type=container"]);
        command.arg("--since").arg(unix(since)).arg("--until").arg(unix(until));
        for event in EVENT_FILTERS {
            command.arg("--filter").arg(format!("event={event}"));
        }
        let mut child =
            command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).process_group(0).spawn()?;
        let stdout = child.stdout.take().filter(nonblocking);
        Ok(EventStream { child, stdout, line: Vec::new(), skipping: false })
    }
}

/// A running `docker events`, read without blocking; killed with its group when dropped.
#[derive(Debug)]
pub struct EventStream {
    child: std::process::Child,
    stdout: Option<std::process::ChildStdout>,
    line: Vec<u8>,
    /// The current line passed `EVENT_LINE_LIMIT`: the rest of it is skipped.
    skipping: bool,
}

impl EventStream {
    /// The whole lines written since the last call (at most `EVENT_READ_LIMIT` of
    /// output is read per call).
    pub fn lines(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        let Some(pipe) = self.stdout.as_mut() else { return lines };
        let mut buf = [0u8; 16 * 1024];
        let mut read = 0;
        while read < EVENT_READ_LIMIT {
            let n = match pipe.read(&mut buf) {
                Ok(0) => {
                    self.stdout = None;
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.stdout = None;
                    break;
                }
            };
            read += n;
            for &byte in &buf[..n] {
                if byte == b'\n' {
                    if !self.skipping {
                        lines.push(String::from_utf8_lossy(&self.line).into_owned());
                    }
                    self.line.clear();
                    self.skipping = false;
                } else if self.line.len() < EVENT_LINE_LIMIT {
                    self.line.push(byte);
                } else {
                    self.skipping = true;
                }
            }
        }
        lines
    }

    /// Whether the stream has ended (the child exited or its output closed).
    pub fn ended(&mut self) -> bool {
        self.stdout.is_none() || !matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        if let Some(group) = i32::try_from(self.child.id()).ok().and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes a pipe's reads return at once when it is empty; false when that failed.
fn nonblocking(pipe: &impl std::os::fd::AsFd) -> bool {
    rustix::fs::fcntl_getfl(pipe)
        .and_then(|flags| rustix::fs::fcntl_setfl(pipe, flags | rustix::fs::OFlags::NONBLOCK))
        .is_ok()
}

enum LineRead {
    Match(String),
    Data,
    Nothing,
}

/// One output pipe read without blocking, line by line.
struct LineStream<R> {
    pipe: Option<R>,
    line: Vec<u8>,
    /// The current line passed `LOG_LINE_LIMIT`: the rest of it is skipped.
    skipping: bool,
    done: bool,
}

impl<R: Read + std::os::fd::AsFd> LineStream<R> {
    fn new(pipe: Option<R>) -> Self {
        let pipe = pipe.filter(|p| nonblocking(p));
        let done = pipe.is_none();
        Self { pipe, line: Vec::new(), skipping: false, done }
    }

    fn next_lines(&mut self, pattern: &regex::Regex, total: &mut u64) -> LineRead {
        let Some(pipe) = self.pipe.as_mut() else { return LineRead::Nothing };
        let mut buf = [0u8; 64 * 1024];
        let n = match pipe.read(&mut buf) {
            Ok(0) => {
                self.done = true;
                self.pipe = None;
                if self.line.is_empty() {
                    return LineRead::Nothing;
                }
                return match self.finish_line(pattern) {
                    Some(line) => LineRead::Match(line),
                    None => LineRead::Nothing,
                };
            }
            Ok(n) => n,
            Err(_) => return LineRead::Nothing,
        };
        *total += n as u64;
        for segment in buf[..n].split_inclusive(|&b| b == b'\n') {
            let ends = segment.last() == Some(&b'\n');
            let body = if ends { &segment[..segment.len() - 1] } else { segment };
            if !self.skipping {
                let room = LOG_LINE_LIMIT.saturating_sub(self.line.len());
                self.line.extend_from_slice(&body[..body.len().min(room)]);
                if body.len() > room {
                    self.skipping = true;
                }
            }
            if ends && let Some(line) = self.finish_line(pattern) {
                return LineRead::Match(line);
            }
        }
        LineRead::Data
    }

    /// Matches the line gathered so far, then starts a new one.
    fn finish_line(&mut self, pattern: &regex::Regex) -> Option<String> {
        let text = String::from_utf8_lossy(&self.line);
        let found = pattern.is_match(&text).then(|| text.trim().to_string());
        self.line.clear();
        self.skipping = false;
        found
    }
}

/// Sleeps until one of the pipes still open has output or ends, or `timeout` passes:
/// a child's answer is read when it comes, not at the next look.
fn wait_for_output<A: std::os::fd::AsFd, B: std::os::fd::AsFd>(a: &Stream<A>, b: &Stream<B>, timeout: Duration) {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let open = [a.pipe.as_ref().map(|p| p.as_fd()), b.pipe.as_ref().map(|p| p.as_fd())];
    let mut fds: Vec<PollFd> = open.iter().flatten().map(|fd| PollFd::from_borrowed_fd(*fd, PollFlags::IN)).collect();
    if fds.is_empty() {
        std::thread::sleep(timeout);
        return;
    }
    let timeout = Timespec { tv_sec: timeout.as_secs() as i64, tv_nsec: i64::from(timeout.subsec_nanos()) };
    let _ = rustix::event::poll(&mut fds, Some(&timeout));
}

/// One of a child's output pipes, read without blocking; only the last `limit` bytes
/// are kept.
struct Stream<R> {
    pipe: Option<R>,
    kept: Vec<u8>,
    cut: usize,
    limit: usize,
    done: bool,
}

impl<R: Read + std::os::fd::AsFd> Stream<R> {
    fn new(pipe: Option<R>, limit: usize) -> Self {
        let pipe = pipe.filter(|p| nonblocking(p));
        let done = pipe.is_none();
        Self { pipe, kept: Vec::new(), cut: 0, limit, done }
    }

    fn read_available(&mut self) {
        let Some(pipe) = self.pipe.as_mut() else { return };
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => {
                    self.done = true;
                    self.pipe = None;
                    return;
                }
                Ok(n) => {
                    self.kept.extend_from_slice(&buf[..n]);
                    // Trim in batches, keeping the tail: the end of an error says most.
                    if self.kept.len() > self.limit.saturating_mul(2).max(64 * 1024) {
                        let excess = self.kept.len() - self.limit;
                        self.kept.drain(..excess);
                        self.cut += excess;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// The kept text, trimmed, saying how much was cut.
    fn text(&mut self) -> String {
        if self.kept.len() > self.limit {
            let excess = self.kept.len() - self.limit;
            self.kept.drain(..excess);
            self.cut += excess;
        }
        let text = String::from_utf8_lossy(&self.kept).trim().to_string();
        if self.cut > 0 { format!("[{} bytes cut] {text}", self.cut) } else { text }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli() -> DockerCli {
        DockerCli { path: PathBuf::from("/usr/bin/docker"), ssh_path: None, ssh_wrapper: None }
    }

    #[test]
    fn ssh_reuse_writes_a_private_wrapper_and_only_ssh_engines_get_it() {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("ssh");
        let mut docker = cli();
        docker.reuse_ssh_with(Path::new("/usr/bin/ssh"), &dir).unwrap();
        let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&dir), mode(&dir.join("ssh"))), (0o700, 0o700));
        let script = std::fs::read_to_string(dir.join("ssh")).unwrap();
        let control = format!("-o 'ControlPath={}/%C'", dir.display());
        assert!(script.contains("exec '/usr/bin/ssh' -o ControlMaster=auto") && script.contains(&control), "{script}");
        let path_of = |e: &Endpoint| {
            docker.command(e).get_envs().find(|(k, _)| *k == "PATH").and_then(|(_, v)| v).map(|v| v.to_os_string())
        };
        let ssh = Endpoint::Host("ssh://ops@web-2".into());
        assert!(path_of(&ssh).unwrap().to_string_lossy().starts_with(dir.to_str().unwrap()));
        assert_eq!(path_of(&Endpoint::Default), None);
        assert_eq!(path_of(&Endpoint::Host("unix:///run/docker.sock".into())), None);
        // Again: nothing to rewrite, and it still works.
        docker.reuse_ssh_with(Path::new("/usr/bin/ssh"), &dir).unwrap();
    }

    #[test]
    fn ssh_reuse_refuses_directories_others_control() {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().unwrap();
        let open = base.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = cli().reuse_ssh_with(Path::new("/usr/bin/ssh"), &open).unwrap_err();
        assert!(format!("{e:#}").contains("others cannot write"), "{e:#}");
        let link = base.path().join("link");
        std::os::unix::fs::symlink(base.path(), &link).unwrap();
        let e = cli().reuse_ssh_with(Path::new("/usr/bin/ssh"), &link).unwrap_err();
        assert!(format!("{e:#}").contains("not a link"), "{e:#}");
        // A wrapper that is a link is never written through.
        let dir = base.path().join("ssh");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let target = base.path().join("victim");
        std::fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, dir.join("ssh")).unwrap();
        assert!(cli().reuse_ssh_with(Path::new("/usr/bin/ssh"), &dir).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        let quote = base.path().join("it's");
        assert!(cli().reuse_ssh_with(Path::new("/usr/bin/ssh"), &quote).is_err());
    }

    #[test]
    fn container_state_from_inspect() {
        let s = ContainerState::parse("running 2026-11-27T20:44:00.062083904Z\n");
        assert_eq!(s.status, ContainerStatus::Running);
        assert_eq!(
            s.started_at.map(|t| humantime::format_rfc3339_millis(t).to_string()).as_deref(),
            Some("2026-11-27T20:44:00.062Z")
        );
        assert_eq!(
            ContainerState::parse("created 0001-01-01T00:00:00Z"),
            ContainerState { status: ContainerStatus::Created, started_at: None }
        );
        assert_eq!(ContainerState::parse("paused").started_at, None);
    }

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
    fn rounds_stop_timeout_up() {
        assert_eq!(whole_seconds(Duration::ZERO), 0);
        assert_eq!(whole_seconds(Duration::from_millis(500)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(10)), 10);
        assert_eq!(whole_seconds(Duration::from_millis(10_001)), 11);
    }

    #[test]
    fn child_output_and_exit_code() {
        let out =
            run_bounded(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]), Duration::from_secs(5));
        assert_eq!((out.exit_code, out.stdout.as_str(), out.stderr.as_str()), (Some(3), "out", "err"));
    }

    #[test]
    fn child_past_its_timeout_is_killed() {
        let out = run_bounded(Command::new("sleep").arg("30"), Duration::from_millis(200));
        assert_eq!(out.exit_code, None);
        assert!(out.stderr.contains("killed after 200ms"), "{}", out.stderr);
        assert!(out.duration < Duration::from_secs(5), "{:?}", out.duration);
    }

    #[test]
    fn missing_program_is_an_outcome_not_a_panic() {
        let out = run_bounded(&mut Command::new("/nonexistent/docker"), Duration::from_secs(1));
        assert_eq!(out.exit_code, None);
        assert!(out.stderr.contains("could not run /nonexistent/docker"), "{}", out.stderr);
    }

    #[test]
    fn explicit_docker_path_must_exist() {
        let err = DockerCli::locate(Some(Path::new("/nonexistent/docker"))).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/docker") && err.contains("--docker"), "{err}");
    }
}

/// What `docker inspect` says about one container, as far as healwatch cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
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
    /// `HostConfig.RestartPolicy`.
    pub restart_policy: RestartPolicy,
    /// `RestartCount`: restarts by the policy since the last manual start.
    pub restart_count: u64,
    /// Whether the container has a Docker HEALTHCHECK (not disabled with NONE).
    pub healthcheck: bool,
    /// `State.Health.Status` when it has a HEALTHCHECK.
    pub health: Option<DockerHealth>,
    /// The last HEALTHCHECK probe's output, trimmed, when there is one.
    pub health_output: Option<String>,
    /// `Config.Labels`.
    pub labels: std::collections::BTreeMap<String, String>,
}

impl ContainerInfo {
    /// Reads one element of `docker inspect`'s JSON array.
    pub fn from_inspect(value: &serde_json::Value) -> Result<Self> {
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
            name: text(&value["Name"]).unwrap_or_default().trim_start_matches('/').to_string(),
            running: state["Running"].as_bool().unwrap_or(false),
            pid: state["Pid"].as_u64().unwrap_or(0) as u32,
            // Docker writes 0001-01-01T00:00:00Z for "never": that does not parse, and means None.
            started_at: state["StartedAt"].as_str().and_then(|t| humantime::parse_rfc3339(t).ok()),
            restart_count: value["RestartCount"].as_u64().unwrap_or(0),
            id,
            status,
            restart_policy,
            healthcheck,
        })
    }

    /// Whether `reference` (a name or an id prefix of 12+ characters) means this container.
    pub fn is(&self, reference: &str) -> bool {
        self.name == reference || (reference.len() >= 12 && self.id.starts_with(reference))
    }
}

/// One container as a pass's listing sees it: enough to discover targets and to find
/// compose replicas. Its HEALTHCHECK is read only where discovery needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSummary {
    /// Full id.
    pub id: String,
    /// Name without Docker's leading `/`.
    pub name: String,
    /// `State.Status`.
    pub status: ContainerStatus,
    /// `Config.Labels`.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Its Docker HEALTHCHECK, as `docker inspect` tells it.
    pub health: HealthInfo,
}

/// A container's Docker HEALTHCHECK, or that the listing did not read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthInfo {
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
        Self { id: c.id, name: c.name, status: c.status, labels: c.labels, health }
    }
}

impl ContainerSummary {
    /// Whether `reference` (a name or an id prefix of 12+ characters) means this container.
    pub fn is(&self, reference: &str) -> bool {
        self.name == reference || (reference.len() >= 12 && self.id.starts_with(reference))
    }
}

impl DockerCli {
    /// Every container on `endpoint` for a pass, with the HEALTHCHECK of those that
    /// `needs_health` picks. An engine given by a `unix://` or `ssh://` host is asked
    /// through its API (one request, see `engine_api`), and only the picked containers
    /// go to `docker inspect`; any other engine gets one `docker ps` and one `docker
    /// inspect` of everything, as `inventory`.
    pub fn summaries(
        &self,
        endpoint: &Endpoint,
        needs_health: impl Fn(&ContainerSummary) -> bool,
    ) -> Result<Vec<ContainerSummary>> {
        let Some(route) = crate::engine_api::route(endpoint) else {
            return Ok(self.inventory(endpoint)?.into_iter().map(ContainerSummary::from).collect());
        };
        let ssh = self.ssh_wrapper.as_deref().unwrap_or(Path::new("ssh"));
        let mut list = crate::engine_api::list(&route, ssh, QUICK_TIMEOUT)?;
        let picked: Vec<&str> = list.iter().filter(|c| needs_health(c)).map(|c| c.id.as_str()).collect();
        if picked.is_empty() {
            return Ok(list);
        }
        let mut inspected: std::collections::HashMap<String, ContainerInfo> =
            self.inspect_on(endpoint, &picked)?.into_iter().map(|c| (c.id.clone(), c)).collect();
        // A picked container that inspect no longer finds was removed meanwhile: gone.
        list.retain_mut(|c| {
            if !needs_health(c) {
                return true;
            }
            match inspected.remove(&c.id) {
                Some(info) => {
                    *c = ContainerSummary::from(info);
                    true
                }
                None => false,
            }
        });
        Ok(list)
    }

    /// Every container on `endpoint`, running or not: one `docker ps` and one `docker inspect`.
    pub fn inventory(&self, endpoint: &Endpoint) -> Result<Vec<ContainerInfo>> {
        let ids = self.list_all_on(endpoint)?;
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        self.inspect_on(endpoint, &ids).with_context(|| format!("on {endpoint}"))
    }

    /// `docker inspect` of the given containers on `endpoint`, in one call.
    pub fn inspect_on(&self, endpoint: &Endpoint, containers: &[&str]) -> Result<Vec<ContainerInfo>> {
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
    pub fn list_all_on(&self, endpoint: &Endpoint) -> Result<Vec<String>> {
        let out = self.list_on(endpoint, &["ps", "--all", "--quiet", "--no-trunc"])?;
        if !out.success() {
            bail!("docker ps on {endpoint} failed ({}): {}", exit_text(out.exit_code), stderr_line(&out.stderr));
        }
        Ok(out.stdout.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
    }
}

/// Parses `docker inspect`'s JSON array.
pub fn parse_inspect(stdout: &str) -> Result<Vec<ContainerInfo>> {
    let values: Vec<serde_json::Value> = serde_json::from_str(stdout)
        .map_err(|e| anyhow::anyhow!("docker inspect printed something that is not its JSON array ({e})"))?;
    values.iter().map(ContainerInfo::from_inspect).collect()
}

/// A docker command's stderr for an error message: redacted, on one line, cut.
pub(crate) fn stderr_line(stderr: &str) -> String {
    crate::model::one_line(&crate::model::redact_text(stderr), 300)
}

/// "exit status 1", or why there is none.
pub fn exit_text(code: Option<i32>) -> String {
    code.map_or_else(|| "no exit status".to_string(), |c| format!("exit status {c}"))
}

#[cfg(test)]
mod inspect_tests {
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
