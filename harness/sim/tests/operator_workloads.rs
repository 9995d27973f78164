//! The built-in workload controllers as pure state machines: a Deployment
//! becomes a ReplicaSet and Pods that the kubelet stand-in starts, status is
//! summed up, deletion cascades, and an idle cluster does not churn.

mod operator_support;

use harness_sim::{
    cluster::Cluster,
    controllers::{self, kubelet::KubeletConfig},
    store::ObjectKey,
};
use operator_support::{Sim, T0, secs, yaml};
use serde_json::{Value, json};

fn cluster_with_nodes(nodes: usize) -> Sim {
    let mut cluster = Cluster::new(11, T0);
    for controller in controllers::standard_controllers(KubeletConfig::realistic()) {
        cluster.add_controller(controller);
    }
    let node_type = cluster.registry.get("", "v1", "nodes").unwrap().clone();
    for i in 0..nodes {
        let node = controllers::kubelet::node_manifest(&format!("node-{i}"), i, "8", "32Gi", T0);
        cluster
            .store
            .create(&node_type, "", node, T0, &mut cluster.rng)
            .unwrap();
    }
    Sim::with(cluster)
}

fn web(replicas: u32, image: &str) -> Value {
    yaml(&format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: main
        image: {image}
"#
    ))
}

#[test]
fn deployment_creates_owned_replicaset_and_pods_that_become_ready() {
    let config = KubeletConfig::realistic();
    let mut sim = cluster_with_nodes(1);
    let deployment = sim.create("default", web(2, "nginx:1.27")).unwrap();

    let sets = sim.list("apps", "replicasets", "default");
    assert_eq!(sets.len(), 1);
    let rs = &sets[0];
    let rs_name = rs["metadata"]["name"].as_str().unwrap();
    let hash = rs["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap();
    assert_eq!(rs_name, format!("web-{hash}"));
    assert_eq!(
        rs["metadata"]["ownerReferences"][0]["uid"],
        deployment["metadata"]["uid"]
    );
    assert_eq!(rs["metadata"]["ownerReferences"][0]["controller"], true);

    let pods = sim.pods("default", &[("app", "web")]);
    assert_eq!(pods.len(), 2);
    for pod in &pods {
        let name = pod["metadata"]["name"].as_str().unwrap();
        let suffix = name
            .strip_prefix(&format!("{rs_name}-"))
            .expect("pod named after its ReplicaSet");
        assert_eq!(suffix.len(), 5);
        assert_eq!(
            pod["metadata"]["ownerReferences"][0]["uid"],
            rs["metadata"]["uid"]
        );
        assert_eq!(pod["status"]["phase"], "Pending");
    }

    // Both pods share one node: one of them pulls the image; the other waits
    // for that pull, so both run once it is done.
    let expected_running = T0.plus(config.schedule + config.cold_pull + config.container_start);
    sim.run_until(expected_running);
    for pod in sim.pods("default", &[("app", "web")]) {
        assert_eq!(pod["status"]["phase"], "Running", "{pod:#}");
        assert_eq!(pod["spec"]["nodeName"], "node-0");
        assert_eq!(pod["status"]["containerStatuses"][0]["ready"], true);
        assert_eq!(
            pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"],
            expected_running.rfc3339()
        );
        assert!(
            pod["status"]["podIP"]
                .as_str()
                .unwrap()
                .starts_with("10.42.0.")
        );
        let ready = pod["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(ready["status"], "True");
        let name = pod["metadata"]["name"].as_str().unwrap();
        let reasons: Vec<String> = sim
            .events_about("default", name)
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        assert_eq!(
            reasons,
            ["Scheduled", "Pulling", "Pulled", "Created", "Started"],
            "{name}"
        );
    }
    let deployment = sim.get("apps", "deployments", "default", "web").unwrap();
    let status = &deployment["status"];
    assert_eq!(
        (
            status["replicas"].as_i64(),
            status["readyReplicas"].as_i64(),
            status["availableReplicas"].as_i64()
        ),
        (Some(2), Some(2), Some(2))
    );
    assert_eq!(status["updatedReplicas"], 2);
    assert_eq!(status["observedGeneration"], 1);
    let conditions = status["conditions"].as_array().unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c["type"] == "Available" && c["status"] == "True")
    );
    assert!(
        conditions
            .iter()
            .any(|c| c["type"] == "Progressing" && c["reason"] == "NewReplicaSetAvailable")
    );
    assert!(sim.has_event("default", "web", "ScalingReplicaSet"));
}

#[test]
fn idle_cluster_does_not_churn() {
    let mut sim = cluster_with_nodes(2);
    sim.create("default", web(3, "nginx:1.27")).unwrap();
    sim.run_for(secs(120));
    let rv = sim.rv();
    assert_eq!(
        sim.cluster.step(sim.now),
        None,
        "nothing is scheduled once everything runs"
    );
    sim.cluster.step(sim.now);
    assert_eq!(
        sim.rv(),
        rv,
        "stepping twice at the same time changes nothing"
    );
    sim.run_for(secs(3600));
    assert_eq!(sim.rv(), rv, "an hour later nothing has changed either");
}

#[test]
fn cached_images_start_without_a_pull() {
    let config = KubeletConfig::realistic();
    let mut sim = cluster_with_nodes(1);
    sim.create("default", web(1, "nginx:1.27")).unwrap();
    sim.run_for(secs(60));
    sim.patch("apps", "deployments", "default", "web", |d| {
        d["spec"]["replicas"] = json!(2)
    })
    .unwrap();
    let start = sim.now;
    let newest = sim
        .pods("default", &[("app", "web")])
        .into_iter()
        .max_by_key(|p| {
            p["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .unwrap();
    let name = newest["metadata"]["name"].as_str().unwrap().to_string();
    sim.run_for(config.schedule + config.container_start);
    let pod = sim.get("", "pods", "default", &name).unwrap();
    assert_eq!(
        pod["status"]["phase"], "Running",
        "no pull delay the second time"
    );
    let pulled = sim
        .events_about("default", &name)
        .into_iter()
        .find(|(r, _)| r == "Pulled")
        .unwrap();
    assert_eq!(
        pulled.1,
        "Container image \"nginx:1.27\" already present on machine"
    );
    assert!(sim.now >= start);
}

#[test]
fn deleting_a_deployment_cascades_to_replicasets_and_pods() {
    let mut sim = cluster_with_nodes(1);
    sim.create("default", web(2, "nginx:1.27")).unwrap();
    sim.run_for(secs(30));
    assert_eq!(sim.pods("default", &[("app", "web")]).len(), 2);
    sim.delete("apps", "deployments", "default", "web");
    assert!(sim.list("apps", "replicasets", "default").is_empty());
    assert!(sim.pods("default", &[("app", "web")]).is_empty());
    assert!(
        sim.has_event("default", "web", "ScalingReplicaSet"),
        "events outlive their object, as in Kubernetes"
    );
}

#[test]
fn template_change_rolls_out_a_new_replicaset() {
    let mut sim = cluster_with_nodes(1);
    sim.create("default", web(1, "nginx:1.27")).unwrap();
    sim.run_for(secs(60));
    let old_rs = sim.list("apps", "replicasets", "default")[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    sim.patch("apps", "deployments", "default", "web", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.28")
    })
    .unwrap();
    sim.run_for(secs(60));
    let sets = sim.list("apps", "replicasets", "default");
    assert_eq!(sets.len(), 2, "the old ReplicaSet is kept for history");
    let old = sets
        .iter()
        .find(|rs| rs["metadata"]["name"] == old_rs.as_str())
        .unwrap();
    let new = sets
        .iter()
        .find(|rs| rs["metadata"]["name"] != old_rs.as_str())
        .unwrap();
    assert_eq!(old["spec"]["replicas"], 0);
    assert_eq!(new["spec"]["replicas"], 1);
    assert_eq!(
        new["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
    let pods = sim.pods("default", &[("app", "web")]);
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0]["spec"]["containers"][0]["image"], "nginx:1.28");
    let deployment = sim.get("apps", "deployments", "default", "web").unwrap();
    assert_eq!(
        deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
    assert_eq!(deployment["status"]["observedGeneration"], 2);
}

#[test]
fn pods_without_nodes_are_unschedulable_until_a_node_appears() {
    let mut sim = cluster_with_nodes(0);
    sim.create("default", web(1, "nginx:1.27")).unwrap();
    sim.run_for(secs(30));
    let pod = sim.pods("default", &[("app", "web")]).pop().unwrap();
    assert_eq!(pod["status"]["conditions"][0]["reason"], "Unschedulable");
    let name = pod["metadata"]["name"].as_str().unwrap().to_string();
    assert!(sim.has_event("default", &name, "FailedScheduling"));
    let node_type = sim.rt("", "v1", "nodes");
    let node = controllers::kubelet::node_manifest("late-node", 0, "8", "32Gi", sim.now);
    sim.cluster
        .store
        .create(&node_type, "", node, sim.now, &mut sim.cluster.rng)
        .unwrap();
    sim.run_for(secs(60));
    let pod = sim.get("", "pods", "default", &name).unwrap();
    assert_eq!(pod["status"]["phase"], "Running");
    assert_eq!(pod["spec"]["nodeName"], "late-node");
}

#[test]
fn orphans_are_collected_and_namespaces_take_their_contents() {
    let mut sim = cluster_with_nodes(1);
    let ns_type = sim.rt("", "v1", "namespaces");
    sim.cluster
        .store
        .create(
            &ns_type,
            "",
            json!({"metadata": {"name": "team"}}),
            sim.now,
            &mut sim.cluster.rng,
        )
        .unwrap();
    let cm = sim
        .create(
            "team",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}),
        )
        .unwrap();
    let owner_ref = json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": cm["metadata"]["uid"]}]);
    sim.create("team", json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dependent", "ownerReferences": owner_ref}}))
        .unwrap();
    sim.create(
        "team",
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "loose"}}),
    )
    .unwrap();
    assert!(
        sim.get("", "configmaps", "team", "dependent").is_some(),
        "an owned object stays while its owner exists"
    );
    sim.delete("", "configmaps", "team", "owner");
    assert!(
        sim.get("", "configmaps", "team", "dependent").is_none(),
        "the orphan is collected"
    );
    sim.delete("", "namespaces", "", "team");
    let secret_type = sim.rt("", "v1", "secrets");
    assert!(
        sim.cluster
            .store
            .get(&ObjectKey::new(&secret_type, "team", "loose"))
            .is_none()
    );
}

#[test]
fn repeated_events_raise_the_count_instead_of_adding_objects() {
    use harness_sim::{
        cluster::Ctx,
        controllers::events::{self, EventRecord, EventType},
    };
    let mut sim = cluster_with_nodes(0);
    let cm = sim
        .create(
            "default",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "subject"}}),
        )
        .unwrap();
    let record = |sim: &mut Sim, event: &EventRecord| {
        let cluster = &mut sim.cluster;
        let mut ctx = Ctx {
            registry: &cluster.registry,
            store: &mut cluster.store,
            rng: &mut cluster.rng,
            now: sim.now,
        };
        events::record(&mut ctx, &cm, event).unwrap()
    };
    let kube = EventRecord::kubernetes(
        EventType::Warning,
        "BackOff",
        "Back-off restarting".into(),
        "kubelet",
    )
    .host("node-1");
    let first = record(&mut sim, &kube);
    assert!(
        first["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("subject.")
    );
    assert_eq!(
        (
            first["count"].as_i64(),
            first["reportingComponent"].as_str(),
            first["source"]["host"].as_str()
        ),
        (Some(1), Some("kubelet"), Some("node-1"))
    );
    assert!(first["eventTime"].is_null());
    assert_eq!(first["involvedObject"]["uid"], cm["metadata"]["uid"]);
    sim.now = sim.now.plus(std::time::Duration::from_secs(30));
    let second = record(&mut sim, &kube);
    assert_eq!(second["metadata"]["name"], first["metadata"]["name"]);
    assert_eq!(second["count"], 2);
    assert_eq!(second["firstTimestamp"], first["firstTimestamp"]);
    assert_eq!(second["lastTimestamp"], sim.now.rfc3339());
    let other = record(
        &mut sim,
        &EventRecord::kubernetes(
            EventType::Warning,
            "BackOff",
            "another message".into(),
            "kubelet",
        ),
    );
    assert_ne!(
        other["metadata"]["name"], first["metadata"]["name"],
        "a different message is a different event"
    );

    let named = EventRecord::named(
        EventType::Normal,
        "Submit",
        "Starting deployment".into(),
        "JobManagerDeployment",
        "JobManagerDeployment.42".into(),
    );
    record(&mut sim, &named);
    let again = record(&mut sim, &named);
    assert_eq!(
        (again["metadata"]["name"].as_str(), again["count"].as_i64()),
        (Some("JobManagerDeployment.42"), Some(2))
    );
    assert_eq!(
        again["reportingComponent"], "",
        "the operator's client leaves it empty"
    );
    assert_eq!(sim.list("", "events", "default").len(), 3);
}

#[test]
fn pods_beyond_the_namespace_quota_are_refused_with_failed_create() {
    use harness_sim::controllers::{
        deployment::DeploymentController, gc::GarbageCollector, kubelet::Kubelet,
        namespace::NamespaceController, replicaset::ReplicaSetController,
    };
    const QUOTA: usize = 7;
    let mut cluster = Cluster::new(11, T0);
    cluster.add_controller(Box::new(NamespaceController));
    cluster.add_controller(Box::new(GarbageCollector));
    cluster.add_controller(Box::new(DeploymentController));
    cluster.add_controller(Box::new(ReplicaSetController { pod_quota: QUOTA }));
    cluster.add_controller(Box::new(Kubelet::new(KubeletConfig::realistic())));
    let mut sim = Sim::with(cluster);
    // A Java-int parallelism can ask for ~2^31 TaskManagers; the simulator
    // stops at its quota instead of running out of memory.
    sim.create("default", web(u32::MAX, "nginx:1.27")).unwrap();
    assert_eq!(sim.pods("default", &[("app", "web")]).len(), QUOTA);
    let rs = sim.list("apps", "replicasets", "default").pop().unwrap();
    let condition = &rs["status"]["conditions"][0];
    assert_eq!(condition["type"], "ReplicaFailure");
    assert_eq!(condition["reason"], "FailedCreate");
    let name = rs["metadata"]["name"].as_str().unwrap().to_string();
    let message = format!(
        "pods \"{name}-\" is forbidden: exceeded quota: harness-sim-pods, requested: pods=1, used: pods={QUOTA}, limited: pods={QUOTA}"
    );
    assert_eq!(condition["message"], message.as_str());
    // Reported once, not again on every later pass.
    sim.run_for(secs(60));
    let refusals: Vec<_> = sim
        .event_objects("default", &name)
        .into_iter()
        .filter(|e| e["reason"] == "FailedCreate")
        .map(|e| (e["message"].clone(), e["count"].clone()))
        .collect();
    assert_eq!(
        refusals,
        [(json!(format!("Error creating: {message}")), json!(1))]
    );
}
