//! What a list answer says about its page beyond the items: the fields of its envelope
//! (`has_more`, `first_id`/`last_id`, a next cursor or a next-page URL, the page number and
//! size, the number of pages) and RFC 8288 `Link` headers. All of it is derived from the page
//! the list computed and from the request, so that a client following any of them walks every
//! item once.

use serde_json::{Map, Value};

use super::Request;
use crate::data::View;
use crate::query::ListOutcome;
use crate::query::params::Params;
use crate::spec::behaviour::{List, Paging};
use crate::spec::schema::{Kind, Node};

/// One page of a list, as its envelope and links describe it.
pub(super) struct Page {
    more: bool,
    first_key: Option<String>,
    last_key: Option<String>,
    /// The page number (page style).
    number: Option<u64>,
    size: Option<u64>,
    /// Pages in all, when the total is known.
    pages: Option<u64>,
    next_url: Option<String>,
    prev_url: Option<String>,
    first_url: Option<String>,
}

impl Page {
    /// `query`: the request's query, parsed (the URLs repeat it with the paging changed).
    pub(super) fn of(
        req: &Request,
        query: &[(String, String)],
        x: &List,
        params: &Params,
        out: &ListOutcome,
        view: &View,
    ) -> Page {
        let url = |set: &[(String, String)], drop: &[&str]| -> String {
            let mut q: Vec<(String, String)> = query
                .iter()
                .filter(|(k, _)| !set.iter().any(|(s, _)| s == k) && !drop.contains(&k.as_str()))
                .cloned()
                .collect();
            q.extend(set.iter().cloned());
            let qs = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&q)
                .finish();
            // Absolute, as a URL field's format wants it (HTTP/1.0 without Host: localhost).
            let origin = format!("http://{}", req.header_value("host").unwrap_or("localhost"));
            if qs.is_empty() {
                format!("{origin}{}", req.path())
            } else {
                format!("{origin}{}?{qs}", req.path())
            }
        };
        let int = |name: &str| params.get(name).and_then(Value::as_u64);
        let count = out.items.len() as u64;
        let (mut next, mut prev, mut first_url, mut number) = (None, None, None, None);
        match &x.paging {
            Paging::Page { param, first } => {
                let n = int(param).unwrap_or(*first);
                number = Some(n);
                let at = |k: u64| url(&[(param.clone(), k.to_string())], &[]);
                next = out.more.then(|| at(n + 1));
                prev = (n > *first).then(|| at(n - 1));
                first_url = Some(at(*first));
            }
            Paging::Offset { param } => {
                let at = int(param).unwrap_or(0);
                let size = out.limit.unwrap_or(count.max(1));
                let to = |k: u64| url(&[(param.clone(), k.to_string())], &[]);
                next = out.more.then(|| to(at + count));
                prev = (at > 0).then(|| to(at.saturating_sub(size)));
                first_url = Some(to(0));
            }
            Paging::Cursor { after, before } => {
                let drop: Vec<&str> = before.iter().map(String::as_str).collect();
                if let (true, Some(last)) = (out.more, out.items.last()) {
                    next = Some(url(&[(after.clone(), view.key(*last))], &drop));
                }
                let mut all = drop.clone();
                all.push(after.as_str());
                first_url = Some(url(&[], &all));
            }
            Paging::PageToken { param } => {
                if let Some(tok) = &out.next_token {
                    next = Some(url(&[(param.clone(), tok.clone())], &[]));
                }
            }
            Paging::None => {}
        }
        let size = out.limit;
        Page {
            more: out.more,
            first_key: out.items.first().map(|&i| view.key(i)),
            last_key: out.items.last().map(|&i| view.key(i)),
            number,
            size,
            pages: match (out.total, size) {
                (Some(t), Some(s)) if s > 0 => Some(t.div_ceil(s)),
                _ => None,
            },
            next_url: next,
            prev_url: prev,
            first_url,
        }
    }

    /// `Link: <...>; rel="next", ...` (RFC 8288), when there is a page to link to.
    pub(super) fn link_header(&self) -> Option<String> {
        let links: Vec<String> = [
            ("next", &self.next_url),
            ("prev", &self.prev_url),
            ("first", &self.first_url),
        ]
        .iter()
        .filter_map(|(rel, u)| u.as_ref().map(|u| format!("<{u}>; rel=\"{rel}\"")))
        .collect();
        (!links.is_empty()).then(|| links.join(", "))
    }
}

/// Envelope fields that describe a page (kept even when optional).
fn is_page_field(k: &str) -> bool {
    matches!(
        k.to_ascii_lowercase().replace('_', "").as_str(),
        "hasmore"
            | "hasnextpage"
            | "hasnext"
            | "done"
            | "islastpage"
            | "lastpage"
            | "firstid"
            | "lastid"
    )
}

/// The fields of a list's envelope around its items, from `generated` (the envelope generated
/// from its schema once per operation: a constant `object: "list"`, a `url`), told about this
/// page. Only what the schema requires and the page fields are kept: anything else would be
/// invented noise beside the list's own fields (which it sets itself, or leaves out when there
/// is nothing to say, as a next token on the last page).
pub(super) fn envelope(generated: Value, node: &Node, x: &List, page: &Page) -> Value {
    let mut body = generated;
    let filled = |k: &str| {
        x.filled_pointers()
            .filter(|p| !p.is_empty())
            .any(|p| p.rsplit('/').next() == Some(k))
    };
    let keep = |k: &str, parent: &Node| !filled(k) && (parent.requires(k) || is_page_field(k));
    if let Value::Object(m) = &mut body {
        m.retain(|k, _| keep(k, node));
        describe(m, node, "", page, &filled);
        // One level down too (`meta`, `pagination`, `links`).
        for (k, v) in m.iter_mut() {
            if let Value::Object(inner) = v
                && let Some(parent) = node.prop(k)
            {
                inner.retain(|ik, _| keep(ik, parent));
                describe(inner, node, &format!("/{k}"), page, &filled);
            }
        }
    }
    body
}

/// Set the page fields of one envelope object.
fn describe(
    m: &mut Map<String, Value>,
    node: &Node,
    at: &str,
    page: &Page,
    filled: &dyn Fn(&str) -> bool,
) {
    for (k, v) in m.iter_mut() {
        if filled(k) {
            continue;
        }
        let field = node.at_pointer(&format!("{at}/{k}"));
        let nullable = field.is_some_and(|n| n.nullable);
        fn string(n: &Node) -> Option<(Option<&str>, bool)> {
            match &*n.kind {
                Kind::String {
                    format, pattern, ..
                } => Some((format.as_deref(), pattern.is_some())),
                _ => None,
            }
        }
        // A key fits a string without format or pattern; a URL a string formatted as one, or
        // one named so.
        let key_like = field.and_then(string) == Some((None, false));
        let lower = k.to_ascii_lowercase().replace('_', "");
        let url_like = field.and_then(string).is_some_and(|(f, _)| {
            matches!(f, Some("uri" | "url" | "uri-reference" | "iri"))
                || lower.ends_with("url")
                || lower.ends_with("uri")
                || lower.ends_with("link")
        });
        let integer = field.is_some_and(|n| matches!(&*n.kind, Kind::Integer { .. }));
        let string_or_null = |u: &Option<String>, v: &mut Value| match u {
            Some(u) => *v = Value::String(u.clone()),
            None if nullable => *v = Value::Null,
            None => {}
        };
        match lower.as_str() {
            "hasmore" | "hasnextpage" | "hasnext" | "more" if v.is_boolean() => {
                *v = Value::Bool(page.more);
            }
            // The other way round: the page is the last one.
            "done" | "islastpage" | "lastpage" if v.is_boolean() => {
                *v = Value::Bool(!page.more);
            }
            "firstid" if key_like || nullable => string_or_null(&page.first_key, v),
            "lastid" if key_like || nullable => string_or_null(&page.last_key, v),
            "next" | "nextpage" | "nexturl" | "nextpageurl" | "nextpageuri" | "nextlink"
                if url_like =>
            {
                string_or_null(&page.next_url, v);
            }
            "prev" | "previous" | "prevpage" | "previouspage" | "previousurl"
            | "previouspageurl" | "previouspageuri" | "prevpageurl"
                if url_like =>
            {
                string_or_null(&page.prev_url, v);
            }
            "first" | "firstpageurl" | "firstpageuri" if url_like => {
                string_or_null(&page.first_url, v);
            }
            "next" | "nextcursor" | "nextpage" | "nextpagetoken" | "nexttoken" | "after" => {
                match (&page.last_key, page.more) {
                    (Some(l), true) if key_like => *v = Value::String(l.clone()),
                    (_, false) if nullable => *v = Value::Null,
                    _ => {}
                }
            }
            "page" | "pagenumber" | "currentpage" if integer => {
                if let Some(n) = page.number {
                    *v = Value::from(n);
                }
            }
            "perpage" | "pagesize" | "itemsperpage" | "limit" | "size" if integer => {
                if let Some(s) = page.size {
                    *v = Value::from(s);
                }
            }
            "totalpages" | "pages" | "nbpages" | "pagecount" if integer => {
                if let Some(p) = page.pages {
                    *v = Value::from(p);
                }
            }
            _ => {}
        }
    }
}
