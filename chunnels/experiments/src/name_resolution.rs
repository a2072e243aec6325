//! HotNets'20 Fig 4 — dynamic name resolution: do new connections switch to a closer server
//! instance as soon as one appears?
//!
//! Simulated (virtual time, deterministic): two hosts through one switch, 10 Gbit/s links and
//! a 50 µs base RTT between them (FIGURES.md's gap defaults). A client on host 0 opens a new
//! connection every `every` (connection `k` at `(k + ½) · every`, so no connection starts at
//! the instant the local server appears) to the service name `echo`, sends `requests` requests
//! of `size` bytes one at a time, timing each from the send to the echo's arrival, and closes.
//! Each connection resolves the name afresh in a service directory and takes an instance on
//! its own host if there is one, else the remote one (host 1). Both instances run the same
//! code: a 1-RTT negotiated `[LocalOrRemoteChunnel]` echo server whose fast path is a
//! same-host IPC socket ([`netmodels::IpcSocket`], the simulator's Unix datagram socket),
//! registered with the socket's UDP address in its host's fast-path directory. At
//! `appear_at` the local instance starts on host 0 and registers; from then on new
//! connections negotiate with it over the host's loopback and send over IPC.
//!
//! Cost model (the simulator has no software costs of its own), from our measured loopback
//! figures (HotNets Fig 3 run in `results/README.md`, 64 B medians on real loopback, a 2-core
//! VM): a same-host IPC datagram takes half the raw Unix-socket RTT (62.9 µs → 31.45 µs one
//! way); a loopback UDP datagram half the UDP RTT (72.8 µs → 36.4 µs); and a request to the
//! remote instance pays the UDP send/receive cost of both ends once, as 72.8 µs of processing
//! at that server before it answers. So before `appear_at` a request costs the network's
//! 50 µs plus 72.8 µs; after it, two IPC crossings, 62.9 µs.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;

use chunnel::negotiate::{self, NegotiateConfig};
use chunnel::{stack, ChunnelConnection, Registry};
use chunnels::local_or_remote::LocalOrRemoteChunnel;
use chunnels::multicast::SocketConn;
use netmodels::network::NetworkOptions;
use netmodels::packet::NodeId;
use netmodels::topology::LinkParams;
use netmodels::{HostCosts, IpcSocket, Network, SimRuntime, TopologyConfig};
use netrt::{Duration, Runtime};
use sim_core::{RngStreams, Simulation};

use crate::{quantile, ExperimentError, TableRow};

/// The cost model (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Costs {
    /// One way over same-host IPC.
    pub ipc: Duration,
    /// One way over the host's UDP loopback.
    pub loopback: Duration,
    /// Processing a request at the remote instance (the UDP path's software cost).
    pub remote_processing: Duration,
}

impl Default for Costs {
    fn default() -> Self {
        Costs {
            ipc: Duration::from_nanos(31_450),
            loopback: Duration::from_nanos(36_400),
            remote_processing: Duration::from_nanos(72_800),
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Length of the run (the gap default: 8 s).
    pub duration: Duration,
    /// When the local instance appears (the paper: 4 s).
    pub appear_at: Duration,
    /// A new connection every (the gap default: 100 ms).
    pub every: Duration,
    /// Requests per connection (the gap default: 3).
    pub requests: usize,
    /// Request size in bytes (the gap default: 64).
    pub size: usize,
    /// The cost model.
    pub costs: Costs,
    /// Base RTT between the hosts (the gap default: 50 µs).
    pub rtt: Duration,
    /// The simulation's seed.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            duration: Duration::from_secs(8),
            appear_at: Duration::from_secs(4),
            every: Duration::from_millis(100),
            requests: 3,
            size: 64,
            costs: Costs::default(),
            rtt: Duration::from_micros(50),
            seed: 1,
        }
    }
}

/// One timed request.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The connection's index.
    pub conn: usize,
    /// When the request was sent, seconds since the start.
    pub at_s: f64,
    /// Its latency in µs.
    pub micros: f64,
    /// Whether it went over the local fast path.
    pub local: bool,
}

/// Samples and the table.
#[derive(Debug)]
pub struct NameResolution {
    /// Every timed request, in order.
    pub samples: Vec<Sample>,
    /// When the first connection to the local instance started, seconds.
    pub first_local_s: Option<f64>,
    /// The comparison table.
    pub rows: Vec<TableRow>,
    /// Remarks for the table.
    pub notes: Vec<String>,
}

fn err(what: impl std::fmt::Display) -> ExperimentError {
    ExperimentError::Run {
        world: "simulation",
        what: what.to_string(),
    }
}

/// Per host: UDP address → fast-path (IPC) path, and back.
#[derive(Default)]
struct HostDir {
    by_addr: BTreeMap<SocketAddr, PathBuf>,
    by_path: BTreeMap<PathBuf, SocketAddr>,
}

/// Service name → its instances (host, address), in registration order.
type Services = BTreeMap<String, Vec<(NodeId, SocketAddr)>>;

/// The world's directories: the service directory (name → instances) and each host's
/// fast-path directory.
#[derive(Clone, Default)]
struct Dirs {
    services: Rc<RefCell<Services>>,
    hosts: Rc<RefCell<BTreeMap<NodeId, HostDir>>>,
    paths: Rc<Cell<u64>>,
}

type Lor = LocalOrRemoteChunnel<SocketConn<IpcSocket>, SocketAddr, PathBuf>;

impl Dirs {
    /// The instances of `name`, this host's first.
    fn resolve(&self, name: &str, host: NodeId) -> Option<SocketAddr> {
        let s = self.services.borrow();
        let all = s.get(name)?;
        all.iter()
            .find(|(h, _)| *h == host)
            .or_else(|| all.first())
            .map(|(_, a)| *a)
    }

    fn register(&self, name: &str, host: NodeId, addr: SocketAddr) {
        self.services
            .borrow_mut()
            .entry(name.into())
            .or_default()
            .push((host, addr));
    }

    /// The local-or-remote Chunnel of a peer at `me` on `rt`'s host: each connection binds an
    /// IPC socket at a fresh path and registers it under `me`.
    fn lor(&self, rt: &SimRuntime, me: SocketAddr) -> Lor {
        let (d1, d2, d3, rt) = (self.clone(), self.clone(), self.clone(), rt.clone());
        let host = rt.host();
        LocalOrRemoteChunnel::new(
            move || {
                d1.paths.set(d1.paths.get() + 1);
                let p = PathBuf::from(format!("/run/echo-{}.sock", d1.paths.get()));
                let s = rt.bind_ipc(&p).ok()?;
                let mut h = d1.hosts.borrow_mut();
                let dir = h.entry(host).or_default();
                dir.by_addr.insert(me, p.clone());
                dir.by_path.insert(p, me);
                Some(SocketConn::new(s))
            },
            move |a: &SocketAddr| {
                d2.hosts
                    .borrow()
                    .get(&host)
                    .and_then(|d| d.by_addr.get(a).cloned())
            },
            move |p: &PathBuf| {
                d3.hosts
                    .borrow()
                    .get(&host)
                    .and_then(|d| d.by_path.get(p).copied())
            },
        )
    }
}

/// Starts an echo instance of `echo` on `rt`'s host that waits `processing` before each
/// answer, and registers it.
async fn instance(rt: SimRuntime, dirs: Dirs, processing: Duration) -> Result<(), String> {
    let sock = Rc::new(
        rt.bind_udp("0.0.0.0:7000".parse().expect("address"))
            .await
            .map_err(|e| e.to_string())?,
    );
    let me = SocketAddr::new(rt.ip().into(), 7000);
    let l = negotiate::listen(
        &rt,
        sock,
        stack![dirs.lor(&rt, me)],
        Registry::new(),
        NegotiateConfig::default(),
    );
    dirs.register("echo", rt.host(), me);
    let r2 = rt.clone();
    rt.spawn(async move {
        while let Ok((_, conn, _)) = l.accept().await {
            let r3 = r2.clone();
            r2.spawn(async move {
                while let Ok(d) = conn.recv().await {
                    if !processing.is_zero() {
                        r3.sleep(processing).await;
                    }
                    if conn.send(d).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(())
}

async fn client(
    cli: SimRuntime,
    srv: SimRuntime,
    dirs: Dirs,
    opts: Options,
) -> Result<Vec<Sample>, String> {
    instance(srv, dirs.clone(), opts.costs.remote_processing).await?;
    let (c2, d2) = (cli.clone(), dirs.clone());
    let appear = opts.appear_at;
    let local = cli.spawn(async move {
        c2.sleep(appear).await;
        instance(c2, d2, Duration::ZERO).await
    });
    let t0 = cli.now();
    let msg: Vec<u8> = (0..opts.size).map(|i| i as u8).collect();
    let mut out = Vec::new();
    let mut k = 0usize;
    loop {
        let start = Duration::from_nanos(opts.every.as_nanos() * (2 * k as u64 + 1) / 2);
        if start >= opts.duration {
            break;
        }
        cli.sleep_until(t0 + start).await;
        let server = dirs
            .resolve("echo", cli.host())
            .ok_or("the service `echo` has no instance")?;
        let sock = Rc::new(
            cli.bind_udp("0.0.0.0:0".parse().expect("address"))
                .await
                .map_err(|e| e.to_string())?,
        );
        let me = sock.local_addr().map_err(|e| e.to_string())?;
        let (c, _) = negotiate::connect(
            &cli,
            sock,
            server,
            stack![dirs.lor(&cli, me)],
            &Registry::new(),
            &NegotiateConfig::default(),
        )
        .await
        .map_err(|e| format!("connection {k}: {e}"))?;
        for _ in 0..opts.requests {
            let t = cli.now();
            c.send((server, msg.clone()))
                .await
                .map_err(|e| e.to_string())?;
            let (_, d) = c.recv().await.map_err(|e| e.to_string())?;
            if d.len() != msg.len() {
                return Err(format!("an echo of {} bytes for {}", d.len(), msg.len()));
            }
            out.push(Sample {
                conn: k,
                at_s: (t - t0).as_secs_f64(),
                micros: (cli.now() - t).as_nanos() as f64 / 1000.0,
                local: false,
            });
        }
        let st = c.stats();
        let n = out.len();
        for s in &mut out[n - opts.requests..] {
            s.local = st.local_sent == opts.requests as u64;
        }
        k += 1;
    }
    local.await.map_err(|e| e.to_string())??;
    Ok(out)
}

/// Runs the simulation and writes `samples.csv` into `out`.
pub fn run(opts: &Options, out: &std::path::Path) -> Result<NameResolution, ExperimentError> {
    if opts.requests == 0 || opts.size == 0 || opts.size > 65_000 || opts.every.is_zero() {
        return Err(err(
            "expected requests ≥ 1, a size in 1..=65000 and a connection interval above 0",
        ));
    }
    if opts.appear_at >= opts.duration {
        return Err(err(format!(
            "appear_at {:?}: expected before the end of the run ({:?})",
            opts.appear_at, opts.duration
        )));
    }
    let topo = TopologyConfig::Star {
        senders: 1,
        link: LinkParams::fixed(10_000_000_000, opts.rtt.as_nanos() as f64 / 4000.0, 1000),
        receiver_link: None,
    }
    .build()
    .map_err(|x| err(x.to_string()))?;
    let net = Network::new(topo, NetworkOptions::default(), &RngStreams::new(opts.seed))
        .map_err(|x| err(x.to_string()))?;
    let mut sim = Simulation::new(net);
    let cli = sim
        .model()
        .runtime(sim.handle(), 0)
        .expect("node 0 is a host");
    let srv = sim
        .model()
        .runtime(sim.handle(), 1)
        .expect("node 1 is a host");
    cli.set_host_costs(HostCosts {
        loopback: opts.costs.loopback,
        ipc: opts.costs.ipc,
    });
    let samples = sim
        .block_on(client(cli, srv, Dirs::default(), opts.clone()))
        .ok_or_else(|| err("the simulation ran dry"))?
        .map_err(err)?;
    std::fs::create_dir_all(out).map_err(|e| ExperimentError::Output {
        path: out.display().to_string(),
        msg: e.to_string(),
    })?;
    let path = out.join("samples.csv");
    let o = |e: &dyn std::fmt::Display| ExperimentError::Output {
        path: path.display().to_string(),
        msg: e.to_string(),
    };
    let mut w = csv::Writer::from_path(&path).map_err(|e| o(&e))?;
    w.write_record(["connection", "at_s", "micros", "path"])
        .map_err(|e| o(&e))?;
    for s in &samples {
        w.write_record([
            s.conn.to_string(),
            format!("{:.6}", s.at_s),
            format!("{:.3}", s.micros),
            if s.local { "local" } else { "remote" }.to_string(),
        ])
        .map_err(|e| o(&e))?;
    }
    w.flush().map_err(|e| o(&e))?;
    let appear = opts.appear_at.as_secs_f64();
    let first_local_s = samples.iter().find(|s| s.local).map(|s| s.at_s);
    let before: Vec<f64> = samples
        .iter()
        .filter(|s| s.at_s < appear)
        .map(|s| s.micros)
        .collect();
    let after: Vec<_> = samples.iter().filter(|s| s.at_s >= appear).collect();
    let after_us: Vec<f64> = after.iter().map(|s| s.micros).collect();
    let c = opts.costs;
    let us = |d: Duration| d.as_nanos() as f64 / 1000.0;
    let first_tick = {
        let e = opts.every.as_secs_f64();
        ((appear / e - 0.5).ceil() + 0.5) * e
    };
    let rows = vec![
        TableRow {
            quantity: "first request over the local instance".into(),
            unit: "s".into(),
            ours: first_local_s.unwrap_or(f64::NAN),
            compared_with: "first connection after it appears".into(),
            reference: Some(first_tick),
            paper: format!("step down at t = {appear} s"),
        },
        TableRow {
            quantity: "requests after it appears on the fast path".into(),
            unit: "%".into(),
            ours: 100.0 * after.iter().filter(|s| s.local).count() as f64
                / after.len().max(1) as f64,
            compared_with: "expected".into(),
            reference: Some(100.0),
            paper: "new connections re-check locality".into(),
        },
        TableRow {
            quantity: "median latency before (remote)".into(),
            unit: "µs".into(),
            ours: quantile(&before, 0.5),
            compared_with: "RTT + remote processing".into(),
            reference: Some(us(opts.rtt) + us(c.remote_processing)),
            paper: "remote server (other rack machine)".into(),
        },
        TableRow {
            quantity: "median latency after (local)".into(),
            unit: "µs".into(),
            ours: quantile(&after_us, 0.5),
            compared_with: "2 × IPC".into(),
            reference: Some(2.0 * us(c.ipc)),
            paper: "local instance over UDS".into(),
        },
    ];
    let notes = vec![
        format!(
            "Simulated: 2 hosts through one switch, 10 Gbit/s links, {} µs base RTT; a new connection every {} ms ({} requests of {} B each), the local instance appears at {appear} s; run {} s.",
            us(opts.rtt),
            opts.every.as_millis(),
            opts.requests,
            opts.size,
            opts.duration.as_secs_f64()
        ),
        format!(
            "Cost model from our loopback measurements (HotNets Fig 3, 64 B medians, 2-core VM): IPC one way {} µs (raw Unix socket RTT / 2), UDP loopback one way {} µs (UDP RTT / 2), remote processing {} µs per request (the UDP path's software cost of both ends).",
            us(c.ipc),
            us(c.loopback),
            us(c.remote_processing)
        ),
        "Not run on real machines: the remote instance would need a second host or the link emulator (issue 13).".into(),
    ];
    Ok(NameResolution {
        samples,
        first_local_s,
        rows,
        notes,
    })
}
