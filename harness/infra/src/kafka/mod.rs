//! Running Kafka providers behind one handle, [`Kafka`]: its bootstrap
//! servers, topic creation, the faults it supports, and the client settings
//! every producer and consumer of the harness starts from.

pub mod containers;
mod continuity;
pub mod embedded;
pub mod local;

use std::time::Duration;

use rdkafka::{
    ClientConfig, Offset, TopicPartitionList,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer},
    metadata::Metadata,
    types::RDKafkaErrorCode,
};

pub use self::{
    continuity::{OffsetContinuity, OffsetGap},
    local::BrokerStorage,
};
use self::{embedded::EmbeddedKafka, local::LocalBroker};
use crate::{
    Error, Fault, Result, containers::ContainerService, process::free_port, spec::KafkaSpec,
};

/// How long one metadata or admin request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Which provider runs a [`Kafka`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaKind {
    /// librdkafka's in-process mock cluster.
    Embedded,
    /// A broker process from PATH.
    Local,
    /// A testcontainers container.
    Containers,
    /// Bootstrap servers given by the user.
    External,
}

impl KafkaKind {
    /// Lowercase provider name.
    pub fn name(self) -> &'static str {
        match self {
            KafkaKind::Embedded => "embedded",
            KafkaKind::Local => "local",
            KafkaKind::Containers => "containers",
            KafkaKind::External => "external",
        }
    }
}

/// A running Kafka. Dropping it stops whatever it started.
#[derive(Debug)]
pub struct Kafka {
    /// `host:port[,host:port...]`.
    bootstrap: String,
    /// What runs it; owns the mock thread, process or container.
    running: Running,
}

#[derive(Debug)]
enum Running {
    Embedded(EmbeddedKafka),
    Local(LocalBroker),
    Containers(Box<ContainerService>),
    External,
}

impl Kafka {
    /// Starts the provider a spec names and waits until it serves metadata.
    pub async fn start(spec: &KafkaSpec) -> Result<Kafka> {
        let (bootstrap, running) = match spec {
            KafkaSpec::Embedded { brokers } => {
                let mock = EmbeddedKafka::start(*brokers)?;
                (mock.bootstrap_servers().to_owned(), Running::Embedded(mock))
            }
            KafkaSpec::Local { binary } => {
                let broker = LocalBroker::start(binary.as_deref()).await?;
                (
                    broker.bootstrap_servers().to_owned(),
                    Running::Local(broker),
                )
            }
            KafkaSpec::Containers { image } => {
                let host_port = free_port()?;
                let bootstrap = format!("127.0.0.1:{host_port}");
                let service = ContainerService::start(containers::plan(image, host_port), |t| {
                    wait_for_metadata(&bootstrap, t)
                })
                .await?;
                (bootstrap, Running::Containers(Box::new(service)))
            }
            KafkaSpec::External { bootstrap_servers } => {
                (bootstrap_servers.clone(), Running::External)
            }
        };
        Ok(Kafka { bootstrap, running })
    }

    /// The bootstrap servers to give clients.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// Which provider runs this Kafka.
    pub fn kind(&self) -> KafkaKind {
        match self.running {
            Running::Embedded(_) => KafkaKind::Embedded,
            Running::Local(_) => KafkaKind::Local,
            Running::Containers(_) => KafkaKind::Containers,
            Running::External => KafkaKind::External,
        }
    }

    /// The local broker's storage engine (`None` for other providers).
    pub fn local_storage(&self) -> Option<&BrokerStorage> {
        match &self.running {
            Running::Local(broker) => Some(broker.storage()),
            _ => None,
        }
    }

    /// The local broker's process id while it runs (`None` for other providers).
    pub fn pid(&self) -> Option<u32> {
        match &self.running {
            Running::Local(broker) => broker.pid(),
            _ => None,
        }
    }

    /// A client configuration for this Kafka; see [`client_config`].
    pub fn client_config(&self) -> ClientConfig {
        client_config(&self.bootstrap)
    }

    /// Creates a topic with `partitions` partitions (replication factor 1).
    /// An existing topic is left unchanged and is not an error.
    pub async fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        match &self.running {
            // The mock does not serve CreateTopics; its own API does it.
            Running::Embedded(mock) => mock.create_topic(name, partitions),
            _ => create_topic(&self.bootstrap, name, partitions).await,
        }
    }

    /// Whether [`Kafka::apply`] can apply `fault` to this provider.
    pub fn supports(&self, _fault: Fault) -> bool {
        !matches!(self.running, Running::External)
    }

    /// Applies a fault (see [`Fault`] for what each means here). `start` and
    /// `restart` return once the broker serves metadata again.
    pub async fn apply(&mut self, fault: Fault) -> Result<()> {
        match &mut self.running {
            Running::Embedded(mock) => match fault {
                Fault::Stop | Fault::Kill => mock.set_brokers_up(false),
                Fault::Start => mock.set_brokers_up(true),
                Fault::Restart => {
                    mock.set_brokers_up(false)?;
                    mock.set_brokers_up(true)
                }
            },
            Running::Local(broker) => broker.apply(fault).await,
            Running::Containers(service) => {
                let bootstrap = &self.bootstrap;
                service
                    .apply(fault, |t| wait_for_metadata(bootstrap, t))
                    .await
            }
            Running::External => Err(Error::FaultUnsupported {
                fault,
                provider: "kafka external".into(),
            }),
        }
    }

    /// See [`retention_loss`].
    pub async fn retention_loss(&self, topic: &str) -> Result<Vec<(i32, i64)>> {
        retention_loss(&self.bootstrap, topic).await
    }
}

/// Partitions of `topic` whose earliest retained offset is above 0, i.e.
/// records that were produced and are gone. Nothing in the harness deletes
/// records, so on the embedded provider this is its retention cap at work
/// (see [`embedded`]); a consumer starting from 0 will miss them.
pub async fn retention_loss(bootstrap: &str, topic: &str) -> Result<Vec<(i32, i64)>> {
    let (bootstrap_owned, topic_owned) = (bootstrap.to_owned(), topic.to_owned());
    with_topic_metadata(bootstrap, topic, move |consumer, metadata| {
        let mut lost = Vec::new();
        for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
            let (low, _) = consumer
                .fetch_watermarks(&topic_owned, partition.id(), REQUEST_TIMEOUT)
                .map_err(|source| {
                    Error::kafka(
                        format!("fetch watermarks of {topic_owned}"),
                        &bootstrap_owned,
                        source,
                    )
                })?;
            if low > 0 {
                lost.push((partition.id(), low));
            }
        }
        Ok(lost)
    })
    .await
}

/// The number of partitions of `topic` (0 when it does not exist).
pub async fn partition_count(bootstrap: &str, topic: &str) -> Result<i32> {
    let topic_owned = topic.to_owned();
    with_topic_metadata(bootstrap, topic, move |_, metadata| {
        let count = partition_ids(metadata, &topic_owned).len();
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    })
    .await
}

/// The partition ids of `topic` in `metadata`, ascending (empty when the
/// topic does not exist).
pub fn partition_ids(metadata: &Metadata, topic: &str) -> Vec<i32> {
    let mut ids: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions())
        .map(|p| p.id())
        .collect();
    ids.sort_unstable();
    ids
}

/// Fetches `topic`'s metadata off the async workers and hands it, with the
/// client that fetched it, to `read`.
async fn with_topic_metadata<T, F>(bootstrap: &str, topic: &str, read: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&BaseConsumer, &Metadata) -> Result<T> + Send + 'static,
{
    let bootstrap = bootstrap.to_owned();
    let topic = topic.to_owned();
    blocking(move || {
        let consumer = consumer_for_metadata(&bootstrap)?;
        let metadata = consumer
            .fetch_metadata(Some(&topic), REQUEST_TIMEOUT)
            .map_err(|source| {
                Error::kafka(format!("fetch metadata of {topic}"), &bootstrap, source)
            })?;
        read(&consumer, &metadata)
    })
    .await
}

/// The settings every harness client starts from: the bootstrap servers,
/// IPv4 (local brokers listen on IPv4 only while `localhost` may resolve to
/// ::1), and a short reconnect back-off cap (librdkafka's default of 10 s
/// would make recovery from an injected outage needlessly slow).
pub fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("reconnect.backoff.max.ms", "1000");
    config
}

/// A consumer of `partition` of `topic` from its first retained record that
/// commits nothing: how tests and checks read a topic back. `group` only
/// names it (librdkafka refuses to assign without one). Fetches return at
/// once rather than after up to 500 ms, which the `local` broker needs (see
/// [`local`]).
pub fn partition_reader(
    bootstrap: &str,
    group: &str,
    topic: &str,
    partition: i32,
) -> Result<BaseConsumer> {
    let kafka_failed = |step: String, source| Error::kafka(step, bootstrap, source);
    let consumer: BaseConsumer = client_config(bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .map_err(|source| kafka_failed(format!("create a reader of {topic}"), source))?;
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Beginning)
        .and_then(|()| consumer.assign(&assignment))
        .map_err(|source| kafka_failed(format!("assign {topic}/{partition}"), source))?;
    Ok(consumer)
}

/// Polls a metadata request until it succeeds or `timeout` passes.
pub async fn wait_for_metadata(bootstrap: &str, timeout: Duration) -> Result<()> {
    crate::process::poll_ready(
        "kafka",
        timeout,
        || Ok(()),
        || probe_metadata(bootstrap.to_owned()),
    )
    .await
}

/// One metadata request (the readiness probe of the process providers).
pub(crate) async fn probe_metadata(bootstrap: String) -> Result<()> {
    blocking(move || {
        let consumer = consumer_for_metadata(&bootstrap)?;
        consumer
            .fetch_metadata(None, Duration::from_secs(1))
            .map(drop)
            .map_err(|source| Error::kafka("fetch metadata", &bootstrap, source))
    })
    .await
}

/// Creates a topic with the Kafka admin API (replication factor 1); an
/// existing topic is not an error. The embedded mock cluster does not serve
/// this API: use [`Kafka::create_topic`] there.
pub async fn create_topic(bootstrap: &str, name: &str, partitions: i32) -> Result<()> {
    let kafka_failed = |source| Error::kafka(format!("create topic {name}"), bootstrap, source);
    let admin: AdminClient<DefaultClientContext> =
        client_config(bootstrap).create().map_err(kafka_failed)?;
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new()
        .operation_timeout(Some(REQUEST_TIMEOUT))
        .request_timeout(Some(REQUEST_TIMEOUT));
    let results = admin
        .create_topics([&topic], &options)
        .await
        .map_err(kafka_failed)?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(kafka_failed(rdkafka::error::KafkaError::AdminOp(code))),
        }
    }
    Ok(())
}

fn consumer_for_metadata(bootstrap: &str) -> Result<BaseConsumer> {
    client_config(bootstrap)
        .create()
        .map_err(|source| Error::kafka("create a metadata client", bootstrap, source))
}

/// Runs blocking librdkafka calls off the async worker threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|join| {
            Err(Error::PrepareFailed {
                what: "a blocking kafka call",
                source: std::io::Error::other(join.to_string()),
            })
        })
}
