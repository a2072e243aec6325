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
//! - `slow_start = "rate"`: rate-based slow start in the datapath program, the fourth
//!   placement of thesis §4.4.4 / Fig 4.3 (the "control pattern" `(when (> Timer.Micros
//!   Flow.rtt_sample_us) (:= Rate (* Rate 2)) (:= Timer.Micros 0))`). The first program
//!   (`reno_rate`) paces from the first RTT sample at the initial window per RTT and doubles
//!   `Rate` each time the `Micros` timer passes the latest RTT sample, restarting the timer;
//!   it reports only on the first loss or timeout. The agent then takes the bytes in flight
//!   at that report as the window (RFC 5681's FlightSize), halves it (a timeout: 1 MSS, as
//!   above) and moves the flow to the reporting program: Reno congestion avoidance on the
//!   window from then on.
//!
//! Deviations of the rate-based slow start (the thesis gives only the timer clause): the
//! first window (before any RTT sample) goes out unpaced, so the rate starts one RTT after
//! the flow at the initial window per RTT and the per-RTT sending trails the window-based
//! slow starts by about one RTT; the timer uses the latest valid RTT sample (ACKs without
//! one keep the previous) and is checked on ACKs only; the program holds `Cwnd` at twice
//! `Rate × RTT` so that the window never limits the rate, and caps the rate at 8 Tbit/s
//! (`cong_avoid::RATE_SS_MAX`) so that its arithmetic cannot overflow; the datapath cannot
//! unset a pacing rate (a zero `Rate` is not applied, as in libccp), so at the switch the
//! agent sets the largest rate ([`NO_PACING`]), which leaves the window-based phase
//! unpaced in effect (1 ns per packet). Only Reno accepts `"rate"`.
//!
//! Deviations: recovery is approximated in the agent (a report carries no sequence numbers):
//! after a reduction, further losses and growth are ignored for one RTT (the latest sample) of
//! datapath time, and further losses until as many bytes as the window before the cut (about
//! the data in flight at the loss) are acknowledged, instead of until the recovery point is
//! acknowledged (the RTT rule alone cut twice per drop-tail overflow on a 1-BDP dumbbell); congestion avoidance counts the bytes of a whole report at
//! once (several MSS if a report covers several windows). After a timeout, slow start runs in
//! the agent even with `slow_start = "datapath"` (as generic-cong-avoid).
//!
//! Parameters: `report` (`"per_rtt"`), `report_interval_us`, `slow_start` (`"agent"`;
//! `"datapath"` or `"rate"`), `init_cwnd_pkts` (default: the datapath's initial window).

use super::common::ParamReader;
pub use super::cong_avoid::NO_PACING;
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
        let cfg = read_config("reno", &p, true)?;
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
    use crate::algs::cong_avoid::RATE_SS_MAX;
    use crate::algs::testutil::{ack, cwnd, info, rate, Harness, Loop, MSS};
    use crate::algs::ParamValue;
    use crate::wire::Msg;

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

    /// The program `l`'s agent last switched the flow to.
    fn last_program<A: Algorithm>(l: &Loop<A>) -> Option<u32> {
        l.sent.iter().rev().find_map(|m| match m {
            Msg::ChangeProg(c) => Some(c.program_uid),
            _ => None,
        })
    }

    /// Rate-based slow start (thesis Fig 4.3's fourth variant): the datapath program starts
    /// pacing at the initial window per RTT at the first RTT sample and doubles the rate each
    /// time its timer passes one RTT, without calling the agent; the window stays at twice
    /// rate × RTT so that the rate binds.
    #[test]
    fn runtime_rate_slow_start_doubles_the_rate_every_rtt() {
        let mut l = Loop::new(reno(&[("slow_start", "rate")]), 10);
        assert_eq!(last_program(&l), l.agent.program_uid("reno_rate"));
        assert_eq!((l.cwnd, l.rate), (14_600, 0));
        let mut changes = vec![];
        for t in (1_000..=45_000).step_by(1_000) {
            let mut a = ack(10_000);
            if t == 20_000 {
                // No RTT sample: the timer keeps the previous one.
                a.rtt_sample = netrt::Duration::ZERO;
            }
            l.ack(t, a);
            if changes.last().map(|c: &(u64, u64)| c.1) != Some(l.rate) {
                changes.push((t, l.rate));
            }
            // The window never limits: 2 × rate × 10 ms.
            assert_eq!(u64::from(l.cwnd), 2 * l.rate / 100, "at {t}");
        }
        // Starts at 14,600 B per 10 ms at the first ACK (the timer starts there), then doubles
        // at the first ACK more than 10 ms after the last doubling: 12, 23, 34 and 45 ms.
        assert_eq!(
            changes,
            vec![
                (1_000, 1_460_000),
                (12_000, 2_920_000),
                (23_000, 5_840_000),
                (34_000, 11_680_000),
                (45_000, 23_360_000),
            ]
        );
        assert_eq!(l.agent.stats().reports, 0, "the agent is not called");
    }

    /// At the first loss the rate-based slow start hands over to the agent: the window becomes
    /// half the bytes in flight, pacing ends, the flow runs the reporting program and the
    /// window then grows by one MSS per window (congestion avoidance), not per RTT doubling.
    #[test]
    fn runtime_rate_slow_start_switches_to_window_mode_at_the_first_loss() {
        let mut l = Loop::new(reno(&[("slow_start", "rate")]), 10);
        for t in (1_000..=45_000).step_by(1_000) {
            l.ack(t, ack(10_000));
        }
        assert_eq!(l.rate, 23_360_000);
        let mut lossy = ack(10_000);
        lossy.lost_pkts_sample = 1;
        lossy.bytes_in_flight = 300_000;
        l.ack(46_000, lossy);
        assert_eq!(l.agent.stats().reports, 1);
        assert_eq!(last_program(&l), l.agent.program_uid("reno_report"));
        l.ack(47_000, ack(10_000));
        assert_eq!((l.cwnd, l.rate), (150_000, NO_PACING));
        let mut windows = vec![l.cwnd];
        for t in (48_000..=250_000).step_by(1_000) {
            l.ack(t, ack(10_000));
            assert_eq!(l.rate, NO_PACING, "no doubling after the switch, at {t}");
            if windows.last() != Some(&l.cwnd) {
                windows.push(l.cwnd);
            }
        }
        // 203 ACKs of 1,460 B after the cut, the first RTT's (to 56 ms) held back: one window
        // of 150,000 B acknowledged gives one MSS.
        assert_eq!(windows, vec![150_000, 151_460]);
        assert!(l.agent.stats().reports > 15, "{:?}", l.agent.stats());
    }

    /// The agent's side of the rate-based slow start, on scripted reports.
    #[test]
    fn rate_slow_start_hands_the_flight_to_reno_at_the_first_loss() {
        let mut h = Harness::new(reno(&[("slow_start", "rate")]));
        let out = h.create(info(1, 10));
        assert_eq!(h.switched_to(&out).as_deref(), Some("reno_rate"));
        assert_eq!((cwnd(&out), rate(&out)), (Some(14_600), None));
        // First loss with 600,000 B in flight (at 9.3 MB/s, 100 ms): the window is the
        // flight halved, the pacing rate is lifted, the reporting program takes over.
        let out = h.report(
            1,
            "reno_rate",
            &[
                ("acked", 500_000),
                ("loss", 1),
                ("flight", 600_000),
                ("rate", 9_344_000),
                ("cwnd", 1_868_800),
                ("rtt", 100_000),
                ("now", 700_000),
            ],
        );
        assert_eq!(h.switched_to(&out).as_deref(), Some("reno_report"));
        assert_eq!(cwnd(&out), Some(300_000));
        assert_eq!(rate(&out), Some(NO_PACING));
        // A late report of the rate program: neither counted nor cut again.
        let out = h.report(
            1,
            "reno_rate",
            &[("acked", 14_600), ("loss", 3), ("now", 750_000)],
        );
        assert!(out.is_empty(), "{out:?}");
        // Congestion avoidance: a window of acknowledged bytes is one MSS, not a doubling.
        let out = h.report(
            1,
            "reno_report",
            &[("acked", 300_000), ("rtt", 100_000), ("now", 900_000)],
        );
        assert_eq!(cwnd(&out), Some(301_460));
        assert_eq!(rate(&out), None);
    }

    #[test]
    fn rate_slow_start_timeout_goes_to_one_mss() {
        let mut h = Harness::new(reno(&[("slow_start", "rate")]));
        h.create(info(1, 10));
        // Nothing in flight after the timeout: the window reached is rate × RTT (200,000 B);
        // ssthresh is half of it, the window 1 MSS, and slow start continues in the agent.
        let out = h.report(
            1,
            "reno_rate",
            &[
                ("timeout", 1),
                ("rate", 2_000_000),
                ("rtt", 100_000),
                ("now", 500_000),
            ],
        );
        assert_eq!(h.switched_to(&out).as_deref(), Some("reno_report"));
        assert_eq!((cwnd(&out), rate(&out)), (Some(MSS), Some(NO_PACING)));
        let out = h.report(
            1,
            "reno_report",
            &[("acked", 98_540 + 100_000), ("now", 800_000)],
        );
        // 1,460 + 98,540 = 100,000 (ssthresh), then 100,000 B of avoidance: + 1 MSS.
        assert_eq!(cwnd(&out), Some(101_460));
    }

    /// The rate doubles at most to the cap, and the program's arithmetic never fails (RTTs
    /// far shorter than the ACK spacing double on every ACK; a very long one).
    #[test]
    fn runtime_rate_slow_start_is_capped() {
        let mut l = Loop::new(reno(&[("slow_start", "rate")]), 10);
        for i in 1..=100u64 {
            l.ack(i * 1_000, ack(10));
        }
        assert_eq!(l.rate, RATE_SS_MAX);
        // 2 × rate × 10 µs.
        assert_eq!(l.cwnd, 20_000_000);
        let mut l = Loop::new(reno(&[("slow_start", "rate")]), 10);
        let long = 2_147_483_646;
        l.ack(1, ack(long));
        assert_eq!(l.rate, 14_600 * 1_000_000 / long);
        for i in 1..=40u64 {
            l.ack(i * (long + 1), ack(long));
        }
        assert_eq!(l.rate, RATE_SS_MAX);
    }

    #[test]
    fn slow_start_values_are_validated() {
        let p: Params = [("slow_start".to_string(), ParamValue::Str("rates".into()))].into();
        let e = Reno::from_params(&p).unwrap_err();
        assert!(
            matches!(&e, AlgError::BadParam { param, .. } if param == "slow_start"),
            "{e:?}"
        );
        let m = e.to_string();
        assert!(
            m.contains("\"agent\", \"datapath\", \"rate\"") && m.contains("\"rates\""),
            "{m}"
        );
        let p: Params = [("slow_start".to_string(), ParamValue::Int(1))].into();
        assert!(Reno::from_params(&p).is_err());
        // Only Reno has the rate-based variant.
        let p: Params = [("slow_start".to_string(), ParamValue::Str("rate".into()))].into();
        for alg in ["cubic", "dctcp"] {
            let m = crate::algs::build(alg, &p).unwrap_err().to_string();
            assert!(
                m.contains("slow_start") && m.contains("\"rate\""),
                "{alg}: {m}"
            );
        }
        let r = reno(&[("slow_start", "rate")]);
        let names: Vec<String> = r.programs().into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["reno_report", "reno_rate"]);
    }

    /// Every reporting mode with rate-based slow start runs in the datapath runtime through
    /// losses, a timeout and ACKs without RTT samples.
    #[test]
    fn runtime_rate_slow_start_survives_losses_and_timeouts() {
        for mode in ["per_ack", "per_rtt", "interval"] {
            let mut l = Loop::new(reno(&[("slow_start", "rate"), ("report", mode)]), 10);
            for i in 1..=2_000u64 {
                let mut a = ack(10_000 + (i % 7) * 300);
                a.bytes_in_flight = 20_000;
                if i % 97 == 0 {
                    a.lost_pkts_sample = 1;
                }
                if i == 1_000 {
                    a.was_timeout = true;
                }
                if i % 11 == 0 {
                    a.rtt_sample = netrt::Duration::ZERO;
                }
                let inv = l.ack(i * 1_000, a);
                assert_eq!(inv.error, None, "{mode} at ack {i}");
            }
            assert!(l.agent.stats().reports > 10, "{mode}");
            assert_eq!(l.rate, NO_PACING, "{mode}");
            assert!(l.cwnd >= 1_460, "{mode}");
        }
    }
}
