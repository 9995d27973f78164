//! The `k3d` backend: the boundary only, for now.
//!
//! The plan (the roadmap's "Real clusters" item): `k3d cluster create`, the
//! cert-manager manifest, `helm install` of the operator chart with pinned
//! versions, wait for the webhook, then hand the kubeconfig to the same
//! runner. Until then this variant fails with a clear message instead of
//! pretending, and a k3d cluster created by hand works through
//! `--cluster kubeconfig`.

use super::{BackendConfig, Cluster, ClusterError};

/// Always fails: the k3d backend is not built yet.
pub fn start(_config: &BackendConfig) -> Result<Cluster, ClusterError> {
    Err(ClusterError::Unsupported {
        backend: "k3d",
        hint: "planned with the real-cluster work; meanwhile create the cluster yourself and pass --cluster kubeconfig --kubeconfig PATH",
    })
}
