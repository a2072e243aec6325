//! Ordering: per-peer in-order delivery.
//!
//! Carries `(A, Vec<u8>)` over `(A, Vec<u8>)`. The sender numbers messages per destination
//! (from 0); the receiver delivers a peer's messages in that order, holding early ones in a
//! reorder buffer, and drops duplicates (numbers already delivered).
//!
//! Over an unreliable connection a lost message would stall its peer forever, so the buffer
//! is bounded ([`OrderedChunnel::with_buffer`], default 1,024 messages per peer): when it is
//! full, the receiver gives up on the gap and delivers from the lowest number it holds —
//! still in order, with a gap. Stack it over `reliable` (`stack![ordered, reliable]`) for
//! in-order delivery of every message.
//!
//! Wire format: `seq: u64` little-endian, then the payload. A datagram shorter than 8 bytes
//! is dropped and counted. Capability: [`Compat::Exact`], label `ordered/1`.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};

use chunnel::{Chunnel, ChunnelConnection, Compat, Error, Negotiate, Offer};

use crate::util::read_u64;

/// The Chunnel type name.
pub const CHUNNEL: &str = "ordered";

/// The ordering Chunnel (host fallback).
#[derive(Clone, Copy, Debug)]
pub struct OrderedChunnel {
    buffer: usize,
}

impl Default for OrderedChunnel {
    fn default() -> Self {
        OrderedChunnel { buffer: 1024 }
    }
}

impl OrderedChunnel {
    /// Ordering with a reorder buffer of 1,024 messages per peer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ordering with a reorder buffer of `buffer` messages per peer (at least 1).
    pub fn with_buffer(buffer: usize) -> Self {
        OrderedChunnel {
            buffer: buffer.max(1),
        }
    }
}

impl Negotiate for OrderedChunnel {
    fn capability(&self) -> Offer {
        Offer::new(CHUNNEL, "host", Compat::Exact).label("ordered/1")
    }
}

impl<A, InC> Chunnel<InC> for OrderedChunnel
where
    InC: ChunnelConnection<Data = (A, Vec<u8>)>,
    A: Ord + Clone,
{
    type Connection = OrderedConn<InC, A>;

    async fn connect_wrap(&mut self, inner: InC) -> Result<Self::Connection, Error> {
        Ok(OrderedConn {
            inner,
            buffer: self.buffer,
            state: RefCell::new(State {
                send_seq: BTreeMap::new(),
                recv: BTreeMap::new(),
                ready: VecDeque::new(),
                stats: OrderedStats::default(),
            }),
        })
    }
}

/// Counters of an ordered connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrderedStats {
    /// Messages that arrived ahead of a gap and waited in the buffer.
    pub buffered: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Messages given up on (gaps skipped because the buffer was full).
    pub skipped: u64,
    /// Malformed datagrams dropped.
    pub malformed: u64,
}

#[derive(Default)]
struct RecvPeer {
    next: u64,
    held: BTreeMap<u64, Vec<u8>>,
}

struct State<A> {
    send_seq: BTreeMap<A, u64>,
    recv: BTreeMap<A, RecvPeer>,
    ready: VecDeque<(A, Vec<u8>)>,
    stats: OrderedStats,
}

/// An ordered connection (see the module documentation).
pub struct OrderedConn<C, A> {
    inner: C,
    buffer: usize,
    state: RefCell<State<A>>,
}

impl<C, A> OrderedConn<C, A> {
    /// The connection's counters.
    pub fn stats(&self) -> OrderedStats {
        self.state.borrow().stats
    }

    /// The connection under it.
    pub fn inner(&self) -> &C {
        &self.inner
    }
}

impl<C, A: Ord + Clone> OrderedConn<C, A> {
    fn frame(&self, to: &A, payload: &[u8]) -> Vec<u8> {
        let mut st = self.state.borrow_mut();
        let seq = st.send_seq.entry(to.clone()).or_insert(0);
        let mut f = Vec::with_capacity(8 + payload.len());
        f.extend_from_slice(&seq.to_le_bytes());
        f.extend_from_slice(payload);
        *seq += 1;
        f
    }

    fn arrive(&self, from: A, b: Vec<u8>) {
        let mut st = self.state.borrow_mut();
        let Some(seq) = read_u64(&b, 0) else {
            st.stats.malformed += 1;
            return;
        };
        let State {
            recv, ready, stats, ..
        } = &mut *st;
        let p = recv.entry(from.clone()).or_default();
        if seq < p.next || p.held.contains_key(&seq) {
            stats.duplicates += 1;
            return;
        }
        let mut payload = b;
        payload.drain(..8);
        if seq > p.next {
            stats.buffered += 1;
            p.held.insert(seq, payload);
            if p.held.len() <= self.buffer {
                return;
            }
            // Full: give up on the gap.
            let first = *p.held.keys().next().expect("not empty");
            stats.skipped += first - p.next;
            p.next = first;
        } else {
            ready.push_back((from.clone(), payload));
            p.next += 1;
        }
        while let Some(m) = p.held.remove(&p.next) {
            ready.push_back((from.clone(), m));
            p.next += 1;
        }
    }
}

impl<C, A> ChunnelConnection for OrderedConn<C, A>
where
    C: ChunnelConnection<Data = (A, Vec<u8>)>,
    A: Ord + Clone,
{
    type Data = (A, Vec<u8>);

    async fn send(&self, (to, payload): (A, Vec<u8>)) -> Result<(), Error> {
        let f = self.frame(&to, &payload);
        self.inner.send((to, f)).await
    }

    async fn send_batch(&self, batch: Vec<(A, Vec<u8>)>) -> Result<(), Error> {
        let framed = batch
            .into_iter()
            .map(|(to, p)| {
                let f = self.frame(&to, &p);
                (to, f)
            })
            .collect();
        self.inner.send_batch(framed).await
    }

    async fn recv(&self) -> Result<(A, Vec<u8>), Error> {
        loop {
            if let Some(x) = self.state.borrow_mut().ready.pop_front() {
                return Ok(x);
            }
            for (from, b) in self.inner.recv_batch(64).await? {
                self.arrive(from, b);
            }
        }
    }

    async fn recv_batch(&self, max: usize) -> Result<Vec<(A, Vec<u8>)>, Error> {
        let first = self.recv().await?;
        let mut out = vec![first];
        let mut st = self.state.borrow_mut();
        while out.len() < max.max(1) {
            match st.ready.pop_front() {
                Some(x) => out.push(x),
                None => break,
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chan::{pair, Faults};
    use crate::reliable::ReliableChunnel;
    use crate::util::testrt::run;
    use chunnel::stack;
    use netrt::{Duration, Runtime};

    #[test]
    fn reorders_and_drops_duplicates() {
        let f = Faults {
            duplicate: 0.2,
            reorder: 0.3,
            seed: 3,
            ..Faults::default()
        };
        let (a, b) = pair(f);
        let (got, stats) = run(move |_| async move {
            let ca = OrderedChunnel::new().connect_wrap(a).await.unwrap();
            let cb = OrderedChunnel::new().connect_wrap(b).await.unwrap();
            for i in 0..200u8 {
                ca.send((2, vec![i])).await.unwrap();
            }
            ca.inner().net().release_held();
            let mut got = Vec::new();
            while got.len() < 200 {
                got.extend(cb.recv_batch(16).await.unwrap().into_iter().map(|x| x.1[0]));
            }
            (got, cb.stats())
        });
        assert_eq!(got, (0..200).collect::<Vec<u8>>());
        assert!(stats.buffered > 10 && stats.duplicates > 10, "{stats:?}");
    }

    #[test]
    fn a_full_buffer_skips_the_gap_in_order() {
        let (a, b) = pair(Faults {
            loss: 0.1,
            seed: 5,
            ..Faults::default()
        });
        let (got, stats) = run(move |rt| async move {
            let ca = OrderedChunnel::new().connect_wrap(a).await.unwrap();
            let cb = OrderedChunnel::with_buffer(4)
                .connect_wrap(b)
                .await
                .unwrap();
            for i in 0..100u8 {
                ca.send((2, vec![i])).await.unwrap();
            }
            let mut got = Vec::new();
            // Receive what arrives: everything but the losses near the end.
            while let Ok(Ok(x)) = rt.timeout(Duration::from_millis(1), cb.recv()).await {
                got.push(x.1[0]);
            }
            (got, cb.stats())
        });
        assert!(got.windows(2).all(|w| w[0] < w[1]), "in order: {got:?}");
        assert!(
            stats.skipped > 0 && got.len() > 80,
            "{stats:?} {}",
            got.len()
        );
    }

    #[test]
    fn ordered_over_reliable_delivers_everything_in_order_under_loss() {
        let f = Faults {
            loss: 0.2,
            duplicate: 0.05,
            reorder: 0.2,
            seed: 11,
        };
        let (a, b) = pair(f);
        let got = run(move |rt| async move {
            let ca = stack![OrderedChunnel::new(), ReliableChunnel::new(rt.clone())]
                .connect_wrap(a)
                .await
                .unwrap();
            let cb = stack![OrderedChunnel::new(), ReliableChunnel::new(rt.clone())]
                .connect_wrap(b)
                .await
                .unwrap();
            for i in 0..500u32 {
                ca.send((2, i.to_le_bytes().to_vec())).await.unwrap();
            }
            let mut got = Vec::new();
            while got.len() < 500 {
                let (_, v) = cb.recv().await.unwrap();
                got.push(u32::from_le_bytes(v.try_into().unwrap()));
            }
            got
        });
        assert_eq!(got, (0..500).collect::<Vec<u32>>());
    }
}
