//! Strategic merge patch: merge keys per kind and the directives kubectl sends.

use knet_api::patch::{PatchError, strategic_merge_patch};
use knet_api::resources::{Resource, lookup_kind};
use serde_json::{Value, json};

fn res(api_version: &str, kind: &str) -> &'static Resource {
    lookup_kind(api_version, kind).unwrap_or_else(|| panic!("{kind} not served"))
}

fn smp(kind: &str, orig: Value, patch: Value) -> Value {
    let api = match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => "apps/v1",
        _ => "v1",
    };
    strategic_merge_patch(res(api, kind), &orig, &patch).unwrap_or_else(|e| panic!("smp: {e}"))
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "annotations": {"a": "1"}, "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "web", "image": "nginx:1.19",
                         "ports": [{"containerPort": 80, "protocol": "TCP"}],
                         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                        {"name": "sidecar", "image": "busybox", "args": ["sleep", "1"]}
                    ],
                    "tolerations": [{"key": "k1", "operator": "Exists"}],
                    "volumes": [{"name": "data", "emptyDir": {}}]
                }
            }
        }
    })
}

#[test]
fn kubectl_apply_body_from_the_note() {
    let patch = json!({
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {"replicas": 3, "template": {"spec": {
            "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
            "containers": [{"image": "nginx:1.28", "name": "web"}]
        }}}
    });
    let out = smp("Deployment", deployment(), patch);
    assert_eq!(out["spec"]["replicas"], 3);
    let cs = &out["spec"]["template"]["spec"]["containers"];
    assert_eq!(cs.as_array().unwrap().len(), 2, "sidecar kept: {cs}");
    assert_eq!(cs[0]["image"], "nginx:1.28");
    assert_eq!(
        cs[0]["ports"],
        json!([{"containerPort": 80, "protocol": "TCP"}]),
        "untouched fields kept"
    );
    assert_eq!(cs[1]["name"], "sidecar");
    assert_eq!(out["metadata"]["annotations"]["a"], "1");
    assert!(
        out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );
    assert!(!out.to_string().contains('$'), "no directive left: {out}");
}

#[test]
fn set_element_order_reorders_and_places_new_elements() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "init"}, {"name": "sidecar"}, {"name": "web"}],
        "containers": [{"name": "init", "image": "alpine"}]
    }}}});
    let out = smp("Deployment", deployment(), patch);
    let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["init", "sidecar", "web"]);
}

#[test]
fn delete_list_element_by_patch_directive() {
    let patch = json!({"spec": {"template": {"spec": {
        "containers": [{"name": "sidecar", "$patch": "delete"},
                       {"name": "web", "env": [{"name": "A", "$patch": "delete"}, {"name": "C", "value": "3"}]}]
    }}}});
    let out = smp("Deployment", deployment(), patch);
    let cs = out["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(cs.len(), 1);
    assert_eq!(
        cs[0]["env"],
        json!([{"name": "B", "value": "2"}, {"name": "C", "value": "3"}])
    );
}

#[test]
fn merge_keys_for_ports_env_and_volumes() {
    let patch = json!({"spec": {"template": {"spec": {
        "containers": [{"name": "web", "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}],
                        "env": [{"name": "B", "value": "22"}]}],
        "volumes": [{"name": "cache", "emptyDir": {}}]
    }}}});
    let out = smp("Deployment", deployment(), patch);
    let web = &out["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        web["ports"],
        json!([{"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 443}])
    );
    assert_eq!(
        web["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "22"}])
    );
    assert_eq!(
        out["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn untagged_lists_are_replaced() {
    let patch = json!({"spec": {"template": {"spec": {
        "tolerations": [{"key": "k2", "operator": "Exists"}],
        "containers": [{"name": "sidecar", "args": ["sleep", "2"]}]
    }}}});
    let out = smp("Deployment", deployment(), patch);
    let spec = &out["spec"]["template"]["spec"];
    assert_eq!(
        spec["tolerations"],
        json!([{"key": "k2", "operator": "Exists"}])
    );
    assert_eq!(spec["containers"][1]["args"], json!(["sleep", "2"]));
}

#[test]
fn null_deletes_keys() {
    let patch = json!({"metadata": {"annotations": {"a": null}, "labels": null}, "spec": {"template": {"spec": {"volumes": null}}}});
    let out = smp("Deployment", deployment(), patch);
    assert_eq!(out["metadata"]["annotations"], json!({}));
    assert!(out["metadata"].get("labels").is_none());
    assert!(out["spec"]["template"]["spec"].get("volumes").is_none());
}

#[test]
fn retain_keys_switches_deployment_strategy() {
    // kubectl apply after changing strategy to Recreate sends this.
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}});
    let out = smp("Deployment", deployment(), patch);
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn retain_keys_on_a_volume_element() {
    let patch = json!({"spec": {"template": {"spec": {"volumes": [
        {"$retainKeys": ["configMap", "name"], "name": "data", "configMap": {"name": "cm"}}
    ]}}}});
    let out = smp("Deployment", deployment(), patch);
    assert_eq!(
        out["spec"]["template"]["spec"]["volumes"],
        json!([{"name": "data", "configMap": {"name": "cm"}}])
    );
}

#[test]
fn finalizers_merge_as_a_set_and_delete_from_primitive_list() {
    let ns = json!({"metadata": {"name": "x", "finalizers": ["a", "b"]}});
    let out = smp(
        "Pod",
        ns.clone(),
        json!({"metadata": {"finalizers": ["b", "c"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
    let out = smp(
        "Pod",
        ns,
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "$setElementOrder/finalizers": ["c", "b"], "finalizers": ["c"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["c", "b"]));
}

#[test]
fn map_level_patch_directives() {
    let dep = deployment();
    let out = smp(
        "Deployment",
        dep.clone(),
        json!({"metadata": {"labels": {"$patch": "replace", "tier": "fe"}}}),
    );
    assert_eq!(out["metadata"]["labels"], json!({"tier": "fe"}));
    let out = smp(
        "Deployment",
        dep.clone(),
        json!({"spec": {"selector": {"$patch": "delete"}}}),
    );
    assert_eq!(out["spec"]["selector"], json!({}));
    let out = smp(
        "Deployment",
        dep,
        json!({"metadata": {"labels": {"$patch": "merge", "tier": "fe"}}}),
    );
    assert_eq!(
        out["metadata"]["labels"],
        json!({"app": "web", "tier": "fe"})
    );
}

#[test]
fn list_replace_directive() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}}}});
    let out = smp("Deployment", deployment(), patch);
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name": "only", "image": "x"}])
    );
}

#[test]
fn service_ports_merge_by_port_and_status_conditions_by_type() {
    let svc = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}], "selector": {"app": "a", "x": "y"}}});
    let out = smp(
        "Service",
        svc,
        json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}], "selector": {"x": null}}}),
    );
    assert_eq!(
        out["spec"]["ports"],
        json!([{"port": 80, "targetPort": 9090, "protocol": "TCP"}, {"port": 443}])
    );
    assert_eq!(out["spec"]["selector"], json!({"app": "a"}));
    let pod = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Initialized", "status": "True"}]}});
    let out = smp(
        "Pod",
        pod,
        json!({"status": {"conditions": [{"type": "Ready", "status": "True"}], "podIPs": [{"ip": "10.244.1.2"}]}}),
    );
    assert_eq!(
        out["status"]["conditions"],
        json!([{"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "True"}])
    );
    assert_eq!(out["status"]["podIPs"], json!([{"ip": "10.244.1.2"}]));
}

#[test]
fn owner_references_merge_by_uid_and_node_addresses_by_type() {
    let obj = json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}});
    let out = smp(
        "Pod",
        obj,
        json!({"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]}}),
    );
    assert_eq!(
        out["metadata"]["ownerReferences"].as_array().unwrap().len(),
        2
    );
    let node = json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n1"}]}});
    let out = smp(
        "Node",
        node,
        json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]}}),
    );
    assert_eq!(out["status"]["addresses"][0]["address"], "10.0.0.2");
    assert_eq!(out["status"]["addresses"][1]["address"], "n1");
}

#[test]
fn new_fields_are_cleaned_of_directives() {
    let patch = json!({"spec": {"template": {"spec": {"initContainers": [{"name": "i", "env": [{"name": "X", "value": "1"}, {"name": "Y", "$patch": "delete"}]}]}}}});
    let out = smp("Deployment", deployment(), patch);
    assert_eq!(
        out["spec"]["template"]["spec"]["initContainers"],
        json!([{"name": "i", "env": [{"name": "X", "value": "1"}]}])
    );
}

#[test]
fn malformed_patches_are_rejected_clearly() {
    let r = res("apps/v1", "Deployment");
    let bad = |p: Value| match strategic_merge_patch(r, &deployment(), &p) {
        Err(PatchError::Malformed(m)) => m,
        other => panic!("want Malformed for {p}, got {other:?}"),
    };
    assert!(bad(json!([1])).contains("object"));
    assert!(
        bad(json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}))
            .contains("merge key: name")
    );
    assert!(bad(json!({"spec": {"$patch": "frob"}})).contains("frob"));
    assert!(bad(json!({"spec": {"strategy": {"$retainKeys": "type"}}})).contains("$retainKeys"));
    assert!(
        bad(json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}))
            .contains("rollingUpdate")
    );
    assert!(
        bad(json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}})).contains("list")
    );
}

#[test]
fn patch_on_a_non_object_original_starts_from_empty() {
    let out = smp("ConfigMap", Value::Null, json!({"data": {"a": "1"}}));
    assert_eq!(out, json!({"data": {"a": "1"}}));
}

// === bodies captured from kubectl 1.33 `apply -f` (client-side apply) ===

/// `kubectl apply` of a changed manifest: image, replicas, a label, the
/// strategy switched to Recreate, env removed from one container and the
/// second container dropped.
const KUBECTL_DEPLOYMENT_PATCH: &str = r#"{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}\n"},"labels":{"tier":"be"}},"spec":{"replicas":3,"strategy":{"$retainKeys":["type"],"rollingUpdate":null,"type":"Recreate"},"template":{"spec":{"$setElementOrder/containers":[{"name":"web"}],"containers":[{"env":null,"image":"nginx:1.28","name":"web"},{"$patch":"delete","name":"side"}]}}}}"#;

/// `kubectl apply` after removing one of two finalizers.
const KUBECTL_FINALIZER_PATCH: &str = r#"{"metadata":{"$deleteFromPrimitiveList/finalizers":["example.com/a"],"$setElementOrder/finalizers":["example.com/b"],"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}\n"}}}"#;

#[test]
fn real_kubectl_apply_patch_for_a_deployment() {
    let live = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "tier": "fe"},
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "old"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                {"name": "web", "image": "nginx:1.19", "ports": [{"containerPort": 80, "protocol": "TCP"}],
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}], "imagePullPolicy": "IfNotPresent"},
                {"name": "side", "image": "busybox", "args": ["sleep", "3600"]}
            ], "restartPolicy": "Always"}}
        }
    });
    let patch: Value = serde_json::from_str(KUBECTL_DEPLOYMENT_PATCH).unwrap();
    let out = smp("Deployment", live, patch);
    assert_eq!(
        out["metadata"]["labels"],
        json!({"app": "web", "tier": "be"})
    );
    assert_eq!(
        out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
        "{}\n"
    );
    assert_eq!(out["spec"]["replicas"], 3);
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name": "web", "image": "nginx:1.28", "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "imagePullPolicy": "IfNotPresent"}])
    );
    assert_eq!(out["spec"]["template"]["spec"]["restartPolicy"], "Always");
}

#[test]
fn real_kubectl_apply_patch_removing_a_finalizer() {
    let live = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "fin", "finalizers": ["example.com/a", "example.com/b"]}, "data": {"a": "1"}});
    let patch: Value = serde_json::from_str(KUBECTL_FINALIZER_PATCH).unwrap();
    let out = smp("ConfigMap", live, patch);
    assert_eq!(out["metadata"]["finalizers"], json!(["example.com/b"]));
    assert_eq!(out["data"], json!({"a": "1"}));
}

#[test]
fn same_port_with_two_protocols_stays_two_ports() {
    // kube-dns style: 53/UDP and 53/TCP share the merge key `port`.
    let svc = json!({"spec": {"ports": [
        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
        {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}
    ]}});
    let patch = json!({"spec": {"ports": [
        {"port": 53, "protocol": "UDP", "targetPort": 5353},
        {"port": 53, "protocol": "TCP", "targetPort": 5353}
    ]}});
    let out = smp("Service", svc.clone(), patch);
    assert_eq!(
        out["spec"]["ports"],
        json!([
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 5353},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 5353}
        ])
    );
    let out = smp(
        "Service",
        svc,
        json!({"spec": {"ports": [{"port": 53, "protocol": "TCP", "$patch": "delete"}]}}),
    );
    assert_eq!(
        out["spec"]["ports"],
        json!([{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53}])
    );
}
