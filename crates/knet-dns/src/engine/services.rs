//! Service, endpoint, SRV and pod records.

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::IpAddr;

use super::Lookup;
use super::PodMode;
use super::names::{addr_rdata, endpoint_label, parse_pod_label};
use crate::index::{Port, ServiceEntry, ServiceKind};
use crate::wire::rr::{Owner, RData, Record};
use crate::wire::rtype;
use crate::wire::writer::Response;

/// One address a service name stands for.
struct Item<'a> {
    ip: IpAddr,
    port: Option<&'a Port>,
    /// Endpoint label (`None` for a ClusterIP).
    host: Option<Cow<'a, str>>,
}

fn port_matches(p: &Port, want: Option<(&str, &str)>) -> bool {
    match want {
        None => true,
        Some((name, proto)) => &*p.name == name && p.proto.label() == proto,
    }
}

impl<'a> Lookup<'a> {
    /// `<svc>.<ns>.svc`, `<endpoint>.<svc>.<ns>.svc`, `_<port>._<proto>.<svc>.<ns>.svc`.
    pub(super) fn service(
        &self,
        key: &str,
        endpoint: Option<&str>,
        port: Option<(&str, &str)>,
    ) -> Response<'a> {
        let Some(entry) = self.snap.service(key) else {
            return self.nxdomain();
        };
        if let ServiceKind::ExternalName(target) = &entry.spec.kind {
            if endpoint.is_some() || port.is_some() {
                return self.nxdomain();
            }
            return self.positive(vec![self.record(RData::Cname(Cow::Borrowed(target)))]);
        }
        let items = self.items(entry, endpoint, port);
        if items.is_empty() {
            return self.nxdomain();
        }
        match self.qtype {
            rtype::A | rtype::AAAA => self.addresses(&items),
            rtype::SRV => self.srv(entry, &items),
            _ => self.nodata(),
        }
    }

    /// The addresses a service name stands for, CoreDNS's `findServices`.
    fn items(
        &self,
        entry: &'a ServiceEntry,
        endpoint: Option<&str>,
        port: Option<(&str, &str)>,
    ) -> Vec<Item<'a>> {
        let mut items = Vec::new();
        // A/AAAA of `<svc>` or `<endpoint>.<svc>`: ports and (unless an
        // endpoint is asked for) endpoint labels do not matter, so skip
        // building them — the fast path of most cluster lookups.
        let addr_only = port.is_none() && self.qtype != rtype::SRV;
        if let (ServiceKind::ClusterIp(ips), None) = (&entry.spec.kind, endpoint) {
            if self.cfg.ignore_empty_service && !entry.has_published() {
                return items;
            }
            if addr_only {
                items.extend(ips.iter().map(|ip| Item {
                    ip: *ip,
                    port: None,
                    host: None,
                }));
                return items;
            }
            let ports: Vec<Option<&Port>> = if entry.spec.ports.is_empty() && port.is_none() {
                vec![None]
            } else {
                entry
                    .spec
                    .ports
                    .iter()
                    .filter(|p| port_matches(p, port))
                    .map(Some)
                    .collect()
            };
            for p in ports {
                items.extend(ips.iter().map(|ip| Item {
                    ip: *ip,
                    port: p,
                    host: None,
                }));
            }
            return items;
        }
        for (ep, ports) in entry.published() {
            if addr_only && endpoint.is_none() {
                items.push(Item {
                    ip: ep.ip,
                    port: None,
                    host: None,
                });
                continue;
            }
            let host = endpoint_label(ep, self.cfg.endpoint_pod_names);
            if endpoint.is_some_and(|want| want != host) {
                continue;
            }
            if ports.is_empty() && port.is_none() {
                items.push(Item {
                    ip: ep.ip,
                    port: None,
                    host: Some(host),
                });
                continue;
            }
            for p in ports.iter().filter(|p| port_matches(p, port)) {
                items.push(Item {
                    ip: ep.ip,
                    port: Some(p),
                    host: Some(host.clone()),
                });
            }
        }
        items
    }

    /// A or AAAA records of the items' distinct addresses; NODATA when the
    /// name only has the other family.
    fn addresses(&self, items: &[Item<'a>]) -> Response<'a> {
        let want_v4 = self.qtype == rtype::A;
        let mut seen = HashSet::with_capacity(if items.len() > 16 { items.len() } else { 0 });
        let mut answer: Vec<Record<'a>> = Vec::with_capacity(items.len());
        for it in items {
            if it.ip.is_ipv4() != want_v4 {
                continue;
            }
            let dup = if items.len() > 16 {
                !seen.insert(it.ip)
            } else {
                answer.iter().any(|r| r.data == addr_rdata(it.ip))
            };
            if !dup {
                answer.push(self.record(addr_rdata(it.ip)));
            }
        }
        if answer.is_empty() {
            return self.nodata();
        }
        self.positive(answer)
    }

    /// SRV records with CoreDNS's priority 0 and weight 100/n, and the
    /// targets' addresses in the additional section.
    fn srv(&self, entry: &ServiceEntry, items: &[Item<'a>]) -> Response<'a> {
        let base = format!(
            "{}.{}.svc.{}",
            entry.spec.name, entry.spec.namespace, self.zone
        );
        let with_port: Vec<&Item<'a>> = items.iter().filter(|i| i.port.is_some()).collect();
        if with_port.is_empty() {
            return self.nodata();
        }
        let weight = (100 / with_port.len()).max(1) as u16;
        let mut answer: Vec<Record<'a>> = Vec::new();
        let mut additional: Vec<Record<'a>> = Vec::new();
        for it in with_port {
            let target = match &it.host {
                Some(h) => format!("{h}.{base}"),
                None => base.clone(),
            };
            let port = it.port.map_or(0, |p| p.port);
            let srv = RData::Srv {
                priority: 0,
                weight,
                port,
                target: Cow::Owned(target.clone()),
            };
            if answer.iter().any(|r| r.data == srv) {
                continue;
            }
            answer.push(self.record(srv));
            let glue = Record {
                owner: Owner::Name(Cow::Owned(target)),
                ttl: self.cfg.ttl,
                data: addr_rdata(it.ip),
            };
            if !additional.contains(&glue) {
                additional.push(glue);
            }
        }
        let mut r = self.positive(answer);
        r.additional = additional;
        r
    }

    /// `<a-b-c-d>.<ns>.pod.<zone>` per the `pods` mode.
    pub(super) fn pod(&self, label: &str, ns: &str) -> Response<'a> {
        let ip = match self.cfg.pods {
            PodMode::Disabled => return self.nxdomain(),
            PodMode::Insecure => parse_pod_label(label),
            PodMode::Verified => {
                parse_pod_label(label).filter(|ip| self.snap.pod_in_namespace(ip, ns))
            }
        };
        let Some(ip) = ip else {
            return self.nxdomain();
        };
        let family_ok = match self.qtype {
            rtype::A => ip.is_ipv4(),
            rtype::AAAA => ip.is_ipv6(),
            _ => false,
        };
        if family_ok {
            self.positive(vec![self.record(addr_rdata(ip))])
        } else {
            self.nodata()
        }
    }
}
