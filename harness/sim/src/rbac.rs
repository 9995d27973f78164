//! Role-based access control, as the API server's RBAC authorizer decides
//! it: who is asking ([`UserInfo`]), what they ask ([`Attributes`]), and
//! whether a Role or ClusterRole bound to them allows it ([`authorize`]).
//!
//! Pure: it reads the bindings and roles from the [`Store`] at the moment of
//! the request, so `kubectl apply` of a RoleBinding takes effect on the next
//! request, as on a real cluster. The `system:masters` group is allowed
//! everything without looking at any role, as the API server's privileged
//! group is. [`bootstrap_policy`] is the part of a real cluster's default
//! policy the simulator seeds: `cluster-admin`, `system:basic-user` (every
//! authenticated user may ask what it may do, `kubectl auth can-i`, and who
//! it is, `kubectl auth whoami`) and `system:discovery`.
//!
//! Differences from the real authorizer: ClusterRole aggregation
//! (`aggregationRule`) is not evaluated, and there is no `escalate`/`bind`
//! check on writes of roles and bindings.

use serde_json::{Value, json};

use crate::store::Store;

/// The group whose members are allowed everything.
pub const MASTERS: &str = "system:masters";
/// The group every authenticated identity is in.
pub const AUTHENTICATED: &str = "system:authenticated";
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// An authenticated identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name, e.g. `system:serviceaccount:flink:flink`.
    pub name: String,
    /// Its groups, `system:authenticated` included.
    pub groups: Vec<String>,
}

impl UserInfo {
    /// A user named `name` in `groups` (and `system:authenticated`); a
    /// service-account name also gets its service-account groups, as the
    /// API server gives them to a token or an impersonated name.
    pub fn new(name: &str, groups: impl IntoIterator<Item = String>) -> UserInfo {
        let mut all: Vec<String> = Vec::new();
        let implied = service_account_of(name).map(|(namespace, _)| {
            [
                "system:serviceaccounts".to_owned(),
                format!("system:serviceaccounts:{namespace}"),
            ]
        });
        for group in groups
            .into_iter()
            .chain(implied.into_iter().flatten())
            .chain([AUTHENTICATED.to_owned()])
        {
            if !all.contains(&group) {
                all.push(group);
            }
        }
        UserInfo {
            name: name.to_owned(),
            groups: all,
        }
    }

    /// The identity of a service account's token.
    pub fn service_account(namespace: &str, name: &str) -> UserInfo {
        UserInfo::new(&format!("system:serviceaccount:{namespace}:{name}"), [])
    }

    /// Whether it is in `system:masters`.
    pub fn is_master(&self) -> bool {
        self.groups.iter().any(|g| g == MASTERS)
    }
}

/// `(namespace, name)` of a `system:serviceaccount:<ns>:<name>` user name.
pub fn service_account_of(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix("system:serviceaccount:")?;
    let (namespace, name) = rest.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains(':')).then_some((namespace, name))
}

/// What a request asks to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attributes {
    /// A request about resources.
    Resource {
        /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
        /// `deletecollection` (or any verb a review asks about).
        verb: String,
        /// The API group ("" for core).
        group: String,
        /// The plural resource name.
        resource: String,
        /// The subresource, e.g. `status` or `token`.
        subresource: Option<String>,
        /// The namespace; `None` at the cluster scope.
        namespace: Option<String>,
        /// The object's name, if the request names one.
        name: Option<String>,
    },
    /// A request for a path that is not a resource (discovery, `/version`).
    NonResource {
        /// The lower-cased HTTP method.
        verb: String,
        /// The URL path.
        path: String,
    },
}

impl Attributes {
    /// The message of the 403 the API server answers a denied request with.
    pub fn forbidden_message(&self, user: &UserInfo) -> String {
        let who = &user.name;
        match self {
            Attributes::NonResource { verb, path } => {
                format!("forbidden: User \"{who}\" cannot {verb} path \"{path}\"")
            }
            Attributes::Resource {
                verb,
                group,
                resource,
                subresource,
                namespace,
                name,
            } => {
                let qualified = if group.is_empty() {
                    resource.clone()
                } else {
                    format!("{resource}.{group}")
                };
                let object = match name {
                    Some(name) => format!("{qualified} \"{name}\""),
                    None => qualified,
                };
                let full = match subresource {
                    Some(sub) => format!("{resource}/{sub}"),
                    None => resource.clone(),
                };
                let scope = match namespace {
                    Some(ns) => format!("in the namespace \"{ns}\""),
                    None => "at the cluster scope".to_owned(),
                };
                format!(
                    "{object} is forbidden: User \"{who}\" cannot {verb} resource \"{full}\" in API group \"{group}\" {scope}"
                )
            }
        }
    }

    /// The `details` of that 403 (name, group, kind as the resource).
    pub fn forbidden_details(&self) -> Option<Value> {
        match self {
            Attributes::Resource {
                group,
                resource,
                name,
                ..
            } => Some(
                json!({"name": name.clone().unwrap_or_default(), "group": group, "kind": resource}),
            ),
            Attributes::NonResource { .. } => None,
        }
    }
}

/// Whether `user` may do what `attributes` describe: a ClusterRoleBinding
/// grants it anywhere, a RoleBinding only in its own namespace.
pub fn authorize(store: &Store, user: &UserInfo, attributes: &Attributes) -> bool {
    if user.is_master() {
        return true;
    }
    let cluster_wide = store
        .list(RBAC_GROUP, "clusterrolebindings", None)
        .filter(|binding| binds(binding, user, ""))
        .filter_map(|binding| role_rules(store, binding, ""))
        .any(|rules| rules_allow(rules, attributes));
    if cluster_wide {
        return true;
    }
    let Attributes::Resource {
        namespace: Some(namespace),
        ..
    } = attributes
    else {
        return false;
    };
    store
        .list(RBAC_GROUP, "rolebindings", Some(namespace))
        .filter(|binding| binds(binding, user, namespace))
        .filter_map(|binding| role_rules(store, binding, namespace))
        .any(|rules| rules_allow(rules, attributes))
}

/// Whether `binding` (in `namespace`, "" for a ClusterRoleBinding) names
/// `user` or one of its groups.
fn binds(binding: &Value, user: &UserInfo, namespace: &str) -> bool {
    let Some(subjects) = binding["subjects"].as_array() else {
        return false;
    };
    subjects.iter().any(|subject| {
        let name = subject["name"].as_str().unwrap_or_default();
        match subject["kind"].as_str() {
            Some("User") => user.name == name,
            Some("Group") => user.groups.iter().any(|g| g == name),
            Some("ServiceAccount") => {
                let sa_namespace = subject["namespace"]
                    .as_str()
                    .filter(|ns| !ns.is_empty())
                    .unwrap_or(namespace);
                service_account_of(&user.name) == Some((sa_namespace, name))
            }
            _ => false,
        }
    })
}

/// The rules of the role `binding` refers to, if it exists.
fn role_rules<'a>(store: &'a Store, binding: &Value, namespace: &'a str) -> Option<&'a Value> {
    let role_ref = &binding["roleRef"];
    let name = role_ref["name"].as_str()?;
    let (plural, role_namespace) = match role_ref["kind"].as_str()? {
        "ClusterRole" => ("clusterroles", None),
        "Role" if !namespace.is_empty() => ("roles", Some(namespace)),
        _ => return None,
    };
    let role = store
        .list(RBAC_GROUP, plural, role_namespace)
        .find(|role| role["metadata"]["name"].as_str() == Some(name))?;
    Some(&role["rules"])
}

fn rules_allow(rules: &Value, attributes: &Attributes) -> bool {
    rules
        .as_array()
        .is_some_and(|rules| rules.iter().any(|rule| rule_allows(rule, attributes)))
}

fn listed<'a>(rule: &'a Value, field: &str) -> impl Iterator<Item = &'a str> {
    rule[field]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// One PolicyRule against the request, as the RBAC authorizer matches them.
fn rule_allows(rule: &Value, attributes: &Attributes) -> bool {
    match attributes {
        Attributes::Resource {
            verb,
            group,
            resource,
            subresource,
            name,
            ..
        } => {
            let combined = match subresource {
                Some(sub) => format!("{resource}/{sub}"),
                None => resource.clone(),
            };
            let verb_ok = listed(rule, "verbs").any(|v| v == "*" || v == verb);
            let group_ok = listed(rule, "apiGroups").any(|g| g == "*" || g == group);
            let resource_ok = listed(rule, "resources").any(|r| {
                r == "*"
                    || r == combined
                    || subresource
                        .as_ref()
                        .is_some_and(|sub| r.strip_prefix("*/") == Some(sub.as_str()))
            });
            let mut names = listed(rule, "resourceNames").peekable();
            let name_ok = names.peek().is_none()
                || name.as_deref().is_some_and(|name| names.any(|n| n == name));
            verb_ok && group_ok && resource_ok && name_ok
        }
        Attributes::NonResource { verb, path } => {
            let verb_ok = listed(rule, "verbs").any(|v| v == "*" || v == verb);
            let path_ok = listed(rule, "nonResourceURLs").any(|url| match url.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => url == path,
            });
            verb_ok && path_ok
        }
    }
}

/// The roles and bindings every simulated cluster starts with: the subset
/// of Kubernetes' bootstrap policy that decides what a service account may
/// do before anyone grants it anything. `(plural, object)` pairs, all
/// cluster-scoped.
pub fn bootstrap_policy() -> Vec<(&'static str, Value)> {
    let bootstrapping = json!({"kubernetes.io/bootstrapping": "rbac-defaults"});
    let role = |name: &str, rules: Value| json!({"metadata": {"name": name, "labels": bootstrapping}, "rules": rules});
    let binding = |name: &str, group: &str| {
        json!({
            "metadata": {"name": name, "labels": bootstrapping},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": group}],
        })
    };
    vec![
        (
            "clusterroles",
            role(
                "cluster-admin",
                json!([
                    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                    {"nonResourceURLs": ["*"], "verbs": ["*"]},
                ]),
            ),
        ),
        ("clusterrolebindings", binding("cluster-admin", MASTERS)),
        (
            "clusterroles",
            role(
                "system:basic-user",
                json!([
                    {
                        "apiGroups": ["authorization.k8s.io"],
                        "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                        "verbs": ["create"],
                    },
                    {
                        "apiGroups": ["authentication.k8s.io"],
                        "resources": ["selfsubjectreviews"],
                        "verbs": ["create"],
                    },
                ]),
            ),
        ),
        (
            "clusterrolebindings",
            binding("system:basic-user", AUTHENTICATED),
        ),
        (
            "clusterroles",
            role(
                "system:discovery",
                // `/sim/v1/clock` is the simulator's own: reading the
                // virtual clock is as harmless as reading `/version`.
                json!([{
                    "nonResourceURLs": [
                        "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
                        "/openapi", "/openapi/*", "/readyz", "/version", "/version/",
                        "/sim/v1/clock",
                    ],
                    "verbs": ["get"],
                }]),
            ),
        ),
        (
            "clusterrolebindings",
            binding("system:discovery", AUTHENTICATED),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(verb: &str, group: &str, resource: &str, sub: Option<&str>) -> Attributes {
        Attributes::Resource {
            verb: verb.to_owned(),
            group: group.to_owned(),
            resource: resource.to_owned(),
            subresource: sub.map(str::to_owned),
            namespace: Some("ns".to_owned()),
            name: Some("x".to_owned()),
        }
    }

    #[test]
    fn rules_match_as_the_rbac_authorizer_matches_them() {
        let scale = json!({"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["get"]});
        assert!(rule_allows(
            &scale,
            &resource("get", "apps", "deployments", Some("scale"))
        ));
        assert!(!rule_allows(
            &scale,
            &resource("get", "apps", "deployments", None)
        ));
        let pods = json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]});
        assert!(rule_allows(
            &pods,
            &resource("deletecollection", "", "pods", None)
        ));
        assert!(
            !rule_allows(&pods, &resource("get", "", "pods", Some("log"))),
            "pods does not cover pods/log"
        );
        assert!(!rule_allows(&pods, &resource("get", "apps", "pods", None)));
        let named = json!({"apiGroups": ["*"], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["x"]});
        assert!(rule_allows(
            &named,
            &resource("get", "", "configmaps", None)
        ));
        let mut unnamed = resource("get", "", "configmaps", None);
        if let Attributes::Resource { name, .. } = &mut unnamed {
            *name = None;
        }
        assert!(
            !rule_allows(&named, &unnamed),
            "resourceNames never allow a list"
        );
        let discovery = json!({"nonResourceURLs": ["/apis/*", "/version"], "verbs": ["get"]});
        let path = |p: &str| Attributes::NonResource {
            verb: "get".to_owned(),
            path: p.to_owned(),
        };
        assert!(rule_allows(&discovery, &path("/apis/apps/v1")));
        assert!(rule_allows(&discovery, &path("/version")));
        assert!(!rule_allows(&discovery, &path("/version/x")));
        assert!(
            !rule_allows(&discovery, &resource("get", "", "pods", None)),
            "URL rules are not resource rules"
        );
    }

    #[test]
    fn service_account_names_and_groups() {
        assert_eq!(
            service_account_of("system:serviceaccount:flink:flink"),
            Some(("flink", "flink"))
        );
        for not_one in [
            "system:serviceaccount:flink",
            "system:serviceaccount::x",
            "jane",
            "system:serviceaccount:a:b:c",
        ] {
            assert_eq!(service_account_of(not_one), None, "{not_one}");
        }
        let user = UserInfo::service_account("flink", "flink");
        assert_eq!(
            user.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:flink",
                AUTHENTICATED
            ]
        );
        assert!(!user.is_master());
        assert!(UserInfo::new("admin", [MASTERS.to_owned()]).is_master());
    }
}
