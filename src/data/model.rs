//! A collection's model: the merged entity schema and its field generators, built from the
//! spec's `x-understudy.collections` entry and checked at load.

use std::collections::HashMap;

use serde_json::Value;

use super::generator::{self, FieldGen};
use crate::error::{Error, Result};
use crate::spec::ext::CollectionExt;
use crate::spec::schema::{Compiler, Node, merge};

/// What a collection's entities look like and how each field is generated.
#[derive(Debug)]
pub struct CollectionModel {
    pub api: String,
    pub name: String,
    pub node: Node,
    pub fields: HashMap<String, FieldGen>,
    pub key: String,
    pub order_key: String,
    pub count: u64,
    /// The component schemas the entity merges (for validation).
    pub schemas: Vec<String>,
}

impl CollectionModel {
    /// Build and check a model; errors name the spec file and location.
    pub fn build(
        api: &str,
        file: &str,
        name: &str,
        ext: &CollectionExt,
        compiler: &Compiler,
    ) -> Result<Self> {
        let loc = format!("x-understudy.collections.{name}");
        let mut node: Option<Node> = None;
        if ext.schemas.is_empty() {
            return Err(Error::spec(
                file,
                format!("{loc}.schemas"),
                "lists no schema",
            ));
        }
        for s in &ext.schemas {
            let n = compiler
                .component(s)
                .map_err(|e| Error::spec(file, format!("{loc}.schemas"), e.to_string()))?;
            node = Some(match node {
                None => n,
                Some(m) => merge(m, n),
            });
        }
        let node = node.ok_or_else(|| Error::spec(file, &loc, "no schema"))?;
        let mut fields = HashMap::new();
        for (path, g) in &ext.fields {
            let at = format!("{loc}.fields.{path}");
            if node.at_path(path).is_none() {
                return Err(Error::spec(
                    file,
                    at,
                    "no such field in the collection's schemas",
                ));
            }
            let fg = generator::parse(g).map_err(|e| Error::spec(file, &at, e))?;
            fields.insert(path.clone(), fg);
        }
        let order_key = ext.order_key.as_ref().unwrap_or(&ext.key);
        for (path, key) in [("key", &ext.key), ("order-key", order_key)] {
            if node.at_path(key).is_none() {
                return Err(Error::spec(
                    file,
                    format!("{loc}.{path}"),
                    format!("'{key}' is not a field of the collection"),
                ));
            }
        }
        let model = CollectionModel {
            api: api.to_string(),
            name: name.to_string(),
            node,
            fields,
            key: ext.key.clone(),
            order_key: ext.order_key.clone().unwrap_or_else(|| ext.key.clone()),
            count: ext.count,
            schemas: ext.schemas.clone(),
        };
        model.check_refs(file, &loc)?;
        Ok(model)
    }

    /// Every reference names a field, and references form no cycle.
    fn check_refs(&self, file: &str, loc: &str) -> Result<()> {
        let mut graph: HashMap<&str, Vec<String>> = HashMap::new();
        for (path, g) in &self.fields {
            let mut refs = Vec::new();
            g.refs(&mut refs);
            for r in &refs {
                if self.node.at_path(r).is_none() {
                    return Err(Error::spec(
                        file,
                        format!("{loc}.fields.{path}"),
                        format!("refers to '{r}', which is not a field"),
                    ));
                }
            }
            graph.insert(path.as_str(), refs);
        }
        // Depth-first search for a cycle among generator references.
        fn visit<'a>(
            n: &'a str,
            graph: &'a HashMap<&'a str, Vec<String>>,
            state: &mut HashMap<&'a str, u8>,
            stack: &mut Vec<&'a str>,
        ) -> Option<Vec<String>> {
            match state.get(n) {
                Some(1) => {
                    let start = stack.iter().position(|s| *s == n).unwrap_or(0);
                    let mut cyc: Vec<String> =
                        stack[start..].iter().map(|s| s.to_string()).collect();
                    cyc.push(n.to_string());
                    return Some(cyc);
                }
                Some(_) => return None,
                None => {}
            }
            state.insert(n, 1);
            stack.push(n);
            if let Some(refs) = graph.get(n) {
                for r in refs {
                    if let Some((k, _)) = graph.get_key_value(r.as_str())
                        && let Some(c) = visit(k, graph, state, stack)
                    {
                        return Some(c);
                    }
                }
            }
            stack.pop();
            state.insert(n, 2);
            None
        }
        let mut state = HashMap::new();
        let mut keys: Vec<&str> = graph.keys().copied().collect();
        keys.sort_unstable();
        for k in keys {
            if let Some(cycle) = visit(k, &graph, &mut state, &mut Vec::new()) {
                return Err(Error::spec(
                    file,
                    format!("{loc}.fields.{k}"),
                    format!("references form a cycle: {}", cycle.join(" -> ")),
                ));
            }
        }
        Ok(())
    }

    /// The value an entity's key field holds, as text (keys are compared as strings).
    pub fn key_text(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}
