//! Pod-spec helpers shared by the workload controllers, the kubelet stand-in
//! and the Flink model: the defaults the API server fills into a pod, its QoS
//! class, and reading pod conditions.
//!
//! Fidelity: the real API server applies defaults to every pod it admits;
//! here the controllers that create pods apply the few defaults the
//! simulation reads (restart policy, scheduler, service account, image pull
//! policy), so a pod created through the API without them still works
//! because every reader falls back to the same defaults.

use serde_json::{Value, json};

use crate::clock::SimTime;

/// Fills the API-server defaults a simulated pod needs into `spec`.
///
/// `restart_policy` is the default when the spec has none (`Always` for
/// workload pods; native Flink sets `Never` for TaskManagers itself).
pub fn apply_defaults(spec: &mut Value, restart_policy: &str) {
    if !spec.is_object() {
        *spec = json!({});
    }
    let defaults = [
        ("restartPolicy", json!(restart_policy)),
        ("dnsPolicy", json!("ClusterFirst")),
        ("schedulerName", json!("default-scheduler")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("securityContext", json!({})),
    ];
    for (field, value) in defaults {
        if spec.get(field).is_none_or(Value::is_null) {
            spec[field] = value;
        }
    }
    let account = spec["serviceAccountName"]
        .as_str()
        .or(spec["serviceAccount"].as_str())
        .unwrap_or("default")
        .to_string();
    spec["serviceAccountName"] = json!(account);
    spec["serviceAccount"] = json!(account);
    for list in ["initContainers", "containers"] {
        if let Some(containers) = spec[list].as_array_mut() {
            for container in containers {
                if container["imagePullPolicy"].is_null() {
                    container["imagePullPolicy"] = json!(default_pull_policy(
                        container["image"].as_str().unwrap_or_default()
                    ));
                }
                for (field, value) in [
                    ("terminationMessagePath", json!("/dev/termination-log")),
                    ("terminationMessagePolicy", json!("File")),
                    ("resources", json!({})),
                ] {
                    if container.get(field).is_none_or(Value::is_null) {
                        container[field] = value;
                    }
                }
            }
        }
    }
}

/// `Always` for `:latest` or untagged images, `IfNotPresent` otherwise, as
/// the API server defaults `imagePullPolicy`.
pub fn default_pull_policy(image: &str) -> &'static str {
    let without_digest = image.split('@').next().unwrap_or_default();
    let last_segment = without_digest.rsplit('/').next().unwrap_or_default();
    match last_segment.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

/// The pod's QoS class from its containers' requests and limits.
pub fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .flat_map(|list| spec[*list].as_array().into_iter().flatten())
        .collect();
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for container in containers {
        let requests = &container["resources"]["requests"];
        let limits = &container["resources"]["limits"];
        for resource in ["cpu", "memory"] {
            let limit = &limits[resource];
            let request = if requests[resource].is_null() {
                limit
            } else {
                &requests[resource]
            };
            any |= !limit.is_null() || !request.is_null();
            guaranteed &= !limit.is_null() && request == limit;
        }
    }
    match (guaranteed, any) {
        (true, _) => "Guaranteed",
        (false, true) => "Burstable",
        (false, false) => "BestEffort",
    }
}

/// The `status` of the pod condition `type_`, e.g. `Some("True")` for a
/// Ready pod.
pub fn condition_status<'a>(pod: &'a Value, type_: &str) -> Option<&'a str> {
    condition(pod, type_).and_then(|c| c["status"].as_str())
}

/// The pod condition `type_`, if set.
pub fn condition<'a>(pod: &'a Value, type_: &str) -> Option<&'a Value> {
    pod["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"].as_str() == Some(type_))
}

/// Whether the pod is Ready.
pub fn is_ready(pod: &Value) -> bool {
    condition_status(pod, "Ready") == Some("True")
}

/// When the pod last became Ready, if it is Ready.
pub fn ready_since(pod: &Value) -> Option<SimTime> {
    let ready = condition(pod, "Ready")?;
    if ready["status"].as_str() != Some("True") {
        return None;
    }
    ready["lastTransitionTime"]
        .as_str()
        .and_then(SimTime::parse_rfc3339)
}

/// Whether the pod has finished for good (`Succeeded` or `Failed`).
pub fn is_finished(pod: &Value) -> bool {
    matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_defaults_follow_the_tag() {
        assert_eq!(default_pull_policy("flink"), "Always");
        assert_eq!(default_pull_policy("flink:latest"), "Always");
        assert_eq!(default_pull_policy("flink:1.17"), "IfNotPresent");
        assert_eq!(
            default_pull_policy("localhost:5000/flink"),
            "Always",
            "a registry port is not a tag"
        );
        assert_eq!(
            default_pull_policy("localhost:5000/flink:1.17"),
            "IfNotPresent"
        );
    }

    #[test]
    fn qos_classes() {
        let pod = |resources: Value| json!({"containers": [{"name": "c", "resources": resources}]});
        let both = json!({"cpu": "1", "memory": "1Gi"});
        assert_eq!(
            qos_class(&pod(
                json!({"limits": both.clone(), "requests": both.clone()})
            )),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&pod(json!({"limits": both}))),
            "Guaranteed",
            "requests default to limits"
        );
        assert_eq!(
            qos_class(&pod(json!({"requests": {"cpu": "1"}}))),
            "Burstable"
        );
        assert_eq!(qos_class(&pod(json!({}))), "BestEffort");
    }

    #[test]
    fn defaults_fill_only_missing_fields() {
        let mut spec =
            json!({"restartPolicy": "Never", "containers": [{"name": "c", "image": "x:1"}]});
        apply_defaults(&mut spec, "Always");
        assert_eq!(spec["restartPolicy"], "Never");
        assert_eq!(spec["serviceAccountName"], "default");
        assert_eq!(spec["containers"][0]["imagePullPolicy"], "IfNotPresent");
    }
}
