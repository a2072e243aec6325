//! The same-host Bertha figures in `testbed reproduce`, measured on real loopback:
//! - `hotnets-3` (HotNets'20 Fig 3): the local fast path, by
//!   `bertha_experiments::local_fast_path`; one box plot panel per request size (own y scale);
//! - `thesis-3.3` (thesis Fig 3.3): throughput overhead, by `bertha_experiments::throughput`;
//!   one box plot panel per base connection (own y scale);
//! - `hotnets-4` (HotNets'20 Fig 4): dynamic name resolution, simulated by
//!   `bertha_experiments::name_resolution`; request latency over time;
//! - `thesis-3.5` (thesis Fig 3.5): colocated microservices, by
//!   `bertha_experiments::colocated`; one box plot panel.
//!
//! Each experiment's rows become the comparison table.

use std::path::{Path, PathBuf};

use bertha_experiments::{colocated, local_fast_path, name_resolution, throughput};

use super::{Analysis, Options, ReproduceError};
use crate::boxplot::BoxPanel;
use crate::figures::{Line, Panel};

/// HotNets Fig 3: `connections` per variant and request size, 3 timed RPCs each.
pub(super) fn hotnets_3(
    _opts: &Options,
    dir: &Path,
    connections: u64,
) -> Result<(Analysis, Vec<PathBuf>), ReproduceError> {
    let r = local_fast_path::run(&local_fast_path::Options {
        connections: connections as usize,
        rpcs_per_conn: local_fast_path::RPCS_PER_CONN,
        sizes: local_fast_path::DEFAULT_SIZES.to_vec(),
        out: dir.to_path_buf(),
    })
    .map_err(|e| ReproduceError::Analysis(e.to_string()))?;
    let panels: Vec<BoxPanel> = local_fast_path::DEFAULT_SIZES
        .iter()
        .map(|&size| BoxPanel {
            title: if size >= 1024 {
                format!("{} KiB requests", size / 1024)
            } else {
                format!("{size} B requests")
            },
            y_label: "RPC latency (µs)".into(),
            boxes: local_fast_path::MODES
                .iter()
                .map(|m| {
                    (
                        m.to_string(),
                        r.samples
                            .get(&(size, m.to_string()))
                            .cloned()
                            .unwrap_or_default(),
                    )
                })
                .collect(),
        })
        .collect();
    super::bertha::boxplot_analysis(
        dir,
        "hotnets_fig3",
        "HotNets Fig 3: same-host RPC latency, loopback TCP / UDP vs Bertha local-or-remote vs raw Unix sockets (box p25–p75, whiskers p5–p95)",
        &panels,
        r.rows,
        r.notes,
    )
}

/// Thesis Fig 3.5: `connections` per variant, 100 timed 64-byte requests each.
pub(super) fn thesis_3_5(
    _opts: &Options,
    dir: &Path,
    connections: u64,
) -> Result<(Analysis, Vec<PathBuf>), ReproduceError> {
    let r = colocated::run(&colocated::Options {
        connections: connections as usize,
        out: dir.to_path_buf(),
        ..colocated::Options::default()
    })
    .map_err(|e| ReproduceError::Analysis(e.to_string()))?;
    let panel = BoxPanel {
        title: "64 B echo, client and server on one host".into(),
        y_label: "request latency (µs)".into(),
        boxes: colocated::MODES
            .iter()
            .map(|m| {
                (
                    m.to_string(),
                    r.samples.get(*m).cloned().unwrap_or_default(),
                )
            })
            .collect(),
    };
    super::bertha::boxplot_analysis(
        dir,
        "thesis_fig3_5",
        "Thesis Fig 3.5: colocated microservices, plain UDP vs always-encrypted vs encryption fused with the local fast path (box p25–p75, whiskers p5–p95)",
        &[panel],
        r.rows,
        r.notes,
    )
}

/// Thesis Fig 3.3: `trials` per point; each connection's file is what 10 Gbit/s moves in
/// `--duration` seconds (default 0.04 s: the paper's 50 MB).
pub(super) fn thesis_3_3(
    opts: &Options,
    dir: &Path,
    trials: u64,
) -> Result<(Analysis, Vec<PathBuf>), ReproduceError> {
    let secs = opts.duration_s.unwrap_or(0.04);
    let bytes = (secs * 10e9 / 8.0).round();
    if !(1.0..=1e11).contains(&bytes) {
        return Err(ReproduceError::Analysis(format!(
            "--duration {secs}: expected a time that moves 1 byte to 100 GB at 10 Gbit/s"
        )));
    }
    let o = throughput::Options {
        bytes: bytes as u64,
        trials: trials as usize,
        out: dir.to_path_buf(),
        ..throughput::Options::default()
    };
    let r = throughput::run(&o).map_err(|e| ReproduceError::Analysis(e.to_string()))?;
    let panels: Vec<BoxPanel> = o
        .backends
        .iter()
        .map(|b| BoxPanel {
            title: format!("{b} base connection"),
            y_label: "goodput (Gbit/s)".into(),
            boxes: o
                .connections
                .iter()
                .flat_map(|&c| throughput::VARIANTS.iter().map(move |v| (c, *v)))
                .map(|(c, v)| {
                    (
                        format!("{c} {v}"),
                        r.samples
                            .get(&(b.clone(), c, v.to_string()))
                            .cloned()
                            .unwrap_or_default(),
                    )
                })
                .collect(),
        })
        .collect();
    super::bertha::boxplot_analysis(
        dir,
        "thesis_fig3_3",
        "Thesis Fig 3.3: bulk-transfer goodput, raw socket vs the negotiated no-op stack, by base connection and number of connections (box p25–p75, whiskers p5–p95)",
        &panels,
        r.rows,
        r.notes,
    )
}

/// HotNets Fig 4: simulated for `--duration` seconds (default 8), the local instance appearing
/// at half of it; `--seeds` is the simulation's seed count (each seed gives the same result:
/// nothing is random in this setup, so only seed 1 runs).
pub(super) fn hotnets_4(
    opts: &Options,
    dir: &Path,
    _seeds: u64,
) -> Result<(Analysis, Vec<PathBuf>), ReproduceError> {
    let secs = opts.duration_s.unwrap_or(8.0);
    if !(secs.is_finite() && (0.4..=3600.0).contains(&secs)) {
        return Err(ReproduceError::Analysis(format!(
            "--duration {secs}: expected 0.4 to 3600 simulated seconds"
        )));
    }
    let o = name_resolution::Options {
        duration: netrt::Duration::from_secs_f64(secs),
        appear_at: netrt::Duration::from_secs_f64(secs / 2.0),
        ..name_resolution::Options::default()
    };
    let r = name_resolution::run(&o, dir).map_err(|e| ReproduceError::Analysis(e.to_string()))?;
    let line = |local: bool, color: usize| Line {
        label: if local {
            "local instance (IPC)".into()
        } else {
            "remote instance (network)".into()
        },
        points: r
            .samples
            .iter()
            .filter(|s| s.local == local)
            .map(|s| (s.at_s, s.micros))
            .collect(),
        color,
        dashed: false,
    };
    let panel = Panel {
        title: format!(
            "a new connection every {} ms, 3 × 64 B requests each; local instance from {} s",
            o.every.as_millis(),
            secs / 2.0
        ),
        x_label: "time (s)".into(),
        y_label: "request latency (µs)".into(),
        lines: vec![line(false, 0), line(true, 1)],
        x_range: Some((0.0, secs)),
        y_range: None,
    };
    Ok((
        Analysis {
            figures: vec![(
                "hotnets_fig4".into(),
                "HotNets Fig 4: dynamic name resolution (simulated)".into(),
                vec![panel],
                1,
            )],
            rows: r.rows.into_iter().map(super::bertha::row).collect(),
            notes: r.notes,
        },
        vec![dir.join("samples.csv")],
    ))
}
