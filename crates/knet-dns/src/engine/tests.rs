use std::net::IpAddr;

use super::*;
use crate::source::{load_objects, static_snapshot};

const FIXTURE: &str = include_str!("../../tests/fixtures/cluster.yaml");

fn snap() -> Snapshot {
    static_snapshot(load_objects(FIXTURE).unwrap(), 1_700_000_000)
}

fn answer<'a>(cfg: &'a EngineConfig, s: &'a Snapshot, name: &str, qtype: u16) -> Response<'a> {
    match resolve(cfg, s, name, false, qtype, 0) {
        Outcome::Answer(r) => r,
        other => panic!("{name}: expected an answer, got {other:?}"),
    }
}

fn addrs(r: &Response<'_>) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = r
        .answer
        .iter()
        .filter_map(|x| match &x.data {
            RData::A(a) => Some(IpAddr::V4(*a)),
            RData::Aaaa(a) => Some(IpAddr::V6(*a)),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn cluster_ip_a_and_aaaa() {
    let (cfg, s) = (EngineConfig::default(), snap());
    let r = answer(&cfg, &s, "nginx.default.svc.cluster.local", rtype::A);
    assert!(r.authoritative && r.rcode.is_none());
    assert_eq!(addrs(&r), vec![ip("10.102.97.154")]);
    assert_eq!(r.answer[0].ttl, 30);
    assert_eq!(r.answer[0].owner, Owner::Qname);
    // IPv4-only service: AAAA is NODATA with the SOA.
    let r = answer(&cfg, &s, "nginx.default.svc.cluster.local", rtype::AAAA);
    assert!(r.answer.is_empty() && r.rcode.is_none());
    assert!(matches!(
        r.authority[0].data,
        RData::Soa {
            serial: 1_700_000_000,
            minimum: 30,
            ..
        }
    ));
    let r = answer(&cfg, &s, "dual.default.svc.cluster.local", rtype::AAAA);
    assert_eq!(addrs(&r), vec![ip("fd00:10:96::5")]);
}

#[test]
fn headless_publishes_ready_endpoints_only() {
    let (cfg, s) = (EngineConfig::default(), snap());
    let r = answer(&cfg, &s, "my-nginx-svc.default.svc.cluster.local", rtype::A);
    assert_eq!(
        addrs(&r),
        vec![ip("10.36.0.1"), ip("10.44.0.1"), ip("10.47.0.1")]
    );
    let r = answer(&cfg, &s, "none-ready.default.svc.cluster.local", rtype::A);
    assert_eq!(r.rcode, Some(Rcode::NxDomain));
    let r = answer(&cfg, &s, "publish-all.default.svc.cluster.local", rtype::A);
    assert_eq!(addrs(&r), vec![ip("10.244.8.8")]);
    let r = answer(
        &cfg,
        &s,
        "my-nginx-0.my-nginx-svc.default.svc.cluster.local",
        rtype::A,
    );
    assert_eq!(addrs(&r), vec![ip("10.36.0.1")]);
    let r = answer(
        &cfg,
        &s,
        "my-nginx-3.my-nginx-svc.default.svc.cluster.local",
        rtype::A,
    );
    assert_eq!(
        r.rcode,
        Some(Rcode::NxDomain),
        "unready endpoint has no name"
    );
    let r = answer(
        &cfg,
        &s,
        "10-244-1-7.plain-headless.default.svc.cluster.local",
        rtype::A,
    );
    assert_eq!(addrs(&r), vec![ip("10.244.1.7")]);
    // Endpoint names also exist under ClusterIP services (CoreDNS extension).
    let r = answer(
        &cfg,
        &s,
        "192-168-76-141.nginx.default.svc.cluster.local",
        rtype::A,
    );
    assert_eq!(addrs(&r), vec![ip("192.168.76.141")]);
}

#[test]
fn endpoint_pod_names_option() {
    let cfg = EngineConfig {
        endpoint_pod_names: true,
        ..EngineConfig::default()
    };
    let s = snap();
    let r = answer(
        &cfg,
        &s,
        "dns-pod-a.plain-headless.default.svc.cluster.local",
        rtype::A,
    );
    assert_eq!(addrs(&r), vec![ip("10.244.1.7")]);
}

#[test]
fn rotation_changes_first_record() {
    let (cfg, s) = (EngineConfig::default(), snap());
    let firsts: std::collections::HashSet<_> = (0..3)
        .map(|i| {
            match resolve(
                &cfg,
                &s,
                "my-nginx-svc.default.svc.cluster.local",
                false,
                rtype::A,
                i,
            ) {
                Outcome::Answer(r) => r.answer[0].data.clone(),
                o => panic!("{o:?}"),
            }
        })
        .collect();
    assert_eq!(firsts.len(), 3);
}

#[test]
fn srv_records_follow_coredns() {
    let (cfg, s) = (EngineConfig::default(), snap());
    let r = answer(
        &cfg,
        &s,
        "_http._tcp.nginx.default.svc.cluster.local",
        rtype::SRV,
    );
    assert_eq!(r.answer.len(), 1);
    assert_eq!(
        r.answer[0].data,
        RData::Srv {
            priority: 0,
            weight: 100,
            port: 80,
            target: "nginx.default.svc.cluster.local".into()
        }
    );
    assert_eq!(
        addrs(&Response {
            answer: r.additional.clone(),
            ..Response::default()
        }),
        vec![ip("10.102.97.154")]
    );
    // Headless: one SRV per ready endpoint, weight 100/3, hostname targets.
    let r = answer(
        &cfg,
        &s,
        "_web._tcp.my-nginx-svc.default.svc.cluster.local",
        rtype::SRV,
    );
    assert_eq!(r.answer.len(), 3);
    let targets: Vec<_> = r
        .answer
        .iter()
        .map(|x| match &x.data {
            RData::Srv {
                weight: 33,
                port: 80,
                target,
                ..
            } => target.to_string(),
            d => panic!("{d:?}"),
        })
        .collect();
    assert!(targets.contains(&"my-nginx-0.my-nginx-svc.default.svc.cluster.local".to_string()));
    assert_eq!(r.additional.len(), 3);
    // Wrong protocol: NXDOMAIN.
    let r = answer(
        &cfg,
        &s,
        "_http._udp.nginx.default.svc.cluster.local",
        rtype::SRV,
    );
    assert_eq!(r.rcode, Some(Rcode::NxDomain));
    // Bare name SRV covers every port (named and unnamed).
    let r = answer(&cfg, &s, "nginx.default.svc.cluster.local", rtype::SRV);
    assert_eq!(r.answer.len(), 2);
}

#[test]
fn externalname_cname_and_chase() {
    let (cfg, s) = (EngineConfig::default(), snap());
    match resolve(
        &cfg,
        &s,
        "iij.default.svc.cluster.local",
        false,
        rtype::A,
        0,
    ) {
        Outcome::Chase { partial, target } => {
            assert_eq!(target, "www.iij.ad.jp");
            assert_eq!(partial.answer[0].data, RData::Cname("www.iij.ad.jp".into()));
        }
        o => panic!("{o:?}"),
    }
    let r = answer(&cfg, &s, "alias.default.svc.cluster.local", rtype::A);
    assert_eq!(r.answer.len(), 2);
    assert_eq!(
        r.answer[0].data,
        RData::Cname("nginx.default.svc.cluster.local".into())
    );
    assert_eq!(
        r.answer[1].owner,
        Owner::Name("nginx.default.svc.cluster.local".into())
    );
    assert_eq!(addrs(&r), vec![ip("10.102.97.154")]);
}

#[test]
fn nxdomain_nodata_and_apex() {
    let (cfg, s) = (EngineConfig::default(), snap());
    for (name, qtype, rcode) in [
        (
            "nope.default.svc.cluster.local",
            rtype::A,
            Some(Rcode::NxDomain),
        ),
        (
            "nginx.nope.svc.cluster.local",
            rtype::A,
            Some(Rcode::NxDomain),
        ),
        ("default.svc.cluster.local", rtype::A, None),
        ("empty-ns.svc.cluster.local", rtype::A, None),
        (
            "missing-ns.svc.cluster.local",
            rtype::A,
            Some(Rcode::NxDomain),
        ),
        ("svc.cluster.local", rtype::A, None),
        ("cluster.local", rtype::A, None),
        ("foo.cluster.local", rtype::A, Some(Rcode::NxDomain)),
        (
            "nginx.default.xyz.cluster.local",
            rtype::A,
            Some(Rcode::NxDomain),
        ),
        (
            "a.b.c.nginx.default.svc.cluster.local",
            rtype::A,
            Some(Rcode::NxDomain),
        ),
        (
            "*.default.svc.cluster.local",
            rtype::A,
            Some(Rcode::NxDomain),
        ),
        ("nginx.default.svc.cluster.local", rtype::MX, None),
    ] {
        let r = answer(&cfg, &s, name, qtype);
        assert_eq!(r.rcode, rcode, "{name}");
        assert!(r.answer.is_empty(), "{name}");
        assert!(matches!(r.authority[0].data, RData::Soa { .. }), "{name}");
        assert_eq!(r.authority[0].owner, Owner::Name("cluster.local".into()));
    }
    let r = answer(&cfg, &s, "cluster.local", rtype::SOA);
    assert_eq!(r.answer.len(), 1);
    let r = answer(&cfg, &s, "cluster.local", rtype::NS);
    assert_eq!(r.answer[0].data, RData::Ns("ns.dns.cluster.local".into()));
    let r = answer(&cfg, &s, "dns-version.cluster.local", rtype::TXT);
    assert_eq!(r.answer[0].data, RData::Txt("1.1.0".into()));
    assert_eq!(r.answer[0].ttl, 28800);
}

#[test]
fn pods_modes() {
    let s = snap();
    let mut cfg = EngineConfig::default();
    let r = answer(&cfg, &s, "10-9-9-9.default.pod.cluster.local", rtype::A);
    assert_eq!(addrs(&r), vec![ip("10.9.9.9")]);
    let r = answer(&cfg, &s, "10-9-9.default.pod.cluster.local", rtype::A);
    assert_eq!(r.rcode, Some(Rcode::NxDomain));
    let r = answer(&cfg, &s, "fd00--1.default.pod.cluster.local", rtype::AAAA);
    assert_eq!(addrs(&r), vec![ip("fd00::1")]);
    cfg.pods = PodMode::Verified;
    let r = answer(&cfg, &s, "10-244-1-5.default.pod.cluster.local", rtype::A);
    assert_eq!(addrs(&r), vec![ip("10.244.1.5")]);
    let r = answer(&cfg, &s, "10-9-9-9.default.pod.cluster.local", rtype::A);
    assert_eq!(r.rcode, Some(Rcode::NxDomain));
    let r = answer(
        &cfg,
        &s,
        "10-244-1-5.kube-system.pod.cluster.local",
        rtype::A,
    );
    assert_eq!(r.rcode, Some(Rcode::NxDomain));
    cfg.pods = PodMode::Disabled;
    let r = answer(&cfg, &s, "10-244-1-5.default.pod.cluster.local", rtype::A);
    assert_eq!(r.rcode, Some(Rcode::NxDomain));
}

#[test]
fn namespace_filter_and_ignore_empty() {
    let s = snap();
    let cfg = EngineConfig {
        namespaces: Some(["kube-system".to_string()].into()),
        ..EngineConfig::default()
    };
    let r = answer(&cfg, &s, "nginx.default.svc.cluster.local", rtype::A);
    assert_eq!(r.rcode, Some(Rcode::NxDomain));
    let r = answer(&cfg, &s, "lonely.kube-system.svc.cluster.local", rtype::A);
    assert_eq!(addrs(&r), vec![ip("10.96.0.77")]);
    let cfg = EngineConfig {
        ignore_empty_service: true,
        ..EngineConfig::default()
    };
    let r = answer(&cfg, &s, "lonely.kube-system.svc.cluster.local", rtype::A);
    assert_eq!(r.rcode, Some(Rcode::NxDomain));
}

#[test]
fn ptr_for_cluster_ips_and_endpoints() {
    let (cfg, s) = (EngineConfig::default(), snap());
    let r = answer(&cfg, &s, "154.97.102.10.in-addr.arpa", rtype::PTR);
    assert_eq!(
        r.answer[0].data,
        RData::Ptr("nginx.default.svc.cluster.local".into())
    );
    let r = answer(&cfg, &s, "1.0.36.10.in-addr.arpa", rtype::PTR);
    assert_eq!(
        r.answer[0].data,
        RData::Ptr("my-nginx-0.my-nginx-svc.default.svc.cluster.local".into())
    );
    let v6 = names::reverse_name(ip("fd00:10:96::5"));
    let r = answer(&cfg, &s, &v6, rtype::PTR);
    assert_eq!(
        r.answer[0].data,
        RData::Ptr("dual.default.svc.cluster.local".into())
    );
    // Unknown reverse names fall through to the forwarder (kubeadm default).
    assert_eq!(
        resolve(&cfg, &s, "8.8.8.8.in-addr.arpa", false, rtype::PTR, 0),
        Outcome::Forward
    );
    let cfg = EngineConfig {
        fallthrough: None,
        ..EngineConfig::default()
    };
    let r = answer(&cfg, &s, "8.8.8.8.in-addr.arpa", rtype::PTR);
    assert_eq!(r.rcode, Some(Rcode::NxDomain));
}

#[test]
fn unsynced_other_zones_and_transfers() {
    let cfg = EngineConfig::default();
    let empty = Snapshot::default();
    let r = answer(&cfg, &empty, "nginx.default.svc.cluster.local", rtype::A);
    assert_eq!(r.rcode, Some(Rcode::ServFail));
    let s = snap();
    assert_eq!(
        resolve(&cfg, &s, "example.com", false, rtype::A, 0),
        Outcome::Forward
    );
    let r = answer(&cfg, &s, "cluster.local", rtype::AXFR);
    assert_eq!(r.rcode, Some(Rcode::Refused));
}

#[test]
fn json_stream_loads_like_yaml() {
    let text = r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"a","namespace":"n"},"spec":{"clusterIP":"10.0.0.9"}}
{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"m"}}]}"#;
    let s = static_snapshot(load_objects(text).unwrap(), 1);
    let cfg = EngineConfig::default();
    assert_eq!(
        addrs(&answer(&cfg, &s, "a.n.svc.cluster.local", rtype::A)),
        vec![ip("10.0.0.9")]
    );
    assert_eq!(
        answer(&cfg, &s, "m.svc.cluster.local", rtype::A).rcode,
        None
    );
    assert!(load_objects("{\"kind\": \"Service\", \"spec\": 5}").is_err());
}
