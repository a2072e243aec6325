//! `testbed reproduce`: the known figure ids, an unknown id's error, each figure's recipe on a
//! shortened setup (PNG, SVG and the comparison table, with sensible numbers), output
//! directories never reused silently, determinism; and the bulk workload's `flows_per_pair`
//! and `duration_s` the aggregation figure needs.

use std::path::Path;
use std::process::Command;

use scenarios::config::parse;
use scenarios::reproduce::{self, Options, Report, Row};
use scenarios::runner::run;

pub(super) fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_testbed"))
}

pub(super) fn tmp(name: &str) -> crate::TestOut {
    crate::TestOut::new("repro", name)
}

pub(super) fn short(out: &Path, seeds: u64, duration_s: f64) -> Options {
    Options {
        out: Some(out.to_path_buf()),
        seeds: Some(seeds),
        duration_s: Some(duration_s),
        jobs: 2,
        ..Options::default()
    }
}

pub(super) fn row<'a>(rep: &'a Report, starts: &str) -> &'a Row {
    rep.rows
        .iter()
        .find(|r| r.quantity.starts_with(starts))
        .unwrap_or_else(|| panic!("no row `{starts}` in\n{}", rep.markdown))
}

/// The figure files exist and are non-trivial, in both formats, with the tables.
pub(super) fn assert_outputs(rep: &Report, stem: &str) {
    for f in [
        format!("{stem}.png"),
        format!("{stem}.svg"),
        "table.md".into(),
        "table.csv".into(),
    ] {
        let p = rep.dir.join(&f);
        let len = std::fs::metadata(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .len();
        assert!(len > 500, "{} is {len} bytes", p.display());
    }
    let svg = std::fs::read_to_string(rep.dir.join(format!("{stem}.svg"))).unwrap();
    assert!(
        svg.contains("time (s)") || svg.contains("CDF") || svg.contains("reporting interval (µs"),
        "axis labels"
    );
    let csv = std::fs::read_to_string(rep.dir.join("table.csv")).unwrap();
    assert!(csv.starts_with("quantity,unit,ours,compared_with,reference,rel_diff_pct,paper"));
    assert_eq!(csv.lines().count(), rep.rows.len() + 1);
}

#[test]
fn list_names_every_figure_id() {
    let o = bin().args(["reproduce", "--list"]).output().unwrap();
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    for id in [
        "thesis-3.4",
        "thesis-4.2",
        "thesis-4.3",
        "thesis-4.4",
        "thesis-4.5",
        "thesis-4.9",
        "thesis-4.10",
        "thesis-4.6",
        "thesis-4.11",
        "thesis-4.7.2",
        "thesis-4.9-10us",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(id)),
            "{id} missing:\n{out}"
        );
    }
    assert_eq!(out.lines().count(), reproduce::figures().len());
}

#[test]
fn an_unknown_id_is_an_error_listing_the_known_ones() {
    let out = tmp("unknown");
    let o = bin()
        .args(["reproduce", "thesis-9.9", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("unknown figure id `thesis-9.9`")
            && err.contains(
                "known ids: thesis-3.4, thesis-4.2, thesis-4.3, thesis-4.4, thesis-4.5, thesis-4.9, thesis-4.10"
            ),
        "{err}"
    );
    assert!(!out.exists(), "nothing is written for an unknown id");
}

#[test]
fn cubic_on_ccp_tracks_native_cubic() {
    let out = tmp("4.4");
    let rep = reproduce::reproduce("thesis-4.4", &short(&out, 1, 8.0)).unwrap();
    assert_outputs(&rep, "cubic_cwnd");
    assert_eq!(rep.runs, 2);
    let cwnd = row(&rep, "mean cwnd");
    let d = cwnd.rel_diff_pct().unwrap();
    assert!(
        d.abs() < 25.0 && cwnd.ours > 100.0,
        "CCP vs native Cubic mean cwnd {d:+.1} %:\n{}",
        rep.markdown
    );
    let g = row(&rep, "goodput");
    assert!(
        g.ours > 80.0 && g.rel_diff_pct().unwrap().abs() < 10.0,
        "{}",
        rep.markdown
    );
    // Each arm is a sweep directory whose plan re-runs its runs.
    let plan = std::fs::read_to_string(out.join("native").join("plan.txt")).unwrap();
    assert!(
        plan.contains("workload.0.cc=") && plan.contains("duration_s=8"),
        "{plan}"
    );
}

/// Slow start in the datapath program grows the window as the native sender does; in the
/// agent, fed one report per RTT, it lags; rate-based in the datapath program (the rate doubled
/// every RTT by a timer) its throughput × RTT doubles per RTT and reaches 1 BDP about one RTT
/// after the native sender's (thesis §4.4.4).
#[test]
fn slow_start_in_the_agent_lags_and_in_the_datapath_matches_native() {
    let out = tmp("4.3");
    let rep = reproduce::reproduce("thesis-4.3", &short(&out, 1, 3.0)).unwrap();
    assert_outputs(&rep, "slow_start");
    assert_eq!(rep.runs, 4);
    for q in [
        "window reaches 100 packets",
        "window reaches 1 BDP",
        "slow-start growth per RTT",
        "delivered in the first second",
    ] {
        let dp = row(&rep, &format!("CCP, datapath slow start: {q}"));
        assert_eq!(dp.within_target(), Some(true), "{q}:\n{}", rep.markdown);
    }
    // The native window doubles every RTT (the 10 ms sampling rounds it a little).
    let g = row(&rep, "CCP, datapath slow start: slow-start growth per RTT");
    let native = g.reference.unwrap();
    assert!((1.85..=2.05).contains(&native), "{}", rep.markdown);
    // The agent's window grows once per report: clearly slower, and later to 1 BDP.
    let ga = row(
        &rep,
        "CCP, agent slow start (1-RTT reports): slow-start growth per RTT",
    );
    assert!(
        ga.ours > 1.2 && ga.ours < 0.95 * native,
        "agent growth {} vs native {native}:\n{}",
        ga.ours,
        rep.markdown
    );
    let t = row(
        &rep,
        "CCP, agent slow start (1-RTT reports): window reaches 1 BDP",
    );
    assert!(
        t.ours > t.reference.unwrap() + 0.1,
        "the agent reaches 1 BDP at least an RTT later:\n{}",
        rep.markdown
    );
    let d = row(
        &rep,
        "CCP, agent slow start (1-RTT reports): delivered in the first second",
    );
    assert!(d.rel_diff_pct().unwrap() < -10.0, "{}", rep.markdown);

    // Rate-based slow start: its per-RTT throughput doubles (the timer's doubling, measured
    // at the bottleneck) ...
    let g = row(
        &rep,
        "CCP, rate slow start: throughput × RTT growth per RTT",
    );
    assert!((1.85..=2.15).contains(&g.ours), "{}", rep.markdown);
    // ... and saturates the link within a few RTTs of the native sender (measured the same
    // way): it starts at IW/RTT one RTT after the unpaced first window, so it is not earlier.
    let t = row(&rep, "CCP, rate slow start: throughput × RTT reaches 1 BDP");
    let lag = t.ours - t.reference.unwrap();
    assert!(
        (0.0..=0.35).contains(&lag),
        "rate-based 1 BDP at {} vs native {}:\n{}",
        t.ours,
        t.reference.unwrap(),
        rep.markdown
    );
    let t100 = row(&rep, "CCP, rate slow start: throughput × RTT reaches 100");
    assert!(t100.ours < t.ours, "{}", rep.markdown);
    // The agent took over at the first loss (the datapath's window was cut) ...
    let end = row(&rep, "CCP, rate slow start: slow start ends");
    assert!(
        end.ours > t.ours && end.ours < 2.0,
        "the switch to window mode after saturation:\n{}",
        rep.markdown
    );
    let after = row(&rep, "CCP, rate slow start: cwnd just after that");
    assert!(
        after.ours.is_finite() && after.ours > 400.0,
        "{}",
        rep.markdown
    );
    // ... and before it, it delivered more than the agent's 1-RTT slow start.
    let dr = row(&rep, "CCP, rate slow start: delivered in the first second");
    assert!(dr.ours > d.ours, "{}", rep.markdown);
}

/// `slow_start` of CCP Reno is checked when the scenario loads: the rate-based variant is
/// accepted, an unknown value is an error naming the field.
#[test]
fn thesis_4_3_slow_start_values_are_checked_at_load() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("paper/thesis-4.3-slow-start.toml"),
    )
    .unwrap();
    let set = |v: &str| vec![format!("workload.0.cc.params.slow_start=\"{v}\"")];
    for ok in ["agent", "datapath", "rate"] {
        parse(&text, "t.toml", Path::new("."), &set(ok)).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    let e = match parse(&text, "t.toml", Path::new("."), &set("sideways")) {
        Ok(_) => panic!("an unknown slow_start must be rejected"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("workload[0].cc.params.slow_start")
            && e.contains("\"rate\"")
            && e.contains("\"sideways\""),
        "{e}"
    );
}

/// The 10 µs-RTT variant of Fig 4.9 runs the same grid with halved link delays: its plans
/// carry the override, its notes say so, and the override does halve the path's delay (one
/// sender's 10-packet flow, handshake included, completes sooner than at 20 µs).
#[test]
fn incast_10us_variant_runs_the_grid_at_half_the_rtt() {
    let out = tmp("4.9-10us");
    let rep = reproduce::reproduce("thesis-4.9-10us", &short(&out, 1, 1.0)).unwrap();
    assert_outputs(&rep, "incast");
    assert_eq!(rep.runs, 2 * 3 * 8);
    let plan = std::fs::read_to_string(out.join("10g-100pkt-ccp-per-ack/plan.txt")).unwrap();
    assert!(plan.contains("topology.link.delay_us=2.5"), "{plan}");
    assert!(rep.markdown.contains("10 µs base RTT"), "{}", rep.markdown);
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("paper")
        .join("thesis-4.9-incast.toml");
    let fct = |delay: &str| {
        let dir = tmp(&format!("4.9-one-sender-{delay}"));
        let o = bin()
            .arg("run")
            .arg(&scenario)
            .arg("--out")
            .arg(&dir)
            .args(["--set", "topology.senders=1"])
            .args(["--set", "workload.0.packets_per_sender=10"])
            .args(["--set", &format!("topology.link.delay_us={delay}")])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let s = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix("fct_max_s,"))
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    let (t20, t10) = (fct("5.0"), fct("2.5"));
    // SYN round trip + one window + its last ACK: 1.5 RTTs, 15 µs shorter (43.3 vs 28.3 µs).
    assert!(t10 < t20 - 10e-6, "10 µs RTT: {t10} s, 20 µs: {t20} s");
}

/// Incast vs CCP reporting interval: every grid point runs, CCP Reno's tail stays near native
/// Reno's at 10 Gbit/s for every flow size (10-packet flows, whose completion timeouts decide,
/// included: an agent window re-applied over a timeout's one-segment window used to double
/// their tail), no completion beats the line rate, and coarse reporting does not make the
/// tail implausibly faster than per-ACK reporting.
#[test]
fn incast_tail_vs_reporting_interval() {
    let out = tmp("4.9");
    let rep = reproduce::reproduce("thesis-4.9", &short(&out, 2, 1.0)).unwrap();
    assert_outputs(&rep, "incast");
    // 2 speeds × 3 sizes × (native + per ACK + 6 intervals).
    assert_eq!(rep.runs, 2 * 3 * 8 * 2);
    let tail = |speed: &str, size: u64, rep_: &str| {
        row(
            &rep,
            &format!("{speed} Gbit/s, {size}-pkt flows, CCP reporting {rep_}: mean tail"),
        )
        .clone()
    };
    for speed in ["10", "40"] {
        for size in [10, 100, 1000] {
            let ideal = row(
                &rep,
                &format!("{speed} Gbit/s, {size}-pkt flows, native Reno: mean tail"),
            );
            assert!(
                ideal.ours >= ideal.reference.unwrap(),
                "native faster than the line rate:\n{}",
                rep.markdown
            );
            let per_ack = tail(speed, size, "per ACK");
            for iv in ["per ACK", "every 10 µs", "every 100 µs", "every 500 µs"] {
                let r = tail(speed, size, iv);
                assert!(
                    r.ours >= ideal.reference.unwrap(),
                    "{}: faster than the line rate:\n{}",
                    r.quantity,
                    rep.markdown
                );
                assert!(
                    r.ours >= 0.7 * per_ack.ours,
                    "{}: {:.3} ms, per ACK {:.3} ms: coarser reporting 30 % faster?\n{}",
                    r.quantity,
                    r.ours,
                    per_ack.ours,
                    rep.markdown
                );
                if speed == "10" {
                    // The issue's target is 15 % over 50 seeds; two seeds of the longer flows
                    // spread more, the 10-packet flows' timeouts hardly at all.
                    let limit = if size == 10 { 15.0 } else { 30.0 };
                    let d = r.rel_diff_pct().unwrap();
                    assert!(
                        d.abs() < limit,
                        "{}: {d:+.1} % from native:\n{}",
                        r.quantity,
                        rep.markdown
                    );
                }
            }
        }
    }
    assert_eq!(row(&rep, "CCP flows that fell back").ours, 0.0);
    // Arms are sweeps whose plans re-run each point.
    let plan = std::fs::read_to_string(out.join("40g-100pkt-ccp-50us/plan.txt")).unwrap();
    for s in [
        "topology.link.link.rate_mbps=40000",
        "workload.0.start_jitter_us=2.5",
        "workload.0.packets_per_sender=100",
        "report_interval_us=50",
    ] {
        assert!(plan.contains(s), "{s} missing from {plan}");
    }
    // A cap too short for the flows to complete is an error, not a silent number.
    let e = reproduce::reproduce("thesis-4.9", &short(&tmp("4.9-short"), 1, 0.0005))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("did not complete") && e.contains("--duration"),
        "{e}"
    );
}

#[test]
fn bbr_on_ccp_keeps_the_link_busy_outside_probes() {
    let out = tmp("4.2");
    let rep = reproduce::reproduce("thesis-4.2", &short(&out, 1, 12.0)).unwrap();
    assert_outputs(&rep, "bbr");
    let g = row(&rep, "mean goodput outside dips");
    assert!(g.within_target() == Some(true), "{}", rep.markdown);
    let dips = row(&rep, "PROBE_RTT dips");
    assert_eq!(dips.reference, Some(1.0), "one dip expected in 12 s");
    assert!(row(&rep, "median queueing delay").ours >= 0.0);
}

/// PROBE_RTT shows as a goodput dip in a 12 s run (10 s after the first min-RTT sample).
#[test]
fn bbr_on_ccp_dips_for_probe_rtt() {
    let out = tmp("4.2-dips");
    let rep = reproduce::reproduce("thesis-4.2", &short(&out, 1, 12.0)).unwrap();
    assert!(row(&rep, "PROBE_RTT dips").ours >= 1.0, "{}", rep.markdown);
}

#[test]
fn fidelity_cdfs_compare_every_setting_and_algorithm() {
    let out = tmp("4.5");
    let rep = reproduce::reproduce("thesis-4.5", &short(&out, 1, 4.0)).unwrap();
    assert_outputs(&rep, "cdfs");
    assert_eq!(rep.runs, 12);
    assert_eq!(rep.rows.len(), 12, "{}", rep.markdown);
    for setting in ["fixed", "cell", "drop"] {
        for alg in ["NewReno", "Cubic"] {
            let t = row(
                &rep,
                &format!("{setting}, {alg}: median per-20 ms throughput"),
            );
            let r = t.reference.unwrap();
            let cap = if setting == "cell" { 50.0 } else { 96.5 };
            assert!(
                t.ours > 0.5 && t.ours <= cap && r > 0.5 && r <= cap,
                "{}",
                rep.markdown
            );
        }
    }
    let fixed = row(&rep, "fixed, Cubic: median per-20 ms throughput");
    assert!(fixed.within_target() == Some(true), "{}", rep.markdown);
}

#[test]
fn aggregation_gives_joining_flows_their_share() {
    let out = tmp("4.10");
    // 6.2 s: the paper's layout scaled by 0.1 (flows of 2 s, 1 s apart).
    let rep = reproduce::reproduce("thesis-4.10", &short(&out, 1, 6.2)).unwrap();
    assert_outputs(&rep, "aggregation_cwnd");
    let jain = row(&rep, "Jain index");
    assert!(jain.ours > 0.95, "{}", rep.markdown);
    let plan = std::fs::read_to_string(out.join("reno").join("plan.txt")).unwrap();
    assert!(plan.contains("workload.0.stagger_s=1"), "{plan}");
    // The five flows stopped writing after 2 s and completed.
    let flows = std::fs::read_to_string(out.join("aggregate/base/seed-1/flows.csv")).unwrap();
    assert_eq!(flows.lines().count(), 6, "{flows}");
}

#[test]
fn output_directories_are_never_reused_silently() {
    let out = tmp("overwrite");
    let o = short(&out, 1, 2.0);
    let first = reproduce::reproduce("thesis-4.4", &o).unwrap();
    let e = reproduce::reproduce("thesis-4.4", &o)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not empty") && e.contains("--overwrite"), "{e}");
    let again = reproduce::reproduce(
        "thesis-4.4",
        &Options {
            overwrite: true,
            ..o.clone()
        },
    )
    .unwrap();
    // Same seed, same numbers.
    assert_eq!(first.rows, again.rows);
    assert_eq!(first.markdown, again.markdown);
    // Something a reproduction does not write is never removed.
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let e = reproduce::reproduce(
        "thesis-4.4",
        &Options {
            overwrite: true,
            ..o
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("notes.txt"), "{e}");
    assert!(out.join("notes.txt").exists() && out.join("table.md").exists());
}

#[test]
fn cli_reproduce_writes_the_figure_and_prints_the_table() {
    let out = tmp("cli");
    let o = bin()
        .args([
            "reproduce",
            "thesis-4.4",
            "--seeds",
            "1",
            "--duration",
            "2",
            "--jobs",
            "2",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        text.contains("| mean cwnd (time average) | packets |"),
        "{text}"
    );
    assert!(out.join("cubic_cwnd.png").is_file() && out.join("cubic_cwnd.svg").is_file());
    // Bound to a name: passed by value, the guard would remove the directory before the run.
    let bad_out = tmp("cli-bad");
    let o = bin()
        .args(["reproduce", "thesis-4.4", "--duration", "0", "--out"])
        .arg(&bad_out)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--duration 0"));
}

const TWO_FLOWS: &str = r#"
name = "t"
duration_s = 3.0
[topology]
kind = "dumbbell"
pairs = 1
[topology.bottleneck]
link = { kind = "fixed", rate_mbps = 20.0 }
delay_us = 5000.0
queue = { kind = "drop_tail", limit_packets = 100 }
[topology.access]
link = { kind = "fixed", rate_mbps = 1000.0 }
[[workload]]
kind = "bulk"
cc = "reno"
flows_per_pair = 2
stagger_s = 0.5
duration_s = 1.0
"#;

#[test]
fn bulk_flows_share_a_pair_and_stop_writing_after_their_duration() {
    let loaded = parse(TWO_FLOWS, "t.toml", Path::new("."), &[]).unwrap();
    let res = run(&loaded, None).unwrap();
    assert_eq!(res.flows.len(), 2);
    for (i, f) in res.flows.iter().enumerate() {
        assert_eq!((f.src, f.dst), (0, 1), "both flows on the one pair");
        assert!((f.start_s - 0.5 * i as f64).abs() < 1e-9);
        // Writes for 1 s, then drains what it sent: done soon after.
        let fct = f.fct_s.expect("a flow with a duration completes");
        assert!((1.0..1.3).contains(&fct), "flow {i}: fct {fct}");
        assert_eq!(f.size_bytes, Some(f.delivered_bytes));
    }
    for (bad, field) in [
        ("duration_s = 1.0\n", "duration_s = 0.0\n"),
        ("flows_per_pair = 2", "flows_per_pair = 0"),
    ] {
        let text = TWO_FLOWS.replace(bad, field);
        let e = parse(&text, "t.toml", Path::new("."), &[])
            .unwrap_err()
            .to_string();
        let name = field.split(' ').next().unwrap();
        assert!(e.contains(name), "{e}");
    }
}

/// thesis Fig 4.6 on 3 s of arrivals: both arms run, the table has the thesis's percentile
/// rows, and no flow finishes faster than the physics allow (one-way propagation plus its
/// bytes at the bottleneck rate).
#[test]
fn thesis_4_6_fct_cdfs_per_size_class() {
    let out = tmp("4.6");
    let rep = reproduce::reproduce("thesis-4.6", &short(&out, 1, 3.0)).unwrap();
    assert_outputs(&rep, "fct_cdfs");
    assert_eq!(rep.runs, 2);
    for q in [
        "all flows: median FCT, CCP ÷ native",
        "all flows: p75 FCT, CCP ÷ native",
        "all flows: p95 FCT, CCP ÷ native",
        "small flows (≤ 10 KB): median FCT, CCP ÷ native",
        "medium flows (10 KB–1 MB): median FCT, CCP ÷ native",
        "large flows (> 1 MB): median FCT, CCP ÷ native",
        "flows per run",
    ] {
        row(&rep, q);
    }
    assert_eq!(
        row(&rep, "all flows: p95 FCT, CCP ÷ native").reference,
        Some(1.3)
    );
    let plan = std::fs::read_to_string(out.join("ccp/plan.txt")).unwrap();
    assert!(
        plan.contains("workload.0.stop_s=3") && plan.contains("ccp=\"reno\""),
        "{plan}"
    );
    for arm in ["native", "ccp"] {
        let path = out.join(arm).join("base/seed-1/flows.csv");
        let mut rd = csv::Reader::from_path(&path).unwrap();
        let head = rd.headers().unwrap().clone();
        let col = |n: &str| head.iter().position(|h| h == n).unwrap();
        let (cs, cf) = (col("size_bytes"), col("fct_s"));
        let (mut n, mut small) = (0, Vec::new());
        for rec in rd.records() {
            let rec = rec.unwrap();
            let size: f64 = rec[cs].parse().unwrap();
            let Ok(fct) = rec[cf].parse::<f64>() else {
                continue;
            };
            n += 1;
            let floor = 0.05 + size * 8.0 / 192e6;
            assert!(
                fct >= floor - 1e-9,
                "{arm}: a {size}-byte flow finished in {fct} s, below {floor} s"
            );
            if size <= 10_000.0 {
                small.push(fct);
            }
        }
        // ≈ 725 flows/s for 3 s; most are small and finish in about one one-way delay.
        assert!((1500..3000).contains(&n), "{arm}: {n} flows");
        small.sort_by(f64::total_cmp);
        let med = small[small.len() / 2];
        assert!(
            (0.05..0.07).contains(&med),
            "{arm}: small-flow median {med} s"
        );
    }
    assert_eq!(
        row(&rep, "native: finished flows faster than").ours,
        0.0,
        "{}",
        rep.markdown
    );
}

/// thesis Fig 4.11 on 8 s: every algorithm × personality runs and has its rows, the
/// personalities' overrides are in the plans, and Copa on the kernel-like datapath settles
/// within a factor of 2 of 1 BDP (20 packets of 1500 B) while both algorithms keep the link
/// busy on every datapath.
#[test]
fn thesis_4_11_same_algorithms_on_three_datapath_personalities() {
    let out = tmp("4.11");
    let rep = reproduce::reproduce("thesis-4.11", &short(&out, 1, 8.0)).unwrap();
    assert_outputs(&rep, "write_once_cwnd");
    assert_eq!(rep.runs, 6);
    for alg in ["Copa", "Cubic"] {
        for p in ["kernel-like", "DPDK/mTCP-like", "QUIC-like"] {
            for q in ["mean cwnd", "goodput", "mean queueing delay"] {
                row(&rep, &format!("{alg}, {p}: {q}"));
            }
            let g = row(&rep, &format!("{alg}, {p}: goodput"));
            let link = if alg == "Copa" { 12.0 } else { 24.0 };
            assert!(
                g.ours > 0.5 * link && g.ours <= link,
                "{alg}, {p}: {} Mbit/s\n{}",
                g.ours,
                rep.markdown
            );
        }
    }
    let copa = row(&rep, "Copa, kernel-like: mean cwnd");
    // 1 BDP = 30 kB = 20.7 packets of 1448 B.
    assert!(
        (10.0..=41.0).contains(&copa.ours),
        "Copa kernel-like mean cwnd {}:\n{}",
        copa.ours,
        rep.markdown
    );
    assert_eq!(copa.reference, Some(22.0));
    assert_eq!(row(&rep, "CCP flows that fell back").ours, 0.0);
    let plan = std::fs::read_to_string(out.join("copa-mtcp/plan.txt")).unwrap();
    assert!(
        plan.contains("topology.bottleneck.reverse.burst_release_us=1000"),
        "{plan}"
    );
    let plan = std::fs::read_to_string(out.join("cubic-quic/plan.txt")).unwrap();
    for s in [
        "transport.mss=1350",
        "transport.delayed_ack_us=25000",
        "transport.pacing=true",
    ] {
        assert!(plan.contains(s), "{s} missing from {plan}");
    }
}

/// thesis §4.7.2 on 10 s: both estimators deliver, the table names the thesis's numbers, and
/// the ratio row's verdict is computed, not asserted: its "within" says whether it holds.
#[test]
fn thesis_4_7_2_copa_estimators_under_ack_compression() {
    let out = tmp("4.7.2");
    let rep = reproduce::reproduce("thesis-4.7.2", &short(&out, 1, 10.0)).unwrap();
    assert_outputs(&rep, "copa_ack_compression");
    assert_eq!(rep.runs, 2);
    let pp = row(&rep, "per-packet estimator (fixed, CCP): goodput");
    let nv = row(&rep, "naive estimator (the bug): goodput");
    assert_eq!((pp.reference, nv.reference), (Some(8.2), Some(1.3)));
    for r in [pp, nv] {
        assert!(
            r.ours > 0.0 && r.ours <= 12.0,
            "{}: {}\n{}",
            r.quantity,
            r.ours,
            rep.markdown
        );
    }
    let q = row(
        &rep,
        "per-packet estimator (fixed, CCP): mean queueing delay",
    );
    assert_eq!(q.reference, Some(11.0));
    assert_eq!(
        row(&rep, "naive estimator (the bug): mean queueing delay").reference,
        Some(9.0)
    );
    let ratio = row(&rep, "goodput, per-packet ÷ naive");
    assert!((ratio.ours - pp.ours / nv.ours).abs() < 1e-9);
    assert_eq!(
        ratio.within_target(),
        Some((ratio.ours / (8.2 / 1.3) - 1.0).abs() <= 0.5)
    );
    // No RTT can be below the 25 ms base RTT.
    for who in ["per-packet", "naive"] {
        let r = row(&rep, &format!("{who} estimator: lowest transport srtt"));
        assert!(r.ours >= 25.0, "{}", rep.markdown);
    }
    // The agent's own estimates, read from the runs' flows.csv: the per-packet estimator
    // gets within a few ms of the path's minimum (25 ms + 1 ms to serialize a 1500-byte packet
    // at 12 Mbit/s; 27.3 ms at 10 s), the naive one stays above it, the smoothed RTT
    // inflated by the bursts (29.6 ms).
    let pp_min = row(&rep, "per-packet estimator: the agent's min-RTT estimate");
    let nv_min = row(&rep, "naive estimator: the agent's min-RTT estimate");
    assert!(
        pp_min.ours >= 26.0 && pp_min.ours < 28.5,
        "{}",
        rep.markdown
    );
    assert!(nv_min.ours > pp_min.ours + 1.0, "{}", rep.markdown);
    assert!(rep.markdown.contains("Direction of the thesis's result"));
    let plan = std::fs::read_to_string(out.join("naive/plan.txt")).unwrap();
    assert!(plan.contains("min_rtt_estimator=\"naive\""), "{plan}");
}
