//! What `helm install flink-kubernetes-operator` (with cert-manager
//! present) leaves in a cluster, modestly: the FlinkDeployment and
//! FlinkSessionJob CRDs, the release namespace `flink-operator-system`
//! (the seeds' choice) with the operator's and the jobs' service accounts
//! (`flink-operator`, `flink`), the `flink-operator-config` ConfigMap, the
//! operator's RBAC, and the operator Deployment (whose pod shows `2/2`:
//! operator and webhook containers). The model itself runs as the
//! [`FlinkRuntime`] and [`FlinkOperator`] controllers and the
//! [`FlinkValidationWebhook`]; the operator pod is scenery: deleting it does
//! not stop the model.
//!
//! Fidelity: cert-manager objects, the webhook Service and the
//! Validating/MutatingWebhookConfiguration objects are not created (their
//! kinds are not served); the FlinkStateSnapshot CRD is not installed, so
//! savepoints are tracked in the legacy status fields.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::{
    clock::SimTime,
    cluster::Cluster,
    controllers::{
        self,
        kubelet::{AppStart, KubeletConfig},
    },
    crd,
    error::ApiError,
    operator::{
        FlinkOperator, OperatorConfig, Timings,
        flink::{FlinkClusters, FlinkRuntime, SharedClusters, conf, job::JobFactory, manifests},
        webhook::FlinkValidationWebhook,
    },
};

/// The operator's release namespace.
pub const OPERATOR_NAMESPACE: &str = "flink-operator-system";
/// The operator image the simulated Deployment names.
pub const OPERATOR_IMAGE: &str = "ghcr.io/apache/flink-kubernetes-operator:1.15.0";
/// The FlinkDeployment CRD manifest (`fixtures/crds/`).
pub const FLINKDEPLOYMENT_CRD: &str =
    include_str!("../../../../fixtures/crds/flinkdeployments.flink.apache.org.yaml");
/// The FlinkSessionJob CRD manifest (`fixtures/crds/`).
pub const FLINKSESSIONJOB_CRD: &str =
    include_str!("../../../../fixtures/crds/flinksessionjobs.flink.apache.org.yaml");

/// Why installing the operator failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// A bundled CRD manifest is not valid YAML.
    #[error("crd manifest {name} is not valid yaml")]
    CrdUnreadable {
        /// Which manifest.
        name: &'static str,
        /// The parse error.
        #[source]
        source: serde_yaml::Error,
    },
    /// The API refused a CRD.
    #[error("crd {name} was rejected")]
    CrdRejected {
        /// Which CRD.
        name: &'static str,
        /// The API error.
        #[source]
        source: Box<ApiError>,
    },
    /// The API refused one of the chart's objects.
    #[error("{kind} {name} was rejected")]
    ObjectRejected {
        /// Kind of the object.
        kind: String,
        /// Name of the object.
        name: String,
        /// The API error.
        #[source]
        source: Box<ApiError>,
    },
}

/// The kubelet delays for a cluster running this operator: realistic
/// defaults, plus application start times for Flink JobManagers (REST
/// endpoint up, `timings.jm_startup`) and the operator itself.
pub fn kubelet_config(timings: &Timings) -> KubeletConfig {
    let rule = |labels: &[(&str, &str)], after| AppStart {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        after,
    };
    let mut config = KubeletConfig::realistic();
    config.app_start = vec![
        rule(
            &[
                ("component", "jobmanager"),
                ("type", manifests::NATIVE_TYPE),
            ],
            timings.jm_startup,
        ),
        rule(
            &[("app.kubernetes.io/name", "flink-kubernetes-operator")],
            std::time::Duration::from_secs(20),
        ),
    ];
    config
}

/// Nodes of a simulated cluster: three, with 8 CPUs and 32 GiB each.
pub const NODES: usize = 3;

/// A whole simulated cluster: built-in controllers (with the kubelet delays
/// of [`kubelet_config`]), [`NODES`] Ready nodes `harness-sim-node-<i>` with
/// empty image caches (so the first Flink pods on each node pay a cold pull,
/// later ones do not, as on a fresh cluster), and the operator installed
/// with `config`, running jobs from `jobs`. Returns the cluster and the handle
/// on its Flink clusters.
pub fn simulated_cluster(
    seed: u64,
    now: SimTime,
    config: OperatorConfig,
    jobs: Arc<dyn JobFactory>,
) -> Result<(Cluster, SharedClusters), InstallError> {
    let mut cluster = Cluster::new(seed, now);
    for controller in controllers::standard_controllers(kubelet_config(&config.timings)) {
        cluster.add_controller(controller);
    }
    for index in 0..NODES {
        let node = controllers::kubelet::node_manifest(
            &format!("harness-sim-node-{index}"),
            index,
            "8",
            "32Gi",
            now,
        );
        create(&mut cluster, "", node, now)?;
    }
    let flink = install(&mut cluster, config, jobs, now)?;
    Ok((cluster, flink))
}

/// Installs the operator into `cluster`: CRDs, the chart's objects, the
/// Flink runtime and operator controllers, and the webhook. Returns the
/// handle on the simulated Flink clusters (their JobManager processes).
pub fn install(
    cluster: &mut Cluster,
    config: OperatorConfig,
    jobs: Arc<dyn JobFactory>,
    now: SimTime,
) -> Result<SharedClusters, InstallError> {
    for (name, manifest) in [
        ("flinkdeployments.flink.apache.org", FLINKDEPLOYMENT_CRD),
        ("flinksessionjobs.flink.apache.org", FLINKSESSIONJOB_CRD),
    ] {
        let crd: Value = serde_yaml::from_str(manifest)
            .map_err(|source| InstallError::CrdUnreadable { name, source })?;
        crd::establish(cluster, crd, now).map_err(|source| InstallError::CrdRejected {
            name,
            source: Box::new(source),
        })?;
    }
    for (namespace, object) in chart_objects(&config) {
        create(cluster, &namespace, object, now)?;
    }
    let clusters: SharedClusters = Arc::new(Mutex::new(FlinkClusters::default()));
    cluster.add_controller(Box::new(FlinkRuntime::new(
        clusters.clone(),
        jobs,
        config.timings.runtime(),
    )));
    if config.webhook {
        cluster.add_webhook(Box::new(FlinkValidationWebhook::new(
            config.default_flink_config.clone(),
        )));
    }
    cluster.add_controller(Box::new(FlinkOperator::new(config, clusters.clone())));
    Ok(clusters)
}

fn create(
    cluster: &mut Cluster,
    namespace: &str,
    object: Value,
    now: SimTime,
) -> Result<(), InstallError> {
    let kind = object["kind"].as_str().unwrap_or_default().to_string();
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let rejected = |source| InstallError::ObjectRejected {
        kind: kind.clone(),
        name: name.clone(),
        source: Box::new(source),
    };
    let rt = cluster
        .registry
        .by_kind(object["apiVersion"].as_str().unwrap_or_default(), &kind)
        .cloned()
        .ok_or_else(|| rejected(ApiError::internal(format!("{kind} is not served"))))?;
    cluster
        .store
        .create(&rt, namespace, object, now, &mut cluster.rng)
        .map(|_| ())
        .map_err(rejected)
}

/// Helm's ownership labels and annotations on every chart object.
fn helm_metadata(name: &str) -> Value {
    json!({
        "name": name,
        "labels": {
            "app.kubernetes.io/managed-by": "Helm",
            "app.kubernetes.io/name": "flink-kubernetes-operator",
            "helm.sh/chart": "flink-kubernetes-operator-1.15.0",
        },
        "annotations": {
            "meta.helm.sh/release-name": "flink-kubernetes-operator",
            "meta.helm.sh/release-namespace": OPERATOR_NAMESPACE,
        },
    })
}

fn object(api_version: &str, kind: &str, name: &str, body: Value) -> Value {
    let mut object = body;
    object["apiVersion"] = json!(api_version);
    object["kind"] = json!(kind);
    object["metadata"] = helm_metadata(name);
    object
}

/// The chart's objects with the namespace each goes into ("" for cluster-scoped).
fn chart_objects(config: &OperatorConfig) -> Vec<(String, Value)> {
    let ns = OPERATOR_NAMESPACE.to_string();
    let rule = |groups: &[&str], resources: &[&str], verbs: &[&str]| json!({"apiGroups": groups, "resources": resources, "verbs": verbs});
    let all = ["*"];
    let mut job_account = object("v1", "ServiceAccount", "flink", json!({}));
    job_account["metadata"]["annotations"]["helm.sh/resource-policy"] = json!("keep");
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NAMESPACE,
        "labels": {"kubernetes.io/metadata.name": OPERATOR_NAMESPACE}}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
    let operator_pod_labels = json!({"app.kubernetes.io/name": "flink-kubernetes-operator"});
    let operator_container = |name: &str, args: &[&str]| {
        json!({
            "name": name,
            "image": OPERATOR_IMAGE,
            "imagePullPolicy": "IfNotPresent",
            "command": ["/docker-entrypoint.sh"],
            "args": args,
            "resources": {},
            "securityContext": {"runAsUser": 9999, "runAsGroup": 9999},
        })
    };
    let mut operator = operator_container("flink-kubernetes-operator", &["operator"]);
    operator["startupProbe"] = json!({"httpGet": {"path": "/", "port": 8085}, "periodSeconds": 10, "failureThreshold": 30});
    operator["livenessProbe"] = json!({"httpGet": {"path": "/", "port": 8085}, "initialDelaySeconds": 30, "periodSeconds": 10});
    let webhook = operator_container("flink-webhook", &["webhook"]);
    vec![
        (String::new(), namespace),
        (
            ns.clone(),
            object("v1", "ServiceAccount", "flink-operator", json!({})),
        ),
        (ns.clone(), job_account),
        (
            ns.clone(),
            object(
                "v1",
                "ConfigMap",
                "flink-operator-config",
                json!({"data": {"config.yaml": conf::render(&config.default_flink_config), "flink-conf.yaml": conf::render(&config.default_flink_config)}}),
            ),
        ),
        (
            String::new(),
            object(
                "rbac.authorization.k8s.io/v1",
                "ClusterRole",
                "flink-operator",
                json!({"rules": [
                    rule(&[""], &["pods", "services", "events", "configmaps", "secrets"], &all),
                    rule(&[""], &["nodes"], &["list"]),
                    rule(&["apps"], &["deployments", "deployments/finalizers", "replicasets", "deployments/scale"], &all),
                    rule(&["extensions", "networking.k8s.io"], &["ingresses"], &all),
                    rule(&["flink.apache.org"], &["flinkdeployments", "flinkdeployments/finalizers", "flinkdeployments/status",
                        "flinksessionjobs", "flinksessionjobs/finalizers", "flinksessionjobs/status",
                        "flinkstatesnapshots", "flinkstatesnapshots/finalizers", "flinkstatesnapshots/status"], &all),
                    rule(&["coordination.k8s.io"], &["leases"], &all),
                ]}),
            ),
        ),
        (
            String::new(),
            object(
                "rbac.authorization.k8s.io/v1",
                "ClusterRoleBinding",
                "flink-operator-role-binding",
                json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "flink-operator"},
                       "subjects": [{"kind": "ServiceAccount", "name": "flink-operator", "namespace": OPERATOR_NAMESPACE}]}),
            ),
        ),
        (
            ns.clone(),
            object(
                "rbac.authorization.k8s.io/v1",
                "Role",
                "flink",
                json!({"rules": [
                    rule(&[""], &["pods", "configmaps"], &["get", "list", "watch", "create", "update", "patch", "delete"]),
                    rule(&["apps"], &["deployments", "deployments/finalizers"], &["get", "list", "watch", "create", "update", "patch", "delete"]),
                ]}),
            ),
        ),
        (
            ns.clone(),
            object(
                "rbac.authorization.k8s.io/v1",
                "RoleBinding",
                "flink-role-binding",
                json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "flink"},
                       "subjects": [{"kind": "ServiceAccount", "name": "flink", "namespace": OPERATOR_NAMESPACE}]}),
            ),
        ),
        (
            ns,
            object(
                "apps/v1",
                "Deployment",
                "flink-kubernetes-operator",
                json!({"spec": {
                    "replicas": 1,
                    "strategy": {"type": "Recreate"},
                    "selector": {"matchLabels": operator_pod_labels},
                    "template": {
                        "metadata": {"labels": operator_pod_labels},
                        "spec": {
                            "serviceAccountName": "flink-operator",
                            "securityContext": {"runAsUser": 9999, "runAsGroup": 9999},
                            "containers": [operator, webhook],
                        },
                    },
                }}),
            ),
        ),
    ]
}
