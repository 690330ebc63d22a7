//! Replicas behind a load balancer (deploy/README.md): three `understudy serve` processes that
//! share nothing, behind HAProxy routing by `X-Understudy-Session` (consistent hashing; requests
//! without the header go round robin). Reads agree across replicas, a session's scenario and
//! writes are seen consistently through the proxy, and killing a replica moves only its own
//! sessions, which start afresh elsewhere.
//!
//! Needs `haproxy` on PATH: without it the test says so and passes, unless
//! `UNDERSTUDY_REQUIRE_HAPROXY=1` (as CI sets it). Loopback only; every wait is bounded and
//! every process is killed when the test ends, however it ends.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Resp, TOKEN, get, request, request_with_body};

/// The header HAProxy hashes.
const SESSION: &str = "X-Understudy-Session";
/// The header HAProxy adds to each response: the name of the replica that answered.
const REPLICA: &str = "X-Understudy-Replica";
/// One seed for every replica, as a cluster must have.
const SEED: &str = "424242";
const SCENARIO: &str = "failed-rollout";
const REPLICAS: [&str; 3] = ["r1", "r2", "r3"];

/// One `understudy serve` process; `name` is its server name in HAProxy.
struct Replica {
    name: &'static str,
    base: String,
    child: Option<Child>,
    /// Its last log lines, for the message of a failed start.
    log: Arc<Mutex<Vec<String>>>,
}

impl Replica {
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The replicas and HAProxy; every process is killed, and the folder removed, on drop.
struct Cluster {
    dir: PathBuf,
    replicas: Vec<Replica>,
    haproxy: Option<Child>,
    proxy: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut h) = self.haproxy.take() {
            let _ = h.kill();
            let _ = h.wait();
        }
        for r in &mut self.replicas {
            r.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Cluster {
    fn replica(&self, name: &str) -> &Replica {
        self.replicas
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no replica {name}"))
    }
    fn replica_mut(&mut self, name: &str) -> &mut Replica {
        self.replicas
            .iter_mut()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no replica {name}"))
    }
    fn haproxy_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("haproxy.log")).unwrap_or_default()
    }
}

fn haproxy_installed() -> bool {
    Command::new("haproxy")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A port nothing listens on now (bound, read, released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Start one replica in `cluster` (so that a failure later still kills it), and wait for the
/// address it logs. Its standard error is read to the end by a thread: the pipe never fills.
fn start_replica(cluster: &mut Cluster, name: &'static str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_understudy"))
        .args(["serve", "--host", "127.0.0.1", "--port", "0", "--strict"])
        .args(["--seed", SEED])
        .env("RUST_LOG", "info")
        .env_remove("UNDERSTUDY_ADMIN_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the understudy binary starts");
    let stderr = child.stderr.take().expect("piped standard error");
    let log = Arc::new(Mutex::new(Vec::new()));
    cluster.replicas.push(Replica {
        name,
        base: String::new(),
        child: Some(child),
        log: log.clone(),
    });
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(i) = line.find("listening on http://")
                && let Some(tx) = tx.take()
            {
                let rest = &line[i + "listening on http://".len()..];
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
            let mut l = log.lock().expect("log lock");
            if l.len() == 50 {
                l.remove(0);
            }
            l.push(line);
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(60));
    let r = cluster.replica_mut(name);
    match addr {
        Ok(addr) => r.base = format!("http://{addr}"),
        Err(e) => panic!(
            "replica {name} did not say where it listens ({e}):\n{}",
            r.log.lock().expect("log lock").join("\n")
        ),
    }
}

/// HAProxy in front of the replicas: hashing the session header consistently, checking each
/// replica's health endpoint every 200 ms (one failure marks it down), naming the replica that
/// answered in a response header.
fn start_haproxy(cluster: &mut Cluster) {
    let port = free_port();
    let mut servers = String::new();
    for (i, r) in cluster.replicas.iter().enumerate() {
        let addr = r.base.trim_start_matches("http://");
        let _ = writeln!(servers, "    server {} {addr} id {}", r.name, i + 1);
    }
    // A slow answer under a loaded test machine is not a dead replica: `timeout check` lets a
    // check take 2 s, while a stopped replica refuses the connection at once.
    let config = format!(
        "global
    maxconn 256
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout check 2s
frontend cluster
    bind 127.0.0.1:{port}
    default_backend replicas
backend replicas
    balance hdr({SESSION})
    hash-type consistent
    option httpchk GET /__understudy/health
    http-check expect status 200
    http-response set-header {REPLICA} %s
    default-server check inter 200ms fall 1 rise 1
{servers}"
    );
    let cfg = cluster.dir.join("haproxy.cfg");
    std::fs::write(&cfg, config).expect("write haproxy.cfg");
    let log = std::fs::File::create(cluster.dir.join("haproxy.log")).expect("haproxy.log");
    let child = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("haproxy.log"))
        .stderr(log)
        .spawn()
        .expect("haproxy starts");
    cluster.haproxy = Some(child);
    cluster.proxy = format!("http://127.0.0.1:{port}");

    // Ready once every replica has answered through it (requests without the header go round
    // robin, so all three turn up).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = BTreeSet::new();
    while seen.len() < REPLICAS.len() {
        if let Some(Ok(Some(status))) = cluster.haproxy.as_mut().map(Child::try_wait) {
            panic!("haproxy exited ({status}):\n{}", cluster.haproxy_log());
        }
        assert!(
            Instant::now() < deadline,
            "haproxy did not reach every replica in 20 s (reached {seen:?}):\n{}",
            cluster.haproxy_log()
        );
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let r = request("GET", &format!("{}/", cluster.proxy), &[]);
            if r.status == 200
                && let Some(name) = r.header(REPLICA)
            {
                seen.insert(name.to_string());
                continue;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every page of Letta's agent list from `base` (newest first; the next page is
/// `after=<id of the last item>`, an empty page ends it), and the replicas that answered.
fn letta_walk(base: &str) -> (Vec<Value>, Vec<String>) {
    let mut pages = Vec::new();
    let mut answered = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..1000 {
        let url = match &after {
            None => format!("{base}/letta/v1/agents/?limit=5"),
            Some(id) => format!("{base}/letta/v1/agents/?limit=5&after={id}"),
        };
        let r = get(&url);
        assert_eq!(r.status, 200, "{url}: {}", String::from_utf8_lossy(&r.body));
        if let Some(name) = r.header(REPLICA) {
            answered.push(name.to_string());
        }
        let page = r.json();
        let items = page.as_array().expect("Letta's list is an array");
        let Some(last) = items.last() else {
            pages.push(page);
            return (pages, answered);
        };
        after = Some(last["id"].as_str().expect("an agent id").to_string());
        pages.push(page);
    }
    panic!("{base}: the page walk did not end in 1000 pages");
}

/// A request through the proxy in `session`.
fn in_session(cluster: &Cluster, session: &str, method: &str, path: &str, body: &str) -> Resp {
    let url = format!("{}{path}", cluster.proxy);
    let mut headers = vec![(SESSION, session), ("Authorization", TOKEN)];
    if method != "GET" {
        headers.push(("Content-Type", "application/json"));
    }
    request_with_body(method, &url, &headers, body)
}

/// The names of a session's active scenarios, from `GET /__understudy/state`.
fn active(state: &Resp) -> Vec<String> {
    assert_eq!(
        state.status,
        200,
        "state: {}",
        String::from_utf8_lossy(&state.body)
    );
    state.json()["scenarios"]
        .as_array()
        .expect("state.scenarios")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or("").to_string())
        .collect()
}

fn replica_of(r: &Resp) -> String {
    r.header(REPLICA)
        .expect("HAProxy names the replica that answered")
        .to_string()
}

#[test]
fn replicas_behind_haproxy_agree_on_reads_and_keep_each_session_in_one_replica() {
    if !haproxy_installed() {
        assert!(
            std::env::var("UNDERSTUDY_REQUIRE_HAPROXY").as_deref() != Ok("1"),
            "haproxy is not installed, and UNDERSTUDY_REQUIRE_HAPROXY=1 requires it"
        );
        eprintln!(
            "haproxy not installed: skipping the cluster test (apt-get install haproxy to run it)"
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("understudy-cluster-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut cluster = Cluster {
        dir,
        replicas: Vec::new(),
        haproxy: None,
        proxy: String::new(),
    };
    for name in REPLICAS {
        start_replica(&mut cluster, name);
    }
    start_haproxy(&mut cluster);

    // (a) Reads agree without shared state: a page walk whose pages come from all three
    // replicas (round robin, no session header) is the walk of one replica, page for page.
    let (direct, _) = letta_walk(&cluster.replica("r1").base);
    let (proxied, answered) = letta_walk(&cluster.proxy);
    let by: BTreeSet<&str> = answered.iter().map(String::as_str).collect();
    assert_eq!(
        by,
        BTreeSet::from(REPLICAS),
        "the walk's pages came from {answered:?}"
    );
    assert!(direct.len() > 3, "a walk of several pages");
    assert_eq!(
        proxied, direct,
        "the round-robin walk differs from one replica's"
    );
    let ids: Vec<&str> = direct
        .iter()
        .flat_map(|p| p.as_array().into_iter().flatten())
        .filter_map(|a| a["id"].as_str())
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "every agent once");

    // Sessions: s-1, s-2, ... until there are 12 and every replica holds at least two (the
    // hash decides; `GET /__understudy/state` through the proxy says where each goes without
    // creating it).
    let mut home: BTreeMap<String, String> = BTreeMap::new();
    for i in 1..=200 {
        let per = |r: &str| home.values().filter(|h| h.as_str() == r).count();
        if home.len() >= 12 && REPLICAS.iter().all(|&r| per(r) >= 2) {
            break;
        }
        let sid = format!("s-{i}");
        let r = in_session(&cluster, &sid, "GET", "/__understudy/state", "");
        assert_eq!(r.status, 200);
        let to = replica_of(&r);
        if home.len() < 12 || per(to.as_str()) < 2 {
            home.insert(sid, to);
        }
    }
    for r in REPLICAS {
        assert!(
            home.values().filter(|h| h.as_str() == r).count() >= 2,
            "no two of 200 session ids hash to {r}: {home:?}"
        );
    }

    // (b) Each session starts the scenario and creates a Letta agent, all through the proxy.
    let start = format!("/__understudy/scenarios/{SCENARIO}/start");
    let mut agent: BTreeMap<String, String> = BTreeMap::new();
    for (sid, to) in &home {
        let r = in_session(&cluster, sid, "POST", &start, "{}");
        assert_eq!(r.status, 200, "{sid}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(&replica_of(&r), to, "{sid} moved");
        let body =
            format!(r#"{{"name": "cluster-{sid}", "description": "made through the proxy"}}"#);
        let r = in_session(&cluster, sid, "POST", "/letta/v1/agents/", &body);
        assert_eq!(r.status, 200, "{sid}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(&replica_of(&r), to, "{sid} moved");
        let id = r.json()["id"]
            .as_str()
            .expect("the new agent's id")
            .to_string();
        agent.insert(sid.clone(), id);
    }
    // One session, read 20 times through the proxy: its agent and its scenario every time.
    let sid = "s-1";
    let owner = home[sid].clone();
    for _ in 0..20 {
        let r = in_session(
            &cluster,
            sid,
            "GET",
            &format!("/letta/v1/agents/{}", agent[sid]),
            "",
        );
        assert_eq!(
            r.status,
            200,
            "{sid}'s agent: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.json()["name"], format!("cluster-{sid}"));
        assert_eq!(replica_of(&r), owner);
        let r = in_session(&cluster, sid, "GET", "/__understudy/state", "");
        assert_eq!(active(&r), [SCENARIO], "{sid} through the proxy");
        assert_eq!(r.json()["changes"]["letta"]["created"], 1);
    }

    // (c) Each session exists in exactly one replica, the one the proxy sends it to: asked
    // directly, the others show it as never used.
    for (sid, to) in &home {
        let holders: Vec<&str> = cluster
            .replicas
            .iter()
            .filter(|r| {
                let url = format!("{}/__understudy/state", r.base);
                !active(&request("GET", &url, &[(SESSION, sid.as_str())])).is_empty()
            })
            .map(|r| r.name)
            .collect();
        assert_eq!(holders, [to.as_str()], "{sid} is held by {holders:?}");
    }

    // Kill s-1's replica; wait (bounded) until the proxy's health check has noticed and s-1
    // is answered by another replica.
    cluster.replica_mut(&owner).kill();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = in_session(&cluster, sid, "GET", "/__understudy/state", "");
        if r.status == 200 && replica_of(&r) != owner {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "10 s after {owner} died the proxy still sends {sid} to it (last: {}):\n{}",
            r.status,
            cluster.haproxy_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Only the dead replica's sessions moved, and they start afresh: no scenario, no agent.
    // Every other session is where it was, with its scenario and its agent.
    for (sid, was) in &home {
        let state = in_session(&cluster, sid, "GET", "/__understudy/state", "");
        let now = replica_of(&state);
        let detail = format!("/letta/v1/agents/{}", agent[sid]);
        let found = in_session(&cluster, sid, "GET", &detail, "").status;
        if *was == owner {
            assert_ne!(now, owner, "{sid} still goes to the dead replica");
            assert!(
                active(&state).is_empty(),
                "{sid} moved but kept its scenario"
            );
            assert_eq!(found, 404, "{sid} moved but kept its agent");
        } else {
            assert_eq!(&now, was, "{sid} moved though its replica lives");
            assert_eq!(active(&state), [SCENARIO], "{sid} lost its scenario");
            assert_eq!(found, 200, "{sid} lost its agent");
        }
    }
}
