//! Contract checks: validating a response body against the schema its operation documents for
//! that status. OpenAPI 3.0 schemas are translated to JSON Schema (draft 4, which OpenAPI 3.0's
//! schema dialect extends): `nullable` becomes a `null` alternative, `$ref`s point into a
//! `definitions` copy of the components, and OpenAPI-only keywords are dropped. Formats
//! (`date-time`, ...) are validated. No remote `$ref` is ever fetched.

use std::collections::HashMap;
use std::hash::Hasher;

use serde_json::{Map, Value, json};
use siphasher::sip::SipHasher13;

use crate::spec::Api;

/// Compiled validators for one API, by (operation index, status).
pub struct Contract {
    validators: HashMap<(usize, String), jsonschema::Validator>,
    /// Bodies already found valid, by (operation, status, hash of the bytes): the same bytes
    /// against the same schema give the same verdict, so a repeated answer (a page of unchanged
    /// entities) is not validated again.
    passed: quick_cache::sync::Cache<(usize, u16, u64), ()>,
}

/// Bodies remembered as valid per API.
const PASSED_MEMO: usize = 16_384;

/// Translate an OpenAPI 3.0 schema to JSON Schema draft 4.
pub fn to_json_schema(s: &Value) -> Value {
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
                        let r = r.replace("#/components/schemas/", "#/definitions/");
                        out.insert(k.to_string(), Value::String(r));
                    }
                    "properties" | "patternProperties" => {
                        let props = v
                            .as_object()
                            .map(|p| {
                                p.iter()
                                    .map(|(name, ps)| (name.clone(), to_json_schema(ps)))
                                    .collect::<Map<_, _>>()
                            })
                            .unwrap_or_default();
                        out.insert(k.to_string(), Value::Object(props));
                    }
                    _ => {
                        out.insert(k.to_string(), to_json_schema(v));
                    }
                }
            }
            if m.get("nullable").and_then(Value::as_bool) == Some(true) {
                if let Some(t) = out.get("type").and_then(Value::as_str) {
                    let t = t.to_string();
                    out.insert("type".into(), json!([t, "null"]));
                    if let Some(Value::Array(e)) = out.get_mut("enum")
                        && !e.contains(&Value::Null)
                    {
                        e.push(Value::Null);
                    }
                } else {
                    return json!({"anyOf": [{"type": "null"}, Value::Object(out)]});
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(to_json_schema).collect()),
        other => other.clone(),
    }
}

/// The document's component schemas, translated, as a `definitions` map.
fn definitions(api: &Api) -> Map<String, Value> {
    api.doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), to_json_schema(v)))
                .collect()
        })
        .unwrap_or_default()
}

/// A draft-4 validator for an OpenAPI schema, with the document's components (`defs`, from
/// [`definitions`]) available to its `$ref`s.
fn compile(schema: &Value, defs: &Map<String, Value>) -> Result<jsonschema::Validator, String> {
    let mut root = match to_json_schema(schema) {
        Value::Object(m) => m,
        other => {
            let mut m = Map::new();
            m.insert("allOf".into(), json!([other]));
            m
        }
    };
    root.insert("definitions".into(), Value::Object(defs.clone()));
    jsonschema::draft4::options()
        .should_validate_formats(true)
        .build(&Value::Object(root))
        .map_err(|e| e.to_string())
}

/// A validator for any OpenAPI schema of `api`.
pub fn validator(api: &Api, schema: &Value) -> Result<jsonschema::Validator, String> {
    compile(schema, &definitions(api))
}

/// A validator for one component schema of `api`.
pub fn component_validator(api: &Api, name: &str) -> Result<jsonschema::Validator, String> {
    validator(
        api,
        &json!({ "$ref": format!("#/components/schemas/{name}") }),
    )
    .map_err(|e| format!("{}: components.schemas.{name}: {e}", api.file))
}

/// Validators for operations' JSON request bodies, by operation index: (required, validator).
pub fn request_body_validators(
    api: &Api,
) -> Result<std::collections::BTreeMap<usize, (bool, jsonschema::Validator)>, String> {
    let defs = definitions(api);
    let mut out = std::collections::BTreeMap::new();
    for (i, op) in api.operations.iter().enumerate() {
        if let Some((required, schema)) = &op.request_body {
            let v = compile(schema, &defs)
                .map_err(|e| format!("{}: {} {} requestBody: {e}", api.file, op.method, op.path))?;
            out.insert(i, (*required, v));
        }
    }
    Ok(out)
}

impl Contract {
    /// Compile every documented response schema of `api`.
    pub fn new(api: &Api) -> Result<Self, String> {
        let defs = definitions(api);
        let mut validators = HashMap::new();
        for (i, op) in api.operations.iter().enumerate() {
            for r in &op.responses {
                let Some(schema) = &r.schema else { continue };
                let v = compile(schema, &defs).map_err(|e| {
                    format!(
                        "{}: {} {} response {}: {e}",
                        api.file, op.method, op.path, r.status
                    )
                })?;
                validators.insert((i, r.status.clone()), v);
            }
        }
        Ok(Contract {
            validators,
            passed: quick_cache::sync::Cache::new(PASSED_MEMO),
        })
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
        let Some(v) = self.validators.get(&(op, def.status.clone())) else {
            return Vec::new();
        };
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
        v.iter_errors(&instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
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
        let s = to_json_schema(&json!({"type": "string", "nullable": true, "enum": ["a"]}));
        assert_eq!(s, json!({"type": ["string", "null"], "enum": ["a", null]}));
        let s = to_json_schema(
            &json!({"nullable": true, "allOf": [{"$ref": "#/components/schemas/X"}]}),
        );
        assert_eq!(
            s,
            json!({"anyOf": [{"type": "null"}, {"allOf": [{"$ref": "#/definitions/X"}]}]})
        );
    }

    #[test]
    fn a_property_named_like_a_keyword_is_kept() {
        let s = to_json_schema(
            &json!({"type": "object", "properties": {"example": {"type": "string"}}}),
        );
        assert_eq!(s["properties"]["example"], json!({"type": "string"}));
    }
}
