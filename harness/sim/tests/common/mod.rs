//! Shared support for the simulator's integration tests: starting a served
//! cluster and a small HTTPS client that trusts the kubeconfig's CA and
//! sends its bearer token, built on hyper's HTTP/1.1 client connection.

#![allow(dead_code, unreachable_pub)]

use std::{
    net::IpAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use harness_sim::{
    api::{SimConfig, SimHandle, serve},
    clock::SimTime,
    cluster::Cluster,
    kubeconfig::{Credentials, pem_certificates},
};
use http_body_util::{BodyExt, Full};
use hyper::{Request, body::Incoming};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A fixed virtual start time, so timestamps in assertions are stable.
pub const ORIGIN: SimTime = SimTime(1_730_800_000_000);

/// Serves a bare cluster (built-ins only, no controllers but the API's own).
pub async fn start(speed: f64) -> SimHandle {
    start_cluster(Cluster::new(7, ORIGIN), speed).await
}

/// Serves `cluster` from [`ORIGIN`] with its kubeconfig in a temporary directory.
pub async fn start_cluster(cluster: Cluster, speed: f64) -> SimHandle {
    start_cluster_at(cluster, speed, ORIGIN).await
}

/// Serves `cluster` with virtual time starting at `origin`.
pub async fn start_cluster_at(cluster: Cluster, speed: f64, origin: SimTime) -> SimHandle {
    serve(
        cluster,
        SimConfig {
            speed,
            kubeconfig: None,
            origin: Some(origin),
        },
    )
    .await
    .expect("the simulator starts")
}

/// A response: status, selected headers and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub warnings: Vec<String>,
    pub body: Bytes,
}

impl Response {
    /// The body as JSON (panics with the body text when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// An HTTPS client for one simulator.
#[derive(Clone)]
pub struct Client {
    host: String,
    port: u16,
    token: Option<String>,
    tls: TlsConnector,
}

impl Client {
    /// A client configured from the handle's kubeconfig.
    pub fn new(handle: &SimHandle) -> Client {
        let creds = Credentials::read(&handle.kubeconfig).expect("kubeconfig readable");
        assert!(
            creds.server.starts_with("https://"),
            "the simulator serves TLS: {}",
            creds.server
        );
        let mut roots = rustls::RootCertStore::empty();
        for der in pem_certificates(creds.ca_pem.as_deref().expect("kubeconfig carries the CA")) {
            roots
                .add(CertificateDer::from(der))
                .expect("CA certificate parses");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Client {
            host: handle.addr.ip().to_string(),
            port: handle.addr.port(),
            token: Some(creds.token),
            tls: TlsConnector::from(Arc::new(config)),
        }
    }

    /// The same client without a token.
    pub fn anonymous(&self) -> Client {
        Client {
            token: None,
            ..self.clone()
        }
    }

    /// The same client with another token.
    pub fn with_token(&self, token: &str) -> Client {
        Client {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> hyper::Response<Incoming> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .expect("connect");
        let ip: IpAddr = self.host.parse().expect("loopback ip");
        let tls = self
            .tls
            .connect(ServerName::IpAddress(ip.into()), tcp)
            .await
            .expect("TLS handshake");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .expect("HTTP handshake");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", format!("{}:{}", self.host, self.port));
        if let Some(token) = &self.token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(Full::new(Bytes::from(body))).expect("request");
        sender.send_request(req).await.expect("response")
    }

    /// Sends a request and reads the whole response.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Response {
        let resp = self.send(method, path, headers, body).await;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let content_type = header("content-type");
        let warnings = resp
            .headers()
            .get_all("warning")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        Response {
            status,
            content_type,
            warnings,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[("accept", "application/json")], Vec::new())
            .await
    }

    pub async fn get_as(&self, path: &str, accept: &str) -> Response {
        self.request("GET", path, &[("accept", accept)], Vec::new())
            .await
    }

    /// Sends `body` of `content_type` with `method` (POST, PUT, PATCH).
    pub async fn send_body(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Response {
        self.request(method, path, &[("content-type", content_type)], body)
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.send_body(
            "POST",
            path,
            "application/json",
            body.to_string().into_bytes(),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.send_body(
            "PUT",
            path,
            "application/json",
            body.to_string().into_bytes(),
        )
        .await
    }

    pub async fn patch(&self, path: &str, content_type: &str, body: &str) -> Response {
        self.send_body("PATCH", path, content_type, body.as_bytes().to_vec())
            .await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request("DELETE", path, &[], Vec::new()).await
    }

    /// Opens a watch and returns a reader of its events.
    pub async fn watch(&self, path: &str, accept: &str) -> Watch {
        let resp = self
            .send("GET", path, &[("accept", accept)], Vec::new())
            .await;
        assert_eq!(resp.status().as_u16(), 200, "watch {path} must start");
        Watch {
            body: resp.into_body(),
            buffer: Vec::new(),
        }
    }
}

/// The events of an open watch.
pub struct Watch {
    body: Incoming,
    buffer: Vec<u8>,
}

impl Watch {
    /// The next event, or `None` when the stream ended or `deadline` passed.
    pub async fn next(&mut self, deadline: Duration) -> Option<Value> {
        let until = Instant::now() + deadline;
        loop {
            if let Some(pos) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=pos).collect();
                return Some(serde_json::from_slice(&line).expect("watch events are JSON lines"));
            }
            let remaining = until.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(remaining, self.body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                Ok(_) | Err(_) => return None,
            }
        }
    }

    /// Events until one satisfies `done` (returned last), within `deadline`.
    pub async fn until(&mut self, deadline: Duration, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let until = Instant::now() + deadline;
        let mut events = Vec::new();
        while let Some(event) = self
            .next(until.saturating_duration_since(Instant::now()))
            .await
        {
            let finished = done(&event);
            events.push(event);
            if finished {
                return events;
            }
        }
        panic!("no matching event within {deadline:?}; saw {events:#?}");
    }
}

/// Polls `check` until it returns `Some`, failing after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < until,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A namespaced CRD `widgets.example.com` with status and scale
/// subresources, printer columns and a schema with an enum.
pub fn widget_crd() -> Value {
    serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                "additionalPrinterColumns": [
                    {"name": "Color", "type": "string", "jsonPath": ".spec.color"},
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                    {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}
                ],
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "color": {"type": "string", "enum": ["red", "green", "blue"]},
                        "replicas": {"type": "integer", "format": "int32"},
                        "size": {"type": "integer"},
                        "settings": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                    }},
                    "status": {"type": "object", "properties": {
                        "phase": {"type": "string"},
                        "replicas": {"type": "integer"},
                        "conditions": {"type": "array", "items": {"type": "object", "properties": {
                            "type": {"type": "string"}, "status": {"type": "string"}}}}
                    }}
                }}}
            }]
        }
    })
}
