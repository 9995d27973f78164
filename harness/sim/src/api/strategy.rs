//! What the API server's registry strategies do to a new object before it is
//! stored (`PrepareForCreate`), for the kinds where clients see it.
//!
//! - Kinds with a status subresource start without the client's status.
//! - Namespaces: `status.phase: Active`, `spec.finalizers: [kubernetes]` and
//!   the `kubernetes.io/metadata.name` label.
//! - Pods: `status.phase: Pending`.
//!
//! Built-in kinds are otherwise stored as sent: the simulator does not apply
//! the API server's field defaulting (container `imagePullPolicy`, port
//! protocols, Deployment strategy, Service cluster IPs and so on).
//!
//! [`validate`] is the strategies' validation for what a migration writes
//! most: a Deployment must have a selector that its pod template's labels
//! match (`matchLabels`; a selector with `matchExpressions` is not checked).
//! Other built-ins get only the decoder's checks (`decode.rs`).

use serde_json::{Value, json};

use crate::{error::Cause, resource::ResourceType};

/// The 422 causes the API server's validation finds in `obj`, a `rt` written
/// to its main resource.
pub(crate) fn validate(rt: &ResourceType, obj: &Value) -> Vec<Cause> {
    if rt.group != "apps" || rt.kind != "Deployment" {
        return Vec::new();
    }
    let selector = &obj["spec"]["selector"];
    if !selector.is_object() {
        return vec![Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value".into(),
            field: "spec.selector".into(),
        }];
    }
    if selector.get("matchExpressions").is_some() {
        return Vec::new();
    }
    let labels = obj["spec"]["template"]["metadata"]["labels"].as_object();
    let selected = selector["matchLabels"].as_object().is_some_and(|wanted| {
        !wanted.is_empty()
            && wanted
                .iter()
                .all(|(key, value)| labels.and_then(|l| l.get(key)) == Some(value))
    });
    if selected {
        return Vec::new();
    }
    let shown: Vec<String> = labels
        .into_iter()
        .flatten()
        .map(|(key, value)| format!("{key:?}:{}", value))
        .collect();
    vec![Cause {
        reason: "FieldValueInvalid".into(),
        message: format!(
            "Invalid value: map[string]string{{{}}}: `selector` does not match template `labels`",
            shown.join(", ")
        ),
        field: "spec.template.metadata.labels".into(),
    }]
}

/// Applies the create strategy of `rt` to `obj` in place.
pub(crate) fn prepare_for_create(rt: &ResourceType, obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    if rt.status_subresource {
        map.remove("status");
    }
    if !rt.group.is_empty() {
        return;
    }
    match rt.plural.as_str() {
        "namespaces" => {
            map.insert("status".into(), json!({"phase": "Active"}));
            let spec = map.entry("spec").or_insert_with(|| json!({}));
            if !spec.is_object() {
                *spec = json!({});
            }
            spec["finalizers"] = json!(["kubernetes"]);
            let name = map
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                .map(str::to_string);
            if let (Some(name), Some(meta)) =
                (name, map.get_mut("metadata").and_then(Value::as_object_mut))
            {
                let labels = meta.entry("labels").or_insert_with(|| json!({}));
                if !labels.is_object() {
                    *labels = json!({});
                }
                labels["kubernetes.io/metadata.name"] = json!(name);
            }
        }
        "pods" => {
            map.insert("status".into(), json!({"phase": "Pending"}));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Registry;

    #[test]
    fn namespaces_start_active_and_finalized() {
        let registry = Registry::with_builtins();
        let ns = registry.get("", "v1", "namespaces").unwrap();
        let mut obj = json!({"metadata": {"name": "x"}, "status": {"phase": "Terminating"}});
        prepare_for_create(ns, &mut obj);
        assert_eq!(obj["status"]["phase"], "Active");
        assert_eq!(obj["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"],
            "x"
        );
        let pods = registry.get("", "v1", "pods").unwrap();
        let mut pod = json!({"metadata": {"name": "p"}, "status": {"phase": "Running"}});
        prepare_for_create(pods, &mut pod);
        assert_eq!(pod["status"], json!({"phase": "Pending"}));
        let cm = registry.get("", "v1", "configmaps").unwrap();
        let mut map = json!({"metadata": {"name": "c"}, "status": {"kept": true}});
        prepare_for_create(cm, &mut map);
        assert_eq!(
            map["status"]["kept"], true,
            "kinds without a status subresource keep it"
        );
    }
}
