//! Cluster backends: the embedded simulator, an existing cluster from a
//! kubeconfig, and (later) k3d. All are reached through `kube` from a
//! kubeconfig, so the runner does not know which one it talks to.
//!
//! [`start`] turns a [`BackendConfig`] into a [`Cluster`]: a client, the
//! kubeconfig path (for `exec` steps and for the user), a [`ClusterClock`]
//! and the backend's [`Capabilities`]. A verb that needs a capability the
//! backend lacks is skipped with a reason, never passed silently.

use std::{collections::BTreeSet, path::PathBuf, time::Duration};

use kube::{Client, config::Kubeconfig};

pub mod clock;
pub mod k3d;
pub mod kinds;
pub mod kubeconfig;
pub mod pipeline_job;
pub mod sim;

pub use clock::ClusterClock;
pub use kinds::{Kinds, ResolvedKind};

/// Which backend to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// The embedded simulator, in-process on 127.0.0.1.
    Sim,
    /// An existing cluster named by a kubeconfig.
    Kubeconfig,
    /// A k3d cluster with the operator installed (not yet supported).
    K3d,
}

impl BackendKind {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Sim => "sim",
            BackendKind::Kubeconfig => "kubeconfig",
            BackendKind::K3d => "k3d",
        }
    }
}

/// How to start a backend.
#[derive(Debug, Clone)]
pub struct BackendConfig {
    /// Which backend.
    pub kind: BackendKind,
    /// `kubeconfig`: the file (else `$KUBECONFIG`).
    pub kubeconfig: Option<PathBuf>,
    /// `sim`: virtual seconds per real second.
    pub speed: f64,
    /// `sim`: the seed of the simulated cluster.
    pub seed: u64,
    /// Where a backend may write files (the simulator's kubeconfig).
    pub work_dir: PathBuf,
}

/// Something a verb may need from a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Capability {
    /// Running processes on the machine that runs the harness (`exec`).
    HostExec,
    /// Cluster time that can run faster than real time.
    VirtualTime,
}

impl Capability {
    /// A short description for skip messages.
    pub fn describe(self) -> &'static str {
        match self {
            Capability::HostExec => "run host processes",
            Capability::VirtualTime => "run on virtual time",
        }
    }
}

/// What a backend can do.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Capabilities(pub BTreeSet<Capability>);

impl Capabilities {
    /// Whether the backend has `capability`.
    pub fn has(&self, capability: Capability) -> bool {
        self.0.contains(&capability)
    }
}

/// What reports say about the backend. Never holds credentials.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendInfo {
    /// `sim` or `kubeconfig`.
    pub backend: &'static str,
    /// The API server URL.
    pub server: String,
    /// The API server's `gitVersion`, when it answered `/version`.
    pub kubernetes_version: Option<String>,
    /// Cluster seconds per real second (1 on real clusters).
    pub speed: f64,
    /// Whether cluster time is virtual.
    pub virtual_time: bool,
    /// The simulator's seed, for the `sim` backend.
    pub seed: Option<u64>,
}

/// A running (or reachable) cluster.
pub struct Cluster {
    /// A client for the cluster.
    pub client: Client,
    /// The kubeconfig `exec` steps get as `KUBECONFIG`.
    pub kubeconfig: PathBuf,
    /// The cluster's clock.
    pub clock: ClusterClock,
    /// What the backend can do.
    pub capabilities: Capabilities,
    /// For reports.
    pub info: BackendInfo,
    /// Credential strings from the kubeconfig, redacted from every report.
    secrets: Vec<String>,
    /// The in-process pipeline jobs' tasks (`sim` backend only).
    job_tasks: Option<pipeline_job::JobTasks>,
    /// Keeps the in-process simulator alive; dropping the cluster stops it.
    _sim: Option<harness_sim::api::SimHandle>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Hand-written so that credentials can never be printed by accident.
        f.debug_struct("Cluster")
            .field("kubeconfig", &self.kubeconfig)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Credential strings (tokens, passwords, key data) to redact from
    /// anything written out.
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// Waits (at most `timeout`, real time) for the in-process pipeline jobs
    /// to end; false if some are still running. Immediate on backends that
    /// run none.
    pub async fn jobs_settled(&self, timeout: Duration) -> bool {
        match &self.job_tasks {
            Some(tasks) => tasks.settled(timeout).await,
            None => true,
        }
    }
}

/// Errors starting or reaching a backend.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// `--speed` is out of range.
    #[error("{}", harness_sim::clock::speed_error(.0))]
    InvalidSpeed(f64),
    /// The simulator did not start.
    #[error("could not start the simulator")]
    SimStartFailed(#[source] harness_sim::api::ServeError),
    /// The simulated cluster could not be built (its bundled operator install failed).
    #[error("could not install the operator into the simulated cluster")]
    SimInstallFailed(#[source] harness_sim::operator::install::InstallError),
    /// The simulator's data volume could not be emptied.
    #[error("could not empty the simulator's data directory {}", path.display())]
    SimDataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `--cluster kubeconfig` without a kubeconfig.
    #[error("no kubeconfig: pass --kubeconfig PATH or set KUBECONFIG")]
    NoKubeconfig,
    /// The kubeconfig could not be read or used.
    #[error("could not load kubeconfig {}", path.display())]
    KubeconfigLoadFailed {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The client could not be built.
    #[error("could not create a client for {}", path.display())]
    ClientCreateFailed {
        /// The kubeconfig used.
        path: PathBuf,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// The API server did not answer `/version`.
    #[error("cannot reach the cluster at {server}")]
    ConnectFailed {
        /// The server URL.
        server: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// A backend that is designed but not built yet.
    #[error("the {backend} backend is not yet supported ({hint})")]
    Unsupported {
        /// The backend.
        backend: &'static str,
        /// Where to look instead.
        hint: &'static str,
    },
}

/// Starts (or connects to) the backend `config` names.
pub async fn start(config: &BackendConfig) -> Result<Cluster, ClusterError> {
    match config.kind {
        BackendKind::Sim => sim::start(config).await,
        BackendKind::Kubeconfig => kubeconfig::connect(config).await,
        BackendKind::K3d => k3d::start(config),
    }
}

/// What [`connect_kubeconfig`] learned.
pub(crate) struct Connection {
    pub(crate) client: Client,
    pub(crate) server: String,
    pub(crate) kubernetes_version: Option<String>,
    pub(crate) secrets: Vec<String>,
}

/// Builds a client from a kubeconfig file (its current context) and checks
/// that the API server answers.
pub(crate) async fn connect_kubeconfig(path: &std::path::Path) -> Result<Connection, ClusterError> {
    let load_failed = |source| ClusterError::KubeconfigLoadFailed {
        path: path.to_path_buf(),
        source,
    };
    let kubeconfig = Kubeconfig::read_from(path).map_err(load_failed)?;
    let secrets = kubeconfig_secrets(path);
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .map_err(load_failed)?;
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config).map_err(|source| ClusterError::ClientCreateFailed {
        path: path.to_path_buf(),
        source,
    })?;
    let version =
        client
            .apiserver_version()
            .await
            .map_err(|source| ClusterError::ConnectFailed {
                server: server.clone(),
                source,
            })?;
    Ok(Connection {
        client,
        server,
        kubernetes_version: Some(version.git_version),
        secrets,
    })
}

/// Every credential string in a kubeconfig file (tokens, passwords, key
/// data), read from the YAML directly so no secret-wrapper type is needed.
fn kubeconfig_secrets(path: &std::path::Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Ok(documents) = crate::scenario::yaml::documents(&text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (_, document) in documents {
        let users = document
            .get("users")
            .and_then(|u| u.as_array())
            .cloned()
            .unwrap_or_default();
        for user in users {
            for field in ["token", "password", "client-key-data"] {
                if let Some(secret) = user
                    .get("user")
                    .and_then(|u| u.get(field))
                    .and_then(|v| v.as_str())
                {
                    out.push(secret.to_owned());
                }
            }
        }
    }
    // Very short strings would redact ordinary words from reports.
    out.retain(|s| s.len() >= 8);
    out
}
