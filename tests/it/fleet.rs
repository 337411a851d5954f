//! Several Docker engines from one healwatch: `[[engine]]` tables, discovery on each in
//! one pass, names qualified by engine, an engine that goes away and comes back, pause of
//! an engine-qualified target, and a real ssh transport (a private sshd on 127.0.0.1 in
//! front of a third private engine, started by scripts/test.sh). `#[ignore]`d like the
//! other end-to-end tests; they take turns with the other discovery tests.

use serde_json::Value;
use std::path::{Path, PathBuf};

use crate::engine::{Container, Engine, Spec, Turn};
use crate::util::{Healwatch, Run, write_file};

/// The ssh engine: its `ssh://` host, the directory whose `ssh` uses the test's key and
/// known_hosts, and the engine's own socket (to start containers on it directly).
/// `runtime` is the test's XDG_RUNTIME_DIR, where ssh's control sockets go.
struct Ssh {
    host: String,
    bin: String,
    engine_host: String,
    runtime: tempfile::TempDir,
}

impl Ssh {
    /// PATH with the test's ssh first.
    fn path(&self) -> String {
        format!("{}:/usr/bin:/bin", self.bin)
    }

    /// How many control sockets (open connections) there are.
    fn sockets(&self) -> usize {
        let dir = self.runtime.path().join("healwatch-ssh");
        std::fs::read_dir(dir).map(|d| d.flatten().count()).unwrap_or(0)
    }
}

/// A variable scripts/test.sh sets.
fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/test.sh"))
}

fn ssh() -> Ssh {
    Ssh {
        host: var("HEALWATCH_SSH_DOCKER_HOST"),
        bin: var("HEALWATCH_SSH_BIN"),
        engine_host: var("HEALWATCH_SSH_ENGINE_HOST"),
        runtime: tempfile::tempdir().unwrap(),
    }
}

/// A labelled test container on the engine at `host`.
fn labelled(engine: &'static Engine, test: &str, host: &str) -> Container {
    let labels = vec![("healwatch.url".to_string(), "http://127.0.0.1:{port}/health".to_string())];
    Container::start(engine, test, Spec { init: true, labels, host: Some(host.to_string()), ..Spec::default() })
}

/// A fleet config: local, `two` (the second engine, through `two_host`) and `far` (over
/// ssh), all discovering; plus `extra` (targets, say).
fn fleet_config(dir: &Path, two_host: &str, ssh: &Ssh, extra: &str) -> PathBuf {
    let text = format!(
        "[defaults]\ndiscover = true\nretries = 0\nrecovery_timeout = \"20s\"\n\n\
         [[engine]]\nname = \"two\"\nhost = \"{two_host}\"\n\n\
         [[engine]]\nname = \"far\"\nhost = \"{}\"\n\n{extra}",
        ssh.host
    );
    write_file(dir, "fleet.toml", &text)
}

/// A pass with `config`, its state in `dir`, the test's ssh on PATH.
fn pass(engine: &'static Engine, dir: &Path, config: &Path, ssh: &Ssh, args: &[&str]) -> Run {
    pass_as(with_ssh(engine, ssh), dir, config, args)
}

/// A pass of `healwatch` with `config`, its state in `dir`.
fn pass_as(healwatch: Healwatch, dir: &Path, config: &Path, args: &[&str]) -> Run {
    healwatch
        .arg("-c")
        .arg(config)
        .arg("--state")
        .arg(dir.join("state.json"))
        .arg("--lock")
        .arg(dir.join("lock"))
        .args(args)
        .run()
}

/// healwatch on `engine`, with the test's ssh first on PATH, and ssh's control sockets
/// in the test's own runtime directory.
fn with_ssh(engine: &'static Engine, ssh: &Ssh) -> Healwatch {
    engine.healwatch().env("PATH", ssh.path()).env("XDG_RUNTIME_DIR", ssh.runtime.path())
}

/// `audit --json` of `config`.
fn audit(engine: &'static Engine, config: &Path, ssh: &Ssh) -> Run {
    with_ssh(engine, ssh).args(["audit", "--json", "-c"]).arg(config).run()
}

fn engines(run: &Run) -> Vec<(String, bool)> {
    let line = run.status_line();
    let engines = line["engines"].as_array().cloned().unwrap_or_default();
    engines.iter().map(|e| (e["name"].as_str().unwrap().to_string(), e["up"].as_bool().unwrap())).collect()
}

/// Ends the ssh connection the passes left open for reuse (it would end by itself a
/// minute after its last use, or when the test's sshd stops).
fn close_ssh(dir: &Path, ssh: &Ssh) {
    let (user_host, port) = ssh.host.trim_start_matches("ssh://").rsplit_once(':').unwrap();
    let _ = std::process::Command::new(dir.join("ssh/ssh"))
        .env("PATH", ssh.path())
        .env("XDG_RUNTIME_DIR", ssh.runtime.path())
        .args(["-O", "exit", "-p", port, user_host])
        .output();
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn discovery_on_three_engines_in_one_pass_over_unix_and_ssh() {
    let engine = Engine::get();
    let _turn = Turn::take();
    let ssh = ssh();
    // The same container name on the local and the second engine.
    let here = labelled(engine, "fleet-same", &engine.host);
    let there = labelled(engine, "fleet-same", &engine.second_host());
    let far = labelled(engine, "fleet-far", &ssh.engine_host);
    let dir = tempfile::tempdir().unwrap();
    let config = fleet_config(dir.path(), &engine.second_host(), &ssh, "");

    let run = pass(engine, dir.path(), &config, &ssh, &[]);
    run.expect_code(0);
    for name in [format!("local/{}", here.name), format!("two/{}", there.name), format!("far/{}", far.name)] {
        assert_eq!(run.target(&name)["outcome"], "healthy", "{name}\n{run}");
    }
    let mut seen = engines(&run);
    seen.sort();
    assert_eq!(seen, [("far".into(), true), ("local".into(), true), ("two".into(), true)], "{run}");
    for e in run.status_line()["engines"].as_array().unwrap() {
        assert!(e["containers"].as_u64().unwrap() >= 1 && e["list_ms"].is_u64(), "{run}");
    }
    // ssh connections are reused: a wrapper beside the state, and ssh's control socket in
    // the runtime directory.
    assert!(dir.path().join("ssh/ssh").is_file());
    assert_eq!(ssh.sockets(), 1, "one connection for the one ssh engine");

    // audit lists every engine, each container with its engine.
    let audit = audit(engine, &config, &ssh);
    let listed = audit.status_line()["containers"].as_array().cloned().unwrap();
    for (engine_name, container) in [("local", &here.name), ("two", &there.name), ("far", &far.name)] {
        assert!(listed.iter().any(|c| c["engine"] == engine_name && &c["name"] == container), "{engine_name}: {audit}");
    }

    // Only the broken one of the two same-named containers is restarted.
    let (here_before, there_before, far_before) = (here.started_at(), there.started_at(), far.started_at());
    there.break_health();
    far.break_health();
    let run = pass(engine, dir.path(), &config, &ssh, &[]);
    run.expect_code(0);
    assert_eq!(run.target(&format!("two/{}", there.name))["outcome"], "restarted", "{run}");
    assert_eq!(run.target(&format!("far/{}", far.name))["outcome"], "restarted", "{run}");
    assert_eq!(run.target(&format!("local/{}", here.name))["outcome"], "healthy", "{run}");
    assert_ne!(there.started_at(), there_before);
    assert_ne!(far.started_at(), far_before);
    assert_eq!(here.started_at(), here_before);
    close_ssh(dir.path(), &ssh);
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn an_engine_that_goes_away_is_engine_down_and_healed_when_back() {
    let engine = Engine::get();
    let _turn = Turn::take();
    let ssh = ssh();
    let dir = tempfile::tempdir().unwrap();
    // The second engine through a link the test removes ("stopped") and puts back: a
    // stopped dockerd removes its socket, so the CLI meets the same missing socket.
    let link = dir.path().join("two.sock");
    let real = engine.second_host().strip_prefix("unix://").unwrap().to_string();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let found = labelled(engine, "fleet-away", &engine.second_host());
    let configured = Container::start(
        engine,
        "fleet-away-cfg",
        Spec { init: true, host: Some(engine.second_host()), ..Spec::default() },
    );
    let local = labelled(engine, "fleet-here", &engine.host);
    let target = format!(
        "[[target]]\nname = \"cfg\"\nengine = \"two\"\ncontainer = \"{}\"\nurl = \"{}\"\n",
        configured.name,
        configured.url()
    );
    let config = fleet_config(dir.path(), &format!("unix://{}", link.display()), &ssh, &target);
    pass(engine, dir.path(), &config, &ssh, &[]).expect_code(0);

    configured.break_health();
    local.break_health();
    std::fs::remove_file(&link).unwrap();
    let down = pass(engine, dir.path(), &config, &ssh, &[]);
    down.expect_code(1);
    let two = (String::from("two"), false);
    assert!(engines(&down).contains(&two), "{down}");
    let warnings = down.status_line()["warnings"].as_array().cloned().unwrap_or_default();
    assert_eq!(warnings.iter().filter(|w| w.as_str().unwrap().contains("two.sock")).count(), 1, "said once\n{down}");
    let cfg = down.target("cfg");
    assert_eq!(cfg["outcome"], "engine_down", "{down}");
    assert_eq!(cfg["restarts_in_window"], 0, "not a restart attempt: the guard is untouched\n{down}");
    let remembered = down.target(&format!("two/{}", found.name));
    assert_eq!(remembered["outcome"], "engine_down", "known from the last pass\n{down}");
    // The other engines are healed all the same.
    assert_eq!(down.target(&format!("local/{}", local.name))["outcome"], "restarted", "{down}");
    // audit says the engine is down and still lists the others.
    let audit = audit(engine, &config, &ssh);
    audit.expect_code(1);
    let line = audit.status_line();
    assert!(
        line["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().starts_with("engine two could not be listed")),
        "{audit}"
    );
    assert!(
        line["containers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["engine"] == "local" && c["name"] == local.name.as_str()),
        "{audit}"
    );

    std::os::unix::fs::symlink(&real, &link).unwrap();
    let back = pass(engine, dir.path(), &config, &ssh, &[]);
    back.expect_code(0);
    assert_eq!(back.target("cfg")["outcome"], "restarted", "{back}");
    assert_eq!(back.target("cfg")["restarts_in_window"], 1, "{back}");
    assert_eq!(back.target(&format!("two/{}", found.name))["outcome"], "healthy", "{back}");
    close_ssh(dir.path(), &ssh);
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn an_engine_qualified_target_can_be_paused() {
    let engine = Engine::get();
    let _turn = Turn::take();
    let ssh = ssh();
    let dir = tempfile::tempdir().unwrap();
    let there = labelled(engine, "fleet-pause", &engine.second_host());
    let config = fleet_config(dir.path(), &engine.second_host(), &ssh, "");
    pass(engine, dir.path(), &config, &ssh, &[]).expect_code(0);
    let name = format!("two/{}", there.name);
    let paused = engine
        .healwatch()
        .args(["pause", &name, "--for", "10m", "-c"])
        .arg(&config)
        .arg("--state")
        .arg(dir.path().join("state.json"))
        .arg("--lock")
        .arg(dir.path().join("lock"))
        .run();
    paused.expect_code(0);
    assert!(paused.stdout().contains(&format!("paused {name} until")), "{paused}");
    there.break_health();
    let before = there.started_at();
    let run = pass(engine, dir.path(), &config, &ssh, &[]);
    assert_eq!(run.target(&name)["outcome"], "paused", "{run}");
    assert_eq!(there.started_at(), before, "a paused target is never restarted");
    let status = engine
        .healwatch()
        .args(["status", "--json", "-c"])
        .arg(&config)
        .arg("--state")
        .arg(dir.path().join("state.json"))
        .run();
    let rows = status.status_line()["targets"].as_array().cloned().unwrap();
    let row = rows.iter().find(|r| r["target"] == name.as_str()).unwrap_or_else(|| panic!("{status}"));
    assert_eq!((row["engine"].as_str(), row["last_outcome"].as_str()), (Some("two"), Some("paused")), "{status}");
    close_ssh(dir.path(), &ssh);
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn a_single_engine_config_keeps_its_plain_names() {
    let engine = Engine::get();
    let _turn = Turn::take();
    let there = labelled(engine, "fleet-plain", &engine.second_host());
    let run = engine.healwatch().env("DOCKER_HOST", engine.second_host()).arg("--discover").run();
    run.expect_code(0);
    let _: Value = run.target(&there.name);
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn a_healthcheck_on_an_engine_listed_through_its_api_is_read_and_healed() {
    // The ssh engine is listed through its API (docker system dial-stdio), which has no
    // HEALTHCHECK detail: the labelled container alone is inspected, and healed.
    let engine = Engine::get();
    let _turn = Turn::take();
    let ssh = ssh();
    let labels = vec![("healwatch.enable".to_string(), "true".to_string())];
    let host = Some(ssh.engine_host.clone());
    let sick =
        Container::start(engine, "fleet-hc", Spec { init: true, healthcheck: true, labels, host, ..Spec::default() });
    let plain = Container::start(
        engine,
        "fleet-hc-plain",
        Spec { init: true, healthcheck: true, host: Some(ssh.engine_host.clone()), ..Spec::default() },
    );
    crate::docker_targets::wait_for_health(&sick, "healthy");
    sick.break_health();
    plain.break_health();
    crate::docker_targets::wait_for_health(&sick, "unhealthy");
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[defaults]\nretries = 0\nrecovery_timeout = \"20s\"\n\n[[engine]]\nname = \"local\"\n\n\
             [[engine]]\nname = \"far\"\nhost = \"{}\"\nunhealthy = \"label\"\n",
            ssh.host
        ),
    );
    let before = sick.started_at();
    let run = pass(engine, dir.path(), &config, &ssh, &[]);
    run.expect_code(0);
    let t = run.target(&format!("far/{}", sick.name));
    assert_eq!((t["outcome"].as_str(), t["url"].as_str()), (Some("restarted"), Some("docker:healthcheck")), "{run}");
    assert_ne!(sick.started_at(), before);
    let line = run.status_line();
    let names: Vec<&str> = line["targets"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(!names.iter().any(|n| n.ends_with(&plain.name)), "unlabelled: not taken under label\n{run}");
    close_ssh(dir.path(), &ssh);
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn engines_over_mutual_tls_and_through_a_context_are_discovered_and_healed() {
    // The two ways the docker CLI resolves itself: tcp:// with mutual TLS (the second
    // engine's listener on 127.0.0.1, certificates made by scripts/engine.sh) and a
    // docker context (for the ssh engine's socket, in a DOCKER_CONFIG of the test's own).
    let engine = Engine::get();
    let _turn = Turn::take();
    let ssh = ssh();
    let (tls_host, tls) = (var("HEALWATCH_TLS_DOCKER_HOST"), PathBuf::from(var("HEALWATCH_TLS_DIR")));
    let over_tls = labelled(engine, "fleet-tls", &engine.second_host());
    let in_context = labelled(engine, "fleet-ctx", &ssh.engine_host);
    let dir = tempfile::tempdir().unwrap();
    let docker_config = dir.path().join("docker-config");
    let endpoint = format!("host={}", ssh.engine_host);
    let created = engine.docker_on(
        &engine.host,
        &["--config", docker_config.to_str().unwrap(), "context", "create", "hw-far", "--docker", &endpoint],
    );
    assert!(created.success(), "{created:?}");
    let config = write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[defaults]\ndiscover = true\nretries = 0\nrecovery_timeout = \"20s\"\n\n\
             [[engine]]\nname = \"local\"\ndiscover = false\n\n\
             [[engine]]\nname = \"tls\"\nhost = \"{tls_host}\"\ntls_ca = \"{ca}\"\ntls_cert = \"{cert}\"\ntls_key = \"{key}\"\n\n\
             [[engine]]\nname = \"ctx\"\ncontext = \"hw-far\"\n",
            ca = tls.join("ca.pem").display(),
            cert = tls.join("cert.pem").display(),
            key = tls.join("key.pem").display(),
        ),
    );
    let pass = || pass_as(engine.healwatch().env("DOCKER_CONFIG", &docker_config), dir.path(), &config, &[]);
    let run = pass();
    run.expect_code(0);
    let (tls_name, ctx_name) = (format!("tls/{}", over_tls.name), format!("ctx/{}", in_context.name));
    for name in [&tls_name, &ctx_name] {
        assert_eq!(run.target(name)["outcome"], "healthy", "{name}\n{run}");
    }
    let mut seen = engines(&run);
    seen.sort();
    assert_eq!(seen, [("ctx".into(), true), ("tls".into(), true)], "{run}");

    let (tls_before, ctx_before) = (over_tls.started_at(), in_context.started_at());
    over_tls.break_health();
    in_context.break_health();
    let run = pass();
    run.expect_code(0);
    for name in [&tls_name, &ctx_name] {
        assert_eq!(run.target(name)["outcome"], "restarted", "{name}\n{run}");
        assert_eq!(run.target(name)["recovered"], true, "{name}\n{run}");
    }
    assert_ne!(over_tls.started_at(), tls_before);
    assert_ne!(in_context.started_at(), ctx_before);

    // The TLS engine is listed through its API, which verifies it as `docker --tlsverify`
    // would: a CA that did not sign the engine's certificate is one engine down.
    let text = std::fs::read_to_string(&config).unwrap();
    let wrong = text.replace(&tls.join("ca.pem").display().to_string(), &tls.join("cert.pem").display().to_string());
    std::fs::write(&config, wrong).unwrap();
    let run = pass();
    assert!(run.code() == 0 || run.code() == 1, "{run}");
    let line = run.status_line();
    let down = line["engines"].as_array().unwrap().iter().find(|e| e["name"] == "tls").cloned().unwrap();
    let error = down["error"].as_str().unwrap_or_else(|| panic!("{run}"));
    assert!(down["up"] == false && error.contains("Docker API at 127.0.0.1") && error.contains("certificate"), "{run}");
    assert_eq!(run.target(&ctx_name)["outcome"], "healthy", "{run}");
}

/// ssh connection reuse works from any state path: one far past the unix socket limit,
/// with a space and a `%` in it, as a user's long home directory or an odd --state makes.
#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn ssh_engines_work_and_reuse_their_connection_from_a_long_odd_state_path() {
    let engine = Engine::get();
    let _turn = Turn::take();
    let ssh = ssh();
    let far = labelled(engine, "fleet-deep", &ssh.engine_host);
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("state of a user with a long name, 100% past the socket limit of 107 bytes");
    std::fs::create_dir(&dir).unwrap();
    let config = fleet_config(&dir, &engine.second_host(), &ssh, "");
    for _ in 0..2 {
        let run = pass(engine, &dir, &config, &ssh, &[]);
        run.expect_code(0);
        assert!(engines(&run).contains(&("far".to_string(), true)), "{run}");
        assert_eq!(run.target(&format!("far/{}", far.name))["outcome"], "healthy", "{run}");
        assert!(run.status_line().get("warnings").is_none(), "{run}");
    }
    assert_eq!(ssh.sockets(), 1, "the two passes shared one connection");
    close_ssh(&dir, &ssh);
}
