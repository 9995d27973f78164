//! What `standard_cluster` contains: the operator's CRDs served as the Helm
//! chart installs them, the release namespace with its service accounts, the
//! operator pod running, and three Ready nodes.

mod operator_support;

use operator_support::{Sim, secs};

#[test]
fn the_flinkdeployment_crd_is_served_with_its_columns_and_subresources() {
    let sim = Sim::standard();
    let rt = sim.rt("flink.apache.org", "v1beta1", "flinkdeployments");
    assert_eq!(
        (rt.kind.as_str(), rt.namespaced, rt.status_subresource),
        ("FlinkDeployment", true, true)
    );
    assert_eq!(rt.short_names, ["flinkdep"]);
    let scale = rt.scale.as_ref().expect("scale subresource");
    assert_eq!(scale.spec_replicas_path, ".spec.taskManager.replicas");
    assert_eq!(scale.status_replicas_path, ".status.taskManager.replicas");
    assert_eq!(
        scale.label_selector_path.as_deref(),
        Some(".status.taskManager.labelSelector")
    );
    let columns: Vec<(&str, &str)> = rt
        .printer_columns
        .iter()
        .map(|c| (c.name.as_str(), c.json_path.as_str()))
        .collect();
    assert_eq!(
        columns,
        [
            ("Job Status", ".status.jobStatus.state"),
            ("Lifecycle State", ".status.lifecycleState")
        ]
    );
    let schema = rt.schema.as_ref().expect("schema");
    let spec = &schema["properties"]["spec"]["properties"];
    let versions = spec["flinkVersion"]["enum"].as_array().unwrap();
    assert_eq!(
        (
            versions.first().and_then(|v| v.as_str()),
            versions.last().and_then(|v| v.as_str())
        ),
        (Some("v1_13"), Some("v2_4"))
    );
    assert_eq!(
        spec["job"]["properties"]["upgradeMode"]["enum"],
        serde_json::json!(["savepoint", "last-state", "stateless"])
    );
    assert_eq!(
        spec["flinkConfiguration"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    assert!(
        !schema.to_string().contains("\"required\""),
        "like the real CRD, no required lists"
    );
    let session = sim.rt("flink.apache.org", "v1beta1", "flinksessionjobs");
    assert_eq!(session.short_names, ["sessionjob"]);
}

#[test]
fn the_helm_release_namespace_and_operator_pod_exist() {
    let mut sim = Sim::standard();
    for account in ["flink", "flink-operator"] {
        assert!(
            sim.get("", "serviceaccounts", "flink-operator-system", account)
                .is_some(),
            "{account}"
        );
    }
    assert!(
        sim.get(
            "",
            "configmaps",
            "flink-operator-system",
            "flink-operator-config"
        )
        .is_some()
    );
    let nodes = sim.list("", "nodes", "");
    assert_eq!(nodes.len(), 3);
    sim.run_for(secs(60));
    let pods = sim.pods(
        "flink-operator-system",
        &[("app.kubernetes.io/name", "flink-kubernetes-operator")],
    );
    assert_eq!(pods.len(), 1);
    let statuses = pods[0]["status"]["containerStatuses"].as_array().unwrap();
    assert_eq!(statuses.len(), 2, "operator and webhook containers");
    assert!(statuses.iter().all(|c| c["ready"] == true), "{statuses:?}");
}

#[test]
fn the_charts_rbac_lets_each_service_account_do_its_job_and_no_more() {
    use harness_sim::rbac::{Attributes, UserInfo, authorize};
    let sim = Sim::standard();
    let can = |user: &UserInfo, verb: &str, group: &str, resource: &str, namespace: &str| {
        let (resource, subresource) = match resource.split_once('/') {
            Some((r, s)) => (r, Some(s.to_owned())),
            None => (resource, None),
        };
        let attributes = Attributes::Resource {
            verb: verb.to_owned(),
            group: group.to_owned(),
            resource: resource.to_owned(),
            subresource,
            namespace: Some(namespace.to_owned()),
            name: None,
        };
        authorize(&sim.cluster.store, user, &attributes)
    };
    let operator = UserInfo::service_account("flink-operator-system", "flink-operator");
    let job = UserInfo::service_account("flink-operator-system", "flink");
    // The operator (a ClusterRoleBinding) reconciles everywhere.
    for namespace in ["flink-operator-system", "team-a"] {
        assert!(can(
            &operator,
            "update",
            "flink.apache.org",
            "flinkdeployments/status",
            namespace
        ));
        assert!(can(&operator, "create", "apps", "deployments", namespace));
        assert!(can(&operator, "delete", "", "pods", namespace));
    }
    assert!(!can(
        &operator,
        "create",
        "rbac.authorization.k8s.io",
        "roles",
        "team-a"
    ));
    // The JobManager's account (a RoleBinding) manages TaskManager pods in
    // its own namespace only: a job moved to another namespace needs its own.
    assert!(can(&job, "create", "", "pods", "flink-operator-system"));
    assert!(!can(&job, "create", "", "pods", "team-a"));
    assert!(!can(&job, "get", "", "secrets", "flink-operator-system"));
}
