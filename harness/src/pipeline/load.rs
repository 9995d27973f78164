//! The load generator's I/O: writes the pure core's seeded [`Generator`]
//! stream to a JSON-lines file or produces it to a Kafka topic, optionally
//! paced to a wall-clock rate.
//!
//! Kafka records are keyed by user id and sent to partition
//! `fnv1a(user id) mod partitions`, computed here rather than by librdkafka's
//! partitioner so a run's partitioning is easy to reproduce anywhere. Each
//! partition receives its events in generation order.
//!
//! After producing, the topic's earliest offsets are checked: a partition
//! whose early records are gone (the embedded mock cluster's retention cap)
//! is reported, because a consumer starting from the beginning will miss them.

use std::{
    fs::File,
    io::{BufWriter, Write as _},
    path::PathBuf,
    time::{Duration, Instant},
};

use harness_pipeline::{GeneratedKind, Generator, GeneratorConfig};
use rdkafka::{
    producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer},
    types::RDKafkaErrorCode,
};

use super::{Error, Result};

/// Where generated events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadTarget {
    /// A JSON-lines file (overwritten).
    File(PathBuf),
    /// A Kafka topic, created with `partitions` partitions if missing.
    Kafka {
        /// `host:port[,...]`.
        bootstrap_servers: String,
        /// The topic.
        topic: String,
        /// Partitions to create it with (an existing topic keeps its own).
        partitions: i32,
    },
}

/// What to generate and where.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The generator's settings (seed, population, ratios, event-time rate).
    pub generator: GeneratorConfig,
    /// How many events.
    pub count: u64,
    /// Wall-clock events per second; `None` for as fast as possible.
    pub rate: Option<f64>,
    /// Where they go.
    pub target: LoadTarget,
}

/// What a load run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Events written.
    pub events: u64,
    /// Of which valid and on time.
    pub valid: u64,
    /// Of which deliberately late.
    pub late: u64,
    /// Of which malformed.
    pub malformed: u64,
    /// Wall time taken.
    pub elapsed: Duration,
    /// Kafka: partitions whose earliest offset is above 0 after producing.
    pub retention_loss: Vec<(i32, i64)>,
}

/// The most events between two looks at the clock when pacing: at high
/// rates the pacer runs about once per millisecond of schedule, at low rates
/// before every event.
const PACE_EVERY: u64 = 256;

/// How many events go between two calls to [`pace`] at `rate` events/s:
/// about a millisecond's worth, at least one, at most [`PACE_EVERY`].
fn pace_every(rate: Option<f64>) -> u64 {
    rate.filter(|rate| *rate > 0.0).map_or(PACE_EVERY, |rate| {
        (rate / 1_000.0).clamp(1.0, PACE_EVERY as f64) as u64
    })
}

/// Generates `config.count` events into the target. The generating loop runs
/// on a blocking thread.
pub async fn load(config: &LoadConfig) -> Result<LoadReport> {
    let mut generator = Generator::new(config.generator.clone())?;
    let partitions = match &config.target {
        LoadTarget::Kafka {
            bootstrap_servers,
            topic,
            partitions,
        } => Some(ensure_topic(bootstrap_servers, topic, *partitions).await?),
        LoadTarget::File(_) => None,
    };
    let blocking_config = config.clone();
    let mut report =
        tokio::task::spawn_blocking(move || generate(&mut generator, &blocking_config, partitions))
            .await
            .map_err(|_| Error::Panicked {
                which: "load generator",
            })??;
    if let LoadTarget::Kafka {
        bootstrap_servers,
        topic,
        ..
    } = &config.target
    {
        report.retention_loss =
            harness_infra::kafka::retention_loss(bootstrap_servers, topic).await?;
    }
    Ok(report)
}

/// The generating loop; `partitions` is the Kafka topic's partition count.
fn generate(
    generator: &mut Generator,
    config: &LoadConfig,
    partitions: Option<i32>,
) -> Result<LoadReport> {
    let started = Instant::now();
    let mut report = LoadReport::default();
    let mut payload = Vec::with_capacity(256);
    let mut key = String::new();
    let every = pace_every(config.rate);
    let mut next = |report: &mut LoadReport, payload: &mut Vec<u8>, key: &mut String| {
        // Event k is due k/rate seconds after the start: wait for it before
        // generating it, so a short run is paced too.
        if report.events.is_multiple_of(every) {
            pace(config.rate, started, report.events);
        }
        match generator.next_into(payload, key) {
            GeneratedKind::Valid => report.valid += 1,
            GeneratedKind::Late => report.late += 1,
            GeneratedKind::Malformed(_) => report.malformed += 1,
        }
        report.events += 1;
    };
    match &config.target {
        LoadTarget::Kafka {
            bootstrap_servers,
            topic,
            ..
        } => {
            let partitions = partitions.unwrap_or(1);
            let producer: ThreadedProducer<DefaultProducerContext> =
                harness_infra::kafka::client_config(bootstrap_servers)
                    .set("linger.ms", "5")
                    .set("batch.num.messages", "10000")
                    .set("queue.buffering.max.messages", "1000000")
                    .set("message.timeout.ms", "0")
                    .create()
                    .map_err(|source| Error::kafka("create the producer", source))?;
            for _ in 0..config.count {
                next(&mut report, &mut payload, &mut key);
                let partition = partition_for(key.as_bytes(), partitions);
                let mut record = BaseRecord::to(topic)
                    .partition(partition)
                    .key(key.as_str())
                    .payload(payload.as_slice());
                loop {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((err, returned))
                            if err.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) =>
                        {
                            // librdkafka's queue is full: let it drain.
                            producer.poll(Duration::from_millis(10));
                            record = returned;
                        }
                        Err((source, _)) => {
                            return Err(Error::kafka(format!("produce to {topic}"), source));
                        }
                    }
                }
            }
            producer
                .flush(Duration::from_secs(120))
                .map_err(|source| Error::kafka(format!("flush to {topic}"), source))?;
        }
        LoadTarget::File(path) => {
            let file = File::create(path).map_err(|source| Error::io("create", path, source))?;
            let mut out = BufWriter::with_capacity(1 << 20, file);
            for _ in 0..config.count {
                next(&mut report, &mut payload, &mut key);
                out.write_all(&payload)
                    .and_then(|()| out.write_all(b"\n"))
                    .map_err(|source| Error::io("write", path, source))?;
            }
            out.flush()
                .map_err(|source| Error::io("write", path, source))?;
        }
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Sleeps until `produced` events fit under `rate` per second since `started`.
fn pace(rate: Option<f64>, started: Instant, produced: u64) {
    if let Some(rate) = rate.filter(|rate| *rate > 0.0) {
        let due = started + Duration::from_secs_f64(produced as f64 / rate);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
}

/// Creates the topic if it is missing and returns its partition count.
async fn ensure_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<i32> {
    let existing = harness_infra::kafka::partition_count(bootstrap, topic).await?;
    if existing > 0 {
        if existing != partitions {
            tracing::warn!(
                topic,
                existing,
                asked = partitions,
                "the topic exists with another partition count; using it"
            );
        }
        return Ok(existing);
    }
    if let Err(err) = harness_infra::kafka::create_topic(bootstrap, topic, partitions).await {
        // The embedded mock does not serve CreateTopics (its topics are made
        // with `harness infra up --topic`); the check below says what is missing.
        tracing::debug!(error = %err, "creating the topic failed");
    }
    match harness_infra::kafka::partition_count(bootstrap, topic).await? {
        0 => Err(Error::TopicMissing {
            topic: topic.to_owned(),
            bootstrap: bootstrap.to_owned(),
        }),
        created => Ok(created),
    }
}

/// The partition `harness load` sends a record with this key to:
/// `fnv1a(key) mod partitions` (see the module doc).
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    let partitions = u64::from(partitions.max(1).unsigned_abs());
    // The remainder is below the (i32) partition count.
    (fnv1a(key) % partitions) as i32
}

/// FNV-1a, 64 bit: a stable, dependency-free hash for partitioning.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_its_reference_values() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[tokio::test]
    async fn a_file_load_is_reproducible_and_counted() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let generator = GeneratorConfig {
            seed: 7,
            malformed_ratio: 0.1,
            late_ratio: 0.05,
            ..GeneratorConfig::default()
        };
        let mut reports = Vec::new();
        let mut contents = Vec::new();
        for name in ["a.jsonl", "b.jsonl"] {
            let path = dir.path().join(name);
            let config = LoadConfig {
                generator: generator.clone(),
                count: 2000,
                rate: None,
                target: LoadTarget::File(path.clone()),
            };
            reports.push(load(&config).await?);
            contents.push(std::fs::read(&path)?);
        }
        assert_eq!(contents[0], contents[1]);
        let report = &reports[0];
        assert_eq!(report.events, 2000);
        assert_eq!(report.valid + report.late + report.malformed, 2000);
        assert!(report.malformed > 0 && report.late > 0, "{report:?}");
        assert_eq!(contents[0].iter().filter(|&&b| b == b'\n').count(), 2000);
        Ok(())
    }

    #[test]
    fn the_pacer_looks_at_the_clock_about_every_millisecond() {
        assert_eq!(pace_every(None), PACE_EVERY);
        assert_eq!(pace_every(Some(10.0)), 1);
        assert_eq!(pace_every(Some(50_000.0)), 50);
        assert_eq!(pace_every(Some(10_000_000.0)), PACE_EVERY);
    }

    #[tokio::test]
    async fn a_short_run_is_paced_too() -> anyhow::Result<()> {
        // 30 events at 300/s: the last is due 29/300 s after the first. Only
        // a lower bound: the pacer sleeps until each event is due.
        let dir = tempfile::tempdir()?;
        let config = LoadConfig {
            generator: GeneratorConfig::default(),
            count: 30,
            rate: Some(300.0),
            target: LoadTarget::File(dir.path().join("paced.jsonl")),
        };
        let report = load(&config).await?;
        assert_eq!(report.events, 30);
        assert!(
            report.elapsed >= Duration::from_secs_f64(29.0 / 300.0),
            "{:?}",
            report.elapsed
        );
        Ok(())
    }
}
