//! `testbed emulate` and `testbed compare` as a user runs them. Without root (no network
//! namespaces or TUN devices), the runs that need the emulator are skipped with a message;
//! CI runs as root, so there they run: the emulated dumbbell's goodput is within 10 % of the
//! simulated run's with the project's transport and with Linux TCP, its measured base RTT
//! within 1 ms of the configured 20 ms, and a lossy link delivers every byte intact. Scenarios
//! the emulator cannot build fail before anything starts, naming the field.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_testbed"))
}

fn scen(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn tmp(name: &str) -> crate::TestOut {
    crate::TestOut::new("emu", name)
}

/// The emulator's runs take the machine's cores for their endpoints and pacing threads; two at
/// once would measure each other.
static EMULATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// True as root. Without root the caller skips, unless `TESTBED_EMULATOR=1` (set by
/// `.ci/run`) says the emulator tests must run: then this fails instead.
fn is_root() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false);
    assert!(
        root || std::env::var("TESTBED_EMULATOR").as_deref() != Ok("1"),
        "TESTBED_EMULATOR=1 but not root: the emulator tests need root (network namespaces, TUN devices)"
    );
    root
}

fn summary(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let text = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_once(','))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn num(m: &std::collections::BTreeMap<String, String>, k: &str) -> f64 {
    m.get(k)
        .unwrap_or_else(|| panic!("no {k} in {m:?}"))
        .parse()
        .unwrap()
}

fn run_ok(c: &mut Command) -> String {
    let o = c.output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{}\n{out}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

#[test]
fn scenarios_the_emulator_cannot_build_fail_before_starting_naming_the_field() {
    for (set, field) in [
        (vec!["topology.bottleneck.link.rate_mbps=1000.0"], "rate"),
        (
            vec!["workload.0={kind=\"incast\",cc=\"reno\",packets_per_sender=10}"],
            "workload.0.kind",
        ),
        (vec!["transport.mss=1460"], "transport.mss"),
    ] {
        let out = tmp("bad");
        let mut c = bin();
        c.arg("emulate")
            .arg(scen("emulated-dumbbell.toml"))
            .arg("--out")
            .arg(&out);
        for s in &set {
            c.args(["--set", s]);
        }
        let o = c.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{set:?} ran");
        assert!(err.contains(field), "{set:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!out.join("summary.csv").exists(), "nothing ran for {set:?}");
    }
}

/// The simulated run of the example dumbbell, shortened.
fn simulated(secs: &str, extra: &[&str]) -> crate::TestOut {
    let out = tmp(&format!("sim-{}", extra.len()));
    let mut c = bin();
    c.arg("run")
        .arg(scen("emulated-dumbbell.toml"))
        .args(["--set", &format!("duration_s={secs}")])
        .arg("--out")
        .arg(&out);
    for s in extra {
        c.args(["--set", s]);
    }
    run_ok(&mut c);
    out
}

#[test]
fn the_emulated_dumbbell_matches_the_simulation_with_both_transports() {
    if !is_root() {
        eprintln!("skipped: `testbed emulate` needs root (network namespaces, TUN devices)");
        return;
    }
    let _one_at_a_time = EMULATOR.lock().unwrap_or_else(|e| e.into_inner());
    let sim = simulated("4", &[]);
    let sim_mbps = num(&summary(&sim), "goodput_bytes") * 8.0 / 4.0 / 1e6;
    for (transport, mss) in [("ours", "1400"), ("linux-tcp", "1400")] {
        let out = tmp(&format!("emu-{transport}"));
        run_ok(
            bin()
                .arg("emulate")
                .arg(scen("emulated-dumbbell.toml"))
                .args(["--set", "duration_s=4", "--set"])
                .arg(format!("transport.mss={mss}"))
                .args(["--transport", transport, "--out"])
                .arg(&out),
        );
        let s = summary(&out);
        assert_eq!(s["world"], "emulated");
        assert_eq!(s["deterministic"], "false");
        let mbps = num(&s, "goodput_bytes") * 8.0 / 4.0 / 1e6;
        eprintln!("{transport}: emulated {mbps:.2} Mbit/s, simulated {sim_mbps:.2}");
        assert!(
            (mbps - sim_mbps).abs() / sim_mbps < 0.10,
            "{transport}: emulated {mbps:.2} Mbit/s vs simulated {sim_mbps:.2}"
        );
        let rtt = num(&s, "base_rtt_ms_median");
        assert!((rtt - 20.0).abs() < 1.0, "{transport}: base RTT {rtt} ms");
        for f in ["ports.csv", "timeseries.csv", "flows.csv", "emulator.csv"] {
            assert!(out.join(f).exists(), "{transport}: {f} missing");
        }
        // The comparison, side by side.
        let cmp = out.join("cmp");
        run_ok(
            bin()
                .arg("compare")
                .arg(&sim)
                .arg(&out)
                .arg("--out")
                .arg(&cmp),
        );
        let csv = std::fs::read_to_string(cmp.join("compare.csv")).unwrap();
        assert!(csv.contains("goodput, all flows"), "{csv}");
        assert!(csv.contains("queueing delay median"), "{csv}");
        assert!(cmp.join("compare.png").exists() && cmp.join("compare.svg").exists());
    }
}

#[test]
fn a_lossy_emulated_link_delivers_every_byte_intact() {
    if !is_root() {
        eprintln!("skipped: `testbed emulate` needs root (network namespaces, TUN devices)");
        return;
    }
    let _one_at_a_time = EMULATOR.lock().unwrap_or_else(|e| e.into_inner());
    let out = tmp("lossy");
    run_ok(
        bin()
            .arg("emulate")
            .arg(scen("emulated-dumbbell.toml"))
            .args([
                "--set",
                "topology.bottleneck.loss=0.02",
                "--set",
                "workload.0.size_bytes=1000000",
                "--set",
                "duration_s=8",
                "--out",
            ])
            .arg(&out),
    );
    let flows = std::fs::read_to_string(out.join("flows.csv")).unwrap();
    let mut lines = flows.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| row[head.iter().position(|h| *h == n).unwrap()];
    assert_eq!(col("delivered_bytes"), "1000000", "{flows}");
    assert_eq!(col("intact"), "true", "{flows}");
    let retx: u64 = col("retransmits").parse().unwrap();
    assert!(
        retx > 0,
        "2 % loss both ways makes retransmissions: {flows}"
    );
}
