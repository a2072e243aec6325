//! The sharded server: a front address that negotiates the sharding implementation per
//! connection, one socket per shard for requests that come straight to a shard, and the
//! stages of the cost model ([`crate::cost`]).
//!
//! # Stacks
//! - Front socket: `stack![select!(select!(SwitchShard, ServerShard), AcceptClientPush),
//!   bincode]`. Negotiation picks, per client: [`AcceptClientPush`] for a client that pushes
//!   ([`chunnels::shard::ClientShard`]: the only compatible branch), otherwise the switch
//!   offload if it is registered and has room (higher priority), otherwise the host
//!   fallback [`ServerShard`] (and the reply names why the offload was passed over).
//! - Shard socket `i`: `stack![AcceptClientPush, bincode]`, listening with
//!   `implicit_alternative = Some(0)`: requests of clients that negotiated with the front
//!   (pushed by the client or steered by the switch) open connections under the client's
//!   epoch.
//!
//! # Paths of a request
//! - server sharding: front socket → [`ServerShard`]'s per-shard queue → the dispatcher
//!   stage (cost `dispatch`) → shard `i`'s stage (cost `service`) → reply from the front;
//! - client push and switch steering: shard socket `i` → shard `i`'s stage (cost
//!   `shard_receive + service`) → reply from the shard's socket.
//!
//! A request is always applied on the shard its key hashes to (a request pushed to the wrong
//! shard socket is counted and moved), so the store stays consistent whatever the clients do.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;

use chunnel::negotiate::{self, DataConn};
use chunnel::queue::Queue;
use chunnel::{select, stack, ChunnelConnection, Either, Error, NegotiateConfig, Registry};
use chunnels::raw_shard::RawServerShard;
use chunnels::serialize::{bincode, Format, KeyLayout};
use chunnels::shard::{shard_of, AcceptClientPush, ServerShard};
use netrt::{Duration, JoinHandle, Runtime};

use crate::cost::{CostModel, Stage};
use crate::msg::Msg;
use crate::offload::{Rule, SteeringTable, SwitchShard, OFFLOAD_IMPL};
use crate::store::Store;
use crate::KvError;

/// The server's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Number of shards (at least 1).
    pub shards: usize,
    /// Per-request costs (virtual time; [`CostModel::ZERO`] on real sockets).
    pub costs: CostModel,
    /// Priority the switch-offloaded sharder declares.
    pub offload_priority: i32,
    /// The host sharder behind the front address.
    pub host_sharder: HostSharder,
}

/// The host sharder the front runs (thesis Fig 3.10's two variants).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostSharder {
    /// `select!(select!(SwitchShard, ServerShard), AcceptClientPush)` over bincode: the
    /// dispatcher deserializes each request to hash its key (thesis "No-Opt").
    #[default]
    Deserializing,
    /// `RawServerShard` over bincode (the `chunnels::opt::RawShard` pass's output for
    /// `[ServerShard, bincode]`): the dispatcher hashes the key's bytes at the offset the
    /// negotiated format fixes and hands the raw datagram to its shard, whose handle decodes
    /// it (thesis "Opt"). Only this one branch is offered: plain clients only (no client push,
    /// no switch offload), as in thesis Fig 3.10.
    RawOffset,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            shards: 6,
            costs: CostModel::default(),
            offload_priority: crate::offload::OffloadConfig::default().priority,
            host_sharder: HostSharder::Deserializing,
        }
    }
}

/// Where the switch offload is deployed: the registry the front negotiates with (with the
/// offload's entry) and the switch's table the server installs rules into.
#[derive(Clone)]
pub struct OffloadDeployment {
    /// The front's registry.
    pub registry: Registry,
    /// The switch's table.
    pub table: SteeringTable,
}

/// What the server saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerReport {
    /// Front connections per chosen sharding implementation.
    pub chosen: BTreeMap<String, u64>,
    /// Why better choices were passed over, per front connection that fell back.
    pub fallbacks: Vec<String>,
    /// Connections shard sockets opened implicitly.
    pub implicit: u64,
    /// Requests served per shard.
    pub per_shard: Vec<u64>,
    /// Requests through the dispatcher.
    pub dispatched: u64,
    /// Requests pushed to a shard socket that is not their key's shard.
    pub misrouted: u64,
    /// Datagrams that did not decode.
    pub decode_errors: u64,
    /// Records stored.
    pub records: usize,
    /// Modelled busy time of the dispatcher, ns.
    pub dispatcher_busy_ns: u64,
}

struct Job {
    from: SocketAddr,
    req: Msg,
    reply: Queue<(SocketAddr, Msg)>,
}

#[derive(Default)]
struct Counters {
    chosen: BTreeMap<String, u64>,
    fallbacks: Vec<String>,
    implicit: u64,
    misrouted: u64,
    decode_errors: u64,
}

struct Core {
    costs: CostModel,
    store: Rc<Store>,
    shards: Rc<Vec<Stage<Job>>>,
    dispatcher: Stage<Job>,
    counters: RefCell<Counters>,
    tasks: RefCell<Vec<JoinHandle<()>>>,
}

#[derive(Clone, Copy)]
enum Path {
    /// Arrived at the front: through the dispatcher.
    Front,
    /// Arrived at shard socket `i`.
    Shard(usize),
}

impl Core {
    /// Counts the sharding implementation a connection negotiated (its top layer) and the
    /// fallbacks negotiation reported; returns the implementation's name.
    fn record_choice(&self, info: &negotiate::Negotiated) -> String {
        let imp = info
            .layers
            .first()
            .map(|a| a.local.implementation.clone())
            .unwrap_or_default();
        let mut k = self.counters.borrow_mut();
        *k.chosen.entry(imp.clone()).or_insert(0) += 1;
        k.fallbacks.extend(info.fallbacks.iter().cloned());
        imp
    }

    fn submit(&self, path: Path, from: SocketAddr, req: Msg, reply: &Queue<(SocketAddr, Msg)>) {
        let job = Job {
            from,
            req,
            reply: reply.clone(),
        };
        match path {
            Path::Front => self.dispatcher.push(self.costs.dispatch, job),
            Path::Shard(at) => {
                let i = shard_of(&job.req.key, self.shards.len());
                if i != at {
                    self.counters.borrow_mut().misrouted += 1;
                }
                let cost = self
                    .costs
                    .shard_receive
                    .checked_add(self.costs.service)
                    .unwrap_or(Duration::MAX);
                self.shards[i].push(cost, job);
            }
        }
    }

    fn spawn<R: Runtime>(&self, rt: &R, f: impl std::future::Future<Output = ()> + 'static) {
        let mut t = self.tasks.borrow_mut();
        t.retain(|h| !h.is_finished());
        t.push(rt.spawn(f));
    }
}

/// Sends the replies pushed on the returned queue over `conn`.
fn reply_task<R, C>(rt: &R, core: &Core, conn: Rc<C>) -> Queue<(SocketAddr, Msg)>
where
    R: Runtime,
    C: ChunnelConnection<Data = (SocketAddr, Msg)> + 'static,
{
    let q: Queue<(SocketAddr, Msg)> = Queue::new();
    let q2 = q.clone();
    core.spawn(rt, async move {
        while let Some(r) = q2.pop().await {
            if conn.send(r).await.is_err() {
                break;
            }
        }
    });
    q
}

/// Reads requests from `conn` (any layer with the message type) into `path`.
fn recv_task<R, C>(
    rt: &R,
    core: &Rc<Core>,
    conn: Rc<C>,
    path: Path,
    replies: Queue<(SocketAddr, Msg)>,
) where
    R: Runtime,
    C: ChunnelConnection<Data = (SocketAddr, Msg)> + 'static,
{
    let c = core.clone();
    core.spawn(rt, async move {
        loop {
            match conn.recv().await {
                Ok((from, req)) => c.submit(path, from, req, &replies),
                Err(Error::Decode { .. }) => c.counters.borrow_mut().decode_errors += 1,
                Err(_) => break,
            }
        }
    });
}

/// A running server; dropping it stops every task.
pub struct Server {
    front: SocketAddr,
    shard_addrs: Vec<SocketAddr>,
    core: Rc<Core>,
}

impl Server {
    /// Starts a server on `rt`: the front socket bound at `front`, shard `i`'s at
    /// `shards[i]` (`shards.len()` must be `cfg.shards`). With `offload`, the front offers
    /// the switch-offloaded sharder too and installs a steering rule per connection that
    /// negotiates it.
    pub async fn start<R: Runtime>(
        rt: &R,
        cfg: &ServerConfig,
        front: SocketAddr,
        shards: &[SocketAddr],
        offload: Option<OffloadDeployment>,
    ) -> Result<Server, KvError> {
        if cfg.shards == 0 || shards.len() != cfg.shards {
            return Err(KvError::Config(format!(
                "server: {} shard addresses for {} shards (at least 1)",
                shards.len(),
                cfg.shards
            )));
        }
        let n = cfg.shards;
        let store = Rc::new(Store::new(n));
        let stages: Rc<Vec<Stage<Job>>> = Rc::new(
            (0..n)
                .map(|i| {
                    let st = store.clone();
                    Stage::start(rt, move |j: Job| {
                        let r = st.apply(i, &j.req);
                        j.reply.push((j.from, r));
                    })
                })
                .collect(),
        );
        let service = cfg.costs.service;
        let sh = stages.clone();
        let dispatcher = Stage::start(rt, move |j: Job| {
            let i = shard_of(&j.req.key, sh.len());
            sh[i].push(service, j);
        });
        let core = Rc::new(Core {
            costs: cfg.costs,
            store,
            shards: stages,
            dispatcher,
            counters: RefCell::new(Counters::default()),
            tasks: RefCell::new(Vec::new()),
        });

        // Shard sockets.
        let mut shard_addrs = Vec::with_capacity(n);
        for (i, bind) in shards.iter().enumerate() {
            let sock = Rc::new(rt.bind_udp(*bind).await?);
            shard_addrs.push(chunnel_addr(&*sock)?);
            let ncfg = NegotiateConfig {
                implicit_alternative: Some(0),
                ..NegotiateConfig::default()
            };
            let l = negotiate::listen(
                rt,
                sock,
                stack![AcceptClientPush, bincode::<Msg>()],
                Registry::new(),
                ncfg,
            );
            let (c, rt2) = (core.clone(), rt.clone());
            core.spawn(rt, async move {
                while let Ok((_peer, conn, _info)) = l.accept().await {
                    c.counters.borrow_mut().implicit += 1;
                    let conn = Rc::new(conn);
                    let replies = reply_task(&rt2, &c, conn.clone());
                    recv_task(&rt2, &c, conn, Path::Shard(i), replies);
                }
            });
        }

        // Front socket.
        let fsock = Rc::new(rt.bind_udp(front).await?);
        let front_addr = chunnel_addr(&*fsock)?;
        if cfg.host_sharder == HostSharder::RawOffset {
            if offload.is_some() {
                return Err(KvError::Config(
                    "server: the raw-offset host sharder is offered alone (no switch offload)"
                        .into(),
                ));
            }
            let l = negotiate::listen(
                rt,
                fsock,
                stack![RawServerShard::new(n, bincode::<Msg>())],
                Registry::new(),
                NegotiateConfig::default(),
            );
            let (c, rt2) = (core.clone(), rt.clone());
            core.spawn(rt, async move {
                while let Ok((_peer, conn, info)) = l.accept().await {
                    c.record_choice(&info);
                    let conn = Rc::new(conn);
                    let replies = reply_task(&rt2, &c, conn.clone());
                    // One reader per shard handle: the demultiplexer only reads the key's
                    // bytes; each handle decodes its own requests.
                    for i in 0..conn.shards() {
                        let Some(h) = conn.shard(i) else { continue };
                        let (c2, q) = (c.clone(), replies.clone());
                        c.spawn(&rt2, async move {
                            loop {
                                match h.recv().await {
                                    Ok((from, req)) => c2.submit(Path::Front, from, req, &q),
                                    Err(Error::Decode { .. }) => {
                                        c2.counters.borrow_mut().decode_errors += 1
                                    }
                                    Err(_) => break,
                                }
                            }
                        });
                    }
                }
            });
            return Ok(Server {
                front: front_addr,
                shard_addrs,
                core,
            });
        }
        let (registry, table) = match offload {
            Some(o) => (o.registry, Some(o.table)),
            None => (Registry::new(), None),
        };
        let front_stack = stack![
            select!(
                select!(SwitchShard::new(cfg.offload_priority), ServerShard::new(n)),
                AcceptClientPush
            ),
            bincode::<Msg>()
        ];
        let l = negotiate::listen(rt, fsock, front_stack, registry, NegotiateConfig::default());
        let shard_ports: Vec<u16> = shard_addrs.iter().map(|a| a.port()).collect();
        let (c, rt2) = (core.clone(), rt.clone());
        core.spawn(rt, async move {
            while let Ok((peer, conn, info)) = l.accept().await {
                let imp = c.record_choice(&info);
                if imp == OFFLOAD_IMPL {
                    if let Some(t) = &table {
                        // The key offset comes from the negotiated format, never a constant.
                        let format = info
                            .layers
                            .get(1)
                            .and_then(|a| Format::from_labels(&a.labels))
                            .unwrap_or(Format::Bincode1);
                        t.install(
                            peer,
                            info.epoch,
                            Rule {
                                front: front_addr,
                                shard_ports: shard_ports.clone(),
                                key_offset: format.key_offset(KeyLayout::Array),
                            },
                        );
                    }
                }
                let conn = Rc::new(conn);
                let replies = reply_task(&rt2, &c, conn.clone());
                match &*conn {
                    Either::Left(Either::Right(ssc)) => {
                        // Server sharding: one reader per shard handle.
                        for i in 0..ssc.shards() {
                            let Some(h) = ssc.shard(i) else { continue };
                            let (c2, q) = (c.clone(), replies.clone());
                            c.spawn(&rt2, async move {
                                loop {
                                    match h.recv().await {
                                        Ok((from, req)) => c2.submit(Path::Front, from, req, &q),
                                        Err(Error::Decode { .. }) => {
                                            c2.counters.borrow_mut().decode_errors += 1
                                        }
                                        Err(_) => break,
                                    }
                                }
                            });
                        }
                    }
                    // Client push or switch steering: requests go to the shards' sockets;
                    // any that reach the front anyway go through the dispatcher.
                    _ => recv_task(&rt2, &c, conn.clone(), Path::Front, replies),
                }
            }
        });
        Ok(Server {
            front: front_addr,
            shard_addrs,
            core,
        })
    }

    /// The front address clients negotiate with.
    pub fn front(&self) -> SocketAddr {
        self.front
    }

    /// The shards' addresses, in shard order.
    pub fn shard_addrs(&self) -> &[SocketAddr] {
        &self.shard_addrs
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.core.store
    }

    /// What the server saw so far.
    pub fn report(&self) -> ServerReport {
        let k = self.core.counters.borrow();
        ServerReport {
            chosen: k.chosen.clone(),
            fallbacks: k.fallbacks.clone(),
            implicit: k.implicit,
            per_shard: self.core.shards.iter().map(|s| s.served()).collect(),
            dispatched: self.core.dispatcher.served(),
            misrouted: k.misrouted,
            decode_errors: k.decode_errors,
            records: self.core.store.total(),
            dispatcher_busy_ns: self.core.dispatcher.busy().as_nanos(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for t in self.core.tasks.borrow_mut().drain(..) {
            t.abort();
        }
    }
}

/// The address clients use for a bound socket.
fn chunnel_addr<S: netrt::DatagramSocket<Addr = SocketAddr>>(s: &S) -> Result<SocketAddr, KvError> {
    Ok(s.local_addr()?)
}

/// The data connection type of a stack on runtime `R` (for client code naming types).
pub type Base<R> = DataConn<<R as Runtime>::UdpSocket>;
