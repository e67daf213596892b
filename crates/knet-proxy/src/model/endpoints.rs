//! Endpoint choice for one Service port: readiness, terminating fallback,
//! topology hints and locality (kube-proxy's `CategorizeEndpoints`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::{Endpoint, Family, NodeInfo, Protocol};

/// Endpoint sets chosen for one Service port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// For cluster-wide traffic.
    pub cluster: Vec<Endpoint>,
    /// On this node.
    pub local: Vec<Endpoint>,
    /// Ready endpoints on this node.
    pub local_ready: usize,
}

#[derive(Debug, Clone)]
struct Candidate {
    ep: Endpoint,
    ready: bool,
    serving_terminating: bool,
    local: bool,
    zones: Option<Vec<String>>,
}

fn candidates(
    slices: &[&EndpointSlice],
    family: Family,
    port_name: &str,
    protocol: Protocol,
    node: &NodeInfo,
) -> Vec<Candidate> {
    let want_type = match family {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    };
    let mut out: BTreeMap<Endpoint, Candidate> = BTreeMap::new();
    for slice in slices.iter().filter(|s| s.address_type == want_type) {
        let port = slice.ports.iter().flatten().find(|p| {
            p.name.as_deref().unwrap_or_default() == port_name
                && Protocol::parse(p.protocol.as_deref()) == Some(protocol)
        });
        let Some(port) = port
            .and_then(|p| p.port)
            .and_then(|p| u16::try_from(p).ok())
        else {
            continue;
        };
        for e in &slice.endpoints {
            let Some(ip) = e.addresses.first().and_then(|a| a.parse::<IpAddr>().ok()) else {
                continue;
            };
            let cond = e.conditions.clone().unwrap_or_default();
            let ready = cond.ready.unwrap_or(true);
            let serving = cond.serving.unwrap_or(ready);
            let terminating = cond.terminating.unwrap_or(false);
            let zones = e
                .hints
                .as_ref()
                .and_then(|h| h.for_zones.as_ref())
                .map(|z| z.iter().map(|z| z.name.clone()).collect::<Vec<_>>());
            let ep = Endpoint { ip, port };
            out.entry(ep).or_insert(Candidate {
                ep,
                ready,
                serving_terminating: serving && terminating,
                local: !node.name.is_empty() && e.node_name.as_deref() == Some(node.name.as_str()),
                zones,
            });
        }
    }
    out.into_values().collect()
}

/// Ready endpoints if any, else serving-and-terminating ones.
fn with_fallback<'a>(set: impl Iterator<Item = &'a Candidate> + Clone) -> Vec<Endpoint> {
    let ready: Vec<Endpoint> = set.clone().filter(|c| c.ready).map(|c| c.ep).collect();
    if !ready.is_empty() {
        return ready;
    }
    set.filter(|c| c.serving_terminating)
        .map(|c| c.ep)
        .collect()
}

/// Chooses the cluster and local endpoint sets of one Service port.
///
/// Topology hints narrow the cluster set to this node's zone only when every
/// ready endpoint carries a zone hint and at least one names this zone.
pub fn select_endpoints(
    slices: &[&EndpointSlice],
    family: Family,
    port_name: &str,
    protocol: Protocol,
    node: &NodeInfo,
) -> Selection {
    let all = candidates(slices, family, port_name, protocol, node);
    let ready: Vec<&Candidate> = all.iter().filter(|c| c.ready).collect();
    let use_hints = node.zone.as_ref().is_some_and(|zone| {
        !ready.is_empty()
            && ready
                .iter()
                .all(|c| c.zones.as_ref().is_some_and(|z| !z.is_empty()))
            && ready
                .iter()
                .any(|c| c.zones.as_ref().is_some_and(|z| z.contains(zone)))
    });
    let cluster = if use_hints {
        let zone = node.zone.clone().unwrap_or_default();
        ready
            .iter()
            .filter(|c| c.zones.as_ref().is_some_and(|z| z.contains(&zone)))
            .map(|c| c.ep)
            .collect()
    } else {
        with_fallback(all.iter())
    };
    let local = with_fallback(all.iter().filter(|c| c.local));
    let local_ready = all.iter().filter(|c| c.local && c.ready).count();
    Selection {
        cluster,
        local,
        local_ready,
    }
}
