//! The kernel steps of ADD.

use super::{Request, host_veth_name, kernel};
use crate::cni::conf::BridgeConf;
use crate::cni::error::{CniError, ErrorCode};
use crate::cni::result::{CniResult, Interface};
use crate::ipam::Allocation;
use crate::netlink::{Link, Netlink, Route4, VethSpec};
use crate::netns::Netns;

/// Creates the bridge if missing, brings it up, and (for `isGateway`) puts
/// the gateway address on it and turns on forwarding in the node namespace.
pub(super) async fn ensure_bridge(
    host: &Netlink,
    host_ns: &Netns,
    conf: &BridgeConf,
) -> Result<Link, CniError> {
    let name = conf.bridge.as_str();
    let k = |m| kernel(m);
    let link = match host.link(name).await.map_err(k("bridge lookup"))? {
        Some(l) => l,
        None => {
            match host.create_bridge(name, conf.mtu).await {
                Err(e) if !e.is_exists() => return Err(k("cannot create bridge")(e)),
                _ => {}
            }
            host.require_link(name).await.map_err(k("bridge lookup"))?
        }
    };
    if link.kind.as_deref() != Some("bridge") {
        return Err(CniError::new(
            ErrorCode::InvalidConfig,
            format!("{name} exists and is not a bridge (kind {:?})", link.kind),
        ));
    }
    if !link.up {
        host.set_up(link.index)
            .await
            .map_err(k("cannot set bridge up"))?;
    }
    if conf.promisc {
        host.set_promisc(link.index, true)
            .await
            .map_err(k("promisc"))?;
    }
    if conf.is_gateway {
        let ranges = conf
            .ipam
            .range_set()
            .map_err(|e| CniError::with(ErrorCode::InvalidConfig, "ranges", &e))?;
        for r in ranges {
            let gw = ipnet::Ipv4Net::new(r.gateway, r.subnet.prefix_len()).expect("valid prefix");
            host.add_address(link.index, gw.into())
                .await
                .map_err(k("cannot put the gateway address on the bridge"))?;
        }
        if host_ns.read_sysctl("net/ipv4/ip_forward").ok().as_deref() != Some("1") {
            host_ns
                .write_sysctl("net/ipv4/ip_forward", "1")
                .map_err(|e| CniError::with(ErrorCode::Io, "cannot enable ip_forward", &e))?;
        }
    }
    Ok(link)
}

/// Everything one ADD works with.
pub(super) struct Env<'a> {
    pub(super) conf: &'a BridgeConf,
    pub(super) req: &'a Request<'a>,
    pub(super) host: &'a Netlink,
    pub(super) pod: &'a Netlink,
    pub(super) pod_ns: &'a Netns,
}

impl Env<'_> {
    /// Veth, ports, pod addressing and routes, masquerade. Returns the result
    /// with its interfaces filled in.
    pub(super) async fn attach(
        &self,
        bridge: &Link,
        alloc: &Allocation,
    ) -> Result<CniResult, CniError> {
        let (conf, req) = (self.conf, self.req);
        let veth = host_veth_name(req.container_id, req.ifname.as_str());
        if self
            .host
            .link(&veth)
            .await
            .map_err(kernel("veth lookup"))?
            .is_some()
        {
            tracing::info!(%veth, "removing a stale host veth left by an earlier attempt");
            self.host
                .del_link_by_name(&veth)
                .await
                .map_err(kernel("stale veth"))?;
        }
        self.host
            .create_veth(&VethSpec {
                name: &veth,
                peer_name: req.ifname.as_str(),
                peer_ns: self.pod_ns,
                mtu: conf.mtu,
                peer_mac: None,
            })
            .await
            .map_err(kernel("cannot create the veth pair"))?;
        let hv = self
            .host
            .require_link(&veth)
            .await
            .map_err(kernel("veth lookup"))?;
        self.host
            .set_master(hv.index, bridge.index)
            .await
            .map_err(kernel("cannot attach the veth to the bridge"))?;
        if conf.hairpin {
            self.host
                .set_hairpin(hv.index, true)
                .await
                .map_err(kernel("hairpin"))?;
        }
        self.host
            .set_up(hv.index)
            .await
            .map_err(kernel("cannot set the host veth up"))?;
        let pif = self.configure_pod(alloc).await?;
        if conf.ip_masq {
            crate::cni::masq::add(
                req.host_ns,
                &conf.network,
                req.container_id,
                req.ifname.as_str(),
                alloc.address,
                &conf.ipam.routes.iter().map(|r| r.dst).collect::<Vec<_>>(),
            )
            .map_err(|e| CniError::with(ErrorCode::Io, "cannot install the masquerade rule", &e))?;
        }
        let bridge_now = self
            .host
            .require_link(bridge.name.as_str())
            .await
            .map_err(kernel("bridge"))?;
        let mac = |l: &Link| l.mac.map(|m| m.to_string()).unwrap_or_default();
        Ok(CniResult {
            interfaces: vec![
                Interface {
                    name: bridge_now.name.clone(),
                    mac: mac(&bridge_now),
                    mtu: Some(bridge_now.mtu),
                    sandbox: None,
                },
                Interface {
                    name: veth.clone(),
                    mac: mac(&hv),
                    mtu: Some(hv.mtu),
                    sandbox: None,
                },
                Interface {
                    name: pif.name.clone(),
                    mac: mac(&pif),
                    mtu: Some(pif.mtu),
                    sandbox: Some(req.netns.display().to_string()),
                },
            ],
            ips: Vec::new(),
            routes: Vec::new(),
        })
    }

    /// Like the reference plugin: gratuitous ARP on link up, no IPv6 DAD.
    fn pod_sysctls(&self) -> Result<(), CniError> {
        let ifname = self.req.ifname.as_str();
        let key = format!("net/ipv4/conf/{ifname}/arp_notify");
        let v6 = format!("net/ipv6/conf/{ifname}/accept_dad");
        let res = self.pod_ns.run(|| {
            // One thread entry for both writes; IPv6 may be disabled.
            let _ = std::fs::write(std::path::Path::new("/proc/sys").join(&v6), "0");
            std::fs::write(std::path::Path::new("/proc/sys").join(&key), "1")
        });
        match res {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(CniError::with(
                ErrorCode::Io,
                format!("cannot set {key}"),
                &e,
            )),
            Err(e) => Err(CniError::with(
                ErrorCode::Io,
                "cannot enter the pod namespace",
                &e,
            )),
        }
    }

    async fn configure_pod(&self, alloc: &Allocation) -> Result<Link, CniError> {
        let pod = self.pod;
        let lo = pod.require_link("lo").await.map_err(kernel("lo lookup"))?;
        pod.set_up(lo.index)
            .await
            .map_err(kernel("cannot set lo up"))?;
        let pif = pod
            .require_link(self.req.ifname.as_str())
            .await
            .map_err(kernel("pod interface lookup"))?;
        pod.add_address(pif.index, alloc.address.into())
            .await
            .map_err(kernel("cannot address the pod interface"))?;
        self.pod_sysctls()?;
        pod.set_up(pif.index)
            .await
            .map_err(kernel("cannot set the pod interface up"))?;
        for r in super::pod_routes(self.conf, alloc.gateway) {
            let route = Route4 {
                dst: r.dst,
                gateway: Some(r.gw.unwrap_or(alloc.gateway)),
                oif: Some(pif.index),
                onlink: false,
            };
            pod.replace_route(&route)
                .await
                .map_err(kernel("cannot add a pod route"))?;
        }
        Ok(pif)
    }
}
