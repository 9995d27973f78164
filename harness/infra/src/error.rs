//! The one error type of `harness-infra`: every variant names the step that
//! failed, so a message like "failed to start redis-server" says where to look.
//!
//! Retry policy: nothing here is retried internally except readiness probes
//! (which poll until their deadline). Callers may retry a fault or a start;
//! `BinaryNotFound` and `DockerUnavailable` will not go away by retrying.

use std::{path::PathBuf, process::ExitStatus, time::Duration};

use crate::Fault;

/// Everything that can go wrong while starting, probing or faulting a provider.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A provider's binary is missing from PATH; `hint` says how to install it.
    #[error("{program} not found on PATH; {hint}")]
    BinaryNotFound {
        /// The program looked for (or the list of alternatives).
        program: String,
        /// How to install it.
        hint: String,
    },
    /// The process could not be spawned at all.
    #[error("failed to start {what} ({program})")]
    SpawnFailed {
        /// The provider, e.g. `redis-server`.
        what: String,
        /// The program that was executed.
        program: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The process exited before it became ready.
    #[error("{what} exited during start-up ({status}); last lines of its log:\n{log}")]
    ExitedEarly {
        /// The provider.
        what: String,
        /// Its exit status.
        status: ExitStatus,
        /// The tail of its log.
        log: String,
    },
    /// The readiness probe did not succeed before the deadline.
    #[error("{what} was not ready within {timeout:?}: {last_error}")]
    NotReady {
        /// The provider.
        what: String,
        /// How long we waited.
        timeout: Duration,
        /// What the last probe reported.
        last_error: String,
    },
    /// Sending a signal to, or waiting for, a provider process failed.
    #[error("failed to signal {what}")]
    SignalFailed {
        /// The provider.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Containers were asked for, but no Docker engine is reachable.
    #[error("the containers provider needs a Docker engine: {reason}")]
    DockerUnavailable {
        /// What was looked for and not found.
        reason: String,
    },
    /// testcontainers failed to start or control a container.
    #[error("failed to {step} container {image}")]
    ContainerFailed {
        /// `start`, `stop`, ...
        step: &'static str,
        /// The image reference.
        image: String,
        /// testcontainers' error.
        #[source]
        source: Box<testcontainers::TestcontainersError>,
    },
    /// librdkafka could not create its mock cluster.
    #[error("failed to create the embedded kafka cluster")]
    MockClusterFailed(#[source] Box<rdkafka::error::KafkaError>),
    /// The embedded cluster's owner thread is gone (it panicked or was stopped).
    #[error("the embedded kafka cluster's thread has stopped")]
    MockClusterGone,
    /// A Kafka admin or metadata operation failed.
    #[error("failed to {step} on kafka at {bootstrap}")]
    KafkaFailed {
        /// `create topic user_behaviors`, `fetch metadata`, ...
        step: String,
        /// The bootstrap servers (never contain credentials here).
        bootstrap: String,
        /// rdkafka's error.
        #[source]
        source: Box<rdkafka::error::KafkaError>,
    },
    /// The fault is not meaningful for this provider (e.g. restarting an external broker).
    #[error("fault {fault} is not supported by the {provider} provider")]
    FaultUnsupported {
        /// The fault asked for.
        fault: Fault,
        /// The provider's name, e.g. `kafka external`.
        provider: String,
    },
    /// A provider spec (CLI flag or scenario field) could not be parsed.
    #[error("invalid {what} provider {input:?}: {reason}")]
    InvalidSpec {
        /// `kafka` or `redis`.
        what: &'static str,
        /// The text given.
        input: String,
        /// Why it was rejected and what is accepted.
        reason: String,
    },
    /// Reserving a loopback port or a temporary directory failed.
    #[error("failed to prepare {what}")]
    PrepareFailed {
        /// `a loopback port`, `a temporary directory`, ...
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// [`Error::KafkaFailed`] for `step` against `bootstrap`.
    pub(crate) fn kafka(
        step: impl Into<String>,
        bootstrap: &str,
        source: rdkafka::error::KafkaError,
    ) -> Self {
        Error::KafkaFailed {
            step: step.into(),
            bootstrap: bootstrap.to_owned(),
            source: Box::new(source),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
