//! `ccp-eval`: measures what CCP costs on this machine, as the thesis's chapter 4 does on
//! real software (see /work/shared/FIGURES.md), writing CSV files into `--out`:
//!
//! - `table-4-1`: one saturating bulk flow on loopback, `realflow` sender and receiver as
//!   separate processes: Linux TCP Reno (the kernel), our transport with NewReno in the
//!   datapath, and our transport with CCP Reno whose agent (`ccp agent`) runs in another
//!   process behind the Unix socket, reporting per ACK and every 10 ms. `table_4_1.csv`
//!   (one row per trial) and `table_4_1_summary.csv` (means, and ratios to in-datapath).
//! - `fig-4-7`: round-trip latency of a 64-byte message over the agent channel: a Unix
//!   datagram socket to an echo in another process (blocking and busy-polling receives),
//!   between two threads of one process (std channel), and the in-memory `ccp::ipc` channel
//!   the simulator uses. `fig_4_7_cdf.csv` (quantiles) and `fig_4_7_summary.csv`.
//! - `fig-4-8`: 1, 2, 4, …, 64 flows for a fixed time: aggregate goodput and CPU time
//!   (getrusage of each process, via wait4) of in-datapath Reno vs CCP Reno (10 ms and
//!   per-ACK reports). `fig_4_8.csv`.
//!
//! The `realflow` and `ccp` binaries must sit next to this one (as cargo builds them).

use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::fmt::Write as _;

#[derive(Parser, Debug)]
#[command(
    name = "ccp-eval",
    about = "CCP cost measurements (thesis Table 4.1, Figs 4.7, 4.8)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Throughput of one bulk flow: kernel, in-datapath, CCP per-ACK, CCP 10 ms.
    Table41 {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Seconds per run.
        #[arg(long, default_value_t = 5.0)]
        secs: f64,
        /// Trials per configuration.
        #[arg(long, default_value_t = 3)]
        trials: u32,
        /// MSS of our transport.
        #[arg(long, default_value_t = 1448)]
        mss: u32,
    },
    /// IPC round-trip latency CDFs.
    Fig47 {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Round trips per mechanism.
        #[arg(long, default_value_t = 100_000)]
        samples: usize,
    },
    /// Goodput and CPU vs number of flows.
    Fig48 {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Seconds per run.
        #[arg(long, default_value_t = 3.0)]
        secs: f64,
        /// Largest number of flows (powers of two from 1).
        #[arg(long, default_value_t = 64)]
        max_flows: u32,
        /// Trials per point.
        #[arg(long, default_value_t = 1)]
        trials: u32,
        /// MSS of our transport.
        #[arg(long, default_value_t = 1448)]
        mss: u32,
        /// Configurations: any of kernel, datapath, ccp-10ms, ccp-per-ack.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "datapath,ccp-10ms,ccp-per-ack"
        )]
        modes: Vec<String>,
    },
    /// (internal) Echo 64-byte datagrams on a Unix socket at PATH until killed.
    EchoUds {
        /// Socket path.
        path: PathBuf,
    },
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
    match Cli::parse().cmd {
        Cmd::Table41 {
            out,
            secs,
            trials,
            mss,
        } => table_4_1(&out, secs, trials, mss),
        Cmd::Fig47 { out, samples } => fig_4_7(&out, samples),
        Cmd::Fig48 {
            out,
            secs,
            max_flows,
            trials,
            mss,
            modes,
        } => {
            let modes = modes
                .iter()
                .map(|m| {
                    Ok(match m.as_str() {
                        "kernel" => Mode::Kernel,
                        "datapath" => Mode::InDatapath,
                        "ccp-10ms" => Mode::Ccp10ms,
                        "ccp-per-ack" => Mode::CcpPerAck,
                        o => bail!(
                            "--modes: unknown {o:?} (kernel, datapath, ccp-10ms, ccp-per-ack)"
                        ),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            fig_4_8(&out, secs, max_flows, trials, mss, &modes)
        }
        Cmd::EchoUds { path } => echo_uds(&path),
    }
}

fn sibling(name: &str) -> Result<PathBuf> {
    let me = std::env::current_exe()?;
    let p = me.with_file_name(name);
    if !p.exists() {
        bail!("{} not found next to {}: build it (cargo build --release -p datapaths --features tokio --bins)", name, me.display());
    }
    Ok(p)
}

/// CPU seconds (user + system) and exit status of a finished child, via wait4.
fn reap(child: &Child) -> Result<(f64, i32)> {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 writes into the two out-parameters.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::wait4(pid, &mut status, 0, &mut ru) < 0 {
            return Err(std::io::Error::last_os_error()).context("wait4");
        }
        ru
    };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    Ok((t(ru.ru_utime) + t(ru.ru_stime), status))
}

/// A child whose first stderr line was read; the rest is drained by a thread.
struct Proc {
    child: Child,
    first: String,
    rest: Option<std::thread::JoinHandle<String>>,
}

impl Proc {
    fn spawn(cmd: &mut Command, expect: &str) -> Result<Proc> {
        let mut child = cmd.stderr(Stdio::piped()).stdout(Stdio::null()).spawn()?;
        let mut err = BufReader::new(child.stderr.take().context("stderr")?);
        let mut first = String::new();
        err.read_line(&mut first)?;
        if !first.contains(expect) {
            let mut rest = String::new();
            let _ = err.read_to_string(&mut rest);
            let _ = child.kill();
            let _ = reap(&child);
            bail!("{:?} said {first:?} {rest:?}", cmd.get_program());
        }
        let rest = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Ok(Proc {
            child,
            first,
            rest: Some(rest),
        })
    }

    /// Waits for exit (after SIGTERM if `term`); returns CPU seconds and the rest of its
    /// stderr.
    fn finish(mut self, term: bool) -> Result<(f64, String)> {
        if term {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        }
        let (cpu, status) = reap(&self.child)?;
        let rest = self
            .rest
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        if !term && status != 0 {
            bail!("child failed ({status}): {rest}");
        }
        Ok((cpu, rest))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.rest.is_some() {
            let _ = self.child.kill();
            let _ = reap(&self.child);
        }
    }
}

/// How the sender's congestion control runs.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Kernel,
    InDatapath,
    CcpPerAck,
    Ccp10ms,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Kernel => "kernel (linux-tcp reno)",
            Mode::InDatapath => "in-datapath reno",
            Mode::CcpPerAck => "ccp reno per-ack",
            Mode::Ccp10ms => "ccp reno 10ms",
        }
    }
}

/// One measured run.
struct Run {
    goodput_bps: f64,
    sender_cpu: f64,
    receiver_cpu: f64,
    agent_cpu: f64,
    wall: f64,
    retransmits: u64,
    /// Messages the CCP datapath queued for the agent, and datagrams the agent received.
    to_agent: u64,
    agent_got: u64,
}

fn run_bulk(mode: Mode, flows: u32, secs: f64, mss: u32, tag: &str) -> Result<Run> {
    let realflow = sibling("realflow")?;
    let dir = tempdir()?;
    let (transport, cc) = match mode {
        Mode::Kernel => ("linux-tcp", "reno".to_string()),
        Mode::InDatapath => ("ours", "reno".to_string()),
        Mode::CcpPerAck | Mode::Ccp10ms => ("ours", "ccp:reno".to_string()),
    };
    let agent_name = format!("eval-{}-{tag}", std::process::id());
    let agent = match mode {
        Mode::CcpPerAck | Mode::Ccp10ms => {
            let param = if mode == Mode::CcpPerAck {
                "report=per_ack"
            } else {
                "report_interval_us=10000"
            };
            Some(Proc::spawn(
                Command::new(sibling("ccp")?).args([
                    "agent",
                    "--alg",
                    "algs:reno",
                    "--param",
                    param,
                    "--ipc-name",
                    &agent_name,
                ]),
                "listening",
            )?)
        }
        _ => None,
    };
    let recv_out = dir.join("recv.json");
    let send_out = dir.join("send.json");
    let flows_s = flows.to_string();
    let mss_s = mss.to_string();
    let recv = Proc::spawn(
        Command::new(&realflow)
            .args(["bulk-recv", "--bind", "127.0.0.1:0", "--no-verify"])
            .args([
                "--transport",
                transport,
                "--flows",
                &flows_s,
                "--mss",
                &mss_s,
            ])
            .arg("--out")
            .arg(&recv_out),
        "listening",
    )?;
    let addr = recv
        .first
        .trim()
        .rsplit(' ')
        .next()
        .context("receiver address")?
        .to_owned();
    let secs_s = format!("{secs}");
    let t0 = Instant::now();
    let send = Command::new(&realflow)
        .args([
            "bulk-send",
            "--to",
            &addr,
            "--duration-s",
            &secs_s,
            "--no-verify",
        ])
        .args([
            "--transport",
            transport,
            "--flows",
            &flows_s,
            "--mss",
            &mss_s,
        ])
        .args(["--cc", &cc, "--ccp-agent", &agent_name])
        .arg("--out")
        .arg(&send_out)
        .stderr(Stdio::piped())
        .spawn()?;
    let (sender_cpu, status) = reap(&send)?;
    let wall = t0.elapsed().as_secs_f64();
    if status != 0 {
        let mut e = String::new();
        if let Some(mut s) = send.stderr {
            let _ = s.read_to_string(&mut e);
        }
        bail!("{} sender failed: {e}", mode.name());
    }
    let (receiver_cpu, _) = recv.finish(false)?;
    let (agent_cpu, agent_got) = match agent {
        Some(a) => {
            let (cpu, rest) = a.finish(true)?;
            // "ccp agent stopped by SIGTERM after N datagrams on …"
            let n = rest
                .split(" after ")
                .nth(1)
                .and_then(|t| t.split(' ').next())
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            (cpu, n)
        }
        None => (0.0, 0),
    };
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&send_out)?)?;
    let _ = std::fs::remove_dir_all(&dir);
    let mut bytes = 0u64;
    let mut longest = 0f64;
    let mut retransmits = 0u64;
    for f in s["flows"].as_array().context("flows")? {
        bytes += f["bytes"].as_u64().unwrap_or(0);
        longest = longest.max(f["secs"].as_f64().unwrap_or(0.0));
        retransmits += f["retransmitted_segments"].as_u64().unwrap_or(0);
    }
    Ok(Run {
        goodput_bps: if longest > 0.0 {
            bytes as f64 * 8.0 / longest
        } else {
            0.0
        },
        sender_cpu,
        receiver_cpu,
        agent_cpu,
        wall,
        retransmits,
        to_agent: s["ccp"]["to_agent"].as_u64().unwrap_or(0),
        agent_got,
    })
}

/// A fresh scratch directory under the system's temporary directory.
fn tempdir() -> Result<PathBuf> {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "ccp-eval-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

fn table_4_1(out: &Path, secs: f64, trials: u32, mss: u32) -> Result<()> {
    std::fs::create_dir_all(out)?;
    let modes = [
        Mode::Kernel,
        Mode::InDatapath,
        Mode::CcpPerAck,
        Mode::Ccp10ms,
    ];
    let mut csv = String::from(
        "config,trial,goodput_gbps,sender_cpu_s,receiver_cpu_s,agent_cpu_s,wall_s,retransmits,reports_queued,agent_datagrams\n",
    );
    let mut means = Vec::new();
    for mode in modes {
        let mut sum = 0.0;
        for t in 0..trials {
            let r = run_bulk(mode, 1, secs, mss, &format!("t{t}")).with_context(|| mode.name())?;
            eprintln!(
                "{:<24} trial {t}: {:.3} Gbit/s (cpu: sender {:.2} s, receiver {:.2} s, agent {:.2} s)",
                mode.name(),
                r.goodput_bps / 1e9,
                r.sender_cpu,
                r.receiver_cpu,
                r.agent_cpu
            );
            writeln!(
                csv,
                "{},{t},{:.4},{:.3},{:.3},{:.3},{:.3},{},{},{}",
                mode.name(),
                r.goodput_bps / 1e9,
                r.sender_cpu,
                r.receiver_cpu,
                r.agent_cpu,
                r.wall,
                r.retransmits,
                r.to_agent,
                r.agent_got
            )?;
            sum += r.goodput_bps;
        }
        means.push((mode, sum / f64::from(trials.max(1))));
    }
    std::fs::write(out.join("table_4_1.csv"), csv)?;
    let base = means
        .iter()
        .find(|(m, _)| *m == Mode::InDatapath)
        .map_or(1.0, |x| x.1);
    let kernel = means
        .iter()
        .find(|(m, _)| *m == Mode::Kernel)
        .map_or(1.0, |x| x.1);
    let mut s = String::from("config,mean_goodput_gbps,vs_in_datapath,vs_kernel\n");
    for (m, g) in &means {
        writeln!(
            s,
            "{},{:.4},{:.3},{:.3}",
            m.name(),
            g / 1e9,
            g / base,
            g / kernel
        )?;
    }
    std::fs::write(out.join("table_4_1_summary.csv"), &s)?;
    print!("{s}");
    Ok(())
}

fn fig_4_8(
    out: &Path,
    secs: f64,
    max_flows: u32,
    trials: u32,
    mss: u32,
    modes: &[Mode],
) -> Result<()> {
    std::fs::create_dir_all(out)?;
    let mut csv = String::from(
        "config,flows,trial,goodput_gbps,sender_cpu_s,agent_cpu_s,receiver_cpu_s,wall_s,sender_plus_agent_cpu_pct,reports_queued,agent_datagrams\n",
    );
    let mut n = 1;
    while n <= max_flows {
        for &mode in modes {
            for t in 0..trials {
                let r = run_bulk(mode, n, secs, mss, &format!("f{n}t{t}"))
                    .with_context(|| format!("{} with {n} flows", mode.name()))?;
                let pct = (r.sender_cpu + r.agent_cpu) / r.wall * 100.0;
                eprintln!(
                    "{:<20} {n:>2} flows: {:.3} Gbit/s, sender {:.2} s + agent {:.2} s CPU in {:.2} s ({pct:.0} %)",
                    mode.name(),
                    r.goodput_bps / 1e9,
                    r.sender_cpu,
                    r.agent_cpu,
                    r.wall
                );
                writeln!(
                    csv,
                    "{},{n},{t},{:.4},{:.3},{:.3},{:.3},{:.3},{pct:.1},{},{}",
                    mode.name(),
                    r.goodput_bps / 1e9,
                    r.sender_cpu,
                    r.agent_cpu,
                    r.receiver_cpu,
                    r.wall,
                    r.to_agent,
                    r.agent_got
                )?;
            }
        }
        n *= 2;
    }
    std::fs::write(out.join("fig_4_8.csv"), csv)?;
    Ok(())
}

fn echo_uds(path: &Path) -> Result<()> {
    let _ = std::fs::remove_file(path);
    let s = UnixDatagram::bind(path)?;
    eprintln!("echo listening on {}", path.display());
    let mut buf = [0u8; 256];
    loop {
        let (n, from) = s.recv_from(&mut buf)?;
        if let Some(p) = from.as_pathname() {
            let _ = s.send_to(&buf[..n], p);
        }
    }
}

fn quantiles(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    (0..=1000)
        .map(|i| {
            let idx = ((v.len().saturating_sub(1)) as f64 * f64::from(i) / 1000.0).round();
            v.get(idx as usize).copied().unwrap_or(0.0)
        })
        .collect()
}

fn fig_4_7(out: &Path, samples: usize) -> Result<()> {
    std::fs::create_dir_all(out)?;
    let dir = tempdir()?;
    let echo_path = dir.join("echo.sock");
    let me = std::env::current_exe()?;
    let echo = Proc::spawn(
        Command::new(&me).arg("echo-uds").arg(&echo_path),
        "listening",
    )?;
    let mut results: Vec<(&str, Vec<f64>)> = Vec::new();
    let msg = [0x5au8; 64];
    let mut buf = [0u8; 256];

    // Unix datagram socket to another process, blocking receive.
    let me_path = dir.join("me.sock");
    let s = UnixDatagram::bind(&me_path)?;
    s.connect(&echo_path)?;
    let warm = samples / 10;
    let mut v = Vec::with_capacity(samples);
    for i in 0..samples + warm {
        let t = Instant::now();
        s.send(&msg)?;
        s.recv(&mut buf)?;
        if i >= warm {
            v.push(t.elapsed().as_nanos() as f64 / 1e3);
        }
    }
    results.push(("uds process blocking", v));

    // The same, busy-polling a non-blocking socket.
    s.set_nonblocking(true)?;
    let mut v = Vec::with_capacity(samples);
    for i in 0..samples + warm {
        let t = Instant::now();
        s.send(&msg)?;
        loop {
            match s.recv(&mut buf) {
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::hint::spin_loop(),
                Err(e) => return Err(e.into()),
            }
        }
        if i >= warm {
            v.push(t.elapsed().as_nanos() as f64 / 1e3);
        }
    }
    results.push(("uds process nonblocking", v));
    drop(echo);

    // Two threads of one process over std channels.
    let (tx_a, rx_a) = std::sync::mpsc::channel::<[u8; 64]>();
    let (tx_b, rx_b) = std::sync::mpsc::channel::<[u8; 64]>();
    let h = std::thread::spawn(move || {
        while let Ok(m) = rx_a.recv() {
            if tx_b.send(m).is_err() {
                break;
            }
        }
    });
    let mut v = Vec::with_capacity(samples);
    for i in 0..samples + warm {
        let t = Instant::now();
        tx_a.send(msg)?;
        rx_b.recv()?;
        if i >= warm {
            v.push(t.elapsed().as_nanos() as f64 / 1e3);
        }
    }
    drop(tx_a);
    let _ = h.join();
    results.push(("in-process thread channel", v));

    // The in-memory ccp::ipc channel (what the simulator and the in-process shim use),
    // both ends on this thread.
    use ccp::ipc::Transport;
    let (mut a, mut b) = ccp::ipc::channel_pair(netrt::Duration::ZERO);
    let mut v = Vec::with_capacity(samples);
    for i in 0..samples + warm {
        let t = Instant::now();
        let now = netrt::Instant::ZERO;
        a.send_to(now, &(), &msg)?;
        let _ = b.recv_from(now, &mut buf)?;
        b.send_to(now, &(), &buf[..64])?;
        let _ = a.recv_from(now, &mut buf)?;
        if i >= warm {
            v.push(t.elapsed().as_nanos() as f64 / 1e3);
        }
    }
    results.push(("in-process ccp::ipc channel", v));
    let _ = std::fs::remove_dir_all(&dir);

    let mut cdf = String::from("mechanism,quantile,rtt_us\n");
    let mut sum = String::from("mechanism,samples,p5_us,p50_us,p95_us,p99_us,max_us\n");
    for (name, v) in results {
        let n = v.len();
        let q = quantiles(v);
        for (i, x) in q.iter().enumerate() {
            writeln!(cdf, "{name},{:.3},{x:.3}", i as f64 / 1000.0)?;
        }
        writeln!(
            sum,
            "{name},{n},{:.2},{:.2},{:.2},{:.2},{:.2}",
            q[50], q[500], q[950], q[990], q[1000]
        )?;
    }
    std::fs::write(out.join("fig_4_7_cdf.csv"), cdf)?;
    std::fs::write(out.join("fig_4_7_summary.csv"), &sum)?;
    print!("{sum}");
    Ok(())
}
