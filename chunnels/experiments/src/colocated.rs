//! Thesis Fig 3.5 — colocated microservices: does fusing encryption with the local fast path
//! (an optimization pass) avoid the cost of encryption between same-host peers?
//!
//! Real loopback only (tokio): an echo server on its own thread, the client on the calling
//! thread, both on one host. `connections` connections per variant, each set up (timed apart,
//! reported separately) and then sending `requests` requests of `size` bytes one at a time,
//! each timed from before the send to the echo's arrival. Variants, in plot order:
//! - `udp`: neither encryption nor the fast path: plain UDP, a fresh socket per connection;
//! - `tls`: both, no pass: 1-RTT negotiation over UDP of `[encrypt, local-or-remote]`, so
//!   every connection makes an X25519 key exchange and every message is sealed with
//!   ChaCha20-Poly1305 ([`chunnels::encrypt`]) before the fast path (a Unix datagram socket,
//!   found in the host directory) carries it;
//! - `fused`: the same stack rewritten by [`chunnels::opt::FuseEncryptLocal`] at compile time
//!   (on both ends), so a same-host connection takes the Unix socket in the clear and makes
//!   no key exchange ([`chunnels::encrypt_or_local`]).
//!
//! Differences from the paper, stated in the table's notes: the paper's TLS is a Ghostunnel
//! proxy pair spawned on the first connection (TLS plus two proxy hops, and a spawn-induced
//! tail); ours is the encryption Chunnel in the application's process, so the `tls` variant
//! measures the cryptography and the handshake, not the proxies.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use chunnel::negotiate::{self, NegotiateConfig};
use chunnel::opt::Optimize;
use chunnel::{stack, ChunnelConnection, Registry};
use chunnels::encrypt::EncryptChunnel;
use chunnels::opt::FuseEncryptLocal;
use datapaths::tokio_rt::TokioRuntime;
use netrt::{DatagramSocket, Runtime};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::local_fast_path::{check, err, lor, socket_dir, us, HostDirectory, Stop, BUF};
use crate::{quantile, ExperimentError, TableRow};

/// The variants, in plot order.
pub const MODES: [&str; 3] = ["udp", "tls", "fused"];

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Connections per variant (the paper: 200).
    pub connections: usize,
    /// Timed requests per connection (the paper's text: 100).
    pub requests: usize,
    /// Request size in bytes (default 64; at most 65,000).
    pub size: usize,
    /// Where `samples.csv` goes.
    pub out: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            connections: 200,
            requests: 100,
            size: 64,
            out: PathBuf::from("."),
        }
    }
}

/// Samples (µs) and the table.
#[derive(Debug)]
pub struct Colocated {
    /// Variant → request latencies in µs, in order.
    pub samples: BTreeMap<String, Vec<f64>>,
    /// Variant → connection setup times in µs.
    pub connect: BTreeMap<String, Vec<f64>>,
    /// Per Bertha variant: (connections that took the fast path, messages the client sealed).
    pub paths: BTreeMap<String, (u64, u64)>,
    /// The comparison table.
    pub rows: Vec<TableRow>,
    /// Remarks for the table.
    pub notes: Vec<String>,
}

/// The server's addresses.
struct Addrs {
    udp: SocketAddr,
    tls: SocketAddr,
    fused: SocketAddr,
}

/// Serves every connection `listener` accepts: its untimed first exchange, then `rpcs` echoes.
macro_rules! echo_each {
    ($rt:expr, $listener:expr, $rpcs:expr) => {{
        let (rt, l, rpcs) = ($rt.clone(), $listener, $rpcs);
        let r2 = rt.clone();
        rt.spawn(async move {
            while let Ok((_, conn, _)) = l.accept().await {
                r2.spawn(async move {
                    for _ in 0..=rpcs {
                        let Ok(d) = conn.recv().await else { return };
                        if conn.send(d).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    }};
}

/// The server thread: the three echo servers until a datagram arrives on `stop`.
fn serve(
    tmp: PathBuf,
    dir: HostDirectory,
    rpcs: usize,
    ready: std::sync::mpsc::Sender<Result<Addrs, String>>,
) -> Result<(), String> {
    let rt = TokioRuntime::new().map_err(|e| e.to_string())?;
    let r2 = rt.clone();
    let fail = ready.clone();
    let res = rt.block_on(async move {
        let rt = r2;
        let e = |x: std::io::Error| x.to_string();
        let lo: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let udp = Rc::new(rt.bind_udp(lo).await.map_err(e)?);
        let udp_addr = udp.local_addr().map_err(e)?;
        rt.spawn(async move {
            let mut buf = vec![0u8; BUF];
            while let Ok((n, from)) = udp.recv_from(&mut buf).await {
                let _ = udp.send_to(&buf[..n], &from).await;
            }
        });
        let seeds = Rc::new(Cell::new(1_000u64));
        let mut addrs = Vec::new();
        for fuse in [false, true] {
            let sock = Rc::new(rt.bind_udp(lo).await.map_err(e)?);
            let me = sock.local_addr().map_err(e)?;
            addrs.push(me);
            let n = Rc::new(Cell::new(0u64));
            let t2 = tmp.clone();
            let stem = if fuse { "f" } else { "t" };
            let path = move || {
                n.set(n.get() + 1);
                t2.join(format!("{stem}{}.sock", n.get()))
            };
            let s = seeds.get();
            seeds.set(s + 1_000_000);
            let st = stack![
                EncryptChunnel::server(rt.clone(), ChaCha20Rng::seed_from_u64(s)),
                lor(&rt, &dir, me, path, Rc::new(Cell::new(0)))
            ];
            let cfg = NegotiateConfig::default();
            if fuse {
                let st = st.optimize::<FuseEncryptLocal>();
                echo_each!(
                    rt,
                    negotiate::listen(&rt, sock, st, Registry::new(), cfg),
                    rpcs
                );
            } else {
                echo_each!(
                    rt,
                    negotiate::listen(&rt, sock, st, Registry::new(), cfg),
                    rpcs
                );
            }
        }
        let stop_path = tmp.join("stop.sock");
        let stop = rt.bind_unix(&stop_path).map_err(e)?;
        let _ = ready.send(Ok(Addrs {
            udp: udp_addr,
            tls: addrs[0],
            fused: addrs[1],
        }));
        let mut b = [0u8; 8];
        let _ = stop.get_ref().recv_from(&mut b).await;
        Ok::<(), String>(())
    });
    if let Err(x) = &res {
        let _ = fail.send(Err(x.clone()));
    }
    res
}

struct Client {
    rt: TokioRuntime,
    tmp: PathBuf,
    dir: HostDirectory,
    srv: Addrs,
    rpcs: usize,
    next: Cell<u64>,
}

/// One connection's measurements.
struct Conn {
    setup: f64,
    lat: Vec<f64>,
    local: bool,
    sealed: u64,
}

impl Client {
    fn fresh_path(&self) -> PathBuf {
        self.next.set(self.next.get() + 1);
        self.tmp.join(format!("c{}.sock", self.next.get()))
    }

    /// One connection of `mode`.
    async fn connection(&self, mode: &str, msg: &[u8]) -> Result<Conn, String> {
        let rt = &self.rt;
        let e = |x: &dyn std::fmt::Display| format!("{mode}: {x}");
        let lo: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let t0 = rt.now();
        if mode == "udp" {
            let s = rt.bind_udp(lo).await.map_err(|x| e(&x))?;
            let setup = us(rt.now() - t0);
            let mut buf = vec![0u8; BUF];
            let mut lat = Vec::with_capacity(self.rpcs);
            for _ in 0..self.rpcs {
                let t = rt.now();
                s.send_to(msg, &self.srv.udp).await.map_err(|x| e(&x))?;
                let (n, _) = s.recv_from(&mut buf).await.map_err(|x| e(&x))?;
                lat.push(us(rt.now() - t));
                check(n, msg.len(), mode)?;
            }
            return Ok(Conn {
                setup,
                lat,
                local: false,
                sealed: 0,
            });
        }
        let server = match mode {
            "tls" => self.srv.tls,
            "fused" => self.srv.fused,
            other => return Err(format!("unknown variant {other}")),
        };
        let sock = Rc::new(rt.bind_udp(lo).await.map_err(|x| e(&x))?);
        let me = sock.local_addr().map_err(|x| e(&x))?;
        let p = self.fresh_path();
        let sent_local = Rc::new(Cell::new(0u64));
        let st = stack![
            EncryptChunnel::client(
                rt.clone(),
                server,
                ChaCha20Rng::seed_from_u64(self.next.get())
            ),
            lor(rt, &self.dir, me, move || p.clone(), sent_local.clone())
        ];
        let (reg, cfg) = (Registry::new(), NegotiateConfig::default());
        macro_rules! exchange {
            ($c:expr) => {{
                let c = $c;
                // The untimed first exchange: the connection is up at both ends.
                c.send((server, b"h".to_vec())).await.map_err(|x| e(&x))?;
                c.recv().await.map_err(|x| e(&x))?;
                let setup = us(rt.now() - t0);
                let mut lat = Vec::with_capacity(self.rpcs);
                for _ in 0..self.rpcs {
                    let t = rt.now();
                    c.send((server, msg.to_vec())).await.map_err(|x| e(&x))?;
                    let (_, d) = c.recv().await.map_err(|x| e(&x))?;
                    lat.push(us(rt.now() - t));
                    check(d.len(), msg.len(), mode)?;
                }
                (c, setup, lat)
            }};
        }
        if mode == "fused" {
            let st = st.optimize::<FuseEncryptLocal>();
            let (c, _) = negotiate::connect(rt, sock, server, st, &reg, &cfg)
                .await
                .map_err(|x| e(&x))?;
            let (c, setup, lat) = exchange!(c);
            Ok(Conn {
                setup,
                lat,
                local: c.is_local(),
                sealed: c.sealed(),
            })
        } else {
            let (c, _) = negotiate::connect(rt, sock, server, st, &reg, &cfg)
                .await
                .map_err(|x| e(&x))?;
            let (c, setup, lat) = exchange!(c);
            Ok(Conn {
                setup,
                lat,
                local: sent_local.get() > 0,
                sealed: c.sent(),
            })
        }
    }
}

type Measured = (
    BTreeMap<String, Vec<f64>>,
    BTreeMap<String, Vec<f64>>,
    BTreeMap<String, (u64, u64)>,
);

fn measure(opts: &Options, tmp: &Path) -> Result<Measured, ExperimentError> {
    let dir = HostDirectory::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let (t2, d2, rpcs) = (tmp.to_path_buf(), dir.clone(), opts.requests);
    let server = std::thread::spawn(move || serve(t2, d2, rpcs, tx));
    let srv = match rx.recv() {
        Ok(Ok(a)) => a,
        Ok(Err(x)) => return Err(err(format!("server: {x}"))),
        Err(_) => {
            let why = match server.join() {
                Ok(Err(x)) => x,
                _ => "the server thread ended early".into(),
            };
            return Err(err(format!("server: {why}")));
        }
    };
    let stop = Stop(tmp.join("stop.sock"));
    let rt = TokioRuntime::new().map_err(err)?;
    let cli = Client {
        rt: rt.clone(),
        tmp: tmp.to_path_buf(),
        dir,
        srv,
        rpcs: opts.requests,
        next: Cell::new(0),
    };
    let msg: Vec<u8> = (0..opts.size).map(|i| i as u8).collect();
    let res = rt.block_on(async {
        let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut connect: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut paths: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for mode in MODES {
            // One untimed warm-up connection per variant.
            cli.connection(mode, &msg).await?;
            for _ in 0..opts.connections {
                let c = cli.connection(mode, &msg).await?;
                connect.entry(mode.into()).or_default().push(c.setup);
                samples.entry(mode.into()).or_default().extend(c.lat);
                if mode != "udp" {
                    let p = paths.entry(mode.into()).or_default();
                    p.0 += u64::from(c.local);
                    p.1 += c.sealed;
                }
            }
        }
        Ok::<_, String>((samples, connect, paths))
    });
    drop(cli);
    drop(rt);
    drop(stop);
    let joined = server.join();
    let measured = res.map_err(err)?;
    match joined {
        Ok(Ok(())) => Ok(measured),
        Ok(Err(x)) => Err(err(format!("server: {x}"))),
        Err(_) => Err(err("the server thread panicked")),
    }
}

/// Runs the experiment and writes `samples.csv` into `opts.out`.
pub fn run(opts: &Options) -> Result<Colocated, ExperimentError> {
    if opts.connections == 0 || opts.requests == 0 {
        return Err(err("expected at least one connection and one request"));
    }
    if opts.size == 0 || opts.size > 65_000 {
        return Err(err(format!(
            "a request of {} bytes: expected 1..=65000",
            opts.size
        )));
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| ExperimentError::Output {
        path: opts.out.display().to_string(),
        msg: e.to_string(),
    })?;
    let tmp = socket_dir("colo")?;
    let measured = measure(opts, &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    let (samples, connect, paths) = measured?;
    let keyed: BTreeMap<(usize, String), Vec<f64>> = samples
        .iter()
        .map(|(m, v)| ((opts.size, m.clone()), v.clone()))
        .collect();
    crate::write_samples(
        &opts.out.join("samples.csv"),
        ["size_bytes", "variant", "request", "micros"],
        &keyed,
    )?;
    let q = |m: &str, p: f64| quantile(&samples[m], p);
    let mut rows = Vec::new();
    for (m, paper) in [
        ("fused", "lowest"),
        ("udp", "between fused and TLS"),
        ("tls", "highest, with a spawn-induced tail"),
    ] {
        rows.push(TableRow {
            quantity: format!("{m}: median request latency"),
            unit: "µs".into(),
            ours: q(m, 0.5),
            compared_with: "udp".into(),
            reference: Some(q("udp", 0.5)),
            paper: paper.into(),
        });
        rows.push(TableRow {
            quantity: format!("{m}: p95 request latency"),
            unit: "µs".into(),
            ours: q(m, 0.95),
            compared_with: "udp".into(),
            reference: Some(q("udp", 0.95)),
            paper: paper.into(),
        });
    }
    for m in ["tls", "fused"] {
        rows.push(TableRow {
            quantity: format!("{m}: connection setup: median"),
            unit: "µs".into(),
            ours: quantile(&connect[m], 0.5),
            compared_with: "udp".into(),
            reference: Some(quantile(&connect["udp"], 0.5)),
            paper: "(not plotted)".into(),
        });
    }
    let n = opts.connections as f64;
    for (m, paper) in [
        ("fused", "no TLS between same-host peers"),
        ("tls", "TLS whatever the path"),
    ] {
        let (local, sealed) = paths.get(m).copied().unwrap_or_default();
        rows.push(TableRow {
            quantity: format!("{m}: connections on the fast path"),
            unit: "%".into(),
            ours: 100.0 * local as f64 / n,
            compared_with: "expected".into(),
            reference: Some(100.0),
            paper: "same host: the Unix socket".into(),
        });
        rows.push(TableRow {
            quantity: format!("{m}: messages the client sealed"),
            unit: "messages".into(),
            ours: sealed as f64,
            compared_with: "expected".into(),
            reference: Some(if m == "tls" {
                (opts.connections * (opts.requests + 1)) as f64
            } else {
                0.0
            }),
            paper: paper.into(),
        });
    }
    let notes = vec![
        format!(
            "Real loopback (tokio, current-thread runtimes): echo server on its own thread, client on another; {} connections per variant, {} timed {}-byte requests each (from send to the echo's arrival); setup (negotiation, key exchange, first exchange) timed apart; one untimed warm-up connection per variant.",
            opts.connections, opts.requests, opts.size
        ),
        "udp: plain UDP; tls: [encrypt, local-or-remote] negotiated over UDP (X25519 + ChaCha20-Poly1305 over the Unix-socket fast path); fused: the same stack rewritten by the FuseEncryptLocal pass (Unix socket in the clear, no key exchange).".into(),
        "The paper's client and server are Docker containers, so its UDP crosses a veth pair and a bridge while the fused path is host IPC; ours are threads of one process on loopback, where UDP is as cheap as a Unix socket, so fused is not expected below udp here.".into(),
        "The paper's TLS variant is a Ghostunnel proxy pair spawned on the first connection (two proxy hops and a spawn-induced tail); ours encrypts in the application's process, so it shows the cost of the cryptography, not of the proxies.".into(),
    ];
    Ok(Colocated {
        samples,
        connect,
        paths,
        rows,
        notes,
    })
}
