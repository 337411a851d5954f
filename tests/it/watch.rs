//! `run --watch`: passes started early by what a watch sees between them, each with its
//! own status line; the watch's own lock; room between passes for others. Real servers
//! on 127.0.0.1 and the recording docker stand-in; the end-to-end cases (a paused and a
//! SIGSTOPped container on a real engine) are in e2e.rs.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::util::{Behaviour, FakeDocker, Healwatch, Server};

/// Waits (at most 10 s) until `path` exists: the watch's first pass has been remembered.
fn wait_for(path: &Path) {
    crate::util::eventually(Duration::from_secs(10), &format!("{} appearing", path.display()), || {
        crate::util::ready(path.exists())
    });
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

#[test]
fn a_watch_heals_what_breaks_between_passes_with_a_line_per_pass() {
    let fake = FakeDocker::new();
    std::fs::write(fake.healthy_flag(), "").unwrap();
    let server = Server::start(Behaviour::WhileFileExists(fake.healthy_flag()));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let watch = Healwatch::new()
        .docker(&fake)
        .args(["--watch", "4s", "--state"])
        .arg(&state)
        .args(["-t", &format!("app={}", server.url("/health"))])
        .spawn();
    wait_for(&state);
    // It breaks after the first pass: only the watch can notice.
    std::fs::remove_file(fake.healthy_flag()).unwrap();
    let run = watch.wait(Duration::from_secs(30));
    run.expect_code(0);
    let passes = lines(&run.stdout());
    assert_eq!(passes.len(), 2, "the first pass and the one the watch started; quiet looks print nothing\n{run}");
    assert_eq!(passes[0]["targets"][0]["outcome"], "healthy", "{run}");
    let healed = &passes[1]["targets"][0];
    assert_eq!((healed["outcome"].as_str(), healed["recovered"].as_bool()), (Some("restarted"), Some(true)), "{run}");
    // The watch's failed attempt was the first of three: the blip rule still held.
    assert_eq!(healed["attempts"], 3, "{run}");
    let calls = fake.calls();
    assert!(calls.iter().any(|c| c.starts_with("events --format")), "the watch follows docker events: {calls:?}");
    assert_eq!(calls.iter().filter(|c| c.starts_with("restart")).count(), 1, "{calls:?}");
}

#[test]
fn a_watchs_pass_heals_what_breaks_while_it_waits_for_a_recovery() {
    let fake = FakeDocker::new();
    let dir = tempfile::tempdir().unwrap();
    // "slow" never answers 200 again: its pass waits 3 s for it, then hands it over.
    let slow = Server::start(Behaviour::Fixed(503, "no"));
    let up = dir.path().join("late-up");
    std::fs::write(&up, "").unwrap();
    let late = Server::start(Behaviour::WhileFileExists(up.clone()));
    let watch = Healwatch::new()
        .docker(&fake)
        .args(["--watch", "8s", "--state"])
        .arg(dir.path().join("state.json"))
        .args(["-t", &format!("slow={}", slow.url("/health")), "-t", &format!("late={}", late.url("/health"))])
        .spawn();
    // "late" breaks while the first pass waits for "slow" to recover.
    crate::util::eventually(Duration::from_secs(10), "the restart of slow", || {
        crate::util::ready(fake.calls().iter().any(|c| c.starts_with("restart") && c.ends_with(" slow")))
    });
    std::fs::remove_file(&up).unwrap();
    let run = watch.wait(Duration::from_secs(30));
    let passes = lines(&run.stdout());
    let first = &passes[0]["targets"];
    assert_eq!(first[0]["outcome"], "restarted", "{run}");
    assert_eq!(first[1]["outcome"], "restarted", "healed in the pass that was waiting, not after it\n{run}");
    assert_eq!(first[1]["attempts"], 3, "the failed look was the first attempt of the blip rule\n{run}");
    let restarts = fake.calls().into_iter().filter(|c| c.starts_with("restart") && c.ends_with(" late")).count();
    assert!(restarts >= 1, "{:?}", fake.calls());
}

#[test]
fn one_failed_look_then_a_good_answer_restarts_nothing() {
    let fake = FakeDocker::new();
    // Healthy for the first pass's attempt, 503 for the watch's first look, then healthy.
    let server = Server::start(Behaviour::Sequence(vec![200, 503]));
    let dir = tempfile::tempdir().unwrap();
    let run = Healwatch::new()
        .docker(&fake)
        .args(["--watch", "2s", "--state"])
        .arg(dir.path().join("state.json"))
        .args(["-t", &format!("app={}", server.url("/health"))])
        .run();
    run.expect_code(0);
    let passes = lines(&run.stdout());
    assert_eq!(passes.len(), 2, "{run}");
    assert_eq!(
        (passes[1]["targets"][0]["outcome"].as_str(), passes[1]["targets"][0]["attempts"].as_u64()),
        (Some("healthy"), Some(2)),
        "{run}"
    );
    assert!(!fake.calls().iter().any(|c| c.starts_with("restart")), "{:?}", fake.calls());
}

#[test]
fn between_passes_others_get_in_but_a_second_watch_does_not() {
    let server = Server::start(Behaviour::Fixed(200, "ok"));
    let dir = tempfile::tempdir().unwrap();
    let (lock, state) = (dir.path().join("l"), dir.path().join("s.json"));
    let target = format!("app={}", server.url("/health"));
    let hw = |args: &[&str]| {
        Healwatch::new().args(args).arg("--lock").arg(&lock).arg("--state").arg(&state).args(["-t", &target])
    };
    let watch = hw(&["--watch", "5s"]).spawn();
    wait_for(&dir.path().join("s.json"));
    let second = hw(&["--watch", "5s"]).run();
    second.expect_code(3);
    // The status line and stderr say the same: whose lock it is, and what this run did.
    let said = "another healwatch watch holds the lock";
    assert!(second.stderr().contains(said) && second.stderr().contains("this watch does nothing"), "{second}");
    let error = second.status_line()["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains(said) && error.ends_with("; this watch does nothing"), "{second}");
    // A pass run by hand and a pause go in between the watch's passes.
    hw(&[]).run().expect_code(0);
    hw(&["pause", "app", "--for", "10m"]).run().expect_code(0);
    let run = watch.wait(Duration::from_secs(30));
    run.expect_code(0);
    let state: Value = serde_json::from_slice(&std::fs::read(dir.path().join("s.json")).unwrap()).unwrap();
    assert!(state["targets"]["app"]["paused_until"].is_string(), "the watch kept the pause: {state}");
}

#[test]
fn watch_values_are_checked() {
    for (args, says) in [
        (&["--watch", "0s"][..], "--watch"),
        (&["--watch", "2h"][..], "--watch"),
        (&["--watch", "5s", "--watch-every", "10ms"][..], "--watch-every"),
        (&["--watch-every", "1s"][..], "--watch"),
        (&["--watch", "5s", "--watch-cpu", "0"][..], "--watch-cpu"),
        (&["--watch", "5s", "--watch-cpu", "900"][..], "--watch-cpu"),
        (&["--watch-cpu", "10"][..], "--watch"),
    ] {
        let run = Healwatch::new().args(args).args(["-t", "app=http://127.0.0.1:9/"]).run();
        run.expect_code(2);
        assert!(run.stderr().contains(says), "{run}");
    }
    let run = Healwatch::new().args(["check", "--watch", "5s", "-t", "app=http://127.0.0.1:9/"]).run();
    run.expect_code(2);
    assert!(run.stderr().contains("--watch is for run"), "{run}");
}

/// A maintenance pause that ends during a watch: the watch starts a pass at its end, which
/// heals the target that broke during the window, instead of leaving it to the next run.
#[test]
fn a_watch_heals_the_moment_a_maintenance_pause_ends() {
    let fake = FakeDocker::new();
    // Broken from the start: only the pause keeps it from being restarted.
    let server = Server::start(Behaviour::WhileFileExists(fake.healthy_flag()));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let target = format!("app={}", server.url("/health"));
    let pause =
        Healwatch::new().args(["pause", "app", "--for", "3s", "--state"]).arg(&state).args(["-t", &target]).run();
    pause.expect_code(0);
    let run = Healwatch::new()
        .docker(&fake)
        .args(["--watch", "8s", "--retries", "0", "--state"])
        .arg(&state)
        .args(["-t", &target])
        .run();
    let passes = lines(&run.stdout());
    assert_eq!(passes.len(), 2, "the first pass, and the one at the pause's end\n{run}");
    assert_eq!(passes[0]["targets"][0]["outcome"], "paused", "{run}");
    assert_eq!(passes[1]["targets"][0]["outcome"], "restarted", "{run}");
    assert_eq!(fake.calls().iter().filter(|c| c.starts_with("restart")).count(), 1, "{:?}", fake.calls());
}

/// A target that answers the first pass and then hangs: the watch's look at it is bounded
/// by decide_within (not the target's 40 s timeout), so the watch ends on time; and a
/// SIGTERM while a look hangs ends the watch at once, with no pass started after it.
#[test]
fn a_hung_look_is_bounded_and_a_signal_during_it_ends_the_watch_at_once() {
    let fake = FakeDocker::new();
    let hangs = Server::start(Behaviour::HangAfter(1));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let run = Healwatch::new()
        .docker(&fake)
        .args(["--watch", "3s", "--timeout", "40s", "--decide-within", "2s", "--recovery-timeout", "0", "--state"])
        .arg(&state)
        .args(["-t", &format!("app={}", hangs.url("/health"))])
        .run();
    // 3 s, a 2 s look, and the pass it starts (decided by the look's 2 s): not 40 s.
    assert!(run.elapsed < Duration::from_secs(15), "{run}");

    let hangs = Server::start(Behaviour::HangAfter(1));
    let state = dir.path().join("state2.json");
    let watch = Healwatch::new()
        .docker(&fake)
        .args(["--watch", "60s", "--timeout", "30s", "--decide-within", "30s", "--state"])
        .arg(&state)
        .args(["-t", &format!("app={}", hangs.url("/health"))])
        .spawn();
    wait_for(&state);
    // The first look begins a second after the pass and hangs.
    crate::util::eventually(Duration::from_secs(10), "the look hanging", || {
        crate::util::ready(hangs.request_count() >= 2)
    });
    let sent = std::time::Instant::now();
    watch.signal("TERM");
    let run = watch.wait(Duration::from_secs(40));
    let took = sent.elapsed();
    assert!(took < Duration::from_secs(2), "ended {took:?} after SIGTERM\n{run}");
    assert_eq!(lines(&run.stdout()).len(), 1, "no pass after the signal\n{run}");
}

#[test]
fn a_failure_threshold_is_met_within_the_watch_not_at_the_next_run() {
    let fake = FakeDocker::new().with_containers(&["app"]);
    // Broken from the start; the restart (the stand-in touches its flag) heals it.
    let server = Server::start(Behaviour::WhileFileExists(fake.healthy_flag()));
    let dir = tempfile::tempdir().unwrap();
    let run = Healwatch::new()
        .docker(&fake)
        .env("HEALWATCH_STATE", dir.path().join("state.json"))
        .args(["--watch", "5s", "--failure-threshold", "3", "--retries", "0", "--recovery-timeout", "2s"])
        .args(["-t", &format!("app={}", server.url("/health"))])
        .spawn()
        .wait(Duration::from_secs(30));
    run.expect_code(0);
    let passes = lines(&run.stdout());
    let outcomes: Vec<&str> = passes.iter().map(|p| p["targets"][0]["outcome"].as_str().unwrap_or("")).collect();
    // Two passes short of the threshold, then the third failure in a row restarts it:
    // the watch looked on at the failing target instead of leaving it to the next run.
    assert_eq!(&outcomes[..3], ["failing", "failing", "restarted"], "{run}");
    assert_eq!(passes[2]["targets"][0]["recovered"], true, "{run}");
    assert_eq!(fake.calls().iter().filter(|c| c.starts_with("restart")).count(), 1, "{:?}", fake.calls());
}

/// 120 healthy targets looked at every 100 ms cost more than 1 % of a core: the watch
/// measures it, looks at them less often, and starts a pass whose status line says so;
/// with room (the default tenth of a core for 20 targets) its line says the pace it keeps.
#[test]
fn a_watch_beyond_its_cpu_budget_looks_less_often_and_says_so() {
    let server = Server::start(Behaviour::Fixed(200, "ok"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("many.toml");
    let mut toml = String::from("[defaults]\naction = \"notify\"\n");
    for i in 0..120 {
        toml.push_str(&format!("[[target]]\nname = \"svc{i}\"\nurl = \"{}\"\n", server.url(&format!("/health/{i}"))));
    }
    std::fs::write(&config, toml).unwrap();
    let state = dir.path().join("state.json");
    let run = Healwatch::new()
        .args(["--watch", "6s", "--watch-every", "100ms", "--watch-cpu", "1", "--state"])
        .arg(&state)
        .arg("-c")
        .arg(&config)
        .run();
    run.expect_code(0);
    let passes = lines(&run.stdout());
    assert_eq!(passes[0]["watch"]["every_ms"], 100, "{run}");
    assert!(passes[0]["watch"].get("targets").is_none(), "the first pass comes before any look: {run}");
    let said = passes.iter().skip(1).find(|p| p["watch"]["slowed"] == 120).unwrap_or_else(|| panic!("not said: {run}"));
    let cadence = said["watch"]["cadence_ms"].as_u64().unwrap();
    let budget = said["watch"]["budget_looks_per_s"].as_u64().unwrap();
    assert!(cadence > 100, "{run}");
    assert_eq!(
        (said["watch"]["targets"].as_u64(), said["watch"]["cpu_percent"].as_u64()),
        (Some(120), Some(1)),
        "{run}"
    );
    // The cadence is what the budget allows: 120 targets at `budget` looks a second (the
    // budget said in whole looks).
    let seconds = cadence as f64 / 1000.0;
    assert!(
        seconds * budget as f64 <= 120.5 && seconds * (budget + 1) as f64 >= 119.5,
        "{cadence} ms, {budget}/s: {run}"
    );
    assert_eq!(said["summary"]["healthy"], 120, "nothing else was wrong: {run}");
}
