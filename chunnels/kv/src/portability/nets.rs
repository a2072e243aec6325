//! The backends of a portability run: how each binds its sockets.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use datapaths::tokio_rt::TokioRuntime;
use netrt::{DatagramSocket, Runtime};

use crate::KvError;
use datapaths::inproc::MemNet;

/// How a backend binds sockets (on the runtime of the thread that will use them).
pub(super) trait Net: Clone + Send + 'static {
    type Addr: Clone + Debug + Ord + Send + 'static;
    type Socket: DatagramSocket<Addr = Self::Addr> + 'static;
    async fn bind(&self, rt: &TokioRuntime) -> std::io::Result<Self::Socket>;
}

pub(super) fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

#[derive(Clone)]
pub(super) struct UdpNet;

impl Net for UdpNet {
    type Addr = SocketAddr;
    type Socket = datapaths::tokio_rt::UdpSocket;
    async fn bind(&self, rt: &TokioRuntime) -> std::io::Result<Self::Socket> {
        rt.bind_udp(loopback()).await
    }
}

#[derive(Clone)]
pub(super) struct TcpNet;

impl Net for TcpNet {
    type Addr = SocketAddr;
    type Socket = datapaths::tcp_dgram::TcpDatagrams;
    async fn bind(&self, rt: &TokioRuntime) -> std::io::Result<Self::Socket> {
        rt.bind_tcp(loopback()).await
    }
}

#[derive(Clone)]
pub(super) struct UnixNet {
    pub(super) dir: Arc<PathBuf>,
    pub(super) next: Arc<AtomicU64>,
}

impl Net for UnixNet {
    type Addr = datapaths::tokio_rt::UnixAddr;
    type Socket = datapaths::tokio_rt::UnixDatagram;
    async fn bind(&self, rt: &TokioRuntime) -> std::io::Result<Self::Socket> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        rt.bind_unix(self.dir.join(format!("s{n}")))
    }
}

impl Net for MemNet {
    type Addr = u32;
    type Socket = datapaths::inproc::MemSocket;
    async fn bind(&self, _rt: &TokioRuntime) -> std::io::Result<Self::Socket> {
        Ok(MemNet::bind(self))
    }
}

/// A fresh directory for Unix socket paths, removed when dropped.
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    pub(super) fn new() -> Result<Self, KvError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "kvstore-port-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
