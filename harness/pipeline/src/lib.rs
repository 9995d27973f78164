//! The feature pipeline's pure core: the Rust port of the users' Flink feature
//! jobs, and the oracle that says exactly what Redis must contain.
//!
//! Event decoding, event-time windows with watermarks, the three feature
//! computations (user features, item hot scores, recommendation metrics),
//! checkpoint state, the Redis data model, the seeded event generator, and the
//! oracle. The contract they share is stated below ("The contract"); where
//! this crate had to choose, the choice is documented at that place.
//!
//! **Architecture invariant:** no I/O, no threads, no wall clock, no async. The
//! runtime in `harness::pipeline` feeds this core from Kafka or a file, executes
//! its Redis writes, serves its metrics and stores its checkpoints; this crate
//! only computes. That is what makes it property-testable and lets the oracle
//! and the pipeline share one definition of the semantics.
//!
//! # The contract
//!
//! The same results Flink SQL gives for the same queries (event-time
//! TUMBLE/HOP windows, a bounded-out-of-orderness watermark), so a real Flink
//! job and this pipeline can be checked against one oracle.
//!
//! - **Valid event**: `tenant_id`, `scenario_id`, `user_id`, `item_id` and
//!   `action_type` are non-empty strings, `action_type` one of `VIEW`, `LIKE`,
//!   `SHARE`, `CLICK`, `IMPRESSION` (case-sensitive); `timestamp` an integer
//!   ≥ 0 (epoch ms); `watch_duration_ms` an integer ≥ 0 or absent (= 0).
//!   Anything else is **malformed**: counted, sent to the dead-letter path
//!   with a reason, and never a reason to stop.
//! - **Time**: event time. The watermark is the largest valid timestamp seen
//!   minus a delay (30 s by default), advanced after each event; malformed
//!   events never move it. Windows are epoch-aligned (UTC) and half-open
//!   `[start, end)`; a window fires once the watermark reaches `end − 1 ms`.
//!   An event is **late for a window** if that window has already fired when
//!   the event arrives: it is dropped from that window only, and counted, so
//!   with sliding windows it can miss its earliest window and count in later
//!   ones. The end of a bounded input (or a drain) fires every open window.
//! - **User features**: 1 h tumbling per (tenant, scenario, user) over VIEW,
//!   LIKE and SHARE (no such event in the window, no row): the three counts
//!   and `active_period`, written to the hash
//!   `user:profile:{tenant_id}:{scenario_id}:{user_id}`. The seed's
//!   `user:profile:{user_id}` is a key template away, but merges a user's
//!   features across tenants and scenarios (the last window written wins).
//! - **Item hot score**: 1 h windows sliding every 15 min per (tenant,
//!   scenario, item) over VIEW, LIKE and SHARE, `score = view + 2·like +
//!   3·share` (an exponential decay by age is optional and off by default).
//!   The top 1000 by score descending, ties by `item_id` ascending, replace
//!   `hot:items:{tenant_id}:{scenario_id}` atomically at each firing, TTL 2 h.
//! - **Metrics**: 1 min tumbling per (tenant, scenario) over every valid
//!   event: `impressions`, `clicks`, `ctr = clicks / impressions` (none
//!   without impressions), `avg_watch_s` (mean `watch_duration_ms` of VIEW
//!   events, in seconds) and `completion_rate` (share of VIEW events with
//!   `watch_duration_ms ≥ 30000`), both none without VIEW events; served in
//!   Prometheus text format.
//! - **Writes are absolute per window**, never increments, so a replay after
//!   a restore converges to the same Redis state. Checkpoints and savepoints
//!   hold per-partition offsets and open window state.
//!
//! # Where to start reading
//!
//! [`engine`] (the job, per-event steps), then [`window`] and [`watermark`], then
//! the three files under [`features`].
//!
//! # Public API (stable; the runtime, benches and scenarios build on it)
//!
//! ```text
//! decode(&[u8]) -> Result<Event<'_>, Malformed>              // decoding alone (benches)
//! EngineConfig { watermark_delay_ms, hot_top_n, hot_half_life_ms,
//!                active_period_utc_offset_minutes, key_templates, hot_ttl_secs }  // Default = the contract
//! Engine::new(EngineConfig, &[SplitId]) -> Engine
//! Engine::process(&mut self, SplitId, offset: i64, payload: &[u8], &mut Vec<Output>)
//! Engine::drain(&mut self, &mut Vec<Output>)                 // end of input / stop --drain
//! Engine::snapshot(&self) -> Checkpoint                      // to_json / from_json, versioned
//! Engine::restore(EngineConfig, Checkpoint) -> Result<Engine, RestoreError>
//! Engine::stats(&self) -> &Stats; watermark() -> Option<i64>; splits() -> &[SplitProgress]
//! Output::{UserFeatures, HotItems, Metrics, DeadLetter}
//! EngineConfig::redis_write(&Output) -> Option<RedisWrite>   // Hash | ReplaceZset
//! RedisState::apply(&RedisWrite); diff(&expected, &actual) -> Vec<Difference>
//! oracle(&EngineConfig, events) -> RunOutput                 // rows, dead letters, stats, RedisState, files()
//! Recorder                                                   // collects any run like the oracle does
//! Generator::new(GeneratorConfig)?: Iterator<GeneratedEvent { key, payload, kind }>, next_into(..)
//! KeyTemplates::{default, seed, new(user, hot)?}; user_key, hot_key, *_template().scan_pattern()
//! ```
//!
//! A runtime loop is: for each record, `engine.process(partition, offset,
//! payload, &mut outputs)`; execute `config.redis_write(&o)` for each output in
//! order (per-key order matters), publish `Output::Metrics`, send
//! `Output::DeadLetter` to the dead-letter topic; periodically, once every
//! write so far is acknowledged, persist `engine.snapshot().to_json()`; on
//! restart `Engine::restore` and seek each partition to
//! `checkpoint.next_offset(partition)`.
//!
//! # Several input splits
//!
//! The contract's watermark is defined for one ordered input. With several
//! splits (Kafka partitions) the engine does what Flink's Kafka source does:
//! one watermark per split, the effective watermark is the minimum over the
//! assigned splits, and a split that has seen no valid event yet holds it back
//! (there is no idleness timeout). With one split this is exactly the contract's
//! rule. The consequence: with several splits, whether an event is late can
//! depend on how the consumer interleaves the partitions (true in Flink too),
//! so exact agreement with the oracle (which reads one ordered input) needs
//! one partition, or data with no late events. The generator's guarantees about
//! late events under several splits are stated in [`generator`].
//!
//! # Where this model differs from the real system
//!
//! - Timestamps above [`event::MAX_TIMESTAMP_MS`] (year 9999) are malformed; the
//!   contract only says "≥ 0".
//! - A duplicated known field, and a `null` `watch_duration_ms`, are malformed
//!   (the contract does not say which copy wins, and allows "absent", not null).
//! - Records whose offset a split has already processed are skipped, which
//!   makes the engine idempotent under redelivery; Flink relies on seeking.
//! - There is no idleness timeout for splits (it would need the wall clock): an
//!   assigned partition that never receives an event holds every window open
//!   until the input is drained.
//! - `active_period` has three values, as in the seed: the night (18:00–04:59)
//!   is `evening` (see [`features::user::ActivePeriod`]).
//! - [`RedisState`] does not expire keys; the runtime checks the hot-item TTLs.
//! - Hot-score decay, when enabled, weighs events by their age at the window's
//!   end; the seed says only "newer counts more".
//! - A drain (end of input, `stop --drain`) can be resumed: the runtime saves
//!   the state from before it, so a restored run carries on as if it had not
//!   happened and re-fires, complete, the windows the drain fired early (see
//!   [`Engine::drain`]). Flink restores neither watermarks nor fired windows,
//!   and its docs advise against resuming a drained savepoint.
//!
//! # Performance
//!
//! The per-event path allocates nothing once a window has seen a key: ids are
//! borrowed from the payload, found in Fx-hashed maps that store short ids
//! inline, and sliding windows are aggregated per 15-minute pane. Work beyond
//! that happens only when the watermark crosses a window end. Decoding is
//! exposed on its own ([`decode`]) so a benchmark can measure it alone.

pub mod checkpoint;
pub mod engine;
pub mod event;
pub mod features;
pub mod generator;
mod groups;
mod hash;
pub mod oracle;
pub mod redis_model;
mod rng;
pub mod watermark;
pub mod window;

pub use checkpoint::{CHECKPOINT_VERSION, Checkpoint, EncodeError, RestoreError};
pub use engine::{
    DeadLetter, DeadLetterReason, Engine, EngineConfig, Output, PerComputation, Stats,
};
pub use event::{Action, Event, Malformed, decode};
pub use features::{
    hot::{HotItem, HotItemRow, HotItems},
    metrics::WindowMetrics,
    user::{ActivePeriod, UserFeatures},
};
pub use generator::{GeneratedEvent, GeneratedKind, Generator, GeneratorConfig, GeneratorError};
pub use oracle::{Recorder, RunOutput, oracle};
pub use redis_model::{Difference, KeyTemplates, RedisState, RedisValue, RedisWrite, diff};
pub use watermark::{SplitId, SplitProgress};
