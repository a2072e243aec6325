//! Nimbus (`"nimbus"`): elasticity detection with sinusoidal pulses, delay or competitive mode.
//!
//! Source: Goyal et al., "Elasticity Detection: A Building Block for Internet Congestion
//! Control" (SIGCOMM 2022; the thesis §4.7.1) and ccp-project/nimbus:
//! - the datapath program reports acked bytes, losses, the latest and minimum RTT, the sending
//!   rate `rin` (`Flow.rate_outgoing`), the receiving rate `rout` (`Flow.rate_incoming`) and
//!   `now`, every `report_interval_us` (default 10 ms, the measurement interval);
//! - the agent estimates the bottleneck rate µ (the `bottleneck_rate_mbps` parameter, or the
//!   largest EWMA of `rout` seen) and the cross traffic z = µ·rin/rout − rin, kept as a time
//!   series in 10 ms bins (sample-and-hold between reports);
//! - it sends at a base rate plus an asymmetric sinusoidal pulse of period 1/`frequency_hz`
//!   (5 Hz): +A·sin(2π·2φ) for the first quarter of the period, −(A/3)·sin(π(φ − ¼)/¾) for
//!   the rest (zero mean), A = `pulse_size`·µ; the window is 2·rate·RTT;
//! - every report after 10 s, the FFT (the `rustfft` crate) of the last 512 bins (5.12 s,
//!   mean removed) gives the elasticity η = |Z| peak in [f_p − 0.5, f_p + 0.5] Hz over the
//!   |Z| peak in [f_p + 1.5, 2f_p − 0.5] Hz: elastic cross traffic answers the pulses at f_p.
//!   An EWMA of η (gain 0.01 per report, starting at 1) above 2.25 switches to competitive
//!   mode, below 2.0 to delay mode (at most once per 5 s);
//! - competitive mode: Cubic ([`super::cubic`]'s rules, slow start included) on a window,
//!   base rate = cwnd / smoothed RTT. Delay mode: per report,
//!   base ← (1 − g)·base + g·(µ − z + ½·µ·(d_t − d)/d_t) with gain g = 0.25, d the queueing
//!   delay (smoothed RTT − min RTT) and target d_t = (`delay_threshold` − 1)·min RTT; a loss
//!   multiplies it by 0.7 (once per RTT). The base rate stays within [0.05·µ, 2·µ].
//!
//! Deviations from upstream: one flow is modelled (no MulTCP "xtcp_flows"), the delay law is
//! the simple spare-capacity law above (upstream offers Copa/Vegas/Nimbus delay rules),
//! detrending subtracts the mean only, the z series is not shifted by the RTT, there is no
//! master/slave pulser election and no fixed first-second rate; the flow starts in
//! competitive mode (upstream's default), i.e. in Cubic slow start.
//!
//! Parameters: `report` (`"interval"`), `report_interval_us` (10000), `pulse_size` (0.25, in
//! [0, 1]), `frequency_hz` (5, in [1, 20]), `delay_threshold` (1.25, > 1), `switching`
//! (true), `bottleneck_rate_mbps` (estimated when absent), `initial_mode`
//! (`"competitive"` or `"delay"`).

use super::common::{compile, field, rtt_sample, ParamReader, ReportMode};
use super::cong_avoid::{CaConfig, CaFlow, Measurement, SlowStart, Window};
use super::cubic::{CubicParams, CubicRule};
use super::{AlgError, Params};
use crate::agent::{Algorithm, Control, FlowState, ProgramSpec, Report};
use crate::wire::Create;
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};
use std::collections::VecDeque;
use std::f64::consts::PI;
use std::sync::Arc;

/// Width of a z-series bin, µs.
pub const BIN_US: u64 = 10_000;
/// FFT length (bins).
pub const FFT_LEN: usize = 512;
/// Time before the first elasticity decision, µs.
pub const WARMUP_US: u64 = 10_000_000;

/// The two control modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NimbusMode {
    /// Delay-based: fill the spare capacity, keep a small queue.
    Delay,
    /// TCP-competitive: Cubic.
    Competitive,
}

/// Nimbus's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct NimbusParams {
    /// Reporting mode.
    pub report: ReportMode,
    /// Pulse amplitude as a fraction of µ.
    pub pulse_size: f64,
    /// Pulse frequency, Hz.
    pub frequency_hz: f64,
    /// RTT / min RTT the delay mode aims at.
    pub delay_threshold: f64,
    /// Whether the mode may change.
    pub switching: bool,
    /// Fixed bottleneck rate (bytes/s); `None`: estimated.
    pub bottleneck_rate: Option<f64>,
    /// Mode at start.
    pub initial_mode: NimbusMode,
}

/// Nimbus on CCP. See the module docs.
#[derive(Clone, Debug)]
pub struct Nimbus {
    params: NimbusParams,
    program: ProgramSpec,
}

impl Nimbus {
    /// Builds Nimbus from scenario parameters.
    pub fn from_params(params: &Params) -> Result<Self, AlgError> {
        let p = ParamReader::new(
            "nimbus",
            params,
            &[
                "pulse_size",
                "frequency_hz",
                "delay_threshold",
                "switching",
                "bottleneck_rate_mbps",
                "initial_mode",
            ],
        )?;
        let delay_threshold = p.f64_in("delay_threshold", 1.25, 1.0, 100.0)?;
        if delay_threshold <= 1.0 {
            return Err(p.bad("delay_threshold", "a number > 1 and <= 100"));
        }
        let np = NimbusParams {
            report: p.report_mode(ReportMode::Interval(BIN_US))?,
            pulse_size: p.f64_in("pulse_size", 0.25, 0.0, 1.0)?,
            frequency_hz: p.f64_in("frequency_hz", 5.0, 1.0, 20.0)?,
            delay_threshold,
            switching: p.bool("switching", true)?,
            bottleneck_rate: if p.has("bottleneck_rate_mbps") {
                Some(p.f64_pos("bottleneck_rate_mbps", 0.0, 1e6)? * 1e6 / 8.0)
            } else {
                None
            },
            initial_mode: match p.choice(
                "initial_mode",
                &["competitive", "delay"],
                "competitive",
            )? {
                "delay" => NimbusMode::Delay,
                _ => NimbusMode::Competitive,
            },
        };
        let src = format!(
            "(def (Report (volatile acked 0) (volatile loss 0) (volatile timeout false)
    (volatile rtt 0) (volatile minrtt +infinity) (volatile rin 0) (volatile rout 0) (volatile now 0)))
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.loss (+ Report.loss Ack.lost_pkts_sample))
    (:= Report.timeout Flow.was_timeout)
    (:= Report.rtt Flow.rtt_sample_us)
    (:= Report.minrtt (min Report.minrtt Flow.rtt_sample_us))
    (:= Report.rin Flow.rate_outgoing)
    (:= Report.rout Flow.rate_incoming)
    (:= Report.now Ack.now)
    (fallthrough))
(when (|| Report.timeout (> Report.loss 0)) (report) (:= Micros 0))
{}
",
            np.report.clause()
        );
        Ok(Nimbus {
            program: compile("nimbus", "nimbus", &src)?,
            params: np,
        })
    }
}

impl Algorithm for Nimbus {
    type Flow = NimbusFlow;
    fn name(&self) -> &str {
        "nimbus"
    }
    fn programs(&self) -> Vec<ProgramSpec> {
        vec![self.program.clone()]
    }
    fn create(&mut self, ctl: &mut Control<'_>, info: &Create) -> NimbusFlow {
        let mss = u64::from(info.flow.mss.max(1));
        let init = u64::from(info.flow.init_cwnd).max(mss);
        let _ = ctl.set_program("nimbus", &[("Cwnd", init)]);
        NimbusFlow::new(self.params.clone(), mss, init)
    }
}

/// The pulse added to the base rate at `t` seconds: amplitude `a` up for the first quarter
/// of each period, `a/3` down for the rest.
pub fn pulse(t: f64, frequency_hz: f64, a: f64) -> f64 {
    let phase = (t * frequency_hz).fract();
    if phase < 0.25 {
        a * (2.0 * PI * phase * 2.0).sin()
    } else {
        -(a / 3.0) * (PI * (phase - 0.25) / 0.75).sin()
    }
}

/// The cross-traffic rate: µ·rin/rout − rin (0 when unknown or negative).
pub fn cross_traffic(mu: f64, rin: f64, rout: f64) -> f64 {
    if rout <= 0.0 || mu <= 0.0 {
        return 0.0;
    }
    (mu * rin / rout - rin).max(0.0)
}

/// Elasticity of a z series sampled every `dt_s`: the spectrum peak near `f_p` over the peak
/// in [f_p + 1.5, 2 f_p − 0.5] Hz.
pub fn elasticity(z: &[f64], dt_s: f64, f_p: f64, fft: &dyn Fft<f64>) -> f64 {
    let n = z.len();
    if n == 0 || fft.len() != n {
        return 0.0;
    }
    let mean = z.iter().sum::<f64>() / n as f64;
    let mut buf: Vec<Complex<f64>> = z.iter().map(|&v| Complex::new(v - mean, 0.0)).collect();
    fft.process(&mut buf);
    let df = 1.0 / (n as f64 * dt_s);
    let peak_in = |lo: f64, hi: f64| {
        (0..n / 2)
            .filter(|&i| {
                let f = i as f64 * df;
                f >= lo && f <= hi
            })
            .map(|i| buf[i].norm())
            .fold(0.0, f64::max)
    };
    let at = peak_in(f_p - 0.5, f_p + 0.5);
    let other = peak_in(f_p + 1.5, 2.0 * f_p - 0.5);
    if other <= f64::EPSILON * (1.0 + at) {
        if at <= f64::EPSILON {
            0.0
        } else {
            f64::MAX
        }
    } else {
        at / other
    }
}

/// Per-flow Nimbus state.
pub struct NimbusFlow {
    p: NimbusParams,
    mss: u64,
    /// Current mode.
    pub mode: NimbusMode,
    /// Competitive mode's Cubic window.
    pub cubic: CaFlow<CubicRule>,
    /// Base rate (before pulses), bytes/s.
    pub base_rate: f64,
    /// Bottleneck rate estimate µ, bytes/s.
    pub mu: f64,
    ewma_rout: f64,
    /// Smoothed RTT, µs.
    pub srtt_us: f64,
    /// Minimum RTT, µs.
    pub min_rtt_us: Option<u64>,
    start_us: Option<u64>,
    last_switch_us: u64,
    next_bin_us: Option<u64>,
    /// The z series (bytes/s per 10 ms bin), newest last.
    pub z_hist: VecDeque<f64>,
    /// EWMA of the elasticity.
    pub ewma_elasticity: f64,
    delay_loss_until: u64,
    fft: Arc<dyn Fft<f64>>,
}

impl NimbusFlow {
    /// A flow in its initial mode with window `init_cwnd`.
    pub fn new(p: NimbusParams, mss: u64, init_cwnd: u64) -> Self {
        let cfg = CaConfig {
            alg: "nimbus",
            report: p.report,
            slow_start: SlowStart::Agent,
            init_cwnd_pkts: None,
            ecn: None,
        };
        let cubic = CaFlow::new(
            &cfg,
            Window::new(mss, init_cwnd),
            CubicRule::new(CubicParams::default()),
        );
        NimbusFlow {
            mode: p.initial_mode,
            mu: p.bottleneck_rate.unwrap_or(0.0),
            p,
            mss,
            cubic,
            base_rate: 0.0,
            ewma_rout: 0.0,
            srtt_us: 0.0,
            min_rtt_us: None,
            start_us: None,
            last_switch_us: 0,
            next_bin_us: None,
            z_hist: VecDeque::new(),
            ewma_elasticity: 1.0,
            delay_loss_until: 0,
            fft: FftPlanner::new().plan_fft_forward(FFT_LEN),
        }
    }

    fn switch(&mut self, to: NimbusMode, now: u64) {
        let rtt_s = self.srtt_us / 1e6;
        match to {
            NimbusMode::Competitive => {
                // Cubic starts from the current rate's window, in congestion avoidance.
                let w = ((self.base_rate * rtt_s) as u64).max(2 * self.mss);
                self.cubic.w.cwnd = w;
                self.cubic.w.ssthresh = w;
                self.cubic.rule.epoch_start_us = None;
                self.cubic.rule.w_max = w as f64 / self.mss as f64;
            }
            NimbusMode::Delay => {}
        }
        self.mode = to;
        self.last_switch_us = now;
    }

    /// Processes one report; returns the rate (bytes/s) and window (bytes) to set.
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &mut self,
        acked: u64,
        loss: u64,
        timeout: bool,
        rtt: Option<u64>,
        min_rtt: Option<u64>,
        rin: f64,
        rout: f64,
        now: u64,
    ) -> Option<(u64, u64)> {
        let start = *self.start_us.get_or_insert(now);
        if let Some(m) = min_rtt.or(rtt) {
            self.min_rtt_us = Some(self.min_rtt_us.map_or(m, |b| b.min(m)));
        }
        if let Some(r) = rtt.or(min_rtt) {
            self.srtt_us = if self.srtt_us == 0.0 {
                r as f64
            } else {
                0.875 * self.srtt_us + 0.125 * r as f64
            };
        }
        let base_rtt = self.min_rtt_us? as f64;
        // Bottleneck and cross traffic.
        if rout > 0.0 {
            self.ewma_rout = if self.ewma_rout == 0.0 {
                rout
            } else {
                0.8 * self.ewma_rout + 0.2 * rout
            };
        }
        if self.p.bottleneck_rate.is_none() {
            self.mu = self.mu.max(self.ewma_rout);
        }
        let z = cross_traffic(self.mu, rin, rout);
        let next = self.next_bin_us.get_or_insert(now);
        while *next <= now {
            self.z_hist.push_back(z);
            *next += BIN_US;
        }
        while self.z_hist.len() > FFT_LEN {
            self.z_hist.pop_front();
        }
        // Base rate of the current mode.
        match self.mode {
            NimbusMode::Competitive => {
                self.cubic.step(&Measurement {
                    acked,
                    loss,
                    timeout,
                    rtt_us: rtt,
                    min_rtt_us: min_rtt,
                    now_us: now,
                    ..Measurement::default()
                });
                self.base_rate = self.cubic.w.cwnd as f64 * 1e6 / self.srtt_us.max(1.0);
            }
            NimbusMode::Delay => {
                if (loss > 0 || timeout) && now >= self.delay_loss_until {
                    self.base_rate *= 0.7;
                    self.delay_loss_until = now + self.srtt_us as u64;
                } else if self.mu > 0.0 {
                    let d = (self.srtt_us - base_rtt).max(0.0);
                    let dt = (self.p.delay_threshold - 1.0) * base_rtt;
                    let target = self.mu - z + 0.5 * self.mu * (dt - d) / dt;
                    self.base_rate = 0.75 * self.base_rate + 0.25 * target;
                }
                if self.mu > 0.0 {
                    self.base_rate = self.base_rate.clamp(0.05 * self.mu, 2.0 * self.mu);
                }
            }
        }
        // Elasticity and mode switching.
        if self.p.switching
            && now.saturating_sub(start) >= WARMUP_US
            && self.z_hist.len() == FFT_LEN
        {
            let z: Vec<f64> = self.z_hist.iter().copied().collect();
            let e = elasticity(&z, BIN_US as f64 / 1e6, self.p.frequency_hz, &*self.fft).min(1e6);
            self.ewma_elasticity = 0.99 * self.ewma_elasticity + 0.01 * e;
            if self.ewma_elasticity > 2.25 && self.mode == NimbusMode::Delay {
                self.switch(NimbusMode::Competitive, now);
            } else if self.ewma_elasticity < 2.0
                && self.mode == NimbusMode::Competitive
                && now.saturating_sub(self.last_switch_us.max(start)) >= 5_000_000
            {
                self.switch(NimbusMode::Delay, now);
            }
        }
        let t = now.saturating_sub(start) as f64 / 1e6;
        let a = self.p.pulse_size * self.mu;
        let rate = (self.base_rate + pulse(t, self.p.frequency_hz, a)).max(1.0);
        let cwnd = ((2.0 * rate * self.srtt_us / 1e6) as u64).max(2 * self.mss);
        Some((rate as u64, cwnd))
    }
}

impl FlowState for NimbusFlow {
    fn on_report(&mut self, ctl: &mut Control<'_>, r: &Report<'_>) {
        let out = self.step(
            field(r, "acked"),
            field(r, "loss"),
            field(r, "timeout") != 0,
            rtt_sample(field(r, "rtt")),
            rtt_sample(field(r, "minrtt")),
            field(r, "rin") as f64,
            field(r, "rout") as f64,
            field(r, "now"),
        );
        if let Some((rate, cwnd)) = out {
            let _ = ctl.update_fields(&[("Rate", rate.max(1)), ("Cwnd", cwnd)]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algs::testutil::{cwnd, info, rate, Harness};
    use crate::algs::ParamValue;

    #[test]
    fn pulse_shape() {
        // 5 Hz: period 200 ms. Peak +A at 25 ms (phase 1/8), trough -A/3 at 125 ms
        // (phase 5/8), zero at 0, 50 ms and 200 ms.
        let a = 300.0;
        assert!((pulse(0.025, 5.0, a) - 300.0).abs() < 1e-9);
        assert!((pulse(0.125, 5.0, a) + 100.0).abs() < 1e-9);
        assert!(pulse(0.0, 5.0, a).abs() < 1e-9);
        assert!(pulse(0.05, 5.0, a).abs() < 1e-9);
        // Zero mean over a period.
        let mean: f64 = (0..2000)
            .map(|i| pulse(i as f64 * 1e-4, 5.0, a))
            .sum::<f64>()
            / 2000.0;
        assert!(mean.abs() < 0.5, "{mean}");
    }

    #[test]
    fn cross_traffic_estimate() {
        // µ 1 MB/s, we send 600 kB/s and get 500 kB/s through: z = 1e6 · 1.2 - 6e5 = 6e5.
        assert_eq!(cross_traffic(1e6, 6e5, 5e5), 6e5);
        assert_eq!(cross_traffic(1e6, 6e5, 0.0), 0.0);
        assert_eq!(cross_traffic(1e6, 5e5, 1e6), 0.0);
    }

    fn sine(f: f64) -> Vec<f64> {
        (0..FFT_LEN)
            .map(|i| 1e5 + 3e4 * (2.0 * PI * f * i as f64 * 0.01).sin())
            .collect()
    }

    #[test]
    fn elasticity_sees_the_pulse_frequency() {
        let fft = FftPlanner::new().plan_fft_forward(FFT_LEN);
        // Cross traffic oscillating with our 5 Hz pulses: elastic.
        assert!(elasticity(&sine(5.0), 0.01, 5.0, &*fft) > 10.0);
        // Oscillating at 8 Hz (inside [6.5, 9.5]): not our pulses.
        assert!(elasticity(&sine(8.0), 0.01, 5.0, &*fft) < 0.5);
        // Constant: no peak anywhere.
        assert_eq!(elasticity(&vec![1e5; FFT_LEN], 0.01, 5.0, &*fft), 0.0);
    }

    fn params(mode: &str) -> NimbusParams {
        let p: Params = [
            ("bottleneck_rate_mbps".to_string(), ParamValue::Int(8)),
            ("initial_mode".to_string(), ParamValue::Str(mode.into())),
        ]
        .into();
        Nimbus::from_params(&p).unwrap().params
    }

    /// Reports every 10 ms for `secs` with rout = 500 kB/s and rin chosen so that z follows
    /// `z_of(t)` (µ = 1 MB/s: z = rin (µ/rout - 1) = rin).
    fn run(f: &mut NimbusFlow, secs: u64, z_of: impl Fn(f64) -> f64) -> Vec<(u64, NimbusMode)> {
        let mut modes = vec![];
        for i in 0..secs * 100 {
            let now = i * 10_000;
            let rin = z_of(now as f64 / 1e6);
            f.step(5_000, 0, false, Some(20_000), Some(20_000), rin, 5e5, now);
            if modes.last().map(|&(_, m)| m) != Some(f.mode) {
                modes.push((now, f.mode));
            }
        }
        modes
    }

    #[test]
    fn elastic_cross_traffic_switches_to_competitive() {
        let mut f = NimbusFlow::new(params("delay"), 1000, 10_000);
        let modes = run(&mut f, 12, |t| 4e5 + 1e5 * (2.0 * PI * 5.0 * t).sin());
        // The first decision at 10 s; the EWMA (from 1) passes 2.25 within a few reports.
        assert_eq!(modes[0], (0, NimbusMode::Delay));
        assert_eq!(modes.len(), 2, "{modes:?}");
        let (t, m) = modes[1];
        assert_eq!(m, NimbusMode::Competitive);
        assert!((10_000_000..10_100_000).contains(&t), "{t}");
    }

    #[test]
    fn inelastic_cross_traffic_switches_to_delay() {
        let mut f = NimbusFlow::new(params("competitive"), 1000, 10_000);
        let modes = run(&mut f, 12, |_| 4e5);
        assert_eq!(
            modes,
            vec![
                (0, NimbusMode::Competitive),
                (10_000_000, NimbusMode::Delay)
            ]
        );
        // Delay mode: spare capacity µ - z = 600 kB/s, and d = 0 < d_t adds µ/2: after two
        // seconds of reports the base rate has converged to 1.1 MB/s.
        assert!((f.base_rate - 1.1e6).abs() < 1.0, "{}", f.base_rate);
    }

    #[test]
    fn delay_mode_rate_law() {
        let mut f = NimbusFlow::new(params("delay"), 1000, 10_000);
        f.base_rate = 5e5;
        // µ 1 MB/s, z = 4e5 (rin 4e5, rout 5e5), RTT = min RTT: d = 0, d_t = 5 ms:
        // target = 1e6 - 4e5 + 0.5e6 = 1.1e6; base = 0.75 · 5e5 + 0.25 · 1.1e6 = 6.5e5.
        // At t = 0 the pulse is 0; window 2 · 6.5e5 · 0.02 = 26000.
        let out = f.step(5_000, 0, false, Some(20_000), Some(20_000), 4e5, 5e5, 0);
        assert_eq!(out, Some((650_000, 26_000)));
        // A loss: 0.7 · 650000 = 455000; at 25 ms the pulse is +0.25 µ = 250000.
        let out = f.step(0, 1, false, Some(20_000), Some(20_000), 4e5, 5e5, 25_000);
        assert_eq!(out.map(|o| o.0), Some(455_000 + 250_000));
    }

    #[test]
    fn through_the_agent() {
        let mut h = Harness::new(Nimbus::from_params(&Params::new()).unwrap());
        let out = h.create(info(1, 10));
        assert_eq!(cwnd(&out), Some(14_600));
        // Competitive (Cubic slow start): 29200 bytes over 20 ms = 1.46 MB/s, µ = 1 MB/s
        // from rout; no pulse at t = 0; window 2 · rate · RTT.
        let out = h.report(
            1,
            "nimbus",
            &[
                ("acked", 14_600),
                ("rtt", 20_000),
                ("minrtt", 20_000),
                ("rin", 1_000_000),
                ("rout", 1_000_000),
                ("now", 0),
            ],
        );
        assert_eq!(rate(&out), Some(1_460_000));
        assert_eq!(cwnd(&out), Some(58_400));
        let p: Params = [("delay_threshold".to_string(), ParamValue::Float(1.0))].into();
        let e = Nimbus::from_params(&p).unwrap_err().to_string();
        assert!(e.contains("nimbus") && e.contains("delay_threshold"), "{e}");
    }
}
