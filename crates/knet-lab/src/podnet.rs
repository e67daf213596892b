//! The lab's pod network attachment: the same bridge + host-local code path
//! as `knet cni ADD`/`DEL`, called in-process with the node's pod CIDR — what
//! flannel's CNI config (bridge `cbr0`, hairpin on, overlay MTU) gives a real
//! kubelet.

use crate::agent::sandbox::PodNetwork;
use knet_podnet::cni::bridge::{self, Request};
use knet_podnet::cni::conf::{BridgeConf, NetConf};
use knet_podnet::netns::Netns;
use knet_podnet::types::IfName;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

/// Pod interface name.
const IFNAME: &str = "eth0";

/// Attaches pods to `cbr0` in a node namespace.
#[derive(Debug, Clone)]
pub struct CniNetwork {
    conf: Arc<BridgeConf>,
    host_ns: Arc<Netns>,
}

/// The network config a node uses for `pod_cidr`: the flannel-style conflist
/// entry. Traffic from pods to anything outside the cluster's pod network
/// (`cluster_cidr`, routed via the bridge) is masqueraded to the node's
/// address, as flanneld's `--ip-masq` does; pod-to-pod traffic keeps its
/// source address.
pub fn net_conf_json(pod_cidr: &str, cluster_cidr: &str, mtu: u32, ipam_dir: &Path) -> String {
    serde_json::json!({
        "cniVersion": "1.1.0",
        "name": "knet",
        "type": "bridge",
        "bridge": "cbr0",
        "isDefaultGateway": true,
        "hairpinMode": true,
        "ipMasq": true,
        "mtu": mtu,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": pod_cidr}]],
                 "routes": [{"dst": cluster_cidr}], "dataDir": ipam_dir},
    })
    .to_string()
}

impl CniNetwork {
    /// A network for the node whose namespace is `node_netns`, with pods in
    /// `pod_cidr` (of the cluster's `cluster_cidr`) and interfaces of `mtu`;
    /// IPAM state under `ipam_dir`.
    pub fn new(
        node_netns: &Path,
        pod_cidr: &str,
        cluster_cidr: &str,
        mtu: u32,
        ipam_dir: &Path,
    ) -> Result<Self, String> {
        let json = net_conf_json(pod_cidr, cluster_cidr, mtu, ipam_dir);
        let conf = NetConf::parse(&json).map_err(|e| e.to_string())?;
        let conf = conf
            .resolve(|p| std::fs::read_to_string(p))
            .map_err(|e| e.to_string())?;
        let host_ns = Netns::open(node_netns).map_err(|e| e.to_string())?;
        Ok(Self {
            conf: Arc::new(conf),
            host_ns: Arc::new(host_ns),
        })
    }
}

impl PodNetwork for CniNetwork {
    async fn attach(&self, id: &str, netns: &Path) -> Result<Vec<IpAddr>, String> {
        let ifname = IfName::new(IFNAME).map_err(|e| e.to_string())?;
        let req = Request {
            host_ns: &self.host_ns,
            netns,
            ifname: &ifname,
            container_id: id,
        };
        let result = bridge::add(&self.conf, &req)
            .await
            .map_err(|e| e.to_string())?;
        Ok(result
            .ips
            .iter()
            .map(|ip| IpAddr::V4(ip.address.addr()))
            .collect())
    }

    async fn detach(&self, id: &str, netns: &Path) -> Result<(), String> {
        let ifname = IfName::new(IFNAME).map_err(|e| e.to_string())?;
        let netns = netns.exists().then_some(netns);
        bridge::del(&self.conf, &self.host_ns, netns, &ifname, id)
            .await
            .map_err(|e| e.to_string())
    }
}
