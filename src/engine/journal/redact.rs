//! Credentials, never shown: which header, query and body names hold them (the usual ones,
//! names that say so, and those the loaded specs' security schemes use), and the redaction of
//! headers, query strings and JSON or form bodies when a journal entry is shown or logged.

use serde_json::{Map, Value};

/// Which header and query names hold credentials, never shown.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    headers: Vec<String>,
    query: Vec<String>,
}

/// Names always treated as credentials, besides those the loaded specs' security schemes use.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "x-understudy-admin-token",
];
const SECRET_QUERY: &[&str] = &[
    "api_key",
    "apikey",
    "access_token",
    "token",
    "key",
    "secret",
];
/// Parts of a name that mark it as a credential.
const SECRET_WORDS: &[&str] = &[
    "token", "secret", "password", "api-key", "api_key", "apikey",
];

/// What replaces a credential.
pub const REDACTED: &str = "[redacted]";

impl Redactor {
    /// A redactor for the given extra header and query parameter names (the security
    /// schemes' own).
    pub fn new(headers: Vec<String>, query: Vec<String>) -> Self {
        Redactor {
            headers: headers
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            query,
        }
    }

    /// A redactor for the header and query names these security schemes carry credentials
    /// in, besides the usual ones.
    pub fn for_schemes<'a>(schemes: impl Iterator<Item = &'a crate::spec::Scheme>) -> Self {
        let (mut headers, mut query) = (Vec::new(), Vec::new());
        for s in schemes {
            match &s.kind {
                crate::spec::SchemeKind::Header(h) => headers.push(h.clone()),
                crate::spec::SchemeKind::Query(q) => query.push(q.clone()),
                _ => {}
            }
        }
        Redactor::new(headers, query)
    }

    pub fn secret_header(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        SECRET_HEADERS.contains(&name.as_str())
            || self.headers.contains(&name)
            || SECRET_WORDS.iter().any(|w| name.contains(w))
    }

    pub fn secret_query(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        SECRET_QUERY.contains(&lower.as_str())
            || self.query.iter().any(|q| q == name)
            || SECRET_WORDS.iter().any(|w| lower.contains(w))
    }

    /// A query string with the values of credential parameters replaced.
    pub fn query(&self, query: &str) -> String {
        if query.is_empty() {
            return String::new();
        }
        query
            .split('&')
            .map(|pair| {
                let (k, _) = pair.split_once('=').unwrap_or((pair, ""));
                let name = percent_encoding::percent_decode_str(k).decode_utf8_lossy();
                if self.secret_query(&name) {
                    format!("{k}={REDACTED}")
                } else {
                    pair.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    /// A body with credentials replaced: in a JSON document, the values of members whose
    /// names mark a credential (`password`, `client_secret`, `api_key`...); in a form, the
    /// values of such fields. Anything else is shown as it is.
    pub fn body(&self, text: &str) -> String {
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            return match serde_json::from_str::<Value>(text) {
                Ok(mut v) => {
                    if self.redact_json(&mut v) {
                        v.to_string()
                    } else {
                        text.to_string()
                    }
                }
                // Cut short (or not JSON): shown as it is.
                Err(_) => text.to_string(),
            };
        }
        let form = !text.is_empty()
            && !text.contains(char::is_whitespace)
            && text.split('&').all(|p| p.contains('='));
        if form {
            self.query(text)
        } else {
            text.to_string()
        }
    }

    /// Replace credential members in place; whether any was.
    fn redact_json(&self, v: &mut Value) -> bool {
        match v {
            Value::Object(m) => {
                let mut any = false;
                for (k, x) in m.iter_mut() {
                    if self.secret_query(k) && !x.is_object() && !x.is_array() && !x.is_null() {
                        *x = Value::String(REDACTED.into());
                        any = true;
                    } else {
                        any |= self.redact_json(x);
                    }
                }
                any
            }
            Value::Array(a) => a.iter_mut().fold(false, |any, x| self.redact_json(x) | any),
            _ => false,
        }
    }

    /// Headers as a JSON object (repeated names joined with ", "), credentials replaced.
    pub fn headers<'a>(&self, h: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Value {
        let mut out = Map::new();
        for (name, v) in h {
            let secret = self.secret_header(name);
            let v = if secret {
                REDACTED.into()
            } else {
                String::from_utf8_lossy(v)
            };
            match out.get_mut(name) {
                Some(Value::String(s)) if !secret => {
                    s.push_str(", ");
                    s.push_str(&v);
                }
                Some(_) => {}
                None => {
                    out.insert(name.to_string(), Value::String(v.into_owned()));
                }
            }
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_never_shown() {
        let r = Redactor::new(vec!["X-Vendor-Key".into()], vec!["sig".into()]);
        let mut h = http::HeaderMap::new();
        h.insert(
            "authorization",
            http::HeaderValue::from_static("Bearer abc"),
        );
        h.insert("x-vendor-key", http::HeaderValue::from_static("abc"));
        h.insert("x-session-token", http::HeaderValue::from_static("abc"));
        h.insert("accept", http::HeaderValue::from_static("application/json"));
        let shown = r.headers(h.iter().map(|(k, v)| (k.as_str(), v.as_bytes())));
        assert_eq!(shown["authorization"], REDACTED);
        assert_eq!(shown["x-vendor-key"], REDACTED);
        assert_eq!(shown["x-session-token"], REDACTED);
        assert_eq!(shown["accept"], "application/json");
        assert_eq!(
            r.query("limit=2&sig=abc&api_key=k&q=x"),
            format!("limit=2&sig={REDACTED}&api_key={REDACTED}&q=x")
        );
        // Bodies: JSON members and form fields that hold credentials.
        let shown =
            r.body(r#"{"name":"a","password":"p","auth":{"client_secret":"s"},"tokens":[1]}"#);
        assert!(
            !shown.contains("\"p\"") && !shown.contains("\"s\""),
            "{shown}"
        );
        assert!(shown.contains("\"name\":\"a\""), "{shown}");
        assert!(
            shown.contains("\"tokens\":[1]"),
            "lists are walked, not replaced: {shown}"
        );
        assert_eq!(
            r.body("user=a&password=b"),
            format!("user=a&password={REDACTED}")
        );
        assert_eq!(r.body("plain text"), "plain text");
        assert_eq!(r.body(r#"{"cut": "#), r#"{"cut": "#);
    }
}
