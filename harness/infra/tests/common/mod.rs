//! Helpers shared by the provider tests: a round trip through Kafka (produce
//! one message, consume it back), SET/GET through Redis, and process checks.

#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use harness_infra::{Kafka, RedisUrl};
use rdkafka::{
    Message,
    producer::{FutureProducer, FutureRecord},
};

/// Produces `payload` to partition 0 of `topic` and consumes from the
/// beginning until it shows up (messages from earlier calls are skipped).
pub async fn kafka_round_trip(kafka: &Kafka, topic: &str, payload: &str) -> anyhow::Result<()> {
    let producer: FutureProducer = kafka
        .client_config()
        .set("message.timeout.ms", "10000")
        .create()?;
    producer
        .send(
            FutureRecord::<(), _>::to(topic)
                .partition(0)
                .payload(payload),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(err, _)| err)
        .context("produce")?;
    let consumer =
        harness_infra::kafka::partition_reader(kafka.bootstrap_servers(), "infra-tests", topic, 0)?;
    let payload = payload.to_owned();
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) if message.payload() == Some(payload.as_bytes()) => return Ok(()),
                Some(Ok(_)) | None => {}
                Some(Err(err)) => eprintln!("consumer error (librdkafka retries): {err}"),
            }
        }
        bail!("message {payload:?} not consumed within 20 s")
    })
    .await?
}

/// SET then GET through a fresh connection.
pub async fn redis_set_get(url: &RedisUrl, key: &str, value: &str) -> anyhow::Result<()> {
    let mut connection = connect(url).await?;
    let () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query_async(&mut connection)
        .await?;
    assert_eq!(redis_get(url, key).await?.as_deref(), Some(value));
    Ok(())
}

/// GET through a fresh connection.
pub async fn redis_get(url: &RedisUrl, key: &str) -> anyhow::Result<Option<String>> {
    let mut connection = connect(url).await?;
    Ok(redis::cmd("GET")
        .arg(key)
        .query_async(&mut connection)
        .await?)
}

async fn connect(url: &RedisUrl) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    Ok(redis::Client::open(url.expose())?
        .get_multiplexed_async_connection()
        .await?)
}

/// Whether no process with this id exists any more (reaped, not a zombie).
pub fn process_gone(pid: u32) -> bool {
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}
