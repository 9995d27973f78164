//! CustomResourceDefinitions: turning a CRD object into served kinds.
//!
//! Creating or updating a CRD through the API, and pre-installing one at
//! start-up (as the operator's Helm chart does), both go through
//! [`establish`], so a kind registered either way behaves the same.
//!
//! Deleting a CRD works as on a real cluster: a new CRD carries the
//! `customresourcecleanup.apiextensions.k8s.io` finalizer, so deletion first
//! marks it terminating; a cleanup controller (in the API edge) deletes its
//! custom resources and then drops the finalizer; [`sync_registry`] stops
//! serving the kinds once the CRD object is gone.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::{
    clock::SimTime,
    cluster::Cluster,
    error::ApiError,
    resource::ResourceType,
    store::{ObjectKey, Subresource},
};

/// The finalizer the API server puts on every CRD so its custom resources
/// are deleted before it.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Whether `rt` is the `CustomResourceDefinition` kind itself.
pub fn is_crd_kind(rt: &ResourceType) -> bool {
    rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions"
}

/// Stops serving custom kinds whose CRD object no longer exists. Cheap:
/// one lookup per served custom kind.
pub fn sync_registry(cluster: &mut Cluster) {
    let orphaned: Vec<(String, String)> = cluster
        .registry
        .iter()
        .filter(|rt| rt.custom)
        .filter(|rt| {
            let key = ObjectKey {
                group: "apiextensions.k8s.io".into(),
                plural: "customresourcedefinitions".into(),
                namespace: String::new(),
                name: format!("{}.{}", rt.plural, rt.group),
            };
            cluster.store.get(&key).is_none()
        })
        .map(|rt| (rt.group.clone(), rt.plural.clone()))
        .collect();
    for (group, plural) in orphaned {
        cluster.registry.remove_group_resource(&group, &plural);
    }
}

/// Stores `crd` (create or replace) and serves its versions.
///
/// The CRD gets the `NamesAccepted` and `Established` conditions at once:
/// the simulator has no establishing delay. A new CRD gets the
/// [`CLEANUP_FINALIZER`].
pub fn establish(
    cluster: &mut Cluster,
    mut crd: Value,
    now: SimTime,
) -> Result<Arc<Value>, ApiError> {
    let crd_type = cluster
        .registry
        .get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .expect("CustomResourceDefinition is built in")
        .clone();
    let name = crd["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let types = ResourceType::from_crd(&crd)
        .map_err(|causes| ApiError::invalid(&crd_type, &name, causes))?;
    let key = ObjectKey::new(&crd_type, "", &name);
    let stored = match cluster.store.get(&key) {
        Some(_) => cluster
            .store
            .update(&crd_type, &key, crd, Subresource::Main, now)?,
        None => {
            add_cleanup_finalizer(&mut crd);
            cluster
                .store
                .create(&crd_type, "", crd, now, &mut cluster.rng)?
        }
    };
    if let Some(first) = types.first() {
        cluster
            .registry
            .remove_group_resource(&first.group, &first.plural);
    }
    for rt in types {
        cluster.registry.insert(rt);
    }
    let mut with_status = (*stored).clone();
    let condition = |type_: &str, reason: &str, message: &str| {
        json!({"type": type_, "status": "True", "reason": reason, "message": message,
               "lastTransitionTime": now.rfc3339()})
    };
    with_status["status"] = json!({
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": stored["spec"]["names"].clone(),
        "storedVersions": stored["spec"]["versions"].as_array().map(|vs| {
            vs.iter().filter(|v| v["storage"].as_bool() == Some(true)).map(|v| v["name"].clone()).collect::<Vec<_>>()
        }).unwrap_or_default(),
    });
    cluster
        .store
        .update(&crd_type, &key, with_status, Subresource::Status, now)
}

fn add_cleanup_finalizer(crd: &mut Value) {
    let Some(meta) = crd
        .as_object_mut()
        .map(|m| m.entry("metadata").or_insert_with(|| json!({})))
    else {
        return;
    };
    if !meta.is_object() {
        *meta = json!({});
    }
    let finalizers = meta
        .as_object_mut()
        .expect("made an object above")
        .entry("finalizers")
        .or_insert_with(|| json!([]));
    match finalizers.as_array_mut() {
        Some(list) if !list.iter().any(|f| f == CLEANUP_FINALIZER) => {
            list.push(json!(CLEANUP_FINALIZER))
        }
        Some(_) => {}
        None => *finalizers = json!([CLEANUP_FINALIZER]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn widget_crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                     "versions": [{"name": "v1", "served": true, "storage": true,
                                   "schema": {"openAPIV3Schema": {"type": "object"}}}]}
        })
    }

    #[test]
    fn establish_serves_kinds_and_sync_drops_them_with_the_crd() {
        let mut cluster = Cluster::new(1, SimTime(0));
        let stored = establish(&mut cluster, widget_crd(), SimTime(0)).unwrap();
        assert_eq!(stored["metadata"]["finalizers"], json!([CLEANUP_FINALIZER]));
        assert_eq!(stored["status"]["conditions"][1]["type"], "Established");
        assert!(
            cluster
                .registry
                .get("example.com", "v1", "widgets")
                .is_some()
        );
        sync_registry(&mut cluster);
        assert!(
            cluster
                .registry
                .get("example.com", "v1", "widgets")
                .is_some(),
            "the CRD still exists"
        );

        let crd_type = cluster
            .registry
            .get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .unwrap()
            .clone();
        assert!(is_crd_kind(&crd_type));
        let key = ObjectKey::new(&crd_type, "", "widgets.example.com");
        let mut cleared = (*cluster.store.get(&key).unwrap().clone()).clone();
        cleared["metadata"]["finalizers"] = json!([]);
        cluster
            .store
            .update(&crd_type, &key, cleared, Subresource::Main, SimTime(0))
            .unwrap();
        cluster.store.delete(&crd_type, &key, SimTime(0)).unwrap();
        sync_registry(&mut cluster);
        assert!(
            cluster
                .registry
                .get("example.com", "v1", "widgets")
                .is_none()
        );
    }

    #[test]
    fn a_malformed_crd_is_invalid() {
        let mut cluster = Cluster::new(1, SimTime(0));
        let mut crd = widget_crd();
        crd["spec"]["scope"] = json!("Galaxy");
        let err = establish(&mut cluster, crd, SimTime(0)).unwrap_err();
        assert_eq!(err.code, 422);
        assert!(
            err.message
                .contains("spec.scope: Unsupported value: \"Galaxy\""),
            "{}",
            err.message
        );
    }
}
