//! Random early detection (Floyd & Jacobson 1993) with ECN marking, the "gentle" variant and
//! idle-time decay of the average.
//!
//! The average queue is an EWMA of the instantaneous length in packets, updated at every
//! arrival. After an idle period the average decays as if `m` packets had arrived to an empty
//! queue, where `m` is the idle time divided by the time to send one mean-size packet.
//!
//! Between `min_th` and `max_th` an arrival is marked (ECT packets, when ECN is on) or dropped
//! with probability `pa = pb / (1 - count * pb)`, `pb = max_p (avg - min_th) / (max_th - min_th)`
//! and `count` the unmarked arrivals since the last mark or drop, so that the gap between
//! marks is uniform on `1..=1/pb`. Above `max_th` (or above `2 max_th` with gentle, where `pb`
//! rises from `max_p` to 1 in between) every arrival is marked if it is ECT and ECN is on and
//! `harddrop` is off (as Linux does), and dropped otherwise. The hard limit always drops.

use std::collections::VecDeque;

use rand::Rng;
use sim_core::{SimDuration, SimRng, SimTime};

use super::{Limit, Queue};
use crate::packet::Packet;

/// RED's parameters (already validated; see [`crate::queue::QueueConfig::Red`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RedParams {
    /// Hard limit.
    pub limit: Limit,
    /// Minimum threshold of the average, in packets.
    pub min_th: f64,
    /// Maximum threshold of the average, in packets.
    pub max_th: f64,
    /// Marking probability at `max_th`.
    pub max_p: f64,
    /// EWMA weight of the newest sample.
    pub w_q: f64,
    /// Gentle mode: probability rises linearly from `max_p` to 1 between `max_th` and `2 max_th`.
    pub gentle: bool,
    /// Mark ECT packets instead of dropping them.
    pub ecn: bool,
    /// Above `max_th`, drop even ECT packets.
    pub harddrop: bool,
    /// Time to send one mean-size packet, for idle decay; `None` derives it from the service
    /// rate given by [`Queue::set_service_rate`] and 1500-byte packets.
    pub mean_pkt_time: Option<SimDuration>,
}

/// A RED queue.
#[derive(Debug)]
pub struct Red {
    p: RedParams,
    q: VecDeque<Packet>,
    bytes: u64,
    avg: f64,
    count: u64,
    idle_since: Option<SimTime>,
    pkt_time: Option<SimDuration>,
    rng: SimRng,
    /// Packets marked CE by this queue.
    pub marks: u64,
    /// Packets dropped early (not counting hard-limit drops).
    pub early_drops: u64,
}

impl Red {
    /// An empty RED queue drawing its decisions from `rng`.
    pub fn new(p: RedParams, rng: SimRng) -> Self {
        Red {
            p,
            q: VecDeque::with_capacity(p.limit.initial_capacity()),
            bytes: 0,
            avg: 0.0,
            count: 0,
            idle_since: Some(SimTime::ZERO),
            pkt_time: p.mean_pkt_time,
            rng,
            marks: 0,
            early_drops: 0,
        }
    }

    /// The current average queue length, in packets.
    pub fn avg(&self) -> f64 {
        self.avg
    }

    fn update_avg(&mut self, now: SimTime) {
        let w = self.p.w_q;
        match self.idle_since.take() {
            Some(since) if self.q.is_empty() => {
                let idle = now.saturating_since(since).as_nanos() as f64;
                let m = match self.pkt_time {
                    Some(t) if t.as_nanos() > 0 => idle / t.as_nanos() as f64,
                    _ => 1.0,
                };
                self.avg *= (1.0 - w).powf(m);
            }
            _ => {
                self.avg = (1.0 - w) * self.avg + w * self.q.len() as f64;
            }
        }
    }

    /// Probability `pb` for the current average; `None` below `min_th`, `Some(1.0)` in the
    /// forced region.
    fn base_prob(&self) -> Option<f64> {
        let RedParams {
            min_th,
            max_th,
            max_p,
            gentle,
            ..
        } = self.p;
        let a = self.avg;
        if a < min_th {
            None
        } else if a < max_th {
            Some(max_p * (a - min_th) / (max_th - min_th))
        } else if gentle && a < 2.0 * max_th {
            Some(max_p + (1.0 - max_p) * (a - max_th) / max_th)
        } else {
            Some(1.0)
        }
    }

    fn forced(&self) -> bool {
        let lim = if self.p.gentle {
            2.0 * self.p.max_th
        } else {
            self.p.max_th
        };
        self.avg >= lim
    }
}

impl Queue for Red {
    fn enqueue(&mut self, mut pkt: Packet, now: SimTime, drops: &mut Vec<Packet>) {
        pkt.enqueued_at = now;
        self.update_avg(now);
        let congested = match self.base_prob() {
            None => {
                self.count = 0;
                false
            }
            Some(_) if self.forced() => {
                self.count = 0;
                if self.p.harddrop {
                    self.early_drops += 1;
                    drops.push(pkt);
                    return;
                }
                true
            }
            Some(pb) => {
                // `count` unmarked arrivals since the last mark: the gap between marks is
                // then uniform on 1..=1/pb.
                let denom = 1.0 - self.count as f64 * pb;
                let pa = if denom <= 0.0 {
                    1.0
                } else {
                    (pb / denom).min(1.0)
                };
                let u: f64 = self.rng.random();
                if u < pa {
                    self.count = 0;
                    true
                } else {
                    self.count += 1;
                    false
                }
            }
        };
        if congested {
            if self.p.ecn && pkt.mark_ce() {
                self.marks += 1;
            } else {
                self.early_drops += 1;
                drops.push(pkt);
                return;
            }
        }
        if self.p.limit.admits(self.q.len(), self.bytes, pkt.size) {
            self.bytes += u64::from(pkt.size);
            self.q.push_back(pkt);
        } else {
            drops.push(pkt);
        }
    }

    fn dequeue(&mut self, now: SimTime, _drops: &mut Vec<Packet>) -> Option<Packet> {
        let p = self.q.pop_front()?;
        self.bytes -= u64::from(p.size);
        if self.q.is_empty() {
            self.idle_since = Some(now);
        }
        Some(p)
    }

    fn len_packets(&self) -> usize {
        self.q.len()
    }

    fn len_bytes(&self) -> u64 {
        self.bytes
    }

    fn set_service_rate(&mut self, bits_per_sec: u64) {
        if self.p.mean_pkt_time.is_none() && bits_per_sec > 0 {
            self.pkt_time = Some(SimDuration::transmission(1500, bits_per_sec));
        }
    }
}
