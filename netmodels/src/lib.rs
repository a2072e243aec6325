//! Network element models. (Module map filled in as modules land.)

pub mod link;
pub mod offload;
pub mod packet;
pub mod pcap;
pub mod queue;

pub use link::{LinkConfig, LinkServer, LossModel, MahimahiTrace};
pub use offload::{Demand, OffloadError, ProgrammableSwitch, Reservation, SmartNic};
pub use packet::{Datagram, Ecn, FlowId, NodeId, Packet, Payload};
pub use pcap::PcapTap;
pub use queue::{Queue, QueueConfig, QueueConfigError};
