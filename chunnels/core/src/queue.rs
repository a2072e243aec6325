//! A single-threaded async FIFO ([`Queue`]): what demultiplexing tasks hand datagrams through.
//! No runtime needed: wakers only.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, RawWakerVTable, Waker};

/// A clone of a waker, kept to tell whether a later waker is the same one without cloning it.
///
/// [`Waker::will_wake`] compares data and vtable pointers, and some wakers' clones have
/// another vtable than the waker they were cloned from (the waker of tokio's `block_on`, a
/// `WakerRef`, is one: it is never `will_wake` its own clones). So the vtable of the waker
/// the clone was made from is kept too: a waker with it and the clone's data pointer is the
/// waker cloned. The clone keeps what that data pointer points to alive, so no other waker
/// can have come to use the same address meanwhile.
pub(crate) struct KeptWaker {
    waker: Waker,
    from: *const RawWakerVTable,
}

impl KeptWaker {
    /// Keeps a clone of `w`.
    pub(crate) fn new(w: &Waker) -> Self {
        KeptWaker {
            waker: w.clone(),
            from: w.vtable(),
        }
    }

    /// Whether `w` wakes the same task as the kept waker.
    #[inline]
    pub(crate) fn is(&self, w: &Waker) -> bool {
        self.waker.will_wake(w)
            || (self.waker.data() == w.data() && std::ptr::eq(self.from, w.vtable()))
    }

    /// The clone.
    pub(crate) fn waker(&self) -> &Waker {
        &self.waker
    }

    /// The clone, given up.
    pub(crate) fn into_waker(self) -> Waker {
        self.waker
    }

    /// Keeps `w` instead, unless it is the same waker.
    pub(crate) fn set(&mut self, w: &Waker) {
        if !self.is(w) {
            *self = KeptWaker::new(w);
        }
    }
}

struct Inner<T> {
    items: VecDeque<T>,
    /// The first registered waker, kept after it is woken or unregistered (with `first_on`
    /// false) so that a consumer registering again with the same waker, as one that waits for
    /// item after item does, clones and drops no waker. It may keep its task's allocation
    /// alive until the queue is dropped or another waker takes the slot.
    first: Option<KeptWaker>,
    /// Whether `first` is registered.
    first_on: bool,
    /// Further registered wakers.
    waiters: Vec<KeptWaker>,
    closed: bool,
}

#[inline(never)]
fn unregister_waiter(waiters: &mut Vec<KeptWaker>, w: &Waker) {
    waiters.retain(|x| !x.is(w));
}

impl<T> Inner<T> {
    /// The common case inline: the first waker again.
    #[inline]
    fn register(&mut self, w: &Waker) {
        if self.first.as_ref().is_some_and(|x| x.is(w)) {
            self.first_on = true;
        } else {
            self.register_other(w);
        }
    }

    #[inline(never)]
    fn register_other(&mut self, w: &Waker) {
        if self.waiters.iter().any(|x| x.is(w)) {
            return;
        }
        if self.first_on {
            self.waiters.push(KeptWaker::new(w));
        } else {
            match &mut self.first {
                Some(x) => x.set(w),
                None => self.first = Some(KeptWaker::new(w)),
            }
            self.first_on = true;
        }
    }

    /// Takes what to wake: `first` if it is registered ([`Queue::wake`] puts it back in its
    /// slot) and the other waiters.
    fn take_wakers(&mut self) -> (Option<KeptWaker>, Vec<KeptWaker>) {
        let first = if self.first_on {
            self.first_on = false;
            self.first.take()
        } else {
            None
        };
        (first, std::mem::take(&mut self.waiters))
    }
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
                first: None,
                first_on: false,
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
    #[inline]
    pub fn push(&self, item: T) {
        let mut i = self.inner.borrow_mut();
        if i.closed {
            return;
        }
        i.items.push_back(item);
        if i.first_on || !i.waiters.is_empty() {
            drop(i);
            self.wake_all();
        }
    }

    /// Wakes the registered wakers ([`Queue::push`] when some are).
    #[inline(never)]
    fn wake_all(&self) {
        let (first, waiters) = self.inner.borrow_mut().take_wakers();
        self.wake(first, waiters);
    }

    /// Wakes what [`Inner::take_wakers`] took (outside the borrow: a waker may touch the
    /// queue), then gives the first waker and the vector's allocation back.
    fn wake(&self, first: Option<KeptWaker>, mut waiters: Vec<KeptWaker>) {
        if let Some(w) = &first {
            w.waker().wake_by_ref();
        }
        for w in waiters.drain(..) {
            w.into_waker().wake();
        }
        let mut i = self.inner.borrow_mut();
        if i.first.is_none() {
            i.first = first;
        }
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

    /// Takes the first item without waiting; if there is none, says whether the queue is
    /// closed.
    #[inline]
    pub(crate) fn try_pop_or_closed(&self) -> Result<T, bool> {
        let mut i = self.inner.borrow_mut();
        match i.items.pop_front() {
            Some(x) => Ok(x),
            None => Err(i.closed),
        }
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
            i.register(cx.waker());
            Poll::Pending
        })
        .await
    }

    /// Registers `w` to be woken at the next push or at close (for waiters that poll the
    /// queue with [`Queue::try_pop`]).
    #[inline]
    pub fn register(&self, w: &Waker) {
        self.inner.borrow_mut().register(w);
    }

    /// Forgets `w` if it was registered (by [`Queue::register`] or a pending `pop`).
    #[inline]
    pub fn unregister(&self, w: &Waker) {
        let mut i = self.inner.borrow_mut();
        if i.first_on && i.first.as_ref().is_some_and(|x| x.is(w)) {
            i.first_on = false;
        }
        if !i.waiters.is_empty() {
            unregister_waiter(&mut i.waiters, w);
        }
    }

    /// Closes the queue: waiting `pop`s return what is left, then `None`.
    pub fn close(&self) {
        let (first, waiters) = {
            let mut i = self.inner.borrow_mut();
            i.closed = true;
            i.take_wakers()
        };
        self.wake(first, waiters);
    }

    /// Whether [`Queue::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.borrow().closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::ManuallyDrop;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::RawWaker;

    // A waker counting its wakes in an `Arc<AtomicUsize>`, in two forms: owned (`OWNED`), and
    // borrowed (`BORROWED`, never dropped, like tokio's `WakerRef`), whose clones are owned,
    // so have another vtable than the waker they were cloned from.
    unsafe fn clone(p: *const ()) -> RawWaker {
        // SAFETY: `p` comes from `Arc::as_ptr` of a live counter.
        unsafe { Arc::increment_strong_count(p.cast::<AtomicUsize>()) };
        RawWaker::new(p, &OWNED)
    }
    unsafe fn wake_by_ref(p: *const ()) {
        // SAFETY: as in `clone`.
        unsafe { &*p.cast::<AtomicUsize>() }.fetch_add(1, Ordering::SeqCst);
    }
    unsafe fn wake(p: *const ()) {
        // SAFETY: as in `clone`; an owned waker holds one count.
        unsafe {
            wake_by_ref(p);
            drop_owned(p);
        }
    }
    unsafe fn drop_owned(p: *const ()) {
        // SAFETY: as in `clone`; an owned waker holds one count.
        unsafe { Arc::decrement_strong_count(p.cast::<AtomicUsize>()) };
    }
    unsafe fn drop_borrowed(_: *const ()) {}
    static OWNED: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_owned);
    static BORROWED: RawWakerVTable =
        RawWakerVTable::new(clone, wake_by_ref, wake_by_ref, drop_borrowed);

    fn borrowed(count: &Arc<AtomicUsize>) -> ManuallyDrop<Waker> {
        let raw = RawWaker::new(Arc::as_ptr(count).cast(), &BORROWED);
        // SAFETY: the vtable's functions keep the counter's reference count balanced, and
        // the borrowed waker is never dropped.
        ManuallyDrop::new(unsafe { Waker::from_raw(raw) })
    }

    fn woken(c: &AtomicUsize) -> usize {
        c.load(Ordering::SeqCst)
    }

    #[test]
    fn a_registered_waker_is_woken_once_per_registration() {
        let (a, b) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (wa, wb) = (borrowed(&a), borrowed(&b));
        let q = Queue::new();
        // Registering twice is registering once.
        q.register(&wa);
        q.register(&wa);
        q.push(1);
        assert_eq!(woken(&a), 1);
        // Woken: no longer registered.
        q.push(2);
        assert_eq!(woken(&a), 1);
        // Again, the same borrowed waker, whose kept clone has another vtable: recognised,
        // not cloned again.
        for i in 0..5 {
            q.register(&wa);
            q.register(&wa);
            q.push(3);
            assert_eq!(woken(&a), 2 + i);
        }
        assert_eq!(Arc::strong_count(&a), 2, "one clone kept");
        // Unregistered: not woken.
        q.register(&wa);
        q.unregister(&wa);
        q.push(4);
        assert_eq!(woken(&a), 6);
        // Two wakers, both woken, once each; then one, the other not.
        q.register(&wa);
        q.register(&wb);
        q.register(&wb);
        q.push(5);
        assert_eq!((woken(&a), woken(&b)), (7, 1));
        q.register(&wb);
        q.register(&wa);
        q.unregister(&wb);
        q.push(6);
        assert_eq!((woken(&a), woken(&b)), (8, 1));
        // Closing wakes who is registered.
        q.register(&wb);
        q.close();
        assert_eq!((woken(&a), woken(&b)), (8, 2));
        assert_eq!(
            (1..=6).map(|_| q.try_pop()).collect::<Vec<_>>(),
            [1, 2, 3, 3, 3, 3].map(Some)
        );
        drop(q);
        assert_eq!((Arc::strong_count(&a), Arc::strong_count(&b)), (1, 1));
    }

    #[test]
    fn the_kept_waker_is_replaced_by_another_one() {
        let (a, b) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (wa, wb) = (borrowed(&a), borrowed(&b));
        let q = Queue::new();
        q.register(&wa);
        q.push(1);
        // `a`'s clone is kept but not registered; `b` takes the slot.
        q.register(&wb);
        q.push(2);
        assert_eq!((woken(&a), woken(&b)), (1, 1));
        assert_eq!((Arc::strong_count(&a), Arc::strong_count(&b)), (1, 2));
        // An owned waker (a clone) and the borrowed one it was cloned from are the same.
        let owned: Waker = (*wb).clone();
        q.register(&owned);
        q.register(&wb);
        q.push(3);
        assert_eq!(woken(&b), 2);
    }
}
