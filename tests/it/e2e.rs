//! End-to-end: the real binary heals real containers on a private Docker engine.
//! `#[ignore]`d: scripts/test.sh runs them with `--include-ignored` against its private engine.

use std::time::Duration;

use crate::engine::{Container, CrashLoop, Engine, Spec};

/// Quick settings: one attempt, a short stop timeout, a bounded recovery wait.
const QUICK: [&str; 6] = ["--retries", "0", "--restart-timeout", "1s", "--recovery-timeout", "20s"];

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn failing_health_endpoint_of_a_running_process_is_restarted() {
    let engine = Engine::get();
    let app = Container::start(engine, "endpoint", Spec { init: true, ..Spec::default() });
    let before = app.started_at();
    let removed = engine.docker(&["exec", &app.name, "rm", "/www/health"]);
    assert!(removed.success(), "{removed:?}");
    app.wait_for_status(404, Duration::from_secs(5));

    let run = engine.healwatch().args(QUICK).args(["-t", &app.target()]).run();
    run.expect_code(0);
    let t = run.target(&app.name);
    assert_eq!(t["outcome"], "restarted", "{run}");
    assert_eq!(t["http_status"], 404);
    assert_eq!(t["restart"]["exit_code"], 0);
    assert_eq!(t["recovered"], true, "{run}");
    assert_ne!(app.started_at(), before, "StartedAt must change");
    assert_eq!(app.inspect("{{.State.Status}}"), "running");
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn paused_service_is_unpaused_before_the_restart() {
    let engine = Engine::get();
    let app = Container::start(engine, "paused", Spec { init: true, ..Spec::default() });
    app.docker(&["pause"]);
    // Retries and the decide window as shipped: the pass's listing says paused, which
    // decides it before any attempt (a frozen process answers nothing).
    let run = engine
        .healwatch()
        .args(["--timeout", "1s", "--restart-timeout", "10s", "--recovery-timeout", "20s"])
        .args(["-t", &app.target()])
        .run();
    run.expect_code(0);
    let t = run.target(&app.name);
    let paused = format!("container {} is paused and answers nothing", app.name);
    assert_eq!((t["outcome"].as_str(), t["error"].as_str()), (Some("restarted"), Some(paused.as_str())), "{run}");
    assert_eq!((t["attempts"].as_u64(), t["recovered"].as_bool()), (Some(0), Some(true)), "{run}");
    // A paused process cannot take SIGTERM: without the unpause the restart would wait
    // out the whole 10 s stop timeout.
    let restart_ms = t["restart"]["duration_ms"].as_u64().unwrap();
    assert!(restart_ms < 8_000, "restart took {restart_ms} ms: the stop timeout was waited out\n{run}");
    assert_eq!(app.inspect("{{.State.Status}}"), "running");
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn killed_container_is_started_again() {
    let engine = Engine::get();
    let app =
        Container::start(engine, "killed", Spec { init: true, restart: Some("unless-stopped"), ..Spec::default() });
    app.docker(&["kill"]);
    // The restart policy is off after a manual kill: Docker leaves it down.
    app.wait_for_inspect("{{.State.Status}} {{.RestartCount}}", "exited 0", Duration::from_secs(10));
    // Retries as shipped: the pass's listing says exited, which decides it before any attempt.
    let run = engine.healwatch().args(&QUICK[2..]).args(["-t", &app.target()]).run();
    run.expect_code(0);
    let t = run.target(&app.name);
    let exited = format!("container {} exited (137)", app.name);
    assert_eq!((t["outcome"].as_str(), t["error"].as_str()), (Some("restarted"), Some(exited.as_str())), "{run}");
    assert_eq!((t["attempts"].as_u64(), t["recovered"].as_bool()), (Some(0), Some(true)), "{run}");
    assert_eq!(app.inspect("{{.State.Status}}"), "running");
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn service_that_fails_after_every_restart_is_not_recovered() {
    let engine = Engine::get();
    let app = Container::start(engine, "crashy", Spec { init: true, never_healthy: true, ..Spec::default() });
    let before = app.started_at();
    let run = engine
        .healwatch()
        .args(["--retries", "0", "--restart-timeout", "1s", "--recovery-timeout", "3s", "-t", &app.target()])
        .run();
    run.expect_code(1);
    let t = run.target(&app.name);
    assert_eq!((t["outcome"].as_str(), t["recovered"].as_bool()), (Some("restarted"), Some(false)), "{run}");
    assert_eq!(t["recovery_error"], "status 404 not in 200-399");
    assert_ne!(app.started_at(), before);
    // About the recovery timeout (3 s) plus the restart; never much more.
    assert!(run.elapsed < Duration::from_secs(10), "{run}");
    assert!(run.elapsed >= Duration::from_secs(3), "it did not wait for recovery\n{run}");
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn missing_container_fails_alone() {
    let engine = Engine::get();
    let app = Container::start(engine, "neighbour", Spec { init: true, ..Spec::default() });
    engine.docker(&["exec", &app.name, "rm", "/www/health"]);
    let ghost = format!("hw-ghost-{}", std::process::id());
    let run = engine
        .healwatch()
        .args(QUICK)
        .args(["-t", &app.target(), "-t", &format!("{ghost}=http://127.0.0.1:{}/health", crate::util::free_port())])
        .run();
    run.expect_code(1);
    let g = run.target(&ghost);
    assert_eq!(g["outcome"], "restart_failed", "{run}");
    assert!(g["restart"]["stderr"].as_str().unwrap().contains("No such container"), "{run}");
    assert_eq!(run.target(&app.name)["outcome"], "restarted");
    assert_eq!(run.target(&app.name)["recovered"], true);
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn restart_of_a_process_ignoring_sigterm_takes_the_restart_timeout() {
    let engine = Engine::get();
    // No --init: busybox httpd is PID 1 and ignores SIGTERM.
    let app = Container::start(engine, "stubborn", Spec::default());
    engine.docker(&["exec", &app.name, "rm", "/www/health"]);
    let run = engine
        .healwatch()
        .args(["--retries", "0", "--restart-timeout", "2s", "--recovery-timeout", "20s", "-t", &app.target()])
        .run();
    run.expect_code(0);
    let t = run.target(&app.name);
    let restart_ms = t["restart"]["duration_ms"].as_u64().unwrap();
    assert!(
        (2_000..8_000).contains(&restart_ms),
        "restart took {restart_ms} ms, want about 2 s (not Docker's 10 s)\n{run}"
    );
    assert_eq!(t["recovered"], true);
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn dry_run_and_healthy_targets_restart_nothing() {
    let engine = Engine::get();
    let healthy = Container::start(engine, "healthy", Spec { init: true, ..Spec::default() });
    let broken = Container::start(engine, "dry", Spec { init: true, ..Spec::default() });
    engine.docker(&["exec", &broken.name, "rm", "/www/health"]);
    let (healthy_before, broken_before) = (healthy.started_at(), broken.started_at());

    let run = engine.healwatch().args(QUICK).args(["-t", &healthy.target()]).run();
    run.expect_code(0);
    assert_eq!(run.target(&healthy.name)["outcome"], "healthy");
    let dry = engine.healwatch().args(QUICK).args(["--dry-run", "-t", &broken.target()]).run();
    dry.expect_code(1);
    assert_eq!(dry.target(&broken.name)["outcome"], "unhealthy", "{dry}");

    assert_eq!(healthy.started_at(), healthy_before);
    assert_eq!(broken.started_at(), broken_before);
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn unreachable_daemon_is_a_clear_error_per_target() {
    let engine = Engine::get();
    let app = Container::start(engine, "nodaemon", Spec { init: true, ..Spec::default() });
    engine.docker(&["exec", &app.name, "rm", "/www/health"]);
    let before = app.started_at();
    let run = crate::util::Healwatch::new()
        .env("DOCKER_HOST", "unix:///nonexistent/healwatch-test.sock")
        .arg("--docker")
        .arg(&engine.docker)
        .args(QUICK)
        .args(["-t", &app.target()])
        .run();
    run.expect_code(1);
    let t = run.target(&app.name);
    assert_eq!(t["outcome"], "engine_down", "{run}");
    assert!(t["error"].as_str().unwrap().contains("Cannot connect to the Docker daemon"), "{run}");
    assert!(t.get("restart").is_none(), "no restart was attempted\n{run}");
    assert!(run.elapsed < Duration::from_secs(15), "{run}");
    assert_eq!(app.started_at(), before);
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn crash_loop_guard_and_start_period_on_a_real_container() {
    let engine = Engine::get();
    let app = Container::start(engine, "crashloop", Spec { init: true, never_healthy: true, ..Spec::default() });
    let state = tempfile::tempdir().unwrap();
    let pass = |extra: &[&str]| {
        engine
            .healwatch()
            .env("HEALWATCH_STATE", state.path().join("state.json"))
            .args(["--retries", "0", "--restart-timeout", "1s", "--recovery-timeout", "1s", "--max-restarts", "2"])
            .args(extra)
            .args(["-t", &app.target()])
            .run()
    };
    // Just started: inside a 1-minute start period, Docker's real StartedAt spares it.
    let young = pass(&["--start-period", "1m"]);
    young.expect_code(1);
    assert_eq!(young.target(&app.name)["outcome"], "starting", "{young}");
    for _ in 0..2 {
        let run = pass(&[]);
        assert_eq!(run.target(&app.name)["outcome"], "restarted", "{run}");
    }
    let before = app.started_at();
    let run = pass(&[]);
    run.expect_code(1);
    assert_eq!(run.target(&app.name)["outcome"], "gave_up", "{run}");
    assert_eq!(app.started_at(), before, "no restart once the guard gave up");
}

/// The daemon goes away and comes back. A stopped dockerd removes its socket, so the
/// engine is reached through a link to the private engine's socket that the test
/// removes ("stopped") and puts back ("started"): the real CLI meets a missing socket,
/// then the real engine, without stopping the engine the other tests share.
#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn a_stopped_daemon_is_engine_down_and_healing_resumes_when_it_is_back() {
    let engine = Engine::get();
    let app = Container::start(engine, "engine-down", Spec { init: true, ..Spec::default() });
    app.break_health();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let real = engine.host.strip_prefix("unix://").expect("a unix socket");
    let config = crate::util::write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[defaults]\nretries = 0\nrestart_timeout = \"1s\"\nrecovery_timeout = \"20s\"\nmax_restarts = 2\n\
             [[target]]\nname = \"app\"\ncontainer = \"{}\"\nurl = \"{}\"\ndocker_host = \"unix://{}\"\n",
            app.name,
            app.url(),
            socket.display()
        ),
    );
    let pass = || engine.healwatch().env("HEALWATCH_STATE", dir.path().join("state.json")).arg("-c").arg(&config).run();
    for _ in 0..3 {
        let run = pass();
        run.expect_code(1);
        let t = run.target("app");
        assert_eq!(t["outcome"], "engine_down", "{run}");
        assert_eq!(t["restarts_in_window"], 0, "{run}");
    }
    std::os::unix::fs::symlink(real, &socket).unwrap();
    let run = pass();
    run.expect_code(0);
    assert_eq!(
        (run.target("app")["outcome"].as_str(), run.target("app")["recovered"].as_bool()),
        (Some("restarted"), Some(true)),
        "{run}"
    );
}

/// A config of one target on `app`, with `body` as its check.
fn check_config(dir: &std::path::Path, app: &Container, body: &str) -> std::path::PathBuf {
    crate::util::write_file(
        dir,
        "c.toml",
        &format!(
            "[defaults]\nretries = 0\ntimeout = \"1s\"\nrestart_timeout = \"2s\"\nrecovery_timeout = \"20s\"\n\
             [[target]]\nname = \"app\"\ncontainer = \"{}\"\n{body}\n",
            app.name
        ),
    )
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn a_tcp_service_that_stops_accepting_is_healed() {
    let engine = Engine::get();
    let app = Container::start(engine, "tcp", Spec { init: true, ..Spec::default() });
    let dir = tempfile::tempdir().unwrap();
    let config = check_config(
        dir.path(),
        &app,
        &format!(
            "url = \"tcp://127.0.0.1:{}\"\nsend = \"GET /health HTTP/1.0\\r\\n\\r\\n\"\nexpect = \"200 OK\"",
            app.port
        ),
    );
    let pass = || engine.healwatch().env("HEALWATCH_STATE", dir.path().join("s.json")).arg("-c").arg(&config).run();
    pass().expect_code(0);
    // The server process dies: the container exits, nothing listens any more.
    engine.docker(&["exec", &app.name, "killall", "httpd"]);
    app.wait_for_inspect("{{.State.Status}}", "exited", Duration::from_secs(10));
    let run = pass();
    run.expect_code(0);
    let t = run.target("app");
    // The pass's listing says exited: decided at once, before any attempt.
    let exited = format!("container {} exited (143)", app.name);
    assert_eq!((t["outcome"].as_str(), t["error"].as_str()), (Some("restarted"), Some(exited.as_str())), "{run}");
    assert_eq!((t["attempts"].as_u64(), t["recovered"].as_bool()), (Some(0), Some(true)), "{run}");
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn failing_and_hanging_commands_in_the_container_are_healed_once() {
    let engine = Engine::get();
    let failing = Container::start(engine, "exec-fail", Spec { init: true, ..Spec::default() });
    failing.break_health();
    let dir = tempfile::tempdir().unwrap();
    let config = check_config(dir.path(), &failing, "exec = [\"test\", \"-f\", \"/www/health\"]");
    let run = engine.healwatch().arg("-c").arg(&config).run();
    run.expect_code(0);
    assert_eq!(run.target("app")["outcome"], "restarted", "{run}");
    assert!(run.target("app")["error"].as_str().unwrap().starts_with("exec exited 1"), "{run}");

    // Hangs the first time only: the restart keeps /tmp, so the check passes after it.
    let hanging = Container::start(engine, "exec-hang", Spec { init: true, ..Spec::default() });
    let dir = tempfile::tempdir().unwrap();
    let config = check_config(
        dir.path(),
        &hanging,
        "exec = [\"sh\", \"-c\", \"test -f /tmp/hung || { touch /tmp/hung; sleep 300; }\"]",
    );
    let run = engine.healwatch().arg("-c").arg(&config).run();
    run.expect_code(0);
    let t = run.target("app");
    assert_eq!((t["outcome"].as_str(), t["recovered"].as_bool()), (Some("restarted"), Some(true)), "{run}");
    assert!(t["error"].as_str().unwrap().contains("killed after 1s (timeout)"), "{run}");
    // No docker exec client is left behind on this host.
    let clients =
        std::process::Command::new("pgrep").args(["-f", &format!("exec -- {} sh", hanging.name)]).output().unwrap();
    assert!(clients.stdout.is_empty(), "left behind: {}", String::from_utf8_lossy(&clients.stdout));
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn a_fatal_log_line_is_healed_once_and_not_again() {
    let engine = Engine::get();
    let app = Container::start(engine, "logs", Spec { init: true, ..Spec::default() });
    let dir = tempfile::tempdir().unwrap();
    let config = check_config(dir.path(), &app, "log_pattern = \"FATAL|OutOfMemoryError\"");
    let pass = || engine.healwatch().env("HEALWATCH_STATE", dir.path().join("s.json")).arg("-c").arg(&config).run();
    pass().expect_code(0);
    // Into the container's log: PID 1's stdout.
    engine.docker(&["exec", &app.name, "sh", "-c", "echo 'FATAL: cannot allocate' > /proc/1/fd/1"]);
    let run = pass();
    run.expect_code(0);
    let t = run.target("app");
    assert_eq!(
        (t["outcome"].as_str(), t["error"].as_str()),
        (Some("restarted"), Some("log: FATAL: cannot allocate")),
        "{run}"
    );
    let run = pass();
    run.expect_code(0);
    assert_eq!(run.target("app")["outcome"], "healthy", "the old line does not count again\n{run}");
    // 50 MB of logs between passes are scanned line by line (bench/checks.sh measures it).
    engine.docker(&[
        "exec",
        &app.name,
        "sh",
        "-c",
        "yes 'an ordinary log line of a busy service, nothing wrong here' | head -c 50000000 > /proc/1/fd/1",
    ]);
    let run = pass();
    run.expect_code(0);
    assert_eq!(run.target("app")["outcome"], "healthy", "{run}");
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn logs_the_driver_keeps_none_of_are_said_not_read_as_healthy() {
    let engine = Engine::get();
    let app = Container::start(engine, "nologs", Spec { init: true, log_driver: Some("none"), ..Spec::default() });
    let dir = tempfile::tempdir().unwrap();
    let config = check_config(dir.path(), &app, "log_pattern = \"FATAL\"");
    let started = app.started_at();
    let run = engine.healwatch().arg("-c").arg(&config).run();
    run.expect_code(1);
    let t = run.target("app");
    assert_eq!(t["outcome"], "invalid", "{run}");
    assert!(t["error"].as_str().unwrap().contains("logs cannot be read"), "{run}");
    assert_eq!(app.started_at(), started, "nothing restarted");
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn a_quiet_watch_starts_no_process_and_hears_docker_through_its_api() {
    let engine = Engine::get();
    let app = Container::start(engine, "watch-api", Spec { init: true, ..Spec::default() });
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    // A look at a paused container hangs past the watch's end: only Docker's pause event,
    // read from the engine's socket, can start the pass that heals it.
    let watch = engine
        .healwatch()
        .args(["--timeout", "30s", "--decide-within", "30s", "--watch", "10s", "--state"])
        .arg(&state)
        .args(["-t", &app.target()])
        .spawn();
    crate::util::eventually(Duration::from_secs(10), "the first pass remembered", || {
        crate::util::ready(state.exists())
    });
    for _ in 0..20 {
        // Looks over HTTP, events over the socket: no docker CLI, no process at all.
        assert_eq!(watch.children(), Vec::<String>::new(), "a quiet watch started a process");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(app.docker(&["pause"]).success());
    let run = watch.wait(Duration::from_secs(60));
    run.expect_code(0);
    let lines: Vec<serde_json::Value> = run.stdout().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "the first pass, and the one the pause event started\n{run}");
    let healed = &lines[1]["targets"][0];
    assert_eq!((healed["outcome"].as_str(), healed["recovered"].as_bool()), (Some("restarted"), Some(true)), "{run}");
    assert_eq!(app.inspect("{{.State.Status}}"), "running");
}

/// Runs `--watch 12s` on `app`, calls `break_it` once the first pass is remembered, and
/// returns the watch's run and the pass it started.
fn watch_and_break(app: &Container, break_it: impl FnOnce()) -> (crate::util::Run, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let watch =
        Engine::get().healwatch().args(["--watch", "12s", "--state"]).arg(&state).args(["-t", &app.target()]).spawn();
    crate::util::eventually(Duration::from_secs(10), "the first pass remembered", || {
        crate::util::ready(state.exists())
    });
    break_it();
    let run = watch.wait(Duration::from_secs(60));
    run.expect_code(0);
    let lines: Vec<serde_json::Value> = run.stdout().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "the first pass, and the one the watch started\n{run}");
    let healed = lines[1]["targets"][0].clone();
    assert_eq!((healed["outcome"].as_str(), healed["recovered"].as_bool()), (Some("restarted"), Some(true)), "{run}");
    (run, healed)
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn a_watch_heals_a_container_paused_after_its_first_pass_without_waiting_for_a_timeout() {
    let engine = Engine::get();
    let app = Container::start(engine, "watch-paused", Spec { init: true, ..Spec::default() });
    let (run, healed) = watch_and_break(&app, || assert!(app.docker(&["pause"]).success()));
    // Docker's pause event started the pass, which asked Docker instead of timing out.
    assert_eq!(healed["attempts"], 0, "{run}");
    assert_eq!(healed["error"], format!("container {} is paused and answers nothing", app.name), "{run}");
    assert_eq!(app.inspect("{{.State.Status}}"), "running");
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn a_watch_heals_a_sigstopped_service_without_waiting_out_the_stop_timeout() {
    let engine = Engine::get();
    let app = Container::start(engine, "watch-stopped", Spec { init: true, ..Spec::default() });
    let init = app.inspect("{{.State.Pid}}");
    let (run, healed) = watch_and_break(&app, || {
        let children = std::fs::read_to_string(format!("/proc/{init}/task/{init}/children")).unwrap();
        let httpd = children.split_whitespace().next().expect("the init's child, httpd");
        let stopped = std::process::Command::new("kill").args(["-STOP", httpd]).status().unwrap();
        assert!(stopped.success());
    });
    assert!(healed["error"].as_str().unwrap().starts_with("timeout after"), "{run}");
    // SIGCONT went first, so SIGTERM ended it: the 10 s stop timeout was not waited out.
    let restart_ms = healed["restart"]["duration_ms"].as_u64().unwrap();
    assert!(restart_ms < 8_000, "restart took {restart_ms} ms: the stop timeout was waited out\n{run}");
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn a_crash_loop_is_decided_at_once_and_does_not_blind_the_watch() {
    let engine = Engine::get();
    let app = Container::start(engine, "loop-app", Spec { init: true, ..Spec::default() });
    let looping = CrashLoop::start(engine, "loop", "unless-stopped");
    // Its health endpoint never answers; Docker revives it every time it exits.
    let never = format!("{}=http://127.0.0.1:{}/health", looping.name, crate::util::free_port());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let watch = engine
        .healwatch()
        .args(["--watch", "20s", "--retries", "0", "--recovery-timeout", "60s", "--state"])
        .arg(&state)
        .args(["-t", &never, "-t", &app.target()])
        .spawn();
    // The first pass sees the crash loop at once: listed `restarting`, it is left to
    // Docker's policy (a restart would reset its back-off); listed running between two
    // exits, it is restarted and Docker is seen bringing it back again. Either way the
    // pass ends: it does not wait out the 60 s recovery timeout.
    crate::util::eventually(Duration::from_secs(15), "the first pass remembered", || {
        crate::util::ready(state.exists())
    });
    app.break_health();
    let broken = std::time::SystemTime::now();
    let run = watch.wait(Duration::from_secs(60));
    // The watch ended on time (20 s and one attempt), having healed the other container.
    assert!(run.elapsed < Duration::from_secs(30), "{run}");
    let lines: Vec<serde_json::Value> = run.stdout().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let first = lines[0]["targets"].as_array().unwrap().iter().find(|t| t["name"] == looping.name).unwrap().clone();
    match first["outcome"].as_str() {
        Some("restarted") => {
            assert_eq!(first["recovered"], false, "{run}");
            assert!(first["recovery_error"].as_str().unwrap().contains("crash loop"), "{run}");
        }
        _ => {
            assert_eq!(first["outcome"], "unhealthy", "{run}");
            let error = first["error"].as_str().unwrap();
            assert!(error.contains("crash loop") && error.contains("exited 3"), "{run}");
        }
    }
    // Whichever the first pass saw, the crash loop is reported with its last words (the
    // engine's copiers may order two streams' lines of the same instant either way), and
    // the container is restarted once at most: then left to Docker's policy.
    let said = lines.iter().flat_map(|l| l["targets"].as_array().unwrap().iter()).any(|t| {
        let error = t["error"].as_str().unwrap_or_default();
        t["name"] == looping.name
            && error.contains("crash loop")
            && error.contains("its last log lines: \"")
            && error.contains("\"config missing: DATABASE_URL\"")
    });
    let restarts = lines.last().unwrap()["targets"].as_array().unwrap().iter().find(|t| t["name"] == looping.name);
    assert!(restarts.is_some_and(|t| t["restarts_total"].as_u64() <= Some(1)), "{run}");
    assert!(said, "no report of {} carries its last log lines\n{run}", looping.name);
    let healed = lines.iter().skip(1).find_map(|l| {
        l["targets"].as_array().unwrap().iter().find(|t| t["name"] == app.name && t["outcome"] == "restarted").cloned()
    });
    let healed = healed.unwrap_or_else(|| panic!("the watch healed {}\n{run}", app.name));
    assert_eq!(healed["recovered"], true, "{run}");
    let pass = lines
        .iter()
        .find(|l| l["targets"].as_array().unwrap().iter().any(|t| t["name"] == app.name && t["outcome"] == "restarted"))
        .unwrap();
    let healed_at = humantime::parse_rfc3339(pass["time"].as_str().unwrap()).unwrap()
        + Duration::from_millis(pass["duration_ms"].as_u64().unwrap());
    eprintln!(
        "the first pass (with the crash loop) took {} ms; {} healed {:?} after it broke; the watch ran {:?}",
        lines[0]["duration_ms"],
        app.name,
        healed_at.duration_since(broken).unwrap_or_default(),
        run.elapsed
    );
}

/// A service that takes 8 s to answer after every start, with the watch: the pass that
/// restarts it hands the slow recovery to the watch after 3 s instead of waiting up to a
/// minute, so a second container broken meanwhile is healed while the first is still
/// starting, and the first one's recovery is reported by a pass of its own.
#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn a_slow_recovery_is_handed_to_the_watch_which_heals_the_others_meanwhile() {
    let engine = Engine::get();
    let app = Container::start(engine, "slow-other", Spec { init: true, ..Spec::default() });
    let name = format!("hw-slow-start-{}", std::process::id());
    let port = crate::util::free_port();
    let _ = engine.docker(&["rm", "-f", &name]);
    let script = format!("sleep 8; echo ok > /www/health; exec /bin/serve {port}");
    let out = engine.docker(&[
        "run",
        "-d",
        "--init",
        "--name",
        &name,
        "--network",
        "host",
        &engine.image,
        "sh",
        "-c",
        &script,
    ]);
    assert!(out.success(), "{out:?}");
    struct Remove<'a>(&'a Engine, &'a str);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = self.0.docker(&["rm", "-f", self.1]);
        }
    }
    let _remove = Remove(engine, &name);
    let slow = format!("{name}=http://127.0.0.1:{port}/health");
    crate::util::eventually(Duration::from_secs(20), "the slow service up", || {
        crate::util::ready(crate::engine::http_status(port, "/health") == Some(200))
    });
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let watch = engine
        .healwatch()
        .args(["--watch", "25s", "--retries", "0", "--recovery-timeout", "60s", "--state"])
        .arg(&state)
        .args(["-t", &slow, "-t", &app.target()])
        .spawn();
    crate::util::eventually(Duration::from_secs(15), "the first pass remembered", || {
        crate::util::ready(state.exists())
    });
    // Break the slow one; once the watch has restarted it (it no longer answers), break
    // the other.
    let out = engine.docker(&["exec", &name, "rm", "/www/health"]);
    assert!(out.success(), "{out:?}");
    crate::util::eventually(Duration::from_secs(10), "the slow one restarted", || {
        crate::util::ready(crate::engine::http_status(port, "/health").is_none())
    });
    app.break_health();
    eprintln!("{} broken at {}", app.name, humantime::format_rfc3339_millis(std::time::SystemTime::now()));
    let run = watch.wait(Duration::from_secs(90));
    assert!(run.elapsed < Duration::from_secs(35), "the watch ended on time\n{run}");
    let lines: Vec<serde_json::Value> = run.stdout().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let outcome = |line: &serde_json::Value, who: &str| {
        line["targets"].as_array().unwrap().iter().find(|t| t["name"] == who).cloned().unwrap_or_default()
    };
    let handed = lines.iter().position(|l| outcome(l, &name)["outcome"] == "restarted").expect("slow restarted");
    let restart = outcome(&lines[handed], &name);
    assert!(restart["recovered"].is_null(), "{run}");
    assert!(restart["recovery_error"].as_str().unwrap_or_default().contains("the watch looks on"), "{run}");
    let other = lines.iter().position(|l| outcome(l, &app.name)["outcome"] == "restarted").expect("other healed");
    let back =
        lines.iter().skip(handed + 1).position(|l| outcome(l, &name)["outcome"] == "healthy").map(|i| i + handed + 1);
    let back = back.unwrap_or_else(|| panic!("the slow one's recovery was reported\n{run}"));
    // In the pass that handed the slow one over (it looks on while it heals), or after.
    assert!(handed <= other && other < back, "the other was healed while the slow one started\n{run}");
    assert_eq!(outcome(&lines[other], &app.name)["recovered"], true, "{run}");
    for l in &lines {
        let said: Vec<String> =
            l["targets"].as_array().unwrap().iter().map(|t| format!("{}={}", t["name"], t["outcome"])).collect();
        eprintln!("{} {} ms {}", l["time"], l["duration_ms"], said.join(" "));
    }
}
