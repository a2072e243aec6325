//! Congestion Control Plane (CCP) core, sans-IO: no simulator, no tokio, no sockets.
//!
//! Module map:
//! - [`lang`]: the datapath language: lexer, parser, type checker and compiler to [`program`] form.
//! - [`program`]: the compiled program representation (expressions and instructions as libccp executes them).
//! - [`wire`]: the six libccp/portus messages, encoded and decoded byte-for-byte like upstream.
//! - [`datapath`]: the datapath runtime (what libccp does): per-flow program state, evaluation, reports, fallback.
//! - [`agent`]: the agent core: algorithm trait, per-datapath flow bookkeeping, READY handling, aggregation hooks.
//! - [`algs`]: congestion control algorithms (Reno, Cubic, DCTCP, BBR, Copa, Vegas, Nimbus, an
//!   aggregate Reno) built by name from scenario parameters.
//! - [`ipc`]: the message-transport trait between agent and datapaths, and an in-memory channel
//!   pair with a one-way delay (named after portus's and libccp's `ipc` modules).
//!
//! Deliberate differences from portus 0.9 and libccp 1.2 are listed below, each with the test that shows it.
#![doc = include_str!("docs/lang_differences.md")]
#![doc = include_str!("docs/runtime_differences.md")]
#![warn(missing_docs)]

pub mod agent;
pub mod algs;
pub mod datapath;
pub mod ipc;
pub mod lang;
pub mod program;
pub mod wire;
