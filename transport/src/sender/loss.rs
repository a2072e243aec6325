//! Loss detection on the SACK scoreboard (DupThresh SACKed segments above a hole, or
//! DupThresh duplicate ACKs) and the retransmission queue it feeds.

use super::{SegState, Sender};

impl Sender {
    /// Applies the loss rules; returns the newly lost (segments, bytes).
    pub(super) fn detect_losses(&mut self) -> (u64, u64) {
        let (mut np, mut nb) = (0u64, 0u64);
        let thresh = u64::from(self.cfg.dup_thresh.max(1));
        // SACK rule: every un-SACKed segment below the DupThresh-th highest SACKed segment.
        if let Some(boundary) = self.sacked.nth_highest_segment_start(thresh, self.mss) {
            if boundary > self.lost_scan {
                if let Some(base) = self.scoreboard.front().map(|f| f.seq) {
                    let from = self.lost_scan.max(base);
                    let mut idx = usize::try_from((from - base) / self.mss).unwrap_or(usize::MAX);
                    while let Some(seg) = self.scoreboard.get_mut(idx) {
                        if seg.seq >= boundary {
                            break;
                        }
                        if !seg.sacked && !seg.lost && seg.seq >= from {
                            Self::mark_lost(seg, &mut self.pipe_bytes, &mut self.pipe_pkts);
                            self.rtx_queue.push_back(seg.seq);
                            np += 1;
                            nb += u64::from(seg.len);
                        }
                        idx += 1;
                    }
                }
                self.lost_scan = boundary;
            }
        }
        // Duplicate-ACK rule (covers ACKs without SACK information).
        if self.dupacks == self.cfg.dup_thresh.max(1) {
            if let Some(seg) = self.scoreboard.front_mut() {
                if !seg.sacked && !seg.lost && seg.seq >= self.lost_scan {
                    Self::mark_lost(seg, &mut self.pipe_bytes, &mut self.pipe_pkts);
                    self.rtx_queue.push_front(seg.seq);
                    np += 1;
                    nb += u64::from(seg.len);
                }
            }
        }
        (np, nb)
    }

    pub(super) fn mark_lost(seg: &mut SegState, pipe_b: &mut u64, pipe_p: &mut u64) {
        seg.lost = true;
        if seg.in_flight {
            seg.in_flight = false;
            *pipe_b = pipe_b.saturating_sub(u64::from(seg.len));
            *pipe_p = pipe_p.saturating_sub(1);
        }
    }

    /// Drops queue entries whose segment no longer needs a retransmission (acknowledged,
    /// SACKed or already resent), so the front is always the next retransmission. Amortized
    /// O(1): every entry is popped once.
    pub(super) fn prune_rtx_queue(&mut self) {
        while let Some(&seq) = self.rtx_queue.front() {
            let live = self
                .index_of(seq)
                .and_then(|i| self.scoreboard.get(i))
                .is_some_and(|s| s.lost && !s.sacked);
            if live {
                return;
            }
            self.rtx_queue.pop_front();
        }
        // Nothing left to retransmit: the forced first retransmission is moot.
        self.force_rtx = false;
    }
}
