//! What an operation does with its collection, resolved once at load from its `x-understudy`
//! extension (declared, or written by inference): tagged enums that say everything an action
//! needs, so that the engine, the query layer, `verify` and `lint` never look at the
//! extension's file format (its optional fields and style names) again.
//!
//! [`super::resolve`] builds these from an [`super::ext::OperationExt`] and the rest of the
//! document, refusing what does not fit (a parameter the operation does not declare, a field
//! the collection does not have, a style without its parameters).

use std::collections::BTreeMap;
use std::sync::Arc;

use regex::Regex;
use serde_json::Value;

use crate::data::CollectionModel;
pub(crate) use crate::data::write::TimeForm;

pub(crate) use super::ext::Direction;

/// An operation bound to a collection.
#[derive(Debug)]
pub struct Bound {
    pub collection: String,
    /// The permission a `--tokens` token must grant.
    pub permission: Option<String>,
    /// The operation exists only inside an entity of another collection.
    pub scope: Option<Scope>,
    /// Fields shown only when a boolean parameter is true.
    pub expand: Vec<Expand>,
    /// Relational fields a client asks for by name.
    pub include: Option<Include>,
    pub action: Action,
}

/// What the operation does.
#[derive(Debug)]
pub enum Action {
    /// A page of the collection.
    List(Box<List>),
    /// One entity, named by a path parameter.
    Get(Lookup),
    /// Look the entity up (404 if absent), then answer a body generated from the schema.
    Respond(Respond),
    /// Create, replace, update or delete an entity in the caller's session.
    Write(Box<Write>),
}

impl Action {
    /// The key parameter of an action on one entity.
    pub fn key_param(&self) -> Option<&str> {
        match self {
            Action::List(_) => None,
            Action::Get(l) => Some(&l.key_param),
            Action::Respond(r) => Some(&r.key.key_param),
            Action::Write(w) => w.key.as_ref().map(|k| k.key_param.as_str()),
        }
    }

    /// The key's pattern, when the spec gives one: a key that does not match is refused.
    pub fn key_pattern(&self) -> Option<&Regex> {
        match self {
            Action::List(_) => None,
            Action::Get(l) => l.key_pattern.as_ref(),
            Action::Respond(r) => r.key.key_pattern.as_ref(),
            Action::Write(w) => w.key.as_ref().and_then(|k| k.key_pattern.as_ref()),
        }
    }

    pub fn is_list(&self) -> bool {
        matches!(self, Action::List(_))
    }

    /// The write, for an action that changes the session's data.
    pub fn write(&self) -> Option<&Write> {
        match self {
            Action::Write(w) => Some(w),
            _ => None,
        }
    }
}

/// A write: what it does to the entity, which entity, and what it answers.
#[derive(Debug)]
pub struct Write {
    pub kind: WriteKind,
    /// The entity written, named by a path parameter (every write but a create, unless the
    /// body names it).
    pub key: Option<Lookup>,
    /// The body field (a JSON pointer) that names the entity written.
    pub(crate) key_from_body: Option<BodyPointer>,
    /// A create's fields set before the body's.
    pub defaults: Vec<(String, Value)>,
    /// Fields set after the body's.
    pub set: Vec<(String, Value)>,
    /// While a field holds one of these values the write is refused.
    pub refuse_when: Vec<(String, Vec<Value>)>,
    /// The scenario started for the written entity.
    pub timeline: Option<Timeline>,
    /// The documented success status.
    pub status: u16,
    pub reply: Reply,
    /// The entity fields a request body sets: (entity field path, JSON pointer into the body).
    pub(crate) accepts: Vec<(String, BodyPointer)>,
    /// The body field that sets the key on a create (a client-chosen key; a taken one is a
    /// conflict).
    pub(crate) client_key: Option<BodyPointer>,
    /// Fields stamped with the session's clock on a create.
    pub(crate) created: Vec<(String, TimeForm)>,
    /// Fields stamped on every write that keeps the entity.
    pub(crate) updated: Vec<(String, TimeForm)>,
    /// Top-level boolean fields of a generated answer set true (a delete's `deleted`).
    pub done_flags: Vec<String>,
}

/// What a write does.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteKind {
    /// A new entity from the body, the rest generated.
    Create,
    /// The accepted fields replaced: absent optional ones removed, absent required ones kept.
    Replace,
    /// The body merged in (JSON merge patch, RFC 7396).
    Update,
    /// The body merged in, a `null` leaving the field as it is.
    UpdateKeepingNulls,
    /// The entity removed.
    Delete,
    /// The entity kept with these fields set (an archive).
    Archive(Vec<(String, Value)>),
}

/// A scenario a write starts for the entity it wrote.
#[derive(Debug, Clone)]
pub struct Timeline {
    pub scenario: String,
    /// The scenario's input variable bound to the written key.
    pub input: String,
}

/// What a write answers.
#[derive(Debug)]
pub enum Reply {
    /// The written entity, at this pointer of the body ("" is the whole body).
    Entity { item: String },
    /// No content.
    Empty,
    /// A body generated from the schema, naming the key.
    Generated(Arc<CollectionModel>),
}

/// `scope`: any value of `param` that names no entity of `collection` is answered `status`.
#[derive(Debug)]
pub struct Scope {
    pub param: String,
    pub collection: String,
    pub status: u16,
}

/// An entity looked up by key.
#[derive(Debug)]
pub struct Lookup {
    pub key_param: String,
    pub key_pattern: Option<Regex>,
    /// Where the entity sits in the body (a JSON pointer; "" is the whole body).
    pub item: String,
}

/// A `respond` action: the entity's existence is checked, the body generated.
#[derive(Debug)]
pub struct Respond {
    pub key: Lookup,
    /// The documented success status.
    pub status: u16,
    /// The body's model, with the operation's `fields` generators.
    pub model: Arc<CollectionModel>,
}

/// A list.
#[derive(Debug)]
pub struct List {
    /// Where the items sit (a JSON pointer; "" is a bare array).
    pub items: String,
    /// Where the filtered count goes.
    pub total: Option<String>,
    /// Where the next page's token goes.
    pub next_token: Option<String>,
    /// Fixed constraints (field = value).
    pub fixed: BTreeMap<String, Value>,
    pub filters: Vec<Filter>,
    pub paging: Paging,
    pub limit: Option<Limit>,
    pub sort: Sort,
    /// The envelope's model (items in an object), for the fields around the items.
    pub envelope: Option<Arc<CollectionModel>>,
}

impl List {
    /// The JSON pointers the list fills itself (items, total, next token).
    pub fn filled_pointers(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.items.as_str())
            .chain(self.total.as_deref())
            .chain(self.next_token.as_deref())
    }
}

/// How a client reaches the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// Everything in one answer.
    None,
    /// An opaque token, answered at the list's `next_token` pointer.
    PageToken { param: String },
    /// The key of the last item seen (`after`), and optionally of the first (`before`).
    Cursor {
        after: String,
        before: Option<String>,
    },
    /// A number of items to skip.
    Offset { param: String },
    /// Page numbers, the first one `first`; the page size is the list's limit.
    Page { param: String, first: u64 },
}

/// The page-size parameter and its bounds.
#[derive(Debug, Clone)]
pub struct Limit {
    pub param: String,
    pub default: u64,
    pub min: Option<u64>,
    pub max: Option<u64>,
}

/// The order a list walks.
#[derive(Debug, Clone)]
pub enum Sort {
    /// The dataset's order.
    Dataset,
    /// A fixed field and direction.
    Fixed { field: String, direction: Direction },
    /// Chosen by the request.
    Requested(Order),
}

/// A sort the request chooses: a direction parameter and a field parameter.
#[derive(Debug, Clone)]
pub struct Order {
    pub param: String,
    pub default: Direction,
    pub by_param: String,
    pub by_default: String,
    pub fields: Vec<String>,
    /// A deprecated boolean parameter that also sets the direction.
    pub direction_flag: Option<DirectionFlag>,
    /// A deprecated field parameter (free text: a value naming no field is ignored).
    pub deprecated_by: Option<String>,
}

impl Order {
    /// Every parameter that can change the order.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        [Some(self.param.as_str()), Some(self.by_param.as_str())]
            .into_iter()
            .chain([
                self.direction_flag.as_ref().map(|f| f.param.as_str()),
                self.deprecated_by.as_deref(),
            ])
            .flatten()
    }
}

/// A boolean parameter naming a direction for each value.
#[derive(Debug, Clone)]
pub struct DirectionFlag {
    pub param: String,
    pub when_true: Direction,
    pub when_false: Direction,
}

/// A filter: a parameter, the fields it reads (at least one), and what it does.
#[derive(Debug, Clone)]
pub struct Filter {
    pub param: String,
    pub fields: Vec<String>,
    pub max_length: Option<usize>,
    pub op: FilterOp,
}

/// What a filter does with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterOp {
    /// The first field equals the value.
    Equals,
    /// The value, case-insensitively, in one of the fields; with `words`, each of the first
    /// N words in one of the fields.
    Contains { words: Option<usize> },
    /// A regular expression that matches one of the fields.
    Regex,
    /// The first field holds one of the values (all of them when `all_param` is true).
    AnyOf { all_param: Option<String> },
}

impl Filter {
    /// Every parameter the filter reads.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        let all = match &self.op {
            FilterOp::AnyOf { all_param } => all_param.as_deref(),
            _ => None,
        };
        std::iter::once(self.param.as_str()).chain(all)
    }
}

/// A boolean parameter that shows `fields`.
#[derive(Debug, Clone)]
pub struct Expand {
    pub param: String,
    pub fields: Vec<String>,
}

/// A parameter naming relations to include, each a set of fields.
#[derive(Debug, Clone)]
pub struct Include {
    pub param: String,
    pub fields: BTreeMap<String, Vec<String>>,
}

/// A JSON pointer into a request body (RFC 6901), split into its unescaped tokens at load, so
/// that looking it up allocates nothing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BodyPointer {
    tokens: Vec<String>,
}

impl BodyPointer {
    /// A pointer (`/a/b`), or a top-level field name taken as it is (`a`, `a/b`, even ``).
    pub(crate) fn new(from: &str) -> BodyPointer {
        let tokens = match from.strip_prefix('/') {
            Some(rest) => rest
                .split('/')
                .map(|t| t.replace("~1", "/").replace("~0", "~"))
                .collect(),
            None => vec![from.to_string()],
        };
        BodyPointer { tokens }
    }

    /// What the pointer names in `v`, as [`Value::pointer`] would find it.
    pub(crate) fn get<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        self.tokens.iter().try_fold(v, |cur, t| match cur {
            // A request body is small: comparing its few keys is cheaper than hashing one.
            Value::Object(m) if m.len() <= 8 => m.iter().find(|(k, _)| *k == t).map(|(_, x)| x),
            Value::Object(m) => m.get(t),
            Value::Array(a) => index(t).and_then(|i| a.get(i)),
            _ => None,
        })
    }
}

/// An array index token: digits, without a leading zero (RFC 6901).
fn index(t: &str) -> Option<usize> {
    if t.is_empty() || (t.len() > 1 && t.starts_with('0')) || !t.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    t.parse().ok()
}

#[cfg(test)]
mod pointer_tests {
    use super::BodyPointer;
    use serde_json::json;

    #[test]
    fn body_pointers_find_what_value_pointer_finds() {
        let v = json!({"a": {"b/c": [10, {"~d": 2}]}, "e": 1, "": 3});
        for p in [
            "/a/b~1c/0",
            "/a/b~1c/1/~0d",
            "/e",
            "/a/b~1c/01",
            "/a/x",
            "/e/0",
            "/",
        ] {
            assert_eq!(BodyPointer::new(p).get(&v), v.pointer(p), "{p}");
        }
        // A field name is one token, whatever it holds.
        assert_eq!(BodyPointer::new("e").get(&v), Some(&json!(1)));
        assert_eq!(BodyPointer::new("").get(&v), Some(&json!(3)));
        let odd = json!({"a/b": 1, "~x": 2});
        assert_eq!(BodyPointer::new("a/b").get(&odd), Some(&json!(1)));
        assert_eq!(BodyPointer::new("~x").get(&odd), Some(&json!(2)));
    }
}
