//! Sweeps: a parameter grid crossed with seeds, expanded into a list of independent runs (each
//! fully described by its scenario file, overrides and seed, so a cluster job array can run them
//! one by one), run in parallel on all cores, and merged into one `sweep.csv`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::config::{load, ScenarioError};
use crate::runner::{run, RunError};

/// The summary rows of one run, or its error message.
pub type RunOutcome = Result<Vec<(String, String)>, String>;

/// One independent run of a sweep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSpec {
    /// `key=value` overrides of this grid point (without the seed).
    pub params: Vec<String>,
    /// The seed.
    pub seed: u64,
    /// Where its results go.
    pub out_dir: PathBuf,
}

impl RunSpec {
    /// The command line that reproduces this run alone.
    pub fn command(&self, scenario: &Path) -> String {
        let mut s = format!(
            "testbed run {} --seed {} --out {}",
            scenario.display(),
            self.seed,
            self.out_dir.display()
        );
        for p in &self.params {
            s.push_str(&format!(" --set {p}"));
        }
        s
    }
}

/// Errors of a sweep's own arguments.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SweepError {
    /// A `--grid` or `--seeds` argument is malformed.
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
}

/// The most runs one sweep may expand to.
pub const MAX_RUNS: usize = 1_000_000;

/// Parses `--seeds`: `N`, `A..B` (B exclusive), `A..=B`, or `A,B,C`.
pub fn parse_seeds(s: &str) -> Result<Vec<u64>, SweepError> {
    let err = || SweepError::Arg {
        arg: format!("--seeds {s}"),
        msg: "expected N, A..B, A..=B or A,B,C".into(),
    };
    let num = |x: &str| x.trim().parse::<u64>().map_err(|_| err());
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

/// Expands `key=v1,v2,...` grid axes and seeds into runs under `out`.
pub fn expand(grid: &[String], seeds: &[u64], out: &Path) -> Result<Vec<RunSpec>, SweepError> {
    let mut axes: Vec<(String, Vec<String>)> = Vec::new();
    for g in grid {
        let (k, vs) = g.split_once('=').ok_or_else(|| SweepError::Arg {
            arg: format!("--grid {g}"),
            msg: "expected key=v1,v2,...".into(),
        })?;
        let vals: Vec<String> = vs
            .split(',')
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect();
        if k.trim().is_empty() || vals.is_empty() {
            return Err(SweepError::Arg {
                arg: format!("--grid {g}"),
                msg: "expected key=v1,v2,...".into(),
            });
        }
        axes.push((k.trim().to_owned(), vals));
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
    let mut names = std::collections::BTreeSet::new();
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
            runs.push(RunSpec {
                params: p.clone(),
                seed,
                out_dir: out.join(&name).join(format!("seed-{seed}")),
            });
        }
    }
    Ok(runs)
}

/// Runs every spec on `jobs` threads, calling `progress` after each; returns each run's summary
/// in spec order.
pub fn execute(
    scenario: &Path,
    runs: &[RunSpec],
    jobs: usize,
    progress: &(dyn Fn(&RunSpec) + Sync),
) -> Vec<RunOutcome> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<RunOutcome>>> = Mutex::new(vec![None; runs.len()]);
    std::thread::scope(|sc| {
        for _ in 0..jobs.max(1).min(runs.len().max(1)) {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(spec) = runs.get(i) else { break };
                let mut ov = spec.params.clone();
                ov.push(format!("seed={}", spec.seed));
                let r = load(scenario, &ov)
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

/// Writes the merged `sweep.csv` (`run,params,seed,key,value`) in spec order.
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
        let run = spec.out_dir.display().to_string();
        let params = spec.params.join(";");
        let seed = spec.seed.to_string();
        match res {
            Ok(rows) => {
                for (k, v) in rows {
                    w.write_record([run.as_str(), &params, &seed, k, v])
                        .map_err(oerr)?;
                }
            }
            Err(e) => w
                .write_record([run.as_str(), &params, &seed, "error", e])
                .map_err(oerr)?,
        }
    }
    w.flush().map_err(|e| SweepError::Output {
        path: path.display().to_string(),
        msg: e.to_string(),
    })
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
        let (arg, msg) = arg_error(expand(&["a=x/y,x_y".into()], &[1], Path::new("/o")));
        assert_eq!(arg, "--grid");
        assert!(
            msg.contains("two grid points share the results directory `a=x_y`"),
            "colliding directory names: {msg}"
        );
        let runs = expand(&["a.b=1,2".into(), "c=x".into()], &[1, 2], Path::new("/o")).unwrap();
        assert_eq!(runs.len(), 4);
        assert_eq!(runs[0].params, vec!["a.b=1".to_string(), "c=x".to_string()]);
        assert_eq!(runs[3].out_dir, Path::new("/o/a.b=2,c=x/seed-2"));
        assert!(runs[1]
            .command(Path::new("s.toml"))
            .contains("--seed 2 --out /o/a.b=1,c=x/seed-2 --set a.b=1 --set c=x"));
        assert_eq!(
            arg_error(expand(&["nokey".into()], &[1], Path::new("/o"))),
            (
                "--grid nokey".to_string(),
                "expected key=v1,v2,...".to_string()
            )
        );
    }
}
