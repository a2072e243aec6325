//! Issue 10, item 16's target (a 1,024-host fabric's events per wall-second within 2× of the
//! dumbbell's), measured paired.
//!
//! `scale`'s `events/*` time each scenario in its own ten seconds; on a shared VM whose speed
//! drifts by ±15 % over seconds, the ratio of two such numbers moves by as much as the gap to
//! the target. Here the three simulations are built once and advanced in turns, in slices of
//! ≈ 250,000 events (tens of milliseconds of wall time each): the Reno dumbbell, and the
//! web-search workload on a 16 × 8 × 64 leaf-spine and on a k = 16 fat-tree.
//! Every block of three adjacent slices (the order rotates) gives one ratio dumbbell ÷ fabric
//! per fabric; the table reports medians and quartiles over 31 blocks. The fabrics are first
//! run for 5 ms of simulated time, so that their flows have ramped up, and are measured over
//! the next ~100 ms (the dumbbell over ~90 s), so the rates are of the simulation alone (no
//! set-up, no summary), as the CLI's `events/wall-s` is.
//!
//! `cargo bench -p scenarios --bench fabric_paired` prints a Markdown table.

use std::path::Path;
use std::time::Instant;

use netmodels::network::Network;
use scenarios::config::load;
use scenarios::runner::build;
use sim_core::{SimDuration, Simulation};

const BLOCKS: usize = 31;

/// One scenario being advanced in slices.
struct Case {
    name: &'static str,
    sim: Simulation<Network>,
    slice: SimDuration,
    rates: Vec<f64>,
}

impl Case {
    fn new(
        name: &'static str,
        file: &str,
        set: &[&str],
        warm_up: SimDuration,
        slice: SimDuration,
    ) -> Case {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let overrides: Vec<String> = set.iter().map(|s| s.to_string()).collect();
        let loaded = load(&dir.join(file), &overrides).expect("shipped scenario loads");
        let (net, ccp) = build(&loaded.scenario, file, None).expect("builds");
        assert!(!ccp.any(), "{name}: no CCP flows expected");
        let mut sim = Simulation::new(net);
        sim.model().start_events(sim.handle());
        sim.run_for(warm_up);
        Case {
            name,
            sim,
            slice,
            rates: Vec::new(),
        }
    }

    /// Advances one slice; its events per wall-second.
    fn step(&mut self) -> f64 {
        let e0 = self.sim.stats().events;
        let t0 = Instant::now();
        self.sim.run_for(self.slice);
        let wall = t0.elapsed().as_secs_f64();
        let rate = (self.sim.stats().events - e0) as f64 / wall;
        self.rates.push(rate);
        rate
    }
}

fn quartiles(v: &[f64]) -> (f64, f64, f64) {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.25), at(0.5), at(0.75))
}

fn main() {
    let ms = SimDuration::from_millis;
    let mut cases = [
        Case::new(
            "dumbbell",
            "dumbbell.toml",
            &["duration_s=1000"],
            ms(1_000),
            ms(3_000),
        ),
        Case::new(
            "leaf-spine 16 x 8 x 64",
            "websearch.toml",
            &[
                "topology.leaves=16",
                "topology.spines=8",
                "topology.hosts_per_leaf=64",
                "duration_s=1",
            ],
            ms(5),
            SimDuration::from_micros(3_000),
        ),
        Case::new(
            "fat-tree k = 16",
            "fattree.toml",
            &["topology.k=16", "duration_s=1"],
            ms(5),
            SimDuration::from_micros(2_000),
        ),
    ];
    let mut ratios = [Vec::new(), Vec::new()];
    for b in 0..BLOCKS {
        let mut r = [0.0; 3];
        for k in 0..3 {
            let i = (b + k) % 3;
            r[i] = cases[i].step();
        }
        ratios[0].push(r[0] / r[1]);
        ratios[1].push(r[0] / r[2]);
    }
    println!("| scenario | events per wall-second, median (quartiles) | dumbbell ÷ it, median (quartiles) |");
    println!("|---|---|---|");
    for (i, c) in cases.iter().enumerate() {
        let (q1, m, q3) = quartiles(&c.rates);
        let ratio = match i {
            0 => "—".to_string(),
            _ => {
                let (a, b, c) = quartiles(&ratios[i - 1]);
                format!("**{b:.2}×** ({a:.2}–{c:.2})")
            }
        };
        println!(
            "| {} | {:.2} M ({:.2}–{:.2}) | {ratio} |",
            c.name,
            m / 1e6,
            q1 / 1e6,
            q3 / 1e6
        );
    }
    println!(
        "\n{BLOCKS} blocks; slices of 3 s (dumbbell), 3 ms (leaf-spine) and 2 ms (fat-tree) of simulated time."
    );
}
