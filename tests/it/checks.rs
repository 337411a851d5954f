//! What a target checks besides HTTP: a TCP port (with send/expect), a command in the
//! container, and its logs. With local TCP servers and the recording docker stand-in
//! here; on a real engine in e2e.rs.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use crate::util::{FakeDocker, Healwatch, write_file};

/// A TCP server on 127.0.0.1 that answers each line with `reply` (or just accepts).
fn tcp_server(reply: Option<&'static str>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(50) {
            let Ok(mut stream) = stream else { continue };
            if let Some(reply) = reply {
                let mut line = String::new();
                let _ = BufReader::new(stream.try_clone().unwrap()).read_line(&mut line);
                let _ = stream.write_all(reply.as_bytes());
            }
        }
    });
    port
}

#[test]
fn tcp_targets_connect_send_and_expect() {
    let accepts = tcp_server(None);
    let pong = tcp_server(Some("+PONG\r\n"));
    let wrong = tcp_server(Some("-ERR unknown\r\n"));
    let refused = crate::util::free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[defaults]\nretries = 0\ntimeout = \"1s\"\n\
             [[target]]\nname = \"redis\"\nurl = \"tcp://127.0.0.1:{pong}\"\nsend = \"PING\\r\\n\"\nexpect = \"+PONG\"\n\
             [[target]]\nname = \"wrong\"\nurl = \"tcp://127.0.0.1:{wrong}\"\nsend = \"PING\\r\\n\"\nexpect = \"+PONG\"\n"
        ),
    );
    let run = Healwatch::new()
        .args(["-n", "-c"])
        .arg(&config)
        .args(["-t", &format!("open=tcp://127.0.0.1:{accepts}"), "-t", &format!("shut=tcp://127.0.0.1:{refused}")])
        .run();
    run.expect_code(1);
    for (name, outcome, error) in [
        ("redis", "healthy", None),
        ("open", "healthy", None),
        ("wrong", "unhealthy", Some("answer lacks \"+PONG\": -ERR unknown")),
        ("shut", "unhealthy", Some("connection refused")),
    ] {
        let t = run.target(name);
        assert_eq!((t["outcome"].as_str(), t["check"].as_str()), (Some(outcome), Some("tcp")), "{name}\n{run}");
        assert_eq!(t["error"].as_str(), error, "{name}\n{run}");
    }
    assert_eq!(run.target("redis")["url"], format!("tcp://127.0.0.1:{pong}"));
}

#[test]
fn a_failing_command_in_the_container_is_healed() {
    let docker = FakeDocker::new();
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "c.toml",
        "[defaults]\nretries = 0\nrecovery_timeout = \"0\"\n\
         [[target]]\nname = \"db\"\nexec = [\"pg_isready\", \"-U\", \"postgres\"]\n",
    );
    docker.exec_exits(2);
    let run = Healwatch::new().docker(&docker).arg("-c").arg(&config).run();
    let t = run.target("db");
    assert_eq!((t["outcome"].as_str(), t["check"].as_str()), (Some("restarted"), Some("exec")), "{run}");
    assert!(t["error"].as_str().unwrap().starts_with("exec exited 2"), "{run}");
    assert!(docker.calls().iter().any(|c| c == "exec -- db pg_isready -U postgres"), "{:?}", docker.calls());
    docker.exec_exits(0);
    let run = Healwatch::new().docker(&docker).arg("-c").arg(&config).run();
    run.expect_code(0);
}

#[test]
fn a_log_line_that_matches_fails_the_check() {
    let docker = FakeDocker::new();
    docker.set_output("logs", "starting\nFATAL: out of memory, password=hunter2 http://u:secret@db/\nbye\n");
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "c.toml",
        "[defaults]\nrecovery_timeout = \"0\"\n[[target]]\nname = \"worker\"\nlog_pattern = \"OutOfMemoryError|FATAL\"\n",
    );
    let metrics = dir.path().join("m.prom");
    let run = Healwatch::new().docker(&docker).arg("-c").arg(&config).arg("--metrics").arg(&metrics).run();
    let t = run.target("worker");
    assert_eq!(
        (t["outcome"].as_str(), t["check"].as_str(), t["url"].as_str()),
        (Some("restarted"), Some("log"), Some("docker:logs")),
        "{run}"
    );
    let error = t["error"].as_str().unwrap();
    assert!(error.starts_with("log: FATAL: out of memory") && !error.contains("secret"), "{error}");
    let logs = docker.calls().into_iter().find(|c| c.starts_with("logs")).unwrap();
    assert!(logs.contains("--since ") && logs.contains("--until ") && logs.ends_with("-- worker"), "{logs}");
    assert!(
        std::fs::read_to_string(&metrics)
            .unwrap()
            .contains("healwatch_target_up{target=\"worker\",container=\"worker\",check=\"log\"}")
    );
    let validate = Healwatch::new().args(["validate", "--offline", "-c"]).arg(&config).run();
    assert!(validate.stdout().contains("worker\tcheck=log container=worker url=docker:logs"), "{validate}");
}

#[test]
fn check_kinds_refuse_what_they_cannot_mean() {
    let dir = tempfile::tempdir().unwrap();
    for (body, want) in [
        ("url = \"tcp://127.0.0.1:1\"\nexpect_status = \"200\"", "only http(s) targets"),
        ("url = \"http://127.0.0.1:1/\"\nsend = \"x\"", "only tcp:// targets"),
        ("url = \"http://127.0.0.1:1/\"\nexec = [\"true\"]", "not both"),
        ("exec = []", "exec"),
        ("log_pattern = \"(\"", "log_pattern"),
        ("url = \"tcp://127.0.0.1\"", "no port"),
        (&format!("url = \"tcp://127.0.0.1:1\"\nexpect = \"{}\"", "x".repeat(5000)), "at most 4096 bytes"),
        ("", "give url"),
    ] {
        let config = write_file(dir.path(), "c.toml", &format!("[[target]]\nname = \"a\"\n{body}\n"));
        let run = Healwatch::new().args(["validate", "--offline", "-c"]).arg(&config).run();
        run.expect_code(2);
        assert!(run.stderr().contains(want), "{body}: {run}");
    }
}
