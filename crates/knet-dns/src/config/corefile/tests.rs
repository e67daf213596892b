use super::*;

/// The Corefile kubeadm installs (cmd/kubeadm/app/phases/addons/dns/manifests.go).
const KUBEADM: &str = r#"
.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
"#;

#[test]
fn reads_the_kubeadm_corefile() {
    let c = parse(KUBEADM).unwrap();
    assert_eq!(c.engine.zones, vec!["cluster.local"]);
    assert_eq!(c.engine.reverse_zones, vec!["in-addr.arpa", "ip6.arpa"]);
    assert_eq!(c.engine.pods, PodMode::Insecure);
    assert_eq!(c.engine.ttl, 30);
    assert_eq!(
        c.engine.fallthrough,
        Some(vec!["in-addr.arpa".to_string(), "ip6.arpa".to_string()])
    );
    assert_eq!(c.listen.port(), 53);
    assert_eq!(c.health.unwrap().port(), 8080);
    assert_eq!(c.ready.unwrap().port(), 8181);
    assert_eq!(c.metrics.unwrap().port(), 9153);
    let f = c.forward.unwrap();
    assert_eq!(f.max_concurrent, 1000);
    assert_eq!(
        f.groups,
        vec![(
            String::new(),
            vec![UpstreamSpec::ResolvConf("/etc/resolv.conf".into())]
        )]
    );
    assert_eq!(c.cache.unwrap().max_success_ttl, 30);
    assert!(c.loop_detect);
}

#[test]
fn unsupported_directives_name_their_line() {
    let text = KUBEADM.replace("    loop\n", "    hosts /etc/hosts\n");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.line, 21);
    assert!(e.msg.contains("hosts"), "{e}");
    let text = KUBEADM.replace("ttl 30", "zonal");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.line, 11);
    assert!(
        e.to_string()
            .starts_with("line 11: kubernetes: option \"zonal\""),
        "{e}"
    );
    assert!(parse(".:53 {\n errors\n").is_err());
}

#[test]
fn stub_domain_blocks_become_forward_groups() {
    let text = format!("{KUBEADM}\nexample.com:53 {{\n  errors\n  forward . 10.0.0.9:5300\n}}\n");
    let c = parse(&text).unwrap();
    let f = c.forward.unwrap();
    assert_eq!(f.groups[0].0, "example.com");
    assert_eq!(
        f.groups[0].1,
        vec![UpstreamSpec::Addr("10.0.0.9:5300".parse().unwrap())]
    );
}

#[test]
fn autopath_at_kubernetes_with_verified_pods() {
    let text = KUBEADM
        .replace("pods insecure", "pods verified")
        .replace("    errors\n", "    errors\n    autopath @kubernetes\n");
    let c = parse(&text).unwrap();
    assert!(c.engine.autopath);
    assert_eq!(c.autopath_resolv, Some("/etc/resolv.conf".into()));
    assert!(!parse(KUBEADM).unwrap().engine.autopath);
    // Without verified pods the client pod cannot be trusted: an error on
    // the autopath line (line 4 of the text).
    let bad = KUBEADM.replace("    errors\n", "    errors\n    autopath @kubernetes\n");
    let e = parse(&bad).unwrap_err();
    assert_eq!(e.line, 4, "{e}");
    assert!(e.msg.contains("pods verified"), "{e}");
    // Other autopath forms (a search list from a file) are not supported.
    let other = KUBEADM.replace(
        "    errors\n",
        "    errors\n    autopath cluster.local /etc/resolv.conf\n",
    );
    assert_eq!(parse(&other).unwrap_err().line, 4);
}
