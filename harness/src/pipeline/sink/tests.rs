//! The sink task against a local `redis-server`: queued batches share round
//! trips, a barrier waits for the writes before it and is never coalesced
//! past, and a lone batch is sent without waiting for company. Round trips
//! are read from the sink's own counter.

use std::{
    sync::{Arc, atomic::Ordering::Relaxed},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use harness_infra::{Redis, RedisSpec, RedisUrl};
use harness_pipeline::{Engine, EngineConfig, KeyTemplates, RedisState, RedisWrite};
use tokio::sync::{mpsc, oneshot};

use super::{Barrier, BarrierKind, INBOX_CAPACITY, RedisWriter, SinkMessage, run};
use crate::pipeline::{checkpoints::CheckpointStore, metrics::Shared, verify};

async fn redis() -> anyhow::Result<Redis> {
    Redis::start(&RedisSpec::Local { binary: None })
        .await
        .context("these tests need redis-server (`cargo xtask setup`)")
}

/// `count` user-feature rows named `{prefix}{n}`, shaped like the engine's.
fn rows(prefix: &str, count: usize) -> Vec<RedisWrite> {
    (0..count)
        .map(|n| RedisWrite::Hash {
            key: format!("user:profile:t:s:{prefix}{n}"),
            fields: vec![
                ("view", n.to_string()),
                ("like", "1".into()),
                ("share", "0".into()),
                ("active_period", "evening".into()),
            ],
        })
        .collect()
}

fn checkpoint_barrier() -> (
    Barrier,
    oneshot::Receiver<crate::pipeline::Result<std::path::PathBuf>>,
) {
    let (reply, answer) = oneshot::channel();
    let barrier = Barrier {
        kind: BarrierKind::Checkpoint,
        state: Engine::new(EngineConfig::default(), &[0]).snapshot(),
        reply: Some(reply),
    };
    (barrier, answer)
}

/// A sink task on `url` reading `inbox`, with its counters.
async fn sink(
    url: &RedisUrl,
    inbox: mpsc::Receiver<SinkMessage>,
    state_dir: &std::path::Path,
) -> anyhow::Result<(
    tokio::task::JoinHandle<crate::pipeline::Result<()>>,
    Arc<Shared>,
)> {
    let shared = Arc::new(Shared::default());
    let writer =
        RedisWriter::connect_shared(url, Arc::clone(&shared), Duration::from_secs(10)).await?;
    let store = CheckpointStore::open(state_dir)?;
    let task = tokio::spawn(run(inbox, writer, store, Arc::clone(&shared)));
    Ok((task, shared))
}

/// Redis holds exactly what `writes` make, applied in order.
async fn assert_redis_holds(url: &RedisUrl, writes: &[RedisWrite]) -> anyhow::Result<()> {
    let mut expected = RedisState::default();
    for write in writes {
        expected.apply(write);
    }
    let snapshot = verify::read_redis(url, &KeyTemplates::default()).await?;
    let report = verify::compare(&expected, &snapshot, 7200);
    anyhow::ensure!(report.is_ok(), "{}", report.render());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_batches_share_round_trips() -> anyhow::Result<()> {
    let redis = redis().await?;
    let dir = tempfile::tempdir()?;
    let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
    // 60 engine batches of 100 rows each, all queued before the sink starts:
    // sent batch by batch they would take 60 round trips.
    let batches: Vec<Vec<RedisWrite>> = (0..60).map(|b| rows(&format!("b{b}u"), 100)).collect();
    for batch in &batches {
        tx.send(SinkMessage::Writes(batch.clone())).await?;
    }
    let (barrier, checkpoint) = checkpoint_barrier();
    tx.send(SinkMessage::Barrier(barrier)).await?;
    drop(tx);

    let (task, shared) = sink(redis.url(), rx, dir.path()).await?;
    task.await??;
    checkpoint.await??;

    let writes = batches.concat();
    let round_trips = shared.redis_round_trips.load(Relaxed);
    assert!(
        round_trips * 1000 <= writes.len() as u64,
        "{round_trips} round trips for {} writes",
        writes.len()
    );
    assert_redis_holds(redis.url(), &writes).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_barrier_waits_for_the_writes_before_it_and_is_not_coalesced_past() -> anyhow::Result<()>
{
    let redis = redis().await?;
    let dir = tempfile::tempdir()?;
    let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
    let (before, after) = (rows("before", 50), rows("after", 50));
    let (barrier, checkpoint) = checkpoint_barrier();
    tx.send(SinkMessage::Writes(before.clone())).await?;
    tx.send(SinkMessage::Barrier(barrier)).await?;
    tx.send(SinkMessage::Writes(after.clone())).await?;
    drop(tx);

    let (task, shared) = sink(redis.url(), rx, dir.path()).await?;
    // When the checkpoint is reported written, everything before it is in
    // Redis (what comes after may or may not be yet).
    let path = checkpoint.await??;
    assert!(
        path.exists(),
        "{} was reported but is missing",
        path.display()
    );
    let snapshot = verify::read_redis(redis.url(), &KeyTemplates::default()).await?;
    let missing: Vec<&str> = before
        .iter()
        .map(RedisWrite::key)
        .filter(|key| snapshot.state.get(key).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "checkpointed before these were written: {missing:?}"
    );
    task.await??;

    // Two small batches that would share one round trip, but a barrier
    // stands between them.
    assert_eq!(shared.redis_round_trips.load(Relaxed), 2);
    assert_redis_holds(redis.url(), &[before, after].concat()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_batch_is_sent_without_waiting_for_more() -> anyhow::Result<()> {
    let redis = redis().await?;
    let dir = tempfile::tempdir()?;
    let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
    let (task, shared) = sink(redis.url(), rx, dir.path()).await?;
    let lone = rows("lone", 3);
    tx.send(SinkMessage::Writes(lone.clone())).await?;

    // The inbox stays open and nothing else comes: the batch must land anyway.
    let deadline = Instant::now() + Duration::from_secs(10);
    while shared.redis_round_trips.load(Relaxed) == 0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the lone batch was not sent within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        !task.is_finished(),
        "the sink stopped while its inbox was open"
    );
    assert_redis_holds(redis.url(), &lone).await?;
    drop(tx);
    task.await??;
    Ok(())
}
