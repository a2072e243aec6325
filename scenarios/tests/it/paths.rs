//! Paths the CLI writes (issue 10, item 18): `run --out` and `figures` never write through a
//! symbolic link nor take a file for a directory, and pcap file names built from link and
//! node names stay plain file names inside the results directory.

use std::path::{Component, Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_testbed"))
}

fn scen(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// A fresh directory for one test.
fn tmp(name: &str) -> crate::TestOut {
    let d = crate::TestOut::new("paths", name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `testbed run dumbbell.toml` (a short one) into `out`: (success, stdout + stderr).
fn run_into(out: &Path) -> (bool, String) {
    let o = bin()
        .arg("run")
        .arg(scen("dumbbell.toml"))
        .args([
            "--set",
            "duration_s=0.2",
            "--set",
            "output.pcap_links=[\"bottleneck\"]",
            "--out",
        ])
        .arg(out)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!text.contains("panicked"), "{text}");
    (o.status.success(), text)
}

#[test]
fn run_refuses_an_out_that_is_a_file() {
    let d = tmp("file");
    let f = d.join("results");
    std::fs::write(&f, "not results").unwrap();
    let (ok, text) = run_into(&f);
    assert!(!ok, "{text}");
    assert!(
        text.contains("--out") && text.contains("is not a directory"),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "not results");
}

#[test]
fn run_and_figures_refuse_a_symlinked_results_dir() {
    let d = tmp("link");
    let real = d.join("real");
    std::fs::create_dir(&real).unwrap();
    let link = d.join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let (ok, text) = run_into(&link);
    assert!(!ok, "{text}");
    assert!(
        text.contains("--out") && text.contains("symbolic link"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_dir(&real).unwrap().count(),
        0,
        "wrote through"
    );

    // A link to a real run's results: `figures` does not draw through it either.
    let (ok, text) = run_into(&real);
    assert!(ok, "{text}");
    let before = std::fs::read_dir(&real).unwrap().count();
    let o = bin().arg("figures").arg(&link).output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{e}");
    assert!(e.contains("symbolic link"), "{e}");
    assert_eq!(std::fs::read_dir(&real).unwrap().count(), before);
}

#[test]
fn run_refuses_to_write_through_a_link_inside_out() {
    let d = tmp("inner");
    let out = d.join("out");
    std::fs::create_dir(&out).unwrap();
    let victim = d.join("victim");
    std::fs::write(&victim, "keep me").unwrap();
    // Both a results file and a pcap file the run would write.
    for name in ["flows.csv", "bottleneck-left-right.pcap"] {
        let l = out.join(name);
        std::os::unix::fs::symlink(&victim, &l).unwrap();
        let (ok, text) = run_into(&out);
        assert!(!ok, "{text}");
        assert!(
            text.contains("--out") && text.contains("symbolic link") && text.contains(name),
            "{text}"
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        std::fs::remove_file(&l).unwrap();
    }
    // Without the links, the same directory is fine, pcap files included.
    let (ok, text) = run_into(&out);
    assert!(ok, "{text}");
    assert!(out.join("bottleneck-left-right.pcap").is_file());
}

/// The pcap file name `build` gives each link direction (netmodels/src/network/build.rs).
fn pcap_names(topo: &netmodels::topology::Topology) -> Vec<String> {
    let node = |n: u32| topo.nodes[n as usize].name.as_str();
    topo.links
        .iter()
        .flat_map(|l| {
            [
                format!("{}-{}-{}.pcap", l.name, node(l.a), node(l.b)),
                format!("{}-{}-{}.pcap", l.name, node(l.b), node(l.a)),
            ]
        })
        .collect()
}

#[test]
fn pcap_file_names_are_plain_for_every_builder() {
    // One shipped scenario per topology builder (dumbbell with and without a middlebox,
    // star, leaf-spine, fat-tree).
    for s in [
        "dumbbell.toml",
        "pacer.toml",
        "incast.toml",
        "websearch.toml",
        "fattree.toml",
    ] {
        let loaded = scenarios::config::load(&scen(s), &[]).unwrap();
        let (net, _) = scenarios::runner::build(&loaded.scenario, s, None).unwrap();
        for name in pcap_names(net.topology()) {
            let mut c = Path::new(&name).components();
            assert!(
                matches!(c.next(), Some(Component::Normal(_))) && c.next().is_none(),
                "{s}: {name:?} is not one plain file name"
            );
            assert!(
                !name.contains('/') && !name.contains("..") && !name.contains('\0'),
                "{s}: {name:?}"
            );
        }
    }
}
