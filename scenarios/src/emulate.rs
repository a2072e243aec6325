//! `testbed emulate`: a scenario's workload run for real through the link emulator
//! ([`emulator`]), with the project's transport or Linux TCP, writing the result files of a
//! simulated run (marked as real and non-deterministic) so that `testbed compare` can put the
//! two side by side.
//!
//! What runs: the scenario's topology is built by the emulator (every host a network namespace
//! with a TUN device, every link direction the simulator's port pipeline on the monotonic
//! clock); before the flows, a UDP ping between the first pair measures the base RTT; then
//! each flow of the `bulk` workloads is a pair of `realflow` processes (the receiver in the
//! receiving host's namespace, the sender in the sending host's, started at the flow's start
//! time), whose JSON reports become `flows.csv`. A CCP flow's agent is a `ccp agent` process
//! (Unix socket, outside the namespaces: Unix sockets are not namespaced by path).
//!
//! Checked before anything is created: the topology (the emulator's own validation, which
//! names the field at fault), the workloads (only `bulk`, one flow per pair), the congestion
//! control each transport offers, and that the helper programs exist. Errors name the field
//! or program and what was expected.
//!
//! Files written into the results directory: `summary.csv` (with `world = emulated` and
//! `deterministic = false`), `flows.csv`, `ports.csv`, `timeseries.csv` (the same series
//! names as a simulated run), `emulator.csv` (the emulator's counters and timing error),
//! `scenario.toml` (the effective scenario) and the raw `realflow` reports under `flows/`.
//!
//! [`compare`] (module `compare`) puts a simulated and an emulated run side by side.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use emulator::{Emulation, EmulatorConfig, EmulatorError};
use netmodels::packet::NodeId;
use sim_core::SimDuration;
use transport::CcKind;

use crate::cc::CcChoice;
use crate::config::Loaded;
use crate::workload::{roles, WorkloadConfig};

mod compare;

pub use compare::{compare, CompareRow};

/// Which transport the flows use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RealTransport {
    /// The project's transport over UDP (`transport`, driven by tokio).
    Ours,
    /// The kernel's TCP, with the flow's controller set by `TCP_CONGESTION`.
    LinuxTcp,
}

impl RealTransport {
    fn arg(self) -> &'static str {
        match self {
            RealTransport::Ours => "ours",
            RealTransport::LinuxTcp => "linux-tcp",
        }
    }
}

/// How to emulate.
#[derive(Clone, Debug)]
pub struct EmulateOptions {
    /// The results directory.
    pub out: PathBuf,
    /// The flows' transport.
    pub transport: RealTransport,
    /// The `realflow` program (default: beside this executable, or `$TESTBED_REALFLOW`).
    pub realflow: Option<PathBuf>,
    /// The `ccp` program, for CCP flows (default: beside this executable, or
    /// `$TESTBED_CCP`).
    pub ccp: Option<PathBuf>,
}

/// Errors of `testbed emulate`.
#[derive(Debug, thiserror::Error)]
pub enum EmulateError {
    /// The scenario asks for something the emulator or the real transports do not do.
    #[error("{file}: `{field}`: {reason}")]
    Unsupported {
        /// The scenario file.
        file: String,
        /// The field at fault.
        field: String,
        /// Why, and what is supported.
        reason: String,
    },
    /// The emulator failed (including a missing privilege, which it names).
    #[error("emulator: {0}")]
    Emulator(#[from] EmulatorError),
    /// A helper program is missing or failed.
    #[error("{program}: {msg}")]
    Program {
        /// The program.
        program: String,
        /// What went wrong.
        msg: String,
    },
    /// A results file could not be written or a report not read.
    #[error("{path}: {msg}")]
    Results {
        /// The file.
        path: String,
        /// The cause.
        msg: String,
    },
}

/// One flow to run.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowPlan {
    /// Index in `flows.csv`.
    pub id: usize,
    /// Sending host.
    pub src: NodeId,
    /// Receiving host.
    pub dst: NodeId,
    /// Start, seconds from the start of the flows.
    pub start_s: f64,
    /// Bytes to send, if sized.
    pub bytes: Option<u64>,
    /// Seconds to send, if not sized.
    pub duration_s: Option<f64>,
    /// The `realflow --cc` argument.
    pub cc: String,
    /// For a CCP flow: the agent's algorithm and `--param` pairs.
    pub ccp: Option<(String, Vec<String>)>,
}

/// What a run measured, per flow: (plan, bytes received, goodput bit/s, sender report).
#[derive(Clone, Debug)]
pub struct FlowResult {
    /// The flow.
    pub plan: FlowPlan,
    /// Bytes the receiver got in order.
    pub bytes: u64,
    /// Seconds from the receiver's first segment to its last byte.
    pub secs: f64,
    /// The receiver's goodput, bit/s.
    pub goodput_bps: f64,
    /// Segments the sender retransmitted (ours; Linux TCP: from `TCP_INFO`, if reported).
    pub retransmitted: Option<u64>,
    /// Whether the receiver's digest of the stream equals the sender's (`None` if either did
    /// not digest).
    pub intact: Option<bool>,
}

/// The outcome of `testbed emulate`.
#[derive(Clone, Debug)]
pub struct Emulated {
    /// Per flow.
    pub flows: Vec<FlowResult>,
    /// Base RTT samples of the UDP ping before the flows, ms.
    pub base_rtt_ms: Vec<f64>,
    /// The `summary.csv` rows.
    pub summary: Vec<(String, String)>,
}

fn unsupported(
    loaded: &Loaded,
    field: impl Into<String>,
    reason: impl Into<String>,
) -> EmulateError {
    EmulateError::Unsupported {
        file: loaded.file.display().to_string(),
        field: field.into(),
        reason: reason.into(),
    }
}

/// The flows of `loaded`'s workloads on `topo`, or an error naming the field the emulator
/// cannot run.
pub fn plan(
    loaded: &Loaded,
    topo: &netmodels::topology::Topology,
    transport: RealTransport,
) -> Result<Vec<FlowPlan>, EmulateError> {
    let s = &loaded.scenario;
    let pairs = roles(&s.topology, topo, 0).pairs;
    let mut out = Vec::new();
    if s.workload.is_empty() {
        return Err(unsupported(
            loaded,
            "workload",
            "no workload: nothing to emulate",
        ));
    }
    for (w, wl) in s.workload.iter().enumerate() {
        let f = |name: &str| format!("workload.{w}.{name}");
        let WorkloadConfig::Bulk {
            cc,
            flows,
            start_s,
            stagger_s,
            size_bytes,
            flows_per_pair,
            duration_s,
            priority,
        } = wl
        else {
            return Err(unsupported(
                loaded,
                format!("workload.{w}.kind"),
                "the emulator runs `bulk` workloads only (incast and CDF workloads run in the simulator)",
            ));
        };
        if *flows_per_pair != 1 {
            return Err(unsupported(
                loaded,
                f("flows_per_pair"),
                "the emulator runs one flow per pair",
            ));
        }
        if *priority != 0 {
            return Err(unsupported(
                loaded,
                f("priority"),
                "real flows carry no priority band",
            ));
        }
        let (name, ccp) = match (cc, transport) {
            (CcChoice::Native(k @ (CcKind::Reno | CcKind::Cubic)), _)
            | (CcChoice::Native(k @ CcKind::Dctcp), RealTransport::Ours) => {
                (k.name().to_string(), None)
            }
            (CcChoice::Native(k), RealTransport::LinuxTcp) => {
                return Err(unsupported(
                    loaded,
                    f("cc"),
                    format!(
                        "`{}` is not offered by Linux TCP here (reno and cubic are)",
                        k.name()
                    ),
                ))
            }
            (CcChoice::Ccp(c), RealTransport::Ours) => {
                let params = c.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                (format!("ccp:{}", c.ccp), Some((c.ccp.clone(), params)))
            }
            (CcChoice::Ccp(_), RealTransport::LinuxTcp) => {
                return Err(unsupported(
                    loaded,
                    f("cc"),
                    "CCP drives the project's transport only: use --transport ours",
                ))
            }
        };
        let n = flows.map_or(pairs.len(), |n| n as usize);
        if n > pairs.len() {
            return Err(unsupported(
                loaded,
                f("flows"),
                format!("the topology has {} pairs", pairs.len()),
            ));
        }
        for (i, &(src, dst)) in pairs.iter().take(n).enumerate() {
            let start = start_s + stagger_s * i as f64;
            if start >= s.duration_s {
                continue;
            }
            let dur = duration_s
                .unwrap_or(s.duration_s - start)
                .min(s.duration_s - start);
            out.push(FlowPlan {
                id: out.len(),
                src,
                dst,
                start_s: start,
                bytes: *size_bytes,
                duration_s: size_bytes.is_none().then_some(dur),
                cc: name.clone(),
                ccp: ccp.clone(),
            });
        }
    }
    if out.is_empty() {
        return Err(unsupported(
            loaded,
            "workload",
            "no flow starts before duration_s",
        ));
    }
    Ok(out)
}

/// The emulator's configuration for `loaded`.
pub fn emulator_config(loaded: &Loaded, out: &Path) -> EmulatorConfig {
    let s = &loaded.scenario;
    let mut cfg = EmulatorConfig::new(s.topology.clone());
    cfg.seed = s.seed;
    cfg.monitor_links = if s.output.monitor_links.is_empty() {
        match s.topology {
            netmodels::TopologyConfig::Dumbbell { .. } => vec!["bottleneck".into()],
            netmodels::TopologyConfig::Star { .. } => vec!["receiver".into()],
            _ => Vec::new(),
        }
    } else {
        s.output.monitor_links.clone()
    };
    if s.output.sample_interval_ms > 0.0 {
        cfg.sample_interval = SimDuration::from_secs_f64(s.output.sample_interval_ms * 1e-3);
    }
    if !s.output.pcap_links.is_empty() {
        cfg.pcap = Some((out.join("pcap"), s.output.pcap_links.clone()));
    }
    cfg
}

/// A helper program: the option, the environment variable, or beside this executable (or its
/// parent directory, for test binaries under `deps/`).
fn program(given: &Option<PathBuf>, env: &str, name: &str) -> Result<PathBuf, EmulateError> {
    if let Some(p) = given
        .clone()
        .or_else(|| std::env::var_os(env).map(PathBuf::from))
    {
        return if p.is_file() {
            Ok(p)
        } else {
            Err(EmulateError::Program {
                program: name.into(),
                msg: format!("{} does not exist", p.display()),
            })
        };
    }
    let exe = std::env::current_exe().ok();
    let dirs = exe
        .iter()
        .flat_map(|e| e.ancestors().skip(1).take(2))
        .map(Path::to_path_buf);
    for d in dirs {
        let p = d.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(EmulateError::Program {
        program: name.into(),
        msg: format!(
            "not found beside this executable; build it (`cargo build --release -p datapaths --features tokio --bin {name}`) or give --{name} or ${env}"
        ),
    })
}

/// Kills a child when dropped (a helper left behind by an error path).
struct Reap(Option<Child>, String);

impl Reap {
    fn wait(mut self, limit: Duration) -> Result<std::process::ExitStatus, EmulateError> {
        let mut c = self.0.take().expect("a child");
        let t0 = Instant::now();
        loop {
            match c.try_wait() {
                Ok(Some(st)) => return Ok(st),
                Ok(None) if t0.elapsed() < limit => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = c.kill();
                    let _ = c.wait();
                    return Err(EmulateError::Program {
                        program: self.1.clone(),
                        msg: format!("did not finish within {:.0} s", limit.as_secs_f64()),
                    });
                }
            }
        }
    }

    fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(e) = self.0.as_mut().and_then(|c| c.stderr.as_mut()) {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Reap {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn res_err(path: &Path, e: impl std::fmt::Display) -> EmulateError {
    EmulateError::Results {
        path: path.display().to_string(),
        msg: e.to_string(),
    }
}

fn read_report(path: &Path) -> Result<serde_json::Value, EmulateError> {
    let text = std::fs::read_to_string(path).map_err(|e| res_err(path, e))?;
    serde_json::from_str(&text).map_err(|e| res_err(path, e))
}

/// Runs `loaded` through the emulator (see the module documentation).
pub fn emulate(loaded: &Loaded, opts: &EmulateOptions) -> Result<Emulated, EmulateError> {
    let s = &loaded.scenario;
    let cfg = emulator_config(loaded, &opts.out);
    let topo = cfg.validate()?;
    let flows = plan(loaded, &topo, opts.transport)?;
    // The project's transport: segments must fit the TUN devices' MTU in one UDP datagram.
    let max_mss = emulator::config::MTU as usize - 28 - datapaths::stream::wire::DATA_HEADER;
    if opts.transport == RealTransport::Ours && s.transport.mss as usize > max_mss {
        return Err(unsupported(
            loaded,
            "transport.mss",
            format!(
                "at most {max_mss} bytes through the emulator's {}-byte MTU",
                emulator::config::MTU
            ),
        ));
    }
    let realflow = program(&opts.realflow, "TESTBED_REALFLOW", "realflow")?;
    let ccp = if flows.iter().any(|f| f.ccp.is_some()) {
        Some(program(&opts.ccp, "TESTBED_CCP", "ccp")?)
    } else {
        None
    };
    let fdir = opts.out.join("flows");
    std::fs::create_dir_all(&fdir).map_err(|e| res_err(&fdir, e))?;
    std::fs::write(opts.out.join("scenario.toml"), &loaded.effective_toml)
        .map_err(|e| res_err(&opts.out.join("scenario.toml"), e))?;

    let emu = Emulation::start(&cfg)?;
    // The base RTT, over the first pair, before any flow.
    let (a, b) = (flows[0].src, flows[0].dst);
    let rtts = emulator::workload::udp_ping(&emu, a, b, 10, 64, Duration::from_millis(20))?;
    let base_rtt_ms: Vec<f64> = rtts.iter().map(|d| d.as_secs_f64() * 1e3).collect();

    // CCP agents, one per flow (each its own socket name).
    let mut agents = Vec::new();
    let tag = std::process::id();
    for f in &flows {
        if let (Some((alg, params)), Some(ccp)) = (&f.ccp, &ccp) {
            let mut c = Command::new(ccp);
            c.args([
                "agent",
                "--alg",
                alg,
                "--ipc-name",
                &format!("tb{tag}f{}", f.id),
            ]);
            for p in params {
                c.args(["--param", p]);
            }
            c.stdout(Stdio::null()).stderr(Stdio::piped());
            let child = c.spawn().map_err(|e| EmulateError::Program {
                program: ccp.display().to_string(),
                msg: e.to_string(),
            })?;
            agents.push(Reap(Some(child), "ccp agent".into()));
        }
    }
    let mut receivers = Vec::new();
    for f in &flows {
        let mut c = Command::new(&realflow);
        c.args([
            "bulk-recv",
            "--bind",
            &format!("0.0.0.0:{}", 5000 + f.id),
            "--transport",
            opts.transport.arg(),
            "--limit-s",
            &format!("{}", s.duration_s + 30.0),
            "--out",
        ])
        .arg(fdir.join(format!("{}-recv.json", f.id)))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        receivers.push(Reap(
            Some(emu.spawn_in(f.dst, c)?),
            "realflow bulk-recv".into(),
        ));
    }
    // Let the receivers and agents bind.
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    let mut senders = Vec::new();
    let mut order: Vec<&FlowPlan> = flows.iter().collect();
    order.sort_by(|x, y| x.start_s.total_cmp(&y.start_s));
    for f in order {
        let at = Duration::from_secs_f64(f.start_s);
        if let Some(w) = at.checked_sub(t0.elapsed()) {
            std::thread::sleep(w);
        }
        let dst_ip = emu.host_ip(f.dst)?;
        let mut c = Command::new(&realflow);
        c.args([
            "bulk-send",
            "--to",
            &format!("{dst_ip}:{}", 5000 + f.id),
            "--cc",
            &f.cc,
            "--transport",
            opts.transport.arg(),
            "--limit-s",
            &format!("{}", s.duration_s + 30.0),
        ]);
        if opts.transport == RealTransport::Ours {
            c.args([
                "--mss",
                &s.transport.mss.to_string(),
                "--min-rto-ms",
                &format!("{}", (s.transport.min_rto_us / 1000.0).round().max(1.0)),
            ]);
        }
        match (f.bytes, f.duration_s) {
            (Some(b), _) => c.args(["--bytes", &b.to_string()]),
            (None, Some(d)) => c.args(["--duration-s", &format!("{d}")]),
            (None, None) => c.args(["--duration-s", &format!("{}", s.duration_s)]),
        };
        if f.ccp.is_some() {
            c.args(["--ccp-agent", &format!("tb{tag}f{}", f.id)]);
        }
        c.arg("--out")
            .arg(fdir.join(format!("{}-send.json", f.id)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        senders.push((
            f.id,
            Reap(Some(emu.spawn_in(f.src, c)?), "realflow bulk-send".into()),
        ));
    }
    let limit = Duration::from_secs_f64(s.duration_s + 30.0);
    for (id, mut r) in senders {
        let err = r.stderr();
        let st = r.wait(limit)?;
        if !st.success() {
            return Err(EmulateError::Program {
                program: format!("realflow bulk-send (flow {id})"),
                msg: format!("{st}: {}", err.trim()),
            });
        }
    }
    for (i, mut r) in receivers.into_iter().enumerate() {
        let err = r.stderr();
        let st = r.wait(Duration::from_secs(15))?;
        if !st.success() {
            return Err(EmulateError::Program {
                program: format!("realflow bulk-recv (flow {i})"),
                msg: format!("{st}: {}", err.trim()),
            });
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    drop(agents);
    let report = emu.stop();
    report.write(&opts.out)?;

    let mut results = Vec::new();
    for f in &flows {
        let rv = read_report(&fdir.join(format!("{}-recv.json", f.id)))?;
        let sv = read_report(&fdir.join(format!("{}-send.json", f.id)))?;
        let r0 = &rv["flows"][0];
        let num = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
        results.push(FlowResult {
            plan: f.clone(),
            bytes: num(&r0["bytes"]) as u64,
            secs: num(&r0["secs"]),
            goodput_bps: num(&r0["goodput_bps"]),
            retransmitted: sv["flows"][0]["retransmitted_segments"].as_u64(),
            intact: match (r0["digest"].as_str(), sv["flows"][0]["digest"].as_str()) {
                (Some(a), Some(b)) => Some(a == b),
                _ => None,
            },
        });
    }
    let total: u64 = results.iter().map(|r| r.bytes).sum();
    let med = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let t = &report.timing;
    let summary = vec![
        ("world".into(), "emulated".into()),
        ("deterministic".into(), "false".into()),
        ("transport".into(), opts.transport.arg().into()),
        ("end_s".into(), format!("{:.6}", s.duration_s)),
        ("wall_s".into(), format!("{wall:.3}")),
        ("goodput_bytes".into(), total.to_string()),
        (
            "goodput_mbps".into(),
            format!("{:.3}", total as f64 * 8.0 / s.duration_s / 1e6),
        ),
        (
            "base_rtt_ms_median".into(),
            format!("{:.3}", med(&base_rtt_ms)),
        ),
        ("flows".into(), results.len().to_string()),
        (
            "emulator_timing_median_us".into(),
            format!("{:.1}", t.median_ns as f64 / 1e3),
        ),
        (
            "emulator_timing_p99_us".into(),
            format!("{:.1}", t.p99_ns as f64 / 1e3),
        ),
        (
            "emulator_write_failures".into(),
            report.write_failures.to_string(),
        ),
    ];
    write_kv(&opts.out.join("summary.csv"), &summary)?;
    write_flows(&opts.out.join("flows.csv"), &results)?;
    Ok(Emulated {
        flows: results,
        base_rtt_ms,
        summary,
    })
}

fn write_kv(path: &Path, rows: &[(String, String)]) -> Result<(), EmulateError> {
    let mut w = csv::Writer::from_path(path).map_err(|e| res_err(path, e))?;
    w.write_record(["key", "value"])
        .map_err(|e| res_err(path, e))?;
    for (k, v) in rows {
        w.write_record([k, v]).map_err(|e| res_err(path, e))?;
    }
    w.flush().map_err(|e| res_err(path, e))
}

fn write_flows(path: &Path, flows: &[FlowResult]) -> Result<(), EmulateError> {
    let mut w = csv::Writer::from_path(path).map_err(|e| res_err(path, e))?;
    w.write_record([
        "flow",
        "src",
        "dst",
        "cc",
        "start_s",
        "delivered_bytes",
        "secs",
        "goodput_mbps",
        "retransmits",
        "intact",
    ])
    .map_err(|e| res_err(path, e))?;
    for f in flows {
        w.write_record([
            f.plan.id.to_string(),
            f.plan.src.to_string(),
            f.plan.dst.to_string(),
            f.plan.cc.clone(),
            format!("{}", f.plan.start_s),
            f.bytes.to_string(),
            format!("{:.6}", f.secs),
            format!("{:.3}", f.goodput_bps / 1e6),
            f.retransmitted.map_or(String::new(), |r| r.to_string()),
            f.intact.map_or(String::new(), |r| r.to_string()),
        ])
        .map_err(|e| res_err(path, e))?;
    }
    w.flush().map_err(|e| res_err(path, e))
}
