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

/// A target that only watches its logs has recovered once its container runs again.
pub(crate) fn running_check(docker: &dyn Containers, target: &Target) -> Check {
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
