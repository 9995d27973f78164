//! Writes: create, update (main resource and `/status`), patch, delete,
//! delete-collection and namespace finalize, through the API server's
//! admission order.
//!
//! Order on create and update of the main resource, as on a real server:
//! decode, then unknown-field handling (`fieldValidation`: `Strict` is a
//! 400, `Warn` — the default — a `Warning` header, `Ignore` silence; unknown
//! fields are pruned in every case), then defaulting and schema validation
//! (422), then validating webhooks (`Cluster::admit`, 403), then the store.
//! `/status` and `/scale` writes skip webhooks, whose rules name the main
//! resource. `dryRun=All` runs every step but the store write.
//!
//! Modelled differently: built-in kinds have no schema here, so their
//! unknown fields are stored as sent rather than pruned or reported, and
//! their fields are not defaulted (see `strategy.rs`); `propagationPolicy`
//! is ignored (all deletions are background, the garbage collector
//! controller removes dependents);
//! server-side apply is create-or-merge without managed fields or conflict
//! detection (fields dropped from an applied configuration stay); duplicate
//! JSON keys are not detected.

use serde_json::{Value, json};

use super::{lifecycle, request::Query, strategy};
use crate::{
    clock::SimTime,
    cluster::{Cluster, Operation},
    crd, decode,
    error::{ApiError, Cause},
    patch::{self, PatchError, PatchType},
    resource::ResourceType,
    schema,
    store::{Deletion, ObjectKey, Subresource},
};

/// The `fieldValidation` directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

/// Options every write takes from the query string.
#[derive(Debug, Clone)]
pub(crate) struct WriteOptions {
    pub(crate) dry_run: bool,
    pub(crate) validation: FieldValidation,
    pub(crate) field_manager: Option<String>,
}

impl WriteOptions {
    /// Reads `dryRun`, `fieldValidation` and `fieldManager`.
    pub(crate) fn from_query(query: &Query) -> Result<WriteOptions, ApiError> {
        let dry_run = match query.non_empty("dryRun") {
            None => false,
            Some("All") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid dryRun value: {other}: supported values: \"All\""
                )));
            }
        };
        let validation = match query.non_empty("fieldValidation") {
            None | Some("Warn") => FieldValidation::Warn,
            Some("Strict") => FieldValidation::Strict,
            Some("Ignore") => FieldValidation::Ignore,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
                )));
            }
        };
        Ok(WriteOptions {
            dry_run,
            validation,
            field_manager: query.non_empty("fieldManager").map(str::to_string),
        })
    }
}

/// How the object under admission reached the server; decides how strict
/// unknown-field errors are worded.
#[derive(Debug, Clone)]
pub(crate) enum Origin {
    /// A POST or PUT body.
    Body,
    /// The result of a patch, serialised before pruning.
    Patch(String),
    /// An object the server derived from a subresource request (`/scale`).
    Derived,
}

/// Which checks a write goes through.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    pub(crate) subresource: Subresource,
    /// Whether validating webhooks run (main resource only).
    pub(crate) webhooks: bool,
}

impl Target {
    /// A write to the main resource.
    pub(crate) const MAIN: Target = Target {
        subresource: Subresource::Main,
        webhooks: true,
    };
    /// A write to `/status`.
    pub(crate) const STATUS: Target = Target {
        subresource: Subresource::Status,
        webhooks: false,
    };
    /// A write through `/scale`: the main resource, without webhooks.
    pub(crate) const SCALE: Target = Target {
        subresource: Subresource::Main,
        webhooks: false,
    };
}

/// A successful write: the status code, the object and any warnings.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    pub(crate) status: u16,
    pub(crate) object: Value,
    pub(crate) warnings: Vec<String>,
}

fn name_of(obj: &Value) -> String {
    obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn strict_error(rt: &ResourceType, unknown: &[String], origin: &Origin) -> ApiError {
    let listed: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    let strict = format!("strict decoding error: {}", listed.join(", "));
    match origin {
        Origin::Body | Origin::Derived => ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {strict}",
            kind = rt.kind,
            version = rt.version
        )),
        Origin::Patch(patched) => {
            let message = format!("Invalid value: {}: {strict}", schema::go_quote(patched));
            ApiError {
                code: 422,
                reason: "Invalid".into(),
                message: format!(" \"\" is invalid: patch: {message}"),
                details: Some(
                    json!({"causes": [{"reason": "FieldValueInvalid", "message": message, "field": "patch"}]}),
                ),
            }
        }
    }
}

/// The object the store will hold, for validation and webhooks: a main
/// write keeps the stored status when `/status` is a subresource, a status
/// write keeps everything but the status.
fn effective(rt: &ResourceType, target: Target, new: &Value, old: Option<&Value>) -> Value {
    match (target.subresource, old) {
        (Subresource::Status, Some(old)) => {
            let mut merged = old.clone();
            merged["status"] = new.get("status").cloned().unwrap_or(Value::Null);
            merged
        }
        (Subresource::Main, _) if rt.status_subresource => {
            let mut merged = new.clone();
            if let Some(map) = merged.as_object_mut() {
                match old.and_then(|o| o.get("status")) {
                    Some(status) => map.insert("status".into(), status.clone()),
                    None => map.remove("status"),
                };
            }
            merged
        }
        _ => new.clone(),
    }
}

/// Unknown fields, defaulting, schema validation, CRD checks and webhooks.
/// Prunes and defaults `obj` in place; returns the warnings to send.
fn admit(
    cluster: &Cluster,
    rt: &ResourceType,
    obj: &mut Value,
    old: Option<&Value>,
    target: Target,
    opts: &WriteOptions,
    origin: &Origin,
) -> Result<Vec<String>, ApiError> {
    let mut warnings = Vec::new();
    let name = if old.is_some() {
        old.map(name_of).unwrap_or_default()
    } else {
        name_of(obj)
    };
    // Unknown fields, found by the decoder (metadata; built-ins' bodies) and
    // by the CRD schema (custom resources' bodies), are already dropped.
    let mut unknown = decode::decode(rt, obj).map_err(ApiError::bad_request)?;
    if let Some(schema) = &rt.schema {
        unknown.extend(schema::prune(schema, obj));
        unknown.sort();
    }
    if !unknown.is_empty() {
        match opts.validation {
            FieldValidation::Strict => return Err(strict_error(rt, &unknown, origin)),
            FieldValidation::Warn => {
                warnings.extend(unknown.iter().map(|f| format!("unknown field \"{f}\"")))
            }
            FieldValidation::Ignore => {}
        }
    }
    if target.subresource == Subresource::Main {
        let causes = strategy::validate(rt, obj);
        if !causes.is_empty() {
            return Err(ApiError::invalid(rt, &name, causes));
        }
    }
    if let Some(schema) = &rt.schema {
        schema::apply_defaults(schema, obj);
        let causes = schema::validate(schema, &effective(rt, target, obj, old));
        if !causes.is_empty() {
            return Err(ApiError::invalid(rt, &name, causes));
        }
    }
    if crd::is_crd_kind(rt) && target.subresource == Subresource::Main {
        ResourceType::from_crd(obj).map_err(|causes| ApiError::invalid(rt, &name, causes))?;
    }
    if target.webhooks {
        let op = if old.is_some() {
            Operation::Update
        } else {
            Operation::Create
        };
        cluster.admit(rt, op, &effective(rt, target, obj, old), old)?;
    }
    Ok(warnings)
}

/// Checks `apiVersion`/`kind` in a body against the URL's kind.
fn check_type_meta(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    decode::check_object(obj)?;
    if let Some(api_version) = obj["apiVersion"].as_str().filter(|v| !v.is_empty()) {
        let same_group = api_version.rsplit_once('/').map_or("", |(g, _)| g) == rt.group;
        if !same_group {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({})",
                rt.api_version()
            )));
        }
    }
    if let Some(kind) = obj["kind"].as_str().filter(|k| !k.is_empty())
        && kind != rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{}\" cannot be handled as a {}: the kind in the data ({kind}) does not match the expected kind ({})",
            rt.version, rt.kind, rt.kind
        )));
    }
    Ok(())
}

/// Checks the body's namespace against the URL's and fills it in.
fn check_namespace(rt: &ResourceType, namespace: &str, obj: &mut Value) -> Result<(), ApiError> {
    if !rt.namespaced {
        return Ok(());
    }
    match obj["metadata"]["namespace"].as_str() {
        Some(ns) if !ns.is_empty() && ns != namespace => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
                .into(),
        )),
        _ => {
            if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("namespace".into(), json!(namespace));
            }
            Ok(())
        }
    }
}

fn namespace_terminating(cluster: &Cluster, namespace: &str) -> bool {
    let key = ObjectKey {
        group: String::new(),
        plural: "namespaces".into(),
        namespace: String::new(),
        name: namespace.into(),
    };
    cluster.store.get(&key).is_some_and(|ns| {
        ns["metadata"]
            .get("deletionTimestamp")
            .is_some_and(|t| !t.is_null())
    })
}

/// POST: creates an object of kind `rt` in `namespace` ("" if cluster-scoped).
pub(crate) fn create(
    cluster: &mut Cluster,
    rt: &ResourceType,
    namespace: &str,
    mut obj: Value,
    opts: &WriteOptions,
    now: SimTime,
    origin: &Origin,
) -> Result<Written, ApiError> {
    check_type_meta(rt, &obj)?;
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    check_namespace(rt, namespace, &mut obj)?;
    if rt.namespaced && namespace_terminating(cluster, namespace) {
        let name = obj["metadata"]["name"]
            .as_str()
            .or(obj["metadata"]["generateName"].as_str())
            .unwrap_or_default();
        return Err(ApiError::forbidden(format!(
            "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
            rt.group_resource()
        )));
    }
    strategy::prepare_for_create(rt, &mut obj);
    let warnings = admit(cluster, rt, &mut obj, None, Target::MAIN, opts, origin)?;
    let object = if opts.dry_run {
        let mut rng = cluster.rng.clone();
        cluster
            .store
            .preview_create(rt, namespace, obj, now, &mut rng)?
    } else if crd::is_crd_kind(rt) {
        if cluster
            .store
            .get(&ObjectKey::new(rt, "", &name_of(&obj)))
            .is_some()
        {
            return Err(ApiError::already_exists(rt, &name_of(&obj)));
        }
        (*crd::establish(cluster, obj, now)?).clone()
    } else {
        (*cluster
            .store
            .create(rt, namespace, obj, now, &mut cluster.rng)?)
        .clone()
    };
    Ok(Written {
        status: 201,
        object,
        warnings,
    })
}

/// PUT (or the update half of a patch) of the main resource or `/status`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn update(
    cluster: &mut Cluster,
    rt: &ResourceType,
    key: &ObjectKey,
    mut obj: Value,
    target: Target,
    opts: &WriteOptions,
    now: SimTime,
    origin: &Origin,
) -> Result<Written, ApiError> {
    let old = cluster.store.get_existing(rt, key)?.clone();
    check_type_meta(rt, &obj)?;
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    check_namespace(rt, &key.namespace, &mut obj)?;
    let rv_given = obj["metadata"]["resourceVersion"]
        .as_str()
        .is_some_and(|rv| !rv.is_empty());
    if rt.custom && matches!(origin, Origin::Body) && !rv_given {
        // Custom resources do not allow unconditional updates.
        return Err(ApiError::invalid(
            rt,
            &key.name,
            vec![Cause {
                reason: "FieldValueInvalid".into(),
                message: "Invalid value: 0x0: must be specified for an update".into(),
                field: "metadata.resourceVersion".into(),
            }],
        ));
    }
    let warnings = admit(cluster, rt, &mut obj, Some(&old), target, opts, origin)?;
    let object = if opts.dry_run {
        cluster
            .store
            .preview_update(rt, key, obj, target.subresource)?
    } else if crd::is_crd_kind(rt) && target.subresource == Subresource::Main {
        (*crd::establish(cluster, obj, now)?).clone()
    } else {
        (*cluster
            .store
            .update(rt, key, obj, target.subresource, now)?)
        .clone()
    };
    Ok(Written {
        status: 200,
        object,
        warnings,
    })
}

/// 415 for a patch type the kind does not accept.
pub(crate) fn unsupported_patch(rt: &ResourceType) -> ApiError {
    let accepted = if rt.custom {
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    } else {
        "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml"
    };
    ApiError {
        code: 415,
        reason: "UnsupportedMediaType".into(),
        message: format!(
            "the body of the request was in an unknown format - accepted media types include: {accepted}"
        ),
        details: None,
    }
}

fn patch_failure(err: PatchError) -> ApiError {
    match err {
        PatchError::Malformed(message) => ApiError::bad_request(message),
        PatchError::NotApplicable(message) => ApiError {
            code: 422,
            reason: "Invalid".into(),
            message,
            details: None,
        },
    }
}

/// Applies a patch document of `patch_type` to `current` as the kind allows.
pub(crate) fn apply_patch(
    rt: &ResourceType,
    patch_type: PatchType,
    current: &Value,
    body: &[u8],
) -> Result<Value, ApiError> {
    let document: Value = match patch_type {
        PatchType::Apply => serde_yaml::from_slice(body)
            .map_err(|err| ApiError::bad_request(format!("error decoding YAML: {err}")))?,
        _ => serde_json::from_slice(body)
            .map_err(|err| ApiError::bad_request(format!("error decoding patch: {err}")))?,
    };
    let patched = match patch_type {
        PatchType::Merge => {
            let mut patched = current.clone();
            patch::merge_patch(&mut patched, &document);
            Ok(patched)
        }
        PatchType::Json => patch::json_patch(current, &document).map_err(patch_failure),
        PatchType::Strategic => {
            patch::strategic_merge_patch(current, &document).map_err(patch_failure)
        }
        // Server-side apply, simplified: the applied configuration is merged
        // into the live object (strategic merge for built-ins).
        PatchType::Apply if rt.custom => {
            let mut patched = current.clone();
            patch::merge_patch(&mut patched, &document);
            Ok(patched)
        }
        PatchType::Apply => patch::strategic_merge_patch(current, &document).map_err(patch_failure),
    }?;
    decode::check_object(&patched)?;
    Ok(patched)
}

/// PATCH of the main resource or `/status`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn patch(
    cluster: &mut Cluster,
    rt: &ResourceType,
    key: &ObjectKey,
    content_type: &str,
    body: &[u8],
    target: Target,
    opts: &WriteOptions,
    now: SimTime,
) -> Result<Written, ApiError> {
    let patch_type =
        PatchType::from_content_type(content_type).ok_or_else(|| unsupported_patch(rt))?;
    if patch_type == PatchType::Strategic && rt.custom {
        return Err(unsupported_patch(rt));
    }
    if patch_type == PatchType::Apply && opts.field_manager.is_none() {
        return Err(ApiError {
            code: 422,
            reason: "Invalid".into(),
            message: "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into(),
            details: Some(json!({"kind": "PatchOptions", "group": "meta.k8s.io",
                                 "causes": [{"reason": "FieldValueRequired", "message": "Required value: is required for apply patch", "field": "fieldManager"}]})),
        });
    }
    let current = cluster.store.get(key).cloned();
    let Some(current) = current else {
        if patch_type == PatchType::Apply && target.subresource == Subresource::Main {
            let applied = apply_patch(rt, patch_type, &json!({}), body)?;
            let mut applied = applied;
            if applied["metadata"]["name"].as_str().is_none() {
                applied["metadata"]["name"] = json!(key.name);
            }
            return create(
                cluster,
                rt,
                &key.namespace,
                applied,
                opts,
                now,
                &Origin::Body,
            );
        }
        return Err(ApiError::not_found(rt, &key.name));
    };
    let patched = apply_patch(rt, patch_type, &current, body)?;
    let origin = match patch_type {
        PatchType::Apply => Origin::Body,
        _ => Origin::Patch(patched.to_string()),
    };
    // Patches carry the stored resourceVersion unless they set one, so an
    // explicit one in the patch acts as a precondition.
    update(cluster, rt, key, patched, target, opts, now, &origin)
}

/// Namespaces every cluster must keep.
const PROTECTED_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

/// DELETE of one object. `options` is the request's `DeleteOptions` (or null).
pub(crate) fn delete(
    cluster: &mut Cluster,
    rt: &ResourceType,
    key: &ObjectKey,
    options: &Value,
    opts: &WriteOptions,
    now: SimTime,
) -> Result<Written, ApiError> {
    let current = cluster.store.get_existing(rt, key)?.clone();
    let preconditions = &options["preconditions"];
    for (field, label) in [("uid", "UID"), ("resourceVersion", "ResourceVersion")] {
        if let Some(expected) = preconditions[field].as_str() {
            let actual = current["metadata"][field].as_str().unwrap_or_default();
            if expected != actual {
                return Err(ApiError::precondition_failed(
                    rt, &key.name, label, expected, actual,
                ));
            }
        }
    }
    let is_namespace = rt.group.is_empty() && rt.plural == "namespaces";
    if is_namespace && PROTECTED_NAMESPACES.contains(&key.name.as_str()) {
        return Err(ApiError::forbidden(format!(
            "namespaces \"{}\" is forbidden: this namespace may not be deleted",
            key.name
        )));
    }
    let deletion = if opts.dry_run {
        cluster.store.preview_delete(rt, key, now)?
    } else {
        cluster.store.delete(rt, key, now)?
    };
    let object = match deletion {
        Deletion::Pending(obj) if is_namespace && !opts.dry_run => {
            lifecycle::mark_terminating(&mut cluster.store, rt, key, now)
                .unwrap_or_else(|| (*obj).clone())
        }
        Deletion::Pending(obj) => (*obj).clone(),
        // Built-in kinds answer an immediate deletion with a Status,
        // custom resources with the deleted object.
        Deletion::Deleted(obj) if rt.custom => (*obj).clone(),
        Deletion::Deleted(obj) => json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": key.name, "group": rt.group, "kind": rt.plural, "uid": obj["metadata"]["uid"]},
        }),
    };
    Ok(Written {
        status: 200,
        object,
        warnings: Vec::new(),
    })
}

/// PUT `/api/v1/namespaces/{name}/finalize`: replaces `spec.finalizers` only.
pub(crate) fn finalize_namespace(
    cluster: &mut Cluster,
    rt: &ResourceType,
    key: &ObjectKey,
    body: &Value,
    opts: &WriteOptions,
    now: SimTime,
) -> Result<Written, ApiError> {
    let current = cluster.store.get_existing(rt, key)?.clone();
    let mut updated = (*current).clone();
    updated["spec"]["finalizers"] = body["spec"]["finalizers"].clone();
    if updated["spec"]["finalizers"].is_null() {
        updated["spec"]["finalizers"] = json!([]);
    }
    let object = if opts.dry_run {
        cluster
            .store
            .preview_update(rt, key, updated, Subresource::Main)?
    } else {
        (*cluster
            .store
            .update(rt, key, updated, Subresource::Main, now)?)
        .clone()
    };
    Ok(Written {
        status: 200,
        object,
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{cluster::ValidatingWebhook, store::Store};

    fn widget_cluster() -> (Cluster, ResourceType) {
        let mut cluster = Cluster::new(1, SimTime(0));
        let crd_obj = json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"plural": "widgets", "kind": "Widget"},
                     "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                                   "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                       "spec": {"type": "object", "properties": {
                                           "size": {"type": "integer"},
                                           "color": {"type": "string", "enum": ["red", "blue"]}}},
                                       "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}}}]}
        });
        crd::establish(&mut cluster, crd_obj, SimTime(0)).unwrap();
        let rt = cluster
            .registry
            .get("example.com", "v1", "widgets")
            .unwrap()
            .clone();
        (cluster, rt)
    }

    /// A cluster holding Widget `default/w` with `spec.size: 1`.
    fn cluster_with_widget_w() -> (Cluster, ResourceType, ObjectKey) {
        let (mut cluster, rt) = widget_cluster();
        create_at_zero(
            &mut cluster,
            &rt,
            "default",
            json!({"metadata": {"name": "w"}, "spec": {"size": 1}}),
            "",
        )
        .unwrap();
        let key = ObjectKey::new(&rt, "default", "w");
        (cluster, rt, key)
    }

    fn opts(query: &str) -> WriteOptions {
        WriteOptions::from_query(&Query::parse(Some(query))).unwrap()
    }

    /// Creates `obj` from a request body at time zero, with `query`'s options.
    fn create_at_zero(
        cluster: &mut Cluster,
        rt: &ResourceType,
        namespace: &str,
        obj: Value,
        query: &str,
    ) -> Result<Written, ApiError> {
        create(
            cluster,
            rt,
            namespace,
            obj,
            &opts(query),
            SimTime(0),
            &Origin::Body,
        )
    }

    /// Patches the main resource at time zero, with `query`'s options.
    fn patch_at_zero(
        cluster: &mut Cluster,
        rt: &ResourceType,
        key: &ObjectKey,
        content_type: &str,
        body: &[u8],
        query: &str,
    ) -> Result<Written, ApiError> {
        patch(
            cluster,
            rt,
            key,
            content_type,
            body,
            Target::MAIN,
            &opts(query),
            SimTime(0),
        )
    }

    /// Replaces `target` of the object from a request body at time zero.
    fn update_at_zero(
        cluster: &mut Cluster,
        rt: &ResourceType,
        key: &ObjectKey,
        obj: Value,
        target: Target,
    ) -> Result<Written, ApiError> {
        update(
            cluster,
            rt,
            key,
            obj,
            target,
            &opts(""),
            SimTime(0),
            &Origin::Body,
        )
    }

    /// Deletes the object with `options` (`DeleteOptions` or null) at time zero.
    fn delete_at_zero(
        cluster: &mut Cluster,
        rt: &ResourceType,
        key: &ObjectKey,
        options: &Value,
    ) -> Result<Written, ApiError> {
        delete(cluster, rt, key, options, &opts(""), SimTime(0))
    }

    #[test]
    fn unknown_fields_follow_the_validation_directive() {
        let (mut cluster, rt) = widget_cluster();
        let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
                         "spec": {"size": 1, "shape": "round"}});
        let err = create_at_zero(
            &mut cluster,
            &rt,
            "default",
            obj.clone(),
            "fieldValidation=Strict",
        )
        .unwrap_err();
        assert_eq!(err.code, 400);
        assert_eq!(
            err.message,
            "Widget in version \"v1\" cannot be handled as a Widget: strict decoding error: unknown field \"spec.shape\""
        );
        let written = create_at_zero(&mut cluster, &rt, "default", obj, "").unwrap();
        assert_eq!(written.warnings, ["unknown field \"spec.shape\""]);
        assert!(
            written.object["spec"].get("shape").is_none(),
            "unknown fields are pruned"
        );
        assert_eq!(written.status, 201);

        let key = ObjectKey::new(&rt, "default", "w");
        let err = patch_at_zero(
            &mut cluster,
            &rt,
            &key,
            "application/merge-patch+json",
            br#"{"spec":{"shape":"x"}}"#,
            "fieldValidation=Strict",
        )
        .unwrap_err();
        assert_eq!(err.code, 422);
        assert!(
            err.message
                .starts_with(" \"\" is invalid: patch: Invalid value: \"{"),
            "{}",
            err.message
        );
        assert!(
            err.message
                .ends_with("strict decoding error: unknown field \"spec.shape\""),
            "{}",
            err.message
        );
    }

    #[test]
    fn schema_errors_are_422_and_dry_run_stores_nothing() {
        let (mut cluster, rt) = widget_cluster();
        let obj = json!({"metadata": {"name": "w"}, "spec": {"color": "green"}});
        let err = create_at_zero(&mut cluster, &rt, "default", obj, "").unwrap_err();
        assert_eq!(err.code, 422);
        assert_eq!(
            err.message,
            "Widget.example.com \"w\" is invalid: spec.color: Unsupported value: \"green\": supported values: \"red\", \"blue\""
        );
        let rv = cluster.store.resource_version();
        let obj =
            json!({"metadata": {"name": "w"}, "spec": {"color": "red"}, "status": {"phase": "x"}});
        let written = create_at_zero(&mut cluster, &rt, "default", obj, "dryRun=All").unwrap();
        assert_eq!(written.object["metadata"]["name"], "w");
        assert!(
            written.object.get("status").is_none(),
            "create drops status when /status is a subresource"
        );
        assert_eq!(cluster.store.resource_version(), rv);
    }

    #[test]
    fn custom_resources_need_a_resource_version_on_put() {
        let (mut cluster, rt) = widget_cluster();
        create_at_zero(
            &mut cluster,
            &rt,
            "default",
            json!({"metadata": {"name": "w"}, "spec": {}}),
            "",
        )
        .unwrap();
        let key = ObjectKey::new(&rt, "default", "w");
        let err = update_at_zero(
            &mut cluster,
            &rt,
            &key,
            json!({"metadata": {"name": "w"}, "spec": {"size": 2}}),
            Target::MAIN,
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "Widget.example.com \"w\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
        );
        let rv = cluster.store.get(&key).unwrap()["metadata"]["resourceVersion"].clone();
        let status = update_at_zero(
            &mut cluster,
            &rt,
            &key,
            json!({"metadata": {"name": "w", "resourceVersion": rv}, "status": {"phase": 3}}),
            Target::STATUS,
        )
        .unwrap_err();
        assert_eq!(status.code, 422, "status writes are validated too");
    }

    struct DenyBig;
    impl ValidatingWebhook for DenyBig {
        fn name(&self) -> &str {
            "deny.example.com"
        }
        fn applies_to(&self, rt: &ResourceType) -> bool {
            rt.kind == "Widget"
        }
        fn validate(
            &self,
            _op: Operation,
            new: &Value,
            _old: Option<&Value>,
            _store: &Store,
        ) -> Result<(), String> {
            if new["spec"]["size"].as_i64().unwrap_or(0) > 10 {
                Err("too big".into())
            } else {
                Ok(())
            }
        }
    }

    #[test]
    fn webhooks_run_after_schema_validation_and_not_on_status() {
        let (mut cluster, rt) = widget_cluster();
        cluster.add_webhook(Box::new(DenyBig));
        let big = json!({"metadata": {"name": "w"}, "spec": {"size": 11}});
        let err = create_at_zero(&mut cluster, &rt, "default", big, "").unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (
                403,
                "admission webhook \"deny.example.com\" denied the request: too big"
            )
        );
        let bad_and_big =
            json!({"metadata": {"name": "w"}, "spec": {"size": 11, "color": "green"}});
        assert_eq!(
            create_at_zero(&mut cluster, &rt, "default", bad_and_big, "")
                .unwrap_err()
                .code,
            422
        );
    }

    #[test]
    fn patches_by_type() {
        let (mut cluster, rt, key) = cluster_with_widget_w();
        let w = patch_at_zero(
            &mut cluster,
            &rt,
            &key,
            "application/json-patch+json",
            br#"[{"op":"replace","path":"/spec/size","value":5}]"#,
            "",
        )
        .unwrap();
        assert_eq!(w.object["spec"]["size"], 5);
        assert_eq!(w.object["metadata"]["generation"], 2);
        let err = patch_at_zero(
            &mut cluster,
            &rt,
            &key,
            "application/strategic-merge-patch+json",
            b"{}",
            "",
        )
        .unwrap_err();
        assert_eq!(err.code, 415);
        let err = patch_at_zero(
            &mut cluster,
            &rt,
            &key,
            "application/json-patch+json",
            br#"[{"op":"remove","path":"/spec/nope"}]"#,
            "",
        )
        .unwrap_err();
        assert_eq!(err.code, 422);
        let err = patch_at_zero(
            &mut cluster,
            &rt,
            &key,
            "application/merge-patch+json",
            br#"{"metadata":{"resourceVersion":"1"}}"#,
            "",
        )
        .unwrap_err();
        assert_eq!(
            err.code, 409,
            "a resourceVersion in a patch is a precondition"
        );
        let err = patch_at_zero(
            &mut cluster,
            &rt,
            &key,
            "application/apply-patch+yaml",
            b"spec: {size: 2}",
            "",
        )
        .unwrap_err();
        assert_eq!(err.code, 422, "apply needs a field manager");
        let created = patch_at_zero(
            &mut cluster,
            &rt,
            &ObjectKey::new(&rt, "default", "new"),
            "application/apply-patch+yaml",
            b"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: new}\nspec: {size: 3}\n",
            "fieldManager=test",
        )
        .unwrap();
        assert_eq!(
            (created.status, created.object["spec"]["size"].as_i64()),
            (201, Some(3))
        );
    }

    #[test]
    fn patches_that_leave_no_object_are_400_and_change_nothing() {
        let (mut cluster, rt, key) = cluster_with_widget_w();
        let stored_before = cluster.store.get(&key).cloned();
        for (content_type, body, query) in [
            ("application/merge-patch+json", &br#""x""#[..], ""),
            ("application/merge-patch+json", br#"{"metadata": "x"}"#, ""),
            (
                "application/json-patch+json",
                br#"[{"op":"replace","path":"","value":1}]"#,
                "",
            ),
            (
                "application/apply-patch+yaml",
                b"metadata: x",
                "fieldManager=test",
            ),
        ] {
            let err = patch_at_zero(&mut cluster, &rt, &key, content_type, body, query)
                .expect_err(content_type);
            assert_eq!(err.code, 400, "{content_type}: {}", err.message);
        }
        assert_eq!(cluster.store.get(&key).cloned(), stored_before);
        let err = patch_at_zero(
            &mut cluster,
            &rt,
            &ObjectKey::new(&rt, "default", "new"),
            "application/apply-patch+yaml",
            b"metadata: x",
            "fieldManager=test",
        )
        .unwrap_err();
        assert!(
            err.message.contains("metadata is a JSON string"),
            "{}",
            err.message
        );
    }

    #[test]
    fn namespaces_protect_and_terminate() {
        let (mut cluster, _) = widget_cluster();
        let ns = cluster
            .registry
            .get("", "v1", "namespaces")
            .unwrap()
            .clone();
        let err = delete_at_zero(
            &mut cluster,
            &ns,
            &ObjectKey::new(&ns, "", "default"),
            &Value::Null,
        )
        .unwrap_err();
        assert_eq!(err.code, 403);
        create_at_zero(
            &mut cluster,
            &ns,
            "",
            json!({"metadata": {"name": "t"}, "spec": {"finalizers": ["kubernetes"]}}),
            "",
        )
        .unwrap();
        let gone = delete_at_zero(
            &mut cluster,
            &ns,
            &ObjectKey::new(&ns, "", "t"),
            &Value::Null,
        )
        .unwrap();
        assert_eq!(gone.object["status"]["phase"], "Terminating");
        let cm = cluster
            .registry
            .get("", "v1", "configmaps")
            .unwrap()
            .clone();
        let err = create_at_zero(
            &mut cluster,
            &cm,
            "t",
            json!({"metadata": {"name": "c"}}),
            "",
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "configmaps \"c\" is forbidden: unable to create new content in namespace t because it is being terminated"
        );
        let err = delete_at_zero(
            &mut cluster,
            &ns,
            &ObjectKey::new(&ns, "", "t"),
            &json!({"preconditions": {"uid": "nope"}}),
        )
        .unwrap_err();
        assert_eq!(err.code, 409);
    }
}
