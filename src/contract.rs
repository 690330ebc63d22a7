//! Contract checks: validating a response body against the schema its operation documents for
//! that status. OpenAPI schemas are translated to plain JSON Schema in the draft the document's
//! version means (draft 4 for OpenAPI 3.0, whose schema dialect extends it; 2020-12 for 3.1):
//! `nullable` becomes a `null` alternative, the two spellings of exclusive bounds are
//! converted, and OpenAPI-only keywords are dropped. The component schemas are registered once
//! per document and every validator's `$ref`s resolve into that copy. Formats (`date-time`,
//! ...) are validated. No remote `$ref` is ever fetched.

use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use siphasher::sip::SipHasher13;

use crate::spec::Api;
use crate::spec::schema::Dialect;

/// Compiled validators for one API, by (operation index, status).
pub struct Contract {
    /// Each validator is compiled when first needed: a large document's schemas reach far
    /// (every response of a 4 MB document compiled up front costs gigabytes), and most
    /// operations of a run are never called.
    validators: HashMap<(usize, String), std::sync::OnceLock<Option<jsonschema::Validator>>>,
    /// The document's registered components, shared with its other validators.
    schemas: Arc<Schemas>,
    /// Responses whose schema could not be compiled, with why (they are not checked).
    unchecked: std::sync::Mutex<Vec<String>>,
    /// Bodies already found valid, by (operation, status, hash of the bytes): the same bytes
    /// against the same schema give the same verdict, so a repeated answer (a page of unchanged
    /// entities) is not validated again.
    passed: quick_cache::sync::Cache<(usize, u16, u64), ()>,
}

/// Bodies remembered as valid per API.
const PASSED_MEMO: usize = 16_384;

/// The `$ref` base under which a document's components are registered for validators.
const DOC_URI: &str = "urn:understudy:document";

/// Keywords whose value is a map of names to schemas (names are not keywords).
const SCHEMA_MAPS: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];

/// Translate an OpenAPI schema to plain JSON Schema: draft 4 for 3.0 documents, 2020-12 for
/// 3.1 ones. Both dialects' spellings are accepted in both (real 3.1 documents keep 3.0's
/// `nullable` and boolean `exclusiveMinimum`; 3.0 documents use 3.1's `type: 'null'`), so the
/// validator never silently loses a null. `prefix` is put before local `$ref`s (`#/...`).
pub fn to_json_schema(s: &Value, dialect: Dialect, prefix: &str) -> Value {
    match s {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                match k.as_str() {
                    "nullable" | "discriminator" | "example" | "xml" | "externalDocs"
                    | "deprecated" | "readOnly" | "writeOnly" => {}
                    k if k.starts_with("x-") => {}
                    "$ref" => {
                        let r = v.as_str().unwrap_or_default();
                        let r = match r.strip_prefix('#') {
                            Some(rest) => format!("{prefix}#{rest}"),
                            None => r.to_string(),
                        };
                        out.insert(k.to_string(), Value::String(r));
                    }
                    "examples" if dialect == Dialect::V30 => {}
                    "const" if dialect == Dialect::V30 => {
                        out.insert("enum".into(), Value::Array(vec![v.clone()]));
                    }
                    // Values, not schemas: copied as they are.
                    "const" | "examples" => {
                        out.insert(k.to_string(), v.clone());
                    }
                    k if SCHEMA_MAPS.contains(&k) => {
                        let props = v
                            .as_object()
                            .map(|p| {
                                p.iter()
                                    .map(|(name, ps)| {
                                        (name.clone(), to_json_schema(ps, dialect, prefix))
                                    })
                                    .collect::<Map<_, _>>()
                            })
                            .unwrap_or_default();
                        out.insert(k.to_string(), Value::Object(props));
                    }
                    "required" => {
                        // Some documents repeat names; 2020-12 wants them unique.
                        let mut names: Vec<Value> = Vec::new();
                        for n in v.as_array().into_iter().flatten() {
                            if !names.contains(n) {
                                names.push(n.clone());
                            }
                        }
                        out.insert(k.to_string(), Value::Array(names));
                    }
                    "enum" | "default" | "type" => {
                        out.insert(k.to_string(), v.clone());
                    }
                    _ => {
                        out.insert(k.to_string(), to_json_schema(v, dialect, prefix));
                    }
                }
            }
            exclusive_bounds(&mut out, dialect);
            closed_all_of(&mut out);
            if m.get("nullable").and_then(Value::as_bool) == Some(true) {
                match out.get_mut("type") {
                    Some(Value::String(t)) => {
                        let t = t.clone();
                        out.insert("type".into(), json!([t, "null"]));
                    }
                    Some(Value::Array(ts)) => {
                        if !ts.contains(&json!("null")) {
                            ts.push(json!("null"));
                        }
                    }
                    _ => return json!({"anyOf": [{"type": "null"}, Value::Object(out)]}),
                }
                if let Some(Value::Array(e)) = out.get_mut("enum")
                    && !e.contains(&Value::Null)
                {
                    e.push(Value::Null);
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| to_json_schema(x, dialect, prefix))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `additionalProperties: false` on an `allOf` or on its branches, where the parts together
/// declare the properties (a common way documents spell "exactly these fields"): taken as
/// meant, each closed part also accepting the names the other parts declare. Read literally,
/// JSON Schema would allow no value at all.
fn closed_all_of(out: &mut Map<String, Value>) {
    let closed = |s: &Value| s.get("additionalProperties") == Some(&Value::Bool(false));
    let Some(Value::Array(branches)) = out.get("allOf") else {
        return;
    };
    if !closed(&Value::Object(out.clone())) && !branches.iter().any(closed) {
        return;
    }
    let mut names: Vec<String> = branches
        .iter()
        .chain(std::iter::once(&Value::Object(out.clone())))
        .filter_map(|b| b.get("properties").and_then(Value::as_object))
        .flat_map(|p| p.keys().cloned())
        .collect();
    names.sort();
    names.dedup();
    let open_to = |part: &mut Map<String, Value>| {
        if part.get("additionalProperties") != Some(&Value::Bool(false)) {
            return;
        }
        let props = part
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(p) = props {
            for n in &names {
                p.entry(n.clone()).or_insert(Value::Bool(true));
            }
        }
    };
    if let Some(Value::Array(branches)) = out.get_mut("allOf") {
        for b in branches.iter_mut() {
            if let Value::Object(m) = b {
                open_to(m);
            }
        }
    }
    open_to(out);
}

/// `exclusiveMinimum`/`exclusiveMaximum` in the target draft's spelling: a flag beside
/// `minimum` in draft 4, the bound itself in 2020-12.
fn exclusive_bounds(out: &mut Map<String, Value>, dialect: Dialect) {
    for (plain, excl) in [
        ("minimum", "exclusiveMinimum"),
        ("maximum", "exclusiveMaximum"),
    ] {
        match (dialect, out.get(excl).cloned()) {
            (Dialect::V31, Some(Value::Bool(flag))) => {
                out.remove(excl);
                if flag && let Some(b) = out.remove(plain) {
                    out.insert(excl.into(), b);
                }
            }
            (Dialect::V30, Some(Value::Number(b))) => {
                // A stricter inclusive bound beside it wins.
                let stricter = out.get(plain).and_then(Value::as_f64).is_some_and(|p| {
                    let e = b.as_f64().unwrap_or(p);
                    if plain == "minimum" { p > e } else { p < e }
                });
                if stricter {
                    out.remove(excl);
                } else {
                    out.insert(plain.into(), Value::Number(b));
                    out.insert(excl.into(), Value::Bool(true));
                }
            }
            _ => {}
        }
    }
}

/// A factory of validators for one document: its component schemas, translated, registered
/// once under [`DOC_URI`] so that every validator resolves `$ref`s against the same copy.
pub struct Schemas {
    registry: jsonschema::Registry<'static>,
    dialect: Dialect,
}

impl Schemas {
    pub fn new(api: &Api) -> Result<Self, String> {
        let dialect = api.dialect;
        let mut schemas = Map::new();
        if let Some(m) = api
            .doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
        {
            for (k, v) in m {
                schemas.insert(k.clone(), to_json_schema(v, dialect, ""));
            }
        }
        let doc = json!({ "components": { "schemas": schemas } });
        let resource = draft(dialect).create_resource(doc);
        let registry = jsonschema::Registry::new()
            .draft(draft(dialect))
            .add(DOC_URI, resource)
            .and_then(|b| b.prepare())
            .map_err(|e| format!("{}: components.schemas: {e}", api.file))?;
        Ok(Schemas { registry, dialect })
    }

    /// A validator for an OpenAPI schema of the document.
    pub fn validator(&self, schema: &Value) -> Result<jsonschema::Validator, String> {
        let root = match to_json_schema(schema, self.dialect, DOC_URI) {
            Value::Object(m) => Value::Object(m),
            other => json!({ "allOf": [other] }),
        };
        jsonschema::options()
            .with_draft(draft(self.dialect))
            .with_registry(&self.registry)
            .should_validate_formats(true)
            // Draft 4 (OpenAPI 3.0's) predates `uuid`, which 3.0 documents use all the same.
            .with_format("uuid", is_uuid)
            .build(&root)
            .map_err(|e| e.to_string())
    }

    /// A validator for one component schema.
    pub fn component(&self, name: &str) -> Result<jsonschema::Validator, String> {
        self.validator(&json!({ "$ref": format!("#/components/schemas/{}", crate::spec::schema::escape(name)) }))
    }
}

/// RFC 4122's textual form: 8-4-4-4-12 hexadecimal digits.
fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn draft(dialect: Dialect) -> jsonschema::Draft {
    match dialect {
        Dialect::V30 => jsonschema::Draft::Draft4,
        Dialect::V31 => jsonschema::Draft::Draft202012,
    }
}

/// Validators for operations' JSON request bodies, by operation index: (required, validator).
pub fn request_body_validators(
    schemas: &Schemas,
    api: &Api,
) -> std::collections::BTreeMap<usize, (bool, jsonschema::Validator)> {
    let mut out = std::collections::BTreeMap::new();
    for (i, op) in api.operations.iter().enumerate() {
        if let Some((required, schema)) = &op.request_body {
            match schemas.validator(schema) {
                Ok(v) => {
                    out.insert(i, (*required, v));
                }
                Err(e) => tracing::warn!(
                    "{}: {} {} requestBody: not validated, its schema does not compile: {e}",
                    api.file,
                    op.method,
                    op.path
                ),
            }
        }
    }
    out
}

impl Contract {
    /// Compile every documented response schema of `api`.
    pub fn new(api: &Api) -> Result<Self, String> {
        Ok(Self::with_schemas(Arc::new(Schemas::new(api)?), api))
    }

    /// [`Contract::new`] over components already registered.
    pub fn with_schemas(schemas: Arc<Schemas>, api: &Api) -> Self {
        Self::build(schemas, api, |_, _| true)
    }

    /// The registered components the contract's validators resolve against.
    pub fn schemas(&self) -> &Arc<Schemas> {
        &self.schemas
    }

    /// Compile the schemas of the success responses that operations without an action
    /// generate (their answers are checked before they are sent, strict or not).
    pub fn for_generated(schemas: Arc<Schemas>, api: &Api) -> Self {
        Self::build(schemas, api, |op, status| {
            op.generated.as_ref().is_some_and(|g| {
                matches!(g.body, crate::spec::GeneratedBody::Json { .. })
                    && status == g.status.to_string()
            })
        })
    }

    fn build(
        schemas: Arc<Schemas>,
        api: &Api,
        wanted: impl Fn(&crate::spec::Operation, &str) -> bool,
    ) -> Self {
        let mut validators = HashMap::new();
        for (i, op) in api.operations.iter().enumerate() {
            for r in op.responses.iter().filter(|r| wanted(op, &r.status)) {
                if r.schema.is_some() {
                    validators.insert((i, r.status.clone()), std::sync::OnceLock::new());
                }
            }
        }
        Contract {
            validators,
            schemas,
            unchecked: Default::default(),
            passed: quick_cache::sync::Cache::new(PASSED_MEMO),
        }
    }

    /// The validator of (operation, documented status), compiled on first use. A schema the
    /// validator cannot compile (an unresolvable `$dynamicRef`) leaves that response unchecked,
    /// said once, rather than refusing to serve.
    fn validator(&self, api: &Api, op: usize, status: &str) -> Option<&jsonschema::Validator> {
        let cell = self.validators.get(&(op, status.to_string()))?;
        cell.get_or_init(|| {
            let operation = api.operations.get(op)?;
            let schema = operation
                .responses
                .iter()
                .find(|r| r.status == status)?
                .schema
                .as_ref()?;
            match self.schemas.validator(schema) {
                Ok(v) => Some(v),
                Err(e) => {
                    let m = format!(
                        "{}: {} {} response {status}: not checked, its schema does not compile: {e}",
                        api.file, operation.method, operation.path
                    );
                    tracing::warn!("{m}");
                    crate::sync::lock(&self.unchecked).push(m);
                    None
                }
            }
        })
        .as_ref()
    }

    /// Compile every validator now; returns the responses left unchecked, with why.
    pub fn compile_all(&self, api: &Api) -> Vec<String> {
        let keys: Vec<(usize, String)> = self.validators.keys().cloned().collect();
        for (op, status) in keys {
            self.validator(api, op, &status);
        }
        crate::sync::lock(&self.unchecked).clone()
    }

    /// Check a response of operation `op` (index into `api.operations`). Returns the list of
    /// violations (empty when the body conforms, or the status is documented without a body).
    pub fn check(&self, api: &Api, op: usize, status: u16, body: &[u8]) -> Vec<String> {
        let Some(operation) = api.operations.get(op) else {
            return vec![format!("no operation #{op}")];
        };
        let Some(def) = operation.response(status) else {
            return vec![format!(
                "{} {}: status {status} is not documented",
                operation.method, operation.path
            )];
        };
        let Some(v) = self.validator(api, op, &def.status) else {
            return Vec::new();
        };
        // A 204 or 304 has no body, whatever media type the document lists for it.
        if body.is_empty() && matches!(status, 204 | 304) {
            return Vec::new();
        }
        let memo = (op, status, {
            let mut h = SipHasher13::new_with_keys(0x636f_6e74, 0x7261_6374);
            h.write(body);
            h.finish()
        });
        if self.passed.get(&memo).is_some() {
            return Vec::new();
        }
        let instance: Value = match serde_json::from_slice(body) {
            Ok(x) => x,
            Err(e) => return vec![format!("body is not JSON: {e}")],
        };
        if v.is_valid(&instance) {
            self.passed.insert(memo, ());
            return Vec::new();
        }
        // A value valid under more than one branch of a `oneOf` is the document's overlap
        // (branches that do not exclude each other), not a wrong answer: no value could be
        // valid under exactly one of them. `lint` reports such schemas.
        let problems: Vec<String> = v
            .iter_errors(&instance)
            .filter(|e| {
                !matches!(
                    e.kind(),
                    jsonschema::error::ValidationErrorKind::OneOfMultipleValid { .. }
                )
            })
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if problems.is_empty() {
            self.passed.insert(memo, ());
        }
        problems
    }

    /// The index of the operation serving `method` at `path` (a template, as in the spec).
    pub fn operation_index(api: &Api, method: &str, path: &str) -> Option<usize> {
        api.operations
            .iter()
            .position(|o| o.method.eq_ignore_ascii_case(method) && o.path == path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_becomes_a_null_alternative() {
        let s = to_json_schema(
            &json!({"type": "string", "nullable": true, "enum": ["a"]}),
            Dialect::V30,
            "",
        );
        assert_eq!(s, json!({"type": ["string", "null"], "enum": ["a", null]}));
        let s = to_json_schema(
            &json!({"nullable": true, "allOf": [{"$ref": "#/components/schemas/X"}]}),
            Dialect::V31,
            "urn:d",
        );
        assert_eq!(
            s,
            json!({"anyOf": [{"type": "null"}, {"allOf": [{"$ref": "urn:d#/components/schemas/X"}]}]})
        );
    }

    #[test]
    fn a_property_named_like_a_keyword_is_kept() {
        let s = to_json_schema(
            &json!({"type": "object", "properties": {"example": {"type": "string"}}}),
            Dialect::V30,
            "",
        );
        assert_eq!(s["properties"]["example"], json!({"type": "string"}));
    }

    #[test]
    fn exclusive_bounds_take_the_drafts_spelling() {
        let s = to_json_schema(
            &json!({"type": "integer", "minimum": 0, "exclusiveMinimum": true}),
            Dialect::V31,
            "",
        );
        assert_eq!(s, json!({"type": "integer", "exclusiveMinimum": 0}));
        let s = to_json_schema(
            &json!({"type": "integer", "exclusiveMaximum": 5, "const": 3}),
            Dialect::V30,
            "",
        );
        assert_eq!(
            s,
            json!({"type": "integer", "maximum": 5, "exclusiveMaximum": true, "enum": [3]})
        );
    }
}
