//! Network element models. (Module map filled in as modules land.)

pub mod packet;
pub mod queue;

pub use packet::{Datagram, Ecn, FlowId, NodeId, Packet, Payload};
pub use queue::Queue;
