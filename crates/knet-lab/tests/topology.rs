//! Namespace test: the lab topology wires nodes and the outside client onto
//! one underlay segment, and removes every namespace when dropped.
//! Needs root; set KNET_SKIP_PRIVILEGED=1 to skip explicitly.

use knet_lab::topology::{Layout, Topology};
use std::process::Command;

use knet_testing::require_root as privileged;

fn netns_exists(name: &str) -> bool {
    std::path::Path::new("/run/netns").join(name).exists()
}

fn ping(ns: &str, ip: &str) -> bool {
    Command::new("ip")
        .args(["netns", "exec", ns, "ping", "-c1", "-W2", ip])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[tokio::test]
async fn nodes_and_client_share_the_underlay_and_vanish_on_drop() {
    if !privileged() {
        return;
    }
    let cluster = format!("kntopo{}", std::process::id());
    let layout = Layout::new(&cluster, 3, "172.31.0.0/24".parse().unwrap()).unwrap();
    let names = layout.namespaces();
    let root_fwd = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    {
        let topo = Topology::create(layout).await.expect("topology");
        let l = &topo.layout;
        assert!(names.iter().all(|n| netns_exists(n)), "{names:?}");
        let worker2 = l.nodes[2].ip.to_string();
        assert!(ping(&l.nodes[0].name, &worker2), "control-plane → worker2");
        assert!(
            ping(&l.client_ns(), &l.nodes[1].ip.to_string()),
            "client → worker"
        );
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &l.nodes[1].name,
                "cat",
                "/proc/sys/net/ipv4/ip_forward",
            ])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "1",
            "ip_forward in the node"
        );
    }
    assert!(
        names.iter().all(|n| !netns_exists(n)),
        "namespaces left behind: {names:?}"
    );
    let after = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    assert_eq!(
        root_fwd, after,
        "the root namespace's ip_forward must not change"
    );
}
