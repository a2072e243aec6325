//! Multi-endpoint negotiation through a rendezvous store ([`join`]), membership by
//! heartbeats, and upgrades by two-phase commit that switch every peer's stack at run time.
//! Submodules: [`store`] (the store trait and the in-memory store) and `agent` (the periodic
//! round and the proposer's two-phase commit).
//!
//! # State
//! Two keys per group in a [`Store`]: `<group>/state` holds the installed stack (its layers
//! and a generation number) and any upgrade in progress (the proposed layers, the proposer and
//! every peer's vote); `<group>/members` maps each peer (its address) to its last heartbeat,
//! in the store's clock. A member whose heartbeat is older than [`RendezvousConfig::ttl`] is
//! expired: it no longer counts, for votes or as a destination.
//!
//! # Joining
//! The first peer installs its preferred alternative (highest priority, then fewest select
//! policies violated, then lowest index) with compare-and-swap. A later peer adopts the
//! installed stack if one of its alternatives is compatible with it; if its policy asks for an
//! upgrade (its preferred alternative differs from the installed one), or it is incompatible,
//! it proposes an upgrade: every live member votes (accepting iff one of its alternatives is
//! compatible and its [`AcceptPolicy`] agrees); all yes commits the new stack under the next
//! generation, one no (or [`RendezvousConfig::upgrade_timeout`]) aborts it and the proposer's
//! `join` fails naming the refusing peer. A peer joining while an upgrade is in progress votes
//! on it and waits for the outcome, then joins on the stack installed by then. A peer becomes
//! a member (a destination for the others) only in the commit that completes its join, with
//! the generation it can decode from, so nobody sends it data before it has a stack for it.
//!
//! # Switching without loss or duplication
//! Data carries its generation as the epoch. When a peer sees a newer generation committed it
//! builds the new stack and sends on it from then on, while it keeps receiving on the old one
//! for [`RendezvousConfig::drain`]; data of a generation this peer has not switched to yet is
//! held until it does. Every message is sent once, under one generation, and decoded by that
//! generation's stack: none is lost or delivered twice.
//!
//! # Store failures
//! The data path never touches the store: when the store fails, connected peers keep
//! exchanging data; heartbeats and votes fail and are counted ([`GroupStats`]).

mod agent;
pub mod store;

use agent::{agent_round, refresh_peers, run_upgrade, wait_upgrade};

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::rc::Rc;

use bincode::Options;
use netrt::{DatagramSocket, Duration, Runtime};
use serde::{Deserialize, Serialize};

pub use store::{MemStore, Snapshot, Store, StoreError};

use crate::caps::{match_stacks, Agreement, Offer};
use crate::conn::{ChunnelConnection, Error};
use crate::negotiate::base::{AbortOnDrop, DataConn};
use crate::queue::Queue;
use crate::registry::Registry;
use crate::stack::{Alternative, Chunnel, Describe, PolicyCtx};
use crate::wire::{parse, Frame};

/// Timing of rendezvous.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RendezvousConfig {
    /// Interval of heartbeats and of polling the store for upgrades.
    pub heartbeat: Duration,
    /// A member whose last heartbeat is older is expired.
    pub ttl: Duration,
    /// How long an old generation's stack keeps receiving after a switch.
    pub drain: Duration,
    /// An upgrade not decided within this is aborted.
    pub upgrade_timeout: Duration,
}

impl Default for RendezvousConfig {
    fn default() -> Self {
        RendezvousConfig {
            heartbeat: Duration::from_millis(50),
            ttl: Duration::from_millis(200),
            drain: Duration::from_millis(200),
            upgrade_timeout: Duration::from_secs(2),
        }
    }
}

/// Whether a peer accepts a proposed stack (its layers).
pub type AcceptFn = Rc<dyn Fn(&[Offer]) -> bool>;

/// A peer's say on upgrades, beyond compatibility.
#[derive(Clone)]
pub struct AcceptPolicy {
    /// Whether to propose an upgrade when the installed stack is not this peer's preferred.
    pub propose: bool,
    /// Whether to accept a proposed stack this peer is compatible with.
    pub accept: AcceptFn,
}

impl Default for AcceptPolicy {
    fn default() -> Self {
        AcceptPolicy {
            propose: false,
            accept: Rc::new(|_| true),
        }
    }
}

/// How a peer's `join` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinOutcome {
    /// It installed the first stack.
    Installed,
    /// It adopted the installed stack.
    Adopted,
    /// Its upgrade committed.
    Upgraded,
    /// It joined during another peer's upgrade, which committed.
    JoinedUpgrade,
}

/// Counters of a group connection.
#[derive(Debug, Default)]
pub struct GroupStats {
    /// Store operations that failed (the data path went on).
    pub store_errors: Cell<u64>,
    /// Generations switched to after joining.
    pub switches: Cell<u64>,
    /// Votes cast (yes, no).
    pub votes: Cell<(u64, u64)>,
    /// Datagrams of a generation not yet switched to, held.
    pub held: Cell<u64>,
    /// Datagrams dropped (stale generation, malformed, hold buffer full).
    pub dropped: Cell<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Installed {
    generation: u32,
    layers: Vec<Offer>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Upgrade {
    generation: u32,
    layers: Vec<Offer>,
    proposer: String,
    votes: BTreeMap<String, bool>,
    started_ms: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct GroupState {
    installed: Option<Installed>,
    upgrade: Option<Upgrade>,
}

/// A member's last heartbeat (store clock, ms) and the lowest generation it can decode:
/// peers send to it only once they are on that generation or a later one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Member {
    heartbeat_ms: u64,
    since: u32,
}

type Members = BTreeMap<String, Member>;

fn opts() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_limit(1 << 24)
}

fn dec<T: for<'de> Deserialize<'de> + Default>(v: &Option<Vec<u8>>) -> Result<T, Error> {
    match v {
        None => Ok(T::default()),
        Some(b) => opts()
            .deserialize(b)
            .map_err(|e| Error::decode("rendezvous", e)),
    }
}

fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    opts().serialize(v).expect("rendezvous records encode")
}

fn store_err(e: StoreError) -> Error {
    Error::layer("rendezvous", e.to_string())
}

/// The first of `mine` compatible with `layers`, and its agreements.
fn compatible(mine: &[Alternative], layers: &[Offer]) -> Option<(usize, Vec<Agreement>)> {
    mine.iter()
        .enumerate()
        .find_map(|(i, a)| match_stacks(&a.layers, layers).ok().map(|m| (i, m.client)))
}

fn preferred(mine: &[Alternative]) -> usize {
    (0..mine.len())
        .min_by_key(|&i| {
            let prio: i64 = mine[i].layers.iter().map(|o| i64::from(o.priority)).sum();
            (Reverse(prio), mine[i].penalty, i)
        })
        .unwrap_or(0)
}

struct Gen<C> {
    generation: u32,
    conn: Rc<C>,
}

type Datagram<S> = (<S as DatagramSocket>::Addr, Vec<u8>);

struct Inner<S: DatagramSocket, St: Chunnel<DataConn<S>>> {
    me: String,
    /// The generation this peer joined on (the lowest it decodes).
    since: u32,
    sock: Rc<S>,
    template: St,
    alts: Vec<Alternative>,
    index: Vec<usize>,
    current: RefCell<Gen<St::Connection>>,
    queues: RefCell<BTreeMap<u32, Queue<Datagram<S>>>>,
    held: RefCell<BTreeMap<u32, Vec<Datagram<S>>>>,
    delivered: Queue<<St::Connection as ChunnelConnection>::Data>,
    peers: RefCell<Vec<S::Addr>>,
    stats: GroupStats,
    tasks: RefCell<Vec<AbortOnDrop>>,
    /// Heartbeats, votes and switches; stopped by `leave`.
    agent: RefCell<Option<AbortOnDrop>>,
}

/// A peer's connection to a rendezvous group: sends on the current generation's stack,
/// receives from every generation still draining. Dropping it stops its tasks (it then
/// expires from the group after the TTL; [`GroupConn::leave`] removes it at once).
pub struct GroupConn<S: DatagramSocket, St: Chunnel<DataConn<S>>> {
    inner: Rc<Inner<S, St>>,
}

/// Bound to every group socket address: ordered, and written to the store as text (peers are
/// stored by their address text). Implemented for IP socket addresses (UDP, TCP, the
/// simulator), paths (Unix datagram sockets, the simulator's IPC sockets), integers and strings.
pub trait GroupAddr: Ord + Clone + std::fmt::Debug + 'static {
    /// The address as stored.
    fn to_text(&self) -> String;
    /// The address back from its text; `None` if the text is not one.
    fn from_text(s: &str) -> Option<Self>;
}

macro_rules! group_addr_by_display {
    ($($t:ty),*) => {$(
        impl GroupAddr for $t {
            fn to_text(&self) -> String {
                self.to_string()
            }
            fn from_text(s: &str) -> Option<Self> {
                s.parse().ok()
            }
        }
    )*};
}

group_addr_by_display!(std::net::SocketAddr, u32, u64, String);

impl GroupAddr for std::path::PathBuf {
    /// The path as UTF-8 (a path that is not cannot join: see [`join`]).
    fn to_text(&self) -> String {
        self.to_string_lossy().into_owned()
    }
    fn from_text(s: &str) -> Option<Self> {
        Some(std::path::PathBuf::from(s))
    }
}

/// A path shared by its clones (the address of a Unix datagram socket on tokio).
impl GroupAddr for std::sync::Arc<std::path::Path> {
    /// The path as UTF-8 (a path that is not cannot join: see [`join`]).
    fn to_text(&self) -> String {
        self.to_string_lossy().into_owned()
    }
    fn from_text(s: &str) -> Option<Self> {
        Some(std::sync::Arc::from(std::path::Path::new(s)))
    }
}

impl<S, St> GroupConn<S, St>
where
    S: DatagramSocket + 'static,
    S::Addr: GroupAddr,
    St: Describe + Chunnel<DataConn<S>> + Clone + 'static,
    <St::Connection as ChunnelConnection>::Data: 'static,
{
    /// The generation sent on.
    pub fn generation(&self) -> u32 {
        self.inner.current.borrow().generation
    }

    /// Live members other than this one, as of the last heartbeat.
    pub fn peers(&self) -> Vec<S::Addr> {
        self.inner.peers.borrow().clone()
    }

    /// The counters.
    pub fn stats(&self) -> &GroupStats {
        &self.inner.stats
    }

    /// This peer's id (its address).
    pub fn id(&self) -> &str {
        &self.inner.me
    }

    /// Leaves the group: stops this peer's heartbeats and votes (so it no longer switches
    /// generations) and removes it from the members. The connection keeps receiving until it
    /// is dropped: peers learn of the leave at their next heartbeat and may send until then.
    pub async fn leave<K: Store>(&self, store: &K, group: &str) -> Result<(), Error> {
        // Stop the agent first: a heartbeat after the removal would add this peer back.
        self.inner.agent.borrow_mut().take();
        let mkey = format!("{group}/members");
        loop {
            let snap = store
                .read(std::slice::from_ref(&mkey))
                .await
                .map_err(store_err)?;
            let mut members: Members = dec(&snap.values[0])?;
            members.remove(&self.inner.me);
            if store
                .commit(&snap, vec![(mkey.clone(), Some(enc(&members)))])
                .await
                .map_err(store_err)?
            {
                return Ok(());
            }
        }
    }
}

impl<S, St> ChunnelConnection for GroupConn<S, St>
where
    S: DatagramSocket + 'static,
    S::Addr: GroupAddr,
    St: Describe + Chunnel<DataConn<S>> + Clone + 'static,
    <St::Connection as ChunnelConnection>::Data: 'static,
{
    type Data = <St::Connection as ChunnelConnection>::Data;

    async fn send(&self, d: Self::Data) -> Result<(), Error> {
        let conn = self.inner.current.borrow().conn.clone();
        conn.send(d).await
    }

    async fn recv(&self) -> Result<Self::Data, Error> {
        self.inner.delivered.pop().await.ok_or(Error::Closed)
    }
}

/// Moves what a generation's stack delivers to the group's queue; a message a layer cannot
/// decode is dropped, any other error ends the generation.
async fn pump<C: ChunnelConnection>(conn: Rc<C>, out: Queue<C::Data>) {
    loop {
        match conn.recv().await {
            Ok(d) => out.push(d),
            Err(Error::Decode { .. }) => continue,
            Err(_) => return,
        }
    }
}

/// Builds generation `generation` on alternative `ai` and makes it current; the previous
/// generation drains for `drain`.
async fn switch<R, S, St>(
    rt: &R,
    inner: &Rc<Inner<S, St>>,
    generation: u32,
    ai: usize,
    ags: &[Agreement],
    drain: Duration,
) -> Result<(), Error>
where
    R: Runtime,
    S: DatagramSocket + 'static,
    S::Addr: GroupAddr,
    St: Describe + Chunnel<DataConn<S>> + Clone + 'static,
    <St::Connection as ChunnelConnection>::Data: 'static,
{
    let mut st = inner.template.clone();
    st.choose(inner.index[ai], &mut ags.iter());
    let q = Queue::new();
    for d in inner
        .held
        .borrow_mut()
        .remove(&generation)
        .unwrap_or_default()
    {
        q.push(d);
    }
    inner.queues.borrow_mut().insert(generation, q.clone());
    let keep: Vec<Rc<dyn Any>> = Vec::new();
    let conn = Rc::new(
        st.connect_wrap(DataConn::new(inner.sock.clone(), generation, q, None, keep))
            .await?,
    );
    let (pump_conn, out) = (conn.clone(), inner.delivered.clone());
    rt.spawn(pump(pump_conn, out));
    let old = std::mem::replace(&mut *inner.current.borrow_mut(), Gen { generation, conn });
    if old.generation != generation {
        let (rt2, weak) = (rt.clone(), Rc::downgrade(inner));
        rt.spawn(async move {
            rt2.sleep(drain).await;
            if let Some(inner) = weak.upgrade() {
                if let Some(q) = inner.queues.borrow_mut().remove(&old.generation) {
                    q.close();
                }
            }
            drop(old);
        });
    }
    Ok(())
}

/// Joins `group` through `store` with `stack` (see the module documentation): returns the
/// group connection, how the join ended, and the agreements of this peer's layers.
#[allow(clippy::too_many_arguments)]
pub async fn join<R, S, St, K>(
    rt: &R,
    store: Rc<K>,
    group: &str,
    sock: Rc<S>,
    stack: St,
    reg: &Registry,
    policy: AcceptPolicy,
    cfg: RendezvousConfig,
) -> Result<(GroupConn<S, St>, JoinOutcome), Error>
where
    R: Runtime,
    S: DatagramSocket + 'static,
    S::Addr: GroupAddr,
    St: Describe + Chunnel<DataConn<S>> + Clone + 'static,
    <St::Connection as ChunnelConnection>::Data: 'static,
    K: Store + 'static,
{
    let local = sock.local_addr()?;
    let me = local.to_text();
    if S::Addr::from_text(&me).as_ref() != Some(&local) {
        return Err(Error::layer(
            "rendezvous",
            format!("the socket address {local:?} cannot be stored as text and read back"),
        ));
    }
    let (skey, mkey) = (format!("{group}/state"), format!("{group}/members"));
    let keys = [skey.clone(), mkey.clone()];
    let mut alts = Vec::new();
    let mut index = Vec::new();
    for (i, a) in stack
        .alternatives(&PolicyCtx { peers: 3 })
        .into_iter()
        .enumerate()
    {
        if a.layers.iter().all(|o| reg.available(o).is_ok()) {
            index.push(i);
            alts.push(Alternative {
                layers: a.layers.iter().map(|o| reg.effective(o)).collect(),
                penalty: a.penalty,
            });
        }
    }
    if alts.is_empty() {
        return Err(Error::layer(
            "rendezvous",
            "no alternative is available here",
        ));
    }
    let pref = preferred(&alts);
    let ttl_ms = cfg.ttl.as_millis();

    // Phase 1: install, adopt, or propose.
    let mut voted_for = None;
    let (generation, layers, outcome) = loop {
        let snap = store.read(&keys).await.map_err(store_err)?;
        let now = store.clock_ms().await.map_err(store_err)?;
        let mut st: GroupState = dec(&snap.values[0])?;
        let mut members: Members = dec(&snap.values[1])?;
        members.retain(|_, m| now.saturating_sub(m.heartbeat_ms) <= ttl_ms);
        let member = |since| Member {
            heartbeat_ms: now,
            since,
        };
        let write = |st: &GroupState, m: &Members| {
            vec![(skey.clone(), Some(enc(st))), (mkey.clone(), Some(enc(m)))]
        };
        match (st.installed.clone(), st.upgrade.clone()) {
            (None, _) => {
                let inst = Installed {
                    generation: 1,
                    layers: alts[pref].layers.clone(),
                };
                st.installed = Some(inst.clone());
                st.upgrade = None;
                members.insert(me.clone(), member(1));
                if store
                    .commit(&snap, write(&st, &members))
                    .await
                    .map_err(store_err)?
                {
                    break (inst.generation, inst.layers, JoinOutcome::Installed);
                }
            }
            (Some(_), Some(mut up)) => {
                // Vote for the upgrade in progress (if compatible), then wait for it.
                let yes = compatible(&alts, &up.layers).is_some() && (policy.accept)(&up.layers);
                up.votes.insert(me.clone(), yes);
                let g = up.generation;
                // Not a member yet: peers must not send to this peer before it has a stack
                // for their generation (it joins, as a member, once the upgrade is decided).
                st.upgrade = Some(up);
                if store
                    .commit(&snap, write(&st, &members))
                    .await
                    .map_err(store_err)?
                {
                    voted_for = yes.then_some(g);
                    wait_upgrade(rt, &*store, &skey, cfg).await?;
                }
            }
            (Some(inst), None) => {
                let fits = compatible(&alts, &inst.layers);
                let wants = policy.propose && alts[pref].layers != inst.layers;
                if fits.is_some() && !wants {
                    members.insert(me.clone(), member(inst.generation));
                    if store
                        .commit(&snap, write(&st, &members))
                        .await
                        .map_err(store_err)?
                    {
                        break (inst.generation, inst.layers, JoinOutcome::Adopted);
                    }
                    continue;
                }
                if fits.is_none() && !policy.propose {
                    return Err(Error::layer(
                        "rendezvous",
                        format!(
                            "no alternative is compatible with the installed stack {:?}",
                            inst.layers
                                .iter()
                                .map(|o| &o.implementation)
                                .collect::<Vec<_>>()
                        ),
                    ));
                }
                let up = Upgrade {
                    generation: inst.generation + 1,
                    layers: alts[pref].layers.clone(),
                    proposer: me.clone(),
                    votes: BTreeMap::from([(me.clone(), true)]),
                    started_ms: now,
                };
                st.upgrade = Some(up.clone());
                members.insert(me.clone(), member(up.generation));
                if store
                    .commit(&snap, write(&st, &members))
                    .await
                    .map_err(store_err)?
                {
                    run_upgrade(rt, &*store, &keys, &me, &up, cfg).await?;
                    break (up.generation, up.layers, JoinOutcome::Upgraded);
                }
            }
        }
    };
    let outcome = match outcome {
        JoinOutcome::Adopted if voted_for == Some(generation) => JoinOutcome::JoinedUpgrade,
        o => o,
    };
    let (ai, ags) = compatible(&alts, &layers)
        .ok_or_else(|| Error::layer("rendezvous", "installed stack is not compatible"))?;

    // Build the connection, the demultiplexer and the agent.
    let mut st0 = stack.clone();
    st0.choose(index[ai], &mut ags.iter());
    let q = Queue::new();
    let conn0 = Rc::new(
        st0.connect_wrap(DataConn::new(
            sock.clone(),
            generation,
            q.clone(),
            None,
            Vec::new(),
        ))
        .await?,
    );
    let inner = Rc::new(Inner {
        me: me.clone(),
        since: generation,
        sock: sock.clone(),
        template: stack,
        alts,
        index,
        current: RefCell::new(Gen {
            generation,
            conn: conn0.clone(),
        }),
        queues: RefCell::new(BTreeMap::from([(generation, q)])),
        held: RefCell::new(BTreeMap::new()),
        delivered: Queue::new(),
        peers: RefCell::new(Vec::new()),
        stats: GroupStats::default(),
        tasks: RefCell::new(Vec::new()),
        agent: RefCell::new(None),
    });
    let out = inner.delivered.clone();
    let pump = rt.spawn(pump(conn0, out));
    let weak = Rc::downgrade(&inner);
    let demux = rt.spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            let Some(sock) = weak.upgrade().map(|i| i.sock.clone()) else {
                return;
            };
            let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let Some(inner) = weak.upgrade() else { return };
            match parse(&buf[..n]) {
                Ok(Frame::Data { epoch, payload }) => {
                    let q = inner.queues.borrow().get(&epoch).cloned();
                    let cur = inner.current.borrow().generation;
                    match q {
                        Some(q) => q.push((from, payload.to_vec())),
                        None if epoch > cur => {
                            let mut h = inner.held.borrow_mut();
                            let total: usize = h.values().map(Vec::len).sum();
                            if total < 4096 {
                                h.entry(epoch).or_default().push((from, payload.to_vec()));
                                inner.stats.held.set(inner.stats.held.get() + 1);
                            } else {
                                inner.stats.dropped.set(inner.stats.dropped.get() + 1);
                            }
                        }
                        None => inner.stats.dropped.set(inner.stats.dropped.get() + 1),
                    }
                }
                _ => inner.stats.dropped.set(inner.stats.dropped.get() + 1),
            }
        }
    });
    let (weak, rt2, store2, group2) = (
        Rc::downgrade(&inner),
        rt.clone(),
        store.clone(),
        group.to_string(),
    );
    let agent = rt.spawn(async move {
        loop {
            rt2.sleep(cfg.heartbeat).await;
            let Some(inner) = weak.upgrade() else { return };
            if let Err(_e) = agent_round(&rt2, &*store2, &group2, &inner, &policy, cfg).await {
                inner
                    .stats
                    .store_errors
                    .set(inner.stats.store_errors.get() + 1);
            }
        }
    });
    inner
        .tasks
        .borrow_mut()
        .extend([AbortOnDrop(pump), AbortOnDrop(demux)]);
    *inner.agent.borrow_mut() = Some(AbortOnDrop(agent));
    // Learn the peers at once.
    let _ = refresh_peers(&*store, &mkey, &inner, cfg).await;
    Ok((GroupConn { inner }, outcome))
}
