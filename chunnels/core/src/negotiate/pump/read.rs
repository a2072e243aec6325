//! The pump of a socket read through [`DatagramSocket::recv_from`] (simulated and
//! in-process sockets): a consumer awaits a `recv_from` future itself.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;

use netrt::DatagramSocket;

use super::Pump;
use crate::queue::Queue;

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
    fn wake_passive(&self) {
        for w in self.idle_passive.borrow_mut().drain(..) {
            w.wake();
        }
    }
    /// Reads one datagram (or gives up early when an item arrives in `q`, pushed by another
    /// task, or, if `passive`, when an active consumer arrives); routes it and sends what the
    /// handler asks.
    async fn read_one<T>(&self, passive: bool, q: &Queue<T>) {
        let guard = Reading(self);
        self.reading.set(true);
        let mut buf = std::mem::take(&mut *self.buf.borrow_mut());
        if buf.len() < super::BUF {
            buf.resize(super::BUF, 0);
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
        *self.buf.borrow_mut() = buf;
        drop(guard);
        for (d, to) in sends {
            let _ = self.sock.send_to(&d, &to).await;
        }
    }

    /// [`Pump::wait`] on a socket read through [`DatagramSocket::recv_from`].
    pub(super) async fn wait_read<T>(&self, q: &Queue<T>, passive: bool) -> Option<T> {
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
