//! Test Chunnels, a lossy socket wrapper and the echo application used on both runtimes.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use chunnel::negotiate::{self, DataConn, NegotiateConfig, Negotiated};
use chunnel::{Chunnel, ChunnelConnection, Compat, Describe, Error, Negotiate, Offer, Registry};
use netmodels::network::NetworkOptions;
use netmodels::topology::LinkParams;
use netmodels::{Network, TopologyConfig};
use netrt::{DatagramSocket, Runtime};
use sim_core::{RngStreams, Simulation};

/// A test layer: prefixes one byte on send and checks it on receive. Its capability is
/// configurable so tests can build compatible and incompatible stacks.
#[derive(Clone, Debug)]
pub struct Tag {
    pub offer: Offer,
    pub byte: u8,
}

impl Tag {
    pub fn exact(chunnel: &str, label: &str) -> Self {
        Tag {
            offer: Offer::new(chunnel, label, Compat::Exact).label(label),
            byte: chunnel.bytes().next().unwrap_or(b'?'),
        }
    }
}

impl Negotiate for Tag {
    fn capability(&self) -> Offer {
        self.offer.clone()
    }
}

pub struct TagConn<C> {
    inner: C,
    byte: u8,
}

impl<A, C: ChunnelConnection<Data = (A, Vec<u8>)>> ChunnelConnection for TagConn<C> {
    type Data = (A, Vec<u8>);

    async fn send(&self, (a, mut d): Self::Data) -> Result<(), Error> {
        if self.byte != 0 {
            d.insert(0, self.byte);
        }
        self.inner.send((a, d)).await
    }

    async fn recv(&self) -> Result<Self::Data, Error> {
        let (a, mut d) = self.inner.recv().await?;
        if self.byte != 0 {
            if d.first() != Some(&self.byte) {
                return Err(Error::decode("tag", "missing tag byte"));
            }
            d.remove(0);
        }
        Ok((a, d))
    }
}

impl<A, C: ChunnelConnection<Data = (A, Vec<u8>)>> Chunnel<C> for Tag {
    type Connection = TagConn<C>;

    async fn connect_wrap(&mut self, inner: C) -> Result<TagConn<C>, Error> {
        Ok(TagConn {
            inner,
            byte: self.byte,
        })
    }
}

/// A socket that drops the sends whose (0-based) index is in `drop_sends`.
pub struct Lossy<S> {
    pub inner: S,
    pub sends: Cell<u32>,
    pub drop_sends: Vec<u32>,
}

impl<S: DatagramSocket> DatagramSocket for Lossy<S> {
    type Addr = S::Addr;

    async fn send_to(&self, buf: &[u8], target: &Self::Addr) -> io::Result<usize> {
        let i = self.sends.get();
        self.sends.set(i + 1);
        if self.drop_sends.contains(&i) {
            return Ok(buf.len());
        }
        self.inner.send_to(buf, target).await
    }

    fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> impl std::future::Future<Output = io::Result<(usize, Self::Addr)>> {
        self.inner.recv_from(buf)
    }

    const POLL_RECV: bool = S::POLL_RECV;

    fn poll_recv_from(
        &self,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<io::Result<(usize, S::Addr)>> {
        self.inner.poll_recv_from(cx, buf)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A two-host simulation (1 Gbit/s, 0.5 ms per link, 2 ms RTT) with runtimes for the client
/// (node 0) and the server (node 1).
pub fn sim() -> (
    Simulation<Network>,
    netmodels::SimRuntime,
    netmodels::SimRuntime,
) {
    let topo = TopologyConfig::Star {
        senders: 1,
        link: LinkParams::fixed(1_000_000_000, 500.0, 100),
        receiver_link: None,
    }
    .build()
    .unwrap();
    let net = Network::new(topo, NetworkOptions::default(), &RngStreams::new(1)).unwrap();
    let sim = Simulation::new(net);
    let c = sim.model().runtime(sim.handle(), 0).unwrap();
    let s = sim.model().runtime(sim.handle(), 1).unwrap();
    (sim, c, s)
}

/// What one run of the echo application saw.
#[derive(Debug)]
pub struct EchoReport {
    pub client: Negotiated,
    pub server: Negotiated,
    pub echoed: Vec<Vec<u8>>,
}

/// Serves an echo on `listener`'s connections (one task per connection).
pub fn serve_echo<R, S, C>(
    rt: &R,
    listener: negotiate::Listener<S, C>,
) -> Rc<Cell<Option<Negotiated>>>
where
    R: Runtime,
    S: DatagramSocket<Addr = SocketAddr> + 'static,
    C: ChunnelConnection<Data = (SocketAddr, Vec<u8>)> + 'static,
{
    let last = Rc::new(Cell::new(None));
    let slot = last.clone();
    let rt2 = rt.clone();
    rt.spawn(async move {
        let listener = listener;
        while let Ok((_peer, conn, info)) = listener.accept().await {
            slot.set(Some(info));
            rt2.spawn(async move {
                while let Ok((from, d)) = conn.recv().await {
                    if conn.send((from, d)).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    last
}

/// The echo application: binds a server on `srv_rt` with `server_stack`, connects from
/// `cli_rt` with `client_stack`, sends `msgs` and collects the echoes.
pub async fn echo_app<R, St, Ct>(
    srv_rt: R,
    cli_rt: R,
    server_bind: SocketAddr,
    server_stack: St,
    client_stack: Ct,
    msgs: Vec<Vec<u8>>,
) -> Result<EchoReport, Error>
where
    R: Runtime,
    St: Describe + Chunnel<DataConn<R::UdpSocket>> + Clone + 'static,
    St::Connection: ChunnelConnection<Data = (SocketAddr, Vec<u8>)> + 'static,
    Ct: Describe + Chunnel<DataConn<R::UdpSocket>>,
    Ct::Connection: ChunnelConnection<Data = (SocketAddr, Vec<u8>)>,
{
    let ssock = srv_rt.bind_udp(server_bind).await?;
    let saddr = ssock.local_addr()?;
    let csock = cli_rt.bind_udp(unspecified(saddr)).await?;
    echo_over(
        srv_rt,
        cli_rt,
        ssock,
        csock,
        server_stack,
        client_stack,
        msgs,
    )
    .await
}

/// The echo application over already-bound sockets of any kind (UDP, simulated, TCP).
pub async fn echo_over<R, S, St, Ct>(
    srv_rt: R,
    cli_rt: R,
    ssock: S,
    csock: S,
    server_stack: St,
    client_stack: Ct,
    msgs: Vec<Vec<u8>>,
) -> Result<EchoReport, Error>
where
    R: Runtime,
    S: DatagramSocket<Addr = SocketAddr> + 'static,
    St: Describe + Chunnel<DataConn<S>> + Clone + 'static,
    St::Connection: ChunnelConnection<Data = (SocketAddr, Vec<u8>)> + 'static,
    Ct: Describe + Chunnel<DataConn<S>>,
    Ct::Connection: ChunnelConnection<Data = (SocketAddr, Vec<u8>)>,
{
    let saddr = ssock.local_addr()?;
    let listener = negotiate::listen(
        &srv_rt,
        Rc::new(ssock),
        server_stack,
        Registry::new(),
        NegotiateConfig::default(),
    );
    let last = serve_echo(&srv_rt, listener);
    let (conn, info) = negotiate::connect(
        &cli_rt,
        Rc::new(csock),
        saddr,
        client_stack,
        &Registry::new(),
        &NegotiateConfig::default(),
    )
    .await?;
    let mut echoed = Vec::new();
    for m in msgs {
        conn.send((saddr, m)).await?;
        echoed.push(conn.recv().await?.1);
    }
    Ok(EchoReport {
        client: info,
        server: last.take().expect("the server negotiated"),
        echoed,
    })
}

pub fn unspecified(server: SocketAddr) -> SocketAddr {
    if server.ip().is_loopback() {
        "127.0.0.1:0".parse().unwrap()
    } else {
        "0.0.0.0:0".parse().unwrap()
    }
}
