//! thesis Fig 4.3: slow-start placement. One Reno flow from a 10-packet window on a 48 Mbit/s,
//! 100 ms RTT, 1-BDP path: slow start in the CCP agent fed per-RTT reports (Listing 4.2), slow
//! start in the datapath program (Listing 4.3), and the native transport's, compared by their
//! windows. The thesis's fourth variant (the rate doubled every RTT by a timer in the datapath
//! program) has no CCP algorithm here yet.

use std::path::Path;

use super::data::{self, binned_mean, get, mean, summary_num};
use super::{Analysis, Arm, Ctx, ReproduceError, Row};
use crate::figures::{Line, Panel};

const SCENARIO: &str = "thesis-4.3-slow-start.toml";

/// Legend entries of the arms (the legend column fits about 25 characters).
const LEGEND: [&str; 3] = [
    "native Reno",
    "CCP, agent slow start",
    "CCP, datapath slow start",
];

/// MSS, bytes (packets of window).
const MSS: f64 = 1460.0;
/// Bytes per full packet on the wire.
const WIRE: f64 = 1500.0;
/// Base RTT, s.
const RTT_S: f64 = 0.1;
/// The path's BDP in packets of 1500 B (48 Mbit/s × 100 ms).
const BDP_PKTS: f64 = 400.0;

/// (arm, label, cc override).
const ARMS: [(&str, &str, &str); 3] = [
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

/// One run's slow start, read from its window (10 ms samples) and delivered bytes.
struct SlowStart {
    /// cwnd in packets over time.
    cwnd: Vec<(f64, f64)>,
    /// Bottleneck throughput × RTT per 100 ms bin, packets of 1500 B on the wire.
    tput_pkts: Vec<(f64, f64)>,
    /// First time the window reached 100 packets and 1 BDP.
    t100: f64,
    t_bdp: f64,
    /// Window growth per base RTT between 25 and 200 packets (½ BDP: before a queue builds).
    growth: f64,
    /// End of slow start: the first sample below 80 % of the running peak; the peak then.
    t_reduce: f64,
    peak: f64,
    /// Bytes delivered in the first second, MB.
    delivered_1s_mb: f64,
    goodput_mbps: f64,
    timeouts: f64,
}

fn first_reach(c: &[(f64, f64)], k: f64) -> Option<(f64, f64)> {
    c.iter().copied().find(|p| p.1 >= k)
}

fn slow_start(dir: &Path) -> Result<SlowStart, ReproduceError> {
    let s = data::series(dir)?;
    let cwnd: Vec<(f64, f64)> = get(&s, "cwnd_bytes/0", dir)?
        .iter()
        .map(|&(t, w)| (t, w / MSS))
        .collect();
    let delivered = get(&s, "delivered_bytes/0", dir)?;
    let rate = summary_num(dir, "rate_bps/bottleneck")?;
    let tput_pkts = binned_mean(get(&s, "util/bottleneck", dir)?, RTT_S)
        .into_iter()
        .map(|(t, u)| (t, u * rate * RTT_S / 8.0 / WIRE))
        .collect();
    let nan = (f64::NAN, f64::NAN);
    let (t25, _) = first_reach(&cwnd, 25.0).unwrap_or(nan);
    let (t100, _) = first_reach(&cwnd, 100.0).unwrap_or(nan);
    let (t_bdp, _) = first_reach(&cwnd, BDP_PKTS).unwrap_or(nan);
    let (t200, _) = first_reach(&cwnd, 200.0).unwrap_or(nan);
    // 25 → 200 packets is three doublings.
    let growth = 8.0_f64.powf(RTT_S / (t200 - t25));
    let (mut peak, mut t_reduce) = (0.0_f64, f64::NAN);
    for &(t, c) in &cwnd {
        if peak > 20.0 && c < 0.8 * peak {
            t_reduce = t;
            break;
        }
        peak = peak.max(c);
    }
    let delivered_1s_mb = delivered
        .iter()
        .take_while(|p| p.0 <= 1.0 + 1e-9)
        .last()
        .map_or(0.0, |p| p.1 / 1e6);
    Ok(SlowStart {
        cwnd,
        tput_pkts,
        t100,
        t_bdp,
        growth,
        t_reduce,
        peak,
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
        ("window reaches 100 packets at", "s", |r| r.t100, true),
        (
            "window reaches 1 BDP (400 packets) at",
            "s",
            |r| r.t_bdp,
            true,
        ),
        (
            "slow-start growth per RTT (25 → 200 packets)",
            "×/RTT",
            |r| r.growth,
            true,
        ),
        (
            "slow start ends (window < 80 % of its peak) at",
            "s",
            |r| r.t_reduce,
            true,
        ),
        ("peak window before that", "packets", |r| r.peak, true),
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
            title: format!("congestion window (seed {})", ctx.seeds[0]),
            x_label: "time (s)".into(),
            y_label: "cwnd (packets of 1460 B)".into(),
            lines: (0..ARMS.len())
                .rev()
                .map(|ai| line(ai, runs[ai][0].cwnd.clone()))
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
            "Not reproduced: the thesis's fourth variant, the rate doubled every RTT by a timer in the datapath program (\"control pattern\"); no CCP algorithm here implements rate-based slow start.".into(),
            "After slow start all three overshoot the 1-BDP buffer (the window doubles past BDP + buffer) and lose hundreds of packets; the rows after \"delivered in the first second\" include that recovery.".into(),
            "Numbers are means over seeds (a single flow on a fixed link: seeds do not differ); the figure shows the first seed.".into(),
        ],
    })
}
