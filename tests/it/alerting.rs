//! What healwatch tells monitoring: the metrics file, notifications and the dead man's
//! ping, against real HTTP receivers on 127.0.0.1.

use std::path::PathBuf;
use std::time::Duration;

use crate::util::{Behaviour, FakeDocker, Healwatch, Server, free_port, write_file};

const FAST: [&str; 4] = ["--retries", "0", "--recovery-timeout", "0"];

fn metric(text: &str, line_start: &str) -> f64 {
    let line = text.lines().find(|l| l.starts_with(line_start)).unwrap_or_else(|| panic!("no {line_start} in\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// The metrics file and promtool's verdict on it, when promtool is there (scripts/test.sh
/// provides it as HEALWATCH_PROMTOOL; with HEALWATCH_E2E=1 it must be there).
fn promtool_check(path: &PathBuf) {
    let promtool = match std::env::var("HEALWATCH_PROMTOOL") {
        Ok(p) => p,
        Err(_) if std::env::var("HEALWATCH_E2E").is_ok_and(|v| v == "1") => {
            panic!("HEALWATCH_E2E=1 but HEALWATCH_PROMTOOL is not set")
        }
        Err(_) => return,
    };
    let text = std::fs::read(path).unwrap();
    let mut child = std::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running promtool");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &text).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {:?}\n{}{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&text)
    );
}

#[test]
fn metrics_file_carries_counters_across_passes() {
    let down = Server::start(Behaviour::Fixed(503, "down"));
    let up = Server::start(Behaviour::Fixed(200, "ok"));
    let docker = FakeDocker::new();
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("healwatch.prom");
    let run = |minute: u64| {
        Healwatch::new()
            .env("HEALWATCH_STATE", dir.path().join("state.json"))
            .env("HEALWATCH_TEST_NOW", format!("2026-11-27T10:{minute:02}:00Z"))
            .docker(&docker)
            .args(FAST)
            .arg("--metrics")
            .arg(&metrics)
            .args(["-t", &format!("app={}", down.url("/")), "-t", &format!("web={}", up.url("/"))])
            .run()
    };
    run(0).expect_code(0);
    let first = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(metric(&first, "healwatch_restarts_total{target=\"app\",container=\"app\"}"), 1.0);
    assert_eq!(metric(&first, "healwatch_target_up{target=\"web\",container=\"web\",check=\"http\"}"), 1.0);
    assert_eq!(
        metric(&first, "healwatch_target_up{target=\"app\",container=\"app\",check=\"http\"}"),
        0.0,
        "not waited for: the last check failed"
    );
    assert_eq!(metric(&first, "healwatch_last_run_success"), 1.0);
    let t0 = humantime::parse_rfc3339("2026-11-27T10:00:00Z").unwrap().duration_since(std::time::UNIX_EPOCH).unwrap();
    assert_eq!(metric(&first, "healwatch_last_run_timestamp_seconds"), t0.as_secs_f64());
    promtool_check(&metrics);

    run(2).expect_code(0);
    let second = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(
        metric(&second, "healwatch_restarts_total{target=\"app\",container=\"app\"}"),
        2.0,
        "the counter survives between passes"
    );
    run(4).expect_code(0);
    let third = run(6);
    third.expect_code(1);
    let gave_up = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(metric(&gave_up, "healwatch_target_gave_up{target=\"app\",container=\"app\"}"), 1.0, "{third}");
    assert_eq!(metric(&gave_up, "healwatch_last_run_success"), 0.0);
    promtool_check(&metrics);
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.contains(".tmp-")), "temp files left behind: {names:?}");
}

#[test]
fn metrics_file_is_replaced_whole() {
    let up = Server::start(Behaviour::Fixed(200, "ok"));
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("healwatch.prom");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (metrics, stop) = (metrics.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok(text) = std::fs::read_to_string(&metrics) {
                    assert!(text.ends_with("healwatch_last_run_success 1\n"), "a torn metrics file:\n{text}");
                    reads += 1;
                }
            }
            reads
        })
    };
    for _ in 0..30 {
        Healwatch::new()
            .arg("-n")
            .arg("--metrics")
            .arg(&metrics)
            .args(["-t", &format!("web={}", up.url("/"))])
            .run()
            .expect_code(0);
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(reader.join().unwrap() > 0, "the reader never saw the file");
}

#[test]
fn a_config_error_still_reports_a_failed_run_to_metrics_and_ping() {
    let ping = Server::start(Behaviour::Fixed(200, "OK"));
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("m.prom");
    let run = Healwatch::new()
        .arg("--metrics")
        .arg(&metrics)
        .args(["--ping-url", &ping.url("/hc"), "-t", "bad name=http://x/"])
        .run();
    run.expect_code(2);
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(metric(&text, "healwatch_last_run_success"), 0.0);
    assert_eq!(ping.received()[0].0, "GET /hc/fail HTTP/1.1");
}

#[test]
fn a_bad_flag_value_is_reported_as_a_bad_target_is() {
    let ping = Server::start(Behaviour::Fixed(200, "OK"));
    let dir = tempfile::tempdir().unwrap();
    let (metrics, log) = (dir.path().join("m.prom"), dir.path().join("l.jsonl"));
    // A bad value before the outputs, an unknown flag and a stray word after them.
    let run = Healwatch::new()
        .args(["--timeout", "banana", "--bogus", "x"])
        .arg("--metrics")
        .arg(&metrics)
        .arg("--log")
        .arg(&log)
        .args(["--ping-url", &ping.url("/hc"), "-t", "app=http://127.0.0.1:9/"])
        .run();
    run.expect_code(2);
    let error = run.status_line()["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("--bogus"), "the status line names what clap rejected: {run}");
    assert!(run.stderr().contains("unexpected argument '--bogus'"), "clap's own message on stderr: {run}");
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(metric(&text, "healwatch_last_run_success"), 0.0);
    assert_eq!(ping.received()[0].0, "GET /hc/fail HTTP/1.1");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("--bogus") && logged.lines().count() == 1, "{logged}");
    // Help and version are not errors, and other subcommands keep clap's message alone.
    Healwatch::new().arg("--help").run().expect_code(0);
    let validate = Healwatch::new().args(["validate", "--bogus"]).run();
    validate.expect_code(2);
    assert!(validate.output.stdout.is_empty(), "{validate}");
}

#[test]
fn notification_posts_the_status_line() {
    let down = Server::start(Behaviour::Fixed(503, "down"));
    let receiver = Server::start(Behaviour::Fixed(200, "ok"));
    let docker = FakeDocker::new();
    let run = Healwatch::new()
        .docker(&docker)
        .args(FAST)
        .args(["--notify-url", &receiver.url("/hook"), "-t", &format!("app={}", down.url("/"))])
        .run();
    run.expect_code(0);
    let received = receiver.received();
    assert_eq!(received.len(), 1, "{run}");
    let (line, head, body) = &received[0];
    assert_eq!(line, "POST /hook HTTP/1.1");
    assert!(head.to_lowercase().contains("content-type: application/json"), "{head}");
    let posted: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(posted, run.status_line(), "the POST body is the status line");

    // Healthy passes say nothing.
    let quiet = Healwatch::new()
        .docker(&docker)
        .args(FAST)
        .args(["--notify-url", &receiver.url("/hook"), "-t", &format!("web={}", receiver.url("/"))])
        .run();
    quiet.expect_code(0);
    assert_eq!(receiver.received().iter().filter(|r| r.0.starts_with("POST")).count(), 1);
}

#[test]
fn notification_is_retried_once() {
    let down = Server::start(Behaviour::Fixed(503, "down"));
    let receiver = Server::start(Behaviour::FailFirst(1));
    let docker = FakeDocker::new().with_containers(&["app"]);
    let run = Healwatch::new()
        .docker(&docker)
        .args(FAST)
        .args(["--notify-url", &receiver.url("/hook"), "-t", &format!("app={}", down.url("/"))])
        .run();
    run.expect_code(0);
    assert_eq!(receiver.request_count(), 2, "{run}");
    assert!(run.status_line().get("warnings").is_none(), "the retry worked\n{run}");
}

#[test]
fn notify_on_restricts_the_outcomes() {
    let down = Server::start(Behaviour::Fixed(503, "down"));
    let receiver = Server::start(Behaviour::Fixed(200, "ok"));
    let docker = FakeDocker::new();
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[defaults]\nnotify_url = \"{}\"\nnotify_on = [\"gave_up\", \"restart_failed\"]\n[[target]]\nname = \"app\"\nurl = \"{}\"\n",
            receiver.url("/hook"),
            down.url("/")
        ),
    );
    let restarted = Healwatch::new().docker(&docker).args(FAST).arg("-c").arg(&config).run();
    assert_eq!(restarted.target("app")["outcome"], "restarted");
    assert_eq!(receiver.request_count(), 0, "restarted is not in notify_on");
    docker.fail_restarts(1, "boom");
    let failed = Healwatch::new().docker(&docker).args(FAST).arg("-c").arg(&config).run();
    assert_eq!(failed.target("app")["outcome"], "restart_failed");
    assert_eq!(receiver.request_count(), 1, "{failed}");

    let bad = write_file(
        dir.path(),
        "bad.toml",
        "[defaults]\nnotify_on = [\"restartd\"]\n[[target]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/\"\n",
    );
    let run = Healwatch::new().arg("validate").arg("-c").arg(&bad).run();
    run.expect_code(2);
    assert!(run.stderr().contains("notify_on") && run.stderr().contains("'restartd' is not an outcome"), "{run}");
}

#[test]
fn dead_or_hung_receivers_are_warnings_within_a_bound() {
    let down = Server::start(Behaviour::Fixed(503, "down"));
    let hung = Server::start(Behaviour::Hang);
    let docker = FakeDocker::new();
    let dead = format!("http://ops:hunter2@127.0.0.1:{}/hook", free_port());
    let run = Healwatch::new()
        .docker(&docker)
        .args(FAST)
        .args(["--notify-url", &dead, "--ping-url", &hung.url("/ping"), "-t", &format!("app={}", down.url("/"))])
        .run();
    run.expect_code(0);
    assert_eq!(run.target("app")["outcome"], "restarted", "healing went on\n{run}");
    let warnings = run.status_line()["warnings"].to_string();
    assert!(warnings.contains("notifying http://ops:***@127.0.0.1"), "{run}");
    assert!(warnings.contains("pinging"), "{run}");
    assert!(!run.stdout().contains("hunter2"));
    // Two 3 s attempts with a pause between, notify and ping side by side: about 6.5 s.
    assert!(run.elapsed < Duration::from_secs(12), "{run}");
}

#[test]
fn ping_says_success_or_fail() {
    let up = Server::start(Behaviour::Fixed(200, "ok"));
    let down = Server::start(Behaviour::Fixed(503, "down"));
    let ping = Server::start(Behaviour::Fixed(200, "OK"));
    Healwatch::new()
        .args(["-n", "--ping-url", &ping.url("/abc"), "-t", &format!("web={}", up.url("/"))])
        .run()
        .expect_code(0);
    Healwatch::new()
        .args(["-n", "--retries", "0", "--ping-url", &ping.url("/abc"), "-t", &format!("app={}", down.url("/"))])
        .run()
        .expect_code(1);
    let lines: Vec<String> = ping.received().into_iter().map(|r| r.0).collect();
    assert_eq!(lines, ["GET /abc HTTP/1.1", "GET /abc/fail HTTP/1.1"]);
}
