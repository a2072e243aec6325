//! The store: one ordered map per shard, each behind a `RefCell` (runtimes are
//! single-threaded; a shard's worker is the only writer of its map).

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::msg::{Key, Msg, Op};

/// The shards' maps.
#[derive(Debug)]
pub struct Store {
    shards: Vec<RefCell<BTreeMap<Key, Vec<u8>>>>,
}

impl Store {
    /// `shards` empty shards (at least 1).
    pub fn new(shards: usize) -> Self {
        Store {
            shards: (0..shards.max(1))
                .map(|_| RefCell::new(BTreeMap::new()))
                .collect(),
        }
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// Records held by `shard` (0 if there is no such shard).
    pub fn len(&self, shard: usize) -> usize {
        self.shards.get(shard).map_or(0, |m| m.borrow().len())
    }

    /// Records held by every shard.
    pub fn total(&self) -> usize {
        self.shards.iter().map(|m| m.borrow().len()).sum()
    }

    /// Whether no shard holds a record.
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// Applies `req` on `shard` and returns the reply: a get answers the value or not-found, a
    /// put stores and answers stored, anything else answers bad.
    pub fn apply(&self, shard: usize, req: &Msg) -> Msg {
        let Some(map) = self.shards.get(shard) else {
            return req.reply(Op::Bad, None);
        };
        match req.op() {
            Some(Op::Get) => match map.borrow().get(&req.key) {
                Some(v) => req.reply(Op::Value, Some(v.clone())),
                None => req.reply(Op::NotFound, None),
            },
            Some(Op::Put) => {
                map.borrow_mut().insert(req.key, req.value.clone());
                req.reply(Op::Stored, None)
            }
            _ => req.reply(Op::Bad, None),
        }
    }
}
