//! The EndpointSlice reconciler shared by the EndpointSlice controller and the
//! mirroring controller: desired endpoints, grouped by address type and port
//! set, against the slices that exist → a plan of creates, updates, deletes.
//!
//! Churn is kept low like upstream's: an endpoint stays in the slice that
//! holds it, an unchanged slice is never rewritten, new endpoints go first to
//! slices that are being rewritten anyway, and a slice that empties is deleted.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// Most endpoints one slice holds (upstream's `--max-endpoints-per-slice` default).
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// Endpoints that share an address type and a port set: they go in the same slices.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PortGroup {
    /// `IPv4` or `IPv6`.
    pub address_type: String,
    /// The slice's `ports`, in the Service's port order.
    pub ports: Vec<EndpointPort>,
    /// The endpoints, any order.
    pub endpoints: Vec<Endpoint>,
}

/// What every slice of one owner carries.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceTemplate {
    /// Namespace of the slices.
    pub namespace: String,
    /// `generateName` of new slices (`<service>-`).
    pub generate_name: String,
    /// Full label set of each slice.
    pub labels: BTreeMap<String, String>,
    /// Owner references of each slice.
    pub owners: Vec<OwnerReference>,
}

/// Writes that bring the slices to the desired state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SlicePlan {
    /// New slices (named by `generateName`).
    pub create: Vec<EndpointSlice>,
    /// Existing slices to replace (they keep their `resourceVersion`).
    pub update: Vec<EndpointSlice>,
    /// Names of slices to delete.
    pub delete: Vec<String>,
}

impl SlicePlan {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// Identity of an endpoint inside one port group: its addresses.
fn endpoint_key(e: &Endpoint) -> String {
    e.addresses.join(",")
}

/// Identity of a port group: address type plus the port set, order-free.
fn group_key(address_type: &str, ports: &[EndpointPort]) -> String {
    let mut ps: Vec<String> = ports
        .iter()
        .map(|p| {
            format!(
                "{}/{}/{}/{}",
                p.name.as_deref().unwrap_or_default(),
                p.port.unwrap_or_default(),
                p.protocol.as_deref().unwrap_or("TCP"),
                p.app_protocol.as_deref().unwrap_or_default()
            )
        })
        .collect();
    ps.sort();
    format!("{address_type}|{}", ps.join(";"))
}

fn slice_key(s: &EndpointSlice) -> String {
    group_key(&s.address_type, s.ports.as_deref().unwrap_or_default())
}

/// Plans the slices of one owner. `existing` are the slices this owner's
/// controller manages (by label). With no endpoints at all, one empty
/// placeholder slice of `placeholder_type` is kept, as upstream does, so
/// readers can tell "no endpoints" from "not reconciled yet".
pub fn plan(
    mut desired: Vec<PortGroup>,
    existing: &[&EndpointSlice],
    template: &SliceTemplate,
    placeholder_type: Option<&str>,
    max_per_slice: usize,
) -> SlicePlan {
    desired.retain(|g| !g.endpoints.is_empty());
    if desired.is_empty()
        && let Some(t) = placeholder_type
    {
        desired.push(PortGroup {
            address_type: t.to_string(),
            ports: Vec::new(),
            endpoints: Vec::new(),
        });
    }
    let mut by_group: BTreeMap<String, Vec<&EndpointSlice>> = BTreeMap::new();
    for s in existing {
        by_group.entry(slice_key(s)).or_default().push(s);
    }
    let mut out = SlicePlan::default();
    for group in desired {
        let key = group_key(&group.address_type, &group.ports);
        let mut slices = by_group.remove(&key).unwrap_or_default();
        slices.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        plan_group(group, &slices, template, max_per_slice.max(1), &mut out);
    }
    for stale in by_group.into_values().flatten() {
        out.delete
            .push(stale.metadata.name.clone().unwrap_or_default());
    }
    out.delete.sort();
    out
}

/// A slice being worked on: its endpoints and whether it must be written.
struct Working<'a> {
    original: &'a EndpointSlice,
    endpoints: Vec<Endpoint>,
    dirty: bool,
}

fn plan_group(
    group: PortGroup,
    slices: &[&EndpointSlice],
    template: &SliceTemplate,
    max: usize,
    out: &mut SlicePlan,
) {
    let placeholder = group.endpoints.is_empty();
    let mut wanted: BTreeMap<String, Endpoint> = group
        .endpoints
        .into_iter()
        .map(|e| (endpoint_key(&e), e))
        .collect();
    let mut working: Vec<Working<'_>> = Vec::new();
    for (i, s) in slices.iter().enumerate() {
        if placeholder && i > 0 {
            out.delete.push(s.metadata.name.clone().unwrap_or_default());
            continue;
        }
        let mut w = Working {
            original: s,
            endpoints: Vec::new(),
            dirty: !meta_matches(s, template),
        };
        let mut seen = BTreeSet::new();
        for e in s.endpoints.iter() {
            let k = endpoint_key(e);
            match wanted.remove(&k) {
                Some(d) if seen.insert(k) => {
                    w.dirty |= d != *e;
                    w.endpoints.push(d);
                }
                _ => w.dirty = true,
            }
        }
        if w.endpoints.is_empty() && !placeholder {
            out.delete.push(s.metadata.name.clone().unwrap_or_default());
        } else {
            working.push(w);
        }
    }
    let mut rest: Vec<Endpoint> = wanted.into_values().collect();
    // First into slices that are rewritten anyway, then new full slices, and
    // a remainder into an untouched slice with room before a new slice.
    for w in working.iter_mut().filter(|w| w.dirty) {
        take_into(&mut w.endpoints, &mut rest, max);
    }
    let mut fresh: Vec<Vec<Endpoint>> = Vec::new();
    while rest.len() >= max {
        fresh.push(rest.drain(..max).collect());
    }
    if !rest.is_empty() {
        let room = working
            .iter_mut()
            .filter(|w| !w.dirty && w.endpoints.len() + rest.len() <= max)
            .max_by_key(|w| w.endpoints.len());
        match room {
            Some(w) => {
                w.dirty = true;
                w.endpoints.append(&mut rest);
            }
            None => fresh.push(std::mem::take(&mut rest)),
        }
    }
    if placeholder && working.is_empty() {
        fresh.push(Vec::new());
    }
    for w in working.into_iter().filter(|w| w.dirty) {
        out.update.push(rewrite(w.original, w.endpoints, template));
    }
    for endpoints in fresh {
        out.create.push(new_slice(
            &group.address_type,
            &group.ports,
            endpoints,
            template,
        ));
    }
}

fn take_into(into: &mut Vec<Endpoint>, rest: &mut Vec<Endpoint>, max: usize) {
    let n = max.saturating_sub(into.len()).min(rest.len());
    into.extend(rest.drain(..n));
}

fn meta_matches(s: &EndpointSlice, t: &SliceTemplate) -> bool {
    s.metadata.labels.clone().unwrap_or_default() == t.labels
        && s.metadata.owner_references.clone().unwrap_or_default() == t.owners
}

fn rewrite(s: &EndpointSlice, endpoints: Vec<Endpoint>, t: &SliceTemplate) -> EndpointSlice {
    let mut s = s.clone();
    s.endpoints = endpoints;
    s.metadata.labels = Some(t.labels.clone());
    s.metadata.owner_references = Some(t.owners.clone());
    s
}

fn new_slice(
    address_type: &str,
    ports: &[EndpointPort],
    endpoints: Vec<Endpoint>,
    t: &SliceTemplate,
) -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(t.generate_name.clone()),
            namespace: Some(t.namespace.clone()),
            labels: Some(t.labels.clone()),
            owner_references: Some(t.owners.clone()),
            ..Default::default()
        },
        address_type: address_type.to_string(),
        ports: Some(ports.to_vec()),
        endpoints,
    }
}

/// Whether `slice` belongs to Service `namespace/service` and carries the
/// `endpointslice.kubernetes.io/managed-by` value `manager`.
pub fn managed_by(slice: &EndpointSlice, namespace: &str, service: &str, manager: &str) -> bool {
    let label = |k: &str| {
        slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(k))
            .map(String::as_str)
    };
    slice.metadata.namespace.as_deref() == Some(namespace)
        && label(crate::labels::SERVICE_NAME) == Some(service)
        && label(crate::labels::SLICE_MANAGED_BY) == Some(manager)
}

#[cfg(test)]
mod tests;
