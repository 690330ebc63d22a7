//! The writes of an inferred pair: `POST P` creates, `PUT P/{k}` replaces, `PATCH P/{k}` (or
//! `POST P/{k}`) updates and `DELETE P/{k}` deletes an entity of the pair's collection.
//!
//! Conservative like the rest of inference: a create or an update is inferred only when it
//! takes a JSON body and answers either nothing or the entity as the detail shows it (the same
//! schema, or one of the collection's components); a delete may answer any body (generated,
//! naming the key). A write on the entity also needs the detail's key parameter.

use serde_json::{Map, Value, json};

use super::doc::Doc;
use super::shape::{component_name, pointer_to};

/// What the writes need to know of their pair.
pub(super) struct Entity<'a> {
    /// The detail's key parameter, and its `key-pattern` when inferred.
    pub key_param: &'a str,
    pub key_pattern: Option<&'a str>,
    /// The detail's 200 body schema, and where it places the entity.
    pub detail_body: &'a Value,
    pub item: Option<&'a str>,
    /// The collection's component schemas, and its key field.
    pub schemas: &'a [String],
    pub key_field: &'a str,
}

/// The write extensions (without `collection`) for the operations of `list_item` and
/// `detail_item`, as (path, method, extension).
pub(super) fn writes(
    doc: &Doc,
    list: (&str, &Value),
    detail: (&str, &Value),
    entity: &Entity,
) -> Vec<(String, String, Map<String, Value>)> {
    let candidates = [
        (list, "post", "create"),
        (detail, "put", "replace"),
        (detail, "patch", "update"),
        (detail, "post", "update"),
        (detail, "delete", "delete"),
    ];
    let mut out = Vec::new();
    for ((path, path_item), method, action) in candidates {
        let Some(op) = path_item.get(method) else {
            continue;
        };
        if op.get("x-understudy").is_some() {
            continue;
        }
        if action != "delete" && json_body(doc, op).is_none() {
            continue;
        }
        let on_entity = action != "create";
        if on_entity && !has_path_param(doc, path_item, op, entity.key_param) {
            continue;
        }
        let Some(reply) = reply(doc, op, entity, action == "delete") else {
            continue;
        };
        let mut x = Map::new();
        x.insert("action".into(), json!(action));
        if on_entity {
            x.insert("key-param".into(), json!(entity.key_param));
            if let Some(p) = entity.key_pattern {
                x.insert("key-pattern".into(), json!(p));
            }
        }
        match reply {
            Reply::Empty => {
                x.insert("reply".into(), json!("empty"));
            }
            Reply::Entity(item) => {
                x.insert("reply".into(), json!("entity"));
                if let Some(i) = item {
                    x.insert("item".into(), json!(i));
                }
            }
            Reply::Generated => {
                x.insert("reply".into(), json!("generated"));
            }
        }
        out.push((path.to_string(), method.to_string(), x));
    }
    out
}

enum Reply {
    Empty,
    Entity(Option<String>),
    Generated,
}

/// What the operation's lowest documented 2xx answer is: nothing, the entity (at the detail's
/// `item` when it is the detail's schema), or (for a delete only) any other body.
fn reply(doc: &Doc, op: &Value, entity: &Entity, any_body: bool) -> Option<Reply> {
    let responses = op.get("responses")?.as_object()?;
    let (_, r) = responses
        .iter()
        .filter_map(|(s, r)| Some((s.parse::<u16>().ok().filter(|s| (200..300).contains(s))?, r)))
        .min_by_key(|(s, _)| *s)?;
    let r = doc.resolve(r)?;
    let Some(content) = r.get("content").and_then(Value::as_object) else {
        return Some(Reply::Empty);
    };
    if content.is_empty() {
        return Some(Reply::Empty);
    }
    let schema = content.get("application/json")?.get("schema")?;
    // The entity is answered only where it is a plain object (a union compiles to no
    // fields, and the loader would refuse it).
    let shown = match entity.item {
        None => Some(schema),
        Some(ptr) => doc
            .properties(schema)
            .and_then(|ps| ps.into_iter().find(|(n, _)| pointer_to(n) == ptr))
            .map(|(_, s)| s),
    };
    let plain = shown.is_some_and(|s| doc.is_object(s) && doc.declares(s, entity.key_field));
    if schema == entity.detail_body && plain {
        return Some(Reply::Entity(entity.item.map(str::to_string)));
    }
    if component_name(schema).is_some_and(|n| entity.schemas.contains(&n))
        && doc.is_object(schema)
        && doc.declares(schema, entity.key_field)
    {
        return Some(Reply::Entity(None));
    }
    any_body.then_some(Reply::Generated)
}

/// The operation's JSON request body schema.
fn json_body<'a>(doc: &Doc<'a>, op: &'a Value) -> Option<&'a Value> {
    let b = doc.resolve(op.get("requestBody")?)?;
    b.get("content")?.get("application/json")?.get("schema")
}

/// Whether the operation (or its path item) declares the path parameter `name`.
fn has_path_param(doc: &Doc, path_item: &Value, op: &Value, name: &str) -> bool {
    [path_item.get("parameters"), op.get("parameters")]
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|p| doc.resolve(p))
        .any(|p| {
            p.get("in").and_then(Value::as_str) == Some("path")
                && p.get("name").and_then(Value::as_str) == Some(name)
        })
}
