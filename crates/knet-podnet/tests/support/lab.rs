//! Shared helpers of the namespace tests: root check, unique names, a
//! cluster of throwaway namespaces (underlay + nodes + pods made through the
//! CNI library path), and traffic checks that stay inside them.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use knet_podnet::cni::bridge::Request;
use knet_podnet::cni::conf::BridgeConf;
use knet_podnet::netns::{NamedNetns, Netns};
use knet_podnet::topology::{Uplink, attach_node, underlay_bridge};
use knet_podnet::types::IfName;

pub use knet_testing::{require_root, uniq};

/// Runs a command, returns (success, stdout+stderr).
pub fn sh(args: &[&str]) -> (bool, String) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn");
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), s)
}

/// `ip netns exec <ns> ping -c1 -W2 <ip>`.
pub fn ping(ns: &str, ip: Ipv4Addr) -> bool {
    sh(&[
        "ip",
        "netns",
        "exec",
        ns,
        "ping",
        "-c1",
        "-W2",
        &ip.to_string(),
    ])
    .0
}

/// Listens on `ip:port` inside `server`, connects from `client`, exchanges
/// a line, and returns what the server saw as the peer address.
pub fn tcp_roundtrip(
    server: &Netns,
    client: &Netns,
    ip: Ipv4Addr,
    port: u16,
) -> std::io::Result<SocketAddr> {
    let addr = SocketAddr::from((ip, port));
    let listener: TcpListener = server.run(|| TcpListener::bind(addr)).expect("netns")?;
    let accept = std::thread::spawn(move || -> std::io::Result<SocketAddr> {
        let (mut s, peer) = listener.accept()?;
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf)?;
        s.write_all(&buf)?;
        Ok(peer)
    });
    let mut c: TcpStream = client
        .run(|| TcpStream::connect_timeout(&addr, Duration::from_secs(3)))
        .expect("netns")?;
    c.set_read_timeout(Some(Duration::from_secs(3)))?;
    c.write_all(b"hello")?;
    let mut echo = [0u8; 5];
    c.read_exact(&mut echo)?;
    assert_eq!(&echo, b"hello");
    accept.join().expect("accept thread")
}

/// A pod made by `cni::add`.
pub struct Pod {
    pub ns: NamedNetns,
    pub ip: Ipv4Addr,
    pub id: String,
}

/// Underlay + nodes + pods.
pub struct Cluster {
    pub underlay: NamedNetns,
    pub nodes: Vec<NamedNetns>,
    pub pods: Vec<Vec<Pod>>,
    pub ipam_dir: tempfile::TempDir,
}

/// Node `i`'s underlay address.
pub fn node_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 50, i as u8 + 1)
}

/// Node `i`'s pod CIDR.
pub fn pod_cidr(i: usize) -> knet_podnet::ipnet::Ipv4Net {
    format!("10.244.{i}.0/24").parse().unwrap()
}

/// The bridge config of node `i` (isDefaultGateway, hairpin, MTU 1450).
pub fn bridge_conf(i: usize, data_dir: &Path) -> BridgeConf {
    let json = format!(
        r#"{{"cniVersion":"1.1.0","name":"kntnet","type":"knet","bridge":"cbr0","isDefaultGateway":true,
            "hairpinMode":true,"mtu":1450,"ipMasq":false,"podCIDR":"{}","clusterCIDR":"10.244.0.0/16",
            "dataDir":"{}/n{i}"}}"#,
        pod_cidr(i),
        data_dir.display()
    );
    knet_podnet::cni::NetConf::parse(&json)
        .unwrap()
        .resolve(|_| unreachable!("podCIDR given"))
        .unwrap()
}

impl Cluster {
    /// Builds `nodes` nodes with `pods` pods each.
    pub async fn build(nodes: usize, pods: usize) -> Self {
        let underlay = NamedNetns::create(&uniq("u")).unwrap();
        underlay_bridge(underlay.netns(), "ulbr", None)
            .await
            .unwrap();
        let ipam_dir = tempfile::tempdir().unwrap();
        let mut cluster = Cluster {
            underlay,
            nodes: Vec::new(),
            pods: Vec::new(),
            ipam_dir,
        };
        for i in 0..nodes {
            let node = NamedNetns::create(&uniq("n")).unwrap();
            attach_node(&Uplink {
                underlay: cluster.underlay.netns(),
                bridge: "ulbr",
                port: &format!("n{i}"),
                node: node.netns(),
                ifname: "eth0",
                addr: format!("{}/24", node_ip(i)).parse().unwrap(),
                mtu: None,
            })
            .await
            .unwrap();
            cluster.nodes.push(node);
            let mut ps = Vec::new();
            for j in 0..pods {
                ps.push(cluster.add_pod(i, j).await);
            }
            cluster.pods.push(ps);
        }
        cluster
    }

    /// Makes pod `j` of node `i` through the CNI library path.
    pub async fn add_pod(&self, i: usize, j: usize) -> Pod {
        let ns = NamedNetns::create(&uniq("p")).unwrap();
        let id = format!("pod-{i}-{j}-{}", std::process::id());
        let conf = bridge_conf(i, self.ipam_dir.path());
        let ifname = IfName::new("eth0").unwrap();
        let res = knet_podnet::cni::add(
            &conf,
            &Request {
                host_ns: self.nodes[i].netns(),
                netns: ns.path(),
                ifname: &ifname,
                container_id: &id,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("cni add pod {i}/{j}: {e}"));
        let ip = res.ips[0].address.addr();
        assert!(pod_cidr(i).contains(&ip));
        Pod { ns, ip, id }
    }
}
