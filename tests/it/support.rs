//! Test support: a real understudy server on an ephemeral loopback port, an HTTP client, and
//! response validation against the specs.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use serde_json::Value;
use understudy::auth::TokenDb;
use understudy::contract::Contract;
use understudy::engine::{Config, Engine};
use understudy::http::Server;
use understudy::spec::{self, Api};

pub const TOKEN: &str = "Bearer test-token";

/// A running server; stops when dropped.
pub struct TestServer {
    pub base: String,
    pub engine: Arc<Engine>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Start a server with the embedded specs.
pub fn start(cfg: Config) -> TestServer {
    start_with(spec::load_embedded().expect("embedded specs load"), cfg)
}

pub fn start_with(apis: Vec<Api>, cfg: Config) -> TestServer {
    start_with_options(apis, cfg, understudy::http::Options::default())
}

/// A server with the given connection limits (timeouts, connection cap).
pub fn start_with_options(
    apis: Vec<Api>,
    cfg: Config,
    opts: understudy::http::Options,
) -> TestServer {
    let engine = Arc::new(Engine::new(apis, &cfg).expect("engine builds"));
    let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let e2 = engine.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let server = Server::bind_with("127.0.0.1:0".parse().unwrap(), e2, opts)
                .await
                .expect("bind");
            tx.send(server.local_addr().unwrap()).unwrap();
            server
                .run(async {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
        });
    });
    let addr = rx.recv().expect("server address");
    TestServer {
        base: format!("http://{addr}"),
        engine,
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

/// Default test server (seed fixed), shared by tests that only read.
pub fn shared() -> &'static TestServer {
    static S: OnceLock<TestServer> = OnceLock::new();
    S.get_or_init(|| start(default_config()))
}

pub fn default_config() -> Config {
    Config {
        seed: understudy::cli::DEFAULT_SEED,
        // Every test server checks its own responses against the spec.
        strict: true,
        ..Config::default()
    }
}

/// The default configuration without `--strict`: for servers meant to send what a broken or
/// partial spec produces.
pub fn lax_config() -> Config {
    Config {
        strict: false,
        ..default_config()
    }
}

pub fn config_with_tokens(text: &str) -> Config {
    Config {
        tokens: Some(TokenDb::parse(std::path::Path::new("tokens"), text).unwrap()),
        ..default_config()
    }
}

/// A response, read whole.
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn agent() -> &'static ureq::Agent {
    static A: OnceLock<ureq::Agent> = OnceLock::new();
    A.get_or_init(|| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into()
    })
}

/// Send a request with the given headers.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)]) -> Resp {
    request_with_body(method, url, headers, "")
}

/// Send a request with the given headers and body.
pub fn request_with_body(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    let mut b = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(body.to_string()).unwrap();
    let mut r = agent()
        .run(req)
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = r.status().as_u16();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = r.body_mut().read_to_vec().unwrap();
    Resp {
        status,
        headers,
        body,
    }
}

/// GET with a valid bearer token.
pub fn get(url: &str) -> Resp {
    request(
        "GET",
        url,
        &[("Authorization", TOKEN), ("x-api-key", "test-key")],
    )
}

/// The loaded specs and their contracts, by name.
pub fn api(name: &str) -> &'static (Api, Contract) {
    static APIS: OnceLock<Vec<(Api, Contract)>> = OnceLock::new();
    let all = APIS.get_or_init(|| {
        spec::load_embedded()
            .unwrap()
            .into_iter()
            .map(|a| {
                let c = Contract::new(&a).unwrap();
                (a, c)
            })
            .collect()
    });
    all.iter()
        .find(|(a, _)| a.name == name)
        .unwrap_or_else(|| panic!("no API {name}"))
}

/// Assert that a response validates against the spec of `api` for operation (method, path).
pub fn assert_valid(api_name: &str, method: &str, template: &str, r: &Resp) {
    let (a, c) = api(api_name);
    let op = Contract::operation_index(a, method, template)
        .unwrap_or_else(|| panic!("{api_name}: no operation {method} {template}"));
    let errs = c.check(a, op, r.status, &r.body);
    assert!(
        errs.is_empty(),
        "{api_name} {method} {template} -> {}: {errs:#?}\nbody: {}",
        r.status,
        String::from_utf8_lossy(&r.body)
            .chars()
            .take(2000)
            .collect::<String>()
    );
}

/// The four APIs with their list and detail templates and id field.
pub struct ApiCase {
    pub name: &'static str,
    pub list_url: &'static str,
    pub list_tpl: &'static str,
    pub get_tpl: &'static str,
    pub get_prefix: &'static str,
    pub key: &'static str,
    pub items: &'static str,
}

pub const APIS: &[ApiCase] = &[
    ApiCase {
        name: "pipecat-cloud",
        list_url: "/pipecat-cloud/v1/agents",
        list_tpl: "/agents",
        get_tpl: "/agents/{agentName}",
        get_prefix: "/pipecat-cloud/v1/agents/",
        key: "name",
        items: "/services",
    },
    ApiCase {
        name: "vectara",
        list_url: "/vectara/v2/agents",
        list_tpl: "/v2/agents",
        get_tpl: "/v2/agents/{agent_key}",
        get_prefix: "/vectara/v2/agents/",
        key: "id",
        items: "/agents",
    },
    ApiCase {
        name: "letta",
        list_url: "/letta/v1/agents/",
        list_tpl: "/v1/agents/",
        get_tpl: "/v1/agents/{agent_id}",
        get_prefix: "/letta/v1/agents/",
        key: "id",
        items: "",
    },
    ApiCase {
        name: "everruns",
        list_url: "/everruns/v1/agents",
        list_tpl: "/v1/agents",
        get_tpl: "/v1/agents/{agent_id}",
        get_prefix: "/everruns/v1/agents/",
        key: "id",
        items: "/data",
    },
];

/// The items of a list body.
pub fn items<'a>(case: &ApiCase, body: &'a Value) -> &'a Vec<Value> {
    body.pointer(case.items)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{}: no items at '{}' in {body}", case.name, case.items))
}

/// Walk every page of a list (following the API's own pagination) and return all items.
pub fn walk(base: &str, case: &ApiCase, query: &str) -> Vec<Value> {
    let sep = if query.is_empty() { "" } else { "&" };
    let mut out: Vec<Value> = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..10_000 {
        let url = match (&next, case.name) {
            (None, _) => format!("{base}{}?{query}", case.list_url),
            (Some(t), "vectara") => format!("{base}{}?{query}{sep}page_key={t}", case.list_url),
            (Some(a), _) => format!("{base}{}?{query}{sep}after={a}", case.list_url),
        };
        let r = get(&url);
        assert_eq!(r.status, 200, "{url}: {}", String::from_utf8_lossy(&r.body));
        assert_valid(case.name, "GET", case.list_tpl, &r);
        let body = r.json();
        let page = items(case, &body).clone();
        match case.name {
            "vectara" => {
                out.extend(page);
                match body.pointer("/metadata/page_key").and_then(Value::as_str) {
                    Some(t) if !t.is_empty() => next = Some(t.to_string()),
                    _ => return out,
                }
            }
            "letta" => {
                // The official client stops only on an empty page.
                let Some(last) = page.last() else { return out };
                next = Some(last["id"].as_str().unwrap().to_string());
                out.extend(page);
            }
            _ => {
                out.extend(page);
                return out;
            }
        }
    }
    panic!("{}: pagination did not end", case.name);
}

/// Send request headers declaring a body of `len` bytes without sending it, and read the
/// answer (the server refuses an oversized body before reading it).
pub fn declare_body(base: &str, method: &str, path: &str, len: usize) -> Resp {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nx-api-key: k\r\nContent-Length: {len}\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: body.as_bytes().to_vec(),
    }
}

/// Admin responses validate against docs/admin-api.yaml (`path` below `/__understudy`, its
/// query ignored): the documented operation whose template matches, most literal segments
/// first.
pub fn assert_admin_valid(method: &str, path: &str, r: &Resp) {
    static ADMIN: OnceLock<(Api, Contract)> = OnceLock::new();
    let (api, c) = ADMIN.get_or_init(|| {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/admin-api.yaml");
        let api = spec::load_file(&p).unwrap();
        let c = Contract::new(&api).unwrap();
        (api, c)
    });
    let full = format!("/__understudy{}", path.split('?').next().unwrap_or(path));
    let segs: Vec<&str> = full.split('/').filter(|s| !s.is_empty()).collect();
    let method = method.to_ascii_uppercase();
    let tpl = api
        .operations
        .iter()
        .filter(|o| o.method == method && o.segments.len() == segs.len())
        .filter_map(|o| {
            let mut lits = 0;
            for (t, s) in o.segments.iter().zip(&segs) {
                match t {
                    spec::Segment::Lit(l) if l == s => lits += 1,
                    spec::Segment::Lit(_) => return None,
                    spec::Segment::Param(_) => {}
                }
            }
            Some((lits, o.path.clone()))
        })
        .max_by_key(|(lits, _)| *lits)
        .map(|(_, p)| p)
        .unwrap_or_else(|| panic!("admin spec has no {method} {full}"));
    let op = Contract::operation_index(api, &method, &tpl)
        .unwrap_or_else(|| panic!("admin spec has no {method} {tpl}"));
    let errs = c.check(api, op, r.status, &r.body);
    assert!(
        errs.is_empty(),
        "admin {method} {path} -> {}: {errs:?}\n{}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
}
