//! `knet proxy` against a real API server (`knet api`), through kube-rs
//! watchers and a kubeconfig, with objects created by kubectl.

use knet_testing::stdout_of_success;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KNET: &str = env!("CARGO_BIN_EXE_knet");

struct Api {
    child: Child,
    kubeconfig: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_api() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(KNET)
        .args(["api", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let api = Api {
        child,
        kubeconfig,
        _dir: dir,
    };
    let start = Instant::now();
    while !(api.kubeconfig.exists() && kubectl(&api, &["get", "--raw", "/readyz"]).is_ok()) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "knet api did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    api
}

fn kubectl(api: &Api, args: &[&str]) -> Result<String, String> {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&api.kubeconfig)
        .args(args)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

const OBJECTS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: nginx, namespace: default}
spec:
  clusterIP: 10.96.97.154
  ports: [{port: 80, targetPort: 80, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: nginx-abc
  namespace: default
  labels: {kubernetes.io/service-name: nginx}
addressType: IPv4
ports: [{port: 80, protocol: TCP, name: ""}]
endpoints:
- addresses: [192.168.76.141]
  conditions: {ready: true}
- addresses: [192.168.76.142]
  conditions: {ready: false}
"#;

/// Seed 002 against the API: `kubectl apply`, then the balancer as `ipvsadm -Ln` shows it.
#[test]
fn services_listing_from_the_api_server() {
    let api = start_api();
    let file = api._dir.path().join("objs.yaml");
    std::fs::write(&file, OBJECTS).unwrap();
    kubectl(&api, &["apply", "-f", file.to_str().unwrap()]).expect("kubectl apply");
    let text = stdout_of_success(
        Command::new(KNET)
            .args(["proxy", "services", "--kubeconfig"])
            .arg(&api.kubeconfig),
    );
    assert!(text.contains("TCP  10.96.97.154:80"), "{text}");
    assert!(text.contains("  -> 192.168.76.141:80"), "{text}");
    assert!(
        !text.contains("192.168.76.142"),
        "unready endpoint listed: {text}"
    );
    let out = Command::new(KNET)
        .args(["proxy", "--dry-run", "--kubeconfig"])
        .arg(&api.kubeconfig)
        .output()
        .unwrap();
    let rules = String::from_utf8_lossy(&out.stdout);
    assert!(
        rules.contains("add element ip knet-proxy addr-n-tcp-1 { 10.96.97.154 . 80 }"),
        "{rules}"
    );
}
