//! `protobuf::decode` against bodies captured from real kubectl `create`
//! commands (see tests/fixtures/protobuf/README.md): each must decode to
//! exactly the JSON kubectl prints for the same command.

use knet_api::protobuf::decode;
use serde_json::Value;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/protobuf")
}

fn load(name: &str) -> (Vec<u8>, Value) {
    let dir = fixtures();
    let pb = std::fs::read(dir.join(format!("{name}.pb"))).expect("fixture .pb");
    let json = std::fs::read_to_string(dir.join(format!("{name}.json"))).expect("fixture .json");
    (
        pb,
        serde_json::from_str(&json).expect("fixture json parses"),
    )
}

fn check(name: &str) {
    let (pb, want) = load(name);
    let got = decode(&pb).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        got,
        want,
        "{name}:\n got  {}\n want {}",
        serde_json::to_string_pretty(&got).unwrap(),
        serde_json::to_string_pretty(&want).unwrap()
    );
}

#[test]
fn every_captured_fixture_decodes_to_kubectls_json() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "pb").then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    assert!(names.len() >= 20, "fixtures missing: {names:?}");
    let failures: Vec<String> = names
        .iter()
        .filter_map(|n| {
            std::panic::catch_unwind(|| check(n))
                .err()
                .map(|_| n.clone())
        })
        .collect();
    assert!(
        failures.is_empty(),
        "fixtures that did not match: {failures:?}"
    );
}

#[test]
fn deployment_has_the_fields_the_server_needs() {
    let (pb, _) = load("deployment");
    let d = decode(&pb).unwrap();
    assert_eq!(d["apiVersion"], "apps/v1");
    assert_eq!(d["kind"], "Deployment");
    assert_eq!(d["metadata"]["name"], "nginx");
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "nginx");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.19"
    );
    assert!(d["metadata"].get("creationTimestamp").is_none());
    assert!(
        d["metadata"].get("namespace").is_none(),
        "namespace comes from the path"
    );
}

#[test]
fn service_ports_and_int_or_string() {
    let (pb, _) = load("svc_nodeport");
    let s = decode(&pb).unwrap();
    let p = &s["spec"]["ports"][0];
    assert_eq!(p["port"], 5678);
    assert_eq!(p["targetPort"], 8080);
    assert_eq!(p["nodePort"], 30080);
    assert_eq!(p["protocol"], "TCP");
    assert_eq!(s["spec"]["type"], "NodePort");
}

#[test]
fn secret_data_is_base64_and_quota_quantities_are_strings() {
    let (pb, _) = load("secret");
    assert_eq!(decode(&pb).unwrap()["data"]["key1"], "c3VwZXJzZWNyZXQ=");
    let (pb, _) = load("quota");
    assert_eq!(decode(&pb).unwrap()["spec"]["hard"]["memory"], "1G");
}
