//! Any OpenAPI document, served out of the box: a hand-written 3.1 document with no
//! `x-understudy` (every 2020-12 construct the loader must read, every security scheme) loads,
//! and every operation answers its documented status with a body that validates under
//! `--strict`.

use crate::support::{self, request, request_with_body};
use serde_json::Value;

fn library() -> support::TestServer {
    let api = understudy::spec::load_file(std::path::Path::new(
        "tests/fixtures/openapi31/library.yaml",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(api.dialect, understudy::spec::schema::Dialect::V31);
    support::start_with(vec![api], support::default_config())
}

const BEARER: (&str, &str) = ("Authorization", "Bearer My API Key");

#[test]
fn every_operation_answers_its_documented_status_and_validates() {
    let s = library();
    let b = &s.base;
    // Strict mode turns any contract violation into a 500, so a documented status is proof.
    let list = request("GET", &format!("{b}/books?limit=3"), &[BEARER]);
    assert_eq!(list.status, 200, "{}", String::from_utf8_lossy(&list.body));
    let v = list.json();
    assert_eq!(v["object"], "list");
    let id = "bk_0123456789abcdef";
    let one = request("GET", &format!("{b}/books/{id}"), &[BEARER]);
    assert_eq!(one.status, 200, "{}", String::from_utf8_lossy(&one.body));
    let book = one.json();
    assert_eq!(book["id"], id, "the path's key is echoed");
    assert_eq!(book["object"], "book");
    assert!(
        regex::Regex::new("^97[89][0-9]{10}$")
            .unwrap()
            .is_match(book["isbn"].as_str().unwrap()),
        "generated from the pattern: {book}"
    );
    assert_eq!(book["position"].as_array().unwrap().len(), 2);
    assert!(book["pages"].as_i64().unwrap() >= 1);
    let kind = book["format"]["kind"].as_str().unwrap();
    assert!(kind == "paper" || kind == "digital", "{book}");
    // The same request gets the same bytes.
    assert_eq!(
        request("GET", &format!("{b}/books/{id}"), &[BEARER]).body,
        one.body
    );
    let created = request_with_body(
        "POST",
        &format!("{b}/books"),
        &[BEARER, ("Content-Type", "application/json")],
        r#"{"title": "Dune"}"#,
    );
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let deleted = request("DELETE", &format!("{b}/books/{id}"), &[BEARER]);
    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_empty());
    let events = request("GET", &format!("{b}/books/{id}/events"), &[BEARER]);
    assert_eq!(events.status, 200);
    assert_eq!(events.header("content-type"), Some("text/event-stream"));
    let text = String::from_utf8(events.body).unwrap();
    let data: Value = serde_json::from_str(text.strip_prefix("data: ").unwrap().trim()).unwrap();
    assert!(
        data["type"] == "opened" || data["type"] == "closed",
        "{data}"
    );
    // A recursive schema is generated to a finite depth, and still validates.
    let shelf = request("GET", &format!("{b}/shelves/north"), &[]);
    assert_eq!(
        shelf.status,
        200,
        "{}",
        String::from_utf8_lossy(&shelf.body)
    );
    assert_eq!(shelf.json()["shelf"], "north");
    let health = request("GET", &format!("{b}/health"), &[]);
    assert_eq!(health.status, 200);
    assert_eq!(health.header("content-type"), Some("text/plain"));
}

#[test]
fn every_security_scheme_takes_any_present_credential() {
    let s = library();
    let url = format!("{}/books/bk_0123456789abcdef", s.base);
    let ok = |headers: &[(&str, &str)], query: &str| {
        request("GET", &format!("{url}{query}"), headers).status
    };
    assert_eq!(ok(&[], ""), 401, "no credential");
    assert_eq!(ok(&[BEARER], ""), 200, "a bearer token with spaces");
    // HTTP basic: user `sk_test_1`, empty password.
    assert_eq!(ok(&[("Authorization", "Basic c2tfdGVzdF8xOg==")], ""), 200);
    assert_eq!(
        ok(&[("Authorization", "Basic !!!")], ""),
        401,
        "undecodable"
    );
    assert_eq!(ok(&[], "?api_key=k1"), 200, "an API key in the query");
    assert_eq!(ok(&[], "?api_key="), 401, "an empty one");
    assert_eq!(
        ok(&[("Cookie", "theme=dark; session=abc")], ""),
        200,
        "in a cookie"
    );
    assert_eq!(ok(&[("Cookie", "theme=dark")], ""), 401);
}

#[test]
fn the_only_api_answers_at_the_root_under_its_name_and_its_server_path() {
    let s = library();
    let as_written = request(
        "GET",
        &format!("{}/books/bk_0123456789abcdef", s.base),
        &[BEARER],
    );
    for prefix in ["/v2", "/library", "/library/v2"] {
        let r = request(
            "GET",
            &format!("{}{prefix}/books/bk_0123456789abcdef", s.base),
            &[BEARER],
        );
        assert_eq!(r.status, 200, "{prefix}");
        assert_eq!(r.body, as_written.body, "{prefix}");
    }
}

#[test]
fn a_swagger_2_document_is_refused_with_a_conversion_hint() {
    let e = understudy::spec::load_str(
        "petstore.json",
        r#"{"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": {}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("Swagger 2.0") && e.contains("swagger2openapi"),
        "{e}"
    );
}

#[test]
fn a_broken_document_reports_every_problem_at_once() {
    let text = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n        '200': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Nope'}}}}\n  /b:\n    get:\n      responses:\n        '200': {description: ok, content: {application/json: {schema: {type: frog}}}}\n";
    let e = understudy::spec::load_str("broken.yaml", text)
        .unwrap_err()
        .to_string();
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 2, "{e}");
    assert!(
        lines[0].starts_with("broken.yaml:7:") && lines[0].contains("Nope"),
        "{e}"
    );
    assert!(
        lines[1].starts_with("broken.yaml:11:") && lines[1].contains("frog"),
        "{e}"
    );
}

#[test]
fn an_inferred_collection_pages_like_the_document_says_and_agrees_with_its_detail() {
    // `GET /books` (an envelope with `data` and `has_more`, an `after` cursor and a `limit`)
    // pairs with `GET /books/{book_id}`: a collection of books, keyed by `id`.
    let s = library();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..50 {
        let url = match &after {
            Some(a) => format!("{}/books?limit=7&after={a}", s.base),
            None => format!("{}/books?limit=7", s.base),
        };
        let page = request("GET", &url, &[BEARER]);
        assert_eq!(page.status, 200, "{}", String::from_utf8_lossy(&page.body));
        let v = page.json();
        let data = v["data"].as_array().unwrap().clone();
        assert!(data.len() <= 7);
        for item in &data {
            let id = item["id"].as_str().unwrap().to_string();
            assert!(!seen.contains(&id), "{id} twice");
            // The detail shows the same entity.
            let one = request("GET", &format!("{}/books/{id}", s.base), &[BEARER]);
            assert_eq!(one.status, 200);
            assert_eq!(&one.json(), item, "list and detail agree on {id}");
            seen.push(id);
        }
        if v["has_more"] == false {
            break;
        }
        after = seen.last().cloned();
    }
    assert_eq!(
        seen.len(),
        30,
        "every book once (an inferred collection has 30)"
    );
}

#[test]
fn the_most_specific_reading_of_a_path_wins() {
    // `/v2/books/search` read as written would match `/{a}/{b}/{c}`; under the server path
    // `/v2` it is the literal `/books/search`.
    let text = r#"
openapi: 3.1.0
info: {title: t, version: "1"}
servers: [{url: "https://x.example/v2"}]
paths:
  /{a}/{b}/{c}:
    get:
      parameters:
        - {name: a, in: path, required: true, schema: {type: string}}
        - {name: b, in: path, required: true, schema: {type: string}}
        - {name: c, in: path, required: true, schema: {type: string}}
      responses: {"200": {description: ok, content: {application/json: {schema: {type: object, required: [which], properties: {which: {const: templated}}}}}}}
  /books/search:
    get:
      responses: {"200": {description: ok, content: {application/json: {schema: {type: object, required: [which], properties: {which: {const: literal}}}}}}}
"#;
    let api = understudy::spec::load_str("specific.yaml", text).unwrap();
    let s = support::start_with(vec![api], support::default_config());
    let r = request("GET", &format!("{}/v2/books/search", s.base), &[]);
    assert_eq!(r.json()["which"], "literal");
    let r = request("GET", &format!("{}/x/y/z", s.base), &[]);
    assert_eq!(r.json()["which"], "templated");
}

/// The `<...>; rel="next"` target of a Link header.
fn next_link(r: &support::Resp) -> Option<String> {
    let h = r.header("link")?;
    h.split(',')
        .find(|l| l.contains("rel=\"next\""))
        .and_then(|l| Some(l.split_once('<')?.1.split_once('>')?.0.to_string()))
}

#[test]
fn page_numbers_walk_by_link_header_and_by_next_url() {
    let s = library();
    // A bare array paged by `page` (from 1) and `per_page`: the Link header names the next page.
    let mut url = Some(format!("{}/authors?per_page=7", s.base));
    let mut seen = std::collections::BTreeSet::new();
    let mut pages = 0;
    while let Some(u) = url {
        let r = request("GET", &u, &[BEARER]);
        assert_eq!(r.status, 200, "{u}");
        for a in r.json().as_array().unwrap() {
            assert!(
                seen.insert(a["id"].as_str().unwrap().to_string()),
                "twice: {a}"
            );
        }
        url = next_link(&r);
        pages += 1;
        assert!(pages < 20);
    }
    assert_eq!(seen.len(), 30);
    assert_eq!(pages, 5, "30 authors, 7 a page");
    // Page 2 by number is the second page the links walked.
    let two = request(
        "GET",
        &format!("{}/authors?per_page=7&page=2", s.base),
        &[BEARER],
    );
    assert_eq!(two.json().as_array().unwrap().len(), 7);
    assert_eq!(
        request("GET", &format!("{}/authors?page=0", s.base), &[BEARER]).status,
        200,
        "below the first page: the parameter is ignored (the document documents no 400)"
    );
    // An envelope with the page number and the next page's URL (pages counted from 0).
    let mut url = Some(format!("{}/reviews?page_size=8", s.base));
    let mut seen = std::collections::BTreeSet::new();
    let mut expect_page = 0;
    while let Some(u) = url {
        let v = request("GET", &u, &[BEARER]).json();
        assert_eq!(v["page"], expect_page, "{v}");
        for it in v["items"].as_array().unwrap() {
            assert!(seen.insert(it["id"].as_str().unwrap().to_string()));
        }
        url = v["next_page_url"].as_str().map(str::to_string);
        expect_page += 1;
        assert!(expect_page < 20);
    }
    assert_eq!(seen.len(), 30);
    assert_eq!(expect_page, 4);
}

#[test]
fn an_overlay_beside_a_document_annotates_it_without_editing_it() {
    let dir = std::env::temp_dir().join(format!("understudy-overlay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        "tests/fixtures/openapi31/library.yaml",
        dir.join("library.yaml"),
    )
    .unwrap();
    // Overlay 1.0: remove an operation, and declare a collection of 5 and its list and detail
    // through x-understudy blocks the vendor file does not have.
    std::fs::write(
        dir.join("library.overlay.yaml"),
        r#"overlay: 1.0.0
info: { title: local annotations, version: "1" }
actions:
  - target: "$.paths['/health']"
    remove: true
  - target: "$"
    update:
      x-understudy:
        collections:
          books: { count: 5, schemas: [Book], key: id }
  - target: "$.paths['/books'].get"
    update:
      x-understudy: { action: list, collection: books, items: /data }
  - target: "$.paths['/books/{book_id}'].get"
    update:
      x-understudy: { action: get, collection: books, key-param: book_id }
"#,
    )
    .unwrap();
    let api =
        understudy::spec::load_file(&dir.join("library.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert!(!api.operations.iter().any(|o| o.path == "/health"));
    let s = support::start_with(vec![api], support::default_config());
    let page = request("GET", &format!("{}/books?limit=50", s.base), &[BEARER]);
    assert_eq!(page.status, 200);
    assert_eq!(
        page.json()["data"].as_array().unwrap().len(),
        5,
        "the overlay's count"
    );
    assert_eq!(
        request("GET", &format!("{}/health", s.base), &[]).status,
        404
    );
    // A broken overlay stops loading and says where.
    std::fs::write(
        dir.join("library.overlay.yaml"),
        "overlay: 1.0.0\nactions:\n  - target: '$['\n    remove: true\n",
    )
    .unwrap();
    let e = understudy::spec::load_file(&dir.join("library.yaml"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("library.overlay.yaml") && e.contains("actions[0].target"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_page_size_without_a_declared_minimum_accepts_zero() {
    // As generated SDK suites send it: `limit=0` where the document declares no minimum.
    let text = r##"
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /things:
    get:
      parameters:
        - {name: after, in: query, schema: {type: string}}
        - {name: limit, in: query, schema: {type: integer}}
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema:
                type: object
                required: [data, has_more]
                properties:
                  data: {type: array, items: {$ref: "#/components/schemas/Thing"}}
                  has_more: {type: boolean}
  /things/{thing_id}:
    get:
      parameters: [{name: thing_id, in: path, required: true, schema: {type: string}}]
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Thing"}}}}
components:
  schemas:
    Thing: {type: object, required: [id], properties: {id: {type: string, format: uuid}}}
"##;
    let api = understudy::spec::load_str("zero.yaml", text).unwrap();
    let s = support::start_with(vec![api], support::default_config());
    let r = request(
        "GET",
        &format!("{}/things?limit=0&after=after", s.base),
        &[],
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["data"], serde_json::json!([]));
    let r = request("GET", &format!("{}/things?limit=3", s.base), &[]);
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 3);
    assert_eq!(r.json()["has_more"], true);
}

#[test]
fn done_and_iterator_walk_every_item_once() {
    // `{results, done, iterator}` with an `iterator` parameter: an opaque token, and a flag that
    // says the page is the last.
    let s = library();
    let mut url = format!("{}/loans?limit=8", s.base);
    let mut seen = std::collections::BTreeSet::new();
    let mut pages = 0;
    loop {
        let r = request("GET", &url, &[BEARER]);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        for it in v["results"].as_array().unwrap() {
            let id = it["id"].as_str().unwrap().to_string();
            assert!(id.starts_with("ln_") && id.len() == 23, "{id}");
            assert!(seen.insert(id), "twice: {it}");
        }
        pages += 1;
        assert!(pages < 20);
        if v["done"] == true {
            assert!(
                v["iterator"].is_null(),
                "the last page has no iterator: {v}"
            );
            break;
        }
        assert_eq!(v["done"], false, "{v}");
        let it = v["iterator"]
            .as_str()
            .expect("a page that is not the last resumes");
        url = format!("{}/loans?limit=8&iterator={it}", s.base);
    }
    assert_eq!((seen.len(), pages), (30, 4));
    // A made-up iterator is not a position.
    let bad = request("GET", &format!("{}/loans?iterator=xyz", s.base), &[BEARER]);
    assert_eq!(
        bad.status, 200,
        "no 400 documented: the parameter is left out"
    );
    assert_eq!(bad.json()["results"].as_array().unwrap().len(), 20);
}

#[test]
fn max_id_and_since_id_page_like_a_timeline() {
    // `max_id` (older than) is the cursor the Link header's next page uses; `since_id` (newer
    // than) reads back towards the start.
    let s = library();
    let mut url = Some(format!("{}/notes?limit=12", s.base));
    let mut order = Vec::new();
    while let Some(u) = url {
        let r = request("GET", &u, &[BEARER]);
        assert_eq!(r.status, 200, "{u}");
        for n in r.json().as_array().unwrap() {
            order.push(n["id"].as_str().unwrap().to_string());
        }
        url = next_link(&r);
        if let Some(next) = &url {
            assert!(next.contains("max_id="), "{next}");
        }
        assert!(order.len() <= 30);
    }
    assert_eq!(order.len(), 30);
    let unique: std::collections::BTreeSet<&String> = order.iter().collect();
    assert_eq!(unique.len(), 30);
    let newer = request(
        "GET",
        &format!("{}/notes?since_id={}", s.base, order[5]),
        &[BEARER],
    )
    .json();
    let newer: Vec<&str> = newer
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        newer,
        order[..5].iter().map(String::as_str).collect::<Vec<_>>()
    );
}
