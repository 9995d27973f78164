//! The simulator driven by the `kube` client the harness uses: connecting
//! from the kubeconfig (TLS with the simulator's CA, bearer token), typed
//! and dynamic CRUD, legacy and aggregated discovery, merge and server-side
//! apply patches, the status and scale subresources, watches and API errors.
//! These tests live in the harness crate because harness-sim does not depend
//! on kube.

use std::time::Duration;

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use harness_sim::{
    api::{SimConfig, SimHandle, serve},
    clock::SimTime,
    cluster::Cluster,
};
use k8s_openapi::{
    api::core::v1::{ConfigMap, Namespace},
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client, Config, Discovery, ResourceExt,
    api::{
        DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
        WatchEvent, WatchParams,
    },
    config::{KubeConfigOptions, Kubeconfig},
};
use serde_json::json;

const ORIGIN: SimTime = SimTime(1_730_800_000_000);

async fn served() -> anyhow::Result<(SimHandle, Client)> {
    let sim = serve(
        Cluster::new(5, ORIGIN),
        SimConfig {
            speed: 1.0,
            kubeconfig: None,
            origin: Some(ORIGIN),
        },
    )
    .await?;
    let kubeconfig = Kubeconfig::read_from(&sim.kubeconfig)?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok((sim, Client::try_from(config)?))
}

fn widget_crd() -> anyhow::Result<CustomResourceDefinition> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"color": {"type": "string", "enum": ["red", "blue"]}, "replicas": {"type": "integer"}}},
                    "status": {"type": "object", "properties": {"phase": {"type": "string"}, "replicas": {"type": "integer"}}}}}}}]
        }
    }))?)
}

fn api_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

#[tokio::test]
async fn kube_typed_and_dynamic_apis_work_against_the_simulator() -> anyhow::Result<()> {
    let (_sim, client) = served().await?;
    let version = client.apiserver_version().await?;
    assert_eq!(
        (version.major.as_str(), version.minor.as_str()),
        ("1", "32")
    );

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(|n| n.name_any())
        .collect();
    assert!(names.contains(&"default".to_string()), "{names:?}");

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &widget_crd()?).await?;
    let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
    for discovery in [
        Discovery::new(client.clone()).run().await?,
        Discovery::new(client.clone()).run_aggregated().await?,
    ] {
        let (resource, caps) = discovery
            .resolve_gvk(&gvk)
            .context("Widget is discoverable")?;
        assert_eq!(resource.plural, "widgets");
        assert!(
            caps.subresources
                .iter()
                .any(|(sub, _)| sub.plural == "widgets/status" || sub.plural == "status"),
            "{caps:?}"
        );
    }
    let (resource, _) = kube::discovery::pinned_kind(&client, &gvk).await?;
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);

    let mut events = widgets
        .watch(&WatchParams::default().timeout(10), "0")
        .await?
        .boxed();
    let created: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"color": "red"}
    }))?;
    widgets.create(&PostParams::default(), &created).await?;
    match tokio::time::timeout(Duration::from_secs(10), events.try_next()).await?? {
        Some(WatchEvent::Added(obj)) => assert_eq!(obj.name_any(), "w"),
        other => anyhow::bail!("expected ADDED, got {other:?}"),
    }

    let patched = widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"color": "blue"}})),
        )
        .await?;
    assert_eq!(patched.data["spec"]["color"], "blue");
    let applied = widgets
        .patch("applied", &PatchParams::apply("harness-test"), &Patch::Apply(json!({
            "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "applied"}, "spec": {"color": "red"}
        })))
        .await?;
    assert_eq!(
        applied.data["spec"]["color"], "red",
        "server-side apply creates"
    );
    let status = widgets
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Running", "replicas": 2}})),
        )
        .await?;
    assert_eq!(status.data["status"]["phase"], "Running");
    let scale = widgets.get_scale("w").await?;
    assert_eq!(scale.status.map(|s| s.replicas), Some(2));
    widgets
        .patch_scale(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await?;
    assert_eq!(widgets.get("w").await?.data["spec"]["replicas"], 4);

    let invalid = widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"color": "pink"}})),
        )
        .await
        .unwrap_err();
    assert_eq!(api_code(&invalid), Some(422), "{invalid}");
    assert_eq!(
        api_code(&widgets.get("missing").await.unwrap_err()),
        Some(404)
    );
    assert_eq!(
        api_code(
            &widgets
                .create(&PostParams::default(), &created)
                .await
                .unwrap_err()
        ),
        Some(409)
    );

    widgets.delete("w", &DeleteParams::default()).await?;
    let mut saw_delete = false;
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_secs(10), events.try_next()).await?
    {
        if let WatchEvent::Deleted(obj) = event {
            assert_eq!(obj.name_any(), "w");
            saw_delete = true;
            break;
        }
    }
    assert!(saw_delete, "the watch reports the deletion");

    let configmaps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    for (name, app) in [("a", "x"), ("b", "y")] {
        let cm: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": name, "labels": {"app": app}}, "data": {"k": "v"}}),
        )?;
        configmaps.create(&PostParams::default(), &cm).await?;
    }
    let selected = configmaps
        .list(&ListParams::default().labels("app=x"))
        .await?;
    assert_eq!(
        selected
            .items
            .iter()
            .map(|c| c.name_any())
            .collect::<Vec<_>>(),
        ["a"]
    );
    let paged = configmaps.list(&ListParams::default().limit(1)).await?;
    assert_eq!(paged.items.len(), 1);
    assert!(paged.metadata.continue_.is_some());
    Ok(())
}
