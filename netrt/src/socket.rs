//! The [`DatagramSocket`] trait: unreliable, message-oriented sockets (UDP, Unix datagram,
//! simulated datagram sockets).

use std::future::Future;
use std::io;
use std::task::{Context, Poll};

/// A bound datagram socket, shaped like `tokio::net::UdpSocket`.
///
/// Errors are [`std::io::Error`] with the kinds a real socket gives: `InvalidInput` for a
/// datagram larger than the socket can carry, `AddrNotAvailable` for an unreachable
/// destination the socket can detect at once. A datagram longer than the buffer passed to
/// [`DatagramSocket::recv_from`] is truncated, as with UDP.
pub trait DatagramSocket {
    /// The address type: [`std::net::SocketAddr`] for UDP and simulated sockets, a path for
    /// Unix datagram sockets.
    type Addr: Clone + std::fmt::Debug + 'static;

    /// Sends one datagram of `buf` to `target`; returns the bytes sent.
    fn send_to(&self, buf: &[u8], target: &Self::Addr) -> impl Future<Output = io::Result<usize>>;

    /// Waits for one datagram, copies it into `buf` (truncating) and returns its length and
    /// sender.
    fn recv_from(&self, buf: &mut [u8]) -> impl Future<Output = io::Result<(usize, Self::Addr)>>;

    /// Whether the socket implements [`DatagramSocket::poll_recv_from`].
    const POLL_RECV: bool = false;

    /// Receives one datagram if one is ready, like [`DatagramSocket::recv_from`]; otherwise
    /// returns `Pending` and keeps the waker of `cx`, to wake it once a datagram may be read.
    /// Unlike the future of `recv_from`, whose drop forgets its waker, the registration
    /// outlives the call: it lasts until that wake (after which a new call registers again)
    /// or until a later `poll_recv_from` replaces it, as only the most recent call's waker is
    /// kept (the `poll_recv_from` of `tokio::net::UdpSocket`). A wake may be spurious: the
    /// next call may return `Pending` again.
    ///
    /// Sockets that set [`DatagramSocket::POLL_RECV`] implement it; the default returns an
    /// error of kind [`io::ErrorKind::Unsupported`].
    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, Self::Addr)>> {
        let _ = (cx, buf);
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this socket has no poll_recv_from",
        )))
    }

    /// The address this socket is bound to.
    fn local_addr(&self) -> io::Result<Self::Addr>;
}
