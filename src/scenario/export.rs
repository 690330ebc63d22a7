//! A session's changes to one collection written back as a scenario file that replays them:
//! one immediate step that updates the dataset's entities it changed (their final values,
//! fields it removed omitted), creates the entities it added in the order it added them (so
//! they take the same positions), and deletes what it deleted. Started in a fresh session, the
//! scenario gives that session the same data, so every read answers the same bytes: a state
//! reached by hand becomes a fixture.

use serde_json::{Map, Value, json};

use super::session::Session;
use crate::data::{Collection, Entity};

/// The scenario (as a YAML document) that replays what `session` did to collection `cname`
/// of API `api`; `None` when it changed nothing there.
pub fn export(
    session: &Session,
    api: &str,
    cname: &str,
    coll: &Collection,
    seed: u64,
) -> Option<String> {
    let overlay = session.overlay(api, cname)?;
    let base_len = coll.len();
    let mut update = Vec::new();
    let (updated, created, deleted_n) = overlay.counts();
    for (i, v) in overlay.changed() {
        if overlay.deleted.contains(&i) {
            continue;
        }
        update.push(json!({
            "entity": coll.key(i),
            "set": sets(&coll.entity(i), &v),
        }));
    }
    let mut create = Vec::new();
    let mut delete: Vec<Value> = Vec::new();
    for (j, v) in overlay.added().enumerate() {
        let index = (base_len + j) as u64;
        let generated = Entity::new(&coll.model, seed, index).full();
        let name = format!("created{j}");
        create.push(json!({"as": name, "set": sets(&generated, &v)}));
        if overlay.deleted.contains(&(index as u32)) {
            delete.push(json!({ "var": name }));
        }
    }
    let mut deleted: Vec<u32> = overlay
        .deleted
        .iter()
        .copied()
        .filter(|i| (*i as usize) < base_len)
        .collect();
    deleted.sort_unstable();
    delete.extend(
        deleted
            .into_iter()
            .map(|i| Value::String(coll.key(i).to_string())),
    );
    let mut step = Map::new();
    step.insert("name".into(), json!("replay"));
    for (k, v) in [("update", update), ("create", create), ("delete", delete)] {
        if !v.is_empty() {
            step.insert(k.into(), Value::Array(v));
        }
    }
    let doc = json!({
        "api": api,
        "collection": cname,
        "description": format!(
            "What session '{}' did to {api}'s {cname}, exported to replay in another session.",
            session.id
        ),
        "steps": [Value::Object(step)],
    });
    let yaml = serde_yaml::to_string(&doc).ok()?;
    Some(format!(
        "# Exported by understudy from session '{}' ({} updated, {} created, {} deleted).\n{yaml}",
        session.id, updated, created, deleted_n
    ))
}

/// The top-level field assignments that turn `from` into `to`: changed fields as literals,
/// removed ones omitted.
fn sets(from: &Value, to: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    let (Value::Object(a), Value::Object(b)) = (from, to) else {
        return out;
    };
    for (k, v) in b {
        if a.get(k) != Some(v) {
            out.insert(k.clone(), json!({ "literal": v }));
        }
    }
    for k in a.keys() {
        if !b.contains_key(k) {
            out.insert(k.clone(), json!({"omit": true}));
        }
    }
    out
}
