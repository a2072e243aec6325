//! Queue disciplines behind one trait.
//!
//! Every discipline reports the packets it drops (at enqueue, like drop-tail and RED, or at
//! dequeue, like CoDel) into a caller-supplied vector, so the network can account every byte:
//! sent = delivered + dropped + queued.
//!
//! Module map:
//! - [`droptail`]: [`DropTail`] (limit in packets and/or bytes) and [`DropHead`].
//! - [`red`]: [`Red`], random early detection with ECN marking, gentle mode and idle decay.
//! - [`step`]: [`StepMark`], DCTCP-style marking at an instantaneous threshold K.
//! - [`codel`]: [`CoDel`], RFC 8289.
//! - [`sfq`]: [`Sfq`], stochastic fair queueing served by deficit round robin.
//! - [`prio`]: [`StrictPriority`], drop-tail bands served in band order.
//! - [`config`]: [`QueueConfig`], the serde form used in scenario files, and its validation.
//!
//! None of them allocates per packet once their buffers have grown to the working size, and
//! none iterates a hash container, so runs are deterministic.

pub mod codel;
pub mod config;
pub mod droptail;
pub mod prio;
pub mod red;
pub mod sfq;
pub mod step;

#[cfg(test)]
pub(crate) mod tests;

use sim_core::{SimRng, SimTime};

use crate::packet::{Packet, PacketData};

pub use codel::{CoDel, CoDelParams};
pub use config::{QueueConfig, QueueConfigError};
pub use droptail::{DropHead, DropTail};
pub use prio::StrictPriority;
pub use red::{Red, RedParams};
pub use sfq::Sfq;
pub use step::{StepMark, Threshold};

/// A queue discipline.
pub trait Queue {
    /// Offers `pkt` at `now`. Packets the discipline drops (this one or another already queued)
    /// are pushed onto `drops`.
    fn enqueue(&mut self, pkt: Packet, now: SimTime, drops: &mut Vec<Packet>);
    /// Takes the next packet to transmit at `now`; packets dropped on the way go onto `drops`.
    fn dequeue(&mut self, now: SimTime, drops: &mut Vec<Packet>) -> Option<Packet>;
    /// Packets queued.
    fn len_packets(&self) -> usize;
    /// Bytes queued.
    fn len_bytes(&self) -> u64;
    /// True when nothing is queued.
    fn is_empty(&self) -> bool {
        self.len_packets() == 0
    }
    /// Tells the discipline the rate (bit/s) of the link it feeds. Only disciplines that need it
    /// (RED's idle-time decay) use it; the default does nothing.
    fn set_service_rate(&mut self, _bits_per_sec: u64) {}
}

/// A discipline as a [`crate::Port`] holds it: the two FIFO disciplines of datacenter
/// scenarios (drop-tail, step marking) inline in the port, any other boxed.
///
/// Inline, a queue's counters and ring pointers share the port's cache lines: in a large
/// fabric, where most ports are cold when their next packet comes, a boxed queue cost a cache
/// miss of its own on every enqueue and dequeue.
pub enum PortQueue {
    /// Drop-tail, inline.
    DropTail(DropTail),
    /// Step marking, inline.
    StepMark(StepMark),
    /// Any other discipline.
    Other(Box<dyn Queue>),
}

impl PortQueue {
    /// The discipline behind a box (inline ones are moved into one).
    pub fn into_boxed(self) -> Box<dyn Queue> {
        match self {
            PortQueue::DropTail(q) => Box::new(q),
            PortQueue::StepMark(q) => Box::new(q),
            PortQueue::Other(q) => q,
        }
    }
}

impl std::fmt::Debug for PortQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortQueue::DropTail(q) => q.fmt(f),
            PortQueue::StepMark(q) => q.fmt(f),
            PortQueue::Other(q) => write!(f, "Other({} packets)", q.len_packets()),
        }
    }
}

impl From<Box<dyn Queue>> for PortQueue {
    fn from(q: Box<dyn Queue>) -> Self {
        PortQueue::Other(q)
    }
}

/// Calls the same method on whichever discipline `self` holds.
macro_rules! each {
    ($self:expr, $q:ident => $e:expr) => {
        match $self {
            PortQueue::DropTail($q) => $e,
            PortQueue::StepMark($q) => $e,
            PortQueue::Other($q) => $e,
        }
    };
}

impl Queue for PortQueue {
    #[inline]
    fn enqueue(&mut self, pkt: Packet, now: SimTime, drops: &mut Vec<Packet>) {
        each!(self, q => q.enqueue(pkt, now, drops))
    }
    #[inline]
    fn dequeue(&mut self, now: SimTime, drops: &mut Vec<Packet>) -> Option<Packet> {
        each!(self, q => q.dequeue(now, drops))
    }
    #[inline]
    fn len_packets(&self) -> usize {
        each!(self, q => q.len_packets())
    }
    #[inline]
    fn len_bytes(&self) -> u64 {
        each!(self, q => q.len_bytes())
    }
    #[inline]
    fn is_empty(&self) -> bool {
        each!(self, q => q.is_empty())
    }
    fn set_service_rate(&mut self, bits_per_sec: u64) {
        each!(self, q => q.set_service_rate(bits_per_sec))
    }
}

/// Builds a boxed queue for a port; `rng` is the port's own random stream (RED needs one).
pub type QueueFactory = dyn Fn(SimRng) -> Box<dyn Queue>;

/// A hard capacity: at most `packets` packets and at most `bytes` bytes (`None` = no bound).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Limit {
    /// Most packets the queue holds.
    pub packets: Option<usize>,
    /// Most bytes the queue holds.
    pub bytes: Option<u64>,
}

impl Limit {
    /// A limit in packets only.
    pub fn packets(n: usize) -> Self {
        Limit {
            packets: Some(n),
            bytes: None,
        }
    }

    /// A limit in bytes only.
    pub fn bytes(n: u64) -> Self {
        Limit {
            packets: None,
            bytes: Some(n),
        }
    }

    /// True when a queue holding `pkts` packets and `bytes` bytes can take `size` more bytes.
    #[inline]
    pub fn admits(&self, pkts: usize, bytes: u64, size: u32) -> bool {
        self.packets.is_none_or(|l| pkts < l)
            && self.bytes.is_none_or(|l| bytes + u64::from(size) <= l)
    }

    /// True when a queue holding `pkts` packets and `bytes` bytes is over the limit.
    #[inline]
    pub fn exceeded(&self, pkts: usize, bytes: u64) -> bool {
        self.packets.is_some_and(|l| pkts > l) || self.bytes.is_some_and(|l| bytes > l)
    }

    /// True when a lone packet of `size` bytes could ever fit.
    #[inline]
    pub fn fits_alone(&self, size: u32) -> bool {
        self.admits(0, 0, size)
    }

    /// A starting capacity for a packet buffer under this limit: small, so a port's buffer
    /// grows only to the occupancy it actually reaches. (A ring buffer's head walks through all
    /// of its capacity even at occupancy 1, so reserving the limit up front touched limit × 112
    /// bytes per port over time: 4.5 GB for a 10,000-pair dumbbell, and a cache miss per
    /// packet.)
    pub(crate) fn initial_capacity(&self) -> usize {
        self.packets.unwrap_or(8).min(8)
    }
}

/// A [`Limit`] in 16 bytes instead of 32 (`u64::MAX` for "no bound"), for the disciplines a
/// port holds inline (see [`PortQueue`]): every byte of a port counts in a large fabric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PackedLimit {
    packets: u64,
    bytes: u64,
}

impl From<Limit> for PackedLimit {
    fn from(l: Limit) -> Self {
        PackedLimit {
            packets: l.packets.map_or(u64::MAX, |p| p as u64),
            bytes: l.bytes.unwrap_or(u64::MAX),
        }
    }
}

impl PackedLimit {
    /// The limit it packs.
    pub(crate) fn unpack(self) -> Limit {
        Limit {
            packets: (self.packets != u64::MAX).then_some(self.packets as usize),
            bytes: (self.bytes != u64::MAX).then_some(self.bytes),
        }
    }

    /// As [`Limit::admits`].
    #[inline]
    pub(crate) fn admits(&self, pkts: usize, bytes: u64, size: u32) -> bool {
        (pkts as u64) < self.packets && bytes.saturating_add(u64::from(size)) <= self.bytes
    }
}

/// `VecDeque::pop_front`, and back to the start of the ring when that empties it (`clear` on
/// an empty deque only resets its head). A ring that is mostly empty (most ports and queues of
/// a large fabric) then touches the same cache line or two instead of cycling through its
/// whole buffer, which keeps large topologies' working set small.
#[inline]
pub(crate) fn pop_front_rewind<T>(q: &mut std::collections::VecDeque<T>) -> Option<T> {
    let x = q.pop_front()?;
    if q.is_empty() {
        q.clear();
    }
    Some(x)
}

/// A FIFO of packets that keeps its byte count, the storage shared by the FIFO disciplines.
#[derive(Debug, Default)]
pub(crate) struct ByteFifo {
    q: std::collections::VecDeque<Packet>,
    bytes: u64,
}

impl ByteFifo {
    /// An empty FIFO with room for `n` packets before it reallocates.
    pub(crate) fn with_capacity(n: usize) -> Self {
        ByteFifo {
            q: std::collections::VecDeque::with_capacity(n),
            bytes: 0,
        }
    }
    /// Appends a packet.
    #[inline]
    pub(crate) fn push_back(&mut self, pkt: Packet) {
        self.bytes += u64::from(pkt.size);
        self.q.push_back(pkt);
    }
    /// Removes the oldest packet, and starts loading the next one's data: it is read when
    /// the packet now leaving has been serialized, and a packet that waited in a queue of a
    /// large fabric is usually out of cache by then.
    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<Packet> {
        let p = pop_front_rewind(&mut self.q)?;
        self.bytes -= u64::from(p.size);
        if let Some(next) = self.q.front() {
            sim_core::prefetch::<PacketData>(next);
        }
        Some(p)
    }
    /// Packets held.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.q.len()
    }
    /// Bytes held.
    #[inline]
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}
