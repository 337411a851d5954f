//! Child processes, written once: spawned in their own process group (a timeout or a
//! signal to healwatch kills the whole group, so a wrapper script's grandchildren die
//! with it), with no stdin unless given, read without threads, and always bounded in
//! time and in how much output is held.

mod lines;
mod stream;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::model::show_ms;

pub(crate) use lines::{LINE_LIMIT, scan_lines};
pub(crate) use stream::{LineReader, nonblocking};
use stream::{Stream, wait_for_output};

/// What a child process did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandOutcome {
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
    /// Whether it ran at all: `false` when the process could not be started, or the
    /// engine did not answer a call or start an exec in time. Then a timeout or a
    /// missing exit code says nothing about the command itself.
    pub ran: bool,
    /// Whether the engine could not be reached at all (nothing answered at its address):
    /// the route says so as a fact, and the pass reports the engine down instead of the
    /// container. Set by the Engine API route when connecting fails or nothing answers,
    /// and by the CLI route from the CLI's own words.
    pub engine_down: bool,
    /// Whether the engine's API, or a socket proxy before it, refused the call (403, or
    /// another client error that is not the daemon's own answer): a fact about what
    /// healwatch may do, never about the container or the engine's health.
    pub refused: bool,
}

impl CommandOutcome {
    /// What running nothing ends as: exit 0, no output (`Action::Notify`'s action).
    pub(crate) fn nothing_run() -> Self {
        Self {
            exit_code: Some(0),
            duration: Duration::ZERO,
            stdout: String::new(),
            stdout_cut: false,
            stderr: String::new(),
            ran: true,
            engine_down: false,
            refused: false,
        }
    }

    /// Whether the command ran and exited 0.
    pub(crate) fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// At most this much of each stream of a command is kept (its tail): enough for any
/// error message, and a bound on what a misbehaving program can make healwatch hold.
pub(crate) const OUTPUT_LIMIT: usize = 4 * 1024;

/// Starts `command` in a process group of its own, its output piped.
pub(crate) fn spawn_in_group(command: &mut Command) -> std::io::Result<Child> {
    command.stdout(Stdio::piped()).process_group(0).spawn()
}

/// Kills the process group `child` leads, then the child itself, and reaps it.
pub(crate) fn kill_group(child: &mut Child) {
    if let Some(group) = i32::try_from(child.id()).ok().and_then(rustix::process::Pid::from_raw) {
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// "exit status 1", or why there is none.
pub(crate) fn exit_text(code: Option<i32>) -> String {
    code.map_or_else(|| "no exit status".to_string(), |c| format!("exit status {c}"))
}

/// stream), and kills it after `timeout`.
pub(crate) fn run_bounded(command: &mut Command, timeout: Duration) -> CommandOutcome {
    run_limited(command, timeout, OUTPUT_LIMIT)
}

/// As `run_bounded`, keeping up to `stdout_limit` of standard output. The child runs in
/// its own process group: a timeout or a signal to healwatch kills the whole group, so
/// a wrapper script's grandchildren die with it. Its pipes are read in the same loop
/// that waits for it, so no thread is needed.
pub(crate) fn run_limited(command: &mut Command, timeout: Duration, stdout_limit: usize) -> CommandOutcome {
    run_child(command.stdin(Stdio::null()), None, timeout, stdout_limit)
}

/// As `run_limited`, with `input` (at most a pipe's buffer, so writing never blocks) on
/// its standard input, which stays open until the child exits: a `docker system
/// dial-stdio` would otherwise pass the end of input on to the daemon mid-request.
pub(crate) fn run_with_input(
    command: &mut Command,
    input: &[u8],
    timeout: Duration,
    stdout_limit: usize,
) -> CommandOutcome {
    run_child(command.stdin(Stdio::piped()), Some(input), timeout, stdout_limit)
}

fn run_child(command: &mut Command, input: Option<&[u8]>, timeout: Duration, stdout_limit: usize) -> CommandOutcome {
    let start = Instant::now();
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = match spawn_in_group(command.stderr(Stdio::piped())) {
        Ok(child) => child,
        Err(e) => {
            let stderr = format!("could not run {program}: {e}");
            return CommandOutcome {
                exit_code: None,
                duration: start.elapsed(),
                stderr,
                ran: false,
                ..CommandOutcome::nothing_run()
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
    let killed = wait_for_exit(&mut child, (&mut stdout, &mut stderr), start + timeout, timeout);
    let status = match killed {
        Some(_) => {
            kill_group(&mut child);
            None
        }
        None => child.wait().ok(),
    };
    drop(stdin);
    // A grandchild could hold the pipes open; never wait on them for long.
    let drain_until = Instant::now() + Duration::from_secs(1);
    while !(stdout.done && stderr.done) && Instant::now() < drain_until {
        stdout.read_available();
        stderr.read_available();
        std::thread::sleep(Duration::from_millis(5));
    }
    let (stdout_text, stdout_cut, mut stderr_text) = (stdout.text(), stdout.cut > 0, stderr.text());
    if let Some(why) = &killed {
        if !stderr_text.is_empty() {
            stderr_text.push_str("; ");
        }
        stderr_text.push_str(why);
    }
    CommandOutcome {
        exit_code: status.and_then(|s| s.code()),
        duration: start.elapsed(),
        stdout: stdout_text,
        stdout_cut,
        stderr: stderr_text,
        ran: true,
        engine_down: false,
        refused: false,
    }
}

/// Reads the child's output while waiting for it to exit, by `deadline` (`timeout` after
/// its start); `Some(why)` when it must be killed: past the deadline, or a signal to
/// healwatch.
fn wait_for_exit(
    child: &mut Child,
    (stdout, stderr): (&mut Stream<std::process::ChildStdout>, &mut Stream<std::process::ChildStderr>),
    deadline: Instant,
    timeout: Duration,
) -> Option<String> {
    let mut nap = Duration::from_millis(1);
    loop {
        stdout.read_available();
        stderr.read_available();
        match child.try_wait() {
            Ok(Some(_)) => return None,
            Ok(None) if Instant::now() >= deadline => {
                return Some(format!("killed after {} (timeout)", show_ms(timeout)));
            }
            Ok(None) if let Some(signal) = crate::interrupt::requested() => {
                return Some(format!("killed: healwatch was interrupted by {}", crate::interrupt::name(signal)));
            }
            Ok(None) => {
                let open = !(stdout.done && stderr.done);
                wait_for_output(stdout, stderr, nap.min(deadline.saturating_duration_since(Instant::now())));
                // Output that ends means the child is about to exit: look again soon.
                nap = if open && stdout.done && stderr.done { Duration::from_millis(1) } else { nap * 2 };
                nap = nap.min(Duration::from_millis(20));
            }
            Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_output_and_exit_code() {
        let out =
            run_bounded(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]), Duration::from_secs(5));
        assert_eq!((out.exit_code, out.stdout.as_str(), out.stderr.as_str()), (Some(3), "out", "err"));
    }

    #[test]
    fn child_past_its_timeout_is_killed_with_its_group() {
        let out = run_bounded(Command::new("sh").args(["-c", "sleep 30 & sleep 30"]), Duration::from_millis(200));
        assert_eq!(out.exit_code, None);
        assert!(out.stderr.contains("killed after 200ms"), "{}", out.stderr);
        // The grandchild died with the group, so nothing held the pipes open.
        assert!(out.duration < Duration::from_secs(5), "{:?}", out.duration);
    }

    #[test]
    fn missing_program_is_an_outcome_not_a_panic() {
        let out = run_bounded(&mut Command::new("/nonexistent/docker"), Duration::from_secs(1));
        assert_eq!(out.exit_code, None);
        assert!(out.stderr.contains("could not run /nonexistent/docker"), "{}", out.stderr);
    }

    #[test]
    fn input_reaches_the_child() {
        let out = run_with_input(Command::new("head").args(["-c", "5"]), b"hello world", Duration::from_secs(5), 64);
        assert_eq!(out.stdout, "hello");
    }
}
