//! State shared by the connection tasks, the watch streams and the driver.
//!
//! The cluster sits behind a `std::sync::Mutex`: every handler locks it,
//! does its synchronous work and unlocks before anything is awaited. After
//! each locked section that moved the store's resourceVersion, the new
//! version is published on a `tokio::sync::watch` channel (waking watch
//! streams) and the driver is notified (so controllers react at once).

use std::{
    any::Any,
    sync::{Arc, Mutex, OnceLock, PoisonError},
};

use tokio::sync::{Notify, watch};

use crate::{
    clock::{SimTime, VirtualClock},
    cluster::Cluster,
    crd,
};

/// Everything the server's tasks share.
pub(crate) struct Shared {
    cluster: Mutex<Cluster>,
    pub(crate) clock: VirtualClock,
    /// The admin's bearer token. Never logged.
    token: String,
    /// Service-account tokens issued by `TokenRequest`. Never logged.
    pub(crate) issued_tokens: super::auth::IssuedTokens,
    /// The store's latest resourceVersion; watch streams wait on it.
    revision: watch::Sender<u64>,
    /// Wakes the driver to step controllers after a write.
    wake_driver: Notify,
    /// Set when a controller panicked and the driver stopped: from then on
    /// every request is answered with this as a 500, since a cluster whose
    /// controllers no longer run would otherwise look healthy and stall.
    controllers_failure: OnceLock<String>,
}

impl Shared {
    pub(crate) fn new(cluster: Cluster, clock: VirtualClock, token: String) -> Arc<Shared> {
        let (revision, _) = watch::channel(cluster.store.resource_version());
        Arc::new(Shared {
            cluster: Mutex::new(cluster),
            clock,
            token,
            issued_tokens: Default::default(),
            revision,
            wake_driver: Notify::new(),
            controllers_failure: OnceLock::new(),
        })
    }

    /// Runs `f` on the locked cluster at the current virtual time, then
    /// publishes the new resourceVersion if `f` changed anything.
    pub(crate) fn with_cluster<R>(&self, f: impl FnOnce(&mut Cluster, SimTime) -> R) -> R {
        // A handler that panicked left the cluster in a consistent state as
        // far as the store is concerned (each store call is atomic), so a
        // poisoned lock is recovered rather than taking the server down.
        let mut cluster = self.cluster.lock().unwrap_or_else(PoisonError::into_inner);
        let before = cluster.store.resource_version();
        let result = f(&mut cluster, self.clock.now());
        let after = cluster.store.resource_version();
        if after != before {
            crd::sync_registry(&mut cluster);
        }
        drop(cluster);
        if after != before {
            self.revision.send_replace(after);
            self.wake_driver.notify_one();
        }
        result
    }

    /// Whether `presented` is the admin's bearer token, compared in constant time.
    pub(crate) fn token_matches(&self, presented: &str) -> bool {
        let (a, b) = (presented.as_bytes(), self.token.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// A receiver that sees every published resourceVersion.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.revision.subscribe()
    }

    /// Records that the controllers stopped, with the panic's message.
    pub(crate) fn controllers_stopped(&self, message: String) {
        tracing::error!(%message, "a simulator controller panicked; the simulator answers 500 from now on");
        let _ = self.controllers_failure.set(message);
    }

    /// Why the controllers stopped, if they did.
    pub(crate) fn controllers_failure(&self) -> Option<&str> {
        self.controllers_failure.get().map(String::as_str)
    }

    /// Resolves when a write asked the driver to step the controllers.
    pub(crate) async fn driver_woken(&self) {
        self.wake_driver.notified().await;
    }
}

/// The text of a caught panic's payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}
