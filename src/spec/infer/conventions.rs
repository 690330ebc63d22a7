//! The names inference gives a meaning to, in one table.
//!
//! None of them belongs to one API: each is a naming convention seen across many public API
//! documents (query parameters, envelope fields, identifier spellings). The rules in the sibling
//! modules only read them from here, so that the list can be reviewed (and grown) as data.

/// Names that the inference rules recognise, each compared as its field documents.
pub(super) struct Conventions {
    /// Path suffixes ignored when pairing a list with its detail (`/things.json` with
    /// `/things/{id}.json`).
    pub path_suffixes: &'static [&'static str],
    /// Entity fields a key parameter may name whatever it is called (after its own name).
    pub key_fields: &'static [&'static str],
    /// Suffixes that make a parameter name an identifier (`thing_id` also names `thing`).
    pub key_suffixes: &'static [&'static str],
    /// Envelope arrays taken as the item array before any other (exact names).
    pub item_arrays: &'static [&'static str],
    /// Query parameters of an id cursor: the key to list after (case-insensitive).
    pub after: &'static [&'static str],
    /// Cursor parameters that list older items of a newest-first timeline (`max_id`): the
    /// list is in descending key order (case-insensitive).
    pub descending_after: &'static [&'static str],
    /// Query parameters of an id cursor: the key to list before (case-insensitive).
    pub before: &'static [&'static str],
    /// Query parameters of an offset (case-insensitive).
    pub offset: &'static [&'static str],
    /// Query parameters of a page number (case-insensitive; an integer).
    pub page: &'static [&'static str],
    /// Query parameters of an opaque page token (case-insensitive).
    pub page_token: &'static [&'static str],
    /// Query parameters of a page size (case-insensitive).
    pub page_size: &'static [&'static str],
    /// Envelope fields that carry the next page's token (exact names).
    pub next_token: &'static [&'static str],
    /// Envelope fields that carry the filtered count (exact names).
    pub total: &'static [&'static str],
}

/// The conventions inference knows, most common spelling first where order matters.
pub(super) const NAMES: Conventions = Conventions {
    path_suffixes: &[".json"],
    key_fields: &["id", "sid"],
    key_suffixes: &["_id", "Id", "ID", "Sid"],
    item_arrays: &["data", "items", "results"],
    after: &["after", "starting_after", "max_id"],
    descending_after: &["max_id"],
    before: &["before", "ending_before", "since_id"],
    offset: &["offset"],
    page: &["page", "page_number", "pagenumber"],
    page_token: &[
        "page_token",
        "pagetoken",
        "cursor",
        "next_page_token",
        "iterator",
    ],
    page_size: &[
        "limit",
        "page_size",
        "per_page",
        "pagesize",
        "itemsperpage",
        "count",
        "size",
    ],
    next_token: &[
        "next_page_token",
        "nextPageToken",
        "next_cursor",
        "next_page",
        "next",
        "iterator",
    ],
    total: &["total_count", "total", "count"],
};

/// `path` without one of the ignored suffixes.
pub(super) fn strip_path_suffix(path: &str) -> &str {
    NAMES
        .path_suffixes
        .iter()
        .find_map(|s| path.strip_suffix(s))
        .unwrap_or(path)
}

/// Entity fields a write stamps with the session's clock (exact names): set on a create, and
/// the updated ones on every change. Seen across public documents; a collection with none of
/// them keeps its generated times.
pub(crate) struct Stamps {
    pub created: &'static [&'static str],
    pub updated: &'static [&'static str],
    /// Boolean fields of a delete's answer that say it happened (set true).
    pub deleted: &'static [&'static str],
    /// Name endings of an integer time field that counts milliseconds (else seconds).
    pub millis_suffixes: &'static [&'static str],
}

pub(crate) const STAMPS: Stamps = Stamps {
    created: &[
        "created_at",
        "createdAt",
        "created",
        "created_time",
        "createdTime",
        "create_time",
        "createTime",
        "creation_time",
        "created_on",
        "date_created",
        "inserted_at",
    ],
    updated: &[
        "updated_at",
        "updatedAt",
        "updated",
        "updated_time",
        "updatedTime",
        "update_time",
        "updateTime",
        "modified_at",
        "modifiedAt",
        "last_modified",
        "lastModified",
        "last_updated",
        "lastUpdated",
        "date_updated",
        "date_modified",
    ],
    deleted: &["deleted", "is_deleted", "isDeleted", "success"],
    millis_suffixes: &["_ms", "Ms", "_millis"],
};
