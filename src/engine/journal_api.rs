//! The journal's admin calls (`/__understudy/requests`, documented in
//! `docs/admin-api.yaml`): list and filter the recent requests, show one, clear them, and the
//! verification calls tests make (`count`, `find`) with a request matcher.
//!
//! Each call is scoped to one session when it names one (a `session` filter, else the
//! `X-Understudy-Session` header), and sees every session otherwise.

use serde_json::{Value, json};

use super::admin::error;
use super::journal::{Matcher, entry_json};
use super::{Engine, Request, Response, SESSION_HEADER};

/// Entries a list shows when the call names no limit.
const DEFAULT_LIMIT: usize = 100;

/// The session a call is scoped to when its matcher names none: the header's.
fn scope(m: &mut Matcher, req: &Request) {
    if m.session.is_none() {
        m.session = req.header_value(SESSION_HEADER).map(str::to_string);
    }
}

/// How full the journal is, as every answer says (so that a test can tell a count that may
/// have missed evicted requests).
fn journal_json(engine: &Engine) -> Value {
    let f = engine.journal().fill();
    let l = engine.journal().limits();
    json!({
        "entries": f.entries,
        "capacity": l.entries,
        "bytes": f.bytes,
        "evicted": f.evicted,
        "body_limit": l.body,
        "events": engine.journal().events().iter().map(|e| json!({
            "at": crate::data::entity::format_millis(e.at_ms),
            "kind": e.kind,
            "ok": e.ok,
            "message": e.message,
        })).collect::<Vec<_>>(),
    })
}

/// `GET /requests[?api&operation&method&path&status&session&unmatched&scripted&since&limit]`:
/// newest first.
pub(super) fn list(engine: &Engine, req: &Request) -> Response {
    let (mut m, limit) = match Matcher::from_query(req.query()) {
        Ok(x) => x,
        Err(e) => return error(400, e.to_string()),
    };
    scope(&mut m, req);
    let found = engine.journal().select(&m);
    let shown: Vec<Value> = found
        .iter()
        .take(limit.unwrap_or(DEFAULT_LIMIT))
        .map(|e| entry_json(e, engine, false))
        .collect();
    Response::json(
        200,
        &json!({
            "requests": shown,
            "matched": found.len(),
            "journal": journal_json(engine),
        }),
    )
}

/// `GET /requests/{id}`: one entry, with the near misses of a request nothing matched.
pub(super) fn one(engine: &Engine, id: &str) -> Response {
    let entry = id.parse::<u64>().ok().and_then(|n| engine.journal().get(n));
    match entry {
        Some(e) => Response::json(200, &entry_json(&e, engine, true)),
        None => error(
            404,
            format!("no request '{id}' in the journal (it may have been evicted)"),
        ),
    }
}

/// `DELETE /requests[?session=S]`: forget the scoped session's requests, or all.
pub(super) fn clear(engine: &Engine, req: &Request) -> Response {
    let session = form_urlencoded::parse(req.query().as_bytes())
        .find(|(k, _)| k == "session")
        .map(|(_, v)| v.into_owned())
        .or_else(|| req.header_value(SESSION_HEADER).map(str::to_string));
    let cleared = engine.journal().clear(session.as_deref());
    Response::json(
        200,
        &json!({"cleared": cleared, "session": session, "journal": journal_json(engine)}),
    )
}

/// The matcher of a verification call's body, scoped.
fn matcher(req: &Request) -> Result<Matcher, super::journal::MatcherError> {
    let mut m = Matcher::from_json(&req.body)?;
    scope(&mut m, req);
    Ok(m)
}

/// `POST /requests/count`: how many requests the matcher selects.
pub(super) fn count(engine: &Engine, req: &Request) -> Response {
    match matcher(req) {
        Ok(m) => Response::json(
            200,
            &json!({
                "count": engine.journal().select(&m).len(),
                "journal": journal_json(engine),
            }),
        ),
        Err(e) => error(400, e.to_string()),
    }
}

/// `POST /requests/find`: the requests the matcher selects, newest first.
pub(super) fn find(engine: &Engine, req: &Request) -> Response {
    match matcher(req) {
        Ok(m) => {
            let found = engine.journal().select(&m);
            Response::json(
                200,
                &json!({
                    "count": found.len(),
                    "requests": found.iter().map(|e| entry_json(e, engine, true)).collect::<Vec<_>>(),
                    "journal": journal_json(engine),
                }),
            )
        }
        Err(e) => error(400, e.to_string()),
    }
}
