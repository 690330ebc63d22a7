//! The `x-understudy` extensions, as typed structures deserialized from the spec
//! (documented in `docs/spec-extensions.md`). Unknown keys are refused, so a typo in a spec is a
//! load error naming its location rather than a silently ignored setting.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// Root-level `x-understudy`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RootExt {
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub base_path: Option<String>,
    #[serde(default)]
    pub bad_request_status: Option<u16>,
    #[serde(default)]
    pub errors: ErrorsExt,
    #[serde(default)]
    pub collections: BTreeMap<String, CollectionExt>,
    #[serde(default)]
    pub variants: BTreeMap<String, VariantExt>,
}

/// `x-understudy.variants.NAME`: another shape of the same data, for clients that disagree with
/// the document (selected per request by a header, or per mount).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VariantExt {
    #[serde(default)]
    pub description: Option<String>,
    /// JSON merge patches (RFC 7386) on `components.schemas`, by schema name.
    #[serde(default)]
    pub schemas: BTreeMap<String, Value>,
    /// Per collection: field path -> template over the document-shaped entity.
    #[serde(default)]
    pub derive: BTreeMap<String, BTreeMap<String, String>>,
}

/// `x-understudy.errors`: the API's error envelope.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ErrorsExt {
    #[serde(default)]
    pub body: Option<Value>,
    #[serde(default)]
    pub by_status: BTreeMap<String, StatusErrorExt>,
    #[serde(default)]
    pub codes: BTreeMap<String, String>,
}

/// A per-status error template.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StatusErrorExt {
    pub body: Value,
}

/// `x-understudy.collections.NAME`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CollectionExt {
    /// Default number of entities; for a collection with `rows`, the number of rows.
    #[serde(default)]
    pub count: Option<u64>,
    /// Fixed entities (a static collection, never scaled by `--count`).
    #[serde(default)]
    pub rows: Option<Vec<Value>>,
    pub schemas: Vec<String>,
    pub key: String,
    #[serde(default)]
    pub order_key: Option<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
}

/// Operation-level `x-understudy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OperationExt {
    pub action: ActionKind,
    pub collection: String,
    #[serde(default)]
    pub permission: Option<String>,
    #[serde(default)]
    pub items: Option<String>,
    #[serde(default)]
    pub total: Option<String>,
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default, rename = "where")]
    pub where_: BTreeMap<String, Value>,
    #[serde(default)]
    pub expand: Vec<ExpandExt>,
    #[serde(default)]
    pub pagination: Option<PaginationExt>,
    #[serde(default)]
    pub filters: Vec<FilterExt>,
    #[serde(default)]
    pub include: Option<IncludeExt>,
    #[serde(default)]
    pub key_param: Option<String>,
    #[serde(default)]
    pub key_pattern: Option<String>,
    /// For `get` and `respond`: where the entity (or body) sits in the response (a JSON
    /// pointer; default: the whole body).
    #[serde(default)]
    pub item: Option<String>,
    /// For `respond`: generators for paths of the response body.
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
    /// A path parameter that must name an entity of another collection (an organisation).
    #[serde(default)]
    pub scope: Option<ScopeExt>,
    /// For `delete`: fields set instead of removing the entity (an archive).
    #[serde(default)]
    pub archive: Option<BTreeMap<String, Value>>,
    /// For writes: entity fields taken from request body fields of another name (entity
    /// field path -> top-level body field).
    #[serde(default)]
    pub from_body: BTreeMap<String, String>,
    /// For writes: what the success answer carries (default: the entity when the response's
    /// schema has the key field at `item`, nothing without a schema, else a generated body).
    #[serde(default)]
    pub reply: Option<ReplyKind>,
    /// For a write on one entity: the body field that names it (instead of `key-param`).
    #[serde(default)]
    pub key_from_body: Option<String>,
    /// For a create: entity fields set before the body's (what the server assumes).
    #[serde(default)]
    pub defaults: BTreeMap<String, Value>,
    /// For a write that keeps the entity: fields set after the body's (the server decides).
    #[serde(default)]
    pub set: BTreeMap<String, Value>,
    /// For an update: whether a `null` in the body removes the field (RFC 7396, the
    /// default) or leaves it as it is.
    #[serde(default)]
    pub nulls: Option<Nulls>,
    /// For a write on one entity: refused (bad request) while a field holds one of these.
    #[serde(default)]
    pub refuse_when: BTreeMap<String, Vec<Value>>,
    /// A scenario started for the written entity (its input variable bound to the key).
    #[serde(default)]
    pub timeline: Option<TimelineExt>,
}

/// What a `null` in an update's body does.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Nulls {
    Remove,
    Ignore,
}

/// `timeline`: the scenario a write starts for the entity it wrote.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TimelineExt {
    pub scenario: String,
    /// The scenario's input variable that names the entity (default `written`).
    #[serde(default)]
    pub input: Option<String>,
}

/// What a write answers.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ReplyKind {
    Entity,
    Empty,
    Generated,
}

/// `scope`: the operation only exists inside an entity of `collection` named by `param`;
/// any other value is answered with `status` (default 404).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ScopeExt {
    pub param: String,
    pub collection: String,
    #[serde(default)]
    pub status: Option<u16>,
}

/// What an operation does with its collection.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    List,
    Get,
    /// Look the entity up (404 if absent), answer a body generated from the response schema.
    Respond,
    /// Add an entity made from the request body.
    Create,
    /// Replace an entity's client-settable fields with the request body's.
    Replace,
    /// Merge the request body into an entity (JSON merge patch).
    Update,
    /// Remove an entity (or, with `archive`, set fields on it).
    Delete,
}

/// Fields shown only when a boolean parameter is true.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExpandExt {
    pub param: String,
    pub fields: Vec<String>,
}

/// Relational fields a client asks for by name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IncludeExt {
    pub param: String,
    pub fields: BTreeMap<String, Vec<String>>,
}

/// Pagination style and its parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PaginationExt {
    pub style: PageStyle,
    #[serde(default)]
    pub limit: Option<LimitExt>,
    #[serde(default)]
    pub token: Option<TokenExt>,
    #[serde(default)]
    pub cursor: Option<CursorExt>,
    #[serde(default)]
    pub offset: Option<OffsetExt>,
    /// For the `page` style: the page-number parameter.
    #[serde(default)]
    pub page: Option<PageExt>,
    #[serde(default)]
    pub sort: Option<SortExt>,
    #[serde(default)]
    pub order: Option<OrderExt>,
}

/// The pagination styles understudy implements.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum PageStyle {
    PageToken,
    Cursor,
    Offset,
    /// Page numbers: page N holds items `(N - first) * size ..`.
    Page,
    None,
}

/// The page-number parameter and the number of the first page (0 or 1; default 1).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PageExt {
    pub param: String,
    #[serde(default = "first_page")]
    pub first: u64,
}

fn first_page() -> u64 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LimitExt {
    pub param: String,
    pub default: u64,
    #[serde(default)]
    pub min: Option<u64>,
    #[serde(default)]
    pub max: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TokenExt {
    pub param: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CursorExt {
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub before: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OffsetExt {
    pub param: String,
}

/// Sort direction.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    Asc,
    Desc,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SortExt {
    pub field: String,
    pub direction: Direction,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OrderExt {
    pub param: String,
    pub default: Direction,
    pub by_param: String,
    pub by_default: String,
    pub fields: Vec<String>,
    #[serde(default)]
    pub deprecated: Option<DeprecatedOrderExt>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DeprecatedOrderExt {
    #[serde(default)]
    pub direction_flag: Option<DirectionFlagExt>,
    #[serde(default)]
    pub by_param: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectionFlagExt {
    pub param: String,
    #[serde(rename = "true")]
    pub when_true: Direction,
    #[serde(rename = "false")]
    pub when_false: Direction,
}

/// A declared filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FilterExt {
    pub param: String,
    pub kind: FilterKind,
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub fields: Vec<String>,
    #[serde(default)]
    pub all_param: Option<String>,
    #[serde(default)]
    pub max_length: Option<usize>,
    /// For `contains`: split the value at white space, keep the first N words, and require
    /// each word in one of the fields (a search box); without it the value is one literal.
    #[serde(default)]
    pub words: Option<usize>,
}

/// The filter kinds understudy implements.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FilterKind {
    Equals,
    Contains,
    Regex,
    AnyOf,
}

/// Security-scheme-level `x-understudy`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SchemeExt {
    #[serde(default)]
    pub token_pattern: Option<String>,
}

/// Deserialize an extension value, naming the location on failure.
pub fn parse<T: serde::de::DeserializeOwned>(
    file: &str,
    location: &str,
    value: &Value,
) -> crate::Result<T> {
    serde_json::from_value(value.clone())
        .map_err(|e| crate::Error::spec(file, location, e.to_string()))
}
