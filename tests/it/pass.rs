//! One pass against real local HTTP servers and the recording docker stand-in.

use std::time::Duration;

use crate::util::{Behaviour, FakeDocker, Healwatch, LISTING, Server, free_port, write_file};

/// Fast settings so failing targets do not wait out production defaults.
const FAST: [&str; 6] = ["--retries", "0", "--retry-delay", "10ms", "--recovery-timeout", "3s"];

#[test]
fn healthy_target_is_left_alone() {
    let server = Server::start(Behaviour::Fixed(200, "ok"));
    let docker = FakeDocker::new();
    let run = Healwatch::new().docker(&docker).args(["-t", &format!("app={}", server.url("/health"))]).run();
    run.expect_code(0);
    let line = run.status_line();
    assert_eq!(line["summary"]["healthy"], 1, "{run}");
    assert_eq!(line["dry_run"], false);
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
    let t = run.target("app");
    assert_eq!(
        (t["outcome"].as_str(), t["http_status"].as_u64(), t["attempts"].as_u64()),
        (Some("healthy"), Some(200), Some(1))
    );
    assert!(t.get("error").is_none() && t.get("restart").is_none(), "{run}");
    assert_eq!(docker.calls(), [LISTING], "only the listing, for the container's state");
}

#[test]
fn http_500_is_restarted_and_recovery_is_confirmed() {
    let docker = FakeDocker::new();
    let server = Server::start(Behaviour::WhileFileExists(docker.healthy_flag()));
    let run = Healwatch::new()
        .docker(&docker)
        .args(FAST)
        .args(["--restart-timeout", "4s", "-t", &format!("app={}", server.url("/health"))])
        .run();
    run.expect_code(0);
    let t = run.target("app");
    assert_eq!(t["outcome"], "restarted", "{run}");
    assert_eq!(t["http_status"], 503);
    assert_eq!(t["error"], "status 503 not in 200-399");
    assert_eq!(t["restart"]["exit_code"], 0);
    assert_eq!(t["recovered"], true);
    assert!(t["recovery_ms"].is_u64());
    assert_eq!(
        docker.calls(),
        [
            LISTING,
            "inspect --type container --format {{.State.Status}} {{.State.StartedAt}} {{.State.ExitCode}} {{.RestartCount}} {{.Created}} -- app",
            "restart -t 4 -- app"
        ]
    );
    let summary = &run.status_line()["summary"];
    assert_eq!(
        (summary["restarted"].as_u64(), summary["recovered"].as_u64(), summary["failed"].as_u64()),
        (Some(1), Some(1), Some(0))
    );
}

#[test]
fn each_kind_of_failure_has_a_short_reason() {
    let wrong_body = Server::start(Behaviour::Fixed(200, "status: degraded"));
    let not_found = Server::start(Behaviour::Fixed(404, "nope"));
    let hang = Server::start(Behaviour::Hang);
    let refused = free_port();
    let docker = FakeDocker::new();
    let config = format!(
        r#"
[defaults]
retries = 0
timeout = "700ms"
[[target]]
name = "body"
url = "{}"
expect_body = "ok"
[[target]]
name = "notfound"
url = "{}"
[[target]]
name = "hang"
url = "{}"
[[target]]
name = "refused"
url = "http://127.0.0.1:{refused}/health"
"#,
        wrong_body.url("/"),
        not_found.url("/"),
        hang.url("/")
    );
    let file = write_file(docker.dir.path(), "c.toml", &config);
    let run = Healwatch::new().args(["--dry-run", "-c"]).arg(&file).run();
    run.expect_code(1);
    let reasons = [
        ("body", "body lacks \"ok\""),
        ("notfound", "status 404 not in 200-399"),
        ("hang", "timeout after 700ms"),
        ("refused", "connection refused"),
    ];
    for (name, want) in reasons {
        let t = run.target(name);
        assert_eq!(t["outcome"], "unhealthy", "{name}\n{run}");
        assert!(t["error"].as_str().unwrap().starts_with(want), "{name}: {} lacks {want:?}\n{run}", t["error"]);
    }
    assert!(docker.calls().is_empty());
}

#[test]
fn a_blip_inside_the_retries_restarts_nothing() {
    let server = Server::start(Behaviour::FailFirst(2));
    let docker = FakeDocker::new();
    let run = Healwatch::new()
        .docker(&docker)
        .args(["--retries", "2", "--retry-delay", "50ms", "-t", &format!("app={}", server.url("/"))])
        .run();
    run.expect_code(0);
    assert_eq!(run.target("app")["attempts"], 3, "{run}");
    assert_eq!(server.request_count(), 3);
    assert_eq!(docker.calls(), [LISTING]);
}

#[test]
fn failed_restart_reports_dockers_message_and_exits_1() {
    let server = Server::start(Behaviour::Fixed(503, "down"));
    let docker = FakeDocker::new();
    docker.fail_restarts(1, "Error response from daemon: No such container: app");
    let run = Healwatch::new().docker(&docker).args(FAST).args(["-t", &format!("app={}", server.url("/"))]).run();
    run.expect_code(1);
    let t = run.target("app");
    assert_eq!(t["outcome"], "restart_failed", "{run}");
    assert_eq!(t["restart"]["exit_code"], 1);
    assert_eq!(t["restart"]["stderr"], "Error response from daemon: No such container: app");
    assert_eq!(run.status_line()["summary"]["failed"], 1);
}

#[test]
fn restart_that_does_not_help_is_not_recovered() {
    let server = Server::start(Behaviour::Fixed(503, "down"));
    let docker = FakeDocker::new();
    let run = Healwatch::new()
        .docker(&docker)
        .args(["--retries", "0", "--recovery-timeout", "1s", "-t", &format!("app={}", server.url("/"))])
        .run();
    run.expect_code(1);
    let t = run.target("app");
    assert_eq!((t["outcome"].as_str(), t["recovered"].as_bool()), (Some("restarted"), Some(false)), "{run}");
    assert_eq!(t["recovery_error"], "status 503 not in 200-399");
    assert!(run.elapsed < Duration::from_secs(10), "the recovery wait overran its 1s bound\n{run}");
}

#[test]
fn zero_recovery_timeout_trusts_the_restart() {
    let server = Server::start(Behaviour::Fixed(503, "down"));
    let docker = FakeDocker::new();
    let run = Healwatch::new()
        .docker(&docker)
        .args(["--retries", "0", "--recovery-timeout", "0", "-t", &format!("app={}", server.url("/"))])
        .run();
    run.expect_code(0);
    let t = run.target("app");
    assert_eq!(t["outcome"], "restarted");
    assert!(t["recovered"].is_null() && t.get("recovered").is_some(), "{run}");
    assert_eq!(server.request_count(), 1, "no recovery poll");
}

#[test]
fn dry_run_reports_and_runs_no_docker_command() {
    let server = Server::start(Behaviour::Fixed(503, "down"));
    let docker = FakeDocker::new();
    let run = Healwatch::new()
        .docker(&docker)
        .args(["-n", "--retries", "0", "-t", &format!("app={}", server.url("/"))])
        .run();
    run.expect_code(1);
    assert_eq!(run.status_line()["dry_run"], true);
    assert_eq!(run.target("app")["outcome"], "unhealthy");
    assert_eq!(docker.calls(), [LISTING], "only the read-only listing");
}

#[test]
fn hanging_targets_are_checked_in_parallel() {
    let servers: Vec<Server> = (0..20).map(|_| Server::start(Behaviour::Hang)).collect();
    let mut cmd = Healwatch::new().args(["-n", "--retries", "0", "--timeout", "1s"]);
    for (i, s) in servers.iter().enumerate() {
        cmd = cmd.args(["-t", &format!("svc{i}={}", s.url("/"))]);
    }
    let run = cmd.run();
    run.expect_code(1);
    let line = run.status_line();
    assert_eq!(line["summary"]["targets"], 20);
    assert!(line["targets"].as_array().unwrap().iter().all(|t| t["error"] == "timeout after 1s"), "{run}");
    // Sequential checks would take 20 s; in parallel the pass takes about one timeout.
    assert!(run.elapsed < Duration::from_secs(5), "20 hanging targets took {:?}\n{run}", run.elapsed);
}

#[test]
fn secrets_are_sent_but_never_printed() {
    let server = Server::start(Behaviour::Fixed(503, "down"));
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("log.jsonl");
    let url = format!("http://ops:s3cret@127.0.0.1:{}/health?token=t0ken", server.port);
    let config = format!("[[target]]\nname = \"app\"\nurl = \"{url}\"\nheaders = {{ X-Api-Key = \"hunter2\" }}\n");
    let file = write_file(home.path(), "c.toml", &config);
    let run = Healwatch::new().args(["-n", "--retries", "0", "--log"]).arg(&log).arg("-c").arg(&file).run();
    let validate = Healwatch::new().args(["validate", "--offline", "-c"]).arg(&file).run();
    validate.expect_code(0);
    let logged = std::fs::read_to_string(&log).unwrap();
    for text in [run.stdout(), run.stderr(), validate.stdout(), logged] {
        for secret in ["s3cret", "t0ken", "hunter2"] {
            assert!(!text.contains(secret), "{secret} leaked into {text}");
        }
    }
    assert_eq!(run.target("app")["url"], format!("http://ops:***@127.0.0.1:{}/health?token=***", server.port));
    let head = server.requests.lock().unwrap()[0].to_lowercase();
    assert!(head.contains("x-api-key: hunter2"), "{head}");
    assert!(head.contains("authorization: basic b3bzonmzy3jlda=="), "basic auth from the URL: {head}");
    assert!(head.starts_with("get /health?token=t0ken "), "{head}");
}

#[test]
fn proxy_variables_are_ignored_and_redirects_not_followed() {
    let server = Server::start(Behaviour::Redirect);
    let dead_proxy = format!("http://127.0.0.1:{}", free_port());
    let run = Healwatch::new()
        .env("HTTP_PROXY", &dead_proxy)
        .env("http_proxy", &dead_proxy)
        .env("ALL_PROXY", &dead_proxy)
        .args(["-n", "-t", &format!("app={}", server.url("/health"))])
        .run();
    run.expect_code(0);
    assert_eq!(run.target("app")["http_status"], 302, "{run}");
    assert_eq!(server.request_count(), 1, "the redirect was followed");
}

#[test]
fn quiet_prints_nothing_when_healthy_but_logs_every_pass() {
    let server = Server::start(Behaviour::Fixed(200, "ok"));
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("healwatch.jsonl");
    let target = format!("app={}", server.url("/"));
    let docker = FakeDocker::new().with_containers(&["app"]);
    for _ in 0..2 {
        let run =
            Healwatch::new().docker(&docker).args(["-n", "--quiet", "--log"]).arg(&log).args(["-t", &target]).run();
        run.expect_code(0);
        assert_eq!(run.stdout(), "", "{run}");
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logged.lines().count(), 2);
    for line in logged.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["targets"][0]["outcome"], "healthy");
    }
    let down = Server::start(Behaviour::Fixed(503, ""));
    let run = Healwatch::new().args(["-n", "--quiet", "--retries", "0", "-t", &format!("app={}", down.url("/"))]).run();
    run.expect_code(1);
    assert_eq!(run.target("app")["outcome"], "unhealthy", "quiet still prints a failing pass");
}

#[test]
fn unwritable_log_is_a_warning_not_a_failure() {
    let server = Server::start(Behaviour::Fixed(200, "ok"));
    let run = Healwatch::new()
        .args(["-n", "--log", "/nonexistent-dir/x.jsonl", "-t", &format!("app={}", server.url("/"))])
        .run();
    run.expect_code(0);
    let warnings = run.status_line()["warnings"].to_string();
    assert!(warnings.contains("/nonexistent-dir/x.jsonl"), "{run}");
    assert!(run.stderr().contains("warning"), "{run}");
}

#[test]
fn under_quiet_a_young_held_lock_is_routine_and_an_old_one_is_told() {
    let server = Server::start(Behaviour::Fixed(200, "ok"));
    let dir = tempfile::tempdir().unwrap();
    let (lock_path, log) = (dir.path().join("held.lock"), dir.path().join("log.jsonl"));
    let lock = std::fs::File::create(&lock_path).unwrap();
    lock.try_lock().unwrap();
    let docker = FakeDocker::new();
    let pass = |quiet: bool| {
        let run = Healwatch::new().docker(&docker).arg("--lock").arg(&lock_path).arg("--log").arg(&log);
        let run = if quiet { run.arg("--quiet") } else { run };
        run.args(["-t", &format!("app={}", server.url("/"))]).run()
    };
    // Held a moment ago: another pass of the same schedule still at work.
    let routine = pass(true);
    routine.expect_code(3);
    assert!(routine.output.stdout.is_empty() && routine.output.stderr.is_empty(), "cron would mail: {routine}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("holds the lock") && logged.contains("this pass does nothing"), "{logged}");
    // Without --quiet it is said, as always.
    let said = pass(false);
    said.expect_code(3);
    assert!(said.stderr().contains("holds the lock"), "{said}");
    // Held for two hours: longer than any pass this config allows, so it is told.
    lock.set_modified(std::time::SystemTime::now() - Duration::from_secs(7200)).unwrap();
    let stuck = pass(true);
    stuck.expect_code(3);
    assert!(stuck.status_line()["error"].as_str().unwrap().contains("holds the lock"), "{stuck}");
    assert!(stuck.stderr().contains("holds the lock"), "{stuck}");
    assert_eq!(server.request_count(), 0, "a locked-out pass checks nothing");
}

#[test]
fn a_held_lock_makes_the_pass_exit_3() {
    let server = Server::start(Behaviour::Fixed(200, "ok"));
    let dir = tempfile::tempdir().unwrap();
    let lock_path = dir.path().join("held.lock");
    let lock = std::fs::File::create(&lock_path).unwrap();
    lock.try_lock().unwrap();
    let docker = FakeDocker::new();
    let run = Healwatch::new()
        .docker(&docker)
        .arg("--lock")
        .arg(&lock_path)
        .args(["-t", &format!("app={}", server.url("/"))])
        .run();
    run.expect_code(3);
    let line = run.status_line();
    assert!(line["error"].as_str().unwrap().contains("holds the lock"), "{run}");
    assert_eq!(server.request_count(), 0, "a locked-out pass checks nothing");
    drop(lock);
    Healwatch::new()
        .docker(&docker)
        .arg("--lock")
        .arg(&lock_path)
        .args(["-t", &format!("app={}", server.url("/"))])
        .run()
        .expect_code(0);
}

#[test]
fn missing_docker_cli_is_a_clear_error() {
    let server = Server::start(Behaviour::Fixed(200, "ok"));
    let run =
        Healwatch::new().args(["--docker", "/nonexistent/docker", "-t", &format!("app={}", server.url("/"))]).run();
    run.expect_code(2);
    assert!(run.stderr().contains("docker CLI '/nonexistent/docker'"), "{run}");
    assert!(run.status_line()["error"].as_str().unwrap().contains("/nonexistent/docker"));
    let env = Healwatch::new()
        .env("HEALWATCH_DOCKER", "/nonexistent/docker2")
        .args(["-t", &format!("app={}", server.url("/"))])
        .run();
    env.expect_code(2);
    assert!(env.stderr().contains("/nonexistent/docker2"), "{env}");
}

#[test]
fn version_and_help() {
    let run = Healwatch::new().arg("-V").run();
    run.expect_code(0);
    assert_eq!(run.stdout().trim(), format!("healwatch {}", env!("CARGO_PKG_VERSION")));
    let long = Healwatch::new().arg("--version").run();
    assert_eq!(long.stdout().lines().next(), Some(format!("healwatch {}", env!("CARGO_PKG_VERSION")).as_str()));
    let help = Healwatch::new().arg("--help").run();
    help.expect_code(0);
    for text in [
        "--dry-run",
        "[default: 2s]",
        "[default: 2]",
        "[default: 100ms]",
        "[default: 5s]",
        "[default: 10s]",
        "[default: 60s]",
        "[default: 32]",
        "HEALWATCH_CONFIG",
        "HEALWATCH_DOCKER",
        "Exit status",
    ] {
        assert!(help.stdout().contains(text), "--help lacks {text}\n{help}");
    }
}

#[test]
fn proxy_is_used_when_asked() {
    let proxy = Server::start(Behaviour::Fixed(200, "ok"));
    let authority = format!("127.0.0.1:{}", free_port());
    let run = Healwatch::new()
        .args(["-n", "--retries", "0", "--proxy", &proxy.url(""), "-t", &format!("app=http://{authority}/health")])
        .run();
    let heads = proxy.requests.lock().unwrap().clone();
    assert!(!heads.is_empty(), "the proxy was not used\n{run}");
    assert!(heads[0].contains(&authority), "the proxy is asked for the target: {heads:?}");
}

#[test]
fn https_urls_are_checked_over_tls() {
    // A raw listener: the first byte a TLS client sends is 0x16 (a handshake record).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let first_byte = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut byte = [0u8; 1];
        std::io::Read::read_exact(&mut stream, &mut byte).map(|_| byte[0]).ok()
    });
    let run = Healwatch::new()
        .args(["-n", "--retries", "0", "--timeout", "2s", "-t", &format!("app=https://127.0.0.1:{port}/health")])
        .run();
    run.expect_code(1);
    assert_eq!(first_byte.join().unwrap(), Some(0x16), "healwatch did not start a TLS handshake\n{run}");
    assert!(run.target("app")["http_status"].is_null(), "{run}");
}

#[test]
fn mistakes_are_said_once_with_the_fix_even_under_quiet() {
    let up = Server::start(Behaviour::Fixed(200, "ok"));
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state.json");
    let quiet = |docker: &FakeDocker, args: &[&str]| {
        Healwatch::new()
            .docker(docker)
            .env("HEALWATCH_STATE", &state)
            .args(["--quiet", "--format", "text"])
            .args(args)
            .run()
    };
    // A target whose container does not exist: healthy, and never restartable.
    let docker = FakeDocker::new().with_containers(&["web"]);
    let target = format!("ap={}", up.url("/"));
    let first = quiet(&docker, &["-t", &target]);
    first.expect_code(0);
    assert!(first.stdout().contains("watches container 'ap', which does not exist"), "{first}");
    assert!(first.stdout().contains("healwatch audit"), "the fix is said\n{first}");
    let again = quiet(&docker, &["-t", &target]);
    assert_eq!(again.stdout(), "", "said once\n{again}");
    // An engine that cannot be reached (a wrong socket): its healthy targets hide nothing.
    let cli = crate::util::write_file(
        home.path(),
        "docker",
        "#!/bin/sh\necho 'Cannot connect to the Docker daemon at unix:///nonexistent/docker.sock.' >&2\nexit 1\n",
    );
    std::fs::set_permissions(&cli, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let wrong = Healwatch::new()
        .env("HEALWATCH_STATE", home.path().join("other.json"))
        .args(["--quiet", "--docker"])
        .arg(&cli)
        .args(["-t", &target])
        .run();
    wrong.expect_code(0);
    let said = wrong.status_line()["warnings"].to_string();
    assert!(said.contains("cannot be reached") && said.contains("fix DOCKER_HOST"), "{wrong}");
    // Discovery that finds nothing to watch.
    let nothing = quiet(&docker, &["--discover"]);
    assert!(nothing.stdout().contains("discovery found nothing to watch among 1 containers"), "{nothing}");
}
