//! `ccp`: check a datapath program without writing Rust, or run a built-in algorithm as a
//! CCP agent on the Unix socket that libccp datapaths talk to.
//!
//! ```text
//! ccp compile prog.ccp [--set name=value]...   # prints the instructions or the first error
//! ccp agent --alg reno [--ipc-name portus]      # serves /tmp/ccp/portus until stopped
//! ccp agent --alg cubic --param report=per_ack  # an algorithm of `ccp::algs`, with parameters
//! ```
//!
//! `--alg const` and `--alg reno` (without `--param`) are the small built-in algorithms of
//! `ccp::agent::builtin`; any other name, `reno` with parameters, or a name prefixed
//! `algs:` is an algorithm of `ccp::algs` (reno, cubic, dctcp, bbr, copa, vegas, nimbus,
//! aggregate) built from the `--param NAME=VALUE` pairs (`true`/`false`, integers, floats,
//! anything else a string).
//!
//! The agent accepts only a plain `--ipc-name` (see [`check_ipc_name`]), refuses to replace
//! the socket of a running agent (naming its process), and removes its socket file when it
//! stops: on SIGINT (Ctrl-C), SIGTERM or SIGHUP, and on an error.

use anyhow::{bail, Context, Result};
use ccp::agent::builtin::{self, ConstCwnd, Reno};
use ccp::agent::{Agent, AgentConfig, Algorithm};
use ccp::program::Program;
use clap::{Parser, Subcommand};
use datapaths::unix::{check_ipc_name, run_agent, UnixTransport, DEFAULT_IPC_NAME};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

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
        /// Socket name under /tmp/ccp/ (portus's default is `portus`): a plain name of
        /// characters from A-Z a-z 0-9 . _ -, not starting with '.'.
        #[arg(long, default_value = DEFAULT_IPC_NAME, value_parser = ipc_name)]
        ipc_name: String,
        /// Window of the `const` algorithm, in packets.
        #[arg(long, default_value_t = 10)]
        packets: u32,
        /// A parameter of a `ccp::algs` algorithm, e.g. `--param report=per_ack` or
        /// `--param report_interval_us=10000` (repeatable).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
    },
}

/// `--ipc-name`'s parser: clap's error then names the flag and quotes this message.
fn ipc_name(s: &str) -> Result<String, String> {
    check_ipc_name(s).map_err(|e| e.to_string())?;
    Ok(s.to_owned())
}

/// Set by the signal handler: stops the agent loop, which then returns and drops (removes)
/// the socket.
static STOP: AtomicBool = AtomicBool::new(false);
/// The signal that set [`STOP`].
static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    // Only lock-free atomic stores: async-signal-safe.
    SIGNAL.store(sig, Ordering::Relaxed);
    STOP.store(true, Ordering::Relaxed);
}

/// SIGINT, SIGTERM and SIGHUP stop the agent loop instead of killing the process, so that
/// the socket file is removed on the way out.
fn stop_on_signals() -> Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction is a valid value; the handler only stores to atomics;
        // the pointers passed are valid for the calls.
        let rc = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error()).context("installing a signal handler");
        }
    }
    Ok(())
}

fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGINT => "SIGINT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGHUP => "SIGHUP".into(),
        n => format!("signal {n}"),
    }
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
    // Before binding: a signal from then on stops the loop (at once if it came early).
    stop_on_signals()?;
    // `t` removes its socket file when dropped: on return, on `?`, on a panic.
    let mut t = UnixTransport::bind(ipc_name)
        .with_context(|| format!("--ipc-name {ipc_name}: cannot serve /tmp/ccp/{ipc_name}"))?;
    eprintln!("ccp agent listening on {}", t.path().display());
    let stats = run_agent(&mut agent, &mut t, &STOP)
        .with_context(|| format!("serving {}", t.path().display()))?;
    let path = t.path().to_owned();
    drop(t);
    let file = if path.exists() {
        "left it: another socket replaced ours meanwhile"
    } else {
        "removed it"
    };
    eprintln!(
        "ccp agent stopped by {} after {} datagrams on {}; {file}",
        signal_name(SIGNAL.load(Ordering::Relaxed)),
        stats.received,
        path.display()
    );
    Ok(())
}

/// `true`/`false`, an integer, a float, else a string.
fn param_value(v: &str) -> ccp::algs::ParamValue {
    use ccp::algs::ParamValue;
    match v {
        "true" => ParamValue::Bool(true),
        "false" => ParamValue::Bool(false),
        _ => v
            .parse::<i64>()
            .map(ParamValue::Int)
            .or_else(|_| v.parse::<f64>().map(ParamValue::Float))
            .unwrap_or_else(|_| ParamValue::Str(v.to_owned())),
    }
}

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain on one line (and no backtrace, whatever RUST_BACKTRACE says).
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Compile { file, set } => compile(&file, &set),
        Cmd::Agent {
            alg,
            ipc_name,
            packets,
            params,
        } => match alg.as_str() {
            "const" if params.is_empty() => serve(ConstCwnd { packets }, &ipc_name),
            "reno" if params.is_empty() => serve(Reno, &ipc_name),
            other => {
                let name = other.strip_prefix("algs:").unwrap_or(other);
                if !ccp::algs::names().contains(&name) && name != "nimbus" {
                    bail!(
                        "unknown algorithm {other:?}; built-in: {}; ccp::algs: {}",
                        builtin::NAMES.join(", "),
                        ccp::algs::names().join(", ")
                    );
                }
                let mut map = ccp::algs::Params::new();
                for p in &params {
                    let Some((k, v)) = p.split_once('=') else {
                        bail!("--param expects NAME=VALUE, got {p:?}");
                    };
                    map.insert(k.to_owned(), param_value(v));
                }
                let a = ccp::algs::build(name, &map).with_context(|| format!("--alg {other}"))?;
                serve(a, &ipc_name)
            }
        },
    }
}
