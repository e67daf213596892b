//! `knet agent` on its own against `knet api` (the kubelet's role outside
//! the lab): it registers its Node, runs a pod bound to it as a network
//! namespace on the node's bridge with the built-in web workload, reports
//! the pod Running and Ready with its IP, answers HTTP from the node, and
//! tears everything down when the pod is deleted.

#[path = "api_support/server.rs"]
mod server;

use knet_podnet::netns::NamedNetns;
use knet_testing::{ChildGuard, eventually, netns_named, require_root, uniq};
use server::{ApiProc, Kubectl};
use std::process::{Command, Stdio};

#[test]
fn agent_runs_a_bound_pod_and_removes_it() {
    if !require_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let api = ApiProc::start(dir.path());
    let k = Kubectl::new(&api, dir.path());
    let node_ns = NamedNetns::create(&uniq("agn")).expect("node netns");
    let node = "agent-node-1";
    // The Node's pod range, as node IPAM would assign it.
    k.file(
        "node.yaml",
        &format!(
            "apiVersion: v1\nkind: Node\nmetadata: {{name: {node}}}\nspec: {{podCIDR: 10.244.7.0/24, podCIDRs: [10.244.7.0/24]}}\n"
        ),
    );
    k.ok(&["create", "-f", "node.yaml"]);
    let pod_prefix = format!("{}-pod-", node_ns.name());
    let log = std::fs::File::create(dir.path().join("agent.log")).unwrap();
    let _agent = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_knet"))
            .args(["agent", "--register", "--node-name", node])
            .args(["--node-ip", "10.250.0.11", "--netns"])
            .arg(node_ns.path())
            .arg("--kubeconfig")
            .arg(&api.kubeconfig)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .args(["--netns-prefix", &pod_prefix])
            .env("KNET_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn knet agent"),
    );
    let agent_log = || std::fs::read_to_string(dir.path().join("agent.log")).unwrap_or_default();

    // Registered like a kubelet: Ready with its InternalIP.
    eventually(30, "Node Ready", || {
        let r = k.run(&[
            "get",
            "node",
            node,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status} {.status.addresses[?(@.type==\"InternalIP\")].address}",
        ]);
        (r.stdout == "True 10.250.0.11").then_some(())
    });

    // The kubelet's heartbeat: a Lease in kube-node-lease owned by the Node.
    let lease = eventually(30, "node Lease", || {
        let r = k.run(&[
            "get",
            "lease",
            "-n",
            "kube-node-lease",
            node,
            "-o",
            "jsonpath={.spec.holderIdentity} {.metadata.ownerReferences[0].kind}",
        ]);
        (r.code == 0 && !r.stdout.is_empty()).then_some(r.stdout)
    });
    assert_eq!(lease, format!("{node} Node"));

    k.file(
        "pod.yaml",
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec:\n  nodeName: {node}\n  containers:\n  - {{name: web, image: nginx:1.19, ports: [{{containerPort: 80}}], readinessProbe: {{httpGet: {{path: /, port: 80}}, periodSeconds: 1}}}}\n"
        ),
    );
    k.ok(&["create", "-f", "pod.yaml"]);
    let ip = eventually(60, "pod Running and Ready", || {
        let r = k.run(&[
            "get",
            "pod",
            "web",
            "-o",
            "jsonpath={.status.phase} {.status.conditions[?(@.type==\"Ready\")].status} {.status.podIP} {.status.hostIP}",
        ]);
        let f: Vec<&str> = r.stdout.split(' ').collect();
        (f.len() == 4 && f[0] == "Running" && f[1] == "True").then(|| {
            assert_eq!(f[3], "10.250.0.11", "hostIP is the node's address");
            f[2].to_string()
        })
    });
    assert!(
        ip.starts_with("10.244.7."),
        "pod IP from the Node's podCIDR: {ip}\n{}",
        agent_log()
    );
    assert_eq!(netns_named(&pod_prefix).len(), 1, "one pod namespace");
    // The kubelet's Events about the container.
    let events = eventually(20, "Started event", || {
        let r = k.run(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=web",
            "-o",
            "jsonpath={range .items[*]}{.reason}:{.source.host}:{.involvedObject.fieldPath} {end}",
        ]);
        r.stdout.contains("Started").then_some(r.stdout)
    });
    assert!(
        events.contains(&format!("Started:{node}:spec.containers{{web}}")),
        "{events}"
    );
    assert!(
        events.contains("Created:") && events.contains("Pulled:"),
        "{events}"
    );

    // The pod answers HTTP on its IP from the node, with its hostname.
    let body = node_ns
        .netns()
        .run(|| {
            Command::new("curl")
                .args(["-s", "-m", "3", &format!("http://{ip}/")])
                .output()
        })
        .expect("enter the node netns")
        .expect("run curl");
    assert_eq!(
        String::from_utf8_lossy(&body.stdout).trim(),
        "web",
        "the built-in web workload answers with the pod's hostname"
    );

    // Deleting the pod stops it, frees its namespace and finalizes the object.
    k.ok(&["delete", "pod", "web", "--wait=false"]);
    eventually(60, "pod object gone", || {
        let r = k.run(&["get", "pod", "web", "--ignore-not-found", "-o", "name"]);
        r.stdout.trim().is_empty().then_some(())
    });
    eventually(30, "pod namespace removed", || {
        netns_named(&pod_prefix).is_empty().then_some(())
    });
}
