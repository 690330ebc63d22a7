//! Filters: the spec's declared filters (and a list's fixed `where`) compiled from request
//! parameters into predicates over a collection's precomputed columns.

use regex::{Regex, RegexBuilder};
use serde_json::Value;

use super::params::Params;
use crate::api_error::ApiError;
use crate::data::View;
use crate::spec::behaviour::{Filter, FilterOp};

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
    /// Case-insensitive substrings, as compiled literal patterns: every pattern is found in
    /// one of the fields (one pattern, or one per word with `words`).
    Contains(Vec<FieldRef>, Vec<Regex>),
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
            Pred::Contains(fields, res) => res
                .iter()
                .all(|re| fields.iter().any(|f| f.any(coll, i, |v| text(re, v)))),
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
    filters: &[Filter],
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
        let field = FieldRef::new(f.fields.first().map_or("", String::as_str));
        let pred = match &f.op {
            FilterOp::Equals => {
                let v = match value {
                    Value::Array(a) if a.len() == 1 => a[0].clone(),
                    other => other.clone(),
                };
                Pred::Equals(field, v)
            }
            FilterOp::Contains { words } => {
                let s = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_string);
                check_length(f, &s).map_err(bad)?;
                let terms: Vec<&str> = match words {
                    Some(n) => s.split_whitespace().take(*n).collect(),
                    None => vec![s.as_str()],
                };
                if terms.is_empty() {
                    continue;
                }
                let res = terms
                    .iter()
                    .map(|t| {
                        RegexBuilder::new(&regex::escape(t))
                            .case_insensitive(true)
                            .build()
                            .map_err(|e| bad(format!("{}: {e}", f.param)))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Pred::Contains(field_refs(f), res)
            }
            FilterOp::Regex => {
                let pattern = value.as_str().unwrap_or_default();
                check_length(f, pattern).map_err(bad)?;
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
                Pred::Regex(field_refs(f), re)
            }
            FilterOp::AnyOf { all_param } => {
                let values = match value {
                    Value::Array(a) => a.clone(),
                    other => vec![other.clone()],
                };
                if values.is_empty() {
                    continue;
                }
                let all = all_param
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

/// Every field a filter names.
fn field_refs(f: &Filter) -> Vec<FieldRef> {
    f.fields.iter().map(|p| FieldRef::new(p)).collect()
}

/// A text value over the filter's `max-length` is refused.
fn check_length(f: &Filter, text: &str) -> Result<(), String> {
    match f.max_length {
        Some(max) if text.chars().count() > max => Err(format!(
            "{}: the value is longer than {max} characters",
            f.param
        )),
        _ => Ok(()),
    }
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
        let f = Filter {
            param: "q".into(),
            fields: vec!["name".into()],
            max_length: None,
            op: FilterOp::Contains { words: None },
        };
        let preds = compile(&Default::default(), &[f], &params, 400).unwrap();
        let Pred::Contains(_, res) = &preds[0] else {
            panic!("not a contains filter")
        };
        assert_eq!(res.len(), 1);
        assert!(res[0].is_match("xa.BY") && !res[0].is_match("aXb"));
    }

    #[test]
    fn contains_by_words_keeps_the_first_words_and_reads_every_field() {
        let params: Params = [("q".to_string(), Value::String(" a  b c d ".into()))].into();
        let f = Filter {
            param: "q".into(),
            fields: vec!["name".into(), "description".into()],
            max_length: Some(12),
            op: FilterOp::Contains { words: Some(3) },
        };
        let preds = compile(&Default::default(), std::slice::from_ref(&f), &params, 400).unwrap();
        let Pred::Contains(fields, res) = &preds[0] else {
            panic!("not a contains filter")
        };
        assert_eq!(fields.len(), 2);
        let words: Vec<&str> = res.iter().map(|r| r.as_str()).collect();
        assert_eq!(words, ["a", "b", "c"]);
        let long: Params = [("q".to_string(), Value::String("x".repeat(13)))].into();
        let err = compile(&Default::default(), &[f], &long, 400).unwrap_err();
        assert!(err.message.contains("longer than 12"), "{}", err.message);
    }
}
