//! Writes through the API: a create, replace, update, delete or archive of one entity, kept
//! in the caller's session (its overlay of the collection), so that lists, details, filters,
//! sorts, totals and page walks of that session all see it and no other session does. The
//! written entity is checked against the collection's schemas before it is kept: a body
//! value the entity's schema refuses gives way to the value it replaced.

use std::hash::Hasher;

use serde_json::{Map, Value};
use siphasher::sip::SipHasher13;

use super::route::Routed;
use super::{Engine, Request, Response, render};
use crate::api_error::ApiError;
use crate::data::path::{extract, root_of, set_path};
use crate::data::write::{self as w, Merge};
use crate::data::{Collection, CollectionModel, Entity, View};
use crate::query::params::Params;
use crate::scenario::session::{self, Session};
use std::sync::Arc;

use crate::spec::behaviour::{Action, Bound, Reply, Timeline, Write, WriteKind};

/// Whether the collection's detail refuses a key it does not know (it documents a 404), as
/// opposed to answering every key from its schema.
fn detail_refuses_unknown(r: &Routed, collection: &str) -> bool {
    r.mount.api.operations.iter().any(|op| {
        op.bound
            .as_ref()
            .is_some_and(|b| b.collection == collection && matches!(b.action, Action::Get(_)))
            && op.response(404).is_some()
    })
}

/// How many times a create generates its key again when the key is taken.
const KEY_DRAWS: u64 = 8;

/// How many times a written entity is checked and its refused fields put back.
const REPAIRS: usize = 3;

impl Engine {
    /// A write operation's answer, its change kept in `session`.
    pub(super) fn write(
        &self,
        r: &Routed,
        req: &Request,
        session: &mut Session,
        request_id: &str,
    ) -> Result<Response, ApiError> {
        let Some((x, wr)) =
            r.op.bound
                .as_ref()
                .filter(|_| !r.mount.fallback.contains(&r.op_index))
                .and_then(|x| Some((x, x.action.write()?)))
        else {
            return self.serve(r, req, Some(session), request_id);
        };
        let query: Vec<(String, String)> = form_urlencoded::parse(req.query().as_bytes())
            .into_owned()
            .collect();
        let (params, body) = self.prepare_with_body(r, req, &query, true)?;
        if let Some(sc) = &x.scope {
            super::actions::check_scope(r, sc, &params, Some(session))?;
        }
        // A body that is not a JSON object (where that is not refused) sets nothing.
        let body = body
            .filter(Value::is_object)
            .unwrap_or_else(|| Value::Object(Map::new()));
        self.apply_write(r, x, wr, &params, &body, session, request_id)
    }

    /// Apply write `wr` of operation `x` with `params` and `body` to `session`, and answer it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn apply_write(
        &self,
        r: &Routed,
        x: &Bound,
        wr: &Write,
        params: &Params,
        body: &Value,
        session: &mut Session,
        request_id: &str,
    ) -> Result<Response, ApiError> {
        let api = &r.mount.api;
        let bad = super::actions::bad_request(r);
        let coll = r
            .mount
            .collections
            .get(&x.collection)
            .ok_or_else(|| ApiError::new(500, "collection missing"))?;
        let model = &coll.model;
        let base_len = coll.len();
        let target = {
            let view = View::new(coll, session.overlay(&api.name, &x.collection));
            let found = match (&wr.key, &wr.key_from_body) {
                (Some(k), _) => Some(self.lookup(k, &x.collection, params, &view, bad)),
                (None, Some(ptr)) => {
                    let key = ptr
                        .get(body)
                        .map(CollectionModel::key_text)
                        .unwrap_or_default();
                    Some(
                        view.lookup(&key)
                            .ok_or_else(|| super::actions::not_found(&x.collection, &key)),
                    )
                }
                (None, None) => None,
            };
            match found {
                None => None,
                Some(Ok(i)) => Some((i, view.entity_to_write_checked(i))),
                // An unknown key where the operation documents no error for it, or where the
                // collection's detail shows every key (it documents no 404 and answers from
                // its schema): the answer generated from the schema, and nothing written, as
                // the detail would.
                Some(Err(e))
                    if r.op.response(e.status).is_none()
                        || (e.status == 404 && !detail_refuses_unknown(r, &x.collection)) =>
                {
                    return self.generated(r, &Request::default());
                }
                Some(Err(e)) => return Err(e),
            }
        };
        if let Some((_, (before, _))) = &target {
            for (field, values) in &wr.refuse_when {
                let v = extract(before, field);
                if values.contains(&v) {
                    let key = CollectionModel::key_text(&extract(before, &model.key));
                    return Err(ApiError::new(
                        bad,
                        format!(
                            "{} '{key}' cannot be changed while its {field} is {v}",
                            super::actions::singular(&x.collection)
                        ),
                    ));
                }
            }
        }
        let keeps = !matches!(wr.kind, WriteKind::Delete);
        if keeps
            && (session.written >= session::MAX_WRITES
                || session.written_bytes >= session::MAX_WRITE_BYTES)
        {
            return Err(ApiError::new(
                403,
                format!(
                    "this understudy session has made its most writes ({} writes, or {} MiB \
                     of written entities): reset it (POST /__understudy/reset with its \
                     X-Understudy-Session header) or use another session",
                    session::MAX_WRITES,
                    session::MAX_WRITE_BYTES >> 20
                ),
            ));
        }
        // The server's budget for all sessions' writes: refused once spent (what a write
        // holds is counted after it, so concurrent writes overshoot by an entity each).
        if keeps && !self.sessions.has_room(1) {
            return Err(ApiError::new(
                403,
                format!(
                    "this understudy server holds its most written entities ({} MiB across \
                     sessions): reset sessions (POST /__understudy/reset) to free them",
                    session::MAX_TOTAL_WRITE_BYTES >> 20
                ),
            ));
        }
        // Whether the write brings a fractional number (the body, or a value the spec sets).
        let floats = w::has_float(body)
            || wr
                .set
                .iter()
                .chain(&wr.defaults)
                .any(|(_, v)| w::has_float(v))
            || matches!(&wr.kind, WriteKind::Archive(sets) if sets.iter().any(|(_, v)| w::has_float(v)));
        // Taken for good only once the write is kept (a refused one moves no clock).
        let (now, stamp_ms) = session.next_write_time();
        let (written, index) = match (&wr.kind, target) {
            (WriteKind::Create, _) => {
                let view = View::new(coll, session.overlay(&api.name, &x.collection));
                let index = view.len() as u32;
                // What the position would hold without the write: generated only when a
                // written field must give way.
                let generated = std::cell::OnceCell::new();
                let plain = || {
                    generated.get_or_init(|| Entity::new(model, self.seed, u64::from(index)).full())
                };
                // The client's fields, the key it chose, the server's defaults for what the
                // body did not give, the fields the server sets and the write's times: pinned,
                // so that the rest is generated around them (a key made from a given name).
                let mut given: Vec<(String, Value)> = wr
                    .accepts
                    .iter()
                    .filter_map(|(to, from)| Some((to.clone(), from.get(body)?.clone())))
                    .collect();
                if let Some(k) = wr.client_key.as_ref().and_then(|f| f.get(body)) {
                    given.push((model.key.clone(), k.clone()));
                }
                let mut server: Vec<(String, Value)> = wr
                    .defaults
                    .iter()
                    .filter(|(path, _)| !given.iter().any(|(g, _)| g == path))
                    .cloned()
                    .collect();
                server.extend(wr.set.iter().cloned());
                for (f, form) in wr.created.iter().chain(&wr.updated) {
                    server.push((f.clone(), form.value(now)));
                }
                let chosen = given.iter().any(|(p, _)| *p == model.key);
                let pins: crate::data::FastMap<String, Value> =
                    given.iter().chain(&server).cloned().collect();
                let make = |at: u64| {
                    let mut e = Entity::pinned(model, self.seed, at, &pins).full();
                    // What the server sets stands even where the client's values did not.
                    if self.keep_valid(r, coll, &mut e, floats, None, &plain) {
                        for (path, v) in &server {
                            set_path(&mut e, path, Some(v.clone()));
                        }
                    }
                    let key = CollectionModel::key_text(&extract(&e, &model.key));
                    (e, key)
                };
                let (mut e, mut key) = make(u64::from(index));
                // A generated key that a client-chosen one already took is generated again as
                // the next positions' would be (deterministically), so no position is stuck
                // on a conflict.
                let mut draw = 0;
                while !chosen && draw < KEY_DRAWS && view.lookup(&key).is_some() {
                    draw += 1;
                    (e, key) = make(u64::from(index) + draw);
                }
                if let Some(held) = view.lookup(&key) {
                    // Where the operation documents no refusal for it, a create of a taken
                    // key answers the entity that holds it, writing nothing.
                    return match self.conflict(r, &x.collection, &key) {
                        Some(e) => Err(e),
                        None => {
                            let e = view.entity(held);
                            self.write_reply(r, x, wr, params, e, held, request_id)
                        }
                    };
                }
                let overlay = session.overlay_mut(&api.name, &x.collection);
                let i = overlay.add(base_len, key, &e);
                (e, i)
            }
            (_, None) => return Err(ApiError::new(500, "a write without its entity")),
            (WriteKind::Delete, Some((i, (before, _)))) => {
                session
                    .overlay_mut(&api.name, &x.collection)
                    .deleted
                    .insert(i);
                // A timeline running for the entity ends with it.
                let key = CollectionModel::key_text(&extract(&before, &model.key));
                session.stop_runs_of(&key);
                (before, i)
            }
            (kind, Some((i, (mut e, checked)))) => {
                match kind {
                    WriteKind::Archive(sets) => {
                        for (path, v) in sets {
                            set_path(&mut e, path, Some(v.clone()));
                        }
                    }
                    WriteKind::Replace => {
                        w::apply(&mut e, body, &wr.accepts, Merge::Replace, &model.node)
                    }
                    WriteKind::UpdateKeepingNulls => {
                        w::apply(&mut e, body, &wr.accepts, Merge::Partial, &model.node)
                    }
                    _ => w::apply(&mut e, body, &wr.accepts, Merge::Patch, &model.node),
                }
                for (path, v) in &wr.set {
                    set_path(&mut e, path, Some(v.clone()));
                }
                w::stamp(&mut e, &wr.updated, now);
                // Fields derived from what changed follow it.
                let changed: Vec<String> = wr
                    .accepts
                    .iter()
                    .filter(|(_, from)| from.get(body).is_some())
                    .map(|(to, _)| to.clone())
                    .chain(wr.set.iter().map(|(p, _)| p.clone()))
                    .chain(wr.updated.iter().map(|(p, _)| p.clone()))
                    .chain(match kind {
                        WriteKind::Archive(sets) => sets.iter().map(|(p, _)| p.clone()).collect(),
                        _ => Vec::new(),
                    })
                    .collect();
                let again = w::rederive(model, self.seed, u64::from(i), &mut e, &changed);
                // The top-level fields the write changed (a path's root as `extract` reads it,
                // and as `set_path` writes it: they differ for a name with `[`); a replace may
                // change every field.
                let mut tops: Vec<String> = Vec::new();
                let roots = changed
                    .iter()
                    .flat_map(|c| [root_of(c), c.split('.').next().unwrap_or(c)])
                    .chain(again.iter().map(String::as_str));
                for f in roots {
                    if !tops.iter().any(|t| t == f) {
                        tops.push(f.to_string());
                    }
                }
                let tops = (!matches!(kind, WriteKind::Replace)).then_some(&tops[..]);
                // Only what changed is checked where the entity is known to be valid: a copy
                // an earlier write checked, or a seeded entity found valid. One a scenario step
                // set may not be, and is checked whole, as before.
                // A seeded entity is known valid once checked whole: once for the process, as
                // every session starts from the same one.
                let checked = checked
                    || (View::new(coll, session.overlay(&api.name, &x.collection)).is_pristine(i)
                        && coll
                            .written_from(i)
                            .is_some_and(|w| w.valid_by(|v| self.entity_valid(r, coll, v))));
                let checked_only = tops.filter(|_| checked);
                // The entity before the write, read again only where a field must give way.
                let before = std::cell::OnceCell::new();
                let view = View::new(coll, session.overlay(&api.name, &x.collection));
                self.keep_valid(r, coll, &mut e, floats || !checked, checked_only, &|| {
                    before.get_or_init(|| view.entity_to_write(i))
                });
                let overlay = session.overlay_mut(&api.name, &x.collection);
                match tops {
                    Some(tops) => {
                        let base = coll.written_from(i);
                        overlay.set_changed(base_len, i, &e, tops, base.as_deref());
                    }
                    None => overlay.set(base_len, i, &e),
                }
                (e, i)
            }
        };
        session
            .overlay_mut(&api.name, &x.collection)
            .forget_orders();
        session.last_write_ms = Some(stamp_ms);
        if keeps {
            let size = session
                .overlay(&api.name, &x.collection)
                .map_or(0, |o| o.kept_bytes(base_len, index));
            session.written += 1;
            session.written_bytes += size;
            self.sessions.take(size);
        }
        let written = match (&wr.timeline, keeps) {
            (Some(t), true) => {
                self.start_timeline(session, t, &api.name, &written, model);
                // The answer shows what the timeline's first steps made of the entity.
                View::new(coll, session.overlay(&api.name, &x.collection)).entity(index)
            }
            _ => written,
        };
        // Where the answer shows the written entity as it is, the text the overlay keeps of
        // it is the answer, and a changed entity is remembered parsed for the next write or
        // read. A created one is not: a stream of creates would churn the process's parsed
        // copies, each evicting (and freeing) a cold one, which costs a create more than the
        // parse its first update makes (that update remembers it).
        if let (None, true, Reply::Entity { item }) = (&wr.timeline, keeps, &wr.reply)
            && self.shows_as_is(r, x, wr.status, item, &written)
            && let Some(text) = session
                .overlay(&api.name, &x.collection)
                .and_then(|o| o.kept_text(base_len, index))
        {
            let text = bytes::Bytes::copy_from_slice(text.as_bytes());
            if !matches!(wr.kind, WriteKind::Create) {
                session
                    .overlay_mut(&api.name, &x.collection)
                    .remember(index, written, text.len());
            }
            return Ok(Response::bytes(
                wr.status,
                render::envelope_with_item(item, text),
            ));
        }
        self.write_reply(r, x, wr, params, written, index, request_id)
    }

    /// Whether the answer of status `status` shows `entity` at `item` as it is: no shape
    /// variant, no optional parts left out, nothing the schema leaves out or reorders.
    fn shows_as_is(&self, r: &Routed, x: &Bound, status: u16, item: &str, entity: &Value) -> bool {
        let shape = r.shape_op();
        let node = shape
            .response(status)
            .and_then(|d| d.node.as_ref())
            .and_then(|n| n.at_pointer(item));
        r.variant.is_none()
            && x.expand.is_empty()
            && x.include.is_none()
            && node.is_none_or(|n| render::projected(entity, n))
    }

    /// What a write answers: the written entity where its documented body holds one, nothing
    /// for no content, else a body generated from the schema.
    #[allow(clippy::too_many_arguments)]
    fn write_reply(
        &self,
        r: &Routed,
        x: &Bound,
        wr: &Write,
        params: &Params,
        entity: Value,
        index: u32,
        request_id: &str,
    ) -> Result<Response, ApiError> {
        let shape = r.shape_op();
        let node = shape.response(wr.status).and_then(|d| d.node.as_ref());
        Ok(match &wr.reply {
            Reply::Empty => {
                let mut resp = Response::bytes(wr.status, bytes::Bytes::new());
                resp.headers.clear();
                resp
            }
            Reply::Entity { item } => {
                let n = node.and_then(|n| n.at_pointer(item));
                let shown = render::item(r.shaped(&x.collection, entity), n, x, params);
                let bytes = bytes::Bytes::from(crate::data::json::to_vec(&shown));
                Response::bytes(wr.status, render::envelope_with_item(item, bytes))
            }
            Reply::Generated(model) => {
                // New for every write, yet a pure function of (seed, operation, entity,
                // request id).
                let mut h = SipHasher13::new_with_keys(self.seed, r.op_index as u64);
                h.write_u32(index);
                h.write(request_id.as_bytes());
                let settle = |v: &mut Value| {
                    if let Value::Object(m) = v {
                        for f in &wr.done_flags {
                            m.insert(f.clone(), Value::Bool(true));
                        }
                    }
                };
                Response::bytes(
                    wr.status,
                    self.valid_body(r, wr.status, model, h.finish(), settle),
                )
            }
        })
    }

    /// Check a written entity against the collection's schemas; put back, from `before`, the
    /// top-level fields that make it invalid (all of it when the fault is not in one field).
    /// `before` is asked for only then. Says whether it put anything back. `changed`: the only
    /// top-level fields the write changed in an entity known to be valid, where it knows them.
    /// `ints`: whether an integer field may hold a number a client reads as a float (a whole
    /// number past 64 bits), which JSON Schema accepts: only where the write brought a
    /// fractional number, or the entity is not known to be valid (generated values fit).
    #[allow(clippy::too_many_arguments)]
    fn keep_valid<'b>(
        &self,
        r: &Routed,
        coll: &Collection,
        e: &mut Value,
        ints: bool,
        changed: Option<&[String]>,
        before: &dyn Fn() -> &'b Value,
    ) -> bool {
        let checks = r.mount.entity_checks(&coll.model);
        // Only the changed fields, where the schemas allow it: the answer is the same as the
        // whole entity's when it was valid before.
        if !ints
            && let (Some(changed), Some(checks)) = (changed, checks)
            && checks.changed_valid(e, changed) == Some(true)
        {
            return false;
        }
        let validators = checks.map_or(&[][..], |c| c.whole());
        let mut repaired = false;
        for _ in 0..REPAIRS {
            let mut bad: Vec<String> = Vec::new();
            let mut whole = false;
            if ints {
                bad.extend(w::unfit_fields(e, &coll.model.node).map(str::to_string));
            }
            for v in validators {
                if v.is_valid(e) {
                    continue;
                }
                for err in v.iter_errors(e) {
                    let path = err.instance_path().to_string();
                    match path.split('/').nth(1) {
                        Some(seg) => {
                            let f = crate::spec::schema::unescape(seg);
                            if !bad.contains(&f) {
                                bad.push(f);
                            }
                        }
                        None => whole = true,
                    }
                }
            }
            if bad.is_empty() && !whole {
                return repaired;
            }
            if whole {
                break;
            }
            w::revert(e, before(), &bad);
            repaired = true;
        }
        // Still invalid: keep the entity as it was, with the write's own timestamps.
        let key = extract(e, &coll.model.key);
        *e = before().clone();
        set_path(e, &coll.model.key, Some(key));
        true
    }

    /// Whether `v` passes what [`Engine::keep_valid`] checks: its integers fit and every
    /// component schema of the collection accepts it.
    fn entity_valid(&self, r: &Routed, coll: &Collection, v: &Value) -> bool {
        w::unfit_fields(v, &coll.model.node).next().is_none()
            && r.mount
                .entity_checks(&coll.model)
                .is_none_or(|c| c.whole().iter().all(|val| val.is_valid(v)))
    }

    /// Start the timeline scenario of a write for the entity it wrote (or the scenario a
    /// session step substituted for it): one run per entity, a new write replacing the run
    /// an earlier one started. A timeline that cannot start is logged; the write stands.
    fn start_timeline(
        &self,
        session: &mut Session,
        t: &Timeline,
        api: &str,
        written: &Value,
        model: &CollectionModel,
    ) {
        let name = session
            .substitutes
            .get(&t.scenario)
            .cloned()
            .unwrap_or_else(|| t.scenario.clone());
        let Some(sc) = self.sessions.scenarios.get(&name) else {
            tracing::debug!("{api}: a write's timeline names no loaded scenario '{name}'");
            return;
        };
        let key = CollectionModel::key_text(&extract(written, &model.key));
        // Each entity has its own run (`NAME@KEY`), so that runs for two entities go on side
        // by side; a new write replaces its entity's run, whichever scenario it was.
        session.stop_runs_of(&key);
        let mut instance = (**sc).clone();
        instance.name = format!("{name}@{key}");
        let given = [(t.input.clone(), Value::String(key))];
        if let Err(m) = session.start_with(Arc::new(instance), self.seed, self, &given) {
            tracing::warn!("{api}: the timeline '{name}' of a write did not start: {m}");
        }
    }

    /// A client-chosen key that another entity has: 409 where the operation documents it,
    /// else the 400 or 422 it documents; `None` when it documents neither.
    fn conflict(&self, r: &Routed, collection: &str, key: &str) -> Option<ApiError> {
        let bad = super::actions::bad_request(r);
        let status = [409, bad]
            .into_iter()
            .find(|s| r.op.response(*s).is_some())?;
        Some(ApiError::new(
            status,
            format!(
                "{} '{key}' already exists",
                super::actions::singular(collection)
            ),
        ))
    }
}
