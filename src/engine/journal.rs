//! The request journal: the most recent exchanges the server answered (request, response,
//! timing, the operation and scenario step that answered), in a bounded ring, and the matchers
//! that select from it for `GET /__understudy/requests` and for verification
//! (`POST /__understudy/requests/count` and `.../find`).
//!
//! The journal is written by the observing layer around the handler ([`super::service`]),
//! never by the engine itself; admin calls are not journaled. What it keeps is cheap to take
//! (the `http` types' own buffers, bodies cut to a documented size); credentials are redacted
//! when an entry is shown, not when it is kept.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Answered, Engine, OpName, SESSION_HEADER};
use crate::scenario::session::DEFAULT_SESSION;
use crate::sync::lock;

/// How much the journal keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most exchanges kept (0 turns the journal off).
    pub entries: usize,
    /// Most bytes of each request and response body kept (the rest is cut; its size is kept).
    pub body: usize,
    /// Most bytes kept in all (bodies and headers): past it the oldest entries go first.
    pub bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            entries: 1000,
            body: 16 << 10,
            bytes: 32 << 20,
        }
    }
}

/// One request and its answer, as the server saw them.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Position in the journal (1, 2, ...; set when kept): the entry's id.
    pub seq: u64,
    /// When the request arrived (wall clock, Unix milliseconds).
    pub at_ms: i64,
    pub method: http::Method,
    pub uri: http::Uri,
    pub headers: http::HeaderMap,
    /// The request body, cut to the journal's body limit.
    pub body: Bytes,
    /// The request body's whole size.
    pub body_size: usize,
    pub status: u16,
    pub response_headers: http::HeaderMap,
    /// The response body, cut to the journal's body limit.
    pub response_body: Bytes,
    pub response_size: usize,
    /// From the request's arrival to the answer being ready (a scenario's delay comes after).
    pub latency: Duration,
    /// A scenario's delay before the answer, or its dropped connection.
    pub delay: Option<Duration>,
    pub dropped: bool,
    /// The operation (and scenario step) that answered; `None` for a request no operation
    /// matched (or that understudy answered itself, such as its index).
    pub answered: Option<Answered>,
    /// That operation's names (kept: a reload renumbers operations).
    pub op: Option<Arc<OpName>>,
}

impl Exchange {
    /// The session the request was made in.
    pub fn session(&self) -> &str {
        self.headers
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(DEFAULT_SESSION)
    }

    /// Whether no operation matched the request (a 404 or 405 understudy made itself).
    pub fn unmatched(&self) -> bool {
        self.answered.is_none() && matches!(self.status, 404 | 405)
    }

    /// Roughly the bytes this entry holds.
    fn weight(&self) -> usize {
        let headers = |h: &http::HeaderMap| {
            h.iter()
                .map(|(k, v)| k.as_str().len() + v.len() + 16)
                .sum::<usize>()
        };
        256 + self.body.len()
            + self.response_body.len()
            + headers(&self.headers)
            + headers(&self.response_headers)
            + self.uri.path().len()
            + self.uri.query().map_or(0, str::len)
    }
}

/// A body as the journal keeps it: whole when it fits, else a copy of its first `limit` bytes
/// (so a large buffer is not kept alive by a slice of it).
pub fn cut(body: &Bytes, limit: usize) -> Bytes {
    if body.len() <= limit {
        body.clone()
    } else {
        Bytes::copy_from_slice(&body[..limit])
    }
}

/// The journal.
#[derive(Debug)]
pub struct Journal {
    limits: Limits,
    ring: Mutex<Ring>,
    /// What happened to the server itself (reloads), newest last, at most [`MAX_EVENTS`].
    events: Mutex<VecDeque<Event>>,
}

/// Most server events kept.
pub const MAX_EVENTS: usize = 50;

/// Something that happened to the server rather than a request: a configuration reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at_ms: i64,
    pub kind: &'static str,
    pub ok: bool,
    pub message: String,
}

#[derive(Debug, Default)]
struct Ring {
    /// Each entry with its weight.
    entries: VecDeque<(Arc<Exchange>, usize)>,
    bytes: usize,
    next: u64,
    /// Entries dropped to make room since the journal was last cleared.
    evicted: u64,
}

/// How full the journal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    pub entries: usize,
    pub bytes: usize,
    pub evicted: u64,
}

impl Journal {
    pub fn new(limits: Limits) -> Self {
        Journal {
            limits,
            ring: Mutex::new(Ring::default()),
            events: Mutex::new(VecDeque::new()),
        }
    }

    /// Keep a server event (the oldest go past [`MAX_EVENTS`]).
    pub fn note(&self, kind: &'static str, ok: bool, message: String) {
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_millis()).ok())
            .unwrap_or(0);
        let mut events = lock(&self.events);
        events.push_back(Event {
            at_ms,
            kind,
            ok,
            message,
        });
        while events.len() > MAX_EVENTS {
            events.pop_front();
        }
    }

    /// The server events kept, newest first.
    pub fn events(&self) -> Vec<Event> {
        lock(&self.events).iter().rev().cloned().collect()
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Whether anything is kept at all.
    pub fn on(&self) -> bool {
        self.limits.entries > 0
    }

    /// Keep an exchange (its `seq` is set here), dropping the oldest past the limits.
    pub fn record(&self, mut ex: Exchange) {
        if !self.on() {
            return;
        }
        let weight = ex.weight();
        let mut ring = lock(&self.ring);
        ring.next += 1;
        ex.seq = ring.next;
        ring.entries.push_back((Arc::new(ex), weight));
        ring.bytes += weight;
        while ring.entries.len() > self.limits.entries
            || (ring.bytes > self.limits.bytes && ring.entries.len() > 1)
        {
            if let Some((_, w)) = ring.entries.pop_front() {
                ring.bytes = ring.bytes.saturating_sub(w);
                ring.evicted += 1;
            }
        }
    }

    /// Forget the entries of one session, or all; how many went.
    pub fn clear(&self, session: Option<&str>) -> usize {
        let mut ring = lock(&self.ring);
        let before = ring.entries.len();
        match session {
            None => {
                ring.entries.clear();
                ring.bytes = 0;
                ring.evicted = 0;
            }
            Some(s) => {
                ring.entries.retain(|(e, _)| e.session() != s);
                ring.bytes = ring.entries.iter().map(|(_, w)| w).sum();
            }
        }
        before - ring.entries.len()
    }

    pub fn fill(&self) -> Fill {
        let ring = lock(&self.ring);
        Fill {
            entries: ring.entries.len(),
            bytes: ring.bytes,
            evicted: ring.evicted,
        }
    }

    /// The entries `m` selects, newest first (the lock is held only to copy references).
    pub fn select(&self, m: &Matcher) -> Vec<Arc<Exchange>> {
        let all: Vec<Arc<Exchange>> = lock(&self.ring)
            .entries
            .iter()
            .rev()
            .map(|(e, _)| e.clone())
            .collect();
        all.into_iter().filter(|e| m.matches(e)).collect()
    }

    /// The entry with id `seq`.
    pub fn get(&self, seq: u64) -> Option<Arc<Exchange>> {
        let ring = lock(&self.ring);
        // Ids increase along the ring; clearing one session leaves gaps.
        let at = ring
            .entries
            .binary_search_by_key(&seq, |(e, _)| e.seq)
            .ok()?;
        ring.entries.get(at).map(|(e, _)| e.clone())
    }
}

/// How a matcher names a path: exactly, or as a template whose `{name}` segments match any
/// one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    Exact(String),
    Template(Vec<Option<String>>),
}

impl PathMatch {
    fn parse(p: &str) -> Self {
        if !p.contains('{') {
            return PathMatch::Exact(p.to_string());
        }
        PathMatch::Template(
            p.split('/')
                .map(|s| {
                    (!(s.starts_with('{') && s.ends_with('}') && s.len() > 2))
                        .then(|| s.to_string())
                })
                .collect(),
        )
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Exact(p) => p == path,
            PathMatch::Template(t) => {
                let segs: Vec<&str> = path.split('/').collect();
                segs.len() == t.len()
                    && t.iter().zip(&segs).all(|(want, got)| match want {
                        Some(lit) => lit == got,
                        None => !got.is_empty(),
                    })
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
    fn parse(v: &Value) -> Result<Self, String> {
        let bad = || format!("status: {v} is neither a status (429) nor a class (\"4xx\")");
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
    pub fn from_json(body: &[u8]) -> Result<Self, String> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Matcher::default());
        }
        let f: MatcherFile = serde_json::from_slice(body).map_err(|e| {
            format!(
                "the body must be a request matcher, e.g. {{\"method\": \"POST\", \"path\": \
                 \"/api/v1/things/{{id}}\", \"status\": 429}}: {e}"
            )
        })?;
        for p in f.body.keys() {
            if !(p.is_empty() || p.starts_with('/')) {
                return Err(format!(
                    "body: '{p}' is not a JSON pointer (it starts with '/')"
                ));
            }
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
    pub fn from_query(query: &str) -> Result<(Self, Option<usize>), String> {
        let mut m = Matcher::default();
        let mut limit = None;
        let flag = |k: &str, v: &str| match v {
            "true" | "1" | "" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(format!("{k}: '{v}' is not true or false")),
        };
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let v = v.into_owned();
            match &*k {
                "method" => m.method = Some(v.to_ascii_uppercase()),
                "path" => m.path = Some(PathMatch::parse(&v)),
                "api" => m.api = Some(v),
                "operation" => m.operation = Some(v),
                "status" => {
                    m.status = Some(StatusMatch::parse_text(&v).ok_or_else(|| {
                        format!("status: '{v}' is neither a status (429) nor a class (4xx)")
                    })?)
                }
                "session" => m.session = Some(v),
                "unmatched" => m.unmatched = Some(flag("unmatched", &v)?),
                "scripted" => m.scripted = Some(flag("scripted", &v)?),
                "since" => {
                    m.since = Some(
                        v.parse()
                            .map_err(|_| format!("since: '{v}' is not an entry id"))?,
                    )
                }
                "limit" => {
                    limit = Some(
                        v.parse::<usize>()
                            .ok()
                            .filter(|n| *n > 0)
                            .ok_or_else(|| format!("limit: '{v}' is not a positive number"))?,
                    )
                }
                other => {
                    return Err(format!(
                        "no filter '{other}' (api, operation, method, path, status, session, \
                         unmatched, scripted, since, limit)"
                    ));
                }
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
            || self.path.as_ref().is_some_and(|p| !p.matches(e.uri.path()))
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
                form_urlencoded::parse(e.uri.query().unwrap_or("").as_bytes())
                    .into_owned()
                    .collect();
            if !self.query.iter().all(|q| given.contains(q)) {
                return false;
            }
        }
        for (k, v) in &self.headers {
            let found = e
                .headers
                .get_all(k.as_str())
                .iter()
                .any(|h| h.as_bytes() == v.as_bytes());
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

/// Which header and query names hold credentials, never shown.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    headers: Vec<String>,
    query: Vec<String>,
}

/// Names always treated as credentials, besides those the loaded specs' security schemes use.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "x-understudy-admin-token",
];
const SECRET_QUERY: &[&str] = &[
    "api_key",
    "apikey",
    "access_token",
    "token",
    "key",
    "secret",
];
/// Parts of a name that mark it as a credential.
const SECRET_WORDS: &[&str] = &[
    "token", "secret", "password", "api-key", "api_key", "apikey",
];

/// What replaces a credential.
pub const REDACTED: &str = "[redacted]";

impl Redactor {
    /// A redactor for the given extra header and query parameter names (the security
    /// schemes' own).
    pub fn new(headers: Vec<String>, query: Vec<String>) -> Self {
        Redactor {
            headers: headers
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            query,
        }
    }

    pub fn secret_header(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        SECRET_HEADERS.contains(&name.as_str())
            || self.headers.contains(&name)
            || SECRET_WORDS.iter().any(|w| name.contains(w))
    }

    pub fn secret_query(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        SECRET_QUERY.contains(&lower.as_str())
            || self.query.iter().any(|q| q == name)
            || SECRET_WORDS.iter().any(|w| lower.contains(w))
    }

    /// A query string with the values of credential parameters replaced.
    pub fn query(&self, query: &str) -> String {
        if query.is_empty() {
            return String::new();
        }
        query
            .split('&')
            .map(|pair| {
                let (k, _) = pair.split_once('=').unwrap_or((pair, ""));
                let name = percent_encoding::percent_decode_str(k).decode_utf8_lossy();
                if self.secret_query(&name) {
                    format!("{k}={REDACTED}")
                } else {
                    pair.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    /// A body with credentials replaced: in a JSON document, the values of members whose
    /// names mark a credential (`password`, `client_secret`, `api_key`...); in a form, the
    /// values of such fields. Anything else is shown as it is.
    pub fn body(&self, text: &str) -> String {
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            return match serde_json::from_str::<Value>(text) {
                Ok(mut v) => {
                    if self.redact_json(&mut v) {
                        v.to_string()
                    } else {
                        text.to_string()
                    }
                }
                // Cut short (or not JSON): shown as it is.
                Err(_) => text.to_string(),
            };
        }
        let form = !text.is_empty()
            && !text.contains(char::is_whitespace)
            && text.split('&').all(|p| p.contains('='));
        if form {
            self.query(text)
        } else {
            text.to_string()
        }
    }

    /// Replace credential members in place; whether any was.
    fn redact_json(&self, v: &mut Value) -> bool {
        match v {
            Value::Object(m) => {
                let mut any = false;
                for (k, x) in m.iter_mut() {
                    if self.secret_query(k) && !x.is_object() && !x.is_array() && !x.is_null() {
                        *x = Value::String(REDACTED.into());
                        any = true;
                    } else {
                        any |= self.redact_json(x);
                    }
                }
                any
            }
            Value::Array(a) => a.iter_mut().fold(false, |any, x| self.redact_json(x) | any),
            _ => false,
        }
    }

    /// Headers as a JSON object (repeated names joined with ", "), credentials replaced.
    pub fn headers(&self, h: &http::HeaderMap) -> Value {
        let mut out = Map::new();
        for name in h.keys() {
            let value = if self.secret_header(name.as_str()) {
                REDACTED.to_string()
            } else {
                h.get_all(name)
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            out.insert(name.as_str().to_string(), Value::String(value));
        }
        Value::Object(out)
    }
}

/// A body as shown: its text (lossy UTF-8, credentials redacted), whether it was cut, its
/// whole size.
fn body_json(body: &Bytes, size: usize, r: &Redactor) -> Value {
    json!({
        "text": r.body(&String::from_utf8_lossy(body)),
        "truncated": body.len() < size,
        "size": size,
    })
}

/// An entry as the admin API shows it.
pub fn entry_json(e: &Exchange, engine: &Engine, near_misses: bool) -> Value {
    let r = engine.redactor();
    let scripted = e.answered.as_ref().and_then(|a| a.scripted.as_ref());
    let mut v = json!({
        "id": e.seq,
        "at": crate::data::entity::format_millis(e.at_ms),
        "session": e.session(),
        "method": e.method.as_str(),
        "path": e.uri.path(),
        "query": r.query(e.uri.query().unwrap_or("")),
        "headers": r.headers(&e.headers),
        "body": body_json(&e.body, e.body_size, r),
        "status": e.status,
        "latency_ms": e.latency.as_secs_f64() * 1000.0,
        "delay_ms": e.delay.map(|d| d.as_millis() as u64),
        "dropped": e.dropped,
        "api": e.op.as_ref().map(|op| &*op.api),
        "operation": e.op.as_ref().map(|op| json!({
            "id": op.id,
            "method": op.method,
            "path": op.path,
        })),
        "variant": e.answered.as_ref().and_then(|a| a.variant.as_deref()),
        "scenario": scripted.map(|s| json!({
            "name": s.scenario,
            "step": s.step,
            "step_name": s.step_name,
        })),
        "matched": !e.unmatched(),
        "response": {
            "headers": r.headers(&e.response_headers),
            "body": body_json(&e.response_body, e.response_size, r),
        },
    });
    if near_misses
        && e.unmatched()
        && let Some(o) = v.as_object_mut()
    {
        o.insert(
            "near_misses".into(),
            engine.near_misses_json(e.method.as_str(), e.uri.path()),
        );
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(method: &str, target: &str, status: u16, session: Option<&str>) -> Exchange {
        let mut headers = http::HeaderMap::new();
        if let Some(s) = session {
            headers.insert(SESSION_HEADER, http::HeaderValue::from_str(s).unwrap());
        }
        headers.insert(
            "authorization",
            http::HeaderValue::from_static("Bearer s3cret"),
        );
        Exchange {
            seq: 0,
            at_ms: 0,
            method: method.parse().unwrap(),
            uri: target.parse().unwrap(),
            headers,
            body: Bytes::from_static(br#"{"name":"a","n":{"x":1}}"#),
            body_size: 24,
            status,
            response_headers: http::HeaderMap::new(),
            response_body: Bytes::new(),
            response_size: 0,
            latency: Duration::from_millis(1),
            delay: None,
            dropped: false,
            answered: None,
            op: None,
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_within_its_limits() {
        let j = Journal::new(Limits {
            entries: 3,
            ..Limits::default()
        });
        for i in 0..5 {
            j.record(ex("GET", &format!("/x/{i}"), 200, None));
        }
        let f = j.fill();
        assert_eq!((f.entries, f.evicted), (3, 2));
        assert!(j.get(2).is_none(), "evicted");
        assert_eq!(
            j.get(5).map(|e| e.uri.path().to_string()),
            Some("/x/4".into())
        );
        assert_eq!(j.get(3).map(|e| e.seq), Some(3));
        // Bytes bound: a tiny budget keeps only the newest entry.
        let j = Journal::new(Limits {
            entries: 100,
            body: 1,
            bytes: 10,
        });
        j.record(ex("GET", "/a", 200, None));
        j.record(ex("GET", "/b", 200, None));
        assert_eq!(j.fill().entries, 1);
        // Off.
        let j = Journal::new(Limits {
            entries: 0,
            ..Limits::default()
        });
        j.record(ex("GET", "/a", 200, None));
        assert_eq!(j.fill().entries, 0);
    }

    #[test]
    fn clearing_one_session_keeps_the_others() {
        let j = Journal::new(Limits::default());
        j.record(ex("GET", "/a", 200, Some("s1")));
        j.record(ex("GET", "/b", 200, Some("s2")));
        j.record(ex("GET", "/c", 200, None));
        assert_eq!(j.clear(Some("s1")), 1);
        assert_eq!(j.fill().entries, 2);
        // Ids still find their entries across the gap.
        assert_eq!(
            j.get(2).map(|e| e.uri.path().to_string()),
            Some("/b".into())
        );
        assert_eq!(
            j.get(3).map(|e| e.uri.path().to_string()),
            Some("/c".into())
        );
        assert!(j.get(1).is_none());
        assert_eq!(j.clear(Some(DEFAULT_SESSION)), 1);
        assert_eq!(j.clear(None), 1);
        assert_eq!(j.fill().entries, 0);
    }

    #[test]
    fn a_body_is_cut_to_the_limit_and_keeps_its_size() {
        let b = Bytes::from(vec![b'a'; 100]);
        assert_eq!(cut(&b, 10).len(), 10);
        assert_eq!(cut(&b, 100).len(), 100);
        let shown = body_json(&cut(&b, 10), 100, &Redactor::default());
        assert_eq!(shown["truncated"], true);
        assert_eq!(shown["size"], 100);
    }

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

    #[test]
    fn credentials_are_never_shown() {
        let r = Redactor::new(vec!["X-Vendor-Key".into()], vec!["sig".into()]);
        let mut h = http::HeaderMap::new();
        h.insert(
            "authorization",
            http::HeaderValue::from_static("Bearer abc"),
        );
        h.insert("x-vendor-key", http::HeaderValue::from_static("abc"));
        h.insert("x-session-token", http::HeaderValue::from_static("abc"));
        h.insert("accept", http::HeaderValue::from_static("application/json"));
        let shown = r.headers(&h);
        assert_eq!(shown["authorization"], REDACTED);
        assert_eq!(shown["x-vendor-key"], REDACTED);
        assert_eq!(shown["x-session-token"], REDACTED);
        assert_eq!(shown["accept"], "application/json");
        assert_eq!(
            r.query("limit=2&sig=abc&api_key=k&q=x"),
            format!("limit=2&sig={REDACTED}&api_key={REDACTED}&q=x")
        );
        // Bodies: JSON members and form fields that hold credentials.
        let shown =
            r.body(r#"{"name":"a","password":"p","auth":{"client_secret":"s"},"tokens":[1]}"#);
        assert!(
            !shown.contains("\"p\"") && !shown.contains("\"s\""),
            "{shown}"
        );
        assert!(shown.contains("\"name\":\"a\""), "{shown}");
        assert!(
            shown.contains("\"tokens\":[1]"),
            "lists are walked, not replaced: {shown}"
        );
        assert_eq!(
            r.body("user=a&password=b"),
            format!("user=a&password={REDACTED}")
        );
        assert_eq!(r.body("plain text"), "plain text");
        assert_eq!(r.body(r#"{"cut": "#), r#"{"cut": "#);
    }
}
