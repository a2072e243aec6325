//! A small sorted set of disjoint byte ranges (the sender's SACK map and the receiver's
//! out-of-order buffer). Cheap when the number of ranges (holes) is small, which it is.

/// Disjoint, non-adjacent, ascending `[start, end)` ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeSet {
    ranges: Vec<(u64, u64)>,
}

impl RangeSet {
    /// Adds `[start, end)`, calling `newly(s, e)` for each part not covered before (ascending).
    pub fn insert(&mut self, start: u64, end: u64, mut newly: impl FnMut(u64, u64)) {
        if start >= end {
            return;
        }
        // Ranges i..j overlap or touch [start, end).
        let i = self.ranges.partition_point(|&(_, b)| b < start);
        let j = self.ranges.partition_point(|&(a, _)| a <= end);
        let mut cur = start;
        for &(a, b) in &self.ranges[i..j] {
            if a > cur {
                newly(cur, a.min(end));
            }
            cur = cur.max(b);
        }
        if cur < end {
            newly(cur, end);
        }
        let (lo, hi) = if i < j {
            (self.ranges[i].0.min(start), self.ranges[j - 1].1.max(end))
        } else {
            (start, end)
        };
        self.ranges.splice(i..j, std::iter::once((lo, hi)));
    }

    /// Forgets everything below `x`.
    pub fn remove_below(&mut self, x: u64) {
        let k = self.ranges.partition_point(|&(_, b)| b <= x);
        self.ranges.drain(..k);
        if let Some(first) = self.ranges.first_mut() {
            first.0 = first.0.max(x);
        }
    }

    /// The range containing `x`.
    pub fn containing(&self, x: u64) -> Option<(u64, u64)> {
        let i = self.ranges.partition_point(|&(_, b)| b <= x);
        self.ranges.get(i).copied().filter(|&(a, _)| a <= x)
    }

    /// The first range.
    pub fn first(&self) -> Option<(u64, u64)> {
        self.ranges.first().copied()
    }

    /// Removes and returns the first range.
    pub fn pop_first(&mut self) -> Option<(u64, u64)> {
        (!self.ranges.is_empty()).then(|| self.ranges.remove(0))
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The ranges, ascending.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().copied()
    }

    /// With segments starting at multiples of `mss`: the start of the `n`-th highest segment
    /// (n ≥ 1) that starts inside the set, if there are that many.
    pub fn nth_highest_segment_start(&self, n: u64, mss: u64) -> Option<u64> {
        let mut need = n.max(1);
        let mss = mss.max(1);
        for &(a, b) in self.ranges.iter().rev() {
            let first = a.div_ceil(mss);
            let last = (b - 1) / mss;
            if last < first {
                continue;
            }
            let count = last - first + 1;
            if count >= need {
                return Some((last - (need - 1)) * mss);
            }
            need -= count;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_reports_new_parts_and_merges() {
        let mut r = RangeSet::default();
        let mut new = Vec::new();
        r.insert(10, 20, |a, b| new.push((a, b)));
        r.insert(30, 40, |a, b| new.push((a, b)));
        r.insert(5, 45, |a, b| new.push((a, b)));
        assert_eq!(new, vec![(10, 20), (30, 40), (5, 10), (20, 30), (40, 45)]);
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![(5, 45)]);
        r.insert(45, 50, |_, _| {});
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![(5, 50)]);
        new.clear();
        r.insert(6, 9, |a, b| new.push((a, b)));
        assert!(new.is_empty());
        r.insert(60, 70, |_, _| {});
        r.remove_below(7);
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![(7, 50), (60, 70)]);
        assert_eq!(r.containing(65), Some((60, 70)));
        assert_eq!(r.containing(55), None);
        r.remove_below(65);
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![(65, 70)]);
    }

    #[test]
    fn nth_highest_segment() {
        let mut r = RangeSet::default();
        r.insert(60, 70, |_, _| {}); // segment 6
        r.insert(80, 105, |_, _| {}); // segments 8, 9, 10 (partial last)
        assert_eq!(r.nth_highest_segment_start(1, 10), Some(100));
        assert_eq!(r.nth_highest_segment_start(3, 10), Some(80));
        assert_eq!(r.nth_highest_segment_start(4, 10), Some(60));
        assert_eq!(r.nth_highest_segment_start(5, 10), None);
    }
}
