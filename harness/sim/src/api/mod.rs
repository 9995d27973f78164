//! The HTTP edge of the simulator: a Kubernetes API server subset on
//! 127.0.0.1 with bearer-token authentication.
//!
//! This is the only async part of the crate. It owns the [`VirtualClock`],
//! steps the [`Cluster`] after every write and whenever a controller's timer
//! is due, and streams watch events. [`serve`] binds a random loopback port,
//! serves HTTPS with a per-run CA (kubectl sends bearer tokens only over
//! TLS), writes a kubeconfig (context `harness-sim`, the CA and the token,
//! mode 0600) and returns a [`SimHandle`]; `kubectl` and `kube` then use it
//! as any cluster.
//!
//! # What is served
//!
//! - `/version`, `/healthz`, `/livez`, `/readyz` (the health checks need no
//!   token);
//! - discovery: `/api`, `/apis`, `/apis/{g}`, `/api/v1`, `/apis/{g}/{v}`,
//!   legacy and aggregated (`apidiscovery.k8s.io/v2`), see `discovery.rs`;
//! - `/openapi/v2` and `/openapi/v3`, as much as kubectl needs, see `openapi.rs`;
//! - CRUD, patch, watch, `status`, `scale` and namespace `finalize` on every
//!   registered kind, see `handlers.rs`, `read.rs`, `write.rs`, `watch.rs`,
//!   `scale.rs`;
//! - service-account tokens (`serviceaccounts/{name}/token`) and
//!   `SelfSubjectAccessReview`, with every request authorized by RBAC, see
//!   `auth.rs`.
//!
//! # The clock endpoint
//!
//! `GET /sim/v1/clock` (bearer token required) is not part of Kubernetes. It
//! answers `{"now": "<RFC 3339 with microseconds>", "nowMillis": <epoch ms>,
//! "speed": <virtual seconds per real second>}`, so a client that only has
//! the kubeconfig can convert between cluster time and real time.

mod auth;
mod discovery;
mod driver;
mod handlers;
mod lifecycle;
mod openapi;
mod protobuf;
mod read;
mod reply;
pub(crate) mod request;
mod route;
mod scale;
mod server;
mod state;
mod strategy;
mod tls;
mod watch;
mod write;

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
    sync::Arc,
};

use tokio::{net::TcpListener, task::JoinHandle};

pub use self::tls::TlsError;
use crate::{
    clock::{SimTime, VirtualClock},
    cluster::Cluster,
    kubeconfig,
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
pub struct SimHandle {
    /// The loopback address the API is served on.
    pub addr: SocketAddr,
    /// The kubeconfig that reaches it (server URL, token, context `harness-sim`).
    pub kubeconfig: PathBuf,
    /// The clock the simulator runs on.
    pub clock: VirtualClock,
    shared: Arc<state::Shared>,
    /// Flipped to stop the accept loop and the driver; they also stop when
    /// it is dropped.
    shutdown: tokio::sync::watch::Sender<bool>,
    /// The accept loop and the driver. Aborted on drop, awaited by `shutdown`.
    tasks: Vec<JoinHandle<()>>,
    /// The temporary directory holding the kubeconfig, removed on drop, when
    /// the caller did not choose a path.
    temp_dir: Option<PathBuf>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .field("kubeconfig", &self.kubeconfig)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// The server URL written into the kubeconfig, e.g. `https://127.0.0.1:40123`.
    pub fn server_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Runs `f` on the served cluster at the current virtual time, under the
    /// same lock requests take; watchers and controllers see its writes.
    /// Keep `f` short: requests wait while it runs.
    pub fn with_cluster<R>(&self, f: impl FnOnce(&mut Cluster, SimTime) -> R) -> R {
        self.shared.with_cluster(f)
    }

    /// Stops accepting requests, ends open watches and the driver, and waits
    /// for them to finish.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        for task in &self.tasks {
            task.abort();
        }
        if let Some(dir) = self.temp_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
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
    /// Reading random bytes for the bearer token from the OS failed.
    #[error("could not generate a bearer token: {0}")]
    Token(#[source] std::io::Error),
    /// The speed factor is out of range (see [`crate::clock::valid_speed`]).
    #[error("{}", crate::clock::speed_error(.0))]
    Speed(f64),
    /// Generating the server's certificates failed.
    #[error("could not set up TLS: {0}")]
    Tls(#[source] TlsError),
}

/// 32 random bytes from the OS.
fn random_bytes() -> std::io::Result<[u8; 32]> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// 32 random bytes from the OS, hex-encoded. Never logged.
fn random_token() -> std::io::Result<String> {
    Ok(random_bytes()?.iter().map(|b| format!("{b:02x}")).collect())
}

/// A fresh private directory for the kubeconfig.
fn temp_dir() -> std::io::Result<PathBuf> {
    let suffix: String = random_token()?.chars().take(12).collect();
    let dir = std::env::temp_dir().join(format!("harness-sim-{}-{suffix}", std::process::id()));
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(&dir)?;
    Ok(dir)
}

/// Serves `cluster` over HTTP until the returned handle is dropped or shut down.
///
/// Must be called inside a tokio runtime. Adds the namespace and CRD
/// lifecycle controllers to `cluster`.
pub async fn serve(mut cluster: Cluster, config: SimConfig) -> Result<SimHandle, ServeError> {
    if !crate::clock::valid_speed(config.speed) {
        return Err(ServeError::Speed(config.speed));
    }
    let clock = match config.origin {
        Some(origin) => VirtualClock::starting_at(origin, config.speed),
        None => VirtualClock::starting_now(config.speed),
    };
    lifecycle::install(&mut cluster);
    let token = random_token().map_err(ServeError::Token)?;
    let tls = tls::server_tls().map_err(ServeError::Tls)?;
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(ServeError::Bind)?;
    let addr = listener.local_addr().map_err(ServeError::Bind)?;
    let (kubeconfig_path, temp_dir) = match config.kubeconfig {
        Some(path) => (path, None),
        None => {
            let dir = temp_dir().map_err(|source| ServeError::Kubeconfig {
                path: std::env::temp_dir(),
                source,
            })?;
            (dir.join("kubeconfig"), Some(dir))
        }
    };
    let server = format!("https://{addr}");
    if let Err(source) = kubeconfig::write(&kubeconfig_path, &server, &token, Some(&tls.ca_pem)) {
        if let Some(dir) = &temp_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        return Err(ServeError::Kubeconfig {
            path: kubeconfig_path,
            source,
        });
    }
    let shared = state::Shared::new(cluster, clock.clone(), token);
    let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
    let tasks = vec![
        tokio::spawn(server::accept_loop(
            listener,
            tokio_rustls::TlsAcceptor::from(tls.config),
            shared.clone(),
            shutdown_rx.clone(),
        )),
        tokio::spawn(driver::drive(shared.clone(), shutdown_rx)),
    ];
    tracing::info!(%addr, kubeconfig = %kubeconfig_path.display(), speed = config.speed, "simulated API server listening");
    Ok(SimHandle {
        addr,
        kubeconfig: kubeconfig_path,
        clock,
        shared,
        shutdown,
        tasks,
        temp_dir,
    })
}
