//! The namespace controller: a namespace's contents go when it goes.
//!
//! Objects in a namespace that no longer exists, or that is terminating, are
//! deleted (objects with finalizers get a `deletionTimestamp` and are left to
//! their finalizer's owner, e.g. a FlinkDeployment to the operator). A
//! terminating namespace shows `status.phase: Terminating` and loses its
//! `kubernetes` finalizer once it is empty.
//!
//! Fidelity: the simulator's store removes a namespace without
//! `metadata.finalizers` at once, so usually this controller only sweeps up
//! the contents afterwards; the real namespace stays `Terminating` until it
//! is empty.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::{
    clock::SimTime,
    cluster::{Controller, Ctx},
    controllers::meta,
};

/// The finalizer a namespace carries until its contents are deleted.
const NAMESPACE_FINALIZER: &str = "kubernetes";

/// Deletes the contents of deleted and terminating namespaces.
#[derive(Debug, Default)]
pub struct NamespaceController;

impl Controller for NamespaceController {
    fn name(&self) -> &'static str {
        "namespace-controller"
    }

    fn reconcile(&mut self, ctx: &mut Ctx<'_>) -> Option<SimTime> {
        let ns_type = meta::kind(ctx.registry, "", "v1", "namespaces")?;
        let namespaces: Vec<_> = ctx.store.list("", "namespaces", None).cloned().collect();
        let live: BTreeSet<String> = namespaces
            .iter()
            .filter(|ns| !meta::is_terminating(ns))
            .map(|ns| meta::name(ns).to_string())
            .collect();
        let mut occupied = BTreeSet::new();
        for (rt, obj) in meta::all_objects(ctx.registry, ctx.store) {
            let ns = meta::namespace(&obj);
            if !rt.namespaced || live.contains(ns) {
                continue;
            }
            occupied.insert(ns.to_string());
            if meta::is_terminating(&obj) {
                continue;
            }
            if let Err(err) = meta::delete(ctx.store, &rt, &obj, ctx.now) {
                tracing::debug!(namespace = ns, object = meta::name(&obj), %err, "namespace cleanup failed; retrying");
            }
        }
        for ns in namespaces.iter().filter(|ns| meta::is_terminating(ns)) {
            let name = meta::name(ns);
            if ns["status"]["phase"].as_str() != Some("Terminating") {
                let mut status = ns["status"].clone();
                status["phase"] = json!("Terminating");
                match meta::write_status(ctx.store, &ns_type, ns, status, ctx.now) {
                    Ok(_) => continue,
                    Err(err) => {
                        tracing::debug!(namespace = name, %err, "could not mark namespace terminating")
                    }
                }
            }
            let still_has_contents = occupied.contains(name)
                || meta::all_objects(ctx.registry, ctx.store)
                    .iter()
                    .any(|(rt, o)| rt.namespaced && meta::namespace(o) == name);
            let finalizers = ns["metadata"]["finalizers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if still_has_contents || !finalizers.iter().any(|f| f == NAMESPACE_FINALIZER) {
                continue;
            }
            let Some(current) = ctx.store.get(&meta::key_of(&ns_type, ns)).cloned() else {
                continue;
            };
            let mut updated = (*current).clone();
            let kept: Vec<Value> = finalizers
                .into_iter()
                .filter(|f| f != NAMESPACE_FINALIZER)
                .collect();
            updated["metadata"]["finalizers"] = json!(kept);
            if let Err(err) = meta::write_main(ctx.store, &ns_type, updated, ctx.now) {
                tracing::debug!(namespace = name, %err, "could not finalize namespace");
            }
        }
        None
    }
}
