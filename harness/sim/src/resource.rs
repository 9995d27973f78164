//! The resource registry: which kinds the simulated API serves.
//!
//! Built-in kinds are listed in [`Registry::with_builtins`]; custom kinds are
//! added by applying a `CustomResourceDefinition`, which
//! [`ResourceType::from_crd`] turns into one [`ResourceType`] per served
//! version. Discovery, routing, table printing and schema validation all read
//! from here, so a kind exists everywhere or nowhere.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::Cause;

/// One additional printer column, as in a CRD's `additionalPrinterColumns`.
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterColumn {
    /// Header as declared, e.g. `Job Status` (kubectl upper-cases it).
    pub name: String,
    /// Column type: `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    /// Optional format hint, e.g. `name`.
    pub format: String,
    /// Shown only with `-o wide` when greater than zero.
    pub priority: i64,
    /// Simple JSONPath, e.g. `.status.jobStatus.state`.
    pub json_path: String,
    /// Column description.
    pub description: String,
}

/// The `scale` subresource paths of a kind.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleSpec {
    /// e.g. `.spec.taskManager.replicas`.
    pub spec_replicas_path: String,
    /// e.g. `.status.taskManager.replicas`.
    pub status_replicas_path: String,
    /// e.g. `.status.taskManager.labelSelector`.
    pub label_selector_path: Option<String>,
}

/// A kind the API serves at one group/version.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    /// API group, empty for the core group.
    pub group: String,
    /// API version, e.g. `v1beta1`.
    pub version: String,
    /// Kind, e.g. `FlinkDeployment`.
    pub kind: String,
    /// Plural resource name used in URLs, e.g. `flinkdeployments`.
    pub plural: String,
    /// Singular name, e.g. `flinkdeployment`.
    pub singular: String,
    /// Short names, e.g. `flinkdep`.
    pub short_names: Vec<String>,
    /// Categories such as `all`.
    pub categories: Vec<String>,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Whether `/status` is a separate subresource (spec writes ignore status).
    pub status_subresource: bool,
    /// The `/scale` subresource, if any.
    pub scale: Option<ScaleSpec>,
    /// The `openAPIV3Schema` of a custom resource; `None` for built-ins.
    pub schema: Option<Value>,
    /// Custom printer columns; empty means NAME and AGE.
    pub printer_columns: Vec<PrinterColumn>,
    /// True for kinds that came from a CustomResourceDefinition.
    pub custom: bool,
}

impl ResourceType {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `flinkdeployments.flink.apache.org`, or `pods` for the core group.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `FlinkDeployment.flink.apache.org`, or `Pod` for the core group.
    pub fn group_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// Builds the served versions of a `CustomResourceDefinition` object.
    ///
    /// Returns field-level causes, in the API server's wording, when the CRD
    /// itself is malformed.
    pub fn from_crd(crd: &Value) -> Result<Vec<ResourceType>, Vec<Cause>> {
        let mut causes = Vec::new();
        let spec = &crd["spec"];
        let text = |path: &str, v: &Value, causes: &mut Vec<Cause>| -> String {
            match v.as_str() {
                Some(s) if !s.is_empty() => s.to_string(),
                _ => {
                    causes.push(Cause {
                        reason: "FieldValueRequired".into(),
                        message: "Required value".into(),
                        field: path.into(),
                    });
                    String::new()
                }
            }
        };
        let group = text("spec.group", &spec["group"], &mut causes);
        let names = &spec["names"];
        let plural = text("spec.names.plural", &names["plural"], &mut causes);
        let kind = text("spec.names.kind", &names["kind"], &mut causes);
        let singular = names["singular"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| kind.to_lowercase());
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let namespaced = match spec["scope"].as_str() {
            Some("Namespaced") => true,
            Some("Cluster") => false,
            other => {
                causes.push(Cause {
                    reason: "FieldValueNotSupported".into(),
                    message: format!(
                        "Unsupported value: {}: supported values: \"Cluster\", \"Namespaced\"",
                        other
                            .map(|s| format!("\"{s}\""))
                            .unwrap_or_else(|| "\"\"".into())
                    ),
                    field: "spec.scope".into(),
                });
                true
            }
        };
        let name = crd["metadata"]["name"].as_str().unwrap_or_default();
        if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
            causes.push(Cause {
                reason: "FieldValueInvalid".into(),
                message: format!(
                    "Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
                ),
                field: "metadata.name".into(),
            });
        }
        let versions = spec["versions"].as_array().cloned().unwrap_or_default();
        if versions.is_empty() {
            causes.push(Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value: must have exactly one version marked as storage version"
                    .into(),
                field: "spec.versions".into(),
            });
        }
        let mut types = Vec::new();
        for (idx, version) in versions.iter().enumerate() {
            let vname = text(
                &format!("spec.versions[{idx}].name"),
                &version["name"],
                &mut causes,
            );
            if version["served"].as_bool() == Some(false) {
                continue;
            }
            let subresources = &version["subresources"];
            let scale = subresources.get("scale").map(|s| ScaleSpec {
                spec_replicas_path: s["specReplicasPath"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                status_replicas_path: s["statusReplicasPath"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                label_selector_path: s["labelSelectorPath"].as_str().map(str::to_string),
            });
            let printer_columns = version["additionalPrinterColumns"]
                .as_array()
                .map(|cols| {
                    cols.iter()
                        .map(|c| PrinterColumn {
                            name: c["name"].as_str().unwrap_or_default().to_string(),
                            type_: c["type"].as_str().unwrap_or("string").to_string(),
                            format: c["format"].as_str().unwrap_or_default().to_string(),
                            priority: c["priority"].as_i64().unwrap_or(0),
                            json_path: c["jsonPath"].as_str().unwrap_or_default().to_string(),
                            description: c["description"].as_str().unwrap_or_default().to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            types.push(ResourceType {
                group: group.clone(),
                version: vname,
                kind: kind.clone(),
                plural: plural.clone(),
                singular: singular.clone(),
                short_names: strings(&names["shortNames"]),
                categories: strings(&names["categories"]),
                namespaced,
                status_subresource: subresources.get("status").is_some(),
                scale,
                schema: version["schema"].get("openAPIV3Schema").cloned(),
                printer_columns,
                custom: true,
            });
        }
        if causes.is_empty() {
            Ok(types)
        } else {
            Err(causes)
        }
    }
}

/// All kinds currently served, keyed by (group, version, plural).
#[derive(Debug, Clone, Default)]
pub struct Registry {
    types: BTreeMap<(String, String, String), ResourceType>,
}

impl Registry {
    /// The built-in kinds the simulator serves from the start.
    pub fn with_builtins() -> Registry {
        let mut registry = Registry::default();
        for b in BUILTINS {
            registry.insert(ResourceType {
                group: b.group.to_string(),
                version: b.version.to_string(),
                kind: b.kind.to_string(),
                plural: b.plural.to_string(),
                singular: b.kind.to_lowercase(),
                short_names: b.short_names.iter().map(|s| s.to_string()).collect(),
                categories: if b.in_all {
                    vec!["all".to_string()]
                } else {
                    Vec::new()
                },
                namespaced: b.namespaced,
                status_subresource: b.status,
                scale: None,
                schema: None,
                printer_columns: Vec::new(),
                custom: false,
            });
        }
        registry
    }

    /// Adds or replaces a kind.
    pub fn insert(&mut self, rt: ResourceType) {
        self.types.insert(
            (rt.group.clone(), rt.version.clone(), rt.plural.clone()),
            rt,
        );
    }

    /// Removes every version of a custom kind (when its CRD is deleted).
    pub fn remove_group_resource(&mut self, group: &str, plural: &str) {
        self.types
            .retain(|(g, _, p), _| !(g == group && p == plural));
    }

    /// Looks up a kind by URL coordinates.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
    }

    /// Looks up a kind by group and plural at any served version.
    pub fn by_group_resource(&self, group: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .values()
            .find(|rt| rt.group == group && rt.plural == plural)
    }

    /// Looks up a kind by `apiVersion` and `kind`, as found in an object.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceType> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        self.types
            .values()
            .find(|rt| rt.group == group && rt.version == version && rt.kind == kind)
    }

    /// Every served kind, ordered by group, version and plural.
    pub fn iter(&self) -> impl Iterator<Item = &ResourceType> {
        self.types.values()
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    short_names: &'static [&'static str],
    namespaced: bool,
    status: bool,
    in_all: bool,
}

/// A built-in kind lives in a namespace.
const NAMESPACED: u8 = 1;
/// A built-in kind has a `/status` subresource.
const STATUS: u8 = 1 << 1;
/// A built-in kind is in the `all` category (`kubectl get all`).
const IN_ALL: u8 = 1 << 2;

/// One row of [`BUILTINS`]; `traits` is a set of [`NAMESPACED`], [`STATUS`]
/// and [`IN_ALL`], so each row names the traits it has.
const fn builtin(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    short_names: &'static [&'static str],
    traits: u8,
) -> Builtin {
    Builtin {
        group,
        version,
        kind,
        plural,
        short_names,
        namespaced: traits & NAMESPACED != 0,
        status: traits & STATUS != 0,
        in_all: traits & IN_ALL != 0,
    }
}

const BUILTINS: &[Builtin] = &[
    builtin("", "v1", "Namespace", "namespaces", &["ns"], STATUS),
    builtin("", "v1", "Node", "nodes", &["no"], STATUS),
    builtin(
        "",
        "v1",
        "Pod",
        "pods",
        &["po"],
        NAMESPACED | STATUS | IN_ALL,
    ),
    builtin(
        "",
        "v1",
        "Service",
        "services",
        &["svc"],
        NAMESPACED | STATUS | IN_ALL,
    ),
    builtin("", "v1", "ConfigMap", "configmaps", &["cm"], NAMESPACED),
    builtin("", "v1", "Secret", "secrets", &[], NAMESPACED),
    builtin(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        &["sa"],
        NAMESPACED,
    ),
    builtin("", "v1", "Event", "events", &["ev"], NAMESPACED),
    builtin(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        &["pvc"],
        NAMESPACED | STATUS,
    ),
    builtin(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        &["deploy"],
        NAMESPACED | STATUS | IN_ALL,
    ),
    builtin(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        &["rs"],
        NAMESPACED | STATUS | IN_ALL,
    ),
    builtin(
        "batch",
        "v1",
        "Job",
        "jobs",
        &[],
        NAMESPACED | STATUS | IN_ALL,
    ),
    builtin(
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        &["cj"],
        NAMESPACED | STATUS | IN_ALL,
    ),
    builtin(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        &["hpa"],
        NAMESPACED | STATUS | IN_ALL,
    ),
    builtin(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        &[],
        NAMESPACED,
    ),
    builtin(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        &[],
        NAMESPACED,
    ),
    builtin(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        &[],
        NAMESPACED,
    ),
    builtin(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        &[],
        0,
    ),
    builtin(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        &[],
        0,
    ),
    builtin(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        &["crd", "crds"],
        STATUS,
    ),
];
