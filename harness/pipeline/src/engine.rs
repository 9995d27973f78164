//! The feature job: decodes events, assigns them to windows under the
//! watermark, runs the three computations, and fires windows as event time
//! passes.
//!
//! Per event the engine does, in order: skip a record whose offset its split
//! has already processed (counted as a duplicate); decode; for a malformed
//! event, emit a dead letter and stop (malformed events never move the
//! watermark); decide for each window the event belongs to whether it is late
//! (the watermark, before this event, has reached the window's last
//! millisecond, i.e. the window has fired) and add it to the windows it is on
//! time for; if it was late for every one of its windows, emit a dead letter;
//! then advance the watermark and fire every window it has reached.
//!
//! Firing is the only place outputs are created, and it only runs when the
//! watermark crosses a window end (at most once per event-time minute with the
//! built-in window shapes). Outputs of one firing come in window-end order, then
//! metrics, user features, hot items, then by tenant and scenario, and user rows
//! of one window in an order fixed by the user ids (by their hash), so a run is
//! deterministic whatever the order events arrived in, the hash maps' internal
//! order, or a restore in between.
//!
//! Lateness counters: `late.<computation>` counts events dropped from at least
//! one window of that computation (a partly late VIEW counts in `item_hot`
//! without being a dead letter); `fully_late` counts events late for every
//! window they belong to: they contributed nothing and were dead-lettered.
//! Per-(tenant, scenario) state is created on first sight and kept for the life
//! of the engine (a few bytes once its windows have fired).

use std::{fmt, num::NonZeroU64};

use serde::{Deserialize, Serialize};

use crate::{
    checkpoint::{CHECKPOINT_VERSION, Checkpoint, GroupSnapshot, RestoreError},
    event::{Event, Malformed, decode},
    features::{
        counts_plausible,
        hot::{HotConfig, HotItems, HotState},
        metrics::{MetricsState, WindowMetrics},
        user::{UserFeatures, UserState},
    },
    groups::Groups,
    redis_model::{KeyTemplates, RedisWrite, write_for},
    watermark::{DRAINED_WATERMARK, NO_WATERMARK, SplitId, SplitProgress, Watermarks},
    window::{HOT_WINDOW, METRICS_WINDOW, USER_WINDOW},
};

/// How the job computes and where it writes. `Default` gives the contract's values (crate docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Watermark = largest valid timestamp − this (default 30,000 ms).
    pub watermark_delay_ms: u64,
    /// Items kept per hot-item window (default 1000; 0 disables hot-item output).
    pub hot_top_n: usize,
    /// Half-life of the hot-score decay by age; `None` (default) for no decay.
    pub hot_half_life_ms: Option<NonZeroU64>,
    /// The UTC offset, in minutes east, of the clock that names active periods
    /// (default 0).
    pub active_period_utc_offset_minutes: i32,
    /// Where features are written in Redis.
    pub key_templates: KeyTemplates,
    /// The hot-item sorted sets' TTL (default 7200 s).
    pub hot_ttl_secs: u64,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            watermark_delay_ms: 30_000,
            hot_top_n: 1000,
            hot_half_life_ms: None,
            active_period_utc_offset_minutes: 0,
            key_templates: KeyTemplates::default(),
            hot_ttl_secs: 7200,
        }
    }
}

impl EngineConfig {
    /// The Redis write for an output under this configuration's keys and TTL
    /// (see [`write_for`]).
    pub fn redis_write(&self, output: &Output) -> Option<RedisWrite> {
        write_for(output, &self.key_templates, self.hot_ttl_secs)
    }

    fn hot(&self) -> HotConfig {
        HotConfig {
            top_n: self.hot_top_n,
            half_life_ms: self.hot_half_life_ms,
        }
    }
}

/// Something the engine produced.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// A user's features for a fired 1 h window (a Redis hash).
    UserFeatures(UserFeatures),
    /// The top items of a fired sliding window (replaces a Redis sorted set).
    HotItems(HotItems),
    /// A (tenant, scenario)'s metrics for a fired 1 min window (Prometheus).
    Metrics(WindowMetrics),
    /// An event that contributed nothing (the dead-letter topic).
    DeadLetter(DeadLetter),
}

/// An event sent to the dead-letter topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// Where it was read.
    pub split: SplitId,
    /// Its offset in the split.
    pub offset: i64,
    /// Why it was dropped.
    pub reason: DeadLetterReason,
    /// The record as read.
    pub payload: Vec<u8>,
}

/// Why an event went to the dead-letter topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterReason {
    /// It is not a valid event.
    Malformed(Malformed),
    /// It is valid but every window it belongs to had already fired.
    Late,
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeadLetterReason::Malformed(reason) => write!(f, "{reason}"),
            DeadLetterReason::Late => f.write_str("late for every window"),
        }
    }
}

/// A counter kept per feature computation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerComputation {
    /// User features (1 h tumbling).
    pub user_features: u64,
    /// Item hot scores (1 h sliding by 15 min).
    pub item_hot: u64,
    /// Recommendation metrics (1 min tumbling).
    pub metrics: u64,
}

/// The engine's counters. They are part of checkpoints, so a restored run
/// continues them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Records processed (valid or malformed; duplicates excluded).
    pub events: u64,
    /// Valid events.
    pub valid: u64,
    /// Malformed events (all dead-lettered).
    pub malformed: u64,
    /// Valid events late for every window they belong to (all dead-lettered).
    pub fully_late: u64,
    /// Records skipped because their split had already processed that offset.
    pub duplicates: u64,
    /// Events dropped from at least one window, per computation.
    pub late: PerComputation,
    /// Windows fired (with at least one row), per computation.
    pub windows_fired: PerComputation,
}

impl Stats {
    /// Dead letters emitted: malformed plus fully late events.
    pub fn dead_letters(&self) -> u64 {
        self.malformed + self.fully_late
    }
}

/// The feature job over a set of input splits. See the module doc for the
/// per-event steps and the crate doc for the multi-split watermark.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    watermarks: Watermarks,
    groups: Groups,
    /// The next watermark value at which some window can fire.
    next_fire: i64,
    stats: Stats,
    /// Scratch for [`Engine::fire`]'s order keys, kept to reuse its capacity.
    fire_keys: Vec<(i64, u8, u32, u32)>,
}

/// The three computations, in the order their outputs of one window end come.
#[derive(Clone, Copy)]
enum Computation {
    Metrics = 0,
    User = 1,
    Hot = 2,
}

impl Engine {
    /// A fresh engine reading `splits` (more are added when first seen by
    /// [`Engine::process`]; an assigned split holds the watermark back until it
    /// has a valid event).
    pub fn new(config: EngineConfig, splits: &[SplitId]) -> Engine {
        let watermarks = Watermarks::new(config.watermark_delay_ms, splits);
        Engine {
            config,
            watermarks,
            groups: Groups::default(),
            next_fire: NO_WATERMARK,
            stats: Stats::default(),
            fire_keys: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The effective watermark, `None` until every split has seen a valid event
    /// (`Some(i64::MAX)` after a drain).
    pub fn watermark(&self) -> Option<i64> {
        let current = self.watermarks.current();
        (current != NO_WATERMARK).then_some(current)
    }

    /// Per-split offsets and largest timestamps, by split.
    pub fn splits(&self) -> &[SplitProgress] {
        self.watermarks.splits()
    }

    /// Assigns another split (e.g. a partition added to the topic). From now on
    /// it holds the watermark back until it has a valid event; the watermark
    /// itself never moves back.
    pub fn add_split(&mut self, split: SplitId) {
        self.watermarks.split_index(split);
    }

    /// Processes the record at `offset` of `split`, appending what it causes to
    /// `out`: a dead letter, fired windows, or nothing. Offsets must increase
    /// within a split; a record below the split's next offset was already
    /// processed (a replay after restore, or a redelivery) and is skipped.
    pub fn process(&mut self, split: SplitId, offset: i64, payload: &[u8], out: &mut Vec<Output>) {
        let split_idx = self.watermarks.split_index(split);
        let progress = self.watermarks.progress_mut(split_idx);
        if progress.next_offset.is_some_and(|next| offset < next) {
            self.stats.duplicates += 1;
            return;
        }
        progress.next_offset = Some(offset.saturating_add(1));
        self.stats.events += 1;
        // Matched in place: moving the decoded event out of the `Result` cost
        // a copy of it (and a stall reading what `decode` had just written).
        let decoded = decode(payload);
        let event = match &decoded {
            Ok(event) => event,
            Err(reason) => {
                self.stats.malformed += 1;
                let reason = DeadLetterReason::Malformed(reason.clone());
                out.push(Output::DeadLetter(DeadLetter {
                    split,
                    offset,
                    reason,
                    payload: payload.to_vec(),
                }));
                return;
            }
        };
        self.stats.valid += 1;
        if !self.aggregate(event) {
            self.stats.fully_late += 1;
            out.push(Output::DeadLetter(DeadLetter {
                split,
                offset,
                reason: DeadLetterReason::Late,
                payload: payload.to_vec(),
            }));
        }
        let previous = self.watermarks.current();
        let current = self.watermarks.observe(split_idx, event.timestamp);
        if current > previous && current >= self.next_fire {
            self.fire(previous, current, out);
        }
    }

    /// End of input (or Flink's `stop --drain`): moves the watermark past every
    /// window and fires them all. Events processed afterwards are late for
    /// every window, and so is every event after a restore from a snapshot
    /// taken now. To resume as if the drain had not happened, snapshot before
    /// draining (the runtime does): the windows the drain fired early then
    /// fire again, complete, when the data reaches them, and their absolute
    /// writes replace the early ones.
    pub fn drain(&mut self, out: &mut Vec<Output>) {
        let previous = self.watermarks.current();
        self.watermarks.drain();
        if previous < DRAINED_WATERMARK {
            self.fire(previous, DRAINED_WATERMARK, out);
        }
    }

    /// Adds a valid event to every window it is on time for; returns whether
    /// there was at least one.
    fn aggregate(&mut self, event: &Event<'_>) -> bool {
        let watermark = self.watermarks.current();
        let ts = event.timestamp;
        let metrics_start = METRICS_WINDOW.pane_start(ts);
        let metrics_on_time = METRICS_WINDOW.window_at(metrics_start).max_timestamp() > watermark;
        let engaged = event.action_type.is_engagement();
        let user_start = USER_WINDOW.pane_start(ts);
        let user_on_time = engaged && USER_WINDOW.window_at(user_start).max_timestamp() > watermark;
        let hot_start = HOT_WINDOW.pane_start(ts);
        let hot_earliest_late = HOT_WINDOW.earliest_window(ts).max_timestamp() <= watermark;
        let hot_any_on_time =
            engaged && HOT_WINDOW.window_at(hot_start).max_timestamp() > watermark;
        if !metrics_on_time {
            self.stats.late.metrics += 1;
        }
        if engaged && !user_on_time {
            self.stats.late.user_features += 1;
        }
        if engaged && hot_earliest_late {
            self.stats.late.item_hot += 1;
        }
        if !(metrics_on_time || user_on_time || hot_any_on_time) {
            return false;
        }
        let half_life_ms = self.config.hot_half_life_ms;
        let group = self
            .groups
            .get_or_insert(&event.tenant_id, &event.scenario_id);
        if metrics_on_time {
            group.metrics.add(metrics_start, event);
        }
        if user_on_time {
            group
                .user
                .add(user_start, &event.user_id, event.action_type);
        }
        if hot_any_on_time {
            group.hot.add(
                hot_start,
                ts,
                &event.item_id,
                event.action_type,
                half_life_ms,
            );
        }
        true
    }

    /// Fires every window whose last millisecond lies in `(previous, current]`.
    fn fire(&mut self, previous: i64, current: i64, out: &mut Vec<Output>) {
        // Outputs are ordered by (window end, computation, group rank, then
        // production order, which within a window is by user). Firing one
        // computation at a time, groups in rank order, produces exactly that
        // order whenever a firing covers one window end (nearly always while
        // records flow), so outputs go straight into `out`; only when the
        // order keys say otherwise (a drain, a jump of the watermark) is the
        // new tail reordered, by sorting small integer keys.
        let base = out.len();
        let mut keys = std::mem::take(&mut self.fire_keys);
        keys.clear();
        let hot_config = self.config.hot();
        let offset = self.config.active_period_utc_offset_minutes;
        let stats = &mut self.stats.windows_fired;
        for computation in [Computation::Metrics, Computation::User, Computation::Hot] {
            for rank in 0..self.groups.len() {
                let group = self.groups.by_rank_mut(rank);
                let mut emit = |end: i64, output: Output| {
                    let idx = (out.len() - base) as u32;
                    keys.push((end, computation as u8, group.rank, idx));
                    out.push(output);
                };
                match computation {
                    Computation::Metrics => {
                        stats.metrics += group.metrics.fire(current, &group.key, &mut |row| {
                            emit(row.window_end, Output::Metrics(row));
                        });
                    }
                    Computation::User => {
                        stats.user_features +=
                            group.user.fire(current, &group.key, offset, &mut |row| {
                                emit(row.window_end, Output::UserFeatures(row));
                            });
                    }
                    Computation::Hot => {
                        stats.item_hot +=
                            group
                                .hot
                                .fire(previous, current, &group.key, hot_config, &mut |top| {
                                    emit(top.window_end, Output::HotItems(top));
                                });
                    }
                }
            }
        }
        if !keys.is_sorted() {
            keys.sort_unstable();
            let mut fired: Vec<Option<Output>> = out.drain(base..).map(Some).collect();
            out.extend(
                keys.iter()
                    .filter_map(|(_, _, _, idx)| fired[*idx as usize].take()),
            );
        }
        self.fire_keys = keys;
        self.next_fire = next_fire_after(current);
    }

    /// Captures everything needed to continue exactly here: per-split offsets
    /// and watermarks, all open window state, and the counters.
    pub fn snapshot(&self) -> Checkpoint {
        let mut groups: Vec<GroupSnapshot> = self
            .groups
            .iter()
            .filter(|group| !group.is_empty())
            .map(|group| GroupSnapshot {
                tenant_id: group.key.tenant_id.to_string(),
                scenario_id: group.key.scenario_id.to_string(),
                user_windows: group.user.snapshot(),
                hot_panes: group.hot.snapshot(),
                metrics_windows: group.metrics.snapshot(),
            })
            .collect();
        groups.sort_by(|left, right| {
            (&left.tenant_id, &left.scenario_id).cmp(&(&right.tenant_id, &right.scenario_id))
        });
        Checkpoint {
            version: CHECKPOINT_VERSION,
            splits: self.watermarks.splits().to_vec(),
            watermark: self.watermark(),
            hot_half_life_ms: self.config.hot_half_life_ms,
            stats: self.stats.clone(),
            groups,
        }
    }

    /// Rebuilds an engine from a checkpoint. Replaying each split from its
    /// stored next offset then gives the same outputs as a run that never
    /// stopped. The watermark delay, top N, active-period offset, keys and TTL
    /// may change across a restore; the decay half-life may not (pane state
    /// holds decayed sums).
    pub fn restore(config: EngineConfig, checkpoint: Checkpoint) -> Result<Engine, RestoreError> {
        if checkpoint.version != CHECKPOINT_VERSION {
            return Err(RestoreError::UnsupportedVersion {
                found: checkpoint.version,
                supported: CHECKPOINT_VERSION,
            });
        }
        if checkpoint.hot_half_life_ms != config.hot_half_life_ms {
            return Err(RestoreError::HalfLifeChanged {
                checkpoint: checkpoint.hot_half_life_ms,
                config: config.hot_half_life_ms,
            });
        }
        let invalid = |reason: String| RestoreError::InvalidState { reason };
        let mut splits = checkpoint.splits;
        splits.sort_by_key(|progress| progress.split);
        if let Some(pair) = splits
            .windows(2)
            .find(|pair| pair[0].split == pair[1].split)
        {
            return Err(invalid(format!("split {} appears twice", pair[0].split)));
        }
        if let Some(bad) = splits
            .iter()
            .find(|progress| progress.next_offset.is_some_and(|next| next < 0))
        {
            return Err(invalid(format!(
                "split {} resumes at a negative offset",
                bad.split
            )));
        }
        let stats = &checkpoint.stats;
        if stats.events > 0 && splits.iter().all(|progress| progress.next_offset.is_none()) {
            // Replaying the input from its start would count it twice.
            return Err(invalid(format!(
                "{} records were processed but no split says where to resume",
                stats.events
            )));
        }
        let counters = [
            stats.events,
            stats.valid,
            stats.malformed,
            stats.fully_late,
            stats.duplicates,
            stats.late.user_features,
            stats.late.item_hot,
            stats.late.metrics,
            stats.windows_fired.user_features,
            stats.windows_fired.item_hot,
            stats.windows_fired.metrics,
        ];
        if !counts_plausible(&counters) {
            return Err(invalid("a counter is implausibly large".to_string()));
        }
        let current = checkpoint.watermark.unwrap_or(NO_WATERMARK);
        let watermarks = Watermarks::restore(config.watermark_delay_ms, splits, current);
        let mut engine = Engine::new(config, &[]);
        engine.watermarks = watermarks;
        engine.stats = checkpoint.stats;
        for snapshot in checkpoint.groups {
            if engine
                .groups
                .find(&snapshot.tenant_id, &snapshot.scenario_id)
                .is_some()
            {
                return Err(invalid(format!(
                    "group (tenant {:?}, scenario {:?}) appears twice",
                    snapshot.tenant_id, snapshot.scenario_id
                )));
            }
            let group = engine
                .groups
                .get_or_insert(&snapshot.tenant_id, &snapshot.scenario_id);
            group.user = UserState::restore(snapshot.user_windows, current).map_err(invalid)?;
            group.hot = HotState::restore(snapshot.hot_panes, current).map_err(invalid)?;
            group.metrics =
                MetricsState::restore(snapshot.metrics_windows, current).map_err(invalid)?;
        }
        engine.next_fire = next_fire_after(current);
        Ok(engine)
    }
}

/// The next watermark at which a window of any of the three shapes can fire.
fn next_fire_after(watermark: i64) -> i64 {
    [USER_WINDOW, HOT_WINDOW, METRICS_WINDOW]
        .into_iter()
        .map(|spec| spec.next_fire_after(watermark))
        .min()
        .unwrap_or(DRAINED_WATERMARK)
}
