//! The ReplicaSet controller: keeps `spec.replicas` pods of a ReplicaSet in
//! existence and reports how many are ready and available.
//!
//! Pods are named `<replicaset>-<5 random chars>` through `generateName`,
//! carry the template's labels and a controller owner reference to the
//! ReplicaSet, and start `Pending`; the kubelet stand-in takes them from
//! there. `SuccessfulCreate` / `SuccessfulDelete` events are recorded as the
//! real controller records them.
//!
//! Fidelity: the real controller creates pods in slow-start batches and
//! adopts orphans that match its selector; here all missing pods are created
//! at once and only owned pods count. Pod admission (service-account
//! existence, quotas) is not modelled, so `FailedCreate` never happens yet.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::{
    clock::SimTime,
    cluster::{Controller, Ctx},
    controllers::{
        events::{self, EventRecord, EventType},
        meta, podspec,
    },
    resource::ResourceType,
};

/// The component name on this controller's events.
const COMPONENT: &str = "replicaset-controller";

/// Reconciles ReplicaSets into pods; see the module doc.
#[derive(Debug, Default)]
pub struct ReplicaSetController;

impl Controller for ReplicaSetController {
    fn name(&self) -> &'static str {
        COMPONENT
    }

    fn reconcile(&mut self, ctx: &mut Ctx<'_>) -> Option<SimTime> {
        let (Some(rs_type), Some(pod_type)) = (
            meta::kind(ctx.registry, "apps", "v1", "replicasets"),
            meta::kind(ctx.registry, "", "v1", "pods"),
        ) else {
            return None;
        };
        let sets: Vec<Arc<Value>> = ctx
            .store
            .list("apps", "replicasets", None)
            .cloned()
            .collect();
        let mut wake: Option<SimTime> = None;
        for rs in sets.iter().filter(|rs| !meta::is_terminating(rs)) {
            if let Some(at) = sync(ctx, &rs_type, &pod_type, rs) {
                wake = Some(wake.map_or(at, |w| w.min(at)));
            }
        }
        wake
    }
}

/// Brings one ReplicaSet's pods to `spec.replicas` and writes its status.
/// Returns when a pod will become available (minReadySeconds), if pending.
fn sync(
    ctx: &mut Ctx<'_>,
    rs_type: &ResourceType,
    pod_type: &ResourceType,
    rs: &Value,
) -> Option<SimTime> {
    let desired = rs["spec"]["replicas"].as_i64().unwrap_or(1).max(0) as usize;
    let mut pods = owned_pods(ctx, rs);
    if pods.len() < desired {
        for _ in pods.len()..desired {
            match create_pod(ctx, pod_type, rs) {
                Ok(pod) => pods.push(pod),
                Err(err) => {
                    tracing::debug!(replicaset = meta::name(rs), %err, "pod creation failed; retrying")
                }
            }
        }
    } else if pods.len() > desired {
        // Prefer deleting pods that are least far along, newest first, as the
        // real controller ranks them.
        pods.sort_by_key(|p| std::cmp::Reverse(deletion_rank(p)));
        for pod in pods.split_off(desired) {
            match meta::delete(ctx.store, pod_type, &pod, ctx.now) {
                Ok(_) => {
                    let message = format!("Deleted pod: {}", meta::name(&pod));
                    let event = EventRecord::kubernetes(
                        EventType::Normal,
                        "SuccessfulDelete",
                        message,
                        COMPONENT,
                    );
                    record(ctx, rs, &event);
                }
                Err(err) => {
                    tracing::debug!(pod = meta::name(&pod), %err, "pod deletion failed; retrying")
                }
            }
        }
    }
    let min_ready = rs["spec"]["minReadySeconds"].as_u64().unwrap_or(0);
    let template_labels = meta::labels(&rs["spec"]["template"]);
    let mut wake = None;
    let (mut ready, mut available, mut fully_labeled) = (0, 0, 0);
    for pod in &pods {
        let labels = meta::labels(pod);
        if template_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
        {
            fully_labeled += 1;
        }
        let Some(since) = podspec::ready_since(pod) else {
            continue;
        };
        ready += 1;
        let available_at = since.plus(std::time::Duration::from_secs(min_ready));
        if available_at <= ctx.now {
            available += 1;
        } else {
            wake = Some(wake.map_or(available_at, |w: SimTime| w.min(available_at)));
        }
    }
    let mut status = json!({
        "replicas": pods.len(),
        "observedGeneration": meta::generation(rs),
    });
    // The API omits zero counts other than `replicas`.
    for (field, count) in [
        ("fullyLabeledReplicas", fully_labeled),
        ("readyReplicas", ready),
        ("availableReplicas", available),
    ] {
        if count > 0 {
            status[field] = json!(count);
        }
    }
    if let Some(current) = ctx.store.get(&meta::key_of(rs_type, rs)).cloned()
        && let Err(err) = meta::write_status(ctx.store, rs_type, &current, status, ctx.now)
    {
        tracing::debug!(replicaset = meta::name(rs), %err, "status write failed; retrying");
    }
    wake
}

/// The live (not terminating, not finished) pods controlled by `rs`.
fn owned_pods(ctx: &Ctx<'_>, rs: &Value) -> Vec<Value> {
    let uid = meta::uid(rs);
    ctx.store
        .list("", "pods", Some(meta::namespace(rs)))
        .filter(|p| {
            meta::controller_uid(p) == Some(uid)
                && !meta::is_terminating(p)
                && !podspec::is_finished(p)
        })
        .map(|p| (**p).clone())
        .collect()
}

/// Lower ranks are deleted first: unscheduled, then pending, then not ready,
/// then ready; among equals the newest goes first.
fn deletion_rank(pod: &Value) -> (u8, std::cmp::Reverse<String>) {
    let stage = if pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty) {
        0
    } else if pod["status"]["phase"].as_str() != Some("Running") {
        1
    } else if !podspec::is_ready(pod) {
        2
    } else {
        3
    };
    let created = pod["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (stage, std::cmp::Reverse(created))
}

fn create_pod(
    ctx: &mut Ctx<'_>,
    pod_type: &ResourceType,
    rs: &Value,
) -> Result<Value, crate::error::ApiError> {
    let template = &rs["spec"]["template"];
    let mut spec = template["spec"].clone();
    podspec::apply_defaults(&mut spec, "Always");
    let mut metadata = json!({
        "generateName": format!("{}-", meta::name(rs)),
        "labels": template["metadata"]["labels"].clone(),
        "ownerReferences": [meta::owner_reference(rs, true)],
    });
    if let Some(annotations) = template["metadata"]
        .get("annotations")
        .filter(|a| a.is_object())
    {
        metadata["annotations"] = annotations.clone();
    }
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "status": {"phase": "Pending", "qosClass": podspec::qos_class(&spec)},
        "spec": spec,
    });
    let created = ctx
        .store
        .create(pod_type, meta::namespace(rs), pod, ctx.now, ctx.rng)?;
    let message = format!("Created pod: {}", meta::name(&created));
    record(
        ctx,
        rs,
        &EventRecord::kubernetes(EventType::Normal, "SuccessfulCreate", message, COMPONENT),
    );
    Ok((*created).clone())
}

fn record(ctx: &mut Ctx<'_>, rs: &Value, event: &EventRecord) {
    if let Err(err) = events::record(ctx, rs, event) {
        tracing::debug!(replicaset = meta::name(rs), %err, "event not recorded");
    }
}
