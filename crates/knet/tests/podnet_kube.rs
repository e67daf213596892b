//! `knet podnet` against the real `knet api` through kube-rs: two node
//! namespaces, Nodes created with kubectl, agents publish their VTEP MAC and
//! public IP as annotations, learn each other's from the watch, and route
//! pod traffic over VXLAN; deleting a Node removes its entries; the VTEP MAC
//! survives an agent restart.

#[path = "cni_support/helpers.rs"]
mod helpers;
#[path = "api_support/server.rs"]
mod server;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use helpers::{cni, require_root, underlay_with_nodes, uniq};
use knet_podnet::netns::NamedNetns;
use serde_json::Value;

use knet_testing::ChildGuard as AgentProc;

fn start_agent(
    kubeconfig: &std::path::Path,
    node: &str,
    netns: &str,
    state: &std::path::Path,
    log: &std::path::Path,
) -> AgentProc {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    AgentProc(
        Command::new(env!("CARGO_BIN_EXE_knet"))
            .args([
                "podnet",
                "--backend",
                "vxlan",
                "--resync-ms",
                "200",
                "--node-name",
                node,
                "--netns",
                netns,
            ])
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--state-dir")
            .arg(state)
            .env("KNET_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap(),
    )
}

fn kubectl(kubeconfig: &std::path::Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool, log: &std::path::Path) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(secs) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "timed out: {what}\nagent log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn vtep_mac(node: &str) -> String {
    let v: Value =
        serde_json::from_str(&ip(&["-j", "-n", node, "link", "show", "flannel.1"])).unwrap();
    v[0]["address"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_follow_nodes_from_knet_api() {
    if !require_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let api = server::ApiProc::start(dir.path());
    let kc = api.kubeconfig.clone();
    let log = dir.path().join("agents.log");

    let (_underlay, nodes) = underlay_with_nodes("192.168.60", 2).await;
    let mut pods = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let pod = NamedNetns::create(&uniq("p")).unwrap();
        let conf = format!(
            r#"{{"cniVersion":"1.1.0","name":"kntk","type":"knet","isDefaultGateway":true,"mtu":1450,
                "podCIDR":"10.244.{i}.0/24","clusterCIDR":"10.244.0.0/16","dataDir":"{}"}}"#,
            dir.path().join(format!("ipam{i}")).display()
        );
        let netns = pod.path().to_str().unwrap().to_string();
        let env = [
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "k1"),
            ("CNI_NETNS", netns.as_str()),
            ("CNI_IFNAME", "eth0"),
        ];
        let (code, res) = cni(node.name(), &env, &conf);
        assert_eq!(code, 0, "{res}");
        pods.push(pod);
    }
    let manifest = "apiVersion: v1\nkind: Node\nmetadata:\n  name: kn0\nspec:\n  podCIDR: 10.244.0.0/24\n---\n\
                    apiVersion: v1\nkind: Node\nmetadata:\n  name: kn1\nspec:\n  podCIDR: 10.244.1.0/24\n";
    kubectl(&kc, &["apply", "-f", "-"], Some(manifest));

    let state0 = dir.path().join("state0");
    let mut a0 = start_agent(&kc, "kn0", nodes[0].name(), &state0, &log);
    let _a1 = start_agent(
        &kc,
        "kn1",
        nodes[1].name(),
        &dir.path().join("state1"),
        &log,
    );
    let n0 = nodes[0].name().to_string();
    let n1 = nodes[1].name().to_string();
    wait_for(
        "both nodes route to each other's pods over flannel.1",
        20,
        || {
            ip(&["-n", &n0, "route"]).contains("10.244.1.0/24 via 10.244.1.0 dev flannel.1")
                && ip(&["-n", &n1, "route"]).contains("10.244.0.0/24 via 10.244.0.0 dev flannel.1")
        },
        &log,
    );
    let ping = |from: &str, to: &str| {
        Command::new("ip")
            .args(["netns", "exec", from, "ping", "-c1", "-W2", to])
            .status()
            .unwrap()
            .success()
    };
    assert!(
        ping(pods[0].name(), "10.244.1.2"),
        "pod 0 -> pod 1 across nodes"
    );
    assert!(
        ping(pods[1].name(), "10.244.0.2"),
        "pod 1 -> pod 0 across nodes"
    );

    // The annotations a peer needs are on the Node, and match the kernel.
    let node1: Value =
        serde_json::from_str(&kubectl(&kc, &["get", "node", "kn1", "-o", "json"], None)).unwrap();
    let ann = &node1["metadata"]["annotations"];
    assert_eq!(ann["flannel.alpha.coreos.com/backend-type"], "vxlan");
    assert_eq!(ann["flannel.alpha.coreos.com/public-ip"], "192.168.60.2");
    let data: Value = serde_json::from_str(
        ann["flannel.alpha.coreos.com/backend-data"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(data["VtepMAC"], vtep_mac(nodes[1].name()).as_str());
    assert_eq!(data["VNI"], 1);

    // The VTEP MAC survives an agent restart even if the device is gone.
    let mac0 = vtep_mac(&n0);
    drop(a0);
    assert!(
        Command::new("ip")
            .args(["-n", &n0, "link", "del", "flannel.1"])
            .status()
            .unwrap()
            .success()
    );
    a0 = start_agent(&kc, "kn0", &n0, &state0, &log);
    wait_for(
        "VTEP recreated",
        20,
        || ip(&["-n", &n0, "link"]).contains("flannel.1"),
        &log,
    );
    assert_eq!(vtep_mac(&n0), mac0);
    wait_for(
        "route back after restart",
        20,
        || ip(&["-n", &n0, "route"]).contains("10.244.1.0/24 via 10.244.1.0 dev flannel.1"),
        &log,
    );

    // Deleting a Node removes its route, neighbour and FDB entry.
    kubectl(&kc, &["delete", "node", "kn1"], None);
    wait_for(
        "deleted node's entries gone",
        20,
        || {
            !ip(&["-n", &n0, "route"]).contains("10.244.1.0/24")
                && !ip(&["-n", &n0, "neigh", "show", "dev", "flannel.1"]).contains("10.244.1.0")
        },
        &log,
    );
    drop(a0);
}
