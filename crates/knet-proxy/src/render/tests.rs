use std::path::PathBuf;

use serde_json::json;

use super::*;
use crate::model::{NodeInfo, build};
use crate::plan;
use crate::testutil::{ready, service, slice};

/// Compares with `src/render/golden/<name>.nft`; `KNET_UPDATE_GOLDEN=1` rewrites it.
fn golden(name: &str, text: &str) {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("src/render/golden/{name}.nft"));
    if std::env::var_os("KNET_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, text).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        text,
        want,
        "golden {} differs; rerun with KNET_UPDATE_GOLDEN=1 and review the diff",
        path.display()
    );
}

fn cfg() -> RenderConfig {
    RenderConfig {
        cluster_cidrs: vec!["10.244.0.0/16".parse().unwrap()],
        ..RenderConfig::default()
    }
}

fn node() -> NodeInfo {
    NodeInfo {
        name: "node-a".into(),
        zone: None,
    }
}

fn demo_state() -> ProxyState {
    let web = service(
        "default",
        "web",
        "10.96.0.5",
        &[("http", 80, "TCP")],
        json!({
            "type": "NodePort", "externalIPs": ["192.0.2.10"],
            "ports": [{"name": "http", "port": 80, "nodePort": 30080, "protocol": "TCP"}]
        }),
    );
    let web_eps = slice(
        "default",
        "web",
        &[("http", 8080, "TCP")],
        &[
            ready("10.244.1.2", "node-a"),
            ready("10.244.2.2", "node-b"),
            ready("10.244.2.3", "node-b"),
        ],
    );
    let empty = service(
        "default",
        "empty",
        "10.96.0.6",
        &[("", 53, "UDP")],
        json!({}),
    );
    let local = service(
        "default",
        "itp",
        "10.96.0.7",
        &[("", 80, "TCP")],
        json!({"internalTrafficPolicy": "Local"}),
    );
    let local_eps = slice(
        "default",
        "itp",
        &[("", 80, "TCP")],
        &[ready("10.244.2.9", "node-b")],
    );
    let sticky = service(
        "default",
        "sticky",
        "10.96.0.8",
        &[("", 80, "TCP")],
        json!({
            "type": "LoadBalancer", "externalTrafficPolicy": "Local", "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 30}},
            "loadBalancerSourceRanges": ["198.51.100.0/24"],
            "ports": [{"port": 80, "nodePort": 30081, "protocol": "TCP"}]
        }),
    );
    let mut sticky = sticky;
    sticky.status =
        serde_json::from_value(json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}}))
            .unwrap();
    let sticky_eps = slice(
        "default",
        "sticky",
        &[("", 80, "TCP")],
        &[ready("10.244.1.5", "node-a"), ready("10.244.2.5", "node-b")],
    );
    build(
        &[web, empty, local, sticky],
        &[web_eps, local_eps, sticky_eps],
        &node(),
    )
}

#[test]
fn full_ruleset_golden() {
    let d = render(&demo_state(), Family::V4, &cfg());
    let text = plan::full(&d).to_nft();
    let (direct, size) = plan::full_script(&d);
    assert_eq!(direct, text, "the direct writer matches the plan's text");
    assert_eq!(size, plan::full(&d).size());
    golden("full-v4", &text);
}

#[test]
fn ipv6_ruleset_golden() {
    let svc = service(
        "default",
        "v6",
        "fd00:96::5",
        &[("", 80, "TCP")],
        json!({"type": "NodePort",
        "ports": [{"port": 80, "nodePort": 30090, "protocol": "TCP"}]}),
    );
    let eps = slice(
        "default",
        "v6",
        &[("", 8080, "TCP")],
        &[ready("fd00:244::2", "node-a")],
    );
    let d = render(
        &build(&[svc], &[eps], &node()),
        Family::V6,
        &RenderConfig::default(),
    );
    golden("full-v6", &plan::full(&d).to_nft());
}

#[test]
fn ordinary_services_create_no_per_service_chains() {
    let mut services = Vec::new();
    let mut slices = Vec::new();
    for i in 0..200u32 {
        let name = format!("s{i}");
        let ip = format!("10.96.{}.{}", i / 250, i % 250 + 1);
        services.push(service("ns", &name, &ip, &[("", 80, "TCP")], json!({})));
        let eps: Vec<String> = (0..(2 + i % 4))
            .map(|j| format!("10.244.{}.{}", i % 200, j + 2))
            .collect();
        let eps: Vec<_> = eps.iter().map(|e| ready(e, "x")).collect();
        slices.push(slice("ns", &name, &[("", 8080, "TCP")], &eps));
    }
    let d = render(&build(&services, &slices, &node()), Family::V4, &cfg());
    assert!(d.sets.is_empty());
    assert!(d.chains.is_empty(), "{:?}", d.chains.keys());
    assert!(
        !d.elements.contains_key("service-ips"),
        "no verdict elements"
    );
    let dispatched: usize = (2..=5)
        .map(|n| d.elements[&format!("addr-n-tcp-{n}")].len())
        .sum();
    assert_eq!(dispatched, 200);
    assert_eq!(d.elements["addr-n-tcp-3"].len(), 50);
}

#[test]
fn no_endpoints_and_local_policy_without_local_endpoints() {
    let d = render(&demo_state(), Family::V4, &cfg());
    assert!(d.elements["no-endpoint-services"].contains_key("10.96.0.6 . udp . 53"));
    assert_eq!(
        d.elements["service-ips"]["10.96.0.7 . tcp . 80"], "drop",
        "iTP=Local without local endpoint drops"
    );
    assert!(d.elements["external-keys"].contains_key("192.0.2.10 . tcp . 80"));
    assert!(d.elements["addr-n-tcp-3"].contains_key("192.0.2.10 . 80"));
    assert!(d.elements["nodeport-n-tcp-3"].contains_key("30080"));
}
