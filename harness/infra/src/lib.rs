//! Infrastructure providers for the feature pipeline: Kafka and Redis.
//!
//! One place chooses how each is provided: Kafka `embedded` (librdkafka's
//! in-process mock cluster, the default), `local` (a Kafka-compatible broker
//! binary on PATH), `containers` (testcontainers) or `external`; Redis `local`
//! (a `redis-server` process on a free port, the default), `containers` or
//! `external`. Providers also own the faults that apply to them (restart,
//! stop, broker down).
//!
//! # Layout
//!
//! - [`spec`]: [`InfraSpec`] (serde, embedded in scenarios; parsed from CLI
//!   flags) and [`InfraSpec::start`], which yields the running [`Infra`].
//! - [`kafka`]: the [`Kafka`] handle and its providers; read
//!   [`kafka::embedded`] for the mock cluster's retention cap.
//! - [`redis`]: the [`Redis`] handle, its providers, and [`RedisUrl`], which
//!   never prints its password.
//! - [`Fault`]: stop, start, restart, kill, with what each means per provider.
//! - [`docker`]: Docker detection and the containers providers' plans.
//!
//! Dropping a handle stops what it started: processes are killed and reaped,
//! the mock cluster's thread is joined, containers are removed.
//!
//! Architecture invariant: nothing here knows about the pipeline's data or
//! scenarios; the harness passes bootstrap servers and URLs on.

pub mod docker;
pub mod kafka;
pub mod redis;
pub mod spec;

mod containers;
mod error;
mod fault;
mod process;

pub use self::{
    error::{Error, Result},
    fault::Fault,
    kafka::Kafka,
    redis::{Redis, RedisUrl},
    spec::{Endpoint, Infra, InfraSpec, KafkaSpec, RedisSpec, TopicSpec},
};
