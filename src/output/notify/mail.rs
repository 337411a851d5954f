//! Email through an SMTP relay: `smtp://[USER:PASS@]HOST[:PORT]/?from=…&to=…`, STARTTLS
//! when the relay offers it (`encryption=starttls` to require it, `implicit` for TLS from
//! the first byte, `none` for a local relay), with lettre. The message says what changed
//! in its subject and first lines, then carries the status line.

use std::time::Instant;

use anyhow::{Result, bail};
use lettre::Message as Email;
use lettre::message::{Mailbox, header::ContentType};

use super::message::Message;
use super::ordinal;
use super::smtp::{self, Delivery, Encryption};
use crate::model::{HealthUrl, MASK, percent_decode};

/// A relay and the mail it is given.
#[derive(Clone, PartialEq)]
pub(crate) struct Mail {
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
    from: Mailbox,
    to: Vec<Mailbox>,
    encryption: Encryption,
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail").field("host", &self.host).field("port", &self.port).finish_non_exhaustive()
    }
}

impl Mail {
    /// Parses what follows `smtp://`; the printable form too (the password masked).
    pub(crate) fn parse(rest: &str) -> Result<(Self, String)> {
        let (head, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority = head.trim_end_matches('/');
        if authority.contains('/') {
            bail!("has a path: write smtp://[USER:PASS@]HOST[:PORT]/?from=ADDRESS&to=ADDRESS");
        }
        // The host and port as strictly as any URL's, its error never echoing a password.
        HealthUrl::parse(&format!("http://{authority}/"))
            .map_err(|_| anyhow::anyhow!("its user, host or port cannot be in a URL as written"))?;
        let (userinfo, hostport) = authority.rsplit_once('@').map_or((None, authority), |(u, h)| (Some(u), h));
        let credentials = userinfo.map(|u| {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            (percent_decode(user), percent_decode(pass))
        });
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => {
                (h, Some(p.parse::<u16>().map_err(|_| anyhow::anyhow!("its port is not a port number"))?))
            }
            _ => (hostport, None),
        };
        let (from, to, encryption) = mail_query(query)?;
        let Some(from) = from else { bail!("names no sender: add ?from=ADDRESS") };
        if to.is_empty() {
            bail!("names no recipient: add &to=ADDRESS (several with commas)");
        }
        let port = port.unwrap_or(match encryption {
            Encryption::Implicit => 465,
            Encryption::None => 25,
            Encryption::Auto | Encryption::StartTls => 587,
        });
        let loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if credentials.is_some() && encryption == Encryption::None && !loopback {
            bail!(
                "sends its password in the clear (encryption=none) to a relay not on this host: \
                 use encryption=starttls or implicit, or a relay on 127.0.0.1"
            );
        }
        let user = userinfo.map(|u| format!("{}:{MASK}@", u.split_once(':').map_or(u, |(name, _)| name)));
        let to_list: Vec<String> = to.iter().map(|m| m.email.to_string()).collect();
        let display = format!("smtp://{}{host}:{port}/?to={}", user.unwrap_or_default(), to_list.join(","));
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        Ok((Self { host, port, credentials, from, to, encryption }, display))
    }

    /// Sends `message` (and the status line) to every recipient in one mail, the whole
    /// session done by `deadline`.
    pub(crate) fn send(&self, message: &Message, status_line: &[u8], deadline: Instant) -> Result<(), String> {
        let mut email = Email::builder().from(self.from.clone()).subject(&message.title);
        for to in &self.to {
            email = email.to(to.clone());
        }
        let body = format!("{}\n\n{}\n", message.text(), String::from_utf8_lossy(status_line).trim_end());
        let email = email.header(ContentType::TEXT_PLAIN).body(body).map_err(|e| format!("the mail: {e}"))?;
        let to: Vec<String> = self.to.iter().map(|m| m.email.to_string()).collect();
        let delivery = Delivery {
            host: &self.host,
            port: self.port,
            encryption: self.encryption,
            credentials: self.credentials.as_ref(),
            from: self.from.email.as_ref(),
            to: &to,
            data: &email.formatted(),
        };
        smtp::deliver(&delivery, deadline)
    }
}

/// The query of an smtp:// URL: the sender, the recipients and the encryption.
fn mail_query(query: &str) -> Result<(Option<Mailbox>, Vec<Mailbox>, Encryption)> {
    let mut from = None;
    let mut to = Vec::new();
    let mut encryption = Encryption::Auto;
    for (n, pair) in query.split('&').filter(|p| !p.is_empty()).enumerate() {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match key.to_ascii_lowercase().as_str() {
            "from" => from = Some(address(&value, "from")?),
            "to" => {
                for one in value.split(',').filter(|a| !a.trim().is_empty()) {
                    to.push(address(one.trim(), "to")?);
                }
            }
            "encryption" => {
                encryption = match value.to_ascii_lowercase().as_str() {
                    "auto" => Encryption::Auto,
                    "starttls" => Encryption::StartTls,
                    "implicit" => Encryption::Implicit,
                    "none" => Encryption::None,
                    _ => bail!("encryption is auto, starttls, implicit or none"),
                }
            }
            // Never echoed: a `?` left unencoded in a password puts its tail here.
            _ => bail!("its {} parameter is not one it takes: from, to, encryption", ordinal(n + 1)),
        }
    }
    Ok((from, to, encryption))
}

fn address(text: &str, what: &str) -> Result<Mailbox> {
    text.parse::<Mailbox>().map_err(|_| anyhow::anyhow!("{what} is not an email address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relay_url_reads_as_written_and_prints_without_its_password() {
        let (mail, display) = Mail::parse(
            "ops%40example.org:s3cr3t@mail.example:2525/?from=hw@example.org&to=a@example.org,b@example.org",
        )
        .unwrap();
        assert_eq!((mail.host.as_str(), mail.port, mail.encryption), ("mail.example", 2525, Encryption::Auto));
        assert_eq!(mail.credentials, Some(("ops@example.org".to_string(), "s3cr3t".to_string())));
        assert_eq!(mail.to.len(), 2);
        assert_eq!(display, "smtp://ops%40example.org:***@mail.example:2525/?to=a@example.org,b@example.org");
        let (local, display) = Mail::parse("127.0.0.1/?from=hw@h.example&to=root@h.example&encryption=none").unwrap();
        assert_eq!((local.port, local.encryption, local.credentials), (25, Encryption::None, None));
        assert_eq!(display, "smtp://127.0.0.1:25/?to=root@h.example");
        assert_eq!(Mail::parse("h.example/?from=a@b.example&to=c@d.example&encryption=implicit").unwrap().0.port, 465);
    }

    #[test]
    fn a_wrong_relay_url_says_what_to_write() {
        let cases = [
            ("h.example/?to=a@b.example", "names no sender"),
            ("h.example/?from=a@b.example", "names no recipient"),
            ("h.example/?from=nobody&to=a@b.example", "from is not an email address"),
            ("h.example/?from=a@b.example&to=c@d.example&encryption=ssl", "encryption is auto, starttls"),
            ("h.example/?from=a@b.example&to=c@d.example&cc=e@f.example", "its 3rd parameter is not one it takes"),
            ("u:s3cr3t@h.example/?from=a@b.example&to=c@d.example&encryption=none", "in the clear"),
            ("u:s3?cr3t@h.example/?from=a@b.example&to=c@d.example", ""),
            ("u:s3cr3t@h ost/?from=a@b.example&to=c@d.example", "cannot be in a URL"),
            ("h.example/inbox?from=a@b.example&to=c@d.example", "has a path"),
        ];
        for (raw, want) in cases {
            let err = format!("{:#}", Mail::parse(raw).unwrap_err());
            assert!(err.contains(want), "{raw}: {err}");
            assert!(!err.contains("s3cr3t") && !err.contains("cr3t"), "{raw}: {err}");
        }
    }
}
