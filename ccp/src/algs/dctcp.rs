//! DCTCP (`"dctcp"`): ECN-fraction window reduction on CCP.
//!
//! Source: RFC 8257 (and Linux's `tcp_dctcp.c`, as the native `transport` DCTCP): once per
//! window of data, `alpha = (1 − g)·alpha + g·F` with F the fraction of acknowledged bytes that
//! carried ECN-Echo; on ECN-Echo, at most once per window, `cwnd = cwnd·(1 − alpha/2)`; Reno
//! growth, halving on loss.
//!
//! Split: the datapath program folds `alpha` itself (integer arithmetic, alpha in units of
//! 1/1024 as Linux's `DCTCP_MAX_ALPHA`), with a window ending when `Ack.now` passes the window
//! start plus the latest RTT sample, and reports at once on the first marked ACK of a window
//! (besides the `report` mode and losses). The agent cuts the window with the reported alpha,
//! then ignores marks and losses for one RTT (see [`super::reno`]). With
//! `slow_start = "datapath"` the first mark also ends slow start.
//!
//! Deviations: the window for alpha is one RTT of datapath time, not one window of sequence
//! space; the first window ends at the first ACK (so alpha's first update covers one ACK);
//! the agent's "once per window" uses the latest RTT sample; no CWR/PRR pacing of the
//! reduction (the window is set at once).
//!
//! Parameters: `report` (`"per_rtt"`), `report_interval_us`, `slow_start` (`"agent"`),
//! `init_cwnd_pkts` (the datapath's), `g` (1/16, in (0, 1], resolution 1/1024),
//! `init_alpha` (1.0, in [0, 1]).

use super::common::ParamReader;
use super::cong_avoid::{read_config, CaConfig, CaFlow, EcnConfig, CA_PARAMS};
use super::reno::RenoRule;
use super::{AlgError, Params};
use crate::agent::{Algorithm, Control, ProgramSpec};
use crate::wire::Create;

/// DCTCP on CCP. See the module docs.
#[derive(Clone, Debug)]
pub struct Dctcp {
    cfg: CaConfig,
    programs: Vec<ProgramSpec>,
}

/// Per-flow DCTCP state (Reno rules; the ECN cut is the framework's default).
pub type DctcpFlow = CaFlow<RenoRule>;

impl Dctcp {
    /// Builds DCTCP from scenario parameters.
    pub fn from_params(params: &Params) -> Result<Self, AlgError> {
        let mut known = CA_PARAMS.to_vec();
        known.extend(["g", "init_alpha"]);
        let p = ParamReader::new("dctcp", params, &known)?;
        let mut cfg = read_config("dctcp", &p, false)?;
        let g = p.f64_pos("g", 1.0 / 16.0, 1.0)?;
        let g_1024 = (g * 1024.0).round() as u64;
        if g_1024 == 0 {
            return Err(p.bad("g", "a number >= 1/1024 and <= 1"));
        }
        let a = p.f64_in("init_alpha", 1.0, 0.0, 1.0)?;
        cfg.ecn = Some(EcnConfig {
            g_1024,
            init_alpha_1024: (a * 1024.0).round() as u64,
        });
        Ok(Dctcp {
            programs: cfg.programs()?,
            cfg,
        })
    }
}

impl Algorithm for Dctcp {
    type Flow = DctcpFlow;
    fn name(&self) -> &str {
        "dctcp"
    }
    fn programs(&self) -> Vec<ProgramSpec> {
        self.programs.clone()
    }
    fn create(&mut self, ctl: &mut Control<'_>, info: &Create) -> DctcpFlow {
        CaFlow::start(&self.cfg, ctl, info, RenoRule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algs::testutil::{ack, cwnd, info, Harness, Loop};
    use crate::algs::ParamValue;

    #[test]
    fn cut_by_alpha_once_per_rtt() {
        let mut h = Harness::new(Dctcp::from_params(&Params::new()).unwrap());
        h.create(info(1, 10));
        // Leave slow start with a loss: 29200 -> 14600.
        h.report(
            1,
            "dctcp_report",
            &[("acked", 14_600), ("rtt", 100), ("now", 100)],
        );
        let out = h.report(
            1,
            "dctcp_report",
            &[("loss", 1), ("rtt", 100), ("now", 200)],
        );
        assert_eq!(cwnd(&out), Some(14_600));
        // Marks with alpha = 512/1024: 14600 (1 - 0.25) = 10950.
        let out = h.report(
            1,
            "dctcp_report",
            &[("ecn", 1_460), ("alpha", 512), ("rtt", 100), ("now", 400)],
        );
        assert_eq!(cwnd(&out), Some(10_950));
        // More marks within the RTT: ignored.
        let out = h.report(
            1,
            "dctcp_report",
            &[("ecn", 1_460), ("alpha", 1024), ("rtt", 100), ("now", 450)],
        );
        assert_eq!(cwnd(&out), None);
        // After it, alpha = 1: halved.
        let out = h.report(
            1,
            "dctcp_report",
            &[("ecn", 1_460), ("alpha", 1024), ("rtt", 100), ("now", 600)],
        );
        assert_eq!(cwnd(&out), Some(5_475));
    }

    #[test]
    fn alpha_is_folded_in_the_datapath() {
        let mut l = Loop::new(Dctcp::from_params(&Params::new()).unwrap(), 10);
        for t in 1..=12 {
            l.ack(t * 1_000, ack(10_000));
        }
        // Windows: the first ends at the first ACK (F = 0: alpha = 1024 · 15/16 = 960), the
        // second at 12 ms (11 unmarked ACKs: alpha = 960 · 960 / 1024 = 900). The per-RTT
        // report at 12 ms carried 12 ACKs: slow start to 14600 + 17520 = 32120.
        assert_eq!(l.agent.stats().reports, 1);
        let spec = l.agent.algorithm().programs()[0].clone();
        let idx = spec.scope.lookup("alpha").unwrap().index as usize;
        assert_eq!(l.dp.control_register(l.sid, idx), Some(900));
        // A marked ACK at 13 ms is reported at once: slow start + 1460 = 33580, then the cut
        // 33580 · (1 - 900/2048) = 18823.16.
        let mut marked = ack(10_000);
        marked.ecn_bytes = 1_460;
        marked.ecn_packets = 1;
        l.ack(13_000, marked);
        assert_eq!(l.agent.stats().reports, 2);
        l.ack(14_000, ack(10_000));
        assert_eq!(l.cwnd, 18_823);
        // Marks in the same window are not reported again.
        l.ack(15_000, marked);
        assert_eq!(l.agent.stats().reports, 2);
    }

    #[test]
    fn g_is_validated() {
        for v in [
            ParamValue::Float(0.0),
            ParamValue::Float(1.5),
            ParamValue::Float(0.0001),
        ] {
            let p: Params = [("g".to_string(), v)].into();
            let e = Dctcp::from_params(&p).unwrap_err().to_string();
            assert!(e.contains("dctcp") && e.contains("\"g\""), "{e}");
        }
    }
}
