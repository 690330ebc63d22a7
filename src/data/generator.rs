//! Field generators: the `fields` entries of a collection (`docs/spec-extensions.md`), parsed
//! once at load into [`FieldGen`]. Evaluation lives in `entity`.

use std::time::Duration;

use serde_json::{Map, Value};

use super::fakes::FakeKind;
use super::template::Template;
use crate::spec::schema::{Kind, Node};

/// A generator with its modifiers.
#[derive(Debug, Clone)]
pub struct FieldGen {
    pub kind: Gen,
    pub null_rate: f64,
}

/// An integer argument: a literal or a reference to another field.
#[derive(Debug, Clone)]
pub enum IntArg {
    Lit(i64),
    Ref(String),
}

/// A time argument: milliseconds since the epoch, or a reference to another field.
#[derive(Debug, Clone)]
pub enum TimeArg {
    Millis(i64),
    Ref(String),
}

/// One generator.
#[derive(Debug, Clone)]
pub enum Gen {
    Uuid,
    /// The entity's 1-based position, as an integer (sequential ids).
    Index,
    Template(Template),
    Fake(FakeKind),
    OneOf {
        values: Vec<Value>,
        weights: Option<Vec<u32>>,
    },
    Bool(f64),
    Int {
        min: IntArg,
        max: IntArg,
    },
    Timestamp {
        from: TimeArg,
        to: Option<TimeArg>,
        within: Option<Duration>,
    },
    SameAs(String),
    Const(Value),
    Omit,
    Auto,
    Array {
        min: u64,
        max: u64,
        items: Option<Box<FieldGen>>,
    },
    UniqueOf {
        values: Vec<Value>,
        min: u64,
        max: u64,
    },
    Object(Vec<(String, FieldGen)>),
    If {
        cond: Vec<(String, Vec<Value>)>,
        then: Box<FieldGen>,
        otherwise: Box<FieldGen>,
    },
    /// One of the values of a static collection's field (`member-of: regions.code`); replaced
    /// by a [`Gen::OneOf`] over those values when the spec loads ([`FieldGen::resolve_members`]).
    MemberOf {
        collection: String,
        field: String,
    },
}

impl Gen {
    /// Whether the generator reads its field's random stream. The others (copies, constants,
    /// conditions, objects whose parts have streams of their own) are evaluated without
    /// seeding one, which a million entities' columns would pay for millions of times.
    pub fn draws(&self) -> bool {
        match self {
            Gen::Uuid
            | Gen::Template(_)
            | Gen::Fake(_)
            | Gen::OneOf { .. }
            | Gen::Bool(_)
            | Gen::Int { .. }
            | Gen::Timestamp { .. }
            | Gen::Array { .. }
            | Gen::UniqueOf { .. } => true,
            Gen::Index
            | Gen::SameAs(_)
            | Gen::Const(_)
            | Gen::Omit
            | Gen::Auto
            | Gen::Object(_)
            | Gen::If { .. }
            | Gen::MemberOf { .. } => false,
        }
    }
}

/// Default window for timestamps: 2024-01-01T00:00:00Z ..= 2026-06-30T00:00:00Z.
pub const DEFAULT_FROM_MS: i64 = 1_704_067_200_000;
pub const DEFAULT_TO_MS: i64 = 1_782_777_600_000;

const MODIFIERS: &[&str] = &["null-rate", "weights", "items", "array", "then", "else"];

/// Parse a generator; errors are plain messages, the caller adds file and location.
pub fn parse(value: &Value) -> Result<FieldGen, String> {
    let obj = value
        .as_object()
        .ok_or_else(|| format!("a generator is a map, found {value}"))?;
    let null_rate = match obj.get("null-rate") {
        None => 0.0,
        Some(v) => v
            .as_f64()
            .filter(|r| (0.0..=1.0).contains(r))
            .ok_or("null-rate is a number from 0 to 1")?,
    };
    let keys: Vec<&String> = obj
        .keys()
        .filter(|k| !MODIFIERS.contains(&k.as_str()))
        .collect();
    // `array` alone is a generator; with `unique-of` it is that generator's modifier.
    let main = match keys.as_slice() {
        [k] => k.as_str(),
        [] if obj.contains_key("array") => "array",
        [] => {
            return Err("a generator needs one generator key (uuid, template, one-of, ...)".into());
        }
        many => {
            let names: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
            return Err(format!(
                "a generator has one generator key, found {}",
                names.join(", ")
            ));
        }
    };
    let arg = obj.get(main).unwrap_or(&Value::Null);
    let kind = match main {
        "uuid" => Gen::Uuid,
        "index" => Gen::Index,
        "template" => Gen::Template(Template::parse(
            arg.as_str().ok_or("template takes a string")?,
        )?),
        "fake" => Gen::Fake(FakeKind::parse(
            arg.as_str().ok_or("fake takes a kind name")?,
        )?),
        "one-of" => {
            let values = arg.as_array().ok_or("one-of takes a list")?.clone();
            if values.is_empty() {
                return Err("one-of needs at least one value".into());
            }
            let weights = match obj.get("weights") {
                None => None,
                Some(w) => Some(parse_weights(w, values.len())?),
            };
            Gen::OneOf { values, weights }
        }
        "bool" => Gen::Bool(
            arg.as_f64()
                .filter(|p| (0.0..=1.0).contains(p))
                .ok_or("bool takes a probability from 0 to 1")?,
        ),
        "int" => {
            let m = arg.as_object().ok_or("int takes {min, max}")?;
            Gen::Int {
                min: int_arg(m.get("min"), 0)?,
                max: int_arg(m.get("max"), 100)?,
            }
        }
        "timestamp" => parse_timestamp(arg)?,
        "member-of" => {
            let text = arg
                .as_str()
                .ok_or("member-of takes COLLECTION.FIELD (a static collection's field)")?;
            let (collection, field) = text
                .split_once('.')
                .filter(|(c, f)| !c.is_empty() && !f.is_empty())
                .ok_or_else(|| format!("member-of '{text}': write COLLECTION.FIELD"))?;
            Gen::MemberOf {
                collection: collection.to_string(),
                field: field.to_string(),
            }
        }
        "same-as" => Gen::SameAs(arg.as_str().ok_or("same-as takes a field path")?.into()),
        "const" => Gen::Const(arg.clone()),
        "omit" => Gen::Omit,
        "auto" => Gen::Auto,
        "array" => {
            let (min, max) = bounds(arg)?;
            let items = match obj.get("items") {
                Some(i) => Some(Box::new(parse(i).map_err(|e| format!("items: {e}"))?)),
                None => None,
            };
            Gen::Array { min, max, items }
        }
        "unique-of" => {
            let values = arg.as_array().ok_or("unique-of takes a list")?.clone();
            let (min, max) = match obj.get("array") {
                Some(a) => bounds(a)?,
                None => (0, values.len() as u64),
            };
            if max as usize > values.len() {
                return Err(format!(
                    "unique-of: array max {max} exceeds the {} values",
                    values.len()
                ));
            }
            Gen::UniqueOf { values, min, max }
        }
        "object" => {
            let m = arg
                .as_object()
                .ok_or("object takes a map of sub-generators")?;
            let mut subs = Vec::new();
            for (k, v) in m {
                subs.push((k.clone(), parse(v).map_err(|e| format!("{k}: {e}"))?));
            }
            Gen::Object(subs)
        }
        "if" => {
            let cond = parse_cond(arg)?;
            let then = obj.get("then").ok_or("if needs then")?;
            let otherwise = obj.get("else").ok_or("if needs else")?;
            Gen::If {
                cond,
                then: Box::new(parse(then).map_err(|e| format!("then: {e}"))?),
                otherwise: Box::new(parse(otherwise).map_err(|e| format!("else: {e}"))?),
            }
        }
        other => return Err(format!("unknown generator '{other}'")),
    };
    Ok(FieldGen { kind, null_rate })
}

fn parse_weights(w: &Value, n: usize) -> Result<Vec<u32>, String> {
    let list = w.as_array().ok_or("weights takes a list of numbers")?;
    let weights: Option<Vec<u32>> = list
        .iter()
        .map(|x| x.as_u64().and_then(|x| u32::try_from(x).ok()))
        .collect();
    let weights = weights.ok_or("weights are whole numbers")?;
    if weights.len() != n || weights.iter().all(|w| *w == 0) {
        return Err(format!("weights needs {n} numbers, not all zero"));
    }
    Ok(weights)
}

fn parse_cond(arg: &Value) -> Result<Vec<(String, Vec<Value>)>, String> {
    let m: &Map<String, Value> = arg.as_object().ok_or("if takes {field: value}")?;
    if m.is_empty() {
        return Err("if needs at least one condition".into());
    }
    Ok(m.iter()
        .map(|(k, v)| {
            let vals = match v {
                Value::Array(a) => a.clone(),
                other => vec![other.clone()],
            };
            (k.clone(), vals)
        })
        .collect())
}

fn bounds(arg: &Value) -> Result<(u64, u64), String> {
    let m = arg.as_object().ok_or("array takes {min, max}")?;
    let min = m.get("min").and_then(Value::as_u64).unwrap_or(0);
    let max = m.get("max").and_then(Value::as_u64).unwrap_or(3);
    if min > max {
        return Err(format!("array min {min} is above max {max}"));
    }
    Ok((min, max))
}

fn int_arg(v: Option<&Value>, default: i64) -> Result<IntArg, String> {
    match v {
        None => Ok(IntArg::Lit(default)),
        Some(Value::String(s)) => s
            .strip_prefix('$')
            .map(|p| IntArg::Ref(p.to_string()))
            .ok_or_else(|| format!("'{s}' is neither a number nor a $reference")),
        Some(v) => v
            .as_i64()
            .map(IntArg::Lit)
            .ok_or_else(|| format!("{v} is not an integer")),
    }
}

fn time_arg(v: &Value) -> Result<TimeArg, String> {
    let s = v
        .as_str()
        .ok_or("a time is an RFC 3339 string or a $reference")?;
    if let Some(p) = s.strip_prefix('$') {
        return Ok(TimeArg::Ref(p.to_string()));
    }
    parse_time(s)
        .map(TimeArg::Millis)
        .ok_or_else(|| format!("'{s}' is not an RFC 3339 time"))
}

/// Parse an RFC 3339 time to epoch milliseconds.
pub fn parse_time(s: &str) -> Option<i64> {
    parse_own_time(s).or_else(|| {
        chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_millis())
    })
}

/// The format generated timestamps have (`2025-04-09T15:01:17.414Z`, what
/// [`super::entity::format_millis`] writes), read without chrono's general parser; `None` for
/// anything else (a leap second, another offset or precision), which chrono reads.
fn parse_own_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 24 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || b[19] != b'.' || b[23] != b'Z' {
        return None;
    }
    let num = |at: usize, width: usize| -> Option<u32> {
        b[at..at + width].iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if second > 59 {
        return None;
    }
    let date =
        chrono::NaiveDate::from_ymd_opt(i32::try_from(num(0, 4)?).ok()?, num(5, 2)?, num(8, 2)?)?;
    let t = date.and_hms_milli_opt(hour, minute, second, num(20, 3)?)?;
    Some(t.and_utc().timestamp_millis())
}

fn parse_timestamp(arg: &Value) -> Result<Gen, String> {
    let m = arg
        .as_object()
        .ok_or("timestamp takes {from, to, within}")?;
    let from = match m.get("from") {
        Some(v) => time_arg(v)?,
        None => TimeArg::Millis(DEFAULT_FROM_MS),
    };
    let to = m.get("to").map(time_arg).transpose()?;
    let within = match m.get("within") {
        None => None,
        Some(v) => {
            let s = v.as_str().ok_or("within takes a duration like 90d")?;
            Some(humantime::parse_duration(s).map_err(|e| format!("within '{s}': {e}"))?)
        }
    };
    if to.is_none() && within.is_none() && matches!(from, TimeArg::Ref(_)) {
        return Err("timestamp from a $reference needs `to` or `within`".into());
    }
    Ok(Gen::Timestamp { from, to, within })
}

/// The values of a static collection's field, by (collection, field), for `member-of`.
pub type MemberValues<'a> = dyn Fn(&str, &str) -> Result<Vec<Value>, String> + 'a;

impl FieldGen {
    /// Replace every `member-of` by a `one-of` over the values `values(collection, field)`
    /// gives (the distinct values of a static collection's field, in row order).
    pub fn resolve_members(&mut self, values: &MemberValues) -> Result<(), String> {
        match &mut self.kind {
            Gen::MemberOf { collection, field } => {
                let vals = values(collection, field)?;
                if vals.is_empty() {
                    return Err(format!("member-of {collection}.{field}: no values"));
                }
                self.kind = Gen::OneOf {
                    values: vals,
                    weights: None,
                };
            }
            Gen::Array { items: Some(i), .. } => i.resolve_members(values)?,
            Gen::Object(subs) => {
                for (_, g) in subs {
                    g.resolve_members(values)?;
                }
            }
            Gen::If {
                then, otherwise, ..
            } => {
                then.resolve_members(values)?;
                otherwise.resolve_members(values)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Put the objects written in the spec (`one-of`, `unique-of` and `const` values, and an
    /// `object` generator's members) in the field's schema order, `node` (see
    /// [`Node::ordered`]).
    pub fn order_like(&mut self, node: &Node) {
        let take = |v: &mut Value, n: &Node| *v = n.ordered(std::mem::take(v));
        match &mut self.kind {
            Gen::OneOf { values, .. } => values.iter_mut().for_each(|v| take(v, node)),
            Gen::Const(v) => take(v, node),
            Gen::UniqueOf { values, .. } => {
                let item = node.items().unwrap_or(node);
                values.iter_mut().for_each(|v| take(v, item));
            }
            Gen::Array { items: Some(i), .. } => i.order_like(node.items().unwrap_or(node)),
            Gen::Object(subs) => {
                let at = |k: &str| match &*node.kind {
                    Kind::Object { props, .. } => props.iter().position(|(p, _)| p == k),
                    _ => None,
                };
                // Declared members in the schema's order, the others after, as written.
                subs.sort_by_key(|(k, _)| at(k).unwrap_or(usize::MAX));
                for (k, g) in subs.iter_mut() {
                    if let Some(n) = node.prop(k) {
                        g.order_like(n);
                    }
                }
            }
            Gen::If {
                then, otherwise, ..
            } => {
                then.order_like(node);
                otherwise.order_like(node);
            }
            _ => {}
        }
    }

    /// Whether the field is another field's value under a second name (`same-as`).
    pub fn is_alias(&self) -> bool {
        matches!(self.kind, Gen::SameAs(_))
    }

    /// Every field path this generator reads (for cycle and existence checks at load).
    pub fn refs(&self, out: &mut Vec<String>) {
        match &self.kind {
            Gen::SameAs(p) => out.push(p.clone()),
            Gen::Template(t) => out.extend(t.refs()),
            Gen::Int { min, max } => {
                for a in [min, max] {
                    if let IntArg::Ref(p) = a {
                        out.push(p.clone());
                    }
                }
            }
            Gen::Timestamp { from, to, .. } => {
                for a in [Some(from), to.as_ref()].into_iter().flatten() {
                    if let TimeArg::Ref(p) = a {
                        out.push(p.clone());
                    }
                }
            }
            Gen::Array { items: Some(i), .. } => i.refs(out),
            Gen::Object(subs) => subs.iter().for_each(|(_, g)| g.refs(out)),
            Gen::If {
                cond,
                then,
                otherwise,
            } => {
                out.extend(cond.iter().map(|(p, _)| p.clone()));
                then.refs(out);
                otherwise.refs(out);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn generated_timestamps_read_back_as_chrono_reads_them() {
        let chrono_ms = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.timestamp_millis())
        };
        let mut ms = DEFAULT_FROM_MS;
        while ms < DEFAULT_TO_MS {
            let s = crate::data::entity::format_millis(ms);
            assert_eq!(parse_own_time(&s), Some(ms), "{s}");
            ms += 7_919_993_117;
        }
        for s in [
            "1970-01-01T00:00:00.000Z",
            "0001-01-01T00:00:00.000Z",
            "9999-12-31T23:59:59.999Z",
            "2024-02-29T12:00:00.500Z",
        ] {
            assert_eq!(parse_own_time(s), chrono_ms(s), "{s}");
            assert!(parse_own_time(s).is_some(), "{s}");
        }
        // Not the generated format, or not a date: left to chrono, which agrees or refuses.
        for s in [
            "2025-02-30T00:00:00.000Z",
            "2025-13-01T00:00:00.000Z",
            "2016-12-31T23:59:60.000Z",
            "2025-04-09T15:01:17Z",
            "2025-04-09T15:01:17.414+02:00",
            "2025-04-09t15:01:17.414Z",
            "2025-04-09T15:01:1x.414Z",
        ] {
            assert_eq!(parse_own_time(s), None, "{s}");
            assert_eq!(parse_time(s), chrono_ms(s), "{s}");
        }
    }

    #[test]
    fn parses_every_generator() {
        for g in [
            json!({"uuid": {}}),
            json!({"index": {}}),
            json!({"template": "agent-{uuid}"}),
            json!({"fake": "sentence"}),
            json!({"one-of": ["a", null], "weights": [3, 1]}),
            json!({"bool": 0.8}),
            json!({"int": {"min": "$a.b", "max": 9}}),
            json!({"timestamp": {"from": "$createdAt", "within": "90d"}}),
            json!({"same-as": "x"}),
            json!({"member-of": "regions.code"}),
            json!({"const": null}),
            json!({"omit": true}),
            json!({"auto": {}}),
            json!({"array": {"min": 1, "max": 2}, "items": {"uuid": {}}}),
            json!({"unique-of": ["a", "b", "c"], "array": {"min": 0, "max": 2}}),
            json!({"object": {"k": {"const": 1}}}),
            json!({"if": {"ready": true}, "then": {"const": 1}, "else": {"omit": true}}),
        ] {
            assert!(parse(&g).is_ok(), "{g}");
        }
    }

    #[test]
    fn rejects_bad_generators_with_reasons() {
        let cases = [
            (json!({"nope": 1}), "unknown generator 'nope'"),
            (json!({"uuid": {}, "const": 1}), "one generator key"),
            (json!({"bool": 2}), "probability"),
            (
                json!({"one-of": ["a"], "weights": [1, 2]}),
                "weights needs 1",
            ),
            (
                json!({"timestamp": {"within": "ninety"}}),
                "within 'ninety'",
            ),
            (
                json!({"if": {"a": 1}, "then": {"const": 1}}),
                "if needs else",
            ),
            (json!({"unique-of": ["a"], "array": {"max": 3}}), "exceeds"),
            (json!("uuid"), "is a map"),
            (json!({"member-of": "regions"}), "COLLECTION.FIELD"),
        ];
        for (g, want) in cases {
            let err = parse(&g).unwrap_err();
            assert!(err.contains(want), "{g}: {err}");
        }
    }

    #[test]
    fn collects_refs() {
        let g = parse(&json!({"if": {"ready": true}, "then": {"same-as": "a"}, "else": {"template": "{ref:b}-{uuid}"}})).unwrap();
        let mut r = Vec::new();
        g.refs(&mut r);
        assert_eq!(r, vec!["ready", "a", "b"]);
    }
}
