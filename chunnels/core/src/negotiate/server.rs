//! The server side: [`listen`] negotiates with every client on a socket and hands out built
//! connections through [`Listener::accept`]; the socket is read through a pump by whoever
//! waits (see `negotiate::pump`).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};

use netrt::{DatagramSocket, Runtime};

use super::base::{AbortOnDrop, DataConn};
use super::pump::{outlined, Pump, Recycler, Sends};
use super::{decide, decide_zero_rtt, NegotiateConfig, Negotiated};
use crate::caps::{Agreement, Offer};
use crate::conn::Error;
use crate::queue::Queue;
use crate::registry::Registry;
use crate::stack::{Chunnel, Describe, PolicyCtx};
use crate::wire::{data_frame, decode, encode, parse, Frame, NegMsg, Reassembler, ZeroRttOutcome};

/// Early data kept per server while its 0-RTT `Hello` has not arrived, in datagrams.
const EARLY_LIMIT: usize = 4096;

/// Counters of a listener.
#[derive(Debug, Default)]
pub struct ListenerStats {
    /// Connections negotiated.
    pub negotiated: Cell<u64>,
    /// 0-RTT proposals accepted.
    pub zero_rtt_accepted: Cell<u64>,
    /// 0-RTT proposals rejected (a new choice sent).
    pub zero_rtt_rejected: Cell<u64>,
    /// Negotiations refused.
    pub refused: Cell<u64>,
    /// Replies sent again for a retransmitted `Hello`.
    pub replies_resent: Cell<u64>,
    /// Datagrams dropped: malformed, stale epoch, or early data beyond the limit.
    pub dropped: Cell<u64>,
    /// Stacks whose `connect_wrap` failed after negotiation.
    pub build_errors: Cell<u64>,
    /// Connections opened implicitly (see [`NegotiateConfig::implicit_alternative`]).
    pub implicit: Cell<u64>,
}

fn bump(c: &Cell<u64>) {
    c.set(c.get() + 1);
}

/// Accepts negotiated connections. The socket is read by whoever waits: the connections'
/// `recv`s and, while none waits, the pump's background reader; a Hello is answered when one
/// of them reads it.
pub struct Listener<S: DatagramSocket, C> {
    incoming: Queue<(S::Addr, C, Negotiated)>,
    stats: Rc<ListenerStats>,
    _reader: Rc<AbortOnDrop>,
}

impl<S: DatagramSocket, C> Listener<S, C> {
    /// Waits for the next negotiated connection: the client's address, the built stack and
    /// what was agreed.
    ///
    /// Accepting does not read the socket: the pump's background reader and the connections'
    /// receives route each `Hello` (a reading `accept` would be woken after every datagram a
    /// connection reads, only to find that connection reading again).
    pub async fn accept(&self) -> Result<(S::Addr, C, Negotiated), Error> {
        self.incoming.pop().await.ok_or(Error::Closed)
    }

    /// The listener's counters.
    pub fn stats(&self) -> &ListenerStats {
        &self.stats
    }
}

/// A connection's received data: (sender, payload) pairs.
type DataQueue<A> = Queue<(A, Vec<u8>)>;

/// The peer whose data came last: its address, data epoch and queue.
type LastPeer<A> = (A, u32, DataQueue<A>);

struct Peer<A> {
    /// The epoch of the client's last `Hello`.
    hello: u32,
    /// The epoch of the connection's data (the `Hello`'s, or the next after a 0-RTT
    /// rejection).
    epoch: u32,
    data: Queue<(A, Vec<u8>)>,
    reply: Vec<Vec<u8>>,
}

/// Listens on `sock`: negotiates `stack` with every client that sends a `Hello` and builds a
/// fresh copy of it per connection. The reply goes out before the stack is built, so a
/// Chunnel's `connect_wrap` may exchange messages with the client.
pub fn listen<R, S, St>(
    rt: &R,
    sock: Rc<S>,
    stack: St,
    reg: Registry,
    cfg: NegotiateConfig,
) -> Listener<S, St::Connection>
where
    R: Runtime,
    S: DatagramSocket + 'static,
    S::Addr: Ord,
    St: Describe + Chunnel<DataConn<S>> + Clone + 'static,
{
    let incoming = Queue::new();
    let stats = Rc::new(ListenerStats::default());
    let (inc, st2, rt2) = (incoming.clone(), stats.clone(), rt.clone());
    let pump_cell: Rc<RefCell<Weak<Pump<S>>>> = Rc::new(RefCell::new(Weak::new()));
    let pump_of = pump_cell.clone();
    // The background reader, held by the listener and every connection it builds (a weak
    // reference here: the handler lives inside the pump the reader holds).
    let reader_cell: Rc<RefCell<Weak<AbortOnDrop>>> = Rc::new(RefCell::new(Weak::new()));
    let reader_of = reader_cell.clone();
    let sock2 = sock.clone();
    let handler = {
        let stats = st2;
        let sock = sock2;
        let server_alts = stack.alternatives(&PolicyCtx { peers: 2 });
        let mut peers: BTreeMap<S::Addr, Peer<S::Addr>> = BTreeMap::new();
        let mut reasm: BTreeMap<S::Addr, Reassembler> = BTreeMap::new();
        let mut early: BTreeMap<(S::Addr, u32), Vec<Vec<u8>>> = BTreeMap::new();
        let mut early_len = 0usize;
        // The peer whose data came last (address, data epoch, queue), so that a run of data
        // from one peer is routed without a lookup in `peers` (comparing paths, for Unix
        // sockets). Cleared whenever `peers` changes.
        let mut last: Option<LastPeer<S::Addr>> = None;
        // Everything but data from the peer in `last`, out of line (see the handler below).
        let mut slow = move |buf: &[u8],
                             from: S::Addr,
                             recycler: &Recycler,
                             last: &mut Option<LastPeer<S::Addr>>|
              -> Sends<S::Addr> {
            let mut out: Sends<S::Addr> = Vec::new();
            let (msg_id, index, count, payload) = match parse(buf) {
                Ok(Frame::Data { epoch, payload }) => {
                    match peers.get(&from) {
                        Some(p) if p.epoch == epoch => {
                            *last = Some((from.clone(), epoch, p.data.clone()));
                            p.data.push((from, recycler.copy_of(payload)))
                        }
                        Some(p) if p.hello == epoch => bump(&stats.dropped), // rejected 0-RTT
                        _ if cfg.implicit_alternative.is_some() => {
                            let ai = cfg.implicit_alternative.unwrap_or(0);
                            let Some(alt) = server_alts.get(ai) else {
                                bump(&stats.dropped);
                                return out;
                            };
                            let layers: Vec<Agreement> = alt
                                .layers
                                .iter()
                                .map(|o| {
                                    let o = reg.effective(o);
                                    Agreement {
                                        labels: o.labels.clone(),
                                        local: o,
                                        peer: None,
                                    }
                                })
                                .collect();
                            let offers: Vec<Offer> =
                                layers.iter().map(|a| a.local.clone()).collect();
                            let Ok(lease) = reg.reserve(&offers) else {
                                bump(&stats.dropped);
                                return out;
                            };
                            bump(&stats.implicit);
                            let q = Queue::new();
                            q.push((from.clone(), payload.to_vec()));
                            *last = None;
                            if let Some(old) = peers.insert(
                                from.clone(),
                                Peer {
                                    hello: epoch,
                                    epoch,
                                    data: q.clone(),
                                    reply: Vec::new(),
                                },
                            ) {
                                old.data.close();
                            }
                            let mut st = stack.clone();
                            st.choose(ai, &mut layers.iter());
                            let negotiated = Negotiated {
                                epoch,
                                alternative: ai,
                                layers,
                                fallbacks: Vec::new(),
                                zero_rtt: ZeroRttOutcome::NotAsked,
                            };
                            let mut keep: Vec<Rc<dyn Any>> = vec![Rc::new(lease)];
                            if let Some(r) = reader_of.borrow().upgrade() {
                                keep.push(r);
                            }
                            let base = DataConn::new(
                                sock.clone(),
                                epoch,
                                q,
                                pump_of.borrow().upgrade(),
                                keep,
                            );
                            let (inc2, stats2) = (inc.clone(), stats.clone());
                            rt2.spawn(async move {
                                match st.connect_wrap(base).await {
                                    Ok(c) => inc2.push((from, c, negotiated)),
                                    Err(_) => bump(&stats2.build_errors),
                                }
                            });
                        }
                        _ if early_len < EARLY_LIMIT => {
                            early_len += 1;
                            early
                                .entry((from, epoch))
                                .or_default()
                                .push(payload.to_vec());
                        }
                        _ => bump(&stats.dropped),
                    }
                    return out;
                }
                Ok(Frame::Neg {
                    msg_id,
                    index,
                    count,
                    payload,
                }) => (msg_id, index, count, payload),
                Err(_) => {
                    bump(&stats.dropped);
                    return out;
                }
            };
            let r = reasm.entry(from.clone()).or_default();
            let body = match r.push(msg_id, index, count, payload) {
                Ok(Some(b)) => b,
                Ok(None) => return out,
                Err(_) => {
                    bump(&stats.dropped);
                    return out;
                }
            };
            let Ok(NegMsg::Hello {
                epoch,
                alternatives,
                zero_rtt,
            }) = decode(&body)
            else {
                bump(&stats.dropped);
                return out;
            };
            if let Some(p) = peers.get(&from) {
                if p.hello == epoch {
                    bump(&stats.replies_resent);
                    for f in &p.reply {
                        out.push((f.clone(), from.clone()));
                    }
                    return out;
                }
            }
            let (decision, outcome) = match &zero_rtt {
                Some(z) => match decide_zero_rtt(&alternatives, z, &server_alts, &reg) {
                    Ok((d, outcome)) => (Ok(d), outcome),
                    Err(e) => (Err(e), ZeroRttOutcome::Rejected),
                },
                None => (
                    decide(&alternatives, &server_alts, &reg),
                    ZeroRttOutcome::NotAsked,
                ),
            };
            let d = match decision {
                Ok(d) => d,
                Err(e) => {
                    bump(&stats.refused);
                    let reply = NegMsg::Refused {
                        epoch,
                        reason: e.to_string(),
                    };
                    for f in encode(&reply, epoch) {
                        out.push((f, from.clone()));
                    }
                    return out;
                }
            };
            let conn_epoch = match outcome {
                ZeroRttOutcome::Rejected => {
                    bump(&stats.zero_rtt_rejected);
                    epoch.wrapping_add(1)
                }
                ZeroRttOutcome::Accepted => {
                    bump(&stats.zero_rtt_accepted);
                    epoch
                }
                _ => epoch,
            };
            bump(&stats.negotiated);
            let server_layers: Vec<_> = d.matched.server.iter().map(|a| a.local.clone()).collect();
            let reply = NegMsg::Picked {
                epoch,
                client_alt: d.client_alt as u32,
                server: server_layers,
                fallbacks: d.fallbacks.clone(),
                zero_rtt: outcome,
            };
            let frags = encode(&reply, epoch);
            let q = Queue::new();
            // Early data of an accepted 0-RTT attempt is delivered; of a rejected one, dropped.
            let keys: Vec<_> = early.keys().filter(|k| k.0 == from).cloned().collect();
            for k in keys {
                let v = early.remove(&k).unwrap_or_default();
                early_len -= v.len();
                if k.1 == conn_epoch {
                    for p in v {
                        q.push((from.clone(), p));
                    }
                }
            }
            *last = None;
            if let Some(old) = peers.insert(
                from.clone(),
                Peer {
                    hello: epoch,
                    epoch: conn_epoch,
                    data: q.clone(),
                    reply: frags.clone(),
                },
            ) {
                old.data.close();
            }
            for f in &frags {
                out.push((f.clone(), from.clone()));
            }
            let mut st = stack.clone();
            st.choose(d.server_alt, &mut d.matched.server.iter());
            let negotiated = Negotiated {
                epoch: conn_epoch,
                alternative: d.server_alt,
                layers: d.matched.server.clone(),
                fallbacks: d.fallbacks.clone(),
                zero_rtt: outcome,
            };
            let mut keep: Vec<Rc<dyn Any>> = vec![Rc::new(d.lease)];
            if let Some(r) = reader_of.borrow().upgrade() {
                keep.push(r);
            }
            let base = DataConn::new(
                sock.clone(),
                conn_epoch,
                q,
                pump_of.borrow().upgrade(),
                keep,
            );
            let (inc2, stats2) = (inc.clone(), stats.clone());
            rt2.spawn(async move {
                match st.connect_wrap(base).await {
                    Ok(c) => inc2.push((from, c, negotiated)),
                    Err(_) => bump(&stats2.build_errors),
                }
            });
            out
        };
        move |buf: &[u8], from: S::Addr, recycler: &Recycler| -> Sends<S::Addr> {
            if let (Some((epoch, payload)), Some((a, e, q))) = (data_frame(buf), &last) {
                if *e == epoch && *a == from {
                    q.push((from, recycler.copy_of(payload)));
                    return Vec::new();
                }
            }
            outlined(|| slow(buf, from, recycler, &mut last))
        }
    };
    let pump = Rc::new(Pump::new(sock, Box::new(handler)));
    *pump_cell.borrow_mut() = Rc::downgrade(&pump);
    let reader = pump.background(rt);
    *reader_cell.borrow_mut() = Rc::downgrade(&reader);
    let inc_close = incoming.clone();
    pump.on_close(move || inc_close.close());
    Listener {
        incoming,
        stats,
        _reader: reader,
    }
}
