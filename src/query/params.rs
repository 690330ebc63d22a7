//! Query and path parameters: raw strings from the request parsed into typed JSON values by
//! their OpenAPI schema (`integer`, `number`, `boolean`, `string`, `array` of those with repeated
//! keys), and checked against `enum`, `minimum`/`maximum`, `minLength`/`maxLength` and `pattern`.
//! A violation is an [`ApiError`] naming the parameter and the rule.

use std::collections::HashMap;

use serde_json::Value;

use crate::api_error::ApiError;
use crate::spec::param::{ParamRule, ScalarRule, ScalarType};
use crate::spec::{Param, ParamIn};

/// Parsed parameters by name (only those present in the request).
pub type Params = HashMap<String, Value>;

/// Parse the query and path parameters of a request against `params`.
pub fn parse<'a>(
    params: &[Param],
    query: &'a [(String, String)],
    path: &'a [(&'a str, String)],
    headers: &'a http::HeaderMap,
    status: u16,
) -> Result<Params, ApiError> {
    let mut out = Params::new();
    for p in params {
        let mut raw: Vec<&str> = match p.location {
            ParamIn::Query => values(query, &p.name),
            ParamIn::Path => values(path, &p.name),
            // Header names are case-insensitive; a value that is not text is not sent.
            ParamIn::Header => headers
                .get_all(p.name.as_str())
                .iter()
                .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
                .collect(),
        };
        let loc = p.location.as_str();
        // A nullable parameter sent as the literal `null` is treated as not sent.
        if p.null_is_absent && raw.len() == 1 && raw[0] == "null" {
            raw.clear();
        }
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
        if let Some(d) = p.delimiter
            && p.rule.is_array()
        {
            raw = raw
                .iter()
                .filter(|r| !r.is_empty())
                .flat_map(|r| r.split(d))
                .collect();
        }
        let v = typed(&p.rule, &raw)
            .map_err(|m| ApiError::param(status, loc, &p.name, format!("{}: {m}", p.name)))?;
        out.insert(p.name.clone(), v);
    }
    Ok(out)
}

/// The values of the pairs named `name`, in order.
fn values<'a, K: AsRef<str>>(pairs: &'a [(K, String)], name: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(k, _)| k.as_ref() == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Parse raw value(s) by their rule; a scalar parameter given more than once is refused.
fn typed(rule: &ParamRule, raw: &[&str]) -> Result<Value, String> {
    match rule {
        ParamRule::Array { items, max_items } => {
            let mut vals = Vec::with_capacity(raw.len());
            for r in raw {
                vals.push(scalar(items, r)?);
            }
            if let Some(max) = *max_items
                && vals.len() as u64 > max
            {
                return Err(format!("at most {max} values are allowed"));
            }
            Ok(Value::Array(vals))
        }
        ParamRule::Scalar(_) if raw.len() > 1 => Err(format!(
            "given {} times, but it takes a single value",
            raw.len()
        )),
        ParamRule::Scalar(rule) => scalar(rule, raw.first().copied().unwrap_or("")),
    }
}

fn scalar(rule: &ScalarRule, raw: &str) -> Result<Value, String> {
    let v = match rule.ty {
        ScalarType::Integer => raw
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("'{raw}' is not an integer"))?,
        ScalarType::Number => raw
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("'{raw}' is not a number"))?,
        ScalarType::Boolean => {
            if ["true", "1"].iter().any(|t| raw.eq_ignore_ascii_case(t)) {
                Value::Bool(true)
            } else if ["false", "0"].iter().any(|t| raw.eq_ignore_ascii_case(t)) {
                Value::Bool(false)
            } else {
                return Err(format!("'{raw}' is not a boolean (true or false)"));
            }
        }
        ScalarType::String => Value::String(raw.to_string()),
    };
    check(rule, &v)?;
    Ok(v)
}

fn check(rule: &ScalarRule, v: &Value) -> Result<(), String> {
    if let Some(allowed) = &rule.allowed
        && !allowed.contains(v)
    {
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
    if let Some(n) = v.as_f64() {
        if let Some(min) = rule.min
            && (n < min.at || (min.exclusive && n == min.at))
        {
            return Err(format!("{n} is below the minimum {}", min.at));
        }
        if let Some(max) = rule.max
            && (n > max.at || (max.exclusive && n == max.at))
        {
            return Err(format!("{n} is above the maximum {}", max.at));
        }
    }
    if let Some(s) = v.as_str() {
        if rule.min_length.is_some() || rule.max_length.is_some() {
            let len = s.chars().count() as u64;
            if let Some(max) = rule.max_length
                && len > max
            {
                return Err(format!("longer than {max} characters"));
            }
            if let Some(min) = rule.min_length
                && len < min
            {
                return Err(format!("shorter than {min} characters"));
            }
        }
        if let Some((p, re)) = &rule.pattern
            && !re.is_match(s)
        {
            return Err(format!("'{s}' does not match the pattern {p}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn param(name: &str, schema: Value) -> Param {
        let (rule, null_is_absent) = ParamRule::of(&schema);
        Param {
            rule,
            null_is_absent,
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
            &http::HeaderMap::new(),
            400,
        )
        .unwrap();
        assert_eq!(got["ids"], json!([1, 2, 3]));
        let got = parse(&[p], &q(&[("ids", "")]), &[], &http::HeaderMap::new(), 400).unwrap();
        assert_eq!(got["ids"], json!([]));
        let pipes = Param {
            delimiter: Some('|'),
            ..param("t", json!({"type": "array", "items": {"type": "string"}}))
        };
        let got = parse(
            &[pipes],
            &q(&[("t", "a,b|c")]),
            &[],
            &http::HeaderMap::new(),
            400,
        )
        .unwrap();
        assert_eq!(got["t"], json!(["a,b", "c"]));
    }

    #[test]
    fn header_parameters_match_names_in_any_case() {
        let p = Param {
            location: ParamIn::Header,
            ..param("X-Request-Limit", json!({"type": "integer"}))
        };
        let mut h = http::HeaderMap::new();
        h.insert("x-request-limit", http::HeaderValue::from_static("7"));
        let got = parse(std::slice::from_ref(&p), &[], &[], &h, 400).unwrap();
        assert_eq!(got["X-Request-Limit"], json!(7));
        let got = parse(&[p], &[], &[], &http::HeaderMap::new(), 400).unwrap();
        assert!(got.is_empty());
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
            &http::HeaderMap::new(),
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
            let e = parse(&ps, &q(&[query]), &[], &http::HeaderMap::new(), 422).unwrap_err();
            assert_eq!(e.status, 422);
            assert_eq!(e.param.as_deref(), Some(query.0));
            assert!(e.message.contains(want), "{}", e.message);
        }
        let e = parse(
            &ps,
            &q(&[("order", "asc"), ("order", "desc")]),
            &[],
            &http::HeaderMap::new(),
            400,
        )
        .unwrap_err();
        assert!(e.message.contains("given 2 times"), "{}", e.message);
    }
}
