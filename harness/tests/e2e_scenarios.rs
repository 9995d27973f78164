//! The shipped scenarios (`scenarios/*.yaml`) pass on the simulator, and the
//! reports they produce are complete, parseable and free of credentials.

mod e2e_support;

use std::time::{Duration, Instant};

use e2e_support::{
    check_xml, e2e, read_report, run, steps, test_scenario, testcases_per_suite, workspace_root,
};
use harness::scenario::{self, Action, Step};
use serde_json::Value;

/// Leaf steps of a scenario, counted from the parsed file rather than from
/// the runner, so the check below is independent of the code that reports.
fn leaf_steps(steps: &[Step]) -> usize {
    steps
        .iter()
        .map(|step| match &step.action {
            Action::Block(block) => {
                leaf_steps(&block.try_steps)
                    + leaf_steps(&block.catch_steps)
                    + leaf_steps(&block.finally_steps)
            }
            _ => 1,
        })
        .sum()
}

#[test]
fn the_shipped_scenarios_pass_and_report_every_step() {
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let output = run(&mut e2e(dir.path()), Duration::from_secs(120), 0);
    let elapsed = started.elapsed();
    // A passing run logs nothing at warn or above (e.g. a Kafka source still
    // closing when its scenario stopped the broker).
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains(" WARN ") && !stderr.contains(" ERROR "),
        "{stderr}"
    );
    // The budget is 15 s for every shipped scenario; allow for a loaded test machine.
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");

    let files =
        scenario::scenario_files(&[workspace_root().join("scenarios")]).expect("scenario files");
    let scenarios = scenario::load_all(&files).expect("the shipped scenarios are valid");
    let expected: Vec<(String, usize)> = scenarios
        .iter()
        .map(|s| (s.metadata.name.clone(), leaf_steps(&s.spec.steps)))
        .collect();
    let names: Vec<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"operator-lifecycle")
            && names.contains(&"invalid-specs")
            && names.contains(&"feature-pipeline"),
        "{names:?}"
    );

    let report = read_report(dir.path());
    assert_eq!(report["schemaVersion"], "harness.flink.dev/report/v1");
    assert_eq!(report["outcome"], "pass");
    assert_eq!(report["backend"]["backend"], "sim");
    assert_eq!(report["backend"]["virtualTime"], true);
    let reported: Vec<(String, usize)> = report["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or_default().to_owned(),
                s["steps"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    assert_eq!(reported, expected);
    for step in report["scenarios"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["steps"].as_array().into_iter().flatten())
    {
        assert_eq!(step["outcome"], "pass", "{step}");
        assert!(
            step["durations"]["realMs"].is_u64() && step["durations"]["clusterMs"].is_u64(),
            "{step}"
        );
    }
    // The pipeline scenario compared a non-trivial Redis state, and its dead
    // letters, with the oracle after the savepoint restore.
    let pipeline = steps(&report, "feature-pipeline");
    let last = pipeline
        .iter()
        .rev()
        .find(|s| s["verb"] == "verify")
        .expect("a verify step");
    let notes: Vec<&str> = last["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let compared = notes
        .first()
        .and_then(|n| n.strip_prefix("compared "))
        .and_then(|n| n.split(' ').next())
        .and_then(|n| n.parse::<usize>().ok());
    assert!(compared.is_some_and(|keys| keys > 100), "{notes:?}");
    assert!(
        notes.iter().any(|n| n
            .ends_with("dead letters, each exactly once with the oracle's reason")
            && !n.starts_with("0 ")),
        "{notes:?}"
    );
    // Virtual time: the run covered minutes of cluster time in seconds.
    let cluster_ms = report["durations"]["clusterMs"].as_u64().unwrap_or(0);
    let real_ms = report["durations"]["realMs"].as_u64().unwrap_or(u64::MAX);
    assert!(
        cluster_ms > 10 * real_ms,
        "cluster {cluster_ms} ms vs real {real_ms} ms"
    );

    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).expect("junit.xml");
    let elements = check_xml(&junit).expect("well-formed junit.xml");
    assert_eq!(elements.first().map(String::as_str), Some("testsuites"));
    assert_eq!(testcases_per_suite(&junit), expected);

    let summary = std::fs::read_to_string(dir.path().join("summary.md")).expect("summary.md");
    for (name, _) in &expected {
        assert!(summary.contains(&format!("## {name} (pass)")), "{summary}");
    }
}

#[test]
fn reports_never_contain_the_simulators_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A failing scenario too, so the diagnostics bundle is written as well.
    let output = run(
        e2e(dir.path())
            .arg(workspace_root().join("scenarios/invalid-specs.yaml"))
            .arg(test_scenario("failing.yaml")),
        Duration::from_secs(120),
        1,
    );
    // A failing scenario does not stop the others.
    let report = read_report(dir.path());
    let outcomes: Vec<(&str, &str)> = report["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or(""),
                s["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![("invalid-specs", "pass"), ("failing", "fail")]
    );
    let kubeconfig =
        std::fs::read_to_string(dir.path().join("sim/kubeconfig")).expect("the run's kubeconfig");
    let token = kubeconfig
        .lines()
        .find_map(|line| line.trim().strip_prefix("token:"))
        .map(|t| t.trim().trim_matches('"').to_owned())
        .expect("the kubeconfig has a token");
    assert!(token.len() >= 16, "a real token: {token:?}");
    let mut checked = 0;
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(
                std::fs::read_dir(&path)
                    .expect("readable")
                    .filter_map(|e| e.ok())
                    .map(|e| e.path()),
            );
        } else if path.file_name().is_some_and(|n| n != "kubeconfig") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                !text.contains(&token),
                "{} contains the token",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "checked {checked} files");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains(&token) && !String::from_utf8_lossy(&output.stderr).contains(&token));
}
