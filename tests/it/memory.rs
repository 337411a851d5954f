//! Memory between passes, driven through the binary with the test clock
//! (HEALWATCH_TEST_NOW): thresholds, the crash-loop guard, start period, pauses, and a
//! state file that survives corruption, kill -9, a read-only directory and overlapping passes.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::util::{Behaviour, FakeDocker, Healwatch, Run, Server, write_file};

const T0: &str = "2026-11-27T10:00:00Z";

/// `T0` plus `minutes`, as RFC 3339.
fn at(minutes: u64) -> String {
    let t = humantime::parse_rfc3339(T0).unwrap() + Duration::from_secs(minutes * 60);
    humantime::format_rfc3339_millis(t).to_string()
}

/// A place for one test's state, lock and config.
struct Memory {
    dir: tempfile::TempDir,
}

impl Memory {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }
    fn state(&self) -> PathBuf {
        self.dir.path().join("state.json")
    }
    fn config(&self, text: &str) -> PathBuf {
        write_file(self.dir.path(), "healwatch.toml", text)
    }
    /// A healwatch command on this state at `minute` after T0.
    fn cmd(&self, minute: u64) -> Healwatch {
        Healwatch::new()
            .env("HEALWATCH_STATE", self.state())
            .env("HEALWATCH_LOCK", self.dir.path().join("lock"))
            .env("HEALWATCH_TEST_NOW", at(minute))
    }
    fn read_state(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.state()).unwrap()).unwrap()
    }
}

fn config_for(server: &Server, extra: &str) -> String {
    format!(
        "[defaults]\nretries = 0\nrecovery_timeout = \"0\"\n{extra}\n[[target]]\nname = \"app\"\nurl = \"{}\"\n",
        server.url("/health")
    )
}

fn restarts(docker: &FakeDocker) -> usize {
    docker.calls().iter().filter(|c| c.starts_with("restart")).count()
}

#[track_caller]
fn outcome(run: &Run) -> String {
    run.target("app")["outcome"].as_str().unwrap().to_string()
}

#[test]
fn failure_threshold_waits_for_consecutive_failures() {
    let server = Server::start(Behaviour::Fixed(503, "down"));
    let docker = FakeDocker::new();
    let m = Memory::new();
    let config = m.config(&config_for(&server, "failure_threshold = 3"));
    for (minute, want, failures) in [(0, "failing", 1), (2, "failing", 2), (4, "restarted", 0)] {
        let run = m.cmd(minute).docker(&docker).arg("-c").arg(&config).run();
        assert_eq!(outcome(&run), want, "pass at minute {minute}\n{run}");
        let t = run.target("app");
        if want == "failing" {
            run.expect_code(1);
            assert_eq!(t["consecutive_failures"], failures, "{run}");
            assert_eq!(restarts(&docker), 0);
        } else {
            run.expect_code(0);
            assert_eq!((t["restarts_in_window"].as_u64(), t["restarts_total"].as_u64()), (Some(1), Some(1)), "{run}");
        }
    }
    assert_eq!(restarts(&docker), 1);
}

#[test]
fn crash_loop_guard_gives_up_then_tries_again_when_the_window_allows() {
    let server = Server::start(Behaviour::Fixed(503, "down"));
    let docker = FakeDocker::new();
    let m = Memory::new();
    let config = m.config(&config_for(&server, "max_restarts = 3\nrestart_window = \"30m\""));
    for minute in [0, 2, 4] {
        let run = m.cmd(minute).docker(&docker).arg("-c").arg(&config).run();
        assert_eq!(outcome(&run), "restarted", "{run}");
    }
    let run = m.cmd(6).docker(&docker).arg("-c").arg(&config).run();
    run.expect_code(1);
    let t = run.target("app");
    assert_eq!(t["outcome"], "gave_up", "{run}");
    assert_eq!(t["restarts_in_window"], 3);
    assert_eq!(t["next_restart_at"], at(30), "the first restart leaves the window at minute 30\n{run}");
    assert_eq!(restarts(&docker), 3, "no fourth restart");

    let later = m.cmd(31).docker(&docker).arg("-c").arg(&config).run();
    assert_eq!(outcome(&later), "restarted", "the window allows one more\n{later}");
    assert_eq!(later.target("app")["restarts_total"], 4);
}

#[test]
fn healthy_again_or_resume_resets_the_guard() {
    let docker = FakeDocker::new();
    let server = Server::start(Behaviour::WhileFileExists(docker.healthy_flag()));
    let m = Memory::new();
    let config = m.config(&config_for(&server, "max_restarts = 1"));
    std::fs::write(docker.dir.path().join("restart-exit"), "0").unwrap();
    // One restart that "works" at once (recovery not waited for), then the service fails again.
    let first = m.cmd(0).docker(&docker).arg("-c").arg(&config).run();
    assert_eq!(outcome(&first), "restarted", "{first}");
    std::fs::remove_file(docker.healthy_flag()).unwrap();
    let gave_up = m.cmd(2).docker(&docker).arg("-c").arg(&config).run();
    assert_eq!(outcome(&gave_up), "gave_up", "{gave_up}");

    let resumed = m.cmd(3).arg("resume").arg("app").arg("-c").arg(&config).run();
    resumed.expect_code(0);
    assert!(resumed.stdout().contains("resumed app"), "{resumed}");
    let again = m.cmd(4).docker(&docker).arg("-c").arg(&config).run();
    assert_eq!(outcome(&again), "restarted", "resume allows restarts again\n{again}");

    // Healthy (the flag exists after the restart), then failing: the guard starts afresh.
    let healthy = m.cmd(6).docker(&docker).arg("-c").arg(&config).run();
    assert_eq!(outcome(&healthy), "healthy", "{healthy}");
    assert_eq!(
        healthy.target("app")["restarts_in_window"],
        0,
        "the restart held (healthy two minutes on): it no longer counts\n{healthy}"
    );
    std::fs::remove_file(docker.healthy_flag()).unwrap();
    let fresh = m.cmd(8).docker(&docker).arg("-c").arg(&config).run();
    assert_eq!(outcome(&fresh), "restarted", "{fresh}");
}

#[test]
fn start_period_spares_a_freshly_started_container() {
    let server = Server::start(Behaviour::Fixed(503, "down"));
    let docker = FakeDocker::new();
    docker.set_output("inspect", &format!("running {}", at(0)));
    let m = Memory::new();
    let config = m.config(&config_for(&server, "start_period = \"5m\""));
    let young = m.cmd(2).docker(&docker).arg("-c").arg(&config).run();
    young.expect_code(1);
    assert_eq!(outcome(&young), "starting", "{young}");
    assert_eq!(restarts(&docker), 0);
    let old = m.cmd(6).docker(&docker).arg("-c").arg(&config).run();
    assert_eq!(outcome(&old), "restarted", "{old}");
}

#[test]
fn paused_target_is_checked_but_never_restarted() {
    let server = Server::start(Behaviour::Fixed(503, "down"));
    let docker = FakeDocker::new();
    let m = Memory::new();
    let config = m.config(&config_for(&server, ""));
    let paused = m.cmd(0).args(["pause", "app", "--for", "10m", "-c"]).arg(&config).run();
    paused.expect_code(0);
    assert!(paused.stdout().contains(&format!("paused app until {}", at(10))), "{paused}");

    let run = m.cmd(5).docker(&docker).arg("-c").arg(&config).run();
    run.expect_code(0);
    let t = run.target("app");
    assert_eq!((t["outcome"].as_str(), t["paused_until"].as_str()), (Some("paused"), Some(at(10).as_str())), "{run}");
    assert_eq!(t["http_status"], 503, "still checked");
    assert_eq!(restarts(&docker), 0);

    let status = m.cmd(6).args(["status", "--json", "-c"]).arg(&config).run();
    status.expect_code(0);
    let row = &status.status_line()["targets"][0];
    assert_eq!(
        (row["target"].as_str(), row["last_outcome"].as_str(), row["paused_until"].as_str()),
        (Some("app"), Some("paused"), Some(at(10).as_str())),
        "{status}"
    );
    let table = m.cmd(6).args(["status", "-c"]).arg(&config).run();
    assert!(table.stdout().starts_with("TARGET") && table.stdout().contains(&at(10)), "{table}");

    let after = m.cmd(11).docker(&docker).arg("-c").arg(&config).run();
    assert_eq!(outcome(&after), "restarted", "the pause is over\n{after}");

    let unknown = m.cmd(0).args(["pause", "nope", "-c"]).arg(&config).run();
    unknown.expect_code(2);
    assert!(unknown.stderr().contains("unknown target 'nope'"), "{unknown}");
}

#[test]
fn corrupt_state_is_moved_aside_and_the_pass_still_heals() {
    let server = Server::start(Behaviour::Fixed(503, "down"));
    let cases: [(&str, &[u8]); 4] = [
        ("truncated", br#"{"version":1,"targets":{"app":{"consecutive_fail"#),
        ("garbage", b"\x7fELF\x00\x01 not json"),
        ("wrong version", br#"{"version":99,"targets":{}}"#),
        ("empty", b""),
    ];
    for (what, bytes) in cases {
        let docker = FakeDocker::new();
        let m = Memory::new();
        let config = m.config(&config_for(&server, ""));
        std::fs::write(m.state(), bytes).unwrap();
        let run = m.cmd(0).docker(&docker).arg("-c").arg(&config).run();
        run.expect_code(0);
        assert_eq!(outcome(&run), "restarted", "{what}: a bad state file never stops healing\n{run}");
        let warnings = run.status_line()["warnings"].to_string();
        assert!(warnings.contains("corrupt") && warnings.contains("state.json.corrupt-"), "{what}\n{run}");
        assert_eq!(m.read_state()["version"], 2, "{what}: a fresh state is written");
        let aside: Vec<_> = std::fs::read_dir(m.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("state.json.corrupt-"))
            .collect();
        assert_eq!(aside.len(), 1, "{what}");
        assert_eq!(std::fs::read(aside[0].path()).unwrap(), bytes, "{what}: the bad file is kept");
    }
}

#[test]
fn ad_hoc_passes_never_erase_the_cron_passes_memory() {
    let server = Server::start(Behaviour::Fixed(200, "ok"));
    let m = Memory::new();
    let app = format!("app={}", server.url("/"));
    let run = m.cmd(0).args(["-n", "-t", &app]).run();
    run.expect_code(0);
    assert!(!m.state().exists(), "a dry run writes no state\n{run}");
    // The cron config: two targets, one of them paused for maintenance.
    let config = m.config(&format!(
        "[[target]]\nname = \"web\"\nurl = \"{0}\"\n[[target]]\nname = \"db\"\nurl = \"{0}\"\n",
        server.url("/")
    ));
    m.cmd(0).arg("-c").arg(&config).arg("--docker").arg("/bin/true").run().expect_code(0);
    m.cmd(0).args(["pause", "db", "--for", "2h"]).arg("-c").arg(&config).run().expect_code(0);
    let cron_memory = m.read_state()["targets"].clone();
    // Any number of ad-hoc passes from a shell, on the same (default) state file.
    for minute in 1..=5 {
        m.cmd(minute).args(["-t", &app]).arg("--docker").arg("/bin/true").run().expect_code(0);
    }
    let state = m.read_state();
    assert_eq!(state["targets"]["web"], cron_memory["web"], "{state}");
    assert_eq!(state["targets"]["db"], cron_memory["db"], "the pause is intact: {state}");
    assert_eq!(state["targets"]["db"]["paused_until"], at(120));
    assert_eq!(state["targets"]["app"]["last_outcome"], "healthy");
    assert_eq!(state["targets"]["app"]["last_time"], at(5));
    // status marks what the current config does not name.
    let status = m.cmd(6).args(["status", "--json"]).arg("-c").arg(&config).run();
    let rows = status.status_line()["targets"].clone();
    let row = |name: &str| rows.as_array().unwrap().iter().find(|r| r["target"] == name).cloned().unwrap();
    assert_eq!((row("web")["configured"].as_bool(), row("app")["configured"].as_bool()), (Some(true), Some(false)));
    assert_eq!(row("app")["last_time"], at(5));
    // Nobody checks web and db for eight days (and the pause has ended): forgotten.
    m.cmd(8 * 24 * 60).args(["-t", &app]).arg("--docker").arg("/bin/true").run().expect_code(0);
    let state = m.read_state();
    let names: Vec<&String> = state["targets"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["app"], "{state}");
}

#[test]
fn unwritable_state_directory_still_heals_and_warns() {
    let server = Server::start(Behaviour::Fixed(503, "down"));
    let docker = FakeDocker::new();
    // /proc/self refuses new files even to root, where a chmod would not.
    let run = Healwatch::new()
        .env("HEALWATCH_STATE", "/proc/self/healwatch-state.json")
        .docker(&docker)
        .args(["--retries", "0", "--recovery-timeout", "0", "-t", &format!("app={}", server.url("/"))])
        .run();
    run.expect_code(0);
    assert_eq!(outcome(&run), "restarted", "{run}");
    let warnings = run.status_line()["warnings"].to_string();
    assert!(warnings.contains("state file /proc/self/healwatch-state.json"), "{run}");
}

/// The kill -9 soak: a few hundred passes killed at spread-out points, many of them
/// while writing the state and metrics files. Every file left is a whole old or new
/// version, and the next pass leaves no temp file behind.
#[test]
fn state_and_metrics_are_whole_after_kill_9_mid_pass() {
    let servers: Vec<Server> = (0..4)
        .map(|i| Server::start(if i % 2 == 0 { Behaviour::Fixed(503, "") } else { Behaviour::Fixed(200, "ok") }))
        .collect();
    let docker = FakeDocker::new().with_containers(&["svc0", "svc1", "svc2", "svc3"]);
    let m = Memory::new();
    let metrics = m.dir.path().join("healwatch.prom");
    let mut text = "[defaults]\nretries = 0\nrecovery_timeout = \"0\"\nmax_restarts = 0\n".to_string();
    for (i, s) in servers.iter().enumerate() {
        text.push_str(&format!("[[target]]\nname = \"svc{i}\"\nurl = \"{}\"\n", s.url("/")));
    }
    let config = m.config(&text);
    let bin = assert_cmd::cargo::cargo_bin!("healwatch");
    let deadline = std::time::Instant::now() + Duration::from_secs(50);
    let mut kills = 0;
    let mut round = 0u64;
    while round < 300 && std::time::Instant::now() < deadline {
        round += 1;
        let mut child = std::process::Command::new(bin)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HEALWATCH_STATE", m.state())
            .env("HEALWATCH_LOCK", m.dir.path().join("lock"))
            .env("HEALWATCH_TEST_NOW", at(round))
            .arg("--docker")
            .arg(docker.path())
            .arg("--metrics")
            .arg(&metrics)
            .arg("-c")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Spread the kills over a pass's life (a pass here takes a few milliseconds).
        std::thread::sleep(Duration::from_micros(round * 397 % 9_000));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        if m.state().exists() {
            let text = std::fs::read_to_string(m.state()).unwrap();
            let state: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("round {round}: torn state ({e}):\n{text}"));
            assert_eq!(state["version"], 2);
        }
        if metrics.exists() {
            let text = std::fs::read_to_string(&metrics).unwrap();
            let last = text.lines().last().unwrap_or_default();
            assert!(last.starts_with("healwatch_last_run_success "), "round {round}: torn metrics:\n{text}");
        }
    }
    assert!(kills >= 50, "only {kills} of {round} passes were killed mid-way; the soak proved little");
    let final_run = m.cmd(1000).docker(&docker).arg("--metrics").arg(&metrics).arg("-c").arg(&config).run();
    assert!(final_run.status_line()["warnings"].is_null(), "the last state was whole\n{final_run}");
    let temp: Vec<String> = std::fs::read_dir(m.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(temp.is_empty(), "temp files left after the next pass: {temp:?}");
}

#[test]
fn overlapping_passes_exit_3_and_leave_the_state_whole() {
    let hang = Server::start(Behaviour::Hang);
    let docker = FakeDocker::new();
    let m = Memory::new();
    let target = format!("app={}", hang.url("/"));
    let first = {
        let cmd = m.cmd(0).docker(&docker).args(["-n", "--retries", "0", "--timeout", "2s", "-t", &target]);
        std::thread::spawn(move || cmd.run())
    };
    wait_for(|| hang.request_count() > 0);
    let second = m.cmd(0).docker(&docker).args(["--retries", "0", "-t", &target]).run();
    second.expect_code(3);
    assert!(second.status_line()["error"].as_str().unwrap().contains("holds the lock"), "{second}");
    let first = first.join().unwrap();
    first.expect_code(1);
    assert_eq!(hang.request_count(), 1, "the second pass checked nothing");
    // A real pass after both: the state it writes is whole.
    m.cmd(1)
        .docker(&docker)
        .args(["--retries", "0", "--timeout", "200ms", "--recovery-timeout", "0", "-t", &target])
        .run();
    assert_eq!(m.read_state()["targets"]["app"]["restarts_total"], 1);
}

#[track_caller]
fn wait_for(ready: impl Fn() -> bool) {
    crate::util::eventually(Duration::from_secs(5), "the condition", || crate::util::ready(ready()));
}

#[test]
fn a_discovered_target_the_state_remembers_can_be_paused() {
    let m = Memory::new();
    // What a --discover pass leaves behind for a labelled container named "web".
    std::fs::write(m.state(), r#"{"version":1,"targets":{"web":{"consecutive_failures":2}}}"#).unwrap();
    let run = m.cmd(0).args(["pause", "web", "--for", "5m"]).run();
    run.expect_code(0);
    let state = m.read_state();
    assert_eq!(state["targets"]["web"]["paused_until"], at(5), "{run}");
    assert_eq!(state["targets"]["web"]["consecutive_failures"], 2, "the rest is kept");
    let unknown = m.cmd(0).args(["pause", "nope"]).run();
    unknown.expect_code(2);
    assert!(unknown.stderr().contains("known: web"), "{unknown}");
}

#[test]
fn status_max_age_fails_when_passes_reach_no_engine_or_the_file_is_dated_ahead() {
    let m = Memory::new();
    let status =
        |m: &Memory| Healwatch::new().env("HEALWATCH_STATE", m.state()).args(["status", "--max-age", "10m"]).run();
    // The sidecar with its socket refused (a forgotten group_add): every pass runs, and
    // reaches nothing.
    let refused = Healwatch::new()
        .env("HEALWATCH_STATE", m.state())
        .env("HEALWATCH_LOCK", m.dir.path().join("lock"))
        .env("DOCKER_HOST", format!("unix://{}", m.dir.path().join("refused.sock").display()))
        .args(["--discover"])
        .run();
    assert_ne!(refused.code(), 0, "{refused}");
    let said = status(&m);
    said.expect_code(1);
    assert!(said.stderr().contains("reached no Docker engine"), "{said}");
    // A pass that reaches its engine (a URL target, no engine asked) is healthy again.
    let up = Server::start(Behaviour::Fixed(200, "ok"));
    Healwatch::new()
        .env("HEALWATCH_STATE", m.state())
        .env("HEALWATCH_LOCK", m.dir.path().join("lock"))
        .args(["-t", &format!("app={}", up.url("/"))])
        .run()
        .expect_code(0);
    status(&m).expect_code(0);
    // Dated three days ahead: no evidence of a recent pass.
    let touched = std::process::Command::new("touch").arg("-d").arg("+3 days").arg(m.state()).status().unwrap();
    assert!(touched.success());
    let ahead = status(&m);
    ahead.expect_code(1);
    assert!(ahead.stderr().contains("ahead of this clock"), "{ahead}");
}

#[test]
#[ignore = "needs root, for a read-only bind mount in a mount namespace of its own: scripts/test.sh"]
fn a_read_only_state_volume_still_heals_locked_and_says_memory_is_off() {
    assert!(rustix::process::getuid().is_root(), "run as root (scripts/test.sh)");
    let server = Server::start(Behaviour::Fixed(503, "down"));
    let docker = FakeDocker::new();
    let volume = tempfile::tempdir().unwrap();
    // A lock file left by an earlier, writable life of the volume, and none at all.
    for leftover in [true, false] {
        if leftover {
            std::fs::write(volume.path().join("healwatch.lock"), "").unwrap();
        } else {
            let _ = std::fs::remove_file(volume.path().join("healwatch.lock"));
        }
        let dir = volume.path().display().to_string();
        // Read-only in a mount namespace of this test's own, so nothing else sees it.
        let script = format!(
            "mount -o bind,ro '{dir}' '{dir}' && exec \"$0\" --docker '{}' --state '{dir}/state.json' \
             --lock '{dir}/healwatch.lock' --retries 0 --recovery-timeout 0 -t app={}",
            docker.path().display(),
            server.url("/")
        );
        let out = std::process::Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .arg(assert_cmd::cargo::cargo_bin!("healwatch"))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        let line: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(line["targets"][0]["outcome"], "restarted", "{line}");
        assert!(line["warnings"].to_string().contains("this pass is not remembered"), "{line}");
        assert!(!volume.path().join("state.json").exists());
    }
    assert_eq!(restarts(&docker), 2);
}
