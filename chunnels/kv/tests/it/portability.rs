//! The portability experiment (thesis Fig 3.11) at a tiny load: every backend in every
//! variant answers every request once, correctly, and reports complete results.

use kvstore::portability::{run, Backend, PortabilityConfig, Variant, VERIFY_RECORDS};
use netrt::Duration;

fn tiny() -> PortabilityConfig {
    PortabilityConfig {
        shards: 3,
        connections: 2,
        records: 300,
        offered: 1_000.0,
        duration: Duration::from_millis(200),
        drain: Duration::from_millis(300),
        ..PortabilityConfig::thesis_fig_3_11(1_000.0)
    }
}

fn every_variant(backend: Backend) {
    let cfg = tiny();
    for variant in Variant::ALL {
        let r = run(backend, variant, &cfg)
            .unwrap_or_else(|e| panic!("{} / {}: {e}", backend.name(), variant.name()));
        let what = format!("{} / {}: {r:?}", backend.name(), variant.name());
        assert_eq!((r.backend, r.variant), (backend, variant));
        let l = &r.load;
        assert!(l.sent >= 100, "{what}");
        assert_eq!(l.completed, l.sent, "every request answered: {what}");
        assert_eq!(
            (
                l.unanswered,
                l.duplicates,
                l.bad_replies,
                l.misses,
                l.send_errors
            ),
            (0, 0, 0, 0, 0),
            "{what}"
        );
        assert_eq!(l.latency.count, l.sent, "{what}");
        assert_eq!(l.latency_from_send.count, l.sent, "{what}");
        assert!(
            l.latency.p50 > 0 && l.latency.p95 >= l.latency.p50,
            "{what}"
        );
        assert!(l.achieved > 0.0, "{what}");
        // Values round-trip: written after the measured phase, read back.
        assert_eq!(r.verified, VERIFY_RECORDS.min(cfg.records), "{what}");
        assert_eq!(r.mismatches, 0, "{what}");
        // The server applied exactly the requests sent, each on its key's shard.
        let s = &r.server;
        assert_eq!(s.per_shard.len(), cfg.shards, "{what}");
        assert!(s.per_shard.iter().all(|&n| n > 0), "{what}");
        assert_eq!(
            s.per_shard.iter().sum::<u64>(),
            cfg.records + l.sent + 2 * r.verified,
            "{what}"
        );
        assert_eq!((s.misrouted, s.decode_errors), (0, 0), "{what}");
        assert_eq!(s.records, cfg.records as usize, "{what}");
        match variant {
            // Each client connection negotiated at the front and opened a connection at
            // every shard it pushed to.
            Variant::Full => assert!(
                s.connections > cfg.connections as u64,
                "negotiated connections: {what}"
            ),
            _ => assert_eq!(s.connections, 0, "no negotiation: {what}"),
        }
    }
}

#[test]
fn udp_every_variant() {
    every_variant(Backend::Udp);
}

#[test]
fn unix_every_variant() {
    every_variant(Backend::Unix);
}

#[test]
fn tcp_every_variant() {
    every_variant(Backend::Tcp);
}

#[test]
fn in_process_every_variant() {
    every_variant(Backend::InProcess);
}

#[test]
fn bad_configurations_are_refused_naming_the_option() {
    for (cfg, option) in [
        (
            PortabilityConfig {
                shards: 0,
                ..tiny()
            },
            "shards",
        ),
        (
            PortabilityConfig {
                connections: 0,
                ..tiny()
            },
            "connections",
        ),
        (
            PortabilityConfig {
                offered: f64::NAN,
                ..tiny()
            },
            "offered",
        ),
        (
            PortabilityConfig {
                records: 0,
                ..tiny()
            },
            "records",
        ),
        (
            PortabilityConfig {
                duration: Duration::ZERO,
                ..tiny()
            },
            "duration",
        ),
    ] {
        let e = run(Backend::InProcess, Variant::Inlined, &cfg)
            .expect_err(option)
            .to_string();
        assert!(e.contains(option) && e.contains("expected"), "{e}");
    }
}
