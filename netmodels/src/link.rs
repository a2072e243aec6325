//! Link models as sans-IO servers: the output port hands a packet over when it starts service
//! and asks [`LinkServer::departure`] when its last byte has left. Also i.i.d. random loss.
//!
//! - [`FixedRate`]: serialization at a constant bit rate, rounded up to a whole nanosecond.
//! - [`TraceLink`]: a Mahimahi trace ([`MahimahiTrace`]) with per-byte accounting.
//! - [`LossModel`]: seeded Bernoulli loss.
//! - [`LinkConfig`]: the serde form used in scenario files.
//!
//! # Trace semantics
//! Each line of a Mahimahi trace is a millisecond timestamp at which one delivery opportunity
//! of [`OPPORTUNITY_BYTES`] bytes occurs; repeated timestamps are several opportunities. The
//! trace repeats with period equal to its last timestamp (as `mm-link` does): opportunity `i`
//! of repetition `r` occurs at `r * last + t_i` ms. A packet consumes opportunity bytes in
//! order; one larger than what remains continues in later opportunities and leaves at the
//! instant of the opportunity that carries its last byte. Bytes left over in a partly used
//! opportunity go only to a packet that starts service at that same instant; opportunities
//! that pass while the link is idle are lost.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sim_core::{SimDuration, SimRng, SimTime};

/// Bytes one Mahimahi delivery opportunity carries.
pub const OPPORTUNITY_BYTES: u32 = 1500;

const NS_PER_MS: u64 = 1_000_000;

/// Errors reading a Mahimahi trace.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// The file could not be read.
    #[error("{path}: cannot read trace: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a millisecond timestamp.
    #[error("{origin}:{line}: expected {expected}, got {got:?}")]
    Parse {
        /// The file (or other origin) of the text.
        origin: String,
        /// 1-based line number.
        line: usize,
        /// What was expected.
        expected: String,
        /// The offending text.
        got: String,
    },
    /// The trace has no opportunity, or lasts zero milliseconds.
    #[error("{origin}: expected {expected}")]
    Empty {
        /// The file (or other origin) of the text.
        origin: String,
        /// What was expected.
        expected: &'static str,
    },
}

/// A parsed Mahimahi trace: non-decreasing millisecond timestamps, one per opportunity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MahimahiTrace {
    origin: String,
    times_ms: Arc<[u64]>,
}

/// Parses the text of a Mahimahi trace; `origin` (usually the file name) appears in errors.
/// Blank lines are ignored; every other line must be a non-negative integer not smaller than
/// the one before, and the last must be positive.
pub fn parse_mahimahi(text: &str, origin: &str) -> Result<MahimahiTrace, TraceError> {
    let mut times = Vec::new();
    let mut prev = 0u64;
    for (i, raw) in text.lines().enumerate() {
        let s = raw.trim();
        if s.is_empty() {
            continue;
        }
        let t: u64 = s.parse().map_err(|_| TraceError::Parse {
            origin: origin.to_string(),
            line: i + 1,
            expected: "a non-negative integer timestamp in milliseconds".into(),
            got: s.to_string(),
        })?;
        if t < prev {
            return Err(TraceError::Parse {
                origin: origin.to_string(),
                line: i + 1,
                expected: format!("a timestamp not earlier than the previous one ({prev} ms)"),
                got: s.to_string(),
            });
        }
        if t > u64::MAX / NS_PER_MS / 1024 {
            return Err(TraceError::Parse {
                origin: origin.to_string(),
                line: i + 1,
                expected: "a timestamp below 2^34 ms".into(),
                got: s.to_string(),
            });
        }
        prev = t;
        times.push(t);
    }
    match times.last() {
        None => Err(TraceError::Empty {
            origin: origin.to_string(),
            expected: "at least one timestamp",
        }),
        Some(0) => Err(TraceError::Empty {
            origin: origin.to_string(),
            expected: "a last timestamp greater than 0 (the trace's period)",
        }),
        Some(_) => Ok(MahimahiTrace {
            origin: origin.to_string(),
            times_ms: times.into(),
        }),
    }
}

impl MahimahiTrace {
    /// Reads and parses a trace file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, TraceError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TraceError::Io {
            path: name.clone(),
            source,
        })?;
        parse_mahimahi(&text, &name)
    }

    /// Where the trace came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Opportunities in one period.
    pub fn opportunities(&self) -> usize {
        self.times_ms.len()
    }

    /// The period (the last timestamp).
    pub fn period(&self) -> SimDuration {
        SimDuration::from_millis(self.period_ms())
    }

    fn period_ms(&self) -> u64 {
        self.times_ms.last().copied().unwrap_or(1)
    }

    /// Mean capacity in bit/s: opportunities × 1500 bytes × 8 per period.
    pub fn mean_rate_bps(&self) -> f64 {
        let bits = self.times_ms.len() as f64 * f64::from(OPPORTUNITY_BYTES) * 8.0;
        bits / (self.period_ms() as f64 / 1000.0)
    }

    fn time_of(&self, rep: u64, idx: usize) -> SimTime {
        let ms = rep * self.period_ms() + self.times_ms[idx];
        SimTime::from_nanos(ms.saturating_mul(NS_PER_MS))
    }
}

/// A fixed-rate server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedRate {
    bps: u64,
    free_at: SimTime,
}

impl FixedRate {
    /// A server at `bps` bit/s.
    pub fn new(bps: u64) -> Self {
        FixedRate {
            bps,
            free_at: SimTime::ZERO,
        }
    }

    /// The rate in bit/s.
    pub fn bps(&self) -> u64 {
        self.bps
    }

    /// Changes the rate for packets that start service from now on (a packet already in
    /// service keeps its departure time).
    pub fn set_bps(&mut self, bps: u64) {
        self.bps = bps;
    }

    /// When `bytes` starting service at `now` have left: `now` plus the serialization time
    /// (rounded up to a whole nanosecond). Service starts no earlier than the previous
    /// departure, so a too-early call still gets FIFO timing.
    #[inline]
    pub fn departure(&mut self, now: SimTime, bytes: u32) -> SimTime {
        let start = now.max(self.free_at);
        self.free_at = start + SimDuration::transmission(u64::from(bytes), self.bps);
        self.free_at
    }
}

/// A Mahimahi trace-driven server with per-byte accounting (see the module docs).
#[derive(Clone, Debug)]
pub struct TraceLink {
    trace: MahimahiTrace,
    /// Next unused opportunity: repetition and index.
    rep: u64,
    idx: usize,
    /// Bytes left in the last opportunity used, and its instant.
    leftover: u32,
    leftover_at: SimTime,
}

impl TraceLink {
    /// A server replaying `trace` from virtual time zero.
    pub fn new(trace: MahimahiTrace) -> Self {
        TraceLink {
            trace,
            rep: 0,
            idx: 0,
            leftover: 0,
            leftover_at: SimTime::ZERO,
        }
    }

    /// The trace.
    pub fn trace(&self) -> &MahimahiTrace {
        &self.trace
    }

    /// Moves the cursor to the first unused opportunity at or after `now`.
    fn skip_to(&mut self, now: SimTime) {
        if self.trace.time_of(self.rep, self.idx) >= now {
            return;
        }
        let period_ns = self.trace.period_ms() * NS_PER_MS;
        let times = &self.trace.times_ms;
        // Start one repetition early: the last opportunities of a repetition share their
        // instant with the first of the next one.
        let mut rep = (now.as_nanos() / period_ns).saturating_sub(1);
        let idx = loop {
            let base = rep * period_ns;
            let idx =
                times.partition_point(|&t| base.saturating_add(t * NS_PER_MS) < now.as_nanos());
            if idx < times.len() {
                break idx;
            }
            rep += 1;
        };
        // Never move backwards past opportunities already used.
        if (rep, idx) > (self.rep, self.idx) {
            self.rep = rep;
            self.idx = idx;
        }
    }

    fn advance(&mut self) {
        self.idx += 1;
        if self.idx == self.trace.times_ms.len() {
            self.idx = 0;
            self.rep += 1;
        }
    }

    /// When a packet of `bytes` starting service at `now` has fully left.
    pub fn departure(&mut self, now: SimTime, bytes: u32) -> SimTime {
        if bytes == 0 {
            return now;
        }
        let mut remaining = bytes;
        if self.leftover > 0 && self.leftover_at == now {
            let used = remaining.min(self.leftover);
            self.leftover -= used;
            remaining -= used;
            if remaining == 0 {
                return now;
            }
        }
        self.leftover = 0;
        self.skip_to(now);
        loop {
            let t = self.trace.time_of(self.rep, self.idx);
            self.advance();
            let used = remaining.min(OPPORTUNITY_BYTES);
            remaining -= used;
            if remaining == 0 {
                self.leftover = OPPORTUNITY_BYTES - used;
                self.leftover_at = t;
                return t;
            }
        }
    }
}

/// A link's server: what [`LinkConfig::build`] returns.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum LinkServer {
    /// Constant bit rate.
    Fixed(FixedRate),
    /// Mahimahi trace (boxed: it is large, and a fixed-rate server sits inline in every port).
    Trace(Box<TraceLink>),
}

impl LinkServer {
    /// A fixed-rate server at `bps` bit/s.
    pub fn fixed(bps: u64) -> Self {
        LinkServer::Fixed(FixedRate::new(bps))
    }

    /// When a packet of `bytes` that starts service at `now` has fully left. The port serves
    /// one packet at a time, in FIFO order.
    #[inline]
    pub fn departure(&mut self, now: SimTime, bytes: u32) -> SimTime {
        match self {
            LinkServer::Fixed(f) => f.departure(now, bytes),
            LinkServer::Trace(t) => t.departure(now, bytes),
        }
    }

    /// The nominal (fixed) or mean (trace) rate in bit/s.
    pub fn nominal_bps(&self) -> u64 {
        match self {
            LinkServer::Fixed(f) => f.bps,
            LinkServer::Trace(t) => t.trace.mean_rate_bps().round() as u64,
        }
    }
}

/// Errors building a link.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// A field is out of range.
    #[error("{field}: expected {expected}, got {got}")]
    Invalid {
        /// `kind.field`, e.g. `fixed.rate_mbps`.
        field: &'static str,
        /// What a valid value looks like.
        expected: &'static str,
        /// What was given.
        got: String,
    },
    /// The trace could not be loaded.
    #[error(transparent)]
    Trace(#[from] TraceError),
}

/// A link as scenario files describe it:
/// `link = { kind = "fixed", rate_mbps = 96 }` or
/// `link = { kind = "trace", path = "data/Verizon-LTE-short.down" }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LinkConfig {
    /// Constant bit rate.
    Fixed {
        /// Rate in Mbit/s (10^6 bit/s), from 10^-6 (1 bit/s) to 10^9 (10^15 bit/s).
        #[schemars(range(min = 0.000_001, max = 1e9), extend("x-unit" = "Mbit/s"))]
        rate_mbps: f64,
    },
    /// A Mahimahi trace file: one line per delivery opportunity of one 1500-byte packet, the
    /// millisecond at which it occurs; the trace repeats. Relative paths in a scenario file are
    /// resolved against the scenario file's directory (in code: relative to the working
    /// directory unless resolved with [`LinkConfig::with_base_dir`]).
    Trace {
        /// The trace file's path.
        #[schemars(extend("x-unit" = "file path"))]
        path: String,
    },
}

impl LinkConfig {
    /// A fixed-rate link at `bps` bit/s.
    pub fn fixed_bps(bps: u64) -> Self {
        LinkConfig::Fixed {
            rate_mbps: bps as f64 / 1e6,
        }
    }

    /// The same config with a relative trace path joined onto `base` (e.g. the directory of
    /// the scenario file).
    pub fn with_base_dir(&self, base: &Path) -> Self {
        match self {
            LinkConfig::Trace { path } if Path::new(path).is_relative() => LinkConfig::Trace {
                path: base.join(path).display().to_string(),
            },
            other => other.clone(),
        }
    }

    /// Checks the rate without loading trace files.
    pub fn validate_rate(&self) -> Result<(), LinkError> {
        if let LinkConfig::Fixed { rate_mbps } = *self {
            let bps = rate_mbps * 1e6;
            if !(1.0..=1e15).contains(&bps) {
                return Err(LinkError::Invalid {
                    field: "fixed.rate_mbps",
                    expected: "a rate between 0.000001 and 1e9 Mbit/s",
                    got: rate_mbps.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Builds the server (reading the trace file for `trace`).
    pub fn build(&self) -> Result<LinkServer, LinkError> {
        self.validate_rate()?;
        match self {
            LinkConfig::Fixed { rate_mbps } => {
                Ok(LinkServer::fixed((rate_mbps * 1e6).round() as u64))
            }
            LinkConfig::Trace { path } => Ok(LinkServer::Trace(Box::new(TraceLink::new(
                MahimahiTrace::from_file(PathBuf::from(path))?,
            )))),
        }
    }
}

/// Errors building a loss model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LossError {
    /// The probability is not in [0, 1].
    #[error("loss: expected a probability in [0, 1], got {0}")]
    BadProbability(f64),
}

/// Seeded i.i.d. (Bernoulli) packet loss.
#[derive(Clone, Debug)]
pub struct LossModel {
    p: f64,
    rng: SimRng,
}

impl LossModel {
    /// Loses each packet with probability `p`, drawing from `rng`.
    pub fn new(p: f64, rng: SimRng) -> Result<Self, LossError> {
        if !(0.0..=1.0).contains(&p) {
            return Err(LossError::BadProbability(p));
        }
        Ok(LossModel { p, rng })
    }

    /// The loss probability.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// Draws whether the next packet is lost (one draw per call when 0 < p < 1).
    #[inline]
    pub fn drops(&mut self) -> bool {
        if self.p <= 0.0 {
            false
        } else if self.p >= 1.0 {
            true
        } else {
            self.rng.random::<f64>() < self.p
        }
    }
}

#[cfg(test)]
mod tests;
