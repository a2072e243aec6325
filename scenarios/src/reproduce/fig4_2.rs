//! thesis Fig 4.2: BBR on CCP, goodput and queueing delay over time (48 Mbit/s, 20 ms, 2 BDP):
//! PROBE_RTT dips every ~10 s, the queue near empty outside them.

use std::path::Path;

use super::data::{self, binned_mean, get, mean, median, rate_mbps, summary_num};
use super::figs::arm;
use super::{Analysis, Arm, Ctx, ReproduceError, Row};
use crate::figures::{Line, Panel};

pub(super) fn arms(d: Option<f64>) -> Vec<Arm> {
    vec![arm(
        "ccp-bbr",
        "CCP BBR (per-RTT reports, 20 µs staleness)",
        "thesis-4.2-bbr.toml",
        Vec::new(),
        d,
    )]
}

/// Goodput (100 ms bins) and mean queueing delay per bin of one BBR run, and its dips: runs of
/// bins after the first second whose goodput is below half the median bin's (start, end).
struct BbrRun {
    goodput: Vec<(f64, f64)>,
    qdelay: Vec<(f64, f64)>,
    dips: Vec<(f64, f64)>,
    end_s: f64,
}

const BIN_4_2: f64 = 0.1;

fn bbr_run(dir: &Path) -> Result<BbrRun, ReproduceError> {
    let s = data::series(dir)?;
    let goodput = rate_mbps(get(&s, "delivered_bytes/0", dir)?, BIN_4_2);
    let qdelay = binned_mean(get(&s, "qdelay_ms/bottleneck", dir)?, BIN_4_2);
    let steady: Vec<f64> = goodput.iter().filter(|p| p.0 > 1.0).map(|p| p.1).collect();
    let thr = 0.5 * median(&steady);
    let mut dips: Vec<(f64, f64)> = Vec::new();
    let mut open: Option<f64> = None;
    for &(t, g) in goodput.iter().filter(|p| p.0 > 1.0) {
        match (g < thr, open) {
            (true, None) => open = Some(t - BIN_4_2),
            (false, Some(s)) => {
                dips.push((s, t - BIN_4_2));
                open = None;
            }
            _ => {}
        }
    }
    if let (Some(s), Some(&(t, _))) = (open, goodput.last()) {
        dips.push((s, t));
    }
    Ok(BbrRun {
        goodput,
        qdelay,
        dips,
        end_s: summary_num(dir, "end_s")?,
    })
}

pub(super) fn analyze(ctx: &Ctx) -> Result<Analysis, ReproduceError> {
    let dirs = ctx.runs("ccp-bbr")?;
    let runs: Vec<BbrRun> = dirs.iter().map(|d| bbr_run(d)).collect::<Result<_, _>>()?;
    let r0 = &runs[0];
    let in_dip = |r: &BbrRun, t: f64| {
        r.dips
            .iter()
            .any(|&(a, b)| t > a - 1e-9 && t <= b + BIN_4_2 + 1e-9)
    };
    let dips: Vec<f64> = runs.iter().map(|r| r.dips.len() as f64).collect();
    let spacing: Vec<f64> = runs
        .iter()
        .flat_map(|r| {
            r.dips
                .windows(2)
                .map(|w| w[1].0 - w[0].0)
                .collect::<Vec<_>>()
        })
        .collect();
    let first_dip: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.dips.first().map(|d| d.0))
        .collect();
    let dip_len: Vec<f64> = runs
        .iter()
        .flat_map(|r| r.dips.iter().map(|d| d.1 - d.0).collect::<Vec<_>>())
        .collect();
    let mut q_out = Vec::new();
    let mut g_out = Vec::new();
    for r in &runs {
        q_out.extend(
            r.qdelay
                .iter()
                .filter(|p| p.0 > 1.0 && !in_dip(r, p.0))
                .map(|p| p.1),
        );
        g_out.extend(
            r.goodput
                .iter()
                .filter(|p| p.0 > 1.0 && !in_dip(r, p.0))
                .map(|p| p.1),
        );
    }
    // PROBE_RTT every 10 s of min-RTT age, lasting 200 ms: dips at ~10, ~20.2, ~30.4 s...; one
    // that starts in the last second is not counted as expected.
    let expected = ((r0.end_s - 1.0) / 10.2).floor().max(0.0);
    let max_goodput = 48.0 * 1460.0 / 1500.0;
    let mut rows = vec![
        Row {
            quantity: format!("PROBE_RTT dips (goodput < ½ median) in {:.0} s", r0.end_s),
            unit: "dips".into(),
            ours: mean(&dips),
            compared_with: "paper: one per 10 s".into(),
            reference: Some(expected),
            paper: "RTT-probe dips every 10 s".into(),
            target_pct: Some(0.0),
        },
        Row {
            quantity: "first dip starts at".into(),
            unit: "s".into(),
            ours: mean(&first_dip),
            compared_with: "paper".into(),
            reference: Some(10.0),
            paper: "min RTT expires after 10 s".into(),
            target_pct: Some(5.0),
        },
    ];
    if !spacing.is_empty() {
        rows.push(Row {
            quantity: "spacing of successive dips".into(),
            unit: "s".into(),
            ours: mean(&spacing),
            compared_with: "paper".into(),
            reference: Some(10.0),
            paper: "every 10 s (+ the 200 ms probe)".into(),
            target_pct: Some(5.0),
        });
    }
    rows.extend([
        Row {
            quantity: "dip length (bins below ½ median)".into(),
            unit: "s".into(),
            ours: mean(&dip_len),
            compared_with: "setup: PROBE_RTT 200 ms".into(),
            reference: Some(0.2),
            paper: "PROBE_RTT 200 ms at 4 packets".into(),
            target_pct: None,
        },
        Row {
            quantity: "mean goodput outside dips (after 1 s)".into(),
            unit: "Mbit/s".into(),
            ours: mean(&g_out),
            compared_with: "link rate × 1460/1500".into(),
            reference: Some(max_goodput),
            paper: "(figure: goodput near the 48 Mbit/s link rate)".into(),
            target_pct: Some(5.0),
        },
        Row {
            quantity: "median queueing delay outside dips (after 1 s)".into(),
            unit: "ms".into(),
            ours: median(&q_out),
            compared_with: "–".into(),
            reference: None,
            paper: "(figure only; no number stated)".into(),
            target_pct: None,
        },
    ]);
    let panels = vec![
        Panel {
            title: format!("goodput, {BIN_4_2:.1} s bins (seed {})", ctx.seeds[0]),
            x_label: "time (s)".into(),
            y_label: "goodput (Mbit/s)".into(),
            lines: vec![Line {
                label: "CCP BBR goodput".into(),
                points: r0.goodput.clone(),
                color: 0,
                dashed: false,
            }],
            x_range: Some((0.0, r0.end_s)),
            y_range: None,
        },
        Panel {
            title: format!(
                "queueing delay at the bottleneck, {BIN_4_2:.1} s means (seed {})",
                ctx.seeds[0]
            ),
            x_label: "time (s)".into(),
            y_label: "queueing delay (ms)".into(),
            lines: vec![Line {
                label: "CCP BBR queueing delay".into(),
                points: r0.qdelay.clone(),
                color: 1,
                dashed: false,
            }],
            x_range: Some((0.0, r0.end_s)),
            y_range: None,
        },
    ];
    Ok(Analysis {
        figures: vec![(
            "bbr".into(),
            "thesis Fig 4.2: BBR on CCP, 48 Mbit/s, 20 ms RTT, 160-packet buffer".into(),
            panels,
            1,
        )],
        rows,
        notes: vec![
            "Goodput = in-order bytes delivered to the receiver per 100 ms bin (delivered_bytes series); queueing delay = backlog ÷ link rate sampled every 10 ms, averaged per bin.".into(),
            "A dip is a run of bins, after the first second, whose goodput is below half the median bin's.".into(),
            "Numbers are means over seeds; the figure shows the first seed.".into(),
        ],
    })
}
