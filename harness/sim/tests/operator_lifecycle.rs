//! The operator model driven at virtual times: create -> STABLE with the
//! real sequence of statuses, events and children; suspend and resume with
//! a savepoint; stateless suspend; two-pass upgrades; upgrade-mode-only
//! edits; deletion; no churn when idle.

mod operator_support;

use std::time::Duration;

use harness_sim::{
    clock::SimTime,
    operator::{
        OperatorConfig, Timings,
        flink::{SharedClusters, lock},
        spec::SpecWithMeta,
    },
};
use operator_support::{Sim, secs, yaml};
use serde_json::{Value, json};

const FIXTURE: &str =
    include_str!("../../../fixtures/flinkdeployments/flink-realtime-features.yaml");
const NAME: &str = "flink-realtime-features";
const NS: &str = "lemo-dev";
const GROUP: &str = "flink.apache.org";
const PLURAL: &str = "flinkdeployments";

fn timings() -> Timings {
    Timings::helm_defaults()
}

/// A cluster with the corrected seed FlinkDeployment applied in `lemo-dev`,
/// after `edit` has been applied to the manifest.
fn deployed(edit: impl FnOnce(&mut Value)) -> (Sim, SharedClusters) {
    let (mut sim, flink) = Sim::with_operator(OperatorConfig::helm_defaults());
    sim.namespace(NS);
    let mut manifest = yaml(FIXTURE);
    edit(&mut manifest);
    sim.create(NS, manifest)
        .expect("the corrected manifest is admitted");
    (sim, flink)
}

fn resource(sim: &Sim) -> Value {
    (*sim
        .get(GROUP, PLURAL, NS, NAME)
        .expect("FlinkDeployment exists"))
    .clone()
}

fn status(sim: &Sim) -> Value {
    resource(sim)["status"].clone()
}

fn recorded(status: &Value, field: &str) -> SpecWithMeta {
    SpecWithMeta::parse(status["reconciliationStatus"][field].as_str())
        .expect("recorded spec parses")
}

fn lifecycle(sim: &Sim) -> String {
    status(sim)["lifecycleState"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn run_until_lifecycle(sim: &mut Sim, state: &str, limit: Duration) -> SimTime {
    match sim.run_until_true(limit, |s| lifecycle(s) == state) {
        Some(at) => at,
        None => panic!("not {state} within {limit:?}: {:#}", status(sim)),
    }
}

/// Distinct consecutive values of `pointer` in the stored versions of the
/// FlinkDeployment since `since`.
fn sequence(sim: &Sim, since: u64, pointer: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for version in sim.history(GROUP, PLURAL, NS, NAME, since) {
        let value = version
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if out.last() != Some(&value) {
            out.push(value);
        }
    }
    out
}

fn event<'a>(events: &'a [(String, String)], reason: &str) -> Vec<&'a str> {
    events
        .iter()
        .filter(|(r, _)| r == reason)
        .map(|(_, m)| m.as_str())
        .collect()
}

fn event_count(sim: &Sim, reason: &str) -> i64 {
    sim.event_objects(NS, NAME)
        .iter()
        .filter(|e| e["reason"] == reason)
        .map(|e| e["count"].as_i64().unwrap_or(0))
        .sum()
}

fn jobmanager(sim: &Sim) -> Option<Value> {
    sim.get("apps", "deployments", NS, NAME)
        .map(|d| (*d).clone())
}

fn config_map_line(sim: &Sim, key: &str) -> Option<String> {
    let cm = sim.get("", "configmaps", NS, &format!("flink-config-{NAME}"))?;
    let text = cm["data"]["flink-conf.yaml"].as_str()?.to_string();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")).map(str::to_string))
}

#[test]
fn create_goes_upgrading_deployed_stable_within_about_a_minute() {
    let before = 1;
    let (mut sim, _flink) = deployed(|_| {});
    let created = sim.now;
    let fd = resource(&sim);
    assert_eq!(
        fd["metadata"]["finalizers"],
        json!(["flinkdeployments.flink.apache.org/finalizer"])
    );

    // Right after creation: written ahead as UPGRADING, then deployed.
    let s = status(&sim);
    assert_eq!(
        sequence(&sim, before, "/status/lifecycleState"),
        ["", "CREATED", "UPGRADING", "DEPLOYED"]
    );
    assert_eq!(s["reconciliationStatus"]["state"], "DEPLOYED");
    assert_eq!(s["jobManagerDeploymentStatus"], "DEPLOYING");
    assert_eq!(s["jobStatus"]["state"], "RECONCILING");
    assert_eq!(s["observedGeneration"], 1);
    let job_id = s["jobStatus"]["jobId"].as_str().unwrap().to_string();
    assert_eq!(job_id.len(), 32);
    assert!(
        job_id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    let spec = recorded(&s, "lastReconciledSpec");
    let job = spec.spec.job.as_ref().unwrap();
    assert_eq!(
        job.upgrade_mode.as_str(),
        "stateless",
        "the first deployment is recorded as stateless"
    );
    assert_eq!(job.state.as_str(), "running");
    assert!(spec.resource_metadata.first_deployment);
    assert_eq!(
        spec.resource_metadata.api_version,
        "flink.apache.org/v1beta1"
    );
    assert_eq!(
        s["taskManager"],
        json!({"labelSelector": "component=taskmanager,app=flink-realtime-features", "replicas": 2})
    );
    assert_eq!(
        sim.events_about(NS, NAME)
            .iter()
            .filter(|(r, _)| r == "Submit")
            .count(),
        1
    );
    assert_eq!(
        event(&sim.events_about(NS, NAME), "Submit"),
        ["Starting deployment"]
    );

    // The JobManager Deployment and its companions, as native Flink makes them.
    let jm = jobmanager(&sim).expect("JobManager Deployment created");
    assert_eq!(
        jm["metadata"]["labels"],
        json!({"app": NAME, "component": "jobmanager", "type": "flink-native-kubernetes"})
    );
    assert_eq!(
        jm["metadata"]["annotations"]["flinkdeployment.flink.apache.org/generation"],
        "1"
    );
    let owner = &jm["metadata"]["ownerReferences"][0];
    assert_eq!(
        (
            owner["kind"].as_str(),
            owner["uid"].as_str(),
            owner["controller"].as_bool()
        ),
        (
            Some("FlinkDeployment"),
            fd["metadata"]["uid"].as_str(),
            Some(false)
        )
    );
    assert_eq!(jm["spec"]["strategy"]["type"], "Recreate");
    let container = &jm["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["name"], "flink-main-container");
    assert_eq!(
        container["image"],
        "registry.cn-beijing.aliyuncs.com/lemo/recommender-flink:latest"
    );
    assert_eq!(
        container["envFrom"][0]["configMapRef"]["name"], "lemo-services-config",
        "envFrom from the pod template"
    );
    assert_eq!(
        jm["spec"]["template"]["spec"]["serviceAccountName"],
        "flink"
    );
    let rest = sim
        .get("", "services", NS, &format!("{NAME}-rest"))
        .expect("REST service");
    assert_eq!(rest["spec"]["ports"][0]["port"], 8081);
    assert_eq!(
        rest["metadata"]["ownerReferences"][0]["uid"],
        jm["metadata"]["uid"]
    );
    assert!(
        sim.get("", "services", NS, NAME).is_some(),
        "internal service"
    );
    assert_eq!(
        config_map_line(&sim, "$internal.pipeline.job-id").as_deref(),
        Some(job_id.as_str())
    );
    assert_eq!(
        config_map_line(&sim, "parallelism.default").as_deref(),
        Some("8"),
        "replicas x slots wins over job.parallelism"
    );
    assert_eq!(
        config_map_line(&sim, "execution.savepoint.path"),
        None,
        "nothing to restore on a first deployment"
    );

    // Until STABLE: the JobManager goes DEPLOYING -> DEPLOYED_NOT_READY -> READY
    // and the job RECONCILING -> CREATED -> RUNNING.
    let jm_status =
        |state: &'static str| move |s: &Sim| status(s)["jobManagerDeploymentStatus"] == state;
    let not_ready_at = sim
        .run_until_true(secs(300), jm_status("DEPLOYED_NOT_READY"))
        .expect("JobManager Deployment available");
    let ready_at = sim
        .run_until_true(secs(300), jm_status("READY"))
        .expect("JobManager READY");
    assert_eq!(
        ready_at.since(not_ready_at),
        timings().rest_ready_delay,
        "READY after observer.rest-ready.delay"
    );
    assert!(
        sim.pods(NS, &[("app", NAME), ("component", "jobmanager")])
            .iter()
            .all(|p| p["status"]["phase"] == "Running")
    );
    let stable_at = run_until_lifecycle(&mut sim, "STABLE", secs(300));
    let took = stable_at.since(created);
    assert!(
        took >= secs(40) && took <= secs(90),
        "create -> STABLE took {took:?}, expected about a minute"
    );
    assert_eq!(
        sequence(&sim, before, "/status/jobManagerDeploymentStatus"),
        ["", "MISSING", "DEPLOYING", "DEPLOYED_NOT_READY", "READY"]
    );
    assert_eq!(
        sequence(&sim, before, "/status/jobStatus/state"),
        ["", "RECONCILING", "CREATED", "RUNNING"]
    );
    let events = sim.events_about(NS, NAME);
    let changes = event(&events, "JobStatusChanged");
    assert_eq!(
        changes,
        [
            "Job status changed from RECONCILING to CREATED",
            "Job status changed from CREATED to RUNNING"
        ]
    );
    let versions = sim.history(GROUP, PLURAL, NS, NAME, before);
    let first = |state: &str| {
        versions
            .iter()
            .find(|v| v["status"]["jobManagerDeploymentStatus"] == state)
            .map(|v| v["metadata"]["resourceVersion"].clone())
    };
    assert!(first("DEPLOYED_NOT_READY").is_some() && first("READY").is_some());

    let s = status(&sim);
    assert_eq!(s["jobStatus"]["state"], "RUNNING");
    assert_eq!(s["jobStatus"]["jobName"], NAME);
    assert_eq!(
        s["jobStatus"]["jobId"],
        job_id.as_str(),
        "the job keeps its id"
    );
    for field in ["startTime", "updateTime"] {
        let millis: i64 = s["jobStatus"][field]
            .as_str()
            .unwrap()
            .parse()
            .expect("epoch millis as a string");
        assert!(
            millis >= created.0 && millis <= stable_at.0,
            "{field} = {millis}"
        );
    }
    assert_eq!(
        s["reconciliationStatus"]["lastStableSpec"],
        s["reconciliationStatus"]["lastReconciledSpec"]
    );
    assert_eq!(s["conditions"][0]["type"], "Running");
    assert_eq!(s["conditions"][0]["status"], "True");
    assert_eq!(s["conditions"][0]["message"], "Job state RUNNING");
    assert_eq!(s["clusterInfo"]["flink-version"], "1.17.2");
    assert_eq!(
        s["clusterInfo"]["total-cpu"], "1.5",
        "0.5 JobManager + 2 x 0.5 TaskManager"
    );
    assert_eq!(s["clusterInfo"]["total-memory"], (3u64 << 30).to_string());

    // TaskManagers come from the JobManager, owned by its Deployment.
    let jm = jobmanager(&sim).unwrap();
    let mut tms: Vec<String> = sim
        .pods(NS, &[("app", NAME), ("component", "taskmanager")])
        .iter()
        .map(|p| {
            assert_eq!(
                p["metadata"]["ownerReferences"][0]["uid"],
                jm["metadata"]["uid"]
            );
            assert_eq!(p["status"]["phase"], "Running");
            p["metadata"]["name"].as_str().unwrap().to_string()
        })
        .collect();
    tms.sort();
    assert_eq!(
        tms,
        [
            format!("{NAME}-taskmanager-1-1"),
            format!("{NAME}-taskmanager-1-2")
        ]
    );
    assert_eq!(
        sim.pods(NS, &[("app", NAME), ("component", "jobmanager")])
            .len(),
        1
    );
}

#[test]
fn a_stable_deployment_does_not_churn() {
    let (mut sim, _flink) = deployed(|_| {});
    run_until_lifecycle(&mut sim, "STABLE", secs(300));
    sim.run_for(secs(60));
    let rv = sim.rv();
    sim.cluster.step(sim.now);
    sim.cluster.step(sim.now);
    assert_eq!(
        sim.rv(),
        rv,
        "stepping twice at the same time changes nothing"
    );
    sim.run_for(secs(600));
    assert_eq!(sim.rv(), rv, "ten minutes of reconciles change nothing");
    assert_eq!(lifecycle(&sim), "STABLE");
}

#[test]
fn savepoint_suspend_and_resume_restore_from_the_same_path() {
    let t = timings();
    let (mut sim, flink) = deployed(|_| {});
    run_until_lifecycle(&mut sim, "STABLE", secs(300));
    let before = sim.rv();
    let old_job = status(&sim)["jobStatus"]["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    let old_jm_uid = jobmanager(&sim).unwrap()["metadata"]["uid"].clone();

    sim.patch(GROUP, PLURAL, NS, NAME, |d| {
        d["spec"]["job"]["state"] = json!("suspended")
    })
    .unwrap();
    let suspended_at = sim.now;
    let events = sim.events_about(NS, NAME);
    assert_eq!(
        event(&events, "SpecChanged"),
        [
            "UPGRADE change(s) detected (Diff: FlinkDeploymentSpec[job.state : running -> suspended, job.upgradeMode : stateless -> savepoint]), starting reconciliation."
        ]
    );
    assert_eq!(
        event(&events, "Suspended"),
        ["Suspending existing deployment."]
    );
    assert_eq!(
        lifecycle(&sim),
        "STABLE",
        "nothing changes while the savepoint is written"
    );
    assert_eq!(status(&sim)["jobStatus"]["state"], "RUNNING");

    let done = run_until_lifecycle(&mut sim, "SUSPENDED", secs(120));
    let took = done.since(suspended_at);
    assert!(
        took >= t.savepoint && took <= secs(30),
        "suspend took {took:?}"
    );
    let s = status(&sim);
    let path = s["jobStatus"]["upgradeSavepointPath"]
        .as_str()
        .expect("savepoint path recorded")
        .to_string();
    let prefix = format!("file:///flink-data/savepoints/savepoint-{}-", &old_job[..6]);
    let suffix = path
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{path} should start with {prefix}"));
    assert!(
        suffix.len() == 12 && suffix.bytes().all(|b| b.is_ascii_hexdigit()),
        "{path}"
    );
    let last = &s["jobStatus"]["savepointInfo"]["lastSavepoint"];
    assert_eq!(
        (
            last["location"].as_str(),
            last["triggerType"].as_str(),
            last["formatType"].as_str()
        ),
        (Some(path.as_str()), Some("UPGRADE"), Some("CANONICAL"))
    );
    assert_eq!(last["timeStamp"].as_i64(), Some(done.0));
    assert_eq!(
        s["jobStatus"]["savepointInfo"]["savepointHistory"],
        json!([last.clone()])
    );
    assert_eq!(s["jobStatus"]["state"], "FINISHED");
    assert_eq!(
        s["taskManager"],
        json!({"labelSelector": "", "replicas": 0})
    );
    let spec = recorded(&s, "lastReconciledSpec");
    assert_eq!(
        spec.spec
            .job
            .as_ref()
            .map(|j| (j.state.as_str(), j.upgrade_mode.as_str())),
        Some(("suspended", "savepoint"))
    );
    assert_eq!(
        s["reconciliationStatus"]["lastStableSpec"],
        s["reconciliationStatus"]["lastReconciledSpec"],
        "a suspended spec is stable"
    );
    assert_eq!(
        jobmanager(&sim).map(|d| d["metadata"]["uid"].clone()),
        Some(old_jm_uid.clone()),
        "native savepoint suspend keeps the JobManager"
    );
    assert!(
        !sim.history(GROUP, PLURAL, NS, NAME, before)
            .iter()
            .any(|v| v["status"]["lifecycleState"] == "UPGRADING"),
        "a suspend is not an upgrade"
    );

    sim.run_for(t.tm_idle_timeout + secs(1));
    assert!(
        sim.pods(NS, &[("app", NAME), ("component", "taskmanager")])
            .is_empty(),
        "idle TaskManagers are released"
    );

    sim.patch(GROUP, PLURAL, NS, NAME, |d| {
        d["spec"]["job"]["state"] = json!("running")
    })
    .unwrap();
    assert_eq!(
        event_count(&sim, "Submit"),
        2,
        "the same Submit event, counted twice"
    );
    let jm = jobmanager(&sim).expect("a new JobManager Deployment");
    assert_ne!(
        jm["metadata"]["uid"], old_jm_uid,
        "the lingering JobManager is replaced"
    );
    assert_eq!(
        config_map_line(&sim, "execution.savepoint.path").as_deref(),
        Some(path.as_str())
    );
    let new_job = status(&sim)["jobStatus"]["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_job, old_job, "a savepoint restore gets a new JobID");
    assert_eq!(
        config_map_line(&sim, "$internal.pipeline.job-id").as_deref(),
        Some(new_job.as_str())
    );
    run_until_lifecycle(&mut sim, "STABLE", secs(120));
    assert_eq!(
        lock(&flink).restored_from(NS, NAME).as_deref(),
        Some(path.as_str()),
        "the job restored from the savepoint"
    );
    let s = status(&sim);
    assert_eq!(s["jobStatus"]["upgradeSavepointPath"], path.as_str());
    assert_eq!(
        recorded(&s, "lastReconciledSpec")
            .spec
            .job
            .map(|j| j.upgrade_mode.as_str()),
        Some("savepoint")
    );
}

#[test]
fn stateless_suspend_cancels_and_deletes_the_jobmanager() {
    let (mut sim, flink) = deployed(|m| m["spec"]["job"]["upgradeMode"] = json!("stateless"));
    run_until_lifecycle(&mut sim, "STABLE", secs(300));
    let old_job = status(&sim)["jobStatus"]["jobId"].clone();
    sim.patch(GROUP, PLURAL, NS, NAME, |d| {
        d["spec"]["job"]["state"] = json!("suspended")
    })
    .unwrap();
    let s = status(&sim);
    assert_eq!(
        s["lifecycleState"], "SUSPENDED",
        "a stateless suspend completes at once"
    );
    assert_eq!(s["jobManagerDeploymentStatus"], "MISSING");
    assert_eq!(s["jobStatus"]["state"], "FINISHED");
    assert!(s["jobStatus"].get("upgradeSavepointPath").is_none());
    assert!(
        s["jobStatus"]["savepointInfo"]
            .get("lastSavepoint")
            .is_none()
    );
    assert!(jobmanager(&sim).is_none());
    assert!(
        sim.pods(NS, &[("app", NAME)]).is_empty(),
        "JobManager and TaskManager pods are gone"
    );
    assert!(sim.has_event(NS, NAME, "Suspended"));

    sim.patch(GROUP, PLURAL, NS, NAME, |d| {
        d["spec"]["job"]["state"] = json!("running")
    })
    .unwrap();
    assert_eq!(config_map_line(&sim, "execution.savepoint.path"), None);
    assert_ne!(status(&sim)["jobStatus"]["jobId"], old_job);
    run_until_lifecycle(&mut sim, "STABLE", secs(120));
    assert_eq!(
        lock(&flink).restored_from(NS, NAME),
        None,
        "a stateless restore starts empty"
    );
}

#[test]
fn savepoint_upgrade_takes_two_passes_and_restores() {
    let (mut sim, flink) = deployed(|m| {
        m["spec"]["taskManager"]
            .as_object_mut()
            .unwrap()
            .remove("replicas");
    });
    run_until_lifecycle(&mut sim, "STABLE", secs(300));
    // The first deployment was recorded stateless; the upgrade follows the
    // user's current mode (savepoint).
    let before = sim.rv();
    let jm_uid = jobmanager(&sim).unwrap()["metadata"]["uid"].clone();
    sim.patch(GROUP, PLURAL, NS, NAME, |d| {
        d["spec"]["job"]["parallelism"] = json!(12)
    })
    .unwrap();
    let generation = resource(&sim)["metadata"]["generation"].as_i64().unwrap();
    sim.run_until_true(secs(60), |s| {
        jobmanager(s).is_some_and(|d| d["metadata"]["uid"] != jm_uid)
    })
    .expect("redeployed");
    let lifecycles = sequence(&sim, before, "/status/lifecycleState");
    assert!(
        lifecycles
            .windows(2)
            .any(|w| w == ["UPGRADING", "DEPLOYED"]),
        "{lifecycles:?}"
    );
    assert_eq!(lifecycles.first().map(String::as_str), Some("STABLE"));
    let upgrading = sim
        .history(GROUP, PLURAL, NS, NAME, before)
        .into_iter()
        .find(|v| v["status"]["lifecycleState"] == "UPGRADING")
        .unwrap();
    let pass_one = recorded(&upgrading["status"], "lastReconciledSpec");
    assert_eq!(
        pass_one.spec.job.as_ref().map(|j| (
            j.state.as_str(),
            j.upgrade_mode.as_str(),
            j.parallelism
        )),
        Some(("suspended", "savepoint", 12))
    );
    assert!(!pass_one.resource_metadata.first_deployment);
    let s = status(&sim);
    let path = s["jobStatus"]["upgradeSavepointPath"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        config_map_line(&sim, "execution.savepoint.path").as_deref(),
        Some(path.as_str())
    );
    assert_eq!(
        config_map_line(&sim, "parallelism.default").as_deref(),
        Some("12")
    );
    assert_eq!(
        jobmanager(&sim).unwrap()["metadata"]["annotations"]["flinkdeployment.flink.apache.org/generation"],
        generation.to_string()
    );
    run_until_lifecycle(&mut sim, "STABLE", secs(120));
    // 12 / 4 slots = 3 TaskManagers, from a fresh JobManager.
    assert_eq!(
        sim.pods(NS, &[("app", NAME), ("component", "taskmanager")])
            .len(),
        3
    );
    assert_eq!(
        lock(&flink).restored_from(NS, NAME).as_deref(),
        Some(path.as_str())
    );
    assert_eq!(
        event_count(&sim, "SpecChanged"),
        1,
        "SpecChanged once per generation"
    );
    sim.run_for(secs(120));
    assert_eq!(event_count(&sim, "SpecChanged"), 1);
    assert_eq!(
        status(&sim)["observedGeneration"].as_i64(),
        Some(generation)
    );
}

#[test]
fn stateless_upgrade_deletes_the_jobmanager_at_once() {
    let (mut sim, flink) = deployed(|m| m["spec"]["job"]["upgradeMode"] = json!("stateless"));
    run_until_lifecycle(&mut sim, "STABLE", secs(300));
    let old_job = status(&sim)["jobStatus"]["jobId"].clone();
    sim.patch(GROUP, PLURAL, NS, NAME, |d| {
        d["spec"]["taskManager"]["replicas"] = json!(3)
    })
    .unwrap();
    let s = status(&sim);
    assert_eq!(
        s["lifecycleState"], "DEPLOYED",
        "both passes ran at the same instant"
    );
    assert_ne!(s["jobStatus"]["jobId"], old_job);
    assert!(s["jobStatus"].get("upgradeSavepointPath").is_none());
    assert_eq!(
        config_map_line(&sim, "parallelism.default").as_deref(),
        Some("12")
    );
    run_until_lifecycle(&mut sim, "STABLE", secs(120));
    assert_eq!(
        sim.pods(NS, &[("app", NAME), ("component", "taskmanager")])
            .len(),
        3
    );
    assert_eq!(lock(&flink).restored_from(NS, NAME), None);
}

#[test]
fn changing_only_the_upgrade_mode_does_not_redeploy() {
    let (mut sim, _flink) = deployed(|_| {});
    run_until_lifecycle(&mut sim, "STABLE", secs(300));
    let jm_uid = jobmanager(&sim).unwrap()["metadata"]["uid"].clone();
    let recorded_before = status(&sim)["reconciliationStatus"]["lastReconciledSpec"].clone();
    sim.patch(GROUP, PLURAL, NS, NAME, |d| {
        d["spec"]["job"]["upgradeMode"] = json!("stateless")
    })
    .unwrap();
    sim.run_for(secs(60));
    let s = status(&sim);
    assert_eq!(s["observedGeneration"], 2);
    assert_eq!(s["lifecycleState"], "STABLE");
    assert_eq!(
        s["reconciliationStatus"]["lastReconciledSpec"],
        recorded_before
    );
    assert_eq!(jobmanager(&sim).unwrap()["metadata"]["uid"], jm_uid);
    assert!(!sim.has_event(NS, NAME, "SpecChanged"));
    assert_eq!(event_count(&sim, "Submit"), 1);
}

#[test]
fn last_state_with_ha_keeps_the_job_id_and_ha_data() {
    let (mut sim, flink) = deployed(|m| {
        m["spec"]["job"]["upgradeMode"] = json!("last-state");
        m["spec"]["flinkConfiguration"]["high-availability.type"] = json!("kubernetes");
        m["spec"]["flinkConfiguration"]["high-availability.storageDir"] =
            json!("file:///flink-data/ha");
    });
    run_until_lifecycle(&mut sim, "STABLE", secs(300));
    sim.run_for(secs(150));
    let job_id = status(&sim)["jobStatus"]["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    let ha = format!("{NAME}-cluster-config-map");
    assert!(
        sim.get("", "configmaps", NS, &ha).is_some(),
        "the HA store exists"
    );
    let jm_uid = jobmanager(&sim).unwrap()["metadata"]["uid"].clone();
    sim.patch(GROUP, PLURAL, NS, NAME, |d| {
        d["spec"]["image"] = json!("registry.cn-beijing.aliyuncs.com/lemo/recommender-flink:v2")
    })
    .unwrap();
    assert_ne!(
        jobmanager(&sim).unwrap()["metadata"]["uid"],
        jm_uid,
        "the JobManager is replaced"
    );
    assert!(
        sim.get("", "configmaps", NS, &ha).is_some(),
        "HA data is kept for a last-state upgrade"
    );
    assert_eq!(
        status(&sim)["jobStatus"]["jobId"],
        job_id.as_str(),
        "last-state keeps the JobID"
    );
    run_until_lifecycle(&mut sim, "STABLE", secs(120));
    let restored = lock(&flink)
        .restored_from(NS, NAME)
        .expect("restored from a checkpoint");
    assert!(
        restored.starts_with(&format!("file:///flink-data/checkpoints/{job_id}/chk-")),
        "{restored}"
    );
}

#[test]
fn last_state_without_ha_cancels_and_restores_from_the_last_checkpoint() {
    let (mut sim, flink) = deployed(|m| m["spec"]["job"]["upgradeMode"] = json!("last-state"));
    run_until_lifecycle(&mut sim, "STABLE", secs(300));
    sim.run_for(secs(150));
    let old_job = status(&sim)["jobStatus"]["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    let before = sim.rv();
    sim.patch(GROUP, PLURAL, NS, NAME, |d| {
        d["spec"]["job"]["parallelism"] = json!(2)
    })
    .unwrap();
    assert_eq!(status(&sim)["jobStatus"]["state"], "CANCELLING");
    assert_eq!(lifecycle(&sim), "UPGRADING");
    run_until_lifecycle(&mut sim, "STABLE", secs(180));
    assert!(sequence(&sim, before, "/status/jobStatus/state").contains(&"CANCELED".to_string()));
    assert!(
        event(&sim.events_about(NS, NAME), "JobStatusChanged")
            .contains(&"Job status changed from CANCELLING to CANCELED")
    );
    let restored = lock(&flink)
        .restored_from(NS, NAME)
        .expect("restored from the last checkpoint");
    assert!(
        restored.starts_with(&format!("file:///flink-data/checkpoints/{old_job}/chk-")),
        "{restored}"
    );
    assert_ne!(status(&sim)["jobStatus"]["jobId"], old_job.as_str());
}

#[test]
fn deleting_the_resource_cleans_up_its_children() {
    let (mut sim, _flink) = deployed(|_| {});
    run_until_lifecycle(&mut sim, "STABLE", secs(300));
    sim.delete(GROUP, PLURAL, NS, NAME);
    sim.run_for(secs(5));
    assert!(
        sim.get(GROUP, PLURAL, NS, NAME).is_none(),
        "the finalizer is released"
    );
    assert!(sim.has_event(NS, NAME, "Cleanup"));
    assert_eq!(
        event(&sim.events_about(NS, NAME), "Cleanup"),
        ["Cleaning up FlinkDeployment"]
    );
    assert!(sim.list("apps", "deployments", NS).is_empty());
    assert!(sim.list("apps", "replicasets", NS).is_empty());
    assert!(sim.list("", "pods", NS).is_empty());
    assert!(sim.list("", "services", NS).is_empty());
    assert!(sim.list("", "configmaps", NS).is_empty());
}

#[test]
fn a_deployment_created_suspended_is_not_deployed() {
    let (mut sim, _flink) = deployed(|m| m["spec"]["job"]["state"] = json!("suspended"));
    sim.run_for(secs(60));
    assert_eq!(lifecycle(&sim), "CREATED");
    assert!(jobmanager(&sim).is_none());
    sim.patch(GROUP, PLURAL, NS, NAME, |d| {
        d["spec"]["job"]["state"] = json!("running")
    })
    .unwrap();
    assert!(jobmanager(&sim).is_some());
    run_until_lifecycle(&mut sim, "STABLE", secs(300));
}

#[test]
fn a_lost_jobmanager_deployment_is_reported_missing() {
    // Savepoint mode without HA cannot be recovered (facts §3.11).
    let (mut sim, _flink) = deployed(|_| {});
    run_until_lifecycle(&mut sim, "STABLE", secs(300));
    sim.patch(GROUP, PLURAL, NS, NAME, |d| {
        d["spec"]["job"]["upgradeMode"] = json!("savepoint")
    })
    .unwrap();
    sim.delete("apps", "deployments", NS, NAME);
    sim.run_for(secs(40));
    let s = status(&sim);
    assert_eq!(s["jobManagerDeploymentStatus"], "MISSING");
    assert_eq!(s["jobStatus"]["state"], "RECONCILING");
    // The observer clears errors of a stable spec whose JobManager is not in
    // ERROR (clearErrorsIfDeploymentIsHealthy), so the event is what remains.
    assert!(s.get("error").is_none(), "{s:#}");
    assert_eq!(
        event(&sim.events_about(NS, NAME), "Missing"),
        ["Missing JobManager deployment"]
    );
    let missing = sim
        .event_objects(NS, NAME)
        .into_iter()
        .find(|e| e["reason"] == "Missing")
        .unwrap();
    assert_eq!(
        (missing["type"].as_str(), missing["count"].as_i64()),
        (Some("Warning"), Some(1)),
        "reported once, on the transition"
    );
}

#[test]
fn a_session_cluster_is_stable_without_a_job_and_redeploys_on_change() {
    let (mut sim, flink) = deployed(|m| drop(m["spec"].as_object_mut().unwrap().remove("job")));
    let stable_at = run_until_lifecycle(&mut sim, "STABLE", secs(300));
    let s = status(&sim);
    assert!(
        s["jobStatus"].get("state").is_none() && s["jobStatus"].get("jobId").is_none(),
        "no job: {s:#}"
    );
    assert!(s.get("taskManager").is_none());
    assert_eq!(
        (
            s["conditions"][0]["status"].as_str(),
            s["conditions"][0]["reason"].as_str()
        ),
        (Some("True"), Some("JobManagerReady"))
    );
    assert_eq!(
        config_map_line(&sim, "execution.target").as_deref(),
        Some("kubernetes-session")
    );
    assert!(
        sim.pods(NS, &[("app", NAME), ("component", "taskmanager")])
            .is_empty(),
        "TaskManagers come with jobs"
    );
    assert!(lock(&flink).jobs(NS, NAME).unwrap().is_empty());
    assert!(stable_at.since(operator_support::T0) < secs(90));

    let jm_uid = jobmanager(&sim).unwrap()["metadata"]["uid"].clone();
    sim.patch(GROUP, PLURAL, NS, NAME, |d| {
        d["spec"]["flinkConfiguration"]["taskmanager.numberOfTaskSlots"] = json!("2")
    })
    .unwrap();
    assert_ne!(
        jobmanager(&sim).unwrap()["metadata"]["uid"],
        jm_uid,
        "the session cluster is redeployed"
    );
    assert!(!sim.has_event(NS, NAME, "Suspended"), "no job to suspend");
    run_until_lifecycle(&mut sim, "STABLE", secs(120));
    assert_eq!(
        config_map_line(&sim, "taskmanager.numberOfTaskSlots").as_deref(),
        Some("2")
    );
}
