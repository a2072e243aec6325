//! Serialization: `(A, Vec<u8>)` below, `(A, T)` above, for any serde type `T`.
//!
//! Two implementations of the Chunnel type `"serialize"`, each [`Compat::Exact`] with a label
//! naming its format and version, so both ends provably agree on the wire layout and
//! `select!(bincode(), postcard())` lets negotiation pick one:
//!
//! | implementation | label | wire format |
//! | --- | --- | --- |
//! | `bincode-host` | `bincode/1` | bincode 1.x, fixed-width little-endian integers, `u64` length prefixes (the layout of `bincode::serialize`); trailing bytes rejected |
//! | `postcard-host` | `postcard/1` | postcard 1.x (varint integers and length prefixes); trailing bytes rejected |
//!
//! A datagram that does not decode is an [`Error::Decode`] returned from `recv`, never a
//! panic; decoding never allocates more than the datagram justifies (both formats bound
//! length prefixes by the input).
//!
//! The negotiated format is exposed ([`SerializeChunnel::agreed`], [`SerializeConn::format`])
//! so a raw-offset sharding pass can find a key inside the serialized bytes without
//! decoding: [`Format::key_offset`] gives the byte offset of the key of a message whose
//! first field is the key.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use bincode::Options;
use chunnel::{Agreement, Chunnel, ChunnelConnection, Compat, Error, Negotiate, Offer};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The Chunnel type name.
pub const CHUNNEL: &str = "serialize";

/// A serialization format and version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    /// bincode 1.x, fixed-width little-endian integers (label `bincode/1`).
    Bincode1,
    /// postcard 1.x (label `postcard/1`).
    Postcard1,
}

/// How the key, the first field of a message, is serialized (see [`Format::key_offset`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyLayout {
    /// A fixed-size array, `[u8; N]` (serde serializes it as a tuple: no length prefix).
    Array,
    /// A length-prefixed byte sequence (`Vec<u8>`, `String`, `&[u8]`) of `len` bytes.
    Bytes {
        /// The key's length in bytes.
        len: usize,
    },
}

fn bincode_opts() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .reject_trailing_bytes()
}

/// Bytes of postcard's varint encoding of `v` (7 bits a byte).
fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

impl Format {
    /// Every format, in preference order.
    pub const ALL: [Format; 2] = [Format::Bincode1, Format::Postcard1];

    /// The capability label: format and version.
    pub fn label(self) -> &'static str {
        match self {
            Format::Bincode1 => "bincode/1",
            Format::Postcard1 => "postcard/1",
        }
    }

    /// The implementation name in the capability.
    pub fn implementation(self) -> &'static str {
        match self {
            Format::Bincode1 => "bincode-host",
            Format::Postcard1 => "postcard-host",
        }
    }

    /// The format a label names.
    pub fn from_label(label: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.label() == label)
    }

    /// The format among negotiated labels (the first known one).
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = &'a String>) -> Option<Format> {
        labels.into_iter().find_map(|l| Format::from_label(l))
    }

    /// Serializes `v`.
    pub fn encode<T: Serialize + ?Sized>(self, v: &T) -> Result<Vec<u8>, Error> {
        match self {
            Format::Bincode1 => bincode_opts()
                .serialize(v)
                .map_err(|e| Error::layer(CHUNNEL, format!("bincode: {e}"))),
            Format::Postcard1 => postcard::to_allocvec(v)
                .map_err(|e| Error::layer(CHUNNEL, format!("postcard: {e}"))),
        }
    }

    /// Deserializes one value that must use every byte of `bytes`.
    pub fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, Error> {
        match self {
            Format::Bincode1 => bincode_opts()
                .with_limit(bytes.len() as u64)
                .deserialize(bytes)
                .map_err(|e| Error::decode(CHUNNEL, format!("bincode: {e}"))),
            Format::Postcard1 => match postcard::take_from_bytes(bytes) {
                Ok((v, [])) => Ok(v),
                Ok((_, rest)) => Err(Error::decode(
                    CHUNNEL,
                    format!("postcard: {} trailing bytes", rest.len()),
                )),
                Err(e) => Err(Error::decode(CHUNNEL, format!("postcard: {e}"))),
            },
        }
    }

    /// The byte offset of the key in a serialized message whose first field is the key,
    /// laid out as `key`. Derived from the format's rules, so a sharder that hashes raw bytes
    /// at this offset agrees with one that decodes the message:
    /// - a fixed-size array has no prefix in either format: offset 0;
    /// - a byte sequence has a length prefix: 8 bytes (`u64`) in bincode 1 with fixed-width
    ///   integers, a varint (1 byte below 128, 2 below 16,384, ...) in postcard.
    ///
    /// For a struct, enum-free message (serde serializes struct fields in declaration order
    /// with no field tags in either format).
    pub fn key_offset(self, key: KeyLayout) -> usize {
        match (self, key) {
            (_, KeyLayout::Array) => 0,
            (Format::Bincode1, KeyLayout::Bytes { .. }) => 8,
            (Format::Postcard1, KeyLayout::Bytes { len }) => varint_len(len as u64),
        }
    }
}

impl Format {
    /// The length of a length-prefixed key ([`KeyLayout::Bytes`]) at the start of serialized
    /// `bytes`, read from its prefix: a `u64` in bincode 1, a varint in postcard 1. `None`
    /// if the prefix is truncated or malformed. With [`Format::key_offset`], lets a raw
    /// sharder find the key's bytes without decoding the message.
    pub fn key_len(self, bytes: &[u8]) -> Option<usize> {
        match self {
            Format::Bincode1 => usize::try_from(crate::util::read_u64(bytes, 0)?).ok(),
            Format::Postcard1 => {
                let mut v: u64 = 0;
                for (i, &b) in bytes.iter().take(10).enumerate() {
                    v |= u64::from(b & 0x7f).checked_shl(7 * i as u32)?;
                    if b & 0x80 == 0 {
                        return usize::try_from(v).ok();
                    }
                }
                None
            }
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The serialization Chunnel for values of `T` in one [`Format`].
pub struct SerializeChunnel<T> {
    format: Format,
    agreed: Option<Format>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for SerializeChunnel<T> {
    fn clone(&self) -> Self {
        SerializeChunnel {
            format: self.format,
            agreed: self.agreed,
            _t: PhantomData,
        }
    }
}

impl<T> fmt::Debug for SerializeChunnel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SerializeChunnel")
            .field("format", &self.format)
            .field("agreed", &self.agreed)
            .finish()
    }
}

impl<T> SerializeChunnel<T> {
    /// A serializer in `format`.
    pub fn new(format: Format) -> Self {
        SerializeChunnel {
            format,
            agreed: None,
            _t: PhantomData,
        }
    }

    /// This implementation's format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The format negotiation agreed on, once it has.
    pub fn agreed(&self) -> Option<Format> {
        self.agreed
    }
}

/// A bincode 1 serializer (`bincode/1`).
pub fn bincode<T>() -> SerializeChunnel<T> {
    SerializeChunnel::new(Format::Bincode1)
}

/// A postcard 1 serializer (`postcard/1`).
pub fn postcard<T>() -> SerializeChunnel<T> {
    SerializeChunnel::new(Format::Postcard1)
}

impl<T> Negotiate for SerializeChunnel<T> {
    fn capability(&self) -> Offer {
        Offer::new(CHUNNEL, self.format.implementation(), Compat::Exact).label(self.format.label())
    }

    fn picked(&mut self, agreement: &Agreement) {
        self.agreed = Format::from_labels(&agreement.labels);
    }
}

impl<T, A, InC> Chunnel<InC> for SerializeChunnel<T>
where
    InC: ChunnelConnection<Data = (A, Vec<u8>)>,
    T: Serialize + DeserializeOwned,
{
    type Connection = SerializeConn<InC, T>;

    async fn connect_wrap(&mut self, inner: InC) -> Result<Self::Connection, Error> {
        // Exact compatibility: the agreed label is this implementation's own.
        let format = self.agreed.unwrap_or(self.format);
        Ok(SerializeConn {
            inner,
            format,
            decode_errors: Cell::new(0),
            _t: PhantomData,
        })
    }
}

/// A connection carrying `(A, T)` over one carrying `(A, Vec<u8>)`.
pub struct SerializeConn<C, T> {
    inner: C,
    format: Format,
    decode_errors: Cell<u64>,
    _t: PhantomData<fn() -> T>,
}

impl<C, T> SerializeConn<C, T> {
    /// The negotiated format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Datagrams that did not decode.
    pub fn decode_errors(&self) -> u64 {
        self.decode_errors.get()
    }

    /// The connection under it.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    fn decode(&self, bytes: &[u8]) -> Result<T, Error>
    where
        T: DeserializeOwned,
    {
        self.format.decode(bytes).inspect_err(|_| {
            self.decode_errors.set(self.decode_errors.get() + 1);
        })
    }
}

impl<C, T, A> ChunnelConnection for SerializeConn<C, T>
where
    C: ChunnelConnection<Data = (A, Vec<u8>)>,
    T: Serialize + DeserializeOwned,
{
    type Data = (A, T);

    async fn send(&self, (a, v): (A, T)) -> Result<(), Error> {
        let b = self.format.encode(&v)?;
        self.inner.send((a, b)).await
    }

    async fn recv(&self) -> Result<(A, T), Error> {
        let (a, b) = self.inner.recv().await?;
        Ok((a, self.decode(&b)?))
    }

    async fn send_batch(&self, batch: Vec<(A, T)>) -> Result<(), Error> {
        let mut out = Vec::with_capacity(batch.len());
        for (a, v) in batch {
            out.push((a, self.format.encode(&v)?));
        }
        self.inner.send_batch(out).await
    }

    /// Decodes every datagram of the batch; those that fail are dropped (and counted), and
    /// the first error is returned only if none decoded.
    async fn recv_batch(&self, max: usize) -> Result<Vec<(A, T)>, Error> {
        let got = self.inner.recv_batch(max).await?;
        let mut out = Vec::with_capacity(got.len());
        let mut first_err = None;
        for (a, b) in got {
            match self.decode(&b) {
                Ok(v) => out.push((a, v)),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) if out.is_empty() => Err(e),
            _ => Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chan::{pair, Faults};
    use crate::util::testrt::run;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Msg {
        key: Vec<u8>,
        n: u32,
        body: String,
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct FixedKey {
        key: [u8; 4],
        v: u64,
    }

    fn msg(i: u32) -> Msg {
        Msg {
            key: vec![i as u8; 4],
            n: i,
            body: "x".repeat(i as usize),
        }
    }

    #[test]
    fn round_trips_in_both_formats() {
        for f in Format::ALL {
            let (a, b) = pair(Faults::none());
            let got = run(move |_| async move {
                let ca = SerializeChunnel::<Msg>::new(f)
                    .connect_wrap(a)
                    .await
                    .unwrap();
                let cb = SerializeChunnel::<Msg>::new(f)
                    .connect_wrap(b)
                    .await
                    .unwrap();
                ca.send((2, msg(3))).await.unwrap();
                ca.send_batch(vec![(2, msg(4)), (2, msg(5))]).await.unwrap();
                let mut got = vec![cb.recv().await.unwrap()];
                got.extend(cb.recv_batch(8).await.unwrap());
                got
            });
            assert_eq!(got, vec![(1, msg(3)), (1, msg(4)), (1, msg(5))], "{f}");
        }
    }

    #[test]
    fn formats_differ_on_the_wire_and_labels_round_trip() {
        let b = Format::Bincode1.encode(&msg(1)).unwrap();
        let p = Format::Postcard1.encode(&msg(1)).unwrap();
        assert_ne!(b, p);
        for f in Format::ALL {
            assert_eq!(Format::from_label(f.label()), Some(f));
            let o = SerializeChunnel::<Msg>::new(f).capability();
            assert_eq!(o.compat, Compat::Exact);
            assert!(o.labels.contains(f.label()));
        }
    }

    #[test]
    fn garbage_is_a_decode_error_never_a_panic() {
        for f in Format::ALL {
            let good = f.encode(&msg(7)).unwrap();
            let mut inputs: Vec<Vec<u8>> = vec![vec![], vec![0xff; 3], vec![0xff; 64]];
            inputs.extend((0..good.len()).map(|n| good[..n].to_vec()));
            let mut long = good.clone();
            long.push(0);
            inputs.push(long);
            // A huge length prefix must not allocate its claimed size.
            let mut huge = vec![0xff; 8];
            huge.extend([0u8; 8]);
            inputs.push(huge);
            for i in inputs {
                match f.decode::<Msg>(&i) {
                    Err(Error::Decode { layer, .. }) => assert_eq!(layer, CHUNNEL),
                    other => panic!("{f}: {i:?} gave {other:?}"),
                }
            }
        }
        let (a, b) = pair(Faults::none());
        let r = run(move |_| async move {
            let cb = bincode::<Msg>().connect_wrap(b).await.unwrap();
            a.send((2, vec![1, 2, 3])).await.unwrap();
            let e = cb.recv().await;
            (matches!(e, Err(Error::Decode { .. })), cb.decode_errors())
        });
        assert_eq!(r, (true, 1));
    }

    #[test]
    fn key_offset_matches_the_encodings() {
        for f in Format::ALL {
            for len in [0usize, 4, 127, 128, 300, 20_000] {
                let key: Vec<u8> = (0..len).map(|i| (i % 251) as u8 + 1).collect();
                let m = Msg {
                    key: key.clone(),
                    n: 9,
                    body: "b".into(),
                };
                let bytes = f.encode(&m).unwrap();
                let off = f.key_offset(KeyLayout::Bytes { len });
                assert_eq!(&bytes[off..off + len], &key[..], "{f} len {len}");
            }
            let m = FixedKey {
                key: *b"abcd",
                v: 1,
            };
            let bytes = f.encode(&m).unwrap();
            let off = f.key_offset(KeyLayout::Array);
            assert_eq!(&bytes[off..off + 4], b"abcd", "{f}");
        }
        // The offsets differ between formats: never hard-code them.
        assert_ne!(
            Format::Bincode1.key_offset(KeyLayout::Bytes { len: 4 }),
            Format::Postcard1.key_offset(KeyLayout::Bytes { len: 4 })
        );
    }

    #[test]
    fn picked_records_the_agreed_format() {
        let mut s = postcard::<Msg>();
        let o = s.capability();
        s.picked(&Agreement {
            local: o.clone(),
            peer: Some(o.clone()),
            labels: o.labels.clone(),
        });
        assert_eq!(s.agreed(), Some(Format::Postcard1));
    }
}
