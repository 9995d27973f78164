//! The HTTP edge of the simulator: a Kubernetes API server subset on
//! 127.0.0.1 with bearer-token authentication.
//!
//! This is the only async part of the crate. It owns the [`VirtualClock`],
//! steps the [`Cluster`] after every write and whenever a controller's timer
//! is due, and streams watch events.

use std::{net::SocketAddr, path::PathBuf};

use crate::{
    clock::{SimTime, VirtualClock},
    cluster::Cluster,
};

/// How to run the simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Virtual seconds per real second (1.0 is real time).
    pub speed: f64,
    /// Where to write the kubeconfig (mode 0600). `None`: a file in a fresh
    /// temporary directory owned by the handle.
    pub kubeconfig: Option<PathBuf>,
    /// Virtual time at start; `None` means the current wall-clock time.
    pub origin: Option<SimTime>,
}

/// A running simulator. Dropping it stops the server.
#[derive(Debug)]
pub struct SimHandle {
    /// The loopback address the API is served on.
    pub addr: SocketAddr,
    /// The kubeconfig that reaches it (server URL, token, context `harness-sim`).
    pub kubeconfig: PathBuf,
    /// The clock the simulator runs on.
    pub clock: VirtualClock,
}

/// Errors starting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Binding the loopback port failed.
    #[error("could not bind 127.0.0.1: {0}")]
    Bind(#[source] std::io::Error),
    /// Writing the kubeconfig failed.
    #[error("could not write kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The path that could not be written.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Serves `cluster` over HTTP until the returned handle is dropped or shut down.
pub async fn serve(_cluster: Cluster, _config: SimConfig) -> Result<SimHandle, ServeError> {
    unimplemented!("the API server is being built")
}
