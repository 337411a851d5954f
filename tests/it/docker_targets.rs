//! Targets from Docker itself, on the real engine: labels, HEALTHCHECK status, compose
//! replicas, restart_with, actions, ignore_stopped, and one pass across two engines.

use std::time::Duration;

use crate::engine::{Container, Engine, Spec, Turn};
use crate::util::{Behaviour, Server, write_file};

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

const QUICK: [&str; 6] = ["--retries", "0", "--restart-timeout", "1s", "--recovery-timeout", "20s"];

/// Discovery looks at every container on an engine, so its tests would act on each
/// other's containers (and on other tests'). They run one at a time, on the second
/// engine, which no other test lists.
struct Discovery {
    host: String,
    _turn: Turn,
}

fn discovery(engine: &'static Engine) -> Discovery {
    let host = engine.second_host();
    Discovery { host, _turn: Turn::take() }
}

impl Discovery {
    fn spec(&self, spec: Spec) -> Spec {
        Spec { host: Some(self.host.clone()), ..spec }
    }
    fn healwatch(&self, engine: &'static Engine) -> crate::util::Healwatch {
        engine.healwatch().env("DOCKER_HOST", &self.host)
    }
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn labelled_containers_are_discovered_and_opt_out_is_respected() {
    let engine = Engine::get();
    let d = discovery(engine);
    let url = "http://127.0.0.1:{port}/health";
    let watched = Container::start(
        engine,
        "lbl-on",
        d.spec(Spec {
            init: true,
            labels: labels(&[("healwatch.url", url), ("healwatch.expect_body", "ok")]),
            ..Spec::default()
        }),
    );
    let opted_out = Container::start(
        engine,
        "lbl-off",
        d.spec(Spec {
            init: true,
            labels: labels(&[("healwatch.url", url), ("healwatch.enable", "false")]),
            ..Spec::default()
        }),
    );
    let bad = Container::start(
        engine,
        "lbl-bad",
        d.spec(Spec {
            init: true,
            labels: labels(&[("healwatch.url", url), ("healwatch.timeout", "soon")]),
            ..Spec::default()
        }),
    );
    for c in [&watched, &opted_out, &bad] {
        c.break_health();
    }
    let (watched_before, opted_out_before) = (watched.started_at(), opted_out.started_at());
    let dir = tempfile::tempdir().unwrap();
    let run = d.healwatch(engine).env("HEALWATCH_STATE", dir.path().join("s.json")).args(QUICK).arg("--discover").run();
    run.expect_code(1);
    let t = run.target(&watched.name);
    assert_eq!((t["outcome"].as_str(), t["recovered"].as_bool()), (Some("restarted"), Some(true)), "{run}");
    assert_ne!(watched.started_at(), watched_before);
    let invalid = run.target(&bad.name);
    assert_eq!(invalid["outcome"], "invalid");
    assert!(invalid["error"].as_str().unwrap().contains("healwatch.timeout"), "{run}");
    let line = run.status_line();
    assert!(
        line["targets"].as_array().unwrap().iter().all(|t| t["name"] != opted_out.name.as_str()),
        "opted out\n{run}"
    );
    assert_eq!(opted_out.started_at(), opted_out_before);
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn a_config_entry_wins_over_labels() {
    let engine = Engine::get();
    let d = discovery(engine);
    // The label points at a port nothing listens on; the config's URL is the real one.
    let app = Container::start(
        engine,
        "lbl-config",
        d.spec(Spec { init: true, labels: labels(&[("healwatch.url", "http://127.0.0.1:1/none")]), ..Spec::default() }),
    );
    let run = d.healwatch(engine).args(QUICK).args(["--discover", "-t", &app.target()]).run();
    run.expect_code(0);
    let line = run.status_line();
    let entries: Vec<&serde_json::Value> =
        line["targets"].as_array().unwrap().iter().filter(|t| t["container"] == app.name.as_str()).collect();
    assert_eq!(entries.len(), 1, "{run}");
    assert_eq!(
        (entries[0]["outcome"].as_str(), entries[0]["url"].as_str()),
        (Some("healthy"), Some(app.url().as_str()))
    );
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn unhealthy_healthcheck_is_healed_once_not_twice() {
    let engine = Engine::get();
    let d = discovery(engine);
    let sick = Container::start(
        engine,
        "hc-sick",
        d.spec(Spec {
            init: true,
            healthcheck: true,
            labels: labels(&[("healwatch.enable", "true")]),
            ..Spec::default()
        }),
    );
    wait_for_health(&sick, "healthy");
    sick.break_health();
    wait_for_health(&sick, "unhealthy");
    let before = sick.started_at();
    let dir = tempfile::tempdir().unwrap();
    let pass = || {
        d.healwatch(engine)
            .env("HEALWATCH_STATE", dir.path().join("s.json"))
            .args(QUICK)
            .args(["--unhealthy", "label"])
            .run()
    };
    let first = pass();
    first.expect_code(0);
    let t = first.target(&sick.name);
    assert_eq!(
        (t["outcome"].as_str(), t["url"].as_str(), t["recovered"].as_bool()),
        (Some("restarted"), Some("docker:healthcheck"), Some(true)),
        "{first}"
    );
    assert!(t["error"].as_str().unwrap().starts_with("docker health unhealthy"), "{first}");
    let restarted_at = sick.started_at();
    assert_ne!(restarted_at, before);
    let second = pass();
    second.expect_code(0);
    assert_eq!(second.target(&sick.name)["outcome"], "healthy", "{second}");
    assert_eq!(sick.started_at(), restarted_at, "healed once, not twice");
}

/// Docker's probe times out (its 1 s is too short for a check that takes 2 s, as on a
/// busy host): Docker says unhealthy, but healwatch runs the same command, given the
/// target's decide_within, before it acts. It passes, so nothing is restarted, and the
/// disagreement is in the status line and the metrics.
#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn dockers_unhealthy_is_confirmed_before_anything_is_restarted() {
    let engine = Engine::get();
    let d = discovery(engine);
    let name = format!("hw-hc-slow-{}", std::process::id());
    let port = crate::util::free_port().to_string();
    let docker = |args: &[&str]| engine.docker_on(&d.host, args);
    let _ = docker(&["rm", "-f", &name]);
    let health = ["--health-cmd", "sleep 2; test -f /www/health", "--health-timeout", "1s", "--health-interval", "1s"];
    let run = [
        &[
            "run",
            "-d",
            "--pull",
            "never",
            "--init",
            "--name",
            &name,
            "--network",
            "host",
            "--label",
            "healwatch.enable=true",
        ][..],
        &health[..],
        &["--health-retries", "1", &engine.image, "/bin/serve", &port][..],
    ]
    .concat();
    let out = docker(&run);
    assert!(out.success(), "{out:?}");
    struct Remove<'a>(Box<dyn Fn() + 'a>);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            (self.0)();
        }
    }
    let _remove = Remove(Box::new(|| drop(docker(&["rm", "-f", &name]))));
    crate::util::eventually(Duration::from_secs(20), "Docker saying unhealthy", || {
        let status = docker(&["inspect", "--format", "{{.State.Health.Status}}", &name]).stdout.trim().to_string();
        if status == "unhealthy" { Ok(()) } else { Err(status) }
    });
    let started = docker(&["inspect", "--format", "{{.State.StartedAt}}", &name]).stdout;
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("m.prom");
    let run = d
        .healwatch(engine)
        .env("HEALWATCH_STATE", dir.path().join("s.json"))
        .args(["--unhealthy", "label", "--timeout", "5s", "--metrics"])
        .arg(&metrics)
        .run();
    run.expect_code(0);
    let t = run.target(&name);
    assert_eq!((t["outcome"].as_str(), t["docker_said"].as_str()), (Some("healthy"), Some("unhealthy")), "{run}");
    assert_eq!(docker(&["inspect", "--format", "{{.State.StartedAt}}", &name]).stdout, started, "not restarted");
    let text = std::fs::read_to_string(&metrics).unwrap();
    let prefix = format!("healwatch_target_docker_disagreed{{target=\"{name}\"");
    assert!(text.lines().any(|l| l.starts_with(&prefix) && l.ends_with(" 1")), "{text}");
    // Given the probe's own 1 s to decide in, healwatch agrees with Docker and restarts it.
    let run = d
        .healwatch(engine)
        .env("HEALWATCH_STATE", dir.path().join("s.json"))
        .args(["--unhealthy", "label", "--timeout", "1s", "--decide-within", "1s"])
        .args(QUICK)
        .run();
    assert_eq!(run.target(&name)["outcome"], "restarted", "{run}");
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn unhealthy_all_takes_unlabelled_containers() {
    let engine = Engine::get();
    let d = discovery(engine);
    let sick = Container::start(engine, "hc-all", d.spec(Spec { init: true, healthcheck: true, ..Spec::default() }));
    wait_for_health(&sick, "healthy");
    sick.break_health();
    wait_for_health(&sick, "unhealthy");
    let label_only = d.healwatch(engine).args(QUICK).args(["--dry-run", "--unhealthy", "label"]).run();
    assert!(
        label_only.status_line()["targets"].as_array().unwrap().iter().all(|t| t["name"] != sick.name.as_str()),
        "{label_only}"
    );
    let all = d.healwatch(engine).args(QUICK).args(["--unhealthy", "all"]).run();
    assert_eq!(all.target(&sick.name)["outcome"], "restarted", "{all}");
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn restart_with_restarts_dependents_after_the_target_in_order() {
    let engine = Engine::get();
    let vpn = Container::start(engine, "rw-vpn", Spec { init: true, ..Spec::default() });
    let first = Container::start(engine, "rw-first", Spec { init: true, ..Spec::default() });
    let second = Container::start(engine, "rw-second", Spec { init: true, ..Spec::default() });
    vpn.break_health();
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[[target]]\nname = \"vpn\"\ncontainer = \"{}\"\nurl = \"{}\"\nrestart_with = [\"{}\", \"{}\"]\n",
            vpn.name,
            vpn.url(),
            first.name,
            second.name
        ),
    );
    let run = engine.healwatch().args(QUICK).arg("-c").arg(&config).run();
    run.expect_code(0);
    assert_eq!(run.target("vpn")["outcome"], "restarted", "{run}");
    let (a, b, c) = (vpn.started_at(), first.started_at(), second.started_at());
    assert!(a < b && b < c, "restart order vpn < first < second: {a:?} {b:?} {c:?}");
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn a_compose_service_restarts_every_replica() {
    let engine = Engine::get();
    let project = format!("shop{}", std::process::id());
    let compose = labels(&[("com.docker.compose.project", &project), ("com.docker.compose.service", "web")]);
    let one = Container::start(engine, "cmp-web-1", Spec { init: true, labels: compose.clone(), ..Spec::default() });
    let two = Container::start(engine, "cmp-web-2", Spec { init: true, labels: compose, ..Spec::default() });
    let other = Container::start(
        engine,
        "cmp-db-1",
        Spec {
            init: true,
            labels: labels(&[("com.docker.compose.project", &project), ("com.docker.compose.service", "db")]),
            ..Spec::default()
        },
    );
    one.break_health();
    let (one_before, two_before, other_before) = (one.started_at(), two.started_at(), other.started_at());
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[[target]]\nname = \"web\"\ncompose_project = \"{project}\"\ncompose_service = \"web\"\nurl = \"{}\"\n",
            one.url()
        ),
    );
    let run = engine.healwatch().args(QUICK).arg("-c").arg(&config).run();
    run.expect_code(0);
    let t = run.target("web");
    assert_eq!(
        (t["outcome"].as_str(), t["container"].as_str()),
        (Some("restarted"), Some(format!("{project}/web").as_str())),
        "{run}"
    );
    assert_ne!(one.started_at(), one_before);
    assert_ne!(two.started_at(), two_before, "every replica");
    assert_eq!(other.started_at(), other_before, "not another service");
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn each_action_does_what_it_says() {
    let engine = Engine::get();
    let receiver = Server::start(Behaviour::Fixed(200, "ok"));
    let stop = Container::start(engine, "act-stop", Spec { init: true, ..Spec::default() });
    let kill = Container::start(engine, "act-kill", Spec { init: true, ..Spec::default() });
    let notify = Container::start(engine, "act-notify", Spec { init: true, ..Spec::default() });
    for c in [&stop, &kill, &notify] {
        c.break_health();
    }
    let notify_before = notify.started_at();
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!("[defaults]\nnotify_url = \"{}\"\n", receiver.url("/hook"));
    for (c, action) in [(&stop, "stop"), (&kill, "kill"), (&notify, "notify")] {
        text += &format!(
            "[[target]]\nname = \"{action}\"\ncontainer = \"{}\"\nurl = \"{}\"\naction = \"{action}\"\n",
            c.name,
            c.url()
        );
    }
    let config = write_file(dir.path(), "c.toml", &text);
    let run = engine.healwatch().args(QUICK).arg("-c").arg(&config).run();
    run.expect_code(1);
    // docker-init (--init) exits 128 + the signal that ended its child: SIGTERM from
    // `docker stop` (httpd takes it, not being PID 1), SIGKILL from `docker kill`.
    for (name, c, code) in [("stop", &stop, 143), ("kill", &kill, 137)] {
        let t = run.target(name);
        assert_eq!((t["outcome"].as_str(), t["action"].as_str()), (Some("acted"), Some(name)), "{run}");
        assert_eq!(c.inspect("{{.State.Status}} {{.State.ExitCode}}"), format!("exited {code}"), "{name}");
    }
    let n = run.target("notify");
    assert_eq!(n["outcome"], "unhealthy", "{run}");
    assert_eq!(notify.started_at(), notify_before, "notify touches nothing");
    assert_eq!(receiver.request_count(), 1, "the notification still fires\n{run}");
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn ignore_stopped_leaves_an_operator_stop_alone() {
    let engine = Engine::get();
    let app =
        Container::start(engine, "stopped", Spec { init: true, restart: Some("unless-stopped"), ..Spec::default() });
    app.docker(&["stop", "-t", "1"]);
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[[target]]\nname = \"app\"\ncontainer = \"{}\"\nurl = \"{}\"\nignore_stopped = true\n",
            app.name,
            app.url()
        ),
    );
    let run = engine.healwatch().args(QUICK).arg("-c").arg(&config).run();
    run.expect_code(0);
    assert_eq!(run.target("app")["outcome"], "stopped", "{run}");
    assert_eq!(app.inspect("{{.State.Status}}"), "exited");
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn one_pass_heals_across_two_engines_and_isolates_a_dead_one() {
    let engine = Engine::get();
    let second = engine.second_host();
    let here = Container::start(engine, "host-one", Spec { init: true, ..Spec::default() });
    let there =
        Container::start(engine, "host-two", Spec { init: true, host: Some(second.clone()), ..Spec::default() });
    here.break_health();
    there.break_health();
    let (here_before, there_before) = (here.started_at(), there.started_at());
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[[target]]\nname = \"one\"\ncontainer = \"{}\"\nurl = \"{}\"\n\
             [[target]]\nname = \"two\"\ncontainer = \"{}\"\nurl = \"{}\"\ndocker_host = \"{second}\"\n\
             [[target]]\nname = \"gone\"\ncontainer = \"{}\"\nurl = \"{}\"\ndocker_host = \"unix:///nonexistent/healwatch.sock\"\n",
            here.name,
            here.url(),
            there.name,
            there.url(),
            there.name,
            there.url().replace("/health", "/missing")
        ),
    );
    let run = engine.healwatch().args(QUICK).arg("-c").arg(&config).run();
    run.expect_code(1);
    assert_eq!(run.target("one")["recovered"], true, "{run}");
    assert_eq!(run.target("two")["recovered"], true, "{run}");
    let gone = run.target("gone");
    assert_eq!(gone["outcome"], "engine_down", "{run}");
    assert!(gone["error"].as_str().unwrap().contains("Cannot connect"), "{run}");
    let engines = run.status_line()["engines"].clone();
    assert!(engines.as_array().unwrap().iter().any(|e| e["up"] == false), "{run}");
    assert_ne!(here.started_at(), here_before);
    assert_ne!(there.started_at(), there_before, "restarted on the second engine");
}

#[track_caller]
pub(crate) fn wait_for_health(c: &Container, status: &str) {
    crate::util::eventually(Duration::from_secs(15), &format!("{} becoming {status}", c.name), || {
        let last = c.inspect("{{.State.Health.Status}}");
        if last == status { Ok(()) } else { Err(last) }
    });
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn a_labelled_container_that_exited_is_started_and_a_paused_one_never_reads_healthy() {
    let engine = Engine::get();
    let d = discovery(engine);
    let labelled = labels(&[("healwatch.url", "http://127.0.0.1:{port}/health")]);
    let exited =
        Container::start(engine, "lbl-exited", d.spec(Spec { init: true, labels: labelled, ..Spec::default() }));
    let paused = Container::start(engine, "tcp-paused", d.spec(Spec { init: true, ..Spec::default() }));
    // A real crash with restart policy `no`: it stays exited, and drops out of `docker ps`.
    let pid = exited.inspect("{{.State.Pid}}");
    assert!(std::process::Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
    exited.wait_for_inspect("{{.State.Status}}", "exited", Duration::from_secs(10));
    // A frozen process: the kernel still completes its TCP handshake.
    assert!(paused.docker(&["pause"]).success());
    let tcp = format!("{}=tcp://127.0.0.1:{}", paused.name, paused.port);
    let dir = tempfile::tempdir().unwrap();
    let run = d
        .healwatch(engine)
        .env("HEALWATCH_STATE", dir.path().join("s.json"))
        .args(QUICK)
        .args(["--discover", "-t", &tcp])
        .run();
    run.expect_code(0);
    let started = run.target(&exited.name);
    assert_eq!(
        (started["outcome"].as_str(), started["error"].as_str(), started["recovered"].as_bool()),
        (Some("restarted"), Some(format!("container {} exited (137)", exited.name).as_str()), Some(true)),
        "{run}"
    );
    let woken = run.target(&paused.name);
    assert_eq!((woken["outcome"].as_str(), woken["attempts"].as_u64()), (Some("restarted"), Some(0)), "{run}");
    assert_eq!(woken["error"], format!("container {} is paused and answers nothing", paused.name), "{run}");
    for c in [&exited, &paused] {
        assert_eq!(c.inspect("{{.State.Status}}"), "running", "{}", c.name);
    }
}

/// A label's `restart_with` names a sibling of its compose project that carries no
/// healwatch label: the pass's listing keeps only what can matter, so the sibling comes
/// from a second listing by the API's label filter, and is restarted after its target.
#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn a_labels_restart_with_reaches_its_projects_sibling_through_the_apis_filter() {
    let engine = Engine::get();
    let d = discovery(engine);
    // Compose names a project's containers PROJECT-…: these are hw-….
    let db = Container::start(
        engine,
        "rw-db",
        d.spec(Spec { init: true, labels: labels(&[("com.docker.compose.project", "hw")]), ..Spec::default() }),
    );
    let api = Container::start(
        engine,
        "rw-api",
        d.spec(Spec {
            init: true,
            labels: labels(&[
                ("com.docker.compose.project", "hw"),
                ("healwatch.url", "http://127.0.0.1:{port}/health"),
                ("healwatch.restart_with", &db.name),
            ]),
            ..Spec::default()
        }),
    );
    let before = db.started_at();
    api.break_health();
    let run = d.healwatch(engine).args(["--discover"]).args(QUICK).run();
    assert_eq!(run.target(&api.name)["outcome"], "restarted", "{run}");
    crate::engine::restarted(&db, before, Duration::from_secs(20));
}
