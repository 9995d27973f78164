//! Two finalizers the API server's own machinery completes on a real
//! cluster. They live with the API edge because they finish deletions the
//! API starts; [`install`] adds them to the cluster being served. Both are
//! pure state machines like every other controller.
//!
//! - Namespace finalize: a namespace is held by `spec.finalizers`
//!   (`kubernetes`), as on a real cluster. The built-in namespace controller
//!   (`controllers::namespace`) deletes a terminating namespace's contents
//!   and shows `status.phase: Terminating`; once nothing namespaced is left
//!   in it, this controller clears `spec.finalizers` (what the real
//!   controller does through `/finalize`) and the store removes it.
//! - CRD cleanup: a deleted CRD's custom resources are deleted; once none
//!   remain the `customresourcecleanup.apiextensions.k8s.io` finalizer is
//!   dropped and the CRD disappears (the registry then stops serving its
//!   kinds).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::{
    clock::SimTime,
    cluster::{Cluster, Controller, Ctx},
    crd,
    resource::{Registry, ResourceType},
    store::{ObjectKey, Store, Subresource},
};

/// Adds the namespace-finalize and CRD-cleanup controllers to `cluster`.
pub(crate) fn install(cluster: &mut Cluster) {
    cluster.add_controller(Box::new(NamespaceFinalize));
    cluster.add_controller(Box::new(CrdCleanup));
}

fn deleting(obj: &Value) -> bool {
    obj["metadata"]
        .get("deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

/// Sets `status.phase: Terminating` on a namespace being deleted; returns
/// the namespace as stored afterwards.
pub(crate) fn mark_terminating(
    store: &mut Store,
    ns_type: &ResourceType,
    key: &ObjectKey,
    now: SimTime,
) -> Option<Value> {
    let current = store.get(key)?.clone();
    if current["status"]["phase"] == "Terminating" || !deleting(&current) {
        return Some((*current).clone());
    }
    let mut updated = (*current).clone();
    updated["status"]["phase"] = json!("Terminating");
    store
        .update(ns_type, key, updated, Subresource::Status, now)
        .ok()
        .map(|obj| (*obj).clone())
}

/// Deletes every object of the kinds in `kinds` and returns how many are
/// still there (held by finalizers).
fn delete_all(store: &mut Store, kinds: &[ResourceType], now: SimTime) -> usize {
    let mut remaining = 0;
    for rt in kinds {
        let keys: Vec<(ObjectKey, bool)> = store
            .list(&rt.group, &rt.plural, None)
            .map(|obj| {
                let key = ObjectKey::new(
                    rt,
                    obj["metadata"]["namespace"].as_str().unwrap_or_default(),
                    obj["metadata"]["name"].as_str().unwrap_or_default(),
                );
                (key, deleting(obj))
            })
            .collect();
        for (key, already_deleting) in keys {
            if !already_deleting {
                let _ = store.delete(rt, &key, now);
            }
            if store.get(&key).is_some() {
                remaining += 1;
            }
        }
    }
    remaining
}

/// One `ResourceType` per stored kind (versions share storage).
fn distinct_kinds(registry: &Registry, keep: impl Fn(&ResourceType) -> bool) -> Vec<ResourceType> {
    let mut seen = BTreeSet::new();
    registry
        .iter()
        .filter(|rt| keep(rt) && seen.insert((rt.group.clone(), rt.plural.clone())))
        .cloned()
        .collect()
}

/// Clears `spec.finalizers` of terminating namespaces that are empty.
struct NamespaceFinalize;

impl Controller for NamespaceFinalize {
    fn name(&self) -> &'static str {
        "namespace-finalizer"
    }

    fn reconcile(&mut self, ctx: &mut Ctx<'_>) -> Option<SimTime> {
        let ns_type = ctx.registry.get("", "v1", "namespaces")?.clone();
        let held: Vec<String> = ctx
            .store
            .list("", "namespaces", None)
            .filter(|ns| {
                deleting(ns)
                    && ns["spec"]["finalizers"]
                        .as_array()
                        .is_some_and(|f| !f.is_empty())
            })
            .filter_map(|ns| ns["metadata"]["name"].as_str().map(str::to_string))
            .collect();
        if held.is_empty() {
            return None;
        }
        let kinds = distinct_kinds(ctx.registry, |rt| rt.namespaced);
        for name in held {
            let occupied = kinds.iter().any(|rt| {
                ctx.store
                    .list(&rt.group, &rt.plural, Some(&name))
                    .next()
                    .is_some()
            });
            let key = ObjectKey::new(&ns_type, "", &name);
            if occupied {
                mark_terminating(ctx.store, &ns_type, &key, ctx.now);
                continue;
            }
            if let Some(current) = ctx.store.get(&key) {
                let mut finalized = (**current).clone();
                finalized["spec"]["finalizers"] = json!([]);
                let _ = ctx
                    .store
                    .update(&ns_type, &key, finalized, Subresource::Main, ctx.now);
            }
        }
        None
    }
}

/// Completes CRD deletion.
struct CrdCleanup;

impl Controller for CrdCleanup {
    fn name(&self) -> &'static str {
        "crd-finalizer"
    }

    fn reconcile(&mut self, ctx: &mut Ctx<'_>) -> Option<SimTime> {
        let crd_type = ctx
            .registry
            .get("apiextensions.k8s.io", "v1", "customresourcedefinitions")?
            .clone();
        let doomed: Vec<(String, String, String)> = ctx
            .store
            .list("apiextensions.k8s.io", "customresourcedefinitions", None)
            .filter(|crd| deleting(crd))
            .map(|crd| {
                let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
                (
                    text(&crd["metadata"]["name"]),
                    text(&crd["spec"]["group"]),
                    text(&crd["spec"]["names"]["plural"]),
                )
            })
            .collect();
        for (name, group, plural) in doomed {
            let kinds = distinct_kinds(ctx.registry, |rt| {
                rt.custom && rt.group == group && rt.plural == plural
            });
            if delete_all(ctx.store, &kinds, ctx.now) > 0 {
                continue;
            }
            let key = ObjectKey::new(&crd_type, "", &name);
            if let Some(current) = ctx.store.get(&key) {
                let mut released = (**current).clone();
                if let Some(list) = released["metadata"]["finalizers"].as_array_mut() {
                    list.retain(|f| f != crd::CLEANUP_FINALIZER);
                }
                let _ = ctx
                    .store
                    .update(&crd_type, &key, released, Subresource::Main, ctx.now);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Cluster {
        let mut cluster = Cluster::new(3, SimTime(0));
        install(&mut cluster);
        cluster
    }

    #[test]
    fn an_emptied_namespace_loses_its_spec_finalizers() {
        let mut cluster = cluster();
        let ns = cluster
            .registry
            .get("", "v1", "namespaces")
            .unwrap()
            .clone();
        let cm = cluster
            .registry
            .get("", "v1", "configmaps")
            .unwrap()
            .clone();
        let obj = json!({"metadata": {"name": "t"}, "spec": {"finalizers": ["kubernetes"]}});
        cluster
            .store
            .create(&ns, "", obj, SimTime(0), &mut cluster.rng)
            .unwrap();
        cluster
            .store
            .create(
                &cm,
                "t",
                json!({"metadata": {"name": "c"}}),
                SimTime(0),
                &mut cluster.rng,
            )
            .unwrap();
        let key = ObjectKey::new(&ns, "", "t");
        cluster.store.delete(&ns, &key, SimTime(1)).unwrap();
        cluster.step(SimTime(2));
        assert_eq!(
            cluster.store.get(&key).unwrap()["status"]["phase"],
            "Terminating",
            "content holds it"
        );
        cluster
            .store
            .delete(&cm, &ObjectKey::new(&cm, "t", "c"), SimTime(3))
            .unwrap();
        cluster.step(SimTime(4));
        assert!(
            cluster.store.get(&key).is_none(),
            "an emptied namespace disappears"
        );
    }

    #[test]
    fn crd_deletion_removes_its_objects_then_the_crd() {
        let mut cluster = cluster();
        let crd_obj = json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget"},
                     "versions": [{"name": "v1", "served": true, "storage": true}]}
        });
        crd::establish(&mut cluster, crd_obj, SimTime(0)).unwrap();
        let widget = cluster
            .registry
            .get("example.com", "v1", "widgets")
            .unwrap()
            .clone();
        cluster
            .store
            .create(
                &widget,
                "default",
                json!({"metadata": {"name": "w"}}),
                SimTime(0),
                &mut cluster.rng,
            )
            .unwrap();
        let crd_type = cluster
            .registry
            .get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .unwrap()
            .clone();
        let key = ObjectKey::new(&crd_type, "", "widgets.example.com");
        cluster.store.delete(&crd_type, &key, SimTime(1)).unwrap();
        assert!(
            cluster.store.get(&key).is_some(),
            "the cleanup finalizer holds the CRD"
        );
        cluster.step(SimTime(2));
        crd::sync_registry(&mut cluster);
        assert!(
            cluster
                .store
                .get(&ObjectKey::new(&widget, "default", "w"))
                .is_none()
        );
        assert!(cluster.store.get(&key).is_none());
        assert!(
            cluster
                .registry
                .get("example.com", "v1", "widgets")
                .is_none()
        );
    }
}
