//! CCP congestion control algorithms, built by name from scenario parameters.
//!
//! Each algorithm is an [`Algorithm`] whose datapath programs are written in the datapath
//! language (source text compiled with [`ProgramSpec::compile`]) and whose control logic runs
//! in the agent on the programs' reports. [`build`] makes one from its name and a parameter
//! map (validating every parameter); the result is type-erased as an [`AnyAlgorithm`], which an
//! [`crate::agent::Agent`] runs like any other algorithm.
//!
//! | name | module | what |
//! |---|---|---|
//! | `reno` | [`reno`] | NewReno-like AIMD; slow start in the agent or in the datapath program |
//! | `cubic` | [`cubic`] | RFC 9438 window growth computed in the agent per report |
//! | `dctcp` | [`dctcp`] | ECN fraction `alpha` folded per window in the datapath; cut `cwnd·(1 − alpha/2)` |
//! | `bbr` | [`bbr`] | STARTUP, DRAIN, PROBE_BW (timer-driven gain cycle in the datapath), PROBE_RTT |
//! | `copa` | [`copa`] | Copa's target rate `1/(δ·d_q)` with velocity; per-packet min-RTT filter |
//! | `vegas` | [`vegas`] | Vegas: keep between `alpha` and `beta` packets queued |
//! | `nimbus` | [`nimbus`] | sinusoidal rate pulses, FFT elasticity detection, delay / competitive modes |
//! | `aggregate` | [`aggregate`] | one Reno window per host aggregate, split equally among its flows |
//!
//! Parameters common to all algorithms: `report` = `"per_ack"`, `"per_rtt"` or `"interval"`
//! (when the datapath program reports, besides at once on loss or timeout) and
//! `report_interval_us` (> 0 and < 2^31; giving it alone implies `report = "interval"`;
//! `"interval"` alone means 10 ms; with `"per_ack"`/`"per_rtt"` it is an error). Each
//! module's docs list its own parameters with their defaults, its sources and its deviations.
//! Integers are accepted where floats are expected; unknown parameters, wrong types and
//! out-of-range values are errors naming the algorithm, the parameter and what was expected.
//!
//! Every datapath program also reports `now` (the datapath's `Ack.now`, µs): [`FlowState`]
//! has no clock, so all agent logic runs on datapath time and is deterministic in the
//! simulator. Windows are bytes, rates bytes per second, times microseconds.
//!
//! Type erasure: `Box<dyn FlowState>` implements [`FlowState`] here. An aggregate's state
//! cannot be downcast from the box (flow states are not `Any`) and [`Control`] acts on one
//! flow only, so [`AnyAlgorithm`] forwards `create_subflow` to the aggregate as a marker
//! report ([`subflow_marker`], [`as_subflow`]).

pub mod aggregate;
pub mod bbr;
pub mod copa;
pub mod cubic;
pub mod dctcp;
pub mod nimbus;
pub mod reno;
pub mod vegas;

mod common;
mod cong_avoid;
#[cfg(test)]
#[allow(dead_code)]
pub(crate) mod testutil;

use crate::agent::{Algorithm, Control, FlowState, ProgramSpec, Report};
use crate::program::{Program, Scope};
use crate::wire::{Create, FlowInfo};
use std::collections::BTreeMap;

pub use common::ReportMode;

/// Algorithm parameters, as given in a scenario file.
pub type Params = BTreeMap<String, ParamValue>;

/// One parameter value. Integers are accepted where floats are expected.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// Why an algorithm could not be built.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum AlgError {
    /// No algorithm has this name.
    #[error("unknown CCP algorithm {name:?} (known: {})", .known.join(", "))]
    UnknownAlgorithm {
        /// The name asked for.
        name: String,
        /// The names [`build`] knows.
        known: Vec<String>,
    },
    /// The algorithm has no parameter with this name.
    #[error("CCP algorithm {alg:?}: unknown parameter {param:?} (known: {})", .known.join(", "))]
    UnknownParam {
        /// The algorithm.
        alg: String,
        /// The parameter given.
        param: String,
        /// The algorithm's parameters.
        known: Vec<String>,
    },
    /// A parameter's value has the wrong type or is out of range.
    #[error("CCP algorithm {alg:?}: parameter {param:?}: expected {expected}")]
    BadParam {
        /// The algorithm.
        alg: String,
        /// The parameter.
        param: String,
        /// What was expected (and what was given).
        expected: String,
    },
    /// A datapath program did not compile (a bug in the algorithm, or a parameter that makes
    /// the program invalid).
    #[error("CCP algorithm {alg:?}: datapath program {program:?} does not compile: {message}")]
    Program {
        /// The algorithm.
        alg: String,
        /// The program's name.
        program: String,
        /// The compiler's message.
        message: String,
    },
}

/// Names of the algorithms [`build`] knows.
pub fn names() -> &'static [&'static str] {
    &[
        "reno",
        "cubic",
        "dctcp",
        "bbr",
        "copa",
        "vegas",
        "aggregate",
    ]
}

/// Builds algorithm `name` with `params`, validating every parameter.
pub fn build(name: &str, params: &Params) -> Result<AnyAlgorithm, AlgError> {
    Ok(match name {
        "reno" => AnyAlgorithm::new(reno::Reno::from_params(params)?),
        "cubic" => AnyAlgorithm::new(cubic::Cubic::from_params(params)?),
        "dctcp" => AnyAlgorithm::new(dctcp::Dctcp::from_params(params)?),
        "bbr" => AnyAlgorithm::new(bbr::Bbr::from_params(params)?),
        "copa" => AnyAlgorithm::new(copa::Copa::from_params(params)?),
        "nimbus" => AnyAlgorithm::new(nimbus::Nimbus::from_params(params)?),
        "aggregate" => AnyAlgorithm::new(aggregate::Aggregate::from_params(params)?),
        "vegas" => AnyAlgorithm::new(vegas::Vegas::from_params(params)?),
        _ => {
            return Err(AlgError::UnknownAlgorithm {
                name: name.to_owned(),
                known: names().iter().map(|s| s.to_string()).collect(),
            })
        }
    })
}

/// The object-safe part of [`Algorithm`], with flows boxed.
trait DynAlgorithm {
    fn name(&self) -> &str;
    fn programs(&self) -> Vec<ProgramSpec>;
    fn create(&mut self, ctl: &mut Control<'_>, info: &Create) -> Box<dyn FlowState>;
    fn aggregate_key(&self, info: &Create) -> Option<u64>;
}

impl<A> DynAlgorithm for A
where
    A: Algorithm,
    A::Flow: 'static,
{
    fn name(&self) -> &str {
        Algorithm::name(self)
    }
    fn programs(&self) -> Vec<ProgramSpec> {
        Algorithm::programs(self)
    }
    fn create(&mut self, ctl: &mut Control<'_>, info: &Create) -> Box<dyn FlowState> {
        Box::new(Algorithm::create(self, ctl, info))
    }
    fn aggregate_key(&self, info: &Create) -> Option<u64> {
        Algorithm::aggregate_key(self, info)
    }
}

/// Any algorithm of this module, type-erased: flows are `Box<dyn FlowState>`.
///
/// [`Algorithm::create_subflow`] cannot reach the concrete aggregate state through the box
/// (flow states are not `Any`), so it is forwarded to the aggregate as a marker report (see
/// [`subflow_marker`]); aggregating algorithms of this module recognise it with
/// [`as_subflow`].
pub struct AnyAlgorithm(Box<dyn DynAlgorithm>);

impl AnyAlgorithm {
    /// Erases `alg`.
    pub fn new<A>(alg: A) -> Self
    where
        A: Algorithm + 'static,
        A::Flow: 'static,
    {
        AnyAlgorithm(Box::new(alg))
    }
}

impl std::fmt::Debug for AnyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AnyAlgorithm").field(&self.0.name()).finish()
    }
}

impl FlowState for Box<dyn FlowState> {
    fn on_report(&mut self, ctl: &mut Control<'_>, report: &Report<'_>) {
        (**self).on_report(ctl, report)
    }
    fn close(&mut self, sid: u32) {
        (**self).close(sid)
    }
    fn exports(&self) -> Vec<(&'static str, f64)> {
        (**self).exports()
    }
}

impl Algorithm for AnyAlgorithm {
    type Flow = Box<dyn FlowState>;

    fn name(&self) -> &str {
        self.0.name()
    }
    fn programs(&self) -> Vec<ProgramSpec> {
        self.0.programs()
    }
    fn create(&mut self, ctl: &mut Control<'_>, info: &Create) -> Self::Flow {
        self.0.create(ctl, info)
    }
    fn aggregate_key(&self, info: &Create) -> Option<u64> {
        self.0.aggregate_key(info)
    }
    fn create_subflow(&mut self, agg: &mut Self::Flow, ctl: &mut Control<'_>, info: &Create) {
        let spec = subflow_marker();
        let fields = [
            u64::from(info.sid),
            u64::from(info.flow.init_cwnd),
            u64::from(info.flow.mss),
            u64::from(info.flow.src_ip),
            u64::from(info.flow.src_port),
            u64::from(info.flow.dst_ip),
            u64::from(info.flow.dst_port),
        ];
        let r = Report {
            sid: info.sid,
            program_uid: 0,
            program: &spec,
            fields: &fields,
        };
        agg.on_report(ctl, &r);
    }
}

/// Name of the marker program of a forwarded [`Algorithm::create_subflow`] call.
const SUBFLOW_MARKER: &str = "\0create_subflow";

/// The marker program: a report from it (uid 0, which no agent program has) stands for a
/// `create_subflow` call; its fields are the new flow's sid, init_cwnd, mss, src_ip,
/// src_port, dst_ip, dst_port.
pub fn subflow_marker() -> ProgramSpec {
    ProgramSpec {
        name: SUBFLOW_MARKER.to_owned(),
        program: Program::default(),
        scope: Scope::default(),
    }
}

/// The CREATE a marker report (see [`subflow_marker`]) stands for, if `r` is one.
pub fn as_subflow(r: &Report<'_>) -> Option<Create> {
    if r.program_uid != 0 || r.program.name != SUBFLOW_MARKER || r.fields.len() != 7 {
        return None;
    }
    let f = |i: usize| u32::try_from(r.fields[i]).unwrap_or(u32::MAX);
    Some(Create {
        sid: f(0),
        flow: FlowInfo {
            init_cwnd: f(1),
            mss: f(2),
            src_ip: f(3),
            src_port: f(4),
            dst_ip: f(5),
            dst_port: f(6),
            alg: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_builds_with_defaults() {
        for n in names() {
            let a = build(n, &Params::new()).unwrap_or_else(|e| panic!("{n}: {e}"));
            assert_eq!(Algorithm::name(&a), *n);
            assert!(!Algorithm::programs(&a).is_empty());
        }
    }

    #[test]
    fn unknown_algorithm_lists_known_names() {
        let e = build("bogus", &Params::new()).unwrap_err();
        assert!(matches!(e, AlgError::UnknownAlgorithm { .. }));
        let m = e.to_string();
        assert!(m.contains("\"bogus\"") && m.contains("reno, cubic"), "{m}");
    }

    #[test]
    fn unknown_param_is_named() {
        for n in names() {
            let mut p = Params::new();
            p.insert("no_such_param".into(), ParamValue::Int(1));
            let e = build(n, &p).unwrap_err();
            match &e {
                AlgError::UnknownParam { alg, param, known } => {
                    assert_eq!(alg, n);
                    assert_eq!(param, "no_such_param");
                    assert!(known.contains(&"report".to_string()), "{n}: {known:?}");
                }
                other => panic!("{n}: {other:?}"),
            }
        }
    }

    #[test]
    fn report_params_are_validated_everywhere() {
        for n in names() {
            let p: Params = [("report_interval_us".to_string(), ParamValue::Int(0))].into();
            let e = build(n, &p).unwrap_err().to_string();
            assert!(
                e.contains("report_interval_us") && e.contains("> 0"),
                "{n}: {e}"
            );
            let p: Params = [("report".to_string(), ParamValue::Str("sometimes".into()))].into();
            let e = build(n, &p).unwrap_err().to_string();
            assert!(
                e.contains("per_ack") && e.contains("\"sometimes\""),
                "{n}: {e}"
            );
            for mode in ["per_ack", "per_rtt", "interval"] {
                let p: Params = [("report".to_string(), ParamValue::Str(mode.into()))].into();
                build(n, &p).unwrap_or_else(|e| panic!("{n} {mode}: {e}"));
            }
            let p: Params = [("report_interval_us".to_string(), ParamValue::Int(5000))].into();
            build(n, &p).unwrap_or_else(|e| panic!("{n}: {e}"));
        }
    }

    #[test]
    fn param_values_deserialize_untagged() {
        use serde::de::{value::Error, IntoDeserializer};
        use serde::Deserialize;
        let v = |d: serde::de::value::BoolDeserializer<Error>| ParamValue::deserialize(d).unwrap();
        assert_eq!(v(true.into_deserializer()), ParamValue::Bool(true));
        let d: serde::de::value::I64Deserializer<Error> = 3i64.into_deserializer();
        assert_eq!(ParamValue::deserialize(d).unwrap(), ParamValue::Int(3));
        let d: serde::de::value::F64Deserializer<Error> = 0.5f64.into_deserializer();
        assert_eq!(ParamValue::deserialize(d).unwrap(), ParamValue::Float(0.5));
        let d: serde::de::value::StrDeserializer<Error> = "per_rtt".into_deserializer();
        assert_eq!(
            ParamValue::deserialize(d).unwrap(),
            ParamValue::Str("per_rtt".into())
        );
    }

    /// Every algorithm in every reporting mode runs its programs in the datapath runtime
    /// without an invocation error (no underflow, division by zero, ...), through losses,
    /// ECN marks, a timeout and ACKs without RTT samples, and its agent gets reports.
    #[test]
    fn every_algorithm_runs_in_the_datapath_runtime() {
        use crate::algs::testutil::{ack, Loop};
        for n in names() {
            for mode in ["per_ack", "per_rtt", "interval"] {
                let mut p: Params = [("report".to_string(), ParamValue::Str(mode.into()))].into();
                if matches!(*n, "reno" | "cubic" | "dctcp") {
                    p.insert("slow_start".into(), ParamValue::Str("datapath".into()));
                }
                let mut l = Loop::new(build(n, &p).unwrap(), 10);
                for i in 1..=3_000u64 {
                    let mut a = ack(10_000 + (i % 7) * 300);
                    a.rate_incoming = 1_000_000 + (i % 13) * 10_000;
                    a.rate_outgoing = 1_100_000;
                    a.bytes_in_flight = 20_000;
                    a.packets_in_flight = 14;
                    if i % 97 == 0 {
                        a.lost_pkts_sample = 1;
                    }
                    if i % 5 == 0 {
                        a.ecn_bytes = 1_460;
                        a.ecn_packets = 1;
                    }
                    if i == 1_500 {
                        a.was_timeout = true;
                    }
                    if i % 11 == 0 {
                        a.rtt_sample = netrt::Duration::ZERO;
                    }
                    let inv = l.ack(i * 1_000, a);
                    assert_eq!(inv.error, None, "{n} {mode} at ack {i}");
                }
                assert!(
                    l.agent.stats().reports > 10,
                    "{n} {mode}: {:?}",
                    l.agent.stats()
                );
                assert!(l.cwnd >= 1_460, "{n} {mode}");
            }
        }
    }
}
