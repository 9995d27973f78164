//! The `containers` Kafka provider's plan: Apache Kafka in KRaft mode (one
//! node that is both broker and controller) from the `apache/kafka` image,
//! advertising the fixed host port it is mapped to so clients outside Docker
//! can follow the metadata it returns.

use std::collections::BTreeMap;

use crate::docker::ContainerPlan;

/// The image used unless a spec names another.
pub const DEFAULT_IMAGE: &str = "apache/kafka:3.8.0";

/// The client listener inside the container.
const CONTAINER_PORT: u16 = 9092;

/// The plan for `image` (`name:tag`) with the client port mapped to `host_port`.
pub fn plan(image: &str, host_port: u16) -> ContainerPlan {
    let (name, tag) = crate::spec::split_image_ref(image);
    // Setting any KAFKA_* variable switches the image to environment-only
    // configuration, so the whole single-node KRaft config is spelled out.
    let env: BTreeMap<String, String> = [
        ("KAFKA_NODE_ID", "1".to_owned()),
        ("KAFKA_PROCESS_ROLES", "broker,controller".to_owned()),
        (
            "KAFKA_LISTENERS",
            format!("PLAINTEXT://:{CONTAINER_PORT},CONTROLLER://:9093"),
        ),
        (
            "KAFKA_ADVERTISED_LISTENERS",
            format!("PLAINTEXT://127.0.0.1:{host_port}"),
        ),
        ("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER".to_owned()),
        (
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT".to_owned(),
        ),
        (
            "KAFKA_CONTROLLER_QUORUM_VOTERS",
            "1@localhost:9093".to_owned(),
        ),
        ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1".to_owned()),
        (
            "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
            "1".to_owned(),
        ),
        ("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1".to_owned()),
        ("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0".to_owned()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect();
    ContainerPlan {
        image: name,
        tag,
        cmd: Vec::new(),
        env,
        ports: vec![(host_port, CONTAINER_PORT)],
        ready_log_line: "Kafka Server started".into(),
    }
}
