//! The Engine API client, whole: healwatch speaks to an engine on a socket (and over ssh
//! or TLS for listings) itself, where the CLI would start a Go program per call.
//!
//! - wire.rs: the one request builder, percent-encoding, the one head parser, the
//!   daemon's message;
//! - conn.rs: where an engine's API is (a socket here, or plain `tcp://` as a socket
//!   proxy serves it) and one connection to it;
//! - body.rs: one exchange on a connection (connect by a deadline, the answer read as it
//!   comes or whole, bounded in time and size, a signal ending any wait);
//! - frames.rs: the one demultiplexer of a container's framed output;
//! - list.rs: the container listing over unix, ssh and TLS (the routes);
//! - calls.rs: a pass's container calls (inspect, unpause, signal, restart, exec);
//! - logs.rs: `docker logs` read as it streams;
//! - engine.rs: all of it as the `Containers` seam's Engine API route;
//! - table.rs: every call it can make, by feature, with the socket-proxy switches.
//!
//! `docker events` through the API is the watch's (watch/events.rs), on this wire.

mod body;
pub(crate) mod calls;
pub(crate) mod conn;
pub(crate) mod engine;
mod frames;
mod list;
pub(crate) mod logs;
pub(crate) mod table;
pub(crate) mod wire;

pub(crate) use conn::{Address, Conn, connect};
pub(crate) use list::{Route, list, route};
