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

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Poll, Waker};

use netrt::DatagramSocket;

use super::base::AbortOnDrop;
use crate::queue::Queue;

/// What the handler asks to send after a datagram: `(bytes, destination)` pairs.
pub(crate) type Sends<A> = Vec<(Vec<u8>, A)>;

/// Routes one received datagram (`bytes`, sender) into the consumers' queues.
pub(crate) type Handler<A> = Box<dyn FnMut(&[u8], A) -> Sends<A>>;

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
    /// Called once when the socket fails: close the consumers' queues.
    on_close: RefCell<Option<Box<dyn FnOnce()>>>,
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
        Pump {
            sock,
            handler: RefCell::new(handler),
            reading: Cell::new(false),
            idle: RefCell::new(Vec::new()),
            idle_passive: RefCell::new(Vec::new()),
            active_waiting: Cell::new(0),
            passive_reader: RefCell::new(None),
            closed: Cell::new(false),
            buf: Cell::new(Vec::new()),
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
            Some(Ok((n, from))) => (self.handler.borrow_mut())(&buf[..n], from),
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
