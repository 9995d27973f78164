//! The real feature pipeline as the job of a simulated FlinkDeployment.
//!
//! [`PipelineJobs`] is the simulator's [`JobFactory`] on the `sim` backend: a
//! FlinkDeployment annotated `harness.flink.dev/job: feature-pipeline` gets a
//! [`PipelineJob`], which runs [`crate::pipeline::Pipeline`] against the Kafka
//! and Redis its `flinkConfiguration` names (see [`settings`]); every other
//! FlinkDeployment keeps the modelled job. Its checkpoints and savepoints
//! are the runtime's, on disk under the data root, so a savepoint restore
//! resumes from real offsets and open windows.
//!
//! As a JobManager sees it: the job is CREATED until its TaskManagers have
//! registered and the runtime is consuming, then RUNNING; FAILED with the
//! cause if it cannot start (a missing setting, Kafka or Redis unreachable,
//! a savepoint that does not restore) or if Redis refuses its writes later;
//! stop-with-savepoint completes when the runtime's savepoint is on disk;
//! cancel stops it without one.
//!
//! The simulator calls [`JobModel`] methods under its cluster lock, so they
//! never block: work goes to the task in [`supervisor`] and the methods read
//! the status it publishes. While something is under way, `next_change`
//! asks the simulator to look again soon (a few real milliseconds), because
//! the task cannot wake the simulator's driver itself.
//!
//! Fidelity: the runtime retries Kafka and Redis outages by itself, as
//! Flink's restarts would; a write Redis refuses for good (a key of another
//! type, a missing ACL permission) fails the job at once with the cause,
//! where Flink would first exhaust its restart strategy. The operator sees
//! FAILED at its next observation, since a running job asks for no wake-up.
//! A failed stop-with-savepoint leaves the job FAILED (in Flink the job
//! would keep running).

pub mod settings;
mod supervisor;

use std::{
    sync::{Arc, PoisonError},
    time::Duration,
};

use harness_sim::{
    clock::SimTime,
    controllers::meta,
    operator::{
        flink::job::{
            JobFactory, JobModel, JobSubmission, ModelledJobs, Resources, SavepointStatus,
        },
        status::FlinkJobState,
    },
};
use tokio::{runtime::Handle, sync::mpsc};

pub use self::settings::{DataRoot, FEATURE_PIPELINE, JOB_ANNOTATION};
use self::{
    settings::JobPlan,
    supervisor::{Command, Job, Phase, SharedStatus, fail, lock},
};

/// How often, in real time, the simulator looks at a job that is starting or stopping.
const REAL_POLL: Duration = Duration::from_millis(20);

/// The job factory of the `sim` backend; see the module doc.
pub struct PipelineJobs {
    modelled: ModelledJobs,
    context: Arc<Context>,
}

/// What every pipeline job shares.
struct Context {
    runtime: Handle,
    root: DataRoot,
    speed: f64,
    /// [`REAL_POLL`] in virtual time.
    poll: Duration,
    tasks: JobTasks,
}

/// The jobs' tasks, so a scenario can wait for its jobs to end (after its
/// namespace is deleted they are being cancelled) before it stops the Kafka
/// and Redis they use: a source torn down under a live consumer only logs
/// errors, but they are noise in a passing run.
#[derive(Clone, Default)]
pub struct JobTasks(Arc<std::sync::Mutex<tokio::task::JoinSet<()>>>);

impl JobTasks {
    fn spawn(&self, runtime: &Handle, task: impl Future<Output = ()> + Send + 'static) {
        let mut tasks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // Finished tasks are reaped here, so the set holds live ones only.
        while tasks.try_join_next().is_some() {}
        tasks.spawn_on(task, runtime);
    }

    /// Waits until every job task started so far has ended, or `timeout`
    /// (real time) passed; returns whether they all ended.
    pub async fn settled(&self, timeout: Duration) -> bool {
        let mut tasks = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        tokio::time::timeout(timeout, async {
            while tasks.join_next().await.is_some() {}
        })
        .await
        .is_ok()
    }
}

impl PipelineJobs {
    /// Pipeline jobs on `runtime` with their files under `root`, for a
    /// simulator running at `speed`; unmarked jobs are `modelled`.
    pub fn new(
        modelled: ModelledJobs,
        runtime: Handle,
        root: DataRoot,
        speed: f64,
    ) -> PipelineJobs {
        let speed = if harness_sim::clock::valid_speed(speed) {
            speed
        } else {
            1.0
        };
        let poll = REAL_POLL.mul_f64(speed).max(Duration::from_millis(1));
        PipelineJobs {
            modelled,
            context: Arc::new(Context {
                runtime,
                root,
                speed,
                poll,
                tasks: JobTasks::default(),
            }),
        }
    }

    /// The jobs' tasks, to wait for.
    pub fn tasks(&self) -> JobTasks {
        self.context.tasks.clone()
    }
}

/// Whether `submission` asks for the feature pipeline.
pub fn is_feature_pipeline(submission: &JobSubmission<'_>) -> bool {
    submission
        .annotations
        .get(JOB_ANNOTATION)
        .is_some_and(|job| job == FEATURE_PIPELINE)
}

impl JobFactory for PipelineJobs {
    fn create(&self, submission: &JobSubmission<'_>) -> Box<dyn JobModel> {
        if is_feature_pipeline(submission) {
            Box::new(PipelineJob::new(submission, Arc::clone(&self.context)))
        } else {
            self.modelled.create(submission)
        }
    }
}

/// One submission of the feature pipeline; see the module doc.
pub struct PipelineJob {
    job_id: String,
    submitted_at: SimTime,
    restored_from: Option<String>,
    /// The settings, or why the job cannot run (it fails once its tasks would start).
    plan: Option<Result<JobPlan, String>>,
    context: Arc<Context>,
    status: SharedStatus,
    /// Requests to the running task; `None` before it starts.
    commands: Option<mpsc::UnboundedSender<Command>>,
    /// Savepoint triggers issued.
    triggers: u32,
}

impl std::fmt::Debug for PipelineJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineJob")
            .field("job_id", &self.job_id)
            .field("phase", &self.phase())
            .finish_non_exhaustive()
    }
}

impl PipelineJob {
    fn new(submission: &JobSubmission<'_>, context: Arc<Context>) -> PipelineJob {
        PipelineJob {
            job_id: submission.job_id.to_owned(),
            submitted_at: submission.submitted_at,
            restored_from: submission.restore_from.map(str::to_owned),
            plan: Some(settings::plan(submission, &context.root, context.speed)),
            context,
            status: SharedStatus::default(),
            commands: None,
            triggers: 0,
        }
    }

    fn phase(&self) -> Phase {
        lock(&self.status).phase
    }

    /// Deploys the tasks: starts the runtime on its own task.
    fn start(&mut self) {
        let Some(plan) = self.plan.take() else { return };
        let plan = match plan {
            Ok(plan) => plan,
            Err(cause) => return fail(&self.status, cause),
        };
        lock(&self.status).phase = Phase::Starting;
        let (sender, receiver) = mpsc::unbounded_channel();
        let job = Job {
            job_id: self.job_id.clone(),
            root: self.context.root.clone(),
            status: Arc::clone(&self.status),
        };
        self.context.tasks.spawn(
            &self.context.runtime,
            supervisor::supervise(plan, job, receiver),
        );
        self.commands = Some(sender);
    }

    /// Sends a request to the task; false if it is gone.
    fn send(&self, command: Command) -> bool {
        self.commands
            .as_ref()
            .is_some_and(|commands| commands.send(command).is_ok())
    }
}

impl JobModel for PipelineJob {
    fn advance(&mut self, now: SimTime, resources: Resources) {
        let slots_ready = resources.slots_ready_at.is_some_and(|at| at <= now);
        if slots_ready && self.phase() == Phase::Created {
            self.start();
        }
    }

    fn state(&self) -> FlinkJobState {
        self.phase().flink_state()
    }

    fn start_time(&self) -> SimTime {
        self.submitted_at
    }

    fn stop_with_savepoint(
        &mut self,
        directory: &str,
        drain: bool,
        _now: SimTime,
    ) -> Result<String, String> {
        if self.phase() != Phase::Running {
            return Err(format!(
                "Job {} is not running: {}",
                self.job_id,
                self.state()
            ));
        }
        if directory.trim().is_empty() {
            return Err("no savepoint directory: set state.savepoints.dir".to_owned());
        }
        let directory = self.context.root.local(directory.trim())?;
        self.triggers += 1;
        let trigger = meta::digest_hex(&format!("{}/trigger/{}", self.job_id, self.triggers), 32);
        {
            let mut status = lock(&self.status);
            status
                .savepoints
                .insert(trigger.clone(), SavepointStatus::InProgress);
            status.phase = Phase::Stopping;
        }
        if !self.send(Command::Stop {
            drain,
            trigger: trigger.clone(),
            directory,
        }) {
            fail(&self.status, "the pipeline task is gone".to_owned());
        }
        Ok(trigger)
    }

    fn savepoint_status(&self, trigger: &str) -> Option<SavepointStatus> {
        lock(&self.status).savepoints.get(trigger).cloned()
    }

    fn cancel(&mut self, _now: SimTime) -> Result<(), String> {
        let mut status = lock(&self.status);
        match status.phase {
            Phase::Finished | Phase::Canceled | Phase::Failed => Err(format!(
                "Job {} is already terminal: {}",
                self.job_id,
                status.phase.flink_state()
            )),
            Phase::Cancelling => Ok(()),
            // Nothing runs yet: there is nothing to stop.
            Phase::Created => {
                self.plan = None;
                status.phase = Phase::Canceled;
                Ok(())
            }
            Phase::Starting | Phase::Running | Phase::Stopping => {
                status.phase = Phase::Cancelling;
                drop(status);
                if !self.send(Command::Cancel) {
                    lock(&self.status).phase = Phase::Canceled;
                }
                Ok(())
            }
        }
    }

    fn latest_checkpoint(&self) -> Option<String> {
        lock(&self.status)
            .latest
            .clone()
            .or_else(|| self.restored_from.clone())
    }

    fn restored_from(&self) -> Option<String> {
        self.restored_from.clone()
    }

    fn failure_cause(&self) -> Option<String> {
        let status = lock(&self.status);
        (status.phase == Phase::Failed)
            .then(|| status.failure.clone())
            .flatten()
    }

    fn next_change(&self, now: SimTime, resources: Resources) -> Option<SimTime> {
        let phase = self.phase();
        if phase.pending() {
            return Some(now.plus(self.context.poll));
        }
        match (phase, resources.slots_ready_at) {
            (Phase::Created, Some(at)) => Some(at.max(now.plus(Duration::from_millis(1)))),
            _ => None,
        }
    }
}
