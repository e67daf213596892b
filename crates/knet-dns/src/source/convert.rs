//! Kubernetes objects → the index's compact model (pure).

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{
    EndpointPort, EndpointSubset, Endpoints, Namespace, Pod, Service, ServicePort,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::index::{Endpoint, IndexBuilder, Kind, Port, Proto, ServiceKind, ServiceSpec, Slice};

/// Label naming the Service an EndpointSlice belongs to.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Why an object could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The object is not valid JSON for its kind.
    #[error("{kind} object is malformed: {source}")]
    Decode {
        /// The kind.
        kind: String,
        /// The decoder error.
        #[source]
        source: serde_json::Error,
    },
    /// An address field does not hold an IP.
    #[error("{kind} {namespace}/{name}: {field} {value:?} is not an IP address")]
    BadIp {
        /// The kind.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Field path.
        field: &'static str,
        /// The bad value.
        value: String,
    },
}

/// One object, ready to be applied to an [`IndexBuilder`].
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// A Service.
    Service(ServiceSpec),
    /// An EndpointSlice of a Service.
    Slice {
        /// Namespace.
        namespace: String,
        /// Object name.
        name: String,
        /// Owning Service name.
        service: String,
        /// Content.
        slice: Slice,
    },
    /// An Endpoints object (one slice per subset).
    Endpoints {
        /// Namespace.
        namespace: String,
        /// Name (= Service name).
        name: String,
        /// Subsets.
        subsets: Vec<Slice>,
    },
    /// A Pod's IPs.
    Pod {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// IPs.
        ips: Vec<IpAddr>,
    },
    /// A Namespace.
    Namespace(String),
}

impl Object {
    /// The kind and `(namespace, name)` key of this object.
    pub fn key(&self) -> (Kind, String, String) {
        match self {
            Object::Service(s) => (Kind::Service, s.namespace.to_string(), s.name.to_string()),
            Object::Slice {
                namespace, name, ..
            } => (Kind::EndpointSlice, namespace.clone(), name.clone()),
            Object::Endpoints {
                namespace, name, ..
            } => (Kind::Endpoints, namespace.clone(), name.clone()),
            Object::Pod {
                namespace, name, ..
            } => (Kind::Pod, namespace.clone(), name.clone()),
            Object::Namespace(n) => (Kind::Namespace, String::new(), n.clone()),
        }
    }

    /// Adds or replaces this object in the index.
    pub fn apply(self, b: &mut IndexBuilder) {
        match self {
            Object::Service(s) => b.upsert_service(s),
            Object::Slice {
                namespace,
                name,
                service,
                slice,
            } => b.upsert_slice(&namespace, &name, &service, slice),
            Object::Endpoints {
                namespace,
                name,
                subsets,
            } => b.upsert_endpoints(&namespace, &name, subsets),
            Object::Pod {
                namespace,
                name,
                ips,
            } => b.upsert_pod(&namespace, &name, ips),
            Object::Namespace(n) => b.upsert_namespace(&n),
        }
    }
}

/// Converts one JSON object (or a `List`) into index objects. Kinds DNS does
/// not use are ignored (empty result).
pub fn from_value(v: serde_json::Value) -> Result<Vec<Object>, ConvertError> {
    let kind = v
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or("")
        .to_string();
    let decode = |e| ConvertError::Decode {
        kind: kind.clone(),
        source: e,
    };
    Ok(match kind.as_str() {
        k if k.ends_with("List") => {
            let items = v.get("items").and_then(|i| i.as_array()).cloned();
            let mut out = Vec::new();
            for item in items.unwrap_or_default() {
                out.extend(from_value(item)?);
            }
            out
        }
        "Service" => vec![service(&serde_json::from_value(v).map_err(decode)?)?],
        "EndpointSlice" => endpoint_slice(&serde_json::from_value(v).map_err(decode)?)?
            .into_iter()
            .collect(),
        "Endpoints" => vec![endpoints(&serde_json::from_value(v).map_err(decode)?)?],
        "Pod" => vec![pod(&serde_json::from_value(v).map_err(decode)?)?],
        "Namespace" => {
            let ns: Namespace = serde_json::from_value(v).map_err(decode)?;
            vec![Object::Namespace(ns.metadata.name.unwrap_or_default())]
        }
        _ => Vec::new(),
    })
}

fn parse_ip(
    s: &str,
    kind: &'static str,
    ns: &str,
    name: &str,
    field: &'static str,
) -> Result<IpAddr, ConvertError> {
    s.parse().map_err(|_| ConvertError::BadIp {
        kind,
        namespace: ns.to_string(),
        name: name.to_string(),
        field,
        value: s.to_string(),
    })
}

fn lower(s: &str) -> Box<str> {
    s.to_ascii_lowercase().into()
}

fn service_port(p: &ServicePort) -> Option<Port> {
    Some(Port {
        name: lower(p.name.as_deref().unwrap_or("")),
        proto: Proto::from_k8s(p.protocol.as_deref()),
        port: u16::try_from(p.port).ok()?,
    })
}

/// Converts a Service.
pub fn service(s: &Service) -> Result<Object, ConvertError> {
    let ns = s.metadata.namespace.as_deref().unwrap_or("default");
    let name = s.metadata.name.as_deref().unwrap_or("");
    let spec = s.spec.clone().unwrap_or_default();
    let kind = if spec.type_.as_deref() == Some("ExternalName") {
        let target = spec.external_name.as_deref().unwrap_or("");
        ServiceKind::ExternalName(lower(target.trim_end_matches('.')))
    } else {
        let mut raw: Vec<String> = spec.cluster_ips.clone().unwrap_or_default();
        if raw.is_empty() {
            raw.extend(spec.cluster_ip.clone());
        }
        if raw.is_empty() || raw.iter().any(|ip| ip == "None" || ip.is_empty()) {
            ServiceKind::Headless
        } else {
            let ips = raw
                .iter()
                .map(|ip| parse_ip(ip, "Service", ns, name, "spec.clusterIPs"))
                .collect::<Result<Vec<_>, _>>()?;
            ServiceKind::ClusterIp(ips.into())
        }
    };
    let ports = spec
        .ports
        .iter()
        .flatten()
        .filter_map(service_port)
        .collect();
    Ok(Object::Service(ServiceSpec {
        name: lower(name),
        namespace: lower(ns),
        kind,
        ports,
        publish_not_ready: spec.publish_not_ready_addresses.unwrap_or(false),
    }))
}

/// Converts an EndpointSlice; FQDN slices and slices without a service label
/// are not DNS data (`None`).
pub fn endpoint_slice(s: &EndpointSlice) -> Result<Option<Object>, ConvertError> {
    let ns = s.metadata.namespace.as_deref().unwrap_or("default");
    let name = s.metadata.name.as_deref().unwrap_or("");
    let service = s
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_NAME_LABEL));
    let (Some(service), false) = (service, s.address_type == "FQDN") else {
        return Ok(None);
    };
    let mut endpoints = Vec::new();
    for e in &s.endpoints {
        let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
        let pod_name = e
            .target_ref
            .as_ref()
            .filter(|r| r.kind.as_deref() == Some("Pod"))
            .and_then(|r| r.name.as_deref())
            .map(lower);
        for a in &e.addresses {
            endpoints.push(Endpoint::new(
                parse_ip(a, "EndpointSlice", ns, name, "endpoints[].addresses")?,
                e.hostname.as_deref().map(lower),
                pod_name.clone(),
                ready,
            ));
        }
    }
    let ports = s
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some(Port {
                name: lower(p.name.as_deref().unwrap_or("")),
                proto: Proto::from_k8s(p.protocol.as_deref()),
                port: u16::try_from(p.port?).ok()?,
            })
        })
        .collect();
    Ok(Some(Object::Slice {
        namespace: ns.to_string(),
        name: name.to_string(),
        service: service.clone(),
        slice: Slice {
            endpoints: endpoints.into(),
            ports,
        },
    }))
}

fn endpoint_port(p: &EndpointPort) -> Option<Port> {
    Some(Port {
        name: lower(p.name.as_deref().unwrap_or("")),
        proto: Proto::from_k8s(p.protocol.as_deref()),
        port: u16::try_from(p.port).ok()?,
    })
}

fn subset(ns: &str, name: &str, s: &EndpointSubset) -> Result<Slice, ConvertError> {
    let mut endpoints = Vec::new();
    let groups = [(&s.addresses, true), (&s.not_ready_addresses, false)];
    for (list, ready) in groups {
        for a in list.iter().flatten() {
            let pod_name = a
                .target_ref
                .as_ref()
                .filter(|r| r.kind.as_deref() == Some("Pod"))
                .and_then(|r| r.name.as_deref())
                .map(lower);
            endpoints.push(Endpoint::new(
                parse_ip(&a.ip, "Endpoints", ns, name, "subsets[].addresses[].ip")?,
                a.hostname.as_deref().map(lower),
                pod_name,
                ready,
            ));
        }
    }
    Ok(Slice {
        endpoints: endpoints.into(),
        ports: s.ports.iter().flatten().filter_map(endpoint_port).collect(),
    })
}

/// Converts an Endpoints object (used for Services that have no slices).
pub fn endpoints(e: &Endpoints) -> Result<Object, ConvertError> {
    let ns = e.metadata.namespace.as_deref().unwrap_or("default");
    let name = e.metadata.name.as_deref().unwrap_or("");
    let subsets = e
        .subsets
        .iter()
        .flatten()
        .map(|s| subset(ns, name, s))
        .collect::<Result<_, _>>()?;
    Ok(Object::Endpoints {
        namespace: ns.to_string(),
        name: name.to_string(),
        subsets,
    })
}

/// Converts a Pod to its IPs.
pub fn pod(p: &Pod) -> Result<Object, ConvertError> {
    let ns = p.metadata.namespace.as_deref().unwrap_or("default");
    let name = p.metadata.name.as_deref().unwrap_or("");
    let status = p.status.clone().unwrap_or_default();
    let mut raw: Vec<String> = status
        .pod_ips
        .iter()
        .flatten()
        .map(|i| i.ip.clone())
        .collect();
    if raw.is_empty() {
        raw.extend(status.pod_ip);
    }
    let ips = raw
        .iter()
        .map(|ip| parse_ip(ip, "Pod", ns, name, "status.podIPs"))
        .collect::<Result<_, _>>()?;
    Ok(Object::Pod {
        namespace: ns.to_string(),
        name: name.to_string(),
        ips,
    })
}
