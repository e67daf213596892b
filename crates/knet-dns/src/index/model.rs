//! The compact, DNS-relevant form of Services and their endpoints. Sources
//! convert Kubernetes objects into these once, at the edge; the index and the
//! engine never see the full API objects (which keeps memory small).

use std::net::IpAddr;

/// Transport protocol of a port, as used in `_port._proto` SRV names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Endpoint {
    /// Builds an endpoint from its hostname and pod name (either optional).
    pub fn new(
        ip: IpAddr,
        hostname: Option<Box<str>>,
        pod_name: Option<Box<str>>,
        ready: bool,
    ) -> Endpoint {
        let name_is_hostname = hostname.is_some();
        Endpoint {
            ip,
            name: hostname.or(pod_name),
            name_is_hostname,
            ready,
        }
    }

    /// The `hostname`, if set.
    pub fn hostname(&self) -> Option<&str> {
        self.name.as_deref().filter(|_| self.name_is_hostname)
    }

    /// The pod name, when known and no hostname is set.
    pub fn pod_name(&self) -> Option<&str> {
        self.name.as_deref().filter(|_| !self.name_is_hostname)
    }
}

impl Proto {
    /// The lowercase label (`tcp`, `udp`, `sctp`).
    pub fn label(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }

    /// Parses a Kubernetes protocol string (default TCP).
    pub fn from_k8s(s: Option<&str>) -> Proto {
        match s {
            Some(p) if p.eq_ignore_ascii_case("udp") => Proto::Udp,
            Some(p) if p.eq_ignore_ascii_case("sctp") => Proto::Sctp,
            _ => Proto::Tcp,
        }
    }
}

/// A port of a Service or an EndpointSlice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// Port name, lowercase ("" when unnamed).
    pub name: Box<str>,
    /// Protocol.
    pub proto: Proto,
    /// Port number.
    pub port: u16,
}

/// How a Service is addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceKind {
    /// A virtual IP per family (`clusterIPs`).
    ClusterIp(Box<[IpAddr]>),
    /// `clusterIP: None`: the endpoints are the answer.
    Headless,
    /// A DNS alias (lowercase, no trailing dot).
    ExternalName(Box<str>),
}

/// The DNS-relevant part of a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Name (lowercase).
    pub name: Box<str>,
    /// Namespace (lowercase).
    pub namespace: Box<str>,
    /// Addressing.
    pub kind: ServiceKind,
    /// Ports of the Service.
    pub ports: Box<[Port]>,
    /// `publishNotReadyAddresses`: not-ready endpoints are published too.
    pub publish_not_ready: bool,
}

/// One endpoint address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Address.
    pub ip: IpAddr,
    /// The endpoint's `hostname` (lowercase) when set, else the name of the
    /// Pod behind it (`targetRef`), if any. One field keeps endpoints small:
    /// half a million of them is a large cluster.
    pub name: Option<Box<str>>,
    /// True when `name` is the endpoint's `hostname` (not a pod name).
    pub name_is_hostname: bool,
    /// Ready condition (`None` in the API counts as ready).
    pub ready: bool,
}

/// One EndpointSlice (or the mirrored content of an Endpoints subset set).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Slice {
    /// Endpoint addresses.
    pub endpoints: Box<[Endpoint]>,
    /// Ports (portless slices have none).
    pub ports: Box<[Port]>,
}
