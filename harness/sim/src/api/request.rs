//! A request as the handlers see it: method, path, decoded query, the two
//! negotiation headers and the whole body.
//!
//! Reading the body happens once, in the server, so every handler below is a
//! plain synchronous function of an [`ApiRequest`] and the cluster.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::Method;
use serde_json::Value;

use crate::error::ApiError;

/// One API request, body included.
#[derive(Debug, Clone)]
pub(crate) struct ApiRequest {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Query,
    pub(crate) accept: String,
    pub(crate) content_type: String,
    pub(crate) body: Bytes,
}

impl ApiRequest {
    /// Decodes the body as one JSON (or, by content type, YAML) document.
    ///
    /// Protobuf bodies are decoded for the kinds kubectl's typed generators
    /// create (see `protobuf.rs`); other protobuf bodies and CBOR get a 415.
    pub(crate) fn json_body(&self) -> Result<Value, ApiError> {
        if self.content_type.contains("protobuf") {
            return super::protobuf::decode(&self.body);
        }
        if self.content_type.contains("cbor") {
            return Err(ApiError {
                code: 415,
                reason: "UnsupportedMediaType".into(),
                message: "the body of the request was in an unknown format - accepted media types include: \
                          application/json, application/yaml, application/vnd.kubernetes.protobuf"
                    .into(),
                details: None,
            });
        }
        let value: Value = if self.content_type.contains("yaml") {
            serde_yaml::from_slice(&self.body)
                .map_err(|err| ApiError::bad_request(format!("error decoding YAML: {err}")))?
        } else {
            serde_json::from_slice(&self.body).map_err(|err| {
                ApiError::bad_request(format!(
                    "couldn't get version/kind; json parse error: {err}"
                ))
            })?
        };
        Ok(value)
    }

    /// The body as a JSON object, or a 400 naming what was expected.
    pub(crate) fn object_body(&self) -> Result<Value, ApiError> {
        let value = self.json_body()?;
        if value.is_object() {
            Ok(value)
        } else {
            Err(ApiError::bad_request(
                "the request body must be a JSON object".into(),
            ))
        }
    }
}

/// Decoded query parameters; a repeated parameter keeps its last value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Query(BTreeMap<String, String>);

impl Query {
    /// Parses `a=b&c=d` with percent-decoding and `+` as space.
    pub(crate) fn parse(raw: Option<&str>) -> Query {
        let mut params = BTreeMap::new();
        for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            params.insert(percent_decode(key), percent_decode(value));
        }
        Query(params)
    }

    /// A parameter's value, if present.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A non-empty parameter's value.
    pub(crate) fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// A boolean parameter (`true` or `1`).
    pub(crate) fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut idx = 0;
    while idx < bytes.len() {
        match bytes[idx] {
            b'+' => out.push(b' '),
            b'%' if idx + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[idx + 1..idx + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        idx += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        idx += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What representation the client asked for in `Accept`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Representation {
    /// Plain JSON objects and lists.
    Json,
    /// A `meta.k8s.io` Table at this version (`v1` or `v1beta1`).
    Table(String),
    /// `PartialObjectMetadata`/`PartialObjectMetadataList` at this version.
    PartialMetadata(String),
    /// An `apidiscovery.k8s.io` `APIGroupDiscoveryList` at this version.
    AggregatedDiscovery(String),
}

/// One media range of an `Accept` header with its parameters.
fn media_ranges(accept: &str) -> impl Iterator<Item = (String, BTreeMap<String, String>)> + '_ {
    accept.split(',').map(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let params = parts
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
            .collect();
        (media, params)
    })
}

/// Picks the first representation in `accept` the simulator can produce.
///
/// Protobuf and CBOR are never produced; a client that accepts only those
/// gets `None` (406). An empty header means JSON.
pub(crate) fn negotiate(accept: &str) -> Option<Representation> {
    if accept.trim().is_empty() {
        return Some(Representation::Json);
    }
    for (media, params) in media_ranges(accept) {
        let json_like = matches!(
            media.as_str(),
            "application/json" | "application/*" | "*/*" | "application/yaml"
        );
        if !json_like {
            continue;
        }
        let (group, version, as_) = (
            params.get("g").map(String::as_str),
            params.get("v").map(String::as_str),
            params.get("as").map(String::as_str),
        );
        match (as_, group, version) {
            (None, _, _) => return Some(Representation::Json),
            (Some("Table"), Some("meta.k8s.io"), Some(v @ ("v1" | "v1beta1"))) => {
                return Some(Representation::Table(v.to_string()));
            }
            (
                Some("PartialObjectMetadata" | "PartialObjectMetadataList"),
                Some("meta.k8s.io"),
                Some(v @ ("v1" | "v1beta1")),
            ) => {
                return Some(Representation::PartialMetadata(v.to_string()));
            }
            (
                Some("APIGroupDiscoveryList"),
                Some("apidiscovery.k8s.io"),
                Some(v @ ("v2" | "v2beta1")),
            ) => {
                return Some(Representation::AggregatedDiscovery(v.to_string()));
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = Query::parse(Some(
            "labelSelector=app%3Dweb%2Ctier+in+%28a%29&watch=1&empty=&bad=%zz&last=%4",
        ));
        assert_eq!(q.get("labelSelector"), Some("app=web,tier in (a)"));
        assert!(q.flag("watch"));
        assert_eq!(q.non_empty("empty"), None);
        assert_eq!(q.get("bad"), Some("%zz"));
        assert_eq!(q.get("last"), Some("%4"));
        assert_eq!(Query::parse(None), Query::default());
    }

    #[test]
    fn negotiation_prefers_the_first_supported_range() {
        let kubectl_get = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            negotiate(kubectl_get),
            Some(Representation::Table("v1".into()))
        );
        let discovery = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(
            negotiate(discovery),
            Some(Representation::AggregatedDiscovery("v2".into()))
        );
        assert_eq!(
            negotiate("application/vnd.kubernetes.protobuf, application/json"),
            Some(Representation::Json)
        );
        assert_eq!(negotiate("application/vnd.kubernetes.protobuf"), None);
        assert_eq!(negotiate(""), Some(Representation::Json));
        assert_eq!(
            negotiate("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
            Some(Representation::PartialMetadata("v1".into()))
        );
        assert_eq!(
            negotiate("application/json;as=Table;v=v9;g=meta.k8s.io"),
            None
        );
    }

    proptest::proptest! {
        /// Percent-encoding any text and decoding it gives the text back.
        #[test]
        fn percent_decoding_inverts_encoding(text in "\\PC{0,12}") {
            let encoded: String = text.bytes().map(|b| format!("%{b:02X}")).collect();
            proptest::prop_assert_eq!(percent_decode(&encoded), text);
        }
    }
}
