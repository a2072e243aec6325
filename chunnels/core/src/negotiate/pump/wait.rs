//! [`WaitPolled`]: a consumer's wait on a [`DatagramSocket::POLL_RECV`] pump, as a future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use netrt::DatagramSocket;

use super::target::Polled;
use super::Sends;
use crate::queue::Queue;

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

impl<'a, S: DatagramSocket, T: 'a> WaitPolled<'a, S, T> {
    pub(super) fn new(me: Polled<'a, S>, q: &'a Queue<T>) -> Self {
        WaitPolled {
            me,
            q,
            sending: None,
        }
    }

    /// Starts sending what the handler asked, then gives `item` back.
    #[cold]
    fn start_sending(&mut self, item: Option<Option<T>>) {
        let pump = self.me.pump;
        let sends = pump.take_sends();
        self.sending = Some(Box::pin(send_then(&*pump.sock, sends, item)));
    }

    /// A poll while sends go out, or after they did.
    #[inline(never)]
    fn poll_sending(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        loop {
            if let Some(f) = &mut self.sending {
                let Poll::Ready(item) = f.as_mut().poll(cx) else {
                    return Poll::Pending;
                };
                self.sending = None;
                if let Some(item) = item {
                    return Poll::Ready(item);
                }
            }
            let pump = self.me.pump;
            let Poll::Ready(item) = pump.poll_wait(cx, self.q, self.me.id) else {
                return Poll::Pending;
            };
            match item {
                Some(item) if !pump.has_sends.get() => return Poll::Ready(item),
                item => self.start_sending(item),
            }
        }
    }
}

impl<'a, S: DatagramSocket, T: 'a> Future for WaitPolled<'a, S, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let me = self.get_mut();
        if me.sending.is_none() {
            // The common case: no sends asked for, none going out.
            let pump = me.me.pump;
            match pump.poll_wait(cx, me.q, me.me.id) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(item)) if !pump.has_sends.get() => return Poll::Ready(item),
                Poll::Ready(item) => me.start_sending(item),
            }
        }
        me.poll_sending(cx)
    }
}
