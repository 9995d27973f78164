//! The pipeline runtime's error type. Variants name the step that failed.
//!
//! Retry policy: transient Kafka and Redis failures *during* a run are not
//! errors at all: the source keeps polling while librdkafka reconnects and
//! the sink retries every write with back-off. What surfaces here is what
//! retrying cannot fix: an unreadable events file, a checkpoint that does not
//! restore, a Kafka topic that does not exist, a port already in use.

use std::path::PathBuf;

use harness_pipeline::checkpoint::{EncodeError, RestoreError};

/// Everything that stops the pipeline runtime, the load generator or verification.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("failed to {step} {}", path.display())]
    Io {
        /// `read events from`, `write checkpoint`, ...
        step: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A Kafka client operation failed.
    #[error("failed to {step}")]
    Kafka {
        /// `create the consumer`, `fetch metadata of user_behaviors`, ...
        step: String,
        /// rdkafka's error.
        #[source]
        source: Box<rdkafka::error::KafkaError>,
    },
    /// The source topic does not exist (or has no partitions).
    #[error(
        "topic {topic} does not exist on {bootstrap}; create it first (e.g. `harness infra up --topic {topic}:4`)"
    )]
    TopicMissing {
        /// The topic.
        topic: String,
        /// Where it was looked up.
        bootstrap: String,
    },
    /// A Redis operation failed where retrying is not the answer.
    #[error("failed to {step} redis {url}")]
    Redis {
        /// `connect`, `scan keys`, ...
        step: &'static str,
        /// The URL, password redacted.
        url: String,
        /// redis-rs's error.
        #[source]
        source: redis::RedisError,
    },
    /// Redis refused a write in a way retrying cannot fix (a key of another
    /// type, a missing ACL permission, out of memory): the run stops rather
    /// than resend the batch for ever without checkpointing.
    #[error("redis {url} refused the write to {key}")]
    RedisRefused {
        /// The URL, password redacted.
        url: String,
        /// The key of the first refused command.
        key: String,
        /// redis-rs's error.
        #[source]
        source: redis::RedisError,
    },
    /// `--restore` names nothing that holds a checkpoint.
    #[error("no checkpoint or savepoint at {}: expected a chk-<n> or savepoint-<id> directory, its _metadata file, or a checkpoints directory", path.display())]
    NothingToRestore {
        /// The path given.
        path: PathBuf,
    },
    /// A checkpoint or savepoint exists but cannot be restored.
    #[error("failed to restore {}", path.display())]
    Restore {
        /// The `_metadata` file.
        path: PathBuf,
        /// Why.
        #[source]
        source: RestoreError,
    },
    /// Serialising state or output failed.
    #[error("failed to encode {what}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's error.
        #[source]
        source: EncodeError,
    },
    /// The metrics endpoint could not be bound.
    #[error("failed to serve metrics on {addr}")]
    MetricsBind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An HTTP request (verify's metrics scrape, a test's control call) failed.
    #[error("failed to {step} {url}: {reason}")]
    Http {
        /// `fetch`, `post to`.
        step: &'static str,
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The generator rejected its configuration.
    #[error(transparent)]
    Generator(#[from] harness_pipeline::generator::GeneratorError),
    /// Starting or using an infrastructure provider failed.
    #[error(transparent)]
    Infra(#[from] harness_infra::Error),
    /// The pipeline stopped (or was stopped) before answering a request.
    #[error("the pipeline is not running any more")]
    Stopped,
    /// A pipeline thread or task panicked (a bug: please report it).
    #[error("the pipeline's {which} panicked")]
    Panicked {
        /// `engine thread`, `sink task`.
        which: &'static str,
    },
}

/// `Result` with the pipeline runtime's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A Kafka error at `step`.
    pub(crate) fn kafka(step: impl Into<String>, source: rdkafka::error::KafkaError) -> Error {
        Error::Kafka {
            step: step.into(),
            source: Box::new(source),
        }
    }

    /// An I/O error at `step` on `path`.
    pub(crate) fn io(
        step: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Error {
        Error::Io {
            step,
            path: path.into(),
            source,
        }
    }
}
