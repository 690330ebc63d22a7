//! Loading API specs: OpenAPI 3.0 and 3.1 files (YAML or JSON), optionally with `x-understudy`
//! extensions and overlays, from the copies embedded in the binary, folders or files. Loading
//! is all-or-nothing: any error names the file and the location, and no API is served
//! half-configured.

pub mod behaviour;
pub mod ext;
mod front;
pub(crate) mod infer;
mod operation;
pub mod overlay;
pub(crate) mod param;
mod resolve;
pub mod schema;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use include_dir::{Dir, include_dir};
use regex::Regex;
use serde_json::{Map, Value};

use crate::data::CollectionModel;
use crate::error::{Error, Result};
use crate::files;
use crate::locate::Lines;
use ext::RootExt;
use operation::{load_operation, load_schemes, security_of};
use schema::{Compiler, Dialect, Node};

/// The specs shipped in `specs/`, embedded at build time.
static EMBEDDED: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/specs");

/// HTTP methods an OpenAPI path item may declare.
pub const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// One loaded API.
#[derive(Debug)]
pub struct Api {
    /// The spec file's stem: the API's name and default mount point.
    pub name: String,
    /// The file it came from (for messages).
    pub file: String,
    /// What sits between `/{name}` and the document's paths.
    pub base_path: String,
    /// The whole document as JSON.
    pub doc: Value,
    /// The OpenAPI version it declares (3.0 or 3.1).
    pub dialect: Dialect,
    /// Where each node of the document is in the file.
    pub lines: Arc<Lines>,
    pub root: RootExt,
    pub bad_request_status: u16,
    pub models: BTreeMap<String, Arc<CollectionModel>>,
    pub operations: Vec<Operation>,
    pub schemes: BTreeMap<String, Scheme>,
    /// Other shapes of the same data (`x-understudy.variants`), by name.
    pub variants: BTreeMap<String, Arc<Variant>>,
    /// The collections inference added (not declared).
    pub inferred_collections: std::collections::BTreeSet<String>,
}

/// A variant: the document with its schema patches applied (operations in the same order as
/// the base API's, sharing its collections), and the fields derived for it.
#[derive(Debug)]
pub struct Variant {
    /// Its name (shared by every answer made in it).
    pub name: Arc<str>,
    pub description: Option<String>,
    pub api: Arc<Api>,
    /// Per collection: (field path, template over the document-shaped entity).
    pub derive: BTreeMap<String, Vec<(String, crate::data::template::Template)>>,
}

/// The header that selects a variant per request.
pub const VARIANT_HEADER: &str = "x-understudy-variant";

/// A path segment of an operation's template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Lit(String),
    Param(String),
}

/// A path template's segments (`/things/{id}` -> `things`, `{id}`); empty segments are left
/// out.
pub fn path_segments(path: &str) -> Vec<Segment> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(p) => Segment::Param(p.to_string()),
                None => Segment::Lit(s.to_string()),
            },
        )
        .collect()
}

/// Where a parameter is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamIn {
    Query,
    Path,
    Header,
}

impl ParamIn {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamIn::Query => "query",
            ParamIn::Path => "path",
            ParamIn::Header => "header",
        }
    }
}

/// A declared parameter, with its schema (top-level `$ref` resolved).
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub location: ParamIn,
    pub required: bool,
    pub schema: Value,
    /// What `schema` asks of the values, read once at load.
    pub(crate) rule: param::ParamRule,
    /// The literal `null` counts as not sent (a nullable schema: a query string has no other
    /// way to say null).
    pub(crate) null_is_absent: bool,
    /// For arrays, how the values are delimited inside one raw value: `None` for repeated
    /// keys (`a=1&a=2`, query `form` with `explode`, the default), else `,` (`form` without
    /// `explode`, and `simple`, the path and header style), ` ` (`spaceDelimited`) or `|`
    /// (`pipeDelimited`).
    pub delimiter: Option<char>,
    /// A value for tools to send: the parameter's `example`, else its schema's `example`,
    /// `default` or first `enum` value.
    pub example: Option<Value>,
}

/// A documented response of an operation.
#[derive(Debug, Clone)]
pub struct ResponseDef {
    /// `"200"`, `"404"`, `"default"`, ...
    pub status: String,
    /// What `status` answers, read once at load.
    pub(crate) code: StatusKey,
    /// The JSON body schema, raw (for validation) and compiled (for projection).
    pub schema: Option<Value>,
    pub node: Option<Node>,
    /// Response headers the spec marks required.
    pub required_headers: Vec<String>,
    /// Documented response headers with a value for them (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The response documents `X-Request-Id` as a UUID: the request id is given in that form.
    pub request_id_uuid: bool,
    /// The response documents a `Link` header (RFC 8288 page links).
    pub links: bool,
    /// The model error bodies of this status are generated from: made on the first error
    /// answered with it, then kept (`None` when the schema cannot be modelled).
    pub error_model: std::sync::OnceLock<Option<Arc<CollectionModel>>>,
}

/// One operation.
#[derive(Debug)]
pub struct Operation {
    /// Its `operationId`, when the document gives one.
    pub id: Option<String>,
    pub method: String,
    pub path: String,
    pub segments: Vec<Segment>,
    pub params: Vec<Param>,
    /// Security alternatives: each inner list must all be satisfied; empty outer = no auth.
    pub security: Vec<Vec<String>>,
    /// What it does with a collection (declared or inferred), resolved at load.
    pub bound: Option<behaviour::Bound>,
    pub responses: Vec<ResponseDef>,
    /// The JSON request body schema, if the operation takes one, and whether it is required.
    pub request_body: Option<(bool, Value)>,
    /// For an operation with no action (declared or inferred): the answer made from its
    /// documented success response.
    pub generated: Option<Generated>,
    /// Whether its action was inferred (not declared): such an action is used only if a
    /// sample of its answers validates, else the operation answers from its schema.
    pub inferred: bool,
}

/// The answer of an operation that has no action: its documented success status, with a body
/// generated from that response's schema.
#[derive(Debug)]
pub struct Generated {
    pub status: u16,
    pub body: GeneratedBody,
}

/// What a generated answer carries.
#[derive(Debug)]
pub enum GeneratedBody {
    /// No content (a 204, or a response that documents none).
    Empty,
    /// JSON generated from the schema (`content_type`: the documented JSON media type).
    Json {
        content_type: String,
        model: Arc<CollectionModel>,
    },
    /// A stream of server-sent events: one event whose data is generated from the schema's
    /// JSON (when the event schema is JSON), then the stream ends.
    EventStream { model: Option<Arc<CollectionModel>> },
    /// Any other media type: a short generated text (or bytes) of that type.
    Other { content_type: String },
}

impl Operation {
    /// The operation's path with each parameter that `value` gives a value for filled in,
    /// percent-encoded (the others stay in braces).
    pub fn path_with(&self, value: impl Fn(&str) -> Option<String>) -> String {
        fill_path(&self.path, value)
    }

    /// The documented response for `status` (exact, then `4XX`-style, then `default`).
    pub fn response(&self, status: u16) -> Option<&ResponseDef> {
        let mut best: Option<(u8, &ResponseDef)> = None;
        for r in &self.responses {
            if let Some(rank) = r.code.rank(status)
                && best.is_none_or(|(b, _)| rank < b)
            {
                best = Some((rank, r));
            }
        }
        best.map(|(_, r)| r)
    }
}

/// A documented response key, read once at load: `"404"`, `"4XX"`, `default`, or a key that
/// answers no status (`"2xx"`, `"abc"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusKey {
    Exact(u16),
    /// `"4XX"`: the statuses whose hundreds are this.
    Range(u16),
    Default,
    Never,
}

impl StatusKey {
    pub(crate) fn parse(key: &str) -> StatusKey {
        if key == "default" {
            return StatusKey::Default;
        }
        // Only the canonical spelling of a number: `"020"` answers nothing.
        let number = |d: &str| {
            d.parse::<u16>()
                .ok()
                .filter(|n| d.bytes().all(|b| b.is_ascii_digit()) && n.to_string() == d)
        };
        if let Some(n) = number(key) {
            return StatusKey::Exact(n);
        }
        match key.strip_suffix("XX").and_then(number) {
            Some(h) if h <= u16::MAX / 100 => StatusKey::Range(h),
            _ => StatusKey::Never,
        }
    }

    /// How this key answers `status`: 0 exactly, 1 by its range, 2 as `default`; `None` when
    /// it does not.
    pub(crate) fn rank(self, status: u16) -> Option<u8> {
        match self {
            StatusKey::Exact(n) => (n == status).then_some(0),
            StatusKey::Range(h) => (h == status / 100).then_some(1),
            StatusKey::Default => Some(2),
            StatusKey::Never => None,
        }
    }
}

/// `path` with each `{name}` that `value` gives a value for replaced by it, percent-encoded
/// (the others stay in braces).
pub fn fill_path(path: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let Some(len) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + len];
        out.push_str(&rest[..open]);
        match value(name) {
            Some(v) => out.extend(percent_encoding::utf8_percent_encode(
                &v,
                percent_encoding::NON_ALPHANUMERIC,
            )),
            None => out.push_str(&rest[open..=open + len]),
        }
        rest = &rest[open + len + 1..];
    }
    out.push_str(rest);
    out
}

/// How a security scheme carries credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemeKind {
    /// `Authorization: Bearer <token>` (HTTP bearer, OAuth2 and OpenID Connect access tokens).
    Bearer,
    /// `Authorization: Basic base64(user:password)`; the user part is the token.
    Basic,
    /// A header whose whole value is the credential (an API key in a header; lower-case name).
    Header(String),
    /// An API key in a query parameter (exact name).
    Query(String),
    /// An API key in a cookie (exact name).
    Cookie(String),
    /// A scheme that cannot be checked (mutual TLS, an HTTP scheme such as `digest`): any
    /// request satisfies it.
    Unchecked(String),
}

/// A security scheme.
#[derive(Debug, Clone)]
pub struct Scheme {
    pub kind: SchemeKind,
    pub token_pattern: Option<Regex>,
}

/// File endings of spec files.
const SPEC_EXTS: &[&str] = &[".yaml", ".yml", ".json"];

/// Load every spec embedded in the binary.
pub fn load_embedded() -> Result<Vec<Api>> {
    files::embedded(&EMBEDDED, "specs", SPEC_EXTS)
        .into_iter()
        .map(|(name, text)| {
            let text = text.ok_or_else(|| Error::SpecSyntax {
                file: name.clone(),
                message: "not UTF-8".into(),
            })?;
            load_str(&name, text)
        })
        .collect()
}

/// Load every `*.yaml`, `*.yml` or `*.json` spec in `dir` (overlays beside them applied).
pub fn load_dir(dir: &Path) -> Result<Vec<Api>> {
    load_dir_with(dir, &[])
}

/// [`load_dir`], with `extra` overlays applied to every spec after its own.
pub fn load_dir_with(dir: &Path, extra: &[overlay::Overlay]) -> Result<Vec<Api>> {
    let paths: Vec<_> = files::in_dir(dir, SPEC_EXTS)?
        .into_iter()
        .filter(|p| !overlay::is_overlay(p))
        .collect();
    if paths.is_empty() {
        return Err(Error::Config(format!(
            "{}: no spec files (*.yaml, *.yml, *.json)",
            dir.display()
        )));
    }
    paths.iter().map(|p| load_file_with(p, extra)).collect()
}

/// Load one spec file (with the overlay beside it, if any).
pub fn load_file(path: &Path) -> Result<Api> {
    load_file_with(path, &[])
}

/// [`load_file`], with `extra` overlays applied after the one beside it.
pub fn load_file_with(path: &Path, extra: &[overlay::Overlay]) -> Result<Api> {
    let own = overlay::beside(path)
        .map(|p| overlay::Overlay::load(&p))
        .transpose()?;
    let overlays: Vec<&overlay::Overlay> = own.iter().chain(extra).collect();
    let file = path.to_string_lossy();
    let text = files::read(path)?;
    let lines = Arc::new(Lines::of(&text));
    load_doc(&file, &text, lines.clone(), &overlays).map_err(|e| with_lines(e, &lines))
}

/// Parse YAML (a superset of JSON) into JSON, turning non-string map keys (`200:`) into strings.
/// A JSON document is read as JSON; a YAML one whose integers do not fit 64 bits (a bound such
/// as `-9223372036854776000`) is read again by a parser that keeps them as floats.
pub fn parse_yaml(file: &str, text: &str) -> Result<Value> {
    if text.trim_start().starts_with('{')
        && let Ok(v) = serde_json::from_str::<Value>(text)
    {
        return Ok(v);
    }
    match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Ok(y) => Ok(yaml_to_json(y)),
        Err(e) => {
            // Only for integers beyond 64 bits (the one thing serde_yaml refuses that a
            // document may rightly hold); anything else stays refused.
            let wide = e.to_string().contains("as i128") || e.to_string().contains("as u128");
            if wide
                && let Ok(mut docs) = yaml_rust2::YamlLoader::load_from_str(text)
                && docs.len() == 1
            {
                let mut budget = WIDE_YAML_NODES;
                return Ok(wide_yaml_to_json(docs.remove(0), 0, &mut budget));
            }
            Err(Error::SpecSyntax {
                file: file.to_string(),
                message: e.to_string(),
            })
        }
    }
}

/// Most nodes, and deepest nesting, converted from the wide-integer YAML reader (aliases are
/// expanded by copying there: a document of aliases to aliases must not exhaust memory).
const WIDE_YAML_NODES: usize = 20_000_000;
const WIDE_YAML_DEPTH: usize = 256;

fn wide_yaml_to_json(y: yaml_rust2::Yaml, depth: usize, budget: &mut usize) -> Value {
    use yaml_rust2::Yaml as Y;
    if depth > WIDE_YAML_DEPTH || *budget == 0 {
        return Value::Null;
    }
    *budget -= 1;
    match y {
        Y::Real(s) => s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Y::Integer(i) => Value::from(i),
        Y::String(s) => Value::String(s),
        Y::Boolean(b) => Value::Bool(b),
        Y::Array(a) => Value::Array(
            a.into_iter()
                .map(|x| wide_yaml_to_json(x, depth + 1, budget))
                .collect(),
        ),
        Y::Hash(h) => {
            let mut out = Map::new();
            for (k, v) in h {
                let key = match k {
                    Y::String(s) | Y::Real(s) => s,
                    Y::Integer(i) => i.to_string(),
                    Y::Boolean(b) => b.to_string(),
                    _ => String::new(),
                };
                out.insert(key, wide_yaml_to_json(v, depth + 1, budget));
            }
            Value::Object(out)
        }
        Y::Null | Y::Alias(_) | Y::BadValue => Value::Null,
    }
}

fn yaml_to_json(y: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match y {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(s) => Value::Array(s.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => serde_yaml::to_string(&other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                out.insert(key, yaml_to_json(v));
            }
            Value::Object(out)
        }
        Y::Tagged(t) => yaml_to_json(t.value),
    }
}

/// The API name for a file: its stem.
pub fn api_name(file: &str) -> String {
    Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| file.to_string())
}

/// Load one spec from text.
pub fn load_str(file: &str, text: &str) -> Result<Api> {
    let lines = Arc::new(Lines::of(text));
    load_doc(file, text, lines.clone(), &[]).map_err(|e| with_lines(e, &lines))
}

/// The error with the line of each location filled in.
fn with_lines(e: Error, lines: &Lines) -> Error {
    match e {
        Error::Spec {
            file,
            line: None,
            location,
            message,
        } => Error::Spec {
            line: lines.line(&location),
            file,
            location,
            message,
        },
        Error::Many(list) => Error::Many(list.into_iter().map(|e| with_lines(e, lines)).collect()),
        other => other,
    }
}

fn load_doc(
    file: &str,
    text: &str,
    lines: Arc<Lines>,
    overlays: &[&overlay::Overlay],
) -> Result<Api> {
    let mut doc = parse_yaml(file, text)?;
    for o in overlays {
        o.apply(&mut doc);
    }
    // Inference fills in what the document does not declare; should what it found not load
    // (it is conservative, but a document can surprise it), the document is served as written.
    // Inferred writes are dropped first, then all of it.
    let mut api = None;
    for writes in [true, false] {
        let Some((inferred, ops, colls)) = with_inferred(&doc, writes) else {
            break;
        };
        match build_api(file, inferred, lines.clone(), None) {
            Ok(mut built) => {
                for op in &mut built.operations {
                    op.inferred = ops.contains(&(op.path.clone(), op.method.to_ascii_lowercase()));
                }
                built.inferred_collections = colls;
                api = Some(built);
                break;
            }
            Err(e) => tracing::warn!(
                "{file}: the inferred {} do not load, serving without them: {}",
                if writes {
                    "collections and writes"
                } else {
                    "collections"
                },
                with_lines(e, &lines)
            ),
        }
    }
    let mut api = match api {
        Some(api) => api,
        None => build_api(file, doc, lines, None)?,
    };
    api.variants = load_variants(&api)?;
    Ok(api)
}

/// Entities in a collection that inference found (`--count` overrides it).
const INFERRED_COUNT: u64 = 30;

/// `doc` with the collections and list/get actions inference finds merged in where the
/// document declares none; `None` when it finds nothing.
type InferredDoc = (
    Value,
    Vec<(String, String)>,
    std::collections::BTreeSet<String>,
);

fn with_inferred(doc: &Value, writes: bool) -> Option<InferredDoc> {
    let mut found = infer::infer(doc);
    if !writes {
        found.operations.retain(|(_, method, _)| method == "get");
    }
    if found.collections.is_empty() && found.operations.is_empty() {
        return None;
    }
    let mut doc = doc.clone();
    let root = doc.as_object_mut()?;
    let x = root
        .entry("x-understudy")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()?;
    let collections = x
        .entry("collections")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()?;
    let mut added = std::collections::BTreeSet::new();
    for (name, mut c) in found.collections {
        if let Some(m) = c.as_object_mut() {
            m.insert("count".into(), Value::from(INFERRED_COUNT));
        }
        if !collections.contains_key(&name) {
            collections.insert(name.clone(), c);
            added.insert(name);
        }
    }
    let mut ops = Vec::new();
    for (path, method, ext) in found.operations {
        let pointer = format!("/paths/{}/{method}", schema::escape(&path));
        if let Some(op) = doc.pointer_mut(&pointer).and_then(Value::as_object_mut)
            && !op.contains_key("x-understudy")
        {
            op.insert("x-understudy".into(), ext);
            ops.push((path, method));
        }
    }
    Some((doc, ops, added))
}

/// Build each declared variant of `base`: its document with the schema patches applied, its
/// operations (sharing the base collections), and its derived fields checked.
fn load_variants(base: &Api) -> Result<BTreeMap<String, Arc<Variant>>> {
    let file = base.file.as_str();
    let mut out = BTreeMap::new();
    for (vname, v) in &base.root.variants {
        let loc = format!("x-understudy.variants.{vname}");
        let mut doc = base.doc.clone();
        if let Some(x) = doc.get_mut("x-understudy").and_then(Value::as_object_mut) {
            x.remove("variants");
        }
        for (schema, patch) in &v.schemas {
            let target = doc
                .pointer_mut(&format!("/components/schemas/{}", schema::escape(schema)))
                .ok_or_else(|| {
                    Error::spec(
                        file,
                        format!("{loc}.schemas.{schema}"),
                        format!("no component schema '{schema}' to patch"),
                    )
                })?;
            merge_patch(target, patch);
        }
        let api = build_api(file, doc, base.lines.clone(), Some(&base.models))
            .map_err(|e| e.context(&format!("variant '{vname}'")))?;
        let mut derive = BTreeMap::new();
        let patched = Compiler::new(file, &api.doc, api.dialect);
        for (cname, fields) in &v.derive {
            let model = base.models.get(cname).ok_or_else(|| {
                Error::spec(
                    file,
                    format!("{loc}.derive.{cname}"),
                    format!("no collection '{cname}'"),
                )
            })?;
            // The entity in the variant's shape: the collection's schemas, patched.
            let shaped = patched.merged(&model.schemas, &format!("{loc}.schemas"))?;
            let mut list = Vec::new();
            for (path, text) in fields {
                let at = format!("{loc}.derive.{cname}.{path}");
                if path.contains('[') || shaped.at_path(path).is_none() {
                    return Err(Error::spec(
                        file,
                        &at,
                        format!(
                            "'{path}' is not a field of the variant's shape of '{cname}' (no [] \
                             paths)"
                        ),
                    ));
                }
                let t = crate::data::template::Template::parse(text)
                    .map_err(|e| Error::spec(file, &at, e))?;
                if !t.is_derived() {
                    return Err(Error::spec(
                        file,
                        &at,
                        "a derived field copies other fields: only {ref:..}, {slug:..}, {snake:..} and text",
                    ));
                }
                for r in t.refs() {
                    if model.node.at_path(&r).is_none() {
                        return Err(Error::spec(
                            file,
                            &at,
                            format!("'{r}' is not a field of collection '{cname}'"),
                        ));
                    }
                }
                list.push((path.clone(), t));
            }
            derive.insert(cname.clone(), list);
        }
        out.insert(
            vname.clone(),
            Arc::new(Variant {
                name: vname.as_str().into(),
                description: v.description.clone(),
                api: Arc::new(api),
                derive,
            }),
        );
    }
    Ok(out)
}

/// Apply a JSON merge patch (RFC 7386) to `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// Build an API from its parsed document; a variant passes the base API's collection models
/// (its data is the base API's, only its shapes differ).
fn build_api(
    file: &str,
    doc: Value,
    lines: Arc<Lines>,
    shared_models: Option<&BTreeMap<String, Arc<CollectionModel>>>,
) -> Result<Api> {
    let dialect = front::dialect(file, &doc)?;
    let mut problems = front::structure(file, &doc);
    let name = api_name(file);
    let root: RootExt = match doc.get("x-understudy") {
        Some(v) => ext::parse(file, "x-understudy", v)?,
        None => RootExt::default(),
    };
    let compiler = Compiler::new(file, &doc, dialect);
    // Static collections (fixed rows) first: other collections' `member-of` reads them.
    let mut models = BTreeMap::new();
    if let Some(shared) = shared_models {
        models = shared.clone();
    } else {
        let (statics, generated): (Vec<_>, Vec<_>) =
            root.collections.iter().partition(|(_, c)| c.rows.is_some());
        for (cname, cext) in statics.into_iter().chain(generated) {
            match CollectionModel::build(&name, file, cname, cext, &compiler, &models) {
                Ok(m) => {
                    models.insert(cname.clone(), Arc::new(m));
                }
                Err(e) => problems.push(e),
            }
        }
    }
    let schemes = load_schemes(file, &doc)?;
    let root_security = security_of(doc.get("security"));
    let mut operations = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            for method in METHODS {
                if let Some(op) = item.get(*method) {
                    match load_operation(
                        file,
                        &doc,
                        &compiler,
                        path,
                        method,
                        item,
                        op,
                        &root_security,
                        &models,
                        &schemes,
                    ) {
                        Ok(op) => operations.push(op),
                        Err(e) => problems.push(e),
                    }
                }
            }
        }
    }
    let base_path = match &root.base_path {
        Some(b) => b.trim_end_matches('/').to_string(),
        None => doc
            .pointer("/servers/0/url")
            .and_then(Value::as_str)
            .map(server_path)
            .unwrap_or_default(),
    };
    if !base_path.is_empty() && !base_path.starts_with('/') {
        return Err(Error::spec(
            file,
            "x-understudy.base-path",
            "must be empty or start with '/'",
        ));
    }
    if !problems.is_empty() {
        return Err(Error::many(problems));
    }
    let bad_request_status = root.bad_request_status.unwrap_or(400);
    Ok(Api {
        name,
        dialect,
        file: file.to_string(),
        base_path,
        doc,
        lines,
        root,
        bad_request_status,
        models,
        operations,
        schemes,
        variants: BTreeMap::new(),
        inferred_collections: Default::default(),
    })
}

/// The path part of a server URL, without a trailing slash.
fn server_path(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    match rest.find('/') {
        Some(i) => rest[i..].trim_end_matches('/').to_string(),
        None => String::new(),
    }
}

/// The fields of one collection that list operations read.
#[derive(Debug, Clone, Default)]
pub struct Indexed {
    /// Fields filtered on (declared filters and fixed `where`s).
    pub filtered: Vec<String>,
    /// Fields sorted on.
    pub sorted: Vec<String>,
    /// Fields that text filters (regular expressions, substrings) scan: worth computing
    /// before the first request, since such a filter reads every entity.
    pub scanned: Vec<String>,
}

/// Fields of a collection that list operations filter or sort on, per collection.
pub fn indexed_fields(api: &Api) -> BTreeMap<String, Indexed> {
    let mut out: BTreeMap<String, Indexed> = BTreeMap::new();
    for op in &api.operations {
        let Some(b) = &op.bound else { continue };
        let behaviour::Action::List(l) = &b.action else {
            continue;
        };
        let entry = out.entry(b.collection.clone()).or_default();
        entry.filtered.extend(l.fixed.keys().cloned());
        for f in &l.filters {
            entry.filtered.extend(f.fields.iter().cloned());
            if matches!(
                f.op,
                behaviour::FilterOp::Regex | behaviour::FilterOp::Contains { .. }
            ) {
                entry.scanned.extend(f.fields.iter().cloned());
            }
        }
        match &l.sort {
            behaviour::Sort::Dataset => {}
            behaviour::Sort::Fixed { field, .. } => entry.sorted.push(field.clone()),
            behaviour::Sort::Requested(o) => entry.sorted.extend(o.fields.iter().cloned()),
        }
    }
    for x in out.values_mut() {
        for v in [&mut x.filtered, &mut x.sorted, &mut x.scanned] {
            v.sort();
            v.dedup();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::StatusKey;

    #[test]
    fn status_ranks_are_the_formatted_comparisons() {
        let keys = [
            "200", "201", "4XX", "5XX", "0XX", "99", "default", "2xx", "20", "XX", "655XX", "+200",
            "020", "00XX", "656XX", "65535", "1000XX",
        ];
        for status in 0..=u16::MAX {
            for key in keys {
                let want = if key == status.to_string() {
                    Some(0)
                } else if key == format!("{}XX", status / 100) {
                    Some(1)
                } else if key == "default" {
                    Some(2)
                } else {
                    None
                };
                assert_eq!(StatusKey::parse(key).rank(status), want, "{key} {status}");
            }
        }
    }

    use super::*;

    #[test]
    fn embedded_specs_load() {
        let apis = load_embedded().unwrap();
        assert!(apis.len() >= 4, "{}", apis.len());
        for api in &apis {
            assert!(!api.operations.is_empty(), "{}", api.name);
        }
    }

    #[test]
    fn server_path_is_the_url_path() {
        assert_eq!(server_path("https://api.pipecat.daily.co/v1"), "/v1");
        assert_eq!(server_path("https://api.vectara.io"), "");
        assert_eq!(server_path("https://x.io/api/"), "/api");
    }

    #[test]
    fn syntax_errors_name_the_file_and_line() {
        let e = load_str("specs/bad.yaml", "openapi: 3.0.0\ninfo: [\n").unwrap_err();
        let s = e.to_string();
        assert!(
            s.starts_with("specs/bad.yaml:") && s.contains("line"),
            "{s}"
        );
    }
}
