//! The Kafka source (embedded provider) against the oracle: one partition
//! with late and malformed events, and several partitions without late events
//! (with several partitions lateness depends on how the consumer interleaves
//! them, see `harness_pipeline`'s crate doc). Dead letters reach the
//! dead-letter topic with their reason; the metrics endpoint agrees with the
//! oracle while the pipeline runs.

mod pipeline_common;

use std::time::{Duration, Instant};

use harness::pipeline::{Exit, Pipeline, dead_letters::DEAD_LETTER_TOPIC, http_client, verify};
use pipeline_common::{KafkaRig, assert_redis_matches, dataset, wait_for};
use rdkafka::{Message, message::Headers};

const TOPIC: &str = "user_behaviors";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_partition_with_late_events_matches_the_oracle() -> anyhow::Result<()> {
    let rig = KafkaRig::start(TOPIC, 1).await?;
    // ~3 MB: under the embedded broker's per-partition retention cap.
    let data = dataset(11, 15_000, 0.02, 0.03, 4.0);
    rig.produce(&data, 0..data.events.len())?;
    let mut config = rig.config();
    config.bounded = true;

    let summary = Pipeline::start(config).await?.finished().await?;

    assert_eq!(summary.exit, Exit::Finished);
    assert_eq!(summary.stats(), &data.expected.stats);
    assert_eq!(summary.progress.offset_gaps, 0);
    assert_redis_matches(rig.redis.url(), &data.expected).await?;

    // Every dead letter is on the dead-letter topic, with its reason.
    let letters = consume_all(
        rig.kafka.bootstrap_servers(),
        DEAD_LETTER_TOPIC,
        data.expected.dead_letters.len(),
    )?;
    assert_eq!(letters.len(), data.expected.dead_letters.len());
    for ((payload, reason, offset), expected) in letters.iter().zip(&data.expected.dead_letters) {
        assert_eq!(payload, &expected.payload);
        assert_eq!(reason, &expected.reason.to_string());
        assert_eq!(offset, &expected.offset.to_string());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_partitions_without_late_events_match_the_oracle() -> anyhow::Result<()> {
    let rig = KafkaRig::start(TOPIC, 4).await?;
    let data = dataset(12, 30_000, 0.01, 0.0, 6.0);
    rig.produce(&data, 0..data.events.len())?;
    let mut config = rig.config();
    config.bounded = true;

    let summary = Pipeline::start(config).await?.finished().await?;

    assert_eq!(summary.stats().events, data.events.len() as u64);
    assert_eq!(summary.stats().malformed, data.expected.stats.malformed);
    assert_eq!(summary.stats().fully_late, 0);
    assert_redis_matches(rig.redis.url(), &data.expected).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_endpoint_agrees_with_the_oracle_while_running() -> anyhow::Result<()> {
    let rig = KafkaRig::start(TOPIC, 1).await?;
    let data = dataset(13, 10_000, 0.02, 0.02, 4.0);
    rig.produce(&data, 0..data.events.len())?;
    let mut config = rig.config();
    config.metrics_addr = Some("127.0.0.1:0".parse()?);
    let pipeline = Pipeline::start(config).await?;
    let base = format!("http://{}", pipeline.metrics_addr().expect("bound"));
    let total = data.events.len() as u64;
    wait_for(
        &pipeline,
        "every record processed",
        Duration::from_secs(30),
        |p| p.stats.events == total,
    )
    .await?;

    // Unbounded and not drained: the last windows have not fired, yet every
    // reported window must be the oracle's.
    let scrape = http_client::get(&format!("{base}/metrics")).await?;
    assert_eq!(scrape.status, 200);
    assert!(
        scrape
            .body
            .contains(&format!("pipeline_events_total {total}\n")),
        "{}",
        scrape.body
    );
    assert!(
        scrape.body.contains("recommendation_ctr{"),
        "{}",
        scrape.body
    );
    assert_eq!(
        verify::check_metrics(&scrape.body, &data.expected.metrics),
        Vec::<String>::new()
    );
    assert_eq!(
        http_client::get(&format!("{base}/healthz")).await?.body,
        "ok\n"
    );
    assert_eq!(http_client::get(&format!("{base}/nope")).await?.status, 404);
    assert_eq!(http_client::get(&format!("{base}/stop")).await?.status, 405);

    // Flink's stop --drain over HTTP: every window fires, a final savepoint.
    let stopped = http_client::post(&format!("{base}/stop?drain=true")).await?;
    assert_eq!(stopped.status, 200, "{}", stopped.body);
    let savepoint: serde_json::Value = serde_json::from_str(&stopped.body)?;
    let summary = pipeline.finished().await?;
    assert_eq!(
        summary.exit,
        Exit::Stopped {
            savepoint: savepoint["path"].as_str().expect("path").into()
        }
    );
    assert_eq!(summary.stats(), &data.expected.stats);
    assert_redis_matches(rig.redis.url(), &data.expected).await?;
    Ok(())
}

/// Reads `expected` records of `topic` (partition 0) as (payload, reason
/// header, source_offset header).
fn consume_all(
    bootstrap: &str,
    topic: &str,
    expected: usize,
) -> anyhow::Result<Vec<(Vec<u8>, String, String)>> {
    let consumer = harness_infra::kafka::partition_reader(bootstrap, "dlq-reader", topic, 0)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut letters = Vec::new();
    while letters.len() < expected && Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message?;
        let header = |name: &str| {
            message.headers().and_then(|headers| {
                headers
                    .iter()
                    .find(|h| h.key == name)
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            })
        };
        letters.push((
            message.payload().unwrap_or_default().to_vec(),
            header("reason").unwrap_or_default(),
            header("source_offset").unwrap_or_default(),
        ));
    }
    Ok(letters)
}
