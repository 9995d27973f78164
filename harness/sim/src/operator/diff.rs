//! Spec diffs: what changed between the recorded spec and the current one,
//! and how much that change demands (facts §1.3).
//!
//! The classes are ordered IGNORE < SCALE < UPGRADE < SAVEPOINT_REDEPLOY and
//! a diff is as strong as its strongest entry. Entries are listed in the
//! operator's field order and rendered `path : old -> new`, so the
//! `SpecChanged` event reads like the operator's:
//! `UPGRADE change(s) detected (Diff: FlinkDeploymentSpec[job.parallelism : 2 -> 4]), starting reconciliation.`
//!
//! Fidelity: objects the operator prints with Java's `toString` (pod
//! templates, ingress) are printed here as compact JSON.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use crate::operator::spec::{
    DeploymentMode, FlinkDeploymentSpec, JobManagerSpec, JobSpec, Resource, TaskManagerSpec,
};

/// How much a spec change demands, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DiffType {
    /// Nothing to redeploy.
    Ignore,
    /// Rescalable in place (standalone parallelism, vertex overrides).
    Scale,
    /// A full upgrade (suspend and redeploy).
    Upgrade,
    /// Redeploy from `initialSavepointPath`.
    SavepointRedeploy,
}

impl DiffType {
    /// The operator's enum name.
    pub fn as_str(self) -> &'static str {
        match self {
            DiffType::Ignore => "IGNORE",
            DiffType::Scale => "SCALE",
            DiffType::Upgrade => "UPGRADE",
            DiffType::SavepointRedeploy => "SAVEPOINT_REDEPLOY",
        }
    }
}

/// The changed fields and the overall class.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecDiff {
    /// The strongest class among the entries (IGNORE when empty).
    pub kind: DiffType,
    /// `path : old -> new`, in field order.
    pub entries: Vec<String>,
}

impl SpecDiff {
    /// `Diff: FlinkDeploymentSpec[...]` as the operator prints it.
    pub fn describe(&self) -> String {
        format!("Diff: FlinkDeploymentSpec[{}]", self.entries.join(", "))
    }

    /// The `SpecChanged` event message.
    pub fn event_message(&self) -> String {
        format!(
            "{} change(s) detected ({}), starting reconciliation.",
            self.kind.as_str(),
            self.describe()
        )
    }
}

#[derive(Default)]
struct Differ {
    kind: Option<DiffType>,
    entries: Vec<String>,
}

impl Differ {
    fn field<T: Serialize + PartialEq>(&mut self, path: &str, old: &T, new: &T, kind: DiffType) {
        if old != new {
            self.entries
                .push(format!("{path} : {} -> {}", render(old), render(new)));
            self.kind = Some(self.kind.map_or(kind, |k| k.max(kind)));
        }
    }
}

/// Renders a value as the diff prints it: strings bare, `null`, arrays as
/// `[a, b]`, objects as JSON.
fn render<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value).unwrap_or(Value::Null) {
        Value::String(s) => s,
        Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                .collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_string(),
    }
}

/// Classifies the change from `old` (the recorded spec) to `new`.
pub fn diff(old: &FlinkDeploymentSpec, new: &FlinkDeploymentSpec) -> SpecDiff {
    use DiffType::*;
    let standalone = new.mode() == DeploymentMode::Standalone;
    let scale_or_upgrade = if standalone { Scale } else { Upgrade };
    let mut d = Differ::default();
    match (&old.job, &new.job) {
        (Some(o), Some(n)) => job(&mut d, o, n, scale_or_upgrade),
        (o, n) => d.field("job", o, n, Upgrade),
    }
    let restart = if new.restart_nonce.is_some() {
        Upgrade
    } else {
        Ignore
    };
    d.field(
        "restartNonce",
        &old.restart_nonce,
        &new.restart_nonce,
        restart,
    );
    let empty = Default::default();
    let (old_conf, new_conf) = (
        old.flink_configuration.as_ref().unwrap_or(&empty),
        new.flink_configuration.as_ref().unwrap_or(&empty),
    );
    let keys: BTreeSet<&String> = old_conf.keys().chain(new_conf.keys()).collect();
    for key in keys {
        let kind = if [
            "kubernetes.operator",
            "job.autoscaler",
            "parallelism.default",
        ]
        .iter()
        .any(|p| key.starts_with(p))
        {
            Ignore
        } else if key.starts_with("pipeline.jobvertex-parallelism-overrides") && !standalone {
            Scale
        } else {
            Upgrade
        };
        d.field(
            &format!("flinkConfiguration.{key}"),
            &old_conf.get(key),
            &new_conf.get(key),
            kind,
        );
    }
    d.field("image", &old.image, &new.image, Upgrade);
    d.field(
        "imagePullPolicy",
        &old.image_pull_policy,
        &new.image_pull_policy,
        Upgrade,
    );
    d.field(
        "serviceAccount",
        &old.service_account,
        &new.service_account,
        Upgrade,
    );
    d.field(
        "flinkVersion",
        &old.flink_version,
        &new.flink_version,
        Upgrade,
    );
    d.field("ingress", &old.ingress, &new.ingress, Upgrade);
    d.field("podTemplate", &old.pod_template, &new.pod_template, Upgrade);
    match (&old.job_manager, &new.job_manager) {
        (Some(o), Some(n)) => job_manager(&mut d, o, n),
        (o, n) => d.field("jobManager", o, n, Upgrade),
    }
    match (&old.task_manager, &new.task_manager) {
        (Some(o), Some(n)) => task_manager(&mut d, o, n, scale_or_upgrade),
        (o, n) => d.field("taskManager", o, n, Upgrade),
    }
    d.field(
        "logConfiguration",
        &old.log_configuration,
        &new.log_configuration,
        Upgrade,
    );
    d.field("mode", &old.mode, &new.mode, Upgrade);
    SpecDiff {
        kind: d.kind.unwrap_or(Ignore),
        entries: d.entries,
    }
}

fn job(d: &mut Differ, o: &JobSpec, n: &JobSpec, parallelism: DiffType) {
    use DiffType::*;
    d.field("job.jarURI", &o.jar_uri, &n.jar_uri, Upgrade);
    d.field(
        "job.parallelism",
        &o.parallelism,
        &n.parallelism,
        parallelism,
    );
    d.field("job.entryClass", &o.entry_class, &n.entry_class, Upgrade);
    d.field("job.args", &o.args, &n.args, Upgrade);
    d.field("job.state", &o.state, &n.state, Upgrade);
    d.field(
        "job.savepointTriggerNonce",
        &o.savepoint_trigger_nonce,
        &n.savepoint_trigger_nonce,
        Ignore,
    );
    d.field(
        "job.initialSavepointPath",
        &o.initial_savepoint_path,
        &n.initial_savepoint_path,
        Ignore,
    );
    d.field(
        "job.checkpointTriggerNonce",
        &o.checkpoint_trigger_nonce,
        &n.checkpoint_trigger_nonce,
        Ignore,
    );
    d.field("job.upgradeMode", &o.upgrade_mode, &n.upgrade_mode, Ignore);
    d.field(
        "job.allowNonRestoredState",
        &o.allow_non_restored_state,
        &n.allow_non_restored_state,
        Ignore,
    );
    let redeploy = if n.savepoint_redeploy_nonce.is_some() {
        SavepointRedeploy
    } else {
        Ignore
    };
    d.field(
        "job.savepointRedeployNonce",
        &o.savepoint_redeploy_nonce,
        &n.savepoint_redeploy_nonce,
        redeploy,
    );
    d.field(
        "job.autoscalerResetNonce",
        &o.autoscaler_reset_nonce,
        &n.autoscaler_reset_nonce,
        Ignore,
    );
}

fn resource(d: &mut Differ, prefix: &str, o: &Option<Resource>, n: &Option<Resource>) {
    match (o, n) {
        (Some(o), Some(n)) => {
            d.field(
                &format!("{prefix}.resource.cpu"),
                &o.cpu,
                &n.cpu,
                DiffType::Upgrade,
            );
            d.field(
                &format!("{prefix}.resource.memory"),
                &o.memory,
                &n.memory,
                DiffType::Upgrade,
            );
            d.field(
                &format!("{prefix}.resource.ephemeralStorage"),
                &o.ephemeral_storage,
                &n.ephemeral_storage,
                DiffType::Upgrade,
            );
        }
        (o, n) => d.field(&format!("{prefix}.resource"), o, n, DiffType::Upgrade),
    }
}

fn job_manager(d: &mut Differ, o: &JobManagerSpec, n: &JobManagerSpec) {
    resource(d, "jobManager", &o.resource, &n.resource);
    d.field(
        "jobManager.replicas",
        &o.replicas,
        &n.replicas,
        DiffType::Upgrade,
    );
    d.field(
        "jobManager.podTemplate",
        &o.pod_template,
        &n.pod_template,
        DiffType::Upgrade,
    );
}

fn task_manager(d: &mut Differ, o: &TaskManagerSpec, n: &TaskManagerSpec, replicas: DiffType) {
    resource(d, "taskManager", &o.resource, &n.resource);
    d.field("taskManager.replicas", &o.replicas, &n.replicas, replicas);
    d.field(
        "taskManager.podTemplate",
        &o.pod_template,
        &n.pod_template,
        DiffType::Upgrade,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: Value) -> FlinkDeploymentSpec {
        FlinkDeploymentSpec::from_value(&value).unwrap()
    }

    #[test]
    fn classifies_like_the_operator() {
        let base = json!({"image": "flink:1.17", "job": {"parallelism": 2, "upgradeMode": "stateless"},
                          "flinkConfiguration": {"a": "1"}, "taskManager": {"replicas": 2}});
        let with = |edit: fn(&mut Value)| {
            let mut v = base.clone();
            edit(&mut v);
            diff(&spec(base.clone()), &spec(v))
        };
        assert_eq!(with(|_| {}).kind, DiffType::Ignore);
        assert!(with(|_| {}).entries.is_empty());
        assert_eq!(
            with(|v| v["job"]["upgradeMode"] = json!("savepoint")).kind,
            DiffType::Ignore
        );
        assert_eq!(
            with(
                |v| v["flinkConfiguration"]["kubernetes.operator.reconcile.interval"] =
                    json!("1 min")
            )
            .kind,
            DiffType::Ignore
        );
        assert_eq!(
            with(|v| v["flinkConfiguration"]["parallelism.default"] = json!("8")).kind,
            DiffType::Ignore
        );
        assert_eq!(
            with(
                |v| v["flinkConfiguration"]["pipeline.jobvertex-parallelism-overrides"] =
                    json!("a:1")
            )
            .kind,
            DiffType::Scale
        );
        assert_eq!(
            with(|v| v["flinkConfiguration"]["a"] = json!("2")).kind,
            DiffType::Upgrade
        );
        assert_eq!(
            with(|v| v["job"]["parallelism"] = json!(4)).kind,
            DiffType::Upgrade,
            "native: parallelism is an upgrade"
        );
        assert_eq!(
            with(|v| v["taskManager"]["replicas"] = json!(3)).kind,
            DiffType::Upgrade
        );
        assert_eq!(
            with(|v| {
                v["mode"] = json!("standalone");
            })
            .kind,
            DiffType::Upgrade
        );
        assert_eq!(
            with(|v| v["restartNonce"] = json!(1)).kind,
            DiffType::Upgrade
        );
        assert_eq!(
            with(|v| v["job"]["savepointRedeployNonce"] = json!(1)).kind,
            DiffType::SavepointRedeploy
        );
        assert_eq!(
            with(|v| v["image"] = json!("flink:1.18")).kind,
            DiffType::Upgrade
        );
    }

    #[test]
    fn standalone_parallelism_is_a_scale() {
        let old = spec(json!({"mode": "standalone", "job": {"parallelism": 2}}));
        let new = spec(json!({"mode": "standalone", "job": {"parallelism": 4}}));
        assert_eq!(diff(&old, &new).kind, DiffType::Scale);
    }

    #[test]
    fn describes_entries_in_field_order() {
        let old = spec(
            json!({"job": {"parallelism": 2, "state": "running", "upgradeMode": "stateless"}}),
        );
        let new = spec(
            json!({"job": {"parallelism": 2, "state": "suspended", "upgradeMode": "savepoint"}}),
        );
        assert_eq!(
            diff(&old, &new).event_message(),
            "UPGRADE change(s) detected (Diff: FlinkDeploymentSpec[job.state : running -> suspended, \
             job.upgradeMode : stateless -> savepoint]), starting reconciliation."
        );
    }
}
