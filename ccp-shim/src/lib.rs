//! The CCP shim: congestion control of the project's transport run off the datapath, as CCP
//! describes, on any [`netrt::Runtime`] (the simulator's or tokio's).
//!
//! Module map:
//! - [`shim`]: [`CcpFactory`], a [`transport::CcFactory`] that gives every flow a connection to
//!   a `ccp` [`ccp::datapath::Datapath`] (one per sending host: CREATE with the flow's MSS,
//!   initial window and 4-tuple), invokes the datapath program on every ACK and timeout with
//!   the transport's [`transport::AckSignals`], and enforces the window and rate the program
//!   or the agent sets (pacing when a rate is set). The agent runs as a task on the same
//!   runtime, behind an in-memory channel with a one-way delay (the "staleness") that carries
//!   the libccp wire bytes. With [`CcpFactory::with_remote_agent`] the agent runs elsewhere
//!   (another process): a caller's relay task moves each host's messages through an
//!   [`AgentLink`] (the `datapaths` crate relays them over the Unix socket). Control that
//!   arrives between ACKs takes effect at its arrival instant (the flow's
//!   [`transport::FlowWaker`] is woken). When the agent stops answering,
//!   the datapath's fallback takes over after the configured timeout, and the flow says so
//!   ([`transport::CongestionControl::fell_back`]).
//! - [`notify`]: the single-threaded wake-up flag the two channel ends use.
//!
//! Nothing here reads a clock or touches a socket: time comes from the runtime's `now`, and
//! the channel is driven by explicit instants, so on the simulator a run is deterministic.

pub mod notify;
pub mod shim;

pub use shim::{
    AgentLink, CcpFactory, Direction, LoggedMsg, RelayFn, ShimConfig, ShimError, ShimStats,
};
