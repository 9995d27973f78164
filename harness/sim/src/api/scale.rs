//! The `/scale` subresource: an `autoscaling/v1` `Scale` view of a kind's
//! replica count, for CRDs that declare it (FlinkDeployment:
//! `.spec.taskManager.replicas`) and for Deployments and ReplicaSets.
//!
//! Writing a Scale sets the replica path on the object and stores it as a
//! main-resource update: schema validation applies, webhooks do not (their
//! rules name the main resource, not `<kind>/scale`).

use serde_json::{Value, json};

use super::write::{self, Origin, Target, WriteOptions, Written};
use crate::{
    clock::SimTime,
    cluster::Cluster,
    error::ApiError,
    patch::PatchType,
    resource::{ResourceType, ScaleSpec},
    selector::LabelSelector,
    store::ObjectKey,
};

/// The scale paths of a kind, if it has a scale subresource.
fn scale_spec(rt: &ResourceType) -> Option<ScaleSpec> {
    if let Some(spec) = &rt.scale {
        return Some(spec.clone());
    }
    (rt.group == "apps" && matches!(rt.plural.as_str(), "deployments" | "replicasets")).then(|| {
        ScaleSpec {
            spec_replicas_path: ".spec.replicas".into(),
            status_replicas_path: ".status.replicas".into(),
            label_selector_path: Some(".spec.selector".into()),
        }
    })
}

fn path_segments(path: &str) -> impl Iterator<Item = &str> {
    path.trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
}

fn get_path<'a>(obj: &'a Value, path: &str) -> &'a Value {
    path_segments(path).fold(obj, |v, key| &v[key])
}

fn set_path(obj: &mut Value, path: &str, value: Value) {
    let segments: Vec<&str> = path_segments(path).collect();
    let Some((last, parents)) = segments.split_last() else {
        return;
    };
    let mut cursor = obj;
    for key in parents {
        if !cursor[*key].is_object() {
            cursor[*key] = json!({});
        }
        cursor = &mut cursor[*key];
    }
    cursor[*last] = value;
}

/// The `Scale` of `obj`.
fn scale_of(spec: &ScaleSpec, obj: &Value) -> Value {
    let meta = &obj["metadata"];
    let selector = match spec
        .label_selector_path
        .as_deref()
        .map(|p| get_path(obj, p))
    {
        Some(Value::String(text)) => text.clone(),
        // Built-in workloads keep a structured selector.
        Some(structured @ Value::Object(_)) => LabelSelector::from_object(structured)
            .map(|s| s.to_query())
            .unwrap_or_default(),
        _ => String::new(),
    };
    let mut status =
        json!({"replicas": get_path(obj, &spec.status_replicas_path).as_i64().unwrap_or(0)});
    if !selector.is_empty() {
        status["selector"] = json!(selector);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": get_path(obj, &spec.spec_replicas_path).as_i64().unwrap_or(0)},
        "status": status,
    })
}

fn spec_or_404(rt: &ResourceType, path: &str) -> Result<ScaleSpec, ApiError> {
    scale_spec(rt).ok_or_else(|| ApiError::no_route(path))
}

/// GET `.../{name}/scale`.
pub(crate) fn get(
    cluster: &Cluster,
    rt: &ResourceType,
    key: &ObjectKey,
    path: &str,
) -> Result<Value, ApiError> {
    let spec = spec_or_404(rt, path)?;
    let obj = cluster.store.get_existing(rt, key)?;
    Ok(scale_of(&spec, obj))
}

/// PUT `.../{name}/scale` with a Scale body.
#[allow(clippy::too_many_arguments)]
pub(crate) fn put(
    cluster: &mut Cluster,
    rt: &ResourceType,
    key: &ObjectKey,
    scale: &Value,
    opts: &WriteOptions,
    now: SimTime,
    path: &str,
) -> Result<Written, ApiError> {
    let spec = spec_or_404(rt, path)?;
    let current = cluster.store.get_existing(rt, key)?.clone();
    let replicas = scale["spec"]["replicas"].as_i64().unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError {
            code: 422,
            reason: "Invalid".into(),
            message: format!(
                "Scale.autoscaling \"{}\" is invalid: spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0",
                key.name
            ),
            details: Some(
                json!({"name": key.name, "group": "autoscaling", "kind": "Scale", "causes": [{
                    "reason": "FieldValueInvalid",
                    "message": format!("Invalid value: {replicas}: must be greater than or equal to 0"),
                    "field": "spec.replicas",
                }]}),
            ),
        });
    }
    let mut updated = (*current).clone();
    if let Some(rv) = scale["metadata"]["resourceVersion"]
        .as_str()
        .filter(|rv| !rv.is_empty())
    {
        updated["metadata"]["resourceVersion"] = json!(rv);
    }
    set_path(&mut updated, &spec.spec_replicas_path, json!(replicas));
    let written = write::update(
        cluster,
        rt,
        key,
        updated,
        Target::SCALE,
        opts,
        now,
        &Origin::Derived,
    )?;
    Ok(Written {
        object: scale_of(&spec, &written.object),
        ..written
    })
}

/// PATCH `.../{name}/scale`: the patch applies to the Scale object.
#[allow(clippy::too_many_arguments)]
pub(crate) fn patch(
    cluster: &mut Cluster,
    rt: &ResourceType,
    key: &ObjectKey,
    content_type: &str,
    body: &[u8],
    opts: &WriteOptions,
    now: SimTime,
    path: &str,
) -> Result<Written, ApiError> {
    let current = get(cluster, rt, key, path)?;
    let patch_type =
        PatchType::from_content_type(content_type).ok_or_else(|| write::unsupported_patch(rt))?;
    // Scale is a built-in type, so every patch type applies to it.
    let scale_type = ResourceType {
        custom: false,
        ..rt.clone()
    };
    let patched = write::apply_patch(&scale_type, patch_type, &current, body)?;
    put(cluster, rt, key, &patched, opts, now, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::request::Query;

    #[test]
    fn deployment_scale_round_trip() {
        let mut cluster = Cluster::new(1, SimTime(0));
        let deploy = cluster
            .registry
            .get("apps", "v1", "deployments")
            .unwrap()
            .clone();
        let obj = json!({"metadata": {"name": "d"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                                                          "template": {"metadata": {"labels": {"app": "d"}}}},
                         "status": {"replicas": 1}});
        cluster
            .store
            .create(&deploy, "default", obj, SimTime(0), &mut cluster.rng)
            .unwrap();
        let key = ObjectKey::new(&deploy, "default", "d");
        let scale = get(&cluster, &deploy, &key, "/x").unwrap();
        assert_eq!(
            (
                scale["spec"]["replicas"].as_i64(),
                scale["status"]["selector"].as_str()
            ),
            (Some(1), Some("app=d"))
        );
        let opts = WriteOptions::from_query(&Query::default()).unwrap();
        let written = patch(
            &mut cluster,
            &deploy,
            &key,
            "application/merge-patch+json",
            br#"{"spec":{"replicas":4}}"#,
            &opts,
            SimTime(0),
            "/x",
        )
        .unwrap();
        assert_eq!(written.object["spec"]["replicas"], 4);
        assert_eq!(cluster.store.get(&key).unwrap()["spec"]["replicas"], 4);
        let err = put(
            &mut cluster,
            &deploy,
            &key,
            &json!({"spec": {"replicas": -1}}),
            &opts,
            SimTime(0),
            "/x",
        )
        .unwrap_err();
        assert_eq!(err.code, 422);
        let cm = cluster
            .registry
            .get("", "v1", "configmaps")
            .unwrap()
            .clone();
        assert_eq!(get(&cluster, &cm, &key, "/x").unwrap_err().code, 404);
    }

    #[test]
    fn set_path_creates_parents() {
        let mut obj = json!({"spec": {}});
        set_path(&mut obj, ".spec.taskManager.replicas", json!(3));
        assert_eq!(get_path(&obj, ".spec.taskManager.replicas"), &json!(3));
    }
}
