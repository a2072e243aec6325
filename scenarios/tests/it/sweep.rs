//! Sweeps as a user runs them: `--list` lines that bash runs as printed, `--merge` of runs made
//! elsewhere (byte-identical to a local sweep), output directories never reused silently, grid
//! keys on one axis only, sweep figures grouped by every grid axis, and re-runnable per-run
//! `scenario.toml` files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_testbed"))
}

pub(crate) fn scen(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// A fresh, empty directory for one test.
pub(crate) fn tmp(name: &str) -> crate::TestOut {
    let d = crate::TestOut::new("sweep", name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs a command; (success, stdout, stdout + stderr). Never a panic of the binary.
pub(crate) fn run(cmd: &mut Command) -> (bool, String, String) {
    let o = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let text = format!("{stdout}{}", String::from_utf8_lossy(&o.stderr));
    assert!(!text.contains("panicked"), "panic: {text}");
    (o.status.success(), stdout, text)
}

/// Every file under `dir` (relative path -> bytes), except the sweep's own bookkeeping (the
/// plan and Slurm files, which name their absolute directory) and figures.
pub(crate) fn result_files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().to_path_buf();
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            if ["plan.txt", "slurm.sh", "slurm"].contains(&top.as_ref()) {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if !rel.to_string_lossy().ends_with(".png") {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Asserts two sweep directories hold the same result files, byte for byte.
pub(crate) fn assert_same_results(a: &Path, b: &Path) {
    let (fa, fb) = (result_files(a), result_files(b));
    assert_eq!(
        fa.keys().collect::<Vec<_>>(),
        fb.keys().collect::<Vec<_>>(),
        "the same files in {} and {}",
        a.display(),
        b.display()
    );
    assert!(fa.contains_key(Path::new("sweep.csv")));
    for (k, v) in &fa {
        assert!(
            v == &fb[k],
            "{} differs between {} and {}",
            k.display(),
            a.display(),
            b.display()
        );
    }
}

/// A `--set` value that a naive `--list` broke: brackets, spaces, both quotes, `$`, `;`, `*`.
const AWKWARD: &str = "description=\"it's [a] test; $HOME `x` * \\\\ done\"";

fn sweep_args(scenario: &Path, out: &Path) -> Vec<String> {
    vec![
        "sweep".into(),
        scenario.display().to_string(),
        "--seeds".into(),
        "1..3".into(),
        "--grid".into(),
        "topology.senders=4,8".into(),
        "--set".into(),
        AWKWARD.into(),
        "--set".into(),
        "output.monitor_links=[\"receiver\"]".into(),
        "--out".into(),
        out.display().to_string(),
    ]
}

#[test]
fn listed_lines_run_in_bash_and_merge_to_the_local_sweeps_bytes() {
    let d = tmp("list");
    let (listed, local) = (d.join("listed"), d.join("local"));
    let (ok, stdout, text) = run(bin()
        .args(sweep_args(&scen("incast.toml"), &listed))
        .arg("--list"));
    assert!(ok, "{text}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(!listed.exists(), "--list writes nothing");
    // Each line as a user pastes it into bash, `testbed` being the binary.
    for line in &lines {
        assert!(line.starts_with("testbed run "), "{line}");
        let script = format!("testbed() {{ \"$TESTBED\" \"$@\"; }}\ncd /\n{line}\n",);
        let (ok, _, text) = run(Command::new("bash")
            .arg("-c")
            .arg(&script)
            .env("TESTBED", env!("CARGO_BIN_EXE_testbed")));
        assert!(ok, "bash ran `{line}`: {text}");
    }
    let toml =
        std::fs::read_to_string(listed.join("topology.senders=8/seed-2/scenario.toml")).unwrap();
    let parsed: toml::Table = toml::from_str(&toml).unwrap();
    assert_eq!(
        parsed["description"].as_str(),
        Some("it's [a] test; $HOME `x` * \\ done"),
        "the value survived the shell verbatim"
    );
    // The job-array workflow: merge what the listed lines made.
    let (ok, _, text) = run(bin()
        .args(sweep_args(&scen("incast.toml"), &listed))
        .arg("--merge"));
    assert!(ok, "{text}");
    assert!(text.contains("4 runs merged"), "{text}");
    // A local sweep of the same arguments gives the same bytes.
    let (ok, _, text) = run(bin().args(sweep_args(&scen("incast.toml"), &local)));
    assert!(ok, "{text}");
    assert_same_results(&listed, &local);
    let merged = std::fs::read_to_string(local.join("sweep.csv")).unwrap();
    assert!(
        merged.contains("\ntopology.senders=4/seed-1,"),
        "`run` is relative to the sweep directory: {merged}"
    );
    // plan.txt holds the listed lines.
    assert_eq!(
        std::fs::read_to_string(listed.join("plan.txt")).unwrap(),
        stdout
    );
}

#[test]
fn merge_refuses_missing_stale_and_foreign_runs() {
    let d = tmp("merge");
    let out = d.join("s");
    let args = |grid: &str| {
        vec![
            "sweep".to_string(),
            scen("incast.toml").display().to_string(),
            "--seeds".into(),
            "1,2".into(),
            "--grid".into(),
            grid.into(),
            "--out".into(),
            out.display().to_string(),
        ]
    };
    let (ok, _, text) = run(bin().args(args("topology.senders=4,8")));
    assert!(ok, "{text}");
    // Runs of another grid in the directory: not merged, refused.
    let (ok, _, text) = run(bin().args(args("topology.senders=4")).arg("--merge"));
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!("--out {}", out.display()))
            && text.contains("holds results of runs that are not in this sweep")
            && text.contains("2 of them"),
        "{text}"
    );
    // A run whose scenario is not the one its command describes (stale results).
    let stale = out.join("topology.senders=4/seed-2/scenario.toml");
    let t = std::fs::read_to_string(&stale).unwrap();
    std::fs::write(&stale, t.replace("senders = 4", "senders = 5")).unwrap();
    // A run not made yet.
    std::fs::remove_dir_all(out.join("topology.senders=8/seed-1")).unwrap();
    let (ok, _, text) = run(bin().args(args("topology.senders=4,8")).arg("--merge"));
    assert!(!ok, "{text}");
    assert!(text.contains("2 of 4 runs failed"), "{text}");
    let merged = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    assert!(
        merged.contains("not the effective scenario of this run")
            && merged.contains("no results in")
            && merged.contains("testbed run "),
        "error rows say what is wrong and how to make the run: {merged}"
    );
}

#[test]
fn a_non_empty_out_is_refused_unless_overwrite_which_clears_only_the_sweeps_own() {
    let d = tmp("overwrite");
    let out = d.join("s");
    let args = |grid: &str| {
        vec![
            "sweep".to_string(),
            scen("incast.toml").display().to_string(),
            "--grid".into(),
            grid.into(),
            "--out".into(),
            out.display().to_string(),
        ]
    };
    let (ok, _, text) = run(bin().args(args("topology.senders=4,8")));
    assert!(ok, "{text}");
    let (ok, _, text) = run(bin().args(args("topology.senders=4,16")));
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!("--out {}", out.display()))
            && text.contains("not empty")
            && text.contains("--overwrite"),
        "{text}"
    );
    std::fs::write(out.join("notes.md"), "mine").unwrap();
    std::fs::write(out.join("incast_tail.png"), "an old figure").unwrap();
    let (ok, _, text) = run(bin().args(args("topology.senders=4,16")).arg("--overwrite"));
    assert!(ok, "{text}");
    assert!(
        !out.join("topology.senders=8").exists(),
        "the earlier sweep's runs are gone"
    );
    assert!(
        !out.join("incast_tail.png").exists(),
        "stale sweep figures too"
    );
    assert!(out.join("topology.senders=16/seed-1/summary.csv").is_file());
    assert_eq!(
        std::fs::read_to_string(out.join("notes.md")).unwrap(),
        "mine",
        "what the sweep does not own stays"
    );
    let merged = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    assert!(!merged.contains("senders=8"), "{merged}");
    // Results no plan lists (copied in by hand): refused, even with --overwrite.
    let foreign = out.join("other/seed-1");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("summary.csv"), "key,value\n").unwrap();
    let (ok, _, text) = run(bin().args(args("topology.senders=4")).arg("--overwrite"));
    assert!(!ok, "{text}");
    assert!(
        text.contains("no plan of a sweep there lists") && text.contains("other/seed-1"),
        "{text}"
    );
    assert!(foreign.join("summary.csv").is_file());
}

#[test]
fn user_errors_name_the_flag() {
    let d = tmp("errors");
    let base = |extra: &[&str]| {
        let mut c = bin();
        c.arg("sweep")
            .arg(scen("incast.toml"))
            .args(extra)
            .arg("--out")
            .arg(d.join("s"));
        c
    };
    for (extra, expect) in [
        (
            &[
                "--grid",
                "topology.senders=4,8",
                "--grid",
                "topology.senders=16",
            ][..],
            &[
                "--grid topology.senders=16",
                "the key `topology.senders` is already a grid axis",
            ][..],
        ),
        (
            &[
                "--set",
                "topology.senders=4",
                "--grid",
                "topology.senders=8,16",
            ],
            &[
                "--grid topology.senders=8,16",
                "also fixed by --set topology.senders=4",
            ],
        ),
        (&["--grid", "seed=1,2"], &["--grid seed=1,2", "--seeds"]),
        (&["--jobs", "0"], &["--jobs 0", "expected at least 1"]),
        (
            &["--sbatch-arg=--partition=x"],
            &["--sbatch-arg", "--slurm"],
        ),
        (&["--list", "--merge"], &["--list", "--merge"]),
    ] {
        let (ok, _, text) = run(&mut base(extra));
        assert!(!ok, "{extra:?}: {text}");
        for e in expect {
            assert!(text.contains(e), "{extra:?}: expected `{e}` in: {text}");
        }
    }
}

/// A `sweep.csv` of an incast grid over senders × another axis, two seeds each: the figure has
/// one line per value of the other axis, each the mean over that grid point's seeds only.
#[test]
fn sweep_figures_group_by_every_grid_axis() {
    let d = tmp("figures");
    let mut csv = String::from("run,params,seed,key,value\n");
    for (rto, base_ms) in [("1000.0", 1.0), ("5000.0", 10.0)] {
        for n in [4u64, 8] {
            for seed in [1u64, 2] {
                let run = format!("r{rto}-{n}-{seed}");
                let params = format!(
                    "output.sample_interval_ms=0;topology.senders={n};transport.min_rto_us={rto}"
                );
                let span = (base_ms + n as f64 + seed as f64) * 1e-3;
                csv.push_str(&format!("{run},{params},{seed},completion_span_s,{span}\n"));
                csv.push_str(&format!(
                    "{run},{params},{seed},ideal_s/receiver,{}\n",
                    n as f64 * 1e-4
                ));
            }
        }
    }
    std::fs::write(d.join("sweep.csv"), csv).unwrap();
    let plots = scenarios::figures::incast_tail_plots(&d.join("sweep.csv")).unwrap();
    assert_eq!(plots.len(), 1);
    let (stem, p) = &plots[0];
    assert_eq!(stem, "incast_tail");
    let series: BTreeMap<&str, &Vec<(f64, f64)>> =
        p.series.iter().map(|(l, v)| (l.as_str(), v)).collect();
    let close = |a: &[(f64, f64)], b: &[(f64, f64)]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x.0 - y.0).abs() < 1e-9 && (x.1 - y.1).abs() < 1e-9)
    };
    // Mean over seeds 1 and 2 adds 1.5 ms.
    let low = series["tail, transport.min_rto_us=1000.0 (mean over seeds)"];
    assert!(close(low, &[(4.0, 6.5), (8.0, 10.5)]), "{low:?}");
    let high = series["tail, transport.min_rto_us=5000.0 (mean over seeds)"];
    assert!(close(high, &[(4.0, 15.5), (8.0, 19.5)]), "{high:?}");
    let ideal = series["ideal: total bytes / bottleneck rate"];
    assert!(close(ideal, &[(4.0, 0.4), (8.0, 0.8)]), "{ideal:?}");
    assert_eq!(p.series.len(), 3, "the fixed key is no axis");
}

/// The `scenario.toml` written with a run re-runs it as is, from anywhere.
#[test]
fn a_runs_scenario_toml_reruns_it() {
    let d = tmp("rerun");
    let out = d.join("s");
    let (ok, _, text) = run(bin()
        .arg("sweep")
        .arg(scen("incast.toml"))
        .args(["--seeds", "7", "--grid", "topology.senders=6", "--out"])
        .arg(&out));
    assert!(ok, "{text}");
    let first = out.join("topology.senders=6/seed-7");
    let again = d.join("again");
    let (ok, _, text) = run(bin()
        .arg("run")
        .arg(first.join("scenario.toml"))
        .arg("--out")
        .arg(&again)
        .current_dir("/"));
    assert!(ok, "{text}");
    for f in ["flows.csv", "summary.csv", "ports.csv", "timeseries.csv"] {
        assert!(
            std::fs::read(first.join(f)).unwrap() == std::fs::read(again.join(f)).unwrap(),
            "{f} differs"
        );
    }
}

/// What a re-runnable `scenario.toml` can be: the loaded scenario serialized (defaults explicit,
/// data paths resolved) parses back to the same scenario from any directory.
#[test]
fn every_shipped_scenario_round_trips_through_its_resolved_form() {
    for s in [
        "dumbbell.toml",
        "incast.toml",
        "cell.toml",
        "websearch.toml",
        "pacer.toml",
    ] {
        let path = std::path::absolute(scen(s)).unwrap();
        let loaded = scenarios::config::load(&path, &["seed=9".into()]).unwrap();
        let text = toml::to_string(&loaded.scenario).unwrap();
        let again =
            scenarios::config::parse(&text, "resolved.toml", Path::new("/nonexistent"), &[])
                .unwrap_or_else(|e| panic!("{s}: {e}\n{text}"));
        assert_eq!(again.scenario, loaded.scenario, "{s}:\n{text}");
    }
}

/// A run's `scenario.toml` re-runs it from anywhere even when the scenario reads data files
/// (a trace here): `config::parse` writes the resolved scenario (defaults explicit, absolute
/// data paths) as the effective TOML, not the file's text, whose relative `path` would resolve
/// against the results directory.
#[test]
fn a_runs_scenario_toml_with_data_files_reruns_it() {
    let d = tmp("rerun-data");
    let out = d.join("s");
    let (ok, _, text) = run(bin()
        .arg("sweep")
        .arg(scen("cell.toml"))
        .args(["--set", "duration_s=0.5", "--out"])
        .arg(&out));
    assert!(ok, "{text}");
    let first = out.join("base/seed-1");
    let again = d.join("again");
    let (ok, _, text) = run(bin()
        .arg("run")
        .arg(first.join("scenario.toml"))
        .arg("--out")
        .arg(&again)
        .current_dir("/"));
    assert!(ok, "{text}");
    for f in ["flows.csv", "summary.csv", "scenario.toml"] {
        assert!(
            std::fs::read(first.join(f)).unwrap() == std::fs::read(again.join(f)).unwrap(),
            "{f} differs"
        );
    }
}
