//! Request matchers: what selects journal entries, from `GET /__understudy/requests`' query
//! string or a verification call's JSON body (`count`, `find`), parsed once into typed
//! criteria and checked whole (a misspelt field is an error, not a matcher that matches
//! everything).

use serde::Deserialize;
use serde_json::Value;

use super::Exchange;
use crate::spec::Segment;

/// Why a matcher was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    #[error(
        "the body must be a request matcher, e.g. {{\"method\": \"POST\", \"path\": \"/api/v1/things/{{id}}\", \"status\": 429}}: {0}"
    )]
    Body(String),
    #[error("body: '{0}' is not a JSON pointer (it starts with '/')")]
    Pointer(String),
    #[error("status: {0} is neither a status (429) nor a class (\"4xx\")")]
    Status(String),
    #[error("{name}: '{value}' is not {expected}")]
    Value {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error(
        "no filter '{0}' (api, operation, method, path, status, session, unmatched, scripted, since, limit)"
    )]
    Unknown(String),
}

/// How a matcher names a path: exactly, or as a template whose `{name}` segments match any
/// one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    Exact(String),
    Template(Vec<Segment>),
}

impl PathMatch {
    fn parse(p: &str) -> Self {
        if !p.contains('{') {
            return PathMatch::Exact(p.to_string());
        }
        PathMatch::Template(crate::spec::path_segments(p))
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Exact(p) => p == path,
            // Matched as routing matches a request to an operation's template.
            PathMatch::Template(t) => {
                let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
                crate::engine::route::literals_matched(t, &segs).is_some()
            }
        }
    }
}

/// A status, or a class of them (`"4xx"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    Exact(u16),
    Class(u16),
}

impl StatusMatch {
    fn parse(v: &Value) -> Result<Self, MatcherError> {
        let bad = || MatcherError::Status(v.to_string());
        match v {
            Value::Number(n) => n
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| (100..600).contains(n))
                .map(StatusMatch::Exact)
                .ok_or_else(bad),
            Value::String(s) => Self::parse_text(s).ok_or_else(bad),
            _ => Err(bad()),
        }
    }

    fn parse_text(s: &str) -> Option<Self> {
        let lower = s.to_ascii_lowercase();
        if let Some(d) = lower.strip_suffix("xx") {
            return d
                .parse::<u16>()
                .ok()
                .filter(|d| (1..6).contains(d))
                .map(StatusMatch::Class);
        }
        s.parse::<u16>()
            .ok()
            .filter(|n| (100..600).contains(n))
            .map(StatusMatch::Exact)
    }

    fn matches(self, status: u16) -> bool {
        match self {
            StatusMatch::Exact(s) => s == status,
            StatusMatch::Class(c) => status / 100 == c,
        }
    }
}

/// What selects journal entries: every criterion given must hold.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    pub method: Option<String>,
    pub path: Option<PathMatch>,
    /// The API's name.
    pub api: Option<String>,
    /// An `operationId`, or `METHOD /template` as the document writes the path.
    pub operation: Option<String>,
    pub status: Option<StatusMatch>,
    pub session: Option<String>,
    /// Query parameters that must be present with these (decoded) values.
    pub query: Vec<(String, String)>,
    /// Headers that must be present with these values (names lower-case).
    pub headers: Vec<(String, String)>,
    /// JSON pointers into the request body, and the value each must have.
    pub body: Vec<(String, Value)>,
    /// Only requests no operation matched (or only those one did).
    pub unmatched: Option<bool>,
    /// Only entries newer than this id.
    pub since: Option<u64>,
    /// Only requests a scenario step answered (or only those none did).
    pub scripted: Option<bool>,
}

/// A matcher as a verification call's body writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatcherFile {
    method: Option<String>,
    path: Option<String>,
    api: Option<String>,
    operation: Option<String>,
    status: Option<Value>,
    session: Option<String>,
    #[serde(default)]
    query: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    body: std::collections::BTreeMap<String, Value>,
    unmatched: Option<bool>,
    scripted: Option<bool>,
    since: Option<u64>,
}

impl Matcher {
    /// A matcher from a verification call's JSON body (an empty body matches everything).
    pub fn from_json(body: &[u8]) -> Result<Self, MatcherError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Matcher::default());
        }
        let f: MatcherFile =
            serde_json::from_slice(body).map_err(|e| MatcherError::Body(e.to_string()))?;
        if let Some(p) = f
            .body
            .keys()
            .find(|p| !(p.is_empty() || p.starts_with('/')))
        {
            return Err(MatcherError::Pointer(p.clone()));
        }
        Ok(Matcher {
            method: f.method.map(|m| m.to_ascii_uppercase()),
            path: f.path.as_deref().map(PathMatch::parse),
            api: f.api,
            operation: f.operation,
            status: f.status.as_ref().map(StatusMatch::parse).transpose()?,
            session: f.session,
            query: f.query.into_iter().collect(),
            headers: f
                .headers
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            body: f.body.into_iter().collect(),
            unmatched: f.unmatched,
            scripted: f.scripted,
            since: f.since,
        })
    }

    /// A matcher, and the most entries wanted, from `GET /requests`' query string.
    pub fn from_query(query: &str) -> Result<(Self, Option<usize>), MatcherError> {
        let mut m = Matcher::default();
        let mut limit = None;
        let bad = |name: &'static str, value: &str, expected: &'static str| MatcherError::Value {
            name,
            value: value.to_string(),
            expected,
        };
        let flag = |k: &'static str, v: &str| match v {
            "true" | "1" | "" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(bad(k, v, "true or false")),
        };
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let v = v.into_owned();
            match &*k {
                "method" => m.method = Some(v.to_ascii_uppercase()),
                "path" => m.path = Some(PathMatch::parse(&v)),
                "api" => m.api = Some(v),
                "operation" => m.operation = Some(v),
                "status" => {
                    m.status = Some(
                        StatusMatch::parse_text(&v)
                            .ok_or_else(|| MatcherError::Status(v.clone()))?,
                    )
                }
                "session" => m.session = Some(v),
                "unmatched" => m.unmatched = Some(flag("unmatched", &v)?),
                "scripted" => m.scripted = Some(flag("scripted", &v)?),
                "since" => m.since = Some(v.parse().map_err(|_| bad("since", &v, "an entry id"))?),
                "limit" => {
                    limit = Some(
                        v.parse::<usize>()
                            .ok()
                            .filter(|n| *n > 0)
                            .ok_or_else(|| bad("limit", &v, "a positive number"))?,
                    )
                }
                other => return Err(MatcherError::Unknown(other.to_string())),
            }
        }
        Ok((m, limit))
    }

    /// Whether entry `e` is selected.
    pub fn matches(&self, e: &Exchange) -> bool {
        if self.since.is_some_and(|s| e.seq <= s)
            || self
                .method
                .as_deref()
                .is_some_and(|m| m != e.method.as_str())
            || self.status.is_some_and(|s| !s.matches(e.status))
            || self.unmatched.is_some_and(|u| u != e.unmatched())
            || self.session.as_deref().is_some_and(|s| s != e.session())
            || self
                .path
                .as_ref()
                .is_some_and(|p| !p.matches(e.target.path()))
        {
            return false;
        }
        if let Some(want) = self.scripted {
            let scripted = e.answered.as_ref().is_some_and(|a| a.scripted.is_some());
            if want != scripted {
                return false;
            }
        }
        if self.api.is_some() || self.operation.is_some() {
            let Some(op) = &e.op else {
                return false;
            };
            if self.api.as_deref().is_some_and(|a| a != &*op.api)
                || self.operation.as_deref().is_some_and(|w| !op.is(w))
            {
                return false;
            }
        }
        if !self.query.is_empty() {
            let given: Vec<(String, String)> =
                form_urlencoded::parse(e.target.query().unwrap_or("").as_bytes())
                    .into_owned()
                    .collect();
            if !self.query.iter().all(|q| given.contains(q)) {
                return false;
            }
        }
        for (k, v) in &self.headers {
            let found = e.headers.get_all(k).any(|h| h == v.as_bytes());
            if !found {
                return false;
            }
        }
        if !self.body.is_empty() {
            let Ok(doc) = serde_json::from_slice::<Value>(&e.body) else {
                return false;
            };
            if !self.body.iter().all(|(p, v)| doc.pointer(p) == Some(v)) {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_match_exactly_or_by_template() {
        let t = PathMatch::parse("/api/things/{id}/parts");
        assert!(t.matches("/api/things/42/parts"));
        assert!(!t.matches("/api/things//parts"));
        assert!(!t.matches("/api/things/42"));
        assert!(!t.matches("/api/other/42/parts"));
        assert!(PathMatch::parse("/a/b").matches("/a/b"));
        assert!(!PathMatch::parse("/a/b").matches("/a/b/"));
    }

    #[test]
    fn statuses_match_exactly_or_by_class() {
        assert_eq!(
            StatusMatch::parse(&json!(429)).map(|s| s.matches(429)),
            Ok(true)
        );
        assert!(StatusMatch::parse(&json!("4xx")).unwrap().matches(404));
        assert!(!StatusMatch::parse(&json!("4XX")).unwrap().matches(500));
        assert!(StatusMatch::parse(&json!("7xx")).is_err());
        assert!(StatusMatch::parse(&json!(99)).is_err());
        assert!(StatusMatch::parse(&json!(true)).is_err());
    }

    #[test]
    fn a_matcher_file_is_checked_whole() {
        assert!(Matcher::from_json(br#"{"methd": "GET"}"#).is_err(), "typo");
        assert!(
            Matcher::from_json(br#"{"body": {"name": 1}}"#).is_err(),
            "not a pointer"
        );
        let m = Matcher::from_json(br#"{"method":"post","headers":{"X-A":"1"}}"#).unwrap();
        assert_eq!(m.method.as_deref(), Some("POST"));
        assert_eq!(m.headers, vec![("x-a".to_string(), "1".to_string())]);
        assert!(Matcher::from_json(b" ").is_ok());
        let (m, limit) = Matcher::from_query("status=4xx&limit=5&session=s1").unwrap();
        assert_eq!(
            (m.status, limit, m.session.as_deref()),
            (Some(StatusMatch::Class(4)), Some(5), Some("s1"))
        );
        assert!(Matcher::from_query("colour=red").is_err());
        assert!(Matcher::from_query("limit=0").is_err());
    }
}
