//! The list side of a pair: where a list's body holds its items (a bare array or one array of
//! an envelope), and the list's extension: pagination style, page size, total and next token.

use serde_json::{Map, Value, json};

use super::conventions::NAMES;
use super::doc::Doc;
use super::shape::{pointer_to, type_of};

/// Page size when the parameter declares no default (capped by its maximum).
const DEFAULT_LIMIT: u64 = 20;
/// Largest page size when the parameter declares no maximum.
const DEFAULT_MAX_LIMIT: u64 = 100;

/// The shape of a list's body.
pub(super) struct ListShape<'a> {
    /// Pointer to the item array (`""` for a bare array).
    pub items: String,
    pub item_schema: &'a Value,
    /// The envelope's properties (empty for a bare array).
    pub envelope: Vec<(&'a str, &'a Value)>,
}

/// Where a list's body holds its items: the body itself when it is an array of objects, or an
/// envelope's array of objects (a conventional name first, else the only one).
pub(super) fn list_shape<'a>(doc: &Doc<'a>, body: &'a Value) -> Option<ListShape<'a>> {
    if let Some(items) = doc.array_of_objects(body) {
        return Some(ListShape {
            items: String::new(),
            item_schema: items,
            envelope: Vec::new(),
        });
    }
    if !doc.is_object(body) {
        return None;
    }
    let envelope = doc.properties(body)?;
    let arrays: Vec<(&str, &Value)> = envelope
        .iter()
        .filter_map(|(n, p)| doc.array_of_objects(p).map(|i| (*n, i)))
        .collect();
    let chosen = NAMES
        .item_arrays
        .iter()
        .find_map(|want| arrays.iter().find(|(n, _)| n == want))
        .or(match arrays.as_slice() {
            [only] => Some(only),
            _ => None,
        })?;
    Some(ListShape {
        items: pointer_to(chosen.0),
        item_schema: chosen.1,
        envelope,
    })
}

/// The first query parameter whose name is one of `names` (case-insensitively), as declared.
fn query_param<'a>(query: &[&'a Value], names: &[&str]) -> Option<(&'a str, &'a Value)> {
    names.iter().find_map(|want| {
        query.iter().find_map(|p| {
            let n = p.get("name").and_then(Value::as_str)?;
            n.eq_ignore_ascii_case(want).then_some((n, *p))
        })
    })
}

/// The non-null type of a parameter's schema (`None` when it has none or several).
fn param_type<'a>(doc: &Doc<'a>, p: &'a Value) -> Option<&'a str> {
    type_of(doc.underlying(p.get("schema")?)?)
}

/// A non-negative integer keyword of a parameter's schema.
fn schema_u64<'a>(doc: &Doc<'a>, p: &'a Value, key: &str) -> Option<u64> {
    let v = doc.underlying(p.get("schema")?)?.get(key)?;
    v.as_u64()
        .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
}

/// `{param, default, min?, max?}` for an integer page-size parameter.
fn limit_of<'a>(doc: &Doc<'a>, query: &[&'a Value]) -> Option<Value> {
    let (name, p) = query_param(query, NAMES.page_size)?;
    if param_type(doc, p) != Some("integer") {
        return None;
    }
    let min = schema_u64(doc, p, "minimum");
    let max = schema_u64(doc, p, "maximum")
        .or_else(|| schema_u64(doc, p, "exclusiveMaximum").map(|m| m.saturating_sub(1)))
        .unwrap_or(DEFAULT_MAX_LIMIT)
        .max(min.unwrap_or(1))
        .max(1);
    // A page size of 0 would never advance: the default is at least 1.
    let default = schema_u64(doc, p, "default")
        .unwrap_or(DEFAULT_LIMIT.min(max))
        .clamp(min.unwrap_or(1).max(1), max);
    let mut l = Map::new();
    l.insert("param".into(), Value::String(name.to_string()));
    l.insert("default".into(), json!(default));
    if let Some(m) = min {
        l.insert("min".into(), json!(m));
    }
    l.insert("max".into(), json!(max));
    Some(Value::Object(l))
}

/// The list's `x-understudy` (without `collection`).
///
/// Envelope properties other than the item array, the total and the next token (a more flag,
/// first and last ids, next-page URLs, page numbers...) are not described here: the engine
/// fills them from their schemas.
pub(super) fn list_extension<'a>(
    doc: &Doc<'a>,
    list: &ListShape<'a>,
    query: &[&'a Value],
) -> Map<String, Value> {
    let mut x = Map::new();
    x.insert("action".into(), json!("list"));
    x.insert("items".into(), Value::String(list.items.clone()));
    let envelope_field = |names: &[&str], fits: &dyn Fn(&Value) -> bool| -> Option<String> {
        names.iter().find_map(|want| {
            list.envelope
                .iter()
                .find(|(n, s)| n == want && doc.underlying(s).is_some_and(fits))
                .map(|(n, _)| pointer_to(n))
        })
    };
    let total = envelope_field(NAMES.total, &|s| type_of(s) == Some("integer"));
    let next = envelope_field(NAMES.next_token, &|s| {
        type_of(s) == Some("string")
            && !matches!(
                s.get("format").and_then(Value::as_str),
                Some("uri" | "url" | "uri-reference")
            )
    });
    let mut p = Map::new();
    let token = query_param(query, NAMES.page_token)
        .filter(|(_, t)| matches!(param_type(doc, t), Some("string") | None))
        .filter(|_| !list.items.is_empty());
    let after = query_param(query, NAMES.after);
    let offset =
        query_param(query, NAMES.offset).filter(|(_, o)| param_type(doc, o) == Some("integer"));
    let page = query_param(query, NAMES.page)
        .filter(|(_, o)| param_type(doc, o) == Some("integer"))
        .filter(|_| limit_of(doc, query).is_some());
    match (token, &next, after, offset) {
        (Some((t, _)), Some(next), _, _) => {
            p.insert("style".into(), json!("page-token"));
            p.insert("token".into(), json!({"param": t}));
            x.insert("next-token".into(), Value::String(next.clone()));
        }
        (_, _, Some((a, _)), _) => {
            p.insert("style".into(), json!("cursor"));
            let mut c = Map::new();
            c.insert("after".into(), Value::String(a.to_string()));
            if let Some((b, _)) = query_param(query, NAMES.before) {
                c.insert("before".into(), Value::String(b.to_string()));
            }
            p.insert("cursor".into(), Value::Object(c));
        }
        (_, _, None, Some((o, _))) => {
            p.insert("style".into(), json!("offset"));
            p.insert("offset".into(), json!({"param": o}));
        }
        // Page numbers, counted from the parameter's minimum (0 or 1; 1 by default).
        (_, _, None, None) if page.is_some() => {
            if let Some((name, param)) = page {
                let first = schema_u64(doc, param, "minimum").unwrap_or(1).min(1);
                p.insert("style".into(), json!("page"));
                p.insert("page".into(), json!({"param": name, "first": first}));
            }
        }
        // No style fits: the whole (filtered) collection in one answer. A page size alone
        // would be ignored by the `none` style, so no pagination is written at all.
        _ => {}
    }
    if !p.is_empty() {
        if let Some(l) = limit_of(doc, query) {
            p.insert("limit".into(), l);
        }
        x.insert("pagination".into(), Value::Object(p));
    }
    if let Some(t) = total
        && !list.items.is_empty()
    {
        x.insert("total".into(), Value::String(t));
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_clamped() {
        let d = json!({});
        let doc = Doc::new(&d);
        let q = |schema: Value| json!({"name": "Page_Size", "in": "query", "schema": schema});
        let p = q(json!({"type": "integer"}));
        assert_eq!(
            limit_of(&doc, &[&p]),
            Some(json!({"param": "Page_Size", "default": 20, "max": 100}))
        );
        let p = q(json!({"type": "integer", "minimum": 0, "exclusiveMaximum": 11, "default": 0}));
        assert_eq!(
            limit_of(&doc, &[&p]),
            Some(json!({"param": "Page_Size", "default": 1, "min": 0, "max": 10}))
        );
        let p = q(json!({"type": "string"}));
        assert_eq!(limit_of(&doc, &[&p]), None);
    }

    #[test]
    fn an_envelope_with_two_unnamed_arrays_is_not_a_list() {
        let d = json!({});
        let doc = Doc::new(&d);
        let obj = json!({"type": "object", "properties": {"id": {"type": "string"}}});
        let arr = json!({"type": "array", "items": obj});
        let body = json!({"type": "object", "properties": {"a": arr, "b": arr}});
        assert!(list_shape(&doc, &body).is_none());
        let body = json!({"type": "object", "properties": {"a": arr, "results": arr}});
        assert_eq!(
            list_shape(&doc, &body).map(|s| s.items),
            Some("/results".into())
        );
    }
}
