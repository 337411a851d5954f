//! `healwatch status`: what the state file remembers, per target, as a table or JSON.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::cli::StatusArgs;
use crate::config;
use crate::exit::{Exit, Stop};
use crate::memory::state;
use crate::model::{Outcome, rfc3339, timestamp};
use crate::output::report::json_line;
use crate::pass::policy;

/// One row of `healwatch status`.
#[derive(Debug, Serialize)]
struct StatusRow {
    target: String,
    /// The engine it is on: its target's, or for a discovered one the `ENGINE/` of its
    /// name (`null` when neither says).
    engine: Option<String>,
    last_outcome: Option<Outcome>,
    #[serde(with = "rfc3339::option")]
    last_time: Option<SystemTime>,
    consecutive_failures: u32,
    restarts_in_window: usize,
    restarts_total: u64,
    restart_failures_total: u64,
    #[serde(with = "rfc3339::option")]
    paused_until: Option<SystemTime>,
    gave_up: bool,
    /// Whether the current config names it (null when no config was given).
    configured: Option<bool>,
}

/// Reads without the lock: the file is only ever replaced whole (rename), so a reader
/// never sees half of it, and a user who may read the state but not write the lock can
/// still look.
pub(crate) fn run(args: &StatusArgs) -> Result<Exit, Stop> {
    let sources = config::Sources { targets: &args.targets, state: args.files.state.as_ref(), lock: None };
    let config = config::load_sources(sources).map_err(Stop::Usage)?;
    let now = crate::clock::now().map_err(Stop::Usage)?;
    let path = crate::memory::state_path(config.state.as_ref()).map_err(Stop::Usage)?;
    let state = state::read_for_command(&path).map_err(Stop::Usage)?;
    let settings_of =
        |name: &str| config.targets.iter().find(|t| t.name == name).map_or(config::BUILTIN, |t| t.settings);
    // The configured targets first, then whatever else the state remembers (ad-hoc
    // `-t` targets, discovered containers), marked as not in this config.
    let configured: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).collect();
    let mut names = configured.clone();
    names.extend(state.targets.keys().map(String::as_str).filter(|n| !configured.contains(n)));
    let rows: Vec<StatusRow> = names
        .into_iter()
        .map(|name| {
            let memory = state.targets.get(name).cloned().unwrap_or_default();
            let settings = settings_of(name);
            let in_window = memory.restarts_in_window(now, settings.restart_window).len();
            StatusRow {
                target: name.to_string(),
                engine: engine_of(&config, name),
                last_outcome: memory.last_outcome,
                last_time: memory.last_time,
                consecutive_failures: memory.consecutive_failures,
                restarts_in_window: in_window,
                restarts_total: memory.restarts_total,
                restart_failures_total: memory.restart_failures_total,
                paused_until: memory.paused_until(now),
                gave_up: policy::guard_tripped(in_window, &settings),
                configured: (!configured.is_empty()).then(|| configured.contains(&name)),
            }
        })
        .collect();
    // Every pass that is not a dry run replaces the file whole: its time is the last pass's.
    let last_pass = std::fs::symlink_metadata(&path).and_then(|m| m.modified()).ok();
    let text = if args.json {
        let last = last_pass.map(timestamp);
        json_line(&serde_json::json!({ "state": path, "last_pass": last, "targets": rows }))
    } else {
        crate::model::printable(&table(&rows)).into_bytes()
    };
    crate::output::print(&text)?;
    let unhealthy = args.max_age.and_then(|max| too_old_or_blind(&state, last_pass, now, max));
    match unhealthy {
        Some(why) => {
            eprintln!("healwatch status: {why} (state file {})", path.display());
            Ok(Exit::Unhealthy)
        }
        None => Ok(Exit::Healthy),
    }
}

/// Why `status --max-age` calls the memory unhealthy: the last pass is older than `max`
/// (or dated ahead of the clock), or it reached no Docker engine.
fn too_old_or_blind(
    state: &state::State,
    last_pass: Option<SystemTime>,
    now: SystemTime,
    max: Duration,
) -> Option<String> {
    stale(last_pass, now, max).or_else(|| {
        let why = state.last_warnings.iter().find(|w| w.contains("unreachable")).map(|w| format!(": {w}"));
        state.reached_no_engine.then(|| format!("the last pass reached no Docker engine{}", why.unwrap_or_default()))
    })
}

/// How far ahead of the clock a state file may be dated and still count as written now.
const FUTURE_SLACK: Duration = Duration::from_secs(60);

/// Why the last pass, remembered at `last_pass`, is more than `max` before `now`, if it is.
fn stale(last_pass: Option<SystemTime>, now: SystemTime, max: Duration) -> Option<String> {
    let Some(last) = last_pass else {
        return Some("no pass is remembered yet".to_string());
    };
    let show = |d: Duration| humantime::format_duration(Duration::from_secs(d.as_secs()));
    // A file dated ahead of this clock (a clock set back, a file written elsewhere) is no
    // evidence of a recent pass: a minute's step is allowed, days are not.
    if let Ok(ahead) = last.duration_since(now)
        && ahead > FUTURE_SLACK
    {
        return Some(format!(
            "the state file is dated {} ahead of this clock: no pass can be shown recent",
            show(ahead)
        ));
    }
    let age = now.duration_since(last).unwrap_or_default();
    (age > max).then(|| format!("the last pass was {} ago, more than --max-age {}", show(age), show(max)))
}

/// The engine of the target called `name`: a configured target's own; for a name only
/// the state knows, the engine its `ENGINE/` prefix names, or the only engine there is.
fn engine_of(config: &config::Config, name: &str) -> Option<String> {
    if let Some(target) = config.targets.iter().find(|t| t.name == name) {
        return Some(target.endpoint.name());
    }
    if let Some((engine, _)) = name.split_once('/')
        && config.engines.iter().any(|e| e.name == engine)
    {
        return Some(engine.to_string());
    }
    (config.engines.len() == 1).then(|| config.engines[0].name.clone())
}

fn table(rows: &[StatusRow]) -> String {
    let time = |t: Option<SystemTime>| t.map_or_else(|| "-".to_string(), timestamp);
    let width = rows.iter().map(|r| r.target.len()).max().unwrap_or(0).max(6);
    let engine_width = rows.iter().map(|r| r.engine.as_ref().map_or(1, String::len)).max().unwrap_or(0).max(6);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:width$}  {:engine_width$}  {:14}  {:24}  {:8}  {:18}  {:24}  NOTE",
        "TARGET", "ENGINE", "LAST OUTCOME", "LAST CHECKED", "FAILURES", "RESTARTS WIN/TOTAL", "PAUSED UNTIL"
    );
    for r in rows {
        let outcome = if r.gave_up { Outcome::GaveUp.as_str() } else { r.last_outcome.map_or("-", Outcome::as_str) };
        let note = if r.configured == Some(false) { "not in this config" } else { "" };
        let line = format!(
            "{:width$}  {:engine_width$}  {:14}  {:24}  {:<8}  {:18}  {:24}  {note}",
            r.target,
            r.engine.as_deref().unwrap_or("-"),
            outcome,
            time(r.last_time),
            r.consecutive_failures,
            format!("{}/{}", r.restarts_in_window, r.restarts_total),
            time(r.paused_until)
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_is_stale_only_past_max_age_and_none_is_stale() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let max = Duration::from_secs(300);
        assert_eq!(stale(Some(now - Duration::from_secs(299)), now, max), None);
        assert_eq!(stale(Some(now - max), now, max), None);
        // A clock stepped back a little still reads as now; a file dated days ahead is no
        // evidence of a recent pass.
        assert_eq!(stale(Some(now + Duration::from_secs(60)), now, max), None);
        let ahead = stale(Some(now + Duration::from_secs(3 * 86_400)), now, max).unwrap();
        assert_eq!(ahead, "the state file is dated 3days ahead of this clock: no pass can be shown recent");
        let old = stale(Some(now - Duration::from_secs(3723)), now, max).unwrap();
        assert_eq!(old, "the last pass was 1h 2m 3s ago, more than --max-age 5m");
        assert_eq!(stale(None, now, max).unwrap(), "no pass is remembered yet");
    }
}
