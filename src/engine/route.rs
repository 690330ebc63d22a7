//! Routing: which mounted API and which operation a request is for, with its path parameters;
//! or why none is (no API at that path, no such path, or another method).

use std::borrow::Cow;

use smallvec::SmallVec;

use super::{Mount, MountVariant, Request};
use crate::spec::{Operation, Segment};

mod tree;

/// Where an operation was found.
pub(super) struct Routed<'a> {
    pub(super) mount: &'a Mount,
    /// The mount's index in the engine's list.
    pub(super) mount_index: usize,
    pub(super) op: &'a Operation,
    pub(super) op_index: usize,
    /// Each path parameter's name (in the template) and value (decoded).
    pub(super) path_params: SmallVec<[(&'a str, String); 2]>,
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
/// first, with the segments it and its API's server path consume; and each mount's path
/// templates as a tree: made once, read by every request.
pub(super) struct Points(Vec<Point>, Vec<tree::Tree>);

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
        let trees = mounts
            .iter()
            .map(|m| tree::Tree::new(m.api.operations.iter().map(|op| op.segments.as_slice())))
            .collect();
        Points(points, trees)
    }
}

/// What routing found below one mount point.
enum Within {
    /// An operation: its index and the literal segments its template matched.
    Found(usize, usize),
    /// Templates match the path, but none has the method: the methods they have.
    Method(Vec<String>),
    NotFound,
}

/// Route a request. Each API answers under each of its mount points (`/NAME`, and the root
/// when it is the only one), with the document's paths as written and also under its server
/// URL's path (`/v1`). Of the readings that find an operation, the most specific wins: the
/// most literal segments matched (mount point and server path included), then the most in the
/// operation's own template; a tie goes to the longer mount point, then to the path as written.
pub(super) fn route<'a>(mounts: &'a [Mount], points: &Points, req: &Request) -> Route<'a> {
    let upper;
    let method = if req.method().bytes().any(|b| b.is_ascii_lowercase()) {
        upper = req.method().to_ascii_uppercase();
        upper.as_str()
    } else {
        req.method()
    };
    let path = req.path();
    // The path's segments, split once: a reading below a mount point (and server path) is
    // the tail after the segments they consume. Decoded only when the path has an escape.
    let (segs, escaped) = segments(path);
    if escaped {
        let decoded: SmallVec<[Cow<'_, str>; 8]> = segs
            .iter()
            .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy())
            .collect();
        return route_segments(mounts, points, method, path, &decoded);
    }
    route_segments(mounts, points, method, path, &segs)
}

/// A path's non-empty segments, and whether any has a percent escape: one pass over the
/// bytes (`str::split` searches for each separator anew, which costs several times more on
/// the short segments of a path).
fn segments(path: &str) -> (SmallVec<[&str; 8]>, bool) {
    let mut segs = SmallVec::new();
    let (mut start, mut escaped) = (0, false);
    for (i, &b) in path.as_bytes().iter().enumerate() {
        if b == b'/' {
            if i > start
                && let Some(seg) = path.get(start..i)
            {
                segs.push(seg);
            }
            start = i + 1;
        } else if b == b'%' {
            escaped = true;
        }
    }
    if let Some(seg) = path.get(start..).filter(|s| !s.is_empty()) {
        segs.push(seg);
    }
    (segs, escaped)
}

/// [`route`] with the path's segments (decoded).
fn route_segments<'a, S: AsRef<str>>(
    mounts: &'a [Mount],
    points: &Points,
    method: &str,
    path: &str,
    segs: &[S],
) -> Route<'a> {
    let mut nearest: Option<Route<'a>> = None;
    // ((score), mount index, operation index, segments consumed before the template)
    let mut best: Option<((usize, usize), usize, usize, usize)> = None;
    for p in &points.0 {
        let (Some(m), Some(tree)) = (mounts.get(p.mount), points.1.get(p.mount)) else {
            continue;
        };
        let Some(rest) = under(path, &p.at) else {
            continue;
        };
        let readings = [
            Some(p.at_segments),
            (!m.base.is_empty() && under(rest, &m.base).is_some())
                .then_some(p.at_segments + p.base_segments),
        ];
        for consumed in readings.into_iter().flatten() {
            let Some(tail) = segs.get(consumed..) else {
                continue;
            };
            match route_in(m, tree, tail, method) {
                Within::Found(op_index, lits) => {
                    let score = (consumed + lits, lits);
                    if best.as_ref().is_none_or(|b| score > b.0) {
                        best = Some((score, p.mount, op_index, consumed));
                    }
                }
                other => {
                    let better = matches!(
                        (&nearest, &other),
                        (None, _) | (Some(Route::NotFound(_)), Within::Method(_))
                    );
                    if better {
                        nearest = Some(match other {
                            Within::Method(allow) => Route::MethodNotAllowed(m, allow),
                            _ => Route::NotFound(Some(m)),
                        });
                    }
                }
            }
        }
    }
    let found = best.and_then(|(_, mount_index, op_index, consumed)| {
        let mount = mounts.get(mount_index)?;
        let op = mount.api.operations.get(op_index)?;
        Some(Route::Found(Routed {
            mount,
            mount_index,
            op,
            op_index,
            path_params: path_params(&op.segments, segs.get(consumed..)?),
            variant: None,
        }))
    });
    found.or(nearest).unwrap_or(Route::NotFound(None))
}

/// Route `segs` (the path below a mount point) within one API.
fn route_in<S: AsRef<str>>(mount: &Mount, tree: &tree::Tree, segs: &[S], method: &str) -> Within {
    let ops = &mount.api.operations;
    let candidates = tree.matches(segs);
    if candidates.is_empty() {
        return Within::NotFound;
    }
    // The most specific template wins; if it lacks the method, a less specific one that has
    // it answers (as path routers do), and only then is the method not allowed. Among as
    // specific ones, the first in the document.
    let has = |i: usize| ops.get(i).is_some_and(|op| op.method == method);
    let chosen = candidates
        .iter()
        .filter(|c| has(c.0))
        .min_by_key(|c| (std::cmp::Reverse(c.1), c.0));
    match chosen {
        Some(&(op_index, lits)) => Within::Found(op_index, lits),
        None => {
            let mut allow: Vec<String> = candidates
                .iter()
                .filter_map(|c| ops.get(c.0).map(|op| op.method.clone()))
                .collect();
            allow.sort();
            allow.dedup();
            Within::Method(allow)
        }
    }
}

/// Whether request segments match a template: the number of its literal segments, if so.
pub(super) fn literals_matched<S: AsRef<str>>(tpl: &[Segment], segs: &[S]) -> Option<usize> {
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
fn path_params<'t, S: AsRef<str>>(
    tpl: &'t [Segment],
    segs: &[S],
) -> SmallVec<[(&'t str, String); 2]> {
    tpl.iter()
        .zip(segs)
        .filter_map(|(t, s)| match t {
            Segment::Param(p) => Some((p.as_str(), s.as_ref().to_string())),
            Segment::Lit(_) => None,
        })
        .collect()
}

/// Why an operation did not match a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Miss {
    /// The path matches; the method is another.
    Method { expected: String },
    /// A literal segment differs (1-based position in the whole path).
    Segment {
        at: usize,
        expected: String,
        got: String,
    },
    /// The path has another number of segments.
    Length { expected: usize, got: usize },
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Miss::Method { expected } => write!(f, "the method is {expected}"),
            Miss::Segment { at, expected, got } => {
                let got: String = got.chars().take(64).collect();
                write!(f, "segment {at} is '{got}', expected '{expected}'")
            }
            Miss::Length { expected, got } => {
                write!(f, "the path has {got} segments, expected {expected}")
            }
        }
    }
}

/// The Levenshtein distance between two segments (their first 64 characters).
fn edits(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().take(64).collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// An operation close to a request that matched none.
pub(crate) struct NearMiss<'a> {
    pub mount: &'a Mount,
    pub op: &'a Operation,
    pub why: Vec<Miss>,
}

/// Near misses as JSON: `[{"api", "operation", "operation_id", "why": [...]}]`.
pub(crate) fn near_misses_json(misses: &[NearMiss<'_>]) -> serde_json::Value {
    misses
        .iter()
        .map(|n| {
            serde_json::json!({
                "api": n.mount.api.name,
                "operation": format!("{} {}{}", n.op.method, n.mount.prefix, n.op.path),
                "operation_id": n.op.id,
                "why": n.why.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// Near misses as the end of an error message (`; closest: GET /a/b (why), ...`), or "".
pub(crate) fn near_misses_text(misses: &[NearMiss<'_>]) -> String {
    if misses.is_empty() {
        return String::new();
    }
    let named: Vec<String> = misses
        .iter()
        .map(|n| {
            let why: Vec<String> = n.why.iter().map(ToString::to_string).collect();
            format!(
                "{} {}{} ({})",
                n.op.method,
                n.mount.prefix,
                n.op.path,
                why.join("; ")
            )
        })
        .collect();
    format!("; closest: {}", named.join(", "))
}

/// Most near misses named.
const NEAR_MISSES: usize = 3;
/// Farthest a near miss may be (differing segments, extra or missing ones, the method).
const NEAR_MISS_DISTANCE: usize = 2;

/// The operations closest to `method path`, nearest first: each operation's whole template
/// (mount point, server path when the request has it, the document's path) compared segment
/// by segment.
pub(crate) fn near_misses<'a>(
    mounts: &'a [Mount],
    points: &Points,
    method: &str,
    path: &str,
) -> Vec<NearMiss<'a>> {
    let method = method.to_ascii_uppercase();
    let got: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // (mount, operation, (differences, spelling distance), why)
    type Scored = (usize, usize, (usize, usize), Vec<Miss>);
    let mut best: Vec<Scored> = Vec::new();
    // Under an API's mount point, only that API's operations are candidates.
    let within = points
        .0
        .iter()
        .any(|p| !p.at.is_empty() && under(path, &p.at).is_some());
    for p in &points.0 {
        if within && (p.at.is_empty() || under(path, &p.at).is_none()) {
            continue;
        }
        let Some(m) = mounts.get(p.mount) else {
            continue;
        };
        let lits = |s: &str| -> Vec<Segment> {
            s.split('/')
                .filter(|x| !x.is_empty())
                .map(|x| Segment::Lit(x.to_string()))
                .collect()
        };
        let at = lits(&p.at);
        let with_base: Vec<Segment> = at.iter().cloned().chain(lits(&m.base)).collect();
        for (oi, op) in m.api.operations.iter().enumerate() {
            for prefix in [&at, &with_base] {
                let tpl: Vec<&Segment> = prefix.iter().chain(&op.segments).collect();
                let mut why = Vec::new();
                if tpl.len() != got.len() {
                    why.push(Miss::Length {
                        expected: tpl.len(),
                        got: got.len(),
                    });
                }
                for (i, (t, g)) in tpl.iter().zip(&got).enumerate() {
                    if let Segment::Lit(l) = t
                        && l != g
                    {
                        why.push(Miss::Segment {
                            at: i + 1,
                            expected: l.clone(),
                            got: (*g).to_string(),
                        });
                    }
                }
                if op.method != method {
                    why.push(Miss::Method {
                        expected: op.method.clone(),
                    });
                }
                let distance = why.len() + tpl.len().abs_diff(got.len()).saturating_sub(1);
                if why.is_empty() || distance > NEAR_MISS_DISTANCE {
                    continue;
                }
                // Among as many differences, the segments spelled most alike come first.
                let spelling: usize = why
                    .iter()
                    .map(|w| match w {
                        Miss::Segment { expected, got, .. } => edits(expected, got),
                        _ => 0,
                    })
                    .sum();
                let score = (distance, spelling);
                match best.iter_mut().find(|b| (b.0, b.1) == (p.mount, oi)) {
                    Some(b) if b.2 <= score => {}
                    Some(b) => *b = (p.mount, oi, score, why),
                    None => best.push((p.mount, oi, score, why)),
                }
            }
        }
    }
    best.sort_by_key(|b| (b.2, b.0, b.1));
    best.into_iter()
        .take(NEAR_MISSES)
        .filter_map(|(mi, oi, _, why)| {
            let mount = mounts.get(mi)?;
            Some(NearMiss {
                mount,
                op: mount.api.operations.get(oi)?,
                why,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_count_insertions_deletions_and_changes() {
        assert_eq!(edits("agents", "agentz"), 1);
        assert_eq!(edits("letta", "letta2"), 1);
        assert_eq!(edits("", "abc"), 3);
        assert_eq!(edits("kitten", "sitting"), 3);
    }

    #[test]
    fn a_path_splits_into_its_non_empty_segments() {
        fn split(p: &str) -> (Vec<&str>, bool) {
            let (segs, escaped) = segments(p);
            (segs.to_vec(), escaped)
        }
        assert_eq!(split("/a/b"), (vec!["a", "b"], false));
        assert_eq!(split("//a///b/"), (vec!["a", "b"], false));
        assert_eq!(split("a"), (vec!["a"], false));
        assert_eq!(split("/"), (vec![], false));
        assert_eq!(split(""), (vec![], false));
        assert_eq!(
            split("/caf\u{e9}/x%2Fy"),
            (vec!["caf\u{e9}", "x%2Fy"], true)
        );
        for p in ["/v1/agents/a-b/c", "//x//", "/é/ü/", "/a%20b/c"] {
            let expected: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
            assert_eq!(split(p).0, expected, "{p}");
        }
    }

    #[test]
    fn segments_match_with_params() {
        let tpl = vec![Segment::Lit("things".into()), Segment::Param("id".into())];
        let segs = ["things", "a b"];
        assert_eq!(literals_matched(&tpl, &segs), Some(1));
        assert_eq!(
            path_params(&tpl, &segs).as_slice(),
            &[("id", "a b".to_string())]
        );
        assert_eq!(literals_matched(&tpl, &["things"]), None);
        assert_eq!(literals_matched(&tpl, &["other", "a"]), None);
    }
}
