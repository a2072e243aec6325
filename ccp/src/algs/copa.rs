//! Copa (`"copa"`): delay-based target rate with velocity, default mode.
//!
//! Source: Arun & Balakrishnan, "Copa: Practical Delay-Based Congestion Control for the
//! Internet" (NSDI 2018), default mode, on the split of ccp-project/ccp_copa and the thesis
//! §4.7.2: the datapath program folds, per report, the acked bytes, the minimum of the
//! per-ACK RTT samples and a smoothed RTT (`ewma 8`, i.e. 0.8·old + 0.2·sample), and reports
//! every half smoothed RTT (Copa's standing-RTT window; `report = "per_rtt"`, the default) or
//! per ACK or per interval. The agent, per report:
//! - RTT_min: the minimum over a `min_rtt_window_s` (10 s) window of per-report samples;
//!   RTT_standing: the report's sample. With `min_rtt_estimator = "per_packet"` (default)
//!   the sample is the report's minimum over every ACK's RTT (robust to ACK compression:
//!   the least-delayed ACK of a compressed burst is seen); with `"naive"` it is the smoothed
//!   RTT, one value per report, which ACK compression inflates (the bug the thesis describes);
//! - queueing delay d_q = RTT_standing − RTT_min, target rate λ_t = 1/(δ·d_q) packets/s,
//!   current rate λ = cwnd/RTT_standing; cwnd ± v·n/(δ·cwnd) packets for n acknowledged
//!   packets, up if λ ≤ λ_t (or d_q = 0), down otherwise (at least 2 packets);
//! - velocity v: once per smoothed RTT the window's direction of change over the last round
//!   is compared with the previous one; after 3 rounds in the same direction v doubles each
//!   round; it resets to 1 when the direction changes or the decision reverses;
//! - slow start: the window grows by the acknowledged bytes (doubling per RTT) until the
//!   first "down" decision;
//! - pacing rate 2·cwnd/RTT_standing (bytes/s) with the window, both through
//!   [`Control::update_fields`].
//!
//! Deviations: no competitive (TCP-mode) switching; losses are ignored (as Copa's default
//! mode); a timeout resets the window to the initial one and v to 1; the rate and window
//! change once per report with the summed increments (window held at its report value).
//!
//! Parameters: `report` (`"per_rtt"` = every half smoothed RTT), `report_interval_us`,
//! `delta` (0.5, in (0, 10]), `min_rtt_estimator` (`"per_packet"` or `"naive"`),
//! `min_rtt_window_s` (10, > 0), `velocity` (true; false keeps v = 1).

use super::common::{compile, field, rtt_sample, ParamReader, ReportMode};
use super::{AlgError, Params};
use crate::agent::{Algorithm, Control, FlowState, ProgramSpec, Report};
use crate::wire::Create;
use std::collections::VecDeque;

/// How RTT samples enter the min-RTT filter and the standing RTT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MinRttEstimator {
    /// The report's minimum over per-ACK samples.
    PerPacket,
    /// The report's smoothed RTT.
    Naive,
}

/// Copa's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct CopaParams {
    /// Reporting mode (`PerRtt` = every half smoothed RTT).
    pub report: ReportMode,
    /// δ.
    pub delta: f64,
    /// RTT estimator.
    pub estimator: MinRttEstimator,
    /// Min-RTT window, µs.
    pub min_rtt_window_us: u64,
    /// Whether velocity may grow.
    pub velocity: bool,
}

/// Copa on CCP. See the module docs.
#[derive(Clone, Debug)]
pub struct Copa {
    params: CopaParams,
    program: ProgramSpec,
}

impl Copa {
    /// Builds Copa from scenario parameters.
    pub fn from_params(params: &Params) -> Result<Self, AlgError> {
        let p = ParamReader::new(
            "copa",
            params,
            &["delta", "min_rtt_estimator", "min_rtt_window_s", "velocity"],
        )?;
        let cp = CopaParams {
            report: p.report_mode(ReportMode::PerRtt)?,
            delta: p.f64_pos("delta", 0.5, 10.0)?,
            estimator: match p.choice(
                "min_rtt_estimator",
                &["per_packet", "naive"],
                "per_packet",
            )? {
                "naive" => MinRttEstimator::Naive,
                _ => MinRttEstimator::PerPacket,
            },
            min_rtt_window_us: (p.f64_pos("min_rtt_window_s", 10.0, 3600.0)? * 1e6) as u64,
            velocity: p.bool("velocity", true)?,
        };
        let program = compile("copa", "copa", &source(cp.report))?;
        Ok(Copa {
            params: cp,
            program,
        })
    }
}

fn source(report: ReportMode) -> String {
    let clause = match report {
        ReportMode::PerRtt => "(when (> Micros (/ srtt 2)) (report) (:= Micros 0))".to_owned(),
        other => other.clause(),
    };
    format!(
        "(def (Report (volatile acked 0) (volatile loss 0) (volatile timeout false)
    (volatile minrtt +infinity) (volatile srtt 0) (volatile now 0)) (srtt 0))
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.loss (+ Report.loss Ack.lost_pkts_sample))
    (:= Report.timeout Flow.was_timeout)
    (:= Report.minrtt (min Report.minrtt Flow.rtt_sample_us))
    (:= Report.now Ack.now)
    (fallthrough))
(when (< Flow.rtt_sample_us 2147483647)
    (:= srtt (ewma 8 Flow.rtt_sample_us))
    (fallthrough))
(when true (:= Report.srtt srtt) (fallthrough))
(when (|| Report.timeout false) (report) (:= Micros 0))
{clause}
"
    )
}

impl Algorithm for Copa {
    type Flow = CopaFlow;
    fn name(&self) -> &str {
        "copa"
    }
    fn programs(&self) -> Vec<ProgramSpec> {
        vec![self.program.clone()]
    }
    fn create(&mut self, ctl: &mut Control<'_>, info: &Create) -> CopaFlow {
        let mss = u64::from(info.flow.mss.max(1));
        let init = u64::from(info.flow.init_cwnd).max(2 * mss);
        let _ = ctl.set_program("copa", &[("Cwnd", init)]);
        CopaFlow::new(self.params.clone(), mss, init)
    }
}

/// Minimum over a sliding time window (monotonic deque).
#[derive(Clone, Debug, Default)]
pub struct WindowedMin {
    q: VecDeque<(u64, u64)>,
}

impl WindowedMin {
    /// Adds sample `v` at time `t` and forgets samples older than `t − window`.
    pub fn push(&mut self, t: u64, v: u64, window: u64) {
        while self.q.back().is_some_and(|&(_, b)| b >= v) {
            self.q.pop_back();
        }
        self.q.push_back((t, v));
        let horizon = t.saturating_sub(window);
        while self.q.front().is_some_and(|&(s, _)| s < horizon) {
            self.q.pop_front();
        }
    }
    /// The minimum, if any sample is held.
    pub fn get(&self) -> Option<u64> {
        self.q.front().map(|&(_, v)| v)
    }
}

/// Per-flow Copa state (window in bytes).
#[derive(Clone, Debug)]
pub struct CopaFlow {
    p: CopaParams,
    mss: u64,
    init_cwnd: u64,
    /// Window, bytes.
    pub cwnd: u64,
    /// Velocity.
    pub v: f64,
    /// Still in slow start.
    pub in_slow_start: bool,
    /// The min-RTT filter.
    pub min_rtt: WindowedMin,
    round_end_us: Option<u64>,
    round_cwnd: u64,
    /// Direction of the last round's change (−1, 0, 1).
    last_dir: i8,
    same_dir_rounds: u32,
    last_decision: i8,
}

impl CopaFlow {
    /// A flow starting in slow start with window `init_cwnd`.
    pub fn new(p: CopaParams, mss: u64, init_cwnd: u64) -> Self {
        CopaFlow {
            p,
            mss,
            init_cwnd,
            cwnd: init_cwnd,
            v: 1.0,
            in_slow_start: true,
            min_rtt: WindowedMin::default(),
            round_end_us: None,
            round_cwnd: init_cwnd,
            last_dir: 0,
            same_dir_rounds: 0,
            last_decision: 0,
        }
    }

    /// Processes a report: `acked` bytes, per-ACK minimum and smoothed RTT (µs), `now` (µs),
    /// timeout. Returns the new window and pacing rate (bytes/s).
    pub fn step(
        &mut self,
        acked: u64,
        min_rtt: Option<u64>,
        srtt: Option<u64>,
        now: u64,
        timeout: bool,
    ) -> Option<(u64, u64)> {
        let sample = match self.p.estimator {
            MinRttEstimator::PerPacket => min_rtt.or(srtt),
            MinRttEstimator::Naive => srtt.or(min_rtt),
        }?;
        self.min_rtt.push(now, sample, self.p.min_rtt_window_us);
        let rtt_min = self.min_rtt.get().unwrap_or(sample);
        let standing = sample;
        let rate = |c: u64| (2 * c).saturating_mul(1_000_000) / standing.max(1);
        if timeout {
            self.cwnd = self.init_cwnd;
            self.v = 1.0;
            self.same_dir_rounds = 0;
            return Some((self.cwnd, rate(self.cwnd)));
        }
        let mss = self.mss as f64;
        let cwnd = self.cwnd as f64 / mss;
        let dq = standing.saturating_sub(rtt_min) as f64 / 1e6;
        let up = dq == 0.0 || cwnd / (standing as f64 / 1e6) <= 1.0 / (self.p.delta * dq);
        let decision: i8 = if up { 1 } else { -1 };
        // Velocity: once per round (a smoothed RTT), compare the window's change.
        let srtt_us = srtt.unwrap_or(standing);
        if self.round_end_us.is_none_or(|e| now >= e) {
            let dir: i8 = match self.cwnd.cmp(&self.round_cwnd) {
                std::cmp::Ordering::Greater => 1,
                std::cmp::Ordering::Less => -1,
                std::cmp::Ordering::Equal => 0,
            };
            if dir != 0 && dir == self.last_dir {
                self.same_dir_rounds += 1;
            } else {
                self.same_dir_rounds = u32::from(dir != 0);
            }
            if self.p.velocity && self.same_dir_rounds >= 3 {
                self.v = (self.v * 2.0).min(65_536.0);
            } else {
                self.v = 1.0;
            }
            self.last_dir = dir;
            self.round_cwnd = self.cwnd;
            self.round_end_us = Some(now + srtt_us);
        }
        if self.last_decision != 0 && decision != self.last_decision {
            self.v = 1.0;
            self.same_dir_rounds = 0;
        }
        self.last_decision = decision;
        let n = acked as f64 / mss;
        let new = if self.in_slow_start && up {
            cwnd + n
        } else {
            self.in_slow_start = false;
            let change = self.v * n / (self.p.delta * cwnd);
            if up {
                cwnd + change
            } else {
                (cwnd - change).max(2.0)
            }
        };
        self.cwnd = ((new * mss).round() as u64).max(2 * self.mss);
        Some((self.cwnd, rate(self.cwnd)))
    }
}

impl FlowState for CopaFlow {
    fn on_report(&mut self, ctl: &mut Control<'_>, r: &Report<'_>) {
        let out = self.step(
            field(r, "acked"),
            rtt_sample(field(r, "minrtt")),
            rtt_sample(field(r, "srtt")),
            field(r, "now"),
            field(r, "timeout") != 0,
        );
        if let Some((c, rate)) = out {
            let _ = ctl.update_fields(&[("Cwnd", c), ("Rate", rate.max(1))]);
        }
    }

    /// `min_rtt_us`: the estimator's current minimum RTT (once it has a sample), and
    /// `cwnd_bytes`.
    fn exports(&self) -> Vec<(&'static str, f64)> {
        let mut v: Vec<(&'static str, f64)> = self
            .min_rtt
            .get()
            .map(|m| ("min_rtt_us", m as f64))
            .into_iter()
            .collect();
        v.push(("cwnd_bytes", self.cwnd as f64));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algs::testutil::{ack, cwnd, info, rate, Harness, Loop};
    use crate::algs::ParamValue;
    use netrt::Duration;

    fn flow(cwnd_pkts: u64) -> CopaFlow {
        let p = Copa::from_params(&Params::new()).unwrap().params;
        let mut f = CopaFlow::new(p, 1000, cwnd_pkts * 1000);
        f.in_slow_start = false;
        f
    }

    #[test]
    fn window_moves_toward_the_target_rate() {
        let mut f = flow(10);
        // d_q = 0: up by v·n/(δ·cwnd) = 1 · 10 / (0.5 · 10) = 2 packets; rate 2 · 12000 / 0.1 s.
        assert_eq!(
            f.step(10_000, Some(100_000), Some(100_000), 100_000, false),
            Some((12_000, 240_000))
        );
        // Standing 110 ms, min 100 ms: d_q 10 ms, target 1/(0.5 · 0.01) = 200 pkt/s;
        // current 12/0.11 = 109 pkt/s: up by 1 · 6 / (0.5 · 12) = 1.
        assert_eq!(
            f.step(6_000, Some(110_000), Some(100_000), 150_000, false)
                .unwrap()
                .0,
            13_000
        );
        // Standing 150 ms: target 40 pkt/s < 13/0.15 = 86.7: down by 13 / (0.5 · 13) = 2.
        // (The velocity round at 200 ms sees 13 > 10 after one round: v stays 1.)
        assert_eq!(
            f.step(13_000, Some(150_000), Some(100_000), 200_000, false)
                .unwrap()
                .0,
            11_000
        );
    }

    #[test]
    fn velocity_doubles_after_three_rounds_and_resets_on_reversal() {
        let mut f = flow(10);
        let mut windows = vec![];
        for r in 1..=5u64 {
            let acked = f.cwnd;
            let (c, _) = f
                .step(acked, Some(100_000), Some(100_000), r * 100_000, false)
                .unwrap();
            windows.push((c / 1000, f.v));
        }
        // A full window acked per round: change = v / δ = 2v packets. Rounds 2, 3 go up
        // (same direction 1, 2 rounds): v = 1; round 4 (3 rounds): v = 2; round 5: v = 4.
        assert_eq!(
            windows,
            vec![(12, 1.0), (14, 1.0), (16, 1.0), (20, 2.0), (28, 4.0)]
        );
        // Standing 200 ms, min 100 ms: d_q 0.1 s, target 20 pkt/s < 28/0.2 = 140: down, and the
        // reversal resets v: 28 - 1 · 28 / (0.5 · 28) = 26.
        let (c, _) = f
            .step(28_000, Some(200_000), Some(100_000), 600_000, false)
            .unwrap();
        assert_eq!((c, f.v), (26_000, 1.0));
    }

    #[test]
    fn slow_start_until_the_first_down_decision() {
        let p = Copa::from_params(&Params::new()).unwrap().params;
        let mut f = CopaFlow::new(p, 1000, 10_000);
        assert_eq!(
            f.step(10_000, Some(100_000), None, 100_000, false)
                .unwrap()
                .0,
            20_000
        );
        assert!(f.in_slow_start);
        // Standing 200 ms: down; slow start ends: 20 - 20 / (0.5 · 20) = 18.
        assert_eq!(
            f.step(20_000, Some(200_000), None, 200_000, false)
                .unwrap()
                .0,
            18_000
        );
        assert!(!f.in_slow_start);
    }

    #[test]
    fn params() {
        let p: Params = [(
            "min_rtt_estimator".to_string(),
            ParamValue::Str("ewma".into()),
        )]
        .into();
        let e = Copa::from_params(&p).unwrap_err().to_string();
        assert!(
            e.contains("copa") && e.contains("\"per_packet\", \"naive\""),
            "{e}"
        );
        let p: Params = [("delta".to_string(), ParamValue::Int(0))].into();
        assert!(Copa::from_params(&p).is_err());
        let p: Params = [("delta".to_string(), ParamValue::Int(1))].into();
        assert_eq!(Copa::from_params(&p).unwrap().params.delta, 1.0);
    }

    #[test]
    fn windowed_min_forgets_old_samples() {
        let mut m = WindowedMin::default();
        m.push(0, 50, 10);
        m.push(5, 70, 10);
        assert_eq!(m.get(), Some(50));
        m.push(11, 80, 10);
        assert_eq!(m.get(), Some(70));
        m.push(16, 90, 10);
        assert_eq!(m.get(), Some(80));
    }

    /// A run's results record the estimator's minimum RTT (and the window).
    #[test]
    fn exports_the_min_rtt_estimate_and_the_window() {
        for (est, want) in [
            (MinRttEstimator::PerPacket, 25_000.0),
            (MinRttEstimator::Naive, 30_000.0),
        ] {
            let mut p = Copa::from_params(&Params::new()).unwrap().params;
            p.estimator = est;
            let mut f = CopaFlow::new(p, 1460, 14_600);
            assert_eq!(f.exports(), vec![("cwnd_bytes", 14_600.0)], "no sample yet");
            f.step(1460, Some(25_000), Some(30_000), 40_000, false);
            let e = f.exports();
            assert_eq!(e[0], ("min_rtt_us", want), "{est:?}");
            assert_eq!(e[1], ("cwnd_bytes", f.cwnd as f64));
        }
    }

    #[test]
    fn through_the_agent() {
        let mut h = Harness::new(Copa::from_params(&Params::new()).unwrap());
        let out = h.create(info(1, 10));
        assert_eq!(cwnd(&out), Some(14_600));
        let out = h.report(
            1,
            "copa",
            &[
                ("acked", 14_600),
                ("minrtt", 20_000),
                ("srtt", 20_000),
                ("now", 20_000),
            ],
        );
        assert_eq!(cwnd(&out), Some(29_200));
        assert_eq!(rate(&out), Some(2 * 29_200 * 50));
    }

    /// ACK compression: the path RTT is 25 ms, but ACKs are held and released in bursts
    /// every 5 ms, so per-ACK samples are 29, 28, 27, 26, 25 ms. The reports the datapath
    /// program sends give the per-packet estimator 25 ms; the naive one filters smoothed RTTs
    /// and overestimates.
    #[test]
    fn per_packet_estimator_is_robust_to_ack_compression() {
        let copa = Copa::from_params(&Params::new()).unwrap();
        let spec = copa.program.clone();
        let mut l = Loop::new(copa, 10);
        for burst in 0..200u64 {
            let t = 30_000 + burst * 5_000;
            for k in 0..5u64 {
                let mut a = ack(0);
                a.rtt_sample = Duration::from_micros(25_000 + (4 - k) * 1_000);
                l.ack(t + k, a);
            }
        }
        assert!(l.received.len() > 50, "{} reports", l.received.len());
        let estimate = |est: MinRttEstimator| {
            let mut p = Copa::from_params(&Params::new()).unwrap().params;
            p.estimator = est;
            let mut f = CopaFlow::new(p, 1460, 14_600);
            for m in &l.received {
                let r = Report {
                    sid: m.sid,
                    program_uid: m.program_uid,
                    program: &spec,
                    fields: &m.fields,
                };
                f.step(
                    field(&r, "acked"),
                    rtt_sample(field(&r, "minrtt")),
                    rtt_sample(field(&r, "srtt")),
                    field(&r, "now"),
                    false,
                );
            }
            f.min_rtt.get().unwrap()
        };
        assert_eq!(estimate(MinRttEstimator::PerPacket), 25_000);
        let naive = estimate(MinRttEstimator::Naive);
        assert!(naive >= 26_000, "naive estimate {naive}");
    }
}
