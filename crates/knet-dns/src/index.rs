//! The record index: an immutable [`Snapshot`] of everything the engine needs,
//! built and updated by an [`IndexBuilder`] and published through `ArcSwap`.
//!
//! Services are stored under the key `"<name>.<namespace>"` — exactly the
//! substring of a query name `<name>.<namespace>.svc.<zone>` — so a lookup
//! needs no allocation. Maps are sharded ([`shards`]) so one change copies one
//! shard, not the cluster.

pub mod model;
mod shards;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

pub use model::{Endpoint, Port, Proto, ServiceKind, ServiceSpec, Slice};
use shards::Shards;

/// A Service with the endpoint slices that belong to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    /// The Service.
    pub spec: Arc<ServiceSpec>,
    /// Its EndpointSlices (or its mirrored Endpoints when it has no slices).
    pub slices: Box<[Arc<Slice>]>,
}

impl ServiceEntry {
    /// Endpoints that DNS publishes (ready, or all with `publishNotReadyAddresses`),
    /// each with the ports of its slice.
    pub fn published(&self) -> impl Iterator<Item = (&Endpoint, &[Port])> {
        let all = self.spec.publish_not_ready;
        self.slices.iter().flat_map(move |s| {
            s.endpoints
                .iter()
                .filter(move |e| all || e.ready)
                .map(move |e| (e, &s.ports[..]))
        })
    }

    /// True when at least one endpoint is published.
    pub fn has_published(&self) -> bool {
        self.published().next().is_some()
    }

    /// Every IP the reverse zones answer for: ClusterIPs and published endpoints.
    fn reverse_ips(&self) -> Vec<IpAddr> {
        let mut ips: Vec<IpAddr> = match &self.spec.kind {
            ServiceKind::ClusterIp(ips) => ips.to_vec(),
            _ => Vec::new(),
        };
        ips.extend(self.published().map(|(e, _)| e.ip));
        ips.sort_unstable();
        ips.dedup();
        ips
    }
}

/// Keys of services an IP belongs to (one in the common case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owners {
    /// One service key.
    One(Arc<str>),
    /// Several service keys.
    Many(Box<[Arc<str>]>),
}

impl Owners {
    /// The keys.
    pub fn keys(&self) -> &[Arc<str>] {
        match self {
            Owners::One(k) => std::slice::from_ref(k),
            Owners::Many(ks) => ks,
        }
    }

    fn with(&self, k: &Arc<str>) -> Owners {
        let mut v = self.keys().to_vec();
        if !v.contains(k) {
            v.push(k.clone());
        }
        Owners::Many(v.into())
    }

    fn without(&self, k: &str) -> Option<Owners> {
        let v: Vec<_> = self.keys().iter().filter(|x| &***x != k).cloned().collect();
        match v.len() {
            0 => None,
            1 => Some(Owners::One(v[0].clone())),
            _ => Some(Owners::Many(v.into())),
        }
    }
}

/// A point-in-time view of the cluster for answering queries. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    services: Shards<Arc<str>, Arc<ServiceEntry>>,
    reverse: Shards<IpAddr, Owners>,
    pods: Shards<IpAddr, Owners>,
    namespaces: Arc<HashSet<Arc<str>>>,
    /// True once every source finished its first full list.
    pub synced: bool,
    /// SOA serial: Unix time of the last change, as CoreDNS uses.
    pub serial: u32,
}

impl Snapshot {
    /// The service `<name>.<namespace>` (lowercase key).
    pub fn service(&self, key: &str) -> Option<&Arc<ServiceEntry>> {
        self.services.get(key)
    }

    /// Keys of the services that have `ip` as ClusterIP or published endpoint.
    pub fn reverse(&self, ip: &IpAddr) -> Option<&Owners> {
        self.reverse.get(ip)
    }

    /// True when a pod with this IP exists in `ns` (tracked only for
    /// `pods verified`).
    pub fn pod_in_namespace(&self, ip: &IpAddr, ns: &str) -> bool {
        self.pods.get(ip).is_some_and(|o| {
            o.keys()
                .iter()
                .any(|k| k.split_once('/').is_some_and(|(n, _)| n == ns))
        })
    }

    /// The namespace of the pod that owns `ip` (tracked only for `pods
    /// verified`); `None` when no pod has it, or when pods of different
    /// namespaces claim it (an IP being reused: guessing would expand the
    /// search path of the wrong namespace, CoreDNS issue #2842).
    pub fn pod_namespace(&self, ip: &IpAddr) -> Option<&str> {
        let keys = self.pods.get(ip)?.keys();
        fn ns(k: &str) -> &str {
            k.split_once('/').map_or("", |(n, _)| n)
        }
        let first = ns(keys.first()?);
        keys.iter().all(|k| ns(k) == first).then_some(first)
    }

    /// True when the namespace exists (declared or holding a service).
    pub fn namespace_exists(&self, ns: &str) -> bool {
        self.namespaces.contains(ns)
    }

    /// Number of services.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// All services (unordered).
    pub fn services(&self) -> impl Iterator<Item = &Arc<ServiceEntry>> {
        self.services.iter().map(|(_, v)| v)
    }
}

/// An EndpointSlice with its `<ns>/<name>` object key.
type NamedSlice = (Box<str>, Arc<Slice>);
/// A pod's key in the IP index and its IPs.
type PodEntry = (Arc<str>, Box<[IpAddr]>);

/// Mutable source of truth for the index: the DNS-relevant objects by key, and
/// the snapshot kept in step with them.
#[derive(Debug, Default)]
pub struct IndexBuilder {
    snap: Snapshot,
    specs: HashMap<Arc<str>, Arc<ServiceSpec>>,
    /// Slices by service key, each with its `<ns>/<name>` object key.
    slices: HashMap<Arc<str>, Vec<NamedSlice>>,
    slice_owner: HashMap<Box<str>, Arc<str>>,
    endpoints: HashMap<Arc<str>, Box<[Arc<Slice>]>>,
    /// Pods by object key: their key in the IP index and their IPs.
    pods: HashMap<Box<str>, PodEntry>,
    ns_declared: HashSet<Arc<str>>,
    ns_services: HashMap<Arc<str>, usize>,
}

/// The kinds of objects the index is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Services.
    Service,
    /// EndpointSlices.
    EndpointSlice,
    /// Endpoints (used for Services without slices).
    Endpoints,
    /// Pods (tracked for `pods verified`).
    Pod,
    /// Namespaces.
    Namespace,
}

fn svc_key(ns: &str, name: &str) -> Arc<str> {
    format!("{}.{}", name.to_ascii_lowercase(), ns.to_ascii_lowercase()).into()
}

fn obj_key(ns: &str, name: &str) -> Box<str> {
    format!("{ns}/{name}").into()
}

impl IndexBuilder {
    /// An empty, unsynced index.
    pub fn new() -> IndexBuilder {
        IndexBuilder::default()
    }

    /// The current state as a snapshot to publish.
    pub fn snapshot(&self) -> Snapshot {
        self.snap.clone()
    }

    /// Marks the index complete (first full list done) and stamps the serial.
    pub fn set_synced(&mut self, synced: bool) {
        self.snap.synced = synced;
    }

    /// Sets the SOA serial.
    pub fn set_serial(&mut self, serial: u32) {
        self.snap.serial = serial;
    }

    /// Adds or replaces a Service.
    pub fn upsert_service(&mut self, spec: ServiceSpec) {
        let key = svc_key(&spec.namespace, &spec.name);
        let ns: Arc<str> = Arc::from(&*spec.namespace);
        if self.specs.insert(key.clone(), Arc::new(spec)).is_none() {
            *self.ns_services.entry(ns).or_default() += 1;
            self.refresh_namespaces();
        }
        self.refresh(&key);
    }

    /// Removes a Service.
    pub fn delete_service(&mut self, ns: &str, name: &str) {
        let key = svc_key(ns, name);
        if self.specs.remove(&key).is_some() {
            if let Some(c) = self.ns_services.get_mut(ns) {
                *c -= 1;
                if *c == 0 {
                    self.ns_services.remove(ns);
                }
            }
            self.refresh_namespaces();
        }
        self.refresh(&key);
    }

    /// Adds or replaces an EndpointSlice owned by Service `service`.
    pub fn upsert_slice(&mut self, ns: &str, name: &str, service: &str, slice: Slice) {
        let okey = obj_key(ns, name);
        let skey = svc_key(ns, service);
        if self
            .slice_owner
            .get(&okey)
            .is_some_and(|prev| *prev != skey)
        {
            self.delete_slice(ns, name);
        }
        let list = self.slices.entry(skey.clone()).or_default();
        let slice = Arc::new(slice);
        match list.iter_mut().find(|(k, _)| *k == okey) {
            Some(entry) => entry.1 = slice,
            None => list.push((okey.clone(), slice)),
        }
        self.slice_owner.insert(okey, skey.clone());
        self.refresh(&skey);
    }

    /// Removes an EndpointSlice.
    pub fn delete_slice(&mut self, ns: &str, name: &str) {
        let okey = obj_key(ns, name);
        let Some(skey) = self.slice_owner.remove(&okey) else {
            return;
        };
        if let Some(list) = self.slices.get_mut(&skey) {
            list.retain(|(k, _)| *k != okey);
            if list.is_empty() {
                self.slices.remove(&skey);
            }
        }
        self.refresh(&skey);
    }

    /// Adds or replaces the Endpoints object of a Service (one slice per subset).
    pub fn upsert_endpoints(&mut self, ns: &str, name: &str, subsets: Vec<Slice>) {
        let key = svc_key(ns, name);
        let subsets = subsets.into_iter().map(Arc::new).collect();
        self.endpoints.insert(key.clone(), subsets);
        self.refresh(&key);
    }

    /// Removes an Endpoints object.
    pub fn delete_endpoints(&mut self, ns: &str, name: &str) {
        let key = svc_key(ns, name);
        if self.endpoints.remove(&key).is_some() {
            self.refresh(&key);
        }
    }

    /// Adds or replaces a Pod's IPs (for `pods verified`).
    pub fn upsert_pod(&mut self, ns: &str, name: &str, ips: Vec<IpAddr>) {
        self.delete_pod(ns, name);
        let key: Arc<str> = format!("{}/{name}", ns.to_ascii_lowercase()).into();
        for ip in &ips {
            let next = match self.snap.pods.get(ip) {
                Some(o) => o.with(&key),
                None => Owners::One(key.clone()),
            };
            self.snap.pods.insert(*ip, next);
        }
        self.pods.insert(obj_key(ns, name), (key, ips.into()));
    }

    /// Removes a Pod.
    pub fn delete_pod(&mut self, ns: &str, name: &str) {
        let Some((key, ips)) = self.pods.remove(&obj_key(ns, name)) else {
            return;
        };
        for ip in ips.iter() {
            match self.snap.pods.get(ip).and_then(|o| o.without(&key)) {
                Some(o) => self.snap.pods.insert(*ip, o),
                None => self.snap.pods.remove(ip),
            };
        }
    }

    /// Declares a Namespace.
    pub fn upsert_namespace(&mut self, name: &str) {
        if self.ns_declared.insert(name.to_ascii_lowercase().into()) {
            self.refresh_namespaces();
        }
    }

    /// Removes a declared Namespace.
    pub fn delete_namespace(&mut self, name: &str) {
        if self.ns_declared.remove(&*name.to_ascii_lowercase()) {
            self.refresh_namespaces();
        }
    }

    /// Object keys (`<ns>/<name>`) currently held for a kind; a relist
    /// deletes those it did not see again.
    pub fn keys(&self, kind: Kind) -> Vec<(String, String)> {
        let split = |k: &str| {
            let (ns, name) = k.split_once('/').unwrap_or(("", k));
            (ns.to_string(), name.to_string())
        };
        match kind {
            Kind::Service => self
                .specs
                .values()
                .map(|s| (s.namespace.to_string(), s.name.to_string()))
                .collect(),
            Kind::EndpointSlice => self.slice_owner.keys().map(|k| split(k)).collect(),
            Kind::Endpoints => self
                .endpoints
                .keys()
                .filter_map(|k| {
                    let (name, ns) = k.split_once('.')?;
                    Some((ns.to_string(), name.to_string()))
                })
                .collect(),
            Kind::Pod => self.pods.keys().map(|k| split(k)).collect(),
            Kind::Namespace => self
                .ns_declared
                .iter()
                .map(|n| (String::new(), n.to_string()))
                .collect(),
        }
    }

    /// Deletes one object of a kind by key.
    pub fn delete(&mut self, kind: Kind, ns: &str, name: &str) {
        match kind {
            Kind::Service => self.delete_service(ns, name),
            Kind::EndpointSlice => self.delete_slice(ns, name),
            Kind::Endpoints => self.delete_endpoints(ns, name),
            Kind::Pod => self.delete_pod(ns, name),
            Kind::Namespace => self.delete_namespace(name),
        }
    }

    fn refresh_namespaces(&mut self) {
        let set: HashSet<Arc<str>> = self
            .ns_declared
            .iter()
            .chain(self.ns_services.keys())
            .cloned()
            .collect();
        self.snap.namespaces = Arc::new(set);
    }

    /// Recomputes the entry of one service key and its reverse records.
    fn refresh(&mut self, key: &Arc<str>) {
        let old = self.snap.services.get(&**key).cloned();
        let new = self.specs.get(key).map(|spec| {
            let slices: Box<[Arc<Slice>]> = match self.slices.get(key) {
                Some(list) if !list.is_empty() => list.iter().map(|(_, s)| s.clone()).collect(),
                _ => self.endpoints.get(key).cloned().unwrap_or_default(),
            };
            Arc::new(ServiceEntry {
                spec: spec.clone(),
                slices,
            })
        });
        if old == new {
            return;
        }
        if let Some(old) = &old {
            for ip in old.reverse_ips() {
                match self.snap.reverse.get(&ip).and_then(|o| o.without(key)) {
                    Some(o) => self.snap.reverse.insert(ip, o),
                    None => self.snap.reverse.remove(&ip),
                };
            }
        }
        match new {
            Some(new) => {
                for ip in new.reverse_ips() {
                    let next = match self.snap.reverse.get(&ip) {
                        Some(o) => o.with(key),
                        None => Owners::One(key.clone()),
                    };
                    self.snap.reverse.insert(ip, next);
                }
                self.snap.services.insert(key.clone(), new);
            }
            None => {
                self.snap.services.remove(&**key);
            }
        }
    }
}

#[cfg(test)]
mod tests;
