//! Exec checks: a command run in the container with `docker exec` (no shell).

use std::time::Duration;

use super::{Check, Failure};
use crate::config::Target;
use crate::docker::Containers;
use crate::model::one_line;

/// `docker exec` of the target's command: healthy on exit 0. Past `timeout` the docker
/// client and its process group are killed; the command inside the container may run on
/// until it ends by itself (docker has no way to stop an exec), so give it its own
/// bound where the image has one, e.g. exec = ["timeout", "2", "pg_isready"].
pub(super) fn exec_check(docker: &dyn Containers, target: &Target, argv: &[String], timeout: Duration) -> Check {
    let Some(container) = target.container_refs().into_iter().next() else {
        return Check::failed(Failure::Other, "no container", Duration::ZERO);
    };
    let out = docker.exec(&container, argv, timeout);
    if out.success() {
        return Check::passed(None, out.duration);
    }
    if out.refused {
        // Not the container's answer: the command never ran, and no wait changes that.
        return Check::failed(Failure::Refused, format!("exec: {}", one_line(out.stderr.trim(), 400)), out.duration);
    }
    if !out.ran {
        // The engine never started the command: no evidence either way, as for a
        // HEALTHCHECK's confirmation (held back until it has been so for a few passes).
        let text = format!("exec: the engine did not start the command: {}", one_line(out.stderr.trim(), 300));
        return Check::failed(Failure::Unconfirmed, text, out.duration);
    }
    let said = if out.stderr.is_empty() { out.stdout.clone() } else { out.stderr.clone() };
    let text = match out.exit_code {
        Some(code) => format!("exec exited {code}: {}", one_line(said.trim(), 300)),
        None => format!("exec: {}", one_line(said.trim(), 300)),
    };
    Check::failed(Failure::Exec, text, out.duration)
}
