//! The `local` Kafka provider against a real broker binary (`nisshi` or
//! `tansu` on PATH). `cargo xtask test` builds nisshi where it is missing
//! (about 10 minutes, once per machine, unless `HARNESS_NO_LOCAL_BROKER=1`);
//! where there is still none, these tests skip and print why.

mod common;

use common::{kafka_round_trip, process_gone};
use harness_infra::{Error, Fault, Kafka, KafkaSpec, kafka::BrokerStorage};

fn skip_without_broker() -> bool {
    let missing = harness_infra::kafka::local::find_broker().is_none();
    if missing {
        eprintln!(
            "skipped: no nisshi or tansu on PATH ({})",
            harness_infra::kafka::local::INSTALL_HINT
        );
    }
    missing
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_restarts_and_leaves_nothing_behind() -> anyhow::Result<()> {
    if skip_without_broker() {
        return Ok(());
    }
    let mut kafka = Kafka::start(&KafkaSpec::Local { binary: None }).await?;
    kafka.create_topic("events", 2).await?;
    kafka_round_trip(&kafka, "events", "first").await?;

    let first_pid = kafka.pid().expect("running");
    kafka.apply(Fault::Restart).await?;
    assert!(process_gone(first_pid));
    let persistent = matches!(kafka.local_storage(), Some(BrokerStorage::Sqlite(_)));
    if persistent {
        // The record written before the restart is still there.
        kafka_round_trip(&kafka, "events", "first").await?;
    } else {
        eprintln!("the broker has memory storage only: recreating the topic after the restart");
        kafka.create_topic("events", 2).await?;
    }
    kafka_round_trip(&kafka, "events", "second").await?;

    let pid = kafka.pid().expect("running");
    drop(kafka);
    assert!(process_gone(pid), "broker {pid} outlived its handle");
    Ok(())
}

#[tokio::test]
async fn a_missing_binary_is_reported_at_once() {
    let spec = KafkaSpec::Local {
        binary: Some("/nonexistent/nisshi".into()),
    };
    match Kafka::start(&spec).await {
        Err(Error::SpawnFailed { program, .. }) => {
            assert_eq!(program, std::path::Path::new("/nonexistent/nisshi"))
        }
        other => panic!("expected SpawnFailed, got {other:?}"),
    }
}
