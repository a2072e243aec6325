//! The Bertha (Chunnels) experiments. Each runs the same application functions on the
//! simulator (virtual time, a stated topology) and on real loopback (tokio), writes every
//! sample to CSV and returns the samples and a table of our numbers beside what the paper
//! states or the round-trip structure predicts. `testbed reproduce` calls them and draws the
//! figures.
//!
//! Module map:
//! - [`colocated`]: thesis Fig 3.5, colocated microservices: request latency over plain UDP,
//!   always-encrypted, and encryption fused with the local fast path by an optimization pass.
//! - [`fig3_4`]: thesis Fig 3.4, connection establishment: connect + 8-byte echo with a plain
//!   datagram socket, 1-RTT negotiation, 0-RTT negotiation and rendezvous.
//! - [`local_fast_path`]: HotNets'20 Fig 3, RPC latency to a same-host server over loopback
//!   TCP, UDP, a Bertha connection whose local-or-remote Chunnel picks a Unix socket, and raw
//!   Unix sockets.
//! - [`name_resolution`]: HotNets'20 Fig 4, new connections switch to a local server that
//!   appears at t = 4 s (simulated, with a same-host IPC path).
//! - [`throughput`]: thesis Fig 3.3, goodput of a bulk transfer over each real base connection,
//!   raw vs the negotiated no-op stack.
#![warn(missing_docs)]

pub mod colocated;
pub mod fig3_4;
pub mod local_fast_path;
pub mod name_resolution;
pub mod throughput;

/// Errors of the experiments.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// A run failed.
    #[error("{world}: {what}")]
    Run {
        /// `simulation` or `loopback`.
        world: &'static str,
        /// What failed.
        what: String,
    },
    /// A file could not be written.
    #[error("writing {path}: {msg}")]
    Output {
        /// The file.
        path: String,
        /// The cause.
        msg: String,
    },
}

/// One row of an experiment's table.
#[derive(Clone, Debug, PartialEq)]
pub struct TableRow {
    /// What is measured.
    pub quantity: String,
    /// Its unit.
    pub unit: String,
    /// Our number.
    pub ours: f64,
    /// What it is compared with (`expected`, `paper`, `udp`).
    pub compared_with: String,
    /// The number compared with, if any.
    pub reference: Option<f64>,
    /// The paper's statement about it.
    pub paper: String,
}

/// The `q` quantile of `v` (linear interpolation; `v` need not be sorted). NaN if empty.
pub fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}

/// Writes every sample to `path` as CSV: the `header` (group, variant, index within the
/// variant, value), then one row per sample, groups and variants in map order, values in µs
/// with three decimals.
pub fn write_samples<G: std::fmt::Display>(
    path: &std::path::Path,
    header: [&str; 4],
    samples: &std::collections::BTreeMap<(G, String), Vec<f64>>,
) -> Result<(), ExperimentError> {
    let o = |e: &dyn std::fmt::Display| ExperimentError::Output {
        path: path.display().to_string(),
        msg: e.to_string(),
    };
    let mut w = csv::Writer::from_path(path).map_err(|e| o(&e))?;
    w.write_record(header).map_err(|e| o(&e))?;
    for ((group, variant), v) in samples {
        for (i, x) in v.iter().enumerate() {
            w.write_record([
                group.to_string().as_str(),
                variant.as_str(),
                &i.to_string(),
                &format!("{x:.3}"),
            ])
            .map_err(|e| o(&e))?;
        }
    }
    w.flush().map_err(|e| o(&e))
}
