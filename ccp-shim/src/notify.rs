//! A single-threaded wake-up flag for one waiting task (the runtimes here are single-threaded,
//! so no atomics or locks are needed).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Wakes one task that waits in [`Notify::notified`]. A notification sent while nobody waits
/// is kept, so the next wait returns at once (no lost wake-ups).
#[derive(Default, Debug)]
pub struct Notify {
    pending: Cell<bool>,
    waiter: RefCell<Option<Waker>>,
}

impl Notify {
    /// Sets the flag and wakes the waiting task, if any.
    pub fn notify(&self) {
        self.pending.set(true);
        if let Some(w) = self.waiter.borrow_mut().take() {
            w.wake();
        }
    }

    /// Completes once a notification arrived (consuming it).
    pub fn notified(&self) -> Notified<'_> {
        Notified { n: self }
    }
}

/// The future of [`Notify::notified`].
#[derive(Debug)]
pub struct Notified<'a> {
    n: &'a Notify,
}

impl Future for Notified<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.n.pending.replace(false) {
            return Poll::Ready(());
        }
        *self.n.waiter.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn a_notification_before_the_wait_is_kept_and_one_during_it_wakes() {
        let n = Notify::default();
        let flag = Arc::new(Flag(false.into()));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        n.notify();
        let mut f = Box::pin(n.notified());
        assert!(f.as_mut().poll(&mut cx).is_ready());
        let mut g = Box::pin(n.notified());
        assert!(g.as_mut().poll(&mut cx).is_pending());
        assert!(!flag.0.load(std::sync::atomic::Ordering::SeqCst));
        n.notify();
        assert!(flag.0.load(std::sync::atomic::Ordering::SeqCst));
        assert!(g.as_mut().poll(&mut cx).is_ready());
    }
}
