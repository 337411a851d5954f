//! Prometheus metrics in node_exporter's textfile-collector format, rendered from the
//! same `Report` as the status line (and the state, for the counters that outlive a pass).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::exit::Exit;
use crate::memory::state::State;
use crate::model::{Outcome, Recovery, TargetResult, WatchPace};
use crate::output::report::Report;

/// One metric family: name, type, help, and how a target's value is read.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: fn(&TargetResult, &State) -> f64,
}

const TARGET_FAMILIES: &[Family] = &[
    Family {
        name: "healwatch_target_up",
        kind: "gauge",
        help: "Whether the target's last health check in the last pass passed (1) or not (0).",
        value: |t, _| f64::from(u8::from(up(t))),
    },
    Family {
        name: "healwatch_target_latency_seconds",
        kind: "gauge",
        help: "Latency of the target's first health check in the last pass.",
        value: |t, _| t.latency.as_millis() as f64 / 1000.0,
    },
    Family {
        name: "healwatch_restarts_total",
        kind: "counter",
        help: "Successful restarts of the target's container by healwatch, ever (kept in the state file).",
        value: |t, s| s.targets.get(&t.name).map_or(0.0, |m| m.restarts_total as f64),
    },
    Family {
        name: "healwatch_restart_failures_total",
        kind: "counter",
        help: "Restart commands for the target's container that failed, ever (kept in the state file).",
        value: |t, s| s.targets.get(&t.name).map_or(0.0, |m| m.restart_failures_total as f64),
    },
    Family {
        name: "healwatch_target_gave_up",
        kind: "gauge",
        help: "1 when the crash-loop guard stopped restarting the target (max_restarts within restart_window).",
        value: |t, _| f64::from(u8::from(t.outcome == Outcome::GaveUp)),
    },
    Family {
        name: "healwatch_target_paused",
        kind: "gauge",
        help: "1 while the target is in a maintenance pause (healwatch pause).",
        value: |t, _| f64::from(u8::from(t.outcome == Outcome::Paused)),
    },
    Family {
        name: "healwatch_target_docker_disagreed",
        kind: "gauge",
        help: "1 when Docker's HEALTHCHECK said unhealthy in the last pass but its command, run by healwatch, passed.",
        value: |t, _| f64::from(u8::from(t.docker_said.is_some())),
    },
];

/// Whether the last check of the pass passed: the first check, or the recovery poll.
fn up(t: &TargetResult) -> bool {
    match t.outcome {
        Outcome::Restarted | Outcome::Recreated => t.recovery == Recovery::Recovered,
        _ => t.error.is_none(),
    }
}

/// The whole metrics file for a finished pass. `memory` is the state after the pass.
pub(crate) fn render(report: &Report, memory: &State, started: SystemTime, exit: Exit) -> String {
    let mut out = String::new();
    for family in TARGET_FAMILIES {
        header(&mut out, family.name, family.kind, family.help);
        for t in report.targets.iter().map(|t| &t.result) {
            // healwatch_target_up also says how the target is checked.
            let check =
                if family.name == "healwatch_target_up" { format!(",check=\"{}\"", t.check) } else { String::new() };
            let _ = writeln!(
                out,
                "{}{{target=\"{}\",container=\"{}\"{check}}} {}",
                family.name,
                escape(&t.name),
                escape(&t.container),
                (family.value)(t, memory)
            );
        }
    }
    let caused: Vec<&TargetResult> = report.targets.iter().map(|t| &t.result).filter(|t| t.cause.is_some()).collect();
    if !caused.is_empty() {
        header(
            &mut out,
            "healwatch_target_cause",
            "gauge",
            "1 for a target acted on in the last pass for another's sake (cause: provider vpn restarted).",
        );
        for t in caused {
            let _ = writeln!(
                out,
                "healwatch_target_cause{{target=\"{}\",container=\"{}\",cause=\"{}\"}} 1",
                escape(&t.name),
                escape(&t.container),
                escape(t.cause.as_deref().unwrap_or_default())
            );
        }
    }
    render_engines(&mut out, report);
    if let Some(pace) = &report.watch {
        render_pace(&mut out, pace);
    }
    out.push_str(&render_run(started, report.duration, exit));
    out
}

/// The engines the pass listed: whether each answered, and whether its listing was refused.
fn render_engines(out: &mut String, report: &Report) {
    if !report.engines.is_empty() {
        header(
            out,
            "healwatch_engine_up",
            "gauge",
            "Whether the Docker engine answered in the last pass (1) or not (0).",
        );
        for e in &report.engines {
            let _ = writeln!(out, "healwatch_engine_up{{engine=\"{}\"}} {}", escape(&e.name), u8::from(e.up));
        }
        header(
            out,
            "healwatch_engine_refused",
            "gauge",
            "Whether the engine's API, or a socket proxy before it, refused the last pass's listing (1) or not (0).",
        );
        for e in &report.engines {
            let refused = u8::from(e.refused.is_some());
            let _ = writeln!(out, "healwatch_engine_refused{{engine=\"{}\"}} {refused}", escape(&e.name));
        }
    }
}

/// The pace of the watch that ran the pass: its cadence, its budget, what it slows.
fn render_pace(out: &mut String, pace: &WatchPace) {
    let mut gauges = vec![
        (
            "healwatch_watch_cadence_seconds",
            "How often the watch looks at each healthy target now (above --watch-every when its CPU budget says so).",
            pace.cadence_ms as f64 / 1000.0,
        ),
        (
            "healwatch_watch_slowed_targets",
            "Healthy targets the watch looks at less often than --watch-every, to keep within --watch-cpu.",
            pace.slowed as f64,
        ),
    ];
    if let Some(budget) = pace.budget_looks_per_s {
        gauges.push((
            "healwatch_watch_budget_looks_per_second",
            "Looks a second the watch can make within --watch-cpu at the CPU a look was measured to cost.",
            budget as f64,
        ));
    }
    if let Some(cpu) = pace.look_cpu_us {
        gauges.push(("healwatch_watch_look_cpu_seconds", "CPU one look costs the watch, measured.", cpu as f64 / 1e6));
    }
    for (name, help, value) in gauges {
        header(out, name, "gauge", help);
        let _ = writeln!(out, "{name} {value}");
    }
}

/// Only the run metrics: for a pass that could not check anything (bad config...).
pub(crate) fn render_run(started: SystemTime, duration: Duration, exit: Exit) -> String {
    let mut out = String::new();
    let seconds = started.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let runs = [
        ("healwatch_last_run_timestamp_seconds", "Unix time the last pass started.", format!("{seconds:.3}")),
        (
            "healwatch_last_run_duration_seconds",
            "Wall time of the last pass.",
            format!("{}", duration.as_millis() as f64 / 1000.0),
        ),
        (
            "healwatch_last_run_success",
            "1 when the last pass exited 0 (every target healthy now), else 0.",
            u8::from(exit == Exit::Healthy).to_string(),
        ),
    ];
    for (name, help, value) in runs {
        header(&mut out, name, "gauge", help);
        let _ = writeln!(out, "{name} {value}");
    }
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Label values as the exposition format requires: backslash, double quote and newline escaped.
pub(crate) fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::state::TargetState;
    use crate::output::report::TargetReport;

    fn target(name: &str, outcome: Outcome, error: Option<&str>, recovery: Recovery) -> TargetReport {
        TargetReport::bare(TargetResult {
            outcome,
            latency: Duration::from_millis(1500),
            error: error.map(String::from),
            recovery,
            ..TargetResult::new(name, &format!("{name}-c"), String::new())
        })
    }

    #[test]
    fn renders_each_family_with_help_and_type() {
        let started = UNIX_EPOCH + Duration::from_millis(1_795_000_000_250);
        let targets = vec![
            target("app", Outcome::Restarted, Some("503"), Recovery::Recovered),
            target("db", Outcome::GaveUp, Some("503"), Recovery::NotRestarted),
            target("web", Outcome::Paused, None, Recovery::NotRestarted),
        ];
        let report = Report::new(started, Duration::from_millis(1234), false, targets);
        let mut memory = State::default();
        memory.targets.insert(
            "app".into(),
            TargetState { restarts_total: 7, restart_failures_total: 2, ..TargetState::default() },
        );
        let text = render(&report, &memory, started, Exit::Unhealthy);
        for line in [
            "# TYPE healwatch_target_up gauge",
            "healwatch_target_up{target=\"app\",container=\"app-c\",check=\"http\"} 1",
            "healwatch_target_up{target=\"db\",container=\"db-c\",check=\"http\"} 0",
            "healwatch_target_latency_seconds{target=\"app\",container=\"app-c\"} 1.5",
            "# TYPE healwatch_restarts_total counter",
            "healwatch_restarts_total{target=\"app\",container=\"app-c\"} 7",
            "healwatch_restarts_total{target=\"db\",container=\"db-c\"} 0",
            "healwatch_restart_failures_total{target=\"app\",container=\"app-c\"} 2",
            "healwatch_target_gave_up{target=\"db\",container=\"db-c\"} 1",
            "healwatch_target_paused{target=\"web\",container=\"web-c\"} 1",
            "healwatch_last_run_timestamp_seconds 1795000000.250",
            "healwatch_last_run_duration_seconds 1.234",
            "healwatch_last_run_success 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert_eq!(text.matches("# HELP ").count(), 10);
    }

    #[test]
    fn a_watchs_pass_says_its_pace() {
        let started = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let mut report = Report::new(started, Duration::from_millis(5), false, vec![]);
        report.watch = Some(WatchPace {
            every_ms: 1000,
            cadence_ms: 1600,
            cpu_percent: 10,
            budget_looks_per_s: Some(625),
            look_cpu_us: Some(160),
            targets: Some(1000),
            slowed: 1000,
        });
        let text = render(&report, &State::default(), started, Exit::Healthy);
        for line in [
            "healwatch_watch_cadence_seconds 1.6",
            "healwatch_watch_slowed_targets 1000",
            "healwatch_watch_budget_looks_per_second 625",
            "healwatch_watch_look_cpu_seconds 0.00016",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        let line = serde_json::to_value(&report).unwrap();
        assert_eq!(line["watch"]["slowed"], 1000);
        assert_eq!(line["watch"]["cadence_ms"], 1600);
        // A pass run on its own says nothing of a watch.
        report.watch = None;
        assert!(!render(&report, &State::default(), started, Exit::Healthy).contains("healwatch_watch_"));
        assert!(serde_json::to_value(&report).unwrap().get("watch").is_none());
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("x\ny"), "x\\ny");
    }
}
