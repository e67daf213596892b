//! knet-dns answers real `dig` and `kdig` queries over UDP and TCP: the seeds'
//! DNS transcripts (000, 002) and the Kubernetes DNS specification's records.

mod common;

use std::collections::HashSet;

use common::{dig_at, http_get, kdig_at, shared};
use knet_dns::server::http::Endpoint;

fn dig(args: &[&str]) -> common::Answer {
    dig_at(shared().0.addr, args)
}

#[test]
fn seed_002_cluster_ip_a_record() {
    let a = dig(&["nginx.default.svc.cluster.local"]);
    assert_eq!(a.status, "NOERROR", "{}", a.raw);
    assert!(a.has_flag("aa"), "{}", a.raw);
    assert_eq!(
        a.answer,
        vec!["nginx.default.svc.cluster.local. 30 IN A 10.102.97.154"]
    );
}

#[test]
fn seed_000_headless_returns_every_ready_pod_and_rotates() {
    let mut firsts = HashSet::new();
    for _ in 0..6 {
        let a = dig(&["my-nginx-svc.default.svc.cluster.local", "A"]);
        let mut got = a.data();
        firsts.insert(got[0].clone());
        got.sort();
        assert_eq!(
            got,
            vec!["10.36.0.1", "10.44.0.1", "10.47.0.1"],
            "{}",
            a.raw
        );
    }
    assert!(firsts.len() > 1, "answer order never rotated: {firsts:?}");
}

#[test]
fn seed_000_statefulset_pod_name() {
    let a = dig(&["my-nginx-0.my-nginx-svc.default.svc.cluster.local"]);
    assert_eq!(
        a.answer,
        vec!["my-nginx-0.my-nginx-svc.default.svc.cluster.local. 30 IN A 10.36.0.1"]
    );
}

#[test]
fn seed_002_selectorless_service_with_handwritten_endpoints() {
    let a = dig(&["nginx-selectorless.default.svc.cluster.local"]);
    assert_eq!(
        a.answer,
        vec!["nginx-selectorless.default.svc.cluster.local. 30 IN A 202.232.2.180"]
    );
}

#[test]
fn seed_002_and_000_externalname_cname_plus_upstream_a() {
    let a = dig(&["iij.default.svc.cluster.local"]);
    assert_eq!(a.status, "NOERROR", "{}", a.raw);
    assert_eq!(a.answer.len(), 2, "{}", a.raw);
    assert_eq!(
        a.answer[0],
        "iij.default.svc.cluster.local. 30 IN CNAME www.iij.ad.jp."
    );
    // The upstream record keeps its owner and data; its TTL is the upstream's
    // (300) or lower when served from the cache (capped at 30).
    let f: Vec<&str> = a.answer[1].split(' ').collect();
    assert_eq!(
        (f[0], f[2], f[3], f[4]),
        ("www.iij.ad.jp.", "IN", "A", "202.232.2.180")
    );
    assert!(f[1].parse::<u32>().unwrap() <= 300, "{}", a.raw);
    let a = kdig_at(
        shared().0.addr,
        &["google-externalname.default.svc.cluster.local", "A"],
    );
    assert_eq!(
        a.data(),
        vec!["google.com.", "172.217.168.206"],
        "{}",
        a.raw
    );
}

#[test]
fn externalname_inside_the_cluster_is_chased_locally() {
    let a = dig(&["alias.default.svc.cluster.local"]);
    assert_eq!(
        a.answer,
        vec![
            "alias.default.svc.cluster.local. 30 IN CNAME nginx.default.svc.cluster.local.",
            "nginx.default.svc.cluster.local. 30 IN A 10.102.97.154",
        ]
    );
}

#[test]
fn dns_version_txt() {
    let a = dig(&["dns-version.cluster.local", "TXT"]);
    assert_eq!(
        a.answer,
        vec!["dns-version.cluster.local. 28800 IN TXT \"1.1.0\""]
    );
}

#[test]
fn srv_with_additional_addresses() {
    let a = dig(&["_http._tcp.nginx.default.svc.cluster.local", "SRV"]);
    assert_eq!(
        a.answer,
        vec![
            "_http._tcp.nginx.default.svc.cluster.local. 30 IN SRV 0 100 80 nginx.default.svc.cluster.local."
        ]
    );
    assert!(
        a.additional
            .contains(&"nginx.default.svc.cluster.local. 30 IN A 10.102.97.154".to_string()),
        "{}",
        a.raw
    );
    let a = kdig_at(
        shared().0.addr,
        &["_web._tcp.my-nginx-svc.default.svc.cluster.local", "SRV"],
    );
    assert_eq!(a.answer.len(), 3, "{}", a.raw);
    assert!(
        a.answer
            .iter()
            .all(|l| l.contains(" SRV 0 33 80 my-nginx-")),
        "{}",
        a.raw
    );
    assert!(
        a.raw
            .contains("my-nginx-1.my-nginx-svc.default.svc.cluster.local. 30 IN A 10.44.0.1")
            || a.additional.iter().any(|l| l.ends_with("10.44.0.1")),
        "{}",
        a.raw
    );
}

#[test]
fn ptr_for_cluster_ip_and_endpoint() {
    let a = dig(&["-x", "10.102.97.154"]);
    assert_eq!(
        a.answer,
        vec!["154.97.102.10.in-addr.arpa. 30 IN PTR nginx.default.svc.cluster.local."]
    );
    let a = dig(&["-x", "10.44.0.1"]);
    assert_eq!(
        a.data(),
        vec!["my-nginx-1.my-nginx-svc.default.svc.cluster.local."]
    );
    let a = dig(&["-x", "fd00:10:96::5"]);
    assert_eq!(
        a.data(),
        vec!["dual.default.svc.cluster.local."],
        "{}",
        a.raw
    );
}

#[test]
fn nxdomain_and_nodata_carry_the_soa() {
    let a = dig(&["nope.default.svc.cluster.local"]);
    assert_eq!(a.status, "NXDOMAIN");
    assert!(a.has_flag("aa"));
    assert_eq!(a.authority.len(), 1, "{}", a.raw);
    assert!(
        a.authority[0].starts_with(
            "cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. "
        ),
        "{}",
        a.raw
    );
    assert!(a.authority[0].ends_with(" 7200 1800 86400 30"), "{}", a.raw);
    let a = dig(&["nginx.default.svc.cluster.local", "AAAA"]);
    assert_eq!(a.status, "NOERROR");
    assert!(a.answer.is_empty());
    assert_eq!(a.authority.len(), 1, "{}", a.raw);
    let a = dig(&["none-ready.default.svc.cluster.local"]);
    assert_eq!(a.status, "NXDOMAIN", "headless with no ready endpoint");
}

#[test]
fn case_is_matched_insensitively_and_preserved() {
    let a = dig(&["NGINX.Default.SVC.cluster.LOCAL"]);
    assert_eq!(
        a.answer,
        vec!["NGINX.Default.SVC.cluster.LOCAL. 30 IN A 10.102.97.154"]
    );
}

#[test]
fn tcp_and_kdig_agree_with_udp() {
    let addr = shared().0.addr;
    let a = dig_at(addr, &["+tcp", "dual.default.svc.cluster.local", "AAAA"]);
    assert_eq!(
        a.answer,
        vec!["dual.default.svc.cluster.local. 30 IN AAAA fd00:10:96::5"]
    );
    let a = kdig_at(
        addr,
        &[
            "+tcp",
            "my-nginx-2.my-nginx-svc.default.svc.cluster.local",
            "A",
        ],
    );
    assert_eq!(a.data(), vec!["10.47.0.1"], "{}", a.raw);
}

#[test]
fn pods_insecure_records() {
    let a = dig(&["10-244-3-4.default.pod.cluster.local"]);
    assert_eq!(
        a.answer,
        vec!["10-244-3-4.default.pod.cluster.local. 30 IN A 10.244.3.4"]
    );
}

#[test]
fn large_upstream_answers_truncate_over_udp_and_complete_over_tcp() {
    let addr = shared().0.addr;
    // Forwarded directly.
    let a = dig_at(addr, &["+noedns", "+ignore", "big.iij.ad.jp"]);
    assert!(a.has_flag("tc"), "{}", a.raw);
    let a = dig_at(addr, &["+tcp", "big.iij.ad.jp"]);
    assert_eq!(a.answer.len(), 100, "{}", a.raw);
}

#[test]
fn forwards_other_names_and_caches_them() {
    let (server, _) = shared();
    let a = dig(&["www.iij.ad.jp"]);
    assert_eq!(a.data(), vec!["202.232.2.180"], "{}", a.raw);
    assert!(
        !a.has_flag("aa") || a.raw.contains("iij.ad.jp"),
        "{}",
        a.raw
    );
    let before = server.running.dns.metrics.cache_hits.get();
    let a = dig(&["www.iij.ad.jp"]);
    assert_eq!(a.data(), vec!["202.232.2.180"]);
    assert!(
        server.running.dns.metrics.cache_hits.get() > before,
        "second query not served from cache"
    );
}

#[test]
fn zone_transfers_are_refused() {
    let a = kdig_at(shared().0.addr, &["+tcp", "cluster.local", "AXFR"]);
    assert!(a.raw.contains("REFUSED"), "{}", a.raw);
}

#[test]
fn health_ready_and_metrics_endpoints() {
    let (server, _) = shared();
    let _ = dig(&["nginx.default.svc.cluster.local"]);
    let at = |ep| {
        server
            .http
            .iter()
            .find(|(e, _)| *e == ep)
            .map(|(_, a)| *a)
            .unwrap()
    };
    assert_eq!(
        http_get(at(Endpoint::Health), "/health"),
        (200, "OK".to_string())
    );
    assert_eq!(http_get(at(Endpoint::Ready), "/ready").0, 200);
    let (code, body) = http_get(at(Endpoint::Metrics), "/metrics");
    assert_eq!(code, 200);
    assert!(body.contains("coredns_dns_requests_total{server=\"dns://:53\",zone=\".\",view=\"\",proto=\"udp\",family=\"1\",type=\"A\"}"), "{body}");
    assert!(body.contains("coredns_dns_responses_total{server=\"dns://:53\",zone=\".\",view=\"\",rcode=\"NOERROR\",plugin=\"\"}"));
    assert!(body.contains("coredns_dns_request_duration_seconds_bucket"));
    assert!(body.contains("coredns_cache_hits_total"));
    assert!(body.contains("coredns_kubernetes_dns_programming_duration_seconds_bucket"));
}

/// Value of one sample line of a Prometheus text body.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn request_and_response_size_histograms_as_coredns() {
    let (server, _) = shared();
    let metrics = server
        .http
        .iter()
        .find(|(e, _)| *e == Endpoint::Metrics)
        .map(|(_, a)| *a)
        .unwrap();
    // dig sends 60 bytes for this name with its default EDNS cookie option
    // (at most 100 either way); the headless answer of three A records is
    // over 100 bytes but well under 512.
    let a = dig(&["my-nginx-svc.default.svc.cluster.local", "A"]);
    assert_eq!(a.answer.len(), 3, "{}", a.raw);
    let a = dig(&["+tcp", "my-nginx-svc.default.svc.cluster.local", "A"]);
    assert_eq!(a.answer.len(), 3, "{}", a.raw);
    let (_, body) = http_get(metrics, "/metrics");
    assert!(body.contains("# TYPE coredns_dns_request_size_bytes histogram"));
    assert!(body.contains("# TYPE coredns_dns_response_size_bytes histogram"));
    let labels =
        |proto: &str| format!("server=\"dns://:53\",zone=\".\",view=\"\",proto=\"{proto}\"");
    for proto in ["udp", "tcp"] {
        let l = labels(proto);
        for name in [
            "coredns_dns_request_size_bytes",
            "coredns_dns_response_size_bytes",
        ] {
            // CoreDNS's buckets, in order, cumulative.
            let mut last = 0.0;
            for le in [
                "0", "100", "200", "300", "400", "511", "1023", "2047", "4095", "8291", "16000",
                "32000", "48000", "64000", "+Inf",
            ] {
                let v = sample(&body, &format!("{name}_bucket{{{l},le=\"{le}\"}}"))
                    .unwrap_or_else(|| panic!("{name} {proto} le={le} missing:\n{body}"));
                assert!(v >= last, "{name} {proto}: buckets not cumulative");
                last = v;
            }
            let count = sample(&body, &format!("{name}_count{{{l}}}")).unwrap();
            assert_eq!(count, last, "{name} {proto}: +Inf bucket equals the count");
            assert!(count >= 1.0, "{name} {proto}: nothing counted");
            assert!(sample(&body, &format!("{name}_sum{{{l}}}")).unwrap() > 0.0);
        }
    }
    let l = labels("tcp");
    let small =
        |name: &str, le: &str| sample(&body, &format!("{name}_bucket{{{l},le=\"{le}\"}}")).unwrap();
    // The TCP queries of this test: requests are small, responses medium.
    assert!(
        small("coredns_dns_request_size_bytes", "100") >= 1.0,
        "{body}"
    );
    assert!(
        small("coredns_dns_response_size_bytes", "511") >= 1.0,
        "{body}"
    );
    assert_eq!(small("coredns_dns_response_size_bytes", "0"), 0.0, "{body}");
}
