//! Shared pieces: parameter reading and validation, reporting modes, program compilation,
//! report field access.

use super::{AlgError, ParamValue, Params};
use crate::agent::{ProgramSpec, Report};

/// When a datapath program sends its report (besides at once on loss or timeout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportMode {
    /// On every ACK.
    PerAck,
    /// Once the `Micros` timer exceeds the latest RTT sample (`Flow.rtt_sample_us`).
    PerRtt,
    /// Every this many microseconds (`Micros` timer).
    Interval(u64),
}

impl ReportMode {
    /// The `when` clause that sends the periodic report (and restarts `Micros`).
    pub(crate) fn clause(self) -> String {
        match self {
            ReportMode::PerAck => "(when true (report) (:= Micros 0))".to_owned(),
            ReportMode::PerRtt => {
                "(when (> Micros Flow.rtt_sample_us) (report) (:= Micros 0))".to_owned()
            }
            ReportMode::Interval(us) => format!("(when (> Micros {us}) (report) (:= Micros 0))"),
        }
    }
}

/// Parameters every algorithm accepts.
pub(crate) const REPORT_PARAMS: [&str; 2] = ["report", "report_interval_us"];

/// Largest number a program may carry as an immediate (portus's serializer limit).
pub(crate) const MAX_IMMEDIATE: u64 = (1 << 31) - 1;

/// Reads an algorithm's parameters; [`ParamReader::new`] rejects names it does not know.
pub(crate) struct ParamReader<'a> {
    alg: &'static str,
    params: &'a Params,
}

impl<'a> ParamReader<'a> {
    /// Checks that every given parameter is one of `known` (plus [`REPORT_PARAMS`]).
    pub(crate) fn new(
        alg: &'static str,
        params: &'a Params,
        known: &[&'static str],
    ) -> Result<Self, AlgError> {
        let all: Vec<&str> = REPORT_PARAMS.iter().chain(known).copied().collect();
        if let Some(k) = params.keys().find(|k| !all.contains(&k.as_str())) {
            return Err(AlgError::UnknownParam {
                alg: alg.to_owned(),
                param: k.clone(),
                known: all.iter().map(|s| s.to_string()).collect(),
            });
        }
        Ok(ParamReader { alg, params })
    }

    /// A `BadParam` error for `param`.
    pub(crate) fn bad(&self, param: &str, expected: impl Into<String>) -> AlgError {
        let mut expected = expected.into();
        if let Some(v) = self.params.get(param) {
            expected.push_str(&format!(", got {v}"));
        }
        AlgError::BadParam {
            alg: self.alg.to_owned(),
            param: param.to_owned(),
            expected,
        }
    }

    /// Whether `name` was given.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.params.contains_key(name)
    }

    /// A finite number in `[lo, hi]` (an integer is accepted).
    pub(crate) fn f64_in(
        &self,
        name: &str,
        default: f64,
        lo: f64,
        hi: f64,
    ) -> Result<f64, AlgError> {
        let range = || {
            if hi.is_infinite() {
                format!("a number >= {lo}")
            } else {
                format!("a number in [{lo}, {hi}]")
            }
        };
        let v = match self.params.get(name) {
            None => return Ok(default),
            Some(ParamValue::Int(i)) => *i as f64,
            Some(ParamValue::Float(x)) => *x,
            Some(_) => return Err(self.bad(name, range())),
        };
        if !v.is_finite() || v < lo || v > hi {
            return Err(self.bad(name, range()));
        }
        Ok(v)
    }

    /// A number strictly above 0 and at most `hi`.
    pub(crate) fn f64_pos(&self, name: &str, default: f64, hi: f64) -> Result<f64, AlgError> {
        let expected = || {
            if hi.is_infinite() {
                "a number > 0".to_owned()
            } else {
                format!("a number > 0 and <= {hi}")
            }
        };
        let v = match self.params.get(name) {
            None => return Ok(default),
            Some(ParamValue::Int(i)) => *i as f64,
            Some(ParamValue::Float(x)) => *x,
            Some(_) => return Err(self.bad(name, expected())),
        };
        if !v.is_finite() || v <= 0.0 || v > hi {
            return Err(self.bad(name, expected()));
        }
        Ok(v)
    }

    /// An integer in `[lo, hi]`.
    pub(crate) fn u64_in(
        &self,
        name: &str,
        default: u64,
        lo: u64,
        hi: u64,
    ) -> Result<u64, AlgError> {
        let expected = || format!("an integer in [{lo}, {hi}]");
        match self.params.get(name) {
            None => Ok(default),
            Some(ParamValue::Int(i)) if *i >= 0 && (*i as u64) >= lo && (*i as u64) <= hi => {
                Ok(*i as u64)
            }
            Some(_) => Err(self.bad(name, expected())),
        }
    }

    /// A boolean.
    pub(crate) fn bool(&self, name: &str, default: bool) -> Result<bool, AlgError> {
        match self.params.get(name) {
            None => Ok(default),
            Some(ParamValue::Bool(b)) => Ok(*b),
            Some(_) => Err(self.bad(name, "true or false")),
        }
    }

    /// One of `options` (a string).
    pub(crate) fn choice(
        &self,
        name: &str,
        options: &[&'static str],
        default: &'static str,
    ) -> Result<&'static str, AlgError> {
        let expected = || {
            let q: Vec<String> = options.iter().map(|o| format!("{o:?}")).collect();
            format!("one of {}", q.join(", "))
        };
        match self.params.get(name) {
            None => Ok(default),
            Some(ParamValue::Str(s)) => options
                .iter()
                .find(|o| **o == s.as_str())
                .copied()
                .ok_or_else(|| self.bad(name, expected())),
            Some(_) => Err(self.bad(name, expected())),
        }
    }

    /// The reporting mode from `report` and `report_interval_us` (default `default`; giving
    /// only `report_interval_us` means `"interval"`; `"interval"` without it uses 10 ms).
    pub(crate) fn report_mode(&self, default: ReportMode) -> Result<ReportMode, AlgError> {
        let interval = if self.has("report_interval_us") {
            Some(
                self.u64_in("report_interval_us", 0, 1, MAX_IMMEDIATE)
                    .map_err(|_| {
                        self.bad(
                            "report_interval_us",
                            format!("an integer number of microseconds > 0 and <= {MAX_IMMEDIATE}"),
                        )
                    })?,
            )
        } else {
            None
        };
        let given = if self.has("report") {
            Some(self.choice("report", &["per_ack", "per_rtt", "interval"], "per_rtt")?)
        } else {
            None
        };
        match (given, interval) {
            (None, None) => Ok(default),
            (None | Some("interval"), Some(us)) => Ok(ReportMode::Interval(us)),
            (Some("interval"), None) => Ok(ReportMode::Interval(10_000)),
            (Some("per_ack"), None) => Ok(ReportMode::PerAck),
            (Some(_), None) => Ok(ReportMode::PerRtt),
            (Some(_), Some(_)) => Err(self.bad(
                "report_interval_us",
                "no value unless report = \"interval\"",
            )),
        }
    }
}

/// Compiles program `name` of algorithm `alg`.
pub(crate) fn compile(alg: &str, name: &str, src: &str) -> Result<ProgramSpec, AlgError> {
    ProgramSpec::compile(name, src).map_err(|e| AlgError::Program {
        alg: alg.to_owned(),
        program: name.to_owned(),
        message: e.to_string(),
    })
}

/// Report field `name`, 0 when the program has none.
pub(crate) fn field(r: &Report<'_>, name: &str) -> u64 {
    r.get(name).unwrap_or(0)
}

/// An RTT report value in µs, `None` for "no sample" (0 or `u32::MAX` and above).
pub(crate) fn rtt_sample(v: u64) -> Option<u64> {
    (v > 0 && v < u64::from(u32::MAX)).then_some(v)
}
