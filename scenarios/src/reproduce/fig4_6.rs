//! thesis Fig 4.6: flow completion times under a dynamic workload. 50 servers send flows drawn
//! from the internet-core size distribution (a reconstruction of the thesis's CAIDA workload)
//! to one client, Poisson arrivals at 50 % of a 192 Mbit/s, 100 ms RTT bottleneck with a 1-BDP
//! (1,600-packet) buffer; CCP Reno (per-RTT reports, 20 µs staleness) against native Reno.
//! FCT CDFs per size class (≤ 10 KB, 10 KB–1 MB, > 1 MB) and the thesis's percentile ratios.
//!
//! `--duration` is the span of the arrivals (default 138 s ≈ 100,000 flows, as the thesis);
//! each run then continues for up to [`DRAIN_S`] until every flow has finished (flows still
//! unfinished then are right-censored, as `summary.csv` treats them).

use std::path::Path;

use super::data::{quantile, summary_num, FlowsCsv};
use super::{Analysis, Arm, Ctx, ReproduceError, Row};
use crate::figures::{Line, Panel};
use crate::runner::censored_quantile;

/// The scenario both arms run.
const SCENARIO: &str = "thesis-4.6-fct.toml";
/// Seconds of Poisson arrivals by default: 100,000 flows / (0.5 × 192 Mbit/s ÷ 16,550 B mean).
pub(super) const ARRIVALS_S: f64 = 138.0;
/// Seconds a run may continue after the last arrival for the flows in flight to finish.
pub(super) const DRAIN_S: f64 = 60.0;

/// Bottleneck rate (bit/s) and one-way propagation delay (s) of the scenario.
const RATE_BPS: f64 = 192e6;
const ONE_WAY_S: f64 = 0.05;

/// Size classes: (name, label, lower bound exclusive, upper bound inclusive), bytes.
const CLASSES: [(&str, &str, u64, u64); 3] = [
    ("small", "≤ 10 KB", 0, 10_000),
    ("medium", "10 KB – 1 MB", 10_000, 1_000_000),
    ("large", "> 1 MB", 1_000_000, u64::MAX),
];

/// (arm, label, cc override).
const ARMS: [(&str, &str, &str); 2] = [
    ("native", "native Reno (transport)", "\"reno\""),
    (
        "ccp",
        "CCP Reno (agent, per-RTT reports, 20 µs staleness)",
        "{ccp=\"reno\",params={report=\"per_rtt\"},staleness_us=20.0}",
    ),
];

pub(super) fn arms(d: Option<f64>) -> Vec<Arm> {
    ARMS.iter()
        .map(|(name, label, cc)| {
            let mut set = vec![format!("workload.0.cc={cc}")];
            if let Some(d) = d {
                set.push(format!("workload.0.stop_s={d}"));
                set.push(format!("duration_s={}", d + DRAIN_S));
            }
            Arm {
                name: (*name).into(),
                label: (*label).into(),
                scenario: SCENARIO.into(),
                set,
            }
        })
        .collect()
}

/// One flow of a run: size (bytes), FCT or, if unfinished, the time from its start to the end
/// of the run (a lower bound), and whether it is censored.
#[derive(Clone, Copy)]
struct Flow {
    size: u64,
    fct_s: f64,
    censored: bool,
}

/// The flows of a run and their bytes.
struct RunFlows {
    flows: Vec<Flow>,
    bytes: f64,
}

fn run_flows(dir: &Path) -> Result<RunFlows, ReproduceError> {
    let end_s = summary_num(dir, "end_s")?;
    let mut f = FlowsCsv::open(dir)?;
    let (c_size, c_start, c_fct) = (f.col("size_bytes")?, f.col("start_s")?, f.col("fct_s")?);
    let mut flows = Vec::new();
    let mut bytes = 0.0;
    for rec in f.rows()? {
        let Some(size) = rec.get(c_size).and_then(|v| v.parse::<u64>().ok()) else {
            continue;
        };
        bytes += size as f64;
        let start: f64 = rec.get(c_start).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        let flow = match rec.get(c_fct).and_then(|v| v.parse::<f64>().ok()) {
            Some(f) => Flow {
                size,
                fct_s: f,
                censored: false,
            },
            None => Flow {
                size,
                fct_s: (end_s - start).max(0.0),
                censored: true,
            },
        };
        flows.push(flow);
    }
    Ok(RunFlows { flows, bytes })
}

/// An arm's flows pooled over its runs, by class, sorted as the runner sorts them (value,
/// finished first).
struct ArmFlows {
    all: Vec<(f64, bool)>,
    class: [Vec<(f64, bool)>; 3],
    bytes: f64,
    /// Finished flows faster than propagation + serialization at the bottleneck rate.
    too_fast: usize,
}

fn class_of(size: u64) -> usize {
    CLASSES
        .iter()
        .position(|&(_, _, lo, hi)| size > lo && size <= hi)
        .unwrap_or(2)
}

fn arm_flows(dirs: &[std::path::PathBuf]) -> Result<ArmFlows, ReproduceError> {
    let mut a = ArmFlows {
        all: Vec::new(),
        class: [Vec::new(), Vec::new(), Vec::new()],
        bytes: 0.0,
        too_fast: 0,
    };
    for d in dirs {
        let r = run_flows(d)?;
        a.bytes += r.bytes;
        for f in r.flows {
            let ideal = ONE_WAY_S + f.size as f64 * 8.0 / RATE_BPS;
            if !f.censored && f.fct_s < ideal - 1e-9 {
                a.too_fast += 1;
            }
            a.all.push((f.fct_s, f.censored));
            a.class[class_of(f.size)].push((f.fct_s, f.censored));
        }
    }
    let sort = |v: &mut Vec<(f64, bool)>| {
        v.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    };
    sort(&mut a.all);
    for c in &mut a.class {
        sort(c);
    }
    Ok(a)
}

/// The censored quantile (value, censored), NaN without flows.
fn cq(v: &[(f64, bool)], q: f64) -> (f64, bool) {
    censored_quantile(v, q).unwrap_or((f64::NAN, false))
}

/// The CDF of the finished flows over all flows of the class (stops below 1 when some did not
/// finish), at most `max_points` points, x scaled by `scale`.
fn censored_cdf(v: &[(f64, bool)], max_points: usize, scale: f64) -> Vec<(f64, f64)> {
    let n = v.len();
    let done: Vec<f64> = v.iter().filter(|x| !x.1).map(|x| x.0).collect();
    if done.is_empty() {
        return Vec::new();
    }
    let k = max_points.clamp(2, done.len().max(2));
    let mut out = vec![(done[0] * scale, 0.0)];
    for j in 1..=k {
        let idx = ((j as f64 / k as f64) * done.len() as f64).ceil() as usize;
        let idx = idx.clamp(1, done.len());
        out.push((done[idx - 1] * scale, idx as f64 / n as f64));
    }
    out.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    out
}

/// The points of a CDF up to the right end of `range`, extended flat to it.
fn clip(pts: Vec<(f64, f64)>, range: Option<(f64, f64)>) -> Vec<(f64, f64)> {
    let Some((_, hi)) = range else { return pts };
    let mut out: Vec<(f64, f64)> = pts.into_iter().take_while(|p| p.0 <= hi).collect();
    if let Some(&(_, y)) = out.last() {
        out.push((hi, y));
    }
    out
}

pub(super) fn analyze(ctx: &Ctx) -> Result<Analysis, ReproduceError> {
    let native = arm_flows(ctx.runs("native")?)?;
    let ccp = arm_flows(ctx.runs("ccp")?)?;
    let seeds = ctx.seeds.len();
    let mut rows = Vec::new();
    let mut abs_rows = Vec::new();
    // (label, class or None for all, quantile, paper's relative difference %, paper text).
    type Claim = (&'static str, Option<usize>, f64, Option<f64>, &'static str);
    let claims: [Claim; 7] = [
        (
            "all flows: median FCT",
            None,
            0.5,
            Some(-0.02),
            "CCP −0.02 % vs kernel",
        ),
        (
            "all flows: p75 FCT",
            None,
            0.75,
            Some(3.0),
            "CCP +3 % vs kernel",
        ),
        (
            "all flows: p95 FCT",
            None,
            0.95,
            Some(30.0),
            "CCP +30 % vs kernel",
        ),
        (
            "small flows (≤ 10 KB): median FCT",
            Some(0),
            0.5,
            Some(0.0),
            "unaffected by congestion control (no number; 0 % taken)",
        ),
        (
            "small flows (≤ 10 KB): p95 FCT",
            Some(0),
            0.95,
            Some(0.0),
            "unaffected by congestion control (no number; 0 % taken)",
        ),
        (
            "medium flows (10 KB–1 MB): median FCT",
            Some(1),
            0.5,
            Some(-7.0),
            "CCP −7 % vs kernel",
        ),
        (
            "large flows (> 1 MB): median FCT",
            Some(2),
            0.5,
            Some(22.0),
            "CCP +22 % vs kernel",
        ),
    ];
    for (label, class, q, paper_pct, paper) in claims {
        let (nv, cv) = match class {
            None => (&native.all, &ccp.all),
            Some(c) => (&native.class[c], &ccp.class[c]),
        };
        let (n, n_cens) = cq(nv, q);
        let (c, c_cens) = cq(cv, q);
        let cens = if n_cens || c_cens {
            " (censored: a lower bound)"
        } else {
            ""
        };
        rows.push(Row {
            quantity: format!(
                "{label}, CCP ÷ native ({:.1} ms ÷ {:.1} ms; {} flows){cens}",
                c * 1e3,
                n * 1e3,
                nv.len()
            ),
            unit: "ratio".into(),
            ours: c / n,
            compared_with: "paper's CCP ÷ kernel".into(),
            reference: paper_pct.map(|p| 1.0 + p / 100.0),
            paper: paper.into(),
            target_pct: Some(10.0),
        });
        abs_rows.push(Row {
            quantity: format!("{label}{cens}"),
            unit: "ms".into(),
            ours: c * 1e3,
            compared_with: "native Reno".into(),
            reference: Some(n * 1e3),
            paper: paper.into(),
            target_pct: None,
        });
    }
    rows.extend(abs_rows);
    // The workload against the thesis's description of its 100,000 flows.
    let per_run = |v: f64| v / seeds.max(1) as f64;
    let n_all = per_run(native.all.len() as f64);
    rows.extend([
        Row {
            quantity: "flows per run (native arm)".into(),
            unit: "flows".into(),
            ours: n_all,
            compared_with: "paper".into(),
            reference: Some(100_000.0),
            paper: "100,000 flows".into(),
            target_pct: None,
        },
        Row {
            quantity: "share of flows ≤ 10 KB".into(),
            unit: "%".into(),
            ours: 100.0 * native.class[0].len() as f64 / native.all.len().max(1) as f64,
            compared_with: "paper".into(),
            reference: Some(97.606),
            paper: "97,606 of 100,000".into(),
            target_pct: None,
        },
        Row {
            quantity: "flows > 1 MB per 100,000".into(),
            unit: "flows".into(),
            ours: 1e5 * native.class[2].len() as f64 / native.all.len().max(1) as f64,
            compared_with: "paper".into(),
            reference: Some(95.0),
            paper: "95 flows > 1 MB".into(),
            target_pct: None,
        },
        Row {
            quantity: "bytes per 100,000 flows".into(),
            unit: "GB".into(),
            ours: 1e5 * native.bytes / native.all.len().max(1) as f64 / 1e9,
            compared_with: "paper".into(),
            reference: Some(1.7),
            paper: "1.7 GB in total".into(),
            target_pct: None,
        },
    ]);
    for (name, a) in [("native", &native), ("CCP", &ccp)] {
        let unfinished = a.all.iter().filter(|x| x.1).count();
        rows.push(Row {
            quantity: format!("{name}: flows unfinished at the run's end (censored), per run"),
            unit: "flows".into(),
            ours: per_run(unfinished as f64),
            compared_with: "expected".into(),
            reference: Some(0.0),
            paper: "(all flows complete)".into(),
            target_pct: None,
        });
        rows.push(Row {
            quantity: format!(
                "{name}: finished flows faster than 50 ms + size ÷ 192 Mbit/s (impossible)"
            ),
            unit: "flows".into(),
            ours: a.too_fast as f64,
            compared_with: "expected".into(),
            reference: Some(0.0),
            paper: "–".into(),
            target_pct: None,
        });
    }
    // Panels: x in ms for small and medium flows, in s for large ones; each cut at the 99th
    // percentile of both arms' finished flows so the body of the distribution is visible.
    let mut panels = Vec::new();
    for (ci, (_, label, _, _)) in CLASSES.iter().enumerate() {
        let (scale, unit) = if ci == 2 { (1.0, "s") } else { (1e3, "ms") };
        let (nv, cv) = (&native.class[ci], &ccp.class[ci]);
        let finished: Vec<f64> = nv
            .iter()
            .chain(cv.iter())
            .filter(|x| !x.1)
            .map(|x| x.0 * scale)
            .collect();
        let x_range = if finished.len() > 1 {
            let lo = finished.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = quantile(&finished, 0.99);
            (hi > lo).then_some((lo, hi))
        } else {
            None
        };
        let cut = if x_range.is_some() { ", x to p99" } else { "" };
        panels.push(Panel {
            title: format!("flows {label}: {} per arm{cut}", nv.len()),
            x_label: format!("flow completion time ({unit})"),
            y_label: "CDF (fraction of the class's flows)".into(),
            lines: vec![
                Line {
                    label: "native Reno".into(),
                    points: clip(censored_cdf(nv, 800, scale), x_range),
                    color: 1,
                    dashed: true,
                },
                Line {
                    label: "CCP Reno".into(),
                    points: clip(censored_cdf(cv, 800, scale), x_range),
                    color: 0,
                    dashed: false,
                },
            ],
            x_range,
            y_range: Some((0.0, 1.0)),
        });
    }
    Ok(Analysis {
        figures: vec![(
            "fct_cdfs".into(),
            format!(
                "thesis Fig 4.6: FCT CDFs, internet-core sizes at 50 % load, 192 Mbit/s, 100 ms RTT, 1,600 packets, Reno; {seeds} seed(s) pooled"
            ),
            panels,
            3,
        )],
        rows,
        notes: vec![
            "Setup: star, 50 servers (10 Gbit/s, 0.5 ms links) → switch → client (192 Mbit/s, 49.5 ms; 1,600-packet drop-tail at the switch), RTT 100 ms. Flow sizes from scenarios/data/internet-core.cdf, a reconstruction fitted to the thesis's stated facts (97.6 % ≤ 10 KB, 95 flows > 1 MB per 100,000, 1.7 GB), not the original CAIDA file. Poisson arrivals at 50 % of 192 Mbit/s for --duration seconds (default 138 s ≈ 100,000 flows), each from a uniformly chosen server; runs continue until every flow finished, at most 60 s after the last arrival.".into(),
            "Differs from the thesis: it ran the flows on persistent connections with slow-start-after-idle off; our transport opens one connection per flow (initial window 10 segments, 200 ms min RTO). `handshake = false` removes the per-flow SYN round trip a persistent connection would not pay, and `initial_rto_ms = 300` stands in for its RTT estimate (the RTO a SYN's sample would give on this path, max(3 × 100 ms, 200 ms), instead of the 1 s a flow without any RTT sample starts from); no window, ssthresh or RTT state carries over between a server's flows. The thesis's long-lived connections would start later flows from the window the previous ones left, which this setup cannot show.".into(),
            "FCT = from the flow's first byte handed to the transport to its last byte delivered to the client. Quantiles are nearest-rank over all flows of the arm pooled over seeds; a flow unfinished at the end of its run counts at its elapsed time (right-censored, as summary.csv does) and a quantile it reaches is flagged as a lower bound. CDFs are over all flows of the class and stop below 1 when some did not finish; each panel's x axis ends at the 99th percentile of the finished flows of both arms.".into(),
            "Ratio rows: CCP's quantile ÷ native's, compared with the thesis's CCP ÷ kernel (1 + its percentage); target ±10 % of that ratio. 'small flows unaffected' is taken as a ratio of 1. The absolute rows give both arms' quantiles.".into(),
            "CCP Reno: slow start and AIMD in the agent, one report per RTT, 20 µs datapath–agent staleness (the thesis's setting); native Reno grows its window per ACK in the transport.".into(),
        ],
    })
}
