//! The garbage collector: cascading deletion by `ownerReferences`.
//!
//! Like kube-controller-manager's garbage collector it deletes an object once
//! none of its owners exist any more (background propagation), drops
//! references to owners that are gone while others remain, deletes the
//! dependents of an owner that is being deleted in the foreground (finalizer
//! `foregroundDeletion`) and then releases that owner, and orphans the
//! dependents of an owner deleted with finalizer `orphan`.
//!
//! Fidelity: the real collector keeps a dependency graph fed by watches and
//! works through queues, so a cascade takes a few hundred milliseconds per
//! level; here each level goes in one controller round at the same virtual
//! instant. Owners are matched by uid only (the real one also checks kind).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::{
    clock::SimTime,
    cluster::{Controller, Ctx},
    controllers::meta,
};

/// Finalizer the API server adds for `propagationPolicy: Foreground`.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// Finalizer the API server adds for `propagationPolicy: Orphan`.
pub const ORPHAN_FINALIZER: &str = "orphan";

/// Deletes objects whose owners are gone; see the module doc.
#[derive(Debug, Default)]
pub struct GarbageCollector;

impl Controller for GarbageCollector {
    fn name(&self) -> &'static str {
        "garbage-collector"
    }

    fn reconcile(&mut self, ctx: &mut Ctx<'_>) -> Option<SimTime> {
        let objects = meta::all_objects(ctx.registry, ctx.store);
        // uid -> (terminating, finalizers) for every live object.
        let owners: BTreeMap<String, (bool, Vec<String>)> = objects
            .iter()
            .map(|(_, obj)| {
                let finalizers = obj["metadata"]["finalizers"]
                    .as_array()
                    .map(|f| {
                        f.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                (
                    meta::uid(obj).to_string(),
                    (meta::is_terminating(obj), finalizers),
                )
            })
            .collect();
        let has_finalizer = |uid: &str, finalizer: &str| {
            owners
                .get(uid)
                .is_some_and(|(terminating, f)| *terminating && f.iter().any(|x| x == finalizer))
        };
        for (rt, obj) in &objects {
            let Some(refs) = obj["metadata"]["ownerReferences"].as_array() else {
                continue;
            };
            if refs.is_empty() {
                continue;
            }
            let ref_uid = |r: &Value| r["uid"].as_str().unwrap_or_default().to_string();
            let live: Vec<&Value> = refs
                .iter()
                .filter(|r| owners.contains_key(&ref_uid(r)))
                .collect();
            let orphaned_by: Vec<&Value> = live
                .iter()
                .copied()
                .filter(|r| has_finalizer(&ref_uid(r), ORPHAN_FINALIZER))
                .collect();
            let foreground = live
                .iter()
                .any(|r| has_finalizer(&ref_uid(r), FOREGROUND_FINALIZER));
            let result = if live.is_empty() || foreground {
                if meta::is_terminating(obj) {
                    continue;
                }
                meta::delete(ctx.store, rt, obj, ctx.now).map(|_| ())
            } else if live.len() != refs.len() || !orphaned_by.is_empty() {
                let keep: Vec<Value> = live
                    .iter()
                    .filter(|r| !has_finalizer(&ref_uid(r), ORPHAN_FINALIZER))
                    .map(|r| (*r).clone())
                    .collect();
                let mut updated = (**obj).clone();
                updated["metadata"]["ownerReferences"] = json!(keep);
                meta::write_main(ctx.store, rt, updated, ctx.now).map(|_| ())
            } else {
                continue;
            };
            if let Err(err) = result {
                tracing::debug!(object = meta::name(obj), %err, "garbage collection failed; retrying next pass");
            }
        }
        // Owners deleted in the foreground or with orphaning are released once
        // their dependents are gone or no longer point at them.
        let dependents_now: BTreeSet<String> = meta::all_objects(ctx.registry, ctx.store)
            .iter()
            .flat_map(|(_, obj)| {
                obj["metadata"]["ownerReferences"]
                    .as_array()
                    .map(|refs| {
                        refs.iter()
                            .filter_map(|r| r["uid"].as_str().map(str::to_string))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            })
            .collect();
        for (rt, obj) in &objects {
            let uid = meta::uid(obj);
            let releasable = [FOREGROUND_FINALIZER, ORPHAN_FINALIZER]
                .iter()
                .any(|f| has_finalizer(uid, f));
            if !releasable || dependents_now.contains(uid) {
                continue;
            }
            let Some(current) = ctx.store.get(&meta::key_of(rt, obj)).cloned() else {
                continue;
            };
            let mut updated = (*current).clone();
            if let Some(finalizers) = updated["metadata"]["finalizers"].as_array_mut() {
                finalizers.retain(|f| f != FOREGROUND_FINALIZER && f != ORPHAN_FINALIZER);
            }
            if let Err(err) = meta::write_main(ctx.store, rt, updated, ctx.now) {
                tracing::debug!(object = meta::name(obj), %err, "releasing owner failed; retrying next pass");
            }
        }
        None
    }
}
