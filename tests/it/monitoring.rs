//! From healwatch to a person, end to end: healwatch heals real containers on the test
//! engine and writes its metrics into a textfile directory; Debian's node_exporter reads
//! it, Debian's Prometheus scrapes it every second and evaluates the shipped rules
//! (examples/prometheus/alerts.yml, their `for` and windows shortened, nothing else
//! changed), and Debian's Alertmanager routes what fires to a webhook receiver of the
//! test's own, which stands in for the person. Each daemon runs in the foreground on
//! 127.0.0.1 with its own data directory (scripts/monitoring.sh unpacks them) and is
//! stopped when the test ends. The Grafana dashboard's queries run against the same
//! Prometheus.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::engine::{Engine, Spec, Turn};
use crate::util::{Behaviour, Server, eventually, free_port, write_file};

/// A daemon of the stack, killed when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// node_exporter, Prometheus and Alertmanager, and the receiver alerts are sent to.
struct Stack {
    _dir: tempfile::TempDir,
    prometheus: u16,
    receiver: Server,
    _daemons: Vec<Daemon>,
}

/// The shipped rules, with what makes them wait minutes cut to seconds.
fn fast_rules() -> String {
    let rules =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/prometheus/alerts.yml")).unwrap();
    let fast = rules.replace("for: 10m", "for: 2s").replace("[15m]", "[1m]").replace("> 360", "> 5");
    assert_ne!(fast, rules);
    fast
}

fn tool(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: run scripts/test.sh (scripts/monitoring.sh)"))
}

fn get(url: &str) -> Option<String> {
    let agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(2))).build().new_agent();
    agent.get(url).call().ok()?.body_mut().read_to_string().ok()
}

/// The alerts received so far, and when: what comes after it is news.
#[derive(Clone, Copy)]
struct Mark {
    at: Instant,
    seen: usize,
}

impl Stack {
    /// The stack, its node_exporter reading `textfile` (where healwatch has written its
    /// metrics already: until it has, `HealwatchMetricsAbsent` is right to fire).
    fn start(textfile: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (exporter, prometheus, alertmanager) = (free_port(), free_port(), free_port());
        let receiver = Server::start(Behaviour::Fixed(200, "ok"));
        let spawn = |program: String, args: Vec<String>| {
            let child = Command::new(&program)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{program}: {e}"));
            Daemon(child)
        };
        let d = |name: &str| dir.path().join(name).display().to_string();
        let mut daemons = vec![spawn(
            tool("HEALWATCH_NODE_EXPORTER"),
            vec![
                format!("--web.listen-address=127.0.0.1:{exporter}"),
                "--collector.disable-defaults".into(),
                "--collector.textfile".into(),
                format!("--collector.textfile.directory={}", textfile.display()),
            ],
        )];
        let routes = format!(
            "route:\n  receiver: person\n  group_by: [alertname, target]\n  group_wait: 1s\n  group_interval: 1s\n  \
             repeat_interval: 1h\nreceivers:\n  - name: person\n    webhook_configs:\n      - url: {}\n        \
             send_resolved: true\n",
            receiver.url("/hook")
        );
        write_file(dir.path(), "alertmanager.yml", &routes);
        daemons.push(spawn(
            tool("HEALWATCH_ALERTMANAGER"),
            vec![
                format!("--config.file={}", d("alertmanager.yml")),
                format!("--storage.path={}", d("am")),
                format!("--web.listen-address=127.0.0.1:{alertmanager}"),
                "--cluster.listen-address=".into(),
            ],
        ));
        write_file(dir.path(), "alerts.yml", &fast_rules());
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{}]\nalerting:\n  alertmanagers:\n    \
             - static_configs:\n        - targets: ['127.0.0.1:{alertmanager}']\nscrape_configs:\n  - job_name: node\n    \
             static_configs:\n      - targets: ['127.0.0.1:{exporter}']\n",
            d("alerts.yml")
        );
        write_file(dir.path(), "prometheus.yml", &config);
        daemons.push(spawn(
            tool("HEALWATCH_PROMETHEUS"),
            vec![
                format!("--config.file={}", d("prometheus.yml")),
                format!("--storage.tsdb.path={}", d("tsdb")),
                format!("--web.listen-address=127.0.0.1:{prometheus}"),
            ],
        ));
        for (what, url) in [
            ("node_exporter", format!("http://127.0.0.1:{exporter}/metrics")),
            ("Alertmanager", format!("http://127.0.0.1:{alertmanager}/-/ready")),
            ("Prometheus", format!("http://127.0.0.1:{prometheus}/-/ready")),
        ] {
            eventually(Duration::from_secs(30), &format!("{what} ready"), || {
                get(&url).map(drop).ok_or_else(|| "not yet".to_string())
            });
        }
        Self { _dir: dir, prometheus, receiver, _daemons: daemons }
    }

    /// Now, and what has been received so far.
    fn mark(&self) -> Mark {
        Mark { at: Instant::now(), seen: self.received().len() }
    }

    /// The series `promql` gives now.
    fn query(&self, promql: &str) -> Vec<Value> {
        let url = format!(
            "http://127.0.0.1:{}/api/v1/query?query={}",
            self.prometheus,
            percent_encoding::utf8_percent_encode(promql, percent_encoding::NON_ALPHANUMERIC)
        );
        let answer: Value = get(&url).and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
        assert_ne!(answer["status"], "error", "{promql}: {answer}");
        answer["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Every alert the person got: (status, alertname, its labels).
    fn received(&self) -> Vec<(String, String, Value)> {
        let mut alerts = Vec::new();
        for (_, _, body) in self.receiver.received() {
            let Ok(posted) = serde_json::from_str::<Value>(&body) else { continue };
            for alert in posted["alerts"].as_array().into_iter().flatten() {
                let name = alert["labels"]["alertname"].as_str().unwrap_or_default().to_string();
                alerts.push((alert["status"].as_str().unwrap_or_default().to_string(), name, alert["labels"].clone()));
            }
        }
        alerts
    }

    /// Waits until the person gets `status` for `alert` (on `target`, when given) after
    /// `since`; the time it took from it.
    fn await_alert(&self, status: &str, alert: &str, target: Option<&str>, since: Mark) -> Duration {
        eventually(Duration::from_secs(60), &format!("{alert} {status} at the receiver"), || {
            let got =
                self.received().into_iter().skip(since.seen).any(|(s, name, labels)| {
                    s == status && name == alert && target.is_none_or(|t| labels["target"] == t)
                });
            if got { Ok(since.at.elapsed()) } else { Err(format!("{:?}", self.received())) }
        })
    }
}

/// A config with the targets given (name = URL, and its own lines).
fn config(dir: &Path, targets: &[(&str, String, &str)], extra: &str) -> PathBuf {
    let mut text = String::from("[defaults]\nretries = 0\nrecovery_timeout = \"1s\"\nrestart_timeout = \"1s\"\n");
    text.push_str(extra);
    for (name, url, more) in targets {
        text.push_str(&format!("[[target]]\nname = \"{name}\"\nurl = \"{url}\"\ncontainer = \"{name}\"\n{more}"));
    }
    write_file(dir, "healwatch.toml", &text)
}

#[test]
#[ignore = "needs a Docker engine, Prometheus, node_exporter and Alertmanager: scripts/test.sh"]
fn alerts_reach_a_person_when_healing_fails_and_not_when_all_is_well() {
    let engine = Engine::get();
    let _turn = Turn::take();
    let healthy = crate::engine::Container::start(engine, "mon-ok", Spec { init: true, ..Spec::default() });
    let broken =
        crate::engine::Container::start(engine, "mon-gu", Spec { init: true, never_healthy: true, ..Spec::default() });
    let looping =
        crate::engine::Container::start(engine, "mon-cl", Spec { init: true, never_healthy: true, ..Spec::default() });
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let textfile = dir.path().join("textfile");
    std::fs::create_dir(&textfile).unwrap();
    let metrics = textfile.join("healwatch.prom");
    let pass = |config: &Path| {
        engine.healwatch().arg("--config").arg(config).arg("--state").arg(&state).arg("--metrics").arg(&metrics).run()
    };
    let calm = config(dir.path(), &[(&healthy.name, healthy.url(), "")], "");
    pass(&calm).expect_code(0);
    let stack = Stack::start(&textfile);

    // All is well for 8 s: nothing reaches the person.
    let quiet_until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < quiet_until {
        pass(&calm).expect_code(0);
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(stack.received(), [], "a healthy stack fires nothing");

    // One target gives up after 2 restarts; another is restarted every pass (never given up).
    let sick = config(
        dir.path(),
        &[
            (&healthy.name, healthy.url(), ""),
            (&broken.name, broken.url(), "max_restarts = 2\n"),
            (&looping.name, looping.url(), "max_restarts = 0\n"),
        ],
        "",
    );
    let mut gave_up = None;
    for _ in 0..5 {
        let run = pass(&sick);
        if gave_up.is_none() && run.target(&broken.name)["outcome"] == "gave_up" {
            gave_up = Some(stack.mark());
        }
    }
    let gave_up = gave_up.expect("the guard gave up");
    let to_gave_up = stack.await_alert("firing", "HealwatchGaveUp", Some(&broken.name), gave_up);
    let labels = stack.received().into_iter().find(|(_, n, _)| n == "HealwatchGaveUp").unwrap().2;
    assert_eq!(labels["container"], broken.name.as_str(), "{labels}");
    let to_crash_loop = stack.await_alert("firing", "HealwatchCrashLoop", Some(&looping.name), gave_up);
    let crash_loop = stack.received().into_iter().filter(|(_, n, _)| n == "HealwatchCrashLoop").collect::<Vec<_>>();
    assert!(crash_loop.iter().all(|(_, _, l)| l["target"] == looping.name.as_str()), "{crash_loop:?}");

    // Fixed, resumed, healthy: it resolves.
    for c in [&broken, &looping] {
        assert!(c.docker(&["exec", &c.name, "sh", "-c", "echo ok > /www/health"]).success());
    }
    engine
        .healwatch()
        .args(["resume", &broken.name, "--config"])
        .arg(&sick)
        .arg("--state")
        .arg(&state)
        .run()
        .expect_code(0);
    let fixed = stack.mark();
    pass(&sick).expect_code(0);
    let to_resolved = stack.await_alert("resolved", "HealwatchGaveUp", Some(&broken.name), fixed);

    // The Docker engine goes away: HealwatchEngineDown.
    let gone =
        format!("[[engine]]\nname = \"gone\"\nhost = \"unix://{}/none.sock\"\ndiscover = true\n", dir.path().display());
    let down = config(dir.path(), &[(&healthy.name, healthy.url(), "")], &gone);
    let lost = stack.mark();
    // Passes go on (every 0.5 s, as long as it takes, 60 s at most) until the person hears.
    let heard = || stack.received().iter().skip(lost.seen).any(|(s, n, _)| s == "firing" && n == "HealwatchEngineDown");
    while !heard() && lost.at.elapsed() < Duration::from_secs(60) {
        pass(&down);
        std::thread::sleep(Duration::from_millis(500));
    }
    let to_engine_down = stack.await_alert("firing", "HealwatchEngineDown", None, lost);
    // healwatch stops running: the dead man's switch.
    pass(&calm);
    let stopped = stack.mark();

    // The dashboard: every panel's query returns series, while there are some to see.
    dashboard_queries_return_series(&stack);

    let to_not_running = stack.await_alert("firing", "HealwatchNotRunning", None, stopped);
    eprintln!(
        "monitoring: event to the person's webhook: gave up {to_gave_up:.1?}, crash loop {to_crash_loop:.1?}, \
         resolved {to_resolved:.1?}, engine down {to_engine_down:.1?}, not running {to_not_running:.1?} \
         (rules cut to for 2s, [1m] and > 5 s)"
    );
}

/// Grafana's dashboard model: a datasource variable, unique panel ids, and each panel's
/// query answered by Prometheus with series (no misspelt metric survives).
fn dashboard_queries_return_series(stack: &Stack) {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/grafana/healwatch.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    assert!(dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 30), "schemaVersion");
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(
        variables.iter().any(|v| v["type"] == "datasource" && v["query"] == "prometheus" && v["name"] == "datasource")
    );
    let panels = dashboard["panels"].as_array().unwrap();
    let mut ids: Vec<u64> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
    for panel in panels {
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{}", panel["title"]);
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap().replace("$__rate_interval", "1m");
            eventually(Duration::from_secs(20), &format!("series for {}", panel["title"]), || {
                let series = stack.query(&expr);
                if series.is_empty() { Err(expr.clone()) } else { Ok(()) }
            });
        }
    }
}
