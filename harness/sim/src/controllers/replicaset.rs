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
//! existence) is not modelled. One quota is: the simulator holds at most
//! [`POD_QUOTA`] live pods per namespace by default, as if each namespace had a
//! `ResourceQuota` named `harness-sim-pods`, so that a FlinkDeployment asking
//! for millions of TaskManagers (parallelism up to 2^31 - 1 is valid) costs
//! a refusal, not the simulator's memory. Beyond it the controller reports
//! what the real one reports under a quota: a `ReplicaFailure` condition and a
//! `FailedCreate` warning event with the quota's wording.

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

/// Live pods per namespace the simulator holds by default (see the module
/// doc): nine nodes' worth at the kubelet's default of 110 pods each, far
/// beyond any job a migration rehearses (the controllers' passes grow with
/// the pods in a namespace, so a quota well above this would make the
/// simulator itself the bottleneck).
pub const POD_QUOTA: usize = 1000;

/// Reconciles ReplicaSets into pods; see the module doc.
#[derive(Debug)]
pub struct ReplicaSetController {
    /// Live pods per namespace beyond which creation is refused.
    pub pod_quota: usize,
}

impl Default for ReplicaSetController {
    fn default() -> ReplicaSetController {
        ReplicaSetController {
            pod_quota: POD_QUOTA,
        }
    }
}

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
            if let Some(at) = sync(ctx, &rs_type, &pod_type, rs, self.pod_quota) {
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
    quota: usize,
) -> Option<SimTime> {
    let desired =
        usize::try_from(rs["spec"]["replicas"].as_i64().unwrap_or(1).max(0)).unwrap_or(usize::MAX);
    let mut pods = owned_pods(ctx, rs);
    let mut refused = None;
    if pods.len() < desired {
        let used = ctx
            .store
            .list("", "pods", Some(meta::namespace(rs)))
            .filter(|p| !podspec::is_finished(p))
            .count();
        let wanted = desired - pods.len();
        let room = quota.saturating_sub(used).min(wanted);
        for _ in 0..room {
            match create_pod(ctx, pod_type, rs) {
                Ok(pod) => pods.push(pod),
                Err(err) => {
                    tracing::debug!(replicaset = meta::name(rs), %err, "pod creation failed; retrying")
                }
            }
        }
        if room < wanted {
            refused = Some(format!(
                "pods \"{}-\" is forbidden: exceeded quota: harness-sim-pods, requested: pods=1, used: pods={}, limited: pods={quota}",
                meta::name(rs),
                used + room
            ));
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
    let Some(current) = ctx.store.get(&meta::key_of(rs_type, rs)).cloned() else {
        return wake;
    };
    if let Some(message) = refused {
        report_refusal(ctx, &current, &mut status, message);
    }
    if let Err(err) = meta::write_status(ctx.store, rs_type, &current, status, ctx.now) {
        tracing::debug!(replicaset = meta::name(rs), %err, "status write failed; retrying");
    }
    wake
}

/// Sets the `ReplicaFailure` condition on `status`, and records the
/// `FailedCreate` event when the condition is new or its message changed (so
/// a pass that changes nothing writes nothing).
fn report_refusal(ctx: &mut Ctx<'_>, rs: &Value, status: &mut Value, message: String) {
    let previous = rs["status"]["conditions"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["type"] == "ReplicaFailure"));
    let since = previous
        .and_then(|c| c["lastTransitionTime"].as_str())
        .map_or_else(|| ctx.now.rfc3339(), str::to_owned);
    if previous.is_none_or(|c| c["message"] != message.as_str()) {
        let event = EventRecord::kubernetes(
            EventType::Warning,
            "FailedCreate",
            format!("Error creating: {message}"),
            COMPONENT,
        );
        record(ctx, rs, &event);
    }
    status["conditions"] = json!([{
        "type": "ReplicaFailure",
        "status": "True",
        "reason": "FailedCreate",
        "message": message,
        "lastTransitionTime": since,
    }]);
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
