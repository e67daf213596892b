//! The EndpointSlice mirroring controller, pure part: hand-written Endpoints
//! of a Service without selector → EndpointSlices (so DNS and the proxy,
//! which read slices, see them — seed 002's `202.232.2.180`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{EndpointAddress, Endpoints, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};

use crate::labels;
use crate::pod;
use crate::slices::{self, PortGroup, SlicePlan, SliceTemplate};

/// Most addresses mirrored from one Endpoints object (upstream's limit).
pub const MAX_MIRRORED: usize = 1000;

/// Whether the Endpoints of this Service are mirrored: the Service exists
/// without a selector and the Endpoints do not opt out with
/// `endpointslice.kubernetes.io/skip-mirror: "true"`.
pub fn mirrors(svc: &Service, ep: &Endpoints) -> bool {
    let no_selector = svc
        .spec
        .as_ref()
        .is_none_or(|s| s.selector.as_ref().is_none_or(BTreeMap::is_empty));
    let skip = ep
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(labels::SKIP_MIRROR))
        .map(String::as_str)
        == Some("true");
    no_selector && !skip
}

fn to_endpoint(a: &EndpointAddress, ready: bool) -> Endpoint {
    Endpoint {
        addresses: vec![a.ip.clone()],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            ..Default::default()
        }),
        hostname: a.hostname.clone(),
        node_name: a.node_name.clone(),
        target_ref: a.target_ref.clone(),
        ..Default::default()
    }
}

/// Desired port groups mirrored from the Endpoints' subsets.
pub fn desired(ep: &Endpoints) -> Vec<PortGroup> {
    let mut groups: BTreeMap<(String, String), PortGroup> = BTreeMap::new();
    let mut count = 0;
    for sub in ep.subsets.iter().flatten() {
        let ports: Vec<EndpointPort> = sub
            .ports
            .iter()
            .flatten()
            .map(|p| EndpointPort {
                name: Some(p.name.clone().unwrap_or_default()),
                port: Some(p.port),
                protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())),
                app_protocol: p.app_protocol.clone(),
            })
            .collect();
        let ready = sub.addresses.iter().flatten().map(|a| (a, true));
        let unready = sub.not_ready_addresses.iter().flatten().map(|a| (a, false));
        for (a, is_ready) in ready.chain(unready) {
            let Ok(ip) = a.ip.parse::<IpAddr>() else {
                continue;
            };
            if count >= MAX_MIRRORED {
                break;
            }
            count += 1;
            let address_type = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
            let key = (
                address_type.to_string(),
                serde_json::to_string(&ports).unwrap_or_default(),
            );
            groups
                .entry(key)
                .or_insert_with(|| PortGroup {
                    address_type: address_type.into(),
                    ports: ports.clone(),
                    endpoints: Vec::new(),
                })
                .endpoints
                .push(to_endpoint(a, is_ready));
        }
    }
    groups.into_values().collect()
}

/// Labels and owner of the mirrored slices.
pub fn template(ep: &Endpoints) -> SliceTemplate {
    let name = ep.metadata.name.clone().unwrap_or_default();
    let mut l = ep.metadata.labels.clone().unwrap_or_default();
    l.remove(labels::ENDPOINTS_MANAGED_BY);
    l.insert(labels::SERVICE_NAME.into(), name.clone());
    l.insert(
        labels::SLICE_MANAGED_BY.into(),
        labels::MIRRORING_CONTROLLER.into(),
    );
    SliceTemplate {
        namespace: ep.metadata.namespace.clone().unwrap_or_default(),
        generate_name: format!("{name}-"),
        labels: l,
        owners: vec![pod::controller_ref("v1", "Endpoints", &ep.metadata)],
    }
}

/// Whether a slice was written by the mirroring controller for this name.
pub fn owned_by(slice: &EndpointSlice, namespace: &str, service: &str) -> bool {
    crate::slices::managed_by(slice, namespace, service, labels::MIRRORING_CONTROLLER)
}

/// Reconciles the mirrored slices of one Service name.
pub fn reconcile(
    svc: Option<&Service>,
    ep: Option<&Endpoints>,
    existing: &[&EndpointSlice],
) -> SlicePlan {
    match (svc, ep) {
        (Some(svc), Some(ep)) if mirrors(svc, ep) => slices::plan(
            desired(ep),
            existing,
            &template(ep),
            None,
            slices::MAX_ENDPOINTS_PER_SLICE,
        ),
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
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(selector: Option<serde_json::Value>) -> Service {
        let mut spec = json!({"ports": [{"port": 80}]});
        if let Some(s) = selector {
            spec["selector"] = s;
        }
        serde_json::from_value(
            json!({"metadata": {"name": "ext", "namespace": "default", "uid": "s1"}, "spec": spec}),
        )
        .unwrap()
    }

    fn eps(labels: serde_json::Value) -> Endpoints {
        serde_json::from_value(json!({
            "metadata": {"name": "ext", "namespace": "default", "uid": "e1", "labels": labels},
            "subsets": [{"addresses": [{"ip": "202.232.2.180"}], "notReadyAddresses": [{"ip": "2001:db8::1"}],
                         "ports": [{"port": 80, "name": "http"}]}]
        }))
        .unwrap()
    }

    #[test]
    fn selectorless_endpoints_are_mirrored_per_family() {
        let plan = reconcile(Some(&svc(None)), Some(&eps(json!({"team": "a"}))), &[]);
        assert_eq!(plan.create.len(), 2, "{plan:#?}");
        let v4 = plan
            .create
            .iter()
            .find(|s| s.address_type == "IPv4")
            .unwrap();
        assert_eq!(v4.endpoints[0].addresses, vec!["202.232.2.180"]);
        assert_eq!(
            v4.endpoints[0].conditions.as_ref().unwrap().ready,
            Some(true)
        );
        assert_eq!(v4.ports.as_ref().unwrap()[0].port, Some(80));
        let l = v4.metadata.labels.as_ref().unwrap();
        assert_eq!(l[labels::SLICE_MANAGED_BY], labels::MIRRORING_CONTROLLER);
        assert_eq!(l[labels::SERVICE_NAME], "ext");
        assert_eq!(l["team"], "a");
        assert_eq!(
            v4.metadata.owner_references.as_ref().unwrap()[0].kind,
            "Endpoints"
        );
        let v6 = plan
            .create
            .iter()
            .find(|s| s.address_type == "IPv6")
            .unwrap();
        assert_eq!(
            v6.endpoints[0].conditions.as_ref().unwrap().ready,
            Some(false)
        );
    }

    #[test]
    fn selector_or_skip_label_means_no_mirror() {
        let with_sel = svc(Some(json!({"app": "x"})));
        let existing = reconcile(Some(&svc(None)), Some(&eps(json!({}))), &[]).create;
        let mut named: Vec<EndpointSlice> = existing;
        for (i, s) in named.iter_mut().enumerate() {
            s.metadata.name = Some(format!("ext-{i}"));
        }
        let refs: Vec<&EndpointSlice> = named.iter().collect();
        let plan = reconcile(Some(&with_sel), Some(&eps(json!({}))), &refs);
        assert_eq!(plan.delete, vec!["ext-0", "ext-1"]);
        let skip = eps(json!({labels::SKIP_MIRROR: "true"}));
        assert!(!mirrors(&svc(None), &skip));
        assert_eq!(
            reconcile(None, Some(&eps(json!({}))), &refs).delete.len(),
            2
        );
        // Already mirrored and unchanged: nothing to write.
        assert!(reconcile(Some(&svc(None)), Some(&eps(json!({}))), &refs).is_empty());
    }
}
