//! Vegas (`"vegas"`): keep between `alpha` and `beta` packets queued at the bottleneck.
//!
//! Source: Brakmo & Peterson, "TCP Vegas" (JSAC 1995) as in Linux's `tcp_vegas.c`: once per
//! round trip, with `rtt` the round's minimum RTT sample and `base_rtt` the flow's minimum,
//! `diff = cwnd·(rtt − base_rtt)/rtt` packets; in congestion avoidance `cwnd += 1` packet if
//! `diff < alpha`, `cwnd −= 1` if `diff > beta`; in slow start, leave it when
//! `diff > gamma` (cwnd = min(cwnd, target + 1), ssthresh = cwnd − 1 packet), else grow by
//! the acked bytes; on loss, Reno's halving.
//!
//! Split: the reporting program of [`super::reno`] (per-report acked bytes, minimum RTT of the
//! report, `now`); the agent keeps base_rtt and the round's minimum and decides once per
//! round (a round ends when datapath time passes the round start plus the round's RTT), so
//! per-ACK reports make the same decisions as per-RTT ones. Slow start is always in the agent
//! (Vegas needs the per-round RTT there).
//!
//! Deviations: base_rtt is never reset (Linux resets it on each loss-free restart); rounds are
//! measured in time rather than sequence numbers.
//!
//! Parameters: `report` (`"per_rtt"`), `report_interval_us`, `init_cwnd_pkts` (the
//! datapath's), `alpha` (2 packets), `beta` (4), `gamma` (1), with alpha ≤ beta.

use super::common::{ParamReader, ReportMode};
use super::cong_avoid::{CaConfig, CaFlow, Measurement, SlowStart, Window, WindowRule};
use super::{AlgError, Params};
use crate::agent::{Algorithm, Control, ProgramSpec};
use crate::wire::Create;

/// Vegas's thresholds (packets) and per-flow state.
#[derive(Clone, Debug, PartialEq)]
pub struct VegasRule {
    /// Grow below this many queued packets.
    pub alpha: f64,
    /// Shrink above this many queued packets.
    pub beta: f64,
    /// Leave slow start above this many queued packets.
    pub gamma: f64,
    /// Minimum RTT ever seen, µs.
    pub base_rtt_us: Option<u64>,
    /// Minimum RTT of the current round, µs.
    pub round_min_us: Option<u64>,
    /// Datapath time at which the current round ends (µs); `None` before the first round.
    pub round_end_us: Option<u64>,
}

impl VegasRule {
    /// A rule with thresholds and no history.
    pub fn new(alpha: f64, beta: f64, gamma: f64) -> Self {
        VegasRule {
            alpha,
            beta,
            gamma,
            base_rtt_us: None,
            round_min_us: None,
            round_end_us: None,
        }
    }
}

impl WindowRule for VegasRule {
    fn increase(&mut self, w: &mut Window, acked: u64, m: &Measurement) {
        if let Some(s) = m.min_rtt_us.or(m.rtt_us) {
            self.base_rtt_us = Some(self.base_rtt_us.map_or(s, |b| b.min(s)));
            self.round_min_us = Some(self.round_min_us.map_or(s, |b| b.min(s)));
        }
        let (Some(base), Some(rtt)) = (self.base_rtt_us, self.round_min_us) else {
            // No RTT yet: plain slow start.
            w.slow_start(acked);
            return;
        };
        let round_over = self.round_end_us.is_none_or(|e| m.now_us >= e);
        if !round_over {
            if w.in_slow_start() {
                w.slow_start(acked);
            }
            return;
        }
        self.round_end_us = Some(m.now_us + rtt);
        self.round_min_us = None;
        let mss = w.mss as f64;
        let cwnd = w.cwnd as f64 / mss;
        let target = cwnd * base as f64 / rtt as f64;
        let diff = cwnd - target;
        if w.in_slow_start() {
            if diff > self.gamma {
                let c = cwnd.min(target.floor() + 1.0).max(2.0);
                w.cwnd = (c as u64) * w.mss;
                w.ssthresh = w.ssthresh.min(w.cwnd - w.mss);
            } else {
                w.slow_start(acked);
            }
        } else if diff > self.beta {
            w.cwnd = w.cwnd.saturating_sub(w.mss).max(2 * w.mss);
            w.ssthresh = w.ssthresh.min(w.cwnd - w.mss);
        } else if diff < self.alpha {
            w.cwnd += w.mss;
        }
    }

    fn avoid(&mut self, _w: &mut Window, _acked: u64, _m: &Measurement) {}

    fn on_loss(&mut self, w: &mut Window, _m: &Measurement) {
        w.reduce(0.5);
    }
}

/// Vegas on CCP. See the module docs.
#[derive(Clone, Debug)]
pub struct Vegas {
    cfg: CaConfig,
    rule: VegasRule,
    programs: Vec<ProgramSpec>,
}

/// Per-flow Vegas state.
pub type VegasFlow = CaFlow<VegasRule>;

impl Vegas {
    /// Builds Vegas from scenario parameters.
    pub fn from_params(params: &Params) -> Result<Self, AlgError> {
        let p = ParamReader::new(
            "vegas",
            params,
            &["init_cwnd_pkts", "alpha", "beta", "gamma"],
        )?;
        let report = p.report_mode(ReportMode::PerRtt)?;
        let init_cwnd_pkts = if p.has("init_cwnd_pkts") {
            Some(p.u64_in("init_cwnd_pkts", 10, 1, 1 << 20)?)
        } else {
            None
        };
        let alpha = p.f64_in("alpha", 2.0, 0.0, 1e6)?;
        let beta = p.f64_in("beta", 4.0, 0.0, 1e6)?;
        let gamma = p.f64_in("gamma", 1.0, 0.0, 1e6)?;
        if beta < alpha {
            return Err(p.bad("beta", format!("a number >= alpha ({alpha})")));
        }
        let cfg = CaConfig {
            alg: "vegas",
            report,
            slow_start: SlowStart::Agent,
            init_cwnd_pkts,
            ecn: None,
        };
        Ok(Vegas {
            programs: cfg.programs()?,
            cfg,
            rule: VegasRule::new(alpha, beta, gamma),
        })
    }
}

impl Algorithm for Vegas {
    type Flow = VegasFlow;
    fn name(&self) -> &str {
        "vegas"
    }
    fn programs(&self) -> Vec<ProgramSpec> {
        self.programs.clone()
    }
    fn create(&mut self, ctl: &mut Control<'_>, info: &Create) -> VegasFlow {
        CaFlow::start(&self.cfg, ctl, info, self.rule.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algs::cong_avoid::Action;
    use crate::algs::testutil::{cwnd, info, Harness};
    use crate::algs::ParamValue;

    fn m(acked: u64, minrtt: u64, now: u64) -> Measurement {
        Measurement {
            acked,
            min_rtt_us: Some(minrtt),
            rtt_us: Some(minrtt),
            now_us: now,
            ..Measurement::default()
        }
    }

    fn flow(cwnd_segs: u64, ssthresh_segs: u64) -> VegasFlow {
        let v = Vegas::from_params(&Params::new()).unwrap();
        let mut w = Window::new(1000, cwnd_segs * 1000);
        w.ssthresh = ssthresh_segs * 1000;
        CaFlow::new(&v.cfg, w, v.rule)
    }

    #[test]
    fn congestion_avoidance_keeps_alpha_to_beta_queued() {
        let mut f = flow(20, 10);
        // base 100 ms, rtt 100 ms: diff 0 < 2: + 1.
        assert_eq!(f.step(&m(20_000, 100_000, 0)), Action::SetCwnd(21_000));
        // Within the round (ends at 100 ms): no decision; the round's minimum is 125 ms.
        assert_eq!(f.step(&m(5_000, 125_000, 50_000)), Action::None);
        // rtt 125 ms: diff = 21 · 25/125 = 4.2 > 4: - 1.
        assert_eq!(
            f.step(&m(21_000, 125_000, 100_000)),
            Action::SetCwnd(20_000)
        );
        // rtt 110 ms: diff = 20 · 10/110 = 1.82 < 2: + 1.
        assert_eq!(
            f.step(&m(20_000, 110_000, 225_000)),
            Action::SetCwnd(21_000)
        );
        // rtt 112 ms: diff = 21 · 12/112 = 2.25: hold.
        assert_eq!(f.step(&m(21_000, 112_000, 335_000)), Action::None);
    }

    #[test]
    fn slow_start_ends_when_gamma_is_exceeded() {
        let mut f = flow(10, u64::MAX / 1000);
        // base 100 ms: diff 0, slow start: 10 -> 20.
        assert_eq!(f.step(&m(10_000, 100_000, 0)), Action::SetCwnd(20_000));
        // rtt 120 ms: diff = 20 - 20·100/120 = 3.33 > 1: cwnd = min(20, 16 + 1) = 17,
        // ssthresh = 16.
        assert_eq!(
            f.step(&m(20_000, 120_000, 100_000)),
            Action::SetCwnd(17_000)
        );
        assert_eq!(f.w.ssthresh, 16_000);
    }

    #[test]
    fn through_the_agent_per_ack() {
        let p: Params = [("report".to_string(), ParamValue::Str("per_ack".into()))].into();
        let mut h = Harness::new(Vegas::from_params(&p).unwrap());
        h.create(info(1, 10));
        let out = h.report(
            1,
            "vegas_report",
            &[("acked", 1_460), ("minrtt", 10_000), ("now", 1)],
        );
        assert_eq!(cwnd(&out), Some(16_060));
        let p: Params = [("alpha".to_string(), ParamValue::Int(5))].into();
        assert!(Vegas::from_params(&p)
            .unwrap_err()
            .to_string()
            .contains("beta"));
    }
}
