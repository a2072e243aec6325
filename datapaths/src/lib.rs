//! Real datapaths: socket transports that drive the sans-IO protocol cores.
//!
//! Module map:
//! - [`unix`]: the Unix datagram transport CCP uses between an agent and its datapaths,
//!   exactly as portus 0.9 and libccp 1.2 do (the agent binds `/tmp/ccp/<name>`, default
//!   `portus`, and answers to each sender's bound address), plus a blocking agent loop.
//!
//! The `ccp` binary (`src/bin/ccp.rs`) compiles datapath programs and runs built-in
//! algorithms on the Unix socket.
#![warn(missing_docs)]

pub mod unix;
