//! The bridge behaviour of the reference `bridge` plugin, on knet's netlink
//! layer: bridge if missing, veth pair (host end on the bridge, pod end
//! named `CNI_IFNAME`), gateway, routes, masquerade, hairpin, MTU, `lo` up.
//!
//! ADD rolls back everything it made when a later step fails; DEL tries
//! every step and succeeds when things are already gone.

mod steps;

use std::net::Ipv4Addr;
use std::path::Path;

use super::conf::{Attachment, BridgeConf};
use super::error::{CniError, ErrorCode};
use super::result::{CniResult, IpConfig, RouteOut};
use crate::ipam::{self, IpamError};
use crate::netlink::{Netlink, NetlinkError};
use crate::netns::Netns;
use crate::types::IfName;

/// One attachment request: which container, which interface, which netns,
/// and the node namespace the bridge lives in.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The node (host) namespace.
    pub host_ns: &'a Netns,
    /// Path of the pod's network namespace (`CNI_NETNS`).
    pub netns: &'a Path,
    /// `CNI_IFNAME`.
    pub ifname: &'a IfName,
    /// `CNI_CONTAINERID`.
    pub container_id: &'a str,
}

/// The host-side veth name for an attachment: stable, so DEL finds it even
/// when the pod's namespace is already gone.
pub fn host_veth_name(container_id: &str, ifname: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in container_id.bytes().chain([b'/']).chain(ifname.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("veth{:08x}", (h >> 32) as u32 ^ h as u32)
}

pub(crate) fn kernel(msg: &str) -> impl FnOnce(NetlinkError) -> CniError + '_ {
    move |e| CniError::with(ErrorCode::Kernel, msg, &e)
}

fn ipam_error(e: IpamError) -> CniError {
    let code = match &e {
        IpamError::Range(_) => ErrorCode::InvalidConfig,
        IpamError::Store(_) => ErrorCode::Io,
        IpamError::Exhausted(_) | IpamError::Duplicate { .. } => ErrorCode::NoAddress,
    };
    CniError::with(code, "IPAM failed", &e)
}

/// ADD: attaches the container and returns the result.
pub async fn add(conf: &BridgeConf, req: &Request<'_>) -> Result<CniResult, CniError> {
    let pod_ns = Netns::open(req.netns).map_err(|e| {
        CniError::with(
            ErrorCode::UnknownContainer,
            format!("cannot open network namespace {}", req.netns.display()),
            &e,
        )
    })?;
    let host =
        Netlink::connect(req.host_ns).map_err(kernel("cannot talk to the node namespace"))?;
    let pod = Netlink::connect(&pod_ns).map_err(kernel("cannot talk to the pod namespace"))?;
    if pod
        .link(req.ifname.as_str())
        .await
        .map_err(kernel("link lookup"))?
        .is_some()
    {
        return Err(CniError::new(
            ErrorCode::InterfaceExists,
            format!(
                "interface {} already exists in {}",
                req.ifname,
                req.netns.display()
            ),
        ));
    }
    let bridge = steps::ensure_bridge(&host, req.host_ns, conf).await?;
    let alloc = ipam::allocate(
        &conf.ipam,
        &conf.network,
        req.container_id,
        req.ifname.as_str(),
    )
    .map_err(ipam_error)?;
    let env = steps::Env {
        conf,
        req,
        host: &host,
        pod: &pod,
        pod_ns: &pod_ns,
    };
    match env.attach(&bridge, &alloc).await {
        Ok(mut result) => {
            result.ips = vec![IpConfig {
                address: alloc.address,
                gateway: Some(alloc.gateway),
                interface: Some(2),
            }];
            result.routes = pod_routes(conf, alloc.gateway);
            Ok(result)
        }
        Err(e) => {
            let veth = host_veth_name(req.container_id, req.ifname.as_str());
            if let Err(re) = host.del_link_by_name(&veth).await {
                tracing::warn!(%veth, error = %re, "rollback: cannot delete veth");
            }
            if let Err(re) = ipam::release(
                &conf.ipam,
                &conf.network,
                req.container_id,
                req.ifname.as_str(),
            ) {
                tracing::warn!(error = %re, "rollback: cannot release address");
            }
            if conf.ip_masq {
                let _ = super::masq::del(
                    req.host_ns,
                    &conf.network,
                    req.container_id,
                    req.ifname.as_str(),
                );
            }
            Err(e)
        }
    }
}

/// The routes the pod gets, as the result reports them: IPAM's (a missing
/// `gw` means the interface's gateway), then the default route if asked.
pub(crate) fn pod_routes(conf: &BridgeConf, gw: Ipv4Addr) -> Vec<RouteOut> {
    let mut out: Vec<RouteOut> = conf
        .ipam
        .routes
        .iter()
        .map(|r| RouteOut {
            dst: r.dst,
            gw: r.gw,
        })
        .collect();
    if conf.is_default_gateway && !out.iter().any(|r| r.dst.prefix_len() == 0) {
        out.push(RouteOut {
            dst: "0.0.0.0/0".parse().expect("literal"),
            gw: Some(gw),
        });
    }
    out
}

/// DEL: detaches; succeeds when nothing is left to remove. `netns` may be
/// absent or already gone.
pub async fn del(
    conf: &BridgeConf,
    host_ns: &Netns,
    netns: Option<&Path>,
    ifname: &IfName,
    container_id: &str,
) -> Result<(), CniError> {
    let mut errors = Vec::new();
    if let Err(e) = ipam::release(&conf.ipam, &conf.network, container_id, ifname.as_str()) {
        errors.push(ipam_error(e));
    }
    let veth = host_veth_name(container_id, ifname.as_str());
    match Netlink::connect(host_ns) {
        Ok(host) => {
            if let Err(e) = host.del_link_by_name(&veth).await {
                errors.push(kernel("cannot delete host veth")(e));
            }
        }
        Err(e) => errors.push(kernel("cannot talk to the node namespace")(e)),
    }
    if let Some(pod_ns) = netns.and_then(|p| Netns::open(p).ok()) {
        match Netlink::connect(&pod_ns) {
            Ok(pod) => {
                if let Err(e) = pod.del_link_by_name(ifname.as_str()).await {
                    errors.push(kernel("cannot delete pod interface")(e));
                }
            }
            Err(e) => errors.push(kernel("cannot talk to the pod namespace")(e)),
        }
    }
    if conf.ip_masq
        && let Err(e) = super::masq::del(host_ns, &conf.network, container_id, ifname.as_str())
    {
        errors.push(CniError::with(
            ErrorCode::Io,
            "cannot remove masquerade rule",
            &e,
        ));
    }
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(CniError::new(
            errors[0].code,
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        )),
    }
}

/// CHECK: the interface exists in the pod with the address of `prev`, and
/// IPAM still holds that address for this attachment.
pub async fn check(
    conf: &BridgeConf,
    req: &Request<'_>,
    prev: &serde_json::Value,
) -> Result<(), CniError> {
    let (addr, _) = CniResult::pod_address(prev).ok_or_else(|| {
        CniError::new(
            ErrorCode::InvalidConfig,
            "CHECK needs a prevResult with an address",
        )
    })?;
    let pod_ns = Netns::open(req.netns).map_err(|e| {
        CniError::with(
            ErrorCode::UnknownContainer,
            format!("cannot open {}", req.netns.display()),
            &e,
        )
    })?;
    let pod = Netlink::connect(&pod_ns).map_err(kernel("cannot talk to the pod namespace"))?;
    let fail = |m: String| CniError::new(ErrorCode::CheckFailed, m);
    let link = pod
        .link(req.ifname.as_str())
        .await
        .map_err(kernel("link lookup"))?
        .ok_or_else(|| fail(format!("interface {} is missing", req.ifname)))?;
    let addrs = pod
        .addresses(link.index)
        .await
        .map_err(kernel("address lookup"))?;
    if !addrs.contains(&ipnet::IpNet::V4(addr)) {
        return Err(fail(format!(
            "{} does not carry {addr} (has {addrs:?})",
            req.ifname
        )));
    }
    let store = ipam::FileStore::open(&conf.ipam.state_dir(&conf.network))
        .map_err(|e| CniError::with(ErrorCode::Io, "IPAM store", &e))?;
    let held = store
        .find(req.container_id, req.ifname.as_str())
        .map_err(|e| CniError::with(ErrorCode::Io, "IPAM store", &e))?;
    if !held.contains(&addr.addr()) {
        return Err(fail(format!("IPAM holds {held:?}, not {}", addr.addr())));
    }
    let host =
        Netlink::connect(req.host_ns).map_err(kernel("cannot talk to the node namespace"))?;
    let veth = host_veth_name(req.container_id, req.ifname.as_str());
    let bridge = host
        .link(conf.bridge.as_str())
        .await
        .map_err(kernel("link lookup"))?;
    let hv = host.link(&veth).await.map_err(kernel("link lookup"))?;
    match (bridge, hv) {
        (Some(b), Some(h)) if h.master == Some(b.index) => Ok(()),
        _ => Err(fail(format!(
            "host veth {veth} is missing or not on bridge {}",
            conf.bridge
        ))),
    }
}

/// GC: releases every address not held by one of `valid`.
pub fn gc(conf: &BridgeConf, valid: &[Attachment]) -> Result<Vec<Ipv4Addr>, CniError> {
    let dir = conf.ipam.state_dir(&conf.network);
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let io = |e: ipam::StoreError| CniError::with(ErrorCode::Io, "IPAM store", &e);
    let store = ipam::FileStore::open(&dir).map_err(io)?;
    let _lock = store.lock().map_err(io)?;
    store
        .release_unless(|id, ifname| {
            valid
                .iter()
                .any(|a| a.container_id == id && a.ifname == ifname)
        })
        .map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_names_are_stable_and_short() {
        let a = host_veth_name("abc", "eth0");
        assert_eq!(a, host_veth_name("abc", "eth0"));
        assert_ne!(a, host_veth_name("abc", "eth1"));
        assert_ne!(a, host_veth_name("abd", "eth0"));
        assert!(a.len() <= 15 && a.starts_with("veth"));
    }
}
