//! IPv4 routes in the main table.

use std::net::Ipv4Addr;

use futures::TryStreamExt;
use ipnet::Ipv4Net;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};
use rtnetlink::RouteMessageBuilder;

use super::{Netlink, NetlinkError};

/// An IPv4 unicast route of the main table, as knet writes and reads them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Route4 {
    /// Destination prefix.
    pub dst: Ipv4Net,
    /// Next hop, or `None` for a directly connected (scope link) route.
    pub gateway: Option<Ipv4Addr>,
    /// Output interface index.
    pub oif: Option<u32>,
    /// `onlink`: the gateway is reachable on `oif` whatever its addresses say.
    pub onlink: bool,
}

impl Route4 {
    fn message(&self) -> RouteMessage {
        let mut b = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(self.dst.network(), self.dst.prefix_len())
            .protocol(RouteProtocol::Boot);
        if let Some(gw) = self.gateway {
            b = b.gateway(gw);
        } else {
            b = b.scope(RouteScope::Link);
        }
        if let Some(oif) = self.oif {
            b = b.output_interface(oif);
        }
        if self.onlink {
            b = b.onlink();
        }
        b.build()
    }

    fn from_message(m: &RouteMessage) -> Option<Self> {
        if m.header.table != RouteHeader::RT_TABLE_MAIN || m.header.kind != RouteType::Unicast {
            return None;
        }
        let mut dst = Ipv4Addr::UNSPECIFIED;
        let mut gateway = None;
        let mut oif = None;
        for a in &m.attributes {
            match a {
                RouteAttribute::Destination(RouteAddress::Inet(ip)) => dst = *ip,
                RouteAttribute::Gateway(RouteAddress::Inet(ip)) => gateway = Some(*ip),
                RouteAttribute::Oif(i) => oif = Some(*i),
                _ => {}
            }
        }
        Some(Self {
            dst: Ipv4Net::new(dst, m.header.destination_prefix_length).ok()?,
            gateway,
            oif,
            onlink: m.header.flags.contains(RouteFlags::Onlink),
        })
    }
}

impl Netlink {
    /// Adds or replaces a route (`ip route replace`).
    pub async fn replace_route(&self, r: &Route4) -> Result<(), NetlinkError> {
        self.handle
            .route()
            .add(r.message())
            .replace()
            .execute()
            .await
            .map_err(self.err(format!("replace route {r:?}")))
    }

    /// Deletes a route; absent is fine.
    pub async fn del_route(&self, r: &Route4) -> Result<(), NetlinkError> {
        let res = self
            .handle
            .route()
            .del(r.message())
            .execute()
            .await
            .map_err(self.err(format!("delete route {r:?}")));
        match res {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// The IPv4 unicast routes of the main table.
    pub async fn routes(&self) -> Result<Vec<Route4>, NetlinkError> {
        let msgs: Vec<RouteMessage> = self
            .handle
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .execute()
            .try_collect()
            .await
            .map_err(self.err("dump routes"))?;
        Ok(msgs.iter().filter_map(Route4::from_message).collect())
    }
}
