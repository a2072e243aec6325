//! Bertha Chunnels: the abstraction, typed stacks and negotiation.
//!
//! An application states the network functions it wants as a stack of Chunnels; at connection
//! time the endpoints negotiate which implementation of each to use. Everything here is
//! generic over [`netrt`]'s runtime and datagram sockets, so the same code runs on the
//! simulator and on tokio; nothing calls a clock or a socket other than through them.
//!
//! Module map:
//! - [`conn`]: the data side ([`ChunnelConnection`]: `send`/`recv` and batch variants),
//!   [`Either`] and the [`Error`] of every layer.
//! - [`mod@stack`]: the control side ([`Chunnel::connect_wrap`]), the capability declaration
//!   ([`Negotiate`]), typed stacks ([`stack!`], [`CxList`]), alternatives ([`select!`]) and
//!   their description ([`Describe`]).
//! - [`caps`]: capabilities ([`Offer`]) and the compatibility rules (exact match and
//!   coverage).
//! - [`registry`]: discovery: deployed implementations, priorities, offload capacity
//!   reservations ([`netmodels::offload`]) and init/teardown hooks.
//! - [`negotiate`]: the server's decision and policy, 1-RTT and 0-RTT client and server over
//!   any datagram socket.
//! - [`rendezvous`]: multi-endpoint negotiation through a key-value store with serializable
//!   transactions (in-memory store here), heartbeat membership, two-phase-commit upgrades
//!   that switch every peer's stack at run time.
//! - [`wire`]: framing, fragmentation and the negotiation messages (bounded decoding).
//! - [`queue`]: a single-threaded async FIFO.
//! - [`opt`]: optimization passes, compile-time substitutions over stack types ([`pass!`]).
#![warn(missing_docs)]

pub mod caps;
pub mod conn;
pub mod negotiate;
pub mod opt;
pub mod queue;
pub mod registry;
pub mod rendezvous;
pub mod stack;
pub mod wire;

pub use caps::{Agreement, Compat, Offer, Scope};
pub use conn::{ChunnelConnection, Either, Error};
pub use negotiate::{NegotiateConfig, Negotiated, NegotiationError};
pub use registry::{Endpoints, Entry, Registry};
pub use stack::{Alternative, Chunnel, CxList, CxNil, Describe, Negotiate, PolicyCtx, Select};
