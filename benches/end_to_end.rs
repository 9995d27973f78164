//! `end_to_end`: generator → Kafka (embedded) → pipeline → Redis (local),
//! beside a bare rdkafka `BaseConsumer` draining the same topic contents,
//! measured in the same run.
//!
//! Set-up: the embedded Kafka provider (librdkafka's mock cluster) and a local
//! `redis-server`; 320,000 standard events produced once into 16 partitions,
//! spread round-robin (each keeps its user key) so that every partition holds
//! 20,000 records, about 3.2 MiB: under the mock's retention cap of 5 MiB per
//! partition. Both sides then read that topic from offset 0 on every
//! iteration, so nothing is consumed while producing and nothing is lost; the
//! set-up checks the low watermarks stayed at 0, and every iteration checks it
//! read exactly 320,000 records.
//!
//! - `bare_consumer`: what the pipeline's Kafka source does without the
//!   pipeline: the same client settings (`harness::pipeline::
//!   kafka_consumer_config`: assigned partitions, no group join,
//!   `fetch.wait.max.ms=10`, `fetch.queue.backoff.ms=10`), same metadata and
//!   end-offset look-ups, same polling, touching each payload.
//! - `pipeline`: `harness::pipeline::Pipeline` in bounded mode, started and
//!   run to completion: connect, consume, engine, the pipelined sink, the drain
//!   at the end and the final checkpoint.
//!
//! Target (from the issue): `pipeline` ≥ 60% of `bare_consumer`'s rate. The
//! pipeline run outside the timing also gives `round_trips_per_1000` (the
//! sink's counter over the Redis writes a single-split engine run of the same
//! events emits; with no late events every window fires exactly once whatever
//! the partition interleaving, so the number of writes is the same).
//!
//! Both sides also count the CPU time every iteration costs (this process:
//! consumer, engine, sink and the in-process mock broker; plus redis-server's
//! own), giving `cpu_vs_consumer` = bare CPU per event ÷ pipeline CPU per
//! event. The wall-time ratio depends on how many cores are free: the
//! pipeline spreads over more threads than the bare consumer, so another
//! build on the machine slows it more. CPU time per event hardly depends on
//! that, so the gate holds the CPU ratio (see `ci/bench-gate.txt`).

use std::{
    collections::BTreeMap,
    hint::black_box,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use anyhow::{Context as _, bail, ensure};
use criterion::{Criterion, Throughput};
use harness::pipeline::{Pipeline, PipelineConfig, RunSummary, SourceSpec, kafka_consumer_config};
use harness_benches::{
    Profile,
    cpu::{self, CpuMeter},
    figures::Figures,
    main_with, runtime, workload,
};
use harness_infra::{InfraSpec, RedisUrl, TopicSpec};
use harness_pipeline::EngineConfig;
use rdkafka::{
    Message, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
    error::{KafkaError, RDKafkaErrorCode},
    producer::{BaseProducer, BaseRecord, Producer},
};

const TOPIC: &str = "bench_events";
const PARTITIONS: i32 = 16;
const PER_PARTITION: usize = 20_000;
const TIMEOUT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    main_with("end_to_end", end_to_end)
}

fn end_to_end(c: &mut Criterion) -> anyhow::Result<()> {
    let profile = Profile::from_env();
    let rt = runtime().context("starting tokio")?;
    let spec = InfraSpec {
        topics: vec![TopicSpec {
            name: TOPIC.into(),
            partitions: PARTITIONS,
        }],
        ..InfraSpec::default()
    };
    let infra = rt
        .block_on(spec.start())
        .context("starting embedded kafka and redis-server")?;
    let bootstrap = infra.kafka.bootstrap_servers().to_owned();

    let batch = workload::Batch::standard(PARTITIONS as usize * PER_PARTITION);
    produce(&bootstrap, &batch)?;
    let lost = rt
        .block_on(infra.kafka.retention_loss(TOPIC))
        .context("checking retention")?;
    ensure!(
        lost.is_empty(),
        "the mock cluster dropped records (partition, low watermark): {lost:?}"
    );
    let records = batch.len();

    let state_root = std::env::temp_dir().join(format!("harness-bench-e2e-{}", std::process::id()));
    let mut runs = 0_u32;
    let mut run_pipeline = || -> anyhow::Result<RunSummary> {
        runs += 1;
        let summary = rt.block_on(pipeline(
            &bootstrap,
            infra.redis.url(),
            &state_root.join(format!("run-{runs}")),
        ))?;
        ensure!(
            summary.stats().events == records as u64,
            "the pipeline read {} records, not {records}",
            summary.stats().events
        );
        Ok(summary)
    };

    let summary = run_pipeline()?;
    let updates = workload::redis_writes(&EngineConfig::default(), &batch).len();
    let mut figures = Figures::new("end_to_end");
    figures.set("records", records as f64, "records");
    figures.set("updates", updates as f64, "writes");
    figures.set(
        "round_trips_per_1000",
        summary.progress.redis_round_trips as f64 * 1000.0 / updates as f64,
        "round trips",
    );
    figures.set("offset_gaps", summary.progress.offset_gaps as f64, "gaps");

    // CPU time of this process (consumer, engine, sink, the in-process mock
    // broker) plus redis-server's, around every iteration criterion runs.
    let client =
        redis::Client::open(infra.redis.url().expose()).context("parsing the redis url")?;
    let mut info = rt
        .block_on(client.get_multiplexed_async_connection())
        .context("connecting to redis")?;
    let mut cpu_now = || -> anyhow::Result<Duration> {
        let text: String = rt
            .block_on(redis::cmd("INFO").arg("cpu").query_async(&mut info))
            .context("INFO cpu")?;
        let server = cpu::parse_redis_cpu(&text).context("INFO cpu has no used_cpu_* fields")?;
        Ok(cpu::process_cpu().context("reading /proc/self/stat")? + server)
    };
    let (mut bare_cpu, mut pipeline_cpu) = (CpuMeter::default(), CpuMeter::default());

    let mut group = c.benchmark_group("end_to_end");
    profile.configure(&mut group);
    group.throughput(Throughput::Elements(records as u64));
    group.bench_function("bare_consumer", |b| {
        b.iter(|| {
            let read = metered(&mut bare_cpu, &mut cpu_now, records, || drain(&bootstrap))
                .expect("the bare consumer failed");
            assert_eq!(
                read, records,
                "the bare consumer read {read} records, not {records}"
            );
        })
    });
    group.bench_function("pipeline", |b| {
        b.iter(|| {
            metered(&mut pipeline_cpu, &mut cpu_now, records, &mut run_pipeline)
                .expect("the pipeline run failed")
        })
    });
    group.finish();

    if let (Some(bare), Some(pipeline)) = (bare_cpu.us_per_1000(), pipeline_cpu.us_per_1000()) {
        figures.set("bare_consumer.cpu_us_per_1000", bare, "cpu us");
        figures.set("pipeline.cpu_us_per_1000", pipeline, "cpu us");
        figures.set("cpu_vs_consumer", bare / pipeline, "ratio");
    }
    figures.write_and_report();
    let _ = std::fs::remove_dir_all(&state_root);
    Ok(())
}

/// Runs `work` (which handles `events` events) and adds the CPU time it took
/// to `meter`.
fn metered<T>(
    meter: &mut CpuMeter,
    cpu_now: &mut impl FnMut() -> anyhow::Result<Duration>,
    events: usize,
    work: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let before = cpu_now()?;
    let out = work()?;
    meter.add(cpu_now()?.saturating_sub(before), events as u64);
    Ok(out)
}

/// Produces the batch round-robin over the partitions and waits until every
/// record is acknowledged.
fn produce(bootstrap: &str, batch: &workload::Batch) -> anyhow::Result<()> {
    let producer: BaseProducer = harness_infra::kafka::client_config(bootstrap)
        // Large batches: the mock returns one batch per partition per fetch,
        // so the consumers' speed depends on them (as on a real broker, less so).
        .set("linger.ms", "50")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .context("creating the producer")?;
    for (i, (key, payload)) in batch.records().enumerate() {
        let partition = (i % PARTITIONS as usize) as i32;
        let mut record = BaseRecord::to(TOPIC)
            .key(key)
            .payload(payload)
            .partition(partition);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    producer.poll(Duration::from_millis(10));
                }
                Err((err, _)) => return Err(err).context("producing the workload"),
            }
        }
    }
    producer.flush(TIMEOUT).context("flushing the producer")?;
    Ok(())
}

/// One bounded pipeline run over the topic, from start to its final checkpoint.
async fn pipeline(
    bootstrap: &str,
    redis: &RedisUrl,
    state_dir: &Path,
) -> anyhow::Result<RunSummary> {
    let mut config = PipelineConfig::new(
        SourceSpec::kafka(bootstrap, TOPIC),
        redis.clone(),
        PathBuf::from(state_dir),
    );
    config.bounded = true;
    let summary = Pipeline::start(config)
        .await
        .context("starting the pipeline")?
        .finished()
        .await
        .context("running the pipeline")?;
    let _ = std::fs::remove_dir_all(state_dir);
    Ok(summary)
}

/// The baseline: the pipeline's Kafka source without the pipeline. Assigns
/// every partition from the beginning, reads to the end offsets seen at
/// start, and returns how many records it read.
fn drain(bootstrap: &str) -> anyhow::Result<usize> {
    // The source's own settings, so the two cannot drift apart.
    let consumer: BaseConsumer = kafka_consumer_config(bootstrap)
        .create()
        .context("creating the consumer")?;
    let metadata = consumer
        .fetch_metadata(Some(TOPIC), TIMEOUT)
        .context("fetching metadata")?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions())
        .map(|p| p.id())
        .collect();
    let mut assignment = TopicPartitionList::new();
    let mut end = BTreeMap::new();
    for &partition in &partitions {
        assignment
            .add_partition_offset(TOPIC, partition, Offset::Beginning)
            .context("building the assignment")?;
        let (_, high) = consumer
            .fetch_watermarks(TOPIC, partition, TIMEOUT)
            .context("fetching end offsets")?;
        end.insert(partition, high);
    }
    consumer
        .assign(&assignment)
        .context("assigning partitions")?;
    let mut next: BTreeMap<i32, i64> = partitions.iter().map(|&p| (p, 0)).collect();
    let (mut read, mut idle) = (0, Duration::ZERO);
    while end.iter().any(|(p, end)| next[p] < *end) {
        let timeout = Duration::from_millis(100);
        match consumer.poll(timeout) {
            Some(Ok(message)) => {
                black_box(message.payload().map_or(0, <[u8]>::len));
                next.insert(message.partition(), message.offset() + 1);
                read += 1;
                idle = Duration::ZERO;
                // Take what is already queued without waiting, as the source does.
                while let Some(result) = consumer.poll(Duration::ZERO) {
                    let message = result.context("polling")?;
                    black_box(message.payload().map_or(0, <[u8]>::len));
                    next.insert(message.partition(), message.offset() + 1);
                    read += 1;
                }
            }
            Some(Err(err)) => return Err(err).context("polling"),
            None => {
                idle += timeout;
                if idle >= TIMEOUT {
                    bail!("no records for {TIMEOUT:?} with {read} read");
                }
            }
        }
    }
    Ok(read)
}
