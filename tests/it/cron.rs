//! Living in a real crontab: cron mails only what changed, a report people can read,
//! the config where operators expect it, engines that are down, containers that are
//! gone, and a hook after each restart.

use std::path::PathBuf;

use serde_json::Value;

use crate::util::{Behaviour, FakeDocker, Healwatch, Run, Server, write_file};

/// One state, lock and config for a series of passes, minute by minute.
struct Crontab {
    dir: tempfile::TempDir,
}

impl Crontab {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }
    fn file(&self, name: &str, text: &str) -> PathBuf {
        write_file(self.dir.path(), name, text)
    }
    fn cmd(&self, minute: u64) -> Healwatch {
        let t = humantime::parse_rfc3339("2026-11-27T10:00:00Z").unwrap() + std::time::Duration::from_secs(minute * 60);
        Healwatch::new()
            .env("HEALWATCH_STATE", self.dir.path().join("state.json"))
            .env("HEALWATCH_LOCK", self.dir.path().join("lock"))
            .env("HEALWATCH_TEST_NOW", humantime::format_rfc3339(t).to_string())
    }
}

fn printed_lines(runs: &[Run]) -> Vec<usize> {
    runs.iter().map(|r| r.stdout().lines().count()).collect()
}

#[test]
fn quiet_cron_mails_only_when_something_changes() {
    let down = Server::start(Behaviour::Fixed(503, "down"));
    let docker = FakeDocker::new();
    let cases = [
        ("a broken target that gives up", "max_restarts = 1\n", vec![1, 1, 0, 0, 0]),
        ("a paused target", "", vec![1, 0, 0, 0, 0]),
        ("an operator-stopped container", "ignore_stopped = true\n", vec![1, 0, 0, 0, 0]),
    ];
    for (what, extra, want) in cases {
        let cron = Crontab::new();
        let config = cron.file(
            "c.toml",
            &format!(
                "[defaults]\nquiet = true\nretries = 0\nrecovery_timeout = \"0\"\n{extra}[[target]]\nname = \"app\"\nurl = \"{}\"\n",
                down.url("/")
            ),
        );
        if what == "a paused target" {
            cron.cmd(0).args(["pause", "app", "--for", "1h"]).arg("-c").arg(&config).run().expect_code(0);
        }
        let status = if what.contains("stopped") { "exited" } else { "running" };
        let runs: Vec<Run> = (0..5)
            .map(|minute| cron.cmd(minute * 2).env("FAKE_STATUS", status).docker(&docker).arg("-c").arg(&config).run())
            .collect();
        assert_eq!(printed_lines(&runs), want, "{what}\n{}", runs[0]);
    }
}

#[test]
fn a_confirmed_recovery_is_told_once_not_again_by_the_next_pass() {
    // 503 once (the pass's only attempt), then healthy: restarted, and the recovery seen.
    let flaky = Server::start(Behaviour::FailFirst(1));
    let docker = FakeDocker::new();
    let cron = Crontab::new();
    let config = cron.file(
        "c.toml",
        &format!(
            "[defaults]\nquiet = true\nretries = 0\nrecovery_timeout = \"5s\"\n[[target]]\nname = \"app\"\nurl = \"{}\"\n",
            flaky.url("/")
        ),
    );
    let runs: Vec<Run> =
        (0..3).map(|minute| cron.cmd(minute * 2).docker(&docker).arg("-c").arg(&config).run()).collect();
    assert_eq!(runs[0].status_line()["targets"][0]["recovered"], true, "{}", runs[0]);
    assert_eq!(printed_lines(&runs), [1, 0, 0], "the heal is mailed once\n{}", runs[1]);
}

#[test]
fn a_missing_metrics_directory_is_told_once_with_the_fix() {
    let up = Server::start(Behaviour::Fixed(200, "ok"));
    let cron = Crontab::new();
    let metrics = cron.dir.path().join("no-such-dir/healwatch.prom");
    let runs: Vec<Run> = (0..3)
        .map(|minute| {
            cron.cmd(minute)
                .arg("--docker")
                .arg("/bin/true")
                .args(["--quiet", "-t", &format!("app={}", up.url("/"))])
                .arg("--metrics")
                .arg(&metrics)
                .run()
        })
        .collect();
    assert_eq!(printed_lines(&runs), [1, 0, 0], "{}", runs[1]);
    let warnings = runs[0].status_line()["warnings"].to_string();
    assert!(warnings.contains("metrics: directory") && warnings.contains("drop --metrics"), "{warnings}");
}

#[test]
fn text_format_is_a_short_report_and_log_stays_json() {
    let down = Server::start(Behaviour::Fixed(503, "down"));
    let up = Server::start(Behaviour::Fixed(200, "ok"));
    let docker = FakeDocker::new().with_containers(&["web", "app"]);
    let cron = Crontab::new();
    let log = cron.dir.path().join("log.jsonl");
    let run = cron
        .cmd(0)
        .docker(&docker)
        .args(["--format", "text", "--retries", "0", "--recovery-timeout", "0"])
        .args(["-t", &format!("web={}", up.url("/")), "-t", &format!("app={}", down.url("/"))])
        .arg("--log")
        .arg(&log)
        .run();
    run.expect_code(0);
    let out = run.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{run}");
    assert!(lines[0].starts_with("app  restarted") && lines[0].contains("status 503 not in 200-399"), "{run}");
    assert!(lines[1].starts_with("2 targets: 1 healthy, 1 restarted"), "{run}");
    assert!(!out.contains('\u{1b}'), "no colour in a pipe");
    let logged: Value = serde_json::from_str(std::fs::read_to_string(&log).unwrap().trim()).unwrap();
    assert_eq!(logged["summary"]["restarted"], 1);
}

#[test]
fn colour_only_on_a_terminal_without_no_color() {
    let down = Server::start(Behaviour::Fixed(503, "down"));
    let bin = assert_cmd::cargo::cargo_bin!("healwatch");
    let command = format!("'{}' -n --retries 0 --format text -t app={}", bin.display(), down.url("/"));
    let dir = tempfile::tempdir().unwrap();
    let on_a_tty = |no_color: &str| {
        // util-linux's script(1) gives the command a terminal.
        let out = std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", dir.path())
            .env("HEALWATCH_STATE", dir.path().join("s.json"))
            .env("HEALWATCH_LOCK", dir.path().join("l"))
            .env("NO_COLOR", no_color)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(on_a_tty("").contains("\u{1b}[31m"), "colour on a terminal: {:?}", on_a_tty(""));
    assert!(!on_a_tty("1").contains('\u{1b}'), "NO_COLOR turns it off");
}

#[test]
fn the_default_config_is_read_when_none_is_named() {
    let up = Server::start(Behaviour::Fixed(200, "ok"));
    let cron = Crontab::new();
    let config = cron.file("healwatch.toml", &format!("[[target]]\nname = \"web\"\nurl = \"{}\"\n", up.url("/")));
    let run = cron.cmd(0).env("HEALWATCH_DEFAULT_CONFIG", &config).arg("-n").run();
    run.expect_code(0);
    assert_eq!(run.target("web")["outcome"], "healthy");
    let help = Healwatch::new().arg("--help").run();
    assert!(help.stdout().contains("/etc/healwatch/healwatch.toml"), "{help}");
}

#[test]
fn config_errors_say_what_is_wanted() {
    let cron = Crontab::new();
    for (line, want) in [
        ("retries = \"2\"", "retries must be a whole number of 0 or more, without quotes, e.g. retries = 2"),
        ("timeout = 5", "timeout must be text in quotes, e.g. timeout = \"5s\""),
        ("ignore_stopped = \"yes\"", "ignore_stopped must be true or false"),
    ] {
        let config = cron.file("c.toml", &format!("[[target]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/\"\n{line}\n"));
        let run = Healwatch::new().args(["validate", "--offline", "-c"]).arg(&config).run();
        run.expect_code(2);
        assert!(run.stderr().contains(want) && run.stderr().contains("line 4"), "{run}");
    }
}

#[test]
fn a_hook_runs_after_each_restart() {
    let down = Server::start(Behaviour::WhileFileExists(PathBuf::from("/nonexistent")));
    let docker = FakeDocker::new().with_containers(&["app", "app-1", "a"]);
    let cron = Crontab::new();
    let seen = cron.dir.path().join("seen");
    let hook = cron.file(
        "hook",
        &format!("#!/bin/sh\necho \"$1 $HEALWATCH_TARGET $HEALWATCH_CONTAINER $HEALWATCH_OUTCOME $HEALWATCH_RECOVERED\" >> '{}'\n", seen.display()),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = cron.file(
        "c.toml",
        &format!(
            "[defaults]\nretries = 0\nrecovery_timeout = \"300ms\"\n[[target]]\nname = \"app\"\ncontainer = \"app-1\"\nurl = \"{}\"\non_restart = [\"{}\", \"--flag\"]\n",
            down.url("/"),
            hook.display()
        ),
    );
    let run = cron.cmd(0).docker(&docker).arg("-c").arg(&config).run();
    run.expect_code(1);
    assert_eq!(std::fs::read_to_string(&seen).unwrap(), "--flag app app-1 restarted false\n", "{run}");
    let failing = cron.file("c2.toml", &format!(
        "[defaults]\nretries = 0\nrecovery_timeout = \"0\"\n[[target]]\nname = \"app\"\nurl = \"{}\"\non_restart = [\"/bin/false\"]\n",
        down.url("/")
    ));
    let run = cron.cmd(1).docker(&docker).arg("-c").arg(&failing).run();
    run.expect_code(0);
    assert!(run.status_line()["warnings"][0].as_str().unwrap().contains("on_restart for app"), "{run}");
    let relative =
        cron.file("c3.toml", "[[target]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/\"\non_restart = [\"notify\"]\n");
    let run = Healwatch::new().args(["validate", "--offline", "-c"]).arg(&relative).run();
    run.expect_code(2);
    assert!(run.stderr().contains("absolute path"), "{run}");
}

/// A fake engine listing with these containers (name, compose project and service).
fn listing(docker: &FakeDocker, containers: &[(&str, Option<(&str, &str)>)]) {
    let items: Vec<Value> = containers
        .iter()
        .enumerate()
        .map(|(i, (name, compose))| {
            let labels = match compose {
                Some((p, s)) => serde_json::json!({"com.docker.compose.project": p, "com.docker.compose.service": s}),
                None => serde_json::json!({}),
            };
            serde_json::json!({"Id": format!("{i:0>12}abcdef"), "Name": format!("/{name}"),
                "State": {"Status": "running", "Running": true, "Pid": 1},
                "HostConfig": {"RestartPolicy": {"Name": "always"}}, "Config": {"Labels": labels}})
        })
        .collect();
    docker.set_output("ps", "x\n");
    docker.set_output("inspect", &Value::from(items).to_string());
}

#[test]
fn validate_and_audit_find_containers_that_do_not_exist() {
    let docker = FakeDocker::new();
    listing(&docker, &[("web", None), ("shop-db-1", Some(("shop", "db")))]);
    let cron = Crontab::new();
    let config = cron.file(
        "c.toml",
        "[[target]]\nname = \"web\"\nurl = \"http://127.0.0.1:1/\"\n\
         [[target]]\nname = \"gone\"\nurl = \"http://127.0.0.1:1/\"\n\
         [[target]]\nname = \"db\"\nurl = \"http://127.0.0.1:1/\"\ncompose_project = \"shop\"\ncompose_service = \"db\"\n",
    );
    let run = Healwatch::new().arg("validate").docker(&docker).arg("-c").arg(&config).run();
    run.expect_code(1);
    assert!(run.stdout().contains("target 'gone': container 'gone' does not exist on local"), "{run}");
    assert!(!run.stdout().contains("target 'db'") && !run.stdout().contains("target 'web'"), "{run}");
    Healwatch::new().arg("validate").docker(&docker).args(["--offline", "-c"]).arg(&config).run().expect_code(0);
    let audit = Healwatch::new().arg("audit").docker(&docker).arg("-c").arg(&config).run();
    audit.expect_code(1);
    assert!(audit.stdout().contains("'gone', which does not exist"), "{audit}");
}

#[test]
fn an_unreachable_engine_is_engine_down_and_never_trips_the_guard() {
    let down = Server::start(Behaviour::WhileFileExists(PathBuf::from("/nonexistent")));
    let docker = FakeDocker::new();
    let cron = Crontab::new();
    let metrics = cron.dir.path().join("m.prom");
    let config = cron.file(
        "c.toml",
        &format!("[defaults]\nretries = 0\nrecovery_timeout = \"0\"\nmax_restarts = 2\n[[target]]\nname = \"app\"\nurl = \"{}\"\n", down.url("/")),
    );
    let daemon_down =
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?";
    // Every docker command fails as a stopped daemon makes it fail.
    let stand_in = cron.file(
        "docker",
        &format!("#!/bin/sh\necho \"$*\" >> '{}/calls'\necho '{daemon_down}' >&2\nexit 1\n", cron.dir.path().display()),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();
    for minute in 0..4 {
        let run = cron
            .cmd(minute * 2)
            .arg("--docker")
            .arg(&stand_in)
            .arg("--metrics")
            .arg(&metrics)
            .arg("-c")
            .arg(&config)
            .run();
        run.expect_code(1);
        let t = run.target("app");
        assert_eq!(t["outcome"], "engine_down", "{run}");
        assert!(t["error"].as_str().unwrap().contains("docker engine local is unreachable"), "{run}");
        assert_eq!(t["restarts_in_window"], 0, "not a restart attempt\n{run}");
        assert_eq!(run.status_line()["engines"][0]["up"], false, "{run}");
    }
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(text.contains("healwatch_engine_up{engine=\"local\"} 0"), "{text}");
    // The daemon is back: the target is restarted, not held by the guard.
    let run = cron.cmd(10).docker(&docker).arg("--metrics").arg(&metrics).arg("-c").arg(&config).run();
    assert_eq!(run.target("app")["outcome"], "restarted", "{run}");
    assert!(std::fs::read_to_string(&metrics).unwrap().contains("healwatch_engine_up{engine=\"local\"} 1"));
    // Discovery against an engine that is down exits 1, not 0 with nothing watched.
    let run = cron.cmd(12).arg("--docker").arg(&stand_in).args(["--unhealthy", "all"]).run();
    run.expect_code(1);
    assert_eq!(run.status_line()["engines"][0]["up"], false, "{run}");
}

#[test]
fn a_reader_that_goes_away_is_not_an_error() {
    let bin = assert_cmd::cargo::cargo_bin!("healwatch");
    let out = std::process::Command::new("bash")
        .args([
            "-c",
            &format!(
                "'{}' validate --offline -t app=http://127.0.0.1:1/ | head -c0; echo ${{PIPESTATUS[0]}}",
                bin.display()
            ),
        ])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Mail and notifications say what changed: after one target gave up, a later heal of
/// another is mailed and notified about that one only; the given-up target is not listed
/// again (the summary counts it) and is not notified again.
#[test]
fn mail_and_notifications_name_only_what_changed() {
    let looping = Server::start(Behaviour::Fixed(503, "down"));
    let docker = FakeDocker::new().with_containers(&["loop", "web"]);
    let web = Server::start(Behaviour::WhileFileExists(docker.healthy_flag()));
    std::fs::write(docker.healthy_flag(), "").unwrap();
    let receiver = Server::start(Behaviour::Fixed(200, "ok"));
    let cron = Crontab::new();
    let config = cron.file(
        "c.toml",
        &format!(
            "[defaults]\nquiet = true\nformat = \"text\"\nretries = 0\nrecovery_timeout = \"0\"\nmax_restarts = 1\n\
             notify_url = \"{}\"\nnotify_on = [\"restarted\", \"gave_up\"]\n\
             [[target]]\nname = \"loop\"\nurl = \"{}\"\n[[target]]\nname = \"web\"\nurl = \"{}\"\n",
            receiver.url("/hook"),
            looping.url("/"),
            web.url("/health")
        ),
    );
    let pass = |minute: u64| cron.cmd(minute).docker(&docker).arg("-c").arg(&config).run();
    let posts = || receiver.received().iter().filter(|r| r.0.starts_with("POST")).count();
    // Minute 0: loop restarted. Minute 2: loop gave up. Minute 4: nothing new.
    let first: Vec<Run> = [0, 2, 4].map(pass).into();
    assert_eq!(printed_lines(&first), [2, 2, 0], "{}\n{}", first[0], first[1]);
    assert!(first[1].stdout().starts_with("loop  gave_up"), "{}", first[1]);
    assert_eq!(posts(), 2, "restarted, then gave up: once each");
    // Web breaks: its heal is the whole mail, loop is only counted.
    std::fs::remove_file(docker.healthy_flag()).unwrap();
    let healed = pass(6);
    let mail = healed.stdout();
    let lines: Vec<&str> = mail.lines().collect();
    assert_eq!(lines.len(), 2, "{mail}");
    assert!(lines[0].starts_with("web  restarted"), "{mail}");
    assert!(lines[1].contains("(1 unchanged, not listed)"), "{mail}");
    assert_eq!(posts(), 3, "the heal is notified, the give-up is not again");
    let posted: Value = serde_json::from_str(&receiver.received().last().unwrap().2).unwrap();
    assert_eq!(posted["changed"], serde_json::json!(["web"]), "{posted}");
}
