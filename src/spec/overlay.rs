//! OpenAPI Overlay Specification 1.0: documents of `actions` (a JSONPath `target`, then an
//! `update` merged into each node it selects, or `remove: true`) applied to a description at
//! load, so that `x-understudy` annotations and fixes live beside an untouched vendor file.
//! `NAME.overlay.yaml` (or `.yml`, `.json`) beside `NAME.yaml` applies to it; `--overlay FILE`
//! to every spec loaded from the command line.

use std::path::{Path, PathBuf};

use serde_json::Value;
use serde_json_path::JsonPath;

use crate::error::{Error, Result};

/// File endings of overlays (`NAME.overlay.yaml`).
pub const OVERLAY_EXTS: &[&str] = &[".overlay.yaml", ".overlay.yml", ".overlay.json"];

/// Whether `path` names an overlay rather than a description.
pub fn is_overlay(path: &Path) -> bool {
    let name = path.to_string_lossy();
    OVERLAY_EXTS.iter().any(|e| name.ends_with(e))
}

/// The overlay beside a description (`specs/x.yaml` -> `specs/x.overlay.yaml`), if present.
pub fn beside(spec: &Path) -> Option<PathBuf> {
    let stem = spec.file_stem()?.to_string_lossy().to_string();
    let dir = spec.parent().unwrap_or(Path::new("."));
    OVERLAY_EXTS
        .iter()
        .map(|e| dir.join(format!("{stem}{e}")))
        .find(|p| p.is_file())
}

/// An overlay read from a file, checked: its `overlay` version and each action's target.
pub struct Overlay {
    file: String,
    actions: Vec<Action>,
}

struct Action {
    at: String,
    target: JsonPath,
    change: Change,
}

enum Change {
    Update(Value),
    Remove,
}

impl Overlay {
    /// Read and check an overlay file.
    pub fn load(path: &Path) -> Result<Overlay> {
        let file = path.to_string_lossy().to_string();
        let doc = super::parse_yaml(&file, &crate::files::read(path)?)?;
        Overlay::parse(&file, &doc)
    }

    /// Check a parsed overlay; every problem names the file and the action.
    pub fn parse(file: &str, doc: &Value) -> Result<Overlay> {
        match doc.get("overlay").and_then(Value::as_str) {
            Some(v) if v.starts_with("1.") => {}
            other => {
                return Err(Error::spec(
                    file,
                    "overlay",
                    format!(
                        "not an Overlay 1.x document (the `overlay` field is {})",
                        other.map_or_else(|| "missing".to_string(), |v| format!("'{v}'"))
                    ),
                ));
            }
        }
        let list = doc
            .get("actions")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::spec(file, "actions", "an overlay needs a list of actions"))?;
        let mut actions = Vec::new();
        let mut problems = Vec::new();
        for (i, a) in list.iter().enumerate() {
            let at = format!("actions[{i}]");
            let target = match a.get("target").and_then(Value::as_str) {
                Some(t) => match JsonPath::parse(t) {
                    Ok(p) => p,
                    Err(e) => {
                        problems.push(Error::spec(
                            file,
                            format!("{at}.target"),
                            format!("not a JSONPath expression (RFC 9535): {e}"),
                        ));
                        continue;
                    }
                },
                None => {
                    problems.push(Error::spec(file, &at, "an action needs a target"));
                    continue;
                }
            };
            let change = match (a.get("remove"), a.get("update")) {
                (Some(Value::Bool(true)), _) => Change::Remove,
                (_, Some(u)) => Change::Update(u.clone()),
                _ => {
                    problems.push(Error::spec(
                        file,
                        &at,
                        "an action needs an update or remove: true",
                    ));
                    continue;
                }
            };
            actions.push(Action { at, target, change });
        }
        if !problems.is_empty() {
            return Err(Error::many(problems));
        }
        Ok(Overlay {
            file: file.to_string(),
            actions,
        })
    }

    /// Apply the actions in order to `doc`; an action whose target selects nothing is logged
    /// (the Overlay specification makes it no error).
    pub fn apply(&self, doc: &mut Value) {
        for a in &self.actions {
            let pointers: Vec<String> = a
                .target
                .query_located(doc)
                .locations()
                .map(|l| l.to_json_pointer())
                .collect();
            if pointers.is_empty() {
                tracing::warn!(
                    "{}: {}: the target {} selects nothing",
                    self.file,
                    a.at,
                    a.target
                );
            }
            match &a.change {
                Change::Update(u) => {
                    for p in &pointers {
                        if let Some(node) = doc.pointer_mut(p) {
                            merge(node, u);
                        }
                    }
                }
                // Last first, so that the indices of earlier array elements still hold.
                Change::Remove => {
                    for p in pointers.iter().rev() {
                        remove(doc, p);
                    }
                }
            }
        }
    }
}

/// The Overlay merge: an object update's properties are merged into an object (recursively;
/// arrays in both are concatenated), an update to an array is appended to it, and anything else
/// replaces the target.
fn merge(target: &mut Value, update: &Value) {
    match (target, update) {
        (Value::Object(t), Value::Object(u)) => {
            for (k, v) in u {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() || existing.is_array() => {
                        merge(existing, v)
                    }
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(t), Value::Array(u)) => t.extend(u.iter().cloned()),
        (Value::Array(t), u) => t.push(u.clone()),
        (t, u) => *t = u.clone(),
    }
}

/// Remove the node at a JSON pointer from its parent.
fn remove(doc: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = super::schema::unescape(last);
    match doc.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.shift_remove(&key);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = key.parse::<usize>()
                && i < a.len()
            {
                a.remove(i);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn updates_merge_and_removals_remove() {
        let mut doc = json!({
            "paths": {
                "/a": {"get": {"tags": ["x"], "summary": "old"}},
                "/b": {"get": {"tags": ["y"]}, "delete": {}}
            }
        });
        let o = Overlay::parse(
            "o.yaml",
            &json!({"overlay": "1.0.0", "info": {"title": "t", "version": "1"}, "actions": [
                {"target": "$.paths['/a'].get", "update": {"summary": "new", "tags": ["z"], "x-understudy": {"k": 1}}},
                {"target": "$.paths.*.delete", "remove": true},
                {"target": "$.paths['/nowhere']", "update": {"a": 1}}
            ]}),
        )
        .unwrap();
        o.apply(&mut doc);
        assert_eq!(doc["paths"]["/a"]["get"]["summary"], "new");
        assert_eq!(doc["paths"]["/a"]["get"]["tags"], json!(["x", "z"]));
        assert_eq!(doc["paths"]["/a"]["get"]["x-understudy"]["k"], 1);
        assert!(doc["paths"]["/b"].get("delete").is_none());
    }

    #[test]
    fn every_bad_action_is_reported() {
        let e = Overlay::parse(
            "o.yaml",
            &json!({"overlay": "1.0.0", "actions": [
                {"target": "$[", "update": {}},
                {"update": {}},
                {"target": "$.a"}
            ]}),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert_eq!(e.lines().count(), 3, "{e}");
        assert!(Overlay::parse("o", &json!({"openapi": "3.1.0"})).is_err());
    }
}
