//! Lists: which entities a list request returns, in what order, and where the next page starts.
//! The pagination styles of `docs/spec-extensions.md` (page token, id cursor, offset, none) are
//! implemented once here, over an ordered sequence of a collection and compiled filters.

pub mod filter;
pub mod params;
pub mod token;

use std::sync::Arc;

use serde_json::Value;

use crate::api_error::ApiError;
use crate::data::{Order, View};
use crate::spec::behaviour::{Direction, Limit, List, Paging, Sort};
use params::Params;
use token::PageToken;

/// The result of a list request: entity indices in page order, and the envelope's extras.
#[derive(Debug, Clone, PartialEq)]
pub struct ListOutcome {
    pub items: Vec<u32>,
    /// Number of entities matching the filter, over all pages (only when the list envelope
    /// shows it: counting scans the whole filtered set).
    pub total: Option<u64>,
    /// Token for the next page (page-token style), if there is one.
    pub next_token: Option<String>,
    /// Whether more matching items follow this page.
    pub more: bool,
    /// The page size the request asked for (or its default).
    pub limit: Option<u64>,
}

/// The ordered sequence a list walks.
enum Seq {
    Natural { n: u64, desc: bool },
    Sorted { order: Arc<Order>, desc: bool },
}

impl Seq {
    fn len(&self) -> u64 {
        match self {
            Seq::Natural { n, .. } => *n,
            Seq::Sorted { order, .. } => order.perm.len() as u64,
        }
    }

    fn at(&self, pos: u64) -> u32 {
        let n = self.len();
        match self {
            Seq::Natural { desc, .. } => (if *desc { n - 1 - pos } else { pos }) as u32,
            Seq::Sorted { order, desc } => {
                let p = if *desc { n - 1 - pos } else { pos };
                order.perm[p as usize]
            }
        }
    }

    fn pos_of(&self, i: u32) -> u64 {
        let n = self.len();
        match self {
            Seq::Natural { desc, .. } => {
                if *desc {
                    n - 1 - u64::from(i)
                } else {
                    u64::from(i)
                }
            }
            Seq::Sorted { order, desc } => {
                let r = u64::from(order.rank[i as usize]);
                if *desc { n - 1 - r } else { r }
            }
        }
    }
}

/// The sort a request asks for: field (None = dataset order) and direction.
fn resolve_sort(
    sort: &Sort,
    params: &Params,
    bad: u16,
) -> Result<(Option<String>, Direction), ApiError> {
    let o = match sort {
        Sort::Dataset => return Ok((None, Direction::Asc)),
        Sort::Fixed { field, direction } => return Ok((Some(field.clone()), *direction)),
        Sort::Requested(o) => o,
    };
    let dir_of = |v: &Value| match v.as_str() {
        Some("asc") => Some(Direction::Asc),
        Some("desc") => Some(Direction::Desc),
        _ => None,
    };
    let dir = match params.get(&o.param) {
        Some(v) => dir_of(v).ok_or_else(|| {
            ApiError::param(
                bad,
                "query",
                &o.param,
                format!("{}: must be asc or desc", o.param),
            )
        })?,
        None => o
            .direction_flag
            .as_ref()
            .and_then(|f| {
                params
                    .get(&f.param)
                    .and_then(Value::as_bool)
                    .map(|b| if b { f.when_true } else { f.when_false })
            })
            .unwrap_or(o.default),
    };
    let by = match params.get(&o.by_param) {
        Some(v) => v.as_str().map(str::to_string),
        // The deprecated parameter is free text: a value that names no sort field is
        // ignored, as the default is.
        None => Some(
            o.deprecated_by
                .as_ref()
                .and_then(|bp| params.get(bp))
                .and_then(Value::as_str)
                .filter(|v| o.fields.iter().any(|f| f == v))
                .unwrap_or(&o.by_default)
                .to_string(),
        ),
    };
    let by = by.unwrap_or_else(|| o.by_default.clone());
    if !o.fields.contains(&by) {
        let bp = &o.by_param;
        return Err(ApiError::param(
            bad,
            "query",
            bp,
            format!("{bp}: '{by}' is not one of {}", o.fields.join(", ")),
        ));
    }
    Ok((Some(by), dir))
}

/// The page size a request asks for, within the declared bounds.
fn resolve_limit(
    limit: Option<&Limit>,
    params: &Params,
    bad: u16,
) -> Result<Option<u64>, ApiError> {
    let Some(l) = limit else { return Ok(None) };
    let Some(v) = params.get(&l.param) else {
        return Ok(Some(l.default));
    };
    let n = v.as_i64().ok_or_else(|| {
        ApiError::param(
            bad,
            "query",
            &l.param,
            format!("{}: must be an integer", l.param),
        )
    })?;
    // Only a declared minimum is enforced: a document that declares none allows `limit=0`
    // (an empty page), as clients and generated test suites send it.
    let min = l.min.unwrap_or(0) as i64;
    if n < min {
        return Err(ApiError::param(
            bad,
            "query",
            &l.param,
            format!("{}: must be at least {min}", l.param),
        ));
    }
    if let Some(max) = l.max
        && n > max as i64
    {
        return Err(ApiError::param(
            bad,
            "query",
            &l.param,
            format!("{}: must be at most {max}", l.param),
        ));
    }
    Ok(Some(n as u64))
}

/// Parameters a page token is bound to: every filter and order parameter present.
fn bound_params(x: &List, params: &Params) -> Vec<(String, String)> {
    let order = match &x.sort {
        Sort::Requested(o) => Some(o),
        _ => None,
    };
    x.filters
        .iter()
        .flat_map(|f| f.params())
        .chain(order.into_iter().flat_map(|o| o.params()))
        .filter_map(|n| params.get(n).map(|v| (n.to_string(), v.to_string())))
        .collect()
}

/// Run a list request.
pub fn list(
    coll: &View,
    x: &List,
    params: &Params,
    secret: u64,
    bad: u16,
) -> Result<ListOutcome, ApiError> {
    let preds = filter::compile(&x.fixed, &x.filters, params, bad)?;
    let (by, dir) = resolve_sort(&x.sort, params, bad)?;
    let desc = dir == Direction::Desc;
    let n = coll.len() as u64;
    let seq = match by.as_deref().and_then(|f| coll.order(f)) {
        Some(order) => Seq::Sorted { order, desc },
        None => Seq::Natural { n, desc },
    };
    let limit = resolve_limit(x.limit.as_ref(), params, bad)?;
    let matcher = filter::Matcher::new(*coll, &preds);
    let matches = |i: u32| matcher.matches(i);
    let count_all = || {
        if preds.is_empty() {
            coll.live() as u64
        } else {
            (0..n as u32).filter(|&i| matches(i)).count() as u64
        }
    };
    let take = |lo: u64, hi: u64, skip: u64, limit: Option<u64>| -> (Vec<u32>, Option<u64>) {
        // Returns the page and, if more matches follow, the position of the last item taken.
        let mut items = Vec::new();
        let mut skipped = 0;
        let mut last_pos = None;
        for pos in lo..hi {
            let i = seq.at(pos);
            if !matches(i) {
                continue;
            }
            if skipped < skip {
                skipped += 1;
                continue;
            }
            if limit.is_some_and(|l| items.len() as u64 >= l) {
                return (items, last_pos);
            }
            items.push(i);
            last_pos = Some(pos);
        }
        (items, None)
    };
    // A page `size` items long after the first `skip` matches.
    let skipped = |skip: u64, size: Option<u64>| {
        let (items, more) = take(0, n, skip, size);
        ListOutcome {
            items,
            limit,
            total: x.total.as_ref().map(|_| count_all()),
            next_token: None,
            more: more.is_some(),
        }
    };
    match &x.paging {
        Paging::None => {
            let (items, _) = take(0, n, 0, None);
            let total = x.total.as_ref().map(|_| items.len() as u64);
            Ok(ListOutcome {
                items,
                limit,
                total,
                next_token: None,
                more: false,
            })
        }
        // Both skip to a position: an offset names it, a page number counts it in pages.
        Paging::Offset { param } => {
            let skip = params.get(param).and_then(Value::as_u64).unwrap_or(0);
            Ok(skipped(skip, limit))
        }
        Paging::Page { param, first } => {
            let first = *first;
            let number = match params.get(param) {
                None => first,
                Some(v) => v.as_u64().filter(|n| *n >= first).ok_or_else(|| {
                    ApiError::param(
                        bad,
                        "query",
                        param,
                        format!("{param}: must be an integer of at least {first}"),
                    )
                })?,
            };
            let size = limit.unwrap_or(n.max(1));
            Ok(skipped((number - first).saturating_mul(size), Some(size)))
        }
        Paging::Cursor { after, before } => {
            let cursor_pos = |name: Option<&String>| {
                name.and_then(|nm| params.get(nm))
                    .map(crate::data::CollectionModel::key_text)
                    .and_then(|k| coll.lookup(&k))
                    .map(|i| seq.pos_of(i))
            };
            let lo = cursor_pos(Some(after)).map_or(0, |p| p + 1);
            let hi = cursor_pos(before.as_ref()).unwrap_or(n);
            let (items, more) = take(lo, hi.max(lo), 0, limit);
            Ok(ListOutcome {
                items,
                limit,
                total: x.total.as_ref().map(|_| count_all()),
                next_token: None,
                more: more.is_some(),
            })
        }
        Paging::PageToken { param } => {
            let filter = token::filter_hash(secret, &bound_params(x, params));
            let lo = match params.get(param) {
                None => 0,
                Some(v) => {
                    let s = v.as_str().unwrap_or_default();
                    let tok = token::decode(secret, s, filter).map_err(|m| {
                        ApiError::param(bad, "query", param, format!("{param}: {m}"))
                    })?;
                    // Deleted entities keep their slot, so the key finds its exact position
                    // even when that item has gone since.
                    match coll.lookup_any(&tok.key) {
                        Some(i) => seq.pos_of(i).saturating_add(1),
                        None => tok.pos.saturating_add(1),
                    }
                }
            };
            let (items, more) = take(lo, n, 0, limit);
            let next_token = more.map(|pos| {
                let key = coll.key(seq.at(pos));
                token::encode(secret, &PageToken::new(&key, pos, filter))
            });
            Ok(ListOutcome {
                items,
                limit,
                total: x.total.as_ref().map(|_| count_all()),
                more: next_token.is_some(),
                next_token,
            })
        }
    }
}
