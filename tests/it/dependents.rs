//! Services that lean on another, on the real engine: a provider in a network namespace
//! of its own (`--network none` gives it a loopback of its own) and a dependent in it
//! (`--network container:PROVIDER`), serving on that loopback. Whatever happens to the
//! provider, healwatch must leave the dependent answering through the provider's
//! namespace again (`docker exec PROVIDER wget 127.0.0.1:PORT` reaches it).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::engine::Engine;
use crate::util::{eventually, free_port, write_file};

/// A provider (`vpn`, watched by an exec check of its own server) and a dependent in
/// its namespace (`app`, no target of its own); both removed when dropped.
struct Web {
    engine: &'static Engine,
    vpn: String,
    app: String,
    app_port: u16,
    vpn_port: u16,
    dir: tempfile::TempDir,
}

impl Web {
    /// Starts both, the provider with restart policy `restart`, and waits until the
    /// dependent answers through the provider's namespace.
    #[track_caller]
    fn start(test: &str, restart: &str) -> Self {
        let engine = Engine::get();
        let pid = std::process::id();
        let web = Self {
            engine,
            vpn: format!("hw-{test}-vpn-{pid}"),
            app: format!("hw-{test}-app-{pid}"),
            app_port: free_port(),
            vpn_port: free_port(),
            dir: tempfile::tempdir().unwrap(),
        };
        web.remove();
        web.run_vpn(restart);
        let network = format!("container:{}", web.vpn);
        let volumes = ["-v", "/anon", "-v", &web.volume()];
        let volumes = if test == "swap" { &volumes[..] } else { &[] };
        web.run(&web.app, &[&["--network", &network], volumes].concat(), "always", web.app_port);
        eventually(Duration::from_secs(20), "the dependent answering through the provider", || web.reached());
        web
    }

    fn run_vpn(&self, restart: &str) {
        self.run(&self.vpn, &["--network", "none"], restart, self.vpn_port);
    }

    /// The named volume a recreate must keep (`NAME:/named`).
    fn volume(&self) -> String {
        format!("{}-vol:/named", self.app)
    }

    #[track_caller]
    fn run(&self, name: &str, extra: &[&str], restart: &str, port: u16) {
        let port = port.to_string();
        let args = [&["run", "-d", "--pull", "never", "--init", "--name", name][..], extra].concat();
        let tail = ["--restart", restart, &self.engine.image, "/bin/serve", &port];
        let out = self.engine.docker(&[&args[..], &tail[..]].concat());
        assert!(out.success(), "docker run {name}: {out:?}");
    }

    /// Whether the dependent's server answers on the provider's loopback.
    fn reached(&self) -> Result<(), String> {
        let url = format!("http://127.0.0.1:{}/health", self.app_port);
        let out = self.engine.docker(&["exec", &self.vpn, "wget", "-q", "-O", "/dev/null", &url]);
        if out.success() { Ok(()) } else { Err(format!("{out:?}")) }
    }

    fn docker(&self, args: &[&str]) {
        let out = self.engine.docker(args);
        assert!(out.success(), "docker {args:?}: {out:?}");
    }

    fn started_at(&self, name: &str) -> String {
        self.engine.docker(&["inspect", "--format", "{{.State.StartedAt}}", name]).stdout.trim().to_string()
    }

    /// A config watching only the provider, by a look at its own server from inside.
    fn config(&self) -> std::path::PathBuf {
        self.config_with("")
    }

    /// The same with `more` in its `[defaults]`.
    fn config_with(&self, more: &str) -> std::path::PathBuf {
        let url = format!("http://127.0.0.1:{}/health", self.vpn_port);
        write_file(
            self.dir.path(),
            "c.toml",
            &format!(
                "[defaults]\n{more}retries = 1\ntimeout = \"2s\"\nrestart_timeout = \"2s\"\nrecovery_timeout = \"20s\"\n\
                 [[target]]\nname = \"vpn\"\ncontainer = \"{}\"\n\
                 exec = [\"wget\", \"-q\", \"-O\", \"/dev/null\", \"{url}\"]\n",
                self.vpn
            ),
        )
    }

    /// healwatch over the config, with a memory shared by all its runs here.
    fn healwatch(&self) -> crate::util::Healwatch {
        self.engine.healwatch().env("HEALWATCH_STATE", self.state()).arg("-c").arg(self.config())
    }

    fn state(&self) -> std::path::PathBuf {
        self.dir.path().join("state.json")
    }

    /// One pass over the config: its status line.
    fn pass(&self) -> (crate::util::Run, Value) {
        let run = self.healwatch().run();
        let line = run.status_line();
        (run, line)
    }

    fn remove(&self) {
        // With -v: the dependent's anonymous volume goes with it; then its named one.
        let _ = self.engine.docker(&["rm", "-f", "-v", &self.app, &self.vpn]);
        let _ = self.engine.docker(&["volume", "rm", &format!("{}-vol", self.app)]);
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The entry named `name` in a status line's targets.
fn entry(line: &Value, name: &str) -> Value {
    line["targets"].as_array().into_iter().flatten().find(|t| t["name"] == name).cloned().unwrap_or(Value::Null)
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn a_dependent_answers_again_whoever_restarted_its_provider_in_place() {
    let web = Web::start("lean", "always");
    let (run, line) = web.pass();
    run.expect_code(0);
    assert_eq!(entry(&line, &web.app)["outcome"], "healthy", "it joins the pass as the provider's: {run}");
    assert_eq!(entry(&line, &web.app)["check"], "provider", "{run}");

    // 1. healwatch heals the provider itself.
    web.docker(&["exec", &web.vpn, "rm", "/www/health"]);
    let (run, line) = web.pass();
    run.expect_code(0);
    assert_eq!(entry(&line, "vpn")["outcome"], "restarted", "{run}");
    let app = entry(&line, &web.app);
    assert_eq!(app["outcome"], "restarted", "{run}");
    assert_eq!(app["cause"], format!("provider {} restarted", web.vpn), "{run}");
    assert_eq!(app["recovered"], true, "{run}");
    web.reached().unwrap_or_else(|e| panic!("the dependent does not answer after the heal: {e}\n{run}"));

    // 2. An operator restarts the provider.
    web.docker(&["restart", "-t", "1", &web.vpn]);
    assert!(web.reached().is_err(), "the dependent kept its network through a provider restart?");
    let (run, line) = web.pass();
    run.expect_code(0);
    assert_eq!(entry(&line, "vpn")["outcome"], "healthy", "{run}");
    assert_eq!(entry(&line, &web.app)["cause"], format!("provider {} restarted", web.vpn), "{run}");
    web.reached().unwrap_or_else(|e| panic!("after docker restart: {e}\n{run}"));

    // 3. The provider's process dies and its restart policy brings it back.
    let before = web.started_at(&web.vpn);
    web.docker(&["exec", &web.vpn, "killall", "httpd"]);
    eventually(Duration::from_secs(20), "the policy restarting the provider", || {
        let now = web.started_at(&web.vpn);
        let running = web.engine.docker(&["inspect", "--format", "{{.State.Running}}", &web.vpn]).stdout;
        if now != before && running.trim() == "true" { Ok(()) } else { Err(now) }
    });
    let (run, line) = web.pass();
    run.expect_code(0);
    assert_eq!(entry(&line, &web.app)["outcome"], "restarted", "{run}");
    web.reached().unwrap_or_else(|e| panic!("after the policy's restart: {e}\n{run}"));

    // Nothing to do now: the dependent is not restarted again.
    let (run, line) = web.pass();
    run.expect_code(0);
    assert_eq!(entry(&line, &web.app)["outcome"], "healthy", "{run}");
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn a_dependent_the_engine_could_not_start_is_started_after_its_provider() {
    // As after a reboot where the provider came up late: the dependent's start failed.
    let web = Web::start("boot", "no");
    web.docker(&["stop", "-t", "1", &web.app, &web.vpn]);
    let refused = web.engine.docker(&["start", &web.app]);
    assert!(!refused.success(), "the engine started a dependent without its provider: {refused:?}");
    let (run, line) = web.pass();
    run.expect_code(0);
    assert_eq!(entry(&line, "vpn")["outcome"], "restarted", "{run}");
    let app = entry(&line, &web.app);
    assert_eq!(app["outcome"], "restarted", "{run}");
    assert_eq!(app["cause"], format!("provider {} was not running when {} started", web.vpn, web.app), "{run}");
    web.reached().unwrap_or_else(|e| panic!("the dependent does not answer after its start: {e}\n{run}"));
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn a_dependent_of_a_replaced_provider_is_said_to_need_recreating() {
    // A stranded container is every whole-engine audit's problem: audits take turns.
    let _turn = crate::engine::Turn::take();
    let web = Web::start("gone", "always");
    web.pass().0.expect_code(0);
    web.docker(&["rm", "-f", &web.vpn]);
    web.run_vpn("always");
    let (run, line) = web.pass();
    run.expect_code(1);
    let app = entry(&line, &web.app);
    assert_eq!(app["outcome"], "needs_recreate", "{run}");
    let said = app["error"].as_str().unwrap_or_default();
    assert!(said.contains("which no longer exists") && said.contains("docker rm -f"), "{run}");
    let text = web.healwatch().args(["--format", "text"]).run();
    assert!(text.stdout().contains("needs_recreate"), "{text}");
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn a_watch_heals_the_dependents_of_a_provider_restarted_under_them_within_seconds() {
    let web = Web::start("watch", "always");
    let watch = web.healwatch().args(["--watch", "40s"]).spawn();
    // The first pass is done when the state file is written.
    eventually(Duration::from_secs(20), "the watch's first pass", || crate::util::ready(web.state().exists()));
    std::thread::sleep(Duration::from_millis(500));
    web.docker(&["restart", "-t", "1", &web.vpn]);
    let restarted = Instant::now();
    eventually(Duration::from_secs(15), "the dependent answering again", || web.reached());
    let took = restarted.elapsed();
    // It answers once its restart has started it, a moment before the restart call
    // returns and the pass remembers it: a signal in between interrupts that pass.
    eventually(Duration::from_secs(15), "the watch remembering the dependent's restart", || {
        let state = std::fs::read_to_string(web.state()).unwrap_or_default();
        let state: Value = serde_json::from_str(&state).unwrap_or_default();
        let total = state["targets"][&web.app]["restarts_total"].as_u64().unwrap_or(0);
        if total > 0 { Ok(()) } else { Err(format!("restarts_total {total}")) }
    });
    watch.signal("TERM");
    let run = watch.wait(Duration::from_secs(30));
    let lines: Vec<Value> = run.stdout().lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let healed = lines.iter().map(|l| entry(l, &web.app)).find(|a| a["outcome"] == "restarted");
    let healed = healed.unwrap_or_else(|| panic!("no pass restarted the dependent ({took:?}): {run}"));
    assert_eq!(healed["cause"], format!("provider {} restarted", web.vpn), "{run}");
    eprintln!("provider restarted to dependent answering: {took:?}");
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn a_dependent_of_a_replaced_provider_is_recreated_in_its_successor_with_nothing_lost() {
    // A stranded container is every whole-engine audit's problem: audits take turns.
    let _turn = crate::engine::Turn::take();
    let web = Web::start("swap", "always");
    web.pass().0.expect_code(0);
    let write = "echo anonymous > /anon/kept && echo named > /named/kept";
    web.docker(&["exec", &web.app, "sh", "-c", write]);
    let old_id = web.engine.docker(&["inspect", "--format", "{{.Id}}", &web.app]).stdout.trim().to_string();
    web.docker(&["rm", "-f", &web.vpn]);
    web.run_vpn("always");
    assert!(web.reached().is_err(), "the dependent has no network before the recreate");
    let config = web.config_with("recreate_dependents = true\n");
    let run = web.engine.healwatch().env("HEALWATCH_STATE", web.state()).arg("-c").arg(&config).run();
    run.expect_code(0);
    let app = entry(&run.status_line(), &web.app);
    assert_eq!(app["outcome"], "recreated", "{run}");
    assert_eq!(app["cause"], format!("provider {} was replaced", web.vpn), "{run}");
    assert_eq!(app["recovered"], true, "{run}");
    web.reached().unwrap_or_else(|e| panic!("the recreated dependent does not answer: {e}\n{run}"));
    let new_id = web.engine.docker(&["inspect", "--format", "{{.Id}}", &web.app]).stdout.trim().to_string();
    assert_ne!(new_id, old_id, "{run}");
    let read = web.engine.docker(&["exec", &web.app, "cat", "/anon/kept", "/named/kept"]);
    assert_eq!(read.stdout.trim(), "anonymous\nnamed", "both volumes came along: {read:?}\n{run}");
    let left = web.engine.docker(&["ps", "-a", "--format", "{{.Names}}"]).stdout;
    assert!(!left.contains(&format!("{}-healwatch-", web.app)), "the old container is removed: {left}");
    let took = app["restart"]["duration_ms"].as_u64().unwrap_or(u64::MAX);
    eprintln!("recreate took {took} ms");
    // Done: the next pass leaves it be.
    let again = web.engine.healwatch().env("HEALWATCH_STATE", web.state()).arg("-c").arg(&config).run();
    assert_eq!(entry(&again.status_line(), &web.app)["outcome"], "healthy", "{again}");
}

#[test]
#[ignore = "needs a Docker engine: scripts/test.sh"]
fn a_chain_of_network_and_compose_dependents_is_healed_in_order_each_once() {
    // vpn <- app (its namespace) <- worker (its namespace too, and compose's depends_on
    // app with restart: true, labelled as compose writes it).
    let web = Web::start("chain", "always");
    let project = format!("hwchain{}", std::process::id());
    let worker = format!("{}-worker", web.app);
    let _gone = Removed(web.engine, worker.clone());
    let label = |k: &str, v: &str| format!("com.docker.compose.{k}={v}");
    let app_labels = [label("project", &project), label("service", "app")];
    let worker_labels =
        [label("project", &project), label("service", "worker"), label("depends_on", "app:service_started:true")];
    // The app is run again with its compose labels (a container's labels are fixed).
    let network = format!("container:{}", web.vpn);
    let mut args = vec!["--network", network.as_str()];
    for l in &worker_labels {
        args.extend(["--label", l.as_str()]);
    }
    web.run(&worker, &args, "always", free_port());
    web.docker(&["rm", "-f", &web.app]);
    let mut args = vec!["--network", network.as_str()];
    for l in &app_labels {
        args.extend(["--label", l.as_str()]);
    }
    web.run(&web.app, &args, "always", web.app_port);
    // The worker started before the app it leans on: the first pass restarts it once.
    let (run, line) = web.pass();
    run.expect_code(0);
    let before = entry(&line, &worker)["restarts_total"].as_u64().unwrap_or(0);
    let validate = web.engine.healwatch().arg("validate").arg("-c").arg(web.config()).run();
    assert!(validate.stdout().contains(&format!("{} <- {worker} (compose)", web.app)), "{validate}");

    web.docker(&["restart", "-t", "1", &web.vpn]);
    let (run, line) = web.pass();
    run.expect_code(0);
    let (app, worker_entry) = (entry(&line, &web.app), entry(&line, &worker));
    assert_eq!(
        (app["outcome"].as_str(), worker_entry["outcome"].as_str()),
        (Some("restarted"), Some("restarted")),
        "{run}"
    );
    assert_eq!(worker_entry["restarts_total"], before + 1, "restarted once, not once per provider: {run}");
    let app_at = humantime::parse_rfc3339(&web.started_at(&web.app)).unwrap();
    let worker_at = humantime::parse_rfc3339(&web.started_at(&worker)).unwrap();
    assert!(app_at < worker_at, "the worker after the app it leans on: {app_at:?} {worker_at:?}\n{run}");
    web.reached().unwrap_or_else(|e| panic!("{e}\n{run}"));
}

/// A container removed when dropped.
struct Removed(&'static Engine, String);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = self.0.docker(&["rm", "-f", "-v", &self.1]);
    }
}
