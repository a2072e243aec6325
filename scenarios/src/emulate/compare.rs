//! `testbed compare`: a simulated and an emulated run of the same scenario side by side: the
//! goodput of all flows and of each flow, and the queueing delay's median and p95 (with its
//! CDFs drawn), each row with its relative difference.

use std::path::Path;

use super::{res_err, EmulateError};

/// One row of `testbed compare`.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareRow {
    /// What is compared.
    pub quantity: String,
    /// Its unit.
    pub unit: String,
    /// The simulated run's value.
    pub simulated: f64,
    /// The emulated run's value.
    pub emulated: f64,
}

impl CompareRow {
    /// `(emulated − simulated) / simulated`, percent.
    pub fn rel_diff_pct(&self) -> f64 {
        (self.emulated - self.simulated) / self.simulated.abs() * 100.0
    }
}

fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[((s.len() - 1) as f64 * q).round() as usize]
}

/// A result directory's summary number.
fn summary_num(dir: &Path, key: &str) -> Result<f64, EmulateError> {
    let s = crate::figures::run_summary(dir).map_err(|e| res_err(dir, e))?;
    s.get(key)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| res_err(&dir.join("summary.csv"), format!("no numeric `{key}`")))
}

/// The per-flow goodputs (bit/s) of a result directory's `flows.csv` (`goodput_mbps`, as
/// both worlds write it).
fn flow_goodputs(dir: &Path) -> Result<Vec<f64>, EmulateError> {
    let path = dir.join("flows.csv");
    let mut rd = csv::Reader::from_path(&path).map_err(|e| res_err(&path, e))?;
    let h = rd.headers().map_err(|e| res_err(&path, e))?.clone();
    let col = h
        .iter()
        .position(|c| c == "goodput_mbps")
        .ok_or_else(|| res_err(&path, "no `goodput_mbps` column"))?;
    let mut out = Vec::new();
    for rec in rd.records() {
        let rec = rec.map_err(|e| res_err(&path, e))?;
        if let Some(x) = rec.get(col).and_then(|v| v.parse::<f64>().ok()) {
            out.push(x * 1e6);
        }
    }
    Ok(out)
}

/// Puts a simulated run (`sim`) and an emulated run (`emu`) of the same scenario side by
/// side: total goodput, per-flow goodput, and the queueing delay distribution of the first
/// monitored port both recorded; writes `compare.csv`, `compare.md` and `compare.png`/`.svg`
/// into `out`. Per-flow goodputs are each flow's own (`flows.csv`): the simulator's over the
/// flow's life, the emulator's from the receiver's first segment to its last byte.
pub fn compare(sim: &Path, emu: &Path, out: &Path) -> Result<Vec<CompareRow>, EmulateError> {
    let mbps = |d: &Path| -> Result<f64, EmulateError> {
        Ok(summary_num(d, "goodput_bytes")? * 8.0 / summary_num(d, "end_s")? / 1e6)
    };
    let mut rows = vec![CompareRow {
        quantity: "goodput, all flows".into(),
        unit: "Mbit/s".into(),
        simulated: mbps(sim)?,
        emulated: mbps(emu)?,
    }];
    let (fs, fe) = (flow_goodputs(sim)?, flow_goodputs(emu)?);
    for (i, (a, b)) in fs.iter().zip(&fe).enumerate() {
        rows.push(CompareRow {
            quantity: format!("goodput, flow {i}"),
            unit: "Mbit/s".into(),
            simulated: a / 1e6,
            emulated: b / 1e6,
        });
    }
    let (ss, se) = (
        crate::figures::run_series(sim).map_err(|e| res_err(sim, e))?,
        crate::figures::run_series(emu).map_err(|e| res_err(emu, e))?,
    );
    let qname = ss
        .keys()
        .find(|k| k.starts_with("qdelay_ms/") && se.contains_key(*k))
        .cloned();
    let mut panels = Vec::new();
    if let Some(q) = &qname {
        let (a, b): (Vec<f64>, Vec<f64>) = (
            ss[q].iter().map(|p| p.1).collect(),
            se[q].iter().map(|p| p.1).collect(),
        );
        for (p, name) in [(0.5, "median"), (0.95, "p95")] {
            rows.push(CompareRow {
                quantity: format!("queueing delay {name} ({q})"),
                unit: "ms".into(),
                simulated: quantile(&a, p),
                emulated: quantile(&b, p),
            });
        }
        let cdf = |v: &[f64]| -> Vec<(f64, f64)> {
            let mut s = v.to_vec();
            s.sort_by(f64::total_cmp);
            let n = s.len().max(1) as f64;
            s.iter()
                .enumerate()
                .map(|(i, &x)| (x, (i + 1) as f64 / n))
                .collect()
        };
        panels.push(crate::figures::Panel {
            title: format!("queueing delay CDF ({q})"),
            x_label: "queueing delay (ms)".into(),
            y_label: "CDF".into(),
            lines: vec![
                crate::figures::Line {
                    label: "simulated".into(),
                    points: cdf(&a),
                    color: 0,
                    dashed: false,
                },
                crate::figures::Line {
                    label: "emulated (real)".into(),
                    points: cdf(&b),
                    color: 1,
                    dashed: false,
                },
            ],
            x_range: None,
            y_range: Some((0.0, 1.0)),
        });
    }
    panels.push(crate::figures::Panel {
        title: "goodput per flow".into(),
        x_label: "flow".into(),
        y_label: "goodput (Mbit/s)".into(),
        lines: vec![
            crate::figures::Line {
                label: "simulated".into(),
                points: fs
                    .iter()
                    .enumerate()
                    .map(|(i, g)| (i as f64, g / 1e6))
                    .collect(),
                color: 0,
                dashed: false,
            },
            crate::figures::Line {
                label: "emulated (real)".into(),
                points: fe
                    .iter()
                    .enumerate()
                    .map(|(i, g)| (i as f64, g / 1e6))
                    .collect(),
                color: 1,
                dashed: false,
            },
        ],
        x_range: None,
        y_range: None,
    });
    std::fs::create_dir_all(out).map_err(|e| res_err(out, e))?;
    let title = format!("simulated {} vs emulated {}", sim.display(), emu.display());
    for fmt in [crate::figures::Format::Png, crate::figures::Format::Svg] {
        crate::figures::draw_panels(&title, &panels, 2, &out.join("compare"), fmt)
            .map_err(|e| res_err(&out.join("compare"), e))?;
    }
    let path = out.join("compare.csv");
    let mut w = csv::Writer::from_path(&path).map_err(|e| res_err(&path, e))?;
    w.write_record(["quantity", "unit", "simulated", "emulated", "rel_diff_pct"])
        .map_err(|e| res_err(&path, e))?;
    let mut md = format!(
        "# Simulated vs emulated\n\nsimulated: `{}`  \nemulated (real, non-deterministic): `{}`\n\n| quantity | unit | simulated | emulated | rel. diff |\n|---|---|---:|---:|---:|\n",
        sim.display(),
        emu.display()
    );
    for r in &rows {
        w.write_record([
            r.quantity.clone(),
            r.unit.clone(),
            format!("{}", r.simulated),
            format!("{}", r.emulated),
            format!("{:.2}", r.rel_diff_pct()),
        ])
        .map_err(|e| res_err(&path, e))?;
        md.push_str(&format!(
            "| {} | {} | {:.3} | {:.3} | {:+.1} % |\n",
            r.quantity,
            r.unit,
            r.simulated,
            r.emulated,
            r.rel_diff_pct()
        ));
    }
    w.flush().map_err(|e| res_err(&path, e))?;
    std::fs::write(out.join("compare.md"), md).map_err(|e| res_err(&out.join("compare.md"), e))?;
    Ok(rows)
}
