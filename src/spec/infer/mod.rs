//! Inference of collections and of their list and detail operations for documents that carry
//! no `x-understudy` annotations.
//!
//! This module owns the rules that read an ordinary OpenAPI 3.0/3.1 document and recognise
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
//!   `/` on `P` and a conventional suffix such as `.json` on both are ignored for pairing).
//! - The **entity** is made of the component schemas of the detail's body (or of the list item
//!   when the detail is inline or a union); a detail whose object has exactly one property
//!   holding the entity is a wrapped detail (`item`).
//! - The entity's schemas must be plain objects (an `anyOf`/`oneOf` beside properties compiles
//!   to a union, which has no fields to key on).
//! - The **key** is the entity's string field named by the path parameter (exact name, its
//!   snake_case form, the attribute a two-word name ends with, a conventional key field,
//!   `<singular segment>_id`, the name without an id suffix), and the detail must show it.
//!   A key must be unique by construction and never null: full-length UUIDs, a pattern that
//!   draws enough random characters, or else an indexed template that fits the field; a
//!   nullable one gets a generator; anything else is refused. The parameter's `pattern`
//!   becomes `key-pattern` only when the generated keys match it.
//! - **Pagination** uses the existing styles only (page token, id cursor, offset), with a page
//!   size, the filtered total and the next token where the envelope has room for them.
//!
//! The modules: [`doc`] reads the document (every walk over `$ref`s and `allOf`s bounded),
//! [`shape`] reads one schema without following anything, [`pair`] pairs paths and names
//! collections, [`plan`] infers one pair, [`key`] chooses and generates keys, [`list`] writes
//! the list's pagination, and [`conventions`] holds the names the rules look for.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

pub(crate) mod conventions;
mod doc;
mod key;
mod list;
mod pair;
mod plan;
mod shape;
#[cfg(test)]
mod tests;
mod write;

use doc::Doc;
use plan::{Collection, Plan};

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
    let declared = plan::declared_collections(doc);
    let pairs = pair::find_pairs(doc);
    let reader = Doc::new(doc);
    let mut planned: Vec<Plan> = Vec::new();
    // A path is one side of one pair only (a detail that is also another pair's list keeps
    // its first role).
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for pair in &pairs {
        if used.contains(pair.list_path.as_str()) || used.contains(pair.detail_path.as_str()) {
            continue;
        }
        if let Some(p) = plan::plan_pair(&reader, pair, &declared) {
            used.insert(&pair.list_path);
            used.insert(&pair.detail_path);
            planned.push(p);
        }
    }
    let names = pair::assign_names(&planned, &declared);
    let mut out = Inferred::default();
    for (plan, name) in planned.into_iter().zip(names) {
        let collection = match plan.collection {
            Collection::Declared(c) => c,
            Collection::New { value } => {
                out.collections.insert(name.clone(), value);
                name
            }
        };
        let reads = [
            (plan.list_path, "get".to_string(), plan.list_ext),
            (plan.detail_path, "get".to_string(), plan.detail_ext),
        ];
        let writes = plan.writes.into_iter().map(|(p, m, x)| (p, m, Some(x)));
        for (path, method, ext) in reads.into_iter().chain(writes) {
            if let Some(mut x) = ext {
                x.insert("collection".into(), Value::String(collection.clone()));
                out.operations.push((path, method, reorder(x)));
            }
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
