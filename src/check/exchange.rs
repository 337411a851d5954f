//! The socket under a plain-HTTP look: one exchange per connection, made for it. ureq's
//! own TCP transport is written for connections that are kept and reused: a look paid
//! for that in system calls it never needed (the connect made non-blocking and back, a
//! probe whether the connection could be reused, a timeout set again before each read),
//! and the connection it closed first waited a minute in TIME_WAIT (60,000 sockets at a
//! thousand looks a second, more than the ephemeral ports). Here the connect is bounded
//! by the socket's own send timeout, each timeout is set when it must shrink, and the
//! connection ends with a reset, as HAProxy's health checks end theirs. HTTPS and
//! proxies go through ureq's chain unchanged.

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::net::sockopt::{self, Timeout as Direction};
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use ureq::Timeout;
use ureq::http::uri::Scheme;
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport};

/// A socket timeout already set is kept while the time left is within this of it: a wait
/// may overrun the look's bound by this much at most, for one system call fewer a read.
const SLACK: Duration = Duration::from_millis(10);

/// The bound of a connect ureq gave none (or one past what a clock can say).
const UNBOUNDED: Duration = Duration::from_secs(365 * 24 * 3600);

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
        let now = Instant::now();
        // ureq gives no bound only to a call without one, and every look sets one: a year then.
        let deadline = now.checked_add(bound(details.timeout).unwrap_or(UNBOUNDED)).unwrap_or(now + UNBOUNDED);
        let mut last = None;
        for addr in details.addrs.iter() {
            match connect(*addr, deadline) {
                Ok(stream) => {
                    let buffers = Kept::take(details.config.input_buffer_size(), details.config.output_buffer_size());
                    let sent = Some(deadline.saturating_duration_since(Instant::now()));
                    return Ok(Some(Box::new(Exchange {
                        stream,
                        buffers,
                        sent,
                        received: None,
                        delaying: true,
                        answered: false,
                    })));
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
    // Acknowledgements delayed: the handshake's last ACK rides on the request instead of
    // going alone, and an answer that comes whole needs none before the reset. Two packets
    // fewer a look, and the server is woken once (connection and request), not twice.
    sockopt::set_tcp_quickack(&socket, false)?;
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
    buffers: Kept,
    /// The send and receive timeouts set on the socket.
    sent: Option<Duration>,
    received: Option<Duration>,
    /// Whether acknowledgements are still delayed (see `await_input`), and whether a read
    /// has brought some of the answer.
    delaying: bool,
    answered: bool,
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

thread_local! {
    /// The buffers of this thread's last look, for its next one.
    static SPARE: Cell<Option<(Vec<u8>, Vec<u8>)>> = const { Cell::new(None) };
}

/// A look's buffers, as ureq's `LazyBuffers` keeps them (input sized to hold a response's
/// headers, output a request), but taken from the thread's last look and given back when
/// this one ends: a look allocates and zeroes none. Stale bytes past `filled` are never read.
#[derive(Debug)]
struct Kept {
    input: Vec<u8>,
    /// Bytes read into `input`, and how many of them ureq has used.
    filled: usize,
    consumed: usize,
    output: Vec<u8>,
    /// Whether ureq's last use of the input consumed something.
    progress: bool,
}

impl Kept {
    /// Room the request's body is read into on its way out (ureq's own figure).
    const MIN_TMP: usize = 10 * 1024;

    /// Buffers of `input` and `output` bytes: the thread's spare ones, else new.
    fn take(input: usize, output: usize) -> Self {
        let (mut kept_in, mut kept_out) = SPARE.try_with(Cell::take).ok().flatten().unwrap_or_default();
        kept_in.resize(input.max(1), 0);
        kept_out.resize(output.max(1), 0);
        Self { input: kept_in, filled: 0, consumed: 0, output: kept_out, progress: false }
    }

    /// Moves what is unread to the start once all of it is used or it fills the back half.
    fn shift(&mut self) {
        if self.consumed == self.filled {
            (self.consumed, self.filled) = (0, 0);
        } else if self.consumed > 0 && self.filled > self.input.len() / 2 {
            self.input.copy_within(self.consumed..self.filled, 0);
            (self.filled, self.consumed) = (self.filled - self.consumed, 0);
        }
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        let pair = (std::mem::take(&mut self.input), std::mem::take(&mut self.output));
        // Gone with its thread (at exit): the buffers are freed instead.
        let _ = SPARE.try_with(|spare| spare.set(Some(pair)));
    }
}

impl Buffers for Kept {
    fn output(&mut self) -> &mut [u8] {
        &mut self.output
    }

    fn input(&self) -> &[u8] {
        &self.input[self.consumed..self.filled]
    }

    fn input_append_buf(&mut self) -> &mut [u8] {
        self.shift();
        &mut self.input[self.filled..]
    }

    fn input_appended(&mut self, amount: usize) {
        self.filled = (self.filled + amount).min(self.input.len());
    }

    fn input_consume(&mut self, amount: usize) {
        self.progress = amount > 0;
        self.consumed = (self.consumed + amount).min(self.filled);
    }

    fn tmp_and_output(&mut self) -> (&mut [u8], &mut [u8]) {
        self.shift();
        if self.input.len() - self.filled < Self::MIN_TMP {
            self.input.resize(self.filled + Self::MIN_TMP, 0);
        }
        (&mut self.input[self.filled..], &mut self.output)
    }

    fn can_use_input(&self) -> bool {
        self.progress && self.consumed < self.filled
    }
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
            if self.answered && std::mem::take(&mut self.delaying) {
                // More of the answer is wanted: what came is acknowledged now, and from here
                // on at once. A server that writes headers and body apart (Nagle's algorithm
                // on) sends the rest only then: 40 ms later if our ACK were left delayed.
                sockopt::set_tcp_quickack(&self.stream, true).map_err(|e| ureq::Error::Io(e.into()))?;
            }
            match (&self.stream).read(self.buffers.input_append_buf()) {
                Ok(amount) => {
                    self.answered |= amount > 0;
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

    /// A server that writes its headers and its body apart, Nagle's algorithm on, sends
    /// the body only once the headers are acknowledged: the look acknowledges them as soon
    /// as it wants more (not after the 40 ms of a delayed ACK).
    #[test]
    fn an_answer_written_in_two_parts_is_not_held_for_our_ack() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            for _ in 0..3 {
                let (mut conn, _) = listener.accept().unwrap();
                let mut buffer = [0u8; 1024];
                let _ = conn.read(&mut buffer);
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
                let _ = conn.write_all(b"ok");
                let _ = conn.read(&mut buffer);
            }
        });
        // The quickest of three, so a busy machine does not fail it; a held body takes 40 ms.
        let quickest = (0..3).map(|_| look(port, Duration::from_secs(2))).map(|c| c.latency).min().unwrap();
        assert!(quickest < Duration::from_millis(30), "{quickest:?}");
        server.join().unwrap();
    }

    /// A look's buffers are the thread's last look's: read, consumed and shifted as
    /// ureq's own are, and given back for the next one.
    #[test]
    fn a_look_reuses_the_buffers_of_the_one_before() {
        use super::Kept;
        use ureq::unversioned::transport::Buffers;
        let mut first = Kept::take(64, 16);
        first.input_append_buf()[..5].copy_from_slice(b"HTTP/");
        first.input_appended(5);
        first.input_consume(4);
        assert_eq!((first.input(), first.can_use_input()), (&b"/"[..], true));
        first.input_appended(1000);
        assert_eq!(first.input().len(), 60, "bounded by the buffer");
        first.input_consume(60);
        assert_eq!((first.input_append_buf().len(), first.input()), (64, &b""[..]));
        let at = first.input.as_ptr();
        drop(first);
        let mut second = Kept::take(64, 16);
        assert_eq!((second.input.as_ptr(), second.input().len(), second.output().len()), (at, 0, 16));
        // Half the input unread past the middle: moved to the front before more is read.
        second.input_appended(40);
        second.input_consume(30);
        assert_eq!(second.input_append_buf().len(), 54);
        assert_eq!(second.input().len(), 10);
        let (tmp, out) = second.tmp_and_output();
        assert!(tmp.len() >= Kept::MIN_TMP && out.len() == 16);
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
