//! `testbed`: run, sweep, validate and plot simulator scenarios.

// The doc comments below are the CLI's help text (clap prints them as written), where `<out>` and
// `<name>` are the usual placeholders, not HTML.
#![allow(rustdoc::invalid_html_tags)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use scenarios::config::load;
use scenarios::figures::{figures, Format};
use scenarios::runner::{build, run};
use scenarios::sweep::{self, execute, failures, parse_seeds, write_merged, Plan, MERGED_FILE};

#[derive(Parser)]
#[command(
    name = "testbed",
    version,
    about = "Deterministic network-stack testbed: simulator scenarios"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one scenario and write its results.
    Run {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Override the scenario's seed (0 to 9223372036854775807, the range a scenario file's
        /// integer holds).
        #[arg(long, value_parser = clap::value_parser!(u64).range(0..=i64::MAX as u64))]
        seed: Option<u64>,
        /// Results directory (default: results/<name>/seed-<seed>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override a field: `--set topology.pairs=4` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Also draw the run's figures (PNG).
        #[arg(long)]
        figures: bool,
    },
    /// Run a parameter grid and/or many seeds: in parallel here, or as a Slurm job array.
    ///
    /// Each run is one `testbed run` command (scenario, overrides, seed); the sweep writes them,
    /// shell-quoted, to <out>/plan.txt, each run's results to <out>/<grid point>/seed-<N>/, and
    /// merges them into <out>/sweep.csv. The output directory must be new or empty:
    /// `--overwrite` replaces an earlier sweep there, removing only what a sweep owns (its runs,
    /// plan.txt, sweep.csv, slurm.sh, slurm/, sweep figures) and refusing if other runs remain.
    #[command(verbatim_doc_comment)]
    Sweep {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Seeds: N, A..B, A..=B or A,B,C.
        #[arg(long, default_value = "1")]
        seeds: String,
        /// A grid axis `key=v1,v2,...` (repeatable; axes are crossed; one axis per key).
        #[arg(long = "grid", value_name = "KEY=V1,V2")]
        grid: Vec<String>,
        /// Fixed overrides applied to every run (repeatable; not a grid key, not `seed`).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Parallel runs (default: number of cores); with --slurm, the most array tasks at once.
        #[arg(long)]
        jobs: Option<usize>,
        /// Results directory (default: results/<name>-sweep); must be new or empty.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Only print one shell-quoted `testbed run` command per run (for job arrays), run
        /// nothing; afterwards, `--merge` with the same arguments builds sweep.csv.
        #[arg(long, conflicts_with_all = ["merge", "slurm", "overwrite"])]
        list: bool,
        /// Run nothing: merge the results of the runs, made elsewhere by the `--list` commands
        /// (e.g. a job array), into <out>/sweep.csv. Same arguments as the sweep; refuses runs
        /// whose scenario.toml is not theirs and results of runs outside the sweep.
        #[arg(long, conflicts_with_all = ["slurm", "overwrite"])]
        merge: bool,
        /// Submit the runs as Slurm job arrays (one task per run, running its plan.txt line),
        /// wait for them (`sbatch --wait`), and merge. The nodes must see this binary, the
        /// scenario and --out at the same paths.
        #[arg(long)]
        slurm: bool,
        /// An extra sbatch argument, e.g. `--sbatch-arg=--partition=short` (repeatable).
        #[arg(
            long = "sbatch-arg",
            value_name = "ARG",
            requires = "slurm",
            allow_hyphen_values = true
        )]
        sbatch_arg: Vec<String>,
        /// Replace an earlier sweep's results in a non-empty --out (only what a sweep owns).
        #[arg(long)]
        overwrite: bool,
    },
    /// Run a scenario's workload for real through the link emulator (hosts in network
    /// namespaces, the simulator's link models on the wall clock), with the project's transport
    /// or Linux TCP; writes the result files of a simulated run, marked real and
    /// non-deterministic. Needs root (CAP_NET_ADMIN, /dev/net/tun).
    Emulate {
        /// The scenario file (TOML): a dumbbell or star (leaf-spine, fat-tree) with `bulk`
        /// workloads, at rates the emulator sustains.
        scenario: PathBuf,
        /// Results directory (default: results/<name>/emulated-<transport>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override a field: `--set topology.pairs=2` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// The flows' transport: `ours` (the project's, over UDP) or `linux-tcp`.
        #[arg(long, default_value = "ours", value_parser = ["ours", "linux-tcp"])]
        transport: String,
        /// The `realflow` program (default: beside this executable, or $TESTBED_REALFLOW).
        #[arg(long)]
        realflow: Option<PathBuf>,
        /// The `ccp` program for CCP flows (default: beside this executable, or $TESTBED_CCP).
        #[arg(long)]
        ccp: Option<PathBuf>,
    },
    /// Put a simulated and an emulated run of one scenario side by side: goodput (all flows and
    /// per flow) and the queueing delay distribution; writes compare.csv, compare.md and a
    /// figure.
    Compare {
        /// The simulated run's results directory (`testbed run --out`).
        simulated: PathBuf,
        /// The emulated run's results directory (`testbed emulate --out`).
        emulated: PathBuf,
        /// Where the comparison goes (default: <emulated>/compare).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a scenario file without running it.
    Validate {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Override a field (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Print the scenario-file reference, generated from the config types: the JSON Schema
    /// (`--json`, committed as docs/scenario-schema.json) or a Markdown page (`--markdown`,
    /// committed as docs/scenario-reference.md).
    #[command(group(clap::ArgGroup::new("format").required(true).args(["json", "markdown"])))]
    Schema {
        /// The JSON Schema (2020-12) of a scenario file.
        #[arg(long)]
        json: bool,
        /// The Markdown reference: every field's type, unit, default and allowed range.
        #[arg(long)]
        markdown: bool,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Reproduce a paper figure: run its checked-in scenarios over seeds (in parallel), draw it
    /// (PNG and SVG) and write a table of our numbers beside the paper's (table.md, table.csv).
    ///
    /// Results go to <out> (default results/<figure-id>), which must be new or empty:
    /// `--overwrite` replaces an earlier reproduction of the same figure there. Each arm of the
    /// experiment is a sweep directory <out>/<arm>/ whose plan.txt re-runs any run alone.
    #[command(verbatim_doc_comment)]
    Reproduce {
        /// The figure id (see --list).
        #[arg(required_unless_present = "list")]
        id: Option<String>,
        /// List the figure ids this command knows, with their defaults; run nothing.
        #[arg(long, conflicts_with_all = ["seeds", "duration", "jobs", "out", "overwrite"])]
        list: bool,
        /// Seeds 1..=N per arm (default: the paper's number of runs).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        seeds: Option<u64>,
        /// Simulated seconds per run (default: the paper's).
        #[arg(long, value_name = "SECONDS")]
        duration: Option<f64>,
        /// Parallel runs (default: number of cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Results directory (default: results/<figure-id>); must be new or empty.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an earlier reproduction of this figure in a non-empty --out.
        #[arg(long)]
        overwrite: bool,
    },
    /// Draw figures from a results directory (a run, or a sweep and all its runs).
    Figures {
        /// Results directory.
        dir: PathBuf,
        /// Image format.
        #[arg(long, value_enum, default_value = "png")]
        format: Format,
    },
}

fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Library errors often quote their cause in their own message; print each cause
            // in the chain only if the text so far does not already contain it.
            let mut msg = e.to_string();
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg.push_str(": ");
                    msg.push_str(&c);
                }
            }
            eprintln!("error: {msg}");
            std::process::ExitCode::from(2)
        }
    }
}

/// A results directory `run` or `figures` writes into (`flag` names it in errors): new, or an
/// existing real directory. A symbolic link is never followed silently (not the directory
/// itself, nor an entry in it a run or a figure would be written through), and an existing
/// file is not taken for a directory.
fn check_results_dir(dir: &Path, flag: &str) -> Result<()> {
    let shown = dir.display();
    let md = match std::fs::symlink_metadata(dir) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => anyhow::bail!("{flag} {shown}: {e}"),
    };
    if md.file_type().is_symlink() {
        let target = std::fs::read_link(dir)
            .map(|t| format!(" (to {})", t.display()))
            .unwrap_or_default();
        anyhow::bail!(
            "{flag} {shown} is a symbolic link{target}; results are not written through a link: \
             give the directory it points to, if that is where they belong"
        );
    }
    if !md.is_dir() {
        anyhow::bail!("{flag} {shown} exists and is not a directory; expected a results directory");
    }
    let entries = std::fs::read_dir(dir).with_context(|| format!("{flag} {shown}"))?;
    for e in entries {
        let e = e.with_context(|| format!("{flag} {shown}"))?;
        if e.file_type().is_ok_and(|t| t.is_symlink()) {
            anyhow::bail!(
                "{flag} {shown} contains a symbolic link, {}; results are written into this \
                 directory and would go through it: remove it",
                e.path().display()
            );
        }
    }
    Ok(())
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run {
            scenario,
            seed,
            out,
            mut set,
            figures: draw,
        } => {
            if let Some(s) = seed {
                set.push(format!("seed={s}"));
            }
            let loaded = load(&scenario, &set)?;
            let s = &loaded.scenario;
            let (out, flag) = match out {
                Some(o) => (o, "--out"),
                None => (
                    Path::new("results")
                        .join(&s.name)
                        .join(format!("seed-{}", s.seed)),
                    "default --out",
                ),
            };
            check_results_dir(&out, flag)?;
            let t0 = Instant::now();
            let res = run(&loaded, Some(&out))?;
            let total = t0.elapsed().as_secs_f64();
            for (k, v) in &res.summary {
                println!("{k:>28}  {v}");
            }
            if res.unfinished_flows > 0 {
                eprintln!(
                    "warning: {} sized flow(s) had not finished at the end of the run ({:.3} s); FCT percentiles and the completion span treat them as censored (see the *_censored rows)",
                    res.unfinished_flows,
                    res.end.as_secs_f64()
                );
            }
            let sim_s = res.end.as_secs_f64();
            // Speed counters over the event loop only; `total` adds setup and writing results.
            let wall = res.sim_wall.as_secs_f64();
            println!("results: {}", out.display());
            println!(
                "events processed: {}  wall: {:.3} s (total {:.3} s)  events/wall-s: {:.0}  sim-s/wall-s: {:.2}  peak RSS: {}",
                res.stats.events,
                wall,
                total,
                res.stats.events as f64 / wall.max(1e-9),
                sim_s / wall.max(1e-9),
                peak_rss_mb().map_or("n/a".into(), |m| format!("{m:.1} MB")),
            );
            if draw {
                for f in figures(&out, Format::Png)? {
                    println!("figure: {}", f.display());
                }
            }
        }
        Cmd::Emulate {
            scenario,
            out,
            set,
            transport,
            realflow,
            ccp,
        } => {
            let loaded = load(&scenario, &set)?;
            let out = out.unwrap_or_else(|| {
                Path::new("results")
                    .join(&loaded.scenario.name)
                    .join(format!("emulated-{transport}"))
            });
            check_results_dir(&out, "--out")?;
            let opts = scenarios::emulate::EmulateOptions {
                out: out.clone(),
                transport: if transport == "linux-tcp" {
                    scenarios::emulate::RealTransport::LinuxTcp
                } else {
                    scenarios::emulate::RealTransport::Ours
                },
                realflow,
                ccp,
            };
            let r = scenarios::emulate::emulate(&loaded, &opts)?;
            for (k, v) in &r.summary {
                println!("{k:>28}  {v}");
            }
            println!("results: {}", out.display());
        }
        Cmd::Compare {
            simulated,
            emulated,
            out,
        } => {
            let out = out.unwrap_or_else(|| emulated.join("compare"));
            let rows = scenarios::emulate::compare(&simulated, &emulated, &out)?;
            for r in &rows {
                println!(
                    "{:>40}  {:>10.3} {:>10.3} {:<7} {:+.1} %",
                    r.quantity,
                    r.simulated,
                    r.emulated,
                    r.unit,
                    r.rel_diff_pct()
                );
            }
            println!("comparison: {}", out.display());
        }
        Cmd::Sweep {
            scenario,
            seeds,
            grid,
            set,
            jobs,
            out,
            list,
            merge,
            slurm,
            sbatch_arg,
            overwrite,
        } => {
            if jobs == Some(0) {
                anyhow::bail!("--jobs 0: expected at least 1 run at a time");
            }
            let base = load(&scenario, &set)?;
            let seeds = parse_seeds(&seeds)?;
            let out = out.unwrap_or_else(|| {
                Path::new("results").join(format!("{}-sweep", base.scenario.name))
            });
            let plan = Plan::new(&scenario, &set, &grid, &seeds, &out)?;
            // Check every run before running any.
            for r in &plan.runs {
                plan.load(r)
                    .with_context(|| format!("grid point {}", r.params.join(" ")))?;
            }
            if list {
                print!("{}", plan.text());
                return Ok(());
            }
            let t0 = Instant::now();
            let (results, how) = if merge {
                let results = plan.collect(&|_| None)?;
                plan.write()?;
                (results, "merged".to_string())
            } else {
                plan.prepare(overwrite)?;
                plan.write()?;
                if slurm {
                    let opts = sweep::slurm::Options {
                        throttle: jobs,
                        sbatch_args: sbatch_arg,
                        binary: std::env::current_exe()
                            .context("--slurm: locating the testbed binary for the tasks")?,
                    };
                    let results = sweep::slurm::run(&plan, &opts, &|m| eprintln!("{m}"))?;
                    (results, "as a Slurm job array".to_string())
                } else {
                    let jobs = jobs.unwrap_or_else(|| {
                        std::thread::available_parallelism().map_or(1, |n| n.get())
                    });
                    let bar = indicatif::ProgressBar::new(plan.runs.len() as u64);
                    bar.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{bar:40} {pos}/{len} runs  {elapsed_precise} elapsed, eta {eta}",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                    let results = execute(&plan, jobs, &|_| bar.inc(1));
                    bar.finish();
                    (results, format!("on {jobs} threads"))
                }
            };
            let merged = plan.out.join(MERGED_FILE);
            write_merged(&merged, &plan.runs, &results)?;
            println!(
                "{} runs {how} in {:.2} s; merged results: {}",
                plan.runs.len(),
                t0.elapsed().as_secs_f64(),
                merged.display()
            );
            failures(&results)?;
        }
        Cmd::Validate { scenario, set } => {
            let loaded = load(&scenario, &set)?;
            let (net, _) = build(&loaded.scenario, &scenario.display().to_string(), None)?;
            println!(
                "{}: ok ({} hosts, {} links, {} flows, {} s)",
                scenario.display(),
                net.topology().hosts().len(),
                net.topology().links.len(),
                net.flow_count(),
                loaded.scenario.duration_s
            );
        }
        Cmd::Schema {
            json,
            markdown: _,
            out,
        } => {
            let text = if json {
                scenarios::reference::json()
            } else {
                scenarios::reference::markdown()
            };
            match out {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("--out {}", path.display()))?,
                None => {
                    use std::io::Write as _;
                    std::io::stdout()
                        .write_all(text.as_bytes())
                        .context("writing to standard output")?;
                }
            }
        }
        Cmd::Reproduce {
            id,
            list,
            seeds,
            duration,
            jobs,
            out,
            overwrite,
        } => {
            use scenarios::reproduce;
            if list {
                for f in reproduce::figures() {
                    if f.is_custom() {
                        println!(
                            "{:<12} {} (paper: {} trials per variant)",
                            f.id, f.title, f.default_seeds
                        );
                    } else {
                        println!(
                            "{:<12} {} (paper: {} seed(s) × {} s)",
                            f.id, f.title, f.default_seeds, f.default_duration_s
                        );
                    }
                }
                return Ok(());
            }
            let id = id.unwrap_or_default();
            // Unknown ids fail before anything is checked or written.
            reproduce::find(&id)?;
            let mut opts = reproduce::Options {
                out,
                seeds,
                duration_s: duration,
                overwrite,
                progress: true,
                ..reproduce::Options::default()
            };
            if let Some(j) = jobs {
                opts.jobs = j;
            }
            match &opts.out {
                Some(o) => check_results_dir(o, "--out")?,
                None => check_results_dir(&Path::new("results").join(&id), "default --out")?,
            }
            let t0 = Instant::now();
            let rep = reproduce::reproduce(&id, &opts)?;
            print!("{}", rep.markdown);
            for f in &rep.files {
                println!("wrote {}", f.display());
            }
            println!(
                "{} runs on {} threads in {:.1} s; results: {}",
                rep.runs,
                opts.jobs,
                t0.elapsed().as_secs_f64(),
                rep.dir.display()
            );
        }
        Cmd::Figures { dir, format } => {
            check_results_dir(&dir, "<results-dir>")?;
            for f in figures(&dir, format)? {
                println!("{}", f.display());
            }
        }
    }
    Ok(())
}
