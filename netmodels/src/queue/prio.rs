//! Strict priority: one drop-tail FIFO per band, band 0 served first. A packet goes to band
//! `min(priority, bands - 1)`.

use sim_core::SimTime;

use super::{DropTail, Limit, Queue};
use crate::packet::Packet;

/// A strict-priority queue.
#[derive(Debug)]
pub struct StrictPriority {
    bands: Vec<DropTail>,
    pkts: usize,
    bytes: u64,
}

impl StrictPriority {
    /// `bands` bands (at least 1), each bounded by `limit_per_band`.
    pub fn new(bands: usize, limit_per_band: Limit) -> Self {
        StrictPriority {
            bands: (0..bands.max(1))
                .map(|_| DropTail::new(limit_per_band))
                .collect(),
            pkts: 0,
            bytes: 0,
        }
    }

    /// Packets queued in band `b` (0 for an out-of-range band).
    pub fn band_len(&self, b: usize) -> usize {
        self.bands.get(b).map_or(0, Queue::len_packets)
    }
}

impl Queue for StrictPriority {
    fn enqueue(&mut self, mut pkt: Packet, now: SimTime, drops: &mut Vec<Packet>) {
        pkt.enqueued_at = now;
        let last = self.bands.len() - 1;
        let b = usize::from(pkt.priority).min(last);
        let size = u64::from(pkt.size);
        match self.bands[b].try_push(pkt) {
            Ok(()) => {
                self.pkts += 1;
                self.bytes += size;
            }
            Err(p) => drops.push(p),
        }
    }

    fn dequeue(&mut self, _now: SimTime, _drops: &mut Vec<Packet>) -> Option<Packet> {
        let p = self.bands.iter_mut().find_map(DropTail::pop)?;
        self.pkts -= 1;
        self.bytes -= u64::from(p.size);
        Some(p)
    }

    fn len_packets(&self) -> usize {
        self.pkts
    }

    fn len_bytes(&self) -> u64 {
        self.bytes
    }
}
