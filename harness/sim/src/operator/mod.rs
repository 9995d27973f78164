//! A model of the Apache Flink Kubernetes Operator (release 1.15, Helm
//! defaults) as a controller of the simulator, with its validating
//! admission webhook.
//!
//! # Layout
//!
//! - [`FlinkOperator`] (this file): which FlinkDeployments to reconcile when
//!   (spec changes, JobManager Deployment changes, reschedule timers, as JOSDK
//!   triggers them) and the blocking operations in flight.
//! - `reconcile` (with its `observe` step): one reconcile pass, step by step as
//!   `FlinkDeploymentController` does it (observe, validate, reconcile,
//!   reschedule), including two-pass upgrades, suspend/resume and deletion.
//! - [`validate`] and [`webhook`]: `DefaultValidator`, shared by the webhook
//!   `validationwebhook.flink.apache.org` and the reconcile loop.
//! - [`spec`], [`status`], [`diff`], [`events`]: the CR's data and the
//!   operator's bookkeeping conventions.
//! - [`flink`]: the Flink clusters the operator deploys — JobManager process,
//!   TaskManager pods, the simulated REST API, and the [`flink::job::JobModel`]
//!   seam where a real pipeline can replace the modelled job.
//! - [`install`]: what the Helm chart puts into a cluster.
//!
//! # Fidelity
//!
//! Faithful (facts §1–§4, §7, §8): validation rules, order and messages;
//! `lastReconciledSpec` JSON format and field order; `lifecycleState`
//! derivation; reschedule intervals (reconcile 15 s, progress check 5 s,
//! REST-ready delay 10 s); JobManager status DEPLOYING → DEPLOYED_NOT_READY →
//! READY; job status RECONCILING → CREATED → RUNNING with `JobStatusChanged`
//! events; two-pass upgrades with an immediate requeue; events named
//! `<Component>.<hash>` with counts; the first deployment recorded as
//! stateless; savepoint upgrades keeping the JobManager Deployment (job
//! FINISHED) until the redeploy deletes it, stateless and last-state deleting
//! it at once; JobID rotation except for last-state restores; the `Running`
//! condition.
//!
//! Modelled differently, on purpose or for now:
//! - Blocking REST calls (stop-with-savepoint, waiting for a deleted cluster
//!   to go away) do not block the simulator: the pass ends and resumes when
//!   the operation completes, changing nothing in between, which is what an
//!   observer of the real operator sees.
//! - Savepoints use the legacy `status.jobStatus.savepointInfo` (with
//!   history), which is what the real operator does when the FlinkStateSnapshot
//!   CRD is not installed; the simulator does not install it.
//! - Last-state upgrades: with HA the JobManager is deleted and the job
//!   restored from the HA store with the same JobID; without HA the job is
//!   cancelled and restored from its last checkpoint as a savepoint (new
//!   JobID), as operator 1.10+ does. The HA store is a single ConfigMap.
//! - Session clusters (no `job`) are deployed, become STABLE once their
//!   REST API answers, and are redeployed (HA kept) on any spec change;
//!   FlinkSessionJobs are not reconciled.
//! - SCALE diffs (standalone parallelism, vertex overrides) and
//!   SAVEPOINT_REDEPLOY diffs (`savepointRedeployNonce`) go through the
//!   ordinary upgrade path: in-place scaling and redeploying from
//!   `initialSavepointPath` are not modelled.
//! - Not modelled: rollback, restarting failed jobs, cluster health checks,
//!   manual and periodic savepoints and checkpoints (the nonces are recorded
//!   but trigger nothing), ingress, standalone mode (deployed as native), the
//!   autoscaler, and JobManager ERROR from pod failures (the kubelet does not
//!   produce them yet; the observer has the seam).
//! - The operator, its webhook and the JobManagers act inside the simulator,
//!   not through the API, so RBAC (enforced on API requests) does not apply
//!   to them: a FlinkDeployment whose `serviceAccount` does not exist, or
//!   may not create pods, still gets its TaskManagers, where a real
//!   JobManager's pod requests would be refused. `kubectl auth can-i --as
//!   system:serviceaccount:<ns>:<sa>` checks that account's rights.
//! - The operator re-reads the status from the store on every pass instead
//!   of keeping an in-memory status cache, so an external status edit is
//!   picked up at once (the real one needs an operator restart).
//! - Flink process logs are not produced. Where the real end-to-end tests
//!   grep the JobManager log for "Restoring job ... from Savepoint", the
//!   restore path is observable as `execution.savepoint.path` in the
//!   `flink-config-<name>` ConfigMap (where Flink really reads it from), in
//!   `status.jobStatus.upgradeSavepointPath`, and through
//!   [`flink::FlinkClusters::restored_from`].
//! - The JobManager pod's startup probe on `/config` passes after
//!   [`Timings::jm_startup`] (a kubelet rule installed with the operator), so
//!   "Deployment available" and "REST port open" coincide, as they do with
//!   the operator's default startup probe.
//! - JOSDK's rate limiter (5 reconciles per 15 s) and error retries are not
//!   modelled.
//! - Deletion uses background propagation and waits until the cluster's
//!   objects are gone instead of Foreground propagation with a timeout.

pub mod diff;
pub mod events;
pub mod flink;
pub mod install;
mod reconcile;
pub mod spec;
pub mod status;
pub mod validate;
pub mod webhook;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use serde_json::Value;

use crate::{
    clock::SimTime,
    cluster::{Controller, Ctx},
    controllers::meta,
    operator::{
        flink::{RuntimeTimings, SharedClusters, job::JobTimings},
        reconcile::{Blocked, Reconciler},
    },
};

/// API group of the operator's kinds.
pub const GROUP: &str = "flink.apache.org";
/// The served version.
pub const VERSION: &str = "v1beta1";
/// `apiVersion` of FlinkDeployments.
pub const API_VERSION: &str = "flink.apache.org/v1beta1";
/// The finalizer JOSDK puts on reconciled resources.
pub const FINALIZER: &str = "flinkdeployments.flink.apache.org/finalizer";

/// Every virtual-time constant of the operator and of the Flink clusters it
/// runs. Operator values are the Helm chart's defaults (facts §7); Flink
/// values are measured or typical figures, noted per field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// `kubernetes.operator.reconcile.interval` (Helm: 15 s; code default 60 s).
    pub reconcile_interval: Duration,
    /// `kubernetes.operator.observer.progress-check.interval` (Helm: 5 s).
    pub progress_check: Duration,
    /// `kubernetes.operator.observer.rest-ready.delay` (10 s).
    pub rest_ready_delay: Duration,
    /// `kubernetes.operator.resource.cleanup.timeout` (5 min).
    pub cleanup_timeout: Duration,
    /// `kubernetes.operator.jm-deployment.shutdown-ttl` (1 day).
    pub shutdown_ttl: Duration,
    /// `execution.checkpointing.timeout` (Flink default 10 min), the
    /// stop-with-savepoint timeout.
    pub savepoint_timeout: Duration,
    /// JobManager container start to REST endpoint up (JVM start, job graph
    /// compilation): typically 5–15 s.
    pub jm_startup: Duration,
    /// TaskManager container start to its slots registered: a few seconds.
    pub tm_registration: Duration,
    /// All slots registered to all tasks RUNNING.
    pub task_deploy: Duration,
    /// Writing a savepoint of a small job.
    pub savepoint: Duration,
    /// A cancel request to CANCELED.
    pub cancel: Duration,
    /// `resourcemanager.taskmanager-timeout` (30 s): idle TaskManagers are released.
    pub tm_idle_timeout: Duration,
}

impl Timings {
    /// The Helm chart's operator settings and typical Flink process times.
    pub fn helm_defaults() -> Timings {
        Timings {
            reconcile_interval: Duration::from_secs(15),
            progress_check: Duration::from_secs(5),
            rest_ready_delay: Duration::from_secs(10),
            cleanup_timeout: Duration::from_secs(300),
            shutdown_ttl: Duration::from_secs(86_400),
            savepoint_timeout: Duration::from_secs(600),
            jm_startup: Duration::from_secs(8),
            tm_registration: Duration::from_secs(3),
            task_deploy: Duration::from_secs(1),
            savepoint: Duration::from_secs(3),
            cancel: Duration::from_secs(1),
            tm_idle_timeout: Duration::from_secs(30),
        }
    }

    /// The job-model part.
    pub fn job(&self) -> JobTimings {
        JobTimings {
            task_deploy: self.task_deploy,
            savepoint: self.savepoint,
            cancel: self.cancel,
        }
    }

    /// The JobManager-process part.
    pub fn runtime(&self) -> RuntimeTimings {
        RuntimeTimings {
            tm_registration: self.tm_registration,
            tm_idle_timeout: self.tm_idle_timeout,
        }
    }
}

/// How the operator is configured.
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorConfig {
    /// Virtual-time constants.
    pub timings: Timings,
    /// The operator's default Flink configuration (the chart's
    /// `flink-conf.yaml`), under every deployment's `flinkConfiguration`.
    pub default_flink_config: BTreeMap<String, String>,
    /// Helm's `webhook.create`: without the webhook, invalid specs are
    /// stored and only the reconcile loop reports them.
    pub webhook: bool,
}

impl OperatorConfig {
    /// The Helm chart's defaults.
    pub fn helm_defaults() -> OperatorConfig {
        let timings = Timings::helm_defaults();
        let default_flink_config = [
            ("kubernetes.operator.reconcile.interval", "15 s"),
            (
                "kubernetes.operator.observer.progress-check.interval",
                "5 s",
            ),
            (
                "kubernetes.operator.metrics.reporter.slf4j.factory.class",
                "org.apache.flink.metrics.slf4j.Slf4jReporterFactory",
            ),
            (
                "kubernetes.operator.metrics.reporter.slf4j.interval",
                "5 MINUTE",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        OperatorConfig {
            timings,
            default_flink_config,
            webhook: true,
        }
    }
}

/// The operator's controller; see the module doc.
pub struct FlinkOperator {
    config: OperatorConfig,
    clusters: SharedClusters,
    tracked: BTreeMap<(String, String), Tracked>,
}

/// What the operator remembers about one FlinkDeployment between passes
/// (JOSDK's event and timer bookkeeping, plus a blocked reconcile).
#[derive(Default)]
pub(crate) struct Tracked {
    uid: String,
    /// Scheduled reconcile; `None` means no reschedule.
    due: Option<SimTime>,
    seen_generation: i64,
    seen_deleting: bool,
    /// `uid/resourceVersion` of the JobManager Deployment last seen.
    seen_jobmanager: Option<String>,
    /// A blocking operation the last pass is waiting for.
    pub(crate) blocked: Option<Blocked>,
}

impl FlinkOperator {
    /// An operator reaching Flink clusters through `clusters`.
    pub fn new(config: OperatorConfig, clusters: SharedClusters) -> FlinkOperator {
        FlinkOperator {
            config,
            clusters,
            tracked: BTreeMap::new(),
        }
    }
}

impl Controller for FlinkOperator {
    fn name(&self) -> &'static str {
        "flink-kubernetes-operator"
    }

    fn reconcile(&mut self, ctx: &mut Ctx<'_>) -> Option<SimTime> {
        let rt = meta::kind(ctx.registry, GROUP, VERSION, "flinkdeployments")?;
        let resources: Vec<Arc<Value>> = ctx
            .store
            .list(GROUP, "flinkdeployments", None)
            .cloned()
            .collect();
        let live: BTreeMap<(String, String), &str> = resources
            .iter()
            .map(|r| {
                (
                    (meta::namespace(r).to_string(), meta::name(r).to_string()),
                    meta::uid(r),
                )
            })
            .collect();
        self.tracked
            .retain(|key, t| live.get(key).is_some_and(|uid| *uid == t.uid));
        let mut wake: Option<SimTime> = None;
        for resource in resources {
            let key = (
                meta::namespace(&resource).to_string(),
                meta::name(&resource).to_string(),
            );
            let jobmanager = ctx
                .store
                .list("apps", "deployments", Some(&key.0))
                .find(|d| meta::name(d) == key.1)
                .map(|d| {
                    format!(
                        "{}/{}",
                        meta::uid(d),
                        d["metadata"]["resourceVersion"]
                            .as_str()
                            .unwrap_or_default()
                    )
                });
            let tracked = self.tracked.entry(key.clone()).or_insert_with(|| Tracked {
                uid: meta::uid(&resource).to_string(),
                due: Some(ctx.now),
                seen_generation: -1,
                ..Tracked::default()
            });
            let triggered = tracked.due.is_some_and(|due| due <= ctx.now)
                || tracked.blocked.is_some()
                || tracked.seen_generation != meta::generation(&resource)
                || tracked.seen_deleting != meta::is_terminating(&resource)
                || tracked.seen_jobmanager != jobmanager;
            if triggered {
                tracked.seen_generation = meta::generation(&resource);
                tracked.seen_deleting = meta::is_terminating(&resource);
                tracked.seen_jobmanager = jobmanager;
                let next =
                    Reconciler::new(ctx, &rt, &self.config, &self.clusters, tracked, resource)
                        .run();
                tracked.due = next.map(|delay| ctx.now.plus(delay));
            }
            let poll = tracked.blocked.as_ref().map(|b| b.poll_at(ctx.now));
            for at in [tracked.due, poll].into_iter().flatten() {
                wake = Some(wake.map_or(at, |w| w.min(at)));
            }
        }
        wake
    }
}
