//! The three feature computations of the seed's Flink jobs, one file each.
//!
//! Each computation owns the open window state of one (tenant, scenario) group,
//! adds accepted events to it, fires the windows the watermark has passed, and
//! snapshots/restores that state. Lateness is decided by the engine, which owns
//! the watermark; a computation only sees the events it must count.

pub mod hot;
pub mod metrics;
mod ranking;
pub mod user;

use std::collections::VecDeque;

/// The largest counter value a checkpoint may hold (2^60): far beyond any real
/// count, and low enough that no later increment or weighted sum can overflow.
/// A larger value means the checkpoint is corrupt.
pub(crate) const MAX_RESTORED_COUNT: u64 = 1 << 60;

/// Whether every counter is at most [`MAX_RESTORED_COUNT`].
pub(crate) fn counts_plausible(counts: &[u64]) -> bool {
    counts.iter().all(|count| *count <= MAX_RESTORED_COUNT)
}

/// The (tenant, scenario) a piece of window state belongs to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct GroupKey {
    pub(crate) tenant_id: Box<str>,
    pub(crate) scenario_id: Box<str>,
}

/// Finds the entry for `start` in a deque kept sorted by start, inserting a new
/// one where it belongs. Events nearly always hit the newest window, so the
/// search runs from the back.
pub(crate) fn window_entry<T>(
    windows: &mut VecDeque<T>,
    start: i64,
    start_of: impl Fn(&T) -> i64,
    create: impl FnOnce() -> T,
) -> &mut T {
    // Nearly every event: the newest window.
    if windows.back().is_some_and(|w| start_of(w) == start) {
        let last = windows.len() - 1;
        return &mut windows[last];
    }
    let mut idx = windows.len();
    while idx > 0 && start_of(&windows[idx - 1]) > start {
        idx -= 1;
    }
    if idx == 0 || start_of(&windows[idx - 1]) != start {
        windows.insert(idx, create());
        return &mut windows[idx];
    }
    &mut windows[idx - 1]
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::window_entry;

    #[test]
    fn window_entry_keeps_the_deque_sorted_and_reuses_entries() {
        let mut windows: VecDeque<(i64, u32)> = VecDeque::new();
        for start in [20, 10, 30, 20, 0, 30] {
            window_entry(&mut windows, start, |w| w.0, || (start, 0)).1 += 1;
        }
        assert_eq!(
            windows,
            VecDeque::from(vec![(0, 1), (10, 1), (20, 2), (30, 2)])
        );
    }
}
