//! Compiled schemas: OpenAPI 3.0 schema objects with `$ref`s resolved and `allOf` merged into a
//! small tree ([`Node`]) that data generation and response projection walk.
//!
//! Compilation happens once, when a spec loads; nothing on the request path looks at raw YAML.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// How deep `$ref` chains may nest before a schema is treated as "any" (recursive schemas).
const MAX_DEPTH: usize = 24;

/// A compiled schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub nullable: bool,
    /// The schema's `enum`, if any (for any kind).
    pub enumeration: Option<Vec<Value>>,
}

/// The shape of a compiled schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Object {
        props: Vec<(String, Node)>,
        required: Vec<String>,
        /// Free-form: no declared properties, or `additionalProperties` allowed and meant.
        free_form: bool,
    },
    Array {
        items: Box<Node>,
        min_items: Option<u64>,
        max_items: Option<u64>,
    },
    String {
        format: Option<String>,
        min_length: Option<u64>,
        max_length: Option<u64>,
    },
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    Number {
        min: Option<f64>,
        max: Option<f64>,
    },
    Boolean,
    OneOf(Vec<Node>),
    Any,
}

impl Node {
    fn any() -> Node {
        Node {
            kind: Kind::Any,
            nullable: false,
            enumeration: None,
        }
    }

    /// The property `name` of an object node.
    pub fn prop(&self, name: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Object { props, .. } => props.iter().find(|(k, _)| k == name).map(|(_, n)| n),
            _ => None,
        }
    }

    /// The node at a JSON pointer into a value of this schema (`/items/0`: an array's items for
    /// any index segment).
    pub fn at_pointer(&self, pointer: &str) -> Option<&Node> {
        let mut cur = self;
        for seg in pointer.split('/').skip(1) {
            cur = match &cur.kind {
                Kind::Object { .. } => cur.prop(seg)?,
                Kind::Array { items, .. } => items,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// The node at a dotted path (`a.b`, `tools[].name`), walking objects and array items.
    pub fn at_path(&self, path: &str) -> Option<&Node> {
        let mut node = self;
        for seg in path.split('.') {
            let (name, each) = match seg.strip_suffix("[]") {
                Some(n) => (n, true),
                None => (seg, false),
            };
            node = node.prop(name)?;
            if each {
                node = match &node.kind {
                    Kind::Array { items, .. } => items,
                    _ => return None,
                };
            }
        }
        Some(node)
    }

    /// Whether `required` lists `name` (objects only).
    pub fn requires(&self, name: &str) -> bool {
        matches!(&self.kind, Kind::Object { required, .. } if required.iter().any(|r| r == name))
    }
}

/// Compiles schemas of one document; `components` is `#/components/schemas`.
pub struct Compiler<'a> {
    pub file: &'a str,
    pub components: &'a Map<String, Value>,
}

impl Compiler<'_> {
    /// Compile the schema at `location` (used in error messages).
    pub fn compile(&self, schema: &Value, location: &str) -> Result<Node> {
        self.compile_at(schema, location, 0)
    }

    /// Compile a component schema by name.
    /// The component schemas `names` compiled and merged into one node (an entity that several
    /// schemas describe); `location` names the list in errors.
    pub fn merged(&self, names: &[String], location: &str) -> Result<Node> {
        let mut node: Option<Node> = None;
        for name in names {
            let n = self
                .component(name)
                .map_err(|e| Error::spec(self.file, location, e.to_string()))?;
            node = Some(match node {
                None => n,
                Some(m) => merge(m, n),
            });
        }
        node.ok_or_else(|| Error::spec(self.file, location, "lists no schema"))
    }

    pub fn component(&self, name: &str) -> Result<Node> {
        let schema = self.components.get(name).ok_or_else(|| {
            Error::spec(
                self.file,
                "components.schemas",
                format!("no component schema named '{name}'"),
            )
        })?;
        self.compile(schema, &format!("components.schemas.{name}"))
    }

    /// Resolve a `$ref` to its target schema.
    pub fn resolve<'v>(&'v self, reference: &str, location: &str) -> Result<&'v Value> {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .ok_or_else(|| {
                Error::spec(
                    self.file,
                    location,
                    format!("unsupported $ref '{reference}' (only #/components/schemas/...)"),
                )
            })?;
        self.components.get(name).ok_or_else(|| {
            Error::spec(
                self.file,
                location,
                format!("$ref '{reference}' points to no component"),
            )
        })
    }

    fn compile_at(&self, schema: &Value, location: &str, depth: usize) -> Result<Node> {
        if depth > MAX_DEPTH {
            return Ok(Node::any());
        }
        let Some(obj) = schema.as_object() else {
            if schema == &Value::Bool(true) || schema.is_null() {
                return Ok(Node::any());
            }
            return Err(Error::spec(self.file, location, "schema is not an object"));
        };
        if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
            let target = self.resolve(r, location)?;
            return self.compile_at(target, &format!("{location}.$ref"), depth + 1);
        }
        let nullable = obj
            .get("nullable")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let enumeration = obj.get("enum").and_then(Value::as_array).cloned();
        if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
            let mut merged: Option<Node> = None;
            for (i, part) in all.iter().enumerate() {
                let n = self.compile_at(part, &format!("{location}.allOf[{i}]"), depth + 1)?;
                merged = Some(match merged {
                    None => n,
                    Some(m) => merge(m, n),
                });
            }
            // Sibling keywords (properties next to allOf) merge in too.
            let mut rest = obj.clone();
            rest.remove("allOf");
            rest.remove("nullable");
            let mut node = merged.unwrap_or_else(Node::any);
            if rest.contains_key("properties") || rest.contains_key("type") {
                let sib = self.compile_at(&Value::Object(rest), location, depth + 1)?;
                node = merge(node, sib);
            }
            node.nullable = nullable || node.nullable;
            if enumeration.is_some() {
                node.enumeration = enumeration;
            }
            return Ok(node);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(alts) = obj.get(key).and_then(Value::as_array) {
                let mut nodes = Vec::with_capacity(alts.len());
                for (i, alt) in alts.iter().enumerate() {
                    nodes.push(self.compile_at(
                        alt,
                        &format!("{location}.{key}[{i}]"),
                        depth + 1,
                    )?);
                }
                return Ok(Node {
                    kind: Kind::OneOf(nodes),
                    nullable,
                    enumeration,
                });
            }
        }
        let ty = obj.get("type").and_then(Value::as_str);
        let kind = match ty {
            Some("object") | None if obj.contains_key("properties") || ty.is_some() => {
                self.object(obj, location, depth)?
            }
            Some("array") => {
                let items = match obj.get("items") {
                    Some(i) => self.compile_at(i, &format!("{location}.items"), depth + 1)?,
                    None => Node::any(),
                };
                Kind::Array {
                    items: Box::new(items),
                    min_items: obj.get("minItems").and_then(Value::as_u64),
                    max_items: obj.get("maxItems").and_then(Value::as_u64),
                }
            }
            Some("string") => Kind::String {
                format: obj
                    .get("format")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                min_length: obj.get("minLength").and_then(Value::as_u64),
                max_length: obj.get("maxLength").and_then(Value::as_u64),
            },
            Some("integer") => Kind::Integer {
                min: obj.get("minimum").and_then(Value::as_i64),
                max: obj.get("maximum").and_then(Value::as_i64),
            },
            Some("number") => Kind::Number {
                min: obj.get("minimum").and_then(Value::as_f64),
                max: obj.get("maximum").and_then(Value::as_f64),
            },
            Some("boolean") => Kind::Boolean,
            Some(other) => {
                return Err(Error::spec(
                    self.file,
                    location,
                    format!("unknown schema type '{other}'"),
                ));
            }
            None => Kind::Any,
        };
        Ok(Node {
            kind,
            nullable,
            enumeration,
        })
    }

    fn object(&self, obj: &Map<String, Value>, location: &str, depth: usize) -> Result<Kind> {
        let mut props = Vec::new();
        if let Some(p) = obj.get("properties").and_then(Value::as_object) {
            for (name, s) in p {
                let n = self.compile_at(s, &format!("{location}.properties.{name}"), depth + 1)?;
                props.push((name.clone(), n));
            }
        }
        let required = obj
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let additional = match obj.get("additionalProperties") {
            Some(Value::Bool(b)) => *b,
            Some(Value::Object(_)) => true,
            _ => false,
        };
        Ok(Kind::Object {
            free_form: props.is_empty() || additional,
            props,
            required,
        })
    }
}

/// Merge two compiled schemas: object properties are united (recursively for a property both
/// declare); for anything else the first wins.
pub fn merge(a: Node, b: Node) -> Node {
    match (a.kind, b.kind) {
        (
            Kind::Object {
                props: mut pa,
                required: mut ra,
                free_form: fa,
            },
            Kind::Object {
                props: pb,
                required: rb,
                free_form: fb,
            },
        ) => {
            for (name, nb) in pb {
                if let Some(pos) = pa.iter().position(|(k, _)| *k == name) {
                    let (k, na) = pa.remove(pos);
                    pa.insert(pos, (k, merge(na, nb)));
                } else {
                    pa.push((name, nb));
                }
            }
            for r in rb {
                if !ra.contains(&r) {
                    ra.push(r);
                }
            }
            let free_form = (fa && fb) || pa.is_empty();
            Node {
                kind: Kind::Object {
                    props: pa,
                    required: ra,
                    free_form,
                },
                nullable: a.nullable || b.nullable,
                enumeration: a.enumeration.or(b.enumeration),
            }
        }
        (Kind::Any, kb) => Node {
            kind: kb,
            nullable: a.nullable || b.nullable,
            enumeration: a.enumeration.or(b.enumeration),
        },
        (ka, _) => Node {
            kind: ka,
            nullable: a.nullable,
            enumeration: a.enumeration,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compiler(components: &Map<String, Value>) -> Compiler<'_> {
        Compiler {
            file: "t.yaml",
            components,
        }
    }

    #[test]
    fn resolves_refs_and_merges_all_of() {
        let comps = json!({
            "Rev": {"type": "object", "properties": {"phase": {"type": "string", "enum": ["A", "B"]}}}
        });
        let comps = comps.as_object().unwrap();
        let c = compiler(comps);
        let n = c
            .compile(
                &json!({"type": "object", "properties": {
                    "cur": {"nullable": true, "allOf": [{"$ref": "#/components/schemas/Rev"}]}
                }}),
                "x",
            )
            .unwrap();
        let cur = n.prop("cur").unwrap();
        assert!(cur.nullable);
        let phase = n.at_path("cur.phase").unwrap();
        assert_eq!(phase.enumeration.as_ref().unwrap().len(), 2);
    }

    #[test]
    fn bad_ref_names_location() {
        let comps = Map::new();
        let c = compiler(&comps);
        let err = c
            .compile(&json!({"$ref": "#/components/schemas/Nope"}), "paths./a")
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.yaml") && err.contains("paths./a") && err.contains("Nope"));
    }

    #[test]
    fn merge_unites_nested_properties() {
        let comps = Map::new();
        let c = compiler(&comps);
        let a = c
            .compile(
                &json!({"type": "object", "properties": {"d": {"type": "object", "properties": {"id": {"type": "string"}, "m": {"type": "object"}}}}}),
                "a",
            )
            .unwrap();
        let b = c
            .compile(
                &json!({"type": "object", "properties": {"d": {"type": "object", "properties": {"m": {"type": "object", "properties": {"k": {"type": "string"}}}}}, "e": {"type": "integer"}}}),
                "b",
            )
            .unwrap();
        let m = merge(a, b);
        assert!(m.at_path("d.id").is_some());
        assert!(m.at_path("d.m.k").is_some());
        assert!(m.at_path("e").is_some());
    }
}
