use super::*;
use crate::resources::lookup;

fn defaulted(group: &str, plural: &str, mut obj: Value) -> Value {
    let r = lookup(group, "v1", plural).expect("served");
    apply_defaults(r, &mut obj);
    let again = {
        let mut o = obj.clone();
        apply_defaults(r, &mut o);
        o
    };
    assert_eq!(again, obj, "defaulting is idempotent");
    obj
}

#[test]
fn expose_service_gets_kubernetes_defaults() {
    // The body `kubectl expose deployment nginx --port=80` sends.
    let svc = defaulted(
        "",
        "services",
        json!({
            "metadata": {"name": "nginx", "creationTimestamp": null},
            "spec": {"ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}], "selector": {"app": "nginx"}},
            "status": {"loadBalancer": {}}
        }),
    );
    let spec = &svc["spec"];
    assert_eq!(spec["type"], "ClusterIP");
    assert_eq!(spec["sessionAffinity"], "None");
    assert_eq!(spec["internalTrafficPolicy"], "Cluster");
    assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
    assert!(
        spec.get("ipFamilies").is_none(),
        "the allocator sets the cluster's family"
    );
    assert_eq!(spec["ports"][0]["targetPort"], 8080);
    assert!(spec.get("externalTrafficPolicy").is_none());
    assert!(spec.get("allocateLoadBalancerNodePorts").is_none());
}

#[test]
fn service_port_and_type_defaults() {
    let svc = defaulted(
        "",
        "services",
        json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 53, "protocol": "UDP"}, {"port": 80, "targetPort": 0}, {"port": 81, "targetPort": "http"}],
        "sessionAffinity": "ClientIP"}}),
    );
    let spec = &svc["spec"];
    assert_eq!(spec["ports"][0]["protocol"], "UDP");
    assert_eq!(spec["ports"][0]["targetPort"], 53);
    assert_eq!(spec["ports"][1]["protocol"], "TCP");
    assert_eq!(spec["ports"][1]["targetPort"], 80);
    assert_eq!(spec["ports"][2]["targetPort"], "http");
    assert_eq!(spec["externalTrafficPolicy"], "Cluster");
    assert_eq!(spec["allocateLoadBalancerNodePorts"], true);
    assert_eq!(
        spec["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"],
        10800
    );
    let none = defaulted(
        "",
        "services",
        json!({"spec": {"sessionAffinity": "None", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 5}}}}),
    );
    assert!(none["spec"].get("sessionAffinityConfig").is_none());
}

#[test]
fn service_ip_families() {
    let headless = defaulted(
        "",
        "services",
        json!({"spec": {"clusterIP": "None", "selector": {"app": "x"}}}),
    );
    assert_eq!(headless["spec"]["ipFamilyPolicy"], "SingleStack");
    assert!(headless["spec"].get("ipFamilies").is_none());
    let v4 = defaulted("", "services", json!({"spec": {"clusterIP": "10.96.0.10"}}));
    assert_eq!(v4["spec"]["ipFamilies"], json!(["IPv4"]));
    let selectorless = defaulted("", "services", json!({"spec": {"clusterIP": "None"}}));
    assert_eq!(selectorless["spec"]["ipFamilyPolicy"], "RequireDualStack");
    let ext = defaulted(
        "",
        "services",
        json!({"spec": {"type": "ExternalName", "externalName": "www.iij.ad.jp", "ipFamilies": ["IPv4"]}}),
    );
    assert!(ext["spec"].get("ipFamilies").is_none());
    assert!(ext["spec"].get("ipFamilyPolicy").is_none());
    assert!(ext["spec"].get("internalTrafficPolicy").is_none());
    let v6 = defaulted(
        "",
        "services",
        json!({"spec": {"clusterIPs": ["fd00::10"]}}),
    );
    assert_eq!(v6["spec"]["ipFamilies"], json!(["IPv6"]));
    let kept = defaulted(
        "",
        "services",
        json!({"spec": {"ipFamilyPolicy": "PreferDualStack"}}),
    );
    assert_eq!(kept["spec"]["ipFamilyPolicy"], "PreferDualStack");
}

#[test]
fn pod_defaults() {
    let pod = defaulted(
        "",
        "pods",
        json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [
                {"name": "a", "image": "nginx", "ports": [{"containerPort": 80}],
                 "readinessProbe": {"httpGet": {"port": 80}},
                 "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                 "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
                {"name": "b", "image": "redis:7", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}
            ], "volumes": [{"name": "v"}, {"name": "cm", "configMap": {"name": "x"}}]}
        }),
    );
    let spec = &pod["spec"];
    assert_eq!(spec["restartPolicy"], "Always");
    assert_eq!(spec["dnsPolicy"], "ClusterFirst");
    assert_eq!(spec["enableServiceLinks"], true);
    assert_eq!(spec["terminationGracePeriodSeconds"], 30);
    assert_eq!(spec["schedulerName"], "default-scheduler");
    assert_eq!(spec["securityContext"], json!({}));
    assert_eq!(spec["serviceAccountName"], "default");
    assert_eq!(spec["priority"], 0);
    assert_eq!(spec["tolerations"].as_array().unwrap().len(), 2);
    let a = &spec["containers"][0];
    assert_eq!(a["imagePullPolicy"], "Always");
    assert_eq!(spec["containers"][1]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(a["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(a["terminationMessagePolicy"], "File");
    assert_eq!(a["ports"][0]["protocol"], "TCP");
    assert_eq!(a["readinessProbe"]["timeoutSeconds"], 1);
    assert_eq!(a["readinessProbe"]["periodSeconds"], 10);
    assert_eq!(a["readinessProbe"]["successThreshold"], 1);
    assert_eq!(a["readinessProbe"]["failureThreshold"], 3);
    assert_eq!(a["readinessProbe"]["httpGet"]["path"], "/");
    assert_eq!(a["readinessProbe"]["httpGet"]["scheme"], "HTTP");
    assert_eq!(a["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
    assert_eq!(a["resources"]["requests"]["memory"], "1Gi");
    assert_eq!(spec["volumes"][0]["emptyDir"], json!({}));
    assert_eq!(spec["volumes"][1]["configMap"]["defaultMode"], 420);
    assert_eq!(pod["status"]["phase"], "Pending");
    assert_eq!(pod["status"]["qosClass"], "Guaranteed");
    let best = defaulted(
        "",
        "pods",
        json!({"spec": {"containers": [{"name": "a", "image": "busybox"}]}}),
    );
    assert_eq!(best["status"]["qosClass"], "BestEffort");
    let kept = defaulted(
        "",
        "pods",
        json!({"spec": {"restartPolicy": "Never", "dnsPolicy": "Default", "containers": []}, "status": {"phase": "Running"}}),
    );
    assert_eq!(kept["spec"]["restartPolicy"], "Never");
    assert_eq!(kept["spec"]["dnsPolicy"], "Default");
    assert_eq!(kept["status"]["phase"], "Running");
}

#[test]
fn image_pull_policies() {
    assert_eq!(image_pull_policy("nginx"), "Always");
    assert_eq!(image_pull_policy("nginx:latest"), "Always");
    assert_eq!(image_pull_policy("nginx:1.19"), "IfNotPresent");
    assert_eq!(image_pull_policy("localhost:5000/nginx"), "Always");
    assert_eq!(image_pull_policy("localhost:5000/nginx:1"), "IfNotPresent");
    assert_eq!(image_pull_policy("nginx@sha256:abc"), "IfNotPresent");
}

#[test]
fn workload_defaults() {
    let tpl = json!({"metadata": {"labels": {"app": "nginx"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx:1.19"}]}});
    let d = defaulted(
        "apps",
        "deployments",
        json!({"spec": {"selector": {"matchLabels": {"app": "nginx"}}, "template": tpl.clone()}}),
    );
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(
        d["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
    assert!(
        d["spec"]["template"]["spec"]
            .get("serviceAccountName")
            .is_none(),
        "admission fields only on pods"
    );
    let recreate = defaulted(
        "apps",
        "deployments",
        json!({"spec": {"replicas": 0, "strategy": {"type": "Recreate"}}}),
    );
    assert_eq!(recreate["spec"]["replicas"], 0);
    assert!(recreate["spec"]["strategy"].get("rollingUpdate").is_none());
    let rs = defaulted(
        "apps",
        "replicasets",
        json!({"spec": {"template": tpl.clone()}}),
    );
    assert_eq!(rs["spec"]["replicas"], 1);
    let sts = defaulted(
        "apps",
        "statefulsets",
        json!({"spec": {"template": tpl.clone()}}),
    );
    assert_eq!(sts["spec"]["podManagementPolicy"], "OrderedReady");
    assert_eq!(
        sts["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    );
    assert_eq!(
        sts["spec"]["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
    );
    assert_eq!(sts["spec"]["revisionHistoryLimit"], 10);
    let ds = defaulted("apps", "daemonsets", json!({"spec": {"template": tpl}}));
    assert_eq!(
        ds["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    );
    assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);
}

#[test]
fn other_kinds() {
    let ns = defaulted("", "namespaces", json!({"metadata": {"name": "dev"}}));
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(ns["status"]["phase"], "Active");
    assert_eq!(
        ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "dev"
    );
    let es = defaulted(
        "discovery.k8s.io",
        "endpointslices",
        json!({"addressType": "IPv4", "ports": [{"port": 80}]}),
    );
    assert_eq!(es["ports"][0]["protocol"], "TCP");
    let ep = defaulted(
        "",
        "endpoints",
        json!({"subsets": [{"addresses": [{"ip": "202.232.2.180"}], "ports": [{"port": 80}]}]}),
    );
    assert_eq!(ep["subsets"][0]["ports"][0]["protocol"], "TCP");
    let np = defaulted(
        "networking.k8s.io",
        "networkpolicies",
        json!({"spec": {"podSelector": {}, "egress": [{"ports": [{"port": 53}]}]}}),
    );
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(np["spec"]["egress"][0]["ports"][0]["protocol"], "TCP");
    let secret = defaulted("", "secrets", json!({"data": {}}));
    assert_eq!(secret["type"], "Opaque");
    let cm = defaulted("", "configmaps", json!({"data": {"a": "b"}}));
    assert_eq!(cm, json!({"data": {"a": "b"}}));
}
