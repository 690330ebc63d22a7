//! Errors as a client sees them: an [`ApiError`] (status, message, the parameter or id concerned)
//! rendered into the API's own envelope from the spec's `x-understudy.errors` templates.

use serde_json::{Map, Value};

use crate::spec::ext::ErrorsExt;

/// A request-level error, before rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub param: Option<String>,
    pub location: Option<&'static str>,
    pub id: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            param: None,
            location: None,
            id: None,
            headers: Vec::new(),
        }
    }

    /// A bad parameter.
    pub fn param(
        status: u16,
        location: &'static str,
        name: &str,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            param: Some(name.to_string()),
            location: Some(location),
            ..ApiError::new(status, message)
        }
    }

    /// A missing entity.
    pub fn not_found(id: &str, message: impl Into<String>) -> Self {
        ApiError {
            id: Some(id.to_string()),
            ..ApiError::new(404, message)
        }
    }
}

/// The standard reason phrase as a snake-case code (`not_found`).
pub fn reason_code(status: u16) -> String {
    let reason = reason_phrase(status);
    reason
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Reason phrases for the statuses understudy sends.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

/// Render `err` with the API's templates.
pub fn render(cfg: &ErrorsExt, err: &ApiError, request_id: &str) -> Value {
    let status = err.status.to_string();
    let template = cfg
        .by_status
        .get(&status)
        .map(|s| &s.body)
        .or(cfg.body.as_ref());
    let code = cfg
        .codes
        .get(&status)
        .or_else(|| cfg.codes.get("default"))
        .cloned()
        .unwrap_or_else(|| reason_code(err.status));
    let vars: [(&str, Option<&str>); 7] = [
        ("message", Some(&err.message)),
        ("code", Some(&code)),
        ("status", Some(&status)),
        ("param", err.param.as_deref()),
        ("location", err.location),
        ("id", err.id.as_deref()),
        ("request_id", Some(request_id)),
    ];
    match template {
        Some(t) => fill(t, &vars),
        None => serde_json::json!({ "error": err.message, "code": code }),
    }
}

/// An error body generated from the schema an operation documents for its status, with the
/// message in the field meant for it (the first string property named `message`, `msg`,
/// `error_description`, `detail`, `error`, `title` or `description`, at the top, inside a single
/// object property such as `error`, or in the first element of an array property such as
/// `errors`) and a numeric `status`/`code`/`status_code` set to the status (the body without
/// the message when the schema has no field for it). `None` when no body can be modelled.
pub fn documented(
    api: &crate::spec::Api,
    def: &crate::spec::ResponseDef,
    err: &ApiError,
    request_id: &str,
) -> Option<Value> {
    use std::hash::Hasher;
    let model = def
        .error_model
        .get_or_init(|| {
            let node = def.node.clone()?;
            crate::data::CollectionModel::for_body(
                &api.file,
                "errors",
                "error",
                node,
                &Default::default(),
                &Default::default(),
            )
            .ok()
            .map(std::sync::Arc::new)
        })
        .as_deref()?;
    let mut h = siphasher::sip::SipHasher13::new_with_keys(0x6572_726f, u64::from(err.status));
    h.write(request_id.as_bytes());
    let seed = h.finish();
    // A few draws: an `errors` array may come out empty. A schema with no field for the
    // message still gets its own (valid) body rather than a foreign envelope.
    (0..8)
        .find_map(|draw| {
            let mut body = crate::data::Entity::new(model, seed.wrapping_add(draw), 0).full();
            place_message(&mut body, &err.message, err.status, 0).then_some(body)
        })
        .or_else(|| Some(crate::data::Entity::new(model, seed, 0).full()))
}

const MESSAGE_FIELDS: &[&str] = &[
    "message",
    "msg",
    "err",
    "error_message",
    "errorMessage",
    "reason",
    "error_description",
    "detail",
    "error",
    "title",
    "description",
];

fn place_message(v: &mut Value, message: &str, status: u16, depth: usize) -> bool {
    match v {
        Value::Object(m) => {
            for key in ["status", "code", "status_code", "statusCode"] {
                if let Some(slot) = m.get_mut(key)
                    && slot.is_number()
                {
                    *slot = Value::from(status);
                }
            }
            if let Some(key) = MESSAGE_FIELDS
                .iter()
                .find(|k| m.get(**k).is_some_and(Value::is_string))
            {
                m.insert((*key).to_string(), Value::String(message.to_string()));
                return true;
            }
            if depth >= 2 {
                return false;
            }
            m.values_mut()
                .filter(|x| x.is_object() || x.is_array())
                .any(|x| place_message(x, message, status, depth + 1))
        }
        Value::Array(a) => a
            .first_mut()
            .is_some_and(|x| place_message(x, message, status, depth + 1)),
        _ => false,
    }
}

/// Substitute placeholders in every string of `t`. An object entry whose key holds a
/// placeholder without a value is dropped; a string that is exactly such a placeholder becomes
/// empty; inside longer text a placeholder without a value is left out.
fn fill(t: &Value, vars: &[(&str, Option<&str>)]) -> Value {
    match t {
        Value::String(s) => Value::String(subst(s, vars).0),
        Value::Array(a) => Value::Array(a.iter().map(|v| fill(v, vars)).collect()),
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let (key, complete) = subst(k, vars);
                if complete {
                    out.insert(key, fill(v, vars));
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// Replace `{name}` placeholders; also says whether every placeholder had a value.
fn subst(s: &str, vars: &[(&str, Option<&str>)]) -> (String, bool) {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut complete = true;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match vars.iter().find(|(n, _)| *n == name) {
                    Some((_, Some(v))) => out.push_str(v),
                    Some((_, None)) => complete = false,
                    None => out.push_str(&rest[start..start + end + 2]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    (out, complete)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: Value) -> ErrorsExt {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn renders_default_and_per_status_templates() {
        let c = cfg(json!({
            "body": {"messages": ["{code}: {message}"], "request_id": "{request_id}"},
            "by-status": {"400": {"body": {"field_errors": {"{param}": "{message}"}, "messages": ["{message}"]}}},
            "codes": {"400": "invalid_request", "429": "rate_limit_exceeded"}
        }));
        let e = ApiError::param(400, "query", "limit", "limit must be at most 100");
        assert_eq!(
            render(&c, &e, "r1"),
            json!({"field_errors": {"limit": "limit must be at most 100"}, "messages": ["limit must be at most 100"]})
        );
        let e = ApiError::new(400, "bad");
        assert_eq!(
            render(&c, &e, "r1"),
            json!({"field_errors": {}, "messages": ["bad"]})
        );
        let e = ApiError::new(429, "slow down");
        assert_eq!(
            render(&c, &e, "r2"),
            json!({"messages": ["rate_limit_exceeded: slow down"], "request_id": "r2"})
        );
    }

    #[test]
    fn a_missing_placeholder_inside_text_is_left_out() {
        let c = cfg(json!({"body": {"error": "{message} (param {param})", "p": "{param}"}}));
        let e = ApiError::new(401, "missing credentials");
        assert_eq!(
            render(&c, &e, "r"),
            json!({"error": "missing credentials (param )", "p": ""})
        );
    }

    #[test]
    fn falls_back_to_reason_codes() {
        let c = cfg(json!({"body": {"error": "{message}", "code": "{code}"}}));
        let e = ApiError::not_found("x", "Agent x not found");
        assert_eq!(
            render(&c, &e, "r"),
            json!({"error": "Agent x not found", "code": "not_found"})
        );
        assert_eq!(reason_code(422), "unprocessable_entity");
    }
}
