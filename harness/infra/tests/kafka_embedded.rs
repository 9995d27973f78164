//! The `embedded` Kafka provider (librdkafka's mock cluster): it serves the
//! Kafka protocol, an outage (`stop`) makes it unreachable and `start` brings
//! it back with its data, and dropping it closes its port.

mod common;

use std::{net::TcpStream, time::Duration};

use common::kafka_round_trip;
use harness_infra::{Fault, InfraSpec, Kafka, KafkaSpec, kafka::wait_for_metadata};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_survives_an_outage_and_closes_on_drop() -> anyhow::Result<()> {
    let mut kafka = Kafka::start(&KafkaSpec::default()).await?;
    kafka.create_topic("events", 2).await?;
    // Creating it again is not an error.
    kafka.create_topic("events", 2).await?;
    kafka_round_trip(&kafka, "events", "first").await?;

    kafka.apply(Fault::Stop).await?;
    let down = wait_for_metadata(kafka.bootstrap_servers(), Duration::from_millis(1500)).await;
    assert!(down.is_err(), "metadata must fail while the broker is down");

    kafka.apply(Fault::Start).await?;
    wait_for_metadata(kafka.bootstrap_servers(), Duration::from_secs(10)).await?;
    // The earlier record is still there and new ones flow.
    kafka_round_trip(&kafka, "events", "first").await?;
    kafka_round_trip(&kafka, "events", "second").await?;
    assert_eq!(kafka.retention_loss("events").await?, vec![]);

    let address = kafka
        .bootstrap_servers()
        .split(',')
        .next()
        .expect("one broker")
        .to_owned();
    drop(kafka);
    assert!(
        TcpStream::connect(&address).is_err(),
        "the mock broker still listens on {address}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infra_spec_starts_both_and_creates_topics() -> anyhow::Result<()> {
    let spec = InfraSpec {
        topics: vec!["user_behaviors:3".parse()?],
        ..InfraSpec::default()
    };
    let infra = spec.start().await?;
    let endpoints: Vec<String> = infra.endpoints().iter().map(ToString::to_string).collect();
    assert_eq!(endpoints.len(), 2);
    assert!(
        endpoints[0].starts_with("kafka (embedded): 127.0.0.1:"),
        "{endpoints:?}"
    );
    assert!(
        endpoints[1].starts_with("redis (local): redis://127.0.0.1:"),
        "{endpoints:?}"
    );
    kafka_round_trip(&infra.kafka, "user_behaviors", "hello").await?;
    common::redis_set_get(infra.redis.url(), "k", "v").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retention_cap_is_detected() -> anyhow::Result<()> {
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

    let kafka = Kafka::start(&KafkaSpec::default()).await?;
    kafka.create_topic("big", 1).await?;
    let producer: ThreadedProducer<DefaultProducerContext> = kafka.client_config().create()?;
    // Twice the documented per-partition byte cap.
    let payload = vec![b'x'; 10 * 1024];
    let count =
        2 * harness_infra::kafka::embedded::RETENTION_BYTES_PER_PARTITION as usize / payload.len();
    for _ in 0..count {
        producer
            .send(
                BaseRecord::<(), _>::to("big")
                    .partition(0)
                    .payload(&payload),
            )
            .map_err(|(err, _)| err)?;
    }
    producer.flush(Duration::from_secs(30))?;
    let lost = kafka.retention_loss("big").await?;
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(lost[0].1 > 0 && lost[0].1 < count as i64, "{lost:?}");
    Ok(())
}
