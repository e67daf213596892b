//! Pure planning: desired node set + observed kernel state → ordered steps.
//!
//! Ownership: the agent owns routes whose destination lies inside the
//! cluster CIDR (but is not its own pod CIDR) and that leave via the
//! underlay with a gateway or via the VTEP; and the permanent neighbour and
//! FDB entries on the VTEP. Anything else in the namespace is left alone.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net};

use super::{Backend, NodeInfo};
use crate::netlink::{FdbEntry, Link, Neighbour, Route4, VxlanSpec};
use crate::types::Mac;

/// The kernel state the planner looks at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    /// The underlay link (`eth0`).
    pub underlay: Option<Link>,
    /// The VTEP, if present.
    pub vtep: Option<Link>,
    /// Addresses on the VTEP.
    pub vtep_addrs: Vec<IpNet>,
    /// Main-table IPv4 routes.
    pub routes: Vec<Route4>,
    /// IPv4 neighbours (all links).
    pub neighbours: Vec<Neighbour>,
    /// FDB entries of the VTEP.
    pub fdb: Vec<FdbEntry>,
}

/// What the node should look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// Routing mode.
    pub backend: Backend,
    /// The whole pod network.
    pub cluster_cidr: Ipv4Net,
    /// This node.
    pub this: NodeInfo,
    /// Every other node (with a pod CIDR).
    pub peers: Vec<NodeInfo>,
    /// The VTEP this node should have (vxlan only; `dev` filled by the caller).
    pub vtep: VxlanSpec,
}

/// One kernel write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create the VTEP.
    CreateVtep(VxlanSpec),
    /// Delete the VTEP (host-gw mode, or its parameters changed).
    DeleteVtep(u32),
    /// Put an address on a link.
    AddAddress(u32, IpNet),
    /// Bring a link up.
    SetUp(u32),
    /// Permanent neighbour `ip → mac` on `index`.
    ReplaceNeighbour(u32, Ipv4Addr, Mac),
    /// FDB `mac → dst` on `index`.
    ReplaceFdb(u32, Mac, Ipv4Addr),
    /// Add or replace a route.
    ReplaceRoute(Route4),
    /// Remove a route.
    DeleteRoute(Route4),
    /// Remove a neighbour.
    DeleteNeighbour(u32, Ipv4Addr),
    /// Remove an FDB entry.
    DeleteFdb(u32, Mac, Option<Ipv4Addr>),
}

/// The ordered steps of one reconcile pass.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Steps, in apply order.
    pub steps: Vec<Step>,
}

impl Plan {
    /// Whether the kernel already matches.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Plans one pass. When the VTEP must be created first, the plan stops
/// there: the caller applies it, observes again and plans again.
pub fn plan(d: &Desired, o: &Observed) -> Plan {
    let mut steps = Vec::new();
    let Some(underlay) = &o.underlay else {
        return Plan::default();
    };
    let vtep_index = match d.backend {
        Backend::HostGw => {
            if let Some(v) = &o.vtep {
                steps.push(Step::DeleteVtep(v.index));
            }
            None
        }
        Backend::Vxlan => match vtep_steps(d, o, &mut steps) {
            Some(i) => Some(i),
            None => return Plan { steps },
        },
    };
    let want = desired_entries(d, underlay.index, vtep_index);
    // Adds first, in flannel's order per peer: neighbour, FDB, route.
    for e in &want {
        let present = match e {
            Step::ReplaceNeighbour(i, ip, mac) => o
                .neighbours
                .iter()
                .any(|n| n.index == *i && n.ip == *ip && n.mac == Some(*mac) && n.permanent),
            Step::ReplaceFdb(i, mac, dst) => o
                .fdb
                .iter()
                .any(|f| f.index == *i && f.mac == *mac && f.dst == Some(*dst)),
            Step::ReplaceRoute(r) => o.routes.contains(r),
            _ => true,
        };
        if !present {
            steps.push(e.clone());
        }
    }
    steps.extend(stale_entries(d, o, &want, underlay.index, vtep_index));
    Plan { steps }
}

/// VTEP creation/repair; returns its index once it exists.
fn vtep_steps(d: &Desired, o: &Observed, steps: &mut Vec<Step>) -> Option<u32> {
    let Some(v) = &o.vtep else {
        steps.push(Step::CreateVtep(d.vtep.clone()));
        return None;
    };
    if v.kind.as_deref() != Some("vxlan") || v.mac != Some(d.vtep.mac) || v.mtu != d.vtep.mtu {
        steps.push(Step::DeleteVtep(v.index));
        steps.push(Step::CreateVtep(d.vtep.clone()));
        return None;
    }
    let addr = IpNet::V4(Ipv4Net::new(d.this.pod_cidr.network(), 32).expect("/32"));
    if !o.vtep_addrs.contains(&addr) {
        steps.push(Step::AddAddress(v.index, addr));
    }
    if !v.up {
        steps.push(Step::SetUp(v.index));
    }
    Some(v.index)
}

fn desired_entries(d: &Desired, underlay: u32, vtep: Option<u32>) -> Vec<Step> {
    let mut out = Vec::new();
    for p in &d.peers {
        match (d.backend, vtep) {
            (Backend::HostGw, _) => out.push(Step::ReplaceRoute(Route4 {
                dst: p.pod_cidr,
                gateway: Some(p.node_ip),
                oif: Some(underlay),
                onlink: false,
            })),
            (Backend::Vxlan, Some(v)) => {
                let Some(mac) = p.vtep_mac else { continue };
                let gw = p.pod_cidr.network();
                out.push(Step::ReplaceNeighbour(v, gw, mac));
                out.push(Step::ReplaceFdb(v, mac, p.node_ip));
                out.push(Step::ReplaceRoute(Route4 {
                    dst: p.pod_cidr,
                    gateway: Some(gw),
                    oif: Some(v),
                    onlink: true,
                }));
            }
            (Backend::Vxlan, None) => {}
        }
    }
    out
}

fn stale_entries(
    d: &Desired,
    o: &Observed,
    want: &[Step],
    underlay: u32,
    vtep: Option<u32>,
) -> Vec<Step> {
    let mut out = Vec::new();
    let wanted_routes: BTreeSet<&Route4> = want
        .iter()
        .filter_map(|s| match s {
            Step::ReplaceRoute(r) => Some(r),
            _ => None,
        })
        .collect();
    for r in &o.routes {
        let ours = d.cluster_cidr.contains(&r.dst)
            && r.dst != d.this.pod_cidr
            && ((r.oif == Some(underlay) && r.gateway.is_some())
                || (vtep.is_some() && r.oif == vtep));
        // A route to the same destination that differs is replaced, not deleted.
        let replaced = wanted_routes.iter().any(|w| w.dst == r.dst);
        if ours && !wanted_routes.contains(r) && !replaced {
            out.push(Step::DeleteRoute(r.clone()));
        }
    }
    let Some(v) = vtep else { return out };
    for n in o.neighbours.iter().filter(|n| n.index == v && n.permanent) {
        let wanted = want
            .iter()
            .any(|s| matches!(s, Step::ReplaceNeighbour(i, ip, _) if *i == v && *ip == n.ip));
        if !wanted {
            out.push(Step::DeleteNeighbour(v, n.ip));
        }
    }
    for f in o.fdb.iter().filter(|f| f.index == v && f.dst.is_some()) {
        let wanted = want
            .iter()
            .any(|s| matches!(s, Step::ReplaceFdb(i, mac, dst) if *i == v && *mac == f.mac && Some(*dst) == f.dst));
        if !wanted {
            out.push(Step::DeleteFdb(v, f.mac, f.dst));
        }
    }
    out
}

#[cfg(test)]
mod tests;
