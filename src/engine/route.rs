//! Routing: which mounted API and which operation a request is for, with its path parameters;
//! or why none is (no API at that path, no such path, or another method).

use super::{Mount, MountVariant, Request};
use crate::spec::{Operation, Segment};

/// An operation whose path matches: (its index, operation, path parameters, literal segments).
type Candidate<'a> = (usize, &'a Operation, usize);

/// Where an operation was found.
pub(super) struct Routed<'a> {
    pub(super) mount: &'a Mount,
    /// The mount's index in the engine's list.
    pub(super) mount_index: usize,
    pub(super) op: &'a Operation,
    pub(super) op_index: usize,
    pub(super) path_params: Vec<(String, String)>,
    /// The variant the request is answered in (set after routing).
    pub(super) variant: Option<&'a MountVariant>,
}

impl<'a> Routed<'a> {
    /// The operation whose response shapes apply: the variant's copy, or the operation.
    pub(super) fn shape_op(&self) -> &'a crate::spec::Operation {
        self.variant
            .and_then(|v| v.variant.api.operations.get(self.op_index))
            .unwrap_or(self.op)
    }

    /// An entity of `collection` in the shape the request is answered in.
    pub(super) fn shaped(&self, collection: &str, entity: serde_json::Value) -> serde_json::Value {
        match self.variant {
            Some(v) => v.derive(collection, entity),
            None => entity,
        }
    }

    /// Mixed into render-cache keys: 0 for the document's shape.
    pub(super) fn variant_tag(&self) -> u64 {
        self.variant.map_or(0, |v| v.tag)
    }
}

pub(super) enum Route<'a> {
    Found(Routed<'a>),
    MethodNotAllowed(&'a Mount, Vec<String>),
    NotFound(Option<&'a Mount>),
}

/// `path` without `prefix`, when it starts with it at a segment boundary.
pub(super) fn under<'p>(path: &'p str, prefix: &str) -> Option<&'p str> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// Every mount point of every API (`/NAME`, and `""` for an API alone at the root), longest
/// first, with the segments it and its API's server path consume: made once, read by every
/// request.
pub(super) struct Points(Vec<Point>);

struct Point {
    mount: usize,
    at: String,
    at_segments: usize,
    base_segments: usize,
}

impl Points {
    pub(super) fn new(mounts: &[Mount]) -> Self {
        let segments = |p: &str| p.split('/').filter(|s| !s.is_empty()).count();
        let mut points: Vec<Point> = mounts
            .iter()
            .enumerate()
            .flat_map(|(i, m)| {
                m.at.iter().map(move |a| Point {
                    mount: i,
                    at: a.clone(),
                    at_segments: segments(a),
                    base_segments: segments(&m.base),
                })
            })
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.at.len()));
        Points(points)
    }
}

/// Route a request. Each API answers under each of its mount points (`/NAME`, and the root
/// when it is the only one), with the document's paths as written and also under its server
/// URL's path (`/v1`). Of the readings that find an operation, the most specific wins: the
/// most literal segments matched (mount point and server path included), then the most in the
/// operation's own template; a tie goes to the longer mount point, then to the path as written.
pub(super) fn route<'a>(mounts: &'a [Mount], points: &Points, req: &Request) -> Route<'a> {
    let method = req.method.to_ascii_uppercase();
    let mut nearest: Option<Route<'a>> = None;
    let mut best: Option<((usize, usize), Route<'a>)> = None;
    for p in &points.0 {
        let Some(m) = mounts.get(p.mount) else {
            continue;
        };
        let Some(rest) = under(&req.path, &p.at) else {
            continue;
        };
        let readings = [
            Some((rest, p.at_segments)),
            (!m.base.is_empty())
                .then(|| under(rest, &m.base))
                .flatten()
                .map(|r| (r, p.at_segments + p.base_segments)),
        ];
        for (r, consumed) in readings.into_iter().flatten() {
            match route_in(m, p.mount, r, &method) {
                (found @ Route::Found(_), lits) => {
                    let score = (consumed + lits, lits);
                    if best.as_ref().is_none_or(|(s, _)| score > *s) {
                        best = Some((score, found));
                    }
                }
                (other, _) => {
                    let better = matches!(
                        (&nearest, &other),
                        (None, _) | (Some(Route::NotFound(_)), Route::MethodNotAllowed(..))
                    );
                    if better {
                        nearest = Some(other);
                    }
                }
            }
        }
    }
    match best {
        Some((_, found)) => found,
        None => nearest.unwrap_or(Route::NotFound(None)),
    }
}

/// Route `rest` (the path below a mount point) within one API; with a found operation, the
/// number of literal segments its template matched.
fn route_in<'a>(
    mount: &'a Mount,
    mount_index: usize,
    rest: &str,
    method: &str,
) -> (Route<'a>, usize) {
    // Decoded only where a segment has an escape: most paths allocate nothing here.
    let segs: Vec<std::borrow::Cow<'_, str>> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy())
        .collect();
    let mut candidates: Vec<Candidate> = mount
        .api
        .operations
        .iter()
        .enumerate()
        .filter_map(|(i, op)| literals_matched(&op.segments, &segs).map(|lits| (i, op, lits)))
        .collect();
    if candidates.is_empty() {
        return (Route::NotFound(Some(mount)), 0);
    }
    // The most specific template wins; if it lacks the method, a less specific one that has
    // it answers (as path routers do), and only then is the method not allowed.
    candidates.sort_by_key(|c| std::cmp::Reverse(c.2));
    match candidates.iter().position(|c| c.1.method == method) {
        Some(i) => {
            let (op_index, op, lits) = candidates.swap_remove(i);
            (
                Route::Found(Routed {
                    mount,
                    mount_index,
                    op,
                    op_index,
                    path_params: path_params(&op.segments, &segs),
                    variant: None,
                }),
                lits,
            )
        }
        None => {
            let mut allow: Vec<String> = candidates.iter().map(|c| c.1.method.clone()).collect();
            allow.sort();
            allow.dedup();
            (Route::MethodNotAllowed(mount, allow), 0)
        }
    }
}

/// Whether request segments match a template: the number of its literal segments, if so.
fn literals_matched<S: AsRef<str>>(tpl: &[Segment], segs: &[S]) -> Option<usize> {
    if tpl.len() != segs.len() {
        return None;
    }
    let mut lits = 0;
    for (t, s) in tpl.iter().zip(segs) {
        match t {
            Segment::Lit(l) if l == s.as_ref() => lits += 1,
            Segment::Lit(_) => return None,
            Segment::Param(_) => {}
        }
    }
    Some(lits)
}

/// The path parameters of request segments that match a template.
fn path_params<S: AsRef<str>>(tpl: &[Segment], segs: &[S]) -> Vec<(String, String)> {
    tpl.iter()
        .zip(segs)
        .filter_map(|(t, s)| match t {
            Segment::Param(p) => Some((p.clone(), s.as_ref().to_string())),
            Segment::Lit(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_match_with_params() {
        let tpl = vec![Segment::Lit("things".into()), Segment::Param("id".into())];
        let segs = ["things", "a b"];
        assert_eq!(literals_matched(&tpl, &segs), Some(1));
        assert_eq!(
            path_params(&tpl, &segs),
            vec![("id".to_string(), "a b".to_string())]
        );
        assert_eq!(literals_matched(&tpl, &["things"]), None);
        assert_eq!(literals_matched(&tpl, &["other", "a"]), None);
    }
}
