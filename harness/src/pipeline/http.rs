//! The pipeline's HTTP endpoint (loopback by default):
//!
//! - `GET /metrics`: Prometheus text (see [`super::metrics`]);
//! - `GET /healthz`: `ok`;
//! - `POST /savepoints`: take a savepoint; answers `{"path": "..."}`;
//! - `POST /stop?drain=true`: Flink's `stop --drain` (fire every window,
//!   flush, final savepoint, exit); without `drain=true`, stop with the
//!   windows left open. Either way the savepoint holds the windows as they
//!   were before any drain, so a run restored from it carries on (see
//!   `EngineLoop::drain`). Answers `{"path": "..."}`.
//!
//! Connections are not kept alive, so shutting down only waits for requests
//! in flight (such as the `POST /stop` that ended the run).

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header::CONTENT_TYPE};
use http_body_util::Full;
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, sync::oneshot, task::JoinSet};

use super::{Error, Result, metrics::Shared, runtime::ControlHandle};

/// How long shutdown waits for requests in flight.
const DRAIN_REQUESTS: Duration = Duration::from_secs(5);

/// The serving task and how to stop it.
#[derive(Debug)]
pub(crate) struct HttpServer {
    /// The bound address (actual port).
    addr: SocketAddr,
    /// Tells the accept loop to stop.
    stop: Option<oneshot::Sender<()>>,
    /// The accept loop; it owns the connection tasks.
    task: tokio::task::JoinHandle<()>,
}

impl HttpServer {
    /// The bound address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and waits (briefly) for requests in flight.
    pub(crate) async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Stops at once.
    pub(crate) fn abort(self) {
        self.task.abort();
    }
}

/// Binds `addr` (done before anything else starts, so a taken port fails the
/// start cleanly).
/// Returns the listener and its actual address.
pub(crate) async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr)> {
    let bind_failed = |source| Error::MetricsBind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_failed)?;
    let bound = listener.local_addr().map_err(bind_failed)?;
    Ok((listener, bound))
}

/// Serves on a listener from [`bind`] until shut down.
pub(crate) fn serve(
    (listener, addr): (TcpListener, SocketAddr),
    shared: Arc<Shared>,
    control: ControlHandle,
) -> HttpServer {
    let (stop, mut stopped) = oneshot::channel();
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let (shared, control) = (Arc::clone(&shared), control.clone());
                        let service = service_fn(move |request| handle(request, Arc::clone(&shared), control.clone()));
                        connections.spawn(async move {
                            let served = http1::Builder::new().keep_alive(false).serve_connection(TokioIo::new(stream), service);
                            if let Err(err) = served.await {
                                tracing::debug!(error = %err, "metrics connection failed");
                            }
                        });
                    }
                    Err(err) => tracing::warn!(error = %err, "accepting a metrics connection failed"),
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        let _ = tokio::time::timeout(DRAIN_REQUESTS, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
    });
    HttpServer {
        addr,
        stop: Some(stop),
        task,
    }
}

async fn handle(
    request: Request<Incoming>,
    shared: Arc<Shared>,
    control: ControlHandle,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path();
    let response = match (request.method(), path) {
        (&Method::GET, "/metrics") => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            shared.render(),
        ),
        (&Method::GET, "/healthz") => {
            reply(StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into())
        }
        (&Method::POST, "/savepoints") => path_reply(control.savepoint().await),
        (&Method::POST, "/stop") => {
            let drain = request.uri().query().is_some_and(|query| {
                query
                    .split('&')
                    .any(|pair| matches!(pair, "drain" | "drain=true" | "drain=1"))
            });
            path_reply(control.stop(drain).await)
        }
        (_, "/metrics" | "/healthz" | "/savepoints" | "/stop") => reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "method not allowed\n".into(),
        ),
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found\n".into(),
        ),
    };
    Ok(response)
}

fn path_reply(result: Result<std::path::PathBuf>) -> Response<Full<Bytes>> {
    let (status, body) = match result {
        Ok(path) => (StatusCode::OK, serde_json::json!({ "path": path })),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "error": format!("{err:#}") }),
        ),
    };
    reply(status, "application/json", format!("{body}\n"))
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}
