//! Precomputed columns: one field's value for every entity of a collection, dictionary-encoded
//! (each distinct value stored once, a 4-byte code per entity), so that low-cardinality fields
//! such as a project id, a status or a tag set cost almost nothing at a million entities, and
//! filters read values by reference without cloning.
//!
//! Paths may reach into arrays (`identities[].id`): such a column holds, per entity, the array
//! of the values found there, not the whole objects.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use serde_json::{Map, Value};
use siphasher::sip::SipHasher13;

/// A dictionary-encoded column.
#[derive(Debug, Default)]
pub struct Column {
    dict: Vec<Value>,
    codes: Vec<u32>,
}

/// Builds a [`Column`] one value at a time, in index order, without holding every value.
#[derive(Debug, Default)]
pub struct Encoder {
    dict: Vec<Value>,
    seen: HashMap<u64, u32>,
    codes: Vec<u32>,
}

impl Encoder {
    /// An encoder for about `n` entities.
    pub fn with_capacity(n: usize) -> Self {
        Encoder {
            codes: Vec::with_capacity(n),
            ..Encoder::default()
        }
    }

    /// Append the value of the next entity.
    pub fn push(&mut self, v: Value) {
        let h = hash_value(&v);
        let code = match self.seen.get(&h) {
            Some(&c) if self.dict[c as usize] == v => c,
            Some(_) => {
                // A hash collision: store the value again rather than chain.
                self.dict.push(v);
                (self.dict.len() - 1) as u32
            }
            None => {
                self.dict.push(v);
                let c = (self.dict.len() - 1) as u32;
                self.seen.insert(h, c);
                c
            }
        };
        self.codes.push(code);
    }

    /// The column.
    pub fn finish(mut self) -> Column {
        self.dict.shrink_to_fit();
        Column {
            dict: self.dict,
            codes: self.codes,
        }
    }
}

impl Column {
    /// Encode `values` (one per entity, in index order).
    pub fn encode(values: Vec<Value>) -> Self {
        let mut e = Encoder::with_capacity(values.len());
        for v in values {
            e.push(v);
        }
        e.finish()
    }

    /// The value of entity `i`.
    pub fn get(&self, i: usize) -> Option<&Value> {
        self.codes.get(i).map(|&c| &self.dict[c as usize])
    }

    /// For each entity, the rank of its value among the column's distinct values in
    /// [`super::compare`] order (equal values share a rank). Sorting by ranks sorts by values,
    /// at the cost of one sort of the distinct values.
    pub fn entity_ranks(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.dict.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            super::compare(&self.dict[a as usize], &self.dict[b as usize])
        });
        let mut rank = vec![0u32; self.dict.len()];
        let mut r = 0u32;
        for (k, w) in order.iter().enumerate() {
            if k > 0
                && super::compare(&self.dict[order[k - 1] as usize], &self.dict[*w as usize])
                    != std::cmp::Ordering::Equal
            {
                r += 1;
            }
            rank[*w as usize] = r;
        }
        self.codes.iter().map(|&c| rank[c as usize]).collect()
    }

    /// Number of distinct values.
    pub fn distinct(&self) -> usize {
        self.dict.len()
    }

    /// Number of entities.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether the column has no entities.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }
}

/// A structural hash of a JSON value (equal values hash equally).
fn hash_value(v: &Value) -> u64 {
    fn feed(v: &Value, h: &mut SipHasher13) {
        match v {
            Value::Null => h.write_u8(0),
            Value::Bool(b) => {
                h.write_u8(1);
                b.hash(h);
            }
            Value::Number(n) => {
                h.write_u8(2);
                n.to_string().hash(h);
            }
            Value::String(s) => {
                h.write_u8(3);
                s.hash(h);
            }
            Value::Array(a) => {
                h.write_u8(4);
                h.write_usize(a.len());
                a.iter().for_each(|x| feed(x, h));
            }
            Value::Object(m) => {
                h.write_u8(5);
                h.write_usize(m.len());
                for (k, x) in m {
                    k.hash(h);
                    feed(x, h);
                }
            }
        }
    }
    let mut h = SipHasher13::new();
    feed(v, &mut h);
    h.finish()
}

/// The root field of a path: `identities` for `identities[].id`, `a` for `a.b`.
pub fn root_of(path: &str) -> &str {
    let end = path.find(['.', '[']).unwrap_or(path.len());
    &path[..end]
}

/// The value at `path` inside `v` (dotted, `[]` for every element). A path through arrays
/// yields the array of every value found; a missing field is null.
pub fn extract(v: &Value, path: &str) -> Value {
    fn walk<'a>(cur: &'a Value, segs: &[&str], out: &mut Vec<&'a Value>, each: &mut bool) {
        let Some((seg, rest)) = segs.split_first() else {
            out.push(cur);
            return;
        };
        let (name, all) = match seg.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (*seg, false),
        };
        let Some(x) = cur.get(name) else { return };
        if all {
            *each = true;
            if let Value::Array(items) = x {
                for item in items {
                    walk(item, rest, out, each);
                }
            }
        } else {
            walk(x, rest, out, each);
        }
    }
    let segs: Vec<&str> = path.split('.').filter(|s| !s.is_empty()).collect();
    let mut out = Vec::new();
    let mut each = false;
    walk(v, &segs, &mut out, &mut each);
    if each {
        Value::Array(out.into_iter().cloned().collect())
    } else {
        out.first().map_or(Value::Null, |x| (*x).clone())
    }
}

/// Set the value at a dotted path, creating objects on the way; `None` removes the field (and
/// creates nothing).
pub fn set_path(v: &mut Value, path: &str, new: Option<Value>) {
    let segs: Vec<&str> = path.split('.').collect();
    let mut cur = v;
    for (i, seg) in segs.iter().enumerate() {
        if i + 1 == segs.len() {
            match (cur, new) {
                (Value::Object(m), None) => {
                    m.remove(*seg);
                }
                (cur, Some(x)) => {
                    if !cur.is_object() {
                        *cur = Value::Object(Map::new());
                    }
                    if let Value::Object(m) = cur {
                        m.insert((*seg).to_string(), x);
                    }
                }
                _ => {}
            }
            return;
        }
        if new.is_none() {
            match cur.get_mut(*seg) {
                Some(next) => cur = next,
                None => return,
            }
            continue;
        }
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(m) = cur else { return };
        cur = m
            .entry((*seg).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// `extract` on a bare field value: wraps it as `{root: value}` first.
pub fn extract_from_root(root: &str, value: Value, path: &str) -> Value {
    if root == path {
        return value;
    }
    let mut m = Map::new();
    m.insert(root.to_string(), value);
    extract(&Value::Object(m), path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_repeated_values_once() {
        let c = Column::encode(vec![
            json!("a"),
            json!(["x", 1]),
            json!("a"),
            json!(["x", 1]),
            json!(null),
        ]);
        assert_eq!(c.distinct(), 3);
        assert_eq!(c.len(), 5);
        assert_eq!(c.get(2), Some(&json!("a")));
        assert_eq!(c.get(3), Some(&json!(["x", 1])));
        assert_eq!(c.get(9), None);
    }

    #[test]
    fn paths_are_set_and_removed() {
        let mut v = json!({"a": {"b": 1}});
        set_path(&mut v, "a.c.d", Some(json!(2)));
        set_path(&mut v, "a.b", None);
        set_path(&mut v, "x.y", None);
        assert_eq!(v, json!({"a": {"c": {"d": 2}}}));
        assert_eq!(extract(&v, "a.c.d"), json!(2));
        assert_eq!(extract(&v, "a.x"), Value::Null);
    }

    #[test]
    fn extracts_through_arrays() {
        let v = json!({"ids": [{"id": 1, "k": ["a", "b"]}, {"id": 2, "k": []}], "a": {"b": 3}});
        assert_eq!(extract(&v, "ids[].id"), json!([1, 2]));
        assert_eq!(extract(&v, "ids[].k[]"), json!(["a", "b"]));
        assert_eq!(extract(&v, "a.b"), json!(3));
        assert_eq!(extract(&v, "a.zz"), Value::Null);
        assert_eq!(root_of("ids[].id"), "ids");
        assert_eq!(root_of("a.b"), "a");
        assert_eq!(
            extract_from_root("ids", json!([{"id": 7}]), "ids[].id"),
            json!([7])
        );
    }
}
