//! The `testbed` binary as a user runs it: clear errors on bad input (file, line, field, what was
//! expected), never a panic; `validate`, `run`, `sweep --list`, `sweep` and `figures` work.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_testbed"))
}

fn scen(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn tmp(name: &str) -> crate::TestOut {
    let d = crate::TestOut::new("cli", name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(cmd: &mut Command) -> (bool, String) {
    let o = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!text.contains("panicked"), "panic: {text}");
    (o.status.success(), text)
}

#[test]
fn validate_accepts_every_shipped_scenario() {
    // Every scenario file shipped in scenarios/, found on disk so a new one cannot be missed.
    let dir = scen("");
    let mut shipped: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let n = e.ok()?.file_name().to_string_lossy().into_owned();
            (n.ends_with(".toml") && n != "Cargo.toml").then_some(n)
        })
        .collect();
    shipped.sort();
    assert!(shipped.len() >= 6, "{shipped:?}");
    for s in &shipped {
        let (ok, out) = run(bin().arg("validate").arg(scen(s)));
        assert!(ok, "{s}: {out}");
        assert!(out.contains(": ok ("), "{out}");
    }
}

#[test]
fn errors_name_file_line_field_and_expectation() {
    let d = tmp("errors");
    let base = std::fs::read_to_string(scen("dumbbell.toml")).unwrap();
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "unknown.toml",
            base.replace("pairs = 1", "pairs = 1\npears = 2"),
            vec!["unknown.toml", "line", "pears"],
        ),
        (
            "type.toml",
            base.replace("pairs = 1", "pairs = \"one\""),
            vec!["type.toml", "line", "pairs"],
        ),
        (
            "syntax.toml",
            base.replace("duration_s = 60.0", "duration_s = = 60"),
            vec!["syntax.toml", "line"],
        ),
        (
            "range.toml",
            base.replace("duration_s = 60.0", "duration_s = -1.0"),
            vec!["range.toml", "duration_s", "expected"],
        ),
        (
            "cc.toml",
            base.replace("cc = \"reno\"", "cc = \"vegas2\""),
            vec!["cc.toml", "vegas2"],
        ),
        (
            "kind.toml",
            base.replace("kind = \"dumbbell\"", "kind = \"ring\""),
            vec!["kind.toml", "ring", "dumbbell"],
        ),
        (
            "missing.toml",
            base.replace("duration_s = 60.0\n", ""),
            vec!["missing.toml", "duration_s"],
        ),
        (
            "loss.toml",
            base.replace("delay_us = 9000.0", "delay_us = 9000.0\nloss = 2.0"),
            vec!["loss.toml", "loss", "expected"],
        ),
    ];
    for (name, text, needles) in cases {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        let (ok, out) = run(bin().arg("validate").arg(&p));
        assert!(!ok, "{name} must be rejected");
        for n in needles {
            assert!(out.contains(n), "{name}: message lacks `{n}`: {out}");
        }
    }
    let (ok, out) = run(bin().arg("validate").arg(d.join("nope.toml")));
    assert!(
        !ok && out.contains("nope.toml") && out.contains("cannot read"),
        "{out}"
    );
    let (ok, out) = run(bin()
        .args(["validate", "--set", "topology.pairs"])
        .arg(scen("dumbbell.toml")));
    assert!(!ok && out.contains("key.path=value"), "{out}");
}

#[test]
fn run_prints_counters_and_figures_draws_pngs() {
    let d = tmp("run");
    let (ok, out) = run(bin()
        .arg("run")
        .arg(scen("dumbbell.toml"))
        .args(["--set", "duration_s=2", "--out"])
        .arg(&d));
    assert!(ok, "{out}");
    assert!(
        out.contains("events processed:")
            && out.contains("events/wall-s:")
            && out.contains("sim-s/wall-s:"),
        "{out}"
    );
    for f in [
        "flows.csv",
        "timeseries.csv",
        "ports.csv",
        "summary.csv",
        "scenario.toml",
    ] {
        assert!(d.join(f).is_file(), "missing {f}");
    }
    let (ok, out) = run(bin().arg("figures").arg(&d));
    assert!(ok, "{out}");
    for f in ["cwnd.png", "qdelay.png"] {
        let meta = std::fs::metadata(d.join(f)).unwrap();
        assert!(meta.len() > 5_000, "{f} is suspiciously small");
    }
}

#[test]
fn sweep_lists_and_runs_a_grid_and_plots_the_incast_tail() {
    let d = tmp("sweep");
    let (ok, out) = run(bin()
        .arg("sweep")
        .arg(scen("incast.toml"))
        .args([
            "--seeds",
            "1..3",
            "--grid",
            "topology.senders=4,8,16",
            "--list",
            "--out",
        ])
        .arg(&d));
    assert!(ok, "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("testbed run")).count(),
        6,
        "{out}"
    );
    let (ok, out) = run(bin()
        .arg("sweep")
        .arg(scen("incast.toml"))
        .args([
            "--seeds",
            "1..3",
            "--grid",
            "topology.senders=4,8,16",
            "--jobs",
            "2",
            "--out",
        ])
        .arg(&d));
    assert!(ok, "{out}");
    let merged = std::fs::read_to_string(d.join("sweep.csv")).unwrap();
    assert!(merged.contains("completion_span_s"), "{merged}");
    let (ok, out) = run(bin().arg("figures").arg(&d).args(["--format", "svg"]));
    assert!(ok, "{out}");
    assert!(d.join("incast_tail.svg").is_file(), "{out}");
}

#[test]
fn pcap_links_capture_both_directions() {
    let d = tmp("pcap");
    let (ok, out) = run(bin()
        .arg("run")
        .arg(scen("dumbbell.toml"))
        .args([
            "--set",
            "duration_s=0.5",
            "--set",
            "output.pcap_links=[\"bottleneck\"]",
            "--out",
        ])
        .arg(&d));
    assert!(ok, "{out}");
    for f in ["bottleneck-left-right.pcap", "bottleneck-right-left.pcap"] {
        let bytes = std::fs::read(d.join(f)).unwrap();
        // Nanosecond-resolution pcap magic, then many records.
        assert_eq!(&bytes[..4], &[0x4d, 0x3c, 0xb2, 0xa1], "{f}");
        assert!(bytes.len() > 10_000, "{f}: {} bytes", bytes.len());
    }
}

#[test]
fn figures_refuse_non_finite_values_and_empty_dirs() {
    let d = tmp("nonfinite");
    std::fs::write(d.join("summary.csv"), "key,value\nscenario,x\n").unwrap();
    let (ok, out) = run(bin().arg("figures").arg(&d));
    assert!(!ok && out.contains("nothing to plot"), "{out}");
    std::fs::write(
        d.join("timeseries.csv"),
        "time_ns,series,value\n1,cwnd_bytes/0,5\n2,cwnd_bytes/0,inf\n",
    )
    .unwrap();
    let (ok, out) = run(bin().arg("figures").arg(&d));
    assert!(
        !ok && out.contains("timeseries.csv") && out.contains("finite"),
        "{out}"
    );
}

/// A seed beyond what a scenario file's integer holds is refused as a flag error, not as a
/// TOML error quoting text the user never wrote.
#[test]
fn seeds_beyond_the_file_formats_range_are_flag_errors() {
    let (ok, text) = run(bin()
        .arg("run")
        .arg(scen("dumbbell.toml"))
        .arg("--seed")
        .arg("9223372036854775808"));
    assert!(!ok);
    assert!(text.contains("--seed"), "{text}");
    assert!(!text.contains("TOML"), "{text}");
    let (ok, text) = run(bin()
        .arg("sweep")
        .arg(scen("dumbbell.toml"))
        .arg("--seeds")
        .arg("9223372036854775807..=9223372036854775808")
        .arg("--list"));
    assert!(!ok);
    assert!(
        text.contains("--seeds") && text.contains("0..=9223372036854775807"),
        "{text}"
    );
}
