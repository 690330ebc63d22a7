//! Property-based fuzzing of everything a client or a file controls: page tokens and cursors,
//! query strings, regular-expression filters, headers, scenario files and spec files. Each
//! input must get an answer (or a load error), never a panic, and answers stay in the API's
//! documented statuses. Bounded: a few hundred cases per target, run with the test suite;
//! `PROPTEST_CASES=N cargo test --test it fuzz` runs longer. Anything found becomes a named
//! regression case below.

use std::sync::OnceLock;

use proptest::prelude::*;
use understudy::engine::{Engine, Request};

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        Engine::new(
            understudy::spec::load_embedded().unwrap(),
            &understudy::engine::Config {
                scenarios: understudy::scenario::load_embedded().unwrap(),
                ..crate::support::default_config()
            },
        )
        .unwrap()
    })
}

/// Send `target` with credentials for every API; the status must be one the API documents
/// for a refusal or a success.
fn answer(target: &str, extra: &[(&str, &str)]) -> u16 {
    let mut req = Request::get(target)
        .header("authorization", "Bearer fuzz")
        .header("x-api-key", "fuzz");
    for (k, v) in extra {
        req = req.header(k, v);
    }
    let r = engine().handle(&req);
    assert!(
        matches!(r.status, 200 | 400 | 404 | 405 | 422),
        "{target}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    // Every answer is JSON.
    serde_json::from_slice::<serde_json::Value>(&r.body)
        .unwrap_or_else(|e| panic!("{target}: not JSON ({e})"));
    r.status
}

/// Percent-encode arbitrary text for a query value.
fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

const LISTS: &[&str] = &[
    "/vectara/v2/agents",
    "/letta/v1/agents/",
    "/everruns/v1/agents",
    "/pipecat-cloud/v1/agents",
    "/pipecat-cloud/v1/organizations/tiny-ferret-maroon-123/services",
];

const PARAMS: &[&str] = &[
    "limit",
    "page_key",
    "filter",
    "enabled",
    "after",
    "before",
    "order",
    "order_by",
    "ascending",
    "sort_by",
    "tags",
    "match_all_tags",
    "query_text",
    "include",
    "region",
    "includeActiveDeployment",
    "search",
    "name",
    "identifier_keys",
];

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn page_tokens_never_panic(token in ".{0,300}", secret in any::<u64>(), filter in any::<u64>()) {
        // Arbitrary text is refused, never a panic; a real token round-trips.
        let _ = understudy::query::token::decode(secret, &token, filter);
        let t = understudy::query::token::PageToken::new(&token, 7, filter);
        let s = understudy::query::token::encode(secret, &t);
        prop_assert!(understudy::query::token::decode(secret, &s, filter).is_ok());
    }

    #[test]
    fn query_strings_get_documented_answers(
        list in prop::sample::select(LISTS),
        pairs in prop::collection::vec(
            (prop::sample::select(PARAMS), "[ -~]{0,40}"),
            0..5,
        ),
    ) {
        let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect();
        answer(&format!("{list}?{}", q.join("&")), &[]);
    }

    #[test]
    fn raw_query_bytes_get_documented_answers(list in prop::sample::select(LISTS), raw in "[ -~]{0,200}") {
        // Unencoded, malformed percent-escapes, stray & and =.
        answer(&format!("{list}?{}", raw.replace(' ', "+").replace('#', "%23")), &[]);
    }

    #[test]
    fn regular_expressions_are_answered_or_refused(pattern in ".{0,60}") {
        let status = answer(&format!("/vectara/v2/agents?filter={}", enc(&pattern)), &[]);
        prop_assert!(status == 200 || status == 400);
    }

    #[test]
    fn cursors_and_ids_in_paths_are_answered(id in ".{0,80}") {
        let id = enc(&id);
        answer(&format!("/letta/v1/agents/?after={id}&before={id}"), &[]);
        answer(&format!("/letta/v1/agents/{id}"), &[]);
        answer(&format!("/vectara/v2/agents/{id}"), &[]);
        answer(&format!("/everruns/v1/agents/{id}"), &[]);
        answer(&format!("/pipecat-cloud/v1/agents/{id}"), &[]);
    }

    #[test]
    fn header_values_are_answered(variant in "[ -~]{0,40}", session in "[ -~]{0,40}") {
        let r = engine().handle(
            &Request::get("/letta/v1/agents/?limit=2")
                .header("authorization", "Bearer fuzz")
                .header("x-understudy-variant", &variant)
                .header("x-understudy-session", &session),
        );
        prop_assert!(matches!(r.status, 200 | 400 | 422), "{}", r.status);
    }

    #[test]
    fn mutated_scenario_files_load_or_fail_cleanly(
        file in prop::sample::select(vec![
            include_str!("../../scenarios/failed-rollout.yaml"),
            include_str!("../../scenarios/rate-limited.yaml"),
            include_str!("../../scenarios/agents-created-mid-pagination-letta.yaml"),
        ]),
        cut in any::<prop::sample::Index>(),
        len in 0usize..40,
        insert in "[ -~\n]{0,20}",
    ) {
        let mut text = file.to_string();
        let at = cut.index(text.len() + 1);
        let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        let end = (at + len).min(text.len());
        let end = (end..=text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
        text.replace_range(at..end, &insert);
        if let Ok(sc) = understudy::scenario::parse("fuzz.yaml", &text) {
            let sc = std::sync::Arc::new(sc);
            let _ = engine().check_scenario(&sc);
        }
    }

    #[test]
    fn mutated_spec_files_load_or_fail_cleanly(
        cut in any::<prop::sample::Index>(),
        len in 0usize..60,
        insert in "[ -~\n]{0,30}",
    ) {
        let file = include_str!("../fixtures/features/stores.yaml");
        let mut text = file.to_string();
        let at = cut.index(text.len() + 1).min(text.len());
        let end = (at + len).min(text.len());
        text.replace_range(at..end, &insert);
        if let Ok(api) = understudy::spec::load_str("stores.yaml", &text) {
            // What loads also serves without panicking.
            let e = Engine::new(vec![api], &understudy::engine::Config::default());
            if let Ok(e) = e {
                for m in e.mounts() {
                    for op in &m.api.operations {
                        let _ = e.handle(
                            &Request::get(&format!("{}{}", m.prefix, op.path))
                                .with_method(&op.method)
                                .header("authorization", "Bearer t"),
                        );
                    }
                }
            }
        }
    }
}
