use super::*;
use k8s_openapi::api::discovery::v1::EndpointConditions;

fn ep(ip: &str, ready: bool) -> Endpoint {
    Endpoint {
        addresses: vec![ip.into()],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn port(p: i32) -> EndpointPort {
    EndpointPort {
        name: Some(String::new()),
        port: Some(p),
        protocol: Some("TCP".into()),
        app_protocol: None,
    }
}

fn template() -> SliceTemplate {
    SliceTemplate {
        namespace: "default".into(),
        generate_name: "web-".into(),
        labels: [("kubernetes.io/service-name".to_string(), "web".to_string())].into(),
        owners: Vec::new(),
    }
}

fn group(ips: &[&str]) -> PortGroup {
    PortGroup {
        address_type: "IPv4".into(),
        ports: vec![port(80)],
        endpoints: ips.iter().map(|i| ep(i, true)).collect(),
    }
}

fn named(mut s: EndpointSlice, name: &str) -> EndpointSlice {
    s.metadata.name = Some(name.into());
    s.metadata.resource_version = Some("7".into());
    s
}

fn ips(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("10.0.{}.{}", i / 250, i % 250 + 1))
        .collect()
}

#[test]
fn splits_at_max_and_creates_with_generate_name() {
    let all = ips(250);
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let p = plan(vec![group(&refs)], &[], &template(), Some("IPv4"), 100);
    let sizes: Vec<usize> = p.create.iter().map(|s| s.endpoints.len()).collect();
    assert_eq!(sizes, vec![100, 100, 50]);
    assert!(p.update.is_empty() && p.delete.is_empty());
    assert_eq!(p.create[0].metadata.generate_name.as_deref(), Some("web-"));
    assert_eq!(p.create[0].address_type, "IPv4");
}

#[test]
fn unchanged_slices_are_not_rewritten() {
    let first = plan(
        vec![group(&["10.0.0.1", "10.0.0.2"])],
        &[],
        &template(),
        Some("IPv4"),
        100,
    );
    let s = named(first.create[0].clone(), "web-abcde");
    let again = plan(
        vec![group(&["10.0.0.2", "10.0.0.1"])],
        &[&s],
        &template(),
        Some("IPv4"),
        100,
    );
    assert!(again.is_empty(), "{again:#?}");
}

#[test]
fn readiness_change_updates_in_place() {
    let s = named(
        plan(
            vec![group(&["10.0.0.1", "10.0.0.2"])],
            &[],
            &template(),
            None,
            100,
        )
        .create[0]
            .clone(),
        "web-a",
    );
    let mut g = group(&["10.0.0.1", "10.0.0.2"]);
    g.endpoints[1] = ep("10.0.0.2", false);
    let p = plan(vec![g], &[&s], &template(), None, 100);
    assert!(p.create.is_empty() && p.delete.is_empty());
    assert_eq!(p.update.len(), 1);
    let u = &p.update[0];
    assert_eq!(u.metadata.name.as_deref(), Some("web-a"));
    assert_eq!(u.metadata.resource_version.as_deref(), Some("7"));
    let e2 = u
        .endpoints
        .iter()
        .find(|e| e.addresses[0] == "10.0.0.2")
        .unwrap();
    assert_eq!(e2.conditions.as_ref().unwrap().ready, Some(false));
}

#[test]
fn new_endpoint_fills_existing_slice_and_removed_empties_delete() {
    let a = named(
        plan(vec![group(&["10.0.0.1"])], &[], &template(), None, 100).create[0].clone(),
        "web-a",
    );
    let b = named(
        plan(vec![group(&["10.0.0.9"])], &[], &template(), None, 100).create[0].clone(),
        "web-b",
    );
    // 10.0.0.9 gone, 10.0.0.3 added: b empties (deleted), 10.0.0.3 joins a.
    let p = plan(
        vec![group(&["10.0.0.1", "10.0.0.3"])],
        &[&a, &b],
        &template(),
        None,
        100,
    );
    assert_eq!(p.delete, vec!["web-b"]);
    assert!(p.create.is_empty());
    assert_eq!(p.update.len(), 1);
    assert_eq!(p.update[0].endpoints.len(), 2);
}

#[test]
fn no_endpoints_keeps_one_placeholder() {
    let p = plan(Vec::new(), &[], &template(), Some("IPv4"), 100);
    assert_eq!(p.create.len(), 1);
    assert!(p.create[0].endpoints.is_empty());
    let ph = named(p.create[0].clone(), "web-p");
    assert!(plan(Vec::new(), &[&ph], &template(), Some("IPv4"), 100).is_empty());
    // Endpoints arrive: the placeholder goes, a real slice comes.
    let p = plan(
        vec![group(&["10.0.0.1"])],
        &[&ph],
        &template(),
        Some("IPv4"),
        100,
    );
    assert_eq!(p.delete, vec!["web-p"]);
    assert_eq!(p.create.len(), 1);
}

#[test]
fn port_change_moves_endpoints_to_new_group() {
    let s = named(
        plan(vec![group(&["10.0.0.1"])], &[], &template(), None, 100).create[0].clone(),
        "web-a",
    );
    let mut g = group(&["10.0.0.1"]);
    g.ports = vec![port(8080)];
    let p = plan(vec![g], &[&s], &template(), None, 100);
    assert_eq!(p.delete, vec!["web-a"]);
    assert_eq!(p.create[0].ports.as_ref().unwrap()[0].port, Some(8080));
}

#[test]
fn label_change_rewrites_without_moving_endpoints() {
    let s = named(
        plan(vec![group(&["10.0.0.1"])], &[], &template(), None, 100).create[0].clone(),
        "web-a",
    );
    let mut t = template();
    t.labels.insert("tier".into(), "front".into());
    let p = plan(vec![group(&["10.0.0.1"])], &[&s], &t, None, 100);
    assert_eq!(p.update.len(), 1);
    assert_eq!(
        p.update[0].metadata.labels.as_ref().unwrap()["tier"],
        "front"
    );
}
