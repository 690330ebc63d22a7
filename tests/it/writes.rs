//! Writes through the API: creates, replaces, merge patches and deletes land in the caller's
//! session and every read of that session sees them (detail, list, page walks at any page
//! size), other sessions do not, `reset` undoes them, and bad writes get the API's own errors.
//! Run against a plain OpenAPI document whose collection and writes are all inferred, under
//! `--strict` (so every answer, writes and errors included, validates against the document).

use std::collections::HashSet;

use crate::support::{self, request, request_with_body};
use serde_json::{Value, json};

fn projects() -> support::TestServer {
    let api =
        understudy::spec::load_file(std::path::Path::new("tests/fixtures/writes/projects.yaml"))
            .unwrap_or_else(|e| panic!("{e}"));
    support::start_with(vec![api], support::default_config())
}

const AUTH: (&str, &str) = ("Authorization", "Bearer k");

/// A session's view, through one server.
struct Client<'a> {
    base: &'a str,
    session: Option<&'a str>,
}

impl Client<'_> {
    fn send(&self, method: &str, path: &str, body: Option<Value>) -> support::Resp {
        let mut headers = vec![AUTH, ("Content-Type", "application/json")];
        if let Some(s) = self.session {
            headers.push(("X-Understudy-Session", s));
        }
        let text = body.map(|b| b.to_string()).unwrap_or_default();
        request_with_body(method, &format!("{}{path}", self.base), &headers, &text)
    }

    /// Every slug the list shows, walking pages of `limit` by the `after` cursor.
    fn walk(&self, limit: usize) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        loop {
            let path = match out.last() {
                Some(a) => format!("/projects?limit={limit}&after={a}"),
                None => format!("/projects?limit={limit}"),
            };
            let page = self.send("GET", &path, None);
            assert_eq!(page.status, 200, "{}", String::from_utf8_lossy(&page.body));
            let v = page.json();
            let items = v["data"].as_array().expect("data");
            assert!(items.len() <= limit, "a page holds at most the limit");
            out.extend(
                items
                    .iter()
                    .map(|p| p["slug"].as_str().unwrap().to_string()),
            );
            if !v["has_more"].as_bool().unwrap() {
                return out;
            }
            assert!(out.len() < 1000, "the walk ends");
        }
    }

    /// The walk, checked to show every item once and to agree at two page sizes.
    fn listed(&self) -> Vec<String> {
        let walk = self.walk(7);
        let distinct: HashSet<&String> = walk.iter().collect();
        assert_eq!(distinct.len(), walk.len(), "no item twice: {walk:?}");
        assert_eq!(self.walk(3), walk, "the same items at another page size");
        walk
    }
}

#[test]
fn writes_are_seen_by_every_read_of_their_session_only() {
    let s = projects();
    let a = Client {
        base: &s.base,
        session: Some("writer-a"),
    };
    let b = Client {
        base: &s.base,
        session: Some("reader-b"),
    };
    let before = a.listed();
    assert_eq!(before.len(), 30);

    // Create, with a client-chosen key: the client's fields, the rest generated (as the
    // dataset's are), times from the session's clock.
    let created = a.send(
        "POST",
        "/projects",
        Some(json!({"slug": "w-one", "name": "One", "tags": ["x"]})),
    );
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let one = created.json();
    assert_eq!(one["slug"], "w-one");
    assert_eq!(one["name"], "One");
    assert_eq!(one["tags"], json!(["x"]));
    assert_eq!(one["created_at"], "2026-11-01T00:00:00.000Z");
    assert!(one["stars"].is_u64(), "a server-set field is generated");
    let got = a.send("GET", "/projects/w-one", None);
    assert_eq!(got.status, 200);
    assert_eq!(got.json(), one, "the detail shows what the create answered");
    let listed = a.listed();
    assert_eq!(listed.len(), 31);
    assert_eq!(listed.iter().filter(|k| *k == "w-one").count(), 1);
    assert_eq!(listed[..30], before[..], "the others keep their order");

    // Another session sees none of it.
    assert_eq!(b.send("GET", "/projects/w-one", None).status, 404);
    assert_eq!(b.listed(), before);

    // A created key without the client's choice, in the API's format.
    let made = a.send("POST", "/projects", Some(json!({"name": "Two"})));
    assert_eq!(made.status, 201);
    let two = made.json()["slug"].as_str().unwrap().to_string();
    assert!(
        regex::Regex::new("^[a-z][a-z0-9-]{2,40}$")
            .unwrap()
            .is_match(&two),
        "{two}"
    );
    assert!(made.json()["created_at"].as_str() > one["created_at"].as_str());

    // Duplicate key, invalid body, unknown key: the API's own errors.
    let dup = a.send(
        "POST",
        "/projects",
        Some(json!({"slug": "w-one", "name": "Again"})),
    );
    assert_eq!(dup.status, 409);
    assert!(
        dup.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );
    let dup_base = a.send(
        "POST",
        "/projects",
        Some(json!({"slug": before[0], "name": "Again"})),
    );
    assert_eq!(dup_base.status, 409, "a dataset key is taken too");
    let invalid = a.send("POST", "/projects", Some(json!({"name": ""})));
    assert_eq!(invalid.status, 422);
    assert!(invalid.json()["error"]["message"].is_string());
    let unknown = a.send("PATCH", "/projects/no-such", Some(json!({"name": "x"})));
    assert_eq!(unknown.status, 404);
    assert!(unknown.json()["error"]["message"].is_string());
    assert_eq!(a.listed().len(), 32, "refused writes change nothing");

    // A merge patch: null removes an optional field; the update time moves.
    let patched = a.send(
        "PATCH",
        "/projects/w-one",
        Some(json!({"name": "Uno", "description": "d"})),
    );
    assert_eq!(patched.status, 200);
    let cleared = a.send(
        "PATCH",
        "/projects/w-one",
        Some(json!({"description": null})),
    );
    let p = cleared.json();
    assert_eq!(p["name"], "Uno");
    assert!(p.get("description").is_none(), "{p}");
    assert_eq!(p["created_at"], one["created_at"]);
    assert!(p["updated_at"].as_str() > one["updated_at"].as_str());
    assert_eq!(a.send("GET", "/projects/w-one", None).json(), p);
    // A replace: what the body leaves out and may be absent goes.
    let replaced = a.send(
        "PUT",
        "/projects/w-one",
        Some(json!({"name": "Replaced", "visibility": "private"})),
    );
    assert_eq!(replaced.status, 200);
    assert_eq!(replaced.json()["visibility"], "private");
    assert_eq!(replaced.json()["slug"], "w-one", "the key stays");

    // Deletes: the entity is gone from the detail and the list; a base entity too.
    let deleted = a.send("DELETE", "/projects/w-one", None);
    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_empty());
    assert_eq!(a.send("GET", "/projects/w-one", None).status, 404);
    assert_eq!(a.send("DELETE", "/projects/w-one", None).status, 404);
    assert_eq!(
        a.send("DELETE", &format!("/projects/{}", before[3]), None)
            .status,
        204
    );
    let now = a.listed();
    assert_eq!(now.len(), 30);
    assert!(!now.contains(&"w-one".to_string()) && !now.contains(&before[3]));
    assert!(now.contains(&two));
    // The key of a deleted entity may be taken again.
    let again = a.send(
        "POST",
        "/projects",
        Some(json!({"slug": "w-one", "name": "Back"})),
    );
    assert_eq!(again.status, 201);
    assert_eq!(
        a.send("GET", "/projects/w-one", None).json()["name"],
        "Back"
    );

    // Reset restores the dataset.
    let reset = request(
        "POST",
        &format!("{}/__understudy/reset", s.base),
        &[
            ("X-Understudy-Session", "writer-a"),
            ("Content-Type", "application/json"),
        ],
    );
    assert_eq!(reset.status, 200);
    assert_eq!(a.listed(), before);
    assert_eq!(a.send("GET", "/projects/w-one", None).status, 404);
}

#[test]
fn a_generated_key_that_a_client_took_is_generated_again() {
    let s = projects();
    let a = Client {
        base: &s.base,
        session: Some("taken"),
    };
    // The key the second create generates (the first create takes the position before it),
    // taken by hand first.
    let probe = Client {
        base: &s.base,
        session: Some("probe"),
    };
    probe.send("POST", "/projects", Some(json!({"name": "P"})));
    let next = probe.send("POST", "/projects", Some(json!({"name": "P"})));
    let next = next.json()["slug"].as_str().unwrap().to_string();
    let chosen = a.send(
        "POST",
        "/projects",
        Some(json!({"slug": next, "name": "Mine"})),
    );
    assert_eq!(chosen.status, 201);
    for _ in 0..3 {
        let made = a.send("POST", "/projects", Some(json!({"name": "Auto"})));
        assert_eq!(made.status, 201, "{}", String::from_utf8_lossy(&made.body));
        assert_ne!(made.json()["slug"], json!(next));
    }
    assert_eq!(a.listed().len(), 34);
}

#[test]
fn a_write_without_a_session_lands_in_the_default_session() {
    let s = projects();
    let plain = Client {
        base: &s.base,
        session: None,
    };
    let other = Client {
        base: &s.base,
        session: Some("other"),
    };
    let r = plain.send(
        "POST",
        "/projects",
        Some(json!({"slug": "dflt", "name": "D"})),
    );
    assert_eq!(r.status, 201);
    assert_eq!(plain.send("GET", "/projects/dflt", None).status, 200);
    assert!(plain.listed().contains(&"dflt".to_string()));
    assert_eq!(other.send("GET", "/projects/dflt", None).status, 404);
}

#[test]
fn the_same_writes_give_the_same_bytes_in_every_session() {
    let s = projects();
    let run = |session: &str| -> Vec<Vec<u8>> {
        let c = Client {
            base: &s.base,
            session: Some(session),
        };
        vec![
            c.send("POST", "/projects", Some(json!({"name": "A"}))).body,
            c.send(
                "POST",
                "/projects",
                Some(json!({"slug": "bee", "name": "B"})),
            )
            .body,
            c.send("PATCH", "/projects/bee", Some(json!({"tags": ["t"]})))
                .body,
            c.send("GET", "/projects?limit=50", None).body,
        ]
    };
    assert_eq!(run("one"), run("two"));
}

#[test]
fn an_exported_session_replays_to_identical_bytes() {
    let s = projects();
    let a = Client {
        base: &s.base,
        session: Some("to-export"),
    };
    let one = a.send(
        "POST",
        "/projects",
        Some(json!({"slug": "kept", "name": "K"})),
    );
    assert_eq!(one.status, 201);
    let gone = a.send("POST", "/projects", Some(json!({"name": "Gone"})));
    let gone = gone.json()["slug"].as_str().unwrap().to_string();
    assert_eq!(
        a.send("POST", "/projects", Some(json!({"name": "Third"})))
            .status,
        201
    );
    let before = a.listed();
    assert_eq!(
        a.send(
            "PATCH",
            &format!("/projects/{}", before[1]),
            Some(json!({"tags": ["t"]}))
        )
        .status,
        200
    );
    assert_eq!(
        a.send("DELETE", &format!("/projects/{}", before[2]), None)
            .status,
        204
    );
    assert_eq!(
        a.send("DELETE", &format!("/projects/{gone}"), None).status,
        204
    );
    let exported = request(
        "GET",
        &format!("{}/__understudy/sessions/to-export/export", s.base),
        &[],
    );
    assert_eq!(
        exported.status,
        200,
        "{}",
        String::from_utf8_lossy(&exported.body)
    );
    assert_eq!(exported.header("content-type"), Some("application/yaml"));
    let yaml = String::from_utf8(exported.body).unwrap();
    assert_eq!(
        request(
            "GET",
            &format!("{}/__understudy/sessions/nobody/export", s.base),
            &[]
        )
        .status,
        404
    );

    // Another server, with the exported file as a scenario every session starts with.
    let scenario = understudy::scenario::parse("replayed.yaml", &yaml)
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let api =
        understudy::spec::load_file(std::path::Path::new("tests/fixtures/writes/projects.yaml"))
            .unwrap();
    let mut cfg = support::default_config();
    cfg.scenarios = vec![scenario];
    cfg.start = vec!["replayed".into()];
    let r = support::start_with(vec![api], cfg);
    let b = Client {
        base: &r.base,
        session: Some("replay"),
    };
    let expected = a.listed();
    assert_eq!(b.listed(), expected);
    for limit in [5, 50] {
        let path = format!("/projects?limit={limit}");
        assert_eq!(
            b.send("GET", &path, None).body,
            a.send("GET", &path, None).body
        );
    }
    for slug in &expected {
        let path = format!("/projects/{slug}");
        assert_eq!(
            b.send("GET", &path, None).body,
            a.send("GET", &path, None).body
        );
    }
    assert_eq!(
        b.send("GET", &format!("/projects/{gone}"), None).status,
        404
    );
}

/// The binary serving the projects document with `--state FILE`; returns it and its base URL.
fn serve_with_state(state: &std::path::Path) -> (std::process::Child, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_understudy"));
    cmd.args(["serve", "--port", "0", "--state"])
        .arg(state)
        .arg("tests/fixtures/writes/projects.yaml");
    let (child, addr, lines) = crate::cli::spawn_listening(cmd);
    // Keep draining the log so the pipe never fills.
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://{addr}"))
}

#[test]
fn the_state_file_keeps_every_acknowledged_write_across_kill_9() {
    let dir = std::env::temp_dir().join(format!("understudy-state-it-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("default.redb");

    let (mut first, base) = serve_with_state(&state);
    let c = Client {
        base: &base,
        session: None,
    };
    let made = c.send(
        "POST",
        "/projects",
        Some(json!({"slug": "durable", "name": "D"})),
    );
    assert_eq!(made.status, 201);
    assert_eq!(
        c.send("DELETE", &format!("/projects/{}", c.walk(50)[0]), None)
            .status,
        204
    );
    let seen = c.walk(50);
    // Another session's writes are not kept.
    let other = Client {
        base: &base,
        session: Some("passing"),
    };
    assert_eq!(
        other
            .send(
                "POST",
                "/projects",
                Some(json!({"slug": "lost", "name": "L"}))
            )
            .status,
        201
    );
    first.kill().unwrap(); // SIGKILL: no shutdown, nothing flushed on the way out
    first.wait().unwrap();

    let (mut second, base) = serve_with_state(&state);
    let c = Client {
        base: &base,
        session: None,
    };
    assert_eq!(c.walk(50), seen, "the list is as it was");
    let got = c.send("GET", "/projects/durable", None);
    assert_eq!(got.status, 200);
    assert_eq!(
        got.json(),
        made.json(),
        "the entity is byte for byte the same"
    );
    let other = Client {
        base: &base,
        session: Some("passing"),
    };
    assert_eq!(other.send("GET", "/projects/lost", None).status, 404);
    // A write between two kills.
    let patched = c.send("PATCH", "/projects/durable", Some(json!({"name": "Again"})));
    assert_eq!(patched.status, 200);
    second.kill().unwrap();
    second.wait().unwrap();

    let (mut third, base) = serve_with_state(&state);
    let c = Client {
        base: &base,
        session: None,
    };
    assert_eq!(
        c.send("GET", "/projects/durable", None).json(),
        patched.json()
    );
    // A reset empties the journal too.
    let reset = request(
        "POST",
        &format!("{base}/__understudy/reset"),
        &[("Content-Type", "application/json")],
    );
    assert_eq!(reset.status, 200);
    third.kill().unwrap();
    third.wait().unwrap();
    let (mut fourth, base) = serve_with_state(&state);
    let c = Client {
        base: &base,
        session: None,
    };
    assert_eq!(c.send("GET", "/projects/durable", None).status, 404);
    assert_eq!(c.walk(50).len(), 30);
    fourth.kill().unwrap();
    fourth.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

mod model {
    //! Random sequences of creates, updates and deletes against an independent model of a
    //! sorted collection (Letta's agents, newest update first): every page size walks the
    //! model's order, every item once.

    use std::sync::OnceLock;

    use proptest::prelude::*;
    use serde_json::{Value, json};
    use understudy::engine::{Engine, Request};

    fn engine() -> &'static Engine {
        static E: OnceLock<Engine> = OnceLock::new();
        E.get_or_init(|| {
            let apis = understudy::spec::load_embedded().expect("embedded specs load");
            Engine::new(apis, &crate::support::default_config()).expect("engine builds")
        })
    }

    fn call(session: &str, method: &str, target: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = Request::get(&format!("/letta/v1{target}"))
            .with_method(method)
            .header("authorization", "Bearer k")
            .header("content-type", "application/json")
            .header("x-understudy-session", session);
        if let Some(b) = body {
            req.body = bytes::Bytes::from(b.to_string());
        }
        let r = engine().handle(&req);
        let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        (r.status, v)
    }

    /// (updated_at, id) of every agent a walk of pages of `limit` shows, newest update first.
    fn walk(session: &str, limit: usize) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        loop {
            let mut q = format!("/agents/?order_by=updated_at&order=desc&limit={limit}");
            if let Some((_, id)) = out.last() {
                q.push_str(&format!("&after={id}"));
            }
            let (status, page) = call(session, "GET", &q, None);
            assert_eq!(status, 200, "{page}");
            let items = page.as_array().expect("a bare array");
            assert!(items.len() <= limit);
            if items.is_empty() {
                return out;
            }
            for a in items {
                out.push((
                    a["updated_at"].as_str().unwrap_or_default().to_string(),
                    a["id"].as_str().unwrap().to_string(),
                ));
            }
            assert!(out.len() < 10_000, "the walk ends");
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Create,
        Update(usize),
        Delete(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Create),
            (0usize..1000).prop_map(Op::Update),
            (0usize..1000).prop_map(Op::Delete),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn every_page_size_walks_the_models_order_after_any_writes(
            ops in prop::collection::vec(op(), 1..12),
            case in any::<u64>(),
        ) {
            let session = format!("model-{case}");
            // The model: (updated_at, id) of every live agent.
            let mut model: Vec<(String, String)> = walk(&session, 1000);
            for op in &ops {
                match op {
                    Op::Create => {
                        let (status, a) = call(&session, "POST", "/agents/", Some(json!({"name": "made"})));
                        prop_assert_eq!(status, 200, "{}", a);
                        model.push((
                            a["updated_at"].as_str().unwrap().to_string(),
                            a["id"].as_str().unwrap().to_string(),
                        ));
                    }
                    Op::Update(i) => {
                        let id = model[i % model.len()].1.clone();
                        let (status, a) = call(
                            &session,
                            "PATCH",
                            &format!("/agents/{id}"),
                            Some(json!({"description": "changed"})),
                        );
                        prop_assert_eq!(status, 200, "{}", a);
                        let slot = model.iter_mut().find(|(_, x)| *x == id).unwrap();
                        slot.0 = a["updated_at"].as_str().unwrap().to_string();
                    }
                    Op::Delete(i) => {
                        let id = model.remove(i % model.len()).1;
                        let (status, _) = call(&session, "DELETE", &format!("/agents/{id}"), None);
                        prop_assert_eq!(status, 200);
                        let (gone, _) = call(&session, "GET", &format!("/agents/{id}"), None);
                        prop_assert_eq!(gone, 404);
                    }
                }
            }
            // Newest update first, ties by id in the same direction.
            model.sort_by(|a, b| b.cmp(a));
            for limit in [1, 4, 50] {
                prop_assert_eq!(&walk(&session, limit), &model, "limit {}", limit);
            }
        }
    }
}
