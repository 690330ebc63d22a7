//! The request engine: our own [`Request`] in, our own [`Response`] out. It mounts each loaded
//! API under its base path, routes to the operation, checks credentials and parameters, runs
//! the operation's declared action over the dataset, and renders errors in the API's envelope.
//! It knows nothing of hyper or sockets.

mod actions;
pub mod admin;
mod data_api;
mod entity_check;
pub mod journal;
mod journal_api;
pub mod live;
mod message;
pub mod metrics;
pub mod observe;
mod paging;
pub mod render;
mod route;
pub mod service;
mod ui;
mod write;

use crate::sync::lock;
pub use message::{Answered, Request, Response};
use route::Route;

use std::collections::BTreeMap;
use std::hash::Hasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use siphasher::sip::SipHasher13;

use crate::api_error::{self, ApiError};
use crate::auth::TokenDb;
use crate::contract::{self, Contract};
use crate::data::Collection;
use crate::error::{Error, Result};
use crate::scenario::session::{self, Datasets, Session, Sessions};
use crate::scenario::{self as scenario_mod, Scenario};
use crate::spec::{self, Api};

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
    /// (API, variant): the variant an API answers in when a request names none.
    pub variants: Vec<(String, String)>,
    /// Who may use the admin API.
    pub admin: admin::Guard,
    /// How much of the recent traffic the request journal keeps.
    pub journal: journal::Limits,
    /// Scenario time zero of every session, as wall-clock Unix ms (default 2026-11-01).
    pub epoch_ms: Option<i64>,
    /// Write an access-log line per request (`--access-log`).
    pub access_log: bool,
}

/// Collections larger than this are scanned off the async workers (see [`Engine::may_scan`]).
pub const SCAN_THRESHOLD: usize = 20_000;

/// The header that selects a scenario session.
pub const SESSION_HEADER: &str = "x-understudy-session";
/// [`SESSION_HEADER`] as a header name.
pub(crate) const SESSION: http::HeaderName = http::HeaderName::from_static(SESSION_HEADER);
/// [`spec::VARIANT_HEADER`] as a header name.
const VARIANT: http::HeaderName = http::HeaderName::from_static(spec::VARIANT_HEADER);

/// The header every answer names its request id in.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// [`REQUEST_ID_HEADER`] as a header name.
pub(crate) const REQUEST_ID: http::HeaderName = http::HeaderName::from_static(REQUEST_ID_HEADER);

/// One API mounted at a prefix, with its dataset.
pub struct Mount {
    /// Where the document's server path starts (`/NAME/v1`, or `/v1` at the root): the base
    /// URL a client is given, for messages and listings.
    pub prefix: String,
    /// The mount points the API answers under: `/NAME`, and `""` (the root) when it is the
    /// only API served.
    pub at: Vec<String>,
    /// The document's server path (`/v1`), accepted but not required below a mount point.
    pub base: String,
    pub api: Arc<Api>,
    pub collections: BTreeMap<String, Arc<Collection>>,
    /// Response validators, with `--strict`.
    contract: Option<Contract>,
    /// Validators of the answers generated for operations without an action.
    generated: Contract,
    /// Operations whose inferred action gave an answer that does not validate: they answer
    /// from their schema instead.
    fallback: std::collections::HashSet<usize>,
    /// Request body validators by operation index.
    bodies: BTreeMap<usize, (bool, jsonschema::Validator)>,
    /// Serialized items of unchanged entities.
    rendered: render::RenderCache,
    /// Whole successful answers over unchanged data.
    answers: render::AnswerCache,
    /// The API's variants, by name, and the one used when a request names none.
    variants: BTreeMap<String, MountVariant>,
    default_variant: Option<String>,
    /// Validators of each collection's entities, made on the first write.
    entities: BTreeMap<String, std::sync::OnceLock<entity_check::EntityChecks>>,
}

/// A variant of a mounted API: its shapes and, with `--strict`, their validators.
pub struct MountVariant {
    pub variant: Arc<spec::Variant>,
    contract: Option<Contract>,
    /// Mixed into render-cache keys, so variants never share cached items.
    tag: u64,
}

impl MountVariant {
    /// The entity in this variant's shape: its derived fields set from the document's ones.
    fn derive(&self, collection: &str, mut entity: Value) -> Value {
        if let Some(fields) = self.variant.derive.get(collection) {
            let base = entity.clone();
            for (path, t) in fields {
                crate::data::path::set_path(&mut entity, path, Some(t.derive(&base)));
            }
        }
        entity
    }
}

impl Mount {
    /// The checks a written entity of `model` must pass: against each component schema of the
    /// collection (those that do not compile are left out, as for request bodies); `None` for
    /// a collection the mount does not have.
    fn entity_checks(
        &self,
        model: &crate::data::CollectionModel,
    ) -> Option<&entity_check::EntityChecks> {
        let cell = self.entities.get(&model.name)?;
        Some(cell.get_or_init(|| {
            entity_check::EntityChecks::new(&self.api.doc, self.generated.schemas(), &model.schemas)
        }))
    }

    /// Whether operation `op` answers from its schema although it has an (inferred) action,
    /// because that action's sample answers did not validate.
    pub fn answers_from_schema(&self, op: usize) -> bool {
        self.fallback.contains(&op)
    }

    /// The variant a request asks for (header, else the mount's default); an unknown name is
    /// the API's bad request.
    fn variant_for(&self, req: &Request) -> Result<Option<&MountVariant>, ApiError> {
        let name = req
            .header_named(&VARIANT)
            .or(self.default_variant.as_deref());
        match name {
            None => Ok(None),
            Some(n) => self.variants.get(n).map(Some).ok_or_else(|| {
                let known: Vec<&str> = self.variants.keys().map(String::as_str).collect();
                ApiError::param(
                    self.api.bad_request_status,
                    "header",
                    spec::VARIANT_HEADER,
                    format!(
                        "{}: no variant '{n}' of this API (variants: {})",
                        spec::VARIANT_HEADER,
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                )
            }),
        }
    }
}

/// An operation's names: what the journal and the access log keep of the operation that
/// answered (a reload renumbers operations; the names stay true).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpName {
    pub api: Arc<str>,
    /// Its `operationId`.
    pub id: Option<String>,
    pub method: String,
    /// As the document writes it.
    pub path: String,
}

impl OpName {
    /// How metrics and logs name it: its `operationId`, else `METHOD /path`.
    pub fn label(&self) -> String {
        self.id
            .clone()
            .unwrap_or_else(|| format!("{} {}", self.method, self.path))
    }

    /// Whether `want` names it: its `operationId`, or `METHOD /path`.
    pub fn is(&self, want: &str) -> bool {
        self.id.as_deref() == Some(want)
            || want
                .split_once(' ')
                .is_some_and(|(m, p)| m.eq_ignore_ascii_case(&self.method) && p == self.path)
    }
}

/// The engine.
pub struct Engine {
    mounts: Vec<Mount>,
    /// The mounts' points, sorted once for routing.
    points: route::Points,
    /// Whether any answer is checked against its contract (`--strict`).
    strict: bool,
    seed: u64,
    tokens: Option<TokenDb>,
    requests: AtomicU64,
    pub sessions: Sessions,
    /// Whether any collection is over [`SCAN_THRESHOLD`].
    large: bool,
    admin: admin::Guard,
    /// Where the default session's changes are kept (`--state`).
    journal: Option<Box<dyn crate::state::Journal>>,
    /// The recent requests (`/__understudy/requests`), kept across reloads.
    recent: Arc<journal::Journal>,
    /// How the last reloads went (`--watch`), kept across reloads.
    reloads: Arc<std::sync::Mutex<live::Reloads>>,
    metrics: metrics::Metrics,
    redactor: journal::Redactor,
    started: std::time::Instant,
    /// Whether each request gets an access-log line.
    access_log: bool,
    /// Every operation's names, by mount and index (see [`OpName`]).
    names: Vec<Vec<Arc<OpName>>>,
    /// Whether every column and order has been computed ([`Engine::warm`]).
    warmed: std::sync::atomic::AtomicBool,
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
        // One API alone answers at the root too (as written, and under its server path), so a
        // client given `http://HOST:PORT` as its base URL reaches the document's paths.
        let root = apis.len() == 1;
        let mut mounts = Vec::new();
        for api in apis {
            let indexed = spec::indexed_fields(&api);
            let mut collections = BTreeMap::new();
            for (cname, model) in &api.models {
                let fields = indexed.get(cname).cloned().unwrap_or_default();
                let count = match cfg.count {
                    Some(n) if !model.is_static() => n,
                    _ => model.count,
                };
                let built = Collection::build(
                    model.clone(),
                    cfg.seed,
                    count,
                    &fields.filtered,
                    &fields.sorted,
                    &fields.scanned,
                );
                match built {
                    Ok(c) => {
                        collections.insert(cname.clone(), Arc::new(c));
                    }
                    // An inferred collection that cannot be built (keys that repeat at this
                    // seed and size) is left out: its operations answer from their schemas.
                    Err(e) if api.inferred_collections.contains(cname) => {
                        tracing::info!("{}: inferred collection '{cname}' left out: {e}", api.name);
                    }
                    Err(e) => return Err(e),
                }
            }
            let at = if root {
                vec![String::new(), format!("/{}", api.name)]
            } else {
                vec![format!("/{}", api.name)]
            };
            let prefix = format!("{}{}", at[0], api.base_path);
            // The document's components, registered once for every validator of the API.
            let schemas = Arc::new(contract::Schemas::new(&api).map_err(Error::Config)?);
            let contract = cfg
                .strict
                .then(|| Contract::with_schemas(schemas.clone(), &api));
            let bodies = contract::request_body_validators(&schemas, &api);
            let generated = Contract::for_generated(schemas, &api);
            let mut variants = BTreeMap::new();
            for (vname, v) in &api.variants {
                let contract = if cfg.strict {
                    Some(Contract::new(&v.api).map_err(Error::Config)?)
                } else {
                    None
                };
                let mut h = SipHasher13::new_with_keys(0x7661_7269, 0x0061_6e74);
                h.write(vname.as_bytes());
                variants.insert(
                    vname.clone(),
                    MountVariant {
                        variant: v.clone(),
                        contract,
                        tag: h.finish(),
                    },
                );
            }
            let default_variant = cfg
                .variants
                .iter()
                .find(|(a, _)| *a == api.name)
                .map(|(_, v)| v.clone());
            if let Some(v) = &default_variant
                && !variants.contains_key(v)
            {
                return Err(Error::Config(format!(
                    "--variant {}={v}: the API has no such variant (variants: {})",
                    api.name,
                    variants.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
            let entities = collections
                .keys()
                .map(|c| (c.clone(), std::sync::OnceLock::new()))
                .collect();
            mounts.push(Mount {
                entities,
                prefix,
                at,
                base: api.base_path.clone(),
                api: Arc::new(api),
                collections,
                contract,
                generated,
                fallback: Default::default(),
                bodies,
                rendered: render::RenderCache::default(),
                answers: render::answer_cache(),
                variants,
                default_variant,
            });
        }
        for (a, v) in &cfg.variants {
            if !mounts.iter().any(|m| m.api.name == *a) {
                return Err(Error::Config(format!(
                    "--variant {a}={v}: no such API is served"
                )));
            }
        }
        // Listed (index, admin) longest prefix first; routing reads its own sorted points.
        mounts.sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
        let points = route::Points::new(&mounts);
        let strict = mounts
            .iter()
            .any(|m| m.contract.is_some() || m.variants.values().any(|v| v.contract.is_some()));
        let large = mounts
            .iter()
            .flat_map(|m| m.collections.values())
            .any(|c| c.len() > SCAN_THRESHOLD);
        let mut engine = Engine {
            admin: cfg.admin.clone(),
            large,
            mounts,
            points,
            strict,
            seed: cfg.seed,
            tokens: cfg.tokens.clone(),
            requests: AtomicU64::new(0),
            sessions: Sessions::new(cfg.scenarios.clone(), cfg.start.clone()),
            journal: None,
            recent: Arc::new(journal::Journal::new(cfg.journal)),
            reloads: Arc::default(),
            metrics: metrics::Metrics::new(&[]),
            redactor: journal::Redactor::default(),
            started: std::time::Instant::now(),
            access_log: cfg.access_log,
            names: Vec::new(),
            warmed: std::sync::atomic::AtomicBool::new(false),
        };
        engine.sessions.epoch_ms = cfg.epoch_ms;
        engine.names = engine
            .mounts
            .iter()
            .map(|m| {
                let api: Arc<str> = Arc::from(m.api.name.as_str());
                m.api
                    .operations
                    .iter()
                    .map(|op| {
                        Arc::new(OpName {
                            api: api.clone(),
                            id: op.id.clone(),
                            method: op.method.clone(),
                            path: op.path.clone(),
                        })
                    })
                    .collect()
            })
            .collect();
        engine.metrics = metrics::Metrics::new(&engine.names);
        engine.redactor = journal::Redactor::for_schemes(
            engine.mounts.iter().flat_map(|m| m.api.schemes.values()),
        );
        engine.try_inferred();
        engine.check_timelines();
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

    /// Answer one request of each inferred action (its first page; its first entity) and keep
    /// the action only if the answer validates against the operation's documented schema.
    fn try_inferred(&mut self) {
        let mut failed: Vec<(usize, usize)> = Vec::new();
        for (mi, m) in self.mounts.iter().enumerate() {
            for (oi, op) in m.api.operations.iter().enumerate() {
                let Some(x) = op.bound.as_ref().filter(|_| op.inferred) else {
                    continue;
                };
                // A few entities for a detail (its first and its last ones); the first page for
                // a list.
                let keys: Vec<String> = match m.collections.get(&x.collection) {
                    Some(c) if !c.is_empty() => {
                        let v = crate::data::View::new(c, None);
                        let n = c.len() as u32;
                        let mut idx: Vec<u32> = (0..n.min(5)).collect();
                        idx.extend(n.saturating_sub(5)..n);
                        idx.dedup();
                        idx.into_iter().map(|i| v.key(i)).collect()
                    }
                    _ => vec!["x1".into()],
                };
                let key_param = x.action.key_param();
                let keys = if key_param.is_some() {
                    keys
                } else {
                    keys[..1].to_vec()
                };
                let mut ok = true;
                for key in keys {
                    let filled = op.path_with(|p| {
                        Some(if key_param == Some(p) {
                            key.clone()
                        } else {
                            "x1".into()
                        })
                    });
                    let path = format!("{}{filled}", m.at[0]);
                    let req = Request::get(&path).with_method(&op.method);
                    ok &= match self.route(&req) {
                        Route::Found(r) if r.op_index == oi => {
                            let answer = match x.action.write() {
                                // A write is tried on a scratch session with an empty body
                                // (what a body may hold is the request schema's business).
                                Some(wr) => {
                                    let mut scratch = Session::default();
                                    let params = key_param
                                        .map(|k| (k.to_string(), Value::String(key.clone())))
                                        .into_iter()
                                        .collect();
                                    let body = Value::Object(serde_json::Map::new());
                                    self.apply_write(
                                        &r,
                                        x,
                                        wr,
                                        &params,
                                        &body,
                                        &mut scratch,
                                        "req_inference_check",
                                    )
                                }
                                None => self.serve(&r, &req, None, "req_inference_check"),
                            };
                            match answer {
                                Ok(resp) => m
                                    .generated
                                    .check(&m.api, oi, resp.status, &resp.body)
                                    .is_empty(),
                                Err(_) => false,
                            }
                        }
                        _ => false,
                    };
                    if !ok {
                        break;
                    }
                }
                if !ok {
                    tracing::info!(
                        "{}: {} {}: the inferred action does not answer as documented; it \
                         answers from its schema",
                        m.api.name,
                        op.method,
                        op.path,
                    );
                    failed.push((mi, oi));
                }
            }
        }
        // A collection is served whole or not at all: when one of its inferred actions fails,
        // all of them answer from their schemas (a detail must not show what no list shows).
        for (mi, oi) in failed {
            if let Some(m) = self.mounts.get_mut(mi) {
                // A write that does not answer as documented is left out alone: the
                // collection's reads still agree with each other.
                if m.api.operations[oi]
                    .bound
                    .as_ref()
                    .is_some_and(|x| x.action.write().is_some())
                {
                    m.fallback.insert(oi);
                    continue;
                }
                let coll = m.api.operations[oi]
                    .bound
                    .as_ref()
                    .map(|x| x.collection.clone());
                let same: Vec<usize> = m
                    .api
                    .operations
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| {
                        o.inferred && o.bound.as_ref().map(|x| &x.collection) == coll.as_ref()
                    })
                    .map(|(i, _)| i)
                    .collect();
                m.fallback.extend(same);
            }
        }
    }

    /// Say once, at start, which writes name a timeline scenario this server has not loaded
    /// (or one for another API): those writes keep their effect but start nothing.
    fn check_timelines(&self) {
        for m in &self.mounts {
            for op in &m.api.operations {
                let Some(t) = op
                    .bound
                    .as_ref()
                    .and_then(|x| x.action.write())
                    .and_then(|w| w.timeline.as_ref())
                else {
                    continue;
                };
                match self.sessions.scenarios.get(&t.scenario) {
                    None => tracing::warn!(
                        "{}: {} {}: its timeline scenario '{}' is not loaded; the write starts \
                         nothing",
                        m.api.name,
                        op.method,
                        op.path,
                        t.scenario
                    ),
                    Some(sc) if sc.api != m.api.name => tracing::warn!(
                        "{}: {} {}: its timeline scenario '{}' is for API '{}'",
                        m.api.name,
                        op.method,
                        op.path,
                        t.scenario,
                        sc.api
                    ),
                    Some(_) => {}
                }
            }
        }
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
        scenario_mod::check::check(sc, &api.api, api.generated.schemas(), self, self.seed)
    }

    /// With `--strict`: the response of the operation that answered, checked against its
    /// contract (body, and documented required headers). `None` when it keeps the contract
    /// (or nothing is checked); otherwise the 500 that replaces it (still naming the operation
    /// that answered), the violation logged.
    pub fn enforce(
        &self,
        req: &Request,
        status: u16,
        headers: &dyn Fn(&str) -> bool,
        body: &[u8],
        answered: &Answered,
        request_id: &str,
    ) -> Option<Response> {
        if answered.refused {
            return None;
        }
        let m = self.mounts.get(answered.mount)?;
        let (c, api) = match &answered.variant {
            Some(name) => {
                let v = m.variants.get(&**name)?;
                (v.contract.as_ref()?, &v.variant.api)
            }
            None => (m.contract.as_ref()?, &m.api),
        };
        let mut problems = c.check(api, answered.op, status, body);
        if let Some(def) = m
            .api
            .operations
            .get(answered.op)
            .and_then(|o| o.response(status))
        {
            for h in &def.required_headers {
                if !headers(&h.to_ascii_lowercase()) {
                    problems.push(format!("the documented header {h} is missing"));
                }
            }
        }
        if problems.is_empty() {
            return None;
        }
        tracing::error!(
            "contract violation: {} {}?{} -> {}: {}",
            req.method(),
            req.path(),
            req.query(),
            status,
            problems.join("; ")
        );
        let mut r = error_response(
            &m.api,
            &ApiError::new(
                500,
                format!(
                    "understudy --strict: the response ({status}) would break the contract: {}",
                    problems.join("; ")
                ),
            ),
            request_id,
        );
        if !request_id.is_empty() {
            r.add_header(REQUEST_ID_HEADER, request_id);
        }
        r.answered = Some(answered.clone());
        Some(r)
    }

    /// Compute every column and sort order of every dataset now, so that no request pays for
    /// them (run in the background after start-up).
    pub fn warm(&self) {
        for m in &self.mounts {
            for c in m.collections.values() {
                c.warm();
            }
        }
        self.warmed.store(true, Ordering::Release);
    }

    /// Whether [`Engine::warm`] has finished.
    pub fn warmed(&self) -> bool {
        self.warmed.load(Ordering::Acquire)
    }

    /// How long ago the engine was built.
    pub fn uptime(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// The request journal.
    pub fn journal(&self) -> &journal::Journal {
        &self.recent
    }

    /// Take over what outlives a reload from the engine this one replaces: the request
    /// journal, the metrics' counts and the reload history. Sessions start afresh (their
    /// scenarios and changes belong to the replaced specs).
    pub fn adopt(&mut self, old: &Engine) {
        self.recent = old.recent.clone();
        self.metrics = old.metrics.for_operations(&self.names);
        self.reloads = old.reloads.clone();
    }

    /// How the last reloads went.
    pub fn reloads(&self) -> live::Reloads {
        lock(&self.reloads).clone()
    }

    /// Note how a reload went.
    pub fn note_reload(&self, outcome: std::result::Result<(), String>) {
        lock(&self.reloads).note(outcome);
    }

    /// Whether each request gets an access-log line (`--access-log`).
    pub fn access_log(&self) -> bool {
        self.access_log
    }

    /// The metrics the observing layer counts.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.metrics
    }

    /// What hides credentials in the journal and the logs.
    pub fn redactor(&self) -> &journal::Redactor {
        &self.redactor
    }

    /// The names of the operation that answered, as records keep them.
    pub fn op_name(&self, a: &Answered) -> Option<Arc<OpName>> {
        self.names.get(a.mount)?.get(a.op).cloned()
    }

    /// The operations closest to a request that matched none, and why each did not match,
    /// as JSON (`[{"api", "operation", "operation_id", "why": [...]}]`).
    pub fn near_misses_json(&self, method: &str, path: &str) -> Value {
        route::near_misses_json(&route::near_misses(
            &self.mounts,
            &self.points,
            method,
            path,
        ))
    }

    /// The near misses of a request, as a sentence for an error message ("" when none).
    fn near_misses_text(&self, method: &str, path: &str) -> String {
        route::near_misses_text(&route::near_misses(
            &self.mounts,
            &self.points,
            method,
            path,
        ))
    }

    /// An error for `path` in the envelope of the API mounted there (plain JSON elsewhere), for
    /// failures found outside the engine (a body too large, a handler that failed).
    pub fn error_for_path(&self, path: &str, status: u16, message: &str) -> Response {
        let mount = self
            .mounts
            .iter()
            .filter(|m| m.at.iter().any(|a| route::under(path, a).is_some()))
            .max_by_key(|m| m.at.iter().map(String::len).max());
        let request_id = self.next_default_request_id();
        let mut resp = match mount {
            Some(m) => error_response(&m.api, &ApiError::new(status, message), &request_id),
            None => Response::json(status, &json!({ "error": message })),
        };
        resp.add_header_owned(REQUEST_ID, request_id);
        resp
    }

    /// Whether any answer is checked against its contract (`--strict`).
    pub fn strict(&self) -> bool {
        self.strict
    }

    /// Where a request goes.
    fn route(&self, req: &Request) -> Route<'_> {
        route::route(&self.mounts, &self.points, req)
    }

    /// The seed of the dataset.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The mounted APIs.
    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// The next request id of the default session (whether or not it exists yet), for answers
    /// made outside a session.
    fn next_default_request_id(&self) -> String {
        let sid = session::DEFAULT_SESSION;
        if !self.sessions.default_is_plain()
            && let Some(sess) = self.sessions.peek(sid)
        {
            let mut s = lock(&sess);
            s.requests += 1;
            return self.request_id(sid, s.requests);
        }
        self.plain_request_id()
    }

    /// The next request id of requests answered without a session.
    fn plain_request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        self.request_id(session::DEFAULT_SESSION, n)
    }

    /// The session `sid`, created on first use. A new default session continues the count of
    /// requests answered before it existed, so its request ids never repeat.
    pub fn session(
        &self,
        sid: &str,
    ) -> std::result::Result<Arc<std::sync::Mutex<Session>>, String> {
        let first = if sid == session::DEFAULT_SESSION {
            self.requests.load(Ordering::Relaxed)
        } else {
            0
        };
        self.sessions.get(sid, self.seed, self, first)
    }

    fn request_id(&self, session: &str, n: u64) -> String {
        let mut h = SipHasher13::new_with_keys(self.seed, 0x7265_7175_6573_7469);
        h.write(session.as_bytes());
        h.write_u64(n);
        let x = h.finish();
        let mut id = String::with_capacity(20);
        id.push_str("req_");
        // `{:016x}`, without the formatting machinery: this runs for every request.
        for shift in (0..16).rev() {
            id.push(char::from(
                b"0123456789abcdef"[((x >> (4 * shift)) & 0xF) as usize],
            ));
        }
        id
    }

    /// Whether answering `req` may scan a large collection (a list over more than
    /// [`SCAN_THRESHOLD`] entities), so that the server runs it off its async workers.
    pub fn may_scan(&self, req: &Request) -> bool {
        if !self.large {
            return false;
        }
        match self.route(req) {
            Route::Found(r) => r.op.bound.as_ref().is_some_and(|x| {
                x.action.is_list()
                    && r.mount
                        .collections
                        .get(&x.collection)
                        .is_some_and(|c| c.len() > SCAN_THRESHOLD)
            }),
            _ => false,
        }
    }

    /// Answer a request, with the checks the server layers around [`Engine::answer`]
    /// (`--strict`) applied in place: for tools and tests that call the engine directly.
    pub fn handle(&self, req: &Request) -> Response {
        let resp = self.answer(req);
        let Some(answered) = &resp.answered else {
            return resp;
        };
        let has = |h: &str| resp.has_header(h);
        let request_id = resp.header(REQUEST_ID_HEADER).unwrap_or("");
        match self.enforce(req, resp.status, &has, &resp.body, answered, request_id) {
            // The replacement keeps the scenario's delay or dropped connection.
            Some(r) => Response {
                delay: resp.delay,
                drop: resp.drop,
                ..r
            },
            None => resp,
        }
    }

    /// Answer a request, as the operation (or the admin API, or a scenario) would: no
    /// `--strict` check (see [`Engine::enforce`]). Never panics on any input.
    pub fn answer(&self, req: &Request) -> Response {
        if route::under(req.path(), admin::PREFIX).is_some() {
            return admin::handle(self, req);
        }
        let session_id = req.header_named(&SESSION);
        if let Some(sid) = session_id
            && let Err(m) = session::check_id(sid)
        {
            return self.error_for_path(req.path(), 400, &m);
        }
        // A write needs the session it lands in: the default one when the request names none.
        let route = self.route(req);
        let writes = writes(req, &route);
        let plain = session_id.is_none() && self.sessions.default_is_plain() && !writes;
        let (request_id, mut resp) = if plain {
            let id = self.plain_request_id();
            let resp = self.dispatch(req, route, None, &id);
            (id, resp)
        } else {
            let sid = session_id.unwrap_or(session::DEFAULT_SESSION);
            match self.session(sid) {
                Ok(sess) => {
                    let mut s = lock(&sess);
                    s.requests += 1;
                    let id = self.request_id(sid, s.requests);
                    let resp = self.dispatch(req, route, Some(&mut s), &id);
                    // Journaled while the session is still locked: the journal's order is the
                    // order the writes were applied in.
                    let resp = if writes {
                        self.keep(sid, req, resp)
                    } else {
                        resp
                    };
                    (id, resp)
                }
                Err(m) => {
                    let id = self.plain_request_id();
                    (id, Response::json(500, &json!({ "error": m })))
                }
            }
        };
        // One lookup: an answer that names its own request id (a scenario's header) keeps it.
        if let http::header::Entry::Vacant(slot) = resp.headers.entry(REQUEST_ID)
            && let Ok(v) = http::HeaderValue::try_from(request_id)
        {
            slot.insert(v);
        }
        resp
    }

    /// Keep the default session durable (`--state`): journal `req`, which changed it and was
    /// answered `resp`, before the answer leaves. A journal that cannot keep it turns the
    /// answer into a 500 (the client is never told a change succeeded that a restart would
    /// lose).
    pub(crate) fn keep(&self, sid: &str, req: &Request, resp: Response) -> Response {
        let Some(j) = &self.journal else {
            return resp;
        };
        if sid != session::DEFAULT_SESSION || !(200..300).contains(&resp.status) {
            return resp;
        }
        let entry = crate::state::Entry {
            method: req.method().to_string(),
            path: req.path().to_string(),
            query: req.query().to_string(),
            headers: req
                .header_pairs()
                .filter(|(k, _)| *k != SESSION_HEADER)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: String::from_utf8_lossy(&req.body).into_owned(),
        };
        match j.append(&entry) {
            Ok(()) => resp,
            Err(m) => {
                tracing::error!("--state: a change could not be kept: {m}");
                self.error_for_path(
                    req.path(),
                    500,
                    &format!("understudy --state: the change could not be kept: {m}"),
                )
            }
        }
    }

    /// Empty the journal of session `sid` (a reset of the default session).
    pub(crate) fn forget(&self, sid: &str) -> Result<(), String> {
        match &self.journal {
            Some(j) if sid == session::DEFAULT_SESSION => j.clear(),
            _ => Ok(()),
        }
    }

    /// Replay a journal into the default session (before it is attached), and attach it:
    /// returns how many entries did not apply as they did the first time (not 2xx).
    pub fn restore(
        &mut self,
        journal: Box<dyn crate::state::Journal>,
        entries: &[crate::state::Entry],
    ) -> usize {
        let mut failed = 0;
        for e in entries {
            let target = if e.query.is_empty() {
                e.path.clone()
            } else {
                format!("{}?{}", e.path, e.query)
            };
            let mut req = e
                .headers
                .iter()
                .fold(Request::get(&target).with_method(&e.method), |r, (k, v)| {
                    r.header(k, v)
                });
            req.body = bytes::Bytes::from(e.body.clone());
            // A hand-edited entry whose method or headers the `http` crate refuses is not
            // replayed as some other request.
            if !req.method().eq_ignore_ascii_case(&e.method)
                || req.headers().len() != e.headers.len()
            {
                failed += 1;
                tracing::warn!(
                    "--state: {} {} not replayed: its method or a header is not valid HTTP",
                    e.method,
                    e.path
                );
                continue;
            }
            let resp = self.answer(&req);
            if !(200..300).contains(&resp.status) {
                failed += 1;
                tracing::warn!(
                    "--state: {} {} answered {} on replay",
                    e.method,
                    e.path,
                    resp.status
                );
            }
        }
        self.journal = Some(journal);
        failed
    }

    /// Route and answer, within a session when there is one.
    fn dispatch(
        &self,
        req: &Request,
        route: Route<'_>,
        session: Option<&mut Session>,
        request_id: &str,
    ) -> Response {
        match route {
            Route::Found(mut r) => {
                // Credentials first: a scenario never answers (nor counts) a request that the
                // API itself would refuse, so it cannot reveal an endpoint to an anonymous
                // client. (A scenario that scripts a 401 or 403 still does so for clients
                // that present credentials.)
                let header = |h: &str| req.header_value(h);
                let presented = crate::auth::Presented {
                    header: &header,
                    query: req.query(),
                };
                // Refused before the operation runs: still the operation's request (for the
                // journal and metrics), not its answer (for --strict).
                let (mount, op) = (r.mount_index, r.op_index);
                let refused = move |resp: Response| Response {
                    answered: Some(Answered {
                        mount,
                        op,
                        variant: None,
                        scripted: None,
                        refused: true,
                    }),
                    ..resp
                };
                if let Err(e) = crate::auth::check(
                    &r.mount.api,
                    r.op,
                    r.op.bound.as_ref().and_then(|x| x.permission.as_deref()),
                    &presented,
                    self.tokens.as_ref(),
                ) {
                    return refused(op_error_response(&r.mount.api, r.op, &e, request_id));
                }
                match r.mount.variant_for(req) {
                    Ok(v) => r.variant = v,
                    Err(e) => {
                        return refused(op_error_response(&r.mount.api, r.op, &e, request_id));
                    }
                }
                let (mut rule, mut scripted) = (None, None);
                let mut session = session;
                if let Some(s) = session.as_deref_mut()
                    && let Some(o) =
                        s.on_request(&r.mount.api.name, &r.op.method, &r.op.path, self.seed, self)
                {
                    rule = Some(o.rule);
                    scripted = Some(Box::new(o.by));
                }
                let mut resp = match rule.as_ref().and_then(|x| x.status) {
                    Some(status) => {
                        let mut e = ApiError::new(
                            status,
                            rule.as_ref()
                                .and_then(|x| x.message.clone())
                                .unwrap_or_else(|| api_error::reason_phrase(status).to_string()),
                        );
                        if let Some(x) = &rule {
                            e.headers.extend(x.headers.iter().cloned());
                        }
                        op_error_response(&r.mount.api, r.op, &e, request_id)
                    }
                    None => {
                        let writes =
                            r.op.bound
                                .as_ref()
                                .is_some_and(|x| x.action.write().is_some());
                        let answer = match session {
                            Some(s) if writes => self.write(&r, req, s, request_id),
                            s => self.serve_cached(&r, req, s.map(|s| &*s), request_id),
                        };
                        match answer {
                            Ok(resp) => resp,
                            Err(e) => op_error_response(&r.mount.api, r.op, &e, request_id),
                        }
                    }
                };
                // The headers the response documents, where the answer has none of that name.
                if let Some(def) = r.op.response(resp.status) {
                    if def.request_id_uuid {
                        resp.add_header_owned(REQUEST_ID, uuid_of(request_id));
                    }
                    for (k, v) in &def.headers {
                        if !resp.has_header(k) {
                            resp.add_header(k, v);
                        }
                    }
                }
                resp.answered = Some(Answered {
                    mount: r.mount_index,
                    op: r.op_index,
                    variant: r.variant.map(|v| v.variant.name.clone()),
                    scripted,
                    refused: false,
                });
                if let Some(x) = &rule {
                    if x.status.is_none() {
                        resp.add_headers(&x.headers);
                    }
                    resp.delay = x.delay;
                    resp.drop = x.drop;
                }
                resp
            }
            Route::MethodNotAllowed(m, allow) => {
                let mut e =
                    ApiError::new(405, format!("method {} is not allowed here", req.method()));
                e.headers.push(("allow".into(), allow.join(", ")));
                error_response(&m.api, &e, request_id)
            }
            // `/` stays understudy's index, even with an API mounted at the root.
            _ if req.path() == "/" || req.path().is_empty() => self.index(req),
            Route::NotFound(Some(m)) => error_response(
                &m.api,
                &ApiError::new(
                    404,
                    format!(
                        "no route for {} {}{}",
                        req.method(),
                        req.path(),
                        self.near_misses_text(req.method(), req.path())
                    ),
                ),
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
                    "variants": m.variants.values().map(|v| json!({
                        "name": &*v.variant.name,
                        "description": v.variant.description,
                        "default": m.default_variant.as_deref() == Some(&*v.variant.name),
                    })).collect::<Vec<_>>(),
                    "operations": m.api.operations.iter()
                        .map(|o| format!("{} {}{}", o.method, m.prefix, o.path))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        if (req.path() == "/" || req.path().is_empty()) && req.method() != "GET" {
            let mut r = Response::json(
                405,
                &json!({ "error": format!("method {} is not allowed here", req.method()) }),
            );
            r.add_header("allow", "GET, HEAD");
            r
        } else if req.path() == "/" || req.path().is_empty() {
            Response::json(200, &json!({ "service": "understudy", "apis": apis }))
        } else {
            Response::json(
                404,
                &json!({
                    "error": format!("no API is mounted at {}", req.path()),
                    "near_misses": self.near_misses_json(req.method(), req.path()),
                    "apis": apis,
                }),
            )
        }
    }
}

impl Datasets for Engine {
    fn collection(&self, api: &str, collection: Option<&str>) -> Option<(String, &Collection)> {
        let m = self.mounts.iter().find(|m| m.api.name == api)?;
        match collection {
            Some(c) => m.collections.get(c).map(|x| (c.to_string(), &**x)),
            // Unnamed: the API's one generated collection (static rows are not what a
            // scenario changes by default).
            None => {
                let mut generated = m.collections.iter().filter(|(_, c)| !c.model.is_static());
                match (generated.next(), generated.next()) {
                    (Some((k, v)), None) => Some((k.clone(), &**v)),
                    _ => None,
                }
            }
        }
    }
}

/// A request id in UUID form (for APIs that document theirs as one), derived from it.
fn uuid_of(request_id: &str) -> String {
    let mut h = SipHasher13::new_with_keys(0x7575_6964, 0x0072_6571);
    h.write(request_id.as_bytes());
    let a = h.finish();
    h.write_u8(1);
    let b = h.finish();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        8 + (b >> 62),
        (b >> 48) & 0xfff,
        b & 0xffff_ffff_ffff
    )
}

/// Render an error of operation `op`: in the API's declared envelope when it has one, else in
/// the body the operation documents for that status (generated from its schema, the message
/// in the field meant for it), else in the default envelope.
pub fn op_error_response(
    api: &Api,
    op: &spec::Operation,
    e: &ApiError,
    request_id: &str,
) -> Response {
    if api.root.errors.body.is_none()
        && api.root.errors.by_status.is_empty()
        && let Some(def) = op.response(e.status)
        && let Some(body) = api_error::documented(api, def, e, request_id)
    {
        let mut r = Response::json(e.status, &body);
        r.add_headers(&e.headers);
        return r;
    }
    error_response(api, e, request_id)
}

/// Render an error in the API's envelope.
pub fn error_response(api: &Api, e: &ApiError, request_id: &str) -> Response {
    let body = api_error::render(&api.root.errors, e, request_id);
    let mut r = Response::json(e.status, &body);
    r.add_headers(&e.headers);
    r
}

/// Whether a request, routed to `route`, would run a write action (and so change its session).
fn writes(req: &Request, route: &Route<'_>) -> bool {
    if matches!(req.method(), "GET" | "HEAD" | "OPTIONS") {
        return false;
    }
    match route {
        Route::Found(r) => {
            r.op.bound.as_ref().is_some_and(|x| {
                x.action.write().is_some() && !r.mount.fallback.contains(&r.op_index)
            })
        }
        _ => false,
    }
}
