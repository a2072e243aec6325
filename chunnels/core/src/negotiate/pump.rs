//! [`Pump`]: the socket's datagrams are read by whichever consumer is waiting, not by a task
//! of their own — "whoever waits reads for everyone". A consumer waits for an item of *its*
//! queue; if nobody is reading, it reads one datagram itself, hands it to the socket's
//! handler (which routes it into the queues, possibly its own), sends what the handler asks,
//! and looks at its queue again. So a connection receiving its own datagrams pays no task
//! switch, which a demultiplexing task would cost on every datagram.
//!
//! Consumers are *active* (a connection's `recv`, a client waiting for its negotiation reply)
//! or *passive* (the background task below): a passive consumer reads only while no active one
//! waits, and gives the reading up as soon as one arrives (dropping a pending `recv_from` loses
//! nothing: datagram sockets are cancel-safe). Passive consumers are only woken when no active
//! one waits any more, not after each datagram an active one reads. A listener's `accept` does
//! not read at all: it waits for what the readers route to it.
//!
//! Every pump also has a passive background task ([`Pump::background`]), so the socket is
//! drained while nobody waits (a sender blocked on a full Unix-datagram peer, a layer whose
//! acknowledgements must be read while the application only sends); what it reads waits in
//! the queues, and a consumer that arrives takes the reading over.
//!
//! # The wake protocol
//! How a consumer waits for the socket depends on it. Through
//! [`DatagramSocket::recv_from`] (simulated and in-process sockets), the reader awaits a
//! `recv_from` future, whose drop forgets its waker; so a passive reader holds a read open
//! while no active consumer waits, is told to give it up when one arrives, and is woken when
//! the last one leaves: a wake and a poll of the background task per datagram an active
//! consumer receives, though the background reader reads nothing.
//!
//! A socket with [`DatagramSocket::POLL_RECV`] (tokio UDP and Unix datagram, TCP datagrams)
//! keeps the waker of its last `poll_recv_from` until readiness wakes it. The pump always
//! polls with its own waker, `Target`, which passes the wake on to the one consumer that
//! should read now: the active consumer that arrived last, or the passive one while no active
//! consumer waits. `armed` says whether the socket keeps the pump's waker (its last poll
//! returned `Pending` and it did not wake since). So handing the reading over takes no wake:
//! an active consumer that arrives makes itself the target (and polls only if the socket is
//! not armed), one that leaves makes the next consumer the target, and the passive reader
//! simply stays parked meanwhile. A consumer that leaves with its item first polls the socket
//! again until it is armed (one `EAGAIN`, the one a raw `recv_from` loop also pays; at most
//! `REARM_READS` datagrams it reads into the queues); only if it could not, or it was
//! cancelled while the socket was not armed, does it wake the next target to poll.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use netrt::DatagramSocket;

use super::base::AbortOnDrop;
use crate::queue::{KeptWaker, Queue};

/// What the handler asks to send after a datagram: `(bytes, destination)` pairs.
pub(crate) type Sends<A> = Vec<(Vec<u8>, A)>;

/// Routes one received datagram (`bytes`, sender) into the consumers' queues, copying
/// payloads into vectors from the pump's [`Recycler`].
pub(crate) type Handler<A> = Box<dyn FnMut(&[u8], A, &Recycler) -> Sends<A>>;

/// Byte vectors that the connections of a pump are done with (the payloads their sends
/// framed), reused to hand received payloads out: an echo server or a request-response
/// client then allocates no vector per message. Each vector is owned by one message at a
/// time, as any `Vec` is; a kept one is emptied before it holds a copy of new bytes.
#[derive(Debug, Default)]
pub(crate) struct Recycler {
    kept: RefCell<Vec<Vec<u8>>>,
}

/// Vectors a [`Recycler`] keeps at most.
const RECYCLE_KEEP: usize = 8;
/// Vectors of larger capacity are not kept.
const RECYCLE_MAX_CAPACITY: usize = 65_536;

impl Recycler {
    /// Keeps `v` for reuse if there is room and it is not too large; drops it otherwise.
    pub(crate) fn put(&self, mut v: Vec<u8>) {
        if v.capacity() == 0 || v.capacity() > RECYCLE_MAX_CAPACITY {
            return;
        }
        let mut kept = self.kept.borrow_mut();
        if kept.len() < RECYCLE_KEEP {
            v.clear();
            kept.push(v);
        }
    }

    /// A vector holding a copy of `bytes`: the last one kept if its capacity fits them
    /// without wasting much (at most twice their length plus 64 bytes; a receiver may keep
    /// what it gets for long), or else a new one of their length.
    pub(crate) fn copy_of(&self, bytes: &[u8]) -> Vec<u8> {
        let n = bytes.len();
        let mut kept = self.kept.borrow_mut();
        match kept.pop() {
            Some(mut v) if v.capacity() >= n && v.capacity() <= 2 * n + 64 => {
                v.extend_from_slice(bytes);
                v
            }
            Some(v) => {
                kept.push(v);
                bytes.to_vec()
            }
            None => bytes.to_vec(),
        }
    }

    /// Vectors kept.
    #[cfg(test)]
    pub(crate) fn kept(&self) -> usize {
        self.kept.borrow().len()
    }
}

/// A socket read on demand by its consumers (see the module documentation).
pub(crate) struct Pump<S: DatagramSocket> {
    sock: Rc<S>,
    handler: RefCell<Handler<S::Addr>>,
    reading: Cell<bool>,
    /// Active consumers waiting for the reader to finish (to become the reader).
    idle: RefCell<Vec<Waker>>,
    /// Passive consumers waiting for the reader to finish and for no active consumer to wait.
    /// Kept apart so that an active consumer's read, which ends with that consumer still
    /// waiting, does not wake them only for them to find it back at once.
    idle_passive: RefCell<Vec<Waker>>,
    /// Active consumers waiting right now.
    active_waiting: Cell<usize>,
    /// A passive reader to tell that an active consumer arrived.
    passive_reader: RefCell<Option<Waker>>,
    closed: Cell<bool>,
    buf: Cell<Vec<u8>>,
    recycler: Recycler,
    /// [`DatagramSocket::POLL_RECV`] sockets: what the handler asked to send after the
    /// datagrams a consumer just read; that consumer takes them before its poll returns.
    sends: RefCell<Sends<S::Addr>>,
    /// Called once when the socket fails: close the consumers' queues.
    on_close: RefCell<Option<Box<dyn FnOnce()>>>,
    /// The rest serves sockets with [`DatagramSocket::POLL_RECV`] only (see the module
    /// documentation): the waker the socket keeps, and whom it wakes.
    target: Arc<Target>,
    target_waker: Waker,
    /// The consumer `target` wakes: an active one's id, [`PASSIVE`], or none.
    target_id: Cell<Option<u64>>,
    /// A copy of the waker in `target.active`, to compare a consumer's waker with on this
    /// thread without locking (a consumer that polls again with the same waker, as one that
    /// waits for datagram after datagram does, stores nothing).
    active_shadow: RefCell<Option<KeptWaker>>,
    /// Active consumers waiting other than the target, with their wakers (the one that was
    /// the target last, last).
    parked: RefCell<Vec<(u64, Waker)>>,
    next_id: Cell<u64>,
}

/// The id of the passive consumer in [`Pump::target_id`].
const PASSIVE: u64 = 0;

/// At most this many datagrams are read by a consumer that leaves with its item to leave the
/// socket's registration in place (see the module documentation).
const REARM_READS: usize = 32;

/// The waker a [`DatagramSocket::POLL_RECV`] socket keeps for its pump: hands the socket's
/// readiness on to the consumer that should read now.
struct Target {
    /// The waker of the active consumer that is the target, if one is.
    active: Mutex<Option<Waker>>,
    /// The passive consumer's waker, once it waited.
    passive: Mutex<Option<Waker>>,
    /// Which of the two is the target: [`TO_NONE`], [`TO_ACTIVE`] or [`TO_PASSIVE`]. Kept
    /// apart from the wakers so that handing over between an active consumer that comes back
    /// with the same waker and the passive one clones no waker.
    to: AtomicU8,
    /// The socket keeps this waker: the last `poll_recv_from` returned `Pending` and did not
    /// wake it since.
    armed: AtomicBool,
}

const TO_NONE: u8 = 0;
const TO_ACTIVE: u8 = 1;
const TO_PASSIVE: u8 = 2;

fn store(slot: &Mutex<Option<Waker>>, w: &Waker) {
    let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if !slot.as_ref().is_some_and(|x| x.will_wake(w)) {
        *slot = Some(w.clone());
    }
}

fn load(slot: &Mutex<Option<Waker>>) -> Option<Waker> {
    slot.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// Wakes the waker in `slot` by reference, under the lock: no clone to make and drop. A
/// waker only schedules its task, it does not run it, so it cannot come back to this lock.
fn wake_slot(slot: &Mutex<Option<Waker>>) {
    if let Some(w) = slot.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
        w.wake_by_ref();
    }
}

impl Target {
    fn armed(&self) -> bool {
        self.armed.load(Ordering::Relaxed)
    }

    fn point(&self, to: u8) {
        self.to.store(to, Ordering::Relaxed);
    }

    /// Wakes the target.
    fn wake_target(&self) {
        match self.to.load(Ordering::Relaxed) {
            TO_ACTIVE => wake_slot(&self.active),
            TO_PASSIVE => wake_slot(&self.passive),
            _ => {}
        }
    }
}

impl Wake for Target {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.armed.store(false, Ordering::Relaxed);
        self.wake_target();
    }
}

/// A consumer of a [`DatagramSocket::POLL_RECV`] pump, leaving when dropped.
struct Polled<'a, S: DatagramSocket> {
    pump: &'a Pump<S>,
    id: u64,
}

impl<S: DatagramSocket> Drop for Polled<'_, S> {
    fn drop(&mut self) {
        let p = self.pump;
        let target = p.target_id.get();
        if target == Some(self.id)
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

/// The future of [`Pump::wait_polled`]: polls [`Pump::poll_wait`] directly (no layers of
/// async functions between a connection's `recv` and the pump); the sends the handler asks
/// for, rare, go out through a boxed future.
pub(crate) struct WaitPolled<'a, S: DatagramSocket, T> {
    me: Polled<'a, S>,
    q: &'a Queue<T>,
    /// Sends going out, then the item to return, if any.
    #[allow(clippy::type_complexity)]
    sending: Option<Pin<Box<dyn Future<Output = Option<Option<T>>> + 'a>>>,
}

/// Sends `sends` on `sock`, then gives `item` back.
async fn send_then<S: DatagramSocket, T>(
    sock: &S,
    sends: Sends<S::Addr>,
    item: Option<Option<T>>,
) -> Option<Option<T>> {
    for (d, to) in sends {
        let _ = sock.send_to(&d, &to).await;
    }
    item
}

impl<'a, S: DatagramSocket, T: 'a> Future for WaitPolled<'a, S, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let me = self.get_mut();
        loop {
            if let Some(f) = &mut me.sending {
                let Poll::Ready(item) = f.as_mut().poll(cx) else {
                    return Poll::Pending;
                };
                me.sending = None;
                if let Some(item) = item {
                    return Poll::Ready(item);
                }
            }
            let pump = me.me.pump;
            let Poll::Ready(item) = pump.poll_wait(cx, me.q, me.me.id) else {
                return Poll::Pending;
            };
            if !pump.has_sends() {
                if let Some(item) = item {
                    return Poll::Ready(item);
                }
                continue;
            }
            let sends = std::mem::take(&mut *pump.sends.borrow_mut());
            me.sending = Some(Box::pin(send_then(&*pump.sock, sends, item)));
        }
    }
}

struct Reading<'a, S: DatagramSocket>(&'a Pump<S>);

impl<S: DatagramSocket> Drop for Reading<'_, S> {
    fn drop(&mut self) {
        self.0.reading.set(false);
        *self.0.passive_reader.borrow_mut() = None;
        for w in self.0.idle.borrow_mut().drain(..) {
            w.wake();
        }
        if self.0.active_waiting.get() == 0 {
            self.0.wake_passive();
        }
    }
}

struct Active<'a, S: DatagramSocket>(&'a Pump<S>);

impl<S: DatagramSocket> Drop for Active<'_, S> {
    fn drop(&mut self) {
        let n = self.0.active_waiting.get() - 1;
        self.0.active_waiting.set(n);
        if n == 0 && !self.0.reading.get() {
            // A passive consumer held back for us may read now.
            self.0.wake_passive();
        }
    }
}

impl<S: DatagramSocket> Pump<S> {
    pub(crate) fn new(sock: Rc<S>, handler: Handler<S::Addr>) -> Self {
        let target = Arc::new(Target {
            active: Mutex::new(None),
            passive: Mutex::new(None),
            to: AtomicU8::new(TO_NONE),
            armed: AtomicBool::new(false),
        });
        Pump {
            target_waker: Waker::from(target.clone()),
            target,
            target_id: Cell::new(None),
            active_shadow: RefCell::new(None),
            parked: RefCell::new(Vec::new()),
            next_id: Cell::new(PASSIVE),
            sock,
            handler: RefCell::new(handler),
            reading: Cell::new(false),
            idle: RefCell::new(Vec::new()),
            idle_passive: RefCell::new(Vec::new()),
            active_waiting: Cell::new(0),
            passive_reader: RefCell::new(None),
            closed: Cell::new(false),
            buf: Cell::new(Vec::new()),
            recycler: Recycler::default(),
            sends: RefCell::new(Vec::new()),
            on_close: RefCell::new(None),
        }
    }

    fn wake_passive(&self) {
        for w in self.idle_passive.borrow_mut().drain(..) {
            w.wake();
        }
    }

    /// Sets what to do when the socket fails (close the queues).
    pub(crate) fn on_close(&self, f: impl FnOnce() + 'static) {
        *self.on_close.borrow_mut() = Some(Box::new(f));
    }

    /// The socket.
    pub(crate) fn socket(&self) -> &Rc<S> {
        &self.sock
    }

    /// Where the connections give back the vectors their sends are done with.
    pub(crate) fn recycler(&self) -> &Recycler {
        &self.recycler
    }

    /// Spawns the passive background reader; dropping the returned guard stops it (the
    /// connections and listener that share the pump hold it).
    pub(crate) fn background<R: netrt::Runtime>(self: &Rc<Self>, rt: &R) -> Rc<AbortOnDrop>
    where
        S: 'static,
    {
        let me = self.clone();
        Rc::new(AbortOnDrop(rt.spawn(async move {
            let never: Queue<()> = Queue::new();
            while me.wait(&never, true).await.is_some() {}
        })))
    }

    /// Reads one datagram (or gives up early when an item arrives in `q`, pushed by another
    /// task, or, if `passive`, when an active consumer arrives); routes it and sends what the
    /// handler asks.
    async fn read_one<T>(&self, passive: bool, q: &Queue<T>) {
        let guard = Reading(self);
        self.reading.set(true);
        let mut buf = self.buf.take();
        if buf.len() < 65_536 {
            buf.resize(65_536, 0);
        }
        let got = {
            let mut recv = pin!(self.sock.recv_from(&mut buf));
            poll_fn(|cx| {
                if let Poll::Ready(r) = recv.as_mut().poll(cx) {
                    // The caller looks at its queue right after: the handler's push into it
                    // need not wake this task again (a spurious poll per datagram).
                    q.unregister(cx.waker());
                    return Poll::Ready(Some(r));
                }
                if !q.is_empty() || q.is_closed() {
                    return Poll::Ready(None);
                }
                q.register(cx.waker());
                if passive {
                    if self.active_waiting.get() > 0 {
                        return Poll::Ready(None);
                    }
                    *self.passive_reader.borrow_mut() = Some(cx.waker().clone());
                }
                Poll::Pending
            })
            .await
        };
        let sends = match got {
            None => Vec::new(),
            Some(Ok((n, from))) => (self.handler.borrow_mut())(&buf[..n], from, &self.recycler),
            Some(Err(_)) => {
                self.closed.set(true);
                if let Some(f) = self.on_close.borrow_mut().take() {
                    f();
                }
                Vec::new()
            }
        };
        self.buf.set(buf);
        drop(guard);
        for (d, to) in sends {
            let _ = self.sock.send_to(&d, &to).await;
        }
    }

    /// Waits for an item of `q`, reading the socket when nobody else does. `None` once `q` is
    /// closed (or the socket failed) and empty.
    pub(crate) async fn wait<T>(&self, q: &Queue<T>, passive: bool) -> Option<T> {
        if S::POLL_RECV {
            self.wait_polled(q, passive).await
        } else {
            self.wait_read(q, passive).await
        }
    }

    /// The socket failed: close the queues and wake every consumer.
    fn fail(&self) {
        self.closed.set(true);
        if let Some(f) = self.on_close.borrow_mut().take() {
            f();
        }
        let mut wake: Vec<Waker> = self
            .parked
            .borrow()
            .iter()
            .map(|(_, w)| w.clone())
            .collect();
        if self.target_id.get().is_some_and(|t| t != PASSIVE) {
            wake.extend(
                self.active_shadow
                    .borrow()
                    .as_ref()
                    .map(|k| k.waker().clone()),
            );
        }
        wake.extend(load(&self.target.passive));
        for w in wake {
            w.wake();
        }
    }

    /// Polls the socket once with the pump's waker; a datagram is handed to the handler,
    /// whose sends join [`Pump::sends`].
    fn poll_socket(&self) -> Poll<()> {
        let mut buf = self.buf.take();
        if buf.len() < 65_536 {
            buf.resize(65_536, 0);
        }
        // Set first: a wake from within the call (tokio's cooperative budget) clears it.
        self.target.armed.store(true, Ordering::Relaxed);
        let got = self
            .sock
            .poll_recv_from(&mut Context::from_waker(&self.target_waker), &mut buf);
        let out = match got {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                self.target.armed.store(false, Ordering::Relaxed);
                match r {
                    Ok((n, from)) => {
                        let sends = (self.handler.borrow_mut())(&buf[..n], from, &self.recycler);
                        if !sends.is_empty() {
                            self.sends.borrow_mut().extend(sends);
                        }
                        Poll::Ready(())
                    }
                    Err(_) => {
                        self.fail();
                        Poll::Ready(())
                    }
                }
            }
        };
        self.buf.set(buf);
        out
    }

    /// Puts `w` in `target.active` unless that waker is there already (compared with the
    /// shadow copy, without locking).
    #[inline]
    fn store_active(&self, w: &Waker) {
        if !self
            .active_shadow
            .borrow()
            .as_ref()
            .is_some_and(|x| x.is(w))
        {
            self.store_active_new(w);
        }
    }

    #[cold]
    #[inline(never)]
    fn store_active_new(&self, w: &Waker) {
        let mut shadow = self.active_shadow.borrow_mut();
        *self
            .target
            .active
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(w.clone());
        *shadow = Some(KeptWaker::new(w));
    }

    /// Makes the consumer `id` the one the socket's readiness wakes. An active target it
    /// replaces, which still waits, joins the parked consumers; an active `id` leaves them.
    #[inline]
    fn set_target(&self, id: u64, w: &Waker) {
        let prev = self.target_id.get();
        if prev != Some(id) {
            if prev.is_none_or(|p| p == PASSIVE) && id != PASSIVE && self.parked.borrow().is_empty()
            {
                // The common case: an active consumer takes over from the passive one.
                self.target_id.set(Some(id));
            } else {
                self.set_target_new(id);
            }
        }
        if id == PASSIVE {
            store(&self.target.passive, w);
            self.target.point(TO_PASSIVE);
        } else {
            self.store_active(w);
            self.target.point(TO_ACTIVE);
        }
    }

    /// [`Pump::set_target`]'s bookkeeping when the target changes.
    #[inline(never)]
    fn set_target_new(&self, id: u64) {
        let prev = self.target_id.get();
        if let Some(p) = prev.filter(|&p| p != PASSIVE) {
            let w = self
                .active_shadow
                .borrow()
                .as_ref()
                .map(|k| k.waker().clone());
            if let Some(w) = w {
                self.parked.borrow_mut().push((p, w));
            }
        }
        if id != PASSIVE {
            let mut parked = self.parked.borrow_mut();
            if !parked.is_empty() {
                parked.retain(|(i, _)| *i != id);
            }
        }
        self.target_id.set(Some(id));
    }

    /// [`Pump::wait`] on a [`DatagramSocket::POLL_RECV`] socket.
    /// The consumer waits from the call on (and leaves when the future is dropped), so the
    /// future is to be awaited at once.
    pub(crate) fn wait_polled<'a, T>(
        &'a self,
        q: &'a Queue<T>,
        passive: bool,
    ) -> WaitPolled<'a, S, T> {
        let id = if passive {
            PASSIVE
        } else {
            self.active_waiting.set(self.active_waiting.get() + 1);
            self.next_id.set(self.next_id.get() + 1);
            self.next_id.get()
        };
        WaitPolled {
            me: Polled { pump: self, id },
            q,
            sending: None,
        }
    }

    /// One poll of [`Pump::wait_polled`]: `Ready(Some(item))` to return `item` (`None`:
    /// closed), `Ready(None)` to poll again; either after sending [`Pump::sends`] if there are
    /// any.
    #[inline]
    fn poll_wait<T>(&self, cx: &mut Context<'_>, q: &Queue<T>, id: u64) -> Poll<Option<Option<T>>> {
        loop {
            match q.try_pop_or_closed() {
                Ok(x) => {
                    self.rearm(cx, q);
                    return Poll::Ready(Some(Some(x)));
                }
                Err(true) => return Poll::Ready(Some(None)),
                Err(false) if self.closed.get() => return Poll::Ready(Some(None)),
                Err(false) => {}
            }
            if id == PASSIVE {
                store(&self.target.passive, cx.waker());
                if self.active_waiting.get() > 0 {
                    // Held back: an active consumer reads; the last to leave hands the
                    // socket's readiness over to us.
                    return Poll::Pending;
                }
            }
            self.set_target(id, cx.waker());
            // Armed: the socket keeps the pump's waker and did not wake it, so no datagram
            // can have arrived since it last said so.
            if !self.target.armed() {
                // The caller looks at its queue right after a read: the handler's push into
                // it need not wake this task again (a spurious poll per datagram).
                q.unregister(cx.waker());
                if self.poll_socket().is_ready() {
                    if self.has_sends() {
                        return Poll::Ready(None);
                    }
                    continue;
                }
            }
            q.register(cx.waker());
            return Poll::Pending;
        }
    }

    /// Whether [`Pump::sends`] holds sends.
    fn has_sends(&self) -> bool {
        !self.sends.borrow().is_empty()
    }

    /// A consumer leaves with its item: if the socket no longer keeps the pump's waker, polls
    /// it until it does (reading what waits into the queues), so that nobody needs waking to
    /// do it. Gives up after [`REARM_READS`] datagrams or at the first sends (left in
    /// [`Pump::sends`]); then [`Polled`]'s drop wakes the next reader.
    #[inline]
    fn rearm<T>(&self, cx: &mut Context<'_>, q: &Queue<T>) {
        for _ in 0..REARM_READS {
            if self.target.armed() || self.closed.get() {
                break;
            }
            q.unregister(cx.waker());
            if self.poll_socket().is_pending() || self.has_sends() {
                break;
            }
        }
    }

    /// [`Pump::wait`] on a socket read through [`DatagramSocket::recv_from`].
    async fn wait_read<T>(&self, q: &Queue<T>, passive: bool) -> Option<T> {
        let _active = (!passive).then(|| {
            self.active_waiting.set(self.active_waiting.get() + 1);
            if let Some(w) = self.passive_reader.borrow_mut().take() {
                w.wake();
            }
            Active(self)
        });
        loop {
            if let Some(x) = q.try_pop() {
                return Some(x);
            }
            if q.is_closed() || self.closed.get() {
                return None;
            }
            let may_read = !self.reading.get() && (!passive || self.active_waiting.get() == 0);
            if may_read {
                self.read_one(passive, q).await;
                continue;
            }
            poll_fn(|cx| {
                if !q.is_empty() || q.is_closed() || self.closed.get() {
                    return Poll::Ready(());
                }
                if !self.reading.get() && (!passive || self.active_waiting.get() == 0) {
                    return Poll::Ready(());
                }
                q.register(cx.waker());
                let mut idle = if passive {
                    self.idle_passive.borrow_mut()
                } else {
                    self.idle.borrow_mut()
                };
                if !idle.iter().any(|w| w.will_wake(cx.waker())) {
                    idle.push(cx.waker().clone());
                }
                Poll::Pending
            })
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycled_vectors_hold_exactly_one_message_each() {
        let r = Recycler::default();
        let sent = vec![9u8; 64];
        let at = sent.as_ptr();
        r.put(sent);
        assert_eq!(r.kept(), 1);
        // The vector is reused, holding the new bytes only.
        let a = r.copy_of(&[
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
            25, 26, 27, 28, 29, 30, 31, 32,
        ]);
        assert_eq!(a.as_ptr(), at);
        assert_eq!(a, (1..=32).collect::<Vec<u8>>());
        assert_eq!(r.kept(), 0);
        // Nothing kept: a new vector, distinct from the one still held.
        let b = r.copy_of(&[7; 32]);
        assert_ne!(a.as_ptr(), b.as_ptr());
        assert_eq!((a.len(), b.len()), (32, 32));
        assert!(a.iter().zip(1..).all(|(&x, i)| x == i) && b.iter().all(|&x| x == 7));
        // A kept vector much larger than the bytes stays kept; a new one holds them.
        r.put(vec![0; 4_096]);
        let c = r.copy_of(b"tiny");
        assert_eq!(c, b"tiny");
        assert_eq!(c.capacity(), 4);
        assert_eq!(r.kept(), 1);
        // An empty message fits no kept vector of this size either.
        assert_eq!(r.copy_of(&[]), Vec::<u8>::new());
        assert_eq!(r.kept(), 1);
    }

    #[test]
    fn the_recycler_keeps_few_and_small_vectors() {
        let r = Recycler::default();
        r.put(Vec::new());
        r.put(vec![0; RECYCLE_MAX_CAPACITY + 1]);
        assert_eq!(r.kept(), 0);
        for _ in 0..2 * RECYCLE_KEEP {
            r.put(vec![1; 100]);
        }
        assert_eq!(r.kept(), RECYCLE_KEEP);
        for _ in 0..RECYCLE_KEEP {
            assert_eq!(r.copy_of(&[2; 60]), [2; 60]);
        }
        assert_eq!(r.kept(), 0);
    }
}
