//! Drop-tail and drop-head FIFOs.

use sim_core::SimTime;

use super::{ByteFifo, Limit, PackedLimit, Queue};
use crate::packet::Packet;

/// A FIFO that drops arriving packets that do not fit.
#[derive(Debug)]
pub struct DropTail {
    q: ByteFifo,
    limit: PackedLimit,
}

impl DropTail {
    /// An empty FIFO bounded by `limit`.
    pub fn new(limit: Limit) -> Self {
        DropTail {
            q: ByteFifo::with_capacity(limit.initial_capacity()),
            limit: limit.into(),
        }
    }

    /// Its limit.
    pub fn limit(&self) -> Limit {
        self.limit.unpack()
    }

    /// Appends `pkt` if it fits; otherwise gives it back.
    #[inline]
    pub(crate) fn try_push(&mut self, pkt: Packet) -> Result<(), Packet> {
        if self.limit.admits(self.q.len(), self.q.bytes(), pkt.size) {
            self.q.push_back(pkt);
            Ok(())
        } else {
            Err(pkt)
        }
    }

    /// Removes the oldest packet.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<Packet> {
        self.q.pop_front()
    }
}

impl Queue for DropTail {
    #[inline]
    fn enqueue(&mut self, mut pkt: Packet, now: SimTime, drops: &mut Vec<Packet>) {
        pkt.enqueued_at = now;
        if let Err(p) = self.try_push(pkt) {
            drops.push(p);
        }
    }
    #[inline]
    fn dequeue(&mut self, _now: SimTime, _drops: &mut Vec<Packet>) -> Option<Packet> {
        self.pop()
    }
    fn len_packets(&self) -> usize {
        self.q.len()
    }
    fn len_bytes(&self) -> u64 {
        self.q.bytes()
    }
}

/// A FIFO that, when full, drops its oldest packets to admit the new one. A packet too large to
/// fit even in an empty queue is dropped itself.
#[derive(Debug)]
pub struct DropHead {
    q: ByteFifo,
    limit: Limit,
}

impl DropHead {
    /// An empty queue bounded by `limit`.
    pub fn new(limit: Limit) -> Self {
        DropHead {
            q: ByteFifo::with_capacity(limit.initial_capacity()),
            limit,
        }
    }
}

impl Queue for DropHead {
    fn enqueue(&mut self, mut pkt: Packet, now: SimTime, drops: &mut Vec<Packet>) {
        pkt.enqueued_at = now;
        if !self.limit.fits_alone(pkt.size) {
            drops.push(pkt);
            return;
        }
        while !self.limit.admits(self.q.len(), self.q.bytes(), pkt.size) {
            match self.q.pop_front() {
                Some(old) => {
                    drops.push(old);
                }
                None => break,
            }
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
