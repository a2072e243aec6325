//! The event queue: a binary heap ordered by (time, insertion sequence), so that events at the
//! same instant pop in the order they were pushed (FIFO). Entries can be cancelled by id.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};

use crate::time::SimTime;

/// Identifies one scheduled entry, for cancellation. Unique for the life of the queue.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct EventId(u64);

struct Entry<E> {
    time: SimTime,
    seq: u64,
    payload: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, o: &Self) -> bool {
        self.time == o.time && self.seq == o.seq
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<E> Ord for Entry<E> {
    // BinaryHeap is a max-heap: invert so the earliest (time, seq) is on top.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.time, o.seq).cmp(&(self.time, self.seq))
    }
}

/// A priority queue of timed payloads with FIFO tie-breaking and cancellation.
///
/// Cancellation is lazy: a cancelled id is remembered and its entry is skipped when it reaches
/// the top. The set of cancelled ids is only ever probed, never iterated, so its hash order
/// cannot leak into results.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    next_seq: u64,
    cancelled: HashSet<u64>,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            next_seq: 0,
            cancelled: HashSet::new(),
        }
    }

    /// Schedules `payload` at `time`; returns an id that [`EventQueue::cancel`] accepts.
    pub fn push(&mut self, time: SimTime, payload: E) -> EventId {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry { time, seq, payload });
        EventId(seq)
    }

    /// Cancels a pending entry. Cancelling an entry that already popped has no effect on what
    /// pops, but callers should avoid it since the id is then remembered until the queue drops.
    pub fn cancel(&mut self, id: EventId) {
        if id.0 < self.next_seq {
            self.cancelled.insert(id.0);
        }
    }

    fn skip_cancelled(&mut self) {
        if self.cancelled.is_empty() {
            return;
        }
        while let Some(top) = self.heap.peek() {
            if self.cancelled.remove(&top.seq) {
                self.heap.pop();
            } else {
                break;
            }
        }
    }

    /// The time of the earliest live entry.
    pub fn peek_time(&mut self) -> Option<SimTime> {
        self.skip_cancelled();
        self.heap.peek().map(|e| e.time)
    }

    /// Removes and returns the earliest live entry.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        self.skip_cancelled();
        self.heap.pop().map(|e| (e.time, e.payload))
    }

    /// Removes and returns the earliest live entry if its time is at most `limit`.
    pub fn pop_until(&mut self, limit: SimTime) -> Option<(SimTime, E)> {
        match self.peek_time() {
            Some(t) if t <= limit => self.pop(),
            _ => None,
        }
    }

    /// Entries in the heap, including cancelled ones not yet skipped.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when no entry (live or cancelled) remains.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
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
