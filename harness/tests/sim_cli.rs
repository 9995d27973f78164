//! `harness sim serve`: the ready line, the kubeconfig it writes, a request
//! through it, and a clean exit on SIGTERM; bad arguments fail with a clear
//! message.

mod process_support;

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, ChildStdout, Command, Stdio},
    time::Duration,
};

use assert_cmd::cargo::cargo_bin;
use harness_sim::kubeconfig::Credentials;
use predicates::str::contains;

#[test]
fn a_speed_out_of_range_is_rejected() {
    for speed in ["0", "-1", "1e300", "NaN"] {
        assert_cmd::Command::cargo_bin("harness")
            .expect("the harness binary is built")
            .args([
                "sim",
                "serve",
                "--kubeconfig",
                "/dev/null/never",
                &format!("--speed={speed}"),
            ])
            .assert()
            .failure()
            .stderr(contains(
                "speed must be a number of virtual seconds per real second from 0.001 to 1000000",
            ));
    }
}

/// Starts `harness sim serve --kubeconfig <kubeconfig> <args>` and reads its
/// first line (the ready line); returns the process, the rest of its stdout
/// and that line.
fn serve(kubeconfig: &Path, args: &[&str]) -> (Child, BufReader<ChildStdout>, String) {
    let mut child = Command::new(cargo_bin("harness"))
        .args(["sim", "serve", "--kubeconfig"])
        .arg(kubeconfig)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("harness sim serve starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("a ready line");
    (child, stdout, line)
}

#[test]
fn serve_prints_one_ready_line_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    let (mut child, mut stdout, line) = serve(&kubeconfig, &["--speed", "5", "--seed", "9"]);

    let creds =
        Credentials::read(&kubeconfig).expect("the kubeconfig is written before the ready line");
    assert_eq!(
        line.trim_end(),
        format!(
            "harness-sim ready: {} kubeconfig={} speed=5",
            creds.server,
            kubeconfig.display()
        )
    );
    assert!(
        creds.server.starts_with("https://127.0.0.1:"),
        "{}",
        creds.server
    );
    assert!(
        !line.contains(&creds.token),
        "the ready line must not show the token"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&kubeconfig)
                .expect("kubeconfig")
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }

    // A request through the written kubeconfig, as the harness makes it.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let minor = runtime.block_on(async {
        let config = kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig parses"),
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .expect("config");
        kube::Client::try_from(config)
            .expect("client")
            .apiserver_version()
            .await
            .expect("/version")
            .minor
    });
    assert_eq!(minor, "32");

    // SIGTERM by pid: the server shuts down and exits successfully.
    let exit = process_support::signal_and_wait(
        &mut child,
        "-TERM",
        Duration::from_secs(10),
        "harness sim serve",
    );
    assert!(exit.success(), "{exit:?}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("stdout");
    assert_eq!(rest, "", "exactly one line on stdout");
}

/// `sim serve` runs the same cluster as `harness e2e`'s `sim` backend: a
/// FlinkDeployment marked as the feature pipeline runs the real pipeline
/// against the Kafka and Redis its configuration names, so the
/// feature-pipeline scenario, run from outside through the kubeconfig,
/// passes its Redis-against-oracle checks (a modelled job would pass its
/// RUNNING step and then commit nothing).
#[test]
fn the_feature_pipeline_scenario_passes_against_sim_serve() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    let (mut child, _stdout, line) = serve(&kubeconfig, &["--speed", "100"]);
    assert!(line.starts_with("harness-sim ready: "), "{line}");

    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned();
    let run = assert_cmd::Command::cargo_bin("harness")
        .expect("the harness binary is built")
        .current_dir(&workspace)
        .args(["e2e", "--cluster", "kubeconfig", "--kubeconfig"])
        .arg(&kubeconfig)
        .arg("--report-dir")
        .arg(dir.path().join("reports"))
        .arg("scenarios/feature-pipeline.yaml")
        .timeout(Duration::from_secs(180))
        .output()
        .expect("harness e2e runs");
    let exit = process_support::signal_and_wait(
        &mut child,
        "-TERM",
        Duration::from_secs(20),
        "harness sim serve",
    );
    assert!(
        run.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(exit.success(), "{exit:?}");
}
