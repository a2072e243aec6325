//! Datapath portability and overhead (thesis Fig 3.11) on real sockets: the sharded store's
//! client-push path on several backends, each in three variants, under the open-loop YCSB
//! load of [`crate::loadgen`].
//!
//! # Backends ([`Backend`])
//! UDP on loopback, Unix datagram sockets, datagrams over loopback TCP connections
//! (`datapaths::tcp_dgram`), and an in-process memory channel between threads
//! ([`datapaths::inproc`], dropping beyond a 4,096-datagram mailbox). The server runs on its own thread and tokio current-thread runtime,
//! the clients on the calling thread's; the same application code runs on every backend,
//! generic over the socket ([`netrt::DatagramSocket`]).
//!
//! # Variants ([`Variant`])
//! - **full**: what [`crate::Server`] and [`crate::KvClient`] do for client push. Each client
//!   connection is a [`KvClient`] in [`ClientMode::Push`]: it negotiates
//!   `stack![ClientShard(shard addresses), bincode]` with the server's front socket
//!   (`stack![AcceptClientPush, bincode]`), then sends each request to its shard's socket,
//!   where `stack![AcceptClientPush, bincode]` listens with an implicit alternative (as the
//!   server's shard sockets do); datagrams carry negotiation's 5-byte data frame (tag,
//!   epoch) and go through its demultiplexing pump.
//! - **no negotiation**: the same two stacks, built with `connect_wrap` directly over the
//!   bare socket (`chunnels::multicast::SocketConn`), both ends agreeing out of band (the
//!   client is given the shard addresses); no front, no data frame, no pump.
//! - **inlined**: no Chunnel at all: the client serializes with bincode (the options the
//!   `bincode` Chunnel uses), picks the shard by FNV-1a of the key's first 4 bytes
//!   ([`chunnels::shard::shard_of`], a plain function) and calls `send_to`; a shard decodes,
//!   applies, encodes and calls `send_to`.
//!
//! On the server every variant has the same shape: per shard socket (per accepted
//! connection under full), one task receives a request, applies it on its key's shard of the
//! [`Store`](crate::store::Store) and sends the reply, in line. (So the full variant's server is not
//! [`crate::Server`]'s staged pipeline, whose FIFO stages exist for the simulator's cost
//! model; it is the same stacks and negotiation.)
//!
//! # A run ([`run`])
//! Bind and start the server; connect [`PortabilityConfig::connections`] client connections
//! (each its own socket); put every record through the first (closed loop, 8 outstanding);
//! run the open loop for [`PortabilityConfig::duration`] at
//! [`PortabilityConfig::offered`] and wait [`PortabilityConfig::drain`]; then check
//! correctness: put a fresh value at each of the first [`VERIFY_RECORDS`] records and read
//! it back (counted in [`PortabilityRun::verified`] and [`PortabilityRun::mismatches`]).
//! Real time: results depend on the machine and its load.
//!
//! # Files
//! This module holds the configuration, [`run`] and the clients; `nets` the backends (how
//! each binds a socket) and `server` the server's tasks for each variant.

use std::cell::Cell;
use std::fmt::Debug;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use bincode::Options as _;
use chunnel::{stack, Chunnel, ChunnelConnection};
use chunnels::multicast::SocketConn;
use chunnels::serialize::{bincode as bincode_layer, SerializeConn};
use chunnels::shard::{shard_of, ClientShard, ClientShardConn};
use datapaths::tokio_rt::TokioRuntime;
use netrt::{DatagramSocket, Duration, Runtime};

use crate::client::{ClientMode, KvClient};
use crate::loadgen::{load_phase, open_loop, LoadResult, OpenLoop, RequestConn};
use crate::msg::{key_of, value_of, Msg, Op};
use crate::ycsb::{KeyDist, Workload};
use crate::KvError;
use datapaths::inproc::{MemNet, WhenFull};

mod nets;
mod server;

use nets::{Net, TcpNet, TempDir, UdpNet, UnixNet};
use server::{encode, server_thread, wire, Addrs};
/// Records whose value is written and read back after the measured phase.
pub const VERIFY_RECORDS: u64 = 64;

/// A datapath the store runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Backend {
    /// UDP on 127.0.0.1.
    Udp,
    /// Unix datagram sockets (paths in a fresh temporary directory).
    Unix,
    /// Datagrams over TCP connections on 127.0.0.1 (`datapaths::tcp_dgram`).
    Tcp,
    /// An in-process memory channel between the server's and the clients' threads.
    InProcess,
}

impl Backend {
    /// Every backend.
    pub const ALL: [Backend; 4] = [
        Backend::Udp,
        Backend::Unix,
        Backend::Tcp,
        Backend::InProcess,
    ];

    /// Its name in figures and files.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Udp => "UDP",
            Backend::Unix => "Unix datagram",
            Backend::Tcp => "TCP",
            Backend::InProcess => "in-process",
        }
    }
}

/// How much of Bertha a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Variant {
    /// Negotiation and Chunnels (thesis "Bertha full").
    Full,
    /// The same Chunnel stacks built without negotiation (thesis "No Negotiation").
    NoNegotiation,
    /// Chunnels inlined: hand-written serialization and sharding (thesis "Baseline").
    Inlined,
}

impl Variant {
    /// Every variant.
    pub const ALL: [Variant; 3] = [Variant::Full, Variant::NoNegotiation, Variant::Inlined];

    /// Its name in figures and files.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Full => "full (negotiation + Chunnels)",
            Variant::NoNegotiation => "no negotiation",
            Variant::Inlined => "inlined (no Chunnels)",
        }
    }
}

/// One run's parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct PortabilityConfig {
    /// Seed of the load generator's streams.
    pub seed: u64,
    /// Shards (one socket each).
    pub shards: usize,
    /// Client connections, each its own socket and Poisson source.
    pub connections: usize,
    /// YCSB workload.
    pub workload: Workload,
    /// Key distribution.
    pub keys: KeyDist,
    /// Records put before measuring.
    pub records: u64,
    /// Offered load over all connections, requests/s.
    pub offered: f64,
    /// Measured phase length.
    pub duration: Duration,
    /// Wait for late replies after it.
    pub drain: Duration,
    /// Longest wait for a reply in the load phase and the check.
    pub timeout: Duration,
}

impl PortabilityConfig {
    /// Thesis Fig 3.9's workload (FIGURES.md, "loads as Fig 3.9") on one machine: 6 shards,
    /// YCSB B, zipfian 0.99 over 12,000 records loaded first, 132-byte messages; 4 client
    /// connections (one client: the other side of the machine's 2 cores is the server); 1 s
    /// measured, 100 ms drain.
    pub fn thesis_fig_3_11(offered: f64) -> Self {
        PortabilityConfig {
            seed: 1,
            shards: 6,
            connections: 4,
            workload: Workload::B,
            keys: KeyDist::Zipfian { theta: 0.99 },
            records: 12_000,
            offered,
            duration: Duration::from_secs(1),
            drain: Duration::from_millis(100),
            timeout: Duration::from_secs(2),
        }
    }

    fn validate(&self) -> Result<(), KvError> {
        let bad = |m: String| Err(KvError::Config(m));
        if self.shards == 0 || self.shards > 256 {
            return bad(format!("shards: expected 1..=256, got {}", self.shards));
        }
        if self.connections == 0 || self.connections > 64 {
            return bad(format!(
                "connections: expected 1..=64, got {}",
                self.connections
            ));
        }
        if !(self.offered.is_finite() && self.offered > 0.0 && self.offered <= 10e6) {
            return bad(format!(
                "offered: expected 0 < requests/s <= 10,000,000, got {}",
                self.offered
            ));
        }
        if self.records == 0 || self.records >= 1 << 40 {
            return bad(format!("records: expected 1..2^40, got {}", self.records));
        }
        if let KeyDist::Zipfian { theta } = self.keys {
            if !(theta > 0.0 && theta < 1.0) {
                return bad(format!("keys: zipfian theta in (0, 1), got {theta}"));
            }
        }
        if self.duration.is_zero() || self.duration > Duration::from_secs(3600) {
            return bad(format!(
                "duration: expected more than 0 and at most 1 hour, got {:?}",
                self.duration
            ));
        }
        if self.timeout.is_zero() {
            return bad("timeout: expected more than 0".into());
        }
        Ok(())
    }
}

/// What the server saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Requests answered per shard.
    pub per_shard: Vec<u64>,
    /// Requests that arrived at a shard socket other than their key's (applied on their key's
    /// shard anyway).
    pub misrouted: u64,
    /// Datagrams that did not decode.
    pub decode_errors: u64,
    /// Connections accepted (full: by the front and implicitly by the shard sockets).
    pub connections: u64,
    /// Records stored at the end.
    pub records: usize,
}

/// What one run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct PortabilityRun {
    /// The backend.
    pub backend: Backend,
    /// The variant.
    pub variant: Variant,
    /// The open-loop phase.
    pub load: LoadResult,
    /// The server's counters.
    pub server: ServerStats,
    /// Records written and read back after the measured phase.
    pub verified: u64,
    /// Of them, reads that did not return the value written.
    pub mismatches: u64,
}

/// Runs one backend in one variant (see the module documentation). Blocks the calling
/// thread, which must not be inside a tokio runtime; the server gets a thread of its own.
pub fn run(
    backend: Backend,
    variant: Variant,
    cfg: &PortabilityConfig,
) -> Result<PortabilityRun, KvError> {
    cfg.validate()?;
    let (load, server, (verified, mismatches)) = match backend {
        Backend::Udp => run_on(UdpNet, variant, cfg)?,
        Backend::Tcp => run_on(TcpNet, variant, cfg)?,
        Backend::InProcess => run_on(MemNet::new(4096, WhenFull::Drop), variant, cfg)?,
        Backend::Unix => {
            let dir = TempDir::new()?;
            let net = UnixNet {
                dir: Arc::new(dir.0.clone()),
                next: Arc::new(AtomicU64::new(0)),
            };
            run_on(net, variant, cfg)?
        }
    };
    Ok(PortabilityRun {
        backend,
        variant,
        load,
        server,
        verified,
        mismatches,
    })
}

// ---------------------------------------------------------------------------------------
// Clients.

/// The no-negotiation client: the full variant's client stack over the bare socket.
struct NoNegClient<S: DatagramSocket> {
    conn: ClientShardConn<SerializeConn<SocketConn<S>, Msg>, S::Addr>,
    /// The address handed to the sharding layer, which ignores it.
    service: S::Addr,
}

impl<S: DatagramSocket> RequestConn for NoNegClient<S> {
    async fn send_request(&self, req: Msg) -> Result<(), KvError> {
        Ok(self.conn.send((self.service.clone(), req)).await?)
    }

    async fn recv_reply(&self) -> Result<Msg, KvError> {
        Ok(self.conn.recv().await?.1)
    }
}

/// The inlined client: bincode, FNV shard choice and `send_to` by hand.
struct InlinedClient<S: DatagramSocket> {
    sock: S,
    shards: Vec<S::Addr>,
    rbuf: Cell<Vec<u8>>,
}

impl<S: DatagramSocket> RequestConn for InlinedClient<S> {
    async fn send_request(&self, req: Msg) -> Result<(), KvError> {
        let out = encode(&req)?;
        let to = &self.shards[shard_of(&req.key, self.shards.len())];
        self.sock.send_to(&out, to).await?;
        Ok(())
    }

    /// Skips datagrams that do not decode.
    async fn recv_reply(&self) -> Result<Msg, KvError> {
        loop {
            let mut buf = self.rbuf.take();
            buf.resize(2048, 0);
            let r = self.sock.recv_from(&mut buf).await;
            let decoded = match &r {
                Ok((n, _)) => wire().deserialize::<Msg>(&buf[..*n]).ok(),
                Err(_) => None,
            };
            self.rbuf.set(buf);
            r?;
            if let Some(m) = decoded {
                return Ok(m);
            }
        }
    }
}

/// Sends `req` and waits for the reply with its id (others are dropped).
async fn call<C: RequestConn>(
    rt: &TokioRuntime,
    c: &C,
    req: Msg,
    timeout: Duration,
) -> Result<Msg, KvError> {
    let id = req.id;
    // The send is under the timeout too: a Unix datagram socket blocks the sender while the
    // server's queue is full.
    rt.timeout(timeout, async {
        c.send_request(req).await?;
        loop {
            let r = c.recv_reply().await?;
            if r.id == id {
                return Ok(r);
            }
        }
    })
    .await
    .map_err(|_| KvError::Timeout(id))?
}

/// Load phase, open loop, check.
async fn drive<C: RequestConn + 'static>(
    rt: &TokioRuntime,
    conns: &[Rc<C>],
    cfg: &PortabilityConfig,
) -> Result<(LoadResult, (u64, u64)), KvError> {
    let first = conns
        .first()
        .ok_or_else(|| KvError::Config("connections: expected at least 1".into()))?;
    // 8 outstanding: a Unix datagram socket queues 10 (`max_dgram_qlen`) and blocks the
    // sender beyond; the load phase sends from the task that receives, so a full queue at both
    // ends would deadlock it.
    load_phase(rt, &**first, cfg.records, 8, cfg.timeout).await?;
    let spec = OpenLoop {
        workload: cfg.workload,
        keys: cfg.keys,
        records: cfg.records,
        offered: cfg.offered,
        duration: cfg.duration,
        drain: cfg.drain,
        seed: cfg.seed,
    };
    let load = open_loop(rt, conns, &spec).await;
    // Replies to the open loop's late requests keep arriving after it stopped reading. On Unix
    // datagram sockets a connection whose queue fills blocks the server's send, and with it the
    // shard the check below needs: keep reading (and dropping) on the other connections until
    // the check is done. The first connection's replies are read by `call`, which skips them.
    let drains: Vec<_> = conns
        .iter()
        .skip(1)
        .map(|c| {
            let c = c.clone();
            rt.spawn(async move { while c.recv_reply().await.is_ok() {} })
        })
        .collect();
    let checked = check(rt, &**first, cfg).await;
    for d in &drains {
        d.abort();
    }
    Ok((load, checked?))
}

/// Writes and reads back the first records on `first`; `(verified, mismatches)`.
async fn check<C: RequestConn>(
    rt: &TokioRuntime,
    first: &C,
    cfg: &PortabilityConfig,
) -> Result<(u64, u64), KvError> {
    const CHECK_ID: u64 = 1 << 62;
    const CHECK_VERSION: u64 = u64::MAX;
    let (mut verified, mut mismatches) = (0, 0);
    for n in 0..cfg.records.min(VERIFY_RECORDS) {
        let v = value_of(n, CHECK_VERSION);
        let put = Msg::put(key_of(n), CHECK_ID | (2 * n), v.clone());
        let r = call(rt, first, put, cfg.timeout).await?;
        let get = Msg::get(key_of(n), CHECK_ID | (2 * n + 1));
        let g = call(rt, first, get, cfg.timeout).await?;
        verified += 1;
        if r.op() != Some(Op::Stored) || g.op() != Some(Op::Value) || g.value != v {
            mismatches += 1;
        }
    }
    Ok((verified, mismatches))
}

async fn clients<N: Net>(
    rt: &TokioRuntime,
    net: &N,
    variant: Variant,
    addrs: Addrs<N::Addr>,
    cfg: &PortabilityConfig,
) -> Result<(LoadResult, (u64, u64)), KvError> {
    let mut socks = Vec::with_capacity(cfg.connections);
    for _ in 0..cfg.connections {
        socks.push(net.bind(rt).await?);
    }
    match variant {
        Variant::Full => {
            let front = addrs
                .front
                .ok_or_else(|| KvError::Config("the full variant's server has no front".into()))?;
            let mut conns = Vec::new();
            for s in socks {
                let c = KvClient::connect_over(
                    rt,
                    Rc::new(s),
                    ClientMode::Push,
                    front.clone(),
                    &addrs.shards,
                )
                .await?;
                if !c.pushes() {
                    return Err(KvError::Config(
                        "full variant: negotiation did not pick client push".into(),
                    ));
                }
                conns.push(Rc::new(c));
            }
            drive(rt, &conns, cfg).await
        }
        Variant::NoNegotiation => {
            let mut conns = Vec::new();
            for s in socks {
                let mut st = stack![
                    ClientShard::new(addrs.shards.clone()),
                    bincode_layer::<Msg>()
                ];
                let conn = st.connect_wrap(SocketConn::new(s)).await?;
                conns.push(Rc::new(NoNegClient {
                    conn,
                    service: addrs.shards[0].clone(),
                }));
            }
            drive(rt, &conns, cfg).await
        }
        Variant::Inlined => {
            let conns: Vec<Rc<InlinedClient<N::Socket>>> = socks
                .into_iter()
                .map(|sock| {
                    Rc::new(InlinedClient {
                        sock,
                        shards: addrs.shards.clone(),
                        rbuf: Cell::new(Vec::new()),
                    })
                })
                .collect();
            drive(rt, &conns, cfg).await
        }
    }
}

type Outcome = (LoadResult, ServerStats, (u64, u64));

fn run_on<N: Net>(net: N, variant: Variant, cfg: &PortabilityConfig) -> Result<Outcome, KvError> {
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let (net2, stop2, shards) = (net.clone(), stop.clone(), cfg.shards);
    let server = std::thread::Builder::new()
        .name("kv-server".into())
        .spawn(move || server_thread(net2, variant, shards, tx, stop2))?;
    let addrs = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| KvError::Config(format!("server did not start: {e}")))
        .and_then(|r| r.map_err(|e| KvError::Config(format!("server: {e}"))));
    let result = match addrs {
        Ok(addrs) => match TokioRuntime::new() {
            Ok(rt) => rt.block_on(clients(&rt, &net, variant, addrs, cfg)),
            Err(e) => Err(e.into()),
        },
        Err(e) => Err(e),
    };
    stop.store(true, Ordering::Release);
    let stats = server
        .join()
        .map_err(|_| KvError::Config("the server thread panicked".into()))?;
    let (load, check) = result?;
    Ok((load, stats, check))
}
