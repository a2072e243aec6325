//! Scale benchmarks (issue 10, items 15 and 16).
//!
//! - `routes/*`: [`Routes::compute`] on large fabrics (routing state is kept per destination
//!   switch, so 100,000-host fabrics take well under a second).
//! - `events/*`: whole runs (build, run, summarize; no result files) with their event count as
//!   the throughput, so criterion reports events per wall-second: the 60-second Reno dumbbell,
//!   and the web-search workload (DCTCP, 50 % load) on 1,024 hosts as a k = 16 fat-tree and as
//!   a 16 × 8 × 64 leaf-spine. Target: the fabrics within 2× of the dumbbell's rate. Whole
//!   runs of 30 ms include the fabrics' ramp-up; `fabric_paired` measures the ratio in steady
//!   state, paired against the VM's drift.
//!
//! `cargo bench -p scenarios --bench scale [-- routes | -- events]`.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use netmodels::topology::{LinkParams, Routes, TopologyConfig};
use scenarios::config::load;
use scenarios::runner::run;

fn link(gbps: u64) -> LinkParams {
    LinkParams::fixed(gbps * 1_000_000_000, 1.0, 100)
}

fn leaf_spine(leaves: u32, spines: u32, hosts_per_leaf: u32) -> TopologyConfig {
    TopologyConfig::LeafSpine {
        leaves,
        spines,
        hosts_per_leaf,
        host_link: link(10),
        fabric_link: link(40),
    }
}

fn routes(c: &mut Criterion) {
    let mut g = c.benchmark_group("routes");
    g.sample_size(10);
    let cases = [
        ("leaf_spine_200x200x50", leaf_spine(200, 200, 50)),
        ("leaf_spine_1000x16x100", leaf_spine(1000, 16, 100)),
        (
            "fat_tree_k48",
            TopologyConfig::FatTree {
                k: 48,
                host_link: link(10),
                edge_agg_link: link(10),
                agg_core_link: link(10),
            },
        ),
    ];
    for (name, cfg) in cases {
        let t = cfg.build().expect("valid topology");
        g.bench_function(name, |b| b.iter(|| Routes::compute(&t)));
    }
    g.finish();
}

fn events(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut g = c.benchmark_group("events");
    g.sample_size(10);
    let set = |kv: &[&str]| kv.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let cases = [
        ("dumbbell", "dumbbell.toml", set(&[])),
        (
            "fattree_k16_websearch",
            "fattree.toml",
            set(&["topology.k=16", "duration_s=0.03"]),
        ),
        (
            "leaf_spine_1024_websearch",
            "websearch.toml",
            set(&[
                "topology.leaves=16",
                "topology.spines=8",
                "topology.hosts_per_leaf=64",
                "duration_s=0.03",
            ]),
        ),
    ];
    for (name, file, overrides) in cases {
        let loaded = load(&dir.join(file), &overrides).expect("shipped scenario loads");
        let events = run(&loaded, None).expect("runs").stats.events;
        g.throughput(Throughput::Elements(events));
        g.bench_function(name, |b| b.iter(|| run(&loaded, None).expect("runs")));
    }
    g.finish();
}

criterion_group!(benches, routes, events);
criterion_main!(benches);
