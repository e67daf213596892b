//! Pure rendering: desired Service state → the nftables objects one family's
//! table must hold ([`Desired`]).
//!
//! Layout (see `docs` in the crate root): every per-packet decision is a hash
//! lookup in a few global named maps, so cost does not grow with the number of
//! Services, and load cost stays linear because ordinary Services create no
//! per-Service chains or sets at all:
//!
//! - an ordinary Service port with N ≤ [`DISPATCH_MAX`] endpoints is one
//!   element of the fixed plain set `addr-n-<proto>-N` (and `nodeport-n-…`
//!   for its NodePort); fixed chains `addr-dispatch-<proto>` test those sets
//!   in turn (≤ 16 hash lookups, whatever the number of Services) and `goto
//!   pick-<proto>-N`, which DNATs through
//!   `ip daddr . tcp dport . numgen random mod N map @addr-eps-tcp` (one
//!   endpoint map per protocol). Adding, removing or rescaling such a Service
//!   writes plain set/map elements only: a `goto` element in a verdict map
//!   makes the kernel re-validate the whole table at commit (tens of ms at
//!   100k Services);
//! - `service-ips` (`addr . proto . port : verdict`) and `service-nodeports`
//!   (`proto . port : verdict`) dispatch the rest (per-Service chains, drops,
//!   Services with more than [`DISPATCH_MAX`] endpoints via shared
//!   `pick-<proto>-N` chains);
//! - only Services needing per-Service state (ClientIP affinity,
//!   externalTrafficPolicy Local) get small per-Service chains and named sets
//!   (see [`special`]).

mod fragment;
pub mod special;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

pub use ipnet::IpNet;

use crate::model::{Endpoint, Family, Protocol, ProxyState, ServicePort};

pub use fragment::{Fragment, Touched};

/// Name of the nftables table knet-proxy owns in each family.
pub const DEFAULT_TABLE: &str = "knet-proxy";
/// kube-proxy's masquerade mark bit (bit 14).
pub const DEFAULT_MASQUERADE_BIT: u8 = 14;

/// Endpoint counts up to this are dispatched through fixed per-count sets
/// (`addr-n-<proto>-<N>`, `nodeport-n-<proto>-<N>`) and fixed pick chains in
/// the skeleton, so adding or moving an ordinary Service touches only plain
/// set elements. A `goto` element in a verdict map would make the kernel
/// re-validate the whole table on commit (walking every verdict-map element:
/// 50–90 ms at 100k Services). Larger Services use `service-ips` verdicts.
pub const DISPATCH_MAX: usize = 16;

const PROTOS: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

/// The fixed set holding keys of Services with `n` endpoints.
fn dispatch_set(kind: PickKind, proto: Protocol, n: usize) -> String {
    let prefix = if kind == PickKind::NodePort {
        "nodeport-n"
    } else {
        "addr-n"
    };
    format!("{prefix}-{}-{n}", proto.nft())
}

/// Node-level settings that shape the ruleset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderConfig {
    /// Table name (the same in the `ip` and `ip6` families).
    pub table: String,
    /// Pod network CIDRs: traffic from outside them to a ClusterIP is masqueraded,
    /// and traffic from inside them short-circuits externalTrafficPolicy Local.
    pub cluster_cidrs: Vec<IpNet>,
    /// Bit of `meta mark` used to request masquerading.
    pub masquerade_bit: u8,
}

impl Default for RenderConfig {
    fn default() -> Self {
        RenderConfig {
            table: DEFAULT_TABLE.to_string(),
            cluster_cidrs: Vec::new(),
            masquerade_bit: DEFAULT_MASQUERADE_BIT,
        }
    }
}

/// Declaration of a per-Service named set or map.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SetDecl {
    /// `set` or `map`.
    pub kind: &'static str,
    /// Body inside the braces, e.g. `type ipv4_addr; flags dynamic,timeout; timeout 10800s;`.
    pub body: String,
}

/// Every object the table should hold, as nft text fragments.
///
/// `skeleton` (base chains and global maps) depends only on the configuration;
/// `sets`, `chains` and `elements` are diffed object by object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    /// `ip` or `ip6` table.
    pub family: Option<Family>,
    /// Table name.
    pub table: String,
    /// Table body holding the fixed objects.
    pub skeleton: String,
    /// Per-Service sets/maps by name.
    pub sets: BTreeMap<String, SetDecl>,
    /// Non-base chains by name → rules.
    pub chains: BTreeMap<String, Vec<String>>,
    /// Elements of every set/map: set name → key → value (`""` for plain sets).
    pub elements: BTreeMap<String, BTreeMap<String, String>>,
    /// How many Service ports contribute each object (see [`Fragment`]).
    refs: std::collections::HashMap<String, u32>,
}

/// nft spellings that differ between the `ip` and `ip6` families.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fam {
    pub(crate) family: Family,
    /// Table family and payload protocol (`ip` / `ip6`).
    pub(crate) ip: &'static str,
    /// Address datatype.
    pub(crate) addr: &'static str,
    /// Loopback prefix excluded from NodePorts.
    pub(crate) loopback: &'static str,
}

impl Fam {
    pub(crate) fn new(family: Family) -> Fam {
        match family {
            Family::V4 => Fam {
                family,
                ip: "ip",
                addr: "ipv4_addr",
                loopback: "127.0.0.0/8",
            },
            Family::V6 => Fam {
                family,
                ip: "ip6",
                addr: "ipv6_addr",
                loopback: "::1",
            },
        }
    }
}

/// `addr . proto . port` key of `service-ips`.
pub(crate) fn addr_key(ip: &IpAddr, proto: Protocol, port: u16) -> String {
    format!("{ip} . {} . {port}", proto.nft())
}

/// `ip . port` value of an endpoint map.
pub(crate) fn ep_value(ep: &Endpoint) -> String {
    format!("{} . {}", ep.ip, ep.port)
}

/// An empty table of `family` (only the fixed objects).
pub fn empty(family: Family, cfg: &RenderConfig) -> Desired {
    Desired {
        family: Some(family),
        table: cfg.table.clone(),
        skeleton: skeleton(Fam::new(family), cfg),
        ..Desired::default()
    }
}

/// Renders one family's desired table from the desired Service state.
pub fn render(state: &ProxyState, family: Family, cfg: &RenderConfig) -> Desired {
    let mut d = empty(family, cfg);
    for port in state.family(family) {
        d.add_fragment(&render_port(port, cfg), None);
    }
    d
}

/// The objects one Service port contributes (shared ones, such as pick chains
/// and hairpin entries, are reference-counted by [`Desired::add_fragment`]).
pub fn render_port(port: &ServicePort, cfg: &RenderConfig) -> Fragment {
    let fam = Fam::new(port.family);
    let mut f = Fragment::default();
    f.elem("cluster-ips", port.cluster_ip.to_string(), String::new());
    for ep in port.cluster.iter().chain(&port.local) {
        f.elem("hairpin", format!("{} . {}", ep.ip, ep.ip), String::new());
    }
    firewall(&mut f, port);
    if special::needs_chains(port) {
        special::render(&mut f, fam, cfg, port);
    } else {
        let mut picks: BTreeSet<(PickKind, Protocol, usize)> = BTreeSet::new();
        plain(&mut f, port, &mut picks);
        for (kind, proto, n) in picks {
            f.chain(kind.chain_name(proto, n), kind.rules(fam, cfg, proto, n));
        }
    }
    f
}

/// Which shared pick chain a verdict jumps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PickKind {
    /// ClusterIP traffic: no masquerade.
    Addr,
    /// External address traffic: masquerade.
    AddrMasq,
    /// NodePort traffic: masquerade; keyed by proto . port.
    NodePort,
}

impl PickKind {
    fn chain_name(self, proto: Protocol, n: usize) -> String {
        let prefix = match self {
            PickKind::Addr => "pick",
            PickKind::AddrMasq => "pick-masq",
            PickKind::NodePort => "pick-nodeport",
        };
        format!("{prefix}-{}-{n}", proto.nft())
    }

    fn rules(self, fam: Fam, _cfg: &RenderConfig, proto: Protocol, n: usize) -> Vec<String> {
        let (ip, p) = (fam.ip, proto.nft());
        let mut rules = Vec::new();
        if self != PickKind::Addr {
            rules.push("jump mark-for-masquerade".to_string());
        }
        rules.push(match self {
            PickKind::NodePort => format!(
                "meta l4proto {p} dnat {ip} to {p} dport . numgen random mod {n} map @nodeport-eps-{p}"
            ),
            _ => format!(
                "meta l4proto {p} dnat {ip} to {ip} daddr . {p} dport . numgen random mod {n} map @addr-eps-{p}"
            ),
        });
        rules
    }
}

/// Ordinary Service port: only global map elements.
fn plain(d: &mut Fragment, port: &ServicePort, picks: &mut BTreeSet<(PickKind, Protocol, usize)>) {
    let proto = port.name.protocol;
    let key = addr_key(&port.cluster_ip, proto, port.port);
    let internal = port.internal_endpoints();
    if !internal.is_empty() {
        addr_target(
            d,
            (&port.cluster_ip, port.port),
            internal,
            PickKind::Addr,
            proto,
            picks,
        );
    } else if port.internal_local && !port.cluster.is_empty() {
        d.elem("service-ips", key, "drop".to_string());
    } else {
        d.elem("no-endpoint-services", key, String::new());
    }
    for ip in port.external_ips.iter().chain(&port.lb_ips) {
        let key = addr_key(ip, proto, port.port);
        if port.cluster.is_empty() {
            d.elem("no-endpoint-services", key, String::new());
        } else {
            addr_target(
                d,
                (ip, port.port),
                &port.cluster,
                PickKind::AddrMasq,
                proto,
                picks,
            );
        }
    }
    if let Some(np) = port.node_port {
        let key = format!("{} . {np}", proto.nft());
        if port.cluster.is_empty() {
            d.elem("no-endpoint-nodeports", key, String::new());
        } else {
            let n = port.cluster.len();
            if n <= DISPATCH_MAX {
                d.elem(
                    &dispatch_set(PickKind::NodePort, proto, n),
                    np.to_string(),
                    String::new(),
                );
            } else {
                picks.insert((PickKind::NodePort, proto, n));
                d.elem(
                    "service-nodeports",
                    key.clone(),
                    format!("goto {}", PickKind::NodePort.chain_name(proto, n)),
                );
            }
            for (i, ep) in port.cluster.iter().enumerate() {
                d.elem(
                    &format!("nodeport-eps-{}", proto.nft()),
                    format!("{np} . {i}"),
                    ep_value(ep),
                );
            }
        }
    }
}

fn addr_target(
    d: &mut Fragment,
    (ip, port): (&IpAddr, u16),
    eps: &[Endpoint],
    kind: PickKind,
    proto: Protocol,
    picks: &mut BTreeSet<(PickKind, Protocol, usize)>,
) {
    let n = eps.len();
    if n <= DISPATCH_MAX {
        // Plain set elements only: adding them needs no ruleset validation.
        if kind == PickKind::AddrMasq {
            d.elem("external-keys", addr_key(ip, proto, port), String::new());
        }
        d.elem(
            &dispatch_set(PickKind::Addr, proto, n),
            format!("{ip} . {port}"),
            String::new(),
        );
    } else {
        picks.insert((kind, proto, n));
        d.elem(
            "service-ips",
            addr_key(ip, proto, port),
            format!("goto {}", kind.chain_name(proto, n)),
        );
    }
    for (i, ep) in eps.iter().enumerate() {
        d.elem(
            &format!("addr-eps-{}", proto.nft()),
            format!("{ip} . {port} . {i}"),
            ep_value(ep),
        );
    }
}

/// loadBalancerSourceRanges: LB addresses only accept the listed sources.
fn firewall(d: &mut Fragment, port: &ServicePort) {
    if port.source_ranges.is_empty() {
        return;
    }
    for ip in &port.lb_ips {
        let key = addr_key(ip, port.name.protocol, port.port);
        d.elem("firewall-ips", key.clone(), String::new());
        for range in &port.source_ranges {
            d.elem(
                "firewall-allow",
                format!("{key} . {}", range.trunc()),
                String::new(),
            );
        }
    }
}

/// The fixed part of the table: global maps, base chains and helpers.
fn skeleton(fam: Fam, cfg: &RenderConfig) -> String {
    let Fam {
        ip, addr, loopback, ..
    } = fam;
    let mark = 1u32 << cfg.masquerade_bit;
    let cidrs: Vec<String> = cfg
        .cluster_cidrs
        .iter()
        .filter(|c| Family::of(&c.addr()) == fam.family)
        .map(|c| c.trunc().to_string())
        .collect();
    let masq_outside = if cidrs.is_empty() {
        String::new()
    } else {
        format!(
            "\t\t{ip} saddr != {{ {} }} {ip} daddr @cluster-ips jump mark-for-masquerade\n",
            cidrs.join(", ")
        )
    };
    let mut dispatch = String::new();
    for proto in PROTOS {
        let p = proto.nft();
        let (mut addr_rules, mut np_rules) = (String::new(), String::new());
        for n in 1..=DISPATCH_MAX {
            let (aset, nset) = (
                dispatch_set(PickKind::Addr, proto, n),
                dispatch_set(PickKind::NodePort, proto, n),
            );
            let _ = writeln!(
                dispatch,
                "\tset {aset} {{ type {addr} . inet_service; }}\n\tset {nset} {{ type inet_service; }}"
            );
            for kind in [PickKind::Addr, PickKind::NodePort] {
                let _ = writeln!(dispatch, "\tchain {} {{", kind.chain_name(proto, n));
                for r in kind.rules(fam, cfg, proto, n) {
                    let _ = writeln!(dispatch, "\t\t{r}");
                }
                dispatch.push_str("\t}\n");
            }
            let _ = writeln!(
                addr_rules,
                "\t\t{ip} daddr . {p} dport @{aset} goto {}",
                PickKind::Addr.chain_name(proto, n)
            );
            let _ = writeln!(
                np_rules,
                "\t\t{p} dport @{nset} goto {}",
                PickKind::NodePort.chain_name(proto, n)
            );
        }
        let _ = write!(
            dispatch,
            "\tchain addr-dispatch-{p} {{\n{addr_rules}\t}}\n\tchain nodeport-dispatch-{p} {{\n{np_rules}\t}}\n"
        );
    }
    let mut eps_maps = String::new();
    for p in ["tcp", "udp", "sctp"] {
        let _ = writeln!(
            eps_maps,
            "\tmap addr-eps-{p} {{ typeof {ip} daddr . {p} dport . numgen random mod 1 : {ip} daddr . {p} dport; }}\n\
             \tmap nodeport-eps-{p} {{ typeof {p} dport . numgen random mod 1 : {ip} daddr . {p} dport; }}"
        );
    }
    format!(
        "\tmap service-ips {{ type {addr} . inet_proto . inet_service : verdict; }}
\tmap service-nodeports {{ type inet_proto . inet_service : verdict; }}
{eps_maps}\
\tset cluster-ips {{ type {addr}; }}
\tset external-keys {{ type {addr} . inet_proto . inet_service; }}
\tset no-endpoint-services {{ type {addr} . inet_proto . inet_service; }}
\tset no-endpoint-nodeports {{ type inet_proto . inet_service; }}
\tset hairpin {{ type {addr} . {addr}; }}
\tset firewall-ips {{ type {addr} . inet_proto . inet_service; }}
\tset firewall-allow {{ type {addr} . inet_proto . inet_service . {addr}; flags interval; }}
\tchain mark-for-masquerade {{
\t\tmeta mark set meta mark | {mark:#x}
\t}}
{dispatch}\
\tchain masquerading {{
\t\tct status dnat {ip} saddr . {ip} daddr @hairpin jump mark-for-masquerade
\t\tmeta mark & {mark:#x} == 0 return
\t\tmeta mark set meta mark ^ {mark:#x}
\t\tmasquerade fully-random
\t}}
\tchain reject-chain {{
\t\tmeta l4proto tcp reject with tcp reset
\t\treject
\t}}
\tchain firewall-check {{
\t\t{ip} daddr . meta l4proto . th dport @firewall-ips {ip} daddr . meta l4proto . th dport . {ip} saddr != @firewall-allow drop
\t}}
\tchain reject-check {{
\t\t{ip} daddr . meta l4proto . th dport @no-endpoint-services goto reject-chain
\t\tfib daddr type local {ip} daddr != {loopback} meta l4proto . th dport @no-endpoint-nodeports goto reject-chain
\t\t{ip} daddr @cluster-ips goto reject-chain
\t}}
\tchain services {{
{masq_outside}\t\t{ip} daddr . meta l4proto . th dport vmap @service-ips
\t\t{ip} daddr . meta l4proto . th dport @external-keys jump mark-for-masquerade
\t\tmeta l4proto vmap {{ tcp : jump addr-dispatch-tcp, udp : jump addr-dispatch-udp, sctp : jump addr-dispatch-sctp }}
\t\tfib daddr type local {ip} daddr != {loopback} meta l4proto . th dport vmap @service-nodeports
\t\tfib daddr type local {ip} daddr != {loopback} meta l4proto vmap {{ tcp : jump nodeport-dispatch-tcp, udp : jump nodeport-dispatch-udp, sctp : jump nodeport-dispatch-sctp }}
\t}}
\tchain filter-prerouting {{
\t\ttype filter hook prerouting priority -110; policy accept;
\t\tct state new jump firewall-check
\t}}
\tchain filter-output {{
\t\ttype filter hook output priority -110; policy accept;
\t\tct state new jump firewall-check
\t}}
\tchain filter-prerouting-post-dnat {{
\t\ttype filter hook prerouting priority -90; policy accept;
\t\tct state new jump reject-check
\t}}
\tchain filter-output-post-dnat {{
\t\ttype filter hook output priority -90; policy accept;
\t\tct state new jump reject-check
\t}}
\tchain nat-prerouting {{
\t\ttype nat hook prerouting priority -100; policy accept;
\t\tjump services
\t}}
\tchain nat-output {{
\t\ttype nat hook output priority -100; policy accept;
\t\tjump services
\t}}
\tchain nat-postrouting {{
\t\ttype nat hook postrouting priority 100; policy accept;
\t\tjump masquerading
\t}}
"
    )
}
