//! Finding objects and reading API errors, shared by the verbs.
//!
//! A target is what a step names: apiVersion, kind, and either a name or a
//! label selector, in the scenario's namespace unless it says otherwise.
//! Errors from the API are kept as Kubernetes `Status` (code, reason,
//! message), because that is what `expect` compares and what users know.

use std::collections::BTreeMap;

use kube::{
    Api,
    api::{DynamicObject, ListParams},
};
use serde_json::Value;

use super::{context::Ctx, deadline::Check, report::Failure};
use crate::cluster::{ResolvedKind, kinds::ResolveError};

/// Objects a step is about.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// apiVersion.
    pub(crate) api_version: String,
    /// kind.
    pub(crate) kind: String,
    /// One object by name, or...
    pub(crate) name: Option<String>,
    /// ...all objects with these labels.
    pub(crate) labels: BTreeMap<String, String>,
    /// An explicit namespace; otherwise the scenario's.
    pub(crate) namespace: Option<String>,
}

impl Target {
    /// The target an expected (partial) object names: its identity fields
    /// and `metadata.labels` as the selector when it has no name.
    pub(crate) fn of(expected: &Value) -> Target {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let metadata = expected.get("metadata");
        let labels = metadata
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Target {
            api_version: text(expected.get("apiVersion")).unwrap_or_default(),
            kind: text(expected.get("kind")).unwrap_or_default(),
            name: text(metadata.and_then(|m| m.get("name"))),
            labels,
            namespace: text(metadata.and_then(|m| m.get("namespace"))),
        }
    }

    /// The target a `delete` or `wait` step names, its name, label values
    /// and namespace expanded.
    pub(crate) fn expanded(
        ctx: &Ctx<'_>,
        api_version: &str,
        kind: &str,
        name: Option<&str>,
        labels: Option<&BTreeMap<String, String>>,
        namespace: Option<&str>,
    ) -> Result<Target, Failure> {
        Ok(Target {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            name: name.map(|n| ctx.expand(n)).transpose()?,
            labels: labels
                .into_iter()
                .flatten()
                .map(|(k, v)| Ok((k.clone(), ctx.expand(v)?)))
                .collect::<Result<_, Failure>>()?,
            namespace: namespace.map(|n| ctx.expand(n)).transpose()?,
        })
    }

    /// `FlinkDeployment/name` or `Pod -l app=x,component=y`.
    pub(crate) fn describe(&self) -> String {
        match &self.name {
            Some(name) => format!("{}/{name}", self.kind),
            None if self.labels.is_empty() => format!("{} (any)", self.kind),
            None => format!("{} -l {}", self.kind, selector(&self.labels)),
        }
    }
}

/// `a=b,c=d`.
pub(crate) fn selector(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Why objects could not be read.
#[derive(Debug)]
pub(crate) enum FetchError {
    /// The kind is not served (yet).
    UnknownKind(String),
    /// Any other failure, as text.
    Api(String),
}

impl FetchError {
    pub(crate) fn message(&self) -> &str {
        match self {
            FetchError::UnknownKind(m) | FetchError::Api(m) => m,
        }
    }
}

impl From<ResolveError> for FetchError {
    fn from(err: ResolveError) -> FetchError {
        match err {
            ResolveError::UnknownKind { .. } => FetchError::UnknownKind(err.to_string()),
            other => FetchError::Api(chain(&other)),
        }
    }
}

/// The API for `target`'s kind in the right namespace.
pub(crate) async fn api_for(
    ctx: &Ctx<'_>,
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
) -> Result<(Api<DynamicObject>, ResolvedKind), ResolveError> {
    let resolved = ctx.kinds.resolve(api_version, kind).await?;
    let api = ctx
        .kinds
        .api(&resolved, namespace.unwrap_or(&ctx.namespace));
    Ok((api, resolved))
}

/// [`api_for`] inside a poll: a kind that cannot be resolved (not served
/// yet, or discovery failed) leaves the check pending, with the reason.
pub(crate) async fn api_or_pending<T>(
    ctx: &Ctx<'_>,
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
) -> Result<(Api<DynamicObject>, ResolvedKind), Check<T>> {
    api_for(ctx, api_version, kind, namespace)
        .await
        .map_err(|err| Check::pending(FetchError::from(err).message()))
}

/// The objects `target` names, as JSON, sorted by name; a missing named
/// object is an empty list.
pub(crate) async fn fetch(ctx: &Ctx<'_>, target: &Target) -> Result<Vec<Value>, FetchError> {
    let (api, _) = api_for(
        ctx,
        &target.api_version,
        &target.kind,
        target.namespace.as_deref(),
    )
    .await?;
    let objects = match &target.name {
        Some(name) => api
            .get_opt(name)
            .await
            .map_err(|e| FetchError::Api(api_error_text(&e)))?
            .into_iter()
            .collect(),
        None => {
            let params = if target.labels.is_empty() {
                ListParams::default()
            } else {
                ListParams::default().labels(&selector(&target.labels))
            };
            api.list(&params)
                .await
                .map_err(|e| FetchError::Api(api_error_text(&e)))?
                .items
        }
    };
    let mut values: Vec<Value> = objects
        .into_iter()
        .filter_map(|o| serde_json::to_value(o).ok())
        .collect();
    values.sort_by(|a, b| object_name(a).cmp(object_name(b)));
    Ok(values)
}

/// `metadata.name` of an object, or "".
pub(crate) fn object_name(value: &Value) -> &str {
    value
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The Kubernetes `Status` of a failed request, if the server sent one.
pub(crate) fn status_of(err: &kube::Error) -> Option<&kube::core::Status> {
    match err {
        kube::Error::Api(status) => Some(status),
        _ => None,
    }
}

/// `403 Forbidden: message` for API errors, the error chain otherwise.
pub(crate) fn api_error_text(err: &kube::Error) -> String {
    match status_of(err) {
        Some(status) => format!("{} {}: {}", status.code, status.reason, status.message),
        None => chain(err),
    }
}

/// An error and its sources, joined with ": ", each cause once (a wrapped
/// I/O error often repeats its source's text).
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(next) = source {
        let text = next.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = next.source();
    }
    out
}

/// Whether a failed write may succeed if tried again: the namespace or
/// object may not exist yet, a conflict, throttling, a server or transport
/// hiccup. Rejections (400, 403, 422) are final.
pub(crate) fn retryable(err: &kube::Error) -> bool {
    match status_of(err) {
        Some(status) => matches!(status.code, 404 | 409 | 429 | 500..=599),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_partial_object_names_its_target() {
        let target = Target::of(&json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"labels": {"app": "x", "component": "jobmanager"}}
        }));
        assert_eq!(target.describe(), "Pod -l app=x,component=jobmanager");
        let named = Target::of(
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "n"}}),
        );
        assert_eq!(
            (named.describe().as_str(), named.namespace.as_deref()),
            ("Pod/p", Some("n"))
        );
    }
}
