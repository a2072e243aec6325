//! Thesis Fig 3.3 — throughput overhead: does a Bertha connection reach its datapath's
//! goodput?
//!
//! Real loopback only (tokio): a file server on its own thread, the clients on the calling
//! thread. A client sends a short request; the server answers with `bytes` of data in
//! `msg`-byte datagrams; the client's goodput is the bytes it received over the time from
//! before its request to its last data datagram. With several concurrent connections the
//! goodput is their total bytes over the span from the first request to the last datagram.
//! Per base connection ([`BACKENDS`]: UDP, Unix datagram sockets, TCP (datagrams as
//! length-prefixed frames, [`datapaths::tcp_dgram`]) and an in-process channel between the
//! threads ([`datapaths::inproc`], senders waiting while the receiver's 256-datagram mailbox
//! is full)), two variants of the same application:
//! - `raw`: the socket itself: the server reads requests and credits from its one socket and
//!   demultiplexes them by sender; the client uses a fresh socket per connection;
//! - `bertha`: a 1-RTT negotiated connection with the no-op stack (`stack![]`): the
//!   negotiation base connection with its epoch framing and the listener's demultiplexer, so
//!   the difference is what Bertha's data path costs.
//!
//! Flow control (the same in both variants, so UDP does not overrun the receiver's socket
//! buffer): the server keeps at most [`window`] datagrams unacknowledged (about
//! [`WINDOW_BYTES`]) and the client returns a credit every quarter window. If no credit comes for [`STALL`] the server assumes the
//! window lost and goes on (counted as a stall; on UDP a lost datagram costs a stall, on the
//! other backends nothing is lost). The end is an `END` datagram, repeated until acknowledged.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use chunnel::negotiate::{self, NegotiateConfig};
use chunnel::{stack, ChunnelConnection, Registry};
use datapaths::inproc::{MemNet, WhenFull};
use datapaths::tokio_rt::{TokioRuntime, UnixAddr};
use netrt::{DatagramSocket, Duration, Instant, Runtime};
use tokio::sync::Notify;

use crate::local_fast_path::{err, socket_dir, Stop};
use crate::{quantile, ExperimentError, TableRow};

/// The base connections, in plot order.
pub const BACKENDS: [&str; 4] = ["udp", "uds", "tcp", "inproc"];

/// The variants, in plot order.
pub const VARIANTS: [&str; 2] = ["raw", "bertha"];

/// Bytes the server may have unacknowledged (well under a UDP socket's default receive
/// buffer, counted with the kernel's per-datagram overhead).
pub const WINDOW_BYTES: u64 = 64 * 1024;

/// Datagrams of `msg` bytes the server may have unacknowledged: [`WINDOW_BYTES`] of them, at
/// least 4, and fewer than a Unix datagram socket queues (`net.unix.max_dgram_qlen`, 10 by
/// default: a sender to a full unconnected Unix socket is not woken when it drains).
pub fn window(msg: usize) -> u64 {
    let qlen = std::fs::read_to_string("/proc/sys/net/unix/max_dgram_qlen")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(10);
    (WINDOW_BYTES / (msg as u64 + 64))
        .min(qlen.saturating_sub(2))
        .max(4)
}

/// The client credits every quarter window.
pub fn credit_every(msg: usize) -> u64 {
    (window(msg) / 4).max(1)
}

/// How long the server waits for a credit before it assumes the window lost.
pub const STALL: Duration = Duration::from_millis(20);

const DATA: u8 = 0;
const END: u8 = 1;
const CREDIT: u8 = 2;
const END_ACK: u8 = 3;
const REQUEST: u8 = 4;

const BUF: usize = 65_536;

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Bytes each connection receives (the paper: a 50 MB file).
    pub bytes: u64,
    /// Bytes of data per datagram (default 8,192; at most 60,000). Loopback has no MTU, and with
    /// the few datagrams a Unix socket queues (see [`window`]) MTU-sized datagrams would
    /// measure cross-thread wake-ups, not the datapath.
    pub msg: usize,
    /// Concurrent connection counts (the gap default: 1, 2, 4, 8).
    pub connections: Vec<usize>,
    /// Trials per point (the authors' later version: 10).
    pub trials: usize,
    /// Base connections to measure (names from [`BACKENDS`]).
    pub backends: Vec<String>,
    /// Where `samples.csv` goes.
    pub out: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bytes: 50_000_000,
            msg: 8192,
            connections: vec![1, 2, 4, 8],
            trials: 10,
            backends: BACKENDS.iter().map(|b| b.to_string()).collect(),
            out: PathBuf::from("."),
        }
    }
}

/// Samples (Gbit/s) and the table.
#[derive(Debug)]
pub struct Throughput {
    /// `(backend, connections, variant)` → goodput per trial, Gbit/s.
    pub samples: BTreeMap<(String, usize, String), Vec<f64>>,
    /// `(backend, variant)` → bytes lost over all measured trials (UDP only; the other
    /// backends lose nothing or the trial fails).
    pub lost: BTreeMap<(String, String), u64>,
    /// The comparison table.
    pub rows: Vec<TableRow>,
    /// Remarks for the table.
    pub notes: Vec<String>,
}

// ---- the application, over either variant ----

/// What the server's sending side needs: data out, control in.
trait Flow {
    /// Sends one datagram to the client.
    async fn put(&self, b: &[u8]) -> Result<(), String>;
    /// The client's next control datagram (`CREDIT` with its count, `END_ACK`), or `None`
    /// after `d`.
    async fn control(&self, d: Duration) -> Result<Option<(u8, u64)>, String>;
}

fn parse_control(b: &[u8]) -> Option<(u8, u64)> {
    match *b.first()? {
        CREDIT => Some((CREDIT, u64::from_le_bytes(b.get(1..9)?.try_into().ok()?))),
        END_ACK => Some((END_ACK, 0)),
        _ => None,
    }
}

/// Streams `bytes` in `msg`-byte datagrams under the credit window.
async fn serve_file(flow: &impl Flow, bytes: u64, msg: usize) -> Result<(), String> {
    let mut d = vec![0u8; msg + 1];
    d[0] = DATA;
    let n = bytes.div_ceil(msg as u64);
    let (mut sent, mut acked) = (0u64, 0u64);
    while sent < n {
        if sent - acked < window(msg) {
            let len = if sent + 1 == n {
                (bytes - sent * msg as u64) as usize
            } else {
                msg
            };
            flow.put(&d[..len + 1]).await?;
            sent += 1;
            continue;
        }
        match flow.control(STALL).await? {
            Some((CREDIT, c)) => acked = acked.max(c.min(sent)),
            Some(_) => {}
            // The window is assumed lost.
            None => acked = sent,
        }
    }
    for _ in 0..100 {
        flow.put(&[END]).await?;
        loop {
            match flow.control(Duration::from_millis(10)).await? {
                Some((END_ACK, _)) => return Ok(()),
                Some(_) => continue,
                None => break,
            }
        }
    }
    Ok(())
}

/// What the client needs: send to an address, receive into a buffer.
trait Pipe {
    type Addr: Clone;
    async fn put(&self, b: &[u8], to: &Self::Addr) -> Result<(), String>;
    /// The next datagram's length, first byte (0 if empty) and sender: what the receiving
    /// application looks at, read where each variant holds it (no extra copy).
    async fn get(&self) -> Result<(usize, u8, Self::Addr), String>;
}

/// A raw socket and the application's receive buffer.
struct RawPipe<S>(S, std::cell::RefCell<Vec<u8>>);

impl<S: DatagramSocket> Pipe for RawPipe<S> {
    type Addr = S::Addr;
    async fn put(&self, b: &[u8], to: &S::Addr) -> Result<(), String> {
        self.0
            .send_to(b, to)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
    async fn get(&self) -> Result<(usize, u8, S::Addr), String> {
        // One receive at a time per connection: the borrow is never contended.
        let mut buf = self.1.take();
        let r = self.0.recv_from(&mut buf).await;
        let kind = buf.first().copied().unwrap_or(0);
        self.1.replace(buf);
        let (n, from) = r.map_err(|e| e.to_string())?;
        Ok((n, if n == 0 { 0 } else { kind }, from))
    }
}

struct ConnPipe<C>(C);

impl<A: Clone, C: ChunnelConnection<Data = (A, Vec<u8>)>> Pipe for ConnPipe<C> {
    type Addr = A;
    async fn put(&self, b: &[u8], to: &A) -> Result<(), String> {
        self.0
            .send((to.clone(), b.to_vec()))
            .await
            .map_err(|e| e.to_string())
    }
    async fn get(&self) -> Result<(usize, u8, A), String> {
        let (from, b) = self.0.recv().await.map_err(|e| e.to_string())?;
        Ok((b.len(), b.first().copied().unwrap_or(0), from))
    }
}

/// One connection's transfer: (time of the request, time of the last data, bytes).
async fn fetch<P: Pipe>(
    rt: &TokioRuntime,
    p: &P,
    server: &P::Addr,
    bytes: u64,
    credit_every: u64,
) -> Result<(Instant, Instant, u64), String> {
    let mut req = vec![REQUEST];
    req.extend_from_slice(&bytes.to_le_bytes());
    let t0 = rt.now();
    p.put(&req, server).await?;
    let (mut got, mut msgs, mut last) = (0u64, 0u64, t0);
    loop {
        let (n, kind, from) = match rt.timeout(Duration::from_millis(200), p.get()).await {
            Ok(r) => r?,
            // A lost request (UDP): ask again.
            Err(_) if msgs == 0 => {
                p.put(&req, server).await?;
                continue;
            }
            Err(_) => return Err(format!("stalled after {got} bytes")),
        };
        match (n > 0).then_some(kind) {
            Some(DATA) => {
                got += (n - 1) as u64;
                msgs += 1;
                last = rt.now();
                if msgs % credit_every == 0 {
                    let mut c = vec![CREDIT];
                    c.extend_from_slice(&msgs.to_le_bytes());
                    p.put(&c, &from).await?;
                }
            }
            Some(END) => {
                p.put(&[END_ACK], &from).await?;
                return Ok((t0, last, got));
            }
            _ => {}
        }
    }
}

// ---- the servers ----

/// A raw flow: the server's one socket, demultiplexed by the reader task.
struct RawFlow<S: DatagramSocket> {
    sock: Rc<S>,
    to: S::Addr,
    state: Rc<FlowState>,
    rt: TokioRuntime,
}

#[derive(Default)]
struct FlowState {
    inbox: std::cell::RefCell<std::collections::VecDeque<(u8, u64)>>,
    notify: Notify,
}

impl<S: DatagramSocket> Flow for RawFlow<S> {
    async fn put(&self, b: &[u8]) -> Result<(), String> {
        self.sock
            .send_to(b, &self.to)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
    async fn control(&self, d: Duration) -> Result<Option<(u8, u64)>, String> {
        let deadline = self.rt.now() + d;
        loop {
            if let Some(c) = self.state.inbox.borrow_mut().pop_front() {
                return Ok(Some(c));
            }
            let left = deadline.saturating_since(self.rt.now());
            if left.is_zero()
                || self
                    .rt
                    .timeout(left, self.state.notify.notified())
                    .await
                    .is_err()
            {
                return Ok(None);
            }
        }
    }
}

/// A negotiated flow: the connection the listener built.
struct ConnFlow<C, A> {
    conn: C,
    to: A,
    rt: TokioRuntime,
}

impl<A: Clone, C: ChunnelConnection<Data = (A, Vec<u8>)>> Flow for ConnFlow<C, A> {
    async fn put(&self, b: &[u8]) -> Result<(), String> {
        self.conn
            .send((self.to.clone(), b.to_vec()))
            .await
            .map_err(|e| e.to_string())
    }
    async fn control(&self, d: Duration) -> Result<Option<(u8, u64)>, String> {
        let deadline = self.rt.now() + d;
        loop {
            let left = deadline.saturating_since(self.rt.now());
            match self.rt.timeout(left, self.conn.recv()).await {
                Err(_) => return Ok(None),
                Ok(Err(e)) => return Err(e.to_string()),
                Ok(Ok((_, b))) => {
                    if let Some(c) = parse_control(&b) {
                        return Ok(Some(c));
                    }
                }
            }
        }
    }
}

fn parse_request(b: &[u8]) -> Option<u64> {
    (b.first() == Some(&REQUEST)).then_some(())?;
    Some(u64::from_le_bytes(b.get(1..9)?.try_into().ok()?))
}

/// The raw file server on `sock`.
fn raw_server<S>(rt: &TokioRuntime, sock: S, msg: usize)
where
    S: DatagramSocket + 'static,
    S::Addr: Ord,
{
    let sock = Rc::new(sock);
    let rt2 = rt.clone();
    rt.spawn(async move {
        let mut flows: BTreeMap<S::Addr, Rc<FlowState>> = BTreeMap::new();
        let mut buf = vec![0u8; BUF];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            if let Some(bytes) = parse_request(&buf[..n]) {
                if flows.contains_key(&from) {
                    continue; // a repeated request
                }
                let state = Rc::new(FlowState::default());
                flows.insert(from.clone(), state.clone());
                let flow = RawFlow {
                    sock: sock.clone(),
                    to: from,
                    state,
                    rt: rt2.clone(),
                };
                rt2.spawn(async move {
                    let _ = serve_file(&flow, bytes, msg).await;
                });
            } else if let Some(c) = parse_control(&buf[..n]) {
                if let Some(f) = flows.get(&from) {
                    f.inbox.borrow_mut().push_back(c);
                    f.notify.notify_one();
                    if c.0 == END_ACK {
                        flows.remove(&from);
                    }
                }
            }
        }
    });
}

/// The negotiating file server on `sock`, with the no-op stack.
fn bertha_server<S>(rt: &TokioRuntime, sock: S, msg: usize)
where
    S: DatagramSocket + 'static,
    S::Addr: Ord,
{
    let l = negotiate::listen(
        rt,
        Rc::new(sock),
        stack![],
        Registry::new(),
        NegotiateConfig::default(),
    );
    let rt2 = rt.clone();
    rt.spawn(async move {
        while let Ok((from, conn, _)) = l.accept().await {
            let rt3 = rt2.clone();
            rt2.spawn(async move {
                // The request, then the file.
                let Ok(Ok((_, b))) = rt3.timeout(Duration::from_secs(5), conn.recv()).await else {
                    return;
                };
                let Some(bytes) = parse_request(&b) else {
                    return;
                };
                let flow = ConnFlow {
                    conn,
                    to: from,
                    rt: rt3,
                };
                let _ = serve_file(&flow, bytes, msg).await;
            });
        }
    });
}

/// The server's addresses, per backend: (raw, bertha).
struct Addrs {
    udp: (SocketAddr, SocketAddr),
    uds: (UnixAddr, UnixAddr),
    tcp: (SocketAddr, SocketAddr),
    inproc: (u32, u32),
}

fn serve(
    tmp: PathBuf,
    net: MemNet,
    msg: usize,
    ready: std::sync::mpsc::Sender<Result<Addrs, String>>,
) -> Result<(), String> {
    let rt = TokioRuntime::new().map_err(|e| e.to_string())?;
    let r2 = rt.clone();
    let fail = ready.clone();
    let res = rt.block_on(async move {
        let rt = r2;
        let e = |x: io::Error| x.to_string();
        let lo: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let (u1, u2) = (
            rt.bind_udp(lo).await.map_err(e)?,
            rt.bind_udp(lo).await.map_err(e)?,
        );
        let udp = (u1.local_addr().map_err(e)?, u2.local_addr().map_err(e)?);
        raw_server(&rt, u1, msg);
        bertha_server(&rt, u2, msg);
        let uds = (
            UnixAddr::from(tmp.join("raw.sock")),
            UnixAddr::from(tmp.join("bertha.sock")),
        );
        let (s1, s2) = (
            rt.bind_unix(&uds.0).map_err(e)?,
            rt.bind_unix(&uds.1).map_err(e)?,
        );
        raw_server(&rt, s1, msg);
        bertha_server(&rt, s2, msg);
        let (t1, t2) = (
            rt.bind_tcp(lo).await.map_err(e)?,
            rt.bind_tcp(lo).await.map_err(e)?,
        );
        let tcp = (t1.local_addr().map_err(e)?, t2.local_addr().map_err(e)?);
        raw_server(&rt, t1, msg);
        bertha_server(&rt, t2, msg);
        let (i1, i2) = (net.bind(), net.bind());
        let inproc = (i1.local_addr().map_err(e)?, i2.local_addr().map_err(e)?);
        raw_server(&rt, i1, msg);
        bertha_server(&rt, i2, msg);
        let stop = rt.bind_unix(tmp.join("stop.sock")).map_err(e)?;
        let _ = ready.send(Ok(Addrs {
            udp,
            uds,
            tcp,
            inproc,
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

// ---- the client ----

/// What one trial runs.
#[derive(Clone, Copy)]
struct Shape<'a> {
    variant: &'a str,
    conns: usize,
    bytes: u64,
    msg: usize,
    /// Losses are measured, not an error (UDP).
    lossy: bool,
}

/// One trial: `conns` concurrent connections of `variant`, each from a socket made by
/// `fresh`; the total goodput in Gbit/s and the bytes lost (an error unless `lossy`).
async fn trial<S, F, Fut>(
    rt: &TokioRuntime,
    fresh: F,
    server: (S::Addr, S::Addr),
    shape: Shape<'_>,
) -> Result<(f64, u64), String>
where
    S: DatagramSocket + 'static,
    S::Addr: Ord,
    F: Fn() -> Fut,
    Fut: Future<Output = io::Result<S>>,
{
    let Shape {
        variant,
        conns,
        bytes,
        msg,
        lossy,
    } = shape;
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let sock = fresh().await.map_err(|e| e.to_string())?;
        let rt2 = rt.clone();
        let bertha = variant == "bertha";
        let credit = credit_every(msg);
        let server = if bertha {
            server.1.clone()
        } else {
            server.0.clone()
        };
        tasks.push(rt.spawn(async move {
            if bertha {
                let (c, _) = negotiate::connect(
                    &rt2,
                    Rc::new(sock),
                    server.clone(),
                    stack![],
                    &Registry::new(),
                    &NegotiateConfig::default(),
                )
                .await
                .map_err(|e| e.to_string())?;
                fetch(&rt2, &ConnPipe(c), &server, bytes, credit).await
            } else {
                fetch(
                    &rt2,
                    &RawPipe(sock, vec![0; BUF].into()),
                    &server,
                    bytes,
                    credit,
                )
                .await
            }
        }));
    }
    let (mut first, mut last, mut total) = (None::<Instant>, None::<Instant>, 0u64);
    for t in tasks {
        let (t0, t1, got) = t.await.map_err(|e| e.to_string())??;
        first = Some(first.map_or(t0, |f| f.min(t0)));
        last = Some(last.map_or(t1, |l| l.max(t1)));
        total += got;
    }
    let span = match (first, last) {
        (Some(a), Some(b)) if b > a => (b - a).as_secs_f64(),
        _ => return Err("no data arrived".into()),
    };
    let want = bytes * conns as u64;
    if total > want || (total < want && !lossy) {
        return Err(format!("{total} bytes arrived of {want}"));
    }
    Ok((total as f64 * 8.0 / span / 1e9, want - total))
}

type Samples = BTreeMap<(String, usize, String), Vec<f64>>;

type Losses = BTreeMap<(String, String), u64>;

fn measure(opts: &Options, tmp: &Path) -> Result<(Samples, Losses), ExperimentError> {
    let net = MemNet::new(256, WhenFull::Wait);
    let (tx, rx) = std::sync::mpsc::channel();
    let (t2, n2, msg) = (tmp.to_path_buf(), net.clone(), opts.msg);
    let server = std::thread::spawn(move || serve(t2, n2, msg, tx));
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
    let next = Cell::new(0u64);
    let lo: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let res = rt.block_on(async {
        let mut samples = Samples::new();
        let mut losses = BTreeMap::new();
        for backend in &opts.backends {
            for &conns in &opts.connections {
                // One untimed warm-up round per point, then the measured ones. The variants
                // alternate within a round, each going first in every other round, so drift of
                // a shared machine (other jobs, frequency) falls on both alike and trial `i` of
                // `raw` and of `bertha` form a pair.
                for i in 0..=opts.trials {
                    let order = if i % 2 == 0 {
                        [VARIANTS[0], VARIANTS[1]]
                    } else {
                        [VARIANTS[1], VARIANTS[0]]
                    };
                    for variant in order {
                        let key = (backend.clone(), conns, variant.to_string());
                        let shape = Shape {
                            variant,
                            conns,
                            bytes: opts.bytes,
                            msg: opts.msg,
                            lossy: backend == "udp",
                        };
                        let (g, lost) = match backend.as_str() {
                            "udp" => trial(&rt, || rt.bind_udp(lo), srv.udp, shape).await,
                            "uds" => {
                                let fresh = || {
                                    next.set(next.get() + 1);
                                    let p = tmp.join(format!("c{}.sock", next.get()));
                                    std::future::ready(rt.bind_unix(p))
                                };
                                trial(&rt, fresh, srv.uds.clone(), shape).await
                            }
                            "tcp" => trial(&rt, || rt.bind_tcp(lo), srv.tcp, shape).await,
                            "inproc" => {
                                let fresh = || std::future::ready(Ok(net.bind()));
                                trial(&rt, fresh, srv.inproc, shape).await
                            }
                            other => Err(format!(
                                "unknown backend `{other}`: expected one of {}",
                                BACKENDS.join(", ")
                            )),
                        }
                        .map_err(|e| format!("{backend}/{variant}/{conns} connections: {e}"))?;
                        if i > 0 {
                            samples.entry(key.clone()).or_default().push(g);
                            *losses
                                .entry((backend.clone(), variant.to_string()))
                                .or_default() += lost;
                        }
                    }
                }
            }
        }
        Ok::<_, String>((samples, losses))
    });
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
pub fn run(opts: &Options) -> Result<Throughput, ExperimentError> {
    if opts.bytes == 0 || opts.trials == 0 || opts.connections.is_empty() {
        return Err(err("expected bytes, trials and connection counts above 0"));
    }
    if opts.connections.iter().any(|&c| c == 0 || c > 64) {
        return Err(err("connections: expected counts in 1..=64"));
    }
    if opts.msg == 0 || opts.msg > 60_000 {
        return Err(err(format!(
            "a datagram of {} bytes: expected 1..=60000",
            opts.msg
        )));
    }
    if let Some(b) = opts
        .backends
        .iter()
        .find(|b| !BACKENDS.contains(&b.as_str()))
    {
        return Err(err(format!(
            "unknown backend `{b}`: expected one of {}",
            BACKENDS.join(", ")
        )));
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| ExperimentError::Output {
        path: opts.out.display().to_string(),
        msg: e.to_string(),
    })?;
    let tmp = socket_dir("tput")?;
    let measured = measure(opts, &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    let (samples, lost) = measured?;
    let keyed: BTreeMap<(String, String), Vec<f64>> = samples
        .iter()
        .map(|((b, c, v), x)| ((format!("{b}/{c}"), v.clone()), x.clone()))
        .collect();
    let path = opts.out.join("samples.csv");
    crate::write_samples(
        &path,
        ["backend/connections", "variant", "trial", "gbps"],
        &keyed,
    )?;
    let mut rows = Vec::new();
    for b in &opts.backends {
        for &c in &opts.connections {
            let of = |v: &str| &samples[&(b.clone(), c, v.to_string())];
            let (raw, bertha) = (quantile(of("raw"), 0.5), quantile(of("bertha"), 0.5));
            let paired: Vec<f64> = of("raw")
                .iter()
                .zip(of("bertha"))
                .map(|(r, b)| b / r)
                .collect();
            rows.push(TableRow {
                quantity: format!("{b} {c} conn: bertha median goodput"),
                unit: "Gbit/s".into(),
                ours: bertha,
                compared_with: "raw".into(),
                reference: Some(raw),
                paper: "negligible overhead".into(),
            });
            rows.push(TableRow {
                quantity: format!("{b} {c} conn: bertha / raw"),
                unit: "ratio".into(),
                ours: bertha / raw,
                compared_with: "target".into(),
                reference: Some(0.95),
                paper: "≈ 1, flat in connections".into(),
            });
            rows.push(TableRow {
                quantity: format!("{b} {c} conn: paired bertha / raw, median over rounds"),
                unit: "ratio".into(),
                ours: quantile(&paired, 0.5),
                compared_with: "target".into(),
                reference: Some(0.95),
                paper: "≈ 1, flat in connections".into(),
            });
        }
    }
    let lossy: Vec<String> = lost
        .iter()
        .filter(|(_, &l)| l > 0)
        .map(|((b, v), l)| format!("{b}/{v}: {l} bytes"))
        .collect();
    let notes = vec![
        format!(
            "Real loopback (tokio, current-thread runtimes): file server on its own thread, clients on another; {} bytes per connection in {}-byte datagrams; {} measured rounds per point after one warm-up round, raw and bertha alternating within a round; goodput = bytes / (last datagram − request), over all connections of a trial.",
            opts.bytes, opts.msg, opts.trials
        ),
        format!(
            "Flow control in both variants: a credit every {} datagrams, at most {} unacknowledged; after {} ms without a credit the window counts as lost (UDP only: goodput counts what arrived). Lost over all trials: {}.",
            credit_every(opts.msg),
            window(opts.msg),
            STALL.as_millis(),
            if lossy.is_empty() { "none".to_string() } else { lossy.join(", ") }
        ),
        "raw: the socket itself, the server demultiplexing by sender; bertha: the negotiated no-op stack (1-RTT negotiation, epoch-framed datagrams, the listener's demultiplexer). The paper's datapaths (DPDK, Shenango) need NICs these machines lack; the in-process channel stands in for Shenango-A's memory channel.".into(),
    ];
    Ok(Throughput {
        samples,
        lost,
        rows,
        notes,
    })
}
