//! The client: connects to the front address with a stack that either pushes requests to
//! the shards itself or leaves sharding to the server, and issues requests.
//!
//! - [`ClientMode::Push`]: `stack![ClientShard(shard addresses), bincode]`, which only the
//!   server's `AcceptClientPush` branch matches: requests go straight to the shards' sockets.
//! - [`ClientMode::Plain`]: `stack![bincode]`: the server picks the sharding (the switch
//!   offload when deployed and free, otherwise its host fallback).
//!
//! "Mixed" deployments are clients of both modes against one server. Replies carry the
//! request id; the client does not care which address a reply comes from.

use std::net::SocketAddr;
use std::rc::Rc;

use chunnel::negotiate::{self, DataConn, Negotiated};
use chunnel::{stack, ChunnelConnection, Either, NegotiateConfig, Registry};
use chunnels::serialize::{bincode, SerializeConn};
use chunnels::shard::{ClientShard, ClientShardConn};
use netrt::{Duration, Runtime};

use crate::msg::Msg;
use crate::KvError;

/// How a client shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientMode {
    /// Client-side sharding (client push).
    Push,
    /// No sharding layer: the server decides (offload or host fallback).
    Plain,
}

type Ser<S> = SerializeConn<DataConn<S>, Msg>;

/// The connection of a client on sockets `S`.
pub type ClientConn<S> =
    Either<ClientShardConn<Ser<S>, <S as netrt::DatagramSocket>::Addr>, Ser<S>>;

/// A connected client.
pub struct KvClient<S: netrt::DatagramSocket> {
    conn: ClientConn<S>,
    front: S::Addr,
    negotiated: Negotiated,
}

impl<S: netrt::DatagramSocket<Addr = SocketAddr> + 'static> KvClient<S> {
    /// Connects to the server at `front` in `mode` (`shards`: the shards' addresses, used by
    /// [`ClientMode::Push`]), from a fresh socket.
    pub async fn connect<R: Runtime<UdpSocket = S>>(
        rt: &R,
        mode: ClientMode,
        front: SocketAddr,
        shards: &[SocketAddr],
    ) -> Result<Self, KvError> {
        let bind: SocketAddr = if front.ip().is_loopback() {
            SocketAddr::from(([127, 0, 0, 1], 0))
        } else {
            SocketAddr::from(([0, 0, 0, 0], 0))
        };
        let sock = Rc::new(rt.bind_udp(bind).await?);
        Self::connect_over(rt, sock, mode, front, shards).await
    }
}

impl<S> KvClient<S>
where
    S: netrt::DatagramSocket + 'static,
    S::Addr: Ord,
{
    /// Connects to the server at `front` in `mode` over `sock`, a socket of any kind (UDP,
    /// Unix datagram, TCP datagrams, in-process: see [`crate::portability`]); `shards` as
    /// for [`KvClient::connect`].
    pub async fn connect_over<R: Runtime>(
        rt: &R,
        sock: Rc<S>,
        mode: ClientMode,
        front: S::Addr,
        shards: &[S::Addr],
    ) -> Result<Self, KvError> {
        let cfg = NegotiateConfig::default();
        let reg = Registry::new();
        let (conn, negotiated) = match mode {
            ClientMode::Push => {
                if shards.is_empty() {
                    return Err(KvError::Config("client push with no shard address".into()));
                }
                let st = stack![ClientShard::new(shards.to_vec()), bincode::<Msg>()];
                let (c, n) = negotiate::connect(rt, sock, front.clone(), st, &reg, &cfg).await?;
                (Either::Left(c), n)
            }
            ClientMode::Plain => {
                let st = stack![bincode::<Msg>()];
                let (c, n) = negotiate::connect(rt, sock, front.clone(), st, &reg, &cfg).await?;
                (Either::Right(c), n)
            }
        };
        Ok(KvClient {
            conn,
            front,
            negotiated,
        })
    }

    /// What negotiation decided.
    pub fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// Whether this client pushes requests to the shards itself.
    pub fn pushes(&self) -> bool {
        matches!(self.conn, Either::Left(_))
    }

    /// Sends a request (to the front; a pushing client's layer redirects it to its shard).
    pub async fn send(&self, req: Msg) -> Result<(), KvError> {
        Ok(self.conn.send((self.front.clone(), req)).await?)
    }

    /// Waits for a reply.
    pub async fn recv(&self) -> Result<Msg, KvError> {
        Ok(self.conn.recv().await?.1)
    }

    /// Sends `req` and waits up to `timeout` for the reply with its id (other replies are
    /// dropped): for closed-loop use.
    pub async fn call<R: Runtime>(
        &self,
        rt: &R,
        req: Msg,
        timeout: Duration,
    ) -> Result<Msg, KvError> {
        let id = req.id;
        self.send(req).await?;
        rt.timeout(timeout, async {
            loop {
                let r = self.recv().await?;
                if r.id == id {
                    return Ok(r);
                }
            }
        })
        .await
        .map_err(|_| KvError::Timeout(id))?
    }
}

impl<S> crate::loadgen::RequestConn for KvClient<S>
where
    S: netrt::DatagramSocket + 'static,
    S::Addr: Ord,
{
    async fn send_request(&self, req: Msg) -> Result<(), KvError> {
        self.send(req).await
    }

    async fn recv_reply(&self) -> Result<Msg, KvError> {
        self.recv().await
    }
}
