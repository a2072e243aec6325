//! The experiment: determinism, and the qualitative result of thesis Fig 3.9.

use kvstore::experiment::{run, ExperimentConfig, Fig5Scenario};
use kvstore::ycsb::KeyDist;
use kvstore::{ClientMode, CostModel};
use netrt::Duration;

fn fig39(mode: ClientMode, offered: f64) -> ExperimentConfig {
    let mut c = ExperimentConfig::thesis_fig_3_9(mode, offered);
    c.duration = Duration::from_millis(40);
    c.drain = Duration::from_millis(20);
    c.load_phase = false;
    c
}

#[test]
fn same_seed_same_summary() {
    let c = fig39(ClientMode::Plain, 100_000.0);
    let a = run(&c).unwrap();
    let b = run(&c).unwrap();
    assert_eq!(a, b);
    let mut c2 = c.clone();
    c2.seed = 2;
    let d = run(&c2).unwrap();
    assert_ne!(a.load.latency, d.load.latency, "another seed, another run");
}

/// Runs push and server sharding at `offered` and checks that push sustains it and server
/// sharding does not (with the numbers in the failure message).
fn push_beats_server(base: &ExperimentConfig, offered: f64, label: &str) {
    let mut c = base.clone();
    c.offered = offered;
    c.clients = vec![ClientMode::Push; c.clients.len()];
    let push = run(&c).unwrap();
    c.clients = vec![ClientMode::Plain; c.clients.len()];
    let server = run(&c).unwrap();
    let msg = format!(
        "{label}: offered {offered:.0}/s: push achieved {:.0}/s p50 {} ns p95 {} ns; \
         server sharding achieved {:.0}/s p50 {} ns p95 {} ns",
        push.load.achieved,
        push.load.latency.p50,
        push.load.latency.p95,
        server.load.achieved,
        server.load.latency.p50,
        server.load.latency.p95
    );
    assert!(push.load.achieved > 0.95 * offered, "{msg}");
    assert!(server.load.achieved < 0.85 * offered, "{msg}");
    assert!(push.load.latency.p95 * 5 < server.load.latency.p95, "{msg}");
}

#[test]
fn client_push_sustains_a_load_server_sharding_cannot() {
    // The thesis setup (6 shards, 5 clients x 4 connections, YCSB B, zipfian 0.99) with a
    // sharder that forwards by UDP: it saturates near 123 k req/s, push serves ~670 k.
    let mut c = fig39(ClientMode::Push, 0.0);
    c.costs = CostModel::MEASURED_UDP_FORWARD;
    let cap = c.costs.dispatcher_capacity();
    assert!(1.3 * cap < 0.4 * c.costs.push_capacity(6));
    push_beats_server(&c, 1.3 * cap, "UDP-forwarding sharder, 6 shards");
    // The in-process sharder (our ServerShard; measured dispatch 1.6 us) is within 8 % of
    // push's capacity at 6 shards; the gap opens as shards are added (push scales with
    // them, one dispatcher does not): 12 shards, uniform keys.
    let mut c = fig39(ClientMode::Push, 0.0);
    c.shards = 12;
    c.keys = KeyDist::Uniform;
    let cap = c.costs.dispatcher_capacity();
    assert!(1.3 * cap < 0.65 * c.costs.push_capacity(12));
    push_beats_server(&c, 1.3 * cap, "in-process sharder, 12 shards");
    // At a load both sustain, both serve it all.
    let low = 0.3 * cap;
    let p = run(&fig39(ClientMode::Push, low)).unwrap();
    let s = run(&fig39(ClientMode::Plain, low)).unwrap();
    assert!(
        p.load.achieved > 0.95 * low && s.load.achieved > 0.95 * low,
        "{:?} vs {:?}",
        p.load,
        s.load
    );
}

#[test]
fn hotnets_fig5_ranking() {
    let mut p95 = Vec::new();
    for sc in Fig5Scenario::ALL {
        // 4 shards serve ~450 k req/s pushed; the UDP-forwarding fallback saturates at
        // ~123 k req/s: at 100 k it queues.
        let mut c = ExperimentConfig::hotnets_fig_5(sc, 100_000.0);
        c.duration = Duration::from_millis(30);
        c.drain = Duration::from_millis(20);
        c.load_phase = false;
        let s = run(&c).unwrap();
        assert_eq!(s.load.unanswered, 0, "{sc:?}: {:?}", s.load);
        p95.push((sc, s.load.latency.p95));
    }
    let v: Vec<u64> = p95.iter().map(|x| x.1).collect();
    // Client push < mixed < server accelerated < server fallback.
    assert!(v[0] < v[2] && v[2] < v[1] && v[1] < v[3], "{p95:?}");
}
