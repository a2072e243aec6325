//! The network model's events and the port index they name. Its own module so that the network
//! and the sockets (which inject datagrams from tasks) both depend on it and not on each other.

use crate::packet::{NodeId, Packet};

/// Index of a port: link `l` has ports `2l` (a → b) and `2l + 1` (b → a).
pub type PortId = u32;

/// The model's events. They carry indices, never packets (except datagrams from tasks).
#[derive(Debug)]
pub enum Event {
    /// The packet being serialized on a port has fully left.
    TxDone(PortId),
    /// The head of a port's propagation pipe reaches the far end.
    Arrive(PortId),
    /// A flow starts.
    FlowStart(u32),
    /// A flow's sender or receiver timer may be due.
    FlowTimer(u32),
    /// Control arrived for a flow between ACKs (a new window or rate): let its sender transmit
    /// what the controller now allows.
    FlowWake(u32),
    /// A programmable node's program starts.
    NodeStart(NodeId),
    /// A programmable node's timer.
    NodeTimer {
        /// The node.
        node: NodeId,
        /// The token it set the timer with.
        token: u64,
    },
    /// Periodic metrics sample.
    Sample,
    /// A packet injected by a task (a datagram socket) at its source host.
    Inject(Packet),
}
