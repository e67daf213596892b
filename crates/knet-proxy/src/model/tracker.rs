//! Incremental model: keeps the Services and EndpointSlices seen so far and,
//! on each object event, recomputes only the one Service it concerns, so an
//! endpoint change costs O(that Service), not O(all Services).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::{Delta, LABEL_SERVICE_NAME, NodeInfo, PortKey, ProxyState, service_ports, skip_reason};

/// (namespace, name).
type Name = (String, String);

fn ns_of(ns: Option<&String>) -> String {
    ns.cloned().unwrap_or_else(|| "default".to_string())
}

fn service_key(svc: &Service) -> Name {
    (
        ns_of(svc.metadata.namespace.as_ref()),
        svc.metadata.name.clone().unwrap_or_default(),
    )
}

/// (slice key, owning Service key) of a slice.
fn slice_keys(slice: &EndpointSlice) -> (Name, Option<Name>) {
    let ns = ns_of(slice.metadata.namespace.as_ref());
    let owner = slice
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_SERVICE_NAME))
        .map(|svc| (ns.clone(), svc.clone()));
    ((ns, slice.metadata.name.clone().unwrap_or_default()), owner)
}

/// Objects by Service, the Service ports last emitted for each, and the
/// changes not yet taken.
#[derive(Debug, Default)]
pub struct Tracker {
    node: NodeInfo,
    services: HashMap<Name, Service>,
    /// Slices by owning Service, then by slice name.
    slices: HashMap<Name, BTreeMap<String, EndpointSlice>>,
    /// Owning Service of each slice (its label may change).
    owner: HashMap<Name, Name>,
    /// Port keys last emitted per Service.
    emitted: HashMap<Name, Vec<PortKey>>,
    pending: Delta,
}

impl Tracker {
    /// An empty tracker for `node`.
    pub fn new(node: NodeInfo) -> Tracker {
        Tracker {
            node,
            ..Tracker::default()
        }
    }

    /// Adds or replaces a Service.
    pub fn apply_service(&mut self, svc: Service) {
        let key = service_key(&svc);
        self.services.insert(key.clone(), svc);
        self.recompute(&key);
    }

    /// Removes a Service.
    pub fn delete_service(&mut self, svc: &Service) {
        let key = service_key(svc);
        self.services.remove(&key);
        self.recompute(&key);
    }

    /// Adds or replaces an EndpointSlice.
    pub fn apply_slice(&mut self, slice: EndpointSlice) {
        let (key, owner) = slice_keys(&slice);
        let old = self.detach_slice(&key);
        if let Some(owner) = owner {
            self.owner.insert(key.clone(), owner.clone());
            self.slices
                .entry(owner.clone())
                .or_default()
                .insert(key.1.clone(), slice);
            if old.as_ref() != Some(&owner) {
                self.recompute(&owner);
            }
        }
        if let Some(old) = old {
            self.recompute(&old);
        }
    }

    /// Removes an EndpointSlice.
    pub fn delete_slice(&mut self, slice: &EndpointSlice) {
        let (key, _) = slice_keys(slice);
        if let Some(old) = self.detach_slice(&key) {
            self.recompute(&old);
        }
    }

    /// Replaces every Service (a relist): O(all Services).
    pub fn replace_services(&mut self, services: Vec<Service>) {
        let mut touched: BTreeSet<Name> = self.services.keys().cloned().collect();
        self.services = services.into_iter().map(|s| (service_key(&s), s)).collect();
        touched.extend(self.services.keys().cloned());
        for key in touched {
            self.recompute(&key);
        }
    }

    /// Replaces every EndpointSlice (a relist): O(all slices).
    pub fn replace_slices(&mut self, slices: Vec<EndpointSlice>) {
        let mut touched: BTreeSet<Name> = self.slices.keys().cloned().collect();
        self.slices.clear();
        self.owner.clear();
        for slice in slices {
            let (key, owner) = slice_keys(&slice);
            if let Some(owner) = owner {
                self.owner.insert(key.clone(), owner.clone());
                self.slices
                    .entry(owner.clone())
                    .or_default()
                    .insert(key.1, slice);
                touched.insert(owner);
            }
        }
        for key in touched {
            self.recompute(&key);
        }
    }

    /// Changes the node's identity or zone (recomputes every Service when it differs).
    pub fn set_node(&mut self, node: NodeInfo) {
        if node == self.node {
            return;
        }
        self.node = node;
        let all: Vec<Name> = self.services.keys().cloned().collect();
        for key in all {
            self.recompute(&key);
        }
    }

    /// The changes since the last call (later changes to a port win).
    pub fn take_delta(&mut self) -> Delta {
        std::mem::take(&mut self.pending)
    }

    /// The full desired state (O(all Services)).
    pub fn state(&self) -> ProxyState {
        let mut state = ProxyState::default();
        for (key, svc) in &self.services {
            for port in self.ports_of(key, svc) {
                state
                    .ports
                    .insert((port.family, port.name.clone()), Arc::new(port));
            }
        }
        state
    }

    fn detach_slice(&mut self, key: &Name) -> Option<Name> {
        let owner = self.owner.remove(key)?;
        if let Some(m) = self.slices.get_mut(&owner) {
            m.remove(&key.1);
            if m.is_empty() {
                self.slices.remove(&owner);
            }
        }
        Some(owner)
    }

    fn ports_of(&self, key: &Name, svc: &Service) -> Vec<super::ServicePort> {
        if skip_reason(svc).is_some() {
            return Vec::new();
        }
        let slices: Vec<&EndpointSlice> = self
            .slices
            .get(key)
            .map(|m| m.values().collect())
            .unwrap_or_default();
        service_ports(svc, &key.0, &key.1, &slices, &self.node)
    }

    /// Re-derives one Service's ports and records what they became.
    fn recompute(&mut self, key: &Name) {
        let ports = match self.services.get(key) {
            Some(svc) => self.ports_of(key, svc),
            None => Vec::new(),
        };
        let new_keys: Vec<PortKey> = ports.iter().map(|p| (p.family, p.name.clone())).collect();
        for old in self.emitted.remove(key).unwrap_or_default() {
            if !new_keys.contains(&old) {
                self.pending.insert(old, None);
            }
        }
        for (k, port) in new_keys.iter().cloned().zip(ports) {
            self.pending.insert(k, Some(Arc::new(port)));
        }
        if !new_keys.is_empty() {
            self.emitted.insert(key.clone(), new_keys);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{LABEL_HEADLESS, build};
    use crate::testutil::{ready, service, slice};

    /// Feeds events one by one; after each, the state the deltas add up to
    /// must equal a from-scratch build of the same objects, and each delta
    /// must only name ports of the Service the event concerns.
    #[test]
    fn deltas_add_up_to_a_full_build_after_every_event() {
        let node = NodeInfo {
            name: "n".into(),
            zone: Some("z1".into()),
        };
        let mut t = Tracker::new(node.clone());
        let mut applied = ProxyState::default();
        let mut services: BTreeMap<String, Service> = BTreeMap::new();
        let mut slices: BTreeMap<String, EndpointSlice> = BTreeMap::new();
        let web = service("ns", "web", "10.96.0.5", &[("http", 80, "TCP")], json!({}));
        let db = service("ns", "db", "10.96.0.6", &[("", 5432, "TCP")], json!({}));
        let two_ports = service(
            "ns",
            "web",
            "10.96.0.5",
            &[("http", 80, "TCP"), ("dns", 53, "UDP")],
            json!({}),
        );
        let mut labelled = web.clone();
        labelled.metadata.labels = Some(
            [(LABEL_HEADLESS.to_string(), String::new())]
                .into_iter()
                .collect(),
        );
        let web_eps = slice(
            "ns",
            "web",
            &[("http", 8080, "TCP"), ("dns", 53, "UDP")],
            &[ready("10.244.1.2", "n")],
        );
        let web_eps2 = slice(
            "ns",
            "web",
            &[("http", 8080, "TCP")],
            &[ready("10.244.1.3", "n"), ready("10.244.2.3", "m")],
        );
        // The same slice relabelled to belong to db.
        let mut moved = web_eps2.clone();
        moved.metadata.labels = Some(
            [(LABEL_SERVICE_NAME.to_string(), "db".to_string())]
                .into_iter()
                .collect(),
        );
        enum Step {
            Svc(Service),
            DelSvc(Service),
            Slice(EndpointSlice),
            DelSlice(EndpointSlice),
        }
        let steps = vec![
            Step::Svc(web.clone()),
            Step::Slice(web_eps.clone()),
            Step::Svc(db.clone()),
            Step::Svc(two_ports),
            Step::Slice(web_eps2),
            Step::Svc(labelled),
            Step::Svc(web.clone()),
            Step::Slice(moved.clone()),
            Step::DelSlice(moved),
            Step::DelSvc(db),
            Step::Slice(web_eps),
            Step::DelSvc(web),
        ];
        for (i, step) in steps.into_iter().enumerate() {
            let concerned = match step {
                Step::Svc(s) => {
                    let name = s.metadata.name.clone().unwrap();
                    services.insert(name.clone(), s.clone());
                    t.apply_service(s);
                    vec![name]
                }
                Step::DelSvc(s) => {
                    let name = s.metadata.name.clone().unwrap();
                    services.remove(&name);
                    t.delete_service(&s);
                    vec![name]
                }
                Step::Slice(s) => {
                    let name = s.metadata.name.clone().unwrap();
                    slices.insert(name, s.clone());
                    t.apply_slice(s);
                    vec!["web".to_string(), "db".to_string()]
                }
                Step::DelSlice(s) => {
                    slices.remove(s.metadata.name.as_ref().unwrap());
                    t.delete_slice(&s);
                    vec!["web".to_string(), "db".to_string()]
                }
            };
            let delta = t.take_delta();
            assert!(
                delta.keys().all(|k| concerned.contains(&k.1.name)),
                "step {i}: {delta:?}"
            );
            applied.apply(delta);
            let svcs: Vec<Service> = services.values().cloned().collect();
            let sls: Vec<EndpointSlice> = slices.values().cloned().collect();
            let want = build(&svcs, &sls, &node);
            assert_eq!(applied, want, "step {i}");
            assert_eq!(t.state(), want, "step {i}");
        }
        assert!(applied.ports.is_empty());
    }

    #[test]
    fn relists_and_zone_changes_recompute_everything() {
        let mut t = Tracker::new(NodeInfo {
            name: "n".into(),
            zone: None,
        });
        let web = service("ns", "web", "10.96.0.5", &[("", 80, "TCP")], json!({}));
        let db = service("ns", "db", "10.96.0.6", &[("", 80, "TCP")], json!({}));
        t.apply_service(web.clone());
        t.apply_service(db);
        let mut applied = ProxyState::default();
        applied.apply(t.take_delta());
        assert_eq!(applied.ports.len(), 2);
        t.replace_services(vec![web.clone()]);
        let eps = slice(
            "ns",
            "web",
            &[("", 8080, "TCP")],
            &[ready("10.244.1.2", "n")],
        );
        t.replace_slices(vec![eps.clone()]);
        t.set_node(NodeInfo {
            name: "n".into(),
            zone: Some("z9".into()),
        });
        applied.apply(t.take_delta());
        let node = NodeInfo {
            name: "n".into(),
            zone: Some("z9".into()),
        };
        assert_eq!(applied, build(&[web], &[eps], &node));
        assert_eq!(applied.ports.len(), 1);
    }
}
