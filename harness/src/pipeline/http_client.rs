//! A minimal HTTP/1.1 client for plain `http://` URLs: enough for `verify
//! --metrics-url` to scrape an endpoint and for tests and scenarios to call
//! the pipeline's control endpoint, without a client library.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Uri, header::HOST};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::{Error, Result};

/// The longest a request may take (a `POST /stop?drain=true` waits for the
/// final savepoint).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A response: status code and body text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The body (lossy UTF-8).
    pub body: String,
}

/// `GET url`.
pub async fn get(url: &str) -> Result<HttpResponse> {
    request(Method::GET, url).await
}

/// `POST url` with an empty body.
pub async fn post(url: &str) -> Result<HttpResponse> {
    request(Method::POST, url).await
}

async fn request(method: Method, url: &str) -> Result<HttpResponse> {
    let step = if method == Method::GET {
        "fetch"
    } else {
        "post to"
    };
    let failed = |reason: String| Error::Http {
        step,
        url: url.to_owned(),
        reason,
    };
    let uri: Uri = url
        .parse()
        .map_err(|err| failed(format!("not a URL: {err}")))?;
    if uri.scheme_str() != Some("http") {
        return Err(failed("only http:// URLs are supported".into()));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| failed("the URL has no host".into()))?
        .clone();
    let port = authority.port_u16().unwrap_or(80);
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let exchange = async {
        let stream = TcpStream::connect((authority.host(), port))
            .await
            .map_err(|err| failed(err.to_string()))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|err| failed(err.to_string()))?;
        tokio::spawn(connection);
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, authority.as_str())
            .body(Empty::<Bytes>::new())
            .map_err(|err| failed(err.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|err| failed(err.to_string()))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|err| failed(err.to_string()))?
            .to_bytes();
        Ok(HttpResponse {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| failed(format!("no answer within {REQUEST_TIMEOUT:?}")))?
}
