//! The shipped scenarios, run end to end through the library the CLI uses: the dumbbell's
//! utilization, the incast's tail against the ideal and against the number of senders, the cell
//! scenario, and determinism (same seed: byte-identical files; other seed: different results).

use std::path::{Path, PathBuf};

use scenarios::config::load;
use scenarios::runner::{build, run, RunResult};
use sha2::{Digest, Sha256};
use sim_core::SimTime;

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn tmp(name: &str) -> crate::TestOut {
    crate::TestOut::new("run", name)
}

fn run_file(name: &str, set: &[&str], out: Option<&Path>) -> RunResult {
    let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
    let loaded = load(&scenario(name), &set).unwrap();
    run(&loaded, out).unwrap()
}

/// sha256 of every file in `dir`, by name.
fn hashes(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let h = Sha256::digest(std::fs::read(&p).unwrap());
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                format!("{h:x}"),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn dumbbell_reno_fills_over_90_percent_of_the_bottleneck() {
    let r = run_file("dumbbell.toml", &[], None);
    let util = r.num("util/bottleneck").unwrap();
    assert!(util > 0.90, "bottleneck utilization {util}");
    assert!(util <= 1.0 + 1e-9, "utilization above 1: {util}");
    // Goodput over the 60 s, from the flow record, agrees.
    let gp = r.flows[0].goodput_mbps;
    assert!(gp > 0.9 * 96.0 * 1460.0 / 1500.0, "goodput {gp} Mbit/s");
    // One BDP of buffer: Reno must have lost packets and recovered without timeouts piling up.
    assert!(r.num("drops/bottleneck").unwrap() > 0.0);
}

#[test]
fn incast_tail_is_never_below_ideal_and_grows_with_senders() {
    let mut prev = 0.0;
    for n in [5u32, 10, 25, 50] {
        let r = run_file("incast.toml", &[&format!("topology.senders={n}")], None);
        assert_eq!(
            r.num("flows_completed").unwrap() as u32,
            n,
            "all flows complete"
        );
        let tail = r.num("completion_span_s").unwrap();
        let ideal = r.num("ideal_s/receiver").unwrap();
        assert!(tail >= ideal, "n={n}: tail {tail} below ideal {ideal}");
        assert!(
            tail > prev,
            "n={n}: tail {tail} did not grow (previous {prev})"
        );
        prev = tail;
    }
}

#[test]
fn cell_link_follows_the_trace() {
    let r = run_file("cell.toml", &["duration_s=20"], None);
    let gp = r.flows[0].goodput_mbps;
    // The Verizon downlink trace averages about 5 Mbit/s of 1500-byte opportunities.
    assert!(gp > 2.0 && gp < 6.0, "goodput {gp} Mbit/s");
}

#[test]
fn same_seed_same_bytes_other_seed_other_results() {
    let a = tmp("det-a");
    let b = tmp("det-b");
    let c = tmp("det-c");
    run_file("websearch.toml", &[], Some(&a));
    run_file("websearch.toml", &[], Some(&b));
    run_file("websearch.toml", &["seed=2"], Some(&c));
    let (ha, hb, hc) = (hashes(&a), hashes(&b), hashes(&c));
    assert!(ha.len() >= 5, "{ha:?}");
    assert_eq!(
        ha, hb,
        "same scenario and seed must give byte-identical files"
    );
    let flows = |h: &[(String, String)]| h.iter().find(|(n, _)| n == "flows.csv").cloned();
    assert_ne!(
        flows(&ha),
        flows(&hc),
        "a different seed must change the stochastic workload"
    );
}

#[test]
fn dumbbell_is_deterministic_too() {
    let a = tmp("dd-a");
    let b = tmp("dd-b");
    run_file("dumbbell.toml", &["duration_s=5"], Some(&a));
    run_file("dumbbell.toml", &["duration_s=5"], Some(&b));
    assert_eq!(hashes(&a), hashes(&b));
}

#[test]
fn stop_when_done_never_stops_a_run_of_bulk_flows() {
    let r = run_file(
        "dumbbell.toml",
        &["stop_when_done=true", "duration_s=2"],
        None,
    );
    assert_eq!(r.end, SimTime::from_secs_f64(2.0));
    assert!(r.stats.events > 100_000, "{}", r.stats.events);
    // With sized flows it stops at the last completion, long before the duration.
    let r = run_file("incast.toml", &["duration_s=10"], None);
    assert!(r.end < SimTime::from_secs_f64(0.01), "{}", r.end);
}

#[test]
fn cdf_load_on_leaf_spine_is_per_host_link() {
    // 8 hosts x 1 Gbit/s x load 0.5 = 4 Gbit/s offered; over 60 s the web-search sizes (CV 2.3,
    // ~17 000 flows) average to within a few percent of that.
    let loaded = load(&scenario("websearch.toml"), &["duration_s=60".to_string()]).unwrap();
    let (net, _) = build(&loaded.scenario, "websearch.toml", None).unwrap();
    let bytes: u64 = net
        .flow_records(SimTime::ZERO)
        .iter()
        .filter_map(|f| f.size_bytes)
        .sum();
    let offered = bytes as f64 * 8.0 / 60.0;
    assert!((offered / 4e9 - 1.0).abs() < 0.1, "offered {offered} bit/s");
}

#[test]
fn pacing_middlebox_moves_the_standing_queue_off_the_bottleneck() {
    let r = run_file("pacer.toml", &["duration_s=5"], None);
    let bq = r.num("max_queue_bytes/bottleneck").unwrap();
    let mq = r.num("max_queue_bytes/middlebox-out").unwrap();
    assert!(bq <= 2.0 * 1500.0, "paced: bottleneck queue {bq} B");
    assert!(mq > 100_000.0, "paced: middlebox queue {mq} B");
    assert_eq!(r.num("rate_bps/middlebox-out"), Some(92e6));
    let r = run_file(
        "pacer.toml",
        &["duration_s=5", "topology.middlebox.program.rate_mbps=1000"],
        None,
    );
    let bq = r.num("max_queue_bytes/bottleneck").unwrap();
    let mq = r.num("max_queue_bytes/middlebox-out").unwrap();
    assert!(bq > 100_000.0, "unpaced: bottleneck queue {bq} B");
    assert!(mq < 20_000.0, "unpaced: middlebox queue {mq} B");
}

/// Unfinished sized flows are counted and treated as censored, never silently dropped from
/// the FCT statistics (incast starts spread over 20 ms, run stopped at 10 ms).
#[test]
fn unfinished_flows_are_counted_and_censor_the_tail() {
    let r = run_file(
        "incast.toml",
        &[
            "topology.senders=50",
            "workload.0.start_jitter_us=20000",
            "duration_s=0.01",
        ],
        None,
    );
    let n = r.num("flows").unwrap();
    let done = r.num("flows_completed").unwrap();
    let left = r.num("flows_unfinished").unwrap();
    assert_eq!(done + left, n);
    assert!(
        left > 0.0 && done > 0.0,
        "some finish, some do not: {done} / {n}"
    );
    assert_eq!(r.unfinished_flows as f64, left);
    assert_eq!(r.get("fct_p99_censored"), Some("true"));
    assert_eq!(r.get("completion_span_censored"), Some("true"));
    // The censored span runs to the end of the run, not to the last finished flow.
    let span = r.num("completion_span_s").unwrap();
    assert!(span >= 0.01 - 0.001, "span lower bound {span}");
}

#[test]
fn fct_quantiles_are_exact_until_a_censored_flow_ranks_below_them() {
    use netmodels::FlowRecord;
    let rec = |fct: Option<f64>| FlowRecord {
        flow: 0,
        src: 0,
        dst: 1,
        src_name: String::new(),
        dst_name: String::new(),
        src_addr: String::new(),
        dst_addr: String::new(),
        cc: "reno".into(),
        cc_fell_back: false,
        cc_state: String::new(),
        size_bytes: Some(1),
        start_s: 0.0,
        fct_s: fct,
        delivered_bytes: 0,
        goodput_mbps: 0.0,
        retransmits: 0,
        timeouts: 0,
        ideal_fct_s: None,
        slowdown: None,
    };
    // Four finished (1..4 s) and one unfinished at the end of a 10 s run.
    let mut flows: Vec<FlowRecord> = (1..=4).map(|i| rec(Some(f64::from(i)))).collect();
    flows.push(rec(None));
    let st = scenarios::runner::FctStats::of(&flows, 10.0);
    assert_eq!((st.finished, st.unfinished), (4, 1));
    assert_eq!(st.quantile(0.5), Some((3.0, false)), "rank 3 of 5: exact");
    assert_eq!(st.quantile(0.8), Some((4.0, false)));
    assert_eq!(
        st.quantile(0.99),
        Some((10.0, true)),
        "rank 5: the unfinished flow"
    );
    assert_eq!(st.completion_span, Some((10.0, true)));
    // An unfinished flow that started late (elapsed 0.5 s) ranks first: every quantile above
    // it is only a lower bound.
    let mut late = flows.clone();
    late[4].start_s = 9.5;
    let st = scenarios::runner::FctStats::of(&late, 10.0);
    assert_eq!(st.quantile(0.5), Some((2.0, true)));
}

fn build_err(name: &str, set: &[&str]) -> String {
    let set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
    let loaded = load(&scenario(name), &set).unwrap();
    match build(&loaded.scenario, name, None) {
        Ok(_) => panic!("{name} {set:?} must be rejected"),
        Err(e) => e.to_string(),
    }
}

/// Values that make no sense are rejected with an error naming the field.
#[test]
fn nonsense_values_are_rejected_naming_the_field() {
    // A byte limit smaller than one full packet (MSS 1460 + 40).
    let e = build_err(
        "dumbbell.toml",
        &["topology.bottleneck.queue={kind=\"drop_tail\",limit_bytes=1000}"],
    );
    assert!(e.contains("link bottleneck (forward): queue: drop_tail.limit_bytes: expected at least one full-sized packet (1500 bytes"), "{e}");
    // A marking threshold at or above the queue limit never marks.
    let e = build_err(
        "incast.toml",
        &["topology.link.queue={kind=\"step_mark\",limit_packets=50,k_packets=80}"],
    );
    assert!(
        e.contains("step_mark.k_packets: expected a threshold below limit_packets (50), got 80"),
        "{e}"
    );
    // The same monitored link twice (once by its name, once as its forward port).
    let e = build_err(
        "dumbbell.toml",
        &["output.monitor_links=[\"bottleneck\",\"bottleneck:forward\"]"],
    );
    assert!(
        e.contains("output.monitor_links") && e.contains("listed twice"),
        "{e}"
    );
    let e = build_err(
        "dumbbell.toml",
        &["output.monitor_links=[\"bottleneck:sideways\"]"],
    );
    assert!(
        e.contains("output.monitor_links") && e.contains("sideways"),
        "{e}"
    );
}

/// Both directions of a link can be monitored (a ToR → host queue is the reverse port of the
/// host's link in the star).
#[test]
fn reverse_ports_can_be_monitored() {
    let r = run_file(
        "dumbbell.toml",
        &[
            "duration_s=2",
            "output.monitor_links=[\"bottleneck\",\"bottleneck:reverse\",\"access-right1:forward\"]",
        ],
        None,
    );
    let fwd = r.num("util/bottleneck").unwrap();
    let rev = r.num("util/bottleneck:reverse").unwrap();
    assert!(fwd > 0.5, "data direction busy: {fwd}");
    assert!(rev > 0.0 && rev < 0.1, "ACK direction lightly used: {rev}");
    assert!(r.get("util/access-right1:forward").is_some());
}

/// Per-flow series are on for small runs and off by default for many flows (incast with 2,000
/// senders spent 14 s and 1.2 GB on them), unless the file asks.
#[test]
fn per_flow_series_are_off_by_default_for_many_flows() {
    let small = run_file("incast.toml", &["topology.senders=10"], None);
    assert_eq!(
        small.get("record_flows"),
        Some("true (auto: on up to 64 flows)")
    );
    let big = run_file("incast.toml", &["topology.senders=100"], None);
    assert_eq!(
        big.get("record_flows"),
        Some("false (auto: on up to 64 flows)")
    );
    let forced = run_file(
        "incast.toml",
        &["topology.senders=100", "output.record_flows=true"],
        None,
    );
    assert_eq!(forced.get("record_flows"), Some("true"));
    let loaded = load(&scenario("incast.toml"), &["topology.senders=100".into()]).unwrap();
    let (net, _) = build(&loaded.scenario, "incast.toml", None).unwrap();
    assert!(net.recorder().samples("cwnd_bytes/0").is_empty());
}

/// FCT slowdown by flow-size bin: every finished flow's FCT is at least its ideal (empty
/// network) FCT, the summary breaks slowdowns down by size, and the figure is drawn.
#[test]
fn fct_slowdown_is_reported_by_size_bin_and_never_below_one() {
    let dir = std::env::temp_dir().join(format!("testbed-slowdown-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let r = run_file("websearch.toml", &["duration_s=0.5"], Some(&dir));
    let mut bins = 0;
    for f in &r.flows {
        let ideal = f
            .ideal_fct_s
            .expect("every websearch flow has a routed path");
        if let Some(fct) = f.fct_s {
            assert!(
                fct >= ideal * (1.0 - 1e-9),
                "flow {}: fct {fct} < ideal {ideal}",
                f.flow
            );
            assert_eq!(f.slowdown, Some(fct / ideal));
        }
    }
    for (bin, _) in scenarios::runner::SIZE_BINS {
        if let Some(p50) = r.num(&format!("slowdown_p50/{bin}")) {
            bins += 1;
            let p99 = r.num(&format!("slowdown_p99/{bin}")).unwrap();
            assert!(1.0 <= p50 && p50 <= p99, "{bin}: p50 {p50}, p99 {p99}");
            assert!(r.num(&format!("flows/{bin}")).unwrap() >= 1.0);
        }
    }
    assert!(bins >= 3, "websearch sizes span at least three bins");
    let figs = scenarios::figures::run_figures(&dir, scenarios::figures::Format::Svg).unwrap();
    assert!(
        figs.iter().any(|f| f.ends_with("fct_slowdown.svg")),
        "{figs:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
