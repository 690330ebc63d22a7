//! Reading one schema or reference on its own, without following anything: local pointers,
//! one-part wrappers, a schema's single type, whether it says `null` or states no shape, and
//! component names.

use serde_json::Value;

use super::doc::MAX_DEPTH;
use crate::spec::schema::{escape, unescape};

/// The value at a local reference (`#/a/b~1c`), with `~1` and `~0` unescaped.
pub(super) fn at_ref<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    crate::spec::schema::resolve_ref(doc, reference).ok()
}

/// Whether a schema is the `null` type alone (`{type: 'null'}`).
pub(super) fn is_null_schema(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null")
}

/// Whether a schema itself says it admits `null` (not through what it refers to).
pub(super) fn says_null(s: &Value) -> bool {
    if s.get("nullable").and_then(Value::as_bool) == Some(true) || is_null_schema(s) {
        return true;
    }
    if let Some(Value::Array(types)) = s.get("type")
        && types.iter().any(|t| t.as_str() == Some("null"))
    {
        return true;
    }
    ["anyOf", "oneOf"].iter().any(|k| {
        s.get(*k)
            .and_then(Value::as_array)
            .is_some_and(|alts| alts.iter().any(is_null_schema))
    })
}

/// A schema that only wraps another one: an `allOf` of one part, or an `anyOf`/`oneOf` whose
/// only non-null branch it is (3.1's way of writing a nullable reference). Returns the inner
/// schema (unresolved) or `v` itself.
pub(super) fn unwrap_one(v: &Value) -> &Value {
    let Some(obj) = v.as_object() else { return v };
    let has_own_shape = obj.contains_key("properties") || obj.contains_key("type");
    // `{type: object, allOf: [$ref]}` only restates the referenced object's type.
    let restates_object = !obj.contains_key("properties")
        && obj.get("type").is_none_or(|t| t.as_str() == Some("object"));
    if let Some([only]) = obj
        .get("allOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        && restates_object
    {
        return only;
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = obj.get(key).and_then(Value::as_array)
            && !has_own_shape
        {
            let mut non_null = alts.iter().filter(|a| !is_null_schema(a));
            if let (Some(one), None) = (non_null.next(), non_null.next()) {
                return one;
            }
        }
    }
    v
}

/// The name of the component schema `v` refers to (`#/components/schemas/NAME`), looking
/// through a one-part `allOf` or a nullable `anyOf`/`oneOf`.
pub(super) fn component_name(v: &Value) -> Option<String> {
    let mut cur = v;
    for _ in 0..MAX_DEPTH {
        if let Some(r) = cur.get("$ref").and_then(Value::as_str) {
            let name = r.strip_prefix("#/components/schemas/")?;
            if name.contains('/') {
                return None;
            }
            return Some(unescape(name));
        }
        let next = unwrap_one(cur);
        if std::ptr::eq(next, cur) {
            return None;
        }
        cur = next;
    }
    None
}

/// The single non-null `type` of a schema (`type: x` or `type: [x, 'null']`).
pub(super) fn type_of(v: &Value) -> Option<&str> {
    match v.get("type")? {
        Value::String(s) => Some(s),
        Value::Array(a) => {
            let mut non_null = a.iter().filter_map(Value::as_str).filter(|t| *t != "null");
            match (non_null.next(), non_null.next()) {
                (Some(t), None) => Some(t),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A schema that states no shape (only constraints or annotations such as `required`).
pub(super) fn is_shapeless(s: &Value) -> bool {
    [
        "type",
        "properties",
        "items",
        "allOf",
        "anyOf",
        "oneOf",
        "$ref",
        "enum",
        "const",
    ]
    .iter()
    .all(|k| s.get(*k).is_none())
}

/// Escape a property name as one JSON pointer segment.
pub(super) fn pointer_to(name: &str) -> String {
    format!("/{}", escape(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_and_names() {
        let d = json!({"a": {"b/c": {"~d": 1}}, "l": [0, 2]});
        assert_eq!(at_ref(&d, "#/a/b~1c/~0d"), Some(&json!(1)));
        assert_eq!(at_ref(&d, "#/l/1"), Some(&json!(2)));
        assert_eq!(at_ref(&d, "#/l/x"), None);
        assert_eq!(at_ref(&d, "other.json#/a"), None);
        assert_eq!(pointer_to("a/b~c"), "/a~1b~0c");
        assert_eq!(
            component_name(
                &json!({"type": "object", "allOf": [{"$ref": "#/components/schemas/A"}]})
            ),
            Some("A".to_string())
        );
        assert_eq!(
            component_name(
                &json!({"anyOf": [{"type": "null"}, {"$ref": "#/components/schemas/B~1c"}]})
            ),
            Some("B/c".to_string())
        );
        assert_eq!(
            component_name(
                &json!({"oneOf": [{"$ref": "#/components/schemas/A"}, {"$ref": "#/components/schemas/B"}]})
            ),
            None
        );
        assert_eq!(
            type_of(&json!({"type": ["string", "null"]})),
            Some("string")
        );
        assert_eq!(type_of(&json!({"type": ["string", "integer"]})), None);
        assert!(says_null(&json!({"type": ["string", "null"]})));
        assert!(says_null(&json!({"nullable": true})));
        assert!(is_shapeless(&json!({"required": ["id"]})));
    }
}
