use super::*;
use crate::resources::lookup;
use std::time::{Duration, UNIX_EPOCH};

/// 2024-01-01T00:00:00Z
fn epoch() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_704_067_200)
}

fn at(secs_after: u64) -> SystemTime {
    epoch() + Duration::from_secs(secs_after)
}

fn res(group: &str, plural: &str) -> &'static Resource {
    let version = "v1";
    lookup(group, version, plural).expect("served resource")
}

fn cells(t: &Value) -> Vec<String> {
    t["rows"][0]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| match c {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

fn column_names(t: &Value) -> Vec<String> {
    t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

fn wide(t: &Value) -> Vec<String> {
    t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["priority"] == 1)
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn human_durations_match_kube() {
    let cases = [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (5, "5s"),
        (119, "119s"),
        (120, "2m"),
        (182, "3m2s"),
        (600, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 25 * 60, "3h25m"),
        (10 * 3600, "10h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (3 * 86400 + 5 * 3600, "3d5h"),
        (30 * 86400, "30d"),
        (3 * 365 * 86400 + 45 * 86400, "3y45d"),
        (10 * 365 * 86400, "10y"),
    ];
    for (secs, want) in cases {
        assert_eq!(human_duration(secs), want, "{secs}s");
    }
}

#[test]
fn service_row_matches_the_seed() {
    let svc = json!({
        "metadata": {"name": "nginx", "namespace": "default", "creationTimestamp": "2024-01-01T00:00:00Z", "labels": {"app": "nginx"}},
        "spec": {"type": "ClusterIP", "clusterIP": "10.102.97.154", "clusterIPs": ["10.102.97.154"],
                 "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}], "selector": {"app": "nginx"}}
    });
    let t = table(res("", "services"), &[svc], "42", at(5));
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["metadata"]["resourceVersion"], "42");
    assert!(t.get("_resource").is_none());
    assert_eq!(
        column_names(&t),
        [
            "Name",
            "Type",
            "Cluster-IP",
            "External-IP",
            "Port(s)",
            "Age",
            "Selector"
        ]
    );
    assert_eq!(wide(&t), ["Selector"]);
    assert_eq!(
        cells(&t),
        [
            "nginx",
            "ClusterIP",
            "10.102.97.154",
            "<none>",
            "80/TCP",
            "5s",
            "app=nginx"
        ]
    );
    let obj = &t["rows"][0]["object"];
    assert_eq!(obj["kind"], "PartialObjectMetadata");
    assert_eq!(obj["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(obj["metadata"]["namespace"], "default");
    assert_eq!(obj["metadata"]["labels"]["app"], "nginx");
}

#[test]
fn service_variants() {
    let svc = |spec: Value, status: Value| json!({"metadata": {"name": "s", "creationTimestamp": "2024-01-01T00:00:00Z"}, "spec": spec, "status": status});
    let row = |s: Value| cells(&table(res("", "services"), &[s], "1", at(0)));
    let headless = row(svc(
        json!({"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 80, "protocol": "TCP"}]}),
        json!({}),
    ));
    assert_eq!(headless[2], "None");
    assert_eq!(headless[6], "<none>");
    let np = row(svc(
        json!({"type": "NodePort", "clusterIPs": ["10.96.5.5"], "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}),
        json!({}),
    ));
    assert_eq!(np[4], "80:30080/TCP,53/UDP");
    let lb = row(svc(
        json!({"type": "LoadBalancer", "clusterIPs": ["10.96.5.6"], "ports": []}),
        json!({"loadBalancer": {}}),
    ));
    assert_eq!(lb[3], "<pending>");
    assert_eq!(lb[4], "<none>");
    let lb2 = row(svc(
        json!({"type": "LoadBalancer", "externalIPs": ["1.2.3.4"]}),
        json!({"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "lb.example"}]}}),
    ));
    assert_eq!(lb2[3], "5.6.7.8,lb.example,1.2.3.4");
    assert_eq!(lb2[2], "<none>");
    let en = row(svc(
        json!({"type": "ExternalName", "externalName": "www.iij.ad.jp"}),
        json!({}),
    ));
    assert_eq!(en[3], "www.iij.ad.jp");
    let ext = row(svc(
        json!({"type": "ClusterIP", "externalIPs": ["192.0.2.1", "192.0.2.2"]}),
        json!({}),
    ));
    assert_eq!(ext[3], "192.0.2.1,192.0.2.2");
}

fn pod(status: Value) -> Value {
    json!({
        "metadata": {"name": "nginx-7854ff8877-abcde", "namespace": "default", "creationTimestamp": "2024-01-01T00:00:00Z"},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.19"}], "nodeName": "knet-worker"},
        "status": status,
    })
}

#[test]
fn running_pod_row() {
    let p = pod(json!({
        "phase": "Running", "podIP": "10.244.1.5", "podIPs": [{"ip": "10.244.1.5"}],
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "nginx", "ready": true, "restartCount": 0, "state": {"running": {"startedAt": "2024-01-01T00:00:01Z"}}}]
    }));
    let t = table(res("", "pods"), &[p], "7", at(3 * 3600 + 25 * 60));
    assert_eq!(
        column_names(&t),
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ]
    );
    assert_eq!(
        wide(&t),
        ["IP", "Node", "Nominated Node", "Readiness Gates"]
    );
    assert_eq!(
        cells(&t),
        [
            "nginx-7854ff8877-abcde",
            "1/1",
            "Running",
            "0",
            "3h25m",
            "10.244.1.5",
            "knet-worker",
            "<none>",
            "<none>"
        ]
    );
    assert!(t["rows"][0].get("conditions").is_none());
}

#[test]
fn pod_status_reasons() {
    let row = |p: Value, now: SystemTime| cells(&table(res("", "pods"), &[p], "1", now));
    let pending = row(pod(json!({"phase": "Pending"})), at(1));
    assert_eq!(pending[1..4], ["0/1", "Pending", "0"]);
    assert_eq!(pending[5], "<none>");
    let waiting = row(
        pod(
            json!({"phase": "Pending", "containerStatuses": [{"name": "nginx", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
        ),
        at(1),
    );
    assert_eq!(waiting[2], "ContainerCreating");
    let crash = row(
        pod(
            json!({"phase": "Running", "containerStatuses": [{"name": "nginx", "ready": false, "restartCount": 2,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-01-01T00:10:00Z"}}}]}),
        ),
        at(900),
    );
    assert_eq!(crash[1..4], ["0/1", "CrashLoopBackOff", "2 (5m ago)"]);
    let done = pod(
        json!({"phase": "Succeeded", "containerStatuses": [{"name": "nginx", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
    );
    let t = table(res("", "pods"), &[done], "1", at(1));
    assert_eq!(cells(&t)[2], "Completed");
    assert_eq!(t["rows"][0]["conditions"][0]["reason"], "Succeeded");
    let killed = row(
        pod(
            json!({"phase": "Failed", "containerStatuses": [{"name": "nginx", "restartCount": 0, "state": {"terminated": {"exitCode": 137, "signal": 9}}}]}),
        ),
        at(1),
    );
    assert_eq!(killed[2], "Signal:9");
    let exit = row(
        pod(
            json!({"phase": "Failed", "containerStatuses": [{"name": "nginx", "restartCount": 0, "state": {"terminated": {"exitCode": 3}}}]}),
        ),
        at(1),
    );
    assert_eq!(exit[2], "ExitCode:3");
    let mut deleting = pod(json!({"phase": "Running"}));
    deleting["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:10Z");
    assert_eq!(row(deleting, at(20))[2], "Terminating");
}

#[test]
fn init_container_statuses() {
    let mut p = pod(json!({"phase": "Pending",
    "initContainerStatuses": [
        {"name": "a", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
        {"name": "b", "restartCount": 1, "state": {"running": {}}}
    ]}));
    p["spec"]["initContainers"] = json!([{"name": "a"}, {"name": "b"}]);
    let c = cells(&table(res("", "pods"), &[p.clone()], "1", at(1)));
    assert_eq!(c[2], "Init:1/2");
    assert_eq!(c[3], "1");
    p["status"]["initContainerStatuses"][1]["state"] =
        json!({"waiting": {"reason": "ImagePullBackOff"}});
    assert_eq!(
        cells(&table(res("", "pods"), &[p.clone()], "1", at(1)))[2],
        "Init:ImagePullBackOff"
    );
    p["status"]["initContainerStatuses"][1]["state"] = json!({"terminated": {"exitCode": 2}});
    assert_eq!(
        cells(&table(res("", "pods"), &[p], "1", at(1)))[2],
        "Init:ExitCode:2"
    );
}

#[test]
fn readiness_gates_count_true_conditions() {
    let mut p = pod(
        json!({"phase": "Running", "conditions": [{"type": "x/a", "status": "True"}, {"type": "x/b", "status": "False"}]}),
    );
    p["spec"]["readinessGates"] = json!([{"conditionType": "x/a"}, {"conditionType": "x/b"}]);
    assert_eq!(cells(&table(res("", "pods"), &[p], "1", at(1)))[8], "1/2");
}

#[test]
fn endpoints_rows() {
    let ep = |subsets: Value| json!({"metadata": {"name": "nginx", "creationTimestamp": "2024-01-01T00:00:00Z"}, "subsets": subsets});
    let row = |e: Value| cells(&table(res("", "endpoints"), &[e], "1", at(60)));
    assert_eq!(
        row(ep(
            json!([{"addresses": [{"ip": "192.168.76.141"}], "ports": [{"port": 80, "protocol": "TCP"}]}])
        )),
        ["nginx", "192.168.76.141:80", "60s"]
    );
    assert_eq!(row(ep(json!([])))[1], "<none>");
    assert_eq!(row(ep(Value::Null))[1], "<none>");
    let many = ep(
        json!([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "10.0.0.3"}, {"ip": "10.0.0.4"}, {"ip": "10.0.0.5"}], "ports": [{"port": 8080}]}]),
    );
    assert_eq!(
        row(many)[1],
        "10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080 + 2 more..."
    );
    assert_eq!(
        row(ep(json!([{"addresses": [{"ip": "202.232.2.180"}]}])))[1],
        "202.232.2.180"
    );
    assert_eq!(
        row(ep(
            json!([{"notReadyAddresses": [{"ip": "10.0.0.9"}], "ports": [{"port": 80}]}])
        ))[1],
        ""
    );
}

#[test]
fn endpoint_slice_row() {
    let es = json!({"metadata": {"name": "nginx-abc12", "creationTimestamp": "2024-01-01T00:00:00Z"}, "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["10.244.1.5"]}, {"addresses": ["10.244.2.7"]}]});
    let t = table(res("discovery.k8s.io", "endpointslices"), &[es], "1", at(2));
    assert_eq!(
        column_names(&t),
        ["Name", "AddressType", "Ports", "Endpoints", "Age"]
    );
    assert_eq!(
        cells(&t),
        ["nginx-abc12", "IPv4", "80", "10.244.1.5,10.244.2.7", "2s"]
    );
    let empty =
        json!({"metadata": {"name": "e"}, "addressType": "IPv4", "ports": [{}], "endpoints": []});
    assert_eq!(
        cells(&table(
            res("discovery.k8s.io", "endpointslices"),
            &[empty],
            "1",
            at(2)
        ))[2..4],
        ["*", "<unset>"]
    );
}

#[test]
fn workload_rows() {
    let d = json!({"metadata": {"name": "nginx", "creationTimestamp": "2024-01-01T00:00:00Z"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "nginx"}},
                 "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.19"}, {"name": "redis", "image": "redis"}]}}},
        "status": {"readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1}});
    let t = table(
        res("apps", "deployments"),
        std::slice::from_ref(&d),
        "1",
        at(182),
    );
    assert_eq!(
        column_names(&t),
        [
            "Name",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    assert_eq!(
        cells(&t),
        [
            "nginx",
            "1/2",
            "2",
            "1",
            "3m2s",
            "nginx,redis",
            "nginx:1.19,redis",
            "app=nginx"
        ]
    );
    let rs = table(
        res("apps", "replicasets"),
        std::slice::from_ref(&d),
        "1",
        at(1),
    );
    assert_eq!(cells(&rs)[..4], ["nginx", "2", "0", "1"]);
    assert_eq!(cells(&rs)[7], "app=nginx");
    let sts = table(
        res("apps", "statefulsets"),
        std::slice::from_ref(&d),
        "1",
        at(1),
    );
    assert_eq!(
        cells(&sts),
        ["nginx", "1/2", "1s", "nginx,redis", "nginx:1.19,redis"]
    );
    let ds = json!({"metadata": {"name": "knet-node"}, "spec": {"selector": {"matchLabels": {"k": "v"}}, "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": []}}},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2}});
    let t = table(res("apps", "daemonsets"), &[ds], "1", at(1));
    assert_eq!(
        cells(&t),
        [
            "knet-node",
            "3",
            "3",
            "2",
            "3",
            "2",
            "kubernetes.io/os=linux",
            "<unknown>",
            "",
            "",
            "k=v"
        ]
    );
}

#[test]
fn node_namespace_configmap_rows() {
    let n = json!({"metadata": {"name": "knet-control-plane", "creationTimestamp": "2024-01-01T00:00:00Z",
            "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "x"}},
        "spec": {"unschedulable": true},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}],
                   "nodeInfo": {"kubeletVersion": "v1.33.1", "osImage": "Debian GNU/Linux 13", "kernelVersion": "6.1.0", "containerRuntimeVersion": "knet://0.1.0"}}});
    let t = table(res("", "nodes"), &[n], "1", at(2 * 86400));
    assert_eq!(
        cells(&t),
        [
            "knet-control-plane",
            "Ready,SchedulingDisabled",
            "control-plane",
            "2d",
            "v1.33.1",
            "172.18.0.2",
            "<none>",
            "Debian GNU/Linux 13",
            "6.1.0",
            "knet://0.1.0"
        ]
    );
    let bare = json!({"metadata": {"name": "n2"}});
    assert_eq!(
        cells(&table(res("", "nodes"), &[bare], "1", at(1)))[1..3],
        ["Unknown", "<none>"]
    );
    let ns = json!({"metadata": {"name": "default", "creationTimestamp": "2024-01-01T00:00:00Z"}, "status": {"phase": "Active"}});
    assert_eq!(
        cells(&table(res("", "namespaces"), &[ns], "1", at(10))),
        ["default", "Active", "10s"]
    );
    let cm = json!({"metadata": {"name": "kube-root-ca.crt", "creationTimestamp": "2024-01-01T00:00:00Z"}, "data": {"ca.crt": "x"}, "binaryData": {"b": ""}});
    assert_eq!(
        cells(&table(res("", "configmaps"), &[cm], "1", at(10))),
        ["kube-root-ca.crt", "2", "10s"]
    );
}

#[test]
fn event_row() {
    let ev = json!({"metadata": {"name": "nginx.17a", "creationTimestamp": "2024-01-01T00:00:00Z"},
        "involvedObject": {"kind": "Pod", "name": "nginx-abc", "fieldPath": "spec.containers{nginx}"},
        "reason": "Started", "message": "Started container nginx\n", "type": "Normal",
        "source": {"component": "kubelet", "host": "knet-worker"},
        "firstTimestamp": "2024-01-01T00:00:00Z", "lastTimestamp": "2024-01-01T00:01:00Z", "count": 3});
    let t = table(res("", "events"), &[ev], "1", at(120));
    assert_eq!(
        column_names(&t)[..4],
        ["Last Seen", "Type", "Reason", "Object"]
    );
    assert_eq!(
        cells(&t),
        [
            "60s",
            "Normal",
            "Started",
            "pod/nginx-abc",
            "spec.containers{nginx}",
            "kubelet, knet-worker",
            "Started container nginx",
            "2m",
            "3",
            "nginx.17a"
        ]
    );
}

#[test]
fn other_kinds_and_fallback() {
    let np = json!({"metadata": {"name": "deny"}, "spec": {"podSelector": {}}});
    assert_eq!(
        cells(&table(
            res("networking.k8s.io", "networkpolicies"),
            &[np],
            "1",
            at(1)
        ))[1],
        "<none>"
    );
    let ing = json!({"metadata": {"name": "web"}, "spec": {"rules": [{"host": "a.example"}, {}], "tls": [{}]}, "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.9"}]}}});
    assert_eq!(
        cells(&table(
            res("networking.k8s.io", "ingresses"),
            &[ing],
            "1",
            at(1)
        ))[1..5],
        ["<none>", "a.example", "192.0.2.9", "80, 443"]
    );
    let lease =
        json!({"metadata": {"name": "knet-worker"}, "spec": {"holderIdentity": "knet-worker"}});
    assert_eq!(
        cells(&table(
            res("coordination.k8s.io", "leases"),
            &[lease],
            "1",
            at(1)
        )),
        ["knet-worker", "knet-worker", "<unknown>"]
    );
    let t = table(
        res("", "secrets"),
        &[json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "", "b": ""}})],
        "1",
        at(1),
    );
    assert_eq!(cells(&t)[1..3], ["Opaque", "2"]);
    let empty = table(res("", "pods"), &[], "9", at(1));
    assert_eq!(empty["rows"], json!([]));
    assert_eq!(column_names(&empty).len(), 9);
}

#[test]
fn include_object_modes() {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}, "spec": {"nodeName": "n1"}});
    let r = lookup("", "v1", "pods").expect("pods");
    let build = || table(r, std::slice::from_ref(&pod), "7", SystemTime::UNIX_EPOCH);
    let mut whole = build();
    include_objects(&mut whole, std::slice::from_ref(&pod), Some("Object"));
    assert_eq!(whole["rows"][0]["object"]["spec"]["nodeName"], "n1");
    let mut none = build();
    include_objects(&mut none, std::slice::from_ref(&pod), Some("None"));
    assert!(none["rows"][0].get("object").is_none());
    let mut meta = build();
    include_objects(&mut meta, std::slice::from_ref(&pod), None);
    assert_eq!(meta["rows"][0]["object"]["kind"], "PartialObjectMetadata");
}
