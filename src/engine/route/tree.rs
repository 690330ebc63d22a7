//! An API's path templates as a tree of segments, built once at load: a request's path is
//! walked segment by segment, following the literal child that equals the segment and the
//! parameter child, so a request compares only the literals on its way instead of every
//! template of its length.

use smallvec::SmallVec;

use crate::spec::Segment;

/// Templates that match a request's segments: (operation index, literal segments matched).
pub(super) type Matches = SmallVec<[(usize, usize); 4]>;

/// The path templates of one API's operations.
#[derive(Debug, Default)]
pub(super) struct Tree {
    root: Node,
}

#[derive(Debug, Default)]
struct Node {
    /// Children by the literal segment that leads to them.
    literals: Vec<(Box<str>, Node)>,
    /// The child reached by a parameter segment.
    param: Option<Box<Node>>,
    /// Operations whose template ends here, with the number of its literal segments.
    ends: Vec<(usize, usize)>,
}

impl Tree {
    /// The tree of templates, each named by its position in `templates`.
    pub(super) fn new<'t>(templates: impl IntoIterator<Item = &'t [Segment]>) -> Self {
        let mut root = Node::default();
        for (i, template) in templates.into_iter().enumerate() {
            let mut node = &mut root;
            let mut lits = 0;
            for seg in template {
                node = match seg {
                    Segment::Lit(l) => {
                        lits += 1;
                        let at = match node.literals.iter().position(|(t, _)| **t == **l) {
                            Some(at) => at,
                            None => {
                                node.literals.push((l.as_str().into(), Node::default()));
                                node.literals.len() - 1
                            }
                        };
                        &mut node.literals[at].1
                    }
                    Segment::Param(_) => node.param.get_or_insert_with(Box::default),
                };
            }
            node.ends.push((i, lits));
        }
        Tree { root }
    }

    /// Every template that `segs` matches (in no particular order).
    pub(super) fn matches<S: AsRef<str>>(&self, segs: &[S]) -> Matches {
        let mut out = Matches::new();
        self.root.walk(segs, &mut out);
        out
    }
}

impl Node {
    fn walk<S: AsRef<str>>(&self, segs: &[S], out: &mut Matches) {
        let Some((first, rest)) = segs.split_first() else {
            out.extend_from_slice(&self.ends);
            return;
        };
        let first = first.as_ref();
        if let Some((_, child)) = self.literals.iter().find(|(t, _)| **t == *first) {
            child.walk(rest, out);
        }
        if let Some(child) = &self.param {
            child.walk(rest, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_template_a_path_matches_with_its_literals() {
        let templates: Vec<Vec<Segment>> = [
            "/things/{id}",
            "/things/mine",
            "/things",
            "/{kind}/{id}",
            "/things/{id}",
            "/things/{id}/parts",
        ]
        .into_iter()
        .map(crate::spec::path_segments)
        .collect();
        let tree = Tree::new(templates.iter().map(Vec::as_slice));
        let sorted = |segs: &[&str]| {
            let mut m = tree.matches(segs).to_vec();
            m.sort_unstable();
            m
        };
        assert_eq!(
            sorted(&["things", "mine"]),
            [(0, 1), (1, 2), (3, 0), (4, 1)]
        );
        assert_eq!(sorted(&["things", "x"]), [(0, 1), (3, 0), (4, 1)]);
        assert_eq!(sorted(&["things"]), [(2, 1)]);
        assert_eq!(sorted(&["things", "x", "parts"]), [(5, 2)]);
        assert!(sorted(&["things", "x", "other"]).is_empty());
        assert!(sorted(&[]).is_empty());
    }
}
