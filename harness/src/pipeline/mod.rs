//! The feature pipeline's runtime: feeds `harness_pipeline`'s pure core from
//! Kafka or a file and writes its outputs to Redis.
//!
//! # Layout
//!
//! - [`runtime`]: [`Pipeline`]: the engine thread, the sink task, control
//!   (savepoint, stop, crash); start here.
//! - `source/`: the file and Kafka sources.
//! - [`sink`]: the Redis sink (pipelined, retried writes; checkpoint barriers).
//! - [`checkpoints`]: checkpoints and savepoints on disk, and `--restore`.
//! - [`dead_letters`]: the dead-letter topic or file.
//! - `metrics`, `http`: shared counters, `/metrics`, `/healthz`, `POST
//!   /savepoints`, `POST /stop`; [`http_client`] to call them.
//! - [`load`]: the load generator's I/O; [`verify`]: live Redis against the oracle.
//!
//! # Guarantees
//!
//! Redis ends up equal to the oracle's state for the same events, across
//! Redis restarts (writes are retried), broker outages (the consumer keeps
//! polling), and crashes followed by `--restore` (a checkpoint is written only
//! after every output before it is acknowledged, and writes are absolute, so
//! replaying from it converges). Exceptions: records the broker dropped
//! before they were read (the embedded provider's retention cap; counted as
//! offset gaps), and, with several partitions, events whose lateness depends
//! on how partitions interleave (see `harness_pipeline`'s crate doc).

pub mod checkpoints;
pub mod dead_letters;
mod error;
mod http;
pub mod http_client;
pub mod load;
mod metrics;
pub mod runtime;
pub mod sink;
mod source;
pub mod verify;

pub use self::{
    error::{Error, Result},
    metrics::Progress,
    runtime::{Exit, Pipeline, PipelineConfig, RunSummary, SourceSpec},
    source::{kafka_consumer_config, read_events_file},
};
