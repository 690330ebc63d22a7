//! Running an operation's declared action (`list`, `get` or `respond`) once routing, credentials and
//! parameters have been checked: the dataset as the session sees it, shaped by the response
//! schema and the API's list envelope.

use std::hash::Hasher;
use std::sync::Arc;

use serde_json::Value;
use siphasher::sip::SipHasher13;

use super::route::Routed;
use super::{Engine, Request, Response};
use super::{paging, render};
use crate::api_error::ApiError;
use crate::data::{Entity, View};
use crate::query;
use crate::query::params::{self, Params};
use crate::scenario::session::Session;
use crate::spec::behaviour::{Action, Lookup, Paging, Scope};
use crate::spec::{GeneratedBody, ParamIn};

impl Engine {
    /// The serialized item for entity `i`: cached when the entity is the dataset's own (not
    /// changed by a scenario), rendered afresh otherwise.
    fn rendered(
        &self,
        r: &Routed,
        view: &View,
        variant: u64,
        i: u32,
        make: impl FnOnce() -> Value,
    ) -> bytes::Bytes {
        let render = || bytes::Bytes::from(crate::data::json::to_vec(&make()));
        if view.is_pristine(i) {
            r.mount
                .rendered
                .get_or_render((r.op_index, variant, i), render)
        } else {
            render()
        }
    }

    /// [`Engine::serve`], through the mount's cache of whole answers: a successful `GET` of
    /// an operation whose collections the session has not changed is a pure function of
    /// (operation, variant, host, path, query), so it is computed once. Request ids, credentials, scenario
    /// rules and strict checks still apply to every request.
    pub(super) fn serve_cached(
        &self,
        r: &Routed,
        req: &Request,
        session: Option<&Session>,
        request_id: &str,
    ) -> Result<Response, ApiError> {
        let pristine = |c: &str| session.is_none_or(|s| s.overlay(&r.mount.api.name, c).is_none());
        // An answer from the schema is a pure function of the request too.
        let from_schema = r.op.bound.is_none() || r.mount.fallback.contains(&r.op_index);
        let cacheable = req.method() == "GET"
            && req.body.is_empty()
            && !r.op.params.iter().any(|p| p.location == ParamIn::Header)
            && (from_schema
                || r.op.bound.as_ref().is_some_and(|x| {
                    !matches!(x.action, Action::Respond(_))
                        && pristine(&x.collection)
                        && x.scope.as_ref().is_none_or(|sc| pristine(&sc.collection))
                }));
        if !cacheable {
            return self.serve(r, req, session, request_id);
        }
        // The host too: next-page URLs and links name it.
        let key = render::AnswerLookup {
            op: r.op_index,
            variant: r.variant_tag(),
            host: req.header_named(&http::header::HOST).unwrap_or(""),
            path: req.path(),
            query: req.query(),
        };
        if let Some(hit) = r.mount.answers.get(&key) {
            return Ok(hit.again());
        }
        let resp = self.serve(r, req, session, request_id)?;
        if resp.status == 200 {
            r.mount.answers.insert(key.owned(), Arc::new(resp.clone()));
        }
        Ok(resp)
    }

    pub(super) fn serve(
        &self,
        r: &Routed,
        req: &Request,
        session: Option<&Session>,
        request_id: &str,
    ) -> Result<Response, ApiError> {
        let api = &r.mount.api;
        let query: Vec<(String, String)> = form_urlencoded::parse(req.query().as_bytes())
            .into_owned()
            .collect();
        let bad = bad_request(r);
        let lenient = |e: &ApiError| r.op.response(e.status).is_none();
        let params = self.prepare(r, req, &query)?;
        let Some(x) =
            r.op.bound
                .as_ref()
                .filter(|_| !r.mount.fallback.contains(&r.op_index))
        else {
            return self.generated(r, req);
        };
        if let Some(sc) = &x.scope {
            check_scope(r, sc, &params, session)?;
        }
        let coll = r
            .mount
            .collections
            .get(&x.collection)
            .ok_or_else(|| ApiError::new(500, "collection missing"))?;
        let overlay = session.and_then(|s| s.overlay(&api.name, &x.collection));
        let view = View::new(coll, overlay);
        let shape = r.shape_op();
        let ok_node = shape.response(200).and_then(|d| d.node.as_ref());
        let coll_name = x.collection.as_str();
        match &x.action {
            Action::Get(key) => {
                let i = match self.lookup(key, &x.collection, &params, &view, bad) {
                    Ok(i) => i,
                    // An unknown key where the operation documents no error for it: the
                    // answer generated from the schema, naming that key.
                    Err(e) if lenient(&e) => return self.generated(r, req),
                    Err(e) => return Err(e),
                };
                let item_ptr = key.item.as_str();
                let node = ok_node.and_then(|n| n.at_pointer(item_ptr));
                let variant = render::variant(x, &params) ^ r.variant_tag();
                let body = self.rendered(r, &view, variant, i, || {
                    render::item(r.shaped(coll_name, view.entity(i)), node, x, &params)
                });
                Ok(Response::bytes(
                    200,
                    render::envelope_with_item(item_ptr, body),
                ))
            }
            Action::Respond(respond) => {
                let i = match self.lookup(&respond.key, &x.collection, &params, &view, bad) {
                    Ok(i) => i,
                    // An unknown key where the operation documents no error for it: the
                    // answer generated from the schema, naming that key.
                    Err(e) if lenient(&e) => return self.generated(r, req),
                    Err(e) => return Err(e),
                };
                // A variant's own body model, where it has one.
                let (status, model) = match shape.bound.as_ref().map(|b| &b.action) {
                    Some(Action::Respond(v)) => (&v.status, &v.model),
                    _ => (&respond.status, &respond.model),
                };
                // Each answer is new (a session, a run), yet a pure function of (seed,
                // operation, entity key, request id): a replayed sequence of requests gets the
                // same bytes.
                let mut h = SipHasher13::new_with_keys(self.seed, r.op_index as u64);
                h.write(view.key(i).as_bytes());
                h.write_u8(0);
                h.write(request_id.as_bytes());
                let body = Entity::new(model, h.finish(), 0).full();
                let body = bytes::Bytes::from(crate::data::json::to_vec(&body));
                Ok(Response::bytes(*status, body))
            }
            // Writes are answered by `Engine::write`, with the session they change.
            Action::Write(_) => Err(ApiError::new(500, "a write reached the read path")),
            Action::List(list) => {
                // A value the list cannot use (a made-up page token, an unknown sort field)
                // is refused where the operation documents that status; otherwise that
                // parameter is left out, as a parameter that does not parse is.
                let mut params = params;
                let out = loop {
                    match query::list(&view, list, &params, self.seed, bad) {
                        Ok(out) => break out,
                        Err(e) if lenient(&e) => match e.param.as_ref() {
                            Some(p) if params.remove(p).is_some() => {}
                            _ => return Err(e),
                        },
                        Err(e) => return Err(e),
                    }
                };
                let items_ptr = list.items.as_str();
                let item_node = ok_node
                    .and_then(|n| n.at_pointer(items_ptr))
                    .and_then(crate::spec::schema::Node::items);
                let variant = render::variant(x, &params) ^ r.variant_tag();
                let items: Vec<bytes::Bytes> = out
                    .items
                    .iter()
                    .map(|&i| {
                        self.rendered(r, &view, variant, i, || {
                            render::item(r.shaped(coll_name, view.entity(i)), item_node, x, &params)
                        })
                    })
                    .collect();
                let page = paging::Page::of(req, &query, list, &params, &out, &view);
                let shape_envelope = match shape.bound.as_ref().map(|b| &b.action) {
                    Some(Action::List(v)) => v.envelope.as_ref(),
                    _ => None,
                };
                let base = match shape_envelope.or(list.envelope.as_ref()) {
                    Some(model) => paging::envelope(
                        Entity::new(model, self.seed ^ r.op_index as u64, 0).full(),
                        &model.node,
                        list,
                        &page,
                    ),
                    None => Value::Null,
                };
                let mut extras = Vec::new();
                if let (Some(t), Some(n)) = (&list.total, out.total) {
                    extras.push((t.as_str(), Value::from(n)));
                }
                if let (Some(p), Some(tok)) = (&list.next_token, out.next_token) {
                    extras.push((p.as_str(), Value::String(tok)));
                }
                let mut resp =
                    Response::bytes(200, render::envelope_on(base, items_ptr, &items, extras));
                // RFC 8288 links where the document declares them, or where a bare array has
                // nowhere else to say where the next page is.
                let declared = shape.response(200).is_some_and(|d| d.links);
                if (declared || (items_ptr.is_empty() && list.paging != Paging::None))
                    && let Some(link) = page.link_header()
                {
                    resp.add_header_owned(http::header::LINK, link);
                }
                Ok(resp)
            }
        }
    }
}

impl Engine {
    /// The request's parameters and body, checked. A request is refused only with a status
    /// the operation documents (a client of the document cannot expect another); otherwise
    /// the offending query parameter is left out (or the body taken as it is) and the request
    /// answered.
    pub(super) fn prepare(
        &self,
        r: &Routed,
        req: &Request,
        query: &[(String, String)],
    ) -> Result<Params, ApiError> {
        self.prepare_with_body(r, req, query, false).map(|(p, _)| p)
    }

    /// [`Engine::prepare`], and the body parsed as JSON (`None` when it is blank or not JSON)
    /// when `want_body` says the caller needs it or the operation's body is checked.
    pub(super) fn prepare_with_body(
        &self,
        r: &Routed,
        req: &Request,
        query: &[(String, String)],
        want_body: bool,
    ) -> Result<(Params, Option<Value>), ApiError> {
        let bad = bad_request(r);
        let lenient = |e: &ApiError| r.op.response(e.status).is_none();
        let params = match params::parse(&r.op.params, query, &r.path_params, req.headers(), bad) {
            Ok(p) => p,
            Err(e) if lenient(&e) => {
                // Each parameter on its own: the ones that parse are kept.
                let mut ok = params::Params::new();
                for p in &r.op.params {
                    if let Ok(one) = params::parse(
                        std::slice::from_ref(p),
                        query,
                        &r.path_params,
                        req.headers(),
                        bad,
                    ) {
                        ok.extend(one);
                    }
                }
                ok
            }
            Err(e) => return Err(e),
        };
        let checked = r.mount.bodies.get(&r.op_index);
        let blank = req.body.iter().all(u8::is_ascii_whitespace);
        let body = if (want_body || checked.is_some()) && !blank {
            serde_json::from_slice::<Value>(&req.body).ok()
        } else {
            None
        };
        if let Some((required, v)) = checked {
            match check_body(&req.body, body.as_ref(), *required, v, bad) {
                Ok(()) => {}
                Err(e) if lenient(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok((params, body))
    }

    /// The answer of an operation without an action: its documented success status with a
    /// body generated from that response's schema, a pure function of (seed, operation, path
    /// parameters, query): the same request gets the same bytes.
    pub(super) fn generated(&self, r: &Routed, req: &Request) -> Result<Response, ApiError> {
        let shape = r.shape_op();
        let Some(g) = shape.generated.as_ref().or(r.op.generated.as_ref()) else {
            return Ok(Response::bytes(200, bytes::Bytes::new()));
        };
        if g.status >= 400 {
            return Err(ApiError::new(
                g.status,
                format!(
                    "{} {} documents no success response",
                    r.op.method, r.op.path
                ),
            ));
        }
        // Path parameters, not the path: the same answer under every mount point.
        let mut h = SipHasher13::new_with_keys(self.seed, r.op_index as u64);
        for (_, v) in &r.path_params {
            h.write(v.as_bytes());
            h.write_u8(0);
        }
        h.write(req.query().as_bytes());
        let seed = h.finish();
        let (content_type, body) = match &g.body {
            GeneratedBody::Empty => (None, bytes::Bytes::new()),
            GeneratedBody::Json {
                content_type,
                model,
            } => (
                Some(content_type.clone()),
                self.valid_body(r, g.status, model, seed, |_| {}),
            ),
            GeneratedBody::EventStream { model } => {
                let data = match model {
                    Some(m) => {
                        serde_json::to_string(&Entity::new(m, seed, 0).full()).unwrap_or_default()
                    }
                    None => "{}".to_string(),
                };
                (
                    Some("text/event-stream".to_string()),
                    bytes::Bytes::from(format!("data: {data}\n\n")),
                )
            }
            GeneratedBody::Other { content_type } => {
                let text = if content_type.starts_with("text/") {
                    format!("understudy: generated {content_type} for {}\n", r.op.path)
                } else {
                    String::from("understudy")
                };
                (Some(content_type.clone()), bytes::Bytes::from(text))
            }
        };
        let mut resp = Response::bytes(g.status, body);
        resp.headers.clear();
        if let Some(t) = content_type {
            resp.add_header("content-type", &t);
        }
        Ok(resp)
    }

    /// A generated JSON body that validates against its schema: schemas with overlapping
    /// `oneOf` branches or constraints the generator does not model are met by drawing again
    /// (a fixed sequence of seeds, so still deterministic), the path's keys echoed when that
    /// keeps the body valid.
    pub(super) fn valid_body(
        &self,
        r: &Routed,
        status: u16,
        model: &crate::data::CollectionModel,
        seed: u64,
        settle: impl Fn(&mut Value),
    ) -> bytes::Bytes {
        const DRAWS: u64 = 12;
        let api = &r.mount.api;
        let encode = |v: &Value| bytes::Bytes::from(crate::data::json::to_vec(v));
        let mut first = None;
        // The base document's validators: a variant's shape is not checked here.
        let draws = if r.variant.is_some() { 1 } else { DRAWS };
        for echo in [true, false] {
            for draw in 0..draws {
                let mut v = Entity::new(model, seed.wrapping_add(draw), 0).full();
                if echo {
                    echo_path_params(&mut v, &r.path_params);
                }
                settle(&mut v);
                let body = encode(&v);
                if r.mount
                    .generated
                    .check(api, r.op_index, status, &body)
                    .is_empty()
                {
                    return body;
                }
                first.get_or_insert(body);
            }
        }
        first.unwrap_or_default()
    }

    /// The entity an operation's key parameter names: 400 (the API's bad-request status) when
    /// it does not match the key pattern, 404 when no such entity is visible.
    pub(super) fn lookup(
        &self,
        x: &Lookup,
        collection: &str,
        params: &Params,
        view: &View,
        bad: u16,
    ) -> Result<u32, ApiError> {
        let kp = x.key_param.as_str();
        let key = params
            .get(kp)
            .map(crate::data::CollectionModel::key_text)
            .unwrap_or_default();
        if let Some(re) = &x.key_pattern
            && !re.is_match(&key)
        {
            return Err(ApiError::param(
                bad,
                "path",
                kp,
                format!("{kp}: '{key}' is not a valid identifier"),
            ));
        }
        view.lookup(&key).ok_or_else(|| not_found(collection, &key))
    }
}

/// A generated object names what its path names: a top-level string property named like a
/// path parameter (`{name}` -> `name`, `{thing_id}` -> `thing_id`) takes its value, and the
/// last parameter fills `id` (the usual key).
fn echo_path_params(body: &mut Value, path_params: &[(&str, String)]) {
    let Value::Object(m) = body else { return };
    for (i, (name, value)) in path_params.iter().enumerate() {
        let last = i + 1 == path_params.len();
        for field in [Some(*name), last.then_some("id")].into_iter().flatten() {
            if let Some(slot @ Value::String(_)) = m.get_mut(field) {
                *slot = Value::String(value.clone());
            }
        }
    }
}

/// A scoped operation exists only inside an entity (an organisation) that the scope parameter
/// names; any other value gets the scope's status.
pub(super) fn check_scope(
    r: &Routed,
    sc: &Scope,
    params: &Params,
    session: Option<&Session>,
) -> Result<(), ApiError> {
    let value = params
        .get(&sc.param)
        .map(crate::data::CollectionModel::key_text)
        .unwrap_or_default();
    let coll = r
        .mount
        .collections
        .get(&sc.collection)
        .ok_or_else(|| ApiError::new(500, "scope collection missing"))?;
    let overlay = session.and_then(|s| s.overlay(&r.mount.api.name, &sc.collection));
    if View::new(coll, overlay).lookup(&value).is_some() {
        return Ok(());
    }
    let noun = singular(&sc.collection);
    Err(match sc.status {
        404 => ApiError::not_found(&value, format!("{noun} '{value}' not found")),
        status => ApiError::new(status, format!("no access to {noun} '{value}'")),
    })
}

/// Validate a JSON request body.
fn check_body(
    body: &[u8],
    parsed: Option<&Value>,
    required: bool,
    v: &jsonschema::Validator,
    bad: u16,
) -> Result<(), ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return if required {
            Err(ApiError::param(
                bad,
                "body",
                "body",
                "a request body is required",
            ))
        } else {
            Ok(())
        };
    }
    let value = match parsed {
        Some(v) => v,
        None => {
            // Parsed again only to say why it is not JSON.
            let e = serde_json::from_slice::<Value>(body)
                .err()
                .map_or_else(|| "not JSON".to_string(), |e| e.to_string());
            return Err(ApiError::param(
                bad,
                "body",
                "body",
                format!("the body is not JSON: {e}"),
            ));
        }
    };
    if v.is_valid(value) {
        return Ok(());
    }
    if let Some(e) = v.iter_errors(value).next() {
        let at = e.instance_path().to_string();
        let field = at.trim_start_matches('/').replace('/', ".");
        let name = if field.is_empty() {
            "body".to_string()
        } else {
            field
        };
        return Err(ApiError::param(
            bad,
            "body",
            &name,
            format!(
                "body{}: {e}",
                if at.is_empty() {
                    String::new()
                } else {
                    format!(" at {at}")
                }
            ),
        ));
    }
    Ok(())
}

/// "things" -> "thing", for messages.
/// The status a request the operation cannot take is refused with: the API's bad-request
/// status, unless the operation documents only the other usual one (400 or 422).
pub(super) fn bad_request(r: &Routed) -> u16 {
    let api = r.mount.api.bad_request_status;
    if r.op.response(api).is_some() {
        return api;
    }
    [400, 422]
        .into_iter()
        .find(|s| r.op.response(*s).is_some())
        .unwrap_or(api)
}

/// The API's 404 for a key its collection does not hold.
pub(super) fn not_found(collection: &str, key: &str) -> ApiError {
    ApiError::not_found(key, format!("{} '{key}' not found", singular(collection)))
}

pub(super) fn singular(name: &str) -> &str {
    name.strip_suffix('s').unwrap_or(name)
}
