//! The verbs that feed and check the feature pipeline, exactly as written
//! in YAML: `produce` (a seeded generated dataset or a JSON-lines file into a
//! Kafka topic) and `verify` (live Redis against the oracle of what was
//! produced). Cross-field rules are checked by `super::validate`. The
//! generator knobs, [`Generate`], are also the flags of `harness load`.

use std::fmt;

use harness_pipeline::{
    GeneratorConfig,
    redis_model::{self, KeyTemplates, TemplateError},
};
use serde::{
    Deserialize,
    de::{self, Deserializer, Visitor},
};

use super::duration::Duration;

/// `produce`: events into a topic, recorded as a named dataset.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Produce {
    /// The topic (it must exist, e.g. from `spec.infra.topics`).
    pub topic: String,
    /// The dataset the records are added to (created by the first `produce`
    /// naming it; later ones append).
    pub dataset: String,
    /// Default: `${infra.kafka.bootstrapServers}`.
    #[serde(default)]
    pub bootstrap_servers: Option<String>,
    /// Generated events...
    #[serde(default)]
    pub generate: Option<Generate>,
    /// ...or a JSON-lines file (relative to the scenario), one record per line.
    #[serde(default)]
    pub file: Option<String>,
}

/// The seeded generator's knobs; unset ones take the generator's defaults.
/// One type for both front ends: `produce.generate` in a scenario (serde,
/// camelCase) and the flags of `harness load` (clap, kebab-case), so the knobs
/// and their overlay onto [`GeneratorConfig`] are written once.
#[derive(Debug, Clone, Deserialize, clap::Args)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Generate {
    /// The seed: the same knobs and seed give the same events.
    #[serde(default)]
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// How many events to produce.
    #[arg(long)]
    pub count: u64,
    /// Skip this many events of the seeded stream first, so a later step can
    /// produce the rest of the same dataset (`from: 3000` after `count: 3000`).
    /// Scenarios only: `harness load` always starts at the first event.
    #[serde(default)]
    #[arg(skip)]
    pub from: u64,
    /// Distinct users.
    #[serde(default)]
    #[arg(long)]
    pub users: Option<u32>,
    /// Distinct items.
    #[serde(default)]
    #[arg(long)]
    pub items: Option<u32>,
    /// Tenants.
    #[serde(default)]
    #[arg(long)]
    pub tenants: Option<u32>,
    /// Scenarios per tenant.
    #[serde(default)]
    #[arg(long)]
    pub scenarios: Option<u32>,
    /// Share of malformed events (0..1).
    #[serde(default)]
    #[arg(long)]
    pub malformed_ratio: Option<f64>,
    /// Share of deliberately late events (0..1).
    #[serde(default)]
    #[arg(long)]
    pub late_ratio: Option<f64>,
    /// Event time of the first event: epoch milliseconds (`--start-ms`), or
    /// in a scenario also an RFC 3339 time (`startTime`).
    #[serde(default)]
    #[arg(long = "start-ms", value_name = "START_MS", value_parser = StartTime::parse_millis)]
    pub start_time: Option<StartTime>,
    /// Events per second of event time (how fast windows pass; small values
    /// make windows fire often).
    #[serde(default)]
    #[arg(long)]
    pub event_time_rate: Option<f64>,
}

impl Generate {
    /// The generator's configuration (the knobs over its defaults).
    pub fn config(&self) -> GeneratorConfig {
        let defaults = GeneratorConfig::default();
        GeneratorConfig {
            seed: self.seed,
            users: self.users.unwrap_or(defaults.users),
            items: self.items.unwrap_or(defaults.items),
            tenants: self.tenants.unwrap_or(defaults.tenants),
            scenarios: self.scenarios.unwrap_or(defaults.scenarios),
            malformed_ratio: self.malformed_ratio.unwrap_or(defaults.malformed_ratio),
            late_ratio: self.late_ratio.unwrap_or(defaults.late_ratio),
            start_ms: self.start_time.map_or(defaults.start_ms, |t| t.0),
            events_per_second: self.event_time_rate.unwrap_or(defaults.events_per_second),
            ..defaults
        }
    }
}

/// `startTime`: `1730800000000` or `"2024-11-05T09:46:40Z"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartTime(pub i64);

impl StartTime {
    /// Epoch milliseconds, not before 1970.
    fn from_millis(millis: i64) -> Result<Self, String> {
        if millis < 0 {
            Err(format!("invalid start time {millis}: before 1970"))
        } else {
            Ok(StartTime(millis))
        }
    }

    /// The `--start-ms` flag: epoch milliseconds.
    fn parse_millis(text: &str) -> Result<Self, String> {
        let millis = text
            .parse::<i64>()
            .map_err(|err| format!("invalid start time {text:?}: {err}"))?;
        StartTime::from_millis(millis)
    }
}

impl<'de> Deserialize<'de> for StartTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StartTimeVisitor;
        impl Visitor<'_> for StartTimeVisitor {
            type Value = StartTime;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "epoch milliseconds or an RFC 3339 time such as \"2024-11-05T09:46:40Z\"",
                )
            }
            fn visit_i64<E: de::Error>(self, millis: i64) -> Result<StartTime, E> {
                StartTime::from_millis(millis).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, millis: u64) -> Result<StartTime, E> {
                i64::try_from(millis)
                    .map(StartTime)
                    .map_err(|_| E::custom(format!("invalid start time {millis}: too large")))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<StartTime, E> {
                harness_sim::clock::SimTime::parse_rfc3339(text)
                    .map(|t| StartTime(t.0))
                    .ok_or_else(|| {
                        E::custom(format!(
                            "invalid start time {text:?}, expected e.g. \"2024-11-05T09:46:40Z\""
                        ))
                    })
            }
        }
        deserializer.deserialize_any(StartTimeVisitor)
    }
}

/// `verify`: Redis (and optionally dead letters and metrics) against the
/// oracle of the named datasets, polled until it matches or the deadline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Verify {
    /// Datasets produced by earlier steps, in the order the job read them...
    #[serde(default)]
    pub datasets: Vec<String>,
    /// ...or a JSON-lines file of events (relative to the scenario).
    #[serde(default)]
    pub file: Option<String>,
    /// Default: `${infra.redis.url}`.
    #[serde(default)]
    pub redis_url: Option<String>,
    /// Compare with the state after the end-of-input drain (every window
    /// fired; default), or, with `false`, with what a running job must have
    /// written once it has read every record (needs `consumerGroup`).
    #[serde(default = "yes")]
    pub drained: bool,
    /// First wait until this consumer group has committed offsets past every
    /// produced record (the job checkpointed after reading them all).
    #[serde(default)]
    pub consumer_group: Option<String>,
    /// Also check the dead-letter topic: every malformed or late record
    /// exactly once, with the oracle's reason.
    #[serde(default)]
    pub dead_letters: Option<DeadLetterCheck>,
    /// Also compare the `recommendation_*` gauges served at this URL.
    #[serde(default)]
    pub metrics_url: Option<String>,
    /// The job's Redis key templates, if not the default ones.
    #[serde(default)]
    pub key_templates: Option<KeyTemplateSpec>,
    /// The job's watermark delay, if not the default 30s.
    #[serde(default)]
    pub watermark_delay: Option<Duration>,
}

fn yes() -> bool {
    true
}

/// `verify.deadLetters`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterCheck {
    /// The dead-letter topic (on the datasets' Kafka).
    pub topic: String,
}

/// `verify.keyTemplates`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyTemplateSpec {
    /// The user-features hash key.
    #[serde(default)]
    pub user: Option<String>,
    /// The hot-items sorted-set key.
    #[serde(default)]
    pub hot: Option<String>,
}

impl KeyTemplateSpec {
    /// Both templates parsed, the job's defaults for any left out: what
    /// validation checks and what `verify` computes the oracle with.
    pub fn parse(&self) -> Result<KeyTemplates, TemplateError> {
        KeyTemplates::new(
            self.user
                .as_deref()
                .unwrap_or(redis_model::DEFAULT_USER_KEY),
            self.hot.as_deref().unwrap_or(redis_model::DEFAULT_HOT_KEY),
        )
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// `harness load`'s generator flags, alone.
    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        generate: Generate,
    }

    #[test]
    fn flags_and_yaml_set_the_same_knobs() {
        let flags = Flags::try_parse_from([
            "load",
            "--count",
            "10",
            "--seed",
            "7",
            "--users",
            "30",
            "--malformed-ratio",
            "0.25",
            "--start-ms",
            "1730800000000",
            "--event-time-rate",
            "2.5",
        ])
        .expect("flags")
        .generate;
        let yaml: Generate = serde_yaml::from_str(
            "{count: 10, seed: 7, users: 30, malformedRatio: 0.25, startTime: '2024-11-05T09:46:40Z', eventTimeRate: 2.5}",
        )
        .expect("yaml");
        assert_eq!(flags.config(), yaml.config());
        assert_eq!((flags.count, flags.from), (10, 0));
        let config = flags.config();
        let defaults = GeneratorConfig::default();
        assert_eq!(
            (config.seed, config.users, config.start_ms),
            (7, 30, 1_730_800_000_000)
        );
        assert_ne!(
            config.users, defaults.users,
            "the knob must differ from the default to show it is applied"
        );
        assert_eq!(
            (config.items, config.late_ratio),
            (defaults.items, defaults.late_ratio)
        );
    }

    #[test]
    fn start_ms_before_1970_is_refused_by_both() {
        assert!(Flags::try_parse_from(["load", "--count", "1", "--start-ms=-1"]).is_err());
        assert!(Flags::try_parse_from(["load", "--count", "1", "--start-ms", "soon"]).is_err());
        assert!(serde_yaml::from_str::<Generate>("{count: 1, startTime: -1}").is_err());
    }
}
