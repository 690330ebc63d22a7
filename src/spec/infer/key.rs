//! The key of an inferred collection: which entity field a detail's path parameter names, how
//! that field's values are made unique and never null, and whether the parameter's `pattern`
//! can be kept as `key-pattern`.
//!
//! Two entities with the same key make the collection refuse to build, and the server refuse
//! to start, so only generation that is unique by construction is trusted: UUIDs at their full
//! length (a `uuid` format, or an identifier's default), the field's own `pattern` when every
//! match draws at least [`MIN_PATTERN_BITS`] random bits, and otherwise an indexed template
//! (`thing-{index}`) that fits the field's length bounds and pattern. Anything else is refused.

use regex_syntax::hir::{Class, Hir, HirKind};
use serde_json::{Value, json};

use super::conventions::NAMES;
use super::doc::Doc;
use super::pair::{singular, snake_case};
use super::shape::type_of;
use crate::data::entity::{MAX_GENERATED_LENGTH, is_generated_format};

/// The fewest random bits every match of a key field's pattern must draw for the pattern to
/// be trusted with unique keys: 16 characters from an alphabet of 16. (Among a million keys,
/// a repeat is then less likely than one in ten million.)
const MIN_PATTERN_BITS: f64 = 64.0;
/// Entity positions (1-based) whose indexed template values must fit the field: the first
/// 99 999 entities get keys the document allows.
const SAMPLE_INDICES: &[u64] = &[1, 2, 9, 10, 99, 100, 999, 1000, 9999, 10000, 99999];
/// The widest zero padding an indexed template gets to reach a `minLength`.
const MAX_PAD: u64 = 64;
/// A UUID's length.
const UUID_LEN: u64 = 36;

/// The item fields a key parameter may name, in order of preference.
pub(super) fn key_candidates(param: &str, segment: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    };
    let last_word = segment.rsplit('_').next().unwrap_or(segment);
    let head = segment.strip_suffix(last_word).unwrap_or("");
    let item_noun = singular(last_word);
    push(param.to_string());
    let snake = snake_case(param);
    push(snake.clone());
    // The item's noun and one attribute (`widget_label` under `.../widgets`): the attribute.
    if let Some((noun, word)) = snake.split_once('_')
        && noun == item_noun
        && !word.contains('_')
        && !NAMES.key_fields.contains(&word)
    {
        push(word.to_string());
    }
    for f in NAMES.key_fields {
        push((*f).to_string());
    }
    push(format!("{head}{item_noun}_id"));
    for suffix in NAMES.key_suffixes {
        if let Some(stem) = param.strip_suffix(suffix) {
            push(stem.to_string());
            push(snake_case(stem));
        }
    }
    out
}

/// What values a key field will hold, for deciding whether a key pattern admits them.
#[derive(Debug, PartialEq)]
pub(super) enum KeyValues {
    /// Drawn from the field's own pattern (as written).
    Pattern(String),
    /// Values the keys look like: two UUIDs, or an indexed template's values at
    /// [`SAMPLE_INDICES`].
    Samples(Vec<String>),
    /// Something else (a declared generator).
    Unknown,
}

/// Whether a key field gives unique, non-null values, and the generator it needs for that:
/// `auto` for a nullable field whose default values are unique (so it is never null), an
/// indexed template for a field whose default values could repeat. `None` when no safe
/// generator is known (enumerations, non-string types, formats other than `uuid`, bounds or
/// patterns that no indexed template fits).
pub(super) fn key_generation(
    doc: &Doc,
    field: &str,
    schema: &Value,
) -> Option<(Option<Value>, KeyValues)> {
    if field.contains(['.', '[', ']']) {
        return None;
    }
    let nullable = doc.admits_null(schema);
    let s = doc.underlying(schema)?;
    if type_of(s) != Some("string") || s.get("enum").is_some() || s.get("const").is_some() {
        return None;
    }
    let format = s.get("format").and_then(Value::as_str);
    let pattern = s.get("pattern").and_then(Value::as_str);
    let min = s.get("minLength").and_then(Value::as_u64);
    let max = s.get("maxLength").and_then(Value::as_u64);
    let auto = nullable.then(|| json!({"auto": {}}));
    // What the field gets by default: a drawn format, else its pattern, else (for an
    // identifier's name) a UUID.
    let drawn_format = format.filter(|f| is_generated_format(f));
    let lower = field.to_ascii_lowercase();
    let id_like = lower == "id" || (lower.ends_with("id") && lower.len() > 2);
    let uuids = drawn_format == Some("uuid")
        || (id_like && format.is_none() && pattern.is_none_or(|p| !generates(p)));
    if uuids && max.is_none_or(|m| m >= UUID_LEN) {
        return Some((auto, KeyValues::Samples(uuid_samples(min))));
    }
    if drawn_format.is_none()
        && let Some(p) = pattern
        && generates(p)
        && min_bits(p).is_some_and(|b| b >= MIN_PATTERN_BITS)
    {
        return Some((auto, KeyValues::Pattern(p.to_string())));
    }
    // A template states no format.
    if format.is_some() {
        return None;
    }
    let (template, samples) = indexed_template(field, min, max, pattern)?;
    Some((
        Some(json!({ "template": template })),
        KeyValues::Samples(samples),
    ))
}

/// Whether the entity generator draws values from `pattern` (it can only for some).
fn generates(pattern: &str) -> bool {
    crate::spec::schema::Pattern::new(pattern).is_some()
}

/// Two UUIDs, padded as the entity generator pads them to a `minLength`.
fn uuid_samples(min: Option<u64>) -> Vec<String> {
    let pad = min
        .unwrap_or(0)
        .min(MAX_GENERATED_LENGTH)
        .saturating_sub(UUID_LEN);
    [
        "123e4567-e89b-42d3-a456-426614174000",
        "fedcba98-7654-4321-b987-0123456789ab",
    ]
    .iter()
    .map(|u| {
        let mut s = u.to_string();
        s.extend(std::iter::repeat_n('x', usize::try_from(pad).unwrap_or(0)));
        s
    })
    .collect()
}

/// The random bits every match of `pattern` draws at least (`None` when it does not parse).
fn min_bits(pattern: &str) -> Option<f64> {
    // Parsed as the entity generator parses it.
    Some(hir_bits(&crate::spec::schema::parse_pattern(pattern)?))
}

fn hir_bits(h: &Hir) -> f64 {
    let width = |n: u64| (n.max(1) as f64).log2();
    match h.kind() {
        HirKind::Empty | HirKind::Literal(_) | HirKind::Look(_) => 0.0,
        HirKind::Class(Class::Unicode(c)) => width(
            c.ranges()
                .iter()
                .map(|r| u64::from(r.end()) - u64::from(r.start()) + 1)
                .sum(),
        ),
        HirKind::Class(Class::Bytes(c)) => width(
            c.ranges()
                .iter()
                .map(|r| u64::from(r.end()) - u64::from(r.start()) + 1)
                .sum(),
        ),
        HirKind::Repetition(r) => f64::from(r.min) * hir_bits(&r.sub),
        HirKind::Capture(c) => hir_bits(&c.sub),
        HirKind::Concat(parts) => parts.iter().map(hir_bits).sum(),
        HirKind::Alternation(alts) => alts.iter().map(hir_bits).reduce(f64::min).unwrap_or(0.0),
    }
}

/// An indexed template for a string key field (`thing-{index}`, `thing_{index}` or `{index}`,
/// zero-padded to a `minLength`) whose values at [`SAMPLE_INDICES`] fit the field's length
/// bounds and pattern, with those values.
fn indexed_template(
    field: &str,
    min: Option<u64>,
    max: Option<u64>,
    pattern: Option<&str>,
) -> Option<(String, Vec<String>)> {
    let re = match pattern {
        Some(p) => Some(regex::Regex::new(p).ok()?),
        None => None,
    };
    let word: String = snake_case(field)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let word = match word.trim_matches('-') {
        "" => "key",
        w => w,
    };
    // A pattern's own shortest match counts as a minimum length (`^[0-9]{18}$`).
    let shortest = pattern
        .and_then(crate::spec::schema::parse_pattern)
        .and_then(|h| h.properties().minimum_len())
        .map_or(0, |n| n as u64);
    let min = min.unwrap_or(0).max(shortest);
    for head in [format!("{word}-"), format!("{word}_"), String::new()] {
        let pad = min.saturating_sub(head.len() as u64).max(1);
        if pad > MAX_PAD {
            continue;
        }
        let width = usize::try_from(pad).ok()?;
        let samples: Vec<String> = SAMPLE_INDICES
            .iter()
            .map(|i| format!("{head}{i:0width$}"))
            .collect();
        let fits = samples.iter().all(|v| {
            let n = v.chars().count() as u64;
            n >= min && max.is_none_or(|m| n <= m) && re.as_ref().is_none_or(|r| r.is_match(v))
        });
        if fits {
            let index = if width > 1 {
                format!("{{index:{width}}}")
            } else {
                "{index}".to_string()
            };
            return Some((format!("{head}{index}"), samples));
        }
    }
    None
}

/// The key parameter's `pattern`, as written, when the collection's keys match it (otherwise
/// every listed entity's detail would be refused as malformed) and it compiles.
pub(super) fn key_pattern(doc: &Doc, param: &Value, values: &KeyValues) -> Option<String> {
    let p = param
        .get("schema")
        .and_then(|s| doc.underlying(s))
        .and_then(|s| s.get("pattern"))
        .and_then(Value::as_str)?;
    let re = regex::Regex::new(p).ok()?;
    let fits = match values {
        // Only returned for patterns the entity generator draws from.
        KeyValues::Pattern(own) => own == p,
        KeyValues::Samples(v) => v.iter().all(|s| re.is_match(s)),
        KeyValues::Unknown => false,
    };
    fits.then(|| p.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generation(field: &str, schema: Value) -> Option<(Option<Value>, KeyValues)> {
        let d = json!({});
        key_generation(&Doc::new(&d), field, &schema)
    }

    fn generator(field: &str, schema: Value) -> Option<Option<Value>> {
        generation(field, schema).map(|(g, _)| g)
    }

    #[test]
    fn candidates() {
        assert_eq!(
            key_candidates("widget_label", "widgets"),
            ["widget_label", "label", "id", "sid", "widget_id"]
        );
        assert_eq!(
            key_candidates("thing_code", "thing_codes"),
            ["thing_code", "id", "sid", "thing_code_id"]
        );
        assert_eq!(
            key_candidates("GadgetSetSid", "gadget_sets"),
            [
                "GadgetSetSid",
                "gadget_set_sid",
                "id",
                "sid",
                "gadget_set_id",
                "GadgetSet",
                "gadget_set"
            ]
        );
    }

    #[test]
    fn uuids_only_at_full_length() {
        let uuid = generation("id", json!({"type": "string"}));
        assert!(matches!(uuid, Some((None, KeyValues::Samples(_)))));
        assert!(matches!(
            generation(
                "ref",
                json!({"type": "string", "format": "uuid", "maxLength": 36})
            ),
            Some((None, KeyValues::Samples(_)))
        ));
        // A nullable identifier is made never null.
        assert_eq!(
            generator("id", json!({"type": "string", "nullable": true})),
            Some(Some(json!({"auto": {}})))
        );
        // Cut UUIDs could repeat: an indexed template fits instead.
        assert_eq!(
            generator("thingId", json!({"type": "string", "maxLength": 16})),
            Some(Some(json!({"template": "thing-id-{index}"})))
        );
        assert_eq!(
            generator("id", json!({"type": "string", "maxLength": 6})),
            Some(Some(json!({"template": "{index}"})))
        );
        // A UUID format cut short: nothing both fits and is unique.
        assert_eq!(
            generator(
                "id",
                json!({"type": "string", "format": "uuid", "maxLength": 8})
            ),
            None
        );
    }

    #[test]
    fn patterns_are_trusted_only_with_enough_randomness() {
        let wide = "^TH[0-9a-fA-F]{32}$";
        assert_eq!(
            generation("sid", json!({"type": "string", "pattern": wide})),
            Some((None, KeyValues::Pattern(wide.into())))
        );
        // Three digits at most: a thousand values, and no indexed template fits.
        assert_eq!(
            generator("id", json!({"type": "string", "pattern": "^[0-9]{1,3}$"})),
            None
        );
        // Digits: an index fits.
        assert_eq!(
            generator("code", json!({"type": "string", "pattern": "^[0-9]+$"})),
            Some(Some(json!({"template": "{index}"})))
        );
        assert_eq!(
            generator(
                "thing_code",
                json!({"type": "string", "pattern": "^[a-z-]+_[0-9]+$"})
            ),
            Some(Some(json!({"template": "thing-code_{index}"})))
        );
        // Eleven lowercase letters and digits: about 57 bits, not enough to draw them; an
        // index padded to the pattern's length fits.
        assert_eq!(
            generator("id", json!({"type": "string", "pattern": "^[a-z0-9]{11}$"})),
            Some(Some(json!({"template": "{index:11}"})))
        );
        assert_eq!(
            generator(
                "id",
                json!({"type": "string", "pattern": "^id-[a-z0-9]{8,}$"})
            ),
            Some(Some(json!({"template": "id-{index:8}"})))
        );
        // Letters only: no index fits.
        assert_eq!(
            generator("id", json!({"type": "string", "pattern": "^[a-z]{11}$"})),
            None
        );
    }

    #[test]
    fn templates_fit_length_bounds() {
        assert_eq!(
            generator("label", json!({"type": "string", "minLength": 10})),
            Some(Some(json!({"template": "label-{index:4}"})))
        );
        assert_eq!(
            generator("label", json!({"type": "string"})),
            Some(Some(json!({"template": "label-{index}"})))
        );
        assert_eq!(
            generator("label", json!({"type": "string", "maxLength": 4})),
            None
        );
        assert_eq!(
            generator("label", json!({"type": "string", "format": "email"})),
            None
        );
        assert_eq!(
            generator("label", json!({"type": "string", "enum": ["a"]})),
            None
        );
        assert_eq!(generator("label", json!({"type": "integer"})), None);
    }

    #[test]
    fn key_patterns_are_kept_when_the_keys_match() {
        let d = json!({});
        let doc = Doc::new(&d);
        let param = |p: &str| json!({"schema": {"type": "string", "pattern": p}});
        let (_, values) =
            generation("id", json!({"type": "string"})).unwrap_or((None, KeyValues::Unknown));
        assert_eq!(
            key_pattern(&doc, &param("^[0-9a-f-]{36}$"), &values),
            Some("^[0-9a-f-]{36}$".into())
        );
        assert_eq!(key_pattern(&doc, &param("^[0-9]+$"), &values), None);
        let (_, values) =
            generation("label", json!({"type": "string"})).unwrap_or((None, KeyValues::Unknown));
        assert_eq!(
            key_pattern(&doc, &param("^label-[0-9]+$"), &values),
            Some("^label-[0-9]+$".into())
        );
        assert_eq!(key_pattern(&doc, &param("^[0-9]+$"), &values), None);
        assert_eq!(key_pattern(&doc, &param("^.*$"), &KeyValues::Unknown), None);
    }
}
