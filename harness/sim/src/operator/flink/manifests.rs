//! The Kubernetes objects of a native-Kubernetes Flink cluster, shaped as
//! Flink's own decorators shape them: the JobManager Deployment `<cluster>`
//! (labels `app`, `component=jobmanager`, `type=flink-native-kubernetes`,
//! strategy `Recreate`, a startup probe on the REST endpoint), the internal
//! Service `<cluster>` and the REST Service `<cluster>-rest`, the
//! `flink-config-<cluster>` ConfigMap, and TaskManager pods
//! `<cluster>-taskmanager-<attempt>-<index>` owned by the JobManager
//! Deployment.
//!
//! User pod templates (`spec.podTemplate` merged with the component's own)
//! are the base; Flink's generated fields win, lists of named things (env,
//! ports, volumes, containers) are merged by name, and other containers in
//! the template (sidecars) are kept.
//!
//! Fidelity: container arguments are abridged, and the startup probe's
//! thresholds are the simulator's choice (the operator derives them from its
//! readiness timeout).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::{controllers::meta, operator::flink::conf, rng::Rng};

/// Name of the Flink container in every Flink pod.
pub const MAIN_CONTAINER: &str = "flink-main-container";
/// `type` label of native Flink objects.
pub const NATIVE_TYPE: &str = "flink-native-kubernetes";
/// Annotation carrying the FlinkDeployment generation a cluster was deployed for.
pub const GENERATION_ANNOTATION: &str = "flinkdeployment.flink.apache.org/generation";
/// REST port of the JobManager.
pub const REST_PORT: u16 = 8081;

/// Everything the operator decided about a cluster before deploying it.
#[derive(Debug, Clone)]
pub struct ClusterDefinition {
    /// Namespace of the FlinkDeployment.
    pub namespace: String,
    /// `kubernetes.cluster-id`: the FlinkDeployment's name.
    pub name: String,
    /// JobManager replicas.
    pub jm_replicas: i64,
    /// Merged JobManager pod template, if any.
    pub jm_template: Option<Value>,
    /// Merged TaskManager pod template, if any.
    pub tm_template: Option<Value>,
    /// The full Flink configuration the cluster runs with.
    pub conf: BTreeMap<String, String>,
    /// `config.yaml` or `flink-conf.yaml`, by Flink version.
    pub config_file: &'static str,
    /// FlinkDeployment generation being deployed.
    pub generation: i64,
}

/// `app`, `type` and (optionally) `component` labels of a cluster's objects.
pub fn labels(cluster: &str, component: Option<&str>) -> Value {
    let mut labels = json!({"app": cluster, "type": NATIVE_TYPE});
    if let Some(component) = component {
        labels["component"] = json!(component);
    }
    labels
}

/// A memory size as Flink writes container resources: whole mebibytes.
pub fn memory_quantity(bytes: u64) -> String {
    format!("{}Mi", bytes >> 20)
}

/// CPU cores as a quantity string (`0.5`, `1`, `2.5`).
pub fn cpu_quantity(cpu: f64) -> String {
    format!("{cpu}")
}

/// The JobManager Deployment, owned by the FlinkDeployment `owner`.
pub fn jobmanager_deployment(def: &ClusterDefinition, owner: &Value) -> Value {
    let conf = &def.conf;
    let cpu = cpu_quantity(
        conf.get("kubernetes.jobmanager.cpu.amount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1.0),
    );
    let memory = conf
        .get("jobmanager.memory.process.size")
        .and_then(|m| crate::operator::spec::parse_memory(m).ok())
        .unwrap_or(1600 << 20);
    let main = json!({
        "name": MAIN_CONTAINER,
        "image": image(conf),
        "imagePullPolicy": conf.get("kubernetes.container.image.pull-policy").cloned().unwrap_or_else(|| "IfNotPresent".into()),
        "command": ["/docker-entrypoint.sh"],
        "args": ["kubernetes-jobmanager.sh", "kubernetes-application"],
        "env": [{"name": "_POD_IP_ADDRESS", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}}],
        "ports": [
            {"name": "rest", "containerPort": REST_PORT, "protocol": "TCP"},
            {"name": "jobmanager-rpc", "containerPort": 6123, "protocol": "TCP"},
            {"name": "blobserver", "containerPort": 6124, "protocol": "TCP"},
        ],
        "resources": {
            "requests": {"cpu": cpu, "memory": memory_quantity(memory)},
            "limits": {"cpu": cpu, "memory": memory_quantity(memory)},
        },
        "startupProbe": {"httpGet": {"path": "/config", "port": "rest"}, "periodSeconds": 1, "failureThreshold": 300},
        "volumeMounts": [{"name": "flink-config-volume", "mountPath": "/opt/flink/conf"}],
    });
    let generation = def.generation.to_string();
    let template = pod_template(
        def.jm_template.as_ref(),
        labels(&def.name, Some("jobmanager")),
        json!({GENERATION_ANNOTATION: generation}),
        main,
        json!({"serviceAccountName": service_account(conf)}),
        config_volume(&def.name, def.config_file),
    );
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": def.name,
            "namespace": def.namespace,
            "labels": labels(&def.name, Some("jobmanager")),
            "annotations": {GENERATION_ANNOTATION: generation},
            // The operator sets kubernetes.jobmanager.owner.reference with controller: false.
            "ownerReferences": [meta::owner_reference(owner, false)],
        },
        "spec": {
            "replicas": def.jm_replicas,
            "selector": {"matchLabels": labels(&def.name, Some("jobmanager"))},
            "strategy": {"type": "Recreate"},
            "template": template,
        },
    })
}

/// The internal (headless) and REST Services, owned by the JobManager Deployment.
pub fn services(def: &ClusterDefinition, deployment: &Value, rng: &mut Rng) -> [Value; 2] {
    let owner = [meta::owner_reference(deployment, true)];
    let selector = labels(&def.name, Some("jobmanager"));
    let cluster_ip = format!("10.43.{}.{}", rng.below(256), 1 + rng.below(254));
    [
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": def.name, "namespace": def.namespace, "labels": labels(&def.name, None), "ownerReferences": owner},
            "spec": {
                "type": "ClusterIP",
                "clusterIP": "None",
                "selector": selector,
                "ports": [
                    {"name": "jobmanager-rpc", "port": 6123, "targetPort": 6123, "protocol": "TCP"},
                    {"name": "blobserver", "port": 6124, "targetPort": 6124, "protocol": "TCP"},
                ],
            },
        }),
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": format!("{}-rest", def.name), "namespace": def.namespace, "labels": labels(&def.name, None), "ownerReferences": owner},
            "spec": {
                "type": "ClusterIP",
                "clusterIP": cluster_ip,
                "clusterIPs": [cluster_ip],
                "selector": selector,
                "ports": [{"name": "rest", "port": REST_PORT, "targetPort": REST_PORT, "protocol": "TCP"}],
            },
        }),
    ]
}

/// The `flink-config-<cluster>` ConfigMap, owned by the JobManager Deployment.
pub fn config_map(def: &ClusterDefinition, deployment: &Value) -> Value {
    let mut data = json!({
        def.config_file: conf::render(&def.conf),
        conf::LOG4J: conf::default_log4j(),
    });
    if let Some(template) = &def.tm_template {
        data[conf::TASKMANAGER_TEMPLATE] =
            json!(serde_yaml::to_string(template).unwrap_or_default());
    }
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": conf::config_map_name(&def.name),
            "namespace": def.namespace,
            "labels": labels(&def.name, None),
            "ownerReferences": [meta::owner_reference(deployment, true)],
        },
        "data": data,
    })
}

/// A TaskManager pod as the JobManager's resource manager requests it,
/// owned by the JobManager Deployment.
pub fn taskmanager_pod(
    cluster: &str,
    pod_name: &str,
    conf: &BTreeMap<String, String>,
    template: Option<&Value>,
    deployment: &Value,
    config_file: &str,
) -> Value {
    let cpu = cpu_quantity(
        conf.get("kubernetes.taskmanager.cpu.amount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1.0),
    );
    let memory = conf
        .get("taskmanager.memory.process.size")
        .and_then(|m| crate::operator::spec::parse_memory(m).ok())
        .unwrap_or(1728 << 20);
    let main = json!({
        "name": MAIN_CONTAINER,
        "image": image(conf),
        "imagePullPolicy": conf.get("kubernetes.container.image.pull-policy").cloned().unwrap_or_else(|| "IfNotPresent".into()),
        "command": ["/docker-entrypoint.sh"],
        "args": ["kubernetes-taskmanager.sh", format!("-Dtaskmanager.resource-id={pod_name}")],
        "env": [{"name": "_POD_IP_ADDRESS", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}}],
        "ports": [{"name": "rpc", "containerPort": 6122, "protocol": "TCP"}],
        "resources": {
            "requests": {"cpu": cpu, "memory": memory_quantity(memory)},
            "limits": {"cpu": cpu, "memory": memory_quantity(memory)},
        },
        "volumeMounts": [{"name": "flink-config-volume", "mountPath": "/opt/flink/conf"}],
    });
    let template = pod_template(
        template,
        labels(cluster, Some("taskmanager")),
        json!({}),
        main,
        json!({"serviceAccountName": service_account(conf), "restartPolicy": "Never"}),
        config_volume(cluster, config_file),
    );
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": template["metadata"].clone(),
        "spec": template["spec"].clone(),
        "status": {"phase": "Pending"},
    });
    pod["metadata"]["name"] = json!(pod_name);
    pod["metadata"]["ownerReferences"] = json!([meta::owner_reference(deployment, true)]);
    crate::controllers::podspec::apply_defaults(&mut pod["spec"], "Never");
    pod["status"]["qosClass"] = json!(crate::controllers::podspec::qos_class(&pod["spec"]));
    pod
}

/// The container image a cluster runs (Flink's default image when unset).
pub fn image(conf: &BTreeMap<String, String>) -> String {
    conf.get("kubernetes.container.image.ref")
        .or_else(|| conf.get("kubernetes.container.image"))
        .cloned()
        .unwrap_or_else(|| "apache/flink:latest".to_string())
}

fn service_account(conf: &BTreeMap<String, String>) -> String {
    conf.get("kubernetes.service-account")
        .cloned()
        .unwrap_or_else(|| "default".to_string())
}

fn config_volume(cluster: &str, config_file: &str) -> Value {
    json!({
        "name": "flink-config-volume",
        "configMap": {
            "name": conf::config_map_name(cluster),
            "items": [
                {"key": config_file, "path": config_file},
                {"key": conf::LOG4J, "path": conf::LOG4J},
            ],
        },
    })
}

/// A PodTemplateSpec: the user's template as the base, Flink's generated
/// main container, labels, annotations, pod fields and config volume on top.
fn pod_template(
    template: Option<&Value>,
    labels: Value,
    annotations: Value,
    main: Value,
    pod_fields: Value,
    volume: Value,
) -> Value {
    let generated = json!({
        "metadata": {"labels": labels, "annotations": annotations},
        "spec": {"containers": [main], "volumes": [volume]},
    });
    let mut merged = deep_merge(template.cloned().unwrap_or_else(|| json!({})), generated);
    if let Some(fields) = pod_fields.as_object() {
        for (k, v) in fields {
            merged["spec"][k] = v.clone();
        }
    }
    // Flink's container comes first, sidecars after.
    if let Some(containers) = merged["spec"]["containers"].as_array_mut() {
        containers.sort_by_key(|c| c["name"].as_str() != Some(MAIN_CONTAINER));
    }
    if merged["metadata"]["annotations"]
        .as_object()
        .is_some_and(Map::is_empty)
        && let Some(metadata) = merged["metadata"].as_object_mut()
    {
        metadata.remove("annotations");
    }
    merged
}

/// Merges `overlay` into `base`: objects key by key, arrays of named objects
/// by `name` (overlay entries win, new ones are appended), anything else
/// replaced by the overlay.
pub fn deep_merge(base: Value, overlay: Value) -> Value {
    match (base, overlay) {
        (Value::Object(mut base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                let merged = match base.remove(&key) {
                    Some(existing) => deep_merge(existing, value),
                    None => value,
                };
                base.insert(key, merged);
            }
            Value::Object(base)
        }
        (Value::Array(mut base), Value::Array(overlay)) if named(&base) && named(&overlay) => {
            for item in overlay {
                match base.iter().position(|b| b["name"] == item["name"]) {
                    Some(i) => {
                        let existing = std::mem::take(&mut base[i]);
                        base[i] = deep_merge(existing, item);
                    }
                    None => base.push(item),
                }
            }
            Value::Array(base)
        }
        (_, overlay) => overlay,
    }
}

fn named(items: &[Value]) -> bool {
    items.iter().all(|i| i["name"].is_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_templates_keep_their_fields_and_flink_wins_conflicts() {
        let template = json!({
            "metadata": {"labels": {"team": "recsys", "app": "other"}},
            "spec": {
                "nodeSelector": {"pool": "flink"},
                "containers": [
                    {"name": "log-shipper", "image": "fluent-bit:3"},
                    {"name": MAIN_CONTAINER, "image": "ignored", "envFrom": [{"configMapRef": {"name": "lemo-services-config"}}],
                     "env": [{"name": "A", "value": "1"}]},
                ],
            },
        });
        let merged = pod_template(
            Some(&template),
            labels("x", Some("jobmanager")),
            json!({}),
            json!({"name": MAIN_CONTAINER, "image": "flink:1.17", "env": [{"name": "B", "value": "2"}]}),
            json!({"serviceAccountName": "flink"}),
            json!({"name": "flink-config-volume"}),
        );
        assert_eq!(
            merged["metadata"]["labels"]["app"], "x",
            "Flink's labels win"
        );
        assert_eq!(merged["metadata"]["labels"]["team"], "recsys");
        assert_eq!(merged["spec"]["nodeSelector"]["pool"], "flink");
        assert_eq!(merged["spec"]["serviceAccountName"], "flink");
        let main = &merged["spec"]["containers"][0];
        assert_eq!(
            main["name"], MAIN_CONTAINER,
            "Flink's container comes first"
        );
        assert_eq!(main["image"], "flink:1.17");
        assert_eq!(
            main["envFrom"][0]["configMapRef"]["name"],
            "lemo-services-config"
        );
        assert_eq!(main["env"].as_array().unwrap().len(), 2);
        assert_eq!(
            merged["spec"]["containers"][1]["name"], "log-shipper",
            "sidecars are kept"
        );
        assert!(merged["metadata"].get("annotations").is_none());
    }
}
