//! Operations over HTTP: the request journal and its filters, verification (count and find
//! with a matcher), near misses for requests no operation matches, health, readiness,
//! sessions and Prometheus metrics, and the access log.

use serde_json::{Value, json};
use understudy::engine::Config;
use understudy::engine::journal::Limits;

use crate::support::{self, Resp, TestServer, assert_admin_valid, request, request_with_body};

fn server(cfg: Config) -> TestServer {
    support::start(Config {
        scenarios: understudy::scenario::load_embedded().unwrap(),
        ..cfg
    })
}

/// A call to the mocked APIs in `session` (none: the default session).
fn call(s: &TestServer, session: Option<&str>, method: &str, path: &str, body: &str) -> Resp {
    let mut h = vec![
        ("Authorization", "Bearer sk-secret-value"),
        ("x-api-key", "vectara-secret-key"),
        ("content-type", "application/json"),
    ];
    if let Some(sid) = session {
        h.push(("X-Understudy-Session", sid));
    }
    request_with_body(method, &format!("{}{path}", s.base), &h, body)
}

/// An admin call in `session`, checked against docs/admin-api.yaml.
fn admin(s: &TestServer, session: Option<&str>, method: &str, path: &str, body: Value) -> Resp {
    let mut h = vec![("content-type", "application/json")];
    if let Some(sid) = session {
        h.push(("X-Understudy-Session", sid));
    }
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let r = request_with_body(method, &format!("{}/__understudy{path}", s.base), &h, &body);
    assert_admin_valid(method, path, &r);
    r
}

fn entries(r: &Resp) -> Vec<Value> {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["requests"].as_array().unwrap().clone()
}

fn count(s: &TestServer, session: Option<&str>, matcher: Value) -> u64 {
    let r = admin(s, session, "POST", "/requests/count", matcher);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["count"].as_u64().unwrap()
}

#[test]
fn the_journal_shows_each_request_newest_first_with_what_answered_it() {
    let s = server(support::default_config());
    let sid = Some("journal-1");
    assert_eq!(
        call(&s, sid, "GET", "/letta/v1/agents/?limit=2", "").status,
        200
    );
    assert_eq!(
        call(&s, sid, "GET", "/vectara/v2/agents?limit=1&api_key=qk", "").status,
        200
    );
    let created = call(
        &s,
        sid,
        "POST",
        "/letta/v1/agents/",
        r#"{"name":"journal-agent"}"#,
    );
    assert_eq!(
        created.status,
        200,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    // Another session's request and admin calls are not in this session's view.
    call(&s, Some("journal-other"), "GET", "/letta/v1/agents/", "");
    admin(&s, sid, "GET", "/state", Value::Null);

    let shown = entries(&admin(&s, sid, "GET", "/requests", Value::Null));
    assert_eq!(shown.len(), 3, "{shown:#?}");
    let ids: Vec<u64> = shown.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");

    let post = &shown[0];
    assert_eq!(post["method"], "POST");
    assert_eq!(post["status"], 200);
    assert_eq!(post["api"], "letta");
    assert_eq!(post["operation"]["method"], "POST");
    assert_eq!(post["operation"]["path"], "/v1/agents/");
    assert_eq!(post["session"], "journal-1");
    assert_eq!(post["body"]["text"], r#"{"name":"journal-agent"}"#);
    let answered: Value = serde_json::from_str(post["response"]["body"]["text"].as_str().unwrap())
        .expect("the response body, as sent");
    assert_eq!(answered["name"], "journal-agent");
    assert_eq!(post["matched"], true);

    // Credentials never shown: headers, and API keys in the query.
    let vectara = &shown[1];
    assert_eq!(vectara["api"], "vectara");
    assert_eq!(vectara["headers"]["authorization"], "[redacted]");
    assert_eq!(vectara["headers"]["x-api-key"], "[redacted]");
    assert_eq!(vectara["query"], "limit=1&api_key=[redacted]");
    for e in &shown {
        assert!(
            !e.to_string().contains("secret-value") && !e.to_string().contains("secret-key"),
            "a credential is shown: {e:#}"
        );
    }
    // Every session: the other session's request too, and no admin call.
    let all = admin(&s, None, "GET", "/requests?limit=1000", Value::Null);
    assert_eq!(all.json()["matched"], 4);
}

#[test]
fn filters_select_by_api_status_path_operation_and_since() {
    let s = server(support::default_config());
    let sid = Some("journal-filters");
    for path in [
        "/letta/v1/agents/",
        "/letta/v1/agents/no-such-agent",
        "/vectara/v2/agents",
        "/vectara/v2/agents/nope",
    ] {
        call(&s, sid, "GET", path, "");
    }
    let q = |query: &str| {
        entries(&admin(
            &s,
            sid,
            "GET",
            &format!("/requests?{query}"),
            Value::Null,
        ))
    };
    assert_eq!(q("api=letta").len(), 2);
    assert_eq!(q("status=4xx").len(), 2);
    assert_eq!(q("status=200").len(), 2);
    assert_eq!(q("path=/letta/v1/agents/{id}").len(), 1);
    assert_eq!(q("method=get&limit=3").len(), 3);
    let by_op = q("operation=GET%20/v2/agents/{agent_key}");
    assert_eq!(by_op.len(), 1);
    assert_eq!(by_op[0]["path"], "/vectara/v2/agents/nope");
    let newest = q("limit=1")[0]["id"].as_u64().unwrap();
    assert!(q(&format!("since={newest}")).is_empty());
    assert_eq!(q(&format!("since={}", newest - 2)).len(), 2);
    // A filter the API does not know is refused, not ignored.
    let bad = admin(&s, sid, "GET", "/requests?colour=red", Value::Null);
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"].as_str().unwrap().contains("colour"));
    assert_eq!(
        admin(&s, sid, "GET", "/requests?status=9xx", Value::Null).status,
        400
    );
}

#[test]
fn verification_counts_a_clients_retries_after_a_429() {
    let s = server(support::default_config());
    let sid = Some("journal-retries");
    let r = admin(&s, sid, "POST", "/scenarios/rate-limited/start", json!({}));
    assert_eq!(r.status, 200);
    for _ in 0..3 {
        assert_eq!(call(&s, sid, "GET", "/vectara/v2/agents", "").status, 429);
    }
    // Another session's identical requests are not counted.
    call(
        &s,
        Some("journal-elsewhere"),
        "GET",
        "/vectara/v2/agents",
        "",
    );
    let after_429 = json!({"method": "GET", "path": "/vectara/v2/agents", "status": 429});
    assert_eq!(count(&s, sid, after_429.clone()), 3);
    assert_eq!(count(&s, sid, json!({"scripted": true})), 3);
    assert_eq!(count(&s, sid, json!({"status": "2xx"})), 0);

    // find shows which scenario step answered.
    let found = admin(&s, sid, "POST", "/requests/find", after_429);
    let first = &found.json()["requests"][0];
    assert_eq!(first["scenario"]["name"], "rate-limited");
    assert_eq!(first["scenario"]["step"], 0);
    assert_eq!(first["scenario"]["step_name"], "throttle");

    // Body pointers, query parameters and headers.
    call(
        &s,
        sid,
        "POST",
        "/letta/v1/agents/",
        r#"{"name":"counted","tags":["a","b"]}"#,
    );
    call(&s, sid, "POST", "/letta/v1/agents/", r#"{"name":"other"}"#);
    assert_eq!(count(&s, sid, json!({"body": {"/name": "counted"}})), 1);
    assert_eq!(count(&s, sid, json!({"body": {"/tags/1": "b"}})), 1);
    assert_eq!(count(&s, sid, json!({"method": "POST", "api": "letta"})), 2);
    call(&s, sid, "GET", "/letta/v1/agents/?limit=7", "");
    assert_eq!(count(&s, sid, json!({"query": {"limit": "7"}})), 1);
    assert_eq!(
        count(
            &s,
            sid,
            json!({"headers": {"Content-Type": "application/json"}})
        ),
        6
    );
    assert_eq!(count(&s, sid, json!({})), 6);

    // A matcher with a typo is refused rather than matching everything.
    let typo = admin(&s, sid, "POST", "/requests/count", json!({"methd": "GET"}));
    assert_eq!(typo.status, 400);
    assert!(typo.json()["error"].as_str().unwrap().contains("methd"));
}

#[test]
fn a_request_no_operation_matches_names_the_closest_ones() {
    let s = server(support::default_config());
    let sid = Some("journal-near");
    let r = call(&s, sid, "GET", "/letta/v1/agentz", "");
    assert_eq!(r.status, 404);
    // In Letta's own error shape, the closest operation named with why it did not match.
    let detail = r.json()["detail"].as_str().unwrap().to_string();
    assert!(
        detail
            .contains("closest: GET /letta/v1/agents/ (segment 3 is 'agentz', expected 'agents')"),
        "{detail}"
    );
    assert!(
        !detail.contains("vectara"),
        "only the API's own operations: {detail}"
    );
    let r = call(&s, sid, "DELETE", "/letta/v1/agents/", "");
    assert_eq!(r.status, 405);

    // Outside every API: the index's 404 lists them as data.
    let r = call(&s, sid, "GET", "/letta2/v1/agents/", "");
    assert_eq!(r.status, 404);
    let near = r.json()["near_misses"].clone();
    assert_eq!(near[0]["api"], "letta", "{near}");
    assert_eq!(near[0]["why"][0], "segment 1 is 'letta2', expected 'letta'");

    let unmatched = entries(&admin(
        &s,
        sid,
        "GET",
        "/requests?unmatched=true",
        Value::Null,
    ));
    assert_eq!(unmatched.len(), 3);
    assert!(unmatched.iter().all(|e| e["matched"] == false));
    let id = unmatched[2]["id"].as_u64().unwrap();
    let one = admin(&s, sid, "GET", &format!("/requests/{id}"), Value::Null);
    assert_eq!(one.status, 200);
    let near = &one.json()["near_misses"];
    assert_eq!(near[0]["operation"], "GET /letta/v1/agents/");
    assert_eq!(near[0]["operation_id"], "list_agents");
    // The 405's closest operation differs by method only.
    let id = unmatched[1]["id"].as_u64().unwrap();
    let one = admin(&s, sid, "GET", &format!("/requests/{id}"), Value::Null).json();
    assert!(
        one["near_misses"][0]["why"]
            .as_array()
            .unwrap()
            .contains(&json!("the method is GET")),
        "{one}"
    );
    assert_eq!(
        admin(&s, sid, "GET", "/requests/999999", Value::Null).status,
        404
    );
}

#[test]
fn clearing_forgets_one_sessions_requests_or_all() {
    let s = server(support::default_config());
    for sid in ["clear-a", "clear-a", "clear-b"] {
        call(&s, Some(sid), "GET", "/letta/v1/agents/", "");
    }
    call(&s, None, "GET", "/letta/v1/agents/", "");
    let r = admin(&s, Some("clear-a"), "DELETE", "/requests", Value::Null);
    assert_eq!(r.json()["cleared"], 2);
    assert_eq!(count(&s, Some("clear-a"), json!({})), 0);
    assert_eq!(count(&s, Some("clear-b"), json!({})), 1);
    // The default session by name; then everything.
    let r = admin(&s, None, "DELETE", "/requests?session=default", Value::Null);
    assert_eq!(r.json()["cleared"], 1);
    let r = admin(&s, None, "DELETE", "/requests", Value::Null);
    assert_eq!(r.json()["cleared"], 1);
    assert_eq!(r.json()["journal"]["entries"], 0);
    // A DELETE from another origin is still refused.
    let r = request(
        "DELETE",
        &format!("{}/__understudy/requests", s.base),
        &[("Origin", "http://evil.example")],
    );
    assert_eq!(r.status, 403);
}

#[test]
fn the_journal_stays_within_its_limits() {
    let s = server(Config {
        journal: Limits {
            entries: 5,
            body: 10,
            ..Limits::default()
        },
        ..support::default_config()
    });
    for i in 0..20 {
        call(
            &s,
            None,
            "GET",
            &format!("/letta/v1/agents/?limit={}", i + 1),
            "",
        );
    }
    let r = admin(&s, None, "GET", "/requests", Value::Null);
    let body = r.json();
    assert_eq!(body["requests"].as_array().unwrap().len(), 5);
    assert_eq!(body["journal"]["evicted"], 15);
    assert_eq!(body["requests"][0]["query"], "limit=20", "the newest kept");
    let e = &body["requests"][0]["response"]["body"];
    assert_eq!(e["truncated"], true);
    assert_eq!(e["text"].as_str().unwrap().len(), 10);
    assert!(e["size"].as_u64().unwrap() > 10);

    // Off.
    let off = server(Config {
        journal: Limits {
            entries: 0,
            ..Limits::default()
        },
        ..support::default_config()
    });
    call(&off, None, "GET", "/letta/v1/agents/", "");
    assert_eq!(count(&off, None, json!({})), 0);
}

#[test]
fn health_readiness_sessions_and_metrics() {
    let s = server(Config {
        admin: understudy::engine::admin::Guard {
            token: Some("admin-secret".into()),
            hosts: Vec::new(),
        },
        ..support::default_config()
    });
    // Probes come by address and without the token.
    for path in ["/__understudy/health", "/__understudy/ready"] {
        let r = request(
            "GET",
            &format!("{}{path}", s.base),
            &[("Host", "10.1.2.3:4010")],
        );
        assert_eq!(r.status, 200, "{path}");
        assert_admin_valid("GET", path.trim_start_matches("/__understudy"), &r);
    }
    let h = request("GET", &format!("{}/__understudy/health", s.base), &[]).json();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["apis"].as_array().unwrap().len(), 4);

    call(&s, Some("m-1"), "GET", "/letta/v1/agents/", "");
    call(&s, Some("m-1"), "GET", "/letta/v1/agents/", "");
    call(&s, None, "GET", "/letta/v1/nothing-here", "");
    let auth = [("Authorization", "Bearer admin-secret")];
    let m = request("GET", &format!("{}/__understudy/metrics", s.base), &auth);
    assert_eq!(m.status, 200);
    assert!(
        m.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = String::from_utf8(m.body.clone()).unwrap();
    assert!(
        text.contains(
            r#"understudy_requests_total{api="letta",operation="list_agents",status="200"} 2"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"understudy_requests_total{api="",operation="",status="404"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"understudy_request_duration_seconds_count{api="letta"} 2"#));
    assert!(text.contains("understudy_sessions 1"), "{text}");
    assert!(text.contains("understudy_journal_entries 3"), "{text}");
    // Metrics are admin data: the token (then from any host name: a scraper comes by the
    // pod's address), or nothing.
    let no_token = request("GET", &format!("{}/__understudy/metrics", s.base), &[]);
    assert_eq!(no_token.status, 401);
    let by_address = request(
        "GET",
        &format!("{}/__understudy/metrics", s.base),
        &[
            ("Authorization", "Bearer admin-secret"),
            ("Host", "10.1.2.3:4010"),
        ],
    );
    assert_eq!(by_address.status, 200);
    let foreign = request(
        "GET",
        &format!("{}/__understudy/metrics", s.base),
        &[("Host", "10.1.2.3:4010")],
    );
    assert_eq!(foreign.status, 403);

    let sessions = request("GET", &format!("{}/__understudy/sessions", s.base), &auth);
    assert_admin_valid("GET", "/sessions", &sessions);
    let list = sessions.json()["sessions"].clone();
    assert_eq!(list[0]["session"], "m-1");
    assert_eq!(list[0]["requests"], 2);
}

#[test]
fn the_access_log_has_a_line_per_request_and_no_credentials() {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_understudy"));
    cmd.args([
        "serve",
        "--port",
        "0",
        "--log-format",
        "json",
        "--access-log",
    ]);
    let (mut child, addr, lines) = crate::cli::spawn_listening(cmd);
    let r = request(
        "GET",
        &format!("http://{addr}/vectara/v2/agents?limit=1&api_key=query-secret"),
        &[
            ("x-api-key", "header-secret"),
            ("X-Understudy-Session", "logged"),
        ],
    );
    assert_eq!(r.status, 200);
    let mut found = None;
    let mut seen = Vec::new();
    for line in lines {
        let line = line.unwrap();
        seen.push(line.clone());
        assert!(!line.contains("secret"), "a credential was logged: {line}");
        let v: Value = serde_json::from_str(&line).expect("every line is JSON");
        if v["target"] == "understudy::access" {
            found = Some(v);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let v = found.unwrap_or_else(|| panic!("no access line in {seen:#?}"));
    assert_eq!(v["path"], "/vectara/v2/agents");
    assert_eq!(v["status"], 200);
    assert_eq!(v["api"], "vectara");
    assert_eq!(v["session"], "logged");
    assert_eq!(v["query"], "limit=1&api_key=[redacted]");
}

#[test]
fn the_epoch_sets_every_sessions_time_zero() {
    let s = server(Config {
        epoch_ms: Some(1_800_000_000_000),
        ..support::default_config()
    });
    call(&s, Some("epoch"), "GET", "/letta/v1/agents/", "");
    let state = admin(&s, Some("epoch"), "GET", "/state", Value::Null).json();
    assert_eq!(state["now"], "2027-01-15T08:00:00.000Z");
    let made = call(
        &s,
        Some("epoch"),
        "POST",
        "/letta/v1/agents/",
        r#"{"name":"stamped"}"#,
    );
    assert_eq!(made.status, 200);
    let created = made.json()["created_at"].as_str().unwrap().to_string();
    assert!(created.starts_with("2027-01-15T08:00:00"), "{created}");
}

#[test]
fn the_data_calls_show_a_collection_as_one_session_sees_it() {
    let s = server(support::default_config());
    let made = call(
        &s,
        Some("data-a"),
        "POST",
        "/letta/v1/agents/",
        r#"{"name":"only-in-a"}"#,
    );
    assert_eq!(made.status, 200);
    let id = made.json()["id"].as_str().unwrap().to_string();
    let count = |sid: &str| {
        let r = admin(&s, Some(sid), "GET", "/data", Value::Null);
        let apis = r.json()["apis"].clone();
        let letta = apis
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["api"] == "letta")
            .unwrap()
            .clone();
        letta["collections"][0]["count"].as_u64().unwrap()
    };
    assert_eq!(count("data-a"), count("data-b") + 1);

    let page = admin(
        &s,
        Some("data-a"),
        "GET",
        "/data/letta/agents?offset=0&limit=3",
        Value::Null,
    );
    assert_eq!(page.status, 200, "{}", String::from_utf8_lossy(&page.body));
    let page = page.json();
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    assert_eq!(page["total"].as_u64(), Some(count("data-a")));
    let one = admin(
        &s,
        Some("data-a"),
        "GET",
        &format!("/data/letta/agents/{id}"),
        Value::Null,
    );
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["name"], "only-in-a");
    let other = admin(
        &s,
        Some("data-b"),
        "GET",
        &format!("/data/letta/agents/{id}"),
        Value::Null,
    );
    assert_eq!(other.status, 404);
    for bad in [
        "/data/letta/agents?limit=0",
        "/data/letta/agents?limit=101",
        "/data/letta/agents?colour=1",
    ] {
        assert_eq!(
            admin(&s, Some("data-a"), "GET", bad, Value::Null).status,
            400,
            "{bad}"
        );
    }
    assert_eq!(
        admin(&s, None, "GET", "/data/nope/agents", Value::Null).status,
        404
    );
    assert_eq!(
        admin(&s, None, "GET", "/data/letta/nope", Value::Null).status,
        404
    );
}

#[test]
fn an_active_scenario_shows_its_timeline_and_what_each_step_touched() {
    let s = server(support::default_config());
    let sid = Some("timeline");
    assert_eq!(
        admin(
            &s,
            sid,
            "POST",
            "/scenarios/failed-rollout/start",
            json!({})
        )
        .status,
        200
    );
    let active = admin(&s, sid, "GET", "/scenarios", Value::Null).json()["active"][0].clone();
    let steps = active["timeline"].as_array().unwrap().clone();
    let status: Vec<&str> = steps
        .iter()
        .map(|x| x["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["fired", "fired", "next", "pending"]);
    assert_eq!(steps[1]["trigger"]["kind"], "at");
    assert_eq!(steps[2]["trigger"]["due_ms"], 30_000);
    let touched = steps[1]["touched"][0].as_str().unwrap().to_string();
    assert_eq!(steps[2]["touched"], json!([]));
    // The entity it touched, as the session sees it: mid-rollout.
    let agent = admin(
        &s,
        sid,
        "GET",
        &format!("/data/pipecat-cloud/agents/{touched}"),
        Value::Null,
    )
    .json();
    assert_eq!(agent["currentRevision"]["phase"], "Creating");
    admin(&s, sid, "POST", "/clock/advance", json!({"by": "30s"}));
    let active = admin(&s, sid, "GET", "/state", Value::Null).json()["scenarios"][0].clone();
    assert_eq!(active["timeline"][2]["status"], "fired");
    assert_eq!(active["timeline"][2]["fired_at_ms"], 30_000);
}

#[test]
fn the_dashboard_is_served_from_the_binary_and_guarded() {
    let s = server(support::default_config());
    let page = request("GET", &format!("{}/__understudy/ui", s.base), &[]);
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let html = String::from_utf8(page.body.clone()).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no CDN"
    );
    for (file, ct) in [("app.js", "text/javascript"), ("style.css", "text/css")] {
        let r = request("GET", &format!("{}/__understudy/ui/{file}", s.base), &[]);
        assert_eq!(r.status, 200, "{file}");
        assert!(r.header("content-type").unwrap().starts_with(ct));
        assert!(
            !String::from_utf8_lossy(&r.body).contains("https://"),
            "{file}: no CDN"
        );
    }
    let r = request("GET", &format!("{}/__understudy/ui/nope.js", s.base), &[]);
    assert_eq!(r.status, 404);
    let r = request(
        "GET",
        &format!("{}/__understudy/ui", s.base),
        &[("Host", "evil.example")],
    );
    assert_eq!(r.status, 403, "DNS rebinding");
}

#[test]
fn with_an_admin_token_the_dashboard_page_is_open_and_its_calls_need_the_token() {
    let s = server(Config {
        admin: understudy::engine::admin::Guard {
            token: Some("ui-secret".into()),
            hosts: Vec::new(),
        },
        ..support::default_config()
    });
    let get = |p: &str| request("GET", &format!("{}{p}", s.base), &[]).status;
    // The page's files say nothing of the server: a browser opens them without a header.
    assert_eq!(get("/__understudy/ui"), 200);
    assert_eq!(get("/__understudy/ui/app.js"), 200);
    assert_eq!(get("/__understudy/ui/style.css"), 200);
    // Everything the page calls needs the token, as a header.
    assert_eq!(get("/__understudy/sessions"), 401);
    assert_eq!(get("/__understudy/sessions?token=ui-secret"), 401);
    let r = request(
        "GET",
        &format!("{}/__understudy/sessions", s.base),
        &[("Authorization", "Bearer ui-secret")],
    );
    assert_eq!(r.status, 200);
    // The Host check still applies to the page.
    let r = request(
        "GET",
        &format!("{}/__understudy/ui", s.base),
        &[("Host", "evil.example")],
    );
    assert_eq!(r.status, 403);
}

#[test]
fn a_refused_request_is_journaled_with_its_operation() {
    let s = server(support::config_with_tokens("good-token\n"));
    let r = request(
        "GET",
        &format!("{}/letta/v1/agents/", s.base),
        &[
            ("Authorization", "Bearer wrong"),
            ("X-Understudy-Session", "refused"),
        ],
    );
    assert_eq!(r.status, 401);
    let sid = Some("refused");
    assert_eq!(count(&s, sid, json!({"api": "letta", "status": 401})), 1);
    let e = &entries(&admin(&s, sid, "GET", "/requests", Value::Null))[0];
    assert_eq!(e["operation"]["method"], "GET");
    assert_eq!(e["matched"], true);
}
