//! A sharded key-value store over Bertha Chunnels, with a YCSB load generator (issue 12;
//! thesis §3.6.4, HotNets'20 §5).
//!
//! The same server and client code runs on the deterministic simulator and on real UDP
//! loopback (everything is generic over `netrt::Runtime`). Sharding is chosen per connection
//! by negotiation at the server's front address:
//! - **client push**: a client whose stack has `ClientShard` gets the server's
//!   `AcceptClientPush` branch and sends each request to its shard's own socket;
//! - **switch offload** (simulation): a plain client gets the switch-offloaded sharder when it
//!   is registered and the switch has a free table entry; a programmable switch then steers
//!   each request to its shard by hashing the key at the negotiated format's byte offset
//!   ([`offload`]);
//! - **server fallback**: otherwise the server's host sharder dispatches every request
//!   through one dispatcher, the bottleneck client push avoids ([`cost`]); the dispatcher
//!   deserializes each request, or, with [`HostSharder::RawOffset`] (thesis Fig 3.10), is
//!   the raw-offset sharder `chunnels::raw_shard::RawServerShard`, which hashes the key's
//!   bytes at the negotiated format's offset.
//!
//! Modules: [`msg`] (the 132-byte message and its layout), [`store`] (per-shard maps),
//! [`cost`] (the cost model, calibrated on real loopback, and FIFO stages), [`server`],
//! [`client`], [`offload`] (the switch program and its registration), [`ycsb`] (workloads,
//! scrambled zipfian, Poisson arrivals), [`loadgen`] (load phase and open-loop phase),
//! [`experiment`] (thesis Fig 3.9 / HotNets Fig 5 on the simulator), [`portability`] (thesis
//! Fig 3.11 on real sockets: UDP, Unix datagram, TCP and in-process backends, each with
//! negotiation + Chunnels, Chunnels without negotiation, and Chunnels inlined by hand; the
//! in-process backend is [`datapaths::inproc`], dropping datagrams beyond a 4,096-datagram
//! mailbox).
#![warn(missing_docs)]

pub mod client;
pub mod cost;
pub mod experiment;
pub mod loadgen;
pub mod msg;
pub mod offload;
pub mod portability;
pub mod server;
pub mod store;
pub mod ycsb;

pub use client::{ClientMode, KvClient};
pub use cost::CostModel;
pub use server::{HostSharder, Server, ServerConfig};

/// Errors of the store's setup and runs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KvError {
    /// A socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// A Chunnel or negotiation failed.
    #[error(transparent)]
    Chunnel(#[from] chunnel::Error),
    /// A parameter is out of range.
    #[error("configuration: {0}")]
    Config(String),
    /// No reply to a request in time.
    #[error("no reply to request {0:#x} in time")]
    Timeout(u64),
    /// A message did not serialize.
    #[error("serialization: {0}")]
    Serialize(String),
    /// The simulation could not be built or ran dry.
    #[error("simulation: {0}")]
    Sim(String),
}
