//! The status line: plain serializable values, built last from the pass's results and
//! the memory, and written as exactly one JSON line. The same `Report` feeds stdout,
//! `--log`, the metrics file and notifications.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::memory::state::State;
use crate::model::{Outcome, Recovery, TargetResult, WatchPace, millis, one_line, rfc3339};

/// Texts from outside (errors, docker's stderr, warnings) are cut to this many characters.
const TEXT_LIMIT: usize = 1000;

/// One target's entry in the status line: what the pass did, and what it remembers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TargetReport {
    /// What the pass found and did.
    #[serde(flatten)]
    pub result: TargetResult,
    /// Failed passes in a row, this one included (0 when healthy or recovered).
    pub consecutive_failures: u32,
    /// Restart attempts within the restart window, this pass's included.
    pub restarts_in_window: usize,
    /// Successful restarts, ever (from the state file).
    pub restarts_total: u64,
}

impl TargetReport {
    /// A result with what the memory after the pass says of it (which keeps only the
    /// restarts inside the window); zeros for a target that is not remembered (a
    /// discovered container with bad labels).
    pub(crate) fn new(result: TargetResult, memory: &State) -> Self {
        let mut report = Self::bare(result);
        if let Some(m) = memory.targets.get(&report.result.name) {
            report.consecutive_failures = m.consecutive_failures;
            report.restarts_in_window = m.recent_restarts.len();
            report.restarts_total = m.restarts_total;
        }
        report
    }

    /// A result alone (memory all zero). Its texts that came from outside (endpoints,
    /// docker, labels) are made one line and cut.
    pub(crate) fn bare(mut result: TargetResult) -> Self {
        for text in [&mut result.error, &mut result.recovery_error, &mut result.cause].into_iter().flatten() {
            *text = one_line(text, TEXT_LIMIT);
        }
        if let Some(run) = &mut result.action {
            // Already only its tail (process/ keeps the last 4 KiB, where errors end).
            run.stderr = one_line(&run.stderr, 8 * 1024);
        }
        Self { result, consecutive_failures: 0, restarts_in_window: 0, restarts_total: 0 }
    }

    /// Whether this target counts as healthy at the end of the pass (the exit status).
    pub(crate) fn healthy_now(&self) -> bool {
        self.result.healthy_now()
    }
}

/// One Docker engine as the pass found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct EngineStatus {
    /// `local`, the host (redacted) or the context.
    pub name: String,
    /// Whether it answered.
    pub up: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The listing was refused (a socket proxy without `CONTAINERS=1`): the call and the
    /// switch that allows it. The engine answered, so it is up; nothing was discovered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// How many containers the pass listed there (only for an engine it listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containers: Option<usize>,
    /// How long the listing took (`docker ps` and `docker inspect`), milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_ms: Option<u64>,
}

/// Counts over the targets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Summary {
    /// Targets checked.
    pub targets: usize,
    /// Healthy at the first check.
    pub healthy: usize,
    /// Restarted by this pass.
    pub restarted: usize,
    /// Restarted and healthy again.
    pub recovered: usize,
    /// Still unhealthy at the end of the pass.
    pub failed: usize,
}

impl Summary {
    /// Counts `targets`.
    pub(crate) fn of(targets: &[TargetReport]) -> Self {
        let count = |f: &dyn Fn(&TargetResult) -> bool| targets.iter().filter(|t| f(&t.result)).count();
        Self {
            targets: targets.len(),
            healthy: count(&|t| t.outcome == Outcome::Healthy),
            restarted: count(&|t| t.outcome == Outcome::Restarted),
            recovered: count(&|t| t.recovery == Recovery::Recovered),
            failed: count(&|t| !t.healthy_now()),
        }
    }
}

/// One pass, as printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Report {
    /// When the pass started (RFC 3339, UTC, milliseconds).
    #[serde(with = "rfc3339")]
    pub time: SystemTime,
    /// healwatch's version.
    pub version: &'static str,
    /// Wall time of the pass.
    #[serde(rename = "duration_ms", serialize_with = "ms")]
    pub duration: Duration,
    /// Whether docker commands were skipped.
    pub dry_run: bool,
    /// Why the pass could not run at all (bad config, lock held...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The signal that interrupted the pass (`SIGTERM`...): it reports what it did so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    /// Things that went wrong beside the targets (e.g. the log file could not be written).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The Docker engines the pass listed or ran commands on, and whether each answered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub engines: Vec<EngineStatus>,
    /// Counts.
    pub summary: Summary,
    /// The targets whose story moved in this pass (a docker command ran, or the outcome
    /// differs from the last pass's), each with the outcome it had before; written as
    /// `changed`, their names, and left out when nothing changed.
    #[serde(rename = "changed", serialize_with = "names", skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<(String, Outcome)>,
    /// One entry per target, in config order.
    pub targets: Vec<TargetReport>,
    /// How the watch that ran this pass paces its looks (only in a watch's passes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch: Option<WatchPace>,
}

impl Report {
    /// A report of targets, with the summary computed from them.
    pub(crate) fn new(started: SystemTime, duration: Duration, dry_run: bool, targets: Vec<TargetReport>) -> Self {
        Self {
            time: started,
            version: env!("CARGO_PKG_VERSION"),
            duration,
            dry_run,
            error: None,
            interrupted: None,
            warnings: Vec::new(),
            engines: Vec::new(),
            summary: Summary::of(&targets),
            changes: Vec::new(),
            targets,
            watch: None,
        }
    }

    /// The names of the targets that changed.
    pub(crate) fn changed(&self) -> Vec<String> {
        self.changes.iter().map(|(name, _)| name.clone()).collect()
    }

    /// A report of a pass that could not run.
    pub(crate) fn failed(started: SystemTime, duration: Duration, dry_run: bool, error: String) -> Self {
        Self { error: Some(error), ..Self::new(started, duration, dry_run, Vec::new()) }
    }

    /// Whether every target is healthy now (exit 0).
    pub(crate) fn all_healthy_now(&self) -> bool {
        self.targets.iter().all(TargetReport::healthy_now)
    }

    /// Makes warnings one line each and cuts them (they may quote paths and docker).
    pub(crate) fn tidy_warnings(&mut self) {
        for w in &mut self.warnings {
            *w = one_line(w, TEXT_LIMIT);
        }
    }

    /// The report as one JSON line, newline included.
    pub(crate) fn line(&self) -> Vec<u8> {
        json_line(self)
    }
}

/// Any value as one JSON line (the status line, drill, audit, status).
/// serde_json escapes C0 controls; DEL, C1 controls and the bidi and zero-width
/// characters (`model::unprintable`) are escaped here too (`\u009b`), so a line printed
/// to a terminal or a mail shows them instead of acting on them. The JSON means the same.
pub(crate) fn json_line(value: &impl Serialize) -> Vec<u8> {
    // Serializing plain structs of strings and numbers to memory cannot fail.
    let line = serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    let mut out = String::with_capacity(line.len() + 1);
    for c in line.chars() {
        // Only inside strings: JSON's own syntax is plain ASCII.
        if crate::model::unprintable(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out.push('\n');
    out.into_bytes()
}

/// The report for people (`--format text`): one line per target that is not plainly
/// healthy (name, outcome, why, what was done and how long), warnings, and a summary.
/// `color` only when stdout is a terminal and NO_COLOR is unset.
pub(crate) fn text(report: &Report, color: bool, only_changed: bool) -> String {
    use std::fmt::Write as _;
    let paint = |code: &str, text: &str| if color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() };
    let ms = |d: Duration| format!("{} ms", millis(d));
    let mut out = String::new();
    if let Some(error) = &report.error {
        let _ = writeln!(out, "{} {}", paint("31", "could not run:"), one_line(error, TEXT_LIMIT));
    }
    // Every target that is not plainly healthy; under --quiet only those that changed,
    // a recovery included (what it was before ends its line).
    let before = |t: &TargetResult| report.changes.iter().find(|(name, _)| *name == t.name).map(|(_, was)| *was);
    let listed = |t: &&TargetResult| match only_changed {
        true => before(t).is_some(),
        false => t.outcome != Outcome::Healthy,
    };
    let all = report.targets.iter().map(|t| &t.result);
    let unlisted = all.clone().filter(|t| t.outcome != Outcome::Healthy && !listed(t)).count();
    let shown: Vec<&TargetResult> = all.filter(listed).collect();
    let width = shown.iter().map(|t| one_line(&t.name, TEXT_LIMIT).chars().count()).max().unwrap_or(0);
    for t in shown {
        let was = before(t).filter(|was| only_changed && *was != t.outcome && t.action.is_none());
        let _ = writeln!(out, "{}", target_line(t, width, was, &paint));
    }
    for e in report.engines.iter().filter(|e| !e.up) {
        let why = one_line(e.error.as_deref().unwrap_or("?"), TEXT_LIMIT);
        let _ = writeln!(out, "{} engine {}: {why}", paint("31", "down:"), one_line(&e.name, TEXT_LIMIT));
    }
    for e in report.engines.iter().filter(|e| e.up) {
        if let Some(refused) = &e.refused {
            let why = one_line(refused, TEXT_LIMIT);
            let _ = writeln!(out, "{} engine {}: {why}", paint("31", "refused:"), one_line(&e.name, TEXT_LIMIT));
        }
    }
    for w in &report.warnings {
        let _ = writeln!(out, "{} {}", paint("33", "warning:"), one_line(w, TEXT_LIMIT));
    }
    if let Some(signal) = &report.interrupted {
        let _ = writeln!(out, "{} by {signal}", paint("31", "interrupted"));
    }
    let s = &report.summary;
    let failed = format!("{} failing", s.failed);
    let failed = if s.failed > 0 { paint("31", &failed) } else { failed };
    let unchanged = if unlisted > 0 { format!(" ({unlisted} unchanged, not listed)") } else { String::new() };
    let _ = writeln!(
        out,
        "{} targets: {} healthy, {} restarted ({} recovered), {failed}{unchanged}; {}{}",
        s.targets,
        s.healthy,
        s.restarted,
        s.recovered,
        ms(report.duration),
        if report.dry_run { " (dry run)" } else { "" }
    );
    out
}

/// One target's line of the text report: name, outcome (coloured by `paint`), why, what
/// was done and how long, and what it `was` before when that is the news.
fn target_line(t: &TargetResult, width: usize, was: Option<Outcome>, paint: &dyn Fn(&str, &str) -> String) -> String {
    use std::fmt::Write as _;
    let ms = |d: Duration| format!("{} ms", millis(d));
    let outcome = format!("{:14}", t.outcome.as_str());
    let outcome = match (t.healthy_now(), t.outcome) {
        (true, Outcome::Restarted | Outcome::Recreated) => paint("32", &outcome),
        (true, _) => paint("33", &outcome),
        (false, _) => paint("31", &outcome),
    };
    let mut line = format!("{:width$}  {outcome}", one_line(&t.name, TEXT_LIMIT));
    let bare = line.len();
    if let Some(cause) = &t.cause {
        let _ = write!(line, "  because {}:", one_line(cause, TEXT_LIMIT));
    }
    if let Some(why) = &t.error {
        let _ = write!(line, "  {}", one_line(why, TEXT_LIMIT));
    }
    if let Some(run) = &t.action {
        let verb = if run.action == crate::model::Action::Restart { "restart" } else { run.action.as_str() };
        if run.success() {
            let _ = write!(line, "; {verb} took {}", ms(run.duration));
        } else {
            let _ = write!(line, "; {verb} failed after {}: {}", ms(run.duration), one_line(&run.stderr, TEXT_LIMIT));
        }
    }
    match t.recovery {
        Recovery::Recovered => {
            let _ = write!(line, "; healthy again after {}", t.recovery_time.map_or_else(String::new, ms));
        }
        Recovery::NotRecovered => {
            let _ = write!(
                line,
                "; not healthy again: {}",
                one_line(t.recovery_error.as_deref().unwrap_or("?"), TEXT_LIMIT)
            );
        }
        Recovery::Pending => {
            let _ =
                write!(line, "; {}", one_line(t.recovery_error.as_deref().unwrap_or("still recovering"), TEXT_LIMIT));
        }
        Recovery::NotWaited | Recovery::NotRestarted => {}
    }
    if let Some(at) = t.next_restart_at {
        let _ = write!(line, "; next restart allowed at {}", crate::model::timestamp(at));
    }
    if let Some(until) = t.paused_until {
        let _ = write!(line, "; paused until {}", crate::model::timestamp(until));
    }
    if let Some(was) = was {
        let _ = write!(line, "{}was {}", if line.len() == bare { "  " } else { "; " }, was.as_str());
    }
    line
}

fn names<S: serde::Serializer>(changes: &[(String, Outcome)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(changes.iter().map(|(name, _)| name))
}

fn ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(millis(*d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, ActionRun};
    use std::time::UNIX_EPOCH;

    fn target(outcome: Outcome, recovery: Recovery) -> TargetReport {
        TargetReport::bare(TargetResult {
            outcome,
            http_status: Some(503),
            latency: Duration::from_millis(3),
            attempts: 3,
            error: Some("status 503 not in 200-399".into()),
            action: (outcome != Outcome::Unhealthy).then(|| ActionRun {
                action: Action::Restart,
                exit_code: Some(0),
                duration: Duration::from_millis(812),
                stderr: String::new(),
            }),
            recovery,
            ..TargetResult::new("app", "app", "http://127.0.0.1:5000/health".into())
        })
    }

    #[test]
    fn status_line_shape() {
        let t0 = UNIX_EPOCH + Duration::from_millis(1_795_896_000_123);
        let report =
            Report::new(t0, Duration::from_millis(412), false, vec![target(Outcome::Restarted, Recovery::NotWaited)]);
        let line = String::from_utf8(report.line()).unwrap();
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["time"], "2026-11-28T20:00:00.123Z");
        assert_eq!(v["duration_ms"], 412);
        assert_eq!(v["summary"]["restarted"], 1);
        assert_eq!(v["summary"]["failed"], 0);
        let t = &v["targets"][0];
        assert!(t["recovered"].is_null() && t.get("recovered").is_some());
        assert_eq!(t["restart"]["duration_ms"], 812);
        assert_eq!((t["latency_ms"].as_u64(), t["attempts"].as_u64()), (Some(3), Some(3)));
        assert!(t.get("action").is_none(), "a restart is not named as an action");
        assert_eq!(t["consecutive_failures"], 0);
        assert!(v.get("error").is_none() && v.get("warnings").is_none());
    }

    #[test]
    fn fields_left_out_when_empty() {
        let healthy = TargetReport::bare(TargetResult::new("app", "app", "http://h/".into()));
        let v = serde_json::to_value(&healthy).unwrap();
        for absent in ["error", "restart", "action", "recovered", "recovery_ms", "next_restart_at", "paused_until"] {
            assert!(v.get(absent).is_none(), "{absent} in {v}");
        }
        let mut stop = target(Outcome::Acted, Recovery::NotRestarted);
        stop.result.action.as_mut().unwrap().action = Action::Stop;
        let v = serde_json::to_value(&stop).unwrap();
        assert_eq!(v["action"], "stop");
        assert!(v.get("recovered").is_none());
    }

    #[test]
    fn text_report_for_people() {
        let t0 = UNIX_EPOCH + Duration::from_millis(1_795_896_000_123);
        let healthy = TargetReport::bare(TargetResult::new("quiet", "quiet", "http://h/".into()));
        let mut restarted = target(Outcome::Restarted, Recovery::Recovered);
        restarted.result.recovery_time = Some(Duration::from_millis(1530));
        let report = Report::new(t0, Duration::from_millis(412), false, vec![healthy, restarted]);
        let text = text(&report, false, false);
        assert_eq!(
            text,
            "app  restarted       status 503 not in 200-399; restart took 812 ms; healthy again after 1530 ms\n\
             2 targets: 1 healthy, 1 restarted (1 recovered), 0 failing; 412 ms\n"
        );
        assert!(!text.contains('\x1b') && text.lines().count() == 2, "the healthy target is not listed");
        assert!(self::text(&report, true, false).contains("\x1b[32m"), "colour when asked");
    }

    #[test]
    fn quiet_text_lists_only_what_changed() {
        let t0 = UNIX_EPOCH + Duration::from_millis(1_795_896_000_123);
        let mut gave_up = target(Outcome::GaveUp, Recovery::NotRestarted);
        gave_up.result.name = "loop".into();
        gave_up.result.action = None;
        let back = TargetReport::bare(TargetResult::new("db", "db", "http://h/".into()));
        let healed = target(Outcome::Restarted, Recovery::Recovered);
        let mut report = Report::new(t0, Duration::from_millis(412), false, vec![gave_up, back, healed]);
        report.changes = vec![("db".into(), Outcome::GaveUp), ("app".into(), Outcome::Healthy)];
        let text = text(&report, false, true);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0], "db   healthy         was gave_up", "{text}");
        assert!(lines[1].starts_with("app  restarted "), "{text}");
        assert!(lines[2].ends_with("1 failing (1 unchanged, not listed); 412 ms"), "{text}");
        let v: serde_json::Value = serde_json::from_slice(&report.line()).unwrap();
        assert_eq!(v["changed"], serde_json::json!(["db", "app"]));
        // Without --quiet, every target that is not plainly healthy.
        assert!(self::text(&report, false, false).starts_with("loop "));
    }

    #[test]
    fn summary_counts() {
        let targets = [
            target(Outcome::Restarted, Recovery::Recovered),
            target(Outcome::Restarted, Recovery::NotRecovered),
            target(Outcome::GaveUp, Recovery::NotRestarted),
        ];
        let s = Summary::of(&targets);
        assert_eq!((s.targets, s.healthy, s.restarted, s.recovered, s.failed), (3, 0, 2, 1, 2));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 1000, failure_persistence: None, ..Default::default()
        })]
        /// A JSON line shows no control, bidi or zero-width character as it is, and means
        /// the same; the text report shows none either, whatever a name, an error, an
        /// engine or a warning holds.
        #[test]
        fn outputs_for_people_carry_no_control(text in "(\\PC|\\p{Cc}|\\p{Cf})*") {
            let json = String::from_utf8(json_line(&serde_json::json!({ "v": text }))).unwrap();
            proptest::prop_assert!(!json.trim_end().chars().any(crate::model::unprintable), "{json:?}");
            let back: serde_json::Value = serde_json::from_str(&json).unwrap();
            proptest::prop_assert_eq!(back["v"].as_str(), Some(text.as_str()));
            let mut t = target(Outcome::RestartFailed, Recovery::NotRestarted);
            t.result.name = text.clone();
            t.result.error = Some(text.clone());
            t.result.action.as_mut().unwrap().stderr = text.clone();
            t.result.action.as_mut().unwrap().exit_code = Some(1);
            let mut report = Report::new(UNIX_EPOCH, Duration::ZERO, false, vec![t]);
            report.error = Some(text.clone());
            report.warnings = vec![text.clone()];
            report.engines = vec![EngineStatus { name: text.clone(), up: false, error: Some(text.clone()), refused: None, containers: None, list_ms: None }];
            let shown = self::text(&report, false, false);
            proptest::prop_assert!(!shown.chars().any(|c| crate::model::unprintable(c) && c != '\n'), "{shown:?}");
        }
    }
}
