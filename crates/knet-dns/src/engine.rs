//! Query → answer for the cluster zones: pure, following the Kubernetes DNS
//! specification 1.1.0 and, where it leaves a choice, CoreDNS's `kubernetes`
//! plugin (name shapes, NXDOMAIN vs NODATA, SRV weights, SOA contents).

pub mod autopath;
pub mod names;
mod reverse;
mod services;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::IpAddr;

use crate::index::Snapshot;
use crate::wire::rr::{Owner, RData, Record};
use crate::wire::writer::Response;
use crate::wire::{Rcode, rtype};

/// `pods` option of the kubernetes plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PodMode {
    /// No pod records (NXDOMAIN).
    #[default]
    Disabled,
    /// Any `a-b-c-d.<ns>.pod.<zone>` answers with the IP in its name.
    Insecure,
    /// Only IPs of existing pods in that namespace.
    Verified,
}

/// Engine settings (from flags or the Corefile).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Cluster zones, lowercase, no trailing dot, e.g. `cluster.local`.
    pub zones: Vec<String>,
    /// Reverse zones served (`in-addr.arpa`, `ip6.arpa`).
    pub reverse_zones: Vec<String>,
    /// TTL of answers.
    pub ttl: u32,
    /// Pod records mode.
    pub pods: PodMode,
    /// Use pod names as endpoint hostnames when `hostname` is unset.
    pub endpoint_pod_names: bool,
    /// Only these namespaces are exposed (`None`: all).
    pub namespaces: Option<HashSet<String>>,
    /// NXDOMAIN for ClusterIP services without published endpoints.
    pub ignore_empty_service: bool,
    /// Zones whose NXDOMAINs go to the forwarder instead (empty list in
    /// `Some` means every zone).
    pub fallthrough: Option<Vec<String>>,
    /// Addresses of this DNS server, for the apex NS glue.
    pub ns_ips: Vec<IpAddr>,
    /// Server-side search-path expansion for pods (`autopath @kubernetes`;
    /// needs `pods verified`).
    pub autopath: bool,
    /// Search domains appended to a pod's own in the autopath walk (the
    /// server's resolv.conf `search` line, as CoreDNS does).
    pub autopath_search: Vec<String>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            zones: vec![knet_core::defaults::CLUSTER_DOMAIN.to_string()],
            reverse_zones: vec!["in-addr.arpa".into(), "ip6.arpa".into()],
            ttl: knet_core::defaults::DNS_TTL,
            pods: PodMode::Insecure,
            endpoint_pod_names: false,
            namespaces: None,
            ignore_empty_service: false,
            fallthrough: Some(vec!["in-addr.arpa".into(), "ip6.arpa".into()]),
            ns_ips: Vec::new(),
            autopath: false,
            autopath_search: Vec::new(),
        }
    }
}

/// Schema version served at `dns-version.<zone>`.
pub const SCHEMA_VERSION: &str = "1.1.0";
/// TTL of the `dns-version` TXT record (as CoreDNS).
pub const SCHEMA_TTL: u32 = 28800;
/// Depth limit when chasing ExternalName CNAMEs inside the cluster.
const MAX_CHASE: usize = 8;

/// What to do with a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// Answer this.
    Answer(Response<'a>),
    /// Not ours (or fallthrough): send to the forwarder.
    Forward,
    /// An ExternalName out of the cluster zones: answer `partial` (the CNAME
    /// chain so far) plus the forwarder's answer for `target`/`qtype`.
    Chase {
        /// The CNAME chain.
        partial: Response<'a>,
        /// Name to resolve upstream (lowercase, no trailing dot).
        target: String,
    },
}

/// Answers `name` (lowercase dotted, from [`crate::wire::Query::name`]).
/// `rotate` picks the round-robin start of multi-address answers.
pub fn resolve<'a>(
    cfg: &'a EngineConfig,
    snap: &'a Snapshot,
    name: &str,
    odd: bool,
    qtype: u16,
    rotate: usize,
) -> Outcome<'a> {
    let Some(zone) = find_zone(cfg, name) else {
        return Outcome::Forward;
    };
    if qtype == rtype::AXFR || qtype == rtype::IXFR {
        return Outcome::Answer(Response::rcode(Rcode::Refused));
    }
    if !snap.synced {
        return Outcome::Answer(Response::rcode(Rcode::ServFail));
    }
    let mut ctx = Lookup {
        cfg,
        snap,
        zone,
        owner: Owner::Qname,
        qtype,
        odd,
    };
    let mut resp = ctx.answer(name);
    let mut chain = 0;
    // Chase ExternalName targets: inside the cluster here, else upstream.
    while let Some(target) = pending_cname(&resp) {
        chain += 1;
        if chain > MAX_CHASE {
            break;
        }
        match find_zone(cfg, &target) {
            Some(z) if cfg.zones.iter().any(|c| c == z) => {
                ctx.zone = z;
                ctx.owner = Owner::Name(Cow::Owned(target.clone()));
                let next = ctx.answer(&target);
                resp.rcode = next.rcode;
                resp.answer.extend(next.answer);
                resp.authority = next.authority;
            }
            _ => {
                return Outcome::Chase {
                    partial: resp,
                    target,
                };
            }
        }
    }
    rotate_addresses(&mut resp.answer, rotate);
    if resp.rcode == Some(Rcode::NxDomain) && falls_through(cfg, zone) {
        return Outcome::Forward;
    }
    Outcome::Answer(resp)
}

/// The longest configured zone containing `name`.
fn find_zone<'a>(cfg: &'a EngineConfig, name: &str) -> Option<&'a str> {
    cfg.zones
        .iter()
        .chain(cfg.reverse_zones.iter())
        .filter(|z| in_zone(name, z))
        .max_by_key(|z| z.len())
        .map(String::as_str)
}

/// True when `name` equals `zone` or lies below it.
pub(crate) fn in_zone(name: &str, zone: &str) -> bool {
    zone.is_empty()
        || name == zone
        || (name.len() > zone.len()
            && name.ends_with(zone)
            && name.as_bytes()[name.len() - zone.len() - 1] == b'.')
}

fn falls_through(cfg: &EngineConfig, zone: &str) -> bool {
    match &cfg.fallthrough {
        None => false,
        Some(zs) => zs.is_empty() || zs.iter().any(|z| z == zone),
    }
}

/// The CNAME target of the last answer record, if the answer stops there.
fn pending_cname(resp: &Response<'_>) -> Option<String> {
    match resp.answer.last() {
        Some(Record {
            data: RData::Cname(t),
            ..
        }) if resp.rcode.is_none() => Some(t.to_string()),
        _ => None,
    }
}

/// Rotates the trailing run of A/AAAA records by `by` (DNS round robin).
fn rotate_addresses(answer: &mut [Record<'_>], by: usize) {
    let start = answer
        .iter()
        .rposition(|r| !matches!(r.data, RData::A(_) | RData::Aaaa(_)))
        .map_or(0, |i| i + 1);
    let run = &mut answer[start..];
    if run.len() > 1 {
        let n = run.len();
        run.rotate_left(by % n);
    }
}

fn strip_underscore(l: &str) -> &str {
    l.strip_prefix('_').unwrap_or(l)
}

/// One lookup inside one zone.
struct Lookup<'a> {
    cfg: &'a EngineConfig,
    snap: &'a Snapshot,
    zone: &'a str,
    owner: Owner<'a>,
    qtype: u16,
    odd: bool,
}

impl<'a> Lookup<'a> {
    /// The answer for `name` in `self.zone`.
    fn answer(&self, name: &str) -> Response<'a> {
        let rest = if name.len() == self.zone.len() {
            ""
        } else {
            &name[..name.len() - self.zone.len() - 1]
        };
        if self.cfg.reverse_zones.iter().any(|z| z == self.zone) {
            return self.reverse(rest);
        }
        if rest.is_empty() {
            return self.apex();
        }
        if self.odd {
            return self.nxdomain();
        }
        self.cluster(rest)
    }

    /// Records at the zone apex: SOA, NS; NODATA otherwise.
    fn apex(&self) -> Response<'a> {
        match self.qtype {
            rtype::SOA => self.positive(vec![self.soa_record(self.owner.clone())]),
            rtype::NS => {
                let ns = format!("ns.dns.{}", self.zone);
                let mut r = self.positive(vec![self.record(RData::Ns(ns.clone().into()))]);
                r.additional = self
                    .cfg
                    .ns_ips
                    .iter()
                    .map(|ip| Record {
                        owner: Owner::Name(ns.clone().into()),
                        ttl: self.cfg.ttl,
                        data: names::addr_rdata(*ip),
                    })
                    .collect();
                r
            }
            _ => self.nodata(),
        }
    }

    /// A record with the current owner and TTL.
    fn record(&self, data: RData<'a>) -> Record<'a> {
        Record {
            owner: self.owner.clone(),
            ttl: self.cfg.ttl,
            data,
        }
    }

    fn positive(&self, answer: Vec<Record<'a>>) -> Response<'a> {
        Response {
            authoritative: true,
            answer,
            ..Response::default()
        }
    }

    /// The zone's SOA, CoreDNS style.
    fn soa_record(&self, owner: Owner<'a>) -> Record<'a> {
        let ttl = self.cfg.ttl.min(300);
        Record {
            owner,
            ttl,
            data: RData::Soa {
                mname: format!("ns.dns.{}", self.zone).into(),
                rname: format!("hostmaster.{}", self.zone).into(),
                serial: self.snap.serial,
                refresh: 7200,
                retry: 1800,
                expire: 86400,
                minimum: self.cfg.ttl,
            },
        }
    }

    fn negative(&self, rcode: Rcode) -> Response<'a> {
        Response {
            rcode: (rcode != Rcode::NoError).then_some(rcode),
            authoritative: true,
            authority: vec![self.soa_record(Owner::Name(Cow::Borrowed(self.zone)))],
            ..Response::default()
        }
    }

    fn nxdomain(&self) -> Response<'a> {
        self.negative(Rcode::NxDomain)
    }

    fn nodata(&self) -> Response<'a> {
        self.negative(Rcode::NoError)
    }

    fn exposed(&self, ns: &str) -> bool {
        self.cfg.namespaces.as_ref().is_none_or(|s| s.contains(ns))
    }

    /// Names below a cluster zone: `dns-version`, `svc`, `pod` shapes.
    fn cluster(&self, rest: &str) -> Response<'a> {
        let mut labels = [""; 6];
        let mut n = 0;
        for l in rest.split('.') {
            if n == labels.len() {
                return self.nxdomain();
            }
            labels[n] = l;
            n += 1;
        }
        let labels = &labels[..n];
        if n == 1 {
            return match labels[0] {
                "dns-version" if self.qtype == rtype::TXT => {
                    let mut r = self.record(RData::Txt(SCHEMA_VERSION.into()));
                    r.ttl = SCHEMA_TTL;
                    self.positive(vec![r])
                }
                "dns-version" | "svc" | "pod" => self.nodata(),
                _ => self.nxdomain(),
            };
        }
        let kind = labels[n - 1];
        let ns = labels[n - 2];
        if (kind != "svc" && kind != "pod") || !self.exposed(ns) {
            return self.nxdomain();
        }
        if n == 2 {
            return if self.snap.namespace_exists(ns) {
                self.nodata()
            } else {
                self.nxdomain()
            };
        }
        if kind == "pod" {
            return if n == 3 {
                self.pod(labels[0], ns)
            } else {
                self.nxdomain()
            };
        }
        // `<svc>.<ns>` is contiguous in `rest`: the index key.
        let key_start = rest.len() - (labels[n - 3].len() + ns.len() + kind.len() + 2);
        let key = &rest[key_start..rest.len() - kind.len() - 1];
        match n {
            3 => self.service(key, None, None),
            4 => self.service(key, Some(labels[0]), None),
            5 => {
                let port = (strip_underscore(labels[0]), strip_underscore(labels[1]));
                self.service(key, None, Some(port))
            }
            _ => self.nxdomain(),
        }
    }
}
