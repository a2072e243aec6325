//! Datagram sockets on simulated hosts and [`SimRuntime`], the simulator's implementation of
//! [`netrt::Runtime`]: protocol and application code written against `netrt` runs here in
//! virtual time, and on real sockets through `datapaths::tokio_rt`.
//!
//! Addressing: every node has the IPv4 address [`crate::topology::node_ip`] (node `n` is
//! `10.(n >> 8).(n & 255).1`), the same address pcap files show. A [`SimRuntime`] acts as one
//! host: its sockets bind on that host's address (or `0.0.0.0`, which means the same), port 0
//! picks a free ephemeral port (49152–65535, lowest free first, deterministic). Sends enter the
//! network at the host's egress port at the current virtual instant; receives wait in virtual
//! time. A datagram to the host's own address or to `127.0.0.1` takes the host's loopback: it
//! never enters the network and arrives after [`HostCosts::loopback`]. Deliberate differences
//! from real UDP: IPv4 only, and a socket buffers at most [`RECV_BUFFER_DATAGRAMS`] datagrams
//! (later arrivals are dropped and counted).
//!
//! Same-host IPC: [`SimRuntime::bind_ipc`] binds an [`IpcSocket`], a datagram socket addressed
//! by path on one host, like a Unix datagram socket: a send reaches the socket bound at that
//! path on the same host after [`HostCosts::ipc`] (the "cheaper same-host path" of the local
//! fast path); a send to a path nobody has bound fails with `NotFound`, as on Linux.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::task::{Poll, Waker};

use bytes::Bytes;
use netrt::{DatagramSocket, Duration, Instant, LocalBoxFuture, Runtime};
use sim_core::Handle;

use crate::events::Event;
use crate::packet::{Datagram, Ecn, FlowId, NodeId, Packet, PacketData, Payload, UDP_IP_HEADER};
use crate::topology::{node_for_ip, node_ip};

/// Largest datagram payload (a 64 KiB IP packet less headers).
pub const MAX_DATAGRAM: usize = 65_507;
/// Datagrams a socket buffers before dropping new arrivals.
pub const RECV_BUFFER_DATAGRAMS: usize = 4096;
/// The first ephemeral port.
pub const EPHEMERAL_PORTS: std::ops::RangeInclusive<u16> = 49_152..=65_535;

type Key = (NodeId, u16);
type IpcKey = (NodeId, PathBuf);

struct SocketState<A> {
    rx: VecDeque<(A, Bytes)>,
    /// Every task waiting in `recv` (several tasks may share one socket).
    wakers: Vec<Waker>,
    dropped: u64,
}

impl<A> Default for SocketState<A> {
    fn default() -> Self {
        SocketState {
            rx: VecDeque::new(),
            wakers: Vec::new(),
            dropped: 0,
        }
    }
}

impl<A> SocketState<A> {
    fn push(&mut self, from: A, payload: Bytes) {
        if self.rx.len() < RECV_BUFFER_DATAGRAMS {
            self.rx.push_back((from, payload));
            for w in self.wakers.drain(..) {
                w.wake();
            }
        } else {
            self.dropped += 1;
        }
    }

    fn poll_recv(&mut self, cx: &mut std::task::Context<'_>) -> Poll<(A, Bytes)> {
        match self.rx.pop_front() {
            Some(d) => Poll::Ready(d),
            None => {
                if !self.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    self.wakers.push(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

/// What same-host communication costs on every simulated host: one-way latencies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostCosts {
    /// A UDP datagram to the host itself (its own address or `127.0.0.1`).
    pub loopback: Duration,
    /// An [`IpcSocket`] datagram.
    pub ipc: Duration,
}

impl Default for HostCosts {
    /// Loopback 10 µs, IPC 5 µs: IPC is the cheaper same-host path. Experiments that stand in
    /// for real software set their own, from measured loopback figures.
    fn default() -> Self {
        HostCosts {
            loopback: Duration::from_micros(10),
            ipc: Duration::from_micros(5),
        }
    }
}

/// All bound sockets of one network. Keyed by (host, port) or (host, path) in `BTreeMap`s:
/// lookups only, and any iteration is in address order.
#[derive(Default)]
pub struct SocketTable {
    socks: BTreeMap<Key, SocketState<Key>>,
    ipc: BTreeMap<IpcKey, SocketState<PathBuf>>,
    costs: HostCosts,
    /// Datagrams that arrived for an unbound address.
    pub unbound_drops: u64,
}

impl SocketTable {
    pub(crate) fn deliver(&mut self, pkt: Packet) {
        let pkt = pkt.into_data();
        let Payload::Datagram(d) = pkt.payload else {
            return;
        };
        self.deliver_datagram((pkt.src, d.src_port), (pkt.dst, d.dst_port), d.payload);
    }

    fn deliver_datagram(&mut self, from: Key, to: Key, payload: Bytes) {
        match self.socks.get_mut(&to) {
            Some(s) => s.push(from, payload),
            None => self.unbound_drops += 1,
        }
    }

    fn free_port(&self, host: NodeId) -> Option<u16> {
        EPHEMERAL_PORTS
            .into_iter()
            .find(|p| !self.socks.contains_key(&(host, *p)))
    }
}

/// The simulator's [`Runtime`], acting as one host of a network (see the module docs). Made by
/// [`crate::Network::runtime`]; clones share the simulation.
#[derive(Clone)]
pub struct SimRuntime {
    handle: Handle<Event>,
    table: Rc<RefCell<SocketTable>>,
    host: NodeId,
}

impl SimRuntime {
    pub(crate) fn new(
        handle: Handle<Event>,
        table: Rc<RefCell<SocketTable>>,
        host: NodeId,
    ) -> Self {
        SimRuntime {
            handle,
            table,
            host,
        }
    }

    /// The host this runtime acts as.
    pub fn host(&self) -> NodeId {
        self.host
    }

    /// The host's IPv4 address.
    pub fn ip(&self) -> Ipv4Addr {
        node_ip(self.host)
    }

    /// The same simulation acting as another host (which must be a host of the network; it is
    /// not checked here, but datagrams to a non-host are dropped).
    pub fn for_host(&self, host: NodeId) -> SimRuntime {
        SimRuntime {
            host,
            ..self.clone()
        }
    }

    /// Sets what same-host communication costs on every host of the network.
    pub fn set_host_costs(&self, costs: HostCosts) {
        self.table.borrow_mut().costs = costs;
    }

    /// What same-host communication costs.
    pub fn host_costs(&self) -> HostCosts {
        self.table.borrow().costs
    }

    /// Binds a same-host IPC socket at `path` on this host (see the module docs).
    pub fn bind_ipc(&self, path: impl AsRef<Path>) -> io::Result<IpcSocket> {
        let key = (self.host, path.as_ref().to_path_buf());
        let mut t = self.table.borrow_mut();
        if t.ipc.contains_key(&key) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{} already bound on host {}", key.1.display(), self.host),
            ));
        }
        t.ipc.insert(key.clone(), SocketState::default());
        Ok(IpcSocket {
            local: key,
            rt: self.clone(),
        })
    }

    /// Delivers `payload` at `to` on this host after `latency` (a same-host path).
    fn deliver_later(&self, latency: Duration, deliver: impl FnOnce(&mut SocketTable) + 'static) {
        let table = self.table.clone();
        let at = self
            .handle
            .now()
            .checked_add(latency)
            .unwrap_or(Instant::MAX);
        self.handle.spawn_boxed(Box::pin(async move {
            sim_core::rt::sleep_until(at).await;
            deliver(&mut table.borrow_mut());
        }));
    }

    /// Binds a datagram socket at `addr` on this host (see the module docs for the rules).
    pub fn bind(&self, addr: SocketAddr) -> io::Result<UdpSocket> {
        let ours = matches!(addr.ip(), IpAddr::V4(ip) if ip.is_unspecified() || ip == self.ip());
        if !ours {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!(
                    "{} is not an address of simulated host {} ({})",
                    addr.ip(),
                    self.host,
                    self.ip()
                ),
            ));
        }
        let mut t = self.table.borrow_mut();
        let port = match addr.port() {
            0 => t.free_port(self.host).ok_or_else(|| {
                io::Error::new(io::ErrorKind::AddrInUse, "no free ephemeral port")
            })?,
            p => p,
        };
        let key = (self.host, port);
        if t.socks.contains_key(&key) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{}:{port} already in use", self.ip()),
            ));
        }
        t.socks.insert(key, SocketState::default());
        Ok(UdpSocket {
            local: key,
            rt: self.clone(),
        })
    }
}

impl Runtime for SimRuntime {
    type Sleep = sim_core::rt::Sleep;
    type UdpSocket = UdpSocket;

    fn now(&self) -> Instant {
        self.handle.now()
    }

    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        sim_core::rt::sleep_until(deadline)
    }

    fn spawn_boxed(&self, task: LocalBoxFuture<'static, ()>) {
        self.handle.spawn_boxed(task);
    }

    async fn bind_udp(&self, addr: SocketAddr) -> io::Result<UdpSocket> {
        self.bind(addr)
    }
}

/// A bound datagram socket on a simulated host, shaped like `tokio::net::UdpSocket`. Dropping
/// it unbinds the address.
pub struct UdpSocket {
    local: Key,
    rt: SimRuntime,
}

fn datagram_flow(src: Key, dst: Key) -> FlowId {
    let key = (u64::from(src.0) << 48)
        ^ (u64::from(src.1) << 32)
        ^ (u64::from(dst.0) << 16)
        ^ u64::from(dst.1);
    // High bit set: datagram flows never collide with transport flow indices.
    (sim_core::stable_hash(&key.to_le_bytes()) as u32) | 0x8000_0000
}

fn to_socket_addr(k: Key) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(node_ip(k.0), k.1))
}

impl UdpSocket {
    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(to_socket_addr(self.local))
    }

    /// Sends `buf` to `target`; it enters the network now. Returns the bytes sent.
    pub async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        if buf.len() > MAX_DATAGRAM {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "datagram of {} bytes exceeds the maximum of {MAX_DATAGRAM}",
                    buf.len()
                ),
            ));
        }
        let dst = match target.ip() {
            IpAddr::V4(ip) if ip.is_loopback() => Some(self.local.0),
            IpAddr::V4(ip) => node_for_ip(ip),
            IpAddr::V6(_) => None,
        };
        let Some(dst) = dst else {
            return Err(io::Error::new(
                io::ErrorKind::NetworkUnreachable,
                format!("{target} is not a host of the simulated network"),
            ));
        };
        if dst == self.local.0 {
            // The host's loopback: never on the network.
            let (from, to) = (self.local, (dst, target.port()));
            let payload = Bytes::copy_from_slice(buf);
            let lat = self.rt.host_costs().loopback;
            self.rt
                .deliver_later(lat, move |t| t.deliver_datagram(from, to, payload));
            return Ok(buf.len());
        }
        let now = self.rt.handle.now();
        let pkt = Packet::new(PacketData {
            id: 0,
            flow: datagram_flow(self.local, (dst, target.port())),
            src: self.local.0,
            dst,
            size: buf.len() as u32 + UDP_IP_HEADER,
            ecn: Ecn::NotEct,
            priority: 0,
            tag: 0,
            enqueued_at: now,
            payload: Payload::Datagram(Datagram {
                src_port: self.local.1,
                dst_port: target.port(),
                payload: Bytes::copy_from_slice(buf),
            }),
        });
        self.rt.handle.schedule_at(now, Event::Inject(pkt));
        Ok(buf.len())
    }

    /// Waits for a datagram; copies it into `buf` (truncating, like UDP) and returns its length
    /// and sender.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (from, data) = self.recv().await;
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        Ok((n, from))
    }

    /// Waits for a datagram and returns it whole, without copying.
    pub async fn recv(&self) -> (SocketAddr, Bytes) {
        let (from, d) = std::future::poll_fn(|cx| {
            let mut t = self.rt.table.borrow_mut();
            match t.socks.get_mut(&self.local) {
                Some(s) => s.poll_recv(cx),
                None => Poll::Pending,
            }
        })
        .await;
        (to_socket_addr(from), d)
    }

    /// Datagrams dropped because this socket's buffer was full.
    pub fn dropped(&self) -> u64 {
        self.rt
            .table
            .borrow()
            .socks
            .get(&self.local)
            .map_or(0, |s| s.dropped)
    }
}

impl DatagramSocket for UdpSocket {
    type Addr = SocketAddr;

    async fn send_to(&self, buf: &[u8], target: &SocketAddr) -> io::Result<usize> {
        UdpSocket::send_to(self, buf, *target).await
    }

    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        UdpSocket::recv_from(self, buf).await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        UdpSocket::local_addr(self)
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        if let Ok(mut t) = self.rt.table.try_borrow_mut() {
            t.socks.remove(&self.local);
        }
    }
}

/// A same-host datagram socket addressed by path, like a Unix datagram socket (see the module
/// docs). Dropping it unbinds the path.
pub struct IpcSocket {
    local: IpcKey,
    rt: SimRuntime,
}

impl IpcSocket {
    /// Datagrams dropped because this socket's buffer was full.
    pub fn dropped(&self) -> u64 {
        self.rt
            .table
            .borrow()
            .ipc
            .get(&self.local)
            .map_or(0, |s| s.dropped)
    }
}

impl DatagramSocket for IpcSocket {
    type Addr = PathBuf;

    async fn send_to(&self, buf: &[u8], target: &PathBuf) -> io::Result<usize> {
        if buf.len() > MAX_DATAGRAM {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "datagram of {} bytes exceeds the maximum of {MAX_DATAGRAM}",
                    buf.len()
                ),
            ));
        }
        let to = (self.local.0, target.clone());
        if !self.rt.table.borrow().ipc.contains_key(&to) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no IPC socket at {} on host {}", target.display(), to.0),
            ));
        }
        let from = self.local.1.clone();
        let payload = Bytes::copy_from_slice(buf);
        let lat = self.rt.host_costs().ipc;
        self.rt.deliver_later(lat, move |t| {
            // Unbound in the meantime: lost, as a datagram to a closed Unix socket.
            match t.ipc.get_mut(&to) {
                Some(s) => s.push(from, payload),
                None => t.unbound_drops += 1,
            }
        });
        Ok(buf.len())
    }

    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, PathBuf)> {
        let (from, d) = std::future::poll_fn(|cx| {
            let mut t = self.rt.table.borrow_mut();
            match t.ipc.get_mut(&self.local) {
                Some(s) => s.poll_recv(cx),
                None => Poll::Pending,
            }
        })
        .await;
        let n = d.len().min(buf.len());
        buf[..n].copy_from_slice(&d[..n]);
        Ok((n, from))
    }

    fn local_addr(&self) -> io::Result<PathBuf> {
        Ok(self.local.1.clone())
    }
}

impl Drop for IpcSocket {
    fn drop(&mut self) {
        if let Ok(mut t) = self.rt.table.try_borrow_mut() {
            t.ipc.remove(&self.local);
        }
    }
}
