//! The recipes: per figure, its arms and how its runs become a figure and a table. Setups and
//! gap defaults follow FIGURES.md ("The thesis, chapter 4 — CCP").

use std::path::{Path, PathBuf};

use super::data::{self, cdf, get, mean, median, summary_num};
use super::{Analysis, Arm, Ctx, Figure, ReproduceError, Row};
use crate::figures::{Line, Panel};

/// The figures, in paper order.
pub(super) static FIGURES: &[Figure] = &[
    Figure {
        id: "thesis-3.4",
        title: "Connection establishment: connect + 8-byte echo, plain UDP vs 1-RTT vs 0-RTT vs rendezvous negotiation, simulated and on real loopback (--seeds: trials per variant)",
        default_seeds: 1000,
        default_duration_s: 0.0,
        arms: super::bertha::no_arms,
        analyze: super::bertha::no_analysis,
        custom: Some(super::bertha::fig_3_4),
    },
    Figure {
        id: "thesis-4.2",
        title: "BBR on CCP: goodput and queueing delay over time (48 Mbit/s, 20 ms, 2 BDP)",
        default_seeds: 1,
        default_duration_s: 30.0,
        arms: super::fig4_2::arms,
        analyze: super::fig4_2::analyze,
        custom: None,
    },
    Figure {
        id: "thesis-4.3",
        title: "Slow-start placement: CCP Reno slow start in the agent, in the datapath, rate-based, vs native (48 Mbit/s, 100 ms, 1 BDP)",
        default_seeds: 1,
        default_duration_s: 3.0,
        arms: super::fig4_3::arms,
        analyze: super::fig4_3::analyze,
        custom: None,
    },
    Figure {
        id: "thesis-4.4",
        title: "Cubic on CCP vs native Cubic: congestion window over time (96 Mbit/s, 20 ms, 1 BDP)",
        default_seeds: 1,
        default_duration_s: 60.0,
        arms: super::fig4_4::arms,
        analyze: super::fig4_4::analyze,
        custom: None,
    },
    Figure {
        id: "thesis-4.5",
        title: "Per-20 ms throughput and queueing delay CDFs, CCP vs native NewReno and Cubic, fixed/cell/drop",
        default_seeds: 20,
        default_duration_s: 60.0,
        arms: arms_4_5,
        analyze: analyze_4_5,
        custom: None,
    },
    Figure {
        id: "thesis-4.9",
        title: "Incast 50→1 at 10 and 40 Gbit/s, flows of 10/100/1000 packets: CCP Reno tail completion vs reporting interval, over native Reno",
        default_seeds: 50,
        default_duration_s: 1.0,
        arms: super::fig4_9::arms,
        analyze: super::fig4_9::analyze,
        custom: None,
    },
    Figure {
        id: "thesis-4.10",
        title: "Flow aggregation: 5 flows of 20 s, 10 s apart, aggregate vs per-flow CCP Reno",
        default_seeds: 1,
        default_duration_s: 62.0,
        arms: arms_4_10,
        analyze: analyze_4_10,
        custom: None,
    },
    // The sharded key-value store experiments (issue 12), after the scenario figures so the
    // ids listed before them keep their order.
    Figure {
        id: "thesis-3.9",
        title: "Client vs server sharding vs offered load: achieved throughput and p95 latency, UDP-forwarding sharder and in-process dispatcher (simulated, measured loopback costs; --seeds: seeds per point, --duration: measured seconds per run)",
        default_seeds: 1,
        default_duration_s: super::bertha_kv::DEFAULT_DURATION_S,
        arms: super::bertha::no_arms,
        analyze: super::bertha::no_analysis,
        custom: Some(super::bertha_kv::fig_3_9),
    },
    Figure {
        id: "thesis-3.10",
        title: "Raw-offset (Opt) vs deserializing (No-Opt) server sharder vs offered load (simulated, measured loopback costs; --seeds: seeds per point, --duration: measured seconds per run)",
        default_seeds: 1,
        default_duration_s: super::bertha_kv::DEFAULT_DURATION_S,
        arms: super::bertha::no_arms,
        analyze: super::bertha::no_analysis,
        custom: Some(super::bertha_kv::fig_3_10),
    },
    Figure {
        id: "hotnets-5",
        title: "Sharding implementations chosen by negotiation: client push / switch offload / mixed / server fallback, p95 latency vs offered load (simulated, measured loopback costs; --seeds: seeds per point, --duration: measured seconds per run)",
        default_seeds: 1,
        default_duration_s: super::bertha_kv::DEFAULT_DURATION_S,
        arms: super::bertha::no_arms,
        analyze: super::bertha::no_analysis,
        custom: Some(super::bertha_kv::hotnets_5),
    },
    Figure {
        id: "offload-contention",
        title: "Two applications want a switch sharding offload with room for one: what negotiation decides and why, and both applications' p95 latency (simulated, measured loopback costs; --seeds: seeds per point, --duration: measured seconds per run)",
        default_seeds: 1,
        default_duration_s: super::bertha_kv::DEFAULT_DURATION_S,
        arms: super::bertha::no_arms,
        analyze: super::bertha::no_analysis,
        custom: Some(super::bertha_offload::offload_contention),
    },
    Figure {
        id: "hotnets-3",
        title: "Local fast path: same-host RPC latency over loopback TCP and UDP, a Bertha connection whose local-or-remote Chunnel picks a Unix socket, and raw Unix sockets, per request size (real loopback; --seeds: connections per variant and size, 3 timed RPCs each)",
        default_seeds: 1000,
        default_duration_s: 0.0,
        arms: super::bertha::no_arms,
        analyze: super::bertha::no_analysis,
        custom: Some(super::bertha_local::hotnets_3),
    },
    Figure {
        id: "thesis-3.5",
        title: "Colocated microservices: echo latency over plain UDP, always-encrypted (encrypt + local fast path) and encryption fused with the local fast path by an optimization pass (real loopback; --seeds: connections per variant, 100 timed 64-byte requests each)",
        default_seeds: 200,
        default_duration_s: 0.0,
        arms: super::bertha::no_arms,
        analyze: super::bertha::no_analysis,
        custom: Some(super::bertha_local::thesis_3_5),
    },
    Figure {
        id: "thesis-3.3",
        title: "Throughput overhead: goodput of a bulk transfer, raw socket vs the negotiated no-op stack, over UDP, Unix, TCP and in-process base connections with 1, 2, 4, 8 connections (real loopback; --seeds: trials per point; --duration: each connection's file is what the paper's 10 Gbit/s NIC moves in that time, default 0.04 s = 50 MB)",
        default_seeds: 10,
        default_duration_s: 0.04,
        arms: super::bertha::no_arms,
        analyze: super::bertha::no_analysis,
        custom: Some(super::bertha_local::thesis_3_3),
    },
    Figure {
        id: "hotnets-4",
        title: "Dynamic name resolution: a new connection every 100 ms to the service `echo`, whose only instance is remote until a local one appears at 4 s; request latency over time (simulated, cost model from our loopback figures; --duration: simulated seconds, the local instance appears at half of it)",
        default_seeds: 1,
        default_duration_s: 8.0,
        arms: super::bertha::no_arms,
        analyze: super::bertha::no_analysis,
        custom: Some(super::bertha_local::hotnets_4),
    },
    Figure {
        id: "thesis-3.11",
        title: "Datapath portability and overhead: the sharded store on UDP, Unix datagram, TCP and in-process datapaths, each with negotiation + Chunnels, Chunnels without negotiation, and Chunnels inlined; p95 latency and achieved throughput vs offered load (real loopback; --seeds: repetitions per point, medians; --duration: measured seconds per run)",
        default_seeds: 1,
        default_duration_s: super::bertha_portability::DEFAULT_DURATION_3_11_S,
        arms: super::bertha::no_arms,
        analyze: super::bertha::no_analysis,
        custom: Some(super::bertha_portability::thesis_3_11),
    },
    // Appended after the existing ids so `--list` keeps its order.
    Figure {
        id: "thesis-4.6",
        title: "Flow completion times, CCP Reno vs native Reno: internet-core sizes, Poisson at 50 % load, 50 servers → 1 client, 192 Mbit/s, 100 ms RTT, 1 BDP (--duration: seconds of arrivals, 138 s ≈ 100,000 flows; runs then drain ≤ 60 s)",
        default_seeds: 5,
        default_duration_s: super::fig4_6::ARRIVALS_S,
        arms: super::fig4_6::arms,
        analyze: super::fig4_6::analyze,
        custom: None,
    },
    Figure {
        id: "thesis-4.11",
        title: "Write once, run anywhere: the same CCP Copa (12 Mbit/s, 20 ms, 20 packets) and CCP Cubic (24 Mbit/s, 20 ms, 40 packets) on kernel-like, DPDK/mTCP-like and QUIC-like datapath personalities: cwnd over time",
        default_seeds: 1,
        default_duration_s: 30.0,
        arms: super::fig4_11::arms,
        analyze: super::fig4_11::analyze,
        custom: None,
    },
    Figure {
        id: "thesis-4.7.2",
        title: "Copa under ACK compression (ACKs released every 5 ms): per-packet vs naive min-RTT estimator, goodput and queueing delay against the thesis's table (12 Mbit/s, 25 ms, 25 packets)",
        default_seeds: 1,
        default_duration_s: 30.0,
        arms: super::fig4_7_2::arms,
        analyze: super::fig4_7_2::analyze,
        custom: None,
    },
    Figure {
        id: "thesis-4.9-10us",
        title: "Fig 4.9's grid at a 10 µs base RTT (the reading of \"500 µs = 50 RTTs\"): CCP Reno incast tail completion vs reporting interval, over native Reno",
        default_seeds: 50,
        default_duration_s: 1.0,
        arms: super::fig4_9::arms_10us,
        analyze: super::fig4_9::analyze_10us,
        custom: None,
    },
];

/// MSS of every paper scenario (bytes per packet of window).
pub(super) const MSS: f64 = 1460.0;

pub(super) fn ccp(alg: &str) -> String {
    format!("workload.0.cc={{ccp=\"{alg}\",params={{report=\"per_rtt\"}},staleness_us=20.0}}")
}

pub(super) fn arm(
    name: &str,
    label: &str,
    scenario: &str,
    set: Vec<String>,
    d: Option<f64>,
) -> Arm {
    let mut set = set;
    if let Some(d) = d {
        set.push(format!("duration_s={d}"));
    }
    Arm {
        name: name.into(),
        label: label.into(),
        scenario: scenario.into(),
        set,
    }
}

/// Per-seed values of `f` over an arm's runs.
pub(super) fn per_run(
    dirs: &[PathBuf],
    f: impl Fn(&Path) -> Result<f64, ReproduceError>,
) -> Result<Vec<f64>, ReproduceError> {
    dirs.iter().map(|d| f(d)).collect()
}

pub(super) fn first(dirs: &[PathBuf]) -> Result<&PathBuf, ReproduceError> {
    dirs.first()
        .ok_or_else(|| ReproduceError::Analysis("an arm without runs".into()))
}

/// Mean goodput of a run over its whole duration, Mbit/s.
pub(super) fn goodput_mbps(dir: &Path) -> Result<f64, ReproduceError> {
    Ok(summary_num(dir, "goodput_bytes")? * 8.0 / summary_num(dir, "end_s")? / 1e6)
}

// ---------------------------------------------------------------------------------------------
// thesis Fig 4.5: throughput and delay distributions.

const SETTINGS_4_5: [(&str, &str); 3] = [
    ("fixed", "fixed: 96 Mbit/s, 1 BDP"),
    ("cell", "cell: Verizon LTE, 100 pkts"),
    ("drop", "drop: 96 Mbit/s, 0.01 % loss"),
];
const ALGS_4_5: [(&str, &str); 2] = [("reno", "NewReno"), ("cubic", "Cubic")];

fn arms_4_5(d: Option<f64>) -> Vec<Arm> {
    let mut v = Vec::new();
    for (s, slabel) in SETTINGS_4_5 {
        for (a, alabel) in ALGS_4_5 {
            v.push(arm(
                &format!("{s}-{a}-native"),
                &format!("{slabel}, native {alabel}"),
                &format!("thesis-4.5-{s}.toml"),
                vec![format!("workload.0.cc=\"{a}\"")],
                d,
            ));
            v.push(arm(
                &format!("{s}-{a}-ccp"),
                &format!("{slabel}, CCP {alabel}"),
                &format!("thesis-4.5-{s}.toml"),
                vec![ccp(a)],
                d,
            ));
        }
    }
    v
}

/// Per-20 ms throughput at the bottleneck (Mbit/s) and mean queueing delay of the packets that
/// left the queue in each 20 ms window (ms), pooled over an arm's runs.
fn windows_4_5(dirs: &[PathBuf]) -> Result<(Vec<f64>, Vec<f64>), ReproduceError> {
    let (mut tput, mut delay) = (Vec::new(), Vec::new());
    for d in dirs {
        let s = data::series(d)?;
        let rate = summary_num(d, "rate_bps/bottleneck")?;
        tput.extend(
            get(&s, "util/bottleneck", d)?
                .iter()
                .map(|p| p.1 * rate / 1e6),
        );
        delay.extend(get(&s, "sojourn_ms/bottleneck", d)?.iter().map(|p| p.1));
    }
    Ok((tput, delay))
}

fn analyze_4_5(ctx: &Ctx) -> Result<Analysis, ReproduceError> {
    let mut rows = Vec::new();
    let mut tput_panels = Vec::new();
    let mut delay_panels = Vec::new();
    for (s, slabel) in SETTINGS_4_5 {
        let mut tl = Vec::new();
        let mut dl = Vec::new();
        for (ai, (a, alabel)) in ALGS_4_5.iter().enumerate() {
            let (nt, nd) = windows_4_5(ctx.runs(&format!("{s}-{a}-native"))?)?;
            let (ct, cd) = windows_4_5(ctx.runs(&format!("{s}-{a}-ccp"))?)?;
            rows.push(Row {
                quantity: format!("{s}, {alabel}: median per-20 ms throughput"),
                unit: "Mbit/s".into(),
                ours: median(&ct),
                compared_with: "native".into(),
                reference: Some(median(&nt)),
                paper: "distributions nearly identical".into(),
                target_pct: Some(5.0),
            });
            rows.push(Row {
                quantity: format!("{s}, {alabel}: median per-20 ms queueing delay"),
                unit: "ms".into(),
                ours: median(&cd),
                compared_with: "native".into(),
                reference: Some(median(&nd)),
                paper: "distributions nearly identical".into(),
                target_pct: Some(10.0),
            });
            for (dashed, who, t, d) in [(true, "native", &nt, &nd), (false, "CCP", &ct, &cd)] {
                tl.push(Line {
                    label: format!("{who} {alabel}"),
                    points: cdf(t, 800),
                    color: ai,
                    dashed,
                });
                dl.push(Line {
                    label: format!("{who} {alabel}"),
                    points: cdf(d, 800),
                    color: ai,
                    dashed,
                });
            }
        }
        tput_panels.push(Panel {
            title: format!("throughput, {slabel}"),
            x_label: "throughput per 20 ms window (Mbit/s)".into(),
            y_label: "CDF (fraction of windows)".into(),
            lines: tl,
            x_range: None,
            y_range: Some((0.0, 1.0)),
        });
        delay_panels.push(Panel {
            title: format!("queueing delay, {slabel}"),
            x_label: "mean queueing delay per 20 ms window (ms)".into(),
            y_label: "CDF (fraction of windows)".into(),
            lines: dl,
            x_range: None,
            y_range: Some((0.0, 1.0)),
        });
    }
    let mut panels = tput_panels;
    panels.extend(delay_panels);
    Ok(Analysis {
        figures: vec![(
            "cdfs".into(),
            format!(
                "thesis Fig 4.5: per-20 ms throughput (top) and queueing delay (bottom), {} seed(s) pooled",
                ctx.seeds.len()
            ),
            panels,
            3,
        )],
        rows,
        notes: vec![
            "Throughput = bytes the bottleneck sent per 20 ms window (as Mahimahi's link log counts it); queueing delay = mean time the packets leaving the bottleneck queue in the window waited (windows without departures have none).".into(),
            "Windows pooled over all seeds and the whole run (slow start included). CCP: per-RTT reports, 20 µs staleness. Cell: the Mahimahi Verizon-LTE-short traces (down for data, up for ACKs).".into(),
            "Relative differences of delays near zero (drop setting: the queue rarely builds) are large in percent but small in ms.".into(),
        ],
    })
}

// ---------------------------------------------------------------------------------------------
// thesis Fig 4.10: flow aggregation.

/// The paper's layout: 5 flows, 20 s each, 10 s apart; the run lasts 62 s (the last flow
/// drains). A shorter duration scales all three.
const LAYOUT_4_10: (f64, f64, f64) = (10.0, 20.0, 62.0);

fn arms_4_10(d: Option<f64>) -> Vec<Arm> {
    let scale = |d: f64| {
        let k = d / LAYOUT_4_10.2;
        vec![
            format!("workload.0.stagger_s={}", LAYOUT_4_10.0 * k),
            format!("workload.0.duration_s={}", LAYOUT_4_10.1 * k),
        ]
    };
    let extra = d.map(scale).unwrap_or_default();
    let mut reno = vec![ccp("reno")];
    reno.extend(extra.clone());
    vec![
        arm(
            "aggregate",
            "CCP aggregate Reno (one window per destination, split equally)",
            "thesis-4.10-aggregate.toml",
            extra,
            d,
        ),
        arm(
            "reno",
            "CCP Reno per flow",
            "thesis-4.10-aggregate.toml",
            reno,
            d,
        ),
    ]
}

/// Per flow of one run, its cwnd series (packets) and its start.
/// Each flow's start (s) and cwnd series (packets).
type FlowWindows = Vec<(f64, Vec<(f64, f64)>)>;

fn flows_4_10(dir: &Path) -> Result<FlowWindows, ReproduceError> {
    let s = data::series(dir)?;
    let mut out = Vec::new();
    let mut rd = csv::Reader::from_path(dir.join("flows.csv")).map_err(|e| {
        ReproduceError::Analysis(format!("{}: {e}", dir.join("flows.csv").display()))
    })?;
    let head = rd
        .headers()
        .map_err(|e| ReproduceError::Analysis(e.to_string()))?
        .clone();
    let col = head
        .iter()
        .position(|h| h == "start_s")
        .ok_or_else(|| ReproduceError::Analysis("flows.csv: no start_s column".into()))?;
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|e| ReproduceError::Analysis(e.to_string()))?;
        let start: f64 = rec.get(col).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        let cw = s
            .get(&format!("cwnd_bytes/{i}"))
            .map(|v| v.iter().map(|&(t, w)| (t, w / MSS)).collect())
            .unwrap_or_default();
        out.push((start, cw));
    }
    Ok(out)
}

/// For each joining flow (all but the first): how long after its start its window first reached
/// 80 % of the previous flow's, and the mean Jain index of the two windows while both run.
fn join_metrics(flows: &FlowWindows) -> (Vec<f64>, Vec<f64>) {
    let (mut conv, mut jain) = (Vec::new(), Vec::new());
    for w in flows.windows(2) {
        let ((_, old), (start, new)) = (&w[0], &w[1]);
        let at = |s: &[(f64, f64)], t: f64| {
            s.binary_search_by(|p| p.0.total_cmp(&t))
                .ok()
                .map(|i| s[i].1)
        };
        let mut j = Vec::new();
        let mut reached = None;
        for &(t, b) in new {
            let Some(a) = at(old, t) else { continue };
            if reached.is_none() && b >= 0.8 * a {
                reached = Some(t - start);
            }
            if a + b > 0.0 {
                j.push((a + b).powi(2) / (2.0 * (a * a + b * b)));
            }
        }
        if let Some(r) = reached {
            conv.push(r);
        }
        if !j.is_empty() {
            jain.push(mean(&j));
        }
    }
    (conv, jain)
}

fn analyze_4_10(ctx: &Ctx) -> Result<Analysis, ReproduceError> {
    let mut panels = Vec::new();
    let mut m = Vec::new();
    for (name, label) in [
        ("aggregate", "CCP aggregate Reno"),
        ("reno", "CCP Reno per flow"),
    ] {
        let dirs = ctx.runs(name)?;
        let (mut conv, mut jain) = (Vec::new(), Vec::new());
        for d in dirs {
            let (c, j) = join_metrics(&flows_4_10(d)?);
            conv.extend(c);
            jain.extend(j);
        }
        let goodput = mean(&per_run(dirs, goodput_mbps)?);
        m.push((mean(&conv), mean(&jain), goodput));
        let f0 = flows_4_10(first(dirs)?)?;
        panels.push(Panel {
            title: format!("{label} (seed {})", ctx.seeds[0]),
            x_label: "time (s)".into(),
            y_label: "cwnd (packets of 1460 B)".into(),
            lines: f0
                .into_iter()
                .enumerate()
                .map(|(i, (start, pts))| Line {
                    label: format!("flow {} (starts {start:.0} s)", i + 1),
                    points: pts,
                    color: i,
                    dashed: false,
                })
                .collect(),
            x_range: None,
            y_range: None,
        });
    }
    let paper = "qualitative: the aggregate gives a new flow its fair share at once";
    let rows = vec![
        Row {
            quantity: "joining flow's cwnd reaches 80 % of the incumbent's after".into(),
            unit: "s".into(),
            ours: m[0].0,
            compared_with: "CCP Reno per flow".into(),
            reference: Some(m[1].0),
            paper: paper.into(),
            target_pct: None,
        },
        Row {
            quantity: "Jain index of the two windows while two flows overlap".into(),
            unit: "0.5–1".into(),
            ours: m[0].1,
            compared_with: "CCP Reno per flow".into(),
            reference: Some(m[1].1),
            paper: paper.into(),
            target_pct: None,
        },
        Row {
            quantity: "total goodput over the run".into(),
            unit: "Mbit/s".into(),
            ours: m[0].2,
            compared_with: "CCP Reno per flow".into(),
            reference: Some(m[1].2),
            paper: "(not reported)".into(),
            target_pct: None,
        },
    ];
    Ok(Analysis {
        figures: vec![(
            "aggregation_cwnd".into(),
            "thesis Fig 4.10: per-flow cwnd, aggregate (top) vs per-flow Reno (bottom), 96 Mbit/s, 20 ms, 160 packets".into(),
            panels,
            1,
        )],
        rows,
        notes: vec![
            "All five flows run between the same two hosts (bulk flows_per_pair = 5), so one agent sees them; each writes for 20 s (bulk duration_s) and then drains.".into(),
            "'ours' is the aggregate; 'reference' is per-flow CCP Reno in the same setup. Means over seeds and over the four joins.".into(),
        ],
    })
}
