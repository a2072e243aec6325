//! The Bertha (Chunnels) experiments in `testbed reproduce`: they run application code on the
//! simulator and on real loopback (crate `bertha-experiments`) rather than scenario files;
//! here their samples become box plots and their rows the comparison table.

use std::path::{Path, PathBuf};

use bertha_experiments::{fig3_4, TableRow};

use super::{Analysis, Arm, Ctx, Options, ReproduceError, Row};
use crate::boxplot::{boxplots, BoxPanel};

/// Custom experiments have no scenario arms.
pub(super) fn no_arms(_: Option<f64>) -> Vec<Arm> {
    Vec::new()
}

/// Custom experiments are analyzed by their own function.
pub(super) fn no_analysis(_: &Ctx) -> Result<Analysis, ReproduceError> {
    Err(ReproduceError::Analysis(
        "this experiment is custom: it has no scenario runs to analyze".into(),
    ))
}

/// An experiment's table row as `reproduce` writes it (no target: the Bertha papers state no
/// tolerances).
pub(super) fn row(r: TableRow) -> Row {
    Row {
        quantity: r.quantity,
        unit: r.unit,
        ours: r.ours,
        compared_with: r.compared_with,
        reference: r.reference,
        paper: r.paper,
        target_pct: None,
    }
}

/// Thesis Fig 3.4: `trials` per variant, simulated and on real loopback.
pub(super) fn fig_3_4(
    _opts: &Options,
    dir: &Path,
    trials: u64,
) -> Result<(Analysis, Vec<PathBuf>), ReproduceError> {
    let r = fig3_4::run(&fig3_4::Options {
        trials: trials as usize,
        out: dir.to_path_buf(),
        loopback: true,
        seed: 1,
    })
    .map_err(|e| ReproduceError::Analysis(e.to_string()))?;
    let panels: Vec<BoxPanel> = ["simulation", "loopback"]
        .iter()
        .map(|w| BoxPanel {
            title: match *w {
                "simulation" => format!(
                    "simulation ({} µs RTT, in-memory store)",
                    fig3_4::SIM_RTT.as_micros()
                ),
                _ => "real UDP loopback (Redis store)".to_string(),
            },
            y_label: "connect + 8 B echo (µs)".into(),
            boxes: fig3_4::MODES
                .iter()
                .map(|m| {
                    let k = (w.to_string(), m.to_string());
                    (
                        m.to_string(),
                        r.samples.get(&k).cloned().unwrap_or_default(),
                    )
                })
                .collect(),
        })
        .collect();
    boxplot_analysis(
        dir,
        "fig3_4",
        "Thesis Fig 3.4: connection establishment (box p25–p75, whiskers p5–p95)",
        &panels,
        r.rows,
        r.notes,
    )
}

/// Draws `panels` as `<stem>.png`/`.svg` in `dir` and returns the analysis (the rows, the
/// notes) with the files written (the figures and the experiment's `samples.csv`).
pub(super) fn boxplot_analysis(
    dir: &Path,
    stem: &str,
    title: &str,
    panels: &[BoxPanel],
    rows: Vec<TableRow>,
    notes: Vec<String>,
) -> Result<(Analysis, Vec<PathBuf>), ReproduceError> {
    let stem = dir.join(stem);
    boxplots(&stem, title, panels)?;
    let files = vec![
        stem.with_extension("png"),
        stem.with_extension("svg"),
        dir.join("samples.csv"),
    ];
    Ok((
        Analysis {
            figures: Vec::new(),
            rows: rows.into_iter().map(row).collect(),
            notes,
        },
        files,
    ))
}
