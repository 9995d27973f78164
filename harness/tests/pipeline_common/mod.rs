//! Helpers shared by the pipeline's reliability tests: generated datasets and
//! their oracle, a Redis and an embedded Kafka from `harness-infra`, producing,
//! awaiting a condition with a deadline, and comparing Redis with the oracle.

#![allow(dead_code, unreachable_pub)]

use std::{
    future::Future,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use harness::pipeline::{Pipeline, PipelineConfig, Progress, SourceSpec, verify};
use harness_infra::{Kafka, KafkaSpec, Redis, RedisSpec, RedisUrl};
use harness_pipeline::{EngineConfig, Generator, GeneratorConfig, RunOutput, oracle};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

/// A generated dataset and what the pipeline must make of it.
pub struct Dataset {
    /// The events, in generation order.
    pub events: Vec<Vec<u8>>,
    /// The Kafka keys (user ids), one per event.
    pub keys: Vec<String>,
    /// The oracle's result over `events` in this order.
    pub expected: RunOutput,
}

/// `count` events from the generator; `event_time_rate` events per second of
/// event time (small values make many windows fire).
pub fn dataset(
    seed: u64,
    count: usize,
    malformed_ratio: f64,
    late_ratio: f64,
    event_time_rate: f64,
) -> Dataset {
    let config = GeneratorConfig {
        seed,
        malformed_ratio,
        late_ratio,
        events_per_second: event_time_rate,
        users: 500,
        items: 300,
        ..GeneratorConfig::default()
    };
    let (keys, events) = Generator::new(config)
        .expect("valid generator settings")
        .take(count)
        .map(|e| (e.key, e.payload))
        .unzip();
    let expected = oracle(&EngineConfig::default(), &events);
    Dataset {
        events,
        keys,
        expected,
    }
}

impl Dataset {
    /// Writes the events as JSON lines into `dir`.
    pub fn write_file(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        let path = dir.join("events.jsonl");
        let mut text = Vec::new();
        for event in &self.events {
            text.extend_from_slice(event);
            text.push(b'\n');
        }
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

/// A local `redis-server` (fails with the install hint where it is missing).
pub async fn redis() -> anyhow::Result<Redis> {
    Redis::start(&RedisSpec::Local { binary: None })
        .await
        .context("these tests need redis-server (`cargo xtask setup`)")
}

/// An embedded Kafka with `topic` created with `partitions` partitions, and
/// the dead-letter topic.
pub async fn kafka(topic: &str, partitions: i32) -> anyhow::Result<Kafka> {
    let kafka = Kafka::start(&KafkaSpec::default()).await?;
    create_topics(&kafka, topic, partitions).await?;
    Ok(kafka)
}

/// Creates `topic` with `partitions` partitions, and the dead-letter topic.
async fn create_topics(kafka: &Kafka, topic: &str, partitions: i32) -> anyhow::Result<()> {
    kafka.create_topic(topic, partitions).await?;
    kafka
        .create_topic(harness::pipeline::dead_letters::DEAD_LETTER_TOPIC, 1)
        .await?;
    Ok(())
}

/// What a Kafka-sourced pipeline test starts from: a Redis, a Kafka holding
/// the input topic and the dead-letter topic, and a fresh state directory.
pub struct KafkaRig {
    /// The sink.
    pub redis: Redis,
    /// The source's broker.
    pub kafka: Kafka,
    /// The input topic.
    pub topic: &'static str,
    /// How many partitions `topic` has.
    pub partitions: i32,
    /// The pipeline's checkpoint directory.
    pub state: tempfile::TempDir,
}

impl KafkaRig {
    /// A local Redis and an embedded Kafka whose `topic` has `partitions`
    /// partitions.
    pub async fn start(topic: &'static str, partitions: i32) -> anyhow::Result<Self> {
        let redis = redis().await?;
        let kafka = Kafka::start(&KafkaSpec::default()).await?;
        Self::assemble(redis, kafka, topic, partitions).await
    }

    /// A rig around an already started `kafka` (another provider): creates
    /// the topics on it.
    pub async fn assemble(
        redis: Redis,
        kafka: Kafka,
        topic: &'static str,
        partitions: i32,
    ) -> anyhow::Result<Self> {
        create_topics(&kafka, topic, partitions).await?;
        Ok(Self {
            redis,
            kafka,
            topic,
            partitions,
            state: tempfile::tempdir()?,
        })
    }

    /// Produces `data.events[range]` to the input topic (see [`produce`]).
    pub fn produce(&self, data: &Dataset, range: std::ops::Range<usize>) -> anyhow::Result<()> {
        produce(&self.kafka, self.topic, self.partitions, data, range)
    }

    /// A test [`config`] reading the input topic into this Redis, with
    /// checkpoints in the state directory.
    pub fn config(&self) -> PipelineConfig {
        config(
            SourceSpec::kafka(self.kafka.bootstrap_servers(), self.topic),
            self.redis.url(),
            self.state.path(),
        )
    }
}

/// Produces `events[range]` to `topic`, partitioned as `harness load` does,
/// and waits until all are acknowledged.
pub fn produce(
    kafka: &Kafka,
    topic: &str,
    partitions: i32,
    data: &Dataset,
    range: std::ops::Range<usize>,
) -> anyhow::Result<()> {
    let producer: ThreadedProducer<DefaultProducerContext> = kafka
        .client_config()
        .set("linger.ms", "5")
        .set("message.timeout.ms", "0")
        .create()?;
    for idx in range {
        let key = &data.keys[idx];
        let partition = harness::pipeline::load::partition_for(key.as_bytes(), partitions);
        let mut record = BaseRecord::to(topic)
            .partition(partition)
            .key(key.as_str())
            .payload(data.events[idx].as_slice());
        while let Err((err, returned)) = producer.send(record) {
            if err.rdkafka_error_code() != Some(rdkafka::types::RDKafkaErrorCode::QueueFull) {
                bail!("produce failed: {err}");
            }
            producer.poll(Duration::from_millis(10));
            record = returned;
        }
    }
    producer.flush(Duration::from_secs(60))?;
    Ok(())
}

/// A pipeline configuration for tests: short checkpoints, the given source.
pub fn config(source: SourceSpec, redis: &RedisUrl, state_dir: &Path) -> PipelineConfig {
    let mut config = PipelineConfig::new(source, redis.clone(), state_dir.to_owned());
    config.checkpoint_interval = Duration::from_millis(100);
    config
}

/// Polls `condition` until it holds or `timeout` passes; the error says what
/// was awaited and shows the last progress.
pub async fn wait_for(
    pipeline: &Pipeline,
    what: &str,
    timeout: Duration,
    condition: impl Fn(&Progress) -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let progress = pipeline.progress();
        if condition(&progress) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}; progress: {progress:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls an async condition until it holds or `timeout` passes.
pub async fn eventually<F, Fut>(
    what: &str,
    timeout: Duration,
    mut condition: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !condition().await {
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Asserts that Redis holds exactly the oracle's state (and valid TTLs).
pub async fn assert_redis_matches(url: &RedisUrl, expected: &RunOutput) -> anyhow::Result<()> {
    let config = EngineConfig::default();
    let snapshot = verify::read_redis(url, &config.key_templates).await?;
    let report = verify::compare(&expected.redis, &snapshot, config.hot_ttl_secs);
    assert!(report.is_ok(), "{}", report.render());
    assert!(
        !expected.redis.is_empty(),
        "a dataset that writes nothing proves nothing"
    );
    Ok(())
}

/// A connection to the Redis at `url`, for a test to read or tamper with it.
pub async fn connect(url: &RedisUrl) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    Ok(redis::Client::open(url.expose())?
        .get_multiplexed_async_connection()
        .await?)
}

/// Empties Redis between runs that share it.
pub async fn flush(url: &RedisUrl) -> anyhow::Result<()> {
    let () = redis::cmd("FLUSHALL")
        .query_async(&mut connect(url).await?)
        .await?;
    Ok(())
}

/// Makes each of `keys` a plain string, so the pipeline's HSET to it gets
/// WRONGTYPE: a write Redis refuses for good.
pub async fn occupy_with_strings<'k>(
    url: &RedisUrl,
    keys: impl IntoIterator<Item = &'k str>,
) -> anyhow::Result<()> {
    let mut connection = connect(url).await?;
    for key in keys {
        let () = redis::cmd("SET")
            .arg(key)
            .arg("not a hash")
            .query_async(&mut connection)
            .await?;
    }
    Ok(())
}
