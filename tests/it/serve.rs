//! The foundation: every API served from its spec, with valid, consistent, deterministic data
//! and errors in each API's own shape.

use std::collections::HashSet;

use serde_json::Value;

use crate::support::{self, APIS, ApiCase, assert_valid, get, items, request, walk};

fn case(name: &str) -> &'static ApiCase {
    APIS.iter().find(|c| c.name == name).unwrap()
}

#[test]
fn every_list_and_detail_validates_and_agrees() {
    let s = support::shared();
    for c in APIS {
        let all = walk(&s.base, c, "");
        assert!(all.len() > 10, "{}: only {} agents", c.name, all.len());
        let mut seen = HashSet::new();
        for item in &all {
            let key = item[c.key].as_str().unwrap();
            assert!(
                seen.insert(key.to_string()),
                "{}: {key} listed twice",
                c.name
            );
            let r = get(&format!("{}{}{}", s.base, c.get_prefix, key));
            assert_eq!(r.status, 200, "{}: detail of {key}", c.name);
            assert_valid(c.name, "GET", c.get_tpl, &r);
            let detail = r.json();
            // The detail matches the list item field for field (for fields both show).
            for (k, v) in item.as_object().unwrap() {
                if let Some(d) = detail.get(k) {
                    if k == "deployment" {
                        continue; // list shows it only with includeActiveDeployment
                    }
                    assert_eq!(
                        d, v,
                        "{}: {key}.{k} differs between list and detail",
                        c.name
                    );
                }
            }
        }
    }
}

#[test]
fn timestamps_are_ordered_and_the_data_varies() {
    let s = support::shared();
    for c in APIS {
        let query = if c.name == "letta" {
            "include=agent.tags"
        } else {
            ""
        };
        let all = walk(&s.base, c, query);
        for a in &all {
            for (created, updated) in [("createdAt", "updatedAt"), ("created_at", "updated_at")] {
                if let (Some(cr), Some(up)) = (a[created].as_str(), a[updated].as_str()) {
                    assert!(cr <= up, "{}: {created} {cr} after {updated} {up}", c.name);
                }
            }
        }
        let distinct =
            |field: &str| -> HashSet<String> { all.iter().map(|a| a[field].to_string()).collect() };
        match c.name {
            "pipecat-cloud" => assert_eq!(distinct("region").len(), 4, "every region occurs"),
            "vectara" => assert_eq!(distinct("enabled").len(), 2, "enabled and disabled agents"),
            "letta" => {
                assert!(distinct("tags").len() > 10, "many tag sets");
                assert!(distinct("agent_type").len() > 2);
            }
            _ => assert!(distinct("tags").len() > 3),
        }
    }
}

#[test]
fn ids_have_each_apis_format() {
    let s = support::shared();
    let uuid =
        regex::Regex::new("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
            .unwrap();
    let checks: [(&str, &str, regex::Regex); 4] = [
        ("pipecat-cloud", "id", uuid.clone()),
        (
            "vectara",
            "id",
            regex::Regex::new("^agt_[a-z0-9_]+$").unwrap(),
        ),
        (
            "letta",
            "id",
            regex::Regex::new(&format!("^agent-{}", &uuid.as_str()[1..])).unwrap(),
        ),
        (
            "everruns",
            "id",
            regex::Regex::new("^agent_[0-9a-f]{32}$").unwrap(),
        ),
    ];
    for (name, field, re) in checks {
        for a in walk(&s.base, case(name), "") {
            let id = a[field].as_str().unwrap();
            assert!(re.is_match(id), "{name}: id {id}");
        }
    }
}

#[test]
fn pipecat_relations_hold_and_data_varies() {
    let s = support::shared();
    let c = case("pipecat-cloud");
    let list = walk(&s.base, c, "");
    let mut regions = HashSet::new();
    let mut ready = HashSet::new();
    let mut phases = HashSet::new();
    for a in &list {
        assert_eq!(a["deletedAt"], Value::Null);
        assert_eq!(a["activeDeploymentId"], a["desiredDeploymentId"]);
        assert!(
            a["createdAt"].as_str() < a["updatedAt"].as_str() || a["createdAt"] == a["updatedAt"]
        );
        assert!(a.get("deployment").is_none(), "deployment only on request");
        regions.insert(a["region"].as_str().unwrap().to_string());
        let d = get(&format!(
            "{}{}{}",
            s.base,
            c.get_prefix,
            a["name"].as_str().unwrap()
        ))
        .json();
        assert_eq!(d["activeDeploymentReady"], d["ready"]);
        if d["ready"] == Value::Bool(true) {
            assert_eq!(d["reconciledDeploymentId"], d["desiredDeploymentId"]);
            assert_eq!(d["currentRevision"]["phase"], "Active");
        }
        let min = d["autoScaling"]["minReplicas"].as_i64().unwrap();
        let max = d["autoScaling"]["maxReplicas"].as_i64().unwrap();
        assert!(min <= max, "min {min} > max {max}");
        assert_eq!(d["deployment"]["id"], d["desiredDeploymentId"]);
        assert_eq!(d["deployment"]["serviceId"], a["id"]);
        ready.insert(d["ready"].as_bool().unwrap());
        phases.insert(
            d["currentRevision"]["phase"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        );
    }
    assert!(regions.len() >= 3, "regions {regions:?}");
    assert_eq!(ready.len(), 2, "both ready and not-ready agents occur");
    assert!(phases.len() >= 2, "phases {phases:?}");
}

#[test]
fn pipecat_region_filter_and_active_deployment() {
    let s = support::shared();
    let c = case("pipecat-cloud");
    let all = walk(&s.base, c, "");
    let region = all[0]["region"].as_str().unwrap();
    let r = get(&format!("{}{}?region={region}", s.base, c.list_url));
    assert_valid(c.name, "GET", c.list_tpl, &r);
    let body = r.json();
    let got = items(c, &body);
    let want = all.iter().filter(|a| a["region"] == region).count();
    assert_eq!(got.len(), want);
    assert!(got.iter().all(|a| a["region"] == region));
    let r = get(&format!(
        "{}{}?includeActiveDeployment=true",
        s.base, c.list_url
    ));
    assert_valid(c.name, "GET", c.list_tpl, &r);
    let body = r.json();
    for a in items(c, &body) {
        assert_eq!(a["deployment"]["id"], a["desiredDeploymentId"]);
    }
    let r = get(&format!(
        "{}{}?includeActiveDeployment=maybe",
        s.base, c.list_url
    ));
    assert_eq!(r.status, 400);
    assert_valid(c.name, "GET", c.list_tpl, &r);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("includeActiveDeployment")
    );
}

#[test]
fn everruns_lists_only_active_but_archived_are_reachable() {
    let s = support::shared();
    let c = case("everruns");
    let listed = walk(&s.base, c, "");
    assert!(listed.iter().all(|a| a["status"] == "active"));
    let listed_ids: HashSet<String> = listed
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    // Archived agents exist in the dataset: find them through the engine's collection.
    let mount = s
        .engine
        .mounts()
        .iter()
        .find(|m| m.api.name == "everruns")
        .unwrap();
    let coll = mount.collections.values().next().unwrap();
    let mut archived = 0;
    for i in 0..coll.len() as u32 {
        let key = coll.key(i).to_string();
        if !listed_ids.contains(&key) {
            let r = get(&format!("{}{}{}", s.base, c.get_prefix, key));
            assert_eq!(r.status, 200);
            assert_valid(c.name, "GET", c.get_tpl, &r);
            assert_eq!(r.json()["status"], "archived");
            archived += 1;
        }
    }
    assert!(archived > 0, "the dataset has archived agents");
}

#[test]
fn auth_errors_are_in_each_apis_shape() {
    let s = support::shared();
    for c in APIS {
        let url = format!("{}{}", s.base, c.list_url);
        for headers in [
            vec![],
            vec![("Authorization", "Bearer")],
            vec![("Authorization", "Basic abc")],
        ] {
            let r = request("GET", &url, &headers);
            assert_eq!(r.status, 401, "{}: {headers:?}", c.name);
            assert_valid(c.name, "GET", c.list_tpl, &r);
        }
    }
    // Vectara also takes x-api-key alone; Everruns an evr_ key raw or as ApiKey.
    let r = request(
        "GET",
        &format!("{}/vectara/v2/agents", s.base),
        &[("x-api-key", "k")],
    );
    assert_eq!(r.status, 200);
    for v in ["evr_abc123", "ApiKey evr_abc123"] {
        let r = request(
            "GET",
            &format!("{}/everruns/v1/agents", s.base),
            &[("Authorization", v)],
        );
        assert_eq!(r.status, 200, "{v}");
    }
}

#[test]
fn tokens_file_restricts_and_forbids() {
    let s = support::start(support::config_with_tokens(
        "good\nreader agents:read\nweak -\n",
    ));
    for c in APIS {
        let url = format!("{}{}", s.base, c.list_url);
        let ok = request("GET", &url, &[("Authorization", "Bearer good")]);
        assert_eq!(ok.status, 200, "{}", c.name);
        let ok = request("GET", &url, &[("Authorization", "Bearer reader")]);
        assert_eq!(ok.status, 200, "{}", c.name);
        let unknown = request("GET", &url, &[("Authorization", "Bearer stranger")]);
        assert_eq!(unknown.status, 401, "{}", c.name);
        assert_valid(c.name, "GET", c.list_tpl, &unknown);
        let weak = request("GET", &url, &[("Authorization", "Bearer weak")]);
        assert_eq!(weak.status, 403, "{}", c.name);
        assert_valid(c.name, "GET", c.list_tpl, &weak);
    }
}

#[test]
fn unknown_ids_paths_and_methods() {
    let s = support::shared();
    for c in APIS {
        let missing = match c.name {
            "letta" => "agent-00000000-0000-4000-8000-000000000000",
            "everruns" => "agent_00000000000000000000000000000000",
            _ => "no-such-agent",
        };
        let r = get(&format!("{}{}{}", s.base, c.get_prefix, missing));
        assert_eq!(r.status, 404, "{}", c.name);
        assert_valid(c.name, "GET", c.get_tpl, &r);
        let r = request(
            "DELETE",
            &format!("{}{}", s.base, c.list_url),
            &[("Authorization", support::TOKEN)],
        );
        assert_eq!(r.status, 405, "{}", c.name);
        assert!(r.header("allow").unwrap().contains("GET"));
        let r = get(&format!(
            "{}{}/x/y/z",
            s.base,
            c.list_url.trim_end_matches('/')
        ));
        assert_eq!(r.status, 404, "{}", c.name);
    }
    let r = get(&format!("{}/nowhere", s.base));
    assert_eq!(r.status, 404);
    // Malformed Letta ids get 422 in FastAPI's shape.
    let r = get(&format!("{}/letta/v1/agents/not-an-id", s.base));
    assert_eq!(r.status, 422);
    assert_valid("letta", "GET", "/v1/agents/{agent_id}", &r);
    assert_eq!(r.json()["detail"][0]["loc"][1], "agent_id");
}

#[test]
fn same_seed_same_bytes_other_seed_differs() {
    let a = support::start(support::default_config());
    let b = support::start(support::default_config());
    let c = support::start(understudy::engine::Config {
        seed: 7,
        ..support::default_config()
    });
    let mut urls = Vec::new();
    for case in APIS {
        urls.push(format!("{}?limit=3", case.list_url));
        urls.push(case.list_url.to_string());
    }
    // Request in different orders: the data must not depend on order.
    let mut differs = 0;
    for u in &urls {
        let ra = get(&format!("{}{u}", a.base));
        let rc = get(&format!("{}{u}", c.base));
        if ra.body != rc.body {
            differs += 1;
        }
        let _ = ra;
    }
    for u in urls.iter().rev() {
        let ra = get(&format!("{}{u}", a.base));
        let rb = get(&format!("{}{u}", b.base));
        assert_eq!(ra.body, rb.body, "{u}");
    }
    assert_eq!(differs, urls.len(), "another seed gives other data");
}

#[test]
fn single_api_mode_serves_at_the_root() {
    let s = support::start(understudy::engine::Config {
        single_api: Some("letta".into()),
        ..support::default_config()
    });
    let r = get(&format!("{}/v1/agents/?limit=2", s.base));
    assert_eq!(r.status, 200);
    assert_eq!(r.json().as_array().unwrap().len(), 2);
    // The only API served answers under its name too.
    let named = get(&format!("{}/letta/v1/agents/?limit=2", s.base));
    assert_eq!(named.body, r.body);
    assert_eq!(get(&format!("{}/other/v1/agents/", s.base)).status, 404);
}

#[test]
fn one_api_answers_as_written_and_under_its_server_path() {
    // Pipecat Cloud's document says `servers: [{url: .../v1}]` and paths such as `/agents`.
    let s = support::start(understudy::engine::Config {
        single_api: Some("pipecat-cloud".into()),
        ..support::default_config()
    });
    let auth = [("Authorization", support::TOKEN)];
    let with = support::request("GET", &format!("{}/v1/agents", s.base), &auth);
    let without = support::request("GET", &format!("{}/agents", s.base), &auth);
    assert_eq!(with.status, 200, "{}", String::from_utf8_lossy(&with.body));
    assert_eq!(with.body, without.body);
    // `/` is still understudy's own index.
    assert_eq!(get(&format!("{}/", s.base)).json()["service"], "understudy");
}

#[test]
fn warmed_indexes_answer_exactly_like_lazily_built_ones() {
    let warmed = support::start(support::default_config());
    warmed.engine.warm();
    let lazy = support::start(support::default_config());
    for target in [
        "/letta/v1/agents/?limit=1000&order_by=updated_at&order=asc",
        "/letta/v1/agents/?limit=1000&order_by=last_run_completion",
        "/letta/v1/agents/?limit=1000&tags=support&tags=beta",
        "/vectara/v2/agents?limit=100&filter=Support&enabled=true",
        "/everruns/v1/agents?search=assistant",
    ] {
        let a = support::get(&format!("{}{target}", warmed.base));
        let b = support::get(&format!("{}{target}", lazy.base));
        assert_eq!(a.status, 200, "{target}");
        assert_eq!(a.body, b.body, "{target}");
        assert!(a.body.len() > 100, "{target}");
    }
}
