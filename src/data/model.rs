//! A collection's model: the merged entity schema and its field generators, built from the
//! spec's `x-understudy.collections` entry and checked at load.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

use super::generator::{self, FieldGen};
use crate::error::{Error, Result};
use crate::spec::ext::CollectionExt;
use crate::spec::schema::{Compiler, Kind, Node};

/// What a collection's entities look like and how each field is generated.
#[derive(Debug)]
pub struct CollectionModel {
    pub api: String,
    pub name: String,
    pub node: Node,
    pub fields: super::FastMap<String, FieldGen>,
    /// The field paths entities are asked for by name, resolved once from `node` and `fields`
    /// (which do not change after the model is built).
    pub(crate) slots: Slots,
    pub key: String,
    pub order_key: String,
    pub count: u64,
    /// The component schemas the entity merges (for validation).
    pub schemas: Vec<String>,
    /// A static collection's fixed entities (`rows`), in order.
    pub rows: Option<Vec<Value>>,
}

/// Every field path that a generator of `fields` reads, sorted, once each.
fn referenced(fields: &super::FastMap<String, FieldGen>) -> Vec<String> {
    let mut out = Vec::new();
    for g in fields.values() {
        g.refs(&mut out);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The field paths entities are asked for by name (the top-level fields, the paths with a
/// generator and the paths generators read), each resolved once at load: asking an entity for
/// one is a single lookup rather than a walk of the schema and three lookups by path.
#[derive(Debug, Default)]
pub(crate) struct Slots {
    by_path: super::FastMap<String, Slot>,
}

/// One path of [`Slots`]. Its node and generator are copies of the model's (generators are
/// small: a static collection's values for `member-of` are its few rows).
#[derive(Debug)]
pub(crate) struct Slot {
    /// Its schema node (`None`: the path names no field).
    pub(crate) node: Option<Node>,
    /// Its generator, if one is declared.
    pub(crate) generator: Option<FieldGen>,
    /// For the paths some generator reads (`same-as`, `{ref:..}`, `$field` arguments, `if`
    /// conditions), the only ones an entity keeps once computed: a number of its own, which
    /// the entity keeps the value under.
    pub(crate) keep_as: Option<usize>,
}

impl Slots {
    pub(crate) fn new(node: &Node, fields: &super::FastMap<String, FieldGen>) -> Slots {
        let mut by_path = super::FastMap::default();
        let mut slot = |path: &str, keep_as: Option<usize>| {
            let s = by_path.entry(path.to_string()).or_insert_with(|| Slot {
                node: node.at_path(path).cloned(),
                generator: fields.get(path).cloned(),
                keep_as: None,
            });
            s.keep_as = s.keep_as.or(keep_as);
        };
        let read = referenced(fields);
        for (k, path) in read.iter().enumerate() {
            slot(path, Some(k));
        }
        for path in fields.keys() {
            slot(path, None);
        }
        if let Kind::Object { props, .. } = &*node.kind {
            for (name, _) in props {
                slot(name, None);
            }
        }
        Slots { by_path }
    }

    /// The slot of `path`, if it has one.
    pub(crate) fn get(&self, path: &str) -> Option<&Slot> {
        self.by_path.get(path)
    }
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
            slots: Slots::new(&node, &fields),
            node,
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
            slots: Slots::new(&node, &fields),
            node,
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
        let node = c.compile(schema, "x").expect("a test schema");
        CollectionModel {
            api: "t".into(),
            name: "c".into(),
            slots: Slots::new(&node, &fields),
            node,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slots_resolve_fields_generators_and_the_paths_kept() {
        let m = CollectionModel::for_tests(
            &json!({"type": "object", "properties": {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "llm": {"type": "object", "properties": {"model": {"type": "string"}}},
                "alias": {"type": "string"},
                "stray": {"type": "string"}
            }}),
            &json!({
                "alias": {"same-as": "llm.model"},
                "stray": {"same-as": "nope.deep"},
                "llm.model": {"one-of": ["a", "b"]},
                "name": {"template": "{ref:id}-x"}
            }),
            3,
        );
        let s = &m.slots;
        let model = s.get("llm.model").expect("a generated nested path");
        assert!(model.keep_as.is_some() && model.generator.is_some() && model.node.is_some());
        let id = s.get("id").expect("a field generators read");
        assert!(id.keep_as.is_some() && id.generator.is_none());
        assert_ne!(model.keep_as, id.keep_as);
        let alias = s.get("alias").expect("a generated field");
        assert!(alias.keep_as.is_none() && alias.generator.is_some());
        let llm = s.get("llm").expect("every top-level field");
        assert!(llm.keep_as.is_none() && llm.generator.is_none() && llm.node.is_some());
        assert!(s.get("llm.other").is_none() && s.get("nope").is_none());
        // A path read that names no field (refused at load in a spec) is kept as absent.
        let nope = s.get("nope.deep").expect("a path generators read");
        assert!(nope.keep_as.is_some() && nope.node.is_none());
        // Entities read through the slots: the alias is the model it copies.
        let e = crate::data::entity::Entity::new(&m, 7, 1);
        assert_eq!(e.field("alias"), e.field("llm.model"));
        assert!(e.field("alias").is_some());
        assert_eq!(e.field("stray"), None);
        assert_eq!(
            e.field("name").and_then(|v| v.as_str().map(str::to_owned)),
            e.field("id")
                .and_then(|v| v.as_str().map(|id| format!("{id}-x")))
        );
    }
}
