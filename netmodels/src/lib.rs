//! Network element models, composable into a [`network::Network`] that runs on
//! [`sim_core::Simulation`].
//!
//! Module map:
//! - [`packet`]: packets, addressing, ECN, payloads.
//! - [`queue`]: queue disciplines behind one [`Queue`] trait, and their scenario configs.
//! - [`link`]: link servers (fixed rate, Mahimahi trace with per-byte accounting) and i.i.d. loss.
//! - [`topology`]: nodes and links, builders (dumbbell, star, leaf-spine), routing with ECMP.
//! - [`network`]: the event-driven model: ports, switches, hosts, transport flows, metrics.
//! - [`socket`]: async datagram sockets on simulated hosts.
//! - [`offload`]: SmartNIC, PCIe and programmable-switch capacity models with reserve/release.
//! - [`pcap`]: a pcap writer for any simulated link.

pub mod link;
pub mod network;
pub mod offload;
pub mod packet;
pub mod pcap;
pub mod queue;
pub mod socket;
pub mod topology;

pub use link::{LinkConfig, LinkServer, LossModel, MahimahiTrace};
pub use network::{Event, FlowRecord, FlowSpec, Network, NetworkError, NetworkOptions};
pub use offload::{Demand, OffloadError, ProgrammableSwitch, Reservation, SmartNic};
pub use packet::{Datagram, Ecn, FlowId, NodeId, Packet, Payload};
pub use pcap::PcapTap;
pub use queue::{Queue, QueueConfig, QueueConfigError};
pub use socket::{NetApi, SimAddr, UdpSocket};
pub use topology::{LinkParams, Topology, TopologyConfig};
