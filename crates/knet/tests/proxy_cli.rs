//! `knet proxy` as users run it: `--dry-run`, `services`, and the running
//! proxy (objects file source, netns, /healthz, /metrics) in a namespace lab.

#[path = "../../knet-proxy/tests/netns/lab.rs"]
#[allow(dead_code)]
mod lab;

use knet_testing::stdout_of_success;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lab::{Lab, NODE, ready, slice, svc};
use serde_json::json;

const KNET: &str = env!("CARGO_BIN_EXE_knet");

fn objects_file(dir: &tempfile::TempDir, objects: &[serde_json::Value]) -> std::path::PathBuf {
    let path = dir.path().join("objects.json");
    let tmp = dir.path().join("objects.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_string(&json!({"kind": "List", "items": objects})).unwrap(),
    )
    .unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

fn seed_objects() -> Vec<serde_json::Value> {
    vec![
        svc("nginx", "10.102.97.154", &[("", 80, "TCP")], json!({})),
        slice(
            "nginx",
            &[("", 80, "TCP")],
            &[ready("192.168.76.141", "n"), ready("192.168.76.142", "n")],
        ),
    ]
}

/// Seed 002: the balancer listed like `ipvsadm -Ln`.
#[test]
fn services_lists_virtual_servers_like_ipvsadm() {
    let dir = tempfile::tempdir().unwrap();
    let file = objects_file(&dir, &seed_objects());
    let text = stdout_of_success(
        Command::new(KNET)
            .args(["proxy", "services", "--objects"])
            .arg(&file),
    );
    assert!(text.contains("TCP  10.102.97.154:80"), "{text}");
    assert!(
        text.contains("  -> 192.168.76.141:80") && text.contains("  -> 192.168.76.142:80"),
        "{text}"
    );
}

#[test]
fn dry_run_prints_the_ruleset() {
    let dir = tempfile::tempdir().unwrap();
    let file = objects_file(&dir, &seed_objects());
    let text = stdout_of_success(
        Command::new(KNET)
            .args(["proxy", "--dry-run", "--objects"])
            .arg(&file),
    );
    assert!(text.starts_with("add table ip knet-proxy\n"), "{text}");
    assert!(
        text.contains("add element ip knet-proxy addr-n-tcp-2 { 10.102.97.154 . 80 }"),
        "{text}"
    );
    assert!(
        text.contains("10.102.97.154 . 80 . 1 : 192.168.76.142 . 80"),
        "{text}"
    );
}

#[test]
fn bad_objects_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "kind: Service\nspec: [not, a, spec]\n").unwrap();
    let out = Command::new(KNET)
        .args(["proxy", "--dry-run", "--objects"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml") && err.contains("Service"), "{err}");
}

fn poll(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The running proxy follows its objects file and serves /healthz and /metrics.
#[test]
fn running_proxy_follows_objects_and_serves_health_and_metrics() {
    let Some(mut lab) = Lab::new() else { return };
    let client = lab.pod(1);
    let (a, b) = (lab.pod(2), lab.pod(3));
    lab.backend(&a, "a", &["http:8080"]);
    lab.backend(&b, "b", &["http:8080"]);
    let dir = tempfile::tempdir().unwrap();
    let objs = |ip: &str| {
        vec![
            svc("web", "10.96.0.80", &[("", 80, "TCP")], json!({})),
            slice("web", &[("", 8080, "TCP")], &[ready(ip, NODE)]),
        ]
    };
    let file = objects_file(&dir, &objs(&a.ip));
    let child = Command::new(KNET)
        .args(["proxy", "--objects"])
        .arg(&file)
        .args([
            "--netns",
            &lab.node,
            "--node-name",
            NODE,
            "--cluster-cidr",
            "10.244.0.0/16",
            "--min-sync-period",
            "0.1",
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Kill(child);
    poll("the Service to answer from a", || {
        lab.curl(&client.ns, "10.96.0.80:80")
            .is_ok_and(|b| b.starts_with("a "))
    });
    objects_file(&dir, &objs(&b.ip));
    poll("the endpoint change to b", || {
        lab.curl(&client.ns, "10.96.0.80:80")
            .is_ok_and(|b| b.starts_with("b "))
    });
    let get = |url: &str| {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &lab.node,
                "curl",
                "-s",
                "-w",
                "\n%{http_code}",
                url,
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let health = get("http://127.0.0.1:10256/healthz");
    assert!(
        health.ends_with("\n200") && health.contains("lastUpdated"),
        "{health}"
    );
    let metrics = get("http://127.0.0.1:10249/metrics");
    assert!(
        metrics.contains("kubeproxy_sync_proxy_rules_duration_seconds_count "),
        "{metrics}"
    );
    assert!(
        metrics.contains("kubeproxy_network_programming_duration_seconds_bucket"),
        "{metrics}"
    );
    let syncs: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("kubeproxy_sync_proxy_rules_endpoint_changes_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("endpoint change counter");
    assert!(syncs >= 1.0, "endpoint change not counted: {metrics}");
}
