//! From an operation's `x-understudy` extension (the file format, declared or written by
//! inference) to its [`Bound`] behaviour: every cross-check against the rest of the document
//! (declared parameters, collection fields, pointers into the 200 schema, the parameters each
//! pagination style needs) happens here, once, while the typed behaviour is built.

use std::collections::BTreeMap;
use std::sync::Arc;

use regex::Regex;

use super::behaviour::{
    Action, BodyPointer, Bound, DirectionFlag, Expand, Filter, FilterOp, Include, Limit, List,
    Lookup, Order, Paging, Reply, Respond, Scope, Sort, TimeForm, Timeline, Write, WriteKind,
};
use super::ext::{
    ActionKind, FilterKind, Nulls, OperationExt, PageStyle, PaginationExt, ReplyKind,
};
use super::schema::{Kind, Node};
use super::{Param, ResponseDef};
use crate::data::CollectionModel;
use crate::error::{Error, Result};

/// What a resolution reads besides the extension.
pub(super) struct Context<'a> {
    pub file: &'a str,
    /// The operation's location (`paths./x.get`).
    pub loc: &'a str,
    pub models: &'a BTreeMap<String, Arc<CollectionModel>>,
    pub params: &'a [Param],
    pub responses: &'a [ResponseDef],
    /// The JSON request body's compiled schema, when the operation takes one.
    pub request: Option<&'a Node>,
}

impl Context<'_> {
    fn xloc(&self, at: &str) -> String {
        if at.is_empty() {
            format!("{}.x-understudy", self.loc)
        } else {
            format!("{}.x-understudy.{at}", self.loc)
        }
    }

    fn err(&self, at: &str, message: impl Into<String>) -> Error {
        Error::spec(self.file, self.xloc(at), message)
    }

    fn param(&self, name: &str, at: &str) -> Result<String> {
        if self.params.iter().any(|p| p.name == name) {
            Ok(name.to_string())
        } else {
            Err(self.err(
                at,
                format!("'{name}' is not a declared parameter of the operation"),
            ))
        }
    }

    fn pointer(&self, p: &str, at: &str) -> Result<String> {
        if p.is_empty() || p.starts_with('/') {
            Ok(p.to_string())
        } else {
            Err(self.err(
                at,
                format!("'{p}' is not a JSON pointer (it starts with '/')"),
            ))
        }
    }

    fn ok_status(&self, status: &str) -> Option<&ResponseDef> {
        self.responses.iter().find(|r| r.status == status)
    }
}

/// Resolve `x` into the operation's behaviour.
pub(super) fn resolve(cx: &Context, x: OperationExt) -> Result<Bound> {
    let model = cx.models.get(&x.collection).ok_or_else(|| {
        cx.err(
            "collection",
            format!(
                "no collection '{}' in x-understudy.collections",
                x.collection
            ),
        )
    })?;
    let field = |path: &str, at: &str| -> Result<String> {
        if model.node.at_path(path).is_some() {
            Ok(path.to_string())
        } else {
            Err(cx.err(
                at,
                format!("'{path}' is not a field of collection '{}'", x.collection),
            ))
        }
    };
    let write_kind = matches!(
        x.action,
        ActionKind::Create | ActionKind::Replace | ActionKind::Update | ActionKind::Delete
    );
    if matches!(x.action, ActionKind::List | ActionKind::Get) && cx.ok_status("200").is_none() {
        return Err(Error::spec(
            cx.file,
            cx.loc,
            "an x-understudy operation documents no 200 response",
        ));
    }
    if x.item.is_some() && x.action != ActionKind::Get && !write_kind {
        return Err(cx.err(
            "item",
            "only a get action or a write places its entity with item (a list uses items; a \
             respond action generates its whole body, with dotted paths in fields)",
        ));
    }
    if !x.fields.is_empty() && x.action != ActionKind::Respond && !write_kind {
        return Err(cx.err(
            "fields",
            "only a respond action or a write generates its body from fields",
        ));
    }
    if x.archive.is_some() && x.action != ActionKind::Delete {
        return Err(cx.err("archive", "only a delete action archives"));
    }
    let write_only = [
        ("from-body", !x.from_body.is_empty()),
        ("key-from-body", x.key_from_body.is_some()),
        ("defaults", !x.defaults.is_empty()),
        ("set", !x.set.is_empty()),
        ("nulls", x.nulls.is_some()),
        ("refuse-when", !x.refuse_when.is_empty()),
        ("timeline", x.timeline.is_some()),
        ("reply", x.reply.is_some()),
    ];
    if let Some((name, _)) = write_only.iter().find(|(_, given)| *given && !write_kind) {
        return Err(cx.err(name, format!("only a write action takes {name}")));
    }
    let scope = match &x.scope {
        None => None,
        Some(sc) => {
            if !cx.models.contains_key(&sc.collection) {
                return Err(cx.err(
                    "scope.collection",
                    format!(
                        "no collection '{}' in x-understudy.collections",
                        sc.collection
                    ),
                ));
            }
            let status = sc.status.unwrap_or(404);
            if !(400..500).contains(&status) {
                return Err(cx.err("scope.status", format!("{status} is not a 4xx status")));
            }
            Some(Scope {
                param: cx.param(&sc.param, "scope")?,
                collection: sc.collection.clone(),
                status,
            })
        }
    };
    let expand = x
        .expand
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Ok(Expand {
                param: cx.param(&e.param, &format!("expand[{i}]"))?,
                fields: e.fields.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let include = match &x.include {
        None => None,
        Some(inc) => {
            for f in inc.fields.values().flatten() {
                field(f, "include")?;
            }
            Some(Include {
                param: cx.param(&inc.param, "include")?,
                fields: inc.fields.clone(),
            })
        }
    };
    if x.action == ActionKind::List
        && let Some(p) = &x.key_pattern
    {
        Regex::new(p).map_err(|e| cx.err("key-pattern", e.to_string()))?;
    }
    let action = match x.action {
        ActionKind::Get => {
            let key = lookup(cx, &x)?;
            fits_200(cx, "item", &key.item, false)?;
            Action::Get(key)
        }
        ActionKind::Respond => {
            let key = lookup(cx, &x)?;
            let (status, model) = respond_model(cx, &x)?;
            Action::Respond(Respond { key, status, model })
        }
        ActionKind::List => Action::List(Box::new(list(cx, &x, &field)?)),
        ActionKind::Create | ActionKind::Replace | ActionKind::Update | ActionKind::Delete => {
            Action::Write(Box::new(write(cx, &x, model, &field)?))
        }
    };
    Ok(Bound {
        collection: x.collection,
        permission: x.permission,
        scope,
        expand,
        include,
        action,
    })
}

/// The pointer `ptr` reaches into the 200 body's schema (an array when `array`): an entity
/// placed where the schema has nothing would be shown unprojected.
fn fits_200(cx: &Context, what: &str, ptr: &str, array: bool) -> Result<()> {
    let Some(node) = cx.ok_status("200").and_then(|r| r.node.as_ref()) else {
        return Ok(());
    };
    let fits = match node.at_pointer(ptr) {
        Some(n) if array => n.items().is_some(),
        Some(_) => true,
        None => false,
    };
    if fits {
        Ok(())
    } else {
        Err(cx.err(
            what,
            format!(
                "'{ptr}' does not reach {} in the 200 response's schema",
                if array { "an array" } else { "anything" }
            ),
        ))
    }
}

/// The key of a get or respond action.
fn lookup(cx: &Context, x: &OperationExt) -> Result<Lookup> {
    let kp = x.key_param.as_deref().ok_or_else(|| {
        cx.err(
            "",
            format!("a {:?} action needs key-param", x.action).to_lowercase(),
        )
    })?;
    let key_pattern = x
        .key_pattern
        .as_deref()
        .map(|p| Regex::new(p).map_err(|e| cx.err("key-pattern", e.to_string())))
        .transpose()?;
    Ok(Lookup {
        key_param: cx.param(kp, "key-param")?,
        key_pattern,
        item: cx.pointer(x.item.as_deref().unwrap_or(""), "item")?,
    })
}

/// A write: its kind, the entity it names, what the body may set and what it answers.
fn write(
    cx: &Context,
    x: &OperationExt,
    model: &CollectionModel,
    field: &dyn Fn(&str, &str) -> Result<String>,
) -> Result<Write> {
    let key = match (x.action, &x.key_from_body) {
        (ActionKind::Create, _) => {
            if x.key_param.is_some() || x.key_from_body.is_some() {
                return Err(cx.err(
                    "key-param",
                    "a create action names no entity: drop key-param (and key-from-body)",
                ));
            }
            None
        }
        (_, Some(_)) if x.key_param.is_some() => {
            return Err(cx.err(
                "key-from-body",
                "an entity is named by key-param or by key-from-body, not both",
            ));
        }
        (_, Some(_)) => None,
        _ => Some(lookup(cx, x)?),
    };
    let key_from_body = x.key_from_body.as_deref().map(body_pointer);
    let on_create = |what: &str, given: bool| -> Result<()> {
        if given && x.action != ActionKind::Create {
            return Err(cx.err(what, "only a create takes defaults"));
        }
        Ok(())
    };
    on_create("defaults", !x.defaults.is_empty())?;
    if x.nulls.is_some() && x.action != ActionKind::Update {
        return Err(cx.err("nulls", "only an update reads nulls"));
    }
    let values = |m: &BTreeMap<String, serde_json::Value>, at: &str| -> Result<Vec<_>> {
        m.iter()
            .map(|(p, v)| {
                if p == &model.key {
                    return Err(cx.err(at, "the key is not set this way"));
                }
                Ok((field(p, at)?, v.clone()))
            })
            .collect()
    };
    let defaults = values(&x.defaults, "defaults")?;
    let set = values(&x.set, "set")?;
    let refuse_when = x
        .refuse_when
        .iter()
        .map(|(p, vs)| Ok((field(p, "refuse-when")?, vs.clone())))
        .collect::<Result<Vec<_>>>()?;
    let timeline = x.timeline.as_ref().map(|t| Timeline {
        scenario: t.scenario.clone(),
        input: t.input.clone().unwrap_or_else(|| "written".into()),
    });
    let kind = match (x.action, &x.archive) {
        (ActionKind::Create, _) => WriteKind::Create,
        (ActionKind::Replace, _) => WriteKind::Replace,
        (ActionKind::Update, _) if x.nulls == Some(Nulls::Ignore) => WriteKind::UpdateKeepingNulls,
        (ActionKind::Update, _) => WriteKind::Update,
        (_, None) => WriteKind::Delete,
        (_, Some(sets)) => {
            let mut out = Vec::new();
            for (path, v) in sets {
                if path == &model.key {
                    return Err(cx.err("archive", "an archive cannot change the key"));
                }
                out.push((field(path, "archive")?, v.clone()));
            }
            WriteKind::Archive(out)
        }
    };
    if model.is_static() {
        return Err(cx.err("collection", "a collection of fixed rows takes no writes"));
    }
    let removes = kind == WriteKind::Delete;
    for (name, given) in [
        ("set", removes && !x.set.is_empty()),
        ("timeline", removes && x.timeline.is_some()),
        (
            "refuse-when",
            kind == WriteKind::Create && !x.refuse_when.is_empty(),
        ),
    ] {
        if given {
            return Err(cx.err(
                name,
                format!(
                    "a {} action takes no {name}",
                    format!("{:?}", x.action).to_lowercase()
                ),
            ));
        }
    }
    let (status, node) = success(cx, "a write")?;
    let item = cx.pointer(x.item.as_deref().unwrap_or(""), "item")?;
    let key_root = crate::data::path::root_of(&model.key);
    let holds_entity = node
        .and_then(|n| n.at_pointer(&item))
        .is_some_and(|n| n.prop(key_root).is_some());
    let generated =
        |node: &Node| -> Result<Reply> { Ok(Reply::Generated(body_model(cx, x, node)?)) };
    let reply = match (x.reply, node) {
        (Some(ReplyKind::Empty), _) | (None, None) => Reply::Empty,
        (Some(ReplyKind::Entity), _) | (None, Some(_)) if holds_entity => Reply::Entity { item },
        (Some(ReplyKind::Entity), _) => {
            return Err(cx.err(
                "item",
                format!(
                    "'{item}' does not reach an object with the key field '{key_root}' in the \
                     {status} response's schema"
                ),
            ));
        }
        (Some(ReplyKind::Generated), Some(n)) | (None, Some(n)) => generated(n)?,
        (Some(ReplyKind::Generated), None) => {
            return Err(cx.err(
                "reply",
                format!("the {status} response has no JSON schema to generate from"),
            ));
        }
    };
    // What the body may set: the request schema's top-level properties that are entity
    // fields (every entity field when the schema names none), and the declared renames (a
    // body field, or a JSON pointer into the body). An entity field with a renamed part is
    // set only through its parts.
    let mut accepts: Vec<(String, BodyPointer)> = Vec::new();
    if !matches!(kind, WriteKind::Delete | WriteKind::Archive(_)) {
        let named: Option<Vec<&str>> = cx.request.and_then(|n| match &*n.kind {
            Kind::Object { props, .. } if !props.is_empty() => {
                Some(props.iter().map(|(k, _)| k.as_str()).collect())
            }
            _ => None,
        });
        let renamed_roots: Vec<&str> = x
            .from_body
            .iter()
            .flat_map(|(to, from)| {
                let from_root = from.trim_start_matches('/').split('/').next().unwrap_or("");
                [crate::data::path::root_of(to), from_root]
            })
            .collect();
        if let Kind::Object { props, .. } = &*model.node.kind {
            for (k, _) in props {
                if named.as_ref().is_none_or(|n| n.contains(&k.as_str()))
                    && !renamed_roots.contains(&k.as_str())
                {
                    accepts.push((k.clone(), body_pointer(k)));
                }
            }
        }
        for (to, from) in &x.from_body {
            let to = field(to, "from-body")?;
            let from_root = from.trim_start_matches('/').split('/').next().unwrap_or("");
            let from_root = crate::spec::schema::unescape(from_root);
            if named
                .as_ref()
                .is_some_and(|n| !n.contains(&from_root.as_str()))
            {
                return Err(cx.err(
                    "from-body",
                    format!("'{from}' is not in the request body's schema"),
                ));
            }
            accepts.retain(|(t, _)| *t != to);
            accepts.push((to, body_pointer(from)));
        }
    }
    // The key is the client's only on a create; it never changes afterwards.
    let mut client_key = None;
    while let Some(at) = accepts.iter().position(|(to, _)| *to == model.key) {
        let (_, from) = accepts.remove(at);
        if kind == WriteKind::Create && cx.request.is_some() {
            client_key = Some(from);
        }
    }
    let names = &super::infer::conventions::STAMPS;
    let stamps = |fields: &[&str]| -> Vec<(String, TimeForm)> {
        fields
            .iter()
            .filter_map(|n| {
                let node = model.node.prop(n)?;
                let millis = names.millis_suffixes.iter().any(|x| n.ends_with(x));
                Some((n.to_string(), TimeForm::of(node, millis)?))
            })
            .collect()
    };
    Ok(Write {
        key_from_body,
        defaults,
        set,
        refuse_when,
        timeline,
        accepts,
        client_key,
        created: stamps(names.created),
        updated: stamps(names.updated),
        done_flags: match (&kind, &reply) {
            (WriteKind::Delete | WriteKind::Archive(_), Reply::Generated(m)) => names
                .deleted
                .iter()
                .filter(|n| {
                    m.node.prop(n).is_some_and(|f| {
                        matches!(&*f.kind, Kind::Boolean)
                            && f.enumeration
                                .as_ref()
                                .is_none_or(|e| e.contains(&serde_json::Value::Bool(true)))
                    })
                })
                .map(|n| n.to_string())
                .collect(),
            _ => Vec::new(),
        },
        kind,
        key,
        status,
        reply,
    })
}

/// The model of a body generated from the operation's response schema `node`, with the
/// extension's `fields` generators.
fn body_model(cx: &Context, x: &OperationExt, node: &Node) -> Result<Arc<CollectionModel>> {
    Ok(Arc::new(CollectionModel::for_body(
        cx.file,
        &cx.xloc(""),
        &format!("{}.response", cx.loc),
        node.clone(),
        &x.fields,
        cx.models,
    )?))
}

/// A body field name (or a JSON pointer already) as a JSON pointer into the body.
fn body_pointer(from: &str) -> BodyPointer {
    BodyPointer::new(from)
}

/// The lowest documented 2xx status and its JSON schema, if any.
fn success<'c>(cx: &'c Context, what: &str) -> Result<(u16, Option<&'c Node>)> {
    cx.responses
        .iter()
        .filter_map(|r| {
            let s = r
                .status
                .parse::<u16>()
                .ok()
                .filter(|s| (200..300).contains(s))?;
            Some((s, r.node.as_ref()))
        })
        .min_by_key(|(s, _)| *s)
        .ok_or_else(|| Error::spec(cx.file, cx.loc, format!("{what} documents no 2xx response")))
}

/// The body model of a `respond` action: its first documented 2xx response's schema, with the
/// operation's `fields` generators.
fn respond_model(cx: &Context, x: &OperationExt) -> Result<(u16, Arc<CollectionModel>)> {
    let (status, node) = success(cx, "a respond action")?;
    let node = node.ok_or_else(|| {
        Error::spec(
            cx.file,
            cx.loc,
            format!("the {status} response of a respond action has no JSON schema"),
        )
    })?;
    Ok((status, body_model(cx, x, node)?))
}

/// A list action.
fn list(
    cx: &Context,
    x: &OperationExt,
    field: &dyn Fn(&str, &str) -> Result<String>,
) -> Result<List> {
    let items = cx.pointer(x.items.as_deref().unwrap_or(""), "items")?;
    let total = x
        .total
        .as_deref()
        .map(|p| cx.pointer(p, "total"))
        .transpose()?;
    let next_token = x
        .next_token
        .as_deref()
        .map(|p| cx.pointer(p, "next-token"))
        .transpose()?;
    fits_200(cx, "items", &items, true)?;
    if items.is_empty() && (total.is_some() || next_token.is_some()) {
        return Err(cx.err(
            "",
            "a bare-array list (items \"\") has no room for total or next-token",
        ));
    }
    let mut fixed = BTreeMap::new();
    for (f, v) in &x.where_ {
        fixed.insert(field(f, "where")?, v.clone());
    }
    let filters = x
        .filters
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let at = format!("filters[{i}]");
            let op = match (f.kind, f.words) {
                (FilterKind::Contains, Some(0)) => {
                    return Err(cx.err(
                        &format!("{at}.words"),
                        "words is the number of words kept: at least 1",
                    ));
                }
                (FilterKind::Contains, words) => FilterOp::Contains { words },
                (kind, Some(_)) => {
                    return Err(cx.err(
                        &format!("{at}.words"),
                        format!("words applies to contains filters, not {kind:?}"),
                    ));
                }
                (FilterKind::Equals, None) => FilterOp::Equals,
                (FilterKind::Regex, None) => FilterOp::Regex,
                (FilterKind::AnyOf, None) => FilterOp::AnyOf {
                    all_param: f
                        .all_param
                        .as_deref()
                        .map(|a| cx.param(a, &at))
                        .transpose()?,
                },
            };
            if f.all_param.is_some() && !matches!(op, FilterOp::AnyOf { .. }) {
                cx.param(f.all_param.as_deref().unwrap_or_default(), &at)?;
            }
            let fields = f
                .field
                .iter()
                .chain(&f.fields)
                .map(|name| field(name, &at))
                .collect::<Result<Vec<_>>>()?;
            if fields.is_empty() {
                return Err(cx.err(&at, "names no field"));
            }
            Ok(Filter {
                param: cx.param(&f.param, &at)?,
                fields,
                max_length: f.max_length,
                op,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let (paging, limit, sort) = match &x.pagination {
        None => (Paging::None, None, Sort::Dataset),
        Some(p) => pagination(cx, x, p, field)?,
    };
    let envelope = match cx.ok_status("200").and_then(|r| r.node.clone()) {
        Some(node) if !items.is_empty() => Some(Arc::new(CollectionModel::for_body(
            cx.file,
            cx.loc,
            &format!("{}.envelope", cx.loc),
            node,
            &BTreeMap::new(),
            cx.models,
        )?)),
        _ => None,
    };
    Ok(List {
        items,
        total,
        next_token,
        fixed,
        filters,
        paging,
        limit,
        sort,
        envelope,
    })
}

/// A list's pagination: the style with the parameters it needs, the page size, the order.
fn pagination(
    cx: &Context,
    x: &OperationExt,
    p: &PaginationExt,
    field: &dyn Fn(&str, &str) -> Result<String>,
) -> Result<(Paging, Option<Limit>, Sort)> {
    let limit = p
        .limit
        .as_ref()
        .map(|l| {
            Ok(Limit {
                param: cx.param(&l.param, "pagination.limit")?,
                default: l.default,
                min: l.min,
                max: l.max,
            })
        })
        .transpose()?;
    if let Some(s) = &p.sort {
        field(&s.field, "pagination.sort")?;
    }
    let sort = match (&p.order, &p.sort) {
        (Some(o), _) => {
            for f in &o.fields {
                field(f, "pagination.order.fields")?;
            }
            if !o.fields.contains(&o.by_default) {
                return Err(cx.err(
                    "pagination.order.by-default",
                    format!("'{}' is not one of the order fields", o.by_default),
                ));
            }
            let deprecated = o.deprecated.as_ref();
            Sort::Requested(Order {
                param: cx.param(&o.param, "pagination.order")?,
                default: o.default,
                by_param: cx.param(&o.by_param, "pagination.order")?,
                by_default: o.by_default.clone(),
                fields: o.fields.clone(),
                direction_flag: deprecated.and_then(|d| d.direction_flag.as_ref()).map(|f| {
                    DirectionFlag {
                        param: f.param.clone(),
                        when_true: f.when_true,
                        when_false: f.when_false,
                    }
                }),
                deprecated_by: deprecated.and_then(|d| d.by_param.clone()),
            })
        }
        (None, Some(s)) => Sort::Fixed {
            field: field(&s.field, "pagination.sort")?,
            direction: s.direction,
        },
        (None, None) => Sort::Dataset,
    };
    // Parameters named by a part the style does not use are still checked: a typo is an error.
    if let Some(t) = &p.token {
        cx.param(&t.param, "pagination.token")?;
    }
    if let Some(c) = &p.cursor {
        for name in c.after.iter().chain(&c.before) {
            cx.param(name, "pagination.cursor")?;
        }
    }
    if let Some(o) = &p.offset {
        cx.param(&o.param, "pagination.offset")?;
    }
    if let Some(pg) = &p.page {
        cx.param(&pg.param, "pagination.page")?;
    }
    let needs = |what: &str| {
        cx.err(
            "pagination",
            format!("the {:?} style needs {what}", p.style),
        )
    };
    let paging = match p.style {
        PageStyle::None => Paging::None,
        PageStyle::PageToken => {
            let t = p.token.as_ref().ok_or_else(|| needs("token"))?;
            if x.next_token.is_none() {
                return Err(needs("next-token (the pointer to the next page's token)"));
            }
            Paging::PageToken {
                param: t.param.clone(),
            }
        }
        PageStyle::Cursor => {
            let c = p.cursor.as_ref();
            let after = c
                .and_then(|c| c.after.clone())
                .ok_or_else(|| needs("cursor"))?;
            Paging::Cursor {
                after,
                before: c.and_then(|c| c.before.clone()),
            }
        }
        PageStyle::Offset => Paging::Offset {
            param: p
                .offset
                .as_ref()
                .ok_or_else(|| needs("offset"))?
                .param
                .clone(),
        },
        PageStyle::Page => {
            let pg = p.page.as_ref().ok_or_else(|| needs("page"))?;
            if limit.is_none() {
                return Err(needs("limit (the page size)"));
            }
            Paging::Page {
                param: pg.param.clone(),
                first: pg.first,
            }
        }
    };
    Ok((paging, limit, sort))
}
