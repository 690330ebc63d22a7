//! Hard to break: odd keys, ambiguous routes, oversized bodies and hostile inputs get clear
//! answers in the API's own shape.

use crate::support::{self, request};

fn widgets() -> support::TestServer {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/specs");
    support::start_with(
        understudy::spec::load_dir(&dir).unwrap(),
        support::lax_config(),
    )
}

#[test]
fn integer_keys_work_for_details_and_cursors() {
    let s = widgets();
    let r = support::get(&format!("{}/widgets/api/gadgets/7", s.base));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["id"], 7);
    let mut seen = Vec::new();
    let mut after = String::new();
    for _ in 0..10 {
        let r = support::get(&format!("{}/widgets/api/gadgets?{after}", s.base)).json();
        let page: Vec<i64> = r
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["id"].as_i64().unwrap())
            .collect();
        let Some(last) = page.last() else { break };
        after = format!("after={last}");
        seen.extend(page);
    }
    assert_eq!(seen, (1..=12).collect::<Vec<i64>>());
    assert_eq!(
        support::get(&format!("{}/widgets/api/gadgets/seven", s.base)).status,
        400
    );
}

#[test]
fn a_less_specific_route_answers_before_405() {
    let s = widgets();
    // GET /widgets/search is get-by-sku with sku "search" (POST /widgets/search exists too).
    let r = support::get(&format!("{}/widgets/api/widgets/search", s.base));
    assert_eq!(r.status, 404);
    assert!(
        r.json()["problem"]["detail"]
            .as_str()
            .unwrap()
            .contains("search")
    );
    let r = request(
        "DELETE",
        &format!("{}/widgets/api/widgets/search", s.base),
        &[("Authorization", support::TOKEN)],
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, POST"));
}

#[test]
fn an_oversized_body_is_refused_in_the_apis_shape() {
    let s = support::shared();
    let r = support::declare_body(&s.base, "POST", "/vectara/v2/agents", 2 << 20);
    assert_eq!(r.status, 413);
    assert!(r.header("x-request-id").is_some());
    let v = r.json();
    assert!(
        v["messages"][0].as_str().unwrap().contains("too large"),
        "{v}"
    );
}

#[test]
fn hostile_inputs_get_clear_errors_not_crashes() {
    let s = support::shared();
    let cases = [
        "/vectara/v2/agents?filter=(a%2B)%2B%24&limit=100",
        "/vectara/v2/agents?filter=%5Cp%7BGreek%7D%7B1000%7D%7B1000%7D",
        "/vectara/v2/agents?limit=99999999999999999999999",
        "/vectara/v2/agents?page_key=..",
        "/vectara/v2/agents?page_key=eyJ2IjoxLCJrIjoiIiwicCI6MTg0NDY3NDQwNzM3MDk1NTE2MTUsImYiOiIwIn0.0",
        "/letta/v1/agents/?after=%00%FF&before=%F0%9F%92%A9",
        "/letta/v1/agents/%2e%2e%2f%2e%2e",
        "/pipecat-cloud/v1/agents/%E2%80%AE%00",
        "/everruns/v1/agents?x=%zz",
    ];
    for path in cases {
        let r = support::get(&format!("{}{path}", s.base));
        assert!(r.status < 500, "{path}: {}", r.status);
        let _ = r.json();
    }
}
