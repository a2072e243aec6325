//! The negotiation wire format: datagram framing, fragmentation and reassembly, and the
//! negotiation messages.
//!
//! Every datagram this library sends on a base connection starts with a tag byte:
//! - `N` (0x4E), a negotiation fragment: `msg_id: u32`, `index: u16`, `count: u16` (all
//!   little-endian), then up to [`MAX_FRAGMENT`] bytes of the encoded [`NegMsg`];
//! - `D` (0x44), data: `epoch: u32`, then the payload of the stack's bottom layer. The epoch
//!   names the negotiation the data belongs to, so data of a rejected 0-RTT attempt or of an
//!   earlier connection from the same address is never delivered.
//!
//! Messages are bincode (fixed-width integers, little-endian) with a decode limit of the
//! message's own length: a length field larger than the message fails instead of allocating.
//! Nothing here panics on bytes from the network.

use std::collections::BTreeMap;

use bincode::Options;
use serde::{Deserialize, Serialize};

use crate::caps::Offer;
use crate::stack::Alternative;

/// Tag of a negotiation fragment.
pub const TAG_NEG: u8 = b'N';
/// Tag of a data datagram.
pub const TAG_DATA: u8 = b'D';
/// Bytes of a negotiation fragment's header.
pub const NEG_HEADER: usize = 9;
/// Bytes of a data datagram's header.
pub const DATA_HEADER: usize = 5;
/// Payload bytes per negotiation fragment (fits any IPv4 path with room for lower headers).
pub const MAX_FRAGMENT: usize = 1200;
/// Largest negotiation message accepted: 4 MiB (3,496 fragments).
pub const MAX_MESSAGE: usize = 4 << 20;

/// Deserializes a `Vec` without trusting the length prefix for its capacity: it grows as
/// elements actually decode (bincode would otherwise reserve up to 1 MiB for any claimed
/// length). Used on every vector of the negotiation messages.
pub fn bounded_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a sequence")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
            while let Some(x) = seq.next_element()? {
                v.push(x);
            }
            Ok(v)
        }
    }
    d.deserialize_seq(V(std::marker::PhantomData))
}

/// A 0-RTT proposal: the stack negotiated with this server last time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZeroRtt {
    /// The client's alternative (index into this Hello's alternatives).
    pub client_alt: u32,
    /// The server's layers it was matched with.
    #[serde(deserialize_with = "bounded_vec")]
    pub server: Vec<Offer>,
}

/// What the server did with a 0-RTT proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZeroRttOutcome {
    /// The client sent none.
    NotAsked,
    /// Still valid: the client's data under it is delivered.
    Accepted,
    /// No longer valid: its data was dropped; the client must rebuild on this choice and
    /// send again, under the next epoch.
    Rejected,
    /// Client side only, never sent: a 0-RTT proposal is out and the server has not decided
    /// yet.
    Pending,
}

/// A negotiation message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NegMsg {
    /// Client to server: the client's alternatives.
    Hello {
        /// Names this negotiation; the data of the resulting connection carries it.
        epoch: u32,
        /// The client's alternatives, in index order, after its own discovery filter.
        #[serde(deserialize_with = "bounded_vec")]
        alternatives: Vec<Alternative>,
        /// A remembered choice, sent with data before any reply (0-RTT).
        zero_rtt: Option<ZeroRtt>,
    },
    /// Server to client: the choice.
    Picked {
        /// The Hello's epoch.
        epoch: u32,
        /// The client's alternative.
        client_alt: u32,
        /// The server's chosen layers (the client checks them and derives the agreements).
        #[serde(deserialize_with = "bounded_vec")]
        server: Vec<Offer>,
        /// Why better-ranked choices were passed over (resources, availability).
        #[serde(deserialize_with = "bounded_vec")]
        fallbacks: Vec<String>,
        /// What happened to a 0-RTT proposal.
        zero_rtt: ZeroRttOutcome,
    },
    /// Server to client: no compatible choice.
    Refused {
        /// The Hello's epoch.
        epoch: u32,
        /// Why, naming the Chunnel that failed.
        reason: String,
    },
}

impl NegMsg {
    /// The epoch the message belongs to.
    pub fn epoch(&self) -> u32 {
        match self {
            NegMsg::Hello { epoch, .. }
            | NegMsg::Picked { epoch, .. }
            | NegMsg::Refused { epoch, .. } => *epoch,
        }
    }
}

/// Errors decoding bytes from the network.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Shorter than its header.
    #[error("datagram of {0} bytes is shorter than its header")]
    Truncated(usize),
    /// The tag byte is neither `N` nor `D`.
    #[error("unknown tag byte {0:#04x}")]
    UnknownTag(u8),
    /// A fragment header is inconsistent.
    #[error("fragment {index} of {count}: {why}")]
    BadFragment {
        /// Its index.
        index: u16,
        /// Its count.
        count: u16,
        /// What is wrong.
        why: &'static str,
    },
    /// The message does not decode.
    #[error("negotiation message: {0}")]
    Decode(String),
}

/// A parsed datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A negotiation fragment.
    Neg {
        /// The message it belongs to.
        msg_id: u32,
        /// Its index.
        index: u16,
        /// Fragments in the message.
        count: u16,
        /// Its bytes.
        payload: &'a [u8],
    },
    /// Data.
    Data {
        /// The negotiation it belongs to.
        epoch: u32,
        /// The bottom layer's bytes.
        payload: &'a [u8],
    },
}

/// Parses a datagram's framing.
pub fn parse(buf: &[u8]) -> Result<Frame<'_>, WireError> {
    let Some(&tag) = buf.first() else {
        return Err(WireError::Truncated(0));
    };
    match tag {
        TAG_NEG => {
            if buf.len() < NEG_HEADER {
                return Err(WireError::Truncated(buf.len()));
            }
            let msg_id = u32::from_le_bytes(buf[1..5].try_into().expect("4 bytes"));
            let index = u16::from_le_bytes(buf[5..7].try_into().expect("2 bytes"));
            let count = u16::from_le_bytes(buf[7..9].try_into().expect("2 bytes"));
            if count == 0 || index >= count {
                return Err(WireError::BadFragment {
                    index,
                    count,
                    why: "index must be below a non-zero count",
                });
            }
            if count as usize * MAX_FRAGMENT > MAX_MESSAGE + MAX_FRAGMENT {
                return Err(WireError::BadFragment {
                    index,
                    count,
                    why: "message larger than the 4 MiB limit",
                });
            }
            let payload = &buf[NEG_HEADER..];
            if payload.len() > MAX_FRAGMENT {
                return Err(WireError::BadFragment {
                    index,
                    count,
                    why: "fragment larger than the fragment size",
                });
            }
            Ok(Frame::Neg {
                msg_id,
                index,
                count,
                payload,
            })
        }
        TAG_DATA => match data_frame(buf) {
            Some((epoch, payload)) => Ok(Frame::Data { epoch, payload }),
            None => Err(WireError::Truncated(buf.len())),
        },
        t => Err(WireError::UnknownTag(t)),
    }
}

/// A data datagram's epoch and payload, as [`parse`] gives them; `None` for any other
/// datagram. Inlined where data is routed, for which `parse` is not.
#[inline]
pub fn data_frame(buf: &[u8]) -> Option<(u32, &[u8])> {
    match buf {
        [TAG_DATA, e0, e1, e2, e3, payload @ ..] => {
            Some((u32::from_le_bytes([*e0, *e1, *e2, *e3]), payload))
        }
        _ => None,
    }
}

/// Writes a data datagram's header and payload into `out` (cleared first).
#[inline(always)]
pub fn frame_data(epoch: u32, payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(DATA_HEADER + payload.len());
    out.push(TAG_DATA);
    out.extend_from_slice(&epoch.to_le_bytes());
    out.extend_from_slice(payload);
}

fn opts() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .reject_trailing_bytes()
}

/// Encodes `msg` as the datagrams of message `msg_id`, each at most
/// `NEG_HEADER + MAX_FRAGMENT` bytes.
pub fn encode(msg: &NegMsg, msg_id: u32) -> Vec<Vec<u8>> {
    let body = opts()
        .serialize(msg)
        .expect("negotiation messages always encode");
    let chunks: Vec<&[u8]> = if body.is_empty() {
        vec![&[][..]]
    } else {
        body.chunks(MAX_FRAGMENT).collect()
    };
    let count = u16::try_from(chunks.len()).expect("messages stay below 65,536 fragments");
    chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut d = Vec::with_capacity(NEG_HEADER + c.len());
            d.push(TAG_NEG);
            d.extend_from_slice(&msg_id.to_le_bytes());
            d.extend_from_slice(&(i as u16).to_le_bytes());
            d.extend_from_slice(&count.to_le_bytes());
            d.extend_from_slice(c);
            d
        })
        .collect()
}

/// Decodes a whole (reassembled) message. Allocates no more than `body.len()` justifies.
pub fn decode(body: &[u8]) -> Result<NegMsg, WireError> {
    opts()
        .with_limit(body.len() as u64)
        .deserialize(body)
        .map_err(|e| WireError::Decode(e.to_string()))
}

/// Reassembles fragmented messages from one peer. Keeps at most `max_partial` messages in
/// progress (the oldest is dropped to make room) and never buffers more than the fragments
/// received.
#[derive(Debug)]
pub struct Reassembler {
    partial: BTreeMap<u32, Partial>,
    max_partial: usize,
}

#[derive(Debug)]
struct Partial {
    count: u16,
    parts: BTreeMap<u16, Vec<u8>>,
}

impl Default for Reassembler {
    fn default() -> Self {
        Reassembler::new(4)
    }
}

impl Reassembler {
    /// A reassembler keeping at most `max_partial` incomplete messages.
    pub fn new(max_partial: usize) -> Self {
        Reassembler {
            partial: BTreeMap::new(),
            max_partial: max_partial.max(1),
        }
    }

    /// Adds a fragment; returns the whole message body once every fragment has arrived.
    pub fn push(
        &mut self,
        msg_id: u32,
        index: u16,
        count: u16,
        payload: &[u8],
    ) -> Result<Option<Vec<u8>>, WireError> {
        if count == 1 {
            return Ok(Some(payload.to_vec()));
        }
        if !self.partial.contains_key(&msg_id) && self.partial.len() >= self.max_partial {
            let oldest = *self.partial.keys().next().expect("non-empty");
            self.partial.remove(&oldest);
        }
        let p = self.partial.entry(msg_id).or_insert_with(|| Partial {
            count,
            parts: BTreeMap::new(),
        });
        if p.count != count {
            self.partial.remove(&msg_id);
            return Err(WireError::BadFragment {
                index,
                count,
                why: "count differs from the message's earlier fragments",
            });
        }
        p.parts.entry(index).or_insert_with(|| payload.to_vec());
        if p.parts.len() < count as usize {
            return Ok(None);
        }
        let p = self.partial.remove(&msg_id).expect("present");
        let mut body = Vec::with_capacity(p.parts.values().map(Vec::len).sum());
        for part in p.parts.into_values() {
            body.extend_from_slice(&part);
        }
        Ok(Some(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::Compat;

    fn big_hello(n: usize) -> NegMsg {
        let layers: Vec<Offer> = (0..n)
            .map(|i| Offer::new(&format!("c{i}"), "host", Compat::Exact).label("x".repeat(50)))
            .collect();
        NegMsg::Hello {
            epoch: 7,
            alternatives: vec![Alternative { layers, penalty: 0 }],
            zero_rtt: None,
        }
    }

    #[test]
    fn large_messages_fragment_and_reassemble_in_any_order() {
        let m = big_hello(200);
        let mut frags = encode(&m, 3);
        assert!(frags.len() > 5, "{} fragments", frags.len());
        frags.reverse();
        frags.swap(1, 3);
        let mut r = Reassembler::default();
        let mut out = None;
        for f in &frags {
            let Frame::Neg {
                msg_id,
                index,
                count,
                payload,
            } = parse(f).unwrap()
            else {
                panic!("not a fragment")
            };
            if let Some(b) = r.push(msg_id, index, count, payload).unwrap() {
                out = Some(b);
            }
            // Duplicates are harmless.
            let _ = r.push(msg_id, index, count, payload);
        }
        assert_eq!(decode(&out.unwrap()).unwrap(), m);
    }

    #[test]
    fn huge_length_fields_fail_without_allocating() {
        // A Hello whose alternatives vector claims 2^60 elements.
        let mut body = vec![0u8, 0, 0, 0]; // variant 0
        body.extend_from_slice(&7u32.to_le_bytes());
        body.extend_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(decode(&body).is_err());
    }

    #[test]
    fn bad_headers_are_errors() {
        assert_eq!(parse(&[]), Err(WireError::Truncated(0)));
        assert_eq!(parse(&[TAG_NEG, 1]), Err(WireError::Truncated(2)));
        assert!(matches!(parse(&[0x00]), Err(WireError::UnknownTag(0))));
        let mut f = vec![TAG_NEG];
        f.extend_from_slice(&1u32.to_le_bytes());
        f.extend_from_slice(&5u16.to_le_bytes());
        f.extend_from_slice(&5u16.to_le_bytes());
        assert!(matches!(parse(&f), Err(WireError::BadFragment { .. })));
    }

    proptest::proptest! {
        /// The routing fast path reads data datagrams exactly as `parse` does and takes
        /// nothing else for data (a truncated data header, a fragment, an unknown tag).
        #[test]
        fn data_frame_agrees_with_parse(
            tag in proptest::prop_oneof![
                proptest::strategy::Just(TAG_DATA),
                proptest::strategy::Just(TAG_NEG),
                proptest::prelude::any::<u8>()
            ],
            rest in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..16),
        ) {
            let mut buf = vec![tag];
            buf.extend_from_slice(&rest);
            let want = match parse(&buf) {
                Ok(Frame::Data { epoch, payload }) => Some((epoch, payload)),
                _ => None,
            };
            proptest::prop_assert_eq!(data_frame(&buf), want);
        }
    }
}
