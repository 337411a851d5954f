//! A crash loop said with its cause: the last exit, whether memory ended it, how often
//! Docker restarted it, and the container's last words.

use crate::config::Target;
use crate::docker::Containers;
use crate::model::{ContainerRef, ContainerStatus};

/// Whether Docker's restart policy is restarting one of the target's containers (a crash
/// loop): said with its cause, the last exit and whether memory ended it, so one
/// notification carries it (it stays `unhealthy` while it loops: no news until it changes).
pub(super) fn crash_loop(docker: Option<&dyn Containers>, target: &Target) -> Option<String> {
    let docker = docker?;
    target.container_refs().into_iter().find_map(|c| {
        // One inspect says all of it: still restarting, and why.
        let info = docker.inspect(&c).ok().filter(|i| i.status == ContainerStatus::Restarting)?;
        Some(crash_report(docker, &c, info.exit_code, info.oom_killed, info.restart_count))
    })
}

/// A crash loop said with its cause: the last exit (`exit_code`, 0 while running says
/// nothing), whether memory ended it, how often Docker restarted it, and its last log lines.
pub(super) fn crash_report(
    docker: &dyn Containers,
    c: &ContainerRef,
    exit_code: Option<i64>,
    oom_killed: bool,
    restarts: u64,
) -> String {
    let code = exit_code.filter(|code| *code != 0);
    let mut cause = code.map(|code| format!("it exited {code}")).unwrap_or_else(|| "it keeps exiting".to_string());
    if oom_killed {
        cause.push_str(", killed for memory (OOMKilled)");
    }
    match restarts {
        0 => {}
        1 => cause.push_str(", restarted once by Docker"),
        n => cause.push_str(&format!(", restarted {n} times by Docker")),
    }
    cause.push_str(&last_words(docker, c));
    format!(
        "container {} is in a crash loop: {cause}; Docker's restart policy is restarting it, and healwatch leaves it \
         to Docker (a restart would reset Docker's back-off): see `docker logs {}`",
        c.name, c.name
    )
}

/// How many of a crash-looping container's last log lines its report carries.
const LAST_WORDS: usize = 3;

/// `; its last log lines: "…" | "…"`: what the container said before it died, each line
/// from outside so made one short printable line with secrets masked; nothing when its
/// log is empty or unreadable (the report stands without it).
fn last_words(docker: &dyn Containers, c: &crate::model::ContainerRef) -> String {
    let lines = docker.log_tail(c, LAST_WORDS).unwrap_or_default();
    let shown: Vec<String> = lines
        .iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| format!("\"{}\"", crate::model::one_line(&crate::model::redact_text(line.trim()), 160)))
        .collect();
    if shown.is_empty() { String::new() } else { format!("; its last log lines: {}", shown.join(" | ")) }
}
