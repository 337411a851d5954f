//! Telling the outside world: each `--notify-url` when a pass did or found something
//! worth telling (a webhook gets the status line; Slack, Discord, Teams, ntfy, Gotify
//! and Telegram a message in words), and a ping to `--ping-url` (a dead man's switch in
//! the healthchecks.io convention) after every pass. All are bounded and retried once;
//! their failures become warnings, never a reason to skip or fail healing.

mod mail;
mod message;
mod service;
mod smtp;

use std::time::{Duration, Instant};

pub(crate) use message::Message;
pub(crate) use service::Service;
use ureq::unversioned::transport::DefaultConnector;

use crate::interrupt;
use crate::model::{HealthUrl, one_line, redact_text};
use crate::net::LiteralFirst;

/// Bound on one HTTP request of a notification or ping.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(3);
/// Bound on one notification or ping as a whole, its retry and (for mail) every step of
/// the SMTP session included: a receiver that keeps talking cannot hold a pass longer.
pub(crate) const DEADLINE: Duration = Duration::from_secs(8);
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

/// This host's name as the kernel has it (`uname -n`): what notifications say they come
/// from, and what a mail says hello with.
pub(crate) fn host_name() -> String {
    rustix::system::uname().nodename().to_string_lossy().into_owned()
}

/// "1st", "2nd", "3rd", "4th": a position in an error that must not echo the text.
pub(crate) fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// Sends notifications and pings. Unlike health checks, these go where the operator's
/// proxy settings say (HTTPS_PROXY...): they usually leave the host. No redirect is
/// followed (a POST would become a bodyless GET, and a token header would follow it to
/// another origin), and no lookup starts a thread the OS may refuse.
pub(crate) struct Sender {
    agent: ureq::Agent,
}

impl Default for Sender {
    fn default() -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .max_redirects(0)
            .http_status_as_error(false)
            .user_agent(concat!("healwatch/", env!("CARGO_PKG_VERSION")))
            .build();
        Self { agent: ureq::Agent::with_parts(config, DefaultConnector::default(), LiteralFirst) }
    }
}

impl Sender {
    /// POSTs `message` to `service` as JSON (a webhook gets `status_line`), each of its
    /// requests retried once, all of it done by `deadline`. Every request is made even
    /// when one fails (each Telegram chat gets its message); the error names the service
    /// and each failure, redacted.
    pub(crate) fn notify(
        &self,
        service: &Service,
        message: &Message,
        status_line: &[u8],
        deadline: Instant,
    ) -> Result<(), String> {
        if let Some(mail) = service.mail() {
            return twice(deadline, |by| mail.send(message, status_line, by))
                .map_err(|e| format!("notifying {}: {e}", service.display));
        }
        let posts = service.posts(message, status_line);
        let failures: Vec<String> = posts
            .iter()
            .filter_map(|post| {
                let sent = twice(deadline, |by| {
                    let mut request = self.agent.post(&post.url).config().timeout_global(Some(left(by))).build();
                    request = request.header("Content-Type", "application/json");
                    if let Some(auth) = service.authorization() {
                        request = request.header("Authorization", auth);
                    }
                    for (name, value) in &post.headers {
                        request = request.header(*name, value);
                    }
                    answered(request.send(&post.body[..]))
                });
                let why = sent.err()?.replace(&post.url, &service.display);
                Some(post.to.as_ref().map_or(why.clone(), |to| format!("{to}: {why}")))
            })
            .collect();
        if failures.is_empty() {
            return Ok(());
        }
        Err(format!("notifying {}: {}", service.display, failures.join("; ")))
    }

    /// GETs the ping URL for a pass that succeeded or not; one retry; done by `deadline`.
    pub(crate) fn ping(&self, url: &HealthUrl, success: bool, deadline: Instant) -> Result<(), String> {
        let target = ping_request(&url.request, success);
        twice(deadline, |by| {
            let mut request = self.agent.get(&target).config().timeout_global(Some(left(by))).build();
            if let Some(auth) = &url.authorization {
                request = request.header("Authorization", auth);
            }
            answered(request.call())
        })
        .map_err(|e| format!("pinging {}: {}", ping_request(&url.display, success), e.replace(&target, "…")))
    }
}

/// What is left until `deadline`, at most one request's bound.
fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now()).min(TIMEOUT)
}

/// A receiver's answer: 2xx is delivered; a redirect is a failure that says where it
/// points (its origin only: the rest may hold a token); anything else its status.
fn answered(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<(), String> {
    let response = response.map_err(|e| e.to_string())?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    if status.is_redirection() {
        let location = response.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or("");
        return Err(format!(
            "answered {} and points to {}: notifications follow no redirect, so write the new address in the URL",
            status.as_u16(),
            origin(location)
        ));
    }
    Err(format!("answered {}", status.as_u16()))
}

/// `scheme://host[:port]/…` of an absolute URL; "another path on the same host" else.
fn origin(location: &str) -> String {
    match location.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{}://{}/…", one_line(scheme, 10), one_line(host, 100))
        }
        None => "another path on the same host".to_string(),
    }
}

/// One attempt, and a second after `RETRY_DELAY` if the first failed and there is time
/// left and no signal came; each attempt gets the deadline.
fn twice(deadline: Instant, attempt: impl Fn(Instant) -> Result<(), String>) -> Result<(), String> {
    let first = attempt(deadline);
    let room = deadline.saturating_duration_since(Instant::now()) > RETRY_DELAY + Duration::from_millis(500);
    match first {
        Ok(()) => Ok(()),
        Err(e) if !room || interrupt::requested().is_some() => Err(redact_text(&e)),
        Err(_) => {
            interrupt::sleep(RETRY_DELAY);
            attempt(deadline).map_err(|e| redact_text(&e))
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

    #[test]
    fn positions_and_redirect_targets_say_no_secret() {
        let ordinals: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101].map(ordinal).to_vec();
        assert_eq!(ordinals, ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st"]);
        assert_eq!(origin("https://u:tok@evil.example:8443/x/SECRET?k=v"), "https://evil.example:8443/…");
        assert_eq!(origin("/new/SECRET"), "another path on the same host");
    }
}
