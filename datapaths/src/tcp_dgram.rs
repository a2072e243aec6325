//! Datagrams over TCP: [`TcpDatagrams`] is a [`netrt::DatagramSocket`] (`Addr = SocketAddr`)
//! that carries each datagram as one length-prefixed frame on a TCP connection per peer, so
//! code written for datagram sockets (Chunnel negotiation and stacks) runs over TCP unchanged.
//!
//! A socket listens on its bound address. `send_to(peer)` uses the connection to `peer` if
//! there is one (one it opened, or one `peer` opened to it, keyed by the connection's remote
//! address) and otherwise connects; replies to a datagram go back over the connection it came
//! on, because `recv_from` reports that connection's remote address. Frames: a `u32`
//! little-endian length, then the bytes; a frame longer than [`MAX_FRAME`] closes the
//! connection (bytes from the network never make it allocate more). Delivery is reliable and
//! in order per connection, unlike UDP; a closed or failed connection is forgotten and the
//! next send reconnects. `TCP_NODELAY` is set so each datagram leaves at once.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use netrt::{JoinHandle, Runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

use crate::tokio_rt::TokioRuntime;

/// Largest frame accepted: 16 MiB.
pub const MAX_FRAME: usize = 16 << 20;

struct Conn {
    writer: Mutex<OwnedWriteHalf>,
    reader: JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Received datagrams, and who waits for them.
#[derive(Default)]
struct Rx {
    items: VecDeque<(Vec<u8>, SocketAddr)>,
    /// Pending `recv_from` futures (a dropped one leaves its waker: one spurious wake).
    waiters: Vec<Waker>,
    /// The waker of the last `poll_recv_from` that found nothing.
    polled: Option<Waker>,
}

struct Inner {
    rt: TokioRuntime,
    local: SocketAddr,
    conns: RefCell<BTreeMap<SocketAddr, Rc<Conn>>>,
    rx: RefCell<Rx>,
}

impl Inner {
    fn push(&self, d: Vec<u8>, from: SocketAddr) {
        let (waiters, polled) = {
            let mut rx = self.rx.borrow_mut();
            rx.items.push_back((d, from));
            (std::mem::take(&mut rx.waiters), rx.polled.take())
        };
        for w in waiters.into_iter().chain(polled) {
            w.wake();
        }
    }

    fn pop(&self, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        let (d, from) = self.rx.borrow_mut().items.pop_front()?;
        let n = d.len().min(buf.len());
        buf[..n].copy_from_slice(&d[..n]);
        Some((n, from))
    }
}

/// A datagram socket over TCP connections (see the module documentation). Made by
/// [`TokioRuntime::bind_tcp`].
pub struct TcpDatagrams {
    inner: Rc<Inner>,
    accept: JoinHandle<()>,
}

impl Drop for TcpDatagrams {
    fn drop(&mut self) {
        self.accept.abort();
        self.inner.conns.borrow_mut().clear();
    }
}

async fn read_frames(mut r: OwnedReadHalf, peer: SocketAddr, inner: &Weak<Inner>) {
    loop {
        let mut len = [0u8; 4];
        if r.read_exact(&mut len).await.is_err() {
            return;
        }
        let n = u32::from_le_bytes(len) as usize;
        if n > MAX_FRAME {
            return;
        }
        let mut buf = vec![0u8; n];
        if r.read_exact(&mut buf).await.is_err() {
            return;
        }
        match inner.upgrade() {
            Some(inner) => inner.push(buf, peer),
            None => return,
        }
    }
}

fn register(inner: &Rc<Inner>, stream: TcpStream, peer: SocketAddr) -> Rc<Conn> {
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let weak = Rc::downgrade(inner);
    let reader = inner.rt.spawn(async move {
        read_frames(r, peer, &weak).await;
        // The connection ended: forget it so the next send reconnects.
        if let Some(inner) = weak.upgrade() {
            inner.conns.borrow_mut().remove(&peer);
        }
    });
    let conn = Rc::new(Conn {
        writer: Mutex::new(w),
        reader,
    });
    inner.conns.borrow_mut().insert(peer, conn.clone());
    conn
}

impl TcpDatagrams {
    pub(crate) async fn bind(rt: TokioRuntime, addr: SocketAddr) -> io::Result<TcpDatagrams> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let inner = Rc::new(Inner {
            rt: rt.clone(),
            local,
            conns: RefCell::new(BTreeMap::new()),
            rx: RefCell::default(),
        });
        let weak = Rc::downgrade(&inner);
        let accept = rt.spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                let Some(inner) = weak.upgrade() else { return };
                register(&inner, stream, peer);
            }
        });
        Ok(TcpDatagrams { inner, accept })
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.inner.conns.borrow().len()
    }
}

impl netrt::DatagramSocket for TcpDatagrams {
    type Addr = SocketAddr;

    async fn send_to(&self, buf: &[u8], target: &SocketAddr) -> io::Result<usize> {
        if buf.len() > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "datagram of {} bytes exceeds the frame limit of {MAX_FRAME}",
                    buf.len()
                ),
            ));
        }
        let existing = self.inner.conns.borrow().get(target).cloned();
        let conn = match existing {
            Some(c) => c,
            None => {
                let s = TcpStream::connect(target).await?;
                register(&self.inner, s, *target)
            }
        };
        let mut frame = Vec::with_capacity(4 + buf.len());
        frame.extend_from_slice(&(buf.len() as u32).to_le_bytes());
        frame.extend_from_slice(buf);
        let r = conn.writer.lock().await.write_all(&frame).await;
        if r.is_err() {
            self.inner.conns.borrow_mut().remove(target);
        }
        r.map(|()| buf.len())
    }

    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| match self.inner.pop(buf) {
            Some(got) => Poll::Ready(Ok(got)),
            None => {
                let mut rx = self.inner.rx.borrow_mut();
                if !rx.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                    rx.waiters.push(cx.waker().clone());
                }
                Poll::Pending
            }
        })
        .await
    }

    const POLL_RECV: bool = true;

    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        match self.inner.pop(buf) {
            Some(got) => Poll::Ready(Ok(got)),
            None => {
                let mut rx = self.inner.rx.borrow_mut();
                match &mut rx.polled {
                    Some(w) => w.clone_from(cx.waker()),
                    slot => *slot = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.local)
    }
}
