//! Network element models, composable into a [`network::Network`] that runs on
//! [`sim_core::Simulation`].
//!
//! Module map:
//! - [`packet`]: packets, addressing, ECN, tags, payloads (transport, datagram, raw bytes).
//! - [`queue`]: queue disciplines behind one [`Queue`] trait, and their scenario configs.
//! - [`link`]: link servers (fixed rate, settable at run time; Mahimahi trace with per-byte
//!   accounting) and i.i.d. loss.
//! - [`port`]: one link direction (queue → server → loss → propagation) as a sans-IO state
//!   machine, driven by simulator events or polled under a wall clock.
//! - [`topology`]: nodes and links, builders (dumbbell with an optional middlebox, star,
//!   leaf-spine), node addresses, routing with ECMP.
//! - [`network`]: the event-driven model: ports, switches, programmable nodes, hosts,
//!   transport flows.
//! - [`events`]: the model's events.
//! - [`node`]: programmable nodes ([`node::NodeProgram`]) and built-in programs.
//! - [`monitoring`]: time-series names and the periodic sampler.
//! - [`sockets`]: datagram sockets on simulated hosts and [`SimRuntime`], the simulator's
//!   [`netrt::Runtime`].
//! - [`offload`]: SmartNIC, PCIe and programmable-switch capacity models with reserve/release.
//! - [`pcap`]: a pcap writer for any simulated link.

#![warn(missing_docs)]

pub mod events;
pub mod link;
pub mod monitoring;
pub mod network;
pub mod node;
pub mod offload;
pub mod packet;
pub mod pcap;
pub mod port;
pub mod queue;
pub mod sockets;
pub mod topology;

pub use events::{Event, PortId};
pub use link::{LinkConfig, LinkServer, LossModel, MahimahiTrace};
pub use network::{FlowRecord, FlowSpec, Network, NetworkError, NetworkOptions};
pub use node::{NodeCtx, NodeError, NodeProgram, ProgramConfig};
pub use offload::{Demand, OffloadError, ProgrammableSwitch, Reservation, SmartNic};
pub use packet::{Datagram, Ecn, FlowId, NodeId, Packet, PacketData, Payload};
pub use pcap::PcapTap;
pub use port::{Port, PortError, PortStats};
pub use queue::{PortQueue, Queue, QueueConfig, QueueConfigError};
pub use sockets::{HostCosts, IpcSocket, SimRuntime, UdpSocket};
pub use topology::{node_ip, LinkParams, MiddleboxConfig, Topology, TopologyConfig};
