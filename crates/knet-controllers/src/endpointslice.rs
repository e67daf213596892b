//! The EndpointSlice controller (discovery.k8s.io/v1), pure part: a Service
//! with a selector and the pods it selects → the slices that should exist.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};

use crate::labels;
use crate::pod;
use crate::selector;
use crate::slices::{self, PortGroup, SlicePlan, SliceTemplate};

/// Whether the EndpointSlice controller manages endpoints for this Service:
/// it has a selector and is not an ExternalName.
pub fn manages(svc: &Service) -> bool {
    let Some(spec) = svc.spec.as_ref() else {
        return false;
    };
    spec.type_.as_deref() != Some("ExternalName")
        && spec.selector.as_ref().is_some_and(|s| !s.is_empty())
}

/// Address types of the Service's IP families (`IPv4` when none are set).
pub fn address_types(svc: &Service) -> Vec<String> {
    let fams = svc
        .spec
        .as_ref()
        .and_then(|s| s.ip_families.clone())
        .unwrap_or_default();
    if fams.is_empty() {
        return vec!["IPv4".into()];
    }
    fams
}

/// Whether `ip` belongs to an address type.
pub fn family_matches(ip: &IpAddr, address_type: &str) -> bool {
    match ip {
        IpAddr::V4(_) => address_type == "IPv4",
        IpAddr::V6(_) => address_type == "IPv6",
    }
}

/// Pods selected by the Service's selector in its namespace.
pub fn selected<'a>(svc: &Service, pods: impl IntoIterator<Item = &'a Pod>) -> Vec<&'a Pod> {
    let ns = svc.metadata.namespace.as_deref();
    let Some(sel) = svc.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return Vec::new();
    };
    pods.into_iter()
        .filter(|p| {
            p.metadata.namespace.as_deref() == ns && selector::map_selects(sel, &p.metadata.labels)
        })
        .collect()
}

/// The pod's hostname in this Service's DNS, set when the pod's
/// `spec.subdomain` names the Service (StatefulSet pods behind their
/// headless Service).
pub fn hostname_for(pod: &Pod, svc: &Service) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let host = spec.hostname.as_deref().filter(|h| !h.is_empty())?;
    (spec.subdomain.as_deref() == svc.metadata.name.as_deref()
        && pod.metadata.namespace == svc.metadata.namespace)
        .then(|| host.to_string())
}

/// The `targetRef` of an endpoint for a pod.
pub fn pod_ref(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        ..Default::default()
    }
}

/// The slice ports this pod serves: each Service port whose target the pod
/// has (named targets resolved from the pod's container ports).
pub fn pod_ports(pod: &Pod, svc: &Service) -> Vec<EndpointPort> {
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default();
    ports
        .iter()
        .filter_map(|sp| {
            let target = pod::resolve_target_port(pod, sp)?;
            Some(EndpointPort {
                name: Some(sp.name.clone().unwrap_or_default()),
                port: Some(target),
                protocol: Some(sp.protocol.clone().unwrap_or_else(|| "TCP".into())),
                app_protocol: sp.app_protocol.clone(),
            })
        })
        .collect()
}

fn to_endpoint(
    pod: &Pod,
    ip: IpAddr,
    svc: &Service,
    zone_of: &dyn Fn(&str) -> Option<String>,
) -> Endpoint {
    let publish = svc
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        == Some(true);
    let pod_ready = pod::is_ready(pod);
    let terminating = pod::is_deleting(&pod.metadata);
    let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
    Endpoint {
        addresses: vec![ip.to_string()],
        conditions: Some(EndpointConditions {
            ready: Some(publish || (pod_ready && !terminating)),
            serving: Some(pod_ready),
            terminating: Some(terminating),
        }),
        hostname: hostname_for(pod, svc),
        zone: node.as_deref().and_then(zone_of),
        node_name: node,
        target_ref: Some(pod_ref(pod)),
        ..Default::default()
    }
}

/// Desired endpoints of the Service grouped by address type and port set.
/// Terminal pods and pods without an IP of the family are left out;
/// terminating pods stay in with `terminating: true`.
pub fn desired(
    svc: &Service,
    pods: &[&Pod],
    zone_of: &dyn Fn(&str) -> Option<String>,
) -> Vec<PortGroup> {
    let mut groups: BTreeMap<(String, String), PortGroup> = BTreeMap::new();
    for address_type in address_types(svc) {
        for p in pods.iter().filter(|p| !pod::is_terminal(p)) {
            let Some(ip) = pod::ips(p)
                .into_iter()
                .find(|ip| family_matches(ip, &address_type))
            else {
                continue;
            };
            let ports = pod_ports(p, svc);
            let key = (
                address_type.clone(),
                serde_json::to_string(&ports).unwrap_or_default(),
            );
            groups
                .entry(key)
                .or_insert_with(|| PortGroup {
                    address_type: address_type.clone(),
                    ports,
                    endpoints: Vec::new(),
                })
                .endpoints
                .push(to_endpoint(p, ip, svc, zone_of));
        }
    }
    groups.into_values().collect()
}

/// Labels and owner of the Service's slices.
pub fn template(svc: &Service) -> SliceTemplate {
    let name = svc.metadata.name.clone().unwrap_or_default();
    let mut l = svc.metadata.labels.clone().unwrap_or_default();
    l.insert(labels::SERVICE_NAME.into(), name.clone());
    l.insert(
        labels::SLICE_MANAGED_BY.into(),
        labels::SLICE_CONTROLLER.into(),
    );
    let headless = svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None");
    if headless {
        l.insert(labels::HEADLESS.into(), String::new());
    } else {
        l.remove(labels::HEADLESS);
    }
    SliceTemplate {
        namespace: svc.metadata.namespace.clone().unwrap_or_default(),
        generate_name: format!("{name}-"),
        labels: l,
        owners: vec![pod::controller_ref("v1", "Service", &svc.metadata)],
    }
}

/// Whether a slice is managed by this controller for the named Service.
pub fn owned_by(slice: &EndpointSlice, namespace: &str, service: &str) -> bool {
    crate::slices::managed_by(slice, namespace, service, labels::SLICE_CONTROLLER)
}

/// Reconciles one Service: `svc` is `None` when it is gone. `pods` may be
/// every pod of the namespace; selection happens here.
pub fn reconcile(
    svc: Option<&Service>,
    pods: &[&Pod],
    existing: &[&EndpointSlice],
    zone_of: &dyn Fn(&str) -> Option<String>,
) -> SlicePlan {
    match svc {
        Some(svc) if manages(svc) => {
            let chosen = selected(svc, pods.iter().copied());
            let groups = desired(svc, &chosen, zone_of);
            let first = address_types(svc).into_iter().next();
            slices::plan(
                groups,
                existing,
                &template(svc),
                first.as_deref(),
                slices::MAX_ENDPOINTS_PER_SLICE,
            )
        }
        _ => SlicePlan {
            delete: existing
                .iter()
                .filter_map(|s| s.metadata.name.clone())
                .collect(),
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests;
