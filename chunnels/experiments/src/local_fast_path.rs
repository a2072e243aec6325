//! HotNets'20 Fig 3 — the local fast path: RPC latency between a client and a server on the
//! same host, over loopback TCP and UDP, over a Bertha connection whose local-or-remote
//! Chunnel picks a Unix datagram socket because the peer is on this host, and over raw Unix
//! datagram sockets (the floor).
//!
//! Real loopback only (tokio): the server runs on its own thread with its own runtime (the
//! paper's client and server are separate containers), the client on the calling thread. A
//! ping application: each *connection* is set up (untimed, reported separately), then sends
//! `rpcs_per_conn` requests of one size, one at a time, and times each from before the send
//! to the echo's arrival; then it is closed. Variants, in plot order:
//! - `tcp`: [`datapaths::tcp_dgram::TcpDatagrams`] (length-prefixed frames, `TCP_NODELAY`), a
//!   fresh socket per connection; setup = bind + a 1-byte exchange (the TCP handshake happens
//!   on the first send);
//! - `udp`: a fresh UDP socket per connection; setup = bind;
//! - `bertha`: [`chunnel::negotiate::connect`] over a fresh UDP socket with the stack
//!   `[LocalOrRemoteChunnel]` (`chunnels::local_or_remote`) to the server's UDP address; both
//!   ends register their UDP address → Unix socket path in a host-scope [`HostDirectory`]
//!   (the discovery of the paper's Chunnel), so each send to a same-host peer goes over a Unix
//!   datagram socket; setup = negotiation (one UDP round trip) + binding the Unix socket;
//! - `uds`: a fresh Unix datagram socket per connection to the server's well-known path;
//!   setup = bind.
//!
//! The server side of a Bertha connection binds and registers its own Unix socket when
//! negotiation picks the stack, before its reply leaves, so the client's first request already
//! takes the fast path; the datagrams the client sent over its Unix socket are counted and
//! reported.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use chunnel::negotiate::{self, NegotiateConfig};
use chunnel::{stack, ChunnelConnection, Error, Registry};
use chunnels::local_or_remote::LocalOrRemoteChunnel;
use datapaths::tokio_rt::{TokioRuntime, UnixAddr, UnixDatagram};
use netrt::{DatagramSocket, Duration, Runtime};

use crate::{quantile, ExperimentError, TableRow};

/// The variants, in plot order.
pub const MODES: [&str; 4] = ["tcp", "udp", "bertha", "uds"];

/// Request sizes (bytes) by default: FIGURES.md's gap default.
pub const DEFAULT_SIZES: [usize; 4] = [64, 1024, 16 * 1024, 60 * 1024];

/// Timed requests per connection (the paper's 3).
pub const RPCS_PER_CONN: usize = 3;

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Connections per variant and size (the paper: 10,000).
    pub connections: usize,
    /// Timed requests per connection.
    pub rpcs_per_conn: usize,
    /// Request sizes in bytes (each at most 65,000).
    pub sizes: Vec<usize>,
    /// Where `samples.csv` goes.
    pub out: PathBuf,
}

/// Samples (µs) and the table.
#[derive(Debug)]
pub struct LocalFastPath {
    /// `(size, variant)` → RPC latencies in µs, in order.
    pub samples: BTreeMap<(usize, String), Vec<f64>>,
    /// `variant` → connection setup times in µs (all sizes).
    pub connect: BTreeMap<String, Vec<f64>>,
    /// Bertha requests the client sent over its Unix socket, and all Bertha requests.
    pub bertha_local: (u64, u64),
    /// The comparison table.
    pub rows: Vec<TableRow>,
    /// Remarks for the table.
    pub notes: Vec<String>,
}

pub(crate) fn err(what: impl std::fmt::Display) -> ExperimentError {
    ExperimentError::Run {
        world: "loopback",
        what: what.to_string(),
    }
}

/// Host-scope discovery: which same-host peer (by its UDP address) listens on which Unix
/// socket path. Shared by the threads of this process (the "host"). A path's owner stays
/// known after the path is unregistered, so a reply still in flight from a connection that
/// has just closed is attributed to its sender.
#[derive(Clone, Debug, Default)]
pub struct HostDirectory(Arc<Mutex<Maps>>);

#[derive(Debug, Default)]
struct Maps {
    by_addr: BTreeMap<SocketAddr, UnixAddr>,
    by_path: BTreeMap<UnixAddr, SocketAddr>,
}

impl HostDirectory {
    fn map(&self) -> std::sync::MutexGuard<'_, Maps> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers `addr`'s fast path.
    pub fn insert(&self, addr: SocketAddr, path: UnixAddr) {
        let mut m = self.map();
        m.by_path.insert(path.clone(), addr);
        m.by_addr.insert(addr, path);
    }

    /// The fast path of `addr`, if it is on this host and registered.
    pub fn path_of(&self, addr: &SocketAddr) -> Option<UnixAddr> {
        self.map().by_addr.get(addr).cloned()
    }

    /// The UDP address whose fast path is or was `path`.
    pub fn addr_of(&self, path: &Path) -> Option<SocketAddr> {
        self.map().by_path.get(path).copied()
    }

    /// Unregisters `addr`'s fast path if it is still `path`.
    pub fn remove(&self, addr: &SocketAddr, path: &Path) {
        let mut m = self.map();
        if m.by_addr.get(addr).is_some_and(|p| **p == *path) {
            m.by_addr.remove(addr);
        }
    }
}

/// A registered Unix datagram socket: the fast path of one connection. Dropping it forgets
/// the registration and removes the socket file.
pub struct UdsConn {
    sock: UnixDatagram,
    buf: Cell<Vec<u8>>,
    key: SocketAddr,
    path: PathBuf,
    dir: HostDirectory,
    sent: Rc<Cell<u64>>,
}

/// Puts a taken buffer back when dropped.
struct BufGuard<'a>(&'a Cell<Vec<u8>>, Vec<u8>);

impl Drop for BufGuard<'_> {
    fn drop(&mut self) {
        self.0.set(std::mem::take(&mut self.1));
    }
}

impl Drop for UdsConn {
    fn drop(&mut self) {
        self.dir.remove(&self.key, &self.path);
        let _ = std::fs::remove_file(&self.path);
    }
}

impl ChunnelConnection for UdsConn {
    type Data = (UnixAddr, Vec<u8>);

    async fn send(&self, (to, b): Self::Data) -> Result<(), Error> {
        self.sent.set(self.sent.get() + 1);
        self.sock.send_to(&b, &to).await?;
        Ok(())
    }

    /// Cancel-safe: the receive buffer goes back even if the future is dropped.
    async fn recv(&self) -> Result<Self::Data, Error> {
        let mut g = BufGuard(&self.buf, self.buf.take());
        if g.1.len() < BUF {
            g.1.resize(BUF, 0);
        }
        let (n, from) = self.sock.recv_from(&mut g.1).await?;
        Ok((from, g.1[..n].to_vec()))
    }
}

pub(crate) type Lor = LocalOrRemoteChunnel<UdsConn, SocketAddr, UnixAddr>;

/// The local-or-remote Chunnel of a peer whose UDP address is `me`: each connection binds a
/// Unix socket at a fresh path from `path` and registers it under `me` in `dir`.
pub(crate) fn lor(
    rt: &TokioRuntime,
    dir: &HostDirectory,
    me: SocketAddr,
    path: impl Fn() -> PathBuf + 'static,
    sent: Rc<Cell<u64>>,
) -> Lor {
    let (rt, d1, d2, d3) = (rt.clone(), dir.clone(), dir.clone(), dir.clone());
    LocalOrRemoteChunnel::new(
        move || {
            let p = path();
            let _ = std::fs::remove_file(&p);
            let s = rt.bind_unix(&p).ok()?;
            d1.insert(me, UnixAddr::from(p.as_path()));
            Some(UdsConn {
                sock: s,
                buf: Cell::new(vec![0; BUF]),
                key: me,
                path: p,
                dir: d1.clone(),
                sent: sent.clone(),
            })
        },
        move |a: &SocketAddr| d2.path_of(a),
        move |p: &UnixAddr| d3.addr_of(p),
    )
}

/// The server's addresses.
struct Addrs {
    tcp: SocketAddr,
    udp: SocketAddr,
    bertha: SocketAddr,
    uds: UnixAddr,
}

pub(crate) const BUF: usize = 65_536;

/// The server thread: four echo servers until a datagram arrives on `stop`.
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
        // tcp
        let tcp = Rc::new(rt.bind_tcp(lo).await.map_err(e)?);
        let tcp_addr = tcp.local_addr().map_err(e)?;
        rt.spawn(async move {
            let mut buf = vec![0u8; BUF];
            while let Ok((n, from)) = tcp.recv_from(&mut buf).await {
                let _ = tcp.send_to(&buf[..n], &from).await;
            }
        });
        // udp
        let udp = Rc::new(rt.bind_udp(lo).await.map_err(e)?);
        let udp_addr = udp.local_addr().map_err(e)?;
        rt.spawn(async move {
            let mut buf = vec![0u8; BUF];
            while let Ok((n, from)) = udp.recv_from(&mut buf).await {
                let _ = udp.send_to(&buf[..n], &from).await;
            }
        });
        // uds
        let uds_path = tmp.join("raw.sock");
        let uds = rt.bind_unix(&uds_path).map_err(e)?;
        rt.spawn(async move {
            let mut buf = vec![0u8; BUF];
            loop {
                match uds.recv_from(&mut buf).await {
                    Ok((n, from)) => {
                        let _ = uds.send_to(&buf[..n], &from).await;
                    }
                    // An unnamed sender: nothing to answer.
                    Err(x) if x.kind() == std::io::ErrorKind::AddrNotAvailable => {}
                    Err(_) => return,
                }
            }
        });
        // bertha: each connection gets its own Unix socket, serves `rpcs` requests and closes.
        let bsock = Rc::new(rt.bind_udp(lo).await.map_err(e)?);
        let baddr = bsock.local_addr().map_err(e)?;
        let n = Rc::new(Cell::new(0u64));
        let t2 = tmp.clone();
        let path = move || {
            n.set(n.get() + 1);
            t2.join(format!("s{}.sock", n.get()))
        };
        let st = stack![lor(&rt, &dir, baddr, path, Rc::new(Cell::new(0)))];
        let l = negotiate::listen(&rt, bsock, st, Registry::new(), NegotiateConfig::default());
        let r3 = rt.clone();
        rt.spawn(async move {
            while let Ok((_, conn, _)) = l.accept().await {
                r3.spawn(async move {
                    // The client's untimed first exchange, then its timed requests.
                    for _ in 0..=rpcs {
                        let Ok(d) = conn.recv().await else { return };
                        if conn.send(d).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let stop_path = tmp.join("stop.sock");
        let stop = rt.bind_unix(&stop_path).map_err(e)?;
        let _ = ready.send(Ok(Addrs {
            tcp: tcp_addr,
            udp: udp_addr,
            bertha: baddr,
            uds: UnixAddr::from(uds_path.as_path()),
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

/// Stops the server thread when dropped (also on the client's error paths).
pub(crate) struct Stop(pub(crate) PathBuf);

impl Drop for Stop {
    fn drop(&mut self) {
        if let Ok(s) = std::os::unix::net::UnixDatagram::unbound() {
            let _ = s.send_to(b"stop", &self.0);
        }
    }
}

struct Client {
    rt: TokioRuntime,
    tmp: PathBuf,
    dir: HostDirectory,
    srv: Addrs,
    rpcs: usize,
    next: Cell<u64>,
    /// Timed Bertha requests sent over the Unix socket.
    timed_local: Cell<u64>,
}

pub(crate) fn us(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1000.0
}

pub(crate) fn check(got: usize, want: usize, mode: &str) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{mode}: an echo of {got} bytes for {want}"))
    }
}

impl Client {
    fn fresh_path(&self, stem: &str) -> PathBuf {
        self.next.set(self.next.get() + 1);
        self.tmp.join(format!("{stem}{}.sock", self.next.get()))
    }

    /// One connection of `mode`: (setup µs, RPC latencies µs).
    async fn connection(
        &self,
        mode: &str,
        msg: &[u8],
        sent_local: &Rc<Cell<u64>>,
    ) -> Result<(f64, Vec<f64>), String> {
        let rt = &self.rt;
        let e = |x: &dyn std::fmt::Display| format!("{mode}: {x}");
        let lo: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let mut buf = vec![0u8; BUF];
        let mut lat = Vec::with_capacity(self.rpcs);
        let t0 = rt.now();
        match mode {
            "tcp" => {
                let s = rt.bind_tcp(lo).await.map_err(|x| e(&x))?;
                s.send_to(b"h", &self.srv.tcp).await.map_err(|x| e(&x))?;
                s.recv_from(&mut buf).await.map_err(|x| e(&x))?;
                let setup = us(rt.now() - t0);
                for _ in 0..self.rpcs {
                    let t = rt.now();
                    s.send_to(msg, &self.srv.tcp).await.map_err(|x| e(&x))?;
                    let (n, _) = s.recv_from(&mut buf).await.map_err(|x| e(&x))?;
                    lat.push(us(rt.now() - t));
                    check(n, msg.len(), mode)?;
                }
                Ok((setup, lat))
            }
            "udp" => {
                let s = rt.bind_udp(lo).await.map_err(|x| e(&x))?;
                let setup = us(rt.now() - t0);
                for _ in 0..self.rpcs {
                    let t = rt.now();
                    s.send_to(msg, &self.srv.udp).await.map_err(|x| e(&x))?;
                    let (n, _) = s.recv_from(&mut buf).await.map_err(|x| e(&x))?;
                    lat.push(us(rt.now() - t));
                    check(n, msg.len(), mode)?;
                }
                Ok((setup, lat))
            }
            "uds" => {
                let p = self.fresh_path("u");
                let s = rt.bind_unix(&p).map_err(|x| e(&x))?;
                let setup = us(rt.now() - t0);
                let r = async {
                    for _ in 0..self.rpcs {
                        let t = rt.now();
                        s.send_to(msg, &self.srv.uds).await.map_err(|x| e(&x))?;
                        let (n, _) = s.recv_from(&mut buf).await.map_err(|x| e(&x))?;
                        lat.push(us(rt.now() - t));
                        check(n, msg.len(), mode)?;
                    }
                    Ok::<(), String>(())
                }
                .await;
                drop(s);
                let _ = std::fs::remove_file(&p);
                r.map(|()| (setup, lat))
            }
            "bertha" => {
                let sock = Rc::new(rt.bind_udp(lo).await.map_err(|x| e(&x))?);
                let me = sock.local_addr().map_err(|x| e(&x))?;
                let p = self.fresh_path("c");
                let st = stack![lor(
                    rt,
                    &self.dir,
                    me,
                    move || p.clone(),
                    sent_local.clone()
                )];
                let (c, _) = negotiate::connect(
                    rt,
                    sock,
                    self.srv.bertha,
                    st,
                    &Registry::new(),
                    &NegotiateConfig::default(),
                )
                .await
                .map_err(|x| e(&x))?;
                // A first (untimed) exchange: once it is answered, the server's end of the
                // connection is built and its fast path registered.
                c.send((self.srv.bertha, b"h".to_vec()))
                    .await
                    .map_err(|x| e(&x))?;
                c.recv().await.map_err(|x| e(&x))?;
                let setup = us(rt.now() - t0);
                let before = sent_local.get();
                for _ in 0..self.rpcs {
                    let t = rt.now();
                    c.send((self.srv.bertha, msg.to_vec()))
                        .await
                        .map_err(|x| e(&x))?;
                    let (_, d) = c.recv().await.map_err(|x| e(&x))?;
                    lat.push(us(rt.now() - t));
                    check(d.len(), msg.len(), mode)?;
                }
                let timed = sent_local.get() - before;
                self.timed_local.set(self.timed_local.get() + timed);
                Ok((setup, lat))
            }
            other => Err(format!("unknown variant {other}")),
        }
    }
}

type Measured = (
    BTreeMap<(usize, String), Vec<f64>>,
    BTreeMap<String, Vec<f64>>,
    (u64, u64),
);

fn measure(opts: &Options, tmp: &Path) -> Result<Measured, ExperimentError> {
    let dir = HostDirectory::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let (t2, d2, rpcs) = (tmp.to_path_buf(), dir.clone(), opts.rpcs_per_conn);
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
        rpcs: opts.rpcs_per_conn,
        next: Cell::new(0),
        timed_local: Cell::new(0),
    };
    let sent_local = Rc::new(Cell::new(0u64));
    let res = rt.block_on(async {
        let mut samples: BTreeMap<(usize, String), Vec<f64>> = BTreeMap::new();
        let mut connect: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for &size in &opts.sizes {
            let msg: Vec<u8> = (0..size).map(|i| i as u8).collect();
            for mode in MODES {
                // One untimed warm-up connection per variant and size (not counted).
                let counted = cli.timed_local.get();
                cli.connection(mode, &msg, &sent_local).await?;
                cli.timed_local.set(counted);
                for _ in 0..opts.connections {
                    let (setup, lat) = cli.connection(mode, &msg, &sent_local).await?;
                    connect.entry(mode.to_string()).or_default().push(setup);
                    samples
                        .entry((size, mode.to_string()))
                        .or_default()
                        .extend(lat);
                }
            }
        }
        Ok::<_, String>((samples, connect))
    });
    let timed_local = cli.timed_local.get();
    drop(cli);
    drop(rt);
    drop(stop);
    let joined = server.join();
    let (samples, connect) = res.map_err(err)?;
    match joined {
        Ok(Ok(())) => {}
        Ok(Err(x)) => return Err(err(format!("server: {x}"))),
        Err(_) => return Err(err("the server thread panicked")),
    }
    let total = (opts.connections * opts.rpcs_per_conn * opts.sizes.len()) as u64;
    Ok((samples, connect, (timed_local, total)))
}

/// A fresh private directory for Unix sockets (their paths must be short: under the
/// temporary directory), named by `stem` and the process id. The caller removes it.
pub(crate) fn socket_dir(stem: &str) -> Result<PathBuf, ExperimentError> {
    let tmp = std::env::temp_dir().join(format!("bertha-{stem}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| ExperimentError::Output {
        path: tmp.display().to_string(),
        msg: e.to_string(),
    })?;
    Ok(tmp)
}

/// Runs the experiment and writes `samples.csv` into `opts.out`.
pub fn run(opts: &Options) -> Result<LocalFastPath, ExperimentError> {
    if opts.connections == 0 || opts.rpcs_per_conn == 0 || opts.sizes.is_empty() {
        return Err(err("expected at least one connection, request and size"));
    }
    if let Some(s) = opts.sizes.iter().find(|&&s| s == 0 || s > 65_000) {
        return Err(err(format!("a request of {s} bytes: expected 1..=65000")));
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| ExperimentError::Output {
        path: opts.out.display().to_string(),
        msg: e.to_string(),
    })?;
    let tmp = socket_dir("lfp")?;
    let measured = measure(opts, &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    let (samples, connect, bertha_local) = measured?;
    crate::write_samples(
        &opts.out.join("samples.csv"),
        ["size_bytes", "variant", "rpc", "micros"],
        &samples,
    )?;
    let mut rows = Vec::new();
    for &size in &opts.sizes {
        let med = |m: &str| quantile(&samples[&(size, m.to_string())], 0.5);
        let p95 = |m: &str| quantile(&samples[&(size, m.to_string())], 0.95);
        for (m, paper) in [
            ("tcp", "above both (inter-container TCP)"),
            ("udp", "(not in the paper)"),
            ("bertha", "≈ Unix pipes"),
        ] {
            rows.push(TableRow {
                quantity: format!("{size} B {m}: median"),
                unit: "µs".into(),
                ours: med(m),
                compared_with: "uds".into(),
                reference: Some(med("uds")),
                paper: paper.into(),
            });
        }
        rows.push(TableRow {
            quantity: format!("{size} B uds: median"),
            unit: "µs".into(),
            ours: med("uds"),
            compared_with: "tcp".into(),
            reference: Some(med("tcp")),
            paper: "the floor (Unix pipes)".into(),
        });
        rows.push(TableRow {
            quantity: format!("{size} B bertha: p95"),
            unit: "µs".into(),
            ours: p95("bertha"),
            compared_with: "uds p95".into(),
            reference: Some(p95("uds")),
            paper: "≈ Unix pipes".into(),
        });
    }
    let cmed = |m: &str| quantile(&connect[m], 0.5);
    for (m, paper) in [
        ("bertha", "discovery + negotiation: 2 IPC round trips"),
        ("tcp", "(connect excluded from the plot)"),
    ] {
        rows.push(TableRow {
            quantity: format!("{m} connection setup: median"),
            unit: "µs".into(),
            ours: cmed(m),
            compared_with: "uds".into(),
            reference: Some(cmed("uds")),
            paper: paper.into(),
        });
    }
    rows.push(TableRow {
        quantity: "bertha requests over the Unix socket".into(),
        unit: "%".into(),
        ours: 100.0 * bertha_local.0 as f64 / bertha_local.1 as f64,
        compared_with: "all".into(),
        reference: Some(100.0),
        paper: "UDS when the peer is local".into(),
    });
    let notes = vec![
        format!(
            "Real loopback (tokio, current-thread runtimes): server on its own thread, client on another; {} connections per variant and size, {} timed requests each (from send to the echo's arrival); connection setup excluded from the RPC samples and reported separately; one untimed warm-up connection per variant and size.",
            opts.connections, opts.rpcs_per_conn
        ),
        "tcp: datagrams as length-prefixed frames over a TCP connection (TCP_NODELAY), setup = handshake + 1-byte exchange; udp: plain UDP; bertha: 1-RTT negotiation over UDP of [local-or-remote], which sends over a Unix datagram socket when the host directory names the peer's; uds: raw Unix datagram sockets.".into(),
        "The paper uses containers and inter-container TCP; here both ends are threads of one process on loopback, so the TCP path has no veth/bridge hop.".into(),
    ];
    Ok(LocalFastPath {
        samples,
        connect,
        bertha_local,
        rows,
        notes,
    })
}
