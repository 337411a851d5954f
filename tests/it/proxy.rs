//! Behind a Docker socket proxy (scripts/proxy.sh: Debian's HAProxy with the method and
//! path rules the common socket-proxy images use, on 127.0.0.1 in front of the private
//! engine's socket): healwatch speaks plain HTTP to `tcp://`, with no docker CLI at all.

use std::time::Duration;

use crate::engine::{Container, Engine, Spec};
use crate::util::{Healwatch, write_file};

/// A variable scripts/test.sh sets for the proxies it starts.
fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/test.sh, which starts the proxies"))
}

/// healwatch through the proxy that allows what a healing healwatch needs (CONTAINERS,
/// POST, EVENTS, EXEC), with no docker CLI on its PATH.
fn through_proxy(empty: &std::path::Path) -> Healwatch {
    through("HEALWATCH_PROXY_HOST", empty)
}

/// healwatch through the proxy whose address is in `variable`, with no docker CLI on its
/// PATH (`empty`, a folder with nothing in it).
fn through(variable: &str, empty: &std::path::Path) -> Healwatch {
    Healwatch::new().env("DOCKER_HOST", var(variable)).env("PATH", empty)
}

/// A proxy's log: a line per request, `"USER-AGENT" STATUS "REQUEST LINE"`.
fn log_of(variable: &str) -> Vec<String> {
    std::fs::read_to_string(var(variable)).unwrap_or_default().lines().map(str::to_string).collect()
}

/// The healing proxy's log.
fn proxy_log() -> Vec<String> {
    log_of("HEALWATCH_PROXY_LOG")
}

#[test]
#[ignore = "needs a Docker engine and the proxy: scripts/test.sh"]
fn a_pass_through_a_socket_proxy_heals_without_a_docker_cli() {
    let engine = Engine::get();
    let empty = tempfile::tempdir().unwrap();
    let before = proxy_log().len();

    let spec = || Spec { init: true, restart: Some("unless-stopped"), ..Spec::default() };
    let broken = Container::start(engine, "proxy-broken", spec());
    broken.break_health();
    let paused = Container::start(engine, "proxy-paused", spec());
    paused.docker(&["pause"]);
    let exited = Container::start(engine, "proxy-exited", Spec { init: true, ..Spec::default() });
    exited.docker(&["stop", "-t", "1"]);
    let exec = Container::start(engine, "proxy-exec", spec());
    exec.break_health();
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[defaults]\nretries = 0\ntimeout = \"1s\"\nrestart_timeout = \"2s\"\nrecovery_timeout = \"20s\"\n\
             [[target]]\nname = \"exec\"\ncontainer = \"{}\"\nexec = [\"test\", \"-f\", \"/www/health\"]\n",
            exec.name
        ),
    );
    let run = through_proxy(empty.path())
        .arg("-c")
        .arg(&config)
        .args(["-t", &broken.target(), "-t", &paused.target(), "-t", &exited.target()])
        .run();
    run.expect_code(0);
    for (name, want) in [(&broken.name, "restarted"), (&paused.name, "restarted"), (&exited.name, "restarted")] {
        assert_eq!(run.target(name)["outcome"], want, "{name}: {run}");
        assert_eq!(run.target(name)["recovered"], true, "{name}: {run}");
    }
    assert_eq!(run.target("exec")["outcome"], "restarted", "an exec check and its heal through the proxy: {run}");
    for c in [&broken, &paused, &exited, &exec] {
        c.wait_for_status(200, Duration::from_secs(10));
    }
    let engines = run.status_line()["engines"].to_string();
    assert!(engines.contains("\"up\":true"), "the proxy's engine was listed: {run}");
    // Every call went through the proxy, and each was healwatch's own (a docker CLI would
    // say "Docker-Client/…"), the restarts among them.
    let seen: Vec<String> = proxy_log().split_off(before);
    let ours = |name: &str| seen.iter().any(|l| l.contains(&format!("/containers/{name}/restart")));
    assert!(ours(&broken.name) && ours(&exec.name) && ours(&paused.name), "{seen:#?}");
    assert!(seen.iter().any(|l| l.contains(&format!("/containers/{}/unpause", paused.name))), "{seen:#?}");
    assert!(seen.iter().any(|l| l.contains(&format!("/containers/{}/exec", exec.name))), "{seen:#?}");
    let foreign: Vec<&String> = seen.iter().filter(|l| !l.starts_with("\"healwatch\"")).collect();
    assert!(foreign.is_empty(), "calls that were not healwatch's own: {foreign:#?}");
}

#[test]
#[ignore = "needs a Docker engine and the proxy: scripts/test.sh"]
fn behind_a_proxy_that_allows_reads_only_every_target_is_checked_and_nothing_is_touched() {
    let engine = Engine::get();
    let empty = tempfile::tempdir().unwrap();
    let spec = || Spec { init: true, restart: Some("unless-stopped"), ..Spec::default() };
    let broken = Container::start(engine, "reads-broken", spec());
    broken.break_health();
    let paused = Container::start(engine, "reads-paused", spec());
    paused.docker(&["pause"]);
    let fine = Container::start(engine, "reads-fine", spec());
    let exec = Container::start(engine, "reads-exec", spec());
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[defaults]\nretries = 0\ntimeout = \"1s\"\nrestart_timeout = \"2s\"\n\
             [[target]]\nname = \"exec\"\ncontainer = \"{}\"\nexec = [\"true\"]\n",
            exec.name
        ),
    );
    let started = |c: &Container| c.inspect("{{.State.StartedAt}}");
    let before = (started(&broken), started(&paused));
    let seen_before = log_of("HEALWATCH_PROXY_READS_LOG").len();
    let run = through("HEALWATCH_PROXY_READS_HOST", empty.path())
        .arg("-c")
        .arg(&config)
        .args(["-t", &broken.target(), "-t", &paused.target(), "-t", &fine.target()])
        .run();
    run.expect_code(1);
    assert_eq!(run.target(&fine.name)["outcome"], "healthy", "{run}");
    for name in [&broken.name, &paused.name, &"exec".to_string()] {
        let t = run.target(name);
        assert_eq!(t["outcome"], "unhealthy", "{name}: {run}");
        let error = t["error"].as_str().unwrap_or_default();
        assert!(error.contains("refused") && error.contains("POST=1"), "{name} names the switch: {run}");
        assert!(t.get("restart").is_none(), "{name}: nothing ran: {run}");
    }
    assert_eq!(run.status_line()["engines"][0]["up"], true, "a refusal is no engine down: {run}");
    // Zero writes reached the engine: the proxy let no call but GET through, and the
    // containers are as they were.
    let seen: Vec<String> = log_of("HEALWATCH_PROXY_READS_LOG").split_off(seen_before);
    let written: Vec<&String> = seen.iter().filter(|l| !l.contains("\"GET ") && !l.contains(" 403 ")).collect();
    assert!(written.is_empty(), "writes through a reads-only proxy: {written:#?}");
    assert!(seen.iter().any(|l| l.contains(" 403 \"POST ")), "the refusals were asked and refused: {seen:#?}");
    assert_eq!((started(&broken), started(&paused)), before, "nothing was restarted");
    assert_eq!(paused.inspect("{{.State.Status}}"), "paused");
    paused.docker(&["unpause"]);
}

#[test]
#[ignore = "needs a Docker engine and the proxy: scripts/test.sh"]
fn a_watch_check_and_audit_work_through_the_proxy() {
    let engine = Engine::get();
    let empty = tempfile::tempdir().unwrap();
    let app = Container::start(
        engine,
        "proxy-watch",
        Spec { init: true, restart: Some("unless-stopped"), ..Spec::default() },
    );
    let check = through_proxy(empty.path()).args(["check", "--wait", "20s", "-t", &app.target()]).run();
    check.expect_code(0);
    let audit = through_proxy(empty.path()).args(["audit", "--json", "--targets-only", "-t", &app.target()]).run();
    let listed = audit.status_line()["containers"].to_string();
    assert!(listed.contains(&app.name) && listed.contains("unless-stopped"), "{audit}");

    // A watch hears Docker's events through the proxy: a pause is healed at once.
    let state = empty.path().join("state.json");
    let before = proxy_log().len();
    let watch = through_proxy(empty.path())
        .env("HEALWATCH_STATE", &state)
        .args(["--watch", "12s", "--watch-every", "5s", "-t", &app.target()])
        .spawn();
    crate::util::eventually(Duration::from_secs(20), "the watch's first pass", || crate::util::ready(state.exists()));
    app.docker(&["pause"]);
    let run = watch.wait(Duration::from_secs(40));
    let healed = run.stdout().lines().any(|l| l.contains("\"outcome\":\"restarted\""));
    assert!(healed, "the watch healed the paused container: {run}");
    let seen: Vec<String> = proxy_log().split_off(before);
    assert!(seen.iter().any(|l| l.contains("\"GET /events?")), "the events came through the proxy: {seen:#?}");
    assert!(seen.iter().any(|l| l.contains(&format!("/containers/{}/unpause", app.name))), "{seen:#?}");
}

#[test]
#[ignore = "needs a Docker engine and the proxy: scripts/test.sh"]
fn a_proxy_that_answers_slowly_or_closes_early_is_bounded_and_said() {
    let engine = Engine::get();
    let empty = tempfile::tempdir().unwrap();
    let app =
        Container::start(engine, "proxy-slow", Spec { init: true, restart: Some("unless-stopped"), ..Spec::default() });
    app.break_health();
    // Slow (2 s a request): the pass still heals, each call within its own bound.
    let slow = through("HEALWATCH_PROXY_SLOW_HOST", empty.path())
        .args(["-t", &app.target()])
        .spawn()
        .wait(Duration::from_secs(120));
    slow.expect_code(0);
    assert_eq!(slow.target(&app.name)["outcome"], "restarted", "{slow}");
    let took = slow.status_line()["duration_ms"].as_u64().unwrap_or(0);
    assert!(took >= 4000, "the proxy held each call 2 s (the listing and the restart at least): {slow}");
    app.wait_for_status(200, Duration::from_secs(10));
    // Closing without an answer: the target fails alone, said, and nothing hangs.
    app.break_health();
    let closed = through("HEALWATCH_PROXY_CLOSE_HOST", empty.path())
        .args(["-t", &app.target()])
        .spawn()
        .wait(Duration::from_secs(120));
    closed.expect_code(1);
    let t = closed.target(&app.name);
    assert_eq!(t["outcome"], "restart_failed", "{closed}");
    let said = "the connection was closed without an answer";
    assert!(t["restart"]["stderr"].as_str().is_some_and(|e| e.contains(said)), "{closed}");
    assert!(closed.status_line()["warnings"].to_string().contains(said), "the listing says it too: {closed}");
}

#[test]
#[ignore = "needs a Docker engine and the proxy: scripts/test.sh"]
fn a_healthcheck_confirmed_by_exec_and_a_log_check_heal_through_the_proxy() {
    let engine = Engine::get();
    // The second engine, where discovery's tests take turns: `--unhealthy label` there
    // finds only this test's container.
    let _turn = crate::engine::Turn::take();
    let host = engine.second_host();
    let log = || log_of("HEALWATCH_PROXY_SECOND_LOG");
    let before = log().len();
    let labels = vec![("healwatch.enable".to_string(), "true".to_string())];
    let spec = |healthcheck: bool, labels: Vec<(String, String)>| Spec {
        init: true,
        restart: Some("unless-stopped"),
        healthcheck,
        labels,
        host: Some(host.clone()),
        ..Spec::default()
    };
    let sick = Container::start(engine, "proxy-hc", spec(true, labels));
    crate::docker_targets::wait_for_health(&sick, "healthy");
    let logs = Container::start(engine, "proxy-logs", spec(false, vec![]));
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[defaults]\nretries = 0\ntimeout = \"1s\"\nrestart_timeout = \"2s\"\nrecovery_timeout = \"20s\"\n\
             [[target]]\nname = \"logs\"\ncontainer = \"{}\"\nlog_pattern = \"FATAL\"\n",
            logs.name
        ),
    );
    let empty = tempfile::tempdir().unwrap();
    let pass = || {
        through("HEALWATCH_PROXY_SECOND_HOST", empty.path())
            .env("HEALWATCH_STATE", dir.path().join("state.json"))
            .args(["--unhealthy", "label", "-c"])
            .arg(&config)
            .run()
    };
    pass().expect_code(0);
    sick.break_health();
    crate::docker_targets::wait_for_health(&sick, "unhealthy");
    // Into the container's log: PID 1's stdout.
    let fatal = ["exec", &logs.name, "sh", "-c", "echo 'FATAL: out of file handles' > /proc/1/fd/1"];
    assert!(engine.docker_on(&host, &fatal).success());
    let run = pass();
    run.expect_code(0);
    let t = run.target(&sick.name);
    assert_eq!((t["url"].as_str(), t["outcome"].as_str()), (Some("docker:healthcheck"), Some("restarted")), "{run}");
    assert_eq!(t["recovered"], true, "{run}");
    let t = run.target("logs");
    assert_eq!(
        (t["outcome"].as_str(), t["error"].as_str()),
        (Some("restarted"), Some("log: FATAL: out of file handles")),
        "{run}"
    );
    // The HEALTHCHECK's command was run in the container before the restart (exec made,
    // started, read), and the log was read, all through the proxy.
    let seen: Vec<String> = log().split_off(before);
    let has = |method: &str, part: &str| seen.iter().any(|l| l.contains(&format!("\"{method} ")) && l.contains(part));
    assert!(has("POST", &format!("/containers/{}/exec", sick.name)), "{seen:#?}");
    assert!(has("POST", "/start") && has("GET", "/exec/"), "{seen:#?}");
    assert!(has("GET", &format!("/containers/{}/logs", logs.name)), "{seen:#?}");
    assert!(has("POST", &format!("/containers/{}/restart", sick.name)), "{seen:#?}");
    assert!(seen.iter().all(|l| l.starts_with("\"healwatch\"") && !l.contains(" 403 ")), "{seen:#?}");
}

#[test]
#[ignore = "needs a Docker engine and the proxy: scripts/test.sh"]
fn a_listing_the_proxy_refuses_is_said_as_refused_and_the_engine_is_not_down() {
    let engine = Engine::get();
    let app = Container::start(engine, "proxy-blind", Spec { init: true, ..Spec::default() });
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("healwatch.prom");
    // A proxy that allows the event stream alone: no listing, so nothing is discovered.
    let run = through("HEALWATCH_PROXY_BLIND_HOST", dir.path())
        .args(["--discover", "-t", &app.target(), "--metrics"])
        .arg(&metrics)
        .run();
    run.expect_code(1);
    assert_eq!(run.target(&app.name)["outcome"], "healthy", "the named target is still checked: {run}");
    let line = run.status_line();
    let engine_entry = &line["engines"][0];
    assert_eq!(engine_entry["up"], true, "refused is not down: {run}");
    let refused = engine_entry["refused"].as_str().unwrap_or_default();
    assert!(refused.contains("refused GET /") && refused.contains("allow it with CONTAINERS=1"), "{run}");
    let metrics = std::fs::read_to_string(&metrics).unwrap();
    assert!(metrics.contains("healwatch_engine_up{engine=\"local\"} 1"), "{metrics}");
    assert!(metrics.contains("healwatch_engine_refused{engine=\"local\"} 1"), "{metrics}");
}
