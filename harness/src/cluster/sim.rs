//! The `sim` backend: `harness_sim::standard_cluster` (built-in controllers
//! plus the Flink operator model) served in-process on 127.0.0.1.
//!
//! Its kubeconfig is written to `<work dir>/sim/kubeconfig` (mode 0600) so a
//! user can point kubectl at a kept run. It holds the simulator's bearer
//! token, which reports never contain; the token dies with the run.

use harness_sim::{
    api::{self, SimConfig},
    clock::VirtualClock,
};

use super::{BackendConfig, BackendInfo, Capabilities, Capability, Cluster, ClusterClock, ClusterError, connect_kubeconfig};

/// Starts the simulator and connects to it.
pub async fn start(config: &BackendConfig) -> Result<Cluster, ClusterError> {
    if !(config.speed.is_finite() && config.speed > 0.0) {
        return Err(ClusterError::InvalidSpeed(config.speed));
    }
    // The virtual clock starts at the current wall-clock time so that
    // timestamps in the simulated cluster look like today's.
    let origin = VirtualClock::starting_now(1.0).now();
    let cluster = harness_sim::standard_cluster(config.seed, origin);
    // Absolute, because `exec` steps run in the scenario's directory and get
    // this path as KUBECONFIG.
    let work_dir = std::path::absolute(&config.work_dir).unwrap_or_else(|_| config.work_dir.clone());
    let sim_config = SimConfig { speed: config.speed, kubeconfig: Some(work_dir.join("sim").join("kubeconfig")), origin: Some(origin) };
    if let Some(dir) = sim_config.kubeconfig.as_ref().and_then(|p| p.parent()) {
        // serve() reports a failure to write the file; creating the directory
        // first keeps that error about the file, not its parent.
        let _ = std::fs::create_dir_all(dir);
    }
    let handle = api::serve(cluster, sim_config).await.map_err(ClusterError::SimStartFailed)?;
    let connection = connect_kubeconfig(&handle.kubeconfig).await?;
    Ok(Cluster {
        client: connection.client,
        kubeconfig: handle.kubeconfig.clone(),
        clock: ClusterClock::Virtual(handle.clock.clone()),
        capabilities: Capabilities([Capability::HostExec, Capability::VirtualTime].into()),
        info: BackendInfo {
            backend: "sim",
            server: connection.server,
            kubernetes_version: connection.kubernetes_version,
            speed: handle.clock.speed(),
            virtual_time: true,
            seed: Some(config.seed),
        },
        secrets: connection.secrets,
        _sim: Some(handle),
    })
}
