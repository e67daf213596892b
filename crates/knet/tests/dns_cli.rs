//! `knet dns` as a user runs it: the real binary, answering real `dig`
//! queries, from a file of objects and from `knet api` through kube-rs
//! watches; `--help`; Corefile errors.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KNET: &str = env!("CARGO_BIN_EXE_knet");

use knet_testing::ChildGuard as Proc;

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../knet-dns/tests/fixtures/cluster.yaml")
}

fn free_port() -> u16 {
    for _ in 0..50 {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

/// `dig +short`-style answer data, plus the status line.
fn dig(port: u16, args: &[&str]) -> (String, Vec<String>) {
    let out = Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+time=1", "+tries=1"])
        .args(args)
        .output()
        .expect("dig must be installed");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let status = text
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("")
        .to_string();
    let mut data = Vec::new();
    let mut in_answer = false;
    for l in text.lines() {
        if l.starts_with(";; ANSWER SECTION") {
            in_answer = true;
            continue;
        }
        if l.trim().is_empty() {
            in_answer = false;
        }
        if in_answer && !l.starts_with(';') {
            data.push(l.split_whitespace().last().unwrap_or("").to_string());
        }
    }
    data.sort();
    (status, data)
}

/// Waits until `dig` gives `want` for `name`; returns how long it took.
fn wait_for(port: u16, name: &str, want: &[&str], limit: Duration) -> Duration {
    let start = Instant::now();
    let mut last = (String::new(), Vec::new());
    while start.elapsed() < limit {
        last = dig(port, &[name]);
        if last.1 == want {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{name}: wanted {want:?}, last answer {last:?}");
}

fn start_dns(extra: &[&str]) -> (Proc, u16) {
    let port = free_port();
    let child = Command::new(KNET)
        .args(["dns", "--listen", &format!("127.0.0.1:{port}")])
        .args([
            "--health",
            "off",
            "--ready",
            "off",
            "--metrics",
            "off",
            "--no-forward",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn knet dns");
    (Proc(child), port)
}

#[test]
fn help_explains_the_flags() {
    let out = Command::new(KNET).args(["dns", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--objects",
        "--kubeconfig",
        "--listen",
        "--upstream",
        "--corefile",
        "--pods",
        "--ttl",
        "--zone",
        "--stub",
        "--cache",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[test]
fn serves_an_objects_file_and_reloads_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("objects.yaml");
    std::fs::copy(fixture(), &file).unwrap();
    let (_p, port) = start_dns(&["--objects", file.to_str().unwrap()]);
    wait_for(
        port,
        "nginx.default.svc.cluster.local",
        &["10.102.97.154"],
        Duration::from_secs(10),
    );
    let (_, d) = dig(port, &["my-nginx-svc.default.svc.cluster.local"]);
    assert_eq!(d, vec!["10.36.0.1", "10.44.0.1", "10.47.0.1"]);
    // Names outside the zone are refused without a forwarder.
    assert_eq!(dig(port, &["example.com"]).0, "REFUSED");
    // Add a Service to the file: the server picks it up.
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("---\napiVersion: v1\nkind: Service\nmetadata: {name: added, namespace: default}\nspec: {clusterIP: 10.96.9.9}\n");
    std::fs::write(&file, text).unwrap();
    wait_for(
        port,
        "added.default.svc.cluster.local",
        &["10.96.9.9"],
        Duration::from_secs(5),
    );
}

#[test]
fn corefile_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let cf = dir.path().join("Corefile");
    std::fs::write(&cf, ".:53 {\n    errors\n    rewrite name foo bar\n}\n").unwrap();
    let out = Command::new(KNET)
        .args([
            "dns",
            "--corefile",
            cf.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3") && err.contains("rewrite"), "{err}");
}

/// Starts `knet api` and returns it with its kubeconfig path.
fn start_api(dir: &Path) -> (Proc, std::path::PathBuf) {
    let mut child = Command::new(KNET)
        .args([
            "api",
            "--data-dir",
            dir.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn knet api");
    let stdout = child.stdout.take().unwrap();
    let proc = Proc(child);
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(p) = line.strip_prefix("kubeconfig written to ") {
            return (proc, p.trim().into());
        }
    }
    panic!("knet api did not print its kubeconfig");
}

#[test]
fn follows_the_api_server_through_watches() {
    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use kube::api::{Api, DeleteParams, PostParams};

    let dir = tempfile::tempdir().unwrap();
    let (_api, kubeconfig) = start_api(dir.path());
    let (_dns, port) = start_dns(&["--kubeconfig", kubeconfig.to_str().unwrap()]);
    // Synced (empty cluster): the zone apex answers.
    let start = Instant::now();
    while dig(port, &["cluster.local", "SOA"]).0 != "NOERROR" {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "knet dns never synced with knet api"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(async {
        let kc = kube::config::Kubeconfig::read_from(&kubeconfig).unwrap();
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(cfg).unwrap()
    });
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let slices: Api<EndpointSlice> = Api::namespaced(client, "default");
    let svc: Service = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"clusterIP": "10.96.44.44", "ports": [{"name": "http", "port": 80}]}
    }))
    .unwrap();
    rt.block_on(svcs.create(&PostParams::default(), &svc))
        .unwrap();
    let took = wait_for(
        port,
        "web.default.svc.cluster.local",
        &["10.96.44.44"],
        Duration::from_secs(5),
    );
    eprintln!("Service create -> first correct answer: {took:?}");
    let headless: Service = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}
    }))
    .unwrap();
    rt.block_on(svcs.create(&PostParams::default(), &headless))
        .unwrap();
    let slice: EndpointSlice = serde_json::from_value(serde_json::json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "db-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "db"}},
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": ["10.244.1.10"], "hostname": "db-0", "conditions": {"ready": true}},
            {"addresses": ["10.244.2.10"], "hostname": "db-1", "conditions": {"ready": true}}
        ],
        "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]
    }))
    .unwrap();
    rt.block_on(slices.create(&PostParams::default(), &slice))
        .unwrap();
    wait_for(
        port,
        "db.default.svc.cluster.local",
        &["10.244.1.10", "10.244.2.10"],
        Duration::from_secs(5),
    );
    wait_for(
        port,
        "db-1.db.default.svc.cluster.local",
        &["10.244.2.10"],
        Duration::from_secs(5),
    );
    // Deleting the Service removes its name.
    rt.block_on(svcs.delete("web", &DeleteParams::default()))
        .unwrap();
    let start = Instant::now();
    while dig(port, &["web.default.svc.cluster.local"]).0 != "NXDOMAIN" {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "deleted Service still answers"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn answers_from_a_nonexistent_api_are_servfail_until_synced() {
    // A kubeconfig pointing at a closed port: never synced, so SERVFAIL.
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    let closed: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: 'https://{closed}', insecure-skip-tls-verify: true}}\nusers:\n- name: u\n  user: {{token: x}}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n"
        ),
    )
    .unwrap();
    let (_dns, port) = start_dns(&["--kubeconfig", kc.to_str().unwrap()]);
    let start = Instant::now();
    loop {
        let (status, _) = dig(port, &["nginx.default.svc.cluster.local"]);
        if status == "SERVFAIL" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "got {status:?}, wanted SERVFAIL"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
