//! `understudy verify`: clean against understudy itself for every spec; finds what a broken
//! configuration and a deliberately wrong server get wrong.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;

use serde_json::Value;
use understudy::engine::{Engine, Request};
use understudy::verify::{self, Kind, Options, Report};

use crate::support;

fn run(spec: &str, base_url: &str) -> Report {
    let api = understudy::spec::load_embedded()
        .unwrap()
        .into_iter()
        .find(|a| a.name == spec)
        .unwrap();
    verify::run(
        &api,
        &Options {
            base_url: base_url.to_string(),
            ..Options::default()
        },
    )
    .unwrap()
}

fn kinds(r: &Report) -> Vec<Kind> {
    r.checks
        .iter()
        .flat_map(|c| c.violations.iter().map(|v| v.kind))
        .collect()
}

#[test]
fn understudy_itself_verifies_clean_for_every_spec() {
    let s = support::shared();
    for (spec, base) in [
        ("pipecat-cloud", "/pipecat-cloud/v1"),
        ("vectara", "/vectara"),
        ("letta", "/letta"),
        ("everruns", "/everruns"),
    ] {
        let r = run(spec, &format!("{}{base}", s.base));
        assert!(r.clean(), "{}", r.text());
        assert!(r.requests > 3 && r.checks.len() >= 4, "{}", r.text());
    }
}

#[test]
fn a_broken_configuration_is_caught() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/broken-specs");
    let s = support::start_with(
        understudy::spec::load_dir(&dir).unwrap(),
        support::lax_config(),
    );
    let r = run("vectara", &format!("{}/vectara", s.base));
    assert!(!r.clean());
    let text = r.text();
    assert!(
        text.contains("/enabled"),
        "the string `enabled` is a schema mismatch: {text}"
    );
    assert!(kinds(&r).contains(&Kind::Schema));
    let accepted = r
        .checks
        .iter()
        .find(|c| c.name.contains("limit=101"))
        .unwrap();
    let v = accepted
        .violations
        .iter()
        .find(|v| v.kind == Kind::Unexpected)
        .unwrap_or_else(|| panic!("{text}"));
    assert!(v.request.contains("limit=101") && v.message.contains("200"));
    // Every output format carries the findings.
    assert!(r.junit().contains("<failure type=\"Schema\""));
    let j: Value = serde_json::from_str(&r.json()).unwrap();
    assert!(
        j["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| !c["violations"].as_array().unwrap().is_empty())
    );
}

/// A small server that answers like understudy's Letta, but gets things wrong on purpose:
/// repeats an item across pages, accepts any limit, changes a field between list and detail,
/// answers an unknown id with 200, ignores credentials and sends a malformed error body.
fn wrong_letta_server() -> String {
    let engine = Arc::new(
        Engine::new(
            understudy::spec::load_embedded().unwrap(),
            &support::default_config(),
        )
        .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let engine = engine.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let mut auth = false;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    auth |= h.to_ascii_lowercase().starts_with("authorization:");
                }
                let (status, body) = wrong_answer(&engine, &target, auth);
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(resp.as_bytes());
                let _ = stream.write_all(&body);
            });
        }
    });
    format!("http://{addr}")
}

fn wrong_answer(engine: &Engine, target: &str, _auth: bool) -> (u16, Vec<u8>) {
    let real = |t: &str| {
        let r =
            engine.handle(&Request::get(&format!("/letta{t}")).header("authorization", "Bearer x"));
        (r.status, r.body.to_vec())
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path == "/v1/agents/" {
        if query.contains("limit=0") {
            return (418, b"{}".to_vec()); // an undocumented status
        }
        // Any limit is accepted (clamped to the real bounds to produce a page).
        let q: String = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some(("limit", n)) if n.parse::<u64>().is_ok_and(|n| n > 1000) => {
                    "limit=1000".to_string()
                }
                _ => kv.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&");
        let (status, body) = real(&format!("{path}?{q}"));
        let mut page: Value = serde_json::from_slice(&body).unwrap();
        if q.contains("after=") {
            // Repeat the cursor item at the top of the next page.
            let after = q
                .split('&')
                .find_map(|kv| kv.strip_prefix("after="))
                .unwrap();
            let (_, prev) = real(&format!("/v1/agents/{after}"));
            let prev: Value = serde_json::from_slice(&prev).unwrap();
            if let (Some(arr), false) = (page.as_array_mut(), prev.get("detail").is_some())
                && !arr.is_empty()
            {
                arr.insert(0, prev);
            }
        }
        return (status, serde_json::to_vec(&page).unwrap());
    }
    let (status, body) = real(target);
    if status == 404 {
        // Unknown ids: 200 with a body that is not an agent.
        return (200, br#"{"detail": "not here"}"#.to_vec());
    }
    let mut v: Value = serde_json::from_slice(&body).unwrap();
    if let Some(name) = v.get_mut("name") {
        *name = Value::String("renamed-in-detail".into());
    }
    (status, serde_json::to_vec(&v).unwrap())
}

#[test]
fn a_wrong_server_is_caught_with_the_requests_that_show_it() {
    let base = wrong_letta_server();
    let r = run("letta", &base);
    let text = r.text();
    assert!(!r.clean());
    let k = kinds(&r);
    for want in [
        Kind::Duplicate,
        Kind::ListDetailMismatch,
        Kind::UndocumentedStatus,
        Kind::Unexpected,
        Kind::Schema,
    ] {
        assert!(k.contains(&want), "missing {want:?} in\n{text}");
    }
    // Each violation names its request.
    for c in &r.checks {
        for v in &c.violations {
            assert!(v.request.starts_with("GET http://"), "{v:?}");
        }
    }
    assert!(text.contains("renamed-in-detail"));
    assert!(text.contains("limit=1001"));
}

#[test]
fn the_cli_exits_non_zero_and_writes_junit() {
    let base = wrong_letta_server();
    let out_file = std::env::temp_dir().join(format!("verify-{}.xml", std::process::id()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_understudy"))
        .args([
            "verify",
            "--spec",
            "specs/letta.yaml",
            "--base-url",
            &base,
            "--format",
            "junit",
            "--max-pages",
            "3",
            "--output",
        ])
        .arg(&out_file)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let xml = std::fs::read_to_string(&out_file).unwrap();
    assert!(xml.starts_with("<?xml") && xml.contains("<testsuite") && xml.contains("<failure"));
    let ok = std::process::Command::new(env!("CARGO_BIN_EXE_understudy"))
        .args([
            "verify",
            "--spec",
            "everruns",
            "--base-url",
            &format!("{}/everruns", support::shared().base),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let j: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(j["api"], "everruns");
}
