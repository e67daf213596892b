//! PTR records for ClusterIPs and published endpoint IPs.

use std::borrow::Cow;

use super::Lookup;
use super::names::{endpoint_label, parse_reverse};
use crate::index::ServiceKind;
use crate::wire::rr::RData;
use crate::wire::rtype;
use crate::wire::writer::Response;

impl<'a> Lookup<'a> {
    /// Names under `in-addr.arpa` / `ip6.arpa`.
    pub(super) fn reverse(&self, rest: &str) -> Response<'a> {
        if rest.is_empty() {
            return match self.qtype {
                rtype::SOA => self.positive(vec![self.soa_record(self.owner.clone())]),
                _ => self.nodata(),
            };
        }
        let targets = parse_reverse(rest, self.zone)
            .map(|ip| self.ptr_targets(ip))
            .unwrap_or_default();
        if targets.is_empty() {
            return self.nxdomain();
        }
        if self.qtype != rtype::PTR {
            return self.nodata();
        }
        let answer = targets
            .into_iter()
            .map(|t| self.record(RData::Ptr(Cow::Owned(t))))
            .collect();
        self.positive(answer)
    }

    /// Every name the IP belongs to, de-duplicated, in a stable order.
    fn ptr_targets(&self, ip: std::net::IpAddr) -> Vec<String> {
        let Some(zone) = self.cfg.zones.first() else {
            return Vec::new();
        };
        let Some(owners) = self.snap.reverse(&ip) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for key in owners.keys() {
            let Some(entry) = self.snap.service(key) else {
                continue;
            };
            let spec = &entry.spec;
            if !self.exposed(&spec.namespace) {
                continue;
            }
            let base = format!("{}.{}.svc.{zone}", spec.name, spec.namespace);
            if let ServiceKind::ClusterIp(ips) = &spec.kind
                && ips.contains(&ip)
            {
                out.push(base.clone());
            }
            for (ep, _) in entry.published().filter(|(e, _)| e.ip == ip) {
                out.push(format!(
                    "{}.{base}",
                    endpoint_label(ep, self.cfg.endpoint_pod_names)
                ));
            }
        }
        out.sort();
        out.dedup();
        out
    }
}
