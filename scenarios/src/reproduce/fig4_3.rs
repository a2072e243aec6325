//! thesis Fig 4.3: slow-start placement. One Reno flow from a 10-packet window on a 48 Mbit/s,
//! 100 ms RTT, 1-BDP path: slow start in the CCP agent fed per-RTT reports (Listing 4.2), slow
//! start in the datapath program (Listing 4.3), rate-based slow start in the datapath program
//! (the thesis's "control pattern": `Rate` doubled every RTT by a timer, from the initial window
//! per RTT; CCP Reno's `slow_start = "rate"`), and the native transport's, compared by their
//! windows. The rate-based variant's window is, as in the thesis's figure, its throughput × RTT
//! per RTT (the bottleneck's throughput over the last 100 ms, every 10 ms), and its rows compare
//! it with the native sender's throughput × RTT measured the same way.

use std::path::Path;

use super::data::{self, binned_mean, get, mean, summary_num};
use super::{Analysis, Arm, Ctx, ReproduceError, Row};
use crate::figures::{Line, Panel};

const SCENARIO: &str = "thesis-4.3-slow-start.toml";

/// Legend entries of the arms (the legend column fits about 25 characters).
const LEGEND: [&str; 4] = [
    "native Reno",
    "CCP, agent slow start",
    "CCP, datapath slow start",
    "CCP, rate slow start",
];

/// Index of the rate-based arm (its window is throughput × RTT).
const RATE_ARM: usize = 3;

/// MSS, bytes (packets of window).
const MSS: f64 = 1460.0;
/// Bytes per full packet on the wire.
const WIRE: f64 = 1500.0;
/// Base RTT, s.
const RTT_S: f64 = 0.1;
/// The path's BDP in packets of 1500 B (48 Mbit/s × 100 ms).
const BDP_PKTS: f64 = 400.0;

/// (arm, label, cc override).
const ARMS: [(&str, &str, &str); 4] = [
    (
        "native",
        "native Reno (transport, cwnd += acked per ACK)",
        "\"reno\"",
    ),
    (
        "ccp-agent",
        "CCP Reno, slow start in the agent (cwnd += acked per 1-RTT report)",
        "{ccp=\"reno\",params={report=\"per_rtt\",slow_start=\"agent\"},staleness_us=20.0}",
    ),
    (
        "ccp-datapath",
        "CCP Reno, slow start in the datapath program (cwnd += acked per ACK; agent at the first loss)",
        "{ccp=\"reno\",params={report=\"per_rtt\",slow_start=\"datapath\"},staleness_us=20.0}",
    ),
    (
        "ccp-rate",
        "CCP Reno, rate-based slow start in the datapath program (Rate doubled every RTT by a timer from IW/RTT; agent at the first loss)",
        "{ccp=\"reno\",params={report=\"per_rtt\",slow_start=\"rate\"},staleness_us=20.0}",
    ),
];

pub(super) fn arms(d: Option<f64>) -> Vec<Arm> {
    ARMS.iter()
        .map(|(name, label, cc)| {
            super::figs::arm(
                name,
                label,
                SCENARIO,
                vec![format!("workload.0.cc={cc}")],
                d,
            )
        })
        .collect()
}

/// Slow-start measures of one window series (packets over time).
#[derive(Clone, Copy)]
struct Growth {
    /// First time the window reached 100 packets and 1 BDP.
    t100: f64,
    t_bdp: f64,
    /// Window growth per base RTT between 25 and 200 packets (½ BDP: before a queue builds).
    growth: f64,
    /// End of slow start: the first sample below 80 % of the running peak; the peak then and
    /// the window at that sample.
    t_reduce: f64,
    peak: f64,
    after: f64,
}

/// One run's slow start, read from its window (10 ms samples), the bottleneck's utilisation
/// (10 ms samples) and delivered bytes.
struct SlowStart {
    /// cwnd in packets over time.
    cwnd: Vec<(f64, f64)>,
    /// Bottleneck throughput × RTT per 100 ms bin, packets of 1500 B on the wire.
    tput_pkts: Vec<(f64, f64)>,
    /// Bottleneck throughput × RTT over the last RTT (100 ms), every 10 ms, packets.
    tput_rtt: Vec<(f64, f64)>,
    /// Measures of the window and of throughput × RTT.
    by_cwnd: Growth,
    by_tput: Growth,
    /// Bytes delivered in the first second, MB.
    delivered_1s_mb: f64,
    goodput_mbps: f64,
    timeouts: f64,
}

fn first_reach(c: &[(f64, f64)], k: f64) -> Option<(f64, f64)> {
    c.iter().copied().find(|p| p.1 >= k)
}

/// Measures of a window series; it counts as 1 BDP from `bdp` packets.
fn growth(c: &[(f64, f64)], bdp: f64) -> Growth {
    let nan = (f64::NAN, f64::NAN);
    let (t25, _) = first_reach(c, 25.0).unwrap_or(nan);
    let (t100, _) = first_reach(c, 100.0).unwrap_or(nan);
    let (t_bdp, _) = first_reach(c, bdp).unwrap_or(nan);
    let (t200, _) = first_reach(c, 200.0).unwrap_or(nan);
    // 25 → 200 packets is three doublings.
    let growth = 8.0_f64.powf(RTT_S / (t200 - t25));
    let (mut peak, mut t_reduce, mut after) = (0.0_f64, f64::NAN, f64::NAN);
    for &(t, w) in c {
        if peak > 20.0 && w < 0.8 * peak {
            t_reduce = t;
            after = w;
            break;
        }
        peak = peak.max(w);
    }
    Growth {
        t100,
        t_bdp,
        growth,
        t_reduce,
        peak,
        after,
    }
}

/// Mean over the last `RTT_S` of each sample of `pts` (sampled evenly), at each sample.
fn trailing_mean(pts: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(pts.len());
    let (mut start, mut sum) = (0usize, 0.0);
    for (i, &(t, v)) in pts.iter().enumerate() {
        sum += v;
        while pts[start].0 <= t - RTT_S + 1e-9 {
            sum -= pts[start].1;
            start += 1;
        }
        out.push((t, sum / (i + 1 - start) as f64));
    }
    out
}

fn slow_start(dir: &Path) -> Result<SlowStart, ReproduceError> {
    let s = data::series(dir)?;
    let cwnd: Vec<(f64, f64)> = get(&s, "cwnd_bytes/0", dir)?
        .iter()
        .map(|&(t, w)| (t, w / MSS))
        .collect();
    let delivered = get(&s, "delivered_bytes/0", dir)?;
    let rate = summary_num(dir, "rate_bps/bottleneck")?;
    let util = get(&s, "util/bottleneck", dir)?;
    let pkts_per_rtt = |u: f64| u * rate * RTT_S / 8.0 / WIRE;
    let tput_pkts = binned_mean(util, RTT_S)
        .into_iter()
        .map(|(t, u)| (t, pkts_per_rtt(u)))
        .collect();
    let tput_rtt: Vec<(f64, f64)> = trailing_mean(util)
        .into_iter()
        .map(|(t, u)| (t, pkts_per_rtt(u)))
        .collect();
    // The link's rate caps throughput × RTT at 1 BDP: within 1 % counts.
    let by_tput = growth(&tput_rtt, 0.99 * BDP_PKTS);
    let delivered_1s_mb = delivered
        .iter()
        .take_while(|p| p.0 <= 1.0 + 1e-9)
        .last()
        .map_or(0.0, |p| p.1 / 1e6);
    Ok(SlowStart {
        by_cwnd: growth(&cwnd, BDP_PKTS),
        by_tput,
        cwnd,
        tput_pkts,
        tput_rtt,
        delivered_1s_mb,
        goodput_mbps: summary_num(dir, "goodput_bytes")? * 8.0 / summary_num(dir, "end_s")? / 1e6,
        timeouts: data::flows_column_sum(dir, "timeouts")?,
    })
}

pub(super) fn analyze(ctx: &Ctx) -> Result<Analysis, ReproduceError> {
    let mut runs = Vec::new();
    for (name, _, _) in ARMS {
        let r: Vec<SlowStart> = ctx
            .runs(name)?
            .iter()
            .map(|d| slow_start(d))
            .collect::<Result<_, _>>()?;
        runs.push(r);
    }
    let m = |a: usize, f: fn(&SlowStart) -> f64| mean(&runs[a].iter().map(f).collect::<Vec<_>>());
    type Metric = (
        &'static str,
        &'static str,
        fn(&SlowStart) -> f64,
        bool, /* compared in slow start */
    );
    let metrics: [Metric; 8] = [
        (
            "window reaches 100 packets at",
            "s",
            |r| r.by_cwnd.t100,
            true,
        ),
        (
            "window reaches 1 BDP (400 packets) at",
            "s",
            |r| r.by_cwnd.t_bdp,
            true,
        ),
        (
            "slow-start growth per RTT (25 → 200 packets)",
            "×/RTT",
            |r| r.by_cwnd.growth,
            true,
        ),
        (
            "slow start ends (window < 80 % of its peak) at",
            "s",
            |r| r.by_cwnd.t_reduce,
            true,
        ),
        (
            "peak window before that",
            "packets",
            |r| r.by_cwnd.peak,
            true,
        ),
        (
            "delivered in the first second",
            "MB",
            |r| r.delivered_1s_mb,
            true,
        ),
        ("goodput over the run", "Mbit/s", |r| r.goodput_mbps, false),
        ("timeouts", "count", |r| r.timeouts, false),
    ];
    let mut rows = Vec::new();
    for (ai, who, paper, target) in [
        (
            1,
            "CCP, agent slow start (1-RTT reports)",
            "the 1-RTT version lags behind the native datapath implementation",
            None,
        ),
        (
            2,
            "CCP, datapath slow start",
            "in the datapath: grows per ACK like the native sender (figure)",
            Some(10.0),
        ),
    ] {
        for (q, unit, f, ss) in metrics {
            rows.push(Row {
                quantity: format!("{who}: {q}"),
                unit: unit.into(),
                ours: m(ai, f),
                compared_with: "native Reno".into(),
                reference: Some(m(0, f)),
                paper: if ss {
                    paper.into()
                } else {
                    "(not reported)".into()
                },
                target_pct: if ss { target } else { None },
            });
        }
    }
    // The rate-based arm: its window is throughput × RTT, compared with the native sender's
    // measured the same way; the end of slow start is where the agent cut the datapath's
    // window (the program held it at 2 × rate × RTT until then).
    let rate_metrics: [Metric; 8] = [
        (
            "throughput × RTT reaches 100 packets at",
            "s",
            |r| r.by_tput.t100,
            true,
        ),
        (
            "throughput × RTT reaches 1 BDP (≥ 396 packets) at",
            "s",
            |r| r.by_tput.t_bdp,
            true,
        ),
        (
            "throughput × RTT growth per RTT (25 → 200 packets)",
            "×/RTT",
            |r| r.by_tput.growth,
            true,
        ),
        (
            "slow start ends (cwnd < 80 % of its peak) at",
            "s",
            |r| r.by_cwnd.t_reduce,
            true,
        ),
        ("cwnd just after that", "packets", |r| r.by_cwnd.after, true),
        (
            "delivered in the first second",
            "MB",
            |r| r.delivered_1s_mb,
            true,
        ),
        ("goodput over the run", "Mbit/s", |r| r.goodput_mbps, false),
        ("timeouts", "count", |r| r.timeouts, false),
    ];
    for (q, unit, f, ss) in rate_metrics {
        rows.push(Row {
            quantity: format!("CCP, rate slow start: {q}"),
            unit: unit.into(),
            ours: m(RATE_ARM, f),
            compared_with: "native Reno".into(),
            reference: Some(m(0, f)),
            paper: if ss {
                "rate doubled each RTT by a timer; figure: throughput × RTT per RTT".into()
            } else {
                "(not reported)".into()
            },
            target_pct: None,
        });
    }
    let end = runs[0]
        .first()
        .and_then(|r| r.cwnd.last())
        .map_or(3.0, |p| p.0);
    let line = |ai: usize, pts: Vec<(f64, f64)>| Line {
        label: LEGEND[ai].into(),
        points: pts,
        color: ai,
        dashed: ai == 0,
    };
    let panels = vec![
        Panel {
            title: format!(
                "congestion window; rate slow start: throughput × RTT per RTT (seed {})",
                ctx.seeds[0]
            ),
            x_label: "time (s)".into(),
            y_label: "cwnd (packets of 1460 B)".into(),
            lines: (0..ARMS.len())
                .rev()
                .map(|ai| {
                    let r = &runs[ai][0];
                    let pts = if ai == RATE_ARM {
                        r.tput_rtt.clone()
                    } else {
                        r.cwnd.clone()
                    };
                    line(ai, pts)
                })
                .collect(),
            x_range: Some((0.0, end)),
            y_range: None,
        },
        Panel {
            title: format!(
                "bottleneck throughput × RTT, 100 ms bins (seed {}; 400 = the link's rate)",
                ctx.seeds[0]
            ),
            x_label: "time (s)".into(),
            y_label: "throughput × RTT (packets of 1500 B)".into(),
            lines: (0..ARMS.len())
                .rev()
                .map(|ai| line(ai, runs[ai][0].tput_pkts.clone()))
                .collect(),
            x_range: Some((0.0, end)),
            y_range: None,
        },
    ];
    Ok(Analysis {
        figures: vec![(
            "slow_start".into(),
            "thesis Fig 4.3: slow-start placement, Reno, 48 Mbit/s, 100 ms RTT, 400-packet buffer, IW 10".into(),
            panels,
            1,
        )],
        rows,
        notes: vec![
            "cwnd sampled every 10 ms; delivered = in-order bytes at the receiver; throughput = bytes the bottleneck sent per 100 ms (the thesis shows this for its rate-based variant). Growth per RTT = 8^(100 ms / time from the window's first reaching 25 packets to its first reaching 200): 2 for a window that doubles every base RTT (below ½ BDP the queue stays short, so the RTT is the base RTT); the 10 ms sampling rounds it.".into(),
            "Rate-based slow start (CCP Reno, slow_start = \"rate\"): the datapath program paces from the first RTT sample at IW/RTT and doubles Rate whenever its timer passes the latest RTT sample; its window in the first panel and its rows is the bottleneck's throughput × RTT over the last 100 ms (every 10 ms), compared with the native sender's throughput × RTT measured the same way (the link's rate caps it at 1 BDP: reaching ≥ 99 % counts). Its cwnd (2 × rate × RTT in the program) ends where the agent, at the first loss report, takes half the bytes in flight as the window and stops pacing.".into(),
            "After slow start all four overshoot the 1-BDP buffer (the window or rate doubles past BDP + buffer) and lose hundreds of packets; the rows after \"delivered in the first second\" include that recovery. The rate-based variant has no ACK clock, so its overshoot is the largest.".into(),
            "Numbers are means over seeds (a single flow on a fixed link: seeds do not differ); the figure shows the first seed.".into(),
        ],
    })
}
