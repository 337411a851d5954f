//! Docker's own HEALTHCHECK as a check, and what Docker says of a container after a
//! restart.

use std::time::Duration;

use super::{Check, Failure};
use crate::config::Target;
use crate::docker::Containers;
use crate::model::{ContainerStatus, DockerHealth};

/// A Docker HEALTHCHECK status as a check: only `unhealthy` fails (`starting` is not yet a verdict).
pub(crate) fn docker_health_check(status: Option<&DockerHealth>, output: Option<&str>) -> Check {
    match (status, output) {
        (Some(DockerHealth::Unhealthy), Some(out)) => {
            Check::failed(Failure::DockerUnhealthy, format!("docker health unhealthy: {out}"), Duration::ZERO)
        }
        (Some(DockerHealth::Unhealthy), None) => {
            Check::failed(Failure::DockerUnhealthy, "docker health unhealthy", Duration::ZERO)
        }
        _ => Check::passed(None, Duration::ZERO),
    }
}

/// healwatch's own look when Docker's HEALTHCHECK says unhealthy: the HEALTHCHECK's own
/// command (`CMD` argv, or `CMD-SHELL` through `/bin/sh -c`) run once in the container
/// through `docker exec`, given the target's `decide_within` (not only its `timeout`: on a
/// host busy enough that Docker's probe timed out, the command needs longer, and a hung
/// service is still decided within it). A probe that merely timed out on a busy host
/// passes now, and nothing is restarted on Docker's word alone. `None` when it cannot
/// look (no such container, no command): Docker's word stands; so it does when the exec
/// is refused (a socket proxy without `EXEC=1`), said with the switch.
pub(crate) fn confirm_unhealthy(docker: &dyn Containers, target: &Target) -> Option<Check> {
    let container = target.container_refs().into_iter().next()?;
    let info = docker.inspect(&container).ok()?;
    let argv: Vec<String> = match info.health_test.split_first() {
        Some((kind, args)) if kind == "CMD" && !args.is_empty() => args.to_vec(),
        Some((kind, [command])) if kind == "CMD-SHELL" => vec!["/bin/sh".into(), "-c".into(), command.clone()],
        _ => return None,
    };
    let out = docker.exec(&container, &argv, target.settings.decide_within.max(target.settings.timeout));
    Some(match out.success() {
        true => Check::passed(None, out.duration),
        false if out.refused => {
            let why = crate::model::one_line(out.stderr.trim(), 400);
            let text = format!(
                "docker health unhealthy; its check could not be run by healwatch ({why}), so Docker's word stands"
            );
            Check::failed(Failure::DockerUnhealthy, text, out.duration)
        }
        false if !out.ran => {
            let text = format!("docker health unhealthy; its check, run by healwatch, did not run: {}", out.stderr);
            Check::failed(Failure::Unconfirmed, text, out.duration)
        }
        false => {
            let why = crate::docker::stderr_line(if out.stderr.is_empty() { &out.stdout } else { &out.stderr });
            let code = crate::process::exit_text(out.exit_code);
            let text = format!("docker health unhealthy; its check, run by healwatch, failed too ({code}): {why}");
            Check::failed(Failure::DockerUnhealthy, text, out.duration)
        }
    })
}

/// Docker's HEALTHCHECK status as the engine says it now: only `healthy` passes (what
/// `check` waits for).
pub(super) fn docker_now_check(docker: &dyn Containers, target: &Target) -> Check {
    let none = |error: &str| Check::failed(Failure::Other, error, Duration::ZERO);
    let Some(container) = target.container_refs().into_iter().next() else { return none("no container") };
    match docker.health(&container) {
        Ok(Some(DockerHealth::Healthy)) => Check::passed(None, Duration::ZERO),
        Ok(Some(status)) => none(&format!("docker health {}", status.as_str())),
        Ok(None) => none("no HEALTHCHECK"),
        Err(out) => none(&format!("docker inspect: {}", out.stderr)),
    }
}

/// A target that only watches its logs has recovered once its container runs again.
pub(super) fn running_check(docker: &dyn Containers, target: &Target) -> Check {
    let error = target.container_refs().iter().find_map(|c| match docker.state(c) {
        Ok(state) if state.status == ContainerStatus::Running => None,
        Ok(state) => Some((Failure::Container, format!("container {} is {}", c.name, state.status))),
        Err(out) => Some((Failure::Other, format!("docker inspect: {}", out.stderr))),
    });
    match error {
        Some((why, text)) => Check::failed(why, text, Duration::ZERO),
        None => Check::passed(None, Duration::ZERO),
    }
}

/// After a restart Docker says `starting` until its first probe: only `healthy` is recovered.
pub(crate) fn docker_recovery_check(docker: &dyn Containers, target: &Target) -> Check {
    let (why, text) = match target.container_refs().first().map(|c| docker.health(c)) {
        Some(Ok(Some(DockerHealth::Healthy))) => return Check::passed(None, Duration::ZERO),
        // Docker's first probe after the restart failed: the restart did not help.
        Some(Ok(Some(DockerHealth::Unhealthy))) => {
            (Failure::UnhealthyAfterRestart, "docker health unhealthy after the restart".to_string())
        }
        Some(Ok(status)) => (
            Failure::DockerUnhealthy,
            format!("docker health {}", status.as_ref().map_or("none", DockerHealth::as_str)),
        ),
        Some(Err(out)) => (Failure::Other, format!("docker inspect: {}", out.stderr)),
        None => (Failure::Other, "no container".to_string()),
    };
    Check::failed(why, text, Duration::ZERO)
}
