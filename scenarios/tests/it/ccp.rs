//! Scenario files that put a flow's congestion control in a CCP agent: the shipped `ccp.toml`,
//! CCP against native control, determinism, the agent's fallback, and bad CCP input.

use std::path::{Path, PathBuf};

use scenarios::config::load;
use scenarios::runner::{run, RunResult};
use sha2::{Digest, Sha256};

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn tmp(name: &str) -> crate::TestOut {
    crate::TestOut::new("ccp", name)
}

fn run_ccp(set: &[&str], out: Option<&Path>) -> RunResult {
    let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
    let loaded = load(&scenario("ccp.toml"), &set).unwrap();
    run(&loaded, out).unwrap()
}

fn summary(r: &RunResult, key: &str) -> String {
    r.summary
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no {key} in {:?}", r.summary))
}

#[test]
fn the_shipped_ccp_scenario_runs_its_flow_through_the_agent() {
    let r = run_ccp(&["duration_s=5"], None);
    assert_eq!(r.flows[0].cc, "ccp:reno");
    assert!(!r.flows[0].cc_fell_back);
    let inv: u64 = summary(&r, "ccp_invocations").parse().unwrap();
    let to_agent: u64 = summary(&r, "ccp_messages_to_agent").parse().unwrap();
    assert!(inv > 20_000, "one invocation per ACK: {inv}");
    // Per-RTT reports (20+ ms): a few hundred in 5 s, not one per ACK.
    assert!((100..1_000).contains(&to_agent), "{to_agent}");
    assert_eq!(summary(&r, "ccp_errors"), "0");
    assert!(r.flows[0].goodput_mbps > 60.0, "{:?}", r.flows[0]);
}

#[test]
fn per_ack_ccp_reno_matches_native_reno() {
    let secs = "duration_s=20";
    let native = run_ccp(&[secs, "workload.0.cc=reno"], None);
    let ccp = run_ccp(&[secs, "workload.0.cc.params={report=\"per_ack\"}"], None);
    let (n, c) = (native.flows[0].goodput_mbps, ccp.flows[0].goodput_mbps);
    assert_eq!(native.flows[0].cc, "reno");
    assert!(
        (c - n).abs() / n < 0.05,
        "CCP Reno {c:.2} vs native {n:.2} Mbit/s"
    );
    let inv: u64 = summary(&ccp, "ccp_invocations").parse().unwrap();
    let to_agent: u64 = summary(&ccp, "ccp_messages_to_agent").parse().unwrap();
    assert!(
        to_agent + 10 >= inv,
        "per-ACK: a report per invocation ({to_agent} / {inv})"
    );
}

#[test]
fn ccp_runs_are_deterministic() {
    let (a, b) = (tmp("a"), tmp("b"));
    for d in [&a, &b] {
        run_ccp(&["duration_s=3", "workload.0.cc={ccp=\"bbr\"}"], Some(d));
    }
    let hashes = |d: &Path| {
        let mut v: Vec<(String, String)> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                let h = Sha256::digest(std::fs::read(&p).unwrap());
                (
                    p.file_name().unwrap().to_string_lossy().into(),
                    format!("{h:x}"),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(hashes(&a), hashes(&b));
}

#[test]
fn a_stopped_agent_falls_back_and_the_results_say_so() {
    let r = run_ccp(
        &[
            "duration_s=6",
            "workload.0.cc.agent_stop_s=2",
            "workload.0.cc.fallback_timeout_ms=100",
        ],
        None,
    );
    assert!(r.flows[0].cc_fell_back, "{:?}", r.flows[0]);
    assert_eq!(summary(&r, "ccp_flows_fell_back"), "1");
    assert!(r.flows[0].goodput_mbps > 60.0, "{:?}", r.flows[0]);
}

fn load_err(set: &str) -> String {
    match load(&scenario("ccp.toml"), &[set.to_string()]) {
        Ok(_) => panic!("{set} must be rejected"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_ccp_input_names_the_file_and_field() {
    let e = load_err("workload.0.cc.ccp=nosuch");
    assert!(
        e.contains("ccp.toml") && e.contains("workload[0].cc.ccp") && e.contains("known: reno"),
        "{e}"
    );
    let e = load_err("workload.0.cc.params={report_interval_us=0}");
    assert!(
        e.contains("workload[0].cc.params.report_interval_us") && e.contains("> 0"),
        "{e}"
    );
    let e = load_err("workload.0.cc.params={report=1}");
    assert!(
        e.contains("workload[0].cc.params.report") && e.contains("per_ack"),
        "{e}"
    );
    let e = load_err("workload.0.cc.params={nosuch=1}");
    assert!(
        e.contains("workload[0].cc.params.nosuch") && e.contains("unknown parameter"),
        "{e}"
    );
    let e = load_err("workload.0.cc.staleness_us=-5");
    assert!(e.contains("workload[0].cc.staleness_us"), "{e}");
    let e = load_err("workload.0.cc.agent_stop_s=-1");
    assert!(e.contains("workload[0].cc.agent_stop_s"), "{e}");
    let e = load_err("workload.0.cc.fallback_timeout_ms=0");
    assert!(e.contains("workload[0].cc.fallback_timeout_ms"), "{e}");
    let e = load_err("workload.0.cc=\"renoo\"");
    assert!(e.contains("unknown congestion control \"renoo\""), "{e}");
}

/// Incast with CCP Reno: every flow completes, and control still in flight when a flow closes
/// is counted as stale, not as an error.
#[test]
fn ccp_incast_completes_and_late_control_is_stale_not_an_error() {
    let set: Vec<String> = [
        "topology.link.queue={kind=\"drop_tail\",limit_packets=100}",
        "transport.ecn=false",
        "workload.0.cc={ccp=\"reno\",params={report=\"per_ack\"}}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let loaded = load(&scenario("incast.toml"), &set).unwrap();
    let r = run(&loaded, None).unwrap();
    assert_eq!(summary(&r, "flows_completed"), "50");
    assert_eq!(summary(&r, "ccp_errors"), "0", "{:?}", r.summary);
    let stale: u64 = summary(&r, "ccp_stale_messages").parse().unwrap();
    assert!(stale > 0, "closing flows leave control in flight");
    assert!(r
        .flows
        .iter()
        .all(|f| f.cc == "ccp:reno" && !f.cc_fell_back));
}
