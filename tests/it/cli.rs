//! The binary: start-up, flags and load errors.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_understudy"))
}

/// Start a server command (logging at info), wait for its "listening on" line; returns the
/// child, its address and the rest of its log lines.
pub(crate) fn spawn_listening(
    mut cmd: Command,
) -> (
    std::process::Child,
    String,
    impl Iterator<Item = std::io::Result<String>>,
) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("server output").unwrap();
        if let Some(i) = line.find("listening on http://") {
            let rest = &line[i + "listening on http://".len()..];
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    (child, addr, lines)
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("understudy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_broken_spec_stops_start_up_naming_file_and_location() {
    let d = temp_dir("broken");
    let good = include_str!("../../specs/vectara.yaml");
    std::fs::write(d.join("vectara.yaml"), good).unwrap();
    // An extension typo: the server must refuse to start, not serve half the APIs.
    let bad = good.replacen("key: id", "key: identifier", 1);
    std::fs::write(d.join("zz-broken.yaml"), bad).unwrap();
    let out = bin()
        .args(["serve", "--port", "0", "--specs"])
        .arg(&d)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("zz-broken.yaml:"), "{err}");
    assert!(err.contains("x-understudy.collections.agents.key"), "{err}");
    // The line of the offending key is given.
    let line = good
        .lines()
        .position(|l| l.trim() == "key: id")
        .map(|i| i + 1)
        .unwrap();
    assert!(err.contains(&format!("zz-broken.yaml:{line}: at")), "{err}");
    assert!(err.contains("identifier"), "{err}");

    std::fs::write(d.join("zz-broken.yaml"), "openapi: 3.0.0\ninfo: [oops\n").unwrap();
    let out = bin().args(["apis", "--specs"]).arg(&d).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("zz-broken.yaml") && err.contains("line"),
        "{err}"
    );
}

#[test]
fn apis_lists_base_paths() {
    let out = bin().arg("apis").output().unwrap();
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    for want in ["/pipecat-cloud/v1", "/vectara", "/letta", "/everruns"] {
        assert!(s.contains(want), "{s}");
    }
}

#[test]
fn serve_binds_loopback_and_answers() {
    let mut child = bin()
        .args(["serve", "--port", "0", "--agents", "5"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut addr = None;
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if let Some(i) = line.find("listening on http://") {
            let rest = &line[i + "listening on http://".len()..];
            addr = Some(rest.split_whitespace().next().unwrap().to_string());
            break;
        }
    }
    let addr = addr.expect("server printed its address");
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let r = crate::support::get(&format!("http://{addr}/everruns/v1/agents"));
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(r.status, 200);
    assert!(r.json()["data"].as_array().unwrap().len() <= 5);
}

#[test]
fn unknown_api_is_a_clear_error() {
    let out = bin()
        .args(["serve", "--port", "0", "--api", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--api nope") && err.contains("letta"), "{err}");
}

#[test]
fn lint_is_clean_on_the_shipped_files_and_names_what_is_broken() {
    let out = bin().arg("lint").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("clean"));
    let broken =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/broken-specs");
    let out = bin()
        .args(["lint", "--specs"])
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "broken-specs/vectara.yaml:112: at x-understudy.collections.agents.fields.enabled"
        ),
        "{err}"
    );
}

#[test]
fn binding_beyond_loopback_needs_an_admin_token() {
    let out = bin()
        .args(["serve", "--host", "0.0.0.0", "--port", "0"])
        .env_remove("UNDERSTUDY_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--admin-token"), "{err}");
}

#[test]
fn sigterm_lets_in_flight_requests_finish_and_exits_zero() {
    use std::io::{Read, Write};
    let d = temp_dir("shutdown");
    std::fs::write(
        d.join("slow.yaml"),
        "api: everruns\nsteps:\n  - respond:\n      - {match: {method: GET}, delay: 800ms}\n",
    )
    .unwrap();
    let mut cmd = bin();
    cmd.args(["serve", "--port", "0", "--scenario", "slow", "--scenarios"])
        .arg(&d);
    let (mut child, addr, lines) = spawn_listening(cmd);
    std::thread::spawn(move || for _ in lines {});
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    c.write_all(
        b"GET /everruns/v1/agents HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer t\r\n\r\n",
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut got = String::new();
    c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let _ = c.read_to_string(&mut got);
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    // No new connection is accepted once it stopped.
    assert!(std::net::TcpStream::connect(&addr).is_err());
}

#[test]
fn at_the_open_file_limit_accepts_back_off_instead_of_spinning() {
    // A hard limit of 64 open files: the server cannot raise it, and 80 held connections
    // exhaust it.
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "ulimit -n 64 && exec '{}' serve --port 0",
        env!("CARGO_BIN_EXE_understudy")
    ));
    let (mut child, addr, lines) = spawn_listening(cmd);
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            sink.lock().unwrap().push(l);
        }
    });
    let held: Vec<std::net::TcpStream> = (0..80)
        .filter_map(|_| std::net::TcpStream::connect(&addr).ok())
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let failures = log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("accept failed"))
        .count();
    // Once per burst, not once per try (a spinning loop logs thousands of lines a second).
    assert!(
        (1..=3).contains(&failures),
        "{failures} accept-failure lines"
    );
    drop(held);
    // Once clients leave, the server answers again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let answered = loop {
        let r = crate::support::request("GET", &format!("http://{addr}/"), &[]);
        if r.status == 200 || std::time::Instant::now() > deadline {
            break r.status;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(answered, 200);
}

#[test]
fn serve_takes_a_spec_file_and_serves_it_at_the_root() {
    // A plain OpenAPI 3.1 file, no folder, no x-understudy, `--count` for the collection size.
    let mut cmd = bin();
    cmd.args(["serve", "--port", "0", "--count", "12"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/openapi31/library.yaml"
        ));
    let (mut child, addr, _) = spawn_listening(cmd);
    let auth = [("Authorization", "Bearer My API Key")];
    let page = crate::support::request("GET", &format!("http://{addr}/books?limit=50"), &auth);
    let under_name = crate::support::request(
        "GET",
        &format!("http://{addr}/library/v2/books?limit=50"),
        &auth,
    );
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(page.status, 200);
    assert_eq!(
        page.json()["data"].as_array().unwrap().len(),
        12,
        "--count sets the size"
    );
    assert_eq!(page.body, under_name.body);
}

#[test]
fn lint_takes_spec_files_and_checks_only_their_scenarios() {
    let out = bin()
        .args(["lint"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/openapi31/library.yaml"
        ))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    // The embedded scenarios are for other APIs: none is checked against this one.
    assert!(!text.contains("unknown API"), "{text}");
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 specs and 0 scenarios: clean"), "{text}");
}

#[test]
fn an_overlay_given_on_the_command_line_applies_to_the_specs_given() {
    let d = temp_dir("overlay-flag");
    let overlay = d.join("base.yaml");
    std::fs::write(
        &overlay,
        "overlay: 1.0.0\ninfo: {title: t, version: '1'}\nactions:\n  - target: '$'\n    update: {x-understudy: {base-path: /api/v9}}\n",
    )
    .unwrap();
    let spec = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/openapi31/library.yaml"
    );
    let out = bin()
        .args(["apis", "--specs", spec, "--overlay"])
        .arg(&overlay)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.trim(), "library\t/library/api/v9");
    // Without specs given, an overlay has nothing to apply to: a clear error.
    let out = bin()
        .args(["apis", "--overlay"])
        .arg(&overlay)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--overlay applies to specs"));
}

#[test]
fn a_settings_file_and_environment_variables_fill_in_flags() {
    let d = temp_dir("settings");
    std::fs::write(
        d.join("understudy.toml"),
        "port = 0\nlog_format = \"json\"\napi = \"vectara\"\n",
    )
    .unwrap();
    // From the file: JSON log lines, one API.
    let mut cmd = bin();
    cmd.current_dir(&d).arg("serve");
    let (mut child, addr, _lines) = spawn_listening(cmd);
    let r = crate::support::get(&format!("http://{addr}/"));
    let _ = child.kill();
    let _ = child.wait();
    let apis = r.json()["apis"].as_array().unwrap().len();
    assert_eq!(apis, 1, "--api from the file");
    // The environment wins over the file, the command line over both.
    let out = bin()
        .current_dir(&d)
        .env("UNDERSTUDY_API", "nope")
        .args(["serve"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--api nope"));
    let mut cmd = bin();
    cmd.current_dir(&d)
        .env("UNDERSTUDY_API", "nope")
        .args(["serve", "--api", "letta"]);
    let (mut child, addr, _lines) = spawn_listening(cmd);
    let r = crate::support::get(&format!("http://{addr}/"));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(r.json()["apis"][0]["name"], "letta");
    // The documented example file is one the server starts with.
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/docs/understudy.example.toml"),
        d.join("understudy.toml"),
    )
    .unwrap();
    let mut cmd = bin();
    cmd.current_dir(&d).args(["serve", "--port", "0"]);
    let (mut child, addr, _lines) = spawn_listening(cmd);
    let r = crate::support::get(&format!("http://{addr}/__understudy/health"));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(r.status, 200);
    // A key that is no flag is named.
    std::fs::write(d.join("bad.toml"), "prot = 4010\n").unwrap();
    let out = bin()
        .current_dir(&d)
        .args(["--config", "bad.toml", "serve"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml: 'prot' is not a flag"), "{err}");
}

#[test]
fn generate_writes_the_dataset_the_server_serves() {
    let run = |args: &[&str]| {
        let out = bin().arg("generate").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let a = run(&["--api", "vectara", "--count", "3", "--format", "ndjson"]);
    let lines: Vec<serde_json::Value> = a
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        a,
        run(&["--api", "vectara", "--count", "3", "--format", "ndjson"])
    );
    assert_ne!(
        a,
        run(&[
            "--api", "vectara", "--count", "3", "--format", "ndjson", "--seed", "7"
        ])
    );
    // The same entity the server answers for that key.
    let key = lines[1]["key"].as_str().unwrap().to_string();
    let mut cmd = bin();
    cmd.args(["serve", "--port", "0", "--count", "3"]);
    let (mut child, addr, _lines) = spawn_listening(cmd);
    let r = crate::support::get(&format!("http://{addr}/vectara/v2/agents/{key}"));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["name"], lines[1]["name"]);
    let json: serde_json::Value =
        serde_json::from_str(&run(&["--api", "vectara", "--count", "2"])).unwrap();
    assert_eq!(json.as_array().map(Vec::len), Some(2));
    let out = bin().args(["generate", "--api", "nope"]).output().unwrap();
    assert!(!out.status.success());
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = bin().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("understudy"), "{shell}");
        assert!(text.contains("journal-size"), "{shell}: serve's flags");
    }
}

/// Poll `f` every 50 ms until it holds, for at most 15 s.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while std::time::Instant::now() < until {
        if f() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("timed out waiting for: {what}");
}

#[test]
fn watch_reloads_changed_specs_whole_and_keeps_serving_through_a_broken_one() {
    let d = temp_dir("watch");
    let specs = d.join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    let vectara = include_str!("../../specs/vectara.yaml");
    std::fs::write(specs.join("vectara.yaml"), vectara).unwrap();
    let mut cmd = bin();
    cmd.args(["serve", "--port", "0", "--watch", "--specs"])
        .arg(&specs);
    let (mut child, addr, lines) = spawn_listening(cmd);
    // Keep reading the log so that the server never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    let base = format!("http://{addr}");
    let get = |p: &str| crate::support::get(&format!("{base}{p}"));
    assert_eq!(get("/vectara/v2/agents").status, 200);
    assert_eq!(get("/copy/v2/agents").status, 404);

    // Clients keep calling through every reload; none may fail.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hammer = {
        let (stop, base) = (stop.clone(), base.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = crate::support::get(&format!("{base}/vectara/v2/agents?limit=3"));
                assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                n += 1;
            }
            n
        })
    };

    // A new spec file: a new API, mounted at once.
    std::fs::write(specs.join("copy.yaml"), vectara).unwrap();
    eventually("the new API is served", || {
        get("/copy/v2/agents").status == 200
    });
    let health = get("/__understudy/health").json();
    assert_eq!(health["reloads"]["done"], 1, "{health}");
    // Reading the files to rebuild is no change: one reload, not a loop of them.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let health = get("/__understudy/health").json();
    assert_eq!(health["reloads"]["done"], 1, "{health}");
    assert!(
        health["journal"]["entries"].as_u64().unwrap() > 2,
        "the journal is kept"
    );

    // A broken spec: the reload fails, the previous configuration keeps serving, and the
    // health endpoint says why.
    std::fs::write(
        specs.join("copy.yaml"),
        "openapi: 3.0.3\npaths: [not, a, map]\n",
    )
    .unwrap();
    eventually("the failed reload is reported", || {
        get("/__understudy/health").json()["reloads"]["failed"] == 1
    });
    let health = get("/__understudy/health").json();
    let why = health["reloads"]["last_error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(why.contains("copy.yaml"), "{why}");
    // The journal says so too, newest event first.
    let events = get("/__understudy/requests?limit=1").json()["journal"]["events"].clone();
    assert_eq!(events[0]["kind"], "reload");
    assert_eq!(events[0]["ok"], false);
    assert!(events[0]["message"].as_str().unwrap().contains("copy.yaml"));
    assert_eq!(events[1]["ok"], true);
    assert_eq!(
        get("/copy/v2/agents").status,
        200,
        "still the previous configuration"
    );

    // Mended: served again, the error cleared.
    std::fs::remove_file(specs.join("copy.yaml")).unwrap();
    eventually("the removed API is gone", || {
        get("/copy/v2/agents").status == 404
    });
    let health = get("/__understudy/health").json();
    assert_eq!(health["reloads"]["last_error"], serde_json::Value::Null);

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let served = hammer.join().expect("no request failed during the reloads");
    assert!(served > 0);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn watch_and_state_are_refused_together() {
    let d = temp_dir("watch-state");
    let out = bin()
        .args(["serve", "--port", "0", "--watch", "--state"])
        .arg(d.join("state.redb"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--watch and --state"));
}

#[test]
fn the_journal_flags_bound_what_it_keeps() {
    use crate::support::{get, request};
    let mut cmd = bin();
    cmd.args([
        "serve",
        "--port",
        "0",
        "--journal-body",
        "1000",
        "--journal-bytes",
        "5000",
    ]);
    let (mut child, addr, lines) = spawn_listening(cmd);
    std::thread::spawn(move || for _ in lines {});
    let base = format!("http://{addr}");
    // Pages larger than the body limit: each kept entry weighs its cut body and more (at
    // least 1,768 bytes), so 5,000 bytes hold at most two of them.
    for limit in 1..=6 {
        let r = request(
            "GET",
            &format!("{base}/letta/v1/agents/?limit={}", limit + 10),
            &[("Authorization", "Bearer t")],
        );
        assert_eq!(r.status, 200);
    }
    let body = get(&format!("{base}/__understudy/requests")).json();
    let kept = body["requests"].as_array().unwrap();
    assert!((1..=2).contains(&kept.len()), "{body}");
    assert_eq!(
        body["journal"]["evicted"].as_u64().unwrap() + kept.len() as u64,
        6
    );
    let response = &kept[0]["response"]["body"];
    assert_eq!(response["truncated"], true);
    // 1,000 bytes, give or take a character cut in the middle (shown as U+FFFD).
    let shown = response["text"].as_str().unwrap().len();
    assert!((997..=1002).contains(&shown), "{shown}");
    assert!(response["size"].as_u64().unwrap() > 1000);
    assert!(body["journal"]["bytes"].as_u64().unwrap() <= 5000, "{body}");
    let _ = child.kill();
    let _ = child.wait();
}
