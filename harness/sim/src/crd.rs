//! CustomResourceDefinitions: turning a CRD object into served kinds.
//!
//! Creating or updating a CRD through the API, and pre-installing one at
//! start-up (as the operator's Helm chart does), both go through
//! [`establish`], so a kind registered either way behaves the same.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::{
    clock::SimTime,
    cluster::Cluster,
    error::ApiError,
    resource::ResourceType,
    store::{ObjectKey, Subresource},
};

/// Stores `crd` (create or replace) and serves its versions.
///
/// The CRD gets the `NamesAccepted` and `Established` conditions at once:
/// the simulator has no establishing delay.
pub fn establish(cluster: &mut Cluster, crd: Value, now: SimTime) -> Result<Arc<Value>, ApiError> {
    let crd_type = cluster
        .registry
        .get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .expect("CustomResourceDefinition is built in")
        .clone();
    let name = crd["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let types = ResourceType::from_crd(&crd).map_err(|causes| ApiError::invalid(&crd_type, &name, causes))?;
    let key = ObjectKey::new(&crd_type, "", &name);
    let stored = match cluster.store.get(&key) {
        Some(_) => cluster.store.update(&crd_type, &key, crd, Subresource::Main, now)?,
        None => cluster.store.create(&crd_type, "", crd, now, &mut cluster.rng)?,
    };
    if let Some(first) = types.first() {
        cluster.registry.remove_group_resource(&first.group, &first.plural);
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
    cluster.store.update(&crd_type, &key, with_status, Subresource::Status, now)
}
