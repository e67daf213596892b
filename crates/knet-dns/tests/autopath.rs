//! `autopath @kubernetes`: queries from a pod's address for names under the
//! pod's first search domain are answered for the first existing name of
//! its search path, with a CNAME from the asked name (CoreDNS's behaviour).
//! dig binds to 127.0.0.5, the IP of a pod in the loaded objects.

mod common;

use std::sync::OnceLock;

use common::{Knot, Server, dig_at, http_get, start_knot, start_server, test_config};
use knet_dns::engine::PodMode;
use knet_dns::server::http::Endpoint;

const CLIENT_POD: &str = "\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: default}\nstatus: {podIP: 127.0.0.5, podIPs: [{ip: 127.0.0.5}]}\n";

fn server() -> &'static (Server, Knot, tempfile::TempDir) {
    static S: OnceLock<(Server, Knot, tempfile::TempDir)> = OnceLock::new();
    S.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let objects = dir.path().join("objects.yaml");
        let mut text = std::fs::read_to_string(common::fixture()).expect("fixture");
        text.push_str(CLIENT_POD);
        std::fs::write(&objects, text).expect("write objects");
        let resolv = dir.path().join("resolv.conf");
        std::fs::write(&resolv, "nameserver 127.0.0.2\nsearch iij.ad.jp\n").expect("resolv");
        let knot = start_knot();
        let mut cfg = test_config(&objects, Some(knot.addr));
        cfg.engine.pods = PodMode::Verified;
        cfg.engine.autopath = true;
        cfg.autopath_resolv = Some(resolv);
        (start_server(cfg), knot, dir)
    })
}

/// dig from the client pod's address.
fn dig_pod(args: &[&str]) -> common::Answer {
    let mut a = vec!["-b", "127.0.0.5"];
    a.extend_from_slice(args);
    dig_at(server().0.addr, &a)
}

#[test]
fn a_cluster_name_under_the_search_suffix_gets_cname_plus_a() {
    let a = dig_pod(&[
        "nginx.default.svc.cluster.local.default.svc.cluster.local",
        "A",
    ]);
    assert_eq!(a.status, "NOERROR", "{}", a.raw);
    assert_eq!(
        a.answer,
        vec![
            "nginx.default.svc.cluster.local.default.svc.cluster.local. 30 IN CNAME nginx.default.svc.cluster.local.",
            "nginx.default.svc.cluster.local. 30 IN A 10.102.97.154",
        ],
        "{}",
        a.raw
    );
    // Over TCP too (the client is the connection's peer).
    let a = dig_pod(&[
        "+tcp",
        "nginx.default.svc.cluster.local.default.svc.cluster.local",
        "A",
    ]);
    assert_eq!(a.answer.len(), 2, "{}", a.raw);
    // The short name the pod meant resolves at the first step, unchanged.
    let a = dig_pod(&["nginx.default.svc.cluster.local", "A"]);
    assert_eq!(
        a.answer,
        vec!["nginx.default.svc.cluster.local. 30 IN A 10.102.97.154"]
    );
}

#[test]
fn a_service_of_another_namespace_via_svc_zone() {
    // `<svc>.<ns>` typed by the pod: the walk finds `<svc>.<ns>.svc.<zone>`
    // at the second step (`svc.<zone>`).
    let a = dig_pod(&["nginx.default.default.svc.cluster.local", "A"]);
    assert_eq!(a.status, "NOERROR", "{}", a.raw);
    assert_eq!(
        a.answer,
        vec![
            "nginx.default.default.svc.cluster.local. 30 IN CNAME nginx.default.svc.cluster.local.",
            "nginx.default.svc.cluster.local. 30 IN A 10.102.97.154",
        ],
        "{}",
        a.raw
    );
}

#[test]
fn an_external_name_falls_through_to_the_upstream() {
    let a = dig_pod(&["google.com.default.svc.cluster.local", "A"]);
    assert_eq!(a.status, "NOERROR", "{}", a.raw);
    assert_eq!(a.answer.len(), 2, "{}", a.raw);
    let f: Vec<&str> = a.answer[0].split(' ').collect();
    assert_eq!(
        (f[0], f[3], f[4]),
        (
            "google.com.default.svc.cluster.local.",
            "CNAME",
            "google.com."
        ),
        "{}",
        a.raw
    );
    let f: Vec<&str> = a.answer[1].split(' ').collect();
    assert_eq!(
        (f[0], f[3], f[4]),
        ("google.com.", "A", "172.217.168.206"),
        "{}",
        a.raw
    );
    // The server's own resolv.conf search domains come before the bare name.
    let a = dig_pod(&["www.default.svc.cluster.local", "A"]);
    assert_eq!(a.status, "NOERROR", "{}", a.raw);
    assert!(a.answer[0].ends_with("CNAME www.iij.ad.jp."), "{}", a.raw);
    assert!(a.answer[1].ends_with("A 202.232.2.180"), "{}", a.raw);
}

#[test]
fn nxdomain_only_after_the_whole_path_fails() {
    let a = dig_pod(&["no-such-name.invalid.default.svc.cluster.local", "A"]);
    assert_eq!(a.status, "NXDOMAIN", "{}", a.raw);
    assert!(a.answer.is_empty(), "{}", a.raw);
    assert!(a.authority[0].contains("SOA"), "{}", a.raw);
}

#[test]
fn other_clients_get_no_expansion() {
    let a = dig_at(
        server().0.addr,
        &[
            "-b",
            "127.0.0.1",
            "nginx.default.svc.cluster.local.default.svc.cluster.local",
        ],
    );
    assert_eq!(a.status, "NXDOMAIN", "{}", a.raw);
    let a = dig_at(
        server().0.addr,
        &["-b", "127.0.0.1", "google.com.default.svc.cluster.local"],
    );
    assert_eq!(a.status, "NXDOMAIN", "{}", a.raw);
}

#[test]
fn autopath_success_is_counted() {
    let (srv, _, _) = server();
    let _ = dig_pod(&["nginx.default.svc.cluster.local.default.svc.cluster.local"]);
    let at = srv
        .http
        .iter()
        .find(|(e, _)| *e == Endpoint::Metrics)
        .map(|(_, a)| *a)
        .unwrap();
    let (_, body) = http_get(at, "/metrics");
    let n: u64 = body
        .lines()
        .find_map(|l| l.strip_prefix("coredns_autopath_success_total{server=\"dns://:53\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{body}"));
    assert!(n >= 1, "{body}");
}
