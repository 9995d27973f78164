//! The `containers` providers. Without a Docker engine they must fail at
//! once with a message saying so (tested here wherever Docker is absent); the
//! real container runs need Docker and are ignored otherwise.

mod common;

use harness_infra::{Error, Fault, Kafka, KafkaSpec, Redis, RedisSpec, docker};

fn containers_kafka() -> KafkaSpec {
    "containers".parse().expect("spec")
}

fn containers_redis() -> RedisSpec {
    "containers".parse().expect("spec")
}

#[tokio::test]
async fn without_docker_both_fail_at_once_with_a_clear_message() {
    if docker::find_engine().is_ok() {
        eprintln!("skipped: a Docker engine is reachable here");
        return;
    }
    let started = std::time::Instant::now();
    for err in [
        Kafka::start(&containers_kafka())
            .await
            .expect_err("no docker"),
        Redis::start(&containers_redis())
            .await
            .expect_err("no docker"),
    ] {
        assert!(matches!(err, Error::DockerUnavailable { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("the containers provider needs a Docker engine: "),
            "{err}"
        );
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "the check must not wait for Docker"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs docker (containers provider)"]
async fn kafka_container_serves_and_restarts() -> anyhow::Result<()> {
    let mut kafka = Kafka::start(&containers_kafka()).await?;
    kafka.create_topic("events", 1).await?;
    common::kafka_round_trip(&kafka, "events", "first").await?;
    kafka.apply(Fault::Restart).await?;
    common::kafka_round_trip(&kafka, "events", "second").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs docker (containers provider)"]
async fn redis_container_serves_and_restarts() -> anyhow::Result<()> {
    let mut redis = Redis::start(&containers_redis()).await?;
    common::redis_set_get(redis.url(), "k", "v").await?;
    redis.apply(Fault::Restart).await?;
    assert_eq!(
        common::redis_get(redis.url(), "k").await?.as_deref(),
        Some("v")
    );
    Ok(())
}
