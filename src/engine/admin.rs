//! The admin API under `/__understudy/` (documented in `docs/admin-api.yaml`): list, start,
//! stop and reset scenarios, advance a session's clock, fire manual steps, read the state.
//! Every call acts on the session named by `X-Understudy-Session` (or the default one).

use crate::sync::lock;
use serde_json::{Value, json};

use super::{Engine, Request, Response, SESSION_HEADER};
use crate::scenario::session::{self, Datasets, active_state};

/// Where the admin API is mounted.
pub const PREFIX: &str = "/__understudy";

/// Longest error message sent back (client input quoted in it is cut).
const MAX_MESSAGE: usize = 512;
/// Largest admin request body.
const MAX_ADMIN_BODY: usize = 64 << 10;

pub(super) fn error(status: u16, message: impl Into<String>) -> Response {
    let mut m: String = message.into();
    if m.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !m.is_char_boundary(end) {
            end -= 1;
        }
        m.truncate(end);
        m.push_str("...");
    }
    Response::json(status, &json!({ "error": m }))
}

/// Who may use the admin API, beyond reaching the port.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    /// Required as `Authorization: Bearer TOKEN` (or `X-Understudy-Admin-Token`) when set.
    pub token: Option<String>,
    /// Host names accepted in `Host` (and `Origin`) besides loopback names.
    pub hosts: Vec<String>,
}

impl Guard {
    /// Whether `host` (a `Host` header value, with or without a port) names this server: a
    /// loopback name or a configured one. Anything else is a DNS-rebinding attempt.
    fn host_ok(&self, host: &str) -> bool {
        let name = match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => host.rsplit_once(':').map_or(host, |(h, p)| {
                if p.chars().all(|c| c.is_ascii_digit()) {
                    h
                } else {
                    host
                }
            }),
        };
        let name = name.to_ascii_lowercase();
        name == "localhost"
            || name.ends_with(".localhost")
            || name
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
            || self.hosts.iter().any(|h| h.eq_ignore_ascii_case(&name))
    }

    /// Refuse what a stray web page or another host could send: a foreign `Host`, a
    /// cross-origin or non-JSON state change, a missing admin token.
    fn refusal(&self, req: &Request, method: &str) -> Option<Response> {
        let given = req.header_value("x-understudy-admin-token").or_else(|| {
            req.header_value("authorization")
                .and_then(|a| a.strip_prefix("Bearer "))
        });
        // A caller that shows the admin token is no page a rebound name tricked into calling:
        // it may come by any host name (Prometheus scraping a pod by its address).
        let token_shown = self.token.is_some() && given == self.token.as_deref();
        if let Some(host) = req.header_value("host")
            && !token_shown
            && !self.host_ok(host)
        {
            return Some(error(
                403,
                "the admin API answers only to loopback host names (or --allowed-host)",
            ));
        }
        // The dashboard's own files are the same for everyone and say nothing of the server:
        // a browser opening them cannot send a header, so they need no token (the page takes
        // it from its address's `#token=` part, which no server sees, and sends it as a
        // header on every call).
        let page = matches!(method, "GET" | "HEAD") && route_is_ui(req.path());
        if self.token.is_some() && !page && !token_shown {
            let mut r = error(401, "the admin API needs the admin token (--admin-token)");
            r.add_header("www-authenticate", "Bearer realm=\"understudy admin\"");
            return Some(r);
        }
        if method != "GET" && method != "HEAD" {
            if let Some(origin) = req.header_value("origin") {
                let host = origin.split_once("://").map_or(origin, |(_, h)| h);
                if !self.host_ok(host.trim_end_matches('/')) {
                    return Some(error(403, "cross-origin admin calls are refused"));
                }
            }
            let json = req.header_value("content-type").is_some_and(|c| {
                c.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
            // A page cannot send a DELETE across origins without a preflight, which nothing
            // here answers: a DELETE needs no body, so no content type either.
            if !json && method != "DELETE" {
                return Some(error(
                    415,
                    "admin calls that change state need Content-Type: application/json",
                ));
            }
            if req.body.len() > MAX_ADMIN_BODY {
                return Some(error(413, "the admin request body is larger than 64 KiB"));
            }
        }
        None
    }
}

/// A path segment, percent-decoded (lossily where it is not UTF-8).
pub(super) fn decoded(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// Whether `path` is one of the dashboard's files.
fn route_is_ui(path: &str) -> bool {
    path.strip_prefix(PREFIX)
        .and_then(|p| p.strip_prefix("/ui"))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Answer an admin request.
pub fn handle(engine: &Engine, req: &Request) -> Response {
    let rest = req.path()[PREFIX.len()..].trim_end_matches('/');
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let method = req.method().to_ascii_uppercase();
    // Probes (a load balancer's, Kubernetes') reach a replica by its address and carry no
    // token: health and readiness say nothing a client could use, so they answer any host.
    match (method.as_str(), segs.as_slice()) {
        ("GET" | "HEAD", ["health"]) => {
            // Why a reload failed (file paths, parse errors) only for callers the admin API
            // would answer.
            let trusted = engine.admin.refusal(req, "GET").is_none();
            return health(engine, trusted);
        }
        ("GET" | "HEAD", ["ready"]) => return ready(engine),
        _ => {}
    }
    if let Some(r) = engine.admin.refusal(req, &method) {
        return r;
    }
    let sid = req
        .header_value(SESSION_HEADER)
        .unwrap_or(session::DEFAULT_SESSION)
        .to_string();
    if let Err(m) = session::check_id(&sid) {
        return error(400, m);
    }
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
            let name = decoded(name);
            let Some(sc) = engine.sessions.scenarios.get(&name).cloned() else {
                return error(404, format!("no scenario '{name}'"));
            };
            match *action {
                "start" => {
                    if let Err(e) = engine.check_scenario(&sc) {
                        return error(400, e.to_string());
                    }
                    with_session(engine, req, &sid, |s| {
                        if s.active.iter().any(|a| a.scenario.name == name) {
                            return Err((409, format!("scenario '{name}' is already active")));
                        }
                        s.start(sc.clone(), seed, engine).map_err(|m| (400, m))?;
                        Ok(scenario_state(s, &name))
                    })
                }
                "stop" => with_session(engine, req, &sid, |s| match s.stop(&name) {
                    Some(a) => Ok(Response::json(200, &active_state(&a))),
                    None => Err((404, format!("scenario '{name}' is not active"))),
                }),
                "next" => with_session(engine, req, &sid, |s| {
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
            match engine.session(&sid) {
                Ok(sess) => match engine.sessions.fresh(&sid, seed, engine) {
                    Ok(mut fresh) => {
                        let mut s = lock(&sess);
                        // Request ids keep counting, so none repeats after a reset.
                        fresh.requests = s.requests;
                        engine.sessions.release(s.written_bytes);
                        *s = fresh;
                        if let Err(m) = engine.forget(&sid) {
                            return error(500, m);
                        }
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
            with_session(engine, req, &sid, |s| {
                s.advance(by_ms, seed, engine).map_err(|m| (400, m))?;
                Ok(Response::json(200, &s.state()))
            })
        }
        ("GET", ["state"]) => read_session(engine, &sid, |s| Response::json(200, &s.state())),
        ("GET", ["sessions"]) => sessions(engine),
        ("GET" | "HEAD", ["ui"]) => super::ui::asset("").unwrap_or_else(|| error(404, "no page")),
        ("GET" | "HEAD", ["ui", name]) => super::ui::asset(name)
            .unwrap_or_else(|| error(404, format!("no dashboard file '{name}'"))),
        ("GET", ["data"]) => super::data_api::index(engine, req),
        ("GET", ["data", api, collection]) => {
            super::data_api::collection(engine, req, api, collection, None)
        }
        ("GET", ["data", api, collection, key]) => {
            super::data_api::collection(engine, req, api, collection, Some(key))
        }
        ("GET", ["metrics"]) => metrics(engine),
        ("GET", ["requests"]) => super::journal_api::list(engine, req),
        ("DELETE", ["requests"]) => super::journal_api::clear(engine, req),
        ("POST", ["requests", "count"]) => super::journal_api::count(engine, req),
        ("POST", ["requests", "find"]) => super::journal_api::find(engine, req),
        ("GET", ["requests", id]) if !matches!(*id, "count" | "find") => {
            super::journal_api::one(engine, id)
        }
        ("GET", ["sessions", id, "export"]) => export(engine, id, req.query()),
        (
            _,
            ["scenarios"]
            | ["scenarios", _, _]
            | ["reset"]
            | ["clock", "advance"]
            | ["state"]
            | ["sessions"]
            | ["metrics"]
            | ["requests"]
            | ["requests", _],
        ) => {
            let mut r = error(405, format!("method {method} is not allowed here"));
            let allow = match segs.as_slice() {
                ["scenarios"] | ["state"] | ["sessions"] | ["metrics"] => "GET",
                ["requests"] => "GET, DELETE",
                ["requests", "count" | "find"] => "POST",
                ["requests", _] => "GET",
                _ => "POST",
            };
            r.add_header("allow", allow);
            r
        }
        _ => error(404, format!("no admin endpoint {}", req.path())),
    }
}

/// `GET /sessions/{id}/export[?api=A&collection=C]`: what the session did to one collection,
/// as a scenario file that replays it (YAML). Without `api`/`collection`, the session must
/// have changed exactly one collection.
fn export(engine: &Engine, id: &str, query: &str) -> Response {
    let id = decoded(id);
    if let Err(m) = session::check_id(&id) {
        return error(400, m);
    }
    let Some(sess) = engine.sessions.peek(&id) else {
        return error(404, format!("no session '{id}'"));
    };
    let s = lock(&sess);
    let q: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let want = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let changed: Vec<&(String, String)> = s
        .overlays
        .iter()
        .filter(|(key, o)| {
            !o.is_empty()
                && want("api").is_none_or(|a| a == key.0)
                && want("collection").is_none_or(|c| c == key.1)
        })
        .map(|(k, _)| k)
        .collect();
    let [(api, cname)] = changed.as_slice() else {
        let names: Vec<String> = changed.iter().map(|(a, c)| format!("{a}/{c}")).collect();
        return error(
            if changed.is_empty() { 404 } else { 400 },
            if changed.is_empty() {
                format!("session '{id}' changed no collection (that matches)")
            } else {
                format!(
                    "session '{id}' changed several collections ({}): choose one with \
                     ?api=NAME&collection=NAME",
                    names.join(", ")
                )
            },
        );
    };
    let Some((_, coll)) = engine.collection(api, Some(cname)) else {
        return error(404, format!("no collection {api}/{cname}"));
    };
    match crate::scenario::export::export(&s, api, cname, coll, engine.seed()) {
        Some(yaml) => {
            let mut r = Response::bytes(200, yaml.into());
            r.set_header("content-type", "application/yaml");
            r
        }
        None => error(
            404,
            format!("session '{id}' changed nothing in {api}/{cname}"),
        ),
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
/// A change to the default session is journaled (with `--state`) before it is answered.
fn with_session(
    engine: &Engine,
    req: &Request,
    sid: &str,
    f: impl FnOnce(&mut session::Session) -> Result<Response, (u16, String)>,
) -> Response {
    match engine.session(sid) {
        Ok(sess) => {
            let mut s = lock(&sess);
            match f(&mut s) {
                Ok(r) => engine.keep(sid, req, r),
                Err((status, m)) => error(status, m),
            }
        }
        Err(m) => error(500, m),
    }
}

/// `GET /health`: the process answers (liveness), with what it holds.
fn health(engine: &Engine, trusted: bool) -> Response {
    let fill = engine.journal().fill();
    let mut reloads = engine.reloads();
    if !trusted && reloads.last_error.is_some() {
        reloads.last_error = Some("(shown to admin callers)".into());
    }
    Response::json(
        200,
        &json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_s": engine.uptime().as_secs(),
            "apis": engine.mounts().iter().map(|m| m.api.name.as_str()).collect::<Vec<_>>(),
            "sessions": engine.sessions.all().len(),
            "journal": {"entries": fill.entries, "bytes": fill.bytes},
            "reloads": reloads.json(),
        }),
    )
}

/// `GET /ready`: the datasets are built and the server answers (readiness). Whether the
/// background index warm-up has finished is said, not waited for: requests are answered
/// correctly either way.
fn ready(engine: &Engine) -> Response {
    Response::json(
        200,
        &json!({"status": "ready", "indexes_warm": engine.warmed()}),
    )
}

/// `GET /sessions`: every session held, with its clock and active scenarios.
fn sessions(engine: &Engine) -> Response {
    let mut list: Vec<Value> = engine
        .sessions
        .all()
        .iter()
        .map(|s| {
            let s = lock(s);
            json!({
                "session": s.id,
                "clock_ms": s.clock_ms,
                "requests": s.requests,
                "scenarios": s.active.iter().map(|a| a.scenario.name.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    list.sort_by(|a, b| a["session"].as_str().cmp(&b["session"].as_str()));
    Response::json(200, &json!({ "sessions": list }))
}

/// `GET /metrics`: Prometheus metrics (OpenMetrics text).
fn metrics(engine: &Engine) -> Response {
    let all = engine.sessions.all();
    let scenarios = all.iter().map(|s| lock(s).active.len()).sum();
    let fill = engine.journal().fill();
    let text = engine.metrics().render(super::metrics::Levels {
        sessions: all.len(),
        scenarios,
        journal_entries: fill.entries,
        journal_bytes: fill.bytes,
    });
    let mut r = Response::bytes(200, bytes::Bytes::from(text));
    r.set_header("content-type", super::metrics::CONTENT_TYPE);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_and_configured_hosts_pass() {
        let g = Guard {
            token: None,
            hosts: vec!["mock.internal".into()],
        };
        for ok in [
            "localhost",
            "localhost:4010",
            "127.0.0.1:4010",
            "127.9.9.9",
            "[::1]:4010",
            "api.localhost",
            "MOCK.internal:80",
        ] {
            assert!(g.host_ok(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:4010",
            "10.0.0.1",
            "[2001:db8::1]:80",
            "localhost.evil.example",
        ] {
            assert!(!g.host_ok(bad), "{bad}");
        }
    }
}
