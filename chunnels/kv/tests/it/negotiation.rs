//! Negotiation picks the sharding per connection: client push for a pushing client, the
//! switch offload for a plain one while the switch has room, the host fallback (with the
//! reason) once it has not.

use kvstore::experiment::{run, ExperimentConfig, Fig5Scenario};
use kvstore::offload::{OffloadConfig, OFFLOAD_IMPL};
use kvstore::ClientMode;
use netrt::Duration;

fn small(mut c: ExperimentConfig) -> ExperimentConfig {
    c.duration = Duration::from_millis(20);
    c.drain = Duration::from_millis(20);
    c.load_phase = false;
    c.records = 1000;
    c
}

#[test]
fn pushing_clients_get_client_push_plain_ones_the_host_sharder() {
    let mut c = small(ExperimentConfig::hotnets_fig_5(
        Fig5Scenario::ClientPush,
        20_000.0,
    ));
    c.clients = vec![ClientMode::Push, ClientMode::Plain];
    let s = run(&c).unwrap();
    assert_eq!(s.server.chosen.get("accept-client-push"), Some(&1), "{s:?}");
    assert_eq!(s.server.chosen.get("server-host"), Some(&1), "{s:?}");
    // No offload deployed: the plain client fell back, and negotiation says why.
    assert!(
        s.server
            .fallbacks
            .iter()
            .any(|f| f.contains("not registered")),
        "{:?}",
        s.server.fallbacks
    );
    assert_eq!(s.load.unanswered, 0);
    assert!(s.server.dispatched > 0 && s.server.implicit > 0);
}

#[test]
fn plain_clients_get_the_offload_until_the_switch_is_full() {
    let mut c = small(ExperimentConfig::hotnets_fig_5(
        Fig5Scenario::ServerAccelerated,
        20_000.0,
    ));
    c.clients = vec![ClientMode::Plain, ClientMode::Plain, ClientMode::Push];
    c.offload = Some(OffloadConfig {
        table_entries: 1,
        ..OffloadConfig::default()
    });
    let s = run(&c).unwrap();
    assert_eq!(s.server.chosen.get(OFFLOAD_IMPL), Some(&1), "{s:?}");
    assert_eq!(s.server.chosen.get("server-host"), Some(&1), "{s:?}");
    assert_eq!(s.server.chosen.get("accept-client-push"), Some(&1), "{s:?}");
    assert!(
        s.server
            .fallbacks
            .iter()
            .any(|f| f.contains(OFFLOAD_IMPL) && f.contains("table entries exhausted")),
        "{:?}",
        s.server.fallbacks
    );
    // The offloaded connection's requests were steered by the switch, the other plain one's
    // went through the dispatcher; every request was answered.
    assert!(s.steering.steered > 0, "{:?}", s.steering);
    assert!(s.server.dispatched > 0);
    assert_eq!(s.load.unanswered, 0, "{:?}", s.load);
    assert_eq!(s.load.duplicates, 0);
    assert_eq!(s.server.misrouted, 0);
}

/// With the raw-offset host sharder, plain clients negotiate `server-raw`; every request is
/// answered correctly (the load phase's values read back, no malformed reply) and applied on
/// its key's shard.
#[test]
fn raw_offset_sharder_serves_plain_clients_on_the_simulator() {
    let mut c = small(ExperimentConfig::thesis_fig_3_10(true, 20_000.0));
    c.load_phase = true;
    let s = run(&c).unwrap();
    assert_eq!(s.server.chosen.get("server-raw"), Some(&20), "{s:?}");
    assert_eq!(s.server.chosen.len(), 1, "{:?}", s.server.chosen);
    assert_eq!(s.server.misrouted, 0);
    assert_eq!(s.server.decode_errors, 0);
    assert_eq!(s.server.records, 1000);
    assert!(s.load.completed > 300, "{:?}", s.load);
    assert_eq!(
        (s.load.unanswered, s.load.bad_replies, s.load.misses),
        (0, 0, 0),
        "{:?}",
        s.load
    );
    assert_eq!(
        s.server.dispatched,
        s.server.per_shard.iter().sum::<u64>(),
        "every request went through the raw-offset dispatcher: {:?}",
        s.server
    );
}
