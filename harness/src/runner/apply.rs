//! `apply`: create each object, or merge-patch it when it already exists.
//!
//! kubectl's three-way client-side apply is not reproduced: a merge patch
//! with the whole manifest updates what the manifest names and leaves other
//! fields alone, which is what a test step wants (kuttl does the same).
//! Retryable failures (a CRD not yet served, a namespace not yet there, a
//! conflict) are retried until the `apply` deadline; rejections are final.

use kube::api::{Patch, PatchParams, ValidationDirective};
use serde_json::Value;

use super::{
    context::Ctx,
    deadline::{Check, Deadline, until},
    expect,
    objects::{self, Target},
    report::Failure,
};
use crate::scenario::verbs::{Apply, Expect, FieldValidation};

/// Runs an `apply` step; returns notes for the report.
pub(crate) async fn run(
    ctx: &Ctx<'_>,
    apply: &Apply,
    deadline: &Deadline,
) -> Result<Vec<String>, Failure> {
    let mut notes = Vec::new();
    let namespace = apply
        .namespace
        .as_deref()
        .map(|n| ctx.expand(n))
        .transpose()?;
    let expected = expect::expand(ctx, apply.expect.as_ref())?;
    for manifest in &apply.objects {
        let mut value = ctx.expand_value(&manifest.value)?;
        if let (Some(namespace), Some(metadata)) = (
            &namespace,
            value.get_mut("metadata").and_then(Value::as_object_mut),
        ) {
            metadata.insert("namespace".to_owned(), Value::String(namespace.clone()));
        }
        let what = format!("apply of {}", Target::of(&value).describe());
        let note = until(deadline, &what, async || {
            attempt(ctx, &value, apply, expected.as_ref(), &what).await
        })
        .await?;
        notes.extend(note);
    }
    Ok(notes)
}

async fn attempt(
    ctx: &Ctx<'_>,
    value: &Value,
    apply: &Apply,
    expected: Option<&Expect>,
    what: &str,
) -> Check<Option<String>> {
    let target = Target::of(value);
    let (api, resolved) = match objects::api_or_pending(
        ctx,
        &target.api_version,
        &target.kind,
        target.namespace.as_deref(),
    )
    .await
    {
        Ok(found) => found,
        Err(pending) => return pending,
    };
    let mut body = value.clone();
    if resolved.namespaced && target.namespace.is_none() {
        body["metadata"]["namespace"] = Value::String(ctx.namespace.clone());
    }
    let name = target.name.clone().unwrap_or_default();
    // Unset means Strict, as `kubectl apply` defaults to: a misspelt field in
    // a rehearsal manifest must fail here, not be pruned silently.
    let validation = apply.field_validation.unwrap_or(FieldValidation::Strict);
    let result = match create(ctx, &api, &body, Some(validation)).await {
        Err(err)
            if objects::status_of(&err)
                .is_some_and(|s| s.code == 409 && s.reason == "AlreadyExists") =>
        {
            if let Some(metadata) = body.get_mut("metadata").and_then(Value::as_object_mut) {
                // A stale resourceVersion would turn the update into a conflict.
                metadata.remove("resourceVersion");
            }
            let params = PatchParams {
                field_validation: Some(validation_directive(validation)),
                ..PatchParams::default()
            };
            api.patch(&name, &params, &Patch::Merge(&body))
                .await
                .map(|_| ())
        }
        other => other,
    };
    judge(result, expected, what)
}

/// POSTs the object. kube's typed create has no `fieldValidation`
/// parameter, so the request is built here.
async fn create(
    ctx: &Ctx<'_>,
    api: &kube::Api<kube::api::DynamicObject>,
    body: &Value,
    validation: Option<FieldValidation>,
) -> Result<(), kube::Error> {
    let mut url = api.resource_url().to_owned();
    if let Some(validation) = validation {
        url.push_str(&format!("?fieldValidation={}", validation.as_str()));
    }
    let bytes = serde_json::to_vec(body).map_err(kube::Error::SerdeError)?;
    let request = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(bytes)
        .map_err(kube::Error::HttpError)?;
    ctx.kinds
        .client()
        .request::<Value>(request)
        .await
        .map(|_| ())
}

fn validation_directive(validation: FieldValidation) -> ValidationDirective {
    match validation {
        FieldValidation::Strict => ValidationDirective::Strict,
        FieldValidation::Warn => ValidationDirective::Warn,
        FieldValidation::Ignore => ValidationDirective::Ignore,
    }
}

/// Turns a write's result into a check, given the expected failure if any.
/// Shared by the write verbs.
pub(crate) fn judge(
    result: Result<(), kube::Error>,
    expected: Option<&Expect>,
    what: &str,
) -> Check<Option<String>> {
    match (result, expected) {
        (Ok(()), None) => Check::Done(None),
        (Ok(()), Some(expected)) => Check::Fatal(expect::accepted(what, expected)),
        (Err(err), Some(expected)) if expect::matches(expected, &err) => {
            Check::Done(Some(expect::note(what, &err)))
        }
        // Retried: the object may not exist yet. Should the deadline expire,
        // the expectation is named beside what came back instead.
        (Err(err), expected) if objects::retryable(&err) => {
            let got = objects::api_error_text(&err);
            Check::pending(match expected {
                Some(expected) => format!("expected {}, got {got}", expect::describe(expected)),
                None => got,
            })
        }
        (Err(err), Some(expected)) => Check::Fatal(expect::mismatched(what, expected, &err)),
        (Err(err), None) => Check::Fatal(Failure::new(format!(
            "{what} was rejected: {}",
            objects::api_error_text(&err)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::deadline::Check;

    fn api_error(code: u16, reason: &str, message: &str) -> kube::Error {
        let status: kube::core::Status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "code": code, "reason": reason, "message": message,
        }))
        .expect("a Status");
        kube::Error::Api(status.into())
    }

    #[test]
    fn a_retried_refusal_names_the_expectation_it_is_waiting_for() {
        let expected = Expect {
            code: 409,
            reason: None,
            message: None,
        };
        let not_found = api_error(404, "NotFound", r#"configmaps "zz" not found"#);
        match judge(Err(not_found), Some(&expected), "patch of ConfigMap/zz") {
            Check::Pending { summary, .. } => assert_eq!(
                summary,
                r#"expected 409, got 404 NotFound: configmaps "zz" not found"#
            ),
            _ => panic!("a 404 is retried: the object may appear"),
        }
        let conflict = api_error(409, "Conflict", "the object has been modified");
        assert!(matches!(
            judge(Err(conflict), Some(&expected), "patch"),
            Check::Done(Some(_))
        ));
    }
}
