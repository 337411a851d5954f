//! The socket under a plain-HTTP look: one exchange per connection, made for it. ureq's
//! own TCP transport is written for connections that are kept and reused: a look paid
//! for that in system calls it never needed (the connect made non-blocking and back, a
//! probe whether the connection could be reused, a timeout set again before each read),
//! and the connection it closed first waited a minute in TIME_WAIT (60,000 sockets at a
//! thousand looks a second, more than the ephemeral ports). Here the connect is bounded
//! by the socket's own send timeout, each timeout is set when it must shrink, and the
//! connection ends with a reset, as HAProxy's health checks end theirs. HTTPS and
//! proxies go through ureq's chain unchanged.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::net::sockopt::{self, Timeout as Direction};
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use ureq::Timeout;
use ureq::http::uri::Scheme;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, LazyBuffers, NextTimeout, Transport,
};

/// A socket timeout already set is kept while the time left is within this of it: a wait
/// may overrun the look's bound by this much at most, for one system call fewer a read.
const SLACK: Duration = Duration::from_millis(10);

/// ureq's connector for looks: plain `http://` without a proxy gets an `Exchange`;
/// anything else ureq's default chain (SOCKS, CONNECT proxies, TLS).
#[derive(Debug, Default)]
pub(super) struct LookConnector {
    default: DefaultConnector,
}

impl Connector<()> for LookConnector {
    type Out = Box<dyn Transport>;

    fn connect(&self, details: &ConnectionDetails, chained: Option<()>) -> Result<Option<Self::Out>, ureq::Error> {
        if details.uri.scheme() != Some(&Scheme::HTTP) || details.config.proxy().is_some() {
            return self.default.connect(details, chained);
        }
        let deadline = Instant::now() + bound(details.timeout).unwrap_or(Duration::MAX / 4);
        let mut last = None;
        for addr in details.addrs.iter() {
            match connect(*addr, deadline) {
                Ok(stream) => {
                    let buffers =
                        LazyBuffers::new(details.config.input_buffer_size(), details.config.output_buffer_size());
                    let sent = Some(deadline.saturating_duration_since(Instant::now()));
                    return Ok(Some(Box::new(Exchange { stream, buffers, sent, received: None })));
                }
                // This address said no: the next may answer (a name with an IPv6 and an IPv4 address).
                Err(Errno::CONNREFUSED | Errno::NETUNREACH | Errno::HOSTUNREACH | Errno::ADDRNOTAVAIL)
                    if Instant::now() < deadline =>
                {
                    last = Some(ureq::Error::Io(std::io::Error::from(ErrorKind::ConnectionRefused)));
                }
                Err(Errno::INPROGRESS | Errno::AGAIN | Errno::TIMEDOUT) => {
                    return Err(ureq::Error::Timeout(Timeout::Connect));
                }
                Err(e) => return Err(ureq::Error::Io(e.into())),
            }
        }
        Err(last.unwrap_or(ureq::Error::Io(std::io::Error::from(ErrorKind::ConnectionRefused))))
    }
}

/// A connected socket to `addr`, by `deadline`: the connect waits within the socket's send
/// timeout, and the socket resets the connection when it is closed.
fn connect(addr: SocketAddr, deadline: Instant) -> Result<TcpStream, Errno> {
    let family = if addr.is_ipv4() { AddressFamily::INET } else { AddressFamily::INET6 };
    let socket = rustix::net::socket_with(family, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Errno::TIMEDOUT);
    }
    sockopt::set_socket_timeout(&socket, Direction::Send, Some(left.max(Duration::from_millis(1))))?;
    match rustix::net::connect(&socket, &addr) {
        Ok(()) => {}
        // A signal came: the connect goes on by itself; wait for it within what is left.
        Err(Errno::INTR) => finish_connect(&socket, deadline)?,
        Err(e) => return Err(e),
    }
    sockopt::set_socket_linger(&socket, Some(Duration::ZERO))?;
    Ok(TcpStream::from(socket))
}

/// Waits, by `deadline`, for a connect a signal interrupted, and reads how it went.
fn finish_connect(socket: &OwnedFd, deadline: Instant) -> Result<(), Errno> {
    use rustix::event::{PollFd, PollFlags, Timespec};
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Errno::TIMEDOUT);
        }
        let wait = Timespec::try_from(left).map_err(|_| Errno::INVAL)?;
        let mut fds = [PollFd::new(socket, PollFlags::OUT)];
        match rustix::event::poll(&mut fds, Some(&wait)) {
            Ok(0) => return Err(Errno::TIMEDOUT),
            Ok(_) => return sockopt::socket_error(socket)?,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// ureq's time left, as a bound a socket can take (`None`: no bound).
fn bound(timeout: NextTimeout) -> Option<Duration> {
    timeout.not_zero().map(|t| *t)
}

/// One request and its answer on a connection of its own, never reused.
#[derive(Debug)]
struct Exchange {
    stream: TcpStream,
    buffers: LazyBuffers,
    /// The send and receive timeouts set on the socket.
    sent: Option<Duration>,
    received: Option<Duration>,
}

/// Sets `direction`'s timeout on `stream` to `want` unless the one set (`set`) is within
/// `SLACK` above it.
fn tighten(
    stream: &TcpStream,
    set: &mut Option<Duration>,
    want: Option<Duration>,
    direction: Direction,
) -> std::io::Result<()> {
    let keep = match (*set, want) {
        (Some(set), Some(want)) => set >= want && set - want <= SLACK,
        (None, None) => true,
        _ => false,
    };
    if !keep {
        sockopt::set_socket_timeout(stream, direction, want.map(|w| w.max(Duration::from_millis(1))))?;
        *set = want;
    }
    Ok(())
}

/// A socket's timeout (or a signal past the time left) read as ureq's timeout.
fn timed_out(error: std::io::Error, reason: Timeout) -> ureq::Error {
    match error.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => ureq::Error::Timeout(reason),
        _ => ureq::Error::Io(error),
    }
}

impl Transport for Exchange {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        if timeout.after.is_zero() {
            return Err(ureq::Error::Timeout(timeout.reason));
        }
        tighten(&self.stream, &mut self.sent, bound(timeout), Direction::Send)?;
        let output = &self.buffers.output()[..amount];
        (&self.stream).write_all(output).map_err(|e| timed_out(e, timeout.reason))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        let started = Instant::now();
        let whole = bound(timeout);
        loop {
            let left = whole.map(|w| w.saturating_sub(started.elapsed()));
            if timeout.after.is_zero() || left.is_some_and(|l| l.is_zero()) {
                return Err(ureq::Error::Timeout(timeout.reason));
            }
            tighten(&self.stream, &mut self.received, left, Direction::Recv)?;
            match (&self.stream).read(self.buffers.input_append_buf()) {
                Ok(amount) => {
                    self.buffers.input_appended(amount);
                    return Ok(amount > 0);
                }
                // A signal ends a read that has a timeout (it is not restarted): read again
                // within what is left.
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(timed_out(e, timeout.reason)),
            }
        }
    }

    /// Never: a look is one exchange on a connection of its own.
    fn is_open(&mut self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    use crate::check::{Check, Failure, HttpProbe, Probe};
    use crate::config::{HealthCheck, Target};
    use crate::model::HealthUrl;

    fn look(port: u16, timeout: Duration) -> Check {
        let url = HealthUrl::parse(&format!("http://127.0.0.1:{port}/health")).unwrap();
        let target = Target::http("web", "web", url);
        let HealthCheck::Http(http) = &target.health else { unreachable!() };
        HttpProbe::new(None, None).check(&target, http, timeout)
    }

    /// What the server read, and how the connection ended from its side.
    fn serve_once(
        listener: TcpListener,
        answer: &'static [u8],
    ) -> std::thread::JoinHandle<(String, std::io::ErrorKind)> {
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buffer) {
                    Ok(n @ 1..) => request.extend_from_slice(&buffer[..n]),
                    _ => break,
                }
            }
            conn.write_all(answer).unwrap();
            // The client's end: a reset, not a FIN (nothing left in TIME_WAIT at the client).
            std::thread::sleep(Duration::from_millis(100));
            let end = match conn.read(&mut buffer) {
                Ok(0) => std::io::ErrorKind::UnexpectedEof,
                Ok(_) => std::io::ErrorKind::Other,
                Err(e) => e.kind(),
            };
            (String::from_utf8_lossy(&request).into_owned(), end)
        })
    }

    #[test]
    fn a_look_is_one_exchange_that_asks_the_server_to_close_and_ends_with_a_reset() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = serve_once(listener, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        let check = look(port, Duration::from_secs(2));
        assert!(check.healthy(), "{check:?}");
        let (request, end) = server.join().unwrap();
        assert!(request.to_ascii_lowercase().contains("connection: close"), "{request}");
        assert!(!request.to_ascii_lowercase().contains("accept-encoding"), "{request}");
        assert_eq!(end, std::io::ErrorKind::ConnectionReset);
    }

    #[test]
    fn nobody_listening_is_a_refused_connection() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let check = look(port, Duration::from_secs(2));
        assert_eq!(check.error.map(|e| (e.why, e.text)), Some((Failure::Connection, "connection refused".into())));
    }

    /// Headers sent, then silence: the look ends at its bound as a whole, not per read.
    #[test]
    fn a_server_that_answers_in_drops_is_bounded_as_a_whole() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buffer = [0u8; 1024];
            let _ = conn.read(&mut buffer);
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
            // A byte every 200 ms: each read gets something, the whole never ends.
            for _ in 0..20 {
                std::thread::sleep(Duration::from_millis(200));
                if conn.write_all(b"x").is_err() {
                    break;
                }
            }
        });
        let started = Instant::now();
        let check = look(port, Duration::from_millis(700));
        let took = started.elapsed();
        assert_eq!(check.error.map(|e| e.why), Some(Failure::Hung));
        assert!(took < Duration::from_millis(1500), "{took:?}");
        server.join().unwrap();
    }
}
