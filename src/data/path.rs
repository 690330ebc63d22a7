//! Paths into entities: `a.b` through objects, `items[].id` through every element of an array.
//! How filters, sorts, writes and scenarios name a field.

use serde_json::{Map, Value};

/// The root field of a path: `identities` for `identities[].id`, `a` for `a.b`.
pub fn root_of(path: &str) -> &str {
    // A byte scan: both marks are ASCII, so the cut is a character boundary.
    let end = (path.bytes())
        .position(|b| b == b'.' || b == b'[')
        .unwrap_or(path.len());
    &path[..end]
}

/// The value at `path` inside `v` (dotted, `[]` for every element). A path through arrays
/// yields the array of every value found; a missing field is null.
pub fn extract(v: &Value, path: &str) -> Value {
    let segs: Vec<&str> = path.split('.').filter(|s| !s.is_empty()).collect();
    let mut out = Vec::new();
    let mut each = false;
    walk(v, &segs, &mut out, &mut each);
    found(out, each)
}

/// [`extract`] from the value of `path`'s root field (`value` of `identities` for
/// `identities[].id`), without building the object around it.
pub fn extract_in(value: &Value, path: &str) -> Value {
    let root = root_of(path);
    if root == path && !path.is_empty() {
        // The root field itself.
        return value.clone();
    }
    let segs: Vec<&str> = path.split('.').filter(|s| !s.is_empty()).collect();
    let Some((first, rest)) = segs.split_first() else {
        // No segment (`.`): the object around the root is what `extract` finds.
        let mut m = Map::new();
        m.insert(root.to_string(), value.clone());
        return Value::Object(m);
    };
    let mut out = Vec::new();
    let mut each = false;
    if *first == root {
        walk(value, rest, &mut out, &mut each);
    } else if first.strip_suffix("[]") == Some(root) {
        each = true;
        if let Value::Array(items) = value {
            for item in items {
                walk(item, rest, &mut out, &mut each);
            }
        }
    }
    // Any other first segment names no member of `{root: value}`: nothing is found.
    found(out, each)
}

/// What [`extract`] answers for the values `out` it found.
fn found(out: Vec<&Value>, each: bool) -> Value {
    if each {
        Value::Array(out.into_iter().cloned().collect())
    } else {
        out.first().map_or(Value::Null, |x| (*x).clone())
    }
}

/// Follow `segs` from `cur`, collecting what they reach in `out` (`each` set once a segment
/// went through every element of an array).
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

/// `extract` on a bare field value, as if it were wrapped as `{root: value}`.
pub fn extract_from_root(root: &str, value: Value, path: &str) -> Value {
    if root == path {
        return value;
    }
    extract_in(&value, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        // From the root's value, as from the object holding it, for every kind of path.
        let root = json!({"x": [{"id": 1, "k": ["a"]}, {"k": []}, 3], "y": {"z": null}});
        for (field, value) in root.as_object().unwrap() {
            for rest in [
                "", "[]", "[].id", "[].k[]", ".z", ".z.w", "[].k", ".nope[]", "[][]", "[]q.z",
            ] {
                let path = format!("{field}{rest}");
                let whole = extract(&root, &path);
                assert_eq!(extract_in(value, &path), whole, "{path}");
                assert_eq!(
                    extract_from_root(field, value.clone(), &path),
                    whole,
                    "{path}"
                );
            }
        }
        assert_eq!(extract_in(&Value::Null, "a[].b"), json!([]));
        for path in [".", "..", ".a"] {
            let root = root_of(path);
            let mut around = Map::new();
            around.insert(root.to_string(), json!(5));
            let whole = extract(&Value::Object(around), path);
            assert_eq!(extract_in(&json!(5), path), whole, "{path}");
        }
    }
}
