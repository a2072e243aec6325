//! Aggregate Reno (`"aggregate"`): one congestion window per host aggregate, split equally.
//!
//! Source: the thesis §4.7.3 (flow aggregation with `aggregateBy` / `create_subflow`,
//! Congestion Manager style): flows whose `key` address (`dst_ip`, default, or `src_ip`) is
//! equal share one state, keyed through [`Algorithm::aggregate_key`]. The aggregate runs
//! Reno's rules ([`super::reno`]) on one window fed by every member's reports: acked bytes of
//! any member grow it (slow start, then one MSS per aggregate window acknowledged), a loss
//! report of any member halves it (once per RTT). Each member's window is the aggregate
//! window divided by the number of members (at least 1 MSS); a new flow gets its share in
//! `create_subflow`, at once.
//!
//! Deviations and limits: [`Control`] acts only on the flow that reports or joins, so when
//! the aggregate window or the member count changes, the other members get their new share at
//! their next report (within one report interval), not at the same instant. A member's
//! timeout counts as a loss of the aggregate (halve), not as a collapse to one MSS. Slow
//! start is in the agent.
//!
//! Parameters: `report` (`"per_rtt"`), `report_interval_us`, `key` (`"dst_ip"` or
//! `"src_ip"`), `init_cwnd_pkts` (default: the first flow's initial window).

use super::common::{ParamReader, ReportMode};
use super::cong_avoid::{CaConfig, CaFlow, Measurement, SlowStart, Window};
use super::reno::RenoRule;
use super::{as_subflow, AlgError, Params};
use crate::agent::{Algorithm, Control, FlowState, ProgramSpec, Report};
use crate::wire::Create;
use std::collections::BTreeMap;

/// Which address groups flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// The destination IPv4 address.
    DstIp,
    /// The source IPv4 address.
    SrcIp,
}

/// The aggregate Reno. See the module docs.
#[derive(Clone, Debug)]
pub struct Aggregate {
    key: Key,
    cfg: CaConfig,
    programs: Vec<ProgramSpec>,
}

impl Aggregate {
    /// Builds the aggregate from scenario parameters.
    pub fn from_params(params: &Params) -> Result<Self, AlgError> {
        let p = ParamReader::new("aggregate", params, &["key", "init_cwnd_pkts"])?;
        let key = match p.choice("key", &["dst_ip", "src_ip"], "dst_ip")? {
            "src_ip" => Key::SrcIp,
            _ => Key::DstIp,
        };
        let init_cwnd_pkts = if p.has("init_cwnd_pkts") {
            Some(p.u64_in("init_cwnd_pkts", 10, 1, 1 << 20)?)
        } else {
            None
        };
        let cfg = CaConfig {
            alg: "aggregate",
            report: p.report_mode(ReportMode::PerRtt)?,
            slow_start: SlowStart::Agent,
            init_cwnd_pkts,
            ecn: None,
        };
        Ok(Aggregate {
            key,
            programs: cfg.programs()?,
            cfg,
        })
    }
}

/// The state of one aggregate.
#[derive(Clone, Debug)]
pub struct AggFlow {
    /// The aggregate's Reno (its window is the aggregate window).
    pub reno: CaFlow<RenoRule>,
    /// Members and the window each was last given.
    pub members: BTreeMap<u32, u64>,
    program: String,
}

impl AggFlow {
    /// Each member's share of the aggregate window.
    pub fn share(&self) -> u64 {
        let n = self.members.len().max(1) as u64;
        (self.reno.w.cwnd / n).max(self.reno.w.mss)
    }

    /// Flow `sid` joins and gets its share at once.
    pub fn join(&mut self, ctl: &mut Control<'_>, sid: u32) {
        self.members.insert(sid, 0);
        let s = self.share();
        self.members.insert(sid, s);
        let _ = ctl.set_program(&self.program, &[("Cwnd", s)]);
    }

    /// A report of member `sid`: updates the aggregate window; returns the member's new
    /// window if it changed.
    pub fn step(&mut self, sid: u32, mut m: Measurement) -> Option<u64> {
        if m.timeout {
            m.timeout = false;
            m.loss = m.loss.max(1);
        }
        self.reno.step(&m);
        let s = self.share();
        let last = self.members.entry(sid).or_insert(0);
        (*last != s).then(|| {
            *last = s;
            s
        })
    }
}

impl FlowState for AggFlow {
    fn on_report(&mut self, ctl: &mut Control<'_>, r: &Report<'_>) {
        if let Some(c) = as_subflow(r) {
            self.join(ctl, c.sid);
            return;
        }
        let m = Measurement::from_report(r, "");
        if let Some(c) = self.step(r.sid, m) {
            ctl.set_cwnd(c);
        }
    }

    fn close(&mut self, sid: u32) {
        self.members.remove(&sid);
    }
}

impl Algorithm for Aggregate {
    type Flow = AggFlow;
    fn name(&self) -> &str {
        "aggregate"
    }
    fn programs(&self) -> Vec<ProgramSpec> {
        self.programs.clone()
    }
    fn aggregate_key(&self, info: &Create) -> Option<u64> {
        Some(u64::from(match self.key {
            Key::DstIp => info.flow.dst_ip,
            Key::SrcIp => info.flow.src_ip,
        }))
    }
    fn create(&mut self, ctl: &mut Control<'_>, info: &Create) -> AggFlow {
        let mss = u64::from(info.flow.mss.max(1));
        let init = match self.cfg.init_cwnd_pkts {
            Some(p) => p * mss,
            None => u64::from(info.flow.init_cwnd),
        };
        let mut f = AggFlow {
            reno: CaFlow::new(&self.cfg, Window::new(mss, init), RenoRule),
            members: BTreeMap::new(),
            program: self.cfg.report_program(),
        };
        f.join(ctl, info.sid);
        f
    }
    fn create_subflow(&mut self, agg: &mut AggFlow, ctl: &mut Control<'_>, info: &Create) {
        agg.join(ctl, info.sid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algs::testutil::{cwnd, info, Harness};
    use crate::algs::{build, ParamValue};

    fn shares<A: Algorithm>(h: &mut Harness<A>) {
        // Flow 1 alone: the whole initial window.
        let out = h.create(info(1, 10));
        assert_eq!(h.switched_to(&out).as_deref(), Some("aggregate_report"));
        assert_eq!(cwnd(&out), Some(14_600));
        // Slow start of the aggregate: 29200, all flow 1's.
        let out = h.report(
            1,
            "aggregate_report",
            &[("acked", 14_600), ("rtt", 10_000), ("now", 10_000)],
        );
        assert_eq!(cwnd(&out), Some(29_200));
        // Flow 2 to the same host joins: half of 29200 at once.
        let out = h.create(info(2, 10));
        assert_eq!(h.switched_to(&out).as_deref(), Some("aggregate_report"));
        assert_eq!(cwnd(&out), Some(14_600));
        // Flow 1's next report: its share is now 14600 too (+ 1460 acked in slow start:
        // aggregate 30660, share 15330).
        let out = h.report(
            1,
            "aggregate_report",
            &[("acked", 1_460), ("rtt", 10_000), ("now", 20_000)],
        );
        assert_eq!(cwnd(&out), Some(15_330));
        // A loss on flow 2 halves the aggregate: 30660 / 2 = 15330, share 7665.
        let out = h.report(
            2,
            "aggregate_report",
            &[("loss", 1), ("rtt", 10_000), ("now", 30_000)],
        );
        assert_eq!(cwnd(&out), Some(7_665));
        // Flow 3 to another host: its own aggregate.
        let mut other = info(3, 10);
        other.flow.dst_ip += 1;
        let out = h.create(other);
        assert_eq!(cwnd(&out), Some(14_600));
        // Flow 2 closes: flow 1 gets the whole aggregate window at its next report (after the
        // recovery RTT: a full window acked in congestion avoidance, 15330 + 1460).
        h.close(2);
        let out = h.report(
            1,
            "aggregate_report",
            &[("acked", 15_330), ("rtt", 10_000), ("now", 45_000)],
        );
        assert_eq!(cwnd(&out), Some(16_790));
    }

    #[test]
    fn equal_shares_typed() {
        let mut h = Harness::new(Aggregate::from_params(&Params::new()).unwrap());
        shares(&mut h);
    }

    #[test]
    fn equal_shares_through_any_algorithm() {
        let mut h = Harness::new(build("aggregate", &Params::new()).unwrap());
        shares(&mut h);
    }

    #[test]
    fn key_param() {
        let a = Aggregate::from_params(&Params::new()).unwrap();
        assert_eq!(a.aggregate_key(&info(1, 10)), Some(0x0a00_0101));
        let p: Params = [("key".to_string(), ParamValue::Str("src_ip".into()))].into();
        let a = Aggregate::from_params(&p).unwrap();
        assert_eq!(a.aggregate_key(&info(1, 10)), Some(0x0a00_0001));
        let p: Params = [("key".to_string(), ParamValue::Str("port".into()))].into();
        let e = Aggregate::from_params(&p).unwrap_err().to_string();
        assert!(
            e.contains("aggregate") && e.contains("\"dst_ip\", \"src_ip\""),
            "{e}"
        );
    }
}
