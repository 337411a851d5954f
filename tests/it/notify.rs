//! Notifications by URL scheme, each against a stand-in receiver on 127.0.0.1 that
//! checks what it is sent the way that service's documented API does (its path, content
//! type, required fields and limits) and answers as the service would; the real binary
//! heals a broken target (the recording docker stand-in) and notifies.

use serde_json::Value;

use crate::util::{Behaviour, FakeDocker, Healwatch, Run, Server, write_file};

const FAST: [&str; 4] = ["--retries", "0", "--recovery-timeout", "0"];

/// A stand-in service: the status and body it answers a request's head and body with.
type Judge = fn(&str, &str) -> (u16, &'static str);

/// The head's header `name` (lower case), if sent.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The request's path, and its body as JSON when it was sent as JSON.
fn json_post(head: &str, body: &str) -> Option<(String, Value)> {
    let line = head.lines().next()?;
    let path = line.strip_prefix("POST ")?.split(' ').next()?.to_string();
    if !header(head, "content-type")?.starts_with("application/json") {
        return None;
    }
    Some((path, serde_json::from_str(body).ok()?))
}

fn text_of(v: &Value, field: &str) -> Option<usize> {
    v.get(field)?.as_str().map(|s| s.chars().count())
}

/// Slack: `POST /services/T/B/X`, JSON with a non-empty `text`; "ok" or 400.
fn slack(head: &str, body: &str) -> (u16, &'static str) {
    match json_post(head, body) {
        Some((path, v)) if path == "/services/T01/B02/s3cr3t" && text_of(&v, "text").is_some_and(|n| n > 0) => {
            (200, "ok")
        }
        Some(_) => (400, "no_text"),
        None => (400, "invalid_payload"),
    }
}

/// Discord: `POST /api/webhooks/ID/TOKEN`, JSON `content` of 1 to 2000 characters; 204.
fn discord(head: &str, body: &str) -> (u16, &'static str) {
    match json_post(head, body) {
        Some((path, v))
            if path == "/api/webhooks/123456/s3cr3t"
                && text_of(&v, "content").is_some_and(|n| (1..=2000).contains(&n)) =>
        {
            (204, "")
        }
        _ => (400, r#"{"message": "Cannot send an empty message", "code": 50006}"#),
    }
}

/// Teams Workflows: a message with one Adaptive Card attachment whose body has text; 202.
fn teams(head: &str, body: &str) -> (u16, &'static str) {
    let Some((path, v)) = json_post(head, body) else { return (400, "bad request") };
    let card = &v["attachments"][0];
    let ok = path.starts_with("/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=s3cr3t")
        && v["type"] == "message"
        && card["contentType"] == "application/vnd.microsoft.card.adaptive"
        && card["content"]["type"] == "AdaptiveCard"
        && card["content"]["body"][0]["text"].as_str().is_some_and(|t| !t.is_empty());
    if ok { (202, "") } else { (400, "bad request") }
}

/// ntfy: JSON published to the root, with a topic, a message and a priority 1 to 5, under
/// the user's Basic credentials; 200.
fn ntfy(head: &str, body: &str) -> (u16, &'static str) {
    // ops:s3cr3t
    if header(head, "authorization") != Some("Basic b3BzOnMzY3IzdA==") {
        return (401, r#"{"code":40101,"error":"unauthorized"}"#);
    }
    match json_post(head, body) {
        Some((path, v))
            if path == "/"
                && v["topic"] == "alerts"
                && text_of(&v, "message").is_some_and(|n| n > 0)
                && v["priority"].as_u64().is_some_and(|p| (1..=5).contains(&p)) =>
        {
            (200, r#"{"id":"x","event":"message"}"#)
        }
        _ => (400, r#"{"code":40001,"error":"invalid request"}"#),
    }
}

/// Gotify: `POST /message` with the app's key in `X-Gotify-Key`, JSON with a message; 200.
fn gotify(head: &str, body: &str) -> (u16, &'static str) {
    if header(head, "x-gotify-key") != Some("As3cr3t") {
        return (401, r#"{"error":"Unauthorized"}"#);
    }
    match json_post(head, body) {
        Some((path, v)) if path == "/gw/message" && text_of(&v, "message").is_some_and(|n| n > 0) => (200, "{}"),
        _ => (400, r#"{"error":"Bad Request"}"#),
    }
}

/// Telegram: `POST /botTOKEN/sendMessage`, JSON with `chat_id` and 1 to 4096 characters of
/// `text`; `{"ok":true}`.
fn telegram(head: &str, body: &str) -> (u16, &'static str) {
    match json_post(head, body) {
        Some((path, v))
            if path == "/bot123:s3cr3t/sendMessage"
                && (v["chat_id"] == "@ops" || v["chat_id"] == "-100200")
                && text_of(&v, "text").is_some_and(|n| (1..=4096).contains(&n)) =>
        {
            (200, r#"{"ok":true}"#)
        }
        _ => (400, r#"{"ok":false,"error_code":400}"#),
    }
}

/// One pass that restarts the broken target `name` (its service is `down`) and notifies
/// `url`.
fn heal_and_notify(url: &str, name: &str, down: &Server) -> Run {
    Healwatch::new()
        .docker(&FakeDocker::new().with_containers(&[name]))
        .args(FAST)
        .args(["--notify-url", url, "-t", &format!("{name}={}", down.url("/"))])
        .run()
}

/// Runs one pass that restarts a broken target and notifies `url` (with `{}` replaced by
/// the receiver's `host:port`); what the receiver got, and the status line.
fn notify(judge: Judge, url: &str) -> (Vec<(String, String, String)>, Value) {
    let down = Server::start(Behaviour::Fixed(503, "down"));
    let receiver = Server::start(Behaviour::Judge(judge));
    let url = url.replace("{}", &format!("127.0.0.1:{}", receiver.port));
    let run = heal_and_notify(&url, "web-2", &down);
    run.expect_code(0);
    let line = run.status_line();
    assert!(line.get("warnings").is_none(), "the receiver accepted it\n{run}");
    assert!(!run.stdout().contains("s3cr3t") && !run.stderr().contains("s3cr3t"), "{run}");
    (receiver.received(), line)
}

#[test]
fn each_service_gets_its_own_payload_and_accepts_it() {
    let cases: [(&str, Judge, &str); 6] = [
        ("slack", slack, "slack://hook:T01-B02-s3cr3t@webhook?api=http://{}"),
        ("discord", discord, "discord://s3cr3t@123456?api=http://{}"),
        (
            "teams",
            teams,
            "teams://h.example/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=s3cr3t&api=http://{}",
        ),
        ("ntfy", ntfy, "ntfy://ops:s3cr3t@{}/alerts?scheme=http"),
        ("gotify", gotify, "gotify://{}/gw/As3cr3t?disabletls=yes"),
        ("telegram", telegram, "telegram://123:s3cr3t@telegram?chats=@ops,-100200&api=http://{}"),
    ];
    for (name, judge, url) in cases {
        let (received, _) = notify(judge, url);
        let wanted = if name == "telegram" { 2 } else { 1 };
        assert_eq!(received.len(), wanted, "{name}: {received:?}");
        let said = received.iter().map(|r| r.2.clone()).collect::<String>();
        assert!(said.contains("web-2 restarted"), "{name}: {said}");
    }
}

#[test]
fn a_webhook_still_gets_the_status_line_beside_a_chat_service() {
    let down = Server::start(Behaviour::Fixed(503, "down"));
    let hook = Server::start(Behaviour::Fixed(200, "ok"));
    let chat = Server::start(Behaviour::Judge(slack));
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "healwatch.toml",
        &format!(
            "[defaults]\nnotify_url = [\"{}\", \"slack://T01/B02/s3cr3t?api={}\"]\n[[target]]\nname = \"web\"\nurl = \"{}\"\n",
            hook.url("/hook"),
            chat.url(""),
            down.url("/")
        ),
    );
    let docker = FakeDocker::new();
    let run = Healwatch::new().docker(&docker).args(FAST).arg("--config").arg(&config).run();
    run.expect_code(0);
    let posted: Value = serde_json::from_str(&hook.received()[0].2).unwrap();
    assert_eq!(posted, run.status_line(), "{run}");
    assert_eq!(chat.received().len(), 1, "{run}");
}

#[test]
fn a_service_that_refuses_is_a_warning_that_names_it_without_its_token() {
    let (received, line) = {
        let down = Server::start(Behaviour::Fixed(503, "down"));
        // A receiver that checks for another token: the request is refused.
        let receiver = Server::start(Behaviour::Judge(|_, _| (401, "unauthorized")));
        let url = format!("discord://wr0ngs3cr3t@42?api={}", receiver.url(""));
        let run = heal_and_notify(&url, "web", &down);
        run.expect_code(0);
        assert!(!run.stdout().contains("s3cr3t") && !run.stderr().contains("s3cr3t"), "{run}");
        (receiver.received(), run.status_line())
    };
    assert_eq!(received.len(), 2, "one retry");
    let warnings = line["warnings"].to_string();
    assert!(warnings.contains("notifying discord://***@42"), "{warnings}");
    assert_eq!(line["targets"][0]["outcome"], "restarted", "healing went on");
}

#[test]
fn a_wrong_notification_url_is_one_error_naming_the_flag_or_key_and_not_the_token() {
    let dir = tempfile::tempdir().unwrap();
    for (url, want) in [
        ("discord://s3cr3t", "write discord://TOKEN@WEBHOOK_ID"),
        ("telegram://1:s3cr3t@telegram", "names no chat"),
        ("slck://s3cr3t", "is not a notification URL"),
    ] {
        let run = Healwatch::new().args(["--notify-url", url, "-t", "a=http://127.0.0.1:1/"]).run();
        run.expect_code(2);
        let said = format!("{}{}", run.stdout(), run.stderr());
        assert!(said.contains("--notify-url") && said.contains(want), "{url}: {said}");
        let config = write_file(dir.path(), "h.toml", &format!("[defaults]\nnotify_url = [\"{url}\"]\n"));
        let validate = Healwatch::new().arg("validate").arg("--config").arg(&config).run();
        assert_ne!(validate.code(), 0, "{validate}");
        let said = format!("{said}{}{}", validate.stdout(), validate.stderr());
        assert!(said.contains("notify_url") && said.contains(want), "{url}: {said}");
        assert!(!said.contains("s3cr3t"), "{url}: {said}");
    }
}

#[test]
fn a_target_that_stays_broken_notifies_once() {
    let down = Server::start(Behaviour::Fixed(503, "down"));
    let receiver = Server::start(Behaviour::Judge(ntfy));
    let dir = tempfile::tempdir().unwrap();
    let url = format!("ntfy://ops:s3cr3t@127.0.0.1:{}/alerts?scheme=http", receiver.port);
    // `action = "notify"`: it stays unhealthy, pass after pass.
    let config = write_file(
        dir.path(),
        "healwatch.toml",
        &format!(
            "[defaults]\nnotify_url = \"{url}\"\nretries = 0\n[[target]]\nname = \"web\"\nurl = \"{}\"\naction = \"notify\"\n",
            down.url("/")
        ),
    );
    for _ in 0..3 {
        let run = Healwatch::new().arg("--config").arg(&config).arg("--state").arg(dir.path().join("state.json")).run();
        assert_eq!(run.status_line()["targets"][0]["outcome"], "unhealthy", "{run}");
    }
    assert_eq!(receiver.received().len(), 1, "{:?}", receiver.received());
}

/// An SMTP server that checks AUTH (aiosmtpd, started by the test on 127.0.0.1); its
/// messages as JSON files in `dir`. Stopped when dropped (its stdin closes).
struct Smtpd {
    child: std::process::Child,
    port: u16,
}

impl Smtpd {
    /// `tls`: PEM files of a certificate and its key, to offer STARTTLS with.
    fn start(dir: &std::path::Path, tls: Option<(&std::path::Path, &std::path::Path)>) -> Self {
        let python = std::env::var("HEALWATCH_SMTPD_PYTHON").expect("HEALWATCH_SMTPD_PYTHON: run scripts/test.sh");
        let port = crate::util::free_port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtpd.py");
        let mut child = std::process::Command::new(python)
            .arg(script)
            .arg(dir)
            .arg(port.to_string())
            .args(tls.into_iter().flat_map(|(cert, key)| [cert, key]))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting tests/smtpd.py");
        let mut ready = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut ready).unwrap();
        assert_eq!(ready.trim(), "ready", "tests/smtpd.py did not start");
        Self { child, port }
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[ignore = "needs aiosmtpd: scripts/test.sh"]
fn a_mail_goes_through_an_smtp_relay_with_auth() {
    let dir = tempfile::tempdir().unwrap();
    let smtpd = Smtpd::start(dir.path(), None);
    let down = Server::start(Behaviour::Fixed(503, "down"));
    let url = format!(
        "smtp://ops:s3cr3t@127.0.0.1:{}/?from=healwatch@host.example&to=oncall@example.org,ops@example.org&encryption=none",
        smtpd.port
    );
    let run = heal_and_notify(&url, "web-2", &down);
    run.expect_code(0);
    assert!(run.status_line().get("warnings").is_none(), "{run}");
    let mail: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("1.json")).unwrap()).unwrap();
    assert_eq!((mail["from"].as_str(), mail["authenticated"].as_bool()), (Some("healwatch@host.example"), Some(true)));
    assert_eq!(mail["to"], serde_json::json!(["oncall@example.org", "ops@example.org"]));
    let text = mail["message"].as_str().unwrap();
    assert!(text.contains("Subject: healwatch on ") && text.contains(": web-2 restarted\r\n"), "{text}");
    assert!(text.contains("\"outcome\":\"restarted\""), "the status line is in the mail\n{text}");
    // A wrong password is a warning naming the relay, never the password.
    let wrong = url.replace("s3cr3t", "wr0ng");
    let run = heal_and_notify(&wrong, "web-2", &down);
    let warnings = run.status_line()["warnings"].to_string();
    assert!(warnings.contains(&format!("notifying smtp://ops:***@127.0.0.1:{}", smtpd.port)), "{warnings}");
    assert!(!run.stdout().contains("wr0ng") && !run.stderr().contains("wr0ng"), "{run}");
    assert!(!dir.path().join("2.json").exists());
}

#[test]
#[ignore = "needs aiosmtpd: scripts/test.sh"]
fn starttls_offered_is_taken_and_a_certificate_not_trusted_sends_nothing_in_the_clear() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().self_signed(&key).unwrap();
    let (cert_file, key_file) =
        (write_file(dir.path(), "cert.pem", &cert.pem()), write_file(dir.path(), "key.pem", &key.serialize_pem()));
    let inbox = dir.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    let smtpd = Smtpd::start(&inbox, Some((&cert_file, &key_file)));
    let down = Server::start(Behaviour::Fixed(503, "down"));
    // No `encryption`: STARTTLS when offered. The relay offers it with a certificate no
    // public root signed: the mail is not sent, in the clear or otherwise.
    let url = format!("smtp://ops:s3cr3t@127.0.0.1:{}/?from=healwatch@host.example&to=oncall@example.org", smtpd.port);
    let run = heal_and_notify(&url, "web", &down);
    run.expect_code(0);
    let warnings = run.status_line()["warnings"].to_string();
    assert!(warnings.contains(&format!("notifying smtp://ops:***@127.0.0.1:{}", smtpd.port)), "{warnings}");
    assert!(warnings.to_lowercase().contains("certificate") || warnings.to_lowercase().contains("tls"), "{warnings}");
    assert!(!run.stdout().contains("s3cr3t"), "{run}");
    assert_eq!(std::fs::read_dir(&inbox).unwrap().count(), 0, "nothing was delivered");
}

#[test]
fn urls_from_the_environment_keep_tokens_out_of_the_process_list() {
    let down = Server::start(Behaviour::Fixed(503, "down"));
    let receiver = Server::start(Behaviour::Judge(slack));
    let pings = Server::start(Behaviour::Fixed(200, "ok"));
    let url = format!("slack://T01/B02/s3cr3t?api={}", receiver.url(""));
    let run = Healwatch::new()
        .docker(&FakeDocker::new())
        .env("HEALWATCH_NOTIFY_URL", format!("  {url}\n"))
        .env("HEALWATCH_PING_URL", pings.url("/ping/s3cr3t"))
        .args(FAST)
        .args(["-t", &format!("web={}", down.url("/"))])
        .run();
    run.expect_code(0);
    assert_eq!(receiver.received().len(), 1, "{run}");
    assert_eq!(pings.received()[0].0, "GET /ping/s3cr3t HTTP/1.1");
    // A bad one is named by the variable, never shown.
    let bad = Healwatch::new()
        .env("HEALWATCH_NOTIFY_URL", "discord://s3cr3t")
        .args(["-t", &format!("web={}", down.url("/"))])
        .run();
    bad.expect_code(2);
    let said = format!("{}{}", bad.stdout(), bad.stderr());
    assert!(said.contains("HEALWATCH_NOTIFY_URL") && !said.contains("s3cr3t"), "{said}");
}
