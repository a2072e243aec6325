//! thesis Fig 4.4: Cubic fidelity, CCP Cubic's window over time against native Cubic's (96
//! Mbit/s, 20 ms, 1 BDP).

use super::data::{self, get, mean, summary_num, time_mean};
use super::figs::{arm, goodput_mbps, per_run, MSS};
use super::{Analysis, Arm, Ctx, ReproduceError, Row};
use crate::figures::{Line, Panel};

pub(super) fn arms(d: Option<f64>) -> Vec<Arm> {
    vec![
        arm(
            "ccp",
            "CCP Cubic (agent, per-RTT reports, 20 µs staleness)",
            "thesis-4.4-cubic.toml",
            Vec::new(),
            d,
        ),
        arm(
            "native",
            "native transport Cubic (HyStart on)",
            "thesis-4.4-cubic.toml",
            vec!["workload.0.cc=\"cubic\"".into()],
            d,
        ),
    ]
}

/// Reductions after slow start are counted from this time on (the slow-start overshoot of CCP
/// Cubic, which has no HyStart, cuts several times in the first second).
const AFTER_SLOW_START_S: f64 = 3.0;

/// A window's reductions after [`AFTER_SLOW_START_S`]: times at which it fell below 80 % of its
/// peak since the last one.
fn reductions(cwnd: &[(f64, f64)]) -> Vec<f64> {
    let mut out = Vec::new();
    let mut peak = 0.0f64;
    for &(t, w) in cwnd.iter().filter(|p| p.0 >= AFTER_SLOW_START_S) {
        if w < 0.8 * peak {
            out.push(t);
            peak = w;
        } else {
            peak = peak.max(w);
        }
    }
    out
}

pub(super) fn analyze(ctx: &Ctx) -> Result<Analysis, ReproduceError> {
    struct Arm44 {
        cwnd: Vec<Vec<(f64, f64)>>,
        goodput: Vec<f64>,
        drops: Vec<f64>,
    }
    let load = |name: &str| -> Result<Arm44, ReproduceError> {
        let dirs = ctx.runs(name)?;
        let mut cwnd = Vec::new();
        for d in dirs {
            let s = data::series(d)?;
            cwnd.push(
                get(&s, "cwnd_bytes/0", d)?
                    .iter()
                    .map(|&(t, v)| (t, v / MSS))
                    .collect(),
            );
        }
        Ok(Arm44 {
            cwnd,
            goodput: per_run(dirs, goodput_mbps)?,
            drops: per_run(dirs, |d| summary_num(d, "drops/bottleneck"))?,
        })
    };
    let (c, n) = (load("ccp")?, load("native")?);
    let mean_cwnd = |a: &Arm44| mean(&a.cwnd.iter().map(|c| time_mean(c)).collect::<Vec<_>>());
    let red_count = |a: &Arm44| {
        mean(
            &a.cwnd
                .iter()
                .map(|c| reductions(c).len() as f64)
                .collect::<Vec<_>>(),
        )
    };
    let period = |a: &Arm44| {
        let gaps: Vec<f64> = a
            .cwnd
            .iter()
            .flat_map(|c| {
                reductions(c)
                    .windows(2)
                    .map(|w| w[1] - w[0])
                    .collect::<Vec<_>>()
            })
            .collect();
        mean(&gaps)
    };
    let paper = "qualitative: same cubic shape, minor timing drift";
    let mut rows = vec![
        Row {
            quantity: "mean cwnd (time average)".into(),
            unit: "packets".into(),
            ours: mean_cwnd(&c),
            compared_with: "native".into(),
            reference: Some(mean_cwnd(&n)),
            paper: paper.into(),
            target_pct: Some(10.0),
        },
        Row {
            quantity: "goodput".into(),
            unit: "Mbit/s".into(),
            ours: mean(&c.goodput),
            compared_with: "native".into(),
            reference: Some(mean(&n.goodput)),
            paper: paper.into(),
            target_pct: Some(5.0),
        },
        Row {
            quantity: "window reductions after 3 s (cwnd < 80 % of its peak)".into(),
            unit: "count".into(),
            ours: red_count(&c),
            compared_with: "native".into(),
            reference: Some(red_count(&n)),
            paper: paper.into(),
            target_pct: None,
        },
    ];
    let (pc, pn) = (period(&c), period(&n));
    if pc.is_finite() && pn.is_finite() {
        rows.push(Row {
            quantity: "cubic epoch (time between reductions after 3 s)".into(),
            unit: "s".into(),
            ours: pc,
            compared_with: "native".into(),
            reference: Some(pn),
            paper: paper.into(),
            target_pct: Some(25.0),
        });
    }
    rows.push(Row {
        quantity: "bottleneck drops".into(),
        unit: "packets".into(),
        ours: mean(&c.drops),
        compared_with: "native".into(),
        reference: Some(mean(&n.drops)),
        paper: "(not reported)".into(),
        target_pct: None,
    });
    let panels = vec![Panel {
        title: format!("congestion window, seed {}", ctx.seeds[0]),
        x_label: "time (s)".into(),
        y_label: "cwnd (packets of 1460 B)".into(),
        lines: vec![
            Line {
                label: "CCP Cubic".into(),
                points: c.cwnd[0].clone(),
                color: 0,
                dashed: false,
            },
            Line {
                label: "native Cubic".into(),
                points: n.cwnd[0].clone(),
                color: 1,
                dashed: true,
            },
        ],
        x_range: None,
        y_range: None,
    }];
    Ok(Analysis {
        figures: vec![(
            "cubic_cwnd".into(),
            "thesis Fig 4.4: Cubic on CCP vs native, 96 Mbit/s, 20 ms RTT, 160-packet buffer"
                .into(),
            panels,
            1,
        )],
        rows,
        notes: vec![
            "cwnd sampled every 10 ms. Native Cubic leaves slow start by HyStart (Linux's default); CCP Cubic has no HyStart and leaves it at the first loss.".into(),
            "Numbers are means over seeds; the figure shows the first seed.".into(),
        ],
    })
}
