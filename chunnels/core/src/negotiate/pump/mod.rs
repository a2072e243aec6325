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

mod read;
mod recycler;
mod target;
mod wait;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use netrt::DatagramSocket;

use super::base::AbortOnDrop;
use crate::queue::{KeptWaker, Queue};

pub(crate) use recycler::Recycler;
use target::{Polled, Target, PASSIVE, TO_ACTIVE, TO_PASSIVE};
pub(crate) use wait::WaitPolled;

/// What the handler asks to send after a datagram: `(bytes, destination)` pairs.
pub(crate) type Sends<A> = Vec<(Vec<u8>, A)>;

/// Routes one received datagram (`bytes`, sender) into the consumers' queues, copying
/// payloads into vectors from the pump's [`Recycler`].
pub(crate) type Handler<A> = Box<dyn FnMut(&[u8], A, &Recycler) -> Sends<A>>;

/// Calls `f` out of line: what a handler does for anything but the datagrams it routes most,
/// kept out of the common path's code.
#[cold]
#[inline(never)]
pub(crate) fn outlined<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Bytes of the buffer datagrams are read into.
const BUF: usize = 65_536;

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
    /// What datagrams are read into ([`BUF`] bytes once a datagram was read).
    buf: RefCell<Vec<u8>>,
    recycler: Recycler,
    /// [`DatagramSocket::POLL_RECV`] sockets: what the handler asked to send after the
    /// datagrams a consumer just read; that consumer takes them before its poll returns.
    sends: RefCell<Sends<S::Addr>>,
    /// Whether `sends` holds any (read without borrowing it).
    has_sends: Cell<bool>,
    /// Called once when the socket fails: close the consumers' queues.
    on_close: RefCell<Option<Box<dyn FnOnce()>>>,
    /// The rest serves sockets with [`DatagramSocket::POLL_RECV`] only (see the module
    /// documentation): the waker the socket keeps, and whom it wakes.
    target: Arc<Target>,
    target_waker: Waker,
    /// The consumer `target` wakes: an active one's id, [`PASSIVE`], or none. `target.to`
    /// always says which kind it is.
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

/// At most this many datagrams are read by a consumer that leaves with its item to leave the
/// socket's registration in place (see the module documentation).
const REARM_READS: usize = 32;

/// What one poll of the socket did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Got {
    /// Nothing to read: the socket keeps the pump's waker.
    Pending,
    /// A datagram, routed by the handler (or the socket failed: the queues are closed).
    Read,
    /// A datagram after which the handler asked for sends (in [`Pump::sends`]).
    Sends,
}

impl<S: DatagramSocket> Pump<S> {
    pub(crate) fn new(sock: Rc<S>, handler: Handler<S::Addr>) -> Self {
        let target = Arc::new(Target::new());
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
            buf: RefCell::new(Vec::new()),
            recycler: Recycler::default(),
            sends: RefCell::new(Vec::new()),
            has_sends: Cell::new(false),
            on_close: RefCell::new(None),
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
    #[cold]
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
        wake.extend(self.target.passive());
        for w in wake {
            w.wake();
        }
    }

    /// Polls the socket once with the pump's waker; a datagram is handed to the handler,
    /// whose sends join [`Pump::sends`].
    fn poll_socket(&self) -> Got {
        let mut buf = self.buf.borrow_mut();
        if buf.len() < BUF {
            grow(&mut buf);
        }
        // Set first: a wake from within the call (tokio's cooperative budget) clears it.
        self.target.set_armed(true);
        let got = self
            .sock
            .poll_recv_from(&mut Context::from_waker(&self.target_waker), &mut buf);
        let Poll::Ready(r) = got else {
            return Got::Pending;
        };
        self.target.set_armed(false);
        match r {
            Ok((n, from)) => {
                let sends = (self.handler.borrow_mut())(&buf[..n], from, &self.recycler);
                if sends.is_empty() {
                    Got::Read
                } else {
                    drop(buf);
                    self.add_sends(sends);
                    Got::Sends
                }
            }
            Err(_) => {
                drop(buf);
                self.fail();
                Got::Read
            }
        }
    }

    #[cold]
    fn add_sends(&self, sends: Sends<S::Addr>) {
        self.sends.borrow_mut().extend(sends);
        self.has_sends.set(true);
    }

    /// Takes what the handler asked to send.
    fn take_sends(&self) -> Sends<S::Addr> {
        self.has_sends.set(false);
        std::mem::take(&mut *self.sends.borrow_mut())
    }

    /// Puts `w` in `target.active` unless that waker is there already (compared with the
    /// shadow copy, without locking).
    #[inline(always)]
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
        self.target.set_active(w.clone());
        *shadow = Some(KeptWaker::new(w));
    }

    /// Makes the consumer `id` the one the socket's readiness wakes. An active target it
    /// replaces, which still waits, joins the parked consumers; an active `id` leaves them.
    #[inline(always)]
    fn set_target(&self, id: u64, w: &Waker) {
        let prev = self.target_id.get();
        if prev == Some(id) {
            // Already the target (`target.to` says so): only its waker may have changed.
            if id == PASSIVE {
                self.target.store_passive(w);
            } else {
                self.store_active(w);
            }
            return;
        }
        if prev.is_none_or(|p| p == PASSIVE) && id != PASSIVE && self.parked.borrow().is_empty() {
            // The common case: an active consumer takes over from the passive one.
            self.target_id.set(Some(id));
        } else {
            self.set_target_new(id);
        }
        if id == PASSIVE {
            self.target.store_passive(w);
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
        WaitPolled::new(Polled { pump: self, id }, q)
    }

    /// One poll of [`Pump::wait_polled`]: `Ready(Some(item))` to return `item` (`None`:
    /// closed), `Ready(None)` to poll again; either after sending [`Pump::sends`] if
    /// [`Pump::has_sends`] says there are any.
    #[inline(always)]
    fn poll_wait<T>(&self, cx: &mut Context<'_>, q: &Queue<T>, id: u64) -> Poll<Option<Option<T>>> {
        match q.try_pop_or_closed() {
            Ok(x) => {
                self.rearm(cx, q, false);
                return Poll::Ready(Some(Some(x)));
            }
            Err(true) => return Poll::Ready(Some(None)),
            Err(false) if self.closed.get() => return Poll::Ready(Some(None)),
            Err(false) => {}
        }
        if id == PASSIVE {
            self.target.store_passive(cx.waker());
            if self.active_waiting.get() > 0 {
                // Held back: an active consumer reads; the last to leave hands the socket's
                // readiness over to us.
                return Poll::Pending;
            }
        }
        self.set_target(id, cx.waker());
        // Armed: the socket keeps the pump's waker and did not wake it, so no datagram can
        // have arrived since it last said so.
        let mut unregistered = false;
        while !self.target.armed() {
            if !unregistered {
                // The caller looks at its queue right after a read: the handler's push into
                // it need not wake this task again (a spurious poll per datagram).
                q.unregister(cx.waker());
                unregistered = true;
            }
            match self.poll_socket() {
                Got::Pending => break,
                Got::Sends => return Poll::Ready(None),
                Got::Read => {}
            }
            match q.try_pop_or_closed() {
                Ok(x) => {
                    self.rearm(cx, q, true);
                    return Poll::Ready(Some(Some(x)));
                }
                Err(true) => return Poll::Ready(Some(None)),
                Err(false) if self.closed.get() => return Poll::Ready(Some(None)),
                Err(false) => {}
            }
        }
        q.register(cx.waker());
        Poll::Pending
    }

    /// A consumer leaves with its item: if the socket no longer keeps the pump's waker, polls
    /// it until it does (reading what waits into the queues), so that nobody needs waking to
    /// do it. Gives up after [`REARM_READS`] datagrams or at the first sends (left in
    /// [`Pump::sends`]); then [`Polled`]'s drop wakes the next reader. `unregistered`: the
    /// consumer's waker is not registered with `q`.
    #[inline]
    fn rearm<T>(&self, cx: &mut Context<'_>, q: &Queue<T>, mut unregistered: bool) {
        for _ in 0..REARM_READS {
            if self.target.armed() || self.closed.get() {
                break;
            }
            if !unregistered {
                q.unregister(cx.waker());
                unregistered = true;
            }
            if self.poll_socket() != Got::Read {
                break;
            }
        }
    }
}

/// Makes the read buffer [`BUF`] bytes long (once per pump).
#[cold]
fn grow(buf: &mut Vec<u8>) {
    buf.resize(BUF, 0);
}
