//! Thesis Fig 3.5 on real loopback, small: every variant completes every request, the fused
//! stack keeps same-host connections on the fast path in the clear, and the unfused one seals
//! every message (handshake per connection).

use bertha_experiments::colocated::{run, Options, MODES};

#[test]
fn fused_stays_local_in_the_clear_and_tls_seals_everything() {
    let out = tempfile::tempdir().unwrap();
    let opts = Options {
        connections: 8,
        requests: 5,
        size: 64,
        out: out.path().to_path_buf(),
    };
    let r = run(&opts).unwrap();
    for m in MODES {
        assert_eq!(r.samples[m].len(), 8 * 5, "{m}");
        assert!(r.samples[m].iter().all(|&x| x > 0.0), "{m}");
        assert_eq!(r.connect[m].len(), 8, "{m}");
    }
    // Every connection of both Bertha variants found the server on this host.
    assert_eq!(r.paths["fused"], (8, 0), "fused: local, nothing sealed");
    // tls: the first exchange and the requests, sealed by the client.
    assert_eq!(r.paths["tls"], (8, 8 * (5 + 1)));
    let csv = std::fs::read_to_string(out.path().join("samples.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3 * 8 * 5);
    assert!(!r.rows.is_empty());
    // Bad input names what was expected.
    let e = run(&Options {
        size: 0,
        ..opts.clone()
    })
    .unwrap_err();
    assert!(e.to_string().contains("1..=65000"), "{e}");
}
