//! End-to-end: healwatch's own image (image/Dockerfile, built offline by scripts/image.sh)
//! as a sidecar on the private engine, with only the engine's socket mounted.
//! `#[ignore]`d: scripts/test.sh builds the image (HEALWATCH_IMAGE) and runs them.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::engine::{Container, Engine, Spec, Turn};
use crate::util::eventually;

/// The image scripts/test.sh built.
fn image() -> String {
    std::env::var("HEALWATCH_IMAGE").expect("HEALWATCH_IMAGE is not set: run scripts/test.sh, which builds the image")
}

/// A sidecar container and its state volume, removed when dropped.
struct Sidecar {
    engine: &'static Engine,
    name: String,
    volume: String,
}

impl Sidecar {
    /// Starts the image as the README's compose example does: non-root with the socket's
    /// group, read-only, no capabilities, state on a named volume, `unless-stopped`.
    /// `args` replace the image's command.
    fn start(engine: &'static Engine, test: &str, args: &[&str]) -> Self {
        let name = format!("hw-{test}-{}", std::process::id());
        let volume = format!("{name}-state");
        let _ = engine.docker(&["rm", "-f", &name]);
        let _ = engine.docker(&["volume", "rm", "-f", &volume, &format!("{volume}-metrics")]);
        let socket = engine.host.strip_prefix("unix://").expect("the test engine is a unix socket");
        let gid = std::fs::metadata(socket).map(|m| std::os::unix::fs::MetadataExt::gid(&m)).unwrap().to_string();
        let mount = format!("{socket}:/var/run/docker.sock");
        let state = format!("{volume}:/var/lib/healwatch");
        let metrics = format!("{volume}-metrics:/metrics");
        let image = image();
        let mut run = vec!["run", "-d", "--name", &name, "--network", "host", "--read-only", "--cap-drop", "ALL"];
        run.extend(["--security-opt", "no-new-privileges", "--group-add", &gid, "-v", &mount, "-v", &state]);
        run.extend(["-v", &metrics]);
        // The image's HEALTHCHECK, asked every second instead of every minute.
        run.extend(["--restart", "unless-stopped", "--health-interval", "1s", "--health-start-period", "0s"]);
        run.push(&image);
        run.extend(args);
        let out = engine.docker(&run);
        assert!(out.success(), "docker {run:?}: {out:?}");
        Self { engine, name, volume }
    }

    fn inspect(&self, template: &str) -> String {
        let out = self.engine.docker(&["inspect", "--format", template, &self.name]);
        assert!(out.success(), "inspect {}: {out:?}", self.name);
        out.stdout.trim().to_string()
    }

    /// `healwatch status --json` run inside the sidecar (no shell: the exec is the binary),
    /// or why not (between two of its runs, it is restarting).
    fn status(&self) -> Result<Value, String> {
        let out = self.engine.docker(&["exec", &self.name, "/usr/bin/healwatch", "status", "--json"]);
        if !out.success() {
            return Err(format!("status in {}: {out:?}", self.name));
        }
        serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {}", out.stdout))
    }

    fn logs(&self) -> String {
        let out = self.engine.docker(&["logs", &self.name]);
        format!("{}{}", out.stdout, out.stderr)
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.engine.docker(&["rm", "-f", &self.name]);
        let _ = self.engine.docker(&["volume", "rm", "-f", &self.volume, &format!("{}-metrics", self.volume)]);
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
    let shell = engine.docker(&["run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", &image, "-c", "true"]);
    assert!(!shell.success(), "{shell:?}");
    let socket = engine.host.strip_prefix("unix://").unwrap();
    let mount = format!("{socket}:/var/run/docker.sock:ro");
    let version = engine.docker(&["run", "--rm", "--network", "none", "--read-only", "-v", &mount, &image, "version"]);
    assert!(version.success(), "{version:?}");
    assert!(version.stdout.contains("docker: none: the Engine API at unix:///var/run/docker.sock"), "{version:?}");
}

#[test]
#[ignore = "needs a Docker engine and the image: scripts/test.sh"]
fn the_sidecar_heals_keeps_its_state_across_its_own_restarts_and_stops_cleanly() {
    let engine = Engine::get();
    let _turn = Turn::take();
    let labels = vec![("healwatch.url".to_string(), "http://127.0.0.1:{port}/health".to_string())];
    let spec = Spec { init: true, labels, ..Spec::default() };
    let broken = Container::start(engine, "image-broken", spec.clone());
    let paused = Container::start(engine, "image-paused", spec);
    // Watches of 6 s, so the test sees the sidecar exit and Docker start the next one.
    let quick = ["run", "--watch", "6s", "--discover", "--restart-timeout", "1s", "--recovery-timeout", "20s"];
    let quick = [&quick[..], &["--metrics", "/metrics/healwatch.prom"]].concat();
    let sidecar = Sidecar::start(engine, "sidecar", &quick);
    sidecar_is_healthy(&sidecar);

    let (broken_at, paused_at) = (broken.started_at(), paused.started_at());
    let started = Instant::now();
    broken.break_health();
    assert!(paused.docker(&["pause"]).success());
    broken.wait_for_status(200, Duration::from_secs(30));
    let healed_broken = started.elapsed();
    paused.wait_for_inspect("{{.State.Status}}", "running", Duration::from_secs(30));
    paused.wait_for_status(200, Duration::from_secs(30));
    let healed_paused = started.elapsed();
    assert_ne!(broken.started_at(), broken_at, "{}", sidecar.logs());
    assert_ne!(paused.started_at(), paused_at, "{}", sidecar.logs());
    eprintln!("sidecar healed a broken service in {healed_broken:?} and a paused one in {healed_paused:?}");

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
    eprintln!("sidecar ran {} watches, {cycles} started by its restart policy", cycles + 1);
    eprintln!("gaps between a watch's exit and the next start: {:?}", gaps(&sidecar));

    // The metrics reach another container through the shared volume, readable by
    // node_exporter's user (nobody).
    let shared = format!("{}-metrics:/textfile:ro", sidecar.volume);
    let read = ["run", "--rm", "--network", "none", "--user", "65534", "-v", &shared, &engine.image];
    let metrics = engine.docker(&[&read[..], &["cat", "/textfile/healwatch.prom"]].concat());
    let want = format!("healwatch_restarts_total{{target=\"{}\"", broken.name);
    assert!(metrics.success() && metrics.stdout.contains(&want), "{want} not in {metrics:?}");

    // Nothing runs in it but healwatch, and `docker stop` ends it with SIGTERM, not SIGKILL.
    let top = engine.docker(&["top", &sidecar.name, "-o", "pid,comm"]);
    let processes: Vec<&str> = top.stdout.lines().skip(1).collect();
    assert_eq!(processes.len(), 1, "{top:?}");
    assert!(processes[0].ends_with("healwatch"), "{top:?}");
    let stop = engine.docker(&["stop", "-t", "10", &sidecar.name]);
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
    let out = sidecar.engine.docker(&args);
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

/// Waits until the image's own HEALTHCHECK (`status --max-age`) says healthy.
fn sidecar_is_healthy(sidecar: &Sidecar) {
    eventually(Duration::from_secs(30), "the sidecar's HEALTHCHECK saying healthy", || {
        let health = sidecar.inspect("{{.State.Health.Status}}");
        if health == "healthy" { Ok(()) } else { Err(format!("{health}: {}", sidecar.logs())) }
    });
}
