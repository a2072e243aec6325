//! netrt's runtime boundary on tokio: [`TokioRuntime`] implements [`netrt::Runtime`] on a
//! current-thread tokio runtime with a [`tokio::task::LocalSet`], so tasks need not be `Send`
//! (as on the simulator). Real sockets: [`UdpSocket`] (`Addr = SocketAddr`) and
//! [`UnixDatagram`] (`Addr = `[`UnixAddr`], a path shared by its clones), both
//! [`netrt::DatagramSocket`]s.
//!
//! ```
//! use datapaths::tokio_rt::TokioRuntime;
//! use netrt::{DatagramSocket, Duration, Runtime};
//!
//! # fn main() -> std::io::Result<()> {
//! let rt = TokioRuntime::new()?;
//! rt.block_on(async {
//!     let sock = rt.bind_udp("127.0.0.1:0".parse().unwrap()).await?;
//!     let mut buf = [0u8; 1500];
//!     match rt.timeout(Duration::from_millis(10), sock.recv_from(&mut buf)).await {
//!         Ok(r) => println!("got {:?}", r?),
//!         Err(elapsed) => println!("{elapsed}"),
//!     }
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # Ownership
//! The value [`TokioRuntime::new`] returns owns the tokio runtime and its `LocalSet`; its
//! clones are handles that do not keep them alive (tasks hold clones, and a task set that
//! owned itself would never be dropped). Dropping the owner drops every task not yet finished
//! (their [`netrt::JoinHandle`]s resolve to [`netrt::JoinError::Cancelled`]) and shuts the
//! runtime down. Through a handle whose owner is gone, `spawn` drops the task, `bind_udp`
//! and [`TokioRuntime::bind_unix`] fail with an `io::Error`, and a sleep never completes.
//!
//! # Time
//! [`Runtime::now`] is the monotonic time since [`TokioRuntime::new`], as a [`netrt::Instant`];
//! instants of different runtimes are not comparable. Timers have tokio's millisecond
//! granularity.

use netrt::{Duration, Instant, LocalBoxFuture, Runtime};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

/// The address of a Unix datagram socket bound to a path: the path, shared by its clones.
///
/// A datagram API that takes owned addresses (a Chunnel connection carries `(address,
/// bytes)` pairs) clones the destination for every message it sends; with a `PathBuf` that
/// is an allocation and a copy of the path per message, which the socket never needed. An
/// `Arc<Path>` clone is a reference count; it compares, orders and hashes as the [`Path`]
/// (and two clones of one address are equal without looking at the path). Make one with
/// `UnixAddr::from(path)` from a `&Path` or a `PathBuf`.
pub type UnixAddr = Arc<Path>;

/// Largest UDP payload over IPv4: 65,535 − 20 (IP header) − 8 (UDP header).
pub const MAX_UDP_PAYLOAD_V4: usize = 65_507;
/// Largest UDP payload over IPv6 without jumbograms: 65,535 − 8 (UDP header).
pub const MAX_UDP_PAYLOAD_V6: usize = 65_527;

/// What the owner keeps alive. Fields drop in order: the tasks (which may own sockets and
/// timers registered with the runtime) before the runtime itself.
struct Core {
    local: tokio::task::LocalSet,
    rt: tokio::runtime::Runtime,
}

/// A current-thread tokio runtime with a `LocalSet`, behind [`netrt::Runtime`].
///
/// See the [module documentation](self) for who owns what.
pub struct TokioRuntime {
    /// Set in the value `new` returned, `None` in clones.
    owner: Option<Rc<Core>>,
    core: Weak<Core>,
    handle: tokio::runtime::Handle,
    epoch: tokio::time::Instant,
}

impl Clone for TokioRuntime {
    /// A handle to the same runtime; it does not keep the runtime alive.
    fn clone(&self) -> Self {
        TokioRuntime {
            owner: None,
            core: self.core.clone(),
            handle: self.handle.clone(),
            epoch: self.epoch,
        }
    }
}

impl std::fmt::Debug for TokioRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokioRuntime")
            .field("owner", &self.owner.is_some())
            .field("alive", &(self.core.strong_count() > 0))
            .field("now", &self.now())
            .finish()
    }
}

fn runtime_gone() -> io::Error {
    io::Error::other("the TokioRuntime this handle belongs to was dropped")
}

impl TokioRuntime {
    /// Builds a current-thread runtime (I/O and timers enabled) with an empty `LocalSet`. The
    /// clock starts now.
    pub fn new() -> io::Result<TokioRuntime> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let handle = rt.handle().clone();
        let core = Rc::new(Core {
            local: tokio::task::LocalSet::new(),
            rt,
        });
        Ok(TokioRuntime {
            core: Rc::downgrade(&core),
            owner: Some(core),
            handle,
            epoch: tokio::time::Instant::now(),
        })
    }

    /// Runs `fut` (which need not be `Send`) to completion on this thread, together with the
    /// tasks spawned on this runtime; returns its output. Tasks still unfinished when `fut`
    /// completes stay queued and run again at the next `block_on`.
    ///
    /// # Panics
    /// If called from inside a task of any tokio runtime (tokio does not nest `block_on`), or
    /// through a handle whose owner was dropped.
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        let Some(core) = self.core.upgrade() else {
            panic!("TokioRuntime::block_on through a handle whose runtime was dropped");
        };
        core.local.block_on(&core.rt, fut)
    }

    /// Whether this value owns the runtime (it came from [`TokioRuntime::new`], not `clone`).
    pub fn is_owner(&self) -> bool {
        self.owner.is_some()
    }

    /// Binds a Unix datagram socket at `path` (which must not exist yet; remove a stale socket
    /// file first). The file is left in place when the socket is dropped, as tokio and std
    /// leave it.
    pub fn bind_unix(&self, path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        if self.core.strong_count() == 0 {
            return Err(runtime_gone());
        }
        let _ctx = self.handle.enter();
        tokio::net::UnixDatagram::bind(path).map(|inner| UnixDatagram {
            inner,
            last_from: Mutex::new(None),
        })
    }

    /// Binds a datagram socket over TCP at `addr` (a listener; port 0 picks one): see
    /// [`crate::tcp_dgram`].
    pub async fn bind_tcp(&self, addr: SocketAddr) -> io::Result<crate::tcp_dgram::TcpDatagrams> {
        if self.core.strong_count() == 0 {
            return Err(runtime_gone());
        }
        crate::tcp_dgram::TcpDatagrams::bind(self.clone(), addr).await
    }

    fn tokio_instant(&self, t: Instant) -> tokio::time::Instant {
        let since = std::time::Duration::from(t.since_epoch());
        // Past what the platform clock can represent: 30 years from now is never, as tokio
        // itself treats it.
        self.epoch.checked_add(since).unwrap_or_else(|| {
            tokio::time::Instant::now() + std::time::Duration::from_secs(86_400 * 365 * 30)
        })
    }
}

/// The future of [`TokioRuntime::sleep_until`]: a tokio timer.
#[derive(Debug)]
pub struct Sleep {
    /// `None`: the runtime was gone when the sleep was made; it never completes.
    inner: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Sleep {
    /// The deadline, on tokio's clock (`None` if the sleep never completes).
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        self.inner.as_ref().map(|s| s.deadline())
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.inner.as_mut() {
            Some(s) => s.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }
}

impl Runtime for TokioRuntime {
    type Sleep = Sleep;
    type UdpSocket = UdpSocket;

    fn now(&self) -> Instant {
        Instant::ZERO + Duration::from(self.epoch.elapsed())
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        if self.core.strong_count() == 0 {
            return Sleep { inner: None };
        }
        let at = self.tokio_instant(deadline);
        // A timer needs the runtime's context to find its driver; entering it here lets a
        // sleep (or a `timeout`) be made outside `block_on` too.
        let _ctx = self.handle.enter();
        Sleep {
            inner: Some(Box::pin(tokio::time::sleep_until(at))),
        }
    }

    fn spawn_boxed(&self, task: LocalBoxFuture<'static, ()>) {
        // `LocalSet::spawn_local`: tokio's `spawn_local` on this runtime's set, which (unlike
        // the free function) also works outside `block_on`; the task runs at the next one.
        if let Some(core) = self.core.upgrade() {
            drop(core.local.spawn_local(task));
        }
        // Otherwise the task is dropped here and its JoinHandle says Cancelled.
    }

    fn bind_udp(&self, addr: SocketAddr) -> impl Future<Output = io::Result<UdpSocket>> {
        let alive = self.core.strong_count() > 0;
        let handle = self.handle.clone();
        async move {
            if !alive {
                return Err(runtime_gone());
            }
            let sock = std::net::UdpSocket::bind(addr)?;
            sock.set_nonblocking(true)?;
            let _ctx = handle.enter();
            let max_payload = match sock.local_addr()? {
                SocketAddr::V4(_) => MAX_UDP_PAYLOAD_V4,
                SocketAddr::V6(_) => MAX_UDP_PAYLOAD_V6,
            };
            let inner = tokio::net::UdpSocket::from_std(sock)?;
            Ok(UdpSocket { inner, max_payload })
        }
    }
}

/// `EMSGSIZE`, which std reports without a specific [`io::ErrorKind`].
#[cfg(any(target_os = "linux", target_os = "android"))]
const EMSGSIZE: Option<i32> = Some(90);
#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly"
))]
const EMSGSIZE: Option<i32> = Some(40);
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly"
)))]
const EMSGSIZE: Option<i32> = None;

/// A send error, with "message too long" given the kind [`io::ErrorKind::InvalidInput`].
fn send_error(e: io::Error, len: usize) -> io::Error {
    if EMSGSIZE.is_some() && e.raw_os_error() == EMSGSIZE {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("datagram of {len} bytes is too large for the socket ({e})"),
        )
    } else {
        e
    }
}

/// A UDP socket on a [`TokioRuntime`]; made by [`Runtime::bind_udp`].
#[derive(Debug)]
pub struct UdpSocket {
    inner: tokio::net::UdpSocket,
    /// By address family: [`MAX_UDP_PAYLOAD_V4`] or [`MAX_UDP_PAYLOAD_V6`].
    max_payload: usize,
}

impl UdpSocket {
    /// The tokio socket, for what the trait does not cover (socket options, `connect`).
    pub fn get_ref(&self) -> &tokio::net::UdpSocket {
        &self.inner
    }
}

impl netrt::DatagramSocket for UdpSocket {
    type Addr = SocketAddr;

    /// A datagram above [`MAX_UDP_PAYLOAD_V4`] (IPv4 socket) or [`MAX_UDP_PAYLOAD_V6`] (IPv6
    /// socket) is refused with [`io::ErrorKind::InvalidInput`] before the kernel sees it.
    async fn send_to(&self, buf: &[u8], target: &SocketAddr) -> io::Result<usize> {
        if buf.len() > self.max_payload {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "datagram of {} bytes exceeds the UDP maximum of {}",
                    buf.len(),
                    self.max_payload
                ),
            ));
        }
        self.inner
            .send_to(buf, target)
            .await
            .map_err(|e| send_error(e, buf.len()))
    }

    fn recv_from(&self, buf: &mut [u8]) -> impl Future<Output = io::Result<(usize, SocketAddr)>> {
        self.inner.recv_from(buf)
    }

    const POLL_RECV: bool = true;

    /// tokio's `UdpSocket::poll_recv_from`, which keeps the waker in the socket's reader slot.
    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        let mut rb = tokio::io::ReadBuf::new(buf);
        self.inner
            .poll_recv_from(cx, &mut rb)
            .map_ok(|from| (rb.filled().len(), from))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A Unix datagram socket on a [`TokioRuntime`], addressed by path ([`UnixAddr`]); made by
/// [`TokioRuntime::bind_unix`].
///
/// Only path addresses are supported: a datagram from an unbound ("unnamed") or
/// abstract-namespace socket has no path to answer to, so [`netrt::DatagramSocket::recv_from`]
/// consumes it and returns an error of kind [`io::ErrorKind::AddrNotAvailable`] (the next call
/// receives the next datagram).
///
/// The socket remembers the address of the last sender: a datagram from the same path (byte
/// for byte) is reported with a clone of that address, so a run of datagrams from one peer
/// allocates no address.
#[derive(Debug)]
pub struct UnixDatagram {
    inner: tokio::net::UnixDatagram,
    last_from: Mutex<Option<UnixAddr>>,
}

impl UnixDatagram {
    /// The tokio socket, for what the trait does not cover.
    pub fn get_ref(&self) -> &tokio::net::UnixDatagram {
        &self.inner
    }

    /// The sender `addr` of a datagram of `n` bytes as a [`UnixAddr`]: the remembered last
    /// sender's if it is the same path, otherwise a new one, remembered.
    fn sender(&self, addr: &tokio::net::unix::SocketAddr, n: usize) -> io::Result<UnixAddr> {
        let Some(path) = addr.as_pathname() else {
            return Err(unix_path_error(|| {
                format!("the sender of a {n}-byte datagram")
            }));
        };
        // `try_lock`: the socket is used from one thread at a time; if another holds the
        // memory anyway, this datagram's address is simply not shared.
        let Ok(mut last) = self.last_from.try_lock() else {
            return Ok(UnixAddr::from(path));
        };
        match &*last {
            Some(a) if a.as_os_str().as_encoded_bytes() == path.as_os_str().as_encoded_bytes() => {
                Ok(a.clone())
            }
            _ => {
                let a = UnixAddr::from(path);
                *last = Some(a.clone());
                Ok(a)
            }
        }
    }

    /// Forgets the remembered last sender (for tests of the first datagram from a path).
    #[doc(hidden)]
    pub fn forget_last_sender(&self) {
        *self
            .last_from
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// The error for an address that is not a path; `what` names it, formatted only here.
#[cold]
fn unix_path_error(what: impl FnOnce() -> String) -> io::Error {
    io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        format!(
            "{} is an unnamed or abstract Unix socket address, not a path",
            what()
        ),
    )
}

impl netrt::DatagramSocket for UnixDatagram {
    type Addr = UnixAddr;

    /// A datagram larger than the socket's send buffer is refused with
    /// [`io::ErrorKind::InvalidInput`].
    async fn send_to(&self, buf: &[u8], target: &UnixAddr) -> io::Result<usize> {
        self.inner
            .send_to(buf, &**target)
            .await
            .map_err(|e| send_error(e, buf.len()))
    }

    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, UnixAddr)> {
        let (n, from) = self.inner.recv_from(buf).await?;
        Ok((n, self.sender(&from, n)?))
    }

    const POLL_RECV: bool = true;

    /// tokio's `UnixDatagram::poll_recv_from`, which keeps the waker in the socket's reader
    /// slot.
    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, UnixAddr)>> {
        let mut rb = tokio::io::ReadBuf::new(buf);
        self.inner.poll_recv_from(cx, &mut rb).map(|r| {
            let n = rb.filled().len();
            Ok((n, self.sender(&r?, n)?))
        })
    }

    fn local_addr(&self) -> io::Result<UnixAddr> {
        let a = self.inner.local_addr()?;
        a.as_pathname()
            .map(UnixAddr::from)
            .ok_or_else(|| unix_path_error(|| "this socket's address".to_string()))
    }
}
