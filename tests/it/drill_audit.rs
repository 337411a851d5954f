//! `drill` and `audit` on the real engine, and audit's single inspect call on the stand-in.

use serde_json::Value;

use crate::engine::{Container, Engine, Spec};
use crate::util::{FakeDocker, Healwatch};

fn drill_line(run: &crate::util::Run) -> Value {
    run.status_line()
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn drill_measures_a_restart_policy_bringing_a_crash_back() {
    let engine = Engine::get();
    let app = Container::start(engine, "drill-policy", Spec { restart: Some("always"), ..Spec::default() });
    let pid_before = app.inspect("{{.State.Pid}}");
    let run = engine.healwatch().args(["drill", &app.name, "--wait", "20s", "-t", &app.target()]).run();
    run.expect_code(0);
    let d = drill_line(&run);
    assert_eq!((d["target"].as_str(), d["container"].as_str()), (Some(app.name.as_str()), Some(app.name.as_str())));
    assert_eq!(d["restart_policy"], "always", "{run}");
    assert_eq!(d["recovered_by"], "restart_policy", "{run}");
    assert_eq!(d["killed_pid"].to_string(), pid_before);
    let running = d["time_to_running_ms"].as_u64().expect("time_to_running_ms");
    let healthy = d["time_to_healthy_ms"].as_u64().expect("time_to_healthy_ms");
    assert!(running <= healthy, "{run}");
    assert_eq!(d["restart_count_after"].as_u64(), Some(d["restart_count_before"].as_u64().unwrap() + 1), "{run}");
    assert_ne!(app.inspect("{{.State.Pid}}"), pid_before);
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn drill_without_a_policy_reports_nobody_brought_it_back() {
    let engine = Engine::get();
    let app = Container::start(engine, "drill-none", Spec::default());
    let run = engine.healwatch().args(["drill", &app.name, "--wait", "2s", "-t", &app.target()]).run();
    run.expect_code(1);
    let d = drill_line(&run);
    assert_eq!((d["restart_policy"].as_str(), d["recovered_by"].as_str()), (Some("no"), Some("none")), "{run}");
    assert!(d["time_to_healthy_ms"].is_null() && d["time_to_running_ms"].is_null(), "{run}");
    assert_eq!(app.inspect("{{.State.Status}}"), "exited");
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn drill_with_heal_brings_back_what_the_policy_does_not() {
    let engine = Engine::get();
    let app = Container::start(engine, "drill-heal", Spec::default());
    let run = engine
        .healwatch()
        .args(["drill", &app.name, "--heal", "--wait", "30s", "--restart-timeout", "1s", "-t", &app.target()])
        .run();
    run.expect_code(0);
    let d = drill_line(&run);
    assert_eq!(d["recovered_by"], "healwatch", "{run}");
    assert_eq!(d["heal"]["outcome"], "restarted");
    assert!(d["time_to_healthy_ms"].is_u64());
    assert_eq!(app.inspect("{{.State.Status}}"), "running");
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn drill_refuses_a_remote_engine_and_unknown_targets() {
    let engine = Engine::get();
    let app = Container::start(engine, "drill-remote", Spec::default());
    let pid = app.inspect("{{.State.Pid}}");
    // tcp:// on loopback: the CLI names it as the endpoint without connecting anywhere.
    let run = Healwatch::new()
        .env("DOCKER_HOST", "tcp://127.0.0.1:1")
        .env("HEALWATCH_DOCKER", &engine.docker)
        .args(["drill", &app.name, "-t", &app.target()])
        .run();
    run.expect_code(2);
    assert!(run.stderr().contains("remote") && run.stderr().contains("tcp://127.0.0.1:1"), "{run}");
    let unknown = engine.healwatch().args(["drill", "nope", "-t", &app.target()]).run();
    unknown.expect_code(2);
    assert!(unknown.stderr().contains("unknown target 'nope'"), "{unknown}");
    // A SIGKILL takes effect at once: the process would be gone or a zombie already.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process is still there");
    let state = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next());
    assert_ne!(state, Some("Z"), "nothing was killed: {stat}");
    assert_eq!(app.inspect("{{.State.Pid}}"), pid, "nothing was killed");
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn audit_finds_watched_containers_without_a_restart_policy() {
    let engine = Engine::get();
    // `kept` has a HEALTHCHECK, which `--unhealthy all` in another test would act on.
    let _turn = crate::engine::Turn::take();
    let bare = Container::start(engine, "audit-bare", Spec::default());
    let kept = Container::start(
        engine,
        "audit-kept",
        Spec { restart: Some("unless-stopped"), healthcheck: true, ..Spec::default() },
    );
    let other = Container::start(engine, "audit-other", Spec { restart: Some("on-failure:3"), ..Spec::default() });
    let run = engine.healwatch().args(["audit", "--json", "-t", &bare.target(), "-t", &kept.target()]).run();
    run.expect_code(1);
    let a = run.status_line();
    let entry = |name: &str| {
        a["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing\n{run}"))
    };
    let (b, k, o) = (entry(&bare.name), entry(&kept.name), entry(&other.name));
    assert_eq!(
        (b["restart_policy"].as_str(), b["watched"].as_bool(), b["healthcheck"].as_bool()),
        (Some("no"), Some(true), Some(false))
    );
    assert_eq!(
        (k["restart_policy"].as_str(), k["watched"].as_bool(), k["healthcheck"].as_bool()),
        (Some("unless-stopped"), Some(true), Some(true))
    );
    assert_eq!(
        (o["restart_policy"].as_str(), o["watched"].as_bool(), o["state"].as_str()),
        (Some("on-failure:3"), Some(false), Some("running"))
    );
    let problems = a["problems"].to_string();
    assert!(problems.contains(&bare.name) && !problems.contains(&kept.name), "{run}");

    let only = engine.healwatch().args(["audit", "--targets-only", "-t", &kept.target()]).run();
    only.expect_code(0);
    let table = only.stdout();
    assert!(table.starts_with("NAME"), "{only}");
    assert!(table.contains(&kept.name) && !table.contains(&bare.name) && !table.contains(&other.name), "{only}");
}

#[test]
fn audit_inspects_all_containers_in_one_call() {
    let docker = FakeDocker::new();
    let inspect = r#"[{"Id":"aaaaaaaaaaaaaaaa","Name":"/app","State":{"Status":"running","Running":true,"Pid":7},"HostConfig":{"RestartPolicy":{"Name":"always"}},"Config":{}},
                      {"Id":"bbbbbbbbbbbbbbbb","Name":"/db","State":{"Status":"exited","Running":false,"Pid":0},"HostConfig":{"RestartPolicy":{"Name":"no"}},"Config":{}},
                      {"Id":"cccccccccccccccc","Name":"/cache","State":{"Status":"running","Running":true,"Pid":9},"HostConfig":{"RestartPolicy":{"Name":"no"}},"Config":{}}]"#;
    docker.set_output("ps", "aaaaaaaaaaaaaaaa\nbbbbbbbbbbbbbbbb\ncccccccccccccccc\n");
    docker.set_output("inspect", inspect);
    let run = Healwatch::new()
        .env("HEALWATCH_DOCKER", docker.path())
        .args(["audit", "--json", "-t", "app=http://127.0.0.1:1/"])
        .run();
    run.expect_code(0);
    assert_eq!(run.status_line()["containers"].as_array().unwrap().len(), 3, "{run}");
    let inspects = docker.calls().iter().filter(|c| c.starts_with("inspect")).count();
    assert_eq!(inspects, 1, "{:?}", docker.calls());
    assert!(docker.calls().iter().any(|c| c.contains("aaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbb cccccccccccccccc")));

    docker.set_output("inspect", "this is not JSON");
    let bad = Healwatch::new().env("HEALWATCH_DOCKER", docker.path()).args(["audit"]).run();
    bad.expect_code(2);
    assert!(bad.stderr().contains("docker inspect printed something that is not its JSON array"), "{bad}");
}

/// Removes the named containers when the test ends, however it ends.
struct Removed<'a>(&'static Engine, Vec<&'a str>);

impl Drop for Removed<'_> {
    fn drop(&mut self) {
        for name in &self.1 {
            let _ = self.0.docker(&["rm", "-f", name]);
        }
    }
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn audit_and_validate_show_who_shares_a_network_namespace_and_who_is_stranded() {
    let engine = Engine::get();
    // Audit sees every container on the engine: a stranded one is every audit's problem.
    let _turn = crate::engine::Turn::take();
    let pid = std::process::id();
    let (vpn, app) = (format!("hw-graph-vpn-{pid}"), format!("hw-graph-app-{pid}"));
    let _removed = Removed(engine, vec![&vpn, &app]);
    let run = |name: &str, network: &str| {
        let args = ["run", "-d", "--pull", "never", "--init", "--name", name, "--network", network];
        let out = engine.docker(&[&args[..], &[engine.image.as_str(), "sleep", "600"]].concat());
        assert!(out.success(), "docker run {name}: {out:?}");
    };
    run(&vpn, "none");
    run(&app, &format!("container:{vpn}"));
    let audit = engine.healwatch().args(["audit", "--json"]).run();
    let line = audit.status_line();
    let entry = |line: &Value, name: &str| {
        line["containers"].as_array().unwrap().iter().find(|c| c["name"] == name).cloned().unwrap_or(Value::Null)
    };
    assert_eq!(
        entry(&line, &app)["depends_on"],
        serde_json::json!([{"name": vpn, "via": "network", "exists": true}]),
        "{audit}"
    );
    assert!(entry(&line, &vpn).get("depends_on").is_none(), "{audit}");
    let table = engine.healwatch().args(["audit"]).run();
    assert!(table.stdout().contains(&format!("{vpn} <- {app} (network)")), "{table}");
    let validate = engine.healwatch().args(["validate", "-t", &format!("{app}=http://127.0.0.1:1/")]).run();
    assert!(validate.stdout().contains(&format!("{vpn} <- {app} (network)")), "{validate}");
    assert!(!validate.stdout().contains("stranded"), "{validate}");

    // The provider is replaced under its name (as an image update does): the dependent
    // still names the old one's id, and has no network.
    let old_id = engine.docker(&["inspect", "--format", "{{.Id}}", &vpn]).stdout.trim().to_string();
    assert!(engine.docker(&["rm", "-f", &vpn]).success());
    run(&vpn, "none");
    let audit = engine.healwatch().args(["audit", "--json"]).run();
    audit.expect_code(1);
    let line = audit.status_line();
    let gone = serde_json::json!([{"name": old_id[..12], "via": "network", "exists": false}]);
    assert_eq!(entry(&line, &app)["depends_on"], gone, "{audit}");
    let problems = line["problems"].to_string();
    assert!(problems.contains(&format!("container '{app}' runs in the network namespace of container")), "{audit}");
    assert!(problems.contains("which no longer exists"), "{audit}");
    let validate = engine.healwatch().args(["validate", "-t", &format!("{app}=http://127.0.0.1:1/")]).run();
    assert!(validate.stdout().contains(&format!("stranded: container '{app}'")), "{validate}");
}
