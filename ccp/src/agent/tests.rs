//! Unit tests of the agent core.

use super::*;

/// Exports its socket id and how many reports it saw.
struct Counting {
    sid: u32,
    reports: u64,
}
impl FlowState for Counting {
    fn on_report(&mut self, _ctl: &mut Control<'_>, _r: &Report<'_>) {
        self.reports += 1;
    }
    fn exports(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("sid", f64::from(self.sid)),
            ("reports", self.reports as f64),
        ]
    }
}
struct CountingAlg;
impl Algorithm for CountingAlg {
    type Flow = Counting;
    fn name(&self) -> &str {
        "counting"
    }
    fn programs(&self) -> Vec<ProgramSpec> {
        vec![ProgramSpec::compile(
            "p",
            "(def (Report (volatile acked 0))) (when true (:= Report.acked Ack.bytes_acked) (report))",
        )
        .unwrap()]
    }
    fn create(&mut self, ctl: &mut Control<'_>, _info: &Create) -> Counting {
        let _ = ctl.set_program("p", &[]);
        Counting {
            sid: ctl.sid(),
            reports: 0,
        }
    }
}

/// `flow_exports` reads the state of the flow asked for, and nothing for a flow or
/// datapath it does not know (or no longer knows).
#[test]
fn flow_exports_reads_the_flow_state() {
    use crate::wire::{FlowInfo, Measure};
    let mut a = Agent::new(CountingAlg, AgentConfig::default()).unwrap();
    let t = Instant::ZERO;
    for sid in [1, 2] {
        let c = Create {
            sid,
            flow: FlowInfo::default(),
        };
        a.handle_msg(t, &7u8, Msg::Create(c)).unwrap();
    }
    while a.poll_transmit().is_some() {}
    let uid = a.program_uid("p").unwrap();
    for _ in 0..3 {
        let m = Measure {
            sid: 2,
            program_uid: uid,
            fields: vec![1460],
        };
        a.handle_msg(t, &7u8, Msg::Measure(m)).unwrap();
    }
    assert_eq!(a.flow_exports(&7, 1), vec![("sid", 1.0), ("reports", 0.0)]);
    assert_eq!(a.flow_exports(&7, 2), vec![("sid", 2.0), ("reports", 3.0)]);
    assert!(a.flow_exports(&7, 3).is_empty());
    assert!(a.flow_exports(&8, 1).is_empty());
    a.handle_msg(t, &7u8, Msg::Measure(Measure::close(2)))
        .unwrap();
    assert!(a.flow_exports(&7, 2).is_empty(), "closed");
}

#[test]
fn report_get_matches_report_index() {
    let spec = ProgramSpec::compile(
        "p",
        "(def (Report (volatile acked 0) (rtt 0) (Report.x 0)) (gain 2))
         (when true (:= Report.acked (+ Report.acked Ack.bytes_acked)) (report))",
    )
    .unwrap();
    let fields = [11, 22, 33];
    let r = Report {
        sid: 1,
        program_uid: 2,
        program: &spec,
        fields: &fields,
    };
    for name in [
        "acked",
        "Report.acked",
        "rtt",
        "Report.rtt",
        "x",
        "Report.x",
        "Report.Report.x",
        "gain",
        "Report.gain",
        "Cwnd",
        "",
        "Report.",
        "nope",
    ] {
        assert_eq!(r.get(name), r.get_reference(name), "{name}");
    }
    assert_eq!(r.get("acked"), Some(11));
}
