//! `apply`: create each object, or merge-patch it when it already exists.
//!
//! kubectl's three-way client-side apply is not reproduced: a merge patch
//! with the whole manifest updates what the manifest names and leaves other
//! fields alone, which is what a test step wants (kuttl does the same).
//! Retryable failures (a CRD not yet served, a namespace not yet there, a
//! conflict) are retried until the `apply` deadline; rejections are final.

use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use serde_json::Value;

use super::{
    context::Ctx,
    deadline::{Check, Deadline, until},
    expect,
    objects::{self, Target},
    report::Failure,
};
use crate::{cluster::kinds::ResolveError, scenario::verbs::Apply};

/// Runs an `apply` step; returns notes for the report.
pub(crate) async fn run(ctx: &Ctx<'_>, apply: &Apply, deadline: &Deadline) -> Result<Vec<String>, Failure> {
    let mut notes = Vec::new();
    for manifest in &apply.objects {
        let value = ctx.expand_value(&manifest.value)?;
        let what = format!("apply of {}", Target::of(&value).describe());
        let note = until(deadline, &what, async || attempt(ctx, &value, apply.expect.as_ref(), &what).await).await?;
        notes.extend(note);
    }
    Ok(notes)
}

async fn attempt(ctx: &Ctx<'_>, value: &Value, expected: Option<&crate::scenario::verbs::Expect>, what: &str) -> Check<Option<String>> {
    let target = Target::of(value);
    let (api, resolved) = match objects::api_for(ctx, &target.api_version, &target.kind, target.namespace.as_deref()).await {
        Ok(found) => found,
        Err(err @ ResolveError::UnknownKind { .. }) => return Check::Pending { summary: err.to_string(), diff: Vec::new() },
        Err(err) => return Check::Pending { summary: objects::chain(&err), diff: Vec::new() },
    };
    let mut body = value.clone();
    if resolved.namespaced && target.namespace.is_none() {
        body["metadata"]["namespace"] = Value::String(ctx.namespace.clone());
    }
    let object: DynamicObject = match serde_json::from_value(body.clone()) {
        Ok(object) => object,
        Err(err) => return Check::Fatal(Failure::new(format!("{what}: not a valid Kubernetes object: {err}"))),
    };
    let name = target.name.clone().unwrap_or_default();
    let result = match api.create(&PostParams::default(), &object).await {
        Err(err) if objects::status_of(&err).is_some_and(|s| s.code == 409 && s.reason == "AlreadyExists") => {
            if let Some(metadata) = body.get_mut("metadata").and_then(Value::as_object_mut) {
                // A stale resourceVersion would turn the update into a conflict.
                metadata.remove("resourceVersion");
            }
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&body)).await
        }
        other => other,
    };
    judge(result.map(|_| ()), expected, what)
}

/// Turns a write's result into a check, given the expected failure if any.
/// Shared by the write verbs.
pub(crate) fn judge(result: Result<(), kube::Error>, expected: Option<&crate::scenario::verbs::Expect>, what: &str) -> Check<Option<String>> {
    match (result, expected) {
        (Ok(()), None) => Check::Done(None),
        (Ok(()), Some(expected)) => Check::Fatal(expect::accepted(what, expected)),
        (Err(err), Some(expected)) if expect::matches(expected, &err) => Check::Done(Some(expect::note(what, &err))),
        (Err(err), _) if objects::retryable(&err) => Check::Pending { summary: objects::api_error_text(&err), diff: Vec::new() },
        (Err(err), Some(expected)) => Check::Fatal(expect::mismatched(what, expected, &err)),
        (Err(err), None) => Check::Fatal(Failure::new(format!("{what} was rejected: {}", objects::api_error_text(&err)))),
    }
}
