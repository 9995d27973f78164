//! OpenAPI documents, served to the extent kubectl needs them.
//!
//! Found by experiment with kubectl 1.32 (see the kubectl integration
//! tests): `kubectl apply`/`create` with the default `--validate=strict`
//! check, per kind, whether the server supports the `fieldValidation` query
//! parameter by looking for it on the kind's PATCH operation in the
//! `/openapi/v3` group-version document; if it is there, validation is left
//! to the server. So each group-version document lists the kind's paths with
//! that parameter and the `x-kubernetes-group-version-kind` extension, and
//! carries a CRD's `openAPIV3Schema` under `components.schemas`.
//!
//! Built-in kinds get an open object schema, and their PATCH operations do
//! not offer strategic merge patch in the document: kubectl then computes
//! strategic patches from its compiled-in types, as it does against servers
//! without OpenAPI. `/openapi/v2` is an empty document (protobuf or JSON),
//! which kubectl treats as "no client-side schema".

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::{discovery::KUBE_VERSION, reply::Reply};
use crate::{
    error::ApiError,
    resource::Registry,
    store::{ObjectKey, Store},
};

/// The protobuf media type `/openapi/v2` answers with. Clients ask for
/// `...spec.v2@v1.0+protobuf`, but Go's MIME parser rejects `@` in a
/// response's Content-Type, so the API server answers with `.v1.0`.
const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// `/openapi/v2`: an empty document.
pub(crate) fn v2(accept: &str) -> Reply {
    if accept.contains("protobuf") {
        // An empty message is a valid, empty `openapi_v2.Document`.
        let mut reply = Reply::ok(Value::Null);
        reply.body = super::reply::Body::Raw(Bytes::new());
        return reply.with_content_type(V2_PROTOBUF);
    }
    let (major, minor) = KUBE_VERSION;
    Reply::ok(
        json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": format!("v{major}.{minor}.0")},
                     "paths": {}, "definitions": {}}),
    )
}

/// FNV-1a, for the `?hash=` that lets clients cache documents.
fn fnv64(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016X}")
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// A cheap stand-in for a group-version document's content: its kinds and,
/// for custom kinds, their CRD's resourceVersion (which changes whenever the
/// schema or columns can). Serialising every document to hash it would hold
/// the cluster lock for milliseconds on each `kubectl apply`.
fn fingerprint(registry: &Registry, store: &Store, group: &str, version: &str) -> String {
    let mut text = String::new();
    for rt in registry
        .iter()
        .filter(|rt| rt.group == group && rt.version == version)
    {
        text.push_str(&format!(
            "{}/{}/{}/{};",
            rt.kind, rt.plural, rt.namespaced, rt.custom
        ));
        if rt.custom {
            let key = ObjectKey {
                group: "apiextensions.k8s.io".into(),
                plural: "customresourcedefinitions".into(),
                namespace: String::new(),
                name: format!("{}.{}", rt.plural, rt.group),
            };
            if let Some(crd) = store.get(&key) {
                text.push_str(
                    crd["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap_or_default(),
                );
            }
        }
    }
    fnv64(&text)
}

/// `/openapi/v3`: one entry per served group-version.
pub(crate) fn v3_index(registry: &Registry, store: &Store) -> Reply {
    let mut paths = Map::new();
    for rt in registry.iter() {
        let path = gv_path(&rt.group, &rt.version);
        if paths.contains_key(&path) {
            continue;
        }
        let hash = fingerprint(registry, store, &rt.group, &rt.version);
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
        );
    }
    Reply::ok(json!({"paths": paths}))
}

/// `/openapi/v3/{api/v1 | apis/g/v}`.
pub(crate) fn v3_document(registry: &Registry, group: &str, version: &str, path: &str) -> Reply {
    if !registry
        .iter()
        .any(|rt| rt.group == group && rt.version == version)
    {
        return ApiError::no_route(path).into();
    }
    Reply::ok(document(registry, group, version))
}

/// The schema name the API server uses: reversed group, version, kind.
fn schema_name(group: &str, version: &str, kind: &str) -> String {
    let prefix = if group.is_empty() {
        "io.k8s.api.core".to_string()
    } else if group.contains('.') {
        group.split('.').rev().collect::<Vec<_>>().join(".")
    } else {
        format!("io.k8s.api.{group}")
    };
    format!("{prefix}.{version}.{kind}")
}

fn query_param(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

fn document(registry: &Registry, group: &str, version: &str) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for rt in registry
        .iter()
        .filter(|rt| rt.group == group && rt.version == version)
    {
        let name = schema_name(group, version, &rt.kind);
        let gvk = json!({"group": group, "version": version, "kind": rt.kind});
        let mut schema = rt.schema.clone().unwrap_or_else(
            || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        );
        schema["x-kubernetes-group-version-kind"] = json!([gvk]);
        schemas.insert(name.clone(), schema);
        let reference = json!({"schema": {"$ref": format!("#/components/schemas/{name}")}});
        let write_params = || {
            json!([
                query_param("dryRun"),
                query_param("fieldManager"),
                query_param("fieldValidation")
            ])
        };
        let mut patch_content = Map::new();
        for media in [
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ] {
            patch_content.insert(media.to_string(), json!({"schema": {"type": "object"}}));
        }
        let response =
            json!({"200": {"description": "OK", "content": {"application/json": reference}}});
        let base = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        let scope = if rt.namespaced {
            "/namespaces/{namespace}"
        } else {
            ""
        };
        let collection = format!("{base}{scope}/{}", rt.plural);
        paths.insert(collection.clone(), json!({
            "get": {"operationId": format!("list{}", rt.kind), "x-kubernetes-action": "list",
                    "x-kubernetes-group-version-kind": gvk, "responses": response},
            "post": {"operationId": format!("create{}", rt.kind), "x-kubernetes-action": "post",
                     "x-kubernetes-group-version-kind": gvk, "parameters": write_params(),
                     "requestBody": {"content": {"application/json": reference}}, "responses": response},
        }));
        paths.insert(format!("{collection}/{{name}}"), json!({
            "get": {"operationId": format!("read{}", rt.kind), "x-kubernetes-action": "get",
                    "x-kubernetes-group-version-kind": gvk, "responses": response},
            "put": {"operationId": format!("replace{}", rt.kind), "x-kubernetes-action": "put",
                    "x-kubernetes-group-version-kind": gvk, "parameters": write_params(),
                    "requestBody": {"content": {"application/json": reference}}, "responses": response},
            "patch": {"operationId": format!("patch{}", rt.kind), "x-kubernetes-action": "patch",
                      "x-kubernetes-group-version-kind": gvk,
                      "parameters": [query_param("dryRun"), query_param("fieldManager"), query_param("fieldValidation"),
                                     query_param("force")],
                      "requestBody": {"content": patch_content}, "responses": response},
            "delete": {"operationId": format!("delete{}", rt.kind), "x-kubernetes-action": "delete",
                       "x-kubernetes-group-version-kind": gvk, "responses": response},
        }));
    }
    let (major, minor) = KUBE_VERSION;
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v{major}.{minor}.0")},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_operations_advertise_field_validation() {
        let registry = Registry::with_builtins();
        let doc = document(&registry, "apps", "v1");
        let op = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(op["x-kubernetes-group-version-kind"]["kind"], "Deployment");
        assert!(
            op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
        );
        assert!(
            op["requestBody"]["content"]
                .get("application/strategic-merge-patch+json")
                .is_none()
        );
        assert_eq!(
            schema_name("flink.apache.org", "v1beta1", "FlinkDeployment"),
            "org.apache.flink.v1beta1.FlinkDeployment"
        );
        let Reply {
            body: super::super::reply::Body::Json(index),
            ..
        } = v3_index(&registry, &Store::default())
        else {
            panic!("json")
        };
        assert!(
            index["paths"]["apis/apps/v1"]["serverRelativeURL"]
                .as_str()
                .unwrap()
                .starts_with("/openapi/v3/apis/apps/v1?hash=")
        );
        assert_eq!(v3_document(&registry, "nope", "v1", "/x").status, 404);
    }
}
