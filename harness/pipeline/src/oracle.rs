//! The oracle: from an ordered list of events, exactly what the pipeline must
//! produce: the three row sets, the dead letters, the counters, and the final
//! Redis state; plus the JSON-lines files a run is checked against.
//!
//! The pure core is the oracle by design, so [`oracle`] runs the
//! [`Engine`] over one split and drains it. Its independence comes from the
//! tests: `tests/reference/mod.rs` holds a brute-force implementation of the
//! contract (for every window, filter the events) and property tests prove the
//! engine equal to it. [`Recorder`] collects any run's outputs the same way, so
//! a multi-split or restored run can be compared with the oracle field by field.

use serde::Serialize;

use crate::{
    checkpoint::EncodeError,
    engine::{DeadLetter, Engine, EngineConfig, Output, Stats},
    features::{hot::HotItemRow, metrics::WindowMetrics, user::UserFeatures},
    redis_model::{KeyTemplates, RedisState, write_for},
};

/// Everything a run produced, rows sorted (see each field).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunOutput {
    /// By tenant, scenario, user, window start.
    pub user_features: Vec<UserFeatures>,
    /// By tenant, scenario, window end, rank.
    pub item_hot: Vec<HotItemRow>,
    /// By tenant, scenario, window start.
    pub metrics: Vec<WindowMetrics>,
    /// By split, offset.
    pub dead_letters: Vec<DeadLetter>,
    /// The engine's counters at the end.
    pub stats: Stats,
    /// Redis after applying every write in order.
    pub redis: RedisState,
}

/// Collects outputs as they are produced, applying their Redis writes in order.
#[derive(Clone, Debug)]
pub struct Recorder {
    keys: KeyTemplates,
    hot_ttl_secs: u64,
    output: RunOutput,
}

impl Recorder {
    /// A recorder writing with `config`'s keys and TTL.
    pub fn new(config: &EngineConfig) -> Recorder {
        Recorder {
            keys: config.key_templates.clone(),
            hot_ttl_secs: config.hot_ttl_secs,
            output: RunOutput::default(),
        }
    }

    /// Records one output.
    pub fn record(&mut self, output: Output) {
        if let Some(write) = write_for(&output, &self.keys, self.hot_ttl_secs) {
            self.output.redis.apply(&write);
        }
        match output {
            Output::UserFeatures(row) => self.output.user_features.push(row),
            Output::HotItems(hot) => self.output.item_hot.extend(hot.rows()),
            Output::Metrics(row) => self.output.metrics.push(row),
            Output::DeadLetter(letter) => self.output.dead_letters.push(letter),
        }
    }

    /// Records outputs in order (e.g. after each [`Engine::process`] call).
    pub fn record_all(&mut self, outputs: impl IntoIterator<Item = Output>) {
        for output in outputs {
            self.record(output);
        }
    }

    /// The Redis state so far.
    pub fn redis(&self) -> &RedisState {
        &self.output.redis
    }

    /// Sorts the rows and attaches the engine's final counters.
    pub fn finish(self, stats: &Stats) -> RunOutput {
        let mut output = self.output;
        output.stats = stats.clone();
        output.user_features.sort_by(|l, r| {
            (&l.tenant_id, &l.scenario_id, &l.user_id, l.window_start).cmp(&(
                &r.tenant_id,
                &r.scenario_id,
                &r.user_id,
                r.window_start,
            ))
        });
        output.item_hot.sort_by(|l, r| {
            (&l.tenant_id, &l.scenario_id, l.window_end, l.rank).cmp(&(
                &r.tenant_id,
                &r.scenario_id,
                r.window_end,
                r.rank,
            ))
        });
        output.metrics.sort_by(|l, r| {
            (&l.tenant_id, &l.scenario_id, l.window_start).cmp(&(
                &r.tenant_id,
                &r.scenario_id,
                r.window_start,
            ))
        });
        output
            .dead_letters
            .sort_by_key(|letter| (letter.split, letter.offset));
        output
    }
}

/// The expected result of running the pipeline over `events` in this order as
/// one split (offsets 0, 1, 2, ...) to the end of input.
pub fn oracle<I>(config: &EngineConfig, events: I) -> RunOutput
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let mut engine = Engine::new(config.clone(), &[0]);
    let mut recorder = Recorder::new(config);
    let mut outputs = Vec::new();
    for (offset, payload) in (0_i64..).zip(events) {
        engine.process(0, offset, payload.as_ref(), &mut outputs);
        recorder.record_all(outputs.drain(..));
    }
    engine.drain(&mut outputs);
    recorder.record_all(outputs);
    recorder.finish(engine.stats())
}

/// The oracle's output files, by name.
pub const USER_FEATURES_FILE: &str = "user_features.jsonl";
/// See [`USER_FEATURES_FILE`].
pub const ITEM_HOT_FILE: &str = "item_hot.jsonl";
/// See [`USER_FEATURES_FILE`].
pub const METRICS_FILE: &str = "metrics.jsonl";
/// The expected Redis state as one JSON object (see [`RedisState`]).
pub const REDIS_STATE_FILE: &str = "redis_state.json";
/// The counters as one JSON object (see [`Stats`]).
pub const STATS_FILE: &str = "stats.json";

impl RunOutput {
    /// `user_features.jsonl`: tenant_id, scenario_id, user_id, window_start,
    /// window_end, view, like, share, active_period (times in epoch ms).
    pub fn user_features_jsonl(&self) -> Result<String, EncodeError> {
        to_jsonl(USER_FEATURES_FILE, &self.user_features)
    }

    /// `item_hot.jsonl`: tenant_id, scenario_id, window_end, rank, item_id, score.
    pub fn item_hot_jsonl(&self) -> Result<String, EncodeError> {
        to_jsonl(ITEM_HOT_FILE, &self.item_hot)
    }

    /// `metrics.jsonl`: tenant_id, scenario_id, window_start, window_end,
    /// impressions, clicks, ctr, avg_watch_s, completion_rate (`null` where none).
    pub fn metrics_jsonl(&self) -> Result<String, EncodeError> {
        to_jsonl(METRICS_FILE, &self.metrics)
    }

    /// Every output file as (name, contents): the three JSON-lines files,
    /// `redis_state.json` and `stats.json`. The runtime writes them to a
    /// directory; `verify --oracle DIR` reads `redis_state.json` back as a
    /// [`RedisState`].
    pub fn files(&self) -> Result<Vec<(&'static str, String)>, EncodeError> {
        Ok(vec![
            (USER_FEATURES_FILE, self.user_features_jsonl()?),
            (ITEM_HOT_FILE, self.item_hot_jsonl()?),
            (METRICS_FILE, self.metrics_jsonl()?),
            (REDIS_STATE_FILE, pretty(REDIS_STATE_FILE, &self.redis)?),
            (STATS_FILE, pretty(STATS_FILE, &self.stats)?),
        ])
    }
}

/// One JSON document per line, each line ending in `\n`.
pub fn to_jsonl<T: Serialize>(what: &'static str, rows: &[T]) -> Result<String, EncodeError> {
    let mut text = String::new();
    for row in rows {
        text.push_str(&serde_json::to_string(row).map_err(|source| EncodeError { what, source })?);
        text.push('\n');
    }
    Ok(text)
}

/// One pretty-printed JSON document with a final newline.
fn pretty<T: Serialize>(what: &'static str, value: &T) -> Result<String, EncodeError> {
    let mut text =
        serde_json::to_string_pretty(value).map_err(|source| EncodeError { what, source })?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 1_730_800_800_000;

    #[test]
    fn the_oracle_writes_the_issue_formats() {
        let events = [
            format!(
                r#"{{"tenant_id":"demo","scenario_id":"vlog_feed","user_id":"u1","item_id":"v1","action_type":"LIKE","timestamp":{H}}}"#
            ),
            "not json".to_string(),
        ];
        let output = oracle(&EngineConfig::default(), &events);
        let files = output.files().unwrap();
        let names: Vec<&str> = files.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            vec![
                "user_features.jsonl",
                "item_hot.jsonl",
                "metrics.jsonl",
                "redis_state.json",
                "stats.json"
            ]
        );
        let user = format!(
            "{{\"tenant_id\":\"demo\",\"scenario_id\":\"vlog_feed\",\"user_id\":\"u1\",\"window_start\":{H},\"window_end\":{},\"view\":0,\"like\":1,\"share\":0,\"active_period\":\"morning\"}}\n",
            H + 3_600_000
        );
        assert_eq!(files[0].1, user);
        let first_hot = files[1].1.lines().next().map(str::to_string);
        let want = format!(
            "{{\"tenant_id\":\"demo\",\"scenario_id\":\"vlog_feed\",\"window_end\":{},\"rank\":1,\"item_id\":\"v1\",\"score\":2.0}}",
            H + 900_000
        );
        assert_eq!(first_hot, Some(want));
        assert_eq!(files[1].1.lines().count(), 4);
        let redis: RedisState = serde_json::from_str(&files[3].1).unwrap();
        assert_eq!(redis, output.redis);
        let stats: Stats = serde_json::from_str(&files[4].1).unwrap();
        assert_eq!((stats.events, stats.malformed), (2, 1));
        assert_eq!(output.dead_letters.len(), 1);
    }
}
