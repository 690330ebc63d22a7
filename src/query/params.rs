//! Query and path parameters: raw strings from the request parsed into typed JSON values by
//! their OpenAPI schema (`integer`, `number`, `boolean`, `string`, `array` of those with repeated
//! keys), and checked against `enum`, `minimum`/`maximum`, `minLength`/`maxLength` and `pattern`.
//! A violation is an [`ApiError`] naming the parameter and the rule.

use std::collections::HashMap;

use serde_json::Value;

use crate::api_error::ApiError;
use crate::spec::{Param, ParamIn};

/// Parsed parameters by name (only those present in the request).
pub type Params = HashMap<String, Value>;

/// Parse the query and path parameters of a request against `params`.
pub fn parse(
    params: &[Param],
    query: &[(String, String)],
    path: &[(String, String)],
    headers: &[(String, String)],
    status: u16,
) -> Result<Params, ApiError> {
    let mut out = Params::new();
    for p in params {
        let raw: Vec<&str> = match p.location {
            ParamIn::Query => query
                .iter()
                .filter(|(k, _)| *k == p.name)
                .map(|(_, v)| v.as_str())
                .collect(),
            ParamIn::Path => path
                .iter()
                .filter(|(k, _)| *k == p.name)
                .map(|(_, v)| v.as_str())
                .collect(),
            ParamIn::Header => {
                let lower = p.name.to_ascii_lowercase();
                headers
                    .iter()
                    .filter(|(k, _)| *k == lower)
                    .map(|(_, v)| v.as_str())
                    .collect()
            }
        };
        let loc = p.location.as_str();
        // A nullable parameter sent as the literal `null` is treated as not sent: a query string
        // has no other way to say null.
        // (With an `enum`, null must be listed to be allowed, as in OpenAPI 3.0.3.)
        let nullable = p.schema.get("nullable").and_then(Value::as_bool) == Some(true)
            && p.schema
                .get("enum")
                .and_then(Value::as_array)
                .is_none_or(|e| e.contains(&Value::Null));
        let raw: Vec<&str> = if nullable && raw.len() == 1 && raw[0] == "null" {
            Vec::new()
        } else {
            raw
        };
        if raw.is_empty() {
            if p.required {
                return Err(ApiError::param(
                    status,
                    loc,
                    &p.name,
                    format!("{} is required", p.name),
                ));
            }
            continue;
        }
        // A delimited array arrives as one value holding them all (`1,2,3`).
        let raw: Vec<&str> = match p.delimiter {
            Some(d) if ty(&p.schema) == "array" => raw
                .iter()
                .filter(|r| !r.is_empty())
                .flat_map(|r| r.split(d))
                .collect(),
            _ => raw,
        };
        let v = typed(&p.schema, &raw)
            .map_err(|m| ApiError::param(status, loc, &p.name, format!("{}: {m}", p.name)))?;
        out.insert(p.name.clone(), v);
    }
    Ok(out)
}

fn ty(schema: &Value) -> &str {
    schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("string")
}

/// Parse raw value(s) by schema; a scalar parameter given more than once is refused.
fn typed(schema: &Value, raw: &[&str]) -> Result<Value, String> {
    if ty(schema) == "array" {
        let items = schema.get("items").cloned().unwrap_or(Value::Null);
        let mut vals = Vec::with_capacity(raw.len());
        for r in raw {
            vals.push(scalar(&items, r)?);
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
            && vals.len() as u64 > max
        {
            return Err(format!("at most {max} values are allowed"));
        }
        return Ok(Value::Array(vals));
    }
    if raw.len() > 1 {
        return Err(format!(
            "given {} times, but it takes a single value",
            raw.len()
        ));
    }
    scalar(schema, raw.first().copied().unwrap_or(""))
}

fn scalar(schema: &Value, raw: &str) -> Result<Value, String> {
    let v = match ty(schema) {
        "integer" => raw
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("'{raw}' is not an integer"))?,
        "number" => raw
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("'{raw}' is not a number"))?,
        "boolean" => match raw.to_ascii_lowercase().as_str() {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return Err(format!("'{raw}' is not a boolean (true or false)")),
        },
        _ => Value::String(raw.to_string()),
    };
    check(schema, &v)?;
    Ok(v)
}

fn check(schema: &Value, v: &Value) -> Result<(), String> {
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        let allowed: Vec<&Value> = e.iter().filter(|x| !x.is_null()).collect();
        if !allowed.is_empty() && !allowed.contains(&v) {
            let names: Vec<String> = allowed
                .iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                .collect();
            return Err(format!(
                "'{}' is not one of {}",
                v.as_str().map_or_else(|| v.to_string(), str::to_string),
                names.join(", ")
            ));
        }
    }
    if let Some(n) = v.as_f64() {
        let excl_min = schema.get("exclusiveMinimum").and_then(Value::as_bool) == Some(true);
        let excl_max = schema.get("exclusiveMaximum").and_then(Value::as_bool) == Some(true);
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && (n < min || (excl_min && n == min))
        {
            return Err(format!("{n} is below the minimum {min}"));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && (n > max || (excl_max && n == max))
        {
            return Err(format!("{n} is above the maximum {max}"));
        }
    }
    if let Some(s) = v.as_str() {
        let len = s.chars().count() as u64;
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            return Err(format!("longer than {max} characters"));
        }
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            return Err(format!("shorter than {min} characters"));
        }
        if let Some(p) = schema.get("pattern").and_then(Value::as_str)
            && let Some(re) = compiled(p)
            && !re.is_match(s)
        {
            return Err(format!("'{s}' does not match the pattern {p}"));
        }
    }
    Ok(())
}

/// A parameter pattern, compiled once (patterns come from the loaded documents, so the cache is
/// bounded by them; one that does not compile is never checked). Shared, not cloned: a cloned
/// `Regex` starts its search caches afresh.
fn compiled(pattern: &str) -> Option<std::sync::Arc<regex::Regex>> {
    type Cache = std::collections::HashMap<String, Option<std::sync::Arc<regex::Regex>>>;
    static CACHE: std::sync::OnceLock<std::sync::Mutex<Cache>> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = crate::sync::lock(cache);
    if let Some(re) = map.get(pattern) {
        return re.clone();
    }
    let re = regex::Regex::new(pattern).ok().map(std::sync::Arc::new);
    map.insert(pattern.to_string(), re.clone());
    re
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn param(name: &str, schema: Value) -> Param {
        Param {
            example: None,
            name: name.into(),
            location: ParamIn::Query,
            required: false,
            schema,
            delimiter: None,
        }
    }

    #[test]
    fn delimited_arrays_split_on_their_delimiter() {
        let ints = json!({"type": "array", "items": {"type": "integer"}});
        let p = Param {
            delimiter: Some(','),
            ..param("ids", ints)
        };
        let got = parse(
            std::slice::from_ref(&p),
            &q(&[("ids", "1,2,3")]),
            &[],
            &[],
            400,
        )
        .unwrap();
        assert_eq!(got["ids"], json!([1, 2, 3]));
        let got = parse(&[p], &q(&[("ids", "")]), &[], &[], 400).unwrap();
        assert_eq!(got["ids"], json!([]));
        let pipes = Param {
            delimiter: Some('|'),
            ..param("t", json!({"type": "array", "items": {"type": "string"}}))
        };
        let got = parse(&[pipes], &q(&[("t", "a,b|c")]), &[], &[], 400).unwrap();
        assert_eq!(got["t"], json!(["a,b", "c"]));
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn parses_types_and_arrays() {
        let ps = [
            param(
                "limit",
                json!({"type": "integer", "minimum": 1, "maximum": 100}),
            ),
            param("enabled", json!({"type": "boolean"})),
            param(
                "tags",
                json!({"type": "array", "items": {"type": "string"}}),
            ),
            param("order", json!({"type": "string", "enum": ["asc", "desc"]})),
        ];
        let got = parse(
            &ps,
            &q(&[
                ("limit", "5"),
                ("enabled", "true"),
                ("tags", "a"),
                ("tags", "b"),
                ("x", "1"),
            ]),
            &[],
            &[],
            400,
        )
        .unwrap();
        assert_eq!(got["limit"], json!(5));
        assert_eq!(got["enabled"], json!(true));
        assert_eq!(got["tags"], json!(["a", "b"]));
        assert!(!got.contains_key("x"));
    }

    #[test]
    fn names_the_parameter_and_rule() {
        let ps = [
            param(
                "limit",
                json!({"type": "integer", "minimum": 1, "maximum": 100}),
            ),
            param("order", json!({"type": "string", "enum": ["asc", "desc"]})),
        ];
        for (query, want) in [
            (("limit", "101"), "above the maximum 100"),
            (("limit", "0"), "below the minimum 1"),
            (("limit", "ten"), "'ten' is not an integer"),
            (("order", "up"), "'up' is not one of asc, desc"),
        ] {
            let e = parse(&ps, &q(&[query]), &[], &[], 422).unwrap_err();
            assert_eq!(e.status, 422);
            assert_eq!(e.param.as_deref(), Some(query.0));
            assert!(e.message.contains(want), "{}", e.message);
        }
        let e = parse(
            &ps,
            &q(&[("order", "asc"), ("order", "desc")]),
            &[],
            &[],
            400,
        )
        .unwrap_err();
        assert!(e.message.contains("given 2 times"), "{}", e.message);
    }
}
