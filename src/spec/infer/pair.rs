//! Which `GET` paths pair as a list and its detail (`GET P` with `GET P/{k}`), and the
//! collection names made from the list paths' literal segments.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::conventions::strip_path_suffix;
use super::plan::{Collection, DeclaredCollection, Plan};

/// A list path paired with its detail path.
pub(super) struct Pair {
    pub list_path: String,
    pub detail_path: String,
    /// The detail's key parameter.
    pub key_param: String,
    /// The literal segments of the list path, snake_cased, ignored suffixes stripped (for
    /// naming).
    pub literals: Vec<String>,
}

/// A path without a trailing `/` and without an ignored suffix: what pairing compares.
fn pairing_form(path: &str) -> &str {
    strip_path_suffix(path.strip_suffix('/').unwrap_or(path))
}

/// A path parameter segment's name (`{k}` -> `k`).
fn param_segment(seg: &str) -> Option<&str> {
    seg.strip_prefix('{')?
        .strip_suffix('}')
        .filter(|n| !n.is_empty() && !n.contains(['{', '}']))
}

/// Whether pairing looks at a path item: a `GET` under a plain path.
fn pairable(path: &str, item: &Value) -> bool {
    !path.contains('?') && path.starts_with('/') && item.get("get").is_some()
}

/// Every unambiguous (list, detail) pair of GET paths, in document order of the lists.
pub(super) fn find_pairs(doc: &Value) -> Vec<Pair> {
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return Vec::new();
    };
    // Pairing form -> the document paths that have it (with a GET).
    let mut by_form: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (path, item) in paths {
        if pairable(path, item) {
            by_form
                .entry(pairing_form(path))
                .or_default()
                .push(path.as_str());
        }
    }
    let mut out = Vec::new();
    for (path, item) in paths {
        if !pairable(path, item) {
            continue;
        }
        let form = pairing_form(path);
        if form.is_empty() || by_form.get(form).is_none_or(|v| v.len() != 1) {
            continue;
        }
        // Details: forms that are this form plus one parameter segment.
        let prefix = format!("{form}/");
        let details: Vec<(&str, &str)> = by_form
            .range::<str, _>((
                std::ops::Bound::Included(prefix.as_str()),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(f, _)| f.starts_with(&prefix))
            .filter_map(|(f, ps)| {
                let k = param_segment(f.strip_prefix(&prefix)?)?;
                match ps.as_slice() {
                    [one] => Some((*one, k)),
                    _ => None,
                }
            })
            .collect();
        let [(detail, key)] = details.as_slice() else {
            continue;
        };
        let literals: Vec<String> = form
            .split('/')
            .filter(|s| !s.is_empty() && param_segment(s).is_none() && !s.contains(['{', '}']))
            .map(|s| snake_case(strip_path_suffix(s)))
            .map(|s| {
                s.chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect::<String>()
                    .trim_matches('_')
                    .to_string()
            })
            .filter(|s| !s.is_empty())
            .collect();
        if literals.is_empty() {
            continue;
        }
        out.push(Pair {
            list_path: path.clone(),
            detail_path: (*detail).to_string(),
            key_param: (*key).to_string(),
            literals,
        });
    }
    out
}

/// A unique collection name per plan (declared ones keep theirs): the list path's last literal
/// segment, with parent literal segments prefixed while two names collide (or collide with a
/// declared collection), then a number as a last resort.
pub(super) fn assign_names(
    plans: &[Plan],
    declared: &BTreeMap<String, DeclaredCollection>,
) -> Vec<String> {
    let depth_name = |p: &Plan, d: usize| -> String {
        let n = p.literals.len();
        p.literals[n.saturating_sub(d)..].join("_")
    };
    let fresh: Vec<bool> = plans
        .iter()
        .map(|p| matches!(p.collection, Collection::New { .. }))
        .collect();
    let mut depth = vec![1usize; plans.len()];
    loop {
        let names: Vec<String> = plans
            .iter()
            .zip(&depth)
            .map(|(p, d)| depth_name(p, *d))
            .collect();
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, n) in names.iter().enumerate() {
            if fresh[i] {
                *seen.entry(n.as_str()).or_default() += 1;
            }
        }
        let mut grew = false;
        for (((p, n), d), new) in plans.iter().zip(&names).zip(depth.iter_mut()).zip(&fresh) {
            let clash = seen.get(n.as_str()).copied().unwrap_or(0) > 1 || declared.contains_key(n);
            if *new && clash && *d < p.literals.len() {
                *d += 1;
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    let mut taken: BTreeSet<String> = declared.keys().cloned().collect();
    let mut out = Vec::with_capacity(plans.len());
    for (i, p) in plans.iter().enumerate() {
        if let Collection::Declared(n) = &p.collection {
            out.push(n.clone());
            continue;
        }
        let base = depth_name(p, depth[i]);
        let mut name = base.clone();
        let mut k = 2;
        while taken.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        taken.insert(name.clone());
        out.push(name);
    }
    out
}

/// `OwnerKey` -> `owner_key`, `sourceID` -> `source_id`, `thing_id` stays.
pub(super) fn snake_case(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase()
            && let Some(&prev) = i.checked_sub(1).and_then(|j| chars.get(j))
        {
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        if c == '-' || c == ' ' || c == '.' {
            out.push('_');
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// A plural noun made singular, by the common English endings only.
pub(super) fn singular(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("ies") {
        format!("{stem}y")
    } else if let Some(stem) = word.strip_suffix("sses") {
        format!("{stem}ss")
    } else if let Some(stem) = word.strip_suffix('s')
        && !stem.ends_with('s')
    {
        stem.to_string()
    } else {
        word.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names() {
        assert_eq!(snake_case("OwnerKey"), "owner_key");
        assert_eq!(snake_case("sourceID"), "source_id");
        assert_eq!(snake_case("HTTPServer"), "http_server");
        assert_eq!(snake_case("page-size"), "page_size");
        assert_eq!(singular("policies"), "policy");
        assert_eq!(singular("addresses"), "address");
        assert_eq!(singular("widgets"), "widget");
        assert_eq!(singular("glass"), "glass");
    }

    #[test]
    fn pairs_ignore_a_trailing_slash_and_a_suffix_and_skip_ambiguous_details() {
        let get = json!({"get": {}});
        let d = json!({"paths": {
            "/things/": get, "/things/{id}": get,
            "/owners/{owner}/gadgets.json": get, "/owners/{owner}/gadgets/{GadgetKey}.json": get,
            "/boxes": get, "/boxes/{a}": get, "/boxes/{b}/": get,
            "/misc": {"post": {}}, "/misc/{id}": get,
        }});
        let pairs: Vec<[String; 4]> = find_pairs(&d)
            .into_iter()
            .map(|p| {
                [
                    p.list_path,
                    p.detail_path,
                    p.key_param,
                    p.literals.join(","),
                ]
            })
            .collect();
        assert_eq!(
            pairs,
            [
                ["/things/", "/things/{id}", "id", "things"],
                [
                    "/owners/{owner}/gadgets.json",
                    "/owners/{owner}/gadgets/{GadgetKey}.json",
                    "GadgetKey",
                    "owners,gadgets"
                ],
            ]
        );
    }
}
