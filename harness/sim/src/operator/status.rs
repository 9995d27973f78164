//! The FlinkDeployment status as the operator writes it, and the derived
//! `lifecycleState`.
//!
//! [`lifecycle`] follows `CommonStatus#getLifecycleState` rule by rule
//! (facts §2.3); the operator stores its result in `status.lifecycleState` on
//! every status write because kubectl prints it as a column. Unknown status
//! fields are carried through untouched, so a status patched by someone else
//! keeps what the operator does not know about.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::operator::spec::{JobState, SpecWithMeta};

/// `status` of a FlinkDeployment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlinkDeploymentStatus {
    /// What the operator last observed about the job.
    #[serde(default)]
    pub job_status: JobStatus,
    /// The last error, JSON-encoded as the operator encodes exceptions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `metadata.generation` of the last reconciled spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Derived from the rest of the status on every write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_state: Option<Lifecycle>,
    /// `flink-version`, `total-cpu`, `total-memory`, ...
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cluster_info: BTreeMap<String, String>,
    /// State of the JobManager Deployment.
    #[serde(default)]
    pub job_manager_deployment_status: JmDeploymentStatus,
    /// What was last reconciled and whether it was deployed.
    #[serde(default)]
    pub reconciliation_status: ReconciliationStatus,
    /// TaskManager selector and count (the scale subresource's status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_manager: Option<TaskManagerInfo>,
    /// The `Running` condition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Fields this model does not know, kept as found.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `status.jobStatus`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// Name of the job (`pipeline.name`, the CR name by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// 32 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Flink's job status, or one the operator sets (RECONCILING, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<FlinkJobState>,
    /// Epoch millis as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// Epoch millis as a string, moved whenever the state changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
    /// The savepoint or checkpoint the next stateful restore uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_savepoint_path: Option<String>,
    /// Legacy savepoint bookkeeping.
    #[serde(default)]
    pub savepoint_info: SavepointInfo,
    /// Legacy checkpoint bookkeeping.
    #[serde(default)]
    pub checkpoint_info: CheckpointInfo,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `status.jobStatus.savepointInfo` (legacy mode, used when the
/// FlinkStateSnapshot CRD is not installed).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavepointInfo {
    /// The newest savepoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_savepoint: Option<Savepoint>,
    /// A pending trigger's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_id: Option<String>,
    /// A pending trigger's time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_timestamp: Option<i64>,
    /// A pending trigger's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_type: Option<String>,
    /// A pending trigger's format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_type: Option<String>,
    /// Savepoints taken, oldest first.
    #[serde(default)]
    pub savepoint_history: Vec<Savepoint>,
    /// When the last periodic savepoint was triggered (0: never).
    #[serde(default)]
    pub last_periodic_savepoint_timestamp: i64,
}

/// One savepoint in `savepointInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Savepoint {
    /// Epoch millis when it completed.
    pub time_stamp: i64,
    /// Where it is stored.
    pub location: String,
    /// `MANUAL`, `PERIODIC`, `UPGRADE` or `UNKNOWN`.
    pub trigger_type: String,
    /// `CANONICAL`, `NATIVE` or `UNKNOWN`.
    pub format_type: String,
    /// The nonce of a manual trigger.
    pub trigger_nonce: Option<i64>,
}

/// `status.jobStatus.checkpointInfo` (legacy).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointInfo {
    /// When the last periodic checkpoint was triggered (0: never).
    #[serde(default)]
    pub last_periodic_checkpoint_timestamp: i64,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `status.reconciliationStatus`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconciliationStatus {
    /// Epoch millis of the last spec reconciliation.
    #[serde(default)]
    pub reconciliation_timestamp: i64,
    /// The spec last acted on, as [`SpecWithMeta`] JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reconciled_spec: Option<String>,
    /// The last spec observed running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_stable_spec: Option<String>,
    /// Whether the recorded spec is deployed.
    #[serde(default)]
    pub state: ReconciliationState,
}

impl ReconciliationStatus {
    /// The recorded spec, parsed.
    pub fn last_reconciled(&self) -> Option<SpecWithMeta> {
        SpecWithMeta::parse(self.last_reconciled_spec.as_deref())
    }

    /// Marks the recorded spec as stable (lifecycle STABLE).
    pub fn mark_stable(&mut self) {
        self.last_stable_spec = self.last_reconciled_spec.clone();
    }
}

/// `status.taskManager`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskManagerInfo {
    /// `component=taskmanager,app=<name>`, or "" when not running.
    pub label_selector: String,
    /// TaskManager count.
    pub replicas: i64,
}

/// A status condition (only `Running` is used).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Running`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True` or `False`.
    pub status: String,
    /// e.g. `Running`, `Reconciling`.
    pub reason: String,
    /// e.g. `Job state RUNNING`.
    pub message: String,
    /// When `status` last flipped.
    pub last_transition_time: String,
}

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }
        impl $name {
            /// The status field's spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// `status.lifecycleState`.
    Lifecycle {
        /// Never deployed.
        Created = "CREATED",
        /// Deliberately stopped.
        Suspended = "SUSPENDED",
        /// An upgrade or suspend is in flight.
        Upgrading = "UPGRADING",
        /// Deployed, not yet observed running.
        Deployed = "DEPLOYED",
        /// Observed running.
        Stable = "STABLE",
        /// A rollback is in flight.
        RollingBack = "ROLLING_BACK",
        /// Running the last stable spec after a rollback.
        RolledBack = "ROLLED_BACK",
        /// Failed.
        Failed = "FAILED",
        /// Being deleted.
        Deleting = "DELETING",
        /// Deleted.
        Deleted = "DELETED",
    }
}

string_enum! {
    /// `status.jobManagerDeploymentStatus`.
    #[derive(Default)]
    JmDeploymentStatus {
        /// REST observable.
        Ready = "READY",
        /// Deployment available, waiting out the REST-ready delay.
        DeployedNotReady = "DEPLOYED_NOT_READY",
        /// Deployment created, not available yet.
        Deploying = "DEPLOYING",
        /// No JobManager Deployment (the default).
        #[default]
        Missing = "MISSING",
        /// Terminal deployment failure.
        Error = "ERROR",
    }
}

string_enum! {
    /// `status.reconciliationStatus.state`.
    #[derive(Default)]
    ReconciliationState {
        /// The recorded spec is deployed (or suspended).
        Deployed = "DEPLOYED",
        /// The recorded spec is being deployed (the default).
        #[default]
        Upgrading = "UPGRADING",
        /// A rollback is in progress.
        RollingBack = "ROLLING_BACK",
        /// Running the last stable spec.
        RolledBack = "ROLLED_BACK",
    }
}

string_enum! {
    /// Flink's `JobStatus`, plus the states the operator writes itself.
    FlinkJobState {
        /// Job graph being set up.
        Initializing = "INITIALIZING",
        /// Submitted; not all tasks running yet.
        Created = "CREATED",
        /// All tasks running.
        Running = "RUNNING",
        /// Failing over.
        Failing = "FAILING",
        /// Failed for good.
        Failed = "FAILED",
        /// Being cancelled.
        Cancelling = "CANCELLING",
        /// Cancelled.
        Canceled = "CANCELED",
        /// Finished (or stopped with a savepoint).
        Finished = "FINISHED",
        /// Restarting after a failure.
        Restarting = "RESTARTING",
        /// Suspended (HA failover).
        Suspended = "SUSPENDED",
        /// State unknown to the operator.
        Reconciling = "RECONCILING",
    }
}

impl JmDeploymentStatus {
    /// The condition reason a session cluster reports for this status.
    pub fn reason(self) -> &'static str {
        match self {
            JmDeploymentStatus::Ready => "JobManagerReady",
            JmDeploymentStatus::DeployedNotReady => "DeployedNotReady",
            JmDeploymentStatus::Deploying => "JobManagerIsDeploying",
            JmDeploymentStatus::Missing => "JobManagerDeploymentMissing",
            JmDeploymentStatus::Error => "Error",
        }
    }

    /// The condition message a session cluster reports for this status
    /// (the operator's descriptions of the states).
    pub fn message(self) -> &'static str {
        match self {
            JmDeploymentStatus::Ready => {
                "JobManager is running and ready to receive REST API calls"
            }
            JmDeploymentStatus::DeployedNotReady => {
                "JobManager is running but not ready yet to receive REST API calls"
            }
            JmDeploymentStatus::Deploying => "JobManager process is starting up",
            JmDeploymentStatus::Missing => {
                "JobManager deployment not found, probably not started or killed by user"
            }
            JmDeploymentStatus::Error => {
                "Deployment in terminal error, requires spec change for reconciliation to continue"
            }
        }
    }
}

impl FlinkJobState {
    /// FAILED, CANCELED or FINISHED.
    pub fn is_globally_terminal(self) -> bool {
        matches!(
            self,
            FlinkJobState::Failed | FlinkJobState::Canceled | FlinkJobState::Finished
        )
    }

    /// `Running`, `Reconciling`, ...: the condition reason's spelling.
    pub fn camel_case(self) -> String {
        let lower = self.as_str().to_ascii_lowercase();
        let mut chars = lower.chars();
        chars
            .next()
            .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
            .unwrap_or_default()
    }
}

/// Messages that make a missing/errored JobManager count as FAILED.
const FAILED_MARKERS: [&str; 3] = [
    "Manual restore required.",
    "It is possible that the job has finished or terminally failed, or the configmaps have been deleted.",
    "HA metadata is not available",
];

/// `lifecycleState`, derived exactly as `CommonStatus#getLifecycleState`
/// does (facts §2.3); the first matching rule wins.
pub fn lifecycle(status: &FlinkDeploymentStatus) -> Lifecycle {
    if let Some(state @ (Lifecycle::Deleting | Lifecycle::Deleted)) = status.lifecycle_state {
        return state;
    }
    let reconciliation = &status.reconciliation_status;
    let error_empty = status.error.as_deref().is_none_or(str::is_empty);
    let Some(recorded) = reconciliation.last_reconciled_spec.as_deref() else {
        return if error_empty {
            Lifecycle::Created
        } else {
            Lifecycle::Failed
        };
    };
    match reconciliation.state {
        ReconciliationState::Upgrading => return Lifecycle::Upgrading,
        ReconciliationState::RollingBack => return Lifecycle::RollingBack,
        _ => {}
    }
    let recorded_state = SpecWithMeta::parse(Some(recorded))
        .and_then(|s| s.spec.job)
        .map(|j| j.state);
    if recorded_state == Some(JobState::Suspended) {
        return Lifecycle::Suspended;
    }
    if status.job_status.state == Some(FlinkJobState::Failed) {
        return Lifecycle::Failed;
    }
    let jm_gone = matches!(
        status.job_manager_deployment_status,
        JmDeploymentStatus::Missing | JmDeploymentStatus::Error
    );
    let error = status.error.as_deref().unwrap_or_default();
    if jm_gone && FAILED_MARKERS.iter().any(|marker| error.contains(marker)) {
        return Lifecycle::Failed;
    }
    if reconciliation.state == ReconciliationState::RolledBack {
        return Lifecycle::RolledBack;
    }
    if reconciliation.last_stable_spec.as_deref() == Some(recorded) {
        return Lifecycle::Stable;
    }
    Lifecycle::Deployed
}

/// The `Running` condition for an application cluster, keeping the previous
/// `lastTransitionTime` unless True/False flipped (`ConditionUtils`).
pub fn running_condition(status: &FlinkDeploymentStatus, now_rfc3339: &str) -> Vec<Condition> {
    if status.reconciliation_status.last_reconciled_spec.is_none() {
        return Vec::new();
    }
    let session = status
        .reconciliation_status
        .last_reconciled()
        .is_some_and(|r| r.spec.job.is_none());
    let (ok, reason, message) = if session {
        let jm = status.job_manager_deployment_status;
        (
            jm == JmDeploymentStatus::Ready,
            jm.reason().to_string(),
            jm.message().to_string(),
        )
    } else {
        let state = status
            .job_status
            .state
            .unwrap_or(FlinkJobState::Reconciling);
        (
            state == FlinkJobState::Running,
            state.camel_case(),
            format!("Job state {state}"),
        )
    };
    let flag = if ok { "True" } else { "False" };
    let since = match status.conditions.first() {
        Some(previous) if previous.status == flag => previous.last_transition_time.clone(),
        _ => now_rfc3339.to_string(),
    };
    vec![Condition {
        type_: "Running".into(),
        status: flag.into(),
        reason,
        message,
        last_transition_time: since,
    }]
}

/// An exception as the operator serialises it into `status.error`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SerializedException<'a> {
    #[serde(rename = "type")]
    type_: &'a str,
    message: &'a str,
    additional_metadata: BTreeMap<String, String>,
    throwable_list: Vec<Value>,
}

/// `status.error` for an operator exception class (short name, e.g.
/// `ValidationException`) and message.
pub fn exception_json(class: &str, message: &str) -> String {
    error_json(
        &format!("org.apache.flink.kubernetes.operator.exception.{class}"),
        message,
    )
}

/// `status.error` for an exception of any (fully qualified) type, e.g. the
/// cause of a failed job.
pub fn error_json(type_: &str, message: &str) -> String {
    let exception = SerializedException {
        type_,
        message,
        additional_metadata: BTreeMap::new(),
        throwable_list: Vec::new(),
    };
    serde_json::to_string(&exception).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::spec::{FlinkDeploymentSpec, JobSpec, ReconciliationMetadata};

    fn recorded(state: JobState) -> String {
        SpecWithMeta {
            spec: FlinkDeploymentSpec {
                job: Some(JobSpec {
                    state,
                    ..JobSpec::default()
                }),
                ..FlinkDeploymentSpec::default()
            },
            resource_metadata: ReconciliationMetadata {
                api_version: "flink.apache.org/v1beta1".into(),
                first_deployment: true,
            },
        }
        .to_json()
    }

    #[test]
    fn lifecycle_derivation_table() {
        let running = recorded(JobState::Running);
        let suspended = recorded(JobState::Suspended);
        let base = |spec: Option<&str>, state: ReconciliationState| {
            let mut s = FlinkDeploymentStatus::default();
            s.reconciliation_status.last_reconciled_spec = spec.map(str::to_string);
            s.reconciliation_status.state = state;
            s
        };
        use Lifecycle::*;
        use ReconciliationState as R;
        let mut cases: Vec<(&str, FlinkDeploymentStatus, Lifecycle)> = Vec::new();
        cases.push(("never deployed", base(None, R::Upgrading), Created));
        let mut s = base(None, R::Upgrading);
        s.error = Some("boom".into());
        cases.push(("never deployed with an error", s, Failed));
        cases.push(("upgrading", base(Some(&running), R::Upgrading), Upgrading));
        cases.push((
            "rolling back",
            base(Some(&running), R::RollingBack),
            RollingBack,
        ));
        cases.push((
            "recorded suspended",
            base(Some(&suspended), R::Deployed),
            Suspended,
        ));
        let mut s = base(Some(&running), R::Deployed);
        s.job_status.state = Some(FlinkJobState::Failed);
        cases.push(("job failed", s, Failed));
        let mut s = base(Some(&running), R::Deployed);
        s.job_manager_deployment_status = JmDeploymentStatus::Missing;
        s.error = Some(exception_json(
            "UpgradeFailureException",
            "... configmaps have been deleted.Manual restore required.",
        ));
        cases.push(("missing JM and manual restore", s, Failed));
        let mut s = base(Some(&running), R::Deployed);
        s.error = Some("Manual restore required.".into());
        s.job_manager_deployment_status = JmDeploymentStatus::Ready;
        s.reconciliation_status.mark_stable();
        cases.push(("the marker only counts with the JM gone", s, Stable));
        let mut s = base(Some(&running), R::RolledBack);
        s.reconciliation_status.mark_stable();
        cases.push(("rolled back wins over stable", s, RolledBack));
        let mut s = base(Some(&running), R::Deployed);
        s.reconciliation_status.mark_stable();
        cases.push(("stable", s, Stable));
        cases.push(("deployed", base(Some(&running), R::Deployed), Deployed));
        let mut s = base(Some(&running), R::Upgrading);
        s.lifecycle_state = Some(Deleting);
        cases.push(("deleting sticks", s, Deleting));
        for (name, status, expected) in cases {
            assert_eq!(lifecycle(&status), expected, "{name}");
        }
    }

    #[test]
    fn unknown_status_fields_survive_a_round_trip() {
        let text = r#"{"jobStatus":{"state":"RUNNING","futureField":1},"somethingNew":{"a":1},"jobManagerDeploymentStatus":"READY","reconciliationStatus":{"state":"DEPLOYED","reconciliationTimestamp":5}}"#;
        let status: FlinkDeploymentStatus = serde_json::from_str(text).unwrap();
        let back = serde_json::to_value(&status).unwrap();
        assert_eq!(back["somethingNew"]["a"], 1);
        assert_eq!(back["jobStatus"]["futureField"], 1);
        assert_eq!(back["jobStatus"]["state"], "RUNNING");
    }

    #[test]
    fn running_condition_keeps_transition_time_until_it_flips() {
        let mut status = FlinkDeploymentStatus::default();
        assert!(
            running_condition(&status, "t0").is_empty(),
            "no condition before the first deployment"
        );
        status.reconciliation_status.last_reconciled_spec = Some(recorded(JobState::Running));
        status.job_status.state = Some(FlinkJobState::Reconciling);
        status.conditions = running_condition(&status, "t1");
        assert_eq!(
            (
                status.conditions[0].status.as_str(),
                status.conditions[0].reason.as_str()
            ),
            ("False", "Reconciling")
        );
        status.job_status.state = Some(FlinkJobState::Created);
        status.conditions = running_condition(&status, "t2");
        assert_eq!(
            status.conditions[0].last_transition_time, "t1",
            "still False"
        );
        assert_eq!(status.conditions[0].message, "Job state CREATED");
        status.job_status.state = Some(FlinkJobState::Running);
        status.conditions = running_condition(&status, "t3");
        assert_eq!(
            (
                status.conditions[0].status.as_str(),
                status.conditions[0].last_transition_time.as_str()
            ),
            ("True", "t3")
        );
    }

    #[test]
    fn exceptions_serialise_in_the_operators_shape() {
        assert_eq!(
            exception_json(
                "ValidationException",
                "Job parallelism must be larger than 0"
            ),
            r#"{"type":"org.apache.flink.kubernetes.operator.exception.ValidationException","message":"Job parallelism must be larger than 0","additionalMetadata":{},"throwableList":[]}"#
        );
    }
}
