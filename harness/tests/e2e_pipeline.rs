//! The pipeline verbs through `harness e2e` on the simulator: a `verify`
//! that fails shows the precise Redis diff (a dataset in a topic no job
//! reads; Redis tampered with after a passing verify), the dataset files
//! reproduce the expected state with `harness oracle`, the scenario's
//! infrastructure is stopped after a failure, and a marked FlinkDeployment
//! whose Kafka is unreachable goes FAILED with the cause in its status and
//! events.

mod e2e_support;

use std::{net::TcpStream, time::Duration};

use e2e_support::{e2e, read_report, run, steps, test_scenario};
use serde_json::Value;

/// The failed step of scenario `name`.
fn failed_step<'r>(report: &'r Value, name: &str) -> &'r Value {
    steps(report, name)
        .iter()
        .find(|s| s["outcome"] == "fail")
        .unwrap_or_else(|| panic!("{name} has a failed step"))
}

fn diff_lines(step: &Value) -> Vec<String> {
    step["failure"]["diff"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn a_failing_verify_shows_the_redis_diff_and_the_infrastructure_is_stopped() {
    let dir = tempfile::tempdir().expect("temp dir");
    run(
        e2e(dir.path())
            .arg(test_scenario("verify-wrong-topic.yaml"))
            .arg(test_scenario("verify-tampered.yaml")),
        Duration::from_secs(120),
        1,
    );
    let report = read_report(dir.path());

    // Nothing reads the topic: every expected key is missing, and the
    // deadline that expired is verify's, on the real clock.
    let wrong = failed_step(&report, "verify-wrong-topic");
    assert_eq!(wrong["verb"], "verify");
    let failure = &wrong["failure"];
    assert_eq!(
        (
            failure["deadline"]["kind"].as_str(),
            failure["deadline"]["clock"].as_str()
        ),
        (Some("verify"), Some("real"))
    );
    let message = failure["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("verify timed out after 2s (real time): redis differs from the oracle of 2000 events of dataset stray"), "{message}");
    let lines = diff_lines(wrong);
    assert!(
        !lines.is_empty() && lines.iter().take(50).all(|l| l.starts_with("missing key ")),
        "{lines:?}"
    );
    // The dataset file reproduces the expected state with `harness oracle`,
    // which counts the keys on its own.
    let events = dir.path().join("verify-wrong-topic/datasets/stray.jsonl");
    let oracle_dir = dir.path().join("oracle");
    let oracle = assert_cmd::Command::cargo_bin("harness")
        .expect("binary")
        .args(["oracle", "--events"])
        .arg(&events)
        .arg("--out")
        .arg(&oracle_dir)
        .output()
        .expect("oracle runs");
    assert!(
        oracle.status.success(),
        "{}",
        String::from_utf8_lossy(&oracle.stderr)
    );
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(oracle_dir.join("redis_state.json")).expect("state"),
    )
    .expect("json");
    let keys = state.as_object().map_or(0, serde_json::Map::len);
    assert!(keys > 0);
    assert!(
        message.contains(&format!(
            "({keys} keys expected, 0 found; {keys} differences"
        )),
        "{message} vs {keys} keys"
    );

    // Tampering after a passing verify: each change is named.
    let tampered = steps(&report, "verify-tampered");
    let passed: Vec<&Value> = tampered
        .iter()
        .filter(|s| s["verb"] == "verify" && s["outcome"] == "pass")
        .collect();
    assert_eq!(passed.len(), 1, "the verify before tampering passes");
    assert!(
        passed[0]["notes"][0]
            .as_str()
            .is_some_and(|n| n.starts_with("compared ") && n.ends_with(": equal")),
        "{:?}",
        passed[0]["notes"]
    );
    let captured = tampered
        .iter()
        .find(|s| s["name"] == "tamper with redis")
        .and_then(|s| s["notes"][0].as_str())
        .expect("capture note");
    let (key, hot) = captured
        .trim_start_matches("captured tampered = ")
        .trim_matches('"')
        .split_once(' ')
        .expect("two keys captured");
    let lines = diff_lines(failed_step(&report, "verify-tampered"));
    let changed = format!("hash {key} field view: expected ");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&changed) && l.ends_with(", found \"999\"")),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"extra key user:profile:intruder:feed:u0 (a hash)".to_owned()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&format!(
            "sorted set {hot}: no TTL (hot-item lists must expire)"
        )),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 3, "nothing else differs: {lines:?}");

    // Both scenarios' Kafka and Redis are gone after their (failed) runs.
    for scenario in report["scenarios"].as_array().expect("scenarios") {
        let endpoints = scenario["infra"]
            .as_array()
            .expect("infra endpoints reported");
        assert_eq!(endpoints.len(), 2, "{scenario}");
        for endpoint in endpoints {
            let address = endpoint["address"].as_str().unwrap_or_default();
            let host_port = address.trim_start_matches("redis://").trim_end_matches('/');
            assert!(
                TcpStream::connect_timeout(
                    &host_port.parse().expect("a loopback address"),
                    Duration::from_secs(1)
                )
                .is_err(),
                "{address} still listens"
            );
        }
    }
}

#[test]
fn an_unreachable_kafka_fails_the_marked_job_with_its_cause() {
    let dir = tempfile::tempdir().expect("temp dir");
    run(
        e2e(dir.path()).arg(test_scenario("pipeline-unreachable-kafka.yaml")),
        Duration::from_secs(120),
        0,
    );
    let report = read_report(dir.path());
    let all = steps(&report, "pipeline-unreachable-kafka");
    assert!(all.iter().all(|s| s["outcome"] == "pass"), "{all:?}");
    let cause = all
        .iter()
        .find(|s| s["name"] == "the operator reported the cause")
        .and_then(|s| s["notes"][0].as_str())
        .unwrap_or_default();
    assert!(
        cause.contains("kafka at 127.0.0.1:1 is not reachable"),
        "{cause}"
    );
}

#[test]
fn verify_compares_the_running_jobs_metrics_with_the_oracle() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A free port for the job's Prometheus endpoint, written into a copy of
    // the shipped fixture (the scenario cannot choose one itself).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let fixture = std::fs::read_to_string(
        e2e_support::workspace_root().join("fixtures/flinkdeployments/feature-pipeline.yaml"),
    )
    .expect("fixture");
    let fixture = fixture.replace(
        "    pipeline.watermark-delay: 30 s\n",
        &format!(
            "    pipeline.watermark-delay: 30 s\n    metrics.reporter.prom.port: \"{port}\"\n"
        ),
    );
    assert!(
        fixture.contains("metrics.reporter.prom.port"),
        "the fixture changed shape"
    );
    std::fs::write(dir.path().join("deployment.yaml"), fixture).expect("write fixture");
    let scenario = format!(
        r#"apiVersion: harness.flink.dev/v1alpha1
kind: Scenario
metadata: {{name: verify-metrics}}
spec:
  infra:
    topics: [{{name: user_behaviors, partitions: 1}}, {{name: user_behaviors_dlq, partitions: 1}}]
  timeouts: {{assert: 5m, verify: 20s}}
  steps:
  - apply: {{file: deployment.yaml}}
  - assert:
      resource:
        apiVersion: flink.apache.org/v1beta1
        kind: FlinkDeployment
        metadata: {{name: feature-pipeline}}
        status: {{lifecycleState: STABLE, jobStatus: {{state: RUNNING}}}}
  - produce:
      topic: user_behaviors
      dataset: events
      generate: {{seed: 9, count: 1500, users: 40, items: 30, eventTimeRate: 2}}
  - verify:
      datasets: [events]
      drained: false
      consumerGroup: feature-pipeline
      metricsUrl: http://127.0.0.1:{port}/metrics
"#
    );
    std::fs::write(dir.path().join("verify-metrics.yaml"), scenario).expect("write scenario");
    let reports = dir.path().join("reports");
    run(
        e2e(&reports).arg(dir.path().join("verify-metrics.yaml")),
        Duration::from_secs(120),
        0,
    );
    let report = read_report(&reports);
    let verify = steps(&report, "verify-metrics")
        .iter()
        .find(|s| s["verb"] == "verify")
        .cloned()
        .expect("verify step");
    assert!(
        verify["notes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|n| n == "metrics agree with the oracle's latest windows"),
        "{verify}"
    );
}
