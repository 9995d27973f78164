//! Who is asking, and may they: bearer-token authentication, impersonation,
//! service-account tokens, the authorization of every request,
//! `SelfSubjectAccessReview` (what `kubectl auth can-i` asks) and
//! `SelfSubjectReview` (`kubectl auth whoami`).
//!
//! Two kinds of token are accepted. The kubeconfig's token is the cluster
//! admin (`kubernetes-admin` in `system:masters`, as a kind or k3d admin
//! kubeconfig is). Service-account tokens come from the `TokenRequest`
//! subresource (`kubectl create token SA`), are JWT-shaped like a real
//! cluster's (so report redaction that knows JWTs catches them) and stay
//! valid while that ServiceAccount (same uid) exists; their
//! `expirationTimestamp` is reported in virtual time but not enforced, since
//! at a high clock speed an hour passes in seconds. The admin may
//! impersonate (`kubectl --as`, `--as-group`), which is how a scenario checks
//! what a service account can do without handling its token.
//!
//! Decisions are [`crate::rbac`]'s; this module turns a request into its
//! [`Attributes`] and a denial into the API server's 403.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use http::{HeaderMap, Method, header};
use serde_json::{Value, json};

use super::{
    reply::Reply,
    request::ApiRequest,
    route::{ResourcePath, Route},
    state::Shared,
};
use crate::{
    error::ApiError,
    rbac::{self, Attributes, MASTERS, UserInfo},
};

/// The user name of the kubeconfig's token.
pub(crate) const ADMIN_USER: &str = "kubernetes-admin";
/// A TokenRequest's default lifetime (the API's default).
const DEFAULT_EXPIRATION_SECONDS: u64 = 3600;

/// The service accounts that issued tokens belong to, by token. Never logged.
#[derive(Default)]
pub(crate) struct IssuedTokens(Mutex<HashMap<String, ServiceAccountRef>>);

/// The ServiceAccount a token was issued for.
#[derive(Clone)]
struct ServiceAccountRef {
    namespace: String,
    name: String,
    uid: String,
}

/// The identity behind the request's bearer token, after impersonation.
pub(crate) fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<UserInfo, ApiError> {
    let token = bearer_token(headers).ok_or_else(ApiError::unauthorized)?;
    let user = if shared.token_matches(token) {
        UserInfo::new(ADMIN_USER, [MASTERS.to_owned()])
    } else {
        service_account_user(shared, token).ok_or_else(ApiError::unauthorized)?
    };
    impersonate(user, headers)
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The service account of an issued token, if it still exists.
fn service_account_user(shared: &Shared, token: &str) -> Option<UserInfo> {
    let account = shared
        .issued_tokens
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(token)
        .cloned()?;
    let exists = shared.with_cluster(|cluster, _| {
        cluster
            .store
            .list("", "serviceaccounts", Some(&account.namespace))
            .any(|sa| {
                sa["metadata"]["name"].as_str() == Some(account.name.as_str())
                    && sa["metadata"]["uid"].as_str() == Some(account.uid.as_str())
            })
    });
    exists.then(|| UserInfo::service_account(&account.namespace, &account.name))
}

/// Applies `Impersonate-User` / `Impersonate-Group`. Only `system:masters`
/// may impersonate here (a real cluster asks RBAC for the `impersonate`
/// verb; the bootstrap policy gives it to no one else either).
fn impersonate(user: UserInfo, headers: &HeaderMap) -> Result<UserInfo, ApiError> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect()
    };
    let users = values("impersonate-user");
    let groups = values("impersonate-group");
    let Some(target) = users.first() else {
        if groups.is_empty() {
            return Ok(user);
        }
        return Err(ApiError::bad_request(
            "requested impersonation of groups without impersonating a user".to_owned(),
        ));
    };
    if !user.is_master() {
        let (resource, namespace, name) = match rbac::service_account_of(target) {
            Some((ns, name)) => ("serviceaccounts", Some(ns.to_owned()), name.to_owned()),
            None => ("users", None, target.clone()),
        };
        let denied = Attributes::Resource {
            verb: "impersonate".to_owned(),
            group: String::new(),
            resource: resource.to_owned(),
            subresource: None,
            namespace,
            name: Some(name),
        };
        return Err(forbidden(&denied, &user));
    }
    Ok(UserInfo::new(target, groups))
}

/// What `route` asks to do, as the API server's request-info resolver
/// names it.
pub(crate) fn attributes(route: &Route, req: &ApiRequest) -> Attributes {
    let Route::Resource(path) = route else {
        return Attributes::NonResource {
            verb: req.method.as_str().to_ascii_lowercase(),
            path: req.path.clone(),
        };
    };
    let named = path.name.is_some();
    let verb = match req.method {
        Method::GET | Method::HEAD if path.legacy_watch || req.query.flag("watch") => "watch",
        Method::GET | Method::HEAD if named => "get",
        Method::GET | Method::HEAD => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "unknown",
    };
    // A namespace is in itself: `/api/v1/namespaces/{ns}` is in `ns`, so a
    // RoleBinding there may grant reading it.
    let namespace = match (&path.namespace, path.group.as_str(), path.plural.as_str()) {
        (None, "", "namespaces") => path.name.clone(),
        _ => path.namespace.clone(),
    };
    Attributes::Resource {
        verb: verb.to_owned(),
        group: path.group.clone(),
        resource: path.plural.clone(),
        subresource: path.subresource.clone(),
        namespace,
        name: path.name.clone(),
    }
}

/// The 403 for a denied request.
pub(crate) fn forbidden(attributes: &Attributes, user: &UserInfo) -> ApiError {
    let mut err = ApiError::forbidden(attributes.forbidden_message(user));
    err.details = attributes.forbidden_details();
    err
}

/// Whether `user` may do what `attributes` describe.
pub(crate) fn allowed(shared: &Shared, user: &UserInfo, attributes: &Attributes) -> bool {
    // `authorize` allows masters too; asking first spares the admin's
    // requests (all of the harness's own) the cluster lock.
    user.is_master()
        || shared.with_cluster(|cluster, _| rbac::authorize(&cluster.store, user, attributes))
}

/// The requests answered here rather than by the object store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthEndpoint {
    /// `POST .../serviceaccounts/{name}/token` (`kubectl create token`).
    TokenRequest,
    /// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`
    /// (`kubectl auth can-i`).
    AccessReview,
    /// `POST /apis/authentication.k8s.io/v1/selfsubjectreviews`
    /// (`kubectl auth whoami`).
    SelfReview,
}

/// Which of the [`AuthEndpoint`]s `path` asks for, if any.
pub(crate) fn endpoint(path: &ResourcePath, method: &Method) -> Option<AuthEndpoint> {
    if method != Method::POST {
        return None;
    }
    let cluster_collection = path.namespace.is_none() && path.name.is_none();
    match (
        path.group.as_str(),
        path.version.as_str(),
        path.plural.as_str(),
    ) {
        ("", "v1", "serviceaccounts") if path.subresource.as_deref() == Some("token") => {
            Some(AuthEndpoint::TokenRequest)
        }
        ("authorization.k8s.io", "v1", "selfsubjectaccessreviews") if cluster_collection => {
            Some(AuthEndpoint::AccessReview)
        }
        ("authentication.k8s.io", "v1", "selfsubjectreviews") if cluster_collection => {
            Some(AuthEndpoint::SelfReview)
        }
        _ => None,
    }
}

/// Who the requester is, after impersonation. The request body carries
/// nothing but the kind, so it is not read (kubectl sends it as protobuf).
pub(crate) fn self_review(user: &UserInfo) -> Reply {
    Reply::json(
        201,
        json!({
            "kind": "SelfSubjectReview",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            "status": {"userInfo": {"username": user.name, "groups": user.groups}},
        }),
    )
}

/// Issues a token for the ServiceAccount the path names.
pub(crate) fn token_request(
    shared: &Shared,
    path: &ResourcePath,
    req: &ApiRequest,
) -> Result<Reply, ApiError> {
    let (Some(namespace), Some(name)) = (path.namespace.as_deref(), path.name.as_deref()) else {
        return Err(ApiError::no_route(&req.path));
    };
    let body = req.json_body()?;
    let spec = &body["spec"];
    let seconds = match &spec["expirationSeconds"] {
        Value::Null => DEFAULT_EXPIRATION_SECONDS,
        value => value
            .as_u64()
            .filter(|s| *s >= 600)
            .ok_or_else(|| {
                invalid(
                    "TokenRequest.authentication.k8s.io",
                    name,
                    &format!("spec.expirationSeconds: Invalid value: {value}: may not specify a duration less than 10 minutes"),
                )
            })?,
    };
    let (uid, now) = shared.with_cluster(|cluster, now| {
        let rt = cluster
            .registry
            .get("", "v1", "serviceaccounts")
            .expect("serviceaccounts are built in")
            .clone();
        let key = crate::store::ObjectKey::new(&rt, namespace, name);
        let account = cluster.store.get_existing(&rt, &key)?;
        Ok::<_, ApiError>((
            account["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            now,
        ))
    })?;
    let user = UserInfo::service_account(namespace, name);
    let expires = now.plus(Duration::from_secs(seconds));
    let token = jwt_shaped(&user.name, expires.0 / 1000)
        .map_err(|err| ApiError::internal(format!("could not generate a token: {err}")))?;
    shared
        .issued_tokens
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(
            token.clone(),
            ServiceAccountRef {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                uid,
            },
        );
    Ok(Reply::json(
        201,
        json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": null},
            "spec": {
                "audiences": spec["audiences"].as_array().cloned().unwrap_or_default(),
                "expirationSeconds": seconds,
                "boundObjectRef": spec["boundObjectRef"].clone(),
            },
            "status": {"token": token, "expirationTimestamp": expires.rfc3339()},
        }),
    ))
}

/// Answers whether the requesting user may do what the review describes.
pub(crate) fn access_review(
    shared: &Shared,
    user: &UserInfo,
    req: &ApiRequest,
) -> Result<Reply, ApiError> {
    let mut review = req.json_body()?;
    let spec = &review["spec"];
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let optional = |value: &Value| value.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let attributes = if let Some(resource) = spec.get("resourceAttributes") {
        Attributes::Resource {
            verb: text(&resource["verb"]),
            group: text(&resource["group"]),
            resource: text(&resource["resource"]),
            subresource: optional(&resource["subresource"]),
            namespace: optional(&resource["namespace"]),
            name: optional(&resource["name"]),
        }
    } else if let Some(non_resource) = spec.get("nonResourceAttributes") {
        Attributes::NonResource {
            verb: text(&non_resource["verb"]),
            path: text(&non_resource["path"]),
        }
    } else {
        return Err(invalid(
            "SelfSubjectAccessReview.authorization.k8s.io",
            "",
            "spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ));
    };
    let allowed = allowed(shared, user, &attributes);
    review["status"] = if allowed {
        json!({"allowed": true, "reason": "allowed by RBAC"})
    } else {
        json!({"allowed": false})
    };
    review["kind"] = json!("SelfSubjectAccessReview");
    review["apiVersion"] = json!("authorization.k8s.io/v1");
    Ok(Reply::json(201, review))
}

/// A 422 about a kind the simulator does not store.
fn invalid(group_kind: &str, name: &str, cause: &str) -> ApiError {
    ApiError {
        code: 422,
        reason: "Invalid".to_owned(),
        message: format!("{group_kind} \"{name}\" is invalid: {cause}"),
        details: None,
    }
}

/// A token shaped like a Kubernetes service-account JWT (header, claims,
/// signature), whose signature part is 32 random bytes: it is only ever
/// looked up, never verified.
fn jwt_shaped(subject: &str, expires_at: i64) -> std::io::Result<String> {
    let header = base64url(br#"{"alg":"RS256","kid":"harness-sim"}"#);
    let claims = json!({"iss": "https://kubernetes.default.svc.cluster.local", "sub": subject, "exp": expires_at});
    let claims = base64url(claims.to_string().as_bytes());
    let signature = base64url(&super::random_bytes()?);
    Ok(format!("{header}.{claims}.{signature}"))
}

/// Unpadded base64url, as JWTs use.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_the_rfc_4648_vectors_without_padding() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64url(input.as_bytes()), expected, "{input:?}");
        }
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn a_token_looks_like_a_jwt_and_is_never_the_same_twice() {
        let a = jwt_shaped("system:serviceaccount:ns:sa", 1).unwrap();
        let b = jwt_shaped("system:serviceaccount:ns:sa", 1).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("eyJ"), "{a}");
        assert_eq!(a.split('.').count(), 3, "{a}");
    }
}
