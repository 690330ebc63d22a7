//! The binary: start-up, flags and load errors.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_understudy"))
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
