//! CUBIC (RFC 9438, the successor of RFC 8312), with Linux's HyStart.
//!
//! HyStart (hybrid slow start; Ha & Rhee, "Taming the elephants: New TCP slow start",
//! Computer Networks 2011) ends slow start (ssthresh = cwnd) before the first loss. It follows
//! Linux's `net/ipv4/tcp_cubic.c` as of the 2020–2021 rework (Eric Dumazet's series
//! "tcp_cubic: switch bictcp_clock() to usec resolution" / "tcp_cubic: tweak Hystart detection
//! for short RTT flows", Neal Cardwell's "tcp_cubic: fix spurious Hystart ACK train detections
//! for not-cwnd-limited flows"), where it differs from the paper and from the original code:
//! - rounds: a round starts with the first ACK past the previous round's `snd_nxt` and ends
//!   when the cumulative ACK passes the `snd_nxt` recorded then; the round restarts inside
//!   the HyStart update, before the low-window check, so rounds are tracked from the start;
//! - HyStart runs only in slow start, once the window is at least `hystart_low_window` = 16
//!   segments, until it fires (once per connection; a timeout re-arms it, as Linux's reset on
//!   entering Loss);
//! - ACK train (`HYSTART_ACK_TRAIN`): ACKs at most `hystart_ack_delta_us` = 2 ms apart extend
//!   the train; it fires when the train since the round's first ACK exceeds the minimum RTT,
//!   halved when the sender does not pace (Linux: `sk_pacing_status == SK_PACING_NONE`; with
//!   pacing a round's ACKs may legitimately spread over half an RTT). Timing is in
//!   microseconds or finer (the paper's and the original code's millisecond clock made short
//!   RTTs undetectable). Linux adds to the threshold a cushion for TSO/GRO aggregation,
//!   `hystart_ack_delay` = min(1 ms, 4 · 64 KiB / pacing rate); nothing here aggregates
//!   segments, so the cushion is 0;
//! - delay increase (`HYSTART_DELAY`): the minimum RTT of a round's first 8 samples
//!   (`HYSTART_MIN_SAMPLES`); from the ninth sample on, it fires when that minimum exceeds the
//!   flow's minimum RTT by `clamp(min_rtt / 8, 4 ms, 16 ms)` (`HYSTART_DELAY_MIN`/`MAX`);
//! - both detectors are on (`hystart_detect` = 3); firing sets ssthresh to the current window,
//!   so the next ACK is in congestion avoidance.
//!
//! Simplifications: the minimum RTT HyStart compares with is the one the cubic function uses
//! (every RTT sample, also right after a recovery, and kept across timeouts; Linux skips
//! samples in the first second of an epoch and forgets the minimum on a timeout).

use netrt::{Duration, Instant};

use super::{slow_start_increase, AckSignals, CongestionControl, LossEvent};
use crate::config::TransportConfig;

/// HyStart: the window (segments) from which it runs (Linux's `hystart_low_window`).
const HYSTART_LOW_WINDOW: f64 = 16.0;
/// HyStart: ACKs this close extend an ACK train (Linux's `hystart_ack_delta_us`).
const HYSTART_ACK_DELTA: Duration = Duration::from_micros(2_000);
/// HyStart: RTT samples per round before the delay test (Linux's `HYSTART_MIN_SAMPLES`).
const HYSTART_MIN_SAMPLES: u32 = 8;
/// HyStart: bounds of the delay-increase threshold (Linux's `HYSTART_DELAY_MIN`/`MAX`).
const HYSTART_DELAY_MIN: Duration = Duration::from_micros(4_000);
const HYSTART_DELAY_MAX: Duration = Duration::from_micros(16_000);

/// Which HyStart detector ended slow start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HystartExit {
    /// A round's ACK train outlasted half the minimum RTT (the whole of it when paced).
    AckTrain,
    /// A round's minimum RTT rose above the flow's by the delay threshold.
    Delay,
}

/// HyStart's per-round state (Linux's `round_start`, `end_seq`, `last_ack`, `curr_rtt`,
/// `sample_cnt`).
#[derive(Clone, Copy, Debug)]
struct HystartRound {
    start: Instant,
    last_ack: Instant,
    /// The round ends when the cumulative ACK passes this.
    end_seq: u64,
    /// The smallest RTT sample of the round so far.
    curr_rtt: Option<Duration>,
    samples: u32,
}

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
///
/// Slow start ends at ssthresh, or earlier by HyStart (see the module documentation), which is
/// on unless [`Cubic::with_hystart`] or [`TransportConfig::hystart`] turns it off.
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
    hystart: bool,
    /// The sender paces (HyStart's ACK-train threshold is then the whole minimum RTT).
    paced: bool,
    /// How HyStart ended slow start (Linux's `found`); cleared by a timeout.
    hystart_exit: Option<HystartExit>,
    /// `None` until the next slow-start ACK starts a round.
    round: Option<HystartRound>,
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
            hystart: true,
            paced: false,
            hystart_exit: None,
            round: None,
        }
    }

    /// Turns HyStart on (the default) or off.
    pub fn with_hystart(mut self, on: bool) -> Self {
        self.hystart = on;
        self
    }
    /// How HyStart ended slow start, if it did (since the last timeout).
    pub fn hystart_exit(&self) -> Option<HystartExit> {
        self.hystart_exit
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

    /// Linux's `hystart_update`, for one ACK in slow start with RTT sample `delay`.
    fn hystart_update(&mut self, now: Instant, s: &AckSignals, delay: Duration) {
        let round = match self.round {
            Some(r) if s.snd_una <= r.end_seq => r,
            _ => HystartRound {
                start: now,
                last_ack: now,
                end_seq: s.snd_nxt,
                curr_rtt: None,
                samples: 0,
            },
        };
        self.round = Some(round);
        if self.cwnd < HYSTART_LOW_WINDOW * self.mss {
            return;
        }
        let mut round = round;
        let delay_min = self.min_rtt.unwrap_or(delay);
        let mut found = None;
        // ACK train.
        if now.saturating_since(round.last_ack) <= HYSTART_ACK_DELTA {
            round.last_ack = now;
            let threshold = if self.paced {
                delay_min
            } else {
                Duration::from_nanos(delay_min.as_nanos() / 2)
            };
            if now.saturating_since(round.start) > threshold {
                found = Some(HystartExit::AckTrain);
            }
        }
        // Delay increase.
        round.curr_rtt = Some(round.curr_rtt.map_or(delay, |c| c.min(delay)));
        if round.samples < HYSTART_MIN_SAMPLES {
            round.samples += 1;
        } else {
            let eta = Duration::from_nanos(delay_min.as_nanos() / 8)
                .clamp(HYSTART_DELAY_MIN, HYSTART_DELAY_MAX);
            if round.curr_rtt.is_some_and(|c| c > delay_min + eta) {
                found = found.or(Some(HystartExit::Delay));
            }
        }
        self.round = Some(round);
        if found.is_some() {
            self.hystart_exit = found;
            self.ssthresh = self.cwnd;
        }
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
    fn configure(&mut self, cfg: &TransportConfig) {
        self.hystart = cfg.hystart;
        self.paced = cfg.pacing;
    }
    fn on_ack(&mut self, now: Instant, s: &AckSignals) {
        if let Some(r) = s.rtt_sample {
            let r = r.max(Duration::from_nanos(1));
            self.min_rtt = Some(self.min_rtt.map_or(r, |m| m.min(r)));
            if self.hystart && self.hystart_exit.is_none() && self.cwnd < self.ssthresh {
                self.hystart_update(now, s, r);
            }
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
        // As Linux on entering Loss: HyStart may end the next slow start again.
        self.hystart_exit = None;
        self.round = None;
    }
    fn cwnd_bytes(&self) -> u64 {
        self.cwnd.max(self.mss) as u64
    }
    fn ssthresh_bytes(&self) -> Option<u64> {
        self.ssthresh.is_finite().then_some(self.ssthresh as u64)
    }
}
