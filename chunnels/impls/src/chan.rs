//! An in-process datagram network: the base connection the Chunnels are unit-tested over.
//!
//! A [`ChanNet`] holds one mailbox per endpoint address ([`ChanAddr`], a `u32`); a
//! [`ChanConn`] carries `(ChanAddr, Vec<u8>)`, like a datagram socket: `send((to, bytes))`
//! puts the bytes in `to`'s mailbox (an unknown address drops them, as UDP would) and `recv`
//! returns `(from, bytes)`. Delivery is immediate; no runtime is needed.
//!
//! [`Faults`] injects loss, duplication and reordering, decided by a ChaCha stream seeded by
//! [`Faults::seed`], so a run is reproducible. Reordering holds a datagram back and delivers
//! it after the next one to the same destination (a swap of neighbours); a held datagram
//! with no later send to its destination stays held until [`ChanNet::release_held`].

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use chunnel::queue::Queue;
use chunnel::{ChunnelConnection, Error};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// An endpoint address on a [`ChanNet`].
pub type ChanAddr = u32;

/// Fault probabilities, each per datagram in `[0, 1]`, and the seed of their random stream.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Faults {
    /// Probability that a datagram is dropped.
    pub loss: f64,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability that a datagram is held back and delivered after the next one.
    pub reorder: f64,
    /// Seed of the fault decisions.
    pub seed: u64,
}

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Faults::default()
    }
}

/// What a [`ChanNet`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChanStats {
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams dropped by [`Faults::loss`] or sent to an unknown address.
    pub dropped: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Datagrams held back and delivered after a later one.
    pub reordered: u64,
}

/// An endpoint's incoming datagrams.
type Mailbox = Queue<(ChanAddr, Vec<u8>)>;

struct Net {
    faults: Faults,
    rng: ChaCha8Rng,
    /// Per address: the endpoint's id and its mailbox.
    boxes: BTreeMap<ChanAddr, (u64, Mailbox)>,
    next_id: u64,
    held: BTreeMap<ChanAddr, (ChanAddr, Vec<u8>)>,
    stats: ChanStats,
}

/// An in-process datagram network. Cheap to clone (shared).
#[derive(Clone)]
pub struct ChanNet {
    net: Rc<RefCell<Net>>,
}

impl std::fmt::Debug for ChanNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.net.borrow();
        f.debug_struct("ChanNet")
            .field("faults", &n.faults)
            .field("endpoints", &n.boxes.len())
            .field("stats", &n.stats)
            .finish()
    }
}

impl ChanNet {
    /// A network with `faults`.
    pub fn new(faults: Faults) -> Self {
        ChanNet {
            net: Rc::new(RefCell::new(Net {
                faults,
                rng: ChaCha8Rng::seed_from_u64(faults.seed),
                boxes: BTreeMap::new(),
                next_id: 0,
                held: BTreeMap::new(),
                stats: ChanStats::default(),
            })),
        }
    }

    /// Opens the endpoint `addr` (replacing an open one, whose receivers then see
    /// [`Error::Closed`]).
    pub fn endpoint(&self, addr: ChanAddr) -> ChanConn {
        let q = Queue::new();
        let id = {
            let mut n = self.net.borrow_mut();
            n.next_id += 1;
            let id = n.next_id;
            if let Some((_, old)) = n.boxes.insert(addr, (id, q.clone())) {
                old.close();
            }
            id
        };
        ChanConn {
            net: self.clone(),
            addr,
            id,
            rx: q,
        }
    }

    /// What the network did so far.
    pub fn stats(&self) -> ChanStats {
        self.net.borrow().stats
    }

    /// Changes the faults from now on (the random stream goes on).
    pub fn set_faults(&self, faults: Faults) {
        self.net.borrow_mut().faults = faults;
    }

    /// Delivers every datagram held back for reordering.
    pub fn release_held(&self) {
        let held = std::mem::take(&mut self.net.borrow_mut().held);
        for (to, (from, b)) in held {
            self.put(to, from, b);
        }
    }

    fn put(&self, to: ChanAddr, from: ChanAddr, bytes: Vec<u8>) {
        let q = self.net.borrow().boxes.get(&to).map(|(_, q)| q.clone());
        match q {
            Some(q) => q.push((from, bytes)),
            None => self.net.borrow_mut().stats.dropped += 1,
        }
    }

    fn deliver(&self, from: ChanAddr, to: ChanAddr, bytes: Vec<u8>) {
        let (lost, dup, hold, released) = {
            let mut n = self.net.borrow_mut();
            n.stats.sent += 1;
            let f = n.faults;
            let lost = f.loss > 0.0 && n.rng.random_bool(f.loss.min(1.0));
            let dup = !lost && f.duplicate > 0.0 && n.rng.random_bool(f.duplicate.min(1.0));
            let released = n.held.remove(&to);
            let hold = !lost
                && released.is_none()
                && f.reorder > 0.0
                && n.rng.random_bool(f.reorder.min(1.0));
            if lost {
                n.stats.dropped += 1;
            }
            if dup {
                n.stats.duplicated += 1;
            }
            if hold {
                n.stats.reordered += 1;
            }
            (lost, dup, hold, released)
        };
        if hold {
            self.net.borrow_mut().held.insert(to, (from, bytes));
            return;
        }
        if !lost {
            if dup {
                self.put(to, from, bytes.clone());
            }
            self.put(to, from, bytes);
        }
        if let Some((f, b)) = released {
            self.put(to, f, b);
        }
    }
}

/// One endpoint of a [`ChanNet`]: carries `(peer address, bytes)`.
pub struct ChanConn {
    net: ChanNet,
    addr: ChanAddr,
    id: u64,
    rx: Queue<(ChanAddr, Vec<u8>)>,
}

impl std::fmt::Debug for ChanConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChanConn")
            .field("addr", &self.addr)
            .finish()
    }
}

impl ChanConn {
    /// This endpoint's address.
    pub fn addr(&self) -> ChanAddr {
        self.addr
    }

    /// The network it is on.
    pub fn net(&self) -> &ChanNet {
        &self.net
    }
}

impl Drop for ChanConn {
    fn drop(&mut self) {
        let mut n = self.net.net.borrow_mut();
        // Only remove the mailbox if it is still this endpoint's.
        if n.boxes
            .get(&self.addr)
            .is_some_and(|(id, _)| *id == self.id)
        {
            n.boxes.remove(&self.addr);
        }
        self.rx.close();
    }
}

impl ChunnelConnection for ChanConn {
    type Data = (ChanAddr, Vec<u8>);

    async fn send(&self, (to, bytes): Self::Data) -> Result<(), Error> {
        self.net.deliver(self.addr, to, bytes);
        Ok(())
    }

    async fn recv(&self) -> Result<Self::Data, Error> {
        self.rx.pop().await.ok_or(Error::Closed)
    }

    async fn recv_batch(&self, max: usize) -> Result<Vec<Self::Data>, Error> {
        let first = self.rx.pop().await.ok_or(Error::Closed)?;
        let mut out = vec![first];
        self.rx.drain_up_to(max.max(1) - 1, &mut out);
        Ok(out)
    }
}

/// Two connected endpoints, addresses 1 and 2, on a network with `faults`.
pub fn pair(faults: Faults) -> (ChanConn, ChanConn) {
    let net = ChanNet::new(faults);
    (net.endpoint(1), net.endpoint(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block<F: std::future::Future + 'static>(f: F) -> F::Output
    where
        F::Output: 'static,
    {
        crate::util::testrt::run(|_| f)
    }

    #[test]
    fn delivers_with_sender_address_and_drops_unknown() {
        let (a, b) = pair(Faults::none());
        let out = block(async move {
            a.send((2, b"hi".to_vec())).await.unwrap();
            a.send((9, b"lost".to_vec())).await.unwrap();
            let got = b.recv().await.unwrap();
            (got, a.net().stats())
        });
        assert_eq!(out.0, (1, b"hi".to_vec()));
        assert_eq!(out.1.dropped, 1);
    }

    #[test]
    fn faults_are_deterministic_for_a_seed() {
        let run = |seed| {
            let f = Faults {
                loss: 0.2,
                duplicate: 0.1,
                reorder: 0.1,
                seed,
            };
            let (a, b) = pair(f);
            block(async move {
                for i in 0..200u8 {
                    a.send((2, vec![i])).await.unwrap();
                }
                a.net().release_held();
                let mut got = Vec::new();
                while let Some((_, v)) = b.rx.try_pop() {
                    got.push(v[0]);
                }
                (got, a.net().stats())
            })
        };
        let (g1, s1) = run(7);
        let (g2, s2) = run(7);
        assert_eq!(g1, g2);
        assert_eq!(s1, s2);
        assert!(
            s1.dropped > 10 && s1.duplicated > 5 && s1.reordered > 5,
            "{s1:?}"
        );
        assert!(g1.windows(2).any(|w| w[0] > w[1]), "some reordering");
        let (g3, _) = run(8);
        assert_ne!(g1, g3);
    }
}
