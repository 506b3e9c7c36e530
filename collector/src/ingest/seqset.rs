//! The set of sequence numbers an agent has delivered, as sorted disjoint
//! half-open ranges.
//!
//! An agent's numbers only grow and it re-sends a batch until the collector
//! answers, so in practice the set is one range plus a few gaps (batches the
//! agent dropped when its queue overflowed, blocks skipped at a crash). The
//! number of ranges is capped: past [`MAX_RANGES`] the oldest gap is closed,
//! i.e. numbers that old are taken as seen. Those are batches that were
//! dropped long ago and will never arrive.

use serde::{Deserialize, Serialize};

/// Ranges kept per agent.
pub const MAX_RANGES: usize = 64;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SeqSet {
    /// Sorted, disjoint, non-adjacent `[start, end)` ranges.
    ranges: Vec<(u64, u64)>,
}

impl SeqSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn contains(&self, seq: u64) -> bool {
        let i = self.ranges.partition_point(|&(_, end)| end <= seq);
        self.ranges.get(i).is_some_and(|&(start, _)| start <= seq)
    }

    /// Numbers in `[start, end)` not yet in the set, as ranges.
    pub fn missing(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut cur = start;
        let first = self.ranges.partition_point(|&(_, e)| e <= start);
        for &(s, e) in self.ranges.get(first..).unwrap_or_default() {
            if s >= end || cur >= end {
                break;
            }
            if s > cur {
                out.push((cur, s.min(end)));
            }
            cur = cur.max(e);
        }
        if cur < end {
            out.push((cur, end));
        }
        out
    }

    /// Adds `[start, end)`.
    pub fn insert(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        // First range that ends at or after `start` (touching counts).
        let i = self.ranges.partition_point(|&(_, e)| e < start);
        let mut new = (start, end);
        let mut j = i;
        while let Some(&(s, e)) = self.ranges.get(j) {
            if s > new.1 {
                break;
            }
            new = (new.0.min(s), new.1.max(e));
            j += 1;
        }
        self.ranges.splice(i..j, [new]);
        while self.ranges.len() > MAX_RANGES {
            // Close the oldest gap.
            let (s0, _) = self.ranges.remove(0);
            if let Some(first) = self.ranges.first_mut() {
                first.0 = s0;
            }
        }
    }

    /// One past the highest number seen.
    pub fn high_water(&self) -> u64 {
        self.ranges.last().map_or(0, |&(_, e)| e)
    }

    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn merge_and_missing() {
        let mut s = SeqSet::new();
        s.insert(10, 20);
        s.insert(30, 40);
        assert_eq!(s.missing(5, 45), vec![(5, 10), (20, 30), (40, 45)]);
        s.insert(20, 30);
        assert_eq!(s.ranges(), &[(10, 40)]);
        assert!(s.contains(10) && s.contains(39) && !s.contains(40) && !s.contains(9));
        assert!(s.missing(12, 38).is_empty());
        assert_eq!(s.high_water(), 40);
    }

    #[test]
    fn range_count_is_capped_by_closing_old_gaps() {
        let mut s = SeqSet::new();
        for i in 0..(MAX_RANGES as u64 + 10) {
            s.insert(i * 10, i * 10 + 5);
        }
        assert_eq!(s.ranges().len(), MAX_RANGES);
        assert!(s.contains(7), "oldest gap closed");
        assert!(
            !s.contains((MAX_RANGES as u64 + 9) * 10 - 3),
            "recent gaps kept"
        );
    }

    proptest! {
        #[test]
        fn behaves_like_a_set(ops in proptest::collection::vec((0u64..200, 0u64..20), 0..40)) {
            let mut s = SeqSet::new();
            let mut model = BTreeSet::new();
            for (start, len) in ops {
                let missing: BTreeSet<u64> = s.missing(start, start + len)
                    .into_iter().flat_map(|(a, b)| a..b).collect();
                let expected: BTreeSet<u64> = (start..start + len).filter(|x| !model.contains(x)).collect();
                prop_assert_eq!(missing, expected);
                s.insert(start, start + len);
                model.extend(start..start + len);
            }
            for x in 0..230 {
                prop_assert_eq!(s.contains(x), model.contains(&x));
            }
            prop_assert!(s.ranges().windows(2).all(|w| w[0].1 < w[1].0));
        }
    }
}
