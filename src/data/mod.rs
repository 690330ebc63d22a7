//! The seeded dataset: one [`Collection`] per (API, collection), each a pure function of
//! (seed, API, collection, index).
//!
//! # Representation, and why
//! understudy must hold a million agents in one API, start in under 3 s and under 1 GB, and do
//! no per-request work proportional to the dataset beyond what a filter inherently needs. So:
//!
//! - **Entities are never stored.** An entity is generated on demand from (seed, API, collection,
//!   index): each field path has its own ChaCha8 stream (see [`entity`]), so generating it twice,
//!   on any thread, in any order, gives the same bytes.
//! - **Keys are precomputed at start-up**: the key field of every entity (`id`, or `name` for
//!   Pipecat Cloud) in a vector plus a hash map from key to index, so detail look-ups and cursor
//!   resolution are O(1). This is the only per-entity work at start-up (done on all cores).
//! - **Columns are computed lazily, once**: a field that a filter, a fixed `where` or a sort
//!   reads is generated for every entity the first time it is needed and kept
//!   ([`Collection::column`]); text filters (the regular expression over name and description)
//!   scan these columns, never whole entities.
//! - **Sort orders are computed lazily, once**: a permutation sorted by (field, order-key)
//!   ascending and its inverse (rank), so a cursor's position is O(1) and descending order is the
//!   permutation read backwards. A page then walks the permutation from the cursor, testing
//!   filters on columns, until it has `limit` items.
//!
//! Scenario changes (later) live in a per-session overlay on top of this immutable base.

pub mod column;
pub mod entity;
pub mod fakes;
pub mod generator;
pub mod model;
pub mod overlay;
pub mod template;

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

pub use column::Column;
pub use entity::Entity;
pub use model::CollectionModel;
pub use overlay::{Overlay, View};

use crate::error::{Error, Result};

/// A sorted view of a collection: `perm` lists indices by (field, order-key) ascending;
/// `rank[i]` is the position of entity `i` in `perm`.
#[derive(Debug)]
pub struct Order {
    pub perm: Vec<u32>,
    pub rank: Vec<u32>,
}

impl Order {
    /// Entities `0..n` ascending by (sort value, tie-breaker); `keys(i)` gives both for `i`.
    pub fn by<'v>(n: usize, keys: impl Fn(usize) -> (&'v Value, &'v Value)) -> Order {
        let mut perm: Vec<u32> = (0..n as u32).collect();
        perm.sort_by(|&a, &b| {
            let ((va, ta), (vb, tb)) = (keys(a as usize), keys(b as usize));
            compare(va, vb).then_with(|| compare(ta, tb))
        });
        let mut rank = vec![0u32; perm.len()];
        for (pos, &i) in perm.iter().enumerate() {
            rank[i as usize] = pos as u32;
        }
        Order { perm, rank }
    }
}

/// One collection of generated entities.
#[derive(Debug)]
pub struct Collection {
    pub model: Arc<CollectionModel>,
    pub seed: u64,
    pub count: u64,
    keys: Vec<Box<str>>,
    by_key: HashMap<Box<str>, u32>,
    columns: HashMap<String, OnceLock<Arc<Column>>>,
    orders: HashMap<String, OnceLock<Arc<Order>>>,
}

impl Collection {
    /// Build a collection of `count` entities; `column_fields` and `sort_fields` are the paths
    /// that filters and sorts will read. Fails if two entities share a key.
    pub fn build(
        model: Arc<CollectionModel>,
        seed: u64,
        count: u64,
        column_fields: &[String],
        sort_fields: &[String],
    ) -> Result<Self> {
        let count = count.min(u64::from(u32::MAX));
        let keys: Vec<Box<str>> = par_map(count, |i| {
            let v = Entity::new(&model, seed, i).field(&model.key);
            CollectionModel::key_text(&v.unwrap_or(Value::Null)).into_boxed_str()
        });
        let mut by_key = HashMap::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            if let Some(prev) = by_key.insert(k.clone(), i as u32) {
                return Err(Error::Config(format!(
                    "{}: collection '{}': entities {} and {} share the key '{}' (field '{}'); \
                     make the generator unique, e.g. with {{index}}",
                    model.api, model.name, prev, i, k, model.key
                )));
            }
        }
        let mut columns = HashMap::new();
        for f in column_fields.iter().chain(sort_fields) {
            columns.insert(f.clone(), OnceLock::new());
        }
        columns.insert(model.order_key.clone(), OnceLock::new());
        let orders = sort_fields
            .iter()
            .map(|f| (f.clone(), OnceLock::new()))
            .collect();
        Ok(Collection {
            model,
            seed,
            count,
            keys,
            by_key,
            columns,
            orders,
        })
    }

    /// Number of entities.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the collection is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The index of the entity with this key.
    pub fn lookup(&self, key: &str) -> Option<u32> {
        self.by_key.get(key).copied()
    }

    /// The key of entity `i`.
    pub fn key(&self, i: u32) -> &str {
        self.keys.get(i as usize).map_or("", |k| k)
    }

    /// The whole entity `i`.
    pub fn entity(&self, i: u32) -> Value {
        Entity::new(&self.model, self.seed, u64::from(i)).full()
    }

    /// One field of entity `i` (dotted path, `[]` through arrays), from a precomputed column
    /// when there is one.
    pub fn value(&self, i: u32, path: &str) -> Cow<'_, Value> {
        if let Some(col) = self.column(path) {
            return match col.get(i as usize) {
                Some(v) => Cow::Borrowed(v),
                None => Cow::Owned(Value::Null),
            };
        }
        Cow::Owned(self.compute(u64::from(i), path))
    }

    fn compute(&self, i: u64, path: &str) -> Value {
        let root = column::root_of(path);
        let v = Entity::new(&self.model, self.seed, i)
            .field(root)
            .unwrap_or(Value::Null);
        column::extract_from_root(root, v, path)
    }

    /// The column for `path`, computed on first use; `None` if the path was not declared as a
    /// column at build time.
    pub fn column(&self, path: &str) -> Option<&Column> {
        let cell = self.columns.get(path)?;
        Some(cell.get_or_init(|| {
            Arc::new(Column::encode(par_map(self.keys.len() as u64, |i| {
                self.compute(i, path)
            })))
        }))
    }

    /// Compute every declared column and order now (start-up warm-up, so that no request pays
    /// for it).
    pub fn warm(&self) {
        for path in self.columns.keys() {
            self.column(path);
        }
        for field in self.orders.keys() {
            self.order(field);
        }
    }

    /// The order by `field` (declared as a sort field at build time).
    pub fn order(&self, field: &str) -> Option<Arc<Order>> {
        let cell = self.orders.get(field)?;
        Some(
            cell.get_or_init(|| {
                let empty = Column::default();
                let col = self.column(field).unwrap_or(&empty);
                let tie = self.column(&self.model.order_key).unwrap_or(&empty);
                static NULL: Value = Value::Null;
                Arc::new(Order::by(self.keys.len(), |i| {
                    (col.get(i).unwrap_or(&NULL), tie.get(i).unwrap_or(&NULL))
                }))
            })
            .clone(),
        )
    }
}

/// Total order on JSON scalars used for sorting: numbers numerically, strings bytewise
/// (RFC 3339 timestamps of one format sort chronologically), `false < true`, and `null` after
/// everything (as PostgreSQL sorts NULLs last in ascending order).
pub fn compare(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Bool(_) => 0,
            Value::Number(_) => 1,
            Value::String(_) => 2,
            Value::Array(_) | Value::Object(_) => 3,
            Value::Null => 4,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y.as_f64().unwrap_or(0.0)),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Map `f` over `0..count` on all cores, keeping order.
fn par_map<T: Send>(count: u64, f: impl Fn(u64) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get() as u64)
        .unwrap_or(1);
    if count < 4096 || threads < 2 {
        return (0..count).map(f).collect();
    }
    let chunk = count.div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let lo = t * chunk;
                let hi = ((t + 1) * chunk).min(count);
                s.spawn(move || (lo..hi).map(f).collect::<Vec<T>>())
            })
            .collect();
        let mut out = Vec::with_capacity(count as usize);
        for h in handles {
            // A panic in a worker is a bug in generation; surface it rather than lose data.
            match h.join() {
                Ok(part) => out.extend(part),
                Err(e) => std::panic::resume_unwind(e),
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compare_orders_nulls_last_and_numbers_numerically() {
        assert_eq!(compare(&json!(2), &json!(10)), Ordering::Less);
        assert_eq!(compare(&json!(null), &json!("a")), Ordering::Greater);
        assert_eq!(
            compare(
                &json!("2024-01-02T00:00:00.000Z"),
                &json!("2024-01-10T00:00:00.000Z")
            ),
            Ordering::Less
        );
    }

    #[test]
    fn par_map_keeps_order() {
        let v = par_map(10_000, |i| i * 2);
        assert!(v.iter().enumerate().all(|(i, x)| *x == i as u64 * 2));
    }
}
