//! Compiled schemas: OpenAPI 3.0 and 3.1 schema objects with `$ref`s resolved and `allOf`
//! merged into a small tree ([`Node`]) that data generation and response projection walk.
//!
//! Both dialects compile to the same tree: 3.0's `nullable` and 3.1's `null` type (alone, in a
//! `type` array, or as an `anyOf`/`oneOf` branch) both make a node nullable; 3.0's boolean
//! `exclusiveMinimum` and 3.1's numeric one both tighten the bound; `const` is a one-value
//! `enum`. Each `$ref` target is compiled once and shared ([`Kind`] sits behind an `Arc`), and
//! a `$ref` met again while its own target is being compiled becomes [`Kind::Recursive`], so
//! recursive and heavily cross-referenced documents compile in linear space.
//!
//! Compilation happens once, when a spec loads; nothing on the request path looks at raw YAML.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Which OpenAPI version a document declares; it decides how `$ref` siblings are read and
/// which JSON Schema draft validates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// OpenAPI 3.0.x: an extended subset of JSON Schema draft 4 (siblings of `$ref` ignored).
    #[default]
    V30,
    /// OpenAPI 3.1.x: JSON Schema 2020-12 (siblings of `$ref` apply).
    V31,
}

/// A pattern (`pattern` of a string schema), kept with a generator of matching strings.
#[derive(Clone)]
pub struct Pattern {
    pub source: String,
    pub generator: Arc<rand_regex::Regex>,
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Pattern {
    /// A generator for `source` (an ECMA-262 regular expression as JSON Schema has them),
    /// or `None` when the expression is beyond what can be generated from (look-arounds,
    /// back-references) or has no bounded match.
    pub fn new(source: &str) -> Option<Pattern> {
        let hir = parse_pattern(source)?;
        let generator = rand_regex::Regex::with_hir(without_anchors(hir)?, 12).ok()?;
        Some(Pattern {
            source: source.to_string(),
            generator: Arc::new(generator),
        })
    }
}

/// A schema `pattern` parsed: ASCII classes first (`\d`, `\w` as JSON Schema's ECMA-262
/// means them), Unicode when the pattern needs it.
pub fn parse_pattern(source: &str) -> Option<regex_syntax::hir::Hir> {
    match regex_syntax::ParserBuilder::new()
        .unicode(false)
        .build()
        .parse(source)
    {
        Ok(h) => Some(h),
        Err(_) => regex_syntax::Parser::new().parse(source).ok(),
    }
}

/// `hir` with its start and end anchors removed (a generated string is the whole match, so
/// they hold anyway); `None` when it has other assertions (word boundaries), which cannot be
/// generated from.
fn without_anchors(hir: regex_syntax::hir::Hir) -> Option<regex_syntax::hir::Hir> {
    use regex_syntax::hir::{Hir, HirKind, Look};
    Some(match hir.into_kind() {
        HirKind::Look(Look::Start | Look::End | Look::StartLF | Look::EndLF) => Hir::empty(),
        HirKind::Look(_) => return None,
        HirKind::Repetition(mut r) => {
            // Bounded: a pattern such as `a{1000}{1000}` or `.{0,100000000}` would otherwise
            // generate (and allocate) without end.
            if r.min > 256 {
                return None;
            }
            r.max = Some(r.max.unwrap_or(r.min + 8).min(r.min + 32));
            r.sub = Box::new(without_anchors(*r.sub)?);
            Hir::repetition(r)
        }
        HirKind::Capture(mut c) => {
            c.sub = Box::new(without_anchors(*c.sub)?);
            Hir::capture(c)
        }
        HirKind::Concat(v) => Hir::concat(
            v.into_iter()
                .map(without_anchors)
                .collect::<Option<Vec<_>>>()?,
        ),
        HirKind::Alternation(v) => Hir::alternation(
            v.into_iter()
                .map(without_anchors)
                .collect::<Option<Vec<_>>>()?,
        ),
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(l) => Hir::literal(l.0),
        HirKind::Class(c) => Hir::class(c),
    })
}

/// A compiled schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Arc<Kind>,
    pub nullable: bool,
    /// The schema's `enum` (or `const`), if any (for any kind).
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
        /// The schema of other properties (`additionalProperties: {...}`), when given.
        additional: Option<Node>,
    },
    Array {
        /// 2020-12 `prefixItems`: the schemas of the first items, in order.
        prefix: Vec<Node>,
        items: Node,
        min_items: Option<u64>,
        max_items: Option<u64>,
    },
    String {
        format: Option<String>,
        min_length: Option<u64>,
        max_length: Option<u64>,
        pattern: Option<Pattern>,
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
    /// `type: 'null'`: only `null`.
    Null,
    OneOf(Vec<Node>),
    /// A `$ref` back into a schema that contains it: generation stops here (an optional
    /// property is left out, an array is empty), projection passes values through.
    Recursive(String),
    Any,
}

impl Node {
    pub fn any() -> Node {
        Node::of(Kind::Any)
    }

    /// A node of `kind`, not nullable, without `enum`.
    pub fn of(kind: Kind) -> Node {
        Node {
            kind: Arc::new(kind),
            nullable: false,
            enumeration: None,
        }
    }

    /// The property `name` of an object node.
    pub fn prop(&self, name: &str) -> Option<&Node> {
        match &*self.kind {
            Kind::Object { props, .. } => props.iter().find(|(k, _)| k == name).map(|(_, n)| n),
            _ => None,
        }
    }

    /// The items of an array node.
    pub fn items(&self) -> Option<&Node> {
        match &*self.kind {
            Kind::Array { items, .. } => Some(items),
            _ => None,
        }
    }

    /// The node at a JSON pointer into a value of this schema (`/items/0`: an array's items for
    /// any index segment).
    pub fn at_pointer(&self, pointer: &str) -> Option<&Node> {
        let mut cur = self;
        for seg in pointer.split('/').skip(1) {
            cur = match &*cur.kind {
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
                node = node.items()?;
            }
        }
        Some(node)
    }

    /// `v` with every object's fields in the order this schema declares them (the undeclared
    /// ones after, in their own order), recursively; nothing is added or removed. Values
    /// written in a spec are put in this order at load, so that answers, which show fields in
    /// the schema's order, need not reorder them.
    pub fn ordered(&self, v: Value) -> Value {
        match (&*self.kind, v) {
            (Kind::Object { props, .. }, Value::Object(mut m)) if !props.is_empty() => {
                let mut out = serde_json::Map::with_capacity(m.len());
                for (k, n) in props {
                    if let Some(x) = m.shift_remove(k) {
                        out.insert(k.clone(), n.ordered(x));
                    }
                }
                out.extend(m);
                Value::Object(out)
            }
            (Kind::Array { items, .. }, Value::Array(a)) => {
                Value::Array(a.into_iter().map(|x| items.ordered(x)).collect())
            }
            (_, v) => v,
        }
    }

    /// Whether `required` lists `name` (objects only).
    pub fn requires(&self, name: &str) -> bool {
        matches!(&*self.kind, Kind::Object { required, .. } if required.iter().any(|r| r == name))
    }

    /// Whether this is a recursion stub.
    pub fn is_recursive(&self) -> bool {
        matches!(&*self.kind, Kind::Recursive(_))
    }
}

/// Keywords beside a `$ref` that only annotate (ignored when compiling, in both dialects).
const ANNOTATIONS: &[&str] = &[
    "description",
    "title",
    "deprecated",
    "example",
    "examples",
    "default",
    "readOnly",
    "writeOnly",
    "externalDocs",
    "$comment",
    "xml",
];

/// Compiles the schemas of one document.
pub struct Compiler<'a> {
    pub file: &'a str,
    /// The whole document (for `$ref`s to any local location).
    pub doc: &'a Value,
    pub dialect: Dialect,
    /// Compiled `$ref` targets, by reference.
    memo: RefCell<HashMap<String, Node>>,
    /// The `$ref`s being compiled (to cut recursion).
    stack: RefCell<Vec<String>>,
    /// `$dynamicAnchor` bindings of the schemas being compiled, outermost first (2020-12's
    /// dynamic scope: `$dynamicRef: "#name"` takes the outermost binding).
    dynamic: RefCell<Vec<(String, Value)>>,
}

impl<'a> Compiler<'a> {
    pub fn new(file: &'a str, doc: &'a Value, dialect: Dialect) -> Self {
        Compiler {
            file,
            doc,
            dialect,
            memo: RefCell::new(HashMap::new()),
            stack: RefCell::new(Vec::new()),
            dynamic: RefCell::new(Vec::new()),
        }
    }

    /// Compile the schema at `location` (used in error messages).
    pub fn compile(&self, schema: &Value, location: &str) -> Result<Node> {
        self.compile_at(schema, location)
    }

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

    /// Compile a component schema by name.
    pub fn component(&self, name: &str) -> Result<Node> {
        if self
            .doc
            .pointer("/components/schemas")
            .and_then(|c| c.get(name))
            .is_none()
        {
            return Err(Error::spec(
                self.file,
                "components.schemas",
                format!("no component schema named '{name}'"),
            ));
        }
        self.compile(
            &serde_json::json!({ "$ref": format!("#/components/schemas/{}", escape(name)) }),
            &format!("components.schemas.{name}"),
        )
    }

    /// Resolve a local `$ref` (`#/any/json/pointer`) to its target.
    pub fn resolve(&self, reference: &str, location: &str) -> Result<&'a Value> {
        resolve_ref(self.doc, reference).map_err(|m| Error::spec(self.file, location, m))
    }

    fn compile_ref(&self, reference: &str, location: &str) -> Result<Node> {
        // Under a dynamic binding the same target may compile differently: not memoized.
        let dynamic = !self.dynamic.borrow().is_empty();
        if !dynamic && let Some(n) = self.memo.borrow().get(reference) {
            return Ok(n.clone());
        }
        if self.stack.borrow().iter().any(|r| r == reference) {
            return Ok(Node::of(Kind::Recursive(reference.to_string())));
        }
        let target = self.resolve(reference, location)?;
        self.stack.borrow_mut().push(reference.to_string());
        let out = self.compile_at(target, &ref_location(reference));
        self.stack.borrow_mut().pop();
        let node = out?;
        if !dynamic {
            self.memo
                .borrow_mut()
                .insert(reference.to_string(), node.clone());
        }
        Ok(node)
    }

    /// Compile `obj` with the `$dynamicAnchor`s its `$defs` declare bound for what it contains.
    fn with_dynamic_scope(
        &self,
        obj: &Map<String, Value>,
        compile: impl FnOnce() -> Result<Node>,
    ) -> Result<Node> {
        let anchors: Vec<(String, Value)> = obj
            .get("$defs")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(_, d)| {
                let a = d.get("$dynamicAnchor")?.as_str()?;
                Some((a.to_string(), d.clone()))
            })
            .collect();
        let pushed = anchors.len();
        self.dynamic.borrow_mut().extend(anchors);
        let out = compile();
        let mut d = self.dynamic.borrow_mut();
        let keep = d.len().saturating_sub(pushed);
        d.truncate(keep);
        out
    }

    fn compile_at(&self, schema: &Value, location: &str) -> Result<Node> {
        let Some(obj) = schema.as_object() else {
            return match schema {
                Value::Bool(true) | Value::Null => Ok(Node::any()),
                // `false` accepts nothing: nothing sensible to generate, so anything.
                Value::Bool(false) => Ok(Node::any()),
                _ => Err(Error::spec(self.file, location, "schema is not an object")),
            };
        };
        if obj.get("$defs").is_some_and(|d| {
            d.as_object()
                .is_some_and(|m| m.values().any(|x| x.get("$dynamicAnchor").is_some()))
        }) && !self.stack.borrow().iter().any(|s| s == "(dynamic scope)")
        {
            let mut inner = obj.clone();
            inner.remove("$defs");
            self.stack.borrow_mut().push("(dynamic scope)".into());
            let out = self.with_dynamic_scope(obj, || {
                self.compile_at(&Value::Object(inner.clone()), location)
            });
            self.stack.borrow_mut().pop();
            return out;
        }
        if let Some(name) = obj
            .get("$dynamicRef")
            .and_then(Value::as_str)
            .and_then(|r| r.rsplit_once('#'))
            .map(|(_, n)| n.to_string())
        {
            let bound = self
                .dynamic
                .borrow()
                .iter()
                .find(|(a, _)| *a == name)
                .map(|(_, s)| s.clone());
            return match bound {
                Some(mut s) => {
                    if let Some(m) = s.as_object_mut() {
                        m.remove("$dynamicAnchor");
                    }
                    self.compile_at(&s, location)
                }
                None => Ok(Node::any()),
            };
        }
        let nullable = obj.get("nullable").and_then(Value::as_bool) == Some(true);
        if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
            let mut node = self.compile_ref(r, location)?;
            // 3.1 applies the keywords beside a `$ref`; 3.0 ignores them (but `nullable`
            // beside a `$ref` is common in both and meant).
            let applies = self.dialect == Dialect::V31
                && obj
                    .keys()
                    .any(|k| k != "$ref" && k != "nullable" && !ANNOTATIONS.contains(&k.as_str()));
            if applies {
                let mut rest = obj.clone();
                rest.remove("$ref");
                let sib = self.compile_at(&Value::Object(rest), location)?;
                node = merge(sib, node);
            }
            if nullable {
                node.nullable = true;
            }
            return Ok(node);
        }
        let mut enumeration = obj.get("enum").and_then(Value::as_array).cloned();
        if let Some(c) = obj.get("const") {
            enumeration = Some(vec![c.clone()]);
        }
        let mut nullable = nullable;
        if let Some(e) = &mut enumeration
            && e.iter().any(Value::is_null)
        {
            nullable = true;
            e.retain(|v| !v.is_null());
            if e.is_empty() {
                return Ok(null_node());
            }
        }
        if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
            let mut merged: Option<Node> = None;
            for (i, part) in all.iter().enumerate() {
                let n = self.compile_at(part, &format!("{location}.allOf[{i}]"))?;
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
                let sib = self.compile_at(&Value::Object(rest), location)?;
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
                let mut null_branch = false;
                for (i, alt) in alts.iter().enumerate() {
                    let n = self.compile_at(alt, &format!("{location}.{key}[{i}]"))?;
                    if matches!(&*n.kind, Kind::Null) {
                        null_branch = true;
                    } else {
                        nodes.push(n);
                    }
                }
                let nullable = nullable || null_branch;
                // `anyOf: [X, {type: 'null'}]` is a nullable X.
                if nodes.len() == 1 && enumeration.is_none() {
                    let mut n = nodes.remove(0);
                    n.nullable = n.nullable || nullable;
                    return Ok(n);
                }
                if nodes.is_empty() {
                    return Ok(null_node());
                }
                return Ok(Node {
                    kind: Arc::new(Kind::OneOf(nodes)),
                    nullable,
                    enumeration,
                });
            }
        }
        // `type`: a name, or (3.1) a list of names, `null` among them meaning nullable.
        let types: Vec<&str> = match obj.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let nullable = nullable || types.contains(&"null");
        let named: Vec<&str> = types.iter().copied().filter(|t| *t != "null").collect();
        if named.is_empty() && !types.is_empty() {
            return Ok(null_node());
        }
        let mut kinds = Vec::with_capacity(named.len().max(1));
        if named.is_empty() {
            let implied = if obj.contains_key("properties") {
                "object"
            } else if obj.contains_key("items") {
                "array"
            } else {
                ""
            };
            kinds.push(self.kind_of(implied, obj, location)?);
        } else {
            for t in &named {
                kinds.push(self.kind_of(t, obj, location)?);
            }
        }
        let kind = if kinds.len() == 1 {
            kinds.remove(0)
        } else {
            Kind::OneOf(kinds.into_iter().map(Node::of).collect())
        };
        Ok(Node {
            kind: Arc::new(kind),
            nullable,
            enumeration,
        })
    }

    /// The kind for one type name (`""`: none given).
    fn kind_of(&self, ty: &str, obj: &Map<String, Value>, location: &str) -> Result<Kind> {
        Ok(match ty {
            "object" => self.object(obj, location)?,
            "array" => {
                let mut prefix = Vec::new();
                if let Some(p) = obj.get("prefixItems").and_then(Value::as_array) {
                    for (i, s) in p.iter().enumerate() {
                        prefix.push(self.compile_at(s, &format!("{location}.prefixItems[{i}]"))?);
                    }
                }
                let mut max_items = obj.get("maxItems").and_then(Value::as_u64);
                let items = match obj.get("items") {
                    // No items after the prefix.
                    Some(Value::Bool(false)) => {
                        max_items = Some(max_items.unwrap_or(u64::MAX).min(prefix.len() as u64));
                        Node::any()
                    }
                    Some(i) => self.compile_at(i, &format!("{location}.items"))?,
                    None => Node::any(),
                };
                Kind::Array {
                    prefix,
                    items,
                    min_items: obj.get("minItems").and_then(Value::as_u64),
                    max_items,
                }
            }
            "string" => Kind::String {
                format: obj
                    .get("format")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                min_length: obj.get("minLength").and_then(Value::as_u64),
                max_length: obj.get("maxLength").and_then(Value::as_u64),
                pattern: obj
                    .get("pattern")
                    .and_then(Value::as_str)
                    .and_then(Pattern::new),
            },
            "integer" => {
                let (min, max) = bounds(obj);
                Kind::Integer {
                    min: min.map(|(x, excl)| {
                        let m = if excl { x.floor() + 1.0 } else { x.ceil() };
                        clamp_i64(m)
                    }),
                    max: max.map(|(x, excl)| {
                        let m = if excl { x.ceil() - 1.0 } else { x.floor() };
                        clamp_i64(m)
                    }),
                }
            }
            "number" => {
                let (min, max) = bounds(obj);
                let span = match (min, max) {
                    (Some((a, _)), Some((b, _))) => ((b - a) / 100.0).min(0.01),
                    _ => 0.01,
                };
                Kind::Number {
                    min: min.map(|(x, excl)| if excl { x + span } else { x }),
                    max: max.map(|(x, excl)| if excl { x - span } else { x }),
                }
            }
            "boolean" => Kind::Boolean,
            "" => Kind::Any,
            other => {
                return Err(Error::spec(
                    self.file,
                    location,
                    format!("unknown schema type '{other}'"),
                ));
            }
        })
    }

    fn object(&self, obj: &Map<String, Value>, location: &str) -> Result<Kind> {
        let mut props = Vec::new();
        if let Some(p) = obj.get("properties").and_then(Value::as_object) {
            for (name, s) in p {
                let n = self.compile_at(s, &format!("{location}.properties.{name}"))?;
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
        let (open, additional) = match obj.get("additionalProperties") {
            Some(Value::Bool(b)) => (*b, None),
            Some(s @ Value::Object(_)) => (
                true,
                Some(self.compile_at(s, &format!("{location}.additionalProperties"))?),
            ),
            _ => (false, None),
        };
        Ok(Kind::Object {
            free_form: props.is_empty() || open,
            props,
            required,
            additional,
        })
    }
}

fn null_node() -> Node {
    Node {
        kind: Arc::new(Kind::Null),
        nullable: true,
        enumeration: None,
    }
}

/// The lower and upper bound of a numeric schema, each with whether it is exclusive: 3.0's
/// `exclusiveMinimum: true` beside `minimum`, or 3.1's numeric `exclusiveMinimum`.
type Bound = Option<(f64, bool)>;

fn bounds(obj: &Map<String, Value>) -> (Bound, Bound) {
    let one = |incl: &str, excl: &str| -> Bound {
        let plain = obj.get(incl).and_then(Value::as_f64);
        match obj.get(excl) {
            Some(Value::Bool(true)) => plain.map(|x| (x, true)),
            Some(v) => match (v.as_f64(), plain) {
                (Some(e), Some(p)) if p > e && incl == "minimum" => Some((p, false)),
                (Some(e), Some(p)) if p < e && incl == "maximum" => Some((p, false)),
                (Some(e), _) => Some((e, true)),
                (None, p) => p.map(|x| (x, false)),
            },
            None => plain.map(|x| (x, false)),
        }
    };
    (
        one("minimum", "exclusiveMinimum"),
        one("maximum", "exclusiveMaximum"),
    )
}

fn clamp_i64(x: f64) -> i64 {
    if x.is_nan() {
        0
    } else if x <= i64::MIN as f64 {
        i64::MIN
    } else if x >= i64::MAX as f64 {
        i64::MAX
    } else {
        x as i64
    }
}

/// Escape a name for a JSON pointer segment.
pub fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// A JSON pointer segment's name ([`escape`] undone).
pub fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// The dotted location of a `$ref` target, for messages: `#/components/schemas/A` ->
/// `components.schemas.A`.
fn ref_location(reference: &str) -> String {
    reference
        .trim_start_matches('#')
        .trim_start_matches('/')
        .split('/')
        .map(unescape)
        .collect::<Vec<_>>()
        .join(".")
}

/// Resolve a local `$ref` in `doc`; a remote one (another file, a URL) is refused: understudy
/// never fetches.
pub fn resolve_ref<'v>(doc: &'v Value, reference: &str) -> std::result::Result<&'v Value, String> {
    let Some(pointer) = reference.strip_prefix('#') else {
        return Err(format!(
            "$ref '{reference}' is not local (understudy reads one document and never fetches; \
             bundle the document first, e.g. `npx @redocly/cli bundle`)"
        ));
    };
    let decoded = percent_encoding::percent_decode_str(pointer).decode_utf8_lossy();
    doc.pointer(&decoded)
        .ok_or_else(|| format!("$ref '{reference}' points to nothing in the document"))
}

/// Merge two compiled schemas: object properties are united (recursively for a property both
/// declare); for anything else the first wins.
pub fn merge(a: Node, b: Node) -> Node {
    let nullable = a.nullable || b.nullable;
    match (&*a.kind, &*b.kind) {
        (Kind::Object { .. }, Kind::Object { .. }) => {
            let (
                Kind::Object {
                    props: mut pa,
                    required: mut ra,
                    free_form: fa,
                    additional: xa,
                },
                Kind::Object {
                    props: pb,
                    required: rb,
                    free_form: fb,
                    additional: xb,
                },
            ) = (Arc::unwrap_or_clone(a.kind), Arc::unwrap_or_clone(b.kind))
            else {
                // Both were just matched as objects.
                return Node::any();
            };
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
                kind: Arc::new(Kind::Object {
                    props: pa,
                    required: ra,
                    free_form,
                    additional: xa.or(xb),
                }),
                nullable,
                enumeration: a.enumeration.or(b.enumeration),
            }
        }
        (Kind::Any, _) => Node {
            kind: b.kind,
            nullable,
            enumeration: a.enumeration.or(b.enumeration),
        },
        _ => Node {
            kind: a.kind,
            nullable: a.nullable,
            enumeration: a.enumeration,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(components: Value) -> Value {
        json!({"openapi": "3.1.0", "components": {"schemas": components}})
    }

    #[test]
    fn resolves_refs_and_merges_all_of() {
        let d = doc(json!({
            "Rev": {"type": "object", "properties": {"phase": {"type": "string", "enum": ["A", "B"]}}}
        }));
        let c = Compiler::new("t.yaml", &d, Dialect::V30);
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
        let d = doc(json!({}));
        let c = Compiler::new("t.yaml", &d, Dialect::V30);
        let err = c
            .compile(&json!({"$ref": "#/components/schemas/Nope"}), "paths./a")
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.yaml") && err.contains("paths./a") && err.contains("Nope"));
        let err = c
            .compile(&json!({"$ref": "other.yaml#/X"}), "p")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not local"), "{err}");
    }

    #[test]
    fn merge_unites_nested_properties() {
        let d = doc(json!({}));
        let c = Compiler::new("t.yaml", &d, Dialect::V30);
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

    #[test]
    fn both_dialects_spell_null_and_bounds() {
        let d = doc(json!({"S": {"type": "string", "pattern": "^AC[0-9a-f]{32}$"}}));
        let c = Compiler::new("t.yaml", &d, Dialect::V31);
        for s in [
            json!({"type": ["string", "null"]}),
            json!({"anyOf": [{"type": "string"}, {"type": "null"}]}),
            json!({"type": "string", "nullable": true}),
            json!({"oneOf": [{"$ref": "#/components/schemas/S"}, {"type": "null"}]}),
        ] {
            let n = c.compile(&s, "x").unwrap();
            assert!(n.nullable, "{s}");
            assert!(matches!(&*n.kind, Kind::String { .. }), "{s}");
        }
        let n = c.compile(&json!({"type": "null"}), "x").unwrap();
        assert!(matches!(&*n.kind, Kind::Null));
        let n = c.compile(&json!({"const": "list"}), "x").unwrap();
        assert_eq!(n.enumeration, Some(vec![json!("list")]));
        let n = c
            .compile(
                &json!({"type": "integer", "exclusiveMinimum": 0, "maximum": 10}),
                "x",
            )
            .unwrap();
        assert_eq!(
            *n.kind,
            Kind::Integer {
                min: Some(1),
                max: Some(10)
            }
        );
        let n = c
            .compile(
                &json!({"type": "integer", "minimum": 0, "exclusiveMinimum": true, "maximum": -9223372036854776000.0_f64}),
                "x",
            )
            .unwrap();
        assert_eq!(
            *n.kind,
            Kind::Integer {
                min: Some(1),
                max: Some(i64::MIN)
            }
        );
        let n = c
            .compile(&json!({"$ref": "#/components/schemas/S"}), "x")
            .unwrap();
        let Kind::String {
            pattern: Some(p), ..
        } = &*n.kind
        else {
            panic!("{n:?}")
        };
        assert_eq!(p.source, "^AC[0-9a-f]{32}$");
    }

    #[test]
    fn type_lists_without_null_are_alternatives() {
        let d = doc(json!({}));
        let c = Compiler::new("t.yaml", &d, Dialect::V31);
        let n = c
            .compile(&json!({"type": ["string", "integer"]}), "x")
            .unwrap();
        let Kind::OneOf(alts) = &*n.kind else {
            panic!("{n:?}")
        };
        assert_eq!(alts.len(), 2);
    }

    #[test]
    fn ref_siblings_apply_in_3_1_only() {
        let d = doc(json!({"A": {"type": "object", "properties": {"a": {"type": "string"}}}}));
        let s = json!({"$ref": "#/components/schemas/A", "properties": {"b": {"type": "integer"}}, "description": "d"});
        let n31 = Compiler::new("t", &d, Dialect::V31)
            .compile(&s, "x")
            .unwrap();
        assert!(n31.prop("a").is_some() && n31.prop("b").is_some());
        let n30 = Compiler::new("t", &d, Dialect::V30)
            .compile(&s, "x")
            .unwrap();
        assert!(n30.prop("a").is_some() && n30.prop("b").is_none());
    }

    #[test]
    fn recursion_is_cut_and_shared() {
        let d = doc(json!({
            "Tree": {"type": "object", "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}},
                "parent": {"anyOf": [{"type": "string"}, {"$ref": "#/components/schemas/Tree"}]}
            }}
        }));
        let c = Compiler::new("t", &d, Dialect::V31);
        let n = c.component("Tree").unwrap();
        assert!(
            n.at_path("children")
                .unwrap()
                .items()
                .unwrap()
                .is_recursive()
        );
        // The second compilation is the memoized, shared node.
        let again = c.component("Tree").unwrap();
        assert!(Arc::ptr_eq(&n.kind, &again.kind));
    }

    #[test]
    fn a_mesh_of_references_compiles_in_linear_space() {
        // 40 schemas each referring to every later one: inlined, 2^40 nodes.
        let mut comps = Map::new();
        for i in 0..40 {
            let mut props = Map::new();
            for j in i + 1..40 {
                props.insert(
                    format!("p{j}"),
                    json!({"$ref": format!("#/components/schemas/S{j}")}),
                );
            }
            comps.insert(
                format!("S{i}"),
                json!({"type": "object", "properties": props}),
            );
        }
        let d = doc(Value::Object(comps));
        let c = Compiler::new("t", &d, Dialect::V30);
        let n = c.component("S0").unwrap();
        assert!(n.at_path("p1.p2.p3.p39").is_some());
    }

    #[test]
    fn dynamic_refs_take_the_outermost_binding() {
        let d = doc(json!({
            "Page": {
                "$defs": {"itemType": {"$dynamicAnchor": "itemType", "not": {}}},
                "type": "object",
                "properties": {"data": {"type": "array", "items": {"$dynamicRef": "#itemType"}}}
            },
            "Planet": {"type": "object", "properties": {"name": {"type": "string"}}}
        }));
        let c = Compiler::new("t", &d, Dialect::V31);
        let planets = json!({
            "$defs": {"itemType": {"$dynamicAnchor": "itemType", "$ref": "#/components/schemas/Planet"}},
            "$ref": "#/components/schemas/Page"
        });
        let n = c.compile(&planets, "x").unwrap();
        assert!(n.at_path("data[].name").is_some(), "{n:?}");
    }

    #[test]
    fn patterns_generate_matching_strings() {
        use rand::SeedableRng;
        let p = Pattern::new("^AC[0-9a-fA-F]{32}$").unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let s: String = rand::RngExt::sample(&mut rng, &*p.generator);
        let re = regex::Regex::new("^AC[0-9a-fA-F]{32}$").unwrap();
        assert!(re.is_match(&s), "{s}");
        assert!(Pattern::new("(?=x)").is_none());
        // Repetitions are bounded: no pattern makes a huge string.
        assert!(Pattern::new("a{1000}{1000}").is_none());
        let p = Pattern::new("^[a-z]{0,100000000}$").unwrap();
        let s: String = rand::RngExt::sample(&mut rng, &*p.generator);
        assert!(s.len() <= 32, "{}", s.len());
    }
}
