//! Paper reproduction, one command per figure (`testbed reproduce <figure-id>`).
//!
//! A paper experiment is a set of *arms*, each a checked-in scenario file under
//! `scenarios/paper/` plus overrides (e.g. native vs CCP congestion control), run over seeds
//! `1..=N`, and a *recipe* that reads the runs' results, draws the figure (PNG and SVG) and
//! compares our numbers with the paper's headline numbers in a table.
//!
//! Layout of a figure's directory (default `results/<figure-id>/`):
//! - `<arm>/` per arm: a sweep directory ([`crate::sweep`]): `plan.txt` (one `testbed run`
//!   command per run, re-runnable alone), `seed-<N>/` results, `sweep.csv`;
//! - the figure, `<stem>.png` and `<stem>.svg`;
//! - `table.csv` and `table.md`: our numbers, what they are compared with (the native baseline
//!   or the paper's number), the relative difference, the paper's claim and the target.
//!
//! The directory must be new or empty; `--overwrite` removes what an earlier reproduction of
//! the same figure wrote there (its arms, as a sweep removes its runs; its figures and tables)
//! and refuses if anything else is there. Every run is deterministic per seed; runs execute in
//! parallel (`--jobs`).
//!
//! The Bertha experiments (`thesis-3.x`, submodule `bertha`) are *custom*: they run
//! application code on the simulator and on real loopback instead of scenario files, write
//! `samples.csv` and their figure, and share the table; for them `--seeds` is the number of
//! trials per variant.

mod bertha;
mod bertha_kv;
mod bertha_local;
mod bertha_offload;
mod bertha_portability;
mod data;
mod fig4_11;
mod fig4_2;
mod fig4_3;
mod fig4_4;
mod fig4_6;
mod fig4_7_2;
mod fig4_9;
mod figs;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::figures::{draw_panels, FigureError, Format, Panel};
use crate::runner::run;
use crate::sweep::{failures, write_merged, Plan, RunOutcome, SweepError, MERGED_FILE};

/// Errors of a reproduction.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReproduceError {
    /// No figure has this id.
    #[error("unknown figure id `{id}`; known ids: {known}")]
    UnknownId {
        /// The id asked for.
        id: String,
        /// The known ids, comma-separated.
        known: String,
    },
    /// A command-line argument is out of range.
    #[error("{arg}: {msg}")]
    Arg {
        /// The argument.
        arg: String,
        /// What was expected.
        msg: String,
    },
    /// Planning, running or merging the runs failed.
    #[error(transparent)]
    Sweep(#[from] SweepError),
    /// Reading results or drawing failed.
    #[error(transparent)]
    Figure(#[from] FigureError),
    /// The results do not hold what the recipe needs.
    #[error("{0}")]
    Analysis(String),
    /// Writing the table failed.
    #[error("writing {path}: {msg}")]
    Output {
        /// The file.
        path: String,
        /// The cause.
        msg: String,
    },
}

/// One arm of an experiment: a scenario file of `scenarios/paper/` with overrides.
#[derive(Clone, Debug)]
pub struct Arm {
    /// Its directory name under the figure's directory.
    pub name: String,
    /// How figures and tables name it.
    pub label: String,
    /// The scenario file, relative to the paper scenario directory.
    pub scenario: String,
    /// `key=value` overrides (the duration's included).
    pub set: Vec<String>,
}

/// A figure this module reproduces.
pub struct Figure {
    /// Its id (`thesis-4.4`).
    pub id: &'static str,
    /// What it shows.
    pub title: &'static str,
    /// The paper's number of seeds (runs per arm).
    pub default_seeds: u64,
    /// The paper's duration, seconds (of the scenario files, at the default).
    pub default_duration_s: f64,
    /// The arms for a duration (`None`: the scenario files' own).
    arms: fn(Option<f64>) -> Vec<Arm>,
    /// Reads the runs, draws, compares.
    analyze: fn(&Ctx) -> Result<Analysis, ReproduceError>,
    /// An experiment that is not a set of scenario runs (the Bertha experiments run
    /// application code on the simulator and on real loopback): given the options, the
    /// figure's directory and the repetitions (`--seeds`), it runs, writes its own samples and
    /// figures, and returns the analysis and the files written. `arms` is then empty.
    custom: Option<CustomFn>,
}

impl Figure {
    /// Whether this is a custom experiment (no scenario arms; `--seeds` counts trials).
    pub fn is_custom(&self) -> bool {
        self.custom.is_some()
    }
}

/// See [`Figure`]'s `custom`.
pub type CustomFn = fn(&Options, &Path, u64) -> Result<(Analysis, Vec<PathBuf>), ReproduceError>;

/// The runs a recipe analyzes.
pub struct Ctx {
    /// Each arm with its runs' directories, in seed order.
    pub arms: Vec<(Arm, Vec<PathBuf>)>,
    /// The seeds.
    pub seeds: Vec<u64>,
}

impl Ctx {
    /// The runs of the arm named `name`.
    fn runs(&self, name: &str) -> Result<&[PathBuf], ReproduceError> {
        self.arms
            .iter()
            .find(|(a, _)| a.name == name)
            .map(|(_, d)| d.as_slice())
            .ok_or_else(|| ReproduceError::Analysis(format!("no arm named {name}")))
    }
}

/// One row of the comparison table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// What is measured.
    pub quantity: String,
    /// Its unit.
    pub unit: String,
    /// Our number (for a CCP vs native comparison, CCP's).
    pub ours: f64,
    /// What it is compared with (`native`, `paper`, `expected`).
    pub compared_with: String,
    /// The number compared with, if any.
    pub reference: Option<f64>,
    /// The paper's headline claim about it.
    pub paper: String,
    /// The largest relative difference (%) that counts as reproduced, if the paper implies one.
    pub target_pct: Option<f64>,
}

impl Row {
    /// `(ours − reference) / reference` in percent.
    pub fn rel_diff_pct(&self) -> Option<f64> {
        let r = self.reference?;
        (r != 0.0).then(|| (self.ours - r) / r.abs() * 100.0)
    }

    /// Whether the relative difference is within the target (None without a target).
    pub fn within_target(&self) -> Option<bool> {
        let t = self.target_pct?;
        Some(self.rel_diff_pct().is_some_and(|d| d.abs() <= t))
    }
}

/// What a recipe produced.
pub struct Analysis {
    /// Figures: file stem, overall title, panels, columns.
    pub figures: Vec<(String, String, Vec<Panel>, usize)>,
    /// The comparison table.
    pub rows: Vec<Row>,
    /// Remarks printed under the table (deviations, how numbers are computed).
    pub notes: Vec<String>,
}

/// The figures this module reproduces, in paper order.
pub fn figures() -> &'static [Figure] {
    figs::FIGURES
}

/// The figure of an id, or an error listing the known ids.
pub fn find(id: &str) -> Result<&'static Figure, ReproduceError> {
    figures()
        .iter()
        .find(|f| f.id == id)
        .ok_or_else(|| ReproduceError::UnknownId {
            id: id.to_owned(),
            known: figures()
                .iter()
                .map(|f| f.id)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// How to reproduce.
#[derive(Clone, Debug)]
pub struct Options {
    /// The figure's directory (default `results/<id>`).
    pub out: Option<PathBuf>,
    /// Seeds 1..=N (default: the paper's).
    pub seeds: Option<u64>,
    /// Simulated seconds (default: the paper's).
    pub duration_s: Option<f64>,
    /// Parallel runs.
    pub jobs: usize,
    /// Replace an earlier reproduction in `out`.
    pub overwrite: bool,
    /// Show a progress bar on standard error.
    pub progress: bool,
    /// Where the paper scenarios are (default: this crate's `paper/`).
    pub scenario_dir: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            out: None,
            seeds: None,
            duration_s: None,
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            overwrite: false,
            progress: false,
            scenario_dir: None,
        }
    }
}

/// The directory of the checked-in paper scenarios: `scenarios/paper/` of this crate's
/// sources, or of the current directory when the sources moved.
pub fn default_scenario_dir() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("paper");
    if built.is_dir() {
        built
    } else {
        PathBuf::from("scenarios/paper")
    }
}

/// What a reproduction wrote.
#[derive(Debug)]
pub struct Report {
    /// The figure's directory.
    pub dir: PathBuf,
    /// Figures (PNG and SVG) and tables written.
    pub files: Vec<PathBuf>,
    /// The comparison table.
    pub rows: Vec<Row>,
    /// The table as Markdown (also in `table.md`).
    pub markdown: String,
    /// Runs made.
    pub runs: usize,
}

const TABLE_FILES: [&str; 2] = ["table.csv", "table.md"];
/// Files the custom experiments write beside the table.
const SAMPLE_FILES: [&str; 1] = ["samples.csv"];

/// Makes `dir` ready: new or empty, or (with `overwrite`) holding only what an earlier
/// reproduction of this figure wrote, which is removed (arms through their sweep plans).
fn prepare(dir: &Path, plans: &[Plan], overwrite: bool) -> Result<(), ReproduceError> {
    let arg = || format!("--out {}", dir.display());
    let entries: Vec<std::fs::DirEntry> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(ReproduceError::Arg {
                arg: arg(),
                msg: format!("expected a directory, or a path to create one at: {e}"),
            })
        }
    };
    if entries.is_empty() {
        return Ok(());
    }
    let mut names: Vec<String> = entries
        .iter()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    if !overwrite {
        let mut shown: Vec<&str> = names.iter().take(3).map(String::as_str).collect();
        if names.len() > 3 {
            shown.push("...");
        }
        return Err(ReproduceError::Arg {
            arg: arg(),
            msg: format!(
                "the directory is not empty (it holds {}): expected a new or empty directory, \
                 or --overwrite to replace an earlier reproduction's results in it",
                shown.join(", ")
            ),
        });
    }
    let owned_file = |n: &str| {
        TABLE_FILES.contains(&n)
            || SAMPLE_FILES.contains(&n)
            || n.ends_with(".png")
            || n.ends_with(".svg")
    };
    let arm_dirs: Vec<&Path> = plans.iter().map(|p| p.out.as_path()).collect();
    // Refuse before removing anything.
    for e in &entries {
        let n = e.file_name().to_string_lossy().into_owned();
        let is_file = e.file_type().is_ok_and(|t| t.is_file());
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        let ok = (is_file && owned_file(&n))
            || (is_dir
                && arm_dirs
                    .iter()
                    .any(|a| a.file_name() == Some(e.file_name().as_os_str())));
        if !ok {
            return Err(ReproduceError::Arg {
                arg: arg(),
                msg: format!(
                    "--overwrite: the directory holds {n}, which no reproduction of this figure \
                     writes; remove it, or choose another --out"
                ),
            });
        }
    }
    for e in &entries {
        if e.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::remove_file(e.path()).map_err(|err| ReproduceError::Output {
                path: e.path().display().to_string(),
                msg: format!("removing it (--overwrite): {err}"),
            })?;
        }
    }
    Ok(())
}

/// Runs the experiment of figure `id`, draws it and writes the comparison table.
pub fn reproduce(id: &str, opts: &Options) -> Result<Report, ReproduceError> {
    let fig = find(id)?;
    if opts.jobs == 0 {
        return Err(ReproduceError::Arg {
            arg: "--jobs 0".into(),
            msg: "expected at least 1 run at a time".into(),
        });
    }
    let n_seeds = opts.seeds.unwrap_or(fig.default_seeds);
    if !(1..=10_000).contains(&n_seeds) {
        return Err(ReproduceError::Arg {
            arg: format!("--seeds {n_seeds}"),
            msg: "expected 1..=10000 seeds".into(),
        });
    }
    if let Some(d) = opts.duration_s {
        if !(d.is_finite() && d > 0.0) {
            return Err(ReproduceError::Arg {
                arg: format!("--duration {d}"),
                msg: "expected a positive number of seconds".into(),
            });
        }
    }
    let seeds: Vec<u64> = (1..=n_seeds).collect();
    let dir = opts
        .out
        .clone()
        .unwrap_or_else(|| Path::new("results").join(fig.id));
    if let Some(custom) = fig.custom {
        prepare(&dir, &[], opts.overwrite)?;
        std::fs::create_dir_all(&dir).map_err(|e| ReproduceError::Output {
            path: dir.display().to_string(),
            msg: e.to_string(),
        })?;
        let (analysis, files) = custom(opts, &dir, n_seeds)?;
        let header = format!(
            "# {}: {}\n\n{n_seeds} trial(s) per variant (`--seeds`).\n\n",
            fig.id, fig.title
        );
        return finish(&dir, analysis, files, header, 0);
    }
    let scen_dir = opts
        .scenario_dir
        .clone()
        .unwrap_or_else(default_scenario_dir);
    let arms = (fig.arms)(opts.duration_s);
    let mut plans = Vec::new();
    for a in &arms {
        let plan = Plan::new(
            &scen_dir.join(&a.scenario),
            &a.set,
            &[],
            &seeds,
            &dir.join(&a.name),
        )?;
        for r in &plan.runs {
            plan.load(r).map_err(SweepError::from)?;
        }
        plans.push(plan);
    }
    prepare(&dir, &plans, opts.overwrite)?;
    for p in &plans {
        p.prepare(opts.overwrite)?;
        p.write()?;
    }
    // All runs of all arms on one pool.
    let jobs: Vec<(usize, usize)> = plans
        .iter()
        .enumerate()
        .flat_map(|(pi, p)| (0..p.runs.len()).map(move |ri| (pi, ri)))
        .collect();
    let bar = if opts.progress {
        indicatif::ProgressBar::new(jobs.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} {bar:40} {pos}/{len} runs  {elapsed_precise} elapsed, eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(fig.id);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Vec<Option<RunOutcome>>>> =
        Mutex::new(plans.iter().map(|p| vec![None; p.runs.len()]).collect());
    std::thread::scope(|sc| {
        for _ in 0..opts.jobs.min(jobs.len().max(1)) {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(pi, ri)) = jobs.get(i) else { break };
                let plan = &plans[pi];
                let spec = &plan.runs[ri];
                let r = plan
                    .load(spec)
                    .map_err(|e| e.to_string())
                    .and_then(|l| run(&l, Some(&spec.out_dir)).map_err(|e| e.to_string()))
                    .map(|res| res.summary);
                if let Ok(mut v) = results.lock() {
                    v[pi][ri] = Some(r);
                }
                bar.inc(1);
            });
        }
    });
    bar.finish_and_clear();
    let results = results.into_inner().unwrap_or_default();
    for (p, res) in plans.iter().zip(&results) {
        let res: Vec<RunOutcome> = res
            .iter()
            .map(|r| r.clone().unwrap_or_else(|| Err("not run".into())))
            .collect();
        write_merged(&p.out.join(MERGED_FILE), &p.runs, &res)?;
        failures(&res)?;
    }
    let ctx = Ctx {
        arms: arms
            .iter()
            .cloned()
            .zip(
                plans
                    .iter()
                    .map(|p| p.runs.iter().map(|r| r.out_dir.clone()).collect()),
            )
            .collect(),
        seeds: seeds.clone(),
    };
    let analysis = (fig.analyze)(&ctx)?;
    let duration = opts.duration_s.map_or_else(
        || format!("{} s (the paper's)", fig.default_duration_s),
        |d| format!("{d} s"),
    );
    let header = format!(
        "# {}: {}\n\n{} seed(s) per arm (1..={n_seeds}), {duration}; arms: {}.\n\n",
        fig.id,
        fig.title,
        n_seeds,
        arms.iter()
            .map(|a| format!("`{}` = {}", a.name, a.label))
            .collect::<Vec<_>>()
            .join("; ")
    );
    finish(&dir, analysis, Vec::new(), header, jobs.len())
}

/// Draws the analysis's figures, writes the table (Markdown and CSV) and reports.
fn finish(
    dir: &Path,
    analysis: Analysis,
    mut files: Vec<PathBuf>,
    mut md: String,
    runs: usize,
) -> Result<Report, ReproduceError> {
    for (stem, title, panels, cols) in &analysis.figures {
        for fmt in [Format::Png, Format::Svg] {
            files.push(draw_panels(title, panels, *cols, &dir.join(stem), fmt)?);
        }
    }
    md.push_str(&markdown_table(&analysis.rows));
    if !analysis.notes.is_empty() {
        md.push('\n');
        for n in &analysis.notes {
            md.push_str(&format!("- {n}\n"));
        }
    }
    let md_path = dir.join("table.md");
    std::fs::write(&md_path, &md).map_err(|e| ReproduceError::Output {
        path: md_path.display().to_string(),
        msg: e.to_string(),
    })?;
    let csv_path = dir.join("table.csv");
    write_csv(&csv_path, &analysis.rows)?;
    files.push(csv_path);
    files.push(md_path);
    Ok(Report {
        dir: dir.to_path_buf(),
        files,
        rows: analysis.rows,
        markdown: md,
        runs,
    })
}

/// A number with 4 significant digits (no exponent for ordinary magnitudes).
fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == 0.0 {
        return "0".into();
    }
    let mag = v.abs().log10().floor() as i32;
    let decimals = (3 - mag).clamp(0, 6) as usize;
    format!("{v:.decimals$}")
}

fn markdown_table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| quantity | unit | ours | compared with | reference | rel. diff | paper | target | within |\n\
         |---|---|---:|---|---:|---:|---|---:|---|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.quantity,
            r.unit,
            fmt_num(r.ours),
            r.compared_with,
            r.reference.map_or("–".into(), fmt_num),
            r.rel_diff_pct()
                .map_or("–".into(), |d| format!("{d:+.1} %")),
            r.paper,
            r.target_pct.map_or("–".into(), |t| format!("±{t} %")),
            r.within_target()
                .map_or("–", |w| if w { "yes" } else { "no" }),
        ));
    }
    s
}

fn write_csv(path: &Path, rows: &[Row]) -> Result<(), ReproduceError> {
    let err = |e: String| ReproduceError::Output {
        path: path.display().to_string(),
        msg: e,
    };
    let mut w = csv::Writer::from_path(path).map_err(|e| err(e.to_string()))?;
    w.write_record([
        "quantity",
        "unit",
        "ours",
        "compared_with",
        "reference",
        "rel_diff_pct",
        "paper",
        "target_pct",
        "within_target",
    ])
    .map_err(|e| err(e.to_string()))?;
    for r in rows {
        let opt = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x}"));
        w.write_record([
            r.quantity.clone(),
            r.unit.clone(),
            format!("{}", r.ours),
            r.compared_with.clone(),
            opt(r.reference),
            opt(r.rel_diff_pct()),
            r.paper.clone(),
            opt(r.target_pct),
            r.within_target().map_or(String::new(), |b| b.to_string()),
        ])
        .map_err(|e| err(e.to_string()))?;
    }
    w.flush().map_err(|e| err(e.to_string()))
}
