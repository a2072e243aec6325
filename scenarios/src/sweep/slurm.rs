//! A sweep as Slurm job arrays: one array task per run. The sweep directory gets the plan
//! ([`super::PLAN_FILE`], one quoted `testbed run` command per line) and a batch script
//! ([`SCRIPT_FILE`]) whose task `i` runs line `i + 1` with `eval`, `testbed` standing for this
//! binary (or `$TESTBED_BIN` on the nodes); `sbatch --wait` submits the arrays (several when the
//! sweep has more runs than the cluster's `MaxArraySize`) and waits, then the runs' results are
//! merged from their directories exactly as `sweep --merge` does. A task is its plan line, so a
//! run on the cluster writes the same bytes as the same run on a laptop.
//!
//! The nodes must see the binary, the scenario (and its data files) and the sweep directory at
//! the same absolute paths: a shared filesystem, as usual for Slurm.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{Plan, RunOutcome, SweepError};

/// The batch script in a sweep directory.
pub const SCRIPT_FILE: &str = "slurm.sh";
/// The directory of task logs in a sweep directory: `run-<i>.log` per run (its `testbed run`
/// output), `job-<array>_<task>.log` per task (anything before that).
pub const LOG_DIR: &str = "slurm";

/// How to submit.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// At most this many tasks of an array at once (`--array=...%N`).
    pub throttle: Option<usize>,
    /// Extra `sbatch` arguments (partition, account, time limit...).
    pub sbatch_args: Vec<String>,
    /// The `testbed` binary the tasks run.
    pub binary: PathBuf,
}

fn q(s: &str) -> String {
    // Quoting fails only on a NUL byte, which no path can hold.
    shlex::try_quote(s).map_or_else(|_| s.to_owned(), |c| c.into_owned())
}

/// The batch script: task `$SLURM_ARRAY_TASK_ID`, plus the offset given as its first argument,
/// runs that line of the plan.
pub fn script(plan: &Plan, binary: &Path) -> String {
    let plan_file = plan.out.join(super::PLAN_FILE);
    let logs = plan.out.join(LOG_DIR);
    format!(
        r#"#!/bin/bash
# Written by `testbed sweep --slurm`. Array task $SLURM_ARRAY_TASK_ID, plus the offset given as
# the first argument, is run i: line i + 1 of the plan, one `testbed run` command, `testbed`
# being the binary below (or $TESTBED_BIN). Its output goes to {logs_disp}/run-<i>.log.
set -euo pipefail
plan={plan_q}
logs={logs_q}
testbed_bin=${{TESTBED_BIN:-{bin_q}}}
testbed() {{ "$testbed_bin" "$@"; }}
i=$(( ${{1:-0}} + SLURM_ARRAY_TASK_ID ))
line=$(sed -n "$(( i + 1 ))p" "$plan")
if [ -z "$line" ]; then
  echo "$plan has no line $(( i + 1 ))" >&2
  exit 3
fi
exec >"$logs/run-$i.log" 2>&1
eval "$line"
"#,
        logs_disp = logs.display(),
        plan_q = q(&plan_file.to_string_lossy()),
        logs_q = q(&logs.to_string_lossy()),
        bin_q = q(&binary.to_string_lossy()),
    )
}

/// The cluster's `MaxArraySize` (array indices run below it), from `scontrol show config`;
/// Slurm's default, 1001, when that cannot be read.
pub fn max_array_size() -> usize {
    let out = Command::new("scontrol")
        .args(["show", "config"])
        .stderr(Stdio::null())
        .output();
    out.ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout).lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == "MaxArraySize")
                    .then(|| v.trim().parse::<usize>().ok())
                    .flatten()
            })
        })
        .filter(|&n| n > 0)
        .unwrap_or(1001)
}

/// Why run `i` failed, from its task log: the last `error:` line `testbed run` printed.
pub fn task_failure(plan: &Plan, i: usize) -> Option<String> {
    let log = plan.out.join(LOG_DIR).join(format!("run-{i}.log"));
    let text = match std::fs::read_to_string(&log) {
        Ok(t) => t,
        Err(_) => {
            return Some(format!(
                "Slurm task of run {i} left no {} (see the job logs in {})",
                log.display(),
                plan.out.join(LOG_DIR).display()
            ))
        }
    };
    let msg = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("no results; see {}", log.display()));
    Some(msg)
}

/// Submits the plan's runs as job arrays, waits for them (`sbatch --wait`), and merges their
/// results in plan order. `say` reports progress (job ids). The plan must be written and its
/// directory prepared.
pub fn run(plan: &Plan, opts: &Options, say: &dyn Fn(&str)) -> Result<Vec<RunOutcome>, SweepError> {
    let out_s = plan.out.to_string_lossy();
    if out_s.contains('%') {
        return Err(SweepError::Slurm(format!(
            "--out {out_s}: expected a path without `%` (sbatch reads it as a file-name pattern)"
        )));
    }
    let logs = plan.out.join(LOG_DIR);
    let script_path = plan.out.join(SCRIPT_FILE);
    let werr = |p: &Path, e: std::io::Error| SweepError::Output {
        path: p.display().to_string(),
        msg: e.to_string(),
    };
    std::fs::create_dir_all(&logs).map_err(|e| werr(&logs, e))?;
    std::fs::write(&script_path, script(plan, &opts.binary)).map_err(|e| werr(&script_path, e))?;

    let n = plan.runs.len();
    let chunk = max_array_size();
    let mut children: Vec<(usize, usize, Child)> = Vec::new();
    let mut offset = 0;
    while offset < n {
        let len = chunk.min(n - offset);
        let mut array = format!("0-{}", len - 1);
        if let Some(t) = opts.throttle {
            array.push_str(&format!("%{t}"));
        }
        let mut cmd = Command::new("sbatch");
        cmd.arg("--wait")
            .arg("--parsable")
            .arg("--job-name=testbed-sweep")
            .arg(format!("--array={array}"))
            .arg(format!("--chdir={out_s}"))
            .arg(format!("--output={}/job-%A_%a.log", logs.display()))
            .args(&opts.sbatch_args)
            .arg(&script_path)
            .arg(offset.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = cmd.spawn().map_err(|e| {
            SweepError::Slurm(format!(
                "cannot run sbatch: {e}; expected Slurm's client commands on PATH"
            ))
        })?;
        children.push((offset, len, child));
        offset += len;
    }
    // sbatch --parsable prints the job id as soon as the array is submitted, then waits.
    let mut ids = Vec::new();
    for (offset, len, child) in &mut children {
        let mut id = String::new();
        if let Some(so) = child.stdout.as_mut() {
            let _ = std::io::BufReader::new(so).read_line(&mut id);
        }
        let id = id.trim().to_owned();
        if !id.is_empty() {
            say(&format!(
                "submitted Slurm job array {id}: runs {}..={} of {n}; waiting",
                *offset,
                *offset + *len - 1
            ));
        }
        ids.push(id);
    }
    let mut submit_errors = Vec::new();
    for ((offset, _, child), id) in children.into_iter().zip(ids) {
        let o = child
            .wait_with_output()
            .map_err(|e| SweepError::Slurm(format!("waiting for sbatch: {e}")))?;
        // A submitted array whose tasks failed exits non-zero too: its runs' logs tell why.
        // Only an array that never got a job id is a submission error.
        if !o.status.success() && id.is_empty() {
            submit_errors.push(format!(
                "sbatch (runs from {offset}) {}: {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
    }
    if let Some(first) = submit_errors.first() {
        return Err(SweepError::Slurm(first.clone()));
    }
    plan.collect(&|i| {
        logs.join(format!("run-{i}.log"))
            .exists()
            .then(|| task_failure(plan, i))
            .flatten()
    })
}
