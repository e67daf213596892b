//! Links: lookup, bridge/veth/vxlan creation, up/down, master, MTU, MAC,
//! rename, namespace moves, hairpin, deletion.

use std::net::Ipv4Addr;

use futures::TryStreamExt;
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use rtnetlink::{LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec, LinkVxlan};

use super::{Netlink, NetlinkError};
use crate::netns::Netns;
use crate::types::Mac;

/// What the kernel reports about one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// `IFLA_INFO_KIND` (`bridge`, `veth`, `vxlan`…), if any.
    pub kind: Option<String>,
    /// MTU.
    pub mtu: u32,
    /// Hardware address, for Ethernet-like links.
    pub mac: Option<Mac>,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Index of the bridge this link is a port of.
    pub master: Option<u32>,
}

impl Link {
    fn from_message(m: &LinkMessage) -> Self {
        let mut link = Link {
            index: m.header.index,
            name: String::new(),
            kind: None,
            mtu: 0,
            mac: None,
            up: m.header.flags.contains(LinkFlags::Up),
            master: None,
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::Mtu(v) => link.mtu = *v,
                LinkAttribute::Address(b) => link.mac = Mac::from_slice(b),
                LinkAttribute::Controller(i) => link.master = Some(*i),
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        if let LinkInfo::Kind(k) = i {
                            link.kind = Some(k.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        link
    }
}

/// A veth pair whose peer is created directly inside another namespace.
#[derive(Debug, Clone)]
pub struct VethSpec<'a> {
    /// Name of the end that stays in this handle's namespace.
    pub name: &'a str,
    /// Name of the other end, inside `peer_ns`.
    pub peer_name: &'a str,
    /// Namespace of the peer end.
    pub peer_ns: &'a Netns,
    /// MTU of both ends (kernel default when `None`).
    pub mtu: Option<u32>,
    /// MAC of the peer end (random when `None`).
    pub peer_mac: Option<Mac>,
}

/// A VXLAN device (created down; bring it up after addressing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanSpec {
    /// Device name (e.g. `flannel.1`).
    pub name: String,
    /// VXLAN network identifier.
    pub vni: u32,
    /// UDP destination port.
    pub port: u16,
    /// Local underlay address (source of encapsulated packets).
    pub local: Ipv4Addr,
    /// Index of the underlay device.
    pub dev: u32,
    /// Device MTU.
    pub mtu: u32,
    /// Device MAC (the VTEP MAC peers point at).
    pub mac: Mac,
    /// Whether the device learns remote MACs from traffic.
    pub learning: bool,
}

impl Netlink {
    /// The link called `name`, or `None`.
    pub async fn link(&self, name: &str) -> Result<Option<Link>, NetlinkError> {
        let res = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute()
            .try_next()
            .await;
        match res.map_err(self.err(format!("get link {name}"))) {
            Ok(m) => Ok(m.as_ref().map(Link::from_message)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The link called `name`; an error when missing.
    pub async fn require_link(&self, name: &str) -> Result<Link, NetlinkError> {
        self.link(name)
            .await?
            .ok_or_else(|| NetlinkError::NoSuchLink {
                name: name.to_string(),
                ns: self.ns.clone(),
            })
    }

    /// Every link of the namespace.
    pub async fn links(&self) -> Result<Vec<Link>, NetlinkError> {
        let msgs: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(self.err("dump links"))?;
        Ok(msgs.iter().map(Link::from_message).collect())
    }

    /// Creates a bridge (down unless `up`) with an optional MTU.
    pub async fn create_bridge(&self, name: &str, mtu: Option<u32>) -> Result<(), NetlinkError> {
        let mut b = LinkBridge::new(name);
        if let Some(m) = mtu {
            b = b.mtu(m);
        }
        self.handle
            .link()
            .add(b.build())
            .execute()
            .await
            .map_err(self.err(format!("create bridge {name}")))
    }

    /// Creates a veth pair, the peer born inside `spec.peer_ns`.
    pub async fn create_veth(&self, spec: &VethSpec<'_>) -> Result<(), NetlinkError> {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&spec.peer_ns.fd());
        let mut peer = LinkMessageBuilder::<LinkUnspec>::new()
            .name(spec.peer_name)
            .setns_by_fd(fd);
        let mut host =
            LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::Veth).name(spec.name);
        if let Some(m) = spec.mtu {
            peer = peer.mtu(m);
            host = host.mtu(m);
        }
        if let Some(mac) = spec.peer_mac {
            peer = peer.address(mac.0.to_vec());
        }
        let msg = host
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())))
            .build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(self.err(format!(
                "create veth {} with peer {} in {}",
                spec.name,
                spec.peer_name,
                spec.peer_ns.path().display()
            )))
    }

    /// Creates a VXLAN device (left down).
    pub async fn create_vxlan(&self, spec: &VxlanSpec) -> Result<(), NetlinkError> {
        let msg = LinkVxlan::new(&spec.name, spec.vni)
            .dev(spec.dev)
            .port(spec.port)
            .local(spec.local)
            .learning(spec.learning)
            .mtu(spec.mtu)
            .address(spec.mac.0.to_vec())
            .build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(self.err(format!("create vxlan {spec:?}")))
    }

    async fn set(&self, msg: LinkMessage, op: String) -> Result<(), NetlinkError> {
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(self.err(op))
    }

    /// Sets a link up.
    pub async fn set_up(&self, index: u32) -> Result<(), NetlinkError> {
        let msg = LinkUnspec::new_with_index(index).up().build();
        self.set(msg, format!("set link {index} up")).await
    }

    /// Sets a link down.
    pub async fn set_down(&self, index: u32) -> Result<(), NetlinkError> {
        let msg = LinkUnspec::new_with_index(index).down().build();
        self.set(msg, format!("set link {index} down")).await
    }

    /// Makes `index` a port of bridge `master`.
    pub async fn set_master(&self, index: u32, master: u32) -> Result<(), NetlinkError> {
        let msg = LinkUnspec::new_with_index(index).controller(master).build();
        self.set(msg, format!("set link {index} master {master}"))
            .await
    }

    /// Sets the MTU.
    pub async fn set_mtu(&self, index: u32, mtu: u32) -> Result<(), NetlinkError> {
        let msg = LinkUnspec::new_with_index(index).mtu(mtu).build();
        self.set(msg, format!("set link {index} mtu {mtu}")).await
    }

    /// Sets the hardware address.
    pub async fn set_mac(&self, index: u32, mac: Mac) -> Result<(), NetlinkError> {
        let msg = LinkUnspec::new_with_index(index)
            .address(mac.0.to_vec())
            .build();
        self.set(msg, format!("set link {index} address {mac}"))
            .await
    }

    /// Renames a (down) link.
    pub async fn rename(&self, index: u32, name: &str) -> Result<(), NetlinkError> {
        let msg = LinkUnspec::new_with_index(index).name(name).build();
        self.set(msg, format!("rename link {index} to {name}"))
            .await
    }

    /// Moves a link into another namespace.
    pub async fn move_to(&self, index: u32, ns: &Netns) -> Result<(), NetlinkError> {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&ns.fd());
        let msg = LinkUnspec::new_with_index(index).setns_by_fd(fd).build();
        self.set(msg, format!("move link {index} to {}", ns.path().display()))
            .await
    }

    /// Turns hairpin mode on or off for a bridge port.
    pub async fn set_hairpin(&self, index: u32, on: bool) -> Result<(), NetlinkError> {
        let msg = LinkBridgePort::new(index).hairpin(on).build();
        self.handle
            .link()
            .set_port(msg)
            .execute()
            .await
            .map_err(self.err(format!("set hairpin {on} on link {index}")))
    }

    /// Deletes a link (a veth takes its peer with it).
    pub async fn del_link(&self, index: u32) -> Result<(), NetlinkError> {
        self.handle
            .link()
            .del(index)
            .execute()
            .await
            .map_err(self.err(format!("delete link {index}")))
    }

    /// Deletes the link called `name` if it exists; `Ok(false)` when absent.
    pub async fn del_link_by_name(&self, name: &str) -> Result<bool, NetlinkError> {
        match self.link(name).await? {
            Some(l) => match self.del_link(l.index).await {
                Ok(()) => Ok(true),
                Err(e) if e.is_not_found() => Ok(false),
                Err(e) => Err(e),
            },
            None => Ok(false),
        }
    }
}

impl Netlink {
    /// Turns promiscuous mode on or off.
    pub async fn set_promisc(&self, index: u32, on: bool) -> Result<(), NetlinkError> {
        let msg = LinkUnspec::new_with_index(index).promiscuous(on).build();
        self.set(msg, format!("set link {index} promisc {on}"))
            .await
    }
}
