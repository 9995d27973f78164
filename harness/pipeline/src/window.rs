//! Event-time windows: epoch-aligned, half-open `[start, end)`, tumbling or
//! sliding, and the three window shapes the feature computations use.
//!
//! Sliding windows are handled through panes: a window of `size` sliding every
//! `slide` is the union of `size / slide` consecutive panes of length `slide`, so
//! an event is added once to its pane and a window is summed from its panes when
//! it fires (Flink's pane optimisation for HOP windows). Windows can start before
//! the epoch (the first sliding windows over timestamp 0 start at -45 min), as in
//! Flink's window assigners.

use serde::{Deserialize, Serialize};

use crate::event::MAX_TIMESTAMP_MS;

/// One minute in milliseconds.
pub const MINUTE_MS: i64 = 60_000;
/// One hour in milliseconds.
pub const HOUR_MS: i64 = 60 * MINUTE_MS;

/// User features: 1 h tumbling windows.
pub const USER_WINDOW: WindowSpec = WindowSpec {
    size_ms: HOUR_MS,
    slide_ms: HOUR_MS,
};
/// Item hot scores: 1 h windows sliding every 15 min.
pub const HOT_WINDOW: WindowSpec = WindowSpec {
    size_ms: HOUR_MS,
    slide_ms: 15 * MINUTE_MS,
};
/// Recommendation metrics: 1 min tumbling windows.
pub const METRICS_WINDOW: WindowSpec = WindowSpec {
    size_ms: MINUTE_MS,
    slide_ms: MINUTE_MS,
};

/// A half-open event-time interval `[start, end)` in epoch milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Window {
    /// The first millisecond in the window.
    pub start: i64,
    /// The first millisecond after the window.
    pub end: i64,
}

impl Window {
    /// The last millisecond in the window (`end - 1`): the window fires once the
    /// watermark reaches it, and an event arriving after that is late for it.
    pub fn max_timestamp(self) -> i64 {
        self.end - 1
    }

    /// Whether `timestamp` falls inside the window.
    pub fn contains(self, timestamp: i64) -> bool {
        self.start <= timestamp && timestamp < self.end
    }
}

/// The shape of a family of epoch-aligned windows: tumbling when `slide == size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowSpec {
    size_ms: i64,
    slide_ms: i64,
}

impl WindowSpec {
    /// A window shape, or `None` unless `0 < slide <= size` and `slide` divides `size`
    /// (the pane scheme needs whole panes).
    pub fn new(size_ms: i64, slide_ms: i64) -> Option<WindowSpec> {
        (slide_ms > 0 && size_ms >= slide_ms && size_ms % slide_ms == 0)
            .then_some(WindowSpec { size_ms, slide_ms })
    }

    /// The window length.
    pub fn size_ms(self) -> i64 {
        self.size_ms
    }

    /// The distance between consecutive window starts (and the pane length).
    pub fn slide_ms(self) -> i64 {
        self.slide_ms
    }

    /// How many windows contain each timestamp (and how many panes make a window).
    pub fn windows_per_timestamp(self) -> i64 {
        self.size_ms / self.slide_ms
    }

    /// The start of the pane holding `timestamp` (also the start of the latest
    /// window holding it).
    #[inline]
    pub fn pane_start(self, timestamp: i64) -> i64 {
        if timestamp >= 0 && self.slide_ms > 0 {
            // Every valid event time: unsigned remainder is a few instructions
            // cheaper than the signed Euclidean one, on the per-event path.
            timestamp - (timestamp as u64 % self.slide_ms as u64) as i64
        } else {
            timestamp - timestamp.rem_euclid(self.slide_ms)
        }
    }

    /// The window starting at `start`.
    pub fn window_at(self, start: i64) -> Window {
        Window {
            start,
            end: start + self.size_ms,
        }
    }

    /// The latest-starting window holding `timestamp` (the only one when tumbling).
    pub fn latest_window(self, timestamp: i64) -> Window {
        self.window_at(self.pane_start(timestamp))
    }

    /// The earliest-starting window holding `timestamp`.
    pub fn earliest_window(self, timestamp: i64) -> Window {
        self.window_at(self.pane_start(timestamp) - (self.size_ms - self.slide_ms))
    }

    /// Every window holding `timestamp`, earliest first.
    pub fn windows(self, timestamp: i64) -> impl Iterator<Item = Window> {
        let latest = self.pane_start(timestamp);
        let count = self.windows_per_timestamp();
        (0..count).map(move |back| self.window_at(latest - (count - 1 - back) * self.slide_ms))
    }

    /// Whether `start` can start a window (or pane) of this shape holding a
    /// valid timestamp: aligned to the slide, and within the range events can
    /// have, so that window arithmetic cannot overflow. Checkpoints are checked
    /// with it.
    pub(crate) fn is_start(self, start: i64) -> bool {
        (-self.size_ms..=MAX_TIMESTAMP_MS).contains(&start) && self.pane_start(start) == start
    }

    /// The smallest window end `e` of this shape with `e - 1 > watermark`: the
    /// next point at which a window of this shape fires.
    pub(crate) fn next_fire_after(self, watermark: i64) -> i64 {
        // Ends are multiples of the slide; find the first one above watermark + 1.
        // Saturating at both ends: "no watermark" (i64::MIN) and "drained" (i64::MAX).
        let above = watermark.saturating_add(1);
        let base = above.saturating_sub(above.rem_euclid(self.slide_ms));
        base.checked_add(self.slide_ms)
            .map_or(i64::MAX, |end| end - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tumbling_windows_are_epoch_aligned_and_half_open() {
        assert_eq!(
            USER_WINDOW.windows(0).collect::<Vec<_>>(),
            vec![Window {
                start: 0,
                end: 3_600_000
            }]
        );
        assert_eq!(
            USER_WINDOW.latest_window(3_599_999),
            Window {
                start: 0,
                end: 3_600_000
            }
        );
        assert_eq!(
            USER_WINDOW.latest_window(3_600_000),
            Window {
                start: 3_600_000,
                end: 7_200_000
            }
        );
        assert_eq!(
            METRICS_WINDOW.latest_window(1_730_800_000_000),
            Window {
                start: 1_730_799_960_000,
                end: 1_730_800_020_000
            }
        );
    }

    #[test]
    fn sliding_windows_hold_each_timestamp_four_times() {
        // 10:20 lies in the windows starting 09:30, 09:45, 10:00 and 10:15.
        let ts = 10 * HOUR_MS + 20 * MINUTE_MS;
        let starts: Vec<i64> = HOT_WINDOW.windows(ts).map(|w| w.start).collect();
        assert_eq!(
            starts,
            vec![
                9 * HOUR_MS + 30 * MINUTE_MS,
                9 * HOUR_MS + 45 * MINUTE_MS,
                10 * HOUR_MS,
                10 * HOUR_MS + 15 * MINUTE_MS
            ]
        );
        assert!(
            HOT_WINDOW
                .windows(ts)
                .all(|w| w.contains(ts) && w.end - w.start == HOUR_MS)
        );
    }

    #[test]
    fn next_fire_is_the_next_window_end_minus_one() {
        assert!(
            METRICS_WINDOW.next_fire_after(i64::MIN) < 0,
            "no watermark yet: the first watermark fires"
        );
        assert_eq!(METRICS_WINDOW.next_fire_after(59_998), 59_999);
        assert_eq!(METRICS_WINDOW.next_fire_after(59_999), 119_999);
        assert_eq!(HOT_WINDOW.next_fire_after(0), 15 * MINUTE_MS - 1);
        assert_eq!(
            HOT_WINDOW.next_fire_after(i64::MAX),
            i64::MAX,
            "nothing fires after a drain"
        );
    }

    #[test]
    fn window_starts_are_aligned_and_in_range() {
        assert!(HOT_WINDOW.is_start(-45 * MINUTE_MS));
        assert!(!HOT_WINDOW.is_start(-75 * MINUTE_MS));
        assert!(!HOT_WINDOW.is_start(MINUTE_MS));
        assert!(USER_WINDOW.is_start(MAX_TIMESTAMP_MS - MAX_TIMESTAMP_MS.rem_euclid(HOUR_MS)));
        assert!(!USER_WINDOW.is_start(i64::MAX - i64::MAX.rem_euclid(HOUR_MS)));
    }

    #[test]
    fn bad_shapes_are_rejected() {
        assert_eq!(WindowSpec::new(0, 0), None);
        assert_eq!(WindowSpec::new(10, 3), None);
        assert_eq!(WindowSpec::new(10, 20), None);
        assert!(WindowSpec::new(HOUR_MS, 15 * MINUTE_MS).is_some());
    }
}
