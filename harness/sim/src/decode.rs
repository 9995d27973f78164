//! What the API server's decoder checks on a written object before anything
//! else: the Go types of the fields it knows, and, for built-in kinds, which
//! fields exist. Custom resources get the second from their CRD schema
//! (`schema.rs`); built-in kinds have none here, so this module carries a
//! shape for each built-in whose fields a scenario commonly writes.
//!
//! A value of the wrong type fails as Go's JSON decoder fails, with 400:
//! `ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot
//! unmarshal number into Go struct field ConfigMap.data of type string`. An
//! unknown field in any kind's `metadata`, or in a modelled built-in's body,
//! is reported (and dropped) like one a CRD schema does not declare, so
//! `fieldValidation=Strict`, kubectl's default, refuses it.
//!
//! Fidelity: the shapes cover `ObjectMeta` (every kind), ConfigMap, Secret,
//! ServiceAccount, Namespace, and Deployment down to its pod template (the
//! pod spec itself, and every other built-in's body, is accepted as written).
//! The Go struct named in a message is the innermost modelled one; the path
//! is the JSON path, as Go reports it.

use serde_json::{Map, Value};

use crate::{error::ApiError, resource::ResourceType};

/// What a field holds, as Go declares it.
enum Shape {
    /// Anything (not modelled).
    Any,
    /// `string`.
    Str,
    /// `int32` / `int64`.
    Int(&'static str),
    /// `bool`.
    Bool,
    /// `map[string]string` (labels, annotations, ConfigMap data).
    StringMap,
    /// `[]string`.
    Strings,
    /// A Go struct: its name and its fields.
    Struct(&'static str, &'static [(&'static str, Shape)]),
}

const OBJECT_META: Shape = Shape::Struct(
    "ObjectMeta",
    &[
        ("name", Shape::Str),
        ("generateName", Shape::Str),
        ("namespace", Shape::Str),
        ("selfLink", Shape::Str),
        ("uid", Shape::Str),
        ("resourceVersion", Shape::Str),
        ("generation", Shape::Int("int64")),
        ("creationTimestamp", Shape::Any),
        ("deletionTimestamp", Shape::Any),
        ("deletionGracePeriodSeconds", Shape::Int("int64")),
        ("labels", Shape::StringMap),
        ("annotations", Shape::StringMap),
        ("ownerReferences", Shape::Any),
        ("finalizers", Shape::Strings),
        ("managedFields", Shape::Any),
    ],
);

const CONFIG_MAP: Shape = Shape::Struct(
    "ConfigMap",
    &[
        ("apiVersion", Shape::Str),
        ("kind", Shape::Str),
        ("metadata", OBJECT_META),
        ("data", Shape::StringMap),
        ("binaryData", Shape::StringMap),
        ("immutable", Shape::Bool),
    ],
);

const SECRET: Shape = Shape::Struct(
    "Secret",
    &[
        ("apiVersion", Shape::Str),
        ("kind", Shape::Str),
        ("metadata", OBJECT_META),
        ("data", Shape::StringMap),
        ("stringData", Shape::StringMap),
        ("type", Shape::Str),
        ("immutable", Shape::Bool),
    ],
);

const SERVICE_ACCOUNT: Shape = Shape::Struct(
    "ServiceAccount",
    &[
        ("apiVersion", Shape::Str),
        ("kind", Shape::Str),
        ("metadata", OBJECT_META),
        ("secrets", Shape::Any),
        ("imagePullSecrets", Shape::Any),
        ("automountServiceAccountToken", Shape::Bool),
    ],
);

const NAMESPACE: Shape = Shape::Struct(
    "Namespace",
    &[
        ("apiVersion", Shape::Str),
        ("kind", Shape::Str),
        ("metadata", OBJECT_META),
        ("spec", Shape::Any),
        ("status", Shape::Any),
    ],
);

const DEPLOYMENT: Shape = Shape::Struct(
    "Deployment",
    &[
        ("apiVersion", Shape::Str),
        ("kind", Shape::Str),
        ("metadata", OBJECT_META),
        (
            "spec",
            Shape::Struct(
                "DeploymentSpec",
                &[
                    ("replicas", Shape::Int("int32")),
                    ("selector", Shape::Any),
                    (
                        "template",
                        Shape::Struct(
                            "PodTemplateSpec",
                            &[("metadata", OBJECT_META), ("spec", Shape::Any)],
                        ),
                    ),
                    ("strategy", Shape::Any),
                    ("minReadySeconds", Shape::Int("int32")),
                    ("revisionHistoryLimit", Shape::Int("int32")),
                    ("paused", Shape::Bool),
                    ("progressDeadlineSeconds", Shape::Int("int32")),
                ],
            ),
        ),
        ("status", Shape::Any),
    ],
);

/// Rejects a body (or a patch result) that cannot decode into an object at
/// all: a JSON value other than an object, or a `metadata` that is not one.
/// The API server refuses these while decoding, with 400; writing through
/// them would otherwise index into a string.
pub(crate) fn check_object(obj: &Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(format!(
            "the object is a JSON {}, not an object with apiVersion, kind and metadata",
            json_kind(obj)
        )));
    }
    match &obj["metadata"] {
        Value::Null | Value::Object(_) => Ok(()),
        other => Err(ApiError::bad_request(format!(
            "metadata is a JSON {}, not an ObjectMeta object",
            json_kind(other)
        ))),
    }
}

/// The shape of a built-in kind, if it is modelled.
fn shape_of(rt: &ResourceType) -> Option<&'static Shape> {
    if rt.custom {
        return None;
    }
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "ConfigMap") => Some(&CONFIG_MAP),
        ("", "Secret") => Some(&SECRET),
        ("", "ServiceAccount") => Some(&SERVICE_ACCOUNT),
        ("", "Namespace") => Some(&NAMESPACE),
        ("apps", "Deployment") => Some(&DEPLOYMENT),
        _ => None,
    }
}

/// Decodes `obj` as a `rt`: type errors are returned as the decoder's
/// message; unknown fields (of `metadata`, and of a modelled built-in's
/// body) are removed from `obj` and returned as dotted paths, sorted, for the
/// caller to refuse or warn about.
pub fn decode(rt: &ResourceType, obj: &mut Value) -> Result<Vec<String>, String> {
    let mut unknown = Vec::new();
    let result = match (shape_of(rt), obj) {
        (Some(shape), obj) => check(shape, obj, "", &rt.kind, &mut unknown),
        // Unmodelled and custom kinds: only their metadata.
        (None, Value::Object(map)) => match map.get_mut("metadata") {
            Some(meta) => check(&OBJECT_META, meta, "metadata", &rt.kind, &mut unknown),
            None => Ok(()),
        },
        (None, _) => Ok(()),
    };
    result.map_err(|err| {
        format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {err}",
            kind = rt.kind,
            version = rt.version
        )
    })?;
    unknown.sort();
    Ok(unknown)
}

/// Checks `value` against `shape` at `path`; `owner` is the Go struct the
/// value is a field of. Fields a struct does not declare are removed and
/// collected.
fn check(
    shape: &Shape,
    value: &mut Value,
    path: &str,
    owner: &str,
    unknown: &mut Vec<String>,
) -> Result<(), String> {
    // Go decodes null into any field as its zero value.
    if value.is_null() {
        return Ok(());
    }
    let mismatch = |go_type: &str, value: &Value| {
        Err(format!(
            "json: cannot unmarshal {} into Go struct field {owner}.{path} of type {go_type}",
            json_kind(value)
        ))
    };
    match shape {
        Shape::Any => Ok(()),
        Shape::Str if value.is_string() => Ok(()),
        Shape::Str => mismatch("string", value),
        Shape::Bool if value.is_boolean() => Ok(()),
        Shape::Bool => mismatch("bool", value),
        Shape::Int(_) if value.is_i64() || value.is_u64() => Ok(()),
        Shape::Int(go_type) => match value {
            Value::Number(n) => Err(format!(
                "json: cannot unmarshal number {n} into Go struct field {owner}.{path} of type {go_type}"
            )),
            other => mismatch(go_type, other),
        },
        Shape::StringMap => match value {
            Value::Object(map) => match map.values().find(|v| !(v.is_string() || v.is_null())) {
                Some(bad) => mismatch("string", bad),
                None => Ok(()),
            },
            other => mismatch("map[string]string", other),
        },
        Shape::Strings => match value {
            Value::Array(items) => match items.iter().find(|v| !v.is_string()) {
                Some(bad) => mismatch("string", bad),
                None => Ok(()),
            },
            other => mismatch("[]string", other),
        },
        Shape::Struct(name, fields) => {
            let Value::Object(map) = value else {
                return mismatch(&format!("v1.{name}"), value);
            };
            check_struct(name, fields, map, path, unknown)
        }
    }
}

fn check_struct(
    name: &str,
    fields: &[(&str, Shape)],
    map: &mut Map<String, Value>,
    path: &str,
    unknown: &mut Vec<String>,
) -> Result<(), String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    map.retain(|key, _| {
        let known = fields.iter().any(|(field, _)| field == key);
        if !known {
            unknown.push(join(key));
        }
        known
    });
    for (field, shape) in fields {
        if let Some(value) = map.get_mut(*field) {
            check(shape, value, &join(field), name, unknown)?;
        }
    }
    Ok(())
}

/// The JSON type as Go's decoder names it.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resource::Registry;

    fn rt(group: &str, plural: &str) -> ResourceType {
        Registry::with_builtins()
            .get(group, "v1", plural)
            .expect("a built-in")
            .clone()
    }

    #[test]
    fn wrong_types_fail_as_the_go_decoder_fails() {
        let configmaps = rt("", "configmaps");
        let mut obj = json!({"metadata": {"name": "c"}, "data": {"port": 8080}});
        assert_eq!(
            decode(&configmaps, &mut obj).unwrap_err(),
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
        );
        let mut obj = json!({"metadata": {"name": "c", "labels": {"a": 1}}});
        assert!(decode(&configmaps, &mut obj).unwrap_err().ends_with(
            "cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"
        ));
        let deployments = rt("apps", "deployments");
        let mut obj = json!({"metadata": {"name": "d"}, "spec": {"replicas": "1"}});
        assert!(
            decode(&deployments, &mut obj)
                .unwrap_err()
                .ends_with("cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32")
        );
        // Pods are not modelled beyond their metadata.
        let pods = rt("", "pods");
        let mut obj =
            json!({"metadata": {"name": "p", "annotations": {"n": [1]}}, "spec": {"anything": 1}});
        assert!(
            decode(&pods, &mut obj)
                .unwrap_err()
                .contains("ObjectMeta.metadata.annotations")
        );
    }

    #[test]
    fn unknown_fields_of_modelled_kinds_are_listed_and_dropped() {
        let deployments = rt("apps", "deployments");
        let mut obj = json!({
            "metadata": {"name": "d", "labelz": {}},
            "spec": {"replicas": 1, "replica": 2, "template": {"metadata": {}, "spec": {"containers": []}, "extra": 1}},
        });
        assert_eq!(
            decode(&deployments, &mut obj).unwrap(),
            vec!["metadata.labelz", "spec.replica", "spec.template.extra"]
        );
        assert_eq!(
            obj["spec"],
            json!({"replicas": 1, "template": {"metadata": {}, "spec": {"containers": []}}})
        );
        // Any other kind: its metadata only, its body as written.
        let pods = rt("", "pods");
        let mut obj = json!({"metadata": {"name": "p", "bogus": 1}, "spec": {"whatever": true}});
        assert_eq!(decode(&pods, &mut obj).unwrap(), vec!["metadata.bogus"]);
        assert_eq!(obj["spec"]["whatever"], true);
    }
}
