//! Sharding: requests go to shard `FNV-1a-32(first 4 bytes of the key) mod shards`.
//!
//! Sharding needs the key, so these Chunnels carry `(A, M)` with `M: `[`Keyed`]: they sit
//! *above* the serializer (`stack![ClientShard, serializer]`), where messages are typed.
//! Under it, data is bytes, which carry no key: `stack![serializer, ClientShard]` does not
//! compile (`Vec<u8>` is deliberately not `Keyed`; see `tests/ui/`).
//!
//! Three implementations of the Chunnel type `"shard"`:
//! - [`ClientShard`] ([`Compat::Provides`], label `client-push`): the client hashes each
//!   request's key and sends it straight to shard `i`'s address.
//! - [`ServerShard`] ([`Compat::Provides`], label `server`): the host fallback at the server.
//!   Requests come to one address; the connection dispatches each to an in-process per-shard
//!   queue, read through [`ServerShardConn::shard`].
//! - [`AcceptClientPush`] ([`Compat::Relies`], label `client-push`): a shard server that
//!   needs its clients to push (each shard listens at its own address); it passes requests
//!   through.
//!
//! None changes the wire format (the hash is over the typed key): the layer is a coverage
//! function negotiated one-sidedly or with a matching label.
//!
//! The hash is 32-bit FNV-1a ([`fnv1a32`], written here: the `fnv` crate has only the 64-bit
//! variant) over the first 4 bytes of the key (all of it if shorter), modulo the shard count
//! ([`shard_of`]).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use chunnel::{Chunnel, ChunnelConnection, Compat, Error, Negotiate, Offer};

use crate::util::Signal;

/// The Chunnel type name.
pub const CHUNNEL: &str = "shard";

/// A message that carries a sharding key.
pub trait Keyed {
    /// The key; its first 4 bytes choose the shard.
    fn key(&self) -> &[u8];
}

impl<K: Keyed> Keyed for Rc<K> {
    fn key(&self) -> &[u8] {
        (**self).key()
    }
}

/// 32-bit FNV-1a of `bytes`.
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    const OFFSET: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    bytes
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u32::from(b)).wrapping_mul(PRIME))
}

/// The shard of `key` among `shards` (0 if `shards` is 0).
pub fn shard_of(key: &[u8], shards: usize) -> usize {
    if shards == 0 {
        return 0;
    }
    let prefix = &key[..key.len().min(4)];
    (fnv1a32(prefix) as usize) % shards
}

/// Client-side sharding: sends each request to its shard's address.
#[derive(Clone, Debug)]
pub struct ClientShard<A> {
    shards: Vec<A>,
}

impl<A> ClientShard<A> {
    /// Shards at `shards`, in shard order.
    pub fn new(shards: Vec<A>) -> Self {
        ClientShard { shards }
    }
}

impl<A> Negotiate for ClientShard<A> {
    fn capability(&self) -> Offer {
        Offer::new(CHUNNEL, "client-push", Compat::Provides).label("client-push")
    }
}

impl<A, M, InC> Chunnel<InC> for ClientShard<A>
where
    InC: ChunnelConnection<Data = (A, M)>,
    A: Clone,
    M: Keyed,
{
    type Connection = ClientShardConn<InC, A>;

    async fn connect_wrap(&mut self, inner: InC) -> Result<Self::Connection, Error> {
        if self.shards.is_empty() {
            return Err(Error::layer(CHUNNEL, "client sharding with no shard"));
        }
        Ok(ClientShardConn {
            inner,
            shards: self.shards.clone(),
        })
    }
}

/// A client connection that sends each request to its shard.
pub struct ClientShardConn<C, A> {
    inner: C,
    shards: Vec<A>,
}

impl<C, A> ClientShardConn<C, A> {
    fn route<M: Keyed>(&self, m: &M) -> &A {
        &self.shards[shard_of(m.key(), self.shards.len())]
    }
}

impl<C, A, M> ChunnelConnection for ClientShardConn<C, A>
where
    C: ChunnelConnection<Data = (A, M)>,
    A: Clone,
    M: Keyed,
{
    type Data = (A, M);

    /// Sends `m` to its shard; the address given is ignored (it names the service).
    async fn send(&self, (_, m): (A, M)) -> Result<(), Error> {
        let to = self.route(&m).clone();
        self.inner.send((to, m)).await
    }

    async fn send_batch(&self, batch: Vec<(A, M)>) -> Result<(), Error> {
        let routed = batch
            .into_iter()
            .map(|(_, m)| (self.route(&m).clone(), m))
            .collect();
        self.inner.send_batch(routed).await
    }

    async fn recv(&self) -> Result<(A, M), Error> {
        self.inner.recv().await
    }

    async fn recv_batch(&self, max: usize) -> Result<Vec<(A, M)>, Error> {
        self.inner.recv_batch(max).await
    }
}

/// A shard server that relies on its clients to push requests to the right shard.
#[derive(Clone, Copy, Debug, Default)]
pub struct AcceptClientPush;

impl Negotiate for AcceptClientPush {
    fn capability(&self) -> Offer {
        Offer::new(CHUNNEL, "accept-client-push", Compat::Relies).label("client-push")
    }
}

impl<A, M, InC> Chunnel<InC> for AcceptClientPush
where
    InC: ChunnelConnection<Data = (A, M)>,
    M: Keyed,
{
    type Connection = InC;

    async fn connect_wrap(&mut self, inner: InC) -> Result<InC, Error> {
        Ok(inner)
    }
}

/// Server-side sharding, host fallback: dispatches requests to per-shard queues.
#[derive(Clone, Copy, Debug)]
pub struct ServerShard {
    shards: usize,
}

impl ServerShard {
    /// `shards` shards (at least 1).
    pub fn new(shards: usize) -> Self {
        ServerShard {
            shards: shards.max(1),
        }
    }

    /// The number of shards.
    pub fn shards(&self) -> usize {
        self.shards
    }
}

impl Negotiate for ServerShard {
    fn capability(&self) -> Offer {
        Offer::new(CHUNNEL, "server-host", Compat::Provides).label("server")
    }
}

impl<A, M, InC> Chunnel<InC> for ServerShard
where
    InC: ChunnelConnection<Data = (A, M)>,
    M: Keyed,
{
    type Connection = ServerShardConn<InC, A, M>;

    async fn connect_wrap(&mut self, inner: InC) -> Result<Self::Connection, Error> {
        Ok(ServerShardConn {
            d: Rc::new(Dispatch::new(
                inner,
                self.shards,
                Box::new(|m: &M, n| shard_of(m.key(), n)),
            )),
        })
    }
}

/// Routes a message to a shard among `n`.
pub(crate) type Route<M> = Box<dyn Fn(&M, usize) -> usize>;

/// Per-shard queues filled by whichever receiver reads the connection (shared with the
/// raw-offset sharder of [`crate::raw_shard`], which routes bytes).
pub(crate) struct Dispatch<C, A, M> {
    pub(crate) inner: C,
    route: Route<M>,
    queues: RefCell<Vec<VecDeque<(A, M)>>>,
    /// Whether some receiver is reading `inner` for everyone.
    pulling: Cell<bool>,
    /// The error that ended `inner`.
    closed: RefCell<Option<String>>,
    changed: Signal,
}

/// Clears the pulling flag even if the pulling receiver is cancelled.
struct Pulling<'a>(&'a Cell<bool>, &'a Signal);

impl Drop for Pulling<'_> {
    fn drop(&mut self) {
        self.0.set(false);
        self.1.notify();
    }
}

impl<C, A, M> Dispatch<C, A, M> {
    pub(crate) fn new(inner: C, shards: usize, route: Route<M>) -> Self {
        Dispatch {
            inner,
            route,
            queues: RefCell::new((0..shards.max(1)).map(|_| VecDeque::new()).collect()),
            pulling: Cell::new(false),
            closed: RefCell::new(None),
            changed: Signal::default(),
        }
    }

    pub(crate) fn shards(&self) -> usize {
        self.queues.borrow().len()
    }
}

impl<C, A, M> Dispatch<C, A, M>
where
    C: ChunnelConnection<Data = (A, M)>,
{
    fn take(&self, shard: Option<usize>) -> Option<(A, M)> {
        let mut q = self.queues.borrow_mut();
        match shard {
            Some(i) => q.get_mut(i)?.pop_front(),
            None => q.iter_mut().find_map(|q| q.pop_front()),
        }
    }

    /// The next request of `shard` (or of any shard, lowest index first). Whoever waits
    /// while nobody reads the connection reads it for everyone, so no task is needed.
    pub(crate) async fn recv(&self, shard: Option<usize>) -> Result<(A, M), Error> {
        loop {
            if let Some(x) = self.take(shard) {
                return Ok(x);
            }
            if let Some(why) = self.closed.borrow().clone() {
                return Err(if why.is_empty() {
                    Error::Closed
                } else {
                    Error::layer(CHUNNEL, why)
                });
            }
            if self.pulling.get() {
                self.changed.wait().await;
                continue;
            }
            self.pulling.set(true);
            let guard = Pulling(&self.pulling, &self.changed);
            let r = self.inner.recv().await;
            match r {
                Ok((a, m)) => {
                    let n = self.queues.borrow().len();
                    let i = (self.route)(&m, n).min(n - 1);
                    self.queues.borrow_mut()[i].push_back((a, m));
                }
                Err(Error::Closed) => *self.closed.borrow_mut() = Some(String::new()),
                // A request that does not decode concerns its sender only.
                Err(e @ Error::Decode { .. }) => {
                    drop(guard);
                    return Err(e);
                }
                Err(e) => *self.closed.borrow_mut() = Some(e.to_string()),
            }
            drop(guard);
        }
    }
}

/// A server connection whose requests are dispatched to per-shard queues. Read either the
/// shards' handles ([`ServerShardConn::shard`], one task per shard) or the connection itself
/// (requests of every shard, lowest shard first), not both.
pub struct ServerShardConn<C, A, M> {
    d: Rc<Dispatch<C, A, M>>,
}

impl<C, A, M> ServerShardConn<C, A, M> {
    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.d.queues.borrow().len()
    }

    /// Shard `i`'s handle: receives the requests of shard `i`, sends replies over the
    /// connection. `None` if there is no shard `i`.
    pub fn shard(&self, i: usize) -> Option<ShardConn<C, A, M>> {
        (i < self.shards()).then(|| ShardConn {
            d: self.d.clone(),
            shard: i,
        })
    }
}

/// One shard's view of a [`ServerShardConn`].
pub struct ShardConn<C, A, M> {
    d: Rc<Dispatch<C, A, M>>,
    shard: usize,
}

impl<C, A, M> ShardConn<C, A, M> {
    /// The shard's index.
    pub fn index(&self) -> usize {
        self.shard
    }
}

impl<C, A, M> ChunnelConnection for ServerShardConn<C, A, M>
where
    C: ChunnelConnection<Data = (A, M)>,
    M: Keyed,
{
    type Data = (A, M);

    async fn send(&self, d: (A, M)) -> Result<(), Error> {
        self.d.inner.send(d).await
    }

    async fn send_batch(&self, batch: Vec<(A, M)>) -> Result<(), Error> {
        self.d.inner.send_batch(batch).await
    }

    async fn recv(&self) -> Result<(A, M), Error> {
        self.d.recv(None).await
    }
}

impl<C, A, M> ChunnelConnection for ShardConn<C, A, M>
where
    C: ChunnelConnection<Data = (A, M)>,
    M: Keyed,
{
    type Data = (A, M);

    async fn send(&self, d: (A, M)) -> Result<(), Error> {
        self.d.inner.send(d).await
    }

    async fn send_batch(&self, batch: Vec<(A, M)>) -> Result<(), Error> {
        self.d.inner.send_batch(batch).await
    }

    async fn recv(&self) -> Result<(A, M), Error> {
        self.d.recv(Some(self.shard)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chan::{ChanNet, Faults};
    use crate::serialize::bincode;
    use crate::util::testrt::run;
    use chunnel::caps::match_stacks;
    use chunnel::stack;
    use netrt::{Duration, Runtime};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    struct Req {
        key: Vec<u8>,
        n: u32,
    }

    impl Keyed for Req {
        fn key(&self) -> &[u8] {
            &self.key
        }
    }

    fn req(n: u32) -> Req {
        Req {
            key: format!("k{n:03}").into_bytes(),
            n,
        }
    }

    #[test]
    fn fnv1a32_known_vectors_and_first_four_bytes() {
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
        assert_eq!(shard_of(b"abcdXXXX", 7), shard_of(b"abcdYY", 7));
        assert_eq!(shard_of(b"abcd", 7), fnv1a32(b"abcd") as usize % 7);
        assert_eq!(shard_of(b"ab", 3), fnv1a32(b"ab") as usize % 3);
    }

    #[test]
    fn client_push_sends_each_request_to_its_shard() {
        let net = ChanNet::new(Faults::none());
        let client = net.endpoint(100);
        let shards: Vec<_> = (0..3).map(|i| net.endpoint(i)).collect();
        let got = run(move |rt| async move {
            let c = stack![ClientShard::new(vec![0u32, 1, 2]), bincode::<Req>()]
                .connect_wrap(client)
                .await
                .unwrap();
            for n in 0..30 {
                // The destination names the service; the shard layer replaces it.
                c.send((999, req(n))).await.unwrap();
            }
            c.send_batch(vec![(999, req(30)), (999, req(31))])
                .await
                .unwrap();
            let mut got = Vec::new();
            for (i, s) in shards.into_iter().enumerate() {
                let s = AcceptClientPush
                    .connect_wrap(bincode::<Req>().connect_wrap(s).await.unwrap())
                    .await
                    .unwrap();
                while let Ok(r) = rt.timeout(Duration::from_millis(1), s.recv()).await {
                    let (from, r) = r.unwrap();
                    assert_eq!(from, 100);
                    got.push((i, r.n));
                }
            }
            got
        });
        assert_eq!(got.len(), 32);
        for (i, n) in got {
            assert_eq!(i, shard_of(&req(n).key, 3), "request {n}");
        }
    }

    #[test]
    fn server_shard_dispatches_to_per_shard_handles() {
        let net = ChanNet::new(Faults::none());
        let client = net.endpoint(1);
        let server = net.endpoint(2);
        let got = run(move |rt| async move {
            let s = stack![ServerShard::new(4), bincode::<Req>()]
                .connect_wrap(server)
                .await
                .unwrap();
            let c = bincode::<Req>().connect_wrap(client).await.unwrap();
            let got = Rc::new(RefCell::new(Vec::new()));
            let mut tasks = Vec::new();
            for i in 0..4 {
                let h = s.shard(i).unwrap();
                let got = got.clone();
                tasks.push(rt.spawn(async move {
                    loop {
                        let (from, r) = h.recv().await.unwrap();
                        got.borrow_mut().push((h.index(), r.n));
                        h.send((from, r)).await.unwrap();
                    }
                }));
            }
            for n in 0..40 {
                c.send((2, req(n))).await.unwrap();
            }
            let mut echoed = Vec::new();
            while echoed.len() < 40 {
                echoed.push(c.recv().await.unwrap().1.n);
            }
            for t in tasks {
                t.abort();
            }
            assert!(s.shard(4).is_none());
            let v = got.borrow().clone();
            v
        });
        assert_eq!(got.len(), 40);
        let shards: std::collections::BTreeSet<usize> = got.iter().map(|g| g.0).collect();
        assert_eq!(shards.len(), 4, "every shard served some request");
        for (i, n) in got {
            assert_eq!(i, shard_of(&req(n).key, 4), "request {n}");
        }
    }

    #[test]
    fn capabilities_negotiate_as_coverage() {
        let ser = bincode::<Req>().capability();
        let push = ClientShard::new(vec![0u32]).capability();
        let srv = ServerShard::new(2).capability();
        let accept = AcceptClientPush.capability();
        assert!(match_stacks(&[push.clone(), ser.clone()], &[accept.clone(), ser.clone()]).is_ok());
        assert!(match_stacks(std::slice::from_ref(&ser), &[srv.clone(), ser.clone()]).is_ok());
        assert!(match_stacks(std::slice::from_ref(&ser), &[accept, ser.clone()]).is_err());
        assert!(match_stacks(&[push, ser.clone()], &[srv, ser]).is_err());
    }
}
