//! The `JobModel` seam as the operator uses it: a factory sees the
//! FlinkDeployment's annotations, stop-with-savepoint passes the operator's
//! `drain-on-savepoint-deletion` setting (an IGNORE change that does not
//! redeploy), and a job that fails shows its cause in `status.error` and a
//! Warning `Error` event.

mod operator_support;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use harness_sim::{
    clock::SimTime,
    operator::{
        OperatorConfig,
        flink::job::{
            JobFactory, JobModel, JobSubmission, ModelledJob, ModelledJobs, Resources,
            SavepointStatus,
        },
        install::simulated_cluster,
        status::FlinkJobState,
    },
};
use operator_support::{Sim, secs, yaml};
use serde_json::{Value, json};

const FIXTURE: &str =
    include_str!("../../../fixtures/flinkdeployments/flink-realtime-features.yaml");
const NAME: &str = "flink-realtime-features";
const NS: &str = "jobs";
const GROUP: &str = "flink.apache.org";
const PLURAL: &str = "flinkdeployments";
const DRAIN: &str = "kubernetes.operator.job.drain-on-savepoint-deletion";

/// What the factory and its jobs saw.
#[derive(Default)]
struct Seen {
    annotations: Vec<BTreeMap<String, String>>,
    drains: Vec<bool>,
}

/// Modelled jobs that record what they are given; a submission annotated
/// `test/fail: <cause>` fails as soon as its tasks would run.
struct Recording {
    inner: ModelledJobs,
    seen: Arc<Mutex<Seen>>,
}

struct RecordingJob {
    job: ModelledJob,
    seen: Arc<Mutex<Seen>>,
    fail: Option<String>,
}

impl JobFactory for Recording {
    fn create(&self, submission: &JobSubmission<'_>) -> Box<dyn JobModel> {
        self.seen
            .lock()
            .unwrap()
            .annotations
            .push(submission.annotations.clone());
        Box::new(RecordingJob {
            job: ModelledJob::new(submission, self.inner.timings),
            seen: self.seen.clone(),
            fail: submission.annotations.get("test/fail").cloned(),
        })
    }
}

impl JobModel for RecordingJob {
    fn advance(&mut self, now: SimTime, resources: Resources) {
        self.job.advance(now, resources)
    }
    fn state(&self) -> FlinkJobState {
        match (&self.fail, self.job.state()) {
            (Some(_), FlinkJobState::Running) => FlinkJobState::Failed,
            (_, state) => state,
        }
    }
    fn start_time(&self) -> SimTime {
        self.job.start_time()
    }
    fn stop_with_savepoint(
        &mut self,
        directory: &str,
        drain: bool,
        now: SimTime,
    ) -> Result<String, String> {
        self.seen.lock().unwrap().drains.push(drain);
        self.job.stop_with_savepoint(directory, drain, now)
    }
    fn savepoint_status(&self, trigger: &str) -> Option<SavepointStatus> {
        self.job.savepoint_status(trigger)
    }
    fn cancel(&mut self, now: SimTime) -> Result<(), String> {
        self.job.cancel(now)
    }
    fn latest_checkpoint(&self) -> Option<String> {
        self.job.latest_checkpoint()
    }
    fn restored_from(&self) -> Option<String> {
        self.job.restored_from()
    }
    fn failure_cause(&self) -> Option<String> {
        (self.state() == FlinkJobState::Failed)
            .then(|| self.fail.clone())
            .flatten()
    }
    fn next_change(&self, now: SimTime, resources: Resources) -> Option<SimTime> {
        self.job.next_change(now, resources)
    }
}

fn deployed(annotations: Value) -> (Sim, Arc<Mutex<Seen>>) {
    let config = OperatorConfig::helm_defaults();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let jobs = Arc::new(Recording {
        inner: ModelledJobs {
            timings: config.timings.job(),
        },
        seen: seen.clone(),
    });
    let (cluster, _flink) =
        simulated_cluster(11, operator_support::T0, config, jobs).expect("operator installs");
    let mut sim = Sim::with(cluster);
    sim.namespace(NS);
    let mut manifest = yaml(FIXTURE);
    manifest["metadata"]["annotations"] = annotations;
    sim.create(NS, manifest).expect("admitted");
    (sim, seen)
}

fn status(sim: &Sim) -> Value {
    sim.get(GROUP, PLURAL, NS, NAME).expect("exists")["status"].clone()
}

fn run_until_lifecycle(sim: &mut Sim, state: &str) {
    if sim
        .run_until_true(secs(600), |s| status(s)["lifecycleState"] == state)
        .is_none()
    {
        panic!("not {state}: {:#}", status(sim));
    }
}

fn submits(sim: &Sim) -> i64 {
    sim.event_objects(NS, NAME)
        .iter()
        .filter(|e| e["reason"] == "Submit")
        .map(|e| e["count"].as_i64().unwrap_or(0))
        .sum()
}

#[test]
fn the_factory_sees_annotations_and_stop_with_savepoint_passes_the_drain_setting() {
    let (mut sim, seen) = deployed(json!({"harness.flink.dev/job": "feature-pipeline"}));
    run_until_lifecycle(&mut sim, "STABLE");
    assert_eq!(
        seen.lock().unwrap().annotations,
        vec![BTreeMap::from([(
            "harness.flink.dev/job".to_string(),
            "feature-pipeline".to_string()
        )])]
    );

    // Without the setting, a suspend stops without draining.
    sim.patch(GROUP, PLURAL, NS, NAME, |d| {
        d["spec"]["job"]["state"] = json!("suspended")
    })
    .expect("suspend");
    run_until_lifecycle(&mut sim, "SUSPENDED");
    sim.patch(GROUP, PLURAL, NS, NAME, |d| {
        d["spec"]["job"]["state"] = json!("running")
    })
    .expect("resume");
    run_until_lifecycle(&mut sim, "STABLE");
    assert_eq!(seen.lock().unwrap().drains, vec![false]);

    // The operator setting alone is an IGNORE change: nothing is redeployed.
    let submitted = submits(&sim);
    sim.patch(GROUP, PLURAL, NS, NAME, |d| {
        d["spec"]["flinkConfiguration"][DRAIN] = json!("true")
    })
    .expect("drain on");
    sim.run_for(secs(120));
    assert_eq!(
        submits(&sim),
        submitted,
        "no new submission for an operator setting"
    );
    assert_eq!(status(&sim)["lifecycleState"], "STABLE");
    assert_eq!(
        seen.lock().unwrap().annotations.len(),
        2,
        "one job per submission, none since"
    );

    sim.patch(GROUP, PLURAL, NS, NAME, |d| {
        d["spec"]["job"]["state"] = json!("suspended")
    })
    .expect("suspend");
    run_until_lifecycle(&mut sim, "SUSPENDED");
    assert_eq!(
        seen.lock().unwrap().drains,
        vec![false, true],
        "the second stop drains"
    );
}

#[test]
fn a_failed_job_shows_its_cause_in_the_status_and_an_event() {
    let cause = "failed to start the feature pipeline: kafka at 127.0.0.1:1 is not reachable";
    let (mut sim, _seen) = deployed(json!({"test/fail": cause}));
    run_until_lifecycle(&mut sim, "FAILED");
    let s = status(&sim);
    assert_eq!(s["jobStatus"]["state"], "FAILED");
    let error: Value = serde_json::from_str(s["error"].as_str().expect("status.error is set"))
        .expect("status.error is JSON");
    assert_eq!(error["message"], cause);
    assert_eq!(error["type"], "org.apache.flink.runtime.JobException");
    let warnings: Vec<Value> = sim
        .event_objects(NS, NAME)
        .iter()
        .filter(|e| e["reason"] == "Error")
        .map(|e| json!([e["type"], e["message"], e["source"]["component"]]))
        .collect();
    assert_eq!(warnings, vec![json!(["Warning", cause, "Job"])]);
    // The error stays while the job is FAILED.
    sim.run_for(secs(300));
    assert_eq!(status(&sim)["error"], s["error"]);
    assert_eq!(
        sim.event_objects(NS, NAME)
            .iter()
            .filter(|e| e["reason"] == "Error")
            .count(),
        1
    );
}
