//! Migration rehearsal harness for Flink on Kubernetes.
//!
//! It brings up a cluster (the embedded simulator from `harness-sim`, or any
//! cluster from a kubeconfig), runs declarative YAML scenarios against it, and
//! drives the Kafka -> Redis feature pipeline whose results it checks against
//! an oracle.
//!
//! # Layout
//!
//! - [`cli`]: the `harness` subcommands, thin wrappers over the modules below.
//! - [`scenario`]: the scenario file format: model, parsing with source
//!   locations, validation before anything runs.
//! - [`runner`]: executes scenario steps against a cluster, evaluates
//!   assertions, and writes JUnit, JSON and Markdown reports.
//! - [`cluster`]: cluster backends (sim, kubeconfig, k3d) behind one trait.
//! - [`pipeline`]: the feature pipeline's runtime: Kafka source, Redis sink,
//!   checkpoints on disk, metrics endpoint, load generator, verification.
//! - [`console`]: standard output that survives a closed pipe.
//!
//! Start reading at [`runner`] for scenarios and [`pipeline`] for the data path.

pub mod cli;
pub mod cluster;
pub mod console;
pub mod pipeline;
pub mod runner;
pub mod scenario;
