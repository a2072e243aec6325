//! Stochastic fair queueing served by deficit round robin.
//!
//! Each packet's [`crate::PacketData::flow_key`], mixed with a per-queue salt, picks one of N buckets.
//! Active buckets are served in round-robin order; each visit grants `quantum` bytes of credit
//! and the bucket sends head packets while they fit its deficit (Shreedhar & Varghese). When
//! the shared limit is exceeded, the tail packet of the longest bucket (in bytes; the lowest
//! index among equals) is dropped, which may be the arriving packet itself.

use std::collections::VecDeque;

use rand::Rng;
use sim_core::{SimRng, SimTime};

use super::{Limit, Queue};
use crate::packet::Packet;

#[derive(Debug, Default)]
struct Bucket {
    q: VecDeque<Packet>,
    bytes: u64,
    deficit: u64,
    active: bool,
}

/// An SFQ/DRR queue.
#[derive(Debug)]
pub struct Sfq {
    buckets: Vec<Bucket>,
    active: VecDeque<usize>,
    quantum: u64,
    salt: u64,
    limit: Limit,
    pkts: usize,
    bytes: u64,
}

/// SplitMix64's finalizer: a cheap, well-mixing, platform-independent hash.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Sfq {
    /// An empty queue of `buckets` buckets (at least 1) and `quantum` bytes per round (at
    /// least 1), salted from `rng`.
    pub fn new(buckets: usize, quantum: u32, limit: Limit, mut rng: SimRng) -> Self {
        let n = buckets.max(1);
        Sfq {
            buckets: (0..n).map(|_| Bucket::default()).collect(),
            active: VecDeque::new(),
            quantum: u64::from(quantum.max(1)),
            salt: rng.random(),
            limit,
            pkts: 0,
            bytes: 0,
        }
    }

    /// The bucket `pkt` hashes to.
    pub fn bucket_of(&self, pkt: &Packet) -> usize {
        (mix(pkt.flow_key() ^ self.salt) % self.buckets.len() as u64) as usize
    }

    /// Packets queued in bucket `b` (0 for an out-of-range index).
    pub fn bucket_len(&self, b: usize) -> usize {
        self.buckets.get(b).map_or(0, |x| x.q.len())
    }

    fn drop_from_longest(&mut self, drops: &mut Vec<Packet>) {
        let mut best: Option<(usize, u64)> = None;
        for &b in &self.active {
            let len = self.buckets[b].bytes;
            if best.is_none_or(|(bi, bl)| len > bl || (len == bl && b < bi)) {
                best = Some((b, len));
            }
        }
        let Some((b, _)) = best else { return };
        let bucket = &mut self.buckets[b];
        if let Some(p) = bucket.q.pop_back() {
            bucket.bytes -= u64::from(p.size);
            self.bytes -= u64::from(p.size);
            self.pkts -= 1;
            drops.push(p);
        }
        if bucket.q.is_empty() {
            bucket.active = false;
            bucket.deficit = 0;
            self.active.retain(|&x| x != b);
        }
    }
}

impl Queue for Sfq {
    fn enqueue(&mut self, mut pkt: Packet, now: SimTime, drops: &mut Vec<Packet>) {
        pkt.enqueued_at = now;
        if !self.limit.fits_alone(pkt.size) {
            drops.push(pkt);
            return;
        }
        let b = self.bucket_of(&pkt);
        let size = u64::from(pkt.size);
        let bucket = &mut self.buckets[b];
        bucket.bytes += size;
        bucket.q.push_back(pkt);
        if !bucket.active {
            bucket.active = true;
            bucket.deficit = self.quantum;
            self.active.push_back(b);
        }
        self.bytes += size;
        self.pkts += 1;
        while self.limit.exceeded(self.pkts, self.bytes) && self.pkts > 0 {
            self.drop_from_longest(drops);
        }
    }

    fn dequeue(&mut self, _now: SimTime, _drops: &mut Vec<Packet>) -> Option<Packet> {
        loop {
            let &b = self.active.front()?;
            let bucket = &mut self.buckets[b];
            let Some(head) = bucket.q.front() else {
                // Unreachable by construction (empty buckets leave the active list).
                bucket.active = false;
                self.active.pop_front();
                continue;
            };
            let size = u64::from(head.size);
            if size <= bucket.deficit {
                let p = bucket.q.pop_front()?;
                bucket.deficit -= size;
                bucket.bytes -= size;
                self.bytes -= size;
                self.pkts -= 1;
                if bucket.q.is_empty() {
                    bucket.active = false;
                    bucket.deficit = 0;
                    self.active.pop_front();
                }
                return Some(p);
            }
            bucket.deficit += self.quantum;
            self.active.rotate_left(1);
        }
    }

    fn len_packets(&self) -> usize {
        self.pkts
    }

    fn len_bytes(&self) -> u64 {
        self.bytes
    }
}
