//! Health checks, one file per kind: HTTP and TCP through the `Probe` seam (so the pass
//! runs in unit tests with a fake), a command in the container, its logs, and Docker's
//! own HEALTHCHECK. A failing check is data (`Check::error`), never an `Err`.

mod describe;
mod docker_health;
mod exchange;
mod exec;
mod http;
mod logs;
mod tcp;

use std::time::Duration;

use crate::clock::Clock;
use crate::config::{HealthCheck, HttpCheck, Target};
use crate::docker::Containers;
use crate::model::show_ms;

pub(crate) use docker_health::{confirm_unhealthy, docker_health_check, docker_recovery_check};
pub(crate) use http::HttpProbe;
pub(crate) use logs::{FIRST_LOG_WINDOW, log_check};

/// The result of one attempt. A failing check is data, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Check {
    /// Status code, when the server answered at all.
    pub(crate) http_status: Option<u16>,
    /// From the start of the request to the last byte read (or the failure).
    pub(crate) latency: Duration,
    /// Why the check failed; `None` means healthy.
    pub(crate) error: Option<Failed>,
}

/// Why a check failed: what kind of failure, and the words the status line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failed {
    /// What kind of failure it was: what the pass decides by.
    pub(crate) why: Failure,
    /// What people read (`timeout after 2s`, `status 503 not in 200-399`).
    pub(crate) text: String,
}

/// The kinds of failure the pass tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No answer within the timeout: a hung (or stopped) process, worth a SIGCONT first.
    Hung,
    /// The connection was refused, reset or closed, or its name or TLS failed.
    Connection,
    /// An HTTP status outside `expect_status`.
    Status,
    /// The answer lacks `expect_body` or `expect`.
    Body,
    /// The command in the container failed.
    Exec,
    /// A new log line matched `log_pattern`.
    Log,
    /// Docker's HEALTHCHECK says unhealthy.
    DockerUnhealthy,
    /// A command in the container that the engine never started (in time): an exec
    /// check's, or healwatch's own run of a HEALTHCHECK that Docker says is unhealthy. On
    /// a busy engine Docker's probe may have timed out for the same reason, so this is
    /// not yet evidence to restart on.
    Unconfirmed,
    /// The target cannot be checked as configured (its logs are kept by a logging driver
    /// nobody can read back): reported, never acted on.
    Uncheckable,
    /// Docker's first probe after the restart said unhealthy: the restart did not help.
    UnhealthyAfterRestart,
    /// A container of the target is paused, or not running.
    Container,
    /// It runs in a network namespace its provider no longer has (the provider restarted
    /// under it), or the engine could not start it while its provider was down.
    Provider,
    /// The engine's API, or a socket proxy before it, refused the call the check needs
    /// (an exec behind a proxy that allows reads only): reported, never acted on.
    Refused,
    /// Anything else (no container, no docker CLI, not a network check).
    Other,
}

impl Check {
    /// A healthy attempt that took `latency`.
    pub(crate) fn passed(http_status: Option<u16>, latency: Duration) -> Self {
        Self { http_status, latency, error: None }
    }

    /// A failed attempt.
    pub(crate) fn failed(why: Failure, text: impl Into<String>, latency: Duration) -> Self {
        Self { http_status: None, latency, error: Some(Failed { why, text: text.into() }) }
    }

    /// Whether the target answered as expected.
    pub(crate) fn healthy(&self) -> bool {
        self.error.is_none()
    }

    /// Whether the attempt got no answer in time: a hung service, not a refused or a
    /// wrong answer.
    pub(crate) fn timed_out(&self) -> bool {
        self.failed_with(Failure::Hung)
    }

    /// Whether it failed for `why`.
    pub(crate) fn failed_with(&self, why: Failure) -> bool {
        self.error.as_ref().is_some_and(|e| e.why == why)
    }

    /// Why it failed, as the status line says it.
    pub(crate) fn error_text(&self) -> Option<String> {
        self.error.as_ref().map(|e| e.text.clone())
    }
}

/// The error of an attempt that got no answer within `timeout`.
pub(crate) fn no_answer(timeout: Duration) -> String {
    format!("timeout after {}", show_ms(timeout))
}

/// Something that can GET a target's health URL once, within `timeout`: the seam the
/// pass's unit tests script.
pub(crate) trait Probe: Sync {
    /// Makes one request for `target`'s `http` check; never takes (much) longer than
    /// `timeout`.
    fn check(&self, target: &Target, http: &HttpCheck, timeout: Duration) -> Check;
}

/// One look at a target now, within `timeout`: the one place each kind's look is
/// chosen. HTTP through the probe, TCP, a command through `docker exec` (these are the
/// attempts the blip rule retries), Docker's HEALTHCHECK status as the engine says it
/// now, and for a target that only watches its logs, whether its container runs.
pub(crate) fn attempt(probe: &dyn Probe, docker: Option<&dyn Containers>, target: &Target, timeout: Duration) -> Check {
    let needs = |what: &str| Check::failed(Failure::Other, format!("{what} needs the docker CLI"), Duration::ZERO);
    match (&target.health, docker) {
        (HealthCheck::Http(http), _) => probe.check(target, http, timeout),
        (HealthCheck::Tcp(tcp), _) => tcp::tcp_check(tcp, timeout),
        (HealthCheck::Exec(argv), Some(docker)) => exec::exec_check(docker, target, argv, timeout),
        (HealthCheck::Exec(_), None) => needs("an exec check"),
        (HealthCheck::Docker, Some(docker)) => docker_health::docker_now_check(docker, target),
        (HealthCheck::Logs | HealthCheck::Provider, Some(docker)) => docker_health::running_check(docker, target),
        (HealthCheck::Docker | HealthCheck::Logs | HealthCheck::Provider, None) => needs("this check"),
    }
}

/// The blip rule: one attempt plus up to `retries` more, `retry_delay` apart, stopping at
/// the first healthy one, all within `decide_within` (each attempt's timeout is cut to
/// what is left). A target fails only when every attempt made failed, so one slow or
/// failed answer followed by a good one is healthy; with the defaults a 503 is decided
/// in about 0.2 s (three attempts) and a hung endpoint in 5 s. `first` is an attempt a
/// watch already made, and how long ago it started: it counts as the first attempt.
/// When the first attempt got no answer (hung, refused, or the exec could not run),
/// `decided` may say waiting cannot help (Docker reports the container paused, exited or
/// dead): that check is the answer, with no retries. An answer that was wrong (a status,
/// a body) came from a running process, so Docker is not asked.
pub(crate) fn check_with_retries(
    attempt: &dyn Fn(Duration) -> Check,
    decided: &dyn Fn() -> Option<Check>,
    clock: &dyn Clock,
    target: &Target,
    first: Option<(&Check, Duration)>,
) -> (Check, u32) {
    let settings = &target.settings;
    let spent = first.map_or(Duration::ZERO, |(_, spent)| spent);
    let start = clock.elapsed();
    let left = || settings.decide_within.saturating_sub(clock.elapsed().saturating_sub(start) + spent);
    let mut attempts = 1;
    let mut check = match first {
        Some((check, _)) => check.clone(),
        None => attempt(settings.timeout.min(left()).max(MIN_ATTEMPT)),
    };
    let unanswered = [Failure::Hung, Failure::Connection, Failure::Exec].iter().any(|&why| check.failed_with(why));
    if unanswered && let Some(decided) = decided() {
        return (decided, attempts);
    }
    while !check.healthy() && attempts <= settings.retries && !clock.interrupted() {
        // No attempt squeezed into the deadline's last instant: it could only time out.
        if left() < settings.retry_delay + MIN_ATTEMPT {
            break;
        }
        clock.sleep(settings.retry_delay);
        attempts += 1;
        check = attempt(settings.timeout.min(left()).max(MIN_ATTEMPT));
    }
    (check, attempts)
}

/// The shortest attempt worth making.
const MIN_ATTEMPT: Duration = Duration::from_millis(50);
