//! Proportional Rate Reduction (RFC 6937) for the sender's window reductions.

use super::Sender;

/// Proportional Rate Reduction (RFC 6937, as Linux's `tcp_cwnd_reduction`) during one window
/// reduction: a fast-recovery episode or a CWR episode (with [`RecoveryMode::Prr`]). Counts are
/// bytes; the target (Linux's `snd_ssthresh`) is the controller's window.
#[derive(Clone, Copy, Debug)]
pub(super) struct Prr {
    /// The window in force when the reduction began (Linux's `prior_cwnd`).
    pub(super) prior_cwnd: u64,
    /// Bytes delivered (newly cumulatively acknowledged or SACKed) since it began.
    pub(super) delivered: u64,
    /// Bytes sent (new data and retransmissions) since it began.
    pub(super) out: u64,
    /// The window in force: pipe + sndcnt as of the last ACK that delivered data.
    pub(super) cwnd: u64,
}

impl Sender {
    pub(super) fn start_prr(&mut self, prior_cwnd: u64) {
        self.prr = Some(Prr {
            prior_cwnd: prior_cwnd.max(1),
            delivered: 0,
            out: 0,
            // Until an ACK delivers data: room for the first retransmission.
            cwnd: self.pipe_bytes + self.mss,
        });
    }

    /// PRR's per-ACK update (RFC 6937 with Linux's `tcp_cwnd_reduction` refinements): the
    /// window becomes `pipe + sndcnt`. While the pipe exceeds the target (the controller's
    /// window, Linux's ssthresh) sending follows `target / prior_cwnd` of the delivered data
    /// (rounded up to whole segments, as Linux counts packets); below it, PRR-SSRB lets the
    /// pipe grow back towards the target by at most the data delivered (plus one segment on an
    /// ACK that advances the cumulative point without new losses). The first update of an
    /// episode allows at least one segment (the fast retransmission).
    pub(super) fn prr_on_ack(&mut self, newly_delivered: u64, una_advanced: bool, newly_lost: u64) {
        let Some(mut p) = self.prr else {
            return;
        };
        if newly_delivered == 0 {
            return;
        }
        let target = self.cc.cwnd_bytes();
        let pipe = self.pipe_bytes;
        let mss = self.mss;
        p.delivered = p.delivered.saturating_add(newly_delivered);
        let mut sndcnt = if pipe > target {
            let share = (u128::from(target) * u128::from(p.delivered))
                .div_ceil(u128::from(p.prior_cwnd))
                .next_multiple_of(u128::from(mss));
            u64::try_from(share)
                .unwrap_or(u64::MAX)
                .saturating_sub(p.out)
        } else {
            let mut limit = p.delivered.saturating_sub(p.out).max(newly_delivered);
            if una_advanced && newly_lost == 0 {
                limit = limit.saturating_add(mss);
            }
            limit.min(target - pipe)
        };
        if p.out == 0 {
            sndcnt = sndcnt.max(mss);
        }
        p.cwnd = pipe.saturating_add(sndcnt);
        self.prr = Some(p);
    }
}
