//! What a notification says to a person: one line per target that changed, short
//! enough for a phone ("web-2/app restarted and recovered in 3.1 s"), and how urgent
//! it is. Built from the report alone, so it says what the status line says.

use std::time::{Duration, SystemTime};

use crate::model::{Outcome, Recovery, one_line};
use crate::output::report::{Report, TargetReport};

/// The longest line about one target (its error cut to fit).
const LINE_LIMIT: usize = 300;
/// At most this many targets are named one per line; the rest are counted. A message
/// stays short enough for every service (about 6 kB at most).
const MAX_LINES: usize = 20;

/// A notification in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    /// "healwatch: 2 targets changed" or, for one, its own line.
    pub title: String,
    /// One line per target that changed and is notified about.
    pub lines: Vec<String>,
    /// How urgent, 1 (least) to 5: something healwatch could not fix is 4 or 5.
    pub priority: u8,
}

impl Message {
    /// The message about the targets of `report` that changed and have an outcome in
    /// `notify_on`; `None` when there are none (no notification is sent).
    pub(crate) fn from_report(report: &Report, notify_on: &[Outcome]) -> Option<Self> {
        let changed: Vec<&TargetReport> = report
            .targets
            .iter()
            .filter(|t| notify_on.contains(&t.result.outcome))
            .filter(|t| report.changes.iter().any(|(name, _)| *name == t.result.name))
            .collect();
        if changed.is_empty() {
            return None;
        }
        let mut lines: Vec<String> = changed.iter().take(MAX_LINES).map(|t| line(t)).collect();
        if changed.len() > MAX_LINES {
            lines.push(format!("… and {} more: see the status line", changed.len() - MAX_LINES));
        }
        let priority = changed.iter().map(|t| priority(t)).max().unwrap_or(3);
        let title = match lines.as_slice() {
            [one] => one.clone(),
            _ => format!("healwatch: {} targets changed", changed.len()),
        };
        Some(Self { title, lines, priority })
    }

    /// The lines as one text, one per line.
    pub(crate) fn text(&self) -> String {
        self.text_within(usize::MAX)
    }

    /// The lines as one text of at most `limit` bytes (and so characters): whole lines
    /// while they fit, then a count of the rest. A service's size limit holds however
    /// many targets changed at once.
    pub(crate) fn text_within(&self, limit: usize) -> String {
        let mut text = String::new();
        for (i, line) in self.lines.iter().enumerate() {
            let rest = self.lines.len() - i - 1;
            // Room for this line, and for the count of what would follow it.
            let tail = if rest == 0 { 0 } else { TAIL_ROOM };
            if text.len() + 1 + line.len() + tail > limit {
                let more = format!("… and {} more: see the status line", self.lines.len() - i);
                let mut cut = text;
                if !cut.is_empty() {
                    cut.push('\n');
                }
                cut.push_str(&more);
                return cut;
            }
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(line);
        }
        text
    }
}

/// Bytes kept for "… and N more: see the status line".
const TAIL_ROOM: usize = 48;

/// "NAME" or "NAME/CONTAINER" when the container is named otherwise.
fn who(t: &TargetReport) -> String {
    let r = &t.result;
    if r.container.is_empty() || r.container == r.name { r.name.clone() } else { format!("{}/{}", r.name, r.container) }
}

/// One target's line.
fn line(t: &TargetReport) -> String {
    let r = &t.result;
    let why = || r.error.as_deref().map(|e| format!(": {}", defang(e))).unwrap_or_default();
    let text = match r.outcome {
        Outcome::Restarted => match (r.recovery, r.recovery_time) {
            (Recovery::Recovered, Some(after)) => format!("{} restarted and recovered in {}", who(t), seconds(after)),
            (Recovery::NotRecovered, _) => {
                let cause = r.recovery_error.as_deref().map(|e| format!(": {}", defang(e))).unwrap_or_default();
                format!("{} restarted but did not recover{cause}", who(t))
            }
            _ => format!("{} restarted{}", who(t), why()),
        },
        Outcome::GaveUp => {
            let until =
                r.next_restart_at.map(|at| format!(" — not restarting until {}", clock(at))).unwrap_or_default();
            format!("{} gave up after {} restarts{until}", who(t), t.restarts_in_window)
        }
        Outcome::RestartFailed => {
            let stderr = r.action.as_ref().map(|a| a.stderr.clone()).filter(|s| !s.is_empty());
            format!(
                "{} could not be restarted{}",
                who(t),
                stderr.map(|s| format!(": {}", defang(&s))).unwrap_or_default()
            )
        }
        Outcome::Healthy => format!("{} is healthy again", who(t)),
        Outcome::EngineDown => format!("{}: its Docker engine cannot be reached", who(t)),
        Outcome::Paused => format!("{} is paused for maintenance", who(t)),
        other => format!("{} is {}{}", who(t), other.as_str().replace('_', " "), why()),
    };
    // Line breaks in an error become spaces; anything else unprintable is escaped.
    one_line(&text.replace(['\r', '\n', '\t'], " "), LINE_LIMIT)
}

/// Text a container controls (a check's output, docker's stderr) as no chat reads it:
/// no `@` that mentions a person or a whole channel (`@channel`, `@everyone`), and no
/// live link (`https://…` becomes `https[:]//…`, as security reports write them).
fn defang(text: &str) -> String {
    text.replace('@', "＠").replace("://", "[:]//")
}

/// 5 for what healwatch stopped trying to fix, 4 for what it could not, 3 for a heal, 2
/// for news that needs nothing.
fn priority(t: &TargetReport) -> u8 {
    match t.result.outcome {
        Outcome::GaveUp => 5,
        Outcome::RestartFailed | Outcome::EngineDown | Outcome::Unhealthy | Outcome::Failing => 4,
        Outcome::Restarted if t.result.recovery == Recovery::NotRecovered => 4,
        Outcome::Healthy | Outcome::Paused | Outcome::Stopped => 2,
        _ => 3,
    }
}

/// "3.1 s".
fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// "14:05 UTC".
fn clock(at: SystemTime) -> String {
    let text = humantime::format_rfc3339_seconds(at).to_string();
    format!("{} UTC", text.get(11..16).unwrap_or(&text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TargetResult;

    fn target(name: &str, container: &str, outcome: Outcome) -> TargetReport {
        let result = TargetResult { outcome, ..TargetResult::new(name, container, String::new()) };
        TargetReport { result, consecutive_failures: 0, restarts_in_window: 0, restarts_total: 0 }
    }

    fn report(targets: Vec<TargetReport>, changed: &[&str]) -> Report {
        let mut r = Report::new(SystemTime::UNIX_EPOCH, Duration::ZERO, false, targets);
        r.changes = changed.iter().map(|n| (n.to_string(), Outcome::Healthy)).collect();
        r
    }

    #[test]
    fn each_changed_target_is_one_line_a_person_reads() {
        let mut healed = target("web-2", "app", Outcome::Restarted);
        healed.result.recovery = Recovery::Recovered;
        healed.result.recovery_time = Some(Duration::from_millis(3_140));
        let mut gave_up = target("db", "db", Outcome::GaveUp);
        gave_up.restarts_in_window = 3;
        gave_up.result.next_restart_at = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(14 * 3600 + 5 * 60));
        let quiet = target("cache", "cache", Outcome::Healthy);
        let r = report(vec![healed, gave_up, quiet], &["web-2", "db"]);
        let m = Message::from_report(&r, &Outcome::ALL).unwrap();
        assert_eq!(
            m.lines,
            [
                "web-2/app restarted and recovered in 3.1 s",
                "db gave up after 3 restarts — not restarting until 14:05 UTC"
            ]
        );
        assert_eq!((m.title.as_str(), m.priority), ("healwatch: 2 targets changed", 5));
    }

    #[test]
    fn nothing_changed_or_nothing_asked_for_is_no_message() {
        let r = report(vec![target("web", "web", Outcome::Restarted)], &[]);
        assert_eq!(Message::from_report(&r, &Outcome::ALL), None);
        let r = report(vec![target("web", "web", Outcome::Restarted)], &["web"]);
        assert_eq!(Message::from_report(&r, &[Outcome::GaveUp]), None);
        let one = Message::from_report(&r, &[Outcome::Restarted]).unwrap();
        assert_eq!((one.title.as_str(), one.priority), ("web restarted", 3));
    }

    #[test]
    fn many_changes_are_counted_past_twenty_lines() {
        let targets: Vec<TargetReport> = (0..25).map(|i| target(&format!("t{i}"), "", Outcome::Restarted)).collect();
        let names: Vec<String> = (0..25).map(|i| format!("t{i}")).collect();
        let changed: Vec<&str> = names.iter().map(String::as_str).collect();
        let m = Message::from_report(&report(targets, &changed), &Outcome::ALL).unwrap();
        assert_eq!(m.lines.len(), MAX_LINES + 1);
        assert_eq!(m.lines.last().unwrap(), "… and 5 more: see the status line");
        assert_eq!(m.title, "healwatch: 25 targets changed");
    }

    #[test]
    fn any_number_of_changes_fits_a_services_limit_in_whole_lines() {
        let targets: Vec<TargetReport> = (0..300)
            .map(|i| {
                let mut t = target(&format!("service-{i:03}"), "", Outcome::Unhealthy);
                t.result.error = Some(format!("status 503 {}", "x".repeat(400)));
                t
            })
            .collect();
        let names: Vec<String> = (0..300).map(|i| format!("service-{i:03}")).collect();
        let changed: Vec<&str> = names.iter().map(String::as_str).collect();
        let m = Message::from_report(&report(targets, &changed), &Outcome::ALL).unwrap();
        for limit in [2_000, 4_096] {
            let text = m.text_within(limit);
            assert!(text.len() <= limit, "{limit}: {} bytes", text.len());
            assert!(text.ends_with("more: see the status line"), "{text}");
            assert!(text.lines().all(|l| l.starts_with("service-") || l.starts_with('…')), "whole lines: {text}");
        }
        assert_eq!(m.text_within(usize::MAX), m.lines.join("\n"));
    }

    #[test]
    fn text_a_container_controls_mentions_nobody_and_links_nowhere() {
        let mut t = target("web", "web", Outcome::Unhealthy);
        t.result.error = Some("body: @channel @everyone see https://evil.example/x".into());
        let m = Message::from_report(&report(vec![t], &["web"]), &Outcome::ALL).unwrap();
        assert!(!m.lines[0].contains('@') && !m.lines[0].contains("://"), "{}", m.lines[0]);
    }

    #[test]
    fn a_long_error_stays_one_short_line() {
        let mut t = target("web", "web", Outcome::Unhealthy);
        t.result.error = Some(format!("status 503\nnot in 200-399 {}", "x".repeat(1_000)));
        let m = Message::from_report(&report(vec![t], &["web"]), &Outcome::ALL).unwrap();
        assert!(!m.lines[0].contains('\n') && m.lines[0].chars().count() <= LINE_LIMIT + 1, "{}", m.lines[0]);
        assert!(m.lines[0].starts_with("web is unhealthy: status 503 not in 200-399"), "{}", m.lines[0]);
    }
}
