use super::*;

fn spec(name: &str, ip: &str) -> ServiceSpec {
    ServiceSpec {
        name: name.into(),
        namespace: "ns".into(),
        kind: ServiceKind::ClusterIp(vec![ip.parse().unwrap()].into()),
        ports: Box::new([]),
        publish_not_ready: false,
    }
}

fn slice(ips: &[&str]) -> Slice {
    Slice {
        endpoints: ips
            .iter()
            .map(|ip| Endpoint::new(ip.parse().unwrap(), None, None, true))
            .collect(),
        ports: Box::new([]),
    }
}

#[test]
fn updates_do_not_disturb_published_snapshots() {
    let mut b = IndexBuilder::new();
    b.upsert_service(spec("a", "10.0.0.1"));
    let before = b.snapshot();
    b.upsert_service(spec("a", "10.0.0.2"));
    b.upsert_service(spec("b", "10.0.0.3"));
    let after = b.snapshot();
    assert!(
        matches!(&before.service("a.ns").unwrap().spec.kind, ServiceKind::ClusterIp(ips) if ips[0].to_string() == "10.0.0.1")
    );
    assert!(before.service("b.ns").is_none());
    assert!(after.service("b.ns").is_some());
    assert_eq!(after.service_count(), 2);
    // Reverse index follows the change.
    assert!(after.reverse(&"10.0.0.1".parse().unwrap()).is_none());
    assert_eq!(
        after.reverse(&"10.0.0.2".parse().unwrap()).unwrap().keys()[0].as_ref(),
        "a.ns"
    );
}

#[test]
fn slices_merge_and_endpoints_are_only_a_fallback() {
    let mut b = IndexBuilder::new();
    b.upsert_slice("ns", "a-1", "a", slice(&["10.1.0.1"]));
    b.upsert_service(spec("a", "10.0.0.1"));
    b.upsert_slice("ns", "a-2", "a", slice(&["10.1.0.2"]));
    b.upsert_endpoints("ns", "a", vec![slice(&["10.9.9.9"])]);
    let s = b.snapshot();
    let ips: Vec<String> = s
        .service("a.ns")
        .unwrap()
        .published()
        .map(|(e, _)| e.ip.to_string())
        .collect();
    assert_eq!(ips, vec!["10.1.0.1", "10.1.0.2"]);
    b.delete_slice("ns", "a-1");
    b.delete_slice("ns", "a-2");
    let s = b.snapshot();
    let ips: Vec<String> = s
        .service("a.ns")
        .unwrap()
        .published()
        .map(|(e, _)| e.ip.to_string())
        .collect();
    assert_eq!(ips, vec!["10.9.9.9"]);
    assert!(s.reverse(&"10.1.0.1".parse().unwrap()).is_none());
    assert!(s.reverse(&"10.9.9.9".parse().unwrap()).is_some());
    b.delete_service("ns", "a");
    let s = b.snapshot();
    assert!(s.service("a.ns").is_none());
    assert!(s.reverse(&"10.9.9.9".parse().unwrap()).is_none());
    assert!(!s.namespace_exists("ns"));
}

#[test]
fn relist_keys_and_pods() {
    let mut b = IndexBuilder::new();
    b.upsert_pod("ns", "p", vec!["10.2.0.1".parse().unwrap()]);
    b.upsert_pod("other", "q", vec!["10.2.0.1".parse().unwrap()]);
    let s = b.snapshot();
    assert!(s.pod_in_namespace(&"10.2.0.1".parse().unwrap(), "ns"));
    assert!(s.pod_in_namespace(&"10.2.0.1".parse().unwrap(), "other"));
    b.delete(Kind::Pod, "ns", "p");
    let s = b.snapshot();
    assert!(!s.pod_in_namespace(&"10.2.0.1".parse().unwrap(), "ns"));
    assert!(s.pod_in_namespace(&"10.2.0.1".parse().unwrap(), "other"));
    assert_eq!(
        b.keys(Kind::Pod),
        vec![("other".to_string(), "q".to_string())]
    );
}
