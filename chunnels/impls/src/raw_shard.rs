//! Raw-offset server sharding: the server sharder fused with the serializer under it, routing
//! each request by hashing its key *in the serialized bytes*, at the byte offset the
//! negotiated format fixes, instead of deserializing it first.
//!
//! [`RawServerShard`] replaces `[ServerShard, SerializeChunnel<T>]` (the
//! [`RawShard`](crate::opt::RawShard) pass does it at compile time). It carries `(A, Vec<u8>)`
//! below and `(A, T)` above, like the pair it replaces, with per-shard handles like
//! [`ServerShardConn`](crate::shard::ServerShardConn): the demultiplexer only reads the key's
//! bytes and queues the datagram on its shard; each shard's handle deserializes its own
//! requests (so decoding runs in the shard's task, not in the demultiplexer).
//!
//! # Where the key is
//! The message's first field is its key (serde serializes struct fields in order, untagged, in
//! both formats), laid out as [`RawKeyed::KEY`] says. The offset comes from the format
//! negotiation agreed on ([`Format::key_offset`]); for a length-prefixed key the length is
//! read from the prefix ([`Format::key_len`]). Nothing is hard-coded, so the shard is the one
//! [`ServerShard`](crate::shard::ServerShard) computes after decoding (`tests/it/opt.rs`
//! checks it with proptest for both formats and every key). A datagram too short to hold a
//! key goes to shard 0, whose handle then returns the decode error.
//!
//! # Negotiation
//! Wire-compatible with the pair it replaces, and described as that pair: two layers, a
//! `shard` offer (implementation `server-raw`, [`Compat::Provides`], label `server`) over the
//! serializer's own offer. A client that did not apply the pass negotiates with it as with
//! `[ServerShard, serializer]`.

use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;

use chunnel::{
    Agreement, Alternative, Chunnel, ChunnelConnection, Compat, Describe, Error, Negotiate, Offer,
    PolicyCtx,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::serialize::{Format, KeyLayout, SerializeChunnel};
use crate::shard::{fnv1a32, Dispatch, Keyed};

/// How a message's key, its first field, is serialized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawKey {
    /// A fixed-size array `[u8; len]`.
    Array {
        /// Its length.
        len: usize,
    },
    /// A length-prefixed byte sequence (`Vec<u8>`, `String`).
    Bytes,
}

/// A message whose key can be found in its serialized bytes: its first field is its key,
/// laid out as [`RawKeyed::KEY`].
pub trait RawKeyed: Keyed {
    /// The key's layout.
    const KEY: RawKey;
}

/// The shard of a serialized message among `shards`, from the key's bytes at the offset
/// `format` fixes (see the module documentation); `None` if the bytes hold no key.
pub fn raw_shard_of(format: Format, key: RawKey, bytes: &[u8], shards: usize) -> Option<usize> {
    let (off, len) = match key {
        RawKey::Array { len } => (format.key_offset(KeyLayout::Array), len),
        RawKey::Bytes => {
            let len = format.key_len(bytes)?;
            (format.key_offset(KeyLayout::Bytes { len }), len)
        }
    };
    let prefix = bytes.get(off..off.checked_add(len.min(4))?)?;
    if shards == 0 {
        return Some(0);
    }
    Some(fnv1a32(prefix) as usize % shards)
}

/// The raw-offset server sharder fused with its serializer (see the module documentation).
pub struct RawServerShard<T> {
    shards: usize,
    ser: SerializeChunnel<T>,
}

impl<T> Clone for RawServerShard<T> {
    fn clone(&self) -> Self {
        RawServerShard {
            shards: self.shards,
            ser: self.ser.clone(),
        }
    }
}

impl<T> fmt::Debug for RawServerShard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawServerShard")
            .field("shards", &self.shards)
            .field("ser", &self.ser)
            .finish()
    }
}

impl<T> RawServerShard<T> {
    /// `shards` shards (at least 1) over `ser`'s format.
    pub fn new(shards: usize, ser: SerializeChunnel<T>) -> Self {
        RawServerShard {
            shards: shards.max(1),
            ser,
        }
    }

    /// The number of shards.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// The format the key offset is derived from: the negotiated one once negotiation has
    /// run, the serializer's own before.
    pub fn format(&self) -> Format {
        self.ser.agreed().unwrap_or(self.ser.format())
    }

    fn shard_offer() -> Offer {
        Offer::new(crate::shard::CHUNNEL, "server-raw", Compat::Provides).label("server")
    }
}

impl<T> Describe for RawServerShard<T> {
    fn count(&self) -> usize {
        1
    }

    fn alternatives(&self, _ctx: &PolicyCtx) -> Vec<Alternative> {
        vec![Alternative {
            layers: vec![Self::shard_offer(), self.ser.capability()],
            penalty: 0,
        }]
    }

    fn choose(&mut self, _alt: usize, agreements: &mut std::slice::Iter<'_, Agreement>) {
        let _shard = agreements.next();
        if let Some(a) = agreements.next() {
            self.ser.picked(a);
        }
    }
}

impl<T, A, InC> Chunnel<InC> for RawServerShard<T>
where
    InC: ChunnelConnection<Data = (A, Vec<u8>)>,
    T: Serialize + DeserializeOwned + RawKeyed,
{
    type Connection = RawShardConn<InC, A, T>;

    async fn connect_wrap(&mut self, inner: InC) -> Result<Self::Connection, Error> {
        let format = self.format();
        let route = move |b: &Vec<u8>, n: usize| raw_shard_of(format, T::KEY, b, n).unwrap_or(0);
        Ok(RawShardConn {
            d: Rc::new(Dispatch::new(inner, self.shards, Box::new(route))),
            format,
            _t: PhantomData,
        })
    }
}

/// A raw-offset sharded server connection: requests of every shard (lowest shard first)
/// through the connection itself, or one shard's through [`RawShardConn::shard`], not both.
pub struct RawShardConn<C, A, T> {
    d: Rc<Dispatch<C, A, Vec<u8>>>,
    format: Format,
    _t: PhantomData<fn() -> T>,
}

impl<C, A, T> RawShardConn<C, A, T> {
    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.d.shards()
    }

    /// The negotiated format the key offset came from.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Shard `i`'s handle (`None` if there is no shard `i`).
    pub fn shard(&self, i: usize) -> Option<RawShardHandle<C, A, T>> {
        (i < self.shards()).then(|| RawShardHandle {
            d: self.d.clone(),
            format: self.format,
            shard: i,
            _t: PhantomData,
        })
    }
}

/// One shard's view of a [`RawShardConn`]: receives and decodes the shard's requests, sends
/// (serialized) replies over the connection.
pub struct RawShardHandle<C, A, T> {
    d: Rc<Dispatch<C, A, Vec<u8>>>,
    format: Format,
    shard: usize,
    _t: PhantomData<fn() -> T>,
}

impl<C, A, T> RawShardHandle<C, A, T> {
    /// The shard's index.
    pub fn index(&self) -> usize {
        self.shard
    }
}

async fn send_typed<C, A, T>(inner: &C, format: Format, (a, v): (A, T)) -> Result<(), Error>
where
    C: ChunnelConnection<Data = (A, Vec<u8>)>,
    T: Serialize,
{
    inner.send((a, format.encode(&v)?)).await
}

impl<C, A, T> ChunnelConnection for RawShardConn<C, A, T>
where
    C: ChunnelConnection<Data = (A, Vec<u8>)>,
    T: Serialize + DeserializeOwned,
{
    type Data = (A, T);

    async fn send(&self, d: (A, T)) -> Result<(), Error> {
        send_typed(&self.d.inner, self.format, d).await
    }

    async fn recv(&self) -> Result<(A, T), Error> {
        let (a, b) = self.d.recv(None).await?;
        Ok((a, self.format.decode(&b)?))
    }
}

impl<C, A, T> ChunnelConnection for RawShardHandle<C, A, T>
where
    C: ChunnelConnection<Data = (A, Vec<u8>)>,
    T: Serialize + DeserializeOwned,
{
    type Data = (A, T);

    async fn send(&self, d: (A, T)) -> Result<(), Error> {
        send_typed(&self.d.inner, self.format, d).await
    }

    async fn recv(&self) -> Result<(A, T), Error> {
        let (a, b) = self.d.recv(Some(self.shard)).await?;
        Ok((a, self.format.decode(&b)?))
    }
}
