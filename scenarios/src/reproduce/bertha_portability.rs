//! Thesis Fig 3.11 in `testbed reproduce`: datapath portability and overhead. The sharded
//! store on UDP, Unix datagram, TCP and in-process datapaths, each with negotiation +
//! Chunnels, Chunnels without negotiation, and Chunnels inlined, on real sockets
//! ([`kvstore::portability`]); p95 latency and achieved throughput vs offered load.

use std::path::{Path, PathBuf};

use netrt::Duration;

use super::bertha_kv::{err, row, us};
use super::{Analysis, Options, ReproduceError};
use crate::figures::{Line, Panel};

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
