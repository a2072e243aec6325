//! Thesis Fig 3.3 on real loopback, small: every backend and variant delivers every byte of
//! every connection (the trial errors otherwise), the lossless backends never stall, and bad
//! options are refused naming what was expected.

use bertha_experiments::throughput::{run, Options, BACKENDS, VARIANTS};

#[test]
fn every_backend_and_variant_delivers_the_file() {
    let out = tempfile::tempdir().unwrap();
    let opts = Options {
        bytes: 1_000_000,
        msg: 8192,
        connections: vec![1, 3],
        trials: 2,
        backends: BACKENDS.iter().map(|b| b.to_string()).collect(),
        out: out.path().to_path_buf(),
    };
    let r = run(&opts).unwrap();
    for b in BACKENDS {
        for c in [1, 3] {
            for v in VARIANTS {
                let s = &r.samples[&(b.to_string(), c, v.to_string())];
                assert_eq!(s.len(), 2, "{b}/{c}/{v}");
                assert!(
                    s.iter().all(|g| g.is_finite() && *g > 0.0),
                    "{b}/{c}/{v}: {s:?}"
                );
            }
        }
    }
    for b in ["uds", "tcp", "inproc"] {
        for v in VARIANTS {
            assert_eq!(
                r.lost[&(b.to_string(), v.to_string())],
                0,
                "{b}/{v} lost nothing"
            );
        }
    }
    let csv = std::fs::read_to_string(out.path().join("samples.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 4 * 2 * 2 * 2);
    // Per backend and count: bertha's median goodput, the ratio of medians, the paired ratio.
    assert_eq!(r.rows.len(), 4 * 2 * 3);
    for b in BACKENDS {
        for c in [1, 3] {
            let q = format!("{b} {c} conn: paired bertha / raw, median over rounds");
            let row = r.rows.iter().find(|row| row.quantity == q);
            let ratio = row.unwrap_or_else(|| panic!("no row {q}")).ours;
            assert!(ratio.is_finite() && ratio > 0.0, "{q}: {ratio}");
        }
    }
    for (o, want) in [
        (
            Options {
                backends: vec!["dpdk".into()],
                ..opts.clone()
            },
            "unknown backend `dpdk`",
        ),
        (
            Options {
                msg: 70_000,
                ..opts.clone()
            },
            "1..=60000",
        ),
        (
            Options {
                connections: vec![0],
                ..opts.clone()
            },
            "1..=64",
        ),
    ] {
        let e = run(&o).unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
    }
}
