//! A write applied to one entity: the request body's accepted fields replaced, merged (JSON
//! merge patch, RFC 7396) or partially updated, the write's timestamps, the aliases that
//! follow a changed field, and the checks that keep a written value one a client can read.
//! Which entity, which fields a body may set and where the result is kept are decided above
//! (the resolved model and the engine); this module only changes JSON values.

use std::collections::HashSet;

use serde_json::Value;

use super::entity::{Entity, format_millis};
use super::model::CollectionModel;
use super::path::{extract, root_of, set_path};
use crate::spec::behaviour::BodyPointer;
use crate::spec::schema::{Kind, Node};

/// How a body's fields reach the entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Merge {
    /// The fields the body gives are set; accepted optional fields it leaves out are removed
    /// (a required one becomes null where it may, else keeps its value).
    Replace,
    /// JSON merge patch: objects merge, `null` removes an optional field.
    Patch,
    /// A partial update: each field given replaces the old value whole, `null` changes
    /// nothing.
    Partial,
}

/// How a timestamp field writes a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeForm {
    /// RFC 3339 with milliseconds (`2026-11-01T00:00:00.000Z`).
    DateTime,
    /// A calendar date (`2026-11-01`).
    Date,
    /// Unix seconds (an integer).
    Seconds,
    /// Unix milliseconds (an integer).
    Millis,
    /// Unix seconds as a number.
    FractionalSeconds,
}

impl TimeForm {
    /// The form a field of this schema takes, if it can hold a time at all; `millis` when its
    /// name says milliseconds.
    pub(crate) fn of(node: &Node, millis: bool) -> Option<TimeForm> {
        match &*node.kind {
            Kind::String { format, .. } => match format.as_deref() {
                Some("date-time") | None => Some(TimeForm::DateTime),
                Some("date") => Some(TimeForm::Date),
                Some(_) => None,
            },
            Kind::Integer { .. } if millis => Some(TimeForm::Millis),
            Kind::Integer { .. } => Some(TimeForm::Seconds),
            Kind::Number { .. } => Some(TimeForm::FractionalSeconds),
            _ => None,
        }
    }

    /// The time `ms` (Unix milliseconds) in this form.
    pub(crate) fn value(self, ms: i64) -> Value {
        match self {
            TimeForm::DateTime => Value::String(format_millis(ms)),
            TimeForm::Date => Value::String(format_millis(ms).chars().take(10).collect()),
            TimeForm::Seconds => Value::from(ms.div_euclid(1000)),
            TimeForm::Millis => Value::from(ms),
            TimeForm::FractionalSeconds => Value::from(ms as f64 / 1000.0),
        }
    }
}

/// Apply `body`'s accepted fields (`(entity field path, JSON pointer into the body)` pairs)
/// to `entity`.
pub(crate) fn apply(
    entity: &mut Value,
    body: &Value,
    accepts: &[(String, BodyPointer)],
    merge: Merge,
    node: &Node,
) {
    for (to, from) in accepts {
        let given = from.get(body);
        // Only a top-level field is left out for being absent from the body: a nested one
        // (set from a part of the body) keeps its value.
        let top = !to.contains(['.', '[']);
        match (merge, given) {
            (Merge::Replace, Some(v)) => set_path(entity, to, Some(v.clone())),
            (Merge::Replace, None) if top && !node.requires(to) => set_path(entity, to, None),
            // Required, and the client may leave it out: null where the schema allows it.
            (Merge::Replace, None) if top && node.prop(to).is_some_and(|n| n.nullable) => {
                set_path(entity, to, Some(Value::Null))
            }
            (Merge::Patch, Some(Value::Null)) if !node.requires(to) => set_path(entity, to, None),
            (Merge::Patch, Some(v)) => {
                let mut cur = extract(entity, to);
                crate::spec::merge_patch(&mut cur, v);
                set_path(entity, to, Some(cur));
            }
            (Merge::Partial, Some(v)) if !v.is_null() => set_path(entity, to, Some(v.clone())),
            _ => {}
        }
    }
}

/// `entity` (kept at slot `index`) after a write changed the fields at `changed` (dotted
/// paths): the top-level aliases (`same-as`) of a changed field (directly or through another
/// alias) generated again, reading the entity's values, so that a second name of a field
/// follows the write. The key, the changed fields and every other field keep their values.
/// `entity` is changed in place; returns the top-level fields generated again.
pub(crate) fn rederive(
    model: &CollectionModel,
    seed: u64,
    index: u64,
    entity: &mut Value,
    changed: &[String],
) -> Vec<String> {
    let Value::Object(m) = &*entity else {
        return Vec::new();
    };
    // Only aliases follow a write: a collection without any has nothing to do here.
    if model.rows.is_some() || !model.fields.values().any(|g| g.is_alias()) {
        return Vec::new();
    }
    let written: HashSet<&str> = changed.iter().map(|c| root_of(c)).collect();
    let mut dependent: HashSet<&str> = HashSet::new();
    loop {
        let mut grew = false;
        for (gkey, g) in &model.fields {
            let root = root_of(gkey);
            // Only aliases follow (a service keeps a prompt made from the old name), and the
            // key never changes.
            if !g.is_alias()
                || root == root_of(&model.key)
                || written.contains(root)
                || dependent.contains(root)
            {
                continue;
            }
            let mut refs = Vec::new();
            g.refs(&mut refs);
            if refs
                .iter()
                .any(|r| written.contains(root_of(r)) || dependent.contains(root_of(r)))
            {
                dependent.insert(root);
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    if dependent.is_empty() {
        return Vec::new();
    }
    let mut pinned: super::FastMap<String, Value> = m
        .iter()
        .filter(|(k, _)| !dependent.contains(k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for c in changed {
        if let Some(v) = m.get(root_of(c)).map(|_| extract(entity, c)) {
            pinned.insert(c.clone(), v);
        }
    }
    let fresh = Entity::pinned(model, seed, index, &pinned);
    let mut again = Vec::with_capacity(dependent.len());
    for root in dependent {
        let v = fresh.field(root);
        set_path(entity, root, v);
        again.push(root.to_string());
    }
    again
}

/// Put back, from `before`, the top-level fields named by `fields` (removing the ones `before`
/// does not have): a body value the entity's schema refuses does not stay.
pub(crate) fn revert(entity: &mut Value, before: &Value, fields: &[String]) {
    for f in fields {
        set_path(entity, f, before.get(f).cloned());
    }
}

/// Whether every integer `node` asks for in `v` is one a client reads as an integer: a whole
/// number too large for 64 bits arrives as a float (`-8.7e33`), which JSON Schema counts as
/// an integer and most clients' parsers do not.
pub(crate) fn integers_fit(v: &Value, node: &Node) -> bool {
    match (&*node.kind, v) {
        (Kind::Integer { .. }, Value::Number(n)) => n.is_i64() || n.is_u64(),
        (Kind::Object { props, .. }, Value::Object(m)) => props
            .iter()
            .all(|(k, n)| m.get(k).is_none_or(|x| integers_fit(x, n))),
        (Kind::Array { items, .. }, Value::Array(a)) => a.iter().all(|x| integers_fit(x, items)),
        (Kind::OneOf(branches), _) => branches.iter().any(|b| integers_fit(v, b)),
        _ => true,
    }
}

/// The top-level fields of the entity `v` (of schema `node`) with an integer a client cannot
/// read ([`integers_fit`]).
pub(crate) fn unfit_fields<'a>(v: &'a Value, node: &'a Node) -> impl Iterator<Item = &'a str> {
    let props = match (v, &*node.kind) {
        (Value::Object(_), Kind::Object { props, .. }) => &props[..],
        _ => &[],
    };
    props
        .iter()
        .filter(move |(k, n)| v.get(k).is_some_and(|x| !integers_fit(x, n)))
        .map(|(k, _)| k.as_str())
}

/// Whether `v` holds a number that is not a 64-bit integer (where [`integers_fit`] can fail):
/// walking the value is cheaper than walking the schema beside it.
pub(crate) fn has_float(v: &Value) -> bool {
    match v {
        Value::Number(n) => !(n.is_i64() || n.is_u64()),
        Value::Array(a) => a.iter().any(has_float),
        Value::Object(m) => m.values().any(has_float),
        _ => false,
    }
}

/// Set each timestamp field to `ms`.
pub(crate) fn stamp(entity: &mut Value, fields: &[(String, TimeForm)], ms: i64) {
    for (f, form) in fields {
        set_path(entity, f, Some(form.value(ms)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node() -> Node {
        Node::of(Kind::Object {
            props: vec![
                ("name".into(), Node::of(Kind::Any)),
                ("tags".into(), Node::of(Kind::Any)),
                ("meta".into(), Node::of(Kind::Any)),
            ],
            required: vec!["name".into()],
            free_form: false,
            additional: None,
        })
    }

    fn accepts() -> Vec<(String, BodyPointer)> {
        ["name", "tags", "meta"]
            .iter()
            .map(|s| (s.to_string(), BodyPointer::new(&format!("/{s}"))))
            .collect()
    }

    #[test]
    fn only_fractional_numbers_can_fail_integers() {
        assert!(!has_float(
            &json!({"a": [1, -2, {"b": 18446744073709551615u64}], "c": "1.5"})
        ));
        assert!(has_float(&json!({"a": [1, {"b": 1.5}]})));
        assert!(has_float(&json!(-8.7e33)));
    }

    #[test]
    fn a_patch_merges_objects_and_null_removes_only_optional_fields() {
        let mut e = json!({"name": "a", "tags": ["x"], "meta": {"k": 1, "j": 2}, "id": "i"});
        let body = json!({"name": null, "tags": null, "meta": {"j": null, "n": 3}, "id": "z"});
        apply(&mut e, &body, &accepts(), Merge::Patch, &node());
        assert_eq!(
            e,
            json!({"name": null, "meta": {"k": 1, "n": 3}, "id": "i"})
        );
    }

    #[test]
    fn a_replace_drops_optional_fields_the_body_leaves_out() {
        let mut e = json!({"name": "a", "tags": ["x"], "meta": {"k": 1}});
        apply(
            &mut e,
            &json!({"meta": {"n": 2}}),
            &accepts(),
            Merge::Replace,
            &node(),
        );
        assert_eq!(e, json!({"name": "a", "meta": {"n": 2}}));
    }

    #[test]
    fn a_replace_takes_only_accepted_fields_and_revert_restores_them() {
        let before = json!({"name": "a", "id": "i"});
        let mut e = before.clone();
        apply(
            &mut e,
            &json!({"name": "b", "tags": [1], "id": "z"}),
            &accepts(),
            Merge::Replace,
            &node(),
        );
        assert_eq!(e, json!({"name": "b", "id": "i", "tags": [1]}));
        revert(&mut e, &before, &["tags".into(), "name".into()]);
        assert_eq!(e, before);
    }

    #[test]
    fn a_partial_update_ignores_nulls_replaces_whole_values_and_reads_nested_body_fields() {
        let mut e = json!({"name": "a", "meta": {"k": 1}, "scale": {"min": 0, "max": 5}});
        let accepts = vec![
            ("name".to_string(), BodyPointer::new("/name")),
            ("meta".to_string(), BodyPointer::new("/meta")),
            ("scale.max".to_string(), BodyPointer::new("/scaling/most")),
        ];
        let body = json!({"name": null, "meta": {"k": null, "n": 2}, "scaling": {"most": 9}});
        apply(&mut e, &body, &accepts, Merge::Partial, &node());
        assert_eq!(
            e,
            json!({"name": "a", "meta": {"k": null, "n": 2}, "scale": {"min": 0, "max": 9}})
        );
    }

    #[test]
    fn a_whole_number_past_64_bits_is_no_integer() {
        let int = Node::of(Kind::Integer {
            min: None,
            max: None,
        });
        let v: Value = serde_json::from_str("-8796136565198589590596207373189120").unwrap();
        assert!(!integers_fit(&v, &int));
        assert!(integers_fit(&json!(-5), &int));
        assert!(integers_fit(&json!(u64::MAX), &int));
        let obj = Node::of(Kind::Object {
            props: vec![("n".into(), int)],
            required: vec![],
            free_form: false,
            additional: None,
        });
        assert!(!integers_fit(&json!({"n": 1.5e40}), &obj));
    }

    #[test]
    fn times_take_the_field_form() {
        let ms = 1_793_491_200_123;
        assert_eq!(
            TimeForm::DateTime.value(ms),
            json!("2026-11-01T00:00:00.123Z")
        );
        assert_eq!(TimeForm::Date.value(ms), json!("2026-11-01"));
        assert_eq!(TimeForm::Seconds.value(ms), json!(1_793_491_200));
        assert_eq!(TimeForm::Millis.value(ms), json!(ms));
    }
}
