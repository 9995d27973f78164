//! Service-account identities and RBAC over real HTTPS: a token from the
//! `TokenRequest` subresource, decisions from Roles and bindings as they are
//! at the moment of the request, the API server's 403 texts, impersonation
//! by the admin only, `SelfSubjectAccessReview`, and tokens that die with
//! their ServiceAccount.

mod common;

use common::{Client, start};
use serde_json::{Value, json};

const SA_USER: &str = "system:serviceaccount:flink:flink";

/// Namespace `flink`, ServiceAccount `flink` and a Role like the Flink
/// operator chart's `flink` role (pods; one ConfigMap and the namespace
/// read-only), bound to it.
async fn flink_service_account(admin: &Client) {
    let created = [
        (
            "/api/v1/namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flink"}}),
        ),
        (
            "/api/v1/namespaces/flink/serviceaccounts",
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "flink"}}),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/namespaces/flink/roles",
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "flink"},
                "rules": [
                    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "create", "delete"]},
                    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["flink-config"]},
                    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]},
                ],
            }),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/namespaces/flink/rolebindings",
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "flink-role-binding"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "flink"},
                "subjects": [{"kind": "ServiceAccount", "name": "flink"}],
            }),
        ),
    ];
    for (path, body) in created {
        let resp = admin.post(path, &body).await;
        assert_eq!(
            resp.status,
            201,
            "{path}: {}",
            String::from_utf8_lossy(&resp.body)
        );
    }
}

async fn token(admin: &Client, expiration_seconds: Option<u64>) -> (u16, Value) {
    let body = json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"audiences": [], "expirationSeconds": expiration_seconds},
    });
    let resp = admin
        .post(
            "/api/v1/namespaces/flink/serviceaccounts/flink/token",
            &body,
        )
        .await;
    (resp.status, resp.json())
}

/// The status code and message of a GET.
async fn get(client: &Client, path: &str) -> (u16, String) {
    let resp = client.get(path).await;
    let message = resp.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (resp.status, message)
}

async fn can_i(client: &Client, attributes: Value) -> bool {
    let review = json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    });
    let resp = client
        .post(
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            &review,
        )
        .await;
    assert_eq!(resp.status, 201, "{}", String::from_utf8_lossy(&resp.body));
    resp.json()["status"]["allowed"]
        .as_bool()
        .expect("status.allowed")
}

#[tokio::test]
async fn a_service_account_may_do_what_its_role_allows_and_nothing_else() {
    let sim = start(1.0).await;
    let admin = Client::new(&sim);
    flink_service_account(&admin).await;
    let (status, request) = token(&admin, None).await;
    assert_eq!(status, 201, "{request}");
    let token = request["status"]["token"].as_str().expect("status.token");
    assert!(
        token.starts_with("eyJ") && token.split('.').count() == 3,
        "JWT-shaped: {token}"
    );
    assert_eq!(request["spec"]["expirationSeconds"], 3600);
    let sa = admin.with_token(token);

    // Allowed by the Role, in its namespace.
    assert_eq!(get(&sa, "/api/v1/namespaces/flink/pods").await.0, 200);
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "tm-1"},
        "spec": {"containers": [{"name": "flink", "image": "flink:1.20"}]}});
    assert_eq!(
        sa.post("/api/v1/namespaces/flink/pods", &pod).await.status,
        201
    );
    // A namespace is in itself: the RoleBinding in `flink` lets it read `flink`.
    assert_eq!(get(&sa, "/api/v1/namespaces/flink").await.0, 200);
    // Discovery is open to every authenticated identity.
    assert_eq!(get(&sa, "/api").await.0, 200);
    assert_eq!(get(&sa, "/version").await.0, 200);

    // Denied, with the API server's own words.
    let denied = [
        (
            "/api/v1/namespaces/default/pods",
            format!(
                "pods is forbidden: User \"{SA_USER}\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
            ),
        ),
        (
            "/apis/apps/v1/namespaces/flink/deployments/jm",
            format!(
                "deployments.apps \"jm\" is forbidden: User \"{SA_USER}\" cannot get resource \"deployments\" in API group \"apps\" in the namespace \"flink\""
            ),
        ),
        (
            "/api/v1/namespaces",
            format!(
                "namespaces is forbidden: User \"{SA_USER}\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope"
            ),
        ),
        (
            "/api/v1/namespaces/default",
            format!(
                "namespaces \"default\" is forbidden: User \"{SA_USER}\" cannot get resource \"namespaces\" in API group \"\" in the namespace \"default\""
            ),
        ),
        (
            "/api/v1/namespaces/flink/pods/tm-1/status",
            format!(
                "pods \"tm-1\" is forbidden: User \"{SA_USER}\" cannot get resource \"pods/status\" in API group \"\" in the namespace \"flink\""
            ),
        ),
        (
            "/api/v1/namespaces/flink/configmaps?watch=true",
            format!(
                "configmaps is forbidden: User \"{SA_USER}\" cannot watch resource \"configmaps\" in API group \"\" in the namespace \"flink\""
            ),
        ),
        (
            "/api/v1/namespaces/flink/configmaps/other",
            format!(
                "configmaps \"other\" is forbidden: User \"{SA_USER}\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"flink\""
            ),
        ),
    ];
    for (path, message) in denied {
        assert_eq!(get(&sa, path).await, (403, message), "{path}");
    }
    let resp = sa.get("/api/v1/namespaces/default/pods").await.json();
    assert_eq!(resp["reason"], "Forbidden");
    assert_eq!(resp["details"]["kind"], "pods");
    // resourceNames: the one ConfigMap it names is readable (404: absent, not 403).
    assert_eq!(
        get(&sa, "/api/v1/namespaces/flink/configmaps/flink-config")
            .await
            .0,
        404
    );
    assert_eq!(
        sa.delete("/api/v1/namespaces/flink/pods/tm-1").await.status,
        200,
        "delete is granted"
    );

    // What `kubectl auth can-i` asks.
    assert!(
        can_i(
            &sa,
            json!({"namespace": "flink", "verb": "watch", "resource": "pods"})
        )
        .await
    );
    assert!(
        !can_i(
            &sa,
            json!({"namespace": "flink", "verb": "update", "resource": "pods"})
        )
        .await
    );
    assert!(
        !can_i(
            &sa,
            json!({"namespace": "default", "verb": "list", "resource": "pods"})
        )
        .await
    );
    assert!(can_i(&admin, json!({"verb": "*", "group": "*", "resource": "*"})).await);

    // Bindings are read at each request: removing it takes the right away.
    let binding =
        "/apis/rbac.authorization.k8s.io/v1/namespaces/flink/rolebindings/flink-role-binding";
    assert_eq!(admin.delete(binding).await.status, 200);
    assert_eq!(get(&sa, "/api/v1/namespaces/flink/pods").await.0, 403);
    // A ClusterRoleBinding grants everywhere.
    let view = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "flink-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "flink", "namespace": "flink"}],
    });
    let resp = admin
        .post(
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            &view,
        )
        .await;
    assert_eq!(resp.status, 201);
    assert_eq!(get(&sa, "/api/v1/namespaces/default/pods").await.0, 200);

    // The token dies with its ServiceAccount.
    assert_eq!(
        admin
            .delete("/api/v1/namespaces/flink/serviceaccounts/flink")
            .await
            .status,
        200
    );
    assert_eq!(get(&sa, "/version").await.0, 401);
}

#[tokio::test]
async fn only_the_admin_may_impersonate_and_tokens_need_a_service_account() {
    let sim = start(1.0).await;
    let admin = Client::new(&sim);
    flink_service_account(&admin).await;
    let as_sa = [
        ("accept", "application/json"),
        ("impersonate-user", SA_USER),
    ];
    let resp = admin
        .request("GET", "/api/v1/namespaces/default/pods", &as_sa, Vec::new())
        .await;
    assert_eq!(
        resp.status, 403,
        "impersonated: the service account's rights"
    );
    let resp = admin
        .request("GET", "/api/v1/namespaces/flink/pods", &as_sa, Vec::new())
        .await;
    assert_eq!(resp.status, 200);
    let as_group = [
        ("accept", "application/json"),
        ("impersonate-user", "jane"),
        ("impersonate-group", "system:masters"),
    ];
    let resp = admin
        .request("GET", "/api/v1/namespaces", &as_group, Vec::new())
        .await;
    assert_eq!(resp.status, 200, "groups are impersonated too");

    let (_, request) = token(&admin, None).await;
    let sa = admin.with_token(request["status"]["token"].as_str().unwrap());
    let as_admin = [
        ("accept", "application/json"),
        ("impersonate-user", "kubernetes-admin"),
    ];
    let resp = sa
        .request("GET", "/api/v1/namespaces", &as_admin, Vec::new())
        .await;
    assert_eq!(resp.status, 403);
    assert_eq!(
        resp.json()["message"],
        format!(
            "users \"kubernetes-admin\" is forbidden: User \"{SA_USER}\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
        )
    );

    let (status, short) = token(&admin, Some(60)).await;
    assert_eq!(status, 422, "{short}");
    assert!(
        short["message"]
            .as_str()
            .unwrap()
            .contains("less than 10 minutes"),
        "{short}"
    );
    let token_of = |client: &Client, account: &str| {
        let (client, path) = (
            client.clone(),
            format!("/api/v1/namespaces/flink/serviceaccounts/{account}/token"),
        );
        async move {
            let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}});
            client.post(&path, &body).await
        }
    };
    let resp = token_of(&admin, "nobody").await;
    assert_eq!(resp.status, 404);
    assert_eq!(
        resp.json()["message"],
        "serviceaccounts \"nobody\" not found"
    );
    // Without a grant, a service account cannot mint tokens either.
    let resp = token_of(&sa, "flink").await;
    assert_eq!(resp.status, 403);
    assert_eq!(
        resp.json()["message"],
        format!(
            "serviceaccounts \"flink\" is forbidden: User \"{SA_USER}\" cannot create resource \"serviceaccounts/token\" in API group \"\" in the namespace \"flink\""
        )
    );
}

#[tokio::test]
async fn the_bootstrap_policy_is_there_to_read() {
    let sim = start(1.0).await;
    let admin = Client::new(&sim);
    let roles = admin
        .get("/apis/rbac.authorization.k8s.io/v1/clusterroles")
        .await
        .json();
    let names: Vec<&str> = roles["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["metadata"]["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["cluster-admin", "system:basic-user", "system:discovery"]
    );
}
