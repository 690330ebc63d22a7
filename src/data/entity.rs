//! Generating one entity, or one field of it, from (seed, API, collection, index).
//!
//! Every field path draws from its own ChaCha8 stream, seeded by a keyed SipHash of
//! (API, collection, index, path) under the dataset seed. A field's value therefore never depends
//! on which other fields were generated first, so a single field (a sort key, a filter column) can
//! be computed without building the whole entity, and the whole entity agrees with it.

use std::borrow::Cow;
use std::cell::RefCell;
use std::hash::Hasher;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Number, Value};
use siphasher::sip::SipHasher13;

use super::generator::{
    DEFAULT_FROM_MS, DEFAULT_TO_MS, FieldGen, Gen, IntArg, TimeArg, parse_time,
};
use super::model::{CollectionModel, Slot};
use super::template::{Part, Template, case_words};
use crate::spec::schema::{Kind, Node};

/// How deep references may chain before generation gives up (guards against cycles, which
/// load-time checks already refuse).
const MAX_REF_DEPTH: u32 = 32;
/// Probability that a nullable field without a generator is null.
const DEFAULT_NULL_RATE: f64 = 0.1;

/// One entity being generated; keeps the fields that references read.
pub struct Entity<'a> {
    model: &'a CollectionModel,
    index: u64,
    /// The values of the paths generators read, once computed, by [`Slot::keep_as`]: the few
    /// an entity computes, in a short list (a slot for every path read would cost more to
    /// make, for each entity, than the searches it saves).
    cache: RefCell<Vec<(usize, Option<Value>)>>,
    depth: RefCell<u32>,
    /// The hash of (seed, API, collection, index) that every field's stream continues.
    stream: SipHasher13,
    /// Values given for fields (by dotted path): generated as they are, and read as they are
    /// by the generators that refer to them (a written entity's client-set fields).
    pinned: Option<&'a super::FastMap<String, Value>>,
}

impl<'a> Entity<'a> {
    pub fn new(model: &'a CollectionModel, seed: u64, index: u64) -> Self {
        Entity {
            model,
            index,
            cache: RefCell::new(Vec::new()),
            depth: RefCell::new(0),
            stream: {
                let mut h = SipHasher13::new_with_keys(seed, 0x756e_6465_7273_7475);
                h.write(model.api.as_bytes());
                h.write_u8(0);
                h.write(model.name.as_bytes());
                h.write_u8(0);
                h.write_u64(index);
                h
            },
            pinned: None,
        }
    }

    /// The entity at `index` with the fields `pinned` (dotted paths) holding the given values:
    /// every other field is generated as usual, and the generators that refer to a pinned
    /// field read its given value.
    pub fn pinned(
        model: &'a CollectionModel,
        seed: u64,
        index: u64,
        pinned: &'a super::FastMap<String, Value>,
    ) -> Self {
        Entity {
            pinned: Some(pinned),
            ..Entity::new(model, seed, index)
        }
    }

    /// The whole entity.
    pub fn full(&self) -> Value {
        if let Some(rows) = &self.model.rows {
            return usize::try_from(self.index)
                .ok()
                .and_then(|i| rows.get(i))
                .cloned()
                .unwrap_or(Value::Object(Map::new()));
        }
        self.gen_at("", "", &self.model.node)
            .unwrap_or(Value::Object(Map::new()))
    }

    /// One field by dotted path (`None` when the field is omitted or the path is unknown).
    pub fn field(&self, path: &str) -> Option<Value> {
        self.field_in(path, self.model.slots.get(path))
    }

    /// [`Entity::field`] with the path's slot (if it has one) already looked up.
    fn field_in(&self, path: &str, slot: Option<&Slot>) -> Option<Value> {
        if let Some(rows) = &self.model.rows {
            let row = usize::try_from(self.index).ok().and_then(|i| rows.get(i))?;
            return Some(super::path::extract(row, path)).filter(|v| !v.is_null());
        }
        if let Some(v) = self.pinned_at(path) {
            return v;
        }
        let keep_as = slot.and_then(|s| s.keep_as);
        if let Some(v) = keep_as.and_then(|k| self.read_kept(k, Option::clone)) {
            return v;
        }
        {
            let mut d = self.depth.borrow_mut();
            if *d >= MAX_REF_DEPTH {
                return None;
            }
            *d += 1;
        }
        let v = match slot {
            // Resolved at load: the node and generator `gen_at` would look up by the path.
            Some(s) => (s.node.as_ref())
                .and_then(|node| self.gen_with(s.generator.as_ref(), path, path, node)),
            None => (self.model.node.at_path(path)).and_then(|node| self.gen_at(path, path, node)),
        };
        *self.depth.borrow_mut() -= 1;
        // Kept only when another generator reads it: the value is a pure function of the
        // path, so keeping the rest would only cost a copy each.
        if let Some(k) = keep_as {
            let mut cache = self.cache.borrow_mut();
            match cache.iter_mut().find(|(at, _)| *at == k) {
                Some((_, old)) => *old = v.clone(),
                None => {
                    if cache.capacity() == 0 {
                        // Room for what an entity usually keeps, in one allocation.
                        cache.reserve_exact(16);
                    }
                    cache.push((k, v.clone()));
                }
            }
        }
        v
    }

    /// `read` of the value kept as `k` ([`Slot::keep_as`]), once computed.
    fn read_kept<T>(&self, k: usize, read: impl FnOnce(&Option<Value>) -> T) -> Option<T> {
        let cache = self.cache.borrow();
        cache.iter().find(|(at, _)| *at == k).map(|(_, v)| read(v))
    }

    /// [`Entity::field`] for a top-level field, borrowed from the model when its generator
    /// comes down to a constant (through conditions on other fields): a column of part of a
    /// large constant (ids inside fixed objects) then reads it in place instead of copying it
    /// for every entity. The same value as `field` either way.
    pub fn field_cow(&self, path: &str) -> Option<Cow<'a, Value>> {
        let slot = self.model.slots.get(path);
        if self.model.rows.is_none() && self.pinned.is_none() {
            let fg = (slot.filter(|s| s.node.is_some()))
                .and_then(|s| s.generator.as_ref())
                .filter(|fg| matches!(fg.kind, Gen::Const(_) | Gen::If { .. }));
            if let Some(fg) = fg
                && let Some(found) = self.constant(fg)
            {
                return found.map(Cow::Borrowed);
            }
        }
        self.field_in(path, slot).map(Cow::Owned)
    }

    /// The constant `fg` gives this entity (`Some(None)`: the field is omitted), following its
    /// conditions; `None` when it generates something else.
    fn constant(&self, fg: &'a FieldGen) -> Option<Option<&'a Value>> {
        if fg.null_rate > 0.0 {
            return None;
        }
        match &fg.kind {
            Gen::Const(v) => Some(Some(v)),
            Gen::Omit => Some(None),
            Gen::If {
                cond,
                then,
                otherwise,
            } => self.constant(if self.holds(cond) { then } else { otherwise }),
            _ => None,
        }
    }

    /// The value a pin gives the field at concrete path `rpath` (`tools[2].name`): the pin of
    /// that path, or the part of the nearest pinned object or array that holds it (`None`
    /// inside: the pinned value has no such part, so the field is absent). `None` when no pin
    /// covers the path.
    fn pinned_at(&self, rpath: &str) -> Option<Option<Value>> {
        let pins = self.pinned?;
        if let Some(v) = pins.get(rpath) {
            return Some(Some(v.clone()));
        }
        let mut end = rpath.len();
        while let Some(cut) = rpath[..end].rfind(['.', '[']) {
            if let Some(v) = pins.get(&rpath[..cut]) {
                return Some(part_at(v, &rpath[cut..]).cloned());
            }
            end = cut;
        }
        None
    }

    fn rng(&self, path: &str) -> ChaCha8Rng {
        let mut h = self.stream;
        h.write(path.as_bytes());
        ChaCha8Rng::seed_from_u64(h.finish())
    }

    /// Generate the value at `rpath` (concrete, `tools[2].name`) whose generator key is `gkey`
    /// (`tools[].name`).
    fn gen_at(&self, rpath: &str, gkey: &str, node: &Node) -> Option<Value> {
        if let Some(v) = self.pinned_at(rpath) {
            return v;
        }
        self.gen_with(self.model.fields.get(gkey), rpath, gkey, node)
    }

    /// Generate the value at `rpath` with its generator `fg`, or from the schema without one.
    fn gen_with(
        &self,
        fg: Option<&FieldGen>,
        rpath: &str,
        gkey: &str,
        node: &Node,
    ) -> Option<Value> {
        match fg {
            Some(fg) => self.eval(fg, rpath, gkey, node),
            None => self.auto(rpath, gkey, node, true),
        }
    }

    fn eval(&self, fg: &FieldGen, rpath: &str, gkey: &str, node: &Node) -> Option<Value> {
        if fg.null_rate <= 0.0 && !fg.kind.draws() {
            return self.eval_derived(fg, rpath, gkey, node);
        }
        self.eval_with(fg, &mut self.rng(rpath), rpath, gkey, node)
    }

    /// A generator that draws nothing from its stream ([`Gen::draws`]), so none is seeded
    /// (its null rate, if any, was drawn by [`Entity::eval_with`]).
    fn eval_derived(&self, fg: &FieldGen, rpath: &str, gkey: &str, node: &Node) -> Option<Value> {
        match &fg.kind {
            Gen::Index => Some(Value::from(self.index + 1)),
            Gen::SameAs(p) => self.field(p),
            Gen::Const(v) => Some(v.clone()),
            Gen::Omit | Gen::MemberOf { .. } => None,
            Gen::Auto => self.auto(rpath, gkey, node, false),
            Gen::Object(subs) => {
                let mut m = Map::new();
                for (k, g) in subs {
                    let sub = node.prop(k).unwrap_or(&ANY);
                    if let Some(v) = self.eval(g, &join(rpath, k), &join(gkey, k), sub) {
                        m.insert(k.clone(), v);
                    }
                }
                Some(Value::Object(m))
            }
            Gen::If {
                cond,
                then,
                otherwise,
            } => {
                let branch = if self.holds(cond) { then } else { otherwise };
                self.eval(branch, rpath, gkey, node)
            }
            // The kinds that draw ([`Gen::draws`]).
            _ => self.eval_drawn(fg, &mut self.rng(rpath), rpath, gkey, node),
        }
    }

    /// Whether an `if`'s conditions hold: each field is one of its values.
    fn holds(&self, cond: &[(String, Vec<Value>)]) -> bool {
        cond.iter().all(|(p, vals)| self.is_one_of(p, vals))
    }

    /// Whether the field at `path` (null when absent) is one of `vals`: read in place when it
    /// is kept, rather than through a copy.
    fn is_one_of(&self, path: &str, vals: &[Value]) -> bool {
        let slot = self.model.slots.get(path);
        if self.model.rows.is_none()
            && self.pinned.is_none()
            && let Some(k) = slot.and_then(|s| s.keep_as)
            && let Some(found) =
                self.read_kept(k, |v| vals.contains(v.as_ref().unwrap_or(&Value::Null)))
        {
            return found;
        }
        vals.contains(&self.field_in(path, slot).unwrap_or(Value::Null))
    }

    /// (The stream is borrowed, not moved: a ChaCha8 generator with its buffer is about 300
    /// bytes.)
    fn eval_with(
        &self,
        fg: &FieldGen,
        rng: &mut ChaCha8Rng,
        rpath: &str,
        gkey: &str,
        node: &Node,
    ) -> Option<Value> {
        if fg.null_rate > 0.0 && rng.random::<f64>() < fg.null_rate {
            return Some(Value::Null);
        }
        if !fg.kind.draws() {
            return self.eval_derived(fg, rpath, gkey, node);
        }
        self.eval_drawn(fg, rng, rpath, gkey, node)
    }

    /// A generator that draws from its stream ([`Gen::draws`]); `None` for the others, which
    /// [`Entity::eval_derived`] answers (and which never come here).
    fn eval_drawn(
        &self,
        fg: &FieldGen,
        rng: &mut ChaCha8Rng,
        rpath: &str,
        gkey: &str,
        node: &Node,
    ) -> Option<Value> {
        Some(match &fg.kind {
            Gen::Uuid => Value::String(uuid(rng)),
            Gen::Template(t) => Value::String(self.render(t, rng)),
            Gen::Fake(k) => Value::String(k.draw(rng)),
            Gen::OneOf { values, weights } => pick_weighted(rng, values, weights.as_deref()),
            Gen::Bool(p) => Value::Bool(rng.random_bool(*p)),
            Gen::Int { min, max } => {
                let lo = self.int_arg(min);
                let hi = self.int_arg(max).max(lo);
                Value::Number(rng.random_range(lo..=hi).into())
            }
            Gen::Timestamp { from, to, within } => {
                let lo = self.time_arg(from).unwrap_or(DEFAULT_FROM_MS);
                let mut hi = match to {
                    Some(t) => self.time_arg(t).unwrap_or(DEFAULT_TO_MS),
                    None if within.is_some() => i64::MAX,
                    None => DEFAULT_TO_MS,
                };
                if let Some(w) = within {
                    let span = i64::try_from(w.as_millis()).unwrap_or(i64::MAX);
                    hi = hi.min(lo.saturating_add(span));
                }
                Value::String(format_millis(rng.random_range(lo..=hi.max(lo))))
            }
            Gen::Array { min, max, items } => {
                let n = rng.random_range(*min..=*max);
                let item_node = items_of(node);
                let gk = format!("{gkey}[]");
                let mut out = Vec::with_capacity(n as usize);
                for i in 0..n {
                    let rp = format!("{rpath}[{i}]");
                    let v = match items {
                        Some(g) => self.eval(g, &rp, &gk, item_node),
                        None => self.gen_at(&rp, &gk, item_node),
                    };
                    out.extend(v);
                }
                Value::Array(out)
            }
            Gen::UniqueOf { values, min, max } => {
                let n = rng.random_range(*min..=*max) as usize;
                let mut idx: Vec<usize> = (0..values.len()).collect();
                for i in 0..n.min(idx.len()) {
                    let j = rng.random_range(i..idx.len());
                    idx.swap(i, j);
                }
                let mut chosen: Vec<usize> = idx.into_iter().take(n).collect();
                chosen.sort_unstable();
                Value::Array(chosen.into_iter().map(|i| values[i].clone()).collect())
            }
            _ => return None,
        })
    }

    fn int_arg(&self, a: &IntArg) -> i64 {
        match a {
            IntArg::Lit(n) => *n,
            IntArg::Ref(p) => self.field(p).and_then(|v| v.as_i64()).unwrap_or(0),
        }
    }

    fn time_arg(&self, a: &TimeArg) -> Option<i64> {
        match a {
            TimeArg::Millis(m) => Some(*m),
            TimeArg::Ref(p) => self.field(p).and_then(|v| v.as_str().and_then(parse_time)),
        }
    }

    fn text_of(&self, path: &str) -> String {
        match self.field(path) {
            Some(Value::String(s)) => s,
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    }

    fn render(&self, t: &Template, rng: &mut ChaCha8Rng) -> String {
        let mut out = String::with_capacity(t.size_hint());
        for part in &t.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Uuid => out.push_str(&uuid(rng)),
                Part::Hex(n) => chars_from(rng, *n, b"0123456789abcdef", &mut out),
                Part::Digits(n) => chars_from(rng, *n, b"0123456789", &mut out),
                Part::Alnum(n) => chars_from(
                    rng,
                    *n,
                    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
                    &mut out,
                ),
                Part::Index(w) => out.push_str(&format!("{:0w$}", self.index + 1, w = *w)),
                Part::Pick(opts) => {
                    let i = rng.random_range(0..opts.len());
                    out.push_str(&opts[i]);
                }
                Part::Fake(k) => out.push_str(&k.draw(rng)),
                Part::Ref(p) => out.push_str(&self.text_of(p)),
                Part::Slug(p) => out.push_str(&case_words(&self.text_of(p), '-')),
                Part::Snake(p) => out.push_str(&case_words(&self.text_of(p), '_')),
            }
        }
        out
    }

    /// What the schema gives by default.
    fn auto(&self, rpath: &str, gkey: &str, node: &Node, allow_null: bool) -> Option<Value> {
        let mut rng = self.rng(rpath);
        if allow_null && node.nullable && rng.random::<f64>() < DEFAULT_NULL_RATE {
            return Some(Value::Null);
        }
        if let Some(e) = node.enumeration.as_ref().filter(|e| !e.is_empty()) {
            return Some(e[rng.random_range(0..e.len())].clone());
        }
        Some(match &*node.kind {
            Kind::Object {
                props,
                free_form,
                required,
                additional,
            } => {
                let mut m = Map::with_capacity(props.len());
                if props.is_empty() && *free_form {
                    for i in 0..rng.random_range(0..=2u32) {
                        let k = super::fakes::FakeKind::Word.draw(&mut rng);
                        let v = match additional {
                            Some(n) if !n.is_recursive() => {
                                match self.auto(&format!("{rpath}{{{i}}}"), gkey, n, true) {
                                    Some(v) => v,
                                    None => continue,
                                }
                            }
                            _ => Value::String(super::fakes::FakeKind::Word.draw(&mut rng)),
                        };
                        m.insert(k, v);
                    }
                }
                let deep = depth(rpath) >= GEN_DEPTH;
                for (k, n) in props {
                    // Deep inside a body, only what is required.
                    if deep && !required.contains(k) {
                        continue;
                    }
                    // Recursion stops at an optional property (or a null).
                    if n.is_recursive() && !self.model.fields.contains_key(&*join(gkey, k)) {
                        if required.contains(k) {
                            m.insert(
                                k.clone(),
                                if n.nullable {
                                    Value::Null
                                } else {
                                    Value::Object(Map::new())
                                },
                            );
                        }
                        continue;
                    }
                    if let Some(v) = self.gen_at(&join(rpath, k), &join(gkey, k), n) {
                        m.insert(k.clone(), v);
                    }
                }
                // Required yet not declared (a document's slip): any value.
                for k in required {
                    if !props.iter().any(|(p, _)| p == k) && !m.contains_key(k) {
                        let v = match additional {
                            Some(n) if !n.is_recursive() => self
                                .auto(&join(rpath, k), &join(gkey, k), n, false)
                                .unwrap_or(Value::Null),
                            _ => Value::String(super::fakes::FakeKind::Word.draw(&mut rng)),
                        };
                        m.insert(k.clone(), v);
                    }
                }
                Value::Object(m)
            }
            Kind::Array {
                prefix,
                items,
                min_items,
                max_items,
            } => {
                if items.is_recursive() && prefix.is_empty() {
                    return Some(Value::Array(Vec::new()));
                }
                // A document's minimum is honoured up to a sane size.
                let lo = min_items
                    .unwrap_or(0)
                    .max(prefix.len() as u64)
                    .min(MAX_GENERATED_ITEMS);
                let hi = if depth(rpath) >= GEN_DEPTH {
                    lo
                } else {
                    max_items
                        .unwrap_or(lo.saturating_add(3))
                        .max(lo)
                        .min(lo.saturating_add(3))
                        .min(MAX_GENERATED_ITEMS)
                        .max(lo)
                };
                let n = rng.random_range(lo..=hi);
                let gk = format!("{gkey}[]");
                let out = (0..n)
                    .filter_map(|i| {
                        let node = usize::try_from(i)
                            .ok()
                            .and_then(|i| prefix.get(i))
                            .unwrap_or(items);
                        self.gen_at(&format!("{rpath}[{i}]"), &gk, node)
                    })
                    .collect();
                Value::Array(out)
            }
            Kind::String {
                format,
                min_length,
                max_length,
                pattern,
            } => match pattern {
                // A known format says more than a pattern (which often only approximates it).
                Some(p) if !format.as_deref().is_some_and(is_generated_format) => {
                    Value::String(from_pattern(&mut rng, p, *min_length, *max_length))
                }
                _ => {
                    let s = default_string(&mut rng, format.as_deref(), gkey);
                    Value::String(fit_length(s, *min_length, *max_length))
                }
            },
            Kind::Integer { min, max } => {
                let lo = min.unwrap_or(0);
                let hi = max.unwrap_or(lo.saturating_add(100)).max(lo);
                Value::Number(rng.random_range(lo..=hi).into())
            }
            Kind::Number { min, max } => {
                // Bounds such as ±1.79e308 (a double's range) are kept to a finite span.
                let lo = min
                    .filter(|x| x.is_finite())
                    .unwrap_or(0.0)
                    .clamp(-1e12, 1e12);
                let hi = max
                    .filter(|x| x.is_finite())
                    .unwrap_or(lo + 1.0)
                    .clamp(-1e12, 1e12)
                    .max(lo);
                let x = (rng.random_range(lo..=hi) * 100.0).round() / 100.0;
                Number::from_f64(x.clamp(lo, hi)).map_or(Value::Null, Value::Number)
            }
            Kind::Boolean => Value::Bool(rng.random_bool(0.5)),
            Kind::Null => Value::Null,
            Kind::OneOf(alts) if !alts.is_empty() => {
                // A branch that does not recurse, when there is one.
                let plain: Vec<&Node> = alts.iter().filter(|a| !a.is_recursive()).collect();
                let alt = if plain.is_empty() {
                    &alts[rng.random_range(0..alts.len())]
                } else {
                    plain[rng.random_range(0..plain.len())]
                };
                return self.auto(rpath, gkey, alt, false);
            }
            Kind::Recursive(_) => Value::Object(Map::new()),
            Kind::OneOf(_) | Kind::Any => {
                Value::String(super::fakes::FakeKind::Word.draw(&mut rng))
            }
        })
    }
}

/// Evaluate a generator that reads no entity field (scenario `let` values), from `rng`'s
/// stream.
pub fn eval_free(fg: &FieldGen, rng: ChaCha8Rng) -> Option<Value> {
    use std::sync::OnceLock;
    static EMPTY: OnceLock<CollectionModel> = OnceLock::new();
    let model = EMPTY.get_or_init(|| CollectionModel {
        api: String::new(),
        name: String::new(),
        node: Node::any(),
        fields: Default::default(),
        slots: Default::default(),
        key: String::new(),
        order_key: String::new(),
        count: 0,
        schemas: Vec::new(),
        rows: None,
    });
    let e = Entity::new(model, 0, 0);
    let mut rng = rng;
    e.eval_with(fg, &mut rng, "", "", &ANY)
}

static ANY: std::sync::LazyLock<Node> = std::sync::LazyLock::new(Node::any);

fn items_of(node: &Node) -> &Node {
    node.items().unwrap_or(&ANY)
}

/// How deep generation goes with optional properties and array items: past it, only required
/// properties and the fewest items a schema allows (the documents' schemas nest deeply).
const GEN_DEPTH: usize = 6;

/// The nesting depth of a concrete path (`a.b[2].c` is 3).
fn depth(rpath: &str) -> usize {
    rpath.bytes().filter(|b| *b == b'.' || *b == b'[').count()
}

fn join<'k>(base: &str, key: &'k str) -> std::borrow::Cow<'k, str> {
    if base.is_empty() {
        std::borrow::Cow::Borrowed(key)
    } else {
        std::borrow::Cow::Owned([base, ".", key].concat())
    }
}

fn pick_weighted(rng: &mut ChaCha8Rng, values: &[Value], weights: Option<&[u32]>) -> Value {
    let i = match weights {
        None => rng.random_range(0..values.len()),
        Some(w) => {
            let total: u64 = w.iter().map(|x| u64::from(*x)).sum();
            let mut r = rng.random_range(0..total.max(1));
            let mut chosen = 0;
            for (i, x) in w.iter().enumerate() {
                if r < u64::from(*x) {
                    chosen = i;
                    break;
                }
                r -= u64::from(*x);
            }
            chosen
        }
    };
    values[i].clone()
}

fn chars_from(rng: &mut ChaCha8Rng, n: usize, alphabet: &[u8], out: &mut String) {
    for _ in 0..n {
        out.push(char::from(alphabet[rng.random_range(0..alphabet.len())]));
    }
}

/// A random (version 4, variant 1) UUID.
pub fn uuid(rng: &mut ChaCha8Rng) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b: [u8; 16] = rng.random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (k, x) in b.iter().enumerate() {
        if matches!(k, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(x >> 4)]));
        out.push(char::from(HEX[usize::from(x & 0x0f)]));
    }
    out
}

/// Epoch milliseconds as RFC 3339 UTC with milliseconds (`2025-04-09T15:01:17.414Z`).
pub fn format_millis(ms: i64) -> String {
    // Years 0 to 9999: formatted by hand from civil-from-days arithmetic (chrono's format
    // strings are parsed on every call, and each of its field getters converts the instant
    // again; a million entities have millions of timestamps). Outside, chrono as before.
    const FIRST: i64 = -62_167_219_200_000; // 0000-01-01T00:00:00.000Z
    const LAST: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
    if !(FIRST..=LAST).contains(&ms) {
        return chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
    }
    let (days, in_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let mut b = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for k in (at..at + width).rev() {
            b[k] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, in_day / 3_600_000);
    put(14, 2, in_day / 60_000 % 60);
    put(17, 2, in_day / 1000 % 60);
    put(20, 3, in_day % 1000);
    // Digits and ASCII marks only: the check cannot fail.
    std::str::from_utf8(&b)
        .map(str::to_owned)
        .unwrap_or_default()
}

/// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

fn default_string(rng: &mut ChaCha8Rng, format: Option<&str>, gkey: &str) -> String {
    use super::fakes::FakeKind as F;
    match format {
        Some("date-time") => {
            return format_millis(rng.random_range(DEFAULT_FROM_MS..=DEFAULT_TO_MS));
        }
        Some("date") => {
            let t = format_millis(rng.random_range(DEFAULT_FROM_MS..=DEFAULT_TO_MS));
            return t[..10].to_string();
        }
        Some("uuid") => return uuid(rng),
        Some("email") => return F::Email.draw(rng),
        Some("uri") | Some("url") => return format!("https://example.com/{}", F::Word.draw(rng)),
        _ => {}
    }
    let name = gkey
        .rsplit('.')
        .next()
        .unwrap_or("")
        .trim_end_matches("[]")
        .to_ascii_lowercase();
    if name == "id" || name.ends_with("_id") || name.ends_with("id") && name.len() > 2 {
        uuid(rng)
    } else if name.contains("description") || name.contains("message") || name.contains("prompt") {
        F::Sentence.draw(rng)
    } else if name.contains("email") {
        F::Email.draw(rng)
    } else if name.contains("name") {
        F::Words.draw(rng)
    } else {
        F::Word.draw(rng)
    }
}

/// The formats [`default_string`] generates itself.
pub(crate) fn is_generated_format(f: &str) -> bool {
    matches!(f, "date-time" | "date" | "uuid" | "email" | "uri" | "url")
}

/// A string matching `p` whose length is within bounds when a few draws find one (else the
/// draw closest to them, which still matches the pattern).
fn from_pattern(
    rng: &mut ChaCha8Rng,
    p: &crate::spec::schema::Pattern,
    min: Option<u64>,
    max: Option<u64>,
) -> String {
    let (lo, hi) = (min.unwrap_or(0) as usize, max.unwrap_or(u64::MAX) as usize);
    let mut best: Option<String> = None;
    for _ in 0..24 {
        let s: String = rng.sample(&*p.generator);
        let n = s.chars().count();
        if (lo..=hi).contains(&n) {
            return s;
        }
        let off = |x: usize| x.saturating_sub(hi).max(lo.saturating_sub(x));
        if best
            .as_ref()
            .is_none_or(|b| off(n) < off(b.chars().count()))
        {
            best = Some(s);
        }
    }
    best.unwrap_or_default()
}

fn fit_length(mut s: String, min: Option<u64>, max: Option<u64>) -> String {
    let min = usize::try_from(min.unwrap_or(0).min(MAX_GENERATED_LENGTH)).unwrap_or(0);
    let n = s.chars().count();
    if n < min {
        s.extend(std::iter::repeat_n('x', min - n));
    }
    if let Some(max) = max
        && let Ok(max) = usize::try_from(max)
        && n > max
    {
        s = s.chars().take(max).collect();
    }
    s
}

/// The most items a generated array has, whatever `minItems` says.
const MAX_GENERATED_ITEMS: u64 = 64;

/// The longest string padding to a `minLength` produces.
pub(crate) const MAX_GENERATED_LENGTH: u64 = 4096;

/// The part of `v` at a concrete path suffix such as `.name`, `[2].name` or `.a.b[0]`.
fn part_at<'v>(v: &'v Value, rest: &str) -> Option<&'v Value> {
    let mut cur = v;
    let mut s = rest;
    while !s.is_empty() {
        if let Some(r) = s.strip_prefix('[') {
            let close = r.find(']')?;
            let i: usize = r[..close].parse().ok()?;
            cur = cur.get(i)?;
            s = &r[close + 1..];
        } else {
            let r = s.strip_prefix('.').unwrap_or(s);
            let end = r.find(['.', '[']).unwrap_or(r.len());
            cur = cur.get(&r[..end])?;
            s = &r[end..];
        }
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_as_rfc3339_with_milliseconds() {
        let strftime = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .unwrap_or_default()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string()
        };
        let mut ms = -62_167_219_200_000i64; // year 0
        while ms < 253_402_300_799_999 {
            assert_eq!(format_millis(ms), strftime(ms), "{ms}");
            ms += 7_777_777_777;
        }
        // Every day of the default window, at a time of day that moves.
        let mut ms = DEFAULT_FROM_MS - 86_400_000;
        while ms < DEFAULT_TO_MS + 86_400_000 {
            assert_eq!(format_millis(ms), strftime(ms), "{ms}");
            ms += 86_399_999;
        }
        for ms in [
            0,
            1,
            999,
            1_704_067_200_000,
            1_782_777_600_123,
            -1,
            -62_167_219_200_000,
            -62_167_219_200_001,
            253_402_300_799_999,
            253_402_300_800_000,
            951_782_400_000,   // 2000-02-29
            4_107_542_400_000, // 2100-03-01
            i64::MAX,
            i64::MIN,
        ] {
            assert_eq!(format_millis(ms), strftime(ms), "{ms}");
        }
        assert_eq!(format_millis(1_704_067_200_005), "2024-01-01T00:00:00.005Z");
    }
    use serde_json::json;

    fn model(node: serde_json::Value, fields: serde_json::Value) -> CollectionModel {
        CollectionModel::for_tests(&node, &fields, 10)
    }

    #[test]
    fn extreme_bounds_generate_without_panicking() {
        let m = model(
            json!({"type": "object", "properties": {
                "d": {"type": "number", "minimum": -1.79e308, "maximum": 1.79e308},
                "big": {"type": "array", "minItems": 18446744073709551615u64, "items": {"type": "integer"}},
                "long": {"type": "string", "minLength": 18446744073709551615u64},
                "n": {"type": "integer", "minimum": -9223372036854775808i64, "maximum": 9223372036854775807i64}
            }}),
            json!({}),
        );
        let v = Entity::new(&m, 1, 0).full();
        assert!(v["d"].as_f64().unwrap().is_finite());
        assert_eq!(
            v["big"].as_array().unwrap().len(),
            MAX_GENERATED_ITEMS as usize
        );
        assert_eq!(
            v["long"].as_str().unwrap().len(),
            MAX_GENERATED_LENGTH as usize
        );
        assert!(v["n"].is_i64());
    }

    #[test]
    fn fields_are_order_independent_and_relations_hold() {
        let m = model(
            json!({"type": "object", "properties": {
                "id": {"type": "string"}, "a": {"type": "string"}, "b": {"type": "string"},
                "created": {"type": "string", "format": "date-time"},
                "updated": {"type": "string", "format": "date-time"},
                "ready": {"type": "boolean"}, "rec": {"type": "string"},
                "min": {"type": "integer"}, "max": {"type": "integer"}
            }}),
            json!({
                "id": {"template": "thing_{hex:32}"},
                "b": {"same-as": "a"},
                "updated": {"timestamp": {"from": "$created", "within": "30d"}},
                "rec": {"if": {"ready": true}, "then": {"same-as": "id"}, "else": {"uuid": {}}},
                "min": {"int": {"min": 0, "max": 3}},
                "max": {"int": {"min": "$min", "max": 5}}
            }),
        );
        for i in 0..50 {
            let full = Entity::new(&m, 42, i).full();
            let lone = Entity::new(&m, 42, i).field("updated").unwrap();
            assert_eq!(full["updated"], lone);
            assert_eq!(full["a"], full["b"]);
            assert!(full["created"].as_str() <= full["updated"].as_str());
            assert!(full["min"].as_i64() <= full["max"].as_i64());
            let id = full["id"].as_str().unwrap();
            assert!(id.starts_with("thing_") && id.len() == 38);
            if full["ready"] == json!(true) {
                assert_eq!(full["rec"], full["id"]);
            } else {
                assert_ne!(full["rec"], full["id"]);
            }
        }
        assert_ne!(Entity::new(&m, 42, 1).full(), Entity::new(&m, 43, 1).full());
        assert_eq!(Entity::new(&m, 42, 1).full(), Entity::new(&m, 42, 1).full());
    }

    #[test]
    fn formats_times_and_uuids() {
        assert_eq!(format_millis(1_744_210_877_414), "2025-04-09T15:01:17.414Z");
        let u = uuid(&mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        // The same text as the formatting it replaced.
        let by_format = |rng: &mut ChaCha8Rng| {
            let mut b: [u8; 16] = rng.random();
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
            [&h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]].join("-")
        };
        for seed in 0..2000 {
            let (mut a, mut b) = (
                ChaCha8Rng::seed_from_u64(seed),
                ChaCha8Rng::seed_from_u64(seed),
            );
            assert_eq!(uuid(&mut a), by_format(&mut b), "seed {seed}");
        }
    }
}
