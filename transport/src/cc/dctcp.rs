//! DCTCP (RFC 8257) as Linux's `tcp_dctcp.c`: Reno growth; `alpha`, an EWMA (g = 1/16) of the
//! fraction of bytes marked per window of data; on the first ECN echo of a window a CWR episode
//! that takes the window to `cwnd · (1 − alpha/2)`.

use netrt::Instant;

use super::{AckSignals, CongestionControl, LossEvent, NewReno};

/// EWMA gain.
const G: f64 = 1.0 / 16.0;

/// DCTCP. `alpha` starts at 1 (as in Linux), is updated once per window of data (when the
/// cumulative ACK passes the `snd_nxt` recorded at the previous update), before the ACK's other
/// processing (Linux's `in_ack_event`).
///
/// ECN echoes go through the sender's CWR state, as in Linux (`tcp_enter_cwr` with
/// `dctcp_ssthresh`): on an ACK with [`AckSignals::ecn_echo`] the target window (ssthresh)
/// becomes `max(cwnd · (1 − alpha/2), 2 MSS)` with the current `alpha`, and there is no growth
/// while [`AckSignals::in_cwr`] (until data sent after the cut is acknowledged). The sender
/// brings the data in flight down to the target gradually over that round trip with PRR
/// ([`crate::RecoveryMode::Prr`], the default) or at once ([`crate::RecoveryMode::Immediate`]);
/// [`crate::Sender::cwnd`] shows the window in force. Loss and timeouts behave as in
/// [`NewReno`] (Linux's `dctcp_react_to_loss` halves the window too).
#[derive(Clone, Debug)]
pub struct Dctcp {
    reno: NewReno,
    alpha: f64,
    /// Cumulative ACK that ends the current observation window (set by the first ACK).
    window_end: Option<u64>,
    acked_in_window: u64,
    marked_in_window: u64,
}

impl Dctcp {
    /// A controller with an initial window of `init_cwnd_pkts` segments.
    pub fn new(mss: u32, init_cwnd_pkts: u32) -> Self {
        Dctcp {
            reno: NewReno::new(mss, init_cwnd_pkts),
            alpha: 1.0,
            window_end: None,
            acked_in_window: 0,
            marked_in_window: 0,
        }
    }
    /// Starts with `alpha` (clamped to [0, 1]) instead of 1 (Linux's `dctcp_alpha_on_init`).
    pub fn with_initial_alpha(mut self, alpha: f64) -> Self {
        self.alpha = if alpha.is_nan() {
            1.0
        } else {
            alpha.clamp(0.0, 1.0)
        };
        self
    }
    /// The current marking estimate in [0, 1].
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    fn update_alpha(&mut self, s: &AckSignals) {
        self.acked_in_window = self.acked_in_window.saturating_add(s.bytes_delivered);
        self.marked_in_window = self.marked_in_window.saturating_add(s.ecn_bytes);
        let Some(window_end) = self.window_end else {
            // The first ACK opens the first observation window.
            self.window_end = Some(s.snd_nxt);
            self.acked_in_window = 0;
            self.marked_in_window = 0;
            return self.update_alpha(s);
        };
        if s.snd_una > window_end {
            if self.acked_in_window > 0 {
                let f = (self.marked_in_window as f64 / self.acked_in_window as f64).min(1.0);
                self.alpha = (1.0 - G) * self.alpha + G * f;
            }
            self.acked_in_window = 0;
            self.marked_in_window = 0;
            self.window_end = Some(s.snd_nxt);
        }
    }
}

impl CongestionControl for Dctcp {
    fn name(&self) -> &str {
        "dctcp"
    }
    fn on_ack(&mut self, now: Instant, s: &AckSignals) {
        self.update_alpha(s);
        if s.ecn_echo {
            // Entering CWR: the new target, no growth on this ACK.
            self.reno.reduce(1.0 - self.alpha / 2.0);
            return;
        }
        if !s.in_cwr {
            self.reno.on_ack(now, s);
        }
    }
    fn on_loss(&mut self, now: Instant, loss: &LossEvent) {
        self.reno.on_loss(now, loss);
    }
    fn on_timeout(&mut self, now: Instant) {
        self.reno.on_timeout(now);
    }
    fn cwnd_bytes(&self) -> u64 {
        self.reno.cwnd_bytes()
    }
    fn ssthresh_bytes(&self) -> Option<u64> {
        Some(self.reno.ssthresh())
    }
    fn enters_cwr_on_ecn(&self) -> bool {
        true
    }
}
