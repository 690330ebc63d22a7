//! What a parameter's schema asks of its raw values, read once at load: the type a raw string
//! is parsed into, whether it is an array, and the `enum`, bounds, lengths and pattern its
//! values are checked against (the query layer applies them to each request).

use std::sync::Arc;

use serde_json::Value;

/// The type a raw parameter value is parsed into (`type` missing or not one of these: string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScalarType {
    Integer,
    Number,
    Boolean,
    String,
}

/// A bound on a number, and whether the bound itself is excluded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bound {
    pub(crate) at: f64,
    pub(crate) exclusive: bool,
}

/// The checks on one value.
#[derive(Debug, Clone)]
pub(crate) struct ScalarRule {
    pub(crate) ty: ScalarType,
    /// The `enum` values other than null (`None` when there are none).
    pub(crate) allowed: Option<Vec<Value>>,
    pub(crate) min: Option<Bound>,
    pub(crate) max: Option<Bound>,
    pub(crate) min_length: Option<u64>,
    pub(crate) max_length: Option<u64>,
    /// The pattern as written and compiled (one that does not compile is never checked).
    pub(crate) pattern: Option<(String, Arc<regex::Regex>)>,
}

/// A parameter's rule: one value, or an array of them.
#[derive(Debug, Clone)]
pub(crate) enum ParamRule {
    Scalar(ScalarRule),
    Array {
        items: ScalarRule,
        max_items: Option<u64>,
    },
}

impl ParamRule {
    /// The rule of a parameter `schema`, and whether the literal `null` counts as not sent (a
    /// nullable schema whose `enum`, if any, lists null, as in OpenAPI 3.0.3).
    pub(crate) fn of(schema: &Value) -> (ParamRule, bool) {
        let nullable = schema.get("nullable").and_then(Value::as_bool) == Some(true)
            && schema
                .get("enum")
                .and_then(Value::as_array)
                .is_none_or(|e| e.contains(&Value::Null));
        let rule = if schema.get("type").and_then(Value::as_str) == Some("array") {
            ParamRule::Array {
                items: ScalarRule::of(schema.get("items").unwrap_or(&Value::Null)),
                max_items: schema.get("maxItems").and_then(Value::as_u64),
            }
        } else {
            ParamRule::Scalar(ScalarRule::of(schema))
        };
        (rule, nullable)
    }

    pub(crate) fn is_array(&self) -> bool {
        matches!(self, ParamRule::Array { .. })
    }
}

impl ScalarRule {
    fn of(schema: &Value) -> ScalarRule {
        let ty = match schema.get("type").and_then(Value::as_str) {
            Some("integer") => ScalarType::Integer,
            Some("number") => ScalarType::Number,
            Some("boolean") => ScalarType::Boolean,
            _ => ScalarType::String,
        };
        let allowed = schema
            .get("enum")
            .and_then(Value::as_array)
            .map(|e| {
                e.iter()
                    .filter(|x| !x.is_null())
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .filter(|e| !e.is_empty());
        // OpenAPI 3.0 marks a bound exclusive with a boolean beside it; 3.1 (JSON Schema
        // 2020-12) gives the exclusive bound as a number of its own.
        let bound = |inclusive: &str, exclusive: &str, lower: bool| {
            let flag = schema.get(exclusive);
            let incl = schema
                .get(inclusive)
                .and_then(Value::as_f64)
                .map(|at| Bound {
                    at,
                    exclusive: flag.and_then(Value::as_bool) == Some(true),
                });
            let excl = flag.and_then(Value::as_f64).map(|at| Bound {
                at,
                exclusive: true,
            });
            match (incl, excl) {
                // Both given: the stricter one.
                (Some(i), Some(x)) if (lower && x.at >= i.at) || (!lower && x.at <= i.at) => {
                    Some(x)
                }
                (Some(i), _) => Some(i),
                (None, x) => x,
            }
        };
        let numeric = matches!(ty, ScalarType::Integer | ScalarType::Number);
        let textual = ty == ScalarType::String;
        ScalarRule {
            ty,
            allowed,
            min: bound("minimum", "exclusiveMinimum", true).filter(|_| numeric),
            max: bound("maximum", "exclusiveMaximum", false).filter(|_| numeric),
            min_length: schema
                .get("minLength")
                .and_then(Value::as_u64)
                .filter(|_| textual),
            max_length: schema
                .get("maxLength")
                .and_then(Value::as_u64)
                .filter(|_| textual),
            pattern: schema
                .get("pattern")
                .and_then(Value::as_str)
                .filter(|_| textual)
                .and_then(|p| Some((p.to_string(), Arc::new(regex::Regex::new(p).ok()?)))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_types_bounds_and_patterns_once() {
        let (r, nullable) = ParamRule::of(&json!({"type": "integer", "minimum": 1,
            "maximum": 10, "exclusiveMaximum": true, "pattern": "^x$"}));
        assert!(!nullable);
        let ParamRule::Scalar(s) = r else {
            panic!("not a scalar")
        };
        assert_eq!(s.ty, ScalarType::Integer);
        assert_eq!(
            s.min,
            Some(Bound {
                at: 1.0,
                exclusive: false
            })
        );
        assert_eq!(
            s.max,
            Some(Bound {
                at: 10.0,
                exclusive: true
            })
        );
        // A pattern applies to strings only.
        assert!(s.pattern.is_none());
        let (r, _) = ParamRule::of(&json!({"type": "number", "exclusiveMinimum": 0}));
        let ParamRule::Scalar(s) = r else {
            panic!("not a scalar")
        };
        assert_eq!(
            s.min,
            Some(Bound {
                at: 0.0,
                exclusive: true
            })
        );
        let (r, _) = ParamRule::of(&json!({"type": "number", "minimum": 2,
            "exclusiveMinimum": 1, "maximum": 5, "exclusiveMaximum": 4}));
        let ParamRule::Scalar(s) = r else {
            panic!("not a scalar")
        };
        assert_eq!(
            s.min,
            Some(Bound {
                at: 2.0,
                exclusive: false
            })
        );
        assert_eq!(
            s.max,
            Some(Bound {
                at: 4.0,
                exclusive: true
            })
        );
        let (r, nullable) = ParamRule::of(&json!({"type": "array", "nullable": true,
            "maxItems": 3, "items": {"type": "string", "pattern": "^[a-z]+$",
            "enum": ["a", null]}}));
        assert!(nullable);
        let ParamRule::Array { items, max_items } = r else {
            panic!("not an array")
        };
        assert_eq!(max_items, Some(3));
        assert_eq!(items.allowed, Some(vec![json!("a")]));
        assert!(
            items
                .pattern
                .as_ref()
                .is_some_and(|(_, re)| re.is_match("abc"))
        );
        // An enum without null makes the literal null a value, not an absence.
        let (_, nullable) = ParamRule::of(&json!({"nullable": true, "enum": ["a"]}));
        assert!(!nullable);
        // A pattern that does not compile is never checked; an unknown type is a string.
        let (r, _) = ParamRule::of(&json!({"type": ["string", "null"], "pattern": "("}));
        let ParamRule::Scalar(s) = r else {
            panic!("not a scalar")
        };
        assert_eq!(s.ty, ScalarType::String);
        assert!(s.pattern.is_none());
    }
}
