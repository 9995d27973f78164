//! GET of one object and of collections, with selectors, pagination and the
//! three representations (JSON, `PartialObjectMetadata`, `Table`).
//!
//! A list reads only the kind (and namespace) asked for, in the store's
//! order, and a field selector that pins `metadata.name` is answered with a
//! single lookup. `limit`/`continue` page through the current state; unlike a
//! real server, later pages are not a snapshot of the first page's
//! resourceVersion.

use std::{borrow::Cow, sync::Arc};

use serde_json::{Value, json};

use super::{
    reply::Reply,
    request::{Query, Representation},
};
use crate::{
    clock::SimTime,
    error::ApiError,
    resource::ResourceType,
    selector::{FieldSelector, LabelSelector},
    store::{ObjectKey, Store},
    table::{self, IncludeObject},
};

/// The selection a list or watch makes: namespace plus selectors.
#[derive(Debug, Clone)]
pub(crate) struct Selection {
    pub(crate) namespace: Option<String>,
    pub(crate) labels: LabelSelector,
    pub(crate) fields: FieldSelector,
}

impl Selection {
    /// Reads `labelSelector` and `fieldSelector`; 400 when malformed.
    pub(crate) fn from_query(
        rt: &ResourceType,
        namespace: Option<String>,
        query: &Query,
    ) -> Result<Selection, ApiError> {
        let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or_default())
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or_default(), rt)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(Selection {
            namespace,
            labels,
            fields,
        })
    }

    /// Whether `obj` (already of the right kind) is selected.
    pub(crate) fn matches(&self, rt: &ResourceType, obj: &Value) -> bool {
        let in_namespace = self
            .namespace
            .as_deref()
            .is_none_or(|ns| obj["metadata"]["namespace"].as_str().unwrap_or_default() == ns);
        in_namespace && self.labels.matches(obj) && self.fields.matches(rt, obj)
    }

    /// The selected objects, in store order.
    pub(crate) fn select(&self, store: &Store, rt: &ResourceType) -> Vec<Arc<Value>> {
        let namespace = self
            .namespace
            .as_deref()
            .or_else(|| self.fields.exact_namespace().filter(|_| rt.namespaced));
        if let (Some(name), Some(ns)) = (
            self.fields.exact_name(),
            namespace.or((!rt.namespaced).then_some("")),
        ) {
            let key = ObjectKey::new(rt, ns, name);
            return store
                .get(&key)
                .filter(|obj| self.matches(rt, obj))
                .cloned()
                .into_iter()
                .collect();
        }
        store
            .list(&rt.group, &rt.plural, namespace)
            .filter(|obj| self.matches(rt, obj))
            .cloned()
            .collect()
    }
}

/// An object as served at `rt`'s version: custom resources stored at another
/// version of the same CRD are relabelled (the simulator has no conversion).
pub(crate) fn at_version<'a>(rt: &ResourceType, obj: &'a Value) -> Cow<'a, Value> {
    if obj["apiVersion"].as_str() == Some(rt.api_version().as_str()) {
        Cow::Borrowed(obj)
    } else {
        let mut relabelled = obj.clone();
        relabelled["apiVersion"] = json!(rt.api_version());
        Cow::Owned(relabelled)
    }
}

/// How a Table's rows carry objects, from `includeObject`.
pub(crate) fn include_object(query: &Query) -> Result<IncludeObject, ApiError> {
    match query.non_empty("includeObject") {
        None => Ok(IncludeObject::default()),
        Some(text) => IncludeObject::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!("includeObject: Unsupported value: \"{text}\""))
        }),
    }
}

/// One object in the requested representation.
pub(crate) fn render_object(
    rt: &ResourceType,
    obj: &Value,
    repr: &Representation,
    include: IncludeObject,
    now: SimTime,
) -> Value {
    let obj = at_version(rt, obj);
    match repr {
        Representation::Table(version) => {
            let rv = obj["metadata"]["resourceVersion"].clone();
            table::table(
                rt,
                [obj.as_ref()],
                now,
                include,
                version,
                json!({"resourceVersion": rv}),
            )
        }
        Representation::PartialMetadata(version) => {
            table::partial_metadata(&obj, &format!("meta.k8s.io/{version}"))
        }
        _ => obj.into_owned(),
    }
}

/// GET of one object (or its status, which is the same document).
pub(crate) fn get(
    store: &Store,
    rt: &ResourceType,
    key: &ObjectKey,
    repr: &Representation,
    query: &Query,
    now: SimTime,
) -> Result<Reply, ApiError> {
    let obj = store.get_existing(rt, key)?;
    Ok(Reply::ok(render_object(
        rt,
        obj,
        repr,
        include_object(query)?,
        now,
    )))
}

fn encode_continue(obj: &Value) -> String {
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    format!("{ns}/{name}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_continue(token: &str) -> Result<(String, String), ApiError> {
    let invalid = || {
        ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)".into())
    };
    if !token.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16).ok())
        .collect();
    let text = String::from_utf8(bytes.ok_or_else(invalid)?).map_err(|_| invalid())?;
    let (ns, name) = text.split_once('/').ok_or_else(invalid)?;
    Ok((ns.to_string(), name.to_string()))
}

/// GET of a collection.
pub(crate) fn list(
    store: &Store,
    rt: &ResourceType,
    selection: &Selection,
    repr: &Representation,
    query: &Query,
    now: SimTime,
) -> Result<Reply, ApiError> {
    let include = include_object(query)?;
    let mut objects = selection.select(store, rt);
    if let Some(token) = query.non_empty("continue") {
        let (ns, name) = decode_continue(token)?;
        objects.retain(|obj| {
            let key = (
                obj["metadata"]["namespace"].as_str().unwrap_or_default(),
                obj["metadata"]["name"].as_str().unwrap_or_default(),
            );
            key > (ns.as_str(), name.as_str())
        });
    }
    let limit = match query.non_empty("limit") {
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("limit: Invalid value: \"{text}\"")))?,
        None => 0,
    };
    let mut meta = json!({"resourceVersion": store.resource_version().to_string()});
    if limit > 0 && objects.len() > limit {
        let remaining = objects.len() - limit;
        objects.truncate(limit);
        if let Some(last) = objects.last() {
            meta["continue"] = json!(encode_continue(last));
            meta["remainingItemCount"] = json!(remaining);
        }
    }
    let body = match repr {
        Representation::Table(version) => table::table(
            rt,
            objects.iter().map(|o| o.as_ref()),
            now,
            include,
            version,
            meta,
        ),
        Representation::PartialMetadata(version) => {
            let api_version = format!("meta.k8s.io/{version}");
            let items: Vec<Value> = objects
                .iter()
                .map(|o| table::partial_metadata(o, &api_version))
                .collect();
            json!({"kind": "PartialObjectMetadataList", "apiVersion": api_version, "metadata": meta, "items": items})
        }
        _ => {
            let items: Vec<Value> = objects
                .iter()
                .map(|o| at_version(rt, o).into_owned())
                .collect();
            json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": meta, "items": items})
        }
    };
    Ok(Reply::ok(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{cluster::Cluster, resource::Registry};

    #[test]
    fn continue_tokens_round_trip() {
        let obj = json!({"metadata": {"namespace": "ns", "name": "a-b"}});
        assert_eq!(
            decode_continue(&encode_continue(&obj)).unwrap(),
            ("ns".into(), "a-b".into())
        );
        assert_eq!(decode_continue("zz").unwrap_err().code, 400);
    }

    #[test]
    fn lists_page_and_select() {
        let mut cluster = Cluster::new(1, SimTime(0));
        let cm = Registry::with_builtins()
            .get("", "v1", "configmaps")
            .unwrap()
            .clone();
        for (name, app) in [("a", "x"), ("b", "y"), ("c", "x")] {
            let obj = json!({"metadata": {"name": name, "labels": {"app": app}}});
            cluster
                .store
                .create(&cm, "default", obj, SimTime(0), &mut cluster.rng)
                .unwrap();
        }
        // One JSON list call at time zero: the names on the page and the list metadata.
        let page_of = |sel: &Selection, query: &Query| -> (Vec<String>, Value) {
            let reply = list(
                &cluster.store,
                &cm,
                sel,
                &Representation::Json,
                query,
                SimTime(0),
            )
            .unwrap();
            let super::super::reply::Body::Json(body) = reply.body else {
                panic!("json")
            };
            let items = body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
                .collect();
            (items, body["metadata"].clone())
        };
        let sel = Selection::from_query(
            &cm,
            Some("default".into()),
            &Query::parse(Some("labelSelector=app%3Dx")),
        )
        .unwrap();
        let (items, _) = page_of(&sel, &Query::default());
        assert_eq!(items, ["a", "c"]);

        let all = Selection::from_query(&cm, None, &Query::default()).unwrap();
        let (page, meta) = page_of(&all, &Query::parse(Some("limit=2")));
        assert_eq!(page, ["a", "b"]);
        assert_eq!(meta["remainingItemCount"], 1);
        let next = Query::parse(Some(&format!(
            "limit=2&continue={}",
            meta["continue"].as_str().unwrap()
        )));
        let (page, meta) = page_of(&all, &next);
        assert_eq!(page, ["c"]);
        assert!(meta.get("continue").is_none());

        let by_name = Selection::from_query(
            &cm,
            None,
            &Query::parse(Some(
                "fieldSelector=metadata.name%3Db,metadata.namespace%3Ddefault",
            )),
        )
        .unwrap();
        assert_eq!(by_name.select(&cluster.store, &cm).len(), 1);
        assert!(
            Selection::from_query(&cm, None, &Query::parse(Some("fieldSelector=spec.x%3D1")))
                .is_err()
        );
    }
}
