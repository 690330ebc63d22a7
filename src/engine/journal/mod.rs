//! The request journal: the most recent exchanges the server answered (request, response,
//! timing, the operation and scenario step that answered), in a bounded ring, and the matchers
//! that select from it for `GET /__understudy/requests` and for verification
//! (`POST /__understudy/requests/count` and `.../find`).
//!
//! The journal is written by the observing layer around the handler ([`super::service`]),
//! never by the engine itself; admin calls are not journaled. What it keeps is a copy of its
//! own, cheap to take (the target and the headers in one buffer each, bodies cut to a
//! documented size); credentials are redacted when an entry is shown, not when it is kept.
//!
//! In three parts: this file keeps the ring and shows entries; [`matcher`] selects them;
//! [`redact`] hides credentials.

mod matcher;
mod redact;

pub use matcher::{Matcher, MatcherError, PathMatch, StatusMatch};
pub use redact::{REDACTED, Redactor};

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};

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
    /// Most bytes kept in all (bodies and headers): past it the oldest entries go first. The
    /// default (4 MiB) holds the default 1,000 entries of bodies up to about 2 KB, and about
    /// 240 whose responses are cut at the default 16 KiB.
    pub bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            entries: 1000,
            body: 16 << 10,
            bytes: 4 << 20,
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
    /// The request's path and query.
    pub target: Target,
    pub headers: Headers,
    /// The request body, cut to the journal's body limit.
    pub body: Bytes,
    /// The request body's whole size.
    pub body_size: usize,
    pub status: u16,
    pub response_headers: Headers,
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
        self.headers.get(SESSION_HEADER).unwrap_or(DEFAULT_SESSION)
    }

    /// Whether no operation matched the request (a 404 or 405 understudy made itself).
    pub fn unmatched(&self) -> bool {
        self.answered.is_none() && matches!(self.status, 404 | 405)
    }

    /// Roughly the bytes this entry holds (a body shared with the answer cache or with other
    /// entries is counted in full: the weight may overstate, never understate).
    fn weight(&self) -> usize {
        ENTRY_BYTES
            + self.body.len()
            + self.response_body.len()
            + self.headers.size()
            + self.response_headers.size()
            + self.target.text.len()
    }
}

/// What an entry holds besides its bodies, headers and target: the [`Exchange`] and its
/// `Arc`, the ring's slot, the allocator's rounding of its buffers. An upper bound: it was
/// measured when headers were kept as two header maps, which cost more than [`Headers`].
const ENTRY_BYTES: usize = 768;

/// A request body as the journal keeps it: a copy of at most its first `limit` bytes. Never a
/// slice of the request's own buffer, which may be the connection's whole read buffer.
pub fn cut(body: &Bytes, limit: usize) -> Bytes {
    Bytes::copy_from_slice(&body[..body.len().min(limit)])
}

/// A request's path and query as the journal keeps them: a copy of its own, one allocation
/// (not a `Uri`, which would parse the text again for nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    text: Box<str>,
    path_end: usize,
}

impl Target {
    pub fn of(uri: &http::Uri) -> Target {
        let (path, query) = (uri.path(), uri.query());
        let mut text = String::with_capacity(path.len() + query.map_or(0, |q| q.len() + 1));
        text.push_str(path);
        if let Some(q) = query {
            text.push('?');
            text.push_str(q);
        }
        Target {
            text: text.into_boxed_str(),
            path_end: path.len(),
        }
    }

    pub fn path(&self) -> &str {
        &self.text[..self.path_end]
    }

    pub fn query(&self) -> Option<&str> {
        self.text.get(self.path_end + 1..)
    }
}

/// Headers as the journal keeps them: a copy of their own, in one allocation (`name:value\n`
/// per header, in order; a header value holds neither `\n` nor `\r`, a name no `:`). The
/// server's values are slices of the connection's read buffer (8 KiB or more), which a kept
/// slice would keep alive for as long as the entry; and a copied `HeaderMap` costs three
/// allocations and its hash table, on every request, for entries that are mostly never read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Box<[u8]>);

impl Headers {
    /// A copy of `h`.
    pub fn of(h: &http::HeaderMap) -> Headers {
        let size = h.iter().map(|(k, v)| k.as_str().len() + v.len() + 2).sum();
        let mut text = Vec::with_capacity(size);
        for (k, v) in h {
            text.extend_from_slice(k.as_str().as_bytes());
            text.push(b':');
            text.extend_from_slice(v.as_bytes());
            text.push(b'\n');
        }
        Headers(text.into_boxed_slice())
    }

    /// Each header's (lower-case) name and value, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0.split(|&b| b == b'\n').filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let name = std::str::from_utf8(&line[..colon]).ok()?;
            Some((name, &line[colon + 1..]))
        })
    }

    /// The values of the headers named `name` (lower-case), in order.
    pub fn get_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]> {
        self.iter().filter(move |(k, _)| *k == name).map(|(_, v)| v)
    }

    /// The first value of the header named `name` (lower-case), as text.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_all(name)
            .next()
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The bytes kept.
    fn size(&self) -> usize {
        self.0.len()
    }
}

/// The wall clock now, as Unix milliseconds (what the journal and reload records carry).
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The journal.
#[derive(Debug)]
pub struct Journal {
    limits: Limits,
    ring: Mutex<Ring>,
    /// The last response body cut to the body limit: the same large answer (a cached page)
    /// answered again shares this copy rather than making one per entry.
    last_cut: Mutex<Bytes>,
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
            last_cut: Mutex::new(Bytes::new()),
            events: Mutex::new(VecDeque::new()),
        }
    }

    /// A response body as the journal keeps it: whole when it fits (a reference to the
    /// answer's own buffer), else its first `limit` bytes, shared with the previous entry's
    /// when they are the same bytes.
    pub fn cut_response(&self, body: &Bytes) -> Bytes {
        let limit = self.limits.body;
        if body.len() <= limit {
            return body.clone();
        }
        let head = &body[..limit];
        // Compared and copied outside the lock: only the reference is taken and set under it.
        let last = lock(&self.last_cut).clone();
        if last.as_ref() == head {
            return last;
        }
        let cut = Bytes::copy_from_slice(head);
        *lock(&self.last_cut) = cut.clone();
        cut
    }

    /// Keep a server event (the oldest go past [`MAX_EVENTS`]).
    pub fn note(&self, kind: &'static str, ok: bool, message: String) {
        let at_ms = wall_ms();
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
        "path": e.target.path(),
        "query": r.query(e.target.query().unwrap_or("")),
        "headers": r.headers(e.headers.iter()),
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
            "headers": r.headers(e.response_headers.iter()),
            "body": body_json(&e.response_body, e.response_size, r),
        },
    });
    if near_misses
        && e.unmatched()
        && let Some(o) = v.as_object_mut()
    {
        o.insert(
            "near_misses".into(),
            engine.near_misses_json(e.method.as_str(), e.target.path()),
        );
    }
    v
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn ex(method: &str, target: &str, status: u16, session: Option<&str>) -> Exchange {
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
            target: Target::of(&target.parse().unwrap()),
            headers: Headers::of(&headers),
            body: Bytes::from_static(br#"{"name":"a","n":{"x":1}}"#),
            body_size: 24,
            status,
            response_headers: Headers::default(),
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
            j.get(5).map(|e| e.target.path().to_string()),
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
            j.get(2).map(|e| e.target.path().to_string()),
            Some("/b".into())
        );
        assert_eq!(
            j.get(3).map(|e| e.target.path().to_string()),
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
        // Never the request's own buffer, even when the whole body fits.
        assert_ne!(cut(&b, 100).as_ptr(), b.as_ptr());
    }

    #[test]
    fn a_large_response_answered_again_shares_one_cut_copy() {
        let j = Journal::new(Limits {
            body: 10,
            ..Limits::default()
        });
        let page = Bytes::from(vec![b'p'; 100]);
        let (a, b) = (j.cut_response(&page), j.cut_response(&page.clone()));
        assert_eq!((a.len(), a.as_ptr()), (10, b.as_ptr()));
        // A different page gets its own copy; a body within the limit is the answer's own.
        let other = Bytes::from(vec![b'q'; 100]);
        assert_eq!(&j.cut_response(&other)[..], &[b'q'; 10]);
        let small = Bytes::from_static(b"small");
        assert_eq!(j.cut_response(&small).as_ptr(), small.as_ptr());
    }

    #[test]
    fn kept_headers_and_targets_are_copies_in_order() {
        let buf = Bytes::from_static(b"/x/1?q=2 secret-token s1");
        let uri = http::Uri::from_maybe_shared(buf.slice(0..8)).unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_maybe_shared(buf.slice(9..21)).unwrap(),
        );
        headers.append("x-tag", http::HeaderValue::from_static("a"));
        headers.append(
            "x-tag",
            http::HeaderValue::from_maybe_shared(buf.slice(22..24)).unwrap(),
        );
        headers.append(
            "x-raw",
            http::HeaderValue::from_bytes(b"caf\xe9:1").unwrap(),
        );
        let (u, h) = (Target::of(&uri), Headers::of(&headers));
        assert_eq!((u.path(), u.query()), ("/x/1", Some("q=2")));
        for (text, path, query) in [
            ("/a", "/a", None),
            ("/a?", "/a", Some("")),
            ("http://h/b?c", "/b", Some("c")),
        ] {
            let t = Target::of(&text.parse().unwrap());
            assert_eq!((t.path(), t.query()), (path, query), "{text}");
        }
        let kept: Vec<(&str, &[u8])> = h.iter().collect();
        assert_eq!(
            kept,
            [
                ("authorization", &b"secret-token"[..]),
                ("x-tag", b"a"),
                ("x-tag", b"s1"),
                ("x-raw", b"caf\xe9:1"),
            ]
        );
        assert_eq!(h.iter().count(), 4);
        assert_eq!(h.get("authorization"), Some("secret-token"));
        assert_eq!(h.get_all("x-tag").collect::<Vec<_>>(), [&b"a"[..], b"s1"]);
        assert_eq!(h.get("x-raw"), None, "not UTF-8");
        assert_eq!(h.get("x-none"), None);
        assert_eq!(Headers::default().iter().count(), 0);
        let inside = |p: *const u8| buf.as_ptr_range().contains(&p);
        assert!(!inside(h.0.as_ptr()));
        assert!(!inside(u.path().as_ptr()));
    }
}
