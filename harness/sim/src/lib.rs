//! An embedded Kubernetes cluster simulator with a model of the Flink
//! Kubernetes Operator.
//!
//! It serves a subset of the Kubernetes API over HTTP on 127.0.0.1 with a
//! bearer token, so `kubectl` and `kube` talk to it as to a real cluster, and
//! runs controllers (workloads and the Flink operator) against a virtual clock
//! with a speed factor.
//!
//! # Layout
//!
//! The core is pure and synchronous; async and I/O live only in [`api`].
//!
//! - [`clock`]: virtual time and timestamp formatting.
//! - [`resource`]: the kinds served (built-ins and CRDs).
//! - [`store`]: objects, resourceVersions, finalizers, change history.
//! - [`cluster`]: the store plus controllers and admission, stepped by time.
//! - [`rbac`]: who may do what (roles, bindings, the bootstrap policy).
//! - [`api`]: the HTTP edge: routing, discovery, CRUD, watch, patch, tables.
//!
//! Start reading at [`cluster::Cluster`], then [`api`].
//!
//! Architecture invariant: nothing outside [`api`] and
//! [`clock::VirtualClock`] reads the wall clock, spawns tasks or does I/O.

pub mod api;
pub mod clock;
pub mod cluster;
pub mod controllers;
pub mod crd;
pub mod decode;
pub mod error;
pub mod kubeconfig;
pub mod operator;
pub mod patch;
pub mod rbac;
pub mod resource;
pub mod rng;
pub mod schema;
pub mod selector;
pub mod store;
pub mod table;

/// A cluster as the harness runs it: built-in controllers, the Flink
/// operator's CRDs, controller and admission webhook, all installed, as on a
/// cluster where the operator's Helm chart has been applied.
/// See [`operator::install::simulated_cluster`] for what it contains.
pub fn standard_cluster(seed: u64, now: clock::SimTime) -> cluster::Cluster {
    let config = operator::OperatorConfig::helm_defaults();
    let jobs = std::sync::Arc::new(operator::flink::job::ModelledJobs {
        timings: config.timings.job(),
    });
    let (cluster, _flink) = operator::install::simulated_cluster(seed, now, config, jobs)
        .expect("the bundled operator install is valid");
    cluster
}
