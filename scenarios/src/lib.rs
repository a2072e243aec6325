//! Scenario files, their runner, sweeps and figures; the `testbed` binary is a thin CLI on top.
//!
//! Module map:
//! - [`config`]: the TOML schema of scenario files, loading, `--set` overrides, validation.
//! - [`cc`]: a workload's congestion control: native by name, or CCP (algorithm, parameters,
//!   staleness, fallback), bound to the simulation's runtime.
//! - [`workload`]: bulk, incast and CDF/Poisson workloads turned into flows.
//! - [`runner`]: builds the network, runs the simulation, writes result files.
//! - [`emulate`]: `testbed emulate` (the workload for real through the link emulator) and
//!   `testbed compare` (a simulated and an emulated run side by side).
//! - [`sweep`]: parameter grids × seeds as independent runs, executed in parallel, merged.
//! - [`figures`]: PNG/SVG figures from result files.
//! - [`boxplot`]: box plots (p5–p95 whiskers) for the Bertha experiments.
//! - [`reproduce`]: paper figures, one command each: checked-in scenarios (`paper/`), runs
//!   over seeds, the figure and a table of our numbers beside the paper's.
//! - [`reference`](mod@reference): the scenario-file reference (JSON Schema and Markdown) generated from the
//!   config types.

#![warn(missing_docs)]

pub mod boxplot;
pub mod cc;
pub mod config;
pub mod emulate;
pub mod figures;
pub mod reference;
pub mod reproduce;
pub mod runner;
pub mod sweep;
pub mod workload;
