//! A collection's model: the merged entity schema and its field generators, built from the
//! spec's `x-understudy.collections` entry and checked at load.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

use super::generator::{self, FieldGen};
use crate::error::{Error, Result};
use crate::spec::ext::CollectionExt;
use crate::spec::schema::{Compiler, Node};

/// What a collection's entities look like and how each field is generated.
#[derive(Debug)]
pub struct CollectionModel {
    pub api: String,
    pub name: String,
    pub node: Node,
    pub fields: super::FastMap<String, FieldGen>,
    /// The field paths some generator reads (`same-as`, `{ref:..}`, `$field` arguments,
    /// `if` conditions): the only ones an entity being generated keeps once computed.
    pub referenced: super::FastSet<String>,
    pub key: String,
    pub order_key: String,
    pub count: u64,
    /// The component schemas the entity merges (for validation).
    pub schemas: Vec<String>,
    /// A static collection's fixed entities (`rows`), in order.
    pub rows: Option<Vec<Value>>,
}

/// Every field path that a generator of `fields` reads.
pub fn referenced(fields: &super::FastMap<String, FieldGen>) -> super::FastSet<String> {
    let mut out = Vec::new();
    for g in fields.values() {
        g.refs(&mut out);
    }
    out.into_iter().collect()
}

/// Models built so far, for `member-of` references to static collections.
pub type Models = BTreeMap<String, Arc<CollectionModel>>;

impl CollectionModel {
    /// Build and check a model; errors name the spec file and location.
    pub fn build(
        api: &str,
        file: &str,
        name: &str,
        ext: &CollectionExt,
        compiler: &Compiler,
        built: &Models,
    ) -> Result<Self> {
        let loc = format!("x-understudy.collections.{name}");
        let count = match (&ext.rows, ext.count) {
            (Some(rows), None) => rows.len() as u64,
            (None, Some(n)) => n,
            (Some(_), Some(_)) => {
                return Err(Error::spec(
                    file,
                    format!("{loc}.count"),
                    "a collection with rows has as many entities as rows: drop count",
                ));
            }
            (None, None) => {
                return Err(Error::spec(file, &loc, "needs count (or rows)"));
            }
        };
        let node = compiler.merged(&ext.schemas, &format!("{loc}.schemas"))?;
        if ext.rows.is_some() && !ext.fields.is_empty() {
            return Err(Error::spec(
                file,
                format!("{loc}.fields"),
                "a collection with rows takes its values from the rows, not from generators",
            ));
        }
        if let Some(rows) = &ext.rows {
            let mut keys = std::collections::HashSet::new();
            for (i, row) in rows.iter().enumerate() {
                let at = format!("{loc}.rows[{i}]");
                if !row.is_object() {
                    return Err(Error::spec(file, at, "a row is an object"));
                }
                let key = super::path::extract(row, &ext.key);
                if key.is_null() {
                    return Err(Error::spec(
                        file,
                        at,
                        format!("the row has no key field '{}'", ext.key),
                    ));
                }
                if !keys.insert(Self::key_text(&key)) {
                    return Err(Error::spec(
                        file,
                        at,
                        format!("another row has the key {key} already"),
                    ));
                }
            }
        }
        let fields = parse_fields(file, &loc, &node, &ext.fields, built)?;
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
            referenced: referenced(&fields),
            fields,
            key: ext.key.clone(),
            order_key: ext.order_key.clone().unwrap_or_else(|| ext.key.clone()),
            count,
            schemas: ext.schemas.clone(),
            rows: ext.rows.clone(),
        };
        model.check_refs(file, &loc)?;
        Ok(model)
    }

    /// A model for one generated body (an operation's `respond` answer): `node` with the
    /// generators `fields`, at location `loc` for messages.
    pub fn for_body(
        file: &str,
        loc: &str,
        name: &str,
        node: Node,
        fields: &BTreeMap<String, Value>,
        built: &Models,
    ) -> Result<Self> {
        let fields = parse_fields(file, loc, &node, fields, built)?;
        let model = CollectionModel {
            // The API is named after its file, as every model of it is.
            api: crate::spec::api_name(file),
            name: name.to_string(),
            node,
            referenced: referenced(&fields),
            fields,
            key: String::new(),
            order_key: String::new(),
            count: 0,
            schemas: Vec::new(),
            rows: None,
        };
        model.check_refs(file, loc)?;
        Ok(model)
    }

    /// Whether the collection is a fixed list of rows (never scaled by `--count`).
    pub fn is_static(&self) -> bool {
        self.rows.is_some()
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

    /// The distinct values of `field` over a static collection's rows, in row order.
    pub fn row_values(&self, field: &str) -> Option<Vec<Value>> {
        let rows = self.rows.as_ref()?;
        let mut out: Vec<Value> = Vec::new();
        for r in rows {
            let v = super::path::extract(r, field);
            if !v.is_null() && !out.contains(&v) {
                out.push(v);
            }
        }
        Some(out)
    }

    /// The value an entity's key field holds, as text (keys are compared as strings).
    pub fn key_text(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// Models for unit tests.
#[cfg(test)]
impl CollectionModel {
    /// A collection `t/c` of `count` entities of `schema` (OpenAPI 3.0), keyed and ordered by
    /// `id`, with the generators `fields` (path -> generator).
    pub(crate) fn for_tests(schema: &Value, fields: &Value, count: u64) -> CollectionModel {
        let doc = Value::Null;
        let c = Compiler::new("t", &doc, crate::spec::schema::Dialect::V30);
        let fields = fields
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), generator::parse(v).expect("a test generator")))
            .collect();
        CollectionModel {
            api: "t".into(),
            name: "c".into(),
            node: c.compile(schema, "x").expect("a test schema"),
            referenced: referenced(&fields),
            fields,
            key: "id".into(),
            order_key: "id".into(),
            count,
            schemas: Vec::new(),
            rows: None,
        }
    }
}

/// Parse the generators of `fields` (paths into `node`), resolving `member-of` against the
/// static collections in `built`.
fn parse_fields(
    file: &str,
    loc: &str,
    node: &Node,
    fields: &BTreeMap<String, Value>,
    built: &Models,
) -> Result<super::FastMap<String, FieldGen>> {
    let members = |collection: &str, field: &str| -> std::result::Result<Vec<Value>, String> {
        built
            .get(collection)
            .and_then(|m| m.row_values(field))
            .ok_or_else(|| {
                format!(
                    "member-of {collection}.{field}: '{collection}' is not a static collection \
                     (one with rows)"
                )
            })
    };
    let mut out = super::FastMap::default();
    for (path, g) in fields {
        let at = format!("{loc}.fields.{path}");
        let Some(field) = node.at_path(path) else {
            return Err(Error::spec(file, at, "no such field in the schema"));
        };
        let mut fg = generator::parse(g).map_err(|e| Error::spec(file, &at, e))?;
        fg.resolve_members(&members)
            .map_err(|e| Error::spec(file, &at, e))?;
        fg.order_like(field);
        out.insert(path.clone(), fg);
    }
    Ok(out)
}
