//! A container run by testcontainers on behalf of a `containers` provider,
//! with the stop/start/kill faults mapped to Docker operations.
//!
//! The handle must be dropped inside a tokio runtime: testcontainers removes
//! the container from its `Drop` by running an async Docker call.

use testcontainers::{ContainerAsync, GenericImage, runners::AsyncRunner};

use crate::{Error, Fault, Result, docker::ContainerPlan};

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
    /// Checks for a Docker engine, then starts the container and waits for
    /// the plan's ready log line.
    pub(crate) async fn start(plan: ContainerPlan) -> Result<Self> {
        crate::docker::find_engine()?;
        let container = plan
            .request()
            .start()
            .await
            .map_err(|source| container_failed("start", &plan, source))?;
        Ok(ContainerService { plan, container })
    }

    /// Applies a fault with Docker stop/start.
    pub(crate) async fn apply(&mut self, fault: Fault) -> Result<()> {
        match fault {
            Fault::Stop => self.stop(Some(STOP_GRACE_SECS)).await,
            Fault::Kill => self.stop(Some(0)).await,
            Fault::Start => self.start_again().await,
            Fault::Restart => {
                self.stop(Some(STOP_GRACE_SECS)).await?;
                self.start_again().await
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
        // Docker reports "running" before the service listens; the provider
        // handles probe their endpoint after this returns.
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
