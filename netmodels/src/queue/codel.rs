//! CoDel (RFC 8289): drops at dequeue when the sojourn time of packets has stayed above
//! `target` for at least `interval`, then at intervals shrinking as `interval / sqrt(count)`.
//!
//! The sojourn time is measured from [`crate::PacketData::enqueued_at`], which this queue sets at
//! enqueue. Arrivals beyond the hard limit are dropped at enqueue. With `ecn`, ECT packets are
//! marked CE instead of dropped (as Linux's `codel ecn` does).

use std::collections::VecDeque;

use sim_core::{SimDuration, SimTime};

use super::{Limit, Queue};
use crate::packet::Packet;

/// CoDel's parameters (already validated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoDelParams {
    /// Hard limit.
    pub limit: Limit,
    /// Acceptable standing sojourn time.
    pub target: SimDuration,
    /// Window over which the sojourn time must stay above target before dropping starts.
    pub interval: SimDuration,
    /// A queue holding at most this many bytes is never considered above target.
    pub mtu_bytes: u32,
    /// Mark ECT packets instead of dropping them.
    pub ecn: bool,
}

/// A CoDel queue.
#[derive(Debug)]
pub struct CoDel {
    p: CoDelParams,
    q: VecDeque<Packet>,
    bytes: u64,
    first_above_time: Option<SimTime>,
    drop_next: SimTime,
    count: u32,
    lastcount: u32,
    dropping: bool,
    /// Packets dropped at dequeue by the control law.
    pub codel_drops: u64,
    /// Packets marked CE instead of dropped.
    pub marks: u64,
}

impl CoDel {
    /// An empty CoDel queue.
    pub fn new(p: CoDelParams) -> Self {
        CoDel {
            p,
            q: VecDeque::with_capacity(p.limit.initial_capacity()),
            bytes: 0,
            first_above_time: None,
            drop_next: SimTime::ZERO,
            count: 0,
            lastcount: 0,
            dropping: false,
            codel_drops: 0,
            marks: 0,
        }
    }

    /// True while in the dropping state.
    pub fn dropping(&self) -> bool {
        self.dropping
    }

    /// Drops in the current dropping episode.
    pub fn count(&self) -> u32 {
        self.count
    }

    fn control_law(&self, t: SimTime, count: u32) -> SimTime {
        let step = self.p.interval.as_nanos() as f64 / f64::from(count.max(1)).sqrt();
        t + SimDuration::from_nanos(step as u64)
    }

    fn dodequeue(&mut self, now: SimTime) -> (Option<Packet>, bool) {
        let Some(p) = self.q.pop_front() else {
            self.first_above_time = None;
            return (None, false);
        };
        self.bytes -= u64::from(p.size);
        let sojourn = now.saturating_since(p.enqueued_at);
        let mut ok_to_drop = false;
        if sojourn < self.p.target || self.bytes <= u64::from(self.p.mtu_bytes) {
            self.first_above_time = None;
        } else {
            match self.first_above_time {
                None => self.first_above_time = Some(now + self.p.interval),
                Some(t) if now >= t => ok_to_drop = true,
                Some(_) => {}
            }
        }
        (Some(p), ok_to_drop)
    }

    /// Drops or marks `p`; returns it back when it was marked (it is then still delivered).
    fn signal(&mut self, mut p: Packet, drops: &mut Vec<Packet>) -> Option<Packet> {
        if self.p.ecn && p.mark_ce() {
            self.marks += 1;
            Some(p)
        } else {
            self.codel_drops += 1;
            drops.push(p);
            None
        }
    }
}

impl Queue for CoDel {
    fn enqueue(&mut self, mut pkt: Packet, now: SimTime, drops: &mut Vec<Packet>) {
        pkt.enqueued_at = now;
        if self.p.limit.admits(self.q.len(), self.bytes, pkt.size) {
            self.bytes += u64::from(pkt.size);
            self.q.push_back(pkt);
        } else {
            drops.push(pkt);
        }
    }

    fn dequeue(&mut self, now: SimTime, drops: &mut Vec<Packet>) -> Option<Packet> {
        let (mut p, mut ok) = self.dodequeue(now);
        if p.is_none() {
            self.dropping = false;
            return None;
        }
        if self.dropping {
            if !ok {
                self.dropping = false;
            }
            while self.dropping && now >= self.drop_next {
                let Some(victim) = p.take() else { break };
                self.count = self.count.saturating_add(1);
                if let Some(marked) = self.signal(victim, drops) {
                    // Marked, not dropped: deliver it and schedule the next signal.
                    self.drop_next = self.control_law(self.drop_next, self.count);
                    return Some(marked);
                }
                (p, ok) = self.dodequeue(now);
                if ok {
                    self.drop_next = self.control_law(self.drop_next, self.count);
                } else {
                    self.dropping = false;
                }
            }
        } else if ok {
            if let Some(victim) = p.take() {
                let marked = self.signal(victim, drops);
                self.dropping = true;
                let delta = self.count.saturating_sub(self.lastcount);
                self.count = if delta > 1
                    && now.saturating_since(self.drop_next) < self.p.interval.saturating_mul(16)
                {
                    delta
                } else {
                    1
                };
                self.drop_next = self.control_law(now, self.count);
                self.lastcount = self.count;
                if marked.is_some() {
                    return marked;
                }
                (p, _) = self.dodequeue(now);
            }
        }
        p
    }

    fn len_packets(&self) -> usize {
        self.q.len()
    }

    fn len_bytes(&self) -> u64 {
        self.bytes
    }
}
