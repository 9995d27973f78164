//! The simulator's API over real HTTPS, driven with a raw HTTP/1.1 client:
//! authentication, discovery, CRUD status codes and messages, admission,
//! patches, tables, watches, subresources, namespace and CRD deletion, the
//! clock endpoint and the controller driver.

mod common;

use std::time::Duration;

use common::{Client, ORIGIN, Watch, eventually, start, start_cluster, widget_crd};
use harness_sim::{
    clock::SimTime,
    cluster::{Cluster, Controller, Ctx},
    store::{ObjectKey, Store},
};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
const AGGREGATED: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
const WIDGETS: &str = "/apis/example.com/v1/namespaces/default/widgets";
const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

async fn with_widgets(client: &Client) {
    let resp = client
        .post(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            &widget_crd(),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", String::from_utf8_lossy(&resp.body));
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_request_but_health_needs_the_token() {
    let sim = start(1.0).await;
    let client = Client::new(&sim);
    for anonymous in [client.anonymous(), client.with_token("wrong")] {
        let resp = anonymous.get("/version").await;
        assert_eq!(resp.status, 401);
        assert_eq!(resp.json()["reason"], "Unauthorized");
        assert_eq!(anonymous.get("/api/v1/namespaces").await.status, 401);
    }
    let health = client.anonymous().get("/readyz").await;
    assert_eq!((health.status, &health.body[..]), (200, &b"ok"[..]));
    let version = client.get("/version").await.json();
    assert_eq!(version["major"], "1");
    let text = std::fs::read_to_string(&sim.kubeconfig).unwrap();
    assert!(
        text.contains("current-context: harness-sim")
            && text.contains("certificate-authority-data")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&sim.kubeconfig)
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
}

#[tokio::test]
async fn discovery_follows_crds_in_both_forms() {
    let sim = start(1.0).await;
    let client = Client::new(&sim);
    let groups = client.get_as("/apis", AGGREGATED).await;
    assert!(
        groups.content_type.contains("as=APIGroupDiscoveryList"),
        "{}",
        groups.content_type
    );
    let has_example = |v: &Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["metadata"]["name"] == "example.com")
    };
    assert!(!has_example(&groups.json()));
    assert_eq!(client.get("/apis/example.com/v1").await.status, 404);

    with_widgets(&client).await;
    let groups = client.get_as("/apis", AGGREGATED).await.json();
    assert!(has_example(&groups));
    let legacy = client.get("/apis").await.json();
    assert_eq!(legacy["kind"], "APIGroupList");
    assert!(
        legacy["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "example.com")
    );
    let resources = client.get("/apis/example.com/v1").await.json();
    let listed: Vec<&str> = resources["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(listed, ["widgets", "widgets/status", "widgets/scale"]);
    assert_eq!(resources["resources"][0]["shortNames"], json!(["wd"]));
    let core = client.get_as("/api", AGGREGATED).await.json();
    assert_eq!(core["items"][0]["versions"][0]["version"], "v1");

    let crd = client
        .delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
        .await;
    assert_eq!(crd.status, 200);
    eventually(WAIT, "the widgets kind to disappear", || async {
        (client.get("/apis/example.com/v1").await.status == 404).then_some(())
    })
    .await;
}

#[tokio::test]
async fn openapi_documents_follow_crd_changes() {
    let sim = start(1.0).await;
    let client = Client::new(&sim);
    with_widgets(&client).await;
    let url = |index: &Value| {
        index["paths"]["apis/example.com/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let before = url(&client.get("/openapi/v3").await.json());
    let doc = client.get(&before).await.json();
    let patch =
        &doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"];
    assert!(
        patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation")
    );
    assert_eq!(
        doc["components"]["schemas"]["com.example.v1.Widget"]["properties"]["spec"]["properties"]["color"]
            ["enum"][0],
        "red"
    );
    let changed = client
        .patch(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
            "application/merge-patch+json",
            r#"{"metadata":{"labels":{"touched":"yes"}}}"#,
        )
        .await;
    assert_eq!(changed.status, 200);
    let after = url(&client.get("/openapi/v3").await.json());
    assert_ne!(
        before, after,
        "a changed CRD gets a new document hash, so clients refetch it"
    );
    assert_eq!(
        url(&client.get("/openapi/v3").await.json()),
        after,
        "the hash is stable otherwise"
    );
    let v2 = client
        .get_as(
            "/openapi/v2",
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
        )
        .await;
    assert_eq!((v2.status, v2.body.len()), (200, 0));
    assert_eq!(
        v2.content_type,
        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    );
}

#[tokio::test]
async fn crud_answers_with_kubernetes_status_objects() {
    let sim = start(1.0).await;
    let client = Client::new(&sim);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}});
    let created = client.post(CONFIGMAPS, &cm).await;
    assert_eq!(created.status, 201);
    let created = created.json();
    assert_eq!(created["metadata"]["namespace"], "default");
    assert_eq!(created["metadata"]["creationTimestamp"], ORIGIN.rfc3339());

    let dup = client.post(CONFIGMAPS, &cm).await;
    assert_eq!(dup.status, 409);
    assert_eq!(
        (
            dup.json()["reason"].as_str(),
            dup.json()["message"].as_str()
        ),
        (
            Some("AlreadyExists"),
            Some("configmaps \"a\" already exists")
        )
    );
    let missing = client.get(&format!("{CONFIGMAPS}/nope")).await;
    assert_eq!(
        (missing.status, missing.json()["message"].as_str()),
        (404, Some("configmaps \"nope\" not found"))
    );
    assert_eq!(client.get("/api/v1/nothings").await.status, 404);

    let mut stale = created.clone();
    stale["data"]["k"] = json!("w");
    assert_eq!(
        client.put(&format!("{CONFIGMAPS}/a"), &stale).await.status,
        200
    );
    let conflict = client.put(&format!("{CONFIGMAPS}/a"), &stale).await;
    assert_eq!(
        (conflict.status, conflict.json()["reason"].as_str()),
        (409, Some("Conflict"))
    );

    let list = client.get(CONFIGMAPS).await.json();
    assert_eq!(list["kind"], "ConfigMapList");
    assert_eq!(names(&list), ["a"]);
    let rv: u64 = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv > 1);

    let dry = client
        .post(
            &format!("{CONFIGMAPS}?dryRun=All"),
            &json!({"metadata": {"name": "dry"}}),
        )
        .await;
    assert_eq!(dry.status, 201);
    assert_eq!(
        client.get(&format!("{CONFIGMAPS}/dry")).await.status,
        404,
        "dry runs store nothing"
    );

    let yaml = client
        .send_body(
            "POST",
            CONFIGMAPS,
            "application/yaml",
            b"metadata:\n  name: from-yaml\n".to_vec(),
        )
        .await;
    assert_eq!(yaml.status, 201);

    let deleted = client.delete(&format!("{CONFIGMAPS}/a")).await;
    assert_eq!(
        (deleted.status, deleted.json()["status"].as_str()),
        (200, Some("Success"))
    );
    assert_eq!(client.delete(&format!("{CONFIGMAPS}/a")).await.status, 404);
    assert_eq!(
        client
            .get_as(CONFIGMAPS, "application/vnd.kubernetes.protobuf")
            .await
            .status,
        406
    );
    let protobuf = client
        .send_body(
            "POST",
            CONFIGMAPS,
            "application/vnd.kubernetes.protobuf",
            b"k8s\0".to_vec(),
        )
        .await;
    assert_eq!(
        (protobuf.status, protobuf.json()["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );
}

#[tokio::test]
async fn finalizers_hold_objects_until_removed() {
    let sim = start(1.0).await;
    let client = Client::new(&sim);
    client
        .post(
            CONFIGMAPS,
            &json!({"metadata": {"name": "f", "finalizers": ["example.com/hold"]}}),
        )
        .await;
    let pending = client.delete(&format!("{CONFIGMAPS}/f")).await.json();
    assert!(pending["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(client.get(&format!("{CONFIGMAPS}/f")).await.status, 200);
    let released = client
        .patch(
            &format!("{CONFIGMAPS}/f"),
            "application/merge-patch+json",
            r#"{"metadata":{"finalizers":null}}"#,
        )
        .await;
    assert_eq!(released.status, 200);
    assert_eq!(client.get(&format!("{CONFIGMAPS}/f")).await.status, 404);
}

#[tokio::test]
async fn custom_resources_are_validated_pruned_and_webhook_free_on_status() {
    let sim = start(1.0).await;
    let client = Client::new(&sim);
    with_widgets(&client).await;
    let bad = client.post(WIDGETS, &json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"color": "pink"}})).await;
    assert_eq!(bad.status, 422);
    let status = bad.json();
    assert_eq!(
        status["message"],
        "Widget.example.com \"w\" is invalid: spec.color: Unsupported value: \"pink\": supported values: \"red\", \"green\", \"blue\""
    );
    assert_eq!(status["details"]["causes"][0]["field"], "spec.color");

    let typed = client
        .post(
            WIDGETS,
            &json!({"metadata": {"name": "w"}, "spec": {"size": "big"}}),
        )
        .await;
    assert_eq!(
        typed.json()["message"],
        "Widget.example.com \"w\" is invalid: spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\""
    );

    let body = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"color": "red", "shape": "round"}});
    let strict = client
        .post(&format!("{WIDGETS}?fieldValidation=Strict"), &body)
        .await;
    assert_eq!(strict.status, 400);
    assert_eq!(
        strict.json()["message"],
        "Widget in version \"v1\" cannot be handled as a Widget: strict decoding error: unknown field \"spec.shape\""
    );

    let warned = client.post(WIDGETS, &body).await;
    assert_eq!(warned.status, 201);
    assert_eq!(warned.warnings, [r#"299 - "unknown field \"spec.shape\"""#]);
    assert!(warned.json()["spec"].get("shape").is_none());

    let status_write = client
        .patch(
            &format!("{WIDGETS}/w/status"),
            "application/merge-patch+json",
            r#"{"status":{"phase":"Ready"},"spec":{"color":"blue"}}"#,
        )
        .await;
    assert_eq!(status_write.status, 200);
    let stored = client.get(&format!("{WIDGETS}/w")).await.json();
    assert_eq!(
        (
            stored["status"]["phase"].as_str(),
            stored["spec"]["color"].as_str()
        ),
        (Some("Ready"), Some("red"))
    );
    assert_eq!(
        stored["metadata"]["generation"], 1,
        "status writes leave the generation alone"
    );
}

#[tokio::test]
async fn patch_types_and_their_errors() {
    let sim = start(1.0).await;
    let client = Client::new(&sim);
    with_widgets(&client).await;
    client
        .post(
            WIDGETS,
            &json!({"metadata": {"name": "w"}, "spec": {"color": "red", "size": 1}}),
        )
        .await;
    let merged = client
        .patch(
            &format!("{WIDGETS}/w"),
            "application/merge-patch+json",
            r#"{"spec":{"size":2}}"#,
        )
        .await
        .json();
    assert_eq!(
        (
            merged["spec"]["size"].as_i64(),
            merged["metadata"]["generation"].as_i64()
        ),
        (Some(2), Some(2))
    );
    let jsonp = client
        .patch(
            &format!("{WIDGETS}/w"),
            "application/json-patch+json",
            r#"[{"op":"replace","path":"/spec/color","value":"blue"}]"#,
        )
        .await;
    assert_eq!(jsonp.json()["spec"]["color"], "blue");
    let smp = client
        .patch(
            &format!("{WIDGETS}/w"),
            "application/strategic-merge-patch+json",
            r#"{"spec":{"size":3}}"#,
        )
        .await;
    assert_eq!(smp.status, 415);
    assert!(smp.json()["message"].as_str().unwrap().contains(
        "accepted media types include: application/json-patch+json, application/merge-patch+json"
    ));
    let invalid = client
        .patch(
            &format!("{WIDGETS}/w"),
            "application/merge-patch+json",
            r#"{"spec":{"color":"pink"}}"#,
        )
        .await;
    assert_eq!(invalid.status, 422);
    assert_eq!(
        client
            .patch(
                &format!("{WIDGETS}/none"),
                "application/merge-patch+json",
                "{}"
            )
            .await
            .status,
        404
    );
    assert_eq!(
        client
            .patch(
                &format!("{WIDGETS}/w"),
                "application/merge-patch+json",
                "not json"
            )
            .await
            .status,
        400
    );

    let deploy = json!({"metadata": {"name": "d"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
        "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "app", "image": "app:1"}, {"name": "side", "image": "side:1"}]}}}});
    assert_eq!(
        client
            .post("/apis/apps/v1/namespaces/default/deployments", &deploy)
            .await
            .status,
        201
    );
    let patched = client
        .patch(
            "/apis/apps/v1/namespaces/default/deployments/d",
            "application/strategic-merge-patch+json",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"app:2"}]}}}}"#,
        )
        .await
        .json();
    let containers = &patched["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        (
            containers[0]["image"].as_str(),
            containers[1]["name"].as_str()
        ),
        (Some("app:2"), Some("side"))
    );

    let scale = client
        .get("/apis/apps/v1/namespaces/default/deployments/d/scale")
        .await
        .json();
    assert_eq!(
        (scale["kind"].as_str(), scale["status"]["selector"].as_str()),
        (Some("Scale"), Some("app=d"))
    );
    let scaled = client
        .patch(
            "/apis/apps/v1/namespaces/default/deployments/d/scale",
            "application/merge-patch+json",
            r#"{"spec":{"replicas":5}}"#,
        )
        .await;
    assert_eq!(scaled.json()["spec"]["replicas"], 5);
    let widget_scale = client
        .patch(
            &format!("{WIDGETS}/w/scale"),
            "application/merge-patch+json",
            r#"{"spec":{"replicas":3}}"#,
        )
        .await;
    assert_eq!(widget_scale.status, 200);
    assert_eq!(
        client.get(&format!("{WIDGETS}/w")).await.json()["spec"]["replicas"],
        3
    );
}

#[tokio::test]
async fn tables_use_printer_columns_and_builtin_printers() {
    let sim = start(1.0).await;
    let client = Client::new(&sim);
    with_widgets(&client).await;
    client
        .post(
            WIDGETS,
            &json!({"metadata": {"name": "w"}, "spec": {"color": "green"}}),
        )
        .await;
    client
        .patch(
            &format!("{WIDGETS}/w/status"),
            "application/merge-patch+json",
            r#"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}"#,
        )
        .await;
    let table = client.get_as(WIDGETS, TABLE).await.json();
    assert_eq!(table["kind"], "Table");
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        columns,
        ["Name", "Color", "Phase", "Ready"],
        "declared columns replace AGE"
    );
    assert_eq!(
        table["rows"][0]["cells"],
        json!(["w", "green", "Running", "True"])
    );
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    let with_object = client
        .get_as(&format!("{WIDGETS}?includeObject=Object"), TABLE)
        .await
        .json();
    assert_eq!(with_object["rows"][0]["object"]["spec"]["color"], "green");
    let single = client.get_as(&format!("{WIDGETS}/w"), TABLE).await.json();
    assert_eq!(single["rows"].as_array().unwrap().len(), 1);

    client.post("/api/v1/namespaces/default/pods", &json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})).await;
    let pods = client
        .get_as("/api/v1/namespaces/default/pods", TABLE)
        .await
        .json();
    let columns: Vec<&str> = pods["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["priority"] == 0)
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(columns, ["Name", "Ready", "Status", "Restarts", "Age"]);
    assert_eq!(pods["rows"][0]["cells"][1], "0/1");

    let partial = client
        .get_as(
            CONFIGMAPS,
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
        )
        .await
        .json();
    assert_eq!(partial["kind"], "PartialObjectMetadataList");
}

async fn create_cm(client: &Client, name: &str, labels: Value) -> Value {
    client
        .post(
            CONFIGMAPS,
            &json!({"metadata": {"name": name, "labels": labels}}),
        )
        .await
        .json()
}

fn event_summary(event: &Value) -> (String, String) {
    (
        event["type"].as_str().unwrap_or_default().to_string(),
        event["object"]["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

#[tokio::test]
async fn watches_start_resume_and_expire() {
    let sim = start(1.0).await;
    let client = Client::new(&sim);
    create_cm(&client, "before", json!({})).await;
    let mut watch = client
        .watch(&format!("{CONFIGMAPS}?watch=true"), "application/json")
        .await;
    let first = watch.next(WAIT).await.expect("initial event");
    assert_eq!(event_summary(&first), ("ADDED".into(), "before".into()));

    let created = create_cm(&client, "live", json!({})).await;
    client
        .patch(
            &format!("{CONFIGMAPS}/live"),
            "application/merge-patch+json",
            r#"{"data":{"a":"b"}}"#,
        )
        .await;
    client.delete(&format!("{CONFIGMAPS}/live")).await;
    let events = watch.until(WAIT, |e| e["type"] == "DELETED").await;
    let summary: Vec<(String, String)> = events.iter().map(event_summary).collect();
    assert_eq!(
        summary,
        [
            ("ADDED".into(), "live".into()),
            ("MODIFIED".into(), "live".into()),
            ("DELETED".into(), "live".into())
        ]
    );

    // Resuming from the creation's resourceVersion replays what came after.
    let rv = created["metadata"]["resourceVersion"].as_str().unwrap();
    let mut resumed = client
        .watch(
            &format!("{CONFIGMAPS}?watch=1&resourceVersion={rv}"),
            "application/json",
        )
        .await;
    let replay = resumed.until(WAIT, |e| e["type"] == "DELETED").await;
    assert_eq!(
        replay
            .iter()
            .map(event_summary)
            .map(|(t, _)| t)
            .collect::<Vec<_>>(),
        ["MODIFIED", "DELETED"]
    );

    let mut named = client
        .watch(
            &format!("{CONFIGMAPS}?watch=1&fieldSelector=metadata.name%3Dother&timeoutSeconds=1"),
            "application/json",
        )
        .await;
    create_cm(&client, "noise", json!({})).await;
    create_cm(&client, "other", json!({})).await;
    let only = named.next(WAIT).await.expect("the named object's event");
    assert_eq!(event_summary(&only), ("ADDED".into(), "other".into()));
    assert!(
        named.next(WAIT).await.is_none(),
        "timeoutSeconds ends the stream"
    );
}

#[tokio::test]
async fn watch_from_lost_history_gets_410() {
    let mut cluster = Cluster::new(7, ORIGIN);
    let ns = cluster
        .registry
        .get("", "v1", "namespaces")
        .unwrap()
        .clone();
    cluster.store = Store::with_history(4);
    cluster
        .store
        .create(
            &ns,
            "",
            json!({"metadata": {"name": "default"}}),
            ORIGIN,
            &mut cluster.rng,
        )
        .unwrap();
    let sim = start_cluster(cluster, 1.0).await;
    let client = Client::new(&sim);
    for i in 0..8 {
        create_cm(&client, &format!("c{i}"), json!({})).await;
    }
    let mut watch = client
        .watch(
            &format!("{CONFIGMAPS}?watch=1&resourceVersion=2"),
            "application/json",
        )
        .await;
    let error = watch.next(WAIT).await.expect("an error event");
    assert_eq!(error["type"], "ERROR");
    assert_eq!(
        (
            error["object"]["code"].as_i64(),
            error["object"]["reason"].as_str()
        ),
        (Some(410), Some("Expired"))
    );
    assert!(
        watch.next(WAIT).await.is_none(),
        "the stream ends after the error"
    );
}

#[tokio::test]
async fn selector_watches_report_objects_entering_and_leaving() {
    let sim = start(1.0).await;
    let client = Client::new(&sim);
    let mut watch = client
        .watch(
            &format!("{CONFIGMAPS}?watch=true&labelSelector=app%3Dx"),
            "application/json",
        )
        .await;
    create_cm(&client, "m", json!({"app": "x"})).await;
    create_cm(&client, "n", json!({"app": "y"})).await;
    client
        .patch(
            &format!("{CONFIGMAPS}/m"),
            "application/merge-patch+json",
            r#"{"metadata":{"labels":{"app":"y"}}}"#,
        )
        .await;
    client
        .patch(
            &format!("{CONFIGMAPS}/n"),
            "application/merge-patch+json",
            r#"{"metadata":{"labels":{"app":"x"}}}"#,
        )
        .await;
    let events = watch
        .until(WAIT, |e| e["object"]["metadata"]["name"] == "n")
        .await;
    let summary: Vec<(String, String)> = events.iter().map(event_summary).collect();
    assert_eq!(
        summary,
        [
            ("ADDED".into(), "m".into()),
            ("DELETED".into(), "m".into()),
            ("ADDED".into(), "n".into())
        ]
    );
}

#[tokio::test]
async fn bookmarks_initial_and_periodic() {
    let sim = start(1.0).await;
    let client = Client::new(&sim);
    create_cm(&client, "a", json!({})).await;
    let mut watch: Watch = client
        .watch(&format!("{CONFIGMAPS}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"), "application/json")
        .await;
    let events = watch.until(WAIT, |e| e["type"] == "BOOKMARK").await;
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    let periodic = watch
        .next(Duration::from_secs(10))
        .await
        .expect("a periodic bookmark");
    assert_eq!(periodic["type"], "BOOKMARK");
    assert_eq!(periodic["object"]["kind"], "ConfigMap");
}

#[tokio::test]
async fn table_watches_send_one_row_per_event() {
    let sim = start(1.0).await;
    let client = Client::new(&sim);
    let mut watch = client.watch(&format!("{CONFIGMAPS}?watch=1"), TABLE).await;
    create_cm(&client, "t", json!({})).await;
    let event = watch.next(WAIT).await.expect("event");
    assert_eq!(event["object"]["kind"], "Table");
    assert_eq!(event["object"]["rows"][0]["cells"][0], "t");
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_content() {
    let mut cluster = Cluster::new(7, ORIGIN);
    cluster.add_controller(Box::new(
        harness_sim::controllers::namespace::NamespaceController,
    ));
    let sim = start_cluster(cluster, 1.0).await;
    let client = Client::new(&sim);
    assert_eq!(
        client
            .post(
                "/api/v1/namespaces",
                &json!({"metadata": {"name": "gone"}, "spec": {"finalizers": ["kubernetes"]}})
            )
            .await
            .status,
        201
    );
    client
        .post(
            "/api/v1/namespaces/gone/configmaps",
            &json!({"metadata": {"name": "c"}}),
        )
        .await;
    let deleted = client.delete("/api/v1/namespaces/gone").await;
    assert_eq!(
        (deleted.status, deleted.json()["status"]["phase"].as_str()),
        (200, Some("Terminating"))
    );
    eventually(WAIT, "the namespace to disappear", || async {
        (client.get("/api/v1/namespaces/gone").await.status == 404).then_some(())
    })
    .await;
    assert_eq!(
        client
            .get("/api/v1/namespaces/gone/configmaps/c")
            .await
            .status,
        404
    );
    assert_eq!(
        client.delete("/api/v1/namespaces/default").await.status,
        403
    );
}

#[tokio::test]
async fn clock_endpoint_reports_virtual_time() {
    let sim = start(120.0).await;
    let client = Client::new(&sim);
    let clock = client.get("/sim/v1/clock").await.json();
    assert_eq!(clock["speed"], 120.0);
    let now = clock["nowMillis"].as_i64().unwrap();
    assert!(now >= ORIGIN.0, "{now}");
    assert_eq!(
        SimTime::parse_rfc3339(clock["now"].as_str().unwrap()).map(|t| t.0 / 1000),
        Some(now / 1000)
    );
    assert_eq!(client.anonymous().get("/sim/v1/clock").await.status, 401);
}

/// Creates ConfigMap `fired` once virtual time passes `at`, and mirrors
/// ConfigMap `src` into `dst` whenever it changes.
struct TestController {
    at: SimTime,
}

impl Controller for TestController {
    fn name(&self) -> &'static str {
        "test-controller"
    }

    fn reconcile(&mut self, ctx: &mut Ctx<'_>) -> Option<SimTime> {
        let cm = ctx.registry.get("", "v1", "configmaps").unwrap().clone();
        if let Some(src) = ctx
            .store
            .get(&ObjectKey::new(&cm, "default", "src"))
            .cloned()
        {
            let dst_key = ObjectKey::new(&cm, "default", "dst");
            let body = json!({"metadata": {"name": "dst"}, "data": src["data"].clone()});
            match ctx.store.get(&dst_key) {
                None => {
                    let _ = ctx.store.create(&cm, "default", body, ctx.now, ctx.rng);
                }
                Some(_) => {
                    let _ = ctx.store.update(
                        &cm,
                        &dst_key,
                        body,
                        harness_sim::store::Subresource::Main,
                        ctx.now,
                    );
                }
            }
        }
        if ctx.now < self.at {
            return Some(self.at);
        }
        let fired = ObjectKey::new(&cm, "default", "fired");
        if ctx.store.get(&fired).is_none() {
            let body = json!({"metadata": {"name": "fired"}, "data": {"at": ctx.now.rfc3339()}});
            let _ = ctx.store.create(&cm, "default", body, ctx.now, ctx.rng);
        }
        None
    }
}

#[tokio::test]
async fn the_driver_steps_controllers_on_writes_and_timers() {
    let mut cluster = Cluster::new(7, ORIGIN);
    // One virtual hour ahead: at speed 3600 that is about one real second.
    cluster.add_controller(Box::new(TestController {
        at: ORIGIN.plus(Duration::from_secs(3600)),
    }));
    let sim = start_cluster(cluster, 3600.0).await;
    let client = Client::new(&sim);
    client
        .post(
            CONFIGMAPS,
            &json!({"metadata": {"name": "src"}, "data": {"v": "1"}}),
        )
        .await;
    eventually(WAIT, "the controller to mirror src", || async {
        let dst = client.get(&format!("{CONFIGMAPS}/dst")).await;
        (dst.status == 200 && dst.json()["data"]["v"] == "1").then_some(())
    })
    .await;
    let fired = eventually(WAIT, "the timer to fire", || async {
        let resp = client.get(&format!("{CONFIGMAPS}/fired")).await;
        (resp.status == 200).then(|| resp.json())
    })
    .await;
    let at = SimTime::parse_rfc3339(fired["data"]["at"].as_str().unwrap()).unwrap();
    assert!(
        at >= ORIGIN.plus(Duration::from_secs(3600)),
        "fired at {}",
        at.rfc3339()
    );
    let via_handle = sim.with_cluster(|c, _| c.store.resource_version());
    assert!(via_handle > 1);
    sim.shutdown().await;
}

/// Panics when a ConfigMap named `boom` exists: a stand-in for a controller
/// bug that a request can trigger.
struct PanicsOnBoom;

impl Controller for PanicsOnBoom {
    fn name(&self) -> &'static str {
        "panics-on-boom"
    }

    fn reconcile(&mut self, ctx: &mut Ctx<'_>) -> Option<SimTime> {
        let rt = ctx.registry.get("", "v1", "configmaps").unwrap().clone();
        if ctx
            .store
            .get(&ObjectKey::new(&rt, "default", "boom"))
            .is_some()
        {
            panic!("boom is not allowed");
        }
        None
    }
}

#[tokio::test]
async fn a_panicking_controller_makes_every_request_a_500_naming_it() {
    let mut cluster = Cluster::new(7, ORIGIN);
    cluster.add_controller(Box::new(PanicsOnBoom));
    let sim = start_cluster(cluster, 1.0).await;
    let client = Client::new(&sim);
    assert_eq!(client.get("/readyz").await.status, 200);
    let created = client
        .post(CONFIGMAPS, &json!({"metadata": {"name": "boom"}}))
        .await;
    assert_eq!(created.status, 201);
    let failed = eventually(WAIT, "requests to fail once the driver stopped", || async {
        let resp = client.get(CONFIGMAPS).await;
        (resp.status == 500).then(|| resp.json())
    })
    .await;
    assert_eq!(failed["reason"], "InternalError");
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("controllers stopped") && message.contains("boom is not allowed"),
        "{message}"
    );
    assert_eq!(client.get("/readyz").await.status, 500);
    sim.shutdown().await;
}

#[tokio::test]
async fn built_in_kinds_are_decoded_strictly_and_deployments_validated() {
    let sim = start(1.0).await;
    let client = Client::new(&sim);
    let number = client
        .post(
            CONFIGMAPS,
            &json!({"metadata": {"name": "n"}, "data": {"port": 8080}}),
        )
        .await;
    assert_eq!(number.status, 400);
    assert_eq!(
        number.json()["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
    );

    const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";
    let deployment = |labels: Value, container: Value| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                        "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}})
    };
    let container = json!({"name": "c", "image": "busybox"});
    let typo = client
        .post(&format!("{DEPLOYMENTS}?fieldValidation=Strict"), &{
            let mut d = deployment(json!({"app": "d"}), container.clone());
            d["spec"]["replica"] = json!(2);
            d
        })
        .await;
    assert_eq!(typo.status, 400);
    assert!(
        typo.json()["message"]
            .as_str()
            .unwrap()
            .ends_with("strict decoding error: unknown field \"spec.replica\""),
        "{}",
        typo.json()
    );
    let mismatch = client
        .post(
            DEPLOYMENTS,
            &deployment(json!({"app": "other"}), container.clone()),
        )
        .await;
    assert_eq!(mismatch.status, 422);
    assert_eq!(
        mismatch.json()["message"],
        "Deployment.apps \"d\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`"
    );
    let good = client
        .post(DEPLOYMENTS, &deployment(json!({"app": "d"}), container))
        .await;
    assert_eq!(good.status, 201, "{}", String::from_utf8_lossy(&good.body));
    sim.shutdown().await;
}
