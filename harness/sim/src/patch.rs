//! The patch types the API server accepts: JSON merge patch (RFC 7386), JSON
//! patch (RFC 6902) and strategic merge patch for built-in kinds.
//!
//! Strategic merge patch is what `kubectl apply` and `kubectl patch` send for
//! built-in kinds. The real server reads list merge keys and strategies from
//! the Go struct tags of every built-in type; this module keeps a table of the
//! common lists instead ([`list_strategy`]). Lists not in the table are
//! replaced, as lists without a patch strategy are. Not modelled: the
//! `x-kubernetes-list-map-keys` of custom resources (custom resources only
//! accept merge and JSON patch, as on a real server), `$patch: merge` lists of
//! primitives other than finalizers, and `$deleteFromPrimitiveList` on lists
//! nested inside list items.

use serde_json::{Map, Value};

/// The `Content-Type` of a PATCH request, as the API server distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/merge-patch+json`
    Merge,
    /// `application/json-patch+json`
    Json,
    /// `application/strategic-merge-patch+json`
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply)
    Apply,
}

impl PatchType {
    /// The patch type named by a `Content-Type` header, ignoring parameters.
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        match content_type.split(';').next().unwrap_or_default().trim() {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            _ => None,
        }
    }

    /// The media type string.
    pub fn media_type(self) -> &'static str {
        match self {
            PatchType::Merge => "application/merge-patch+json",
            PatchType::Json => "application/json-patch+json",
            PatchType::Strategic => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }
}

/// A patch that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch document is not what its type requires (400).
    #[error("{0}")]
    Malformed(String),
    /// The patch is well-formed but does not apply to the object (422).
    #[error("{0}")]
    NotApplicable(String),
}

/// Applies an RFC 7386 JSON merge patch: objects merge key by key, `null`
/// deletes, everything else (lists included) replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// Applies an RFC 6902 JSON patch document (an array of operations).
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|err| PatchError::Malformed(format!("error decoding patch: {err}")))?;
    let mut doc = target.clone();
    json_patch::patch(&mut doc, &ops).map_err(|err| PatchError::NotApplicable(err.to_string()))?;
    Ok(doc)
}

/// How a list field merges under strategic merge patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy {
    /// Items are maps merged by this key; items not in the patch are kept.
    MergeByKey(&'static str),
    /// A list of primitives merged as a set union, in order (finalizers).
    MergeSet,
    /// The patch's list replaces the original (lists without a strategy).
    Replace,
}

/// The patch strategy of list field `field` whose parent field is `parent`
/// (the nearest enclosing map key, list indices skipped), for built-in kinds.
pub fn list_strategy(parent: &str, field: &str) -> ListStrategy {
    use ListStrategy::{MergeByKey, MergeSet, Replace};
    match (parent, field) {
        ("containers" | "initContainers" | "ephemeralContainers", "ports") => {
            MergeByKey("containerPort")
        }
        ("containers" | "initContainers" | "ephemeralContainers", "volumeMounts") => {
            MergeByKey("mountPath")
        }
        ("containers" | "initContainers" | "ephemeralContainers", "volumeDevices") => {
            MergeByKey("devicePath")
        }
        ("containers" | "initContainers" | "ephemeralContainers", "env") => MergeByKey("name"),
        ("containers" | "initContainers" | "ephemeralContainers", "resizePolicy") => {
            MergeByKey("resourceName")
        }
        // Service ports merge by port number.
        ("spec", "ports") => MergeByKey("port"),
        (_, "containers" | "initContainers" | "ephemeralContainers") => MergeByKey("name"),
        (_, "volumes" | "imagePullSecrets" | "resourceClaims" | "secrets") => MergeByKey("name"),
        (_, "hostAliases") => MergeByKey("ip"),
        (_, "topologySpreadConstraints") => MergeByKey("topologyKey"),
        (_, "conditions") => MergeByKey("type"),
        (_, "ownerReferences") => MergeByKey("uid"),
        (_, "finalizers") => MergeSet,
        _ => Replace,
    }
}

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER_PREFIX: &str = "$setElementOrder/";
const DELETE_PRIMITIVE_PREFIX: &str = "$deleteFromPrimitiveList/";

/// Applies a strategic merge patch for a built-in kind: a merge patch whose
/// lists merge by the real merge keys, with the `$patch`, `$retainKeys`,
/// `$setElementOrder/` and `$deleteFromPrimitiveList/` directives.
pub fn strategic_merge_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::Malformed(
            "strategic merge patch must be a JSON object".into(),
        ));
    };
    let mut out = target.clone();
    if !out.is_object() {
        out = Value::Object(Map::new());
    }
    if let Some(directive) = patch.get(DIRECTIVE) {
        match directive.as_str() {
            Some("replace") => return Ok(Value::Object(without_directives(patch))),
            Some("delete") => return Ok(Value::Object(Map::new())),
            _ => {}
        }
    }
    merge_map(
        out.as_object_mut().expect("made an object above"),
        patch,
        "",
    )?;
    Ok(out)
}

fn without_directives(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn merge_map(
    target: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    parent: &str,
) -> Result<(), PatchError> {
    for (key, patch_value) in patch {
        if key == DIRECTIVE || key == RETAIN_KEYS || key.starts_with(SET_ORDER_PREFIX) {
            continue;
        }
        if let Some(field) = key.strip_prefix(DELETE_PRIMITIVE_PREFIX) {
            let doomed = patch_value.as_array().cloned().unwrap_or_default();
            if let Some(Value::Array(items)) = target.get_mut(field) {
                items.retain(|item| !doomed.contains(item));
            }
            continue;
        }
        match patch_value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(patch_map) => match patch_map.get(DIRECTIVE).and_then(Value::as_str) {
                Some("delete") => {
                    target.remove(key);
                }
                Some("replace") => {
                    target.insert(key.clone(), Value::Object(without_directives(patch_map)));
                }
                _ => {
                    let entry = target
                        .entry(key.clone())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !entry.is_object() {
                        *entry = Value::Object(Map::new());
                    }
                    let child = entry.as_object_mut().expect("made an object above");
                    merge_map(child, patch_map, key)?;
                }
            },
            Value::Array(patch_items) => {
                let merged = merge_list(target.get(key), patch_items, parent, key)?;
                target.insert(key.clone(), Value::Array(merged));
            }
            other => {
                target.insert(key.clone(), other.clone());
            }
        }
    }
    if let Some(retain) = patch.get(RETAIN_KEYS) {
        let keep: Vec<&str> = retain
            .as_array()
            .ok_or_else(|| PatchError::Malformed("$retainKeys must be a list of strings".into()))?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        target.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (key, order) in patch
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(SET_ORDER_PREFIX).map(|f| (f, v)))
    {
        if let (Some(Value::Array(items)), Some(order)) = (target.get_mut(key), order.as_array()) {
            apply_element_order(items, order, list_strategy(parent, key));
        }
    }
    Ok(())
}

fn merge_list(
    original: Option<&Value>,
    patch_items: &[Value],
    parent: &str,
    field: &str,
) -> Result<Vec<Value>, PatchError> {
    let original = original
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // A `{"$patch": "replace"}` item replaces the whole list with the other items.
    if patch_items
        .iter()
        .any(|item| item.get(DIRECTIVE).and_then(Value::as_str) == Some("replace"))
    {
        return Ok(patch_items
            .iter()
            .filter(|item| item.get(DIRECTIVE).is_none())
            .cloned()
            .collect());
    }
    match list_strategy(parent, field) {
        ListStrategy::Replace => Ok(patch_items.to_vec()),
        ListStrategy::MergeSet => {
            let mut merged = original;
            for item in patch_items {
                if !merged.contains(item) {
                    merged.push(item.clone());
                }
            }
            Ok(merged)
        }
        ListStrategy::MergeByKey(merge_key) => {
            let mut merged = original;
            for item in patch_items {
                let Value::Object(item_map) = item else {
                    return Err(PatchError::Malformed(format!(
                        "{field}: list items must be objects with merge key {merge_key}"
                    )));
                };
                let key_value = item_map.get(merge_key).cloned().unwrap_or(Value::Null);
                let existing = merged
                    .iter()
                    .position(|m| m.get(merge_key) == Some(&key_value));
                match (item_map.get(DIRECTIVE).and_then(Value::as_str), existing) {
                    (Some("delete"), Some(idx)) => {
                        merged.remove(idx);
                    }
                    (Some("delete"), None) => {}
                    (Some("replace"), Some(idx)) => {
                        merged[idx] = Value::Object(without_directives(item_map))
                    }
                    (_, Some(idx)) => {
                        let slot = &mut merged[idx];
                        if let Value::Object(slot_map) = slot {
                            merge_map(slot_map, item_map, field)?;
                        }
                    }
                    (_, None) => {
                        let mut fresh = Map::new();
                        merge_map(&mut fresh, item_map, field)?;
                        merged.push(Value::Object(fresh));
                    }
                }
            }
            Ok(merged)
        }
    }
}

/// Reorders `items` as `$setElementOrder` lists them; items the order does
/// not mention keep their relative order after the ordered ones.
fn apply_element_order(items: &mut [Value], order: &[Value], strategy: ListStrategy) {
    let rank = |item: &Value| -> usize {
        order
            .iter()
            .position(|o| match strategy {
                ListStrategy::MergeByKey(key) => {
                    o.get(key).is_some() && o.get(key) == item.get(key)
                }
                _ => o == item,
            })
            .unwrap_or(usize::MAX)
    };
    // A stable sort keeps unmentioned items in their merged order.
    items.sort_by_key(rank);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn content_types_map_to_patch_types() {
        for pt in [
            PatchType::Merge,
            PatchType::Json,
            PatchType::Strategic,
            PatchType::Apply,
        ] {
            assert_eq!(
                PatchType::from_content_type(&format!("{}; charset=utf-8", pt.media_type())),
                Some(pt)
            );
        }
        assert_eq!(PatchType::from_content_type("application/json"), None);
    }

    #[test]
    fn merge_patch_replaces_lists_and_deletes_nulls() {
        let mut doc = json!({"spec": {"a": 1, "b": [1, 2], "c": {"d": 1}}});
        merge_patch(
            &mut doc,
            &json!({"spec": {"a": null, "b": [3], "c": {"e": 2}}}),
        );
        assert_eq!(doc, json!({"spec": {"b": [3], "c": {"d": 1, "e": 2}}}));
    }

    #[test]
    fn json_patch_applies_and_reports_failures() {
        let doc = json!({"spec": {"replicas": 1, "items": ["a"]}});
        let patched = json_patch(
            &doc,
            &json!([{"op": "replace", "path": "/spec/replicas", "value": 3}, {"op": "add", "path": "/spec/items/-", "value": "b"}]),
        )
        .unwrap();
        assert_eq!(
            patched,
            json!({"spec": {"replicas": 3, "items": ["a", "b"]}})
        );
        assert!(matches!(
            json_patch(
                &doc,
                &json!([{"op": "replace", "path": "/spec/missing/x", "value": 1}])
            ),
            Err(PatchError::NotApplicable(_))
        ));
        assert!(matches!(
            json_patch(&doc, &json!({"op": "add"})),
            Err(PatchError::Malformed(_))
        ));
        assert!(matches!(
            json_patch(
                &doc,
                &json!([{"op": "test", "path": "/spec/replicas", "value": 2}])
            ),
            Err(PatchError::NotApplicable(_))
        ));
    }

    fn deployment() -> Value {
        json!({
            "metadata": {"name": "d", "finalizers": ["a"]},
            "spec": {"template": {"spec": {
                "containers": [
                    {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                     "ports": [{"containerPort": 80, "name": "http"}], "args": ["x", "y"]},
                    {"name": "sidecar", "image": "side:1"}
                ],
                "volumes": [{"name": "v1", "emptyDir": {}}]
            }}}
        })
    }

    #[test]
    fn strategic_merge_merges_lists_by_key() {
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "app:2", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}], "args": ["z"]},
            {"name": "new", "image": "new:1"}
        ]}}}});
        let out = strategic_merge_patch(&deployment(), &patch).unwrap();
        let containers = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers.as_array().unwrap().len(), 3);
        assert_eq!(containers[0]["image"], "app:2");
        assert_eq!(
            containers[0]["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}])
        );
        assert_eq!(
            containers[0]["args"],
            json!(["z"]),
            "lists without a strategy are replaced"
        );
        assert_eq!(
            containers[0]["ports"],
            json!([{"containerPort": 80, "name": "http"}])
        );
        assert_eq!(containers[1]["name"], "sidecar");
        assert_eq!(containers[2]["name"], "new");
    }

    #[test]
    fn strategic_merge_directives() {
        let patch = json!({
            "metadata": {"finalizers": ["b"], "$deleteFromPrimitiveList/finalizers": ["a"]},
            "spec": {"template": {"spec": {
                "containers": [{"name": "sidecar", "$patch": "delete"}],
                "volumes": [{"name": "v2", "configMap": {"name": "c"}}, {"$patch": "replace"}],
            }}}
        });
        let out = strategic_merge_patch(&deployment(), &patch).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
        let spec = &out["spec"]["template"]["spec"];
        assert_eq!(spec["containers"].as_array().unwrap().len(), 1);
        assert_eq!(
            spec["volumes"],
            json!([{"name": "v2", "configMap": {"name": "c"}}])
        );

        let replace_map =
            json!({"spec": {"template": {"spec": {"$patch": "replace", "containers": []}}}});
        let out = strategic_merge_patch(&deployment(), &replace_map).unwrap();
        assert_eq!(out["spec"]["template"]["spec"], json!({"containers": []}));

        let retain = json!({"spec": {"template": {"spec": {"$retainKeys": ["containers"], "volumes": [{"name": "x"}]}}}});
        let out = strategic_merge_patch(&deployment(), &retain).unwrap();
        assert!(out["spec"]["template"]["spec"].get("volumes").is_none());
        assert!(out["spec"]["template"]["spec"].get("containers").is_some());

        let order = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
            "containers": [{"name": "app", "image": "app:3"}]
        }}}});
        let out = strategic_merge_patch(&deployment(), &order).unwrap();
        let names: Vec<_> = out["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["sidecar", "app"]);

        let delete_field = json!({"spec": {"template": {"$patch": "delete"}}});
        let out = strategic_merge_patch(&deployment(), &delete_field).unwrap();
        assert!(out["spec"].get("template").is_none());
    }

    #[test]
    fn service_ports_merge_by_port_and_conditions_by_type() {
        let svc = json!({"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]},
                         "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        let patch = json!({"spec": {"ports": [{"port": 443, "targetPort": 8443}]},
                           "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let out = strategic_merge_patch(&svc, &patch).unwrap();
        assert_eq!(
            out["spec"]["ports"][1],
            json!({"port": 443, "name": "https", "targetPort": 8443})
        );
        assert_eq!(
            out["status"]["conditions"],
            json!([{"type": "Ready", "status": "True"}])
        );
        assert!(strategic_merge_patch(&svc, &json!([1])).is_err());
        assert!(strategic_merge_patch(&svc, &json!({"spec": {"ports": [1]}})).is_err());
    }

    fn scalar_map() -> impl Strategy<Value = Value> {
        prop::collection::btree_map(
            "[a-d]",
            prop_oneof![
                any::<i64>().prop_map(Value::from),
                "[a-z]{0,3}".prop_map(Value::from)
            ],
            0..5,
        )
        .prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    proptest! {
        /// Without lists or directives, a strategic merge patch is a merge patch.
        #[test]
        fn strategic_equals_merge_on_plain_maps(target in scalar_map(), patch in scalar_map()) {
            let target = json!({"spec": target});
            let patch = json!({"spec": patch});
            let mut merged = target.clone();
            merge_patch(&mut merged, &patch);
            prop_assert_eq!(strategic_merge_patch(&target, &patch).unwrap(), merged);
        }

        /// Applying the same merge patch twice changes nothing the second time.
        #[test]
        fn merge_patch_is_idempotent(target in scalar_map(), patch in scalar_map()) {
            let mut once = target.clone();
            merge_patch(&mut once, &patch);
            let mut twice = once.clone();
            merge_patch(&mut twice, &patch);
            prop_assert_eq!(once, twice);
        }
    }
}
