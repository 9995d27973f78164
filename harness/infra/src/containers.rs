//! A container run by testcontainers on behalf of a `containers` provider,
//! with the stop/start/kill faults mapped to Docker operations, and the wait
//! until the service inside answers after every (re)start.
//!
//! The handle must be dropped inside a tokio runtime: testcontainers removes
//! the container from its `Drop` by running an async Docker call.

use std::time::Duration;

use testcontainers::{ContainerAsync, GenericImage, runners::AsyncRunner};

use crate::{Error, Fault, Result, docker::ContainerPlan};

/// How long a (re)started container's service may take to answer its
/// provider's readiness probe.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Seconds Docker waits after SIGTERM before SIGKILL on a graceful stop.
const STOP_GRACE_SECS: i32 = 10;

/// A running (or stopped) container and the plan it was started from.
pub(crate) struct ContainerService {
    /// Image, env and fixed host ports.
    plan: ContainerPlan,
    /// testcontainers' handle; dropping it removes the container.
    container: ContainerAsync<GenericImage>,
}

impl std::fmt::Debug for ContainerService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerService")
            .field("image", &self.plan.image_ref())
            .finish_non_exhaustive()
    }
}

impl ContainerService {
    /// Checks for a Docker engine, starts the container, waits for the plan's
    /// ready log line, then for `ready` (given how long it may take).
    pub(crate) async fn start<F, Fut>(plan: ContainerPlan, ready: F) -> Result<Self>
    where
        F: FnOnce(Duration) -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        crate::docker::find_engine()?;
        let container = plan
            .request()
            .start()
            .await
            .map_err(|source| container_failed("start", &plan, source))?;
        let service = ContainerService { plan, container };
        ready(READY_TIMEOUT).await?;
        Ok(service)
    }

    /// Applies a fault with Docker stop/start; `start` and `restart` then
    /// wait for `ready`, since Docker reports "running" before the service
    /// listens.
    pub(crate) async fn apply<F, Fut>(&mut self, fault: Fault, ready: F) -> Result<()>
    where
        F: FnOnce(Duration) -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        match fault {
            Fault::Stop => self.stop(Some(STOP_GRACE_SECS)).await,
            Fault::Kill => self.stop(Some(0)).await,
            Fault::Start => {
                self.start_again().await?;
                ready(READY_TIMEOUT).await
            }
            Fault::Restart => {
                self.stop(Some(STOP_GRACE_SECS)).await?;
                self.start_again().await?;
                ready(READY_TIMEOUT).await
            }
        }
    }

    async fn stop(&self, grace_secs: Option<i32>) -> Result<()> {
        self.container
            .stop_with_timeout(grace_secs)
            .await
            .map_err(|source| container_failed("stop", &self.plan, source))
    }

    async fn start_again(&self) -> Result<()> {
        self.container
            .start()
            .await
            .map_err(|source| container_failed("start", &self.plan, source))
    }
}

fn container_failed(
    step: &'static str,
    plan: &ContainerPlan,
    source: testcontainers::TestcontainersError,
) -> Error {
    Error::ContainerFailed {
        step,
        image: plan.image_ref(),
        source: Box::new(source),
    }
}
