//! `sweep --slurm` against a real one-node Slurm: the same sweep run locally and as a Slurm job
//! array gives the same `sweep.csv` and per-run files, byte for byte.
//!
//! Runs when Slurm answers (`scontrol ping`, with `$SLURM_CONF` as set), and must run when
//! `TESTBED_SLURM=1`: then an unreachable Slurm fails the test. `.ci/run` starts a private
//! Slurm with `scripts/slurm-up.sh`, sources its `env` (SLURM_CONF, TESTBED_SLURM=1) and stops
//! it with `scripts/slurm-down.sh`; by hand:
//!
//! ```sh
//! scripts/slurm-up.sh && . /tmp/testbed-slurm/env
//! cargo test -p scenarios --release --test it sweep_slurm
//! scripts/slurm-down.sh
//! ```

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::sweep::{assert_same_results, bin, run, scen, tmp};

/// Whether Slurm's controller answers; the reason when it does not.
fn slurm_reachable() -> Result<(), String> {
    // Without a configuration file, scontrol retries for a minute before it gives up.
    let conf = std::env::var_os("SLURM_CONF").map_or_else(
        || std::path::PathBuf::from("/etc/slurm/slurm.conf"),
        std::path::PathBuf::from,
    );
    if !conf.is_file() {
        return Err(format!("no Slurm configuration at {}", conf.display()));
    }
    let mut child = Command::new("scontrol")
        .arg("ping")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run scontrol: {e}"))?;
    let t0 = Instant::now();
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if t0.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            return Err("scontrol ping did not answer within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().map_err(|e| e.to_string())?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    if o.status.success() && text.contains("is UP") {
        Ok(())
    } else {
        Err(format!("scontrol ping: {}", text.trim()))
    }
}

#[test]
fn slurm_sweep_matches_a_local_sweep_byte_for_byte() {
    let required = std::env::var("TESTBED_SLURM").is_ok_and(|v| v == "1");
    if let Err(why) = slurm_reachable() {
        assert!(
            !required,
            "TESTBED_SLURM=1 but Slurm is not reachable ({why}; SLURM_CONF={:?}): start it with \
             scripts/slurm-up.sh and source /tmp/testbed-slurm/env",
            std::env::var("SLURM_CONF").ok()
        );
        eprintln!("sweep_slurm: skipped, no Slurm ({why}); TESTBED_SLURM=1 makes this an error");
        return;
    }
    let d = tmp("slurm");
    let (local, slurm) = (d.join("local"), d.join("slurm"));
    let args = |out: &std::path::Path| {
        vec![
            "sweep".to_string(),
            scen("incast.toml").display().to_string(),
            "--seeds".into(),
            "1..4".into(),
            "--grid".into(),
            "topology.senders=4,12".into(),
            "--set".into(),
            "description=\"it's [a] test; $HOME\"".into(),
            "--out".into(),
            out.display().to_string(),
        ]
    };
    let (ok, _, text) = run(bin().args(args(&local)));
    assert!(ok, "{text}");
    let t0 = Instant::now();
    let (ok, _, text) = run(bin().args(args(&slurm)).arg("--slurm"));
    let took = t0.elapsed();
    assert!(ok, "{text}");
    assert!(
        text.contains("submitted Slurm job array") && text.contains("6 runs as a Slurm job array"),
        "{text}"
    );
    assert!(slurm.join("slurm/run-5.log").is_file(), "one log per task");
    assert_same_results(&local, &slurm);
    eprintln!(
        "sweep_slurm: 6 runs through Slurm in {:.1} s",
        took.as_secs_f64()
    );
}
