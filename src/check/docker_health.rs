//! Docker's own HEALTHCHECK as a check, and what Docker says of a container after a
//! restart.

use std::time::Duration;

use super::Check;
use crate::config::Target;
use crate::docker::Containers;
use crate::model::{ContainerStatus, DockerHealth};

/// A Docker HEALTHCHECK status as a check: only `unhealthy` fails (`starting` is not yet a verdict).
pub(crate) fn docker_health_check(status: Option<&DockerHealth>, output: Option<&str>) -> Check {
    let error = match status {
        Some(DockerHealth::Unhealthy) => Some(match output {
            Some(out) => format!("docker health unhealthy: {out}"),
            None => "docker health unhealthy".to_string(),
        }),
        _ => None,
    };
    Check { http_status: None, latency: Duration::ZERO, error }
}

/// A target that only watches its logs has recovered once its container runs again.
pub(crate) fn running_check(docker: &dyn Containers, target: &Target) -> Check {
    let error = target.container_refs().iter().find_map(|c| match docker.state(c) {
        Ok(state) if state.status == ContainerStatus::Running => None,
        Ok(state) => Some(format!("container {} is {}", c.name, state.status)),
        Err(out) => Some(format!("docker inspect: {}", out.stderr)),
    });
    Check { http_status: None, latency: Duration::ZERO, error }
}

/// Docker's first probe after a restart failed: the restart did not help.
pub(crate) const UNHEALTHY_AFTER_RESTART: &str = "docker health unhealthy after the restart";

/// After a restart Docker says `starting` until its first probe: only `healthy` is recovered.
pub(crate) fn docker_recovery_check(docker: &dyn Containers, target: &Target) -> Check {
    let error = match target.container_refs().first().map(|c| docker.health(c)) {
        Some(Ok(Some(DockerHealth::Healthy))) => None,
        Some(Ok(Some(DockerHealth::Unhealthy))) => Some(UNHEALTHY_AFTER_RESTART.to_string()),
        Some(Ok(status)) => Some(format!("docker health {}", status.as_ref().map_or("none", DockerHealth::as_str))),
        Some(Err(out)) => Some(format!("docker inspect: {}", out.stderr)),
        None => Some("no container".to_string()),
    };
    Check { http_status: None, latency: Duration::ZERO, error }
}
