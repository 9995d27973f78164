//! Request dispatch: route, method and subresource to the handler, all
//! synchronous under the cluster lock. Watches are validated here and
//! streamed by the server.

use http::Method;
use serde_json::{Value, json};

use super::{
    auth::{self, AuthEndpoint},
    discovery, openapi, read,
    reply::Reply,
    request::{ApiRequest, Representation, negotiate},
    route::{self, ResourcePath, Route},
    scale,
    state::Shared,
    watch::WatchRequest,
    write::{self, Origin, Target, WriteOptions, Written},
};
use crate::{
    clock::SimTime, cluster::Cluster, error::ApiError, rbac::UserInfo, resource::ResourceType,
    store::ObjectKey,
};

/// What the server should send.
pub(crate) enum Outcome {
    /// A complete response.
    Reply(Reply),
    /// A watch stream (boxed: it is much larger than a reply).
    Watch(Box<WatchRequest>),
}

impl From<Reply> for Outcome {
    fn from(reply: Reply) -> Outcome {
        Outcome::Reply(reply)
    }
}

impl From<ApiError> for Outcome {
    fn from(err: ApiError) -> Outcome {
        Outcome::Reply(err.into())
    }
}

/// Handles one request: `user` is who it authenticated as (`None` only for
/// the open health checks), and RBAC decides first whether they may.
pub(crate) fn handle(shared: &Shared, req: &ApiRequest, user: Option<&UserInfo>) -> Outcome {
    let route = route::parse(&req.path);
    if let Some(user) = user {
        let attributes = auth::attributes(&route, req);
        if !auth::allowed(shared, user, &attributes) {
            return auth::forbidden(&attributes, user).into();
        }
    }
    // `/openapi/v2` and the health checks have their own media types.
    let negotiated = match route {
        Route::OpenApiV2 | Route::Health => Some(Representation::Json),
        _ => negotiate(&req.accept),
    };
    let Some(repr) = negotiated else {
        return ApiError {
            code: 406,
            reason: "NotAcceptable".into(),
            message:
                "only the following media types are accepted: application/json, application/yaml"
                    .into(),
            details: None,
        }
        .into();
    };
    if !matches!(route, Route::Resource(_))
        && req.method != Method::GET
        && req.method != Method::HEAD
    {
        return ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({})",
            req.path
        ))
        .into();
    }
    match route {
        Route::Health => {
            let mut reply = Reply::ok(Value::Null).with_content_type("text/plain; charset=utf-8");
            reply.body = super::reply::Body::Raw("ok".into());
            reply.into()
        }
        Route::Version => discovery::version().into(),
        Route::Clock => {
            let now = shared.clock.now();
            Reply::ok(json!({"now": now.rfc3339_micros(), "nowMillis": now.0, "speed": shared.clock.speed()})).into()
        }
        Route::CoreGroup => shared
            .with_cluster(|c, _| discovery::core_group(&c.registry, &repr))
            .into(),
        Route::Groups => shared
            .with_cluster(|c, _| discovery::groups(&c.registry, &repr))
            .into(),
        Route::Group(group) => shared
            .with_cluster(|c, _| discovery::group(&c.registry, &group, &req.path))
            .into(),
        Route::GroupVersion { group, version } => shared
            .with_cluster(|c, _| discovery::group_version(&c.registry, &group, &version, &req.path))
            .into(),
        Route::OpenApiV2 => openapi::v2(&req.accept).into(),
        Route::OpenApiV3Index => shared
            .with_cluster(|c, _| openapi::v3_index(&c.registry, &c.store))
            .into(),
        Route::OpenApiV3 { group, version } => shared
            .with_cluster(|c, _| openapi::v3_document(&c.registry, &group, &version, &req.path))
            .into(),
        Route::Resource(path) => match (auth::endpoint(&path, &req.method), user) {
            (Some(AuthEndpoint::TokenRequest), _) => {
                auth::token_request(shared, &path, req).map_or_else(Outcome::from, Outcome::from)
            }
            (Some(AuthEndpoint::SelfReview), Some(user)) => auth::self_review(user).into(),
            (Some(AuthEndpoint::AccessReview), Some(user)) => {
                auth::access_review(shared, user, req).map_or_else(Outcome::from, Outcome::from)
            }
            (Some(_), None) => ApiError::unauthorized().into(),
            (None, _) => shared.with_cluster(|cluster, now| {
                resource(cluster, now, req, &path, &repr).unwrap_or_else(Outcome::from)
            }),
        },
        Route::Unknown => ApiError::no_route(&req.path).into(),
    }
}

fn written(written: Written) -> Outcome {
    Reply::json(written.status, written.object)
        .with_warnings(written.warnings)
        .into()
}

/// The DeleteOptions body of a DELETE, if any.
fn delete_options(req: &ApiRequest) -> Result<Value, ApiError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        Ok(Value::Null)
    } else {
        req.json_body()
    }
}

fn resource(
    cluster: &mut Cluster,
    now: SimTime,
    req: &ApiRequest,
    path: &ResourcePath,
    repr: &Representation,
) -> Result<Outcome, ApiError> {
    let no_route = || ApiError::no_route(&req.path);
    let rt: ResourceType = cluster
        .registry
        .get(&path.group, &path.version, &path.plural)
        .cloned()
        .ok_or_else(no_route)?;
    if path.namespace.is_some() && !rt.namespaced {
        return Err(no_route());
    }
    let namespace = path.namespace.clone().unwrap_or_default();
    // Writes and single-object reads of namespaced kinds need a namespace.
    let object_path_ok = !rt.namespaced || path.namespace.is_some();
    let query = &req.query;
    let watching = path.legacy_watch || query.flag("watch");

    let Some(name) = path.name.clone() else {
        return match req.method {
            Method::GET | Method::HEAD => {
                let selection = read::Selection::from_query(&rt, path.namespace.clone(), query)?;
                if watching {
                    let include = read::include_object(query)?;
                    return Ok(Outcome::Watch(Box::new(WatchRequest::from_query(
                        rt,
                        selection,
                        None,
                        query,
                        repr.clone(),
                        include,
                    )?)));
                }
                Ok(read::list(&cluster.store, &rt, &selection, repr, query, now)?.into())
            }
            Method::POST if object_path_ok => {
                let opts = WriteOptions::from_query(query)?;
                Ok(written(write::create(
                    cluster,
                    &rt,
                    &namespace,
                    req.object_body()?,
                    &opts,
                    now,
                    &Origin::Body,
                )?))
            }
            Method::DELETE if object_path_ok => {
                let opts = WriteOptions::from_query(query)?;
                let selection = read::Selection::from_query(&rt, path.namespace.clone(), query)?;
                let options = delete_options(req)?;
                let mut items = Vec::new();
                for obj in selection.select(&cluster.store, &rt) {
                    let key = ObjectKey::new(
                        &rt,
                        obj["metadata"]["namespace"].as_str().unwrap_or_default(),
                        obj["metadata"]["name"].as_str().unwrap_or_default(),
                    );
                    items.push(write::delete(cluster, &rt, &key, &options, &opts, now)?.object);
                }
                let meta = json!({"resourceVersion": cluster.store.resource_version().to_string()});
                Ok(Reply::ok(json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": meta, "items": items})).into())
            }
            _ => Err(method_not_allowed(req)),
        };
    };

    if path.legacy_watch {
        let selection = read::Selection::from_query(&rt, path.namespace.clone(), query)?;
        let include = read::include_object(query)?;
        return Ok(Outcome::Watch(Box::new(WatchRequest::from_query(
            rt,
            selection,
            Some(name),
            query,
            repr.clone(),
            include,
        )?)));
    }
    if !object_path_ok {
        return Err(no_route());
    }
    let key = ObjectKey::new(&rt, &namespace, &name);
    let opts = || WriteOptions::from_query(query);
    match (path.subresource.as_deref(), &req.method) {
        (None, &Method::GET | &Method::HEAD) => {
            Ok(read::get(&cluster.store, &rt, &key, repr, query, now)?.into())
        }
        (None, &Method::PUT) => Ok(written(write::update(
            cluster,
            &rt,
            &key,
            req.object_body()?,
            Target::MAIN,
            &opts()?,
            now,
            &Origin::Body,
        )?)),
        (None, &Method::PATCH) => Ok(written(write::patch(
            cluster,
            &rt,
            &key,
            &req.content_type,
            &req.body,
            Target::MAIN,
            &opts()?,
            now,
        )?)),
        (None, &Method::DELETE) => Ok(written(write::delete(
            cluster,
            &rt,
            &key,
            &delete_options(req)?,
            &opts()?,
            now,
        )?)),
        (Some("status"), _) if !rt.status_subresource => Err(no_route()),
        (Some("status"), &Method::GET) => {
            Ok(read::get(&cluster.store, &rt, &key, repr, query, now)?.into())
        }
        (Some("status"), &Method::PUT) => Ok(written(write::update(
            cluster,
            &rt,
            &key,
            req.object_body()?,
            Target::STATUS,
            &opts()?,
            now,
            &Origin::Body,
        )?)),
        (Some("status"), &Method::PATCH) => Ok(written(write::patch(
            cluster,
            &rt,
            &key,
            &req.content_type,
            &req.body,
            Target::STATUS,
            &opts()?,
            now,
        )?)),
        (Some("scale"), &Method::GET) => {
            Ok(Reply::ok(scale::get(cluster, &rt, &key, &req.path)?).into())
        }
        (Some("scale"), &Method::PUT) => Ok(written(scale::put(
            cluster,
            &rt,
            &key,
            &req.object_body()?,
            &opts()?,
            now,
            &req.path,
        )?)),
        (Some("scale"), &Method::PATCH) => Ok(written(scale::patch(
            cluster,
            &rt,
            &key,
            &req.content_type,
            &req.body,
            &opts()?,
            now,
            &req.path,
        )?)),
        (Some("finalize"), &Method::PUT) if rt.group.is_empty() && rt.plural == "namespaces" => {
            Ok(written(write::finalize_namespace(
                cluster,
                &rt,
                &key,
                &req.object_body()?,
                &opts()?,
                now,
            )?))
        }
        (Some("status" | "scale" | "finalize"), _) => Err(method_not_allowed(req)),
        _ => Err(no_route()),
    }
}

fn method_not_allowed(req: &ApiRequest) -> ApiError {
    ApiError::method_not_allowed(format!(
        "the server does not allow this method on the requested resource ({})",
        req.path
    ))
}
