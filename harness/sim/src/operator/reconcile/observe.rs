//! The observe step of a reconcile pass (facts §3.2): the JobManager
//! Deployment while it is not READY (DEPLOYING → DEPLOYED_NOT_READY → READY,
//! or MISSING), then the job over the REST API once it is (state changes with
//! `JobStatusChanged` events, stable-spec marking, the last checkpoint of a
//! finished job, the cause of a failed one), and the cluster info.

use serde_json::Value;

use crate::{
    controllers::events::EventType,
    operator::{
        events::{Component, emit},
        flink::{RestError, lock},
        spec::{EffectiveConfig, FlinkDeploymentSpec, JobState, parse_memory, task_manager_count},
        status::{
            FlinkJobState, JmDeploymentStatus, ReconciliationState, error_json, exception_json,
        },
    },
};

use super::Reconciler;

/// The exception type `status.error` names for a failed job. Real Flink
/// reports the root cause's own class (e.g. a Kafka `TimeoutException`); the
/// simulator's jobs report only a message, so one type stands for all.
const JOB_EXCEPTION: &str = "org.apache.flink.runtime.JobException";

impl Reconciler<'_, '_> {
    /// Observes the cluster and job, updating the in-memory status.
    pub(super) fn observe(&mut self) {
        let Some(recorded) = self.status.reconciliation_status.last_reconciled() else {
            return;
        };
        let cancelling = self.status.job_status.state == Some(FlinkJobState::Cancelling);
        match self.status.reconciliation_status.state {
            // A cancelling job is observed even mid-upgrade (async cancel).
            ReconciliationState::Upgrading | ReconciliationState::RollingBack if !cancelling => {
                return;
            }
            _ => {}
        }
        if self.status.job_manager_deployment_status != JmDeploymentStatus::Ready {
            self.observe_jobmanager_deployment(&recorded.spec);
        }
        if self.status.job_manager_deployment_status == JmDeploymentStatus::Ready {
            match recorded.spec.job {
                Some(_) => self.observe_job(),
                None => self.observe_session(),
            }
            self.observe_cluster_info(&recorded.spec);
        }
        let stable = self.status.reconciliation_status.last_stable_spec
            == self.status.reconciliation_status.last_reconciled_spec;
        let healthy = self.status.job_manager_deployment_status != JmDeploymentStatus::Error
            && self.status.job_status.state != Some(FlinkJobState::Failed);
        if healthy && stable {
            self.status.error = None;
        }
    }

    fn observe_jobmanager_deployment(&mut self, recorded: &FlinkDeploymentSpec) {
        let previous = self.status.job_manager_deployment_status;
        if previous == JmDeploymentStatus::DeployedNotReady {
            // The first observation after the REST-ready delay flips to READY.
            self.status.job_manager_deployment_status = JmDeploymentStatus::Ready;
            return;
        }
        match self.jobmanager_deployment() {
            Some(deployment) => {
                let (namespace, name) = (self.namespace(), self.name());
                if available(&deployment) && lock(self.clusters).rest_ready(&namespace, &name) {
                    self.status.job_manager_deployment_status =
                        JmDeploymentStatus::DeployedNotReady;
                } else if previous == JmDeploymentStatus::Missing {
                    self.status.job_manager_deployment_status = JmDeploymentStatus::Deploying;
                }
                // Seam: pods stuck in ImagePullBackOff / CrashLoopBackOff
                // turn into JobManager ERROR here once the kubelet models them.
            }
            None => {
                // A suspended application whose JobManager is gone is left alone.
                let suspended_app = previous == JmDeploymentStatus::Missing
                    && recorded.job_state() == JobState::Suspended
                    && self.spec_state() == Some(JobState::Suspended);
                if suspended_app {
                    return;
                }
                self.mark_jobmanager_missing(FlinkJobState::Reconciling);
                if !matches!(
                    previous,
                    JmDeploymentStatus::Missing | JmDeploymentStatus::Error
                ) {
                    self.status.error = Some(exception_json(
                        "MissingJobManagerException",
                        "Missing JobManager deployment",
                    ));
                    emit(
                        self.ctx,
                        &self.resource,
                        EventType::Warning,
                        "Missing",
                        "Missing JobManager deployment",
                        Component::JobManagerDeployment,
                    );
                }
            }
        }
    }

    /// The desired job state of the stored spec (before validation).
    fn spec_state(&self) -> Option<JobState> {
        FlinkDeploymentSpec::from_value(&self.resource["spec"])
            .ok()
            .map(|s| s.job_state())
    }

    fn observe_job(&mut self) {
        let (namespace, name) = (self.namespace(), self.name());
        let jobs = lock(self.clusters).jobs(&namespace, &name);
        let jobs = match jobs {
            Ok(jobs) => jobs,
            Err(RestError::Unreachable(_) | RestError::Rejected(_) | RestError::JobNotFound(_)) => {
                // The REST API does not answer: re-check the deployment next pass.
                if self.status.job_status.state == Some(FlinkJobState::Running) {
                    self.set_job_state(FlinkJobState::Reconciling, false);
                }
                self.status.job_manager_deployment_status = JmDeploymentStatus::Deploying;
                return;
            }
        };
        let job_id = self.status.job_status.job_id.clone().unwrap_or_default();
        let Some(details) = jobs.into_iter().find(|j| j.job_id == job_id) else {
            emit(
                self.ctx,
                &self.resource,
                EventType::Warning,
                "Missing",
                "Job Not Found",
                Component::Job,
            );
            self.status.job_status.state = Some(FlinkJobState::Reconciling);
            self.status.error = Some("Job Not Found".into());
            return;
        };
        let previous = self.status.job_status.state;
        self.status.job_status.job_name = Some(details.name.clone());
        self.status.job_status.start_time = Some(details.start_time.0.to_string());
        self.set_job_state(details.state, true);
        if details.state == FlinkJobState::Failed && previous != Some(FlinkJobState::Failed) {
            // JobStatusObserver: the failure cause from the job result goes
            // into status.error and a Warning `Error` event (facts §3.11).
            let cause = details
                .failure
                .clone()
                .unwrap_or_else(|| "Job failed".to_string());
            self.status.error = Some(error_json(JOB_EXCEPTION, &cause));
            emit(
                self.ctx,
                &self.resource,
                EventType::Warning,
                "Error",
                &cause,
                Component::Job,
            );
        }
        if details.state.is_globally_terminal() {
            let checkpoint = lock(self.clusters)
                .latest_checkpoint(&namespace, &name, &job_id)
                .ok()
                .flatten();
            if checkpoint.is_some() {
                self.status.job_status.upgrade_savepoint_path = checkpoint;
            }
        }
        let cancelled = details.state == FlinkJobState::Canceled
            || (previous == Some(FlinkJobState::Cancelling)
                && details.state.is_globally_terminal());
        if cancelled {
            self.mark_recorded_suspended();
        }
        self.check_stable(details.state);
    }

    /// A session cluster is stable once its REST API answers.
    fn observe_session(&mut self) {
        let reachable = lock(self.clusters).rest_ready(&self.namespace(), &self.name());
        if !reachable {
            self.status.job_manager_deployment_status = JmDeploymentStatus::Deploying;
        } else if self.status.reconciliation_status.state == ReconciliationState::Deployed {
            self.status.reconciliation_status.mark_stable();
        }
    }

    /// Moves the job state; observed changes emit `JobStatusChanged`.
    fn set_job_state(&mut self, state: FlinkJobState, observed: bool) {
        let previous = self.status.job_status.state;
        if previous == Some(state) {
            return;
        }
        if observed {
            let message = match previous {
                Some(previous) => format!("Job status changed from {previous} to {state}"),
                None => format!("Job status changed to {state}"),
            };
            emit(
                self.ctx,
                &self.resource,
                EventType::Normal,
                "JobStatusChanged",
                &message,
                Component::Job,
            );
        }
        self.status.job_status.state = Some(state);
        self.status.job_status.update_time = Some(self.now_millis().to_string());
    }

    /// After a cancel, the recorded spec is marked suspended.
    fn mark_recorded_suspended(&mut self) {
        let Some(mut recorded) = self.status.reconciliation_status.last_reconciled() else {
            return;
        };
        let Some(job) = &mut recorded.spec.job else {
            return;
        };
        if job.state == JobState::Suspended {
            return;
        }
        job.state = JobState::Suspended;
        self.status.reconciliation_status.last_reconciled_spec = Some(recorded.to_json());
    }

    /// `checkAndUpdateStableSpec`: RUNNING (or a job that finished by itself
    /// while meant to run) makes the recorded spec stable.
    fn check_stable(&mut self, state: FlinkJobState) {
        let reconciliation = &self.status.reconciliation_status;
        if reconciliation.state != ReconciliationState::Deployed {
            return;
        }
        let desired_running = reconciliation
            .last_reconciled()
            .is_some_and(|r| r.spec.job_state() == JobState::Running);
        if state == FlinkJobState::Running || (state == FlinkJobState::Finished && desired_running)
        {
            self.status.reconciliation_status.mark_stable();
        }
    }

    /// `flink-version`, `total-cpu`, `total-memory` of the deployed spec.
    fn observe_cluster_info(&mut self, recorded: &FlinkDeploymentSpec) {
        let config = EffectiveConfig::new(&self.config.default_flink_config, recorded);
        let jm = recorded.job_manager.clone().unwrap_or_default();
        let tm = recorded.task_manager.clone().unwrap_or_default();
        let task_managers = task_manager_count(recorded, &config) as f64;
        let cpu = |r: &Option<crate::operator::spec::Resource>| {
            r.as_ref().and_then(|r| r.cpu).unwrap_or(1.0)
        };
        let memory = |r: &Option<crate::operator::spec::Resource>, key: &str| {
            r.as_ref()
                .and_then(|r| r.memory.as_deref())
                .or_else(|| config.get(key))
                .and_then(|m| parse_memory(m).ok())
                .unwrap_or(0)
        };
        let total_cpu = cpu(&jm.resource) * jm.replicas as f64 + cpu(&tm.resource) * task_managers;
        let total_memory = memory(&jm.resource, "jobmanager.memory.process.size")
            * jm.replicas.max(0) as u64
            + memory(&tm.resource, "taskmanager.memory.process.size") * task_managers as u64;
        let info = &mut self.status.cluster_info;
        if let Some(version) = recorded.flink_version {
            info.insert("flink-version".into(), version.release().into());
        }
        info.insert("total-cpu".into(), format!("{total_cpu:?}"));
        info.insert("total-memory".into(), total_memory.to_string());
    }
}

/// Whether the Deployment has a replica available (one JobManager is
/// enough to run the job).
fn available(deployment: &Value) -> bool {
    deployment["status"]["replicas"].as_i64().unwrap_or(0) > 0
        && deployment["status"]["availableReplicas"]
            .as_i64()
            .unwrap_or(0)
            > 0
}
