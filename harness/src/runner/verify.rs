//! `verify`: live Redis against the oracle of what the scenario produced.
//!
//! The expected state is computed once, before polling:
//!
//! - `drained: true` (default): `harness_pipeline::oracle` over the
//!   datasets' records in production order (or a file's lines): every window
//!   fired, as after the job's end-of-input drain or a `stop --drain`;
//! - `drained: false`: the engine run over the records with their real
//!   partitions and offsets, without the final drain: what a running job
//!   must have written once it has read every record. It needs
//!   `consumerGroup`, whose committed offsets say the job has read (and
//!   checkpointed) everything; otherwise Redis could match early.
//!
//! Then it polls until everything holds or the (real-time) deadline passes:
//! the consumer group has caught up, Redis equals the expected state (keys,
//! fields, scores, and hot-item TTLs), the dead-letter topic holds every
//! malformed or late record exactly once, and the metrics endpoint agrees.
//! A timeout shows the last differences, one per line.

use std::collections::BTreeMap;

use harness_infra::RedisUrl;
use harness_pipeline::{Engine, EngineConfig, Recorder, RedisValue, RunOutput, oracle};

use super::{
    context::Ctx,
    datasets::{Record, end_offsets},
    deadline::{Check, Deadline, until},
    error_chain,
    report::Failure,
    verify_kafka::{self, Letter},
};
use crate::{
    pipeline::{http_client, verify as live},
    scenario::pipeline_verbs::Verify,
};

/// Differences shown in full before the rest are counted.
const SHOWN: usize = 50;

/// What Redis and the dead-letter topic must hold.
struct Expected {
    config: EngineConfig,
    output: RunOutput,
    /// Dead letters by their source's `(partition, offset)`, with the reason.
    dead_letters: BTreeMap<(i32, i64), String>,
    /// Where the datasets went (`None` for a file).
    kafka: Option<Placement>,
    /// `6000 events of dataset events`.
    describe: String,
}

/// The topic the datasets were produced to, and how far.
struct Placement {
    bootstrap_servers: String,
    topic: String,
    ends: BTreeMap<i32, i64>,
}

/// Runs a `verify` step; returns notes (what was compared).
pub(crate) async fn run(
    ctx: &mut Ctx<'_>,
    verify: &Verify,
    deadline: &Deadline,
) -> Result<Vec<String>, Failure> {
    let expected = expected(ctx, verify).await?;
    let url_text = match &verify.redis_url {
        Some(url) => ctx.expand(url)?,
        None => ctx.infra_var("infra.redis.url")?,
    };
    let url: RedisUrl = url_text
        .parse()
        .map_err(|err| Failure::new(format!("redisUrl: {}", error_chain(&err))))?;
    let group = verify
        .consumer_group
        .as_deref()
        .map(|g| ctx.expand(g))
        .transpose()?;
    let letters_topic = verify
        .dead_letters
        .as_ref()
        .map(|d| ctx.expand(&d.topic))
        .transpose()?;
    let metrics_url = verify
        .metrics_url
        .as_deref()
        .map(|u| ctx.expand(u))
        .transpose()?;
    let verified = until(deadline, "verify", async || {
        if let (Some(group), Some(kafka)) = (&group, &expected.kafka)
            && let Some(pending) = lag(group, kafka).await
        {
            return pending;
        }
        let snapshot = match live::read_redis(&url, &expected.config.key_templates).await {
            Ok(snapshot) => snapshot,
            Err(err) => return Check::pending(error_chain(&err)),
        };
        let mut report = live::compare(&expected.output.redis, &snapshot, expected.config.hot_ttl_secs);
        if let Some(url) = &metrics_url {
            report.metric_problems = match http_client::get(url).await {
                Ok(scrape) if scrape.status == 200 => live::check_metrics(&scrape.body, &expected.output.metrics),
                Ok(scrape) => vec![format!("{url} answered {}", scrape.status)],
                Err(err) => vec![error_chain(&err)],
            };
        }
        let (letters, letter_problems) = match (&letters_topic, &expected.kafka) {
            (Some(topic), Some(kafka)) => match verify_kafka::dead_letters(&kafka.bootstrap_servers, topic).await {
                Ok(found) => {
                    let problems = verify_kafka::compare_letters(&expected.dead_letters, &found);
                    (Some(found), problems)
                }
                Err(err) => (None, vec![err]),
            },
            _ => (None, Vec::new()),
        };
        if report.is_ok() && letter_problems.is_empty() {
            return Check::Done(success_notes(&expected, &group, letters.as_deref(), metrics_url.is_some()));
        }
        let mut diff: Vec<String> = report.differences.iter().take(SHOWN).map(ToString::to_string).collect();
        if report.differences.len() > SHOWN {
            diff.push(format!("... and {} more differences", report.differences.len() - SHOWN));
        }
        diff.extend(report.foreign.iter().map(|(key, kind)| format!("key {key} is a {kind}, not a hash or sorted set")));
        diff.extend(report.ttl_problems.iter().map(|p| format!("sorted set {}: {}", p.key, p.problem)));
        diff.extend(report.metric_problems.iter().map(|p| format!("metrics: {p}")));
        diff.extend(letter_problems.iter().cloned());
        let summary = format!(
            "redis differs from the oracle of {} ({} keys expected, {} found; {} differences, {} TTL problems, {} metric problems, {} dead-letter problems)",
            expected.describe,
            report.expected_keys,
            report.actual_keys,
            report.differences.len(),
            report.ttl_problems.len(),
            report.metric_problems.len(),
            letter_problems.len()
        );
        Check::Pending { summary, diff }
    })
    .await?;
    Ok(verified)
}

/// `Some(pending)` while the consumer group has not committed every produced record.
async fn lag(group: &str, kafka: &Placement) -> Option<Check<Vec<String>>> {
    match verify_kafka::lagging(&kafka.bootstrap_servers, group, &kafka.topic, &kafka.ends).await {
        Ok(behind) if behind.is_empty() => None,
        Ok(behind) => Some(Check::Pending {
            summary: format!(
                "consumer group {group} has not committed offsets past every produced record of {}",
                kafka.topic
            ),
            diff: behind
                .iter()
                .map(|(partition, committed, end)| {
                    let at =
                        committed.map_or_else(|| "nothing".to_owned(), |c| format!("offset {c}"));
                    format!("partition {partition}: committed {at}, produced up to offset {end}")
                })
                .collect(),
        }),
        Err(err) => Some(Check::pending(err)),
    }
}

fn success_notes(
    expected: &Expected,
    group: &Option<String>,
    letters: Option<&[Letter]>,
    metrics: bool,
) -> Vec<String> {
    let hashes = expected
        .output
        .redis
        .iter()
        .filter(|(_, v)| matches!(v, RedisValue::Hash(_)))
        .count();
    let zsets = expected.output.redis.len() - hashes;
    let mut notes = vec![format!(
        "compared {} keys ({hashes} hashes, {zsets} sorted sets) with the oracle of {}: equal",
        expected.output.redis.len(),
        expected.describe
    )];
    if expected.output.redis.is_empty() {
        notes.push("the oracle expects no keys: this verification shows little".to_owned());
    }
    if let (Some(group), Some(kafka)) = (group, &expected.kafka) {
        let ends: Vec<String> = kafka
            .ends
            .iter()
            .map(|(p, e)| format!("partition {p} at {e}"))
            .collect();
        notes.push(format!(
            "consumer group {group} has committed every produced record ({})",
            ends.join(", ")
        ));
    }
    if let Some(letters) = letters {
        notes.push(format!(
            "{} dead letters, each exactly once with the oracle's reason",
            letters.len()
        ));
    }
    if metrics {
        notes.push("metrics agree with the oracle's latest windows".to_owned());
    }
    notes
}

/// The expected state; see the module doc.
async fn expected(ctx: &Ctx<'_>, verify: &Verify) -> Result<Expected, Failure> {
    let config = engine_config(verify)?;
    if let Some(file) = &verify.file {
        let path = ctx.scenario.dir.join(file);
        let events = crate::pipeline::read_events_file(&path)
            .map_err(|err| Failure::new(error_chain(&err)))?;
        let output = oracle(&config, &events);
        return Ok(Expected {
            config,
            output,
            dead_letters: BTreeMap::new(),
            kafka: None,
            describe: format!("{} events of {}", events.len(), path.display()),
        });
    }
    let mut records: Vec<&Record> = Vec::new();
    let mut placement: Option<(&str, &str)> = None;
    for name in &verify.datasets {
        let dataset = ctx.datasets.get(name).ok_or_else(|| {
            Failure::new(format!(
                "dataset {name:?} was not produced (did its produce step run?)"
            ))
        })?;
        let here = (dataset.bootstrap_servers.as_str(), dataset.topic.as_str());
        if placement.is_some_and(|first| first != here) {
            return Err(Failure::new(
                "the datasets went to different topics; a job reads one".to_owned(),
            ));
        }
        placement = Some(here);
        records.extend(&dataset.records);
    }
    let (bootstrap, topic) = placement.ok_or_else(|| Failure::new("no datasets to verify"))?;
    let ends = end_offsets(records.iter().copied());
    let (output, dead_letters) = if verify.drained {
        let output = oracle(&config, records.iter().map(|r| r.payload.as_slice()));
        // The oracle reads one split with offsets 0, 1, ...: the index of the record.
        let letters = output
            .dead_letters
            .iter()
            .filter_map(|letter| {
                let record = usize::try_from(letter.offset)
                    .ok()
                    .and_then(|i| records.get(i))?;
                Some(((record.partition, record.offset), letter.reason.to_string()))
            })
            .collect();
        (output, letters)
    } else {
        let partitions = harness_infra::kafka::partition_count(bootstrap, topic)
            .await
            .map_err(|err| {
                Failure::new(format!(
                    "could not read the partitions of {topic}: {}",
                    error_chain(&err)
                ))
            })?;
        let output = undrained(&config, partitions, &records);
        let letters = output
            .dead_letters
            .iter()
            .map(|l| ((l.split, l.offset), l.reason.to_string()))
            .collect();
        (output, letters)
    };
    let describe = format!(
        "{} events of dataset{} {}{}",
        records.len(),
        if verify.datasets.len() == 1 { "" } else { "s" },
        verify.datasets.join(", "),
        if verify.drained {
            ""
        } else {
            " (before the end-of-input drain)"
        }
    );
    Ok(Expected {
        config,
        output,
        dead_letters,
        kafka: Some(Placement {
            bootstrap_servers: bootstrap.to_owned(),
            topic: topic.to_owned(),
            ends,
        }),
        describe,
    })
}

/// The engine over `records` with their real partitions and offsets, every
/// partition of the topic assigned, without the final drain.
fn undrained(config: &EngineConfig, partitions: i32, records: &[&Record]) -> RunOutput {
    let splits: Vec<i32> = (0..partitions.max(1)).collect();
    let mut engine = Engine::new(config.clone(), &splits);
    let mut recorder = Recorder::new(config);
    let mut outputs = Vec::new();
    for record in records {
        engine.process(
            record.partition,
            record.offset,
            &record.payload,
            &mut outputs,
        );
        recorder.record_all(outputs.drain(..));
    }
    recorder.finish(engine.stats())
}

/// The job's settings the oracle must share: key templates and watermark delay.
fn engine_config(verify: &Verify) -> Result<EngineConfig, Failure> {
    let mut config = EngineConfig::default();
    if let Some(keys) = &verify.key_templates {
        config.key_templates = keys
            .parse()
            .map_err(|err| Failure::new(format!("invalid key template: {err}")))?;
    }
    if let Some(delay) = verify.watermark_delay {
        config.watermark_delay_ms = u64::try_from(delay.std().as_millis()).unwrap_or(u64::MAX);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use harness_pipeline::{Generator, GeneratorConfig};

    use super::*;

    /// With one partition, the undrained run and the drained oracle differ
    /// exactly by the windows the drain fires, and the undrained run is the
    /// engine over real offsets, not indexes.
    #[test]
    fn the_undrained_state_is_a_prefix_of_the_oracle() {
        let config = EngineConfig::default();
        let generator = GeneratorConfig {
            seed: 3,
            events_per_second: 0.5,
            users: 50,
            items: 40,
            malformed_ratio: 0.05,
            ..GeneratorConfig::default()
        };
        let events: Vec<Vec<u8>> = Generator::new(generator)
            .expect("valid")
            .take(2000)
            .map(|e| e.payload)
            .collect();
        // Offsets start at 100, as after earlier records in the topic.
        let records: Vec<Record> = events
            .iter()
            .enumerate()
            .map(|(i, payload)| Record {
                payload: payload.clone(),
                partition: 0,
                offset: 100 + i as i64,
            })
            .collect();
        let refs: Vec<&Record> = records.iter().collect();
        let before = undrained(&config, 1, &refs);
        let after = oracle(&config, &events);
        assert!(!before.redis.is_empty() && before.redis.len() <= after.redis.len());
        assert!(
            before.user_features.len() < after.user_features.len(),
            "the drain fires the last windows"
        );
        assert_eq!(
            before.dead_letters.len(),
            after.dead_letters.len(),
            "dead letters do not wait for the drain"
        );
        assert!(
            before.dead_letters.iter().all(|l| l.offset >= 100),
            "real offsets"
        );
        // An assigned partition that never gets a record holds every window open.
        let held = undrained(&config, 2, &refs);
        assert!(held.redis.is_empty(), "{} keys", held.redis.len());
    }
}
