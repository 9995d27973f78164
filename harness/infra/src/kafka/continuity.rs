//! Detects records a consumer never saw: Kafka offsets of a plain (not
//! compacted, not transactional) topic are contiguous, so a jump means the
//! broker no longer had them. With the embedded mock cluster that is its
//! retention cap at work (see [`super::embedded`]).

use std::collections::BTreeMap;

/// A discontinuity in one partition's offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetGap {
    /// The partition.
    pub partition: i32,
    /// The offset that should have come next.
    pub expected: i64,
    /// The offset that came.
    pub got: i64,
}

impl OffsetGap {
    /// How many records were skipped (negative when offsets went backwards,
    /// i.e. records are delivered again).
    pub fn skipped(&self) -> i64 {
        self.got - self.expected
    }
}

/// Remembers the next expected offset per partition.
#[derive(Debug, Clone, Default)]
pub struct OffsetContinuity {
    next: BTreeMap<i32, i64>,
}

impl OffsetContinuity {
    /// Sets where a partition starts (e.g. the offset restored from a
    /// checkpoint); without it the first observed offset is accepted as is.
    pub fn expect(&mut self, partition: i32, next_offset: i64) {
        self.next.insert(partition, next_offset);
    }

    /// Records a consumed offset; returns the gap when it is not the expected one.
    pub fn observe(&mut self, partition: i32, offset: i64) -> Option<OffsetGap> {
        let gap = match self.next.get(&partition) {
            Some(&expected) if expected != offset => Some(OffsetGap {
                partition,
                expected,
                got: offset,
            }),
            _ => None,
        };
        self.next.insert(partition, offset + 1);
        gap
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn contiguous_offsets_never_gap(start in 0i64..1_000_000, len in 1usize..500, partition in 0i32..8) {
            let mut continuity = OffsetContinuity::default();
            continuity.expect(partition, start);
            for offset in start..start + len as i64 {
                prop_assert_eq!(continuity.observe(partition, offset), None);
            }
        }

        #[test]
        fn a_jump_is_reported_once_with_its_size(start in 0i64..1000, skip in 1i64..50_000) {
            let mut continuity = OffsetContinuity::default();
            prop_assert_eq!(continuity.observe(0, start), None);
            let gap = continuity.observe(0, start + 1 + skip).expect("gap");
            prop_assert_eq!(gap.skipped(), skip);
            prop_assert_eq!(continuity.observe(0, start + 2 + skip), None);
        }
    }

    #[test]
    fn partitions_are_independent() {
        let mut continuity = OffsetContinuity::default();
        continuity.expect(0, 10);
        continuity.expect(1, 0);
        assert_eq!(continuity.observe(1, 0), None);
        assert_eq!(
            continuity.observe(0, 12),
            Some(OffsetGap {
                partition: 0,
                expected: 10,
                got: 12
            })
        );
    }
}
