//! The data admin calls (`/__understudy/data`, documented in `docs/admin-api.yaml`): a
//! collection as one session sees it (its scenario and write changes included), a page at a
//! time, and one entity by key. Read-only: they never create the session they look at.

use serde_json::{Value, json};

use super::admin::{decoded, error};
use super::{Engine, Request, Response, SESSION_HEADER};
use crate::data::View;
use crate::scenario::session::DEFAULT_SESSION;
use crate::sync::lock;

/// Most entities a page shows.
const MAX_LIMIT: usize = 100;

/// The session a call looks at: the header's, else the default one.
fn session_of(req: &Request) -> &str {
    req.header_value(SESSION_HEADER).unwrap_or(DEFAULT_SESSION)
}

/// `GET /data`: every API's collections, with how many entities the session sees.
pub(super) fn index(engine: &Engine, req: &Request) -> Response {
    let session = engine.sessions.peek(session_of(req));
    let guard = session.as_ref().map(|s| lock(s));
    let apis: Vec<Value> = engine
        .mounts()
        .iter()
        .map(|m| {
            let collections: Vec<Value> = m
                .collections
                .iter()
                .map(|(name, c)| {
                    let overlay = guard.as_ref().and_then(|s| s.overlay(&m.api.name, name));
                    json!({
                        "name": name,
                        "key": c.model.key,
                        "count": View::new(c, overlay).live(),
                    })
                })
                .collect();
            json!({"api": m.api.name, "collections": collections})
        })
        .collect();
    Response::json(200, &json!({ "session": session_of(req), "apis": apis }))
}

/// `GET /data/{api}/{collection}[/{key}]`: a page of the collection in dataset order
/// (`offset`, `limit` up to 100), or one entity.
pub(super) fn collection(
    engine: &Engine,
    req: &Request,
    api: &str,
    name: &str,
    key: Option<&str>,
) -> Response {
    let (api, name) = (decoded(api), decoded(name));
    let Some(m) = engine.mounts().iter().find(|m| m.api.name == api) else {
        return error(404, format!("no API '{api}'"));
    };
    let Some(c) = m.collections.get(&name) else {
        let known: Vec<&str> = m.collections.keys().map(String::as_str).collect();
        return error(
            404,
            format!(
                "API '{api}' has no collection '{name}' (it has: {})",
                known.join(", ")
            ),
        );
    };
    let session = engine.sessions.peek(session_of(req));
    let guard = session.as_ref().map(|s| lock(s));
    let overlay = guard.as_ref().and_then(|s| s.overlay(&api, &name));
    let view = View::new(c, overlay);
    if let Some(key) = key {
        let key = decoded(key);
        return match view.lookup(&key) {
            Some(i) => Response::json(200, &view.entity(i)),
            None => error(
                404,
                format!("no entity '{key}' in {api}/{name} (as this session sees it)"),
            ),
        };
    }
    let (mut offset, mut limit) = (0usize, 20usize);
    for (k, v) in form_urlencoded::parse(req.query().as_bytes()) {
        let n = v.parse::<usize>();
        match (&*k, n) {
            ("offset", Ok(n)) => offset = n,
            ("limit", Ok(n)) if (1..=MAX_LIMIT).contains(&n) => limit = n,
            _ => {
                return error(
                    400,
                    format!("{k}={v}: the filters are offset (0...) and limit (1 to {MAX_LIMIT})"),
                );
            }
        }
    }
    let len = u32::try_from(view.len()).unwrap_or(u32::MAX);
    let items: Vec<Value> = (0..len)
        .filter(|i| view.is_live(*i))
        .skip(offset)
        .take(limit)
        .map(|i| view.entity(i))
        .collect();
    Response::json(
        200,
        &json!({
            "session": session_of(req),
            "api": api,
            "collection": name,
            "key": c.model.key,
            "total": view.live(),
            "offset": offset,
            "limit": limit,
            "items": items,
        }),
    )
}
