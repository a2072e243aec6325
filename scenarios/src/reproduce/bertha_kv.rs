//! The sharded key-value store experiments of `testbed reproduce` (issue 12): thesis Figs 3.9
//! (client vs server sharding vs offered load) and 3.10 (raw-offset vs deserializing
//! sharder), HotNets Fig 5 (client push / switch offload / mixed / server fallback) and the
//! offload-contention experiment (two applications, a switch offload with room for one);
//! and thesis Fig 3.11 (datapath portability and overhead), which alone runs on real sockets
//! ([`kvstore::portability`], `thesis_3_11` below).
//!
//! All four run the `kvstore` crate's server, clients and YCSB generator on the
//! deterministic simulator ([`kvstore::experiment::run`]); the simulator charges the server's
//! per-request work from a cost model whose parameters are our own measurements on real UDP
//! loopback on the development machine, a 2-core AMD EPYC VM ([`kvstore::cost`],
//! `cargo run --release -p kvstore --example loopback_costs`).
//!
//! Options (custom experiments): `--seeds N` runs every point with seeds `1..=N` and reports
//! the mean over seeds of each quantity (throughput, percentiles); `--duration S` is the
//! length of each run's measured open-loop phase in seconds (default
//! [`DEFAULT_DURATION_S`]; replies are awaited 50 ms after it, and a 12,000-put load phase
//! precedes it). Every run is written to `samples.csv` (one row per point and seed).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use kvstore::experiment::{run, ExperimentConfig, Fig5Scenario, Summary};
use kvstore::loadgen::Latency;
use kvstore::offload::OffloadConfig;
use kvstore::{ClientMode, CostModel};
use netrt::Duration;

use super::{Analysis, Options, ReproduceError, Row};
use crate::figures::{Line, Panel};

/// Default length of each run's measured phase, seconds.
pub const DEFAULT_DURATION_S: f64 = 1.0;

/// One point of a figure: its series, its offered load and its configuration (seed set per
/// run).
struct Point {
    /// Which group of series (a panel pair, e.g. the sharder cost model).
    group: &'static str,
    /// The series (e.g. "client push").
    series: String,
    offered: f64,
    cfg: ExperimentConfig,
}

/// Mean over seeds of one point's results.
#[derive(Clone, Debug, Default)]
struct Agg {
    achieved: f64,
    unanswered: f64,
    p50: f64,
    p95: f64,
    p99: f64,
    /// Per connection p95, µs.
    conn_p95: Vec<f64>,
    /// The first seed's summary (negotiation outcome, reasons).
    first: Option<Summary>,
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1e3
}

fn err(e: impl std::fmt::Display) -> ReproduceError {
    ReproduceError::Analysis(e.to_string())
}

/// Runs every point for seeds `1..=seeds` on `opts.jobs` threads; writes `samples.csv`.
fn run_points(
    opts: &Options,
    dir: &Path,
    seeds: u64,
    points: &[Point],
) -> Result<Vec<Agg>, ReproduceError> {
    let duration = Duration::from_secs_f64(opts.duration_s.unwrap_or(DEFAULT_DURATION_S));
    let jobs: Vec<(usize, u64)> = (0..points.len())
        .flat_map(|p| (1..=seeds).map(move |s| (p, s)))
        .collect();
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<Result<Summary, String>>>> = Mutex::new(vec![None; jobs.len()]);
    std::thread::scope(|sc| {
        for _ in 0..opts.jobs.clamp(1, jobs.len().max(1)) {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(p, seed)) = jobs.get(i) else { break };
                let mut cfg = points[p].cfg.clone();
                cfg.seed = seed;
                cfg.duration = duration;
                let r = run(&cfg).map_err(|e| {
                    format!(
                        "{} / {} at {:.0} req/s, seed {seed}: {e}",
                        points[p].group, points[p].series, points[p].offered
                    )
                });
                if let Ok(mut v) = out.lock() {
                    v[i] = Some(r);
                }
            });
        }
    });
    let results = out.into_inner().map_err(err)?;
    let path = dir.join("samples.csv");
    let mut f = std::fs::File::create(&path).map_err(|e| ReproduceError::Output {
        path: path.display().to_string(),
        msg: e.to_string(),
    })?;
    let mut csv = String::from(
        "group,series,offered_rps,seed,achieved_rps,sent,completed,unanswered,p5_us,p25_us,p50_us,p75_us,p95_us,p99_us,max_us,per_connection_p95_us,chosen,fallbacks\n",
    );
    let mut aggs = vec![Agg::default(); points.len()];
    for ((p, seed), r) in jobs.iter().zip(results) {
        let s = r.unwrap_or_else(|| Err("not run".into())).map_err(err)?;
        let l: Latency = s.load.latency;
        let pt = &points[*p];
        let conn: Vec<String> = s
            .load
            .per_connection
            .iter()
            .map(|c| format!("{:.1}", us(c.p95)))
            .collect();
        let chosen: Vec<String> = s
            .server
            .chosen
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        csv.push_str(&format!(
            "{},{},{:.0},{seed},{:.1},{},{},{},{:.2},{:.2},{:.2},{:.2},{:.2},{:.2},{:.2},{},{},\"{}\"\n",
            pt.group,
            pt.series,
            pt.offered,
            s.load.achieved,
            s.load.sent,
            s.load.completed,
            s.load.unanswered,
            us(l.p5),
            us(l.p25),
            us(l.p50),
            us(l.p75),
            us(l.p95),
            us(l.p99),
            us(l.max),
            conn.join(";"),
            chosen.join(";"),
            s.server.fallbacks.join(" | ").replace('"', "'"),
        ));
        let a = &mut aggs[*p];
        let w = 1.0 / seeds as f64;
        a.achieved += w * s.load.achieved;
        a.unanswered += w * s.load.unanswered as f64;
        a.p50 += w * us(l.p50);
        a.p95 += w * us(l.p95);
        a.p99 += w * us(l.p99);
        if a.conn_p95.len() < s.load.per_connection.len() {
            a.conn_p95.resize(s.load.per_connection.len(), 0.0);
        }
        for (c, x) in a.conn_p95.iter_mut().zip(&s.load.per_connection) {
            *c += w * us(x.p95);
        }
        if a.first.is_none() {
            a.first = Some(s);
        }
    }
    f.write_all(csv.as_bytes())
        .map_err(|e| ReproduceError::Output {
            path: path.display().to_string(),
            msg: e.to_string(),
        })?;
    Ok(aggs)
}

fn row(
    quantity: String,
    unit: &str,
    ours: f64,
    vs: &str,
    reference: Option<f64>,
    paper: &str,
) -> Row {
    Row {
        quantity,
        unit: unit.into(),
        ours,
        compared_with: vs.into(),
        reference,
        paper: paper.into(),
        target_pct: None,
    }
}

/// The series of `group`, in first-seen order, each with its points (offered kOps/s, value).
fn series(
    points: &[Point],
    aggs: &[Agg],
    group: &str,
    value: impl Fn(&Agg) -> f64,
) -> Vec<(String, Vec<(f64, f64)>)> {
    let mut out: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for (p, a) in points.iter().zip(aggs) {
        if p.group != group {
            continue;
        }
        let v = (p.offered / 1e3, value(a));
        match out.iter_mut().find(|s| s.0 == p.series) {
            Some(s) => s.1.push(v),
            None => out.push((p.series.clone(), vec![v])),
        }
    }
    out
}

/// A throughput panel (achieved vs offered, with the offered load dashed) and a p95 panel
/// (log10 µs) for `group`.
fn load_panels(points: &[Point], aggs: &[Agg], group: &str, title: &str) -> Vec<Panel> {
    let tput = series(points, aggs, group, |a| a.achieved / 1e3);
    let mut lines: Vec<Line> = tput
        .iter()
        .enumerate()
        .map(|(i, (label, pts))| Line {
            label: label.clone(),
            points: pts.clone(),
            color: i,
            dashed: false,
        })
        .collect();
    if let Some((_, pts)) = tput.first() {
        lines.push(Line {
            label: "offered (ideal)".into(),
            points: pts.iter().map(|&(x, _)| (x, x)).collect(),
            color: 6,
            dashed: true,
        });
    }
    let p95 = series(points, aggs, group, |a| a.p95.max(1.0).log10());
    vec![
        Panel {
            title: format!("{title}: achieved throughput"),
            x_label: "offered load (kOps/s)".into(),
            y_label: "achieved (kOps/s)".into(),
            lines,
            x_range: None,
            y_range: None,
        },
        Panel {
            title: format!("{title}: p95 latency"),
            x_label: "offered load (kOps/s)".into(),
            y_label: "p95 latency (log10 µs: 1 = 10 µs, 3 = 1 ms)".into(),
            lines: p95
                .into_iter()
                .enumerate()
                .map(|(i, (label, points))| Line {
                    label,
                    points,
                    color: i,
                    dashed: false,
                })
                .collect(),
            x_range: None,
            y_range: None,
        },
    ]
}

fn find<'a>(
    points: &[Point],
    aggs: &'a [Agg],
    group: &str,
    series: &str,
    offered: f64,
) -> Option<&'a Agg> {
    points
        .iter()
        .zip(aggs)
        .find(|(p, _)| p.group == group && p.series == series && (p.offered - offered).abs() < 0.5)
        .map(|(_, a)| a)
}

/// The highest offered load of a series that was served: achieved at least 95 % of offered
/// and p95 under 1 ms (0 if none).
fn sustained(points: &[Point], aggs: &[Agg], group: &str, series: &str) -> f64 {
    points
        .iter()
        .zip(aggs)
        .filter(|(p, a)| {
            p.group == group
                && p.series == series
                && a.achieved >= 0.95 * p.offered
                && a.p95 < 1_000.0
        })
        .map(|(p, _)| p.offered)
        .fold(0.0, f64::max)
}

fn machine_note() -> String {
    "Simulated; the cost model's parameters are our own measurements on real UDP loopback \
     (`cargo run --release -p kvstore --example loopback_costs`) on a 2-core AMD EPYC VM \
     (Linux, tokio current-thread runtime, bincode/1, 132-byte messages); see \
     chunnels/kv/src/cost.rs for the three measurement runs."
        .into()
}

fn options_note(opts: &Options, seeds: u64) -> String {
    format!(
        "`--seeds {seeds}`: every point runs seeds 1..={seeds}, numbers are means over seeds; \
         `--duration {}`: seconds of each run's measured open-loop phase (default {DEFAULT_DURATION_S}), \
         after a 12,000-put load phase; per-run numbers in samples.csv.",
        opts.duration_s.unwrap_or(DEFAULT_DURATION_S)
    )
}

fn costs_note(name: &str, c: &CostModel, shards: usize) -> String {
    format!(
        "{name}: dispatch {:.2} µs (one sharder for the server: {:.0} kOps/s), shard receive \
         {:.2} µs, service {:.2} µs (pushed requests: {shards} shards x {:.0} kOps/s uniform)",
        c.dispatch.as_nanos() as f64 / 1e3,
        c.dispatcher_capacity() / 1e3,
        c.shard_receive.as_nanos() as f64 / 1e3,
        c.service.as_nanos() as f64 / 1e3,
        c.push_capacity(1) / 1e3,
    )
}

const UDP: &str = "UDP-forwarding sharder";
const INPROC: &str = "in-process dispatcher";
const PUSH: &str = "client push";
const SERVER: &str = "server sharding";

/// Thesis Fig 3.9's loads (kOps/s) for the UDP-forwarding sharder: the thesis' grid, 25-125
/// step 25, and 150.
const LOADS_3_9: [f64; 6] = [25e3, 50e3, 75e3, 100e3, 125e3, 150e3];
/// For the in-process dispatcher, whose capacity is 5x the UDP-forwarding sharder's.
const LOADS_3_9_INPROC: [f64; 6] = [125e3, 250e3, 375e3, 500e3, 625e3, 750e3];

/// Thesis Fig 3.9: client push vs server sharding vs offered load, with the UDP-forwarding
/// sharder (the thesis' result) and with the in-process dispatcher.
pub(super) fn fig_3_9(
    opts: &Options,
    dir: &Path,
    seeds: u64,
) -> Result<(Analysis, Vec<PathBuf>), ReproduceError> {
    let mut points = Vec::new();
    for (group, costs, loads) in [
        (UDP, CostModel::MEASURED_UDP_FORWARD, LOADS_3_9),
        (INPROC, CostModel::MEASURED_LOOPBACK, LOADS_3_9_INPROC),
    ] {
        for offered in loads {
            for (mode, name) in [(ClientMode::Push, PUSH), (ClientMode::Plain, SERVER)] {
                let mut cfg = ExperimentConfig::thesis_fig_3_9(mode, offered);
                cfg.costs = costs;
                points.push(Point {
                    group,
                    series: name.into(),
                    offered,
                    cfg,
                });
            }
        }
    }
    let aggs = run_points(opts, dir, seeds, &points)?;
    let mut rows = Vec::new();
    for (group, loads) in [(UDP, LOADS_3_9), (INPROC, LOADS_3_9_INPROC)] {
        for offered in loads {
            let (Some(p), Some(s)) = (
                find(&points, &aggs, group, PUSH, offered),
                find(&points, &aggs, group, SERVER, offered),
            ) else {
                continue;
            };
            let k = offered / 1e3;
            rows.push(row(
                format!("{group}, {k:.0} kOps/s: achieved, server sharding"),
                "kOps/s",
                s.achieved / 1e3,
                "client push",
                Some(p.achieved / 1e3),
                if group == UDP && (75e3..=100e3).contains(&offered) {
                    "server sharding cannot keep up at 75 or 100 kOps/s; client sharding can"
                } else {
                    "(no number stated)"
                },
            ));
            rows.push(row(
                format!("{group}, {k:.0} kOps/s: p95, server sharding"),
                "µs",
                s.p95,
                "client push",
                Some(p.p95),
                "client sharding has lower latency",
            ));
        }
        for name in [PUSH, SERVER] {
            rows.push(row(
                format!("{group}: highest load served, {name}"),
                "kOps/s",
                sustained(&points, &aggs, group, name) / 1e3,
                "-",
                None,
                if name == PUSH {
                    "client: >= 100 (keeps up at 75 and 100)"
                } else {
                    "server: < 75 (cannot keep up at 75 or 100)"
                },
            ));
        }
    }
    let mut panels = load_panels(&points, &aggs, UDP, UDP);
    panels.extend(load_panels(&points, &aggs, INPROC, INPROC));
    let notes = vec![
        "Setup (FIGURES.md thesis Fig 3.9): 6 shards on one server, 5 clients x 4 connections, \
         YCSB B, zipfian 0.99 over 12,000 records, 132-byte messages, open-loop Poisson, 10 Gbit/s \
         links of 5 µs; the server sharder is one dispatcher stage, pushed requests go straight \
         to their shard's socket."
            .into(),
        costs_note(
            "UDP-forwarding sharder (CostModel::MEASURED_UDP_FORWARD)",
            &CostModel::MEASURED_UDP_FORWARD,
            6,
        ),
        costs_note(
            "in-process dispatcher (CostModel::MEASURED_LOOPBACK)",
            &CostModel::MEASURED_LOOPBACK,
            6,
        ),
        "The in-process dispatcher (a task hand-off, like the thesis' local channel) is cheap \
         next to the reply send every request needs: its capacity is within 8 % of pushed \
         shards' at 6 shards, and zipfian keys saturate push's hottest shard first, so client \
         push does not scale better there; with the sharder that forwards by UDP (the thesis' \
         remote configuration) the thesis' result appears."
            .into(),
        "\"Highest load served\": the highest offered load with achieved >= 95 % of offered and \
         p95 < 1 ms."
            .into(),
        options_note(opts, seeds),
        machine_note(),
    ];
    Ok((
        Analysis {
            figures: vec![(
                "fig3_9".into(),
                "Thesis Fig 3.9: client push vs server sharding (6 shards, YCSB B zipfian, simulated with measured loopback costs)".into(),
                panels,
                2,
            )],
            rows,
            notes,
        },
        vec![dir.join("samples.csv")],
    ))
}

const NOOPT: &str = "No-Opt (deserializing sharder)";
const OPT: &str = "Opt (raw-offset sharder)";
const LOADS_3_10: [f64; 6] = [25e3, 50e3, 75e3, 100e3, 125e3, 150e3];
const GROUP_3_10: &str = "sharder";

/// Thesis Fig 3.10: raw-offset vs deserializing server sharder, UDP forwarding.
pub(super) fn fig_3_10(
    opts: &Options,
    dir: &Path,
    seeds: u64,
) -> Result<(Analysis, Vec<PathBuf>), ReproduceError> {
    let mut points = Vec::new();
    for offered in LOADS_3_10 {
        for (raw, name) in [(false, NOOPT), (true, OPT)] {
            points.push(Point {
                group: GROUP_3_10,
                series: name.into(),
                offered,
                cfg: ExperimentConfig::thesis_fig_3_10(raw, offered),
            });
        }
    }
    let aggs = run_points(opts, dir, seeds, &points)?;
    let mut rows = Vec::new();
    for offered in LOADS_3_10 {
        let (Some(n), Some(o)) = (
            find(&points, &aggs, GROUP_3_10, NOOPT, offered),
            find(&points, &aggs, GROUP_3_10, OPT, offered),
        ) else {
            continue;
        };
        let k = offered / 1e3;
        rows.push(row(
            format!("{k:.0} kOps/s: achieved, Opt"),
            "kOps/s",
            o.achieved / 1e3,
            "No-Opt",
            Some(n.achieved / 1e3),
            "Opt sustains more load",
        ));
        rows.push(row(
            format!("{k:.0} kOps/s: p95, Opt"),
            "µs",
            o.p95,
            "No-Opt",
            Some(n.p95),
            "Opt has lower latency",
        ));
    }
    for name in [NOOPT, OPT] {
        rows.push(row(
            format!("highest load served, {name}"),
            "kOps/s",
            sustained(&points, &aggs, GROUP_3_10, name) / 1e3,
            "-",
            None,
            "Opt sustains more load at lower latency (no number stated)",
        ));
    }
    // Which implementation negotiation picked, as a check that Opt really ran RawServerShard.
    let chosen = |name: &str| {
        points
            .iter()
            .zip(&aggs)
            .find(|(p, _)| p.series == name)
            .and_then(|(_, a)| a.first.as_ref())
            .map(|s| format!("{:?}", s.server.chosen))
            .unwrap_or_default()
    };
    let notes = vec![
        "Setup: as thesis Fig 3.9 with client sharding off (5 plain clients x 4 connections, 6 \
         shards, YCSB B zipfian 0.99); the server's sharder forwards each request to its shard \
         by UDP. No-Opt = ServerShard over bincode (decode, hash, re-encode, send); Opt = \
         RawServerShard (the RawShard pass's output): hash the key's bytes at the offset the \
         negotiated format fixes, forward the datagram unchanged, decode in the shard."
            .into(),
        costs_note(
            "No-Opt (CostModel::MEASURED_UDP_FORWARD)",
            &CostModel::MEASURED_UDP_FORWARD,
            6,
        ),
        costs_note(
            "Opt (CostModel::MEASURED_RAW_UDP_FORWARD: sharder loop 0.92x the deserializing one, \
             measured on loopback; the shard pays the 0.35 µs decode)",
            &CostModel::MEASURED_RAW_UDP_FORWARD,
            6,
        ),
        format!(
            "Negotiated sharders (front connections per implementation): No-Opt {}, Opt {}.",
            chosen(NOOPT),
            chosen(OPT)
        ),
        "Deviation: the thesis put 3 + 3 shards on two other rack machines; here the 6 shards \
         stay on the server host and the forwarding send is in the sharder's measured cost \
         (the extra link hop is not modelled)."
            .into(),
        options_note(opts, seeds),
        machine_note(),
    ];
    Ok((
        Analysis {
            figures: vec![(
                "fig3_10".into(),
                "Thesis Fig 3.10: raw-offset (Opt) vs deserializing (No-Opt) UDP-forwarding sharder (6 shards, YCSB B zipfian, simulated with measured loopback costs)".into(),
                load_panels(&points, &aggs, GROUP_3_10, "server sharder"),
                2,
            )],
            rows,
            notes,
        },
        vec![dir.join("samples.csv")],
    ))
}

const LOADS_5: [f64; 5] = [20e3, 40e3, 60e3, 80e3, 100e3];
const GROUP_5: &str = "fig5";

fn fig5_name(s: Fig5Scenario) -> &'static str {
    match s {
        Fig5Scenario::ClientPush => "Client Push",
        Fig5Scenario::ServerAccelerated => "Server Accelerated (switch)",
        Fig5Scenario::Mixed => "Mixed",
        Fig5Scenario::ServerFallback => "Server Fallback",
    }
}

/// HotNets Fig 5: p95 latency per sharding scenario vs offered load.
pub(super) fn hotnets_5(
    opts: &Options,
    dir: &Path,
    seeds: u64,
) -> Result<(Analysis, Vec<PathBuf>), ReproduceError> {
    let mut points = Vec::new();
    for offered in LOADS_5 {
        for sc in Fig5Scenario::ALL {
            points.push(Point {
                group: GROUP_5,
                series: fig5_name(sc).into(),
                offered,
                cfg: ExperimentConfig::hotnets_fig_5(sc, offered),
            });
        }
    }
    let aggs = run_points(opts, dir, seeds, &points)?;
    let mut rows = Vec::new();
    for offered in LOADS_5 {
        let push = find(
            &points,
            &aggs,
            GROUP_5,
            fig5_name(Fig5Scenario::ClientPush),
            offered,
        )
        .map(|a| a.p95);
        for sc in Fig5Scenario::ALL {
            let Some(a) = find(&points, &aggs, GROUP_5, fig5_name(sc), offered) else {
                continue;
            };
            rows.push(row(
                format!("{:.0} kOps/s: p95, {}", offered / 1e3, fig5_name(sc)),
                "µs",
                a.p95,
                if sc == Fig5Scenario::ClientPush {
                    "-"
                } else {
                    "Client Push"
                },
                if sc == Fig5Scenario::ClientPush {
                    None
                } else {
                    push
                },
                "ranking implied: Client Push < Mixed < Server Accelerated < Server Fallback (no numbers)",
            ));
        }
    }
    let mut panels = load_panels(&points, &aggs, GROUP_5, "sharding scenario");
    // The p95 panel first, in µs (these stay well below saturation).
    let p95 = series(&points, &aggs, GROUP_5, |a| a.p95);
    panels[1] = Panel {
        title: "p95 request latency".into(),
        x_label: "offered load (kOps/s)".into(),
        y_label: "p95 latency (µs)".into(),
        lines: p95
            .into_iter()
            .enumerate()
            .map(|(i, (label, points))| Line {
                label,
                points,
                color: i,
                dashed: false,
            })
            .collect(),
        x_range: None,
        y_range: None,
    };
    panels.swap(0, 1);
    let oc = OffloadConfig::default();
    let notes = vec![
        "Setup (FIGURES.md HotNets Fig 5): 4 shards, 2 clients x 1 connection, YCSB A uniform \
         over 12,000 records, 132-byte messages, open-loop Poisson; negotiation prefers client \
         push, then the switch offload (priority 10), then the host fallback."
            .into(),
        format!(
            "Switch offload (simulated programmable switch, XDP's stand-in): steers by hashing \
             the key at the negotiated format's offset, {} ns per packet (assumed, not \
             measured), one table entry per connection ({} entries).",
            oc.per_packet.as_nanos(),
            oc.table_entries
        ),
        costs_note(
            "Server fallback = UDP-forwarding host sharder (CostModel::MEASURED_UDP_FORWARD; an \
             assumption: the paper does not say how its fallback reaches the shard threads)",
            &CostModel::MEASURED_UDP_FORWARD,
            4,
        ),
        options_note(opts, seeds),
        machine_note(),
    ];
    Ok((
        Analysis {
            figures: vec![(
                "fig5".into(),
                "HotNets Fig 5: sharding implementations chosen by negotiation (4 shards, YCSB A uniform, simulated with measured loopback costs)".into(),
                panels,
                2,
            )],
            rows,
            notes,
        },
        vec![dir.join("samples.csv")],
    ))
}

const LOADS_OC: [f64; 5] = [20e3, 40e3, 60e3, 80e3, 100e3];
const ROOM_1: &str = "room for one";
const ROOM_2: &str = "room for both";

/// Offload contention: two applications (a client host each, one connection each) connect to
/// the sharded store behind a switch whose steering table has one entry; negotiation gives
/// the offload to the first and the host fallback to the second, saying why. Compared with
/// the same switch with room for both.
pub(super) fn offload_contention(
    opts: &Options,
    dir: &Path,
    seeds: u64,
) -> Result<(Analysis, Vec<PathBuf>), ReproduceError> {
    let mut points = Vec::new();
    for offered in LOADS_OC {
        for (group, entries) in [(ROOM_1, 1), (ROOM_2, 2)] {
            let mut cfg = ExperimentConfig::hotnets_fig_5(Fig5Scenario::ServerAccelerated, offered);
            cfg.offload = Some(OffloadConfig {
                table_entries: entries,
                ..OffloadConfig::default()
            });
            points.push(Point {
                group,
                series: "both".into(),
                offered,
                cfg,
            });
        }
    }
    let aggs = run_points(opts, dir, seeds, &points)?;
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for group in [ROOM_1, ROOM_2] {
        if let Some(s) = points
            .iter()
            .zip(&aggs)
            .find(|(p, _)| p.group == group)
            .and_then(|(_, a)| a.first.as_ref())
        {
            notes.push(format!(
                "{group}: negotiation chose (front connections per implementation) {:?}; \
                 reasons given for fallbacks: {}",
                s.server.chosen,
                if s.server.fallbacks.is_empty() {
                    "none".to_string()
                } else {
                    s.server.fallbacks.join(" | ")
                }
            ));
            let offloaded = s.server.chosen.get(kvstore::offload::OFFLOAD_IMPL).copied();
            rows.push(row(
                format!("{group}: connections given the switch offload"),
                "connections",
                offloaded.unwrap_or(0) as f64,
                "-",
                None,
                if group == ROOM_1 {
                    "(issue 12, no paper figure) one application gets it, the other the host fallback, with the reason"
                } else {
                    "(control) both get it"
                },
            ));
        }
    }
    for offered in LOADS_OC {
        let (Some(one), Some(two)) = (
            find(&points, &aggs, ROOM_1, "both", offered),
            find(&points, &aggs, ROOM_2, "both", offered),
        ) else {
            continue;
        };
        for (i, app) in ["application A (connects first)", "application B"]
            .iter()
            .enumerate()
        {
            rows.push(row(
                format!("{:.0} kOps/s: p95, {app}, {ROOM_1}", offered / 1e3),
                "µs",
                one.conn_p95.get(i).copied().unwrap_or(f64::NAN),
                ROOM_2,
                two.conn_p95.get(i).copied(),
                "no paper figure",
            ));
        }
    }
    let line = |group: &str, i: usize| -> Vec<(f64, f64)> {
        points
            .iter()
            .zip(&aggs)
            .filter(|(p, _)| p.group == group)
            .map(|(p, a)| {
                (
                    p.offered / 1e3,
                    a.conn_p95.get(i).copied().unwrap_or(f64::NAN),
                )
            })
            .collect()
    };
    let panels = vec![Panel {
        title: "p95 latency per application".into(),
        x_label: "offered load, both applications together (kOps/s)".into(),
        y_label: "p95 latency (µs)".into(),
        lines: vec![
            Line {
                label: "A, room for one (offloaded)".into(),
                points: line(ROOM_1, 0),
                color: 0,
                dashed: false,
            },
            Line {
                label: "B, room for one (host fallback)".into(),
                points: line(ROOM_1, 1),
                color: 1,
                dashed: false,
            },
            Line {
                label: "A, room for both".into(),
                points: line(ROOM_2, 0),
                color: 0,
                dashed: true,
            },
            Line {
                label: "B, room for both".into(),
                points: line(ROOM_2, 1),
                color: 1,
                dashed: true,
            },
        ],
        x_range: None,
        y_range: None,
    }];
    notes.extend([
        "Setup: HotNets Fig 5's Server Accelerated scenario (4 shards, 2 plain clients x 1 \
         connection, YCSB A uniform, equal load each) with the switch's steering table holding \
         1 entry (room for one) or 2 (room for both). The registry reserves one table entry \
         per negotiated connection; application A negotiates first and gets the offload; \
         application B's negotiation finds no capacity and gets the host fallback \
         (UDP-forwarding sharder, CostModel::MEASURED_UDP_FORWARD), with the reason above."
            .into(),
        options_note(opts, seeds),
        machine_note(),
    ]);
    Ok((
        Analysis {
            figures: vec![(
                "offload_contention".into(),
                "Offload contention: two applications, a switch offload with room for one (simulated with measured loopback costs)".into(),
                panels,
                1,
            )],
            rows,
            notes,
        },
        vec![dir.join("samples.csv")],
    ))
}

// ---------------------------------------------------------------------------------------
// Thesis Fig 3.11: datapath portability and overhead, on real sockets.

/// Thesis Fig 3.11's offered loads, requests/s: Fig 3.9's 25-125 kOps/s grid scaled by 0.4
/// to what one client thread and one server thread serve on the 2-core VM.
const LOADS_3_11: [f64; 5] = [10e3, 20e3, 30e3, 40e3, 50e3];
/// Default measured seconds per run of thesis Fig 3.11.
pub const DEFAULT_DURATION_3_11_S: f64 = 1.0;

/// Median of `v` (NaN if empty).
fn median_of(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The machine, for the notes: CPU model, CPUs, load average when the runs began.
fn machine_3_11() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    format!("{model}, {cpus} CPUs, load average {load} when the runs began")
}

/// Medians over seeds of one (backend, variant, load).
#[derive(Clone, Debug, Default)]
struct Agg311 {
    achieved: f64,
    p50: f64,
    p95: f64,
}

/// Thesis Fig 3.11: the store's client-push path on each backend, full / no negotiation /
/// inlined, p95 latency and achieved throughput vs offered load; `seeds` repetitions per
/// point (medians reported).
pub(super) fn thesis_3_11(
    opts: &Options,
    dir: &Path,
    seeds: u64,
) -> Result<(Analysis, Vec<PathBuf>), ReproduceError> {
    use kvstore::portability::{run as port_run, Backend, PortabilityConfig, Variant};
    let secs = opts.duration_s.unwrap_or(DEFAULT_DURATION_3_11_S);
    if !(secs.is_finite() && secs > 0.0 && secs <= 3600.0) {
        return Err(ReproduceError::Arg {
            arg: "--duration".into(),
            msg: format!("expected measured seconds per run in (0, 3600], got {secs}"),
        });
    }
    if seeds == 0 || seeds > 1000 {
        return Err(ReproduceError::Arg {
            arg: "--seeds".into(),
            msg: format!("expected 1..=1000 repetitions per point, got {seeds}"),
        });
    }
    let machine = machine_3_11();
    let backends = Backend::ALL;
    let mut csv = String::from(
        "backend,variant,offered_rps,seed,achieved_rps,sent,completed,unanswered,p50_us,p95_us,p99_us,p50_sched_us,p95_sched_us,send_lag_p50_us,send_lag_p95_us,verified,mismatches,bad_replies,decode_errors\n",
    );
    // (backend, variant, load index) -> per-seed samples.
    let mut samples: std::collections::BTreeMap<
        (Backend, Variant, usize),
        Vec<kvstore::loadgen::LoadResult>,
    > = Default::default();
    let mut incorrect = 0u64;
    // Variants interleaved within a load, so drift in the machine's load hits all alike.
    for seed in 1..=seeds {
        for backend in backends {
            for (li, offered) in LOADS_3_11.iter().enumerate() {
                for variant in Variant::ALL {
                    let cfg = PortabilityConfig {
                        seed,
                        duration: Duration::from_secs_f64(secs),
                        ..PortabilityConfig::thesis_fig_3_11(*offered)
                    };
                    if opts.progress {
                        eprintln!(
                            "thesis-3.11: {} / {} at {:.0} kOps/s, seed {seed}",
                            backend.name(),
                            variant.name(),
                            offered / 1e3
                        );
                    }
                    let r = port_run(backend, variant, &cfg).map_err(|e| {
                        err(format!(
                            "{} / {} at {offered:.0} req/s, seed {seed}: {e}",
                            backend.name(),
                            variant.name()
                        ))
                    })?;
                    let l = &r.load;
                    incorrect += r.mismatches + l.bad_replies;
                    csv.push_str(&format!(
                        "{},{},{offered:.0},{seed},{:.1},{},{},{},{:.2},{:.2},{:.2},{:.2},{:.2},{:.2},{:.2},{},{},{},{}\n",
                        backend.name(),
                        variant.name(),
                        l.achieved,
                        l.sent,
                        l.completed,
                        l.unanswered,
                        us(l.latency_from_send.p50),
                        us(l.latency_from_send.p95),
                        us(l.latency_from_send.p99),
                        us(l.latency.p50),
                        us(l.latency.p95),
                        us(l.send_lag.p50),
                        us(l.send_lag.p95),
                        r.verified,
                        r.mismatches,
                        l.bad_replies,
                        r.server.decode_errors,
                    ));
                    samples
                        .entry((backend, variant, li))
                        .or_default()
                        .push(r.load);
                }
            }
        }
    }
    let path = dir.join("samples.csv");
    std::fs::write(&path, csv).map_err(|e| ReproduceError::Output {
        path: path.display().to_string(),
        msg: e.to_string(),
    })?;
    let agg = |b: Backend, v: Variant, li: usize| -> Agg311 {
        let s = samples.get(&(b, v, li)).cloned().unwrap_or_default();
        let m =
            |f: &dyn Fn(&kvstore::loadgen::LoadResult) -> f64| median_of(s.iter().map(f).collect());
        Agg311 {
            achieved: m(&|l| l.achieved),
            p50: m(&|l| us(l.latency_from_send.p50)),
            p95: m(&|l| us(l.latency_from_send.p95)),
        }
    };
    let paper = "removing features gains little (no numbers stated)";
    let mut rows = Vec::new();
    let mut panels = Vec::new();
    for b in backends {
        let mut overheads = Vec::new();
        for (li, offered) in LOADS_3_11.iter().enumerate() {
            let k = offered / 1e3;
            let base = agg(b, Variant::Inlined, li);
            for v in [Variant::Full, Variant::NoNegotiation] {
                let a = agg(b, v, li);
                for (q, ours, reference) in [("p50", a.p50, base.p50), ("p95", a.p95, base.p95)] {
                    rows.push(row(
                        format!("{}, {k:.0} kOps/s: {q} latency, {}", b.name(), v.name()),
                        "µs",
                        ours,
                        "inlined",
                        Some(reference),
                        paper,
                    ));
                }
                if v == Variant::Full {
                    overheads.push(a.p50 - base.p50);
                    rows.push(row(
                        format!("{}, {k:.0} kOps/s: achieved, {}", b.name(), v.name()),
                        "kOps/s",
                        a.achieved / 1e3,
                        "inlined",
                        Some(base.achieved / 1e3),
                        paper,
                    ));
                }
            }
        }
        rows.push(row(
            format!(
                "{}: full − inlined p50 latency, median over loads",
                b.name()
            ),
            "µs",
            median_of(overheads),
            "-",
            None,
            paper,
        ));
        let line = |v: Variant, i: usize, f: &dyn Fn(&Agg311) -> f64| Line {
            label: v.name().into(),
            points: LOADS_3_11
                .iter()
                .enumerate()
                .map(|(li, o)| (o / 1e3, f(&agg(b, v, li))))
                .collect(),
            color: i,
            dashed: false,
        };
        panels.push(Panel {
            title: format!("{}: p95 latency", b.name()),
            x_label: "offered load (kOps/s)".into(),
            y_label: "p95 latency from the send call (µs)".into(),
            lines: Variant::ALL
                .iter()
                .enumerate()
                .map(|(i, v)| line(*v, i, &|a| a.p95))
                .collect(),
            x_range: None,
            y_range: None,
        });
        let mut tput: Vec<Line> = Variant::ALL
            .iter()
            .enumerate()
            .map(|(i, v)| line(*v, i, &|a| a.achieved / 1e3))
            .collect();
        tput.push(Line {
            label: "offered (ideal)".into(),
            points: LOADS_3_11.iter().map(|o| (o / 1e3, o / 1e3)).collect(),
            color: 6,
            dashed: true,
        });
        panels.push(Panel {
            title: format!("{}: achieved throughput", b.name()),
            x_label: "offered load (kOps/s)".into(),
            y_label: "achieved (kOps/s)".into(),
            lines: tput,
            x_range: None,
            y_range: None,
        });
    }
    rows.push(row(
        "incorrect replies (value read back wrong or malformed), all runs".into(),
        "replies",
        incorrect as f64,
        "expected",
        Some(0.0),
        "-",
    ));
    let notes = vec![
        "Real loopback, not simulated: one server thread (6 shard sockets, one task per socket \
         or accepted connection: receive, apply, reply) and one client thread (4 connections, \
         each a Poisson source), each on a tokio current-thread runtime; YCSB B, zipfian 0.99 \
         over 12,000 records put first, 132-byte messages (thesis Fig 3.9's workload). After \
         each run 64 records are written and read back; the last row counts wrong replies."
            .into(),
        "Variants: full = KvClient in client-push mode, negotiated with the server's front, \
         requests to the shards' sockets, which accept implicitly (the stacks of \
         kvstore::Server's client-push path); no negotiation = the same stacks \
         (ClientShard + bincode / AcceptClientPush + bincode) built with connect_wrap over the \
         bare socket; inlined = bincode, FNV-1a shard choice and send_to by hand."
            .into(),
        "Latency is measured from the send call (p50/p95 rows and the p95 panels): tokio's \
         timers tick every 1 ms, so requests due within a tick leave together and the \
         open-loop latency from the scheduled instant carries up to 1 ms of timer lateness for \
         every variant alike (its p95 is in samples.csv, p95_sched_us, with the send lag)."
            .into(),
        "Paper's datapaths: Linux sockets = our UDP (and TCP via datapaths::tcp_dgram); \
         Shenango-A (runtime in a thread, memory channel) = our in-process backend (server \
         runtime on another thread, a mutex-protected mailbox); DPDK skipped (no NIC in the \
         VM); Shenango-R (features re-implemented in the runtime) has no counterpart here; \
         Unix datagram sockets are an extra Linux-sockets row (a Unix datagram socket queues \
         net.unix.max_dgram_qlen datagrams, 10 here, and then blocks its sender instead of \
         dropping; the load phase keeps 8 puts outstanding for it)."
            .into(),
        format!(
            "Loads: thesis Fig 3.9's 25-125 kOps/s grid scaled by 0.4 ({} kOps/s) to what the \
             2-core VM serves; runs are sequential (--jobs is ignored: they measure real \
             time); `--seeds {seeds}` repetitions per point, numbers are medians; \
             `--duration {secs}` measured seconds per run (100 ms drain).",
            LOADS_3_11
                .iter()
                .map(|l| format!("{:.0}", l / 1e3))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        format!("Machine: {machine}; other builds may share it."),
    ];
    Ok((
        Analysis {
            figures: vec![(
                "fig3_11".into(),
                "Thesis Fig 3.11: the sharded store on UDP, Unix datagram, TCP and in-process datapaths, full / no negotiation / inlined (real loopback)".into(),
                panels,
                2,
            )],
            rows,
            notes,
        },
        vec![dir.join("samples.csv")],
    ))
}
