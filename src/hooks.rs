//! `on_restart`: the operator's program run after each restart (as autoheal's
//! POST_RESTART_SCRIPT), with what happened in its environment. An argv, never a shell
//! string; bounded like every child; its failure is a warning, never a failed pass.

use std::process::Command;
use std::time::Duration;

use crate::config::Target;
use crate::model::{Outcome, Recovery, TargetResult, one_line};
use crate::pass::parallel_map;
use crate::process::run_bounded;

/// Bound on one hook run.
pub(crate) const HOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs each restarted target's hook (side by side, at most `concurrency` at once);
/// returns a warning per hook that failed.
pub(crate) fn run_after_restarts(roster: &[Target], results: &[TargetResult], concurrency: usize) -> Vec<String> {
    let due: Vec<(&Target, &TargetResult)> = roster
        .iter()
        .zip(results)
        .filter(|(t, r)| !t.on_restart.is_empty() && matches!(r.outcome, Outcome::Restarted | Outcome::RestartFailed))
        .collect();
    parallel_map(&due, concurrency, |(t, r)| run_one(t, r)).0.into_iter().flatten().collect()
}

fn run_one(target: &Target, result: &TargetResult) -> Option<String> {
    let recovered = match result.recovery {
        Recovery::Recovered => "true",
        Recovery::NotRecovered => "false",
        Recovery::NotWaited | Recovery::NotRestarted | Recovery::Pending => "",
    };
    let mut command = Command::new(&target.on_restart[0]);
    command
        .args(&target.on_restart[1..])
        .env("HEALWATCH_TARGET", one_line(&result.name, 1000))
        .env("HEALWATCH_CONTAINER", one_line(&result.container, 1000))
        .env("HEALWATCH_OUTCOME", result.outcome.as_str())
        .env("HEALWATCH_RECOVERED", recovered)
        .env("HEALWATCH_ERROR", one_line(result.error.as_deref().unwrap_or(""), 2000));
    let out = run_bounded(&mut command, HOOK_TIMEOUT);
    (!out.success()).then(|| {
        let why = if out.stderr.is_empty() { crate::process::exit_text(out.exit_code) } else { out.stderr };
        format!("on_restart for {}: {} failed: {}", result.name, target.on_restart[0], one_line(&why, 500))
    })
}
