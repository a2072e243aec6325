//! Queue disciplines behind one trait.
//!
//! Every discipline reports the packets it drops (at enqueue, like drop-tail and RED, or at
//! dequeue, like CoDel) into a caller-supplied vector, so the network can account every byte:
//! sent = delivered + dropped + queued.

use sim_core::{SimRng, SimTime};

use crate::packet::Packet;

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
}

/// Builds a boxed queue for a port; `rng` is the port's own random stream (RED needs one).
pub type QueueFactory = dyn Fn(SimRng) -> Box<dyn Queue>;
