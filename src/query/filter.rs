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

/// A field path split into the column it is stored in and the rest (`identities[].id` is
/// column `identities`, rest `[].id`).
#[derive(Debug, Clone)]
pub struct FieldRef {
    pub column: String,
    rest: Vec<(String, bool)>,
    column_each: bool,
}

impl FieldRef {
    pub fn new(path: &str) -> Self {
        match path.find("[]") {
            None => FieldRef {
                column: path.to_string(),
                rest: Vec::new(),
                column_each: false,
            },
            Some(i) => {
                let column = path[..i].to_string();
                let tail = path[i + 2..].trim_start_matches('.');
                let rest = tail
                    .split('.')
                    .filter(|s| !s.is_empty())
                    .map(|s| match s.strip_suffix("[]") {
                        Some(n) => (n.to_string(), true),
                        None => (s.to_string(), false),
                    })
                    .collect();
                FieldRef {
                    column,
                    rest,
                    column_each: true,
                }
            }
        }
    }

    /// The values the path reaches in entity `i` (arrays at `[]` flattened).
    pub fn values(&self, coll: &View, i: u32) -> Vec<Value> {
        let root = coll.value(i, &self.column);
        let mut cur: Vec<Value> = if self.column_each {
            match root {
                Value::Array(a) => a,
                _ => Vec::new(),
            }
        } else {
            vec![root]
        };
        for (seg, each) in &self.rest {
            let mut next = Vec::new();
            for v in cur {
                if let Some(x) = v.get(seg) {
                    match (each, x) {
                        (true, Value::Array(a)) => next.extend(a.iter().cloned()),
                        (true, _) => {}
                        (false, x) => next.push(x.clone()),
                    }
                }
            }
            cur = next;
        }
        cur
    }
}

/// One predicate.
#[derive(Debug)]
pub enum Pred {
    Equals(FieldRef, Value),
    Contains(FieldRef, String),
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
        match self {
            Pred::Equals(f, want) => f.values(coll, i).iter().any(|v| v == want),
            Pred::Contains(f, needle) => f.values(coll, i).iter().any(|v| {
                v.as_str()
                    .is_some_and(|s| s.to_lowercase().contains(needle.as_str()))
            }),
            Pred::Regex(fields, re) => fields.iter().any(|f| {
                f.values(coll, i)
                    .iter()
                    .any(|v| v.as_str().is_some_and(|s| re.is_match(s)))
            }),
            Pred::AnyOf { field, values, all } => {
                let have: Vec<Value> = field
                    .values(coll, i)
                    .into_iter()
                    .flat_map(|v| match v {
                        Value::Array(a) => a,
                        other => vec![other],
                    })
                    .collect();
                if *all {
                    values.iter().all(|w| have.contains(w))
                } else {
                    values.iter().any(|w| have.contains(w))
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
                Pred::Contains(field, s.to_lowercase())
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
    fn field_refs_split_at_the_first_array() {
        let f = FieldRef::new("identities[].id");
        assert_eq!(f.column, "identities");
        let f = FieldRef::new("name");
        assert_eq!(f.column, "name");
        assert!(f.rest.is_empty());
    }
}
