//! The client side: [`connect`] (1-RTT) and [`connect_zero_rtt`] with a [`ZeroRttCache`].

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use netrt::{DatagramSocket, Runtime};

use super::base::{AbortOnDrop, DataConn};
use super::pump::{outlined, Pump, Recycler};
use super::{NegotiateConfig, Negotiated, NegotiationError};
use crate::caps::{match_stacks, Agreement, Offer};
use crate::conn::{ChunnelConnection, Error};
use crate::queue::Queue;
use crate::registry::{Lease, Registry};
use crate::stack::{Alternative, Chunnel, Describe, PolicyCtx};
use crate::wire::{
    data_frame, decode, encode, parse, Frame, NegMsg, Reassembler, ZeroRtt, ZeroRttOutcome,
};

thread_local! {
    static EPOCHS: Cell<u32> = const { Cell::new(0) };
}

/// A fresh epoch: the runtime's clock mixed with a per-thread counter (deterministic on the
/// simulator, distinct across connections from one address).
pub(crate) fn new_epoch<R: Runtime>(rt: &R) -> u32 {
    let n = EPOCHS.with(|c| {
        let v = c.get().wrapping_add(1);
        c.set(v);
        v
    });
    let t = rt.now().as_nanos();
    ((t ^ (t >> 32)) as u32).wrapping_mul(0x9E37_79B1) ^ n.wrapping_mul(0x85EB_CA6B)
}

pub(crate) enum Control {
    Msg(NegMsg),
    TimedOut(u32),
}

struct Shared<A> {
    server: A,
    epoch: Cell<u32>,
    decided: Cell<bool>,
    data: RefCell<Queue<(A, Vec<u8>)>>,
    control: Queue<Control>,
}

/// The client's pump: data of the current epoch goes to the data queue, the server's
/// negotiation replies (whole, decoded, of the current epoch, first one only) to the control
/// queue; stale epochs, strangers' negotiation messages and malformed datagrams are dropped.
fn make_pump<S>(sock: Rc<S>, shared: Rc<Shared<S::Addr>>) -> Rc<Pump<S>>
where
    S: DatagramSocket + 'static,
    S::Addr: Ord,
{
    let mut reasm = Reassembler::default();
    let sh = shared.clone();
    let pump = Rc::new(Pump::new(
        sock,
        Box::new(move |buf: &[u8], from: S::Addr, recycler: &Recycler| {
            match data_frame(buf) {
                Some((epoch, payload)) if epoch == sh.epoch.get() => {
                    // Pushed under the borrow: the data queue is only replaced by the
                    // connection's own code, never from within a waker the push wakes.
                    sh.data.borrow().push((from, recycler.copy_of(payload)));
                }
                _ => outlined(|| {
                    if let Ok(Frame::Neg {
                        msg_id,
                        index,
                        count,
                        payload,
                    }) = parse(buf)
                    {
                        if from != sh.server {
                            return;
                        }
                        if let Ok(Some(body)) = reasm.push(msg_id, index, count, payload) {
                            if let Ok(msg) = decode(&body) {
                                if msg.epoch() == sh.epoch.get() && !sh.decided.get() {
                                    sh.decided.set(true);
                                    sh.control.push(Control::Msg(msg));
                                }
                            }
                        }
                    }
                }),
            }
            Vec::new()
        }),
    ));
    pump.on_close(move || {
        shared.data.borrow().close();
        shared.control.close();
    });
    pump
}

async fn send_all<S: DatagramSocket>(
    sock: &S,
    to: &S::Addr,
    frags: &[Vec<u8>],
) -> Result<(), Error> {
    for f in frags {
        sock.send_to(f, to).await?;
    }
    Ok(())
}

/// Sends `frags` until a control message arrives, with exponential backoff.
async fn exchange<R: Runtime, S: DatagramSocket>(
    rt: &R,
    pump: &Pump<S>,
    to: &S::Addr,
    frags: &[Vec<u8>],
    control: &Queue<Control>,
    cfg: &NegotiateConfig,
) -> Result<NegMsg, Error> {
    let mut rto = cfg.rto;
    for _ in 0..cfg.max_attempts.max(1) {
        send_all(&**pump.socket(), to, frags).await?;
        match rt.timeout(rto, pump.wait(control, false)).await {
            Ok(Some(Control::Msg(m))) => return Ok(m),
            Ok(Some(Control::TimedOut(n))) => {
                return Err(NegotiationError::Timeout { attempts: n }.into())
            }
            Ok(None) => return Err(Error::Closed),
            Err(_) => rto = rto.saturating_mul(2),
        }
    }
    Err(NegotiationError::Timeout {
        attempts: cfg.max_attempts.max(1),
    }
    .into())
}

/// The alternatives this end may offer: those whose every layer is available here. Returns
/// them with their original indices.
fn local_alternatives<St: Describe>(
    stack: &St,
    reg: &Registry,
) -> Result<(Vec<Alternative>, Vec<usize>), Error> {
    let mut alts = Vec::new();
    let mut idx = Vec::new();
    let mut reasons = Vec::new();
    for (i, a) in stack
        .alternatives(&PolicyCtx { peers: 2 })
        .into_iter()
        .enumerate()
    {
        match a.layers.iter().try_for_each(|o| reg.available(o)) {
            Ok(()) => {
                idx.push(i);
                alts.push(Alternative {
                    layers: a.layers.iter().map(|o| reg.effective(o)).collect(),
                    penalty: a.penalty,
                });
            }
            Err(why) => reasons.push(why),
        }
    }
    if alts.is_empty() {
        return Err(NegotiationError::Unavailable { reasons }.into());
    }
    Ok((alts, idx))
}

/// Checks a `Picked` against what was sent; returns the sent index, the client's agreements
/// and the server's layers.
fn check_pick(
    client_alt: u32,
    server: &[Offer],
    sent: &[Alternative],
    reg: &Registry,
) -> Result<(usize, Vec<Agreement>), Error> {
    let ci = client_alt as usize;
    let Some(mine) = sent.get(ci) else {
        return Err(NegotiationError::BadReply(format!(
            "client alternative {ci} of {}",
            sent.len()
        ))
        .into());
    };
    let m = match_stacks(&mine.layers, server).map_err(|e| {
        NegotiationError::BadReply(format!("server picked an incompatible stack: {e}"))
    })?;
    for a in &m.client {
        reg.endpoints_ok(a).map_err(NegotiationError::BadReply)?;
    }
    Ok((ci, m.client))
}

/// What a client connection shares: the state with the pump, the pump, and the pump's
/// background reader.
struct Started<S: DatagramSocket> {
    epoch: u32,
    shared: Rc<Shared<S::Addr>>,
    pump: Rc<Pump<S>>,
    reader: Rc<AbortOnDrop>,
}

/// A new epoch, the state shared with the pump, the pump and its background reader.
fn begin<R, S>(rt: &R, sock: &Rc<S>, server: &S::Addr) -> Started<S>
where
    R: Runtime,
    S: DatagramSocket + 'static,
    S::Addr: Ord,
{
    let epoch = new_epoch(rt);
    let shared = Rc::new(Shared {
        server: server.clone(),
        epoch: Cell::new(epoch),
        decided: Cell::new(false),
        data: RefCell::new(Queue::new()),
        control: Queue::new(),
    });
    let pump = make_pump(sock.clone(), shared.clone());
    let reader = pump.background(rt);
    Started {
        epoch,
        shared,
        pump,
        reader,
    }
}

/// The choice in the reply to a 1-RTT `Hello`: the sent alternative's index, the client's
/// agreements, the fallbacks, and the raw pick (client alternative, server layers) to cache.
type OneRttPick = (usize, Vec<Agreement>, Vec<String>, (u32, Vec<Offer>));

fn one_rtt_reply(reply: NegMsg, sent: &[Alternative], reg: &Registry) -> Result<OneRttPick, Error> {
    match reply {
        NegMsg::Picked {
            client_alt,
            server,
            fallbacks,
            ..
        } => {
            let (ci, ags) = check_pick(client_alt, &server, sent, reg)?;
            Ok((ci, ags, fallbacks, (client_alt, server)))
        }
        NegMsg::Refused { reason, .. } => Err(NegotiationError::Refused(reason).into()),
        NegMsg::Hello { .. } => {
            Err(NegotiationError::BadReply("a Hello from the server".into()).into())
        }
    }
}

/// Connects to `server` over `sock` and negotiates `stack` in one round trip (see the module
/// documentation); returns the built datapath stack and what was agreed.
pub async fn connect<R, S, St>(
    rt: &R,
    sock: Rc<S>,
    server: S::Addr,
    mut stack: St,
    reg: &Registry,
    cfg: &NegotiateConfig,
) -> Result<(St::Connection, Negotiated), Error>
where
    R: Runtime,
    S: DatagramSocket + 'static,
    S::Addr: Ord,
    St: Describe + Chunnel<DataConn<S>>,
{
    let (sent, index) = local_alternatives(&stack, reg)?;
    let Started {
        epoch,
        shared,
        pump,
        reader,
    } = begin(rt, &sock, &server);
    let hello = NegMsg::Hello {
        epoch,
        alternatives: sent.clone(),
        zero_rtt: None,
    };
    let frags = encode(&hello, epoch);
    let reply = exchange(rt, &pump, &server, &frags, &shared.control, cfg).await?;
    let (ci, ags, fallbacks, _) = one_rtt_reply(reply, &sent, reg)?;
    let lease = reg
        .reserve(&sent[ci].layers)
        .map_err(|w| NegotiationError::Unavailable { reasons: vec![w] })?;
    stack.choose(index[ci], &mut ags.iter());
    let data = shared.data.borrow().clone();
    let keep: Vec<Rc<dyn Any>> = vec![Rc::new(lease), shared, reader];
    let base = DataConn::new(sock, epoch, data, Some(pump), keep);
    let conn = stack.connect_wrap(base).await?;
    Ok((
        conn,
        Negotiated {
            epoch,
            alternative: index[ci],
            layers: ags,
            fallbacks,
            zero_rtt: ZeroRttOutcome::NotAsked,
        },
    ))
}

#[derive(Clone, Debug)]
struct Cached {
    alternatives: Vec<Alternative>,
    client_alt: u32,
    server: Vec<Offer>,
}

/// Stacks negotiated with servers, remembered for 0-RTT. Cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct ZeroRttCache {
    map: Rc<RefCell<BTreeMap<String, Cached>>>,
}

impl ZeroRttCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Servers remembered.
    pub fn len(&self) -> usize {
        self.map.borrow().len()
    }

    /// Whether no server is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every server.
    pub fn clear(&self) {
        self.map.borrow_mut().clear();
    }

    fn key<A: std::fmt::Debug>(a: &A) -> String {
        format!("{a:?}")
    }
}

struct ZState<C, D> {
    conn: Rc<C>,
    generation: u64,
    confirmed: bool,
    replay: Vec<D>,
}

/// A connection negotiated with 0-RTT: until the server decides, it keeps every sent message;
/// if the server rejects the remembered stack, it rebuilds on the server's choice and sends
/// them again (see the module documentation). Once decided it is the negotiated stack.
pub struct ZeroRttConn<S, St>
where
    S: DatagramSocket,
    St: Chunnel<DataConn<S>>,
{
    template: St,
    sock: Rc<S>,
    shared: Rc<Shared<S::Addr>>,
    pump: Rc<Pump<S>>,
    reader: Rc<AbortOnDrop>,
    reg: Registry,
    cache: ZeroRttCache,
    sent: Vec<Alternative>,
    index: Vec<usize>,
    limit: usize,
    lease: RefCell<Option<Rc<Lease>>>,
    state: RefCell<ZState<St::Connection, <St::Connection as ChunnelConnection>::Data>>,
}

enum Raced<A, B> {
    First(A),
    Second(B),
}

async fn race<A: Future, B: Future>(a: A, b: B) -> Raced<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(x) = a.as_mut().poll(cx) {
            return Poll::Ready(Raced::First(x));
        }
        if let Poll::Ready(y) = b.as_mut().poll(cx) {
            return Poll::Ready(Raced::Second(y));
        }
        Poll::Pending
    })
    .await
}

impl<S, St> ZeroRttConn<S, St>
where
    S: DatagramSocket + 'static,
    S::Addr: Ord,
    St: Describe + Chunnel<DataConn<S>> + Clone,
    <St::Connection as ChunnelConnection>::Data: Clone,
{
    async fn build(
        &self,
        epoch: u32,
        ci: usize,
        ags: &[Agreement],
    ) -> Result<(St::Connection, Rc<Lease>), Error> {
        let lease = Rc::new(reg_reserve(&self.reg, &self.sent[ci].layers)?);
        let mut st = self.template.clone();
        st.choose(self.index[ci], &mut ags.iter());
        let q = Queue::new();
        let old = self.shared.data.replace(q.clone());
        old.close();
        self.shared.epoch.set(epoch);
        let keep: Vec<Rc<dyn Any>> = vec![
            lease.clone(),
            self.shared.clone() as Rc<dyn Any>,
            self.reader.clone(),
        ];
        let conn = st
            .connect_wrap(DataConn::new(
                self.sock.clone(),
                epoch,
                q,
                Some(self.pump.clone()),
                keep,
            ))
            .await?;
        Ok((conn, lease))
    }

    fn remember(&self, client_alt: u32, server: Vec<Offer>) {
        self.cache.map.borrow_mut().insert(
            ZeroRttCache::key(&self.shared.server),
            Cached {
                alternatives: self.sent.clone(),
                client_alt,
                server,
            },
        );
    }

    /// Applies a decision of the server.
    async fn handle(&self, c: Control) -> Result<(), Error> {
        let msg = match c {
            Control::Msg(m) => m,
            Control::TimedOut(n) => {
                return Err(NegotiationError::Timeout { attempts: n }.into());
            }
        };
        match msg {
            NegMsg::Picked {
                zero_rtt: ZeroRttOutcome::Accepted,
                ..
            } => {
                let mut s = self.state.borrow_mut();
                s.confirmed = true;
                s.replay.clear();
                Ok(())
            }
            NegMsg::Picked {
                zero_rtt: ZeroRttOutcome::Rejected,
                client_alt,
                server,
                ..
            } => {
                let (ci, ags) = check_pick(client_alt, &server, &self.sent, &self.reg)?;
                let epoch = self.shared.epoch.get().wrapping_add(1);
                let (conn, lease) = self.build(epoch, ci, &ags).await?;
                self.remember(client_alt, server);
                *self.lease.borrow_mut() = Some(lease);
                let conn = Rc::new(conn);
                let replay = {
                    let mut s = self.state.borrow_mut();
                    s.conn = conn.clone();
                    s.generation += 1;
                    s.confirmed = true;
                    std::mem::take(&mut s.replay)
                };
                if !replay.is_empty() {
                    conn.send_batch(replay).await?;
                }
                Ok(())
            }
            NegMsg::Picked { .. } => Err(NegotiationError::BadReply(
                "a 0-RTT Hello answered as if it had none".into(),
            )
            .into()),
            NegMsg::Refused { reason, .. } => {
                self.cache
                    .map
                    .borrow_mut()
                    .remove(&ZeroRttCache::key(&self.shared.server));
                Err(NegotiationError::Refused(reason).into())
            }
            NegMsg::Hello { .. } => {
                Err(NegotiationError::BadReply("a Hello from the server".into()).into())
            }
        }
    }

    async fn pump_control(&self) -> Result<(), Error> {
        while let Some(c) = self.shared.control.try_pop() {
            self.handle(c).await?;
        }
        Ok(())
    }

    /// Whether the server has decided (accepted, or rejected and the stack was rebuilt).
    pub fn confirmed(&self) -> bool {
        self.state.borrow().confirmed
    }
}

fn reg_reserve(reg: &Registry, layers: &[Offer]) -> Result<Lease, Error> {
    reg.reserve(layers)
        .map_err(|w| NegotiationError::Unavailable { reasons: vec![w] }.into())
}

impl<S, St> ChunnelConnection for ZeroRttConn<S, St>
where
    S: DatagramSocket + 'static,
    S::Addr: Ord,
    St: Describe + Chunnel<DataConn<S>> + Clone,
    <St::Connection as ChunnelConnection>::Data: Clone,
{
    type Data = <St::Connection as ChunnelConnection>::Data;

    async fn send(&self, d: Self::Data) -> Result<(), Error> {
        self.pump_control().await?;
        if !self.confirmed() && self.state.borrow().replay.len() >= self.limit {
            match self.pump.wait(&self.shared.control, false).await {
                Some(c) => self.handle(c).await?,
                None => return Err(Error::Closed),
            }
        }
        let conn = {
            let mut s = self.state.borrow_mut();
            if !s.confirmed {
                s.replay.push(d.clone());
            }
            s.conn.clone()
        };
        conn.send(d).await
    }

    async fn recv(&self) -> Result<Self::Data, Error> {
        loop {
            self.pump_control().await?;
            let (conn, generation, confirmed) = {
                let s = self.state.borrow();
                (s.conn.clone(), s.generation, s.confirmed)
            };
            let r = if confirmed {
                conn.recv().await
            } else {
                match race(conn.recv(), self.shared.control.pop()).await {
                    Raced::First(r) => r,
                    Raced::Second(Some(c)) => {
                        self.handle(c).await?;
                        continue;
                    }
                    Raced::Second(None) => return Err(Error::Closed),
                }
            };
            match r {
                // The stack was rebuilt while this call waited on the old one.
                Err(Error::Closed) if self.state.borrow().generation != generation => continue,
                r => return r,
            }
        }
    }
}

/// Connects with 0-RTT when `cache` remembers a stack negotiated with `server` for these same
/// alternatives: the stack is built at once and the first data travels with the `Hello`.
/// Otherwise negotiates in one round trip and remembers the result.
pub async fn connect_zero_rtt<R, S, St>(
    rt: &R,
    sock: Rc<S>,
    server: S::Addr,
    stack: St,
    reg: &Registry,
    cache: &ZeroRttCache,
    cfg: &NegotiateConfig,
) -> Result<(ZeroRttConn<S, St>, Negotiated), Error>
where
    R: Runtime,
    S: DatagramSocket + 'static,
    S::Addr: Ord,
    St: Describe + Chunnel<DataConn<S>> + Clone,
    <St::Connection as ChunnelConnection>::Data: Clone,
{
    let (sent, index) = local_alternatives(&stack, reg)?;
    let Started {
        epoch,
        shared,
        pump,
        reader,
    } = begin(rt, &sock, &server);
    let remembered = cache
        .map
        .borrow()
        .get(&ZeroRttCache::key(&server))
        .filter(|c| c.alternatives == sent)
        .cloned();
    let zero_rtt = remembered.as_ref().map(|c| ZeroRtt {
        client_alt: c.client_alt,
        server: c.server.clone(),
    });
    let hello = NegMsg::Hello {
        epoch,
        alternatives: sent.clone(),
        zero_rtt: zero_rtt.clone(),
    };
    let frags = encode(&hello, epoch);

    // Until the stack exists the connection holds a placeholder-free state: build it first.
    let (ci, ags, fallbacks, outcome) = match &remembered {
        Some(c) => {
            let (ci, ags) = check_pick(c.client_alt, &c.server, &sent, reg)?;
            // Retransmit the Hello in the background until the server decides.
            let (sock2, server2, shared2, rt2, cfg2) = (
                sock.clone(),
                server.clone(),
                Rc::downgrade(&shared),
                rt.clone(),
                *cfg,
            );
            let frags2 = frags.clone();
            rt.spawn(async move {
                let mut rto = cfg2.rto;
                for _ in 0..cfg2.max_attempts.max(1) {
                    let Some(sh) = shared2.upgrade() else { return };
                    if sh.decided.get() {
                        return;
                    }
                    if send_all(&*sock2, &server2, &frags2).await.is_err() {
                        return;
                    }
                    drop(sh);
                    rt2.sleep(rto).await;
                    rto = rto.saturating_mul(2);
                }
                if let Some(sh) = shared2.upgrade() {
                    if !sh.decided.get() {
                        sh.decided.set(true);
                        sh.control.push(Control::TimedOut(cfg2.max_attempts.max(1)));
                    }
                }
            });
            (ci, ags, Vec::new(), ZeroRttOutcome::NotAsked)
        }
        None => {
            let reply = exchange(rt, &pump, &server, &frags, &shared.control, cfg).await?;
            let (ci, ags, fallbacks, (client_alt, srv)) = one_rtt_reply(reply, &sent, reg)?;
            cache.map.borrow_mut().insert(
                ZeroRttCache::key(&server),
                Cached {
                    alternatives: sent.clone(),
                    client_alt,
                    server: srv,
                },
            );
            (ci, ags, fallbacks, ZeroRttOutcome::NotAsked)
        }
    };
    let lease = Rc::new(reg_reserve(reg, &sent[ci].layers)?);
    let mut st = stack.clone();
    st.choose(index[ci], &mut ags.iter());
    let q = shared.data.borrow().clone();
    let keep: Vec<Rc<dyn Any>> = vec![lease.clone(), shared.clone() as Rc<dyn Any>, reader.clone()];
    let conn = st
        .connect_wrap(DataConn::new(
            sock.clone(),
            epoch,
            q,
            Some(pump.clone()),
            keep,
        ))
        .await?;
    let confirmed = remembered.is_none();
    let zc = ZeroRttConn {
        template: stack,
        sock,
        shared,
        pump,
        reader,
        reg: reg.clone(),
        cache: cache.clone(),
        sent,
        index: index.clone(),
        limit: cfg.zero_rtt_buffer.max(1),
        lease: RefCell::new(Some(lease)),
        state: RefCell::new(ZState {
            conn: Rc::new(conn),
            generation: 0,
            confirmed,
            replay: Vec::new(),
        }),
    };
    Ok((
        zc,
        Negotiated {
            epoch,
            alternative: index[ci],
            layers: ags,
            fallbacks,
            zero_rtt: if remembered.is_some() {
                ZeroRttOutcome::Pending
            } else {
                outcome
            },
        },
    ))
}
