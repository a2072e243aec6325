//! Real datapaths: socket transports that drive the sans-IO protocol cores.
//!
//! Module map:
//! - [`unix`]: the Unix datagram transport CCP uses between an agent and its datapaths,
//!   exactly as portus 0.9 and libccp 1.2 do (the agent binds `/tmp/ccp/<name>`, default
//!   `portus`, and answers to each sender's bound address), plus a blocking agent loop.
//!   Binding checks names (one plain file name), the directory (0700, owned by the user,
//!   not a link) and any existing socket (a live one is refused naming its process, a stale
//!   one replaced); the socket file is removed when the transport is dropped.
//! - `tokio_rt` (cargo feature `tokio`): [`netrt::Runtime`] on a current-thread tokio
//!   runtime with a `LocalSet`, with real UDP and Unix datagram sockets, so code written
//!   against `netrt` runs on real networks as it does on the simulator.
//! - `tcp_dgram` (cargo feature `tokio`): a datagram socket over TCP connections
//!   (length-prefixed frames, one connection per peer), so the same datagram code runs over
//!   TCP.
//!
//! The `ccp` binary (`src/bin/ccp.rs`) compiles datapath programs and runs built-in
//! algorithms on the Unix socket, removing it on SIGINT, SIGTERM or SIGHUP.
#![warn(missing_docs)]

#[cfg(feature = "tokio")]
pub mod tcp_dgram;
#[cfg(feature = "tokio")]
pub mod tokio_rt;
pub mod unix;
