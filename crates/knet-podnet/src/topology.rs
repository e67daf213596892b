//! Building blocks for namespace topologies (the lab and the tests): an
//! underlay bridge namespace and node namespaces wired to it by veth pairs.

use ipnet::Ipv4Net;

use crate::netlink::{Netlink, NetlinkError, VethSpec};
use crate::netns::Netns;

/// Sets `lo` up in `ns`.
pub async fn loopback_up(ns: &Netns) -> Result<(), NetlinkError> {
    let nl = Netlink::connect(ns)?;
    let lo = nl.require_link("lo").await?;
    nl.set_up(lo.index).await
}

/// Creates (if missing) and brings up bridge `bridge` in `ns`, plus `lo`.
pub async fn underlay_bridge(
    ns: &Netns,
    bridge: &str,
    mtu: Option<u32>,
) -> Result<u32, NetlinkError> {
    let nl = Netlink::connect(ns)?;
    if nl.link(bridge).await?.is_none() {
        nl.create_bridge(bridge, mtu).await?;
    }
    let b = nl.require_link(bridge).await?;
    nl.set_up(b.index).await?;
    let lo = nl.require_link("lo").await?;
    nl.set_up(lo.index).await?;
    Ok(b.index)
}

/// A node's uplink: a veth whose `port` end sits on `bridge` in the underlay
/// namespace and whose `ifname` end (e.g. `eth0`) sits in the node with
/// `addr`; both up, node `lo` up.
#[derive(Debug, Clone)]
pub struct Uplink<'a> {
    /// Underlay namespace.
    pub underlay: &'a Netns,
    /// Bridge in the underlay.
    pub bridge: &'a str,
    /// Name of the underlay end.
    pub port: &'a str,
    /// Node namespace.
    pub node: &'a Netns,
    /// Name of the node end.
    pub ifname: &'a str,
    /// The node's underlay address.
    pub addr: Ipv4Net,
    /// MTU of both ends.
    pub mtu: Option<u32>,
}

/// Wires a node to the underlay.
pub async fn attach_node(u: &Uplink<'_>) -> Result<(), NetlinkError> {
    let unl = Netlink::connect(u.underlay)?;
    unl.create_veth(&VethSpec {
        name: u.port,
        peer_name: u.ifname,
        peer_ns: u.node,
        mtu: u.mtu,
        peer_mac: None,
    })
    .await?;
    let port = unl.require_link(u.port).await?;
    let br = unl.require_link(u.bridge).await?;
    unl.set_master(port.index, br.index).await?;
    unl.set_up(port.index).await?;
    let nnl = Netlink::connect(u.node)?;
    let eth = nnl.require_link(u.ifname).await?;
    nnl.add_address(eth.index, u.addr.into()).await?;
    nnl.set_up(eth.index).await?;
    let lo = nnl.require_link("lo").await?;
    nnl.set_up(lo.index).await
}
