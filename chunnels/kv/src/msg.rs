//! The request/response message and its wire layout.
//!
//! One struct, [`Msg`], serves as request and reply; its first field is the key, so a
//! raw-offset sharder finds it at [`Format::key_offset`]`(`[`KeyLayout::Array`]`)` (0 in
//! both formats the serializer negotiates) without decoding.
//!
//! # Layout (bincode/1: fixed-width little-endian integers, `u64` length prefixes)
//!
//! | bytes | field | meaning |
//! | --- | --- | --- |
//! | 0..16 | `key: [u8; 16]` | record key: bytes 0..8 the record number (`u64` LE), 8..16 `b"ycsbuser"`; the shard is FNV-1a-32 of bytes 0..4 |
//! | 16 | `op: u8` | [`Op`]: request (get, put) or reply (value, not found, stored, bad request) |
//! | 17..25 | `id: u64` | request id, echoed in the reply |
//! | 25..33 | value length (`u64`) | always [`VALUE_LEN`] for messages this crate sends |
//! | 33..132 | `value` | the value (put, value reply) or zero padding (get, stored, not found) |
//!
//! Every message is [`MESSAGE_BYTES`] = 132 bytes, the YCSB message size of thesis §3.6.4
//! (key + op + value padding); the data frame of `chunnel::wire` adds 5 bytes (tag, epoch).
//! Under postcard the same message is smaller (varint id and length).
//!
//! [`Format::key_offset`]: chunnels::serialize::Format::key_offset
//! [`KeyLayout::Array`]: chunnels::serialize::KeyLayout::Array

use chunnels::raw_shard::{RawKey, RawKeyed};
use chunnels::shard::Keyed;
use serde::{Deserialize, Serialize};

/// Bytes of a key.
pub const KEY_LEN: usize = 16;
/// Bytes of a value (and of the padding of messages without one).
pub const VALUE_LEN: usize = 99;
/// Bytes of every message under bincode/1.
pub const MESSAGE_BYTES: usize = KEY_LEN + 1 + 8 + 8 + VALUE_LEN;

/// A record key.
pub type Key = [u8; KEY_LEN];

/// What a message asks or answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Op {
    /// Request: read the key.
    Get = 0,
    /// Request: write (YCSB update/insert) the value.
    Put = 1,
    /// Reply to a get: the value.
    Value = 2,
    /// Reply to a get: no such key.
    NotFound = 3,
    /// Reply to a put: stored.
    Stored = 4,
    /// Reply to a request with an unknown op.
    Bad = 5,
}

impl Op {
    /// The op a byte names, if any.
    pub fn from_u8(b: u8) -> Option<Op> {
        Some(match b {
            0 => Op::Get,
            1 => Op::Put,
            2 => Op::Value,
            3 => Op::NotFound,
            4 => Op::Stored,
            5 => Op::Bad,
            _ => return None,
        })
    }
}

/// A request or reply (see the module documentation for the layout).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Msg {
    /// The key (first field: the raw-offset sharder depends on it).
    pub key: Key,
    /// An [`Op`] as a byte (a byte from the network may name none).
    pub op: u8,
    /// Request id, echoed in the reply.
    pub id: u64,
    /// Value or padding.
    pub value: Vec<u8>,
}

impl Keyed for Msg {
    fn key(&self) -> &[u8] {
        &self.key
    }
}

impl RawKeyed for Msg {
    /// The key is the first field, a 16-byte array.
    const KEY: RawKey = RawKey::Array { len: KEY_LEN };
}

/// The key of record `n`.
pub fn key_of(n: u64) -> Key {
    let mut k = [0u8; KEY_LEN];
    k[..8].copy_from_slice(&n.to_le_bytes());
    k[8..].copy_from_slice(b"ycsbuser");
    k
}

/// The record number of a key made by [`key_of`].
pub fn record_of(key: &Key) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&key[..8]);
    u64::from_le_bytes(b)
}

/// The value the load generator writes for record `n` at `version`: deterministic, so a read
/// can be checked.
pub fn value_of(n: u64, version: u64) -> Vec<u8> {
    let mut v = vec![0u8; VALUE_LEN];
    let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ version;
    for b in v.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    v
}

impl Msg {
    /// A get of `key`.
    pub fn get(key: Key, id: u64) -> Msg {
        Msg {
            key,
            op: Op::Get as u8,
            id,
            value: vec![0; VALUE_LEN],
        }
    }

    /// A put of `value` at `key`.
    pub fn put(key: Key, id: u64, value: Vec<u8>) -> Msg {
        Msg {
            key,
            op: Op::Put as u8,
            id,
            value,
        }
    }

    /// A reply to `self` with `op` and `value` (padding if `None`).
    pub fn reply(&self, op: Op, value: Option<Vec<u8>>) -> Msg {
        Msg {
            key: self.key,
            op: op as u8,
            id: self.id,
            value: value.unwrap_or_else(|| vec![0; VALUE_LEN]),
        }
    }

    /// The op, if the byte names one.
    pub fn op(&self) -> Option<Op> {
        Op::from_u8(self.op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chunnels::serialize::{Format, KeyLayout};
    use chunnels::shard::shard_of;

    #[test]
    fn bincode_messages_are_132_bytes_with_the_key_first() {
        let m = Msg::put(key_of(77), 5, value_of(77, 1));
        let b = Format::Bincode1.encode(&m).unwrap();
        assert_eq!(b.len(), MESSAGE_BYTES);
        assert_eq!(MESSAGE_BYTES, 132);
        let off = Format::Bincode1.key_offset(KeyLayout::Array);
        assert_eq!(&b[off..off + KEY_LEN], &m.key);
        assert_eq!(b[16], Op::Put as u8);
        assert_eq!(&b[17..25], &5u64.to_le_bytes());
        assert_eq!(
            Format::Bincode1
                .encode(&Msg::get(key_of(1), 2))
                .unwrap()
                .len(),
            132
        );
        let r = m.reply(Op::Stored, None);
        assert_eq!(Format::Bincode1.encode(&r).unwrap().len(), 132);
    }

    #[test]
    fn keys_spread_over_shards_and_round_trip() {
        let mut per = [0u32; 6];
        for n in 0..12_000 {
            assert_eq!(record_of(&key_of(n)), n);
            per[shard_of(&key_of(n), 6)] += 1;
        }
        for c in per {
            assert!((1500..2500).contains(&c), "{per:?}");
        }
    }
}
