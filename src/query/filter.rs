//! Filters: the spec's declared filters (and a list's fixed `where`) compiled from request
//! parameters into predicates over a collection's precomputed columns.

use regex::{Regex, RegexBuilder};
use serde_json::Value;

use super::params::Params;
use crate::api_error::ApiError;
use crate::data::{Cell, Column, View};
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
}

/// What a value must be for an [`Atom`] to hold.
#[derive(Debug)]
pub enum Test {
    Equals(Value),
    OneOf(Vec<Value>),
    /// A string the pattern is found in.
    Text(Regex),
}

impl Test {
    /// Whether the test holds for `v`; an array counts as its elements (a tag set, the ids of
    /// `identities[].id`).
    pub fn holds(&self, v: &Value) -> bool {
        match v {
            Value::Array(items) => items.iter().any(|x| self.holds_one(x)),
            v => self.holds_one(v),
        }
    }

    fn holds_one(&self, v: &Value) -> bool {
        match self {
            Test::Equals(want) => v == want,
            Test::OneOf(values) => values.contains(v),
            Test::Text(re) => v.as_str().is_some_and(|s| re.is_match(s)),
        }
    }

    /// [`Test::holds`] on a string.
    fn holds_str(&self, s: &str) -> bool {
        match self {
            Test::Equals(Value::String(w)) => w == s,
            Test::Equals(_) => false,
            Test::OneOf(values) => values.iter().any(|w| w.as_str() == Some(s)),
            Test::Text(re) => re.is_match(s),
        }
    }
}

/// A test of one field.
#[derive(Debug)]
pub struct Atom {
    pub field: FieldRef,
    pub test: Test,
}

impl Atom {
    fn new(field: &FieldRef, test: Test) -> Self {
        Atom {
            field: field.clone(),
            test,
        }
    }
}

/// One predicate: every clause holds, a clause when any of its atoms does.
#[derive(Debug)]
pub struct Pred {
    pub clauses: Vec<Vec<Atom>>,
}

impl Pred {
    /// Whether entity `i` satisfies the predicate, reading values through the view.
    pub fn matches(&self, coll: &View, i: u32) -> bool {
        self.clauses.iter().all(|c| {
            c.iter()
                .any(|a| a.test.holds(coll.value(i, &a.field.path).as_ref()))
        })
    }
}

/// The predicates of one request, ready to test entities: an entity the session has not
/// changed is tested on the collection's columns, each distinct value of a dictionary column
/// at most once where values repeat (a regular expression over a million entities' 40 names
/// runs 40 times); a string-arena column's values are tested as they are read.
pub struct Matcher<'a> {
    view: View<'a>,
    preds: &'a [Pred],
    /// Per atom, in clause order: its column, and what each dictionary code gave so far
    /// (0 not yet tested, 1 no, 2 yes).
    readers: Vec<Reader<'a>>,
}

struct Reader<'a> {
    column: Option<&'a Column>,
    /// Made on first use, for a dictionary whose values repeat enough to pay for it.
    memo: std::cell::OnceCell<Box<[std::cell::Cell<u8>]>>,
    memoised: bool,
}

/// A dictionary is remembered per request when it has at most this many distinct values, or
/// at most one per [`MEMO_SHARE`] entities.
const MEMO_SMALL: usize = 4096;
const MEMO_SHARE: usize = 8;

impl<'a> Matcher<'a> {
    /// Resolve every atom's column once (computing it if needed).
    pub fn new(view: View<'a>, preds: &'a [Pred]) -> Self {
        let readers = preds
            .iter()
            .flat_map(|p| p.clauses.iter().flatten())
            .map(|atom| {
                let column = view.base.column(&atom.field.path);
                let distinct = column.map_or(0, |c| c.dict().len());
                let len = column.map_or(0, Column::len);
                Reader {
                    column,
                    memo: std::cell::OnceCell::new(),
                    memoised: distinct > 0
                        && (distinct <= MEMO_SMALL || distinct <= len / MEMO_SHARE),
                }
            })
            .collect();
        Matcher {
            view,
            preds,
            readers,
        }
    }

    /// Whether entity `i` is live and satisfies every predicate.
    pub fn matches(&self, i: u32) -> bool {
        if !self.view.is_live(i) {
            return false;
        }
        if self.preds.is_empty() {
            return true;
        }
        if !self.view.is_pristine(i) {
            return self.preds.iter().all(|p| p.matches(&self.view, i));
        }
        let mut k = 0;
        for clause in self.preds.iter().flat_map(|p| &p.clauses) {
            let readers = self.readers.get(k..k + clause.len()).unwrap_or(&[]);
            k += clause.len();
            if !clause
                .iter()
                .zip(readers)
                .any(|(atom, r)| self.holds(atom, r, i))
            {
                return false;
            }
        }
        true
    }

    fn holds(&self, atom: &Atom, r: &Reader, i: u32) -> bool {
        let Some(col) = r.column else {
            return atom
                .test
                .holds(self.view.value(i, &atom.field.path).as_ref());
        };
        if r.memoised
            && let Some(code) = col.code(i as usize)
            && let Some(m) = r
                .memo
                .get_or_init(|| vec![std::cell::Cell::new(0); col.dict().len()].into())
                .get(code as usize)
        {
            if m.get() == 0 {
                let v = col.dict().get(code as usize).unwrap_or(&Value::Null);
                m.set(1 + u8::from(atom.test.holds(v)));
            }
            return m.get() == 2;
        }
        match col.get(i as usize) {
            Some(Cell::Str(s)) => atom.test.holds_str(s),
            Some(Cell::Json(v)) => atom.test.holds(v),
            Some(Cell::Null) | None => atom.test.holds(&Value::Null),
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
        .map(|(f, v)| Pred {
            clauses: vec![vec![Atom::new(&FieldRef::new(f), Test::Equals(v.clone()))]],
        })
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
                Pred {
                    clauses: vec![vec![Atom::new(&field, Test::Equals(v))]],
                }
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
                // Every word is found in one of the fields.
                let fields = field_refs(f);
                Pred {
                    clauses: res
                        .into_iter()
                        .map(|re| {
                            fields
                                .iter()
                                .map(|fr| Atom::new(fr, Test::Text(re.clone())))
                                .collect()
                        })
                        .collect(),
                }
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
                Pred {
                    clauses: vec![
                        field_refs(f)
                            .iter()
                            .map(|fr| Atom::new(fr, Test::Text(re.clone())))
                            .collect(),
                    ],
                }
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
                if all {
                    Pred {
                        clauses: values
                            .into_iter()
                            .map(|w| vec![Atom::new(&field, Test::Equals(w))])
                            .collect(),
                    }
                } else {
                    Pred {
                        clauses: vec![vec![Atom::new(&field, Test::OneOf(values))]],
                    }
                }
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
        let [clause] = &preds[0].clauses[..] else {
            panic!("not one clause")
        };
        let [
            Atom {
                test: Test::Text(re),
                ..
            },
        ] = &clause[..]
        else {
            panic!("not one text test")
        };
        assert!(re.is_match("xa.BY") && !re.is_match("aXb"));
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
        // One clause per word, each any of the two fields.
        let words: Vec<Vec<(&str, &str)>> = preds[0]
            .clauses
            .iter()
            .map(|c| {
                c.iter()
                    .map(|a| match &a.test {
                        Test::Text(re) => (a.field.path.as_str(), re.as_str()),
                        other => panic!("not a text test: {other:?}"),
                    })
                    .collect()
            })
            .collect();
        assert_eq!(
            words,
            [
                [("name", "a"), ("description", "a")],
                [("name", "b"), ("description", "b")],
                [("name", "c"), ("description", "c")]
            ]
        );
        let long: Params = [("q".to_string(), Value::String("x".repeat(13)))].into();
        let err = compile(&Default::default(), &[f], &long, 400).unwrap_err();
        assert!(err.message.contains("longer than 12"), "{}", err.message);
    }

    /// The columns' fast path selects what the values themselves say, for dictionary columns
    /// (strings, numbers, arrays), a string arena past the dictionary limit (with nulls) and
    /// the keys' column; every entity checked against an independent reading of its fields.
    #[test]
    fn matchers_select_what_the_generated_values_say() {
        use crate::data::{Collection, CollectionModel, Entity, path};
        use serde_json::json;
        use std::sync::Arc;
        // Past the dictionary limit even with the nulls left out.
        let count = crate::data::column::DICT_LIMIT as u64 * 5 / 4;
        let model = Arc::new(CollectionModel::for_tests(
            &json!({"type": "object", "properties": {
                "id": {"type": "string", "format": "uuid"},
                "name": {"type": "string",
                         "enum": ["alpha support", "beta", "Gamma Support", "delta"]},
                "n": {"type": "integer", "minimum": 0, "maximum": 5},
                "tags": {"type": "array",
                         "items": {"type": "string", "enum": ["x", "y", "z"]}},
                "at": {"type": "string", "format": "date-time", "nullable": true}}}),
            &json!({}),
            count,
        ));
        let paths = ["name", "n", "tags", "at"];
        let filtered: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        let coll = Collection::build(model.clone(), 7, count, &filtered, &[], &[]).unwrap();
        assert!(matches!(
            coll.column("at"),
            Some(crate::data::Column::Str { .. })
        ));
        let view = View::new(&coll, None);
        let atom = |path: &str, test: Test| Atom::new(&FieldRef::new(path), test);
        let re = |p: &str| Test::Text(Regex::new(p).unwrap());
        let key5 = coll.key(5).to_string();
        let preds = vec![
            vec![vec![atom("name", Test::Equals(json!("beta")))]],
            vec![vec![atom("name", re("(?i)support"))]],
            vec![vec![atom("n", Test::OneOf(vec![json!(1), json!(3)]))]],
            vec![vec![atom("tags", Test::Equals(json!("x")))]],
            vec![vec![atom("at", re("^2025-0[1-3]"))]],
            vec![vec![atom("at", Test::Equals(Value::Null))]],
            vec![vec![atom("id", Test::Equals(json!(key5)))]],
            vec![
                vec![
                    atom("name", re("a")),
                    atom("tags", Test::Equals(json!("z"))),
                ],
                vec![atom("n", Test::Equals(json!(2)))],
            ],
        ];
        let mut hits = vec![0usize; preds.len()];
        let matchers: Vec<Vec<Pred>> = preds
            .into_iter()
            .map(|clauses| vec![Pred { clauses }])
            .collect();
        let compiled: Vec<Matcher> = matchers.iter().map(|p| Matcher::new(view, p)).collect();
        for i in 0..count as u32 {
            let e = Entity::new(&model, 7, u64::from(i));
            let value = |p: &str| {
                let root = path::root_of(p);
                path::extract_from_root(root, e.field(root).unwrap_or(Value::Null), p)
            };
            for (k, (m, pred)) in compiled.iter().zip(&matchers).enumerate() {
                let want = pred[0]
                    .clauses
                    .iter()
                    .all(|c| c.iter().any(|a| a.test.holds(&value(&a.field.path))));
                assert_eq!(m.matches(i), want, "predicate {k}, entity {i}");
                hits[k] += usize::from(want);
            }
        }
        // Every predicate selects some entities and leaves out others (the key: exactly one).
        assert_eq!(hits[6], 1);
        assert!(
            hits.iter().all(|&h| h > 0 && h < count as usize),
            "{hits:?}"
        );
    }
}
