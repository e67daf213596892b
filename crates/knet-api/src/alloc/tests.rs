use super::*;
use serde_json::json;

fn alloc() -> ServiceAllocator {
    ServiceAllocator::new("10.96.0.0/12", (30000, 32767))
        .unwrap()
        .with_seed(7)
}

fn svc(name: &str, spec: Value) -> Value {
    json!({"metadata": {"name": name, "namespace": "default"}, "spec": spec})
}

fn ip_of(s: &Value) -> IpAddr {
    s["spec"]["clusterIP"].as_str().unwrap().parse().unwrap()
}

#[test]
fn kubernetes_service_gets_the_first_address_and_others_the_upper_band() {
    let mut a = alloc();
    let mut k = svc("kubernetes", json!({"ports": [{"port": 443}]}));
    a.allocate(&mut k, None).unwrap();
    assert_eq!(k["spec"]["clusterIP"], "10.96.0.1");
    assert_eq!(k["spec"]["clusterIPs"], json!(["10.96.0.1"]));
    let mut s = svc("nginx", json!({"ports": [{"port": 80}]}));
    a.allocate(&mut s, None).unwrap();
    let ip = ip_of(&s);
    let offset = a.service_cidr().offset_of(ip).unwrap();
    assert!(
        offset > 256,
        "dynamic IPs come from the upper band, got {ip}"
    );
    assert_eq!(s["spec"]["clusterIPs"], json!([ip.to_string()]));
    assert_eq!(s["spec"]["ipFamilies"], json!(["IPv4"]));
    assert!(a.has_ip(ip));
    assert_eq!(a.ip_counts().0, 2);
}

#[test]
fn explicit_ips_are_honoured_or_refused_like_kube() {
    let mut a = alloc();
    let mut dns = svc("kube-dns", json!({"clusterIP": "10.96.0.10"}));
    a.allocate(&mut dns, None).unwrap();
    assert_eq!(dns["spec"]["clusterIPs"], json!(["10.96.0.10"]));
    let mut again = svc("other", json!({"clusterIPs": ["10.96.0.10"]}));
    let causes = a.allocate(&mut again, None).unwrap_err();
    assert_eq!(causes[0].field, "spec.clusterIPs");
    assert_eq!(
        causes[0].message,
        "Invalid value: []string{\"10.96.0.10\"}: failed to allocate IP 10.96.0.10: provided IP is already allocated"
    );
    let mut out = svc("out", json!({"clusterIP": "192.168.0.1"}));
    let causes = a.allocate(&mut out, None).unwrap_err();
    assert_eq!(
        causes[0].message,
        "Invalid value: []string{\"192.168.0.1\"}: failed to allocate IP 192.168.0.1: the provided IP (192.168.0.1) is not in the valid range. The range of valid IPs is 10.96.0.0/12"
    );
    let mut first = svc("sneaky", json!({"clusterIP": "10.96.0.1"}));
    assert!(
        a.allocate(&mut first, None).unwrap_err()[0]
            .message
            .contains("provided IP is already allocated")
    );
    let mut bad = svc("bad", json!({"clusterIP": "10.96.0.300"}));
    assert_eq!(
        a.allocate(&mut bad, None).unwrap_err()[0].field,
        "spec.clusterIPs[0]"
    );
    let mut mismatch = svc(
        "mm",
        json!({"clusterIP": "10.96.0.11", "clusterIPs": ["10.96.0.12"]}),
    );
    assert!(
        a.allocate(&mut mismatch, None).unwrap_err()[0]
            .message
            .ends_with("first value must match `clusterIP`")
    );
    assert_eq!(a.ip_counts().0, 1, "failed requests hold nothing");
}

#[test]
fn headless_and_external_name() {
    let mut a = alloc();
    let mut h = svc("h", json!({"clusterIP": "None", "selector": {"app": "x"}}));
    a.allocate(&mut h, None).unwrap();
    assert_eq!(h["spec"]["clusterIPs"], json!(["None"]));
    assert_eq!(h["spec"]["ipFamilies"], json!(["IPv4"]));
    let mut e = svc(
        "e",
        json!({"type": "ExternalName", "externalName": "www.iij.ad.jp"}),
    );
    a.allocate(&mut e, None).unwrap();
    assert!(e["spec"].get("clusterIP").is_none());
    assert_eq!(a.ip_counts().0, 0);
}

#[test]
fn families_the_cluster_lacks_are_refused() {
    let mut a = alloc();
    let mut v6 = svc("v6", json!({"ipFamilies": ["IPv6"]}));
    let c = a.allocate(&mut v6, None).unwrap_err();
    assert_eq!(c[0].field, "spec.ipFamilies[0]");
    assert_eq!(
        c[0].message,
        "Invalid value: \"IPv6\": not configured on this cluster"
    );
    let mut dual = svc("d", json!({"ipFamilyPolicy": "RequireDualStack"}));
    assert_eq!(
        a.allocate(&mut dual, None).unwrap_err()[0].field,
        "spec.ipFamilyPolicy"
    );
    let mut prefer = svc("p", json!({"ipFamilyPolicy": "PreferDualStack"}));
    a.allocate(&mut prefer, None).unwrap();
    assert_eq!(prefer["spec"]["ipFamilies"], json!(["IPv4"]));
}

#[test]
fn node_ports_for_nodeport_and_loadbalancer() {
    let mut a = alloc();
    let mut np = svc(
        "np",
        json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}, {"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}),
    );
    a.allocate(&mut np, None).unwrap();
    assert_eq!(np["spec"]["ports"][0]["nodePort"], 30080);
    let dyn_port = np["spec"]["ports"][1]["nodePort"].as_i64().unwrap();
    assert!(
        (30000 + 86..=32767).contains(&dyn_port),
        "upper band: {dyn_port}"
    );
    assert_eq!(
        np["spec"]["ports"][2]["nodePort"], dyn_port,
        "same port number shares a node port"
    );
    assert!(a.has_port(30080));
    assert_eq!(a.port_counts().0, 2);

    let mut clash = svc(
        "clash",
        json!({"type": "NodePort", "ports": [{"port": 81, "nodePort": 30080}]}),
    );
    let c = a.allocate(&mut clash, None).unwrap_err();
    assert_eq!(c[0].field, "spec.ports[0].nodePort");
    assert_eq!(
        c[0].message,
        "Invalid value: 30080: provided port is already allocated"
    );
    let mut range = svc(
        "range",
        json!({"type": "NodePort", "ports": [{"port": 81, "nodePort": 80}]}),
    );
    assert_eq!(
        a.allocate(&mut range, None).unwrap_err()[0].message,
        "Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767"
    );
    assert_eq!(
        a.ip_counts().0,
        1,
        "the refused services' IPs were given back"
    );

    let mut lb = svc(
        "lb",
        json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": [{"port": 443}]}),
    );
    a.allocate(&mut lb, None).unwrap();
    assert!(lb["spec"]["ports"][0]["nodePort"].as_i64().unwrap() >= 30000);
    assert!(lb["spec"]["healthCheckNodePort"].as_i64().unwrap() >= 30000);
    let mut lb_no = svc(
        "lbn",
        json!({"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false, "ports": [{"port": 443}]}),
    );
    a.allocate(&mut lb_no, None).unwrap();
    assert!(lb_no["spec"]["ports"][0].get("nodePort").is_none());
}

#[test]
fn type_changes_release_and_keep() {
    let mut a = alloc();
    let mut np = svc(
        "web",
        json!({"type": "NodePort", "ports": [{"name": "http", "port": 80}]}),
    );
    a.allocate(&mut np, None).unwrap();
    let ip = ip_of(&np);
    let port = np["spec"]["ports"][0]["nodePort"].as_i64().unwrap() as u16;

    // kubectl replace without clusterIP/nodePort keeps both.
    let mut same = svc(
        "web",
        json!({"type": "NodePort", "ports": [{"name": "http", "port": 80}]}),
    );
    a.allocate(&mut same, Some(&np)).unwrap();
    a.release(&np, Some(&same));
    assert_eq!(ip_of(&same), ip);
    assert_eq!(same["spec"]["ports"][0]["nodePort"], port);
    assert_eq!(a.port_counts().0, 1);

    // NodePort -> ClusterIP drops the node port (it still holds the old value).
    let mut cip = same.clone();
    cip["spec"]["type"] = json!("ClusterIP");
    a.allocate(&mut cip, Some(&same)).unwrap();
    a.release(&same, Some(&cip));
    assert!(cip["spec"]["ports"][0].get("nodePort").is_none());
    assert!(!a.has_port(port));
    assert!(a.has_ip(ip));

    // Changing the IP is refused.
    let mut moved = cip.clone();
    moved["spec"]["clusterIP"] = json!("10.96.0.50");
    moved["spec"]["clusterIPs"] = json!(["10.96.0.50"]);
    let c = a.allocate(&mut moved, Some(&cip)).unwrap_err();
    assert_eq!(
        c[0].message,
        "Invalid value: []string{\"10.96.0.50\"}: may not change once set"
    );
    assert!(!a.has_ip("10.96.0.50".parse().unwrap()));

    // ClusterIP -> ExternalName releases the address.
    let mut en = cip.clone();
    en["spec"]["type"] = json!("ExternalName");
    en["spec"]["externalName"] = json!("example.com");
    a.allocate(&mut en, Some(&cip)).unwrap();
    a.release(&cip, Some(&en));
    assert!(en["spec"].get("clusterIP").is_none());
    assert!(!a.has_ip(ip));

    // ExternalName -> ClusterIP allocates again; delete frees it.
    let mut back = en.clone();
    back["spec"]["type"] = json!("ClusterIP");
    a.allocate(&mut back, Some(&en)).unwrap();
    let ip2 = ip_of(&back);
    assert!(a.has_ip(ip2));
    a.release(&back, None);
    assert_eq!(a.ip_counts().0, 0);
    assert_eq!(a.port_counts().0, 0);
}

#[test]
fn restore_rebuilds_state_without_duplicates() {
    let stored = vec![
        svc(
            "a",
            json!({"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "type": "NodePort", "ports": [{"port": 80, "nodePort": 30001}]}),
        ),
        svc(
            "b",
            json!({"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"]}),
        ),
        svc("h", json!({"clusterIP": "None", "clusterIPs": ["None"]})),
    ];
    let mut a = alloc();
    a.restore(&stored);
    assert_eq!(a.ip_counts().0, 1);
    assert!(a.has_port(30001));
    let mut c = svc("c", json!({"clusterIP": "10.96.0.10"}));
    assert!(a.allocate(&mut c, None).is_err());
    let mut d = svc(
        "d",
        json!({"type": "NodePort", "ports": [{"port": 1, "nodePort": 30001}]}),
    );
    assert!(a.allocate(&mut d, None).is_err());
}

#[test]
fn small_ranges_fill_up_cleanly() {
    let mut a = ServiceAllocator::new("10.0.0.0/29", (30000, 30001))
        .unwrap()
        .with_seed(1);
    let mut got = Vec::new();
    for i in 0..5 {
        let mut s = svc(&format!("s{i}"), json!({}));
        a.allocate(&mut s, None).unwrap();
        got.push(ip_of(&s));
    }
    assert!(
        !got.contains(&"10.0.0.1".parse().unwrap()),
        "first address stays reserved"
    );
    let mut full = svc("full", json!({}));
    let c = a.allocate(&mut full, None).unwrap_err();
    assert!(c[0].message.contains("range is full"), "{c:?}");
    assert!(ServiceAllocator::new("bogus", (1, 2)).is_err());
    assert!(ServiceAllocator::new("10.0.0.0/8", (5, 1)).is_err());
    let d = ServiceAllocator::default();
    assert_eq!(d.service_cidr().to_string(), "10.96.0.0/12");
    assert_eq!(d.node_port_range(), (30000, 32767));
}

#[test]
fn ipv6_service_cidr() {
    let mut a = ServiceAllocator::new("fd00:10:96::/112", (30000, 32767))
        .unwrap()
        .with_seed(3);
    let mut s = svc("v6", json!({"ports": [{"port": 80}]}));
    crate::defaults::apply_defaults(
        crate::resources::lookup("", "v1", "services").unwrap(),
        &mut s,
    );
    a.allocate(&mut s, None).unwrap();
    let ip = ip_of(&s);
    assert!(ip.is_ipv6() && a.service_cidr().contains(ip), "{ip}");
    assert_eq!(s["spec"]["ipFamilies"], json!(["IPv6"]));
    let mut v4 = svc("v4", json!({"clusterIP": "10.96.0.10"}));
    let c = a.allocate(&mut v4, None).unwrap_err();
    assert_eq!(c[0].field, "spec.clusterIPs[0]");
}
