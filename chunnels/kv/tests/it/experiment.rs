//! The experiment: determinism, and the qualitative result of thesis Fig 3.9.

use kvstore::experiment::{run, ExperimentConfig, Fig5Scenario};
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

#[test]
fn client_push_sustains_a_load_server_sharding_cannot() {
    let costs = CostModel::MEASURED_LOOPBACK;
    // Above what one dispatcher can take, well below what the shards serve under push.
    let offered = 1.3 * costs.dispatcher_capacity();
    assert!(offered < 0.6 * costs.push_capacity(6));
    let push = run(&fig39(ClientMode::Push, offered)).unwrap();
    let server = run(&fig39(ClientMode::Plain, offered)).unwrap();
    let msg = format!(
        "offered {offered:.0}/s: push achieved {:.0}/s p50 {} ns p95 {} ns; \
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
    // At a load both sustain, push is still not slower (no dispatcher hop).
    let low = 0.3 * costs.dispatcher_capacity();
    let p = run(&fig39(ClientMode::Push, low)).unwrap();
    let s = run(&fig39(ClientMode::Plain, low)).unwrap();
    assert!(p.load.achieved > 0.95 * low && s.load.achieved > 0.95 * low);
    assert!(
        p.load.latency.p50 <= s.load.latency.p50,
        "{:?} vs {:?}",
        p.load,
        s.load
    );
}

#[test]
fn hotnets_fig5_ranking() {
    let mut p95 = Vec::new();
    for sc in Fig5Scenario::ALL {
        let mut c = ExperimentConfig::hotnets_fig_5(sc, 200_000.0);
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
