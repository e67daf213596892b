//! Pure model: Services + EndpointSlices → the per-node desired Service state.
//!
//! Mirrors kube-proxy's `ServicePortName`-keyed view: one [`ServicePort`] per
//! (IP family, Service, port), carrying its addresses and the endpoint sets
//! the dataplane balances over, already filtered for readiness, terminating
//! fallback, topology hints and traffic policies.

mod endpoints;
#[cfg(test)]
mod tests;
mod tracker;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

pub use endpoints::select_endpoints;
pub use tracker::Tracker;

/// Label that hands a Service to another proxy; knet ignores such Services.
pub const LABEL_SERVICE_PROXY_NAME: &str = "service.kubernetes.io/service-proxy-name";
/// Label that marks a Service headless for proxies; knet ignores such Services.
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";
/// Label on an EndpointSlice naming its Service.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// kube-proxy's default ClientIP affinity timeout (3 h).
pub const DEFAULT_AFFINITY_TIMEOUT: u32 = 10_800;

/// IP family of a Service port; each family is programmed in its own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// IPv4 (`ip` table).
    V4,
    /// IPv6 (`ip6` table).
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(ip: &IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// Transport protocol of a Service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// Parses Kubernetes' spelling (`TCP`, `UDP`, `SCTP`; absent means TCP).
    pub fn parse(s: Option<&str>) -> Option<Protocol> {
        match s.unwrap_or("TCP") {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// nftables' lower-case name, also used in chain names.
    pub fn nft(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// kube-proxy's `ServicePortName`: namespace/name:port-name plus protocol.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServicePortName {
    /// Service namespace.
    pub namespace: String,
    /// Service name.
    pub name: String,
    /// Port name (empty for a single unnamed port).
    pub port: String,
    /// Protocol.
    pub protocol: Protocol,
}

impl fmt::Display for ServicePortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.namespace,
            self.name,
            self.protocol.nft(),
            self.port
        )
    }
}

/// One backend address of a Service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    /// Pod (or other) IP.
    pub ip: IpAddr,
    /// Target port.
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{ip}:{}", self.port),
            IpAddr::V6(ip) => write!(f, "[{ip}]:{}", self.port),
        }
    }
}

/// The node this proxy programs; decides which endpoints are local and which
/// topology hints apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeInfo {
    /// `metadata.name` of the Node.
    pub name: String,
    /// `topology.kubernetes.io/zone` of the Node, if known.
    pub zone: Option<String>,
}

/// Desired state of one Service port in one IP family on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// Identity.
    pub name: ServicePortName,
    /// IP family of every address and endpoint below.
    pub family: Family,
    /// Service port.
    pub port: u16,
    /// NodePort, if the Service has one.
    pub node_port: Option<u16>,
    /// ClusterIP of this family.
    pub cluster_ip: IpAddr,
    /// `spec.externalIPs` of this family.
    pub external_ips: Vec<IpAddr>,
    /// `status.loadBalancer.ingress[].ip` of this family.
    pub lb_ips: Vec<IpAddr>,
    /// `spec.loadBalancerSourceRanges` of this family (empty: allow all).
    pub source_ranges: Vec<IpNet>,
    /// ClientIP affinity timeout in seconds, if `sessionAffinity: ClientIP`.
    pub affinity_timeout: Option<u32>,
    /// `internalTrafficPolicy: Local`.
    pub internal_local: bool,
    /// `externalTrafficPolicy: Local` (only for NodePort/LoadBalancer Services).
    pub external_local: bool,
    /// `spec.healthCheckNodePort` (only with `external_local`).
    pub health_check_node_port: Option<u16>,
    /// Endpoints for cluster-wide traffic (ready, else serving+terminating; topology applied).
    pub cluster: Vec<Endpoint>,
    /// Endpoints on this node (ready, else serving+terminating).
    pub local: Vec<Endpoint>,
    /// Number of ready endpoints on this node (health-check count).
    pub local_ready: usize,
}

impl ServicePort {
    /// Endpoints for traffic to the ClusterIP (honours internalTrafficPolicy).
    pub fn internal_endpoints(&self) -> &[Endpoint] {
        if self.internal_local {
            &self.local
        } else {
            &self.cluster
        }
    }

    /// Endpoints for traffic to external addresses and NodePorts from outside.
    pub fn external_endpoints(&self) -> &[Endpoint] {
        if self.external_local {
            &self.local
        } else {
            &self.cluster
        }
    }

    /// Whether the port has NodePort or external addresses.
    pub fn has_external(&self) -> bool {
        self.node_port.is_some() || !self.external_ips.is_empty() || !self.lb_ips.is_empty()
    }
}

/// Everything the proxy programs, keyed for deterministic iteration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyState {
    /// Service ports by (family, name). Shared, so that states derived from
    /// one another compare unchanged ports by pointer.
    pub ports: BTreeMap<(Family, ServicePortName), Arc<ServicePort>>,
}

impl ProxyState {
    /// Applies `delta` in place (O(changed · log n)).
    pub fn apply(&mut self, delta: Delta) {
        for (key, port) in delta {
            match port {
                Some(p) => self.ports.insert(key, p),
                None => self.ports.remove(&key),
            };
        }
    }

    /// Whether any Service port of `family` exists (O(log n): keys sort by family first).
    pub fn has_family(&self, family: Family) -> bool {
        match family {
            Family::V4 => self.ports.keys().next().is_some_and(|k| k.0 == Family::V4),
            Family::V6 => self
                .ports
                .keys()
                .next_back()
                .is_some_and(|k| k.0 == Family::V6),
        }
    }

    /// Service ports of one family, in name order.
    pub fn family(&self, family: Family) -> impl Iterator<Item = &ServicePort> {
        self.ports
            .values()
            .map(|p| &**p)
            .filter(move |p| p.family == family)
    }
}

/// Why a Service is not proxied (for logs and `knet proxy services`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// `type: ExternalName`.
    ExternalName,
    /// `clusterIP: None`.
    Headless,
    /// Labelled `service.kubernetes.io/service-proxy-name` or `…/headless`.
    Label(&'static str),
    /// No usable ClusterIP.
    NoClusterIp,
}

/// Decides whether a Service is proxied at all.
pub fn skip_reason(svc: &Service) -> Option<Skip> {
    let labels = svc.metadata.labels.as_ref();
    for label in [LABEL_SERVICE_PROXY_NAME, LABEL_HEADLESS] {
        if labels.is_some_and(|l| l.contains_key(label)) {
            return Some(Skip::Label(label));
        }
    }
    let spec = svc.spec.as_ref()?;
    if spec.type_.as_deref() == Some("ExternalName") {
        return Some(Skip::ExternalName);
    }
    match spec.cluster_ip.as_deref() {
        Some("None") => Some(Skip::Headless),
        None | Some("") => Some(Skip::NoClusterIp),
        Some(_) => None,
    }
}

/// Builds the desired state from the current objects.
///
/// Slices are matched to Services by namespace and the
/// `kubernetes.io/service-name` label; Services that [`skip_reason`] rejects
/// are left out entirely.
pub fn build(services: &[Service], slices: &[EndpointSlice], node: &NodeInfo) -> ProxyState {
    let mut by_service: BTreeMap<(&str, &str), Vec<&EndpointSlice>> = BTreeMap::new();
    for slice in slices {
        let ns = slice.metadata.namespace.as_deref().unwrap_or("default");
        let labels = slice.metadata.labels.as_ref();
        if let Some(svc) = labels.and_then(|l| l.get(LABEL_SERVICE_NAME)) {
            by_service
                .entry((ns, svc.as_str()))
                .or_default()
                .push(slice);
        }
    }
    let mut state = ProxyState::default();
    for svc in services {
        if skip_reason(svc).is_some() {
            continue;
        }
        let ns = svc.metadata.namespace.as_deref().unwrap_or("default");
        let name = svc.metadata.name.as_deref().unwrap_or_default();
        let slices = by_service
            .get(&(ns, name))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for port in service_ports(svc, ns, name, slices, node) {
            state
                .ports
                .insert((port.family, port.name.clone()), Arc::new(port));
        }
    }
    state
}

fn parse_ips(list: Option<&Vec<String>>) -> Vec<IpAddr> {
    list.into_iter()
        .flatten()
        .filter_map(|s| s.parse().ok())
        .collect()
}

fn service_ports(
    svc: &Service,
    ns: &str,
    name: &str,
    slices: &[&EndpointSlice],
    node: &NodeInfo,
) -> Vec<ServicePort> {
    let Some(spec) = svc.spec.as_ref() else {
        return Vec::new();
    };
    let mut cluster_ips = parse_ips(spec.cluster_ips.as_ref());
    if cluster_ips.is_empty() {
        cluster_ips = parse_ips(spec.cluster_ip.as_ref().map(|s| vec![s.clone()]).as_ref());
    }
    let external_ips = parse_ips(spec.external_ips.as_ref());
    let ingress = svc.status.as_ref().and_then(|s| s.load_balancer.as_ref());
    let lb_ips: Vec<IpAddr> = ingress
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_deref()?.parse().ok())
        .collect();
    let ranges: Vec<IpNet> = spec
        .load_balancer_source_ranges
        .iter()
        .flatten()
        .filter_map(|r| r.trim().parse().ok())
        .collect();
    let affinity_timeout = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
        let cfg = spec
            .session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref());
        cfg.and_then(|c| c.timeout_seconds)
            .and_then(|t| u32::try_from(t).ok())
            .filter(|t| *t > 0)
            .unwrap_or(DEFAULT_AFFINITY_TIMEOUT)
    });
    let is_external_type = matches!(spec.type_.as_deref(), Some("NodePort" | "LoadBalancer"));
    let external_local =
        is_external_type && spec.external_traffic_policy.as_deref() == Some("Local");
    let internal_local = spec.internal_traffic_policy.as_deref() == Some("Local");
    let mut out = Vec::new();
    for cip in &cluster_ips {
        let family = Family::of(cip);
        let fam = |ips: &[IpAddr]| {
            ips.iter()
                .copied()
                .filter(|i| Family::of(i) == family)
                .collect()
        };
        for sp in spec.ports.iter().flatten() {
            let Some(protocol) = Protocol::parse(sp.protocol.as_deref()) else {
                continue;
            };
            let Ok(port) = u16::try_from(sp.port) else {
                continue;
            };
            let port_name = sp.name.clone().unwrap_or_default();
            let sel = select_endpoints(slices, family, &port_name, protocol, node);
            out.push(ServicePort {
                name: ServicePortName {
                    namespace: ns.to_string(),
                    name: name.to_string(),
                    port: port_name,
                    protocol,
                },
                family,
                port,
                node_port: sp
                    .node_port
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|p| *p != 0),
                cluster_ip: *cip,
                external_ips: fam(&external_ips),
                lb_ips: fam(&lb_ips),
                source_ranges: ranges
                    .iter()
                    .copied()
                    .filter(|r| Family::of(&r.addr()) == family)
                    .collect(),
                affinity_timeout,
                internal_local,
                external_local,
                health_check_node_port: spec
                    .health_check_node_port
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|_| external_local),
                cluster: sel.cluster,
                local: sel.local,
                local_ready: sel.local_ready,
            });
        }
    }
    out
}

/// Key of a Service port in [`ProxyState::ports`].
pub type PortKey = (Family, ServicePortName);

/// Changed Service ports: key → new value (`None`: removed). Applying a delta
/// to a state is O(changed); later deltas for the same key win.
pub type Delta = BTreeMap<PortKey, Option<Arc<ServicePort>>>;

/// The delta that turns `old` into `new` (one merge pass; O(n)).
pub fn delta_between(old: &ProxyState, new: &ProxyState) -> Delta {
    changes(old, new)
        .into_iter()
        .map(|(k, _, after)| (k.clone(), after.map(|_| new.ports[k].clone())))
        .collect()
}

/// One Service port that differs between two states: (key, before, after).
pub type Change<'a> = (
    &'a PortKey,
    Option<&'a ServicePort>,
    Option<&'a ServicePort>,
);

/// The Service ports that differ between `old` and `new`, in key order, found
/// by one merge pass over both sorted maps.
pub fn changes<'a>(old: &'a ProxyState, new: &'a ProxyState) -> Vec<Change<'a>> {
    let mut out = Vec::new();
    let (mut a, mut b) = (old.ports.iter().peekable(), new.ports.iter().peekable());
    loop {
        let step = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((ka, _)), Some((kb, _))) => ka.cmp(kb),
        };
        match step {
            std::cmp::Ordering::Less => {
                let (k, p) = a.next().expect("peeked");
                out.push((k, Some(&**p), None));
            }
            std::cmp::Ordering::Greater => {
                let (k, p) = b.next().expect("peeked");
                out.push((k, None, Some(&**p)));
            }
            std::cmp::Ordering::Equal => {
                let ((k, pa), (_, pb)) = (a.next().expect("peeked"), b.next().expect("peeked"));
                if !Arc::ptr_eq(pa, pb) && pa != pb {
                    out.push((k, Some(&**pa), Some(&**pb)));
                }
            }
        }
    }
    out
}
