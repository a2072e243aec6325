//! `testbed reproduce thesis-3.11` from the command line, tiny: the figure, the samples and
//! the table rows exist (latencies are not compared: debug builds on a shared machine).

use std::path::PathBuf;
use std::process::Command;

fn out_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("testbed-kvport-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn reproduce_thesis_3_11_writes_figure_samples_and_table() {
    let out = out_dir();
    let o = Command::new(env!("CARGO_BIN_EXE_testbed"))
        .args([
            "reproduce",
            "thesis-3.11",
            "--seeds",
            "1",
            "--duration",
            "0.05",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    for f in [
        "fig3_11.png",
        "fig3_11.svg",
        "samples.csv",
        "table.md",
        "table.csv",
    ] {
        let len = std::fs::metadata(out.join(f)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 200, "{f}: {len} bytes");
    }
    // 4 backends x 5 loads x 3 variants, one seed.
    let csv = std::fs::read_to_string(out.join("samples.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 4 * 5 * 3, "{csv}");
    let table = std::fs::read_to_string(out.join("table.md")).unwrap();
    for backend in ["UDP", "Unix datagram", "TCP", "in-process"] {
        for k in [10, 50] {
            for v in ["full (negotiation + Chunnels)", "no negotiation"] {
                let q = format!("{backend}, {k} kOps/s: p95 latency, {v}");
                assert!(table.contains(&q), "no row {q}:\n{table}");
            }
        }
        let q = format!("{backend}: full − inlined p50 latency, median over loads");
        assert!(table.contains(&q), "no row {q}");
    }
    assert!(table.contains("removing features gains little"));
    let svg = std::fs::read_to_string(out.join("fig3_11.svg")).unwrap();
    assert!(svg.contains("offered load") && svg.contains("µs"));
    // Every reply was correct.
    let bad: f64 = csv
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            c[16].parse::<f64>().unwrap() + c[17].parse::<f64>().unwrap()
        })
        .sum();
    assert_eq!(bad, 0.0, "{csv}");
    let _ = std::fs::remove_dir_all(&out);
}
