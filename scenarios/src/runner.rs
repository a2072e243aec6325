//! Runs one scenario: builds the topology and network, generates the workload, runs the
//! simulation, and writes the results.
//!
//! Result files (all deterministic: same scenario and seed, same bytes):
//! - `flows.csv`: one [`netmodels::FlowRecord`] per flow;
//! - `timeseries.csv`: `time_ns,series,value` samples (queue length and delay, utilization,
//!   per-flow cwnd and smoothed RTT);
//! - `ports.csv`: per-port counters;
//! - `summary.csv`: `key,value` rows (utilization, FCT statistics, byte accounting...);
//! - `scenario.toml`: the effective scenario (after `--set` overrides) with its seed.
//!
//! Wall-clock figures (events per wall-second...) are printed by the CLI, never written here.

use std::path::Path;

use netmodels::monitoring::{parse_port_ref, series};
use netmodels::network::NetworkOptions;
use netmodels::{FlowRecord, Network, NetworkError, NodeId, TopologyConfig};
use sim_core::{RngStreams, RunStats, SimDuration, SimTime, Simulation};

use crate::cc::{bind_ccp, CcpBindings};
use crate::config::{Loaded, Scenario};
use crate::workload::{generate_flows, roles};

/// Errors running a scenario.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The topology or network parameters are invalid.
    #[error("{file}: topology: {source}")]
    Network {
        /// The scenario file.
        file: String,
        /// The cause.
        source: Box<NetworkError>,
    },
    /// A workload cannot be generated.
    #[error("{file}: workload[{index}]: {msg}")]
    Workload {
        /// The scenario file.
        file: String,
        /// Which `[[workload]]`.
        index: usize,
        /// What is wrong.
        msg: String,
    },
    /// An `[output]` field names something that does not exist.
    #[error("{file}: {field}: {msg}")]
    Invalid {
        /// The scenario file.
        file: String,
        /// Dotted path of the field.
        field: String,
        /// What was expected.
        msg: String,
    },
    /// Results could not be written.
    #[error("writing results to {dir}: {msg}")]
    Output {
        /// The directory.
        dir: String,
        /// What failed.
        msg: String,
    },
}

/// What one run produced (besides the files).
#[derive(Clone, Debug)]
pub struct RunResult {
    /// Kernel counters.
    pub stats: RunStats,
    /// Virtual time at the end.
    pub end: SimTime,
    /// Per-flow records.
    pub flows: Vec<FlowRecord>,
    /// `key,value` summary rows.
    pub summary: Vec<(String, String)>,
    /// Wall-clock time of the event loop alone (not the setup or the writing of results), for
    /// the CLI's speed counters. Never written to result files (they stay deterministic).
    pub sim_wall: std::time::Duration,
    /// Sized flows that had not finished when the run ended.
    pub unfinished_flows: usize,
}

impl RunResult {
    /// A summary value by key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.summary
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    /// A numeric summary value by key.
    pub fn num(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(|v| v.parse().ok())
    }
}

/// The links a scenario monitors when its `[output]` names none.
/// The links a scenario monitors: `[output].monitor_links`, or by default the bottleneck of a
/// dumbbell and the receiver's link of a star.
pub fn monitored_links(s: &Scenario) -> Vec<String> {
    if !s.output.monitor_links.is_empty() {
        return s.output.monitor_links.clone();
    }
    match s.topology {
        TopologyConfig::Dumbbell { .. } => vec!["bottleneck".into()],
        TopologyConfig::Star { .. } => vec!["receiver".into()],
        _ => Vec::new(),
    }
}

/// Runs with at most this many flows record per-flow time series unless told otherwise.
pub const AUTO_RECORD_FLOWS: usize = 64;

/// Whether a run of `flows` flows records per-flow series (`[output] record_flows`, or auto).
pub fn record_flows(s: &Scenario, flows: usize) -> bool {
    s.output.record_flows.unwrap_or(flows <= AUTO_RECORD_FLOWS)
}

/// The rate a CDF workload's `load` refers to: the bottleneck's forward rate (dumbbell), the
/// receiver link's forward rate (star), or the sum of every host's egress rate (leaf-spine:
/// each host offers `load` times its own link).
fn reference_bps(s: &Scenario, net: &Network) -> u64 {
    let forward_rate = |name: &str| {
        net.ports()
            .iter()
            .step_by(2)
            .find(|p| net.topology().links[p.link].name == name)
            .map_or(0, |p| p.nominal_bps())
    };
    match s.topology {
        TopologyConfig::Dumbbell { .. } => forward_rate("bottleneck"),
        TopologyConfig::Star { .. } => forward_rate("receiver"),
        _ => net
            .ports()
            .iter()
            .filter(|p| net.topology().is_host(p.from))
            .map(|p| p.nominal_bps())
            .fold(0u64, u64::saturating_add),
    }
}

/// Builds the network of a scenario with its flows added, without running it.
pub fn build(
    s: &Scenario,
    file: &str,
    out_dir: Option<&Path>,
) -> Result<(Network, CcpBindings), RunError> {
    let nerr = |source: NetworkError| RunError::Network {
        file: file.into(),
        source: Box::new(source),
    };
    let topo = s.topology.build().map_err(|e| nerr(e.into()))?;
    for (field, names, ports) in [
        ("output.monitor_links", &s.output.monitor_links, true),
        ("output.pcap_links", &s.output.pcap_links, false),
    ] {
        let invalid = |msg: String| RunError::Invalid {
            file: file.into(),
            field: field.into(),
            msg,
        };
        let mut seen = std::collections::BTreeSet::new();
        for entry in names.iter() {
            // A monitored entry names a port (`<link>[:<direction>]`); a pcap entry a link.
            let (name, key) = if ports {
                let (n, rev) = parse_port_ref(entry).map_err(&invalid)?;
                (n, netmodels::monitoring::port_name(n, rev))
            } else {
                (entry.as_str(), entry.clone())
            };
            if !topo.links.iter().any(|l| l.name == name) {
                let mut known: Vec<&str> =
                    topo.links.iter().map(|l| l.name.as_str()).take(8).collect();
                if topo.links.len() > 8 {
                    known.push("...");
                }
                return Err(invalid(format!(
                    "no link is named `{name}`; expected one of {}",
                    known.join(", ")
                )));
            }
            if !seen.insert(key.clone()) {
                return Err(invalid(format!("`{entry}` is listed twice (as {key})")));
            }
        }
    }
    let sample = (s.output.sample_interval_ms > 0.0)
        .then(|| SimDuration::from_secs_f64(s.output.sample_interval_ms * 1e-3));
    let opts = NetworkOptions {
        transport: s.transport.clone(),
        sample_interval: sample,
        monitor_links: monitored_links(s),
        record_flows: false,
        pcap: match (out_dir, s.output.pcap_links.is_empty()) {
            (Some(d), false) => Some((d.to_path_buf(), s.output.pcap_links.clone())),
            _ => None,
        },
        stop_when_done: s.stop_when_done,
    };
    let rng = RngStreams::new(s.seed);
    let mut net = Network::new(topo, opts, &rng).map_err(nerr)?;
    let r = roles(&s.topology, net.topology(), reference_bps(s, &net));
    let duration = SimDuration::from_secs_f64(s.duration_s);
    let mut ccp = CcpBindings::default();
    let flows = generate_flows(&s.workload, &r, s.transport.mss, duration, &rng, &mut ccp)
        .map_err(|(index, msg)| RunError::Workload {
            file: file.into(),
            index,
            msg,
        })?;
    net.set_record_flows(record_flows(s, flows.len()));
    for (f, stop) in flows {
        let i = net.add_flow(f).map_err(nerr)?;
        if let Some(t) = stop {
            net.set_flow_stop(i, t);
        }
    }
    Ok((net, ccp))
}

/// Flow-completion statistics over the sized flows of a run, with unfinished flows treated as
/// right-censored: an unfinished flow's completion time is unknown but at least its elapsed
/// time (end of run − start). Bulk (unsized) flows never complete and are left out.
///
/// A quantile is the order statistic of rank ⌈q·n⌉ over all n sized flows, each valued at its
/// FCT or, if unfinished, its elapsed time. It is exact when no unfinished flow ranks at or
/// below it; otherwise it is a lower bound (replacing elapsed times by the unknown, larger
/// completion times can only raise it) and flagged `censored`.
#[derive(Clone, Debug, PartialEq)]
pub struct FctStats {
    /// Sized flows that completed.
    pub finished: usize,
    /// Sized flows still incomplete at the end of the run.
    pub unfinished: usize,
    /// Mean FCT of the finished flows only (biased low when some did not finish).
    pub mean_finished: f64,
    /// (value, censored) sorted by value; ties put finished flows first.
    values: Vec<(f64, bool)>,
    /// Last completion minus first start of the sized flows, and whether some never completed
    /// (then it is the end of the run minus the first start, a lower bound).
    pub completion_span: Option<(f64, bool)>,
}

impl FctStats {
    /// The statistics of `flows` for a run that ended at `end_s`.
    pub fn of(flows: &[FlowRecord], end_s: f64) -> FctStats {
        let sized: Vec<&FlowRecord> = flows.iter().filter(|f| f.size_bytes.is_some()).collect();
        let mut values: Vec<(f64, bool)> = sized
            .iter()
            .map(|f| match f.fct_s {
                Some(x) => (x, false),
                None => ((end_s - f.start_s).max(0.0), true),
            })
            .collect();
        values.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let done: Vec<f64> = sized.iter().filter_map(|f| f.fct_s).collect();
        let finished = done.len();
        let unfinished = sized.len() - finished;
        let mean_finished = if finished > 0 {
            done.iter().sum::<f64>() / finished as f64
        } else {
            f64::NAN
        };
        let completion_span = (!sized.is_empty()).then(|| {
            let first = sized
                .iter()
                .map(|f| f.start_s)
                .fold(f64::INFINITY, f64::min);
            if unfinished > 0 {
                ((end_s - first).max(0.0), true)
            } else {
                let last = sized
                    .iter()
                    .filter_map(|f| f.fct_s.map(|x| x + f.start_s))
                    .fold(0.0, f64::max);
                (last - first, false)
            }
        });
        FctStats {
            finished,
            unfinished,
            mean_finished,
            values,
            completion_span,
        }
    }

    /// The `q`-quantile (0 < q ≤ 1) and whether it is censored (a lower bound); `None`
    /// without sized flows.
    pub fn quantile(&self, q: f64) -> Option<(f64, bool)> {
        censored_quantile(&self.values, q)
    }
}

/// The `q`-quantile of `(value, censored)` pairs sorted by value (ties: uncensored first), by
/// nearest rank; censored when a censored value ranks at or below it (see [`FctStats`]).
pub fn censored_quantile(sorted: &[(f64, bool)], q: f64) -> Option<(f64, bool)> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    let censored = sorted[..rank].iter().any(|v| v.1);
    Some((sorted[rank - 1].0, censored))
}

/// Flow-size bins of the FCT-slowdown breakdown (bytes, upper bound exclusive), as in the
/// datacenter transport literature.
pub const SIZE_BINS: [(&str, u64); 4] = [
    ("0-10KB", 10_000),
    ("10KB-100KB", 100_000),
    ("100KB-1MB", 1_000_000),
    ("1MB+", u64::MAX),
];

/// FCT slowdown (FCT ÷ ideal FCT, see `FlowRecord::ideal_fct_s`) of the sized flows, by size
/// bin: sorted `(slowdown, censored)` pairs, unfinished flows at their elapsed time (a lower
/// bound). Bins without flows are left out.
pub fn slowdown_by_size(flows: &[FlowRecord], end_s: f64) -> Vec<(&'static str, Vec<(f64, bool)>)> {
    let mut bins: Vec<(&'static str, Vec<(f64, bool)>)> =
        SIZE_BINS.iter().map(|(n, _)| (*n, Vec::new())).collect();
    for f in flows {
        let (Some(size), Some(ideal)) = (f.size_bytes, f.ideal_fct_s) else {
            continue;
        };
        if ideal <= 0.0 {
            continue;
        }
        let v = match f.fct_s {
            Some(x) => (x / ideal, false),
            None => ((end_s - f.start_s).max(0.0) / ideal, true),
        };
        let b = SIZE_BINS.iter().position(|(_, hi)| size < *hi).unwrap_or(3);
        bins[b].1.push(v);
    }
    for (_, v) in &mut bins {
        v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    }
    bins.retain(|(_, v)| !v.is_empty());
    bins
}

/// Runs a loaded scenario; writes results into `out_dir` when given.
pub fn run(loaded: &Loaded, out_dir: Option<&Path>) -> Result<RunResult, RunError> {
    let s = &loaded.scenario;
    let file = loaded.file.display().to_string();
    let oerr = |msg: String| RunError::Output {
        dir: out_dir.map(|d| d.display().to_string()).unwrap_or_default(),
        msg,
    };
    if let Some(d) = out_dir {
        std::fs::create_dir_all(d).map_err(|e| oerr(e.to_string()))?;
    }
    let (net, ccp) = build(s, &file, out_dir)?;
    let first_host = (0..net.topology().nodes.len() as NodeId).find(|&n| net.topology().is_host(n));
    let mut sim = Simulation::new(net);
    if let Some(host) = first_host {
        bind_ccp(&sim, host, &ccp).map_err(|msg| RunError::Workload {
            file: file.clone(),
            index: 0,
            msg,
        })?;
    }
    sim.model().start_events(sim.handle());
    let wall0 = std::time::Instant::now();
    sim.run_until(SimTime::from_secs_f64(s.duration_s));
    let sim_wall = wall0.elapsed();
    let end = sim.now();
    let stats = sim.stats();
    let net = sim.model();
    let flows = net.flow_records(end);

    let mut summary: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: String| summary.push((k.to_owned(), v));
    put("scenario", s.name.clone());
    put("seed", s.seed.to_string());
    put("end_s", format!("{:.9}", end.as_secs_f64()));
    put("events", stats.events.to_string());
    put("flows", flows.len().to_string());
    if ccp.any() {
        let st = ccp.stats();
        put("ccp_messages_to_agent", st.to_agent.to_string());
        put("ccp_messages_to_datapath", st.to_datapath.to_string());
        put("ccp_invocations", st.invocations.to_string());
        put(
            "ccp_errors",
            (st.invoke_errors + st.message_errors + st.agent_errors).to_string(),
        );
        put("ccp_stale_messages", st.stale_messages.to_string());
        put("ccp_flows_fell_back", st.flows_fell_back.to_string());
    }
    put(
        "record_flows",
        match s.output.record_flows {
            Some(v) => v.to_string(),
            None => format!(
                "{} (auto: on up to {AUTO_RECORD_FLOWS} flows)",
                record_flows(s, flows.len())
            ),
        },
    );
    let fct = FctStats::of(&flows, end.as_secs_f64());
    put("flows_completed", fct.finished.to_string());
    put("flows_unfinished", fct.unfinished.to_string());
    if fct.finished > 0 {
        put("fct_mean_finished_s", format!("{:.9}", fct.mean_finished));
    }
    for (key, q) in [("fct_p50", 0.5), ("fct_p99", 0.99), ("fct_max", 1.0)] {
        if let Some((v, censored)) = fct.quantile(q) {
            put(&format!("{key}_s"), format!("{v:.9}"));
            put(&format!("{key}_censored"), censored.to_string());
        }
    }
    if let Some((span, censored)) = fct.completion_span {
        put("completion_span_s", format!("{span:.9}"));
        put("completion_span_censored", censored.to_string());
    }
    for (bin, st) in slowdown_by_size(&flows, end.as_secs_f64()) {
        put(&format!("flows/{bin}"), st.len().to_string());
        for (key, q) in [("slowdown_p50", 0.5), ("slowdown_p99", 0.99)] {
            if let Some((v, censored)) = censored_quantile(&st, q) {
                put(&format!("{key}/{bin}"), format!("{v:.6}"));
                if censored {
                    put(&format!("{key}_censored/{bin}"), "true".into());
                }
            }
        }
    }
    let c = net.counters();
    put("injected_bytes", c.injected_bytes.to_string());
    put("delivered_bytes", c.delivered_bytes.to_string());
    put("dropped_bytes", c.dropped_bytes.to_string());
    put("in_network_bytes", net.bytes_in_network().to_string());
    let goodput: u64 = flows.iter().map(|f| f.delivered_bytes).sum();
    put("goodput_bytes", goodput.to_string());
    let sized: u64 = flows.iter().filter_map(|f| f.size_bytes).sum();
    for name in &monitored_links(s) {
        let port = parse_port_ref(name).ok().and_then(|(link, rev)| {
            let li = net.topology().links.iter().position(|l| l.name == link)?;
            net.ports().get(2 * li + usize::from(rev))
        });
        if let Some(p) = port {
            let secs = end.as_secs_f64();
            let util = if secs > 0.0 && p.nominal_bps() > 0 {
                p.stats.tx_bytes as f64 * 8.0 / secs / p.nominal_bps() as f64
            } else {
                0.0
            };
            put(&series::name(series::UTIL, name), format!("{util:.6}"));
            put(&format!("rate_bps/{name}"), p.nominal_bps().to_string());
            put(&format!("drops/{name}"), p.stats.queue_drops.to_string());
            put(&format!("ce_marked/{name}"), p.stats.ce_marked.to_string());
            put(
                &format!("max_queue_bytes/{name}"),
                p.stats.max_queue_bytes.to_string(),
            );
            if sized > 0 && p.nominal_bps() > 0 {
                put(
                    &format!("ideal_s/{name}"),
                    format!("{:.9}", sized as f64 * 8.0 / p.nominal_bps() as f64),
                );
            }
        }
    }
    if let Some(e) = net.pcap_error() {
        put("pcap_error", e.to_owned());
    }

    if let Some(d) = out_dir {
        let werr = |e: sim_core::MetricsError| oerr(e.to_string());
        sim_core::metrics::write_records(&d.join("flows.csv"), &flows).map_err(werr)?;
        net.recorder()
            .write_csv(&d.join("timeseries.csv"))
            .map_err(werr)?;
        let ports: Vec<PortRow> = net
            .ports()
            .iter()
            .enumerate()
            .map(|(i, p)| PortRow {
                port: netmodels::monitoring::port_name(
                    &net.topology().links[p.link].name,
                    i % 2 == 1,
                ),
                link: net.topology().links[p.link].name.clone(),
                direction: if i % 2 == 0 { "forward" } else { "reverse" },
                from: net.topology().nodes[p.from as usize].name.clone(),
                to: net.topology().nodes[p.to as usize].name.clone(),
                rate_bps: p.nominal_bps(),
                tx_packets: p.stats.tx_packets,
                tx_bytes: p.stats.tx_bytes,
                queue_drops: p.stats.queue_drops,
                wire_losses: p.stats.wire_losses,
                ce_marked: p.stats.ce_marked,
                max_queue_bytes: p.stats.max_queue_bytes,
            })
            .collect();
        sim_core::metrics::write_records(&d.join("ports.csv"), &ports).map_err(werr)?;
        let rows: Vec<KeyValue> = summary
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.clone(),
                value: v.clone(),
            })
            .collect();
        sim_core::metrics::write_records(&d.join("summary.csv"), &rows).map_err(werr)?;
        let mut eff = loaded.effective_toml.clone();
        eff.push_str(&format!("\n# effective seed: {}\n", s.seed));
        std::fs::write(d.join("scenario.toml"), eff).map_err(|e| oerr(e.to_string()))?;
    }
    Ok(RunResult {
        stats,
        end,
        flows,
        summary,
        sim_wall,
        unfinished_flows: fct.unfinished,
    })
}

#[derive(serde::Serialize)]
struct PortRow {
    /// `<link>:<forward|reverse>`, the name `monitor_links` and the time series use.
    port: String,
    link: String,
    direction: &'static str,
    from: String,
    to: String,
    rate_bps: u64,
    tx_packets: u64,
    tx_bytes: u64,
    queue_drops: u64,
    wire_losses: u64,
    ce_marked: u64,
    max_queue_bytes: u64,
}

#[derive(serde::Serialize)]
struct KeyValue {
    key: String,
    value: String,
}
