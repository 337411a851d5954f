//! Where a notification goes, written as the URL an operator already has: watchtower's
//! (shoutrrr's) notation for Slack, Discord, Teams, ntfy, Gotify and Telegram, or a plain
//! `https://` / `http://` webhook, which gets the status line as it always did. Each URL
//! is parsed once into the requests it makes; its secrets never reach the printable form,
//! and an error names the scheme, never the URL.

use anyhow::{Result, bail};
use serde_json::json;

use super::mail::Mail;
use super::message::Message;
use crate::model::{HealthUrl, MASK};

/// Discord cuts a message's content at this many characters.
const DISCORD_LIMIT: usize = 2_000;
/// Telegram's limit on a message's text.
const TELEGRAM_LIMIT: usize = 4_096;
/// ntfy's limit on a message (bytes); Gotify's and Slack's are larger, and held to it too.
const NTFY_LIMIT: usize = 4_096;
/// An Adaptive Card's payload is limited to about 28 KB; its lines are held well under.
const TEAMS_LIMIT: usize = 16_000;
/// Where the services with a fixed host live; `?api=URL` replaces it (a stand-in, a relay).
const SLACK_API: &str = "https://hooks.slack.com";
const DISCORD_API: &str = "https://discord.com";
const TELEGRAM_API: &str = "https://api.telegram.org";

/// One place notifications go.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Service {
    kind: Kind,
    /// Where the requests go, credentials apart.
    url: HealthUrl,
    /// Gotify's application token, sent as `X-Gotify-Key`.
    key: Option<String>,
    /// Telegram's chats; ntfy's topic.
    to: Vec<String>,
    /// As printed: secrets masked.
    pub display: String,
}

/// The services, each with its own payload.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// `https://…`: the status line as JSON, unchanged.
    Webhook,
    Slack,
    Discord,
    Teams,
    Ntfy,
    Gotify,
    Telegram,
    /// `smtp://…`: a mail to this relay (no POST; `url` is only its printable form).
    Smtp(Box<Mail>),
}

/// One HTTP POST a notification makes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Post {
    pub url: String,
    /// Header name and value pairs besides `Content-Type: application/json`.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// Whom it is for, when a service makes one per recipient (a Telegram chat).
    pub to: Option<String>,
}

impl Service {
    /// Parses a notification URL; the error says what to write, without the URL's secrets.
    pub(crate) fn parse(raw: &str) -> Result<Self> {
        let (scheme, rest) = raw.split_once("://").map_or((String::new(), ""), |(s, r)| (s.to_ascii_lowercase(), r));
        let shown = if scheme.is_empty() { "it".to_string() } else { format!("'{scheme}://…'") };
        let (head, query) = split_query(rest);
        let parsed = match scheme.as_str() {
            "http" | "https" => HealthUrl::parse_secret_path(raw).map(|url| Self::new(Kind::Webhook, url)),
            "slack" => slack(head, &query),
            "discord" => discord(head, &query),
            "teams" => teams(head, &query),
            "ntfy" => ntfy(head, &query),
            "gotify" => gotify(head, &query),
            "telegram" => telegram(head, &query),
            "smtp" => Mail::parse(rest).map(|(mail, display)| {
                let url = HealthUrl { request: String::new(), display, authorization: None };
                Self::new(Kind::Smtp(Box::new(mail)), url)
            }),
            _ => bail!(
                "{shown} is not a notification URL: write https://… (a webhook that gets the status line), \
                 or slack://, discord://, teams://, ntfy://, gotify://, telegram:// or smtp:// (docs/alerting.md)"
            ),
        };
        parsed.map_err(|e| anyhow::anyhow!("{shown}: {e:#}"))
    }

    fn new(kind: Kind, url: HealthUrl) -> Self {
        let display = url.display.clone();
        Self { kind, url, key: None, to: Vec::new(), display }
    }

    /// The relay, for a mail (`smtp://`); `None` for a service reached by POSTs.
    pub(crate) fn mail(&self) -> Option<&Mail> {
        match &self.kind {
            Kind::Smtp(mail) => Some(mail),
            _ => None,
        }
    }

    /// The `Authorization` header its URL's userinfo gives (ntfy, a webhook).
    pub(crate) fn authorization(&self) -> Option<&str> {
        self.url.authorization.as_deref()
    }

    /// The POSTs that carry `message` (a webhook carries `status_line` instead).
    pub(crate) fn posts(&self, message: &Message, status_line: &[u8]) -> Vec<Post> {
        let post = |body: serde_json::Value| Post {
            url: self.url.request.clone(),
            headers: Vec::new(),
            body: bytes(&body),
            to: None,
        };
        let text = message.text_within(NTFY_LIMIT);
        match &self.kind {
            Kind::Webhook => {
                vec![Post { body: status_line.to_vec(), ..post(serde_json::Value::Null) }]
            }
            // Slack's control characters escaped, as its docs ask; no previews of links.
            Kind::Slack => vec![post(json!({
                "text": text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;"),
                "unfurl_links": false,
                "unfurl_media": false,
            }))],
            // No mention pings anyone, and no link is embedded (flag 4: SUPPRESS_EMBEDS).
            Kind::Discord => vec![post(json!({
                "content": message.text_within(DISCORD_LIMIT),
                "username": "healwatch",
                "allowed_mentions": { "parse": [] },
                "flags": 4,
            }))],
            Kind::Teams => vec![post(teams_card(message))],
            Kind::Ntfy => vec![post(json!({
                "topic": self.to.first(),
                "title": message.title,
                "message": text,
                "priority": message.priority,
                "tags": [if message.priority >= 4 { "rotating_light" } else { "white_check_mark" }],
            }))],
            Kind::Gotify => {
                let key = self.key.clone().unwrap_or_default();
                let body = json!({ "title": message.title, "message": text, "priority": message.priority * 2 });
                vec![Post { headers: vec![("X-Gotify-Key", key)], ..post(body) }]
            }
            Kind::Smtp(_) => Vec::new(),
            Kind::Telegram => self
                .to
                .iter()
                .map(|chat| Post {
                    to: Some(format!("chat {chat}")),
                    ..post(json!({
                        "chat_id": chat,
                        "text": message.text_within(TELEGRAM_LIMIT),
                        "link_preview_options": { "is_disabled": true },
                    }))
                })
                .collect(),
        }
    }
}

/// A Teams workflow's message: an Adaptive Card of one text block per line.
fn teams_card(message: &Message) -> serde_json::Value {
    let lines: Vec<serde_json::Value> = message
        .text_within(TEAMS_LIMIT)
        .lines()
        .map(|l| json!({ "type": "TextBlock", "text": l, "wrap": true }))
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": lines,
            },
        }],
    })
}

fn bytes(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// The part before `?`, and the query's `name=value` pairs.
fn split_query(rest: &str) -> (&str, Vec<(String, String)>) {
    let (head, query) = rest.split_once('?').unwrap_or((rest, ""));
    let pairs = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (head, pairs)
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Only the parameters `allowed`: any other is a typo, said as one.
/// Never echoed: a `?` left unencoded in a token puts the token's tail in a name here.
fn only(query: &[(String, String)], allowed: &[&str]) -> Result<()> {
    match query.iter().position(|(k, _)| !allowed.iter().any(|a| k.eq_ignore_ascii_case(a))) {
        Some(_) if allowed.is_empty() => bail!("takes no parameter"),
        Some(n) => bail!("its {} parameter is not one it takes: {}", super::ordinal(n + 1), allowed.join(", ")),
        None => Ok(()),
    }
}

/// A token of the characters `ok` allows, at least one.
fn token<'a>(text: &'a str, what: &str, ok: impl Fn(u8) -> bool) -> Result<&'a str> {
    if text.is_empty() || !text.bytes().all(ok) {
        bail!("its {what} is missing or has a character it cannot have");
    }
    Ok(text)
}

fn word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// The base URL of a service with a fixed host: `?api=URL` when given.
fn api(query: &[(String, String)], fixed: &str) -> Result<String> {
    match param(query, "api") {
        Some(base) => Ok(url(base)?.request.trim_end_matches('/').to_string()),
        None => Ok(fixed.to_string()),
    }
}

/// `slack://hook:T-B-SECRET@webhook` (watchtower's form) or `slack://T/B/SECRET`: an
/// incoming webhook.
fn slack(head: &str, query: &[(String, String)]) -> Result<Service> {
    only(query, &["api"])?;
    let tokens: Vec<&str> = match head.strip_prefix("hook:").and_then(|h| h.strip_suffix("@webhook")) {
        Some(hook) => hook.splitn(3, '-').collect(),
        None => head.trim_end_matches('/').split('/').collect(),
    };
    let [team, bot, secret] = tokens.as_slice() else {
        bail!("write slack://hook:T000-B000-XXXX@webhook or slack://T000/B000/XXXX (the webhook's three tokens)");
    };
    let alnum = |b: u8| b.is_ascii_alphanumeric();
    let (team, bot, secret) =
        (token(team, "team", alnum)?, token(bot, "channel", alnum)?, token(secret, "token", alnum)?);
    let url = url(&format!("{}/services/{team}/{bot}/{secret}", api(query, SLACK_API)?))?;
    Ok(Service { display: format!("slack://hook:{MASK}@webhook"), ..Service::new(Kind::Slack, url) })
}

/// `discord://TOKEN@ID`: a channel's webhook.
fn discord(head: &str, query: &[(String, String)]) -> Result<Service> {
    only(query, &["api"])?;
    let Some((secret, id)) = head.trim_end_matches('/').split_once('@') else {
        bail!("write discord://TOKEN@WEBHOOK_ID (from the webhook URL …/webhooks/WEBHOOK_ID/TOKEN)");
    };
    let secret = token(secret, "token", word)?;
    let id = token(id, "webhook id", |b| b.is_ascii_digit())?;
    let url = url(&format!("{}/api/webhooks/{id}/{secret}", api(query, DISCORD_API)?))?;
    Ok(Service { display: format!("discord://{MASK}@{id}"), ..Service::new(Kind::Discord, url) })
}

/// `teams://HOST/PATH?QUERY`: a Workflows webhook, its `https://` URL with the scheme
/// changed (its query carries the signature, sent on as it is; `api=URL` in it replaces
/// `https://HOST`).
fn teams(head: &str, query: &[(String, String)]) -> Result<Service> {
    let (host, path) = head.split_once('/').unwrap_or((head, ""));
    let base = match param(query, "api") {
        Some(_) => api(query, "")?,
        None => format!("https://{host}"),
    };
    let rest: Vec<String> =
        query.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("api")).map(|(k, v)| format!("{k}={v}")).collect();
    let rest = if rest.is_empty() { String::new() } else { format!("?{}", rest.join("&")) };
    let url = HealthUrl::parse(&format!("{base}/{path}{rest}"))
        .ok()
        .filter(|_| !host.is_empty())
        .ok_or_else(|| anyhow::anyhow!("write teams:// and the rest of the workflow's https:// URL"))?;
    Ok(Service { display: format!("teams://{host}/{MASK}"), ..Service::new(Kind::Teams, url) })
}

/// `ntfy://[USER:PASS@]HOST[:PORT][/PREFIX]/TOPIC[?scheme=http]`.
fn ntfy(head: &str, query: &[(String, String)]) -> Result<Service> {
    only(query, &["scheme"])?;
    let scheme = scheme_of(query)?;
    let Some((base, topic)) = head.trim_end_matches('/').rsplit_once('/') else {
        bail!("write ntfy://[USER:PASS@]HOST[:PORT]/TOPIC");
    };
    let topic = token(topic, "topic", word)?;
    let url = url(&format!("{scheme}://{base}/"))?;
    let display =
        format!("ntfy://{}/{topic}", url.display.split_once("://").map_or("", |(_, r)| r.trim_end_matches('/')));
    Ok(Service { to: vec![topic.to_string()], display, ..Service::new(Kind::Ntfy, url) })
}

/// `gotify://HOST[:PORT][/PATH]/TOKEN[?disabletls=yes]`.
fn gotify(head: &str, query: &[(String, String)]) -> Result<Service> {
    only(query, &["disabletls"])?;
    let scheme = match param(query, "disabletls") {
        None | Some("no") => "https",
        Some("yes") => "http",
        Some(_) => bail!("disabletls is 'yes' or 'no'"),
    };
    let Some((base, key)) = head.trim_end_matches('/').rsplit_once('/') else {
        bail!("write gotify://HOST[:PORT]/APP_TOKEN");
    };
    let key = token(key, "application token", |b| word(b) || b == b'.')?;
    if base.contains('@') {
        bail!("takes its token in the path, not a user: write gotify://HOST[:PORT]/APP_TOKEN");
    }
    let url = url(&format!("{scheme}://{base}/message"))?;
    let display = format!("gotify://{base}/{MASK}");
    Ok(Service { key: Some(key.to_string()), display, ..Service::new(Kind::Gotify, url) })
}

/// `telegram://TOKEN@telegram?chats=@CHANNEL,CHAT_ID`: a bot's messages.
fn telegram(head: &str, query: &[(String, String)]) -> Result<Service> {
    only(query, &["chats", "api"])?;
    let Some(secret) = head.trim_end_matches('/').strip_suffix("@telegram") else {
        bail!("write telegram://BOT_TOKEN@telegram?chats=@CHANNEL,CHAT_ID");
    };
    let secret = token(secret, "bot token", |b| word(b) || b == b':')?;
    let chats: Vec<String> =
        param(query, "chats").unwrap_or_default().split(',').filter(|c| !c.is_empty()).map(str::to_string).collect();
    if chats.is_empty() {
        bail!("names no chat: add ?chats=@CHANNEL or ?chats=CHAT_ID (several with commas)");
    }
    for (n, chat) in chats.iter().enumerate() {
        let name = chat.strip_prefix('@').map(|n| n.bytes().all(word) && !n.is_empty());
        let id = chat.strip_prefix('-').unwrap_or(chat).bytes().all(|b| b.is_ascii_digit());
        if !name.unwrap_or(id) {
            bail!("its {} chat is neither @CHANNEL nor a number", super::ordinal(n + 1));
        }
    }
    let url = url(&format!("{}/bot{secret}/sendMessage", api(query, TELEGRAM_API)?))?;
    let display = format!("telegram://{MASK}@telegram?chats={}", chats.join(","));
    Ok(Service { to: chats, display, ..Service::new(Kind::Telegram, url) })
}

/// `text` as a URL; its error never echoes it (a token may be in its path).
fn url(text: &str) -> Result<HealthUrl> {
    HealthUrl::parse(text).map_err(|_| anyhow::anyhow!("its host, port or path cannot be in a URL as written"))
}

/// `?scheme=http` for a plain-HTTP server, else HTTPS.
fn scheme_of(query: &[(String, String)]) -> Result<&'static str> {
    match param(query, "scheme") {
        None | Some("https") => Ok("https"),
        Some("http") => Ok("http"),
        Some(_) => bail!("scheme is 'http' or 'https'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Message {
        Message { title: "web restarted".into(), lines: vec!["web restarted".into()], priority: 3 }
    }

    fn body(s: &Service) -> serde_json::Value {
        serde_json::from_slice(&s.posts(&message(), b"{}")[0].body).unwrap()
    }

    #[test]
    fn each_service_url_becomes_its_request_and_prints_without_its_secret() {
        let cases = [
            (
                "slack://hook:T01-B02-s3cr3t@webhook",
                "https://hooks.slack.com/services/T01/B02/s3cr3t",
                "slack://hook:***@webhook",
            ),
            ("slack://T01/B02/s3cr3t", "https://hooks.slack.com/services/T01/B02/s3cr3t", "slack://hook:***@webhook"),
            (
                "discord://s3cr3t-x_y@123456",
                "https://discord.com/api/webhooks/123456/s3cr3t-x_y",
                "discord://***@123456",
            ),
            (
                "teams://prod.example.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=s3cr3t",
                "https://prod.example.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=s3cr3t",
                "teams://prod.example.logic.azure.com:443/***",
            ),
            (
                "ntfy://ops:s3cr3t@ntfy.example:8080/alerts?scheme=http",
                "http://ntfy.example:8080/",
                "ntfy://ops:***@ntfy.example:8080/alerts",
            ),
            ("ntfy://ntfy.sh/alerts", "https://ntfy.sh/", "ntfy://ntfy.sh/alerts"),
            (
                "gotify://push.example/gw/As3cr3t.x?disabletls=yes",
                "http://push.example/gw/message",
                "gotify://push.example/gw/***",
            ),
            (
                "telegram://123:s3cr3t@telegram?chats=@ops,-100200",
                "https://api.telegram.org/bot123:s3cr3t/sendMessage",
                "telegram://***@telegram?chats=@ops,-100200",
            ),
            (
                "https://hooks.example/services/s3cr3t",
                "https://hooks.example/services/s3cr3t",
                "https://hooks.example/***",
            ),
            (
                "smtp://ops:s3cr3t@mail.example/?from=a@b.example&to=c@d.example",
                "",
                "smtp://ops:***@mail.example:587/?to=c@d.example",
            ),
        ];
        for (raw, request, display) in cases {
            let s = Service::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e:#}"));
            assert_eq!((s.url.request.as_str(), s.display.as_str()), (request, display), "{raw}");
            assert!(!s.display.contains("s3cr3t"), "{raw}");
        }
    }

    #[test]
    fn the_payloads_are_each_services_own() {
        let slack = Service::parse("slack://T01/B02/x").unwrap();
        assert_eq!(body(&slack)["text"], "web restarted");
        assert_eq!(body(&slack)["unfurl_links"], false);
        let loud = Message { lines: vec!["<!channel> & <https://x.example|click>".into()], ..message() };
        let text = serde_json::from_slice::<serde_json::Value>(&slack.posts(&loud, b"")[0].body).unwrap();
        assert_eq!(text["text"], "&lt;!channel&gt; &amp; &lt;https://x.example|click&gt;", "Slack's controls escaped");
        let discord = Service::parse("discord://t@1").unwrap();
        assert_eq!(body(&discord)["content"], "web restarted");
        assert_eq!(body(&discord)["allowed_mentions"], json!({ "parse": [] }), "no mention pings anyone");
        let teams = Service::parse("teams://h.example/p").unwrap();
        assert_eq!(body(&teams)["attachments"][0]["content"]["body"][0]["text"], "web restarted");
        let ntfy = Service::parse("ntfy://:tk_s3cr3t@h.example/alerts").unwrap();
        assert_eq!((body(&ntfy)["topic"].as_str(), body(&ntfy)["priority"].as_u64()), (Some("alerts"), Some(3)));
        assert!(ntfy.authorization().is_some_and(|a| a.starts_with("Basic ")));
        let gotify = Service::parse("gotify://h.example/APPTOKEN").unwrap();
        let posts = gotify.posts(&message(), b"");
        assert_eq!(posts[0].headers, [("X-Gotify-Key", "APPTOKEN".to_string())]);
        assert_eq!(body(&gotify)["priority"], 6);
        let telegram = Service::parse("telegram://1:t@telegram?chats=@a,42").unwrap();
        let chats: Vec<serde_json::Value> = telegram
            .posts(&message(), b"")
            .iter()
            .map(|p| serde_json::from_slice::<serde_json::Value>(&p.body).unwrap()["chat_id"].clone())
            .collect();
        assert_eq!(chats, [json!("@a"), json!("42")]);
        let webhook = Service::parse("https://h.example/hook").unwrap();
        assert_eq!(webhook.posts(&message(), b"{\"line\":1}")[0].body, b"{\"line\":1}");
    }

    #[test]
    fn a_fixed_host_can_be_pointed_elsewhere_with_api() {
        let s = Service::parse("slack://T01/B02/x?api=http://127.0.0.1:9/").unwrap();
        assert_eq!(s.url.request, "http://127.0.0.1:9/services/T01/B02/x");
        let t = Service::parse("telegram://1:t@telegram?chats=5&api=http://127.0.0.1:9").unwrap();
        assert_eq!(t.url.request, "http://127.0.0.1:9/bot1:t/sendMessage");
    }

    #[test]
    fn a_wrong_url_says_what_to_write_and_never_echoes_a_secret() {
        let cases = [
            ("smtp2://user:s3cr3t@h", "is not a notification URL"),
            ("slack://T01/s3cr3t", "write slack://hook:T000-B000-XXXX@webhook"),
            ("slack://T01/B02/s3cr3t?chanel=x", "its 1st parameter is not one it takes: api"),
            // A `?` left unencoded in a token: its tail is neither a parameter nor echoed.
            ("telegram://1:s3cr?3tTAIL@telegram?chats=5", "its 1st parameter is not one it takes"),
            ("https://hooks.example/services/T0/s3cr3t here", "'https://hooks.example/***' has a space"),
            ("telegram://1:t@telegram?chats=s3cr3t", "its 1st chat is neither @CHANNEL nor a number"),
            ("discord://s3cr3t", "write discord://TOKEN@WEBHOOK_ID"),
            ("discord://s3cr3t@abc", "its webhook id is missing or has a character"),
            ("ntfy://h.example/al erts", "its topic"),
            ("ntfy://h.example/alerts?scheme=ftp", "scheme is 'http' or 'https'"),
            ("gotify://u:s3cr3t@h.example/T", "not a user"),
            ("telegram://1:s3cr3t@telegram", "names no chat"),
            ("telegram://1:s3cr3t@telegram?chats=ops", "neither @CHANNEL nor a number"),
            ("teams://", "write teams://"),
        ];
        for (raw, want) in cases {
            let err = format!("{:#}", Service::parse(raw).unwrap_err());
            assert!(err.contains(want), "{raw}: {err}");
            assert!(!err.contains("s3cr3t") && !err.contains("3tTAIL"), "{raw}: {err}");
        }
    }
}
