//! Recommendation metrics: 1 min tumbling windows per (tenant, scenario) over
//! all valid events: impressions, clicks, CTR, average watch time and
//! completion rate.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::{
    event::{Action, Event},
    features::{GroupKey, MAX_RESTORED_COUNT, counts_plausible, window_entry},
    window::METRICS_WINDOW,
};

/// A VIEW at least this long counts as completed.
pub const COMPLETED_VIEW_MS: u64 = 30_000;

/// One row of metrics: a (tenant, scenario) in one minute. Ratios are `None`
/// (JSON `null`) when their denominator is zero.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowMetrics {
    /// The tenant.
    pub tenant_id: String,
    /// The scenario.
    pub scenario_id: String,
    /// The window's start, epoch ms.
    pub window_start: i64,
    /// The window's end (exclusive), epoch ms.
    pub window_end: i64,
    /// IMPRESSION events.
    pub impressions: u64,
    /// CLICK events.
    pub clicks: u64,
    /// `clicks / impressions`; `None` without impressions.
    pub ctr: Option<f64>,
    /// Sum of `watch_duration_ms` over VIEW events / VIEW events / 1000; `None` without VIEWs.
    pub avg_watch_s: Option<f64>,
    /// VIEW events with `watch_duration_ms >= 30000` / VIEW events; `None` without VIEWs.
    pub completion_rate: Option<f64>,
}

/// The running sums of one window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MetricsSums {
    impressions: u64,
    clicks: u64,
    views: u64,
    completed_views: u64,
    /// Each duration is at most `i64::MAX`, so the sum needs 128 bits to be
    /// safe from overflow.
    watch_ms: u128,
}

impl MetricsSums {
    fn add(&mut self, event: &Event<'_>) {
        match event.action_type {
            Action::Impression => self.impressions += 1,
            Action::Click => self.clicks += 1,
            Action::View => {
                self.views += 1;
                self.watch_ms += u128::from(event.watch_duration_ms);
                if event.watch_duration_ms >= COMPLETED_VIEW_MS {
                    self.completed_views += 1;
                }
            }
            Action::Like | Action::Share => {}
        }
    }

    fn row(self, group: &GroupKey, window_start: i64) -> WindowMetrics {
        let window = METRICS_WINDOW.window_at(window_start);
        let views = (self.views > 0).then_some(self.views as f64);
        WindowMetrics {
            tenant_id: group.tenant_id.to_string(),
            scenario_id: group.scenario_id.to_string(),
            window_start: window.start,
            window_end: window.end,
            impressions: self.impressions,
            clicks: self.clicks,
            ctr: (self.impressions > 0).then(|| self.clicks as f64 / self.impressions as f64),
            avg_watch_s: views.map(|views| self.watch_ms as f64 / views / 1000.0),
            completion_rate: views.map(|views| self.completed_views as f64 / views),
        }
    }
}

/// The open metrics windows of one group, sorted by start.
#[derive(Debug, Default)]
pub(crate) struct MetricsState {
    windows: VecDeque<(i64, MetricsSums)>,
}

impl MetricsState {
    /// Counts a valid event in the window starting at `start`.
    pub(crate) fn add(&mut self, start: i64, event: &Event<'_>) {
        window_entry(
            &mut self.windows,
            start,
            |w| w.0,
            || (start, MetricsSums::default()),
        )
        .1
        .add(event);
    }

    /// Fires every window whose last millisecond the watermark has reached;
    /// returns how many fired.
    pub(crate) fn fire(
        &mut self,
        watermark: i64,
        group: &GroupKey,
        emit: &mut impl FnMut(WindowMetrics),
    ) -> u64 {
        let mut fired = 0;
        while let Some((start, sums)) = self
            .windows
            .front()
            .copied()
            .filter(|(start, _)| METRICS_WINDOW.window_at(*start).max_timestamp() <= watermark)
        {
            self.windows.pop_front();
            emit(sums.row(group, start));
            fired += 1;
        }
        fired
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    pub(crate) fn snapshot(&self) -> Vec<(i64, MetricsSums)> {
        self.windows.iter().copied().collect()
    }

    pub(crate) fn restore(
        snapshots: Vec<(i64, MetricsSums)>,
        watermark: i64,
    ) -> Result<MetricsState, String> {
        let mut state = MetricsState::default();
        for (start, sums) in snapshots {
            if !METRICS_WINDOW.is_start(start) {
                return Err(format!(
                    "metrics window start {start} is not a window start (aligned to 1 min, year 9999 at most)"
                ));
            }
            if state.windows.iter().any(|w| w.0 == start) {
                return Err(format!("metrics window {start} appears twice"));
            }
            if METRICS_WINDOW.window_at(start).max_timestamp() <= watermark {
                return Err(format!("metrics window {start} should already have fired"));
            }
            let counts = [
                sums.impressions,
                sums.clicks,
                sums.views,
                sums.completed_views,
            ];
            if !counts_plausible(&counts) || sums.watch_ms > u128::from(MAX_RESTORED_COUNT) << 64 {
                return Err(format!("metrics window {start} has an implausible count"));
            }
            window_entry(&mut state.windows, start, |w| w.0, || (start, sums));
        }
        Ok(state)
    }
}
