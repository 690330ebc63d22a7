//! Filters: the spec's declared filters (and a list's fixed `where`) compiled from request
//! parameters into predicates over a collection's precomputed columns.

use regex::{Regex, RegexBuilder};
use serde_json::Value;

use super::params::Params;
use crate::api_error::ApiError;
use crate::data::View;
use crate::spec::ext::{FilterExt, FilterKind};

/// Compiled-regex size bound (bytes of automaton), beyond which a pattern is refused.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A field a filter reads: a dotted path, `[]` reaching into arrays (`identities[].id`).
#[derive(Debug, Clone)]
pub struct FieldRef {
    pub path: String,
}

impl FieldRef {
    pub fn new(path: &str) -> Self {
        FieldRef {
            path: path.to_string(),
        }
    }

    /// Whether `f` holds for any value the path reaches in entity `i`; an array value counts as
    /// its elements (a tag set, the ids of `identities[].id`).
    pub fn any(&self, coll: &View, i: u32, mut f: impl FnMut(&Value) -> bool) -> bool {
        match coll.value(i, &self.path).as_ref() {
            Value::Array(items) => items.iter().any(f),
            v => f(v),
        }
    }
}

/// One predicate.
#[derive(Debug)]
pub enum Pred {
    Equals(FieldRef, Value),
    /// Case-insensitive substring, as a compiled literal pattern.
    Contains(FieldRef, Regex),
    Regex(Vec<FieldRef>, Regex),
    AnyOf {
        field: FieldRef,
        values: Vec<Value>,
        all: bool,
    },
}

impl Pred {
    /// Whether entity `i` satisfies the predicate.
    pub fn matches(&self, coll: &View, i: u32) -> bool {
        let text = |re: &Regex, v: &Value| v.as_str().is_some_and(|s| re.is_match(s));
        match self {
            Pred::Equals(f, want) => f.any(coll, i, |v| v == want),
            Pred::Contains(f, re) => f.any(coll, i, |v| text(re, v)),
            Pred::Regex(fields, re) => fields.iter().any(|f| f.any(coll, i, |v| text(re, v))),
            Pred::AnyOf { field, values, all } => {
                if *all {
                    values.iter().all(|w| field.any(coll, i, |v| v == w))
                } else {
                    field.any(coll, i, |v| values.contains(v))
                }
            }
        }
    }
}

/// Compile the fixed `where` and the filters whose parameters are present.
pub fn compile(
    where_: &std::collections::BTreeMap<String, Value>,
    filters: &[FilterExt],
    params: &Params,
    bad_status: u16,
) -> Result<Vec<Pred>, ApiError> {
    let mut preds: Vec<Pred> = where_
        .iter()
        .map(|(f, v)| Pred::Equals(FieldRef::new(f), v.clone()))
        .collect();
    for f in filters {
        let Some(value) = params.get(&f.param) else {
            continue;
        };
        let bad = |m: String| ApiError::param(bad_status, "query", &f.param, m);
        let field = f.field.as_deref().or(f.fields.first().map(String::as_str));
        let field = FieldRef::new(field.unwrap_or_default());
        let pred = match f.kind {
            FilterKind::Equals => {
                let v = match value {
                    Value::Array(a) if a.len() == 1 => a[0].clone(),
                    other => other.clone(),
                };
                Pred::Equals(field, v)
            }
            FilterKind::Contains => {
                let s = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_string);
                let re = RegexBuilder::new(&regex::escape(&s))
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| bad(format!("{}: {e}", f.param)))?;
                Pred::Contains(field, re)
            }
            FilterKind::Regex => {
                let pattern = value.as_str().unwrap_or_default();
                if let Some(max) = f.max_length
                    && pattern.chars().count() > max
                {
                    return Err(bad(format!(
                        "{}: the pattern is longer than {max} characters",
                        f.param
                    )));
                }
                let re = RegexBuilder::new(pattern)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .dfa_size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| {
                        bad(format!(
                            "{}: invalid regular expression: {}",
                            f.param,
                            first_line(&e.to_string())
                        ))
                    })?;
                let mut fields: Vec<FieldRef> = f.fields.iter().map(|p| FieldRef::new(p)).collect();
                if let Some(one) = &f.field {
                    fields.push(FieldRef::new(one));
                }
                Pred::Regex(fields, re)
            }
            FilterKind::AnyOf => {
                let values = match value {
                    Value::Array(a) => a.clone(),
                    other => vec![other.clone()],
                };
                if values.is_empty() {
                    continue;
                }
                let all = f
                    .all_param
                    .as_ref()
                    .and_then(|p| params.get(p))
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                Pred::AnyOf { field, values, all }
            }
        };
        preds.push(pred);
    }
    Ok(preds)
}

fn first_line(s: &str) -> String {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_is_a_case_insensitive_literal() {
        let params: Params = [("q".to_string(), Value::String("A.b".into()))].into();
        let f = FilterExt {
            param: "q".into(),
            kind: FilterKind::Contains,
            field: Some("name".into()),
            fields: Vec::new(),
            all_param: None,
            max_length: None,
        };
        let preds = compile(&Default::default(), &[f], &params, 400).unwrap();
        let Pred::Contains(_, re) = &preds[0] else {
            panic!("not a contains filter")
        };
        assert!(re.is_match("xa.BY") && !re.is_match("aXb"));
    }
}
