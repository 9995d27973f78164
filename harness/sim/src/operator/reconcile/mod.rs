//! One reconcile pass over a FlinkDeployment, in the order of
//! `FlinkDeploymentController#reconcile`: observe, validate (and fall back
//! to the last reconciled spec on failure), write the status ahead of any
//! cluster action, reconcile the spec (first deployment, upgrade, suspend,
//! resume, or other changes), then set the `Running` condition, write the
//! status and pick the reschedule delay.
//!
//! Operations the real operator blocks on (stop-with-savepoint, waiting for
//! a deleted cluster to be gone) end the pass with a [`Blocked`] marker; the
//! controller polls it on every pass and the rest of the work resumes where
//! the real reconcile thread would have continued.

mod observe;

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};

use crate::{
    clock::SimTime,
    cluster::Ctx,
    controllers::{events::EventType, meta},
    operator::{
        API_VERSION, FINALIZER, OperatorConfig, Tracked,
        diff::{DiffType, diff},
        events::{Component, emit, emit_once},
        flink::{self, SharedClusters, job::SavepointStatus, lock, manifests},
        spec::{
            EffectiveConfig, FlinkDeploymentSpec, JobState, ReconciliationMetadata, SpecWithMeta,
            UpgradeMode, effective_parallelism, parse_memory, task_manager_count,
        },
        status::{
            FlinkDeploymentStatus, FlinkJobState, JmDeploymentStatus, Lifecycle,
            ReconciliationState, Savepoint, TaskManagerInfo, exception_json, lifecycle,
            running_condition,
        },
        validate::validate_deployment,
    },
    resource::ResourceType,
};

/// Whether stop-with-savepoint drains the job (fires every event-time
/// window first); an operator setting, so changing it is an IGNORE diff.
const DRAIN_ON_SAVEPOINT: &str = "kubernetes.operator.job.drain-on-savepoint-deletion";

/// A reconcile that is waiting for something before it can go on.
pub(crate) enum Blocked {
    /// Stop-with-savepoint in flight (pass 1 of a savepoint upgrade or suspend).
    Savepoint {
        spec: Box<FlinkDeploymentSpec>,
        job_id: String,
        trigger: String,
        deadline: SimTime,
        restore: UpgradeMode,
    },
    /// A deleted cluster's objects are not all gone yet.
    ClusterGone {
        deployment_uid: String,
        deadline: SimTime,
        then: AfterShutdown,
    },
}

/// What a reconcile does once the old cluster is gone.
pub(crate) enum AfterShutdown {
    /// Deploy the new cluster.
    Deploy(Box<DeployPlan>),
    /// Finish pass 1 of an upgrade or a suspend.
    FinishSuspend {
        spec: Box<FlinkDeploymentSpec>,
        restore: UpgradeMode,
    },
    /// Remove the finalizer of a resource being deleted.
    RemoveFinalizer,
}

impl Blocked {
    /// When the controller should look again even if nothing changes.
    pub(crate) fn poll_at(&self, now: SimTime) -> SimTime {
        match self {
            Blocked::Savepoint { deadline, .. } => *deadline,
            Blocked::ClusterGone { deadline, .. } => {
                now.plus(Duration::from_secs(1)).min(*deadline)
            }
        }
    }
}

/// A deployment about to be made.
pub(crate) struct DeployPlan {
    /// The spec to deploy (its upgrade mode is the one recorded afterwards).
    spec: FlinkDeploymentSpec,
    /// `execution.savepoint.path`.
    restore_from: Option<String>,
    /// Keep the JobID (last-state restores) instead of generating one.
    keep_job_id: bool,
    /// Whether this is the resource's first deployment.
    first: bool,
}

/// How the running job is stopped for an upgrade or suspend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SuspendMode {
    /// Nothing to stop (the job is already terminal).
    Noop,
    /// Cancel and delete the cluster and HA data.
    Stateless,
    /// Stop with a savepoint; native mode keeps the JobManager.
    Savepoint,
    /// Delete the cluster, keep the HA data.
    LastState,
    /// Cancel asynchronously, restore from the last checkpoint.
    Cancel,
}

/// The outcome of the upgrade decision (facts §3.5).
enum JobUpgrade {
    Go {
        suspend: SuspendMode,
        restore: UpgradeMode,
    },
    Wait,
    Fail(String),
}

/// The state of one reconcile pass.
pub(crate) struct Reconciler<'a, 'c> {
    ctx: &'a mut Ctx<'c>,
    rt: &'a ResourceType,
    config: &'a OperatorConfig,
    clusters: &'a SharedClusters,
    tracked: &'a mut Tracked,
    /// The resource as last written or read.
    resource: Arc<Value>,
    status: FlinkDeploymentStatus,
    /// The spec being reconciled (the last reconciled one after a validation error).
    spec: FlinkDeploymentSpec,
    state_at_start: ReconciliationState,
}

impl<'a, 'c> Reconciler<'a, 'c> {
    pub(crate) fn new(
        ctx: &'a mut Ctx<'c>,
        rt: &'a ResourceType,
        config: &'a OperatorConfig,
        clusters: &'a SharedClusters,
        tracked: &'a mut Tracked,
        resource: Arc<Value>,
    ) -> Reconciler<'a, 'c> {
        let status: FlinkDeploymentStatus =
            serde_json::from_value(resource["status"].clone()).unwrap_or_default();
        let state_at_start = status.reconciliation_status.state;
        Reconciler {
            ctx,
            rt,
            config,
            clusters,
            tracked,
            resource,
            status,
            spec: FlinkDeploymentSpec::default(),
            state_at_start,
        }
    }

    fn name(&self) -> String {
        meta::name(&self.resource).to_string()
    }

    fn namespace(&self) -> String {
        meta::namespace(&self.resource).to_string()
    }

    fn now_millis(&self) -> i64 {
        self.ctx.now.0
    }

    /// Runs the pass; returns the reschedule delay (`None`: no reschedule).
    pub(crate) fn run(mut self) -> Option<Duration> {
        if meta::is_terminating(&self.resource) {
            return self.cleanup();
        }
        if !self.ensure_finalizer() {
            return Some(self.config.timings.progress_check);
        }
        if let Some(blocked) = self.tracked.blocked.take() {
            return self.resume(blocked);
        }
        let spec = FlinkDeploymentSpec::from_value(&self.resource["spec"]);
        if let Some(version) = spec
            .as_ref()
            .ok()
            .and_then(|s| s.flink_version)
            .filter(|v| !v.is_supported())
        {
            let message = format!(
                "Flink version {} is not supported by this operator version",
                version.as_str()
            );
            emit(
                self.ctx,
                &self.resource,
                EventType::Warning,
                "UnsupportedFlinkVersion",
                &message,
                Component::Operator,
            );
            return None;
        }
        self.observe();
        let validation = spec.and_then(|spec| {
            validate_deployment(
                &self.name(),
                &spec,
                &self.status,
                &self.config.default_flink_config,
            )
            .map(|()| spec)
        });
        match validation {
            Ok(spec) => self.spec = spec,
            Err(message) => {
                emit(
                    self.ctx,
                    &self.resource,
                    EventType::Warning,
                    "ValidationError",
                    &message,
                    Component::Operator,
                );
                self.status.error = Some(exception_json("ValidationException", &message));
                let Some(recorded) = self.status.reconciliation_status.last_reconciled() else {
                    // Nothing was ever deployed: nothing to reconcile.
                    self.write_status();
                    return None;
                };
                // Keep reconciling what was deployed before.
                self.spec = recorded.spec;
                if self.status.reconciliation_status.state == ReconciliationState::Upgrading
                    && let Some(job) = &mut self.spec.job
                {
                    job.state = JobState::Running;
                }
            }
        }
        self.write_status();
        self.reconcile_spec();
        self.finish()
    }

    /// Sets the Running condition, writes the status and picks the delay.
    fn finish(&mut self) -> Option<Duration> {
        if self.tracked.blocked.is_some() {
            self.write_status();
            return Some(self.config.timings.reconcile_interval);
        }
        self.status.conditions = running_condition(&self.status, &self.ctx.now.rfc3339());
        self.write_status();
        let timings = &self.config.timings;
        let upgrade_started = self.status.reconciliation_status.state
            == ReconciliationState::Upgrading
            && self.state_at_start != ReconciliationState::Upgrading;
        Some(
            if self.status.job_status.state == Some(FlinkJobState::Cancelling) {
                timings.progress_check
            } else if upgrade_started {
                Duration::ZERO
            } else {
                match self.status.job_manager_deployment_status {
                    JmDeploymentStatus::Deploying => timings.progress_check,
                    JmDeploymentStatus::DeployedNotReady => timings.rest_ready_delay,
                    _ => timings.reconcile_interval,
                }
            },
        )
    }

    /// JOSDK adds its finalizer before the first reconcile.
    fn ensure_finalizer(&mut self) -> bool {
        let has = self.resource["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == FINALIZER));
        if has {
            return true;
        }
        let mut updated = (*self.resource).clone();
        match updated["metadata"]["finalizers"].as_array_mut() {
            Some(finalizers) => finalizers.push(json!(FINALIZER)),
            None => updated["metadata"]["finalizers"] = json!([FINALIZER]),
        }
        match meta::write_main(self.ctx.store, self.rt, updated, self.ctx.now) {
            Ok(written) => {
                self.resource = written;
                true
            }
            Err(err) => {
                tracing::debug!(resource = %self.name(), %err, "could not add the finalizer");
                false
            }
        }
    }

    /// Writes the status (with its lifecycle state) if it changed.
    pub(super) fn write_status(&mut self) {
        self.status.lifecycle_state = Some(lifecycle(&self.status));
        let Ok(value) = serde_json::to_value(&self.status) else {
            return;
        };
        let current = self
            .ctx
            .store
            .get(&meta::key_of(self.rt, &self.resource))
            .cloned()
            .unwrap_or_else(|| self.resource.clone());
        match meta::write_status(self.ctx.store, self.rt, &current, value, self.ctx.now) {
            Ok(written) => self.resource = written,
            Err(err) => tracing::debug!(resource = %self.name(), %err, "status write failed"),
        }
    }

    fn effective_config(&self, spec: &FlinkDeploymentSpec) -> EffectiveConfig {
        EffectiveConfig::new(&self.config.default_flink_config, spec)
    }

    fn jobmanager_deployment(&self) -> Option<Arc<Value>> {
        let (namespace, name) = (self.namespace(), self.name());
        self.ctx
            .store
            .list("apps", "deployments", Some(&namespace))
            .find(|d| meta::name(d) == name)
            .cloned()
    }

    /// Whether the observed job has ended globally (FAILED, CANCELED or
    /// FINISHED).
    fn job_ended(&self) -> bool {
        self.status
            .job_status
            .state
            .is_some_and(FlinkJobState::is_globally_terminal)
    }

    /// Records that the JobManager Deployment is gone: `MISSING`, and
    /// `job_state` unless the job has ended globally (an ended job keeps its
    /// terminal state).
    fn mark_jobmanager_missing(&mut self, job_state: FlinkJobState) {
        self.status.job_manager_deployment_status = JmDeploymentStatus::Missing;
        if !self.job_ended() {
            self.status.job_status.state = Some(job_state);
        }
    }

    // ---- spec reconciliation -------------------------------------------

    fn reconcile_spec(&mut self) {
        let Some(recorded) = self.status.reconciliation_status.last_reconciled() else {
            self.first_deploy();
            return;
        };
        let difference = diff(&recorded.spec, &self.spec);
        let upgrading = self.status.reconciliation_status.state == ReconciliationState::Upgrading;
        if difference.kind == DiffType::Ignore && !upgrading {
            // IGNORE-only changes just refresh the observed generation.
            self.status.observed_generation = Some(meta::generation(&self.resource));
            self.reconcile_other_changes(&recorded.spec);
            return;
        }
        if !upgrading {
            let generation = meta::generation(&self.resource);
            emit_once(
                self.ctx,
                &self.resource,
                EventType::Normal,
                "SpecChanged",
                &difference.event_message(),
                Component::JobManagerDeployment,
                &format!("SpecChange: {generation}"),
            );
        }
        self.reconcile_spec_change(&recorded.spec);
    }

    fn first_deploy(&mut self) {
        if self.spec.job_state() == JobState::Suspended {
            // Created suspended: nothing is deployed until it is set running.
            return;
        }
        let initial = self
            .spec
            .job
            .as_ref()
            .and_then(|j| j.initial_savepoint_path.clone());
        let mut to_deploy = self.spec.clone();
        if let Some(job) = &mut to_deploy.job {
            // The first deployment is recorded as stateless, or savepoint when
            // it starts from an initial savepoint, whatever the user asked for.
            job.upgrade_mode = if initial.is_some() {
                UpgradeMode::Savepoint
            } else {
                UpgradeMode::Stateless
            };
        }
        if initial.is_some() {
            self.status.job_status.upgrade_savepoint_path = initial.clone();
        }
        self.record_before_deployment(&to_deploy, true);
        self.write_status();
        self.deploy(DeployPlan {
            spec: to_deploy,
            restore_from: initial,
            keep_job_id: false,
            first: true,
        });
    }

    fn reconcile_spec_change(&mut self, recorded: &FlinkDeploymentSpec) {
        if self.spec.job.is_none() {
            // Session cluster: delete it (HA kept) and deploy the new spec.
            let spec = self.spec.clone();
            self.record_before_deployment(&spec, false);
            self.write_status();
            self.deploy(DeployPlan {
                spec,
                restore_from: None,
                keep_job_id: true,
                first: false,
            });
            return;
        }
        let current = recorded.job_state();
        let desired = self.spec.job_state();
        match (current, desired) {
            (JobState::Running, _) => self.suspend_running_job(),
            (JobState::Suspended, JobState::Running) => self.restore(recorded),
            (JobState::Suspended, JobState::Suspended) => {
                let spec = self.spec.clone();
                self.record_deployed(&spec, false);
            }
        }
    }

    /// Pass 1 of an upgrade, or a suspend: stop the job as the upgrade mode says.
    fn suspend_running_job(&mut self) {
        let (suspend, restore) = match self.job_upgrade() {
            JobUpgrade::Go { suspend, restore } => (suspend, restore),
            JobUpgrade::Wait => return,
            JobUpgrade::Fail(message) => {
                self.upgrade_failed("UpgradeFailed", &message);
                return;
            }
        };
        if suspend != SuspendMode::Noop {
            emit(
                self.ctx,
                &self.resource,
                EventType::Normal,
                "Suspended",
                "Suspending existing deployment.",
                Component::JobManagerDeployment,
            );
        }
        let (namespace, name) = (self.namespace(), self.name());
        let job_id = self.status.job_status.job_id.clone().unwrap_or_default();
        let spec = Box::new(self.spec.clone());
        match suspend {
            SuspendMode::Noop => self.finish_suspend(&spec, restore),
            SuspendMode::Stateless | SuspendMode::LastState => {
                if suspend == SuspendMode::Stateless {
                    // Errors are ignored: the cluster is deleted either way.
                    let _ = lock(self.clusters).cancel(&namespace, &name, &job_id, self.ctx.now);
                }
                self.delete_cluster(
                    suspend == SuspendMode::Stateless,
                    AfterShutdown::FinishSuspend { spec, restore },
                );
            }
            SuspendMode::Savepoint => {
                // The real operator reads both from its observe config, which
                // takes `kubernetes.operator.*` keys and the savepoint
                // directory from the current spec: the current spec's value
                // counts even when it arrives with the suspend itself.
                let config = self.effective_config(&self.spec);
                let directory = config.savepoints_dir().unwrap_or_default().to_string();
                let drain = config.flag(DRAIN_ON_SAVEPOINT, false);
                let result = lock(self.clusters).stop_with_savepoint(
                    &namespace,
                    &name,
                    &job_id,
                    &directory,
                    drain,
                    self.ctx.now,
                );
                match result {
                    Ok(trigger) => {
                        let deadline = self.ctx.now.plus(self.config.timings.savepoint_timeout);
                        self.tracked.blocked = Some(Blocked::Savepoint {
                            spec,
                            job_id,
                            trigger,
                            deadline,
                            restore,
                        });
                    }
                    Err(err) => {
                        self.upgrade_failed("SavepointError", &format!("Savepoint failed: {err}"))
                    }
                }
            }
            SuspendMode::Cancel => {
                let result = lock(self.clusters).cancel(&namespace, &name, &job_id, self.ctx.now);
                if let Err(err) = result {
                    self.upgrade_failed(
                        "UpgradeFailed",
                        &format!("Could not cancel the job: {err}"),
                    );
                    return;
                }
                self.status.job_status.state = Some(FlinkJobState::Cancelling);
                // Record the restore mode and wait; the observer marks the
                // spec suspended once it sees the job CANCELED.
                let mut recorded = self.spec.clone();
                if let Some(job) = &mut recorded.job {
                    job.upgrade_mode = restore;
                    job.state = JobState::Running;
                }
                self.set_recorded(&recorded, false);
                self.status.reconciliation_status.state = ReconciliationState::Upgrading;
            }
        }
    }

    /// The end of pass 1: record the suspended spec (UPGRADING when it is to
    /// run again, which requeues at once), or the suspended state for good.
    fn finish_suspend(&mut self, spec: &FlinkDeploymentSpec, restore: UpgradeMode) {
        let mut recorded = spec.clone();
        if let Some(job) = &mut recorded.job {
            job.upgrade_mode = restore;
        }
        if spec.job_state() == JobState::Running {
            self.record_before_deployment(&recorded, false);
        } else {
            self.record_deployed(&recorded, false);
        }
    }

    /// Pass 2, or a resume: start the job again from what pass 1 left.
    fn restore(&mut self, recorded: &FlinkDeploymentSpec) {
        let mode = match self.spec.upgrade_mode() {
            UpgradeMode::Stateless => UpgradeMode::Stateless,
            _ => recorded.upgrade_mode(),
        };
        let ha = self.effective_config(&self.spec).ha_enabled();
        let (restore_from, keep_job_id) = match mode {
            UpgradeMode::Stateless => (None, false),
            UpgradeMode::Savepoint => {
                (self.status.job_status.upgrade_savepoint_path.clone(), false)
            }
            UpgradeMode::LastState if ha => {
                if !flink::ha_metadata_available(self.ctx, &self.namespace(), &self.name()) {
                    self.upgrade_failed(
                        "RestoreFailed",
                        "HA metadata is not available to restore from last state. It is possible that the job has finished or \
                         terminally failed, or the configmaps have been deleted.",
                    );
                    return;
                }
                (None, true)
            }
            UpgradeMode::LastState => {
                (self.status.job_status.upgrade_savepoint_path.clone(), false)
            }
        };
        let mut to_deploy = self.spec.clone();
        if let Some(job) = &mut to_deploy.job {
            job.upgrade_mode = mode;
        }
        self.record_before_deployment(&to_deploy, false);
        self.write_status();
        self.deploy(DeployPlan {
            spec: to_deploy,
            restore_from,
            keep_job_id,
            first: false,
        });
    }

    /// Deploys `plan`, deleting a cluster that is still there first.
    fn deploy(&mut self, plan: DeployPlan) {
        if self.jobmanager_deployment().is_some() {
            let delete_ha = !plan.keep_job_id;
            self.delete_cluster(delete_ha, AfterShutdown::Deploy(Box::new(plan)));
            return;
        }
        self.submit(plan);
    }

    /// Creates the cluster: JobManager Deployment, Services, configuration.
    fn submit(&mut self, plan: DeployPlan) {
        let session = plan.spec.job.is_none();
        let job_id = match (&self.status.job_status.job_id, plan.keep_job_id) {
            _ if session => None,
            (Some(id), true) => Some(id.clone()),
            _ => Some(self.ctx.rng.hex(32)),
        };
        if job_id.is_some() {
            self.status.job_status.job_id = job_id.clone();
            self.write_status();
        }
        emit(
            self.ctx,
            &self.resource,
            EventType::Normal,
            "Submit",
            "Starting deployment",
            Component::JobManagerDeployment,
        );
        if let Err(err) = self.create_cluster(&plan, job_id.as_deref()) {
            tracing::debug!(resource = %self.name(), %err, "could not create the cluster");
            emit(
                self.ctx,
                &self.resource,
                EventType::Warning,
                "Error",
                &err.message,
                Component::JobManagerDeployment,
            );
            self.status.error = Some(exception_json("ReconciliationException", &err.message));
            return;
        }
        if !session {
            self.status.job_status.state = Some(FlinkJobState::Reconciling);
        }
        self.status.job_manager_deployment_status = JmDeploymentStatus::Deploying;
        let mut recorded = plan.spec.clone();
        if let Some(job) = &mut recorded.job {
            job.state = JobState::Running;
        }
        self.record_deployed(&recorded, plan.first);
    }

    fn create_cluster(
        &mut self,
        plan: &DeployPlan,
        job_id: Option<&str>,
    ) -> Result<(), crate::error::ApiError> {
        let definition = self.cluster_definition(plan, job_id);
        let deployment_type = meta::kind(self.ctx.registry, "apps", "v1", "deployments")
            .ok_or_else(|| crate::error::ApiError::internal("deployments are not served".into()))?;
        let service_type = meta::kind(self.ctx.registry, "", "v1", "services")
            .ok_or_else(|| crate::error::ApiError::internal("services are not served".into()))?;
        let cm_type = meta::kind(self.ctx.registry, "", "v1", "configmaps")
            .ok_or_else(|| crate::error::ApiError::internal("configmaps are not served".into()))?;
        let namespace = self.namespace();
        let deployment = manifests::jobmanager_deployment(&definition, &self.resource);
        let deployment = self.ctx.store.create(
            &deployment_type,
            &namespace,
            deployment,
            self.ctx.now,
            self.ctx.rng,
        )?;
        let config_map = manifests::config_map(&definition, &deployment);
        create_or_replace(self.ctx, &cm_type, &namespace, config_map)?;
        for service in manifests::services(&definition, &deployment, self.ctx.rng) {
            create_or_replace(self.ctx, &service_type, &namespace, service)?;
        }
        Ok(())
    }

    /// The Flink configuration and templates of a deployment, as the
    /// operator's `FlinkConfigBuilder` prepares them.
    fn cluster_definition(
        &self,
        plan: &DeployPlan,
        job_id: Option<&str>,
    ) -> manifests::ClusterDefinition {
        let spec = &plan.spec;
        let (name, namespace) = (self.name(), self.namespace());
        let effective = self.effective_config(spec);
        let mut conf: std::collections::BTreeMap<String, String> = effective
            .0
            .iter()
            .filter(|(k, _)| {
                !k.starts_with("kubernetes.operator.") && !k.starts_with("job.autoscaler.")
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut set = |key: &str, value: String| {
            conf.insert(key.to_string(), value);
        };
        let version = spec
            .flink_version
            .unwrap_or(crate::operator::spec::FlinkVersion::V1_20);
        set("kubernetes.cluster-id", name.clone());
        set("kubernetes.namespace", namespace.clone());
        set(
            "kubernetes.container.image.ref",
            spec.image
                .clone()
                .unwrap_or_else(|| format!("apache/flink:{}-scala_2.12", version.release())),
        );
        if let Some(policy) = &spec.image_pull_policy {
            set("kubernetes.container.image.pull-policy", policy.clone());
        }
        set(
            "kubernetes.service-account",
            spec.service_account.clone().unwrap_or_default(),
        );
        let jm = spec.job_manager.clone().unwrap_or_default();
        let tm = spec.task_manager.clone().unwrap_or_default();
        set("kubernetes.jobmanager.replicas", jm.replicas.to_string());
        for (prefix, resource) in [
            ("jobmanager", jm.resource.as_ref()),
            ("taskmanager", tm.resource.as_ref()),
        ] {
            if let Some(cpu) = resource.and_then(|r| r.cpu) {
                set(
                    &format!("kubernetes.{prefix}.cpu.amount"),
                    format!("{cpu:?}"),
                );
            }
            if let Some(memory) = resource.and_then(|r| r.memory.as_deref()) {
                let flink_syntax = match parse_memory(memory) {
                    Ok(bytes) if memory.trim().ends_with('i') => format!("{bytes}b"),
                    _ => memory.to_string(),
                };
                set(&format!("{prefix}.memory.process.size"), flink_syntax);
            }
        }
        set(
            "taskmanager.numberOfTaskSlots",
            effective.slots().to_string(),
        );
        match job_id {
            Some(job_id) => {
                set(
                    "parallelism.default",
                    effective_parallelism(spec, &effective).max(1).to_string(),
                );
                set("execution.target", "kubernetes-application".into());
                set("execution.shutdown-on-application-finish", "false".into());
                set(
                    "execution.checkpointing.externalized-checkpoint-retention",
                    "RETAIN_ON_CANCELLATION".into(),
                );
                if !effective.0.contains_key("pipeline.name") {
                    set("pipeline.name", name.clone());
                }
                set("$internal.pipeline.job-id", job_id.to_string());
            }
            None => set("execution.target", "kubernetes-session".into()),
        }
        if let Some(job) = &spec.job {
            if let Some(jar) = &job.jar_uri {
                set("pipeline.jars", jar.clone());
            }
            if let Some(entry) = &job.entry_class {
                set("$internal.application.main", entry.clone());
            }
            set("$internal.application.program-args", job.args.join(";"));
            if job.allow_non_restored_state == Some(true) {
                set("execution.savepoint.ignore-unclaimed-state", "true".into());
            }
        }
        if let Some(path) = &plan.restore_from {
            set("execution.savepoint.path", path.clone());
        }
        if effective.ha_enabled() {
            set("high-availability.cluster-id", name.clone());
        }
        let generation = meta::generation(&self.resource);
        set(
            "kubernetes.jobmanager.annotations",
            format!("{}:{generation}", manifests::GENERATION_ANNOTATION),
        );
        set(
            "kubernetes.jobmanager.owner.reference",
            format!(
                "uid:{},kind:FlinkDeployment,apiVersion:{API_VERSION},blockOwnerDeletion:true,controller:false,name:{name}",
                meta::uid(&self.resource)
            ),
        );
        set("kubernetes.rest-service.exposed.type", "ClusterIP".into());
        set("web.cancel.enable", "false".into());
        set(
            "kubernetes.internal.jobmanager.entrypoint.class",
            "org.apache.flink.kubernetes.entrypoint.KubernetesApplicationClusterEntrypoint".into(),
        );
        let merge = |component: Option<&Value>| match (&spec.pod_template, component) {
            (None, None) => None,
            (base, component) => Some(manifests::deep_merge(
                base.clone().unwrap_or_else(|| json!({})),
                component.cloned().unwrap_or_else(|| json!({})),
            )),
        };
        manifests::ClusterDefinition {
            namespace,
            name,
            jm_replicas: i64::from(jm.replicas.max(1)),
            jm_template: merge(jm.pod_template.as_ref()),
            tm_template: merge(tm.pod_template.as_ref()),
            conf,
            config_file: version.config_file(),
            generation,
        }
    }

    /// Deletes the JobManager Deployment (and HA data when asked); the pass
    /// blocks until the cluster's objects are gone, then goes on with `then`.
    fn delete_cluster(&mut self, delete_ha: bool, then: AfterShutdown) {
        let (namespace, name) = (self.namespace(), self.name());
        if delete_ha {
            flink::delete_ha_data(self.ctx, &namespace, &name);
        }
        let deployment_uid = match (
            self.jobmanager_deployment(),
            meta::kind(self.ctx.registry, "apps", "v1", "deployments"),
        ) {
            (Some(deployment), Some(rt)) => {
                if let Err(err) = meta::delete(self.ctx.store, &rt, &deployment, self.ctx.now) {
                    tracing::debug!(resource = %name, %err, "could not delete the JobManager deployment");
                }
                meta::uid(&deployment).to_string()
            }
            _ => String::new(),
        };
        // updateStatusAfterClusterDeletion.
        self.mark_jobmanager_missing(FlinkJobState::Finished);
        self.write_status();
        let deadline = self.ctx.now.plus(self.config.timings.cleanup_timeout);
        self.tracked.blocked = Some(Blocked::ClusterGone {
            deployment_uid,
            deadline,
            then,
        });
    }

    /// Whether every object of a deleted cluster is gone.
    fn cluster_gone(&self, deployment_uid: &str) -> bool {
        let (namespace, name) = (self.namespace(), self.name());
        let dependents = !deployment_uid.is_empty()
            && self
                .ctx
                .store
                .dependents_of(deployment_uid)
                .next()
                .is_some();
        let pods = self
            .ctx
            .store
            .list("", "pods", Some(&namespace))
            .any(|p| meta::has_labels(p, &[("app", &name), ("type", manifests::NATIVE_TYPE)]));
        !dependents && !pods && self.jobmanager_deployment().is_none()
    }

    /// Continues a blocked pass, if what it waits for has happened.
    fn resume(&mut self, blocked: Blocked) -> Option<Duration> {
        self.spec = FlinkDeploymentSpec::from_value(&self.resource["spec"]).unwrap_or_default();
        match blocked {
            Blocked::Savepoint {
                spec,
                job_id,
                trigger,
                deadline,
                restore,
            } => {
                let (namespace, name) = (self.namespace(), self.name());
                let result =
                    lock(self.clusters).savepoint_status(&namespace, &name, &job_id, &trigger);
                match result {
                    Ok(SavepointStatus::InProgress) if self.ctx.now < deadline => {
                        self.tracked.blocked = Some(Blocked::Savepoint { spec, job_id, trigger, deadline, restore });
                        return Some(self.config.timings.reconcile_interval);
                    }
                    Ok(SavepointStatus::Completed(location)) => {
                        self.record_upgrade_savepoint(location);
                        self.spec = *spec.clone();
                        self.finish_suspend(&spec, restore);
                    }
                    Ok(SavepointStatus::InProgress) => self.upgrade_failed(
                        "UpgradeFailed",
                        &format!(
                            "Timed out stopping the job {job_id} with savepoint, please configure a larger timeout via \
                             'execution.checkpointing.timeout'"
                        ),
                    ),
                    Ok(SavepointStatus::Failed(cause)) => self.upgrade_failed("SavepointError", &format!("Savepoint failed: {cause}")),
                    Err(err) => self.upgrade_failed("SavepointError", &format!("Savepoint failed: {err}")),
                }
            }
            Blocked::ClusterGone {
                deployment_uid,
                deadline,
                then,
            } => {
                if !self.cluster_gone(&deployment_uid) && self.ctx.now < deadline {
                    self.tracked.blocked = Some(Blocked::ClusterGone {
                        deployment_uid,
                        deadline,
                        then,
                    });
                    return Some(self.config.timings.reconcile_interval);
                }
                match then {
                    AfterShutdown::Deploy(plan) => {
                        self.spec = plan.spec.clone();
                        self.submit(*plan);
                    }
                    AfterShutdown::FinishSuspend { spec, restore } => {
                        self.spec = *spec.clone();
                        self.finish_suspend(&spec, restore);
                    }
                    AfterShutdown::RemoveFinalizer => return self.remove_finalizer(),
                }
            }
        }
        self.finish()
    }

    /// Records the savepoint pass 1 took (legacy `savepointInfo`).
    fn record_upgrade_savepoint(&mut self, location: String) {
        let savepoint = Savepoint {
            time_stamp: self.now_millis(),
            location: location.clone(),
            trigger_type: "UPGRADE".into(),
            format_type: "CANONICAL".into(),
            trigger_nonce: None,
        };
        let info = &mut self.status.job_status.savepoint_info;
        if info
            .last_savepoint
            .as_ref()
            .is_none_or(|last| last.location != location)
        {
            info.savepoint_history.push(savepoint.clone());
            info.last_savepoint = Some(savepoint);
        }
        self.status.job_status.upgrade_savepoint_path = Some(location);
        self.status.job_status.state = Some(FlinkJobState::Finished);
        self.status.job_status.update_time = Some(self.now_millis().to_string());
    }

    /// Decides how to stop the running job (facts §3.5), from the user's
    /// current upgrade mode and the observed job state.
    fn job_upgrade(&self) -> JobUpgrade {
        let state = self.status.job_status.state;
        let terminal = self.job_ended();
        let mode = self.spec.upgrade_mode();
        if mode == UpgradeMode::Stateless {
            let suspend = if terminal {
                SuspendMode::Noop
            } else {
                SuspendMode::Stateless
            };
            return JobUpgrade::Go {
                suspend,
                restore: UpgradeMode::Stateless,
            };
        }
        if terminal {
            return JobUpgrade::Go {
                suspend: SuspendMode::Noop,
                restore: UpgradeMode::Savepoint,
            };
        }
        if state == Some(FlinkJobState::Cancelling) {
            return JobUpgrade::Wait;
        }
        let running = state == Some(FlinkJobState::Running);
        if mode == UpgradeMode::Savepoint && running {
            return JobUpgrade::Go {
                suspend: SuspendMode::Savepoint,
                restore: UpgradeMode::Savepoint,
            };
        }
        // Last-state rules (and the savepoint mode's fallback when the job is not running).
        let ha_metadata = self.effective_config(&self.spec).ha_enabled()
            && flink::ha_metadata_available(self.ctx, &self.namespace(), &self.name());
        let jm_gone = matches!(
            self.status.job_manager_deployment_status,
            JmDeploymentStatus::Missing | JmDeploymentStatus::Error
        );
        let reachable = lock(self.clusters).rest_ready(&self.namespace(), &self.name());
        let cancellable = matches!(
            state,
            Some(
                FlinkJobState::Created
                    | FlinkJobState::Restarting
                    | FlinkJobState::Failing
                    | FlinkJobState::Initializing
            )
        );
        if running && ha_metadata {
            JobUpgrade::Go {
                suspend: SuspendMode::LastState,
                restore: UpgradeMode::LastState,
            }
        } else if (running || cancellable) && reachable {
            JobUpgrade::Go {
                suspend: SuspendMode::Cancel,
                restore: UpgradeMode::Savepoint,
            }
        } else if ha_metadata {
            JobUpgrade::Go {
                suspend: SuspendMode::LastState,
                restore: UpgradeMode::LastState,
            }
        } else if jm_gone {
            JobUpgrade::Fail(
                "JobManager deployment is missing and HA metadata is not available to make stateful upgrades. It is possible that \
                 the job has finished or terminally failed, or the configmaps have been deleted.Manual restore required."
                    .into(),
            )
        } else {
            JobUpgrade::Wait
        }
    }

    fn upgrade_failed(&mut self, reason: &str, message: &str) {
        emit(
            self.ctx,
            &self.resource,
            EventType::Warning,
            reason,
            message,
            Component::JobManagerDeployment,
        );
        self.status.error = Some(exception_json("UpgradeFailureException", message));
    }

    /// Recovery of a lost JobManager Deployment, and the terminal-job TTL.
    fn reconcile_other_changes(&mut self, recorded: &FlinkDeploymentSpec) {
        let config = self.effective_config(recorded);
        let terminal = self.job_ended();
        let should_run = recorded.job_state() == JobState::Running && !terminal;
        let recovery = config.flag("kubernetes.operator.jm-deployment-recovery.enabled", true);
        let jm_missing = self.status.job_manager_deployment_status == JmDeploymentStatus::Missing;
        if jm_missing && should_run && recovery && self.jobmanager_deployment().is_none() {
            let ha = config.ha_enabled();
            // Without HA only a stateless job can be recovered; the mode is
            // the user's current one, as in the upgrade decision.
            if self.spec.upgrade_mode() == UpgradeMode::Stateless || ha {
                emit(
                    self.ctx,
                    &self.resource,
                    EventType::Warning,
                    "RecoverDeployment",
                    "Recovering lost deployment",
                    Component::Job,
                );
                self.deploy(DeployPlan {
                    spec: recorded.clone(),
                    restore_from: None,
                    keep_job_id: ha,
                    first: false,
                });
            }
            return;
        }
        let ttl = self.config.timings.shutdown_ttl;
        let since = self
            .status
            .job_status
            .update_time
            .as_deref()
            .and_then(|t| t.parse::<i64>().ok())
            .map(SimTime);
        if terminal
            && self.jobmanager_deployment().is_some()
            && since.is_some_and(|s| s.plus(ttl) <= self.ctx.now)
        {
            let recorded = Box::new(recorded.clone());
            self.delete_cluster(
                false,
                AfterShutdown::FinishSuspend {
                    spec: recorded.clone(),
                    restore: recorded.upgrade_mode(),
                },
            );
        }
    }

    // ---- status bookkeeping (ReconciliationUtils) ----------------------

    /// Sets `lastReconciledSpec`, clearing the error and refreshing the
    /// TaskManager info and observed generation.
    fn set_recorded(&mut self, recorded: &FlinkDeploymentSpec, first: bool) {
        let running = recorded.job_state() == JobState::Running;
        let config = self.effective_config(recorded);
        // Session clusters have no TaskManager info (their TaskManagers come and go with jobs).
        self.status.task_manager = recorded.job.as_ref().map(|_| {
            if running {
                TaskManagerInfo {
                    label_selector: format!("component=taskmanager,app={}", self.name()),
                    replicas: task_manager_count(recorded, &config),
                }
            } else {
                TaskManagerInfo {
                    label_selector: String::new(),
                    replicas: 0,
                }
            }
        });
        let with_meta = SpecWithMeta {
            spec: recorded.clone(),
            resource_metadata: ReconciliationMetadata {
                api_version: API_VERSION.into(),
                first_deployment: first,
            },
        };
        let reconciliation = &mut self.status.reconciliation_status;
        reconciliation.last_reconciled_spec = Some(with_meta.to_json());
        reconciliation.reconciliation_timestamp = self.ctx.now.0;
        self.status.error = None;
        self.status.observed_generation = Some(meta::generation(&self.resource));
    }

    /// `updateStatusBeforeDeploymentAttempt`: UPGRADING, recorded suspended.
    fn record_before_deployment(&mut self, spec: &FlinkDeploymentSpec, first: bool) {
        let mut recorded = spec.clone();
        if let Some(job) = &mut recorded.job {
            job.state = JobState::Suspended;
        }
        self.set_recorded(&recorded, first);
        self.status.reconciliation_status.state = ReconciliationState::Upgrading;
    }

    /// `updateStatusForDeployedSpec`: DEPLOYED; a user-suspended spec is stable at once.
    fn record_deployed(&mut self, recorded: &FlinkDeploymentSpec, first: bool) {
        self.set_recorded(recorded, first);
        if self.spec.job_state() == JobState::Suspended {
            self.status.reconciliation_status.mark_stable();
        }
        self.status.reconciliation_status.state = ReconciliationState::Deployed;
    }

    // ---- deletion ------------------------------------------------------

    fn cleanup(&mut self) -> Option<Duration> {
        // A cleanup waiting for the cluster to go resumes; any other blocked
        // operation is abandoned, as deletion interrupts it.
        if let Some(
            blocked @ Blocked::ClusterGone {
                then: AfterShutdown::RemoveFinalizer,
                ..
            },
        ) = self.tracked.blocked.take()
        {
            return self.resume(blocked);
        }
        let has_finalizer = self.resource["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == FINALIZER));
        if !has_finalizer {
            return None;
        }
        if self.status.lifecycle_state != Some(Lifecycle::Deleting) {
            emit(
                self.ctx,
                &self.resource,
                EventType::Normal,
                "Cleanup",
                "Cleaning up FlinkDeployment",
                Component::Operator,
            );
            self.status.lifecycle_state = Some(Lifecycle::Deleting);
            self.write_status();
        }
        let (namespace, name) = (self.namespace(), self.name());
        if let Some(job_id) = self.status.job_status.job_id.clone() {
            // Stateless cancel: errors do not stop the cleanup.
            let _ = lock(self.clusters).cancel(&namespace, &name, &job_id, self.ctx.now);
        }
        self.delete_cluster(true, AfterShutdown::RemoveFinalizer);
        self.resume_cleanup()
    }

    fn resume_cleanup(&mut self) -> Option<Duration> {
        match self.tracked.blocked.take() {
            Some(blocked @ Blocked::ClusterGone { .. }) => self.resume(blocked),
            other => {
                self.tracked.blocked = other;
                Some(self.config.timings.reconcile_interval)
            }
        }
    }

    fn remove_finalizer(&mut self) -> Option<Duration> {
        let current = self
            .ctx
            .store
            .get(&meta::key_of(self.rt, &self.resource))
            .cloned()?;
        let mut updated = (*current).clone();
        if let Some(finalizers) = updated["metadata"]["finalizers"].as_array_mut() {
            finalizers.retain(|f| f != FINALIZER);
        }
        if let Err(err) = meta::write_main(self.ctx.store, self.rt, updated, self.ctx.now) {
            tracing::debug!(resource = %self.name(), %err, "could not remove the finalizer");
            return Some(self.config.timings.progress_check);
        }
        None
    }
}

/// Creates `obj`, or replaces an existing object of the same name.
fn create_or_replace(
    ctx: &mut Ctx<'_>,
    rt: &ResourceType,
    namespace: &str,
    obj: Value,
) -> Result<(), crate::error::ApiError> {
    match ctx
        .store
        .create(rt, namespace, obj.clone(), ctx.now, ctx.rng)
    {
        Ok(_) => Ok(()),
        Err(err) if err.code == 409 => {
            let mut replacement = obj;
            replacement["metadata"]["namespace"] = json!(namespace);
            meta::write_main(ctx.store, rt, replacement, ctx.now).map(|_| ())
        }
        Err(err) => Err(err),
    }
}
