//! A short simulated dumbbell (one bulk flow, 96 Mbit/s, 20 ms RTT, one-BDP drop-tail buffer,
//! 2 simulated seconds) run with native Reno, CCP Reno with per-ACK reports and CCP Reno with
//! per-RTT reports (the agent's Reno of `ccp::algs`, as `scenarios/ccp.toml` runs it).
//!
//! Criterion measures each; then one interleaved pass times the three side by side and prints
//! the median wall time of each and its ratio to native (the targets: at most 2× at
//! per-ACK reporting, 1.2× at per-RTT).

use std::rc::Rc;
use std::time::Instant as WallInstant;

use ccp::algs::{self, ParamValue, Params};
use ccp_shim::{CcpFactory, ShimConfig};
use criterion::{criterion_group, Criterion};
use netmodels::network::NetworkOptions;
use netmodels::topology::LinkParams;
use netmodels::{FlowSpec, Network, TopologyConfig};
use sim_core::{RngStreams, SimTime, Simulation};
use transport::{CcFactory, CcKind};

const SECS: u64 = 2;

#[derive(Clone, Copy, Debug)]
enum Mode {
    Native,
    PerAck,
    PerRtt,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::Native, Mode::PerAck, Mode::PerRtt];
    fn name(self) -> &'static str {
        match self {
            Mode::Native => "native_reno",
            Mode::PerAck => "ccp_reno_per_ack",
            Mode::PerRtt => "ccp_reno_per_rtt",
        }
    }
}

/// Runs the dumbbell; returns the bytes delivered (so the work cannot be optimized away).
fn run(mode: Mode) -> u64 {
    let topo = TopologyConfig::Dumbbell {
        pairs: 1,
        bottleneck: LinkParams::fixed(96_000_000, 9_000.0, 164),
        access: LinkParams::fixed(1_000_000_000, 500.0, 1000),
        middlebox: None,
    }
    .build()
    .unwrap();
    let net = Network::new(topo, NetworkOptions::default(), &RngStreams::new(1)).unwrap();
    let mut sim = Simulation::new(net);
    let cc: Rc<dyn CcFactory> = match mode {
        Mode::Native => Rc::new(CcKind::Reno),
        Mode::PerAck | Mode::PerRtt => {
            let rt = sim.model().runtime(sim.handle(), 0).unwrap();
            let report = if matches!(mode, Mode::PerAck) {
                "per_ack"
            } else {
                "per_rtt"
            };
            let params: Params = [("report".to_string(), ParamValue::Str(report.into()))].into();
            Rc::new(
                CcpFactory::new(rt, ShimConfig::default(), move || {
                    algs::build("reno", &params).unwrap()
                })
                .unwrap(),
            )
        }
    };
    sim.model_mut()
        .add_flow(FlowSpec {
            src: 0,
            dst: 1,
            size: None,
            start: SimTime::ZERO,
            cc,
            priority: 0,
        })
        .unwrap();
    sim.model().start_events(sim.handle());
    sim.run_until(SimTime::from_nanos(SECS * 1_000_000_000));
    sim.model().flow_delivered(0)
}

fn dumbbell(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("dumbbell_{SECS}s"));
    g.sample_size(10);
    for mode in Mode::ALL {
        g.bench_function(mode.name(), |b| b.iter(|| run(mode)));
    }
    g.finish();
}

/// Times the three modes interleaved (`rounds` each) and prints medians and ratios.
fn side_by_side(rounds: usize) {
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); Mode::ALL.len()];
    for _ in 0..rounds {
        for (i, mode) in Mode::ALL.iter().enumerate() {
            let t = WallInstant::now();
            std::hint::black_box(run(*mode));
            times[i].push(t.elapsed().as_secs_f64());
        }
    }
    let med: Vec<f64> = times
        .iter_mut()
        .map(|v| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        })
        .collect();
    println!("\ndumbbell_{SECS}s side by side, median of {rounds} interleaved rounds:");
    for (i, mode) in Mode::ALL.iter().enumerate() {
        println!(
            "  {:<18} {:8.1} ms   {:.2}x native",
            mode.name(),
            med[i] * 1e3,
            med[i] / med[0]
        );
    }
}

criterion_group!(benches, dumbbell);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // Under `cargo test --benches` (criterion's `--test` mode) run each once only.
    let test_mode = std::env::args().any(|a| a == "--test");
    side_by_side(if test_mode { 1 } else { 9 });
}
