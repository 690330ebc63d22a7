//! Spec features written only in a spec (`tests/fixtures/features/stores.yaml`): static
//! collections and `member-of`, details in an envelope (`item`), generated answers for an entity
//! (`respond`), and variants that serve a client's shape of the same data.

use serde_json::Value;
use understudy::engine::Config;

use crate::support::{self, request};

const AUTH: (&str, &str) = ("Authorization", "Bearer t");

fn load() -> Vec<understudy::spec::Api> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/features");
    understudy::spec::load_dir(&dir).unwrap()
}

fn stores(cfg: Config) -> support::TestServer {
    support::start_with(load(), cfg)
}

fn get(url: &str, headers: &[(&str, &str)]) -> support::Resp {
    let mut h = vec![AUTH];
    h.extend_from_slice(headers);
    request("GET", url, &h)
}

#[test]
fn static_rows_are_served_as_written_and_never_scaled() {
    // --count scales generated collections, never fixed rows.
    let s = stores(Config {
        count: Some(500),
        ..support::default_config()
    });
    let base = format!("{}/stores/v1", s.base);
    let regions = get(&format!("{base}/regions"), &[]).json();
    let codes: Vec<&str> = regions["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["us-west", "eu-central", "ap-south"]);
    assert_eq!(regions["regions"][0]["display_name"], "US West (Oregon)");
    let all = get(&format!("{base}/orgs/acme/stores"), &[]).json();
    let stores = all["stores"].as_array().unwrap();
    assert_eq!(stores.len(), 500);
    // member-of: every store's region is a listed region, and every region is used.
    let mut used: Vec<&str> = stores
        .iter()
        .map(|s| s["region"].as_str().unwrap())
        .collect();
    assert!(used.iter().all(|r| codes.contains(r)), "{used:?}");
    used.sort();
    used.dedup();
    assert_eq!(used.len(), 3);
}

#[test]
fn a_detail_in_an_envelope_is_the_list_item() {
    let s = stores(support::default_config());
    let base = format!("{}/stores/v1", s.base);
    let list = get(&format!("{base}/orgs/acme/stores?region=eu-central"), &[]).json();
    let items = list["stores"].as_array().unwrap();
    assert!(!items.is_empty());
    for item in items {
        assert_eq!(item["region"], "eu-central");
        let name = item["name"].as_str().unwrap();
        let d = get(&format!("{base}/orgs/globex/stores/{name}"), &[]);
        assert_eq!(d.status, 200);
        let body = d.json();
        assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
        assert_eq!(&body["body"], item);
    }
    let missing = get(&format!("{base}/orgs/acme/stores/store-999"), &[]);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"], "store 'store-999' not found");
}

#[test]
fn respond_answers_a_seeded_body_for_an_existing_entity_only() {
    let s = stores(support::default_config());
    let base = format!("{}/stores/v1", s.base);
    let open = |name: &str| request("POST", &format!("{base}/stores/{name}/open"), &[AUTH]);
    // Replayed on a fresh server, the same sequence of requests gets the same bytes.
    let replay = stores(support::default_config());
    let replayed: Vec<Vec<u8>> = ["store-004", "store-004"]
        .iter()
        .map(|n| {
            request(
                "POST",
                &format!("{}/stores/v1/stores/{n}/open", replay.base),
                &[AUTH],
            )
            .body
        })
        .collect();
    let a = open("store-004");
    assert_eq!(a.status, 201);
    let body = a.json();
    assert!(
        body["url"]
            .as_str()
            .unwrap()
            .starts_with("https://rooms.example.com/"),
        "{body}"
    );
    assert_eq!(body["session_id"].as_str().unwrap().len(), 36);
    // Each answer is a new one (a session), a pure function of (seed, operation, key, request
    // id).
    let again = open("store-004");
    assert_ne!(again.json()["session_id"], body["session_id"]);
    assert_eq!(replayed, [a.body.clone(), again.body.clone()]);
    assert_ne!(open("store-005").json()["session_id"], body["session_id"]);
    let missing = open("store-999");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["code"], "not_found");
}

#[test]
fn a_variant_serves_the_same_data_in_another_shape() {
    // --strict is on: the variant's answers are checked against the patched schema.
    let s = stores(support::default_config());
    let base = format!("{}/stores/v1", s.base);
    let doc = get(&format!("{base}/orgs/acme/stores"), &[]).json();
    let flat = get(
        &format!("{base}/orgs/acme/stores"),
        &[("X-Understudy-Variant", "flat")],
    );
    assert_eq!(flat.status, 200, "{}", String::from_utf8_lossy(&flat.body));
    let flat = flat.json();
    let (d, f) = (
        doc["stores"].as_array().unwrap(),
        flat["stores"].as_array().unwrap(),
    );
    assert_eq!(d.len(), f.len());
    for (a, b) in d.iter().zip(f) {
        assert_eq!(a["name"], b["name"]);
        let m = &a["manager"];
        let want = format!(
            "{} {}",
            m["first"].as_str().unwrap(),
            m["last"].as_str().unwrap()
        );
        assert_eq!(b["manager"], Value::String(want));
    }
    // The detail agrees, and a variant never leaks into the cache of the document's shape.
    let name = d[0]["name"].as_str().unwrap();
    let url = format!("{base}/orgs/acme/stores/{name}");
    let fd = get(&url, &[("x-understudy-variant", "flat")]).json();
    assert_eq!(fd["body"], f[0]);
    assert_eq!(get(&url, &[]).json()["body"], d[0]);
    // An unknown variant is the API's bad request, naming the known ones.
    let bad = get(&url, &[("X-Understudy-Variant", "nope")]);
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"].as_str().unwrap().contains("flat"),
        "{}",
        String::from_utf8_lossy(&bad.body)
    );
}

#[test]
fn a_variant_can_be_the_default_of_a_mount() {
    let s = stores(Config {
        variants: vec![("stores".into(), "flat".into())],
        ..support::default_config()
    });
    let base = format!("{}/stores/v1", s.base);
    let d = get(&format!("{base}/orgs/acme/stores/store-001"), &[]).json();
    assert!(d["body"]["manager"].is_string(), "{d}");
    // GET / says which variants an API has and which one it answers in by default.
    let index = get(&format!("{}/", s.base), &[]).json();
    let v = &index["apis"][0]["variants"][0];
    assert_eq!(v["name"], "flat");
    assert_eq!(v["default"], true);
    assert!(v["description"].as_str().unwrap().contains("one string"));
    let err = understudy::engine::Engine::new(
        load(),
        &Config {
            variants: vec![("stores".into(), "nope".into())],
            ..support::default_config()
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("--variant stores=nope"), "{err}");
}

#[test]
fn feature_mistakes_are_load_errors_with_their_location() {
    let text = include_str!("../fixtures/features/stores.yaml");
    let cases = [
        (
            text.replace("member-of: regions.code", "member-of: stores.name"),
            "is not a static collection",
        ),
        (
            text.replace("schemas: [Region]", "count: 3\n      schemas: [Region]"),
            "drop count",
        ),
        (
            text.replace(
                "\"{ref:manager.first} {ref:manager.last}\"",
                "\"{ref:manager.first} {uuid}\"",
            ),
            "a derived field copies other fields",
        ),
        (
            text.replace(
                "key-param: name, item: /body",
                "key-param: name, item: body",
            ),
            "is not a JSON pointer",
        ),
        (
            text.replace(
                "        Store:\n          properties:",
                "        Shop:\n          properties:",
            ),
            "no component schema 'Shop'",
        ),
        (
            text.replace("items: /stores", "items: /shops"),
            "does not reach an array",
        ),
        (text.replace("words: 2", "words: 0"), "at least 1"),
        (
            text.replace(
                "manager: \"{ref:manager.first} {ref:manager.last}\"",
                "boss: \"{ref:manager.first}\"",
            ),
            "not a field of the variant's shape",
        ),
        (
            text.replace("- { code: ap-south,", "- { code: us-west,"),
            "another row has the key",
        ),
    ];
    for (bad, want) in cases {
        assert_ne!(bad, text, "the case did not change the fixture: {want}");
        let err = understudy::spec::load_str("stores.yaml", &bad)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(want), "want '{want}' in: {err}");
        assert!(err.starts_with("stores.yaml:"), "{err}");
    }
}

#[test]
fn lint_checks_each_variant_against_its_own_schemas() {
    let text = include_str!("../fixtures/features/stores.yaml");
    let clean = understudy::spec::load_str("stores.yaml", text).unwrap();
    assert!(understudy::lint::lint(vec![clean], Vec::new()).is_empty());
    // The derived manager is a string; a variant that declares an integer is caught.
    let bad = text.replace(
        "manager: { type: string, description: \"First and last name.\" }",
        "manager: { type: integer }",
    );
    assert_ne!(bad, text);
    let api = understudy::spec::load_str("stores.yaml", &bad).unwrap();
    let findings = understudy::lint::lint(vec![api], Vec::new());
    assert!(
        findings
            .iter()
            .any(|f| f.message.contains("variant flat") && f.message.contains("manager")),
        "{findings:#?}"
    );
}

#[test]
fn a_scoped_operation_exists_only_inside_a_listed_entity() {
    let s = stores(support::default_config());
    let base = format!("{}/stores/v1", s.base);
    assert_eq!(get(&format!("{base}/orgs/globex/stores"), &[]).status, 200);
    // The list's scope says 403 (a caller outside the organisation); the detail's, 404.
    let r = get(&format!("{base}/orgs/initech/stores"), &[]);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"], "no access to org 'initech'");
    let r = get(&format!("{base}/orgs/initech/stores/store-001"), &[]);
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "org 'initech' not found");
    // Credentials come first.
    let r = request("GET", &format!("{base}/orgs/initech/stores"), &[]);
    assert_eq!(r.status, 401);
}

#[test]
fn a_words_search_needs_every_word_in_some_field() {
    let s = stores(support::default_config());
    let base = format!("{}/stores/v1", s.base);
    let all = get(&format!("{base}/orgs/acme/stores"), &[]).json()["stores"]
        .as_array()
        .unwrap()
        .clone();
    let oracle = |text: &str| -> Vec<Value> {
        let words: Vec<String> = text
            .split_whitespace()
            .take(2)
            .map(str::to_lowercase)
            .collect();
        all.iter()
            .filter(|s| {
                let fields = [
                    s["name"].as_str().unwrap().to_lowercase(),
                    s["manager"]["first"].as_str().unwrap().to_lowercase(),
                    s["manager"]["last"].as_str().unwrap().to_lowercase(),
                ];
                words.iter().all(|w| fields.iter().any(|f| f.contains(w)))
            })
            .map(|s| s["name"].clone())
            .collect()
    };
    let first = all[3]["manager"]["first"].as_str().unwrap().to_string();
    let mut nonempty = 0;
    for text in [
        "store-00".to_string(),
        format!("{} STORE", first.to_uppercase()),
        format!("store {first} ignored-third-word"),
        "   ".to_string(),
        "no-such".to_string(),
    ] {
        let q = percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC);
        let got: Vec<Value> = get(&format!("{base}/orgs/acme/stores?q={q}"), &[]).json()["stores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].clone())
            .collect();
        assert_eq!(got, oracle(&text), "{text}");
        nonempty += usize::from(!got.is_empty() && got.len() < all.len());
    }
    // The cases are not trivial: several narrow the list without emptying it.
    assert!(nonempty >= 2, "{nonempty}");
}

#[test]
fn respond_on_an_entity_a_scenario_deleted_is_404() {
    let dir = std::env::temp_dir().join(format!("understudy-respond-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("close.yaml"),
        "api: stores\ncollection: stores\nsteps:\n  - delete: [store-002]\n",
    )
    .unwrap();
    let s = stores(Config {
        scenarios: understudy::scenario::load_dir(&dir).unwrap(),
        start: vec!["close".into()],
        ..support::default_config()
    });
    let base = format!("{}/stores/v1", s.base);
    let open = |n: &str| request("POST", &format!("{base}/stores/{n}/open"), &[AUTH]);
    assert_eq!(open("store-002").status, 404);
    assert_eq!(open("store-003").status, 201);
}

#[test]
fn lint_checks_respond_bodies_and_blames_the_operations_fields() {
    let text = include_str!("../fixtures/features/stores.yaml");
    let bad = text.replace(
        "url: { template: \"https://rooms.example.com/{alnum:12}\" }",
        "url: { int: { min: 1, max: 2 } }",
    );
    assert_ne!(bad, text);
    let api = understudy::spec::load_str("stores.yaml", &bad).unwrap();
    let findings = understudy::lint::lint(vec![api], Vec::new());
    assert!(
        findings.iter().any(|f| f.location
            == "paths./stores/{name}/open.post.x-understudy.fields.url"
            && f.message.contains("POST")),
        "{findings:#?}"
    );
}
