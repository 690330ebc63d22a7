//! Inference of collections and of their list and detail operations for documents that carry
//! no `x-understudy` annotations.
//!
//! This file owns the rules that read an ordinary OpenAPI 3.0/3.1 document and recognise
//! `GET P` (a list) paired with `GET P/{k}` (a detail). What it infers is written in the
//! extension *file format* (`serde_json` values exactly as a user would write them under
//! `x-understudy`), so the loader merges them into the document and the usual parser, checks
//! and engine handle them; a declared extension always wins over an inferred one.
//!
//! The rules are conservative: an inference that the loader would refuse breaks the whole API,
//! so when a pair is unclear nothing is inferred for it and its operations are answered from
//! their schemas instead.
//!
//! - A **list** is `GET P` whose `200` `application/json` body is an array of objects, or an
//!   object envelope holding exactly one array of objects (`data`, `items`, `results` first,
//!   else the only such array). It is only inferred with its **detail** `GET P/{k}` (a trailing
//!   `/` on `P` and a `.json` suffix on both are ignored for pairing).
//! - The **entity** is made of the component schemas of the detail's body (or of the list item
//!   when the detail is inline or a union); a detail whose object has exactly one property
//!   holding the entity is a wrapped detail (`item`).
//! - The entity's schemas must be plain objects (an `anyOf`/`oneOf` beside properties compiles
//!   to a union, which has no fields to key on).
//! - The **key** is the entity's string field named by the path parameter (exact name, its
//!   snake_case form, the attribute a two-word name ends with, `id`, `sid`,
//!   `<singular segment>_id`, the name without an id suffix), and the detail must show it.
//!   A key must be unique and never null: a nullable one gets an `auto` generator, a field
//!   whose default values are not unique gets an indexed template, anything else is refused.
//!   The parameter's `pattern` becomes `key-pattern` only when the generated keys match it.
//! - **Pagination** uses the existing styles only (page token, id cursor, offset), with a page
//!   size, the filtered total and the next token where the envelope has room for them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

/// How many `$ref` hops (and nested `allOf`s) are followed before giving up.
const MAX_DEPTH: usize = 32;

/// What was inferred for a document: collections and operation extensions, in the file format.
#[derive(Debug, Default)]
pub(crate) struct Inferred {
    /// name -> value of `x-understudy.collections.NAME` (keys: count?, schemas, key, fields?)
    pub collections: Map<String, Value>,
    /// (path as in the document, lower-case method) -> value of that operation's `x-understudy`
    pub operations: Vec<(String, String, Value)>,
}

/// Infer collections and list/get operations for `doc`, the whole OpenAPI 3.0/3.1 document
/// as JSON. Operations that already have an `x-understudy` are never inferred; when one side
/// of a pair is declared, the other side may be inferred against the declared collection.
/// Collection names avoid the declared ones.
pub(crate) fn infer(doc: &Value) -> Inferred {
    let declared = declared_collections(doc);
    let pairs = find_pairs(doc);
    let mut planned: Vec<Plan> = Vec::new();
    // A path is one side of one pair only (a detail that is also another pair's list keeps
    // its first role).
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for pair in &pairs {
        if used.contains(pair.list_path.as_str()) || used.contains(pair.detail_path.as_str()) {
            continue;
        }
        if let Some(p) = plan_pair(doc, pair, &declared) {
            used.insert(&pair.list_path);
            used.insert(&pair.detail_path);
            planned.push(p);
        }
    }
    let names = assign_names(&planned, &declared);
    let mut out = Inferred::default();
    for (plan, name) in planned.into_iter().zip(names) {
        let collection = match &plan.collection {
            Collection::Declared(c) => c.clone(),
            Collection::New { value } => {
                out.collections.insert(name.clone(), value.clone());
                name
            }
        };
        if let Some(mut x) = plan.list_ext {
            x.insert("collection".into(), Value::String(collection.clone()));
            out.operations
                .push((plan.list_path.clone(), "get".into(), reorder(x)));
        }
        if let Some(mut x) = plan.detail_ext {
            x.insert("collection".into(), Value::String(collection.clone()));
            out.operations
                .push((plan.detail_path.clone(), "get".into(), reorder(x)));
        }
    }
    out
}

/// Put `action` and `collection` first, as a person would write them.
fn reorder(x: Map<String, Value>) -> Value {
    let mut m = Map::new();
    for k in ["action", "collection"] {
        if let Some(v) = x.get(k) {
            m.insert(k.into(), v.clone());
        }
    }
    for (k, v) in x {
        if !m.contains_key(&k) {
            m.insert(k, v);
        }
    }
    Value::Object(m)
}

// ---------------------------------------------------------------------------------------------
// Document helpers
// ---------------------------------------------------------------------------------------------

/// The value at a local reference (`#/a/b~1c`), with `~1` and `~0` unescaped.
fn at_ref<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    if pointer.is_empty() {
        return Some(doc);
    }
    let mut cur = doc;
    for raw in pointer.strip_prefix('/')?.split('/') {
        let seg = raw.replace("~1", "/").replace("~0", "~");
        cur = match cur {
            Value::Object(m) => m.get(&seg)?,
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// `v` with its `$ref` chain followed (at most [`MAX_DEPTH`] hops).
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> Option<&'a Value> {
    let mut cur = v;
    for _ in 0..MAX_DEPTH {
        match cur.get("$ref").and_then(Value::as_str) {
            Some(r) => cur = at_ref(doc, r)?,
            None => return Some(cur),
        }
    }
    None
}

/// Whether a schema is the `null` type alone (`{type: 'null'}`).
fn is_null_schema(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null")
}

/// A schema that only wraps another one: an `allOf` of one part, or an `anyOf`/`oneOf` whose
/// only non-null branch it is (3.1's way of writing a nullable reference). Returns the inner
/// schema (unresolved) or `v` itself.
fn unwrap_one(v: &Value) -> &Value {
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

/// `v` resolved and unwrapped until it is a schema with its own shape.
fn underlying<'a>(doc: &'a Value, v: &'a Value) -> Option<&'a Value> {
    let mut cur = resolve(doc, v)?;
    for _ in 0..MAX_DEPTH {
        let next = unwrap_one(cur);
        if std::ptr::eq(next, cur) {
            return Some(cur);
        }
        cur = resolve(doc, next)?;
    }
    None
}

/// The name of the component schema `v` refers to (`#/components/schemas/NAME`), looking
/// through a one-part `allOf` or a nullable `anyOf`/`oneOf`.
fn component_name(v: &Value) -> Option<String> {
    let mut cur = v;
    for _ in 0..MAX_DEPTH {
        if let Some(r) = cur.get("$ref").and_then(Value::as_str) {
            let name = r.strip_prefix("#/components/schemas/")?;
            if name.contains('/') {
                return None;
            }
            return Some(name.replace("~1", "/").replace("~0", "~"));
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
fn type_of(v: &Value) -> Option<&str> {
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

/// Whether a schema admits `null` (3.0 `nullable`, a `null` in a 3.1 `type` array, or a `null`
/// branch of an `anyOf`/`oneOf`), through `$ref`s and one-part wrappers.
fn admits_null(doc: &Value, v: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return true;
    }
    let Some(s) = resolve(doc, v) else {
        return true;
    };
    if s.get("nullable").and_then(Value::as_bool) == Some(true) || is_null_schema(s) {
        return true;
    }
    if let Some(Value::Array(types)) = s.get("type")
        && types.iter().any(|t| t.as_str() == Some("null"))
    {
        return true;
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = s.get(key).and_then(Value::as_array)
            && alts.iter().any(is_null_schema)
        {
            return true;
        }
    }
    let inner = unwrap_one(s);
    if !std::ptr::eq(inner, s) {
        return admits_null(doc, inner, depth + 1);
    }
    false
}

/// Whether a schema describes plain objects: an object type or properties, or an `allOf` of
/// objects (parts without any shape, such as `required` lists, are allowed). An `anyOf` or
/// `oneOf` beside properties makes the schema a union when it is compiled, so it is not one.
fn is_object(doc: &Value, v: &Value) -> bool {
    is_object_at(doc, v, 0)
}

fn is_object_at(doc: &Value, v: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    let Some(s) = underlying(doc, v) else {
        return false;
    };
    if s.get("anyOf").is_some() || s.get("oneOf").is_some() {
        return false;
    }
    if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
        let objects = parts
            .iter()
            .filter(|p| is_object_at(doc, p, depth + 1))
            .count();
        let shapeless = parts
            .iter()
            .filter(|p| underlying(doc, p).is_some_and(is_shapeless))
            .count();
        let own_ok = match type_of(s) {
            Some("object") => true,
            Some(_) => false,
            None => s.get("type").is_none(),
        };
        return own_ok
            && objects + shapeless == parts.len()
            && (objects > 0 || s.get("properties").is_some());
    }
    match type_of(s) {
        Some("object") => true,
        Some(_) => false,
        None if s.get("type").is_some() => false,
        None => s.get("properties").is_some(),
    }
}

/// A schema that states no shape (only constraints or annotations such as `required`).
fn is_shapeless(s: &Value) -> bool {
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

/// The items schema when `v` describes an array of objects.
fn array_of_objects<'a>(doc: &'a Value, v: &'a Value) -> Option<&'a Value> {
    let s = underlying(doc, v)?;
    if type_of(s) != Some("array") {
        return None;
    }
    let items = s.get("items")?;
    is_object(doc, items).then_some(items)
}

/// The properties of an object schema, through `$ref`s and `allOf` (first declaration wins),
/// in document order.
fn properties<'a>(doc: &'a Value, v: &'a Value) -> Vec<(&'a str, &'a Value)> {
    let mut out = Vec::new();
    collect_properties(doc, v, 0, &mut out);
    out
}

fn collect_properties<'a>(
    doc: &'a Value,
    v: &'a Value,
    depth: usize,
    out: &mut Vec<(&'a str, &'a Value)>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some(s) = resolve(doc, v) else { return };
    if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
        for p in parts {
            collect_properties(doc, p, depth + 1, out);
        }
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (k, p) in props {
            if !out.iter().any(|(n, _)| *n == k.as_str()) {
                out.push((k.as_str(), p));
            }
        }
    }
    // A nullable reference (`anyOf: [$ref, null]`) is the referenced object.
    let inner = unwrap_one(s);
    if !std::ptr::eq(inner, s) && s.get("allOf").is_none() {
        collect_properties(doc, inner, depth + 1, out);
    }
}

/// Whether an object schema (or, for a union, one of its branches) declares property `name`.
fn declares(doc: &Value, schema: &Value, name: &str, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    if properties(doc, schema).iter().any(|(n, _)| *n == name) {
        return true;
    }
    let Some(s) = underlying(doc, schema) else {
        return false;
    };
    ["anyOf", "oneOf"].iter().any(|k| {
        s.get(*k)
            .and_then(Value::as_array)
            .is_some_and(|alts| alts.iter().any(|a| declares(doc, a, name, depth + 1)))
    })
}

/// The `application/json` schema of an operation's `200` response. (The checks of an
/// operation extension read the `200` response, so another 2xx is not used.)
fn ok_body<'a>(doc: &'a Value, op: &'a Value) -> Option<&'a Value> {
    let r = resolve(doc, op.get("responses")?.get("200")?)?;
    r.get("content")?.get("application/json")?.get("schema")
}

/// The parameters of an operation: the path item's, overridden by the operation's own of the
/// same name and location, each resolved.
fn parameters<'a>(doc: &'a Value, item: &'a Value, op: &'a Value) -> Vec<&'a Value> {
    let mut out: Vec<&Value> = Vec::new();
    let lists = [item.get("parameters"), op.get("parameters")];
    for p in lists
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten()
    {
        let Some(p) = resolve(doc, p) else { continue };
        let name = p.get("name").and_then(Value::as_str);
        let loc = p.get("in").and_then(Value::as_str);
        out.retain(|q| {
            !(q.get("name").and_then(Value::as_str) == name
                && q.get("in").and_then(Value::as_str) == loc)
        });
        out.push(p);
    }
    out
}

/// Escape a property name as one JSON pointer segment.
fn pointer_to(name: &str) -> String {
    format!("/{}", name.replace('~', "~0").replace('/', "~1"))
}

/// `CallSid` -> `call_sid`, `sourceID` -> `source_id`, `agent_id` stays.
fn snake_case(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        if c == '-' || c == ' ' || c == '.' {
            out.push('_');
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// A plural noun made singular, by the common English endings only.
fn singular(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("ies") {
        format!("{stem}y")
    } else if let Some(stem) = word.strip_suffix("sses") {
        format!("{stem}ss")
    } else if word.ends_with('s') && !word.ends_with("ss") {
        word[..word.len() - 1].to_string()
    } else {
        word.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Pairing
// ---------------------------------------------------------------------------------------------

/// A path without a trailing `/` and without a `.json` suffix: what pairing compares.
fn pairing_form(path: &str) -> &str {
    let p = path.strip_suffix('/').unwrap_or(path);
    p.strip_suffix(".json").unwrap_or(p)
}

/// A path parameter segment's name (`{k}` -> `k`).
fn param_segment(seg: &str) -> Option<&str> {
    seg.strip_prefix('{')?
        .strip_suffix('}')
        .filter(|n| !n.is_empty() && !n.contains(['{', '}']))
}

/// A list path paired with its detail path.
struct Pair {
    list_path: String,
    detail_path: String,
    /// The detail's key parameter.
    key_param: String,
    /// The literal segments of the list path, snake_cased, `.json` stripped (for naming).
    literals: Vec<String>,
}

/// Every unambiguous (list, detail) pair of GET paths, in document order of the lists.
fn find_pairs(doc: &Value) -> Vec<Pair> {
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return Vec::new();
    };
    // Pairing form -> the document paths that have it (with a GET).
    let mut by_form: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (path, item) in paths {
        if path.contains('?') || !path.starts_with('/') || item.get("get").is_none() {
            continue;
        }
        by_form
            .entry(pairing_form(path))
            .or_default()
            .push(path.as_str());
    }
    let mut out = Vec::new();
    for (path, item) in paths {
        if path.contains('?') || !path.starts_with('/') || item.get("get").is_none() {
            continue;
        }
        let form = pairing_form(path);
        if form.is_empty() || by_form.get(form).is_none_or(|v| v.len() != 1) {
            continue;
        }
        // Details: forms that are this form plus one parameter segment.
        let prefix = format!("{form}/");
        let details: Vec<(&str, &str)> = by_form
            .range::<str, _>((
                std::ops::Bound::Included(prefix.as_str()),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(f, _)| f.starts_with(&prefix))
            .filter_map(|(f, ps)| {
                let rest = &f[prefix.len()..];
                let k = param_segment(rest)?;
                match ps.as_slice() {
                    [one] => Some((*one, k)),
                    _ => None,
                }
            })
            .collect();
        let [(detail, key)] = details.as_slice() else {
            continue;
        };
        let literals: Vec<String> = form
            .split('/')
            .filter(|s| !s.is_empty() && param_segment(s).is_none() && !s.contains(['{', '}']))
            .map(|s| snake_case(s.strip_suffix(".json").unwrap_or(s)))
            .map(|s| {
                s.chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect::<String>()
                    .trim_matches('_')
                    .to_string()
            })
            .filter(|s| !s.is_empty())
            .collect();
        if literals.is_empty() {
            continue;
        }
        out.push(Pair {
            list_path: path.clone(),
            detail_path: (*detail).to_string(),
            key_param: (*key).to_string(),
            literals,
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Planning one pair
// ---------------------------------------------------------------------------------------------

/// A declared collection: its schemas, key and whether its key field has a generator.
struct DeclaredCollection {
    schemas: Vec<String>,
    key: String,
    key_generated: bool,
}

fn declared_collections(doc: &Value) -> BTreeMap<String, DeclaredCollection> {
    let mut out = BTreeMap::new();
    let Some(cs) = doc
        .pointer("/x-understudy/collections")
        .and_then(Value::as_object)
    else {
        return out;
    };
    for (name, c) in cs {
        let schemas = c
            .get("schemas")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let key = c
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let key_generated = c.get("fields").and_then(|f| f.get(&key)).is_some();
        out.insert(
            name.clone(),
            DeclaredCollection {
                schemas,
                key,
                key_generated,
            },
        );
    }
    out
}

enum Collection {
    /// An existing declared collection, by name.
    Declared(String),
    /// A new collection (named later, once every pair is known).
    New { value: Value },
}

/// What one pair infers (operation extensions without their `collection`).
struct Plan {
    list_path: String,
    detail_path: String,
    literals: Vec<String>,
    collection: Collection,
    list_ext: Option<Map<String, Value>>,
    detail_ext: Option<Map<String, Value>>,
}

/// The shape of a list's body.
struct ListShape<'a> {
    /// Pointer to the item array (`""` for a bare array).
    items: String,
    item_schema: &'a Value,
    /// The envelope's properties (empty for a bare array).
    envelope: Vec<(&'a str, &'a Value)>,
}

fn list_shape<'a>(doc: &'a Value, body: &'a Value) -> Option<ListShape<'a>> {
    if let Some(items) = array_of_objects(doc, body) {
        return Some(ListShape {
            items: String::new(),
            item_schema: items,
            envelope: Vec::new(),
        });
    }
    if !is_object(doc, body) {
        return None;
    }
    let envelope = properties(doc, body);
    let arrays: Vec<(&str, &Value)> = envelope
        .iter()
        .filter_map(|(n, p)| array_of_objects(doc, p).map(|i| (*n, i)))
        .collect();
    let chosen = ["data", "items", "results"]
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

fn plan_pair(
    doc: &Value,
    pair: &Pair,
    declared: &BTreeMap<String, DeclaredCollection>,
) -> Option<Plan> {
    let paths = doc.get("paths")?;
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

    let list_body = ok_body(doc, list_op);
    let listed = list_body.and_then(|b| list_shape(doc, b));
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
    let entity: Vec<(&str, &Value)> = {
        let mut all: Vec<(&str, &Value)> = Vec::new();
        for name in &schemas {
            let s = doc.get("components")?.get("schemas")?.get(name)?;
            for (k, v) in properties(doc, s) {
                if !all.iter().any(|(n, _)| *n == k) {
                    all.push((k, v));
                }
            }
        }
        all
    };

    // The key.
    let detail_params = parameters(doc, detail_item, detail_op);
    let key_param = detail_params.iter().find(|p| {
        p.get("in").and_then(Value::as_str) == Some("path")
            && p.get("name").and_then(Value::as_str) == Some(pair.key_param.as_str())
    })?;
    let segment = pair.literals.last()?;
    let field = key_candidates(&pair.key_param, segment)
        .into_iter()
        .find(|c| entity.iter().any(|(n, _)| *n == c.as_str()))?;
    let field_schema = entity.iter().find(|(n, _)| *n == field).map(|(_, s)| *s)?;
    // The detail must show the key: the schema at its item pointer declares the field.
    let shown = match &item {
        Some(ptr) => properties(doc, detail_body)
            .into_iter()
            .find(|(n, _)| pointer_to(n) == *ptr)
            .map(|(_, s)| s)?,
        None => detail_body,
    };
    if !declares(doc, shown, &field, 0) {
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
    let detail_ext = if detail_declared.is_some() {
        None
    } else {
        let mut x = Map::new();
        x.insert("action".into(), json!("get"));
        x.insert("key-param".into(), Value::String(pair.key_param.clone()));
        if let Some(p) = key_pattern(doc, key_param, &values) {
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
            Some(list_extension(doc, listed, &query))
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
fn entity_schemas(
    doc: &Value,
    detail_body: &Value,
    detail_ref: Option<String>,
    list_ref: Option<String>,
) -> Option<(Vec<String>, Option<String>)> {
    let component = |n: &str| {
        doc.pointer(&format!(
            "/components/schemas/{}",
            n.replace('~', "~0").replace('/', "~1")
        ))
    };
    let usable = |n: &String| component(n).is_some_and(|s| is_object(doc, s));
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
            None => properties(doc, detail_body)
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
fn wrapping_property(
    doc: &Value,
    detail_body: &Value,
    detail_ref: Option<&str>,
    is_entity: impl Fn(&str) -> bool,
) -> Option<String> {
    if !is_object(doc, detail_body) {
        return None;
    }
    let holding: Vec<&str> = properties(doc, detail_body)
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
fn sole_reference(doc: &Value, detail_body: &Value, detail_ref: Option<&str>) -> Option<String> {
    if !is_object(doc, detail_body) {
        return None;
    }
    match properties(doc, detail_body).as_slice() {
        [(name, s)] => {
            let n = component_name(s)?;
            (Some(n.as_str()) != detail_ref).then(|| pointer_to(name))
        }
        _ => None,
    }
}

/// The item fields a key parameter may name, in order of preference.
fn key_candidates(param: &str, segment: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    };
    let last_word = segment.rsplit('_').next().unwrap_or(segment);
    let head = &segment[..segment.len() - last_word.len()];
    let item_noun = singular(last_word);
    push(param.to_string());
    let snake = snake_case(param);
    push(snake.clone());
    // The item's noun and one attribute (`block_label` under `.../blocks`): the attribute.
    if let Some((noun, word)) = snake.split_once('_')
        && noun == item_noun
        && !word.contains('_')
        && !["id", "sid"].contains(&word)
    {
        push(word.to_string());
    }
    push("id".into());
    push("sid".into());
    push(format!("{head}{item_noun}_id"));
    for suffix in ["_id", "Id", "ID", "Sid"] {
        if let Some(stem) = param.strip_suffix(suffix) {
            push(stem.to_string());
            push(snake_case(stem));
        }
    }
    out
}

/// What values a key field will hold, for deciding whether a key pattern admits them.
enum KeyValues {
    /// Drawn from the field's own pattern.
    Pattern(String),
    /// Version 4 UUIDs, cut to a maximum length if the field has one.
    Uuid(Option<u64>),
    /// Something else (a template, a declared generator).
    Unknown,
}

/// Whether a key field gives unique, non-null values, and the generator it needs for that:
/// `auto` for a nullable field (so it is never null), an indexed template for a field whose
/// default values would repeat. `None` when no safe generator is known (enumerations,
/// non-string types, constrained free text).
fn key_generation(doc: &Value, field: &str, schema: &Value) -> Option<(Option<Value>, KeyValues)> {
    if field.contains(['.', '[', ']']) {
        return None;
    }
    let nullable = admits_null(doc, schema, 0);
    let s = underlying(doc, schema)?;
    if type_of(s) != Some("string") || s.get("enum").is_some() || s.get("const").is_some() {
        return None;
    }
    let lower = field.to_ascii_lowercase();
    let id_like = lower == "id" || (lower.ends_with("id") && lower.len() > 2);
    let format = s.get("format").and_then(Value::as_str);
    let pattern = s.get("pattern").and_then(Value::as_str);
    let auto = nullable.then(|| json!({"auto": {}}));
    if let Some(p) = pattern {
        // Values come from the pattern; trust it for identifier fields only.
        return (id_like || format == Some("uuid"))
            .then(|| (auto, KeyValues::Pattern(p.to_string())));
    }
    if format == Some("uuid") || (id_like && format.is_none()) {
        let max = s.get("maxLength").and_then(Value::as_u64);
        return Some((auto, KeyValues::Uuid(max)));
    }
    let constrained = ["format", "minLength", "maxLength"]
        .iter()
        .any(|k| s.get(*k).is_some());
    if constrained {
        return None;
    }
    // Free text (a word by default) would repeat: number it.
    let prefix: String = snake_case(field)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let prefix = prefix.trim_matches('-');
    let prefix = if prefix.is_empty() { "key" } else { prefix };
    Some((
        Some(json!({"template": format!("{prefix}-{{index}}")})),
        KeyValues::Unknown,
    ))
}

/// The key parameter's `pattern`, as written, when the collection's keys match it (otherwise
/// every listed entity's detail would be refused as malformed) and it compiles.
fn key_pattern(doc: &Value, param: &Value, values: &KeyValues) -> Option<String> {
    let p = param
        .get("schema")
        .and_then(|s| underlying(doc, s))
        .and_then(|s| s.get("pattern"))
        .and_then(Value::as_str)?;
    let re = regex::Regex::new(p).ok()?;
    let fits = match values {
        // The field's values come from its pattern only when a generator can be made for it.
        KeyValues::Pattern(own) => own == p && super::schema::Pattern::new(own).is_some(),
        KeyValues::Uuid(max) => {
            let samples = [
                "123e4567-e89b-42d3-a456-426614174000",
                "fedcba98-7654-4321-b987-0123456789ab",
            ];
            samples.iter().all(|s| {
                let cut = max.map_or(s.len(), |m| (m as usize).min(s.len()));
                re.is_match(&s[..cut])
            })
        }
        KeyValues::Unknown => false,
    };
    fits.then(|| p.to_string())
}

// ---------------------------------------------------------------------------------------------
// The list's extension
// ---------------------------------------------------------------------------------------------

/// Query parameter names that play a role, compared case-insensitively.
const AFTER: &[&str] = &["after", "starting_after"];
const BEFORE: &[&str] = &["before", "ending_before"];
const OFFSET: &[&str] = &["offset"];
const TOKEN: &[&str] = &["page_token", "pagetoken", "cursor", "next_page_token"];
const LIMIT: &[&str] = &["limit", "page_size", "per_page", "pagesize"];
/// Envelope properties that carry the next page's token (exact names).
const NEXT_TOKEN: &[&str] = &[
    "next_page_token",
    "nextPageToken",
    "next_cursor",
    "next_page",
    "next",
];
/// Envelope properties that carry the filtered count (exact names).
const TOTAL: &[&str] = &["total_count", "total", "count"];
/// Page size when the parameter declares no default (capped by its maximum).
const DEFAULT_LIMIT: u64 = 20;
/// Largest page size when the parameter declares no maximum.
const DEFAULT_MAX_LIMIT: u64 = 100;

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
fn param_type<'a>(doc: &'a Value, p: &'a Value) -> Option<&'a str> {
    let s = underlying(doc, p.get("schema")?)?;
    type_of(s)
}

/// A non-negative integer keyword of a parameter's schema.
fn schema_u64(doc: &Value, p: &Value, key: &str) -> Option<u64> {
    let s = underlying(doc, p.get("schema")?)?;
    let v = s.get(key)?;
    v.as_u64()
        .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
}

/// `{param, default, min?, max?}` for an integer page-size parameter.
fn limit_of(doc: &Value, query: &[&Value]) -> Option<Value> {
    let (name, p) = query_param(query, LIMIT)?;
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
/// Envelope properties other than the item array, the total and the next token (`has_more`,
/// first and last ids, next-page URLs, `object`, page numbers...) are not described here: the
/// engine fills them from their schemas.
fn list_extension(doc: &Value, list: &ListShape, query: &[&Value]) -> Map<String, Value> {
    let mut x = Map::new();
    x.insert("action".into(), json!("list"));
    x.insert("items".into(), Value::String(list.items.clone()));
    let envelope_field = |names: &[&str], fits: &dyn Fn(&Value) -> bool| -> Option<String> {
        names.iter().find_map(|want| {
            list.envelope
                .iter()
                .find(|(n, s)| n == want && shape_fits(doc, s, fits))
                .map(|(n, _)| pointer_to(n))
        })
    };
    let total = envelope_field(TOTAL, &|s| type_of(s) == Some("integer"));
    let next = envelope_field(NEXT_TOKEN, &|s| {
        type_of(s) == Some("string")
            && !matches!(
                s.get("format").and_then(Value::as_str),
                Some("uri" | "url" | "uri-reference")
            )
    });
    let mut p = Map::new();
    let token = query_param(query, TOKEN)
        .filter(|(_, t)| matches!(param_type(doc, t), Some("string") | None))
        .filter(|_| !list.items.is_empty());
    let after = query_param(query, AFTER);
    let offset = query_param(query, OFFSET).filter(|(_, o)| param_type(doc, o) == Some("integer"));
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
            if let Some((b, _)) = query_param(query, BEFORE) {
                c.insert("before".into(), Value::String(b.to_string()));
            }
            p.insert("cursor".into(), Value::Object(c));
        }
        (_, _, None, Some((o, _))) => {
            p.insert("style".into(), json!("offset"));
            p.insert("offset".into(), json!({"param": o}));
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

/// Whether a property schema, resolved and unwrapped, satisfies `fits`.
fn shape_fits(doc: &Value, s: &Value, fits: &dyn Fn(&Value) -> bool) -> bool {
    underlying(doc, s).is_some_and(fits)
}

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

/// A unique collection name per plan (declared ones keep theirs): the list path's last literal
/// segment, with parent literal segments prefixed while two names collide (or collide with a
/// declared collection), then a number as a last resort.
fn assign_names(plans: &[Plan], declared: &BTreeMap<String, DeclaredCollection>) -> Vec<String> {
    let depth_name = |p: &Plan, d: usize| -> String {
        let n = p.literals.len();
        p.literals[n.saturating_sub(d)..].join("_")
    };
    let fresh: Vec<bool> = plans
        .iter()
        .map(|p| matches!(p.collection, Collection::New { .. }))
        .collect();
    let mut depth = vec![1usize; plans.len()];
    loop {
        let names: Vec<String> = plans
            .iter()
            .zip(&depth)
            .map(|(p, d)| depth_name(p, *d))
            .collect();
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, n) in names.iter().enumerate() {
            if fresh[i] {
                *seen.entry(n.as_str()).or_default() += 1;
            }
        }
        let mut grew = false;
        for (((p, n), d), new) in plans.iter().zip(&names).zip(depth.iter_mut()).zip(&fresh) {
            let clash = seen.get(n.as_str()).copied().unwrap_or(0) > 1 || declared.contains_key(n);
            if *new && clash && *d < p.literals.len() {
                *d += 1;
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    let mut taken: BTreeSet<String> = declared.keys().cloned().collect();
    let mut out = Vec::with_capacity(plans.len());
    for (i, p) in plans.iter().enumerate() {
        if let Collection::Declared(n) = &p.collection {
            out.push(n.clone());
            continue;
        }
        let base = depth_name(p, depth[i]);
        let mut name = base.clone();
        let mut k = 2;
        while taken.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        taken.insert(name.clone());
        out.push(name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(paths: Value, schemas: Value) -> Value {
        json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": paths,
            "components": {"schemas": schemas},
        })
    }

    fn ok(schema: Value) -> Value {
        json!({"200": {"description": "ok", "content": {"application/json": {"schema": schema}}}})
    }

    fn path_param(name: &str) -> Value {
        json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
    }

    fn op<'a>(inf: &'a Inferred, path: &str) -> Option<&'a Value> {
        inf.operations
            .iter()
            .find(|(p, m, _)| p == path && m == "get")
            .map(|(_, _, x)| x)
    }

    /// The document with the inferred extensions merged in, loaded by the spec loader: the
    /// inference must pass every check an operation extension is held to.
    fn loads(d: &Value, inf: &Inferred) {
        let mut d = d.clone();
        let mut colls = inf.collections.clone();
        for c in colls.values_mut() {
            if let Some(m) = c.as_object_mut() {
                m.entry("count").or_insert(json!(5));
            }
        }
        d["x-understudy"] = json!({"collections": colls});
        for (path, method, x) in &inf.operations {
            d["paths"][path][method]["x-understudy"] = x.clone();
        }
        let text = serde_json::to_string(&d).unwrap();
        if let Err(e) = super::super::load_str("specs/inferred.json", &text) {
            panic!("inferred extensions do not load: {e}");
        }
    }

    fn thing() -> Value {
        json!({"type": "object", "required": ["id"], "properties": {
            "id": {"type": "string"}, "name": {"type": "string"}}})
    }

    #[test]
    fn bare_array_list_pairs_with_its_detail() {
        let d = doc(
            json!({
                "/things/": {"get": {
                    "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                    "responses": ok(json!({"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}))}},
                "/things/{thing_id}": {"get": {
                    "parameters": [path_param("thing_id")],
                    "responses": ok(json!({"$ref": "#/components/schemas/Thing"}))}},
            }),
            json!({"Thing": thing()}),
        );
        let inf = infer(&d);
        assert_eq!(
            inf.collections.get("things"),
            Some(&json!({"schemas": ["Thing"], "key": "id"}))
        );
        assert_eq!(
            op(&inf, "/things/"),
            Some(&json!({"action": "list", "collection": "things", "items": ""}))
        );
        assert_eq!(
            op(&inf, "/things/{thing_id}"),
            Some(&json!({"action": "get", "collection": "things", "key-param": "thing_id"}))
        );
        loads(&d, &inf);
    }

    #[test]
    fn envelope_with_id_cursor() {
        let d = doc(
            json!({
                "/things": {"get": {
                    "parameters": [
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 10, "minimum": 1, "maximum": 100}},
                        {"name": "after", "in": "query", "schema": {"type": "string"}},
                        {"name": "before", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": ok(json!({"type": "object", "required": ["data", "has_more"], "properties": {
                        "object": {"type": "string", "enum": ["list"]},
                        "data": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}},
                        "has_more": {"type": "boolean"}}}))}},
                "/things/{thing_id}": {"get": {
                    "parameters": [path_param("thing_id")],
                    "responses": ok(json!({"$ref": "#/components/schemas/Thing"}))}},
            }),
            json!({"Thing": thing()}),
        );
        let inf = infer(&d);
        assert_eq!(
            op(&inf, "/things"),
            Some(
                &json!({"action": "list", "collection": "things", "items": "/data",
                "pagination": {"style": "cursor", "cursor": {"after": "after", "before": "before"},
                    "limit": {"param": "limit", "default": 10, "min": 1, "max": 100}}})
            )
        );
        loads(&d, &inf);
    }

    #[test]
    fn suffixed_paths_with_a_patterned_nullable_key() {
        let pattern = "^TH[0-9a-fA-F]{32}$";
        let d = doc(
            json!({
                "/Accounts/{AccountSid}/Things.json": {"get": {
                    "parameters": [
                        {"name": "AccountSid", "in": "path", "required": true, "schema": {"type": "string"}},
                        {"name": "PageSize", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                        {"name": "PageToken", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": ok(json!({"type": "object", "properties": {
                        "things": {"type": "array", "items": {"$ref": "#/components/schemas/thing"}},
                        "next_page_uri": {"type": "string", "format": "uri", "nullable": true},
                        "page": {"type": "integer"}}}))}},
                "/Accounts/{AccountSid}/Things/{Sid}.json": {"get": {
                    "parameters": [
                        {"name": "AccountSid", "in": "path", "required": true, "schema": {"type": "string"}},
                        {"name": "Sid", "in": "path", "required": true, "schema": {"type": "string", "pattern": pattern}},
                    ],
                    "responses": ok(json!({"$ref": "#/components/schemas/thing"}))}},
            }),
            json!({"thing": {"type": "object", "properties": {
                "sid": {"type": "string", "nullable": true, "pattern": pattern},
                "account_sid": {"type": "string", "nullable": true}}}}),
        );
        let inf = infer(&d);
        assert_eq!(
            inf.collections.get("things"),
            Some(&json!({"schemas": ["thing"], "key": "sid", "fields": {"sid": {"auto": {}}}}))
        );
        // No style fits (page numbers and next-page URLs are not a page-token style).
        assert_eq!(
            op(&inf, "/Accounts/{AccountSid}/Things.json"),
            Some(&json!({"action": "list", "collection": "things", "items": "/things"}))
        );
        assert_eq!(
            op(&inf, "/Accounts/{AccountSid}/Things/{Sid}.json"),
            Some(
                &json!({"action": "get", "collection": "things", "key-param": "Sid",
                "key-pattern": pattern})
            )
        );
        loads(&d, &inf);
    }

    #[test]
    fn offset_list_with_a_total() {
        let d = doc(
            json!({
                "/things": {"get": {
                    "parameters": [
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 10, "minimum": 1, "maximum": 500}},
                        {"name": "offset", "in": "query", "schema": {"type": "integer", "default": 0, "minimum": 0}},
                    ],
                    "responses": ok(json!({"$ref": "#/components/schemas/Things"}))}},
                "/things/{id}": {"get": {
                    "parameters": [path_param("id")],
                    "responses": ok(json!({"$ref": "#/components/schemas/Thing"}))}},
            }),
            json!({
                "Thing": thing(),
                "Things": {"type": "object", "required": ["data", "total_count"], "properties": {
                    "data": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}},
                    "total_count": {"type": "integer"}}},
            }),
        );
        let inf = infer(&d);
        assert_eq!(
            op(&inf, "/things"),
            Some(
                &json!({"action": "list", "collection": "things", "items": "/data",
                "pagination": {"style": "offset", "offset": {"param": "offset"},
                    "limit": {"param": "limit", "default": 10, "min": 1, "max": 500}},
                "total": "/total_count"})
            )
        );
        loads(&d, &inf);
    }

    #[test]
    fn page_token_in_the_body_and_a_wrapped_detail() {
        let d = doc(
            json!({
                "/things": {"get": {
                    "parameters": [
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {"name": "page_size", "in": "query", "schema": {"type": "integer"}},
                    ],
                    "responses": ok(json!({"type": "object", "properties": {
                        "entries": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}},
                        "next_cursor": {"type": "string", "nullable": true}}}))}},
                "/things/{thing_id}": {"get": {
                    "parameters": [path_param("thing_id")],
                    "responses": ok(json!({"type": "object", "properties": {
                        "body": {"$ref": "#/components/schemas/Thing"}}}))}},
            }),
            json!({"Thing": thing()}),
        );
        let inf = infer(&d);
        assert_eq!(
            op(&inf, "/things"),
            Some(
                &json!({"action": "list", "collection": "things", "items": "/entries",
                "pagination": {"style": "page-token", "token": {"param": "cursor"},
                    "limit": {"param": "page_size", "default": 20, "max": 100}},
                "next-token": "/next_cursor"})
            )
        );
        assert_eq!(
            op(&inf, "/things/{thing_id}"),
            Some(
                &json!({"action": "get", "collection": "things", "key-param": "thing_id",
                "item": "/body"})
            )
        );
        loads(&d, &inf);
    }

    #[test]
    fn a_list_without_a_detail_infers_nothing() {
        let d = doc(
            json!({
                "/things": {"get": {"responses": ok(json!({"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}))}},
                "/things/search": {"get": {"responses": ok(json!({"$ref": "#/components/schemas/Thing"}))}},
            }),
            json!({"Thing": thing()}),
        );
        let inf = infer(&d);
        assert!(inf.collections.is_empty() && inf.operations.is_empty());
    }

    #[test]
    fn an_unknown_key_field_infers_nothing() {
        let d = doc(
            json!({
                "/things": {"get": {"responses": ok(json!({"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}))}},
                "/things/{handle}": {"get": {
                    "parameters": [path_param("handle")],
                    "responses": ok(json!({"$ref": "#/components/schemas/Thing"}))}},
            }),
            json!({"Thing": {"type": "object", "properties": {"name": {"type": "string"}, "size": {"type": "integer"}}}}),
        );
        let inf = infer(&d);
        assert!(inf.collections.is_empty() && inf.operations.is_empty());
    }

    #[test]
    fn names_are_made_unique_and_declared_operations_are_kept() {
        let list = |r: &str| json!({"get": {"responses": ok(json!({"type": "array", "items": {"$ref": r}}))}});
        let detail = |r: &str| json!({"get": {"parameters": [path_param("id")], "responses": ok(json!({"$ref": r}))}});
        let mut d = doc(
            json!({
                "/files": list("#/components/schemas/Thing"),
                "/files/{id}": detail("#/components/schemas/Thing"),
                "/boxes/{box}/files": list("#/components/schemas/Thing"),
                "/boxes/{box}/files/{id}": detail("#/components/schemas/Thing"),
                "/labels": list("#/components/schemas/Thing"),
                "/labels/{id}": detail("#/components/schemas/Thing"),
            }),
            json!({"Thing": thing()}),
        );
        d["paths"]["/boxes/{box}/files"]["get"]["parameters"] = json!([path_param("box")]);
        d["paths"]["/boxes/{box}/files/{id}"]["get"]["parameters"] =
            json!([path_param("box"), path_param("id")]);
        d["x-understudy"] =
            json!({"collections": {"labels": {"count": 2, "schemas": ["Thing"], "key": "id"}}});
        d["paths"]["/labels"]["get"]["x-understudy"] =
            json!({"action": "list", "collection": "labels"});
        let inf = infer(&d);
        let names: Vec<&String> = inf.collections.keys().collect();
        assert_eq!(names, ["files", "boxes_files"]);
        assert!(op(&inf, "/labels").is_none());
        assert_eq!(
            op(&inf, "/labels/{id}"),
            Some(&json!({"action": "get", "collection": "labels", "key-param": "id"}))
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(snake_case("CallSid"), "call_sid");
        assert_eq!(snake_case("sourceID"), "source_id");
        assert_eq!(snake_case("HTTPServer"), "http_server");
        assert_eq!(singular("policies"), "policy");
        assert_eq!(
            key_candidates("block_label", "blocks"),
            ["block_label", "label", "id", "sid", "block_id"]
        );
        assert_eq!(
            key_candidates("promotion_code", "promotion_codes"),
            ["promotion_code", "id", "sid", "promotion_code_id"]
        );
        assert_eq!(
            key_candidates("ConnectAppSid", "connect_apps"),
            [
                "ConnectAppSid",
                "connect_app_sid",
                "id",
                "sid",
                "connect_app_id",
                "ConnectApp",
                "connect_app"
            ]
        );
        assert_eq!(
            component_name(
                &json!({"type": "object", "allOf": [{"$ref": "#/components/schemas/A"}]})
            ),
            Some("A".to_string())
        );
        let d = json!({"a": {"b/c": {"~d": 1}}});
        assert_eq!(at_ref(&d, "#/a/b~1c/~0d"), Some(&json!(1)));
        let looped = json!({"x": {"$ref": "#/x"}});
        assert_eq!(resolve(&looped, &looped["x"]), None);
    }
}
