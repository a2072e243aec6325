//! [`QueueConfig`]: queue disciplines as scenario files name them, validated by
//! [`QueueConfig::build`].
//!
//! ```toml
//! queue = { kind = "drop_tail", limit_packets = 100 }
//! queue = { kind = "red", limit_packets = 400, min_th_packets = 20, max_th_packets = 60, max_p = 0.1 }
//! queue = { kind = "step_mark", limit_packets = 400, k_packets = 65 }
//! queue = { kind = "codel", limit_packets = 1000, target_us = 5000, interval_us = 100000 }
//! queue = { kind = "sfq", limit_packets = 1000, buckets = 1024, quantum_bytes = 1514 }
//! queue = { kind = "priority", bands = 3, limit_packets = 100 }
//! ```
//!
//! Unknown fields are rejected (`deny_unknown_fields` works with this internally tagged
//! form; a unit test checks it).
//!
//! The JSON Schema ([`schemars::JsonSchema`]) carries each field's unit (`x-unit`) and the
//! ranges [`QueueConfig::build`] enforces; the scenario-file reference is generated from it.

use rand::SeedableRng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sim_core::{SimDuration, SimRng};

use super::codel::CoDelParams;
use super::step::Threshold;
use super::{
    CoDel, DropHead, DropTail, Limit, PortQueue, Queue, Red, RedParams, Sfq, StepMark,
    StrictPriority,
};

/// A queue discipline and its parameters. `limit_packets` / `limit_bytes` are the hard limit
/// (at least one is required; for `priority` it is per band).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum QueueConfig {
    /// FIFO dropping arrivals that do not fit.
    DropTail {
        /// Most packets queued, at least 1 (this or `limit_bytes`, or both, must be set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1), extend("x-unit" = "packets"))]
        limit_packets: Option<usize>,
        /// Most bytes queued, at least one full-sized packet: MSS + 40 header bytes (this or
        /// `limit_packets`, or both, must be set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1), extend("x-unit" = "bytes", "x-constraint" = "≥ transport.mss + 40"))]
        limit_bytes: Option<u64>,
    },
    /// FIFO dropping its oldest packets to admit arrivals.
    DropHead {
        /// Most packets queued, at least 1 (this or `limit_bytes`, or both, must be set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1), extend("x-unit" = "packets"))]
        limit_packets: Option<usize>,
        /// Most bytes queued, at least one full-sized packet: MSS + 40 header bytes (this or
        /// `limit_packets`, or both, must be set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1), extend("x-unit" = "bytes", "x-constraint" = "≥ transport.mss + 40"))]
        limit_bytes: Option<u64>,
    },
    /// Random early detection (see [`crate::queue::red`]).
    Red {
        /// Most packets queued, at least 1 (this or `limit_bytes`, or both, must be set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1), extend("x-unit" = "packets", "x-constraint" = "≥ max_th_packets"))]
        limit_packets: Option<usize>,
        /// Most bytes queued, at least one full-sized packet: MSS + 40 header bytes (this or
        /// `limit_packets`, or both, must be set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1), extend("x-unit" = "bytes", "x-constraint" = "≥ transport.mss + 40"))]
        limit_bytes: Option<u64>,
        /// Average queue length in packets where marking starts; finite and >= 0.
        #[schemars(range(min = 0), extend("x-unit" = "packets"))]
        min_th_packets: f64,
        /// Average queue length in packets where marking reaches `max_p` (gentle) or becomes
        /// certain; above `min_th_packets` and not above `limit_packets`.
        #[schemars(extend(
            "x-unit" = "packets",
            "x-constraint" = "> min_th_packets, ≤ limit_packets"
        ))]
        max_th_packets: f64,
        /// Marking probability at `max_th_packets`, in (0, 1]; default 0.1.
        #[serde(default = "default_max_p")]
        #[schemars(range(max = 1), extend("x-unit" = "probability", "exclusiveMinimum" = 0))]
        max_p: f64,
        /// Weight of the newest sample in the average queue length (EWMA), in (0, 1]; default
        /// 0.002.
        #[serde(default = "default_w_q")]
        #[schemars(range(max = 1), extend("x-unit" = "fraction", "exclusiveMinimum" = 0))]
        w_q: f64,
        /// Gentle RED (the probability rises from `max_p` to 1 between `max_th_packets` and
        /// twice it); default true.
        #[serde(default = "yes")]
        gentle: bool,
        /// Mark ECT packets instead of dropping; default true.
        #[serde(default = "yes")]
        ecn: bool,
        /// Drop even ECT packets in the forced region; default false.
        #[serde(default)]
        harddrop: bool,
        /// Time to send a mean-size packet, microseconds (decays the average while the queue is
        /// idle); positive. Default (unset): 1500 bytes at the link rate.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(extend("x-unit" = "µs", "exclusiveMinimum" = 0))]
        mean_pkt_time_us: Option<f64>,
    },
    /// DCTCP-style marking at an instantaneous threshold K (exactly one of `k_packets`,
    /// `k_bytes`).
    StepMark {
        /// Most packets queued, at least 1 (this or `limit_bytes`, or both, must be set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1), extend("x-unit" = "packets", "x-constraint" = "> k_packets"))]
        limit_packets: Option<usize>,
        /// Most bytes queued, at least one full-sized packet: MSS + 40 header bytes (this or
        /// `limit_packets`, or both, must be set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(
            range(min = 1),
            extend("x-unit" = "bytes", "x-constraint" = "≥ transport.mss + 40; > k_bytes")
        )]
        limit_bytes: Option<u64>,
        /// K in packets: packets arriving to at least this many queued are marked (exactly one
        /// of `k_packets`, `k_bytes`); below `limit_packets`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(extend("x-unit" = "packets", "x-constraint" = "< limit_packets"))]
        k_packets: Option<usize>,
        /// K in bytes: packets arriving to at least this many queued bytes are marked (exactly
        /// one of `k_packets`, `k_bytes`); below `limit_bytes`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(extend("x-unit" = "bytes", "x-constraint" = "< limit_bytes"))]
        k_bytes: Option<u64>,
    },
    /// CoDel, RFC 8289.
    Codel {
        /// Most packets queued, at least 1 (this or `limit_bytes`, or both, must be set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1), extend("x-unit" = "packets"))]
        limit_packets: Option<usize>,
        /// Most bytes queued, at least one full-sized packet: MSS + 40 header bytes (this or
        /// `limit_packets`, or both, must be set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1), extend("x-unit" = "bytes", "x-constraint" = "≥ transport.mss + 40"))]
        limit_bytes: Option<u64>,
        /// Target sojourn time, microseconds; positive. Default 5000 µs.
        #[serde(default = "default_target_us")]
        #[schemars(extend("x-unit" = "µs", "exclusiveMinimum" = 0))]
        target_us: f64,
        /// Interval, microseconds: how long the sojourn time must stay above target before
        /// CoDel drops (or marks); positive. Default 100 000 µs.
        #[serde(default = "default_interval_us")]
        #[schemars(extend("x-unit" = "µs", "exclusiveMinimum" = 0))]
        interval_us: f64,
        /// Queues of at most this many bytes are never above target, bytes; default 1500.
        #[serde(default = "default_mtu")]
        #[schemars(extend("x-unit" = "bytes"))]
        mtu_bytes: u32,
        /// Mark ECT packets instead of dropping; default false.
        #[serde(default)]
        ecn: bool,
    },
    /// Stochastic fair queueing with deficit round robin.
    Sfq {
        /// Most packets queued (all buckets together), at least 1 (this or `limit_bytes`, or
        /// both, must be set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1), extend("x-unit" = "packets"))]
        limit_packets: Option<usize>,
        /// Most bytes queued (all buckets together), at least one full-sized packet: MSS + 40
        /// header bytes (this or `limit_packets`, or both, must be set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1), extend("x-unit" = "bytes", "x-constraint" = "≥ transport.mss + 40"))]
        limit_bytes: Option<u64>,
        /// Number of hash buckets, 1..=1048576; default 1024.
        #[serde(default = "default_buckets")]
        #[schemars(range(min = 1, max = 1_048_576), extend("x-unit" = "buckets"))]
        buckets: usize,
        /// Bytes of credit per round of deficit round robin, at least 64; default 1514.
        #[serde(default = "default_quantum")]
        #[schemars(range(min = 64), extend("x-unit" = "bytes"))]
        quantum_bytes: u32,
    },
    /// Strict priority over drop-tail bands.
    Priority {
        /// Most packets per band, at least 1 (this or `limit_bytes`, or both, must be set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1), extend("x-unit" = "packets"))]
        limit_packets: Option<usize>,
        /// Most bytes per band, at least one full-sized packet: MSS + 40 header bytes (this or
        /// `limit_packets`, or both, must be set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1), extend("x-unit" = "bytes", "x-constraint" = "≥ transport.mss + 40"))]
        limit_bytes: Option<u64>,
        /// Number of bands, 1..=256; default 3. A packet of priority p goes to band
        /// min(p, bands − 1); band 0 is served first.
        #[serde(default = "default_bands")]
        #[schemars(range(min = 1, max = 256), extend("x-unit" = "bands"))]
        bands: usize,
    },
}

fn default_max_p() -> f64 {
    0.1
}
fn default_w_q() -> f64 {
    0.002
}
fn yes() -> bool {
    true
}
fn default_target_us() -> f64 {
    5000.0
}
fn default_interval_us() -> f64 {
    100_000.0
}
fn default_mtu() -> u32 {
    1500
}
fn default_buckets() -> usize {
    1024
}
fn default_quantum() -> u32 {
    1514
}
fn default_bands() -> usize {
    3
}

/// An invalid queue configuration.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum QueueConfigError {
    /// A field is missing or out of range.
    #[error("{field}: expected {expected}, got {got}")]
    Invalid {
        /// `kind.field`, e.g. `red.max_th_packets`.
        field: String,
        /// What a valid value looks like.
        expected: String,
        /// What was given.
        got: String,
    },
}

fn invalid(
    kind: &str,
    field: &str,
    expected: impl Into<String>,
    got: impl ToString,
) -> QueueConfigError {
    QueueConfigError::Invalid {
        field: format!("{kind}.{field}"),
        expected: expected.into(),
        got: got.to_string(),
    }
}

fn limit(
    kind: &str,
    packets: Option<usize>,
    bytes: Option<u64>,
) -> Result<Limit, QueueConfigError> {
    if packets.is_none() && bytes.is_none() {
        return Err(invalid(
            kind,
            "limit_packets",
            "limit_packets and/or limit_bytes to be set",
            "neither",
        ));
    }
    if packets == Some(0) {
        return Err(invalid(kind, "limit_packets", "at least 1", 0));
    }
    if bytes == Some(0) {
        return Err(invalid(kind, "limit_bytes", "at least 1", 0));
    }
    Ok(Limit { packets, bytes })
}

fn duration_us(kind: &str, field: &str, v: f64) -> Result<SimDuration, QueueConfigError> {
    if !v.is_finite() || v <= 0.0 {
        return Err(invalid(kind, field, "a positive number of microseconds", v));
    }
    Ok(SimDuration::from_secs_f64(v * 1e-6))
}

impl QueueConfig {
    /// The `kind` tag as written in scenario files.
    pub fn kind(&self) -> &'static str {
        match self {
            QueueConfig::DropTail { .. } => "drop_tail",
            QueueConfig::DropHead { .. } => "drop_head",
            QueueConfig::Red { .. } => "red",
            QueueConfig::StepMark { .. } => "step_mark",
            QueueConfig::Codel { .. } => "codel",
            QueueConfig::Sfq { .. } => "sfq",
            QueueConfig::Priority { .. } => "priority",
        }
    }

    /// A drop-tail queue of `n` packets.
    pub fn drop_tail_packets(n: usize) -> Self {
        QueueConfig::DropTail {
            limit_packets: Some(n),
            limit_bytes: None,
        }
    }

    /// The byte limit, if the queue has one.
    pub fn limit_bytes(&self) -> Option<u64> {
        match *self {
            QueueConfig::DropTail { limit_bytes, .. }
            | QueueConfig::DropHead { limit_bytes, .. }
            | QueueConfig::Red { limit_bytes, .. }
            | QueueConfig::StepMark { limit_bytes, .. }
            | QueueConfig::Codel { limit_bytes, .. }
            | QueueConfig::Sfq { limit_bytes, .. }
            | QueueConfig::Priority { limit_bytes, .. } => limit_bytes,
        }
    }

    /// Checks that a packet of `packet_bytes` (the largest the network sends: MSS plus
    /// headers) fits in the queue; a smaller byte limit would drop every full-sized packet.
    pub fn check_fits(&self, packet_bytes: u64) -> Result<(), QueueConfigError> {
        match self.limit_bytes() {
            Some(b) if b < packet_bytes => Err(invalid(
                self.kind(),
                "limit_bytes",
                format!(
                    "at least one full-sized packet ({packet_bytes} bytes: MSS + 40 header bytes)"
                ),
                b,
            )),
            _ => Ok(()),
        }
    }

    /// Checks every field (by building the queue with a throwaway random stream).
    pub fn validate(&self) -> Result<(), QueueConfigError> {
        self.build(SimRng::seed_from_u64(0)).map(|_| ())
    }

    /// Builds the discipline; `rng` is the port's own stream (RED's decisions, SFQ's salt).
    pub fn build(&self, rng: SimRng) -> Result<Box<dyn Queue>, QueueConfigError> {
        self.build_port(rng).map(PortQueue::into_boxed)
    }

    /// Builds the discipline as a port holds it: drop-tail and step marking inline (see
    /// [`PortQueue`]), the others boxed.
    pub fn build_port(&self, rng: SimRng) -> Result<PortQueue, QueueConfigError> {
        let k = self.kind();
        let q: PortQueue = match *self {
            QueueConfig::DropTail {
                limit_packets,
                limit_bytes,
            } => {
                let l = limit(k, limit_packets, limit_bytes)?;
                PortQueue::DropTail(DropTail::new(l))
            }
            QueueConfig::DropHead {
                limit_packets,
                limit_bytes,
            } => {
                let l = limit(k, limit_packets, limit_bytes)?;
                PortQueue::Other(Box::new(DropHead::new(l)))
            }
            QueueConfig::Red {
                limit_packets,
                limit_bytes,
                min_th_packets,
                max_th_packets,
                max_p,
                w_q,
                gentle,
                ecn,
                harddrop,
                mean_pkt_time_us,
            } => {
                let l = limit(k, limit_packets, limit_bytes)?;
                if !min_th_packets.is_finite() || min_th_packets < 0.0 {
                    return Err(invalid(
                        k,
                        "min_th_packets",
                        "a non-negative number",
                        min_th_packets,
                    ));
                }
                if !max_th_packets.is_finite() || max_th_packets <= min_th_packets {
                    return Err(invalid(
                        k,
                        "max_th_packets",
                        format!("a value greater than min_th_packets ({min_th_packets})"),
                        max_th_packets,
                    ));
                }
                if let Some(lim) = limit_packets {
                    if max_th_packets > lim as f64 {
                        return Err(invalid(
                            k,
                            "max_th_packets",
                            format!("a threshold not above limit_packets ({lim})"),
                            max_th_packets,
                        ));
                    }
                }
                if !(max_p > 0.0 && max_p <= 1.0) {
                    return Err(invalid(k, "max_p", "a probability in (0, 1]", max_p));
                }
                if !(w_q > 0.0 && w_q <= 1.0) {
                    return Err(invalid(k, "w_q", "a weight in (0, 1]", w_q));
                }
                let mean_pkt_time = match mean_pkt_time_us {
                    Some(v) => Some(duration_us(k, "mean_pkt_time_us", v)?),
                    None => None,
                };
                let p = RedParams {
                    limit: l,
                    min_th: min_th_packets,
                    max_th: max_th_packets,
                    max_p,
                    w_q,
                    gentle,
                    ecn,
                    harddrop,
                    mean_pkt_time,
                };
                PortQueue::Other(Box::new(Red::new(p, rng)))
            }
            QueueConfig::StepMark {
                limit_packets,
                limit_bytes,
                k_packets,
                k_bytes,
            } => {
                let l = limit(k, limit_packets, limit_bytes)?;
                let th = match (k_packets, k_bytes) {
                    (Some(n), None) => Threshold::Packets(n),
                    (None, Some(b)) => Threshold::Bytes(b),
                    (None, None) => {
                        return Err(invalid(
                            k,
                            "k_packets",
                            "exactly one of k_packets or k_bytes",
                            "neither",
                        ))
                    }
                    (Some(_), Some(_)) => {
                        return Err(invalid(
                            k,
                            "k_bytes",
                            "exactly one of k_packets or k_bytes",
                            "both",
                        ))
                    }
                };
                // A threshold the queue can never reach would never mark.
                match th {
                    Threshold::Packets(n) if l.packets.is_some_and(|lim| n >= lim) => {
                        return Err(invalid(
                            k,
                            "k_packets",
                            format!(
                                "a threshold below limit_packets ({})",
                                l.packets.unwrap_or(0)
                            ),
                            n,
                        ));
                    }
                    Threshold::Bytes(b) if l.bytes.is_some_and(|lim| b >= lim) => {
                        return Err(invalid(
                            k,
                            "k_bytes",
                            format!("a threshold below limit_bytes ({})", l.bytes.unwrap_or(0)),
                            b,
                        ));
                    }
                    _ => {}
                }
                PortQueue::StepMark(StepMark::new(th, l))
            }
            QueueConfig::Codel {
                limit_packets,
                limit_bytes,
                target_us,
                interval_us,
                mtu_bytes,
                ecn,
            } => {
                let l = limit(k, limit_packets, limit_bytes)?;
                let target = duration_us(k, "target_us", target_us)?;
                let interval = duration_us(k, "interval_us", interval_us)?;
                PortQueue::Other(Box::new(CoDel::new(CoDelParams {
                    limit: l,
                    target,
                    interval,
                    mtu_bytes,
                    ecn,
                })))
            }
            QueueConfig::Sfq {
                limit_packets,
                limit_bytes,
                buckets,
                quantum_bytes,
            } => {
                let l = limit(k, limit_packets, limit_bytes)?;
                if buckets == 0 || buckets > 1 << 20 {
                    return Err(invalid(k, "buckets", "a count in 1..=1048576", buckets));
                }
                if quantum_bytes < 64 {
                    return Err(invalid(k, "quantum_bytes", "at least 64", quantum_bytes));
                }
                PortQueue::Other(Box::new(Sfq::new(buckets, quantum_bytes, l, rng)))
            }
            QueueConfig::Priority {
                limit_packets,
                limit_bytes,
                bands,
            } => {
                let l = limit(k, limit_packets, limit_bytes)?;
                if bands == 0 || bands > 256 {
                    return Err(invalid(k, "bands", "a count in 1..=256", bands));
                }
                PortQueue::Other(Box::new(StrictPriority::new(bands, l)))
            }
        };
        Ok(q)
    }
}
