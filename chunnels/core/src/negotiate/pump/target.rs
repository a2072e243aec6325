//! The waker a [`DatagramSocket::POLL_RECV`] socket keeps for its pump ([`Target`]), and a
//! consumer of such a pump ([`Polled`]).

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Wake, Waker};

use netrt::DatagramSocket;

use super::Pump;

/// The id of the passive consumer in [`Pump::target_id`].
pub(super) const PASSIVE: u64 = 0;

/// Whom a [`Target`] wakes: nobody.
pub(super) const TO_NONE: u8 = 0;
/// Whom a [`Target`] wakes: the active consumer whose waker it holds.
pub(super) const TO_ACTIVE: u8 = 1;
/// Whom a [`Target`] wakes: the passive consumer.
pub(super) const TO_PASSIVE: u8 = 2;

/// A waker, kept where the thread that wakes it may be another than the pump's.
#[derive(Default)]
struct Slot(Mutex<Option<Waker>>);

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Waker>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `w` unless the kept waker wakes the same task.
    fn store(&self, w: &Waker) {
        let mut slot = self.lock();
        if !slot.as_ref().is_some_and(|x| x.will_wake(w)) {
            *slot = Some(w.clone());
        }
    }

    /// Wakes the kept waker by reference, under the lock: no clone to make and drop. A waker
    /// only schedules its task, it does not run it, so it cannot come back to this lock.
    fn wake_by_ref(&self) {
        if let Some(w) = self.lock().as_ref() {
            w.wake_by_ref();
        }
    }
}

/// The waker a [`DatagramSocket::POLL_RECV`] socket keeps for its pump: hands the socket's
/// readiness on to the consumer that should read now.
pub(super) struct Target {
    /// The waker of the active consumer that is the target, if one is.
    active: Slot,
    /// The passive consumer's waker, once it waited.
    passive: Slot,
    /// Which of the two is the target: [`TO_NONE`], [`TO_ACTIVE`] or [`TO_PASSIVE`]. Kept
    /// apart from the wakers so that handing over between an active consumer that comes back
    /// with the same waker and the passive one clones no waker.
    to: AtomicU8,
    /// The socket keeps this waker: the last `poll_recv_from` returned `Pending` and did not
    /// wake it since.
    armed: AtomicBool,
}

impl Target {
    pub(super) fn new() -> Self {
        Target {
            active: Slot::default(),
            passive: Slot::default(),
            to: AtomicU8::new(TO_NONE),
            armed: AtomicBool::new(false),
        }
    }

    #[inline]
    pub(super) fn armed(&self) -> bool {
        self.armed.load(Ordering::Relaxed)
    }

    #[inline]
    pub(super) fn set_armed(&self, armed: bool) {
        self.armed.store(armed, Ordering::Relaxed);
    }

    #[inline]
    pub(super) fn point(&self, to: u8) {
        self.to.store(to, Ordering::Relaxed);
    }

    /// Keeps `w` as the active consumer's waker.
    pub(super) fn set_active(&self, w: Waker) {
        *self.active.lock() = Some(w);
    }

    /// Keeps `w` as the passive consumer's waker (unless it is that already).
    pub(super) fn store_passive(&self, w: &Waker) {
        self.passive.store(w);
    }

    /// The passive consumer's waker, if it waited.
    pub(super) fn passive(&self) -> Option<Waker> {
        self.passive.lock().clone()
    }

    /// Wakes the target.
    pub(super) fn wake_target(&self) {
        match self.to.load(Ordering::Relaxed) {
            TO_ACTIVE => self.active.wake_by_ref(),
            TO_PASSIVE => self.passive.wake_by_ref(),
            _ => {}
        }
    }
}

impl Wake for Target {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.set_armed(false);
        self.wake_target();
    }
}

/// A consumer of a [`DatagramSocket::POLL_RECV`] pump, leaving when dropped.
pub(super) struct Polled<'a, S: DatagramSocket> {
    pub(super) pump: &'a Pump<S>,
    pub(super) id: u64,
}

impl<S: DatagramSocket> Drop for Polled<'_, S> {
    #[inline]
    fn drop(&mut self) {
        let p = self.pump;
        if p.target_id.get() == Some(self.id)
            && self.id != PASSIVE
            && p.active_waiting.get() == 1
            && p.parked.borrow().is_empty()
        {
            // The common case: the only active consumer leaves; the passive one reads next.
            p.active_waiting.set(0);
            p.target.point(TO_PASSIVE);
            p.target_id.set(Some(PASSIVE));
            if !p.target.armed() {
                p.target.wake_target();
            }
            return;
        }
        self.leave();
    }
}

impl<S: DatagramSocket> Polled<'_, S> {
    /// [`Polled`]'s drop in every case but the common one it handles itself.
    #[inline(never)]
    fn leave(&self) {
        let p = self.pump;
        let target = p.target_id.get();
        if self.id != PASSIVE {
            p.active_waiting.set(p.active_waiting.get() - 1);
            if target != Some(self.id) {
                let mut parked = p.parked.borrow_mut();
                if !parked.is_empty() {
                    parked.retain(|(id, _)| *id != self.id);
                }
            }
        }
        if target.is_some_and(|t| t != self.id) {
            // Someone else is the target (with no target, whoever leaves names the next).
            return;
        }
        // Whom readiness wakes now: the active consumer that was the target last, or else
        // the passive one, unless an active one waits that has not polled yet (it sends what
        // the handler asked, and reads when it is done).
        let t = &p.target;
        let next = p.parked.borrow_mut().pop();
        match next {
            Some((id, w)) => {
                p.store_active(&w);
                t.point(TO_ACTIVE);
                p.target_id.set(Some(id));
            }
            None if p.active_waiting.get() == 0 => {
                t.point(TO_PASSIVE);
                p.target_id.set(Some(PASSIVE));
            }
            None => {
                t.point(TO_NONE);
                p.target_id.set(None);
            }
        }
        if !t.armed() {
            // The socket no longer keeps the pump's waker: the next reader must poll it.
            t.wake_target();
        }
    }
}
