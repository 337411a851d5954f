//! End-to-end on Docker Swarm: the shipped stack file (examples/swarm-stack.yml) deploys
//! healwatch's image as a global service on a one-node swarm (an engine of its own,
//! on 127.0.0.1, that scripts/engine.sh starts), which heals that node's containers.
//! `#[ignore]`d: scripts/test.sh runs it.

use std::time::{Duration, Instant};

use crate::engine::{Container, Engine, Spec, Turn};
use crate::util::eventually;

#[test]
#[ignore = "needs a one-node swarm and the image: scripts/test.sh"]
fn the_stack_runs_one_healwatch_per_node_which_heals_that_nodes_containers() {
    let engine = Engine::get();
    let _turn = Turn::take();
    let host = std::env::var("HEALWATCH_SWARM_DOCKER_HOST").expect("HEALWATCH_SWARM_DOCKER_HOST: run scripts/test.sh");
    let image = std::env::var("HEALWATCH_IMAGE").expect("HEALWATCH_IMAGE: run scripts/test.sh");
    let labels = vec![("healwatch.url".to_string(), "http://127.0.0.1:{port}/health".to_string())];
    let spec = Spec { init: true, labels, host: Some(host.clone()), ..Spec::default() };
    let broken = Container::start(engine, "swarm-broken", spec.clone());
    let paused = Container::start(engine, "swarm-paused", spec);

    let socket = host.strip_prefix("unix://").unwrap();
    let gid = std::fs::metadata(socket).map(|m| std::os::unix::fs::MetadataExt::gid(&m)).unwrap().to_string();
    let stack = format!("hw{}", std::process::id());
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/swarm-stack.yml");
    let deploy = std::process::Command::new("timeout")
        .args(["120", "docker", "stack", "deploy", "--resolve-image", "never", "-c", file, &stack])
        .env("DOCKER_HOST", &host)
        .env("HEALWATCH_IMAGE", &image)
        .env("DOCKER_SOCKET", socket)
        .env("DOCKER_GID", &gid)
        .output()
        .unwrap();
    let _removed = RemoveStack { engine, host: host.clone(), stack: stack.clone() };
    assert!(deploy.status.success(), "{deploy:?}");
    let service = format!("{stack}_healwatch");
    // One task per node: this swarm has one node. A task is "Starting" until the image's
    // HEALTHCHECK first says healthy, "Running" after.
    eventually(Duration::from_secs(60), "the global service's task running", || {
        let format = "{{.CurrentState}}";
        let ps = engine
            .docker_on(&host, &["service", "ps", "--filter", "desired-state=running", "--format", format, &service]);
        let up = |l: &&str| l.starts_with("Running") || l.starts_with("Starting");
        let running: Vec<&str> = ps.stdout.lines().filter(up).collect();
        if running.len() == 1 { Ok(()) } else { Err(format!("{ps:?}")) }
    });

    // The task holds no capability (cap_drop: [ALL]).
    let caps = engine.docker_on(
        &host,
        &["service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.CapabilityDrop}}", &service],
    );
    assert_eq!(caps.stdout.trim(), "[ALL]", "{caps:?}");

    let before = (broken.started_at(), paused.started_at());
    let started = Instant::now();
    broken.break_health();
    assert!(paused.docker(&["pause"]).success());
    for (app, at) in [(&broken, before.0), (&paused, before.1)] {
        crate::engine::restarted(app, at, Duration::from_secs(60));
        app.wait_for_status(200, Duration::from_secs(60));
    }
    eprintln!("swarm: healwatch's task healed a broken and a paused container within {:?}", started.elapsed());
    // The task's status lines tell of it (its logs are the container's).
    let task = format!("label=com.docker.swarm.service.name={service}");
    eventually(Duration::from_secs(20), "a status line of the service telling of a restart", || {
        let ids = engine.docker_on(&host, &["ps", "-aq", "--filter", &task]);
        let told = ids.stdout.lines().any(|id| {
            let logs = engine.docker_on(&host, &["logs", id]);
            logs.stdout.lines().any(|l| l.contains("\"outcome\":\"restarted\""))
        });
        if told { Ok(()) } else { Err(format!("tasks {:?}", ids.stdout)) }
    });
}

/// Removes the stack when the test ends, however it ends.
struct RemoveStack {
    engine: &'static Engine,
    host: String,
    stack: String,
}

impl Drop for RemoveStack {
    fn drop(&mut self) {
        let _ = self.engine.docker_on(&self.host, &["stack", "rm", &self.stack]);
        // Its tasks' containers go with it; wait (bounded) so the next test sees none.
        let deadline = Instant::now() + Duration::from_secs(30);
        let filter = format!("label=com.docker.stack.namespace={}", self.stack);
        while Instant::now() < deadline {
            let left = self.engine.docker_on(&self.host, &["ps", "-aq", "--filter", &filter]);
            if left.stdout.is_empty() {
                break;
            }
            let ids: Vec<&str> = left.stdout.lines().collect();
            let _ = self.engine.docker_on(&self.host, &[&["rm", "-f"][..], &ids].concat());
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
