//! Small single-threaded helpers shared by the Chunnels: a broadcast [`Signal`], an async
//! [`SendLock`] and a task guard ([`AbortOnDrop`]).

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use netrt::JoinHandle;

/// Aborts a spawned task when dropped.
pub(crate) struct AbortOnDrop(pub(crate) JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Default)]
struct SignalInner {
    generation: u64,
    waiters: Vec<Waker>,
}

/// Wakes every waiter on [`Signal::notify`]. A waiter registered at its first poll sees every
/// notification after it: check the condition, then `wait().await`, with no await between.
#[derive(Clone, Default)]
pub(crate) struct Signal(Rc<RefCell<SignalInner>>);

impl Signal {
    /// Wakes every current waiter.
    pub(crate) fn notify(&self) {
        let waiters = {
            let mut i = self.0.borrow_mut();
            i.generation = i.generation.wrapping_add(1);
            std::mem::take(&mut i.waiters)
        };
        for w in waiters {
            w.wake();
        }
    }

    /// Waits for the next [`Signal::notify`].
    pub(crate) async fn wait(&self) {
        let mut start = None;
        poll_fn(|cx| {
            let mut i = self.0.borrow_mut();
            let g = *start.get_or_insert(i.generation);
            if i.generation != g {
                return Poll::Ready(());
            }
            if !i.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                i.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

/// An async mutual-exclusion flag: keeps the sends of concurrent tasks from interleaving
/// inside a batch.
#[derive(Default)]
pub(crate) struct SendLock {
    held: Cell<bool>,
    released: Signal,
}

/// Releases a [`SendLock`] when dropped.
pub(crate) struct SendGuard<'a>(&'a SendLock);

impl Drop for SendGuard<'_> {
    fn drop(&mut self) {
        self.0.held.set(false);
        self.0.released.notify();
    }
}

impl SendLock {
    /// Waits until the lock is free and takes it.
    pub(crate) async fn lock(&self) -> SendGuard<'_> {
        loop {
            if !self.held.get() {
                self.held.set(true);
                return SendGuard(self);
            }
            self.released.wait().await;
        }
    }
}

/// Reads a little-endian `u64` at `off`, if the bytes are there.
pub(crate) fn read_u64(b: &[u8], off: usize) -> Option<u64> {
    let s = b.get(off..off.checked_add(8)?)?;
    Some(u64::from_le_bytes(s.try_into().ok()?))
}

/// Reads a little-endian `u32` at `off`, if the bytes are there.
pub(crate) fn read_u32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

/// Reads a little-endian `u16` at `off`, if the bytes are there.
pub(crate) fn read_u16(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes(s.try_into().ok()?))
}

#[cfg(test)]
pub(crate) mod testrt {
    //! A simulated runtime for unit tests: virtual time, deterministic.
    use netmodels::network::NetworkOptions;
    use netmodels::topology::LinkParams;
    use netmodels::{Network, SimRuntime, TopologyConfig};
    use sim_core::{RngStreams, Simulation};

    /// A two-host simulation and the runtime of host 0.
    pub(crate) fn sim() -> (Simulation<Network>, SimRuntime) {
        let topo = TopologyConfig::Star {
            senders: 1,
            link: LinkParams::fixed(1_000_000_000, 10.0, 100),
            receiver_link: None,
        }
        .build()
        .expect("topology");
        let net =
            Network::new(topo, NetworkOptions::default(), &RngStreams::new(1)).expect("network");
        let sim = Simulation::new(net);
        let rt = sim.model().runtime(sim.handle(), 0).expect("host 0");
        (sim, rt)
    }

    /// Runs `fut` on a fresh simulation, giving it host 0's runtime.
    pub(crate) fn run<F, Fut>(f: F) -> Fut::Output
    where
        F: FnOnce(SimRuntime) -> Fut,
        Fut: std::future::Future + 'static,
        Fut::Output: 'static,
    {
        let (mut sim, rt) = sim();
        sim.block_on(f(rt)).expect("the test future finishes")
    }
}
