//! The data connection a negotiated stack is built over ([`DataConn`]), and a guard that
//! aborts a task when dropped.

use std::any::Any;
use std::cell::Cell;
use std::rc::Rc;

use netrt::{DatagramSocket, JoinHandle};

use super::pump::Pump;
use crate::conn::{ChunnelConnection, Error};
use crate::queue::Queue;
use crate::wire::frame_data;

/// Aborts a task when dropped.
pub(crate) struct AbortOnDrop(pub(crate) JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The base of a negotiated stack: datagrams of one negotiation (epoch) over a shared
/// socket. Carries `(address, bytes)`; sends frame the bytes with the epoch. Receives come
/// through the socket's pump (a waiting `recv` reads the socket itself when nobody else does,
/// see `negotiate::pump`) or, for rendezvous groups, from a demultiplexing task. Holds the
/// negotiation's reservations alive as long as it lives.
pub struct DataConn<S: DatagramSocket> {
    sock: Rc<S>,
    epoch: u32,
    rx: Queue<(S::Addr, Vec<u8>)>,
    pump: Option<Rc<Pump<S>>>,
    buf: Cell<Vec<u8>>,
    _keep: Vec<Rc<dyn Any>>,
}

impl<S: DatagramSocket> DataConn<S> {
    pub(crate) fn new(
        sock: Rc<S>,
        epoch: u32,
        rx: Queue<(S::Addr, Vec<u8>)>,
        pump: Option<Rc<Pump<S>>>,
        keep: Vec<Rc<dyn Any>>,
    ) -> Self {
        DataConn {
            sock,
            epoch,
            rx,
            pump,
            buf: Cell::new(Vec::new()),
            _keep: keep,
        }
    }

    async fn next(&self) -> Option<(S::Addr, Vec<u8>)> {
        match &self.pump {
            Some(p) => p.wait(&self.rx, false).await,
            None => self.rx.pop().await,
        }
    }

    /// The negotiation this connection belongs to.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The socket under it.
    pub fn socket(&self) -> &Rc<S> {
        &self.sock
    }
}

impl<S: DatagramSocket> ChunnelConnection for DataConn<S> {
    type Data = (S::Addr, Vec<u8>);

    async fn send(&self, (to, payload): Self::Data) -> Result<(), Error> {
        let mut buf = self.buf.take();
        frame_data(self.epoch, &payload, &mut buf);
        if let Some(p) = &self.pump {
            // Its bytes are in `buf`: the vector can hold a received payload next.
            p.recycler().put(payload);
        }
        let r = self.sock.send_to(&buf, &to).await;
        self.buf.set(buf);
        r?;
        Ok(())
    }

    async fn recv(&self) -> Result<Self::Data, Error> {
        // `next`, with the pump's future awaited right here on sockets it polls.
        let got = match &self.pump {
            Some(p) if S::POLL_RECV => p.wait_polled(&self.rx, false).await,
            Some(p) => p.wait(&self.rx, false).await,
            None => self.rx.pop().await,
        };
        // Not `ok_or`: that would make and drop an `Error` for every item.
        match got {
            Some(d) => Ok(d),
            None => Err(Error::Closed),
        }
    }

    async fn recv_batch(&self, max: usize) -> Result<Vec<Self::Data>, Error> {
        let first = self.next().await.ok_or(Error::Closed)?;
        let mut out = vec![first];
        self.rx.drain_up_to(max.max(1) - 1, &mut out);
        Ok(out)
    }
}
