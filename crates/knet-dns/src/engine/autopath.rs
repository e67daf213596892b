//! Server-side search-path expansion (CoreDNS `autopath @kubernetes`).
//!
//! A pod with `ndots:5` asks for `nginx.<ns>.svc.<zone>` first when it means
//! `nginx`, and walks its search list one NXDOMAIN at a time. When the query
//! comes from a known pod (source IP → pod, `pods verified`) and its name
//! ends with the pod's first search domain, the server walks the rest of the
//! list itself — `<ns>.svc.<zone>`, `svc.<zone>`, `<zone>`, the server's own
//! resolv.conf search domains, then the bare name (forwarded) — and answers
//! the original name with a CNAME to the first name that exists, followed by
//! that name's records. NXDOMAIN only when the whole path fails.
//!
//! Pure: the walk's candidates, when a step ends the walk, and the rewrite of
//! the found answer. The server drives the steps (some need the forwarder).

use std::borrow::Cow;
use std::net::IpAddr;

use super::{EngineConfig, PodMode, in_zone};
use crate::index::Snapshot;
use crate::wire::Rcode;
use crate::wire::rr::{Owner, RData, Record};
use crate::wire::writer::Response;

/// The names to try for one query, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    /// Candidate names (lowercase dotted); the first is the query's own name,
    /// the last the bare name.
    pub candidates: Vec<String>,
}

/// The walk for a query of `name` (lowercase dotted) from `src`, or `None`
/// when autopath does not apply: disabled, not `pods verified`, name outside
/// the cluster zones, source not a (single-namespace) pod, or the name not
/// below the pod's first search domain.
pub fn walk(cfg: &EngineConfig, snap: &Snapshot, src: IpAddr, name: &str) -> Option<Walk> {
    if !cfg.autopath || cfg.pods != PodMode::Verified {
        return None;
    }
    let zone = cfg
        .zones
        .iter()
        .filter(|z| in_zone(name, z))
        .max_by_key(|z| z.len())?;
    let ns = snap.pod_namespace(&src.to_canonical())?;
    let first = if zone.is_empty() {
        format!("{ns}.svc")
    } else {
        format!("{ns}.svc.{zone}")
    };
    // Strictly below the first search domain: `<ns>.svc.<zone>` itself is
    // answered as it is (CoreDNS answers SERVFAIL there, a bug).
    let base = name.strip_suffix(first.as_str())?.strip_suffix('.')?;
    if base.is_empty() {
        return None;
    }
    let join = |d: &str| {
        if d.is_empty() {
            base.to_string()
        } else {
            format!("{base}.{d}")
        }
    };
    let svc = if zone.is_empty() {
        "svc".to_string()
    } else {
        format!("svc.{zone}")
    };
    let mut candidates = vec![name.to_string(), join(&svc), join(zone)];
    for d in &cfg.autopath_search {
        candidates.push(join(d));
    }
    candidates.push(base.to_string());
    candidates.dedup();
    Some(Walk { candidates })
}

/// True when a step's answer ends the walk: anything but NXDOMAIN and the
/// error codes CoreDNS does not pass to the client (SERVFAIL, REFUSED,
/// FORMERR, NOTIMP).
pub fn ends_walk(resp: &Response<'_>) -> bool {
    !matches!(
        resp.rcode,
        Some(Rcode::NxDomain | Rcode::ServFail | Rcode::Refused | Rcode::FormErr | Rcode::NotImp)
    )
}

/// Turns the answer for candidate `found` (step `step` of the walk) into the
/// answer to the original query: records owned by the question now name
/// `found`, and a CNAME from the question to the owner of the first answer
/// record leads the answer section (TTL of that record), as CoreDNS's
/// `cnamer` does. Step 0 is the query's own name: nothing changes.
pub fn rewrite(mut resp: Response<'static>, step: usize, found: &str) -> Response<'static> {
    if step == 0 {
        return resp;
    }
    for r in resp
        .answer
        .iter_mut()
        .chain(resp.authority.iter_mut())
        .chain(resp.additional.iter_mut())
    {
        if r.owner == Owner::Qname {
            r.owner = Owner::Name(Cow::Owned(found.to_string()));
        }
    }
    if let Some(first) = resp.answer.first() {
        let target = match &first.owner {
            Owner::Name(n) => n.clone(),
            Owner::Qname => Cow::Owned(found.to_string()),
        };
        let cname = Record {
            owner: Owner::Qname,
            ttl: first.ttl,
            data: RData::Cname(target),
        };
        resp.answer.insert(0, cname);
    }
    resp
}

/// Search domains of a resolv.conf text (`search` and `domain` lines; the
/// last one wins, as in the resolver), lowercase without trailing dots.
pub fn search_domains(resolv_conf: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in resolv_conf.lines() {
        let mut it = line.split_whitespace();
        match it.next() {
            Some("search") | Some("domain") => {
                out = it
                    .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
                    .filter(|d| !d.is_empty())
                    .collect();
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Outcome, resolve};
    use crate::source::{load_objects, static_snapshot};
    use crate::wire::rtype;

    const FIXTURE: &str = include_str!("../../tests/fixtures/cluster.yaml");
    const CLIENT: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: default}\nstatus: {podIP: 127.0.0.5}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: other, namespace: kube-system}\nstatus: {podIP: 127.0.0.6}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: reused, namespace: kube-system}\nstatus: {podIP: 127.0.0.5}\n";

    fn snap(extra: &str) -> Snapshot {
        let text = format!("{FIXTURE}\n---\n{extra}");
        static_snapshot(load_objects(&text).unwrap(), 1)
    }

    fn cfg() -> EngineConfig {
        EngineConfig {
            autopath: true,
            pods: PodMode::Verified,
            ..EngineConfig::default()
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const CLIENT_ONLY: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: default}\nstatus: {podIP: 127.0.0.5}\n";

    #[test]
    fn walks_the_pods_search_path_then_the_bare_name() {
        let s = snap(CLIENT_ONLY);
        let c = EngineConfig {
            autopath_search: vec!["corp.example".into()],
            ..cfg()
        };
        let w = walk(
            &c,
            &s,
            ip("127.0.0.5"),
            "google.com.default.svc.cluster.local",
        )
        .unwrap();
        assert_eq!(
            w.candidates,
            vec![
                "google.com.default.svc.cluster.local",
                "google.com.svc.cluster.local",
                "google.com.cluster.local",
                "google.com.corp.example",
                "google.com",
            ]
        );
        // IPv4-mapped sources (dual-stack sockets) are the same pod.
        assert!(
            walk(
                &c,
                &s,
                ip("::ffff:127.0.0.5"),
                "x.default.svc.cluster.local"
            )
            .is_some()
        );
    }

    #[test]
    fn applies_only_to_known_pods_below_their_first_search_domain() {
        let s = snap(CLIENT_ONLY);
        let c = cfg();
        // Unknown source.
        assert!(walk(&c, &s, ip("127.0.0.9"), "x.default.svc.cluster.local").is_none());
        // Another namespace's search domain.
        assert!(walk(&c, &s, ip("127.0.0.5"), "x.kube-system.svc.cluster.local").is_none());
        // The search domain itself, and names outside the cluster zones.
        assert!(walk(&c, &s, ip("127.0.0.5"), "default.svc.cluster.local").is_none());
        assert!(walk(&c, &s, ip("127.0.0.5"), "www.iij.ad.jp").is_none());
        // Not a label boundary.
        assert!(walk(&c, &s, ip("127.0.0.5"), "xdefault.svc.cluster.local").is_none());
        // Needs the flag and verified pods.
        let off = EngineConfig {
            autopath: false,
            ..cfg()
        };
        assert!(walk(&off, &s, ip("127.0.0.5"), "x.default.svc.cluster.local").is_none());
        let insecure = EngineConfig {
            pods: PodMode::Insecure,
            ..cfg()
        };
        assert!(
            walk(
                &insecure,
                &s,
                ip("127.0.0.5"),
                "x.default.svc.cluster.local"
            )
            .is_none()
        );
    }

    #[test]
    fn an_ip_claimed_by_pods_of_two_namespaces_is_not_guessed() {
        let s = snap(CLIENT);
        assert_eq!(s.pod_namespace(&ip("127.0.0.6")), Some("kube-system"));
        assert_eq!(s.pod_namespace(&ip("127.0.0.5")), None);
        assert!(walk(&cfg(), &s, ip("127.0.0.5"), "x.default.svc.cluster.local").is_none());
    }

    /// Drives a walk through the engine alone (cluster names only).
    fn run(c: &EngineConfig, s: &Snapshot, name: &str, qtype: u16) -> Option<Response<'static>> {
        let w = walk(c, s, ip("127.0.0.5"), name)?;
        for (i, cand) in w.candidates.iter().enumerate() {
            match resolve(c, s, cand, false, qtype, 0) {
                Outcome::Answer(r) if ends_walk(&r) => {
                    return Some(rewrite(r.into_owned(), i, cand));
                }
                Outcome::Answer(_) => {}
                other => panic!("{cand}: unexpected {other:?}"),
            }
        }
        None
    }

    #[test]
    fn a_service_name_with_the_search_suffix_answers_cname_plus_a() {
        let (c, s) = (cfg(), snap(CLIENT_ONLY));
        let r = run(
            &c,
            &s,
            "nginx.default.svc.cluster.local.default.svc.cluster.local",
            rtype::A,
        )
        .unwrap();
        assert_eq!(r.rcode, None);
        assert_eq!(r.answer.len(), 2, "{r:?}");
        assert_eq!(r.answer[0].owner, Owner::Qname);
        assert_eq!(
            r.answer[0].data,
            RData::Cname("nginx.default.svc.cluster.local".into())
        );
        assert_eq!(r.answer[0].ttl, 30);
        assert_eq!(
            r.answer[1].owner,
            Owner::Name("nginx.default.svc.cluster.local".into())
        );
        assert_eq!(r.answer[1].data, RData::A("10.102.97.154".parse().unwrap()));
    }

    #[test]
    fn the_first_step_hit_is_the_plain_answer() {
        let (c, s) = (cfg(), snap(CLIENT_ONLY));
        let r = run(&c, &s, "nginx.default.svc.cluster.local", rtype::A).unwrap();
        assert_eq!(r.answer.len(), 1);
        assert_eq!(r.answer[0].owner, Owner::Qname);
    }

    #[test]
    fn nodata_ends_the_walk_without_a_cname() {
        let (c, s) = (cfg(), snap(CLIENT_ONLY));
        // `nginx.default.svc.cluster.local` exists but has no AAAA: NODATA at
        // step 3 ends the walk; there is no answer record to alias.
        let r = run(
            &c,
            &s,
            "nginx.default.svc.cluster.local.default.svc.cluster.local",
            rtype::AAAA,
        )
        .unwrap();
        assert!(r.answer.is_empty() && r.rcode.is_none());
        assert_eq!(
            r.authority[0].owner,
            Owner::Name("cluster.local".into()),
            "the SOA keeps its zone owner"
        );
    }

    #[test]
    fn errors_and_nxdomain_continue_the_walk() {
        assert!(!ends_walk(&Response::rcode(Rcode::NxDomain)));
        assert!(!ends_walk(&Response::rcode(Rcode::ServFail)));
        assert!(!ends_walk(&Response::rcode(Rcode::Refused)));
        assert!(ends_walk(&Response::default()));
    }

    #[test]
    fn resolv_conf_search_domains() {
        let t = "nameserver 1.1.1.1\nsearch Corp.Example. lab\noptions ndots:5\n";
        assert_eq!(search_domains(t), vec!["corp.example", "lab"]);
        assert!(search_domains("nameserver 1.1.1.1\n").is_empty());
    }
}
