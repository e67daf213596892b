//! A 3-node cluster in throwaway namespaces: underlay bridge, three nodes,
//! two pods per node (made by `cni::add`), routed first with host-gw, then
//! with VXLAN, with the agent's reconcile driven by a static node list.

#[path = "support/lab.rs"]
mod lab;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use knet_podnet::agent::{Agent, AgentConfig, Backend, NodeInfo};
use knet_podnet::netns::Netns;
use lab::{Cluster, node_ip, ping, pod_cidr, sh, tcp_roundtrip};

async fn agents(c: &Cluster, backend: Backend) -> Vec<Agent> {
    let mut out = Vec::new();
    for (i, n) in c.nodes.iter().enumerate() {
        let mut cfg = AgentConfig::new(&format!("node{i}"), backend);
        cfg.resync = Duration::from_millis(200);
        out.push(
            Agent::new(cfg, Netns::open(n.path()).unwrap(), None)
                .await
                .unwrap(),
        );
    }
    out
}

fn node_list(agents: &[Agent]) -> Vec<NodeInfo> {
    agents
        .iter()
        .enumerate()
        .map(|(i, a)| NodeInfo {
            name: format!("node{i}"),
            pod_cidr: pod_cidr(i),
            node_ip: node_ip(i),
            vtep_mac: Some(a.vtep_mac()),
        })
        .collect()
}

/// Starts tcpdump on the underlay bridge; returns the child (stdout piped).
fn capture(c: &Cluster, filter: &str) -> std::process::Child {
    let child = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            c.underlay.name(),
            "tcpdump",
            "-i",
            "ulbr",
            "-n",
            "-l",
            "-c",
            "4",
            filter,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    child
}

fn finish_capture(child: std::process::Child) -> String {
    let pid = child.id();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(3));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    });
    let out = child.wait_with_output().unwrap();
    drop(killer);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn check_traffic(c: &Cluster) {
    let p = |i: usize, j: usize| &c.pods[i][j];
    // Same node.
    assert!(ping(p(0, 0).ns.name(), p(0, 1).ip), "pod->pod on one node");
    // Across nodes, every pair of nodes.
    for (a, b) in [(0, 1), (1, 2), (2, 0)] {
        assert!(
            ping(p(a, 0).ns.name(), p(b, 1).ip),
            "pod {a}/0 -> pod {b}/1"
        );
        let peer = tcp_roundtrip(p(b, 1).ns.netns(), p(a, 0).ns.netns(), p(b, 1).ip, 8080).unwrap();
        assert_eq!(
            peer.ip(),
            std::net::IpAddr::V4(p(a, 0).ip),
            "pod IPs are preserved across nodes"
        );
    }
    // Node to pod, local and remote.
    assert!(ping(c.nodes[0].name(), p(0, 0).ip), "node -> local pod");
    assert!(ping(c.nodes[0].name(), p(2, 0).ip), "node -> remote pod");
    tcp_roundtrip(p(2, 0).ns.netns(), c.nodes[0].netns(), p(2, 0).ip, 8081).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_host_gw_then_vxlan() {
    if !lab::require_root() {
        return;
    }
    let c = Cluster::build(3, 2).await;

    // --- host-gw ---
    let hg = agents(&c, Backend::HostGw).await;
    let nodes = node_list(&hg);
    for a in &hg {
        assert!(!a.reconcile(&nodes).await.unwrap().is_empty());
        assert!(
            a.reconcile(&nodes).await.unwrap().is_empty(),
            "second pass is a no-op"
        );
    }
    let (_, routes) = sh(&["ip", "-n", c.nodes[0].name(), "route"]);
    assert!(
        routes.contains("10.244.1.0/24 via 192.168.50.2 dev eth0"),
        "{routes}"
    );
    assert!(
        routes.contains("10.244.2.0/24 via 192.168.50.3 dev eth0"),
        "{routes}"
    );
    let cap = capture(&c, "icmp");
    check_traffic(&c);
    let seen = finish_capture(cap);
    assert!(
        seen.contains("10.244.0.") && seen.contains("ICMP echo"),
        "plain pod IPs on the underlay: {seen}"
    );
    assert!(!seen.contains("8472"), "{seen}");
    drop(hg);

    // --- vxlan ---
    let vx = agents(&c, Backend::Vxlan).await;
    let nodes = node_list(&vx);
    for a in &vx {
        a.reconcile(&nodes).await.unwrap();
    }
    for a in &vx {
        let again = a.reconcile(&nodes).await.unwrap();
        assert!(again.is_empty(), "second pass is a no-op: {again:?}");
    }
    let n0 = c.nodes[0].name();
    let (_, routes) = sh(&["ip", "-n", n0, "route"]);
    assert!(
        !routes.contains("via 192.168.50.2 dev eth0"),
        "host-gw routes are gone: {routes}"
    );
    assert!(
        routes.lines().any(
            |l| l.starts_with("10.244.1.0/24 via 10.244.1.0 dev flannel.1")
                && l.trim_end().ends_with("onlink")
        ),
        "{routes}"
    );
    let mac1 = vx[1].vtep_mac().to_string();
    let (_, fdb) = sh(&["bridge", "-n", n0, "fdb", "show", "dev", "flannel.1"]);
    assert!(
        fdb.contains(&format!("{mac1} dst 192.168.50.2 self permanent")),
        "{fdb}"
    );
    let (_, neigh) = sh(&["ip", "-n", n0, "neigh", "show", "dev", "flannel.1"]);
    assert!(
        neigh.contains(&format!("10.244.1.0 lladdr {mac1} PERMANENT")),
        "{neigh}"
    );
    let (_, link) = sh(&["ip", "-n", n0, "-d", "link", "show", "flannel.1"]);
    assert!(
        link.contains("mtu 1450") && link.contains("vxlan id 1") && link.contains("dstport 8472"),
        "{link}"
    );
    assert!(link.contains("nolearning"), "{link}");
    let (_, addr) = sh(&["ip", "-n", n0, "addr", "show", "flannel.1"]);
    assert!(addr.contains("10.244.0.0/32"), "{addr}");
    let cap = capture(&c, "udp port 8472");
    check_traffic(&c);
    let seen = finish_capture(cap);
    assert!(
        seen.contains(".8472: "),
        "VXLAN encapsulation on the underlay: {seen}"
    );
    assert!(seen.contains("192.168.50."), "{seen}");

    // --- continuous reconcile: drift repair and node deletion ---
    let list = Arc::new(Mutex::new(nodes.clone()));
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let vx = Arc::new(vx);
    let mut tasks = Vec::new();
    for i in 0..3 {
        let (vx, list, mut stop) = (vx.clone(), list.clone(), stop_tx.subscribe());
        tasks.push(tokio::spawn(async move {
            let src = move || Ok(list.lock().unwrap().clone());
            vx[i]
                .run_with(
                    src,
                    async move {
                        let _ = stop.recv().await;
                    },
                    false,
                )
                .await
        }));
    }
    // A manual route deletion comes back within a second.
    assert!(sh(&["ip", "-n", n0, "route", "del", "10.244.1.0/24"]).0);
    let t = Instant::now();
    wait_for(
        || {
            sh(&["ip", "-n", n0, "route"])
                .1
                .contains("10.244.1.0/24 via 10.244.1.0")
        },
        "route restored",
    );
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "restored after {:?}",
        t.elapsed()
    );
    // A link flap flushes routes and permanent neighbours; they come back.
    assert!(sh(&["ip", "-n", n0, "link", "set", "flannel.1", "down"]).0);
    assert!(sh(&["ip", "-n", n0, "link", "set", "flannel.1", "up"]).0);
    let t = Instant::now();
    wait_for(
        || {
            sh(&["ip", "-n", n0, "neigh", "show", "dev", "flannel.1"])
                .1
                .contains("PERMANENT")
                && sh(&["ip", "-n", n0, "route"])
                    .1
                    .contains("10.244.2.0/24 via 10.244.2.0")
        },
        "neighbour + route restored after flap",
    );
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "restored after {:?}",
        t.elapsed()
    );
    assert!(ping(c.pods[0][0].ns.name(), c.pods[1][0].ip));
    // Node 2 is deleted: its entries disappear from node 0.
    list.lock().unwrap().retain(|n| n.name != "node2");
    let mac2 = vx[2].vtep_mac().to_string();
    wait_for(
        || {
            !sh(&["ip", "-n", n0, "route"]).1.contains("10.244.2.0/24")
                && !sh(&["bridge", "-n", n0, "fdb", "show", "dev", "flannel.1"])
                    .1
                    .contains(&mac2)
                && !sh(&["ip", "-n", n0, "neigh", "show", "dev", "flannel.1"])
                    .1
                    .contains("10.244.2.0")
        },
        "deleted node's entries removed",
    );
    assert!(
        sh(&["ip", "-n", n0, "route"])
            .1
            .contains("10.244.1.0/24 via 10.244.1.0"),
        "others stay"
    );
    let _ = stop_tx.send(());
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // Cleanup on request removes the VTEP and its routes.
    vx[0].cleanup().await.unwrap();
    let (_, routes) = sh(&["ip", "-n", n0, "route"]);
    assert!(!routes.contains("flannel.1"), "{routes}");
    assert!(!sh(&["ip", "-n", n0, "link"]).1.contains("flannel.1"));
}

fn wait_for(mut f: impl FnMut() -> bool, what: &str) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for: {what}");
}
