//! Health checks, one file per kind: HTTP and TCP through the `Probe` seam (so the pass
//! runs in unit tests with a fake), a command in the container, its logs, and Docker's
//! own HEALTHCHECK. A failing check is data (`Check::error`), never an `Err`.

mod docker_health;
mod exec;
mod http;
mod logs;
mod tcp;

use std::time::Duration;

use crate::clock::Clock;
use crate::config::{HealthCheck, Target};
use crate::docker::Containers;
use crate::model::show_ms;

pub(crate) use docker_health::{UNHEALTHY_AFTER_RESTART, docker_health_check, docker_recovery_check, running_check};
pub(crate) use http::HttpProbe;
pub(crate) use logs::{FIRST_LOG_WINDOW, log_check};

/// The result of one HTTP attempt. A failing check is data, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Check {
    /// Status code, when the server answered at all.
    pub http_status: Option<u16>,
    /// From the start of the request to the last byte read (or the failure).
    pub latency: Duration,
    /// Why the check failed; `None` means healthy.
    pub error: Option<String>,
}

impl Check {
    /// Whether the target answered as expected.
    pub(crate) fn healthy(&self) -> bool {
        self.error.is_none()
    }

    /// Whether the attempt got no answer in time: a hung service, not a refused or a
    /// wrong answer.
    pub(crate) fn timed_out(&self) -> bool {
        self.error.as_deref().is_some_and(|e| e.starts_with(NO_ANSWER))
    }
}

/// How every "no answer in time" error begins (see `Check::timed_out`).
const NO_ANSWER: &str = "timeout after ";

/// The error of an attempt that got no answer within `timeout`.
pub(crate) fn no_answer(timeout: Duration) -> String {
    format!("{NO_ANSWER}{}", show_ms(timeout))
}

/// Something that can check a target once, within `timeout`.
pub(crate) trait Probe: Sync {
    /// Makes one attempt; never takes (much) longer than `timeout`.
    fn check(&self, target: &Target, timeout: Duration) -> Check;
}

/// One attempt of a check that can be retried: HTTP or TCP through the probe, a command
/// through `docker exec`.
pub(crate) fn attempt(probe: &dyn Probe, docker: Option<&dyn Containers>, target: &Target, timeout: Duration) -> Check {
    match (&target.health, docker) {
        (HealthCheck::Exec(argv), Some(docker)) => exec::exec_check(docker, target, argv, timeout),
        (HealthCheck::Exec(_), None) => Check {
            http_status: None,
            latency: Duration::ZERO,
            error: Some("an exec check needs the docker CLI".to_string()),
        },
        _ => probe.check(target, timeout),
    }
}

/// The blip rule: one attempt plus up to `retries` more, `retry_delay` apart, stopping at
/// the first healthy one, all within `decide_within` (each attempt's timeout is cut to
/// what is left). A target fails only when every attempt made failed, so one slow or
/// failed answer followed by a good one is healthy; with the defaults a 503 is decided
/// in about 0.5 s (three attempts) and a hung endpoint in 5 s. `first` is an attempt a
/// watch already made, and how long ago it started: it counts as the first attempt.
pub(crate) fn check_with_retries(
    attempt: &dyn Fn(Duration) -> Check,
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
