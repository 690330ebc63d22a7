//! The seeded dataset: one [`Collection`] per (API, collection), each a pure function of
//! (seed, API, collection, index).
//!
//! # Representation, and why
//! understudy must hold a million entities in one API, start in under 3 s and under 1 GB, and do
//! no per-request work proportional to the dataset beyond what a filter inherently needs. So:
//!
//! - **Entities are never stored.** An entity is generated on demand from (seed, API, collection,
//!   index): each field path has its own ChaCha8 stream (see [`entity`]), so generating it twice,
//!   on any thread, in any order, gives the same bytes.
//! - **Keys are precomputed at start-up**: the key field of every entity (`id`, or `name` for
//!   Pipecat Cloud) in one string arena plus a hash table of indices, so detail look-ups and
//!   cursor resolution are O(1), and the arena doubles as the key field's column. The same pass
//!   (on all cores) computes the columns that text filters scan, so the first regular
//!   expression after start reads columns instead of building them.
//! - **Other columns are computed lazily, once**: a field that a filter, a fixed `where` or a
//!   sort reads is generated for every entity the first time it is needed, or by the
//!   background warm-up ([`Collection::warm`]), and kept ([`Collection::column`]). Columns are
//!   dictionary-encoded, or a string arena past 65,536 distinct strings (see [`column`]); a
//!   filter tests each distinct value of a dictionary once per request.
//! - **Sort orders are computed lazily, once**: a permutation sorted by (field, order-key)
//!   ascending and its inverse (rank), so a cursor's position is O(1) and descending order is the
//!   permutation read backwards. A page then walks the permutation from the cursor, testing
//!   filters on columns, until it has `limit` items.
//!
//! Scenario changes and writes live in a per-session overlay on top of this immutable base.
//! The one exception to "never stored": a small, bounded cache of the whole entities that
//! writes started from ([`Collection::entity_to_write`]).

pub mod column;
pub mod entity;
pub mod fakes;
pub mod generator;
pub(crate) mod json;
pub mod model;
pub mod overlay;
pub mod path;
pub mod template;
pub(crate) mod write;

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use serde_json::Value;

pub use column::{Cell, Column, Strs};
pub use entity::Entity;
pub use model::CollectionModel;
pub use overlay::{Overlay, View};

use crate::error::{Error, Result};

/// A hash map for the data layer's hot paths: foldhash with a fixed seed, not SipHash. Its keys
/// are the specs' field paths, never a client's text, so flooding is not a concern here.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// A hash set for the same paths, with the same hasher as [`FastMap`].
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::FixedState>;

/// A sorted view of a collection: `perm` lists indices by (field, order-key) ascending;
/// `rank[i]` is the position of entity `i` in `perm`.
#[derive(Debug)]
pub struct Order {
    pub perm: Vec<u32>,
    pub rank: Vec<u32>,
}

impl Order {
    /// Entities ascending by (`ranks[i]`, `ties[i]`, `i`): the same order as [`Order::by`] over
    /// the values the ranks stand for.
    pub fn by_ranks(ranks: &[u32], ties: &[u32]) -> Order {
        let n = ranks.len().min(ties.len());
        // The keys sorted as values side by side, not looked up at each comparison (random reads
        // into two arrays of the collection's length). Ranks are dense (below their column's
        // length), so with both columns up to 2^21 long, (rank, tie, index) pack into one u64
        // (22, 21 and 21 bits) that sorts the same way.
        let perm: Vec<u32> = if ranks.len().max(ties.len()) <= 1 << 21 {
            let mut keys: Vec<u64> = (0..n)
                .map(|i| (u64::from(ranks[i]) << 42) | (u64::from(ties[i]) << 21) | i as u64)
                .collect();
            keys.sort_unstable();
            keys.iter().map(|k| (k & ((1 << 21) - 1)) as u32).collect()
        } else {
            let mut keys: Vec<(u64, u32)> = (0..n)
                .map(|i| ((u64::from(ranks[i]) << 32) | u64::from(ties[i]), i as u32))
                .collect();
            keys.sort_unstable();
            keys.iter().map(|&(_, i)| i).collect()
        };
        let mut rank = vec![0u32; n];
        for (pos, &i) in perm.iter().enumerate() {
            rank[i as usize] = pos as u32;
        }
        Order { perm, rank }
    }

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
    keys: Keys,
    columns: HashMap<String, OnceLock<Arc<Column>>>,
    orders: HashMap<String, OnceLock<Arc<Order>>>,
    /// Ranks of the tie-breaking field's values, shared by every order.
    tie_ranks: OnceLock<Vec<u32>>,
    /// Whole entities that writes started from (see [`Collection::entity_to_write`]).
    written_from: WrittenFrom,
}

/// Every entity's key, in one arena, and the index of each key.
struct Keys {
    strs: Arc<Strs>,
    /// Entity indices, hashed by their key's text.
    index: hashbrown::HashTable<u32>,
    /// Whether every key is a JSON string (so the arena is also the key field's column).
    all_strings: bool,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({})", self.strs.len())
    }
}

impl Keys {
    fn hash(key: &str) -> u64 {
        use std::hash::BuildHasher;
        foldhash::fast::FixedState::with_seed(0x756e_6465_7273_7475).hash_one(key)
    }

    /// Index every key; on a repeated key, the two entities that share it.
    fn new(strs: Strs, all_strings: bool) -> std::result::Result<Keys, (u32, u32)> {
        let mut index = hashbrown::HashTable::with_capacity(strs.len());
        for i in 0..strs.len() {
            let k = strs.get(i).unwrap_or_default();
            let h = Keys::hash(k);
            match index.entry(
                h,
                |&j: &u32| strs.get(j as usize) == Some(k),
                |&j: &u32| Keys::hash(strs.get(j as usize).unwrap_or_default()),
            ) {
                hashbrown::hash_table::Entry::Occupied(e) => return Err((*e.get(), i as u32)),
                hashbrown::hash_table::Entry::Vacant(e) => {
                    e.insert(i as u32);
                }
            }
        }
        Ok(Keys {
            strs: Arc::new(strs),
            index,
            all_strings,
        })
    }

    fn lookup(&self, key: &str) -> Option<u32> {
        self.index
            .find(Keys::hash(key), |&j| self.strs.get(j as usize) == Some(key))
            .copied()
    }
}

/// Most entities kept by one collection's [`WrittenFrom`], and their most (estimated) bytes.
const WRITTEN_FROM_ENTRIES: usize = 4_096;
const WRITTEN_FROM_BYTES: u64 = 16 << 20;

/// A bounded cache of whole entities that writes started from: parallel test sessions tend to
/// write the same few seeded entities, and generating one whole costs more than the rest of a
/// write. Entities are deterministic, so a kept one never goes stale.
struct WrittenFrom(quick_cache::sync::Cache<u32, Arc<Written>, ValueWeight>);

/// An entity that writes started from, and its JSON text (with where its members start),
/// written when a write first keeps a change of it: later writes of the same entity, in any
/// session, write only the fields they change (see [`json::splice`]).
pub struct Written {
    value: Value,
    text: OnceLock<(Box<str>, Box<[u32]>)>,
    /// Whether the entity passed the write checks, once asked (it never changes).
    valid: OnceLock<bool>,
}

impl Written {
    /// Whether the entity is valid, as `check` says the first time it is asked.
    pub fn valid_by(&self, check: impl FnOnce(&Value) -> bool) -> bool {
        *self.valid.get_or_init(|| check(&self.value))
    }

    /// The entity's text and where its top-level members start in it.
    pub fn text(&self) -> (&str, &[u32]) {
        let (text, starts) = self.text.get_or_init(|| {
            let (t, m) = json::with_members(&self.value);
            (t.into_boxed_str(), m.into_boxed_slice())
        });
        (text, starts)
    }
}

impl std::fmt::Debug for WrittenFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WrittenFrom({} entities)", self.0.len())
    }
}

/// Weighs a kept entity by an estimate of its size in memory.
#[derive(Clone)]
struct ValueWeight;

impl quick_cache::Weighter<u32, Arc<Written>> for ValueWeight {
    fn weight(&self, _key: &u32, val: &Arc<Written>) -> u64 {
        // The text, written later, is counted at once: about a third of the value's size.
        let value = approx_bytes(&val.value);
        value + value / 3 + 64
    }
}

/// A rough size of `v` in memory: its strings' bytes and a few words per value.
fn approx_bytes(v: &Value) -> u64 {
    32 + match v {
        Value::String(s) => s.len() as u64,
        Value::Array(a) => a.iter().map(approx_bytes).sum(),
        Value::Object(m) => m
            .iter()
            .map(|(k, x)| k.len() as u64 + 16 + approx_bytes(x))
            .sum(),
        _ => 0,
    }
}

impl Collection {
    /// Build a collection of `count` entities; `column_fields` and `sort_fields` are the paths
    /// that filters and sorts will read, computed when first needed or by [`Collection::warm`];
    /// the columns among them also in `early_fields` are computed now, in the keys' pass.
    /// Fails if two entities share a key.
    pub fn build(
        model: Arc<CollectionModel>,
        seed: u64,
        count: u64,
        column_fields: &[String],
        sort_fields: &[String],
        early_fields: &[String],
    ) -> Result<Self> {
        let count = count.min(u64::from(u32::MAX));
        let mut columns: HashMap<String, OnceLock<Arc<Column>>> = HashMap::new();
        for f in column_fields.iter().chain(sort_fields) {
            columns.insert(f.clone(), OnceLock::new());
        }
        columns.insert(model.order_key.clone(), OnceLock::new());
        let mut early: Vec<&str> = early_fields
            .iter()
            .filter(|f| columns.contains_key(*f) && **f != model.key)
            .map(String::as_str)
            .collect();
        early.sort_unstable();
        early.dedup();
        let started = std::time::Instant::now();
        let (keys, built) = scan(&model, seed, count, &early, true);
        let scanned = started.elapsed();
        let (strs, all_strings) = keys.unwrap_or_default();
        let keys = Keys::new(strs, all_strings).map_err(|(prev, i)| {
            Error::Config(format!(
                "{}: collection '{}': entities {} and {} share the key '{}' (field '{}'); \
                 make the generator unique, e.g. with {{index}}",
                model.api,
                model.name,
                prev,
                i,
                keys_text(&model, seed, i),
                model.key
            ))
        })?;
        tracing::debug!(
            "{}/{}: keys and {early:?} in {} ms, indexed in {} ms",
            model.api,
            model.name,
            scanned.as_millis(),
            (started.elapsed() - scanned).as_millis()
        );
        for (path, col) in early.iter().zip(built) {
            if let Some(cell) = columns.get(*path) {
                let _ = cell.set(Arc::new(col));
            }
        }
        // The key field's column is the keys themselves, when they are its values as written.
        if keys.all_strings
            && path::root_of(&model.key) == model.key
            && let Some(cell) = columns.get(&model.key)
        {
            let _ = cell.set(Arc::new(Column::strings(keys.strs.clone())));
        }
        let orders = sort_fields
            .iter()
            .map(|f| (f.clone(), OnceLock::new()))
            .collect();
        Ok(Collection {
            model,
            seed,
            count,
            keys,
            columns,
            orders,
            tie_ranks: OnceLock::new(),
            written_from: WrittenFrom(quick_cache::sync::Cache::with_weighter(
                WRITTEN_FROM_ENTRIES,
                WRITTEN_FROM_BYTES,
                ValueWeight,
            )),
        })
    }

    /// Number of entities.
    pub fn len(&self) -> usize {
        self.keys.strs.len()
    }

    /// Whether the collection is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.strs.is_empty()
    }

    /// The index of the entity with this key.
    pub fn lookup(&self, key: &str) -> Option<u32> {
        self.keys.lookup(key)
    }

    /// The key of entity `i`.
    pub fn key(&self, i: u32) -> &str {
        self.keys.strs.get(i as usize).unwrap_or_default()
    }

    /// The whole entity `i`.
    pub fn entity(&self, i: u32) -> Value {
        Entity::new(&self.model, self.seed, u64::from(i)).full()
    }

    /// The whole entity `i`, for a write to start from: kept in a bounded cache, so that the
    /// next session writing it need not generate it again.
    pub fn entity_to_write(&self, i: u32) -> Value {
        if let Some(w) = self.written_from.0.get(&i) {
            return w.value.clone();
        }
        let v = self.entity(i);
        self.written_from.0.insert(
            i,
            Arc::new(Written {
                value: v.clone(),
                text: OnceLock::new(),
                valid: OnceLock::new(),
            }),
        );
        v
    }

    /// Entity `i` as [`Collection::entity_to_write`] keeps it, if it still does: for a write
    /// that started from it to splice its text.
    pub fn written_from(&self, i: u32) -> Option<Arc<Written>> {
        self.written_from.0.get(&i)
    }

    /// One field of entity `i` (dotted path, `[]` through arrays), from a precomputed column
    /// when there is one.
    pub fn value(&self, i: u32, path: &str) -> Cow<'_, Value> {
        if let Some(col) = self.column(path) {
            return match col.get(i as usize) {
                Some(Cell::Json(v)) => Cow::Borrowed(v),
                Some(cell) => Cow::Owned(cell.to_value()),
                None => Cow::Owned(Value::Null),
            };
        }
        Cow::Owned(field_at(
            &Entity::new(&self.model, self.seed, u64::from(i)),
            path,
        ))
    }

    /// The column for `path`, computed on first use; `None` if the path was not declared as a
    /// column at build time.
    pub fn column(&self, path: &str) -> Option<&Column> {
        let cell = self.columns.get(path)?;
        Some(cell.get_or_init(|| {
            let (_, mut built) = scan(&self.model, self.seed, self.len() as u64, &[path], false);
            Arc::new(built.pop().unwrap_or_default())
        }))
    }

    /// Compute every declared column and order now (start-up warm-up, so that no request pays
    /// for it). The columns are built in one pass over the entities: each entity is generated
    /// once for all of them (the fields they share, such as a timestamp others derive from,
    /// are generated once), in chunks, so no column's values are ever all held at once.
    pub fn warm(&self) {
        let started = std::time::Instant::now();
        let mut pending: Vec<(&str, &OnceLock<Arc<Column>>)> = self
            .columns
            .iter()
            .filter(|(_, cell)| cell.get().is_none())
            .map(|(p, cell)| (p.as_str(), cell))
            .collect();
        pending.sort_by_key(|(p, _)| *p);
        let paths: Vec<&str> = pending.iter().map(|(p, _)| *p).collect();
        if !paths.is_empty() {
            let (_, built) = scan(&self.model, self.seed, self.len() as u64, &paths, false);
            for ((_, cell), col) in pending.iter().zip(built) {
                // A request may have built the column meanwhile: the same values either way.
                let _ = cell.set(Arc::new(col));
            }
        }
        let columns_ms = started.elapsed().as_millis();
        // Orders in parallel, one per core at a time: each is mostly one sort, and each holds
        // several vectors of the collection's length while it is computed. The tie-breaker's
        // ranks, which every order reads, are the first job: the order taken beside it ranks
        // its own column meanwhile.
        let fields: Vec<&String> = self.orders.keys().collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::thread::scope(|s| {
            let jobs = if fields.is_empty() {
                0
            } else {
                fields.len() + 1
            };
            for _ in 0..threads.min(jobs) {
                s.spawn(|| {
                    loop {
                        match next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) {
                            0 => {
                                if let Some(tie) = self.column(&self.model.order_key) {
                                    self.tie_ranks.get_or_init(|| tie.entity_ranks());
                                }
                            }
                            job => match fields.get(job - 1) {
                                Some(f) => {
                                    self.order(f);
                                }
                                None => break,
                            },
                        }
                    }
                });
            }
        });
        tracing::info!(
            "{}/{}: {} columns ({} built now) in {columns_ms} ms, {} orders in {} ms",
            self.model.api,
            self.model.name,
            self.columns.len(),
            paths.len(),
            self.orders.len(),
            started.elapsed().as_millis() - columns_ms
        );
    }

    /// The order by `field` (declared as a sort field at build time).
    pub fn order(&self, field: &str) -> Option<Arc<Order>> {
        let cell = self.orders.get(field)?;
        Some(
            cell.get_or_init(|| {
                let n = self.len();
                let (Some(col), Some(tie)) =
                    (self.column(field), self.column(&self.model.order_key))
                else {
                    return Arc::new(Order::by(n, |_| (&Value::Null, &Value::Null)));
                };
                // Sort by ranks among the distinct values: one sort of each column's
                // dictionary (the tie-breaker's shared by every order), then integers.
                let ranks = col.entity_ranks();
                let ties = self.tie_ranks.get_or_init(|| tie.entity_ranks());
                Arc::new(Order::by_ranks(&ranks, ties))
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

/// Entities a worker generates per step of a [`scan`] (a chunk's rows are held until encoded
/// and freed: at most about two per worker plus the one being encoded).
const WARM_CHUNK: u64 = 1 << 14;

/// The value at `path` of an entity (only the root field's subtree is generated; a constant
/// one is read in place).
fn field_at(e: &Entity, path: &str) -> Value {
    let root = path::root_of(path);
    match e.field_cow(root) {
        Some(Cow::Borrowed(v)) => path::extract_in(v, path),
        Some(Cow::Owned(v)) => path::extract_from_root(root, v, path),
        None => path::extract_from_root(root, Value::Null, path),
    }
}

/// The values at `paths` of one entity; a root that several paths read (`shared`) is
/// generated once for them.
fn row_values(e: &Entity, paths: &[&str], shared: &[bool]) -> Vec<Value> {
    let mut roots: Vec<(&str, Cow<Value>)> = Vec::new();
    let mut out = Vec::with_capacity(paths.len());
    for (p, &many) in paths.iter().zip(shared) {
        if !many {
            out.push(field_at(e, p));
            continue;
        }
        let root = path::root_of(p);
        let at = match roots.iter().position(|(r, _)| *r == root) {
            Some(at) => at,
            None => {
                let v = e.field_cow(root).unwrap_or(Cow::Owned(Value::Null));
                roots.push((root, v));
                roots.len() - 1
            }
        };
        out.push(path::extract_in(&roots[at].1, p));
    }
    out
}

/// The key text of entity `i`.
fn keys_text(model: &CollectionModel, seed: u64, i: u32) -> String {
    let v = Entity::new(model, seed, u64::from(i)).field(&model.key);
    CollectionModel::key_text(&v.unwrap_or(Value::Null))
}

/// One pass over entities `0..count`, in chunks generated on all cores: the columns of
/// `paths`, and with `with_keys` every key (and whether all were JSON strings). Each entity is
/// generated once for all of them, so fields they share are generated once.
fn scan(
    model: &CollectionModel,
    seed: u64,
    count: u64,
    paths: &[&str],
    with_keys: bool,
) -> (Option<(Strs, bool)>, Vec<Column>) {
    type Row = (Option<Value>, Vec<Value>);
    /// Generated rows, with the hash of each value (by row, then path) for its dictionary.
    struct Chunk {
        rows: Vec<Row>,
        hashes: Vec<u64>,
    }
    let mut keys = with_keys.then(|| (Strs::with_capacity(count as usize), true));
    let mut encoders: Vec<column::Encoder> = paths
        .iter()
        .map(|_| column::Encoder::with_capacity(count as usize))
        .collect();
    let mut serial = std::time::Duration::ZERO;
    // The roots that several paths read (`identities` for `identities[].id` and
    // `identities[].identifier_key`): generated once per entity for all of them.
    let shared: Vec<bool> = paths
        .iter()
        .map(|p| {
            let root = path::root_of(p);
            paths.iter().filter(|q| path::root_of(q) == root).count() > 1
        })
        .collect();
    // Workers that live for the whole pass (one per core) generate chunks in turn: worker `t`
    // takes chunks `t`, `t + workers`, ... This thread encodes them in order, each while the
    // workers generate the next ones. What can be done beside the encoding is done in the
    // workers: they hash each value for its dictionary (until the column becomes an arena,
    // which needs no hash), and free their chunks once encoded (the thread that allocated a
    // value frees it at less cost).
    // At most 8: each holds up to two chunks (one being made, one encoded and not yet freed).
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(8) as u64);
    let chunks = count.div_ceil(WARM_CHUNK);
    let arena: Vec<AtomicBool> = paths.iter().map(|_| AtomicBool::new(false)).collect();
    std::thread::scope(|s| {
        let mut lanes = Vec::new();
        for t in 0..workers.min(chunks) {
            // A rendezvous: a worker hands over a chunk only when it is encoded next.
            let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(0);
            let (done_tx, done) = std::sync::mpsc::channel::<Chunk>();
            lanes.push((rx, done_tx));
            let (shared, arena) = (&shared, &arena);
            s.spawn(move || {
                let mut c = t;
                while c < chunks {
                    while let Ok(old) = done.try_recv() {
                        drop(old);
                    }
                    let lo = c * WARM_CHUNK;
                    let hi = count.min(lo + WARM_CHUNK);
                    let mut chunk = Chunk {
                        rows: Vec::with_capacity((hi - lo) as usize),
                        hashes: Vec::with_capacity((hi - lo) as usize * paths.len()),
                    };
                    for i in lo..hi {
                        let e = Entity::new(model, seed, i);
                        let key = with_keys.then(|| e.field(&model.key).unwrap_or(Value::Null));
                        let values = row_values(&e, paths, shared);
                        for (v, arena) in values.iter().zip(arena) {
                            let h = if arena.load(Relaxed) {
                                0
                            } else {
                                column::hash_value(v)
                            };
                            chunk.hashes.push(h);
                        }
                        chunk.rows.push((key, values));
                    }
                    if tx.send(chunk).is_err() {
                        return;
                    }
                    c += workers;
                }
            });
        }
        for c in 0..chunks {
            let Some((rx, done)) = lanes.get((c % workers) as usize) else {
                break;
            };
            // A worker that stopped early panicked: the scope passes the panic on.
            let Ok(chunk) = rx.recv() else {
                break;
            };
            let t = std::time::Instant::now();
            let mut hashes = chunk.hashes.iter();
            for (key, values) in &chunk.rows {
                if let (Some((strs, all)), Some(k)) = (&mut keys, key) {
                    match k {
                        Value::String(s) => strs.push(s),
                        other => {
                            *all = false;
                            strs.push(&CollectionModel::key_text(other));
                        }
                    }
                }
                for ((enc, v), h) in encoders.iter_mut().zip(values.iter()).zip(&mut hashes) {
                    enc.push_hashed(*h, v);
                }
            }
            for (enc, arena) in encoders.iter().zip(&arena) {
                if enc.is_arena() {
                    arena.store(true, Relaxed);
                }
            }
            serial += t.elapsed();
            // Back to its worker to be freed (or freed here if the worker is gone).
            let _ = done.send(chunk);
        }
        // Workers still waiting to hand over a chunk (after a panic) see the receivers gone.
        drop(lanes);
    });
    tracing::debug!("scan of {paths:?}: {} ms encoding", serial.as_millis());
    if let Some((strs, _)) = &mut keys {
        strs.shrink_to_fit();
    }
    (
        keys,
        encoders.into_iter().map(column::Encoder::finish).collect(),
    )
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

    /// A scan over several chunks and workers gives each entity's own values in index order,
    /// in a column that stays a dictionary and in one that becomes an arena midway (after
    /// which the workers stop hashing its values).
    #[test]
    fn a_scan_agrees_with_each_entity() {
        let model = CollectionModel::for_tests(
            &json!({"type": "object", "properties": {
                "id": {"type": "string"},
                "n": {"type": "integer"},
                "t": {"type": "string", "format": "date-time"}
            }}),
            &json!({
                "id": {"template": "e-{index:6}"},
                "n": {"int": {"min": 0, "max": 5}},
                "t": {"timestamp": {}}
            }),
            0,
        );
        let count = column::DICT_LIMIT as u64 + 3 * WARM_CHUNK + 7;
        let (keys, cols) = scan(&model, 9, count, &["n", "t"], true);
        let (keys, all) = keys.expect("keys asked for");
        assert!(all, "every key is a string");
        assert_eq!(keys.len() as u64, count);
        assert!(matches!(cols[0], Column::Dict { .. }));
        assert!(
            matches!(cols[1], Column::Str { .. }),
            "distinct timestamps: an arena"
        );
        // No entity, and fewer than one chunk.
        let (no_keys, empty) = scan(&model, 9, 0, &["n"], true);
        assert_eq!(no_keys.map(|(k, _)| k.len()), Some(0));
        assert_eq!(empty.iter().map(Column::len).collect::<Vec<_>>(), [0]);
        let (_, few) = scan(&model, 9, 5, &["n"], false);
        for i in 0..5 {
            let want = Entity::new(&model, 9, i).field("n").unwrap_or(Value::Null);
            assert_eq!(few[0].get(i as usize).map(|c| c.to_value()), Some(want));
        }
        for i in (0..count).step_by(331).chain([count - 1]) {
            let e = Entity::new(&model, 9, i);
            assert_eq!(
                keys.get(i as usize),
                Some(format!("e-{:06}", i + 1).as_str())
            );
            for (col, path) in cols.iter().zip(["n", "t"]) {
                let want = e.field(path).unwrap_or(Value::Null);
                assert_eq!(
                    col.get(i as usize).map(|c| c.to_value()),
                    Some(want),
                    "{path} of {i}"
                );
            }
        }
    }

    #[test]
    fn orders_by_ranks_equal_orders_by_values() {
        let vals = [
            json!("b"),
            json!(null),
            json!("a"),
            json!(3),
            json!("b"),
            json!(1),
        ];
        let tie = [json!(5), json!(4), json!(3), json!(2), json!(1), json!(0)];
        let a = Column::encode(vals.to_vec());
        let t = Column::encode(tie.to_vec());
        let by_values = Order::by(vals.len(), |i| (&vals[i], &tie[i]));
        let by_ranks = Order::by_ranks(&a.entity_ranks(), &t.entity_ranks());
        assert_eq!(by_values.perm, by_ranks.perm);
        assert_eq!(by_values.rank, by_ranks.rank);
        assert_eq!(by_ranks.perm, vec![5, 3, 2, 4, 0, 1]);
    }
}
