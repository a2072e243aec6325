//! The [`Runtime`] trait: what protocol code may ask of the world it runs in.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::task::Poll;

use crate::socket::DatagramSocket;
use crate::task::{joinable, JoinHandle, LocalBoxFuture};
use crate::time::{Duration, Instant};

/// The error of [`Runtime::timeout`] when the deadline passes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(_: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, Elapsed)
    }
}

/// A single-threaded runtime: a clock, timers, task spawning and datagram sockets.
///
/// Implemented by the simulator (`netmodels::SimRuntime`, virtual time) and by tokio
/// (`datapaths::tokio_rt::TokioRuntime`, the monotonic clock). Code generic over `R: Runtime`
/// runs unchanged on both. A handle is cheap to clone; clones share one runtime. Tasks need not
/// be `Send` (see the crate documentation).
pub trait Runtime: Clone + 'static {
    /// The future of [`Runtime::sleep_until`].
    type Sleep: Future<Output = ()> + 'static;
    /// The datagram socket of this runtime, addressed by [`SocketAddr`].
    type UdpSocket: DatagramSocket<Addr = SocketAddr> + 'static;

    /// The current instant. On the simulator, virtual time since the start of the run; on real
    /// datapaths, monotonic time since the runtime was created. Instants of different runtimes
    /// are not comparable.
    fn now(&self) -> Instant;

    /// Completes at `deadline` (at once if it has passed).
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;

    /// Completes after `d`.
    fn sleep(&self, d: Duration) -> Self::Sleep {
        self.sleep_until(self.now().checked_add(d).unwrap_or(Instant::MAX))
    }

    /// Runs `fut` until it finishes or `d` passes, whichever comes first. If both are ready at
    /// the same poll, the future's output wins.
    fn timeout<F: Future>(
        &self,
        d: Duration,
        fut: F,
    ) -> impl Future<Output = Result<F::Output, Elapsed>> {
        let sleep = self.sleep(d);
        async move {
            let mut fut = std::pin::pin!(fut);
            let mut sleep = std::pin::pin!(sleep);
            std::future::poll_fn(move |cx| {
                if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                    return Poll::Ready(Ok(v));
                }
                if sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(Elapsed));
                }
                Poll::Pending
            })
            .await
        }
    }

    /// Runs a boxed task to completion on this runtime, detached. Tasks run in the order they
    /// are woken; on the simulator that order is deterministic.
    fn spawn_boxed(&self, task: LocalBoxFuture<'static, ()>);

    /// Spawns `fut` and returns a handle to its output.
    fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let (task, handle) = joinable(fut);
        self.spawn_boxed(task);
        handle
    }

    /// Binds a UDP socket at `addr`. Port 0 picks a free port; the unspecified address
    /// (`0.0.0.0`) binds on this host. Errors use the usual kinds: `AddrInUse`,
    /// `AddrNotAvailable` (an address this host does not own), `PermissionDenied`.
    fn bind_udp(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::UdpSocket>>;
}
