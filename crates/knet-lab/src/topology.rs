//! The lab's "physical" network: an underlay namespace holding a bridge (the
//! L2 segment between machines), one namespace per node with `eth0` on that
//! bridge, and an "outside client" namespace on the same segment standing for
//! a machine outside the cluster. Names carry the cluster name so
//! `ip netns list` says which cluster and node each one is, and so a sweep
//! after a crash finds them all.

use ipnet::Ipv4Net;
use knet_podnet::netlink::{Netlink, NetlinkError, Route4, VethSpec};
use knet_podnet::netns::{NamedNetns, NetnsError, delete_named};
use std::net::Ipv4Addr;

/// Why building the topology failed.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// A namespace could not be created or entered.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// A netlink request failed.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    /// The plan does not fit (too many nodes for the underlay).
    #[error("{0}")]
    Plan(String),
}

/// The pure layout of a lab: names and addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Cluster name (prefix of every namespace).
    pub cluster: String,
    /// Underlay subnet; nodes get `.2`, `.3`, …; the outside client the last usable address.
    pub underlay: Ipv4Net,
    /// Nodes in order; the first is the control-plane node.
    pub nodes: Vec<NodeLayout>,
    /// The outside client's address on the underlay.
    pub client_ip: Ipv4Addr,
}

/// One node of the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLayout {
    /// Node name as in the API (`knet-control-plane`, `knet-worker`, `knet-worker2`).
    pub name: String,
    /// Its address on the underlay (the Node's InternalIP).
    pub ip: Ipv4Addr,
    /// Name of its port on the underlay bridge (≤ 15 bytes).
    pub port: String,
}

impl Layout {
    /// Lays out `count` nodes of cluster `cluster` on `underlay`, kind-style
    /// names: `<cluster>-control-plane`, `<cluster>-worker`, `<cluster>-worker2`….
    pub fn new(cluster: &str, count: usize, underlay: Ipv4Net) -> Result<Self, TopologyError> {
        let hosts = u64::from(u32::MAX >> underlay.prefix_len()).saturating_sub(1);
        if count == 0 || count as u64 + 2 > hosts {
            return Err(TopologyError::Plan(format!(
                "{count} nodes do not fit the underlay {underlay}: use 1 to {} nodes or a larger --underlay",
                hosts.saturating_sub(2)
            )));
        }
        let base = u32::from(underlay.network());
        let nodes = (0..count)
            .map(|i| NodeLayout {
                name: match i {
                    0 => format!("{cluster}-control-plane"),
                    1 => format!("{cluster}-worker"),
                    n => format!("{cluster}-worker{n}"),
                },
                ip: Ipv4Addr::from(base + 2 + i as u32),
                port: format!("ul-n{}", i + 1),
            })
            .collect();
        let client_ip = Ipv4Addr::from(u32::from(underlay.broadcast()) - 1);
        Ok(Self {
            cluster: cluster.to_string(),
            underlay,
            nodes,
            client_ip,
        })
    }

    /// Namespace of the underlay bridge.
    pub fn underlay_ns(&self) -> String {
        format!("{}-underlay", self.cluster)
    }

    /// Namespace of the outside client.
    pub fn client_ns(&self) -> String {
        format!("{}-client", self.cluster)
    }

    /// Every namespace name this layout creates (nodes are named by node name).
    pub fn namespaces(&self) -> Vec<String> {
        let mut v = vec![self.underlay_ns(), self.client_ns()];
        v.extend(self.nodes.iter().map(|n| n.name.clone()));
        v
    }
}

/// The created topology; dropping it without [`Topology::keep`] removes every namespace.
#[derive(Debug)]
pub struct Topology {
    /// The layout it was built from.
    pub layout: Layout,
    /// The underlay namespace.
    pub underlay: NamedNetns,
    /// The outside client namespace.
    pub client: NamedNetns,
    /// Node namespaces, in layout order.
    pub nodes: Vec<NamedNetns>,
}

/// Name of the bridge inside the underlay namespace.
pub const UNDERLAY_BRIDGE: &str = "br0";

impl Topology {
    /// Creates the namespaces and wires them: underlay bridge, each node's
    /// `eth0` with its address, `lo` up, `ip_forward=1` in nodes.
    pub async fn create(layout: Layout) -> Result<Self, TopologyError> {
        let underlay = NamedNetns::create(&layout.underlay_ns())?;
        let client = NamedNetns::create(&layout.client_ns())?;
        let mut nodes = Vec::new();
        for n in &layout.nodes {
            nodes.push(NamedNetns::create(&n.name)?);
        }
        let ul = Netlink::connect(underlay.netns())?;
        ul.create_bridge(UNDERLAY_BRIDGE, None).await?;
        let br = ul.require_link(UNDERLAY_BRIDGE).await?;
        ul.set_up(br.index).await?;
        let prefix = layout.underlay.prefix_len();
        for (n, ns) in layout.nodes.iter().zip(&nodes) {
            attach(&ul, br.index, &n.port, ns, n.ip, prefix).await?;
            ns.netns().write_sysctl("net/ipv4/ip_forward", "1")?;
            // Pod → ClusterIP → a pod on the same bridge only works when
            // bridged frames pass the node's nftables (the proxy un-DNATs the
            // reply): set it here rather than rely on the kernel default.
            // Per-namespace; absent only without br_netfilter.
            if let Err(e) = ns
                .netns()
                .write_sysctl("net/bridge/bridge-nf-call-iptables", "1")
            {
                tracing::warn!(node = %n.name, error = %e, "bridge-nf-call-iptables unavailable: same-node pod → Service → pod traffic will fail");
            }
            default_route(ns, layout.client_ip).await?;
        }
        attach(
            &ul,
            br.index,
            "ul-client",
            &client,
            layout.client_ip,
            prefix,
        )
        .await?;
        Ok(Self {
            layout,
            underlay,
            client,
            nodes,
        })
    }

    /// Leaves every namespace in place (a detached lab outlives this process).
    pub fn keep(self) {
        self.underlay.keep();
        self.client.keep();
        for n in self.nodes {
            n.keep();
        }
    }
}

/// Connects `ns` to the underlay bridge: a veth whose bridge end is `port`
/// and whose other end is `eth0` with `ip/prefix`; `lo` and `eth0` up.
async fn attach(
    ul: &Netlink,
    bridge: u32,
    port: &str,
    ns: &NamedNetns,
    ip: Ipv4Addr,
    prefix: u8,
) -> Result<(), TopologyError> {
    ul.create_veth(&VethSpec {
        name: port,
        peer_name: "eth0",
        peer_ns: ns.netns(),
        mtu: None,
        peer_mac: None,
    })
    .await?;
    let p = ul.require_link(port).await?;
    ul.set_master(p.index, bridge).await?;
    ul.set_up(p.index).await?;
    let nl = Netlink::connect(ns.netns())?;
    let eth0 = nl.require_link("eth0").await?;
    let net = Ipv4Net::new(ip, prefix).map_err(|e| TopologyError::Plan(e.to_string()))?;
    nl.add_address(eth0.index, net.into()).await?;
    nl.set_up(eth0.index).await?;
    let lo = nl.require_link("lo").await?;
    nl.set_up(lo.index).await?;
    Ok(())
}

/// A node's default route: via the outside client, the lab's stand-in for
/// the network beyond the nodes (as kind nodes route via the Docker bridge).
/// Without one, a node cannot even send to a ClusterIP: the route lookup
/// fails before the proxy's DNAT. Nothing leaves the lab's namespaces.
async fn default_route(ns: &NamedNetns, gateway: Ipv4Addr) -> Result<(), TopologyError> {
    let nl = Netlink::connect(ns.netns())?;
    let dst =
        Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0).map_err(|e| TopologyError::Plan(e.to_string()))?;
    nl.replace_route(&Route4 {
        dst,
        gateway: Some(gateway),
        oif: None,
        onlink: false,
    })
    .await?;
    Ok(())
}

/// Removes every namespace a layout names (missing ones are fine).
pub fn sweep(layout: &Layout) {
    for name in layout.namespaces() {
        delete_named(&name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_style_names_and_addresses() {
        let l = Layout::new("demo", 3, "172.18.0.0/16".parse().unwrap()).unwrap();
        let names: Vec<_> = l.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["demo-control-plane", "demo-worker", "demo-worker2"]);
        assert_eq!(l.nodes[2].ip, Ipv4Addr::new(172, 18, 0, 4));
        assert_eq!(l.client_ip, Ipv4Addr::new(172, 18, 255, 254));
        assert!(l.nodes.iter().all(|n| n.port.len() <= 15));
        assert_eq!(l.namespaces().len(), 5);
    }

    #[test]
    fn refuses_layouts_that_do_not_fit() {
        assert!(Layout::new("x", 0, "172.18.0.0/16".parse().unwrap()).is_err());
        let err = Layout::new("x", 5, "10.0.0.0/29".parse().unwrap()).unwrap_err();
        assert!(err.to_string().contains("do not fit"), "{err}");
        assert!(Layout::new("x", 4, "10.0.0.0/29".parse().unwrap()).is_ok());
    }
}
