//! Reno (`"reno"`): NewReno-like AIMD on CCP.
//!
//! Source: RFC 5681 window rules as in the native `transport` NewReno (byte counting: one MSS
//! per window of acknowledged bytes; halve, at least 2 MSS; one MSS after a timeout), split
//! between datapath and agent as in ccp-project/generic-cong-avoid and the thesis §4.4.4:
//! - `slow_start = "agent"` (default): the program reports acked bytes (per ACK, per RTT or
//!   per interval, and at once on loss or timeout); the agent grows the window.
//! - `slow_start = "datapath"`: the first program grows `Cwnd` by each ACK's bytes itself and
//!   reports only on the first loss or timeout; the agent then switches to the reporting
//!   program (thesis Listing 4.3).
//!
//! Deviations: recovery is approximated in the agent (a report carries no sequence numbers):
//! after a reduction, further losses and growth are ignored for one RTT (the latest sample) of
//! datapath time, and further losses until as many bytes as the window before the cut (about
//! the data in flight at the loss) are acknowledged, instead of until the recovery point is
//! acknowledged (the RTT rule alone cut twice per drop-tail overflow on a 1-BDP dumbbell); congestion avoidance counts the bytes of a whole report at
//! once (several MSS if a report covers several windows). After a timeout, slow start runs in
//! the agent even with `slow_start = "datapath"` (as generic-cong-avoid).
//!
//! Parameters: `report` (`"per_rtt"`), `report_interval_us`, `slow_start` (`"agent"`),
//! `init_cwnd_pkts` (default: the datapath's initial window).

use super::common::ParamReader;
use super::cong_avoid::{
    read_config, CaConfig, CaFlow, Measurement, Window, WindowRule, CA_PARAMS,
};
use super::{AlgError, Params};
use crate::agent::{Algorithm, Control, ProgramSpec};
use crate::wire::Create;

/// Reno's window rules: byte-counting additive increase, halving on loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RenoRule;

impl WindowRule for RenoRule {
    fn avoid(&mut self, w: &mut Window, acked: u64, _m: &Measurement) {
        w.reno_avoid(acked);
    }
    fn on_loss(&mut self, w: &mut Window, _m: &Measurement) {
        w.reduce(0.5);
    }
}

/// Reno on CCP. See the module docs.
#[derive(Clone, Debug)]
pub struct Reno {
    cfg: CaConfig,
    programs: Vec<ProgramSpec>,
}

/// Per-flow Reno state.
pub type RenoFlow = CaFlow<RenoRule>;

impl Reno {
    /// Builds Reno from scenario parameters.
    pub fn from_params(params: &Params) -> Result<Self, AlgError> {
        let p = ParamReader::new("reno", params, &CA_PARAMS)?;
        let cfg = read_config("reno", &p)?;
        Ok(Reno {
            programs: cfg.programs()?,
            cfg,
        })
    }
}

impl Algorithm for Reno {
    type Flow = RenoFlow;
    fn name(&self) -> &str {
        "reno"
    }
    fn programs(&self) -> Vec<ProgramSpec> {
        self.programs.clone()
    }
    fn create(&mut self, ctl: &mut Control<'_>, info: &Create) -> RenoFlow {
        CaFlow::start(&self.cfg, ctl, info, RenoRule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algs::testutil::{ack, cwnd, info, Harness, Loop, MSS};
    use crate::algs::ParamValue;

    fn reno(kv: &[(&str, &str)]) -> Reno {
        let p: Params = kv
            .iter()
            .map(|(k, v)| (k.to_string(), ParamValue::Str(v.to_string())))
            .collect();
        Reno::from_params(&p).unwrap()
    }

    /// Losses of one overflow are detected over more than one RTT; they cut the window once,
    /// like the native sender's recovery point: a loss report after the RTT holdoff but before
    /// a pre-cut window's worth of bytes is acknowledged does not cut again.
    #[test]
    fn one_cut_per_loss_episode_even_when_detection_spans_rtts() {
        let mut h = Harness::new(reno(&[]));
        let out = h.create(info(1, 10));
        assert_eq!(cwnd(&out), Some(14_600));
        let out = h.report(
            1,
            "reno_report",
            &[("acked", 14_600), ("rtt", 20_000), ("now", 20_000)],
        );
        assert_eq!(cwnd(&out), Some(29_200));
        // First loss: halve to 14,600; the episode spans the 29,200 bytes in flight.
        let out = h.report(
            1,
            "reno_report",
            &[("loss", 1), ("rtt", 20_000), ("now", 100_000)],
        );
        assert_eq!(cwnd(&out), Some(14_600));
        // 1.5 RTTs later, with only 10,000 bytes acked since: a late-detected loss of the same
        // episode. The window grows by the acked bytes' share, and is not halved again.
        let out = h.report(
            1,
            "reno_report",
            &[
                ("acked", 10_000),
                ("loss", 1),
                ("rtt", 20_000),
                ("now", 130_000),
            ],
        );
        assert_ne!(cwnd(&out), Some(7_300));
        // Once the episode's bytes are acknowledged, a new loss cuts again.
        let _ = h.report(
            1,
            "reno_report",
            &[("acked", 19_200), ("rtt", 20_000), ("now", 150_000)],
        );
        let out = h.report(
            1,
            "reno_report",
            &[("loss", 1), ("rtt", 20_000), ("now", 170_000)],
        );
        let w = cwnd(&out).expect("a new episode cuts");
        assert!(w < 14_600, "{w}");
    }

    #[test]
    fn agent_slow_start_then_aimd_per_rtt() {
        let mut h = Harness::new(reno(&[]));
        let out = h.create(info(1, 10));
        assert_eq!(h.switched_to(&out).as_deref(), Some("reno_report"));
        assert_eq!(cwnd(&out), Some(14_600));
        // Slow start: + acked.
        let out = h.report(
            1,
            "reno_report",
            &[("acked", 14_600), ("rtt", 20_000), ("now", 20_000)],
        );
        assert_eq!(cwnd(&out), Some(29_200));
        // Loss: growth first (none: acked 0), then halve; ssthresh = 14600.
        let out = h.report(
            1,
            "reno_report",
            &[("loss", 1), ("rtt", 20_000), ("now", 100_000)],
        );
        assert_eq!(cwnd(&out), Some(14_600));
        // Within one RTT (until 120 ms): no growth, no second cut.
        let out = h.report(
            1,
            "reno_report",
            &[
                ("acked", 14_600),
                ("loss", 2),
                ("rtt", 20_000),
                ("now", 110_000),
            ],
        );
        assert_eq!(cwnd(&out), None);
        // Congestion avoidance: a full window of acked bytes = + 1 MSS.
        let out = h.report(
            1,
            "reno_report",
            &[("acked", 14_600), ("rtt", 20_000), ("now", 130_000)],
        );
        assert_eq!(cwnd(&out), Some(16_060));
        // Half a window: nothing yet (ca_acked = 8030 < 16060) ...
        let out = h.report(
            1,
            "reno_report",
            &[("acked", 8_030), ("rtt", 20_000), ("now", 150_000)],
        );
        assert_eq!(cwnd(&out), None);
        // ... the other half: + 1 MSS.
        let out = h.report(
            1,
            "reno_report",
            &[("acked", 8_030), ("rtt", 20_000), ("now", 170_000)],
        );
        assert_eq!(cwnd(&out), Some(17_520));
        // A new loss after the recovery period: 17520 / 2 = 8760.
        let out = h.report(
            1,
            "reno_report",
            &[("loss", 1), ("rtt", 20_000), ("now", 190_000)],
        );
        assert_eq!(cwnd(&out), Some(8_760));
        // Timeout: ssthresh = max(8760/2, 2920) = 4380, cwnd = 1 MSS; then slow start to
        // 4380 and congestion avoidance for the rest.
        let out = h.report(1, "reno_report", &[("timeout", 1), ("now", 200_000)]);
        assert_eq!(cwnd(&out), Some(MSS));
        let out = h.report(
            1,
            "reno_report",
            &[("acked", 2_920 + 4_380), ("now", 300_000)],
        );
        // 1460 + 2920 = 4380 (ssthresh); 4380 CA bytes >= 4380: + 1460.
        assert_eq!(cwnd(&out), Some(5_840));
    }

    #[test]
    fn loss_floor_is_two_mss() {
        let mut h = Harness::new(reno(&[]));
        h.create(info(1, 2));
        let out = h.report(1, "reno_report", &[("loss", 1), ("now", 1)]);
        assert_eq!(cwnd(&out), None, "2 MSS halved stays 2 MSS");
        let f = RenoRule;
        let mut w = Window::new(MSS, 3 * MSS);
        let mut r = f;
        r.on_loss(&mut w, &Measurement::default());
        assert_eq!((w.cwnd, w.ssthresh), (2 * MSS, 2 * MSS));
    }

    #[test]
    fn per_ack_reports_grow_one_mss_per_window() {
        let mut h = Harness::new(reno(&[("report", "per_ack")]));
        h.create(info(1, 10));
        // Enter congestion avoidance at 14600 via a loss at 29200.
        h.report(1, "reno_report", &[("acked", 14_600), ("now", 1)]);
        let out = h.report(1, "reno_report", &[("loss", 1), ("rtt", 10), ("now", 2)]);
        assert_eq!(cwnd(&out), Some(14_600));
        let mut seen = vec![];
        for i in 0..20 {
            let out = h.report(
                1,
                "reno_report",
                &[("acked", MSS), ("rtt", 10), ("now", 100 + i)],
            );
            seen.push(cwnd(&out));
        }
        // 10 ACKs of 1 MSS fill 14600: +1 MSS at the 10th; then 11 ACKs fill 16060.
        let mut want = vec![None; 20];
        want[9] = Some(16_060);
        assert_eq!(seen, want);
    }

    #[test]
    fn datapath_slow_start_switches_program_on_first_loss() {
        let mut h = Harness::new(reno(&[("slow_start", "datapath")]));
        let out = h.create(info(1, 10));
        assert_eq!(h.switched_to(&out).as_deref(), Some("reno_ss"));
        assert_eq!(cwnd(&out), Some(14_600));
        // The datapath grew to 40 packets and lost one: the agent adopts 58400, halves it and
        // moves the flow to the reporting program with 29200.
        let out = h.report(
            1,
            "reno_ss",
            &[
                ("acked", 43_800),
                ("loss", 1),
                ("cwnd", 58_400),
                ("rtt", 20_000),
                ("now", 50_000),
            ],
        );
        assert_eq!(h.switched_to(&out).as_deref(), Some("reno_report"));
        assert_eq!(cwnd(&out), Some(29_200));
        // A late report of the slow-start program: its bytes are not counted twice.
        let out = h.report(
            1,
            "reno_ss",
            &[("acked", 1_460), ("loss", 1), ("now", 55_000)],
        );
        assert_eq!(out.len(), 0);
    }

    #[test]
    fn runtime_interval_reports_every_10ms() {
        let p: Params = [("report_interval_us".to_string(), ParamValue::Int(10_000))].into();
        let mut l = Loop::new(Reno::from_params(&p).unwrap(), 10);
        let mut windows = vec![];
        for t in (1_000..=40_000).step_by(1_000) {
            l.ack(t, ack(10_000));
            if windows.last() != Some(&l.cwnd) {
                windows.push(l.cwnd);
            }
        }
        // The program starts at the first invocation (1 ms) and reports when Micros > 10 ms:
        // at 12 ms (12 ACKs), 23 ms and 34 ms (11 ACKs each); slow start adds the acked bytes.
        assert_eq!(
            windows,
            vec![
                14_600,
                14_600 + 12 * 1_460,
                14_600 + 23 * 1_460,
                14_600 + 34 * 1_460
            ]
        );
        assert_eq!(l.agent.stats().reports, 3);
    }

    #[test]
    fn runtime_per_ack_and_per_rtt() {
        let per_ack: Params = [("report".to_string(), ParamValue::Str("per_ack".into()))].into();
        let mut l = Loop::new(Reno::from_params(&per_ack).unwrap(), 10);
        for t in 1..=5 {
            l.ack(t * 1_000, ack(10_000));
        }
        // Each ACK's report reaches the agent at once; its window applies at the next ACK.
        assert_eq!(l.cwnd, 14_600 + 4 * 1_460);
        assert_eq!(l.agent.stats().reports, 5);

        let mut l = Loop::new(Reno::from_params(&Params::new()).unwrap(), 10);
        for t in 1..=25 {
            l.ack(t * 1_000, ack(10_000));
        }
        // Per RTT (10 ms samples): reports at 12 ms and 23 ms.
        assert_eq!(l.agent.stats().reports, 2);
        assert_eq!(l.cwnd, 14_600 + 23 * 1_460);
    }

    #[test]
    fn runtime_datapath_slow_start_then_loss() {
        let mut l = Loop::new(reno(&[("slow_start", "datapath")]), 10);
        for t in 1..=20 {
            l.ack(t * 1_000, ack(10_000));
        }
        // Cwnd += 1460 per ACK inside the datapath, the agent never called.
        assert_eq!(l.cwnd, 14_600 + 20 * 1_460);
        assert_eq!(l.agent.stats().reports, 0);
        let mut lossy = ack(10_000);
        lossy.lost_pkts_sample = 1;
        l.ack(21_000, lossy);
        assert_eq!(l.agent.stats().reports, 1);
        // The lossy ACK grew it once more (21 × 1460 + 14600 = 45260); halved: 22630.
        l.ack(22_000, ack(10_000));
        assert_eq!(l.cwnd, 22_630);
    }
}
