//! The seeded event generator: realistic load for the pipeline, its tests and
//! its benchmarks, as JSON-line byte buffers plus the Kafka key (the user id).
//!
//! Users and items are Zipf-distributed; the action mix, tenants, scenarios,
//! event-time rate and jitter are configurable; VIEW events carry a watch time
//! whose share of completed views (≥ 30 s) is configurable. The same
//! configuration and seed always give the same bytes.
//!
//! **Time and lateness.** Event `i` has the nominal time
//! `start_ms + i · 1000 / events_per_second` and is emitted up to `jitter_ms`
//! earlier. While `jitter_ms < watermark_delay_ms` (the default: 10 s against
//! 30 s) no event is late by accident, under any interleaving of any
//! partitioning: when an event arrives, every split's largest timestamp is at
//! most its nominal time, so the effective watermark is below the event's
//! timestamp and therefore below the last millisecond of each of its windows.
//!
//! A deliberately late event (share `late_ratio`) gets the timestamp
//! `t ≤ M − watermark_delay_ms − 1 h`, where `M` is the largest valid timestamp
//! generated before it, so every window holding `t` ends by `M − delay`. What is
//! guaranteed: it is late for every window it belongs to (hence dead-lettered)
//! whenever, as it is processed, every split has processed a valid event with a
//! timestamp ≥ `t + 1 h + watermark_delay_ms`. With one split that always holds
//! (the event with timestamp `M` came before it); with several splits it holds
//! once every split has advanced that far, which depends on how the consumer
//! interleaves them. Until `M` is large enough for `t ≥ 0`, late events are
//! generated as ordinary ones.
//!
//! Malformed events (share `malformed_ratio`) cycle through the ways an event
//! can be malformed, chosen at random; see [`MalformedKind`].

use serde::{Deserialize, Serialize};

use crate::{
    event::MAX_TIMESTAMP_MS,
    rng::{Rng, Zipf},
    window::{HOUR_MS, MINUTE_MS},
};

/// The largest number of users or items (the Zipf table costs 8 bytes each).
pub const MAX_POPULATION: u32 = 10_000_000;

/// Relative weights of the five actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionMix {
    /// IMPRESSION weight (default 70).
    pub impression: u32,
    /// VIEW weight (default 16).
    pub view: u32,
    /// CLICK weight (default 8).
    pub click: u32,
    /// LIKE weight (default 4).
    pub like: u32,
    /// SHARE weight (default 2).
    pub share: u32,
}

impl Default for ActionMix {
    /// A feed-like mix: impressions ≫ views > clicks > likes > shares.
    fn default() -> ActionMix {
        ActionMix {
            impression: 70,
            view: 16,
            click: 8,
            like: 4,
            share: 2,
        }
    }
}

/// What to generate. `Default` gives a realistic mix (see each field).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeneratorConfig {
    /// The seed (default 0).
    pub seed: u64,
    /// Tenants (default 2; the first is `demo`).
    pub tenants: u32,
    /// Scenarios per tenant (default 2; the first is `vlog_feed`).
    pub scenarios: u32,
    /// Distinct users (default 10,000).
    pub users: u32,
    /// Distinct items (default 5,000).
    pub items: u32,
    /// Zipf exponent of user activity (default 1.0; 0 is uniform).
    pub user_zipf_exponent: f64,
    /// Zipf exponent of item popularity (default 1.1).
    pub item_zipf_exponent: f64,
    /// Action weights.
    pub action_mix: ActionMix,
    /// Event time of the first event, epoch ms (default 1,730,800,000,000, the seed's example).
    pub start_ms: i64,
    /// Events per second of event time (default 1000).
    pub events_per_second: f64,
    /// Events are emitted up to this much before their nominal time (default 10,000).
    pub jitter_ms: u64,
    /// The engine's watermark delay, used to place late events (default 30,000).
    pub watermark_delay_ms: u64,
    /// Share of malformed events (default 0).
    pub malformed_ratio: f64,
    /// Share of deliberately late events (default 0).
    pub late_ratio: f64,
    /// Share of VIEW events watched for at least 30 s (default 0.3).
    pub completion_ratio: f64,
}

impl Default for GeneratorConfig {
    fn default() -> GeneratorConfig {
        GeneratorConfig {
            seed: 0,
            tenants: 2,
            scenarios: 2,
            users: 10_000,
            items: 5_000,
            user_zipf_exponent: 1.0,
            item_zipf_exponent: 1.1,
            action_mix: ActionMix::default(),
            start_ms: 1_730_800_000_000,
            events_per_second: 1000.0,
            jitter_ms: 10_000,
            watermark_delay_ms: 30_000,
            malformed_ratio: 0.0,
            late_ratio: 0.0,
            completion_ratio: 0.3,
        }
    }
}

/// A configuration the generator cannot use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid generator setting {field}: {reason}")]
pub struct GeneratorError {
    /// The setting.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// How a generated event was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GeneratedKind {
    /// A valid event on time.
    Valid,
    /// A valid event placed late (see the module doc for the guarantee).
    Late,
    /// A malformed event of this kind.
    Malformed(MalformedKind),
}

/// The ways the generator breaks an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MalformedKind {
    /// The JSON is cut in the middle.
    TruncatedJson,
    /// `item_id` is absent.
    MissingField,
    /// `user_id` is `null`.
    NullField,
    /// `tenant_id` is `""`.
    EmptyField,
    /// `action_type` is lowercase.
    UnknownAction,
    /// `timestamp` is negative.
    NegativeTimestamp,
    /// `timestamp` is a string.
    TimestampAsString,
    /// A VIEW's `watch_duration_ms` is negative.
    NegativeWatch,
    /// A JSON array instead of an object.
    NotAnObject,
}

impl MalformedKind {
    /// Every kind, in the order the generator cycles through them.
    pub const ALL: [MalformedKind; 9] = [
        MalformedKind::TruncatedJson,
        MalformedKind::MissingField,
        MalformedKind::NullField,
        MalformedKind::EmptyField,
        MalformedKind::UnknownAction,
        MalformedKind::NegativeTimestamp,
        MalformedKind::TimestampAsString,
        MalformedKind::NegativeWatch,
        MalformedKind::NotAnObject,
    ];
}

/// One generated record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedEvent {
    /// The Kafka key: the user id (also for malformed events).
    pub key: String,
    /// One line of JSON, without a newline.
    pub payload: Vec<u8>,
    /// How it was made.
    pub kind: GeneratedKind,
}

const TENANT_NAMES: [&str; 4] = ["demo", "acme", "globex", "initech"];
const SCENARIO_NAMES: [&str; 4] = ["vlog_feed", "short_video", "live_stream", "news_feed"];
/// How far beyond the minimum a late event is placed (spread over 30 minutes).
const LATE_SPREAD_MS: u64 = 30 * MINUTE_MS as u64;

/// The generator: an endless, deterministic stream of events. Use
/// [`Generator::next_into`] to reuse buffers on a hot path, or iterate.
#[derive(Clone, Debug)]
pub struct Generator {
    config: GeneratorConfig,
    rng: Rng,
    users: Zipf,
    items: Zipf,
    groups: Vec<(String, String)>,
    /// Cumulative action weights in `ACTIONS` order.
    action_cdf: [u64; 5],
    user_width: usize,
    item_width: usize,
    ms_per_event: f64,
    index: u64,
    max_valid_timestamp: Option<i64>,
}

const ACTIONS: [&str; 5] = ["IMPRESSION", "VIEW", "CLICK", "LIKE", "SHARE"];

impl Generator {
    /// Checks the configuration and builds the Zipf tables.
    pub fn new(config: GeneratorConfig) -> Result<Generator, GeneratorError> {
        validate(&config)?;
        let mix = config.action_mix;
        let mut action_cdf = [0u64; 5];
        let mut total = 0;
        for (slot, weight) in
            action_cdf
                .iter_mut()
                .zip([mix.impression, mix.view, mix.click, mix.like, mix.share])
        {
            total += u64::from(weight);
            *slot = total;
        }
        let mut groups = Vec::new();
        for tenant in 0..config.tenants {
            for scenario in 0..config.scenarios {
                groups.push((
                    name(&TENANT_NAMES, "tenant", tenant),
                    name(&SCENARIO_NAMES, "scenario", scenario),
                ));
            }
        }
        Ok(Generator {
            rng: Rng::seeded(config.seed),
            users: Zipf::new(config.users, config.user_zipf_exponent),
            items: Zipf::new(config.items, config.item_zipf_exponent),
            groups,
            action_cdf,
            user_width: digits(config.users).max(6),
            item_width: digits(config.items).max(6),
            ms_per_event: 1000.0 / config.events_per_second,
            index: 0,
            max_valid_timestamp: None,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// Writes the next event's JSON into `payload` and its key into `key`
    /// (both cleared first) and says how it was made.
    pub fn next_into(&mut self, payload: &mut Vec<u8>, key: &mut String) -> GeneratedKind {
        payload.clear();
        key.clear();
        let nominal = self
            .config
            .start_ms
            .saturating_add((self.index as f64 * self.ms_per_event) as i64)
            .min(MAX_TIMESTAMP_MS);
        self.index += 1;
        let group_idx = self.rng.below(self.groups.len() as u64) as usize;
        let user = self.users.sample(&mut self.rng) + 1;
        let item = self.items.sample(&mut self.rng) + 1;
        let action = self.pick_action();
        let watch = (action == "VIEW").then(|| {
            if self.rng.chance(self.config.completion_ratio) {
                self.rng.between(30_000, 180_000)
            } else {
                self.rng.between(500, 29_999)
            }
        });
        key.push_str("user_");
        push_padded(key, user, self.user_width);
        let jittered = nominal
            .saturating_sub(self.rng.between(0, self.config.jitter_ms) as i64)
            .max(0);
        let roll = self.rng.next_f64();
        let malformed = roll < self.config.malformed_ratio;
        let late_timestamp = (!malformed
            && roll < self.config.malformed_ratio + self.config.late_ratio)
            .then(|| self.late_timestamp())
            .flatten();
        let timestamp = late_timestamp.unwrap_or(jittered);
        let (tenant, scenario) = &self.groups[group_idx];
        let fields = Fields {
            tenant,
            scenario,
            user: key,
            item,
            item_width: self.item_width,
            action,
            timestamp,
            watch,
        };
        if malformed {
            let kind = MalformedKind::ALL[self.rng.below(MalformedKind::ALL.len() as u64) as usize];
            write_malformed(payload, &fields, kind);
            return GeneratedKind::Malformed(kind);
        }
        write_event(payload, &fields);
        self.max_valid_timestamp = Some(
            self.max_valid_timestamp
                .map_or(timestamp, |max| max.max(timestamp)),
        );
        if late_timestamp.is_some() {
            GeneratedKind::Late
        } else {
            GeneratedKind::Valid
        }
    }

    fn pick_action(&mut self) -> &'static str {
        let total = self.action_cdf[4];
        let roll = self.rng.below(total);
        let idx = self
            .action_cdf
            .iter()
            .position(|&bound| roll < bound)
            .unwrap_or(0);
        ACTIONS[idx]
    }

    /// A timestamp late for every window (see the module doc), or `None` while
    /// the stream is too young for one.
    fn late_timestamp(&mut self) -> Option<i64> {
        let max = self.max_valid_timestamp?;
        let delay = i64::try_from(self.config.watermark_delay_ms).ok()?;
        let latest = max.checked_sub(delay)?.checked_sub(HOUR_MS)?;
        let timestamp = latest - self.rng.between(0, LATE_SPREAD_MS) as i64;
        (timestamp >= 0)
            .then_some(timestamp)
            .or((latest >= 0).then_some(latest))
    }
}

impl Iterator for Generator {
    type Item = GeneratedEvent;

    fn next(&mut self) -> Option<GeneratedEvent> {
        let mut payload = Vec::with_capacity(192);
        let mut key = String::with_capacity(16);
        let kind = self.next_into(&mut payload, &mut key);
        Some(GeneratedEvent { key, payload, kind })
    }
}

fn validate(config: &GeneratorConfig) -> Result<(), GeneratorError> {
    let fail = |field: &'static str, reason: &str| {
        Err(GeneratorError {
            field,
            reason: reason.to_string(),
        })
    };
    let ratio = |value: f64| (0.0..=1.0).contains(&value);
    if config.tenants == 0 {
        return fail("tenants", "must be at least 1");
    }
    if config.scenarios == 0 {
        return fail("scenarios", "must be at least 1");
    }
    for (field, count) in [("users", config.users), ("items", config.items)] {
        if count == 0 || count > MAX_POPULATION {
            return fail(field, &format!("must be between 1 and {MAX_POPULATION}"));
        }
    }
    for (field, exponent) in [
        ("user_zipf_exponent", config.user_zipf_exponent),
        ("item_zipf_exponent", config.item_zipf_exponent),
    ] {
        if !(exponent.is_finite() && exponent >= 0.0) {
            return fail(field, "must be a finite number >= 0");
        }
    }
    let mix = config.action_mix;
    if [mix.impression, mix.view, mix.click, mix.like, mix.share]
        .iter()
        .all(|w| *w == 0)
    {
        return fail("action_mix", "needs at least one non-zero weight");
    }
    if !(0..=MAX_TIMESTAMP_MS).contains(&config.start_ms) {
        return fail(
            "start_ms",
            &format!("must be between 0 and {MAX_TIMESTAMP_MS}"),
        );
    }
    if !(config.events_per_second.is_finite() && config.events_per_second > 0.0) {
        return fail("events_per_second", "must be a finite number > 0");
    }
    if i64::try_from(config.jitter_ms).is_err() {
        return fail("jitter_ms", "is too large");
    }
    for (field, value) in [
        ("malformed_ratio", config.malformed_ratio),
        ("late_ratio", config.late_ratio),
        ("completion_ratio", config.completion_ratio),
    ] {
        if !ratio(value) {
            return fail(field, "must be between 0 and 1");
        }
    }
    if config.malformed_ratio + config.late_ratio > 1.0 {
        return fail("late_ratio", "plus malformed_ratio must not exceed 1");
    }
    Ok(())
}

fn name(known: &[&str], prefix: &str, idx: u32) -> String {
    known.get(idx as usize).map_or_else(
        || format!("{prefix}_{:02}", idx + 1),
        |name| (*name).to_string(),
    )
}

fn digits(mut value: u32) -> usize {
    let mut count = 1;
    while value >= 10 {
        value /= 10;
        count += 1;
    }
    count
}

/// The decimal digits of `value`, written at the end of `buf`.
fn decimal_digits(value: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut rest = value;
    let mut idx = buf.len();
    loop {
        idx -= 1;
        buf[idx] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    &buf[idx..]
}

/// Appends `value` in decimal, left-padded with zeros to `width`.
fn push_padded(out: &mut String, value: u32, width: usize) {
    let mut buf = [0u8; 20];
    let digits = decimal_digits(u64::from(value), &mut buf);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.extend(digits.iter().copied().map(char::from));
}

/// Appends a non-negative or negative integer in decimal.
fn push_int(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    let mut buf = [0u8; 20];
    out.extend_from_slice(decimal_digits(value.unsigned_abs(), &mut buf));
}

struct Fields<'a> {
    tenant: &'a str,
    scenario: &'a str,
    user: &'a str,
    item: u32,
    item_width: usize,
    action: &'static str,
    timestamp: i64,
    watch: Option<u64>,
}

fn push_item(out: &mut Vec<u8>, fields: &Fields<'_>) {
    let mut item = String::with_capacity(16);
    item.push_str("video_");
    push_padded(&mut item, fields.item, fields.item_width);
    out.extend_from_slice(item.as_bytes());
}

/// Writes a valid event in the seed's field order. The generated names need no
/// JSON escaping.
fn write_event(out: &mut Vec<u8>, fields: &Fields<'_>) {
    out.extend_from_slice(b"{\"tenant_id\":\"");
    out.extend_from_slice(fields.tenant.as_bytes());
    out.extend_from_slice(b"\",\"scenario_id\":\"");
    out.extend_from_slice(fields.scenario.as_bytes());
    out.extend_from_slice(b"\",\"user_id\":\"");
    out.extend_from_slice(fields.user.as_bytes());
    out.extend_from_slice(b"\",\"item_id\":\"");
    push_item(out, fields);
    out.extend_from_slice(b"\",\"action_type\":\"");
    out.extend_from_slice(fields.action.as_bytes());
    out.extend_from_slice(b"\",\"timestamp\":");
    push_int(out, fields.timestamp);
    if let Some(watch) = fields.watch {
        out.extend_from_slice(b",\"watch_duration_ms\":");
        push_int(out, i64::try_from(watch).unwrap_or(i64::MAX));
    }
    out.push(b'}');
}

/// Writes an event broken in the given way (rare, so plain `format!` is fine).
fn write_malformed(out: &mut Vec<u8>, fields: &Fields<'_>, kind: MalformedKind) {
    let mut item = Vec::new();
    push_item(&mut item, fields);
    let item = String::from_utf8_lossy(&item).into_owned();
    let Fields {
        tenant,
        scenario,
        user,
        action,
        timestamp,
        ..
    } = *fields;
    let text = match kind {
        MalformedKind::TruncatedJson => {
            let mut valid = Vec::new();
            write_event(&mut valid, fields);
            valid.truncate(valid.len() / 2);
            out.extend_from_slice(&valid);
            return;
        }
        MalformedKind::MissingField => format!(
            r#"{{"tenant_id":"{tenant}","scenario_id":"{scenario}","user_id":"{user}","action_type":"{action}","timestamp":{timestamp}}}"#
        ),
        MalformedKind::NullField => format!(
            r#"{{"tenant_id":"{tenant}","scenario_id":"{scenario}","user_id":null,"item_id":"{item}","action_type":"{action}","timestamp":{timestamp}}}"#
        ),
        MalformedKind::EmptyField => format!(
            r#"{{"tenant_id":"","scenario_id":"{scenario}","user_id":"{user}","item_id":"{item}","action_type":"{action}","timestamp":{timestamp}}}"#
        ),
        MalformedKind::UnknownAction => format!(
            r#"{{"tenant_id":"{tenant}","scenario_id":"{scenario}","user_id":"{user}","item_id":"{item}","action_type":"{}","timestamp":{timestamp}}}"#,
            action.to_lowercase()
        ),
        MalformedKind::NegativeTimestamp => format!(
            r#"{{"tenant_id":"{tenant}","scenario_id":"{scenario}","user_id":"{user}","item_id":"{item}","action_type":"{action}","timestamp":-{}}}"#,
            timestamp.max(1)
        ),
        MalformedKind::TimestampAsString => format!(
            r#"{{"tenant_id":"{tenant}","scenario_id":"{scenario}","user_id":"{user}","item_id":"{item}","action_type":"{action}","timestamp":"{timestamp}"}}"#
        ),
        MalformedKind::NegativeWatch => format!(
            r#"{{"tenant_id":"{tenant}","scenario_id":"{scenario}","user_id":"{user}","item_id":"{item}","action_type":"VIEW","timestamp":{timestamp},"watch_duration_ms":-1500}}"#
        ),
        MalformedKind::NotAnObject => {
            format!(r#"["{tenant}","{scenario}","{user}","{item}","{action}",{timestamp}]"#)
        }
    };
    out.extend_from_slice(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_written_as_format_writes_them() {
        for value in [0, 7, -7, 10, -1_000, 1_730_800_000_000, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            push_int(&mut out, value);
            assert_eq!(String::from_utf8(out).unwrap(), value.to_string());
        }
        for (value, width) in [(0, 3), (42, 5), (12_345, 3), (u32::MAX, 12)] {
            let mut out = String::new();
            push_padded(&mut out, value, width);
            assert_eq!(out, format!("{value:0width$}"));
        }
    }
}
