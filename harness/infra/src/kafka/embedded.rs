//! The `embedded` Kafka provider: librdkafka's in-process mock cluster
//! (`rdkafka::mocking::MockCluster`), a real Kafka protocol server on a
//! loopback port with nothing to install.
//!
//! `MockCluster` holds a raw librdkafka pointer and is neither `Send` nor
//! `Sync`, so it lives on a dedicated thread that owns it for its whole life;
//! the handle talks to that thread over a channel. Dropping the handle closes
//! the channel, and the thread destroys the cluster and is joined.
//!
//! # Retention cap (read this before producing much data)
//!
//! The mock keeps at most [`RETENTION_BYTES_PER_PARTITION`] of record batches
//! and at most [`RETENTION_BATCHES_PER_PARTITION`] batches per partition and
//! silently drops the **oldest** batches beyond that. With the pipeline's
//! ~150-byte events that is only about 28,000 messages per partition (measured
//! on this project's machine). A consumer that starts behind the cap finds its
//! offsets gone: librdkafka resets to the earliest retained offset, which
//! shows up as an offset jump ([`super::OffsetContinuity`] reports it), and the
//! producer sees the low watermark move above 0 ([`super::Kafka::retention_loss`]).
//! Consume while producing, use more partitions, or use the `local` provider
//! (no cap) for larger runs and for restores from old offsets.
//!
//! Also modelled differently from a real broker: the mock does not serve
//! CreateTopics (topics are created through the mock's own API here), it
//! returns one batch per partition per fetch, and `stop`/`kill` only cut and
//! refuse connections (`broker_down`); the data survives, as it would on a
//! real broker restart with persistent storage.

use std::{
    sync::mpsc::{Receiver, Sender, channel},
    thread::JoinHandle,
};

use rdkafka::mocking::MockCluster;

use crate::{Error, Result};

/// The mock's per-partition cap on stored batch bytes (librdkafka 2.12.1,
/// hard-coded in `rd_kafka_mock_partition_init`; no API changes it).
pub const RETENTION_BYTES_PER_PARTITION: u64 = 5 * 1024 * 1024;

/// The mock's per-partition cap on stored batches.
pub const RETENTION_BATCHES_PER_PARTITION: u64 = 100_000;

/// A request to the thread that owns the mock cluster.
enum Request {
    CreateTopic {
        name: String,
        partitions: i32,
        reply: Sender<Result<()>>,
    },
    SetBrokersUp {
        up: bool,
        reply: Sender<Result<()>>,
    },
}

/// A running mock cluster, owned by its own thread.
#[derive(Debug)]
pub(crate) struct EmbeddedKafka {
    /// `host:port,...` of the mock brokers.
    bootstrap: String,
    /// Requests to the owner thread; dropping it stops the thread.
    requests: Option<Sender<Request>>,
    /// The owner thread, joined on drop so the cluster is destroyed before
    /// the handle is gone.
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::CreateTopic {
                name, partitions, ..
            } => write!(f, "create topic {name} ({partitions})"),
            Request::SetBrokersUp { up, .. } => write!(f, "set brokers up={up}"),
        }
    }
}

impl EmbeddedKafka {
    /// Starts a mock cluster of `brokers` brokers on loopback ports.
    pub(crate) fn start(brokers: i32) -> Result<Self> {
        let (requests, inbox) = channel::<Request>();
        let (ready_tx, ready_rx) = channel::<Result<String>>();
        let thread = std::thread::Builder::new()
            .name("kafka-mock-cluster".into())
            .spawn(move || own_cluster(brokers, &ready_tx, &inbox))
            .map_err(|source| Error::PrepareFailed {
                what: "the embedded kafka thread",
                source,
            })?;
        let bootstrap = ready_rx.recv().map_err(|_| Error::MockClusterGone)??;
        tracing::debug!(%bootstrap, "embedded kafka started");
        Ok(EmbeddedKafka {
            bootstrap,
            requests: Some(requests),
            thread: Some(thread),
        })
    }

    /// The mock brokers' `bootstrap.servers`.
    pub(crate) fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// Creates a topic (idempotent: an existing topic is left as it is).
    pub(crate) fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        self.call(|reply| Request::CreateTopic {
            name: name.to_owned(),
            partitions,
            reply,
        })
    }

    /// `broker_down(-1)` / `broker_up(-1)`: every broker cuts its connections
    /// and refuses new ones, or accepts them again.
    pub(crate) fn set_brokers_up(&self, up: bool) -> Result<()> {
        self.call(|reply| Request::SetBrokersUp { up, reply })
    }

    fn call(&self, request: impl FnOnce(Sender<Result<()>>) -> Request) -> Result<()> {
        let (reply, answer) = channel();
        let requests = self.requests.as_ref().ok_or(Error::MockClusterGone)?;
        requests
            .send(request(reply))
            .map_err(|_| Error::MockClusterGone)?;
        answer.recv().map_err(|_| Error::MockClusterGone)?
    }
}

impl Drop for EmbeddedKafka {
    fn drop(&mut self) {
        // Closing the channel ends the owner's loop; joining makes sure the
        // cluster (and its listening sockets) is gone when we return.
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The owner thread: creates the cluster, reports its address, serves requests
/// until the channel closes, then drops (destroys) the cluster.
fn own_cluster(brokers: i32, ready: &Sender<Result<String>>, inbox: &Receiver<Request>) {
    let cluster = match MockCluster::new(brokers) {
        Ok(cluster) => cluster,
        Err(err) => {
            let _ = ready.send(Err(Error::MockClusterFailed(Box::new(err))));
            return;
        }
    };
    if ready.send(Ok(cluster.bootstrap_servers())).is_err() {
        return;
    }
    let bootstrap = cluster.bootstrap_servers();
    let kafka_failed = |step: String, source| Error::kafka(step, &bootstrap, source);
    for request in inbox {
        match request {
            Request::CreateTopic {
                name,
                partitions,
                reply,
            } => {
                let res = cluster
                    .create_topic(&name, partitions, 1)
                    .or_else(|err| match err.rdkafka_error_code() {
                        Some(rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists) => Ok(()),
                        _ => Err(err),
                    })
                    .map_err(|source| kafka_failed(format!("create topic {name}"), source));
                let _ = reply.send(res);
            }
            Request::SetBrokersUp { up, reply } => {
                let res = if up {
                    cluster.broker_up(-1)
                } else {
                    cluster.broker_down(-1)
                };
                let step = if up {
                    "bring brokers up"
                } else {
                    "take brokers down"
                };
                let _ = reply.send(res.map_err(|source| kafka_failed(step.to_owned(), source)));
            }
        }
    }
}
