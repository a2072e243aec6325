//! The event queue: a monotone radix heap keyed by time, so that events at the same instant pop
//! in the order they were pushed (FIFO). Entries can be cancelled by id.
//!
//! A discrete-event simulation never schedules into its past, so the queue only has to order
//! entries at or after the last popped time. A radix heap exploits that. Times are read as 16
//! digits of 4 bits; an entry sits in the bucket named by the highest digit in which its time
//! differs from the reference time (the level) and its own digit there, and bucket order is
//! time order. A push is an append; a pop takes the lowest non-empty bucket, moves the
//! reference to its earliest entry and spreads its entries over lower buckets, so an entry
//! moves at most once per level in its life (with 1-bit digits, as this queue first had, an
//! entry moved ~5 times on a 1,024-host fabric; 16-way buckets make that 1–2 and the fabric
//! runs ~10 % faster). Two entries with the same time always share a bucket and keep their
//! push order when a bucket is split, which is what makes same-instant events FIFO.
//!
//! The front of the queue is a sorted run rather than the entries at exactly the reference
//! time: when the lowest bucket holds at most 64 entries and sits in one of the four lowest
//! levels (a span of at most 4,096 ns), it is sorted (stably, so equal times keep push order)
//! and becomes the run, instead of being spread over the levels below it. An entry pushed into
//! the run's span is inserted in order. The run is a vector read from a head index (cheaper
//! than a ring buffer), and a sorted bucket's vector becomes the run's without a copy. On a
//! 1,024-host fabric, where a packet's next events lie 10 µs ahead, this saves an entry one or
//! two moves and ~12 % of all instructions (cachegrind, 16 x 8 x 64 leaf-spine and k = 16
//! fat-tree; 6.5 % on the dumbbell); larger or higher buckets are spread as before, since
//! pushes landing in the middle of a long or wide run would cost more than the moves saved. The
//! buckets move 16-byte entries (a time, a slot and a caller's prefetch key); payloads wait in
//! a slab of slots, written once at push and read once at pop. Against the binary heap it
//! replaced (`cargo bench -p sim-core --bench event_queue`, hold model): as fast with 1,000
//! pending entries, ~2.4x faster with 100,000.

use std::collections::HashSet;

use crate::time::SimTime;

/// Identifies one scheduled entry, for cancellation. Unique for the life of the queue.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct EventId(u64);

/// What the buckets move around: a time and where the payload is held. Small (16 bytes), since
/// an entry is moved several times between buckets in its life while its payload stays put.
#[derive(Clone, Copy)]
struct Entry {
    time: u64,
    slot: u32,
    /// The caller's prefetch key (see [`EventQueue::push_keyed`]); fills what would be padding.
    key: u32,
}

/// The key of an entry pushed without one.
pub const NO_KEY: u32 = u32::MAX;

/// An empty bucket's earliest entry.
const NO_ENTRY: Entry = Entry {
    time: u64::MAX,
    slot: 0,
    key: NO_KEY,
};

/// A payload and its id, in the slab [`EventQueue::held`].
struct Held<E> {
    seq: u64,
    payload: Option<E>,
}

/// Bits per digit of the radix.
const DIGIT_BITS: u32 = 4;
/// Digits per level.
const RADIX: usize = 1 << DIGIT_BITS;
/// Levels: digits in a 64-bit time.
const LEVELS: usize = 64_usize.div_ceil(DIGIT_BITS as usize);
/// Bucket slots: `level * RADIX + digit`, so that their order is time order.
const SLOTS: usize = LEVELS * RADIX;
/// Buckets of at most this many entries are sorted into the run when they become the lowest,
/// instead of being spread over the lower levels (256 saves fewer instructions on the fabrics).
const SORT_MAX: usize = 64;
/// Only buckets below this level are sorted into the run: on a dumbbell with 9 ms links, runs
/// over whole 1 ms buckets took pushes in their middle and cost 5 % more instructions overall.
const SORT_LEVELS: usize = 4;
/// Words of the non-empty bitmap.
const WORDS: usize = SLOTS.div_ceil(64);

/// A priority queue of timed payloads with FIFO tie-breaking and cancellation.
///
/// Built for simulations, which never schedule into their past: an entry pushed with a time
/// before the last popped entry's time is treated as if pushed at that time (the kernel clamps
/// to now anyway).
///
/// Cancellation is lazy: a cancelled id is remembered and its entry is skipped when it reaches
/// the front. The set of cancelled ids is only ever probed, never iterated, so its hash order
/// cannot leak into results.
pub struct EventQueue<E> {
    /// The reference time of the buckets: at most the earliest entry's time.
    reference: u64,
    /// The time of the last popped entry; pushes before it are moved up to it.
    popped: u64,
    /// The run: entries with times from `reference` to `run_last`, sorted by time and, among
    /// equal times, in push order; it pops before every bucket. `run[run_head..]` are its
    /// entries; the vector is emptied when they are all gone (so an empty run has
    /// `run_head == 0`).
    run: Vec<Entry>,
    run_head: usize,
    /// The last time that belongs to the run (at least `reference`); later entries go to the
    /// buckets.
    run_last: u64,
    /// `buckets[i]` for i in 1..=64 (index 0 unused).
    buckets: Vec<Vec<Entry>>,
    /// Bit `i - 1` set when `buckets[i]` is non-empty (a `u64`: shifts of a `u128` cost a
    /// branch and several instructions, on every entry placed).
    nonempty: [u64; WORDS],
    /// `mins[i]`: the earliest entry in `buckets[i]` (the first pushed among equal times; time
    /// `u64::MAX` when empty), kept as entries are filed so that a refill need not scan its
    /// bucket, and so that [`EventQueue::peek_key`] can name the entry that pops next.
    mins: [Entry; SLOTS],
    /// Entries held (live or cancelled).
    len: usize,
    next_seq: u64,
    /// The payloads of the entries, by slot; freed slots are reused (last freed first, so
    /// they are likely still in cache).
    held: Vec<Held<E>>,
    free: Vec<u32>,
    cancelled: HashSet<u64>,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

/// The bucket slot of `time` relative to `reference` (0 when equal): the level of the highest
/// digit in which they differ, and `time`'s digit there (never 0, since `time > reference`).
#[inline]
fn slot_of(time: u64, reference: u64) -> usize {
    let x = time ^ reference;
    if x == 0 {
        return 0;
    }
    let level = (63 - x.leading_zeros()) / DIGIT_BITS;
    let digit = (time >> (level * DIGIT_BITS)) as usize & (RADIX - 1);
    level as usize * RADIX + digit
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        EventQueue {
            reference: 0,
            run_last: 0,
            popped: 0,
            run: Vec::new(),
            run_head: 0,
            buckets: (0..SLOTS).map(|_| Vec::new()).collect(),
            nonempty: [0; WORDS],
            mins: [NO_ENTRY; SLOTS],
            len: 0,
            next_seq: 0,
            held: Vec::new(),
            free: Vec::new(),
            cancelled: HashSet::new(),
        }
    }

    /// Schedules `payload` at `time`; returns an id that [`EventQueue::cancel`] accepts.
    pub fn push(&mut self, time: SimTime, payload: E) -> EventId {
        self.push_keyed(time, payload, NO_KEY)
    }

    /// [`EventQueue::push`] with a key that [`EventQueue::peek_key`] returns while this entry
    /// is the next to pop: a number naming the state its payload will touch (a port, say), so
    /// that a caller can start loading that state one entry ahead without reading the payload.
    pub fn push_keyed(&mut self, time: SimTime, payload: E, key: u32) -> EventId {
        let seq = self.next_seq;
        self.next_seq += 1;
        let t = time.as_nanos().max(self.popped);
        if t < self.reference {
            // Only after skipping cancelled entries moved the reference past live time.
            self.rebase(t);
        }
        let held = Held {
            seq,
            payload: Some(payload),
        };
        let slot = match self.free.pop() {
            Some(i) => {
                self.held[i as usize] = held;
                i
            }
            None => {
                let i = u32::try_from(self.held.len()).expect("over 4 billion pending events");
                self.held.push(held);
                i
            }
        };
        self.place(Entry { time: t, slot, key });
        self.len += 1;
        EventId(seq)
    }

    /// Files an entry (with `time >= reference`) under the current reference. Always inlined:
    /// it runs several times per entry, and a call costs more than its body.
    #[inline(always)]
    fn place(&mut self, e: Entry) {
        if e.time <= self.run_last {
            self.join_run(e);
        } else {
            let b = slot_of(e.time, self.reference);
            if e.time < self.mins[b].time {
                self.mins[b] = e;
            }
            self.buckets[b].push(e);
            self.nonempty[b / 64] |= 1 << (b % 64);
        }
    }

    /// Puts an entry with `time <= run_last` into the run, after every entry at or before its
    /// time (it is the last pushed of its time).
    #[inline(always)]
    fn join_run(&mut self, e: Entry) {
        match self.run.last() {
            Some(last) if last.time > e.time => {
                let at =
                    self.run_head + self.run[self.run_head..].partition_point(|x| x.time <= e.time);
                self.run.insert(at, e);
            }
            _ => self.run.push(e),
        }
    }

    /// Moves the reference down to `t` and refiles every entry. Entries with equal times share
    /// a bucket, and each bucket is refiled in order, so FIFO order among them is kept.
    fn rebase(&mut self, t: u64) {
        let mut all = self.run.split_off(self.run_head);
        self.run.clear();
        self.run_head = 0;
        for b in 1..SLOTS {
            all.append(&mut self.buckets[b]);
        }
        self.nonempty = [0; WORDS];
        self.mins = [NO_ENTRY; SLOTS];
        self.reference = t;
        self.run_last = t;
        for e in all {
            self.place(e);
        }
    }

    /// Cancels a pending entry. Cancelling an entry that already popped has no effect on what
    /// pops, but callers should avoid it since the id is then remembered until the queue drops.
    pub fn cancel(&mut self, id: EventId) {
        if id.0 < self.next_seq {
            self.cancelled.insert(id.0);
        }
    }

    /// Makes the run non-empty if the queue is, without moving the reference past `limit`:
    /// takes the lowest non-empty bucket, moves the reference to its earliest time, and either
    /// sorts it into the run (a small low bucket) or spreads its entries, in order, over lower
    /// buckets. False when the queue is empty or its earliest
    /// entry is after `limit`.
    fn refill(&mut self, limit: u64) -> bool {
        if self.run_head < self.run.len() {
            return true;
        }
        let Some(b) = self.lowest() else {
            return false;
        };
        let min = self.mins[b].time;
        if min > limit {
            return false;
        }
        let mut src = std::mem::take(&mut self.buckets[b]);
        self.nonempty[b / 64] &= !(1 << (b % 64));
        self.mins[b] = NO_ENTRY;
        self.reference = min;
        if src.len() <= SORT_MAX && b < SORT_LEVELS * RADIX {
            // A small bucket becomes the run at once: every time it can hold shares the
            // bucket's digits down to its level, and no other entry is that early.
            let level = (b / RADIX) as u32;
            self.run_last = min | ((1u64 << (level * DIGIT_BITS)) - 1);
            // The run is empty (this is only called then), so its vector is too: the bucket's
            // vector becomes the run's, and the run's empty one goes back to the bucket.
            std::mem::swap(&mut self.run, &mut src);
            // Stable: equal times keep push order.
            self.run.sort_by_key(|e| e.time);
        } else {
            self.run_last = min;
            for e in src.drain(..) {
                self.place(e);
            }
        }
        // Give an emptied vector's allocation back to the bucket for reuse.
        self.buckets[b] = src;
        true
    }

    /// The lowest non-empty bucket slot.
    #[inline]
    fn lowest(&self) -> Option<usize> {
        self.nonempty
            .iter()
            .position(|&w| w != 0)
            .map(|i| i * 64 + self.nonempty[i].trailing_zeros() as usize)
    }

    /// Drops cancelled entries from the front; true when a live entry at most `limit` is at
    /// the front of the run.
    fn settle(&mut self, limit: u64) -> bool {
        loop {
            if !self.refill(limit) {
                return false;
            }
            let Some(&Entry { time, slot, .. }) = self.run.get(self.run_head) else {
                return false;
            };
            if !self.cancelled.is_empty() && self.cancelled.remove(&self.held[slot as usize].seq) {
                self.advance();
                self.release(slot);
                self.len -= 1;
            } else {
                return time <= limit;
            }
        }
    }

    /// Drops the run's first entry; empties the vector once the run is gone, so that it
    /// never grows beyond the run.
    #[inline]
    fn advance(&mut self) {
        self.run_head += 1;
        if self.run_head == self.run.len() {
            self.run.clear();
            self.run_head = 0;
        }
    }

    /// The time of the run's first entry (`u64::MAX` when the run is empty).
    #[inline]
    fn front_time(&self) -> u64 {
        self.run.get(self.run_head).map_or(u64::MAX, |e| e.time)
    }

    /// The time of the earliest live entry.
    pub fn peek_time(&mut self) -> Option<SimTime> {
        self.settle(u64::MAX)
            .then(|| SimTime::from_nanos(self.front_time()))
    }

    /// Removes and returns the earliest live entry.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        self.pop_until(SimTime::MAX)
    }

    /// Removes and returns the earliest live entry if its time is at most `limit`.
    pub fn pop_until(&mut self, limit: SimTime) -> Option<(SimTime, E)> {
        if !self.settle(limit.as_nanos()) {
            return None;
        }
        let e = *self.run.get(self.run_head)?;
        self.advance();
        self.len -= 1;
        self.popped = e.time;
        let payload = self.release(e.slot)?;
        Some((SimTime::from_nanos(e.time), payload))
    }

    /// Frees a slot and returns its payload (`None` never happens: a slot in a bucket is held).
    #[inline]
    fn release(&mut self, slot: u32) -> Option<E> {
        self.free.push(slot);
        self.held[slot as usize].payload.take()
    }

    /// The key of the entry that pops next unless an earlier entry is pushed first (or it
    /// was cancelled), found without sorting or settling anything; also starts loading that
    /// entry's payload. A hint for prefetching: `None` when the queue is empty.
    #[inline]
    pub fn peek_key(&self) -> Option<u32> {
        let e = match self.run.get(self.run_head) {
            Some(e) => e,
            None => &self.mins[self.lowest()?],
        };
        if let Some(h) = self.held.get(e.slot as usize) {
            crate::sim::prefetch(h);
        }
        Some(e.key)
    }

    /// Entries held, including cancelled ones not yet skipped.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no entry (live or cancelled) remains.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn same_time_is_fifo() {
        let mut q = EventQueue::new();
        for i in 0..100 {
            q.push(SimTime::from_nanos(7), i);
        }
        q.push(SimTime::from_nanos(3), -1);
        assert_eq!(q.pop(), Some((SimTime::from_nanos(3), -1)));
        for i in 0..100 {
            assert_eq!(q.pop(), Some((SimTime::from_nanos(7), i)));
        }
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn pushes_inside_a_sorted_run_pop_in_order() {
        // Three entries in one level-2 bucket become the run when it is the lowest; pushes
        // between, before and after them (and at an equal time) must interleave by time, FIFO.
        let mut q = EventQueue::new();
        q.push(SimTime::from_nanos(1), 0);
        for (t, v) in [(300, 1), (340, 2), (320, 3)] {
            q.push(SimTime::from_nanos(t), v);
        }
        assert_eq!(q.pop(), Some((SimTime::from_nanos(1), 0)));
        assert_eq!(q.pop(), Some((SimTime::from_nanos(300), 1)));
        for (t, v) in [(330, 4), (320, 5), (310, 6), (500, 7), (340, 8)] {
            q.push(SimTime::from_nanos(t), v);
        }
        let rest: Vec<_> = std::iter::from_fn(|| q.pop())
            .map(|(t, v)| (t.as_nanos(), v))
            .collect();
        assert_eq!(
            rest,
            [
                (310, 6),
                (320, 3),
                (320, 5),
                (330, 4),
                (340, 2),
                (340, 8),
                (500, 7)
            ]
        );
    }

    #[test]
    fn cancelled_entries_never_pop() {
        let mut q = EventQueue::new();
        let a = q.push(SimTime::from_nanos(1), "a");
        q.push(SimTime::from_nanos(2), "b");
        let c = q.push(SimTime::from_nanos(3), "c");
        q.cancel(a);
        q.cancel(c);
        assert_eq!(q.peek_time(), Some(SimTime::from_nanos(2)));
        assert_eq!(q.pop(), Some((SimTime::from_nanos(2), "b")));
        assert_eq!(q.pop(), None);
        assert!(q.cancelled.is_empty());
    }

    #[test]
    fn pop_until_respects_limit() {
        let mut q = EventQueue::new();
        q.push(SimTime::from_nanos(10), 1);
        assert_eq!(q.pop_until(SimTime::from_nanos(9)), None);
        assert_eq!(
            q.pop_until(SimTime::from_nanos(10)),
            Some((SimTime::from_nanos(10), 1))
        );
    }

    #[test]
    fn push_below_the_peeked_time_still_pops_first() {
        // Skipping a cancelled entry moves the reference time forward; an entry pushed later
        // at an earlier (but not yet popped) time must still come out first, at its own time.
        let mut q = EventQueue::new();
        let a = q.push(SimTime::from_nanos(100), "cancelled");
        q.push(SimTime::from_nanos(1_000), "late");
        q.push(SimTime::from_nanos(1_000), "late2");
        q.cancel(a);
        assert_eq!(q.pop_until(SimTime::from_nanos(500)), None);
        q.push(SimTime::from_nanos(200), "early");
        q.push(SimTime::from_nanos(1_000), "late3");
        assert_eq!(q.pop(), Some((SimTime::from_nanos(200), "early")));
        assert_eq!(q.pop(), Some((SimTime::from_nanos(1_000), "late")));
        assert_eq!(q.pop(), Some((SimTime::from_nanos(1_000), "late2")));
        assert_eq!(q.pop(), Some((SimTime::from_nanos(1_000), "late3")));
        assert_eq!(q.pop(), None);
        assert!(q.is_empty());
    }

    #[test]
    fn pushes_into_the_past_pop_at_the_last_popped_time() {
        let mut q = EventQueue::new();
        q.push(SimTime::from_nanos(50), 1);
        assert_eq!(q.pop(), Some((SimTime::from_nanos(50), 1)));
        q.push(SimTime::from_nanos(10), 2);
        assert_eq!(q.pop(), Some((SimTime::from_nanos(50), 2)));
    }

    /// One operation of the interleaving test: push at `now + delta`, pop, or cancel the
    /// `k`-th id pushed so far.
    #[derive(Debug, Clone)]
    enum Op {
        Push(u64),
        Pop,
        PopUntil(u64),
        Cancel(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u64..3).prop_flat_map(|w| match w {
                0 => Just(0u64).boxed(),
                1 => (0u64..64).boxed(),
                _ => (0u64..(1 << 40)).boxed(),
            }).prop_map(Op::Push),
            3 => Just(Op::Pop),
            1 => (0u64..(1 << 20)).prop_map(Op::PopUntil),
            1 => (0usize..1000).prop_map(Op::Cancel),
        ]
    }

    proptest! {
        /// Interleaved pushes, pops and cancellations agree with a sorted reference model.
        #[test]
        fn interleaved_ops_match_a_reference(ops in proptest::collection::vec(op(), 0..400)) {
            let mut q = EventQueue::new();
            // Reference: live entries as (time, seq, value).
            let mut model: Vec<(u64, u64, usize)> = Vec::new();
            let mut ids = Vec::new();
            let mut now = 0u64;
            for (i, o) in ops.iter().enumerate() {
                match *o {
                    Op::Push(d) => {
                        let t = now.saturating_add(d);
                        let id = q.push(SimTime::from_nanos(t), i);
                        model.push((t, id.0, i));
                        ids.push(id);
                    }
                    Op::Pop | Op::PopUntil(_) => {
                        let limit = match *o { Op::PopUntil(l) => now.saturating_add(l), _ => u64::MAX };
                        model.sort();
                        let want = model.first().copied().filter(|e| e.0 <= limit);
                        let got = q.pop_until(SimTime::from_nanos(limit));
                        prop_assert_eq!(got.map(|(t, v)| (t.as_nanos(), v)), want.map(|e| (e.0, e.2)));
                        if want.is_some() {
                            let e = model.remove(0);
                            now = e.0;
                        }
                    }
                    Op::Cancel(k) => {
                        if !ids.is_empty() {
                            let id = ids[k % ids.len()];
                            q.cancel(id);
                            model.retain(|e| e.1 != id.0);
                        }
                    }
                }
            }
            model.sort();
            let mut rest = Vec::new();
            while let Some((t, v)) = q.pop() { rest.push((t.as_nanos(), v)); }
            prop_assert_eq!(rest, model.iter().map(|e| (e.0, e.2)).collect::<Vec<_>>());
        }
    }

    proptest! {
        /// Without cancellations, the key `peek_key` names is the popped entry's, whatever was
        /// pushed between pops.
        #[test]
        fn peek_key_names_the_next_pop(ops in proptest::collection::vec((0u64..(1 << 30), 0usize..4), 0..300)) {
            let mut q = EventQueue::new();
            let mut now = 0u64;
            for (i, &(d, pops)) in ops.iter().enumerate() {
                let t = now + if i % 3 == 0 { d % 64 } else { d };
                q.push_keyed(SimTime::from_nanos(t), i, i as u32);
                for _ in 0..pops {
                    let peeked = q.peek_key();
                    let got = q.pop();
                    prop_assert_eq!(peeked, got.as_ref().map(|(_, v)| *v as u32));
                    if let Some((t, _)) = got { now = t.as_nanos(); }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn pops_are_sorted_and_stable(times in proptest::collection::vec(0u64..50, 0..200),
                                      cancel in proptest::collection::vec(any::<bool>(), 200)) {
            let mut q = EventQueue::new();
            let mut ids = Vec::new();
            for (i, t) in times.iter().enumerate() {
                ids.push(q.push(SimTime::from_nanos(*t), i));
            }
            let mut expected: Vec<(u64, usize)> = Vec::new();
            for (i, t) in times.iter().enumerate() {
                if cancel[i] { q.cancel(ids[i]); } else { expected.push((*t, i)); }
            }
            expected.sort();
            let mut got = Vec::new();
            while let Some((t, i)) = q.pop() { got.push((t.as_nanos(), i)); }
            prop_assert_eq!(got, expected);
        }
    }
}
