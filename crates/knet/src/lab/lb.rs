//! LoadBalancer Services in the lab, as cloud-provider-kind or MetalLB give
//! them: each gets an address from the lab pool on the underlay, written to
//! `status.loadBalancer.ingress` (kubectl's EXTERNAL-IP), and announced to
//! the outside client — like a BGP announcement — as a route via a node.
//! `externalIPs` on the underlay are announced the same way. The nodes'
//! Service proxies do the rest.

use futures::StreamExt;
use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::Service;
use knet_podnet::netlink::{Netlink, Route4};
use knet_podnet::netns::Netns;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

/// One Service as the allocator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LbService {
    /// `namespace/name`.
    pub(crate) key: String,
    /// Whether it is `type: LoadBalancer`.
    pub(crate) wants: bool,
    /// The address it already has in status, if any.
    pub(crate) current: Option<Ipv4Addr>,
    /// A `spec.loadBalancerIP` it asks for, if any.
    pub(crate) requested: Option<Ipv4Addr>,
}

fn usable(pool: Ipv4Net) -> impl Iterator<Item = Ipv4Addr> {
    pool.hosts()
}

/// Addresses for every LoadBalancer Service: kept when already valid,
/// honouring `loadBalancerIP` when free, else the lowest free pool address;
/// None when the pool is exhausted (EXTERNAL-IP stays `<pending>`).
pub(crate) fn assign(pool: Ipv4Net, services: &[LbService]) -> BTreeMap<String, Option<Ipv4Addr>> {
    let mut used = BTreeSet::new();
    let mut out = BTreeMap::new();
    for s in services.iter().filter(|s| s.wants) {
        let keep = s
            .current
            .filter(|ip| pool.contains(ip) && s.requested.is_none_or(|r| r == *ip));
        if let Some(ip) = keep.filter(|ip| used.insert(*ip)) {
            out.insert(s.key.clone(), Some(ip));
        }
    }
    // Explicit requests before dynamic picks, so a request is never taken
    // by a Service that would have accepted any address.
    for explicit in [true, false] {
        for s in services
            .iter()
            .filter(|s| s.wants && s.requested.is_some() == explicit)
        {
            if out.contains_key(&s.key) {
                continue;
            }
            let pick = match s.requested {
                Some(r) => (pool.contains(&r) && !used.contains(&r)).then_some(r),
                None => usable(pool).find(|ip| !used.contains(ip)),
            };
            if let Some(ip) = pick {
                used.insert(ip);
            }
            out.insert(s.key.clone(), pick);
        }
    }
    out
}

fn view(svc: &Service) -> Option<(LbService, Vec<Ipv4Addr>)> {
    let ns = svc.metadata.namespace.as_deref()?;
    let name = svc.metadata.name.as_deref()?;
    let spec = svc.spec.as_ref()?;
    let current = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .and_then(|i| i.first())
        .and_then(|i| i.ip.as_deref())
        .and_then(|ip| ip.parse().ok());
    let external: Vec<Ipv4Addr> = spec
        .external_ips
        .iter()
        .flatten()
        .filter_map(|ip| ip.parse().ok())
        .collect();
    let lb = LbService {
        key: format!("{ns}/{name}"),
        wants: spec.type_.as_deref() == Some("LoadBalancer"),
        current,
        requested: spec
            .load_balancer_ip
            .as_deref()
            .and_then(|ip| ip.parse().ok()),
    };
    Some((lb, external))
}

/// Runs the lab's LoadBalancer controller until the process ends.
pub(crate) async fn run(client: kube::Client, pool: Ipv4Net, client_ns: Netns, via: Ipv4Addr) {
    let api: Api<Service> = Api::all(client.clone());
    let (reader, writer) = reflector::store();
    let mut events = reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .touched_objects()
        .boxed();
    let nl = match Netlink::connect(&client_ns) {
        Ok(nl) => nl,
        Err(e) => {
            return tracing::error!(error = %e, "LoadBalancer controller: outside client namespace");
        }
    };
    let mut announced: BTreeSet<Ipv4Addr> = BTreeSet::new();
    loop {
        // Coalesce bursts of events into one pass.
        if events.next().await.is_none() {
            return;
        }
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(20), events.next()).await
        {
        }
        let views: Vec<(LbService, Vec<Ipv4Addr>)> =
            reader.state().iter().filter_map(|s| view(s)).collect();
        let lbs: Vec<LbService> = views.iter().map(|(l, _)| l.clone()).collect();
        let assigned = assign(pool, &lbs);
        for l in &lbs {
            let want = assigned.get(&l.key).copied().flatten();
            if l.wants && want != l.current {
                write_status(&client, &l.key, want).await;
            }
        }
        let mut desired: BTreeSet<Ipv4Addr> = assigned.values().flatten().copied().collect();
        desired.extend(views.iter().flat_map(|(_, ext)| ext.iter().copied()));
        sync_routes(&nl, &mut announced, &desired, via).await;
    }
}

async fn write_status(client: &kube::Client, key: &str, ip: Option<Ipv4Addr>) {
    let Some((ns, name)) = key.split_once('/') else {
        return;
    };
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    let ingress = match ip {
        Some(ip) => json!([{"ip": ip.to_string(), "ipMode": "VIP"}]),
        None => json!([]),
    };
    let body = json!({"status": {"loadBalancer": {"ingress": ingress}}});
    if let Err(e) = api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&body))
        .await
    {
        tracing::warn!(service = key, error = %e, "cannot write the LoadBalancer address");
    }
}

async fn sync_routes(
    nl: &Netlink,
    announced: &mut BTreeSet<Ipv4Addr>,
    desired: &BTreeSet<Ipv4Addr>,
    via: Ipv4Addr,
) {
    let route = |ip: Ipv4Addr| Route4 {
        dst: Ipv4Net::from(ip),
        gateway: Some(via),
        oif: None,
        onlink: false,
    };
    for ip in desired.difference(&announced.clone()) {
        match nl.replace_route(&route(*ip)).await {
            Ok(()) => {
                announced.insert(*ip);
            }
            Err(e) => {
                tracing::warn!(%ip, error = %e, "cannot announce address to the outside client")
            }
        }
    }
    for ip in announced.clone().difference(desired) {
        let _ = nl.del_route(&route(*ip)).await;
        announced.remove(ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(key: &str, wants: bool, current: Option<&str>, requested: Option<&str>) -> LbService {
        LbService {
            key: key.into(),
            wants,
            current: current.map(|c| c.parse().unwrap()),
            requested: requested.map(|c| c.parse().unwrap()),
        }
    }

    #[test]
    fn keeps_honours_allocates_and_runs_out() {
        let pool: Ipv4Net = "172.18.255.200/30".parse().unwrap(); // hosts .201 and .202
        let got = assign(
            pool,
            &[
                svc("a/new", true, None, None),
                svc("a/kept", true, Some("172.18.255.202"), None),
                svc("a/clusterip", false, None, None),
                svc("a/asks", true, None, Some("172.18.255.201")),
                svc("a/late", true, None, None),
            ],
        );
        assert_eq!(got["a/kept"], Some("172.18.255.202".parse().unwrap()));
        assert_eq!(got["a/asks"], Some("172.18.255.201".parse().unwrap()));
        assert_eq!(got["a/new"], None, "pool exhausted: stays pending");
        assert_eq!(got["a/late"], None);
        assert!(!got.contains_key("a/clusterip"));
        let moved = assign(pool, &[svc("a/x", true, Some("10.0.0.1"), None)]);
        assert_eq!(
            moved["a/x"],
            Some("172.18.255.201".parse().unwrap()),
            "an address outside the pool is replaced"
        );
    }
}
