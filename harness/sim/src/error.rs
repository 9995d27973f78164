//! Kubernetes API errors, shaped as `meta.k8s.io/v1` `Status` objects.
//!
//! Every failure the simulator reports to a client is an [`ApiError`]; the HTTP
//! edge serialises it with [`ApiError::to_status`]. Message texts follow the
//! real API server's wording, because kubectl prints them verbatim and
//! scenarios match on them.

use serde_json::{Value, json};

use crate::resource::ResourceType;

/// One field-level cause inside an `Invalid` (422) error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// Kubernetes cause type, e.g. `FieldValueNotSupported`, `FieldValueInvalid`.
    pub reason: String,
    /// Human message without the field path, e.g. `Unsupported value: "v1_99"`.
    pub message: String,
    /// Dotted field path, e.g. `spec.flinkVersion`.
    pub field: String,
}

/// A failed API request: HTTP status code, machine-readable reason, message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code (404, 409, 422, 403, ...).
    pub code: u16,
    /// `StatusReason`, e.g. `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`.
    pub reason: String,
    /// The message kubectl prints after `Error from server (<reason>):`.
    pub message: String,
    /// The `details` object, when the error is about one named object.
    pub details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, reason: &str, message: String) -> ApiError {
        ApiError {
            code,
            reason: reason.to_string(),
            message,
            details: None,
        }
    }

    fn about(mut self, rt: &ResourceType, name: &str) -> ApiError {
        self.details = Some(json!({ "name": name, "group": rt.group, "kind": rt.plural }));
        self
    }

    /// 404: `pods "x" not found`.
    pub fn not_found(rt: &ResourceType, name: &str) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", rt.group_resource()),
        )
        .about(rt, name)
    }

    /// 409: `pods "x" already exists`.
    pub fn already_exists(rt: &ResourceType, name: &str) -> ApiError {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", rt.group_resource()),
        )
        .about(rt, name)
    }

    /// 409: optimistic-concurrency failure on `metadata.resourceVersion`.
    pub fn conflict(rt: &ResourceType, name: &str) -> ApiError {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                rt.group_resource()
            ),
        )
        .about(rt, name)
    }

    /// 409: a `UID` or `ResourceVersion` precondition (of a delete, or a
    /// uid in an update's body) that the stored object does not meet.
    pub fn precondition_failed(
        rt: &ResourceType,
        name: &str,
        label: &str,
        expected: &str,
        actual: &str,
    ) -> ApiError {
        let mut err = ApiError::conflict(rt, name);
        err.message = format!(
            "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: {label} in precondition: {expected}, {label} in object meta: {actual}",
            rt.group_resource()
        );
        err
    }

    /// 422: `Kind.group "name" is invalid: <causes>`.
    pub fn invalid(rt: &ResourceType, name: &str, causes: Vec<Cause>) -> ApiError {
        let rendered: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let summary = match rendered.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let mut err = ApiError::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {summary}", rt.group_kind()),
        );
        err.details = Some(json!({
            "name": name,
            "group": rt.group,
            "kind": rt.kind,
            "causes": causes.iter().map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field})).collect::<Vec<_>>(),
        }));
        err
    }

    /// 403 from an admission webhook, worded as the API server words it.
    pub fn denied_by_webhook(webhook: &str, message: &str) -> ApiError {
        ApiError::new(
            403,
            "Forbidden",
            format!("admission webhook \"{webhook}\" denied the request: {message}"),
        )
    }

    /// 403 from authorization.
    pub fn forbidden(message: String) -> ApiError {
        ApiError::new(403, "Forbidden", message)
    }

    /// 401: missing or wrong bearer token.
    pub fn unauthorized() -> ApiError {
        ApiError::new(401, "Unauthorized", "Unauthorized".to_string())
    }

    /// 400: malformed request body or parameters.
    pub fn bad_request(message: String) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    /// 405: a verb the resource does not support.
    pub fn method_not_allowed(message: String) -> ApiError {
        ApiError::new(405, "MethodNotAllowed", message)
    }

    /// 410: a watch asked for history the store no longer keeps.
    pub fn gone(message: String) -> ApiError {
        ApiError::new(410, "Expired", message)
    }

    /// 404 for a path that names no resource at all.
    pub fn no_route(path: &str) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    /// 500 for a fault inside the simulator itself.
    pub fn internal(message: String) -> ApiError {
        ApiError::new(500, "InternalError", message)
    }

    /// The `Status` object the API server sends for this error.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}
