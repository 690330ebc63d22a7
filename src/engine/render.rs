//! Shaping response bodies: an entity shown through a response schema (projection), fields that
//! appear only on request (`expand`, `include`), and list envelopes addressed by JSON pointer.

use std::hash::Hasher;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Map, Value};
use siphasher::sip::SipHasher13;

use crate::data::path::set_path;
use crate::query::params::Params;
use crate::spec::behaviour::Bound;
use crate::spec::schema::{Kind, Node};

/// Serialized items of unchanged (base) entities, by (operation, variant, entity index). Entities
/// are deterministic, so a rendered item never goes stale; the cache is bounded by bytes.
pub struct RenderCache {
    cache: quick_cache::sync::Cache<(usize, u64, u32), Bytes, ByteWeight>,
}

/// Weighs a cached item by its size.
#[derive(Clone)]
pub struct ByteWeight;

impl quick_cache::Weighter<(usize, u64, u32), Bytes> for ByteWeight {
    fn weight(&self, _key: &(usize, u64, u32), val: &Bytes) -> u64 {
        val.len() as u64 + 48
    }
}

/// Whole successful answers of unchanged data, by operation, variant, host, path and query.
/// It hashes and compares as its borrowed form, [`AnswerLookup`], which a lookup uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerKey {
    op: usize,
    variant: u64,
    host: String,
    path: String,
    query: String,
}

/// An [`AnswerKey`] borrowed from a request: a lookup copies nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AnswerLookup<'a> {
    pub op: usize,
    pub variant: u64,
    pub host: &'a str,
    pub path: &'a str,
    pub query: &'a str,
}

impl AnswerLookup<'_> {
    /// The key to keep an answer under.
    pub fn owned(&self) -> AnswerKey {
        AnswerKey {
            op: self.op,
            variant: self.variant,
            host: self.host.to_string(),
            path: self.path.to_string(),
            query: self.query.to_string(),
        }
    }
}

impl AnswerKey {
    fn borrowed(&self) -> AnswerLookup<'_> {
        AnswerLookup {
            op: self.op,
            variant: self.variant,
            host: &self.host,
            path: &self.path,
            query: &self.query,
        }
    }
}

impl std::hash::Hash for AnswerKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.borrowed().hash(h);
    }
}

impl quick_cache::Equivalent<AnswerKey> for AnswerLookup<'_> {
    fn equivalent(&self, k: &AnswerKey) -> bool {
        *self == k.borrowed()
    }
}

/// Weighs a cached answer by its size.
#[derive(Clone)]
pub struct AnswerWeight;

impl quick_cache::Weighter<AnswerKey, Arc<super::Response>> for AnswerWeight {
    fn weight(&self, key: &AnswerKey, val: &Arc<super::Response>) -> u64 {
        (val.body.len() + key.host.len() + key.path.len() + key.query.len() + 128) as u64
    }
}

/// A cache of whole answers, bounded by bytes.
/// A hit is shared (an `Arc`): each answer is made afresh from it ([`super::Response::again`]).
pub type AnswerCache = quick_cache::sync::Cache<AnswerKey, Arc<super::Response>, AnswerWeight>;

/// Bytes of whole answers kept per mounted API.
pub const ANSWER_BYTES: u64 = 32 << 20;

/// A new answer cache.
pub fn answer_cache() -> AnswerCache {
    quick_cache::sync::Cache::with_weighter(16_384, ANSWER_BYTES, AnswerWeight)
}

/// Bytes of rendered items kept per mounted API.
const CACHE_BYTES: u64 = 128 << 20;

impl Default for RenderCache {
    fn default() -> Self {
        RenderCache {
            cache: quick_cache::sync::Cache::with_weighter(65_536, CACHE_BYTES, ByteWeight),
        }
    }
}

impl RenderCache {
    /// The rendered item, from the cache or made by `render` (and kept).
    pub fn get_or_render(&self, key: (usize, u64, u32), render: impl FnOnce() -> Bytes) -> Bytes {
        if let Some(b) = self.cache.get(&key) {
            return b;
        }
        let b = render();
        self.cache.insert(key, b.clone());
        b
    }
}

/// The projection variant a request asks for: a hash of the parameters that change how an item
/// is shown (`expand` flags, `include` lists).
pub fn variant(x: &Bound, params: &Params) -> u64 {
    let mut h = SipHasher13::new();
    for e in &x.expand {
        h.write_u8(u8::from(
            params.get(&e.param).and_then(Value::as_bool) == Some(true),
        ));
    }
    if let Some(inc) = &x.include
        && let Some(v) = params.get(&inc.param)
    {
        let mut names: Vec<String> = match v {
            Value::Array(a) => a.iter().map(|x| x.to_string()).collect(),
            other => vec![other.to_string()],
        };
        names.sort();
        names.dedup();
        for n in names {
            h.write(n.as_bytes());
            h.write_u8(0);
        }
    }
    h.finish()
}

/// An entity shown as an item of `node`, with its optional fields settled.
pub fn item(entity: Value, node: Option<&Node>, x: &Bound, params: &Params) -> Value {
    match node {
        Some(n) => {
            let mut v = project(entity, n);
            apply_optional_fields(&mut v, n, x, params);
            v
        }
        None => entity,
    }
}

/// A JSON body whose array at `items` is made of already-serialized items, followed by the
/// `extras` (total, next-page token) at their pointers, over a `base` body (the envelope's
/// other fields; `Null` for none).
pub fn envelope_on(
    base: Value,
    items_ptr: &str,
    items: &[Bytes],
    extras: Vec<(&str, Value)>,
) -> Bytes {
    let len: usize = items.iter().map(Bytes::len).sum::<usize>() + items.len() + 2;
    splice_at(base, items_ptr, extras, len, |out| {
        out.push(b'[');
        for (i, it) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(it);
        }
        out.push(b']');
    })
}

/// A JSON body with one already-serialized value at `pointer` (the whole body when empty).
pub fn envelope_with_item(pointer: &str, item: Bytes) -> Bytes {
    if pointer.is_empty() {
        return item;
    }
    splice_at(Value::Null, pointer, Vec::new(), item.len(), |out| {
        out.extend_from_slice(&item)
    })
}

/// Serialize a body holding `extras` at their pointers and, at `pointer`, the bytes `write`
/// appends (`len` of them, for the allocation).
fn splice_at(
    base: Value,
    pointer: &str,
    extras: Vec<(&str, Value)>,
    len: usize,
    write: impl FnOnce(&mut Vec<u8>),
) -> Bytes {
    // A placeholder that holds NUL characters, which JSON always escapes: no serialized value
    // of the body can contain its serialized form by accident.
    let mut body = base;
    set_pointer(
        &mut body,
        pointer,
        Value::String("\u{0}understudy:items\u{0}".into()),
    );
    for (pointer, v) in extras {
        set_pointer(&mut body, pointer, v);
    }
    let text = crate::data::json::to_vec(&body);
    let marker: &[u8] = b"\"\\u0000understudy:items\\u0000\"";
    let Some(at) = find(&text, marker) else {
        return Bytes::from(text);
    };
    let mut out = Vec::with_capacity(text.len() + len);
    out.extend_from_slice(&text[..at]);
    write(&mut out);
    out.extend_from_slice(&text[at + marker.len()..]);
    Bytes::from(out)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Keep only what `node` declares (recursively); free-form parts are kept whole.
pub fn project(v: Value, node: &Node) -> Value {
    if projected(&v, node) {
        return v;
    }
    reshape(v, node)
}

/// Whether [`project`] would answer `v` as it is: every object's fields declared, in the
/// schema's order (in a free-form object, the undeclared ones after them). Checked without
/// building anything, since most entities are generated in that shape.
pub(crate) fn projected(v: &Value, node: &Node) -> bool {
    match (&*node.kind, v) {
        (
            Kind::Object {
                props, free_form, ..
            },
            Value::Object(m),
        ) => {
            if props.is_empty() {
                return true;
            }
            let declared = |k: &str| props.iter().any(|(p, _)| p == k);
            let mut next = 0;
            let mut extras = false;
            for (k, x) in m {
                if extras {
                    if declared(k) {
                        return false;
                    }
                    continue;
                }
                match props[next..].iter().position(|(p, _)| p == k) {
                    Some(d) => {
                        next += d + 1;
                        if !projected(x, &props[next - 1].1) {
                            return false;
                        }
                    }
                    None if *free_form && !declared(k) => extras = true,
                    None => return false,
                }
            }
            true
        }
        (Kind::Array { items, .. }, Value::Array(a)) => a.iter().all(|x| projected(x, items)),
        _ => true,
    }
}

/// [`project`], moving what it keeps.
fn reshape(v: Value, node: &Node) -> Value {
    match (&*node.kind, v) {
        (
            Kind::Object {
                props, free_form, ..
            },
            Value::Object(mut m),
        ) => {
            if props.is_empty() {
                return Value::Object(m);
            }
            // The declared fields in the schema's order, then (free-form) the others in the
            // entity's.
            let mut out = Map::with_capacity(m.len());
            for (k, n) in props {
                if let Some(x) = m.shift_remove(k) {
                    out.insert(k.clone(), reshape(x, n));
                }
            }
            if *free_form {
                for (k, x) in m {
                    out.insert(k, x);
                }
            }
            Value::Object(out)
        }
        (Kind::Array { items, .. }, Value::Array(a)) => {
            Value::Array(a.into_iter().map(|x| reshape(x, items)).collect())
        }
        (_, v) => v,
    }
}

/// Set `v` at `pointer` inside `root`, creating objects on the way.
pub fn set_pointer(root: &mut Value, pointer: &str, v: Value) {
    if pointer.is_empty() {
        *root = v;
        return;
    }
    let segs: Vec<&str> = pointer.split('/').skip(1).collect();
    let mut cur = root;
    for (i, seg) in segs.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(m) = cur else { return };
        if i + 1 == segs.len() {
            m.insert((*seg).to_string(), v);
            return;
        }
        cur = m
            .entry((*seg).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Apply `expand` (fields shown only when a boolean parameter is true) and `include` (relational
/// fields shown empty unless asked for) to a projected item.
pub fn apply_optional_fields(item: &mut Value, node: &Node, x: &Bound, params: &Params) {
    for e in &x.expand {
        if params.get(&e.param).and_then(Value::as_bool) != Some(true) {
            for f in &e.fields {
                set_path(item, f, None);
            }
        }
    }
    if let Some(inc) = &x.include {
        let asked: Vec<&str> = match params.get(&inc.param) {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(s)) => vec![s.as_str()],
            _ => Vec::new(),
        };
        for (name, fields) in &inc.fields {
            if asked.contains(&name.as_str()) {
                continue;
            }
            for f in fields {
                match node.at_path(f) {
                    Some(n) if matches!(*n.kind, Kind::Array { .. }) => {
                        replace_path(item, f, Value::Array(Vec::new()))
                    }
                    Some(n) if n.nullable => replace_path(item, f, Value::Null),
                    Some(n) if !node.requires(f) || !matches!(*n.kind, Kind::Object { .. }) => {
                        set_path(item, f, None)
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Set a dotted path only where the item already has it (or at the top level).
fn replace_path(item: &mut Value, path: &str, v: Value) {
    let pointer: String = path.split('.').map(|s| format!("/{s}")).collect();
    if item.pointer(&pointer).is_some() || !path.contains('.') {
        set_path(item, path, Some(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::schema::Compiler;
    use serde_json::json;

    #[test]
    fn a_borrowed_key_finds_what_its_owned_form_keeps() {
        let cache = answer_cache();
        let at = |path| AnswerLookup {
            op: 2,
            variant: 0,
            host: "localhost:4010",
            path,
            query: "limit=2",
        };
        let kept = Arc::new(super::super::Response::bytes(
            200,
            Bytes::from_static(b"[]"),
        ));
        cache.insert(at("/v1/things").owned(), kept);
        assert!(cache.get(&at("/v1/things")).is_some());
        assert!(cache.get(&at("/v1/thing")).is_none());
        let other_host = AnswerLookup {
            host: "127.0.0.1:4010",
            ..at("/v1/things")
        };
        assert!(cache.get(&other_host).is_none());
    }

    fn node(schema: Value) -> Node {
        let doc = Value::Null;
        Compiler::new("t", &doc, crate::spec::schema::Dialect::V30)
            .compile(&schema, "x")
            .unwrap()
    }

    #[test]
    fn projection_keeps_declared_fields_and_free_form_parts() {
        let n = node(json!({"type": "object", "properties": {
            "id": {"type": "string"},
            "d": {"type": "object", "properties": {"m": {"type": "object"}}}
        }}));
        let v = json!({"id": "a", "secret": 1, "d": {"m": {"x": 1, "y": [2]}, "z": 3}});
        assert_eq!(
            project(v, &n),
            json!({"id": "a", "d": {"m": {"x": 1, "y": [2]}}})
        );
    }

    #[test]
    fn projection_answers_a_declared_shape_as_it_is_and_reorders_others() {
        let n = node(
            json!({"type": "object", "additionalProperties": true, "properties": {
                "a": {"type": "string"},
                "b": {"type": "array", "items": {"type": "object", "properties": {"c": {}}}}
            }}),
        );
        let same = json!({"a": "x", "b": [{"c": 1}], "extra": 2});
        assert!(projected(&same, &n));
        assert_eq!(project(same.clone(), &n), same);
        // Out of the schema's order: reordered (free-form fields after the declared ones).
        let v = json!({"extra": 2, "b": [], "a": "x"});
        assert!(!projected(&v, &n));
        let out = serde_json::to_string(&project(v, &n)).unwrap();
        assert_eq!(out, r#"{"a":"x","b":[],"extra":2}"#);
        // An undeclared field inside an array item is dropped.
        let v = json!({"a": "x", "b": [{"c": 1, "d": 2}]});
        assert!(!projected(&v, &n));
        assert_eq!(project(v, &n), json!({"a": "x", "b": [{"c": 1}]}));
    }

    #[test]
    fn envelopes_splice_serialized_items() {
        let items = [Bytes::from_static(b"{\"a\":1}"), Bytes::from_static(b"[2]")];
        let out = envelope_on(
            Value::Null,
            "/things",
            &items,
            vec![("/metadata/total_count", json!(2))],
        );
        assert!(out.starts_with(b"{\"things\":["), "items come first");
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            json!({"metadata": {"total_count": 2}, "things": [{"a": 1}, [2]]})
        );
        let bare = envelope_on(Value::Null, "", &items, Vec::new());
        assert_eq!(&bare[..], b"[{\"a\":1},[2]]");
        let empty = envelope_on(Value::Null, "/data", &[], Vec::new());
        assert_eq!(&empty[..], b"{\"data\":[]}");
    }

    #[test]
    fn pointers_set_and_find() {
        let mut v = Value::Null;
        set_pointer(&mut v, "/metadata/total_count", json!(3));
        set_pointer(&mut v, "/things", json!([]));
        assert_eq!(v, json!({"metadata": {"total_count": 3}, "things": []}));
        let n = node(
            json!({"type": "object", "properties": {"things": {"type": "array", "items": {"type": "string"}}}}),
        );
        assert!(matches!(
            n.at_pointer("/things").map(|n| &*n.kind),
            Some(Kind::Array { .. })
        ));
    }
}
