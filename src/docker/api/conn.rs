//! Where an engine's API listens when healwatch speaks to it itself, and one connection
//! to it: a socket on this host (`unix://`), or plain HTTP on `tcp://HOST:PORT` (a
//! socket proxy on a private network, which allows some calls and refuses the rest).
//! Every exchange (calls, listings, logs, events) runs over a `Conn`, whichever it is.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// An engine's API address that healwatch connects to itself.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Address {
    /// A socket on this host.
    Unix(PathBuf),
    /// Plain HTTP to `HOST:PORT`, no TLS (a socket proxy, as `DOCKER_HOST=tcp://…`).
    Tcp(String),
}

impl Address {
    /// As `DOCKER_HOST` writes it, for messages.
    pub(crate) fn show(&self) -> String {
        match self {
            Self::Unix(path) => format!("unix://{}", path.display()),
            Self::Tcp(authority) => format!("tcp://{authority}"),
        }
    }

    /// The socket path, for an engine on a socket here.
    pub(crate) fn socket(&self) -> Option<&Path> {
        match self {
            Self::Unix(path) => Some(path),
            Self::Tcp(_) => None,
        }
    }
}

/// One connection to an engine's API.
#[derive(Debug)]
pub(crate) enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        match self {
            Self::Unix(s) => s.set_read_timeout(timeout),
            Self::Tcp(s) => s.set_read_timeout(timeout),
        }
    }

    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        match self {
            Self::Unix(s) => s.set_write_timeout(timeout),
            Self::Tcp(s) => s.set_write_timeout(timeout),
        }
    }

    pub(crate) fn set_nonblocking(&self, on: bool) -> std::io::Result<()> {
        match self {
            Self::Unix(s) => s.set_nonblocking(on),
            Self::Tcp(s) => s.set_nonblocking(on),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Unix(s) => s.read(buf),
            Self::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Unix(s) => s.write(buf),
            Self::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Unix(s) => s.flush(),
            Self::Tcp(s) => s.flush(),
        }
    }
}

/// Connects to `address` by `deadline`: a socket without blocking past it, a TCP
/// address (its name resolved, an IP literal never looked up) within what is left.
pub(crate) fn connect(address: &Address, deadline: Instant) -> Result<Conn> {
    match address {
        Address::Unix(path) => connect_unix(path, deadline).map(Conn::Unix),
        Address::Tcp(authority) => {
            let left = || deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
            let (host, port) = authority.rsplit_once(':').context("no port")?;
            let port: u16 = port.parse().context("no port")?;
            let addresses = crate::net::lookup_within(host.trim_start_matches('[').trim_end_matches(']'), port, left())
                .with_context(|| format!("looking up {host}"))?;
            let mut last = None;
            for addr in addresses {
                if Instant::now() >= deadline {
                    break;
                }
                match TcpStream::connect_timeout(&addr, left()) {
                    Ok(stream) => {
                        let _ = stream.set_nodelay(true);
                        return Ok(Conn::Tcp(stream));
                    }
                    Err(e) => last = Some(e),
                }
            }
            match last {
                Some(e) => Err(e).context("connecting"),
                None => bail!("connecting: no address for {authority} within the time"),
            }
        }
    }
}

/// Connects without blocking: a daemon whose backlog is full is waited for until
/// `deadline`, not forever.
fn connect_unix(path: &Path, deadline: Instant) -> Result<UnixStream> {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    let address = SocketAddrUnix::new(path).context("not a socket path")?;
    loop {
        match rustix::net::connect(&fd, &address) {
            Ok(()) | Err(rustix::io::Errno::ISCONN) => break,
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INPROGRESS | rustix::io::Errno::ALREADY)
                if Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e).context("connecting"),
        }
    }
    let stream = UnixStream::from(fd);
    stream.set_nonblocking(false)?;
    Ok(stream)
}
