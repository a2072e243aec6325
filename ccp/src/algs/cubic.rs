//! Cubic (`"cubic"`): RFC 9438 window growth computed in the agent, once per report.
//!
//! Source: RFC 9438 §4 (W_cubic(t) = C·(t − K)³ + W_max with K = ∛((W_max − cwnd_epoch)/C);
//! target = W_cubic(t + RTT) clamped to [cwnd, 1.5·cwnd]; growth (target − cwnd)/cwnd per
//! acknowledged segment; the Reno-friendly estimate W_est += α_cubic·acked/cwnd with
//! α_cubic = 3(1 − β)/(1 + β), 1 once W_est reaches the window before the last reduction;
//! multiplicative decrease by β; fast convergence), on the datapath/agent split of
//! ccp-project/generic-cong-avoid (the reporting and slow-start options are those of
//! [`super::reno`]).
//!
//! Deviations: the growth of a whole report is applied at once (the per-ACK increments of a
//! report summed with the window held at its value at the report; capped at the target);
//! time comes from the datapath (`Report.now`), the RTT is the report's latest sample rather
//! than a smoothed RTT; the epoch starts at the first congestion-avoidance report (after the
//! one-RTT recovery, see [`super::reno`]); a timeout updates W_max like a loss, then sets cwnd
//! to 1 MSS and ssthresh to β·cwnd.
//!
//! HyStart (`hystart`, default true, as the native transport Cubic and Linux): with slow start
//! in the agent, once the window is at least 16 segments, a report whose minimum RTT exceeds
//! the flow's minimum RTT by `clamp(min_rtt / 8, 4 ms, 16 ms)` ends slow start (ssthresh =
//! cwnd) — Linux's delay-increase detector, with the report's minimum standing for the
//! round's first eight samples (a per-RTT report spans about one round). Not modelled: the
//! ACK-train detector (it needs per-ACK timing the agent does not see), and HyStart with slow
//! start in the datapath program (that program reports only losses and timeouts).
//!
//! Parameters: `report` (`"per_rtt"`), `report_interval_us`, `slow_start` (`"agent"`),
//! `init_cwnd_pkts` (the datapath's), `beta` (0.7, in (0, 1)), `c` (0.4, > 0),
//! `fast_convergence` (true), `reno_friendly` (true), `hystart` (true).

use super::common::ParamReader;
use super::cong_avoid::{
    read_config, CaConfig, CaFlow, Measurement, Window, WindowRule, CA_PARAMS,
};
use super::{AlgError, Params};
use crate::agent::{Algorithm, Control, ProgramSpec};
use crate::wire::Create;

/// Cubic's constants.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CubicParams {
    /// Multiplicative decrease factor β.
    pub beta: f64,
    /// Cubic scaling constant C (segments / s³).
    pub c: f64,
    /// RFC 9438 §4.7 fast convergence.
    pub fast_convergence: bool,
    /// RFC 9438 §4.3 Reno-friendly region.
    pub reno_friendly: bool,
    /// HyStart's delay-increase exit from slow start (see the module docs).
    pub hystart: bool,
}

impl Default for CubicParams {
    fn default() -> Self {
        CubicParams {
            beta: 0.7,
            c: 0.4,
            fast_convergence: true,
            reno_friendly: true,
            hystart: true,
        }
    }
}

/// Cubic's window rules and per-flow state (windows in segments).
#[derive(Clone, Debug, PartialEq)]
pub struct CubicRule {
    /// Constants.
    pub p: CubicParams,
    /// W_max: the window before the last reduction (after fast convergence).
    pub w_max: f64,
    /// The window just before the last reduction (for α_cubic).
    pub cwnd_prior: f64,
    /// Start of the current congestion-avoidance epoch (datapath µs).
    pub epoch_start_us: Option<u64>,
    /// K, seconds.
    pub k: f64,
    /// W_max of the epoch's cubic function (the window itself if it was above W_max).
    pub origin: f64,
    /// The Reno-friendly estimate W_est.
    pub w_est: f64,
    /// Latest RTT, µs.
    pub rtt_us: u64,
    /// The flow's minimum RTT so far, µs (HyStart's baseline).
    pub min_rtt_us: Option<u64>,
}

impl CubicRule {
    /// A rule with constants `p` and no history.
    pub fn new(p: CubicParams) -> Self {
        CubicRule {
            p,
            w_max: 0.0,
            cwnd_prior: 0.0,
            epoch_start_us: None,
            k: 0.0,
            origin: 0.0,
            w_est: 0.0,
            rtt_us: 0,
            min_rtt_us: None,
        }
    }

    /// W_cubic(t), segments.
    pub fn w_cubic(&self, t: f64) -> f64 {
        self.p.c * (t - self.k).powi(3) + self.origin
    }

    fn congestion(&mut self, w: &Window) {
        let cwnd = w.cwnd as f64 / w.mss as f64;
        self.epoch_start_us = None;
        self.cwnd_prior = cwnd;
        self.w_max = if self.p.fast_convergence && cwnd < self.w_max {
            cwnd * (1.0 + self.p.beta) / 2.0
        } else {
            cwnd
        };
    }
}

fn to_bytes(segs: f64, mss: u64) -> u64 {
    (segs * mss as f64).round().max(0.0) as u64
}

/// HyStart's window floor, segments (Linux's `hystart_low_window`).
const HYSTART_LOW_WINDOW: u64 = 16;
/// HyStart's delay-increase threshold bounds, µs (Linux's `HYSTART_DELAY_MIN`/`MAX`).
const HYSTART_DELAY_US: (u64, u64) = (4_000, 16_000);

impl WindowRule for CubicRule {
    fn increase(&mut self, w: &mut Window, acked: u64, m: &Measurement) {
        if let Some(round_min) = m.min_rtt_us {
            let base = self.min_rtt_us.map_or(round_min, |b| b.min(round_min));
            self.min_rtt_us = Some(base);
            let thresh = (base / 8).clamp(HYSTART_DELAY_US.0, HYSTART_DELAY_US.1);
            if self.p.hystart
                && w.in_slow_start()
                && w.cwnd >= HYSTART_LOW_WINDOW * w.mss
                && round_min >= base + thresh
            {
                // Delay increase: leave slow start at the current window.
                w.ssthresh = w.cwnd;
            }
        }
        let rest = w.slow_start(acked);
        if rest > 0 {
            self.avoid(w, rest, m);
        }
    }

    fn avoid(&mut self, w: &mut Window, acked: u64, m: &Measurement) {
        if let Some(r) = m.rtt_us.or(m.min_rtt_us) {
            self.rtt_us = r;
        }
        let mss = w.mss as f64;
        let cwnd = w.cwnd as f64 / mss;
        let now = m.now_us;
        let epoch = *self.epoch_start_us.get_or_insert_with(|| {
            if cwnd < self.w_max {
                self.k = ((self.w_max - cwnd) / self.p.c).cbrt();
                self.origin = self.w_max;
            } else {
                self.k = 0.0;
                self.origin = cwnd;
            }
            self.w_est = cwnd;
            now
        });
        let t = now.saturating_sub(epoch) as f64 / 1e6;
        let rtt = self.rtt_us as f64 / 1e6;
        let segs = acked as f64 / mss;
        let target = self.w_cubic(t + rtt).clamp(cwnd, 1.5 * cwnd);
        let mut new = (cwnd + (target - cwnd) * segs / cwnd).min(target);
        if self.p.reno_friendly {
            let alpha = if self.w_est >= self.cwnd_prior {
                1.0
            } else {
                3.0 * (1.0 - self.p.beta) / (1.0 + self.p.beta)
            };
            self.w_est += alpha * segs / cwnd;
            if self.w_cubic(t) < self.w_est {
                new = new.max(self.w_est);
            }
        }
        w.cwnd = to_bytes(new, w.mss).max(w.cwnd);
    }

    fn on_loss(&mut self, w: &mut Window, _m: &Measurement) {
        self.congestion(w);
        w.reduce(self.p.beta);
    }

    fn on_timeout(&mut self, w: &mut Window, _m: &Measurement) {
        self.congestion(w);
        w.ssthresh = to_bytes(w.cwnd as f64 / w.mss as f64 * self.p.beta, w.mss).max(2 * w.mss);
        w.cwnd = w.mss;
        w.ca_acked = 0;
    }
}

/// Cubic on CCP. See the module docs.
#[derive(Clone, Debug)]
pub struct Cubic {
    cfg: CaConfig,
    params: CubicParams,
    programs: Vec<ProgramSpec>,
}

/// Per-flow Cubic state.
pub type CubicFlow = CaFlow<CubicRule>;

impl Cubic {
    /// Builds Cubic from scenario parameters.
    pub fn from_params(params: &Params) -> Result<Self, AlgError> {
        let mut known = CA_PARAMS.to_vec();
        known.extend(["beta", "c", "fast_convergence", "reno_friendly", "hystart"]);
        let p = ParamReader::new("cubic", params, &known)?;
        let cfg = read_config("cubic", &p, false)?;
        let d = CubicParams::default();
        let beta = p.f64_pos("beta", d.beta, 1.0)?;
        if beta >= 1.0 {
            return Err(p.bad("beta", "a number > 0 and < 1"));
        }
        let cp = CubicParams {
            beta,
            c: p.f64_pos("c", d.c, f64::INFINITY)?,
            fast_convergence: p.bool("fast_convergence", d.fast_convergence)?,
            reno_friendly: p.bool("reno_friendly", d.reno_friendly)?,
            hystart: p.bool("hystart", d.hystart)?,
        };
        Ok(Cubic {
            programs: cfg.programs()?,
            cfg,
            params: cp,
        })
    }
}

impl Algorithm for Cubic {
    type Flow = CubicFlow;
    fn name(&self) -> &str {
        "cubic"
    }
    fn programs(&self) -> Vec<ProgramSpec> {
        self.programs.clone()
    }
    fn create(&mut self, ctl: &mut Control<'_>, info: &Create) -> CubicFlow {
        CaFlow::start(&self.cfg, ctl, info, CubicRule::new(self.params))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algs::cong_avoid::{Action, SlowStart};
    use crate::algs::testutil::{cwnd, info, Harness};
    use crate::algs::{ParamValue, ReportMode};

    fn flow(beta: f64, c: f64, cwnd_segs: u64) -> CubicFlow {
        let cfg = CaConfig {
            alg: "cubic",
            report: ReportMode::PerRtt,
            slow_start: SlowStart::Agent,
            init_cwnd_pkts: None,
            ecn: None,
        };
        let rule = CubicRule::new(CubicParams {
            beta,
            c,
            ..CubicParams::default()
        });
        CaFlow::new(&cfg, Window::new(1000, cwnd_segs * 1000), rule)
    }

    fn m(acked: u64, loss: u64, rtt_us: u64, now_us: u64) -> Measurement {
        Measurement {
            acked,
            loss,
            rtt_us: Some(rtt_us),
            now_us,
            ..Measurement::default()
        }
    }

    #[test]
    fn window_follows_the_cubic_function() {
        // MSS 1000, beta 0.5, C 0.4: a loss at 100 segments gives W_max = 100, cwnd 50,
        // K = cbrt(50 / 0.4) = 5 s. RTT 1 s.
        let mut f = flow(0.5, 0.4, 100);
        f.w.ssthresh = 100_000;
        assert_eq!(f.step(&m(0, 1, 1_000_000, 0)), Action::SetCwnd(50_000));
        assert_eq!(f.w.ssthresh, 50_000);
        // Recovery lasts one RTT: nothing at 0.5 s.
        assert_eq!(f.step(&m(10_000, 0, 1_000_000, 500_000)), Action::None);
        let t0 = 2_000_000;
        // t = 0: target = 100 + 0.4 (0 + 1 - 5)^3 = 74.4 (within [50, 75]); 25 segments
        // acked: 50 + 24.4 · 25/50 = 62.2. W_est = 50 + 1 · 25/50 = 50.5 (alpha = 1 for
        // beta 0.5), W_cubic(0) = 50 < 50.5, but 62.2 is larger.
        assert_eq!(
            f.step(&m(25_000, 0, 1_000_000, t0)),
            Action::SetCwnd(62_200)
        );
        assert!((f.rule.k - 5.0).abs() < 1e-9);
        // t = 4 s: target = W_cubic(5) = 100, clamped to 1.5 · 62.2 = 93.3; a full window
        // acked reaches the target.
        assert_eq!(
            f.step(&m(62_200, 0, 1_000_000, t0 + 4_000_000)),
            Action::SetCwnd(93_300)
        );
        // t = 6 s: target = 100 + 0.4 · 2^3 = 103.2; half a window acked:
        // 93.3 + 9.9 / 2 = 98.25.
        assert_eq!(
            f.step(&m(46_650, 0, 1_000_000, t0 + 6_000_000)),
            Action::SetCwnd(98_250)
        );
        // Loss below the old W_max with fast convergence: W_max = 98.25 · 1.5 / 2.
        assert_eq!(
            f.step(&m(0, 1, 1_000_000, t0 + 7_000_000)),
            Action::SetCwnd(49_125)
        );
        assert!((f.rule.w_max - 73.6875).abs() < 1e-9);
    }

    #[test]
    fn reno_friendly_region_takes_over_when_cubic_is_slow() {
        // beta 0.5 (alpha_cubic 1), tiny C: with W_max = 100 and cwnd 50, K = cbrt(500000)
        // ~ 79.4 s, so the cubic target barely moves (~50.19 after 0.1 s) while W_est grows
        // one segment per window and wins.
        let mut f = flow(0.5, 0.0001, 100);
        f.step(&m(0, 1, 100_000, 0));
        assert_eq!(f.w.cwnd, 50_000);
        // First CA report, a full window: W_est = 51; cubic target(0.1 s) ~ 50.0059...
        let a = f.step(&m(50_000, 0, 100_000, 1_000_000));
        assert_eq!(a, Action::SetCwnd(51_000));
        // Again: W_est = 51 + 51/51 = 52.
        let a = f.step(&m(51_000, 0, 100_000, 1_100_000));
        assert_eq!(a, Action::SetCwnd(52_000));
    }

    #[test]
    fn hystart_leaves_slow_start_on_a_delay_increase() {
        let mm = |acked: u64, rtt_us: u64, now_us: u64| Measurement {
            acked,
            rtt_us: Some(rtt_us),
            min_rtt_us: Some(rtt_us),
            now_us,
            ..Measurement::default()
        };
        let mut f = flow(0.7, 0.4, 20);
        let mss = f.w.mss;
        assert!(f.w.in_slow_start());
        // A round at the base RTT: slow start goes on.
        f.step(&mm(20 * mss, 20_000, 1_000_000));
        assert!(f.w.in_slow_start(), "no delay increase yet");
        assert_eq!(f.w.cwnd, 40 * mss, "doubled");
        // Queueing raises the round's minimum RTT by 5 ms > max(20/8, 4) ms: exit.
        f.step(&mm(2 * mss, 25_000, 1_030_000));
        assert!(!f.w.in_slow_start(), "HyStart ended slow start");
        assert!(
            f.w.cwnd < 42 * mss,
            "no longer one segment per acked segment"
        );
        // A rise below the threshold (3 ms < 4 ms) does not end it.
        let mut h = flow(0.7, 0.4, 20);
        h.step(&mm(20 * mss, 20_000, 1_000_000));
        h.step(&mm(2 * mss, 23_000, 1_030_000));
        assert!(h.w.in_slow_start());
        // Without HyStart the same reports keep it in slow start.
        let mut g = flow(0.7, 0.4, 20);
        g.rule.p.hystart = false;
        g.step(&mm(20 * mss, 20_000, 1_000_000));
        g.step(&mm(2 * mss, 25_000, 1_030_000));
        assert!(g.w.in_slow_start());
    }

    #[test]
    fn params_are_validated() {
        for (k, v) in [
            ("beta", ParamValue::Float(1.0)),
            ("beta", ParamValue::Int(0)),
            ("c", ParamValue::Float(-1.0)),
            ("fast_convergence", ParamValue::Int(1)),
            ("slow_start", ParamValue::Str("kernel".into())),
        ] {
            let p: Params = [(k.to_string(), v)].into();
            let e = Cubic::from_params(&p).unwrap_err().to_string();
            assert!(
                e.contains("cubic") && e.contains(k) && e.contains("expected"),
                "{e}"
            );
        }
        let p: Params = [("c".to_string(), ParamValue::Int(1))].into();
        assert_eq!(Cubic::from_params(&p).unwrap().params.c, 1.0);
    }

    #[test]
    fn through_the_agent() {
        let mut h = Harness::new(Cubic::from_params(&Params::new()).unwrap());
        let out = h.create(info(1, 10));
        assert_eq!(cwnd(&out), Some(14_600));
        // Slow start in the agent, then a loss: 29200 · 0.7 = 20440.
        h.report(
            1,
            "cubic_report",
            &[("acked", 14_600), ("rtt", 20_000), ("now", 20_000)],
        );
        let out = h.report(
            1,
            "cubic_report",
            &[("loss", 1), ("rtt", 20_000), ("now", 40_000)],
        );
        assert_eq!(cwnd(&out), Some(20_440));
        let p: Params = [("slow_start".to_string(), ParamValue::Str("datapath".into()))].into();
        let mut h = Harness::new(Cubic::from_params(&p).unwrap());
        let out = h.create(info(1, 10));
        assert_eq!(h.switched_to(&out).as_deref(), Some("cubic_ss"));
        let out = h.report(1, "cubic_ss", &[("loss", 1), ("cwnd", 100_000), ("now", 5)]);
        assert_eq!(h.switched_to(&out).as_deref(), Some("cubic_report"));
        assert_eq!(cwnd(&out), Some(70_000));
    }
}
