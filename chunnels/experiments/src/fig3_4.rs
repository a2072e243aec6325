//! Thesis Fig 3.4 — connection establishment: what negotiation adds to connect + first
//! message.
//!
//! Each trial opens a fresh client socket, connects (or not), sends 8 bytes to an echo
//! server and waits for the echo; the trial's time runs from before the connect to the
//! echo's arrival. Four variants, `trials` each, in this order:
//! - `udp`: a plain datagram socket, no negotiation (the baseline);
//! - `1-rtt`: [`chunnel::negotiate::connect`] with a no-op stack;
//! - `0-rtt`: [`chunnel::negotiate::connect_zero_rtt`] with a cache warmed by one connection
//!   before the first trial;
//! - `rendezvous`: [`chunnel::rendezvous::join`] of a group the server is a member of (read,
//!   clock, compare-and-swap commit, then a read and a clock for the peer list), then the echo
//!   to the server's address from the peer list; the client leaves after the trial.
//!
//! Worlds: the simulator (two hosts through one switch, 10 Gbit/s links, 5 µs per link: a
//! 20 µs base RTT; the in-memory store on the server host, one RTT per store operation) and
//! real UDP loopback on tokio (a private `redis-server` as the store). The simulator gives the
//! round-trip structure (udp ≈ 1 RTT, 1-rtt ≈ 2, 0-rtt ≈ 1, rendezvous ≈ 1 + 5 store round
//! trips); loopback gives our software's processing cost.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;

use chunnel::negotiate::{self, NegotiateConfig, ZeroRttCache};
use chunnel::rendezvous::{join, AcceptPolicy, MemStore, RendezvousConfig, Store};
use chunnel::{stack, ChunnelConnection, Registry};
use netmodels::network::NetworkOptions;
use netmodels::topology::LinkParams;
use netmodels::{Network, TopologyConfig};
use netrt::{DatagramSocket, Duration, Runtime};
use sim_core::{RngStreams, Simulation};

use crate::{quantile, ExperimentError, TableRow};
use chunnel_redis::server::RedisServer;

/// The variants, in plot order.
pub const MODES: [&str; 4] = ["udp", "1-rtt", "0-rtt", "rendezvous"];

/// The simulated base RTT.
pub const SIM_RTT: Duration = Duration::from_micros(20);

/// Store operations in a rendezvous join of an existing group (read, clock, commit, read,
/// clock).
pub const JOIN_STORE_OPS: u64 = 5;

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Trials per variant (the paper: 1,000).
    pub trials: usize,
    /// Where the samples, figure and table go.
    pub out: PathBuf,
    /// Also run on real loopback (needs `redis-server` for the rendezvous variant).
    pub loopback: bool,
    /// The simulation's seed.
    pub seed: u64,
}

/// Samples (µs) per world and variant, and the table.
#[derive(Debug)]
pub struct Fig34 {
    /// `(world, variant)` → trial times in µs, in trial order.
    pub samples: BTreeMap<(String, String), Vec<f64>>,
    /// The comparison table.
    pub rows: Vec<TableRow>,
    /// Remarks for the table.
    pub notes: Vec<String>,
}

fn err(world: &'static str) -> impl Fn(String) -> ExperimentError {
    move |what| ExperimentError::Run { world, what }
}

/// Serves the three echo servers on `srv`; returns their addresses (raw, negotiated, group).
async fn servers<R: Runtime, K: Store + 'static>(
    srv: &R,
    bind: SocketAddr,
    store: Rc<K>,
    rcfg: RendezvousConfig,
) -> Result<(SocketAddr, SocketAddr), String> {
    let raw = Rc::new(srv.bind_udp(bind).await.map_err(|e| e.to_string())?);
    let raw_addr = raw.local_addr().map_err(|e| e.to_string())?;
    srv.spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((n, from)) = raw.recv_from(&mut buf).await {
            let _ = raw.send_to(&buf[..n], &from).await;
        }
    });
    let nsock = Rc::new(srv.bind_udp(bind).await.map_err(|e| e.to_string())?);
    let neg_addr = nsock.local_addr().map_err(|e| e.to_string())?;
    let l = negotiate::listen(
        srv,
        nsock,
        stack![],
        Registry::new(),
        NegotiateConfig::default(),
    );
    let srv2 = srv.clone();
    srv.spawn(async move {
        while let Ok((_, conn, _)) = l.accept().await {
            srv2.spawn(async move {
                while let Ok(d) = conn.recv().await {
                    if conn.send(d).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let gsock = Rc::new(srv.bind_udp(bind).await.map_err(|e| e.to_string())?);
    let (g, _) = join(
        srv,
        store,
        "echo",
        gsock,
        stack![],
        &Registry::new(),
        AcceptPolicy::default(),
        rcfg,
    )
    .await
    .map_err(|e| e.to_string())?;
    srv.spawn(async move {
        while let Ok(d) = g.recv().await {
            if g.send(d).await.is_err() {
                return;
            }
        }
    });
    Ok((raw_addr, neg_addr))
}

/// The client's trials, on any runtime.
async fn trials<R: Runtime, K: Store + 'static>(
    srv: R,
    cli: R,
    bind: SocketAddr,
    store: Rc<K>,
    n: usize,
) -> Result<BTreeMap<String, Vec<f64>>, String> {
    let rcfg = RendezvousConfig::default();
    let (raw, neg) = servers(&srv, bind, store.clone(), rcfg).await?;
    let msg = || b"8 bytes!".to_vec();
    let e = |x: &dyn std::fmt::Display| x.to_string();
    let mut out: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let us = |d: Duration| d.as_nanos() as f64 / 1000.0;
    // udp
    for _ in 0..n {
        let t0 = cli.now();
        let s = cli.bind_udp(bind).await.map_err(|x| e(&x))?;
        s.send_to(&msg(), &raw).await.map_err(|x| e(&x))?;
        let mut buf = [0u8; 64];
        let (k, _) = s.recv_from(&mut buf).await.map_err(|x| e(&x))?;
        if k != 8 {
            return Err(format!("udp echo of {k} bytes"));
        }
        out.entry("udp".into())
            .or_default()
            .push(us(cli.now() - t0));
    }
    // 1-rtt
    let cfg = NegotiateConfig::default();
    for _ in 0..n {
        let t0 = cli.now();
        let s = Rc::new(cli.bind_udp(bind).await.map_err(|x| e(&x))?);
        let (c, _) = negotiate::connect(&cli, s, neg, stack![], &Registry::new(), &cfg)
            .await
            .map_err(|x| e(&x))?;
        c.send((neg, msg())).await.map_err(|x| e(&x))?;
        c.recv().await.map_err(|x| e(&x))?;
        out.entry("1-rtt".into())
            .or_default()
            .push(us(cli.now() - t0));
    }
    // 0-rtt, after one warm-up connection
    let cache = ZeroRttCache::new();
    for i in 0..=n {
        let t0 = cli.now();
        let s = Rc::new(cli.bind_udp(bind).await.map_err(|x| e(&x))?);
        let (c, _) =
            negotiate::connect_zero_rtt(&cli, s, neg, stack![], &Registry::new(), &cache, &cfg)
                .await
                .map_err(|x| e(&x))?;
        c.send((neg, msg())).await.map_err(|x| e(&x))?;
        c.recv().await.map_err(|x| e(&x))?;
        if i > 0 {
            out.entry("0-rtt".into())
                .or_default()
                .push(us(cli.now() - t0));
        }
    }
    // rendezvous
    for _ in 0..n {
        let t0 = cli.now();
        let s = Rc::new(cli.bind_udp(bind).await.map_err(|x| e(&x))?);
        let (g, _) = join(
            &cli,
            store.clone(),
            "echo",
            s,
            stack![],
            &Registry::new(),
            AcceptPolicy::default(),
            rcfg,
        )
        .await
        .map_err(|x| e(&x))?;
        let peers = g.peers();
        let Some(&server) = peers.first() else {
            return Err("the rendezvous peer list is empty".into());
        };
        g.send((server, msg())).await.map_err(|x| e(&x))?;
        g.recv().await.map_err(|x| e(&x))?;
        out.entry("rendezvous".into())
            .or_default()
            .push(us(cli.now() - t0));
        g.leave(&*store, "echo").await.map_err(|x| e(&x))?;
    }
    Ok(out)
}

fn simulate(n: usize, seed: u64) -> Result<BTreeMap<String, Vec<f64>>, ExperimentError> {
    let topo = TopologyConfig::Star {
        senders: 1,
        link: LinkParams::fixed(10_000_000_000, SIM_RTT.as_nanos() as f64 / 4000.0, 1000),
        receiver_link: None,
    }
    .build()
    .map_err(|x| err("simulation")(x.to_string()))?;
    let net = Network::new(topo, NetworkOptions::default(), &RngStreams::new(seed))
        .map_err(|x| err("simulation")(x.to_string()))?;
    let mut sim = Simulation::new(net);
    let (cli, srv) = (
        sim.model()
            .runtime(sim.handle(), 0)
            .expect("node 0 is a host"),
        sim.model()
            .runtime(sim.handle(), 1)
            .expect("node 1 is a host"),
    );
    let store = Rc::new(MemStore::new(srv.clone()).with_latency(SIM_RTT));
    sim.block_on(trials(
        srv,
        cli,
        "0.0.0.0:0".parse().expect("address"),
        store,
        n,
    ))
    .ok_or_else(|| err("simulation")("the simulation ran dry".into()))?
    .map_err(err("simulation"))
}

fn loopback(n: usize) -> Result<BTreeMap<String, Vec<f64>>, ExperimentError> {
    let redis = RedisServer::start().map_err(err("loopback"))?;
    let rt =
        datapaths::tokio_rt::TokioRuntime::new().map_err(|x| err("loopback")(x.to_string()))?;
    let url = redis.url();
    let r2 = rt.clone();
    rt.block_on(async move {
        let store =
            chunnel_redis::RedisStore::connect(&url, "fig3.4/", std::time::Duration::from_secs(2))
                .await
                .map_err(|x| x.to_string())?;
        trials(
            r2.clone(),
            r2,
            "127.0.0.1:0".parse().expect("address"),
            Rc::new(store),
            n,
        )
        .await
    })
    .map_err(err("loopback"))
}

/// Runs the experiment and writes `samples.csv` into `opts.out`.
pub fn run(opts: &Options) -> Result<Fig34, ExperimentError> {
    std::fs::create_dir_all(&opts.out).map_err(|e| ExperimentError::Output {
        path: opts.out.display().to_string(),
        msg: e.to_string(),
    })?;
    let mut samples = BTreeMap::new();
    for (m, v) in simulate(opts.trials, opts.seed)? {
        samples.insert(("simulation".to_string(), m), v);
    }
    if opts.loopback {
        for (m, v) in loopback(opts.trials)? {
            samples.insert(("loopback".to_string(), m), v);
        }
    }
    crate::write_samples(
        &opts.out.join("samples.csv"),
        ["world", "variant", "trial", "micros"],
        &samples,
    )?;
    let rtt = SIM_RTT.as_nanos() as f64 / 1000.0;
    let expected = [
        ("udp", rtt, "baseline: 1 RTT"),
        ("1-rtt", 2.0 * rtt, "1-RTT negotiation: 2 RTTs"),
        ("0-rtt", rtt, "0-RTT: modest over the baseline"),
        (
            "rendezvous",
            (1 + JOIN_STORE_OPS) as f64 * rtt,
            "rendezvous: large (store round trips), small next to pub/sub latency",
        ),
    ];
    let mut rows = Vec::new();
    for (m, exp, paper) in expected {
        let v = &samples[&("simulation".to_string(), m.to_string())];
        rows.push(TableRow {
            quantity: format!("simulation {m}: median"),
            unit: "µs".into(),
            ours: quantile(v, 0.5),
            compared_with: "expected (RTT structure)".into(),
            reference: Some(exp),
            paper: paper.into(),
        });
    }
    if opts.loopback {
        let base = quantile(&samples[&("loopback".to_string(), "udp".to_string())], 0.5);
        for (m, _, paper) in expected {
            let v = &samples[&("loopback".to_string(), m.to_string())];
            rows.push(TableRow {
                quantity: format!("loopback {m}: median"),
                unit: "µs".into(),
                ours: quantile(v, 0.5),
                compared_with: "loopback udp".into(),
                reference: Some(base),
                paper: paper.into(),
            });
        }
    }
    let notes = vec![
        format!(
            "{} trials per variant and world; times from before connect to the echo's arrival.",
            opts.trials
        ),
        "Simulation: 10 Gbit/s, 5 µs per link (20 µs RTT); the in-memory store sits on the server host, one RTT per operation; a join of an existing group is 5 store operations.".into(),
        "Loopback: tokio current-thread runtime, client and server in one process; store: a private redis-server on loopback.".into(),
    ];
    Ok(Fig34 {
        samples,
        rows,
        notes,
    })
}
