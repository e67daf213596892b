//! The Endpoints controller (core/v1 Endpoints, what `kubectl get ep` and
//! `kubectl describe svc` show), pure part: Service + selected pods →
//! subsets of ready and not-ready addresses per port set.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Pod, Service,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::endpointslice::{
    address_types, family_matches, hostname_for, manages, pod_ref, selected,
};
use crate::labels;
use crate::pod;

/// Most addresses one Endpoints object carries; beyond it the object is
/// truncated and annotated `endpoints.kubernetes.io/over-capacity: truncated`.
pub const MAX_ADDRESSES: usize = 1000;

/// The write the Endpoints controller makes for one Service.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointsAction {
    /// Up to date (or not ours to touch).
    Nothing,
    /// Create this object.
    Create(Endpoints),
    /// Replace the existing object with this one (same `resourceVersion`).
    Update(Endpoints),
    /// Delete the object of this name: its Service is gone.
    Delete(String),
}

/// Ports of the Endpoints subset for one pod; `None` port list when the
/// Service has no ports (headless without ports).
fn pod_ports(p: &Pod, svc: &Service) -> Vec<EndpointPort> {
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default();
    ports
        .iter()
        .filter_map(|sp| {
            Some(EndpointPort {
                name: sp.name.clone().filter(|n| !n.is_empty()),
                port: pod::resolve_target_port(p, sp)?,
                protocol: Some(sp.protocol.clone().unwrap_or_else(|| "TCP".into())),
                app_protocol: sp.app_protocol.clone(),
            })
        })
        .collect()
}

fn has_ports(svc: &Service) -> bool {
    svc.spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .is_some_and(|p| !p.is_empty())
}

/// Ports, ready addresses and not-ready addresses of one subset.
type Group = (
    Vec<EndpointPort>,
    Vec<EndpointAddress>,
    Vec<EndpointAddress>,
);

/// Desired subsets: one per distinct port set, addresses sorted by IP.
pub fn subsets(svc: &Service, pods: &[&Pod]) -> Vec<EndpointSubset> {
    let spec = svc.spec.as_ref();
    let publish = spec.and_then(|s| s.publish_not_ready_addresses) == Some(true);
    let family = address_types(svc).into_iter().next().unwrap_or_default();
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for p in pods {
        if pod::is_terminal(p) || (pod::is_deleting(&p.metadata) && !publish) {
            continue;
        }
        let Some(ip) = pod::ips(p)
            .into_iter()
            .find(|ip| family_matches(ip, &family))
        else {
            continue;
        };
        let mut ports = pod_ports(p, svc);
        if ports.is_empty() && has_ports(svc) {
            continue;
        }
        ports.sort_by(|a, b| (&a.name, a.port, &a.protocol).cmp(&(&b.name, b.port, &b.protocol)));
        let addr = EndpointAddress {
            ip: ip.to_string(),
            hostname: hostname_for(p, svc),
            node_name: p.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(pod_ref(p)),
        };
        let key = serde_json::to_string(&ports).unwrap_or_default();
        let entry = groups
            .entry(key)
            .or_insert_with(|| (ports, Vec::new(), Vec::new()));
        if publish || pod::is_ready(p) {
            entry.1.push(addr);
        } else {
            entry.2.push(addr);
        }
    }
    groups
        .into_values()
        .map(|(ports, mut ready, mut not_ready)| {
            sort_dedup(&mut ready);
            sort_dedup(&mut not_ready);
            EndpointSubset {
                addresses: Some(ready).filter(|v| !v.is_empty()),
                not_ready_addresses: Some(not_ready).filter(|v| !v.is_empty()),
                ports: Some(ports).filter(|v| !v.is_empty()),
            }
        })
        .collect()
}

fn sort_dedup(addrs: &mut Vec<EndpointAddress>) {
    addrs.sort_by(|a, b| {
        (&a.ip, &a.target_ref.as_ref().and_then(|r| r.uid.clone()))
            .cmp(&(&b.ip, &b.target_ref.as_ref().and_then(|r| r.uid.clone())))
    });
    let mut seen = BTreeSet::new();
    addrs.retain(|a| seen.insert(a.ip.clone()));
}

/// Cuts the subsets to `MAX_ADDRESSES` addresses (ready ones first);
/// returns whether anything was cut.
fn truncate(subsets: &mut [EndpointSubset]) -> bool {
    let total: usize = subsets
        .iter()
        .map(|s| {
            s.addresses.as_ref().map_or(0, Vec::len)
                + s.not_ready_addresses.as_ref().map_or(0, Vec::len)
        })
        .sum();
    if total <= MAX_ADDRESSES {
        return false;
    }
    let mut budget = MAX_ADDRESSES;
    for s in subsets.iter_mut() {
        cut(&mut s.addresses, &mut budget);
    }
    for s in subsets.iter_mut() {
        cut(&mut s.not_ready_addresses, &mut budget);
    }
    true
}

fn cut(list: &mut Option<Vec<EndpointAddress>>, budget: &mut usize) {
    if let Some(v) = list {
        v.truncate(*budget);
        *budget -= v.len();
        if v.is_empty() {
            *list = None;
        }
    }
}

fn desired_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut l = svc.metadata.labels.clone().unwrap_or_default();
    let headless = svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None");
    if headless {
        l.insert(labels::HEADLESS.into(), String::new());
    } else {
        l.remove(labels::HEADLESS);
    }
    l.insert(
        labels::ENDPOINTS_MANAGED_BY.into(),
        labels::ENDPOINTS_CONTROLLER.into(),
    );
    l
}

/// What the controller knows of the Service an Endpoints object is named
/// after.
#[derive(Debug, Clone, Copy)]
pub enum ServiceState<'a> {
    /// The Service exists.
    Present(&'a Service),
    /// The Service (of this name) was seen deleted: its same-named
    /// Endpoints go, whoever wrote them and whether or not the store shows
    /// them yet (as kube-controller-manager does, so deleting a selector-less
    /// Service removes its hand-written Endpoints).
    Deleted(&'a str),
    /// Not in the store and no delete event seen (Endpoints written before
    /// their Service, or a restart): only Endpoints this controller wrote go.
    Absent,
}

impl<'a> ServiceState<'a> {
    /// `Present` for `Some`, else `Deleted(name)` when a delete of the
    /// Service `name` was seen, else `Absent`.
    pub fn of(svc: Option<&'a Service>, name: &'a str, deleted: bool) -> Self {
        match svc {
            Some(s) => ServiceState::Present(s),
            None if deleted => ServiceState::Deleted(name),
            None => ServiceState::Absent,
        }
    }
}

/// Reconciles the Endpoints of one Service; `now` (RFC 3339) stamps the
/// last-change-trigger-time annotation.
pub fn reconcile(
    svc: ServiceState<'_>,
    pods: &[&Pod],
    existing: Option<&Endpoints>,
    now: &str,
) -> EndpointsAction {
    let delete =
        |e: &Endpoints| EndpointsAction::Delete(e.metadata.name.clone().unwrap_or_default());
    let svc = match (svc, existing) {
        (ServiceState::Present(s), _) if manages(s) => s,
        // A selector-less Service's hand-written Endpoints are the user's.
        (ServiceState::Present(_), _) => return EndpointsAction::Nothing,
        (ServiceState::Deleted(name), _) => return EndpointsAction::Delete(name.to_string()),
        (ServiceState::Absent, None) => return EndpointsAction::Nothing,
        (ServiceState::Absent, Some(e)) if is_ours(e) => return delete(e),
        (ServiceState::Absent, Some(_)) => return EndpointsAction::Nothing,
    };
    let chosen = selected(svc, pods.iter().copied());
    let mut subs = subsets(svc, &chosen);
    let truncated = truncate(&mut subs);
    let labels = desired_labels(svc);
    if let Some(e) = existing {
        let same_subsets = e.subsets.clone().unwrap_or_default() == subs;
        let same_labels = e.metadata.labels.clone().unwrap_or_default() == labels;
        let was_truncated = annotation(e, labels::OVER_CAPACITY).is_some();
        if same_subsets && same_labels && was_truncated == truncated {
            return EndpointsAction::Nothing;
        }
        let mut next = e.clone();
        next.subsets = Some(subs);
        next.metadata.labels = Some(labels);
        set_annotations(&mut next.metadata, now, truncated);
        return EndpointsAction::Update(next);
    }
    let mut meta = ObjectMeta {
        name: svc.metadata.name.clone(),
        namespace: svc.metadata.namespace.clone(),
        labels: Some(labels),
        ..Default::default()
    };
    set_annotations(&mut meta, now, truncated);
    EndpointsAction::Create(Endpoints {
        metadata: meta,
        subsets: Some(subs),
    })
}

fn annotation<'a>(e: &'a Endpoints, key: &str) -> Option<&'a String> {
    e.metadata.annotations.as_ref().and_then(|a| a.get(key))
}

fn set_annotations(meta: &mut ObjectMeta, now: &str, truncated: bool) {
    let a = meta.annotations.get_or_insert_with(BTreeMap::new);
    a.insert(labels::LAST_CHANGE_TRIGGER_TIME.into(), now.to_string());
    if truncated {
        a.insert(labels::OVER_CAPACITY.into(), "truncated".into());
    } else {
        a.remove(labels::OVER_CAPACITY);
    }
}

/// Whether the Endpoints object was written by this controller.
pub fn is_ours(e: &Endpoints) -> bool {
    e.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(labels::ENDPOINTS_MANAGED_BY))
        .map(String::as_str)
        == Some(labels::ENDPOINTS_CONTROLLER)
}

#[cfg(test)]
mod tests;
