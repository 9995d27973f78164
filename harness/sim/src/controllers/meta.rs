//! Object-metadata helpers shared by the controllers and the Flink operator
//! model: owner references, labels and selectors, status writes that skip
//! no-op updates, and a canonical JSON form for hashing.
//!
//! Objects are `serde_json::Value`s, so these helpers read fields leniently:
//! a missing or mistyped field reads as empty rather than failing, because a
//! controller must never panic on an object a client wrote.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use serde_json::{Map, Value, json};

use crate::{
    clock::SimTime,
    error::ApiError,
    resource::{Registry, ResourceType},
    store::{Deletion, ObjectKey, Store, Subresource},
};

/// A served kind looked up by coordinates, cloned so the caller can keep it
/// while writing to the store.
pub fn kind(registry: &Registry, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
    registry.get(group, version, plural).cloned()
}

/// `metadata.name`, or "" when absent.
pub fn name(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or_default()
}

/// `metadata.namespace`, or "" for cluster-scoped objects.
pub fn namespace(obj: &Value) -> &str {
    obj["metadata"]["namespace"].as_str().unwrap_or_default()
}

/// `metadata.uid`, or "" when absent.
pub fn uid(obj: &Value) -> &str {
    obj["metadata"]["uid"].as_str().unwrap_or_default()
}

/// `metadata.generation`, 0 when absent.
pub fn generation(obj: &Value) -> i64 {
    obj["metadata"]["generation"].as_i64().unwrap_or(0)
}

/// Whether the object carries a `deletionTimestamp`.
pub fn is_terminating(obj: &Value) -> bool {
    obj["metadata"]
        .get("deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

/// The string-valued entries of a string map such as `metadata.labels`.
pub fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// `metadata.labels` as a map.
pub fn labels(obj: &Value) -> BTreeMap<String, String> {
    string_map(&obj["metadata"]["labels"])
}

/// Whether every `(key, value)` of `wanted` is among `obj`'s labels.
pub fn has_labels(obj: &Value, wanted: &[(&str, &str)]) -> bool {
    let labels = &obj["metadata"]["labels"];
    wanted.iter().all(|(k, v)| labels[*k].as_str() == Some(*v))
}

/// An `ownerReferences` entry pointing at `owner`.
///
/// `controller` marks the managing owner (ReplicaSet of a Pod, Deployment of
/// a ReplicaSet); the Flink operator uses `controller: false` for the
/// JobManager Deployment it owns, as its `kubernetes.jobmanager.owner.reference`
/// setting does.
pub fn owner_reference(owner: &Value, controller: bool) -> Value {
    json!({
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": name(owner),
        "uid": uid(owner),
        "controller": controller,
        "blockOwnerDeletion": true,
    })
}

/// The uid of the owner reference marked `controller: true`, if any.
pub fn controller_uid(obj: &Value) -> Option<&str> {
    obj["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"].as_bool() == Some(true))
        .and_then(|r| r["uid"].as_str())
}

/// Whether any owner reference of `obj` names `owner_uid`.
pub fn is_owned_by(obj: &Value, owner_uid: &str) -> bool {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|r| r["uid"].as_str() == Some(owner_uid)))
}

/// Whether `labels` satisfy a structured `LabelSelector` (`matchLabels` and
/// `matchExpressions` with `In`, `NotIn`, `Exists`, `DoesNotExist`).
///
/// An empty or absent selector matches nothing, as a workload selector must
/// (the API server rejects empty ones; here they simply select no pods).
pub fn selector_matches(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    let match_labels = string_map(&selector["matchLabels"]);
    let expressions = selector["matchExpressions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if match_labels.is_empty() && expressions.is_empty() {
        return false;
    }
    let labels_ok = match_labels.iter().all(|(k, v)| labels.get(k) == Some(v));
    let expressions_ok = expressions.iter().all(|expr| {
        let key = expr["key"].as_str().unwrap_or_default();
        let values: BTreeSet<&str> = expr["values"]
            .as_array()
            .map(|vs| vs.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match expr["operator"].as_str() {
            Some("In") => labels.get(key).is_some_and(|v| values.contains(v.as_str())),
            Some("NotIn") => labels.get(key).is_none_or(|v| !values.contains(v.as_str())),
            Some("Exists") => labels.contains_key(key),
            Some("DoesNotExist") => !labels.contains_key(key),
            _ => false,
        }
    });
    labels_ok && expressions_ok
}

/// The store key of `obj`, which is of kind `rt`.
pub fn key_of(rt: &ResourceType, obj: &Value) -> ObjectKey {
    ObjectKey::new(rt, namespace(obj), name(obj))
}

/// Replaces `obj`'s status through the `/status` subresource (or the main
/// resource for kinds without one). The store keeps the resourceVersion when
/// nothing changed, so writing the same status twice is not churn.
pub fn write_status(
    store: &mut Store,
    rt: &ResourceType,
    obj: &Value,
    status: Value,
    now: SimTime,
) -> Result<Arc<Value>, ApiError> {
    if obj.get("status") == Some(&status)
        && let Some(current) = store.get(&key_of(rt, obj))
    {
        return Ok(current.clone());
    }
    let mut new = obj.clone();
    new["status"] = status;
    let subresource = if rt.status_subresource {
        Subresource::Status
    } else {
        Subresource::Main
    };
    store.update(rt, &key_of(rt, obj), new, subresource, now)
}

/// Replaces the main resource of `obj` (spec, metadata) with `new`.
pub fn write_main(
    store: &mut Store,
    rt: &ResourceType,
    new: Value,
    now: SimTime,
) -> Result<Arc<Value>, ApiError> {
    let key = key_of(rt, &new);
    store.update(rt, &key, new, Subresource::Main, now)
}

/// Deletes `obj` unless it is already gone; a missing object is not an error
/// for a controller that is cleaning up.
pub fn delete(
    store: &mut Store,
    rt: &ResourceType,
    obj: &Value,
    now: SimTime,
) -> Result<Option<Deletion>, ApiError> {
    match store.delete(rt, &key_of(rt, obj), now) {
        Ok(deletion) => Ok(Some(deletion)),
        Err(err) if err.code == 404 => Ok(None),
        Err(err) => Err(err),
    }
}

/// Every object of every served kind, with its kind, ordered by kind and key.
///
/// Versions of one kind share storage, so each (group, plural) is listed once.
pub fn all_objects(registry: &Registry, store: &Store) -> Vec<(ResourceType, Arc<Value>)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for rt in registry.iter() {
        if !seen.insert((rt.group.clone(), rt.plural.clone())) {
            continue;
        }
        out.extend(
            store
                .list(&rt.group, &rt.plural, None)
                .map(|obj| (rt.clone(), obj.clone())),
        );
    }
    out
}

/// JSON text with object keys sorted at every level, so equal values hash
/// equally whatever order their keys were inserted in.
pub fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let ordered: BTreeMap<&String, Value> =
                    map.iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(
                    ordered
                        .into_iter()
                        .map(|(k, v)| (k.clone(), v))
                        .collect::<Map<_, _>>(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// 32-bit FNV-1a, the hash Kubernetes uses for `pod-template-hash`.
pub fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, b| {
        (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// 64-bit FNV-1a, for deterministic pseudo-digests (image ids, container ids).
pub fn fnv64a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `len` hex digits derived from `seed` alone (not from the cluster's random
/// source), so the same input always gets the same digest.
pub fn digest_hex(seed: &str, len: usize) -> String {
    let mut out = String::with_capacity(len + 16);
    let mut round = 0u32;
    while out.len() < len {
        out.push_str(&format!(
            "{:016x}",
            fnv64a(format!("{seed}#{round}").as_bytes())
        ));
        round += 1;
    }
    out.truncate(len);
    out
}

/// Renders a number with the alphabet Kubernetes uses for generated names
/// (`rand.SafeEncodeString`), as in ReplicaSet names like `web-5d8f9c7b6b`.
pub fn safe_encode(number: u32) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    number
        .to_string()
        .bytes()
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_follow_label_selector_semantics() {
        let labels: BTreeMap<String, String> = [("app", "web"), ("tier", "front")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        assert!(selector_matches(
            &json!({"matchLabels": {"app": "web"}}),
            &labels
        ));
        assert!(!selector_matches(
            &json!({"matchLabels": {"app": "db"}}),
            &labels
        ));
        let expr = |op: &str, values: &[&str]| json!({"matchExpressions": [{"key": "tier", "operator": op, "values": values}]});
        assert!(selector_matches(&expr("In", &["front", "back"]), &labels));
        assert!(!selector_matches(&expr("NotIn", &["front"]), &labels));
        assert!(selector_matches(&expr("Exists", &[]), &labels));
        assert!(!selector_matches(&expr("DoesNotExist", &[]), &labels));
        assert!(
            !selector_matches(&json!({}), &labels),
            "an empty selector selects nothing"
        );
    }

    #[test]
    fn canonical_json_ignores_key_order() {
        let a: Value =
            serde_json::from_str(r#"{"b": 1, "a": {"d": [1, {"y": 2, "x": 1}], "c": null}}"#)
                .unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a": {"c": null, "d": [1, {"x": 1, "y": 2}]}, "b": 1}"#)
                .unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_ne!(canonical_json(&a), canonical_json(&json!({"b": 2})));
    }

    #[test]
    fn hashes_match_reference_vectors() {
        // Published FNV-1a test vectors.
        assert_eq!(fnv32a(b""), 0x811c_9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c_292c);
        assert_eq!(fnv64a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let encoded = safe_encode(fnv32a(b"template"));
        assert!(
            encoded
                .bytes()
                .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)),
            "{encoded}"
        );
        assert_eq!(digest_hex("x", 64).len(), 64);
        assert_eq!(digest_hex("x", 64), digest_hex("x", 64));
        assert_ne!(digest_hex("x", 64), digest_hex("y", 64));
    }
}
