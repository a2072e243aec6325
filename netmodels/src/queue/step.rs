//! DCTCP-style step marking: an arriving ECT packet is marked CE when the instantaneous queue
//! it finds (not counting itself) holds at least K packets (or K bytes). Nothing is dropped
//! before the hard limit; non-ECT packets are never marked.

use sim_core::SimTime;

use super::{ByteFifo, Limit, PackedLimit, Queue};
use crate::packet::Packet;

/// The marking threshold K.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threshold {
    /// K in packets.
    Packets(usize),
    /// K in bytes.
    Bytes(u64),
}

/// A step-marking FIFO.
#[derive(Debug)]
pub struct StepMark {
    q: ByteFifo,
    limit: PackedLimit,
    k: Threshold,
    /// Packets marked CE by this queue.
    pub marks: u64,
}

impl StepMark {
    /// An empty queue marking at `k` with hard limit `limit`.
    pub fn new(k: Threshold, limit: Limit) -> Self {
        StepMark {
            q: ByteFifo::with_capacity(limit.initial_capacity()),
            limit: limit.into(),
            k,
            marks: 0,
        }
    }
}

impl Queue for StepMark {
    fn enqueue(&mut self, mut pkt: Packet, now: SimTime, drops: &mut Vec<Packet>) {
        pkt.enqueued_at = now;
        if !self.limit.admits(self.q.len(), self.q.bytes(), pkt.size) {
            drops.push(pkt);
            return;
        }
        let over = match self.k {
            Threshold::Packets(k) => self.q.len() >= k,
            Threshold::Bytes(k) => self.q.bytes() >= k,
        };
        if over && pkt.ecn != crate::packet::Ecn::Ce && pkt.mark_ce() {
            self.marks += 1;
        }
        self.q.push_back(pkt);
    }
    fn dequeue(&mut self, _now: SimTime, _drops: &mut Vec<Packet>) -> Option<Packet> {
        self.q.pop_front()
    }
    fn len_packets(&self) -> usize {
        self.q.len()
    }
    fn len_bytes(&self) -> u64 {
        self.q.bytes()
    }
}
