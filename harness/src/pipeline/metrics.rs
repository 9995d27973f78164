//! What the running pipeline shares between its engine thread, its sink task
//! and its HTTP endpoint: counters, the latest fired metrics window per
//! (tenant, scenario), and the abort flag; plus their Prometheus rendering.
//!
//! The engine thread publishes its counters once per batch (not per event), so
//! the hot path touches no shared memory.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::PathBuf,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed},
    },
};

use harness_pipeline::{Stats, features::metrics::WindowMetrics};

/// `watermark` before the first one exists.
const NO_WATERMARK: i64 = i64::MIN;

/// State shared by the pipeline's parts (behind an `Arc`).
#[derive(Debug)]
pub(crate) struct Shared {
    /// Set to stop at once, without a final checkpoint (a simulated crash or
    /// a dropped handle).
    abort: AtomicBool,
    /// The engine's counters as of its last batch.
    stats: Mutex<Stats>,
    /// The effective watermark (ms), or `NO_WATERMARK`.
    watermark: AtomicI64,
    /// The latest fired 1-min metrics window per (tenant, scenario).
    latest: Mutex<BTreeMap<(String, String), WindowMetrics>>,
    /// Pipelined requests Redis acknowledged.
    pub(crate) redis_round_trips: AtomicU64,
    /// Redis requests that failed and were retried.
    pub(crate) redis_retries: AtomicU64,
    /// Checkpoints written.
    pub(crate) checkpoints: AtomicU64,
    /// Savepoints written.
    savepoints: AtomicU64,
    /// Kafka offset jumps seen (records the broker no longer had).
    pub(crate) offset_gaps: AtomicU64,
    /// Errors librdkafka reported (it retries them itself).
    pub(crate) kafka_errors: AtomicU64,
    /// Dead letters the DLQ topic did not accept in time.
    pub(crate) dead_letters_undelivered: AtomicU64,
    /// The most recent checkpoint directory.
    last_checkpoint: Mutex<Option<PathBuf>>,
    /// The most recent savepoint directory.
    last_savepoint: Mutex<Option<PathBuf>>,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            abort: AtomicBool::new(false),
            stats: Mutex::default(),
            watermark: AtomicI64::new(NO_WATERMARK),
            latest: Mutex::default(),
            redis_round_trips: AtomicU64::new(0),
            redis_retries: AtomicU64::new(0),
            checkpoints: AtomicU64::new(0),
            savepoints: AtomicU64::new(0),
            offset_gaps: AtomicU64::new(0),
            kafka_errors: AtomicU64::new(0),
            dead_letters_undelivered: AtomicU64::new(0),
            last_checkpoint: Mutex::default(),
            last_savepoint: Mutex::default(),
        }
    }
}

/// A point-in-time copy of the pipeline's progress, for callers that wait for
/// a condition (tests, scenario steps).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// The engine's counters.
    pub stats: Stats,
    /// The effective watermark (ms).
    pub watermark: Option<i64>,
    /// Pipelined requests Redis acknowledged.
    pub redis_round_trips: u64,
    /// Redis requests retried after a failure.
    pub redis_retries: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
    /// The most recent checkpoint directory.
    pub last_checkpoint: Option<PathBuf>,
    /// Kafka offset jumps seen.
    pub offset_gaps: u64,
    /// Errors librdkafka reported.
    pub kafka_errors: u64,
}

impl Shared {
    /// Asks every part to stop at once.
    pub(crate) fn abort(&self) {
        self.abort.store(true, Relaxed);
    }

    /// Whether [`Shared::abort`] was called.
    pub(crate) fn aborted(&self) -> bool {
        self.abort.load(Relaxed)
    }

    /// Publishes the engine's counters and watermark.
    pub(crate) fn publish(&self, stats: &Stats, watermark: Option<i64>) {
        lock(&self.stats).clone_from(stats);
        self.watermark
            .store(watermark.unwrap_or(NO_WATERMARK), Relaxed);
    }

    /// Records a fired metrics window (kept if it is the group's latest).
    pub(crate) fn record_metrics(&self, row: WindowMetrics) {
        let mut latest = lock(&self.latest);
        let key = (row.tenant_id.clone(), row.scenario_id.clone());
        match latest.get(&key) {
            Some(known) if known.window_start > row.window_start => {}
            _ => {
                latest.insert(key, row);
            }
        }
    }

    /// Notes a written checkpoint.
    pub(crate) fn checkpoint_written(&self, path: PathBuf) {
        self.checkpoints.fetch_add(1, Relaxed);
        *lock(&self.last_checkpoint) = Some(path);
    }

    /// Notes a written savepoint.
    pub(crate) fn savepoint_written(&self, path: PathBuf) {
        self.savepoints.fetch_add(1, Relaxed);
        *lock(&self.last_savepoint) = Some(path);
    }

    /// The most recent savepoint directory.
    pub(crate) fn last_savepoint(&self) -> Option<PathBuf> {
        lock(&self.last_savepoint).clone()
    }

    /// A copy of the progress counters.
    pub(crate) fn progress(&self) -> Progress {
        let watermark = self.watermark.load(Relaxed);
        Progress {
            stats: lock(&self.stats).clone(),
            watermark: (watermark != NO_WATERMARK).then_some(watermark),
            redis_round_trips: self.redis_round_trips.load(Relaxed),
            redis_retries: self.redis_retries.load(Relaxed),
            checkpoints: self.checkpoints.load(Relaxed),
            last_checkpoint: lock(&self.last_checkpoint).clone(),
            offset_gaps: self.offset_gaps.load(Relaxed),
            kafka_errors: self.kafka_errors.load(Relaxed),
        }
    }

    /// The Prometheus text exposition of everything above.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        render_windows(&mut out, &lock(&self.latest));
        let progress = self.progress();
        let stats = &progress.stats;
        let counters = [
            (
                "pipeline_events_total",
                "Records processed (valid and malformed).",
                stats.events,
            ),
            ("pipeline_valid_events_total", "Valid events.", stats.valid),
            (
                "pipeline_malformed_events_total",
                "Malformed events (dead-lettered).",
                stats.malformed,
            ),
            (
                "pipeline_fully_late_events_total",
                "Events late for every window (dead-lettered).",
                stats.fully_late,
            ),
            (
                "pipeline_duplicate_records_total",
                "Records skipped as already processed.",
                stats.duplicates,
            ),
            (
                "pipeline_dead_letters_total",
                "Dead letters emitted.",
                stats.dead_letters(),
            ),
            (
                "pipeline_redis_round_trips_total",
                "Pipelined requests Redis acknowledged.",
                progress.redis_round_trips,
            ),
            (
                "pipeline_redis_retries_total",
                "Redis requests retried after a failure.",
                progress.redis_retries,
            ),
            (
                "pipeline_checkpoints_total",
                "Checkpoints written.",
                progress.checkpoints,
            ),
            (
                "pipeline_savepoints_total",
                "Savepoints written.",
                self.savepoints.load(Relaxed),
            ),
            (
                "pipeline_kafka_offset_gaps_total",
                "Offset jumps: records the broker no longer had.",
                progress.offset_gaps,
            ),
            (
                "pipeline_kafka_errors_total",
                "Errors librdkafka reported and retried.",
                progress.kafka_errors,
            ),
            (
                "pipeline_dead_letters_undelivered_total",
                "Dead letters the dead-letter topic did not accept in time.",
                self.dead_letters_undelivered.load(Relaxed),
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let per_computation = [
            (
                "pipeline_late_events_total",
                "Events dropped from at least one window.",
                &stats.late,
            ),
            (
                "pipeline_windows_fired_total",
                "Windows fired.",
                &stats.windows_fired,
            ),
        ];
        for (name, help, values) in per_computation {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (computation, value) in [
                ("user_features", values.user_features),
                ("item_hot", values.item_hot),
                ("metrics", values.metrics),
            ] {
                let _ = writeln!(out, "{name}{{computation=\"{computation}\"}} {value}");
            }
        }
        if let Some(watermark) = progress.watermark {
            let _ = writeln!(
                out,
                "# HELP pipeline_watermark_ms The effective event-time watermark.\n# TYPE pipeline_watermark_ms gauge\npipeline_watermark_ms {watermark}"
            );
        }
        out
    }
}

/// A gauge of the latest fired metrics window: name, help, value.
pub(crate) type WindowGauge = (
    &'static str,
    &'static str,
    fn(&WindowMetrics) -> Option<f64>,
);

/// The `recommendation_*` gauges. `recommendation_window_end_ms` says which
/// window the others describe, so a scrape can be checked against the oracle
/// at any time, not only after the last window fired.
pub(crate) const WINDOW_GAUGES: [WindowGauge; 6] = [
    (
        "recommendation_window_end_ms",
        "End (epoch ms, exclusive) of the latest fired 1-min window.",
        |m| Some(m.window_end as f64),
    ),
    (
        "recommendation_impressions",
        "IMPRESSION events in the latest fired 1-min window.",
        |m| Some(m.impressions as f64),
    ),
    (
        "recommendation_clicks",
        "CLICK events in the latest fired 1-min window.",
        |m| Some(m.clicks as f64),
    ),
    (
        "recommendation_ctr",
        "clicks / impressions in the latest fired 1-min window.",
        |m| m.ctr,
    ),
    (
        "recommendation_avg_watch_duration",
        "Mean VIEW watch time in seconds in the latest fired 1-min window.",
        |m| m.avg_watch_s,
    ),
    (
        "recommendation_completion_rate",
        "Share of VIEWs watched >= 30 s in the latest fired 1-min window.",
        |m| m.completion_rate,
    ),
];

/// The series name of a gauge for one (tenant, scenario).
pub(crate) fn series_id(name: &str, tenant: &str, scenario: &str) -> String {
    format!(
        "{name}{{tenant_id=\"{}\",scenario_id=\"{}\"}}",
        escape_label(tenant),
        escape_label(scenario)
    )
}

/// One series per (tenant, scenario) and gauge. A value that is undefined for
/// the window (no impressions, no views) is left out, as a Flink job's
/// reporter would not report it.
fn render_windows(out: &mut String, latest: &BTreeMap<(String, String), WindowMetrics>) {
    for (name, help, value) in WINDOW_GAUGES {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for ((tenant, scenario), row) in latest {
            if let Some(value) = value(row) {
                let _ = writeln!(out, "{} {value}", series_id(name, tenant, scenario));
            }
        }
    }
}

/// Prometheus label-value escaping: backslash, double quote, newline.
pub(crate) fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A poisoned lock only means another thread panicked mid-update of plain
/// counters; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(tenant: &str, start: i64, impressions: u64, ctr: Option<f64>) -> WindowMetrics {
        WindowMetrics {
            tenant_id: tenant.into(),
            scenario_id: "s\"1".into(),
            window_start: start,
            window_end: start + 60_000,
            impressions,
            clicks: 1,
            ctr,
            avg_watch_s: None,
            completion_rate: None,
        }
    }

    #[test]
    fn the_latest_window_per_group_is_exposed_with_escaped_labels() {
        let shared = Shared::default();
        shared.record_metrics(window("demo", 120_000, 40, Some(0.025)));
        // An older window arriving later does not replace the latest.
        shared.record_metrics(window("demo", 60_000, 7, Some(0.5)));
        let text = shared.render();
        assert!(
            text.contains(
                "recommendation_impressions{tenant_id=\"demo\",scenario_id=\"s\\\"1\"} 40\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("recommendation_ctr{tenant_id=\"demo\",scenario_id=\"s\\\"1\"} 0.025\n"),
            "{text}"
        );
        assert!(
            !text.contains("recommendation_avg_watch_duration{"),
            "undefined values are left out: {text}"
        );
        assert!(text.contains("pipeline_events_total 0\n"), "{text}");
        assert!(
            !text.contains("pipeline_watermark_ms"),
            "no watermark yet: {text}"
        );
        shared.publish(
            &Stats {
                events: 5,
                ..Stats::default()
            },
            Some(42),
        );
        let text = shared.render();
        assert!(
            text.contains("pipeline_events_total 5\n")
                && text.contains("pipeline_watermark_ms 42\n"),
            "{text}"
        );
    }
}
