//! Prints thesis Fig 3.9 (client vs server sharding vs offered load) and HotNets Fig 5
//! (p95 per sharding scenario) from the simulator, with the measured cost model.
//!
//! Run: `cargo run --release -p kvstore --example sharding_sweep`.

use kvstore::experiment::{run, ExperimentConfig, Fig5Scenario};
use kvstore::{ClientMode, CostModel};
use netrt::Duration;

fn line(label: &str, s: &kvstore::experiment::Summary) {
    let l = &s.load.latency;
    println!(
        "{label:<40} offered {:>8.0} achieved {:>8.0} p5/p25/p50/p75/p95/p99 {:.1}/{:.1}/{:.1}/{:.1}/{:.1}/{:.1} us unanswered {}",
        s.load.offered,
        s.load.achieved,
        l.p5 as f64 / 1e3,
        l.p25 as f64 / 1e3,
        l.p50 as f64 / 1e3,
        l.p75 as f64 / 1e3,
        l.p95 as f64 / 1e3,
        l.p99 as f64 / 1e3,
        s.load.unanswered
    );
}

fn main() {
    for (costs, name) in [
        (CostModel::MEASURED_LOOPBACK, "in-process sharder"),
        (CostModel::MEASURED_UDP_FORWARD, "UDP-forwarding sharder"),
    ] {
        println!(
            "thesis Fig 3.9, {name}: dispatcher {:.0}/s, push {:.0}/s",
            costs.dispatcher_capacity(),
            costs.push_capacity(6)
        );
        for frac in [0.25, 0.5, 0.75, 1.0, 1.25] {
            let offered = frac * costs.dispatcher_capacity();
            for mode in [ClientMode::Push, ClientMode::Plain] {
                let mut c = ExperimentConfig::thesis_fig_3_9(mode, offered);
                c.costs = costs;
                c.duration = Duration::from_millis(100);
                let s = run(&c).expect("run");
                line(&format!("  {mode:?}"), &s);
            }
        }
    }
    println!("HotNets Fig 5 (4 shards, YCSB A uniform, UDP-forwarding fallback):");
    for offered in [50_000.0, 100_000.0] {
        for sc in Fig5Scenario::ALL {
            let mut c = ExperimentConfig::hotnets_fig_5(sc, offered);
            c.duration = Duration::from_millis(100);
            let s = run(&c).expect("run");
            line(&format!("  {sc:?}"), &s);
        }
    }
}
