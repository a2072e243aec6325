//! Packets as the network models see them: addressing, size on the wire, ECN codepoint,
//! priority, and what they carry (a transport segment or ACK, or a datagram).

use bytes::Bytes;
use sim_core::SimTime;
use transport::{AckInfo, Segment};

/// Index of a node (host, switch, or middlebox) in a [`crate::topology::Topology`].
pub type NodeId = u32;
/// Identifies a transport flow (or a datagram socket pair) for hashing, SFQ and statistics.
pub type FlowId = u32;

/// Header bytes added to every transport segment and ACK (IPv4 20 + TCP 20).
pub const TCP_IP_HEADER: u32 = 40;
/// Header bytes added to every datagram (IPv4 20 + UDP 8).
pub const UDP_IP_HEADER: u32 = 28;

/// The IP ECN field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Ecn {
    /// Not ECN-capable transport: queues drop instead of marking.
    #[default]
    NotEct,
    /// ECN-capable transport.
    Ect,
    /// Congestion experienced (marked by a queue).
    Ce,
}

/// A datagram between two simulated sockets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Sending socket's port.
    pub src_port: u16,
    /// Receiving socket's port.
    pub dst_port: u16,
    /// Application bytes.
    pub payload: Bytes,
}

/// What a packet carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// A reliable-transport data segment.
    Data(Segment),
    /// A reliable-transport acknowledgement.
    Ack(AckInfo),
    /// An unreliable datagram.
    Datagram(Datagram),
    /// Raw bytes (e.g. a whole IP packet read from a TUN device by the real-time emulator);
    /// the network only moves it by its `size`.
    Raw(Bytes),
}

/// One packet in the simulated network: a pointer to its [`PacketData`], which it derefs to
/// (`pkt.size`, `pkt.payload`, ...).
///
/// Boxed so that queues, links and the event queue move and store 8 bytes per packet: the
/// data (over 100 bytes with an ACK's SACK blocks) is written once when the packet is made and
/// stays in place from hop to hop, instead of being copied into every queue slot and
/// propagation pipe it passes through, cold memory in a large fabric.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet(Box<PacketData>);

impl Packet {
    /// A packet carrying `data`.
    pub fn new(data: PacketData) -> Packet {
        Packet(Box::new(data))
    }
    /// A bare packet for tests: `size` bytes of datagram payload from node 0 to node 1.
    pub fn test(id: u64, flow: FlowId, size: u32) -> Packet {
        Packet::new(PacketData {
            id,
            flow,
            src: 0,
            dst: 1,
            size,
            ecn: Ecn::NotEct,
            priority: 0,
            tag: 0,
            enqueued_at: SimTime::ZERO,
            payload: Payload::Datagram(Datagram {
                src_port: 0,
                dst_port: 0,
                payload: Bytes::new(),
            }),
        })
    }

    /// The packet's data, by value.
    pub fn into_data(self) -> PacketData {
        *self.0
    }
}

impl From<PacketData> for Packet {
    fn from(data: PacketData) -> Packet {
        Packet::new(data)
    }
}

impl std::ops::Deref for Packet {
    type Target = PacketData;
    fn deref(&self) -> &PacketData {
        &self.0
    }
}

impl std::ops::DerefMut for Packet {
    fn deref_mut(&mut self) -> &mut PacketData {
        &mut self.0
    }
}

/// What one packet is: addressing, size, ECN, priority, payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketData {
    /// Unique in one simulation, in creation order.
    pub id: u64,
    /// The flow it belongs to.
    pub flow: FlowId,
    /// Source node.
    pub src: NodeId,
    /// Destination node.
    pub dst: NodeId,
    /// Bytes on the wire, headers included.
    pub size: u32,
    /// ECN codepoint.
    pub ecn: Ecn,
    /// Priority band for strict-priority queues (0 is served first).
    pub priority: u8,
    /// A small mark that programmable nodes may set and read (e.g. Bundler's epoch marks);
    /// hosts set 0 and nothing else looks at it.
    pub tag: u32,
    /// When the packet entered the current queue (set by the port that queues it).
    pub enqueued_at: SimTime,
    /// What it carries.
    pub payload: Payload,
}

impl PacketData {
    /// True when the packet may be ECN-marked instead of dropped.
    pub fn ecn_capable(&self) -> bool {
        !matches!(self.ecn, Ecn::NotEct)
    }

    /// Marks congestion experienced; returns false (and does nothing) on a non-ECT packet.
    pub fn mark_ce(&mut self) -> bool {
        if self.ecn_capable() {
            self.ecn = Ecn::Ce;
            true
        } else {
            false
        }
    }

    /// A stable per-flow hash input (for ECMP and SFQ): the 5-tuple stand-in.
    pub fn flow_key(&self) -> u64 {
        (u64::from(self.src) << 40) ^ (u64::from(self.dst) << 20) ^ u64::from(self.flow)
    }
}
