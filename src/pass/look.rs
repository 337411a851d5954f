//! The pass's look at a target, before anything is judged: its check with the blip
//! rule's retries (or Docker's HEALTHCHECK as listed), Docker's `unhealthy` confirmed by
//! running the check itself, and its new log lines.

use std::time::Duration;

use super::{Hint, Pass};
use crate::check::{
    Check, FIRST_LOG_WINDOW, Failure, attempt, check_with_retries, confirm_unhealthy, docker_health_check, log_check,
};
use crate::config::{HealthCheck, Target};
use crate::docker::Containers;
use crate::memory::state::TargetState;
use crate::model::{ContainerStatus, TargetResult};

/// What the look found: the check that decides, and the target's result as seen so far
/// (its check's words, status and latency, attempts; `healthy` until judged).
pub(super) struct Look {
    pub(super) check: Check,
    pub(super) result: TargetResult,
}

/// The pass's look at a target: its first check (with retries), Docker's `unhealthy`
/// confirmed by running the HEALTHCHECK's command, and its new log lines.
pub(super) fn look(pass: &Pass, target: &Target, hint: Option<&Hint>, memory: &TargetState) -> Look {
    let now = pass.clock.now();
    let (mut check, attempts) = first_check(pass, target, hint);
    let mut docker_said = None;
    if let (HealthCheck::Docker, true, Some(inspector)) =
        (&target.health, check.failed_with(Failure::DockerUnhealthy), pass.inspector)
        && let Some(own) = confirm_unhealthy(inspector, target)
    {
        // Docker's word is confirmed before anything is restarted on it.
        if own.healthy() {
            docker_said = Some("unhealthy");
        }
        check = own;
    }
    let mut logs_until = None;
    if let (true, Some(pattern), Some(inspector)) = (check.healthy(), &target.log_pattern, pass.inspector) {
        // Only lines logged since the last scan (or the last restart) count.
        let since = memory.logs_read_until.or(memory.last_time).unwrap_or(now - FIRST_LOG_WINDOW).min(now);
        check = log_check(inspector, target, pattern, since, now);
        logs_until = Some(now);
    }
    let result = TargetResult {
        check: target.health.kind(),
        http_status: check.http_status,
        latency: check.latency,
        attempts,
        error: check.error_text(),
        docker_said,
        logs_until,
        ..TargetResult::new(&target.name, &target.container, target.url_display())
    };
    Look { check, result }
}

/// The pass's first look at a target: HTTP, TCP or a command in the container, with
/// retries; or Docker's HEALTHCHECK status as the pass's container listing saw it (Docker
/// already retries its own probes); or nothing, for a target that only watches its logs.
fn first_check(pass: &Pass, target: &Target, hint: Option<&Hint>) -> (Check, u32) {
    if let Some(Hint::Stale(why)) = hint {
        // Its provider restarted under it: whatever its check says, it has no network.
        return (Check::failed(Failure::Provider, why, Duration::ZERO), 0);
    }
    if let Some(down) = &target.facts.down {
        // Nothing a check finds can make it healthy (a paused process still completes a
        // TCP handshake), and no wait helps: decided at once.
        return (Check::failed(Failure::Container, down, Duration::ZERO), 0);
    }
    let one = |timeout: Duration| attempt(pass.probe, pass.inspector, target, timeout);
    let decided = || container_down(pass.inspector, target);
    match &target.health {
        HealthCheck::Http(_) | HealthCheck::Tcp(_) | HealthCheck::Exec(_) => match hint {
            Some(Hint::Paused) if let Some(paused) = container_down(pass.inspector, target) => (paused, 0),
            Some(Hint::Failed { check, spent }) => {
                check_with_retries(&one, &decided, pass.clock, target, Some((check, *spent)))
            }
            _ => check_with_retries(&one, &decided, pass.clock, target, None),
        },
        HealthCheck::Docker if target.facts.paused => {
            let error = "the container is paused: frozen, it runs no HEALTHCHECK and answers nothing";
            (Check::failed(Failure::Container, error, Duration::ZERO), 0)
        }
        HealthCheck::Docker => {
            let facts = &target.facts;
            (docker_health_check(facts.docker_health.as_ref(), facts.docker_output.as_deref()), 0)
        }
        HealthCheck::Logs | HealthCheck::Provider => (Check::passed(None, Duration::ZERO), 0),
    }
}

/// Docker's word that waiting cannot help: the first of the target's containers that is
/// paused (a frozen process answers nothing, however long one waits), exited, dead or
/// created and never started, as a failed check saying so.
pub(super) fn container_down(docker: Option<&dyn Containers>, target: &Target) -> Option<Check> {
    let docker = docker?;
    target.container_refs().into_iter().find_map(|c| {
        let state = docker.state(&c).ok()?;
        if state.status == ContainerStatus::Restarting {
            // Docker is bringing it back: the retries see whether it comes.
            return None;
        }
        let why = state.status.not_serving(state.exit_code)?;
        Some(Check::failed(Failure::Container, format!("container {} {why}", c.name), Duration::ZERO))
    })
}
