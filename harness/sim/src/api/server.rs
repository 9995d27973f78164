//! The HTTPS (HTTP/1.1 over TLS) server: accepts connections on the
//! loopback listener, completes the TLS handshake, authenticates each
//! request by bearer token (see `auth.rs`), reads its body and turns
//! handler outcomes into responses (streaming ones for watches).
//!
//! `/healthz`, `/livez` and `/readyz` are open, as on a real API server;
//! everything else, `/version` included, needs the token. Logs name the
//! method, path and status, never headers.

use std::{
    convert::Infallible,
    panic::{self, AssertUnwindSafe},
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited, StreamBody, combinators::UnsyncBoxBody};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, sync::watch, task::JoinSet};
use tokio_rustls::TlsAcceptor;

use super::{
    auth,
    handlers::{self, Outcome},
    reply::{self, Body, Reply},
    request::{ApiRequest, Query},
    route::{self, Route},
    state::{Shared, panic_message},
    watch as watch_stream,
};
use crate::error::ApiError;

/// The response body type: complete or streaming.
pub(crate) type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

/// The API server's request size limit (3 MiB).
const MAX_BODY: usize = 3 * 1024 * 1024;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections until `shutdown` flips; then drops (aborts) every
/// connection task, watches included.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    tls: TlsAcceptor,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Every connection task is owned by this set: dropping it aborts them.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    let tls = tls.clone();
                    connections.spawn(async move {
                        let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(err)) => return tracing::debug!(%err, "TLS handshake failed"),
                            Err(_) => return tracing::debug!("TLS handshake timed out"),
                        };
                        let service = service_fn(move |req| respond(shared.clone(), req));
                        if let Err(err) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                            tracing::debug!(%err, "connection ended with an error");
                        }
                    });
                }
                Err(err) => {
                    // Out of file descriptors and the like: back off briefly
                    // instead of spinning on the error.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    connections.shutdown().await;
}

async fn respond(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let user = if route::parse(&path) == Route::Health {
        None
    } else {
        match auth::authenticate(&shared, req.headers()) {
            Ok(user) => Some(user),
            Err(err) => {
                tracing::debug!(%method, %path, status = err.code, "request not authenticated");
                return Ok(reply_response(Reply::error(&err)));
            }
        }
    };
    if let Some(failure) = shared.controllers_failure() {
        let err = ApiError::internal(format!("Internal error occurred: {failure}"));
        return Ok(reply_response(Reply::error(&err)));
    }
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            let too_large = err
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            let err = if too_large {
                ApiError {
                    code: 413,
                    reason: "RequestEntityTooLarge".into(),
                    message: "the request is too large".into(),
                    details: None,
                }
            } else {
                ApiError::bad_request(format!("could not read the request body: {err}"))
            };
            return Ok(reply_response(Reply::error(&err)));
        }
    };
    let header_text = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let api_req = ApiRequest {
        method: parts.method.clone(),
        path: path.clone(),
        query: Query::parse(parts.uri.query()),
        accept: header_text(header::ACCEPT),
        content_type: header_text(header::CONTENT_TYPE),
        body,
    };
    // A handler that panics is a simulator bug; the client gets a 500
    // Status, as the API server's panic filter gives, not a dropped connection.
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        handlers::handle(&shared, &api_req, user.as_ref())
    }))
    .unwrap_or_else(|payload| {
        let message = panic_message(payload.as_ref());
        tracing::error!(%method, %path, %message, "request handler panicked");
        Outcome::Reply(Reply::error(&ApiError::internal(format!(
            "Internal error occurred: the simulator failed on this request: {message}"
        ))))
    });
    match outcome {
        Outcome::Reply(reply) => {
            tracing::debug!(%method, %path, status = reply.status, "request");
            Ok(reply_response(reply))
        }
        Outcome::Watch(watch_req) => {
            tracing::debug!(%method, %path, "watch started");
            let body =
                StreamBody::new(watch_stream::stream(shared.clone(), *watch_req)).boxed_unsync();
            let mut response = Response::new(body);
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache, private"),
            );
            Ok(response)
        }
    }
}

/// Turns a reply into an HTTP response with its `Warning` headers.
fn reply_response(reply: Reply) -> Response<ResponseBody> {
    let bytes = match reply.body {
        Body::Json(value) => Bytes::from(serde_json::to_vec(&value).unwrap_or_default()),
        Body::Raw(bytes) => bytes,
    };
    let mut response = Response::new(Full::new(bytes).boxed_unsync());
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&reply.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    for warning in &reply.warnings {
        if let Ok(value) = HeaderValue::from_str(&reply::warning_header(warning)) {
            headers.append(header::WARNING, value);
        }
    }
    response
}
