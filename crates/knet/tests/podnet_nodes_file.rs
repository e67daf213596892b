//! `knet podnet --nodes-file` as a process: two nodes, host-gw then vxlan;
//! the agent writes a flannel-style subnet.env that `knet cni` (type `knet`,
//! no ipam) reads for the pod subnet and the overlay MTU; editing the file
//! removes a node's routes; SIGTERM with --cleanup-on-exit removes the rest.

#[path = "cni_support/helpers.rs"]
mod helpers;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use helpers::{cni, require_root, underlay_with_nodes, uniq};
use knet_podnet::netns::NamedNetns;
use knet_testing::ChildGuard;

/// A `knet podnet` child, killed (by PID) on drop.
type AgentProc = ChildGuard;

/// Starts `knet podnet` for `node` with a nodes file.
fn start_agent(node: &str, netns: &str, backend: &str, nodes: &Path, subnet: &Path) -> AgentProc {
    ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_knet"))
            .args([
                "podnet",
                "--node-name",
                node,
                "--netns",
                netns,
                "--backend",
                backend,
            ])
            .args(["--resync-ms", "200", "--cleanup-on-exit", "--nodes-file"])
            .arg(nodes)
            .arg("--subnet-file")
            .arg(subnet)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn ip(args: &[&str]) -> String {
    String::from_utf8_lossy(&Command::new("ip").args(args).output().unwrap().stdout).into_owned()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(15) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out: {what}");
}

const NODES: &str = r#"[
  {"name":"a","podCIDR":"10.244.10.0/24","nodeIP":"192.168.70.1","vtepMAC":"0e:6b:0a:00:00:01"},
  {"name":"b","podCIDR":"10.244.11.0/24","nodeIP":"192.168.70.2","vtepMAC":"0e:6b:0a:00:00:02"}
]"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_process_with_nodes_file_and_flannel_style_cni() {
    if !require_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let nodes_file = dir.path().join("nodes.json");
    std::fs::write(&nodes_file, NODES).unwrap();
    let (_underlay, nodes) = underlay_with_nodes("192.168.70", 2).await;
    let subnet = |i: usize| dir.path().join(format!("subnet{i}.env"));
    let names = ["a", "b"];

    // vxlan: the agents write subnet.env with the overlay MTU.
    let agents: Vec<AgentProc> = (0..2)
        .map(|i| start_agent(names[i], nodes[i].name(), "vxlan", &nodes_file, &subnet(i)))
        .collect();
    wait_for("subnet files", || (0..2).all(|i| subnet(i).exists()));
    let env0 = std::fs::read_to_string(subnet(0)).unwrap();
    assert!(env0.contains("FLANNEL_SUBNET=10.244.10.1/24"), "{env0}");
    assert!(env0.contains("FLANNEL_MTU=1450"), "{env0}");
    assert!(env0.contains("FLANNEL_NETWORK=10.244.0.0/16"), "{env0}");

    // Pods through `knet cni` in flannel-style mode: subnet and MTU from the file.
    let mut pods = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let pod = NamedNetns::create(&uniq("p")).unwrap();
        let conf = format!(
            r#"{{"cniVersion":"1.1.0","name":"kntf","type":"knet","isDefaultGateway":true,
                "subnetFile":"{}","dataDir":"{}"}}"#,
            subnet(i).display(),
            dir.path().join(format!("ipam{i}")).display()
        );
        let netns = pod.path().to_str().unwrap().to_string();
        let env = [
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "f1"),
            ("CNI_NETNS", netns.as_str()),
            ("CNI_IFNAME", "eth0"),
        ];
        let (code, res) = cni(node.name(), &env, &conf);
        assert_eq!(code, 0, "{res}");
        assert_eq!(res["ips"][0]["address"], format!("10.244.1{i}.2/24"));
        assert_eq!(
            res["interfaces"][2]["mtu"], 1450,
            "pod MTU from FLANNEL_MTU"
        );
        assert!(
            res["routes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["dst"] == "10.244.0.0/16")
        );
        pods.push(pod);
    }
    let n0 = nodes[0].name().to_string();
    let n1 = nodes[1].name().to_string();
    wait_for("vxlan routes on both nodes", || {
        ip(&["-n", &n0, "route"]).contains("10.244.11.0/24 via 10.244.11.0 dev flannel.1")
            && ip(&["-n", &n1, "route"]).contains("10.244.10.0/24 via 10.244.10.0 dev flannel.1")
    });
    assert!(
        ip(&["-n", &n0, "link", "show", "flannel.1"]).contains("0e:6b:0a:00:00:01"),
        "MAC from the nodes file"
    );
    let ping = |from: &str, to: &str| {
        Command::new("ip")
            .args(["netns", "exec", from, "ping", "-c1", "-W2", to])
            .status()
            .unwrap()
            .success()
    };
    assert!(ping(pods[0].name(), "10.244.11.2"));

    // Removing node b from the file removes its entries on node a.
    std::fs::write(
        &nodes_file,
        NODES.replace(
            r#",
  {"name":"b","podCIDR":"10.244.11.0/24","nodeIP":"192.168.70.2","vtepMAC":"0e:6b:0a:00:00:02"}"#,
            "",
        ),
    )
    .unwrap();
    wait_for("node b's route gone", || {
        !ip(&["-n", &n0, "route"]).contains("10.244.11.0/24")
    });
    assert!(!ping(pods[0].name(), "10.244.11.2"), "no route, no traffic");

    // SIGTERM with --cleanup-on-exit: the VTEP goes away.
    for mut a in agents {
        assert!(a.terminate(), "clean exit");
    }
    assert!(
        !ip(&["-n", &n0, "link"]).contains("flannel.1"),
        "VTEP removed on shutdown"
    );

    // host-gw from the same file (node b back).
    std::fs::write(&nodes_file, NODES).unwrap();
    let _agents: Vec<AgentProc> = (0..2)
        .map(|i| {
            start_agent(
                names[i],
                nodes[i].name(),
                "host-gw",
                &nodes_file,
                &subnet(i),
            )
        })
        .collect();
    wait_for("host-gw routes on both nodes", || {
        ip(&["-n", &n0, "route"]).contains("10.244.11.0/24 via 192.168.70.2 dev eth0")
            && ip(&["-n", &n1, "route"]).contains("10.244.10.0/24 via 192.168.70.1 dev eth0")
    });
    wait_for("host-gw MTU in subnet.env", || {
        std::fs::read_to_string(subnet(0))
            .unwrap()
            .contains("FLANNEL_MTU=1500")
    });
    assert!(
        ping(pods[0].name(), "10.244.11.2"),
        "pod MTU 1450 works over host-gw too"
    );
}
