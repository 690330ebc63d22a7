//! Our own HTTP request and response types: what the engine, the admin API and the tests see
//! instead of hyper's.

use bytes::Bytes;
use serde_json::Value;

/// An HTTP request as the engine sees it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// The path, still percent-encoded.
    pub path: String,
    /// The raw query string (without `?`).
    pub query: String,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Request {
    /// A GET request for `target` (`/path?query`), for tests and tools.
    pub fn get(target: &str) -> Self {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method: "GET".into(),
            path: path.into(),
            query: query.into(),
            ..Request::default()
        }
    }

    /// A request with another method.
    pub fn with_method(mut self, method: &str) -> Self {
        self.method = method.to_ascii_uppercase();
        self
    }

    /// Add a header (name lower-cased).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// The first header with this (lower-case) name.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP response as the engine produces it.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Added latency before the response is sent (scenario rules).
    pub delay: Option<std::time::Duration>,
    /// Close the connection instead of answering (scenario rules).
    pub drop: bool,
    /// Which operation answered, for the checks and records layered around the handler.
    pub answered: Option<Answered>,
}

/// The operation that answered a request: its mount, its index, the variant it answered in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    pub mount: usize,
    pub op: usize,
    pub variant: Option<String>,
    /// The scenario step whose rule made the answer, if one did.
    pub scripted: Option<crate::scenario::session::Scripted>,
    /// Refused before the operation ran (credentials, an unknown variant): the answer is the
    /// API's error, not the operation's, and `--strict` does not check it.
    pub refused: bool,
}

impl Response {
    /// A JSON response from bytes already serialized.
    pub fn bytes(status: u16, body: Bytes) -> Self {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body,
            delay: None,
            drop: false,
            answered: None,
        }
    }

    /// The same response with another body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// A JSON response.
    pub fn json(status: u16, body: &Value) -> Self {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(crate::data::json::to_vec(body)),
            delay: None,
            drop: false,
            answered: None,
        }
    }
}
