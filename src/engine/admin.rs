//! The admin API under `/__understudy/` (documented in `docs/admin-api.yaml`): list, start,
//! stop and reset scenarios, advance a session's clock, fire manual steps, read the state.
//! Every call acts on the session named by `X-Understudy-Session` (or the default one).

use crate::sync::lock;
use serde_json::{Value, json};

use super::{Engine, Request, Response, SESSION_HEADER};
use crate::scenario::session::{self, active_state};

/// Where the admin API is mounted.
pub const PREFIX: &str = "/__understudy";

fn error(status: u16, message: impl Into<String>) -> Response {
    Response::json(status, &json!({ "error": message.into() }))
}

/// Answer an admin request.
pub fn handle(engine: &Engine, req: &Request) -> Response {
    let rest = req.path[PREFIX.len()..].trim_end_matches('/');
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let method = req.method.to_ascii_uppercase();
    let sid = req
        .header_value(SESSION_HEADER)
        .unwrap_or(session::DEFAULT_SESSION)
        .to_string();
    let seed = engine.seed();
    match (method.as_str(), segs.as_slice()) {
        ("GET", ["scenarios"]) => {
            let available: Vec<Value> = engine
                .sessions
                .scenarios
                .values()
                .map(|s| {
                    json!({"name": s.name, "api": s.api, "description": s.description, "steps": s.steps.len()})
                })
                .collect();
            read_session(engine, &sid, |s| {
                let active: Vec<Value> = s.active.iter().map(active_state).collect();
                Response::json(200, &json!({"available": available, "active": active}))
            })
        }
        ("POST", ["scenarios", name, action]) => {
            let name = percent_encoding::percent_decode_str(name)
                .decode_utf8_lossy()
                .into_owned();
            let Some(sc) = engine.sessions.scenarios.get(&name).cloned() else {
                return error(404, format!("no scenario '{name}'"));
            };
            match *action {
                "start" => {
                    if let Err(e) = engine.check_scenario(&sc) {
                        return error(400, e.to_string());
                    }
                    with_session(engine, &sid, |s| {
                        if s.active.iter().any(|a| a.scenario.name == name) {
                            return Err((409, format!("scenario '{name}' is already active")));
                        }
                        s.start(sc.clone(), seed, engine).map_err(|m| (400, m))?;
                        Ok(scenario_state(s, &name))
                    })
                }
                "stop" => with_session(engine, &sid, |s| match s.stop(&name) {
                    Some(a) => Ok(Response::json(200, &active_state(&a))),
                    None => Err((404, format!("scenario '{name}' is not active"))),
                }),
                "next" => with_session(engine, &sid, |s| {
                    if !s.active.iter().any(|a| a.scenario.name == name) {
                        return Err((404, format!("scenario '{name}' is not active")));
                    }
                    s.next(&name, seed, engine).map_err(|m| (409, m))?;
                    Ok(scenario_state(s, &name))
                }),
                other => error(404, format!("no admin action '{other}'")),
            }
        }
        ("POST", ["reset"]) => {
            match engine
                .sessions
                .get(&sid, seed, engine, engine.first_request(&sid))
            {
                Ok(sess) => match engine.sessions.fresh(&sid, seed, engine) {
                    Ok(mut fresh) => {
                        let mut s = lock(&sess);
                        // Request ids keep counting, so none repeats after a reset.
                        fresh.requests = s.requests;
                        *s = fresh;
                        Response::json(200, &s.state())
                    }
                    Err(m) => error(500, m),
                },
                Err(m) => error(500, m),
            }
        }
        ("POST", ["clock", "advance"]) => {
            let by = serde_json::from_slice::<Value>(&req.body)
                .ok()
                .and_then(|v| v.get("by").and_then(Value::as_str).map(str::to_string));
            let Some(by) = by else {
                return error(400, "the body must be JSON like {\"by\": \"30s\"}");
            };
            let d = match crate::scenario::parse_duration(&by) {
                Ok(d) => d,
                Err(m) => return error(400, m),
            };
            let by_ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
            with_session(engine, &sid, |s| {
                s.advance(by_ms, seed, engine).map_err(|m| (400, m))?;
                Ok(Response::json(200, &s.state()))
            })
        }
        ("GET", ["state"]) => read_session(engine, &sid, |s| Response::json(200, &s.state())),
        (_, ["scenarios"] | ["scenarios", _, _] | ["reset"] | ["clock", "advance"] | ["state"]) => {
            let mut r = error(405, format!("method {method} is not allowed here"));
            let allow =
                if segs.first() == Some(&"scenarios") && segs.len() == 1 || segs == ["state"] {
                    "GET"
                } else {
                    "POST"
                };
            r.headers.push(("allow".into(), allow.into()));
            r
        }
        _ => error(404, format!("no admin endpoint {}", req.path)),
    }
}

fn scenario_state(s: &session::Session, name: &str) -> Response {
    match s.active.iter().find(|a| a.scenario.name == name) {
        Some(a) => Response::json(200, &active_state(a)),
        None => error(404, format!("scenario '{name}' is not active")),
    }
}

/// Show session `sid` without creating it: one that does not exist yet is shown as it would
/// start.
fn read_session(
    engine: &Engine,
    sid: &str,
    f: impl FnOnce(&session::Session) -> Response,
) -> Response {
    match engine.sessions.peek(sid) {
        Some(sess) => f(&lock(&sess)),
        None => match engine.sessions.fresh(sid, engine.seed(), engine) {
            Ok(s) => f(&s),
            Err(m) => error(500, m),
        },
    }
}

/// Run `f` on the locked session `sid`; `Err((status, message))` becomes an error response.
fn with_session(
    engine: &Engine,
    sid: &str,
    f: impl FnOnce(&mut session::Session) -> Result<Response, (u16, String)>,
) -> Response {
    match engine
        .sessions
        .get(sid, engine.seed(), engine, engine.first_request(sid))
    {
        Ok(sess) => {
            let mut s = lock(&sess);
            match f(&mut s) {
                Ok(r) => r,
                Err((status, m)) => error(status, m),
            }
        }
        Err(m) => error(500, m),
    }
}
