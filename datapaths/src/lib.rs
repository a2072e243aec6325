//! Real datapaths: socket transports that drive the sans-IO protocol cores.
//!
//! Module map:
//! - [`unix`]: the Unix datagram transport CCP uses between an agent and its datapaths,
//!   exactly as portus 0.9 and libccp 1.2 do (the agent binds `/tmp/ccp/<name>`, default
//!   `portus`, and answers to each sender's bound address), plus a blocking agent loop.
//! - `tokio_rt` (cargo feature `tokio`): [`netrt::Runtime`] on a current-thread tokio
//!   runtime with a `LocalSet`, with real UDP and Unix datagram sockets, so code written
//!   against `netrt` runs on real networks as it does on the simulator.
//!
//! The `ccp` binary (`src/bin/ccp.rs`) compiles datapath programs and runs built-in
//! algorithms on the Unix socket.
#![warn(missing_docs)]

#[cfg(feature = "tokio")]
pub mod tokio_rt;
pub mod unix;
