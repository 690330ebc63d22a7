//! Routing: which mounted API and which operation a request is for, with its path parameters;
//! or why none is (no API at that path, no such path, or another method).

use smallvec::SmallVec;

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
/// first, with the segments it and its API's server path consume; and each mount's operations
/// by their number of path segments (a path is matched only against the templates of its
/// length): made once, read by every request.
pub(super) struct Points(Vec<Point>, Vec<Vec<Vec<usize>>>);

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
        let lengths = mounts
            .iter()
            .map(|m| {
                let mut by: Vec<Vec<usize>> = Vec::new();
                for (i, op) in m.api.operations.iter().enumerate() {
                    let n = op.segments.len();
                    if by.len() <= n {
                        by.resize(n + 1, Vec::new());
                    }
                    by[n].push(i);
                }
                by
            })
            .collect();
        Points(points, lengths)
    }
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
    let mut nearest: Option<Route<'a>> = None;
    let mut best: Option<((usize, usize), Route<'a>)> = None;
    for p in &points.0 {
        let Some(m) = mounts.get(p.mount) else {
            continue;
        };
        let Some(rest) = under(req.path(), &p.at) else {
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
            let lengths = points.1.get(p.mount).map_or(&[][..], Vec::as_slice);
            match route_in(m, p.mount, lengths, r, method) {
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
    lengths: &[Vec<usize>],
    rest: &str,
    method: &str,
) -> (Route<'a>, usize) {
    // Decoded only where a segment has an escape: most paths allocate nothing here.
    let escaped = rest.contains('%');
    let segs: SmallVec<[std::borrow::Cow<'_, str>; 8]> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            if escaped && s.contains('%') {
                percent_encoding::percent_decode_str(s).decode_utf8_lossy()
            } else {
                std::borrow::Cow::Borrowed(s)
            }
        })
        .collect();
    let ops = &mount.api.operations;
    let mut candidates: SmallVec<[Candidate; 4]> = lengths
        .get(segs.len())
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|&i| {
            let op = ops.get(i)?;
            literals_matched(&op.segments, &segs).map(|lits| (i, op, lits))
        })
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
fn path_params<S: AsRef<str>>(tpl: &[Segment], segs: &[S]) -> Vec<(String, String)> {
    tpl.iter()
        .zip(segs)
        .filter_map(|(t, s)| match t {
            Segment::Param(p) => Some((p.clone(), s.as_ref().to_string())),
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
