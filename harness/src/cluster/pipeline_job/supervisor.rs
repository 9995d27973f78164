//! The task that runs one feature-pipeline job: it starts the runtime, then
//! serves the JobManager's requests (stop with savepoint, cancel) and
//! publishes progress into the [`Status`] the job model reads.
//!
//! The job model's methods run under the simulator's cluster lock, so they
//! never wait for any of this: they send a [`Command`] and read the status.
//!
//! Like Flink's Kafka source, the job commits each completed checkpoint's and
//! savepoint's offsets to its consumer group, so "has the job caught up?" can
//! be answered from Kafka alone (consumer lag), for our job as for a real one.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use harness_sim::{
    controllers::meta,
    operator::{flink::job::SavepointStatus, status::FlinkJobState},
};
use rdkafka::{
    Offset, TopicPartitionList,
    consumer::{BaseConsumer, CommitMode, Consumer},
};
use tokio::sync::mpsc;

use super::settings::{DataRoot, JobPlan};
use crate::{
    pipeline::{Exit, Pipeline, checkpoints},
    runner::error_chain,
};

/// How often a running job looks for a new checkpoint.
const PROGRESS_POLL: Duration = Duration::from_millis(50);
/// How long the reachability check waits for one broker.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the job is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum Phase {
    /// Submitted; its tasks have not been deployed.
    #[default]
    Created,
    /// The runtime is starting (Flink reports CREATED until tasks run).
    Starting,
    /// Consuming.
    Running,
    /// Writing its final savepoint (still RUNNING, as in Flink).
    Stopping,
    /// Stopped with a savepoint.
    Finished,
    /// Cancel requested.
    Cancelling,
    /// Cancelled (or its JobManager went away).
    Canceled,
    /// Failed; the cause is in [`Status::failure`].
    Failed,
}

impl Phase {
    /// The state Flink's REST API reports.
    pub(super) fn flink_state(self) -> FlinkJobState {
        match self {
            Phase::Created | Phase::Starting => FlinkJobState::Created,
            Phase::Running | Phase::Stopping => FlinkJobState::Running,
            Phase::Finished => FlinkJobState::Finished,
            Phase::Cancelling => FlinkJobState::Cancelling,
            Phase::Canceled => FlinkJobState::Canceled,
            Phase::Failed => FlinkJobState::Failed,
        }
    }

    /// Whether something is under way that will change the phase by itself.
    pub(super) fn pending(self) -> bool {
        matches!(self, Phase::Starting | Phase::Stopping | Phase::Cancelling)
    }
}

/// What the task publishes and the job model reads.
#[derive(Debug, Default)]
pub(super) struct Status {
    /// Where the job is.
    pub(super) phase: Phase,
    /// Why it failed.
    pub(super) failure: Option<String>,
    /// Savepoint triggers and their outcome.
    pub(super) savepoints: BTreeMap<String, SavepointStatus>,
    /// The newest completed checkpoint or savepoint, as a `file:///` URI.
    pub(super) latest: Option<String>,
}

/// The status, shared between the task and the job model.
pub(super) type SharedStatus = Arc<Mutex<Status>>;

/// Locks the status; a panic elsewhere never makes it unreadable.
pub(super) fn lock(status: &SharedStatus) -> MutexGuard<'_, Status> {
    status.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Marks the job FAILED with `cause`.
pub(super) fn fail(status: &SharedStatus, cause: String) {
    tracing::warn!(%cause, "feature-pipeline job failed");
    let mut status = lock(status);
    status.phase = Phase::Failed;
    status.failure = Some(cause);
}

/// A request from the JobManager.
#[derive(Debug)]
pub(super) enum Command {
    /// Stop with a savepoint written into `directory` (a local path).
    Stop {
        /// Fire every window first.
        drain: bool,
        /// The trigger the outcome is recorded under.
        trigger: String,
        /// The requested savepoint directory, mapped.
        directory: PathBuf,
    },
    /// Stop at once, without a savepoint.
    Cancel,
}

/// What the task needs besides its plan.
pub(super) struct Job {
    /// The 32-hex-digit JobID (part of the savepoint's name).
    pub(super) job_id: String,
    /// Maps local paths to the URIs the job reports.
    pub(super) root: DataRoot,
    /// Published progress.
    pub(super) status: SharedStatus,
}

/// Runs the job until it stops, is cancelled, fails (at start or later), or
/// its JobManager (the command sender) goes away.
pub(super) async fn supervise(
    plan: JobPlan,
    job: Job,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    if let Err(cause) = reachable(&plan.bootstrap_servers).await {
        fail(
            &job.status,
            format!("failed to start the feature pipeline: {cause}"),
        );
        return;
    }
    let mut pipeline = match Pipeline::start(plan.config.clone()).await {
        Ok(pipeline) => pipeline,
        Err(err) => {
            fail(
                &job.status,
                format!(
                    "failed to start the feature pipeline: {}",
                    error_chain(&err)
                ),
            );
            return;
        }
    };
    {
        let mut status = lock(&job.status);
        // A cancel that arrived while starting is served below.
        if status.phase == Phase::Starting {
            status.phase = Phase::Running;
        }
    }
    let committer = Committer::new(&plan);
    let mut tick = tokio::time::interval(PROGRESS_POLL);
    let mut seen: Option<PathBuf> = None;
    loop {
        tokio::select! {
            command = commands.recv() => {
                match command {
                    Some(Command::Stop { drain, trigger, directory }) => stop(pipeline, &job, &committer, drain, trigger, &directory).await,
                    Some(Command::Cancel) | None => {
                        pipeline.crash().await;
                        lock(&job.status).phase = Phase::Canceled;
                    }
                }
                return;
            }
            () = pipeline.ended() => {
                ended_by_itself(pipeline, &job).await;
                return;
            }
            _ = tick.tick() => {
                let checkpoint = pipeline.progress().last_checkpoint;
                if let Some(path) = checkpoint.filter(|path| seen.as_ref() != Some(path)) {
                    lock(&job.status).latest = job.root.uri(&path);
                    committer.commit(&path).await;
                    seen = Some(path);
                }
            }
        }
    }
}

/// The run ended without a request from the JobManager: Redis refused a
/// write for good (FAILED with the cause, as Flink reports a job whose
/// restarts are exhausted), or it was stopped through its own HTTP endpoint
/// (`POST /stop`: FINISHED with that savepoint, as after `flink stop`).
async fn ended_by_itself(pipeline: Pipeline, job: &Job) {
    match pipeline.finished().await {
        Ok(summary) => {
            let mut status = lock(&job.status);
            if let Exit::Stopped { savepoint } = &summary.exit
                && let Some(location) = job.root.uri(savepoint)
            {
                status.latest = Some(location);
            }
            status.phase = Phase::Finished;
        }
        Err(err) => fail(
            &job.status,
            format!("the feature pipeline failed: {}", error_chain(&err)),
        ),
    }
}

/// Stop-with-savepoint: the runtime's final savepoint is moved to the
/// requested directory under Flink's name, `savepoint-<job id[..6]>-<12 hex>`.
async fn stop(
    pipeline: Pipeline,
    job: &Job,
    committer: &Committer,
    drain: bool,
    trigger: String,
    directory: &Path,
) {
    let result = async {
        let summary = pipeline
            .stop(drain)
            .await
            .map_err(|err| error_chain(&err))?;
        let Exit::Stopped { savepoint } = summary.exit else {
            return Err("the pipeline ended without a savepoint".to_owned());
        };
        let prefix: String = job.job_id.chars().take(6).collect();
        let name = format!(
            "savepoint-{prefix}-{}",
            meta::digest_hex(&savepoint.to_string_lossy(), 12)
        );
        let target = directory.join(name);
        tokio::fs::create_dir_all(directory)
            .await
            .map_err(|err| format!("failed to create {}: {err}", directory.display()))?;
        tokio::fs::rename(&savepoint, &target)
            .await
            .map_err(|err| {
                format!(
                    "failed to move the savepoint to {}: {err}",
                    target.display()
                )
            })?;
        committer.commit(&target).await;
        job.root
            .uri(&target)
            .ok_or_else(|| format!("{} is outside the data root", target.display()))
    }
    .await;
    let mut status = lock(&job.status);
    match result {
        Ok(location) => {
            status
                .savepoints
                .insert(trigger, SavepointStatus::Completed(location.clone()));
            status.latest = Some(location);
            status.phase = Phase::Finished;
        }
        Err(cause) => {
            // The runtime is gone either way: the job does not keep running.
            status
                .savepoints
                .insert(trigger, SavepointStatus::Failed(cause.clone()));
            status.phase = Phase::Failed;
            status.failure = Some(cause);
        }
    }
}

/// Whether any of the bootstrap servers accepts a connection. Flink's Kafka
/// source would retry (and the job restart) for minutes; the simulator fails
/// the job at once with the cause, which is what a scenario wants to see.
async fn reachable(bootstrap_servers: &str) -> Result<(), String> {
    let mut last = String::from("no bootstrap servers");
    for server in bootstrap_servers
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(server)).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(err)) => last = err.to_string(),
            Err(_) => last = format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()),
        }
    }
    Err(format!(
        "kafka at {bootstrap_servers} is not reachable ({last})"
    ))
}

/// Commits checkpointed offsets to the job's consumer group.
struct Committer {
    consumer: Option<Arc<BaseConsumer>>,
    topic: String,
}

impl Committer {
    fn new(plan: &JobPlan) -> Committer {
        let consumer = harness_infra::kafka::client_config(&plan.bootstrap_servers)
            .set("group.id", &plan.group_id)
            .set("enable.auto.commit", "false")
            .create::<BaseConsumer>()
            .map_err(|err| tracing::warn!(error = %err, "no offset commits: the committer could not be created"))
            .ok();
        Committer {
            consumer: consumer.map(Arc::new),
            topic: plan.topic.clone(),
        }
    }

    /// Commits the offsets stored in the checkpoint or savepoint at `path`.
    /// Failures are logged: like Flink, the job does not depend on them.
    async fn commit(&self, path: &Path) {
        let Some(consumer) = self.consumer.clone() else {
            return;
        };
        let checkpoint = match checkpoints::load(path) {
            Ok((checkpoint, _)) => checkpoint,
            Err(err) => {
                tracing::warn!(error = %error_chain(&err), "a checkpoint could not be read for its offsets");
                return;
            }
        };
        let mut offsets = TopicPartitionList::new();
        for split in checkpoint.splits() {
            if let Some(next) = split.next_offset
                && let Err(err) =
                    offsets.add_partition_offset(&self.topic, split.split, Offset::Offset(next))
            {
                tracing::debug!(error = %err, "offset not committed");
            }
        }
        if offsets.count() == 0 {
            return;
        }
        let committed =
            tokio::task::spawn_blocking(move || consumer.commit(&offsets, CommitMode::Sync)).await;
        if let Ok(Err(err)) = committed {
            tracing::warn!(error = %err, "checkpointed offsets were not committed");
        }
    }
}
