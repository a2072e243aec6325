//! NewReno (RFC 5681 / RFC 6582 window rules; recovery itself lives in the sender).

use netrt::Instant;

use super::{slow_start_increase, AckSignals, CongestionControl, LossEvent};

/// NewReno: slow start and congestion avoidance counted in bytes (ABC, RFC 3465), the window
/// halved once per recovery episode (`ssthresh = max(cwnd/2, 2·MSS)`, like Linux, not FlightSize),
/// one MSS after a timeout. No growth while in recovery; growth is by newly delivered bytes on
/// ACKs that advance the cumulative point (as Linux does).
#[derive(Clone, Debug)]
pub struct NewReno {
    mss: u64,
    cwnd: u64,
    ssthresh: u64,
    /// Bytes acknowledged in congestion avoidance since cwnd last grew.
    ca_acked: u64,
}

impl NewReno {
    /// A controller with an initial window of `init_cwnd_pkts` segments.
    pub fn new(mss: u32, init_cwnd_pkts: u32) -> Self {
        let mss = u64::from(mss.max(1));
        NewReno {
            mss,
            cwnd: mss * u64::from(init_cwnd_pkts.max(1)),
            ssthresh: u64::MAX,
            ca_acked: 0,
        }
    }

    /// Grows the window for `bytes_acked` newly acknowledged bytes (slow start or AIMD).
    pub(crate) fn grow(&mut self, bytes_acked: u64) {
        if bytes_acked == 0 {
            return;
        }
        if self.cwnd < self.ssthresh {
            // Slow start stops at ssthresh (as in Linux).
            let grown = self
                .cwnd
                .saturating_add(slow_start_increase(bytes_acked, self.mss));
            self.cwnd = grown.min(self.ssthresh);
        } else {
            self.ca_acked = self.ca_acked.saturating_add(bytes_acked);
            if self.ca_acked >= self.cwnd {
                self.ca_acked -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(self.mss);
            }
        }
    }

    /// Multiplies the window by `factor` (in (0, 1]) and sets ssthresh to the result.
    pub(crate) fn reduce(&mut self, factor: f64) {
        let w = (self.cwnd as f64 * factor) as u64;
        self.ssthresh = w.max(2 * self.mss);
        self.cwnd = self.ssthresh;
        self.ca_acked = 0;
    }

    /// The RTO response: ssthresh = max(cwnd/2, 2 MSS), cwnd = 1 MSS.
    pub(crate) fn timeout(&mut self) {
        self.ssthresh = (self.cwnd / 2).max(2 * self.mss);
        self.cwnd = self.mss;
        self.ca_acked = 0;
    }

    pub(crate) fn ssthresh(&self) -> u64 {
        self.ssthresh
    }
}

impl CongestionControl for NewReno {
    fn name(&self) -> &str {
        "reno"
    }
    fn on_ack(&mut self, _now: Instant, s: &AckSignals) {
        // As Linux (`tcp_may_raise_cwnd`, `tcp_cong_avoid(acked_sacked)`): grow only on an ACK
        // that advances the cumulative point, by the bytes it newly delivered (bytes SACKed
        // earlier are not credited twice).
        if !s.in_recovery && s.bytes_acked > 0 {
            self.grow(s.bytes_delivered);
        }
    }
    fn on_loss(&mut self, _now: Instant, _loss: &LossEvent) {
        self.reduce(0.5);
    }
    fn on_timeout(&mut self, _now: Instant) {
        self.timeout();
    }
    fn cwnd_bytes(&self) -> u64 {
        self.cwnd
    }
    fn ssthresh_bytes(&self) -> Option<u64> {
        Some(self.ssthresh)
    }
}
