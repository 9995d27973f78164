//! Cluster backends: the embedded simulator, an existing cluster from a
//! kubeconfig, and k3d. All are reached through `kube` from a kubeconfig.
