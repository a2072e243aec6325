//! BBR (`"bbr"`): BBR v1's state machine on CCP, rate-based.
//!
//! Source: Cardwell et al., "BBR: Congestion-Based Congestion Control" (ACM Queue 2016) and
//! draft-cardwell-iccrg-bbr-congestion-control-00 (BBR v1), on the split of
//! ccp-project/bbr and the thesis §4.4.3 (PROBE_BW pulses timer-driven in the datapath
//! program; filters and PROBE_RTT in the agent):
//! - the datapath program reports the maximum delivery-rate sample
//!   (`min(Flow.rate_outgoing, Flow.rate_incoming)`), the minimum RTT, bytes in flight and
//!   `now`; in PROBE_BW it runs the eight-phase pacing-gain cycle [5/4, 3/4, 1, 1, 1, 1, 1,
//!   1] itself, each phase `phase_us` (= min RTT) of `Ack.now` long, setting `Rate` from the
//!   control field `bw` on every ACK;
//! - the agent keeps the max-bandwidth filter (10 rounds) and the min-RTT filter (10 s), and
//!   the modes: STARTUP (pacing and cwnd gain 2/ln 2; leaves when the bandwidth has not grown
//!   by 25 % for 3 rounds), DRAIN (pacing gain ln 2/2; leaves when bytes in flight ≤ BDP),
//!   PROBE_BW (cwnd = `cwnd_gain`·BDP, default 2), PROBE_RTT (entered when the min RTT is
//!   10 s old: cwnd 4 packets and pacing at `bw` for max(200 ms, min RTT), then the min-RTT
//!   timestamp restarts). Rates go to the datapath with [`Control::set_rate`] (bytes/s)
//!   outside PROBE_BW, and as the `bw` field in it.
//!
//! Deviations: rounds are min-RTT intervals of datapath time (not delivered-sequence rounds);
//! PROBE_BW always starts at the 5/4 phase and the 3/4 phase does not end early when the
//! queue has drained; PROBE_RTT lasts from its entry (not from when inflight reached 4
//! packets); losses and timeouts do not change the state (no packet conservation); the
//! bandwidth filter holds report maxima, not per-ACK samples. Before the first report the
//! flow sends with the datapath's initial window and no pacing rate.
//!
//! Parameters: `report` (`"per_rtt"`), `report_interval_us`, `cwnd_gain` (2.0, ≥ 1),
//! `probe_rtt_interval_ms` (10000), `probe_rtt_duration_ms` (200), `bw_window_rounds` (10).

use super::common::{compile, field, rtt_sample, ParamReader, ReportMode};
use super::{AlgError, Params};
use crate::agent::{Algorithm, Control, FlowState, ProgramSpec, Report};
use crate::wire::Create;
use std::collections::VecDeque;

/// STARTUP's pacing and window gain, 2/ln 2.
pub const HIGH_GAIN: f64 = 2.885_390_081_777_927;
/// DRAIN's pacing gain, ln 2/2.
pub const DRAIN_GAIN: f64 = 0.346_573_590_279_972_6;

/// BBR's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct BbrParams {
    /// Reporting mode.
    pub report: ReportMode,
    /// Window gain in PROBE_BW.
    pub cwnd_gain: f64,
    /// Min-RTT filter length, µs.
    pub probe_rtt_interval_us: u64,
    /// Least time in PROBE_RTT, µs.
    pub probe_rtt_duration_us: u64,
    /// Bandwidth filter length, rounds.
    pub bw_window_rounds: u64,
}

/// BBR's modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Exponential search for the bottleneck rate.
    Startup,
    /// Drain the queue STARTUP built.
    Drain,
    /// Cruise with periodic probes (the cycle runs in the datapath).
    ProbeBw,
    /// Drain everything to measure the propagation RTT; ends at this datapath time (µs).
    ProbeRtt {
        /// End of PROBE_RTT, µs.
        until_us: u64,
    },
}

/// BBR on CCP. See the module docs.
#[derive(Clone, Debug)]
pub struct Bbr {
    params: BbrParams,
    program: ProgramSpec,
}

impl Bbr {
    /// Builds BBR from scenario parameters.
    pub fn from_params(params: &Params) -> Result<Self, AlgError> {
        let p = ParamReader::new(
            "bbr",
            params,
            &[
                "cwnd_gain",
                "probe_rtt_interval_ms",
                "probe_rtt_duration_ms",
                "bw_window_rounds",
            ],
        )?;
        let bp = BbrParams {
            report: p.report_mode(ReportMode::PerRtt)?,
            cwnd_gain: p.f64_in("cwnd_gain", 2.0, 1.0, 100.0)?,
            probe_rtt_interval_us: p.u64_in("probe_rtt_interval_ms", 10_000, 1, 3_600_000)? * 1000,
            probe_rtt_duration_us: p.u64_in("probe_rtt_duration_ms", 200, 1, 60_000)? * 1000,
            bw_window_rounds: p.u64_in("bw_window_rounds", 10, 1, 1000)?,
        };
        let program = compile("bbr", "bbr", &source(bp.report))?;
        Ok(Bbr {
            params: bp,
            program,
        })
    }
}

/// The datapath program: folds and the PROBE_BW pacing-gain cycle.
fn source(report: ReportMode) -> String {
    format!(
        "(def (Report (volatile rate 0) (volatile minrtt +infinity) (volatile acked 0)
    (volatile loss 0) (volatile inflight 0) (volatile now 0) (volatile timeout false) (volatile phase 0))
    (bw 0) (probe 0) (phase_us 10000) (phase 7) (phase_end 0))
(when true
    (:= Report.rate (max Report.rate (min Flow.rate_outgoing Flow.rate_incoming)))
    (:= Report.minrtt (min Report.minrtt Flow.rtt_sample_us))
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.loss (+ Report.loss Ack.lost_pkts_sample))
    (:= Report.inflight Flow.bytes_in_flight)
    (:= Report.now Ack.now)
    (:= Report.timeout Flow.was_timeout)
    (fallthrough))
(when (&& (== probe 1) (> Ack.now phase_end))
    (:= phase (+ phase 1))
    (:= phase (if (> phase 7) 0))
    (:= phase_end (+ Ack.now phase_us))
    (fallthrough))
(when (&& (== probe 1) (== phase 0)) (:= Rate (/ (* bw 5) 4)) (fallthrough))
(when (&& (== probe 1) (== phase 1)) (:= Rate (/ (* bw 3) 4)) (fallthrough))
(when (&& (== probe 1) (> phase 1)) (:= Rate bw) (fallthrough))
(when true (:= Report.phase phase) (fallthrough))
(when (|| Report.timeout false) (report) (:= Micros 0))
{}
",
        report.clause()
    )
}

impl Algorithm for Bbr {
    type Flow = BbrFlow;
    fn name(&self) -> &str {
        "bbr"
    }
    fn programs(&self) -> Vec<ProgramSpec> {
        vec![self.program.clone()]
    }
    fn create(&mut self, ctl: &mut Control<'_>, info: &Create) -> BbrFlow {
        let mss = u64::from(info.flow.mss.max(1));
        let init = u64::from(info.flow.init_cwnd).max(mss);
        let _ = ctl.set_program("bbr", &[("Cwnd", init)]);
        BbrFlow::new(self.params.clone(), mss, init)
    }
}

/// What one report asks the datapath to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// New window, bytes.
    pub cwnd: Option<u64>,
    /// New pacing rate, bytes/s (outside PROBE_BW).
    pub rate: Option<u64>,
    /// Control-field updates (`probe`, `bw`, `phase_us`, `phase`, `phase_end`).
    pub fields: Vec<(&'static str, u64)>,
}

/// Per-flow BBR state.
#[derive(Clone, Debug)]
pub struct BbrFlow {
    p: BbrParams,
    mss: u64,
    /// Current mode.
    pub mode: Mode,
    /// Rate samples (datapath µs, bytes/s) of the bandwidth filter.
    bw_samples: VecDeque<(u64, u64)>,
    /// Bottleneck bandwidth estimate, bytes/s.
    pub bw: u64,
    /// Min RTT estimate, µs.
    pub min_rtt_us: Option<u64>,
    min_rtt_stamp_us: u64,
    round_end_us: u64,
    full_bw: u64,
    full_bw_count: u32,
    /// Whether STARTUP found the pipe full.
    pub filled_pipe: bool,
    init_cwnd: u64,
}

impl BbrFlow {
    /// A flow in STARTUP.
    pub fn new(p: BbrParams, mss: u64, init_cwnd: u64) -> Self {
        BbrFlow {
            p,
            mss,
            mode: Mode::Startup,
            bw_samples: VecDeque::new(),
            bw: 0,
            min_rtt_us: None,
            min_rtt_stamp_us: 0,
            round_end_us: 0,
            full_bw: 0,
            full_bw_count: 0,
            filled_pipe: false,
            init_cwnd,
        }
    }

    fn bdp(&self, gain: f64) -> u64 {
        let rtt = self.min_rtt_us.unwrap_or(0) as f64 / 1e6;
        let w = (gain * self.bw as f64 * rtt) as u64;
        w.max(4 * self.mss)
    }

    fn enter_probe_bw(&mut self, out: &mut Output) {
        self.mode = Mode::ProbeBw;
        out.cwnd = Some(self.bdp(self.p.cwnd_gain));
        out.fields = vec![
            ("bw", self.bw),
            ("phase_us", self.min_rtt_us.unwrap_or(10_000)),
            ("phase", 7),
            ("phase_end", 0),
            ("probe", 1),
        ];
    }

    /// Processes one report: `rate` (max delivery rate, bytes/s), `min_rtt` (µs), `inflight`
    /// (bytes), `now` (µs).
    pub fn step(&mut self, rate: u64, min_rtt: Option<u64>, inflight: u64, now: u64) -> Output {
        let mut out = Output::default();
        // Min-RTT filter.
        let expired = self.min_rtt_us.is_some()
            && now.saturating_sub(self.min_rtt_stamp_us) > self.p.probe_rtt_interval_us;
        if let Some(s) = min_rtt {
            // Strictly lower only (as Linux's `bbr_update_min_rtt`): an equal sample does not
            // refresh the stamp. In a simulator the base RTT recurs exactly, and refreshing on
            // it would keep PROBE_RTT from ever starting.
            if self.min_rtt_us.is_none_or(|m| s < m) || expired {
                self.min_rtt_us = Some(s);
                self.min_rtt_stamp_us = now;
            }
        }
        let Some(rtt) = self.min_rtt_us else {
            return out;
        };
        // Bandwidth filter: report maxima of the last bw_window_rounds min-RTTs.
        if rate > 0 {
            self.bw_samples.push_back((now, rate));
        }
        let horizon = now.saturating_sub(self.p.bw_window_rounds * rtt);
        while self.bw_samples.front().is_some_and(|&(t, _)| t < horizon) {
            self.bw_samples.pop_front();
        }
        self.bw = self.bw_samples.iter().map(|&(_, r)| r).max().unwrap_or(0);
        if self.bw == 0 {
            return out;
        }
        // Rounds of one min RTT.
        let new_round = now >= self.round_end_us;
        if new_round {
            self.round_end_us = now + rtt;
        }
        if let Mode::ProbeRtt { until_us } = self.mode {
            if now >= until_us {
                self.min_rtt_stamp_us = now;
                if self.filled_pipe {
                    self.enter_probe_bw(&mut out);
                } else {
                    self.mode = Mode::Startup;
                }
            } else {
                return out;
            }
        } else if expired {
            self.mode = Mode::ProbeRtt {
                until_us: now + self.p.probe_rtt_duration_us.max(rtt),
            };
            out.cwnd = Some(4 * self.mss);
            out.rate = Some(self.bw);
            out.fields = vec![("probe", 0)];
            return out;
        }
        match self.mode {
            Mode::Startup => {
                if new_round && !self.filled_pipe {
                    if self.bw as f64 >= self.full_bw as f64 * 1.25 {
                        self.full_bw = self.bw;
                        self.full_bw_count = 0;
                    } else {
                        self.full_bw_count += 1;
                        if self.full_bw_count >= 3 {
                            self.filled_pipe = true;
                        }
                    }
                }
                if self.filled_pipe {
                    self.mode = Mode::Drain;
                    out.rate = Some((self.bw as f64 * DRAIN_GAIN) as u64);
                    out.cwnd = Some(self.bdp(HIGH_GAIN));
                } else {
                    out.rate = Some((self.bw as f64 * HIGH_GAIN) as u64);
                    out.cwnd = Some(self.bdp(HIGH_GAIN).max(self.init_cwnd));
                }
                if self.mode == Mode::Drain && inflight <= self.bdp(1.0) {
                    out.rate = None;
                    self.enter_probe_bw(&mut out);
                }
            }
            Mode::Drain => {
                if inflight <= self.bdp(1.0) {
                    self.enter_probe_bw(&mut out);
                } else {
                    out.rate = Some((self.bw as f64 * DRAIN_GAIN) as u64);
                    out.cwnd = Some(self.bdp(HIGH_GAIN));
                }
            }
            Mode::ProbeBw => {
                if out.fields.is_empty() {
                    out.cwnd = Some(self.bdp(self.p.cwnd_gain));
                    out.fields = vec![("bw", self.bw), ("phase_us", rtt)];
                }
            }
            Mode::ProbeRtt { .. } => {}
        }
        out
    }
}

impl FlowState for BbrFlow {
    fn on_report(&mut self, ctl: &mut Control<'_>, r: &Report<'_>) {
        let out = self.step(
            field(r, "rate"),
            rtt_sample(field(r, "minrtt")),
            field(r, "inflight"),
            field(r, "now"),
        );
        let mut fields = out.fields;
        if let Some(c) = out.cwnd {
            fields.push(("Cwnd", c));
        }
        if let Some(rate) = out.rate {
            fields.push(("Rate", rate.max(1)));
        }
        if !fields.is_empty() {
            let _ = ctl.update_fields(&fields);
        }
    }

    /// `min_rtt_us` (once sampled) and `btl_bw_bps`, the bottleneck-bandwidth estimate.
    fn exports(&self) -> Vec<(&'static str, f64)> {
        let mut v: Vec<(&'static str, f64)> = self
            .min_rtt_us
            .map(|m| ("min_rtt_us", m as f64))
            .into_iter()
            .collect();
        v.push(("btl_bw_bps", self.bw as f64 * 8.0));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algs::testutil::{ack, cwnd, info, rate, Harness, Loop, MSS};
    use crate::algs::ParamValue;

    fn flow() -> BbrFlow {
        BbrFlow::new(
            Bbr::from_params(&Params::new()).unwrap().params,
            MSS,
            10 * MSS,
        )
    }

    /// The exact same minimum RTT every round (what a simulator gives) does not refresh the
    /// filter's stamp: PROBE_RTT starts 10 s after the minimum was first seen.
    #[test]
    fn equal_min_rtt_samples_do_not_postpone_probe_rtt() {
        let mut f = flow();
        let mut entered = None;
        for i in 1..=1_100u64 {
            let now = i * 10_000;
            f.step(2_000_000, Some(10_000), 20_000, now);
            if matches!(f.mode, Mode::ProbeRtt { .. }) {
                entered = Some(now);
                break;
            }
        }
        let at = entered.expect("PROBE_RTT within 11 s");
        assert!(
            (10_000_000..=10_030_000).contains(&at),
            "entered at {at} µs"
        );
    }

    #[test]
    fn startup_drain_probe_bw_probe_rtt() {
        let mut f = flow();
        // First report: bw 1 MB/s, min RTT 10 ms; STARTUP: rate 2.885 MB/s, cwnd
        // max(2.885 · 10 kB, init 14600) = 28853.
        let o = f.step(1_000_000, Some(10_000), 0, 10_000);
        assert_eq!(f.mode, Mode::Startup);
        assert_eq!(o.rate, Some(2_885_390));
        assert_eq!(o.cwnd, Some(28_853));
        // Rounds: 2 MB/s grows >= 25 %; 2.2, 2.3, 2.4 MB/s do not (full_bw 2 MB/s):
        // the third ends STARTUP.
        f.step(2_000_000, Some(10_000), 0, 20_000);
        f.step(2_200_000, Some(10_000), 0, 30_000);
        f.step(2_300_000, Some(10_000), 0, 40_000);
        assert_eq!(f.mode, Mode::Startup);
        let o = f.step(2_400_000, Some(10_000), 100_000, 50_000);
        // DRAIN: bw 2.4 MB/s, rate 2.4e6 · ln2/2 = 831776; inflight 100 kB > BDP 24 kB.
        assert_eq!(f.mode, Mode::Drain);
        assert_eq!(o.rate, Some(831_776));
        assert_eq!(o.cwnd, Some(69_249));
        // Inflight 24000 <= BDP: PROBE_BW, cwnd = 2 BDP = 48000, the cycle starts in the
        // datapath (phase 7 wraps to 0 at the next ACK).
        let o = f.step(2_000_000, Some(10_000), 24_000, 60_000);
        assert_eq!(f.mode, Mode::ProbeBw);
        assert_eq!(o.cwnd, Some(48_000));
        assert_eq!(o.rate, None);
        assert!(o.fields.contains(&("probe", 1)));
        assert!(o.fields.contains(&("bw", 2_400_000)));
        assert!(o.fields.contains(&("phase_us", 10_000)));
        // Later reports refresh bw (the 10-round window at 200 ms holds samples from 100 ms
        // on: 2.1 MB/s now is the max) and the phase length.
        let o = f.step(2_100_000, Some(10_500), 24_000, 200_000);
        assert_eq!(f.bw, 2_100_000);
        assert_eq!(o.fields, vec![("bw", 2_100_000), ("phase_us", 10_000)]);
        assert_eq!(o.cwnd, Some(42_000));
        // 10 s after the last min-RTT sample (stamped at 10 ms... renewed by equal samples up
        // to 60 ms): PROBE_RTT at 10.07 s: cwnd 4 packets, pacing at bw, cycle off.
        let o = f.step(2_000_000, Some(11_000), 24_000, 10_070_000);
        assert_eq!(
            f.mode,
            Mode::ProbeRtt {
                until_us: 10_270_000
            }
        );
        assert_eq!(o.cwnd, Some(4 * MSS));
        assert_eq!(o.rate, Some(2_000_000));
        assert_eq!(o.fields, vec![("probe", 0)]);
        // The expired filter took the 11 ms sample; during PROBE_RTT a 10 ms sample lowers it.
        assert_eq!(
            f.step(2_000_000, Some(10_000), 5_000, 10_100_000),
            Output::default()
        );
        assert_eq!(f.min_rtt_us, Some(10_000));
        // After 200 ms: back to PROBE_BW.
        let o = f.step(2_000_000, Some(10_000), 5_000, 10_270_000);
        assert_eq!(f.mode, Mode::ProbeBw);
        assert!(o.fields.contains(&("probe", 1)));
        assert_eq!(o.cwnd, Some(40_000));
    }

    #[test]
    fn through_the_agent() {
        let mut h = Harness::new(Bbr::from_params(&Params::new()).unwrap());
        let out = h.create(info(1, 10));
        assert_eq!(cwnd(&out), Some(14_600));
        let out = h.report(
            1,
            "bbr",
            &[("rate", 1_000_000), ("minrtt", 10_000), ("now", 10_000)],
        );
        assert_eq!(rate(&out), Some(2_885_390));
        assert_eq!(cwnd(&out), Some(28_853));
    }

    /// Starts every flow straight in PROBE_BW with bw = 1 MB/s and 10 ms phases.
    struct ProbeOnly(Bbr);
    struct Nothing;
    impl FlowState for Nothing {
        fn on_report(&mut self, _: &mut Control<'_>, _: &Report<'_>) {}
    }
    impl Algorithm for ProbeOnly {
        type Flow = Nothing;
        fn name(&self) -> &str {
            "probe-only"
        }
        fn programs(&self) -> Vec<ProgramSpec> {
            self.0.programs()
        }
        fn create(&mut self, ctl: &mut Control<'_>, _: &Create) -> Nothing {
            ctl.set_program(
                "bbr",
                &[
                    ("probe", 1),
                    ("bw", 1_000_000),
                    ("phase_us", 10_000),
                    ("phase", 7),
                ],
            )
            .unwrap();
            Nothing
        }
    }

    #[test]
    fn gain_cycle_runs_in_the_datapath() {
        let mut l = Loop::new(ProbeOnly(Bbr::from_params(&Params::new()).unwrap()), 10);
        let mut rates = vec![];
        for t in 1..=100 {
            l.ack(t * 1_000, ack(10_000));
            rates.push(l.rate);
        }
        // A phase ends at the first ACK with Ack.now > its start + 10 ms: with an ACK every
        // ms each phase lasts 11 ACKs. 5/4 from the first ACK (1 ms) to 11 ms, 3/4 from 12 to
        // 22 ms, 1 for six phases (23 to 88 ms), then 5/4 again.
        let at = |ms: usize| rates[ms - 1];
        assert_eq!(at(1), 1_250_000);
        assert_eq!(at(11), 1_250_000);
        assert_eq!(at(12), 750_000);
        assert_eq!(at(22), 750_000);
        assert_eq!(at(23), 1_000_000);
        assert_eq!(at(88), 1_000_000);
        assert_eq!(at(89), 1_250_000);
        assert_eq!(rates[..88].iter().filter(|&&r| r == 750_000).count(), 11);
    }

    #[test]
    fn params() {
        let p: Params = [("cwnd_gain".to_string(), ParamValue::Float(0.5))].into();
        let e = Bbr::from_params(&p).unwrap_err().to_string();
        assert!(e.contains("bbr") && e.contains("cwnd_gain"), "{e}");
    }
}
