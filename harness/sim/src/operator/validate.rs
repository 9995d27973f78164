//! The operator's `DefaultValidator` for FlinkDeployments: the checks, their
//! order and their messages (facts §4.2). The admission webhook and the
//! reconcile loop both call [`validate_deployment`], as the real operator
//! runs the same validator in both places; the first failing check wins.
//!
//! Fidelity: Flink's memory-config checks (`jobmanager.memory.*`,
//! `taskmanager.memory.*` without `resource.memory`) accept the process,
//! flink and (for JobManagers) heap size keys rather than running Flink's full
//! memory calculation; autoscaler option checks are not modelled.

use serde_json::Value;

use crate::operator::{
    spec::{
        EffectiveConfig, FlinkDeploymentSpec, JobManagerSpec, JobSpec, JobState, Resource,
        TaskManagerSpec, UpgradeMode, parse_memory,
    },
    status::FlinkDeploymentStatus,
};

/// Config keys the operator sets itself and users may not.
pub const FORBIDDEN_KEYS: [&str; 3] = [
    "kubernetes.namespace",
    "kubernetes.cluster-id",
    "high-availability.cluster-id",
];
/// The log configuration files a spec may override.
const ALLOWED_LOG_KEYS: [&str; 2] = ["log4j-console.properties", "logback-console.xml"];

/// Runs every FlinkDeployment check in the operator's order and returns the
/// first failure's message.
pub fn validate_deployment(
    name: &str,
    spec: &FlinkDeploymentSpec,
    status: &FlinkDeploymentStatus,
    defaults: &std::collections::BTreeMap<String, String>,
) -> Result<(), String> {
    let config = EffectiveConfig::new(defaults, spec);
    validate_name(name)?;
    validate_flink_version(spec, status)?;
    validate_config(&config)?;
    validate_ingress(spec.ingress.as_ref())?;
    validate_log_config(spec)?;
    if let Some(job) = &spec.job {
        validate_job(job, spec.task_manager.as_ref(), &config)?;
    }
    validate_job_manager(spec.job_manager.as_ref(), &config)?;
    validate_task_manager(spec.task_manager.as_ref(), &config)?;
    validate_spec_change(spec, status)?;
    if spec.service_account.is_none() {
        return Err("spec.serviceAccount must be defined. If you use helm, its value should be the same with the name of jobServiceAccount.".into());
    }
    Ok(())
}

/// `[a-z]([-a-z0-9]{0,43}[a-z0-9])?`: at most 45 characters.
fn validate_name(name: &str) -> Result<(), String> {
    let bytes = name.as_bytes();
    let ok = match bytes {
        [] => false,
        [first] => first.is_ascii_lowercase(),
        [first, middle @ .., last] => {
            first.is_ascii_lowercase()
                && middle.len() <= 43
                && middle
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
                && (last.is_ascii_lowercase() || last.is_ascii_digit())
        }
    };
    if ok {
        return Ok(());
    }
    Err(format!(
        "The FlinkDeployment name: {name} is invalid, must consist of lower case alphanumeric characters or '-', \
         start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123'), \
         and the length must be no more than 45 characters."
    ))
}

fn validate_flink_version(
    spec: &FlinkDeploymentSpec,
    status: &FlinkDeploymentStatus,
) -> Result<(), String> {
    let Some(version) = spec.flink_version else {
        return Err("Flink Version must be defined.".into());
    };
    if !version.is_supported() {
        return Err(format!(
            "Flink version {} is not supported by this operator version",
            version.as_str()
        ));
    }
    let Some(recorded) = status.reconciliation_status.last_reconciled() else {
        return Ok(());
    };
    if let (Some(last_job), Some(job)) = (&recorded.spec.job, &spec.job) {
        let stateful_now = job.upgrade_mode != UpgradeMode::Stateless;
        if stateful_now
            && last_job.state == JobState::Suspended
            && last_job.upgrade_mode == UpgradeMode::LastState
            && recorded.spec.flink_version != spec.flink_version
        {
            return Err("Changing flinkVersion after last-state suspend is not allowed. Restore your cluster with the current \
                        flinkVersion and perform the version upgrade afterwards."
                .into());
        }
    }
    Ok(())
}

fn validate_config(config: &EffectiveConfig) -> Result<(), String> {
    if let Some(key) = FORBIDDEN_KEYS.iter().find(|k| config.0.contains_key(**k)) {
        return Err(format!("Forbidden Flink config key: {key}"));
    }
    if config.flag("kubernetes.operator.deployment.rollback.enabled", false) && !config.ha_enabled()
    {
        return Err("HA must be enabled for rollback support.".into());
    }
    if config.flag("kubernetes.operator.cluster.health-check.enabled", false)
        && !config.flag("kubernetes.operator.jm-deployment-recovery.enabled", true)
    {
        return Err("Deployment recovery (kubernetes.operator.jm-deployment-recovery.enabled) must be enabled for job health \
                    check (kubernetes.operator.cluster.health-check.enabled) support."
            .into());
    }
    Ok(())
}

fn validate_ingress(ingress: Option<&Value>) -> Result<(), String> {
    match ingress {
        Some(ingress) if !ingress.is_null() && ingress["template"].as_str().is_none() => {
            Err("Ingress template must be defined".into())
        }
        _ => Ok(()),
    }
}

fn validate_log_config(spec: &FlinkDeploymentSpec) -> Result<(), String> {
    let Some(files) = &spec.log_configuration else {
        return Ok(());
    };
    match files
        .keys()
        .find(|k| !ALLOWED_LOG_KEYS.contains(&k.as_str()))
    {
        Some(key) => Err(format!(
            "Invalid log config key: {key}. Allowed keys are [{}]",
            ALLOWED_LOG_KEYS.join(", ")
        )),
        None => Ok(()),
    }
}

fn validate_job(
    job: &JobSpec,
    tm: Option<&TaskManagerSpec>,
    config: &EffectiveConfig,
) -> Result<(), String> {
    if job.upgrade_mode != UpgradeMode::Stateless && config.checkpoints_dir().is_none() {
        return Err("Checkpoint directory[state.checkpoints.dir] must be defined for last-state and savepoint upgrade modes".into());
    }
    if config.savepoints_dir().is_none() {
        let reason = if job.upgrade_mode == UpgradeMode::Savepoint {
            Some("Job could not be upgraded with savepoint while config key[state.savepoints.dir] is not set".to_string())
        } else if job.savepoint_trigger_nonce.is_some() {
            Some("Savepoint could not be manually triggered for the running job while config key[state.savepoints.dir] is not set".into())
        } else if config
            .get("kubernetes.operator.periodic.savepoint.interval")
            .is_some()
        {
            Some("Periodic savepoints cannot be enabled when config key[state.savepoints.dir] is not set".into())
        } else if config
            .get("kubernetes.operator.job.upgrade.last-state.max.allowed.checkpoint.age")
            .is_some()
        {
            Some(
                "In order to use max-checkpoint age functionality config key[state.savepoints.dir] must be set to allow \
                 triggering savepoint upgrades."
                    .into(),
            )
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(reason);
        }
    }
    match tm.and_then(|tm| tm.replicas) {
        Some(replicas) if replicas < 1 => Err("TaskManager replicas must be larger than 0".into()),
        None if job.parallelism < 1 => Err("Job parallelism must be larger than 0".into()),
        _ => Ok(()),
    }
}

/// Whether the memory of `component` is defined by `resource.memory`.
fn resource_memory(resource: Option<&Resource>) -> bool {
    resource
        .and_then(|r| r.memory.as_deref())
        .is_some_and(|m| !m.trim().is_empty())
}

fn validate_resources(component: &str, resource: Option<&Resource>) -> Result<(), String> {
    let Some(resource) = resource else {
        return Ok(());
    };
    let mut errors = String::new();
    if let Some(Err(e)) = resource.memory.as_deref().map(parse_memory) {
        errors.push_str(&format!("{component} resource memory parse error: {e}"));
    }
    if let Some(Err(e)) = resource.ephemeral_storage.as_deref().map(parse_memory) {
        errors.push_str(&format!(
            "{component} resource ephemeral storage parse error: {e}"
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn validate_job_manager(
    jm: Option<&JobManagerSpec>,
    config: &EffectiveConfig,
) -> Result<(), String> {
    let memory_from_config = config
        .first(&[
            "jobmanager.memory.process.size",
            "jobmanager.memory.flink.size",
            "jobmanager.memory.heap.size",
            "jobmanager.heap.size",
        ])
        .is_some();
    if !resource_memory(jm.and_then(|jm| jm.resource.as_ref())) && !memory_from_config {
        return Err(
            "JobManager resource memory must be defined using `spec.jobManager.resource.memory`"
                .into(),
        );
    }
    let Some(jm) = jm else { return Ok(()) };
    validate_resources("JobManager", jm.resource.as_ref())?;
    if jm.replicas < 1 {
        return Err("JobManager replicas should not be configured less than one.".into());
    }
    if jm.replicas > 1 && !config.ha_enabled() {
        return Err(
            "High availability should be enabled when starting standby JobManagers.".into(),
        );
    }
    Ok(())
}

fn validate_task_manager(
    tm: Option<&TaskManagerSpec>,
    config: &EffectiveConfig,
) -> Result<(), String> {
    let memory_from_config = config
        .first(&[
            "taskmanager.memory.process.size",
            "taskmanager.memory.flink.size",
        ])
        .is_some();
    if !resource_memory(tm.and_then(|tm| tm.resource.as_ref())) && !memory_from_config {
        return Err(
            "TaskManager resource memory must be defined using `spec.taskManager.resource.memory`"
                .into(),
        );
    }
    let Some(tm) = tm else { return Ok(()) };
    validate_resources("TaskManager", tm.resource.as_ref())?;
    if tm.replicas.is_some_and(|r| r < 1) {
        return Err("TaskManager replicas should not be configured less than one.".into());
    }
    Ok(())
}

fn validate_spec_change(
    spec: &FlinkDeploymentSpec,
    status: &FlinkDeploymentStatus,
) -> Result<(), String> {
    let Some(recorded) = status.reconciliation_status.last_reconciled() else {
        return Ok(());
    };
    let old = &recorded.spec;
    match (&old.job, &spec.job) {
        (None, Some(_)) => return Err("Cannot switch from session to job cluster".into()),
        (Some(_), None) => return Err("Cannot switch from job to session cluster".into()),
        _ => {}
    }
    use crate::operator::spec::DeploymentMode::{Native, Standalone};
    match (old.mode(), spec.mode()) {
        (Native, Standalone) => {
            return Err(
                "Cannot switch from native kubernetes to standalone kubernetes cluster".into(),
            );
        }
        (Standalone, Native) => {
            return Err(
                "Cannot switch from standalone kubernetes to native kubernetes cluster".into(),
            );
        }
        _ => {}
    }
    if let (Some(old_job), Some(job)) = (&old.job, &spec.job) {
        let nonce_changed = job.savepoint_redeploy_nonce.is_some()
            && job.savepoint_redeploy_nonce != old_job.savepoint_redeploy_nonce;
        if nonce_changed
            && job
                .initial_savepoint_path
                .as_deref()
                .is_none_or(|p| p.trim().is_empty())
        {
            return Err("InitialSavepointPath must not be empty for savepoint redeployment".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "image": "flink:1.17",
            "flinkVersion": "v1_17",
            "serviceAccount": "flink",
            "flinkConfiguration": {"state.savepoints.dir": "file:///sp", "state.checkpoints.dir": "file:///cp"},
            "jobManager": {"resource": {"memory": "1024m", "cpu": 0.5}},
            "taskManager": {"resource": {"memory": "1024m", "cpu": 0.5}},
            "job": {"jarURI": "local:///job.jar", "parallelism": 2, "upgradeMode": "savepoint"},
        })
    }

    fn check(name: &str, edit: impl FnOnce(&mut Value)) -> Result<(), String> {
        let mut spec = valid();
        edit(&mut spec);
        let spec = FlinkDeploymentSpec::from_value(&spec).unwrap();
        validate_deployment(
            name,
            &spec,
            &FlinkDeploymentStatus::default(),
            &Default::default(),
        )
    }

    #[test]
    fn a_complete_spec_passes() {
        assert_eq!(check("basic", |_| {}), Ok(()));
    }

    #[test]
    fn each_rule_reports_the_operators_message() {
        let err = |name: &str, edit: fn(&mut Value)| check(name, edit).unwrap_err();
        assert!(
            err("Bad_Name", |_| {}).starts_with("The FlinkDeployment name: Bad_Name is invalid")
        );
        assert!(
            check(&"a".repeat(46), |_| {}).is_err(),
            "46 characters is too long"
        );
        assert_eq!(check(&"a".repeat(45), |_| {}), Ok(()));
        assert_eq!(
            err("x", |s| s
                .as_object_mut()
                .unwrap()
                .remove("flinkVersion")
                .map(drop)
                .unwrap_or(())),
            "Flink Version must be defined."
        );
        assert_eq!(
            err("x", |s| s["flinkVersion"] = json!("v1_14")),
            "Flink version v1_14 is not supported by this operator version"
        );
        assert_eq!(
            err("x", |s| s["flinkConfiguration"]["kubernetes.cluster-id"] =
                json!("y")),
            "Forbidden Flink config key: kubernetes.cluster-id"
        );
        assert_eq!(
            err(
                "x",
                |s| s["flinkConfiguration"]["kubernetes.operator.deployment.rollback.enabled"] =
                    json!("true")
            ),
            "HA must be enabled for rollback support."
        );
        assert_eq!(
            err("x", |s| s["ingress"] = json!({"className": "nginx"})),
            "Ingress template must be defined"
        );
        assert!(
            err("x", |s| s["logConfiguration"] =
                json!({"log4j.properties": ""}))
            .starts_with("Invalid log config key: log4j.properties.")
        );
        assert_eq!(
            err("x", |s| s["flinkConfiguration"]
                .as_object_mut()
                .unwrap()
                .clear()),
            "Checkpoint directory[state.checkpoints.dir] must be defined for last-state and savepoint upgrade modes"
        );
        assert_eq!(
            err("x", |s| {
                s["flinkConfiguration"]
                    .as_object_mut()
                    .unwrap()
                    .remove("state.savepoints.dir");
            }),
            "Job could not be upgraded with savepoint while config key[state.savepoints.dir] is not set"
        );
        assert_eq!(
            err("x", |s| s["job"]["parallelism"] = json!(0)),
            "Job parallelism must be larger than 0"
        );
        assert_eq!(
            err("x", |s| {
                s["job"].as_object_mut().unwrap().remove("parallelism");
            }),
            "Job parallelism must be larger than 0"
        );
        assert_eq!(
            err("x", |s| s["taskManager"]["replicas"] = json!(0)),
            "TaskManager replicas must be larger than 0"
        );
        assert_eq!(
            err("x", |s| {
                s["jobManager"]["resource"]
                    .as_object_mut()
                    .unwrap()
                    .remove("memory");
            }),
            "JobManager resource memory must be defined using `spec.jobManager.resource.memory`"
        );
        assert_eq!(
            err("x", |s| {
                s.as_object_mut().unwrap().remove("taskManager");
            }),
            "TaskManager resource memory must be defined using `spec.taskManager.resource.memory`"
        );
        assert_eq!(
            err("x", |s| s["jobManager"]["resource"]["memory"] =
                json!("lots")),
            "JobManager resource memory parse error: text does not start with a number"
        );
        assert_eq!(
            err("x", |s| s["jobManager"]["replicas"] = json!(2)),
            "High availability should be enabled when starting standby JobManagers."
        );
        assert_eq!(
            err("x", |s| {
                s.as_object_mut().unwrap().remove("serviceAccount");
            }),
            "spec.serviceAccount must be defined. If you use helm, its value should be the same with the name of jobServiceAccount."
        );
    }

    #[test]
    fn memory_may_come_from_flink_config() {
        let ok = check("x", |s| {
            s["jobManager"]["resource"]
                .as_object_mut()
                .unwrap()
                .remove("memory");
            s["flinkConfiguration"]["jobmanager.memory.process.size"] = json!("1600m");
        });
        assert_eq!(ok, Ok(()));
    }

    #[test]
    fn earlier_rules_win() {
        // Both the version and the service account are missing: the version
        // check comes first in the operator's order.
        let err = check("x", |s| {
            let spec = s.as_object_mut().unwrap();
            spec.remove("flinkVersion");
            spec.remove("serviceAccount");
        });
        assert_eq!(err, Err("Flink Version must be defined.".into()));
    }
}
