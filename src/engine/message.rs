//! Our own HTTP request and response types: what the engine, the admin API and the tests see
//! instead of hyper's.

use bytes::Bytes;
use serde_json::Value;

/// An HTTP request as the engine sees it: the `http` crate's method, URI and headers, moved in
/// from the server without copying. Header values that are not UTF-8 are replaced by their
/// lossy reading when the request is made, so [`Request::header_value`] can always borrow.
#[derive(Debug, Clone, Default)]
pub struct Request {
    method: http::Method,
    /// The target: the path still percent-encoded, and the raw query.
    uri: http::Uri,
    /// Header names are lower-case (the `http` crate keeps them so).
    headers: http::HeaderMap,
    pub body: Bytes,
}

impl Request {
    /// The request the server read: the HTTP/2 `:authority` becomes `host` where there is no
    /// `Host` header, and a header value that is not UTF-8 is read lossily.
    pub fn from_http(req: http::Request<Bytes>) -> Self {
        let (parts, body) = req.into_parts();
        let mut headers = parts.headers;
        for v in headers.values_mut() {
            if !v.as_bytes().is_ascii() && std::str::from_utf8(v.as_bytes()).is_err() {
                let lossy = String::from_utf8_lossy(v.as_bytes()).into_owned();
                if let Ok(x) = http::HeaderValue::from_bytes(lossy.as_bytes()) {
                    *v = x;
                }
            }
        }
        if !headers.contains_key(http::header::HOST)
            && let Some(a) = parts.uri.authority()
            && let Ok(v) = http::HeaderValue::from_str(a.as_str())
        {
            headers.insert(http::header::HOST, v);
        }
        Request {
            method: parts.method,
            uri: parts.uri,
            headers,
            body,
        }
    }

    /// A request of only a method and target (no headers, no body).
    pub fn line(method: http::Method, uri: http::Uri) -> Self {
        Request {
            method,
            uri,
            ..Request::default()
        }
    }

    /// A GET request for `target` (`/path?query`), for tests and tools. What a request target
    /// cannot carry as it is (spaces, `#`, non-ASCII, other unsafe bytes) is percent-encoded,
    /// so routing decodes it back; a target without a leading `/` gets one. A target the
    /// `http` crate still refuses (one over 64 KiB) becomes `/`.
    pub fn get(target: &str) -> Self {
        const UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
            .add(b' ')
            .add(b'"')
            .add(b'<')
            .add(b'>')
            .add(b'`')
            .add(b'{')
            .add(b'}')
            .add(b'|')
            .add(b'\\')
            .add(b'^')
            .add(b'#');
        let mut encoded = percent_encoding::utf8_percent_encode(target, UNSAFE).to_string();
        if !encoded.starts_with('/') {
            encoded.insert(0, '/');
        }
        let uri = http::Uri::try_from(encoded).unwrap_or_else(|_| http::Uri::from_static("/"));
        Request {
            uri,
            ..Request::default()
        }
    }

    /// A request with another method (upper-cased).
    pub fn with_method(mut self, method: &str) -> Self {
        if let Ok(m) = http::Method::from_bytes(method.to_ascii_uppercase().as_bytes()) {
            self.method = m;
        }
        self
    }

    /// Add a header (a name or value the `http` crate refuses is left out).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            self.headers.append(k, v);
        }
        self
    }

    /// The method, as sent (`GET`).
    pub fn method(&self) -> &str {
        self.method.as_str()
    }

    /// The path, still percent-encoded.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The raw query string (without `?`; empty when there is none).
    pub fn query(&self) -> &str {
        self.uri.query().unwrap_or("")
    }

    /// The headers (lower-case names).
    pub fn headers(&self) -> &http::HeaderMap {
        &self.headers
    }

    /// The first header with this name (for names known in advance). Most requests carry a
    /// handful of headers: comparing names costs less than hashing one that is not standard.
    pub fn header_named(&self, name: &http::HeaderName) -> Option<&str> {
        let value = if self.headers.len() <= 8 {
            self.headers
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v)
        } else {
            self.headers.get(name)
        };
        value.and_then(text)
    }

    /// The headers as text pairs, in order (what `--state` keeps).
    pub fn header_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), text(v)?)))
    }

    /// The first header with this (lower-case) name. A request has few headers: a scan
    /// costs less than parsing `name` into a header name to hash it.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .and_then(|(_, v)| text(v))
    }
}

/// A response header's name and value, if the `http` crate takes them (a value of visible
/// ASCII only).
fn header_pair(name: &str, value: &str) -> Option<(http::HeaderName, http::HeaderValue)> {
    Some((
        http::HeaderName::from_bytes(name.as_bytes()).ok()?,
        http::HeaderValue::from_str(value).ok()?,
    ))
}

/// A header value as text (every value of a [`Request`] is UTF-8; see [`Request::from_http`]).
fn text(v: &http::HeaderValue) -> Option<&str> {
    v.to_str()
        .ok()
        .or_else(|| std::str::from_utf8(v.as_bytes()).ok())
}

/// An HTTP response as the engine produces it.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    /// Header names are lower-case; [`Response::add_header`] leaves out what the `http`
    /// crate refuses.
    pub headers: http::HeaderMap,
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
    pub variant: Option<std::sync::Arc<str>>,
    /// The scenario step whose rule made the answer, if one did (boxed: most answers have
    /// none, and an answer is moved through every layer).
    pub scripted: Option<Box<crate::scenario::session::Scripted>>,
    /// Refused before the operation ran (credentials, an unknown variant): the answer is the
    /// API's error, not the operation's, and `--strict` does not check it.
    pub refused: bool,
}

/// The `content-type` of JSON answers.
const JSON: http::HeaderValue = http::HeaderValue::from_static("application/json");

/// A header map holding only `content-type: application/json`.
fn json_headers() -> http::HeaderMap {
    let mut h = http::HeaderMap::with_capacity(4);
    h.insert(http::header::CONTENT_TYPE, JSON);
    h
}

impl Response {
    /// Add a header after those of the same name (a name or value the `http` crate refuses is
    /// left out rather than failing the answer).
    pub fn add_header(&mut self, name: &str, value: &str) {
        if let Some((k, v)) = header_pair(name, value) {
            self.headers.append(k, v);
        }
    }

    /// Add a header with a value already owned (no copy of its text).
    pub fn add_header_owned(&mut self, name: http::HeaderName, value: String) {
        if let Ok(v) = http::HeaderValue::try_from(value) {
            self.headers.append(name, v);
        }
    }

    /// Add each of `pairs` as [`Response::add_header`] does.
    pub fn add_headers(&mut self, pairs: &[(String, String)]) {
        for (k, v) in pairs {
            self.add_header(k, v);
        }
    }

    /// Set a header, replacing those of the same name.
    pub fn set_header(&mut self, name: &str, value: &str) {
        if let Some((k, v)) = header_pair(name, value) {
            self.headers.insert(k, v);
        }
    }

    /// Whether the answer has a header of this name (any case).
    pub fn has_header(&self, name: &str) -> bool {
        self.headers.contains_key(name)
    }

    /// The first value of a header, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The same answer made again (a cached one), with room for the headers each answer adds
    /// (its request id): a cloned header map has none, and the first header added would
    /// reallocate it.
    pub fn again(&self) -> Response {
        let mut headers = http::HeaderMap::with_capacity(self.headers.len() + 3);
        for (k, v) in &self.headers {
            headers.append(k.clone(), v.clone());
        }
        Response {
            status: self.status,
            headers,
            body: self.body.clone(),
            delay: self.delay,
            drop: self.drop,
            answered: self.answered.clone(),
        }
    }

    /// A JSON response from bytes already serialized.
    pub fn bytes(status: u16, body: Bytes) -> Self {
        Response {
            status,
            headers: json_headers(),
            body,
            delay: None,
            drop: false,
            answered: None,
        }
    }

    /// A JSON response.
    pub fn json(status: u16, body: &Value) -> Self {
        Response {
            status,
            headers: json_headers(),
            body: Bytes::from(crate::data::json::to_vec(body)),
            delay: None,
            drop: false,
            answered: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_target_keeps_what_a_wire_target_cannot_carry() {
        let r = Request::get("/things/a#b c?q=x y&n=é");
        assert_eq!(r.path(), "/things/a%23b%20c");
        assert_eq!(r.query(), "q=x%20y&n=%C3%A9");
        assert_eq!(Request::get("things/1").path(), "/things/1");
        assert_eq!(Request::get("/a%2Fb?x=%41").path(), "/a%2Fb");
        let r = Request::get("/x")
            .with_method("patch")
            .header("X-Thing", "café")
            .header("bad name", "dropped");
        assert_eq!(r.method(), "PATCH");
        assert_eq!(r.header_value("x-thing"), Some("café"));
        assert_eq!(r.headers().len(), 1);
        assert_eq!(
            r.header_named(&http::HeaderName::from_static("x-thing")),
            Some("café")
        );
    }
}
