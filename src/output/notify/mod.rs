//! Telling the outside world: each `--notify-url` when a pass did or found something
//! worth telling (a webhook gets the status line; Slack, Discord, Teams, ntfy, Gotify
//! and Telegram a message in words), and a ping to `--ping-url` (a dead man's switch in
//! the healthchecks.io convention) after every pass. All are bounded and retried once;
//! their failures become warnings, never a reason to skip or fail healing.

mod mail;
mod message;
mod service;

use std::time::Duration;

pub(crate) use message::Message;
pub(crate) use service::Service;

use crate::model::{HealthUrl, redact_text};

/// Bound on one notification or ping attempt.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(3);
/// Pause before the one retry.
pub(crate) const RETRY_DELAY: Duration = Duration::from_millis(500);

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
    /// POSTs `message` to `service` as JSON (a webhook gets `status_line`), each of its
    /// requests retried once. The error names the service, redacted.
    pub(crate) fn notify(&self, service: &Service, message: &Message, status_line: &[u8]) -> Result<(), String> {
        if let Some(mail) = service.mail() {
            return self
                .twice(|| mail.send(message, status_line, TIMEOUT))
                .map_err(|e| format!("notifying {}: {e}", service.display));
        }
        for post in service.posts(message, status_line) {
            self.twice(|| {
                let mut request = self.agent.post(&post.url).header("Content-Type", "application/json");
                if let Some(auth) = service.authorization() {
                    request = request.header("Authorization", auth);
                }
                for (name, value) in &post.headers {
                    request = request.header(*name, value);
                }
                request.send(&post.body[..]).map(drop)
            })
            .map_err(|e| format!("notifying {}: {}", service.display, hide(&e, &post.url, &service.display)))?;
        }
        Ok(())
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

    fn twice<E: std::fmt::Display>(&self, attempt: impl Fn() -> Result<(), E>) -> Result<(), String> {
        match attempt() {
            Ok(()) => Ok(()),
            Err(_) => {
                std::thread::sleep(RETRY_DELAY);
                attempt().map_err(|e| redact_text(&e.to_string()))
            }
        }
    }
}

/// An error as printed: the request URL (which holds a service's token) never shows.
fn hide(error: &str, url: &str, display: &str) -> String {
    error.replace(url, display)
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
