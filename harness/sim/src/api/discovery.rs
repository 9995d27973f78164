//! Discovery: `/version`, `/api`, `/apis`, `/apis/{group}` and the
//! per-group-version resource lists, in both the legacy form and the
//! aggregated `apidiscovery.k8s.io/v2` form kubectl 1.32 asks for first.
//!
//! Everything is computed from the registry on each request, so a CRD is
//! discoverable as soon as it is established and gone once it is deleted.
//! Versions are ordered the way the API server orders them (GA before beta
//! before alpha, higher numbers first) and the first is the preferred one.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{reply::Reply, request::Representation};
use crate::{
    error::ApiError,
    resource::{Registry, ResourceType},
};

/// The Kubernetes version the simulator claims to be.
pub(crate) const KUBE_VERSION: (&str, &str) = ("1", "32");

/// Verbs every served kind supports.
const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// Verbs of the `status` and `scale` subresources.
const SUBRESOURCE_VERBS: &[&str] = &["get", "patch", "update"];

/// `/version`.
pub(crate) fn version() -> Reply {
    let (major, minor) = KUBE_VERSION;
    Reply::ok(json!({
        "major": major,
        "minor": minor,
        "gitVersion": format!("v{major}.{minor}.0-harness-sim"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-12-11T00:00:00Z",
        "goVersion": "go1.23.4",
        "compiler": "gc",
        "platform": "linux/amd64",
    }))
}

/// Sort key implementing the API server's version priority.
fn version_priority(version: &str) -> (u8, i64, i64, String) {
    let parsed = version.strip_prefix('v').and_then(|rest| {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let major: i64 = rest[..digits_end].parse().ok()?;
        let tail = &rest[digits_end..];
        let (rank, minor_text) = if tail.is_empty() {
            (0, "0")
        } else if let Some(m) = tail.strip_prefix("beta") {
            (1, m)
        } else if let Some(m) = tail.strip_prefix("alpha") {
            (2, m)
        } else {
            return None;
        };
        let minor: i64 = if minor_text.is_empty() {
            0
        } else {
            minor_text.parse().ok()?
        };
        Some((rank, -major, -minor))
    });
    match parsed {
        Some((rank, major, minor)) => (rank, major, minor, String::new()),
        None => (3, 0, 0, version.to_string()),
    }
}

/// Served versions of each group, preferred first; the core group is "".
fn group_versions(registry: &Registry) -> BTreeMap<String, Vec<String>> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for rt in registry.iter() {
        let versions = groups.entry(rt.group.clone()).or_default();
        if !versions.contains(&rt.version) {
            versions.push(rt.version.clone());
        }
    }
    for versions in groups.values_mut() {
        versions.sort_by_key(|v| version_priority(v));
    }
    groups
}

fn group_json(name: &str, versions: &[String]) -> Value {
    let gv = |v: &String| json!({"groupVersion": format!("{name}/{v}"), "version": v});
    json!({
        "name": name,
        "versions": versions.iter().map(gv).collect::<Vec<_>>(),
        "preferredVersion": versions.first().map(gv).unwrap_or(Value::Null),
    })
}

/// The media type of an aggregated discovery reply.
fn aggregated_content_type(version: &str) -> String {
    format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList")
}

/// `/api`.
pub(crate) fn core_group(registry: &Registry, repr: &Representation) -> Reply {
    if let Representation::AggregatedDiscovery(version) = repr {
        let items = vec![aggregated_group(registry, "")];
        return aggregated_list(version, items);
    }
    let versions = group_versions(registry).remove("").unwrap_or_default();
    Reply::ok(
        json!({"kind": "APIVersions", "versions": versions, "serverAddressByClientCIDRs": []}),
    )
}

/// `/apis`.
pub(crate) fn groups(registry: &Registry, repr: &Representation) -> Reply {
    let all = group_versions(registry);
    if let Representation::AggregatedDiscovery(version) = repr {
        let items = all
            .keys()
            .filter(|g| !g.is_empty())
            .map(|g| aggregated_group(registry, g))
            .collect();
        return aggregated_list(version, items);
    }
    let groups: Vec<Value> = all
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(name, versions)| group_json(name, versions))
        .collect();
    Reply::ok(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
}

/// `/apis/{group}`.
pub(crate) fn group(registry: &Registry, name: &str, path: &str) -> Reply {
    match group_versions(registry)
        .get(name)
        .filter(|_| !name.is_empty())
    {
        Some(versions) => {
            let mut body = group_json(name, versions);
            body["kind"] = json!("APIGroup");
            body["apiVersion"] = json!("v1");
            Reply::ok(body)
        }
        None => ApiError::no_route(path).into(),
    }
}

fn kinds_at<'a>(
    registry: &'a Registry,
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'a ResourceType> + 'a {
    registry
        .iter()
        .filter(move |rt| rt.group == group && rt.version == version)
}

/// The scale subresource of a kind, if it has one: CRDs that declare it,
/// Deployments and ReplicaSets.
pub(crate) fn has_scale(rt: &ResourceType) -> bool {
    rt.scale.is_some()
        || (rt.group == "apps" && matches!(rt.plural.as_str(), "deployments" | "replicasets"))
}

/// Subresource names and the kind each returns: (name, group, version, kind).
fn subresources(rt: &ResourceType) -> Vec<(&'static str, String, String, String)> {
    let mut subs = Vec::new();
    if rt.status_subresource {
        subs.push((
            "status",
            rt.group.clone(),
            rt.version.clone(),
            rt.kind.clone(),
        ));
    }
    if has_scale(rt) {
        subs.push(("scale", "autoscaling".into(), "v1".into(), "Scale".into()));
    }
    subs
}

/// `/api/v1` or `/apis/{group}/{version}`.
pub(crate) fn group_version(registry: &Registry, group: &str, version: &str, path: &str) -> Reply {
    let mut resources = Vec::new();
    for rt in kinds_at(registry, group, version) {
        resources.push(json!({
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": VERBS,
            "shortNames": rt.short_names,
            "categories": rt.categories,
        }));
        for (sub, sub_group, sub_version, sub_kind) in subresources(rt) {
            let mut entry = json!({
                "name": format!("{}/{sub}", rt.plural),
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": sub_kind,
                "verbs": SUBRESOURCE_VERBS,
            });
            if sub == "scale" {
                entry["group"] = json!(sub_group);
                entry["version"] = json!(sub_version);
            }
            resources.push(entry);
        }
        if rt.group.is_empty() && rt.plural == "namespaces" {
            resources.push(
                json!({"name": "namespaces/finalize", "singularName": "", "namespaced": false,
                                  "kind": "Namespace", "verbs": ["update"]}),
            );
        }
    }
    if resources.is_empty() {
        return ApiError::no_route(path).into();
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Reply::ok(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}),
    )
}

fn aggregated_group(registry: &Registry, group: &str) -> Value {
    let versions = group_versions(registry).remove(group).unwrap_or_default();
    let versions: Vec<Value> = versions
        .iter()
        .map(|version| {
            let resources: Vec<Value> = kinds_at(registry, group, version)
                .map(|rt| {
                    let subs: Vec<Value> = subresources(rt)
                        .into_iter()
                        .map(|(sub, g, v, k)| {
                            json!({"subresource": sub, "responseKind": {"group": g, "version": v, "kind": k},
                                   "verbs": SUBRESOURCE_VERBS})
                        })
                        .collect();
                    let mut entry = json!({
                        "resource": rt.plural,
                        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
                        "scope": if rt.namespaced { "Namespaced" } else { "Cluster" },
                        "singularResource": rt.singular,
                        "verbs": VERBS,
                    });
                    if !rt.short_names.is_empty() {
                        entry["shortNames"] = json!(rt.short_names);
                    }
                    if !rt.categories.is_empty() {
                        entry["categories"] = json!(rt.categories);
                    }
                    if !subs.is_empty() {
                        entry["subresources"] = json!(subs);
                    }
                    entry
                })
                .collect();
            json!({"version": version, "resources": resources, "freshness": "Current"})
        })
        .collect();
    json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": versions})
}

fn aggregated_list(version: &str, items: Vec<Value>) -> Reply {
    Reply::ok(json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    }))
    .with_content_type(aggregated_content_type(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_like_the_api_server() {
        let mut versions = vec![
            "v1alpha1", "v2beta1", "v1", "v1beta2", "v2", "foo", "v1beta1",
        ];
        versions.sort_by_key(|v| version_priority(v));
        assert_eq!(
            versions,
            [
                "v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "foo"
            ]
        );
    }

    #[test]
    fn legacy_and_aggregated_forms_list_the_same_kinds() {
        let registry = Registry::with_builtins();
        let Reply {
            body: super::super::reply::Body::Json(list),
            ..
        } = group_version(&registry, "apps", "v1", "/apis/apps/v1")
        else {
            panic!("json")
        };
        let names: Vec<&str> = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(
            names.contains(&"deployments/scale") && names.contains(&"deployments/status"),
            "{names:?}"
        );
        let agg = groups(&registry, &Representation::AggregatedDiscovery("v2".into()));
        assert!(agg.content_type.contains("as=APIGroupDiscoveryList"));
        let super::super::reply::Body::Json(agg) = agg.body else {
            panic!("json")
        };
        let apps = agg["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["metadata"]["name"] == "apps")
            .unwrap();
        let deploy = apps["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "deployments")
            .unwrap();
        assert_eq!(deploy["scope"], "Namespaced");
        assert_eq!(deploy["shortNames"], json!(["deploy"]));
        assert_eq!(
            group_version(&registry, "nope", "v1", "/apis/nope/v1").status,
            404
        );
    }
}
