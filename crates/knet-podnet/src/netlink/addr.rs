//! Interface addresses.

use std::net::IpAddr;

use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};

use super::{Netlink, NetlinkError};

impl Netlink {
    /// Adds `addr` (address/prefix) to link `index`; present already is fine.
    pub async fn add_address(&self, index: u32, addr: IpNet) -> Result<(), NetlinkError> {
        let res = self
            .handle
            .address()
            .add(index, addr.addr(), addr.prefix_len())
            .execute()
            .await
            .map_err(self.err(format!("add address {addr} to link {index}")));
        match res {
            Err(e) if e.is_exists() => Ok(()),
            other => other,
        }
    }

    /// The addresses of link `index`.
    pub async fn addresses(&self, index: u32) -> Result<Vec<IpNet>, NetlinkError> {
        Ok(self
            .address_messages(index)
            .await?
            .iter()
            .filter_map(address_of)
            .collect())
    }

    /// Removes `addr` from link `index`; absent is fine.
    pub async fn del_address(&self, index: u32, addr: IpNet) -> Result<(), NetlinkError> {
        for m in self.address_messages(index).await? {
            if address_of(&m) == Some(addr) {
                let res = self
                    .handle
                    .address()
                    .del(m)
                    .execute()
                    .await
                    .map_err(self.err(format!("delete address {addr} from link {index}")));
                match res {
                    Err(e) if !e.is_not_found() => return Err(e),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    async fn address_messages(&self, index: u32) -> Result<Vec<AddressMessage>, NetlinkError> {
        let all: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await
            .map_err(self.err(format!("dump addresses of link {index}")))?;
        Ok(all
            .into_iter()
            .filter(|m| m.header.index == index)
            .collect())
    }
}

fn address_of(m: &AddressMessage) -> Option<IpNet> {
    let ip: IpAddr = m
        .attributes
        .iter()
        .find_map(|a| match a {
            AddressAttribute::Local(ip) => Some(*ip),
            _ => None,
        })
        .or_else(|| {
            m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(ip) => Some(*ip),
                _ => None,
            })
        })?;
    IpNet::new(ip, m.header.prefix_len).ok()
}
