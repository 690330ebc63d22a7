//! Pagination, ordering and filtering, for every paginated API: property tests that walk every
//! page against an independent oracle, and named cases for the edges (tokens, cursors, bounds).

use std::collections::HashSet;

use proptest::prelude::*;
use serde_json::Value;

use crate::support::{self, APIS, ApiCase, assert_valid, get, walk};

fn case(name: &str) -> &'static ApiCase {
    APIS.iter().find(|c| c.name == name).unwrap()
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Every Vectara agent, in the API's order, from an unfiltered walk.
fn vectara_all() -> &'static Vec<Value> {
    static ALL: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| walk(&support::shared().base, case("vectara"), "limit=100"))
}

/// Every Letta agent with all relationships included, in dataset-independent form.
fn letta_all() -> &'static Vec<Value> {
    static ALL: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        let url = format!(
            "{}/letta/v1/agents/?limit=1000&include=agent.tags&include=agent.identities",
            support::shared().base
        );
        let r = get(&url);
        assert_eq!(r.status, 200);
        r.json().as_array().unwrap().clone()
    })
}

fn keys(items: &[Value], field: &str) -> Vec<String> {
    items
        .iter()
        .map(|a| a[field].as_str().unwrap().to_string())
        .collect()
}

/// Walk Vectara page by page, returning the pages (keys) and every page's total_count.
fn vectara_pages(query: &str) -> (Vec<Vec<String>>, Vec<u64>) {
    let base = &support::shared().base;
    let mut pages = Vec::new();
    let mut totals = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut url = format!("{base}/vectara/v2/agents?{query}");
        if let Some(t) = &token {
            url.push_str(&format!("&page_key={}", enc(t)));
        }
        let r = get(&url);
        assert_eq!(r.status, 200, "{url}: {}", String::from_utf8_lossy(&r.body));
        assert_valid("vectara", "GET", "/v2/agents", &r);
        let body = r.json();
        pages.push(keys(body["agents"].as_array().unwrap(), "id"));
        totals.push(body["metadata"]["total_count"].as_u64().unwrap());
        match body["metadata"].get("page_key").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return (pages, totals),
        }
        assert!(pages.len() < 500, "walk does not end");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn vectara_walks_every_match_once_in_order(
        limit in prop::option::of(1u64..=100),
        filter in prop::option::of(prop::sample::select(vec![
            "support.*", "^[A-H]", "Agent$", "(?i)billing|sales", "Specialist", "zzz-nothing",
        ])),
        enabled in prop::option::of(any::<bool>()),
    ) {
        let mut q = Vec::new();
        if let Some(l) = limit { q.push(format!("limit={l}")); }
        if let Some(f) = filter { q.push(format!("filter={}", enc(f))); }
        if let Some(e) = enabled { q.push(format!("enabled={e}")); }
        let query = q.join("&");
        let (pages, totals) = vectara_pages(&query);
        let re = filter.map(|f| regex::Regex::new(f).unwrap());
        let want: Vec<String> = vectara_all().iter().filter(|a| {
            re.as_ref().is_none_or(|re| {
                re.is_match(a["name"].as_str().unwrap()) || re.is_match(a["description"].as_str().unwrap())
            }) && enabled.is_none_or(|e| a["enabled"] == e)
        }).map(|a| a["id"].as_str().unwrap().to_string()).collect();
        let walked: Vec<String> = pages.iter().flatten().cloned().collect();
        prop_assert_eq!(&walked, &want);
        let lim = limit.unwrap_or(10) as usize;
        prop_assert!(pages.iter().all(|p| p.len() <= lim));
        // Every page but the last is full; the last is empty only when nothing matches.
        for p in &pages[..pages.len() - 1] { prop_assert_eq!(p.len(), lim); }
        prop_assert!(totals.iter().all(|t| *t == want.len() as u64));
        // Same seed, same boundaries.
        let (again, _) = vectara_pages(&query);
        prop_assert_eq!(again, pages);
    }

    #[test]
    fn letta_walks_every_match_once_in_order(
        limit in prop::option::of(1u64..=60),
        order in prop::option::of(prop::sample::select(vec!["asc", "desc"])),
        order_by in prop::option::of(prop::sample::select(vec!["created_at", "updated_at", "last_run_completion"])),
        tags in prop::sample::subsequence(vec!["production", "staging", "research", "beta", "voice"], 0..=2),
        match_all in prop::option::of(any::<bool>()),
        query_text in prop::option::of(prop::sample::select(vec!["bot", "SUPPORT", "agent-1"])),
    ) {
        let mut q = Vec::new();
        if let Some(l) = limit { q.push(format!("limit={l}")); }
        if let Some(o) = order { q.push(format!("order={o}")); }
        if let Some(o) = order_by { q.push(format!("order_by={o}")); }
        for t in &tags { q.push(format!("tags={t}")); }
        if let Some(m) = match_all { q.push(format!("match_all_tags={m}")); }
        if let Some(t) = query_text { q.push(format!("query_text={t}")); }
        let query = q.join("&");
        let base = &support::shared().base;
        let mut pages: Vec<Vec<String>> = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut url = format!("{base}/letta/v1/agents/?{query}");
            if let Some(a) = &after { url.push_str(&format!("&after={a}")); }
            let r = get(&url);
            prop_assert_eq!(r.status, 200);
            assert_valid("letta", "GET", "/v1/agents/", &r);
            let page = keys(r.json().as_array().unwrap(), "id");
            if page.is_empty() { break; }
            after = page.last().cloned();
            pages.push(page);
            prop_assert!(pages.len() < 500);
        }
        let want = letta_oracle(order.unwrap_or("desc"), order_by.unwrap_or("created_at"), &tags, match_all.unwrap_or(false), query_text);
        let walked: Vec<String> = pages.iter().flatten().cloned().collect();
        prop_assert_eq!(&walked, &want);
        let lim = limit.unwrap_or(50) as usize;
        prop_assert!(pages.iter().all(|p| p.len() <= lim));
    }
}

/// The Letta rows the real service would return, computed independently of the server.
fn letta_oracle(
    order: &str,
    by: &str,
    tags: &[&str],
    all: bool,
    query_text: Option<&str>,
) -> Vec<String> {
    let mut rows: Vec<&Value> = letta_all()
        .iter()
        .filter(|a| {
            let have: Vec<&str> = a["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
                .collect();
            let tag_ok = tags.is_empty()
                || if all {
                    tags.iter().all(|t| have.contains(t))
                } else {
                    tags.iter().any(|t| have.contains(t))
                };
            let text_ok = query_text.is_none_or(|q| {
                a["name"]
                    .as_str()
                    .unwrap()
                    .to_lowercase()
                    .contains(&q.to_lowercase())
            });
            tag_ok && text_ok
        })
        .collect();
    // Ascending by (value, id) with NULLs last; descending is the exact reverse.
    rows.sort_by(|a, b| {
        let ka = (
            a[by].is_null(),
            a[by].as_str().unwrap_or(""),
            a["id"].as_str().unwrap(),
        );
        let kb = (
            b[by].is_null(),
            b[by].as_str().unwrap_or(""),
            b["id"].as_str().unwrap(),
        );
        ka.cmp(&kb)
    });
    if order == "desc" {
        rows.reverse();
    }
    rows.iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn letta_before_and_after_select_what_the_real_service_would() {
    let base = &support::shared().base;
    let ordered = letta_oracle("desc", "created_at", &[], false, None);
    let n = ordered.len();
    assert!(n > 100, "more than two default pages");
    for (x, y, limit) in [
        (40usize, 90usize, 10usize),
        (5, 6, 50),
        (0, n - 1, 3),
        (70, 20, 5),
    ] {
        // before=X: the first `limit` rows preceding X, counted from the start of the list.
        let r = get(&format!(
            "{base}/letta/v1/agents/?before={}&limit={limit}",
            ordered[x]
        ));
        let got = keys(r.json().as_array().unwrap(), "id");
        assert_eq!(
            got,
            ordered[..x].iter().take(limit).cloned().collect::<Vec<_>>()
        );
        // after=X&before=Y: the window strictly between them.
        let r = get(&format!(
            "{base}/letta/v1/agents/?after={}&before={}&limit={limit}",
            ordered[x], ordered[y]
        ));
        assert_valid("letta", "GET", "/v1/agents/", &r);
        let got = keys(r.json().as_array().unwrap(), "id");
        let want: Vec<String> = if y > x {
            ordered[x + 1..y].iter().take(limit).cloned().collect()
        } else {
            Vec::new()
        };
        assert_eq!(got, want, "after {x} before {y}");
    }
    // Ascending order reverses the sequence, and cursors follow it.
    let asc = letta_oracle("asc", "created_at", &[], false, None);
    let r = get(&format!(
        "{base}/letta/v1/agents/?order=asc&after={}&limit=4",
        asc[10]
    ));
    assert_eq!(
        keys(r.json().as_array().unwrap(), "id"),
        asc[11..15].to_vec()
    );
    // An unknown cursor id is ignored, as on the vendor's server.
    let unknown = "agent-00000000-0000-4000-8000-000000000000";
    let r = get(&format!("{base}/letta/v1/agents/?after={unknown}&limit=5"));
    assert_eq!(
        keys(r.json().as_array().unwrap(), "id"),
        ordered[..5].to_vec()
    );
    // The page after the last item is empty, which is how the official client stops.
    let r = get(&format!("{base}/letta/v1/agents/?after={}", ordered[n - 1]));
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!([]));
}

#[test]
fn letta_deprecated_ordering_parameters() {
    let base = &support::shared().base;
    let ids = |q: &str| {
        keys(
            get(&format!("{base}/letta/v1/agents/?limit=1000&{q}"))
                .json()
                .as_array()
                .unwrap(),
            "id",
        )
    };
    assert_eq!(ids("ascending=true"), ids("order=asc"));
    assert_eq!(ids("ascending=false"), ids("order=desc"));
    assert_eq!(
        ids("sort_by=last_run_completion"),
        ids("order_by=last_run_completion")
    );
    // order and order_by win over the deprecated pair.
    assert_eq!(ids("ascending=true&order=desc"), ids("order=desc"));
    assert_eq!(
        ids("sort_by=last_run_completion&order_by=updated_at"),
        ids("order_by=updated_at")
    );
    assert_eq!(
        ids("order=asc"),
        letta_oracle("asc", "created_at", &[], false, None)
    );
}

/// Whether a Letta agent has an identity whose `field` is `value`.
fn has_identity(agent: &Value, field: &str, value: &str) -> bool {
    agent["identities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i[field] == value)
}

#[test]
fn letta_filters_match_the_oracle() {
    let base = &support::shared().base;
    let all = letta_all();
    let ids = |q: &str| -> HashSet<String> {
        let r = get(&format!("{base}/letta/v1/agents/?limit=1000&{q}"));
        assert_eq!(r.status, 200, "{q}");
        assert_valid("letta", "GET", "/v1/agents/", &r);
        keys(r.json().as_array().unwrap(), "id")
            .into_iter()
            .collect()
    };
    let expect = |f: &dyn Fn(&Value) -> bool| -> HashSet<String> {
        all.iter()
            .filter(|a| f(a))
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect()
    };
    let sample = &all[3];
    for field in [
        "project_id",
        "template_id",
        "base_template_id",
        "last_stop_reason",
        "name",
    ] {
        let Some(v) = all.iter().find_map(|a| a[field].as_str()) else {
            continue;
        };
        let got = ids(&format!("{field}={}", enc(v)));
        assert!(!got.is_empty(), "{field}");
        assert_eq!(got, expect(&|a| a[field] == v), "{field}={v}");
    }
    let _ = sample;
    if let Some(ident) = all
        .iter()
        .find_map(|a| a["identities"].as_array().and_then(|i| i.first()).cloned())
    {
        let id = ident["id"].as_str().unwrap();
        let got = ids(&format!("identity_id={id}"));
        assert_eq!(got, expect(&|a| has_identity(a, "id", id)));
        assert!(!got.is_empty());
        let key = ident["identifier_key"].as_str().unwrap();
        let got = ids(&format!("identifier_keys={}", enc(key)));
        assert_eq!(got, expect(&|a| has_identity(a, "identifier_key", key)));
    }
    // Filters combine with each other.
    let p = all[0]["project_id"].as_str().unwrap();
    let got = ids(&format!("project_id={p}&tags=production&tags=beta"));
    assert_eq!(
        got,
        expect(&|a| a["project_id"] == p
            && a["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == "production" || t == "beta"))
    );
}

#[test]
fn letta_include_brings_relationships_in() {
    let base = &support::shared().base;
    let plain = get(&format!("{base}/letta/v1/agents/?limit=1000")).json();
    assert!(
        plain
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["tags"] == serde_json::json!([]))
    );
    let with = letta_all();
    assert!(
        with.iter()
            .any(|a| !a["tags"].as_array().unwrap().is_empty())
    );
    let id = with[0]["id"].as_str().unwrap();
    let r = get(&format!(
        "{base}/letta/v1/agents/{id}?include=agent.tags&include=agent.identities"
    ));
    assert_valid("letta", "GET", "/v1/agents/{agent_id}", &r);
    assert_eq!(r.json()["tags"], with[0]["tags"]);
}

#[test]
fn bad_parameters_are_rejected_in_each_apis_shape() {
    let base = &support::shared().base;
    let cases: &[(&str, &str, &str, u16, &str)] = &[
        (
            "vectara",
            "/v2/agents",
            "/vectara/v2/agents?limit=0",
            400,
            "limit",
        ),
        (
            "vectara",
            "/v2/agents",
            "/vectara/v2/agents?limit=101",
            400,
            "limit",
        ),
        (
            "vectara",
            "/v2/agents",
            "/vectara/v2/agents?limit=ten",
            400,
            "limit",
        ),
        (
            "vectara",
            "/v2/agents",
            "/vectara/v2/agents?enabled=maybe",
            400,
            "enabled",
        ),
        (
            "vectara",
            "/v2/agents",
            "/vectara/v2/agents?filter=%5Bunclosed",
            400,
            "filter",
        ),
        (
            "vectara",
            "/v2/agents",
            "/vectara/v2/agents?page_key=garbage",
            400,
            "page_key",
        ),
        (
            "letta",
            "/v1/agents/",
            "/letta/v1/agents/?limit=0",
            422,
            "limit",
        ),
        (
            "letta",
            "/v1/agents/",
            "/letta/v1/agents/?limit=abc",
            422,
            "limit",
        ),
        (
            "letta",
            "/v1/agents/",
            "/letta/v1/agents/?order=up",
            422,
            "order",
        ),
        (
            "letta",
            "/v1/agents/",
            "/letta/v1/agents/?order_by=name",
            422,
            "order_by",
        ),
        (
            "letta",
            "/v1/agents/",
            "/letta/v1/agents/?match_all_tags=perhaps",
            422,
            "match_all_tags",
        ),
    ];
    for (api, tpl, url, status, param) in cases {
        let r = get(&format!("{base}{url}"));
        assert_eq!(
            r.status,
            *status,
            "{url}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_valid(api, "GET", tpl, &r);
        assert!(
            String::from_utf8_lossy(&r.body).contains(param),
            "{url} names {param}"
        );
    }
    // Vectara names the field in field_errors; Letta in detail[].loc.
    let r = get(&format!("{base}/vectara/v2/agents?limit=101")).json();
    assert!(r["field_errors"]["limit"].is_string());
    let r = get(&format!("{base}/letta/v1/agents/?limit=0")).json();
    assert_eq!(r["detail"][0]["loc"], serde_json::json!(["query", "limit"]));
    // Unknown parameters are ignored.
    assert_eq!(
        get(&format!("{base}/vectara/v2/agents?colour=blue")).status,
        200
    );
}

#[test]
fn vectara_tokens_are_bound_signed_and_bounded() {
    let base = &support::shared().base;
    let first = get(&format!("{base}/vectara/v2/agents?filter=Agent")).json();
    let token = first["metadata"]["page_key"].as_str().unwrap().to_string();
    // Reused with another filter: refused.
    let r = get(&format!(
        "{base}/vectara/v2/agents?filter=Bot&page_key={}",
        enc(&token)
    ));
    assert_eq!(r.status, 400);
    assert_valid("vectara", "GET", "/v2/agents", &r);
    assert!(String::from_utf8_lossy(&r.body).contains("different filter"));
    // A changed limit is fine.
    let r = get(&format!(
        "{base}/vectara/v2/agents?filter=Agent&limit=3&page_key={}",
        enc(&token)
    ));
    assert_eq!(r.status, 200);
    // Tampered: refused.
    let mut t = token.clone().into_bytes();
    t[5] = if t[5] == b'A' { b'B' } else { b'A' };
    let r = get(&format!(
        "{base}/vectara/v2/agents?filter=Agent&page_key={}",
        enc(&String::from_utf8(t).unwrap())
    ));
    assert_eq!(r.status, 400);
    // Overlong: refused without decoding.
    let r = get(&format!(
        "{base}/vectara/v2/agents?page_key={}",
        "a".repeat(5000)
    ));
    assert_eq!(r.status, 400);
    assert!(String::from_utf8_lossy(&r.body).contains("too long"));
    // The last page has no page_key.
    let (pages, _) = vectara_pages("limit=100");
    assert_eq!(pages.len(), 2);
}

#[test]
fn a_new_api_is_just_a_spec_offset_style() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/specs");
    let apis = understudy::spec::load_dir(&dir).unwrap();
    let s = support::start_with(apis, support::default_config());
    let url = |q: &str| format!("{}/widgets/api/widgets?{q}", s.base);
    let all = get(&url("limit=100")).json();
    let all = keys(all["items"].as_array().unwrap(), "sku");
    assert_eq!(all.len(), 47);
    let mut walked = Vec::new();
    let mut offset = 0;
    loop {
        let r = get(&url(&format!("limit=10&offset={offset}")));
        assert_eq!(r.status, 200);
        let body = r.json();
        assert_eq!(body["total"], 47);
        let page = keys(body["items"].as_array().unwrap(), "sku");
        if page.is_empty() {
            break;
        }
        offset += page.len();
        walked.extend(page);
    }
    assert_eq!(walked, all);
    // Fixed sort: price ascending, ties by sku.
    let body = get(&url("limit=100")).json();
    let prices: Vec<i64> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["price"].as_i64().unwrap())
        .collect();
    assert!(prices.windows(2).all(|w| w[0] <= w[1]));
    let r = get(&url("offset=-1"));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["problem"]["param"], "offset");
}
