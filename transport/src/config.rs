//! [`TransportConfig`]: the parameters every flow of a scenario shares, as read from the
//! `[transport]` table of a scenario file.
//!
//! Its JSON Schema ([`schemars::JsonSchema`]) carries each field's unit (`x-unit`) and the range
//! [`TransportConfig::validate`] enforces; the scenario-file reference is generated from it.

use netrt::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Transport parameters (serde, `deny_unknown_fields`; every field has the documented default).
///
/// Durations are plain numbers with their unit in the field name so that scenario files stay
/// readable (`min_rto_us = 1000.0`); use the accessor methods ([`TransportConfig::min_rto`], …)
/// to get [`Duration`]s.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TransportConfig {
    /// Maximum segment size: payload bytes per segment, 1..=[`MAX_MSS`] (65 495). Default 1460.
    /// Every byte-limited queue must hold one full-sized packet (MSS + 40 header bytes).
    #[schemars(
        range(min = 1, max = MAX_MSS),
        extend("x-unit" = "bytes", "x-constraint" = "mss + 40 ≤ every queue's limit_bytes")
    )]
    pub mss: u32,
    /// Initial congestion window in segments (MSS-sized packets), at least 1. Default 10
    /// (RFC 6928).
    #[schemars(range(min = 1), extend("x-unit" = "segments"))]
    pub init_cwnd_pkts: u32,
    /// Lower bound of the retransmission timeout, microseconds; finite, >= 0 and at most
    /// `max_rto_s`. Default 200 000 (200 ms, like Linux); datacenter scenarios set about 1 000.
    #[schemars(range(min = 0), extend("x-unit" = "µs", "x-constraint" = "≤ max_rto_s"))]
    pub min_rto_us: f64,
    /// Retransmission timeout before the first RTT sample, milliseconds; finite and >= 0.
    /// Default 1 000 (RFC 6298).
    #[schemars(range(min = 0), extend("x-unit" = "ms"))]
    pub initial_rto_ms: f64,
    /// Upper bound of the (backed-off) retransmission timeout, seconds; finite and >= 0.
    /// Default 60.
    #[schemars(range(min = 0), extend("x-unit" = "s", "x-constraint" = "≥ min_rto_us"))]
    pub max_rto_s: f64,
    /// Delayed-ACK timeout, microseconds; finite and >= 0. `None` (unset, the default) ACKs
    /// every segment; `Some(t)` ACKs every second full-sized segment or `t` microseconds after
    /// the first unacknowledged one, whichever comes first.
    #[schemars(range(min = 0), extend("x-unit" = "µs"))]
    pub delayed_ack_us: Option<f64>,
    /// Send segments ECN-capable (ECT) and react to ECN echoes. Default false.
    pub ecn: bool,
    /// Pace transmissions. When the congestion controller gives a rate
    /// ([`crate::CongestionControl::pacing_rate_bps`]) the sender always paces at that rate; with
    /// `pacing = true` and no rate from the controller it paces at `factor · cwnd / srtt` like
    /// Linux (factor 2 in slow start, while cwnd < ssthresh/2, else 1.2; unpaced until the first
    /// RTT sample). Default false.
    pub pacing: bool,
    /// Segments SACKed above a hole (or duplicate ACKs) before the hole counts as lost, at
    /// least 1. Default 3.
    #[schemars(range(min = 1), extend("x-unit" = "segments"))]
    pub dup_thresh: u32,
    /// Open each connection with a SYN / SYN-ACK exchange before any data. Default true.
    ///
    /// The sender first sends a zero-length SYN segment ([`crate::Segment::syn`]); the receiver
    /// answers at once with a SYN-ACK ([`crate::AckInfo::syn`]); the sender takes its first RTT
    /// sample from it (so the first data RTO is `max(3·RTT, min_rto)`, not the initial RTO) and
    /// then sends data. A lost SYN or SYN-ACK is retransmitted after the initial RTO with
    /// exponential backoff (RFC 6298). `false` starts sending data at once, as before this option
    /// existed.
    pub handshake: bool,
    /// How the sending rate comes down during a window reduction: `"prr"` (default) or
    /// `"immediate"`. See [`RecoveryMode`].
    pub recovery: RecoveryMode,
    /// Cubic's HyStart (hybrid slow start, as Linux's `tcp_cubic`): leave slow start
    /// (ssthresh = cwnd) when a round's ACK train spans half the minimum RTT or its RTT rises
    /// above the minimum by `clamp(min/8, 4 ms, 16 ms)`, instead of at the first loss. Default
    /// true (Linux's default); other controllers ignore it. See [`crate::Cubic`].
    pub hystart: bool,
}

/// How a sender reduces its window in fast recovery and in CWR (the reduction after an ECN
/// echo, see [`crate::AckSignals::ecn_echo`]). In both modes the controller sets its new window
/// at once (`on_loss`, or `on_ack` for CWR) and does not grow it until the episode ends; the
/// modes differ in how the data in flight follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryMode {
    /// Proportional Rate Reduction (RFC 6937), PRR-SSRB as Linux's `tcp_cwnd_reduction`: over
    /// the episode's round trip the sender sends `new window / window at entry` of what is
    /// delivered while more than the new window is in flight, then lets the flight grow back
    /// to it by at most the delivered data plus one segment per ACK (the first retransmission
    /// always goes out). Linux's behaviour, and the default.
    #[default]
    Prr,
    /// The new window applies at once (RFC 6675 pipe rule): nothing is sent until the flight
    /// falls below it, then whatever it allows goes out back to back; the first retransmission
    /// of a recovery episode goes out regardless of the window.
    Immediate,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            mss: 1460,
            init_cwnd_pkts: 10,
            min_rto_us: 200_000.0,
            initial_rto_ms: 1_000.0,
            max_rto_s: 60.0,
            delayed_ack_us: None,
            ecn: false,
            pacing: false,
            dup_thresh: 3,
            handshake: true,
            recovery: RecoveryMode::Prr,
            hystart: true,
        }
    }
}

/// The largest MSS: an IPv4 packet holds at most 65,535 bytes, 40 of them IP and TCP headers.
pub const MAX_MSS: u32 = 65_495;

/// A [`TransportConfig`] that cannot be used.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `mss` must be 1..=[`MAX_MSS`] bytes.
    #[error("transport.mss: expected 1..=65495 bytes (an IPv4 packet of at most 65,535 bytes, 40 of them headers), got {0}")]
    BadMss(u32),
    /// `init_cwnd_pkts` must be at least 1.
    #[error("transport.init_cwnd_pkts must be at least 1, got {0}")]
    ZeroInitCwnd(u32),
    /// A duration field is negative, NaN or infinite.
    #[error("transport.{field} must be a finite number >= 0, got {value}")]
    BadDuration {
        /// The field name.
        field: &'static str,
        /// The value found.
        value: f64,
    },
    /// `min_rto_us` exceeds `max_rto_s`.
    #[error("transport.min_rto_us ({min_us} us) exceeds transport.max_rto_s ({max_s} s)")]
    MinAboveMax {
        /// min_rto_us.
        min_us: f64,
        /// max_rto_s.
        max_s: f64,
    },
    /// `dup_thresh` must be at least 1.
    #[error("transport.dup_thresh must be at least 1")]
    ZeroDupThresh,
}

fn from_secs(s: f64) -> Duration {
    if s.is_finite() {
        Duration::from_secs_f64(s)
    } else if s > 0.0 {
        Duration::MAX
    } else {
        Duration::ZERO
    }
}

impl TransportConfig {
    /// Checks every field; the transport itself never panics on a bad config (it clamps), but a
    /// scenario loader should reject one with this error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.mss == 0 || self.mss > MAX_MSS {
            return Err(ConfigError::BadMss(self.mss));
        }
        if self.init_cwnd_pkts == 0 {
            return Err(ConfigError::ZeroInitCwnd(self.init_cwnd_pkts));
        }
        if self.dup_thresh == 0 {
            return Err(ConfigError::ZeroDupThresh);
        }
        let mut fields = vec![
            ("min_rto_us", self.min_rto_us),
            ("initial_rto_ms", self.initial_rto_ms),
            ("max_rto_s", self.max_rto_s),
        ];
        if let Some(d) = self.delayed_ack_us {
            fields.push(("delayed_ack_us", d));
        }
        for (field, value) in fields {
            if !value.is_finite() || value < 0.0 {
                return Err(ConfigError::BadDuration { field, value });
            }
        }
        if self.min_rto() > self.max_rto() {
            return Err(ConfigError::MinAboveMax {
                min_us: self.min_rto_us,
                max_s: self.max_rto_s,
            });
        }
        Ok(())
    }

    /// `mss` as used by the state machines (at least 1).
    pub fn mss_bytes(&self) -> u64 {
        u64::from(self.mss.max(1))
    }
    /// The minimum RTO.
    pub fn min_rto(&self) -> Duration {
        from_secs(self.min_rto_us * 1e-6)
    }
    /// The RTO before any RTT sample.
    pub fn initial_rto(&self) -> Duration {
        from_secs(self.initial_rto_ms * 1e-3)
    }
    /// The maximum RTO.
    pub fn max_rto(&self) -> Duration {
        from_secs(self.max_rto_s)
    }
    /// The delayed-ACK timeout, if delayed ACKs are on.
    pub fn delayed_ack(&self) -> Option<Duration> {
        self.delayed_ack_us.map(|us| from_secs(us * 1e-6))
    }

    /// Sets `mss` (default 1460).
    pub fn with_mss(mut self, mss: u32) -> Self {
        self.mss = mss;
        self
    }
    /// Sets `init_cwnd_pkts` (default 10).
    pub fn with_init_cwnd_pkts(mut self, pkts: u32) -> Self {
        self.init_cwnd_pkts = pkts;
        self
    }
    /// Sets the minimum RTO (default 200 ms).
    pub fn with_min_rto(mut self, d: Duration) -> Self {
        self.min_rto_us = d.as_nanos() as f64 / 1e3;
        self
    }
    /// Sets the initial RTO (default 1 s).
    pub fn with_initial_rto(mut self, d: Duration) -> Self {
        self.initial_rto_ms = d.as_nanos() as f64 / 1e6;
        self
    }
    /// Sets the delayed-ACK timeout (default `None`: every segment is ACKed at once).
    pub fn with_delayed_ack(mut self, d: Option<Duration>) -> Self {
        self.delayed_ack_us = d.map(|d| d.as_nanos() as f64 / 1e3);
        self
    }
    /// Sets `ecn` (default false).
    pub fn with_ecn(mut self, on: bool) -> Self {
        self.ecn = on;
        self
    }
    /// Sets `pacing` (default false).
    pub fn with_pacing(mut self, on: bool) -> Self {
        self.pacing = on;
        self
    }
    /// Sets `recovery` (default [`RecoveryMode::Prr`]).
    pub fn with_recovery(mut self, mode: RecoveryMode) -> Self {
        self.recovery = mode;
        self
    }
    /// Sets `hystart` (default true).
    pub fn with_hystart(mut self, on: bool) -> Self {
        self.hystart = on;
        self
    }
    /// Sets `handshake` (default true).
    pub fn with_handshake(mut self, on: bool) -> Self {
        self.handshake = on;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_durations() {
        let c = TransportConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.min_rto(), Duration::from_millis(200));
        assert_eq!(c.initial_rto(), Duration::from_secs(1));
        assert_eq!(c.max_rto(), Duration::from_secs(60));
        assert_eq!(c.delayed_ack(), None);
        let c = c
            .with_min_rto(Duration::from_millis(1))
            .with_delayed_ack(Some(Duration::from_micros(500)));
        assert_eq!(c.min_rto(), Duration::from_millis(1));
        assert_eq!(c.delayed_ack(), Some(Duration::from_micros(500)));
    }

    #[test]
    fn parses_scenario_tables_and_rejects_unknown_fields() {
        let c: TransportConfig =
            toml::from_str("mss = 1460\necn = true\nmin_rto_us = 1000.0\n").expect("parse");
        assert_eq!(c.min_rto(), Duration::from_millis(1));
        assert!(c.ecn);
        assert_eq!(c.init_cwnd_pkts, 10);
        let c: TransportConfig = toml::from_str("delayed_ack_us = 40000.0").expect("parse");
        assert_eq!(c.delayed_ack(), Some(Duration::from_millis(40)));
        let e = toml::from_str::<TransportConfig>("min_rto = 1").expect_err("unknown field");
        assert!(e.to_string().contains("min_rto"), "{e}");
        let c: TransportConfig = toml::from_str("handshake = false").expect("parse");
        assert!(!c.handshake);
        let e = toml::from_str::<TransportConfig>("handshake = 1").expect_err("not a bool");
        assert!(e.to_string().contains("handshake"), "{e}");
        let c: TransportConfig = toml::from_str("recovery = \"immediate\"").expect("parse");
        assert_eq!(c.recovery, RecoveryMode::Immediate);
        let e = toml::from_str::<TransportConfig>("recovery = \"rate_halving\"").expect_err("bad");
        assert!(e.to_string().contains("recovery"), "{e}");
        assert!(e.to_string().contains("prr"), "{e}");
        let c: TransportConfig = toml::from_str("hystart = false").expect("parse");
        assert!(!c.hystart);
        let c: TransportConfig = toml::from_str("").expect("all defaults");
        assert_eq!(c, TransportConfig::default());
    }

    #[test]
    fn validate_rejects_bad_values() {
        let c = TransportConfig {
            mss: 0,
            ..Default::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::BadMss(0)));
        let c = TransportConfig {
            mss: 100_000,
            ..Default::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::BadMss(100_000)));
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("transport.mss: expected 1..=65495"));
        let c = TransportConfig {
            min_rto_us: f64::NAN,
            ..Default::default()
        };
        assert!(matches!(
            c.validate(),
            Err(ConfigError::BadDuration {
                field: "min_rto_us",
                ..
            })
        ));
        let c = TransportConfig {
            min_rto_us: 1e9,
            max_rto_s: 1.0,
            ..Default::default()
        };
        assert!(matches!(c.validate(), Err(ConfigError::MinAboveMax { .. })));
        assert_eq!(c.mss_bytes(), 1460);
        assert_eq!(
            TransportConfig {
                mss: 0,
                ..Default::default()
            }
            .mss_bytes(),
            1
        );
    }
}
