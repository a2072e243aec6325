//! The [`DatagramSocket`] trait: unreliable, message-oriented sockets (UDP, Unix datagram,
//! simulated datagram sockets).

use std::future::Future;
use std::io;

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

    /// The address this socket is bound to.
    fn local_addr(&self) -> io::Result<Self::Addr>;
}
