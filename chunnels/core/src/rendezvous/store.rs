//! The store behind rendezvous negotiation: the [`Store`] trait (versioned reads and
//! conditional multi-key commits, i.e. serializable transactions by optimistic concurrency,
//! and the store's own clock), and [`MemStore`], the in-memory store used in simulation.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::rc::Rc;

use netrt::Runtime;

/// Store failures.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store answered something unexpected.
    #[error("store protocol: {0}")]
    Protocol(String),
}

/// Values of some keys as read at one instant, with their versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The keys read.
    pub keys: Vec<String>,
    /// Their values (`None`: absent).
    pub values: Vec<Option<Vec<u8>>>,
    /// Their versions (0: never written).
    pub versions: Vec<u64>,
}

/// A key-value store with serializable multi-key transactions.
///
/// A transaction reads keys ([`Store::read`]) and commits writes conditionally
/// ([`Store::commit`]): the commit applies all writes atomically iff none of the read keys
/// changed since the read, else it applies nothing and returns `false` (the caller reads again
/// and retries). Every write bumps the key's version.
pub trait Store {
    /// Reads `keys` atomically.
    fn read(&self, keys: &[String]) -> impl Future<Output = Result<Snapshot, StoreError>>;

    /// Applies `writes` (`None` deletes) iff every key of `read` still has the version read.
    fn commit(
        &self,
        read: &Snapshot,
        writes: Vec<(String, Option<Vec<u8>>)>,
    ) -> impl Future<Output = Result<bool, StoreError>>;

    /// The store's clock in milliseconds: membership expiry is judged by it, so peers need
    /// not have synchronized clocks.
    fn clock_ms(&self) -> impl Future<Output = Result<u64, StoreError>>;
}

/// Each key's version and value (`None`: deleted, a tombstone that keeps the version).
type Versioned = BTreeMap<String, (u64, Option<Vec<u8>>)>;

/// An in-memory store on a runtime's clock, shared by clones (the simulation's store). Can be
/// taken down and brought back to test store failures.
#[derive(Clone)]
pub struct MemStore<R> {
    rt: R,
    map: Rc<RefCell<Versioned>>,
    down: Rc<Cell<bool>>,
    commits: Rc<Cell<u64>>,
    conflicts: Rc<Cell<u64>>,
    latency: netrt::Duration,
}

impl<R: Runtime> MemStore<R> {
    /// An empty store on `rt`'s clock.
    pub fn new(rt: R) -> Self {
        MemStore {
            rt,
            map: Rc::default(),
            down: Rc::default(),
            commits: Rc::default(),
            conflicts: Rc::default(),
            latency: netrt::Duration::ZERO,
        }
    }

    /// Every operation takes `rtt` of the runtime's time before it applies (a store on another
    /// host: one request/response round trip per operation). The operation applies at the end
    /// of the wait, atomically.
    pub fn with_latency(mut self, rtt: netrt::Duration) -> Self {
        self.latency = rtt;
        self
    }

    async fn round_trip(&self) {
        if !self.latency.is_zero() {
            self.rt.sleep(self.latency).await;
        }
    }

    /// Takes the store down (`true`: every call fails) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.down.set(down);
    }

    /// Commits applied and refused for conflicts.
    pub fn counts(&self) -> (u64, u64) {
        (self.commits.get(), self.conflicts.get())
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.down.get() {
            Err(StoreError::Unavailable(
                "the in-memory store is down".into(),
            ))
        } else {
            Ok(())
        }
    }
}

impl<R: Runtime> Store for MemStore<R> {
    async fn read(&self, keys: &[String]) -> Result<Snapshot, StoreError> {
        self.round_trip().await;
        self.check()?;
        let m = self.map.borrow();
        let (values, versions) = keys
            .iter()
            .map(|k| match m.get(k) {
                Some((v, b)) => (b.clone(), *v),
                None => (None, 0),
            })
            .unzip();
        Ok(Snapshot {
            keys: keys.to_vec(),
            values,
            versions,
        })
    }

    async fn commit(
        &self,
        read: &Snapshot,
        writes: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<bool, StoreError> {
        self.round_trip().await;
        self.check()?;
        let mut m = self.map.borrow_mut();
        let unchanged = read
            .keys
            .iter()
            .zip(&read.versions)
            .all(|(k, v)| m.get(k).map_or(0, |e| e.0) == *v);
        if !unchanged {
            self.conflicts.set(self.conflicts.get() + 1);
            return Ok(false);
        }
        for (k, v) in writes {
            // A deleted key keeps its version count (a tombstone), so a stale read of it
            // still conflicts.
            let ver = m.get(&k).map_or(0, |e| e.0) + 1;
            m.insert(k, (ver, v));
        }
        self.commits.set(self.commits.get() + 1);
        Ok(true)
    }

    async fn clock_ms(&self) -> Result<u64, StoreError> {
        self.round_trip().await;
        self.check()?;
        Ok(self.rt.now().as_nanos() / 1_000_000)
    }
}
