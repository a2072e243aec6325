//! Fig 3.4 end to end: the simulator reproduces the round-trip structure exactly (virtual
//! time), loopback completes every trial, files are written, and a second simulated run is
//! identical.

use bertha_experiments::fig3_4::{run, Options, SIM_RTT};
use bertha_experiments::quantile;

#[test]
fn round_trip_structure_in_simulation_and_every_loopback_trial_completes() {
    let dir = std::env::temp_dir().join(format!("fig3_4-test-{}", std::process::id()));
    let opts = Options {
        trials: 30,
        out: dir.clone(),
        loopback: true,
        seed: 1,
    };
    let r = run(&opts).unwrap();
    let med = |w: &str, m: &str| quantile(&r.samples[&(w.to_string(), m.to_string())], 0.5);
    let rtt = SIM_RTT.as_nanos() as f64 / 1000.0;
    let udp = med("simulation", "udp");
    assert!(udp >= rtt && udp < 1.1 * rtt, "udp {udp} µs vs RTT {rtt}");
    let one = med("simulation", "1-rtt");
    assert!(one >= 2.0 * rtt && one < 2.2 * rtt, "1-rtt {one}");
    let zero = med("simulation", "0-rtt");
    assert!(
        zero >= rtt && zero < 1.1 * rtt,
        "0-rtt {zero}: no extra round trip"
    );
    let rdv = med("simulation", "rendezvous");
    assert!(
        rdv >= 6.0 * rtt && rdv < 6.6 * rtt,
        "rendezvous {rdv}: 1 + 5 store round trips"
    );
    for m in ["udp", "1-rtt", "0-rtt", "rendezvous"] {
        assert_eq!(
            r.samples[&("loopback".to_string(), m.to_string())].len(),
            30,
            "{m}"
        );
    }
    assert!(dir.join("samples.csv").exists());
    let again = run(&Options {
        loopback: false,
        out: dir.join("again"),
        ..opts
    })
    .unwrap();
    for m in ["udp", "1-rtt", "0-rtt", "rendezvous"] {
        let k = ("simulation".to_string(), m.to_string());
        assert_eq!(again.samples[&k], r.samples[&k], "{m}: deterministic");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
