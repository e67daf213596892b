//! Neighbour (ARP) entries and bridge/VXLAN forwarding database entries.

use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};

use super::{Netlink, NetlinkError};
use crate::types::Mac;

/// An IPv4 neighbour entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Neighbour {
    /// Link index.
    pub index: u32,
    /// The neighbour's IP.
    pub ip: Ipv4Addr,
    /// Its MAC (absent for incomplete/failed entries).
    pub mac: Option<Mac>,
    /// Whether the entry is `PERMANENT`.
    pub permanent: bool,
}

/// A forwarding database entry with a remote destination (VXLAN).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FdbEntry {
    /// Link index (the VXLAN device).
    pub index: u32,
    /// MAC the entry matches.
    pub mac: Mac,
    /// Remote VTEP address, if the entry has one.
    pub dst: Option<Ipv4Addr>,
}

impl Netlink {
    /// `ip neigh replace <ip> lladdr <mac> dev <index> nud permanent`.
    pub async fn replace_neighbour(
        &self,
        index: u32,
        ip: Ipv4Addr,
        mac: Mac,
    ) -> Result<(), NetlinkError> {
        self.handle
            .neighbours()
            .add(index, IpAddr::V4(ip))
            .link_layer_address(&mac.0)
            .state(NeighbourState::Permanent)
            .replace()
            .execute()
            .await
            .map_err(self.err(format!("replace neighbour {ip} lladdr {mac} dev {index}")))
    }

    /// The IPv4 neighbour entries of all links.
    pub async fn neighbours(&self) -> Result<Vec<Neighbour>, NetlinkError> {
        let msgs: Vec<NeighbourMessage> = self
            .handle
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Inet)
            .execute()
            .try_collect()
            .await
            .map_err(self.err("dump neighbours"))?;
        Ok(msgs
            .iter()
            .filter_map(|m| {
                let ip = m.attributes.iter().find_map(|a| match a {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(*ip),
                    _ => None,
                })?;
                Some(Neighbour {
                    index: m.header.ifindex,
                    ip,
                    mac: lladdr(m),
                    permanent: m.header.state == NeighbourState::Permanent,
                })
            })
            .collect())
    }

    /// Deletes a neighbour entry; absent is fine.
    pub async fn del_neighbour(&self, index: u32, ip: Ipv4Addr) -> Result<(), NetlinkError> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.ifindex = index;
        msg.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)));
        self.delete_neigh(msg, format!("delete neighbour {ip} dev {index}"))
            .await
    }

    /// `bridge fdb replace <mac> dev <index> dst <dst> self permanent`.
    pub async fn replace_fdb(
        &self,
        index: u32,
        mac: Mac,
        dst: Ipv4Addr,
    ) -> Result<(), NetlinkError> {
        self.handle
            .neighbours()
            .add_bridge(index, &mac.0)
            .flags(NeighbourFlags::Own)
            .destination(IpAddr::V4(dst))
            .replace()
            .execute()
            .await
            .map_err(self.err(format!("replace fdb {mac} dev {index} dst {dst}")))
    }

    /// The FDB entries of link `index`.
    pub async fn fdb(&self, index: u32) -> Result<Vec<FdbEntry>, NetlinkError> {
        let msgs: Vec<NeighbourMessage> = self
            .handle
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Bridge)
            .execute()
            .try_collect()
            .await
            .map_err(self.err("dump fdb"))?;
        Ok(msgs
            .iter()
            .filter(|m| m.header.ifindex == index)
            .filter_map(|m| {
                Some(FdbEntry {
                    index,
                    mac: lladdr(m)?,
                    // AF_BRIDGE dumps carry NDA_DST as raw bytes.
                    dst: m.attributes.iter().find_map(|a| match a {
                        NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(*ip),
                        NeighbourAttribute::Destination(NeighbourAddress::Other(b)) => {
                            <[u8; 4]>::try_from(b.as_slice()).ok().map(Ipv4Addr::from)
                        }
                        _ => None,
                    }),
                })
            })
            .collect())
    }

    /// Deletes an FDB entry with destination `dst`; absent is fine.
    pub async fn del_fdb(
        &self,
        index: u32,
        mac: Mac,
        dst: Option<Ipv4Addr>,
    ) -> Result<(), NetlinkError> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Bridge;
        msg.header.ifindex = index;
        msg.header.flags = NeighbourFlags::Own;
        msg.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.0.to_vec()));
        if let Some(d) = dst {
            msg.attributes
                .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(d)));
        }
        self.delete_neigh(msg, format!("delete fdb {mac} dev {index}"))
            .await
    }

    /// Sends a neighbour/FDB delete; an entry already gone is success.
    async fn delete_neigh(&self, msg: NeighbourMessage, what: String) -> Result<(), NetlinkError> {
        match self
            .handle
            .neighbours()
            .del(msg)
            .execute()
            .await
            .map_err(self.err(what))
        {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }
}

fn lladdr(m: &NeighbourMessage) -> Option<Mac> {
    m.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::LinkLayerAddress(b) => Mac::from_slice(b),
        _ => None,
    })
}
