//! Input splits (Kafka partitions), their offsets, and the event-time watermark.
//!
//! The contract (crate docs) defines one watermark for one ordered input: the largest valid
//! timestamp seen so far minus the delay. With several splits we do what Flink's
//! Kafka source does: each split has its own watermark (its own largest valid
//! timestamp minus the delay), and the effective watermark is the minimum over
//! the assigned splits, so a split that has not seen a valid event yet holds it
//! back. With one split this is exactly the contract's rule. The effective
//! watermark never moves backwards (adding a split later cannot un-fire windows).
//! Flink can mark idle splits so they stop holding the watermark back; this
//! model has no idleness timeout (it would need the wall clock), so an empty
//! partition holds every window open until the input is drained.

use serde::{Deserialize, Serialize};

/// An input split: the Kafka partition number, or 0 for a file.
pub type SplitId = i32;

/// "No watermark yet": below every window's last timestamp, so nothing is late
/// and nothing fires.
pub(crate) const NO_WATERMARK: i64 = i64::MIN;

/// The watermark after a drain: at or above every window's last timestamp.
pub(crate) const DRAINED_WATERMARK: i64 = i64::MAX;

/// What the engine knows about one split.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitProgress {
    /// The split.
    pub split: SplitId,
    /// The offset to resume reading from: one past the last record processed,
    /// `None` if no record has been processed.
    pub next_offset: Option<i64>,
    /// The largest valid event timestamp seen on this split, `None` if none yet.
    pub max_timestamp: Option<i64>,
}

/// The per-split state and the effective watermark.
#[derive(Clone, Debug)]
pub(crate) struct Watermarks {
    delay_ms: i64,
    splits: Vec<SplitProgress>,
    /// The effective watermark, `NO_WATERMARK` until every split has a valid event.
    current: i64,
}

impl Watermarks {
    pub(crate) fn new(delay_ms: u64, splits: &[SplitId]) -> Watermarks {
        let mut watermarks = Watermarks {
            delay_ms: i64::try_from(delay_ms).unwrap_or(i64::MAX),
            splits: Vec::new(),
            current: NO_WATERMARK,
        };
        for split in splits {
            watermarks.split_index(*split);
        }
        watermarks
    }

    /// Rebuilds from a checkpoint; `current` is the stored effective watermark.
    /// It is kept as it was even when a lower delay would put the watermark
    /// higher now: it moves on at the next event that raises a split's
    /// largest timestamp, through the engine, which fires every window it
    /// passes (jumping here would pass windows without firing them). A
    /// higher delay never moves it back.
    pub(crate) fn restore(delay_ms: u64, splits: Vec<SplitProgress>, current: i64) -> Watermarks {
        let mut watermarks = Watermarks::new(delay_ms, &[]);
        watermarks.splits = splits;
        watermarks.splits.sort_by_key(|progress| progress.split);
        watermarks.current = current;
        watermarks
    }

    pub(crate) fn current(&self) -> i64 {
        self.current
    }

    pub(crate) fn splits(&self) -> &[SplitProgress] {
        &self.splits
    }

    /// The index of `split`, adding it (with no watermark yet) if it is new.
    pub(crate) fn split_index(&mut self, split: SplitId) -> usize {
        match self
            .splits
            .binary_search_by_key(&split, |progress| progress.split)
        {
            Ok(idx) => idx,
            Err(idx) => {
                self.splits.insert(
                    idx,
                    SplitProgress {
                        split,
                        next_offset: None,
                        max_timestamp: None,
                    },
                );
                idx
            }
        }
    }

    pub(crate) fn progress_mut(&mut self, idx: usize) -> &mut SplitProgress {
        &mut self.splits[idx]
    }

    /// Records a valid timestamp on a split and returns the new effective watermark.
    pub(crate) fn observe(&mut self, idx: usize, timestamp: i64) -> i64 {
        let progress = &mut self.splits[idx];
        if progress.max_timestamp.is_none_or(|max| timestamp > max) {
            progress.max_timestamp = Some(timestamp);
            self.current = self.current.max(self.effective());
        }
        self.current
    }

    /// Moves the watermark past every window (end of input, or a drain).
    pub(crate) fn drain(&mut self) {
        self.current = DRAINED_WATERMARK;
    }

    fn effective(&self) -> i64 {
        let mut min = DRAINED_WATERMARK;
        for progress in &self.splits {
            match progress.max_timestamp {
                None => return NO_WATERMARK,
                Some(max) => min = min.min(max.saturating_sub(self.delay_ms)),
            }
        }
        if self.splits.is_empty() {
            NO_WATERMARK
        } else {
            min
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_split_follows_the_largest_timestamp_minus_the_delay() {
        let mut marks = Watermarks::new(30_000, &[0]);
        assert_eq!(marks.current(), NO_WATERMARK);
        assert_eq!(marks.observe(0, 100_000), 70_000);
        assert_eq!(
            marks.observe(0, 90_000),
            70_000,
            "an older event does not move it back"
        );
        assert_eq!(marks.observe(0, 130_000), 100_000);
    }

    #[test]
    fn several_splits_take_the_minimum_and_an_empty_split_holds_it_back() {
        let mut marks = Watermarks::new(1_000, &[0, 1]);
        let first = marks.split_index(0);
        let second = marks.split_index(1);
        assert_eq!(
            marks.observe(first, 50_000),
            NO_WATERMARK,
            "split 1 has seen nothing"
        );
        assert_eq!(marks.observe(second, 20_000), 19_000);
        assert_eq!(
            marks.observe(second, 80_000),
            49_000,
            "now split 0 is the slower one"
        );
    }

    #[test]
    fn a_new_split_does_not_move_the_watermark_back() {
        let mut marks = Watermarks::new(0, &[0]);
        assert_eq!(marks.observe(0, 10_000), 10_000);
        let added = marks.split_index(7);
        assert_eq!(marks.current(), 10_000);
        assert_eq!(marks.observe(added, 5_000), 10_000);
        assert_eq!(marks.observe(added, 20_000), 10_000);
        assert_eq!(marks.observe(0, 30_000), 20_000);
    }
}
