//! The shipped specs' write endpoints over HTTP, under `--strict`: an archive instead of a
//! delete, a write refused by the entity's state, server-set fields, a partial update, a key
//! named in the body, aliases that follow a written field, and the timeline a deploy starts
//! (with the scenario that swaps in the failing one).

use crate::support::{self, request, request_with_body};
use serde_json::{Value, json};

fn server() -> support::TestServer {
    let mut cfg = support::default_config();
    cfg.scenarios = understudy::scenario::load_embedded().expect("embedded scenarios load");
    support::start(cfg)
}

/// One session's calls to one API.
struct Api<'a> {
    base: String,
    session: &'a str,
}

impl Api<'_> {
    fn send(&self, method: &str, path: &str, body: Option<Value>) -> support::Resp {
        let headers = [
            ("Authorization", "Bearer evr_pat_test"),
            ("x-api-key", "k"),
            ("Content-Type", "application/json"),
            ("X-Understudy-Session", self.session),
        ];
        let text = body.map(|b| b.to_string()).unwrap_or_default();
        request_with_body(method, &format!("{}{path}", self.base), &headers, &text)
    }

    fn advance(&self, by: &str) {
        let r = request_with_body(
            "POST",
            &format!("{}/__understudy/clock/advance", self.root()),
            &[
                ("Content-Type", "application/json"),
                ("X-Understudy-Session", self.session),
            ],
            &json!({ "by": by }).to_string(),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }

    fn start(&self, scenario: &str) {
        let r = request(
            "POST",
            &format!("{}/__understudy/scenarios/{scenario}/start", self.root()),
            &[
                ("Content-Type", "application/json"),
                ("X-Understudy-Session", self.session),
            ],
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }

    fn root(&self) -> &str {
        let i = self.base[7..].find('/').map_or(self.base.len(), |i| i + 7);
        &self.base[..i]
    }
}

#[test]
fn an_everruns_delete_archives_and_an_archived_agent_refuses_edits() {
    let s = server();
    let a = Api {
        base: format!("{}/everruns/v1", s.base),
        session: "archive",
    };
    let made = a.send(
        "POST",
        "/agents",
        Some(json!({"name": "archivist", "system_prompt": "You keep records.", "status": "archived"})),
    );
    assert_eq!(made.status, 201, "{}", String::from_utf8_lossy(&made.body));
    let agent = made.json();
    assert_eq!(
        agent["status"], "active",
        "the server sets the status of a new agent"
    );
    assert_eq!(
        agent["description"],
        Value::Null,
        "the server's default for an omitted field"
    );
    let id = agent["id"].as_str().unwrap().to_string();
    // A partial update: null leaves a field as it is, a given field replaces it whole.
    let patched = a.send(
        "PATCH",
        &format!("/agents/{id}"),
        Some(json!({"system_prompt": null, "tags": ["a", "b"]})),
    );
    assert_eq!(patched.status, 200);
    assert_eq!(patched.json()["system_prompt"], "You keep records.");
    assert_eq!(patched.json()["tags"], json!(["a", "b"]));
    let listed = |a: &Api| -> Vec<String> {
        let v = a.send("GET", "/agents", None).json();
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(listed(&a).contains(&id));
    assert_eq!(a.send("DELETE", &format!("/agents/{id}"), None).status, 204);
    let after = a.send("GET", &format!("/agents/{id}"), None);
    assert_eq!(after.status, 200, "an archived agent is still there");
    assert_eq!(after.json()["status"], "archived");
    assert!(!listed(&a).contains(&id), "and no longer listed");
    let refused = a.send(
        "PATCH",
        &format!("/agents/{id}"),
        Some(json!({"name": "again"})),
    );
    assert_eq!(refused.status, 400);
    assert!(
        refused.json()["error"]
            .as_str()
            .unwrap()
            .contains("cannot be changed while its status is \"archived\"")
    );
    assert_eq!(
        a.send("GET", &format!("/agents/{id}"), None).json()["name"],
        "archivist"
    );
}

#[test]
fn a_vectara_key_chosen_by_the_client_names_the_agent_and_a_taken_one_is_the_documented_400() {
    let s = server();
    let a = Api {
        base: format!("{}/vectara/v2", s.base),
        session: "vectara-writes",
    };
    let body = json!({
        "key": "agt_chosen_by_test",
        "name": "Chosen",
        "model": {"name": "gpt-4o", "parameters": {}},
        "tool_configurations": {},
        "first_step": {"name": "greet", "type": "conversational", "instructions": [],
                       "output_parser": {"type": "default"}}
    });
    let made = a.send("POST", "/agents", Some(body.clone()));
    assert_eq!(made.status, 201, "{}", String::from_utf8_lossy(&made.body));
    let v = made.json();
    assert_eq!(v["id"], "agt_chosen_by_test");
    assert_eq!(v["key"], v["id"], "the alias follows the key");
    assert_eq!(
        v["first_step_name"], "greet",
        "the alias follows the written object"
    );
    let again = a.send("POST", "/agents", Some(body));
    assert_eq!(
        again.status, 400,
        "Vectara documents no 409: its bad request"
    );
    assert!(
        again.json()["messages"][0]
            .as_str()
            .unwrap()
            .contains("already exists")
    );
    let renamed = a.send(
        "PATCH",
        "/agents/agt_chosen_by_test",
        Some(
            json!({"first_step": {"name": "triage", "type": "conversational", "instructions": [],
                                   "output_parser": {"type": "default"}}}),
        ),
    );
    assert_eq!(
        renamed.status,
        200,
        "{}",
        String::from_utf8_lossy(&renamed.body)
    );
    assert_eq!(renamed.json()["first_step_name"], "triage");
    assert_eq!(
        renamed.json()["id"],
        "agt_chosen_by_test",
        "the key never changes"
    );
}

#[test]
fn a_pipecat_deploy_runs_its_timeline_and_failing_deploys_swaps_in_the_failed_one() {
    let s = server();
    let a = Api {
        base: format!("{}/pipecat-cloud/v1", s.base),
        session: "deploys",
    };
    let phase = |a: &Api, name: &str| -> (String, bool) {
        let v = a.send("GET", &format!("/agents/{name}"), None).json();
        (
            v["currentRevision"]["phase"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            v["ready"].as_bool().unwrap(),
        )
    };
    let made = a.send(
        "POST",
        "/agents",
        Some(json!({"serviceName": "timeline-bot", "image": "acme/bot:1"})),
    );
    assert_eq!(made.status, 200, "{}", String::from_utf8_lossy(&made.body));
    assert_eq!(
        made.json()["currentRevision"]["phase"],
        "Creating",
        "the answer shows it"
    );
    assert_eq!(phase(&a, "timeline-bot"), ("Creating".into(), false));
    a.advance("30s");
    assert_eq!(phase(&a, "timeline-bot").0, "Validating");
    // A deploy during the first rollout replaces its run: the first timeline's later steps
    // never touch the new revision.
    let update = a.send(
        "POST",
        "/agents/timeline-bot",
        Some(json!({"image": "acme/bot:2"})),
    );
    assert_eq!(
        update.status,
        200,
        "{}",
        String::from_utf8_lossy(&update.body)
    );
    let desired = update.json()["desiredDeploymentId"].clone();
    a.advance("120s");
    let v = a.send("GET", "/agents/timeline-bot", None).json();
    assert_eq!(v["currentRevision"]["phase"], "Active");
    assert_eq!(v["currentRevision"]["deploymentID"], desired);
    assert_eq!(v["reconciledDeploymentId"], desired);
    assert_eq!(v["deployment"]["manifest"]["spec"]["image"], "acme/bot:2");

    // Under failing-deploys, the same write ends Failed.
    a.start("failing-deploys");
    let made = a.send(
        "POST",
        "/agents",
        Some(json!({"serviceName": "doomed-bot", "image": "acme/bot:1"})),
    );
    assert_eq!(made.status, 200);
    a.advance("120s");
    assert_eq!(phase(&a, "doomed-bot"), ("Failed".into(), false));
    // Another session deploys as usual.
    let b = Api {
        base: a.base.clone(),
        session: "healthy",
    };
    b.send(
        "POST",
        "/agents",
        Some(json!({"serviceName": "doomed-bot", "image": "acme/bot:1"})),
    );
    b.advance("120s");
    assert_eq!(phase(&b, "doomed-bot"), ("Active".into(), true));
}
