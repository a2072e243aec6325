//! CUBIC (RFC 9438, the successor of RFC 8312).

use netrt::{Duration, Instant};

use super::{slow_start_increase, AckSignals, CongestionControl, LossEvent};

/// Cubic growth constant (segments / s³).
pub(crate) const C: f64 = 0.4;
/// Multiplicative decrease factor.
pub(crate) const BETA: f64 = 0.7;

/// CUBIC with fast convergence and the Reno-friendly region (RFC 9438).
///
/// The window is tracked in (fractional) bytes; the cubic function is evaluated in segments and
/// seconds: `W_cubic(t) = C·(t − K)³ + W_max`, `K = ∛((W_max − cwnd_epoch)/C)`. The epoch starts at
/// the first ACK in congestion avoidance after a congestion event; the per-ACK target is
/// `W_cubic(t + RTT)` clamped to `[cwnd, 1.5·cwnd]`, with RTT the minimum RTT sample seen (as in
/// Linux). On loss `W_max = cwnd` (or `cwnd·(1+β)/2` under fast convergence) and
/// `cwnd = ssthresh = β·cwnd`; on a timeout the same bookkeeping and `cwnd = 1 MSS`.
#[derive(Clone, Debug)]
pub struct Cubic {
    mss: f64,
    cwnd: f64,
    ssthresh: f64,
    /// W_max in segments (0 before the first congestion event).
    w_max: f64,
    k_secs: f64,
    epoch_start: Option<Instant>,
    /// Reno-friendly estimate, segments.
    w_est: f64,
    min_rtt: Option<Duration>,
}

impl Cubic {
    /// A controller with an initial window of `init_cwnd_pkts` segments.
    pub fn new(mss: u32, init_cwnd_pkts: u32) -> Self {
        let mss = f64::from(mss.max(1));
        Cubic {
            mss,
            cwnd: mss * f64::from(init_cwnd_pkts.max(1)),
            ssthresh: f64::INFINITY,
            w_max: 0.0,
            k_secs: 0.0,
            epoch_start: None,
            w_est: 0.0,
            min_rtt: None,
        }
    }

    /// `W_cubic(t)` in segments for `t` seconds into the current epoch.
    pub fn w_cubic(&self, t_secs: f64) -> f64 {
        C * (t_secs - self.k_secs).powi(3) + self.w_max
    }
    /// W_max in segments.
    pub fn w_max(&self) -> f64 {
        self.w_max
    }
    /// K in seconds.
    pub fn k(&self) -> f64 {
        self.k_secs
    }
    /// The start of the current congestion-avoidance epoch.
    pub fn epoch_start(&self) -> Option<Instant> {
        self.epoch_start
    }

    fn congestion_event(&mut self) {
        let cwnd_seg = self.cwnd / self.mss;
        self.w_max = if cwnd_seg < self.w_max {
            cwnd_seg * (1.0 + BETA) / 2.0
        } else {
            cwnd_seg
        };
        self.ssthresh = (self.cwnd * BETA).max(2.0 * self.mss);
        self.epoch_start = None;
    }

    fn start_epoch(&mut self, now: Instant) {
        let cwnd_seg = self.cwnd / self.mss;
        self.epoch_start = Some(now);
        if cwnd_seg < self.w_max {
            self.k_secs = ((self.w_max - cwnd_seg) / C).cbrt();
        } else {
            self.k_secs = 0.0;
            self.w_max = cwnd_seg;
        }
        self.w_est = cwnd_seg;
    }
}

impl CongestionControl for Cubic {
    fn name(&self) -> &str {
        "cubic"
    }
    fn on_ack(&mut self, now: Instant, s: &AckSignals) {
        if let Some(r) = s.rtt_sample {
            self.min_rtt = Some(self.min_rtt.map_or(r, |m| m.min(r)));
        }
        // Growth as in Linux: only on cumulative progress, by newly delivered bytes.
        if s.in_recovery || s.bytes_acked == 0 || s.bytes_delivered == 0 {
            return;
        }
        if self.cwnd < self.ssthresh {
            let inc = slow_start_increase(s.bytes_delivered, self.mss as u64) as f64;
            self.cwnd = (self.cwnd + inc).min(self.ssthresh);
            return;
        }
        let Some(epoch) = self.epoch_start else {
            self.start_epoch(now);
            return self.on_ack(now, s);
        };
        let rtt = self.min_rtt.unwrap_or(Duration::ZERO).as_secs_f64();
        let t = now.saturating_since(epoch).as_secs_f64();
        let cwnd_seg = self.cwnd / self.mss;
        let target = self.w_cubic(t + rtt).clamp(cwnd_seg, 1.5 * cwnd_seg);
        let acked_seg = s.bytes_delivered as f64 / self.mss;
        let mut next = cwnd_seg + (target - cwnd_seg) / cwnd_seg * acked_seg;
        // Reno-friendly region (RFC 9438 §4.3).
        let alpha = if self.w_est >= self.w_max {
            1.0
        } else {
            3.0 * (1.0 - BETA) / (1.0 + BETA)
        };
        self.w_est += alpha * acked_seg / cwnd_seg;
        if self.w_cubic(t) < self.w_est {
            next = next.max(self.w_est);
        }
        self.cwnd = next * self.mss;
    }
    fn on_loss(&mut self, _now: Instant, _loss: &LossEvent) {
        self.congestion_event();
        self.cwnd = self.ssthresh;
    }
    fn on_timeout(&mut self, _now: Instant) {
        self.congestion_event();
        self.cwnd = self.mss;
    }
    fn cwnd_bytes(&self) -> u64 {
        self.cwnd.max(self.mss) as u64
    }
    fn ssthresh_bytes(&self) -> Option<u64> {
        self.ssthresh.is_finite().then_some(self.ssthresh as u64)
    }
}
