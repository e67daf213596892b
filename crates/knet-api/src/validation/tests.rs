use super::*;
use crate::defaults::apply_defaults;
use crate::resources::lookup;
use serde_json::json;

fn res(group: &str, plural: &str) -> &'static Resource {
    lookup(group, "v1", plural).expect("served")
}

/// Defaults then validates, as the server does.
fn check(group: &str, plural: &str, mut obj: Value, old: Option<&Value>) -> Vec<Cause> {
    apply_defaults(res(group, plural), &mut obj);
    validate(res(group, plural), &obj, old)
}

fn messages(causes: &[Cause]) -> Vec<String> {
    causes
        .iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect()
}

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "default"})
}

fn deployment(name: &str, selector: Value, labels: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(name),
        "spec": {"selector": selector, "template": {"metadata": {"labels": labels},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.19"}]}}}})
}

#[test]
fn valid_seed_objects_pass() {
    let svc = json!({"metadata": meta("nginx"), "spec": {"ports": [{"port": 80, "targetPort": 80}], "selector": {"app": "nginx"}}});
    assert_eq!(
        messages(&check("", "services", svc, None)),
        Vec::<String>::new()
    );
    let headless = json!({"metadata": meta("nginx-headless"), "spec": {"clusterIP": "None", "selector": {"app": "nginx"}}});
    assert!(check("", "services", headless, None).is_empty());
    let en = json!({"metadata": meta("google-externalname"), "spec": {"type": "ExternalName", "externalName": "google.com"}});
    assert!(check("", "services", en, None).is_empty());
    let d = deployment(
        "nginx",
        json!({"matchLabels": {"app": "nginx"}}),
        json!({"app": "nginx"}),
    );
    assert!(check("apps", "deployments", d, None).is_empty());
    let ns = json!({"metadata": {"name": "development"}});
    assert!(check("", "namespaces", ns, None).is_empty());
    let ep = json!({"metadata": meta("ext"), "subsets": [{"addresses": [{"ip": "202.232.2.180"}], "ports": [{"port": 80}]}]});
    assert!(check("", "endpoints", ep, None).is_empty());
}

#[test]
fn names_follow_each_kinds_rule() {
    let svc = json!({"metadata": meta("1nginx"), "spec": {"ports": [{"port": 80}]}});
    let c = check("", "services", svc, None);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].field, "metadata.name");
    assert_eq!(c[0].reason, "FieldValueInvalid");
    assert!(
        c[0].message
            .starts_with("Invalid value: \"1nginx\": a DNS-1035 label must consist of"),
        "{}",
        c[0].message
    );
    let pod =
        json!({"metadata": meta("Web_1"), "spec": {"containers": [{"name": "a", "image": "x"}]}});
    assert!(
        check("", "pods", pod, None)[0]
            .message
            .contains("a lowercase RFC 1123 subdomain")
    );
    let ns = json!({"metadata": {"name": "a.b"}});
    assert_eq!(
        messages(&check("", "namespaces", ns, None)),
        vec!["metadata.name: Invalid value: \"a.b\": must not contain dots"]
    );
    let sts = json!({"metadata": meta("web.v1"), "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
    assert_eq!(
        messages(&check("apps", "statefulsets", sts, None)),
        vec!["metadata.name: Invalid value: \"web.v1\": must not contain dots"]
    );
    let unnamed = json!({"metadata": {"namespace": "default"}, "spec": {"ports": [{"port": 80}]}});
    assert_eq!(
        messages(&check("", "services", unnamed, None)),
        vec!["metadata.name: Required value: name or generateName is required"]
    );
    let generated = json!({"metadata": {"generateName": "web-", "namespace": "default"}, "spec": {"ports": [{"port": 80}]}});
    assert!(check("", "services", generated, None).is_empty());
    let bad_gen = json!({"metadata": {"generateName": "Web-", "namespace": "default"}, "spec": {"ports": [{"port": 80}]}});
    assert_eq!(
        check("", "services", bad_gen, None)[0].field,
        "metadata.generateName"
    );
}

#[test]
fn labels_and_annotations() {
    let svc = json!({"metadata": {"name": "s", "namespace": "default", "labels": {"bad key": "v", "ok": "-bad"}, "annotations": {"a/b/c": "x"}},
        "spec": {"ports": [{"port": 80}], "selector": {"app": "x y"}}});
    let m = messages(&check("", "services", svc, None));
    assert_eq!(m.len(), 4, "{m:#?}");
    assert!(
        m[0].starts_with("metadata.labels: Invalid value: \"bad key\": name part must consist of"),
        "{m:#?}"
    );
    assert!(
        m[1].starts_with(
            "metadata.labels: Invalid value: \"-bad\": a valid label must be an empty string"
        ),
        "{m:#?}"
    );
    assert!(
        m[2].starts_with(
            "metadata.annotations: Invalid value: \"a/b/c\": a valid label key must consist"
        ),
        "{m:#?}"
    );
    assert!(
        m[3].starts_with("spec.selector: Invalid value: \"x y\""),
        "{m:#?}"
    );
}

#[test]
fn service_port_rules() {
    let svc = json!({"metadata": meta("s"), "spec": {"ports": [
        {"port": 0},
        {"name": "http", "port": 70000, "protocol": "HTTP", "targetPort": "Bad_Name"},
        {"name": "http", "port": 81, "targetPort": 0, "nodePort": 30080}
    ]}});
    let m = messages(&check("", "services", svc, None));
    assert_eq!(
        m,
        vec![
            "spec.ports[0].name: Required value",
            "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.ports[1].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.ports[1].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            "spec.ports[1].targetPort: Invalid value: \"Bad_Name\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            "spec.ports[2].name: Duplicate value: \"http\"",
            "spec.ports[2].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
        ]
    );
    let dup = json!({"metadata": meta("s"), "spec": {"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80}]}});
    let m = messages(&check("", "services", dup, None));
    assert_eq!(m.len(), 1);
    assert!(
        m[0].starts_with(
            "spec.ports[1]: Duplicate value: core.ServicePort{Name:\"b\", Protocol:\"TCP\""
        ),
        "{m:?}"
    );
    let none = json!({"metadata": meta("s"), "spec": {}});
    assert_eq!(
        messages(&check("", "services", none, None)),
        vec!["spec.ports: Required value"]
    );
    let bad_type = json!({"metadata": meta("s"), "spec": {"type": "Foo", "ports": [{"port": 1}]}});
    assert_eq!(
        check("", "services", bad_type, None)[0].message,
        "Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""
    );
}

#[test]
fn service_external_name_and_policies() {
    let en = json!({"metadata": meta("e"), "spec": {"type": "ExternalName"}});
    assert_eq!(
        messages(&check("", "services", en, None)),
        vec!["spec.externalName: Required value"]
    );
    let en_ip = json!({"metadata": meta("e"), "spec": {"type": "ExternalName", "externalName": "www.iij.ad.jp.", "clusterIPs": ["10.96.0.5"]}});
    assert_eq!(
        messages(&check("", "services", en_ip, None)),
        vec!["spec.clusterIPs: Forbidden: may not be set for ExternalName services"]
    );
    let etp = json!({"metadata": meta("s"), "spec": {"ports": [{"port": 1}], "externalTrafficPolicy": "Local"}});
    assert_eq!(
        messages(&check("", "services", etp, None)),
        vec![
            "spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set when `type` is 'NodePort' or 'LoadBalancer'"
        ]
    );
    let aff = json!({"metadata": meta("s"), "spec": {"ports": [{"port": 1}], "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 0}}}});
    assert_eq!(
        check("", "services", aff, None)[0].field,
        "spec.sessionAffinityConfig.clientIP.timeoutSeconds"
    );
}

#[test]
fn service_cluster_ip_fields() {
    let bad = json!({"metadata": meta("s"), "spec": {"clusterIP": "10.96.0.300", "ports": [{"port": 80}]}});
    assert_eq!(
        messages(&check("", "services", bad, None)),
        vec![
            "spec.clusterIPs[0]: Invalid value: \"10.96.0.300\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
        ]
    );
    let mismatch = json!({"metadata": meta("s"), "spec": {"clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.6"], "ports": [{"port": 80}]}});
    assert_eq!(
        messages(&check("", "services", mismatch, None)),
        vec![
            "spec.clusterIPs: Invalid value: []string{\"10.96.0.6\"}: first value must match `clusterIP`"
        ]
    );
    let fam = json!({"metadata": meta("s"), "spec": {"ipFamilies": ["IPv5"], "ipFamilyPolicy": "Maybe", "ports": [{"port": 80}]}});
    let m = messages(&check("", "services", fam, None));
    assert_eq!(
        m,
        vec![
            "spec.ipFamilies[0]: Unsupported value: \"IPv5\": supported values: \"IPv4\", \"IPv6\"",
            "spec.ipFamilyPolicy: Unsupported value: \"Maybe\": supported values: \"PreferDualStack\", \"RequireDualStack\", \"SingleStack\"",
        ]
    );
}

#[test]
fn service_cluster_ip_is_immutable() {
    let old = json!({"metadata": meta("s"), "spec": {"type": "ClusterIP", "clusterIP": "10.96.5.5", "clusterIPs": ["10.96.5.5"], "ports": [{"port": 80}]}});
    let same = old.clone();
    assert!(check("", "services", same, Some(&old)).is_empty());
    let omitted = json!({"metadata": meta("s"), "spec": {"ports": [{"port": 80}]}});
    assert!(
        check("", "services", omitted, Some(&old)).is_empty(),
        "an update without clusterIP keeps the stored one"
    );
    let changed =
        json!({"metadata": meta("s"), "spec": {"clusterIP": "10.96.5.6", "ports": [{"port": 80}]}});
    assert_eq!(
        messages(&check("", "services", changed, Some(&old))),
        vec!["spec.clusterIPs[0]: Invalid value: []string(nil): may not change once set"]
    );
    let to_en = json!({"metadata": meta("s"), "spec": {"type": "ExternalName", "externalName": "a.example", "clusterIP": "10.96.5.5", "clusterIPs": ["10.96.5.5"]}});
    assert!(
        check("", "services", to_en, Some(&old)).is_empty(),
        "stored IPs are dropped on a change to ExternalName"
    );
}

#[test]
fn type_change_tolerates_carried_node_ports() {
    let old = json!({"metadata": meta("s"), "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "healthCheckNodePort": 31000,
        "clusterIP": "10.96.5.5", "clusterIPs": ["10.96.5.5"], "ports": [{"port": 80, "nodePort": 30080}]}});
    let to_cluster_ip = json!({"metadata": meta("s"), "spec": {"type": "ClusterIP", "healthCheckNodePort": 31000,
        "clusterIP": "10.96.5.5", "clusterIPs": ["10.96.5.5"], "ports": [{"port": 80, "nodePort": 30080}]}});
    assert!(check("", "services", to_cluster_ip, Some(&old)).is_empty());
    let new_port = json!({"metadata": meta("s"), "spec": {"type": "ClusterIP", "ports": [{"port": 80, "nodePort": 30081}]}});
    assert_eq!(
        messages(&check("", "services", new_port, Some(&old))),
        vec!["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
    );
}

#[test]
fn pod_rules() {
    let empty = json!({"metadata": meta("p"), "spec": {"containers": []}});
    assert_eq!(
        messages(&check("", "pods", empty, None)),
        vec!["spec.containers: Required value"]
    );
    let pod = json!({"metadata": meta("p"), "spec": {
        "initContainers": [{"name": "web", "image": "busybox"}],
        "containers": [
            {"name": "web", "image": "nginx", "ports": [{"containerPort": 0}, {"containerPort": 70000, "name": "HTTP"}]},
            {"name": "Bad", "image": ""}
        ], "restartPolicy": "Sometimes"}});
    let m = messages(&check("", "pods", pod, None));
    assert_eq!(m[0], "spec.containers[0].name: Duplicate value: \"web\"");
    assert_eq!(
        m[1],
        "spec.containers[0].ports[0].containerPort: Required value"
    );
    assert!(m.contains(&"spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive".to_string()), "{m:#?}");
    assert!(
        m.iter()
            .any(|x| x.starts_with("spec.containers[0].ports[1].name: Invalid value: \"HTTP\"")),
        "{m:#?}"
    );
    assert!(
        m.iter().any(|x| x.starts_with(
            "spec.containers[1].name: Invalid value: \"Bad\": a lowercase RFC 1123 label"
        )),
        "{m:#?}"
    );
    assert!(
        m.contains(&"spec.containers[1].image: Required value".to_string()),
        "{m:#?}"
    );
    assert!(m.contains(&"spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"Never\", \"OnFailure\"".to_string()), "{m:#?}");
}

#[test]
fn workload_selector_rules() {
    let mismatch = deployment(
        "web",
        json!({"matchLabels": {"app": "web"}}),
        json!({"app": "nginx"}),
    );
    assert_eq!(
        messages(&check("apps", "deployments", mismatch, None)),
        vec![
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"nginx\"}: `selector` does not match template `labels`"
        ]
    );
    let missing = json!({"metadata": meta("web"), "spec": {"template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
    assert_eq!(
        messages(&check("apps", "replicasets", missing, None)),
        vec!["spec.selector: Required value"]
    );
    let empty = deployment("web", json!({}), json!({"a": "b"}));
    assert!(
        messages(&check("apps", "deployments", empty, None))[0]
            .ends_with("empty selector is invalid for deployment")
    );
    let mut negative = deployment("web", json!({"matchLabels": {"a": "b"}}), json!({"a": "b"}));
    negative["spec"]["replicas"] = json!(-1);
    assert_eq!(
        messages(&check("apps", "deployments", negative, None)),
        vec!["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]
    );
    let old = deployment(
        "web",
        json!({"matchLabels": {"a": "b"}}),
        json!({"a": "b", "c": "d"}),
    );
    let mut old_d = old.clone();
    apply_defaults(res("apps", "deployments"), &mut old_d);
    let moved = deployment(
        "web",
        json!({"matchLabels": {"c": "d"}}),
        json!({"a": "b", "c": "d"}),
    );
    assert_eq!(
        messages(&check("apps", "deployments", moved, Some(&old_d))),
        vec![
            "spec.selector: Invalid value: &v1.LabelSelector{MatchLabels:map[string]string{\"c\":\"d\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
        ]
    );
    let mut never = deployment("web", json!({"matchLabels": {"a": "b"}}), json!({"a": "b"}));
    never["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
    assert_eq!(
        check("apps", "deployments", never, None)[0].field,
        "spec.template.spec.restartPolicy"
    );
    let mut zero = deployment("web", json!({"matchLabels": {"a": "b"}}), json!({"a": "b"}));
    zero["spec"]["strategy"] = json!({"rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}});
    assert_eq!(
        messages(&check("apps", "deployments", zero, None)),
        vec![
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"
        ]
    );
    let sts = json!({"metadata": meta("web"), "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]},
        "podManagementPolicy": "Random", "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
    assert_eq!(
        messages(&check("apps", "statefulsets", sts, None)),
        vec![
            "spec.podManagementPolicy: Unsupported value: \"Random\": supported values: \"OrderedReady\", \"Parallel\""
        ]
    );
}

#[test]
fn endpoints_slices_and_configmaps() {
    let ep = json!({"metadata": meta("e"), "subsets": [{"addresses": [{"ip": "nope"}], "ports": [{"port": 0}]}]});
    assert_eq!(
        messages(&check("", "endpoints", ep, None)),
        vec![
            "subsets[0].addresses[0].ip: Invalid value: \"nope\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            "subsets[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        ]
    );
    let es = json!({"metadata": meta("e"), "addressType": "IPv5", "endpoints": [], "ports": []});
    assert_eq!(
        check("discovery.k8s.io", "endpointslices", es, None)[0].message,
        "Unsupported value: \"IPv5\": supported values: \"FQDN\", \"IPv4\", \"IPv6\""
    );
    let es = json!({"metadata": meta("e"), "addressType": "IPv4", "endpoints": [{"addresses": ["fd00::1"]}], "ports": [{"port": 80}]});
    assert_eq!(
        messages(&check("discovery.k8s.io", "endpointslices", es, None)),
        vec!["endpoints[0].addresses[0]: Invalid value: \"fd00::1\": must be a valid IPv4 address"]
    );
    let cm = json!({"metadata": meta("c"), "data": {"good.key": "", "bad key": ""}});
    assert_eq!(check("", "configmaps", cm, None)[0].field, "data[bad key]");
}

#[test]
fn unknown_fields_are_found_without_false_positives() {
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "creationTimestamp": null, "labels": {"app": "web"}, "bogusMeta": 1},
        "spec": {"replicas": 1, "foo": {"bar": 1}, "selector": {"matchLabels": {"app": "web"}},
            "strategy": {},
            "template": {"metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx", "resources": {}, "bogus": true, "ports": [{"containerPort": 80, "protocol": "TCP"}]}],
                         "securityContext": {}, "nodeSelector": null}}},
        "status": {}});
    let found = unknown_fields(res("apps", "deployments"), &d).unwrap();
    assert_eq!(
        found,
        vec![
            "metadata.bogusMeta",
            "spec.foo",
            "spec.template.spec.containers[0].bogus"
        ]
    );
    // The body `kubectl expose` sends has no unknown fields.
    let svc = json!({"metadata": {"creationTimestamp": null, "labels": {"app": "nginx"}, "name": "nginx"},
        "spec": {"ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}], "selector": {"app": "nginx"}},
        "status": {"loadBalancer": {}}});
    assert_eq!(
        unknown_fields(res("", "services"), &svc).unwrap(),
        Vec::<String>::new()
    );
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"x": "y"}, "status": {"a": 1}});
    assert_eq!(
        unknown_fields(res("", "configmaps"), &cm).unwrap(),
        vec!["status"]
    );
}

#[test]
fn wrong_types_are_clear_errors() {
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": "eighty"}]}});
    let err = unknown_fields(res("", "services"), &svc).unwrap_err();
    assert!(err.starts_with("Service in version \"v1\" cannot be handled as a Service: spec.ports[0].port: invalid type: string \"eighty\""), "{err}");
    let not_obj = unknown_fields(res("", "services"), &json!([1]));
    assert!(not_obj.is_err());
    let lease = json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "me", "zzz": 1}});
    assert_eq!(
        unknown_fields(res("coordination.k8s.io", "leases"), &lease).unwrap(),
        vec!["spec.zzz"]
    );
}

#[test]
fn ephemeral_containers_are_checked_and_only_ever_added() {
    let pod = |eph: Value| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta("p"),
            "spec": {"containers": [{"name": "web", "image": "nginx"}], "ephemeralContainers": eph}})
    };
    let dbg = json!({"name": "dbg", "image": "busybox", "targetContainerName": "web"});
    assert_eq!(
        messages(&check("", "pods", pod(json!([dbg.clone()])), None)),
        Vec::<String>::new()
    );
    let bad = json!([
        {"name": "web", "image": "busybox"},
        {"name": "d2", "image": "busybox", "ports": [{"containerPort": 80}], "targetContainerName": "nope"},
        {"name": "d3"}
    ]);
    assert_eq!(
        messages(&check("", "pods", pod(bad), None)),
        [
            "spec.ephemeralContainers[0].name: Duplicate value: \"web\"",
            "spec.ephemeralContainers[1].ports: Forbidden: cannot be set for an Ephemeral Container",
            "spec.ephemeralContainers[1].targetContainerName: Not found: \"nope\"",
            "spec.ephemeralContainers[2].image: Required value",
        ]
    );
    // Adding one more is fine; changing or removing an existing one is not.
    let mut old = pod(json!([dbg.clone()]));
    apply_defaults(res("", "pods"), &mut old);
    let more = pod(json!([dbg.clone(), {"name": "dbg2", "image": "alpine"}]));
    assert_eq!(
        messages(&check("", "pods", more, Some(&old))),
        Vec::<String>::new()
    );
    let changed = pod(json!([{"name": "dbg", "image": "alpine", "targetContainerName": "web"}]));
    assert_eq!(
        messages(&check("", "pods", changed, Some(&old))),
        [
            "spec.ephemeralContainers[0]: Forbidden: existing ephemeral containers \"dbg\" may not be changed"
        ]
    );
    assert_eq!(
        messages(&check("", "pods", pod(json!([])), Some(&old))),
        [
            "spec.ephemeralContainers: Forbidden: existing ephemeral containers \"dbg\" may not be removed"
        ]
    );
}
