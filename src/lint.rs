//! `understudy lint`: checking specs and scenario files without serving. Beyond what loading
//! already refuses (OpenAPI structure, unknown or inconsistent extensions, unresolvable schema
//! references), lint checks every `$ref` in the document, every example against its schema,
//! every documented error status against the API's error envelope, the generated data against
//! the response schemas, and every scenario against its API. Findings name file and location.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::api_error::ApiError;
use crate::contract::{self, Contract};
use crate::engine::{Config, Engine, Request};
use crate::scenario::Scenario;
use crate::spec::Api;
use crate::spec::behaviour::Action;
use crate::spec::schema::{escape, unescape};

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The served API would break its contract (or the data its schema).
    Error,
    /// A flaw of the document that does not stop serving (an example that contradicts its
    /// schema, a response schema that cannot be compiled for checking).
    Warning,
}

/// One finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub severity: Severity,
    pub file: String,
    /// 1-based, where the location could be found in the file.
    pub line: Option<usize>,
    pub location: String,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let line = self.line.map(|l| format!(":{l}")).unwrap_or_default();
        let kind = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        write!(
            f,
            "{kind}{}{line}: at {}: {}",
            self.file, self.location, self.message
        )
    }
}

/// A location as the line index knows it: a JSON pointer (`/paths/~1a/get/parameters/0`)
/// becomes `paths./a.get.parameters[0]` (an index only where `doc` has an array: `200` under
/// `responses` stays a key); a dotted location loses any trailing remark.
fn doc_path(location: &str, doc: &Value) -> String {
    let location = location.split(" (").next().unwrap_or(location);
    let Some(pointer) = location.strip_prefix('/') else {
        return location.to_string();
    };
    let mut out = String::new();
    let mut cur = Some(doc);
    for seg in pointer.split('/') {
        let seg = unescape(seg);
        let in_array = matches!(cur, Some(Value::Array(_)));
        cur = match cur {
            Some(Value::Array(a)) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            Some(Value::Object(m)) => m.get(&seg),
            _ => None,
        };
        if in_array {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

/// Entities generated per collection when checking data.
const SAMPLE: u64 = 25;

/// Lint loaded specs and scenarios.
pub fn lint(apis: Vec<Api>, scenarios: Vec<Scenario>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut contracts = BTreeMap::new();
    for api in &apis {
        refs(api, &api.doc, "", &mut out);
        let contract = Contract::new(api);
        match &contract {
            Ok(c) => examples(api, c.schemas(), &mut out),
            Err(e) => push(&mut out, api, "components.schemas", e.clone()),
        }
        match contract {
            Ok(c) => {
                for u in c.compile_all(api) {
                    warn(&mut out, api, "(response schemas)", u);
                }
                error_envelopes(api, &c, &mut out);
                contracts.insert(api.name.clone(), c);
            }
            Err(e) => push(&mut out, api, "(response schemas)", e),
        }
    }
    let cfg = Config {
        count: Some(SAMPLE),
        scenarios,
        ..Config::default()
    };
    let engine = match Engine::new(apis, &cfg) {
        Ok(e) => e,
        Err(e) => {
            out.push(Finding {
                severity: Severity::Error,
                file: "(dataset)".into(),
                line: None,
                location: "-".into(),
                message: e.to_string(),
            });
            return out;
        }
    };
    data(&engine, &contracts, &mut out);
    for sc in engine.sessions.scenarios.values() {
        if let Err(e) = engine.check_scenario(sc) {
            out.push(Finding {
                severity: Severity::Error,
                file: sc.file.clone(),
                line: None,
                location: "scenario".into(),
                message: e.to_string(),
            });
        }
    }
    out
}

fn push(
    out: &mut Vec<Finding>,
    api: &Api,
    location: impl Into<String>,
    message: impl Into<String>,
) {
    finding(out, Severity::Error, api, location.into(), message.into());
}

/// A warning: what does not stop serving.
fn warn(
    out: &mut Vec<Finding>,
    api: &Api,
    location: impl Into<String>,
    message: impl Into<String>,
) {
    finding(out, Severity::Warning, api, location.into(), message.into());
}

fn finding(
    out: &mut Vec<Finding>,
    severity: Severity,
    api: &Api,
    location: String,
    message: String,
) {
    out.push(Finding {
        severity,
        file: api.file.clone(),
        line: api.lines.line(&doc_path(&location, &api.doc)),
        location,
        message,
    });
}

/// Every local `$ref` resolves.
fn refs(api: &Api, v: &Value, at: &str, out: &mut Vec<Finding>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                match r.strip_prefix('#') {
                    Some(p) if api.doc.pointer(p).is_some() => {}
                    Some(_) => push(out, api, at, format!("$ref '{r}' points nowhere")),
                    None => push(
                        out,
                        api,
                        at,
                        format!("$ref '{r}' is not local; understudy never fetches"),
                    ),
                }
            }
            // Vendor extensions are not OpenAPI: their `$ref`s are theirs.
            for (k, x) in m.iter().filter(|(k, _)| !k.starts_with("x-")) {
                refs(api, x, &format!("{at}/{}", escape(k)), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                refs(api, x, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn check_example(
    api: &Api,
    schemas: &contract::Schemas,
    schema: &Value,
    example: &Value,
    at: &str,
    out: &mut Vec<Finding>,
) {
    match schemas.validator(schema) {
        Ok(v) => {
            if let Some(e) = v.iter_errors(example).next() {
                warn(
                    out,
                    api,
                    at,
                    format!(
                        "the example contradicts its schema: {e} (at {})",
                        e.instance_path()
                    ),
                );
            }
        }
        Err(e) => warn(out, api, at, format!("the schema does not compile: {e}")),
    }
}

/// Examples of schemas, media types and parameters agree with their schemas.
fn examples(api: &Api, schemas: &contract::Schemas, out: &mut Vec<Finding>) {
    fn walk(api: &Api, s: &contract::Schemas, v: &Value, at: &str, out: &mut Vec<Finding>) {
        let Some(m) = v.as_object() else {
            if let Some(a) = v.as_array() {
                for (i, x) in a.iter().enumerate() {
                    walk(api, s, x, &format!("{at}/{i}"), out);
                }
            }
            return;
        };
        // A media type or parameter: `schema` next to `example` / `examples`.
        if let Some(schema) = m.get("schema") {
            if let Some(ex) = m.get("example") {
                check_example(api, s, schema, ex, &format!("{at}/example"), out);
            }
            if let Some(exs) = m.get("examples").and_then(Value::as_object) {
                for (name, e) in exs {
                    if let Some(val) = e.get("value") {
                        check_example(api, s, schema, val, &format!("{at}/examples/{name}"), out);
                    }
                }
            }
        }
        // A schema with its own example (not a property literally named "example").
        let is_schema =
            m.contains_key("type") || m.contains_key("properties") || m.contains_key("allOf");
        if is_schema && let Some(ex) = m.get("example") {
            check_example(api, s, v, ex, &format!("{at}/example"), out);
        }
        for (k, x) in m {
            if k == "example" || k == "examples" || k.starts_with("x-") {
                continue;
            }
            walk(api, s, x, &format!("{at}/{}", escape(k)), out);
        }
    }
    walk(api, schemas, &api.doc, "", out);
}

/// Each documented error status, rendered in the API's envelope, matches its schema.
fn error_envelopes(api: &Api, contract: &Contract, out: &mut Vec<Finding>) {
    for (i, op) in api.operations.iter().enumerate() {
        for r in &op.responses {
            let Ok(status) = r.status.parse::<u16>() else {
                continue;
            };
            if status < 400 || r.schema.is_none() {
                continue;
            }
            // With and without a parameter, as both occur.
            let mut with_param = ApiError::param(status, "query", "limit", "limit: sample message");
            with_param.id = Some("sample-id".into());
            for e in [ApiError::new(status, "sample message"), with_param] {
                // As the server renders it: the declared envelope, or the documented body.
                let bytes =
                    crate::engine::op_error_response(api, op, &e, "req_0000000000000000").body;
                for problem in contract.check(api, i, status, &bytes) {
                    let location = format!(
                        "x-understudy.errors (for {} {} {status})",
                        op.method, op.path
                    );
                    if out
                        .iter()
                        .any(|f| f.location == location && f.message.ends_with(&problem))
                    {
                        continue;
                    }
                    // Without a declared envelope the body is the document's own: a
                    // mismatch is the document's (a message field with a format), a warning.
                    let declared =
                        api.root.errors.body.is_some() || !api.root.errors.by_status.is_empty();
                    let report = if declared { push } else { warn };
                    report(
                        out,
                        api,
                        format!(
                            "x-understudy.errors (for {} {} {status})",
                            op.method, op.path
                        ),
                        format!(
                            "the error envelope does not match the documented schema: {problem}"
                        ),
                    );
                }
            }
        }
    }
}

/// Generated data, as each operation shows it, matches the response schemas.
fn data(engine: &Engine, contracts: &BTreeMap<String, Contract>, out: &mut Vec<Finding>) {
    for m in engine.mounts() {
        let Some(contract) = contracts.get(&m.api.name) else {
            continue;
        };
        data_of(engine, m, None, &m.api, contract, out);
        for (name, v) in &m.api.variants {
            match Contract::new(&v.api) {
                Ok(c) => data_of(engine, m, Some(name), &v.api, &c, out),
                Err(e) => push(
                    out,
                    &m.api,
                    format!("x-understudy.variants.{name}"),
                    format!("the variant's schemas do not compile: {e}"),
                ),
            }
        }
    }
}

/// The generated data of one mounted API in one shape (the document's, or a variant's).
fn data_of(
    engine: &Engine,
    m: &crate::engine::Mount,
    variant: Option<&str>,
    api: &crate::spec::Api,
    contract: &Contract,
    out: &mut Vec<Finding>,
) {
    {
        let shape = variant.map_or(String::new(), |v| format!(", variant {v}"));
        let file = api.file.clone();
        let lines = api.lines.clone();
        let mut report = |op: &crate::spec::Operation, path: &str, problems: Vec<String>| {
            let x = op.bound.as_ref();
            let items = match x.map(|x| &x.action) {
                Some(Action::List(l)) => l.items.clone(),
                Some(Action::Get(key)) => key.item.clone(),
                _ => String::new(),
            };
            // A respond body is generated from the operation's own fields; entities from
            // their collection's.
            let respond = match x.map(|x| &x.action) {
                Some(Action::Respond(r)) => Some(&r.model),
                _ => None,
            };
            let (model, base) = match (respond, x) {
                (Some(m), _) => (
                    Some(&**m),
                    format!(
                        "paths.{}.{}.x-understudy",
                        op.path,
                        op.method.to_lowercase()
                    ),
                ),
                (None, Some(x)) => (
                    api.models.get(&x.collection).map(|m| &**m),
                    format!("x-understudy.collections.{}", x.collection),
                ),
                (None, None) => (None, "x-understudy.collections".to_string()),
            };
            for p in problems.into_iter().take(3) {
                let location = match model {
                    Some(model) => {
                        let list = x.is_some_and(|x| x.action.is_list());
                        generator_location(model, &base, &p, &items, list)
                    }
                    None => base.clone(),
                };
                out.push(Finding {
                    severity: Severity::Error,
                    file: file.clone(),
                    line: lines.line(&doc_path(&location, &api.doc)),
                    location,
                    message: format!(
                        "generated data does not match the schema ({} {path}{shape}): {p}",
                        op.method
                    ),
                });
            }
        };
        for (i, op) in api.operations.iter().enumerate() {
            // An inferred action the server does not use is no finding.
            let Some(x) = op.bound.as_ref().filter(|_| !m.answers_from_schema(i)) else {
                continue;
            };
            let Some(coll) = m.collections.get(&x.collection) else {
                continue;
            };
            let credentials = crate::auth::credentials(api, op, "lint").headers;
            // A scoped operation is reached inside the scope collection's first entity.
            let scope = x.scope.as_ref().and_then(|sc| {
                let c = m.collections.get(&sc.collection)?;
                (!c.is_empty()).then(|| (format!("{{{}}}", sc.param), c.key(0).to_string()))
            });
            let get = |path: &str| {
                let path = match &scope {
                    Some((slot, key)) => path.replace(slot, key),
                    None => path.to_string(),
                };
                let mut req = Request::get(&format!("{}{path}", m.prefix)).with_method(&op.method);
                // An operation that takes a body gets its schema's example (or `{}`).
                if let Some((_, schema)) = &op.request_body {
                    let example = schema
                        .get("example")
                        .cloned()
                        .unwrap_or_else(|| serde_json::json!({}));
                    req.body = bytes::Bytes::from(example.to_string());
                    req = req.header("content-type", "application/json");
                }
                for (k, v) in &credentials {
                    req = req.header(k, v);
                }
                if let Some(v) = variant {
                    req = req.header(crate::spec::VARIANT_HEADER, v);
                }
                // Each operation in its own session: a write checked here changes nothing
                // another check reads.
                req = req.header(crate::engine::SESSION_HEADER, &format!("lint-{i}"));
                engine.handle(&req)
            };
            match &x.action {
                Action::List(_) => {
                    let r = get(&op.path);
                    report(op, &op.path, contract.check(api, i, r.status, &r.body));
                    if r.status != 200 {
                        report(
                            op,
                            &op.path,
                            vec![format!("the list answered {}", r.status)],
                        );
                    }
                    for e in &x.expand {
                        let path = format!("{}?{}=true", op.path, e.param);
                        let r = get(&path);
                        report(op, &path, contract.check(api, i, r.status, &r.body));
                    }
                }
                Action::Write(_) => {
                    let param = x.action.key_param();
                    let n = if param.is_some() {
                        coll.len().min(SAMPLE as usize) as u32
                    } else {
                        1
                    };
                    for idx in 0..n {
                        let path = match param {
                            Some(p) => op.path_with(|q| (q == p).then(|| coll.key(idx).into())),
                            None => op.path.clone(),
                        };
                        let r = get(&path);
                        report(op, &path, contract.check(api, i, r.status, &r.body));
                        if r.status >= 500 {
                            report(
                                op,
                                &path,
                                vec![format!(
                                    "a write answered {}: {}",
                                    r.status,
                                    String::from_utf8_lossy(&r.body)
                                )],
                            );
                        }
                    }
                }
                Action::Get(_) | Action::Respond(_) => {
                    let param = x.action.key_param().unwrap_or_default();
                    for idx in 0..coll.len().min(SAMPLE as usize) as u32 {
                        let path = op.path_with(|p| (p == param).then(|| coll.key(idx).into()));
                        let r = get(&path);
                        report(op, &path, contract.check(api, i, r.status, &r.body));
                        if !(200..300).contains(&r.status) {
                            report(
                                op,
                                &path,
                                vec![format!(
                                    "an existing entity answered {}: {}",
                                    r.status,
                                    String::from_utf8_lossy(&r.body)
                                )],
                            );
                        }
                    }
                }
            }
        }
    }
}

/// The generator (or at least the collection) behind a problem at an instance path such as
/// `... at /agents/0/tools/available/1/id`.
fn generator_location(
    model: &crate::data::CollectionModel,
    base: &str,
    problem: &str,
    items: &str,
    list: bool,
) -> String {
    let base = base.to_string();
    let Some(at) = problem.rsplit(" at ").next().filter(|a| a.starts_with('/')) else {
        return base;
    };
    let mut segs: Vec<&str> = at.split('/').skip(1).collect();
    // Past the envelope: the list's items pointer and an index, or the detail's item pointer.
    let envelope = items.split('/').filter(|s| !s.is_empty()).count();
    let skip = if list {
        envelope + usize::from(!segs.is_empty())
    } else {
        envelope
    };
    segs = segs.into_iter().skip(skip).collect();
    let mut path = String::new();
    for s in segs {
        if s.chars().all(|c| c.is_ascii_digit()) {
            path.push_str("[]");
        } else {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(s);
        }
    }
    let mut best: Option<&String> = None;
    for k in model.fields.keys() {
        if (path == *k || path.starts_with(&format!("{k}.")) || path.starts_with(&format!("{k}[]")))
            && best.is_none_or(|b| k.len() > b.len())
        {
            best = Some(k);
        }
    }
    match best {
        Some(k) => format!("{base}.fields.{k}"),
        None if path.is_empty() => base,
        None => format!("{base} (field {path}, generated by default from its schema)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_specs_and_scenarios_lint_clean() {
        let apis = crate::spec::load_embedded().unwrap();
        let scenarios = crate::scenario::load_embedded().unwrap();
        let findings = lint(apis, scenarios);
        assert!(findings.is_empty(), "{findings:#?}");
    }

    #[test]
    fn finds_bad_refs_examples_and_envelopes() {
        let text = r##"
openapi: 3.0.3
info: {title: t, version: "1"}
x-understudy:
  errors: {body: {error: "{message}"}}
paths:
  /a:
    get:
      parameters:
        - {name: n, in: query, schema: {type: integer}, example: "seven"}
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {type: object, properties: {x: {type: string, example: 3}}}
        "404":
          description: nope
          content:
            application/json:
              schema: {type: object, required: [code], properties: {code: {type: string}}}
components:
  schemas:
    Dangling: {$ref: "#/components/schemas/Nowhere"}
"##;
        let api = crate::spec::load_str("specs/t.yaml", text).unwrap();
        let mut out = Vec::new();
        refs(&api, &api.doc, "", &mut out);
        let contract = Contract::new(&api).unwrap();
        examples(&api, contract.schemas(), &mut out);
        error_envelopes(&api, &contract, &mut out);
        let all: Vec<String> = out.iter().map(|f| f.to_string()).collect();
        let has = |s: &str| all.iter().any(|f| f.contains(s));
        assert!(has("points nowhere"), "{all:#?}");
        assert!(has("/paths/~1a/get/parameters/0/example"), "{all:#?}");
        assert!(has("properties/x/example"), "{all:#?}");
        assert!(has("error envelope does not match"), "{all:#?}");
        assert!(all.iter().all(|f| {
            f.trim_start_matches("warning: ")
                .starts_with("specs/t.yaml:")
        }));
        let example = out
            .iter()
            .find(|f| f.location.contains("parameters/0/example"))
            .unwrap();
        // An example that contradicts its schema does not stop serving: a warning.
        assert_eq!(example.severity, Severity::Warning);
        assert!(
            out.iter()
                .any(|f| f.message.contains("points nowhere") && f.severity == Severity::Error)
        );
        assert_eq!(example.line, Some(10), "{example}");
        assert_eq!(
            doc_path("/paths/~1a/get/parameters/0", &api.doc),
            "paths./a.get.parameters[0]"
        );
        let x = out
            .iter()
            .find(|f| f.location.contains("properties/x/example"))
            .unwrap();
        assert_eq!(x.line, Some(16), "{x}");
    }
}
