use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::testutil::{ready, service, slice};

fn node() -> NodeInfo {
    NodeInfo {
        name: "node-a".into(),
        zone: Some("z1".into()),
    }
}

fn ep(s: &str) -> Endpoint {
    let (ip, port) = s.rsplit_once(':').unwrap();
    Endpoint {
        ip: ip.parse().unwrap(),
        port: port.parse().unwrap(),
    }
}

fn only(state: &ProxyState) -> &ServicePort {
    assert_eq!(state.ports.len(), 1, "{state:#?}");
    state.ports.values().next().unwrap()
}

#[test]
fn basic_service_gets_ready_endpoints_in_order() {
    let svc = service("default", "web", "10.96.0.5", &[("", 80, "TCP")], json!({}));
    let sl = slice(
        "default",
        "web",
        &[("", 8080, "TCP")],
        &[
            ready("10.244.2.3", "node-b"),
            ready("10.244.1.2", "node-a"),
            ("10.244.1.9", "node-a", false, false, false),
        ],
    );
    let state = build(&[svc], &[sl], &node());
    let p = only(&state);
    assert_eq!(
        p.cluster,
        vec![ep("10.244.1.2:8080"), ep("10.244.2.3:8080")]
    );
    assert_eq!(p.local, vec![ep("10.244.1.2:8080")]);
    assert_eq!(p.local_ready, 1);
    assert_eq!(p.name.to_string(), "default/web/tcp/");
}

#[test]
fn multi_port_matches_slice_ports_by_name_and_protocol() {
    let svc = service(
        "ns",
        "m",
        "10.96.0.6",
        &[("http", 80, "TCP"), ("dns", 53, "UDP")],
        json!({}),
    );
    let sl = slice(
        "ns",
        "m",
        &[("http", 8080, "TCP"), ("dns", 5353, "UDP")],
        &[ready("10.244.1.2", "n")],
    );
    let state = build(&[svc], &[sl], &node());
    let ports: BTreeMap<String, Vec<Endpoint>> = state
        .ports
        .values()
        .map(|p| (p.name.port.clone(), p.cluster.clone()))
        .collect();
    assert_eq!(ports["http"], vec![ep("10.244.1.2:8080")]);
    assert_eq!(ports["dns"], vec![ep("10.244.1.2:5353")]);
}

#[test]
fn terminating_fallback_applies_separately_to_cluster_and_local() {
    let svc = service("ns", "t", "10.96.0.7", &[("", 80, "TCP")], json!({}));
    let sl = slice(
        "ns",
        "t",
        &[("", 80, "TCP")],
        &[
            ready("10.244.2.2", "node-b"),
            ("10.244.1.2", "node-a", false, true, true),
            ("10.244.1.3", "node-a", false, false, true),
        ],
    );
    let p = only(&build(&[svc], &[sl], &node())).clone();
    assert_eq!(
        p.cluster,
        vec![ep("10.244.2.2:80")],
        "ready endpoints win cluster-wide"
    );
    assert_eq!(
        p.local,
        vec![ep("10.244.1.2:80")],
        "only serving terminating endpoints are a fallback"
    );
    assert_eq!(p.local_ready, 0);
}

#[test]
fn ignored_services() {
    let mut labelled = service("ns", "a", "10.96.0.8", &[("", 80, "TCP")], json!({}));
    labelled.metadata.labels =
        Some([(LABEL_SERVICE_PROXY_NAME.to_string(), "other".to_string())].into());
    let mut headless_label = service("ns", "b", "10.96.0.9", &[("", 80, "TCP")], json!({}));
    headless_label.metadata.labels = Some([(LABEL_HEADLESS.to_string(), String::new())].into());
    let headless = service("ns", "c", "None", &[("", 80, "TCP")], json!({}));
    let external = service(
        "ns",
        "d",
        "",
        &[("", 80, "TCP")],
        json!({"type": "ExternalName", "externalName": "x.y"}),
    );
    assert_eq!(
        skip_reason(&labelled),
        Some(Skip::Label(LABEL_SERVICE_PROXY_NAME))
    );
    assert_eq!(
        skip_reason(&headless_label),
        Some(Skip::Label(LABEL_HEADLESS))
    );
    assert_eq!(skip_reason(&headless), Some(Skip::Headless));
    assert_eq!(skip_reason(&external), Some(Skip::ExternalName));
    assert!(
        build(
            &[labelled, headless_label, headless, external],
            &[],
            &node()
        )
        .ports
        .is_empty()
    );
}

#[test]
fn policies_affinity_and_addresses() {
    let svc = service(
        "ns",
        "lb",
        "10.96.0.10",
        &[("", 80, "TCP")],
        json!({
            "type": "LoadBalancer", "externalTrafficPolicy": "Local", "internalTrafficPolicy": "Local",
            "healthCheckNodePort": 32000, "externalIPs": ["192.0.2.7", "2001:db8::7"],
            "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
            "loadBalancerSourceRanges": ["198.51.100.0/24"],
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]
        }),
    );
    let mut svc = svc;
    svc.status =
        serde_json::from_value(json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}}))
            .unwrap();
    let p = only(&build(&[svc], &[], &node())).clone();
    assert!(p.external_local && p.internal_local);
    assert_eq!(p.health_check_node_port, Some(32000));
    assert_eq!(p.node_port, Some(30080));
    assert_eq!(
        p.external_ips,
        vec!["192.0.2.7".parse::<IpAddr>().unwrap()],
        "IPv6 externalIP goes to the v6 port"
    );
    assert_eq!(p.lb_ips, vec!["203.0.113.9".parse::<IpAddr>().unwrap()]);
    assert_eq!(p.affinity_timeout, Some(60));
    assert_eq!(p.source_ranges.len(), 1);
}

#[test]
fn dual_stack_gives_one_port_per_family() {
    let svc = service(
        "ns",
        "ds",
        "10.96.0.11",
        &[("", 80, "TCP")],
        json!({"clusterIPs": ["10.96.0.11", "fd00:96::11"]}),
    );
    let v4 = slice("ns", "ds", &[("", 80, "TCP")], &[ready("10.244.1.2", "n")]);
    let v6 = slice("ns", "ds", &[("", 80, "TCP")], &[ready("fd00:244::2", "n")]);
    let state = build(&[svc], &[v4, v6], &node());
    let v6port = state.family(Family::V6).next().expect("v6 port");
    assert_eq!(v6port.cluster, vec![ep("fd00:244::2:80")]);
    assert_eq!(
        state.family(Family::V4).next().unwrap().cluster,
        vec![ep("10.244.1.2:80")]
    );
}

#[test]
fn topology_hints_used_only_when_every_ready_endpoint_has_one() {
    let svc = service("ns", "topo", "10.96.0.12", &[("", 80, "TCP")], json!({}));
    let mut sl = slice(
        "ns",
        "topo",
        &[("", 80, "TCP")],
        &[ready("10.244.1.2", "a"), ready("10.244.2.2", "b")],
    );
    sl.endpoints[0].hints = serde_json::from_value(json!({"forZones": [{"name": "z1"}]})).unwrap();
    let p = only(&build(
        std::slice::from_ref(&svc),
        std::slice::from_ref(&sl),
        &node(),
    ))
    .clone();
    assert_eq!(
        p.cluster.len(),
        2,
        "one endpoint without hints disables topology"
    );
    sl.endpoints[1].hints = serde_json::from_value(json!({"forZones": [{"name": "z2"}]})).unwrap();
    let p = only(&build(&[svc], &[sl], &node())).clone();
    assert_eq!(p.cluster, vec![ep("10.244.1.2:80")]);
}
