//! The Deployment controller: Deployment -> ReplicaSet `<name>-<hash>`.
//!
//! The ReplicaSet for the current pod template is named after the template's
//! FNV-1a hash rendered like Kubernetes' `pod-template-hash` (bumped with
//! `status.collisionCount` when a foreign object already holds the name).
//! Old ReplicaSets are scaled down: at once for `Recreate` (the new one is
//! created only after the old pods are gone), and once the new one is fully
//! available for `RollingUpdate`. The status (replicas, updatedReplicas,
//! readyReplicas, availableReplicas, unavailableReplicas, observedGeneration,
//! conditions `Available` and `Progressing`) is summed up from the
//! ReplicaSets, and `ScalingReplicaSet` events are recorded.
//!
//! Fidelity: a real rolling update moves in `maxSurge`/`maxUnavailable` steps;
//! here the new ReplicaSet goes to full size at once and the old ones go to
//! zero once it is available (a 100% surge). `progressDeadlineSeconds`
//! (`ProgressDeadlineExceeded`) and `paused` are not modelled.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::{
    clock::SimTime,
    cluster::{Controller, Ctx},
    controllers::{
        events::{self, EventRecord, EventType},
        meta,
    },
    error::ApiError,
    resource::ResourceType,
};

/// The component name on this controller's events.
const COMPONENT: &str = "deployment-controller";
/// Label that ties a ReplicaSet and its pods to one pod template.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Annotation holding the rollout revision.
const REVISION: &str = "deployment.kubernetes.io/revision";

/// Reconciles Deployments into ReplicaSets; see the module doc.
#[derive(Debug, Default)]
pub struct DeploymentController;

impl Controller for DeploymentController {
    fn name(&self) -> &'static str {
        COMPONENT
    }

    fn reconcile(&mut self, ctx: &mut Ctx<'_>) -> Option<SimTime> {
        let (Some(deploy_type), Some(rs_type)) = (
            meta::kind(ctx.registry, "apps", "v1", "deployments"),
            meta::kind(ctx.registry, "apps", "v1", "replicasets"),
        ) else {
            return None;
        };
        let deployments: Vec<Arc<Value>> = ctx
            .store
            .list("apps", "deployments", None)
            .cloned()
            .collect();
        for deployment in deployments.iter().filter(|d| !meta::is_terminating(d)) {
            if let Err(err) = sync(ctx, &deploy_type, &rs_type, deployment) {
                tracing::debug!(deployment = meta::name(deployment), %err, "deployment sync failed; retrying");
            }
        }
        None
    }
}

/// The `pod-template-hash` of a template, as Kubernetes renders it.
pub fn template_hash(template: &Value, collision_count: u64) -> String {
    let mut text = meta::canonical_json(template);
    if collision_count > 0 {
        text.push_str(&collision_count.to_string());
    }
    meta::safe_encode(meta::fnv32a(text.as_bytes()))
}

fn sync(
    ctx: &mut Ctx<'_>,
    deploy_type: &ResourceType,
    rs_type: &ResourceType,
    deployment: &Value,
) -> Result<(), ApiError> {
    let desired = deployment["spec"]["replicas"].as_i64().unwrap_or(1).max(0);
    let template = &deployment["spec"]["template"];
    let collision_count = deployment["status"]["collisionCount"].as_u64().unwrap_or(0);
    let hash = template_hash(template, collision_count);
    let recreate = deployment["spec"]["strategy"]["type"].as_str() == Some("Recreate");
    let owned = owned_sets(ctx, deployment);
    let (new, old): (Vec<_>, Vec<_>) = owned.into_iter().partition(|rs| {
        rs["metadata"]["labels"][POD_TEMPLATE_HASH].as_str() == Some(hash.as_str())
    });
    let old_pods_exist = old
        .iter()
        .any(|rs| rs["status"]["replicas"].as_i64().unwrap_or(0) > 0);
    let old_scaled = old
        .iter()
        .any(|rs| rs["spec"]["replicas"].as_i64().unwrap_or(0) > 0);
    let mut created_new = None;
    let new_rs = match new.into_iter().next() {
        Some(rs) => Some(rs),
        None if recreate && (old_pods_exist || old_scaled) => None,
        None => {
            let revision = old.iter().map(revision_of).max().unwrap_or(0) + 1;
            match create_set(ctx, rs_type, deployment, &hash, desired, revision)? {
                Some(rs) => {
                    created_new = Some(meta::name(&rs).to_string());
                    Some(rs)
                }
                None => {
                    // The name is held by an object we do not own: bump the
                    // collision count so the next pass picks another name.
                    let mut status = deployment["status"].clone();
                    status["collisionCount"] = json!(collision_count + 1);
                    meta::write_status(ctx.store, deploy_type, deployment, status, ctx.now)?;
                    return Ok(());
                }
            }
        }
    };
    if let Some(rs) = &new_rs {
        let revision = revision_of(rs).to_string();
        if deployment["metadata"]["annotations"][REVISION].as_str() != Some(revision.as_str()) {
            let mut updated = deployment.clone();
            updated["metadata"]["annotations"][REVISION] = json!(revision);
            meta::write_main(ctx.store, deploy_type, updated, ctx.now)?;
        }
    }
    // Scale the new ReplicaSet up (Recreate: only once the old pods are gone)
    // and the old ones down.
    let new_available = new_rs.as_ref().map_or(0, |rs| {
        rs["status"]["availableReplicas"].as_i64().unwrap_or(0)
    });
    for rs in &old {
        let scale_down = recreate || new_available >= desired;
        if scale_down && rs["spec"]["replicas"].as_i64().unwrap_or(0) > 0 {
            scale(ctx, rs_type, deployment, rs, 0)?;
        }
    }
    if let Some(rs) = &new_rs
        && rs["spec"]["replicas"].as_i64() != Some(desired)
        && !(recreate && old_pods_exist)
    {
        scale(ctx, rs_type, deployment, rs, desired)?;
    }
    write_deployment_status(
        ctx,
        deploy_type,
        deployment,
        new_rs.as_ref().map(meta::name),
        created_new,
        desired,
        recreate,
    )
}

/// ReplicaSets controlled by `deployment`, ordered by name.
fn owned_sets(ctx: &Ctx<'_>, deployment: &Value) -> Vec<Value> {
    let uid = meta::uid(deployment);
    ctx.store
        .list("apps", "replicasets", Some(meta::namespace(deployment)))
        .filter(|rs| meta::controller_uid(rs) == Some(uid) && !meta::is_terminating(rs))
        .map(|rs| (**rs).clone())
        .collect()
}

fn revision_of(rs: &Value) -> u64 {
    rs["metadata"]["annotations"][REVISION]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// Creates the ReplicaSet for the current template. `Ok(None)` means the
/// name is taken by something this Deployment does not own.
fn create_set(
    ctx: &mut Ctx<'_>,
    rs_type: &ResourceType,
    deployment: &Value,
    hash: &str,
    replicas: i64,
    revision: u64,
) -> Result<Option<Value>, ApiError> {
    let name = format!("{}-{hash}", meta::name(deployment));
    let mut template = deployment["spec"]["template"].clone();
    template["metadata"]["labels"][POD_TEMPLATE_HASH] = json!(hash);
    let mut selector = deployment["spec"]["selector"].clone();
    if selector.get("matchLabels").is_none_or(|m| !m.is_object()) {
        selector["matchLabels"] = json!({});
    }
    selector["matchLabels"][POD_TEMPLATE_HASH] = json!(hash);
    let rs = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "labels": template["metadata"]["labels"].clone(),
            "annotations": {
                "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                "deployment.kubernetes.io/max-replicas": replicas.to_string(),
                REVISION: revision.to_string(),
            },
            "ownerReferences": [meta::owner_reference(deployment, true)],
        },
        "spec": {
            "replicas": replicas,
            "minReadySeconds": deployment["spec"]["minReadySeconds"].as_i64().unwrap_or(0),
            "selector": selector,
            "template": template,
        },
        "status": {"replicas": 0},
    });
    match ctx
        .store
        .create(rs_type, meta::namespace(deployment), rs, ctx.now, ctx.rng)
    {
        Ok(created) => {
            let message = format!("Scaled up replica set {name} from 0 to {replicas}");
            record(
                ctx,
                deployment,
                &EventRecord::kubernetes(
                    EventType::Normal,
                    "ScalingReplicaSet",
                    message,
                    COMPONENT,
                ),
            );
            Ok(Some((*created).clone()))
        }
        Err(err) if err.code == 409 => {
            let ns = meta::namespace(deployment);
            let ours = ctx.store.list("apps", "replicasets", Some(ns)).any(|rs| {
                meta::name(rs) == name && meta::controller_uid(rs) == Some(meta::uid(deployment))
            });
            // Our own ReplicaSet under this name is picked up next pass.
            if ours { Err(err) } else { Ok(None) }
        }
        Err(err) => Err(err),
    }
}

fn scale(
    ctx: &mut Ctx<'_>,
    rs_type: &ResourceType,
    deployment: &Value,
    rs: &Value,
    to: i64,
) -> Result<(), ApiError> {
    let from = rs["spec"]["replicas"].as_i64().unwrap_or(0);
    let Some(current) = ctx.store.get(&meta::key_of(rs_type, rs)).cloned() else {
        return Ok(());
    };
    let mut updated = (*current).clone();
    updated["spec"]["replicas"] = json!(to);
    updated["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
        json!(to.to_string());
    meta::write_main(ctx.store, rs_type, updated, ctx.now)?;
    let direction = if to > from { "up" } else { "down" };
    let message = format!(
        "Scaled {direction} replica set {} from {from} to {to}",
        meta::name(rs)
    );
    record(
        ctx,
        deployment,
        &EventRecord::kubernetes(EventType::Normal, "ScalingReplicaSet", message, COMPONENT),
    );
    Ok(())
}

fn write_deployment_status(
    ctx: &mut Ctx<'_>,
    deploy_type: &ResourceType,
    deployment: &Value,
    new_rs: Option<&str>,
    created_new: Option<String>,
    desired: i64,
    recreate: bool,
) -> Result<(), ApiError> {
    let Some(current) = ctx
        .store
        .get(&meta::key_of(deploy_type, deployment))
        .cloned()
    else {
        return Ok(());
    };
    let sets = owned_sets(ctx, &current);
    let sum = |field: &str| {
        sets.iter()
            .map(|rs| rs["status"][field].as_i64().unwrap_or(0))
            .sum::<i64>()
    };
    let (replicas, ready, available) = (
        sum("replicas"),
        sum("readyReplicas"),
        sum("availableReplicas"),
    );
    let updated = sets
        .iter()
        .find(|rs| Some(meta::name(rs)) == new_rs)
        .map_or(0, |rs| rs["status"]["replicas"].as_i64().unwrap_or(0));
    let scaled_total: i64 = sets
        .iter()
        .map(|rs| rs["spec"]["replicas"].as_i64().unwrap_or(0))
        .sum();
    let unavailable = (scaled_total.max(desired) - available).max(0);
    let max_unavailable = if recreate {
        0
    } else {
        max_unavailable(&current["spec"]["strategy"], desired)
    };
    let previous = current["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let condition = |type_: &str, status: bool, reason: &str, message: String| {
        let old = previous.iter().find(|c| c["type"].as_str() == Some(type_));
        let status_text = if status { "True" } else { "False" };
        let same_status = old.is_some_and(|c| c["status"].as_str() == Some(status_text));
        let same_text = old.is_some_and(|c| {
            c["reason"].as_str() == Some(reason) && c["message"].as_str() == Some(message.as_str())
        });
        let now = json!(ctx.now.rfc3339());
        json!({
            "type": type_,
            "status": status_text,
            "lastUpdateTime": if same_text && same_status { old.map_or(now.clone(), |c| c["lastUpdateTime"].clone()) } else { now.clone() },
            "lastTransitionTime": if same_status { old.map_or(now.clone(), |c| c["lastTransitionTime"].clone()) } else { now },
            "reason": reason,
            "message": message,
        })
    };
    let available_condition = if available >= desired - max_unavailable {
        condition(
            "Available",
            true,
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".into(),
        )
    } else {
        condition(
            "Available",
            false,
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".into(),
        )
    };
    let progressing = match (new_rs, created_new) {
        (_, Some(name)) => condition(
            "Progressing",
            true,
            "NewReplicaSetCreated",
            format!("Created new replica set \"{name}\""),
        ),
        (Some(name), None) if updated == desired && available >= desired && replicas == desired => {
            condition(
                "Progressing",
                true,
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{name}\" has successfully progressed."),
            )
        }
        (Some(name), None) => condition(
            "Progressing",
            true,
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{name}\" is progressing."),
        ),
        (None, None) => condition(
            "Progressing",
            true,
            "ReplicaSetUpdated",
            "waiting for old pods to terminate".into(),
        ),
    };
    let mut status = json!({
        "observedGeneration": meta::generation(&current),
        "conditions": [available_condition, progressing],
    });
    // Deployment status counts are all omitted when zero.
    for (field, count) in [
        ("replicas", replicas),
        ("updatedReplicas", updated),
        ("readyReplicas", ready),
        ("availableReplicas", available),
        ("unavailableReplicas", unavailable),
    ] {
        if count > 0 {
            status[field] = json!(count);
        }
    }
    if let Some(collisions) = current["status"].get("collisionCount") {
        status["collisionCount"] = collisions.clone();
    }
    meta::write_status(ctx.store, deploy_type, &current, status, ctx.now).map(|_| ())
}

/// `maxUnavailable` of a RollingUpdate strategy, resolved against `desired`
/// (percentages round down; default 25%).
fn max_unavailable(strategy: &Value, desired: i64) -> i64 {
    let value = &strategy["rollingUpdate"]["maxUnavailable"];
    match (value.as_i64(), value.as_str()) {
        (Some(n), _) => n,
        (None, Some(text)) => text
            .strip_suffix('%')
            .and_then(|p| p.parse::<i64>().ok())
            .map_or(0, |p| desired * p / 100),
        (None, None) => desired * 25 / 100,
    }
}

fn record(ctx: &mut Ctx<'_>, deployment: &Value, event: &EventRecord) {
    if let Err(err) = events::record(ctx, deployment, event) {
        tracing::debug!(deployment = meta::name(deployment), %err, "event not recorded");
    }
}
