//! The receiving half: reassembly of out-of-order data as ranges, cumulative ACKs with SACK
//! blocks (RFC 2018 order), optional delayed ACKs, and DCTCP-style exact ECN echo.
//!
//! ACK policy:
//! - without delayed ACKs every segment is acknowledged at once;
//! - with delayed ACKs an in-order segment is acknowledged once two full-sized segments (2·MSS
//!   bytes) are pending, at the delayed-ACK timeout after the first pending one, or at once when
//!   it completes the stream (FIN);
//! - out-of-order segments, segments that fill (part of) a hole and duplicates are acknowledged
//!   at once (RFC 5681 §4.2);
//! - ECN (RFC 8257 §3.2): the ECE bit of an ACK is the CE state of the segments it covers. When
//!   the CE state changes while an ACK is delayed, the pending segments are acknowledged at once
//!   with the old state; if the new segment also needs an immediate ACK, that second ACK is
//!   released through [`Receiver::poll_timeout`]/[`Receiver::on_timeout`] at the same instant.
//!
//! Timestamp echo: an immediate ACK echoes the segment that triggered it; a delayed ACK echoes
//! the first segment it covers (RFC 7323), so the delay shows up in the RTT.
//!
//! Connection setup: every SYN (first, retransmitted or a late duplicate) is answered at once with
//! a SYN-ACK that echoes its timestamp and carries the current cumulative ACK and SACK blocks.
//! A SYN changes nothing else: no data, no delayed-ACK or CE state, and its ECN mark is ignored
//! (SYNs are not ECN-capable, RFC 3168 §6.1.1).

use std::collections::VecDeque;

use netrt::Instant;

use crate::config::TransportConfig;
use crate::rangeset::RangeSet;
use crate::wire::{AckInfo, SackBlock, Segment, MAX_SACK_BLOCKS};

/// Counters of one receiver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    /// Data segments received.
    pub segments: u64,
    /// Segments that carried nothing new.
    pub duplicate_segments: u64,
    /// Segments that arrived above a hole.
    pub out_of_order_segments: u64,
    /// Segments that arrived CE-marked.
    pub ce_segments: u64,
    /// ACKs generated (SYN-ACKs included).
    pub acks: u64,
    /// SYN segments received (retransmitted and duplicate SYNs included; not in `segments`).
    pub syn_segments: u64,
}

/// The receiving side of one flow.
#[derive(Clone, Debug)]
pub struct Receiver {
    mss: u64,
    delack: Option<netrt::Duration>,
    rcv_nxt: u64,
    ooo: RangeSet,
    /// SACK blocks in report order (most recent first).
    recent: [SackBlock; MAX_SACK_BLOCKS],
    n_recent: usize,
    /// One past the last byte of the stream, once a FIN segment arrived.
    fin_end: Option<u64>,
    ce_state: bool,
    pending_segs: u16,
    pending_bytes: u64,
    pending_since: Option<Instant>,
    pending_ts: Instant,
    /// ACKs to release at the given instants (second ACK of a CE-state change).
    queued: VecDeque<(Instant, AckInfo)>,
    stats: ReceiverStats,
}

impl Receiver {
    /// A receiver expecting byte 0 next.
    pub fn new(cfg: TransportConfig) -> Self {
        Receiver {
            mss: cfg.mss_bytes(),
            delack: cfg.delayed_ack(),
            rcv_nxt: 0,
            ooo: RangeSet::default(),
            recent: [SackBlock::default(); MAX_SACK_BLOCKS],
            n_recent: 0,
            fin_end: None,
            ce_state: false,
            pending_segs: 0,
            pending_bytes: 0,
            pending_since: None,
            pending_ts: Instant::ZERO,
            queued: VecDeque::new(),
            stats: ReceiverStats::default(),
        }
    }

    /// Takes in a data segment (`ce_marked`: it arrived with ECN-CE) and returns the ACK to send
    /// now, if any.
    pub fn on_segment(&mut self, now: Instant, seg: &Segment, ce_marked: bool) -> Option<AckInfo> {
        if seg.syn {
            return Some(self.syn_ack(seg));
        }
        self.stats.segments += 1;
        if ce_marked {
            self.stats.ce_segments += 1;
        }
        // A CE-state change flushes the delayed ACK with the old state first.
        let mut early = None;
        if ce_marked != self.ce_state {
            if self.pending_segs > 0 {
                early = Some(self.make_ack(self.pending_ts, self.pending_segs));
            }
            self.ce_state = ce_marked;
        }
        let start = seg.seq;
        let end = seg.seq.saturating_add(u64::from(seg.len));
        if seg.fin {
            self.fin_end = Some(end);
        }
        let had_ooo = !self.ooo.is_empty();
        let immediate = if end <= self.rcv_nxt || seg.len == 0 {
            self.stats.duplicate_segments += 1;
            true
        } else if start <= self.rcv_nxt {
            self.rcv_nxt = end;
            // Pull in buffered ranges that are now contiguous.
            while let Some((a, b)) = self.ooo.first() {
                if a > self.rcv_nxt {
                    break;
                }
                self.rcv_nxt = self.rcv_nxt.max(b);
                self.ooo.pop_first();
            }
            self.ooo.remove_below(self.rcv_nxt);
            self.refresh_recent(None);
            had_ooo || self.delack.is_none() || self.fin_end.is_some_and(|f| self.rcv_nxt >= f)
        } else {
            self.stats.out_of_order_segments += 1;
            self.ooo.insert(start, end, |_, _| {});
            let newest = self.ooo.containing(start);
            self.refresh_recent(newest);
            true
        };

        let ack = if immediate {
            let segs = self.pending_segs.saturating_add(1);
            Some(self.make_ack(seg.ts, segs))
        } else {
            if self.pending_segs == 0 {
                self.pending_since = Some(now);
                self.pending_ts = seg.ts;
            }
            self.pending_segs = self.pending_segs.saturating_add(1);
            self.pending_bytes = self.pending_bytes.saturating_add(u64::from(seg.len));
            if self.pending_bytes >= 2 * self.mss {
                Some(self.make_ack(self.pending_ts, self.pending_segs))
            } else {
                None
            }
        };
        match (early, ack) {
            (Some(e), Some(a)) => {
                self.queued.push_back((now, a));
                Some(e)
            }
            (Some(e), None) => {
                // The new segment stays pending under the new CE state.
                self.pending_segs = 1;
                self.pending_bytes = u64::from(seg.len);
                self.pending_since = Some(now);
                self.pending_ts = seg.ts;
                Some(e)
            }
            (None, a) => a,
        }
    }

    /// When [`Receiver::on_timeout`] must be called: the delayed-ACK deadline, or now for a
    /// queued ACK.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if let Some(&(t, _)) = self.queued.front() {
            return Some(t);
        }
        let d = self.delack?;
        self.pending_since.map(|t| t + d)
    }

    /// Releases a queued or delayed ACK that is due at `now`.
    pub fn on_timeout(&mut self, now: Instant) -> Option<AckInfo> {
        if let Some(&(t, a)) = self.queued.front() {
            if t <= now {
                self.queued.pop_front();
                return Some(a);
            }
        }
        let due = self.poll_timeout()?;
        if now < due || self.pending_segs == 0 {
            return None;
        }
        Some(self.make_ack(self.pending_ts, self.pending_segs))
    }

    /// Bytes delivered in order to the application.
    pub fn delivered_bytes(&self) -> u64 {
        self.rcv_nxt
    }

    /// True once `total` bytes have been delivered in order.
    pub fn is_complete(&self, total: u64) -> bool {
        self.rcv_nxt >= total
    }

    /// Counters.
    pub fn stats(&self) -> &ReceiverStats {
        &self.stats
    }

    /// Out-of-order ranges currently buffered, ascending.
    pub fn out_of_order(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ooo.iter()
    }

    /// The answer to a SYN: immediate, and leaves the delayed-ACK state alone.
    fn syn_ack(&mut self, seg: &Segment) -> AckInfo {
        self.stats.syn_segments += 1;
        self.stats.acks += 1;
        AckInfo {
            ack: self.rcv_nxt,
            sack: self.recent,
            n_sack: self.n_recent as u8,
            ece: false,
            ts_echo: seg.ts,
            segs: 0,
            syn: true,
        }
    }

    fn make_ack(&mut self, ts_echo: Instant, segs: u16) -> AckInfo {
        self.pending_segs = 0;
        self.pending_bytes = 0;
        self.pending_since = None;
        self.stats.acks += 1;
        AckInfo {
            ack: self.rcv_nxt,
            sack: self.recent,
            n_sack: self.n_recent as u8,
            ece: self.ce_state,
            ts_echo,
            segs: segs.max(1),
            syn: false,
        }
    }

    /// Rebuilds the SACK report order: `newest` first, then the previously reported blocks that
    /// still exist (refreshed to their current extent, without duplicates).
    fn refresh_recent(&mut self, newest: Option<(u64, u64)>) {
        let mut out = [SackBlock::default(); MAX_SACK_BLOCKS];
        let mut n = 0;
        let push = |r: (u64, u64), out: &mut [SackBlock; MAX_SACK_BLOCKS], n: &mut usize| {
            if *n < MAX_SACK_BLOCKS && !out[..*n].iter().any(|b| b.start == r.0) {
                out[*n] = SackBlock {
                    start: r.0,
                    end: r.1,
                };
                *n += 1;
            }
        };
        if let Some(r) = newest {
            push(r, &mut out, &mut n);
        }
        for b in &self.recent[..self.n_recent] {
            if let Some(r) = self.ooo.containing(b.start.max(self.rcv_nxt)) {
                push(r, &mut out, &mut n);
            }
        }
        // Fill with remaining ranges (highest first) if fewer than the maximum were reported.
        for r in self.ooo.iter().rev().take(MAX_SACK_BLOCKS) {
            push(r, &mut out, &mut n);
        }
        self.recent = out;
        self.n_recent = n;
    }
}

#[cfg(test)]
mod tests;
