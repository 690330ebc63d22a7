//! The document as inference reads it: `$ref`s and one-part wrappers followed, the shape of a
//! schema (an object, an array of objects, nullable) and an object's properties.
//!
//! Every walk over `$ref`s and `allOf`/`anyOf`/`oneOf` goes through [`Doc`] and is bounded
//! three ways: a `$ref` already on the current path is not followed again (a schema that
//! includes itself, or two that include each other), one walk takes at most [`WALK_STEPS`]
//! steps (a diamond of `allOf`s doubles at each level without any cycle), and one inference at
//! most [`TOTAL_STEPS`]. A walk cut short answers conservatively: not an object, no usable
//! properties, nullable.

use std::cell::Cell;
use std::collections::BTreeSet;

use serde_json::Value;

use super::shape::{at_ref, is_shapeless, says_null, type_of, unwrap_one};

/// How many `$ref` hops in a row, and how many nested `allOf`s or alternatives, are followed.
pub(super) const MAX_DEPTH: usize = 32;
/// Steps (`$ref` hops, unwrapped wrappers, schemas visited) one walk may take.
const WALK_STEPS: usize = 10_000;
/// Steps all the walks of one inference may take together.
const TOTAL_STEPS: usize = 2_000_000;

/// The whole document, with what is left of the inference's step budget.
pub(super) struct Doc<'a> {
    pub root: &'a Value,
    left: Cell<usize>,
}

/// One walk: its own budget and the `$ref`s on the current path.
struct Walk<'a> {
    left: usize,
    refs: Vec<&'a str>,
    /// Out of steps (this walk's or the inference's) or too deep: the answer is incomplete.
    cut: bool,
}

impl Walk<'_> {
    fn new() -> Self {
        Walk {
            left: WALK_STEPS,
            refs: Vec::new(),
            cut: false,
        }
    }

    /// Take the last `pushed` `$ref`s off the path.
    fn leave(&mut self, pushed: usize) {
        self.refs.truncate(self.refs.len().saturating_sub(pushed));
    }
}

impl<'a> Doc<'a> {
    pub fn new(root: &'a Value) -> Self {
        Self::with_budget(root, TOTAL_STEPS)
    }

    fn with_budget(root: &'a Value, steps: usize) -> Self {
        Doc {
            root,
            left: Cell::new(steps),
        }
    }

    /// Take one step of `w`; `false` (and `w` cut) when a budget is spent.
    fn step(&self, w: &mut Walk<'a>) -> bool {
        self.take(w, 1)
    }

    fn take(&self, w: &mut Walk<'a>, n: usize) -> bool {
        let total = self.left.get();
        if w.cut || w.left < n || total < n {
            w.cut = true;
            return false;
        }
        w.left -= n;
        self.left.set(total - n);
        true
    }

    /// `v` with its `$ref` chain followed (and, with `unwrap`, its one-part wrappers looked
    /// through), each `$ref` pushed on `w`'s path; with how many were pushed. `None` (nothing
    /// left pushed) when a reference does not resolve, is already on the path or the chain is
    /// too long, or a budget is spent.
    fn follow(&self, w: &mut Walk<'a>, v: &'a Value, unwrap: bool) -> Option<(&'a Value, usize)> {
        let mut cur = v;
        let mut pushed = 0;
        let found = loop {
            if pushed > MAX_DEPTH || !self.step(w) {
                break None;
            }
            if let Some(r) = cur.get("$ref").and_then(Value::as_str) {
                if w.refs.contains(&r) {
                    break None;
                }
                let Some(target) = at_ref(self.root, r) else {
                    break None;
                };
                w.refs.push(r);
                pushed += 1;
                cur = target;
                continue;
            }
            let next = if unwrap { unwrap_one(cur) } else { cur };
            if std::ptr::eq(next, cur) {
                break Some(cur);
            }
            cur = next;
        };
        match found {
            Some(s) => Some((s, pushed)),
            None => {
                w.leave(pushed);
                None
            }
        }
    }

    /// `v` with its `$ref` chain followed.
    pub fn resolve(&self, v: &'a Value) -> Option<&'a Value> {
        self.follow(&mut Walk::new(), v, false).map(|(s, _)| s)
    }

    /// `v` resolved and unwrapped until it is a schema with its own shape.
    pub fn underlying(&self, v: &'a Value) -> Option<&'a Value> {
        self.follow(&mut Walk::new(), v, true).map(|(s, _)| s)
    }

    /// Whether a schema admits `null` (3.0 `nullable`, a `null` in a 3.1 `type` array, or a
    /// `null` branch of an `anyOf`/`oneOf`), through `$ref`s and one-part wrappers. A schema
    /// that cannot be read to the end may be nullable.
    pub fn admits_null(&self, v: &'a Value) -> bool {
        self.admits_null_in(&mut Walk::new(), v, 0)
    }

    fn admits_null_in(&self, w: &mut Walk<'a>, v: &'a Value, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return true;
        }
        let Some((s, pushed)) = self.follow(w, v, false) else {
            return true;
        };
        let answer = if says_null(s) {
            true
        } else {
            let inner = unwrap_one(s);
            !std::ptr::eq(inner, s) && self.admits_null_in(w, inner, depth + 1)
        };
        w.leave(pushed);
        answer
    }

    /// Whether a schema describes plain objects: an object type or properties, or an `allOf`
    /// of objects (parts without any shape, such as `required` lists, are allowed). An `anyOf`
    /// or `oneOf` beside properties makes the schema a union when it is compiled, so it is not
    /// one. A part that includes the schema itself is not an object either.
    pub fn is_object(&self, v: &'a Value) -> bool {
        self.is_object_in(&mut Walk::new(), v, 0)
    }

    fn is_object_in(&self, w: &mut Walk<'a>, v: &'a Value, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        let Some((s, pushed)) = self.follow(w, v, true) else {
            return false;
        };
        let answer = self.object_shape(w, s, depth);
        w.leave(pushed);
        answer
    }

    fn object_shape(&self, w: &mut Walk<'a>, s: &'a Value, depth: usize) -> bool {
        if s.get("anyOf").is_some() || s.get("oneOf").is_some() {
            return false;
        }
        let Some(parts) = s.get("allOf").and_then(Value::as_array) else {
            return match type_of(s) {
                Some(t) => t == "object",
                None if s.get("type").is_some() => false,
                None => s.get("properties").is_some(),
            };
        };
        let own_ok = match type_of(s) {
            Some(t) => t == "object",
            None => s.get("type").is_none(),
        };
        if !own_ok {
            return false;
        }
        let mut objects = 0;
        for p in parts {
            if self.is_object_in(w, p, depth + 1) {
                objects += 1;
                continue;
            }
            let shapeless = match self.follow(w, p, true) {
                Some((t, pushed)) => {
                    w.leave(pushed);
                    is_shapeless(t)
                }
                None => false,
            };
            if !shapeless {
                return false;
            }
        }
        objects > 0 || s.get("properties").is_some()
    }

    /// The items schema when `v` describes an array of objects.
    pub fn array_of_objects(&self, v: &'a Value) -> Option<&'a Value> {
        let s = self.underlying(v)?;
        if type_of(s) != Some("array") {
            return None;
        }
        let items = s.get("items")?;
        self.is_object(items).then_some(items)
    }

    /// The properties of an object schema, through `$ref`s and `allOf` (first declaration
    /// wins), in document order. A part that includes the schema itself adds nothing; `None`
    /// when the schema cannot be read to the end (then which properties it has is unknown).
    pub fn properties(&self, v: &'a Value) -> Option<Vec<(&'a str, &'a Value)>> {
        let mut w = Walk::new();
        let mut found = Properties::default();
        self.collect_properties(&mut w, v, 0, &mut found);
        (!w.cut).then_some(found.list)
    }

    fn collect_properties(
        &self,
        w: &mut Walk<'a>,
        v: &'a Value,
        depth: usize,
        found: &mut Properties<'a>,
    ) {
        if depth > MAX_DEPTH {
            w.cut = true;
            return;
        }
        let Some((s, pushed)) = self.follow(w, v, false) else {
            return;
        };
        if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
            for p in parts {
                self.collect_properties(w, p, depth + 1, found);
            }
        }
        if let Some(props) = s.get("properties").and_then(Value::as_object)
            && self.take(w, 1 + props.len() / 16)
        {
            for (k, p) in props {
                if found.names.insert(k.as_str()) {
                    found.list.push((k.as_str(), p));
                }
            }
        }
        // A nullable reference (`anyOf: [$ref, null]`) is the referenced object.
        let inner = unwrap_one(s);
        if !std::ptr::eq(inner, s) && s.get("allOf").is_none() {
            self.collect_properties(w, inner, depth + 1, found);
        }
        w.leave(pushed);
    }

    /// Whether an object schema (or, for a union, one of its branches) declares property
    /// `name`; `false` when the schema cannot be read to the end.
    pub fn declares(&self, schema: &'a Value, name: &str) -> bool {
        self.declares_in(&mut Walk::new(), schema, name, 0)
    }

    fn declares_in(&self, w: &mut Walk<'a>, schema: &'a Value, name: &str, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        let mut found = Properties::default();
        self.collect_properties(w, schema, 0, &mut found);
        if w.cut {
            return false;
        }
        if found.names.contains(name) {
            return true;
        }
        let Some((s, pushed)) = self.follow(w, schema, true) else {
            return false;
        };
        let mut answer = false;
        'alternatives: for key in ["anyOf", "oneOf"] {
            for a in s.get(key).and_then(Value::as_array).into_iter().flatten() {
                if self.declares_in(w, a, name, depth + 1) {
                    answer = true;
                    break 'alternatives;
                }
            }
        }
        w.leave(pushed);
        answer
    }
}

/// Properties found so far, and their names.
#[derive(Default)]
struct Properties<'a> {
    list: Vec<(&'a str, &'a Value)>,
    names: BTreeSet<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    fn schemas(s: Value) -> Value {
        json!({"components": {"schemas": s}})
    }

    fn to(name: &str) -> Value {
        json!({"$ref": format!("#/components/schemas/{name}")})
    }

    /// The names of the properties `doc.properties` finds for a component schema.
    fn names(doc: &Doc, name: &str) -> Option<Vec<String>> {
        let r = to(name);
        let found = doc.properties(&r)?;
        Some(found.iter().map(|(n, _)| n.to_string()).collect())
    }

    #[test]
    fn references_and_wrappers() {
        let looped = json!({"x": {"$ref": "#/x"}});
        assert_eq!(Doc::new(&looped).resolve(&looped["x"]), None);
        let d = schemas(json!({
            "A": {"type": "object", "properties": {"id": {"type": "string"}}},
            "N": {"anyOf": [to("A"), {"type": "null"}]},
        }));
        let doc = Doc::new(&d);
        assert!(doc.is_object(&to("N")));
        assert!(doc.admits_null(&to("N")));
        assert!(!doc.admits_null(&to("A")));
        assert!(doc.declares(&to("N"), "id"));
    }

    #[test]
    fn a_schema_that_includes_itself_twice() {
        let d = schemas(json!({"A": {"allOf": [to("A"), to("A")]}}));
        let doc = Doc::new(&d);
        assert!(!doc.is_object(&to("A")));
        assert_eq!(names(&doc, "A"), Some(Vec::new()));
        assert!(!doc.declares(&to("A"), "id"));
        assert_eq!(doc.underlying(&to("A")), d.pointer("/components/schemas/A"));
        assert!(!doc.admits_null(&to("A")));
    }

    #[test]
    fn a_self_reference_beside_properties_is_not_followed() {
        let d = schemas(
            json!({"A": {"allOf": [to("A"), {"type": "object", "properties": {
            "id": {"type": "string"}}}]}}),
        );
        let doc = Doc::new(&d);
        // The part that is the schema itself is neither an object nor shapeless.
        assert!(!doc.is_object(&to("A")));
        assert_eq!(names(&doc, "A"), Some(vec!["id".to_string()]));
    }

    #[test]
    fn mutually_referring_schemas() {
        let d = schemas(json!({
            "A": {"allOf": [to("B"), to("B"), {"properties": {"a": {"type": "string"}}}]},
            "B": {"allOf": [to("A"), to("A"), {"properties": {"b": {"type": "string"}}}]},
            "U": {"anyOf": [to("V"), to("V")]},
            "V": {"oneOf": [to("U"), to("U"), to("U")]},
        }));
        let doc = Doc::new(&d);
        assert!(!doc.is_object(&to("A")));
        assert_eq!(
            names(&doc, "A"),
            Some(vec!["b".to_string(), "a".to_string()])
        );
        assert!(!doc.declares(&to("U"), "id"));
        assert!(!doc.is_object(&to("U")));
    }

    #[test]
    fn a_diamond_of_all_ofs_is_cut_by_the_step_budget() {
        // S0 -> S1 twice -> ... -> S30: 2^30 paths and no cycle.
        let mut s = Map::new();
        for i in 0..30 {
            s.insert(
                format!("S{i}"),
                json!({"allOf": [to(&format!("S{}", i + 1)), to(&format!("S{}", i + 1))]}),
            );
        }
        s.insert(
            "S30".into(),
            json!({"type": "object", "properties": {"id": {"type": "string"}}}),
        );
        let d = schemas(Value::Object(s));
        let doc = Doc::new(&d);
        assert!(!doc.is_object(&to("S0")));
        assert_eq!(names(&doc, "S0"), None);
        assert!(!doc.declares(&to("S0"), "id"));
        // A shared part reached along two short paths is still read.
        assert!(doc.is_object(&to("S27")));
        assert!(doc.declares(&to("S27"), "id"));
    }

    #[test]
    fn the_inference_budget_is_shared_by_every_walk() {
        let d = schemas(json!({"A": {"type": "object", "properties": {"id": {"type": "string"}}}}));
        let doc = Doc::with_budget(&d, 3);
        assert!(doc.is_object(&to("A")));
        assert!(!doc.is_object(&to("A")));
        assert_eq!(names(&doc, "A"), None);
    }
}
