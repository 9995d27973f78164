//! The job a simulated JobManager runs, behind the [`JobModel`] seam.
//!
//! The JobManager process model ([`super::FlinkRuntime`]) owns one job per
//! cluster and talks to it only through this trait: it advances the job's
//! clock with the task slots it has, asks for its state (what Flink's REST
//! API reports), and forwards the operator's requests (stop with savepoint,
//! cancel), which are answered asynchronously: a request returns a trigger
//! and completes at some later virtual time.
//!
//! [`ModelledJob`] is the modelled job. A [`JobFactory`] chooses the job per
//! submission: the harness's `sim` backend gives FlinkDeployments annotated
//! `harness.flink.dev/job: feature-pipeline` a job backed by the real
//! pipeline (`harness::cluster::pipeline_job`), whose savepoints hold real
//! offsets and window state, and every other one a [`ModelledJob`].

use std::{collections::BTreeMap, time::Duration};

use crate::{
    clock::SimTime,
    controllers::meta,
    operator::{spec::parse_duration, status::FlinkJobState},
};

/// Everything a job is submitted with.
#[derive(Debug, Clone)]
pub struct JobSubmission<'a> {
    /// Namespace of the Flink cluster.
    pub namespace: &'a str,
    /// `kubernetes.cluster-id` (the FlinkDeployment's name).
    pub cluster: &'a str,
    /// The fixed JobID (`$internal.pipeline.job-id`), 32 hex digits.
    pub job_id: &'a str,
    /// `pipeline.name`.
    pub job_name: &'a str,
    /// The cluster's whole Flink configuration (the entry class and program
    /// arguments are in it as `$internal.application.main` and
    /// `$internal.application.program-args`, as in a real cluster's).
    pub conf: &'a BTreeMap<String, String>,
    /// The FlinkDeployment's `metadata.annotations` when the JobManager
    /// started. A real JobManager never sees them: they are the simulator's
    /// way of marking which job a factory should run.
    pub annotations: &'a BTreeMap<String, String>,
    /// Savepoint or checkpoint to restore from (`execution.savepoint.path`,
    /// or the HA store's latest checkpoint).
    pub restore_from: Option<&'a str>,
    /// When the JobManager submitted it (REST endpoint up).
    pub submitted_at: SimTime,
}

/// What the cluster gives the job at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resources {
    /// When enough task slots for the job's parallelism had registered, or
    /// `None` while there are not enough.
    pub slots_ready_at: Option<SimTime>,
}

/// The answer to a savepoint trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SavepointStatus {
    /// Still being written.
    InProgress,
    /// Written; the savepoint's location.
    Completed(String),
    /// Failed with this cause.
    Failed(String),
}

/// A Flink job as its JobManager sees it; see the module doc.
pub trait JobModel: Send {
    /// Moves the job to virtual time `now`.
    fn advance(&mut self, now: SimTime, resources: Resources);

    /// The effective state Flink's REST API reports (CREATED until all tasks run).
    fn state(&self) -> FlinkJobState;

    /// When the job was submitted (`start-time` in the job details).
    fn start_time(&self) -> SimTime;

    /// Starts stop-with-savepoint into `directory`; returns the trigger id.
    /// With `drain` (Flink's `stop --drain`) every event-time window fires
    /// before the savepoint is taken.
    fn stop_with_savepoint(
        &mut self,
        directory: &str,
        drain: bool,
        now: SimTime,
    ) -> Result<String, String>;

    /// The state of a savepoint trigger, `None` for an unknown trigger.
    fn savepoint_status(&self, trigger: &str) -> Option<SavepointStatus>;

    /// Starts cancelling the job.
    fn cancel(&mut self, now: SimTime) -> Result<(), String>;

    /// The newest completed checkpoint or savepoint, as of the last advance.
    fn latest_checkpoint(&self) -> Option<String>;

    /// What the job was restored from.
    fn restored_from(&self) -> Option<String>;

    /// Why the job FAILED (the root cause Flink's job result carries), while
    /// it is FAILED.
    fn failure_cause(&self) -> Option<String> {
        None
    }

    /// The next virtual time after `now` at which the job changes on its
    /// own, given the resources it has.
    fn next_change(&self, now: SimTime, resources: Resources) -> Option<SimTime>;
}

/// Creates the job for a submission; the seam where a FlinkDeployment can be
/// given a real job instead of a modelled one.
pub trait JobFactory: Send + Sync {
    /// The job that `submission` starts.
    fn create(&self, submission: &JobSubmission<'_>) -> Box<dyn JobModel>;
}

/// How long the modelled job's steps take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobTimings {
    /// From "all slots registered" to all tasks RUNNING.
    pub task_deploy: Duration,
    /// Writing the savepoint of a stop-with-savepoint.
    pub savepoint: Duration,
    /// From a cancel request to CANCELED.
    pub cancel: Duration,
}

/// The factory of [`ModelledJob`]s.
#[derive(Debug, Clone)]
pub struct ModelledJobs {
    /// Step durations for every job it creates.
    pub timings: JobTimings,
}

impl JobFactory for ModelledJobs {
    fn create(&self, submission: &JobSubmission<'_>) -> Box<dyn JobModel> {
        Box::new(ModelledJob::new(submission, self.timings))
    }
}

/// A job modelled as a state machine with durations: CREATED until its
/// slots register, RUNNING after the task deployment time, checkpoints every
/// `execution.checkpointing.interval`, savepoints and cancellation taking
/// their modelled times.
///
/// Fidelity: the job never fails or restarts by itself, and losing a
/// TaskManager does not make it restart (that comes with pod faults).
/// Checkpoint numbering restarts at 1 after a restore. It has no event-time
/// windows, so `drain` changes nothing.
#[derive(Debug)]
pub struct ModelledJob {
    job_id: String,
    submitted_at: SimTime,
    restored_from: Option<String>,
    timings: JobTimings,
    checkpoints_dir: Option<String>,
    checkpoint_interval: Option<Duration>,
    phase: Phase,
    running_since: Option<SimTime>,
    /// When the job stopped running (savepoint written, cancelled).
    running_until: Option<SimTime>,
    /// trigger id -> (completion time, location).
    savepoints: BTreeMap<String, (SimTime, String)>,
    clock: SimTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Created,
    Running,
    Stopping { done_at: SimTime },
    Cancelling { done_at: SimTime },
    Finished,
    Canceled,
}

impl ModelledJob {
    /// A freshly submitted job.
    pub fn new(submission: &JobSubmission<'_>, timings: JobTimings) -> ModelledJob {
        let conf = submission.conf;
        let get = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| conf.get(*k))
                .filter(|v| !v.trim().is_empty())
                .cloned()
        };
        ModelledJob {
            job_id: submission.job_id.to_string(),
            submitted_at: submission.submitted_at,
            restored_from: submission.restore_from.map(str::to_string),
            timings,
            checkpoints_dir: get(&crate::operator::spec::CHECKPOINTS_DIR),
            checkpoint_interval: get(&["execution.checkpointing.interval"])
                .and_then(|v| parse_duration(&v))
                .filter(|d| !d.is_zero()),
            phase: Phase::Created,
            running_since: None,
            running_until: None,
            savepoints: BTreeMap::new(),
            clock: submission.submitted_at,
        }
    }

    fn running_at(&self, resources: Resources) -> Option<SimTime> {
        resources
            .slots_ready_at
            .map(|ready| ready.max(self.submitted_at).plus(self.timings.task_deploy))
    }

    /// The newest periodic checkpoint completed by `at`, with its time.
    fn checkpoint_at(&self, at: SimTime) -> Option<(SimTime, String)> {
        let (since, interval, dir) = (
            self.running_since?,
            self.checkpoint_interval?,
            self.checkpoints_dir.as_ref()?,
        );
        let until = self.running_until.map_or(at, |u| u.min(at));
        let count = until.since(since).as_millis() / interval.as_millis().max(1);
        (count >= 1).then(|| {
            let taken = since.plus(interval * count as u32);
            (
                taken,
                format!("{}/{}/chk-{count}", dir.trim_end_matches('/'), self.job_id),
            )
        })
    }
}

impl JobModel for ModelledJob {
    fn advance(&mut self, now: SimTime, resources: Resources) {
        self.clock = self.clock.max(now);
        match self.phase {
            Phase::Created => {
                if let Some(at) = self.running_at(resources).filter(|at| *at <= now) {
                    self.phase = Phase::Running;
                    self.running_since = Some(at);
                }
            }
            Phase::Stopping { done_at } if done_at <= now => {
                self.phase = Phase::Finished;
                self.running_until = Some(done_at);
            }
            Phase::Cancelling { done_at } if done_at <= now => {
                self.phase = Phase::Canceled;
                self.running_until.get_or_insert(done_at);
            }
            _ => {}
        }
    }

    fn state(&self) -> FlinkJobState {
        match self.phase {
            Phase::Created => FlinkJobState::Created,
            // The job keeps running while its final savepoint is written.
            Phase::Running | Phase::Stopping { .. } => FlinkJobState::Running,
            Phase::Cancelling { .. } => FlinkJobState::Cancelling,
            Phase::Finished => FlinkJobState::Finished,
            Phase::Canceled => FlinkJobState::Canceled,
        }
    }

    fn start_time(&self) -> SimTime {
        self.submitted_at
    }

    fn stop_with_savepoint(
        &mut self,
        directory: &str,
        _drain: bool,
        now: SimTime,
    ) -> Result<String, String> {
        if self.phase != Phase::Running {
            return Err(format!(
                "Job {} is not running: {}",
                self.job_id,
                self.state()
            ));
        }
        let seed = format!("{}/{}", self.job_id, now.0);
        let trigger = meta::digest_hex(&format!("trigger/{seed}"), 32);
        let location = format!(
            "{}/savepoint-{}-{}",
            directory.trim_end_matches('/'),
            &self.job_id[..6.min(self.job_id.len())],
            meta::digest_hex(&seed, 12)
        );
        self.clock = self.clock.max(now);
        let done_at = now.plus(self.timings.savepoint);
        self.savepoints.insert(trigger.clone(), (done_at, location));
        self.phase = Phase::Stopping { done_at };
        Ok(trigger)
    }

    fn savepoint_status(&self, trigger: &str) -> Option<SavepointStatus> {
        let (done_at, location) = self.savepoints.get(trigger)?;
        Some(if *done_at <= self.clock {
            SavepointStatus::Completed(location.clone())
        } else {
            SavepointStatus::InProgress
        })
    }

    fn cancel(&mut self, now: SimTime) -> Result<(), String> {
        match self.phase {
            Phase::Finished | Phase::Canceled => Err(format!(
                "Job {} is already terminal: {}",
                self.job_id,
                self.state()
            )),
            Phase::Cancelling { .. } => Ok(()),
            _ => {
                self.running_until = Some(now);
                self.phase = Phase::Cancelling {
                    done_at: now.plus(self.timings.cancel),
                };
                Ok(())
            }
        }
    }

    fn latest_checkpoint(&self) -> Option<String> {
        let checkpoint = self.checkpoint_at(self.clock);
        let savepoint = self
            .savepoints
            .values()
            .filter(|(done, _)| *done <= self.clock)
            .max_by_key(|(done, _)| *done)
            .cloned();
        match (checkpoint, savepoint) {
            (Some(c), Some(s)) => Some(if s.0 >= c.0 { s.1 } else { c.1 }),
            (c, s) => c.or(s).map(|(_, path)| path),
        }
        .or_else(|| self.restored_from.clone())
    }

    fn restored_from(&self) -> Option<String> {
        self.restored_from.clone()
    }

    fn next_change(&self, now: SimTime, resources: Resources) -> Option<SimTime> {
        let at = match self.phase {
            Phase::Created => self.running_at(resources),
            Phase::Stopping { done_at } | Phase::Cancelling { done_at } => Some(done_at),
            _ => None,
        };
        at.filter(|at| *at > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: SimTime = SimTime(1_000_000);
    static NO_ANNOTATIONS: BTreeMap<String, String> = BTreeMap::new();

    fn job(conf: &BTreeMap<String, String>) -> ModelledJob {
        let submission = JobSubmission {
            namespace: "ns",
            cluster: "c",
            job_id: "0123456789abcdef0123456789abcdef",
            job_name: "c",
            conf,
            annotations: &NO_ANNOTATIONS,
            restore_from: None,
            submitted_at: T,
        };
        let timings = JobTimings {
            task_deploy: Duration::from_secs(1),
            savepoint: Duration::from_secs(3),
            cancel: Duration::from_secs(1),
        };
        ModelledJob::new(&submission, timings)
    }

    #[test]
    fn runs_once_slots_register_and_stops_with_a_savepoint() {
        let conf = BTreeMap::new();
        let mut job = job(&conf);
        let none = Resources {
            slots_ready_at: None,
        };
        job.advance(T.plus(Duration::from_secs(5)), none);
        assert_eq!(job.state(), FlinkJobState::Created, "no slots, no tasks");
        let ready = Resources {
            slots_ready_at: Some(T.plus(Duration::from_secs(10))),
        };
        assert_eq!(
            job.next_change(T, ready),
            Some(T.plus(Duration::from_secs(11)))
        );
        job.advance(T.plus(Duration::from_secs(11)), ready);
        assert_eq!(job.state(), FlinkJobState::Running);

        let at = T.plus(Duration::from_secs(20));
        let trigger = job.stop_with_savepoint("file:///sp/", false, at).unwrap();
        assert_eq!(
            job.savepoint_status(&trigger),
            Some(SavepointStatus::InProgress)
        );
        assert_eq!(
            job.state(),
            FlinkJobState::Running,
            "running until the savepoint is written"
        );
        job.advance(at.plus(Duration::from_secs(3)), ready);
        let Some(SavepointStatus::Completed(location)) = job.savepoint_status(&trigger) else {
            panic!("savepoint should be done")
        };
        assert!(
            location.starts_with("file:///sp/savepoint-012345-"),
            "{location}"
        );
        assert_eq!(location.len(), "file:///sp/savepoint-012345-".len() + 12);
        assert_eq!(job.state(), FlinkJobState::Finished);
        assert_eq!(
            job.latest_checkpoint(),
            Some(location),
            "the final savepoint is the latest snapshot"
        );
        assert!(
            job.stop_with_savepoint("file:///sp", false, at).is_err(),
            "a finished job cannot be stopped"
        );
    }

    #[test]
    fn checkpoints_follow_the_interval_and_stop_with_the_job() {
        let conf: BTreeMap<String, String> = [
            (
                "execution.checkpointing.interval".to_string(),
                "60s".to_string(),
            ),
            (
                "state.checkpoints.dir".to_string(),
                "file:///cp".to_string(),
            ),
        ]
        .into();
        let mut job = job(&conf);
        let ready = Resources {
            slots_ready_at: Some(T),
        };
        job.advance(T.plus(Duration::from_secs(1)), ready);
        assert_eq!(job.latest_checkpoint(), None);
        job.advance(T.plus(Duration::from_secs(1 + 150)), ready);
        assert_eq!(
            job.latest_checkpoint().as_deref(),
            Some("file:///cp/0123456789abcdef0123456789abcdef/chk-2")
        );
        job.cancel(T.plus(Duration::from_secs(200))).unwrap();
        job.advance(T.plus(Duration::from_secs(1000)), ready);
        assert_eq!(job.state(), FlinkJobState::Canceled);
        assert_eq!(
            job.latest_checkpoint().as_deref(),
            Some("file:///cp/0123456789abcdef0123456789abcdef/chk-3"),
            "no checkpoints after cancel"
        );
    }
}
