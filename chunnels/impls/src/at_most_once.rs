//! At-most-once delivery: duplicates are dropped.
//!
//! Carries `(A, Vec<u8>)` over `(A, Vec<u8>)`. The sender numbers messages per destination
//! (from 0); the receiver remembers, per peer, the numbers seen within a window of the
//! highest one ([`AtMostOnceChunnel::with_window`], default 4,096) and drops a number seen
//! before or older than the window (which may have been seen: at most once means dropping
//! is always safe). Messages are delivered as they come, in any order; nothing is
//! retransmitted.
//!
//! Wire format: `seq: u64` little-endian, then the payload; shorter datagrams are dropped
//! and counted. Capability: [`Compat::Exact`], label `at-most-once/1`.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use chunnel::{Chunnel, ChunnelConnection, Compat, Error, Negotiate, Offer};

use crate::util::read_u64;

/// The Chunnel type name.
pub const CHUNNEL: &str = "at-most-once";

/// The at-most-once Chunnel (host fallback).
#[derive(Clone, Copy, Debug)]
pub struct AtMostOnceChunnel {
    window: u64,
}

impl Default for AtMostOnceChunnel {
    fn default() -> Self {
        AtMostOnceChunnel { window: 4096 }
    }
}

impl AtMostOnceChunnel {
    /// At-most-once delivery with a window of 4,096 sequence numbers per peer.
    pub fn new() -> Self {
        Self::default()
    }

    /// At-most-once delivery with a window of `window` sequence numbers (at least 1).
    pub fn with_window(window: u64) -> Self {
        AtMostOnceChunnel {
            window: window.max(1),
        }
    }
}

impl Negotiate for AtMostOnceChunnel {
    fn capability(&self) -> Offer {
        Offer::new(CHUNNEL, "host", Compat::Exact).label("at-most-once/1")
    }
}

impl<A, InC> Chunnel<InC> for AtMostOnceChunnel
where
    InC: ChunnelConnection<Data = (A, Vec<u8>)>,
    A: Ord + Clone,
{
    type Connection = AtMostOnceConn<InC, A>;

    async fn connect_wrap(&mut self, inner: InC) -> Result<Self::Connection, Error> {
        Ok(AtMostOnceConn {
            inner,
            window: self.window,
            state: RefCell::new(State {
                send_seq: BTreeMap::new(),
                seen: BTreeMap::new(),
                dropped: 0,
            }),
        })
    }
}

#[derive(Default)]
struct Seen {
    /// One past the highest number seen.
    high: u64,
    /// Numbers seen in `[high - window, high)`.
    set: BTreeSet<u64>,
}

struct State<A> {
    send_seq: BTreeMap<A, u64>,
    seen: BTreeMap<A, Seen>,
    dropped: u64,
}

/// An at-most-once connection (see the module documentation).
pub struct AtMostOnceConn<C, A> {
    inner: C,
    window: u64,
    state: RefCell<State<A>>,
}

impl<C, A> AtMostOnceConn<C, A> {
    /// Duplicates (and malformed datagrams) dropped.
    pub fn dropped(&self) -> u64 {
        self.state.borrow().dropped
    }
}

impl<C, A: Ord + Clone> AtMostOnceConn<C, A> {
    fn frame(&self, to: &A, payload: &[u8]) -> Vec<u8> {
        let mut st = self.state.borrow_mut();
        let seq = st.send_seq.entry(to.clone()).or_insert(0);
        let mut f = Vec::with_capacity(8 + payload.len());
        f.extend_from_slice(&seq.to_le_bytes());
        f.extend_from_slice(payload);
        *seq += 1;
        f
    }

    /// The payload if the datagram is new.
    fn accept(&self, from: &A, mut b: Vec<u8>) -> Option<Vec<u8>> {
        let mut st = self.state.borrow_mut();
        let Some(seq) = read_u64(&b, 0) else {
            st.dropped += 1;
            return None;
        };
        let s = st.seen.entry(from.clone()).or_default();
        let floor = s.high.saturating_sub(self.window);
        if seq < floor || s.set.contains(&seq) {
            st.dropped += 1;
            return None;
        }
        s.set.insert(seq);
        if seq >= s.high {
            s.high = seq + 1;
            let floor = s.high.saturating_sub(self.window);
            s.set = s.set.split_off(&floor);
        }
        b.drain(..8);
        Some(b)
    }
}

impl<C, A> ChunnelConnection for AtMostOnceConn<C, A>
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
            let (from, b) = self.inner.recv().await?;
            if let Some(p) = self.accept(&from, b) {
                return Ok((from, p));
            }
        }
    }

    async fn recv_batch(&self, max: usize) -> Result<Vec<(A, Vec<u8>)>, Error> {
        loop {
            let got = self.inner.recv_batch(max).await?;
            let out: Vec<_> = got
                .into_iter()
                .filter_map(|(from, b)| self.accept(&from, b).map(|p| (from, p)))
                .collect();
            if !out.is_empty() {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chan::{pair, Faults};
    use crate::util::testrt::run;
    use netrt::{Duration, Runtime};

    #[test]
    fn duplicates_are_dropped_and_the_rest_delivered_once() {
        let f = Faults {
            duplicate: 0.5,
            reorder: 0.2,
            seed: 1,
            ..Faults::default()
        };
        let (a, b) = pair(f);
        let (got, dropped) = run(move |rt| async move {
            let ca = AtMostOnceChunnel::new().connect_wrap(a).await.unwrap();
            let cb = AtMostOnceChunnel::new().connect_wrap(b).await.unwrap();
            for i in 0..300u16 {
                ca.send((2, i.to_le_bytes().to_vec())).await.unwrap();
            }
            ca.inner.net().release_held();
            let mut got = Vec::new();
            while let Ok(r) = rt
                .timeout(Duration::from_millis(1), cb.recv_batch(32))
                .await
            {
                got.extend(
                    r.unwrap()
                        .into_iter()
                        .map(|(_, v)| u16::from_le_bytes([v[0], v[1]])),
                );
            }
            (got, cb.dropped())
        });
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(sorted, (0..300).collect::<Vec<u16>>());
        assert!(dropped > 100, "{dropped}");
    }

    #[test]
    fn numbers_older_than_the_window_are_dropped() {
        let (a, b) = pair(Faults::none());
        let got = run(move |rt| async move {
            let cb = AtMostOnceChunnel::with_window(2)
                .connect_wrap(b)
                .await
                .unwrap();
            for seq in [5u64, 5, 3, 4, 6, 1] {
                let mut f = seq.to_le_bytes().to_vec();
                f.push(seq as u8);
                a.send((2, f)).await.unwrap();
            }
            a.send((2, vec![1, 2])).await.unwrap(); // malformed
            let mut got = Vec::new();
            while let Ok(r) = rt.timeout(Duration::from_millis(1), cb.recv()).await {
                got.push(r.unwrap().1[0]);
            }
            (got, cb.dropped())
        });
        // 5 new; 5 duplicate; 3 below the window [4, 6); 4 new; 6 new; 1 too old; garbage.
        assert_eq!(got, (vec![5, 4, 6], 4));
    }
}
