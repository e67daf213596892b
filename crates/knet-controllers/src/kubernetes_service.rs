//! The `kubernetes` Service in `default` (ClusterIP 10.96.0.1, port `https`
//! 443 → the API server's port) and its Endpoints and EndpointSlice listing
//! the API server's addresses — what kube-apiserver maintains itself, for
//! API servers (like knet's) that do not.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::api::discovery::v1::{
    self as discovery, Endpoint, EndpointConditions, EndpointSlice,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::labels;

/// Name and namespace of the Service.
pub const NAME: &str = "kubernetes";
/// Namespace of the Service.
pub const NAMESPACE: &str = "default";

fn meta(extra: &[(&str, &str)]) -> ObjectMeta {
    let l: BTreeMap<String, String> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ObjectMeta {
        name: Some(NAME.into()),
        namespace: Some(NAMESPACE.into()),
        labels: Some(l),
        ..Default::default()
    }
}

/// The Service.
pub fn service(cluster_ip: &str, port: i32) -> Service {
    Service {
        metadata: meta(&[("component", "apiserver"), ("provider", "kubernetes")]),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            cluster_ip: Some(cluster_ip.into()),
            cluster_ips: Some(vec![cluster_ip.into()]),
            ports: Some(vec![ServicePort {
                name: Some("https".into()),
                port: 443,
                protocol: Some("TCP".into()),
                target_port: Some(IntOrString::Int(port)),
                ..Default::default()
            }]),
            session_affinity: Some("None".into()),
            ..Default::default()
        }),
        status: None,
    }
}

/// The Endpoints (labelled so the mirroring controller leaves them alone;
/// the slice is written directly).
pub fn endpoints(ips: &[IpAddr], port: i32) -> Endpoints {
    Endpoints {
        metadata: meta(&[(labels::SKIP_MIRROR, "true")]),
        subsets: Some(vec![EndpointSubset {
            addresses: Some(
                ips.iter()
                    .map(|ip| EndpointAddress {
                        ip: ip.to_string(),
                        ..Default::default()
                    })
                    .collect(),
            ),
            not_ready_addresses: None,
            ports: Some(vec![EndpointPort {
                name: Some("https".into()),
                port,
                protocol: Some("TCP".into()),
                app_protocol: None,
            }]),
        }]),
    }
}

/// The EndpointSlice (IPv4 addresses, else IPv6).
pub fn slice(ips: &[IpAddr], port: i32) -> EndpointSlice {
    let v4: Vec<&IpAddr> = ips.iter().filter(|i| i.is_ipv4()).collect();
    let (address_type, chosen) = if v4.is_empty() {
        ("IPv6", ips.iter().collect())
    } else {
        ("IPv4", v4)
    };
    EndpointSlice {
        metadata: meta(&[(labels::SERVICE_NAME, NAME)]),
        address_type: address_type.into(),
        endpoints: chosen
            .iter()
            .map(|ip| Endpoint {
                addresses: vec![ip.to_string()],
                conditions: Some(EndpointConditions {
                    ready: Some(true),
                    serving: Some(true),
                    terminating: Some(false),
                }),
                ..Default::default()
            })
            .collect(),
        ports: Some(vec![discovery::EndpointPort {
            name: Some("https".into()),
            port: Some(port),
            protocol: Some("TCP".into()),
            app_protocol: None,
        }]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_service_points_at_apiserver() {
        let s = service("10.96.0.1", 6443);
        let p = &s.spec.as_ref().unwrap().ports.as_ref().unwrap()[0];
        assert_eq!(
            (p.name.as_deref(), p.port, p.target_port.clone()),
            (Some("https"), 443, Some(IntOrString::Int(6443)))
        );
        assert!(s.spec.as_ref().unwrap().selector.is_none());
        let ips: Vec<IpAddr> = vec!["192.168.0.2".parse().unwrap()];
        let e = endpoints(&ips, 6443);
        assert_eq!(
            e.subsets.as_ref().unwrap()[0].addresses.as_ref().unwrap()[0].ip,
            "192.168.0.2"
        );
        assert_eq!(
            e.metadata.labels.as_ref().unwrap()[labels::SKIP_MIRROR],
            "true"
        );
        let sl = slice(&ips, 6443);
        assert_eq!(
            (
                sl.address_type.as_str(),
                sl.endpoints[0].addresses[0].as_str()
            ),
            ("IPv4", "192.168.0.2")
        );
        assert_eq!(sl.metadata.name.as_deref(), Some("kubernetes"));
    }
}
