//! `ccp`: check a datapath program without writing Rust, or run a built-in algorithm as a
//! CCP agent on the Unix socket that libccp datapaths talk to.
//!
//! ```text
//! ccp compile prog.ccp [--set name=value]...   # prints the instructions or the first error
//! ccp agent --alg reno [--ipc-name portus]      # serves /tmp/ccp/portus until killed
//! ```

use anyhow::{bail, Context, Result};
use ccp::agent::builtin::{self, ConstCwnd, Reno};
use ccp::agent::{Agent, AgentConfig, Algorithm};
use ccp::program::Program;
use clap::{Parser, Subcommand};
use datapaths::unix::{run_agent, UnixTransport, DEFAULT_IPC_NAME};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

#[derive(Parser, Debug)]
#[command(name = "ccp", about = "CCP datapath programs and agents")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Compile a datapath program and print its instructions, or the first error.
    Compile {
        /// The program file.
        file: PathBuf,
        /// Override a field's initial value, e.g. `--set Report.acked=0` (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
    },
    /// Run a built-in algorithm as the CCP agent on the Unix socket.
    Agent {
        /// Algorithm: `const` or `reno`.
        #[arg(long)]
        alg: String,
        /// Socket name under /tmp/ccp/ (portus's default is `portus`).
        #[arg(long, default_value = DEFAULT_IPC_NAME)]
        ipc_name: String,
        /// Window of the `const` algorithm, in packets.
        #[arg(long, default_value_t = 10)]
        packets: u32,
    },
}

fn print_program(p: &Program) {
    println!(
        "{} clauses, {} instructions",
        p.expressions.len(),
        p.instrs.len()
    );
    print!("{p}");
}

fn compile(file: &PathBuf, set: &[String]) -> Result<()> {
    let src = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let mut overrides = Vec::new();
    for s in set {
        let Some((n, v)) = s.split_once('=') else {
            bail!("--set expects NAME=VALUE, got {s:?}");
        };
        let v: u64 = v.parse().with_context(|| format!("value of {n}"))?;
        overrides.push((n.to_string(), v));
    }
    let ov: Vec<(&str, u64)> = overrides.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    match ccp::lang::compile_bytes(&src, &ov) {
        Ok(c) => {
            for w in &c.warnings {
                eprintln!("{}: warning: {w}", file.display());
            }
            print_program(&c.program);
            Ok(())
        }
        Err(e) => {
            eprintln!("{}: error: {e}", file.display());
            std::process::exit(1);
        }
    }
}

fn serve<A: Algorithm>(alg: A, ipc_name: &str) -> Result<()> {
    // A fresh instance tag per start, so that program uids never repeat across restarts.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u32)
        .unwrap_or(0);
    let tag = nanos ^ std::process::id().rotate_left(11);
    let mut agent: Agent<A, PathBuf> = Agent::new(alg, AgentConfig::default().instance(tag))?;
    let mut t =
        UnixTransport::bind(ipc_name).with_context(|| format!("binding /tmp/ccp/{ipc_name}"))?;
    eprintln!("ccp agent listening on {}", t.path().display());
    let stop = AtomicBool::new(false);
    run_agent(&mut agent, &mut t, &stop)?;
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Compile { file, set } => compile(&file, &set),
        Cmd::Agent {
            alg,
            ipc_name,
            packets,
        } => match alg.as_str() {
            "const" => serve(ConstCwnd { packets }, &ipc_name),
            "reno" => serve(Reno, &ipc_name),
            other => bail!(
                "unknown algorithm {other:?}; built-in: {}",
                builtin::NAMES.join(", ")
            ),
        },
    }
}
