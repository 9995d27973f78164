//! End-to-end tests of the scenario engine through the `harness e2e` binary
//! on the simulator: every verb passing, a deliberately failing scenario
//! (diff, named deadline, catch/finally, diagnostics bundle), validation
//! stopping a run before anything is applied, and the backends' refusals.

mod e2e_support;
mod process_support;

use std::time::Duration;

use e2e_support::{
    check_xml, e2e, read_report, run, run_beside, simulator, steps, test_scenario,
    testcases_per_suite,
};
use predicates::prelude::*;

#[test]
fn every_verb_passes_on_the_simulator() {
    let dir = tempfile::tempdir().expect("temp dir");
    run(
        e2e(dir.path()).arg(test_scenario("all-verbs.yaml")),
        Duration::from_secs(60),
        0,
    );
    let report = read_report(dir.path());
    let all = steps(&report, "all-verbs");
    let outcome = |name: &str| {
        all.iter()
            .find(|s| s["name"] == name)
            .map(|s| s["outcome"].clone())
    };
    assert_eq!(
        outcome("catch is skipped when try passes"),
        Some("skip".into())
    );
    assert_eq!(
        outcome("kubectl sees what the harness sees"),
        Some("pass".into())
    );
    let captured = all
        .iter()
        .find(|s| s["name"] == "capture the patched color")
        .expect("capture step");
    assert_eq!(captured["notes"][0], "captured color = \"green\"");
    assert_slept_on_cluster_time(all);
    let cleanup = &report["scenarios"][0]["cleanup"];
    assert_eq!(cleanup["result"], "deleted", "{cleanup}");
}

#[test]
fn a_failing_scenario_names_the_deadline_shows_the_diff_and_keeps_diagnostics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = run(
        e2e(dir.path()).arg(test_scenario("failing.yaml")),
        Duration::from_secs(60),
        1,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The table shows the failure and its diff under the failing row.
    assert!(
        stdout.contains(r#"data.mode: expected "green", got "blue""#),
        "{stdout}"
    );
    assert!(
        stdout.contains("assert timed out after 5s (cluster time; "),
        "{stdout}"
    );

    let report = read_report(dir.path());
    assert_eq!(report["outcome"], "fail");
    let all = steps(&report, "failing");
    let by_id = |id: &str| {
        all.iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("step {id} in {all:?}"))
    };
    assert_eq!(by_id("1")["outcome"], "pass");
    let failed = by_id("2.try.1");
    assert_eq!(failed["outcome"], "fail");
    let failure = &failed["failure"];
    assert_eq!(failure["deadline"]["kind"], "assert");
    assert_eq!(failure["deadline"]["timeout"], "5s");
    assert_eq!(failure["deadline"]["clock"], "cluster");
    assert_eq!(
        failure["diff"],
        serde_json::json!([r#"data.mode: expected "green", got "blue""#])
    );
    assert_eq!(by_id("2.try.2")["outcome"], "skip");
    assert_eq!(by_id("2.catch.1")["outcome"], "pass");
    assert_eq!(by_id("2.finally.1")["outcome"], "pass");
    assert_eq!(by_id("3")["outcome"], "skip");

    // The bundle was taken at the failure, before `finally` deleted the object.
    let bundle = dir.path().join("failing/diagnostics");
    let failure_text = std::fs::read_to_string(bundle.join("failure.txt")).expect("failure.txt");
    assert!(
        failure_text.contains("step: 2.try.1 the mode is green (it is not)"),
        "{failure_text}"
    );
    assert!(
        failure_text.contains(r#"data.mode: expected "green", got "blue""#),
        "{failure_text}"
    );
    let configmaps = std::fs::read_to_string(bundle.join("objects/configmaps.core.yaml"))
        .expect("configmaps dumped");
    assert!(
        configmaps.contains("name: settings") && configmaps.contains("mode: blue"),
        "{configmaps}"
    );
    assert!(bundle.join("events.yaml").exists());
    assert_eq!(
        report["scenarios"][0]["diagnostics"],
        bundle.to_string_lossy().as_ref()
    );

    // JUnit: one testcase per step, the failure escaped into an attribute.
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).expect("junit.xml");
    check_xml(&junit).expect("well-formed junit");
    assert_eq!(
        testcases_per_suite(&junit),
        vec![("failing".to_owned(), all.len())]
    );
    assert!(
        junit.contains(r#"<failure message="assert timed out after 5s (cluster time; "#),
        "{junit}"
    );
    assert!(
        junit.contains("data.mode: expected &quot;green&quot;, got &quot;blue&quot;")
            || junit.contains(r#"data.mode: expected "green", got "blue""#)
    );
    let summary = std::fs::read_to_string(dir.path().join("summary.md")).expect("summary.md");
    assert!(
        summary.contains("**FAIL**")
            && summary.contains(r#"data.mode: expected "green", got "blue""#),
        "{summary}"
    );

    // Fixed and run again into the same directory: the old bundle goes, so
    // nothing beside the passing report speaks of a failure.
    let fixed = dir.path().join("fixed.yaml");
    std::fs::write(
        &fixed,
        "apiVersion: harness.flink.dev/v1alpha1\nkind: Scenario\nmetadata: {name: failing}\nspec:\n  steps:\n  - sleep: 1s\n",
    )
    .expect("write");
    run(e2e(dir.path()).arg(&fixed), Duration::from_secs(60), 0);
    assert!(!bundle.exists(), "a stale bundle survived a passing run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typo_stops_the_run_before_anything_is_applied() {
    // A simulator of our own, so the test can look at the cluster afterwards.
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = simulator(dir.path(), 7, 100.0).await;
    let kubeconfig = sim.kubeconfig.clone();
    let reports = dir.path().join("reports");
    let mut cmd = e2e(&reports);
    cmd.args(["--cluster", "kubeconfig", "--kubeconfig"])
        .arg(&kubeconfig)
        .arg(test_scenario("good.yaml"))
        .arg(test_scenario("typo.yaml"));
    let output = run_beside(cmd, Duration::from_secs(60), 2).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let typo = test_scenario("typo.yaml");
    let expected = format!(
        r#"{}:9:7: spec.steps[0].assert: unknown field "lsits", expected one of "resource", "resources", "file", "mode", "window", "match", "count", "lists", "capture" (did you mean "lists"?)"#,
        typo.display()
    );
    assert!(
        stderr.contains(&expected),
        "stderr:\n{stderr}\nexpected:\n{expected}"
    );
    assert!(stderr.contains("nothing was run"), "{stderr}");
    assert!(
        !reports.exists(),
        "no reports are written for a run that never started"
    );

    // The valid file was not applied either: its namespace does not exist.
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig"),
            &Default::default(),
        )
        .await
        .expect("config"),
    )
    .expect("client");
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client);
    assert!(
        namespaces
            .get_opt("validation-probe")
            .await
            .expect("get")
            .is_none()
    );
    drop(sim);
}

#[test]
fn validate_only_starts_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    e2e(dir.path())
        .arg("--validate")
        .arg(test_scenario("all-verbs.yaml"))
        .arg(test_scenario("failing.yaml"))
        .assert()
        .success()
        .stdout(predicate::str::contains("2 scenario files are valid"));
    assert!(!dir.path().join("sim").exists());
}

#[test]
fn backends_that_cannot_run_say_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    e2e(dir.path())
        .args(["--cluster", "k3d"])
        .arg(test_scenario("good.yaml"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "the k3d backend is not yet supported (",
        ));
    e2e(dir.path())
        .args(["--cluster", "kubeconfig"])
        .env_remove("KUBECONFIG")
        .arg(test_scenario("good.yaml"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no kubeconfig: pass --kubeconfig PATH or set KUBECONFIG",
        ));
    e2e(dir.path())
        .args(["--speed", "0"])
        .arg(test_scenario("good.yaml"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "speed must be a number of virtual seconds per real second from 0.001 to 1000000, got 0",
        ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubeconfig_backend_learns_a_simulators_clock() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = simulator(dir.path(), 3, 200.0).await;
    let reports = dir.path().join("reports");
    let mut cmd = e2e(&reports);
    // No --cluster: a --kubeconfig alone selects the kubeconfig backend.
    cmd.arg("--kubeconfig")
        .arg(&sim.kubeconfig)
        .arg(test_scenario("all-verbs.yaml"));
    run_beside(cmd, Duration::from_secs(60), 0).await;
    let report = read_report(&reports);
    assert_eq!(report["backend"]["backend"], "kubeconfig");
    assert_eq!(report["backend"]["virtualTime"], true);
    assert_eq!(report["backend"]["speed"], 200.0);
    assert_slept_on_cluster_time(steps(&report, "all-verbs"));
    drop(sim);
}

#[test]
fn fail_fast_skips_the_scenarios_after_a_failure() {
    let dir = tempfile::tempdir().expect("temp dir");
    run(
        e2e(dir.path())
            .arg("--fail-fast")
            .arg(test_scenario("failing.yaml"))
            .arg(test_scenario("all-verbs.yaml")),
        Duration::from_secs(60),
        1,
    );
    let report = read_report(dir.path());
    assert_eq!(report["scenarios"][0]["outcome"], "fail");
    assert_eq!(report["scenarios"][1]["outcome"], "skip");
    let skipped = steps(&report, "all-verbs");
    assert!(
        skipped.iter().all(|s| s["outcome"] == "skip"
            && s["skipReason"] == "--fail-fast: an earlier scenario failed"),
        "{skipped:?}"
    );
    assert_eq!(report["totals"]["scenariosSkipped"], 1);
}

#[test]
fn a_relative_report_dir_still_gives_exec_a_usable_kubeconfig() {
    // exec steps run in the scenario's directory, so KUBECONFIG must not be
    // relative to wherever harness was started.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = assert_cmd::Command::cargo_bin("harness").expect("the harness binary is built");
    run(
        cmd.current_dir(dir.path())
            .args(["e2e", "--report-dir", "reports"])
            .arg(test_scenario("all-verbs.yaml")),
        Duration::from_secs(60),
        0,
    );
    assert!(dir.path().join("reports/report.json").exists());
}

#[test]
fn a_step_that_prints_the_token_is_redacted_everywhere() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = run(
        e2e(dir.path()).arg(test_scenario("leaky-exec.yaml")),
        Duration::from_secs(60),
        1,
    );
    let kubeconfig_path = dir.path().join("sim/kubeconfig");
    let kubeconfig = std::fs::read_to_string(&kubeconfig_path).expect("the run's kubeconfig");
    let token = kubeconfig
        .lines()
        .find_map(|line| line.trim().strip_prefix("token:"))
        .map(|t| t.trim().trim_matches('"').to_owned())
        .expect("a bearer token in the kubeconfig");
    assert!(token.len() >= 16, "a real token, not {token:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The failing step's output is shown, with the token replaced.
    assert!(stdout.contains("<redacted>"), "{stdout}");
    assert!(!stdout.contains(&token), "the console shows the token");
    assert!(!String::from_utf8_lossy(&output.stderr).contains(&token));
    let mut files = Vec::new();
    let mut dirs = vec![dir.path().to_path_buf()];
    while let Some(next) = dirs.pop() {
        for entry in std::fs::read_dir(next).expect("readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path != kubeconfig_path {
                files.push(path);
            }
        }
    }
    assert!(files.iter().any(|f| f.ends_with("report.json")));
    for file in files {
        let text = String::from_utf8_lossy(&std::fs::read(&file).expect("readable")).into_owned();
        assert!(!text.contains(&token), "{} holds the token", file.display());
    }
}

/// The `sleep: 30s` step among all-verbs.yaml's `steps` cost 30 s of
/// cluster time but, at the simulator's speed, a fraction of that in real
/// time.
fn assert_slept_on_cluster_time(steps: &[serde_json::Value]) {
    let sleep = steps
        .iter()
        .find(|s| s["verb"] == "sleep")
        .expect("sleep step");
    assert!(
        sleep["durations"]["clusterMs"].as_u64().unwrap_or(0) >= 30_000,
        "{sleep}"
    );
    assert!(
        sleep["durations"]["realMs"].as_u64().unwrap_or(u64::MAX) < 5_000,
        "{sleep}"
    );
}

#[test]
fn an_exec_that_times_out_takes_its_background_children_with_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pid_file = dir.path().join("background.pid");
    let scenario = dir.path().join("orphans.yaml");
    std::fs::write(
        &scenario,
        format!(
            r#"apiVersion: harness.flink.dev/v1alpha1
kind: Scenario
metadata:
  name: orphans
spec:
  steps:
  - name: a script whose background child outlives its deadline
    timeout: 1s
    exec:
      script: sleep 60 & echo $! > {pid_file}; wait
"#,
            pid_file = pid_file.display()
        ),
    )
    .expect("scenario written");
    let output = run(e2e(dir.path()).arg(&scenario), Duration::from_secs(60), 1);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("exec timed out after 1s"), "{stdout}");
    let pid = std::fs::read_to_string(&pid_file).expect("the script wrote its child's pid");
    // Killed with its group; a zombie would still show its status file, so
    // ask for the process state rather than the directory.
    let state = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    let alive = state
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .is_some_and(|s| s != "Z");
    assert!(
        !alive,
        "the background sleep {} is still running",
        pid.trim()
    );
}

#[test]
fn ctrl_c_stops_the_run_and_every_process_it_started() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("harness"))
        .args(["e2e", "--report-dir"])
        .arg(dir.path())
        .arg(e2e_support::workspace_root().join("scenarios/feature-pipeline.yaml"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("harness e2e starts");
    // The runner prints the scenario's endpoints once its redis-server runs.
    // stdout is read to its end on a thread of its own: closing it early
    // would make the harness's next progress line fail with EPIPE.
    let stdout = std::io::BufReader::new(child.stdout.take().expect("piped"));
    let (found, redis_endpoint) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufRead::lines(stdout).map_while(Result::ok) {
            if let Some(rest) = line.trim().strip_prefix("redis (local): redis://") {
                let _ = found.send(rest.trim_end_matches('/').to_owned());
            }
        }
    });
    let redis_addr = redis_endpoint
        .recv_timeout(Duration::from_secs(30))
        .expect("the run printed its Redis endpoint");
    assert!(std::net::TcpStream::connect(&redis_addr).is_ok());
    let exit = process_support::signal_and_wait(
        &mut child,
        "-INT",
        Duration::from_secs(20),
        "harness e2e",
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped"), &mut stderr)
        .expect("stderr");
    reader.join().expect("stdout read to its end");
    assert_eq!(exit.code(), Some(130), "{exit:?}: {stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        std::net::TcpStream::connect(&redis_addr).is_err(),
        "redis-server at {redis_addr} outlived the interrupted run"
    );
}
