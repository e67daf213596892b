//! Service ports that need per-Service state: ClientIP session affinity and
//! externalTrafficPolicy Local. They get small per-Service chains, like
//! kube-proxy's, but the random choice goes through a *named* map (anonymous
//! inline vmaps are what makes kube-proxy's layout load in quadratic time).
//!
//! Objects for Service port `H` (a hash of its name):
//! - `ep-H-<hex ip port>`: per endpoint; records affinity, then DNATs;
//! - `aff-H-<hex ip port>-t<secs>`: per-endpoint dynamic set of client IPs;
//! - `svc-H` / `local-H`: pick over the cluster / local set (affinity first,
//!   then `numgen random mod N vmap @pick-H-c` / `@pick-H-l`);
//! - `ext-H`: entry for external addresses and NodePorts (masquerade, or the
//!   externalTrafficPolicy Local short-circuits).

use std::fmt::Write as _;
use std::net::IpAddr;

use super::{Fam, Fragment, RenderConfig, SetDecl, addr_key};
use crate::model::{Endpoint, Family, ServicePort, ServicePortName};

/// Whether a Service port needs per-Service chains.
pub(crate) fn needs_chains(port: &ServicePort) -> bool {
    port.affinity_timeout.is_some() || (port.external_local && port.has_external())
}

/// Stable short id of a Service port (FNV-1a 64, hex), used in object names.
pub fn port_id(name: &ServicePortName) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn ep_hex(ep: &Endpoint) -> String {
    let mut s = String::new();
    let bytes: Vec<u8> = match ep.ip {
        IpAddr::V4(ip) => ip.octets().to_vec(),
        IpAddr::V6(ip) => ip.octets().to_vec(),
    };
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    let _ = write!(s, "-{}", ep.port);
    s
}

struct Names {
    id: String,
    timeout: Option<u32>,
}

impl Names {
    fn ep_chain(&self, ep: &Endpoint) -> String {
        format!("ep-{}-{}", self.id, ep_hex(ep))
    }
    fn aff_set(&self, ep: &Endpoint) -> Option<String> {
        self.timeout
            .map(|t| format!("aff-{}-{}-t{t}", self.id, ep_hex(ep)))
    }
}

/// Renders the per-Service chains and the dispatch elements of one port.
pub(crate) fn render(d: &mut Fragment, fam: Fam, cfg: &RenderConfig, port: &ServicePort) {
    let names = Names {
        id: port_id(&port.name),
        timeout: port.affinity_timeout,
    };
    let proto = port.name.protocol;
    let mut all: Vec<Endpoint> = port.cluster.iter().chain(&port.local).copied().collect();
    all.sort();
    all.dedup();
    for ep in &all {
        endpoint_chain(d, fam, &names, port, ep);
    }
    let svc = format!("svc-{}", names.id);
    let local = format!("local-{}", names.id);
    let ext = format!("ext-{}", names.id);
    if !port.cluster.is_empty() {
        pick_chain(
            d,
            fam,
            &names,
            &svc,
            &format!("pick-{}-c", names.id),
            &port.cluster,
        );
    }
    let uses_local = port.internal_local || port.external_local;
    if uses_local && !port.local.is_empty() {
        pick_chain(
            d,
            fam,
            &names,
            &local,
            &format!("pick-{}-l", names.id),
            &port.local,
        );
    }
    // ClusterIP.
    let key = addr_key(&port.cluster_ip, proto, port.port);
    if port.cluster.is_empty() {
        d.elem("no-endpoint-services", key, String::new());
    } else if !port.internal_local {
        d.elem("service-ips", key, format!("goto {svc}"));
    } else if port.local.is_empty() {
        d.elem("service-ips", key, "drop".to_string());
    } else {
        d.elem("service-ips", key, format!("goto {local}"));
    }
    // External addresses and NodePort.
    let externals: Vec<String> = port
        .external_ips
        .iter()
        .chain(&port.lb_ips)
        .map(|ip| addr_key(ip, proto, port.port))
        .collect();
    let np = port.node_port.map(|np| format!("{} . {np}", proto.nft()));
    if port.cluster.is_empty() {
        for key in externals {
            d.elem("no-endpoint-services", key, String::new());
        }
        if let Some(key) = np {
            d.elem("no-endpoint-nodeports", key, String::new());
        }
        return;
    }
    if externals.is_empty() && np.is_none() {
        return;
    }
    d.chain(ext.clone(), ext_rules(fam, cfg, port, &svc, &local));
    for key in externals {
        d.elem("service-ips", key, format!("goto {ext}"));
    }
    if let Some(key) = np {
        d.elem("service-nodeports", key, format!("goto {ext}"));
    }
}

fn endpoint_chain(d: &mut Fragment, fam: Fam, names: &Names, port: &ServicePort, ep: &Endpoint) {
    let mut rules = Vec::new();
    if let Some(set) = names.aff_set(ep) {
        let timeout = names.timeout.unwrap_or_default();
        d.set(
            set.clone(),
            SetDecl {
                kind: "set",
                body: format!(
                    "type {}; flags dynamic,timeout; timeout {timeout}s;",
                    fam.addr
                ),
            },
        );
        rules.push(format!("update @{set} {{ {} saddr }}", fam.ip));
    }
    rules.push(format!(
        "meta l4proto {} dnat {} to {ep}",
        port.name.protocol.nft(),
        fam.ip
    ));
    d.chain(names.ep_chain(ep), rules);
}

fn pick_chain(d: &mut Fragment, fam: Fam, names: &Names, chain: &str, map: &str, eps: &[Endpoint]) {
    let mut rules = Vec::new();
    for ep in eps {
        if let Some(set) = names.aff_set(ep) {
            rules.push(format!(
                "{} saddr @{set} goto {}",
                fam.ip,
                names.ep_chain(ep)
            ));
        }
    }
    rules.push(format!("numgen random mod {} vmap @{map}", eps.len()));
    d.set(
        map.to_string(),
        SetDecl {
            kind: "map",
            body: "typeof numgen random mod 1 : verdict;".to_string(),
        },
    );
    for (i, ep) in eps.iter().enumerate() {
        d.elem(map, i.to_string(), format!("goto {}", names.ep_chain(ep)));
    }
    d.chain(chain.to_string(), rules);
}

fn ext_rules(
    fam: Fam,
    cfg: &RenderConfig,
    port: &ServicePort,
    svc: &str,
    local: &str,
) -> Vec<String> {
    if !port.external_local {
        return vec![
            "jump mark-for-masquerade".to_string(),
            format!("goto {svc}"),
        ];
    }
    let mut rules: Vec<String> = cfg
        .cluster_cidrs
        .iter()
        .filter(|c| Family::of(&c.addr()) == fam.family)
        .map(|c| format!("{} saddr {} goto {svc}", fam.ip, c.trunc()))
        .collect();
    rules.push("fib saddr type local jump mark-for-masquerade".to_string());
    rules.push(format!("fib saddr type local goto {svc}"));
    if port.local.is_empty() {
        rules.push("drop".to_string());
    } else {
        rules.push(format!("goto {local}"));
    }
    rules
}
