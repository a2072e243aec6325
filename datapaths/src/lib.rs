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
//! - `stream` (cargo feature `tokio`): the project's transport (`transport::Sender` /
//!   `Receiver`) on real UDP sockets, with native or CCP congestion control (the CCP agent in
//!   another process, over the Unix socket), bulk and request/response workloads, and the
//!   same workloads over Linux TCP with a chosen `TCP_CONGESTION`.
//! - [`inproc`]: an in-process datagram network between threads (a memory channel; a send to
//!   a full mailbox waits or drops, as the net is configured), the Bertha experiments'
//!   "in-process" base connection.
//!
//! The `ccp` binary (`src/bin/ccp.rs`) compiles datapath programs and runs built-in
//! algorithms on the Unix socket, removing it on SIGINT, SIGTERM or SIGHUP. The `realflow`
//! binary runs the `stream` workloads as separate processes (results as JSON); `ccp-eval`
//! measures the CCP costs of the thesis (Table 4.1, Figs 4.7 and 4.8) into CSV files.
#![warn(missing_docs)]

pub mod inproc;
#[cfg(feature = "tokio")]
pub mod stream;
#[cfg(feature = "tokio")]
pub mod tcp_dgram;
#[cfg(feature = "tokio")]
pub mod tokio_rt;
pub mod unix;
