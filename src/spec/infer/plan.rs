//! What one list/detail pair infers: the entity's component schemas, where the detail shows the
//! entity, the key field and its generator, and both operations' extensions (or, when one side
//! is declared, the declared collection the other side joins), from the operations' `200`
//! bodies and parameters.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::doc::Doc;
use super::key::{KeyValues, key_candidates, key_generation, key_pattern};
use super::list::{list_extension, list_shape};
use super::pair::Pair;
use super::shape::{component_name, pointer_to};

/// A declared collection: its schemas, key and whether its key field has a generator.
pub(super) struct DeclaredCollection {
    schemas: Vec<String>,
    key: String,
    key_generated: bool,
}

/// The document's declared collections, by name.
pub(super) fn declared_collections(doc: &Value) -> BTreeMap<String, DeclaredCollection> {
    let mut out = BTreeMap::new();
    let Some(cs) = doc
        .pointer("/x-understudy/collections")
        .and_then(Value::as_object)
    else {
        return out;
    };
    for (name, c) in cs {
        // One that does not parse fails the load anyway: nothing to pair with.
        let Ok(c) = serde_json::from_value::<crate::spec::ext::CollectionExt>(c.clone()) else {
            continue;
        };
        out.insert(
            name.clone(),
            DeclaredCollection {
                key_generated: c.fields.contains_key(&c.key),
                schemas: c.schemas,
                key: c.key,
            },
        );
    }
    out
}

pub(super) enum Collection {
    /// An existing declared collection, by name.
    Declared(String),
    /// A new collection (named later, once every pair is known).
    New { value: Value },
}

/// What one pair infers (operation extensions without their `collection`).
pub(super) struct Plan {
    pub list_path: String,
    pub detail_path: String,
    pub literals: Vec<String>,
    pub collection: Collection,
    pub list_ext: Option<Map<String, Value>>,
    pub detail_ext: Option<Map<String, Value>>,
    /// The pair's writes: (path, method, extension).
    pub writes: Vec<(String, String, Map<String, Value>)>,
}

/// The plan for one pair, or `None` when anything about it is unclear.
pub(super) fn plan_pair<'a>(
    doc: &Doc<'a>,
    pair: &Pair,
    declared: &BTreeMap<String, DeclaredCollection>,
) -> Option<Plan> {
    let paths = doc.root.get("paths")?;
    let list_item = paths.get(&pair.list_path)?;
    let detail_item = paths.get(&pair.detail_path)?;
    let list_op = list_item.get("get")?;
    let detail_op = detail_item.get("get")?;
    let list_declared = list_op.get("x-understudy");
    let detail_declared = detail_op.get("x-understudy");
    // A declared side lends its collection to the other side.
    let declared_name = match (list_declared, detail_declared) {
        (Some(_), Some(_)) => return None,
        (Some(x), None) => Some(declared_of(x, "list")?),
        (None, Some(x)) => Some(declared_of(x, "get")?),
        (None, None) => None,
    };
    let declared_coll = match &declared_name {
        Some(n) => Some(declared.get(n)?),
        None => None,
    };

    let listed = ok_body(doc, list_op).and_then(|b| list_shape(doc, b));
    if list_declared.is_none() && listed.is_none() {
        return None;
    }
    let list_ref = listed.as_ref().and_then(|s| component_name(s.item_schema));
    let detail_body = ok_body(doc, detail_op)?;
    let detail_ref = component_name(detail_body);

    // The entity's component schemas and where the detail places it.
    let (schemas, item): (Vec<String>, Option<String>) = match declared_coll {
        Some(c) => {
            if detail_ref.as_ref().is_some_and(|d| c.schemas.contains(d)) {
                (c.schemas.clone(), None)
            } else {
                let wrap = wrapping_property(doc, detail_body, detail_ref.as_deref(), |n| {
                    c.schemas.iter().any(|s| s == n)
                })?;
                (c.schemas.clone(), Some(wrap))
            }
        }
        None => entity_schemas(doc, detail_body, detail_ref, list_ref)?,
    };
    if schemas.is_empty() {
        return None;
    }
    let components = doc.root.get("components")?.get("schemas")?;
    let mut entity: Vec<(&str, &Value)> = Vec::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for name in &schemas {
        for (k, v) in doc.properties(components.get(name)?)? {
            if seen.insert(k) {
                entity.push((k, v));
            }
        }
    }

    // The key.
    let detail_params = parameters(doc, detail_item, detail_op);
    let key_param = detail_params.iter().find(|p| {
        p.get("in").and_then(Value::as_str) == Some("path")
            && p.get("name").and_then(Value::as_str) == Some(pair.key_param.as_str())
    })?;
    let segment = pair.literals.last()?;
    let (field, field_schema) = key_candidates(&pair.key_param, segment)
        .into_iter()
        .find_map(|c| {
            let schema = entity.iter().find(|(n, _)| *n == c.as_str())?.1;
            Some((c, schema))
        })?;
    // The detail must show the key: the schema at its item pointer declares the field.
    let shown = match &item {
        Some(ptr) => doc
            .properties(detail_body)?
            .into_iter()
            .find(|(n, _)| pointer_to(n) == *ptr)
            .map(|(_, s)| s)?,
        None => detail_body,
    };
    if !doc.declares(shown, &field) {
        return None;
    }
    let (key_gen, values) = match declared_coll {
        Some(c) => {
            if c.key != field {
                return None;
            }
            let values = if c.key_generated {
                KeyValues::Unknown
            } else {
                key_generation(doc, &field, field_schema).map_or(KeyValues::Unknown, |(_, v)| v)
            };
            (None, values)
        }
        None => key_generation(doc, &field, field_schema)?,
    };

    // The detail.
    let pattern = key_pattern(doc, key_param, &values);
    let writes = super::write::writes(
        doc,
        (&pair.list_path, list_item),
        (&pair.detail_path, detail_item),
        &super::write::Entity {
            key_param: &pair.key_param,
            key_pattern: pattern.as_deref(),
            detail_body,
            item: item.as_deref(),
            schemas: &schemas,
            key_field: &field,
        },
    );
    let detail_ext = if detail_declared.is_some() {
        None
    } else {
        let mut x = Map::new();
        x.insert("action".into(), json!("get"));
        x.insert("key-param".into(), Value::String(pair.key_param.clone()));
        if let Some(p) = pattern {
            x.insert("key-pattern".into(), Value::String(p));
        }
        if let Some(i) = &item {
            x.insert("item".into(), Value::String(i.clone()));
        }
        Some(x)
    };

    // The list.
    let list_ext = match (&listed, list_declared) {
        (Some(listed), None) => {
            let query: Vec<&Value> = parameters(doc, list_item, list_op)
                .into_iter()
                .filter(|p| p.get("in").and_then(Value::as_str) == Some("query"))
                .collect();
            let mut x = list_extension(doc, listed, &query);
            // Timeline ids (`max_id`: older than, `since_id`: newer than): the newest, the
            // highest key, first, so that the names mean what they say of the keys.
            let timeline = x
                .get("pagination")
                .and_then(|p| p.pointer("/cursor/after"))
                .and_then(Value::as_str)
                .is_some_and(|a| {
                    super::conventions::NAMES
                        .descending_after
                        .iter()
                        .any(|d| a.eq_ignore_ascii_case(d))
                });
            if timeline && let Some(Value::Object(p)) = x.get_mut("pagination") {
                p.insert("sort".into(), json!({"field": field, "direction": "desc"}));
            }
            Some(x)
        }
        _ => None,
    };

    let collection = match declared_name {
        Some(n) => Collection::Declared(n),
        None => {
            let mut c = Map::new();
            c.insert("schemas".into(), json!(schemas));
            c.insert("key".into(), Value::String(field.clone()));
            if let Some(g) = key_gen {
                c.insert("fields".into(), json!({ field.clone(): g }));
            }
            Collection::New {
                value: Value::Object(c),
            }
        }
    };
    Some(Plan {
        list_path: pair.list_path.clone(),
        detail_path: pair.detail_path.clone(),
        literals: pair.literals.clone(),
        collection,
        list_ext,
        detail_ext,
        writes,
    })
}

/// The collection a declared operation extension names, if its action is `want`.
fn declared_of(x: &Value, want: &str) -> Option<String> {
    if x.get("action").and_then(Value::as_str) != Some(want) {
        return None;
    }
    x.get("collection")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The entity's schemas (the detail's, and the list item's first when it is another component,
/// so a list shows fields the detail lacks) and the detail's `item`.
fn entity_schemas<'a>(
    doc: &Doc<'a>,
    detail_body: &'a Value,
    detail_ref: Option<String>,
    list_ref: Option<String>,
) -> Option<(Vec<String>, Option<String>)> {
    let usable = |n: &String| {
        doc.root
            .pointer(&format!("/components/schemas{}", pointer_to(n)))
            .is_some_and(|s| doc.is_object(s))
    };
    let list_ref = list_ref.filter(usable);
    // A wrapped detail: one property holds the entity.
    let wrap = match &list_ref {
        Some(l) if detail_ref.as_deref() != Some(l.as_str()) => {
            wrapping_property(doc, detail_body, detail_ref.as_deref(), |n| n == l)
        }
        Some(_) => None,
        None => sole_reference(doc, detail_body, detail_ref.as_deref()),
    };
    if let Some(prop) = wrap {
        let entity = match &list_ref {
            Some(l) => l.clone(),
            None => doc
                .properties(detail_body)?
                .into_iter()
                .next()
                .and_then(|(_, s)| component_name(s))?,
        };
        return usable(&entity).then(|| (vec![entity], Some(prop)));
    }
    match detail_ref.filter(usable) {
        Some(d) => {
            // The list item's first when the two differ: where both declare a field, the
            // list's (usually narrower: a constant `object`) is the one both can show.
            let mut names = vec![d.clone()];
            if let Some(l) = list_ref
                && l != d
            {
                names.insert(0, l);
            }
            Some((names, None))
        }
        None => list_ref.map(|l| (vec![l], None)),
    }
}

/// The pointer to the one property of the detail's object that refers to an entity schema
/// (`is_entity`), when exactly one does and the detail is not that schema itself.
fn wrapping_property<'a>(
    doc: &Doc<'a>,
    detail_body: &'a Value,
    detail_ref: Option<&str>,
    is_entity: impl Fn(&str) -> bool,
) -> Option<String> {
    if !doc.is_object(detail_body) {
        return None;
    }
    let holding: Vec<&str> = doc
        .properties(detail_body)?
        .into_iter()
        .filter(|(_, s)| {
            component_name(s).is_some_and(|n| is_entity(&n) && Some(n.as_str()) != detail_ref)
        })
        .map(|(n, _)| n)
        .collect();
    match holding.as_slice() {
        [one] => Some(pointer_to(one)),
        _ => None,
    }
}

/// Without a list item schema to recognise the entity by: the pointer to the detail object's
/// only property, when that property refers to another component schema.
fn sole_reference<'a>(
    doc: &Doc<'a>,
    detail_body: &'a Value,
    detail_ref: Option<&str>,
) -> Option<String> {
    if !doc.is_object(detail_body) {
        return None;
    }
    match doc.properties(detail_body)?.as_slice() {
        [(name, s)] => {
            let n = component_name(s)?;
            (Some(n.as_str()) != detail_ref).then(|| pointer_to(name))
        }
        _ => None,
    }
}

/// The `application/json` schema of an operation's `200` response. (The checks of an
/// operation extension read the `200` response, so another 2xx is not used.)
fn ok_body<'a>(doc: &Doc<'a>, op: &'a Value) -> Option<&'a Value> {
    let r = doc.resolve(op.get("responses")?.get("200")?)?;
    r.get("content")?.get("application/json")?.get("schema")
}

/// The parameters of an operation: the path item's, overridden by the operation's own of
/// the same name and location, each resolved.
fn parameters<'a>(doc: &Doc<'a>, item: &'a Value, op: &'a Value) -> Vec<&'a Value> {
    let mut slots: Vec<Option<&Value>> = Vec::new();
    let mut at: BTreeMap<(Option<&str>, Option<&str>), usize> = BTreeMap::new();
    let lists = [item.get("parameters"), op.get("parameters")];
    for p in lists
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten()
    {
        let Some(p) = doc.resolve(p) else { continue };
        let id = (
            p.get("name").and_then(Value::as_str),
            p.get("in").and_then(Value::as_str),
        );
        if let Some(old) = at.insert(id, slots.len())
            && let Some(slot) = slots.get_mut(old)
        {
            *slot = None;
        }
        slots.push(Some(p));
    }
    slots.into_iter().flatten().collect()
}
