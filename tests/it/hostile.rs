//! Hostile input, faults and signals, through the real binary: values that validate but
//! would mean something else, numbers at their limits, labels from a hostile image,
//! files planted in shared directories, a docker CLI that floods or hangs, signals in
//! the middle of a restart, a process limit, and error text built from input.
//! Malformed URLs are fed to `validate` or rejected before any check, so none of them
//! is ever looked up.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{Behaviour, FakeDocker, Healwatch, Run, Server, write_file};

/// Asserts a refusal: exit 2, exactly one line on stderr that names `want`, and no
/// docker command run.
#[track_caller]
fn refused(run: &Run, want: &str, docker: Option<&FakeDocker>) {
    run.expect_code(2);
    let stderr = run.stderr();
    assert_eq!(stderr.lines().count(), 1, "one line on stderr\n{run}");
    assert!(stderr.contains(want), "stderr lacks {want:?}\n{run}");
    if let Some(docker) = docker {
        assert!(docker.calls().is_empty(), "docker ran: {:?}\n{run}", docker.calls());
    }
}

#[test]
fn urls_that_would_mean_something_else_are_refused() {
    let cases = [
        ("http://127.0.0.1:80800/", "port '80800'"),
        ("http://127.0.0.1:65536/", "port '65536'"),
        ("http://127.0.0.1:99999/", "port '99999'"),
        ("http://127.0.0.1:-1/", "port '-1'"),
        ("127.0.0.1:5000/health", "not a URL"),
        ("http:/127.0.0.1/health", "not a URL"),
        ("http//127.0.0.1/health", "not a URL"),
        ("http://admin:hunter/2@127.0.0.1/", "'@' outside"),
        ("http://admin:hun#ter2@127.0.0.1/", "fragment"),
        ("http://admin:hun?ter2@127.0.0.1/", "'@' outside"),
        ("http://admin:hun ter2@127.0.0.1/", "space"),
    ];
    for (url, want) in cases {
        let run = Healwatch::new().args(["validate", "-t", &format!("app={url}")]).run();
        refused(&run, want, None);
        for secret in ["hunter", "ter2"] {
            assert!(!run.stdout().contains(secret) && !run.stderr().contains(secret), "password printed\n{run}");
        }
    }
}

#[test]
fn headers_and_credentials_that_would_fail_every_check_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let docker = FakeDocker::new();
    let cases = [
        (r#"headers = { "X-A" = "v\u0001w" }"#, "0x01"),
        (r#"headers = { "X-A" = "café" }"#, "0xc3"),
        (r#"headers = { "Content-Length" = "5" }"#, "set by healwatch"),
        (r#"headers = { "Authorization" = "Bearer t" }"#, "give one"),
    ];
    for (line, want) in cases {
        let config = write_file(
            dir.path(),
            "c.toml",
            &format!("[[target]]\nname = \"app\"\nurl = \"http://u:p@127.0.0.1:1/\"\n{line}\n"),
        );
        let run = Healwatch::new().docker(&docker).arg("-c").arg(&config).run();
        refused(&run, want, Some(&docker));
        assert!(run.stderr().contains("headers"), "names the key\n{run}");
    }
}

#[test]
fn two_outputs_may_not_share_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x");
    let run = Healwatch::new()
        .args(["-n", "-t", "app=http://127.0.0.1:1/", "--state"])
        .arg(&file)
        .arg("--metrics")
        .arg(dir.path().join(".").join("x"))
        .run();
    refused(&run, "same file", None);
}

#[test]
fn durations_and_numbers_at_their_limits_are_errors_not_panics() {
    let docker = FakeDocker::new();
    for args in [
        &["--timeout", "18446744073709551615s"][..],
        &["--timeout", "100000h"],
        &["--restart-window", "10000y"],
        &["--retries", "4294967296"],
        &["--max-restarts", "99999"],
    ] {
        let run = Healwatch::new().docker(&docker).args(args).args(["-t", "app=http://127.0.0.1:1/"]).run();
        run.expect_code(2);
        assert!(!run.stderr().contains("panicked"), "{run}");
    }
    let run = Healwatch::new().args(["pause", "app", "--for", "8000y", "-t", "app=http://127.0.0.1:1/"]).run();
    run.expect_code(2);
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "c.toml",
        "[[target]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/\"\ntimeout = \"100000h\"\n",
    );
    let run = Healwatch::new().docker(&docker).arg("-c").arg(&config).run();
    refused(&run, "timeout", Some(&docker));
    assert!(run.stderr().contains("at most 1h"), "{run}");
}

#[test]
fn counters_saturate_and_a_clock_that_stepped_back_does_not_freeze_the_guard() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let down = Server::start(Behaviour::Fixed(503, "down"));
    let docker = FakeDocker::new();
    let year_ahead = "2027-11-27T10:00:00.000Z";
    std::fs::write(
        &state,
        format!(
            r#"{{"version":1,"targets":{{"app":{{"restarts_total":18446744073709551615,"recent_restarts":["{year_ahead}","{year_ahead}","{year_ahead}"]}}}}}}"#
        ),
    )
    .unwrap();
    let pass = |now: &str| {
        Healwatch::new()
            .env("HEALWATCH_STATE", &state)
            .env("HEALWATCH_TEST_NOW", now)
            .docker(&docker)
            .args(["--retries", "0", "--recovery-timeout", "0", "-t", &format!("app={}", down.url("/"))])
            .run()
    };
    let first = pass("2026-11-27T10:00:00Z");
    let t = first.target("app");
    assert_eq!(t["outcome"], "gave_up", "{first}");
    assert_eq!(t["next_restart_at"], "2026-11-27T10:30:00.000Z", "one window from now, not from next year\n{first}");
    let later = pass("2026-11-27T10:31:00Z");
    assert_eq!(later.target("app")["outcome"], "restarted", "{later}");
    assert_eq!(later.target("app")["restarts_total"], u64::MAX, "saturates, never wraps to 0\n{later}");
}

/// `docker inspect` output for one running container with these labels.
fn inspect_json(containers: &[(&str, &[(&str, &str)])]) -> String {
    let items: Vec<Value> = containers
        .iter()
        .enumerate()
        .map(|(i, (name, labels))| {
            let labels: serde_json::Map<String, Value> =
                labels.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect();
            serde_json::json!({
                "Id": format!("{i:0>12}0123456789abcdef"),
                "Name": format!("/{name}"),
                "State": {"Status": "running", "Running": true, "Pid": 100 + i},
                "HostConfig": {"RestartPolicy": {"Name": "no"}},
                "Config": {"Labels": labels},
            })
        })
        .collect();
    Value::from(items).to_string()
}

#[test]
fn hostile_labels_make_only_their_own_container_invalid() {
    let up = Server::start(Behaviour::Fixed(200, "ok"));
    let url = up.url("/");
    let docker = FakeDocker::new();
    let containers: [(&str, &[(&str, &str)]); 6] = [
        ("good", &[("healwatch.url", &url)]),
        ("hang", &[("healwatch.url", &url), ("healwatch.timeout", "100000h")]),
        ("panic", &[("healwatch.url", &url), ("healwatch.timeout", "18446744073709551615s")]),
        ("forever", &[("healwatch.url", &url), ("healwatch.max_restarts", "0")]),
        ("other", &[("healwatch.url", &url), ("healwatch.restart_with", "db")]),
        ("db", &[]),
    ];
    docker.set_output("ps", "ids\n");
    docker.set_output("inspect", &inspect_json(&containers));
    let run = Healwatch::new().docker(&docker).args(["--discover"]).run();
    run.expect_code(1);
    assert_eq!(run.target("good")["outcome"], "healthy", "{run}");
    for (name, want) in
        [("hang", "at most 1h"), ("panic", "at most 1h"), ("forever", "trust_labels"), ("other", "compose project")]
    {
        let t = run.target(name);
        assert_eq!(t["outcome"], "invalid", "{name}\n{run}");
        assert!(t["error"].as_str().unwrap().contains(want), "{name}: {}\n{run}", t["error"]);
    }
    assert!(!docker.calls().iter().any(|c| c.starts_with("restart")), "{:?}", docker.calls());
    // The operator can choose to trust them.
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(dir.path(), "c.toml", "[defaults]\ndiscover = true\ntrust_labels = true\n");
    let trusted = Healwatch::new().docker(&docker).arg("-c").arg(&config).run();
    for name in ["forever", "other"] {
        assert_eq!(trusted.target(name)["outcome"], "healthy", "{name}\n{trusted}");
    }
}

#[test]
fn a_container_that_cannot_be_watched_is_notified_once_and_its_name_is_never_taken() {
    let up = Server::start(Behaviour::Fixed(200, "ok"));
    let hook = Server::start(Behaviour::Fixed(200, "ok"));
    let url = up.url("/");
    let docker = FakeDocker::new();
    // "aaa" lists before "app" and claims its name; "loose" asks for a looser guard.
    let containers: [(&str, &[(&str, &str)]); 3] = [
        ("aaa", &[("healwatch.url", &url), ("healwatch.name", "app")]),
        ("app", &[("healwatch.url", &url)]),
        ("loose", &[("healwatch.url", &url), ("healwatch.stable_after", "0s")]),
    ];
    docker.set_output("ps", "ids\n");
    docker.set_output("inspect", &inspect_json(&containers));
    let dir = tempfile::tempdir().unwrap();
    let pass = || {
        Healwatch::new()
            .docker(&docker)
            .env("HEALWATCH_STATE", dir.path().join("state.json"))
            .args(["--discover", "--notify-url", &hook.url("/hook")])
            .run()
    };
    let first = pass();
    assert_eq!(first.target("app")["outcome"], "healthy", "the real app keeps its name\n{first}");
    assert_eq!(first.target("aaa")["outcome"], "invalid", "{first}");
    assert!(first.target("loose")["error"].as_str().unwrap().contains("healwatch.stable_after"), "{first}");
    let posted: Vec<String> = hook.received().into_iter().map(|r| r.2).collect();
    assert_eq!(posted.len(), 1, "one notification for both: {posted:?}");
    assert!(posted[0].contains("\"aaa\"") && posted[0].contains("\"loose\""), "{}", posted[0]);
    // Still invalid: no news, no second notification.
    pass();
    assert_eq!(hook.received().len(), 1, "{:?}", hook.received());
}

#[test]
fn names_from_an_engine_never_start_a_ci_command() {
    let docker = FakeDocker::new();
    docker.set_output("ps", "ids\n");
    docker.set_output("inspect", &inspect_json(&[("::error title=owned::pwned", &[]), ("web", &[])]));
    let run = Healwatch::new().arg("audit").arg("--docker").arg(docker.path()).run();
    assert!(run.stdout().contains("owned"), "{run}");
    for line in run.stdout().lines() {
        assert!(!line.trim_start().starts_with("::"), "a workflow command: {line}\n{run}");
    }
}

#[test]
fn planted_links_are_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let shadow = dir.path().join("shadow");
    std::fs::write(&shadow, "root:x:0:0\n").unwrap();
    let up = Server::start(Behaviour::Fixed(200, "ok"));
    let target = format!("app={}", up.url("/"));
    let link = |name: &str| {
        let path = dir.path().join(name);
        std::os::unix::fs::symlink(&shadow, &path).unwrap();
        path
    };
    let lock = link("lock");
    let run = Healwatch::new().arg("-n").arg("--lock").arg(&lock).args(["-t", &target]).run();
    refused(&run, "symbolic link", None);
    let log = link("log.jsonl");
    let metrics = link("m.prom");
    let state = link("state.json");
    let run = Healwatch::new()
        .args(["-n", "-t", &target, "--log"])
        .arg(&log)
        .arg("--metrics")
        .arg(&metrics)
        .env("HEALWATCH_STATE", &state)
        .run();
    run.expect_code(0);
    let warnings = run.status_line()["warnings"].to_string();
    assert!(warnings.contains("symbolic link") && warnings.contains("log.jsonl"), "{run}");
    assert!(warnings.contains("m.prom"), "{run}");
    assert_eq!(std::fs::read_to_string(&shadow).unwrap(), "root:x:0:0\n", "nothing written through a link");
}

#[test]
fn fifos_never_block_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let up = Server::start(Behaviour::Fixed(200, "ok"));
    let target = format!("app={}", up.url("/"));
    for (flag, refuse) in [("-c", true), ("--ca-file", true), ("--log", false)] {
        let start = Instant::now();
        let run = Healwatch::new().args(["-n", "-t", &target, flag]).arg(&fifo).run();
        assert!(start.elapsed() < Duration::from_secs(20), "{flag} blocked\n{run}");
        if refuse {
            refused(&run, "FIFO", None);
        } else {
            run.expect_code(0);
            assert!(run.status_line()["warnings"].to_string().contains("log"), "{run}");
        }
    }
}

#[test]
fn a_docker_cli_that_cannot_run_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let up = Server::start(Behaviour::Fixed(200, "ok"));
    let target = format!("app={}", up.url("/"));
    let not_executable = write_file(dir.path(), "docker", "#!/bin/sh\nexit 0\n");
    let run = Healwatch::new().arg("--docker").arg(&not_executable).args(["-t", &target]).run();
    refused(&run, "not executable", None);
    let not_a_program = write_file(dir.path(), "docker2", "just text\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&not_a_program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = Healwatch::new().arg("--docker").arg(&not_a_program).args(["-t", &target]).run();
    refused(&run, "not a program", None);
}

/// A docker stand-in whose restart misbehaves as `body` (sh) says.
fn misbehaving_docker(dir: &Path, body: &str) -> std::path::PathBuf {
    let path = write_file(
        dir,
        "docker",
        &format!(
            "#!/bin/sh\necho \"$*\" >> '{}/calls'\ncase \"$1\" in inspect) echo running; exit 0;; ps) exit 0;; esac\n{body}\n",
            dir.display()
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn docker_output_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let docker = misbehaving_docker(
        dir.path(),
        "head -c 1048576 /dev/zero | tr '\\0' 'e' >&2; head -c 67108864 /dev/zero | tr '\\0' 'o'; exit 1",
    );
    let down = Server::start(Behaviour::Fixed(503, ""));
    let run = Healwatch::new()
        .arg("--docker")
        .arg(&docker)
        .args(["--retries", "0", "--recovery-timeout", "0", "-t", &format!("app={}", down.url("/"))])
        .run();
    run.expect_code(1);
    assert!(run.stdout().len() < 8 * 1024, "status line of {} bytes", run.stdout().len());
    let stderr = run.target("app")["restart"]["stderr"].as_str().unwrap().to_string();
    assert!(stderr.contains("bytes cut") && stderr.ends_with('e'), "{stderr:.200}");
}

#[test]
fn a_signal_during_a_restart_ends_the_pass_in_order() {
    for (signal, code) in [("TERM", 143), ("INT", 130), ("HUP", 129)] {
        let dir = tempfile::tempdir().unwrap();
        // The restart starts a grandchild and hangs: both must die with the pass.
        let docker = misbehaving_docker(
            dir.path(),
            &format!("sleep 300 & echo $! > '{0}/grandchild'; echo $$ > '{0}/child'; sleep 300", dir.path().display()),
        );
        let state = dir.path().join("state.json");
        let down = Server::start(Behaviour::Fixed(503, ""));
        let bin = assert_cmd::cargo::cargo_bin!("healwatch");
        let child = std::process::Command::new(bin)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HEALWATCH_STATE", &state)
            .env("HEALWATCH_LOCK", dir.path().join("lock"))
            .arg("--docker")
            .arg(&docker)
            .args(["--retries", "0", "-t", &format!("app={}", down.url("/"))])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        crate::util::eventually(Duration::from_secs(20), "the restart starting", || {
            crate::util::ready(dir.path().join("child").exists())
        });
        let started = Instant::now();
        assert!(
            std::process::Command::new("kill")
                .args([&format!("-{signal}"), &child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
        let out = child.wait_with_output().unwrap();
        assert!(started.elapsed() < Duration::from_secs(10), "took {:?} to stop", started.elapsed());
        assert_eq!(out.status.code(), Some(code), "{}", String::from_utf8_lossy(&out.stderr));
        let line: Value = serde_json::from_slice(&out.stdout).expect("a status line");
        assert_eq!(line["interrupted"], format!("SIG{signal}"));
        let t = &line["targets"][0];
        // Cut short by the signal: not a failed restart, and not one the guard counts.
        assert_eq!(t["outcome"], "interrupted", "{line}");
        assert!(t["restart"]["stderr"].as_str().unwrap().contains("interrupted"), "{line}");
        for who in ["child", "grandchild"] {
            let pid = std::fs::read_to_string(dir.path().join(who)).unwrap().trim().to_string();
            crate::util::eventually(Duration::from_secs(2), &format!("the {who} {pid} gone with the pass"), || {
                let alive = Path::new(&format!("/proc/{pid}")).exists()
                    && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z");
                if alive { Err("still running".to_string()) } else { Ok(()) }
            });
        }
        let remembered: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
        let app = &remembered["targets"]["app"];
        assert!(app["recent_restarts"].as_array().is_none_or(Vec::is_empty), "not counted: {remembered}");
        assert!(app["restart_failures_total"].as_u64().unwrap_or(0) == 0, "not a failure: {remembered}");
        // The lock is free: the next pass runs (and is not refused with 3).
        let next = Healwatch::new()
            .env("HEALWATCH_LOCK", dir.path().join("lock"))
            .args(["-n", "-t", &format!("app={}", down.url("/"))])
            .run();
        next.expect_code(1);
    }
}

#[test]
#[ignore = "needs root, to drop to nobody under a process limit: scripts/test.sh"]
fn a_process_limit_means_fewer_workers_not_a_panic() {
    assert!(rustix::process::getuid().is_root(), "run as root (scripts/test.sh)");
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let servers: Vec<Server> = (0..40).map(|_| Server::start(Behaviour::Fixed(200, "ok"))).collect();
    let bin = assert_cmd::cargo::cargo_bin!("healwatch");
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args(["prlimit", "--nproc=8", "--"])
        .arg(bin)
        .args(["-n", "--concurrency", "32"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir.path())
        .env("HEALWATCH_STATE", dir.path().join("state.json"))
        .env("HEALWATCH_LOCK", dir.path().join("lock"));
    for (i, s) in servers.iter().enumerate() {
        cmd.args(["-t", &format!("s{i}={}", s.url("/"))]);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["summary"]["healthy"], 40, "{line}");
    assert!(line["warnings"].to_string().contains("worker threads"), "{line}");
}

#[test]
#[ignore = "needs root, to drop to nobody under a process limit: scripts/test.sh"]
fn a_watch_under_a_process_limit_judges_every_target_without_waiting_for_threads() {
    assert!(rustix::process::getuid().is_root(), "run as root (scripts/test.sh)");
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let up = Server::start(Behaviour::Fixed(200, "ok"));
    let down = Server::start(Behaviour::Fixed(503, "down"));
    let config = write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[defaults]\nretries = 0\naction = \"notify\"\n\
             [[target]]\nname = \"a\"\nurl = \"{}\"\n[[target]]\nname = \"b\"\nurl = \"{}\"\n\
             [[target]]\nname = \"c\"\nurl = \"{}\"\n",
            up.url("/"),
            down.url("/"),
            up.url("/")
        ),
    );
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    // One task for the whole user: the watch and its passes get no thread at all.
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--", "prlimit", "--nproc=1", "--"])
        .arg(assert_cmd::cargo::cargo_bin!("healwatch"))
        .args(["--watch", "6s", "-c"])
        .arg(&config)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir.path())
        .env("HEALWATCH_STATE", dir.path().join("state.json"))
        .env("HEALWATCH_LOCK", dir.path().join("lock"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first: Value = serde_json::from_str(stdout.lines().next().unwrap_or("{}")).unwrap();
    assert_eq!(first["summary"]["targets"], 3, "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(first["targets"][1]["outcome"], "unhealthy", "{first}");
    // Judged at once, not when the watch ends (each target waited for the others'
    // threads, which never came).
    assert!(first["duration_ms"].as_u64().unwrap() < 3_000, "{first}");
}

#[test]
fn error_text_is_one_line_and_keeps_secrets() {
    // Near the kernel's limit for one argument (128 KiB).
    let huge = format!("app=http://127.0.0.1:1/{}", "x\n".repeat(60_000));
    let run = Healwatch::new().args(["validate", "-t", &huge]).run();
    refused(&run, "control character", None);
    assert!(run.stderr().len() < 4096, "{} bytes on stderr", run.stderr().len());
    let run = Healwatch::new().args(["validate", "-t", "\u{1b}[31mred=http://127.0.0.1:1/"]).run();
    run.expect_code(2);
    assert!(!run.stderr().contains('\u{1b}'), "raw ESC on the terminal: {:?}", run.stderr());
    let dead = crate::util::free_port();
    let up = Server::start(Behaviour::Fixed(200, "ok"));
    let run = Healwatch::new()
        .args(["-n", "--ping-url", &format!("http://127.0.0.1:{dead}/5b2f0e4c-secret-uuid")])
        .args(["-t", &format!("app={}?jwt=eyJsecret", up.url("/"))])
        .run();
    let all = format!("{}{}", run.stdout(), run.stderr());
    assert!(!all.contains("secret"), "{run}");
    assert!(all.contains(&format!("127.0.0.1:{dead}/***")), "{run}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 64, failure_persistence: None, ..Default::default()
    })]

    /// Random `-t` values through a real pass: a docker command runs only for a valid
    /// target (every host that can be valid here is loopback, so nothing is looked up);
    /// anything else is exit 2 with one line on stderr.
    #[test]
    fn any_target_flag_is_healed_or_refused(
        name in "[a-z]{1,5}|-x|a b|",
        scheme in "http|https|ftp|HTTP|http:/|",
        userinfo in "|u:p@|u:p/q@|u@|:@",
        port in "|:0|:65536|:-1|:abc|:PORT",
        path in "|/|/h?x=1|/a b|/#f|/%zz",
    ) {
        let down = Server::start(Behaviour::Fixed(503, "down"));
        let docker = FakeDocker::new();
        let port = port.replace("PORT", &down.port.to_string());
        let raw = format!("{name}={scheme}://{userinfo}127.0.0.1{port}{path}");
        let run = Healwatch::new()
            .docker(&docker)
            .args(["--retries", "0", "--timeout", "2s", "--recovery-timeout", "0", &format!("--target={raw}")])
            .run();
        match run.code() {
            2 => {
                proptest::prop_assert_eq!(run.stderr().lines().count(), 1, "{}", run);
                proptest::prop_assert!(docker.calls().is_empty(), "{}", run);
            }
            0 | 1 => {
                let t = run.target(&name);
                let restarted = docker.calls().iter().any(|c| c.starts_with("restart"));
                proptest::prop_assert_eq!(restarted, t["error"].is_string(), "{}", run);
            }
            _ => proptest::prop_assert!(false, "unexpected exit\n{}", run),
        }
    }
}

/// What docker says reaches people escaped: an escape sequence, a terminal title, a bell,
/// a carriage return, a bidi override or a GitHub workflow command on a line of its own
/// in docker's stderr shows as text in the report for people and in the JSON line, and
/// acts on nothing.
#[test]
fn control_characters_from_docker_never_reach_a_terminal_raw() {
    let down = Server::start(Behaviour::Fixed(503, "down"));
    let docker = FakeDocker::new();
    docker.fail_restarts(1, "boom\u{1b}[2J\u{1b}]0;pwned\u{7}\r\n::add-mask::secret \u{202e}txt.exe\u{9b}31m");
    for format in ["text", "json"] {
        let run = Healwatch::new()
            .docker(&docker)
            .args(["--retries", "0", "--format", format, "-t", &format!("app={}", down.url("/"))])
            .run();
        run.expect_code(1);
        let out = run.stdout();
        assert!(out.contains("boom"), "{run}");
        for raw in ['\u{1b}', '\u{7}', '\r', '\u{202e}', '\u{9b}'] {
            assert!(!out.contains(raw), "{format}: {raw:?} raw in\n{out}");
        }
        assert!(!out.lines().any(|l| l.starts_with("::")), "{format}: a workflow command on its own line\n{out}");
    }
}
