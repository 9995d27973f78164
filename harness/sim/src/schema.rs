//! OpenAPI v3 structural-schema handling for custom resources: pruning,
//! defaulting and validation, with the API server's 422 wording.
//!
//! The API server decodes a custom resource in three steps, and so does this
//! module: [`prune`] drops fields the schema does not declare (reporting
//! them, because `fieldValidation=Strict` turns them into a 400) and `null`s
//! of non-nullable fields; [`apply_defaults`] fills `default`s; [`validate`]
//! checks types, `enum`, `required`, `nullable`, `x-kubernetes-int-or-string`,
//! `format: int32` and `minimum`/`maximum`. Messages follow
//! apiextensions-apiserver and go-openapi, e.g.
//! `spec.job.parallelism: Invalid value: "string": spec.job.parallelism in body must be of type integer: "string"`.
//!
//! Not modelled: `pattern`, string and list lengths, `uniqueItems`,
//! `oneOf`/`anyOf`/`allOf`/`not`, CEL `x-kubernetes-validations`, list-type
//! uniqueness, duplicate-key detection and validation ratcheting. The wording
//! of the `format: int32` error is an approximation.

use serde_json::{Map, Value};

use crate::error::Cause;

/// Removes what the schema does not declare from a whole custom resource and
/// returns the dotted paths of the unknown fields, sorted (as the API server
/// lists them in strict-decoding errors).
///
/// `apiVersion`, `kind` and `metadata` are always known at the root (what
/// `metadata` may hold is the decoder's business, `decode.rs`); fields
/// under `x-kubernetes-preserve-unknown-fields: true` are kept. A `null` in a
/// property that is not `nullable` is dropped silently, as the API server does
/// before defaulting.
pub fn prune(schema: &Value, obj: &mut Value) -> Vec<String> {
    let mut unknown = Vec::new();
    if let Value::Object(map) = obj {
        prune_map(schema, map, "", true, &mut unknown);
    }
    unknown.sort();
    unknown
}

fn is_true(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn prune_map(
    schema: &Value,
    map: &mut Map<String, Value>,
    path: &str,
    root: bool,
    unknown: &mut Vec<String>,
) {
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties");
    let preserve = is_true(schema, "x-kubernetes-preserve-unknown-fields")
        || additional.and_then(Value::as_bool) == Some(true);
    let embedded = root || is_true(schema, "x-kubernetes-embedded-resource");
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        if embedded && ["apiVersion", "kind", "metadata"].contains(&key.as_str()) {
            continue;
        }
        let child_schema = properties
            .and_then(|p| p.get(&key))
            .or_else(|| additional.filter(|a| a.is_object()));
        match child_schema {
            Some(child_schema) => {
                if map[&key].is_null() && !is_true(child_schema, "nullable") {
                    map.remove(&key);
                    continue;
                }
                let child = map.get_mut(&key).expect("key listed above");
                prune_value(child_schema, child, &child_path(path, &key), unknown);
            }
            None if preserve => {}
            None => {
                map.remove(&key);
                unknown.push(child_path(path, &key));
            }
        }
    }
}

fn prune_value(schema: &Value, value: &mut Value, path: &str, unknown: &mut Vec<String>) {
    match value {
        Value::Object(map) => prune_map(schema, map, path, false, unknown),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (idx, item) in items.iter_mut().enumerate() {
                    prune_value(item_schema, item, &format!("{path}[{idx}]"), unknown);
                }
            }
        }
        _ => {}
    }
}

/// Fills in `default` values for properties missing from objects that are
/// present, recursively, as the API server does on create and update.
pub fn apply_defaults(schema: &Value, obj: &mut Value) {
    match obj {
        Value::Object(map) => {
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (key, child_schema) in properties {
                    if !map.contains_key(key)
                        && let Some(default) = child_schema.get("default")
                    {
                        map.insert(key.clone(), default.clone());
                    }
                    if let Some(child) = map.get_mut(key) {
                        apply_defaults(child_schema, child);
                    }
                }
            }
            if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                let declared = schema.get("properties").and_then(Value::as_object);
                for (key, child) in map.iter_mut() {
                    if declared.is_none_or(|d| !d.contains_key(key)) {
                        apply_defaults(additional, child);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    apply_defaults(item_schema, item);
                }
            }
        }
        _ => {}
    }
}

/// Validates a (pruned) custom resource against its schema; returns one
/// cause per violation, ordered by field path (the real server's order
/// depends on Go map iteration, so any fixed order is as faithful).
/// Metadata is not validated here: the object store checks names.
pub fn validate(schema: &Value, obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    if let Value::Object(map) = obj {
        let body: Map<String, Value> = map
            .iter()
            .filter(|(k, _)| !["apiVersion", "kind", "metadata"].contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        validate_object_members(schema, &body, "", &mut causes);
    }
    causes.sort_by(|a, b| a.field.cmp(&b.field));
    causes
}

/// The JSON type name go-openapi reports for a value.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if is_integer(n) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integer(n: &serde_json::Number) -> bool {
    n.is_i64()
        || n.is_u64()
        || n.as_f64()
            .is_some_and(|f| f.fract() == 0.0 && f.is_finite())
}

fn type_matches(expected: &str, value: &Value) -> bool {
    match (expected, value) {
        ("object", Value::Object(_))
        | ("array", Value::Array(_))
        | ("string", Value::String(_)) => true,
        ("boolean", Value::Bool(_)) | ("number", Value::Number(_)) => true,
        ("integer", Value::Number(n)) => is_integer(n),
        _ => false,
    }
}

/// Go's `%q` for the strings that appear in messages.
pub fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A bad value as `field.Error` prints it: strings quoted, scalars bare,
/// anything else as JSON.
fn render_value(value: &Value) -> String {
    match value {
        Value::String(s) => go_quote(s),
        Value::Null => "\"null\"".to_string(),
        other => other.to_string(),
    }
}

fn validate_value(schema: &Value, value: &Value, path: &str, causes: &mut Vec<Cause>) {
    // A null that survived pruning (a list item) fails the type check below
    // unless the schema allows it.
    if value.is_null() && is_true(schema, "nullable") {
        return;
    }
    let int_or_string = is_true(schema, "x-kubernetes-int-or-string");
    let expected = if int_or_string {
        Some("integer,string")
    } else {
        schema.get("type").and_then(Value::as_str)
    };
    if let Some(expected) = expected {
        let ok = if int_or_string {
            type_matches("integer", value) || type_matches("string", value)
        } else {
            type_matches(expected, value)
        };
        if !ok {
            let actual = type_name(value);
            causes.push(Cause {
                reason: "FieldValueTypeInvalid".into(),
                message: format!(
                    "Invalid value: {}: {path} in body must be of type {expected}: {}",
                    go_quote(actual),
                    go_quote(actual)
                ),
                field: path.to_string(),
            });
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let supported: Vec<String> = allowed
            .iter()
            .map(|v| match v {
                Value::String(s) => go_quote(s),
                other => go_quote(&other.to_string()),
            })
            .collect();
        causes.push(Cause {
            reason: "FieldValueNotSupported".into(),
            message: format!(
                "Unsupported value: {}: supported values: {}",
                render_value(value),
                supported.join(", ")
            ),
            field: path.to_string(),
        });
    }
    if let Value::Number(n) = value {
        validate_number(schema, n, value, path, causes);
    }
    match value {
        Value::Object(map) => validate_object_members(schema, map, path, causes),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (idx, item) in items.iter().enumerate() {
                    validate_value(item_schema, item, &format!("{path}[{idx}]"), causes);
                }
            }
        }
        _ => {}
    }
}

fn validate_number(
    schema: &Value,
    n: &serde_json::Number,
    value: &Value,
    path: &str,
    causes: &mut Vec<Cause>,
) {
    let invalid = |detail: String| Cause {
        reason: "FieldValueInvalid".into(),
        message: format!(
            "Invalid value: {}: {path} in body {detail}",
            render_value(value)
        ),
        field: path.to_string(),
    };
    if schema.get("format").and_then(Value::as_str) == Some("int32")
        && n.as_i64().is_some_and(|i| i32::try_from(i).is_err())
    {
        causes.push(invalid("must be of type int32".to_string()));
    }
    let as_f64 = n.as_f64().unwrap_or_default();
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        let exclusive = is_true(schema, "exclusiveMaximum");
        if (exclusive && as_f64 >= max) || (!exclusive && as_f64 > max) {
            let relation = if exclusive {
                "less than"
            } else {
                "less than or equal to"
            };
            causes.push(invalid(format!(
                "should be {relation} {}",
                schema["maximum"]
            )));
        }
    }
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        let exclusive = is_true(schema, "exclusiveMinimum");
        if (exclusive && as_f64 <= min) || (!exclusive && as_f64 < min) {
            let relation = if exclusive {
                "greater than"
            } else {
                "greater than or equal to"
            };
            causes.push(invalid(format!(
                "should be {relation} {}",
                schema["minimum"]
            )));
        }
    }
}

fn validate_object_members(
    schema: &Value,
    map: &Map<String, Value>,
    path: &str,
    causes: &mut Vec<Cause>,
) {
    for required in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !map.contains_key(required) {
            causes.push(Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value".into(),
                field: child_path(path, required),
            });
        }
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    for (key, child) in map {
        if let Some(child_schema) = properties.and_then(|p| p.get(key)).or(additional) {
            validate_value(child_schema, child, &child_path(path, key), causes);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {"type": "string"},
                        "flinkVersion": {"type": "string", "enum": ["v1_17", "v1_18"]},
                        "replicas": {"type": "integer", "format": "int32", "minimum": 1, "default": 1},
                        "port": {"x-kubernetes-int-or-string": true},
                        "note": {"type": "string", "nullable": true},
                        "config": {"type": "object", "additionalProperties": {"type": "string"}},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                                  "properties": {"known": {"type": "boolean"}}},
                        "ports": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}}}},
                        "opts": {"type": "object", "properties": {"mode": {"type": "string", "default": "native"}}}
                    }
                },
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }
        })
    }

    #[test]
    fn prune_reports_and_removes_unknown_fields() {
        let mut obj = json!({
            "apiVersion": "x/v1", "kind": "X",
            "metadata": {"name": "a"},
            "spec": {"image": "i", "envFrom": [], "ports": [{"n": 1, "m": 2}], "extra": {"anything": {"goes": 1}},
                     "config": {"k": "v"}, "note": null, "flinkVersion": null},
            "top": 1,
        });
        let unknown = prune(&schema(), &mut obj);
        assert_eq!(unknown, ["spec.envFrom", "spec.ports[0].m", "top"]);
        assert_eq!(obj["spec"]["ports"], json!([{"n": 1}]));
        assert_eq!(obj["spec"]["extra"]["anything"]["goes"], 1);
        assert_eq!(obj["spec"]["config"]["k"], "v");
        assert!(
            obj["spec"].get("note").is_some_and(Value::is_null),
            "nullable nulls stay"
        );
        assert!(
            obj["spec"].get("flinkVersion").is_none(),
            "non-nullable nulls are dropped"
        );
        assert!(obj.get("top").is_none());
    }

    #[test]
    fn defaults_fill_missing_fields_of_present_objects() {
        let mut obj = json!({"spec": {"image": "i", "opts": {}}});
        apply_defaults(&schema(), &mut obj);
        assert_eq!(obj["spec"]["replicas"], 1);
        assert_eq!(obj["spec"]["opts"]["mode"], "native");
        let mut empty = json!({});
        apply_defaults(&schema(), &mut empty);
        assert!(
            empty.get("spec").is_none(),
            "absent objects are not created by defaulting"
        );
    }

    fn messages(obj: Value) -> Vec<String> {
        validate(&schema(), &obj)
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn validation_uses_the_api_server_wording() {
        assert!(
            messages(json!({"metadata": {"name": 5}, "spec": {"image": "i", "port": 80}}))
                .is_empty()
        );
        assert!(messages(json!({"spec": {"image": "i", "port": "http", "note": null}})).is_empty());
        assert_eq!(
            messages(json!({"spec": {"image": "i", "flinkVersion": "v1_99"}})),
            [
                r#"spec.flinkVersion: Unsupported value: "v1_99": supported values: "v1_17", "v1_18""#
            ]
        );
        assert_eq!(
            messages(json!({"spec": {"image": "i", "replicas": "string"}})),
            [
                r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#
            ]
        );
        assert_eq!(
            messages(json!({"spec": {}})),
            ["spec.image: Required value"]
        );
        assert_eq!(
            messages(json!({"spec": {"image": "i", "replicas": 0}})),
            [
                "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1"
            ]
        );
        assert_eq!(
            messages(json!({"spec": {"image": "i", "replicas": 3_000_000_000i64}})),
            [
                "spec.replicas: Invalid value: 3000000000: spec.replicas in body must be of type int32"
            ]
        );
        assert_eq!(
            messages(
                json!({"spec": {"image": 1, "port": true, "ports": [{"n": 1.5}], "config": {"k": 2}}})
            ),
            [
                r#"spec.config.k: Invalid value: "integer": spec.config.k in body must be of type string: "integer""#,
                r#"spec.image: Invalid value: "integer": spec.image in body must be of type string: "integer""#,
                r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#,
                r#"spec.ports[0].n: Invalid value: "number": spec.ports[0].n in body must be of type integer: "number""#,
            ]
        );
        assert_eq!(
            messages(json!({"spec": "x"})),
            [r#"spec: Invalid value: "string": spec in body must be of type object: "string""#]
        );
    }

    #[test]
    fn go_quote_escapes_like_go() {
        assert_eq!(go_quote("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
    }

    fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
            "[a-z]{0,3}".prop_map(Value::from)
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("spec".to_string()),
                        Just("image".to_string()),
                        Just("ports".to_string()),
                        Just("n".to_string()),
                        "[a-z]{1,3}"
                    ],
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Pruning removes every unknown field at once: a second pass finds
        /// nothing and changes nothing, and validation never panics.
        #[test]
        fn prune_is_idempotent(body in arbitrary_json()) {
            let mut obj = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"}, "spec": body.clone(), "extra": body});
            prune(&schema(), &mut obj);
            let once = obj.clone();
            proptest::prop_assert!(prune(&schema(), &mut obj).is_empty());
            proptest::prop_assert_eq!(obj.clone(), once);
            apply_defaults(&schema(), &mut obj);
            let _ = validate(&schema(), &obj);
        }
    }
}
