//! Scenarios end to end over HTTP: each shipped scenario as a client observes it, the admin API,
//! session isolation, deterministic replay, and the refusal of broken scenario files.

use std::collections::HashSet;

use serde_json::{Value, json};
use understudy::engine::Config;

use crate::support::{self, Resp, TestServer, assert_admin_valid, assert_valid, request};

fn server(start: &[&str]) -> TestServer {
    support::start(Config {
        scenarios: understudy::scenario::load_embedded().unwrap(),
        start: start.iter().map(|s| s.to_string()).collect(),
        ..support::default_config()
    })
}

/// A server whose scenarios are the given (file name, text) pairs.
fn server_with_files(tag: &str, files: &[(&str, &str)]) -> TestServer {
    let dir = std::env::temp_dir().join(format!("understudy-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    support::start(Config {
        scenarios: understudy::scenario::load_dir(&dir).unwrap(),
        ..support::default_config()
    })
}

/// A client in one scenario session.
struct Client<'a> {
    s: &'a TestServer,
    session: String,
}

impl<'a> Client<'a> {
    fn new(s: &'a TestServer, session: &str) -> Self {
        Client {
            s,
            session: session.to_string(),
        }
    }
    fn get(&self, path: &str) -> Resp {
        self.send("GET", path)
    }
    fn send(&self, method: &str, path: &str) -> Resp {
        request(
            method,
            &format!("{}{path}", self.s.base),
            &[
                ("Authorization", support::TOKEN),
                ("x-api-key", "k"),
                ("X-Understudy-Session", &self.session),
            ],
        )
    }
    fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        let url = format!("{}/__understudy{path}", self.s.base);
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("X-Understudy-Session", &self.session)
            .header("content-type", "application/json");
        b = b.header("accept", "application/json");
        let body = body.map(|v| v.to_string()).unwrap_or_default();
        let req = b.body(body).unwrap();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut r = agent.run(req).unwrap();
        let resp = Resp {
            status: r.status().as_u16(),
            headers: Vec::new(),
            body: r.body_mut().read_to_vec().unwrap(),
        };
        assert_admin_valid(method, path, &resp);
        resp
    }
    fn start(&self, name: &str) {
        let r = self.admin("POST", &format!("/scenarios/{name}/start"), None);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    fn advance(&self, by: &str) {
        let r = self.admin("POST", "/clock/advance", Some(json!({ "by": by })));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
}

fn key_of(s: &TestServer, api: &str, i: u32) -> String {
    let m = s
        .engine
        .mounts()
        .iter()
        .find(|m| m.api.name == api)
        .unwrap();
    m.collections.values().next().unwrap().key(i).to_string()
}

fn pipecat_detail(c: &Client, name: &str) -> Value {
    let r = c.get(&format!("/pipecat-cloud/v1/agents/{name}"));
    assert_eq!(r.status, 200);
    assert_valid("pipecat-cloud", "GET", "/agents/{agentName}", &r);
    r.json()
}

fn pipecat_list_item(c: &Client, name: &str) -> Value {
    let r = c.get("/pipecat-cloud/v1/agents?includeActiveDeployment=true");
    assert_valid("pipecat-cloud", "GET", "/agents", &r);
    r.json()["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .cloned()
        .unwrap()
}

#[test]
fn failed_rollout_as_a_client_sees_it() {
    let s = server(&[]);
    let c = Client::new(&s, "rollout");
    let name = key_of(&s, "pipecat-cloud", 0);
    let old = pipecat_detail(&c, &name)["desiredDeploymentId"].clone();
    c.start("failed-rollout");
    let d = pipecat_detail(&c, &name);
    let new = d["desiredDeploymentId"].clone();
    assert_ne!(new, old);
    assert_eq!(d["activeDeploymentId"], new);
    assert_eq!(d["reconciledDeploymentId"], old, "reconciled lags desired");
    assert_eq!(d["ready"], false);
    assert_eq!(d["available"], true);
    assert_eq!(d["currentRevision"]["phase"], "Creating");
    assert_eq!(d["previousRevision"]["phase"], "Active");
    // List and detail agree.
    let item = pipecat_list_item(&c, &name);
    assert_eq!(item["desiredDeploymentId"], new);
    assert_eq!(item["reconciledDeploymentId"], old);
    assert_eq!(item["deployment"]["id"], new);
    c.advance("30s");
    assert_eq!(
        pipecat_detail(&c, &name)["currentRevision"]["phase"],
        "Validating"
    );
    c.advance("60s");
    let d = pipecat_detail(&c, &name);
    let rev = &d["currentRevision"];
    assert_eq!(rev["phase"], "Failed");
    assert_eq!(rev["health"]["reason"], "CrashLoopBackOff");
    assert_eq!(rev["health"]["lastTerminationReason"], "OOMKilled");
    assert_eq!(rev["health"]["lastExitCode"], 137);
    assert!(
        rev["health"]["message"]
            .as_str()
            .unwrap()
            .contains("Traceback")
    );
    assert_eq!(d["ready"], false);
    assert_eq!(d["available"], true);
    assert_eq!(d["reconciledDeploymentId"], old);
    assert_eq!(d["previousRevision"]["phase"], "Active");
    // Another session never saw any of it.
    let other = Client::new(&s, "bystander");
    assert_eq!(pipecat_detail(&other, &name)["desiredDeploymentId"], old);
    let state = c.admin("GET", "/state", None).json();
    assert_eq!(state["clock_ms"], 90_000);
    assert_eq!(
        state["scenarios"][0]["next_step"],
        state["scenarios"][0]["steps"]
    );
}

#[test]
fn rolling_update_completes() {
    let s = server(&[]);
    let c = Client::new(&s, "rolling");
    let name = key_of(&s, "pipecat-cloud", 0);
    c.start("rolling-update");
    let new = pipecat_detail(&c, &name)["desiredDeploymentId"].clone();
    assert_eq!(pipecat_detail(&c, &name)["ready"], false);
    c.advance("60s");
    let d = pipecat_detail(&c, &name);
    assert_eq!(d["ready"], true);
    assert_eq!(d["reconciledDeploymentId"], new);
    assert_eq!(d["currentRevision"]["phase"], "Active");
    assert_eq!(d["previousRevision"]["phase"], "Draining");
    c.advance("30s");
    assert_eq!(pipecat_detail(&c, &name)["previousRevision"], Value::Null);
}

#[test]
fn scale_to_zero_stays_ready_and_wakes_manually() {
    let s = server(&[]);
    let c = Client::new(&s, "zero");
    let name = key_of(&s, "pipecat-cloud", 0);
    c.start("scale-to-zero");
    c.advance("5m");
    let d = pipecat_detail(&c, &name);
    assert_eq!(d["autoScaling"]["minReplicas"], 0);
    assert_eq!(d["currentRevision"]["readyReplicas"], 0);
    assert_eq!(d["ready"], true);
    assert_eq!(d["available"], true);
    let r = c.admin("POST", "/scenarios/scale-to-zero/next", None);
    assert_eq!(r.status, 200);
    assert_eq!(
        pipecat_detail(&c, &name)["currentRevision"]["readyReplicas"],
        1
    );
    // Nothing is left to fire.
    let r = c.admin("POST", "/scenarios/scale-to-zero/next", None);
    assert_eq!(r.status, 409);
}

#[test]
fn rate_limited_then_recovers() {
    let s = server(&[]);
    let c = Client::new(&s, "limits");
    c.start("rate-limited");
    for path in ["/vectara/v2/agents", "/vectara/v2/agents?limit=3"] {
        let r = c.get(path);
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("30"));
        assert_valid("vectara", "GET", "/v2/agents", &r);
        assert!(String::from_utf8_lossy(&r.body).contains("rate_limit_exceeded"));
    }
    let id = key_of(&s, "vectara", 0);
    let r = c.get(&format!("/vectara/v2/agents/{id}"));
    assert_eq!(r.status, 429);
    assert_valid("vectara", "GET", "/v2/agents/{agent_key}", &r);
    c.advance("30s");
    assert_eq!(c.get("/vectara/v2/agents").status, 200);
}

#[test]
fn outage_window_then_recovery() {
    let s = server(&[]);
    let c = Client::new(&s, "outage");
    c.start("outage");
    assert_eq!(c.get("/everruns/v1/agents").status, 200);
    c.advance("10s");
    let r = c.get("/everruns/v1/agents");
    assert_eq!(r.status, 500);
    assert_valid("everruns", "GET", "/v1/agents", &r);
    assert!(String::from_utf8_lossy(&r.body).contains("upstream database unavailable"));
    c.advance("59s");
    assert_eq!(c.get("/everruns/v1/agents").status, 500);
    c.advance("1s");
    assert_eq!(c.get("/everruns/v1/agents").status, 200);
}

#[test]
fn archived_agent_leaves_the_list_but_not_the_detail() {
    let s = server(&[]);
    let c = Client::new(&s, "archive");
    let id = key_of(&s, "everruns", 0);
    c.start("archived-agent");
    let listed = |c: &Client| -> HashSet<String> {
        let r = c.get("/everruns/v1/agents");
        assert_valid("everruns", "GET", "/v1/agents", &r);
        r.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(listed(&c).contains(&id));
    assert_eq!(
        c.admin("POST", "/scenarios/archived-agent/next", None)
            .status,
        200
    );
    assert!(!listed(&c).contains(&id));
    let r = c.get(&format!("/everruns/v1/agents/{id}"));
    assert_eq!(r.status, 200);
    assert_valid("everruns", "GET", "/v1/agents/{agent_id}", &r);
    assert_eq!(r.json()["status"], "archived");
}

fn vectara_walk(c: &Client, query: &str) -> (Vec<String>, Vec<u64>) {
    let mut ids = Vec::new();
    let mut totals = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut url = format!("/vectara/v2/agents?{query}");
        if let Some(t) = &token {
            url.push_str(&format!("&page_key={t}"));
        }
        let r = c.get(&url);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_valid("vectara", "GET", "/v2/agents", &r);
        let b = r.json();
        ids.extend(
            b["agents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_str().unwrap().to_string()),
        );
        totals.push(b["metadata"]["total_count"].as_u64().unwrap());
        match b["metadata"]["page_key"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => return (ids, totals),
        }
    }
}

#[test]
fn vectara_walk_with_deletions_and_creations_mid_pagination() {
    let s = server(&[]);
    let plain = Client::new(&s, "plain");
    let (all, _) = vectara_walk(&plain, "");
    // Deleted mid-walk: nothing skipped, nothing twice, the deleted ones gone from later pages.
    let c = Client::new(&s, "deleted");
    c.start("agent-deleted-mid-pagination-vectara");
    let (seen, totals) = vectara_walk(&c, "");
    let gone = key_of(&s, "vectara", 15);
    assert!(!seen.contains(&gone));
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        seen.len(),
        "no duplicates"
    );
    let expected: Vec<String> = all.iter().filter(|id| **id != gone).cloned().collect();
    assert_eq!(seen, expected, "every remaining agent exactly once");
    assert_eq!(totals[0], all.len() as u64);
    assert_eq!(*totals.last().unwrap(), all.len() as u64 - 2);
    // Created mid-walk: appended, seen at the end, total grows.
    let c = Client::new(&s, "created");
    c.start("agents-created-mid-pagination-vectara");
    let (seen, totals) = vectara_walk(&c, "");
    assert_eq!(seen.len(), all.len() + 3);
    assert_eq!(&seen[..all.len()], &all[..]);
    assert_eq!(*totals.last().unwrap(), all.len() as u64 + 3);
}

fn letta_walk(c: &Client) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut url = "/letta/v1/agents/?limit=50".to_string();
        if let Some(a) = &after {
            url.push_str(&format!("&after={a}"));
        }
        let r = c.get(&url);
        assert_valid("letta", "GET", "/v1/agents/", &r);
        let page: Vec<String> = r
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect();
        if page.is_empty() || pages.len() > 20 {
            return pages;
        }
        after = page.last().cloned();
        pages.push(page);
    }
}

#[test]
fn letta_walk_with_deletions_and_creations_mid_pagination() {
    let s = server(&[]);
    let plain = letta_walk(&Client::new(&s, "plain"));
    let all: Vec<String> = plain.iter().flatten().cloned().collect();
    let c = Client::new(&s, "deleted");
    c.start("agent-deleted-mid-pagination-letta");
    let pages = letta_walk(&c);
    let deleted: HashSet<String> = [key_of(&s, "letta", 0), key_of(&s, "letta", 1)].into();
    let cursor = plain[0].last().unwrap();
    let seen: Vec<String> = pages.iter().flatten().cloned().collect();
    if deleted.contains(cursor) {
        // The vendor ignores an unknown cursor: page 2 restarts from the top.
        assert_eq!(
            pages[1][0],
            all.iter()
                .find(|id| !deleted.contains(*id))
                .unwrap()
                .clone()
        );
    } else {
        // Otherwise the walk goes on; the deleted agents are simply absent from later pages.
        let later: Vec<&String> = pages[1..].iter().flatten().collect();
        assert!(later.iter().all(|id| !deleted.contains(*id)));
        assert_eq!(pages[0], plain[0]);
        let rest: Vec<&String> = all[plain[0].len()..]
            .iter()
            .filter(|id| !deleted.contains(*id))
            .collect();
        assert_eq!(later, rest);
    }
    assert!(seen.len() >= all.len() - 2);
    // Created mid-walk: newest first, so they land before the cursor and are never seen.
    let c = Client::new(&s, "created");
    c.start("agents-created-mid-pagination-letta");
    let pages = letta_walk(&c);
    let seen: Vec<String> = pages.iter().flatten().cloned().collect();
    assert_eq!(seen, all, "the walk misses the three new agents");
    let r = c.get("/letta/v1/agents/?limit=3");
    let newest: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        newest.iter().all(|id| !all.contains(id)),
        "the new agents head the list"
    );
}

#[test]
fn sessions_are_isolated_under_concurrent_requests() {
    let s = server(&[]);
    std::thread::scope(|scope| {
        for t in 0..4 {
            let s = &s;
            scope.spawn(move || {
                let c = Client::new(s, &format!("worker-{t}"));
                if t % 2 == 0 {
                    c.start("outage");
                    c.advance("10s");
                    for _ in 0..20 {
                        assert_eq!(c.get("/everruns/v1/agents").status, 500);
                    }
                } else {
                    for _ in 0..20 {
                        assert_eq!(c.get("/everruns/v1/agents").status, 200);
                    }
                }
            });
        }
    });
    // The default session never saw an outage.
    assert_eq!(
        support::get(&format!("{}/everruns/v1/agents", s.base)).status,
        200
    );
}

#[test]
fn replay_is_byte_identical() {
    let run = || {
        let s = server(&[]);
        let c = Client::new(&s, "replay");
        let mut bodies = Vec::new();
        c.start("failed-rollout");
        c.start("agents-created-mid-pagination-vectara");
        let name = key_of(&s, "pipecat-cloud", 0);
        for step in ["0s", "30s", "60s"] {
            c.advance(step);
            bodies.push(c.get(&format!("/pipecat-cloud/v1/agents/{name}")).body);
            bodies.push(c.get("/vectara/v2/agents?limit=5").body);
            bodies.push(c.get("/vectara/v2/agents?limit=5").body);
            bodies.push(c.get("/vectara/v2/agents/nope").body);
        }
        bodies
    };
    assert_eq!(run(), run());
}

#[test]
fn scenarios_given_at_start_run_in_every_session() {
    let s = server(&["rate-limited"]);
    assert_eq!(
        support::get(&format!("{}/vectara/v2/agents", s.base)).status,
        429
    );
    let c = Client::new(&s, "fresh");
    assert_eq!(c.get("/vectara/v2/agents").status, 429);
    c.advance("30s");
    assert_eq!(c.get("/vectara/v2/agents").status, 200);
    // Reset puts the session back to its start, scenario included.
    assert_eq!(c.admin("POST", "/reset", None).status, 200);
    assert_eq!(c.get("/vectara/v2/agents").status, 429);
}

#[test]
fn admin_api_errors() {
    let s = server(&[]);
    let c = Client::new(&s, "admin");
    assert_eq!(c.admin("POST", "/scenarios/nope/start", None).status, 404);
    c.start("outage");
    assert_eq!(c.admin("POST", "/scenarios/outage/start", None).status, 409);
    assert_eq!(c.admin("POST", "/scenarios/outage/next", None).status, 409);
    assert_eq!(
        c.admin("POST", "/clock/advance", Some(json!({"by": "soon"})))
            .status,
        400
    );
    assert_eq!(c.admin("POST", "/clock/advance", None).status, 400);
    let list = c.admin("GET", "/scenarios", None).json();
    assert!(list["available"].as_array().unwrap().len() >= 10);
    assert_eq!(list["active"][0]["name"], "outage");
    assert_eq!(c.admin("POST", "/scenarios/outage/stop", None).status, 200);
    assert_eq!(c.admin("POST", "/scenarios/outage/stop", None).status, 404);
}

#[test]
fn delay_and_drop_rules() {
    let s = server_with_files(
        "rules",
        &[(
            "flaky.yaml",
            "api: everruns\nsteps:\n  - respond:\n      - {match: {path: /v1/agents}, delay: 300ms, times: 1}\n  - manual: true\n    respond:\n      - {match: {path: /v1/agents}, drop: true, times: 1}\n",
        )],
    );
    let c = Client::new(&s, "flaky");
    c.start("flaky");
    let t = std::time::Instant::now();
    assert_eq!(c.get("/everruns/v1/agents").status, 200);
    assert!(t.elapsed() >= std::time::Duration::from_millis(300));
    assert_eq!(c.admin("POST", "/scenarios/flaky/next", None).status, 200);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let dropped = agent
        .get(format!("{}/everruns/v1/agents", s.base))
        .header("Authorization", support::TOKEN)
        .header("X-Understudy-Session", "flaky")
        .call();
    assert!(
        dropped.is_err(),
        "the connection is dropped without a response"
    );
    assert_eq!(c.get("/everruns/v1/agents").status, 200, "only once");
}

#[test]
fn broken_scenario_files_are_refused_with_file_line_and_problem() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "unknown-api",
            "api: nope\nsteps:\n  - at: 1s\n",
            ":1: unknown API 'nope'",
        ),
        (
            "unknown-field",
            "api: letta\nsteps:\n  - at: 1s\n    wait: 2s\n",
            ":4: steps[0]: unknown field `wait`",
        ),
        (
            "bad-duration",
            "api: letta\nsteps:\n  - at: thirty\n",
            ":3: bad duration 'thirty'",
        ),
        (
            "out-of-order",
            "api: letta\nsteps:\n  - at: 30s\n  - at: 10s\n",
            ":4: steps out of order",
        ),
        (
            "invalid-value",
            "api: pipecat-cloud\nsteps:\n  - update:\n      - agent: \"@0\"\n        set:\n          ready: \"yes\"\n",
            ":6: step #0 would make entity #0 invalid",
        ),
        (
            "bad-enum",
            "api: pipecat-cloud\nsteps:\n  - update:\n      - agent: \"@0\"\n        set:\n          currentRevision.phase: Exploded\n",
            ":6: step #0 would make entity #0 invalid",
        ),
        (
            "undocumented-status",
            "api: vectara\nsteps:\n  - respond:\n      - {status: 418}\n",
            ":4: vectara GET /v2/agents does not document status 418",
        ),
        (
            "no-such-agent",
            "api: letta\nsteps:\n  - delete: [\"@5000\"]\n",
            ":3: no entity at @5000",
        ),
        (
            "no-such-path",
            "api: letta\nsteps:\n  - request: {path: /v2/nope}\n",
            ":3: letta has no operation * /v2/nope",
        ),
        (
            "key-change",
            "api: everruns\nsteps:\n  - update:\n      - {agent: \"@0\", set: {id: agent_x}}\n",
            "is the entity's key and cannot be changed",
        ),
        ("not-yaml", "api: [letta\n", ":1: api: invalid type"),
    ];
    let dir = std::env::temp_dir().join(format!("understudy-badscenarios-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text, want) in cases {
        let f = dir.join(format!("{name}.yaml"));
        std::fs::write(&f, text).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_understudy"))
            .args(["scenario", "validate"])
            .arg(&f)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{name} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("{name}.yaml")), "{name}: {err}");
        assert!(err.contains(want), "{name}: expected {want:?} in {err}");
    }
}

#[test]
fn shipped_scenarios_validate_offline_and_against_the_json_schema() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_understudy"))
        .args(["scenario", "validate"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("docs/scenario.schema.json")).unwrap(),
    )
    .unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let mut n = 0;
    for e in std::fs::read_dir(root.join("scenarios")).unwrap() {
        let p = e.unwrap().path();
        let doc: Value = serde_yaml::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let errs: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errs.is_empty(), "{}: {errs:?}", p.display());
        n += 1;
    }
    assert!(n >= 10);
    // And the schema rejects what the loader rejects.
    let bad: Value =
        serde_yaml::from_str("api: letta\nsteps:\n  - at: 1s\n    wait: 2s\n").unwrap();
    assert!(!v.is_valid(&bad));
}

#[test]
fn one_advance_or_several_give_the_same_state() {
    let s = server(&[]);
    let name = key_of(&s, "pipecat-cloud", 0);
    let (a, b) = (Client::new(&s, "stepwise"), Client::new(&s, "at-once"));
    for c in [&a, &b] {
        c.start("failed-rollout");
        c.start("outage");
    }
    a.advance("30s");
    a.advance("60s");
    b.advance("90s");
    let da = a.get(&format!("/pipecat-cloud/v1/agents/{name}"));
    let db = b.get(&format!("/pipecat-cloud/v1/agents/{name}"));
    assert_eq!(
        da.body, db.body,
        "timestamps come from each step's scheduled time"
    );
    // The outage window is counted from its step's time (10 s), not from the advance: over at 70 s.
    assert_eq!(b.get("/everruns/v1/agents").status, 200);
    let c = Client::new(&s, "mid-window");
    c.start("outage");
    c.advance("20s");
    assert_eq!(c.get("/everruns/v1/agents").status, 500);
}

#[test]
fn a_timed_step_that_waited_for_a_manual_one_starts_its_window_when_it_fires() {
    let s = server_with_files(
        "late",
        &[(
            "late.yaml",
            "api: everruns\nsteps:\n  - name: go\n    manual: true\n  - name: outage\n    at: 10s\n    respond:\n      - {status: 500, for: 30s}\n",
        )],
    );
    let c = Client::new(&s, "late");
    c.start("late");
    c.advance("60s");
    assert_eq!(c.get("/everruns/v1/agents").status, 200);
    assert_eq!(c.admin("POST", "/scenarios/late/next", None).status, 200);
    assert_eq!(
        c.get("/everruns/v1/agents").status,
        500,
        "the window runs from 60 s"
    );
    c.advance("29s");
    assert_eq!(c.get("/everruns/v1/agents").status, 500);
    c.advance("1s");
    assert_eq!(c.get("/everruns/v1/agents").status, 200);
}

#[test]
fn a_clock_that_would_overflow_is_refused() {
    let s = server(&[]);
    let c = Client::new(&s, "far");
    c.start("outage");
    let r = c.admin(
        "POST",
        "/clock/advance",
        Some(json!({"by": "9223372036854775s"})),
    );
    assert_eq!(r.status, 400);
    let state = c.admin("GET", "/state", None).json();
    assert_eq!(state["clock_ms"], 0);
    c.advance("10s");
    assert_eq!(c.get("/everruns/v1/agents").status, 500);
}

#[test]
fn a_scenario_started_again_or_failing_does_not_jam_the_session() {
    let s = server(&[]);
    let c = Client::new(&s, "again");
    c.start("agent-deleted-mid-pagination-vectara");
    for _ in 0..2 {
        assert_eq!(c.get("/vectara/v2/agents").status, 200);
    }
    assert_eq!(
        c.admin(
            "POST",
            "/scenarios/agent-deleted-mid-pagination-vectara/stop",
            None
        )
        .status,
        200
    );
    c.start("agent-deleted-mid-pagination-vectara");
    for _ in 0..3 {
        assert_eq!(c.get("/vectara/v2/agents").status, 200);
    }
    let state = c.admin("GET", "/state", None).json();
    assert_eq!(state["scenarios"][0]["failed"], Value::Null, "{state}");

    // Two scenarios that disagree: B's manual step cannot update what A deleted.
    let a = ("a.yaml", "api: everruns\nsteps:\n  - delete: [\"@0\"]\n");
    let b = (
        "b.yaml",
        "api: everruns\nsteps:\n  - manual: true\n    update:\n      - {agent: \"@0\", set: {name: renamed}}\n",
    );
    let s = server_with_files("clash", &[a, b]);
    let c = Client::new(&s, "clash");
    c.start("a");
    c.start("b");
    let r = c.admin("POST", "/scenarios/b/next", None);
    assert_eq!(r.status, 409);
    assert!(String::from_utf8_lossy(&r.body).contains("no entity at @0"));
    c.advance("1s");
    assert_eq!(c.get("/everruns/v1/agents").status, 200);
    // Starting a scenario whose first step cannot apply is refused and leaves no trace.
    let c_file = (
        "c.yaml",
        "api: everruns\nsteps:\n  - update:\n      - {agent: \"@0\", set: {name: x}}\n",
    );
    let s = server_with_files("refused", &[a, c_file]);
    let c = Client::new(&s, "refused");
    c.start("a");
    let r = c.admin("POST", "/scenarios/c/start", None);
    assert_eq!(r.status, 400);
    let state = c.admin("GET", "/state", None).json();
    assert_eq!(state["scenarios"].as_array().unwrap().len(), 1);
}

#[test]
fn request_ids_never_repeat_in_the_default_session() {
    let s = server(&[]);
    let mut ids = HashSet::new();
    let mut get = || {
        let r = support::get(&format!("{}/everruns/v1/agents", s.base));
        assert!(ids.insert(r.header("x-request-id").unwrap().to_string()));
    };
    get();
    get();
    let c = Client::new(&s, "default");
    assert_eq!(c.admin("GET", "/state", None).status, 200);
    get();
    c.start("archived-agent");
    get();
    get();
    c.admin("POST", "/reset", None);
    get();
    // Answers made outside the engine (a body too large) count in the same sequence.
    for _ in 0..2 {
        let r = support::declare_body(&s.base, "POST", "/everruns/v1/agents", 2 << 20);
        assert_eq!(r.status, 413);
        assert!(ids.insert(r.header("x-request-id").unwrap().to_string()));
    }
}

#[test]
fn every_documented_error_status_is_answered_in_its_documented_shape() {
    // A scenario rule can answer any status an operation documents; each body must match the
    // schema documented for that status (the API's own envelope).
    let apis = understudy::spec::load_embedded().unwrap();
    let mut files = Vec::new();
    let mut cases = Vec::new();
    for api in &apis {
        for op in &api.operations {
            for r in &op.responses {
                let Ok(status) = r.status.parse::<u16>() else {
                    continue;
                };
                if status < 400 {
                    continue;
                }
                let name = format!("{}-{}-{status}", api.name, cases.len());
                files.push((
                    format!("{name}.yaml"),
                    format!(
                        "api: {}\nsteps:\n  - respond:\n      - {{match: {{method: {}, path: \"{}\"}}, status: {status}, message: \"scripted {status}\"}}\n",
                        api.name, op.method, op.path
                    ),
                ));
                cases.push((
                    name,
                    api.name.clone(),
                    op.method.clone(),
                    op.path.clone(),
                    status,
                ));
            }
        }
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let s = server_with_files("statuses", &refs);
    assert!(cases.len() >= 20, "{}", cases.len());
    for (name, api, method, path, status) in &cases {
        let c = Client::new(&s, name);
        c.start(name);
        let base = s
            .engine
            .mounts()
            .iter()
            .find(|m| &m.api.name == api)
            .unwrap()
            .prefix
            .clone();
        let concrete = path
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    key_of(&s, api, 0)
                } else {
                    seg.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let r = c.send(method, &format!("{base}{concrete}"));
        assert_eq!(r.status, *status, "{name}");
        assert_valid(api, method, path, &r);
        assert!(
            String::from_utf8_lossy(&r.body).contains(&format!("scripted {status}")),
            "{name}"
        );
    }
}

#[test]
fn restarting_a_scenario_replaces_what_its_earlier_runs_created() {
    let s = support::start(Config {
        scenarios: understudy::scenario::load_embedded().unwrap(),
        ..support::default_config()
    });
    let c = Client::new(&s, "restarts");
    let name = "agents-created-mid-pagination-letta";
    let mut sizes = Vec::new();
    for _ in 0..20 {
        c.start(name);
        // The creation fires on the 2nd list request.
        c.get("/letta/v1/agents/?limit=1");
        c.get("/letta/v1/agents/?limit=1");
        let all = c.get("/letta/v1/agents/?limit=1000").json();
        sizes.push(all.as_array().unwrap().len());
        let state = c.admin("GET", "/state", None).json();
        assert_eq!(state["changes"]["letta"]["created"], 3, "{state}");
        let r = c.admin("POST", &format!("/scenarios/{name}/stop"), None);
        assert_eq!(r.status, 200);
    }
    // 137 agents plus the same three, however often the scenario ran.
    assert!(sizes.iter().all(|n| *n == 140), "{sizes:?}");
}
