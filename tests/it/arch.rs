//! End-to-end: the arm64 and armv7 builds (scripts/package.sh --binaries, static, from this
//! x86_64 machine) run under Debian's qemu-user-static, straight (no binfmt handler is
//! registered on the host), and make a real pass against the private engine's socket:
//! each heals a broken container, and the state it writes is read by the x86_64 build
//! (the state format is architecture-neutral). `#[ignore]`d: scripts/test.sh builds them
//! and unpacks qemu (HEALWATCH_CROSS: `ARCH=BINARY=QEMU` pairs, comma-separated).

use std::path::PathBuf;

use crate::engine::{Container, Engine, Spec};
use crate::util::Healwatch;

/// The foreign builds scripts/test.sh made: (arch, binary, qemu-user).
fn builds() -> Vec<(String, PathBuf, PathBuf)> {
    let all = std::env::var("HEALWATCH_CROSS").expect("HEALWATCH_CROSS is not set: run scripts/test.sh");
    all.split(',')
        .map(|one| {
            let mut parts = one.splitn(3, '=');
            let (arch, binary, qemu) = (parts.next(), parts.next(), parts.next());
            match (arch, binary, qemu) {
                (Some(a), Some(b), Some(q)) => (a.to_string(), PathBuf::from(b), PathBuf::from(q)),
                _ => panic!("HEALWATCH_CROSS: '{one}' is not ARCH=BINARY=QEMU"),
            }
        })
        .collect()
}

#[test]
#[ignore = "needs a Docker engine, the ARM builds and qemu-user: scripts/test.sh"]
fn the_arm_builds_heal_a_container_and_the_x86_64_build_reads_their_state() {
    let engine = Engine::get();
    let builds = builds();
    assert_eq!(builds.len(), 2, "arm64 and armv7: {builds:?}");
    for (arch, binary, qemu) in builds {
        let file = std::process::Command::new("file").arg(&binary).output().unwrap();
        let said = String::from_utf8_lossy(&file.stdout).into_owned();
        let machine = if arch == "arm64" { "ARM aarch64" } else { "ARM, EABI5" };
        assert!(said.contains(machine) && said.contains("statically linked"), "{arch}: {said}");
        let version = Healwatch::built_for(&qemu, &binary).arg("version").run();
        version.expect_code(0);
        let app = Container::start(
            engine,
            &format!("arch-{arch}"),
            Spec { init: true, restart: Some("unless-stopped"), ..Spec::default() },
        );
        app.break_health();
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        // The engine's socket through the API client: no docker CLI on its PATH.
        let run = Healwatch::built_for(&qemu, &binary)
            .env("DOCKER_HOST", &engine.host)
            .env("PATH", dir.path())
            .env("HEALWATCH_STATE", &state)
            .args(["-t", &app.target()])
            .run();
        run.expect_code(0);
        assert_eq!(run.target(&app.name)["outcome"], "restarted", "{arch}: {run}");
        assert_eq!(run.target(&app.name)["recovered"], true, "{arch}: {run}");
        app.wait_for_status(200, std::time::Duration::from_secs(10));
        // This machine's own build reads what the ARM build remembered.
        let status = Healwatch::new().env("HEALWATCH_STATE", &state).args(["status", "--json"]).run();
        status.expect_code(0);
        let line = status.status_line().to_string();
        assert!(line.contains(&app.name) && line.contains("restarted"), "{arch}: the x86_64 build read {line}");
        eprintln!("{arch} under qemu-user: healed {} in a pass of {} ms", app.name, run.status_line()["duration_ms"]);
    }
}
