//! What a handler answers: status code, content type, body and `Warning`
//! headers, before it becomes an HTTP response.

use bytes::Bytes;
use serde_json::Value;

use crate::error::ApiError;

/// A response body.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// A JSON document.
    Json(Value),
    /// Raw bytes (e.g. an empty protobuf document).
    Raw(Bytes),
}

/// A complete, non-streaming answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) body: Body,
    /// Texts for `Warning: 299 - "<text>"` headers, in order.
    pub(crate) warnings: Vec<String>,
}

impl Reply {
    /// A JSON reply with `status`.
    pub(crate) fn json(status: u16, value: Value) -> Reply {
        Reply {
            status,
            content_type: "application/json".into(),
            body: Body::Json(value),
            warnings: Vec::new(),
        }
    }

    /// 200 with a JSON body.
    pub(crate) fn ok(value: Value) -> Reply {
        Reply::json(200, value)
    }

    /// The `Status` object of an error, with its status code.
    pub(crate) fn error(err: &ApiError) -> Reply {
        Reply::json(err.code, err.to_status())
    }

    /// Replaces the content type.
    pub(crate) fn with_content_type(mut self, content_type: impl Into<String>) -> Reply {
        self.content_type = content_type.into();
        self
    }

    /// Adds `Warning` header texts.
    pub(crate) fn with_warnings(mut self, warnings: Vec<String>) -> Reply {
        self.warnings.extend(warnings);
        self
    }
}

impl From<ApiError> for Reply {
    fn from(err: ApiError) -> Reply {
        Reply::error(&err)
    }
}

/// A `Warning` header value as the API server formats it.
pub(crate) fn warning_header(text: &str) -> String {
    format!("299 - {}", crate::schema::go_quote(text))
}
