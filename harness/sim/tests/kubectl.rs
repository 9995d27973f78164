//! The simulator driven by the real `kubectl` binary: apply, get with
//! printer columns, describe (with events), patch (merge, JSON, the default
//! strategic type a custom resource refuses), scale, delete, `get -w`,
//! `wait --for=jsonpath`, and the error texts kubectl prints for 404, 409,
//! 422 and strict unknown fields; and a FlinkDeployment on the standard
//! cluster (printer columns, schema rejections, the operator's webhook);
//! and kubectl's typed generators, which send protobuf.
//!
//! `KUBECTL` overrides the binary (default `/usr/bin/kubectl`); without one
//! every test prints why it is skipped and passes. kubectl never reaches the
//! network or `~/.kube`: it gets `--kubeconfig`, and `HOME` and
//! `KUBECACHEDIR` point into a temporary directory.

mod common;

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use common::{Client, start_cluster_at, widget_crd};
use harness_sim::api::SimHandle;
use serde_json::json;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::Command,
};

const WAIT: Duration = Duration::from_secs(20);

/// The kubectl binary, or `None` (with the reason printed) to skip.
fn kubectl_binary() -> Option<PathBuf> {
    let path = std::env::var_os("KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/kubectl"));
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "skipping: no kubectl at {} (set KUBECTL to its path)",
            path.display()
        );
        None
    }
}

/// kubectl pointed at one simulator, isolated from the user's environment.
struct Kubectl {
    binary: PathBuf,
    kubeconfig: PathBuf,
    home: tempfile::TempDir,
}

/// One finished kubectl run.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Kubectl {
    fn new(binary: PathBuf, sim: &SimHandle) -> Kubectl {
        Kubectl {
            binary,
            kubeconfig: sim.kubeconfig.clone(),
            home: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env_clear()
            .env("HOME", self.home.path())
            .env("KUBECACHEDIR", self.home.path().join("cache"))
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    async fn run_with_input(&self, args: &[&str], input: &str) -> Run {
        let mut child = self.command(args).spawn().expect("kubectl starts");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(input.as_bytes())
            .await
            .expect("write stdin");
        drop(stdin);
        let output = tokio::time::timeout(WAIT, child.wait_with_output())
            .await
            .expect("kubectl finishes")
            .expect("output");
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    async fn run(&self, args: &[&str]) -> Run {
        self.run_with_input(args, "").await
    }

    /// Runs kubectl and fails the test unless it succeeds.
    async fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args).await;
        assert_eq!(
            run.code,
            Some(0),
            "kubectl {args:?} failed:\n{}{}",
            run.stdout,
            run.stderr
        );
        run.stdout
    }

    async fn apply(&self, manifest: &str) -> Run {
        self.run_with_input(&["apply", "-f", "-"], manifest).await
    }
}

/// A served bare cluster whose virtual time starts at the wall clock, so the
/// ages kubectl computes on its side (describe) look as on a real cluster.
async fn start_at_wall_clock() -> SimHandle {
    let now = harness_sim::clock::VirtualClock::starting_now(1.0).now();
    let mut cluster = harness_sim::cluster::Cluster::new(11, now);
    cluster.add_controller(Box::new(
        harness_sim::controllers::namespace::NamespaceController,
    ));
    start_cluster_at(cluster, 1.0, now).await
}

fn widget(name: &str, color: &str) -> String {
    format!(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {name}\nspec:\n  color: {color}\n  size: 1\n"
    )
}

async fn setup() -> Option<(SimHandle, Kubectl)> {
    let binary = kubectl_binary()?;
    let sim = start_at_wall_clock().await;
    let kubectl = Kubectl::new(binary, &sim);
    let crd = serde_yaml::to_string(&widget_crd()).expect("yaml");
    let run = kubectl.apply(&crd).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        run.stdout.trim(),
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created"
    );
    Some((sim, kubectl))
}

/// Columns of a kubectl table, split on runs of spaces.
fn table_rows(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_get_describe_and_reapply() {
    let Some((sim, kubectl)) = setup().await else {
        return;
    };
    let run = kubectl.apply(&widget("w1", "red")).await;
    assert_eq!(
        run.stdout.trim(),
        "widget.example.com/w1 created",
        "{}",
        run.stderr
    );
    let again = kubectl.apply(&widget("w1", "red")).await;
    assert_eq!(again.stdout.trim(), "widget.example.com/w1 unchanged");
    let changed = kubectl.apply(&widget("w1", "green")).await;
    assert_eq!(changed.stdout.trim(), "widget.example.com/w1 configured");

    Client::new(&sim)
        .patch(
            "/apis/example.com/v1/namespaces/default/widgets/w1/status",
            "application/merge-patch+json",
            r#"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}"#,
        )
        .await;
    let table = table_rows(&kubectl.ok(&["get", "widgets"]).await);
    assert_eq!(
        table[0],
        ["NAME", "COLOR", "PHASE", "READY"],
        "printer columns, no AGE"
    );
    assert_eq!(table[1], ["w1", "green", "Running", "True"]);
    let by_short_name = kubectl
        .ok(&["get", "wd", "w1", "-o", "jsonpath={.spec.color}"])
        .await;
    assert_eq!(by_short_name, "green");
    let all = kubectl.ok(&["get", "all"]).await;
    assert!(
        all.contains("widget.example.com/w1"),
        "category `all` includes widgets:\n{all}"
    );

    // An event about the widget, as a controller would record it.
    let uid = kubectl
        .ok(&["get", "widget", "w1", "-o", "jsonpath={.metadata.uid}"])
        .await;
    let event = json!({
        "metadata": {"name": "w1.event"},
        "involvedObject": {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w1", "namespace": "default", "uid": uid},
        "reason": "Painted", "message": "painted green", "type": "Normal", "count": 1,
        "firstTimestamp": sim.clock.now().rfc3339(), "lastTimestamp": sim.clock.now().rfc3339(),
        "source": {"component": "painter"},
    });
    assert_eq!(
        Client::new(&sim)
            .post("/api/v1/namespaces/default/events", &event)
            .await
            .status,
        201
    );
    let described = kubectl.ok(&["describe", "widget", "w1"]).await;
    for expected in [
        "Name:         w1",
        "Kind:         Widget",
        "Color:  green",
        "Running",
        "Painted",
        "painted green",
        "painter",
    ] {
        assert!(
            described.contains(expected),
            "describe lacks {expected:?}:\n{described}"
        );
    }
    // The simulator runs at the wall clock here, so describe's client-side
    // ages are small.
    let age = described
        .lines()
        .find(|l| l.contains("Painted"))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or_default();
    assert!(
        age.ends_with('s') || age.ends_with('m'),
        "event age {age:?} in:\n{described}"
    );
    let events = table_rows(&kubectl.ok(&["get", "events"]).await);
    assert_eq!(
        events[0],
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    );
    assert_eq!(
        events[1][1..],
        ["Normal", "Painted", "widget/w1", "painted green"]
    );
    // Re-applying a changed CRD patches it and re-establishes its kinds.
    let mut crd = widget_crd();
    crd["spec"]["versions"][0]["additionalPrinterColumns"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "Size", "type": "integer", "jsonPath": ".spec.size"}));
    let reapplied = kubectl.apply(&serde_yaml::to_string(&crd).unwrap()).await;
    assert_eq!(
        reapplied.stdout.trim(),
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com configured",
        "{}",
        reapplied.stderr
    );
    let table = table_rows(&kubectl.ok(&["get", "widgets"]).await);
    assert_eq!(table[0], ["NAME", "COLOR", "PHASE", "READY", "SIZE"]);
    assert_eq!(table[1], ["w1", "green", "Running", "True", "1"]);

    let version = kubectl.ok(&["version", "-o", "json"]).await;
    assert!(version.contains("\"minor\": \"32\""), "{version}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_scale_and_delete() {
    let Some((_sim, kubectl)) = setup().await else {
        return;
    };
    kubectl.apply(&widget("w1", "red")).await;
    let merged = kubectl
        .ok(&[
            "patch",
            "widget",
            "w1",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"color":"blue"}}"#,
        ])
        .await;
    assert_eq!(merged.trim(), "widget.example.com/w1 patched");
    let json_patched = kubectl
        .ok(&[
            "patch",
            "widget",
            "w1",
            "--type",
            "json",
            "-p",
            r#"[{"op":"replace","path":"/spec/size","value":7}]"#,
        ])
        .await;
    assert_eq!(json_patched.trim(), "widget.example.com/w1 patched");
    assert_eq!(
        kubectl
            .ok(&[
                "get",
                "widget",
                "w1",
                "-o",
                "jsonpath={.spec.color}/{.spec.size}"
            ])
            .await,
        "blue/7"
    );
    let strategic = kubectl
        .run(&["patch", "widget", "w1", "-p", r#"{"spec":{"size":8}}"#])
        .await;
    assert_eq!(strategic.code, Some(1));
    assert_eq!(
        strategic.stderr.trim(),
        "error: application/strategic-merge-patch+json is not supported by example.com/v1, Kind=Widget: the body of the \
         request was in an unknown format - accepted media types include: application/json-patch+json, \
         application/merge-patch+json, application/apply-patch+yaml"
    );
    assert_eq!(
        kubectl
            .ok(&["scale", "widget", "w1", "--replicas=3"])
            .await
            .trim(),
        "widget.example.com/w1 scaled"
    );
    assert_eq!(
        kubectl
            .ok(&["get", "widget", "w1", "-o", "jsonpath={.spec.replicas}"])
            .await,
        "3"
    );
    assert_eq!(
        kubectl.ok(&["delete", "widget", "w1"]).await.trim(),
        "widget.example.com \"w1\" deleted"
    );
    let gone = kubectl.run(&["get", "widget", "w1"]).await;
    assert_eq!(
        gone.stderr.trim(),
        "Error from server (NotFound): widgets.example.com \"w1\" not found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_read_as_kubectl_prints_them() {
    let Some((_sim, kubectl)) = setup().await else {
        return;
    };
    kubectl.apply(&widget("w1", "red")).await;
    let missing = kubectl.run(&["get", "widget", "nope"]).await;
    assert_eq!(
        (missing.code, missing.stderr.trim()),
        (
            Some(1),
            "Error from server (NotFound): widgets.example.com \"nope\" not found"
        )
    );
    let duplicate = kubectl
        .run_with_input(&["create", "-f", "-"], &widget("w1", "red"))
        .await;
    assert_eq!(
        duplicate.stderr.trim(),
        "Error from server (AlreadyExists): error when creating \"STDIN\": widgets.example.com \"w1\" already exists"
    );
    let invalid = kubectl.apply(&widget("w2", "pink")).await;
    assert_eq!(
        invalid.stderr.trim(),
        "The Widget \"w2\" is invalid: spec.color: Unsupported value: \"pink\": supported values: \"red\", \"green\", \"blue\""
    );
    let unknown = kubectl
        .apply(&format!("{}  shape: round\n", widget("w3", "red")))
        .await;
    assert_eq!(
        unknown.stderr.trim(),
        "Error from server (BadRequest): error when creating \"STDIN\": Widget in version \"v1\" cannot be handled as a \
         Widget: strict decoding error: unknown field \"spec.shape\""
    );
    let warned = kubectl
        .run_with_input(
            &["apply", "--validate=warn", "-f", "-"],
            &format!("{}  shape: round\n", widget("w3", "red")),
        )
        .await;
    assert_eq!(warned.code, Some(0));
    assert_eq!(
        warned.stderr.trim(),
        "Warning: unknown field \"spec.shape\""
    );
    let unknown_kind = kubectl.run(&["get", "gizmos"]).await;
    assert_eq!(
        unknown_kind.stderr.trim(),
        "error: the server doesn't have a resource type \"gizmos\""
    );
}

async fn read_line_containing<R: tokio::io::AsyncRead + Unpin>(
    lines: &mut tokio::io::Lines<BufReader<R>>,
    needle: &str,
) -> Vec<String> {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.expect("read kubectl output") {
            let hit = line.contains(needle);
            seen.push(line);
            if hit {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "no line with {needle:?}; saw {seen:?}");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_watch_and_wait_follow_changes() {
    let Some((sim, kubectl)) = setup().await else {
        return;
    };
    let client = Client::new(&sim);
    kubectl.apply(&widget("w1", "red")).await;
    let mut watch = kubectl
        .command(&["get", "widgets", "-w"])
        .spawn()
        .expect("kubectl get -w starts");
    let mut lines = BufReader::new(watch.stdout.take().expect("stdout")).lines();
    let header = read_line_containing(&mut lines, "w1").await;
    assert!(header[0].starts_with("NAME"), "{header:?}");
    client
        .patch(
            "/apis/example.com/v1/namespaces/default/widgets/w1/status",
            "application/merge-patch+json",
            r#"{"status":{"phase":"Running"}}"#,
        )
        .await;
    let update = read_line_containing(&mut lines, "Running").await;
    assert_eq!(
        table_rows(update.last().unwrap())[0],
        ["w1", "red", "Running"]
    );
    watch.kill().await.expect("stop kubectl get -w");

    // With -v=6 kubectl logs its requests; once its watch is open, make the
    // condition true, so the watch (not the first GET) has to see it.
    let mut waiter = kubectl
        .command(&[
            "wait",
            "-v=6",
            "--for=jsonpath={.status.phase}=Ready",
            "widget/w1",
            "--timeout=20s",
        ])
        .spawn()
        .expect("wait starts");
    let mut log = BufReader::new(waiter.stderr.take().expect("stderr")).lines();
    read_line_containing(&mut log, "watch=true").await;
    client
        .patch(
            "/apis/example.com/v1/namespaces/default/widgets/w1/status",
            "application/merge-patch+json",
            r#"{"status":{"phase":"Ready"}}"#,
        )
        .await;
    let output = tokio::time::timeout(WAIT, waiter.wait_with_output())
        .await
        .expect("wait ends")
        .expect("output");
    assert!(output.status.success(), "kubectl wait failed");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "widget.example.com/w1 condition met"
    );

    let never = kubectl
        .run(&[
            "wait",
            "--for=jsonpath={.status.phase}=Never",
            "widget/w1",
            "--timeout=1s",
        ])
        .await;
    assert_eq!(
        (never.code, never.stderr.trim()),
        (
            Some(1),
            "error: timed out waiting for the condition on widgets/w1"
        )
    );

    let mut deleter = kubectl
        .command(&["wait", "-v=6", "--for=delete", "widget/w1", "--timeout=20s"])
        .spawn()
        .expect("wait starts");
    let mut log = BufReader::new(deleter.stderr.take().expect("stderr")).lines();
    read_line_containing(&mut log, "watch=true").await;
    client
        .delete("/apis/example.com/v1/namespaces/default/widgets/w1")
        .await;
    let output = tokio::time::timeout(WAIT, deleter.wait_with_output())
        .await
        .expect("wait ends")
        .expect("output");
    assert!(output.status.success(), "kubectl wait --for=delete failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_workloads_apply_and_patch_strategically() {
    let Some((_sim, kubectl)) = setup().await else {
        return;
    };
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - {name: app, image: 'app:1'}\n      - {name: side, image: 'side:1'}\n";
    assert_eq!(
        kubectl.apply(deployment).await.stdout.trim(),
        "deployment.apps/web created"
    );
    let updated = deployment.replace("app:1", "app:2");
    assert_eq!(
        kubectl.apply(&updated).await.stdout.trim(),
        "deployment.apps/web configured"
    );
    kubectl
        .ok(&[
            "patch",
            "deployment",
            "web",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"side:2"}]}}}}"#,
        ])
        .await;
    let images = kubectl
        .ok(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[*].image}",
        ])
        .await;
    assert_eq!(
        images, "app:2 side:2",
        "strategic merge keeps both containers"
    );
    let table = table_rows(&kubectl.ok(&["get", "deployments"]).await);
    assert_eq!(
        table[0],
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert_eq!(
        kubectl
            .ok(&["scale", "deployment", "web", "--replicas=4"])
            .await
            .trim(),
        "deployment.apps/web scaled"
    );
    assert_eq!(
        kubectl
            .ok(&[
                "get",
                "deployment",
                "web",
                "-o",
                "jsonpath={.spec.replicas}"
            ])
            .await,
        "4"
    );
    let ns = kubectl
        .apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: scratch\n")
        .await;
    assert_eq!(ns.stdout.trim(), "namespace/scratch created");
    let namespaces = table_rows(&kubectl.ok(&["get", "namespaces"]).await);
    assert!(
        namespaces
            .iter()
            .any(|row| row[..2] == ["scratch", "Active"]),
        "{namespaces:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_and_newer_kubectl_versions_work_too() {
    let dir = Path::new("/usr/lib/google-cloud-sdk/bin");
    let versions: Vec<PathBuf> = ["1.27", "1.33"]
        .iter()
        .map(|v| dir.join(format!("kubectl.{v}")))
        .filter(|p| p.is_file())
        .collect();
    if versions.is_empty() {
        eprintln!(
            "skipping: no versioned kubectl binaries under {}",
            dir.display()
        );
        return;
    }
    let sim = start_at_wall_clock().await;
    for binary in versions {
        let kubectl = Kubectl::new(binary.clone(), &sim);
        let crd = kubectl
            .apply(&serde_yaml::to_string(&widget_crd()).unwrap())
            .await;
        assert_eq!(crd.code, Some(0), "{}: {}", binary.display(), crd.stderr);
        let name = format!(
            "w-{}",
            binary.extension().and_then(|e| e.to_str()).unwrap_or("x")
        );
        let created = kubectl.apply(&widget(&name, "red")).await;
        assert_eq!(
            created.stdout.trim(),
            format!("widget.example.com/{name} created"),
            "{}: {}",
            binary.display(),
            created.stderr
        );
        let table = table_rows(&kubectl.ok(&["get", "widget", &name]).await);
        assert_eq!(
            table[0],
            ["NAME", "COLOR", "PHASE", "READY"],
            "{}",
            binary.display()
        );
    }
}

const FLINK_DEPLOYMENT: &str = "apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: basic-example
spec:
  image: flink:1.17
  flinkVersion: v1_17
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: \"2\"
  serviceAccount: flink
  jobManager:
    resource: {memory: 2048m, cpu: 1}
  taskManager:
    resource: {memory: 2048m, cpu: 1}
  job:
    jarURI: local:///opt/flink/examples/streaming/StateMachineExample.jar
    parallelism: 2
    upgradeMode: stateless
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flink_deployments_on_the_standard_cluster() {
    let Some(binary) = kubectl_binary() else {
        return;
    };
    let now = harness_sim::clock::VirtualClock::starting_now(1.0).now();
    let sim = start_cluster_at(harness_sim::standard_cluster(1, now), 1.0, now).await;
    let kubectl = Kubectl::new(binary, &sim);
    let created = kubectl.apply(FLINK_DEPLOYMENT).await;
    assert_eq!(
        created.stdout.trim(),
        "flinkdeployment.flink.apache.org/basic-example created",
        "{}",
        created.stderr
    );
    let table = table_rows(&kubectl.ok(&["get", "flinkdep"]).await);
    assert_eq!(
        table[0],
        ["NAME", "JOB STATUS", "LIFECYCLE STATE"],
        "the CRD's columns and no AGE"
    );
    assert_eq!(table[1][0], "basic-example");

    let bad_version = kubectl
        .apply(&FLINK_DEPLOYMENT.replace("v1_17", "v1_99"))
        .await;
    assert!(
        bad_version.stderr.starts_with(
            "The FlinkDeployment \"basic-example\" is invalid: spec.flinkVersion: Unsupported value: \"v1_99\": supported values: \"v1_13\", \"v1_14\""
        ),
        "{}",
        bad_version.stderr
    );
    let bad_type = kubectl
        .apply(&FLINK_DEPLOYMENT.replace("parallelism: 2", "parallelism: two"))
        .await;
    assert_eq!(
        bad_type.stderr.trim(),
        "The FlinkDeployment \"basic-example\" is invalid: spec.job.parallelism: Invalid value: \"string\": \
         spec.job.parallelism in body must be of type integer: \"string\""
    );
    let denied = kubectl
        .apply(
            &FLINK_DEPLOYMENT
                .replace("basic-example", "no-account")
                .replace("  serviceAccount: flink\n", ""),
        )
        .await;
    assert!(
        denied.stderr.starts_with(
            "Error from server (Forbidden): error when creating \"STDIN\": admission webhook \"validationwebhook.flink.apache.org\" denied the request: "
        ),
        "{}",
        denied.stderr
    );
}

/// Whether `actual` has every field of `expected` (nulls in `expected` mean
/// "absent is fine"); lists must match element by element.
fn contains(actual: &serde_json::Value, expected: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (actual, expected) {
        (_, Value::Null) => true,
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, v)| contains(a.get(k).unwrap_or(&Value::Null), v)),
        (Value::Array(a), Value::Array(e)) => {
            a.len() == e.len() && a.iter().zip(e).all(|(x, y)| contains(x, y))
        }
        (a, e) => a == e,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_generators_send_protobuf_and_store_what_they_render() {
    let Some((_sim, kubectl)) = setup().await else {
        return;
    };
    let generators: &[&[&str]] = &[
        &["create", "namespace", "gen-ns"],
        &[
            "create",
            "configmap",
            "gen-cm",
            "--from-literal=a=b",
            "--from-literal=c=d",
        ],
        &[
            "create",
            "secret",
            "generic",
            "gen-secret",
            "--from-literal=a=b",
            "--type=example.com/t",
        ],
        &[
            "create",
            "secret",
            "docker-registry",
            "gen-pull",
            "--docker-server=s",
            "--docker-username=u",
            "--docker-password=p",
        ],
        &["create", "serviceaccount", "gen-sa"],
        &[
            "create",
            "deployment",
            "gen-deploy",
            "--image=img:1",
            "--replicas=0",
            "--port=8080",
            "--",
            "cmd",
            "arg",
        ],
        &["create", "service", "clusterip", "gen-svc", "--tcp=80:8080"],
        &[
            "create",
            "service",
            "nodeport",
            "gen-np",
            "--tcp=81:8081",
            "--node-port=30001",
        ],
        &[
            "create",
            "service",
            "externalname",
            "gen-ext",
            "--external-name=ex.example.com",
        ],
        &[
            "create",
            "job",
            "gen-job",
            "--image=img:3",
            "--",
            "echo",
            "hi",
        ],
        &[
            "create",
            "cronjob",
            "gen-cron",
            "--image=img:4",
            "--schedule=*/5 * * * *",
            "--",
            "echo",
            "hi",
        ],
        &[
            "create",
            "role",
            "gen-role",
            "--verb=get",
            "--verb=list",
            "--resource=pods",
            "--resource=deployments.apps",
            "--resource-name=x",
        ],
        &[
            "create",
            "clusterrole",
            "gen-cr",
            "--verb=get",
            "--non-resource-url=/logz",
        ],
        &[
            "create",
            "clusterrole",
            "gen-agg",
            "--aggregation-rule=team=a",
        ],
        &[
            "create",
            "rolebinding",
            "gen-rb",
            "--role=gen-role",
            "--user=u",
            "--group=g",
            "--serviceaccount=default:gen-sa",
        ],
        &[
            "create",
            "clusterrolebinding",
            "gen-crb",
            "--clusterrole=gen-cr",
            "--user=u",
        ],
    ];
    for args in generators {
        // kubectl's own JSON rendering of the object is the oracle.
        let split = args.iter().position(|a| *a == "--").unwrap_or(args.len());
        let dry_run: Vec<&str> = [
            &args[..split],
            &["--dry-run=client", "-o", "json"],
            &args[split..],
        ]
        .concat();
        let rendered: serde_json::Value =
            serde_json::from_str(&kubectl.ok(&dry_run).await).expect("dry-run JSON");
        let verbose: Vec<&str> = [&args[..split], &["-v=8"], &args[split..]].concat();
        let created = kubectl.run(&verbose).await;
        assert_eq!(created.code, Some(0), "{args:?}: {}", created.stderr);
        assert!(
            created
                .stderr
                .contains("Content-Type: application/vnd.kubernetes.protobuf"),
            "{args:?} sent protobuf"
        );
        let target = format!(
            "{}/{}",
            rendered["kind"].as_str().unwrap().to_lowercase(),
            rendered["metadata"]["name"].as_str().unwrap()
        );
        let stored: serde_json::Value =
            serde_json::from_str(&kubectl.ok(&["get", &target, "-o", "json"]).await)
                .expect("stored JSON");
        let mut expected = rendered.clone();
        expected.as_object_mut().unwrap().remove("status");
        assert!(
            contains(&stored, &expected),
            "{args:?}\nrendered: {rendered:#}\nstored: {stored:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_accounts_tokens_auth_can_i_and_whoami() {
    let Some((_sim, kubectl)) = setup().await else {
        return;
    };
    let rbac = "\
apiVersion: v1
kind: Namespace
metadata: {name: flink}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: flink, namespace: flink}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: flink, namespace: flink}
rules:
- apiGroups: ['']
  resources: [pods, configmaps]
  verbs: ['*']
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: flink-role-binding, namespace: flink}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: flink}
subjects:
- {kind: ServiceAccount, name: flink, namespace: flink}
";
    let run = kubectl.apply(rbac).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let sa = "system:serviceaccount:flink:flink";
    let can_i = |namespace: &'static str| {
        let kubectl = &kubectl;
        async move {
            kubectl
                .run(&[
                    "auth", "can-i", "create", "pods", "-n", namespace, "--as", sa,
                ])
                .await
        }
    };
    let yes = can_i("flink").await;
    assert_eq!(
        (yes.code, yes.stdout.trim()),
        (Some(0), "yes"),
        "{}",
        yes.stderr
    );
    let no = can_i("default").await;
    assert_eq!(
        (no.code, no.stdout.trim()),
        (Some(1), "no"),
        "{}",
        no.stderr
    );

    let whoami = kubectl.ok(&["auth", "whoami", "--as", sa]).await;
    assert!(
        table_rows(&whoami).contains(&vec!["Username".to_owned(), sa.to_owned()]),
        "{whoami}"
    );
    assert!(whoami.contains("system:serviceaccounts:flink"), "{whoami}");

    let token = kubectl
        .ok(&["create", "token", "flink", "-n", "flink"])
        .await;
    let token = token.trim();
    assert_eq!(token.split('.').count(), 3, "a JWT-shaped token: {token}");
    let listed = kubectl
        .run(&["get", "pods", "-n", "flink", "--token", token])
        .await;
    assert_eq!(
        (listed.code, listed.stderr.trim()),
        (Some(0), "No resources found in flink namespace.")
    );
    let denied = kubectl
        .run(&["get", "pods", "-n", "default", "--token", token])
        .await;
    assert_eq!(
        (denied.code, denied.stderr.trim()),
        (
            Some(1),
            "Error from server (Forbidden): pods is forbidden: User \"system:serviceaccount:flink:flink\" \
             cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
        )
    );
}
