//! Ordered multicast for state-machine replication: a NOPaxos-style sequencer stamps every
//! message of a group so that all receivers deliver the group's messages in one order and
//! detect the ones they missed.
//!
//! # Roles
//! - A **member** runs the [`OrderedMcast`] Chunnel over any `(A, Vec<u8>)` connection. A send
//!   goes to the *group address*, where the sequencer is: the address configured with
//!   [`OrderedMcast::with_sequencer`], else the address of the send. A receive returns the next
//!   message in sequence order as `(original sender, payload)`.
//! - The **sequencer** stamps each request with `(session, sequence number)`, numbers counting
//!   from 0 per session, and sends a copy to every receiver of the group. Two implementations:
//!   - `host-sequencer`: [`run_sequencer`] / [`HostSequencer`], a task on a host, over any
//!     `(A, Vec<u8>)` connection (a [`SocketConn`] over any `netrt` datagram socket, or a
//!     [`crate::chan`] endpoint); generic over `netrt::Runtime`.
//!   - `switch-sequencer`: [`SwitchSequencer`], a `netmodels` [`NodeProgram`](netmodels::NodeProgram) on a
//!     programmable switch on the path to the group address, which stamps and replicates the
//!     requests addressed to a group installed in its [`SequencerTable`] at the device's rate;
//!     such requests never reach the host sequencer. Its registration ([`switch_registry`])
//!     reserves programmable-switch capacity (one table entry per group member) and installs
//!     the group in the table when chosen; the lease's teardown removes it.
//!
//!   Both stamp the same way, so a member's code is the same whichever stamps.
//!
//! # Delivery
//! A receiver delivers session `s`'s messages in sequence order from 0, each once (duplicates
//! are dropped and counted). A message that arrives ahead of a missing one waits; the missing
//! one is declared lost when [`McastConfig::reorder_window`] messages wait or the oldest has
//! waited [`McastConfig::gap_timeout`]. A loss is never skipped silently: the receiver reports
//! [`Notice::Gap`] `{ session, from, to }` (numbers `from..to` lost, NOPaxos's drop
//! notification) at its place in the order, then delivers what follows. A stamp of a higher
//! session ends the current one (what waits is delivered, with its gaps) and reports
//! [`Notice::NewSession`]; stamps of a lower session are dropped. A loss at the very end of a
//! session is detected only by a later message, as in NOPaxos.
//!
//! [`OrderedMcastConn::recv_event`] returns each [`Delivery`]; through [`ChunnelConnection`],
//! `recv` returns messages and reports a notice as an [`Error::Io`] carrying the [`Notice`]
//! (recover it with [`Notice::of`]); the connection goes on after it.
//!
//! # Wire format
//! - Request (member → group address): tag `0xA1`, then the payload.
//! - Stamped (sequencer → receiver): tag `0xA2`, `session: u32`, `seq: u64`, `len: u16` (all
//!   little-endian), `len` bytes of the original sender's address (bincode 1, fixed-width
//!   integers; [`encode_addr`]), then the payload. A datagram that does not parse is dropped
//!   and counted, never a panic.
//!
//! Capability: [`Compat::Exact`], label [`STAMP_LABEL`] (`oum-stamp/1`); implementations
//! [`HOST_IMPL`] (application scope, priority 0) and [`SWITCH_IMPL`]
//! ([`Scope::LocalNetwork`], priority [`SWITCH_PRIORITY`], must be registered).
//! [`plan_sequencer`] is the group's negotiation: it runs `chunnel`'s decision over the
//! member's offer and the two sequencer offers against a registry, so it picks the switch
//! sequencer when it is registered and its capacity can be reserved, and otherwise the host
//! sequencer with the reason.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::io;
use std::rc::Rc;

use bincode::Options;
use chunnel::{Chunnel, ChunnelConnection, Compat, Error, Negotiate, Offer, Scope};
use netrt::{DatagramSocket, Duration, Instant, Runtime};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::util::{read_u16, read_u32, read_u64, AbortOnDrop};

/// The Chunnel type name.
pub const CHUNNEL: &str = "ordered-mcast";
/// The label naming the stamp format.
pub const STAMP_LABEL: &str = "oum-stamp/1";
/// The host sequencer's implementation name.
pub const HOST_IMPL: &str = "host-sequencer";
/// The switch sequencer's implementation name.
pub const SWITCH_IMPL: &str = "switch-sequencer";
/// The switch sequencer's default priority (the host sequencer has 0).
pub const SWITCH_PRIORITY: i32 = 10;

/// Tag of a request.
pub const TAG_REQUEST: u8 = 0xA1;
/// Tag of a stamped message.
pub const TAG_STAMPED: u8 = 0xA2;
/// Bytes of a stamped message before the sender's address.
pub const STAMP_HEADER: usize = 1 + 4 + 8 + 2;
/// Largest encoded sender address accepted.
pub const MAX_ADDR: usize = 512;

fn addr_opts() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_limit(MAX_ADDR as u64)
}

/// Encodes a sender's address as stamps carry it.
pub fn encode_addr<A: Serialize>(a: &A) -> Option<Vec<u8>> {
    addr_opts()
        .serialize(a)
        .ok()
        .filter(|b| b.len() <= MAX_ADDR)
}

/// Decodes a sender's address from a stamp (all of `b`, nothing trailing).
pub fn decode_addr<A: DeserializeOwned>(b: &[u8]) -> Option<A> {
    addr_opts().deserialize(b).ok()
}

/// A request: what a member sends to the group address.
pub fn request(payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(1 + payload.len());
    f.push(TAG_REQUEST);
    f.extend_from_slice(payload);
    f
}

/// The stamped message for the request `req` (tag included) of the sender whose encoded
/// address is `sender`; `None` if `req` is not a request.
pub fn stamp(session: u32, seq: u64, sender: &[u8], req: &[u8]) -> Option<Vec<u8>> {
    if req.first() != Some(&TAG_REQUEST) || sender.len() > MAX_ADDR {
        return None;
    }
    let payload = &req[1..];
    let mut f = Vec::with_capacity(STAMP_HEADER + sender.len() + payload.len());
    f.push(TAG_STAMPED);
    f.extend_from_slice(&session.to_le_bytes());
    f.extend_from_slice(&seq.to_le_bytes());
    f.extend_from_slice(&(sender.len() as u16).to_le_bytes());
    f.extend_from_slice(sender);
    f.extend_from_slice(payload);
    Some(f)
}

/// A parsed stamped message: `(session, seq, encoded sender, payload offset)`.
fn parse_stamped(b: &[u8]) -> Option<(u32, u64, &[u8], usize)> {
    if b.first() != Some(&TAG_STAMPED) {
        return None;
    }
    let session = read_u32(b, 1)?;
    let seq = read_u64(b, 5)?;
    let len = usize::from(read_u16(b, 13)?);
    let end = STAMP_HEADER.checked_add(len)?;
    let sender = b.get(STAMP_HEADER..end)?;
    Some((session, seq, sender, end))
}

/// What a receiver reports besides messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Messages `from..to` of `session` were lost (NOPaxos's drop notification).
    Gap {
        /// The session.
        session: u32,
        /// First lost sequence number.
        from: u64,
        /// One past the last lost sequence number.
        to: u64,
    },
    /// The sequencer started `session`; the previous one ended (its tail may be lost).
    NewSession {
        /// The new session.
        session: u32,
    },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Gap { session, from, to } => {
                write!(
                    f,
                    "ordered-mcast: session {session}: messages {from}..{to} lost"
                )
            }
            Notice::NewSession { session } => write!(f, "ordered-mcast: new session {session}"),
        }
    }
}

impl std::error::Error for Notice {}

impl Notice {
    /// The notice an [`Error`] from [`OrderedMcastConn`]'s `recv` carries, if it is one.
    pub fn of(e: &Error) -> Option<Notice> {
        match e {
            Error::Io(io) => io.get_ref()?.downcast_ref::<Notice>().copied(),
            _ => None,
        }
    }

    fn into_error(self) -> Error {
        Error::Io(io::Error::other(self))
    }
}

/// One thing a receiver delivers, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery<A> {
    /// A message.
    Msg {
        /// Its original sender.
        from: A,
        /// Its session.
        session: u32,
        /// Its sequence number.
        seq: u64,
        /// Its payload.
        payload: Vec<u8>,
    },
    /// A gap or a new session.
    Notice(Notice),
}

/// A receiver's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct McastConfig {
    /// Messages that may wait behind a missing one before it is declared lost (at least 1).
    pub reorder_window: usize,
    /// How long the oldest waiting message waits before the missing one is declared lost.
    pub gap_timeout: Duration,
}

impl Default for McastConfig {
    fn default() -> Self {
        McastConfig {
            reorder_window: 64,
            gap_timeout: Duration::from_millis(5),
        }
    }
}

/// The ordered-multicast Chunnel (see the module documentation).
#[derive(Clone, Debug)]
pub struct OrderedMcast<R, A> {
    rt: R,
    sequencer: Option<A>,
    cfg: McastConfig,
    offer: Offer,
}

impl<R, A> OrderedMcast<R, A> {
    fn with_offer(rt: R, offer: Offer) -> Self {
        OrderedMcast {
            rt,
            sequencer: None,
            cfg: McastConfig::default(),
            offer,
        }
    }

    /// The member of a group stamped by a host sequencer (offer [`HOST_IMPL`]).
    pub fn host(rt: R) -> Self {
        Self::with_offer(rt, host_offer())
    }

    /// The member of a group stamped by a switch sequencer (offer [`SWITCH_IMPL`], which must
    /// be registered to be chosen).
    pub fn switch(rt: R) -> Self {
        Self::with_offer(rt, switch_offer(SWITCH_PRIORITY))
    }

    /// Sends go to `sequencer` (the group address), whatever address a send names.
    pub fn with_sequencer(mut self, sequencer: A) -> Self {
        self.sequencer = Some(sequencer);
        self
    }

    /// Sets the receiver's parameters.
    pub fn with_config(mut self, cfg: McastConfig) -> Self {
        self.cfg = McastConfig {
            reorder_window: cfg.reorder_window.max(1),
            ..cfg
        };
        self
    }
}

/// The host sequencer's offer.
pub fn host_offer() -> Offer {
    Offer::new(CHUNNEL, HOST_IMPL, Compat::Exact).label(STAMP_LABEL)
}

/// The switch sequencer's offer, declaring `priority`.
pub fn switch_offer(priority: i32) -> Offer {
    Offer::new(CHUNNEL, SWITCH_IMPL, Compat::Exact)
        .label(STAMP_LABEL)
        .scope(Scope::LocalNetwork)
        .priority(priority)
}

impl<R, A> Negotiate for OrderedMcast<R, A> {
    fn capability(&self) -> Offer {
        self.offer.clone()
    }
}

impl<R, A, InC> Chunnel<InC> for OrderedMcast<R, A>
where
    R: Runtime,
    InC: ChunnelConnection<Data = (A, Vec<u8>)>,
    A: Clone + Serialize + DeserializeOwned,
{
    type Connection = OrderedMcastConn<R, InC, A>;

    async fn connect_wrap(&mut self, inner: InC) -> Result<Self::Connection, Error> {
        Ok(OrderedMcastConn {
            rt: self.rt.clone(),
            inner,
            sequencer: self.sequencer.clone(),
            cfg: self.cfg,
            state: RefCell::new(RecvState {
                session: None,
                next: 0,
                held: BTreeMap::new(),
                held_since: None,
                ready: VecDeque::new(),
                stats: McastStats::default(),
            }),
        })
    }
}

/// Counters of a member.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct McastStats {
    /// Messages delivered.
    pub delivered: u64,
    /// Messages that waited behind a missing one.
    pub buffered: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Gaps reported.
    pub gaps: u64,
    /// Sequence numbers reported lost.
    pub lost: u64,
    /// Stamps of an older session dropped.
    pub stale: u64,
    /// Datagrams that did not parse, dropped.
    pub malformed: u64,
}

struct RecvState<A> {
    session: Option<u32>,
    next: u64,
    held: BTreeMap<u64, (A, Vec<u8>)>,
    held_since: Option<Instant>,
    ready: VecDeque<Delivery<A>>,
    stats: McastStats,
}

impl<A> RecvState<A> {
    fn push_msg(&mut self, from: A, seq: u64, payload: Vec<u8>) {
        let session = self.session.unwrap_or(0);
        self.stats.delivered += 1;
        self.ready.push_back(Delivery::Msg {
            from,
            session,
            seq,
            payload,
        });
    }

    /// Delivers what is contiguous from `next`.
    fn drain_contiguous(&mut self) {
        while let Some((from, p)) = self.held.remove(&self.next) {
            let seq = self.next;
            self.next += 1;
            self.push_msg(from, seq, p);
        }
    }

    /// Declares the numbers up to the first waiting message lost and delivers from there.
    fn give_up_gap(&mut self) {
        let Some(&first) = self.held.keys().next() else {
            return;
        };
        if first > self.next {
            self.stats.gaps += 1;
            self.stats.lost += first - self.next;
            self.ready.push_back(Delivery::Notice(Notice::Gap {
                session: self.session.unwrap_or(0),
                from: self.next,
                to: first,
            }));
            self.next = first;
        }
        self.drain_contiguous();
    }

    fn arrive(
        &mut self,
        now: Instant,
        window: usize,
        b: &[u8],
        decode: impl Fn(&[u8]) -> Option<A>,
    ) {
        let Some((session, seq, sender, off)) = parse_stamped(b) else {
            self.stats.malformed += 1;
            return;
        };
        let Some(from) = decode(sender) else {
            self.stats.malformed += 1;
            return;
        };
        match self.session {
            Some(s) if session < s => {
                self.stats.stale += 1;
                return;
            }
            Some(s) if session > s => {
                // The old session ends: deliver what waits (with its gaps), then the new one.
                while !self.held.is_empty() {
                    self.give_up_gap();
                }
                self.session = Some(session);
                self.next = 0;
                self.held_since = None;
                self.ready
                    .push_back(Delivery::Notice(Notice::NewSession { session }));
            }
            Some(_) => {}
            None => self.session = Some(session),
        }
        if seq < self.next || self.held.contains_key(&seq) {
            self.stats.duplicates += 1;
            return;
        }
        let payload = b[off..].to_vec();
        if seq == self.next {
            self.next += 1;
            self.push_msg(from, seq, payload);
            self.drain_contiguous();
        } else {
            self.stats.buffered += 1;
            self.held.insert(seq, (from, payload));
            while self.held.len() > window {
                self.give_up_gap();
            }
        }
        if self.held.is_empty() {
            self.held_since = None;
        } else if self.held_since.is_none() {
            self.held_since = Some(now);
        }
    }
}

/// A member's connection (see the module documentation).
pub struct OrderedMcastConn<R, C, A> {
    rt: R,
    inner: C,
    sequencer: Option<A>,
    cfg: McastConfig,
    state: RefCell<RecvState<A>>,
}

impl<R, C, A> OrderedMcastConn<R, C, A> {
    /// The member's counters.
    pub fn stats(&self) -> McastStats {
        self.state.borrow().stats
    }

    /// The connection under it.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// The current session, once a stamp arrived.
    pub fn session(&self) -> Option<u32> {
        self.state.borrow().session
    }
}

impl<R, C, A> OrderedMcastConn<R, C, A>
where
    R: Runtime,
    C: ChunnelConnection<Data = (A, Vec<u8>)>,
    A: Clone + Serialize + DeserializeOwned,
{
    /// Waits for the next delivery in order: a message or a notice.
    pub async fn recv_event(&self) -> Result<Delivery<A>, Error> {
        loop {
            let deadline = {
                let mut st = self.state.borrow_mut();
                if let Some(d) = st.ready.pop_front() {
                    return Ok(d);
                }
                st.held_since
                    .map(|t| t.checked_add(self.cfg.gap_timeout).unwrap_or(Instant::MAX))
            };
            let got = match deadline {
                None => Some(self.inner.recv_batch(64).await?),
                Some(d) => {
                    let wait = d - self.rt.now();
                    match self.rt.timeout(wait, self.inner.recv_batch(64)).await {
                        Ok(r) => Some(r?),
                        Err(_) => None,
                    }
                }
            };
            let now = self.rt.now();
            let mut st = self.state.borrow_mut();
            match got {
                Some(batch) => {
                    for (_, b) in batch {
                        st.arrive(now, self.cfg.reorder_window, &b, decode_addr::<A>);
                    }
                }
                None => {
                    st.give_up_gap();
                    st.held_since = if st.held.is_empty() { None } else { Some(now) };
                }
            }
        }
    }
}

impl<R, C, A> ChunnelConnection for OrderedMcastConn<R, C, A>
where
    R: Runtime,
    C: ChunnelConnection<Data = (A, Vec<u8>)>,
    A: Clone + Serialize + DeserializeOwned,
{
    type Data = (A, Vec<u8>);

    async fn send(&self, (to, payload): (A, Vec<u8>)) -> Result<(), Error> {
        let to = self.sequencer.clone().unwrap_or(to);
        self.inner.send((to, request(&payload))).await
    }

    async fn send_batch(&self, batch: Vec<(A, Vec<u8>)>) -> Result<(), Error> {
        let framed = batch
            .into_iter()
            .map(|(to, p)| (self.sequencer.clone().unwrap_or(to), request(&p)))
            .collect();
        self.inner.send_batch(framed).await
    }

    async fn recv(&self) -> Result<(A, Vec<u8>), Error> {
        match self.recv_event().await? {
            Delivery::Msg { from, payload, .. } => Ok((from, payload)),
            Delivery::Notice(n) => Err(n.into_error()),
        }
    }

    async fn recv_batch(&self, max: usize) -> Result<Vec<(A, Vec<u8>)>, Error> {
        let first = self.recv().await?;
        let mut out = vec![first];
        let mut st = self.state.borrow_mut();
        while out.len() < max.max(1) {
            // A notice stays queued for the next call.
            if !matches!(st.ready.front(), Some(Delivery::Msg { .. })) {
                break;
            }
            if let Some(Delivery::Msg { from, payload, .. }) = st.ready.pop_front() {
                out.push((from, payload));
            }
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------
// Host sequencer.

/// A datagram socket as a `(address, bytes)` connection: what the host sequencer and members
/// run over outside a negotiated stack.
pub struct SocketConn<S> {
    sock: S,
    buf: RefCell<Vec<u8>>,
}

impl<S> SocketConn<S> {
    /// Wraps `sock`.
    pub fn new(sock: S) -> Self {
        SocketConn {
            sock,
            buf: RefCell::new(vec![0; 65_536]),
        }
    }

    /// The socket.
    pub fn socket(&self) -> &S {
        &self.sock
    }
}

impl<S: DatagramSocket> ChunnelConnection for SocketConn<S> {
    type Data = (S::Addr, Vec<u8>);

    async fn send(&self, (to, b): Self::Data) -> Result<(), Error> {
        self.sock.send_to(&b, &to).await?;
        Ok(())
    }

    /// Cancel-safe: a dropped receive loses no datagram and no buffer (a receive that finds
    /// the buffer taken by a dropped or concurrent one allocates a new one).
    async fn recv(&self) -> Result<Self::Data, Error> {
        let mut buf = std::mem::take(&mut *self.buf.borrow_mut());
        if buf.len() < 65_536 {
            buf.resize(65_536, 0);
        }
        let r = self.sock.recv_from(&mut buf).await;
        let out = r.map(|(n, from)| (from, buf[..n.min(buf.len())].to_vec()));
        *self.buf.borrow_mut() = buf;
        Ok(out?)
    }
}

/// The host sequencer's group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequencerConfig<A> {
    /// The receivers every stamped message goes to.
    pub receivers: Vec<A>,
    /// The session stamped.
    pub session: u32,
}

/// Counters of a sequencer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SequencerStats {
    /// Requests stamped (the next sequence number).
    pub stamped: u64,
    /// Copies sent.
    pub copies: u64,
    /// Datagrams that were not requests, dropped.
    pub malformed: u64,
}

/// The host sequencer's loop over `conn`: stamps each request in arrival order and sends a
/// copy to every receiver; `stats` is updated as it goes. Returns when `conn` fails.
pub async fn run_sequencer<C, A>(
    conn: C,
    cfg: SequencerConfig<A>,
    stats: Rc<Cell<SequencerStats>>,
) -> Result<(), Error>
where
    C: ChunnelConnection<Data = (A, Vec<u8>)>,
    A: Clone + Serialize,
{
    loop {
        let batch = conn.recv_batch(64).await?;
        for (from, req) in batch {
            let mut s = stats.get();
            let framed = encode_addr(&from).and_then(|a| stamp(cfg.session, s.stamped, &a, &req));
            let Some(framed) = framed else {
                s.malformed += 1;
                stats.set(s);
                continue;
            };
            s.stamped += 1;
            stats.set(s);
            let copies = cfg
                .receivers
                .iter()
                .map(|r| (r.clone(), framed.clone()))
                .collect::<Vec<_>>();
            let n = copies.len() as u64;
            conn.send_batch(copies).await?;
            let mut s = stats.get();
            s.copies += n;
            stats.set(s);
        }
    }
}

/// A host sequencer running as a task; stops when dropped.
pub struct HostSequencer {
    stats: Rc<Cell<SequencerStats>>,
    _task: AbortOnDrop,
}

impl fmt::Debug for HostSequencer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostSequencer")
            .field("stats", &self.stats.get())
            .finish()
    }
}

impl HostSequencer {
    /// Spawns [`run_sequencer`] over `conn` on `rt`.
    pub fn spawn<R, C, A>(rt: &R, conn: C, cfg: SequencerConfig<A>) -> Self
    where
        R: Runtime,
        C: ChunnelConnection<Data = (A, Vec<u8>)> + 'static,
        A: Clone + Serialize + 'static,
    {
        let stats = Rc::new(Cell::new(SequencerStats::default()));
        let s = stats.clone();
        let task = rt.spawn(async move {
            // The loop ends only when its connection fails; nothing to report to.
            let _ = run_sequencer(conn, cfg, s).await;
        });
        HostSequencer {
            stats,
            _task: AbortOnDrop(task),
        }
    }

    /// The sequencer's counters.
    pub fn stats(&self) -> SequencerStats {
        self.stats.get()
    }
}

mod switch;
pub use switch::{
    plan_sequencer, switch_registry, SequencerPlan, SequencerTable, SwitchGroup, SwitchSequencer,
    SwitchStats,
};

#[cfg(test)]
mod tests;
