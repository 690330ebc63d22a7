//! The request engine: our own [`Request`] in, our own [`Response`] out. It mounts each loaded
//! API under its base path, routes to the operation, checks credentials and parameters, runs
//! the operation's declared action over the dataset, and renders errors in the API's envelope.
//! It knows nothing of hyper or sockets.

pub mod admin;
pub mod render;

use std::collections::BTreeMap;
use std::hash::Hasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use serde_json::{Value, json};
use siphasher::sip::SipHasher13;

use crate::api_error::{self, ApiError};
use crate::auth::{self, TokenDb};
use crate::contract::{self, Contract};
use crate::data::Collection;
use crate::data::View;
use crate::error::{Error, Result};
use crate::query::{self, params};
use crate::scenario::session::{self, Datasets, Session, Sessions};
use crate::scenario::{self as scenario_mod, Scenario};
use crate::spec::ext::ActionKind;
use crate::spec::{self, Api, Operation, Segment};

/// An HTTP request as the engine sees it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// The path, still percent-encoded.
    pub path: String,
    /// The raw query string (without `?`).
    pub query: String,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Request {
    /// A GET request for `target` (`/path?query`), for tests and tools.
    pub fn get(target: &str) -> Self {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method: "GET".into(),
            path: path.into(),
            query: query.into(),
            ..Request::default()
        }
    }

    /// Add a header (name lower-cased).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// The first header with this (lower-case) name.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP response as the engine produces it.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Added latency before the response is sent (scenario rules).
    pub delay: Option<std::time::Duration>,
    /// Close the connection instead of answering (scenario rules).
    pub drop: bool,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, body: &Value) -> Self {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(serde_json::to_vec(body).unwrap_or_default()),
            delay: None,
            drop: false,
        }
    }
}

/// Settings the engine is built with.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub seed: u64,
    /// Overrides every collection's default count.
    pub count: Option<u64>,
    /// Serve only this API, at the root.
    pub single_api: Option<String>,
    pub tokens: Option<TokenDb>,
    /// Scenarios that can be started.
    pub scenarios: Vec<Scenario>,
    /// Scenarios every session starts with.
    pub start: Vec<String>,
    /// Validate every response against the spec; a violation becomes a logged 500.
    pub strict: bool,
}

/// The header that selects a scenario session.
pub const SESSION_HEADER: &str = "x-understudy-session";

/// One API mounted at a prefix, with its dataset.
pub struct Mount {
    pub prefix: String,
    pub api: Arc<Api>,
    pub collections: BTreeMap<String, Arc<Collection>>,
    /// Response validators, with `--strict`.
    contract: Option<Contract>,
    /// Request body validators by operation index.
    bodies: BTreeMap<usize, (bool, jsonschema::Validator)>,
}

/// The engine.
pub struct Engine {
    mounts: Vec<Mount>,
    seed: u64,
    tokens: Option<TokenDb>,
    requests: AtomicU64,
    pub sessions: Sessions,
}

/// An operation whose path matches: (operation, path parameters, literal segments).
type Candidate<'a> = (&'a Operation, Vec<(String, String)>, usize);

/// Where an operation was found.
struct Routed<'a> {
    mount: &'a Mount,
    op: &'a Operation,
    op_index: usize,
    path_params: Vec<(String, String)>,
}

enum Route<'a> {
    Found(Routed<'a>),
    MethodNotAllowed(&'a Mount, Vec<String>),
    NotFound(Option<&'a Mount>),
}

impl Engine {
    /// Build the engine and every dataset.
    pub fn new(apis: Vec<Api>, cfg: &Config) -> Result<Self> {
        let mut apis = apis;
        if let Some(name) = &cfg.single_api {
            let names: Vec<String> = apis.iter().map(|a| a.name.clone()).collect();
            apis.retain(|a| &a.name == name);
            if apis.is_empty() {
                return Err(Error::Config(format!(
                    "--api {name}: no such API (loaded: {})",
                    names.join(", ")
                )));
            }
        }
        let mut mounts = Vec::new();
        for api in apis {
            let indexed = spec::indexed_fields(&api);
            let mut collections = BTreeMap::new();
            for (cname, model) in &api.models {
                let (cols, sorts) = indexed.get(cname).cloned().unwrap_or_default();
                let cols: Vec<String> = cols
                    .iter()
                    .map(|c| query::filter::FieldRef::new(c).column)
                    .collect();
                let count = cfg.count.unwrap_or(model.count);
                let c = Collection::build(model.clone(), cfg.seed, count, &cols, &sorts)?;
                collections.insert(cname.clone(), Arc::new(c));
            }
            let prefix = if cfg.single_api.is_some() {
                api.base_path.clone()
            } else {
                format!("/{}{}", api.name, api.base_path)
            };
            let contract = if cfg.strict {
                Some(Contract::new(&api).map_err(Error::Config)?)
            } else {
                None
            };
            let bodies = contract::request_body_validators(&api).map_err(Error::Config)?;
            mounts.push(Mount {
                prefix,
                api: Arc::new(api),
                collections,
                contract,
                bodies,
            });
        }
        // Longest prefix first, so `/a/v1` wins over `/a`.
        mounts.sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
        let engine = Engine {
            mounts,
            seed: cfg.seed,
            tokens: cfg.tokens.clone(),
            requests: AtomicU64::new(0),
            sessions: Sessions::new(cfg.scenarios.clone(), cfg.start.clone()),
        };
        for name in &cfg.start {
            let sc = engine.sessions.scenarios.get(name).ok_or_else(|| {
                let known: Vec<&String> = engine.sessions.scenarios.keys().collect();
                Error::Config(format!(
                    "--scenario {name}: no such scenario (known: {})",
                    known
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            engine.check_scenario(sc)?;
        }
        Ok(engine)
    }

    /// Check a scenario against this server's APIs and datasets.
    pub fn check_scenario(&self, sc: &Arc<Scenario>) -> Result<()> {
        let api = self
            .mounts
            .iter()
            .find(|m| m.api.name == sc.api)
            .ok_or_else(|| {
                sc.error_at(
                    "api",
                    format!(
                        "unknown API '{}' (loaded: {})",
                        sc.api,
                        self.mounts
                            .iter()
                            .map(|m| m.api.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
        scenario_mod::check::check(sc, &api.api, self, self.seed)
    }

    /// With `--strict`: a response that breaks the contract is logged and replaced by a 500.
    fn strict_check(
        &self,
        c: &Contract,
        r: &Routed,
        req: &Request,
        resp: Response,
        request_id: &str,
    ) -> Response {
        let mut problems = c.check(&r.mount.api, r.op_index, resp.status, &resp.body);
        if let Some(def) = r.op.response(resp.status) {
            for h in &def.required_headers {
                if !resp.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(h)) {
                    problems.push(format!("the documented header {h} is missing"));
                }
            }
        }
        if problems.is_empty() {
            return resp;
        }
        tracing::error!(
            "contract violation: {} {}?{} -> {}: {}",
            req.method,
            req.path,
            req.query,
            resp.status,
            problems.join("; ")
        );
        error_response(
            &r.mount.api,
            &ApiError::new(
                500,
                format!(
                    "understudy --strict: the response ({}) would break the contract: {}",
                    resp.status,
                    problems.join("; ")
                ),
            ),
            request_id,
        )
    }

    /// The seed of the dataset.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The mounted APIs.
    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    fn request_id(&self, session: &str, n: u64) -> String {
        let mut h = SipHasher13::new_with_keys(self.seed, 0x7265_7175_6573_7469);
        h.write(session.as_bytes());
        h.write_u64(n);
        format!("req_{:016x}", h.finish())
    }

    /// Answer a request. Never panics on any input.
    pub fn handle(&self, req: &Request) -> Response {
        if req.path == admin::PREFIX || req.path.starts_with(&format!("{}/", admin::PREFIX)) {
            return admin::handle(self, req);
        }
        let session_id = req.header_value(SESSION_HEADER);
        let plain = session_id.is_none() && self.sessions.default_is_plain();
        let (request_id, mut resp) = if plain {
            let n = self.requests.fetch_add(1, Ordering::Relaxed);
            let id = self.request_id(session::DEFAULT_SESSION, n);
            let resp = self.dispatch(req, None, &id);
            (id, resp)
        } else {
            let sid = session_id.unwrap_or(session::DEFAULT_SESSION);
            match self.sessions.get(sid, self.seed, self) {
                Ok(sess) => {
                    let mut s = session::lock(&sess);
                    s.requests += 1;
                    let id = self.request_id(sid, s.requests);
                    let resp = self.dispatch(req, Some(&mut s), &id);
                    (id, resp)
                }
                Err(m) => {
                    let id = self.request_id(sid, 0);
                    (id, Response::json(500, &json!({ "error": m })))
                }
            }
        };
        resp.headers.push(("x-request-id".into(), request_id));
        resp
    }

    /// Route and answer, within a session when there is one.
    fn dispatch(&self, req: &Request, session: Option<&mut Session>, request_id: &str) -> Response {
        match self.route(req) {
            Route::Found(r) => {
                let mut rule = None;
                let mut session = session;
                if let Some(s) = session.as_deref_mut() {
                    match s.on_request(&r.mount.api.name, &r.op.method, &r.op.path, self.seed, self)
                    {
                        Ok(o) => rule = o.map(|o| o.rule),
                        Err(m) => {
                            return error_response(
                                &r.mount.api,
                                &ApiError::new(500, format!("scenario failed: {m}")),
                                request_id,
                            );
                        }
                    }
                }
                let mut resp = match rule.as_ref().and_then(|x| x.status) {
                    Some(status) => {
                        let mut e = ApiError::new(
                            status,
                            rule.as_ref()
                                .and_then(|x| x.message.clone())
                                .unwrap_or_else(|| {
                                    api_error::hyper_free_reason(status).to_string()
                                }),
                        );
                        if let Some(x) = &rule {
                            e.headers.extend(
                                x.headers
                                    .iter()
                                    .map(|(k, v)| (k.to_ascii_lowercase(), v.clone())),
                            );
                        }
                        error_response(&r.mount.api, &e, request_id)
                    }
                    None => match self.serve(&r, req, session.as_deref()) {
                        Ok(resp) => resp,
                        Err(e) => error_response(&r.mount.api, &e, request_id),
                    },
                };
                if let Some(c) = &r.mount.contract {
                    resp = self.strict_check(c, &r, req, resp, request_id);
                }
                if let Some(x) = &rule {
                    if x.status.is_none() {
                        resp.headers.extend(
                            x.headers
                                .iter()
                                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone())),
                        );
                    }
                    resp.delay = x.delay;
                    resp.drop = x.drop;
                }
                resp
            }
            Route::MethodNotAllowed(m, allow) => {
                let mut e =
                    ApiError::new(405, format!("method {} is not allowed here", req.method));
                e.headers.push(("allow".into(), allow.join(", ")));
                error_response(&m.api, &e, request_id)
            }
            Route::NotFound(Some(m)) => error_response(
                &m.api,
                &ApiError::new(404, format!("no route for {} {}", req.method, req.path)),
                request_id,
            ),
            Route::NotFound(None) => self.index(req),
        }
    }

    /// `GET /` lists the mounted APIs; anything else outside them is a plain 404.
    fn index(&self, req: &Request) -> Response {
        let apis: Vec<Value> = self
            .mounts
            .iter()
            .map(|m| {
                json!({
                    "name": m.api.name,
                    "base_path": m.prefix,
                    "title": m.api.doc.pointer("/info/title"),
                    "operations": m.api.operations.iter()
                        .map(|o| format!("{} {}{}", o.method, m.prefix, o.path))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        if req.path == "/" || req.path.is_empty() {
            Response::json(200, &json!({ "service": "understudy", "apis": apis }))
        } else {
            Response::json(
                404,
                &json!({
                    "error": format!("no API is mounted at {}", req.path),
                    "apis": apis,
                }),
            )
        }
    }

    fn route<'a>(&'a self, req: &Request) -> Route<'a> {
        let Some((mount, rest)) = self.mounts.iter().find_map(|m| {
            let rest = req.path.strip_prefix(m.prefix.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then_some((m, rest))
        }) else {
            return Route::NotFound(None);
        };
        let segs: Vec<String> = rest
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let mut candidates: Vec<Candidate> = mount
            .api
            .operations
            .iter()
            .filter_map(|op| match_segments(&op.segments, &segs).map(|(p, lits)| (op, p, lits)))
            .collect();
        if candidates.is_empty() {
            return Route::NotFound(Some(mount));
        }
        candidates.sort_by_key(|c| std::cmp::Reverse(c.2));
        let best_lits = candidates[0].2;
        candidates.retain(|c| c.2 == best_lits);
        let method = req.method.to_ascii_uppercase();
        match candidates.iter().position(|c| c.0.method == method) {
            Some(i) => {
                let (op, path_params, _) = candidates.swap_remove(i);
                let op_index = mount
                    .api
                    .operations
                    .iter()
                    .position(|o| std::ptr::eq(o, op))
                    .unwrap_or(0);
                Route::Found(Routed {
                    mount,
                    op,
                    op_index,
                    path_params,
                })
            }
            None => Route::MethodNotAllowed(
                mount,
                candidates.iter().map(|c| c.0.method.clone()).collect(),
            ),
        }
    }

    fn serve(
        &self,
        r: &Routed,
        req: &Request,
        session: Option<&Session>,
    ) -> Result<Response, ApiError> {
        let api = &r.mount.api;
        auth::check(
            api,
            r.op,
            r.op.ext.as_ref().and_then(|x| x.permission.as_deref()),
            |h| req.header_value(h),
            self.tokens.as_ref(),
        )?;
        let query: Vec<(String, String)> = form_urlencoded::parse(req.query.as_bytes())
            .into_owned()
            .collect();
        let bad = api.bad_request_status;
        let params = params::parse(&r.op.params, &query, &r.path_params, &req.headers, bad)?;
        if let Some((required, v)) = r.mount.bodies.get(&r.op_index) {
            check_body(&req.body, *required, v, bad)?;
        }
        let Some(x) = &r.op.ext else {
            return Err(ApiError::new(
                501,
                format!("{} {} has no x-understudy action", r.op.method, r.op.path),
            ));
        };
        let coll = r
            .mount
            .collections
            .get(&x.collection)
            .ok_or_else(|| ApiError::new(500, "collection missing"))?;
        let overlay = session.and_then(|s| s.overlay(&api.name, &x.collection));
        let view = View::new(coll, overlay);
        let ok_node = r.op.response(200).and_then(|d| d.node.as_ref());
        match x.action {
            ActionKind::Get => {
                let kp = x.key_param.as_deref().unwrap_or_default();
                let key = params.get(kp).and_then(Value::as_str).unwrap_or_default();
                if let Some(re) = &r.op.key_pattern
                    && !re.is_match(key)
                {
                    return Err(ApiError::param(
                        bad,
                        "path",
                        kp,
                        format!("{kp}: '{key}' is not a valid identifier"),
                    ));
                }
                let i = view.lookup(key).ok_or_else(|| {
                    ApiError::not_found(
                        key,
                        format!("{} '{key}' not found", singular(&x.collection)),
                    )
                })?;
                let entity = view.entity(i);
                let mut body = match ok_node {
                    Some(n) => render::project(&entity, n),
                    None => entity,
                };
                if let Some(n) = ok_node {
                    render::apply_optional_fields(&mut body, n, x, &params);
                }
                Ok(Response::json(200, &body))
            }
            ActionKind::List => {
                let out = query::list(&view, x, &params, self.seed, bad)?;
                let items_ptr = x.items.as_deref().unwrap_or("");
                let item_node = ok_node
                    .and_then(|n| render::node_at_pointer(n, items_ptr))
                    .and_then(|n| match &n.kind {
                        crate::spec::schema::Kind::Array { items, .. } => Some(&**items),
                        _ => None,
                    });
                let items: Vec<Value> = out
                    .items
                    .iter()
                    .map(|&i| {
                        let e = view.entity(i);
                        match item_node {
                            Some(n) => {
                                let mut v = render::project(&e, n);
                                render::apply_optional_fields(&mut v, n, x, &params);
                                v
                            }
                            None => e,
                        }
                    })
                    .collect();
                let mut body = Value::Null;
                render::set_pointer(&mut body, items_ptr, Value::Array(items));
                if let Some(t) = &x.total {
                    render::set_pointer(&mut body, t, Value::from(out.total));
                }
                if let (Some(p), Some(tok)) = (&x.next_token, out.next_token) {
                    render::set_pointer(&mut body, p, Value::String(tok));
                }
                Ok(Response::json(200, &body))
            }
        }
    }
}

impl Datasets for Engine {
    fn collection(&self, api: &str, collection: Option<&str>) -> Option<(String, &Collection)> {
        let m = self.mounts.iter().find(|m| m.api.name == api)?;
        match collection {
            Some(c) => m.collections.get(c).map(|x| (c.to_string(), &**x)),
            None if m.collections.len() == 1 => {
                m.collections.iter().next().map(|(k, v)| (k.clone(), &**v))
            }
            None => None,
        }
    }
}

/// Validate a JSON request body.
fn check_body(
    body: &[u8],
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
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::param(bad, "body", "body", format!("the body is not JSON: {e}")))?;
    if let Some(e) = v.iter_errors(&value).next() {
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

/// "agents" -> "agent", for messages.
fn singular(name: &str) -> &str {
    name.strip_suffix('s').unwrap_or(name)
}

/// Match request segments against a template; returns path parameters and the literal count.
fn match_segments(tpl: &[Segment], segs: &[String]) -> Option<(Vec<(String, String)>, usize)> {
    if tpl.len() != segs.len() {
        return None;
    }
    let mut params = Vec::new();
    let mut lits = 0;
    for (t, s) in tpl.iter().zip(segs) {
        match t {
            Segment::Lit(l) if l == s => lits += 1,
            Segment::Lit(_) => return None,
            Segment::Param(p) => params.push((p.clone(), s.clone())),
        }
    }
    Some((params, lits))
}

/// Render an error in the API's envelope.
pub fn error_response(api: &Api, e: &ApiError, request_id: &str) -> Response {
    let body = api_error::render(&api.root.errors, e, request_id);
    let mut r = Response::json(e.status, &body);
    r.headers.extend(e.headers.iter().cloned());
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_match_with_params() {
        let tpl = vec![Segment::Lit("agents".into()), Segment::Param("id".into())];
        let (p, lits) = match_segments(&tpl, &["agents".into(), "a b".into()]).unwrap();
        assert_eq!(p, vec![("id".to_string(), "a b".to_string())]);
        assert_eq!(lits, 1);
        assert!(match_segments(&tpl, &["agents".into()]).is_none());
    }
}
