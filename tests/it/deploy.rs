//! What can be checked here of the container and cluster files (no container engine runs on
//! these machines): the Kubernetes manifests parse and agree with each other and with the
//! server (its command line is one the binary accepts, the probe paths answer on that port,
//! the ConfigMaps' spec and scenario load), and so do the Dockerfile's command line and
//! health check and HAProxy's health check.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every document of every manifest.
fn manifests() -> Vec<Value> {
    let dir = root().join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    let mut docs = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for d in serde_yaml::Deserializer::from_str(&text) {
            let v = Value::deserialize(d).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            if !v.is_null() {
                docs.push(v);
            }
        }
    }
    docs
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// The binary's parser accepts `args` (after `understudy`).
fn accepted(args: &[String]) {
    let argv = std::iter::once("understudy".to_string()).chain(args.iter().cloned());
    if let Err(e) = understudy::settings::command().try_get_matches_from(argv) {
        panic!("understudy {}: {e}", args.join(" "));
    }
}

fn flag<'a>(args: &'a [String], name: &str) -> Vec<&'a str> {
    args.windows(2)
        .filter(|w| w[0] == name)
        .map(|w| w[1].as_str())
        .collect()
}

#[test]
fn the_kubernetes_manifests_agree_with_the_server() {
    let docs = manifests();
    let deployment = of_kind(&docs, "Deployment")[0];
    let pod = &deployment["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let args: Vec<String> = c["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    accepted(&args);
    let port: u16 = flag(&args, "--port")[0].parse().unwrap();
    assert_eq!(c["ports"][0]["containerPort"].as_u64(), Some(port as u64));
    let port_name = c["ports"][0]["name"].as_str().unwrap();
    assert!(
        flag(&args, "--host")[0] != "127.0.0.1",
        "reachable by the Service"
    );
    let env_names: Vec<&str> = c["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        env_names.contains(&"UNDERSTUDY_ADMIN_TOKEN"),
        "bound beyond loopback, the server needs an admin token"
    );
    // A Service's injected UNDERSTUDY_PORT=tcp://... would read as --port.
    assert_eq!(pod["enableServiceLinks"].as_bool(), Some(false));
    // Replicas agree only with one seed and one epoch: both written out.
    assert_eq!(flag(&args, "--seed").len(), 1);
    assert_eq!(flag(&args, "--epoch").len(), 1);

    // The probes' paths answer 200 to a probe's request (by address, no token).
    let s = crate::support::start(understudy::engine::Config {
        admin: understudy::engine::admin::Guard {
            token: Some("t".into()),
            hosts: Vec::new(),
        },
        ..crate::support::default_config()
    });
    for probe in ["livenessProbe", "readinessProbe"] {
        let get = &c[probe]["httpGet"];
        assert_eq!(get["port"].as_str(), Some(port_name), "{probe}");
        let path = get["path"].as_str().unwrap();
        let r = crate::support::request(
            "GET",
            &format!("{}{path}", s.base),
            &[("Host", "10.244.1.7:4010")],
        );
        assert_eq!(r.status, 200, "{probe} {path}");
    }

    // The Service and the Ingress reach that port by its name.
    let service = of_kind(&docs, "Service")[0];
    let sp = &service["spec"]["ports"][0];
    assert!(
        sp["targetPort"].as_str() == Some(port_name)
            || sp["targetPort"].as_u64() == Some(port as u64)
    );
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    let ingress = of_kind(&docs, "Ingress")[0];
    let hash = &ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/upstream-hash-by"];
    assert_eq!(hash.as_str(), Some("$http_x_understudy_session"));
    let ingress_host = ingress["spec"]["rules"][0]["host"].as_str().unwrap();
    assert!(
        flag(&args, "--allowed-host").contains(&ingress_host),
        "the admin API answers to the Ingress's host name"
    );

    // The ConfigMaps mounted as --specs and --scenarios hold a spec and a scenario that load
    // together.
    let dir = std::env::temp_dir().join(format!("understudy-deploy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (volume, flag_name) in [("specs", "--specs"), ("scenarios", "--scenarios")] {
        let mount = c["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|m| m["name"] == volume)
            .unwrap();
        assert_eq!(mount["mountPath"].as_str(), Some(flag(&args, flag_name)[0]));
        let map_name = pod["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["name"] == volume)
            .unwrap()["configMap"]["name"]
            .as_str()
            .unwrap();
        let map = of_kind(&docs, "ConfigMap")
            .into_iter()
            .find(|m| m["metadata"]["name"] == map_name)
            .unwrap_or_else(|| panic!("no ConfigMap {map_name}"));
        let d = dir.join(volume);
        std::fs::create_dir_all(&d).unwrap();
        for (k, v) in map["data"].as_mapping().unwrap() {
            std::fs::write(d.join(k.as_str().unwrap()), v.as_str().unwrap()).unwrap();
        }
    }
    let apis = understudy::spec::load_dir(&dir.join("specs")).unwrap();
    let scenarios = understudy::scenario::load_dir(&dir.join("scenarios")).unwrap();
    assert!(!apis.is_empty() && !scenarios.is_empty());
    let engine = understudy::engine::Engine::new(
        apis,
        &understudy::engine::Config {
            scenarios,
            ..Default::default()
        },
    )
    .unwrap();
    for sc in engine.sessions.scenarios.values() {
        engine.check_scenario(sc).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The JSON array of a Dockerfile instruction (`CMD [...]`).
fn instruction(text: &str, name: &str) -> Vec<String> {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{name} [")))
        .unwrap_or_else(|| panic!("no {name} in the Dockerfile"));
    serde_json::from_str(&line[name.len()..]).unwrap()
}

#[test]
fn the_dockerfile_runs_a_command_line_the_binary_accepts() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert_eq!(instruction(&text, "ENTRYPOINT"), vec!["understudy"]);
    let cmd = instruction(&text, "CMD");
    accepted(&cmd);
    let port = flag(&cmd, "--port")[0];
    assert!(text.contains(&format!("EXPOSE {port}")));
    assert!(text.contains(&format!("/dev/tcp/127.0.0.1/{port}")));
    assert!(text.contains("GET /__understudy/health"));
    assert!(text.contains("USER 10001"), "not root");
    // HAProxy's example checks the same path.
    let haproxy = std::fs::read_to_string(root().join("deploy/haproxy.cfg")).unwrap();
    assert!(haproxy.contains("option httpchk GET /__understudy/health"));
    assert!(haproxy.contains("balance hdr(X-Understudy-Session)"));
    assert!(Path::new(&root().join(".dockerignore")).exists());
}
