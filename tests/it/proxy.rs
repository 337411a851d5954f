//! Behind a Docker socket proxy (scripts/proxy.sh: Debian's HAProxy with the method and
//! path rules the common socket-proxy images use, on 127.0.0.1 in front of the private
//! engine's socket): healwatch speaks plain HTTP to `tcp://`, with no docker CLI at all.

use std::time::Duration;

use crate::engine::{Container, Engine, Spec};
use crate::util::{Healwatch, write_file};

/// The proxy that allows what a healing healwatch needs (CONTAINERS, POST, EVENTS, EXEC).
fn proxy() -> String {
    std::env::var("HEALWATCH_PROXY_HOST")
        .expect("HEALWATCH_PROXY_HOST is not set: run scripts/test.sh, which starts the proxy")
}

/// healwatch through the proxy, with no docker CLI on its PATH.
fn through_proxy(empty: &std::path::Path) -> Healwatch {
    Healwatch::new().env("DOCKER_HOST", proxy()).env("PATH", empty)
}

/// The proxy's log: a line per request, `"USER-AGENT" STATUS "REQUEST LINE"`.
fn proxy_log() -> Vec<String> {
    let path = std::env::var("HEALWATCH_PROXY_LOG").expect("HEALWATCH_PROXY_LOG: run scripts/test.sh");
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect()
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
