//! Request validation and the `--strict` response self-check.

use crate::support::{self, request};

fn fixture(dir: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
}

#[test]
fn strict_turns_a_contract_violation_into_a_loud_500() {
    let apis = understudy::spec::load_dir(&fixture("broken-specs")).unwrap();
    let s = support::start_with(apis, support::default_config());
    let r = support::get(&format!("{}/vectara/v2/agents", s.base));
    assert_eq!(r.status, 500);
    let body = String::from_utf8_lossy(&r.body);
    assert!(body.contains("would break the contract"), "{body}");
    assert!(body.contains("/enabled"), "{body}");
    // The envelope is still Vectara's.
    assert!(r.json()["messages"].is_array());
    // Without --strict the broken body goes out as it is.
    let apis = understudy::spec::load_dir(&fixture("broken-specs")).unwrap();
    let lax = support::start_with(apis, support::lax_config());
    assert_eq!(
        support::get(&format!("{}/vectara/v2/agents", lax.base)).status,
        200
    );
}

#[test]
fn request_bodies_and_header_parameters_are_validated() {
    let apis = understudy::spec::load_dir(&fixture("specs")).unwrap();
    let s = support::start_with(apis, support::lax_config());
    let url = format!("{}/widgets/api/widgets", s.base);
    let post = |headers: &[(&str, &str)], body: &str| {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut b = ureq::http::Request::builder()
            .method("POST")
            .uri(&url)
            .header("Authorization", support::TOKEN);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let mut r = agent.run(b.body(body.to_string()).unwrap()).unwrap();
        let status = r.status().as_u16();
        let bytes = r.body_mut().read_to_vec().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        (status, v)
    };
    let tag = [("X-Request-Tag", "abc")];
    let (st, v) = post(&[], r#"{"name": "w"}"#);
    assert_eq!(st, 400);
    assert_eq!(v["problem"]["param"], "X-Request-Tag");
    let (st, v) = post(&[("X-Request-Tag", "ABC")], r#"{"name": "w"}"#);
    assert_eq!(st, 400);
    assert!(v["problem"]["detail"].as_str().unwrap().contains("pattern"));
    for (body, param, rule) in [
        ("", "body", "required"),
        ("{not json", "body", "not JSON"),
        (r#"{"price": 3}"#, "body", "name"),
        (r#"{"name": "much-too-long-name"}"#, "name", "longer"),
        (r#"{"name": "w", "price": 0}"#, "price", "minimum"),
        (r#"{"name": "w", "colour": "red"}"#, "body", "colour"),
    ] {
        let (st, v) = post(&tag, body);
        assert_eq!(st, 400, "{body}");
        assert_eq!(v["problem"]["param"], param, "{body}: {v}");
        assert!(
            v["problem"]["detail"].as_str().unwrap().contains(rule),
            "{body}: {v}"
        );
    }
    // A valid request passes validation and reaches the operation, which documents no
    // success, only a 501: that is its answer.
    let (st, v) = post(&tag, r#"{"name": "w", "price": 3}"#);
    assert_eq!(st, 501, "{v}");
    // Required query parameters are enforced too (path parameters always are).
    let r = request(
        "GET",
        &format!("{url}?limit=0"),
        &[("Authorization", support::TOKEN)],
    );
    assert_eq!(r.status, 400);
}
