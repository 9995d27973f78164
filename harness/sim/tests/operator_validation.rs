//! Validation in both places the operator runs it: the admission webhook
//! (`validationwebhook.flink.apache.org`, a 403 with the validator's message)
//! and the reconcile loop (a `ValidationError` event and `status.error`,
//! FAILED when nothing was deployed, the old spec kept running otherwise).

mod operator_support;

use harness_sim::operator::{
    OperatorConfig, spec::FlinkDeploymentSpec, status::FlinkDeploymentStatus,
    validate::validate_deployment,
};
use operator_support::{Sim, secs, yaml};
use proptest::prelude::*;
use serde_json::{Value, json};

const FIXTURE: &str =
    include_str!("../../../fixtures/flinkdeployments/flink-realtime-features.yaml");
const SEED: &str = include_str!("../../../fixtures/seed/flink-realtime-features.yaml");
const GROUP: &str = "flink.apache.org";
const PLURAL: &str = "flinkdeployments";

/// A validation rule: its name, how to break the corrected manifest, and the
/// operator's message.
type Rule = (&'static str, fn(&mut Value), &'static str);

fn rules() -> Vec<Rule> {
    vec![
        (
            "name",
            |m| m["metadata"]["name"] = json!("realtime-features-for-the-recommendation-system-v2"),
            "The FlinkDeployment name: realtime-features-for-the-recommendation-system-v2 is invalid, must consist of lower case \
             alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character \
             (e.g. 'my-name',  or 'abc-123'), and the length must be no more than 45 characters.",
        ),
        (
            "flinkVersion missing",
            |m| drop(m["spec"].as_object_mut().unwrap().remove("flinkVersion")),
            "Flink Version must be defined.",
        ),
        (
            "flinkVersion unsupported",
            |m| m["spec"]["flinkVersion"] = json!("v1_14"),
            "Flink version v1_14 is not supported by this operator version",
        ),
        (
            "forbidden config key",
            |m| m["spec"]["flinkConfiguration"]["kubernetes.namespace"] = json!("other"),
            "Forbidden Flink config key: kubernetes.namespace",
        ),
        (
            "checkpoint directory",
            |m| {
                drop(
                    m["spec"]["flinkConfiguration"]
                        .as_object_mut()
                        .unwrap()
                        .remove("state.checkpoints.dir"),
                )
            },
            "Checkpoint directory[state.checkpoints.dir] must be defined for last-state and savepoint upgrade modes",
        ),
        (
            "savepoint directory",
            |m| {
                drop(
                    m["spec"]["flinkConfiguration"]
                        .as_object_mut()
                        .unwrap()
                        .remove("state.savepoints.dir"),
                )
            },
            "Job could not be upgraded with savepoint while config key[state.savepoints.dir] is not set",
        ),
        (
            "job parallelism",
            |m| {
                m["spec"]["taskManager"]
                    .as_object_mut()
                    .unwrap()
                    .remove("replicas");
                m["spec"]["job"]["parallelism"] = json!(0);
            },
            "Job parallelism must be larger than 0",
        ),
        (
            "TaskManager replicas",
            |m| m["spec"]["taskManager"]["replicas"] = json!(0),
            "TaskManager replicas must be larger than 0",
        ),
        (
            "JobManager memory",
            |m| {
                drop(
                    m["spec"]["jobManager"]["resource"]
                        .as_object_mut()
                        .unwrap()
                        .remove("memory"),
                )
            },
            "JobManager resource memory must be defined using `spec.jobManager.resource.memory`",
        ),
        (
            "TaskManager memory",
            |m| {
                drop(
                    m["spec"]["taskManager"]["resource"]
                        .as_object_mut()
                        .unwrap()
                        .remove("memory"),
                )
            },
            "TaskManager resource memory must be defined using `spec.taskManager.resource.memory`",
        ),
        (
            "serviceAccount",
            |m| drop(m["spec"].as_object_mut().unwrap().remove("serviceAccount")),
            "spec.serviceAccount must be defined. If you use helm, its value should be the same with the name of jobServiceAccount.",
        ),
    ]
}

fn manifest(edit: fn(&mut Value)) -> Value {
    let mut m = yaml(FIXTURE);
    edit(&mut m);
    m
}

fn name_of(m: &Value) -> String {
    m["metadata"]["name"].as_str().unwrap().to_string()
}

#[test]
fn the_webhook_denies_each_rule_with_the_operators_message() {
    let mut sim = Sim::standard();
    for (rule, edit, message) in rules() {
        let err = sim.create("default", manifest(edit)).expect_err(rule);
        assert_eq!(err.code, 403, "{rule}");
        assert_eq!(err.reason, "Forbidden", "{rule}");
        assert_eq!(
            err.message,
            format!(
                "admission webhook \"validationwebhook.flink.apache.org\" denied the request: {message}"
            ),
            "{rule}"
        );
    }
    assert!(
        sim.list(GROUP, PLURAL, "default").is_empty(),
        "nothing denied was stored"
    );
    sim.create("default", yaml(FIXTURE))
        .expect("the corrected manifest is admitted");
}

#[test]
fn the_seed_manifest_is_denied_for_its_missing_service_account() {
    let mut sim = Sim::standard();
    let err = sim
        .create("default", yaml(SEED))
        .expect_err("the seed manifest is not valid");
    assert_eq!(
        err.message,
        "admission webhook \"validationwebhook.flink.apache.org\" denied the request: spec.serviceAccount must be defined. \
         If you use helm, its value should be the same with the name of jobServiceAccount."
    );
}

#[test]
fn the_webhook_checks_updates_against_the_stored_object() {
    let mut sim = Sim::standard();
    sim.create("default", yaml(FIXTURE)).unwrap();
    sim.run_for(secs(90));
    let err = sim
        .patch(GROUP, PLURAL, "default", "flink-realtime-features", |d| {
            d["spec"]["taskManager"]["replicas"] = json!(0)
        })
        .expect_err("an invalid update is denied");
    assert!(
        err.message
            .ends_with("TaskManager replicas must be larger than 0"),
        "{}",
        err.message
    );
    let err = sim
        .patch(GROUP, PLURAL, "default", "flink-realtime-features", |d| {
            drop(d["spec"].as_object_mut().unwrap().remove("job"))
        })
        .expect_err("switching to a session cluster is denied");
    assert!(
        err.message
            .ends_with("Cannot switch from job to session cluster"),
        "{}",
        err.message
    );
}

/// A cluster whose operator was installed with `webhook.create=false`.
fn without_webhook() -> Sim {
    let mut config = OperatorConfig::helm_defaults();
    config.webhook = false;
    Sim::with_operator(config).0
}

#[test]
fn without_the_webhook_the_reconcile_loop_reports_each_rule() {
    for (rule, edit, message) in rules() {
        let mut sim = without_webhook();
        let m = manifest(edit);
        let name = name_of(&m);
        sim.create("default", m).expect("no webhook: stored as is");
        sim.run_for(secs(60));
        let fd = sim.get(GROUP, PLURAL, "default", &name).unwrap();
        if rule == "flinkVersion unsupported" {
            // Step 2 of the controller: an unsupported version stops the reconcile.
            assert_eq!(
                sim.events_about("default", &name),
                [(
                    "UnsupportedFlinkVersion".to_string(),
                    "Flink version v1_14 is not supported by this operator version".to_string()
                )]
            );
            continue;
        }
        let events = sim.event_objects("default", &name);
        let validation: Vec<&Value> = events
            .iter()
            .filter(|e| e["reason"] == "ValidationError")
            .map(|e| &**e)
            .collect();
        assert_eq!(validation.len(), 1, "{rule}: {events:?}");
        assert_eq!(
            (
                validation[0]["type"].as_str(),
                validation[0]["message"].as_str()
            ),
            (Some("Warning"), Some(message)),
            "{rule}"
        );
        assert_eq!(validation[0]["source"]["component"], "Operator");
        assert_eq!(
            validation[0]["count"], 1,
            "{rule}: a never-deployed resource is not rescheduled"
        );
        let error: Value =
            serde_json::from_str(fd["status"]["error"].as_str().expect("status.error set"))
                .unwrap();
        assert_eq!(
            error["type"],
            "org.apache.flink.kubernetes.operator.exception.ValidationException"
        );
        assert_eq!(error["message"], message);
        assert_eq!(fd["status"]["lifecycleState"], "FAILED", "{rule}");
        assert!(
            sim.list("apps", "deployments", "default").is_empty(),
            "{rule}: nothing deployed"
        );
    }
}

#[test]
fn an_invalid_update_keeps_the_deployed_spec_running() {
    let mut sim = without_webhook();
    sim.create("default", yaml(FIXTURE)).unwrap();
    sim.run_until_true(secs(300), |s| {
        s.get(GROUP, PLURAL, "default", "flink-realtime-features")
            .is_some_and(|d| d["status"]["lifecycleState"] == "STABLE")
    })
    .expect("stable");
    let jm = sim
        .get("apps", "deployments", "default", "flink-realtime-features")
        .unwrap();
    sim.patch(GROUP, PLURAL, "default", "flink-realtime-features", |d| {
        d["spec"]["job"]["parallelism"] = json!(0);
        d["spec"]["taskManager"]
            .as_object_mut()
            .unwrap()
            .remove("replicas");
    })
    .unwrap();
    sim.run_for(secs(60));
    let fd = sim
        .get(GROUP, PLURAL, "default", "flink-realtime-features")
        .unwrap();
    let error = fd["status"]["error"].as_str().expect("error recorded");
    assert!(
        error.contains("Job parallelism must be larger than 0"),
        "{error}"
    );
    assert_eq!(
        fd["status"]["jobStatus"]["state"], "RUNNING",
        "the old spec keeps running"
    );
    assert_eq!(
        sim.get("apps", "deployments", "default", "flink-realtime-features")
            .unwrap()["metadata"]["uid"],
        jm["metadata"]["uid"]
    );
    let count = sim
        .event_objects("default", "flink-realtime-features")
        .iter()
        .find(|e| e["reason"] == "ValidationError")
        .map(|e| e["count"].as_i64().unwrap())
        .unwrap();
    assert!(
        count >= 3,
        "repeated every reconcile interval, one event with a count: {count}"
    );
    assert!(!sim.has_event("default", "flink-realtime-features", "SpecChanged"));
}

#[test]
fn the_rules_apply_in_the_operators_order() {
    // Missing version, memory and service account at once: the version comes first.
    let mut m = yaml(FIXTURE);
    let spec = m["spec"].as_object_mut().unwrap();
    spec.remove("flinkVersion");
    spec.remove("serviceAccount");
    spec.remove("jobManager");
    let spec = FlinkDeploymentSpec::from_value(&m["spec"]).unwrap();
    let result = validate_deployment(
        "x",
        &spec,
        &FlinkDeploymentStatus::default(),
        &Default::default(),
    );
    assert_eq!(result, Err("Flink Version must be defined.".to_string()));
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        "[a-zA-Z0-9_.:/ -]{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("v1_17"),
            Just("savepoint"),
            Just("last-state"),
            Just("suspended"),
            Just("1024m")
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        let keys = prop_oneof![
            Just("job".to_string()),
            Just("parallelism".to_string()),
            Just("flinkConfiguration".to_string()),
            Just("taskManager".to_string()),
            Just("jobManager".to_string()),
            Just("resource".to_string()),
            Just("memory".to_string()),
            Just("replicas".to_string()),
            Just("upgradeMode".to_string()),
            Just("state".to_string()),
            "[a-z.]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_specs_never_panic_the_validator(spec in json_value(), status in json_value()) {
        if let Ok(spec) = FlinkDeploymentSpec::from_value(&spec) {
            let status: FlinkDeploymentStatus = serde_json::from_value(status).unwrap_or_default();
            let _ = validate_deployment("name", &spec, &status, &Default::default());
        }
    }

    #[test]
    fn a_spec_never_differs_from_itself(spec in json_value()) {
        if let Ok(spec) = FlinkDeploymentSpec::from_value(&spec) {
            let d = harness_sim::operator::diff::diff(&spec, &spec);
            prop_assert!(d.entries.is_empty());
            prop_assert_eq!(d.kind, harness_sim::operator::diff::DiffType::Ignore);
        }
    }
}
