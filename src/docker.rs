//! The docker CLI: found once, run as a child process with an argument list (no shell),
//! the container name always after `--`, and every call bounded by a timeout.
//! `Containers` is the seam the pass uses, so the core runs in tests with a fake.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

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
    /// Its standard output, trimmed.
    pub stdout: String,
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
    /// `State.Status` (`running`, `paused`, `exited`...), or the failed inspect.
    fn status(&self, container: &str) -> Result<String, CommandOutcome>;
    /// `docker unpause`.
    fn unpause(&self, container: &str) -> CommandOutcome;
    /// `docker restart -t <secs>`; a stopped container is started.
    fn restart(&self, container: &str, stop_timeout: Duration) -> CommandOutcome;
}

/// The real docker CLI. DOCKER_HOST and DOCKER_CONTEXT pass through the environment.
#[derive(Debug, Clone)]
pub struct DockerCli {
    path: PathBuf,
}

impl DockerCli {
    /// Uses the docker CLI at `path` as is.
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

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
                Some(path) => Ok(Self { path }),
                None => bail!(
                    "docker CLI '{}' (from --docker or HEALWATCH_DOCKER) not found: give the path of an executable",
                    given.display()
                ),
            };
        }
        if let Ok(path) = which::which("docker") {
            return Ok(Self { path });
        }
        if let Some(path) = FALLBACK_PATHS.iter().map(Path::new).find(|p| p.is_file()) {
            return Ok(Self {
                path: path.to_path_buf(),
            });
        }
        bail!(
            "docker CLI not found: tried `docker` on PATH ({}), {}; install it or pass --docker PATH",
            std::env::var("PATH").unwrap_or_default(),
            FALLBACK_PATHS.join(", ")
        )
    }

    /// The CLI's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `docker ARGS...` and waits at most `timeout`.
    pub fn run(&self, args: &[&str], timeout: Duration) -> CommandOutcome {
        run_bounded(Command::new(&self.path).args(args), timeout)
    }
}

impl Containers for DockerCli {
    fn status(&self, container: &str) -> Result<String, CommandOutcome> {
        let out = self.run(
            &[
                "inspect",
                "--type",
                "container",
                "--format",
                "{{.State.Status}}",
                "--",
                container,
            ],
            QUICK_TIMEOUT,
        );
        if out.success() {
            Ok(out.stdout)
        } else {
            Err(out)
        }
    }

    fn unpause(&self, container: &str) -> CommandOutcome {
        self.run(&["unpause", "--", container], QUICK_TIMEOUT)
    }

    fn restart(&self, container: &str, stop_timeout: Duration) -> CommandOutcome {
        let secs = whole_seconds(stop_timeout).to_string();
        self.run(
            &["restart", "-t", &secs, "--", container],
            stop_timeout + RESTART_MARGIN,
        )
    }
}

/// Docker takes whole seconds; round up so a 500ms stop timeout does not become a kill.
pub fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Runs a child with no stdin, captures its output, and kills it after `timeout`.
pub fn run_bounded(command: &mut Command, timeout: Duration) -> CommandOutcome {
    let start = Instant::now();
    let program = command.get_program().to_string_lossy().into_owned();
    let spawned = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            return CommandOutcome {
                exit_code: None,
                duration: start.elapsed(),
                stdout: String::new(),
                stderr: format!("could not run {program}: {e}"),
            };
        }
    };
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());

    let deadline = start + timeout;
    let mut nap = Duration::from_millis(1);
    let (status, killed) = loop {
        match child.try_wait() {
            Ok(Some(status)) => break (Some(status), false),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                break (child.wait().ok(), true);
            }
            Ok(None) => {
                std::thread::sleep(nap.min(deadline.saturating_duration_since(Instant::now())));
                nap = (nap * 2).min(Duration::from_millis(20));
            }
            Err(_) => break (None, false),
        }
    };
    // A grandchild could hold the pipes open; never wait on them for long.
    let collect =
        |rx: mpsc::Receiver<String>| rx.recv_timeout(Duration::from_secs(1)).unwrap_or_default();
    let (stdout, mut stderr) = (collect(stdout), collect(stderr));
    if killed {
        if !stderr.is_empty() {
            stderr.push_str("; ");
        }
        stderr.push_str(&format!(
            "killed after {} (timeout)",
            humantime::format_duration(round_ms(timeout))
        ));
    }
    CommandOutcome {
        exit_code: if killed {
            None
        } else {
            status.and_then(|s| s.code())
        },
        duration: start.elapsed(),
        stdout: stdout.trim().to_string(),
        stderr: stderr.trim().to_string(),
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
        });
    }
    rx
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_stop_timeout_up() {
        assert_eq!(whole_seconds(Duration::ZERO), 0);
        assert_eq!(whole_seconds(Duration::from_millis(500)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(10)), 10);
        assert_eq!(whole_seconds(Duration::from_millis(10_001)), 11);
    }

    #[test]
    fn child_output_and_exit_code() {
        let out = run_bounded(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(5),
        );
        assert_eq!(
            (out.exit_code, out.stdout.as_str(), out.stderr.as_str()),
            (Some(3), "out", "err")
        );
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
        let out = run_bounded(
            &mut Command::new("/nonexistent/docker"),
            Duration::from_secs(1),
        );
        assert_eq!(out.exit_code, None);
        assert!(
            out.stderr.contains("could not run /nonexistent/docker"),
            "{}",
            out.stderr
        );
    }

    #[test]
    fn explicit_docker_path_must_exist() {
        let err = DockerCli::locate(Some(Path::new("/nonexistent/docker")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/nonexistent/docker") && err.contains("--docker"),
            "{err}"
        );
    }
}
