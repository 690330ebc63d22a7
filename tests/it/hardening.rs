//! Hard to break at the HTTP level: slow and stalled clients are cut off, a connection cap
//! answers 503 in the API's shape, protocol-level refusals are in the API's shape, the admin
//! API refuses what a web page or another host could send, credentials are checked before any
//! scenario answers, and shutdown lets in-flight requests finish.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;
use understudy::engine::Config;
use understudy::http::{Options, Timeouts};

use crate::support::{self, request};

fn quick() -> Options {
    Options {
        timeouts: Timeouts {
            header: Duration::from_millis(300),
            body: Duration::from_millis(300),
            idle: Duration::from_millis(600),
            ..Timeouts::default()
        },
        ..Options::default()
    }
}

fn server(cfg: Config, opts: Options) -> support::TestServer {
    support::start_with_options(understudy::spec::load_embedded().unwrap(), cfg, opts)
}

fn connect(base: &str) -> TcpStream {
    let s = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Read until the server closes the connection (or 5 s pass); returns what was read.
fn read_to_close(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_stalled_request_head_is_cut_off() {
    let s = server(support::default_config(), quick());
    let mut c = connect(&s.base);
    let t = Instant::now();
    c.write_all(b"GET /vectara/v2/agents HT").unwrap();
    let got = read_to_close(&mut c);
    let took = t.elapsed();
    assert!(got.is_empty(), "{got}");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[test]
fn an_idle_keep_alive_connection_is_closed_but_a_busy_one_is_not() {
    let s = server(support::default_config(), quick());
    let mut c = connect(&s.base);
    // Requests closer together than the idle limit keep the connection.
    for _ in 0..4 {
        c.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 4096];
        let n = c.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        std::thread::sleep(Duration::from_millis(300));
    }
    let t = Instant::now();
    assert_eq!(read_to_close(&mut c), "");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[test]
fn a_body_that_never_finishes_gets_408_in_the_api_shape() {
    let s = server(support::default_config(), quick());
    let mut c = connect(&s.base);
    c.write_all(
        b"POST /letta/v1/agents/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":",
    )
    .unwrap();
    let got = read_to_close(&mut c);
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    let body = &got[got.find("\r\n\r\n").unwrap() + 4..];
    let v: Value = serde_json::from_str(body).unwrap();
    assert!(
        v["detail"].as_str().unwrap().contains("did not arrive"),
        "{v}"
    );
}

#[test]
fn past_the_connection_cap_a_client_gets_503_in_the_api_shape() {
    let s = server(
        support::default_config(),
        Options {
            max_connections: 1,
            ..Options::default()
        },
    );
    // One connection holds the only slot.
    let mut first = connect(&s.base);
    first
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    assert!(first.read(&mut buf).unwrap() > 0);
    let r = support::get(&format!("{}/vectara/v2/agents", s.base));
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(
        r.json()["messages"][0]
            .as_str()
            .unwrap()
            .contains("connection limit")
    );
    drop(first);
    // The slot frees when the connection goes.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = support::get(&format!("{}/vectara/v2/agents", s.base));
        if r.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still {}", r.status);
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn protocol_refusals_come_in_the_api_shape() {
    let s = support::shared();
    // An over-long target: 414, Letta's shape.
    // (Near 64 KiB, which most clients refuse to send, so raw.)
    let mut c = connect(&s.base);
    c.write_all(
        format!(
            "GET /letta/v1/agents/?name={} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer t\r\nConnection: close\r\n\r\n",
            "a".repeat(63_000)
        )
        .as_bytes(),
    )
    .unwrap();
    let got = read_to_close(&mut c);
    assert!(
        got.starts_with("HTTP/1.1 414"),
        "{}",
        &got[..got.len().min(300)]
    );
    let body = &got[got.find("\r\n\r\n").unwrap() + 4..];
    let v: Value = serde_json::from_str(body).unwrap();
    assert!(v["detail"].as_str().unwrap().contains("longer than"), "{v}");
    // An over-large header block: 431, Vectara's shape.
    let big = "b".repeat(70 << 10);
    let r = request(
        "GET",
        &format!("{}/vectara/v2/agents", s.base),
        &[("x-api-key", "k"), ("x-padding", &big)],
    );
    assert_eq!(r.status, 431);
    assert!(r.json()["messages"][0].as_str().is_some());
    // A malformed chunked body: 400, not 413.
    let mut c = connect(&s.base);
    c.write_all(
        b"POST /letta/v1/agents/ HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    )
    .unwrap();
    let got = read_to_close(&mut c);
    assert!(got.starts_with("HTTP/1.1 400"), "{got}");
    assert!(got.contains("framing"), "{got}");
}

#[test]
fn head_is_answered_like_get_without_a_body_and_the_index_is_get_only() {
    let s = support::shared();
    let url = format!("{}/vectara/v2/agents?limit=3", s.base);
    let get = support::get(&url);
    let head = request("HEAD", &url, &[("x-api-key", "k")]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length"),
        Some(get.body.len().to_string().as_str())
    );
    let post = request("POST", &format!("{}/", s.base), &[]);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
}

#[test]
fn session_ids_are_bounded() {
    let s = support::shared();
    let url = format!("{}/everruns/v1/agents", s.base);
    let long = "s".repeat(200);
    for bad in [long.as_str(), "a b", "ümlaut"] {
        let r = request(
            "GET",
            &url,
            &[("Authorization", "Bearer t"), ("X-Understudy-Session", bad)],
        );
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.json()["error"].as_str().unwrap().contains("session id"));
    }
    let ok = request(
        "GET",
        &url,
        &[
            ("Authorization", "Bearer t"),
            ("X-Understudy-Session", "ci-run_42:a/b"),
        ],
    );
    assert_eq!(ok.status, 200);
}

#[test]
fn credentials_are_checked_before_any_scenario_answers() {
    let s = support::start(Config {
        scenarios: understudy::scenario::load_embedded().unwrap(),
        start: vec!["rate-limited".into()],
        ..support::config_with_tokens("good-key\n")
    });
    let url = format!("{}/vectara/v2/agents", s.base);
    let anonymous = request("GET", &url, &[]);
    assert_eq!(anonymous.status, 401);
    let wrong = request("GET", &url, &[("x-api-key", "wrong")]);
    assert_eq!(wrong.status, 401);
    let good = request("GET", &url, &[("x-api-key", "good-key")]);
    assert_eq!(good.status, 429);
}

fn admin(base: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> support::Resp {
    request(method, &format!("{base}/__understudy{path}"), headers)
}

#[test]
fn the_admin_api_refuses_what_a_web_page_or_another_host_could_send() {
    let s = support::shared();
    let json = ("Content-Type", "application/json");
    // DNS rebinding: a foreign Host.
    let r = admin(&s.base, "GET", "/state", &[("Host", "evil.example")]);
    assert_eq!(r.status, 403);
    // A "simple" cross-origin POST (text/plain, no preflight).
    let r = admin(
        &s.base,
        "POST",
        "/reset",
        &[
            ("Content-Type", "text/plain"),
            ("X-Understudy-Session", "adm1"),
        ],
    );
    assert_eq!(r.status, 415);
    let r = admin(
        &s.base,
        "POST",
        "/reset",
        &[
            json,
            ("Origin", "https://evil.example"),
            ("X-Understudy-Session", "adm1"),
        ],
    );
    assert_eq!(r.status, 403);
    // What a test on this machine sends is fine.
    let r = admin(
        &s.base,
        "POST",
        "/reset",
        &[
            json,
            ("Origin", "http://localhost:3000"),
            ("X-Understudy-Session", "adm1"),
        ],
    );
    assert_eq!(r.status, 200);
    // Echoed input is bounded.
    let huge = format!("{{\"by\": \"{}x\"}}", "9".repeat(50_000));
    let r = support::request_with_body(
        "POST",
        &format!("{}/__understudy/clock/advance", s.base),
        &[json, ("X-Understudy-Session", "adm1")],
        &huge,
    );
    assert_eq!(r.status, 400);
    assert!(r.body.len() < 1024, "{} bytes", r.body.len());
}

#[test]
fn an_admin_token_guards_the_admin_api_and_data_tokens_do_not_pass() {
    let s = support::start(Config {
        admin: understudy::engine::admin::Guard {
            token: Some("admin-secret".into()),
            hosts: Vec::new(),
        },
        ..support::config_with_tokens("data-token\n")
    });
    let r = admin(&s.base, "GET", "/state", &[]);
    assert_eq!(r.status, 401);
    let r = admin(
        &s.base,
        "GET",
        "/state",
        &[("Authorization", "Bearer data-token")],
    );
    assert_eq!(r.status, 401);
    let r = admin(
        &s.base,
        "GET",
        "/state",
        &[("Authorization", "Bearer admin-secret")],
    );
    assert_eq!(r.status, 200);
}
