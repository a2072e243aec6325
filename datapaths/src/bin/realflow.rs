//! `realflow`: the project's transport (or Linux TCP) on real sockets, one end per process,
//! so that an emulator can run each end in its own network namespace. Each command prints
//! one JSON object (or writes it to `--out`): the per-stream reports, the endpoint counters
//! and this process's CPU time (getrusage).
//!
//! ```text
//! realflow bulk-recv --bind 0.0.0.0:5000 [--flows N] [--transport ours|linux-tcp]
//! realflow bulk-send --to 10.0.0.2:5000 (--bytes N | --duration-s S) [--flows N]
//!          --cc reno|cubic|dctcp|bbr|ccp:<alg> [--ccp-agent portus] [--transport ours|linux-tcp]
//! realflow rr-server --bind 0.0.0.0:5001 [--cc ...] [--duration-s S]
//! realflow rr-client --to 10.0.0.2:5001 --requests 100 --req-bytes 100 --resp-bytes 10000
//! ```
//!
//! `ccp:<alg>` runs the CCP datapath in this process and expects an agent (e.g.
//! `ccp agent --alg <alg> --ipc-name portus`) at `/tmp/ccp/<--ccp-agent>`; `bbr` exists only
//! with `--transport linux-tcp`, `dctcp` only with ours.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use datapaths::stream::endpoint::{DropHook, EndpointConfig};
use datapaths::stream::{self, ccp_remote, linux_tcp, Amount};
use datapaths::tokio_rt::TokioRuntime;
use netrt::Duration;
use serde_json::json;
use transport::{CcFactory, CcKind, TransportConfig};

#[derive(Parser, Debug)]
#[command(
    name = "realflow",
    about = "Bulk and request/response flows on real sockets"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Transport {
    /// The project's transport over UDP.
    Ours,
    /// The kernel's TCP.
    LinuxTcp,
}

#[derive(Args, Debug, Clone)]
struct Common {
    /// Which transport.
    #[arg(long, value_enum, default_value = "ours")]
    transport: Transport,
    /// Write the JSON result here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Do not digest the bytes (saves CPU in throughput runs).
    #[arg(long)]
    no_verify: bool,
    /// Maximum segment size (ours).
    #[arg(long, default_value_t = 1448)]
    mss: u32,
    /// Minimum RTO in milliseconds (ours).
    #[arg(long, default_value_t = 200)]
    min_rto_ms: u64,
    /// Drop this fraction of the datagrams this process sends (ours; a test hook).
    #[arg(long, default_value_t = 0.0)]
    drop: f64,
    /// Seed of the drop decisions.
    #[arg(long, default_value_t = 1)]
    drop_seed: u64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120.0)]
    limit_s: f64,
}

#[derive(Args, Debug, Clone)]
struct CcArgs {
    /// Congestion control: reno, cubic, dctcp (ours), bbr (linux-tcp), `ccp:<alg>` (ours).
    #[arg(long, default_value = "reno")]
    cc: String,
    /// Name of the CCP agent's socket under /tmp/ccp/ (for `ccp:<alg>`).
    #[arg(long, default_value = datapaths::unix::DEFAULT_IPC_NAME)]
    ccp_agent: String,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Receive bulk flows, report when all are complete.
    BulkRecv {
        /// Listen address.
        #[arg(long)]
        bind: SocketAddr,
        /// Flows to wait for.
        #[arg(long, default_value_t = 1)]
        flows: u32,
        /// Keep answering this long after the last flow (ours).
        #[arg(long, default_value_t = 500)]
        linger_ms: u64,
        #[command(flatten)]
        common: Common,
    },
    /// Send bulk flows.
    BulkSend {
        /// The receiver.
        #[arg(long)]
        to: SocketAddr,
        /// Bytes per flow.
        #[arg(long, conflicts_with = "duration_s")]
        bytes: Option<u64>,
        /// Send for this long instead.
        #[arg(long)]
        duration_s: Option<f64>,
        /// Parallel flows.
        #[arg(long, default_value_t = 1)]
        flows: u32,
        /// Local address (ours).
        #[arg(long, default_value = "0.0.0.0:0")]
        bind: SocketAddr,
        #[command(flatten)]
        cc: CcArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Answer requests.
    RrServer {
        /// Listen address.
        #[arg(long)]
        bind: SocketAddr,
        /// Stop after this many seconds (default: run until killed).
        #[arg(long)]
        duration_s: Option<f64>,
        #[command(flatten)]
        cc: CcArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Send requests one after another and report each completion time.
    RrClient {
        /// The server.
        #[arg(long)]
        to: SocketAddr,
        /// Number of requests.
        #[arg(long, default_value_t = 100)]
        requests: u64,
        /// Request size (at least 16).
        #[arg(long, default_value_t = 100)]
        req_bytes: u64,
        /// Response size (at least 1).
        #[arg(long, default_value_t = 10_000)]
        resp_bytes: u64,
        /// Local address (ours).
        #[arg(long, default_value = "0.0.0.0:0")]
        bind: SocketAddr,
        #[command(flatten)]
        cc: CcArgs,
        #[command(flatten)]
        common: Common,
    },
}

fn secs(s: f64) -> Result<Duration> {
    if !(s.is_finite() && s >= 0.0) {
        bail!("expected a finite number of seconds >= 0, got {s}");
    }
    Ok(Duration::from_secs_f64(s))
}

fn endpoint_cfg(c: &Common) -> Result<EndpointConfig> {
    if !(0.0..=1.0).contains(&c.drop) {
        bail!("--drop must be within 0..=1, got {}", c.drop);
    }
    let transport = TransportConfig::default()
        .with_mss(c.mss)
        .with_min_rto(Duration::from_millis(c.min_rto_ms));
    transport.validate().context("--mss / --min-rto-ms")?;
    if c.mss as usize > stream::wire::MAX_PAYLOAD {
        bail!("--mss must be at most {}", stream::wire::MAX_PAYLOAD);
    }
    Ok(EndpointConfig {
        transport,
        verify: !c.no_verify,
        drop: (c.drop > 0.0).then_some(DropHook {
            rate: c.drop,
            seed: c.drop_seed,
        }),
        ..EndpointConfig::default()
    })
}

/// The congestion control of our transport; for CCP also the factory (for its counters).
type Ccp = Rc<ccp_shim::CcpFactory<TokioRuntime, ccp::algs::AnyAlgorithm>>;

fn our_cc(rt: &TokioRuntime, cc: &CcArgs) -> Result<(Rc<dyn CcFactory>, Option<Ccp>)> {
    if let Some(alg) = cc.cc.strip_prefix("ccp:") {
        let f = ccp_remote::factory(rt, &cc.ccp_agent, alg)
            .with_context(|| format!("--ccp-agent {}", cc.ccp_agent))?;
        return Ok((f.clone(), Some(f)));
    }
    let kind = match cc.cc.as_str() {
        "reno" => CcKind::Reno,
        "cubic" => CcKind::Cubic,
        "dctcp" => CcKind::Dctcp,
        other => bail!("--cc {other:?}: ours knows reno, cubic, dctcp and ccp:<alg>"),
    };
    Ok((Rc::new(kind), None))
}

/// The CCP shim's counters (messages to and from the agent, program invocations).
fn ccp_stats(f: &Option<Ccp>) -> serde_json::Value {
    match f {
        None => serde_json::Value::Null,
        Some(f) => {
            let s = f.stats();
            json!({
                "to_agent": s.to_agent, "to_datapath": s.to_datapath,
                "invocations": s.invocations, "invoke_errors": s.invoke_errors,
                "message_errors": s.message_errors, "send_failures": s.send_failures,
                "flows_fell_back": s.flows_fell_back,
            })
        }
    }
}

fn tcp_cc(cc: &CcArgs) -> Result<&str> {
    if cc.cc.starts_with("ccp:") || cc.cc == "dctcp" {
        bail!(
            "--cc {} is not for linux-tcp (available: {})",
            cc.cc,
            linux_tcp::available()
        );
    }
    Ok(&cc.cc)
}

/// User and system CPU seconds of this process.
fn rusage() -> serde_json::Value {
    // SAFETY: a zeroed rusage is valid; getrusage writes into it.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    json!({ "user_s": t(ru.ru_utime), "sys_s": t(ru.ru_stime) })
}

fn emit(common: &Common, mut v: serde_json::Value) -> Result<()> {
    v["rusage"] = rusage();
    let text = serde_json::to_string_pretty(&v)?;
    match &common.out {
        Some(p) => std::fs::write(p, text + "\n").with_context(|| format!("{}", p.display()))?,
        None => println!("{text}"),
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    let rt = TokioRuntime::new()?;
    match cli.cmd {
        Cmd::BulkRecv {
            bind,
            flows,
            linger_ms,
            common,
        } => {
            let limit = secs(common.limit_s)?;
            let v = match common.transport {
                Transport::Ours => {
                    let cfg = endpoint_cfg(&common)?;
                    let (reports, stats) = rt.block_on(stream::bulk_recv(
                        &rt,
                        bind,
                        flows,
                        cfg,
                        Duration::from_millis(linger_ms),
                        Some(limit),
                        |a| eprintln!("realflow listening on {a}"),
                    ))?;
                    json!({ "role": "bulk-recv", "transport": "ours", "flows": reports, "stats": stats })
                }
                Transport::LinuxTcp => {
                    let reports = rt.block_on(async {
                        let l = tokio::net::TcpListener::bind(bind).await?;
                        eprintln!("realflow listening on {}", l.local_addr()?);
                        let r = tokio::time::timeout(
                            limit.into(),
                            linux_tcp::bulk_recv(l, flows, !common.no_verify),
                        )
                        .await
                        .context("timed out")??;
                        anyhow::Ok(r)
                    })?;
                    json!({ "role": "bulk-recv", "transport": "linux-tcp", "flows": reports })
                }
            };
            emit(&common, v)
        }
        Cmd::BulkSend {
            to,
            bytes,
            duration_s,
            flows,
            bind,
            cc,
            common,
        } => {
            let amount = match (bytes, duration_s) {
                (Some(b), None) => Amount::Bytes(b),
                (None, Some(s)) => Amount::Duration(secs(s)?),
                _ => bail!("give --bytes N or --duration-s S"),
            };
            let limit = secs(common.limit_s)?;
            let t0 = std::time::Instant::now();
            let v = match common.transport {
                Transport::Ours => {
                    let cfg = endpoint_cfg(&common)?;
                    let (f, ccp) = our_cc(&rt, &cc)?;
                    let (reports, stats) = rt.block_on(stream::bulk_send(
                        &rt, bind, to, flows, amount, cfg, f, limit,
                    ))?;
                    json!({
                        "role": "bulk-send", "transport": "ours", "flows": reports, "stats": stats,
                        "ccp": ccp_stats(&ccp),
                    })
                }
                Transport::LinuxTcp => {
                    let name = tcp_cc(&cc)?.to_owned();
                    let reports = rt.block_on(async {
                        tokio::time::timeout(
                            limit.into(),
                            linux_tcp::bulk_send(to, flows, amount, &name, !common.no_verify),
                        )
                        .await
                        .context("timed out")?
                        .map_err(anyhow::Error::from)
                    })?;
                    json!({ "role": "bulk-send", "transport": "linux-tcp", "flows": reports })
                }
            };
            let mut v = v;
            v["wall_s"] = json!(t0.elapsed().as_secs_f64());
            emit(&common, v)
        }
        Cmd::RrServer {
            bind,
            duration_s,
            cc,
            common,
        } => {
            let stop = duration_s.map(secs).transpose()?;
            let served = match common.transport {
                Transport::Ours => {
                    let cfg = endpoint_cfg(&common)?;
                    let (f, _) = our_cc(&rt, &cc)?;
                    rt.block_on(stream::rr_server(&rt, bind, cfg, f, stop, |a| {
                        eprintln!("realflow listening on {a}")
                    }))?
                }
                Transport::LinuxTcp => {
                    let name = tcp_cc(&cc)?.to_owned();
                    rt.block_on(async {
                        let l = tokio::net::TcpListener::bind(bind).await?;
                        eprintln!("realflow listening on {}", l.local_addr()?);
                        linux_tcp::rr_server(l, &name, stop.map(Into::into))
                            .await
                            .map_err(anyhow::Error::from)
                    })?
                }
            };
            emit(&common, json!({ "role": "rr-server", "served": served }))
        }
        Cmd::RrClient {
            to,
            requests,
            req_bytes,
            resp_bytes,
            bind,
            cc,
            common,
        } => {
            let limit = secs(common.limit_s)?;
            let resp_bytes = resp_bytes.max(1);
            let results = match common.transport {
                Transport::Ours => {
                    let cfg = endpoint_cfg(&common)?;
                    let (f, _) = our_cc(&rt, &cc)?;
                    rt.block_on(stream::rr_client(
                        &rt, bind, to, requests, req_bytes, resp_bytes, cfg, f, limit,
                    ))?
                }
                Transport::LinuxTcp => {
                    let name = tcp_cc(&cc)?.to_owned();
                    rt.block_on(async {
                        tokio::time::timeout(
                            limit.into(),
                            linux_tcp::rr_client(
                                to,
                                requests,
                                req_bytes,
                                resp_bytes,
                                &name,
                                !common.no_verify,
                            ),
                        )
                        .await
                        .context("timed out")?
                        .map_err(anyhow::Error::from)
                    })?
                }
            };
            let mut fcts: Vec<f64> = results.iter().map(|r| r.fct_us).collect();
            fcts.sort_by(f64::total_cmp);
            let q = |p: f64| {
                fcts.get(((fcts.len().saturating_sub(1)) as f64 * p).round() as usize)
                    .copied()
            };
            let transport = match common.transport {
                Transport::Ours => "ours",
                Transport::LinuxTcp => "linux-tcp",
            };
            emit(
                &common,
                json!({
                    "role": "rr-client", "transport": transport, "cc": cc.cc,
                    "fct_us": { "p50": q(0.5), "p99": q(0.99), "max": q(1.0) },
                    "requests": results,
                }),
            )
        }
    }
}
