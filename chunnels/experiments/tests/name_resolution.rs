//! HotNets'20 Fig 4 in simulation, shortened: every connection before the local instance
//! appears goes to the remote one, every connection after it to the local one over IPC, the
//! switch happens at the first connection after it appears, the latencies are what the cost
//! model and the topology give, and a run is deterministic.

use bertha_experiments::name_resolution::{run, Options};
use netrt::Duration;

#[test]
fn new_connections_switch_to_the_local_instance_once_it_appears() {
    let opts = Options {
        duration: Duration::from_secs(2),
        appear_at: Duration::from_secs(1),
        ..Options::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let r = run(&opts, dir.path()).unwrap();
    assert_eq!(r.samples.len(), 20 * 3, "20 connections of 3 requests");
    for s in &r.samples {
        assert_eq!(s.local, s.at_s >= 1.0, "{s:?}");
        if s.local {
            // Two IPC crossings of 31.45 µs.
            assert!((s.micros - 62.9).abs() < 0.01, "{s:?}");
        } else {
            // 50 µs RTT, 72.8 µs remote processing, and four serializations at 10 Gbit/s.
            assert!(s.micros > 122.8 && s.micros < 123.5, "{s:?}");
        }
    }
    assert_eq!(r.first_local_s.map(|t| (t * 1e3).round()), Some(1050.0));
    let csv = std::fs::read_to_string(dir.path().join("samples.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 60);
    // Deterministic: the same run again, the same samples.
    let again = run(&opts, dir.path()).unwrap();
    assert_eq!(again.samples, r.samples);
    // Bad input names what was expected.
    let e = run(
        &Options {
            appear_at: Duration::from_secs(9),
            ..Options::default()
        },
        dir.path(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("appear_at"), "{e}");
}
