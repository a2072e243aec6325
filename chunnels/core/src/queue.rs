//! A single-threaded async FIFO ([`Queue`]): what demultiplexing tasks hand datagrams through.
//! No runtime needed: wakers only.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

struct Inner<T> {
    items: VecDeque<T>,
    waiters: Vec<Waker>,
    closed: bool,
}

/// A FIFO shared by clones; `pop` waits for an item or for `close`.
pub struct Queue<T> {
    inner: Rc<RefCell<Inner<T>>>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue {
            inner: Rc::new(RefCell::new(Inner {
                items: VecDeque::new(),
                waiters: Vec::new(),
                closed: false,
            })),
        }
    }
}

impl<T> Queue<T> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `item` and wakes the waiters. Items pushed after `close` are dropped.
    pub fn push(&self, item: T) {
        let mut waiters = {
            let mut i = self.inner.borrow_mut();
            if i.closed {
                return;
            }
            i.items.push_back(item);
            if i.waiters.is_empty() {
                return;
            }
            std::mem::take(&mut i.waiters)
        };
        for w in waiters.drain(..) {
            w.wake();
        }
        // Give the allocation back, so that the next `register` need not make one.
        let mut i = self.inner.borrow_mut();
        if i.waiters.is_empty() {
            i.waiters = waiters;
        }
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.inner.borrow().items.len()
    }

    /// Whether no item waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the first item without waiting.
    pub fn try_pop(&self) -> Option<T> {
        self.inner.borrow_mut().items.pop_front()
    }

    /// Takes up to `max` items without waiting.
    pub fn drain_up_to(&self, max: usize, out: &mut Vec<T>) {
        let mut i = self.inner.borrow_mut();
        let n = max.min(i.items.len());
        out.extend(i.items.drain(..n));
    }

    /// Waits for the first item; `None` once the queue is closed and empty.
    pub async fn pop(&self) -> Option<T> {
        poll_fn(|cx| {
            let mut i = self.inner.borrow_mut();
            if let Some(x) = i.items.pop_front() {
                return Poll::Ready(Some(x));
            }
            if i.closed {
                return Poll::Ready(None);
            }
            if !i.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                i.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Registers `w` to be woken at the next push or at close (for waiters that poll the
    /// queue with [`Queue::try_pop`]).
    pub fn register(&self, w: &Waker) {
        let mut i = self.inner.borrow_mut();
        if !i.waiters.iter().any(|x| x.will_wake(w)) {
            i.waiters.push(w.clone());
        }
    }

    /// Forgets `w` if it was registered (by [`Queue::register`] or a pending `pop`).
    pub fn unregister(&self, w: &Waker) {
        self.inner.borrow_mut().waiters.retain(|x| !x.will_wake(w));
    }

    /// Closes the queue: waiting `pop`s return what is left, then `None`.
    pub fn close(&self) {
        let waiters = {
            let mut i = self.inner.borrow_mut();
            i.closed = true;
            std::mem::take(&mut i.waiters)
        };
        for w in waiters {
            w.wake();
        }
    }

    /// Whether [`Queue::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.borrow().closed
    }
}
