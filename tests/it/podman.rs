//! End-to-end on Podman: the real binary against Debian's Podman through its
//! Docker-compatible socket, rootful and rootless (as an unprivileged user), each a
//! private `podman system service` that scripts/podman.sh starts. `#[ignore]`d:
//! scripts/test.sh runs them.

use std::time::Duration;

use serde_json::Value;

use crate::engine::{Container, Engine, Spec, Turn};
use crate::util::{Healwatch, Run, eventually, write_file};

/// One attempt, a short stop timeout, a bounded recovery wait.
const QUICK: [&str; 6] = ["--retries", "0", "--restart-timeout", "1s", "--recovery-timeout", "20s"];

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/test.sh, which starts Podman"))
}

/// The rootful service's socket, as `unix://PATH`.
fn rootful() -> String {
    var("HEALWATCH_PODMAN_HOST")
}

/// A container on `host` whose `healwatch.url` label names its health URL.
fn labelled(host: &str) -> Spec {
    let labels = vec![("healwatch.url".to_string(), "http://127.0.0.1:{port}/health".to_string())];
    Spec { host: Some(host.to_string()), init: true, labels, ..Spec::default() }
}

/// The status line's entry for `name`, with its outcome and error.
fn outcome(run: &Run, name: &str) -> (String, String) {
    let t = run.target(name);
    (t["outcome"].as_str().unwrap_or_default().to_string(), t["error"].as_str().unwrap_or_default().to_string())
}

/// Whether this host has only cgroup v1 (no unified hierarchy at /sys/fs/cgroup).
fn cgroup_v1_only() -> bool {
    !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// `podman --remote` on the service at `host`: what has no docker command (running a
/// HEALTHCHECK now; without systemd, Podman 4.3 schedules none itself).
fn podman(host: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new("timeout")
        .args(["60", "podman", "--remote", "--url", host])
        .args(args)
        .output()
        .expect("running podman")
}

#[test]
#[ignore = "needs Podman: scripts/test.sh"]
fn rootful_podman_broken_and_paused_containers_found_by_label_are_healed() {
    let engine = Engine::get();
    let _turn = Turn::take();
    let host = rootful();
    let broken = Container::start(engine, "podman-broken", labelled(&host));
    let paused = Container::start(engine, "podman-paused", labelled(&host));
    let before = (broken.started_at(), paused.started_at());
    broken.break_health();
    assert!(paused.docker(&["pause"]).success());

    let run = engine.healwatch().env("DOCKER_HOST", &host).args(QUICK).arg("--discover").run();
    run.expect_code(0);
    assert_eq!(outcome(&run, &broken.name), ("restarted".into(), "status 404 not in 200-399".into()), "{run}");
    let frozen = format!("container {} is paused and answers nothing", paused.name);
    assert_eq!(outcome(&run, &paused.name), ("restarted".into(), frozen), "{run}");
    for app in [&broken, &paused] {
        assert_eq!(run.target(&app.name)["recovered"], true, "{run}");
        assert_eq!(app.inspect("{{.State.Status}}"), "running");
    }
    assert_ne!((broken.started_at(), paused.started_at()), before);
    assert_eq!(run.status_line()["engines"][0]["up"], true, "{run}");
}

#[test]
#[ignore = "needs Podman: scripts/test.sh"]
fn rootful_podman_healthcheck_exec_and_log_checks_heal() {
    let engine = Engine::get();
    let _turn = Turn::take();
    let host = rootful();
    // Docker's HEALTHCHECK as Podman keeps it: run here by `podman healthcheck run`.
    let labels = vec![("healwatch.enable".to_string(), "true".to_string())];
    let spec = Spec { host: Some(host.clone()), init: true, healthcheck: true, labels, ..Spec::default() };
    let checked = Container::start(engine, "podman-hc", spec);
    checked.break_health();
    let ran = podman(&host, &["healthcheck", "run", &checked.name]);
    assert!(!ran.status.success(), "the HEALTHCHECK should fail: {ran:?}");
    checked.wait_for_inspect("{{.State.Health.Status}}", "unhealthy", Duration::from_secs(10));
    // After the restart, the health check must run again for the recovery to show: as
    // Podman's systemd timer would, every half second while the pass waits.
    let pass = engine.healwatch().env("DOCKER_HOST", &host).args(QUICK).args(["--unhealthy", "label"]).spawn();
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(500));
        if podman(&host, &["healthcheck", "run", &checked.name]).status.success() {
            break;
        }
    }
    let run = pass.wait(Duration::from_secs(30));
    run.expect_code(0);
    let (said, why) = outcome(&run, &checked.name);
    assert_eq!(said, "restarted", "{run}");
    // healwatch ran the HEALTHCHECK's command itself (through exec) before believing it.
    assert!(why.contains("docker health unhealthy") && why.contains("failed too"), "{run}");

    // A command in the container, and a line in its logs.
    let by_exec =
        Container::start(engine, "podman-exec", Spec { host: Some(host.clone()), init: true, ..Spec::default() });
    let by_logs =
        Container::start(engine, "podman-logs", Spec { host: Some(host.clone()), init: true, ..Spec::default() });
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[[target]]\nname = \"{e}\"\nexec = [\"test\", \"-f\", \"/www/health\"]\n\n\
             [[target]]\nname = \"{l}\"\nurl = \"{u}\"\nlog_pattern = \"FATAL\"\n",
            e = by_exec.name,
            l = by_logs.name,
            u = by_logs.url()
        ),
    );
    let first = engine.healwatch().env("DOCKER_HOST", &host).args(QUICK).arg("-c").arg(&config).run();
    first.expect_code(0);
    by_exec.break_health();
    let said =
        engine.docker_on(&host, &["exec", &by_logs.name, "sh", "-c", "echo 'FATAL: out of memory' > /proc/1/fd/1"]);
    assert!(said.success(), "{said:?}");
    let run = engine.healwatch().env("DOCKER_HOST", &host).args(QUICK).arg("-c").arg(&config).run();
    run.expect_code(0);
    assert_eq!(outcome(&run, &by_exec.name).0, "restarted", "{run}");
    assert_eq!(outcome(&run, &by_logs.name), ("restarted".into(), "log: FATAL: out of memory".into()), "{run}");
}

#[test]
#[ignore = "needs Podman: scripts/test.sh"]
fn rootful_podman_watch_hears_a_pause_and_drill_and_audit_work() {
    let engine = Engine::get();
    let host = rootful();
    let app =
        Container::start(engine, "podman-watch", Spec { host: Some(host.clone()), init: true, ..Spec::default() });
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let watch = engine
        .healwatch()
        .env("DOCKER_HOST", &host)
        .args(["--watch", "12s", "--timeout", "30s", "--state"])
        .arg(&state)
        .args(["-t", &app.target()])
        .spawn();
    eventually(Duration::from_secs(10), "the first pass remembered", || crate::util::ready(state.exists()));
    assert!(app.docker(&["pause"]).success());
    let run = watch.wait(Duration::from_secs(60));
    run.expect_code(0);
    let lines: Vec<Value> = run.stdout().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "the first pass, and the one the watch started\n{run}");
    let healed = &lines[1]["targets"][0];
    // Podman's pause event (or its listing) decided it, not a look's 30 s timeout.
    assert_eq!(healed["error"], format!("container {} is paused and answers nothing", app.name), "{run}");
    assert_eq!(healed["recovered"], true, "{run}");

    let audit = engine.healwatch().env("DOCKER_HOST", &host).args(["audit", "--json"]).run();
    assert!(audit.stdout().contains(&app.name), "{audit}");
    let drill = engine
        .healwatch()
        .env("DOCKER_HOST", &host)
        .args(["drill", "--heal", "--wait", "30s", "-t", &app.target(), &app.name])
        .run();
    drill.expect_code(0);
    let report: Value = serde_json::from_str(drill.stdout().trim()).unwrap();
    assert_eq!(report["recovered_by"], "healwatch", "{drill}");
    assert!(report["time_to_healthy_ms"].as_u64().is_some(), "{drill}");
}

#[test]
#[ignore = "needs Podman: scripts/test.sh"]
fn rootless_podman_heals_as_its_user_and_says_what_podman_cannot_do() {
    let engine = Engine::get();
    let _turn = Turn::take();
    let (host, user) = (var("HEALWATCH_PODMAN_USER_HOST"), var("HEALWATCH_PODMAN_USER"));
    let broken = Container::start(engine, "podman-user-broken", labelled(&host));
    let hung = Container::start(engine, "podman-user-hung", labelled(&host));
    broken.break_health();
    // A hung service: its process stopped, as a deadlock leaves it.
    let init = hung.inspect("{{.State.Pid}}");
    let children = std::fs::read_to_string(format!("/proc/{init}/task/{init}/children")).unwrap();
    let httpd = children.split_whitespace().next().expect("the init's child, httpd");
    assert!(std::process::Command::new("kill").args(["-STOP", httpd]).status().unwrap().success());

    // As the user, with the user's socket: no root anywhere.
    let as_user = || Healwatch::as_user(&user).env("DOCKER_HOST", &host);
    let run = as_user().args(["--timeout", "1s", "--decide-within", "2s"]).args(&QUICK[2..]).arg("--discover").run();
    run.expect_code(0);
    assert_eq!(outcome(&run, &broken.name).0, "restarted", "{run}");
    let (said, why) = outcome(&run, &hung.name);
    assert_eq!(said, "restarted", "{run}");
    assert!(why.starts_with("timeout after"), "{run}");
    for app in [&broken, &hung] {
        assert_eq!(run.target(&app.name)["recovered"], true, "{run}");
    }

    // audit lists the user's containers; drill kills a process only when the container's
    // cgroup names it, which rootless Podman on cgroup v1 does not give.
    let audit = as_user().args(["audit", "--json"]).run();
    assert!(audit.stdout().contains(&broken.name) && audit.stdout().contains(&hung.name), "{audit}");
    let drill = as_user().args(["drill", "--heal", "--wait", "30s", "-t", &broken.target(), &broken.name]).run();
    let no_cgroup = cgroup_v1_only();
    if no_cgroup {
        drill.expect_code(2);
        assert!(drill.stderr().contains("rootless Podman on cgroup v1"), "{drill}");
        assert_eq!(broken.inspect("{{.State.Running}}"), "true", "drill killed nothing");
    } else {
        drill.expect_code(0);
    }

    // Rootless Podman on cgroup v1 has no cgroup to freeze: it refuses to pause, so there
    // is no paused container to heal. Where it can (cgroup v2), the rootful test covers it.
    let pause = engine.docker_on(&host, &["pause", &hung.name]);
    if !pause.success() {
        eprintln!("rootless podman cannot pause here: {}", pause.stderr);
        assert!(pause.stderr.contains("cgroup"), "{pause:?}");
    }
}

/// The lines of the docs' "Rootless, without a systemd user session" that a person
/// copies: the containers.conf block, and the two crontab lines.
fn sessionless_recipe() -> (String, String, String) {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/containers.md")).unwrap();
    let section = docs.split("### Rootless, without a systemd user session").nth(1).expect("the docs' section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let lines: Vec<&str> = section.lines().map(str::trim).collect();
    let conf: Vec<&str> =
        lines.iter().skip_while(|l| **l != "[engine]").take_while(|l| !l.is_empty()).copied().collect();
    let conf = conf.join("\n");
    let line = |start: &str| lines.iter().find(|l| l.starts_with(start)).map(|l| l.to_string()).expect(start);
    (conf, line("@reboot "), line("* * * * * "))
}

/// `line`'s command as cron runs it for `user`: `sh -c`, cron's environment (the user's
/// HOME and names, PATH=/usr/bin:/bin), in a process group of its own.
fn as_cron(user: &str, home: &std::path::Path, command: &str) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new("runuser");
    cmd.args(["-u", user, "--", "env", "-i"])
        .arg(format!("HOME={}", home.display()))
        .args([format!("LOGNAME={user}"), format!("USER={user}"), "SHELL=/bin/sh".into(), "PATH=/usr/bin:/bin".into()])
        .args(["/bin/sh", "-c", command])
        .process_group(0);
    cmd
}

/// Ends `child` and its process group (the service `exec`ed by the @reboot line).
fn end_group(child: &mut std::process::Child) {
    let group = format!("-{}", child.id());
    let _ = std::process::Command::new("kill").args(["-TERM", "--", &group]).status();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while child.try_wait().ok().flatten().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::process::Command::new("kill").args(["-KILL", "--", &group]).status();
    let _ = child.wait();
}

#[test]
#[ignore = "needs Podman: scripts/test.sh"]
fn rootless_podman_without_a_session_heals_as_the_docs_say() {
    let engine = Engine::get();
    let _turn = Turn::take();
    let user = var("HEALWATCH_PODMAN_USER");
    // A fresh home of the user's, beside its other Podman's (a folder only it reaches):
    // no /run/user/UID, no systemd session, nothing but what the docs say to make.
    let runtime = std::path::PathBuf::from(var("HEALWATCH_PODMAN_USER_RUNTIME"));
    let home = runtime.parent().unwrap().join(format!("docs-home-{}", std::process::id()));
    let (conf, reboot, every_minute) = sessionless_recipe();
    let config = home.join(".config/containers");
    std::fs::create_dir_all(&config).unwrap();
    // Step 1 as written; then what this machine needs beside it: nothing pulled (every
    // registry blocked), vfs storage and runc, limits the host gives, the host's network.
    std::fs::write(
        config.join("containers.conf"),
        format!(
            "{conf}\nruntime = \"runc\"\n[containers]\nnetns = \"host\"\ndefault_ulimits = [\"nofile=4096:4096\", \"nproc=4096:4096\"]\n"
        ),
    )
    .unwrap();
    std::fs::write(
        config.join("registries.conf"),
        "unqualified-search-registries = []\n[[registry]]\nlocation = \"docker.io\"\nblocked = true\n",
    )
    .unwrap();
    std::fs::write(config.join("storage.conf"), "[storage]\ndriver = \"vfs\"\n").unwrap();
    assert!(
        std::process::Command::new("chown")
            .args(["-R", &format!("{user}:"), &home.to_string_lossy()])
            .status()
            .unwrap()
            .success()
    );

    // Step 3's @reboot line, as cron runs it: the service on $HOME/.run.
    let mut service = as_cron(&user, &home, reboot.trim_start_matches("@reboot ")).spawn().unwrap();
    let socket = home.join(".run/podman/podman.sock");
    let host = format!("unix://{}", socket.display());
    let up = std::panic::catch_unwind(|| {
        eventually(Duration::from_secs(30), "the @reboot line's socket answers", || {
            crate::util::ready(engine.docker_on(&host, &["version"]).success())
        })
    });
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        up.unwrap();
        // The test image, into this user's storage.
        let saved = home.join("image.tar");
        let save = engine
            .docker_on(&var("HEALWATCH_PODMAN_USER_HOST"), &["save", "-o", &saved.to_string_lossy(), &engine.image]);
        assert!(save.success(), "{save:?}");
        let load = engine.docker_on(&host, &["load", "-i", &saved.to_string_lossy()]);
        assert!(load.success(), "{load:?}");
        let app = Container::start(engine, "podman-sessionless", labelled(&host));
        // Step 3's other line, as cron runs it (the binary under test for /usr/bin/healwatch).
        let healwatch = assert_cmd::cargo::cargo_bin!("healwatch");
        let line =
            every_minute.trim_start_matches("* * * * * ").replace("/usr/bin/healwatch", &healwatch.to_string_lossy());
        let mut watch = as_cron(&user, &home, &line).stdout(std::process::Stdio::piped()).spawn().unwrap();
        // Its lines as they come: a pass prints once it has confirmed the recovery, a
        // moment after the app answers again.
        let said = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let reader = {
            let (said, mut stdout) = (said.clone(), watch.stdout.take().unwrap());
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = std::io::Read::read(&mut stdout, &mut chunk) {
                    said.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk[..n]));
                }
            })
        };
        std::thread::sleep(Duration::from_secs(3));
        app.break_health();
        let broken = std::time::Instant::now();
        app.wait_for_status(200, Duration::from_secs(15));
        let healed = broken.elapsed();
        let restarted = format!("\"name\":\"{}\"", app.name);
        eventually(Duration::from_secs(20), "the watch's line saying it restarted the app", || {
            let out = said.lock().unwrap().clone();
            crate::util::ready(out.contains(&restarted) && out.contains("\"outcome\":\"restarted\""))
        });
        end_group(&mut watch);
        let _ = reader.join();
        let out = said.lock().unwrap().clone();
        assert!(healed < Duration::from_secs(5), "healed {healed:?} after the break\n{out}");
        eprintln!("rootless Podman without a session, as the docs say: healed {healed:?} after the break");
    }));
    end_group(&mut service);
    let _ = std::fs::remove_dir_all(&home);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
