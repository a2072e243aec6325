//! Sweeps: a parameter grid crossed with seeds, expanded into a list of independent runs (each
//! fully described by its scenario file, overrides and seed, so that a cluster job array can run
//! them one by one), run in parallel on all cores or as a Slurm job array ([`slurm`]), and merged
//! into one `sweep.csv`.
//!
//! A sweep directory (`--out`) holds, and the sweep owns:
//! - one results directory per run, `<grid point>/seed-<N>/` (`base/seed-<N>` without a grid);
//! - [`PLAN_FILE`] (`plan.txt`): one shell-quoted `testbed run` command per run, the lines
//!   `sweep --list` prints; it is the sweep's manifest (what `--overwrite` may remove later);
//! - [`MERGED_FILE`] (`sweep.csv`): `run,params,seed,key,value`, every run's summary rows in plan
//!   order, `run` relative to the sweep directory (so that a sweep merged elsewhere, from the same
//!   runs, has the same bytes);
//! - with `--slurm`, [`slurm::SCRIPT_FILE`] and the task logs in [`slurm::LOG_DIR`];
//! - the sweep figures `testbed figures` draws from `sweep.csv`.
//!
//! A sweep refuses a non-empty directory unless told to overwrite; then it removes only what it
//! owns (the above, and the runs an earlier `plan.txt` lists) and still refuses if run results it
//! does not own remain, so stale runs are never merged or plotted.

pub mod slurm;

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::config::{load, Loaded, ScenarioError};
use crate::runner::{run, RunError};

/// The summary rows of one run, or its error message.
pub type RunOutcome = Result<Vec<(String, String)>, String>;

/// The plan of a sweep in its directory: one quoted `testbed run` command per line.
pub const PLAN_FILE: &str = "plan.txt";
/// The merged results of a sweep in its directory.
pub const MERGED_FILE: &str = "sweep.csv";

/// One independent run of a sweep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSpec {
    /// `key=value` overrides of this run (the sweep's `--set` ones, then its grid point's),
    /// without the seed.
    pub params: Vec<String>,
    /// The seed.
    pub seed: u64,
    /// Where its results go.
    pub out_dir: PathBuf,
    /// `out_dir` relative to the sweep directory.
    pub rel_dir: PathBuf,
}

impl RunSpec {
    /// The overrides that describe this run completely: its params, then `seed=N`.
    pub fn overrides(&self) -> Vec<String> {
        let mut ov = self.params.clone();
        ov.push(format!("seed={}", self.seed));
        ov
    }

    /// The command line that reproduces this run alone, every word shell-quoted (POSIX shells:
    /// the line can be pasted into bash, or run with `eval`).
    pub fn command(&self, scenario: &Path) -> String {
        let scenario = scenario.to_string_lossy();
        let out = self.out_dir.to_string_lossy();
        let seed = self.seed.to_string();
        let mut words: Vec<&str> = vec![
            "testbed",
            "run",
            scenario.as_ref(),
            "--seed",
            &seed,
            "--out",
            out.as_ref(),
        ];
        for p in &self.params {
            words.push("--set");
            words.push(p);
        }
        words
            .iter()
            .map(|w| {
                // Quoting fails only on a NUL byte, which no argument or path can hold.
                shlex::try_quote(w).map_or_else(|_| (*w).to_owned(), |q| q.into_owned())
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Errors of a sweep.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SweepError {
    /// A command-line argument is malformed (`arg` names the flag and its value).
    #[error("{arg}: {msg}")]
    Arg {
        /// The argument.
        arg: String,
        /// What was expected.
        msg: String,
    },
    /// The scenario is invalid.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// One or more runs failed.
    #[error("{failed} of {total} runs failed; first: {first}")]
    Runs {
        /// Failed runs.
        failed: usize,
        /// All runs.
        total: usize,
        /// The first failure.
        first: String,
    },
    /// Writing the merged results failed.
    #[error("writing {path}: {msg}")]
    Output {
        /// The file.
        path: String,
        /// The cause.
        msg: String,
    },
    /// Submitting to Slurm or waiting for it failed.
    #[error("--slurm: {0}")]
    Slurm(String),
}

/// The most runs one sweep may expand to.
pub const MAX_RUNS: usize = 1_000_000;

/// Parses `--seeds`: `N`, `A..B` (B exclusive), `A..=B`, or `A,B,C`.
pub fn parse_seeds(s: &str) -> Result<Vec<u64>, SweepError> {
    let err = || SweepError::Arg {
        arg: format!("--seeds {s}"),
        msg: "expected N, A..B, A..=B or A,B,C".into(),
    };
    // Seeds end up as TOML integers (i64) in each run's scenario.toml.
    let num = |x: &str| {
        let v = x.trim().parse::<u64>().map_err(|_| err())?;
        if v > i64::MAX as u64 {
            return Err(SweepError::Arg {
                arg: format!("--seeds {s}"),
                msg: format!("expected seeds in 0..={}", i64::MAX),
            });
        }
        Ok(v)
    };
    let range = |a: u64, b_excl: u64| {
        if b_excl <= a || b_excl - a > MAX_RUNS as u64 {
            Err(SweepError::Arg {
                arg: format!("--seeds {s}"),
                msg: format!("expected 1..={MAX_RUNS} seeds"),
            })
        } else {
            Ok((a..b_excl).collect::<Vec<u64>>())
        }
    };
    let v: Vec<u64> = if let Some((a, b)) = s.split_once("..=") {
        range(num(a)?, num(b)?.checked_add(1).ok_or_else(err)?)?
    } else if let Some((a, b)) = s.split_once("..") {
        range(num(a)?, num(b)?)?
    } else {
        s.split(',').map(num).collect::<Result<_, _>>()?
    };
    let mut sorted = v.clone();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(SweepError::Arg {
            arg: format!("--seeds {s}"),
            msg: "expected distinct seeds".into(),
        });
    }
    if v.is_empty() || v.len() > MAX_RUNS {
        return Err(err());
    }
    Ok(v)
}

/// Refuses what cannot be written as one line of a plan: line breaks (and NUL).
fn check_one_line(flag: &str, arg: &str) -> Result<(), SweepError> {
    if arg.contains(['\n', '\r', '\0']) {
        return Err(SweepError::Arg {
            arg: format!("{flag} {}", arg.escape_debug()),
            msg: "expected a value without line breaks (each run is one command line)".into(),
        });
    }
    Ok(())
}

/// Expands fixed `--set` overrides, `key=v1,v2,...` grid axes and seeds into runs under `out`.
///
/// Every run gets the `set` overrides first, then its grid point's. A key may appear on one
/// grid axis only, and not both in `set` and on an axis; `seed` comes from `seeds` alone.
pub fn expand(
    set: &[String],
    grid: &[String],
    seeds: &[u64],
    out: &Path,
) -> Result<Vec<RunSpec>, SweepError> {
    let key_of = |a: &str| a.split_once('=').map(|(k, _)| k.trim().to_owned());
    for s in set {
        check_one_line("--set", s)?;
        if key_of(s).as_deref() == Some("seed") {
            return Err(SweepError::Arg {
                arg: format!("--set {s}"),
                msg: "a sweep's seeds come from --seeds: expected no `seed` override".into(),
            });
        }
    }
    let mut axes: Vec<(String, Vec<String>)> = Vec::new();
    for (gi, g) in grid.iter().enumerate() {
        check_one_line("--grid", g)?;
        let (k, vs) = g.split_once('=').ok_or_else(|| SweepError::Arg {
            arg: format!("--grid {g}"),
            msg: "expected key=v1,v2,...".into(),
        })?;
        let k = k.trim();
        let vals: Vec<String> = vs
            .split(',')
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect();
        if k.is_empty() || vals.is_empty() {
            return Err(SweepError::Arg {
                arg: format!("--grid {g}"),
                msg: "expected key=v1,v2,...".into(),
            });
        }
        if k == "seed" {
            return Err(SweepError::Arg {
                arg: format!("--grid {g}"),
                msg: "a sweep's seeds come from --seeds: expected a key other than `seed`".into(),
            });
        }
        if let Some(prev) = grid[..gi].iter().find(|p| key_of(p).as_deref() == Some(k)) {
            return Err(SweepError::Arg {
                arg: format!("--grid {g}"),
                msg: format!(
                    "the key `{k}` is already a grid axis (--grid {prev}): expected each key on \
                     one axis, with all its values there"
                ),
            });
        }
        if let Some(s) = set.iter().find(|s| key_of(s).as_deref() == Some(k)) {
            return Err(SweepError::Arg {
                arg: format!("--grid {g}"),
                msg: format!(
                    "the key `{k}` is also fixed by --set {s}: expected it either fixed or on a \
                     grid axis"
                ),
            });
        }
        axes.push((k.to_owned(), vals));
    }
    let mut points: Vec<Vec<String>> = vec![Vec::new()];
    for (k, vals) in &axes {
        let mut next = Vec::new();
        for p in &points {
            for v in vals {
                let mut q = p.clone();
                q.push(format!("{k}={v}"));
                next.push(q);
            }
        }
        points = next;
    }
    if points.len().saturating_mul(seeds.len()) > MAX_RUNS {
        return Err(SweepError::Arg {
            arg: "--grid".into(),
            msg: format!("the grid expands to more than {MAX_RUNS} runs"),
        });
    }
    let mut runs = Vec::new();
    let mut names = BTreeSet::new();
    for p in &points {
        let name: String = if p.is_empty() {
            "base".into()
        } else {
            p.join(",")
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "=.,-_".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        if !names.insert(name.clone()) {
            return Err(SweepError::Arg {
                arg: "--grid".into(),
                msg: format!("two grid points share the results directory `{name}`: expected distinct values"),
            });
        }
        for &seed in seeds {
            let rel_dir = Path::new(&name).join(format!("seed-{seed}"));
            runs.push(RunSpec {
                params: set.iter().chain(p).cloned().collect(),
                seed,
                out_dir: out.join(&rel_dir),
                rel_dir,
            });
        }
    }
    Ok(runs)
}

/// A sweep, ready to run: its scenario file, directory and runs, all paths absolute.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The scenario file (absolute).
    pub scenario: PathBuf,
    /// The sweep directory (absolute).
    pub out: PathBuf,
    /// The runs, in plan order.
    pub runs: Vec<RunSpec>,
}

/// `p` made absolute (against the current directory) with `.` and `..` removed lexically.
fn absolute(flag: &str, p: &Path) -> Result<PathBuf, SweepError> {
    let abs = std::path::absolute(p).map_err(|e| SweepError::Arg {
        arg: format!("{flag} {}", p.display()),
        msg: format!("cannot make the path absolute: {e}"),
    })?;
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.to_str().is_none() {
        return Err(SweepError::Arg {
            arg: format!("{flag} {}", p.display()),
            msg: "expected a UTF-8 path (it is written into command lines)".into(),
        });
    }
    Ok(out)
}

impl Plan {
    /// Expands a sweep (see [`expand`]); `scenario` and `out` are made absolute so that every
    /// command of the plan runs from any directory.
    pub fn new(
        scenario: &Path,
        set: &[String],
        grid: &[String],
        seeds: &[u64],
        out: &Path,
    ) -> Result<Plan, SweepError> {
        let scenario = absolute("scenario", scenario)?;
        let out = absolute("--out", out)?;
        let runs = expand(set, grid, seeds, &out)?;
        Ok(Plan {
            scenario,
            out,
            runs,
        })
    }

    /// Loads one run's scenario (its overrides and seed applied).
    pub fn load(&self, run: &RunSpec) -> Result<Loaded, ScenarioError> {
        load(&self.scenario, &run.overrides())
    }

    /// The text of [`PLAN_FILE`]: one quoted `testbed run` command per line, in plan order.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for r in &self.runs {
            s.push_str(&r.command(&self.scenario));
            s.push('\n');
        }
        s
    }

    /// Writes [`PLAN_FILE`] into the sweep directory.
    pub fn write(&self) -> Result<(), SweepError> {
        let path = self.out.join(PLAN_FILE);
        std::fs::create_dir_all(&self.out)
            .and_then(|()| std::fs::write(&path, self.text()))
            .map_err(|e| SweepError::Output {
                path: path.display().to_string(),
                msg: e.to_string(),
            })
    }

    fn out_arg(&self) -> String {
        format!("--out {}", self.out.display())
    }

    /// Makes the sweep directory ready for this sweep's runs: creates it, or accepts it empty;
    /// a non-empty one is refused unless `overwrite`, and then only what a sweep owns is
    /// removed (see the module docs). Refuses if results of runs it does not own remain.
    pub fn prepare(&self, overwrite: bool) -> Result<(), SweepError> {
        let entries: Vec<String> = match std::fs::read_dir(&self.out) {
            Ok(rd) => {
                let mut v: Vec<String> = rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                v.sort();
                v
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                return Err(SweepError::Arg {
                    arg: self.out_arg(),
                    msg: format!("expected a directory, or a path to create one at: {e}"),
                })
            }
        };
        if !entries.is_empty() {
            if !overwrite {
                let mut shown: Vec<&str> = entries.iter().take(3).map(String::as_str).collect();
                if entries.len() > 3 {
                    shown.push("...");
                }
                return Err(SweepError::Arg {
                    arg: self.out_arg(),
                    msg: format!(
                        "the directory is not empty (it holds {}): expected a new or empty \
                         directory, or --overwrite to replace an earlier sweep's results in it",
                        shown.join(", ")
                    ),
                });
            }
            self.clear()?;
        }
        std::fs::create_dir_all(&self.out).map_err(|e| SweepError::Arg {
            arg: self.out_arg(),
            msg: format!("cannot create the directory: {e}"),
        })
    }

    /// Removes what a sweep owns in the directory: this plan's run directories, those of the
    /// plan an earlier sweep left there, and the sweep's own files.
    fn clear(&self) -> Result<(), SweepError> {
        let mut dirs: BTreeSet<PathBuf> = self.runs.iter().map(|r| r.out_dir.clone()).collect();
        if let Ok(old) = std::fs::read_to_string(self.out.join(PLAN_FILE)) {
            dirs.extend(old.lines().filter_map(|l| self.owned_out_dir(l)));
        }
        let rm_err = |p: &Path, e: std::io::Error| SweepError::Output {
            path: p.display().to_string(),
            msg: format!("removing it (--overwrite): {e}"),
        };
        for d in &dirs {
            if d.is_dir() {
                std::fs::remove_dir_all(d).map_err(|e| rm_err(d, e))?;
            }
            // Grid-point directories left empty go too.
            let mut p = d.parent();
            while let Some(dir) = p.filter(|p| p.starts_with(&self.out) && *p != self.out) {
                if std::fs::remove_dir(dir).is_err() {
                    break;
                }
                p = dir.parent();
            }
        }
        let mut files: Vec<PathBuf> = [PLAN_FILE, MERGED_FILE, slurm::SCRIPT_FILE]
            .iter()
            .map(|f| self.out.join(f))
            .collect();
        if let Ok(rd) = std::fs::read_dir(&self.out) {
            files.extend(
                rd.filter_map(|e| e.ok())
                    .filter(|e| crate::figures::is_sweep_figure(&e.file_name().to_string_lossy()))
                    .map(|e| e.path()),
            );
        }
        for p in files {
            if p.is_file() {
                std::fs::remove_file(&p).map_err(|e| rm_err(&p, e))?;
            }
        }
        let logs = self.out.join(slurm::LOG_DIR);
        if logs.is_dir() {
            std::fs::remove_dir_all(&logs).map_err(|e| rm_err(&logs, e))?;
        }
        self.refuse_foreign_runs(
            "still holds run results that no plan of a sweep there lists",
            "remove them, or choose another --out",
        )
    }

    /// The `--out` directory of one plan line, if it lies strictly inside this sweep's directory.
    fn owned_out_dir(&self, line: &str) -> Option<PathBuf> {
        let words = shlex::split(line)?;
        let i = words.iter().position(|w| w == "--out")?;
        let d = PathBuf::from(words.get(i + 1)?);
        let clean = d.is_absolute()
            && d.components()
                .all(|c| matches!(c, Component::Normal(_) | Component::RootDir));
        (clean && d.starts_with(&self.out) && d != self.out).then_some(d)
    }

    /// Refuses if the directory holds run results (a `summary.csv`) outside this plan's runs.
    fn refuse_foreign_runs(&self, what: &str, expected: &str) -> Result<(), SweepError> {
        let mine: BTreeSet<&Path> = self.runs.iter().map(|r| r.out_dir.as_path()).collect();
        let foreign: Vec<PathBuf> = crate::figures::find_runs(&self.out)
            .into_iter()
            .filter(|d| !mine.contains(d.as_path()))
            .collect();
        if let Some(first) = foreign.first() {
            return Err(SweepError::Arg {
                arg: self.out_arg(),
                msg: format!(
                    "the directory {what}: {} of them, first {}; expected {expected}",
                    foreign.len(),
                    first.display()
                ),
            });
        }
        Ok(())
    }

    /// Reads the results of runs made elsewhere (a job array running the plan's commands) from
    /// their directories, in plan order. A run without results, or whose `scenario.toml` is not
    /// the effective scenario of its command (a run of another sweep), is an error outcome;
    /// `failure(i)` may explain a missing run (e.g. from its Slurm log). Refuses a directory
    /// that holds results of runs outside the plan.
    pub fn collect(
        &self,
        failure: &dyn Fn(usize) -> Option<String>,
    ) -> Result<Vec<RunOutcome>, SweepError> {
        self.refuse_foreign_runs(
            "holds results of runs that are not in this sweep",
            "a directory holding this sweep's runs only",
        )?;
        Ok(self
            .runs
            .iter()
            .enumerate()
            .map(|(i, r)| self.read_run(r).map_err(|e| failure(i).unwrap_or(e)))
            .collect())
    }

    fn read_run(&self, r: &RunSpec) -> RunOutcome {
        let dir = &r.out_dir;
        let summary = dir.join("summary.csv");
        if !summary.is_file() {
            return Err(format!(
                "no results in {} (not run yet, or failed): {}",
                dir.display(),
                r.command(&self.scenario)
            ));
        }
        let expected = self.load(r).map_err(|e| e.to_string())?;
        let toml_path = dir.join("scenario.toml");
        let written = std::fs::read_to_string(&toml_path)
            .map_err(|e| format!("{}: {e}", toml_path.display()))?;
        if !same_scenario(&written, &expected) {
            return Err(format!(
                "{}: not the effective scenario of this run (results of another sweep?); \
                 expected the results of: {}",
                toml_path.display(),
                r.command(&self.scenario)
            ));
        }
        let mut rd =
            csv::Reader::from_path(&summary).map_err(|e| format!("{}: {e}", summary.display()))?;
        rd.records()
            .map(|rec| {
                let rec = rec.map_err(|e| format!("{}: {e}", summary.display()))?;
                match (rec.get(0), rec.get(1), rec.len()) {
                    (Some(k), Some(v), 2) => Ok((k.to_owned(), v.to_owned())),
                    _ => Err(format!("{}: expected key,value rows", summary.display())),
                }
            })
            .collect()
    }
}

/// Whether a run's written `scenario.toml` is `expected`'s effective scenario (compared as TOML
/// values: comments and layout aside).
fn same_scenario(written: &str, expected: &Loaded) -> bool {
    let Ok(w) = toml::from_str::<toml::Table>(written) else {
        return false;
    };
    let w = toml::Value::Table(w);
    let effective = toml::from_str::<toml::Table>(&expected.effective_toml)
        .ok()
        .map(toml::Value::Table);
    let resolved = toml::Value::try_from(&expected.scenario).ok();
    effective.as_ref() == Some(&w) || resolved.as_ref() == Some(&w)
}

/// Runs every run of the plan on `jobs` threads, calling `progress` after each; returns each
/// run's summary in plan order. Each run is exactly what its `testbed run` command does.
pub fn execute(plan: &Plan, jobs: usize, progress: &(dyn Fn(&RunSpec) + Sync)) -> Vec<RunOutcome> {
    let runs = &plan.runs;
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<RunOutcome>>> = Mutex::new(vec![None; runs.len()]);
    std::thread::scope(|sc| {
        for _ in 0..jobs.max(1).min(runs.len().max(1)) {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(spec) = runs.get(i) else { break };
                let r = plan
                    .load(spec)
                    .map_err(|e| e.to_string())
                    .and_then(|l| run(&l, Some(&spec.out_dir)).map_err(|e: RunError| e.to_string()))
                    .map(|res| res.summary);
                if let Ok(mut v) = results.lock() {
                    v[i] = Some(r);
                }
                progress(spec);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("not run".into())))
        .collect()
}

/// Writes the merged `sweep.csv` (`run,params,seed,key,value`) in plan order; `run` is each
/// run's directory relative to the sweep directory, `params` its overrides joined with `;`.
pub fn write_merged(
    path: &Path,
    runs: &[RunSpec],
    results: &[RunOutcome],
) -> Result<(), SweepError> {
    let oerr = |e: csv::Error| SweepError::Output {
        path: path.display().to_string(),
        msg: e.to_string(),
    };
    let mut w = csv::Writer::from_path(path).map_err(oerr)?;
    w.write_record(["run", "params", "seed", "key", "value"])
        .map_err(oerr)?;
    for (spec, res) in runs.iter().zip(results) {
        let run = spec.rel_dir.to_string_lossy();
        let params = spec.params.join(";");
        let seed = spec.seed.to_string();
        match res {
            Ok(rows) => {
                for (k, v) in rows {
                    w.write_record([run.as_ref(), &params, &seed, k, v])
                        .map_err(oerr)?;
                }
            }
            Err(e) => w
                .write_record([run.as_ref(), &params, &seed, "error", e])
                .map_err(oerr)?,
        }
    }
    w.flush().map_err(|e| SweepError::Output {
        path: path.display().to_string(),
        msg: e.to_string(),
    })
}

/// The error for failed runs among `results`, if any.
pub fn failures(results: &[RunOutcome]) -> Result<(), SweepError> {
    let failed: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    match failed.first() {
        None => Ok(()),
        Some(first) => Err(SweepError::Runs {
            failed: failed.len(),
            total: results.len(),
            first: (*first).clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `(arg, msg)` of a [`SweepError::Arg`]; panics on success or any other error.
    fn arg_error<T: std::fmt::Debug>(r: Result<T, SweepError>) -> (String, String) {
        match r {
            Err(SweepError::Arg { arg, msg }) => (arg, msg),
            other => panic!("expected SweepError::Arg, got {other:?}"),
        }
    }

    #[test]
    fn seeds_and_grid_expand_to_independent_runs() {
        assert_eq!(parse_seeds("3").unwrap(), vec![3]);
        assert_eq!(parse_seeds("1..4").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_seeds("1..=2").unwrap(), vec![1, 2]);
        assert_eq!(parse_seeds("5,7").unwrap(), vec![5, 7]);
        assert_eq!(
            arg_error(parse_seeds("x")),
            (
                "--seeds x".to_string(),
                "expected N, A..B, A..=B or A,B,C".to_string()
            )
        );
        assert_eq!(
            arg_error(parse_seeds("4..4")),
            (
                "--seeds 4..4".to_string(),
                format!("expected 1..={MAX_RUNS} seeds")
            )
        );
        assert_eq!(
            arg_error(parse_seeds("0..1000000000000")).1,
            format!("expected 1..={MAX_RUNS} seeds"),
            "huge ranges are refused before allocating"
        );
        assert_eq!(
            arg_error(parse_seeds("1,1")).1,
            "expected distinct seeds",
            "duplicate seeds would write one directory twice"
        );
        let (arg, msg) = arg_error(expand(&[], &["a=x/y,x_y".into()], &[1], Path::new("/o")));
        assert_eq!(arg, "--grid");
        assert!(
            msg.contains("two grid points share the results directory `a=x_y`"),
            "colliding directory names: {msg}"
        );
        let runs = expand(
            &["f=0".into()],
            &["a.b=1,2".into(), "c=x".into()],
            &[1, 2],
            Path::new("/o"),
        )
        .unwrap();
        assert_eq!(runs.len(), 4);
        assert_eq!(
            runs[0].params,
            vec!["f=0".to_string(), "a.b=1".to_string(), "c=x".to_string()]
        );
        assert_eq!(runs[3].out_dir, Path::new("/o/a.b=2,c=x/seed-2"));
        assert_eq!(runs[3].rel_dir, Path::new("a.b=2,c=x/seed-2"));
        assert_eq!(runs[3].overrides().last().unwrap(), "seed=2");
        assert_eq!(
            runs[1].command(Path::new("s.toml")),
            "testbed run s.toml --seed 2 --out '/o/a.b=1,c=x/seed-2' --set 'f=0' \
             --set 'a.b=1' --set 'c=x'"
        );
        assert_eq!(
            arg_error(expand(&[], &["nokey".into()], &[1], Path::new("/o"))),
            (
                "--grid nokey".to_string(),
                "expected key=v1,v2,...".to_string()
            )
        );
    }

    #[test]
    fn a_key_is_on_one_axis_only_and_never_the_seed() {
        let (arg, msg) = arg_error(expand(
            &[],
            &["a=1,2".into(), "b=3".into(), " a =4".into()],
            &[1],
            Path::new("/o"),
        ));
        assert_eq!(arg, "--grid  a =4");
        assert_eq!(
            msg,
            "the key `a` is already a grid axis (--grid a=1,2): expected each key on one axis, \
             with all its values there"
        );
        let (arg, msg) = arg_error(expand(
            &["a=0".into()],
            &["a=1,2".into()],
            &[1],
            Path::new("/o"),
        ));
        assert_eq!(arg, "--grid a=1,2");
        assert!(msg.contains("`a` is also fixed by --set a=0"), "{msg}");
        let (arg, msg) = arg_error(expand(&[], &["seed=1,2".into()], &[1], Path::new("/o")));
        assert_eq!(arg, "--grid seed=1,2");
        assert!(msg.contains("--seeds"), "{msg}");
        let (arg, msg) = arg_error(expand(&["seed=3".into()], &[], &[1], Path::new("/o")));
        assert_eq!(arg, "--set seed=3");
        assert!(msg.contains("--seeds"), "{msg}");
        let (arg, msg) = arg_error(expand(&["d=\"a\nb\"".into()], &[], &[1], Path::new("/o")));
        assert_eq!(arg, "--set d=\\\"a\\nb\\\"");
        assert!(msg.contains("without line breaks"), "{msg}");
    }
}
