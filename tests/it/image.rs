//! End-to-end: healwatch's own image (image/Dockerfile, built offline by scripts/image.sh)
//! as a sidecar on the private engine, with only the engine's socket mounted.
//! `#[ignore]`d: scripts/test.sh builds the image (HEALWATCH_IMAGE) and runs them.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::engine::{Container, Engine, Spec, Turn};
use crate::util::eventually;

/// The image scripts/test.sh built.
pub(crate) fn image() -> String {
    std::env::var("HEALWATCH_IMAGE").expect("HEALWATCH_IMAGE is not set: run scripts/test.sh, which builds the image")
}

/// A sidecar container and its state volume, removed when dropped.
struct Sidecar {
    engine: &'static Engine,
    /// The engine it runs on, whose socket it is given.
    host: String,
    name: String,
    volume: String,
}

/// Where a sidecar runs, and as whom.
#[derive(Debug, Clone, Copy)]
enum Runtime {
    Docker,
    /// Rootful Podman: its socket is root's, mode 0660 as its systemd unit makes it.
    Podman,
    /// Rootless Podman: the sidecar's user is the rootless user (`--userns keep-id`).
    PodmanRootless,
}

impl Runtime {
    fn host(self, engine: &Engine) -> String {
        let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/test.sh"));
        match self {
            Self::Docker => engine.host.clone(),
            Self::Podman => var("HEALWATCH_PODMAN_HOST"),
            Self::PodmanRootless => var("HEALWATCH_PODMAN_USER_HOST"),
        }
    }
}

impl Sidecar {
    /// Starts the image as the README's compose example does: non-root with the socket's
    /// group, read-only, no capabilities, state on a named volume, `unless-stopped`.
    /// `args` replace the image's command.
    fn start(engine: &'static Engine, runtime: Runtime, test: &str, args: &[&str]) -> Self {
        let host = runtime.host(engine);
        let name = format!("hw-{test}-{}", std::process::id());
        let volume = format!("{name}-state");
        let _ = engine.docker_on(&host, &["rm", "-f", &name]);
        let _ = engine.docker_on(&host, &["volume", "rm", "-f", &volume, &format!("{volume}-metrics")]);
        let socket = host.strip_prefix("unix://").expect("the test engine is a unix socket").to_string();
        let gid = std::fs::metadata(&socket).map(|m| std::os::unix::fs::MetadataExt::gid(&m)).unwrap().to_string();
        let mount = format!("{socket}:/var/run/docker.sock");
        let state = format!("{volume}:/var/lib/healwatch");
        let metrics = format!("{volume}-metrics:/metrics");
        let image = image();
        let mut run = vec!["run", "-d", "--pull", "never", "--name", &name, "--network", "host", "--read-only"];
        run.extend(["--cap-drop", "ALL"]);
        run.extend(["--security-opt", "no-new-privileges", "--group-add", &gid, "-v", &mount, "-v", &state]);
        run.extend(["-v", &metrics]);
        // The image's HEALTHCHECK, asked every second instead of every minute.
        run.extend(["--restart", "unless-stopped", "--health-interval", "1s", "--health-start-period", "0s"]);
        run.push(&image);
        run.extend(args);
        let out = match runtime {
            // The docker CLI takes no Podman user namespace: the sidecar's user is made the
            // rootless user itself (keep-id), so it owns the socket and its volumes.
            Runtime::PodmanRootless => {
                let run: Vec<&str> = run.into_iter().filter(|a| *a != "--group-add" && *a != gid).collect();
                let mut podman = vec!["timeout", "60", "podman", "--remote", "--url", &host];
                podman.extend(["run", "--userns", "keep-id:uid=65532,gid=65532"]);
                podman.extend(&run[1..]);
                crate::engine::run_bounded(&podman)
            }
            _ => engine.docker_on(&host, &run),
        };
        assert!(out.success(), "{runtime:?} {run:?}: {out:?}", run = args);
        Self { engine, host, name, volume }
    }

    fn docker(&self, args: &[&str]) -> crate::engine::CommandOutcome {
        self.engine.docker_on(&self.host, args)
    }

    fn inspect(&self, template: &str) -> String {
        let out = self.docker(&["inspect", "--format", template, &self.name]);
        assert!(out.success(), "inspect {}: {out:?}", self.name);
        out.stdout.trim().to_string()
    }

    /// `healwatch status --json` run inside the sidecar (no shell: the exec is the binary),
    /// or why not (between two of its runs, it is restarting).
    fn status(&self) -> Result<Value, String> {
        let out = self.docker(&["exec", &self.name, "/usr/bin/healwatch", "status", "--json"]);
        if !out.success() {
            return Err(format!("status in {}: {out:?}", self.name));
        }
        serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {}", out.stdout))
    }

    fn logs(&self) -> String {
        let out = self.docker(&["logs", &self.name]);
        format!("{}{}", out.stdout, out.stderr)
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.docker(&["rm", "-f", &self.name]);
        let _ = self.docker(&["volume", "rm", "-f", &self.volume, &format!("{}-metrics", self.volume)]);
    }
}

/// What `status --json` remembers of `target`.
fn remembered<'a>(status: &'a Value, target: &str) -> &'a Value {
    let rows = status["targets"].as_array().unwrap();
    rows.iter().find(|r| r["target"] == target).unwrap_or_else(|| panic!("no {target} in {status}"))
}

#[test]
#[ignore = "needs a Docker engine and the image: scripts/test.sh"]
fn the_image_holds_only_healwatch_and_runs_unprivileged() {
    let engine = Engine::get();
    let image = image();
    let out = engine.docker(&[
        "image",
        "inspect",
        "--format",
        "{{.Size}} {{.Config.User}} {{json .Config.Healthcheck.Test}}",
        &image,
    ]);
    assert!(out.success(), "{out:?}");
    let text = out.stdout.trim().to_string();
    let (size, rest) = text.split_once(' ').unwrap();
    let size: u64 = size.parse().unwrap();
    eprintln!("image {image}: {size} bytes");
    assert!(size < 10 << 20, "the image is {size} bytes, over 10 MiB");
    let want = r#"65532:65532 ["CMD","/usr/bin/healwatch","status","--max-age","10m"]"#;
    assert_eq!(rest, want);
    // No shell, nothing else to run.
    let shell = engine.docker(&[
        "run",
        "--rm",
        "--pull",
        "never",
        "--network",
        "none",
        "--entrypoint",
        "/bin/sh",
        &image,
        "-c",
        "true",
    ]);
    assert!(!shell.success(), "{shell:?}");
    let socket = engine.host.strip_prefix("unix://").unwrap();
    let mount = format!("{socket}:/var/run/docker.sock:ro");
    let version = engine.docker(&[
        "run",
        "--rm",
        "--pull",
        "never",
        "--network",
        "none",
        "--read-only",
        "-v",
        &mount,
        &image,
        "version",
    ]);
    assert!(version.success(), "{version:?}");
    assert!(version.stdout.contains("docker: none: the Engine API at unix:///var/run/docker.sock"), "{version:?}");
}

#[test]
#[ignore = "needs a Docker engine and the image: scripts/test.sh"]
fn a_read_only_state_volume_still_heals_and_turns_the_healthcheck_unhealthy() {
    let engine = Engine::get();
    let app = Container::start(engine, "image-ro", Spec { init: true, ..Spec::default() });
    let before = app.started_at();
    app.break_health();
    // The state volume, read-only: what a full or mis-mounted volume looks like.
    let volume = tempfile::tempdir().unwrap();
    let state = format!("{}:/var/lib/healwatch:ro", volume.path().display());
    let socket = engine.host.strip_prefix("unix://").unwrap();
    let gid = std::fs::metadata(socket).map(|m| std::os::unix::fs::MetadataExt::gid(&m)).unwrap().to_string();
    let mount = format!("{socket}:/var/run/docker.sock");
    let target = format!("{}={}", app.name, app.url());
    let image = image();
    let mut run = vec!["run", "--rm", "--pull", "never", "--network", "host", "--read-only"];
    run.extend(["--group-add", &gid, "-v", &mount, "-v", &state, &image]);
    let pass: Vec<&str> = run.iter().copied().chain(["--retries", "0", "-t", &target]).collect();
    let out = engine.docker(&pass);
    assert!(out.success(), "the pass heals, exit 0: {out:?}");
    let line: Value = serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    assert_eq!(line["targets"][0]["outcome"], "restarted", "{line}");
    assert!(line["warnings"].to_string().contains("this pass is not remembered"), "{line}");
    crate::engine::restarted(&app, before, Duration::from_secs(30));
    // Memory is off: the image's HEALTHCHECK command says so.
    let status: Vec<&str> = run.iter().copied().chain(["status", "--max-age", "10m"]).collect();
    let out = engine.docker(&status);
    assert_eq!(out.exit_code, Some(1), "{out:?}");
}

#[test]
#[ignore = "needs a Docker engine and the image: scripts/test.sh"]
fn the_sidecar_heals_keeps_its_state_across_its_own_restarts_and_stops_cleanly() {
    sidecar_scenario(Runtime::Docker, "docker");
}

#[test]
#[ignore = "needs Podman and the image: scripts/test.sh"]
fn the_sidecar_does_the_same_on_rootful_podman() {
    sidecar_scenario(Runtime::Podman, "podman");
}

#[test]
#[ignore = "needs Podman and the image: scripts/test.sh"]
fn the_sidecar_does_the_same_on_rootless_podman() {
    sidecar_scenario(Runtime::PodmanRootless, "podman-user");
}

/// The image beside two labelled services with only the socket mounted: it heals a
/// broken one and a frozen one (paused; SIGSTOPped where the runtime cannot pause),
/// keeps its memory across its own exit and restart, shares its metrics through a
/// volume, and ends on `docker stop` with nothing left behind.
fn sidecar_scenario(runtime: Runtime, label: &str) {
    let engine = Engine::get();
    let _turn = Turn::take();
    let host = runtime.host(engine);
    let labels = vec![("healwatch.url".to_string(), "http://127.0.0.1:{port}/health".to_string())];
    let spec = Spec { init: true, labels, host: Some(host.clone()), ..Spec::default() };
    let broken = Container::start(engine, &format!("{label}-image-broken"), spec.clone());
    let paused = Container::start(engine, &format!("{label}-image-frozen"), spec);
    // Watches of 6 s, so the test sees the sidecar exit and Docker start the next one.
    let quick = ["run", "--watch", "6s", "--discover", "--restart-timeout", "1s", "--recovery-timeout", "20s"];
    let quick = [&quick[..], &["--metrics", "/metrics/healwatch.prom"]].concat();
    let sidecar = Sidecar::start(engine, runtime, &format!("{label}-sidecar"), &quick);
    sidecar_is_healthy(&sidecar, runtime);

    let (broken_at, paused_at) = (broken.started_at(), paused.started_at());
    let started = Instant::now();
    break_for_sure(&broken);
    freeze(engine, &host, &paused, runtime);
    // Healed: started again (a frozen process answers again as soon as it is woken,
    // before its restart), then answering.
    crate::engine::restarted(&broken, broken_at, Duration::from_secs(30));
    broken.wait_for_status(200, Duration::from_secs(30));
    let healed_broken = started.elapsed();
    crate::engine::restarted(&paused, paused_at, Duration::from_secs(30));
    paused.wait_for_status(200, Duration::from_secs(30));
    let healed_paused = started.elapsed();
    eprintln!(
        "{label}: the sidecar healed a broken service in {healed_broken:?} and a frozen one in {healed_paused:?}"
    );

    // The watch ends, the container exits, Docker starts the next: the memory is kept.
    let cycles: u32 = eventually(Duration::from_secs(30), "the sidecar restarted by its policy", || {
        let count: u32 = sidecar.inspect("{{.RestartCount}}").parse().unwrap();
        if count >= 1 { Ok(count) } else { Err(format!("RestartCount {count}")) }
    });
    eventually(Duration::from_secs(20), "a pass of the restarted sidecar", || {
        let status = sidecar.status()?;
        let restarts = |t: &str| remembered(&status, t)["restarts_total"].as_u64();
        match (restarts(&broken.name), restarts(&paused.name)) {
            (Some(1), Some(1)) => Ok(()),
            other => Err(format!("restarts_total {other:?}: {status}")),
        }
    });
    eprintln!("{label}: the sidecar ran {} watches, {cycles} started by its restart policy", cycles + 1);
    eprintln!("{label}: gaps between a watch's exit and the next start: {:?}", gaps(&sidecar));

    // The metrics reach another container through the shared volume, readable by
    // node_exporter's user (nobody).
    let shared = format!("{}-metrics:/textfile:ro", sidecar.volume);
    let read = ["run", "--rm", "--pull", "never", "--network", "none", "--user", "65534", "-v", &shared, &engine.image];
    let read = [&read[..], &["/bin/cat", "/textfile/healwatch.prom"]].concat();
    let metrics = match runtime {
        // Rootless Podman's Docker API cannot attach to a container it has just started
        // ("unable to upgrade to tcp, received 409"): its own client can.
        Runtime::PodmanRootless => {
            let podman = ["timeout", "60", "podman", "--remote", "--url", &host];
            crate::engine::run_bounded(&[&podman[..], &read[..]].concat())
        }
        _ => sidecar.docker(&read),
    };
    let want = format!("healwatch_restarts_total{{target=\"{}\"", broken.name);
    assert!(metrics.success() && metrics.stdout.contains(&want), "{want} not in {metrics:?}");

    // Nothing runs in it but healwatch, and `docker stop` ends it with SIGTERM, not SIGKILL.
    let pid = sidecar.inspect("{{.State.Pid}}");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_eq!(comm.trim(), "healwatch", "PID 1 of the sidecar is host PID {pid}");
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten();
    let children: String = tasks.filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok()).collect();
    assert_eq!(children.trim(), "", "the sidecar's healwatch has children");
    let stop = sidecar.docker(&["stop", "-t", "10", &sidecar.name]);
    assert!(stop.success(), "{stop:?}");
    let exit: i32 = sidecar.inspect("{{.State.ExitCode}}").parse().unwrap();
    assert_ne!(exit, 137, "killed: {}", sidecar.logs());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sidecar.inspect("{{.State.Status}}"), "exited", "a stopped sidecar stays stopped");
}

/// The times between each exit of the sidecar and its next start, from Docker's events.
fn gaps(sidecar: &Sidecar) -> Vec<Duration> {
    let unix = |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let now = std::time::SystemTime::now();
    // `until` is in whole seconds: the next one, so this one's events are in (a wait of
    // at most a second, while the engine streams them).
    let (since, until) = ((unix(now) - 600).to_string(), (unix(now) + 1).to_string());
    let filter = format!("container={}", sidecar.name);
    let args =
        ["events", "--since", &since, "--until", &until, "--filter", &filter, "--format", "{{.TimeNano}} {{.Action}}"];
    let out = sidecar.docker(&args);
    let mut died = None;
    let mut gaps = Vec::new();
    for line in out.stdout.lines() {
        let Some((nanos, action)) = line.split_once(' ') else { continue };
        let nanos: u64 = nanos.parse().unwrap_or_default();
        match action {
            "die" => died = Some(nanos),
            "start" => gaps.extend(died.take().map(|d| Duration::from_nanos(nanos.saturating_sub(d)))),
            _ => {}
        }
    }
    gaps
}

/// Waits until the image's own HEALTHCHECK (`status --max-age`) says healthy. Podman
/// without systemd schedules no health checks: there it is run as its timer would.
fn sidecar_is_healthy(sidecar: &Sidecar, runtime: Runtime) {
    eventually(Duration::from_secs(30), "the sidecar's HEALTHCHECK saying healthy", || {
        if !matches!(runtime, Runtime::Docker) {
            let ran = std::process::Command::new("timeout")
                .args(["30", "podman", "--remote", "--url", &sidecar.host, "healthcheck", "run", &sidecar.name])
                .output()
                .map_err(|e| e.to_string())?;
            std::thread::sleep(Duration::from_millis(200));
            drop(ran);
        }
        let health = sidecar.inspect("{{.State.Health.Status}}");
        if health == "healthy" { Ok(()) } else { Err(format!("{health}: {}", sidecar.logs())) }
    });
}

/// Breaks `app`'s health endpoint and sees it answer 404: Podman's Docker API has been
/// seen to end a `docker exec` well without running it, once in a while, so a break that
/// did not take is made again (at most three times).
fn break_for_sure(app: &Container) {
    for attempt in 1..=3 {
        app.break_health();
        let answered = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            crate::engine::http_status(app.port, "/health") == Some(404)
        });
        if answered {
            return;
        }
        eprintln!("{}: the break did not take (attempt {attempt}), again", app.name);
    }
    panic!("{}: /health never answered 404 after three breaks", app.name);
}

/// Freezes `app`: `docker pause`, or where the runtime cannot pause (rootless Podman on
/// cgroup v1) SIGSTOP to its service process, which hangs it the same way.
fn freeze(engine: &Engine, host: &str, app: &Container, runtime: Runtime) {
    let paused = engine.docker_on(host, &["pause", &app.name]);
    if paused.success() {
        return;
    }
    assert!(matches!(runtime, Runtime::PodmanRootless), "pause {}: {paused:?}", app.name);
    let init = app.inspect("{{.State.Pid}}");
    let children = std::fs::read_to_string(format!("/proc/{init}/task/{init}/children")).unwrap();
    let service = children.split_whitespace().next().expect("the init's child, httpd");
    assert!(std::process::Command::new("kill").args(["-STOP", service]).status().unwrap().success());
}
