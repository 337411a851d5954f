//! Telling the outside world: POST the status line to `--notify-url` when a pass did or
//! found something worth telling, and ping `--ping-url` (a dead man's switch in the
//! healthchecks.io convention) after every pass. Both are bounded and retried once;
//! their failures become warnings, never a reason to skip or fail healing.

use std::time::Duration;

use crate::model::{HealthUrl, Outcome, redact_text};
use crate::output::report::Report;

/// Bound on one notification or ping attempt.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(3);
/// Pause before the one retry.
pub(crate) const RETRY_DELAY: Duration = Duration::from_millis(500);

/// Whether a target that changed in this pass has an outcome in `notify_on`: a known,
/// unchanged problem (a target given up on, a pause) is notified once, not every pass.
pub(crate) fn should_notify(report: &Report, notify_on: &[Outcome]) -> bool {
    report
        .targets
        .iter()
        .any(|t| notify_on.contains(&t.result.outcome) && report.changes.iter().any(|(name, _)| *name == t.result.name))
}

/// The ping for a pass: `URL` after success, `URL/fail` otherwise (before any query string).
pub(crate) fn ping_request(url: &str, success: bool) -> String {
    if success {
        return url.to_string();
    }
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let fail = format!("{}/fail", base.trim_end_matches('/'));
    match query {
        Some(q) => format!("{fail}?{q}"),
        None => fail,
    }
}

/// Sends notifications and pings. Unlike health checks, these go where the operator's
/// proxy settings say (HTTPS_PROXY...): they usually leave the host.
pub(crate) struct Sender {
    agent: ureq::Agent,
}

impl Default for Sender {
    fn default() -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .max_redirects(3)
            .user_agent(concat!("healwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Self { agent }
    }
}

impl Sender {
    /// POSTs `body` (the status line) as JSON; one retry. The error names the URL, redacted.
    pub(crate) fn notify(&self, url: &HealthUrl, body: &[u8]) -> Result<(), String> {
        self.twice(|| {
            let mut request = self.agent.post(&url.request).header("Content-Type", "application/json");
            if let Some(auth) = &url.authorization {
                request = request.header("Authorization", auth);
            }
            request.send(body).map(drop)
        })
        .map_err(|e| format!("notifying {}: {e}", url.display))
    }

    /// GETs the ping URL for a pass that succeeded or not; one retry.
    pub(crate) fn ping(&self, url: &HealthUrl, success: bool) -> Result<(), String> {
        let target = ping_request(&url.request, success);
        self.twice(|| {
            let mut request = self.agent.get(&target);
            if let Some(auth) = &url.authorization {
                request = request.header("Authorization", auth);
            }
            request.call().map(drop)
        })
        .map_err(|e| format!("pinging {}: {e}", ping_request(&url.display, success)))
    }

    fn twice(&self, attempt: impl Fn() -> Result<(), ureq::Error>) -> Result<(), String> {
        match attempt() {
            Ok(()) => Ok(()),
            Err(_) => {
                std::thread::sleep(RETRY_DELAY);
                attempt().map_err(|e| redact_text(&e.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_urls() {
        let cases = [
            ("https://hc-ping.com/abc", true, "https://hc-ping.com/abc"),
            ("https://hc-ping.com/abc", false, "https://hc-ping.com/abc/fail"),
            ("https://hc-ping.com/abc/", false, "https://hc-ping.com/abc/fail"),
            ("http://h/p?rid=1", false, "http://h/p/fail?rid=1"),
        ];
        for (url, success, want) in cases {
            assert_eq!(ping_request(url, success), want);
        }
    }
}
