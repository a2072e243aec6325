//! [`Recycler`]: the byte vectors a pump's connections are done with, reused for received
//! payloads.

use std::cell::{Cell, RefCell};

/// Byte vectors that the connections of a pump are done with (the payloads their sends
/// framed), reused to hand received payloads out: an echo server or a request-response
/// client then allocates no vector per message. Each vector is owned by one message at a
/// time, as any `Vec` is; a kept one is emptied before it holds a copy of new bytes.
///
/// The vectors form a stack whose top is kept apart, in a `Cell`: in the common case, one
/// vector put back per payload received, only the top is touched.
#[derive(Default)]
pub(crate) struct Recycler {
    /// The vector kept last, or an empty one (no capacity) if none is kept; never empty
    /// while `below` holds any.
    top: Cell<Vec<u8>>,
    /// The vectors kept before it, oldest first.
    below: RefCell<Vec<Vec<u8>>>,
    /// Whether `below` holds any (read without borrowing it).
    has_below: Cell<bool>,
}

/// Vectors a [`Recycler`] keeps at most.
const RECYCLE_KEEP: usize = 8;
/// Vectors of larger capacity are not kept.
const RECYCLE_MAX_CAPACITY: usize = 65_536;

impl Recycler {
    /// Keeps `v` for reuse if there is room and it is not too large; drops it otherwise.
    #[inline(always)]
    pub(crate) fn put(&self, mut v: Vec<u8>) {
        if v.capacity() == 0 || v.capacity() > RECYCLE_MAX_CAPACITY {
            return;
        }
        v.clear();
        let prev = self.top.replace(v);
        if prev.capacity() != 0 {
            self.push_below(prev);
        }
    }

    /// [`Recycler::put`] when a vector was kept already: it goes below the new top if there
    /// is room; the new one is dropped (and it stays on top) otherwise.
    #[cold]
    #[inline(never)]
    fn push_below(&self, prev: Vec<u8>) {
        let mut below = self.below.borrow_mut();
        if below.len() + 1 < RECYCLE_KEEP {
            below.push(prev);
            self.has_below.set(true);
        } else {
            drop(self.top.replace(prev));
        }
    }

    /// A vector holding a copy of `bytes`: the last one kept if its capacity fits them
    /// without wasting much (at most twice their length plus 64 bytes; a receiver may keep
    /// what it gets for long), or else a new one of their length.
    #[inline(always)]
    pub(crate) fn copy_of(&self, bytes: &[u8]) -> Vec<u8> {
        let n = bytes.len();
        let mut v = self.top.take();
        let cap = v.capacity();
        if cap != 0 && cap >= n && cap <= 2 * n + 64 {
            if self.has_below.get() {
                self.pop_below();
            }
            v.extend_from_slice(bytes);
            return v;
        }
        self.top.set(v);
        bytes.to_vec()
    }

    /// The vector below the top becomes the top (the top was taken).
    #[cold]
    #[inline(never)]
    fn pop_below(&self) {
        let mut below = self.below.borrow_mut();
        if let Some(v) = below.pop() {
            self.top.set(v);
        }
        self.has_below.set(!below.is_empty());
    }

    /// Vectors kept.
    #[cfg(test)]
    pub(crate) fn kept(&self) -> usize {
        let top = self.top.take();
        let n = usize::from(top.capacity() != 0) + self.below.borrow().len();
        self.top.set(top);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycled_vectors_hold_exactly_one_message_each() {
        let r = Recycler::default();
        let sent = vec![9u8; 64];
        let at = sent.as_ptr();
        r.put(sent);
        assert_eq!(r.kept(), 1);
        // The vector is reused, holding the new bytes only.
        let a = r.copy_of(&[
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
            25, 26, 27, 28, 29, 30, 31, 32,
        ]);
        assert_eq!(a.as_ptr(), at);
        assert_eq!(a, (1..=32).collect::<Vec<u8>>());
        assert_eq!(r.kept(), 0);
        // Nothing kept: a new vector, distinct from the one still held.
        let b = r.copy_of(&[7; 32]);
        assert_ne!(a.as_ptr(), b.as_ptr());
        assert_eq!((a.len(), b.len()), (32, 32));
        assert!(a.iter().zip(1..).all(|(&x, i)| x == i) && b.iter().all(|&x| x == 7));
        // A kept vector much larger than the bytes stays kept; a new one holds them.
        r.put(vec![0; 4_096]);
        let c = r.copy_of(b"tiny");
        assert_eq!(c, b"tiny");
        assert_eq!(c.capacity(), 4);
        assert_eq!(r.kept(), 1);
        // An empty message fits no kept vector of this size either.
        assert_eq!(r.copy_of(&[]), Vec::<u8>::new());
        assert_eq!(r.kept(), 1);
    }

    #[test]
    fn the_recycler_keeps_few_and_small_vectors() {
        let r = Recycler::default();
        r.put(Vec::new());
        r.put(vec![0; RECYCLE_MAX_CAPACITY + 1]);
        assert_eq!(r.kept(), 0);
        for _ in 0..2 * RECYCLE_KEEP {
            r.put(vec![1; 100]);
        }
        assert_eq!(r.kept(), RECYCLE_KEEP);
        for _ in 0..RECYCLE_KEEP {
            assert_eq!(r.copy_of(&[2; 60]), [2; 60]);
        }
        assert_eq!(r.kept(), 0);
    }
}
