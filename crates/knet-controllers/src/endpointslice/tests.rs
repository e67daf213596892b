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

fn no_zone(_: &str) -> Option<String> {
    None
}

fn basic() -> Service {
    svc(
        json!({"selector": {"app": "nginx"}, "ports": [{"port": 80, "targetPort": 80, "protocol": "TCP"}],
               "clusterIP": "10.96.0.20", "ipFamilies": ["IPv4"]}),
    )
}

#[test]
fn three_ready_pods_one_slice_with_labels_and_owner() {
    let pods: Vec<Pod> = (1..=3)
        .map(|i| {
            pod(
                "default",
                &format!("p{i}"),
                &[("app", "nginx")],
                Some(&format!("10.244.1.{i}")),
                true,
            )
        })
        .collect();
    let other = pod(
        "default",
        "x",
        &[("app", "other")],
        Some("10.244.1.9"),
        true,
    );
    let elsewhere = pod(
        "kube-system",
        "y",
        &[("app", "nginx")],
        Some("10.244.1.8"),
        true,
    );
    let refs: Vec<&Pod> = pods.iter().chain([&other, &elsewhere]).collect();
    let plan = reconcile(Some(&basic()), &refs, &[], &no_zone);
    assert_eq!(plan.create.len(), 1);
    let s = &plan.create[0];
    let mut addrs: Vec<&str> = s
        .endpoints
        .iter()
        .map(|e| e.addresses[0].as_str())
        .collect();
    addrs.sort();
    assert_eq!(addrs, vec!["10.244.1.1", "10.244.1.2", "10.244.1.3"]);
    let l = s.metadata.labels.as_ref().unwrap();
    assert_eq!(l[labels::SERVICE_NAME], "nginx");
    assert_eq!(l[labels::SLICE_MANAGED_BY], labels::SLICE_CONTROLLER);
    assert_eq!(l["app"], "nginx");
    let owner = &s.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("Service", "svc-uid", Some(true))
    );
    let e = &s.endpoints[0];
    assert_eq!(e.node_name.as_deref(), Some("node-1"));
    assert_eq!(e.target_ref.as_ref().unwrap().kind.as_deref(), Some("Pod"));
    assert_eq!(s.ports.as_ref().unwrap()[0].port, Some(80));
}

#[test]
fn conditions_follow_readiness_and_deletion() {
    let ready = pod(
        "default",
        "a",
        &[("app", "nginx")],
        Some("10.244.1.1"),
        true,
    );
    let unready = pod(
        "default",
        "b",
        &[("app", "nginx")],
        Some("10.244.1.2"),
        false,
    );
    let mut dying = pod(
        "default",
        "c",
        &[("app", "nginx")],
        Some("10.244.1.3"),
        true,
    );
    dying.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2025-01-01T00:00:00Z".parse().unwrap(),
    ));
    let mut failed = pod(
        "default",
        "d",
        &[("app", "nginx")],
        Some("10.244.1.4"),
        false,
    );
    failed.status.as_mut().unwrap().phase = Some("Failed".into());
    let no_ip = pod("default", "e", &[("app", "nginx")], None, false);
    let groups = desired(
        &basic(),
        &[&ready, &unready, &dying, &failed, &no_ip],
        &no_zone,
    );
    let eps = &groups[0].endpoints;
    assert_eq!(eps.len(), 3);
    let cond = |ip: &str| {
        eps.iter()
            .find(|e| e.addresses[0] == ip)
            .unwrap()
            .conditions
            .clone()
            .unwrap()
    };
    assert_eq!(
        (
            cond("10.244.1.1").ready,
            cond("10.244.1.1").serving,
            cond("10.244.1.1").terminating
        ),
        (Some(true), Some(true), Some(false))
    );
    assert_eq!(cond("10.244.1.2").ready, Some(false));
    assert_eq!(
        (
            cond("10.244.1.3").ready,
            cond("10.244.1.3").serving,
            cond("10.244.1.3").terminating
        ),
        (Some(false), Some(true), Some(true))
    );
    let mut publish = basic();
    publish.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
    let groups = desired(&publish, &[&unready], &no_zone);
    assert_eq!(
        groups[0].endpoints[0].conditions.as_ref().unwrap().ready,
        Some(true)
    );
}

#[test]
fn named_target_port_groups_pods_by_port_set() {
    let s = svc(
        json!({"selector": {"app": "web"}, "ports": [{"name": "http-port", "port": 8080, "targetPort": "http"}]}),
    );
    let a = pod("default", "a", &[("app", "web")], Some("10.244.1.1"), true);
    let mut b = pod("default", "b", &[("app", "web")], Some("10.244.1.2"), true);
    b.spec.as_mut().unwrap().containers[0]
        .ports
        .as_mut()
        .unwrap()[0]
        .container_port = 8081;
    let mut c = pod("default", "c", &[("app", "web")], Some("10.244.1.3"), true);
    c.spec.as_mut().unwrap().containers[0].ports = None;
    let groups = desired(&s, &[&a, &b, &c], &no_zone);
    assert_eq!(groups.len(), 3, "{groups:#?}");
    let port_of = |ip: &str| {
        let g = groups
            .iter()
            .find(|g| g.endpoints.iter().any(|e| e.addresses[0] == ip))
            .unwrap();
        g.ports.first().and_then(|p| p.port)
    };
    assert_eq!(port_of("10.244.1.1"), Some(80));
    assert_eq!(port_of("10.244.1.2"), Some(8081));
    assert_eq!(
        port_of("10.244.1.3"),
        None,
        "pod without the named port has no port in its slice"
    );
    assert_eq!(
        groups.iter().find(|g| !g.ports.is_empty()).unwrap().ports[0]
            .name
            .as_deref(),
        Some("http-port")
    );
}

#[test]
fn statefulset_pods_get_hostnames_under_their_subdomain() {
    let s =
        svc(json!({"selector": {"app": "nginx"}, "clusterIP": "None", "ports": [{"port": 80}]}));
    let mut p0 = pod(
        "default",
        "my-nginx-0",
        &[("app", "nginx")],
        Some("10.244.1.1"),
        true,
    );
    let spec = p0.spec.as_mut().unwrap();
    spec.hostname = Some("my-nginx-0".into());
    spec.subdomain = Some("nginx".into());
    let mut other = pod(
        "default",
        "x",
        &[("app", "nginx")],
        Some("10.244.1.2"),
        true,
    );
    other.spec.as_mut().unwrap().hostname = Some("x".into());
    other.spec.as_mut().unwrap().subdomain = Some("elsewhere".into());
    let plan = reconcile(Some(&s), &[&p0, &other], &[], &|n: &str| {
        Some(format!("zone-{n}"))
    });
    let eps = &plan.create[0].endpoints;
    let h = |ip: &str| {
        eps.iter()
            .find(|e| e.addresses[0] == ip)
            .unwrap()
            .hostname
            .clone()
    };
    assert_eq!(h("10.244.1.1").as_deref(), Some("my-nginx-0"));
    assert_eq!(h("10.244.1.2"), None);
    assert_eq!(eps[0].zone.as_deref(), Some("zone-node-1"));
    assert_eq!(
        plan.create[0].metadata.labels.as_ref().unwrap()[labels::HEADLESS],
        ""
    );
}

#[test]
fn dual_stack_gets_a_slice_per_family() {
    let s = svc(
        json!({"selector": {"app": "nginx"}, "ipFamilies": ["IPv4", "IPv6"], "ports": [{"port": 80}]}),
    );
    let mut p = pod(
        "default",
        "a",
        &[("app", "nginx")],
        Some("10.244.1.1"),
        true,
    );
    p.status.as_mut().unwrap().pod_ips =
        Some(serde_json::from_value(json!([{"ip": "10.244.1.1"}, {"ip": "fd00::1"}])).unwrap());
    let plan = reconcile(Some(&s), &[&p], &[], &no_zone);
    let mut types: Vec<&str> = plan
        .create
        .iter()
        .map(|s| s.address_type.as_str())
        .collect();
    types.sort();
    assert_eq!(types, vec!["IPv4", "IPv6"]);
}

#[test]
fn selectorless_or_deleted_service_drops_slices() {
    let mut slice = reconcile(Some(&basic()), &[], &[], &no_zone)
        .create
        .remove(0);
    assert!(slice.endpoints.is_empty(), "placeholder");
    slice.metadata.name = Some("nginx-abcde".into());
    assert!(owned_by(&slice, "default", "nginx"));
    let bare = svc(json!({"ports": [{"port": 80}]}));
    assert_eq!(
        reconcile(Some(&bare), &[], &[&slice], &no_zone).delete,
        vec!["nginx-abcde"]
    );
    assert_eq!(
        reconcile(None, &[], &[&slice], &no_zone).delete,
        vec!["nginx-abcde"]
    );
}
