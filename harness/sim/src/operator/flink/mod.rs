//! Native-Kubernetes Flink clusters as they run inside the simulated
//! cluster: what the JobManager process does once its pod is up.
//!
//! [`FlinkRuntime`] is a controller separate from the operator, because in a
//! real cluster the Flink processes keep running when the operator does not
//! (a paused or crashed operator must not stop jobs). It reads the store as
//! a JobManager would: a Ready JobManager pod (its startup probe on the REST
//! endpoint passed) with a `flink-config-<cluster>` ConfigMap is a running
//! JobManager process. That process submits the job from the configuration
//! (fixed JobID, `execution.savepoint.path`, or the HA store's latest
//! checkpoint), asks Kubernetes for TaskManager pods
//! `<cluster>-taskmanager-<attempt>-<index>` owned by the JobManager
//! Deployment, counts their slots once they have registered, and releases
//! them after `resourcemanager.taskmanager-timeout` when the job has ended.
//!
//! The operator reaches the processes through [`FlinkClusters`], the
//! simulated REST API: job details, stop-with-savepoint, cancel, checkpoints.
//! The job itself sits behind [`job::JobModel`].
//!
//! Fidelity: one JobManager process per cluster (standby JobManagers are
//! not modelled); the HA store is a `<cluster>-cluster-config-map` ConfigMap
//! that holds the job graph key from submission and the latest checkpoint
//! from the moment the JobManager process goes away (real Flink updates it on
//! every checkpoint, which here would be churn without observable effect).

pub mod conf;
pub mod job;
pub mod manifests;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use serde_json::{Value, json};

use crate::{
    clock::SimTime,
    cluster::{Controller, Ctx},
    controllers::{meta, podspec},
    operator::{
        flink::job::{JobFactory, JobModel, JobSubmission, Resources, SavepointStatus},
        spec::EffectiveConfig,
        status::FlinkJobState,
    },
};

/// Flink-side durations the runtime needs besides the job's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeTimings {
    /// From TaskManager container start to its slots being registered.
    pub tm_registration: Duration,
    /// `resourcemanager.taskmanager-timeout`: idle TaskManagers are released after it.
    pub tm_idle_timeout: Duration,
}

/// The running JobManager processes, shared between the runtime (which
/// drives them) and the operator (which calls their REST API).
pub type SharedClusters = Arc<Mutex<FlinkClusters>>;

/// Locks the shared clusters; a panic elsewhere never leaves them unusable.
pub fn lock(clusters: &SharedClusters) -> MutexGuard<'_, FlinkClusters> {
    clusters.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A failed call to a JobManager's REST API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestError {
    /// No JobManager answers (not started, not ready, or gone).
    #[error("could not connect to the rest endpoint of {0}")]
    Unreachable(String),
    /// The JobManager does not know the job.
    #[error("job {0} not found")]
    JobNotFound(String),
    /// The JobManager refused the request.
    #[error("{0}")]
    Rejected(String),
}

/// One job as `GET /jobs/overview` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobDetails {
    /// 32 hex digits.
    pub job_id: String,
    /// `pipeline.name`.
    pub name: String,
    /// Effective state.
    pub state: FlinkJobState,
    /// Submission time.
    pub start_time: SimTime,
    /// The root cause of a FAILED job (Flink's job result).
    pub failure: Option<String>,
}

/// All JobManager processes, by (namespace, cluster id).
#[derive(Default)]
pub struct FlinkClusters {
    processes: BTreeMap<(String, String), Process>,
    /// JobManager attempts per JobManager Deployment uid.
    attempts: BTreeMap<String, u32>,
}

struct Process {
    pod_uid: String,
    deployment: Value,
    config_file: &'static str,
    conf: BTreeMap<String, String>,
    tm_template: Option<Value>,
    job_id: String,
    job_name: String,
    /// `None` for a session cluster (no application job).
    job: Option<Box<dyn JobModel>>,
    attempt: u32,
    next_tm: u32,
    task_managers: i64,
    terminal_since: Option<SimTime>,
}

impl FlinkClusters {
    fn process(&self, namespace: &str, cluster: &str) -> Result<&Process, RestError> {
        self.processes
            .get(&(namespace.to_string(), cluster.to_string()))
            .ok_or_else(|| RestError::Unreachable(format!("{cluster}-rest.{namespace}")))
    }

    fn job(
        &self,
        namespace: &str,
        cluster: &str,
        job_id: &str,
    ) -> Result<&dyn JobModel, RestError> {
        match self.process(namespace, cluster)? {
            Process {
                job: Some(job),
                job_id: id,
                ..
            } if id == job_id => Ok(job.as_ref()),
            _ => Err(RestError::JobNotFound(job_id.to_string())),
        }
    }

    fn job_mut(
        &mut self,
        namespace: &str,
        cluster: &str,
        job_id: &str,
    ) -> Result<&mut Box<dyn JobModel>, RestError> {
        self.job(namespace, cluster, job_id)?;
        self.processes
            .get_mut(&(namespace.to_string(), cluster.to_string()))
            .and_then(|p| p.job.as_mut())
            .ok_or_else(|| RestError::JobNotFound(job_id.to_string()))
    }

    /// Whether the cluster's REST endpoint accepts connections.
    pub fn rest_ready(&self, namespace: &str, cluster: &str) -> bool {
        self.process(namespace, cluster).is_ok()
    }

    /// The jobs of a cluster (an application cluster runs one).
    pub fn jobs(&self, namespace: &str, cluster: &str) -> Result<Vec<JobDetails>, RestError> {
        let process = self.process(namespace, cluster)?;
        Ok(process
            .job
            .iter()
            .map(|job| JobDetails {
                job_id: process.job_id.clone(),
                name: process.job_name.clone(),
                state: job.state(),
                start_time: job.start_time(),
                failure: job.failure_cause(),
            })
            .collect())
    }

    /// Starts stop-with-savepoint (`drain`: Flink's `stop --drain`); returns the trigger id.
    pub fn stop_with_savepoint(
        &mut self,
        namespace: &str,
        cluster: &str,
        job_id: &str,
        directory: &str,
        drain: bool,
        now: SimTime,
    ) -> Result<String, RestError> {
        self.job_mut(namespace, cluster, job_id)?
            .stop_with_savepoint(directory, drain, now)
            .map_err(RestError::Rejected)
    }

    /// The state of a savepoint trigger.
    pub fn savepoint_status(
        &self,
        namespace: &str,
        cluster: &str,
        job_id: &str,
        trigger: &str,
    ) -> Result<SavepointStatus, RestError> {
        self.job(namespace, cluster, job_id)?
            .savepoint_status(trigger)
            .ok_or_else(|| RestError::Rejected(format!("unknown savepoint trigger {trigger}")))
    }

    /// Starts cancelling the job.
    pub fn cancel(
        &mut self,
        namespace: &str,
        cluster: &str,
        job_id: &str,
        now: SimTime,
    ) -> Result<(), RestError> {
        self.job_mut(namespace, cluster, job_id)?
            .cancel(now)
            .map_err(RestError::Rejected)
    }

    /// The job's newest completed checkpoint or savepoint.
    pub fn latest_checkpoint(
        &self,
        namespace: &str,
        cluster: &str,
        job_id: &str,
    ) -> Result<Option<String>, RestError> {
        Ok(self.job(namespace, cluster, job_id)?.latest_checkpoint())
    }

    /// What the running job was restored from.
    pub fn restored_from(&self, namespace: &str, cluster: &str) -> Option<String> {
        self.process(namespace, cluster)
            .ok()?
            .job
            .as_ref()?
            .restored_from()
    }
}

/// The JobManager processes of every native Flink cluster; see the module doc.
pub struct FlinkRuntime {
    clusters: SharedClusters,
    jobs: Arc<dyn JobFactory>,
    timings: RuntimeTimings,
}

impl FlinkRuntime {
    /// A runtime driving `clusters`, creating jobs with `jobs`.
    pub fn new(
        clusters: SharedClusters,
        jobs: Arc<dyn JobFactory>,
        timings: RuntimeTimings,
    ) -> FlinkRuntime {
        FlinkRuntime {
            clusters,
            jobs,
            timings,
        }
    }
}

/// Name of the ConfigMap the HA services keep for a cluster.
pub fn ha_config_map(cluster: &str) -> String {
    format!("{cluster}-cluster-config-map")
}

/// Whether the HA store of a cluster holds a job graph (what the operator
/// checks before a last-state upgrade).
pub fn ha_metadata_available(ctx: &Ctx<'_>, namespace: &str, cluster: &str) -> bool {
    ha_config_maps(ctx, namespace, cluster).iter().any(|cm| {
        cm["data"].as_object().is_some_and(|d| {
            d.keys()
                .any(|k| k.starts_with("jobGraph-") || k.starts_with("checkpointID-"))
        })
    })
}

/// Deletes the HA ConfigMaps of a cluster (labels `app=<cluster>`,
/// `configmap-type=high-availability`).
pub fn delete_ha_data(ctx: &mut Ctx<'_>, namespace: &str, cluster: &str) {
    let Some(cm_type) = meta::kind(ctx.registry, "", "v1", "configmaps") else {
        return;
    };
    for cm in ha_config_maps(ctx, namespace, cluster) {
        if let Err(err) = meta::delete(ctx.store, &cm_type, &cm, ctx.now) {
            tracing::debug!(configmap = meta::name(&cm), %err, "could not delete HA data");
        }
    }
}

fn ha_config_maps(ctx: &Ctx<'_>, namespace: &str, cluster: &str) -> Vec<Value> {
    ctx.store
        .list("", "configmaps", Some(namespace))
        .filter(|cm| {
            meta::has_labels(
                cm,
                &[("app", cluster), ("configmap-type", "high-availability")],
            )
        })
        .map(|cm| (**cm).clone())
        .collect()
}

impl Controller for FlinkRuntime {
    fn name(&self) -> &'static str {
        "flink-runtime"
    }

    fn reconcile(&mut self, ctx: &mut Ctx<'_>) -> Option<SimTime> {
        let clusters = self.clusters.clone();
        let mut clusters = lock(&clusters);
        // The leading JobManager of each cluster: its first Ready pod.
        let mut leaders: BTreeMap<(String, String), Arc<Value>> = BTreeMap::new();
        for pod in ctx.store.list("", "pods", None) {
            let is_jm = meta::has_labels(
                pod,
                &[
                    ("component", "jobmanager"),
                    ("type", manifests::NATIVE_TYPE),
                ],
            );
            if !is_jm || !podspec::is_ready(pod) || meta::is_terminating(pod) {
                continue;
            }
            let cluster = pod["metadata"]["labels"]["app"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            leaders
                .entry((meta::namespace(pod).to_string(), cluster))
                .or_insert_with(|| pod.clone());
        }
        let ended: Vec<(String, String)> = clusters
            .processes
            .iter()
            .filter(|(key, p)| {
                leaders
                    .get(*key)
                    .is_none_or(|pod| meta::uid(pod) != p.pod_uid)
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in ended {
            if let Some(process) = clusters.processes.remove(&key) {
                self.on_exit(ctx, &key.0, &key.1, &process);
            }
        }
        for ((namespace, cluster), pod) in &leaders {
            if clusters
                .processes
                .contains_key(&(namespace.clone(), cluster.clone()))
            {
                continue;
            }
            if let Some(process) = self.start(ctx, &mut clusters, namespace, cluster, pod) {
                clusters
                    .processes
                    .insert((namespace.clone(), cluster.clone()), process);
            }
        }
        let mut wake: Option<SimTime> = None;
        for ((namespace, cluster), process) in clusters.processes.iter_mut() {
            if let Some(at) = self.drive(ctx, namespace, cluster, process) {
                wake = Some(wake.map_or(at, |w| w.min(at)));
            }
        }
        wake
    }
}

impl FlinkRuntime {
    /// Starts the JobManager process of `cluster` on `pod`, which just became Ready.
    fn start(
        &self,
        ctx: &mut Ctx<'_>,
        clusters: &mut FlinkClusters,
        namespace: &str,
        cluster: &str,
        pod: &Value,
    ) -> Option<Process> {
        let Some((config_file, conf)) = conf::read(ctx.store, namespace, cluster) else {
            tracing::debug!(
                namespace,
                cluster,
                "JobManager without configuration; it would crash on start"
            );
            return None;
        };
        let deployment = ctx
            .store
            .list("apps", "deployments", Some(namespace))
            .find(|d| meta::name(d) == cluster)?
            .clone();
        let attempt = clusters
            .attempts
            .entry(meta::uid(&deployment).to_string())
            .or_insert(0);
        *attempt += 1;
        let attempt = *attempt;
        // A session cluster (no fixed job) starts with no job and no TaskManagers.
        let session = conf
            .get("execution.target")
            .is_some_and(|t| t == "kubernetes-session");
        let job_id = conf
            .get("$internal.pipeline.job-id")
            .cloned()
            .unwrap_or_else(|| meta::digest_hex(&format!("{namespace}/{cluster}"), 32));
        let job_name = conf
            .get("pipeline.name")
            .cloned()
            .unwrap_or_else(|| cluster.to_string());
        let effective = EffectiveConfig(conf.clone());
        let ha = effective.ha_enabled();
        // With HA, the job's checkpoints in the HA store win over the
        // configured savepoint path, as Flink's recovery does.
        let ha_checkpoint = ha
            .then(|| latest_ha_checkpoint(ctx, namespace, cluster, &job_id))
            .flatten();
        let restore = ha_checkpoint.or_else(|| conf.get("execution.savepoint.path").cloned());
        let rest_up = podspec::ready_since(pod).unwrap_or(ctx.now);
        let annotations = flink_deployment_annotations(ctx, namespace, cluster);
        let submission = JobSubmission {
            namespace,
            cluster,
            job_id: &job_id,
            job_name: &job_name,
            conf: &conf,
            annotations: &annotations,
            restore_from: restore.as_deref(),
            submitted_at: rest_up,
        };
        let job = (!session).then(|| self.jobs.create(&submission));
        if ha && !session {
            record_job_graph(ctx, namespace, cluster, &job_id);
        }
        let slots = effective.slots();
        let parallelism = conf
            .get("parallelism.default")
            .and_then(|p| p.parse::<i64>().ok())
            .unwrap_or(1)
            .max(1);
        Some(Process {
            pod_uid: meta::uid(pod).to_string(),
            deployment: (*deployment).clone(),
            config_file,
            tm_template: conf::taskmanager_template(ctx.store, namespace, cluster),
            conf,
            job_id,
            job_name,
            job,
            attempt,
            next_tm: 1,
            task_managers: if session {
                0
            } else {
                (parallelism + slots - 1) / slots
            },
            terminal_since: None,
        })
    }

    /// The JobManager process ended: with HA, its latest checkpoint stays in
    /// the HA store for the next JobManager.
    fn on_exit(&self, ctx: &mut Ctx<'_>, namespace: &str, cluster: &str, process: &Process) {
        if !EffectiveConfig(process.conf.clone()).ha_enabled() {
            return;
        }
        let Some(checkpoint) = process.job.as_ref().and_then(|job| job.latest_checkpoint()) else {
            return;
        };
        let Some(cm_type) = meta::kind(ctx.registry, "", "v1", "configmaps") else {
            return;
        };
        let name = ha_config_map(cluster);
        let Some(cm) = ctx
            .store
            .list("", "configmaps", Some(namespace))
            .find(|cm| meta::name(cm) == name)
            .cloned()
        else {
            return;
        };
        let mut updated = (*cm).clone();
        let count = updated["data"].as_object().map_or(0, |d| {
            d.keys().filter(|k| k.starts_with("checkpointID-")).count()
        });
        updated["data"][format!("checkpointID-{:019}", count + 1)] = json!(checkpoint);
        updated["data"][format!("checkpointJob-{:019}", count + 1)] = json!(process.job_id);
        if let Err(err) = meta::write_main(ctx.store, &cm_type, updated, ctx.now) {
            tracing::debug!(cluster, %err, "could not keep the checkpoint in the HA store");
        }
    }

    /// Runs one JobManager process up to `now`: TaskManagers, then the job.
    fn drive(
        &self,
        ctx: &mut Ctx<'_>,
        namespace: &str,
        cluster: &str,
        process: &mut Process,
    ) -> Option<SimTime> {
        let pod_type = meta::kind(ctx.registry, "", "v1", "pods")?;
        let task_managers: Vec<Value> = ctx
            .store
            .list("", "pods", Some(namespace))
            .filter(|p| {
                meta::has_labels(
                    p,
                    &[
                        ("app", cluster),
                        ("component", "taskmanager"),
                        ("type", manifests::NATIVE_TYPE),
                    ],
                )
            })
            .filter(|p| !meta::is_terminating(p) && !podspec::is_finished(p))
            .map(|p| (**p).clone())
            .collect();
        let terminal = process
            .job
            .as_ref()
            .is_some_and(|job| job.state().is_globally_terminal());
        let mut live = task_managers.len() as i64;
        if !terminal && live < process.task_managers {
            while live < process.task_managers {
                let name = format!(
                    "{cluster}-taskmanager-{}-{}",
                    process.attempt, process.next_tm
                );
                process.next_tm += 1;
                let pod = manifests::taskmanager_pod(
                    cluster,
                    &name,
                    &process.conf,
                    process.tm_template.as_ref(),
                    &process.deployment,
                    process.config_file,
                );
                match ctx
                    .store
                    .create(&pod_type, namespace, pod, ctx.now, ctx.rng)
                {
                    Ok(_) => live += 1,
                    Err(err) if err.code == 409 => continue,
                    Err(err) => {
                        tracing::debug!(cluster, %err, "TaskManager pod not created; retrying");
                        break;
                    }
                }
            }
        }
        // A TaskManager's slots count once it has started and registered.
        let mut registered: Vec<SimTime> = task_managers
            .iter()
            .filter_map(|p| {
                p["status"]["containerStatuses"][0]["state"]["running"]["startedAt"].as_str()
            })
            .filter_map(SimTime::parse_rfc3339)
            .map(|started| started.plus(self.timings.tm_registration))
            .collect();
        registered.sort();
        let needed = process.task_managers.max(1) as usize;
        let resources = Resources {
            slots_ready_at: registered.get(needed - 1).copied(),
        };
        let job = process.job.as_mut()?;
        job.advance(ctx.now, resources);
        let mut wake = job.next_change(ctx.now, resources);
        let mut consider = |at: SimTime| {
            if at > ctx.now {
                wake = Some(wake.map_or(at, |w| w.min(at)));
            }
        };
        registered.iter().copied().for_each(&mut consider);
        if job.state().is_globally_terminal() {
            let since = *process.terminal_since.get_or_insert(ctx.now);
            let release_at = since.plus(self.timings.tm_idle_timeout);
            if release_at <= ctx.now {
                for pod in &task_managers {
                    if let Err(err) = meta::delete(ctx.store, &pod_type, pod, ctx.now) {
                        tracing::debug!(pod = meta::name(pod), %err, "idle TaskManager not released");
                    }
                }
            } else if !task_managers.is_empty() {
                consider(release_at);
            }
        }
        wake
    }
}

/// The annotations of the FlinkDeployment named like the cluster (empty if
/// there is none, e.g. a cluster made by hand).
fn flink_deployment_annotations(
    ctx: &Ctx<'_>,
    namespace: &str,
    cluster: &str,
) -> BTreeMap<String, String> {
    ctx.store
        .list(crate::operator::GROUP, "flinkdeployments", Some(namespace))
        .find(|d| meta::name(d) == cluster)
        .and_then(|d| d["metadata"]["annotations"].as_object().cloned())
        .map(|annotations| {
            annotations
                .into_iter()
                .filter_map(|(k, v)| Some((k, v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The newest checkpoint the HA store holds for `job_id`.
fn latest_ha_checkpoint(
    ctx: &Ctx<'_>,
    namespace: &str,
    cluster: &str,
    job_id: &str,
) -> Option<String> {
    let name = ha_config_map(cluster);
    let cm = ctx
        .store
        .list("", "configmaps", Some(namespace))
        .find(|cm| meta::name(cm) == name)?;
    let data = cm["data"].as_object()?;
    data.iter()
        .filter(|(k, _)| k.starts_with("checkpointID-"))
        .filter(|(k, _)| {
            data.get(&k.replacen("checkpointID-", "checkpointJob-", 1))
                .and_then(Value::as_str)
                == Some(job_id)
        })
        .max_by(|a, b| a.0.cmp(b.0))
        .and_then(|(_, v)| v.as_str().map(str::to_string))
}

/// Creates the HA ConfigMap (if needed) and records the job graph in it.
fn record_job_graph(ctx: &mut Ctx<'_>, namespace: &str, cluster: &str, job_id: &str) {
    let Some(cm_type) = meta::kind(ctx.registry, "", "v1", "configmaps") else {
        return;
    };
    let name = ha_config_map(cluster);
    let key = format!("jobGraph-{job_id}");
    let existing = ctx
        .store
        .list("", "configmaps", Some(namespace))
        .find(|cm| meta::name(cm) == name)
        .cloned();
    let result = match existing {
        Some(cm) if cm["data"].get(&key).is_some() => return,
        Some(cm) => {
            let mut updated = (*cm).clone();
            updated["data"][key] = json!(format!("jobgraph for {job_id}"));
            meta::write_main(ctx.store, &cm_type, updated, ctx.now).map(|_| ())
        }
        None => {
            // HA ConfigMaps have no owner, so they outlive the JobManager
            // Deployment (which is what makes last-state upgrades possible).
            let mut labels = manifests::labels(cluster, None);
            labels["configmap-type"] = json!("high-availability");
            let cm = json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "labels": labels},
                "data": {key: format!("jobgraph for {job_id}")},
            });
            ctx.store
                .create(&cm_type, namespace, cm, ctx.now, ctx.rng)
                .map(|_| ())
        }
    };
    if let Err(err) = result {
        tracing::debug!(cluster, %err, "could not record the job graph in the HA store");
    }
}
