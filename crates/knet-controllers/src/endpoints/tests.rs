use super::*;
use crate::pod::testing::pod;
use serde_json::json;

fn svc(spec: serde_json::Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": "nginx", "namespace": "default", "uid": "svc-uid", "labels": {"app": "nginx"}},
        "spec": spec
    }))
    .unwrap()
}

fn basic() -> Service {
    svc(json!({"selector": {"app": "nginx"}, "ports": [{"port": 80, "targetPort": 80}]}))
}

const NOW: &str = "2025-01-01T00:00:00Z";

#[test]
fn ready_and_not_ready_addresses() {
    let a = pod(
        "default",
        "a",
        &[("app", "nginx")],
        Some("10.244.1.2"),
        true,
    );
    let b = pod(
        "default",
        "b",
        &[("app", "nginx")],
        Some("10.244.1.1"),
        true,
    );
    let c = pod(
        "default",
        "c",
        &[("app", "nginx")],
        Some("10.244.1.3"),
        false,
    );
    let EndpointsAction::Create(ep) =
        reconcile(ServiceState::Present(&basic()), &[&a, &b, &c], None, NOW)
    else {
        panic!("create")
    };
    let subs = ep.subsets.as_ref().unwrap();
    assert_eq!(subs.len(), 1);
    let ready: Vec<&str> = subs[0]
        .addresses
        .as_ref()
        .unwrap()
        .iter()
        .map(|a| a.ip.as_str())
        .collect();
    assert_eq!(ready, vec!["10.244.1.1", "10.244.1.2"], "sorted by IP");
    let not_ready = subs[0].not_ready_addresses.as_ref().unwrap();
    assert_eq!(not_ready[0].ip, "10.244.1.3");
    assert_eq!(not_ready[0].node_name.as_deref(), Some("node-1"));
    assert_eq!(subs[0].ports.as_ref().unwrap()[0].port, 80);
    let l = ep.metadata.labels.as_ref().unwrap();
    assert_eq!(
        l[labels::ENDPOINTS_MANAGED_BY],
        labels::ENDPOINTS_CONTROLLER
    );
    assert_eq!(
        ep.metadata.annotations.as_ref().unwrap()[labels::LAST_CHANGE_TRIGGER_TIME],
        NOW
    );
    assert_eq!(ep.metadata.name.as_deref(), Some("nginx"));
}

#[test]
fn unchanged_is_nothing_and_change_updates() {
    let a = pod(
        "default",
        "a",
        &[("app", "nginx")],
        Some("10.244.1.1"),
        true,
    );
    let EndpointsAction::Create(mut ep) =
        reconcile(ServiceState::Present(&basic()), &[&a], None, NOW)
    else {
        panic!()
    };
    ep.metadata.resource_version = Some("5".into());
    assert_eq!(
        reconcile(ServiceState::Present(&basic()), &[&a], Some(&ep), "later"),
        EndpointsAction::Nothing
    );
    let unready = pod(
        "default",
        "a",
        &[("app", "nginx")],
        Some("10.244.1.1"),
        false,
    );
    let EndpointsAction::Update(up) = reconcile(
        ServiceState::Present(&basic()),
        &[&unready],
        Some(&ep),
        "later",
    ) else {
        panic!()
    };
    assert_eq!(up.metadata.resource_version.as_deref(), Some("5"));
    let s = &up.subsets.as_ref().unwrap()[0];
    assert!(s.addresses.is_none());
    assert_eq!(s.not_ready_addresses.as_ref().unwrap()[0].ip, "10.244.1.1");
}

#[test]
fn named_ports_split_subsets_and_headless_without_ports() {
    let s = svc(
        json!({"selector": {"app": "nginx"}, "ports": [{"name": "http-port", "port": 8080, "targetPort": "http"}]}),
    );
    let a = pod(
        "default",
        "a",
        &[("app", "nginx")],
        Some("10.244.1.1"),
        true,
    );
    let mut b = pod(
        "default",
        "b",
        &[("app", "nginx")],
        Some("10.244.1.2"),
        true,
    );
    b.spec.as_mut().unwrap().containers[0]
        .ports
        .as_mut()
        .unwrap()[0]
        .container_port = 8081;
    let subs = subsets(&s, &[&a, &b]);
    assert_eq!(subs.len(), 2);
    let ports: Vec<i32> = subs
        .iter()
        .map(|s| s.ports.as_ref().unwrap()[0].port)
        .collect();
    assert!(ports.contains(&80) && ports.contains(&8081));
    assert_eq!(
        subs[0].ports.as_ref().unwrap()[0].name.as_deref(),
        Some("http-port")
    );
    let headless = svc(json!({"selector": {"app": "nginx"}, "clusterIP": "None"}));
    let subs = subsets(&headless, &[&a]);
    assert_eq!(subs[0].addresses.as_ref().unwrap()[0].ip, "10.244.1.1");
    assert!(subs[0].ports.is_none());
}

#[test]
fn selectorless_endpoints_are_left_alone_and_ours_deleted_with_service() {
    let bare = svc(json!({"ports": [{"port": 80}]}));
    let hand: Endpoints = serde_json::from_value(
        json!({"metadata": {"name": "nginx", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": "202.232.2.180"}]}]}),
    )
    .unwrap();
    assert_eq!(
        reconcile(ServiceState::Present(&bare), &[], Some(&hand), NOW),
        EndpointsAction::Nothing
    );
    assert_eq!(
        reconcile(ServiceState::Absent, &[], Some(&hand), NOW),
        EndpointsAction::Nothing
    );
    let EndpointsAction::Create(ours) = reconcile(ServiceState::Present(&basic()), &[], None, NOW)
    else {
        panic!()
    };
    assert_eq!(
        reconcile(ServiceState::Absent, &[], Some(&ours), NOW),
        EndpointsAction::Delete("nginx".into())
    );
}

#[test]
fn deleting_a_service_deletes_its_endpoints_whoever_wrote_them() {
    let hand: Endpoints = serde_json::from_value(
        json!({"metadata": {"name": "nginx", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": "202.232.2.180"}]}]}),
    )
    .unwrap();
    assert_eq!(
        reconcile(ServiceState::Deleted("nginx"), &[], Some(&hand), NOW),
        EndpointsAction::Delete("nginx".into())
    );
    assert_eq!(
        reconcile(ServiceState::Deleted("nginx"), &[], None, NOW),
        EndpointsAction::Delete("nginx".into()),
        "deleted even when the store does not show the Endpoints yet"
    );
    let bare = svc(json!({"ports": [{"port": 80}]}));
    assert!(matches!(
        ServiceState::of(Some(&bare), "nginx", true),
        ServiceState::Present(_)
    ));
    assert!(matches!(
        ServiceState::of(None, "nginx", true),
        ServiceState::Deleted("nginx")
    ));
    assert!(matches!(
        ServiceState::of(None, "nginx", false),
        ServiceState::Absent
    ));
}

#[test]
fn over_capacity_is_truncated_and_annotated() {
    let pods: Vec<Pod> = (0..1005)
        .map(|i| {
            pod(
                "default",
                &format!("p{i}"),
                &[("app", "nginx")],
                Some(&format!("10.1.{}.{}", i / 200, i % 200 + 1)),
                true,
            )
        })
        .collect();
    let refs: Vec<&Pod> = pods.iter().collect();
    let EndpointsAction::Create(ep) = reconcile(ServiceState::Present(&basic()), &refs, None, NOW)
    else {
        panic!()
    };
    let n: usize = ep
        .subsets
        .as_ref()
        .unwrap()
        .iter()
        .map(|s| s.addresses.as_ref().map_or(0, Vec::len))
        .sum();
    assert_eq!(n, MAX_ADDRESSES);
    assert_eq!(
        ep.metadata.annotations.as_ref().unwrap()[labels::OVER_CAPACITY],
        "truncated"
    );
}
