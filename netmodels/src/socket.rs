//! Datagram (UDP-like) sockets on simulated hosts, with an async API shaped like
//! `tokio::net::UdpSocket`: `bind`, `send_to`, `recv_from`, `local_addr`. Sends enter the network
//! at the sending host's egress port at the current virtual instant; receives wait in virtual
//! time. Later issues build Chunnel base connections on these.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::rc::Rc;
use std::task::{Poll, Waker};

use bytes::Bytes;
use sim_core::Handle;

use crate::network::Event;
use crate::packet::{Datagram, Ecn, FlowId, NodeId, Packet, Payload, UDP_IP_HEADER};

/// A socket address on the simulated network: a host and a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimAddr {
    /// The host.
    pub node: NodeId,
    /// The port.
    pub port: u16,
}

impl SimAddr {
    /// The address `node:port`.
    pub fn new(node: NodeId, port: u16) -> Self {
        SimAddr { node, port }
    }
}

impl fmt::Display for SimAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.node, self.port)
    }
}

/// Socket errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SocketError {
    /// Another socket is bound to the address.
    #[error("address {0} already in use")]
    AddrInUse(SimAddr),
    /// The datagram does not fit in one packet.
    #[error("datagram of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Largest datagram payload (a 64 KiB IP packet less headers).
pub const MAX_DATAGRAM: usize = 65_507;
/// Datagrams a socket buffers before dropping new arrivals.
pub const RECV_BUFFER_DATAGRAMS: usize = 4096;

#[derive(Default)]
struct SocketState {
    rx: VecDeque<(SimAddr, Bytes)>,
    /// Every task waiting in `recv` (several tasks may share one socket).
    wakers: Vec<Waker>,
    dropped: u64,
}

/// All bound sockets of one network. Keyed by address in a `BTreeMap`: lookups only, and any
/// iteration is in address order.
#[derive(Default)]
pub struct SocketTable {
    socks: BTreeMap<SimAddr, SocketState>,
    /// Datagrams that arrived for an unbound address.
    pub unbound_drops: u64,
}

impl SocketTable {
    pub(crate) fn deliver(&mut self, pkt: Packet) {
        let Payload::Datagram(d) = pkt.payload else {
            return;
        };
        let to = SimAddr::new(pkt.dst, d.dst_port);
        match self.socks.get_mut(&to) {
            Some(s) if s.rx.len() < RECV_BUFFER_DATAGRAMS => {
                s.rx.push_back((SimAddr::new(pkt.src, d.src_port), d.payload));
                for w in s.wakers.drain(..) {
                    w.wake();
                }
            }
            Some(s) => s.dropped += 1,
            None => self.unbound_drops += 1,
        }
    }
}

/// What tasks need to open sockets on a running network.
#[derive(Clone)]
pub struct NetApi {
    handle: Handle<Event>,
    table: Rc<RefCell<SocketTable>>,
}

impl NetApi {
    pub(crate) fn new(handle: Handle<Event>, table: Rc<RefCell<SocketTable>>) -> Self {
        NetApi { handle, table }
    }

    /// Binds a datagram socket at `addr`.
    pub fn bind(&self, addr: SimAddr) -> Result<UdpSocket, SocketError> {
        let mut t = self.table.borrow_mut();
        if t.socks.contains_key(&addr) {
            return Err(SocketError::AddrInUse(addr));
        }
        t.socks.insert(addr, SocketState::default());
        Ok(UdpSocket {
            local: addr,
            api: self.clone(),
        })
    }
}

/// A bound datagram socket. Dropping it unbinds the address.
pub struct UdpSocket {
    local: SimAddr,
    api: NetApi,
}

fn datagram_flow(src: SimAddr, dst: SimAddr) -> FlowId {
    let key = (u64::from(src.node) << 48)
        ^ (u64::from(src.port) << 32)
        ^ (u64::from(dst.node) << 16)
        ^ u64::from(dst.port);
    // High bit set: datagram flows never collide with transport flow indices.
    (sim_core::stable_hash(&key.to_le_bytes()) as u32) | 0x8000_0000
}

impl UdpSocket {
    /// The bound address.
    pub fn local_addr(&self) -> SimAddr {
        self.local
    }

    /// Sends `buf` to `target`; it enters the network now. Returns the bytes sent.
    pub async fn send_to(&self, buf: &[u8], target: SimAddr) -> Result<usize, SocketError> {
        if buf.len() > MAX_DATAGRAM {
            return Err(SocketError::TooLarge {
                len: buf.len(),
                max: MAX_DATAGRAM,
            });
        }
        let pkt = Packet {
            id: 0,
            flow: datagram_flow(self.local, target),
            src: self.local.node,
            dst: target.node,
            size: buf.len() as u32 + UDP_IP_HEADER,
            ecn: Ecn::NotEct,
            priority: 0,
            enqueued_at: self.api.handle.now(),
            payload: Payload::Datagram(Datagram {
                src_port: self.local.port,
                dst_port: target.port,
                payload: Bytes::copy_from_slice(buf),
            }),
        };
        let now = self.api.handle.now();
        self.api
            .handle
            .schedule_at(now, Event::Inject(Box::new(pkt)));
        Ok(buf.len())
    }

    /// Waits for a datagram; copies it into `buf` (truncating, like UDP) and returns its length
    /// and sender.
    pub async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SimAddr), SocketError> {
        let (from, data) = self.recv().await;
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        Ok((n, from))
    }

    /// Waits for a datagram and returns it whole.
    pub async fn recv(&self) -> (SimAddr, Bytes) {
        std::future::poll_fn(|cx| {
            let mut t = self.api.table.borrow_mut();
            let Some(s) = t.socks.get_mut(&self.local) else {
                return Poll::Pending;
            };
            match s.rx.pop_front() {
                Some(d) => Poll::Ready(d),
                None => {
                    if !s.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                        s.wakers.push(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Datagrams dropped because this socket's buffer was full.
    pub fn dropped(&self) -> u64 {
        self.api
            .table
            .borrow()
            .socks
            .get(&self.local)
            .map_or(0, |s| s.dropped)
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        if let Ok(mut t) = self.api.table.try_borrow_mut() {
            t.socks.remove(&self.local);
        }
    }
}
