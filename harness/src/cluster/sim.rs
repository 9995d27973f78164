//! The `sim` backend: the simulated cluster (built-in controllers plus the
//! Flink operator model, as `harness_sim::standard_cluster` builds it) served
//! in-process on 127.0.0.1, with one difference: its jobs come from
//! [`PipelineJobs`], so a FlinkDeployment annotated
//! `harness.flink.dev/job: feature-pipeline` runs the real feature pipeline
//! (see [`super::pipeline_job`]) and every other one the modelled job.
//!
//! Its kubeconfig is written to `<work dir>/sim/kubeconfig` (mode 0600) so a
//! user can point kubectl at a kept run. It holds the simulator's bearer
//! token, which reports never contain; the token dies with the run.
//!
//! The pipeline jobs' `file:///a/b` paths live at `<work dir>/sim/volume/a/b`
//! (so `file:///flink-data/savepoints` is `<work dir>/sim/volume/flink-data/savepoints`):
//! the simulated cluster's one data volume, as if mounted at `/` in every
//! Flink pod. It is emptied when the simulator
//! starts: job ids repeat from run to run (they come from the seed), and a
//! checkpoint left by an earlier run must not look like this run's.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use harness_sim::{
    api::{self, SimConfig},
    clock::VirtualClock,
    operator::{OperatorConfig, flink::job::ModelledJobs, install::simulated_cluster},
};

use super::{
    BackendConfig, BackendInfo, Capabilities, Capability, Cluster, ClusterClock, ClusterError,
    connect_kubeconfig,
    pipeline_job::{DataRoot, JobTasks, PipelineJobs},
};

/// The data volume's directory under `<work dir>/sim`.
pub const DATA_DIR: &str = "volume";

/// Starts the simulator and connects to it.
pub async fn start(config: &BackendConfig) -> Result<Cluster, ClusterError> {
    // Absolute, because `exec` steps run in the scenario's directory and get
    // this path as KUBECONFIG.
    let work_dir =
        std::path::absolute(&config.work_dir).unwrap_or_else(|_| config.work_dir.clone());
    let (handle, job_tasks) = serve_cluster(
        config.seed,
        config.speed,
        work_dir.join("sim").join("kubeconfig"),
        &work_dir.join("sim").join(DATA_DIR),
    )
    .await?;
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
        job_tasks: Some(job_tasks),
        _sim: Some(handle),
    })
}

/// Builds the simulated cluster with the harness's jobs ([`PipelineJobs`],
/// files under `data_root`, emptied first) and serves it, writing its
/// kubeconfig to `kubeconfig`: what both this backend and `harness sim
/// serve` run. Returns the server and the pipeline jobs' tasks.
pub async fn serve_cluster(
    seed: u64,
    speed: f64,
    kubeconfig: PathBuf,
    data_root: &Path,
) -> Result<(api::SimHandle, JobTasks), ClusterError> {
    if !harness_sim::clock::valid_speed(speed) {
        return Err(ClusterError::InvalidSpeed(speed));
    }
    // The virtual clock starts at the current wall-clock time so that
    // timestamps in the simulated cluster look like today's.
    let origin = VirtualClock::starting_now(1.0).now();
    if let Err(err) = std::fs::remove_dir_all(data_root)
        && err.kind() != std::io::ErrorKind::NotFound
    {
        return Err(ClusterError::SimDataDir {
            path: data_root.to_owned(),
            source: err,
        });
    }
    let operator = OperatorConfig::helm_defaults();
    let modelled = ModelledJobs {
        timings: operator.timings.job(),
    };
    let jobs = Arc::new(PipelineJobs::new(
        modelled,
        tokio::runtime::Handle::current(),
        DataRoot::new(data_root),
        speed,
    ));
    let job_tasks = jobs.tasks();
    let (cluster, _flink) =
        simulated_cluster(seed, origin, operator, jobs).map_err(ClusterError::SimInstallFailed)?;
    if let Some(dir) = kubeconfig.parent() {
        // serve() reports a failure to write the file; creating the directory
        // first keeps that error about the file, not its parent.
        let _ = std::fs::create_dir_all(dir);
    }
    let sim_config = SimConfig {
        speed,
        kubeconfig: Some(kubeconfig),
        origin: Some(origin),
    };
    let handle = api::serve(cluster, sim_config)
        .await
        .map_err(ClusterError::SimStartFailed)?;
    Ok((handle, job_tasks))
}
