//! Precomputed columns: one field's value for every entity of a collection.
//!
//! Two layouts, chosen while encoding:
//! - **Dictionary** ([`Column::Dict`]): each distinct value stored once, a 4-byte code per
//!   entity, so low-cardinality fields such as a project id, a status or a tag set cost almost
//!   nothing at a million entities, and a filter can test each distinct value once
//!   ([`Column::code`]).
//! - **Strings** ([`Column::Str`]): when a column turns out to hold more than
//!   [`DICT_LIMIT`] distinct values, all of them strings or null (identifiers, timestamps),
//!   a dictionary of 72-byte JSON values would cost more than the text itself; the values go
//!   into one string arena instead (a null bitmap beside it, and the rare other value kept
//!   aside). A column of the collection's keys shares the keys' arena.
//!
//! Paths may reach into arrays (`identities[].id`): such a column holds, per entity, the array
//! of the values found there, not the whole objects.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde_json::Value;

/// Distinct values beyond which a column of strings stops being a dictionary.
pub const DICT_LIMIT: usize = 1 << 16;

/// Strings in one buffer, read by position.
#[derive(Debug, Default)]
pub struct Strs {
    text: String,
    ends: Vec<u64>,
}

impl Strs {
    /// Room for `n` strings.
    pub fn with_capacity(n: usize) -> Self {
        Strs {
            text: String::new(),
            ends: Vec::with_capacity(n),
        }
    }

    /// Append a string.
    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(self.text.len() as u64);
    }

    /// The `i`th string.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1] as usize,
        };
        self.text.get(start..end)
    }

    /// Number of strings.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Give back spare capacity.
    pub fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
    }
}

/// One entity's value in a column, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Json(&'a Value),
    Str(&'a str),
    Null,
}

impl Cell<'_> {
    /// The value as JSON.
    pub fn to_value(self) -> Value {
        match self {
            Cell::Json(v) => v.clone(),
            Cell::Str(s) => Value::String(s.to_string()),
            Cell::Null => Value::Null,
        }
    }

    /// The text, when the value is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Cell::Json(v) => v.as_str(),
            Cell::Str(s) => Some(s),
            Cell::Null => None,
        }
    }
}

/// A precomputed column.
#[derive(Debug)]
pub enum Column {
    /// Distinct values, and the code of each entity's value.
    Dict { dict: Vec<Value>, codes: Vec<u32> },
    /// Each entity's string; nulls marked in `nulls` (one bit per entity), other values kept in
    /// `others` (their string slot is empty).
    Str {
        strs: Arc<Strs>,
        nulls: Vec<u64>,
        others: BTreeMap<u32, Value>,
    },
}

impl Default for Column {
    fn default() -> Self {
        Column::Dict {
            dict: Vec::new(),
            codes: Vec::new(),
        }
    }
}

/// Builds a [`Column`] one value at a time, in index order, without holding every value.
#[derive(Debug)]
pub struct Encoder {
    capacity: usize,
    state: Building,
}

#[derive(Debug)]
enum Building {
    Dict {
        dict: Vec<Value>,
        seen: super::FastMap<u64, u32>,
        codes: Vec<u32>,
        /// Whether every distinct value so far is a string or null.
        text: bool,
    },
    Str {
        strs: Strs,
        nulls: Vec<u64>,
        others: BTreeMap<u32, Value>,
    },
}

impl Encoder {
    /// An encoder for about `n` entities.
    pub fn with_capacity(n: usize) -> Self {
        Encoder {
            capacity: n,
            state: Building::Dict {
                dict: Vec::new(),
                seen: super::FastMap::default(),
                codes: Vec::with_capacity(n),
                text: true,
            },
        }
    }

    /// Append the value of the next entity.
    pub fn push(&mut self, v: Value) {
        let h = match self.state {
            Building::Dict { .. } => hash_value(&v),
            Building::Str { .. } => 0,
        };
        self.push_hashed(h, &v);
    }

    /// Whether values are no longer looked up by hash (the column became a string arena):
    /// [`Encoder::push_hashed`] then ignores the hash, so its caller need not compute it.
    pub(crate) fn is_arena(&self) -> bool {
        matches!(self.state, Building::Str { .. })
    }

    /// Append the value of the next entity, given its [`hash_value`] (computed elsewhere, such
    /// as on the thread that generated it; any number once [`Encoder::is_arena`]). The value
    /// is copied only when the column keeps it: a value seen before is not.
    pub(crate) fn push_hashed(&mut self, h: u64, v: &Value) {
        match &mut self.state {
            Building::Dict {
                dict,
                seen,
                codes,
                text,
            } => {
                let code = match seen.get(&h) {
                    Some(&c) if dict[c as usize] == *v => c,
                    found => {
                        // On a hash collision the value is stored again rather than chained.
                        let fresh = found.is_none();
                        *text &= matches!(v, Value::String(_) | Value::Null);
                        dict.push(v.clone());
                        let c = (dict.len() - 1) as u32;
                        if fresh {
                            seen.insert(h, c);
                        }
                        c
                    }
                };
                codes.push(code);
                if *text && dict.len() > DICT_LIMIT {
                    self.switch_to_strings();
                }
            }
            Building::Str {
                strs,
                nulls,
                others,
            } => push_str(strs, nulls, others, v),
        }
    }

    /// Turn a dictionary of strings into a string arena, re-reading every value so far.
    fn switch_to_strings(&mut self) {
        let Building::Dict { dict, codes, .. } = &mut self.state else {
            return;
        };
        let (dict, codes) = (std::mem::take(dict), std::mem::take(codes));
        let mut strs = Strs::with_capacity(self.capacity);
        let mut nulls = Vec::with_capacity(self.capacity.div_ceil(64));
        let mut others = BTreeMap::new();
        for c in codes {
            push_str(&mut strs, &mut nulls, &mut others, &dict[c as usize]);
        }
        self.state = Building::Str {
            strs,
            nulls,
            others,
        };
    }

    /// The column.
    pub fn finish(self) -> Column {
        match self.state {
            Building::Dict {
                mut dict, codes, ..
            } => {
                dict.shrink_to_fit();
                Column::Dict { dict, codes }
            }
            Building::Str {
                mut strs,
                nulls,
                others,
            } => {
                strs.shrink_to_fit();
                Column::Str {
                    strs: Arc::new(strs),
                    nulls,
                    others,
                }
            }
        }
    }
}

/// Append `v` to a string column being built.
fn push_str(strs: &mut Strs, nulls: &mut Vec<u64>, others: &mut BTreeMap<u32, Value>, v: &Value) {
    let i = strs.len();
    if i.is_multiple_of(64) {
        nulls.push(0);
    }
    match v {
        Value::String(s) => strs.push(s),
        Value::Null => {
            strs.push("");
            if let Some(w) = nulls.last_mut() {
                *w |= 1 << (i % 64);
            }
        }
        other => {
            strs.push("");
            others.insert(i as u32, other.clone());
        }
    }
}

impl Column {
    /// Encode `values` (one per entity, in index order).
    pub fn encode(values: Vec<Value>) -> Self {
        let mut e = Encoder::with_capacity(values.len());
        for v in values {
            e.push(v);
        }
        e.finish()
    }

    /// A column of strings already in an arena (a collection's keys).
    pub fn strings(strs: Arc<Strs>) -> Self {
        Column::Str {
            nulls: vec![0; strs.len().div_ceil(64)],
            strs,
            others: BTreeMap::new(),
        }
    }

    /// The value of entity `i`.
    pub fn get(&self, i: usize) -> Option<Cell<'_>> {
        match self {
            Column::Dict { dict, codes } => codes.get(i).map(|&c| Cell::Json(&dict[c as usize])),
            Column::Str {
                strs,
                nulls,
                others,
            } => {
                let s = strs.get(i)?;
                if nulls.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1) {
                    return Some(Cell::Null);
                }
                if s.is_empty()
                    && let Some(v) = others.get(&(i as u32))
                {
                    return Some(Cell::Json(v));
                }
                Some(Cell::Str(s))
            }
        }
    }

    /// For a dictionary column, the code of entity `i`'s value (its index in
    /// [`Column::dict`]): a filter can then decide once per distinct value.
    pub fn code(&self, i: usize) -> Option<u32> {
        match self {
            Column::Dict { codes, .. } => codes.get(i).copied(),
            Column::Str { .. } => None,
        }
    }

    /// The distinct values of a dictionary column (none for a string column).
    pub fn dict(&self) -> &[Value] {
        match self {
            Column::Dict { dict, .. } => dict,
            Column::Str { .. } => &[],
        }
    }

    /// For each entity, the rank of its value in [`super::compare`] order (equal values share
    /// a rank). Sorting by ranks sorts by values; a dictionary column sorts only its distinct
    /// values.
    pub fn entity_ranks(&self) -> Vec<u32> {
        match self {
            Column::Dict { dict, codes } => {
                let rank = ranks(dict.len(), |a, b| super::compare(&dict[a], &dict[b]));
                codes.iter().map(|&c| rank[c as usize]).collect()
            }
            Column::Str { .. } => self.string_ranks(),
        }
    }

    /// [`Column::entity_ranks`] of a string column: the strings sorted by a 16-byte prefix as
    /// an integer, then in full only where prefixes are equal; the rare other values placed
    /// as [`super::compare`] places them (booleans and numbers first, then strings, arrays
    /// and objects, nulls last).
    fn string_ranks(&self) -> Vec<u32> {
        let n = self.len();
        let cell = |i: u32| self.get(i as usize).unwrap_or(Cell::Null);
        // Each string read once; sorted by (16-byte prefix, index), then runs of one prefix by
        // their text (read from `text`, not through the column again). The prefix is taken
        // after the bytes every string shares (`202` of timestamps, `agent-` of ids), so that
        // it separates as many strings as it can.
        let mut text: Vec<&str> = Vec::with_capacity(n);
        let (mut at_strings, mut before, mut after, mut nulls) =
            (Vec::with_capacity(n), Vec::new(), Vec::new(), Vec::new());
        let mut shared: Option<&[u8]> = None;
        for i in 0..n as u32 {
            let s = match cell(i) {
                Cell::Str(s) => Some(s),
                Cell::Json(Value::String(s)) => Some(s.as_str()),
                Cell::Json(Value::Bool(_) | Value::Number(_)) => {
                    before.push(i);
                    None
                }
                Cell::Json(Value::Null) | Cell::Null => {
                    nulls.push(i);
                    None
                }
                Cell::Json(_) => {
                    after.push(i);
                    None
                }
            };
            if let Some(s) = s {
                at_strings.push(i);
                let b = s.as_bytes();
                shared = Some(match shared {
                    None => b,
                    Some(p) => &p[..common_len(p, b)],
                });
            }
            text.push(s.unwrap_or(""));
        }
        let skip = shared.map_or(0, <[u8]>::len);
        let mut strings: Vec<(u128, u32)> = (at_strings.into_iter())
            .map(|i| (prefix(&text[i as usize].as_bytes()[skip..]), i))
            .collect();
        strings.sort_unstable();
        let mut sorted: Vec<u32> = Vec::with_capacity(strings.len());
        // The entities that begin a run of one prefix: each differs from the string before it
        // without comparing their text.
        let mut opens_run = vec![false; n];
        let mut at = 0;
        while at < strings.len() {
            let p = strings[at].0;
            let run = strings[at..].partition_point(|(q, _)| *q == p);
            let start = sorted.len();
            sorted.extend(strings[at..at + run].iter().map(|(_, i)| *i));
            if run > 1 {
                sorted[start..].sort_unstable_by(|&a, &b| {
                    text[a as usize].cmp(text[b as usize]).then(a.cmp(&b))
                });
            }
            opens_run[sorted[start] as usize] = true;
            at += run;
        }
        drop(strings);
        before.sort_by(|&a, &b| compare_cells(cell(a), cell(b)));
        let by_cells = |a: u32, b: u32| compare_cells(cell(a), cell(b)) == Ordering::Equal;
        let by_text =
            |a: u32, b: u32| !opens_run[b as usize] && text[a as usize] == text[b as usize];
        // Ranks in that order: a new rank where a value differs from the one before it (and
        // at every change of kind: booleans and numbers, strings, the rest, nulls).
        let mut rank = vec![0u32; n];
        let mut r = 0u32;
        let mut first = true;
        type Same<'a> = &'a dyn Fn(u32, u32) -> bool;
        let sections: [(&[u32], Same); 4] = [
            (&before, &by_cells),
            (&sorted, &by_text),
            (&after, &by_cells),
            (&nulls, &by_cells),
        ];
        for (ids, same) in sections {
            for (k, &i) in ids.iter().enumerate() {
                if !first && (k == 0 || !same(ids[k - 1], i)) {
                    r += 1;
                }
                first = false;
                rank[i as usize] = r;
            }
        }
        rank
    }

    /// Number of entities.
    pub fn len(&self) -> usize {
        match self {
            Column::Dict { codes, .. } => codes.len(),
            Column::Str { strs, .. } => strs.len(),
        }
    }

    /// Whether the column has no entities.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// For `0..n` ordered by `cmp`, each one's rank (equal ones share a rank).
fn ranks(n: usize, cmp: impl Fn(usize, usize) -> Ordering) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_unstable_by(|&a, &b| cmp(a as usize, b as usize));
    let mut rank = vec![0u32; n];
    let mut r = 0u32;
    for (k, &w) in order.iter().enumerate() {
        if k > 0 && cmp(order[k - 1] as usize, w as usize) != Ordering::Equal {
            r += 1;
        }
        rank[w as usize] = r;
    }
    rank
}

/// The first 16 bytes of `s` as a big-endian integer (zero-padded): integers in this order
/// are strings in byte order, except that equal prefixes say nothing.
fn prefix(s: &[u8]) -> u128 {
    let mut b = [0u8; 16];
    let n = s.len().min(16);
    b[..n].copy_from_slice(&s[..n]);
    u128::from_be_bytes(b)
}

/// How many leading bytes `a` and `b` share.
fn common_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// [`super::compare`] on cells.
pub fn compare_cells(a: Cell, b: Cell) -> Ordering {
    fn plain(c: Cell<'_>) -> Cell<'_> {
        match c {
            Cell::Json(Value::Null) => Cell::Null,
            Cell::Json(Value::String(s)) => Cell::Str(s),
            c => c,
        }
    }
    match (plain(a), plain(b)) {
        (Cell::Str(x), Cell::Str(y)) => x.cmp(y),
        (Cell::Json(x), Cell::Json(y)) => super::compare(x, y),
        (Cell::Null, Cell::Null) => Ordering::Equal,
        (Cell::Null, _) => Ordering::Greater,
        (_, Cell::Null) => Ordering::Less,
        // A string against another kind of value: ranked as `compare` ranks kinds.
        (Cell::Str(_), Cell::Json(y)) => super::compare(&Value::String(String::new()), y),
        (Cell::Json(x), Cell::Str(_)) => super::compare(x, &Value::String(String::new())),
    }
}

/// A structural hash of a JSON value (equal values hash equally).
pub(crate) fn hash_value(v: &Value) -> u64 {
    fn feed(v: &Value, h: &mut impl Hasher) {
        match v {
            Value::Null => h.write_u8(0),
            Value::Bool(b) => {
                h.write_u8(1);
                b.hash(h);
            }
            // Numbers are equal when they are the same kind (serde_json's `Number` equality:
            // 1 and 1.0 differ) with the same value.
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    h.write_u8(2);
                    h.write_u64(u);
                } else if let Some(i) = n.as_i64() {
                    h.write_u8(6);
                    h.write_i64(i);
                } else {
                    // 0.0 and -0.0 are equal numbers: one hash for both.
                    let f = n.as_f64().unwrap_or(0.0);
                    h.write_u8(7);
                    h.write_u64(if f == 0.0 { 0 } else { f.to_bits() });
                }
            }
            Value::String(s) => {
                h.write_u8(3);
                s.hash(h);
            }
            Value::Array(a) => {
                h.write_u8(4);
                h.write_usize(a.len());
                a.iter().for_each(|x| feed(x, h));
            }
            Value::Object(m) => {
                h.write_u8(5);
                h.write_usize(m.len());
                for (k, x) in m {
                    k.hash(h);
                    feed(x, h);
                }
            }
        }
    }
    use std::hash::BuildHasher;
    let mut h = foldhash::fast::FixedState::with_seed(0x636f_6c75_6d6e).build_hasher();
    feed(v, &mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_repeated_values_once() {
        let c = Column::encode(vec![
            json!("a"),
            json!(["x", 1]),
            json!("a"),
            json!(["x", 1]),
            json!(null),
        ]);
        assert_eq!(c.dict().len(), 3);
        assert_eq!(c.len(), 5);
        assert_eq!(c.get(2), Some(Cell::Json(&json!("a"))));
        assert_eq!(c.get(3), Some(Cell::Json(&json!(["x", 1]))));
        assert_eq!(c.code(0), c.code(2));
        assert_eq!(c.get(9), None);
        // Numbers: equal ones share a code, an integer and a float of the same value do not
        // (they are not equal JSON values to serde_json).
        let c = Column::encode(vec![
            json!(1),
            json!(1.0),
            json!(-1),
            json!(1),
            json!(1.0),
            json!(0.0),
            json!(-0.0),
        ]);
        assert_eq!(c.dict(), &[json!(1), json!(1.0), json!(-1), json!(0.0)]);
        assert_eq!(c.code(6), c.code(5));
        assert_eq!(c.code(3), c.code(0));
        assert_eq!(c.code(4), c.code(1));
    }

    /// Many distinct strings become an arena, value for value, nulls and strays included, and
    /// rank as the same values in a dictionary would.
    #[test]
    fn many_distinct_strings_become_an_arena_with_the_same_values_and_ranks() {
        let n = 2 * DICT_LIMIT;
        let value = |i: usize| match i % 7 {
            0 => Value::Null,
            // Strays after the switch to an arena: kept aside.
            3 if i > 3 * n / 4 && i % 100 == 3 => json!(i),
            3 if i > 3 * n / 4 && i % 100 == 10 => json!(["x", i % 2]),
            4 if i % 1000 == 4 => json!(""),
            // Equal strings, sharing a rank.
            5 if i.is_multiple_of(3) => json!(format!("dup-{}", i % 50)),
            // Long shared prefixes too: ordered past the first 16 bytes.
            1 | 2 => json!(format!("a-long-shared-prefix-{:07}", (i * 7919) % n)),
            _ => json!(format!("v{:07}", (i * 7919) % n)),
        };
        arena_ranks_as_a_dictionary((0..n).map(value).collect());
    }

    /// Strings that all begin alike (timestamps, prefixed ids) rank by what follows, including
    /// strings equal past the shared bytes and the first 16 after them.
    #[test]
    fn strings_sharing_their_first_bytes_rank_as_values_do() {
        let n = 2 * DICT_LIMIT;
        let value = |i: usize| match i % 5 {
            0 if i.is_multiple_of(20) => Value::Null,
            // Equal to the shared bytes themselves.
            1 if i % 1000 == 1 => json!("2024-"),
            2 => json!(format!(
                "2024-{:07}-same-sixteen-{:05}",
                i % 97,
                (i * 31) % n
            )),
            _ => json!(format!("2024-{:07}T{:07}", (i * 7919) % n, i % 13)),
        };
        arena_ranks_as_a_dictionary((0..n).map(value).collect());
    }

    /// Strings whose shared bytes end inside a character (`é` and `ê` share their first byte)
    /// rank by their text, as they would as values.
    #[test]
    fn a_shared_prefix_may_end_inside_a_character() {
        let words = ["éb", "êa", "é", "éa", "ê", "éaa"];
        let mut strs = Strs::with_capacity(words.len());
        for w in words {
            strs.push(w);
        }
        let arena = Column::strings(Arc::new(strs));
        let dict = Column::encode(words.iter().map(|w| json!(w)).collect());
        assert!(matches!(dict, Column::Dict { .. }));
        assert_eq!(arena.entity_ranks(), dict.entity_ranks());
        assert_eq!(arena.entity_ranks(), [3, 5, 0, 1, 4, 2]);
    }

    /// `values` become an arena that reads them back, and rank as a dictionary of them does.
    fn arena_ranks_as_a_dictionary(values: Vec<Value>) {
        let n = values.len();
        let c = Column::encode(values.clone());
        assert!(matches!(c, Column::Str { .. }), "still a dictionary");
        assert_eq!(c.len(), n);
        for (i, v) in values.iter().enumerate() {
            assert_eq!(c.get(i).map(Cell::to_value).as_ref(), Some(v), "entity {i}");
        }
        // The same values below the limit stay a dictionary: ranks must agree.
        let mut dict = Encoder::with_capacity(n);
        if let Building::Dict { text, .. } = &mut dict.state {
            *text = false;
        }
        for v in values {
            dict.push(v);
        }
        let dict = dict.finish();
        assert!(matches!(dict, Column::Dict { .. }));
        assert_eq!(c.entity_ranks(), dict.entity_ranks());
    }

    #[test]
    fn cells_compare_as_values_do() {
        let vals = [json!("b"), json!(null), json!("a"), json!(3), json!(true)];
        for a in &vals {
            for b in &vals {
                fn as_cell(v: &Value) -> Cell<'_> {
                    match v {
                        Value::String(s) => Cell::Str(s.as_str()),
                        Value::Null => Cell::Null,
                        other => Cell::Json(other),
                    }
                }
                let want = super::super::compare(a, b);
                assert_eq!(compare_cells(as_cell(a), as_cell(b)), want, "{a} vs {b}");
                assert_eq!(compare_cells(Cell::Json(a), as_cell(b)), want, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn an_arena_reads_back_its_strings() {
        let mut s = Strs::default();
        for w in ["", "ab", "ü", ""] {
            s.push(w);
        }
        let got: Vec<Option<&str>> = (0..5).map(|i| s.get(i)).collect();
        assert_eq!(got, [Some(""), Some("ab"), Some("ü"), Some(""), None]);
    }
}
