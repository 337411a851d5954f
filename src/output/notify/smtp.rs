//! The SMTP dialogue itself, bounded as a whole. A relay can keep a client busy forever
//! within any per-read timeout (one greeting line a second), so every read and write
//! here gets only what is left of one deadline for the whole session, and a signal ends
//! it at the next quarter second. Plain text, STARTTLS, or TLS from the first byte
//! (rustls, the public web roots); AUTH PLAIN or LOGIN.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rustls::pki_types::ServerName;

use crate::interrupt;
use crate::model::{one_line, redact_text};

/// The longest reply a relay may send (all its lines); RFC 5321 lines are 512 bytes.
const REPLY_LIMIT: usize = 16 * 1024;
/// How often a blocked read or write looks for a signal.
const SLICE: Duration = Duration::from_millis(250);

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encryption {
    /// STARTTLS when the relay offers it (the default).
    Auto,
    /// STARTTLS, or no mail.
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// Plain text: a relay on the host itself.
    None,
}

/// One mail to hand to a relay.
pub(super) struct Delivery<'a> {
    pub host: &'a str,
    pub port: u16,
    pub encryption: Encryption,
    pub credentials: Option<&'a (String, String)>,
    pub from: &'a str,
    pub to: &'a [String],
    /// The whole message, headers and body, lines ending in CRLF.
    pub data: &'a [u8],
}

/// Hands `mail` to its relay before `deadline`, or says why not (never a password).
pub(super) fn deliver(mail: &Delivery, deadline: Instant) -> Result<(), String> {
    let mut session = Session::open(mail, deadline)?;
    let mut extensions = session.hello()?;
    let offers = |ext: &[String], word: &str| ext.iter().any(|l| l.split_whitespace().next() == Some(word));
    match mail.encryption {
        Encryption::Implicit | Encryption::None => {}
        _ if offers(&extensions, "STARTTLS") => {
            session.expect("STARTTLS", &[220])?;
            session.upgrade(mail.host)?;
            extensions = session.hello()?;
        }
        Encryption::StartTls => return Err("the relay does not offer STARTTLS (encryption=starttls)".into()),
        Encryption::Auto if mail.credentials.is_some() && !session.loopback() => {
            return Err("the relay offers no STARTTLS, and the password is never sent in the clear: \
                        use encryption=implicit (port 465) or a relay that offers STARTTLS"
                .into());
        }
        Encryption::Auto => {}
    }
    if let Some((user, pass)) = mail.credentials {
        session.authenticate(&extensions, user, pass)?;
    }
    session.expect(&format!("MAIL FROM:<{}>", mail.from), &[250])?;
    for to in mail.to {
        session.expect(&format!("RCPT TO:<{to}>"), &[250, 251])?;
    }
    session.expect("DATA", &[354])?;
    session.write(&dot_stuffed(mail.data))?;
    session.expect(".", &[250])?;
    // Delivered; the goodbye is a courtesy that may fail.
    let _ = session.expect("QUIT", &[221]);
    Ok(())
}

/// The message as DATA carries it: a line that starts with a dot gets another, and the
/// end is a dot alone (sent by the caller as the next command).
fn dot_stuffed(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    for line in data.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A TCP connection whose every read and write waits only for what is left of the
/// deadline, in slices, so that a signal ends it too.
struct Wire {
    tcp: TcpStream,
    deadline: Instant,
}

impl Wire {
    fn slice(&self) -> io::Result<Duration> {
        if let Some(signal) = interrupt::requested() {
            return Err(io::Error::other(format!("stopped by {}", interrupt::name(signal))));
        }
        match self.deadline.saturating_duration_since(Instant::now()) {
            left if left.is_zero() => Err(io::Error::new(ErrorKind::TimedOut, "the relay took too long")),
            left => Ok(left.min(SLICE)),
        }
    }
}

fn waiting(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted)
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            self.tcp.set_read_timeout(Some(self.slice()?))?;
            match self.tcp.read(buf) {
                Err(e) if waiting(&e) => continue,
                other => return other,
            }
        }
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            self.tcp.set_write_timeout(Some(self.slice()?))?;
            match self.tcp.write(buf) {
                Err(e) if waiting(&e) => continue,
                other => return other,
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// The connection, in the clear or inside TLS.
enum Link {
    Plain(Wire),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, Wire>>),
    /// Only while upgrading.
    Gone,
}

struct Session {
    link: Link,
    /// Bytes read past the last reply.
    pending: Vec<u8>,
    peer: SocketAddr,
}

impl Session {
    fn open(mail: &Delivery, deadline: Instant) -> Result<Self, String> {
        let left = || deadline.saturating_duration_since(Instant::now());
        let addrs = crate::net::lookup_within(mail.host, mail.port, left()).map_err(|e| describe(&e))?;
        let mut last = None;
        for addr in addrs {
            if left().is_zero() {
                break;
            }
            match TcpStream::connect_timeout(&addr, left()) {
                Ok(tcp) => {
                    let mut session =
                        Self { link: Link::Plain(Wire { tcp, deadline }), pending: Vec::new(), peer: addr };
                    if mail.encryption == Encryption::Implicit {
                        session.upgrade(mail.host)?;
                    }
                    session.reply("the greeting", &[220])?;
                    return Ok(session);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or_else(|| "the relay took too long".to_string(), |e| format!("connecting: {}", describe(&e))))
    }

    fn loopback(&self) -> bool {
        self.peer.ip().is_loopback()
    }

    /// EHLO; the extensions the relay offers, one per line after its greeting.
    fn hello(&mut self) -> Result<Vec<String>, String> {
        let lines = self.expect(&format!("EHLO {}", hello_name()), &[250])?;
        Ok(lines.into_iter().skip(1).map(|l| l.to_ascii_uppercase()).collect())
    }

    fn authenticate(&mut self, extensions: &[String], user: &str, pass: &str) -> Result<(), String> {
        let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        let mechanisms: Vec<&str> = extensions
            .iter()
            .filter_map(|l| l.strip_prefix("AUTH").filter(|r| r.starts_with([' ', '='])))
            .flat_map(|r| r[1..].split_whitespace())
            .collect();
        let step = |session: &mut Self, line: String, want: &[u16]| {
            session.send(&line).and_then(|()| session.reply("AUTH", want)).map(drop)
        };
        if mechanisms.contains(&"PLAIN") {
            step(self, format!("AUTH PLAIN {}", b64(&format!("\0{user}\0{pass}"))), &[235])
        } else if mechanisms.contains(&"LOGIN") {
            step(self, "AUTH LOGIN".into(), &[334])?;
            step(self, b64(user), &[334])?;
            step(self, b64(pass), &[235])
        } else {
            Err("the relay offers neither AUTH PLAIN nor AUTH LOGIN for the user in the URL".into())
        }
    }

    /// Wraps the connection in TLS, the relay's certificate checked against the public
    /// web roots for `host`. Anything the relay sent before is thrown away unread.
    fn upgrade(&mut self, host: &str) -> Result<(), String> {
        if !self.pending.is_empty() {
            return Err("the relay sent more than its answer to STARTTLS: refusing it".into());
        }
        let Link::Plain(wire) = std::mem::replace(&mut self.link, Link::Gone) else {
            return Err("TLS twice".into());
        };
        let name = ServerName::try_from(host.to_string()).map_err(|_| format!("TLS: '{host}' is not a server name"))?;
        let connection = rustls::ClientConnection::new(tls_config()?, name).map_err(|e| format!("TLS: {e}"))?;
        let mut stream = rustls::StreamOwned::new(connection, wire);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock).map_err(|e| format!("TLS with the relay: {}", describe(&e)))?;
        }
        self.link = Link::Tls(Box::new(stream));
        Ok(())
    }

    /// Sends `command` and reads its reply, which must have one of the codes `want`.
    fn expect(&mut self, command: &str, want: &[u16]) -> Result<Vec<String>, String> {
        self.send(command)?;
        let verb = command.split([' ', ':']).next().unwrap_or(command);
        self.reply(verb, want)
    }

    fn send(&mut self, line: &str) -> Result<(), String> {
        self.write(format!("{line}\r\n").as_bytes())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        let written = match &mut self.link {
            Link::Plain(wire) => wire.write_all(bytes).and_then(|()| wire.flush()),
            Link::Tls(tls) => tls.write_all(bytes).and_then(|()| tls.flush()),
            Link::Gone => Err(io::Error::from(ErrorKind::NotConnected)),
        };
        written.map_err(|e| format!("writing to the relay: {}", describe(&e)))
    }

    /// One whole reply (its lines, codes cut off); `what` names it in errors.
    fn reply(&mut self, what: &str, want: &[u16]) -> Result<Vec<String>, String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line()?;
            let code = line.get(..3).and_then(|c| c.parse::<u16>().ok());
            let (Some(code), more) = (code, line.as_bytes().get(3) == Some(&b'-')) else {
                return Err(format!("{what}: the relay's answer is not SMTP"));
            };
            lines.push(line.get(4..).unwrap_or("").to_string());
            if !more {
                if want.contains(&code) {
                    return Ok(lines);
                }
                let text = one_line(&redact_text(&lines.join(" ")), 200);
                return Err(format!("{what}: the relay answered {code} {text}"));
            }
        }
    }

    fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                return Ok(String::from_utf8_lossy(&line).trim_end().to_string());
            }
            if self.pending.len() > REPLY_LIMIT {
                return Err("the relay's answer is too long".into());
            }
            let mut buf = [0u8; 2048];
            let read = match &mut self.link {
                Link::Plain(wire) => wire.read(&mut buf),
                Link::Tls(tls) => tls.read(&mut buf),
                Link::Gone => Err(io::Error::from(ErrorKind::NotConnected)),
            };
            match read {
                Ok(0) => return Err("the relay closed the connection".into()),
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) => return Err(format!("reading from the relay: {}", describe(&e))),
            }
        }
    }
}

/// An error as a person reads it: the kind for the common ones.
fn describe(e: &io::Error) -> String {
    match e.kind() {
        ErrorKind::TimedOut => "the relay took too long (the whole mail is bounded)".to_string(),
        _ => one_line(&redact_text(&e.to_string()), 200),
    }
}

/// The name this host gives in EHLO: its own, when it is a plain host name.
fn hello_name() -> String {
    let name = super::host_name();
    let plain = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if plain { name } else { "localhost".to_string() }
}

/// TLS as the public web trusts it. Built for each mail: mails are rare.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_lines_that_start_with_a_dot_are_doubled() {
        assert_eq!(dot_stuffed(b"a\r\n.b\r\n..\r\nc"), b"a\r\n..b\r\n...\r\nc\r\n");
        assert_eq!(dot_stuffed(b"x\r\n"), b"x\r\n");
    }
}
