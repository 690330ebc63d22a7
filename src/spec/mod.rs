//! Loading API specs: OpenAPI 3.0 files (YAML or JSON) with `x-understudy` extensions, from the
//! copies embedded in the binary or from a folder. Loading is all-or-nothing: any error names
//! the file and the location, and no API is served half-configured.

pub mod ext;
pub mod schema;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use include_dir::{Dir, include_dir};
use regex::Regex;
use serde_json::{Map, Value};

use crate::data::CollectionModel;
use crate::error::{Error, Result};
use ext::{ActionKind, OperationExt, RootExt, SchemeExt};
use schema::{Compiler, Node};

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
    pub root: RootExt,
    pub bad_request_status: u16,
    pub models: BTreeMap<String, Arc<CollectionModel>>,
    pub operations: Vec<Operation>,
    pub schemes: BTreeMap<String, Scheme>,
}

/// A path segment of an operation's template.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    Lit(String),
    Param(String),
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
}

/// A documented response of an operation.
#[derive(Debug, Clone)]
pub struct ResponseDef {
    /// `"200"`, `"404"`, `"default"`, ...
    pub status: String,
    /// The JSON body schema, raw (for validation) and compiled (for projection).
    pub schema: Option<Value>,
    pub node: Option<Node>,
    /// Response headers the spec marks required.
    pub required_headers: Vec<String>,
}

/// One operation.
#[derive(Debug)]
pub struct Operation {
    pub method: String,
    pub path: String,
    pub segments: Vec<Segment>,
    pub operation_id: Option<String>,
    pub params: Vec<Param>,
    /// Security alternatives: each inner list must all be satisfied; empty outer = no auth.
    pub security: Vec<Vec<String>>,
    pub ext: Option<OperationExt>,
    pub key_pattern: Option<Regex>,
    pub responses: Vec<ResponseDef>,
}

impl Operation {
    /// The documented response for `status` (exact, then `4XX`-style, then `default`).
    pub fn response(&self, status: u16) -> Option<&ResponseDef> {
        let exact = status.to_string();
        let range = format!("{}XX", status / 100);
        self.responses
            .iter()
            .find(|r| r.status == exact)
            .or_else(|| self.responses.iter().find(|r| r.status == range))
            .or_else(|| self.responses.iter().find(|r| r.status == "default"))
    }
}

/// How a security scheme carries credentials.
#[derive(Debug, Clone)]
pub enum SchemeKind {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// A header whose whole value is the credential.
    Header(String),
    /// A scheme understudy cannot check (oauth2 flows, cookies...): never satisfied.
    Unsupported(String),
}

/// A security scheme.
#[derive(Debug, Clone)]
pub struct Scheme {
    pub kind: SchemeKind,
    pub token_pattern: Option<Regex>,
}

/// Load every spec embedded in the binary.
pub fn load_embedded() -> Result<Vec<Api>> {
    let mut files: Vec<_> = EMBEDDED
        .files()
        .filter(|f| is_spec_name(&f.path().to_string_lossy()))
        .collect();
    files.sort_by_key(|f| f.path().to_path_buf());
    files
        .iter()
        .map(|f| {
            let name = f.path().to_string_lossy().to_string();
            let text = f.contents_utf8().ok_or_else(|| Error::SpecSyntax {
                file: format!("specs/{name}"),
                message: "not UTF-8".into(),
            })?;
            load_str(&format!("specs/{name}"), text)
        })
        .collect()
}

/// Load every `*.yaml`, `*.yml` or `*.json` spec in `dir`.
pub fn load_dir(dir: &Path) -> Result<Vec<Api>> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_spec_name(&p.to_string_lossy()))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(Error::Config(format!(
            "{}: no spec files (*.yaml, *.yml, *.json)",
            dir.display()
        )));
    }
    paths.iter().map(|p| load_file(p)).collect()
}

/// Load one spec file.
pub fn load_file(path: &Path) -> Result<Api> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    load_str(&path.to_string_lossy(), &text)
}

fn is_spec_name(name: &str) -> bool {
    [".yaml", ".yml", ".json"].iter().any(|e| name.ends_with(e))
}

/// Parse YAML (a superset of JSON) into JSON, turning non-string map keys (`200:`) into strings.
pub fn parse_yaml(file: &str, text: &str) -> Result<Value> {
    let y: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| Error::SpecSyntax {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    Ok(yaml_to_json(y))
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
    let doc = parse_yaml(file, text)?;
    // Structural check of the OpenAPI document itself.
    let _typed: openapiv3::OpenAPI = serde_json::from_value(doc.clone()).map_err(|e| {
        Error::spec(
            file,
            "(document)",
            format!("not a valid OpenAPI 3.0 document: {e}"),
        )
    })?;
    let name = api_name(file);
    let root: RootExt = match doc.get("x-understudy") {
        Some(v) => ext::parse(file, "x-understudy", v)?,
        None => RootExt::default(),
    };
    let empty = Map::new();
    let components = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let compiler = Compiler { file, components };
    let mut models = BTreeMap::new();
    for (cname, cext) in &root.collections {
        let m = CollectionModel::build(&name, file, cname, cext, &compiler)?;
        models.insert(cname.clone(), Arc::new(m));
    }
    let schemes = load_schemes(file, &doc)?;
    let root_security = security_of(doc.get("security"));
    let mut operations = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            for method in METHODS {
                if let Some(op) = item.get(*method) {
                    operations.push(load_operation(
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
                    )?);
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
    let bad_request_status = root.bad_request_status.unwrap_or(400);
    Ok(Api {
        name,
        file: file.to_string(),
        base_path,
        doc,
        root,
        bad_request_status,
        models,
        operations,
        schemes,
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

fn security_of(v: Option<&Value>) -> Option<Vec<Vec<String>>> {
    let list = v?.as_array()?;
    Some(
        list.iter()
            .map(|req| {
                req.as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default()
            })
            .collect(),
    )
}

fn load_schemes(file: &str, doc: &Value) -> Result<BTreeMap<String, Scheme>> {
    let mut out = BTreeMap::new();
    let Some(schemes) = doc
        .pointer("/components/securitySchemes")
        .and_then(Value::as_object)
    else {
        return Ok(out);
    };
    for (name, s) in schemes {
        let loc = format!("components.securitySchemes.{name}");
        let ty = s.get("type").and_then(Value::as_str).unwrap_or("");
        let kind = match ty {
            "http"
                if s.get("scheme")
                    .and_then(Value::as_str)
                    .is_some_and(|x| x.eq_ignore_ascii_case("bearer")) =>
            {
                SchemeKind::Bearer
            }
            "apiKey" if s.get("in").and_then(Value::as_str) == Some("header") => {
                let h = s.get("name").and_then(Value::as_str).unwrap_or("");
                SchemeKind::Header(h.to_ascii_lowercase())
            }
            other => SchemeKind::Unsupported(other.to_string()),
        };
        let sext: SchemeExt = match s.get("x-understudy") {
            Some(v) => ext::parse(file, &format!("{loc}.x-understudy"), v)?,
            None => SchemeExt::default(),
        };
        let token_pattern = sext
            .token_pattern
            .map(|p| {
                Regex::new(&p).map_err(|e| {
                    Error::spec(
                        file,
                        format!("{loc}.x-understudy.token-pattern"),
                        e.to_string(),
                    )
                })
            })
            .transpose()?;
        out.insert(
            name.clone(),
            Scheme {
                kind,
                token_pattern,
            },
        );
    }
    Ok(out)
}

/// Resolve a `$ref` to `#/components/<kind>/<name>` in `doc`.
fn deref<'a>(file: &str, doc: &'a Value, v: &'a Value, loc: &str) -> Result<&'a Value> {
    match v.get("$ref").and_then(Value::as_str) {
        None => Ok(v),
        Some(r) => {
            let pointer = r.strip_prefix('#').ok_or_else(|| {
                Error::spec(
                    file,
                    loc,
                    format!("only local $refs are supported, not '{r}'"),
                )
            })?;
            doc.pointer(pointer)
                .ok_or_else(|| Error::spec(file, loc, format!("$ref '{r}' points nowhere")))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn load_operation(
    file: &str,
    doc: &Value,
    compiler: &Compiler,
    path: &str,
    method: &str,
    item: &Value,
    op: &Value,
    root_security: &Option<Vec<Vec<String>>>,
    models: &BTreeMap<String, Arc<CollectionModel>>,
    schemes: &BTreeMap<String, Scheme>,
) -> Result<Operation> {
    let loc = format!("paths.{path}.{method}");
    let segments = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(p) => Segment::Param(p.to_string()),
                None => Segment::Lit(s.to_string()),
            },
        )
        .collect();
    let mut params: Vec<Param> = Vec::new();
    let item_params = item.get("parameters").and_then(Value::as_array);
    let op_params = op.get("parameters").and_then(Value::as_array);
    for (i, p) in item_params
        .into_iter()
        .flatten()
        .chain(op_params.into_iter().flatten())
        .enumerate()
    {
        let ploc = format!("{loc}.parameters[{i}]");
        let p = deref(file, doc, p, &ploc)?;
        let name = p
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let location = match p.get("in").and_then(Value::as_str) {
            Some("query") => ParamIn::Query,
            Some("path") => ParamIn::Path,
            Some("header") => ParamIn::Header,
            _ => continue, // cookies are not checked
        };
        let schema = match p.get("schema") {
            Some(s) => deref(file, doc, s, &ploc)?.clone(),
            None => Value::Object(Map::new()),
        };
        let param = Param {
            required: p.get("required").and_then(Value::as_bool).unwrap_or(false)
                || location == ParamIn::Path,
            name,
            location,
            schema,
        };
        // Operation-level parameters override path-level ones of the same name and location.
        params.retain(|q| !(q.name == param.name && q.location == param.location));
        params.push(param);
    }
    let security = security_of(op.get("security"))
        .or_else(|| root_security.clone())
        .unwrap_or_default();
    for alt in &security {
        for s in alt {
            if !schemes.contains_key(s) {
                return Err(Error::spec(
                    file,
                    format!("{loc}.security"),
                    format!("unknown security scheme '{s}'"),
                ));
            }
        }
    }
    let mut responses = Vec::new();
    if let Some(rs) = op.get("responses").and_then(Value::as_object) {
        for (status, r) in rs {
            let rloc = format!("{loc}.responses.{status}");
            let r = deref(file, doc, r, &rloc)?;
            let schema = r
                .pointer("/content/application~1json/schema")
                .cloned()
                .or_else(|| {
                    r.get("content")
                        .and_then(Value::as_object)
                        .and_then(|c| c.values().next())
                        .and_then(|m| m.get("schema"))
                        .cloned()
                });
            let node = match &schema {
                Some(s) => Some(compiler.compile(s, &format!("{rloc}.schema"))?),
                None => None,
            };
            let required_headers = r
                .get("headers")
                .and_then(Value::as_object)
                .map(|hs| {
                    hs.iter()
                        .filter(|(_, h)| {
                            deref(file, doc, h, &rloc)
                                .ok()
                                .and_then(|h| h.get("required"))
                                .and_then(Value::as_bool)
                                == Some(true)
                        })
                        .map(|(k, _)| k.clone())
                        .collect()
                })
                .unwrap_or_default();
            responses.push(ResponseDef {
                status: status.clone(),
                schema,
                node,
                required_headers,
            });
        }
    }
    let opext: Option<OperationExt> = match op.get("x-understudy") {
        Some(v) => Some(ext::parse(file, &format!("{loc}.x-understudy"), v)?),
        None => None,
    };
    let mut key_pattern = None;
    if let Some(x) = &opext {
        check_operation_ext(file, &loc, x, models, &params, &responses)?;
        key_pattern = x
            .key_pattern
            .as_deref()
            .map(|p| {
                Regex::new(p).map_err(|e| {
                    Error::spec(
                        file,
                        format!("{loc}.x-understudy.key-pattern"),
                        e.to_string(),
                    )
                })
            })
            .transpose()?;
    }
    Ok(Operation {
        method: method.to_ascii_uppercase(),
        path: path.to_string(),
        segments,
        operation_id: op
            .get("operationId")
            .and_then(Value::as_str)
            .map(str::to_string),
        params,
        security,
        ext: opext,
        key_pattern,
        responses,
    })
}

/// Cross-checks between an operation's extension and the rest of the document.
fn check_operation_ext(
    file: &str,
    loc: &str,
    x: &OperationExt,
    models: &BTreeMap<String, Arc<CollectionModel>>,
    params: &[Param],
    responses: &[ResponseDef],
) -> Result<()> {
    let xloc = format!("{loc}.x-understudy");
    let model = models.get(&x.collection).ok_or_else(|| {
        Error::spec(
            file,
            format!("{xloc}.collection"),
            format!(
                "no collection '{}' in x-understudy.collections",
                x.collection
            ),
        )
    })?;
    let has_param = |name: &str| params.iter().any(|p| p.name == name);
    let need_param = |name: &str, at: &str| -> Result<()> {
        if has_param(name) {
            Ok(())
        } else {
            Err(Error::spec(
                file,
                format!("{xloc}.{at}"),
                format!("'{name}' is not a declared parameter of the operation"),
            ))
        }
    };
    let need_field = |path: &str, at: &str| -> Result<()> {
        if model.node.at_path(path).is_some() {
            Ok(())
        } else {
            Err(Error::spec(
                file,
                format!("{xloc}.{at}"),
                format!("'{path}' is not a field of collection '{}'", x.collection),
            ))
        }
    };
    if !responses.iter().any(|r| r.status == "200") {
        return Err(Error::spec(
            file,
            loc,
            "an x-understudy operation documents no 200 response",
        ));
    }
    match x.action {
        ActionKind::Get => {
            let kp = x
                .key_param
                .as_deref()
                .ok_or_else(|| Error::spec(file, &xloc, "a get action needs key-param"))?;
            need_param(kp, "key-param")?;
        }
        ActionKind::List => {
            for f in x.where_.keys() {
                need_field(f, "where")?;
            }
            for (i, f) in x.filters.iter().enumerate() {
                let at = format!("filters[{i}]");
                need_param(&f.param, &at)?;
                if let Some(ap) = &f.all_param {
                    need_param(ap, &at)?;
                }
                for field in f.field.iter().chain(&f.fields) {
                    need_field(field, &at)?;
                }
                if f.field.is_none() && f.fields.is_empty() {
                    return Err(Error::spec(file, format!("{xloc}.{at}"), "names no field"));
                }
            }
            for (i, e) in x.expand.iter().enumerate() {
                need_param(&e.param, &format!("expand[{i}]"))?;
            }
            if let Some(p) = &x.pagination {
                if let Some(l) = &p.limit {
                    need_param(&l.param, "pagination.limit")?;
                }
                if let Some(t) = &p.token {
                    need_param(&t.param, "pagination.token")?;
                }
                if let Some(o) = &p.order {
                    need_param(&o.param, "pagination.order")?;
                    need_param(&o.by_param, "pagination.order")?;
                    for f in &o.fields {
                        need_field(f, "pagination.order.fields")?;
                    }
                }
                if let Some(s) = &p.sort {
                    need_field(&s.field, "pagination.sort")?;
                }
            }
        }
    }
    if let Some(inc) = &x.include {
        need_param(&inc.param, "include")?;
        for fields in inc.fields.values() {
            for f in fields {
                need_field(f, "include")?;
            }
        }
    }
    Ok(())
}

/// Fields of a collection that list operations filter or sort on, per collection.
pub fn indexed_fields(api: &Api) -> BTreeMap<String, (Vec<String>, Vec<String>)> {
    let mut out: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for op in &api.operations {
        let Some(x) = &op.ext else { continue };
        if x.action != ActionKind::List {
            continue;
        }
        let entry = out.entry(x.collection.clone()).or_default();
        for f in x.where_.keys() {
            entry.0.push(f.clone());
        }
        for f in &x.filters {
            entry.0.extend(f.field.iter().cloned());
            entry.0.extend(f.fields.iter().cloned());
        }
        if let Some(p) = &x.pagination {
            if let Some(o) = &p.order {
                entry.1.extend(o.fields.iter().cloned());
            }
            if let Some(s) = &p.sort {
                entry.1.push(s.field.clone());
            }
        }
    }
    for (cols, sorts) in out.values_mut() {
        cols.sort();
        cols.dedup();
        sorts.sort();
        sorts.dedup();
    }
    out
}

#[cfg(test)]
mod tests {
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
