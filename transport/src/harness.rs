//! A quinn-style test harness: one [`Sender`] and one [`Receiver`] joined by a scripted,
//! deterministic channel, with a virtual clock that jumps to the earliest wake-up.
//!
//! The data direction has a one-way delay and an optional bottleneck rate (segments serialize
//! one after another, FIFO); the ACK direction has the same one-way delay and no rate limit.
//! Data segments can be dropped by (segment number, n-th transmission) or by overall packet
//! index, and a custom [`Pair::policy`] can drop, delay (reorder) or CE-mark any of them. Every
//! transmission, drop and ACK is logged so tests can assert exact retransmissions and times.
//!
//! SYNs (with [`TransportConfig::handshake`]) are logged and indexed like any transmission and
//! serialize as `header_bytes` at the bottleneck; they are counted apart from data (`nth` is the
//! n-th SYN, `seg_no` 0), are never matched by [`Pair::drops`] (use [`Pair::drop_syns`]) and are
//! not in [`Pair::retransmissions`]. The SYN-ACK is an ACK like the others for
//! [`Pair::drop_acks`].

use std::collections::BTreeMap;

use netrt::{Duration, Instant};

use crate::cc::CongestionControl;
use crate::config::TransportConfig;
use crate::receiver::Receiver;
use crate::sender::Sender;
use crate::wire::{AckInfo, Segment};

/// One data transmission by the sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxRecord {
    /// When it left the sender.
    pub at: Instant,
    /// The segment.
    pub seg: Segment,
    /// Index among all data transmissions (0-based).
    pub index: u64,
    /// Segment number: `seq / mss` (0 for a SYN).
    pub seg_no: u64,
    /// Which transmission of this segment (1 = original), or of the SYN.
    pub nth: u32,
}

/// What the channel does with one data transmission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Deliver after the one-way delay plus `extra_delay` (reordering), CE-marked or not.
    Deliver {
        /// Added to the one-way delay.
        extra_delay: Duration,
        /// Arrives with ECN-CE.
        ce: bool,
    },
    /// Lose it.
    Drop,
}

impl Fate {
    /// Plain delivery.
    pub const DELIVER: Fate = Fate::Deliver {
        extra_delay: Duration::ZERO,
        ce: false,
    };
}

/// A custom channel policy.
pub type Policy = Box<dyn FnMut(&TxRecord) -> Fate>;

enum InFlight {
    Data(Segment, bool),
    Ack(AckInfo),
}

/// Sender + channel + receiver.
pub struct Pair {
    /// The sender under test.
    pub sender: Sender,
    /// The receiver under test.
    pub receiver: Receiver,
    /// Virtual time.
    pub now: Instant,
    /// One-way propagation delay (each direction).
    pub one_way: Duration,
    /// Bottleneck rate of the data direction, bits/s (`None`: infinite).
    pub rate_bps: Option<u64>,
    /// Header bytes added to each segment's payload for serialization at the bottleneck.
    pub header_bytes: u32,
    /// Drop-tail bottleneck buffer, as the most queueing delay a segment may wait (`None`:
    /// unlimited). Only meaningful with `rate_bps`.
    pub queue_limit: Option<Duration>,
    /// Segments dropped by the bottleneck buffer.
    pub queue_drops: u64,
    /// Drop these (segment number, n-th transmission) pairs of data segments.
    pub drops: Vec<(u64, u32)>,
    /// Drop these SYN transmissions (1 = the first SYN).
    pub drop_syns: Vec<u32>,
    /// Drop data transmissions with these overall indices.
    pub drop_indices: Vec<u64>,
    /// Drop ACKs with these indices (0-based, in the order the receiver emitted them).
    pub drop_acks: Vec<u64>,
    /// Consulted for every transmission not dropped by the lists above.
    pub policy: Option<Policy>,
    /// Every data transmission.
    pub tx_log: Vec<TxRecord>,
    /// Dropped data transmissions.
    pub dropped: Vec<TxRecord>,
    /// ACKs as they reached the sender.
    pub ack_log: Vec<(Instant, AckInfo)>,
    /// Receiver's in-order byte count after every delivered segment (arrival time, bytes).
    pub delivered_log: Vec<(Instant, u64)>,
    total: Option<u64>,
    mss: u64,
    link_free: Instant,
    acks_emitted: u64,
    order: u64,
    queue: BTreeMap<(Instant, u64), InFlight>,
    tx_counts: BTreeMap<u64, u32>,
    syns_sent: u32,
}

impl std::fmt::Debug for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pair")
            .field("now", &self.now)
            .field("sender", &self.sender)
            .field("receiver", &self.receiver)
            .finish_non_exhaustive()
    }
}

impl Pair {
    /// A pair sending `total` bytes (`None`: endless) with controller `cc`, starting at time 0.
    pub fn new(
        cfg: TransportConfig,
        total: Option<u64>,
        cc: Box<dyn CongestionControl>,
        one_way: Duration,
        rate_bps: Option<u64>,
    ) -> Self {
        let mss = cfg.mss_bytes();
        Pair {
            sender: Sender::new(cfg.clone(), total, cc, Instant::ZERO),
            receiver: Receiver::new(cfg),
            now: Instant::ZERO,
            one_way,
            rate_bps,
            header_bytes: 0,
            queue_limit: None,
            queue_drops: 0,
            drops: Vec::new(),
            drop_syns: Vec::new(),
            drop_indices: Vec::new(),
            drop_acks: Vec::new(),
            policy: None,
            tx_log: Vec::new(),
            dropped: Vec::new(),
            ack_log: Vec::new(),
            delivered_log: Vec::new(),
            total,
            mss,
            link_free: Instant::ZERO,
            acks_emitted: 0,
            order: 0,
            queue: BTreeMap::new(),
            tx_counts: BTreeMap::new(),
            syns_sent: 0,
        }
    }

    /// Lets the sender transmit everything it may at the current time.
    pub fn pump(&mut self) {
        while let Some(seg) = self.sender.poll_transmit(self.now) {
            self.transmit(seg);
        }
    }

    /// Advances to the next event and handles it. Returns false when nothing is left to do.
    pub fn step(&mut self) -> bool {
        self.pump();
        let net = self.queue.keys().next().map(|k| k.0);
        let rt = self.receiver.poll_timeout();
        let st = self.sender.poll_timeout();
        let Some(next) = [net, rt, st].into_iter().flatten().min() else {
            return false;
        };
        self.now = self.now.max(next);
        if net == Some(next) {
            if let Some(((_, _), item)) = self.queue.pop_first() {
                match item {
                    InFlight::Data(seg, ce) => {
                        let ack = self.receiver.on_segment(self.now, &seg, ce);
                        self.delivered_log
                            .push((self.now, self.receiver.delivered_bytes()));
                        if let Some(a) = ack {
                            self.emit_ack(a);
                        }
                    }
                    InFlight::Ack(a) => {
                        self.ack_log.push((self.now, a));
                        self.sender.on_ack(self.now, &a);
                    }
                }
            }
        } else if rt == Some(next) {
            if let Some(a) = self.receiver.on_timeout(self.now) {
                self.emit_ack(a);
            }
        } else {
            self.sender.on_timeout(self.now);
        }
        self.pump();
        true
    }

    /// Runs until the flow is complete at both ends, nothing is left to do, the clock passes
    /// `deadline`, or `max_steps` steps were taken. Returns true if complete.
    pub fn run_until_complete(&mut self, deadline: Instant, max_steps: u64) -> bool {
        for _ in 0..max_steps {
            if self.is_complete() || self.now > deadline {
                break;
            }
            if !self.step() {
                break;
            }
        }
        self.is_complete()
    }

    /// Runs until the clock reaches `t` (events at later times stay queued).
    pub fn run_until(&mut self, t: Instant, max_steps: u64) {
        for _ in 0..max_steps {
            self.pump();
            let net = self.queue.keys().next().map(|k| k.0);
            let next = [
                net,
                self.receiver.poll_timeout(),
                self.sender.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            if next.is_none_or(|n| n > t) {
                break;
            }
            self.step();
        }
        self.now = self.now.max(t);
        self.pump();
    }

    /// True when the sender saw everything acknowledged and the receiver delivered it all.
    pub fn is_complete(&self) -> bool {
        self.sender.is_complete() && self.total.is_some_and(|t| self.receiver.is_complete(t))
    }

    /// Data retransmissions: (time, segment number, n-th transmission).
    pub fn retransmissions(&self) -> Vec<(Instant, u64, u32)> {
        self.tx_log
            .iter()
            .filter(|r| r.nth > 1 && !r.seg.syn)
            .map(|r| (r.at, r.seg_no, r.nth))
            .collect()
    }

    fn transmit(&mut self, seg: Segment) {
        let (seg_no, nth) = if seg.syn {
            self.syns_sent += 1;
            (0, self.syns_sent)
        } else {
            let count = self.tx_counts.entry(seg.seq).or_insert(0);
            *count += 1;
            (seg.seq / self.mss, *count)
        };
        let rec = TxRecord {
            at: self.now,
            seg,
            index: self.tx_log.len() as u64,
            seg_no,
            nth,
        };
        self.tx_log.push(rec);
        let listed = if seg.syn {
            self.drop_syns.contains(&nth)
        } else {
            self.drops.contains(&(seg_no, nth))
        };
        let fate = if listed || self.drop_indices.contains(&rec.index) {
            Fate::Drop
        } else if let Some(p) = self.policy.as_mut() {
            p(&rec)
        } else {
            Fate::DELIVER
        };
        let overflow = self.rate_bps.is_some()
            && self
                .queue_limit
                .is_some_and(|lim| self.link_free.saturating_since(self.now) > lim);
        let fate = if overflow && fate != Fate::Drop {
            self.queue_drops += 1;
            Fate::Drop
        } else {
            fate
        };
        match fate {
            Fate::Drop => self.dropped.push(rec),
            Fate::Deliver { extra_delay, ce } => {
                let depart = match self.rate_bps {
                    Some(r) => {
                        let bytes = u64::from(seg.len) + u64::from(self.header_bytes);
                        let d = self.now.max(self.link_free) + Duration::transmission(bytes, r);
                        self.link_free = d;
                        d
                    }
                    None => self.now,
                };
                self.schedule(depart + self.one_way + extra_delay, InFlight::Data(seg, ce));
            }
        }
    }

    fn emit_ack(&mut self, a: AckInfo) {
        let idx = self.acks_emitted;
        self.acks_emitted += 1;
        if !self.drop_acks.contains(&idx) {
            self.schedule(self.now + self.one_way, InFlight::Ack(a));
        }
    }

    fn schedule(&mut self, at: Instant, item: InFlight) {
        self.order += 1;
        self.queue.insert((at, self.order), item);
    }
}
