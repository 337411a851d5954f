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
    /// `notify_on`, and those that came back from one (healthy again); `None` when there
    /// are none (no notification is sent). The title names this host.
    pub(crate) fn from_report(report: &Report, notify_on: &[Outcome]) -> Option<Self> {
        Self::from_report_on(report, notify_on, &host_name())
    }

    /// As `from_report`, on the host called `host`.
    pub(crate) fn from_report_on(report: &Report, notify_on: &[Outcome], host: &str) -> Option<Self> {
        let before = |t: &TargetReport| report.changes.iter().find(|(name, _)| *name == t.result.name).map(|(_, b)| *b);
        let changed: Vec<(&TargetReport, Outcome)> = report
            .targets
            .iter()
            .filter_map(|t| before(t).map(|b| (t, b)))
            .filter(|(t, before)| {
                // Back from something that was notified: the all-clear, as Monit's and
                // Alertmanager's `resolved` say it.
                let back = t.result.outcome == Outcome::Healthy && notify_on.contains(before);
                notify_on.contains(&t.result.outcome) || back
            })
            .collect();
        if changed.is_empty() {
            return None;
        }
        let mut lines: Vec<String> = changed.iter().take(MAX_LINES).map(|(t, before)| line(t, *before)).collect();
        if changed.len() > MAX_LINES {
            lines.push(format!("… and {} more: see the status line", changed.len() - MAX_LINES));
        }
        let priority = changed.iter().map(|(t, _)| priority(t)).max().unwrap_or(3);
        let title = match changed.as_slice() {
            [(one, _)] => format!("healwatch on {host}: {}", headline(one)),
            _ => format!("healwatch on {host}: {} targets changed", changed.len()),
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

/// A title's few words about one target: what happened, not how.
fn headline(t: &TargetReport) -> String {
    let r = &t.result;
    match r.outcome {
        Outcome::Restarted if r.recovery == Recovery::NotRecovered => format!("{} restarted, not back", who(t)),
        Outcome::Restarted => format!("{} restarted", who(t)),
        Outcome::GaveUp => format!("{} given up on", who(t)),
        Outcome::RestartFailed => format!("{} could not be restarted", who(t)),
        Outcome::Healthy => format!("{} is healthy again", who(t)),
        Outcome::EngineDown => format!("{}: engine unreachable", who(t)),
        Outcome::NeedsRecreate => format!("{} needs recreating", who(t)),
        Outcome::Recreated => format!("{} recreated", who(t)),
        other => format!("{} is {}", who(t), other.as_str().replace('_', " ")),
    }
}

/// One target's line: what happened, why (the check's failure), and for how long.
fn line(t: &TargetReport, before: Outcome) -> String {
    let r = &t.result;
    // A heal for a provider's sake says so first: one event, not unexplained restarts.
    let why = || match &r.cause {
        Some(cause) => format!(" because {}", defang(cause)),
        None => r.error.as_deref().map(|e| format!(": {}", defang(e))).unwrap_or_default(),
    };
    let text = match r.outcome {
        Outcome::Restarted => match (r.recovery, r.recovery_time) {
            (Recovery::Recovered, Some(after)) => {
                // From the restart's start to the first healthy answer: the outage healwatch
                // ended (the failed checks before it are the status line's).
                let took = r.action.as_ref().map_or(Duration::ZERO, |a| a.duration) + after;
                format!("{} restarted{}; answering again {} after the restart began", who(t), why(), seconds(took))
            }
            (Recovery::NotRecovered, _) => {
                let cause = r.recovery_error.as_deref().map(|e| format!(": {}", defang(e))).unwrap_or_default();
                format!("{} restarted{}; it did not recover{cause}", who(t), why())
            }
            _ => format!("{} restarted{}", who(t), why()),
        },
        Outcome::GaveUp => {
            let until =
                r.next_restart_at.map(|at| format!(" — not restarting until {}", clock(at))).unwrap_or_default();
            format!("{} gave up after {} restarts{until}{}", who(t), t.restarts_in_window, why())
        }
        Outcome::RestartFailed => {
            let stderr = r.action.as_ref().map(|a| a.stderr.clone()).filter(|s| !s.is_empty());
            let stderr = stderr.map(|s| format!(": {}", defang(&s))).unwrap_or_default();
            format!("{} could not be restarted{stderr} (it failed{})", who(t), why().replacen(": ", " with ", 1))
        }
        Outcome::Healthy => format!("{} is healthy again (it was {})", who(t), before.as_str().replace('_', " ")),
        Outcome::EngineDown => format!("{}: its Docker engine cannot be reached{}", who(t), why()),
        Outcome::NeedsRecreate => format!("{} needs to be recreated{}", who(t), why()),
        Outcome::Recreated => format!("{} recreated{}; it answers in its provider's namespace", who(t), why()),
        Outcome::Paused => format!("{} is paused for maintenance", who(t)),
        other => format!("{} is {}{}", who(t), other.as_str().replace('_', " "), why()),
    };
    // Line breaks in an error become spaces; anything else unprintable is escaped.
    one_line(&text.replace(['\r', '\n', '\t'], " "), LINE_LIMIT)
}

/// This host's name, as notifications say where they come from.
fn host_name() -> String {
    let name = one_line(&super::host_name(), 64);
    if name.is_empty() { "this host".to_string() } else { name }
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
        Outcome::RestartFailed
        | Outcome::EngineDown
        | Outcome::Unhealthy
        | Outcome::Failing
        | Outcome::NeedsRecreate => 4,
        Outcome::Restarted if t.result.recovery == Recovery::NotRecovered => 4,
        Outcome::Healthy | Outcome::Paused | Outcome::Stopped => 2,
        _ => 3,
    }
}

/// "3.1 s", or "0.35 s" under a second (never "0.0 s").
fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) { format!("{:.2} s", d.as_secs_f64()) } else { format!("{:.1} s", d.as_secs_f64()) }
}

/// "14:05 UTC".
fn clock(at: SystemTime) -> String {
    let text = crate::model::rfc3339::timestamp_seconds(at);
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
        healed.result.recovery_time = Some(Duration::from_millis(2_340));
        healed.result.error = Some("status 503 not in 200-399".into());
        healed.result.action = Some(crate::model::ActionRun {
            action: crate::model::Action::Restart,
            exit_code: Some(0),
            duration: Duration::from_millis(800),
            stderr: String::new(),
        });
        let mut gave_up = target("db", "db", Outcome::GaveUp);
        gave_up.restarts_in_window = 3;
        gave_up.result.next_restart_at = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(14 * 3600 + 5 * 60));
        let quiet = target("cache", "cache", Outcome::Healthy);
        let r = report(vec![healed, gave_up, quiet], &["web-2", "db"]);
        let m = Message::from_report_on(&r, &Outcome::ALL, "node-7").unwrap();
        assert_eq!(
            m.lines,
            [
                "web-2/app restarted: status 503 not in 200-399; answering again 3.1 s after the restart began",
                "db gave up after 3 restarts — not restarting until 14:05 UTC"
            ]
        );
        assert_eq!((m.title.as_str(), m.priority), ("healwatch on node-7: 2 targets changed", 5));
    }

    #[test]
    fn nothing_changed_or_nothing_asked_for_is_no_message() {
        let r = report(vec![target("web", "web", Outcome::Restarted)], &[]);
        assert_eq!(Message::from_report(&r, &Outcome::ALL), None);
        let r = report(vec![target("web", "web", Outcome::Restarted)], &["web"]);
        assert_eq!(Message::from_report(&r, &[Outcome::GaveUp]), None);
        let one = Message::from_report_on(&r, &[Outcome::Restarted], "node-7").unwrap();
        assert_eq!((one.title.as_str(), one.priority), ("healwatch on node-7: web restarted", 3));
    }

    #[test]
    fn a_target_back_from_what_was_notified_is_said_to_be_healthy_again() {
        let mut r = report(vec![target("web", "web", Outcome::Healthy)], &[]);
        r.changes = vec![("web".to_string(), Outcome::Unhealthy)];
        let m = Message::from_report_on(&r, &[Outcome::Unhealthy], "node-7").unwrap();
        assert_eq!(m.lines, ["web is healthy again (it was unhealthy)"]);
        assert_eq!((m.title.as_str(), m.priority), ("healwatch on node-7: web is healthy again", 2));
        // Back from what nobody was told of: nothing to clear.
        assert_eq!(Message::from_report_on(&r, &[Outcome::GaveUp], "node-7"), None);
    }

    #[test]
    fn many_changes_are_counted_past_twenty_lines() {
        let targets: Vec<TargetReport> = (0..25).map(|i| target(&format!("t{i}"), "", Outcome::Restarted)).collect();
        let names: Vec<String> = (0..25).map(|i| format!("t{i}")).collect();
        let changed: Vec<&str> = names.iter().map(String::as_str).collect();
        let m = Message::from_report(&report(targets, &changed), &Outcome::ALL).unwrap();
        assert_eq!(m.lines.len(), MAX_LINES + 1);
        assert_eq!(m.lines.last().unwrap(), "… and 5 more: see the status line");
        assert!(m.title.ends_with(": 25 targets changed"), "{}", m.title);
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
