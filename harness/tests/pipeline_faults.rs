//! Faults mid-run, each followed by a check that Redis ends equal to the
//! oracle: a Redis stop and start (the sink retries until Redis is back), a
//! broker outage (the source keeps polling while librdkafka reconnects), a
//! local broker process restart (where a broker binary exists), a crash
//! followed by `--restore` from the last checkpoint, and a stop with a
//! savepoint followed by a restore from it.

mod pipeline_common;

use std::time::Duration;

use harness::pipeline::{Exit, Pipeline, checkpoints};
use harness_infra::{Fault, Kafka, KafkaSpec, kafka::BrokerStorage};
use pipeline_common::{Dataset, KafkaRig, assert_redis_matches, dataset, redis, wait_for};

const TOPIC: &str = "user_behaviors";
const WAIT: Duration = Duration::from_secs(30);

/// A single-partition dataset whose windows fire throughout (4 events per
/// second of event time: ~1 hour), with malformed and late events.
fn faulty_dataset(seed: u64) -> Dataset {
    dataset(seed, 14_000, 0.02, 0.02, 4.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stop_and_start_mid_run_recovers_by_itself() -> anyhow::Result<()> {
    let mut rig = KafkaRig::start(TOPIC, 1).await?;
    let data = faulty_dataset(21);
    let half = data.events.len() / 2;
    rig.produce(&data, 0..half)?;
    let pipeline = Pipeline::start(rig.config()).await?;
    wait_for(&pipeline, "the first half", WAIT, |p| {
        p.stats.events == half as u64 && p.redis_round_trips > 0
    })
    .await?;

    rig.redis.apply(Fault::Stop).await?;
    // The second half fires windows while Redis is away: writes must fail
    // and be retried, and the source must go on regardless.
    rig.produce(&data, half..data.events.len())?;
    wait_for(&pipeline, "retries against the stopped redis", WAIT, |p| {
        p.redis_retries > 0
    })
    .await?;
    rig.redis.apply(Fault::Start).await?;
    let retries = pipeline.progress().redis_retries;
    let round_trips = pipeline.progress().redis_round_trips;
    wait_for(&pipeline, "writes to resume", WAIT, |p| {
        p.redis_round_trips > round_trips
    })
    .await?;

    let summary = pipeline.stop(true).await?;
    assert!(matches!(summary.exit, Exit::Stopped { .. }));
    assert!(summary.progress.redis_retries >= retries);
    assert_eq!(summary.stats(), &data.expected.stats);
    assert_redis_matches(rig.redis.url(), &data.expected).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_broker_outage_mid_run_is_survived() -> anyhow::Result<()> {
    let mut rig = KafkaRig::start(TOPIC, 1).await?;
    broker_outage(&mut rig, Fault::Stop, Fault::Start, faulty_dataset(22)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_broker_restart_mid_run_is_survived() -> anyhow::Result<()> {
    if harness_infra::kafka::local::find_broker().is_none() {
        eprintln!(
            "skipped: no nisshi or tansu on PATH ({})",
            harness_infra::kafka::local::INSTALL_HINT
        );
        return Ok(());
    }
    let kafka = Kafka::start(&KafkaSpec::Local { binary: None }).await?;
    if !matches!(kafka.local_storage(), Some(BrokerStorage::Sqlite(_))) {
        eprintln!(
            "skipped: the local broker has memory storage only, so a restart loses the topic (build it with libsql)"
        );
        return Ok(());
    }
    let mut rig = KafkaRig::assemble(redis().await?, kafka, TOPIC, 1).await?;
    // The restart happens after the stop, in one step.
    broker_outage(&mut rig, Fault::Restart, Fault::Start, faulty_dataset(23)).await
}

/// Produces half, waits until it is processed, applies `down` (then `up`),
/// produces the rest, and checks the end state.
async fn broker_outage(
    rig: &mut KafkaRig,
    down: Fault,
    up: Fault,
    data: Dataset,
) -> anyhow::Result<()> {
    let half = data.events.len() / 2;
    rig.produce(&data, 0..half)?;
    let pipeline = Pipeline::start(rig.config()).await?;
    wait_for(&pipeline, "the first half", WAIT, |p| {
        p.stats.events == half as u64
    })
    .await?;

    rig.kafka.apply(down).await?;
    wait_for(&pipeline, "the consumer to notice the outage", WAIT, |p| {
        p.kafka_errors > 0
    })
    .await?;
    rig.kafka.apply(up).await?;
    rig.produce(&data, half..data.events.len())?;
    let total = data.events.len() as u64;
    wait_for(&pipeline, "the second half", WAIT, |p| {
        p.stats.events == total
    })
    .await?;

    let summary = pipeline.stop(true).await?;
    assert_eq!(summary.progress.offset_gaps, 0);
    assert_eq!(summary.stats(), &data.expected.stats);
    assert_redis_matches(rig.redis.url(), &data.expected).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_then_restore_from_the_last_checkpoint_converges() -> anyhow::Result<()> {
    let rig = KafkaRig::start(TOPIC, 1).await?;
    let data = faulty_dataset(24);
    let half = data.events.len() / 2;
    rig.produce(&data, 0..half)?;
    let pipeline = Pipeline::start(rig.config()).await?;
    // A checkpoint taken after the first half was processed...
    wait_for(&pipeline, "a checkpoint after the first half", WAIT, |p| {
        p.stats.events == half as u64 && p.checkpoints >= 2
    })
    .await?;
    // ...then more records and more writes, and a crash part-way through.
    rig.produce(&data, half..data.events.len())?;
    wait_for(&pipeline, "part of the second half", WAIT, |p| {
        p.stats.events > (half + half / 2) as u64
    })
    .await?;
    pipeline.crash().await;

    let (checkpoint, metadata) = checkpoints::load(rig.state.path())?;
    let resume_at = checkpoint
        .next_offset(0)
        .expect("the checkpoint read partition 0");
    assert!(
        resume_at >= half as i64,
        "restoring from {} at offset {resume_at}",
        metadata.display()
    );

    let mut restored = rig.config();
    restored.restore = Some(rig.state.path().to_owned());
    restored.bounded = true;
    let summary = Pipeline::start(restored).await?.finished().await?;

    assert_eq!(summary.exit, Exit::Finished);
    // Counters continue from the checkpoint: together exactly one pass.
    assert_eq!(summary.stats(), &data.expected.stats);
    assert_redis_matches(rig.redis.url(), &data.expected).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_savepoint_taken_mid_run_restores_into_the_same_result() -> anyhow::Result<()> {
    let rig = KafkaRig::start(TOPIC, 1).await?;
    let data = faulty_dataset(25);
    let half = data.events.len() / 2;
    rig.produce(&data, 0..half)?;
    let pipeline = Pipeline::start(rig.config()).await?;
    wait_for(&pipeline, "the first half", WAIT, |p| {
        p.stats.events == half as u64
    })
    .await?;
    let savepoint = pipeline.savepoint().await?;
    // Stop without draining: the open windows stay in the final savepoint.
    let summary = pipeline.stop(false).await?;
    let Exit::Stopped { savepoint: last } = summary.exit else {
        panic!("{summary:?}")
    };
    assert_ne!(savepoint, last);
    assert_eq!(
        checkpoints::load(&savepoint)?.0.next_offset(0),
        Some(half as i64)
    );

    rig.produce(&data, half..data.events.len())?;
    let mut restored = rig.config();
    restored.restore = Some(savepoint);
    restored.bounded = true;
    let summary = Pipeline::start(restored).await?.finished().await?;
    assert_eq!(summary.stats(), &data.expected.stats);
    assert_redis_matches(rig.redis.url(), &data.expected).await
}
