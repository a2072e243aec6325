//! Runs thesis Fig 3.3's measurement for chosen backends and connection counts and prints the
//! median goodputs: `cargo run --release -p bertha-experiments --example throughput --
//! [backend,...] [connections,...] [megabytes] [trials] [msg bytes]`
//! (defaults: all backends, 1,2,4,8, 50, 10, 8192). `testbed reproduce thesis-3.3` runs the
//! full figure.

use bertha_experiments::quantile;
use bertha_experiments::throughput::{run, Options, BACKENDS, VARIANTS};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let d = Options::default();
    let list = |i: usize| -> Option<Vec<String>> {
        args.get(i)
            .map(|a| a.split(',').map(str::to_string).collect())
    };
    let opts = Options {
        backends: list(0).unwrap_or_else(|| BACKENDS.iter().map(|b| b.to_string()).collect()),
        connections: list(1)
            .map(|v| v.iter().filter_map(|c| c.parse().ok()).collect())
            .unwrap_or(d.connections.clone()),
        bytes: args
            .get(2)
            .and_then(|m| m.parse::<u64>().ok())
            .map_or(d.bytes, |m| m * 1_000_000),
        trials: args.get(3).and_then(|t| t.parse().ok()).unwrap_or(d.trials),
        msg: args.get(4).and_then(|t| t.parse().ok()).unwrap_or(d.msg),
        out: std::env::temp_dir().join("bertha-throughput-example"),
    };
    match run(&opts) {
        Ok(r) => {
            for ((b, c, v), s) in &r.samples {
                println!(
                    "{b:>6} {c} conn {v:>6}: median {:.3} Gbit/s",
                    quantile(s, 0.5)
                );
            }
            for b in &opts.backends {
                for c in &opts.connections {
                    let m = |v: &str| quantile(&r.samples[&(b.clone(), *c, v.to_string())], 0.5);
                    println!(
                        "{b:>6} {c} conn: bertha/raw {:.3}",
                        m(VARIANTS[1]) / m(VARIANTS[0])
                    );
                }
            }
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
