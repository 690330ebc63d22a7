//! Scenario changes on top of the immutable base dataset, and the [`View`] that queries read
//! through.
//!
//! An [`Overlay`] belongs to one session and one collection: entities it changed (stored whole,
//! as JSON text: a third of the memory of a parsed value, read back when a request reads them),
//! entities it deleted, and entities it added (indices after the base's). Its most recently
//! written entities are also kept parsed, within a per-overlay count and a process-wide byte
//! budget, so that writing or reading one again does not parse its text. A [`View`] without an
//! overlay, or with an empty one, reads the base directly and uses its precomputed columns and
//! orders; with changes, orders are computed for the request (scenario datasets are small).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use serde_json::Value;

use super::path::extract;
use super::{Collection, CollectionModel, Order};
use crate::sync::lock;

/// One session's changes to one collection.
#[derive(Debug, Clone, Default)]
pub struct Overlay {
    changed: HashMap<u32, Stored>,
    pub deleted: HashSet<u32>,
    added: Vec<Stored>,
    added_keys: HashMap<String, u32>,
    orders: OrderCache,
    recent: Recent,
}

/// The most bytes (estimated) of parsed entities kept for all overlays together.
const PARSED_BUDGET: u64 = 16 << 20;
/// The most parsed entities kept for all overlays together.
const PARSED_ENTRIES: usize = 16_384;

/// Parsed copies of recently written entities, for every overlay: (overlay id, index) ->
/// (value, estimated bytes). One cache for the process, so that its budget goes to the
/// sessions writing now, not to the ones that wrote last.
type Parsed = quick_cache::sync::Cache<(u64, u32), (Arc<Value>, u64), ParsedWeight>;

static PARSED: LazyLock<Parsed> =
    LazyLock::new(|| Parsed::with_weighter(PARSED_ENTRIES, PARSED_BUDGET, ParsedWeight));

/// Ids of overlays (never reused, so a dropped overlay's leftovers are never read).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

#[derive(Clone)]
struct ParsedWeight;

impl quick_cache::Weighter<(u64, u32), (Arc<Value>, u64)> for ParsedWeight {
    fn weight(&self, _key: &(u64, u32), val: &(Arc<Value>, u64)) -> u64 {
        val.1
    }
}

/// An overlay's handle on its parsed copies: a client that writes an entity tends to write or
/// read it again, and parsing the kept text back costs more than the rest of an update. A
/// copy of an overlay starts with none.
#[derive(Debug)]
struct Recent(u64);

impl Default for Recent {
    fn default() -> Self {
        Recent(NEXT_ID.fetch_add(1, Ordering::Relaxed))
    }
}

impl Clone for Recent {
    fn clone(&self) -> Self {
        Recent::default()
    }
}

impl Recent {
    fn get(&self, i: u32) -> Option<Value> {
        PARSED.get(&(self.0, i)).map(|(v, _)| (*v).clone())
    }

    fn take(&self, i: u32) -> Option<Value> {
        let (_, (v, _)) = PARSED.remove(&(self.0, i))?;
        Some(Arc::try_unwrap(v).unwrap_or_else(|shared| (*shared).clone()))
    }

    fn forget(&self, i: u32) {
        PARSED.remove(&(self.0, i));
    }
}

/// An entity kept as its JSON text, with where each top-level member starts in it (so that a
/// write of a few fields writes only those again).
#[derive(Debug, Clone)]
struct Stored {
    text: Box<str>,
    members: Box<[u32]>,
}

impl Stored {
    fn new(v: &Value) -> Stored {
        let (text, members) = super::json::with_members(v);
        Stored {
            text: text.into_boxed_str(),
            members: members.into_boxed_slice(),
        }
    }

    /// `v`, which is this entity with at most its top-level fields `changed` changed.
    fn changed(&self, v: &Value, changed: &[String]) -> Stored {
        Stored::spliced(v, &self.text, &self.members, changed)
    }

    /// `v`, which is the entity of text `old` (members at `starts`) with at most its
    /// top-level fields `changed` changed.
    fn spliced(v: &Value, old: &str, starts: &[u32], changed: &[String]) -> Stored {
        let (text, members) = super::json::splice(v, old, starts, changed);
        debug_assert_eq!(text, super::json::to_string(v), "changed: {changed:?}");
        Stored {
            text: text.into_boxed_str(),
            members: members.into_boxed_slice(),
        }
    }

    fn value(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

/// Orders computed over an overlay, kept until the overlay changes (a copy starts empty).
#[derive(Debug, Default)]
struct OrderCache(Mutex<HashMap<String, Arc<Order>>>);

impl Clone for OrderCache {
    fn clone(&self) -> Self {
        OrderCache::default()
    }
}

impl Overlay {
    /// Whether the overlay changes nothing.
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.deleted.is_empty() && self.added.is_empty()
    }

    /// Keep `v`, the value of entity `i`'s kept text (`text_len` bytes long), parsed for the
    /// next read or write of it, within the process's budget for parsed copies.
    pub fn remember(&mut self, i: u32, v: Value, text_len: usize) {
        // A parsed value takes several times its text's bytes.
        let weight = (text_len as u64).saturating_mul(4).saturating_add(64);
        PARSED.insert((self.recent.0, i), (Arc::new(v), weight));
    }

    /// Forget the parsed value of entity `i` (its text is changing).
    fn forget(&mut self, i: u32) {
        self.recent.forget(i);
    }

    /// Replace entity `i` (base or added) with `v`.
    pub fn set(&mut self, base_len: usize, i: u32, v: &Value) {
        self.forget(i);
        if (i as usize) < base_len {
            self.changed.insert(i, Stored::new(v));
        } else if let Some(slot) = self.added.get_mut(i as usize - base_len) {
            *slot = Stored::new(v);
        }
    }

    /// Replace entity `i` with `v`, which is what the overlay keeps of it (else `base`, the
    /// dataset's entity) with at most the top-level fields `changed` changed: only those are
    /// written again, the others' text is copied.
    pub fn set_changed(
        &mut self,
        base_len: usize,
        i: u32,
        v: &Value,
        changed: &[String],
        base: Option<&super::Written>,
    ) {
        self.forget(i);
        let slot = if (i as usize) < base_len {
            self.changed.get_mut(&i)
        } else {
            self.added.get_mut(i as usize - base_len)
        };
        match (slot, base) {
            (Some(kept), _) => *kept = kept.changed(v, changed),
            (None, Some(base)) if (i as usize) < base_len => {
                let (text, starts) = base.text();
                self.changed
                    .insert(i, Stored::spliced(v, text, starts, changed));
            }
            (None, _) => self.set(base_len, i, v),
        }
    }

    /// Append a new entity with key `key`; returns its index.
    pub fn add(&mut self, base_len: usize, key: String, v: &Value) -> u32 {
        let i = (base_len + self.added.len()) as u32;
        self.forget(i);
        self.added.push(Stored::new(v));
        self.added_keys.insert(key, i);
        i
    }

    /// The size of the JSON text the overlay keeps for entity `i` (0 when it keeps none).
    pub fn kept_bytes(&self, base_len: usize, i: u32) -> usize {
        self.kept_text(base_len, i).map_or(0, str::len)
    }

    /// The JSON text the overlay keeps for entity `i`, if it keeps one.
    pub fn kept_text(&self, base_len: usize, i: u32) -> Option<&str> {
        let kept = if (i as usize) >= base_len {
            self.added.get(i as usize - base_len)
        } else {
            self.changed.get(&i)
        };
        kept.map(|s| &*s.text)
    }

    /// The dataset's entities this overlay changed, with their values, by index.
    pub fn changed(&self) -> Vec<(u32, Value)> {
        let mut out: Vec<(u32, Value)> =
            self.changed.iter().map(|(i, v)| (*i, v.value())).collect();
        out.sort_by_key(|(i, _)| *i);
        out
    }

    /// The entities this overlay added, in order (their indices follow the base's).
    pub fn added(&self) -> impl Iterator<Item = Value> + '_ {
        self.added.iter().map(Stored::value)
    }

    /// Put `v`, with key `key`, in the added slot `i` (created earlier), live again.
    pub fn replace_added(&mut self, base_len: usize, i: u32, key: String, v: &Value) {
        let Some(slot) = (i as usize)
            .checked_sub(base_len)
            .and_then(|j| self.added.get_mut(j))
        else {
            return;
        };
        *slot = Stored::new(v);
        self.forget(i);
        self.added_keys.retain(|_, at| *at != i);
        self.added_keys.insert(key, i);
        self.deleted.remove(&i);
    }

    /// Drop the orders computed so far (after a change).
    pub fn forget_orders(&mut self) {
        self.orders = OrderCache::default();
    }

    /// Numbers of (updated, created, deleted) entities.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.changed.len(), self.added.len(), self.deleted.len())
    }
}

/// A collection as one session sees it.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub base: &'a Collection,
    pub overlay: Option<&'a Overlay>,
}

impl<'a> View<'a> {
    pub fn new(base: &'a Collection, overlay: Option<&'a Overlay>) -> Self {
        View {
            base,
            overlay: overlay.filter(|o| !o.is_empty()),
        }
    }

    /// Number of index slots (base plus added; deleted ones included).
    pub fn len(&self) -> usize {
        self.base.len() + self.overlay.map_or(0, |o| o.added.len())
    }

    /// Whether there are no slots at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of live (not deleted) entities.
    pub fn live(&self) -> usize {
        self.len() - self.overlay.map_or(0, |o| o.deleted.len())
    }

    /// Whether entity `i` is the dataset's own, unchanged by the overlay.
    pub fn is_pristine(&self, i: u32) -> bool {
        (i as usize) < self.base.len() && !self.is_stored(i)
    }

    /// Whether entity `i` exists (not deleted).
    pub fn is_live(&self, i: u32) -> bool {
        (i as usize) < self.len() && !self.overlay.is_some_and(|o| o.deleted.contains(&i))
    }

    fn stored(&self, i: u32) -> Option<Value> {
        let o = self.overlay?;
        if let Some(v) = o.recent.get(i) {
            return Some(v);
        }
        let n = self.base.len();
        let kept = if (i as usize) >= n {
            o.added.get(i as usize - n)
        } else {
            o.changed.get(&i)
        };
        kept.map(Stored::value)
    }

    /// Whether entity `i` is kept by the overlay (not the dataset's own).
    fn is_stored(&self, i: u32) -> bool {
        self.overlay.is_some_and(|o| {
            let n = self.base.len();
            if (i as usize) >= n {
                (i as usize - n) < o.added.len()
            } else {
                o.changed.contains_key(&i)
            }
        })
    }

    /// The index of the live entity with this key.
    pub fn lookup(&self, key: &str) -> Option<u32> {
        let i = self
            .overlay
            .and_then(|o| o.added_keys.get(key).copied())
            .or_else(|| self.base.lookup(key))?;
        self.is_live(i).then_some(i)
    }

    /// The index of the entity with this key, deleted or not.
    pub fn lookup_any(&self, key: &str) -> Option<u32> {
        self.overlay
            .and_then(|o| o.added_keys.get(key).copied())
            .or_else(|| self.base.lookup(key))
    }

    /// The key of entity `i`.
    pub fn key(&self, i: u32) -> String {
        match self.stored(i) {
            Some(v) => CollectionModel::key_text(&extract(&v, &self.base.model.key)),
            None => self.base.key(i).to_string(),
        }
    }

    /// The whole entity `i`.
    pub fn entity(&self, i: u32) -> Value {
        match self.stored(i) {
            Some(v) => v,
            None => self.base.entity(i),
        }
    }

    /// The whole entity `i`, for a write to start from (see [`Collection::entity_to_write`]);
    /// a recently written one is taken from the overlay's parsed ones, not copied (the write
    /// remembers what it makes of it).
    pub fn entity_to_write(&self, i: u32) -> Value {
        self.entity_to_write_checked(i).0
    }

    /// [`View::entity_to_write`], and whether the entity is one a write of this overlay
    /// checked and kept (a remembered copy): only then is it known to be valid, so that the
    /// next write may check only what it changes.
    pub fn entity_to_write_checked(&self, i: u32) -> (Value, bool) {
        if let Some(v) = self.overlay.and_then(|o| o.recent.take(i)) {
            return (v, true);
        }
        match self.stored(i) {
            Some(v) => (v, false),
            None => (self.base.entity_to_write(i), false),
        }
    }

    /// One field of entity `i` (dotted path, `[]` through arrays).
    pub fn value(&self, i: u32, path: &str) -> Cow<'a, Value> {
        match self.stored(i) {
            Some(v) => Cow::Owned(extract(&v, path)),
            None => self.base.value(i, path),
        }
    }

    /// The order by `field`: the base's precomputed one, or one computed over the overlay (once
    /// per change of the overlay).
    pub fn order(&self, field: &str) -> Option<Arc<Order>> {
        let Some(o) = self.overlay else {
            return self.base.order(field);
        };
        if let Some(cached) = lock(&o.orders.0).get(field) {
            return Some(cached.clone());
        }
        let n = self.len() as u32;
        let tie = self.base.model.order_key.clone();
        let vals: Vec<(Value, Value)> = (0..n)
            .map(|i| {
                (
                    self.value(i, field).into_owned(),
                    self.value(i, &tie).into_owned(),
                )
            })
            .collect();
        let order = Arc::new(Order::by(vals.len(), |i| (&vals[i].0, &vals[i].1)));
        lock(&o.orders.0).insert(field.to_string(), order.clone());
        Some(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn collection() -> Collection {
        let model = CollectionModel::for_tests(
            &json!({"type": "object", "properties": {
                "id": {"type": "string", "format": "uuid"}, "n": {"type": "integer"}}}),
            &json!({}),
            3,
        );
        Collection::build(Arc::new(model), 7, 3, &[], &[], &[]).unwrap()
    }

    #[test]
    fn a_remembered_entity_is_the_one_kept_and_is_forgotten_when_it_changes() {
        let base = collection();
        let n = base.len();
        let mut o = Overlay::default();
        let v1 = json!({"id": "a", "n": 1});
        let i = o.add(n, "a".into(), &v1);
        o.remember(i, v1.clone(), 20);
        // A write takes the remembered value (no copy is left behind) ...
        assert_eq!(View::new(&base, Some(&o)).entity_to_write(i), v1);
        assert!(o.recent.get(i).is_none());
        // ... and without it reads the kept text: the same value.
        assert_eq!(View::new(&base, Some(&o)).entity_to_write(i), v1);
        // A change forgets the parsed value, so a stale one is never read.
        o.remember(i, v1.clone(), 20);
        let v2 = json!({"id": "a", "n": 2});
        o.replace_added(n, i, "a".into(), &v2);
        assert!(o.recent.get(i).is_none());
        assert_eq!(View::new(&base, Some(&o)).entity(i), v2);
        o.remember(i, v2.clone(), 20);
        let v3 = json!({"id": "a", "n": 3});
        o.set(n, i, &v3);
        assert_eq!(View::new(&base, Some(&o)).entity(i), v3);
        // A base entity changed by the overlay, remembered, read by copy.
        o.set(n, 0, &json!({"id": "b", "n": 4}));
        o.remember(0, json!({"id": "b", "n": 4}), 20);
        assert_eq!(View::new(&base, Some(&o)).entity(0)["n"], 4);
        assert_eq!(o.recent.get(0), Some(json!({"id": "b", "n": 4})));
        // A copy of the overlay starts with none (its changes go their own way).
        assert!(o.clone().recent.get(0).is_none());
        // What the budget cannot hold is not kept.
        o.remember(7, json!("big"), PARSED_BUDGET as usize);
        assert!(o.recent.get(7).is_none());
        assert!(o.recent.get(0).is_some());
    }
}
