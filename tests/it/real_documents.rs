//! Real public OpenAPI documents (fetched by `.ci/fixtures.sh` into `target/fixtures/`; sources
//! and licences in `tests/fixtures/real/README.md`), served with no annotations: each loads, and
//! every operation, called the way a client of the document would call it, answers a status the
//! operation documents, with a body that validates (the server runs `--strict`, which turns a
//! contract violation into a 500 that says so).
//!
//! Without the fixtures (a machine that has not run `.ci/fixtures.sh`) the test says so and
//! passes, unless `UNDERSTUDY_REQUIRE_FIXTURES` is set, as CI sets it.

use std::path::{Path, PathBuf};

use serde_json::Value;
use understudy::spec::{Api, Operation, ParamIn, Segment};

use crate::support::{self, request_with_body};

/// Each fixture, with its expected OpenAPI dialect.
const DOCUMENTS: &[&str] = &[
    "openai.yml",
    "azure-openai-2024-10-21.json",
    "figma.yaml",
    "scalar-galaxy.3.1.json",
    "blockfrost.yaml",
    "shipengine.json",
    "readme.3.1.json",
];

fn fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixtures");
    let present = DOCUMENTS.iter().all(|d| dir.join(d).is_file());
    if present {
        return Some(dir);
    }
    assert!(
        std::env::var_os("UNDERSTUDY_REQUIRE_FIXTURES").is_none(),
        "the real documents are missing from {}: run .ci/fixtures.sh",
        dir.display()
    );
    eprintln!("real documents not fetched (run .ci/fixtures.sh): skipped");
    None
}

/// A value for a parameter: its example, else one generated from its schema's pattern, else
/// the schema's default or first enum value, else a placeholder of its type.
fn value_for(schema: &Value, example: Option<&Value>) -> String {
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    if let Some(e) = example.filter(|e| !e.is_null() && !e.is_object() && !e.is_array()) {
        return text(e);
    }
    if let Some(p) = schema
        .get("pattern")
        .and_then(Value::as_str)
        .and_then(understudy::spec::schema::Pattern::new)
    {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        return rand::RngExt::sample(&mut rng, &*p.generator);
    }
    if let Some(v) = schema.get("default").or_else(|| schema.pointer("/enum/0")) {
        return text(v);
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("integer") | Some("number") => schema
            .get("minimum")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(1)
            .to_string(),
        Some("boolean") => "true".into(),
        _ => "x1".into(),
    }
}

/// A request a client of the document would send for `op`.
fn call(api: &Api, op: &Operation) -> (String, Vec<(String, String)>, String) {
    let mut path = String::new();
    for s in &op.segments {
        path.push('/');
        match s {
            Segment::Lit(l) => path.push_str(l),
            Segment::Param(name) => {
                let p = op.params.iter().find(|p| &p.name == name);
                let v = p.map_or_else(
                    || "x1".to_string(),
                    |p| value_for(&p.schema, p.example.as_ref()),
                );
                path.push_str(
                    &percent_encoding::utf8_percent_encode(&v, percent_encoding::NON_ALPHANUMERIC)
                        .to_string(),
                );
            }
        }
    }
    let understudy::auth::Credentials {
        mut headers,
        mut query,
    } = understudy::auth::credentials(api, op, "test-token");
    for p in op.params.iter().filter(|p| p.required) {
        let v = value_for(&p.schema, p.example.as_ref());
        match p.location {
            ParamIn::Query => query.push((p.name.clone(), v)),
            ParamIn::Header => headers.push((p.name.clone(), v)),
            ParamIn::Path => {}
        }
    }
    let body = match &op.request_body {
        Some((_, schema)) => {
            let c = understudy::spec::schema::Compiler::new(&api.file, &api.doc, api.dialect);
            let node = c.compile(schema, "body").expect("the body schema compiles");
            let model = understudy::data::CollectionModel::for_body(
                &api.file,
                "body",
                "body",
                node,
                &Default::default(),
                &Default::default(),
            )
            .expect("a body model");
            headers.push(("content-type".into(), "application/json".into()));
            understudy::data::Entity::new(&model, 1, 0)
                .full()
                .to_string()
        }
        None => String::new(),
    };
    let qs: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&query)
        .finish();
    let url = if qs.is_empty() {
        path
    } else {
        format!("{path}?{qs}")
    };
    (url, headers, body)
}

#[test]
fn every_operation_of_every_real_document_answers_a_documented_status_that_validates() {
    let Some(dir) = fixtures() else { return };
    let mut report = Vec::new();
    for name in DOCUMENTS {
        let started = std::time::Instant::now();
        let api = understudy::spec::load_file(&dir.join(name)).unwrap_or_else(|e| panic!("{e}"));
        let load = started.elapsed();
        let api_for_calls = understudy::spec::load_file(&dir.join(name)).expect("loads again");
        let s = support::start_with(vec![api], support::default_config());
        let mut success = 0;
        let mut problems = Vec::new();
        for op in &api_for_calls.operations {
            let (url, headers, body) = call(&api_for_calls, op);
            let h: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let r = request_with_body(&op.method, &format!("{}{url}", s.base), &h, &body);
            let text = String::from_utf8_lossy(&r.body);
            if text.contains("understudy --strict") {
                problems.push(format!("{} {} -> {}: {text}", op.method, url, r.status));
            } else if op.response(r.status).is_none() {
                problems.push(format!(
                    "{} {} -> undocumented {}: {}",
                    op.method,
                    url,
                    r.status,
                    text.chars().take(300).collect::<String>()
                ));
            } else if r.status < 400 {
                success += 1;
            }
        }
        // `lint` finds nothing that would break the contract (warnings: the document's own
        // slips, such as examples that contradict their schemas).
        let findings = understudy::lint::lint(
            vec![understudy::spec::load_file(&dir.join(name)).expect("loads")],
            Vec::new(),
        );
        let errors: Vec<String> = findings
            .iter()
            .filter(|f| f.severity == understudy::lint::Severity::Error)
            .map(ToString::to_string)
            .collect();
        assert!(
            errors.is_empty(),
            "{name}: lint errors:\n{}",
            errors.join("\n")
        );
        report.push(format!(
            "{name}: loaded in {load:?}, {} operations, {success} answered with success, {} problems",
            api_for_calls.operations.len(),
            problems.len()
        ));
        assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn every_inferred_list_of_every_real_document_walks_once_and_agrees_with_its_detail() {
    // `understudy verify` against understudy serving each document: every page walk sees each
    // item once, in the same order at two page sizes, within the page size, with the total
    // where one is shown, and sampled items' details show what the list showed. Operations
    // whose inferred action fell back to their schema are not a collection, and not checked.
    use understudy::verify::{self, Kind, Options};
    let Some(dir) = fixtures() else { return };
    let mut report = Vec::new();
    for name in DOCUMENTS {
        let api = understudy::spec::load_file(&dir.join(name)).expect("loads");
        let s = support::start_with(vec![api], support::default_config());
        let mount = &s.engine.mounts()[0];
        let fallback: Vec<&str> = mount
            .api
            .operations
            .iter()
            .enumerate()
            .filter(|(i, o)| o.bound.is_some() && mount.answers_from_schema(*i))
            .map(|(_, o)| o.path.as_str())
            .collect();
        let lists = mount
            .api
            .operations
            .iter()
            .enumerate()
            .filter(|(i, o)| {
                o.bound.as_ref().is_some_and(|b| b.action.is_list())
                    && !mount.answers_from_schema(*i)
            })
            .count();
        let r = verify::run(
            &mount.api,
            &Options {
                base_url: s.base.clone(),
                max_pages: 50,
                sample: 5,
                ..Options::default()
            },
        )
        .expect("verify runs");
        let mut walks = 0;
        let mut problems = Vec::new();
        for c in &r.checks {
            if !(c.name.starts_with("walk ") || c.name.starts_with("detail ")) {
                continue;
            }
            let names_fallback = c
                .name
                .split_whitespace()
                .map(|t| t.trim_matches(|ch| ch == '(' || ch == ')'))
                .any(|t| fallback.contains(&t));
            if names_fallback {
                continue;
            }
            walks += usize::from(c.name.starts_with("walk "));
            for v in &c.violations {
                if matches!(
                    v.kind,
                    Kind::Duplicate
                        | Kind::Skipped
                        | Kind::PageOverLimit
                        | Kind::ListDetailMismatch
                ) {
                    problems.push(format!(
                        "{}: {:?} {}: {}",
                        c.name, v.kind, v.request, v.message
                    ));
                }
            }
        }
        report.push(format!(
            "{name}: {lists} inferred lists, {walks} walks checked, {} problems",
            problems.len()
        ));
        assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
    }
    eprintln!("{}", report.join("\n"));
}
