//! A pass's container calls through the Engine API, where healwatch reaches the engine's
//! socket itself (see `DockerCli::api_socket`): an inspect, an unpause, a signal, a
//! restart is one HTTP request on the at, where the CLI starts a Go program for each.
//! Every answer is read as the CLI's run would have ended (`CommandOutcome`): exit 0;
//! exit 1 with Docker's own "Error response from daemon: …"; or no exit, and
//! `engine_down` set, when nothing answers at the socket (said as the CLI says it,
//! "Cannot connect to the Docker daemon …"), so a pass tells an engine that is down from a
//! container that is not, whichever route it asked by.

use std::time::{Duration, Instant};

use super::body::exchange;
use super::conn::{Address, connect};
use super::table;
use super::wire::{Request, daemon_message, segment, status_and_body};
use crate::docker::INSPECT_LIMIT;
use crate::process::CommandOutcome;

/// Bound on an exec's output as read from the engine: past it the exec is a failure,
/// and healwatch holds no more than this of what a container prints.
const EXEC_OUTPUT_LIMIT: usize = 1 << 20;
/// How often the end of an exec is asked for before its exit code is called unknown.
const EXIT_READS: usize = 5;
/// Bound on the question, after an exec ran out of time, whether it was started at all.
const EXEC_STARTED_WAIT: Duration = Duration::from_secs(1);

/// A call to the engine: one request (see `wire::Request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call(Request);

impl Call {
    /// `GET /containers/NAME/json`: what `docker inspect` prints for one container.
    pub(crate) fn inspect(container: &str) -> Self {
        Self(Request::get(format!("/containers/{}/json", segment(container))))
    }

    /// The call that makes `request` (an `Order`'s, say).
    pub(crate) fn of(request: Request) -> Self {
        Self(request)
    }

    /// `POST /containers/NAME/exec`: makes an exec of `argv` (no shell, no TTY) whose
    /// output is attached.
    fn exec_create(container: &str, argv: &[String]) -> Self {
        let body = serde_json::json!({"AttachStdout": true, "AttachStderr": true, "Tty": false, "Cmd": argv});
        let path = format!("/containers/{}/exec", segment(container));
        Self(Request::post(path, Some(body.to_string())))
    }

    /// `POST /exec/ID/start`: runs it; the answer is its output until it ends.
    fn exec_start(id: &str) -> Self {
        let body = r#"{"Detach":false,"Tty":false}"#.to_string();
        Self(Request::post(format!("/exec/{}/start", segment(id)), Some(body)))
    }

    /// `GET /exec/ID/json`: whether it still runs, and its exit code.
    fn exec_inspect(id: &str) -> Self {
        Self(Request::get(format!("/exec/{}/json", segment(id))))
    }

    /// The request as it goes on the wire.
    fn request(&self) -> String {
        self.0.text()
    }

    /// The request it makes.
    pub(crate) fn wire(&self) -> &Request {
        &self.0
    }
}

/// The three requests of an exec of `container` whose id is `id`, in order.
#[cfg(test)]
pub(crate) fn exec_requests(container: &str, id: &str) -> Vec<Request> {
    [Call::exec_create(container, &["true".to_string()]), Call::exec_start(id), Call::exec_inspect(id)]
        .map(|c| c.0)
        .to_vec()
}

/// Makes `call` on the engine at `socket` and waits at most `timeout` for its answer.
pub(crate) fn call(at: &Address, call: &Call, timeout: Duration) -> CommandOutcome {
    let started = Instant::now();
    let answer = answer(at, call, timeout, INSPECT_LIMIT);
    let duration = started.elapsed();
    match answer {
        Ok(answer) => outcome(&answer, duration, call.wire()),
        Err(Unanswered { why, down }) => CommandOutcome { engine_down: down, ..unreachable_engine(why, duration) },
    }
}

/// Why a call got no answer, and whether that is because nothing answered at the
/// engine's address (`down`): a typed fact, never read back from the text.
struct Unanswered {
    why: String,
    down: bool,
}

/// The engine's whole answer to `call` (head and body, as bytes, at most `limit` of
/// them), or why there is none.
fn answer(at: &Address, call: &Call, timeout: Duration, limit: usize) -> Result<Vec<u8>, Unanswered> {
    let deadline = Instant::now() + timeout;
    let stream = connect(at, deadline).map_err(|e| Unanswered {
        why: format!("Cannot connect to the Docker daemon at {}: {e:#}", at.show()),
        down: true,
    })?;
    exchange(stream, call.request().as_bytes(), deadline, timeout, limit)
        .map_err(|e| Unanswered { why: format!("{e:#}"), down: false })
}

/// A call that got no answer, as a CLI run that could not finish.
fn unreachable_engine(why: String, duration: Duration) -> CommandOutcome {
    CommandOutcome {
        exit_code: None,
        duration,
        stdout: String::new(),
        stdout_cut: false,
        stderr: why,
        ran: false,
        engine_down: false,
        refused: false,
    }
}

/// One container's inspect JSON (`GET /containers/NAME/json`), or the failed call as the
/// CLI's run would have ended.
pub(crate) fn inspect(at: &Address, container: &str, timeout: Duration) -> Result<serde_json::Value, CommandOutcome> {
    let out = call(at, &Call::inspect(container), timeout);
    if !out.success() {
        return Err(out);
    }
    serde_json::from_str(&out.stdout).map_err(|e| CommandOutcome {
        exit_code: Some(1),
        stdout: String::new(),
        stderr: format!("the engine's inspect of {container} is not JSON ({e})"),
        ..out
    })
}

/// `docker exec -- CONTAINER ARGV...` through the API at `socket`: the exec is made,
/// started with its output attached, and asked for its exit code, all within `timeout`.
/// Past it the wait ends; the command in the container runs on until it ends by itself,
/// as it does when the CLI is killed. stdout and stderr are kept (their tails), as the
/// CLI's run keeps them.
pub(crate) fn exec(at: &Address, container: &str, argv: &[String], timeout: Duration) -> CommandOutcome {
    let started = Instant::now();
    let left = || timeout.saturating_sub(started.elapsed());
    let made = call(at, &Call::exec_create(container, argv), timeout);
    if !made.success() {
        return CommandOutcome { duration: started.elapsed(), ..made };
    }
    let id = serde_json::from_str::<serde_json::Value>(&made.stdout)
        .ok()
        .and_then(|v| v["Id"].as_str().map(str::to_string))
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()));
    let Some(id) = id else {
        let why = "the engine's answer to an exec has no Id".to_string();
        return CommandOutcome { exit_code: Some(1), ..unreachable_engine(why, started.elapsed()) };
    };
    let output = match answer(at, &Call::exec_start(&id), left(), EXEC_OUTPUT_LIMIT) {
        Ok(answer) => match status_and_body(&answer) {
            Ok((200, body)) => demultiplex(body),
            _ => return outcome(&answer, started.elapsed(), Call::exec_start(&id).wire()),
        },
        Err(_) if started.elapsed() >= timeout => return timed_out(at, &id, timeout, started),
        Err(Unanswered { why, down }) => {
            return CommandOutcome { engine_down: down, ..unreachable_engine(why, started.elapsed()) };
        }
    };
    let (stdout, stderr) = output;
    // The output ends when the command does; the engine may note its exit a moment later.
    let mut asked = 0;
    let (exit_code, ended) = loop {
        let ended = call(at, &Call::exec_inspect(&id), left().max(Duration::from_secs(1)));
        let exit_code = serde_json::from_str::<serde_json::Value>(&ended.stdout)
            .ok()
            .filter(|v| v["Running"] == false)
            .and_then(|v| v["ExitCode"].as_i64())
            .and_then(|c| i32::try_from(c).ok());
        asked += 1;
        if exit_code.is_some() || asked == EXIT_READS || !ended.success() {
            break (exit_code, ended);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = match exit_code {
        Some(_) => stderr,
        None => {
            let why = if ended.success() { "it still ran" } else { ended.stderr.as_str() };
            format!("{stderr} (the engine did not say how the exec ended: {why})").trim().to_string()
        }
    };
    CommandOutcome {
        exit_code,
        duration: started.elapsed(),
        stdout,
        stdout_cut: false,
        stderr,
        ran: true,
        engine_down: false,
        refused: false,
    }
}

/// An exec whose output did not end within `timeout`: the command ran too long, as the
/// CLI's run would be killed; or, when the engine says it has no process yet (a busy
/// engine), it never ran, and its timeout says nothing about the command.
fn timed_out(at: &Address, id: &str, timeout: Duration, started: Instant) -> CommandOutcome {
    let shown = crate::model::show_ms(timeout);
    let asked = call(at, &Call::exec_inspect(id), EXEC_STARTED_WAIT);
    let pid = serde_json::from_str::<serde_json::Value>(&asked.stdout).ok().and_then(|v| v["Pid"].as_i64());
    match pid {
        Some(pid) if pid > 0 => {
            let why = format!("killed after {shown} (timeout)");
            CommandOutcome { ran: true, ..unreachable_engine(why, started.elapsed()) }
        }
        _ => unreachable_engine(format!("the engine did not start it within {shown}"), started.elapsed()),
    }
}

/// The two streams of an exec's output (see `frames`), each trimmed and kept to its last
/// `OUTPUT_LIMIT` bytes, as the CLI's run keeps them.
fn demultiplex(raw: &[u8]) -> (String, String) {
    let (out, err) = super::frames::split(raw, crate::process::OUTPUT_LIMIT);
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).trim().to_string();
    (text(out), text(err))
}

/// The engine's answer as the CLI's run would have ended: exit 0 with the body for a
/// 2xx (and 304, "already so", which the CLI takes as done), exit 1 with the daemon's
/// message otherwise.
fn outcome(answer: &[u8], duration: Duration, request: &Request) -> CommandOutcome {
    let mut refused = false;
    let (exit_code, stdout, stderr) = match status_and_body(answer) {
        Ok((200..=299 | 304, body)) => (Some(0), String::from_utf8_lossy(body).into_owned(), String::new()),
        Ok((code, body)) if table::is_refusal(code, body) => {
            refused = true;
            (Some(1), String::new(), table::refused(request.method, &request.path, code))
        }
        Ok((_, body)) => (Some(1), String::new(), format!("Error response from daemon: {}", daemon_message(body))),
        Err(e) => (Some(1), String::new(), format!("{e:#}")),
    };
    CommandOutcome { exit_code, duration, stdout, stdout_cut: false, stderr, ran: true, engine_down: false, refused }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixListener;

    #[test]
    fn calls_are_the_clis_and_names_stay_one_segment() {
        assert_eq!(Call::inspect("web-1").request().lines().next(), Some("GET /containers/web-1/json HTTP/1.0"));
        assert_eq!(segment("../x?y=1 #"), "..%2Fx%3Fy%3D1%20%23");
        assert_eq!(segment("w\r\nHost: x"), "w%0D%0AHost%3A%20x");
        let argv = vec!["pg_isready".to_string(), "-h".to_string(), "a\"b".to_string()];
        let create = Call::exec_create("db", &argv).request();
        let body = r#"{"AttachStderr":true,"AttachStdout":true,"Cmd":["pg_isready","-h","a\"b"],"Tty":false}"#;
        assert!(create.starts_with("POST /containers/db/exec HTTP/1.0\r\n"), "{create}");
        assert!(create.ends_with(&format!("Content-Length: {}\r\n\r\n{body}", body.len())), "{create}");
        assert_eq!(Call::exec_start("abc123").0.path, "/exec/abc123/start");
    }

    #[test]
    fn an_execs_output_is_split_into_its_streams() {
        let mut raw = vec![1, 0, 0, 0, 0, 0, 0, 3];
        raw.extend_from_slice(b"ok\n");
        raw.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 5]);
        raw.extend_from_slice(b"oops\n");
        raw.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 2]);
        raw.extend_from_slice(b"!!");
        assert_eq!(demultiplex(&raw), ("ok\n!!".to_string(), "oops".to_string()));
        // A frame cut short, or a header claiming more than there is, ends the reading.
        let cut = [1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, b'x'];
        assert_eq!(demultiplex(&cut), (String::new(), String::new()));
        let huge: Vec<u8> = [&[2u8, 0, 0, 0, 0, 0, 0x27, 0x10][..], &[b'e'; 10_000]].concat();
        assert_eq!(demultiplex(&huge).1.len(), crate::process::OUTPUT_LIMIT);
    }

    #[test]
    fn answers_read_as_the_clis_exits() {
        let ok = outcome(b"HTTP/1.0 204 No Content\r\n\r\n", Duration::ZERO, &Request::get("/containers/web/json"));
        assert_eq!((ok.exit_code, ok.stderr.as_str()), (Some(0), ""));
        assert!(
            outcome(b"HTTP/1.1 304 Not Modified\r\n\r\n", Duration::ZERO, &Request::get("/containers/web/json"))
                .success()
        );
        let body =
            outcome(b"HTTP/1.0 200 OK\r\n\r\n{\"Id\":\"x\"}", Duration::ZERO, &Request::get("/containers/web/json"));
        assert_eq!(body.stdout, "{\"Id\":\"x\"}");
        let missing = outcome(
            b"HTTP/1.0 404 Not Found\r\n\r\n{\"message\":\"No such container: web\"}",
            Duration::ZERO,
            &Request::get("/containers/web/json"),
        );
        assert_eq!(missing.exit_code, Some(1));
        assert_eq!(missing.stderr, "Error response from daemon: No such container: web");
        let garbage = outcome(b"SSH-2.0-OpenSSH\r\n", Duration::ZERO, &Request::get("/containers/web/json"));
        assert_eq!(garbage.exit_code, Some(1));
        assert!(garbage.stderr.contains("not HTTP"), "{}", garbage.stderr);
    }

    #[test]
    fn a_socket_proxys_tcp_address_is_spoken_to_as_the_socket_is() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let at = Address::Tcp(listener.local_addr().unwrap().to_string());
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = [0u8; 512];
            let n = conn.read(&mut request).unwrap();
            conn.write_all(b"HTTP/1.0 204 No Content\r\n\r\n").unwrap();
            String::from_utf8_lossy(&request[..n]).into_owned()
        });
        let out = call(&at, &Call::of(Request::post("/containers/web/restart?t=2", None)), Duration::from_secs(5));
        assert!(out.success(), "{out:?}");
        assert!(server.join().unwrap().starts_with("POST /containers/web/restart?t=2 HTTP/1.0\r\n"));
        // Nothing listens on the port now: an engine that cannot be reached, typed so.
        let gone = call(&at, &Call::inspect("web"), Duration::from_secs(1));
        assert!(gone.engine_down && gone.stderr.contains("tcp://127.0.0.1:"), "{gone:?}");
    }

    #[test]
    fn a_socket_that_is_not_there_is_an_engine_that_cannot_be_reached() {
        let dir = tempfile::tempdir().unwrap();
        let at = Address::Unix(dir.path().join("docker.sock"));
        let out = call(&at, &Call::inspect("web"), Duration::from_secs(1));
        assert_eq!(out.exit_code, None);
        assert!(out.engine_down, "{}", out.stderr);
    }

    #[test]
    fn a_call_goes_over_the_socket_and_an_engine_that_never_answers_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = [0u8; 512];
            let n = conn.read(&mut request).unwrap();
            conn.write_all(b"HTTP/1.0 204 No Content\r\n\r\n").unwrap();
            drop(conn);
            // The second connection is held open, unanswered.
            let (held, _) = listener.accept().unwrap();
            std::thread::sleep(Duration::from_millis(800));
            drop(held);
            String::from_utf8_lossy(&request[..n]).into_owned()
        });
        let order = Call::of(Request::post("/containers/web/restart?t=10", None));
        let at = Address::Unix(path.clone());
        let restart = call(&at, &order, Duration::from_secs(5));
        assert!(restart.success(), "{restart:?}");
        let hung = call(&at, &Call::inspect("web"), Duration::from_millis(300));
        assert_eq!(hung.exit_code, None);
        assert!(hung.stderr.contains("no whole answer within 300ms"), "{}", hung.stderr);
        let request = server.join().unwrap();
        assert!(request.starts_with("POST /containers/web/restart?t=10 HTTP/1.0\r\n"), "{request}");
    }

    /// An engine that makes execs but never starts them (their output never comes), and
    /// says `pid` when asked about one.
    fn slow_engine(path: &std::path::Path, pid: i64) -> std::thread::JoinHandle<()> {
        let listener = UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for _ in 0..3 {
                let (mut conn, _) = listener.accept().unwrap();
                let mut request = [0u8; 1024];
                let n = conn.read(&mut request).unwrap();
                let line = String::from_utf8_lossy(&request[..n]).lines().next().unwrap_or_default().to_string();
                let body = match line.split(' ').nth(1).unwrap_or_default() {
                    "/containers/db/exec" => r#"{"Id":"abc"}"#.to_string(),
                    "/exec/abc/json" => format!(r#"{{"Running":{},"Pid":{pid},"ExitCode":0}}"#, pid > 0),
                    _ => {
                        held.push(conn);
                        continue;
                    }
                };
                let answer = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                conn.write_all(answer.as_bytes()).unwrap();
            }
        })
    }

    #[test]
    fn an_exec_the_engine_never_started_did_not_run_and_one_that_hung_did() {
        let argv = vec!["pg_isready".to_string()];
        for (pid, ran, says) in
            [(0, false, "the engine did not start it within 300ms"), (42, true, "killed after 300ms")]
        {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("docker.sock");
            let engine = slow_engine(&path, pid);
            let out = exec(&Address::Unix(path.clone()), "db", &argv, Duration::from_millis(300));
            assert_eq!((out.exit_code, out.ran), (None, ran), "{out:?}");
            assert!(out.stderr.starts_with(says), "{}", out.stderr);
            engine.join().unwrap();
        }
    }
}
